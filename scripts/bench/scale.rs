//! Federation scale benchmark (issue 16): 10, 50 and 200 State nodes, each
//! with a small registry, run as few processes as this machine allows (host
//! processes of up to TRACENET_BENCH_PER_HOST nodes each, default 50: a full
//! mesh of 200 nodes needs 39,800 sockets, more than one process may open
//! here). Prints, per size: start-up time, the trace round trip to 5 holders
//! and to 50 holders beside plain rust-libp2p measured in the same run, idle
//! CPU and resident memory per node.
//!
//! Run with `scripts/bench-scale.sh` (release). Sizes from
//! TRACENET_BENCH_SCALE (default `10,50,200`); traces per measure from
//! TRACENET_BENCH_TRACES (default 50); idle window TRACENET_BENCH_IDLE_SECS
//! (default 20); reads of a settled trace's view timed after each round
//! trip measure, TRACENET_BENCH_VIEWS (default 200; 0 skips them); the
//! links every member keeps, stated by the roster as a
//! first `tracenet roster new` does (and set as each node's
//! `node.peer_connections` too), from TRACENET_BENCH_PEER_CONNECTIONS
//! (default tracenet's, 64: a full mesh up to 65 States, links bounded above;
//! 48 for links bounded at 50 States, 256 for a full mesh at 200; 4 to 512).

// Only the one-process layout: its tracenet nodes share a few host processes.
#[allow(dead_code)]
mod baseline;
#[path = "../../integration/common/mod.rs"]
mod common;
#[path = "../../integration/fed/mod.rs"]
mod fed;

mod machine;
use machine::env_u64;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracenet::api::ApiClient;
use tracenet::api::routes::TraceRequest;
use tracenet::identity::NodeKey;
use tracenet::model::{CountryCode, Date};
use tracenet::roster::{GossipValidation, Member, Role, RosterBody, RosterFile};

/// The allocator of the `tracenet` binary (src/main.rs): the host processes
/// run tracenet's nodes, so their figures are those of the program a tracing
/// unit runs. The plain-libp2p baseline of the same run shares it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in a host process: the file listing the data directories it runs.
const HOST_ENV: &str = "TRACENET_BENCH_HOST";

/// The links every member keeps, stated by the roster and set as every
/// node's `node.peer_connections`: TRACENET_BENCH_PEER_CONNECTIONS, default
/// tracenet's own (set it above the size for a full mesh), within what a
/// roster may state.
fn peer_connections() -> u64 {
    let n = env_u64(
        "TRACENET_BENCH_PEER_CONNECTIONS",
        tracenet::net::DEFAULT_PEER_CONNECTIONS as u64,
    );
    if let Err(e) = u32::try_from(n)
        .map_err(|e| e.to_string())
        .and_then(tracenet::roster::check_peer_connections)
    {
        panic!("TRACENET_BENCH_PEER_CONNECTIONS = {n}: {e}");
    }
    n
}

/// How every node checks gossip: as a first roster states, `payload`;
/// TRACENET_BENCH_GOSSIP=strict for a roster from before the setting.
fn gossip_validation() -> GossipValidation {
    match std::env::var("TRACENET_BENCH_GOSSIP").as_deref() {
        Ok("strict") => GossipValidation::Strict,
        _ => GossipValidation::Payload,
    }
}

fn main() {
    // As the `tracenet` binary tunes it (src/allocator.rs).
    tracenet::allocator::return_freed_pages_at_once();
    if let Ok(list) = std::env::var(HOST_ENV) {
        host(Path::new(&list));
        return;
    }
    let sizes: Vec<usize> = std::env::var("TRACENET_BENCH_SCALE")
        .unwrap_or_else(|_| "10,50,200".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "gossip validation stated in the roster: {}",
        gossip_validation()
    );
    println!(
        "federation scale benchmark: {sizes:?} States; load average at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for n in sizes {
        one_size(n);
    }
}

