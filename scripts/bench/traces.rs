//! Trace store benchmark (issue 16): what filing one answer costs the
//! requester's store as the holders asked grow, beside plain sled doing the
//! least any store must (the answer's frame inserted, then flushed).
//!
//! For 10, 50 and 200 holders (TRACENET_BENCH_HOLDERS, comma separated),
//! traces are stored and each holder's answer filed as `Node::on_answer`
//! files it: the frame, the verdict, the holder's instants, one flush per
//! answer as the node's group flush does with answers arriving one at a time.
//! Prints the CPU and wall time per answer, the bytes sled wrote per answer
//! (the trace's creation included) and the ratios to plain sled.
//!
//! Then what peer events and the maintenance minute read of the pending
//! traces (5,000, each asked of 9 holders: a busy unit's day), every holder
//! answered finally or one of each silent, beside reading every pending
//! trace's head.
//!
//! Then the list of traces an integrator pages through: a node whose store
//! holds TRACENET_BENCH_LIST_TRACES traces (default 100,000; 0 skips it),
//! each asked of 9 holders with 3 signed answers filed, started as a process
//! on 127.0.0.1; `GET /v1/traces` timed through its control API for the
//! first page, pages reached by cursor, and pages of 500, each from the
//! request to its body parsed as JSON by the client; beside plain sled
//! reading the newest 50 of as many values of a page entry's size. Run with
//! `scripts/bench-traces.sh` (release build).

#[path = "../../integration/common/mod.rs"]
mod common;
#[path = "../../integration/fed/mod.rs"]
mod fed;

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
            file_final(&store, &t.id, n, i);
            db.flush().expect("flush");
            filed += 1;
        }
    }
    filed
}

/// Files holder `i`'s final answer to trace `id` (the `n`th), unflushed, as
/// `Node::on_answer` files it.
fn file_final(store: &TraceStore, id: &str, n: usize, i: usize) {
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
        .file_answer(
            id,
            &answer,
            |t| !t.filed.iter().any(|f| f.frame == verdict.frame) && !t.final_at.contains_key(&p),
            |t| {
                t.filed.push(verdict.clone());
                for x in t.asked.iter_mut().filter(|x| x.peer == p) {
                    x.set_reachable();
                }
                t.final_at.entry(p.clone()).or_insert(1_700_000_010);
            },
        )
        .expect("file");
    assert!(r.is_some(), "answer not filed");
}

/// Pending traces of a busy unit: a day's traces, each pending until its
/// deadline (a day by default) whether answered or not.
const PENDING: usize = 5_000;
/// Holders each pending trace asked.
const PENDING_HOLDERS: usize = 9;

/// What a peer event (a holder connecting, a link closing) and the
/// maintenance minute read of the pending traces: each reads the head of
/// every trace the store's index lists for it. [`PENDING`] traces of 9
/// holders each, watched as the node watches its pending traces; `settled`:
/// every holder answered finally, else one holder of each has not. Prints
/// the traces each lists and the CPU their reads took, beside reading every
/// pending trace's head (what both did when the index listed every trace
/// naming a peer, answered or not).
fn pending_passes(dir: &Path, settled: bool) {
    let db = open_db(dir, &StoreOptions::default()).expect("store");
    let store = TraceStore::open(&db).expect("trace store");
    let ids: Vec<String> = (0..PENDING)
        .map(|n| {
            let t = trace(n, PENDING_HOLDERS);
            store.put(&t).expect("put");
            store.watch(&t.id).expect("watch");
            let answered = PENDING_HOLDERS - usize::from(!settled);
            for i in 0..answered {
                file_final(&store, &t.id, n, i);
            }
            t.id
        })
        .collect();
    db.flush().expect("flush");
    let read = |ids: &[String]| {
        let c0 = cpu_secs();
        for id in ids {
            store.head(id).expect("head").expect("a head");
        }
        (ids.len(), 1e3 * (cpu_secs() - c0))
    };
    // The holder that answered last in a waiting trace, or any.
    let event = read(&store.watched_waiting_on(&peer(PENDING_HOLDERS - 1)));
    let minute = read(&store.watched_waiting());
    let every = read(&ids);
    println!(
        "  {PENDING} pending traces of {PENDING_HOLDERS} holders, {}: a peer event reads {} heads ({:.1} ms CPU), the maintenance minute {} ({:.1} ms); every pending head read: {} ({:.1} ms)",
        if settled {
            "every holder answered finally"
        } else {
            "one holder of each silent"
        },
        event.0,
        event.1,
        minute.0,
        minute.1,
        every.0,
        every.1,
    );
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
    // As the `tracenet` binary tunes it (src/allocator.rs).
    tracenet::allocator::return_freed_pages_at_once();
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
    println!(
        "trace store: the pending traces read by peer events and the maintenance minute (load average: {})",
        load()
    );
    for settled in [true, false] {
        let work = tempfile::tempdir().expect("temp dir");
        pending_passes(&work.path().join("pending"), settled);
    }
    let listed: usize = match std::env::var("TRACENET_BENCH_LIST_TRACES") {
        Err(_) => 100_000,
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("TRACENET_BENCH_LIST_TRACES: {v:?} is not a count of traces (e.g. 100000, or 0 to skip)");
            std::process::exit(2)
        }),
    };
    if listed > 0 {
        listing(listed, &load);
    }
    println!("load average at end: {}", load());
}

