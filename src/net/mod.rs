//! The libp2p side of a node: the swarm, its behaviours and the event loop that
//! owns it. The rest of the node holds a cheap [`NetHandle`] and receives
//! [`NetEvent`]s; no libp2p type but `PeerId` and `Multiaddr` crosses this wall.

mod behaviour;
pub use behaviour::UNJUDGED_KEPT;
mod codec;
mod frames;
mod handshakes;
pub use behaviour::MAX_PENDING_INCOMING;
pub use handshakes::DEFAULT_HANDSHAKES_PER_ADDRESS;
pub mod links;
mod port;
pub use port::{holder_of, in_use_advice, in_use_by, listen_below_ephemeral};
mod topic;
mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};

pub use topic::{TOPIC_ROOT, Topic, TopicError};

use behaviour::{Behaviour, BehaviourEvent};
use watch::{OncePer, RefusalReason, Refusals, Who};

/// How the network side is set up.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub listen: Vec<Multiaddr>,
    /// Largest gossip message and request-response frame, in bytes.
    pub max_message_bytes: usize,
    pub max_connections: u32,
    /// Inbound connections one address may have in their handshake at once
    /// ([`DEFAULT_HANDSHAKES_PER_ADDRESS`]; `node.max_handshakes_per_address`).
    pub max_handshakes_per_address: usize,
    pub request_timeout: Duration,
    /// How often members that are not connected are dialled again.
    pub redial_every: Duration,
    /// Bootstrap peers from configuration, each ending in `/p2p/PEERID`; used
    /// in addition to the roster's addresses for members they name.
    pub bootstrap: Vec<Multiaddr>,
    /// How gossip envelopes are checked on receipt.
    pub gossip_validation: GossipValidation,
    /// gossipsub's mesh degree D: how many of a topic's members this node
    /// relays each message to ([`DEFAULT_GOSSIP_MESH_DEGREE`]).
    pub gossip_mesh_degree: usize,
    /// About how many members a node keeps a connection to once the roster
    /// lists more (`node.peer_connections`; [`links`]).
    pub peer_connections: usize,
}

/// How a node checks the gossipsub envelope around what it reads: decided
/// by the roster for the whole federation, or by `node.gossip_validation`
/// where the roster says nothing ([`NetHandle::set_gossip_validation`]).
pub use crate::roster::GossipValidation;

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: Vec::new(),
            max_message_bytes: 64 * 1024,
            max_connections: 512,
            max_handshakes_per_address: DEFAULT_HANDSHAKES_PER_ADDRESS,
            request_timeout: Duration::from_secs(10),
            redial_every: Duration::from_secs(5),
            bootstrap: Vec::new(),
            gossip_validation: GossipValidation::Strict,
            gossip_mesh_degree: DEFAULT_GOSSIP_MESH_DEGREE,
            peer_connections: DEFAULT_PEER_CONNECTIONS,
        }
    }
}

/// `node.gossip_mesh_degree` by default: gossipsub's mesh degree D, 6, as
/// libp2p's default and the gossipsub specification's.
///
/// A trace's requester publishes its query straight to every subscriber it
/// is linked to (gossipsub's flood publishing), and asks directly the
/// expected holders it is not linked to; the mesh relays copies, which are
/// what reaches a holder when the requester's own copy did not. Each copy
/// read costs a decode and an envelope signature check. D = 3 was measured
/// (proto-docs/PERFORMANCE.md): 9% fewer packets per trace across 10
/// States and every trace still answered at 200 States, but the CPU per
/// trace within the noise (25.6 to 29.3 ms against 25.2 to 30.0); not
/// enough to halve the relays that stand between a holder and a member
/// that drops what it should pass on. A federation may lower it.
pub const DEFAULT_GOSSIP_MESH_DEGREE: usize = 6;
/// The fewest relays per topic `node.gossip_mesh_degree` allows: at 3, a
/// node keeps at least one relay it dialled itself (gossipsub's
/// `mesh_outbound_min`, D / 3), which a peer cannot choose for it.
pub const MIN_GOSSIP_MESH_DEGREE: usize = 3;
/// The most: gossipsub's upper bound D_high is twice D.
pub const MAX_GOSSIP_MESH_DEGREE: usize = 12;

/// `node.peer_connections` by default, and what a first roster states: a
/// federation of up to 65 members is a full mesh, which takes in every
/// regional organisation with its bootstrap peers (the African Union's 55
/// States, the OSCE's 57); a larger one keeps about 60 links a node (49 to
/// 72 at 200 States). In a full mesh decided by the roster no holder relays
/// the requester's own copy of a query, and a trace to 49 holders at 50
/// States cost the federation about a third less CPU than with links
/// bounded at 48, for 0.17% to 0.29% idle CPU and 8.5 to 9 MiB a node
/// (proto-docs/PERFORMANCE.md, "Fifty-seventh session").
pub const DEFAULT_PEER_CONNECTIONS: usize = 64;
// A full mesh of the default's size dials no more members at once than the
// node holds connections in their handshake (each way).
const _: () = assert!(DEFAULT_PEER_CONNECTIONS <= behaviour::MAX_PENDING_INCOMING);
// A full mesh of the default's size dials no more members at once than the
// node holds connections in their handshake (each way).
const _: () = assert!(DEFAULT_PEER_CONNECTIONS <= behaviour::MAX_PENDING_INCOMING);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    #[error("cannot build the network transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error(
        "cannot listen on {addr}: TCP port {port} is already in use {}; {}",
        port::in_use_by(holder.as_deref()),
        port::in_use_advice(holder.as_deref(), "node.listen")
    )]
    PortInUse {
        addr: Multiaddr,
        port: u16,
        /// "process PID (NAME)", when it could be found.
        holder: Option<String>,
    },
    #[error("the network task has stopped")]
    Stopped,
    #[error("no peer is subscribed to {0}")]
    NoSubscribers(String),
    /// The same bytes were read or published on this topic less than
    /// [`DUPLICATE_WINDOW`] ago: under `payload` validation gossipsub would
    /// not send them again until it has passed (rosters and maker tables),
    /// and a query passed on that gossip brought here first is relayed as
    /// that copy, under either validation ([`NetHandle::pass_on_each`]).
    #[error("the same message was read or published on {0} within the last minute")]
    SeenRecently(String),
    #[error("publishing failed: {0}")]
    Publish(String),
    #[error("request to {peer} failed: {reason}")]
    Request { peer: PeerId, reason: String },
}

/// Identifies a received gossip message for its validation report.
#[derive(Debug, Clone)]
pub struct GossipId {
    id: gossipsub::MessageId,
    source: PeerId,
    others: Option<std::sync::Arc<[PeerId]>>,
    /// Under `strict` validation, where served lists are in force and
    /// links bounded, the query's id over its topic and bytes
    /// ([`behaviour::payload_message_id`]): kept once the node judges the
    /// copy (`EventLoop::recent_queries`), not if it sheds it
    /// ([`Verdict::Shed`]) or never says.
    payload_id: Option<gossipsub::MessageId>,
}

impl GossipId {
    /// The peer that forwarded the message (not necessarily its author).
    pub fn source(&self) -> PeerId {
        self.source
    }

    /// Where this node's links are bounded (net::links) and the roster
    /// states served lists ([`NetHandle::set_served_lists`]), the peers that had
    /// told it they are subscribed to the message's trace topic when it was
    /// read, its source left out: those a relay would reach (gossipsub
    /// passes an accepted message to its mesh peers on the topic and offers
    /// it to the others). `None` in a full mesh, and for the roster and
    /// maker topics, and where the roster states no served lists.
    pub fn others(&self) -> Option<std::sync::Arc<[PeerId]>> {
        self.others.clone()
    }
}

/// The node's verdict on a gossip message: only accepted messages are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Invalid: not forwarded, and the forwarding peer's score drops.
    Reject,
    /// Valid but not worth forwarding (a duplicate, read before).
    Ignore,
    /// Not taken in here (an overloaded node, a quota or rate limit, the
    /// clocks, its roster, its audit log, a fault of this node): not
    /// forwarded and no penalty, as [`Verdict::Ignore`],
    /// and a later copy of the same query's bytes is read, not taken for
    /// this one (under `strict` validation such copies are messages of
    /// their own, `EventLoop::on_gossip`).
    Shed,
}

/// Identifies an inbound request awaiting its response; handed back once,
/// to [`NetHandle::respond`].
#[derive(Debug)]
pub struct InboundId(Inbound);