/// Runs the nodes of the data directories listed in `list` in this process,
/// each with its control API, until killed.
fn host(list: &Path) {
    let dirs: Vec<PathBuf> = std::fs::read_to_string(list)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        for d in dirs {
            let cfg =
                tracenet::config::Config::load(&tracenet::config::Config::path_in(&d)).unwrap();
            let api = tracenet::api::ApiOptions::from_settings(&cfg.node);
            let (node, events) = tracenet::node::Node::start(&d, cfg).await.unwrap();
            tracenet::api::serve(node.clone(), &api, &d, None)
                .await
                .unwrap();
            tokio::spawn(async move {
                node.run_events(events, std::future::pending::<()>()).await;
            });
        }
        std::future::pending::<()>().await;
    });
}

/// The first `n` current ISO 3166 codes (no former States: their traces
/// would also go to their successors).
fn states(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            let s = String::from_utf8(vec![a, b]).unwrap();
            if let Ok(c) = CountryCode::parse(&s)
                && !c.is_former()
                && c.successors().is_empty()
                && c.predecessor().is_none()
            {
                out.push(s);
            }
        }
    }
    assert!(out.len() >= n, "only {} country codes", out.len());
    out.truncate(n);
    out
}

struct Prepared {
    _root: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    peers: Vec<String>,
}

/// Initialises `n` data directories, each with a registry of a few hundred
/// records: the first 5 hold the Walther serials SC5-*, the first 50 the
/// Beretta serials SC50-*; every one some records of its own.
fn prepare(n: usize, traces: usize) -> Prepared {
    let root = tempfile::tempdir().unwrap();
    let anchor = NodeKey::generate().unwrap();
    let codes = states(n);
    let mut dirs = Vec::new();
    let mut peers = Vec::new();
    let mut keys = Vec::new();
    let mut oprf_keys = Vec::new();
    let mut ports = Vec::new();
    for s in &codes {
        let dir = root.path().join(s);
        let init = common::json(&dir, &["init", "--state", s]);
        peers.push(init["peer_id"].as_str().unwrap().to_string());
        keys.push(init["public_key"].as_str().unwrap().to_string());
        oprf_keys.push(init["oprf_key"].as_str().unwrap().parse().unwrap());
        // Below the ephemeral range: with hundreds of nodes starting, a
        // port picked from it is often taken by an outgoing connection.
        ports.push(fed::free_port());
        dirs.push(dir);
    }
    let today = Date::today();
    // The holders declare their prefixes, as a regional organisation's
    // roster does: with links bounded, a requester reaches the holders it
    // keeps no link to through the roster, not through their subscriptions.
    let members = codes
        .iter()
        .zip(&keys)
        .zip(&ports)
        .zip(&oprf_keys)
        .enumerate()
        .map(|(i, (((s, k), p), o))| Member {
            state: CountryCode::parse(s).unwrap(),
            name: format!("Test State {s}"),
            key: tracenet::identity::parse_key(k).unwrap(),
            role: Role::Member,
            prefixes: [(i < 5, "DE/CARLWALTHER"), (i < 50, "IT/BERETTA")]
                .iter()
                .filter(|(holds, _)| *holds)
                .map(|(_, x)| x.parse().unwrap())
                .collect(),
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{p}")],
            oprf_key: Some(*o),
        })
        .collect();
    let body = RosterBody {
        version: 1,
        valid_from: Date::from_days(today.to_days() - 1).unwrap(),
        valid_until: Date::from_days(today.to_days() + 30).unwrap(),
        members,
        gossip_validation: Some(gossip_validation()),
        // As a first `tracenet roster new` states it: every member plans the
        // same links, and in a full mesh holders do not relay the
        // requester's own copy.
        peer_connections: Some(peer_connections() as u32),
        // As a first `tracenet roster new` states it: where the links are
        // bounded, queries name the States served and holders relay only
        // toward others (TRACENET_BENCH_SERVED_LISTS=0: every holder relays).
        served_lists: std::env::var("TRACENET_BENCH_SERVED_LISTS").map_or(true, |v| v != "0"),
    };
    let mut file = RosterFile::new(&body).unwrap();
    file.sign(anchor.signing_key()).unwrap();
    let roster = file.to_json();
    let event = r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#;
    for (i, ((dir, s), port)) in dirs.iter().zip(&codes).zip(&ports).enumerate() {
        use std::io::Write;
        let mut cfg = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("tracenet.toml"))
            .unwrap();
        write!(
            cfg,
            "\n[node]\nrole = \"member\"\nlisten = [\"/ip4/127.0.0.1/tcp/{port}\"]\napi_listen = \"127.0.0.1:0\"\nqueries_per_minute = 1000000\nfuzzy_queries_per_minute = 1000000\ntrace_timeout_secs = 30\npeer_connections = {}\n\n[trust]\nanchors = [\"{}\"]\nthreshold = 1\n",
            peer_connections(),
            anchor.public_key().to_base64()
        )
        .unwrap();
        std::fs::write(dir.join("roster.json"), &roster).unwrap();
        let mut records = Vec::new();
        for k in 0..200 {
            records.push(fed::record(
                &format!("{s}-OWN{k}"),
                "Glock",
                "AT",
                &format!("{s}{k:05}"),
                &[],
                event,
            ));
        }
        for k in 0..traces + 5 {
            if i < 5 {
                let serial = format!("SCA{k:05}");
                records.push(fed::record(
                    &format!("{s}-5-{k}"),
                    "Carl Walther",
                    "DE",
                    &serial,
                    &[],
                    event,
                ));
            }
            if i < 50 {
                let serial = format!("SCB{k:05}");
                records.push(fed::record(
                    &format!("{s}-50-{k}"),
                    "Beretta",
                    "IT",
                    &serial,
                    &[],
                    event,
                ));
            }
        }
        let f = dir.join("records.jsonl");
        std::fs::write(&f, records.join("\n")).unwrap();
        common::ok(
            dir,
            &["registry", "import", "--strict", f.to_str().unwrap()],
        );
    }
    Prepared {
        _root: root,
        dirs,
        peers,
    }
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime 15: indexes 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
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

