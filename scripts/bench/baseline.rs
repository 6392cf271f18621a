//! Plain rust-libp2p, no tracenet logic: the yardstick the federation
//! benchmarks print beside tracenet's figures (issue 16). The same transport
//! as tracenet (TCP, Noise, Yamux, substreams negotiated lazily as tracenet's
//! are), gossipsub with strict signing and the same heartbeat, and request-response with tracenet's own framing codec; the
//! requester signs a query of tracenet's size with Ed25519 and publishes it,
//! each holder verifies it, signs an answer of tracenet's size and sends it
//! back by request-response, and the requester verifies each answer. No
//! storage, registry, roster or audit log.
//!
//! Two layouts ([`Layout`]): every node in this process, on one tokio
//! runtime (the cheapest plain libp2p can be), or each holder in a process of
//! its own with its own runtime, as tracenet's federation benchmark runs one
//! `tracenet` process per State (what a process costs on the shared cores:
//! runtimes, wake-ups, context switches). A bench whose `main` calls
//! [`serve_if_holder`] first can run the second.

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
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(3600))
                // As tracenet's nodes open their substreams (src/net/behaviour.rs).
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
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
    /// CPU of this process alone (the requester and the driver) per answer:
    /// the requester's share when the holders run apart
    /// ([`Layout::ProcessEach`]); everything with [`Layout::OneProcess`].
    pub own_cpu_ms_per_answer: f64,
    /// Packets received on the loopback interface per timed trace (the
    /// machine's other loopback traffic too).
    pub loopback_packets_per_trace: f64,
    /// Kibibytes received on the loopback interface per timed trace.
    pub loopback_kib_per_trace: f64,
    /// Context switches on the whole machine per timed trace.
    pub switches_per_trace: f64,
}

async fn holder(
    key: Keypair,
    requester: (PeerId, Multiaddr, libp2p::identity::PublicKey),
    answer_bytes: usize,
    mut ready: impl FnMut(),
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
                ready();
            }
            _ => {}
        }
    }
}

/// Where the plain holders run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every node on one tokio runtime in this process.
    OneProcess,
    /// Each holder a process of its own (this bench's executable again,
    /// through [`serve_if_holder`]), the requester in this one.
    ProcessEach,
}

/// The variable that makes this bench's executable a plain holder:
/// `<requester peer id> <requester address> <requester public key, protobuf hex> <answer bytes>`.
const HOLDER_ENV: &str = "TRACENET_BENCH_PLAIN_HOLDER";

/// In a process started by [`run_in`] with [`Layout::ProcessEach`]: runs the
/// plain holder it asks for and exits when its standard input closes (the
/// bench ended or died). Elsewhere returns at once. Call it first in `main`.
pub fn serve_if_holder() {
    let Ok(spec) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let f: Vec<&str> = spec.split_whitespace().collect();
    let [peer, addr, key, answer_bytes] = f[..] else {
        panic!("{HOLDER_ENV}: expected 4 fields, got {spec:?}");
    };
    let requester = (
        peer.parse::<PeerId>().unwrap(),
        addr.parse::<Multiaddr>().unwrap(),
        libp2p::identity::PublicKey::try_decode_protobuf(&hex::decode(key).unwrap()).unwrap(),
    );
    let answer_bytes: usize = answer_bytes.parse().unwrap();
    // Ends with the bench: its end of our standard input closes.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let key = Keypair::generate_ed25519();
    println!("key {}", hex::encode(key.public().encode_protobuf()));
    // As a tracenet node's runtime (cli::node): multi-threaded, one worker a core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(holder(key, requester, answer_bytes, || println!("ready")));
    std::process::exit(0);
}

/// How long the baseline waits for one query's answers: far past any round
/// trip measured (tens of milliseconds), short of a run that seems to hang.
const ANSWERED_WITHIN: Duration = Duration::from_secs(60);

/// The holder processes of a run: killed and waited for when it ends, by
/// return or by panic.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `f`, or a panic as soon as a holder process ends (its standard output
/// closes) before it: the run would otherwise wait for it for ever.
async fn unless_a_holder_ends<T>(
    gone: &mut mpsc::UnboundedReceiver<()>,
    f: impl std::future::Future<Output = T>,
) -> T {
    tokio::select! {
        biased;
        v = f => v,
        Some(()) = gone.recv() => panic!("a plain holder exited early"),
    }
}

/// utime + stime of process `pid`, in seconds (clock ticks of 10 ms).
pub fn cpu_secs_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// [`run_in`] with every node in this process.
pub fn run(holders: usize, traces: usize, query_bytes: usize, answer_bytes: usize) -> Figures {
    run_in(
        Layout::OneProcess,
        holders,
        traces,
        query_bytes,
        answer_bytes,
    )
}

