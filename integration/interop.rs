//! Interop with other gossipsub implementations under bursts (issue 11, hole 7).
//!
//! js-libp2p and go-libp2p advertise up to 5,000 message ids in one IHAVE
//! (gossipsub v1.1's `max_ihave_length`) and answer an IWANT with all the
//! messages asked for in one RPC. rust-libp2p's gossipsub refuses a frame over
//! any of its decoder limits by dropping the sender's whole inbound stream: all
//! the peer writes after it is lost until the peer opens another.
//!
//! The test peer is a roster member whose libp2p side is rust-libp2p's own
//! (same version as tracenet): its gossipsub subscribes, meshes and receives
//! as usual. It cannot be made to advertise 5,000 ids without holding 5,000
//! real messages, so each burst is written by hand, with the gossipsub protobuf
//! schema, on a new gossipsub stream as another implementation would; on the
//! same stream follows a signed trace query, which the node must answer. The
//! node keeps one inbound gossipsub stream per connection, so the hand-written
//! stream replaces the peer's own: it is written only once the two are meshed,
//! when the peer's gossipsub has nothing more to send.

mod common;
mod fed;

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fed::*;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, gossipsub, noise, request_response, tcp, yamux,
};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tracenet::identity::NodeKey;
use tracenet::marking::{MakerTable, Marking};
use tracenet::model::{CountryCode, WeaponCategory};
use tracenet::net::Topic;
use tracenet::protocol::{
    IntendedUse, LegalGround, Limits, Party, Priority, QueryId, Signed, TraceAnswer, TraceQuery,
    decode_and_verify,
};

/// What js-libp2p and go-libp2p put in one IHAVE at most.
const IHAVE_IDS: usize = 5_000;

/// More messages in one RPC than rust-libp2p's gossipsub decodes by default (500).
const MESSAGES_IN_ONE_RPC: usize = 600;

const MADE: &str = r#"{"date":"2009-03-14","kind":"manufactured","holder":"manufacturer"}"#;

/// gossipsub's wire messages, field for field from rust-libp2p's
/// `libp2p-gossipsub/src/generated/rpc.proto` (the crate keeps its own private).
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Rpc {
        #[prost(message, repeated, tag = "1")]
        pub subscriptions: Vec<SubOpts>,
        #[prost(message, repeated, tag = "2")]
        pub publish: Vec<Message>,
        #[prost(message, optional, tag = "3")]
        pub control: Option<ControlMessage>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SubOpts {
        #[prost(bool, optional, tag = "1")]
        pub subscribe: Option<bool>,
        #[prost(string, optional, tag = "2")]
        pub topic_id: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Message {
        #[prost(bytes = "vec", optional, tag = "1")]
        pub from: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "2")]
        pub data: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "3")]
        pub seqno: Option<Vec<u8>>,
        #[prost(string, required, tag = "4")]
        pub topic: String,
        #[prost(bytes = "vec", optional, tag = "5")]
        pub signature: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "6")]
        pub key: Option<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ControlMessage {
        #[prost(message, repeated, tag = "1")]
        pub ihave: Vec<ControlIHave>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ControlIHave {
        #[prost(string, optional, tag = "1")]
        pub topic_id: Option<String>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub message_ids: Vec<Vec<u8>>,
    }
}

/// An RPC carrying one IHAVE of `IHAVE_IDS` ids shaped like js-libp2p's (the
/// author's PeerId bytes and an 8-byte sequence number: 46 bytes for an
/// Ed25519 author), for messages this peer never sent.
fn full_ihave(author: &PeerId, topic: &str) -> pb::Rpc {
    let ids = (0..IHAVE_IDS as u64)
        .map(|i| [author.to_bytes(), (u64::MAX - i).to_be_bytes().to_vec()].concat())
        .collect();
    pb::Rpc {
        control: Some(pb::ControlMessage {
            ihave: vec![pb::ControlIHave {
                topic_id: Some(topic.to_string()),
                message_ids: ids,
            }],
        }),
        ..Default::default()
    }
}