thread_local! {
    static RT: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
}

fn status(dir: &Path) -> Option<Value> {
    let client = ApiClient::from_data_dir(dir).ok()?;
    RT.with(|rt| rt.block_on(async { client.get::<Value>("/v1/status").await.ok() }))
}

/// Sends a trace from `dir`'s node and waits until it is settled; the
/// number of States asked and the answers.
/// How many queries the nodes in `dirs` answered a second time (audit rule
/// `answered_again`: a directed query for one they had answered by gossip,
/// or the reverse).
fn answered_again(dirs: &[PathBuf]) -> usize {
    dirs.iter()
        .map(|d| {
            let client = ApiClient::from_data_dir(d).unwrap();
            let entries: Value =
                RT.with(|rt| rt.block_on(async { client.get("/v1/audit").await.unwrap() }));
            entries.as_array().map_or(0, |v| {
                v.iter().filter(|e| e["rule"] == "answered_again").count()
            })
        })
        .sum()
}

/// `GET /v1/traces/ID` of a settled trace `reads` times from the node in
/// `dir`, one after another on one connection: each read's time from the
/// request to its body parsed, in ms.
fn view_times(dir: &Path, id: &str, reads: usize) -> Vec<f64> {
    let client = ApiClient::from_data_dir(dir).unwrap();
    RT.with(|rt| {
        rt.block_on(async {
            let mut out = Vec::with_capacity(reads);
            for _ in 0..reads {
                let start = Instant::now();
                let _: Value = client.get(&format!("/v1/traces/{id}")).await.unwrap();
                out.push(start.elapsed().as_secs_f64() * 1e3);
            }
            out
        })
    })
}

