//! Federation benchmark (issue 4): trace round trip over real node processes on
//! 127.0.0.1, gossip messages per trace, idle memory, and one node's answering
//! pipeline throughput; and the round trip of blind traces (issue 17) for the
//! same weapons, beside the clear ones.
//!
//! Run with `scripts/bench-federation.sh` (release). Size from
//! TRACENET_BENCH_STATES (default 10), TRACENET_BENCH_RECORDS (per State, default
//! 100,000) and TRACENET_BENCH_TRACES (default 200); the roster decides the
//! links every member keeps as a first roster does (64) unless
//! TRACENET_BENCH_LINKS=node. TRACENET_BENCH_AFTER=1 also measures what the
//! traces cost the requester after their round trips (their timers), 16 s
//! more. TRACENET_BENCH_TIMELINE=FILE writes each timed clear trace's start
//! (ms into the timed window) and round trip (ms), a line each.
//!
//! Plain rust-libp2p with a process per holder, the yardstick of issue 16's
//! goals, runs beside the federation and is timed in blocks of
//! [`INTERLEAVED_BLOCK`] traces between tracenet's: the ratios compare the
//! same minutes of the machine.

mod baseline;
#[path = "../../integration/common/mod.rs"]
mod common;
#[path = "../../integration/fed/mod.rs"]
mod fed;

mod machine;
use machine::env_u64;

use std::time::{Duration, Instant};

use fed::{Federation, NodeSpec};
use serde_json::Value;
use tracenet::api::ApiClient;
use tracenet::api::routes::TraceRequest;

const STATES: &[&str] = &[
    "DE", "NG", "FR", "AT", "KE", "GH", "IT", "BE", "US", "BR", "SN", "CI", "ML", "PL",
];

/// Weapons whose stories span three registries.
const STORIES: usize = 50;