/// An RPC publishing each of `data` on `topic` as its own message, signed as
/// gossipsub's strict mode requires: the author's key signs "libp2p-pubsub:"
/// and the message without its signature.
fn signed_publish(key: &libp2p::identity::Keypair, topic: &str, data: &[Vec<u8>]) -> pb::Rpc {
    let first = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let publish = data
        .iter()
        .zip(first..)
        .map(|(d, seqno)| {
            let mut m = pb::Message {
                from: Some(key.public().to_peer_id().to_bytes()),
                data: Some(d.clone()),
                seqno: Some(seqno.to_be_bytes().to_vec()),
                topic: topic.to_string(),
                signature: None,
                key: None,
            };
            let signed = [b"libp2p-pubsub:".as_slice(), &m.encode_to_vec()].concat();
            m.signature = Some(key.sign(&signed).unwrap());
            m
        })
        .collect();
    pb::Rpc {
        publish,
        ..Default::default()
    }
}

/// Writes pre-framed gossipsub RPCs on a fresh `/meshsub/1.1.0` stream, closes
/// its sending side, and reads until the node closes its side.
#[derive(Clone, Default)]
struct RawRpc;

/// The node's `/tracenet/rr/1` framing: u32 big-endian length, then the bytes.
#[derive(Clone, Default)]
struct Frames;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(std::io::Error::other(format!("frame of {len} bytes")));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

impl request_response::Codec for RawRpc {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::other(
            "the test peer only opens gossipsub streams",
        ))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<()> {
        let mut rest = Vec::new();
        io.take(1 << 20).read_to_end(&mut rest).await?;
        Ok(())
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        framed: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&framed).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: (),
    ) -> std::io::Result<()> {
        Ok(())
    }
}

impl request_response::Codec for Frames {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_frame(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> std::io::Result<()> {
        Err(std::io::Error::other("the test peer sends no requests"))
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()> {
        io.write_all(&(res.len() as u32).to_be_bytes()).await?;
        io.write_all(&res).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct PeerBehaviour {
    gossipsub: gossipsub::Behaviour,
    raw: request_response::Behaviour<RawRpc>,
    answers: request_response::Behaviour<Frames>,
}

/// What the test peer tells the test.
#[derive(Debug)]
enum Report {
    /// A request on `/tracenet/rr/1`: a signed answer frame.
    Answer(Vec<u8>),
    /// How the hand-written gossipsub stream ended.
    Burst(Result<(), String>),
    /// A gossip message that this peer's gossipsub (strict validation, the
    /// crate's default message ids: a member of an older build) delivered.
    Gossip(Vec<u8>),
}

enum Command {
    /// Whether the node is connected, subscribed to the topic and in our mesh.
    Ready(oneshot::Sender<bool>),
    /// Writes these framed RPCs on a new gossipsub stream to the node.
    Burst(Vec<u8>),
    /// From now on, the node's answers are read and never acknowledged (as
    /// a member that leaves them waiting for its `ok` would).
    Withhold,
    /// Publishes this message on the topic through the peer's own gossipsub.
    Publish(Vec<u8>),
}

struct TestPeer {
    swarm: Swarm<PeerBehaviour>,
    node: PeerId,
    topic: gossipsub::IdentTopic,
    commands: mpsc::Receiver<Command>,
    reports: std_mpsc::Sender<Report>,
    /// Under [`Command::Withhold`], the reply channels of the answers read,
    /// kept open and never answered.
    withheld: Option<Vec<request_response::ResponseChannel<Vec<u8>>>>,
}

fn build_swarm(key: libp2p::identity::Keypair) -> Swarm<PeerBehaviour> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            // Large limits, so that the node's replies to a full IHAVE (an
            // IWANT for up to 5,000 ids) do not break this side.
            let config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(200))
                .max_transmit_size(1 << 20)
                .max_control_message_size(1 << 20)
                .build()
                .unwrap();
            PeerBehaviour {
                gossipsub: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    config,
                )
                .unwrap(),
                raw: request_response::Behaviour::with_codec(
                    RawRpc,
                    [(
                        StreamProtocol::new("/meshsub/1.1.0"),
                        request_response::ProtocolSupport::Outbound,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(60)),
                ),
                answers: request_response::Behaviour::with_codec(
                    Frames,
                    [(
                        StreamProtocol::new("/tracenet/rr/1"),
                        request_response::ProtocolSupport::Inbound,
                    )],
                    request_response::Config::default(),
                ),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build()
}

impl TestPeer {
    fn ready(&self) -> bool {
        let g = &self.swarm.behaviour().gossipsub;
        let hash = self.topic.hash();
        let subscribed = g
            .all_peers()
            .any(|(p, ts)| *p == self.node && ts.contains(&&hash));
        let meshed = g.mesh_peers(&hash).any(|p| *p == self.node);
        self.swarm.is_connected(&self.node) && subscribed && meshed
    }

    async fn run(mut self, addr: Multiaddr) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&self.topic)
            .unwrap();
        self.swarm.dial(addr.clone()).unwrap();
        // Dialled again while not connected: the node may refuse a first
        // dial (it still counted the member's process, stopped just before,
        // against its connections per peer) or drop the connection.
        let every = Duration::from_secs(2);
        let mut redial = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_event(ev),
                _ = redial.tick() => {
                    let node = self.node;
                    if !self.swarm.is_connected(&node) {
                        let _ = self.swarm.dial(addr.clone());
                    }
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Ready(reply)) => {
                        let _ = reply.send(self.ready());
                    }
                    Some(Command::Burst(framed)) => {
                        let node = self.node;
                        self.swarm.behaviour_mut().raw.send_request(&node, framed);
                    }
                    Some(Command::Withhold) => self.withheld = Some(Vec::new()),
                    Some(Command::Publish(data)) => {
                        let topic = self.topic.clone();
                        self.swarm
                            .behaviour_mut()
                            .gossipsub
                            .publish(topic, data)
                            .expect("published");
                    }
                    None => return,
                },
            }
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<PeerBehaviourEvent>) {
        use request_response::{Event, Message};
        match ev {
            SwarmEvent::Behaviour(PeerBehaviourEvent::Answers(Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                match self.withheld.as_mut() {
                    Some(kept) => kept.push(channel),
                    None => {
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .answers
                            .send_response(channel, tracenet::protocol::Reply::Ok.encode());
                    }
                }
                let _ = self.reports.send(Report::Answer(request));
            }
            SwarmEvent::Behaviour(PeerBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) => {
                let _ = self.reports.send(Report::Gossip(message.data));
            }
            SwarmEvent::Behaviour(PeerBehaviourEvent::Raw(Event::Message {
                message: Message::Response { .. },
                ..
            })) => {
                let _ = self.reports.send(Report::Burst(Ok(())));
            }
            SwarmEvent::Behaviour(PeerBehaviourEvent::Raw(Event::OutboundFailure {
                error,
                ..
            })) => {
                let _ = self.reports.send(Report::Burst(Err(error.to_string())));
            }
            _ => {}
        }
    }
}

