//! The control API under abuse and its status codes, against a real node:
//! idle connections on a node short of file descriptors must neither make it
//! spin nor fill its log, and must be closed after the header timeout; an
//! unknown inbox item is a 404.

mod common;
mod fed;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fed::*;

/// The node's descriptor limit: a few dozen above what it uses at rest (about
/// 15), far below the connections the test opens.
const NOFILE: u32 = 64;
const IDLE_CONNECTIONS: usize = 200;

/// A one-node federation whose API closes a silent connection after 1 s.
fn one_node() -> Federation {
    Federation::start(vec![NodeSpec {
        node_config: "api_header_timeout_secs = 1",
        ..NodeSpec::member("DE", Vec::new())
    }])
}

/// Restarts the node with at most `NOFILE` open descriptors; returns its pid.
fn relaunch_short_of_descriptors(n: &mut FedNode) -> u32 {
    n.kill();
    let _ = std::fs::remove_file(n.dir.join("api.addr"));
    let log = std::fs::File::create(n.dir.join("node.log")).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {NOFILE} && exec \"$0\" \"$@\""))
        .arg(common::bin())
        .args([
            "--data-dir",
            path_str(&n.dir),
            "node",
            "run",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info,tracenet=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start tracenet node");
    let pid = child.id();
    n.child = Some(child);
    let dir = n.dir.clone();
    wait_for("the control API", Duration::from_secs(30), || {
        common::run(&dir, &["--json", "status"])
            .status
            .success()
            .then_some(())
    });
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        nofile.split_whitespace().any(|w| w == NOFILE.to_string()),
        "{nofile}"
    );
    pid
}

fn api_addr(n: &FedNode) -> SocketAddr {
    std::fs::read_to_string(n.dir.join("api.addr"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// One request on a fresh connection; the status and body, or None if the
/// node did not answer within a few seconds.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Whether the server closed `s` (end of stream or reset) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn idle_connections_on_a_node_short_of_descriptors_neither_spin_nor_stick() {
    let mut fed = one_node();
    let pid = relaunch_short_of_descriptors(&mut fed.nodes[0]);
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    assert_eq!(
        call(addr, "GET", "/v1/health", None, "").map(|r| r.0),
        Some(200)
    );
    let lines_before = n.log().lines().count();
    let cpu_before = cpu_ticks(pid);
    let start = Instant::now();

    // More idle connections than the node has descriptors: accepting fails
    // (EMFILE) until the header timeout closes the ones it holds.
    let mut idle = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    assert!(
        idle.len() >= 100,
        "only {} connections could be opened",
        idle.len()
    );

    // Every connection that never sends a request head is closed by the node,
    // after the 1 s header timeout, not held for ever.
    let deadline = start + Duration::from_secs(60);
    for (i, s) in idle.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_by_server(s, left.max(Duration::from_millis(1))),
            "idle connection {i} of {} still open after {:?}",
            IDLE_CONNECTIONS,
            start.elapsed()
        );
    }
    assert!(start.elapsed() >= Duration::from_secs(1));
    drop(idle);

    // The API answers again.
    let health = wait_for("/v1/health to answer", Duration::from_secs(15), || {
        call(addr, "GET", "/v1/health", None, "")
    });
    assert_eq!(health.0, 200, "{}", health.1);
    let elapsed = start.elapsed();

    // No spinning: the accept loop paused between failures, and said so in a
    // few lines, not one per failure (the loop it replaced wrote millions).
    let log = n.log();
    let added: Vec<&str> = log.lines().skip(lines_before).collect();
    assert!(
        added.len() <= 10,
        "{} log lines while refusing connections; the first: {:?}",
        added.len(),
        &added[..added.len().min(5)]
    );
    assert!(
        added
            .iter()
            .any(|l| l.contains("cannot accept connections")),
        "the failed accepts are not in the log: {added:?}"
    );
    // Clock ticks are 1/100 s on Linux; a spinning loop burns about one core.
    let cpu = Duration::from_millis((cpu_ticks(pid) - cpu_before) * 10);
    eprintln!(
        "{IDLE_CONNECTIONS} idle connections, descriptor limit {NOFILE}: all closed and health \
         answering after {elapsed:?}, node CPU {cpu:?}, {} log lines",
        added.len()
    );
    assert!(
        cpu < elapsed / 2,
        "the node used {cpu:?} of CPU in {elapsed:?}"
    );
}

