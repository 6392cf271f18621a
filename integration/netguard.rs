//! What the network refuses must show: a second node on a taken port refuses to
//! start, naming the port and its holder; an outsider's connections are counted
//! in /metrics and logged once.

mod common;
mod fed;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fed::*;

/// Runs `node run` in `dir`, which must stop by itself within 30 s and
/// fail; its stderr. `beside` says what a node that did start would be.
fn refused_to_start(dir: &std::path::Path, beside: &str) -> String {
    let mut child = Command::new(common::bin())
        .args(["--data-dir", path_str(dir), "node", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second node started {beside}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success(), "{said}");
    said
}

#[test]
fn a_second_node_on_a_taken_port_refuses_to_start_and_names_the_holder() {
    let fed = Federation::start(vec![NodeSpec::member("DE", vec![])]);
    let de = fed.node("DE");
    let de_pid = de.child.as_ref().unwrap().id();

    // A second copy of DE, with its own data directory, on DE's port.
    let twin = common::init("DE");
    for f in ["tracenet.toml", "roster.json"] {
        std::fs::copy(de.dir.join(f), twin.path().join(f)).unwrap();
    }
    let said = refused_to_start(twin.path(), &format!("on port {} beside DE", de.port));
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{said}");
    assert!(
        errors[0].contains(&format!("TCP port {} is already in use", de.port)),
        "{said}"
    );
    if cfg!(target_os = "linux") {
        assert!(
            errors[0].contains(&format!("process {de_pid} (tracenet)")),
            "{said}"
        );
    }
    // DE itself runs on, untouched.
    de.json(&["status"]);

    // The twin on a port of its own, but on DE's control API port: named
    // too, with the setting to change.
    let api: std::net::SocketAddr = std::fs::read_to_string(de.dir.join("api.addr"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cfg = std::fs::read_to_string(twin.path().join("tracenet.toml"))
        .unwrap()
        .replace(
            &format!("/ip4/127.0.0.1/tcp/{}", de.port),
            "/ip4/127.0.0.1/tcp/0",
        )
        .replace(
            "api_listen = \"127.0.0.1:0\"",
            &format!("api_listen = \"{api}\""),
        );
    std::fs::write(twin.path().join("tracenet.toml"), cfg).unwrap();
    let said = refused_to_start(twin.path(), &format!("with DE's control API port {api}"));
    assert!(
        said.contains(&format!("TCP port {} is already in use", api.port()))
            && said.contains("give this node another port in node.api_listen"),
        "{said}"
    );
    if cfg!(target_os = "linux") {
        assert!(
            said.contains(&format!("process {de_pid} (tracenet)")),
            "{said}"
        );
    }
    de.json(&["status"]);
}

#[test]
fn an_outsider_is_refused_counted_and_logged_once() {
    let fed = Federation::start(vec![
        NodeSpec::member("DE", vec![]),
        // Holds the roster and dials DE, but its own key is not in it.
        NodeSpec {
            state: "GH",
            bootstrap: false,
            records: vec![],
            in_roster: false,
            node_config: "",
            prefixes: &[],
            oprf_key_listed: true,
        },
    ]);
    let de = fed.node("DE");
    let gh = fed.node("GH");
    let refused = || {
        let (status, metrics) = common::http_get(&de.dir, "/metrics", true);
        assert_eq!(status, 200, "{metrics}");
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("tracenet_connections_refused_total{reason=\"not_in_roster\"} ")
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    // GH redials every few seconds: wait for a second refusal, so that the log
    // is seen to hold the first only.
    wait_for("DE to refuse GH twice", Duration::from_secs(60), || {
        (refused() >= 2).then_some(())
    });
    let log = de.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused a connection") && l.contains(&gh.peer_id))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["fields"]["reason"], "not_in_roster", "{line}");
    let (_, metrics) = common::http_get(&de.dir, "/metrics", true);
    assert!(metrics.contains("tracenet_peers_graylisted 0"), "{metrics}");
}