/// Milliseconds at quantile `q` of `v` (sorted here).
fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * q) as usize]
}

/// The signed frames every listed trace carries: its query, and three
/// answers to it (one hit with a record, two without).
struct Frames {
    query: Vec<u8>,
    answers: Vec<(String, Vec<u8>)>,
}

fn frames() -> Frames {
    use tracenet::identity::NodeKey;
    use tracenet::marking::{MakerTable, Marking};
    use tracenet::node::answer::{AnswerPolicy, answer};
    use tracenet::protocol::*;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(&dir.path().join("db"), &StoreOptions::default()).expect("store");
    let reg = tracenet::registry::Registry::open(&db, MakerTable::built_in()).expect("registry");
    let rec = dir.path().join("one.jsonl");
    std::fs::write(
        &rec,
        fed::record(
            "DE-1",
            "Walther",
            "DE",
            "BP0746",
            &[("NG", 2009)],
            r#"[{"date":"2008-03-01","kind":"manufactured","holder":"manufacturer"},{"date":"2009-05-01","kind":"exported","counterpart":"NG"}]"#,
        ),
    )
    .expect("write record");
    tracenet::registry::import::import_file(&reg, &rec, &Default::default(), &mut |_| {})
        .expect("import");
    let ke = CountryCode::parse("KE").unwrap();
    let requester = NodeKey::generate().expect("key");
    let marking: Marking = serde_json::from_value(serde_json::json!({
        "manufacturer": "Walther", "country": "DE", "serial": "BP0746"
    }))
    .expect("marking");
    let q = TraceQuery {
        id: QueryId::random().expect("id"),
        requester: Party {
            state: ke,
            key: requester.public_key(),
        },
        issued_at: 1_700_000_000,
        ttl_secs: 3600,
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
    let signed = requester.sign(q).expect("sign");
    let (hit, _) = answer(&reg, signed.body(), &AnswerPolicy::default()).expect("lookup");
    let outcomes = [hit.expect("a hit"), Outcome::NoHit, Outcome::NoHit];
    let answers = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            let holder = NodeKey::generate().expect("key");
            let a = TraceAnswer {
                query: signed.digest(),
                responder: Party {
                    state: CountryCode::parse(["DE", "NG", "FR"][i]).unwrap(),
                    key: holder.public_key(),
                },
                answered_at: 1_700_000_001,
                outcome,
                makers_version: Some(0),
            };
            let bytes = holder.sign(a).expect("sign").into_parts().0;
            (holder.peer_id().to_string(), bytes)
        })
        .collect();
    Frames {
        query: signed.into_parts().0,
        answers,
    }
}