#[derive(Debug)]
enum Inbound {
    /// By request-response: the event loop holds its channel.
    Plain(u64),
    /// On a peer's lasting stream: the reply goes straight to the task
    /// that writes the stream's replies, not through the event loop.
    Stream(oneshot::Sender<Vec<u8>>),
}

/// What the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    Gossip {
        id: GossipId,
        topic: Topic,
        data: Vec<u8>,
    },
    Request {
        id: InboundId,
        peer: PeerId,
        data: Vec<u8>,
    },
    PeerUp(PeerId),
    PeerDown(PeerId),
    /// A link opened on demand closed (links bounded, net::links): routine,
    /// so not [`NetEvent::PeerDown`]; news only for a holder that was handed
    /// a query over it and has said nothing yet.
    LinkClosed(PeerId),
    /// A connected peer subscribed to a trace topic (never the roster topic):
    /// the requester remembers it as a holder of records under that topic.
    Subscribed {
        peer: PeerId,
        topic: Topic,
    },
    Listening(Multiaddr),
}

/// A snapshot of the network side for `status` and tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NetStatus {
    pub peer_id: String,
    pub listen: Vec<String>,
    pub connected: Vec<String>,
    pub subscribed: Vec<String>,
    /// For each topic we know of, the peers subscribed to it.
    pub topic_peers: HashMap<String, Vec<String>>,
    pub allowed: usize,
    pub gossip_in: u64,
    pub gossip_out: u64,
    /// Inbound connections refused since start, by reason (every reason listed).
    pub connections_refused: BTreeMap<&'static str, u64>,
    /// Connected peers whose gossip score is below the graylist threshold: their
    /// gossip is ignored until the score recovers.
    pub peers_graylisted: usize,
    /// Verdicts on received gossip messages taken by gossipsub since start,
    /// by verdict, and those that came after it had dropped the message
    /// from its cache ([`GossipVerdicts`]).
    pub gossip_verdicts: GossipVerdicts,
    /// The members this node keeps a connection to (every other member in a
    /// federation within the links kept: the roster's `peer_connections`,
    /// else `node.peer_connections`; [`links`]).
    pub kept: Vec<String>,
    /// Whether the federation is larger than that: holders not kept are
    /// dialled when a trace asks them.
    pub links_bounded: bool,
    /// How gossip envelopes are checked now.
    pub gossip_validation: GossipValidation,
    /// A switch decided and not yet made ([`NetHandle::set_gossip_validation`]).
    pub gossip_validation_next: Option<GossipValidation>,
    /// Requests (answers, directed queries, blind requests) sent and
    /// received since start, by how they were carried.
    pub requests: RequestCounts,
}

/// Requests sent (`out`) and received (`in`) since start: `stream` on a
/// peer's lasting stream (`/tracenet/frames/1`; sent ones counted when
/// written), `plain` by request-response (`/tracenet/rr/1`: a peer not connected yet, one that
/// does not speak the stream protocol, a stream that was full or failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub out_stream: u64,
    pub out_plain: u64,
    pub in_stream: u64,
    pub in_plain: u64,
}

/// Counts of the verdicts reported on received gossip messages
/// ([`NetHandle::validate`]): `accept`, `ignore` and `reject` as gossipsub
/// took them (an accepted message is relayed; a rejected one scores its
/// sender down), and `late` for a verdict on a message gossipsub no longer
/// held (it drops one left unjudged for its cache's `history_length`
/// heartbeats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GossipVerdicts {
    pub accept: u64,
    pub ignore: u64,
    pub reject: u64,
    pub late: u64,
    /// Ignored on arrival by the network side, not handed to the node:
    /// under `strict` validation, where served lists are in force and
    /// links bounded, a copy of a query's bytes the node judged on its
    /// topic within the minute, or that this node published there.
    pub copy: u64,
}

enum Command {
    /// One message on each topic, in one turn of the event loop.
    Publish {
        topics: Vec<Topic>,
        data: Vec<u8>,
        /// A query another node signed, passed on by this one
        /// ([`NetHandle::pass_on_each`]): not published where gossip brought
        /// it within gossipsub's duplicate window.
        passed_on: bool,
        reply: oneshot::Sender<Vec<Result<(), NetError>>>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
        /// By request-response only, not on the peer's lasting stream
        /// (handed back by a stream that failed).
        plain: bool,
    },
    /// A link's task ended: what it gives back, and for how long the peer
    /// is sent its requests by request-response.
    LinkEnded(frames::LinkEnd),
    Respond {
        id: u64,
        data: Vec<u8>,
    },
    Validate {
        id: GossipId,
        verdict: Verdict,
    },
    SetTopics(BTreeSet<Topic>),
    SetMembers {
        members: HashMap<PeerId, Vec<Multiaddr>>,
        bootstrap: HashSet<PeerId>,
        keep: Option<usize>,
    },
    Disconnect(PeerId),
    /// The status; with `false`, without `topic_peers` (left empty).
    Status(oneshot::Sender<NetStatus>, bool),
    Subscribers {
        topics: Vec<Topic>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    TopicPeers {
        topics: Vec<Topic>,
        reply: oneshot::Sender<Vec<(Topic, bool, Vec<PeerId>)>>,
    },
    SetServedLists(bool),
    Connected(oneshot::Sender<Vec<PeerId>>),
    Gossiping(oneshot::Sender<Vec<PeerId>>),
    SetGossipValidation(GossipValidation),
}

/// A cheap handle on the network task.
#[derive(Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
}

