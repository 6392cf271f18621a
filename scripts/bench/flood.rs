//! Flood benchmark (issue 11): a hostile member floods another node with
//! invalid request-response frames and invalid gossip while an honest member
//! traces weapons the target holds. Prints what the flooder sent and what came
//! of it, the honest traces answered and their round trip (beside a baseline
//! without the flood), the target's audit growth, its resident memory (idle
//! as the baseline, and the peak during the flood), and its /metrics lines on
//! refusals, cooling-down and graylisted peers.
//!
//! DE (the holder), KE (the honest requester) and ZA (the flooder) start as
//! real `tracenet` processes on 127.0.0.1; ZA's process is then stopped and ZA
//! is played in process with its roster key, so that it can send exactly the
//! frames a hostile member would.
//!
//! Run with `scripts/bench-flood.sh` (release). Size from TRACENET_FLOOD_FRAMES
//! (default 10,000), TRACENET_FLOOD_GOSSIP (30,000), TRACENET_FLOOD_SECS (30),
//! TRACENET_FLOOD_TRACES (honest traces during the flood, 20).

#[path = "../../integration/common/mod.rs"]
mod common;
#[path = "../../integration/fed/mod.rs"]
mod fed;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fed::{FedNode, Federation, NodeSpec, record};
use serde_json::Value;
use tracenet::api::ApiClient;
use tracenet::api::routes::TraceRequest;
use tracenet::identity::{self, NodeKey};
use tracenet::model::CountryCode;
use tracenet::net::{self, NetConfig, NetHandle, Topic};
use tracenet::protocol::{Digest, Limits, Outcome, Party, Priority, Reply, TraceAnswer};

const EVENTS: &str = r#"{"kind":"manufactured","date":"2010-03-01","holder":"manufacturer"}"#;
/// Records DE holds; the honest traces go round them.
const HELD: usize = 20;
/// Honest traces before the flood: the round-trip baseline.
const BASELINE_TRACES: usize = 10;
/// Request-response frames in flight at once from the flooder (libp2p's
/// request-response allows 100 streams per connection).
const FRAME_WORKERS: usize = 16;
/// The node writes its refusal tally every 10 s: the audit has settled once
/// its head has not moved for longer than that.
const AUDIT_QUIET: Duration = Duration::from_secs(12);

/// Reads a size, then removes it from the environment: the nodes this bench
/// starts would otherwise read every `TRACENET_*` variable as configuration
/// and refuse to start on an unknown key.
fn env_usize(name: &str, default: usize) -> usize {
    let v = std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    // SAFETY: called at the top of `main`, before any other thread exists.
    unsafe { std::env::remove_var(name) };
    v
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn rss_mib(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kb| kb / 1024.0)
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    // Fields after the command name: state is the first, utime the 12th and
    // stime the 13th; in clock ticks of 1/100 s on Linux.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn p50(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() - 1) / 2]
}

