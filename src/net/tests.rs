//! Two network sides in one process, on 127.0.0.1, without the node.

use std::time::Duration;

use super::*;

const WAIT: Duration = Duration::from_secs(20);

async fn start() -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    start_with(DEFAULT_PEER_CONNECTIONS).await
}

/// [`start`] with `node.peer_connections` at `keep`.
async fn start_with(keep: usize) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    start_cfg(NetConfig {
        peer_connections: keep,
        ..NetConfig::default()
    })
    .await
}

/// [`start`] with `cfg` (listening on 127.0.0.1, redialling often).
async fn start_cfg(cfg: NetConfig) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    start_keyed(libp2p::identity::Keypair::generate_ed25519(), cfg).await
}

/// [`start_cfg`] under the node key `key`.
async fn start_keyed(
    key: libp2p::identity::Keypair,
    cfg: NetConfig,
) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    let cfg = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        redial_every: Duration::from_millis(200),
        ..cfg
    };
    let (h, mut events) = spawn(key, cfg).unwrap();
    let addr = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(NetEvent::Listening(a)) = events.recv().await {
                return a;
            }
        }
    })
    .await
    .expect("listening");
    (h, events, addr)
}

/// Polls `f` until it is true, draining nothing; panics after `WAIT`.
async fn until<F: AsyncFnMut() -> bool>(what: &str, mut f: F) {
    let start = std::time::Instant::now();
    while !f().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_member_whose_gossip_is_rejected_shows_as_graylisted() {
    let (a, _a_events, a_addr) = start().await;
    let (b, mut b_events, b_addr) = start().await;
    let members: HashMap<PeerId, Vec<Multiaddr>> = [
        (a.local_peer_id(), vec![a_addr]),
        (b.local_peer_id(), vec![b_addr]),
    ]
    .into();
    a.set_members(members.clone(), Default::default(), None)
        .await
        .unwrap();
    b.set_members(members, Default::default(), None)
        .await
        .unwrap();
    let topic = Topic::Roster;
    a.set_topics([topic.clone()].into()).await.unwrap();
    b.set_topics([topic.clone()].into()).await.unwrap();
    until("a to see b subscribed", async || {
        a.subscribers(vec![topic.clone()])
            .await
            .unwrap()
            .contains(&b.local_peer_id())
    })
    .await;
    assert_eq!(b.status().await.unwrap().peers_graylisted, 0);
    // A `/metrics` scrape's status leaves the (peer, topic) pairs out.
    assert!(!a.status().await.unwrap().topic_peers.is_empty());
    let brief = a.status_without_topics().await.unwrap();
    assert!(brief.topic_peers.is_empty());
    assert_eq!(brief.connected.len(), 1);

    // Messages b finds invalid: one weighs -100 against a graylist threshold
    // of -80, and the penalty decays by half each second, so a keeps sending
    // until b has been seen to graylist it.
    let mut sent = 0u32;
    let mut judged = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    let seen = tokio::time::timeout(WAIT, async {
        loop {
            tokio::select! {
                Some(ev) = b_events.recv() => {
                    if let NetEvent::Gossip { id, .. } = ev {
                        b.validate(id.clone(), Verdict::Reject).await.unwrap();
                        judged = Some(id);
                    }
                }
                _ = ticker.tick() => {
                    if b.status().await.unwrap().peers_graylisted == 1 {
                        return sent;
                    }
                    let _ = a.publish(topic.clone(), format!("not a roster {sent}").into_bytes()).await;
                    sent += 1;
                }
            }
        }
    })
    .await
    .expect("b to count a as graylisted");
    assert!(seen >= 1);
    assert_eq!(a.status().await.unwrap().peers_graylisted, 0);
    // Each verdict gossipsub took is counted; one on a message it no longer
    // holds (here, judged already) is counted late.
    let verdicts = b.status().await.unwrap().gossip_verdicts;
    assert!(verdicts.reject >= 1, "{verdicts:?}");
    assert_eq!((verdicts.accept, verdicts.ignore, verdicts.late), (0, 0, 0));
    b.validate(judged.expect("a message b judged"), Verdict::Ignore)
        .await
        .unwrap();
    let again = b.status().await.unwrap().gossip_verdicts;
    assert_eq!(
        again,
        GossipVerdicts {
            late: 1,
            ..verdicts
        }
    );
}

/// A member that keeps a full mesh (`node.peer_connections` above the
/// federation's size, as NETWORK.md suggests for one) dials a member whose
/// bounded plan does not keep it: the link stays, for its opener to close.
/// Before, the bounded end closed every link it did not keep and had not
/// carried a request at its next tick, and the other end dialled it again:
/// a `PeerDown` every few seconds, each marking the peer unreachable on the
/// traces awaiting it. The same happened between two bounded members whose
/// plans differ (another `peer_connections`, or a roster version behind).
#[tokio::test]
async fn a_link_the_other_end_opened_is_left_to_it_to_close() {
    let (a, mut a_events, a_addr) = start_with(65_536).await;
    let (b, _b_events, b_addr) = start_with(4).await;
    let (pa, pb) = (a.local_peer_id(), b.local_peer_id());
    // Members besides a and b, without an address, drawn until b's plan
    // does not keep a link to a.
    let members = loop {
        let mut m: HashMap<PeerId, Vec<Multiaddr>> =
            (0..6).map(|_| (PeerId::random(), Vec::new())).collect();
        m.insert(pa, vec![a_addr.clone()]);
        m.insert(pb, vec![b_addr.clone()]);
        let ids: Vec<PeerId> = m.keys().copied().collect();
        let plan = links::plan(&pb, &ids, &HashSet::new(), 4);
        if plan.bounded && !plan.keeps(&pa) {
            break m;
        }
    };
    b.set_members(members.clone(), Default::default(), None)
        .await
        .unwrap();
    a.set_members(members, Default::default(), None)
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(NetEvent::PeerUp(p)) = a_events.recv().await
                && p == pb
            {
                return;
            }
        }
    })
    .await
    .expect("a to dial b");
    // b's maintenance ticks every 200 ms: fifteen of them leave the link up.
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(ev) = a_events.recv().await {
            if matches!(ev, NetEvent::PeerDown(p) if p == pb) {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_err(), "b closed the link a opened");
    assert!(b.connected().await.unwrap().contains(&pa));
}

