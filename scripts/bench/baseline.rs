//! Plain rust-libp2p, no tracenet logic: the yardstick the federation
//! benchmarks print beside tracenet's figures (issue 16). The same transport
//! as tracenet (TCP, Noise, Yamux), gossipsub with strict signing and the same
//! heartbeat, and request-response with tracenet's own framing codec; the
//! requester signs a query of tracenet's size with Ed25519 and publishes it,
//! each holder verifies it, signs an answer of tracenet's size and sends it
//! back by request-response, and the requester verifies each answer. No
//! storage, registry, roster or audit log. All nodes run in this process.

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

#[path = "../../src/net/codec.rs"]
#[allow(dead_code)]
mod codec;

#[derive(NetworkBehaviour)]
struct Plain {
    gossipsub: gossipsub::Behaviour,
    rr: request_response::Behaviour<codec::FrameCodec>,
}

fn swarm(key: Keypair) -> Swarm<Plain> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let cfg = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(500))
                .validation_mode(ValidationMode::Strict)
                .build()
                .unwrap();
            Plain {
                gossipsub: gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), cfg)
                    .unwrap(),
                rr: request_response::Behaviour::with_codec(
                    codec::FrameCodec { max_bytes: 1 << 20 },
                    [(codec::PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(30)),
                ),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build()
}

/// A message of `len` bytes signed with `key`: body (starting with `salt`,
/// then `echo`), then 64 signature bytes.
fn signed(key: &Keypair, len: usize, salt: u64, echo: u64) -> Vec<u8> {
    let mut body = vec![0u8; len.saturating_sub(64).max(16)];
    body[..8].copy_from_slice(&salt.to_be_bytes());
    body[8..16].copy_from_slice(&echo.to_be_bytes());
    let sig = key.sign(&body).unwrap();
    body.extend_from_slice(&sig);
    body
}

fn verifies(key: &libp2p::identity::PublicKey, frame: &[u8]) -> bool {
    frame.len() > 64 && key.verify(&frame[..frame.len() - 64], &frame[frame.len() - 64..])
}

/// Round trips in milliseconds, p50 and p99, of `traces` queries to
/// `holders` holders, each answering every query.
pub struct Figures {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub traces: usize,
    /// CPU of the whole plain federation (this process) per timed trace.
    pub cpu_ms_per_trace: f64,
}

/// utime + stime of this process, in seconds (clock ticks of 10 ms).
fn own_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

async fn holder(
    key: Keypair,
    requester: (PeerId, Multiaddr, libp2p::identity::PublicKey),
    answer_bytes: usize,
    ready: mpsc::Sender<()>,
) {
    let mut s = swarm(key.clone());
    s.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let topic = IdentTopic::new("tracenet-baseline/prefix");
    s.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    s.dial(requester.1.clone()).unwrap();
    let mut told = false;
    let mut n = 0u64;
    loop {
        match s.select_next_some().await {
            SwarmEvent::Behaviour(PlainEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) if verifies(&requester.2, &message.data) => {
                n += 1;
                // The answer names the query it answers, under its signature.
                let asked = u64::from_be_bytes(message.data[..8].try_into().unwrap());
                let a = signed(&key, answer_bytes, n, asked);
                s.behaviour_mut().rr.send_request(&requester.0, a);
            }
            SwarmEvent::Behaviour(PlainEvent::Gossipsub(gossipsub::Event::Subscribed {
                ..
            })) if !told => {
                told = true;
                let _ = ready.send(()).await;
            }
            _ => {}
        }
    }
}

