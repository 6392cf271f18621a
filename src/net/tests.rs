//! Two network sides in one process, on 127.0.0.1, without the node.

use std::time::Duration;

use super::*;

const WAIT: Duration = Duration::from_secs(20);

async fn start() -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    start_with(DEFAULT_PEER_CONNECTIONS).await
}

/// [`start`] with `node.peer_connections` at `keep`.
async fn start_with(keep: usize) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    let cfg = NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        redial_every: Duration::from_millis(200),
        peer_connections: keep,
        ..NetConfig::default()
    };
    let (h, mut events) = spawn(libp2p::identity::Keypair::generate_ed25519(), cfg).unwrap();
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
/// accepting each; panics after `WAIT`.
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
