//! Sustained-load benchmark (issue 16): one holder (DE, a real `tracenet`
//! process) answers TRACENET_BENCH_SOAK_QUERIES directed queries (default
//! 1,000,000) from four requesting States played in process with their
//! roster keys (KE, NG, GH, ZA), TRACENET_BENCH_SOAK_IN_FLIGHT at once
//! (default 32). Each query lives TRACENET_BENCH_SOAK_TTL seconds (default
//! 60): an hour of traffic at one-hour time-to-live compressed, so that the
//! replay guard turns over many times during the run. Prints, every
//! TRACENET_BENCH_SOAK_EVERY seconds (default 30), the answers per second in
//! that window, the holder's resident memory and its CPU, then the first and
//! last windows side by side: flat is the goal.
//!
//! With BENCH_SOAK_PIN=1 (`scripts/bench-soak.sh --pinned`), the holder
//! process is pinned to core 1 and this process (the requesters) to core 0
//! with `taskset`: the answers/s are then those of a holder on one core.
//!
//! Run with `scripts/bench-soak.sh` (release).

#[path = "../../integration/common/mod.rs"]
mod common;
#[path = "../../integration/fed/mod.rs"]
mod fed;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fed::{Federation, NodeSpec, Peer, record};
use tracenet::identity::NodeKey;
use tracenet::model::CountryCode;
use tracenet::protocol::{Priority, Reply};

const EVENTS: &str = r#"{"kind":"manufactured","date":"2010-03-01","holder":"manufacturer"}"#;
/// Records the holder holds: half the queries find one.
const HELD: usize = 500;
const REQUESTERS: [&str; 4] = ["KE", "NG", "GH", "ZA"];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Pins every thread of process `pid` to `core` with `taskset`; false if it
/// could not (no taskset, or fewer cores).
fn pin(pid: u32, core: usize) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-c", "-p", &core.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// A query for a Walther pistol marked DE `serial`, living `ttl` seconds.
fn query(key: &NodeKey, state: &str, serial: &str, ttl: u32) -> Vec<u8> {
    use tracenet::marking::{Marking, MarkingFields};
    use tracenet::protocol::{IntendedUse, LegalGround, Party, QueryId, TraceQuery};
    let marking = Marking::try_from(MarkingFields {
        manufacturer: "Walther".into(),
        country: CountryCode::parse("DE").unwrap(),
        serial: serial.into(),
        year: None,
        factory_code: None,
        imports: Vec::new(),
    })
    .unwrap();
    let q = TraceQuery {
        id: QueryId::random().unwrap(),
        requester: Party {
            state: CountryCode::parse(state).unwrap(),
            key: key.public_key(),
        },
        issued_at: tracenet::node::unix_now(),
        ttl_secs: ttl,
        priority: Priority::Routine,
        marking,
        category: tracenet::model::WeaponCategory::Pistol,
        calibre: None,
        legal_ground: LegalGround::SeizedInCrime,
        intended_use: IntendedUse::CriminalInvestigation,
        makers_version: Some(0),
    };
    key.sign(q).unwrap().into_parts().0
}

#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    answered: AtomicU64,
    refused: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    failed: AtomicU64,
}

