//! The composed libp2p behaviour and the swarm built around it.

use std::time::Duration;

use libp2p::gossipsub::{
    self, CallbackSubscriptionFilter, DataTransform, MaxCountSubscriptionFilter,
    MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, RawMessage, TopicHash,
    TopicScoreParams, ValidationMode,
};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    Swarm, allow_block_list, connection_limits, identify, kad, noise, ping, request_response, tcp,
    yamux,
};

use super::codec::{FrameCodec, PROTOCOL};
use super::{GossipValidation, NetConfig, NetError, TOPIC_ROOT};

/// A peer may hold at most this many tracenet topics; each State subscribes to
/// the prefixes its registry holds, far fewer than this.
const MAX_TOPICS_PER_PEER: usize = 4096;

type TopicFilter = MaxCountSubscriptionFilter<CallbackSubscriptionFilter<fn(&TopicHash) -> bool>>;
pub type Gossipsub = gossipsub::Behaviour<BoundedData, TopicFilter>;

// gossipsub's decoder checks each RPC frame against three limits before
// decoding it (bytes, control bytes, messages). A frame over one is not
// skipped: the handler drops the peer's whole inbound stream, logging at debug
// only, and loses all the peer writes to it until the peer notices and opens
// another; a fifth stream from one connection disables gossipsub on it for
// good. So each limit must admit what a standard-conforming peer sends in a
// burst, and stay bounded.

/// gossipsub v1.1's `max_ihave_length`: the most message ids go-libp2p,
/// js-libp2p and rust-libp2p put in one IHAVE, and ask for in IWANTs per
/// heartbeat.
const MAX_IHAVE_IDS: usize = 5_000;

/// Wire bytes of one advertised id. js-libp2p and go-libp2p ids are the
/// author's PeerId bytes and an 8-byte sequence number (46 to 48 bytes);
/// rust-libp2p's default, which tracenet uses, is the base58 PeerId and the
/// decimal sequence number (about 71). 80 covers both; protobuf adds a field
/// tag and a length byte.
const IHAVE_ID_BYTES: usize = 80 + 2;

/// The IHAVE's topic (a tracenet topic is at most 200 bytes), the
/// ControlMessage and ControlIHave headers, and the GRAFT, PRUNE and IDONTWANT
/// entries a peer sends in the same RPC.
const CONTROL_SLACK: usize = 8 * 1024;

/// gossipsub's `max_control_message_size`: the control part and subscriptions
/// of one RPC. 5,000 * 82 + 8 KiB = 418,192 bytes: a full IHAVE, or a full
/// IWANT of rust-libp2p ids. The crate's default, 16 KiB, holds about 340
/// js-libp2p ids.
const MAX_CONTROL_BYTES: usize = MAX_IHAVE_IDS * IHAVE_ID_BYTES + CONTROL_SLACK;

/// A published message's envelope around its data: author PeerId, sequence
/// number, topic, signature, optional public key, field headers.
const MESSAGE_ENVELOPE: usize = 4 * 1024;

/// asynchronous-codec reads 8 KiB at a time, and gossipsub compares its frame
/// limit with everything read so far: the frame plus up to one read of the next.
const READ_AHEAD: usize = 8 * 1024;

/// gossipsub's `max_transmit_size`, which bounds a whole RPC frame. go-libp2p
/// and js-libp2p piggyback control on messages, so one RPC may carry a full
/// IHAVE and the largest tracenet message together. With the default 64 KiB
/// messages: 418,192 + 65,536 + 4,096 + 8,192 = 496,016 bytes (go-libp2p's own
/// frame limit is 1 MiB); at most about 1.4 MiB with the 1 MiB message ceiling.
/// Messages themselves stay bounded by [`BoundedData`].
fn max_rpc_bytes(max_message_bytes: usize) -> usize {
    MAX_CONTROL_BYTES + max_message_bytes + MESSAGE_ENVELOPE + READ_AHEAD
}

/// Keeps a gossip message's data within `max_message_bytes`, which the frame
/// limit no longer does now that it has room for a full IHAVE. A larger
/// message received is invalid (gossipsub scores its sender down and does not
/// pass it on); a larger one published is refused.
#[derive(Debug, Clone, Copy)]
pub struct BoundedData {
    max_bytes: usize,
}