/// Writes `n` traces into the store of the node at `dir` (not running), as
/// the node writes them: the trace, then each answer filed with its verdict.
fn fill(dir: &Path, n: usize, f: &Frames) {
    let t0 = Instant::now();
    let db = open_db(&dir.join("db"), &StoreOptions::default()).expect("node's store");
    let store = TraceStore::open(&db).expect("trace store");
    // Eight seconds apart, the newest a day old: every deadline has passed.
    let start = tracenet::node::unix_now() - 8 * n as u64 - 86_400;
    for k in 0..n {
        let mut t = trace(k, 9);
        t.id = format!("{k:032x}");
        t.created_at = start + 8 * k as u64;
        t.created_at_ms = Some(1_000 * t.created_at);
        t.deadline = t.created_at + 60;
        t.query = f.query.clone();
        t.topics = vec!["tracenet/1/prefix/DE/CARLWALTHER".into()];
        for (i, (a, (peer, _))) in t.asked.iter_mut().zip(&f.answers).enumerate() {
            a.peer = peer.clone();
            a.state = CountryCode::parse(["DE", "NG", "FR"][i]).ok();
        }
        store.put(&t).expect("put");
        for (i, (peer, bytes)) in f.answers.iter().enumerate() {
            let answer = StoredAnswer {
                peer: peer.clone(),
                received_at: t.created_at + 1,
                bytes: bytes.clone(),
                roster_version: Some(1),
            };
            let verdict = Filed {
                peer: peer.clone(),
                state: CountryCode::parse(["DE", "NG", "FR"][i]).unwrap(),
                frame: hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()),
                answered_at: t.created_at + 1,
                said: Said::Final,
            };
            store
                .file_answer(
                    &t.id,
                    &answer,
                    |_| true,
                    |t| {
                        t.filed.push(verdict.clone());
                        t.final_at.insert(peer.clone(), t.created_at + 1);
                    },
                )
                .expect("file");
        }
    }
    db.flush().expect("flush");
    println!(
        "  {n} traces written to the node's store in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// `GET /v1/traces` against a node holding `n` traces, and plain sled.
fn listing(n: usize, load: &dyn Fn() -> String) {
    println!(
        "list of traces: GET /v1/traces at {n} stored traces, 9 holders asked and 3 answers each (load average at start: {})",
        load()
    );
    let f = frames();
    let fed = fed::Federation::start_with(vec![fed::NodeSpec::member("KE", Vec::new())], |node| {
        fill(&node.dir, n, &f)
    });
    let client = tracenet::api::ApiClient::from_data_dir(&fed.node("KE").dir).expect("client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let timed = |path: &str| -> (f64, serde_json::Value) {
        let t = Instant::now();
        let v: serde_json::Value = rt.block_on(client.get(path)).expect("GET");
        (t.elapsed().as_secs_f64() * 1e3, v)
    };
    for _ in 0..5 {
        timed("/v1/traces");
    }
    let (mut first, mut deep, mut wide) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..100 {
        let (ms, v) = timed("/v1/traces");
        assert_eq!(v["traces"].as_array().map(Vec::len), Some(50.min(n)));
        bytes = v.to_string().len();
        first.push(ms);
    }
    // 200 pages down, one after another, as an integrator walks the list.
    let mut next = timed("/v1/traces").1["next"].as_str().map(String::from);
    while let Some(c) = next.take().filter(|_| deep.len() < 200) {
        let (ms, v) = timed(&format!("/v1/traces?cursor={c}"));
        deep.push(ms);
        next = v["next"].as_str().map(String::from);
    }
    for _ in 0..20 {
        wide.push(timed("/v1/traces?limit=500").0);
    }
    let plain = plain_newest(n, bytes / 50.min(n).max(1));
    let (f50, f99) = (pct(&mut first, 0.5), pct(&mut first, 0.99));
    println!(
        "  first page ({} traces, {:.0} KiB of JSON): p50 {f50:.2} ms, p99 {f99:.2} ms over {} (goal <= 20 ms)",
        50.min(n),
        bytes as f64 / 1024.0,
        first.len()
    );
    if !deep.is_empty() {
        println!(
            "  the next {} pages by cursor: p50 {:.2} ms, p99 {:.2} ms",
            deep.len(),
            pct(&mut deep, 0.5),
            pct(&mut deep, 0.99)
        );
    }
    println!(
        "  pages of 500: p50 {:.2} ms, slowest {:.2} ms over {}",
        pct(&mut wide, 0.5),
        pct(&mut wide, 1.0),
        wide.len()
    );
    println!(
        "  plain sled, the newest {} of {n} values of {} bytes read in process (no HTTP, no view): p50 {:.3} ms; first page / plain: {:.0}x",
        50.min(n),
        bytes / 50.min(n).max(1),
        plain,
        f50 / plain.max(1e-9)
    );
}

/// Plain sled: `n` values of `size` bytes under time-ordered keys; the p50
/// in ms of reading the newest 50 (a reverse range), over 100 reads.
fn plain_newest(n: usize, size: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(dir.path(), &StoreOptions::default()).expect("store");
    let tree = db.open_tree("plain").expect("tree");
    for k in 0..n as u64 {
        tree.insert(k.to_be_bytes(), vec![7u8; size])
            .expect("insert");
    }
    db.flush().expect("flush");
    let mut times: Vec<f64> = (0..100)
        .map(|_| {
            let t = Instant::now();
            let got: Vec<sled::IVec> = tree
                .iter()
                .rev()
                .take(50)
                .map(|kv| kv.expect("read").1)
                .collect();
            std::hint::black_box(got);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    pct(&mut times, 0.5)
}