#[test]
fn the_gossip_mesh_follows_its_degree_and_keeps_relays_dialled_by_this_node() {
    for (d, low, high, outbound) in [(3, 2, 6, 1), (6, 5, 12, 2), (12, 10, 24, 4)] {
        let cfg = super::behaviour::gossipsub_config(&NetConfig {
            gossip_mesh_degree: d,
            ..NetConfig::default()
        })
        .unwrap();
        assert_eq!(
            (
                cfg.mesh_n(),
                cfg.mesh_n_low(),
                cfg.mesh_n_high(),
                cfg.mesh_outbound_min()
            ),
            (d, low, high, outbound),
            "D = {d}"
        );
    }
    // The default is libp2p's own; outside the range is held within it.
    let cfg = super::behaviour::gossipsub_config(&NetConfig::default()).unwrap();
    let libp2p = libp2p::gossipsub::Config::default();
    assert_eq!(
        (
            cfg.mesh_n(),
            cfg.mesh_n_low(),
            cfg.mesh_n_high(),
            cfg.mesh_outbound_min()
        ),
        (
            libp2p.mesh_n(),
            libp2p.mesh_n_low(),
            libp2p.mesh_n_high(),
            libp2p.mesh_outbound_min()
        )
    );
    let cfg = super::behaviour::gossipsub_config(&NetConfig {
        gossip_mesh_degree: 1,
        ..NetConfig::default()
    })
    .unwrap();
    assert_eq!(cfg.mesh_n(), MIN_GOSSIP_MESH_DEGREE);
}