/// Runs `holders` holders and one requester on 127.0.0.1 and times `traces`
/// queries one after another (after 20 untimed ones).
pub fn run(holders: usize, traces: usize, query_bytes: usize, answer_bytes: usize) -> Figures {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let rkey = Keypair::generate_ed25519();
        let rpub = rkey.public();
        let mut r = swarm(rkey.clone());
        r.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = r.select_next_some().await {
                break address;
            }
        };
        let topic = IdentTopic::new("tracenet-baseline/prefix");
        r.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
        let keys: Vec<Keypair> = (0..holders).map(|_| Keypair::generate_ed25519()).collect();
        let holder_keys: std::collections::HashMap<PeerId, libp2p::identity::PublicKey> = keys
            .iter()
            .map(|k| (k.public().to_peer_id(), k.public()))
            .collect();
        let (ready_tx, mut ready_rx) = mpsc::channel(holders.max(1));
        for k in keys {
            let who = (*r.local_peer_id(), addr.clone(), rpub.clone());
            tokio::spawn(holder(k, who, answer_bytes, ready_tx.clone()));
        }
        // The requester's swarm runs in its own task; the driver asks it to
        // publish and hears when every answer is in.
        let skey = rkey.clone();
        let (publish_tx, mut publish_rx) = mpsc::channel::<(Vec<u8>, oneshot::Sender<()>)>(1);
        let driver = tokio::spawn(async move {
            let mut waiting: Option<(u64, usize, oneshot::Sender<()>)> = None;
            let mut subscribed = std::collections::HashSet::new();
            let mut pending: Option<(Vec<u8>, oneshot::Sender<()>)> = None;
            // A publish refused (no mesh yet) is tried again on this tick.
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            loop {
                tokio::select! {
                    _ = tick.tick(), if pending.is_some() => {}
                    ev = r.select_next_some() => match ev {
                        SwarmEvent::Behaviour(PlainEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, .. })) => {
                            subscribed.insert(peer_id);
                        }
                        SwarmEvent::Behaviour(PlainEvent::Rr(request_response::Event::Message {
                            peer,
                            message: request_response::Message::Request { request, channel, .. },
                            ..
                        })) => {
                            let ok = holder_keys.get(&peer).is_some_and(|k| verifies(k, &request));
                            let _ = r.behaviour_mut().rr.send_response(channel, vec![ok as u8]);
                            if let Some((salt, left, _)) = &mut waiting
                                && ok
                                && request.len() >= 16
                                && request[8..16] == salt.to_be_bytes()
                            {
                                *left -= 1;
                                if *left == 0 {
                                    let (_, _, done) = waiting.take().unwrap();
                                    let _ = done.send(());
                                }
                            }
                        }
                        _ => {}
                    },
                    job = publish_rx.recv(), if pending.is_none() => match job {
                        Some(j) => pending = Some(j),
                        None => return,
                    },
                }
                // Publishes once every holder is in the requester's mesh view.
                if subscribed.len() >= holders
                    && let Some((q, done)) = pending.take()
                {
                    let salt = u64::from_be_bytes(q[..8].try_into().unwrap());
                    waiting = Some((salt, holders, done));
                    if r.behaviour_mut().gossipsub.publish(topic.clone(), q.clone()).is_err() {
                        // Not in a mesh yet: try again on the next event.
                        let (_, _, done) = waiting.take().unwrap();
                        pending = Some((q, done));
                    }
                }
            }
        });
        for _ in 0..holders {
            ready_rx.recv().await;
        }
        let mut times = Vec::new();
        let mut cpu0 = 0.0;
        for i in 0..(traces + 20) as u64 {
            if i == 20 {
                cpu0 = own_cpu_secs();
            }
            let q = signed(&skey, query_bytes, i + 1, 0);
            let (tx, rx) = oneshot::channel();
            let start = Instant::now();
            publish_tx.send((q, tx)).await.unwrap();
            rx.await.unwrap();
            // The first 20 warm the meshes up.
            if i >= 20 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        let cpu = own_cpu_secs() - cpu0;
        driver.abort();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
        Figures {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            traces: times.len(),
            cpu_ms_per_trace: 1e3 * cpu / times.len().max(1) as f64,
        }
    })
}