impl BoundedData {
    fn check(&self, len: usize) -> Result<(), std::io::Error> {
        if len > self.max_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "gossip message of {len} bytes exceeds the limit of {}",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl DataTransform for BoundedData {
    fn inbound_transform(&self, raw: RawMessage) -> Result<gossipsub::Message, std::io::Error> {
        self.check(raw.data.len())?;
        Ok(gossipsub::Message {
            source: raw.source,
            data: raw.data,
            sequence_number: raw.sequence_number,
            topic: raw.topic,
        })
    }

    fn outbound_transform(
        &self,
        _topic: &TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        self.check(data.len())?;
        Ok(data)
    }
}

fn is_tracenet_topic(t: &TopicHash) -> bool {
    t.as_str().starts_with(TOPIC_ROOT) && t.as_str().len() <= 200
}

/// Behaviours that deny connections come first: the allow list refuses every
/// peer not in the roster before any other behaviour sees the connection, the
/// handshakes bound what one address can hold before it is known, and the
/// limits bound what even a member can hold.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    pub handshakes: super::handshakes::Handshakes,
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: Gossipsub,
    pub rr: request_response::Behaviour<FrameCodec>,
    /// Requests on one lasting stream per peer (`super::frames`).
    pub frames: super::frames::Behaviour,
}

/// gossipsub's heartbeat: traces are sparse and small, so a short one forms
/// meshes quickly.
const GOSSIP_HEARTBEAT: Duration = Duration::from_millis(500);
/// Heartbeats a received message stays in gossipsub's cache (the crate's
/// default); one awaiting its verdict is dropped when it leaves.
const GOSSIP_HISTORY_LENGTH: usize = 5;

/// How long a received gossip message surely still awaits its verdict in
/// gossipsub's cache: it leaves after [`GOSSIP_HISTORY_LENGTH`] heartbeats
/// (the first of them partial), and a verdict reported after that finds
/// nothing to judge (gossipsub then warns "not in cache").
pub const UNJUDGED_KEPT: Duration =
    GOSSIP_HEARTBEAT.saturating_mul(GOSSIP_HISTORY_LENGTH as u32 - 1);

pub(super) fn gossipsub_config(cfg: &NetConfig) -> Result<gossipsub::Config, NetError> {
    let mut b = gossipsub::ConfigBuilder::default();
    b.heartbeat_interval(GOSSIP_HEARTBEAT)
        .history_length(GOSSIP_HISTORY_LENGTH)
        .max_transmit_size(max_rpc_bytes(cfg.max_message_bytes))
        .max_control_message_size(MAX_CONTROL_BYTES)
        // go-libp2p and js-libp2p answer an IWANT with every message asked for
        // in one RPC, and this node asks for up to MAX_IHAVE_IDS per heartbeat
        // (the crate's decoder default is 500); the frame limit bounds the bytes.
        .max_publish_messages(MAX_IHAVE_IDS)
        .validate_messages();
    // gossipsub's mesh: D = node.gossip_mesh_degree, D_low = 5D/6,
    // D_high = 2D, and at least D/3 relays this node dialled itself: at
    // D = 6, libp2p's defaults (6, 5, 12, 2).
    let d = cfg
        .gossip_mesh_degree
        .clamp(super::MIN_GOSSIP_MESH_DEGREE, super::MAX_GOSSIP_MESH_DEGREE);
    b.mesh_n(d)
        .mesh_n_low(d * 5 / 6)
        .mesh_n_high(2 * d)
        .mesh_outbound_min(d / 3);
    match cfg.gossip_validation {
        GossipValidation::Strict => {
            b.validation_mode(ValidationMode::Strict);
        }
        // Every tracenet payload carries its author's own signature, which the
        // node checks before it passes a message on (validate_messages): a
        // trace query its requester's node key, rosters and maker tables the
        // anchors' keys. gossipsub's envelope signature is a second check of
        // the same message, made on every copy read, duplicates included
        // (about one per mesh peer), before gossipsub knows a copy is a
        // duplicate. Messages are still published signed; with `None`,
        // gossipsub drops the envelope's author and sequence number on
        // receipt, which is why the message id is over the topic and the
        // data only (gossip_message_id).
        GossipValidation::Payload => {
            b.validation_mode(ValidationMode::None)
                .message_id_fn(gossip_message_id);
        }
    }
    b.build()
        .map_err(|e| NetError::Transport(format!("gossipsub configuration: {e}")))
}

/// A gossip message's id under `payload` validation: SHA-256 over its topic
/// and its data, 32 bytes.
///
/// Envelopes are not verified then (see gossipsub_config), and gossipsub
/// hands the receiver no author and no sequence number at all, so an id
/// that used them (the crate's default) would differ between the publisher
/// and every receiver: relays would forward a message back to its publisher,
/// which would take it for a new one and check it again, and IHAVE gossip
/// would ask for messages already held. An id of the bytes alone is the
/// same everywhere, and a forged copy can only stand in for a message whose
/// bytes it already carries. The topic is in it because one trace is
/// published, same bytes, on each of its topics. The same bytes on the same
/// topic again within gossipsub's duplicate window (a minute) are one
/// message: a node publishing bytes another has just published (a maker
/// table offered by several holders) is told they are on their way.
fn gossip_message_id(m: &gossipsub::Message) -> gossipsub::MessageId {
    message_id_of(m.topic.as_str(), &m.data)
}

/// The id gossipsub gives `data` published on `topic` under `payload`
/// validation ([`gossip_message_id`]).
pub(super) fn payload_message_id(topic: &super::Topic, data: &[u8]) -> gossipsub::MessageId {
    message_id_of(topic.to_gossip().hash().as_str(), data)
}

fn message_id_of(topic: &str, data: &[u8]) -> gossipsub::MessageId {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    let topic = topic.as_bytes();
    d.update(&(topic.len() as u64).to_be_bytes());
    d.update(topic);
    d.update(data);
    gossipsub::MessageId::new(d.finish().as_ref())
}

fn gossipsub(keypair: &libp2p::identity::Keypair, cfg: &NetConfig) -> Result<Gossipsub, NetError> {
    let config = gossipsub_config(cfg)?;
    let filter = MaxCountSubscriptionFilter {
        filter: CallbackSubscriptionFilter(is_tracenet_topic as fn(&TopicHash) -> bool),
        max_subscribed_topics: MAX_TOPICS_PER_PEER,
        max_subscriptions_per_request: MAX_TOPICS_PER_PEER,
    };
    let mut g = gossipsub::Behaviour::new_with_subscription_filter_and_transform(
        MessageAuthenticity::Signed(keypair.clone()),
        config,
        filter,
        BoundedData {
            max_bytes: cfg.max_message_bytes,
        },
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

/// Inbound connections the node holds in their handshake at once, all
/// addresses together (and outbound ones, each way).
pub const MAX_PENDING_INCOMING: usize = 64;

pub fn build_swarm(
    keypair: libp2p::identity::Keypair,
    cfg: &NetConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(cfg.max_connections))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING as u32))
        .with_max_pending_outgoing(Some(MAX_PENDING_INCOMING as u32));
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
                let mut kad_cfg = kad::Config::new(libp2p::StreamProtocol::new("/tracenet/kad/1"));
                // The event loop bootstraps only while members lack an
                // address, backing off (net::EventLoop::dial_missing_members);
                // Kademlia's own bootstrap every 5 minutes would walk the
                // federation and dial members outside the links kept.
                kad_cfg.set_periodic_bootstrap_interval(None);
                // Kademlia is for routing here: tracenet reads no record and
                // no provider, so what a member puts is handed to the event
                // loop (which drops it), never stored: a member cannot fill
                // every node's store.
                kad_cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
                let mut kad = kad::Behaviour::with_config(
                    peer_id,
                    kad::store::MemoryStore::new(peer_id),
                    kad_cfg,
                );
                // Without server mode, Kademlia answers nothing on loopback or behind
                // a private address, where it cannot confirm it is reachable.
                kad.set_mode(Some(kad::Mode::Server));
                Ok(Behaviour {
                    allow: allow_block_list::Behaviour::default(),
                    handshakes: super::handshakes::Handshakes::new(cfg.max_handshakes_per_address),
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
                    frames: super::frames::Behaviour::default(),
                })
            },
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(3600))
                // A substream this node opens for one protocol (each answer,
                // each directed query) sends its request with the protocol's
                // name instead of waiting a round trip for the other end to
                // confirm it. Same wire protocol as V1, so every member
                // accepts it; no protocol is negotiated nested in another
                // here, the case where lazy negotiation can be misread.
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        .build();
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(len: usize) -> RawMessage {
        RawMessage {
            source: None,
            data: vec![7; len],
            sequence_number: None,
            topic: TopicHash::from_raw("tracenet/1/roster"),
            signature: None,
            key: None,
            validated: false,
        }
    }

    #[test]
    fn gossip_messages_stay_within_max_message_bytes() {
        let t = BoundedData { max_bytes: 100 };
        let topic = TopicHash::from_raw("tracenet/1/roster");
        assert_eq!(t.inbound_transform(raw(100)).unwrap().data.len(), 100);
        assert!(t.inbound_transform(raw(101)).is_err());
        assert!(t.outbound_transform(&topic, vec![0; 100]).is_ok());
        assert!(t.outbound_transform(&topic, vec![0; 101]).is_err());
    }

    #[test]
    fn a_gossip_message_id_is_its_topic_and_data_whatever_the_envelope_says() {
        let author = libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let m = |topic: &str, data: &[u8], seq: Option<u64>| gossipsub::Message {
            source: seq.map(|_| author),
            data: data.to_vec(),
            sequence_number: seq,
            topic: TopicHash::from_raw(topic),
        };
        let t = "tracenet/1/prefix/DE/CARLWALTHER";
        // As the publisher sees it (author and sequence number set) and as a
        // receiver that does not verify envelopes does (neither): one id.
        let id = gossip_message_id(&m(t, b"query", Some(7)));
        assert_eq!(id, gossip_message_id(&m(t, b"query", None)));
        assert_eq!(id, gossip_message_id(&m(t, b"query", Some(8))));
        assert_eq!(id.0.len(), 32);
        // A forged copy with other data does not take a message's id.
        assert_ne!(id, gossip_message_id(&m(t, b"other", Some(7))));
        // What the node computes before publishing is what gossipsub names.
        assert_eq!(
            payload_message_id(&super::super::Topic::Roster, b"query"),
            gossip_message_id(&m("tracenet/1/roster", b"query", None))
        );
        // One trace on two topics is two messages.
        assert_ne!(
            id,
            gossip_message_id(&m("tracenet/1/import/NG", b"query", None))
        );
        // The topic's length is in the id: no two (topic, data) splits collide.
        assert_ne!(
            gossip_message_id(&m("tracenet/1/roster", b"ab", None)),
            gossip_message_id(&m("tracenet/1/rostera", b"b", None))
        );
    }

    #[test]
    fn limits_admit_a_full_ihave_beside_the_largest_message() {
        for max_message_bytes in [4096, 64 * 1024, crate::protocol::MAX_FRAME_CEILING] {
            let cfg = NetConfig {
                max_message_bytes,
                ..NetConfig::default()
            };
            let c = gossipsub_config(&cfg).unwrap();
            // 5,000 ids of rust-libp2p's default form: base58 PeerId and decimal seqno.
            let full_ihave = MAX_IHAVE_IDS * (52 + 20 + 2) + 200;
            assert!(c.max_control_message_size() >= full_ihave);
            assert!(c.max_transmit_size() >= full_ihave + max_message_bytes + READ_AHEAD);
            // And bounded: what one member's stream can make the node hold stays
            // within half a MiB beyond the largest message.
            assert!(c.max_transmit_size() <= 512 * 1024 + max_message_bytes);
            assert_eq!(c.max_publish_messages(), MAX_IHAVE_IDS);
        }
    }

    /// A message awaiting its verdict leaves gossipsub's cache at the
    /// `history_length`-th heartbeat after it came (the first partial): the
    /// node reports no verdict past a time it is surely still there.
    #[test]
    fn a_verdict_is_reported_only_while_gossip_surely_keeps_its_message() {
        let c = gossipsub_config(&NetConfig::default()).unwrap();
        let shifts = u32::try_from(c.history_length()).unwrap();
        assert!(shifts >= 2, "{shifts}");
        assert_eq!(UNJUDGED_KEPT, c.heartbeat_interval() * (shifts - 1));
    }
}