/// A handle the (blocking) test uses on the peer running in `_rt`; dropping
/// it drops the runtime, which ends the peer.
struct Handle {
    commands: mpsc::Sender<Command>,
    reports: std_mpsc::Receiver<Report>,
    _rt: tokio::runtime::Runtime,
}

impl Handle {
    fn start(key: libp2p::identity::Keypair, node: &FedNode, topic: &str) -> Handle {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, commands) = mpsc::channel(8);
        let (report, reports) = std_mpsc::channel();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", node.port, node.peer_id)
            .parse()
            .unwrap();
        let swarm = {
            let _guard = rt.enter();
            build_swarm(key)
        };
        let peer = TestPeer {
            swarm,
            node: node.peer_id.parse().unwrap(),
            topic: gossipsub::IdentTopic::new(topic),
            commands,
            reports: report,
            withheld: None,
        };
        rt.spawn(peer.run(addr));
        Handle {
            commands: tx,
            reports,
            _rt: rt,
        }
    }

    fn ready(&self) -> bool {
        let (reply, rx) = oneshot::channel();
        self.commands
            .blocking_send(Command::Ready(reply))
            .expect("test peer running");
        rx.blocking_recv().unwrap_or(false)
    }

    fn publish(&self, data: Vec<u8>) {
        self.commands
            .blocking_send(Command::Publish(data))
            .expect("test peer running");
    }

    fn withhold(&self) {
        self.commands
            .blocking_send(Command::Withhold)
            .expect("test peer running");
    }

    fn burst(&self, rpcs: &[pb::Rpc]) {
        let framed: Vec<u8> = rpcs
            .iter()
            .flat_map(|r| r.encode_length_delimited_to_vec())
            .collect();
        self.commands
            .blocking_send(Command::Burst(framed))
            .expect("test peer running");
    }
}

