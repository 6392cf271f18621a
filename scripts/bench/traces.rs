//! Trace store benchmark (issue 16): what filing one answer costs the
//! requester's store as the holders asked grow, beside plain sled doing the
//! least any store must (the answer's frame inserted, then flushed).
//!
//! For 10, 50 and 200 holders (TRACENET_BENCH_HOLDERS, comma separated),
//! traces are stored and each holder's answer filed as `Node::on_answer`
//! files it: the frame, the verdict, the holder's instants, one flush per
//! answer as the node's group flush does with answers arriving one at a time.
//! Prints the CPU and wall time per answer, the bytes sled wrote per answer
//! (the trace's creation included) and the ratios to plain sled. Run with
//! `scripts/bench-traces.sh` (release build).

use std::path::Path;
use std::time::Instant;

use tracenet::model::CountryCode;
use tracenet::node::traces::{Filed, Said};
use tracenet::node::{Asked, ExpectedBy, LocalCase, StoredAnswer, StoredTrace, TraceStore};
use tracenet::store::{StoreOptions, open_db};

/// The allocator of the `tracenet` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Answers filed per figure, whatever the holders: the traces are as many
/// as it takes.
const ANSWERS: usize = 4_000;
/// A signed answer's frame, about the size of one with a record.
const FRAME_BYTES: usize = 1_500;

fn cpu_secs() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes the whole struct for RUSAGE_SELF.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Bytes this process has handed to `write` and `pwrite` so far
/// (`/proc/self/io`, `wchar`): sled's log writes, which reuse the space of
/// its files, so that their growth would not count them.
fn written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU ms, wall ms and bytes written per answer.
struct Figures {
    cpu_ms: f64,
    wall_ms: f64,
    bytes: f64,
}

fn measure(dir: &Path, run: impl FnOnce(&sled::Db) -> usize) -> Figures {
    let db = open_db(dir, &StoreOptions::default()).expect("store");
    db.flush().expect("flush");
    let written0 = written();
    let (c0, w0) = (cpu_secs(), Instant::now());
    let n = run(&db).max(1) as f64;
    let (cpu, wall) = (cpu_secs() - c0, w0.elapsed().as_secs_f64());
    db.flush().expect("flush");
    Figures {
        cpu_ms: 1e3 * cpu / n,
        wall_ms: 1e3 * wall / n,
        bytes: written().saturating_sub(written0) as f64 / n,
    }
}

fn peer(i: usize) -> String {
    // The shape of a peer id (52 characters of base58).
    format!("12D3KooW{i:0>44}")
}

fn trace(n: usize, holders: usize) -> StoredTrace {
    StoredTrace {
        id: format!("{n:064x}"),
        created_at: 1_700_000_000,
        created_at_ms: Some(1_700_000_000_000),
        deadline: 1_700_003_600,
        query: vec![3; 600],
        topics: vec!["tracenet/v1/marking/IT/BER".into()],
        asked: (0..holders)
            .map(|i| {
                Asked::new(
                    peer(i),
                    CountryCode::parse("IT").unwrap(),
                    ExpectedBy::Subscribed,
                )
            })
            .collect(),
        answers: Vec::new(),
        local: LocalCase::default(),
        first_ack: Default::default(),
        final_at: Default::default(),
        followed_up: Vec::new(),
        own_registry: None,
        nobody_holds: false,
        timeout_secs: Some(3600),
        blind: None,
        filed: Vec::new(),
    }
}

/// Stores traces of `holders` and files every holder's answer, one flush
/// each; returns the answers filed.
fn tracenet_store(db: &sled::Db, holders: usize) -> usize {
    let store = TraceStore::open(db).expect("trace store");
    let traces = ANSWERS.div_ceil(holders);
    let mut filed = 0;
    for n in 0..traces {
        let t = trace(n, holders);
        store.put(&t).expect("put");
        for i in 0..holders {
            let mut bytes = vec![0u8; FRAME_BYTES];
            bytes[..16].copy_from_slice(&(n as u64 * 1_000 + i as u64).to_be_bytes().repeat(2));
            let frame = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
            let p = peer(i);
            let answer = StoredAnswer {
                peer: p.clone(),
                received_at: 1_700_000_010,
                bytes,
                roster_version: Some(1),
            };
            let verdict = Filed {
                peer: p.clone(),
                state: CountryCode::parse("IT").unwrap(),
                frame,
                answered_at: 1_700_000_009,
                said: Said::Final,
            };
            // What `on_answer`'s admission does with the head.
            let r = store
                .file_answer(&t.id, &answer, |t| {
                    if t.filed.iter().any(|f| f.frame == verdict.frame)
                        || t.final_at.contains_key(&p)
                    {
                        return false;
                    }
                    t.filed.push(verdict.clone());
                    for x in t.asked.iter_mut().filter(|x| x.peer == p) {
                        x.set_reachable();
                    }
                    t.final_at.entry(p.clone()).or_insert(1_700_000_010);
                    true
                })
                .expect("file");
            assert!(r.is_some(), "answer not filed");
            db.flush().expect("flush");
            filed += 1;
        }
    }
    filed
}

/// Plain sled: each answer's frame inserted under a fresh key, flushed.
fn plain_sled(db: &sled::Db, holders: usize) -> usize {
    let tree = db.open_tree("plain").expect("tree");
    let traces = ANSWERS.div_ceil(holders);
    let mut n_answers = 0;
    for n in 0..traces {
        for i in 0..holders {
            let mut bytes = vec![0u8; FRAME_BYTES];
            bytes[..16].copy_from_slice(&(n as u64 * 1_000 + i as u64).to_be_bytes().repeat(2));
            let mut key = format!("{n:064x}/").into_bytes();
            key.extend_from_slice(&db.generate_id().expect("id").to_be_bytes());
            tree.insert(key, bytes).expect("insert");
            db.flush().expect("flush");
            n_answers += 1;
        }
    }
    n_answers
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let holders: Vec<usize> = std::env::var("TRACENET_BENCH_HOLDERS")
        .unwrap_or_else(|_| "10,50,200".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();
    println!(
        "trace store: filing answers, {ANSWERS} per figure, one flush each (load average at start: {})",
        load()
    );
    for h in holders {
        let work = tempfile::tempdir().expect("temp dir");
        let ours = measure(&work.path().join("tracenet"), |db| tracenet_store(db, h));
        let plain = measure(&work.path().join("plain"), |db| plain_sled(db, h));
        println!(
            "  {h} holders: tracenet {:.3} ms CPU, {:.3} ms wall, {:.1} KiB written per answer; plain sled {:.3} ms CPU, {:.3} ms wall, {:.1} KiB; ratio CPU {:.1}x, written {:.1}x",
            ours.cpu_ms,
            ours.wall_ms,
            ours.bytes / 1024.0,
            plain.cpu_ms,
            plain.wall_ms,
            plain.bytes / 1024.0,
            ours.cpu_ms / plain.cpu_ms.max(1e-9),
            ours.bytes / plain.bytes.max(1.0),
        );
    }
    println!("load average at end: {}", load());
}