/// Receives gossip on `events` until a message with `data` arrives,
/// accepting each; panics after `WAIT`. Returns once the network side has
/// taken the verdicts (a status asked after them comes back after them).
async fn receive(h: &NetHandle, events: &mut mpsc::Receiver<NetEvent>, data: &[u8]) {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(NetEvent::Gossip { id, data: d, .. }) = events.recv().await {
                h.validate(id, Verdict::Accept).await.unwrap();
                if d == data {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{:?} to arrive", String::from_utf8_lossy(data)));
    h.status().await.unwrap();
}

/// A roster deciding `payload` gossip validation: each side rebuilds its
/// swarm on the ports it listened on, and gossip flows again between them.
#[tokio::test]
async fn a_gossip_validation_switch_keeps_the_ports_and_gossip_flows_after_it() {
    let (a, _a_events, a_addr) = start().await;
    let (b, mut b_events, b_addr) = start().await;
    let members: HashMap<PeerId, Vec<Multiaddr>> = [
        (a.local_peer_id(), vec![a_addr.clone()]),
        (b.local_peer_id(), vec![b_addr.clone()]),
    ]
    .into();
    for h in [&a, &b] {
        h.set_members(members.clone(), Default::default(), None)
            .await
            .unwrap();
        h.set_topics([Topic::Roster].into()).await.unwrap();
    }
    let subscribed = async || {
        until("a to see b subscribed", async || {
            a.subscribers(vec![Topic::Roster])
                .await
                .unwrap()
                .contains(&b.local_peer_id())
        })
        .await
    };
    subscribed().await;
    a.publish(Topic::Roster, b"before".to_vec()).await.unwrap();
    receive(&b, &mut b_events, b"before").await;
    let listen_before = b.status().await.unwrap().listen;

    // Asking for the mode in use changes nothing.
    b.set_gossip_validation(GossipValidation::Strict)
        .await
        .unwrap();
    assert_eq!(b.status().await.unwrap().gossip_validation_next, None);
    // A switch asked for, then undone before it is made, is not made.
    b.set_gossip_validation(GossipValidation::Payload)
        .await
        .unwrap();
    let s = b.status().await.unwrap();
    assert_eq!(
        (s.gossip_validation, s.gossip_validation_next),
        (GossipValidation::Strict, Some(GossipValidation::Payload))
    );
    b.set_gossip_validation(GossipValidation::Strict)
        .await
        .unwrap();
    assert_eq!(b.status().await.unwrap().gossip_validation_next, None);

    for h in [&a, &b] {
        h.set_gossip_validation(GossipValidation::Payload)
            .await
            .unwrap();
    }
    for (name, h) in [("a", &a), ("b", &b)] {
        until(&format!("{name} to switch"), async || {
            let s = h.status().await.unwrap();
            s.gossip_validation == GossipValidation::Payload && s.gossip_validation_next.is_none()
        })
        .await;
    }
    // The same ports (the roster lists them), not new ones.
    until("b to listen again", async || {
        b.status().await.unwrap().listen == listen_before
    })
    .await;
    assert!(listen_before.iter().all(|l| !l.ends_with("/tcp/0")));
    subscribed().await;
    a.publish(Topic::Roster, b"after".to_vec()).await.unwrap();
    receive(&b, &mut b_events, b"after").await;
}

#[test]
fn a_listen_address_asking_for_any_port_is_given_the_one_bound() {
    let any: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let fixed: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
    assert_eq!(
        with_port(&any, Some(40_123)),
        "/ip4/127.0.0.1/tcp/40123".parse::<Multiaddr>().unwrap()
    );
    assert_eq!(with_port(&fixed, Some(40_123)), fixed);
    assert_eq!(with_port(&any, None), any);
    assert_eq!(tcp_port(&fixed), Some(4001));
}

/// A member's Kademlia records are not stored: tracenet reads none, and a
/// member could otherwise fill every node's store (up to 1,024 records of 64
/// KiB) in a federation whose links are bounded, where nodes answer
/// Kademlia. A member puts a record to the node and asks for it back.
#[tokio::test]
async fn a_members_kademlia_records_are_not_stored() {
    use libp2p::futures::StreamExt;
    use libp2p::kad;
    use libp2p::swarm::SwarmEvent;
    let (node, _events, node_addr) = start_with(4).await;
    let node_id = node.local_peer_id();
    let client_key = libp2p::identity::Keypair::generate_ed25519();
    let client_id = client_key.public().to_peer_id();
    // More members than the links kept: bounded, so the node serves Kademlia.
    let mut members: HashMap<PeerId, Vec<Multiaddr>> =
        (0..6).map(|_| (PeerId::random(), Vec::new())).collect();
    members.insert(node_id, vec![node_addr.clone()]);
    members.insert(client_id, Vec::new());
    node.set_members(members, Default::default(), None)
        .await
        .unwrap();
    let mut client = libp2p::SwarmBuilder::with_existing_identity(client_key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| {
            let id = k.public().to_peer_id();
            let mut b = kad::Behaviour::with_config(
                id,
                kad::store::MemoryStore::new(id),
                kad::Config::new(libp2p::StreamProtocol::new("/tracenet/kad/1")),
            );
            b.set_mode(Some(kad::Mode::Client));
            b
        })
        .unwrap()
        .build();
    client.behaviour_mut().add_address(&node_id, node_addr);
    let record = kad::Record::new(kad::RecordKey::new(&b"junk"), vec![7; 1000]);
    client.behaviour_mut().put_record_to(
        record.clone(),
        std::iter::once(node_id),
        kad::Quorum::One,
    );
    let put = tokio::time::timeout(WAIT, async {
        loop {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::PutRecord(r),
                ..
            }) = client.select_next_some().await
            {
                return r;
            }
        }
    })
    .await
    .expect("the put to be answered");
    client.behaviour_mut().get_record(record.key.clone());
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetRecord(r),
                step,
                ..
            }) = client.select_next_some().await
            {
                if let Ok(kad::GetRecordOk::FoundRecord(_)) = r {
                    return true;
                }
                if step.last {
                    return false;
                }
            }
        }
    })
    .await
    .expect("the get to be answered");
    assert!(!found, "the node kept a member's record (put: {put:?})");
}

/// Two sides that list each other as members, connected.
async fn linked_pair() -> (
    (NetHandle, mpsc::Receiver<NetEvent>),
    (NetHandle, mpsc::Receiver<NetEvent>),
) {
    let (a, a_events, a_addr) = start().await;
    let (b, b_events, b_addr) = start().await;
    let members: HashMap<PeerId, Vec<Multiaddr>> = [
        (a.local_peer_id(), vec![a_addr]),
        (b.local_peer_id(), vec![b_addr]),
    ]
    .into();
    for h in [&a, &b] {
        h.set_members(members.clone(), Default::default(), None)
            .await
            .unwrap();
    }
    until("a and b to connect", async || {
        a.connected().await.unwrap().contains(&b.local_peer_id())
            && b.connected().await.unwrap().contains(&a.local_peer_id())
    })
    .await;
    ((a, a_events), (b, b_events))
}