/// A trace query for a Walther pistol, signed with `key` as State `state`.
fn query(key: &NodeKey, state: &str, marking: Marking) -> Signed<TraceQuery> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    key.sign(TraceQuery {
        id: QueryId::random().unwrap(),
        requester: Party {
            state: CountryCode::parse(state).unwrap(),
            key: key.public_key(),
        },
        issued_at: now,
        ttl_secs: 3600,
        priority: Priority::Routine,
        marking,
        category: WeaponCategory::Pistol,
        calibre: None,
        legal_ground: LegalGround::SeizedInCrime,
        intended_use: IntendedUse::CriminalInvestigation,
        makers_version: Some(0),
        directed_only: false,
        served: None,
    })
    .unwrap()
}

/// DE, a real node holding a Walther pistol, and the test peer as KE's member,
/// the two meshed on the Walther prefix topic.
struct Setup {
    fed: Federation,
    peer: Handle,
    key: NodeKey,
    keypair: libp2p::identity::Keypair,
    topic: String,
    marking: Marking,
}

fn setup() -> Setup {
    setup_with("")
}

/// [`setup`], DE's node configured with `de_config` (lines of `[node]`).
fn setup_with(de_config: &'static str) -> Setup {
    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: de_config,
            ..NodeSpec::member(
                "DE",
                vec![record("DE-1", "Walther", "DE", "BP0746", &[], MADE)],
            )
        },
        NodeSpec::member(
            "KE",
            vec![record("KE-1", "Norinco", "CN", "56001", &[], MADE)],
        ),
    ]);
    // The test peer is KE's member: KE's own process stops and the peer takes
    // its key, which the roster lists. DE must have seen it go: until then it
    // counts KE's connections against its bound per peer, and under load
    // refused the test peer's first dial for it.
    fed.node_mut("KE").kill();
    let ke = fed.node("KE").peer_id.clone();
    wait_for(
        "DE to see KE's process gone",
        Duration::from_secs(30),
        || {
            let st = fed.node("DE").json(&["status"]);
            net_list(&st, "connected")
                .is_some_and(|c| !c.contains(&ke))
                .then_some(())
        },
    );
    let key = NodeKey::load(&tracenet::identity::key_path(&fed.node("KE").dir)).unwrap();
    let keypair = key.libp2p_keypair();
    let marking =
        Marking::new("Carl Walther", CountryCode::parse("DE").unwrap(), "BP0746").unwrap();
    let topic = Topic::Prefix(marking.prefix(&MakerTable::built_in())).to_string();
    let peer = Handle::start(keypair.clone(), fed.node("DE"), &topic);
    wait_for(
        "DE and the test peer to mesh on the prefix topic",
        Duration::from_secs(30),
        || peer.ready().then_some(()),
    );
    fed.wait_subscribed("DE", &topic, &["KE"]);
    Setup {
        fed,
        peer,
        key,
        keypair,
        topic,
        marking,
    }
}

impl Setup {
    fn query(&self) -> Signed<TraceQuery> {
        query(&self.key, "KE", self.marking.clone())
    }

    /// Writes `rpcs` on one new gossipsub stream and waits for DE's answer to `q`.
    fn expect_answer_after(&self, what: &str, rpcs: &[pb::Rpc], q: &Signed<TraceQuery>) {
        self.peer.burst(rpcs);
        let mut stream = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.peer.reports.recv_timeout(left) {
                Ok(Report::Answer(frame)) => break frame,
                Ok(Report::Burst(r)) => stream = Some(r),
                Ok(Report::Gossip(_)) => {}
                Err(_) => panic!(
                    "DE never answered a query sent on a gossipsub stream after {what} \
                     (the stream ended: {stream:?}); DE's log ends:\n{}",
                    tail(&self.fed.node("DE").log(), 20)
                ),
            }
        };
        let a = decode_and_verify::<TraceAnswer>(&answer, Limits::default()).unwrap();
        assert_eq!(a.body().query, q.digest(), "the answer is for our query");
        assert_eq!(a.body().responder.state, CountryCode::parse("DE").unwrap());
    }
}

#[test]
fn a_full_ihave_does_not_stop_the_node_reading_its_sender() {
    let s = setup();
    let me = s.keypair.public().to_peer_id();
    let q = s.query();
    s.expect_answer_after(
        &format!("a {IHAVE_IDS}-id IHAVE"),
        &[
            full_ihave(&me, &s.topic),
            signed_publish(&s.keypair, &s.topic, &[q.bytes().to_vec()]),
        ],
        &q,
    );
}

