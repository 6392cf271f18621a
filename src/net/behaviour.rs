//! The composed libp2p behaviour and the swarm built around it.

use std::time::Duration;

use libp2p::gossipsub::{
    self, CallbackSubscriptionFilter, IdentityTransform, MaxCountSubscriptionFilter,
    MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams,
    ValidationMode,
};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    Swarm, allow_block_list, connection_limits, identify, kad, noise, ping, request_response, tcp,
    yamux,
};

use super::codec::{FrameCodec, PROTOCOL};
use super::{NetConfig, NetError, TOPIC_ROOT};

/// A peer may hold at most this many tracenet topics; each State subscribes to
/// the prefixes its registry holds, far fewer than this.
const MAX_TOPICS_PER_PEER: usize = 4096;

type TopicFilter = MaxCountSubscriptionFilter<CallbackSubscriptionFilter<fn(&TopicHash) -> bool>>;
pub type Gossipsub = gossipsub::Behaviour<IdentityTransform, TopicFilter>;

fn is_tracenet_topic(t: &TopicHash) -> bool {
    t.as_str().starts_with(TOPIC_ROOT) && t.as_str().len() <= 200
}

/// Behaviours that deny connections come first: the allow list refuses every
/// peer not in the roster before any other behaviour sees the connection, and the
/// limits bound what even a member can hold.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: Gossipsub,
    pub rr: request_response::Behaviour<FrameCodec>,
}

fn gossipsub(keypair: &libp2p::identity::Keypair, cfg: &NetConfig) -> Result<Gossipsub, NetError> {
    let config = gossipsub::ConfigBuilder::default()
        // Traces are sparse and small: a short heartbeat forms meshes quickly.
        .heartbeat_interval(Duration::from_millis(500))
        // The receiver drops messages larger than this, so the node keeps its
        // own payloads well below it.
        .max_transmit_size(cfg.max_message_bytes + 4096)
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .build()
        .map_err(|e| NetError::Transport(format!("gossipsub configuration: {e}")))?;
    let filter = MaxCountSubscriptionFilter {
        filter: CallbackSubscriptionFilter(is_tracenet_topic as fn(&TopicHash) -> bool),
        max_subscribed_topics: MAX_TOPICS_PER_PEER,
        max_subscriptions_per_request: MAX_TOPICS_PER_PEER,
    };
    let mut g = gossipsub::Behaviour::new_with_subscription_filter(
        MessageAuthenticity::Signed(keypair.clone()),
        config,
        filter,
    )
    .map_err(|e| NetError::Transport(format!("gossipsub: {e}")))?;
    let params = PeerScoreParams {
        // Membership is decided by the signed roster, not by address diversity;
        // and every node of a test federation shares 127.0.0.1.
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    g.with_peer_score(params, score_thresholds())
        .map_err(|e| NetError::Transport(format!("gossipsub scoring: {e}")))?;
    Ok(g)
}

/// Gossipsub's score thresholds; the graylist one is also what
/// `tracenet_peers_graylisted` counts against.
pub fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds::default()
}

/// Scoring for one tracenet topic: invalid messages (forged, not from a member,
/// undecodable) weigh heavily; the delivery-rate terms are off because trace
/// traffic is sparse by nature and would otherwise punish honest peers.
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.5,
        ..TopicScoreParams::default()
    }
}

pub fn build_swarm(
    keypair: libp2p::identity::Keypair,
    cfg: &NetConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(cfg.max_connections))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(64))
        .with_max_pending_outgoing(Some(64));
    let max = cfg.max_message_bytes;
    let timeout = cfg.request_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let peer_id = key.public().to_peer_id();
                let mut kad = kad::Behaviour::with_config(
                    peer_id,
                    kad::store::MemoryStore::new(peer_id),
                    kad::Config::new(libp2p::StreamProtocol::new("/tracenet/kad/1")),
                );
                // Without server mode, Kademlia answers nothing on loopback or behind
                // a private address, where it cannot confirm it is reachable.
                kad.set_mode(Some(kad::Mode::Server));
                Ok(Behaviour {
                    allow: allow_block_list::Behaviour::default(),
                    limits: connection_limits::Behaviour::new(limits),
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/tracenet/1".into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::default(),
                    kad,
                    gossipsub: gossipsub(key, cfg).map_err(|e| e.to_string())?,
                    rr: request_response::Behaviour::with_codec(
                        FrameCodec { max_bytes: max },
                        [(PROTOCOL, request_response::ProtocolSupport::Full)],
                        request_response::Config::default().with_request_timeout(timeout),
                    ),
                })
            },
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}