/// Sends a clear trace from the node in `dir` and waits until it settles:
/// (holders asked, answers, status, trace id).
fn trace(dir: &Path, maker: &str, country: &str, serial: &str) -> (usize, usize, String, String) {
    let req = TraceRequest {
        maker: maker.into(),
        factory_code: None,
        country: country.into(),
        serial: serial.into(),
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
        blind: Some(false),
    };
    let client = ApiClient::from_data_dir(dir).unwrap();
    RT.with(|rt| {
        rt.block_on(async {
            let sent: Value = client.post("/v1/traces", &req).await.unwrap();
            let id = sent["id"].as_str().unwrap().to_string();
            loop {
                let t: Value = client
                    .get(&format!("/v1/traces/{id}?wait_ms=30000&answers=1000000"))
                    .await
                    .unwrap();
                if t["status"] != "sent" && t["status"] != "acknowledged" {
                    let asked = t["asked"].as_array().map_or(0, Vec::len);
                    let answers = t["answers"].as_array().map_or(0, Vec::len);
                    return (
                        asked,
                        answers,
                        t["status"].as_str().unwrap_or("").to_string(),
                        id,
                    );
                }
            }
        })
    })
}

fn one_size(n: usize) {
    let traces = env_u64("TRACENET_BENCH_TRACES", 50) as usize;
    let per_host = env_u64("TRACENET_BENCH_PER_HOST", 50).max(1) as usize;
    let idle_secs = env_u64("TRACENET_BENCH_IDLE_SECS", 20);
    let t0 = Instant::now();
    let p = prepare(n, traces);
    let prepared = t0.elapsed();
    let exe = std::env::current_exe().unwrap();
    let mut hosts: Vec<Child> = Vec::new();
    for (h, chunk) in p.dirs.chunks(per_host).enumerate() {
        let list = p._root.path().join(format!("host-{h}.txt"));
        let text: Vec<String> = chunk.iter().map(|d| d.display().to_string()).collect();
        std::fs::write(&list, text.join("\n")).unwrap();
        let log = std::fs::File::create(p._root.path().join(format!("host-{h}.log"))).unwrap();
        hosts.push(
            Command::new(&exe)
                .env(HOST_ENV, &list)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }
    let t1 = Instant::now();
    // Every node connected to the members it keeps links to: all of them
    // in a federation within the links kept, else the planned ones.
    let mut kept = Vec::new();
    let mut bounded = false;
    for (i, d) in p.dirs.iter().enumerate() {
        let k = fed::wait_for(
            &format!("node {i} of {n} to connect to the members it keeps links to"),
            Duration::from_secs(60 + 2 * n as u64),
            || {
                let st = status(d)?;
                let list = |k: &str| fed::net_list(&st, k);
                let connected = list("connected")?;
                let b = st["net"]["links_bounded"] == true;
                let want = if b { list("kept")?.len() } else { n - 1 };
                let ok = if b {
                    list("kept")?.iter().all(|p| connected.contains(p))
                } else {
                    connected.len() + 1 >= n
                };
                ok.then_some((want, b))
            },
        );
        kept.push(k.0);
        bounded |= k.1;
    }
    let connected_in = t1.elapsed();
    eprintln!("  connected");
    kept.sort_unstable();
    println!(
        "\n{n} States in {} host process(es), links kept (the roster's peer_connections) = {}: prepared in {:.1} s, every node connected to {} in {:.1} s (links per node: min {}, median {}, max {})",
        hosts.len(),
        peer_connections(),
        prepared.as_secs_f64(),
        if bounded {
            "the members it keeps links to"
        } else {
            "every other member"
        },
        connected_in.as_secs_f64(),
        kept[0],
        kept[kept.len() / 2],
        kept[kept.len() - 1]
    );
    let _ = &p.peers;

    // Idle: CPU and memory per node, the federation doing nothing.
    std::thread::sleep(Duration::from_secs(5));
    let before: f64 = hosts.iter().map(|c| cpu_secs(c.id())).sum();
    let idle_start = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let after: f64 = hosts.iter().map(|c| cpu_secs(c.id())).sum();
    let wall = idle_start.elapsed().as_secs_f64();
    let rss: f64 = hosts.iter().map(|c| rss_mib(c.id())).sum();
    println!(
        "  idle: {:.2}% of one core per node ({:.1}% for the federation) over {wall:.0} s; resident memory {:.1} MiB per node ({rss:.0} MiB in all)",
        100.0 * (after - before) / wall / n as f64,
        100.0 * (after - before) / wall,
        rss / n as f64
    );

    eprintln!("  measuring round trips");
    // Round trips: from the last node (which holds neither marking when n > 50).
    let requester = p.dirs.last().unwrap();
    for (label, maker, country, prefix) in [
        ("5 holders", "Carl Walther", "DE", "SCA"),
        ("50 holders", "Beretta", "IT", "SCB"),
    ] {
        let _ = trace(
            requester,
            maker,
            country,
            &format!("{prefix}{:05}", traces + 4),
        );
        let holders = &p.dirs[..if prefix == "SCA" { 5 } else { 50 }.min(n - 1)];
        let again0 = answered_again(holders);
        let cpu0: f64 = hosts.iter().map(|c| cpu_secs(c.id())).sum();
        let mut rtt = Vec::new();
        let mut asked = 0;
        let mut last = String::new();
        for k in 0..traces {
            let start = Instant::now();
            let (a, answers, st, id) = trace(requester, maker, country, &format!("{prefix}{k:05}"));
            rtt.push(start.elapsed().as_secs_f64() * 1e3);
            assert_eq!(st, "answered", "{label}: {a} asked, {answers} answers");
            asked = a;
            last = id;
        }
        let cpu = hosts.iter().map(|c| cpu_secs(c.id())).sum::<f64>() - cpu0;
        let again = answered_again(holders) - again0;
        // The view an officer or integrator reads of a settled trace: what
        // it costs must not grow with the roster (its judge and the
        // rosters its answers are vouched by share one snapshot).
        let reads = env_u64("TRACENET_BENCH_VIEWS", 200) as usize;
        let view_cpu0: f64 = hosts.iter().map(|c| cpu_secs(c.id())).sum();
        let views = view_times(requester, &last, reads);
        let view_cpu = hosts.iter().map(|c| cpu_secs(c.id())).sum::<f64>() - view_cpu0;
        eprintln!("  {label}: tracenet done; plain libp2p now");
        let plain = baseline::run(asked.max(1), traces, 420, 520);
        let (p50, p99) = (pct(&mut rtt.clone(), 0.5), pct(&mut rtt, 0.99));
        println!(
            "  trace round trip, {label} ({asked} asked): p50 {p50:.1} ms, p99 {p99:.1} ms over {traces} traces; federation CPU {:.1} ms per trace, {:.2} ms per answer",
            1e3 * cpu / traces as f64,
            1e3 * cpu / (traces * asked.max(1)) as f64
        );
        if !views.is_empty() {
            println!(
                "    the settled trace's view (GET /v1/traces/ID, {asked} asked, {n} States): p50 {:.2} ms, p99 {:.2} ms over {} reads; host processes' CPU {:.2} ms per read (their idle nodes included)",
                pct(&mut views.clone(), 0.5),
                pct(&mut views.clone(), 0.99),
                views.len(),
                1e3 * view_cpu / views.len() as f64
            );
        }
        println!(
            "    queries answered a second time by their holders (a directed query after the gossiped one, or the reverse): {:.1} per trace",
            again as f64 / traces as f64
        );
        println!(
            "    plain rust-libp2p, {asked} holders, same run: p50 {:.1} ms, p99 {:.1} ms over {} traces, CPU {:.1} ms per trace; ratio p50 {:.1}x, p99 {:.1}x, CPU {:.1}x",
            plain.p50_ms,
            plain.p99_ms,
            plain.traces,
            plain.cpu_ms_per_trace,
            p50 / plain.p50_ms,
            p99 / plain.p99_ms,
            cpu / traces as f64 * 1e3 / plain.cpu_ms_per_trace.max(1e-9)
        );
    }
    for mut h in hosts {
        let _ = h.kill();
        let _ = h.wait();
    }
}