/// go-libp2p and js-libp2p answer an IWANT with all the messages asked for in
/// one RPC; rust-libp2p's decoder takes at most 500 by default.
#[test]
fn an_rpc_of_many_messages_does_not_stop_the_node_reading_its_sender() {
    let s = setup();
    let q = s.query();
    // Each copy has its own sequence number, but the same bytes: the node
    // reads the whole RPC, takes the first copy and drops the rest as
    // duplicates of it (one message id per topic and data), and answers once.
    let copies = vec![q.bytes().to_vec(); MESSAGES_IN_ONE_RPC];
    s.expect_answer_after(
        &format!("an RPC of {MESSAGES_IN_ONE_RPC} messages"),
        &[signed_publish(&s.keypair, &s.topic, &copies)],
        &q,
    );
}

/// By default (`gossip_validation = "strict"`) gossipsub verifies every
/// envelope: one signed by another key than its author's never reaches the
/// node's checks, even when the query inside is valid.
#[test]
fn under_strict_validation_an_envelope_with_a_broken_signature_is_dropped() {
    let s = setup();
    let gossip_in = || s.fed.node("DE").json(&["status"])["net"]["gossip_in"].as_u64();
    let before = gossip_in().expect("status net.gossip_in");
    let broken = s.query();
    let mut rpc = signed_publish(&s.keypair, &s.topic, &[broken.bytes().to_vec()]);
    let other = libp2p::identity::Keypair::generate_ed25519();
    rpc.publish[0].signature = Some(other.sign(b"not this message").unwrap());
    s.peer.burst(&[rpc]);
    // The node has read the whole stream once it closes its side: had it
    // taken the message, it would have counted it by now.
    match s.peer.reports.recv_timeout(Duration::from_secs(30)) {
        Ok(Report::Burst(Ok(()))) => {}
        Ok(Report::Answer(_)) => panic!("DE answered a query in a broken envelope"),
        other => panic!("the stream to DE did not end cleanly: {:?}", other.is_ok()),
    }
    // An invalid message scores its sender below the graylist threshold for
    // about a second (the penalty halves every second): until then, DE
    // ignores everything from it.
    wait_for(
        "DE to stop ignoring the test peer",
        Duration::from_secs(30),
        || {
            let st = s.fed.node("DE").json(&["status"]);
            (st["net"]["peers_graylisted"].as_u64() == Some(0)).then_some(())
        },
    );
    let q = s.query();
    let rpc = signed_publish(&s.keypair, &s.topic, &[q.bytes().to_vec()]);
    // The first answer to arrive is the valid query's (asserted inside).
    s.expect_answer_after("a valid envelope", &[rpc], &q);
    assert_eq!(
        gossip_in(),
        Some(before + 1),
        "only the valid envelope reached DE"
    );
}

/// A blind trace's query is `directed_only`: its requester sends it only to
/// the holders whose filter hits. One of them publishing it on the prefix's
/// topic (the hostile review's amplification) gets it admitted by no one:
/// DE refuses it (`directed_only`, audited), does not answer it, and
/// answers the same marking's query when it is not directed only.
#[test]
fn a_directed_only_query_read_from_gossip_is_refused_and_not_answered() {
    let s = setup();
    let mut q = s.query().body().clone();
    q.directed_only = true;
    let directed = s.key.sign(q).unwrap();
    let plain_len = s.query().bytes().len();
    assert_eq!(directed.bytes().len(), plain_len + 1, "one trailing byte");
    s.peer.burst(&[signed_publish(
        &s.keypair,
        &s.topic,
        &[directed.bytes().to_vec()],
    )]);
    match s.peer.reports.recv_timeout(Duration::from_secs(30)) {
        Ok(Report::Burst(Ok(()))) => {}
        Ok(Report::Answer(_)) => panic!("DE answered a directed-only query read from gossip"),
        other => panic!("the stream to DE did not end cleanly: {:?}", other.is_ok()),
    }
    let de = s.fed.node("DE");
    let audit = wait_for(
        "DE's audit of the directed-only query",
        Duration::from_secs(30),
        || {
            let a = de.cli(&["--json", "audit", "show"]);
            a.contains("directed_only").then_some(a)
        },
    );
    assert!(audit.contains("query_refused"), "{audit}");
    // Rejected in gossip, its publisher is graylisted for a moment; once
    // forgiven, the same marking's query, not directed only, is answered,
    // and it is the first answer to come (asserted inside).
    wait_for(
        "DE to stop ignoring the test peer",
        Duration::from_secs(30),
        || {
            let st = de.json(&["status"]);
            (st["net"]["peers_graylisted"].as_u64() == Some(0)).then_some(())
        },
    );
    let q = s.query();
    let rpc = signed_publish(&s.keypair, &s.topic, &[q.bytes().to_vec()]);
    s.expect_answer_after("a query not directed only", &[rpc], &q);
}