/// Runs `holders` holders and one requester on 127.0.0.1, laid out as
/// `layout` says, and times `traces` queries one after another (after 21
/// untimed ones: [`PlainFederation::start_with`]'s 20 and
/// [`PlainFederation::timed`]'s first). CPU counts this process and the
/// holders' own.
pub fn run_in(
    layout: Layout,
    holders: usize,
    traces: usize,
    query_bytes: usize,
    answer_bytes: usize,
) -> Figures {
    run_with(
        layout,
        || std::process::Command::new(std::env::current_exe().unwrap()),
        holders,
        traces,
        query_bytes,
        answer_bytes,
    )
}

/// [`run_in`], the holder processes of [`Layout::ProcessEach`] started by
/// `holder_command` (this bench's executable again in [`run_in`]).
pub fn run_with(
    layout: Layout,
    holder_command: impl Fn() -> std::process::Command,
    holders: usize,
    traces: usize,
    query_bytes: usize,
    answer_bytes: usize,
) -> Figures {
    let mut p =
        PlainFederation::start_with(layout, holder_command, holders, query_bytes, answer_bytes);
    p.timed(traces);
    p.figures()
}

/// A plain federation kept running, so that its traces can be timed in
/// blocks between another benchmark's own ([`PlainFederation::timed`]):
/// both are then measured in the same minutes of a shared machine, not one
/// after the other. Its holder processes end when it is dropped.
pub struct PlainFederation {
    /// Stopped on drop, before the runtime and the holder processes.
    driver: tokio::task::JoinHandle<()>,
    rt: tokio::runtime::Runtime,
    children: Children,
    gone_rx: mpsc::UnboundedReceiver<()>,
    /// Keeps `gone_rx` open when no holder process holds a sender.
    _gone_tx: mpsc::UnboundedSender<()>,
    publish_tx: mpsc::Sender<(Vec<u8>, oneshot::Sender<()>)>,
    skey: Keypair,
    holders: usize,
    query_bytes: usize,
    /// Queries sent so far, warm-up included (each query's salt).
    sent: u64,
    /// The timed round trips, ms, in the order they ran.
    times: Vec<f64>,
    /// Summed over the timed blocks: the whole plain federation's CPU and
    /// this process's own, seconds; loopback packets and bytes; the
    /// machine's context switches.
    cpu: f64,
    own: f64,
    lo: (u64, u64),
    cs: u64,
}

impl Drop for PlainFederation {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl PlainFederation {
    /// [`PlainFederation::start_with`], the holder processes of
    /// [`Layout::ProcessEach`] this bench's executable again.
    pub fn start(layout: Layout, holders: usize, query_bytes: usize, answer_bytes: usize) -> Self {
        Self::start_with(
            layout,
            || std::process::Command::new(std::env::current_exe().unwrap()),
            holders,
            query_bytes,
            answer_bytes,
        )
    }