/// Answers every request `h` receives with its bytes reversed, `batch` at
/// a time and the last of each batch first (replies come back in the order
/// of the requests whatever order the node answers them in); with `drop`,
/// leaves the requests whose first byte is 0 unanswered.
fn reverse_responder(h: NetHandle, mut events: mpsc::Receiver<NetEvent>, batch: usize, drop: bool) {
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(ev) = events.recv().await {
            let NetEvent::Request { id, data, .. } = ev else {
                continue;
            };
            held.push((id, data));
            if held.len() < batch {
                continue;
            }
            for (id, mut data) in held.drain(..).rev() {
                if drop && data.first() == Some(&0) {
                    // Dropped: the inbound entry is forgotten with it.
                    continue;
                }
                data.reverse();
                h.respond(id, data).await.unwrap();
            }
        }
    });
}

/// Answers and directed queries to a connected member go on one lasting
/// stream, many in flight at once (more than a stream takes, so some wait
/// for room), and each reply reaches the request it answers even when the
/// node answers them out of order.
#[tokio::test]
async fn requests_go_on_one_lasting_stream_and_each_reply_reaches_its_request() {
    let ((a, mut a_events), (b, b_events)) = linked_pair().await;
    reverse_responder(b.clone(), b_events, 10, false);
    let b_id = b.local_peer_id();
    let asks = (0..200u32).map(|i| {
        let a = a.clone();
        async move {
            let data = format!("answer {i} of 200").into_bytes();
            let reply = a.request(b_id, data.clone()).await.unwrap();
            let mut want = data;
            want.reverse();
            assert_eq!(reply, want, "request {i}");
        }
    });
    futures::future::join_all(asks).await;
    let sent = a.status().await.unwrap().requests;
    let got = b.status().await.unwrap().requests;
    assert_eq!((sent.out_stream, sent.out_plain), (200, 0));
    assert_eq!((got.in_stream, got.in_plain), (200, 0));
    // The connection that carried the stream closes and another opens: the
    // next request goes on a new stream, not on the dead one.
    a.disconnect(b_id).await.unwrap();
    for (what, down) in [("down", true), ("up", false)] {
        tokio::time::timeout(WAIT, async {
            loop {
                match a_events.recv().await.unwrap() {
                    NetEvent::PeerDown(p) if p == b_id && down => return,
                    NetEvent::PeerUp(p) if p == b_id && !down => return,
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("b to be {what}"));
    }
    let again = (0..10u8).map(|i| a.request(b_id, vec![i, 0xff]));
    for (i, r) in futures::future::join_all(again)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(r.unwrap(), vec![0xff, i as u8]);
    }
    let sent = a.status().await.unwrap().requests;
    assert_eq!((sent.out_stream, sent.out_plain), (210, 0));
}

/// A request the peer never answers fails at the request timeout, counted
/// from when it was sent, as by request-response.
#[tokio::test]
async fn a_request_never_answered_fails_at_the_request_timeout() {
    let (node, _events, node_addr) = start_cfg(NetConfig {
        request_timeout: Duration::from_secs(1),
        ..NetConfig::default()
    })
    .await;
    let mut peer = BarePeer::joining(&node, &node_addr).await;
    let mut incoming = std::mem::replace(&mut peer.incoming, mpsc::channel(1).1);
    // Greets, reads, never replies.
    let silent = tokio::spawn(async move {
        use futures::AsyncWriteExt;
        let mut held = Vec::new();
        while let Some(inbound) = incoming.recv().await {
            let mut s = inbound.stream;
            let _ = s.write_all(&[frames::GREETING]).await;
            let _ = s.flush().await;
            held.push(s);
        }
    });
    let started = std::time::Instant::now();
    let asks = (0..3u8).map(|i| node.request(peer.id, vec![i + 1]));
    for r in futures::future::join_all(asks).await {
        let err = r.unwrap_err().to_string();
        assert!(err.contains("request timeout"), "{err}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    silent.abort();
}

/// A new key that `node`'s roster lists beside its own.
async fn admitted(node: &NetHandle, node_addr: &Multiaddr) -> libp2p::identity::Keypair {
    let key = libp2p::identity::Keypair::generate_ed25519();
    node.set_members(
        [
            (node.local_peer_id(), vec![node_addr.clone()]),
            (key.public().to_peer_id(), Vec::new()),
        ]
        .into(),
        Default::default(),
        None,
    )
    .await
    .unwrap();
    key
}

/// A bare libp2p peer: TCP, noise and yamux, with `behaviour`.
fn bare_swarm<B: libp2p::swarm::NetworkBehaviour>(
    key: libp2p::identity::Keypair,
    behaviour: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> Swarm<B> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| behaviour(k))
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// A member that speaks only request-response (an older release) is still
/// reached: the stream it refuses hands its request to request-response,
/// and the next requests go there at once.
#[tokio::test]
async fn a_member_without_the_stream_protocol_is_reached_by_request_response() {
    use libp2p::request_response::{self, ProtocolSupport};
    let (node, _events, node_addr) = start().await;
    let old_key = admitted(&node, &node_addr).await;
    let old_id = old_key.public().to_peer_id();
    let mut old = bare_swarm(old_key, |_| {
        request_response::Behaviour::with_codec(
            codec::FrameCodec {
                max_bytes: 64 * 1024,
            },
            [(codec::PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    old.dial(node_addr).unwrap();
    let serve = tokio::spawn(async move {
        loop {
            if let libp2p::swarm::SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        mut request,
                        channel,
                        ..
                    },
                ..
            }) = old.select_next_some().await
            {
                request.reverse();
                let _ = old.behaviour_mut().send_response(channel, request);
            }
        }
    });
    until("the node to see the old member", async || {
        node.connected().await.unwrap().contains(&old_id)
    })
    .await;
    for i in 0..3u8 {
        let reply = tokio::time::timeout(WAIT, node.request(old_id, vec![i, 7, 8]))
            .await
            .expect("a reply")
            .unwrap();
        assert_eq!(reply, vec![8, 7, i]);
    }
    let sent = node.status().await.unwrap().requests;
    // Refused before its greeting: nothing was written on the stream.
    assert_eq!((sent.out_plain, sent.out_stream), (3, 0), "{sent:?}");
    serve.abort();
}

/// Where a stream a [`BarePeer`] asked for goes.
type OpenReply =
    oneshot::Sender<Result<(libp2p::Stream, libp2p::swarm::ConnectionId), frames::OpenError>>;

/// A bare peer speaking `/tracenet/frames/1` with this crate's behaviour,
/// driven in a task: opens streams on demand, and hands over those opened
/// to it.
struct BarePeer {
    id: PeerId,
    open: mpsc::Sender<(PeerId, OpenReply)>,
    incoming: mpsc::Receiver<frames::InboundStream>,
    driver: tokio::task::JoinHandle<()>,
}

impl BarePeer {
    /// A peer the node lists as a member, dialling it.
    async fn joining(node: &NetHandle, node_addr: &Multiaddr) -> BarePeer {
        let key = admitted(node, node_addr).await;
        let id = key.public().to_peer_id();
        let mut swarm = bare_swarm(key, |_| frames::Behaviour::default());
        let incoming = swarm.behaviour_mut().take_incoming().unwrap();
        swarm.dial(node_addr.clone()).unwrap();
        let (open, mut opens) = mpsc::channel::<(PeerId, OpenReply)>(8);
        let driver = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some((peer, reply)) = opens.recv() => swarm.behaviour_mut().open(peer, reply),
                    _ = swarm.select_next_some() => {}
                }
            }
        });
        until("the node to see the peer", async || {
            node.connected().await.unwrap().contains(&id)
        })
        .await;
        BarePeer {
            id,
            open,
            incoming,
            driver,
        }
    }

    /// A new stream to `peer`, its greeting read.
    async fn stream(&self, peer: PeerId) -> std::io::Result<libp2p::Stream> {
        use futures::AsyncReadExt;
        let (reply, opened) = oneshot::channel();
        self.open.send((peer, reply)).await.unwrap();
        let (mut s, _) = opened
            .await
            .map_err(std::io::Error::other)?
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let mut greeting = [0u8; 1];
        s.read_exact(&mut greeting).await?;
        assert_eq!(greeting[0], frames::GREETING);
        Ok(s)
    }
}

impl Drop for BarePeer {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// What a hostile member can do to a node's inbound streams: a third
/// stream at once is reset, a frame above the ceiling or an empty one ends
/// its stream, one above the node's limit fails alone, and none of it stops
/// the node answering on the streams that behave.
#[tokio::test]
async fn hostile_request_streams_are_bounded() {
    use futures::{AsyncReadExt, AsyncWriteExt};
    let (node, events, node_addr) = start().await;
    reverse_responder(node.clone(), events, 1, false);
    let bad = BarePeer::joining(&node, &node_addr).await;
    let node_id = node.local_peer_id();
    let max = NetConfig::default().max_message_bytes;
    async fn ask(s: &mut libp2p::Stream, data: &[u8]) -> std::io::Result<Vec<u8>> {
        codec::write_frame(s, data, usize::MAX).await?;
        codec::read_frame(s, usize::MAX).await
    }
    // Ends with the stream: reading it gives nothing more.
    async fn ended(s: &mut libp2p::Stream) -> bool {
        let mut buf = [0u8; 1];
        matches!(
            tokio::time::timeout(WAIT, s.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }
    let mut one = bad.stream(node_id).await.unwrap();
    let mut two = bad.stream(node_id).await.unwrap();
    assert_eq!(ask(&mut one, b"abc").await.unwrap(), b"cba");
    assert_eq!(ask(&mut two, b"xyz").await.unwrap(), b"zyx");
    // A third at once: reset before its greeting.
    assert!(
        bad.stream(node_id).await.is_err(),
        "a third stream was served"
    );
    // Above the node's limit, within the ceiling: skipped, the empty reply,
    // and the stream goes on.
    let big = vec![7u8; max + 1];
    assert_eq!(ask(&mut one, &big).await.unwrap(), b"");
    assert_eq!(ask(&mut one, b"def").await.unwrap(), b"fed");
    // A length above the ceiling: refused before its body is read.
    one.write_all(&((crate::protocol::MAX_FRAME_CEILING as u32) + 1).to_be_bytes())
        .await
        .unwrap();
    one.flush().await.unwrap();
    assert!(ended(&mut one).await, "an oversized frame was read");
    // An empty request.
    two.write_all(&0u32.to_be_bytes()).await.unwrap();
    two.flush().await.unwrap();
    assert!(ended(&mut two).await, "an empty request was taken");
    // Slots freed: a new stream is served.
    until("the closed streams to free their slots", async || {
        let Ok(mut s) = bad.stream(node_id).await else {
            return false;
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), ask(&mut s, b"ok")).await,
            Ok(Ok(r)) if r == b"ko"
        )
    })
    .await;
}

/// A request the peer drops unanswered (its node overloaded: the empty
/// reply frame) fails alone, with a reason, and the stream carries the
/// next ones.
#[tokio::test]
async fn a_request_dropped_unanswered_fails_alone() {
    let (node, _events, node_addr) = start().await;
    let mut peer = BarePeer::joining(&node, &node_addr).await;
    let peer_id = peer.id;
    let mut incoming = std::mem::replace(&mut peer.incoming, mpsc::channel(1).1);
    // The peer's side: greets, drops what starts with 0, answers the rest
    // reversed.
    let serve = tokio::spawn(async move {
        use futures::AsyncWriteExt;
        while let Some(inbound) = incoming.recv().await {
            let mut s = inbound.stream;
            tokio::spawn(async move {
                if s.write_all(&[frames::GREETING]).await.is_err() {
                    return;
                }
                while let Ok(mut data) = codec::read_frame(&mut s, usize::MAX).await {
                    if data[0] == 0 {
                        data.clear();
                    } else {
                        data.reverse();
                    }
                    if codec::write_frame(&mut s, &data, usize::MAX).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let err = node.request(peer_id, vec![0, 1, 2]).await.unwrap_err();
    assert!(err.to_string().contains("unanswered"), "{err}");
    assert_eq!(
        node.request(peer_id, vec![1, 2, 3]).await.unwrap(),
        vec![3, 2, 1]
    );
    assert_eq!(node.status().await.unwrap().requests.out_stream, 2);
    serve.abort();
}

/// A request the node does not answer within three quarters of the request
/// timeout gets the empty frame: it fails alone at the peer, before the
/// peer's own deadline would end the stream with every request behind it.
#[tokio::test]
async fn a_request_the_node_leaves_unanswered_gets_the_empty_frame_in_time() {
    let (node, _events, node_addr) = start_cfg(NetConfig {
        request_timeout: Duration::from_secs(1),
        ..NetConfig::default()
    })
    .await;
    let peer = BarePeer::joining(&node, &node_addr).await;
    let mut s = peer.stream(node.local_peer_id()).await.unwrap();
    let started = std::time::Instant::now();
    codec::write_frame(&mut s, b"never answered", usize::MAX)
        .await
        .unwrap();
    let reply = tokio::time::timeout(WAIT, codec::read_frame(&mut s, usize::MAX))
        .await
        .expect("a reply")
        .unwrap();
    assert!(reply.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(1_000),
        "took {took:?}"
    );
}

/// The queries gossip brought lately are kept by the last
/// [`RecentQueries::KEPT`], oldest out first, each once, and matched only
/// within gossipsub's duplicate window of their arrival: past it, gossipsub
/// would publish the query again, so a pass-on must not be held back.
#[test]
fn recent_queries_keep_the_last_thousand_ids_for_a_minute() {
    let id = |n: usize| gossipsub::MessageId::new(&n.to_be_bytes());
    let t0 = std::time::Instant::now();
    let mut r = RecentQueries::default();
    assert!(r.is_empty());
    for n in 0..RecentQueries::KEPT + 10 {
        r.note_at(id(n), t0);
        r.note_at(id(n), t0 + Duration::from_secs(50));
    }
    assert_eq!(r.order.len(), RecentQueries::KEPT);
    assert_eq!(r.ids.len(), RecentQueries::KEPT);
    assert!(!r.contains(&id(9), t0));
    assert!(r.contains(&id(10), t0));
    assert!(r.contains(&id(RecentQueries::KEPT + 9), t0));
    let late = t0 + DUPLICATE_WINDOW;
    assert!(!r.contains(&id(10), late), "kept from its first arrival");
    assert!(r.contains(&id(10), late - Duration::from_millis(1)));
    // Noted again once past the window, it starts again, once.
    r.note_at(id(10), late);
    assert!(r.contains(&id(10), late + Duration::from_secs(59)));
    assert_eq!(r.order.iter().filter(|i| **i == id(10)).count(), 1);
    assert_eq!(r.order.len(), RecentQueries::KEPT);
    assert_eq!(r.ids.len(), RecentQueries::KEPT);
}

/// Gossip events on `events` until one carrying `until`, each accepted:
/// the data of every one before it, in order; panics after `WAIT`.
async fn gossip_until(
    h: &NetHandle,
    events: &mut mpsc::Receiver<NetEvent>,
    until: &[u8],
) -> Vec<Vec<u8>> {
    tokio::time::timeout(WAIT, async {
        let mut before = Vec::new();
        loop {
            match events.recv().await {
                Some(NetEvent::Gossip { id, data, .. }) => {
                    h.validate(id, Verdict::Accept).await.unwrap();
                    if data == until {
                        return before;
                    }
                    before.push(data);
                }
                Some(_) => {}
                None => panic!("the network side stopped"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{:?} to arrive", String::from_utf8_lossy(until)))
}

/// Where served lists are in force and links bounded, a holder reads the
/// bytes of a query once on a topic, and sends them there once, under
/// either gossip validation: under `payload` the copies are one message to
/// gossipsub; under `strict` each publisher's copy is a message of its own
/// (the requester's, and each holder's pass-on), and the network side tells
/// them apart by their bytes once the node has judged one. Before, a
/// `strict` holder that passed a query on read the requester's copy too and
/// relayed it to the peers it had just sent the query to, and read (and
/// relayed) each holder's pass-on. Under `strict` a copy the node shed
/// (overloaded), or has not judged yet, keeps nothing from the next copy
/// or from the pass-on: a holder reached only by them is still reached.
#[tokio::test]
async fn a_query_is_read_and_passed_on_once_per_topic_under_either_validation() {
    for mode in [GossipValidation::Strict, GossipValidation::Payload] {
        let cfg = || NetConfig {
            peer_connections: 4,
            gossip_validation: mode,
            ..NetConfig::default()
        };
        // a stands for a requester, b and c for holders it asked directly;
        // six members more, without an address (links bounded). Keys drawn
        // until the plans link each pair of a, b and c from one end only
        // (one connection a pair, so that gossip comes in order).
        let (keys, fakes) = loop {
            let keys: Vec<libp2p::identity::Keypair> = (0..3)
                .map(|_| libp2p::identity::Keypair::generate_ed25519())
                .collect();
            let fakes: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
            let ids: Vec<PeerId> = keys
                .iter()
                .map(|k| k.public().to_peer_id())
                .chain(fakes.iter().copied())
                .collect();
            let plans: Vec<links::Links> = (0..3)
                .map(|i| links::plan(&ids[i], &ids, &HashSet::new(), 4))
                .collect();
            let once = |x: usize, y: usize| {
                plans[x].dial.contains(&ids[y]) != plans[y].dial.contains(&ids[x])
            };
            if plans[0].bounded && once(0, 1) && once(0, 2) && once(1, 2) {
                break (keys, fakes);
            }
        };
        let mut keys = keys.into_iter();
        let mut next = || keys.next().unwrap();
        let (a, _a_events, a_addr) = start_keyed(next(), cfg()).await;
        let (b, mut b_events, b_addr) = start_keyed(next(), cfg()).await;
        let (c, mut c_events, c_addr) = start_keyed(next(), cfg()).await;
        let (pa, pb, pc) = (a.local_peer_id(), b.local_peer_id(), c.local_peer_id());
        let mut members: HashMap<PeerId, Vec<Multiaddr>> =
            fakes.into_iter().map(|p| (p, Vec::new())).collect();
        members.insert(pa, vec![a_addr.clone()]);
        members.insert(pb, vec![b_addr.clone()]);
        members.insert(pc, vec![c_addr.clone()]);
        let topic = Topic::Import("NG".parse().unwrap());
        for h in [&a, &b, &c] {
            h.set_members(members.clone(), Default::default(), None)
                .await
                .unwrap();
            h.set_served_lists(true).await.unwrap();
            h.set_topics([topic.clone()].into()).await.unwrap();
        }
        for (h, others, what) in [
            (&a, vec![pb, pc], "a to see b and c subscribed"),
            (&b, vec![pa, pc], "b to see a and c"),
            (&c, vec![pa, pb], "c to see a and b"),
        ] {
            until(what, async || {
                let on = h.subscribers(vec![topic.clone()]).await.unwrap();
                others.iter().all(|p| on.contains(p))
            })
            .await;
        }
        assert!(b.status().await.unwrap().links_bounded, "{mode:?}");
        let publish = async |h: &NetHandle, data: &[u8]| {
            h.publish(topic.clone(), data.to_vec()).await.unwrap();
        };
        let pass_on = async |h: &NetHandle, data: &[u8]| {
            h.pass_on_each(vec![topic.clone()], data.to_vec())
                .await
                .unwrap()
        };

        // Gossip first: b does not pass the query on; that copy is relayed.
        publish(&a, b"q1").await;
        receive(&b, &mut b_events, b"q1").await;
        let out = pass_on(&b, b"q1").await;
        assert!(
            matches!(out.as_slice(), [Err(NetError::SeenRecently(_))]),
            "{mode:?}: {out:?}"
        );

        // The same bytes again from the requester, once b has judged the
        // first copy: not read again.
        publish(&a, b"q2").await;
        receive(&b, &mut b_events, b"q2").await;
        publish(&a, b"q2").await;
        publish(&a, b"mark2").await;
        let before = gossip_until(&b, &mut b_events, b"mark2").await;
        assert!(before.is_empty(), "{mode:?}: {before:?}");

        // Passed on first: the requester's copy is not read again.
        let out = pass_on(&b, b"q3").await;
        assert!(matches!(out.as_slice(), [Ok(())]), "{mode:?}: {out:?}");
        publish(&a, b"q3").await;
        publish(&a, b"mark3").await;
        let before = gossip_until(&b, &mut b_events, b"mark3").await;
        assert!(before.is_empty(), "{mode:?}: {before:?}");
        // Under strict validation the network side counted the copies it
        // ignored (a's second q2, a's q3); under payload gossipsub did.
        let copies = b.status().await.unwrap().gossip_verdicts.copy;
        match mode {
            GossipValidation::Strict => assert_eq!(copies, 2),
            GossipValidation::Payload => assert_eq!(copies, 0),
        }

        // Another holder's pass-on, judged, then the requester's copy: not
        // read again.
        let out = pass_on(&c, b"q4").await;
        assert!(matches!(out.as_slice(), [Ok(())]), "{mode:?}: {out:?}");
        receive(&b, &mut b_events, b"q4").await;
        publish(&a, b"q4").await;
        publish(&a, b"mark4").await;
        let before = gossip_until(&b, &mut b_events, b"mark4").await;
        assert!(before.is_empty(), "{mode:?}: {before:?}");

        // A copy b shed (an overloaded node) leaves the pass-on to go under
        // strict validation; under payload gossipsub still holds the
        // message, and the pass-on is held back as before.
        publish(&a, b"q5").await;
        receive(&c, &mut c_events, b"q5").await;
        let shed = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(NetEvent::Gossip { id, data, .. }) = b_events.recv().await
                    && data == b"q5"
                {
                    return id;
                }
            }
        })
        .await
        .expect("q5 to arrive");
        b.validate(shed, Verdict::Shed).await.unwrap();
        let out = pass_on(&b, b"q5").await;
        match mode {
            GossipValidation::Strict => {
                assert!(matches!(out.as_slice(), [Ok(())]), "{mode:?}: {out:?}")
            }
            GossipValidation::Payload => assert!(
                matches!(out.as_slice(), [Err(NetError::SeenRecently(_))]),
                "{mode:?}: {out:?}"
            ),
        }
        // c had judged q5 from a: the pass-on is not read again there.
        publish(&b, b"mark5").await;
        let before = gossip_until(&c, &mut c_events, b"mark5").await;
        assert!(before.iter().all(|d| d != b"q5"), "{mode:?}: {before:?}");

        // A copy b has not judged (its verdict still to come, or never
        // sent): a second copy is read under strict validation, since the
        // first may yet be shed; under payload gossipsub drops it.
        publish(&a, b"q7").await;
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(NetEvent::Gossip { data, .. }) = b_events.recv().await
                    && data == b"q7"
                {
                    return;
                }
            }
        })
        .await
        .expect("q7 to arrive");
        publish(&a, b"q7").await;
        publish(&a, b"mark7").await;
        let before = gossip_until(&b, &mut b_events, b"mark7").await;
        let expected: &[&[u8]] = match mode {
            GossipValidation::Strict => &[b"q7"],
            GossipValidation::Payload => &[],
        };
        assert_eq!(before, expected, "{mode:?}");

        // Without served lists nothing is kept: under strict validation a
        // second message of the same bytes is read as gossip delivers it.
        b.set_served_lists(false).await.unwrap();
        b.status().await.unwrap();
        publish(&a, b"q6").await;
        publish(&a, b"q6").await;
        publish(&a, b"mark6").await;
        let before = gossip_until(&b, &mut b_events, b"mark6").await;
        let expected = match mode {
            GossipValidation::Strict => 2,
            GossipValidation::Payload => 1,
        };
        assert_eq!(
            before.iter().filter(|d| d.as_slice() == b"q6").count(),
            expected,
            "{mode:?}: {before:?}"
        );
    }
}