#[test]
fn deciding_an_unknown_inbox_item_is_not_found() {
    let fed = one_node();
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    let token = Some(token.trim());
    for (path, body) in [
        ("/v1/inbox/no-such-item/approve", "{}"),
        ("/v1/inbox/no-such-item/refuse", r#"{"reason":"other"}"#),
    ] {
        let (status, body) = call(addr, "POST", path, token, body).expect("an answer");
        assert_eq!(status, 404, "POST {path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("no inbox item no-such-item"),
            "{body}"
        );
    }
    // The CLI says the same, with its runtime-error exit code, of an id of
    // the right shape; one of another shape is a usage error before any
    // request (it could name another endpoint).
    let o = common::run(&n.dir, &["inbox", "approve", "00000000000000aa"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("no inbox item")
            && common::stderr(&o).contains("16 hexadecimal digits"),
        "{}",
        common::stderr(&o)
    );
    let o = common::run(&n.dir, &["inbox", "approve", "no-such-item"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("not an inbox item's id"),
        "{}",
        common::stderr(&o)
    );
}

/// `POST /v1/registry/export`, which had the node write a file at any path
/// a client named, is gone: a hostile trial made it replace the node's own
/// configuration (by racing a folder swap against its checks). The node
/// streams the registry (`GET /v1/registry/export`) and the client writes
/// the file with its own rights, as `tracenet registry export FILE` does.
#[test]
fn the_api_never_writes_a_file_a_client_names() {
    let fed = one_node();
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    let token = Some(token.trim());
    let config = n.dir.join("tracenet.toml");
    let before = std::fs::read(&config).unwrap();
    let body = serde_json::json!({"file": config, "force": true}).to_string();
    let (status, reply) =
        call(addr, "POST", "/v1/registry/export", token, &body).expect("an answer");
    assert_eq!(status, 405, "{reply}");
    assert_eq!(std::fs::read(&config).unwrap(), before);
}

/// HEAD reads an endpoint's parameters as GET does (it refused them all).
#[test]
fn head_takes_the_parameters_get_takes() {
    let fed = one_node();
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    let token = Some(token.trim());
    let (status, _) = call(addr, "HEAD", "/v1/traces?limit=1", token, "").expect("an answer");
    assert_eq!(status, 200);
    let (status, _) = call(addr, "HEAD", "/v1/traces?lmit=1", token, "").expect("an answer");
    assert_eq!(status, 400);
}

/// A relative path given to `POST /v1/registry/import` was read from the
/// node's working directory (a helper's trial imported the live registry's
/// file of the same name instead of its own): it is a 400 naming the field.
#[test]
fn the_api_imports_only_absolute_paths() {
    let fed = one_node();
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    let token = Some(token.trim());
    let import = |body: serde_json::Value| {
        call(
            addr,
            "POST",
            "/v1/registry/import",
            token,
            &body.to_string(),
        )
        .expect("an answer")
    };
    for body in [
        serde_json::json!({"file": "fr-weapons.csv"}),
        serde_json::json!({"file": n.dir.join("w.csv"), "events": "e.csv"}),
    ] {
        let (status, reply) = import(body);
        assert_eq!(status, 400, "{reply}");
        assert!(
            reply.contains("is a relative path") && reply.contains("absolute path"),
            "{reply}"
        );
    }
    // Its own key, read as a CSV in a one-byte encoding, came back whole in
    // the error's "unknown column" (a helper's hostile trial): refused
    // before a byte is read, the reply names the file and no column.
    let (status, reply) = import(serde_json::json!({
        "file": n.dir.join("node.key"), "csv": true, "delimiter": "tab", "encoding": "windows-1252"
    }));
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("private file"), "{reply}");
    assert!(!reply.contains("column"), "{reply}");

    // `/dev/stdin`, `/dev/fd/N`, `/proc/self/...` name the node's own
    // descriptors, not the client's: a node started with a file as its
    // standard input imported that file for `registry import -` (a
    // re-check).
    for file in ["/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"] {
        let (status, reply) = import(serde_json::json!({"file": file, "csv": false}));
        assert_eq!(status, 400, "{file}: {reply}");
        assert!(
            reply.contains("names the node's own descriptors"),
            "{file}: {reply}"
        );
    }
    let mut child = Command::new(common::bin())
        .arg("--data-dir")
        .arg(&n.dir)
        .args(["registry", "import", "-", "--format", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("standard input: the running node imports a regular file it opens itself"),
        "{err}"
    );

    // A file whose name is not UTF-8, imported with the CLI through the
    // running node: the API's JSON cannot carry the name, and the CLI says
    // so and what to do (it was the client's "cannot encode").
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let latin1 = n.dir.join(std::ffi::OsStr::from_bytes(b"donn\xe9es.jsonl"));
        std::fs::write(&latin1, "").unwrap();
        let o = Command::new(common::bin())
            .arg("--data-dir")
            .arg(&n.dir)
            .args(["registry", "import"])
            .arg(&latin1)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("the file's full path is not UTF-8")
                && err.contains("rename the file")
                && err.contains("stop the node and import it directly"),
            "{err}"
        );
    }

    // A wait of more digits than a u64 holds is cut to a minute, as any
    // wait past it (it was refused as "not a whole number").
    let (status, reply) = call(
        addr,
        "GET",
        "/v1/traces/00000000000000000000000000000000?wait_ms=99999999999999999999",
        token,
        "",
    )
    .expect("an answer");
    assert_eq!(status, 404, "{reply}");
    // What an id is, said to one who gave another (a short id, a query's
    // 16 digits from an inbox or the audit log).
    assert!(reply.contains("32 hexadecimal digits"), "{reply}");
}

/// A node started with a file as its standard input does not import that
/// file for a client who names its own standard input, even through a link
/// (`/proc/self/fd/0` is the node's): it imported the node's file and said
/// so as the client's (a re-check).
#[cfg(target_os = "linux")]
#[test]
fn the_nodes_own_standard_input_is_no_clients_file() {
    let mut fed = one_node();
    fed.nodes[0].kill();
    let dir = fed.nodes[0].dir.clone();
    std::fs::write(
        dir.join("node-stdin"),
        r#"{"id":"NODE-1","marking":{"manufacturer":"Walther","country":"DE","serial":"N1"},"category":"pistol","events":[]}"#,
    )
    .unwrap();
    fed.launch(0);
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    let link = n.dir.join("client-input.jsonl");
    std::os::unix::fs::symlink("/proc/self/fd/0", &link).unwrap();
    let (status, reply) = call(
        addr,
        "POST",
        "/v1/registry/import",
        Some(token.trim()),
        &serde_json::json!({"file": link, "csv": false}).to_string(),
    )
    .expect("an answer");
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("the node's own standard input"), "{reply}");
    assert_eq!(n.json(&["registry", "stats"])["records"], 0);
}

