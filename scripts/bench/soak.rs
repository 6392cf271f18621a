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
//! The holder keeps at most TRACENET_BENCH_SOAK_KEEP audit entries in its
//! store (`node.audit_keep_in_store`, default its default, 1,000,000); past
//! it, the oldest move to its audit archive (src/audit/archive.rs), whose
//! files and size are printed at the end.
//!
//! Then the baseline for memory, in a process of its own (this binary again,
//! on tracenet's allocator, mimalloc, which the requesters played here now
//! use too): plain sled with the node's cache writing what the holder keeps
//! for each query answered (two audit entries of the same sizes, the oldest
//! moved to a file past the same number as the holder's, the answer
//! under a replay key ordered by expiry, purged when expired; see
//! `plain_sled`), as many times; both processes' peak and mean resident
//! memory over the middle and the last third of the queries printed side
//! by side, and the slope of a least-squares line through each one's
//! samples once `keep` queries were answered (the store filled and
//! archived three times), in MiB per million queries: flat is near zero. sled's memory grows with
//! what it stores: with the oldest audit entries moved out, neither should
//! grow once its store is full.
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

// On the system's malloc with the feature `system-allocator`, like the node
// (src/main.rs), for heap profilers.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod machine;
use machine::{env_u64, loadavg};

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
        directed_only: false,
        served: None,
    };
    key.sign(q).unwrap().into_parts().0
}

#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    answered: AtomicU64,
    /// Bytes of the answers' frames received, for the baseline's sizes.
    answer_bytes: AtomicU64,
    refused: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    failed: AtomicU64,
}

fn main() {
    // As the `tracenet` binary tunes it (src/allocator.rs).
    #[cfg(not(feature = "system-allocator"))]
    tracenet::allocator::return_freed_pages_at_once();
    if let Ok(spec) = std::env::var(PLAIN_SLED) {
        return plain_sled(&spec);
    }
    let total = env_u64("TRACENET_BENCH_SOAK_QUERIES", 1_000_000) as usize;
    let in_flight = env_u64("TRACENET_BENCH_SOAK_IN_FLIGHT", 32) as usize;
    let ttl = env_u64("TRACENET_BENCH_SOAK_TTL", 60) as u32;
    let every = Duration::from_secs(env_u64("TRACENET_BENCH_SOAK_EVERY", 30));
    // The holder's node.audit_keep_in_store: its default unless set.
    let keep = env_u64("TRACENET_BENCH_SOAK_KEEP", 1_000_000);
    let node_config: &'static str = Box::leak(
        format!(
            "queries_per_minute = 1000000\nfuzzy_queries_per_minute = 1000000\naudit_keep_in_store = {keep}"
        )
        .into_boxed_str(),
    );
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
        node_config,
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
        "soak benchmark: {total} directed queries to DE ({HELD} records) from {} States played in process, {in_flight} in flight, time-to-live {ttl} s, at most {keep} audit entries in the holder's store; load average at start {}",
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
                                    tally
                                        .answer_bytes
                                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
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
    // (answered, answers/s, resident MiB) at the end of each window.
    let mut windows: Vec<(u64, f64, f64)> = Vec::new();
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
        windows.push((n, rate, rss));
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
    let full: Vec<&(u64, f64, f64)> = windows
        .iter()
        .take(windows.len().saturating_sub(1))
        .collect();
    if let (Some(first), Some(last)) = (full.first(), full.last()) {
        println!(
            "  first window {:.0} answers/s, {:.1} MiB; last full window {:.0} answers/s ({:+.0}%), {:.1} MiB ({:+.1} MiB)",
            first.1,
            first.2,
            last.1,
            100.0 * (last.1 - first.1) / first.1,
            last.2,
            last.2 - first.2
        );
    }
    let (files, bytes) = archived(&de.dir);
    println!(
        "  the holder's audit archive: {files} files, {:.0} MiB (entries moved out of its store, node.audit_keep_in_store = {keep})",
        bytes as f64 / (1024.0 * 1024.0)
    );
    drop(fed);
    memory_baseline(ttl, keep, answered, secs, &tally, &windows);
}

/// Files and bytes in a node's audit archive (src/audit/archive.rs).
fn archived(data_dir: &std::path::Path) -> (usize, u64) {
    let dir = data_dir.join(tracenet::audit::archive::DIR);
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
}

/// The environment variable that makes this binary the plain-sled baseline:
/// `queries,received,sent,answer,rate,ttl,keep` (see `plain_sled`).
const PLAIN_SLED: &str = "TRACENET_BENCH_SOAK_PLAIN_SLED";