fn main() {
    let total = env_u64("TRACENET_BENCH_SOAK_QUERIES", 1_000_000) as usize;
    let in_flight = env_u64("TRACENET_BENCH_SOAK_IN_FLIGHT", 32) as usize;
    let ttl = env_u64("TRACENET_BENCH_SOAK_TTL", 60) as u32;
    let every = Duration::from_secs(env_u64("TRACENET_BENCH_SOAK_EVERY", 30));
    // The holder logs as deployed (info), not the tests' debug lines.
    fed::log_as_deployed();
    let held: Vec<String> = (0..HELD)
        .map(|i| {
            record(
                &format!("DE-{i}"),
                "Walther",
                "DE",
                &format!("WS{i:05}"),
                &[],
                EVENTS,
            )
        })
        .collect();
    let mut specs = vec![NodeSpec {
        state: "DE",
        bootstrap: false,
        records: held,
        in_roster: true,
        node_config: "queries_per_minute = 1000000\nfuzzy_queries_per_minute = 1000000",
        prefixes: &[],
        oprf_key_listed: true,
    }];
    specs.extend(REQUESTERS.iter().map(|s| NodeSpec::member(s, Vec::new())));
    let mut fed = Federation::start(specs);
    for s in REQUESTERS {
        fed.node_mut(s).kill();
    }
    let de = fed.node("DE");
    let pid = de.child.as_ref().unwrap().id();
    // Before the runtime: its threads inherit this thread's core.
    let pinned = std::env::var("BENCH_SOAK_PIN").is_ok_and(|v| v == "1");
    if pinned {
        assert!(
            pin(pid, 1) && pin(std::process::id(), 0),
            "cannot pin with taskset (is it installed, with 2 cores?)"
        );
        println!(
            "  the holder pinned to core 1, the requesters (this process) to core 0 (taskset)"
        );
    }
    println!(
        "soak benchmark: {total} directed queries to DE ({HELD} records) from {} States played in process, {in_flight} in flight, time-to-live {ttl} s; load average at start {}",
        REQUESTERS.len(),
        loadavg()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let peers: Vec<Arc<Peer>> = REQUESTERS
        .iter()
        .map(|s| Arc::new(rt.block_on(Peer::connect(&fed.node(s).dir, de))))
        .collect();
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let start_cpu = cpu_secs(pid);
    let work = {
        let tally = tally.clone();
        rt.spawn(async move {
            let mut set = tokio::task::JoinSet::new();
            for w in 0..in_flight {
                let (peer, state) = (
                    peers[w % peers.len()].clone(),
                    REQUESTERS[w % REQUESTERS.len()],
                );
                let tally = tally.clone();
                set.spawn(async move {
                    loop {
                        let i = tally.sent.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            return;
                        }
                        // Half the serials are held: hits and no-hits alike.
                        let q = query(&peer.key, state, &format!("WS{:05}", i % (2 * HELD)), ttl);
                        match peer.net.request(peer.target, q).await {
                            Ok(bytes) => match Reply::decode(&bytes, Default::default()) {
                                Ok(Reply::Answer(_)) => {
                                    tally.answered.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(Reply::Refused(r)) => {
                                    *tally
                                        .refused
                                        .lock()
                                        .unwrap()
                                        .entry(r.code().to_string())
                                        .or_default() += 1;
                                }
                                _ => {
                                    tally.failed.fetch_add(1, Ordering::Relaxed);
                                }
                            },
                            Err(_) => {
                                tally.failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
            while set.join_next().await.is_some() {}
        })
    };
    println!(
        "  {:>6} {:>10} {:>10} {:>9} {:>9}",
        "s", "answered", "answers/s", "RSS MiB", "CPU %"
    );
    let mut windows: Vec<(f64, f64)> = Vec::new();
    let (mut last_n, mut last_cpu, mut last_t) = (0u64, cpu_secs(pid), Instant::now());
    while !work.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        if last_t.elapsed() < every && !work.is_finished() {
            continue;
        }
        let n = tally.answered.load(Ordering::Relaxed);
        let dt = last_t.elapsed().as_secs_f64();
        let cpu = cpu_secs(pid);
        let rate = (n - last_n) as f64 / dt;
        let rss = rss_mib(pid);
        println!(
            "  {:>6.0} {:>10} {:>10.0} {:>9.1} {:>9.0}",
            start.elapsed().as_secs_f64(),
            n,
            rate,
            rss,
            100.0 * (cpu - last_cpu) / dt
        );
        windows.push((rate, rss));
        (last_n, last_cpu, last_t) = (n, cpu, Instant::now());
    }
    let secs = start.elapsed().as_secs_f64();
    let answered = tally.answered.load(Ordering::Relaxed);
    let holder_cpu = cpu_secs(pid);
    println!(
        "  {answered} answered of {total} in {secs:.0} s ({:.0}/s); refused {:?}; failed {}; load average at end {}",
        answered as f64 / secs,
        tally.refused.lock().unwrap(),
        tally.failed.load(Ordering::Relaxed),
        loadavg()
    );
    if pinned {
        println!(
            "  pinned: {:.0} answers/s with the holder on one core ({:.0}% of it busy over the run)",
            answered as f64 / secs,
            100.0 * (holder_cpu - start_cpu) / secs
        );
    }
    // The last window may be short (the tail of the run): compare full ones.
    let full: Vec<&(f64, f64)> = windows
        .iter()
        .take(windows.len().saturating_sub(1))
        .collect();
    if let (Some(first), Some(last)) = (full.first(), full.last()) {
        println!(
            "  first window {:.0} answers/s, {:.1} MiB; last full window {:.0} answers/s ({:+.0}%), {:.1} MiB ({:+.1} MiB)",
            first.0,
            first.1,
            last.0,
            100.0 * (last.0 - first.0) / first.0,
            last.1,
            last.1 - first.1
        );
    }
    drop(fed);
}