/// A small xorshift: junk needs no cryptographic randomness, and the bench
/// should not depend on a crate the library does not use.
struct Junk(u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A query for a Walther pistol, signed by `key` for `state`.
fn signed_query(key: &NodeKey, state: &str, serial: &str) -> Vec<u8> {
    fed::signed_walther_query(key, state, serial, Priority::Routine)
}

/// The flooder's invalid frames, in turn: garbage behind a valid header,
/// bytes that are no tracenet frame at all, its own query with a broken
/// signature, a query forged under a key the roster does not hold, and an
/// answer to a query the target never sent.
struct Frames {
    za: NodeKey,
    forger: NodeKey,
    junk: Junk,
}

impl Frames {
    fn frame(&mut self, i: usize) -> Vec<u8> {
        match i % 5 {
            0 => self.garbage(b"TRNT\x01\x02"),
            1 => self.junk.bytes(200),
            2 => self.broken_signature(i),
            3 => self.forged(i),
            _ => self.unasked_answer(),
        }
    }

    /// Gossip: the same but for answers, which are never gossiped.
    fn gossip(&mut self, i: usize) -> Vec<u8> {
        match i % 4 {
            0 => self.garbage(b"TRNT\x01\x01"),
            1 => self.junk.bytes(200),
            2 => self.broken_signature(i),
            _ => self.forged(i),
        }
    }

    fn garbage(&mut self, header: &[u8]) -> Vec<u8> {
        [header, &self.junk.bytes(120)].concat()
    }

    fn broken_signature(&mut self, i: usize) -> Vec<u8> {
        let mut q = signed_query(&self.za, "ZA", &format!("ZZ{i:06}"));
        let last = q.len() - 1;
        q[last] ^= 0x5a;
        q
    }

    fn forged(&mut self, i: usize) -> Vec<u8> {
        signed_query(&self.forger, "ZA", &format!("ZZ{i:06}"))
    }

    fn unasked_answer(&mut self) -> Vec<u8> {
        let a = TraceAnswer {
            query: Digest::of(&self.junk.bytes(32)),
            responder: Party {
                state: CountryCode::parse("ZA").unwrap(),
                key: self.za.public_key(),
            },
            answered_at: tracenet::node::unix_now(),
            outcome: Outcome::NoHit,
            makers_version: Some(0),
        };
        self.za.sign(a).unwrap().into_parts().0
    }
}

/// ZA, played in process with its roster key, connected to the target.
struct Flooder {
    net: NetHandle,
    target: libp2p::PeerId,
    members: HashMap<libp2p::PeerId, Vec<libp2p::Multiaddr>>,
}

impl Flooder {
    async fn connect(key: &NodeKey, target: &FedNode) -> Flooder {
        let (net, mut events) = net::spawn(key.libp2p_keypair(), NetConfig::default()).unwrap();
        // Nothing the target sends matters to the flooder.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let target_id: libp2p::PeerId = target.peer_id.parse().unwrap();
        let addr = format!("/ip4/127.0.0.1/tcp/{}", target.port)
            .parse()
            .unwrap();
        let members = HashMap::from([(target_id, vec![addr])]);
        net.set_members(members.clone(), Default::default(), None)
            .await
            .unwrap();
        let f = Flooder {
            net,
            target: target_id,
            members,
        };
        for _ in 0..300 {
            if f.connected().await {
                return f;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the in-process flooder did not connect to {}", target.state);
    }

    async fn connected(&self) -> bool {
        let st = self.net.status().await.unwrap();
        st.connected.contains(&self.target.to_string())
    }

    /// Dials the target again at once (a hostile member does not wait for
    /// the five-second redial).
    async fn redial(&self) {
        let _ = self
            .net
            .set_members(self.members.clone(), Default::default(), None)
            .await;
    }
}

/// What the flooder saw.
#[derive(Default)]
struct Sent {
    frames: AtomicUsize,
    /// Replies by refusal code (or "answered"/"unreadable").
    replies: std::sync::Mutex<BTreeMap<String, usize>>,
    /// Requests that got no reply: disconnected, timed out.
    frame_errors: AtomicUsize,
    published: AtomicUsize,
    publish_errors: std::sync::Mutex<BTreeMap<String, usize>>,
}

fn bump(m: &std::sync::Mutex<BTreeMap<String, usize>>, k: String) {
    *m.lock().unwrap().entry(k).or_default() += 1;
}

/// Sends `n` frames spread evenly over `span`, `FRAME_WORKERS` at a time.
async fn flood_frames(
    f: Arc<Flooder>,
    frames: Arc<std::sync::Mutex<Frames>>,
    n: usize,
    span: Duration,
    sent: Arc<Sent>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let last_redial = Arc::new(std::sync::Mutex::new(Instant::now()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..FRAME_WORKERS {
        let (f, frames, next, sent, last_redial) = (
            f.clone(),
            frames.clone(),
            next.clone(),
            sent.clone(),
            last_redial.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                tokio::time::sleep_until(start + span.mul_f64(i as f64 / n as f64)).await;
                let frame = frames.lock().unwrap().frame(i);
                sent.frames.fetch_add(1, Ordering::Relaxed);
                match f.net.request(f.target, frame).await {
                    Ok(bytes) => {
                        let k = match Reply::decode(&bytes, Limits::default()) {
                            Ok(Reply::Refused(r)) => r.code().to_string(),
                            Ok(Reply::Ok) => "ok".into(),
                            Ok(Reply::Answer(_)) => "answered".into(),
                            Err(_) => "unreadable".into(),
                        };
                        bump(&sent.replies, k);
                    }
                    Err(_) => {
                        sent.frame_errors.fetch_add(1, Ordering::Relaxed);
                        let due = {
                            let mut l = last_redial.lock().unwrap();
                            let due = l.elapsed() > Duration::from_millis(500);
                            if due {
                                *l = Instant::now();
                            }
                            due
                        };
                        if due {
                            f.redial().await;
                        }
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// Publishes `n` invalid messages on `topic`, spread evenly over `span`.
async fn flood_gossip(
    f: Arc<Flooder>,
    frames: Arc<std::sync::Mutex<Frames>>,
    topic: Topic,
    n: usize,
    span: Duration,
    sent: Arc<Sent>,
) {
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut i = 0;
    while i < n {
        tick.tick().await;
        // Catches up to the schedule, whatever the timer's jitter.
        let due = ((start.elapsed().as_secs_f64() / span.as_secs_f64()) * n as f64).ceil() as usize;
        while i < due.min(n) {
            let data = frames.lock().unwrap().gossip(i);
            match f.net.publish(topic.clone(), data).await {
                Ok(()) => {
                    sent.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    let k = match e {
                        tracenet::net::NetError::NoSubscribers(_) => "no_subscribers".into(),
                        other => other.to_string().chars().take(60).collect(),
                    };
                    bump(&sent.publish_errors, k);
                }
            }
            i += 1;
        }
    }
}

/// One honest trace from KE through its control API; the round trip in ms
/// and whether DE's verified final answer came back.
async fn honest_trace(client: ApiClient, serial: String) -> (f64, bool, String) {
    let start = Instant::now();
    let req = TraceRequest {
        maker: "Walther".into(),
        factory_code: None,
        country: "DE".into(),
        serial,
        imports: Vec::new(),
        category: "pistol".into(),
        calibre: None,
        ground: "seized_in_crime".into(),
        intended_use: "criminal_investigation".into(),
        urgent: false,
        timeout_secs: Some(30),
        case: None,
        note: None,
        force: false,
        blind: None,
    };
    let sent: Value = match client.post("/v1/traces", &req).await {
        Ok(v) => v,
        Err(e) => return (f64::NAN, false, format!("not sent: {e}")),
    };
    let id = sent["id"].as_str().unwrap_or_default().to_string();
    loop {
        let t: Value = match client
            .get(&format!("/v1/traces/{id}?wait_ms=20000&answers=1000000"))
            .await
        {
            Ok(t) => t,
            Err(e) => return (f64::NAN, false, format!("lost: {e}")),
        };
        let status = t["status"].as_str().unwrap_or("?").to_string();
        if status != "sent" && status != "acknowledged" {
            let from_de = t["answers"].as_array().into_iter().flatten().any(|a| {
                a["state"] == "DE" && a["verified"] == true && a["outcome"].get("hit").is_some()
            });
            return (
                start.elapsed().as_secs_f64() * 1e3,
                from_de && status == "answered",
                status,
            );
        }
    }
}

fn audit_seq(n: &FedNode) -> u64 {
    n.json(&["status"])["audit_head"]["seq"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until DE's audit head has stood still for a whole tally interval.
fn audit_settled(n: &FedNode) -> u64 {
    let start = Instant::now();
    let mut last = audit_seq(n);
    let mut since = Instant::now();
    while since.elapsed() < AUDIT_QUIET && start.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(500));
        let now = audit_seq(n);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

/// `name value` of one metric line without labels, or the sum over labels.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn flood_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            ["refus", "cooling", "graylist"]
                .iter()
                .any(|w| l.contains(w))
        })
        .filter(|l| !l.ends_with(" 0"))
        .map(str::to_string)
        .collect()
}

fn main() {
    let n_frames = env_usize("TRACENET_FLOOD_FRAMES", 10_000);
    let n_gossip = env_usize("TRACENET_FLOOD_GOSSIP", 30_000);
    let span = Duration::from_secs(env_usize("TRACENET_FLOOD_SECS", 30) as u64);
    let n_honest = env_usize("TRACENET_FLOOD_TRACES", 20);
    let load_start = loadavg();

    let held: Vec<String> = (0..HELD)
        .map(|i| {
            record(
                &format!("DE-{i}"),
                "Walther",
                "DE",
                &format!("WF{i:05}"),
                &[],
                EVENTS,
            )
        })
        .collect();
    let t0 = Instant::now();
    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", held),
        NodeSpec::member("KE", Vec::new()),
        NodeSpec::member("ZA", Vec::new()),
    ]);
    // ZA is played in process with its roster key.
    fed.node_mut("ZA").kill();
    let de = fed.node("DE");
    let ke = fed.node("KE");
    let de_pid = de.child.as_ref().unwrap().id();
    println!(
        "flood benchmark: DE (holder, {HELD} records), KE (honest), ZA (flooder, in process) on 127.0.0.1, started in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!("  load average at start: {load_start}");

    let topic_name = de.json(&["status"])["net"]["subscribed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .find(|t| t.starts_with("tracenet/1/prefix/DE/"))
        .expect("DE subscribes to its Walther prefix topic")
        .to_string();
    let topic: Topic = topic_name.parse().unwrap();
    fed.wait_subscribed("KE", &topic_name, &["DE"]);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = ApiClient::from_data_dir(&ke.dir).unwrap();
    let serial = |i: usize| format!("WF{:05}", i % HELD);

    // Baseline: honest traces with nobody flooding.
    let mut base_ms = Vec::new();
    for i in 0..BASELINE_TRACES + 2 {
        let (ms, ok, status) = rt.block_on(honest_trace(client.clone(), serial(i)));
        assert!(ok, "a baseline trace was not answered by DE: {status}");
        // The first two let every path warm up.
        if i >= 2 {
            base_ms.push(ms);
        }
    }
    let (cpu_idle0, idle_start) = (cpu_secs(de_pid), Instant::now());
    let idle: Vec<f64> = (0..30)
        .filter_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            rss_mib(de_pid)
        })
        .collect();
    let rss_idle = idle.iter().sum::<f64>() / idle.len() as f64;
    let cpu_idle = (cpu_secs(de_pid) - cpu_idle0) / idle_start.elapsed().as_secs_f64();
    let audit_before = audit_settled(de);
    let gossip_in_before = de.json(&["status"])["net"]["gossip_in"]
        .as_u64()
        .unwrap_or(0);

    // ZA connects and learns that DE is subscribed to the topic.
    let za_key = NodeKey::load(&identity::key_path(&fed.node("ZA").dir)).unwrap();
    let flooder = Arc::new(rt.block_on(Flooder::connect(&za_key, de)));
    rt.block_on(async {
        for _ in 0..300 {
            let st = flooder.net.status().await.unwrap();
            let peers = st.topic_peers.get(&topic_name).cloned().unwrap_or_default();
            if peers.contains(&de.peer_id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ZA never saw DE subscribed to {topic_name}");
    });

    // RSS sampled every 100 ms during the flood and until the audit settles
    // after it (the tally is written then); the gauges every second during
    // the flood.
    let sampling = Arc::new(AtomicBool::new(true));
    let rss_sampling = Arc::new(AtomicBool::new(true));
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, rss_peak) = (rss_sampling.clone(), rss_peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some(m) = rss_mib(de_pid) {
                    rss_peak.fetch_max((m * 1024.0) as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let gauges = {
        let (sampling, dir) = (sampling.clone(), de.dir.clone());
        std::thread::spawn(move || {
            let (mut cooling, mut gray) = (0, 0);
            while sampling.load(Ordering::Relaxed) {
                let (_, m) = common::http_get(&dir, "/metrics", true);
                cooling = cooling.max(metric(&m, "tracenet_peers_cooling_down"));
                gray = gray.max(metric(&m, "tracenet_peers_graylisted"));
                std::thread::sleep(Duration::from_secs(1));
            }
            (cooling, gray)
        })
    };

    let frames = Arc::new(std::sync::Mutex::new(Frames {
        za: za_key,
        forger: NodeKey::generate().unwrap(),
        junk: Junk(0x9e37_79b9_7f4a_7c15),
    }));
    let sent = Arc::new(Sent::default());
    let flood_start = Instant::now();
    let cpu_flood0 = cpu_secs(de_pid);
    let (honest, flood_secs) = rt.block_on(async {
        let rr = tokio::spawn(flood_frames(
            flooder.clone(),
            frames.clone(),
            n_frames,
            span,
            sent.clone(),
        ));
        let gs = tokio::spawn(flood_gossip(
            flooder.clone(),
            frames.clone(),
            topic.clone(),
            n_gossip,
            span,
            sent.clone(),
        ));
        // Honest traces spread over the flood, each waited for on its own.
        let mut traces = Vec::new();
        for i in 0..n_honest {
            let at = tokio::time::Instant::now() + span.mul_f64(i as f64 / n_honest as f64);
            let c = client.clone();
            let s = serial(i + 7);
            traces.push(tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                honest_trace(c, s).await
            }));
        }
        let _ = rr.await;
        let _ = gs.await;
        let flood_secs = flood_start.elapsed().as_secs_f64();
        let mut honest = Vec::new();
        for t in traces {
            honest.push(t.await.unwrap());
        }
        (honest, flood_secs)
    });
    let cpu_flood = (cpu_secs(de_pid) - cpu_flood0) / flood_secs;
    let (_, metrics_at_end) = common::http_get(&de.dir, "/metrics", true);
    sampling.store(false, Ordering::Relaxed);
    let (cooling_max, gray_max) = gauges.join().unwrap();
    let gossip_in = de.json(&["status"])["net"]["gossip_in"]
        .as_u64()
        .unwrap_or(0)
        - gossip_in_before;
    let audit_after = audit_settled(de);
    rss_sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let rss_peak = rss_peak.load(Ordering::Relaxed) as f64 / 1024.0;
    let rss_after = rss_mib(de_pid).unwrap_or(f64::NAN);
    let load_end = loadavg();

    // What the new audit entries are.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in de.json(&["audit", "show"]).as_array().unwrap() {
        if e["seq"].as_u64().unwrap_or(0) > audit_before {
            let k = format!(
                "{} {}",
                e["kind"].as_str().unwrap_or("?"),
                e["rule"].as_str().unwrap_or("")
            );
            *kinds.entry(k.trim().to_string()).or_default() += 1;
        }
    }

    let ok: Vec<f64> = honest.iter().filter(|h| h.1).map(|h| h.0).collect();
    let failed: Vec<&String> = honest.iter().filter(|h| !h.1).map(|h| &h.2).collect();
    let replies = sent.replies.lock().unwrap().clone();
    let refused: usize = replies
        .iter()
        .filter(|(k, _)| !["ok", "answered", "unreadable"].contains(&k.as_str()))
        .map(|(_, n)| n)
        .sum();
    println!("  flood: {flood_secs:.1} s from ZA at DE");
    println!(
        "    request-response frames sent: {} of {n_frames}; refused by DE: {refused} {replies:?}; no reply (disconnected, timed out): {}",
        sent.frames.load(Ordering::Relaxed),
        sent.frame_errors.load(Ordering::Relaxed)
    );
    println!(
        "    gossip messages published: {} of {n_gossip}; not published: {:?}; delivered to DE's node (status gossip_in): {gossip_in}",
        sent.published.load(Ordering::Relaxed),
        sent.publish_errors.lock().unwrap()
    );
    println!(
        "  honest traces (KE -> DE) during the flood: {} of {} answered by DE, p50 {:.1} ms (baseline without the flood: p50 {:.1} ms over {})",
        ok.len(),
        honest.len(),
        p50(&ok),
        p50(&base_ms),
        base_ms.len()
    );
    if !failed.is_empty() {
        println!("    not answered: {failed:?}");
    }
    println!(
        "  DE audit entries: {audit_before} before, {audit_after} after: +{} ({} of them the honest traces' own)",
        audit_after - audit_before,
        kinds
            .iter()
            .filter(|(k, _)| k.starts_with("query_received") || k.starts_with("answer_sent"))
            .map(|(_, n)| n)
            .sum::<usize>()
    );
    println!("    by kind and rule: {kinds:?}");
    println!(
        "  DE resident memory: idle {rss_idle:.1} MiB (baseline), peak during the flood and until its audit tally is written {rss_peak:.1} MiB = {:.2} x idle (bound 1.5 x); {rss_after:.1} MiB at the end",
        rss_peak / rss_idle
    );
    println!(
        "  DE CPU: {:.0}% of one core during the flood (idle baseline: {:.0}%); the flooder, KE and the bench share the same cores",
        cpu_flood * 100.0,
        cpu_idle * 100.0
    );
    println!(
        "  DE /metrics at the end of the flood (non-zero lines on refusals, cooling-down, graylisted):"
    );
    for l in flood_lines(&metrics_at_end) {
        println!("    {l}");
    }
    println!(
        "    most seen during the flood (polled each second): tracenet_peers_cooling_down {cooling_max}, tracenet_peers_graylisted {gray_max}"
    );
    println!("  load average at end: {load_end}");
    drop(flooder);
    drop(rt);
}