/// Runs the plain-sled baseline in a process of its own and prints both
/// processes' memory over the middle and the last third of the queries.
fn memory_baseline(
    ttl: u32,
    keep: u64,
    answered: u64,
    secs: f64,
    tally: &Tally,
    windows: &[(u64, f64, f64)],
) {
    let answer = tally.answer_bytes.load(Ordering::Relaxed) / answered.max(1);
    let (received, sent) = audit_entry_bytes();
    let rate = (answered as f64 / secs.max(1e-9)).max(1.0) as u64;
    println!(
        "plain sled, the writes of the same {answered} answered queries (audit entries of {received} and {sent} bytes, the oldest moved to a file past {keep} as the holder does; the answer's {answer} bytes under a replay key ordered by expiry, {rate} a second, the expired purged every 60 s), in its own process; load average at start {}",
        loadavg()
    );
    let out = std::process::Command::new(std::env::current_exe().expect("this benchmark"))
        .env(
            PLAIN_SLED,
            format!("{answered},{received},{sent},{answer},{rate},{ttl},{keep}"),
        )
        .output()
        .expect("start the plain-sled baseline");
    if !out.status.success() {
        println!(
            "  the baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // (queries written, resident MiB) from the child.
    let plain: Vec<(u64, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (n, mib) = l.split_once(' ')?;
            Some((n.parse().ok()?, mib.parse().ok()?))
        })
        .collect();
    // With the oldest audit entries moved out, memory is a saw-tooth (up as
    // the store fills, down as files take half of it, a tenth every 10 s,
    // in the holder; at once in plain sled's): flat means the
    // middle third's peak and mean are the last third's, not an end point
    // above a start point.
    let ours: Vec<(u64, f64)> = windows.iter().map(|w| (w.0, w.2)).collect();
    let (Some(m_ours), Some(l_ours)) = thirds(&ours, answered) else {
        println!("  too few windows of tracenet's to compare its thirds");
        return;
    };
    let (Some(m_plain), Some(l_plain)) = thirds(&plain, answered) else {
        println!("  too few figures from the baseline to compare its thirds");
        return;
    };
    let change = |m: PeakMean, l: PeakMean| {
        format!(
            "{:.1} / {:.1} -> {:.1} / {:.1} MiB (peak {:+.1}, mean {:+.1})",
            m.0,
            m.1,
            l.0,
            l.1,
            l.0 - m.0,
            l.1 - m.1
        )
    };
    println!(
        "  resident memory, peak / mean, middle third -> last third of the queries: tracenet {}; plain sled {}",
        change(m_ours, l_ours),
        change(m_plain, l_plain)
    );
    // The saw-tooth's slope: a least-squares line through the samples once
    // the store has filled and been archived three times (past `keep` queries,
    // two entries each), so that whole teeth weigh alike.
    let slope = |v: &[(u64, f64)]| {
        drift(v, keep).map_or("too few samples".to_string(), |(m, n)| {
            format!("{m:+.1} MiB per million queries ({n} samples)")
        })
    };
    println!(
        "  resident memory past {keep} queries, least-squares slope: tracenet {}; plain sled {}",
        slope(&ours),
        slope(&plain)
    );
    println!("  load average at end {}", loadavg());
}

/// The least-squares slope of `(queries, MiB)` samples past `from` queries,
/// in MiB per million queries, with the number of samples; `None` with
/// fewer than ten.
fn drift(samples: &[(u64, f64)], from: u64) -> Option<(f64, usize)> {
    let v: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.0 > from)
        .map(|s| (s.0 as f64 / 1e6, s.1))
        .collect();
    if v.len() < 10 {
        return None;
    }
    let n = v.len() as f64;
    let (mx, my) = (
        v.iter().map(|p| p.0).sum::<f64>() / n,
        v.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = v.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = v.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| (sxy / sxx, v.len()))
}

/// Peak and mean resident memory, MiB, over part of a run.
type PeakMean = (f64, f64);

/// The peak and mean of `(queries, MiB)` samples in the middle and in the
/// last third of `total` queries.
fn thirds(samples: &[(u64, f64)], total: u64) -> (Option<PeakMean>, Option<PeakMean>) {
    let of = |from: u64, to: u64| {
        let v: Vec<f64> = samples
            .iter()
            .filter(|s| s.0 > from && s.0 <= to)
            .map(|s| s.1)
            .collect();
        (!v.is_empty()).then(|| {
            (
                v.iter().cloned().fold(f64::MIN, f64::max),
                v.iter().sum::<f64>() / v.len() as f64,
            )
        })
    };
    (of(total / 3, 2 * total / 3), of(2 * total / 3, total))
}