/// The story records State number `i` holds (DE, NG, FR are the first three).
fn stories(i: usize) -> Vec<String> {
    let ev = |k: usize| -> Option<(&str, String)> {
        let s = format!("ST{k:05}");
        match i {
            0 => Some(("DE", format!(r#"[{{"date":"2010-01-0{}","kind":"manufactured","holder":"manufacturer"}},{{"date":"2010-06-01","kind":"exported","counterpart":"NG"}}]"#, 1 + k % 9))),
            1 => Some(("NG", r#"[{"date":"2010-07-01","kind":"imported","counterpart":"DE","holder":"licensed_dealer"},{"date":"2012-01-01","kind":"exported","counterpart":"FR"}]"#.to_string())),
            2 => Some(("FR", r#"[{"date":"2012-02-01","kind":"imported","counterpart":"NG","holder":"state_police"},{"date":"2019-03-01","kind":"stolen","holder":"state_police"}]"#.to_string())),
            _ => None,
        }
        .map(|(st, events)| (st, format!(r#"{{"id":"{st}-{s}","marking":{{"manufacturer":"Carl Walther","country":"DE","serial":"{s}"}},"category":"pistol","events":{events}}}"#)))
    };
    (0..STORIES).filter_map(|k| ev(k).map(|(_, r)| r)).collect()
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

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * q) as usize]
}

fn gossip_in_total(fed: &Federation) -> u64 {
    fed.nodes
        .iter()
        .map(|n| {
            n.json(&["status"])["net"]["gossip_in"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum()
}

/// Requests sent over the federation since start: (on lasting streams, by
/// request-response).
fn requests_sent(fed: &Federation) -> (u64, u64) {
    let mut out = (0, 0);
    for n in &fed.nodes {
        let r = &n.json(&["status"])["net"]["requests"];
        out.0 += r["out_stream"].as_u64().unwrap_or(0);
        out.1 += r["out_plain"].as_u64().unwrap_or(0);
    }
    out
}

/// Gossiped copies of a query already handled, read on another of its topics,
/// over the federation: (ignored without a second signature check, checked).
fn query_copies(fed: &Federation) -> (u64, u64) {
    let mut out = (0, 0);
    for n in &fed.nodes {
        let m = metrics_of(n);
        out.0 += metric(&m, "tracenet_query_copies_total{checked=\"no\"}");
        out.1 += metric(&m, "tracenet_query_copies_total{checked=\"yes\"}");
    }
    out
}

/// A node's `/metrics` page.
fn metrics_of(n: &fed::FedNode) -> String {
    common::http_get(&n.dir, "/metrics", true).1
}

/// The value of the sample `name` (with its labels) in a `/metrics` page; 0
/// if absent.
fn metric(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The answers read from the network in the batches the requester flushed,
/// and those flushes.
fn answer_batches(n: &fed::FedNode) -> (u64, u64) {
    let m = metrics_of(n);
    (
        metric(&m, "tracenet_answers_flushed_total"),
        metric(&m, "tracenet_answer_flushes_total"),
    )
}

fn main() {
    // A plain holder of the one-process-per-node baseline (baseline.rs).
    baseline::serve_if_holder();
    let n_states = env_u64("TRACENET_BENCH_STATES", 10) as usize;
    if !(4..=STATES.len()).contains(&n_states) {
        eprintln!(
            "TRACENET_BENCH_STATES={n_states}: give 4 (the three-hop chains need them) to {} (the States this benchmark names)",
            STATES.len()
        );
        std::process::exit(2);
    }
    let per_state = env_u64("TRACENET_BENCH_RECORDS", 100_000);
    let n_traces = env_u64("TRACENET_BENCH_TRACES", 200) as usize;
    // Nodes log as deployed (info), unless TRACENET_BENCH_LOG=debug asks
    // for the tests' debug lines (what every run before 2026-12-01 paid).
    let debug_log = std::env::var("TRACENET_BENCH_LOG").is_ok_and(|v| v == "debug");
    if !debug_log {
        fed::log_as_deployed();
    }
    println!(
        "node logging: {}",
        if debug_log {
            "info,tracenet=debug (as the tests)"
        } else {
            "as deployed (info)"
        }
    );
    // Every State checks gossip as a first roster decides, `payload`
    // (proto-docs/NETWORK.md; set here with each node's own setting, the
    // same on the wire); TRACENET_BENCH_GOSSIP=strict for a federation whose
    // roster states none.
    let payload = std::env::var("TRACENET_BENCH_GOSSIP").map_or(true, |v| v != "strict");
    println!(
        "gossip validation: {}",
        if payload {
            "payload (as a first roster states)"
        } else {
            "strict (TRACENET_BENCH_GOSSIP=strict)"
        }
    );
    // The links every member keeps, as a first roster decides them (64:
    // a full mesh here, where holders do not relay a query read from its
    // requester itself); TRACENET_BENCH_LINKS=node for a roster that leaves
    // them to each node (every holder relays), or a number.
    let links = match std::env::var("TRACENET_BENCH_LINKS").as_deref() {
        Ok("node") => None,
        Ok(n) => Some(
            n.parse::<u32>()
                .expect("TRACENET_BENCH_LINKS: node or a number"),
        ),
        Err(_) => Some(tracenet::net::DEFAULT_PEER_CONNECTIONS as u32),
    };
    match links {
        Some(n) => println!("links kept: {n}, decided by the roster (as a first roster states)"),
        None => {
            println!("links kept: each node's own (TRACENET_BENCH_LINKS=node): every holder relays")
        }
    }
    println!(
        "load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let work = tempfile::tempdir().unwrap();

    // Registries: synthetic, one file per State, generated by the binary itself.
    let mut specs = vec![NodeSpec {
        state: "SE",
        bootstrap: true,
        records: vec![],
        in_roster: true,
        node_config: if payload {
            "gossip_validation = \"payload\""
        } else {
            ""
        },
        prefixes: &[],
        oprf_key_listed: true,
    }];
    let mut samples = Vec::new();
    for (i, state) in STATES.iter().take(n_states).enumerate() {
        let f = work.path().join(format!("{state}.jsonl"));
        common::ok(
            work.path(),
            &[
                "registry",
                "generate",
                "--state",
                state,
                "--count",
                &per_state.to_string(),
                "--seed",
                &i.to_string(),
                "--out",
                f.to_str().unwrap(),
            ],
        );
        let text = std::fs::read_to_string(&f).unwrap();
        let mut records: Vec<String> = text.lines().map(str::to_string).collect();
        records.extend(stories(i));
        for line in records.iter().step_by(997).take(n_traces / n_states + 1) {
            samples.push(serde_json::from_str::<Value>(line).unwrap());
        }
        // The limits a requesting State meets are lifted: every trace comes
        // from one State, and the blind passes send each weapon twice (at the
        // default 1,200 elements an hour, TRACENET_BENCH_TRACES above 600 ran
        // out of the holders' blind budget and the benchmark stopped).
        specs.push(NodeSpec {
            state,
            bootstrap: false,
            records,
            in_roster: true,
            node_config: if payload {
                "queries_per_minute = 1000000\nfuzzy_queries_per_minute = 1000000\nblind_evaluations_per_hour = 1000000\ntrace_timeout_secs = 10\ngossip_validation = \"payload\""
            } else {
                "queries_per_minute = 1000000\nfuzzy_queries_per_minute = 1000000\nblind_evaluations_per_hour = 1000000\ntrace_timeout_secs = 10"
            },
            prefixes: &[],
            oprf_key_listed: true,
        });
    }
    let t0 = Instant::now();
    let fed = match links {
        Some(n) => Federation::start_stating_links(specs, n),
        None => Federation::start(specs),
    };
    println!(
        "federation benchmark: {} States x {} records + 1 bootstrap, started in {:.1} s",
        n_states,
        per_state,
        t0.elapsed().as_secs_f64()
    );

    // Idle memory, after start-up settles.
    let rss: Vec<f64> = fed
        .nodes
        .iter()
        .filter_map(|n| n.child.as_ref())
        .map(|c| rss_mib(c.id()))
        .collect();
    let max_rss = rss.iter().cloned().fold(0.0, f64::max);

    let requester = &fed.nodes[1];
    let after = std::env::var("TRACENET_BENCH_AFTER").is_ok_and(|v| v == "1");
    let requester_pid = requester.child.as_ref().map(|c| c.id()).unwrap_or(0);
    // Let every subscription be seen before timing. The warm-up traces
    // say how many holders a trace asks (the most of them): the plain
    // baseline's size.
    let mut warm_asked: usize = 1;
    for s in samples.iter().take(3) {
        let m = &s["marking"];
        let t = trace(requester, m, Instant::now());
        warm_asked = warm_asked.max(t["asked"].as_array().map_or(1, Vec::len));
    }
    // Plain libp2p with each holder in a process of its own, as tracenet
    // runs one process per State here: kept running, and timed in blocks
    // between tracenet's, so that both are measured in the same minutes of
    // this shared machine (one after the other, the ratio moved with the
    // machine between them). The goals' ratios are to this one.
    let mut each_running =
        baseline::PlainFederation::start(baseline::Layout::ProcessEach, warm_asked, 420, 520);
    POSTED.with(|p| p.borrow_mut().clear());
    let gossip_before = gossip_in_total(&fed);
    let copies_before = query_copies(&fed);
    let requests_before = requests_sent(&fed);
    let batches_before = answer_batches(requester);
    let pids: Vec<u32> = fed
        .nodes
        .iter()
        .filter_map(|n| n.child.as_ref())
        .map(|c| c.id())
        .collect();
    let federation_cpu = || pids.iter().map(|p| baseline::cpu_secs_of(*p)).sum::<f64>();
    // What tracenet's blocks cost, summed over them (the plain blocks
    // between them left out): the requester's CPU and the federation's,
    // seconds; loopback packets and bytes; the machine's context switches;
    // the federation's thread switches (sled's I/O pool, all).
    let mut requester_cpu = 0.0;
    let mut all_cpu = 0.0;
    let mut lo = (0u64, 0u64);
    let mut cs = 0u64;
    let mut ts = (0u64, 0u64);
    let mut rtt = Vec::new();
    let mut holders = Vec::new();
    let window = Instant::now();
    let mut timeline = String::new();
    let timed: Vec<&Value> = samples.iter().take(n_traces).collect();
    // The weapon traced last: each block's untimed first trace repeats it,
    // not the block's first timed one (whose records it would warm).
    let mut again: &Value = &samples[2.min(samples.len() - 1)];
    for block in timed.chunks(INTERLEAVED_BLOCK) {
        // Untimed, as plain libp2p's block begins (`PlainFederation::timed`):
        // the first trace after the other federation's block wakes the nodes.
        let _ = trace(requester, &again["marking"], Instant::now());
        // Its POST is not one of the timed traces'.
        POSTED.with(|p| p.borrow_mut().pop());
        let (r0, f0) = (baseline::cpu_secs_of(requester_pid), federation_cpu());
        let (lo0, cs0, ts0) = (
            baseline::loopback(),
            baseline::context_switches(),
            thread_switches(&pids),
        );
        for s in block {
            let m = &s["marking"];
            let start = Instant::now();
            let t = trace(requester, m, start);
            rtt.push(start.elapsed().as_secs_f64() * 1e3);
            timeline.push_str(&format!(
                "{:.3} {:.3}\n",
                (start - window).as_secs_f64() * 1e3,
                rtt.last().unwrap()
            ));
            assert_eq!(t["status"], "answered", "{t:#}");
            holders.push(t["asked"].as_array().map(|a| a.len()).unwrap_or(0) as f64);
        }
        let (lo1, cs1, ts1) = (
            baseline::loopback(),
            baseline::context_switches(),
            thread_switches(&pids),
        );
        requester_cpu += baseline::cpu_secs_of(requester_pid) - r0;
        all_cpu += federation_cpu() - f0;
        lo.0 += lo1.0.saturating_sub(lo0.0);
        lo.1 += lo1.1.saturating_sub(lo0.1);
        cs += cs1.saturating_sub(cs0);
        ts.0 += ts1.0.saturating_sub(ts0.0);
        ts.1 += ts1.1.saturating_sub(ts0.1);
        each_running.timed(block.len());
        again = block[block.len() - 1];
    }
    // Its holder processes end here: the rest of the run is tracenet's.
    let each = each_running.figures();
    drop(each_running);
    // TRACENET_BENCH_TIMELINE=FILE: each timed trace's start (ms into the
    // window) and round trip (ms), a line each, to see when the slow ones fall.
    if let Ok(path) = std::env::var("TRACENET_BENCH_TIMELINE") {
        std::fs::write(&path, &timeline).unwrap();
    }
    let gossip_after = gossip_in_total(&fed);
    let copies_after = query_copies(&fed);
    let batches_after = answer_batches(requester);
    // What each trace costs the requester after its round trip: the timers
    // it leaves (the silent-holder check at 5 s, the deadline at 10 s) fire
    // after the window above. Waited out to a second past the last
    // deadline, less the idle rate of the 5 s after that (no timer left;
    // before the traces, start-up's own work is still settling). It also
    // takes in the timers of the three warm-up traces and of each block's
    // untimed first (divided among them all); and where the traces last
    // longer than 5 s (TRACENET_BENCH_TRACES above about 500, with the
    // plain blocks between them), the first ones' checks fire inside the
    // window above instead: counted if in one of tracenet's blocks, not if
    // in a plain one.
    let later = after.then(|| {
        let (c0, t0) = (baseline::cpu_secs_of(requester_pid), Instant::now());
        std::thread::sleep(Duration::from_secs(TRACE_TIMEOUT_SECS + 1));
        let secs = t0.elapsed().as_secs_f64();
        let spent = baseline::cpu_secs_of(requester_pid) - c0;
        let (c1, t1) = (baseline::cpu_secs_of(requester_pid), Instant::now());
        std::thread::sleep(Duration::from_secs(5));
        let idle = (baseline::cpu_secs_of(requester_pid) - c1) / t1.elapsed().as_secs_f64();
        (spent - idle * secs, idle, secs)
    });
    // The nodes' own counters (gossip, copies, requests, batches) run over
    // the whole window: the timed traces and each block's untimed first.
    let counted = (rtt.len() + timed.chunks(INTERLEAVED_BLOCK).count()) as f64;
    let per_trace = (gossip_after - gossip_before) as f64 / counted;
    let mean_holders = holders.iter().sum::<f64>() / holders.len() as f64;
    println!(
        "  trace round trip (send -> all answers in, through the control API): p50 {:.1} ms, p99 {:.1} ms over {} traces",
        pct(&mut rtt.clone(), 0.5),
        pct(&mut rtt, 0.99),
        holders.len()
    );
    println!(
        "  requester CPU: {:.2} ms per trace, {:.3} ms per answer (goal <= 0.3 ms per answer)",
        1e3 * requester_cpu / rtt.len() as f64,
        1e3 * requester_cpu / (rtt.len() as f64 * mean_holders.max(1.0))
    );
    if let Some((spent, idle, secs)) = later {
        // The timers of every trace sent: the timed ones, each block's
        // untimed first and the three warm-up traces.
        let per_trace = spent / (counted + 3.0);
        println!(
            "  requester CPU after the round trips, {secs:.0} s to past the last deadline (the traces' silent-holder checks and deadlines): {:.3} ms per trace beyond its idle {:.2}% of a core; with it {:.3} ms per answer",
            1e3 * per_trace,
            100.0 * idle,
            1e3 * (requester_cpu / rtt.len() as f64 + per_trace) / mean_holders.max(1.0)
        );
    }
    // The same round trip on plain rust-libp2p, same transport and sizes,
    // no tracenet logic, every node in one process: the cheapest plain
    // libp2p can be, measured after tracenet's traces (not between them, as
    // the process-each baseline the goals are measured against is).
    let holders_n = mean_holders.round().max(1.0) as usize;
    let plain = baseline::run(holders_n, rtt.len(), 420, 520);
    if holders_n != warm_asked {
        println!(
            "  note: the timed traces asked {mean_holders:.1} holders on average, the warm-up {warm_asked}: plain libp2p's interleaved baseline ran with {warm_asked}, so the ratios to it compare different sizes"
        );
    }
    let (p50, p99) = (pct(&mut rtt.clone(), 0.5), pct(&mut rtt.clone(), 0.99));
    println!(
        "  plain rust-libp2p, {holders_n} holders (gossip + request-response, signed and verified, in one process): p50 {:.1} ms, p99 {:.1} ms over {} traces",
        plain.p50_ms, plain.p99_ms, plain.traces
    );
    println!(
        "  ratio tracenet / plain libp2p: p50 {:.1}x, p99 {:.1}x",
        p50 / plain.p50_ms,
        p99 / plain.p99_ms
    );
    println!(
        "  plain rust-libp2p, {warm_asked} holders each in its own process (as tracenet's nodes here), timed in blocks of {INTERLEAVED_BLOCK} between tracenet's: p50 {:.1} ms, p99 {:.1} ms over {} traces, CPU {:.2} ms per trace, its requester {:.3} ms per answer; ratio tracenet / this: p50 {:.1}x, p99 {:.1}x, CPU {:.1}x",
        each.p50_ms,
        each.p99_ms,
        each.traces,
        each.cpu_ms_per_trace,
        each.own_cpu_ms_per_answer,
        p50 / each.p50_ms,
        p99 / each.p99_ms,
        1e3 * all_cpu / rtt.len() as f64 / each.cpu_ms_per_trace.max(1e-9)
    );
    let requester_ms_per_answer = 1e3 * requester_cpu / (rtt.len() as f64 * mean_holders.max(1.0));
    println!(
        "  requester CPU per answer against plain libp2p's requester, a process each: {:.1}x ({:.3} ms against {:.3} ms; the 0.3 ms goal is {:.1}x)",
        requester_ms_per_answer / each.own_cpu_ms_per_answer.max(1e-9),
        requester_ms_per_answer,
        each.own_cpu_ms_per_answer,
        0.3 / each.own_cpu_ms_per_answer.max(1e-9)
    );
    // On 2 cores the whole federation's CPU per trace bounds the round trip
    // of traces sent one after another; less noisy than the times.
    let fed_ms = 1e3 * all_cpu / rtt.len() as f64;
    println!(
        "  CPU per trace, every process of the federation: {fed_ms:.1} ms (requester {:.1} ms, each other node {:.2} ms on average); plain rust-libp2p: {:.2} ms ({:.1}x)",
        1e3 * requester_cpu / rtt.len() as f64,
        1e3 * (all_cpu - requester_cpu) / (rtt.len() as f64 * (pids.len().max(2) - 1) as f64),
        plain.cpu_ms_per_trace,
        fed_ms / plain.cpu_ms_per_trace.max(1e-9)
    );
    // Every byte between the nodes crosses the loopback interface: its
    // counters over the timed traces count what the federation sends,
    // duplicates included (the machine's other loopback traffic too: run it
    // on a quiet machine). Plain libp2p's over its timed traces, in one
    // process and with a process each.
    let (pk, kib) = (
        lo.0 as f64 / rtt.len() as f64,
        lo.1 as f64 / 1024.0 / rtt.len() as f64,
    );
    println!(
        "  loopback packets per trace: {pk:.0} ({kib:.1} KiB); plain rust-libp2p: {:.0} ({:.1} KiB) in one process, {:.0} ({:.1} KiB) a process each",
        plain.loopback_packets_per_trace,
        plain.loopback_kib_per_trace,
        each.loopback_packets_per_trace,
        each.loopback_kib_per_trace
    );
    // Thread hand-offs: the machine's context switches over the same spans.
    // A process per node costs switches one process does not (wake-ups
    // across runtimes): the process-each figure is the one to compare.
    println!(
        "  context switches per trace (whole machine): {:.0}; plain rust-libp2p: {:.0} in one process, {:.0} a process each",
        cs as f64 / rtt.len() as f64,
        plain.switches_per_trace,
        each.switches_per_trace
    );
    // sled 0.34's I/O pool wakes every waiting thread (7 kept) for each log
    // write a flush hands it; the others go back to sleep.
    println!(
        "    the federation's threads (summed over those alive when counted): {:.0} per trace, of which sled's I/O pool {:.0}",
        ts.1 as f64 / rtt.len() as f64,
        ts.0 as f64 / rtt.len() as f64
    );
    let mut posted = POSTED.with(|p| p.borrow().clone());
    println!(
        "    of which the signed trace stored and published (POST answered): p50 {:.1} ms",
        pct(&mut posted, 0.5)
    );
    println!(
        "  gossip messages delivered per trace: {per_trace:.1} for {mean_holders:.1} States asked on average (bound 2 x States + mesh overhead = {:.1} + overhead)",
        2.0 * mean_holders
    );
    let requests_after = requests_sent(&fed);
    println!(
        "  requests (answers) sent during the timed traces and each block's untimed first: {} on lasting streams, {} by request-response",
        requests_after.0 - requests_before.0,
        requests_after.1 - requests_before.1
    );
    println!(
        "  query copies read on a second topic, per trace: {:.2} ignored without a signature check, {:.2} checked (the query read first another way, or its bytes forgotten)",
        (copies_after.0 - copies_before.0) as f64 / counted,
        (copies_after.1 - copies_before.1) as f64 / counted
    );
    let (answers, batches) = (
        batches_after.0 - batches_before.0,
        batches_after.1 - batches_before.1,
    );
    println!(
        "  the requester filed {answers} answers read from the network in {batches} batches, one flush each: {:.2} answers per batch",
        answers as f64 / batches.max(1) as f64
    );
    println!("  idle resident memory per node: max {max_rss:.0} MiB (all: {rss:.0?})");

    // Blind traces of the same weapons. The first pass builds each holder's
    // filter of the prefix (from its registry) and fetches it: the cold
    // figure. The second pass, timed, finds the filters cached.
    let mut cold = Vec::new();
    for s in samples.iter().take(n_traces) {
        let start = Instant::now();
        let _ = trace_as(requester, &s["marking"], start, true);
        cold.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let mut blind_rtt = Vec::new();
    let mut sent_to = Vec::new();
    for s in samples.iter().take(n_traces) {
        let start = Instant::now();
        let t = trace_as(requester, &s["marking"], start, true);
        blind_rtt.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(t["status"], "answered", "{t:#}");
        sent_to.push(t["asked"].as_array().map(|a| a.len()).unwrap_or(0) as f64);
    }
    println!(
        "  blind trace round trip, filters cached: p50 {:.1} ms, p99 {:.1} ms over {} traces (clear, same weapons: p50 {:.1} ms, p99 {:.1} ms); the marking reached {:.1} States on average, against {mean_holders:.1} asked by clear traces",
        pct(&mut blind_rtt.clone(), 0.5),
        pct(&mut blind_rtt, 0.99),
        sent_to.len(),
        pct(&mut rtt.clone(), 0.5),
        pct(&mut rtt.clone(), 0.99),
        sent_to.iter().sum::<f64>() / sent_to.len() as f64,
    );
    println!(
        "    first blind trace of each weapon (holders build and serve their filter of the prefix): p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut cold.clone(), 0.5),
        pct(&mut cold, 0.99),
    );

    // Three-hop chains: made in DE, exported to NG, re-exported to FR, stolen there.
    let mut chain_ms = Vec::new();
    // The requester must not hold a part of the story itself.
    let requester = fed.nodes.last().unwrap();
    for k in 0..STORIES {
        let m = serde_json::json!({"manufacturer": "Carl Walther", "country": "DE", "serial": format!("ST{k:05}"), "imports": []});
        let start = Instant::now();
        let t = trace(requester, &m, start);
        chain_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let c = &t["custody"];
        assert_eq!(c["chain"].as_array().map(|a| a.len()), Some(6), "{c:#}");
        assert_eq!(c["diversion"]["last_lawful_state"], "FR", "{c:#}");
    }
    println!(
        "  three-hop chain (DE -> NG -> FR, stolen in FR) resolved to its point of diversion: p50 {:.1} ms over {} traces",
        pct(&mut chain_ms, 0.5),
        STORIES
    );

    let first = work.path().join(format!("{}.jsonl", STATES[0]));
    let own: Vec<Value> = samples
        .iter()
        .take(n_traces / n_states + 1)
        .cloned()
        .collect();
    let (qps, hits) = answering_pipeline(&first, &own);
    println!(
        "  one node's answering pipeline (verify, freshness, lookup in {per_state} records, sign; no network): {qps:.0} queries/s ({hits} of 5000 hits)"
    );
}

/// Sends a trace through the requester's control API and waits for every answer.
fn trace(n: &fed::FedNode, m: &Value, start: Instant) -> Value {
    trace_as(n, m, start, false)
}

/// [`trace`], blind or clear.
fn trace_as(n: &fed::FedNode, m: &Value, start: Instant, blind: bool) -> Value {
    let s = |k: &str| m[k].as_str().unwrap().to_string();
    let req = TraceRequest {
        maker: s("manufacturer"),
        factory_code: None,
        country: s("country"),
        serial: s("serial"),
        imports: m["imports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["country"].as_str().unwrap().to_string())
            .collect(),
        category: "pistol".into(),
        calibre: None,
        ground: "seized_in_crime".into(),
        intended_use: "criminal_investigation".into(),
        urgent: false,
        timeout_secs: Some(TRACE_TIMEOUT_SECS),
        case: None,
        note: None,
        force: false,
        blind: Some(blind),
    };
    let client = ApiClient::from_data_dir(&n.dir).unwrap();
    RT.with(|rt| {
        rt.block_on(async {
            let sent: Value = client.post("/v1/traces", &req).await.unwrap();
            POSTED.with(|p| p.borrow_mut().push(start.elapsed().as_secs_f64() * 1e3));
            let id = sent["id"].as_str().unwrap().to_string();
            // Replies once the trace is settled (every asked State answered).
            loop {
                let t: Value = client
                    .get(&format!("/v1/traces/{id}?wait_ms=20000&answers=1000000"))
                    .await
                    .unwrap();
                if t["status"] != "sent" && t["status"] != "acknowledged" {
                    return t;
                }
            }
        })
    })
}

/// Traces timed in a row before plain libp2p's baseline times as many
/// (`baseline::PlainFederation::timed`): small enough that both sample the
/// same minutes of the machine. Each block of either begins with one
/// untimed trace, since the federations sit idle in turn.
const INTERLEAVED_BLOCK: usize = 25;

/// The deadline each benchmark trace is sent with, seconds.
const TRACE_TIMEOUT_SECS: u64 = 10;

thread_local! {
    static POSTED: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    static RT: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
}

/// One node's answering pipeline, in process: verify a signed query, check its
/// freshness and replay, look the weapon up in a registry, project and sign the
/// answer. The network is not included.
fn answering_pipeline(records_file: &std::path::Path, samples: &[Value]) -> (f64, usize) {
    use tracenet::identity::NodeKey;
    use tracenet::marking::{MakerTable, Marking};
    use tracenet::node::answer::{AnswerPolicy, answer};
    use tracenet::protocol::*;
    let dir = tempfile::tempdir().unwrap();
    let db = tracenet::store::open_db(&dir.path().join("db"), &Default::default()).unwrap();
    let reg = tracenet::registry::Registry::open(&db, MakerTable::built_in()).unwrap();
    tracenet::registry::import::import_file(&reg, records_file, &Default::default(), &mut |_| {})
        .unwrap();
    let requester = NodeKey::generate().unwrap();
    let responder = NodeKey::generate().unwrap();
    let now = tracenet::node::unix_now();
    let queries: Vec<Vec<u8>> = samples
        .iter()
        .cycle()
        .take(5000)
        .map(|s| {
            let marking: Marking = serde_json::from_value(s["marking"].clone()).unwrap();
            let q = TraceQuery {
                id: QueryId::random().unwrap(),
                requester: Party {
                    state: tracenet::model::CountryCode::parse("KE").unwrap(),
                    key: requester.public_key(),
                },
                issued_at: now,
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
            requester.sign(q).unwrap().into_parts().0
        })
        .collect();
    struct OneMember(PublicKey, tracenet::model::CountryCode);
    impl Vouching for OneMember {
        fn state_of(&self, key: &PublicKey) -> Option<tracenet::model::CountryCode> {
            (*key == self.0).then_some(self.1)
        }
        fn valid_until(&self) -> u64 {
            u64::MAX
        }
    }
    let ke = tracenet::model::CountryCode::parse("KE").unwrap();
    let roster = OneMember(requester.public_key(), ke);
    let rules = Rules::default();
    let mut guard = ReplayQuotas::new(100_000);
    let policy = AnswerPolicy::default();
    let start = Instant::now();
    let mut hits = 0;
    for bytes in &queries {
        let (q, expires) = accept::query(bytes, accept::Via::Gossip, now, &rules, &roster).unwrap();
        guard.remember(ke, q.body().id, expires, now).unwrap();
        let (outcome, found) = answer(&reg, q.body(), &policy).unwrap();
        hits += (found.matched > 0) as usize;
        let a = TraceAnswer {
            query: q.digest(),
            responder: Party {
                state: tracenet::model::CountryCode::parse("DE").unwrap(),
                key: responder.public_key(),
            },
            answered_at: now,
            outcome: outcome.unwrap(),
            makers_version: Some(0),
        };
        std::hint::black_box(responder.sign(a).unwrap());
    }
    (queries.len() as f64 / start.elapsed().as_secs_f64(), hits)
}

/// Context switches of the threads of `pids` alive now, summed: (those of
/// sled's I/O thread pool, named `sled-io-*`; all).
fn thread_switches(pids: &[u32]) -> (u64, u64) {
    let mut out = (0, 0);
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            let n: u64 = status
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                })
                .filter_map(|v| v.trim().parse::<u64>().ok())
                .sum();
            if comm.starts_with("sled-io") {
                out.0 += n;
            }
            out.1 += n;
        }
    }
    out
}