impl NetHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn send(&self, c: Command) -> Result<(), NetError> {
        self.tx.send(c).await.map_err(|_| NetError::Stopped)
    }

    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetError> {
        self.publish_each(vec![topic], data)
            .await?
            .pop()
            .unwrap_or(Err(NetError::Stopped))
    }

    /// Publishes `data` on each of `topics`, in one round trip to the network's
    /// task (a trace goes to its prefix and import topics at once): the
    /// outcome for each topic, in order; `Err` only if the network stopped.
    pub async fn publish_each(
        &self,
        topics: Vec<Topic>,
        data: Vec<u8>,
    ) -> Result<Vec<Result<(), NetError>>, NetError> {
        self.publish_on(topics, data, false).await
    }

    /// As [`NetHandle::publish_each`], for a query another node signed that
    /// this one passes on (node::responder, `pass_on_directed`): on a topic
    /// where gossip brought the same bytes within gossipsub's duplicate
    /// window ([`DUPLICATE_WINDOW`]), it is not published
    /// ([`NetError::SeenRecently`]): that copy is relayed instead (under
    /// `payload` validation gossipsub would refuse the publish with a WARN;
    /// under `strict` it would send the peers a second message of the same
    /// bytes). Known only where served lists are in force; elsewhere, and
    /// for a copy gossipsub still holds beyond what this side keeps, a
    /// duplicate gossipsub refuses is also [`NetError::SeenRecently`].
    /// Under `strict` validation, a copy gossip brings after the publish
    /// (the requester's, under its own message id) is ignored on arrival:
    /// the peers on the topic have the query from this node already; and a
    /// pass-on is held back only once gossipsub took the copy gossip
    /// brought to relay.
    pub async fn pass_on_each(
        &self,
        topics: Vec<Topic>,
        data: Vec<u8>,
    ) -> Result<Vec<Result<(), NetError>>, NetError> {
        self.publish_on(topics, data, true).await
    }

    async fn publish_on(
        &self,
        topics: Vec<Topic>,
        data: Vec<u8>,
        passed_on: bool,
    ) -> Result<Vec<Result<(), NetError>>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish {
            topics,
            data,
            passed_on,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Sends a request and waits for the response (bounded by the request timeout).
    pub async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request {
            peer,
            data,
            reply,
            plain: false,
        })
        .await?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    pub async fn respond(&self, id: InboundId, data: Vec<u8>) -> Result<(), NetError> {
        match id.0 {
            Inbound::Plain(id) => self.send(Command::Respond { id, data }).await,
            // Fails only if the stream closed meanwhile; nothing to do then.
            Inbound::Stream(reply) => {
                let _ = reply.send(data);
                Ok(())
            }
        }
    }

    pub async fn validate(&self, id: GossipId, verdict: Verdict) -> Result<(), NetError> {
        self.send(Command::Validate { id, verdict }).await
    }

    /// As [`NetHandle::validate`], from a blocking thread (`spawn_blocking`),
    /// so that work already there need not hop back to the runtime to pass
    /// the verdict. Never call it from async code: it blocks while the
    /// network's command queue is full.
    pub fn validate_blocking(&self, id: GossipId, verdict: Verdict) -> Result<(), NetError> {
        self.tx
            .blocking_send(Command::Validate { id, verdict })
            .map_err(|_| NetError::Stopped)
    }

    /// Replaces the set of subscribed topics.
    pub async fn set_topics(&self, topics: BTreeSet<Topic>) -> Result<(), NetError> {
        self.send(Command::SetTopics(topics)).await
    }

    /// Replaces the set of peers allowed to hold a connection (the roster), with
    /// their known addresses, and which of them are bootstrap peers. Peers no
    /// longer in it are disconnected at once. `keep`: the links every member
    /// keeps, where the roster decides it for the federation (else
    /// `node.peer_connections`, [`NetConfig::peer_connections`]).
    pub async fn set_members(
        &self,
        members: HashMap<PeerId, Vec<Multiaddr>>,
        bootstrap: HashSet<PeerId>,
        keep: Option<usize>,
    ) -> Result<(), NetError> {
        self.send(Command::SetMembers {
            members,
            bootstrap,
            keep,
        })
        .await
    }

    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Disconnect(peer)).await
    }

    /// The peers subscribed to any of `topics` now (without building a full
    /// status). Asked as a trace is about to be published: with links
    /// bounded, their links are held for [`links::LINK_IDLE`] as if a request
    /// had crossed them, so that none opened on demand is pruned before the
    /// gossip reaches it.
    pub async fn subscribers(&self, topics: Vec<Topic>) -> Result<Vec<PeerId>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Subscribers { topics, reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// For each of `topics`: whether this node is subscribed to it, and the
    /// peers subscribed to it now. Unlike [`NetHandle::subscribers`], no
    /// link is held for it.
    pub async fn topic_peers(
        &self,
        topics: Vec<Topic>,
    ) -> Result<Vec<(Topic, bool, Vec<PeerId>)>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::TopicPeers { topics, reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Whether the roster states served lists: then, with links bounded,
    /// each gossiped query is handed to the node with the peers on its
    /// topic ([`GossipId::others`]).
    pub async fn set_served_lists(&self, on: bool) -> Result<(), NetError> {
        self.send(Command::SetServedLists(on)).await
    }

    /// The peers connected now (cheaper than [`NetHandle::status`]).
    pub async fn connected(&self) -> Result<Vec<PeerId>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Connected(reply)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The connected peers that have told this node their gossip subscriptions
    /// (every member subscribes to the roster topic): members that took this
    /// node into their mesh, unlike a peer that accepts a connection and then
    /// refuses it.
    pub async fn gossiping(&self) -> Result<Vec<PeerId>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Gossiping(reply)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Checks gossip envelopes as `mode` says from now on (the roster
    /// decided it). Nothing changes if the node already does. Otherwise the
    /// network side is rebuilt with the same key on the same ports, at least
    /// [`SWITCH_GRACE`] later, once no request waits for its reply (or
    /// [`SWITCH_MOST`] later at the latest): the roster that decided it has
    /// been passed on by then, and the federation's other members, which
    /// install the same roster within seconds, switch too. Connections are
    /// closed and dialled again; it is not reported as peers leaving.
    pub async fn set_gossip_validation(&self, mode: GossipValidation) -> Result<(), NetError> {
        self.send(Command::SetGossipValidation(mode)).await
    }

    pub async fn status(&self) -> Result<NetStatus, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status(reply, true)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// [`NetHandle::status`] with `topic_peers` left empty: what a
    /// `/metrics` scrape reads. Every (peer, topic) pair made into strings
    /// on the network task, up to 4,096 topics for each of 199 peers, is
    /// left out.
    pub async fn status_without_topics(&self) -> Result<NetStatus, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status(reply, false)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }
}

/// Builds the swarm, starts listening, and spawns the event loop on the current
/// tokio runtime. Events arrive on the returned receiver.
pub fn spawn(
    keypair: libp2p::identity::Keypair,
    cfg: NetConfig,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    let mut swarm = behaviour::build_swarm(keypair.clone(), &cfg)?;
    // Every port is checked before any is taken, so that a refusal leaves
    // nothing half-listening.
    for addr in &cfg.listen {
        port::ensure_free(addr)?;
    }
    let mut listeners = Vec::with_capacity(cfg.listen.len());
    for addr in &cfg.listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        listeners.push((id, addr.clone()));
    }
    let peer_id = *swarm.local_peer_id();
    let (tx, commands) = mpsc::channel(1024);
    let (events_tx, events) = mpsc::channel(4096);
    let inflow = std::sync::Arc::new(frames::Inflow::default());
    let serving = frames::Serving {
        events: events_tx.clone(),
        inflow: inflow.clone(),
        max_bytes: cfg.max_message_bytes,
        timeout: cfg.request_timeout,
    };
    accept_frames(&mut swarm, serving);
    let event_loop = EventLoop {
        swarm,
        frame_links: HashMap::new(),
        plain_until: HashMap::new(),
        written: Default::default(),
        next_link: 0,
        retired: Vec::new(),
        inflow,
        commands_tx: tx.downgrade(),
        requests: RequestCounts::default(),
        keypair,
        listeners,
        bound_ports: HashMap::new(),
        unbound: Vec::new(),
        unbound_logged: HashSet::new(),
        seen_control: HashMap::new(),
        roster_members: None,
        roster_keep: None,
        switch: None,
        cfg,
        commands,
        events: events_tx,
        members: HashMap::new(),
        topics: BTreeSet::new(),
        pending_requests: HashMap::new(),
        inbound: HashMap::new(),
        next_inbound: 0,
        gossip_in: 0,
        gossip_out: 0,
        gossip_verdicts: GossipVerdicts::default(),
        refusals: Refusals::default(),
        graylist_logged: OncePer::new(Duration::from_secs(3600), 1024),
        dropped_events: 0,
        dropped_logged: None,
        subscriptions_told: HashMap::new(),
        last_bootstrap: None,
        bootstrap_backoff: BOOTSTRAP_FIRST,
        links: links::Links::default(),
        last_request: HashMap::new(),
        dialled: HashMap::new(),
        kad_needed: true,
        served_lists: false,
        recent_queries: RecentQueries::default(),
        relayed_here: RecentQueries::default(),
        queries_published: RecentQueries::default(),
    };
    tokio::spawn(event_loop.run());
    Ok((NetHandle { tx, peer_id }, events))
}

/// Starts taking the lasting request streams peers open to `swarm`.
fn accept_frames(swarm: &mut Swarm<Behaviour>, serving: frames::Serving) {
    if let Some(incoming) = swarm.behaviour_mut().frames.take_incoming() {
        tokio::spawn(frames::accept(incoming, serving));
    }
}

/// The members with their addresses, and the bootstrap peers among them.
type RosterMembers = (HashMap<PeerId, Vec<Multiaddr>>, HashSet<PeerId>);

/// Where the reply to a request sent goes.
type ReplyTo = oneshot::Sender<Result<Vec<u8>, NetError>>;

struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// This node's lasting request stream to each peer it sent to lately
    /// ([`frames`]).
    frame_links: HashMap<PeerId, frames::Link>,
    /// Peers sent their requests by request-response until then: they
    /// refused `/tracenet/frames/1`, or a stream to them failed.
    plain_until: HashMap<PeerId, std::time::Instant>,
    /// Requests written on this node's streams since start.
    written: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The next link's [`frames::Link::id`].
    next_link: u64,
    /// Links let go (their connection closed) with requests still in
    /// flight: counted as busy until those are answered or failed.
    retired: Vec<(PeerId, std::sync::Arc<std::sync::atomic::AtomicUsize>)>,
    /// Requests read from peers' lasting streams, handed to the node by
    /// the tasks that read them: what the event loop knows of them.
    inflow: std::sync::Arc<frames::Inflow>,
    /// For a link's requests handed back to request-response.
    commands_tx: mpsc::WeakSender<Command>,
    requests: RequestCounts,
    /// The node's key, for a swarm rebuilt (a gossip validation switch).
    keypair: libp2p::identity::Keypair,
    /// Each listener and the address it was asked for (`node.listen`), and
    /// the TCP port it bound: a rebuilt swarm listens on the same ports,
    /// which the roster lists, even where the configuration said port 0.
    listeners: Vec<(libp2p::core::transport::ListenerId, Multiaddr)>,
    bound_ports: HashMap<libp2p::core::transport::ListenerId, u16>,
    /// Addresses a rebuilt swarm could not listen on yet: tried again on
    /// every redial tick.
    unbound: Vec<Multiaddr>,
    unbound_logged: HashSet<Multiaddr>,
    /// Rosters and maker tables read or published lately, by message id
    /// under `payload` validation ([`EventLoop::seen_recently`]); a few at
    /// a time.
    seen_control: HashMap<gossipsub::MessageId, std::time::Instant>,
    /// The roster's members as last given ([`Command::SetMembers`]), for a
    /// rebuilt swarm.
    roster_members: Option<RosterMembers>,
    /// The links kept as the roster decides them for every member, if it
    /// does ([`Command::SetMembers`]); else `cfg.peer_connections`.
    roster_keep: Option<usize>,
    /// A gossip validation switch decided, and from when it may be made.
    switch: Option<(GossipValidation, std::time::Instant)>,
    cfg: NetConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    members: HashMap<PeerId, Vec<Multiaddr>>,
    topics: BTreeSet<Topic>,
    /// Requests sent, with the peer asked and where its reply goes.
    pending_requests: HashMap<OutboundRequestId, (PeerId, ReplyTo)>,
    inbound: HashMap<u64, (PeerId, ResponseChannel<Vec<u8>>)>,
    next_inbound: u64,
    gossip_in: u64,
    gossip_out: u64,
    gossip_verdicts: GossipVerdicts,
    refusals: Refusals,
    graylist_logged: OncePer<PeerId>,
    /// Events dropped because the node's queue was full, and when that was
    /// last logged.
    dropped_events: u64,
    dropped_logged: Option<std::time::Instant>,
    /// Per connected peer: the start of the current minute and how many of
    /// its subscriptions were passed on in it (at most
    /// `SUBSCRIPTIONS_TOLD_PER_MINUTE`): a peer toggling thousands of topics
    /// cannot fill the node's event queue.
    subscriptions_told: HashMap<PeerId, (std::time::Instant, u32)>,
    /// When Kademlia was last asked to bootstrap, and how long to wait
    /// before the next one (doubling while members stay without an address).
    last_bootstrap: Option<std::time::Instant>,
    bootstrap_backoff: Duration,
    /// The links kept (the roster's `peer_connections`, else
    /// `node.peer_connections`), planned from the roster.
    links: links::Links,
    /// When a request last went either way on each peer's link: links
    /// opened on demand are pruned after [`links::LINK_IDLE`] without one.
    last_request: HashMap<PeerId, std::time::Instant>,
    /// How many connections this node dialled to each peer. Only links this
    /// node opened are pruned here; the other end prunes those it opened.
    /// Each end's plan is its own (its links kept, its roster version), so closing a link the other end keeps would only have it
    /// dialled again, every few seconds.
    dialled: HashMap<PeerId, usize>,
    /// Whether Kademlia runs: a full mesh, or some member without an address.
    kad_needed: bool,
    /// Whether the roster states served lists ([`NetHandle::set_served_lists`]).
    served_lists: bool,
    /// Queries gossip brought lately where served lists are in force and
    /// links bounded, by their `payload` id (over topic and bytes,
    /// [`behaviour::payload_message_id`]). Under `payload` validation each
    /// as it arrives (gossipsub then takes any copy for it), and a pass-on
    /// of one is held back ([`NetHandle::pass_on_each`]). Under `strict`,
    /// each once the node judged it ([`Verdict::Accept`] or
    /// [`Verdict::Ignore`]; not one it shed, [`Verdict::Shed`], or did not
    /// judge in time): another copy is then ignored on arrival.
    recent_queries: RecentQueries,
    /// Under `strict` validation, the queries of `recent_queries` that
    /// gossipsub took to relay: a pass-on of one is held back.
    relayed_here: RecentQueries,
    /// Under `strict` validation where served lists are in force, the
    /// queries this node published lately (its own traces' and those it
    /// passed on), by the same id: a copy gossip then brings (the
    /// requester's, another holder's pass-on) is ignored on arrival. Under
    /// `payload` validation gossipsub takes such copies for the message
    /// published.
    queries_published: RecentQueries,
}

/// How long a gossip validation switch waits at least, so that the roster
/// deciding it, just accepted, is passed on first, to the mesh and to the
/// peers that ask for it by IWANT (gossipsub keeps a message about 2.5 s
/// for those).
pub const SWITCH_GRACE: Duration = Duration::from_secs(10);
/// gossipsub's duplicate window (`duplicate_cache_time`, the crate's
/// default, which tracenet keeps): a message id seen within it is not
/// published or read again.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(60);

/// The `payload` ids (over topic and bytes) of the last
/// [`RecentQueries::KEPT`] queries gossip brought, or this node published
/// (`EventLoop::queries_published`), oldest first out, each matched only
/// within [`DUPLICATE_WINDOW`] of its arrival: as long as gossipsub itself
/// would refuse to publish it again under `payload` validation, and no
/// longer. A holder passes a directed query on within milliseconds of
/// reading it, so the last thousand cover that race at any rate a node
/// answers; for one older, gossipsub's refusal is read as the same
/// ([`NetHandle::pass_on_each`]).
#[derive(Debug, Default)]
struct RecentQueries {
    order: std::collections::VecDeque<gossipsub::MessageId>,
    /// Each id in `order`, with when it was noted.
    ids: HashMap<gossipsub::MessageId, std::time::Instant>,
}

impl RecentQueries {
    const KEPT: usize = 1024;

    fn note(&mut self, id: gossipsub::MessageId) {
        self.note_at(id, std::time::Instant::now());
    }

    /// Keeps `id` from `at`; one kept already keeps its first time, unless
    /// that is past [`DUPLICATE_WINDOW`] (the id then starts again).
    fn note_at(&mut self, id: gossipsub::MessageId, at: std::time::Instant) {
        if let Some(first) = self.ids.get(&id) {
            if at.saturating_duration_since(*first) < DUPLICATE_WINDOW {
                return;
            }
            self.order.retain(|i| *i != id);
        }
        self.ids.insert(id.clone(), at);
        self.order.push_back(id);
        if self.order.len() > Self::KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
    }