/// A member that publishes queries and never acknowledges their answers
/// holds none of the holder's places (SECURITY.md, holes closed, 15): DE,
/// allowed 4 queries at once, answers 8 queries from the test peer (as KE)
/// one after another, each answer left waiting for an `ok` that never
/// comes, with its hit and not `overloaded`, and refuses none for load.
/// Before, each answer held one of the 4 places until the request timed out
/// (10 s), and the fifth query was refused `overloaded`.
#[test]
fn a_requester_that_never_acknowledges_its_answers_holds_none_of_the_holders_places() {
    let s = setup_with("max_concurrent_queries = 4");
    s.peer.withhold();
    for i in 0..8 {
        let q = s.query();
        s.peer.publish(q.bytes().to_vec());
        let deadline = Instant::now() + Duration::from_secs(30);
        let frame = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match s.peer.reports.recv_timeout(left) {
                Ok(Report::Answer(frame)) => break frame,
                Ok(_) => {}
                Err(_) => panic!(
                    "DE never answered query {i}; its log ends:\n{}",
                    tail(&s.fed.node("DE").log(), 20)
                ),
            }
        };
        let a = decode_and_verify::<TraceAnswer>(&frame, Limits::default()).unwrap();
        assert_eq!(a.body().query, q.digest(), "query {i}'s answer");
        assert!(
            matches!(a.body().outcome, tracenet::protocol::Outcome::Hit { .. }),
            "query {i}, with {i} answers unacknowledged: {:?}",
            a.body().outcome
        );
    }
    let (_, metrics) = common::http_get(&s.fed.node("DE").dir, "/metrics", true);
    assert!(
        metrics
            .lines()
            .any(|l| l == "tracenet_queries_refused_total{reason=\"overloaded\"} 0"),
        "{metrics}"
    );
}

/// A query read on a topic its marking does not route to (a member passing
/// a query it received to other holders, in its requester's name) is not
/// answered, not passed on and spends nothing of the requester's rate
/// limit: DE, which holds Walthers, reads on the Walther topic a query for
/// a Norinco, refuses it `off_route` (audited), and answers the next query
/// on that topic that does route there.
#[test]
fn a_query_read_on_a_topic_it_does_not_route_to_is_not_answered() {
    let s = setup();
    let norinco = Marking::new("Norinco", CountryCode::parse("CN").unwrap(), "56001").unwrap();
    let elsewhere = query(&s.key, "KE", norinco);
    s.peer.burst(&[signed_publish(
        &s.keypair,
        &s.topic,
        &[elsewhere.bytes().to_vec()],
    )]);
    match s.peer.reports.recv_timeout(Duration::from_secs(30)) {
        Ok(Report::Burst(Ok(()))) => {}
        Ok(Report::Answer(_)) => panic!("DE answered a query read off its route"),
        other => panic!("the stream to DE did not end cleanly: {:?}", other.is_ok()),
    }
    let de = s.fed.node("DE");
    let audit = wait_for(
        "DE's audit of the off-route query",
        Duration::from_secs(30),
        || {
            let a = de.cli(&["--json", "audit", "show"]);
            a.contains("off_route").then_some(a)
        },
    );
    assert!(
        !audit.contains(&elsewhere.digest().to_hex()),
        "not received: {audit}"
    );
    let q = s.query();
    let rpc = signed_publish(&s.keypair, &s.topic, &[q.bytes().to_vec()]);
    s.expect_answer_after("a query on its route", &[rpc], &q);
}