/// A trace's timeout outside 1 s to 7 days is refused, by the API and by the
/// CLI as a usage error, rather than clamped without a word.
#[test]
fn a_trace_timeout_out_of_range_is_refused_not_clamped() {
    let fed = one_node();
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    for t in [0u64, 604_801] {
        let body = format!(
            r#"{{"maker":"Walther","country":"DE","serial":"WP104233","category":"pistol","ground":"seized_in_crime","use":"criminal_investigation","timeout_secs":{t}}}"#
        );
        let (status, body) =
            call(addr, "POST", "/v1/traces", Some(token.trim()), &body).expect("an answer");
        assert_eq!(status, 400, "timeout_secs {t}: {body}");
        assert!(body.contains("1 to 604800 seconds"), "{body}");
        let o = common::run(
            &n.dir,
            &[
                "trace",
                "--maker",
                "Walther",
                "--country",
                "DE",
                "--serial",
                "WP104233",
                "--category",
                "pistol",
                "--ground",
                "seized_in_crime",
                "--use",
                "criminal_investigation",
                "--timeout",
                &t.to_string(),
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
        assert!(
            common::stderr(&o).contains("--timeout"),
            "{}",
            common::stderr(&o)
        );
    }
    assert_eq!(
        n.json(&["trace", "list"]).as_array().map(Vec::len),
        Some(0),
        "nothing was sent"
    );
}

/// A trace refused for what was asked is said with the API's JSON fields
/// to an integrator (and the field at fault given apart, as `fault`), and
/// with the flags to the CLI's user: the API said `--country` and
/// `--force`, which an integrator's program has no use for.
#[test]
fn a_refused_trace_names_the_api_fields_to_the_api_and_the_flags_to_the_cli() {
    let fed = one_node();
    let n = &fed.nodes[0];
    let addr = api_addr(n);
    let token = std::fs::read_to_string(n.dir.join("api.token")).unwrap();
    let post = |maker: &str, country: &str| {
        let body = serde_json::json!({
            "maker": maker, "country": country, "serial": "WP104233",
            "category": "pistol", "ground": "seized_in_crime",
            "use": "criminal_investigation",
        });
        let (status, reply) = call(
            addr,
            "POST",
            "/v1/traces",
            Some(token.trim()),
            &body.to_string(),
        )
        .expect("an answer");
        assert_eq!(status, 400, "{reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let error = v["error"].as_str().unwrap().to_string();
        assert!(!error.contains("--"), "{error}");
        (error, v["fault"].clone())
    };
    let (error, fault) = post("Walther", "D");
    assert!(
        error.starts_with("trace not sent: \"country\": "),
        "{error}"
    );
    assert_eq!(fault["field"], "country", "{fault}");
    assert!(fault.get("remedy").is_none(), "{fault}");
    let (error, fault) = post("Walhter", "DE");
    assert!(
        error.ends_with("Correct \"maker\", or send it anyway with \"force\": true"),
        "{error}"
    );
    assert_eq!(fault["field"], "maker", "{fault}");
    assert_eq!(fault["remedy"]["correct_or_force"], "maker", "{fault}");
    assert!(
        fault["reason"]
            .as_str()
            .unwrap()
            .starts_with("\"Walhter\" is not in the maker reference table; did you mean Walther"),
        "{fault}"
    );

    // The CLI's user is told the same with the flags: first as the CLI
    // checks a field itself, then as it says the node's refusal.
    let trace = |maker: &str, country: &str| {
        let o = common::run(
            &n.dir,
            &[
                "trace",
                "--maker",
                maker,
                "--country",
                country,
                "--serial",
                "WP104233",
                "--category",
                "pistol",
                "--ground",
                "seized_in_crime",
                "--use",
                "criminal_investigation",
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
        common::stderr(&o)
    };
    let said = trace("Walther", "D");
    assert!(said.contains("trace not sent: --country: "), "{said}");
    let said = trace("Walhter", "DE");
    assert!(
        said.contains("trace not sent: --maker: \"Walhter\" is not in the maker reference table")
            && said.contains("Correct --maker, or send it anyway with --force"),
        "{said}"
    );
    assert!(!said.contains("\"force\""), "{said}");

    // A value of the wrong JSON type is a fault of its field too.
    let body = r#"{"maker":"Walther","country":"DE","serial":"WP104233","category":"pistol","ground":"seized_in_crime","use":"criminal_investigation","timeout_secs":"10"}"#;
    let (status, reply) =
        call(addr, "POST", "/v1/traces", Some(token.trim()), body).expect("an answer");
    assert_eq!(status, 400, "{reply}");
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["fault"]["field"], "timeout_secs", "{v}");

    // An inbox decision is refused with the API's field too, in a
    // sentence listing the codes; a field of the other decision is refused.
    for (path, body, said) in [
        (
            "/v1/inbox/no-such-item/refuse",
            r#"{"reason":"bogus"}"#,
            r#""reason": "bogus" is not one of ongoing_investigation, national_law, other"#,
        ),
        (
            "/v1/inbox/no-such-item/refuse",
            "",
            r#""reason": required: one of ongoing_investigation"#,
        ),
        (
            "/v1/inbox/no-such-item/approve",
            r#"{"reason":"other"}"#,
            r#""reason" is a field of POST /v1/inbox/ID/refuse"#,
        ),
    ] {
        let (status, reply) =
            call(addr, "POST", path, Some(token.trim()), body).expect("an answer");
        assert_eq!(status, 400, "{reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(said) && !error.contains("--"), "{error}");
    }
    // An array is not a decision (serde read `["year"]` by position, and
    // the decision was sent for good), nor is any body but an object; a
    // limit does not page the waiting requests.
    for (path, body) in [
        ("/v1/inbox/no-such-item/approve", "[]"),
        ("/v1/inbox/no-such-item/approve", r#"["year"]"#),
        ("/v1/inbox/no-such-item/refuse", r#"[null,"other"]"#),
        ("/v1/inbox/no-such-item/refuse", "null"),
    ] {
        let (status, reply) =
            call(addr, "POST", path, Some(token.trim()), body).expect("an answer");
        assert_eq!(status, 400, "{body}: {reply}");
        assert!(reply.contains("a JSON object is expected"), "{reply}");
    }
    // An approval's body is optional: empty, it is `{}` (the item is
    // unknown here: a 404, not a 400 about the body).
    for (method, path, status) in [
        ("GET", "/v1/inbox?pending=true&limit=2", 400),
        ("POST", "/v1/inbox/no-such-item/approve", 404),
    ] {
        let (got, reply) = call(addr, method, path, Some(token.trim()), "").expect("an answer");
        assert_eq!(got, status, "{path}: {reply}");
    }
    assert_eq!(
        n.json(&["trace", "list"]).as_array().map(Vec::len),
        Some(0),
        "nothing was sent"
    );
}

/// A node runs as many async workers as `node.async_workers` says, and by
/// default half the cores it may run on, at least one; `status` reports
/// what its runtime has, not what the file asked.
#[test]
fn a_node_runs_the_async_workers_its_settings_give() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (config, want) in [("", (cores / 2).max(1)), ("async_workers = 3", 3)] {
        let fed = Federation::start(vec![NodeSpec {
            node_config: config,
            ..NodeSpec::member("DE", Vec::new())
        }]);
        let o = common::run(&fed.nodes[0].dir, &["--json", "status"]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(s["async_workers"], want, "with {config:?} on {cores} cores");
    }
}