    /// Starts `holders` holders and one requester on 127.0.0.1, laid out as
    /// `layout` says, and sends 20 untimed queries (the meshes warm up).
    /// Panics if a holder process ends early.
    pub fn start_with(
        layout: Layout,
        holder_command: impl Fn() -> std::process::Command,
        holders: usize,
        query_bytes: usize,
        answer_bytes: usize,
    ) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut children = Children(Vec::new());
        // A holder process's reader thread says when its output closes. The
        // sender kept here keeps `gone` open with no holder processes.
        let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<()>();
        let (driver, publish_tx, skey) = rt.block_on(async {
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
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let mut holder_keys: std::collections::HashMap<PeerId, libp2p::identity::PublicKey> =
            Default::default();
        match layout {
            Layout::OneProcess => {
                for _ in 0..holders {
                    let k = Keypair::generate_ed25519();
                    holder_keys.insert(k.public().to_peer_id(), k.public());
                    let who = (*r.local_peer_id(), addr.clone(), rpub.clone());
                    let ready = ready_tx.clone();
                    tokio::spawn(holder(k, who, answer_bytes, move || {
                        let _ = ready.send(());
                    }));
                }
            }
            Layout::ProcessEach => {
                let spec = format!(
                    "{} {} {} {answer_bytes}",
                    r.local_peer_id(),
                    addr,
                    hex::encode(rpub.encode_protobuf())
                );
                let (key_tx, mut key_rx) = mpsc::unbounded_channel();
                for _ in 0..holders {
                    let mut c = holder_command()
                        .env(HOLDER_ENV, &spec)
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .expect("starting a plain holder process");
                    let out = std::io::BufReader::new(c.stdout.take().unwrap());
                    let (key_tx, ready, gone) =
                        (key_tx.clone(), ready_tx.clone(), gone_tx.clone());
                    std::thread::spawn(move || {
                        use std::io::BufRead;
                        for line in out.lines().map_while(Result::ok) {
                            if let Some(k) = line.strip_prefix("key ") {
                                let k = libp2p::identity::PublicKey::try_decode_protobuf(
                                    &hex::decode(k).unwrap(),
                                )
                                .unwrap();
                                let _ = key_tx.send(k);
                            } else if line == "ready" {
                                let _ = ready.send(());
                            }
                        }
                        let _ = gone.send(());
                    });
                    children.0.push(c);
                }
                // Each holder names its key before it dials.
                for _ in 0..holders {
                    let k = unless_a_holder_ends(&mut gone_rx, key_rx.recv())
                        .await
                        .expect("a plain holder exited early");
                    holder_keys.insert(k.to_peer_id(), k);
                }
            }
        }
        // The requester's swarm runs in its own task; the driver asks it to
        // publish and hears when every answer is in.
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
            unless_a_holder_ends(&mut gone_rx, ready_rx.recv())
                .await
                .expect("a plain holder exited early");
        }
        (driver, publish_tx, rkey)
    });
        let mut p = PlainFederation {
            driver,
            rt,
            children,
            gone_rx,
            _gone_tx: gone_tx,
            publish_tx,
            skey,
            holders,
            query_bytes,
            sent: 0,
            times: Vec::new(),
            cpu: 0.0,
            own: 0.0,
            lo: (0, 0),
            cs: 0,
        };
        // The first 20 warm the meshes up.
        for _ in 0..20 {
            p.one();
        }
        p
    }

    /// The plain federation's CPU now (this process and its holder
    /// processes), seconds.
    fn cpu_now(&self) -> f64 {
        cpu_secs_of(std::process::id())
            + self
                .children
                .0
                .iter()
                .map(|c| cpu_secs_of(c.id()))
                .sum::<f64>()
    }

    /// Sends one query and waits for every holder's answer; its round trip,
    /// ms. Panics if a holder process ends, or if an answer does not come
    /// within [`ANSWERED_WITHIN`].
    fn one(&mut self) -> f64 {
        self.sent += 1;
        let (n, holders) = (self.sent, self.holders);
        let q = signed(&self.skey, self.query_bytes, n, 0);
        let Self {
            rt,
            gone_rx,
            publish_tx,
            ..
        } = self;
        rt.block_on(async {
            let (tx, rx) = oneshot::channel();
            let start = Instant::now();
            publish_tx.send((q, tx)).await.unwrap();
            // Plain libp2p does not ask again: a copy or an answer lost (a
            // queue's timeout on a machine too busy) would be waited for
            // for ever.
            tokio::time::timeout(ANSWERED_WITHIN, unless_a_holder_ends(gone_rx, rx))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "plain libp2p baseline: query {n} (the first 20 warm up) not answered by all {holders} holders within {} s (a gossip copy or an answer was lost); run the benchmark again on a quieter machine",
                        ANSWERED_WITHIN.as_secs()
                    )
                })
                .unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
    }

    /// Times `traces` queries, one after another, and adds them and what
    /// they cost to the figures ([`PlainFederation::figures`]). One untimed
    /// query goes first: between blocks the federation sits idle while
    /// another benchmark's block runs, and the first query after it wakes
    /// every process (a first run of interleaved blocks without it put
    /// plain libp2p's p99 at 5.6 ms, against 2.6 to 4.7 ms run alone).
    pub fn timed(&mut self, traces: usize) {
        self.one();
        let (cpu0, own0) = (self.cpu_now(), cpu_secs_of(std::process::id()));
        let (lo0, cs0) = (loopback(), context_switches());
        for _ in 0..traces {
            let t = self.one();
            self.times.push(t);
        }
        let (lo1, cs1) = (loopback(), context_switches());
        self.cpu += self.cpu_now() - cpu0;
        self.own += cpu_secs_of(std::process::id()) - own0;
        self.lo.0 += lo1.0.saturating_sub(lo0.0);
        self.lo.1 += lo1.1.saturating_sub(lo0.1);
        self.cs += cs1.saturating_sub(cs0);
    }

    /// The figures of every trace timed so far ([`PlainFederation::timed`]).
    /// Panics if none was.
    pub fn figures(&self) -> Figures {
        let mut times = self.times.clone();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
        let n = times.len().max(1) as f64;
        Figures {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            traces: times.len(),
            cpu_ms_per_trace: 1e3 * self.cpu / n,
            own_cpu_ms_per_answer: 1e3 * self.own / (n * self.holders.max(1) as f64),
            loopback_packets_per_trace: self.lo.0 as f64 / n,
            loopback_kib_per_trace: self.lo.1 as f64 / 1024.0 / n,
            switches_per_trace: self.cs as f64 / n,
        }
    }
}

/// Packets and bytes received on the loopback interface since boot
/// (`/proc/net/dev`); zeros where it cannot be read.
pub fn loopback() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix("lo:")?;
            let mut f = rest.split_whitespace().map(|x| x.parse::<u64>().ok());
            let bytes = f.next()??;
            let packets = f.next()??;
            Some((packets, bytes))
        })
        .unwrap_or((0, 0))
}

/// Context switches on the whole machine since boot (`ctxt` in
/// `/proc/stat`); 0 where it cannot be read.
pub fn context_switches() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("ctxt ")?.trim().parse().ok())
        .unwrap_or(0)
}