/// A member replaying the federation's own signed maker table under new
/// bytes (trailing spaces), thousands of times: each copy is judged at
/// once from its version, without a long job, a lock or a signature check,
/// so that none waits past gossip's cache (`late`) and the node's long jobs
/// (audit verification, reports, imports) are not queued behind them (the
/// second hostile review measured `audit verify` at 43 s, up from 8 ms,
/// with 1,536 of 1,740 copies judged late).
#[test]
fn a_replayed_or_forged_maker_table_is_judged_at_once() {
    let mut fed = Federation::start(vec![
        NodeSpec::member(
            "DE",
            vec![record("DE-1", "Walther", "DE", "BP0746", &[], MADE)],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let anchor = w.join("anchor.key");
    fed.anchor.store(&anchor).unwrap();
    std::fs::copy(
        common::repo_file("config/makers.toml"),
        w.join("makers.toml"),
    )
    .unwrap();
    let table = w.join("m1.json");
    fed.node("KE").json(&[
        "makers",
        "sign",
        path_str(&w.join("makers.toml")),
        "--version",
        "1",
        "--anchor-key",
        path_str(&anchor),
        "--out",
        path_str(&table),
    ]);
    let installed = fed
        .node("DE")
        .json(&["makers", "install", path_str(&table)]);
    assert_eq!(installed["installed"], true, "{installed:#}");
    let table = std::fs::read(&table).unwrap();

    fed.node_mut("KE").kill();
    let key = NodeKey::load(&tracenet::identity::key_path(&fed.node("KE").dir)).unwrap();
    let keypair = key.libp2p_keypair();
    let topic = Topic::Makers.to_string();
    let peer = Handle::start(keypair.clone(), fed.node("DE"), &topic);
    wait_for(
        "DE and the test peer to mesh on the makers topic",
        Duration::from_secs(30),
        || peer.ready().then_some(()),
    );
    let de = fed.node("DE");
    let net = || de.json(&["status"])["net"].clone();
    let before = net();
    let per_rpc = (400_000 / (table.len() + 200)).max(1);
    let mut n = 0;
    for _ in 0..8 {
        let rpcs: Vec<pb::Rpc> = (0..10)
            .map(|_| {
                let copies: Vec<Vec<u8>> = (0..per_rpc)
                    .map(|_| {
                        n += 1;
                        let mut d = table.clone();
                        d.extend(std::iter::repeat_n(b' ', n));
                        d
                    })
                    .collect();
                signed_publish(&keypair, &topic, &copies)
            })
            .collect();
        peer.burst(&rpcs);
        let _ = peer.reports.recv_timeout(Duration::from_secs(60));
    }
    let judged = |v: &serde_json::Value| {
        let g = &v["gossip_verdicts"];
        ["accept", "ignore", "reject", "late", "copy"]
            .iter()
            .map(|k| g[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let read_before = before["gossip_in"].as_u64().unwrap();
    let after = wait_for(
        "every copy DE read to be judged",
        Duration::from_secs(120),
        || {
            let v = net();
            let read = v["gossip_in"].as_u64()? - read_before;
            (read > 0 && judged(&v) - judged(&before) >= read).then_some(v)
        },
    );
    let read = after["gossip_in"].as_u64().unwrap() - read_before;
    assert!(read >= 100, "DE read {read} of {n} copies");
    let late = after["gossip_verdicts"]["late"].as_u64().unwrap()
        - before["gossip_verdicts"]["late"].as_u64().unwrap();
    assert_eq!(
        late, 0,
        "copies judged after gossip dropped them: {after:#}"
    );
    // Nothing was installed, nothing held against the member (a table
    // offered again is what honest members do).
    assert_eq!(de.json(&["makers", "show"])["version"], 1);
    assert_eq!(after["peers_graylisted"], 0);

    // A forged table (version 2, signed by a key that is no anchor), sent
    // again and again: refused from its own signatures, before the long
    // jobs' turn and before any copy held is read (the second hostile
    // review's suspicion 4: each try re-read every copy, as a long job).
    let forger = w.join("forger.key");
    NodeKey::generate().unwrap().store(&forger).unwrap();
    let forged = w.join("forged.json");
    fed.node("DE").cli(&[
        "makers",
        "sign",
        path_str(&w.join("makers.toml")),
        "--version",
        "2",
        "--anchor-key",
        path_str(&forger),
        "--out",
        path_str(&forged),
    ]);
    let forged = std::fs::read(&forged).unwrap();
    let long_jobs = || {
        let (status, m) = common::http_get(&de.dir, "/metrics", true);
        assert_eq!(status, 200, "{m}");
        m.lines()
            .find_map(|l| l.strip_prefix("tracenet_long_jobs_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no tracenet_long_jobs_total in {m}"))
    };
    // On a new connection: gossipsub takes at most five streams from one.
    drop(peer);
    let peer = Handle::start(keypair.clone(), de, &topic);
    wait_for(
        "DE and the test peer to mesh again on the makers topic",
        Duration::from_secs(30),
        || peer.ready().then_some(()),
    );
    let jobs_before = long_jobs();
    let before = net();
    // One frame of gossip at most, as above.
    let copies: Vec<Vec<u8>> = (1..=per_rpc)
        .map(|n| {
            let mut d = forged.clone();
            d.extend(std::iter::repeat_n(b' ', n));
            d
        })
        .collect();
    peer.burst(&[signed_publish(&keypair, &topic, &copies)]);
    let _ = peer.reports.recv_timeout(Duration::from_secs(60));
    let read_before = before["gossip_in"].as_u64().unwrap();
    let after = wait_for(
        "every forged copy DE read to be judged",
        Duration::from_secs(120),
        || {
            let v = net();
            let read = v["gossip_in"].as_u64()? - read_before;
            (read > 0 && judged(&v) - judged(&before) >= read).then_some(v)
        },
    );
    let rejected = after["gossip_verdicts"]["reject"].as_u64().unwrap()
        - before["gossip_verdicts"]["reject"].as_u64().unwrap();
    assert!(rejected >= 1, "no forged copy rejected: {after:#}");
    assert_eq!(
        long_jobs(),
        jobs_before,
        "a forged table took a long job: {after:#}"
    );
    assert_eq!(de.json(&["makers", "show"])["version"], 1);
}

/// With `gossip_validation = "payload"` (proto-docs/NETWORK.md, "gossipsub
/// validation") a node still publishes signed envelopes, which a peer that
/// validates strictly with the crate's default ids reads; and it answers a
/// query whose envelope signature is broken, because the query's own
/// signature is what it checks.
#[test]
fn under_payload_validation_envelopes_are_signed_and_queries_checked_by_their_own_signature() {
    let s = setup_with("gossip_validation = \"payload\"");
    let id = s.fed.node("DE").json(&[
        "trace",
        "--maker",
        "walther",
        "--country",
        "DE",
        "--serial",
        "BP0746",
        "--category",
        "pistol",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let data = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match s.peer.reports.recv_timeout(left) {
            Ok(Report::Gossip(d)) => break d,
            Ok(_) => {}
            Err(_) => panic!(
                "the strict peer never read DE's trace {id}; DE's log ends:\n{}",
                tail(&s.fed.node("DE").log(), 20)
            ),
        }
    };
    let q = decode_and_verify::<TraceQuery>(&data, Limits::default()).unwrap();
    assert_eq!(q.body().requester.state, CountryCode::parse("DE").unwrap());
    assert_eq!(q.body().id.to_hex(), id, "DE's trace, as DE signed it");

    // An envelope signed by another key than its author's: a strict
    // validator drops it; the node reads the query inside and answers it.
    let q = s.query();
    let mut rpc = signed_publish(&s.keypair, &s.topic, &[q.bytes().to_vec()]);
    let other = libp2p::identity::Keypair::generate_ed25519();
    let m = &mut rpc.publish[0];
    m.signature = Some(other.sign(b"not this message").unwrap());
    s.expect_answer_after("an envelope with a broken signature", &[rpc], &q);
}

/// A gossiped query whose own signature is broken is rejected under payload
/// validation: the verdict, which a holder sends once its work on the query
/// is done (after the lookup only for a query it answers), reaches gossipsub,
/// which takes it (its sender scored down), and is counted as such.
#[test]
fn under_payload_validation_a_query_with_a_broken_signature_is_rejected_and_counted() {
    let s = setup_with("gossip_validation = \"payload\"");
    let verdict = |v: &str| -> Option<u64> {
        let (_, m) = common::http_get(&s.fed.node("DE").dir, "/metrics", true);
        let label = format!("tracenet_gossip_verdicts_total{{verdict=\"{v}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(label.as_str()))
            .and_then(|n| n.trim().parse().ok())
    };
    assert_eq!(verdict("reject"), Some(0));
    let mut frame = s.query().bytes().to_vec();
    let last = frame.len() - 1;
    frame[last] ^= 0x01;
    s.peer
        .burst(&[signed_publish(&s.keypair, &s.topic, &[frame])]);
    wait_for("DE's reject to be taken", Duration::from_secs(30), || {
        (verdict("reject") == Some(1)).then_some(())
    });
    assert_eq!(verdict("late"), Some(0));
    assert_eq!(
        verdict("accept"),
        Some(0),
        "a rejected query is not relayed"
    );
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