    /// Whether `id` was noted within [`DUPLICATE_WINDOW`] before `now`.
    fn contains(&self, id: &gossipsub::MessageId, now: std::time::Instant) -> bool {
        self.ids
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < DUPLICATE_WINDOW)
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// How long a switch waits at most for requests in flight to be answered.
pub const SWITCH_MOST: Duration = Duration::from_secs(30);

/// The first wait between two Kademlia bootstraps, and the longest.
const BOOTSTRAP_FIRST: Duration = Duration::from_secs(60);
const BOOTSTRAP_MOST: Duration = Duration::from_secs(3_600);

/// Subscriptions of one peer passed on to the node per minute.
const SUBSCRIPTIONS_TOLD_PER_MINUTE: u32 = 256;

impl EventLoop {
    async fn run(mut self) {
        let mut redial = tokio::time::interval(self.cfg.redial_every);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.on_command(c),
                    // Every handle is gone: the node is shutting down.
                    None => return,
                },
                _ = redial.tick() => {
                    self.switch_when_due();
                    self.listen_again();
                    self.dial_missing_members();
                    self.prune_idle_links();
                    self.tidy_frames();
                    self.log_graylisted();
                }
            }
        }
    }

    /// Hands an event to the node without ever waiting: if the node is so far
    /// behind that the queue is full, the event is dropped (and logged) rather
    /// than stalling the network for every peer.
    fn emit(&mut self, ev: NetEvent) -> bool {
        match self.events.try_send(ev) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Counted, and logged once per interval: a flood must not
                // become a flood of log lines (nor print its payload).
                self.dropped_events += 1;
                let now = std::time::Instant::now();
                if self
                    .dropped_logged
                    .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(10))
                {
                    tracing::warn!(
                        dropped_so_far = self.dropped_events,
                        "node is overloaded: network events dropped"
                    );
                    self.dropped_logged = Some(now);
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn on_command(&mut self, c: Command) {
        let b = self.swarm.behaviour_mut();
        match c {
            Command::Publish {
                topics,
                data,
                passed_on,
                reply,
            } => {
                let mut out = Vec::with_capacity(topics.len());
                for topic in topics {
                    if self.seen_recently(&topic, &data)
                        || (passed_on && self.query_gossiped_here(&topic, &data))
                    {
                        out.push(Err(NetError::SeenRecently(topic.to_string())));
                        continue;
                    }
                    let b = self.swarm.behaviour_mut();
                    let r = match b.gossipsub.publish(topic.to_gossip(), data.clone()) {
                        // A query passed on that gossip brought here first:
                        // that copy is relayed, not this one.
                        Err(gossipsub::PublishError::Duplicate) if passed_on => {
                            out.push(Err(NetError::SeenRecently(topic.to_string())));
                            continue;
                        }
                        // The same bytes on this topic within the last minute,
                        // from this node or another (payload validation names
                        // messages by their bytes): already on their way.
                        Err(gossipsub::PublishError::Duplicate) => Ok(()),
                        r => r.map(|_| ()),
                    };
                    if r.is_ok() {
                        self.gossip_out += 1;
                        if self.served_lists
                            && self.cfg.gossip_validation == GossipValidation::Strict
                            && !matches!(topic, Topic::Roster | Topic::Makers)
                        {
                            self.queries_published
                                .note(behaviour::payload_message_id(&topic, &data));
                        }
                    }
                    out.push(r.map_err(|e| match e {
                        gossipsub::PublishError::NoPeersSubscribedToTopic => {
                            NetError::NoSubscribers(topic.to_string())
                        }
                        other => NetError::Publish(other.to_string()),
                    }));
                }
                let _ = reply.send(out);
            }
            Command::Request {
                peer,
                data,
                reply,
                plain,
            } => self.request(peer, data, reply, plain),
            Command::LinkEnded(end) => self.link_ended(end),
            Command::Respond { id, data } => {
                if let Some((_, ch)) = self.inbound.remove(&id) {
                    // Fails only if the requester went away; nothing to do then.
                    let _ = b.rr.send_response(ch, data);
                }
            }
            Command::Validate { id, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore | Verdict::Shed => MessageAcceptance::Ignore,
                };
                let taken = b
                    .gossipsub
                    .report_message_validation_result(&id.id, &id.source, acceptance);
                // Under `strict` validation a copy is kept once judged
                // (read) in time, as relayed once gossipsub took it to pass
                // on; one judged too late for gossipsub keeps nothing.
                if taken
                    && let Some(p) = &id.payload_id
                    && matches!(verdict, Verdict::Accept | Verdict::Ignore)
                {
                    let now = std::time::Instant::now();
                    self.recent_queries.note_at(p.clone(), now);
                    if verdict == Verdict::Accept {
                        self.relayed_here.note_at(p.clone(), now);
                    }
                }
                let v = &mut self.gossip_verdicts;
                *match (taken, verdict) {
                    (false, _) => &mut v.late,
                    (true, Verdict::Accept) => &mut v.accept,
                    (true, Verdict::Ignore | Verdict::Shed) => &mut v.ignore,
                    (true, Verdict::Reject) => &mut v.reject,
                } += 1;
            }
            Command::SetTopics(topics) => self.set_topics(topics),
            Command::SetMembers {
                members,
                bootstrap,
                keep,
            } => {
                self.roster_keep = keep;
                self.roster_members = Some((members.clone(), bootstrap.clone()));
                self.set_members(members, bootstrap)
            }
            Command::SetGossipValidation(mode) => {
                if mode == self.cfg.gossip_validation {
                    self.switch = None;
                } else if self.switch.is_none_or(|(m, _)| m != mode) {
                    tracing::info!(
                        from = %self.cfg.gossip_validation,
                        to = %mode,
                        "the roster changes gossip validation: the network side switches in a few seconds (connections are closed and dialled again)"
                    );
                    self.switch = Some((mode, std::time::Instant::now() + SWITCH_GRACE));
                }
            }
            Command::Disconnect(peer) => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Status(reply, with_topics) => {
                let _ = reply.send(self.status(with_topics));
            }
            Command::Subscribers { topics, reply } => {
                let hashes: Vec<gossipsub::TopicHash> =
                    topics.iter().map(|t| t.to_gossip().hash()).collect();
                let peers: Vec<PeerId> = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, ts)| ts.iter().any(|t| hashes.contains(t)))
                    .map(|(p, _)| *p)
                    .collect();
                if self.links.bounded {
                    let now = std::time::Instant::now();
                    for p in &peers {
                        self.last_request.insert(*p, now);
                    }
                }
                let _ = reply.send(peers);
            }
            Command::TopicPeers { topics, reply } => {
                let gossip = &self.swarm.behaviour().gossipsub;
                let hashes: Vec<gossipsub::TopicHash> =
                    topics.iter().map(|t| t.to_gossip().hash()).collect();
                let mut peers: Vec<Vec<PeerId>> = vec![Vec::new(); topics.len()];
                for (p, ts) in gossip.all_peers() {
                    for (i, h) in hashes.iter().enumerate() {
                        if ts.contains(&h) {
                            peers[i].push(*p);
                        }
                    }
                }
                let here: Vec<bool> = hashes
                    .iter()
                    .map(|h| gossip.topics().any(|t| t == h))
                    .collect();
                let out = topics
                    .into_iter()
                    .zip(here)
                    .zip(peers)
                    .map(|((t, h), p)| (t, h, p))
                    .collect();
                let _ = reply.send(out);
            }
            Command::SetServedLists(on) => {
                if self.served_lists != on {
                    self.forget_queries();
                }
                self.served_lists = on;
            }
            Command::Connected(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Gossiping(reply) => {
                let peers = self
                    .swarm
                    .connected_peers()
                    .filter(|p| self.subscriptions_told.contains_key(p))
                    .copied()
                    .collect();
                let _ = reply.send(peers);
            }
        }
    }

    fn set_topics(&mut self, topics: BTreeSet<Topic>) {
        let g = &mut self.swarm.behaviour_mut().gossipsub;
        for old in self.topics.difference(&topics) {
            g.unsubscribe(&old.to_gossip());
        }
        for new in topics.difference(&self.topics) {
            if let Err(e) = g.subscribe(&new.to_gossip()) {
                tracing::warn!(topic = %new, error = %e, "cannot subscribe");
            }
            // Set only after with_peer_score, which build_swarm always calls.
            let _ = g.set_topic_params(new.to_gossip(), behaviour::topic_score_params());
        }
        self.topics = topics;
    }

    fn set_members(
        &mut self,
        mut members: HashMap<PeerId, Vec<Multiaddr>>,
        bootstrap: HashSet<PeerId>,
    ) {
        let me = *self.swarm.local_peer_id();
        // Members this node's own `bootstrap` setting names: dialled and
        // kept, but planned as the roster says ([`links::plan_with_own`]).
        let mut own_bootstrap = HashSet::new();
        for addr in &self.cfg.bootstrap {
            let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
                continue;
            };
            if let Some(addrs) = members.get_mut(&peer) {
                addrs.push(addr.clone());
                own_bootstrap.insert(peer);
            }
        }
        self.last_request.retain(|p, _| members.contains_key(p));
        let ids: Vec<PeerId> = members.keys().copied().collect();
        let keep = self
            .roster_keep
            .unwrap_or(self.cfg.peer_connections)
            .max(links::MIN_KEEP);
        let was_bounded = self.links.bounded;
        self.links = links::plan_with_own(&me, &ids, &bootstrap, &own_bootstrap, keep);
        if self.links.bounded && !was_bounded {
            // A full mesh becomes bounded links: every link up now counts as
            // just used, so none is pruned before LINK_IDLE. Members still on
            // the roster before may not relay the queries this node
            // publishes (node::responder), so its publish must keep reaching
            // them until they have the new roster (seconds).
            let now = std::time::Instant::now();
            let up: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
            for p in up {
                self.last_request.insert(p, now);
            }
        }
        if self.links.bounded {
            tracing::info!(
                members = ids.len(),
                kept = self.links.len(),
                peer_connections = keep,
                by_roster = self.roster_keep.is_some(),
                "the roster lists more members than the links kept (the roster's peer_connections where it states them, else node.peer_connections): links kept to some, the others dialled when a trace asks them"
            );
        }
        // Both ends of a kept link may dial it (two connections a peer at
        // most, net::behaviour), and answers and traces open links of their
        // own: a connection limit below twice the links kept can stop the
        // plan, a full mesh the roster decides included, from forming.
        let wanted = self.links.len().saturating_mul(2);
        if wanted > self.cfg.max_connections as usize {
            tracing::warn!(
                kept = self.links.len(),
                max_connections = self.cfg.max_connections,
                by_roster = self.roster_keep.is_some(),
                "node.max_connections is below twice the links this node keeps: raise it to at least {wanted}, or some members stay unlinked"
            );
        }
        let old: HashSet<PeerId> = self.members.keys().copied().collect();
        let b = self.swarm.behaviour_mut();
        for gone in old.iter().filter(|p| !members.contains_key(p)) {
            // Closes the connections to a peer removed from the roster at once.
            b.allow.disallow_peer(*gone);
            b.kad.remove_peer(gone);
        }
        // Kademlia finds members the roster lists without an address. With
        // links bounded its lookups would dial the members it learns of,
        // linking them all; so there it runs only while some member lacks an
        // address, and is told of the links kept alone. Otherwise it answers
        // nothing (client mode: no member adds this node to its routing
        // table) and knows no one: every address comes from the roster.
        let kad_needed = !self.links.bounded
            || members
                .iter()
                .any(|(p, a)| *p != me && a.is_empty() && !bootstrap.contains(p));
        self.kad_needed = kad_needed;
        let b = self.swarm.behaviour_mut();
        b.kad.set_mode(Some(if kad_needed {
            libp2p::kad::Mode::Server
        } else {
            libp2p::kad::Mode::Client
        }));
        for (peer, addrs) in &members {
            if *peer == me {
                continue;
            }
            b.allow.allow_peer(*peer);
            if !kad_needed || !self.links.keeps(peer) {
                b.kad.remove_peer(peer);
                continue;
            }
            for a in addrs {
                b.kad.add_address(peer, a.clone());
            }
        }
        self.members = members;
        // A new roster may list members without an address: look soon.
        self.bootstrap_backoff = BOOTSTRAP_FIRST;
        self.last_bootstrap = None;
        self.dial_missing_members();
    }

    fn dial_missing_members(&mut self) {
        let me = *self.swarm.local_peer_id();
        // Kademlia learns members' addresses from the peers it reaches, for
        // members the roster lists without one; only then, first after a
        // minute, then backing off to once an hour while they stay unknown:
        // a bootstrap every redial was most of an idle node's CPU in a large
        // federation (issue 16).
        let unknown = self.members.iter().any(|(p, a)| {
            *p != me && a.is_empty() && self.links.dial.contains(p) && !self.swarm.is_connected(p)
        });
        let now = std::time::Instant::now();
        let due = self
            .last_bootstrap
            .is_none_or(|t| now.duration_since(t) >= self.bootstrap_backoff);
        if !unknown {
            self.bootstrap_backoff = BOOTSTRAP_FIRST;
        } else if due && self.swarm.connected_peers().next().is_some() {
            if self.last_bootstrap.is_some() {
                self.bootstrap_backoff = (self.bootstrap_backoff * 2).min(BOOTSTRAP_MOST);
            }
            self.last_bootstrap = Some(now);
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        let missing: Vec<(PeerId, Vec<Multiaddr>)> = self
            .members
            .iter()
            .filter(|(p, a)| {
                **p != me
                    && !a.is_empty()
                    && self.links.dial.contains(p)
                    && !self.swarm.is_connected(p)
            })
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for (peer, addrs) in missing {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial not started");
            }
        }
    }

    /// Sends a request: on the peer's lasting stream if it is connected and
    /// speaks `/tracenet/frames/1`, else (or with `plain`) by
    /// request-response, which dials the peer if need be.
    fn request(&mut self, peer: PeerId, data: Vec<u8>, reply: ReplyTo, plain: bool) {
        let now = std::time::Instant::now();
        self.last_request.insert(peer, now);
        let (data, reply) = if !plain
            && self.swarm.is_connected(&peer)
            && self.plain_until.get(&peer).is_none_or(|t| now >= *t)
        {
            if self.frame_links.get(&peer).is_none_or(|l| l.is_closed()) {
                let (opened, on_open) = oneshot::channel();
                self.swarm.behaviour_mut().frames.open(peer, opened);
                self.next_link += 1;
                let link = frames::Link::spawn(
                    peer,
                    self.next_link,
                    on_open,
                    self.cfg.max_message_bytes,
                    self.cfg.request_timeout,
                    self.written.clone(),
                    self.commands_tx.clone(),
                );
                self.frame_links.insert(peer, link);
            }
            let link = &self.frame_links[&peer];
            match link.send(data, reply) {
                Ok(()) => return,
                // Full (or ended just now): this one goes the other way.
                Err(e) => {
                    let out = e.into_inner();
                    (out.data, out.reply)
                }
            }
        } else {
            (data, reply)
        };
        // Dials the peer if it is not linked (a holder outside the links
        // kept), with the roster's addresses: Kademlia knows only the links
        // kept, and with them bounded often no one.
        if !self.swarm.is_connected(&peer)
            && let Some(addrs) = self.members.get(&peer).filter(|a| !a.is_empty())
        {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs.clone())
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial for a request not started");
            }
        }
        let id = self.swarm.behaviour_mut().rr.send_request(&peer, data);
        self.pending_requests.insert(id, (peer, reply));
        self.requests.out_plain += 1;
    }

    /// Forgets what the lasting streams no longer need, and says when
    /// requests read from them were dropped for a full queue.
    fn tidy_frames(&mut self) {
        let now = std::time::Instant::now();
        self.plain_until.retain(|_, t| *t > now);
        self.frame_links.retain(|_, l| !l.is_closed());
        self.retired
            .retain(|(_, n)| n.load(std::sync::atomic::Ordering::Relaxed) > 0);
        self.inflow.tidy();
        let dropped = self.inflow.take_dropped();
        if dropped > 0 {
            self.dropped_events += dropped;
            tracing::warn!(
                dropped_so_far = self.dropped_events,
                "node is overloaded: requests on peers' streams dropped"
            );
        }
    }

    /// A link's task ended: the requests it never wrote go again, by
    /// request-response if the peer refused the protocol or its stream
    /// failed (and its next ones too, for a while).
    ///
    /// A link already let go (its connection closed, or the swarm rebuilt)
    /// decides nothing for the peer's current one: its requests go again
    /// the usual way.
    fn link_ended(&mut self, end: frames::LinkEnd) {
        let frames::LinkEnd {
            peer,
            link,
            again,
            plain_for,
        } = end;
        let current = self.frame_links.get(&peer).is_some_and(|l| l.id == link);
        if current {
            self.frame_links.remove(&peer);
        }
        let plain_for = plain_for.filter(|_| current);
        if let Some(d) = plain_for {
            self.plain_until.insert(peer, std::time::Instant::now() + d);
        }
        let now = tokio::time::Instant::now();
        for out in again {
            if now >= out.deadline {
                let _ = out.reply.send(Err(NetError::Request {
                    peer,
                    reason: "not sent within the request timeout".into(),
                }));
                continue;
            }
            self.request(peer, out.data, out.reply, plain_for.is_some());
        }
    }

    /// Closes links neither end keeps that this node opened (on demand, for
    /// a query or an answer) once no request has crossed them for
    /// [`links::LINK_IDLE`] and none is in flight.
    fn prune_idle_links(&mut self) {
        if !self.links.bounded {
            return;
        }
        // Requests on peers' lasting streams count as requests crossing the
        // link, as those by request-response do.
        for (p, t) in self.inflow.take_last_requests() {
            let last = self.last_request.entry(p).or_insert(t);
            *last = (*last).max(t);
        }
        let busy: HashSet<PeerId> = self
            .pending_requests
            .values()
            .map(|(p, _)| *p)
            .chain(self.inbound.values().map(|(p, _)| *p))
            .chain(
                self.frame_links
                    .iter()
                    .filter(|(_, l)| l.busy())
                    .map(|(p, _)| *p),
            )
            .chain(self.inflow.busy_peers())
            .chain(
                self.retired
                    .iter()
                    .filter(|(_, n)| n.load(std::sync::atomic::Ordering::Relaxed) > 0)
                    .map(|(p, _)| *p),
            )
            .collect();
        let connected: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| self.dialled.contains_key(p))
            .copied()
            .collect();
        let idle = self.links.idle(
            &connected,
            &busy,
            &self.last_request,
            std::time::Instant::now(),
        );
        for p in idle {
            tracing::debug!(peer = %p, "link opened on demand closed: idle");
            self.last_request.remove(&p);
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    /// One connection this node dialled to `peer` closed.
    fn forget_dialled(&mut self, peer: PeerId) {
        if let Some(n) = self.dialled.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.dialled.remove(&peer);
            }
        }
    }

    /// Peers whose gossip score fell below the graylist threshold.
    fn graylisted(&self) -> Vec<PeerId> {
        let g = &self.swarm.behaviour().gossipsub;
        let threshold = behaviour::score_thresholds().graylist_threshold;
        g.all_peers()
            .map(|(p, _)| *p)
            .filter(|p| g.peer_score(p).is_some_and(|s| s < threshold))
            .collect()
    }

    /// Says once an hour per peer that gossipsub ignores it, since gossipsub
    /// itself only says so at debug level.
    fn log_graylisted(&mut self) {
        let now = std::time::Instant::now();
        for peer in self.graylisted() {
            if self.graylist_logged.check(&peer, now) {
                let score = self.swarm.behaviour().gossipsub.peer_score(&peer);
                tracing::info!(
                    %peer,
                    score = score.unwrap_or_default(),
                    "peer graylisted: its gossip score is below the threshold (invalid messages), so its gossip is ignored until the score recovers (tracenet_peers_graylisted)"
                );
            }
        }
    }

    fn status(&self, with_topics: bool) -> NetStatus {
        let g = &self.swarm.behaviour().gossipsub;
        let mut topic_peers: HashMap<String, Vec<String>> = HashMap::new();
        for (peer, topics) in g.all_peers().filter(|_| with_topics) {
            for t in topics {
                topic_peers
                    .entry(t.to_string())
                    .or_default()
                    .push(peer.to_string());
            }
        }
        NetStatus {
            peer_id: self.swarm.local_peer_id().to_string(),
            listen: self.swarm.listeners().map(|a| a.to_string()).collect(),
            connected: self
                .swarm
                .connected_peers()
                .map(|p| p.to_string())
                .collect(),
            subscribed: self.topics.iter().map(|t| t.to_string()).collect(),
            topic_peers,
            allowed: self.swarm.behaviour().allow.allowed_peers().len(),
            gossip_in: self.gossip_in,
            gossip_out: self.gossip_out,
            connections_refused: self.refusals.counts(),
            peers_graylisted: self.graylisted().len(),
            gossip_verdicts: self.gossip_verdicts,
            kept: {
                let mut k: Vec<String> = self
                    .links
                    .dial
                    .union(&self.links.accept)
                    .map(|p| p.to_string())
                    .collect();
                k.sort();
                k
            },
            links_bounded: self.links.bounded,
            gossip_validation: self.cfg.gossip_validation,
            gossip_validation_next: self.switch.map(|(m, _)| m),
            requests: RequestCounts {
                in_stream: self.inflow.received(),
                out_stream: self.written.load(std::sync::atomic::Ordering::Relaxed),
                ..self.requests
            },
        }
    }

    /// Makes the gossip validation switch decided, once its grace has passed
    /// and no request waits for its reply, or [`SWITCH_MOST`] after it was
    /// decided.
    fn switch_when_due(&mut self) {
        let Some((mode, from)) = self.switch else {
            return;
        };
        let now = std::time::Instant::now();
        let quiet = self.pending_requests.is_empty()
            && self.inbound.is_empty()
            && !self.frame_links.values().any(|l| l.busy())
            && self.inflow.busy_peers().is_empty()
            && self
                .retired
                .iter()
                .all(|(_, n)| n.load(std::sync::atomic::Ordering::Relaxed) == 0);
        if now < from || (!quiet && now < from + SWITCH_MOST - SWITCH_GRACE) {
            return;
        }
        self.switch = None;
        self.rebuild(mode);
    }

    /// Whether a roster or maker table with these bytes was read or
    /// published on `topic` within gossipsub's duplicate window, under
    /// `payload` validation: gossipsub names such a message by its bytes,
    /// and would refuse to publish it again, logging a WARN for what is
    /// routine here (a roster offered by several members as peers connect).
    /// Trace topics are not kept: their messages are many, and each is
    /// published once.
    fn seen_recently(&mut self, topic: &Topic, data: &[u8]) -> bool {
        if self.cfg.gossip_validation != GossipValidation::Payload
            || !matches!(topic, Topic::Roster | Topic::Makers)
        {
            return false;
        }
        let now = std::time::Instant::now();
        self.seen_control
            .retain(|_, t| now.duration_since(*t) < DUPLICATE_WINDOW);
        let id = behaviour::payload_message_id(topic, data);
        if self.seen_control.contains_key(&id) {
            return true;
        }
        self.seen_control.insert(id, now);
        false
    }

    /// Drops what the network side keeps of the queries gossip brought and
    /// this node published: on a validation switch (the new swarm's
    /// gossipsub remembers nothing either, and what was queued on the old
    /// connections is gone), and when served lists are turned on or off.
    fn forget_queries(&mut self) {
        self.recent_queries = RecentQueries::default();
        self.relayed_here = RecentQueries::default();
        self.queries_published = RecentQueries::default();
    }

    /// Whether gossip brought these bytes on `topic` lately, where a
    /// directly asked holder passes a query on (node::responder,
    /// `pass_on_directed`): the copy gossip brought is relayed instead.
    /// Under `payload` validation gossipsub names a message by its bytes,
    /// so it would refuse that publish as a duplicate and log a WARN for a
    /// routine race. Under `strict` it would send a second message of the
    /// same bytes under this node's name beside the requester's: held back
    /// only once gossipsub took the copy gossip brought to relay, so that a
    /// copy still being judged, or shed ([`Verdict::Shed`]), leaves the
    /// pass-on to go. Only kept where served lists are in force and links
    /// bounded, the one case in which a node publishes a query it did not
    /// sign.
    fn query_gossiped_here(&self, topic: &Topic, data: &[u8]) -> bool {
        let kept = match self.cfg.gossip_validation {
            GossipValidation::Payload => &self.recent_queries,
            GossipValidation::Strict => &self.relayed_here,
        };
        self.served_lists
            && !matches!(topic, Topic::Roster | Topic::Makers)
            && !kept.is_empty()
            && kept.contains(
                &behaviour::payload_message_id(topic, data),
                std::time::Instant::now(),
            )
    }

    /// Listens on the addresses a rebuilt swarm could not take yet; says so
    /// once per address until it can.
    fn listen_again(&mut self) {
        for addr in std::mem::take(&mut self.unbound) {
            match self.swarm.listen_on(addr.clone()) {
                Ok(id) => self.listeners.push((id, addr)),
                Err(e) => {
                    if !self.unbound_logged.contains(&addr) {
                        tracing::error!(
                            %addr,
                            error = %e,
                            "after switching gossip validation the node cannot listen again on its address; members reach it only by its own dials until it can (tried again every few seconds)"
                        );
                        self.unbound_logged.insert(addr.clone());
                    }
                    self.unbound.push(addr);
                }
            }
        }
    }

    /// Replaces the swarm by one checking gossip as `mode` says: same key,
    /// same listening ports, same topics and members. Requests still in
    /// flight fail, and every peer connected is reported gone (its traces
    /// ask again when it is back).
    fn rebuild(&mut self, mode: GossipValidation) {
        let mut cfg = self.cfg.clone();
        cfg.gossip_validation = mode;
        let swarm = match behaviour::build_swarm(self.keypair.clone(), &cfg) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, to = %mode, "cannot switch gossip validation; the node keeps the old one");
                return;
            }
        };
        let listen: Vec<Multiaddr> = self
            .listeners
            .iter()
            .map(|(id, asked)| with_port(asked, self.bound_ports.get(id).copied()))
            .collect();
        // What was queued on the old connections is lost with them: the
        // node hears of each peer as gone, so that traces awaiting it ask
        // again once it is back (as after any lost connection).
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        // The old swarm's listeners and connections close as it is dropped,
        // before the new one binds the same ports (TCP listeners are opened
        // with SO_REUSEADDR, so connections closing do not hold them).
        drop(std::mem::replace(&mut self.swarm, swarm));
        // The old streams closed with the connections; their links hand
        // what they still hold back to the new swarm.
        accept_frames(
            &mut self.swarm,
            frames::Serving {
                events: self.events.clone(),
                inflow: self.inflow.clone(),
                max_bytes: cfg.max_message_bytes,
                timeout: cfg.request_timeout,
            },
        );
        self.frame_links.clear();
        self.plain_until.clear();
        self.cfg = cfg;
        self.listeners.clear();
        self.bound_ports.clear();
        self.unbound = listen;
        self.listen_again();
        for peer in connected {
            self.emit(NetEvent::PeerDown(peer));
        }
        for (_, (peer, reply)) in self.pending_requests.drain() {
            let _ = reply.send(Err(NetError::Request {
                peer,
                reason: "the connection was closed as this node switched its gossip validation"
                    .into(),
            }));
        }
        self.inbound.clear();
        self.seen_control.clear();
        // The new swarm's gossipsub remembers nothing either, and what was
        // queued on the old connections is gone.
        self.forget_queries();
        self.subscriptions_told.clear();
        self.dialled.clear();
        self.last_request.clear();
        let topics = std::mem::take(&mut self.topics);
        self.set_topics(topics);
        self.members.clear();
        self.links = links::Links::default();
        if let Some((members, bootstrap)) = self.roster_members.clone() {
            self.set_members(members, bootstrap);
        }
        tracing::info!(gossip_validation = %mode, "gossip validation switched");
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                if let Some(port) = tcp_port(&address) {
                    self.bound_ports.insert(listener_id, port);
                }
                tracing::info!(%address, "listening");
                self.emit(NetEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    *self.dialled.entry(peer_id).or_default() += 1;
                }
                if num_established.get() == 1 {
                    self.emit(NetEvent::PeerUp(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    self.forget_dialled(peer_id);
                }
                // The stream to the peer went with this connection (or may
                // have, not open yet): the next request opens one on a
                // connection still there. What the old link has in flight
                // ends with its replies or its stream, and counts as busy
                // until then.
                if self
                    .frame_links
                    .get(&peer_id)
                    .is_some_and(|l| l.may_ride(connection_id))
                    && let Some(old) = self.frame_links.remove(&peer_id)
                {
                    self.retired.push((peer_id, old.in_flight()));
                }
                if num_established > 0 {
                    return;
                }
                self.subscriptions_told.remove(&peer_id);
                // A link opened on demand closing (pruned by the end that
                // opened it) is routine: the next request dials it again. The
                // node still hears of it, for holders awaited over it that
                // have said nothing yet.
                if self.links.bounded && !self.links.keeps(&peer_id) {
                    tracing::debug!(peer = %peer_id, "link opened on demand closed");
                    self.emit(NetEvent::LinkClosed(peer_id));
                } else {
                    self.emit(NetEvent::PeerDown(peer_id));
                }
            }
            // A behaviour refused the peer (the allow list, the limits): counted
            // and logged here, as libp2p reports it nowhere else.
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                peer_id,
                send_back_addr,
                ..
            } => {
                let who = match peer_id {
                    Some(p) => Who::Peer(p),
                    None => Who::Address(host_of(&send_back_addr)),
                };
                self.refusals
                    .record(RefusalReason::of(&cause), who, &send_back_addr);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                peer_id,
                topic,
            })) => {
                let now = std::time::Instant::now();
                let (since, told) = self.subscriptions_told.entry(peer_id).or_insert((now, 0));
                if now.duration_since(*since) >= Duration::from_secs(60) {
                    *since = now;
                    *told = 0;
                }
                *told += 1;
                if *told <= SUBSCRIPTIONS_TOLD_PER_MINUTE
                    && let Ok(topic) = topic.as_str().parse::<Topic>()
                    && !matches!(topic, Topic::Roster | Topic::Makers)
                {
                    self.emit(NetEvent::Subscribed {
                        peer: peer_id,
                        topic,
                    });
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.on_gossip(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.on_request_response(ev),
            // A member the roster gave no address for, found through Kademlia.
            SwarmEvent::Behaviour(BehaviourEvent::Kad(libp2p::kad::Event::RoutingUpdated {
                peer,
                addresses,
                ..
            })) if self.links.dial.contains(&peer) && !self.swarm.is_connected(&peer) => {
                let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                    .addresses(addresses.into_vec())
                    .build();
                let _ = self.swarm.dial(opts);
            }
            // Only members' self-reported addresses are worth remembering.
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) if self.kad_needed && self.links.keeps(&peer_id) => {
                for a in info.listen_addrs.into_iter().take(8) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, a);
                }
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, ev: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = ev
        else {
            return;
        };
        self.gossip_in += 1;
        let mut id = GossipId {
            id: message_id,
            source: propagation_source,
            others: None,
            payload_id: None,
        };
        let topic = match message.topic.as_str().parse::<Topic>() {
            Ok(t) => t,
            Err(_) => {
                // The subscription filter admits only tracenet topics; reaching
                // here means a malformed one.
                self.report(&id, MessageAcceptance::Reject);
                return;
            }
        };
        // With links bounded a holder relays a query only toward a peer its
        // requester did not serve (node::responder, `relay_verdict`): who
        // is on the topic here, read now, before the verdict.
        if self.served_lists
            && self.links.bounded
            && !matches!(topic, Topic::Roster | Topic::Makers)
        {
            let now = std::time::Instant::now();
            let strict = self.cfg.gossip_validation == GossipValidation::Strict;
            // Under `strict` validation the same query's bytes come as
            // several messages (the requester's, and each holder's pass-on
            // under its own name): a copy of bytes the node judged on this
            // topic within the minute, or that this node published there
            // itself, is ignored: the node has read the query, and the
            // peers on the topic have had it from here. A copy that comes
            // while the first is still being judged is read (the first may
            // yet be shed). Under `payload` gossipsub drops such copies
            // itself, the copies being one message.
            if strict {
                let payload_id = behaviour::payload_message_id(&topic, &message.data);
                if self.queries_published.contains(&payload_id, now)
                    || self.recent_queries.contains(&payload_id, now)
                {
                    self.gossip_verdicts.copy += 1;
                    self.report(&id, MessageAcceptance::Ignore);
                    return;
                }
                id.payload_id = Some(payload_id);
            }
            let others: Vec<PeerId> = self
                .swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .filter(|(p, ts)| **p != propagation_source && ts.contains(&&message.topic))
                .map(|(p, _)| *p)
                .collect();
            id.others = Some(others.into());
            if !strict {
                self.recent_queries.note_at(id.id.clone(), now);
            }
        }
        if self.cfg.gossip_validation == GossipValidation::Payload
            && matches!(topic, Topic::Roster | Topic::Makers)
        {
            // Under payload validation the id is the bytes' digest: the
            // same roster is then not offered again (seen_recently).
            self.seen_control
                .insert(id.id.clone(), std::time::Instant::now());
        }
        let ev = NetEvent::Gossip {
            id: id.clone(),
            topic,
            data: message.data,
        };
        if !self.emit(ev) {
            self.report(&id, MessageAcceptance::Ignore);
        }
    }

    fn report(&mut self, id: &GossipId, a: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id.id, &id.source, a);
    }

    fn on_request_response(&mut self, ev: request_response::Event<Vec<u8>, Vec<u8>>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let n = self.next_inbound;
                    self.next_inbound += 1;
                    self.inbound.insert(n, (peer, channel));
                    self.requests.in_plain += 1;
                    self.last_request.insert(peer, std::time::Instant::now());
                    if !self.emit(NetEvent::Request {
                        id: InboundId(Inbound::Plain(n)),
                        peer,
                        data: request,
                    }) {
                        // Dropping the channel tells the requester it failed.
                        self.inbound.remove(&n);
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((_, reply)) = self.pending_requests.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, reply)) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound request failed");
                self.inbound.retain(|_, (_, ch)| ch.is_open());
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// The IP part of a remote address: a peer that cannot be named is remembered
/// by host, since its port changes with every attempt.
/// The TCP port of `addr`, if it has one.
fn tcp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}

/// `addr` with its TCP port set to `port` where it asked for any (0).
fn with_port(addr: &Multiaddr, port: Option<u16>) -> Multiaddr {
    let Some(port) = port else {
        return addr.clone();
    };
    addr.iter()
        .map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(0) => libp2p::multiaddr::Protocol::Tcp(port),
            other => other,
        })
        .collect()
}

fn host_of(addr: &Multiaddr) -> String {
    match addr.iter().next() {
        Some(libp2p::multiaddr::Protocol::Ip4(ip)) => ip.to_string(),
        Some(libp2p::multiaddr::Protocol::Ip6(ip)) => ip.to_string(),
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests;