/// The sizes, as JSON, of the two audit entries a holder writes for a query
/// it answers: `query_received`, then `answer_sent`.
fn audit_entry_bytes() -> (u64, u64) {
    use tracenet::audit::{AuditEntry, AuditKind};
    let hex = "ab".repeat(32);
    let received = AuditEntry {
        seq: 1_000_000,
        at: tracenet::node::unix_now(),
        kind: AuditKind::QueryReceived,
        peer: None,
        state: CountryCode::parse("KE").ok(),
        query: Some(hex.clone()),
        outcome: None,
        rule: None,
        signature: None,
        officer: None,
        prev: hex.clone(),
        hash: hex.clone(),
    };
    let sent = AuditEntry {
        kind: AuditKind::AnswerSent,
        peer: Some(NodeKey::generate().expect("key").peer_id().to_string()),
        outcome: Some("hit".into()),
        rule: Some("disclose_full".into()),
        ..received.clone()
    };
    let len = |e: &AuditEntry| serde_json::to_vec(e).expect("audit entry").len() as u64;
    (len(&received), len(&sent))
}

/// The baseline's process. `spec`: `queries,received,sent,answer,rate,ttl,keep`
/// (the two audit entries' and the answer's sizes in bytes, queries a
/// second, their life in seconds, the audit entries kept in the store).
/// Per query, as the holder: both audit entries under the next sequence
/// numbers (past `keep` of them, the oldest written to a file, synced, and
/// removed, down to `keep / 2`: where `AuditLog::archive_oldest` stops,
/// less than a tenth of `keep` above it, but here at once rather than a
/// tenth of `keep` every 10 s), the answer under a 26-byte key
/// of expiry, State and id (time-ordered, as `node::replay` keys it), a
/// flush for every 32 queries (the requesters keep 32 in flight), and every
/// 60 seconds of queries the expired keys removed. Prints `written
/// resident_MiB` 120 times over the run.
fn plain_sled(spec: &str) {
    let v: Vec<u64> = spec.split(',').filter_map(|x| x.parse().ok()).collect();
    let [total, received, sent, answer, rate, ttl, keep] = v[..] else {
        panic!("{PLAIN_SLED}: {spec:?} is not queries,received,sent,answer,rate,ttl,keep");
    };
    let rate = rate.max(1);
    let (dir, archive) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let db = tracenet::store::open_db(dir.path(), &Default::default()).expect("sled");
    let (log, ids) = (
        db.open_tree("audit").expect("tree"),
        db.open_tree("replay").expect("tree"),
    );
    let entries = [vec![b'a'; received as usize], vec![b'a'; sent as usize]];
    let frame = vec![7u8; answer as usize];
    let me = std::process::id();
    let mut seq = 0u64;
    // The oldest audit entry still in the store.
    let mut first = 0u64;
    for i in 0..total {
        let now = i / rate;
        for e in &entries {
            log.insert(seq.to_be_bytes(), e.as_slice()).expect("insert");
            seq += 1;
        }
        if seq - first > keep {
            use std::io::Write as _;
            let last = seq - 1 - (keep / 2).max(1);
            let range = first.to_be_bytes()..=last.to_be_bytes();
            let path = archive.path().join(format!("{first}-{last}.jsonl"));
            let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("archive"));
            for kv in log.range(range.clone()) {
                let (_, v) = kv.expect("read");
                w.write_all(&v)
                    .and_then(|_| w.write_all(b"\n"))
                    .expect("write");
            }
            w.into_inner().expect("write").sync_all().expect("sync");
            for kv in log.range(range) {
                log.remove(kv.expect("read").0).expect("remove");
            }
            db.flush().expect("flush");
            first = last + 1;
        }
        let mut key = [0u8; 26];
        key[..8].copy_from_slice(&(now + ttl).to_be_bytes());
        key[8..10].copy_from_slice(b"KE");
        key[10..].copy_from_slice(
            &u128::from(i)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_be_bytes(),
        );
        ids.insert(key, frame.as_slice()).expect("insert");
        if i % 32 == 31 {
            db.flush().expect("flush");
        }
        if i % (60 * rate) == 60 * rate - 1 {
            let expired: Vec<sled::IVec> = ids
                .range(..now.to_be_bytes())
                .keys()
                .map(|k| k.expect("read"))
                .collect();
            for k in expired {
                ids.remove(k).expect("remove");
            }
        }
        if (i + 1) % (total / 120).max(1) == 0 || i + 1 == total {
            println!("{} {:.1}", i + 1, rss_mib(me));
        }
    }
}
