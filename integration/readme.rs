//! The README's commands, run as written and in order: the regional
//! organisation (BE) and three States (DE holds the weapon's record, KE traces
//! it, NG is named by its import mark) each on a "fresh machine" of their own
//! (a temporary HOME, the default data directory under it, a copy of the
//! repository's `config/`), through `sh -c` with the built `tracenet` first
//! on the PATH. Every command of every ```sh block of the sections below is
//! run, or the test fails; a section with commands that is not listed here
//! fails it too.
//!
//! What the test changes in a command is only the table in [`substitute`]:
//! placeholders by the values earlier commands printed, and every address
//! by 127.0.0.1 with a port chosen at run time. The control API listens on a
//! free port through `TRACENET_NODE__API_LISTEN=127.0.0.1:0`, the
//! environment override the README documents, so that four nodes share a
//! machine.

mod common;
mod fed;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, repo_file};
use fed::{free_port, record, wait_for};
use serde_json::Value;

/// Sections with ```sh blocks and who runs them. "Two commands" is `cargo
/// run -- demo` and `cargo test` (CI runs both); "Running in a container" is
/// run by `scripts/container-check.sh`, which compares it with its own.
const RUN_HERE: &[&str] = &[
    "For a national tracing unit",
    "For a regional organisation",
    "For integrators",
];
const RUN_ELSEWHERE: &[&str] = &["Two commands", "Running in a container"];

/// One command of a README block, continuation lines joined, comment cut.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    /// 1-based line in README.md, for messages.
    at: usize,
}

/// The ```sh blocks under each `## ` heading.
fn sections(readme: &str) -> BTreeMap<String, Vec<Line>> {
    let mut out: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    let mut heading = String::new();
    let mut in_sh = false;
    let mut pending: Option<Line> = None;
    let mut integrators = false;
    for (i, raw) in readme.lines().enumerate() {
        if let Some(h) = raw.strip_prefix("## ") {
            heading = h.trim().to_string();
            integrators = heading == "For integrators";
            continue;
        }
        let t = raw.trim_start();
        if !in_sh {
            in_sh = t == "```sh";
            continue;
        }
        if t.starts_with("```") {
            in_sh = false;
            continue;
        }
        // In the integrators' block, commands carry a `$ ` prompt; the rest is output.
        let body = match (&pending, integrators) {
            (Some(_), _) => raw.to_string(),
            (None, true) => match t.strip_prefix("$ ") {
                Some(c) => c.to_string(),
                None => continue,
            },
            (None, false) => raw.to_string(),
        };
        let code = strip_comment(&body);
        let (code, more) = match code.trim_end().strip_suffix('\\') {
            Some(c) => (c.to_string(), true),
            None => (code.trim_end().to_string(), false),
        };
        let line = match pending.take() {
            Some(mut p) => {
                p.text = format!("{} {}", p.text, code.trim());
                p
            }
            None => Line {
                text: code.trim().to_string(),
                at: i + 1,
            },
        };
        if more {
            pending = Some(line);
        } else if !line.text.is_empty() {
            out.entry(heading.clone()).or_default().push(line);
        }
    }
    out
}

/// The line without a `#` comment (one preceded by white space, outside quotes).
fn strip_comment(s: &str) -> String {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if prev_space => return s[..i].to_string(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    s.to_string()
}

/// A "machine": a HOME of its own, as the working directory too.
struct Machine {
    state: &'static str,
    home: tempfile::TempDir,
    port: u16,
}

impl Machine {
    fn new(state: &'static str) -> Machine {
        let home = tempfile::tempdir().expect("temp dir");
        let config = home.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        for f in ["policy.toml", "makers.toml"] {
            std::fs::copy(repo_file(&format!("config/{f}")), config.join(f))
                .unwrap_or_else(|e| panic!("copy config/{f}: {e}"));
        }
        Machine {
            state,
            home,
            port: free_port(),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// The default data directory: `~/.local/share/tracenet`.
    fn data_dir(&self) -> PathBuf {
        self.home().join(".local/share/tracenet")
    }

    /// `sh -c LINE` on this machine, as a person would type it.
    fn sh(&self, line: &str) -> Command {
        let path = format!(
            "{}:{}",
            bin().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(line)
            .current_dir(self.home())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.home())
            .env("TRACENET_NODE__API_LISTEN", "127.0.0.1:0");
        c
    }

    /// Test-side look at the node (not a README command).
    fn json(&self, args: &[&str]) -> Value {
        common::json(&self.data_dir(), args)
    }

    fn copy_to(&self, file: &str, to: &Machine) {
        std::fs::copy(self.home().join(file), to.home().join(file))
            .unwrap_or_else(|e| panic!("copy {file} from {} to {}: {e}", self.state, to.state));
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What earlier commands printed, by which later ones are completed.
#[derive(Default)]
struct Found {
    anchor: String,
    peer_ids: HashMap<&'static str, String>,
    /// Each State's OPRF public key, as `identity show` printed it.
    oprf_keys: HashMap<&'static str, String>,
    ports: HashMap<String, u16>,
    /// `ID` on each State's machine: a trace's id (KE) or an inbox request's (DE).
    id: HashMap<&'static str, String>,
}

/// The whole substitution table. `--state X` on a line says whose key and
/// address it means; a national unit's `init --state DE` is each State's own.
fn substitute(line: &str, m: &Machine, found: &Found) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let state = words
        .iter()
        .position(|w| *w == "--state")
        .and_then(|i| words.get(i + 1))
        .map(|s| s.to_string())
        .unwrap_or_else(|| m.state.to_string());
    let is_init = line.starts_with("tracenet init ");
    let state = if is_init { m.state.to_string() } else { state };
    let out: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let prev = if i > 0 { words[i - 1] } else { "" };
            match *w {
                "ANCHOR_PUBLIC_KEY" => found.anchor.clone(),
                "PEER_ID_OR_KEY" | "KEY" if prev == "--key" => found
                    .peer_ids
                    .get(state.as_str())
                    .unwrap_or_else(|| panic!("no peer id of {state} yet: {line}"))
                    .clone(),
                "OPRF_KEY" if prev == "--oprf-key" => found
                    .oprf_keys
                    .get(state.as_str())
                    .unwrap_or_else(|| panic!("no OPRF key of {state} yet: {line}"))
                    .clone(),
                "ID" => found
                    .id
                    .get(m.state)
                    .unwrap_or_else(|| panic!("no ID on {}'s machine yet: {line}", m.state))
                    .clone(),
                _ if is_init && prev == "--state" => m.state.to_string(),
                w if w.starts_with("/ip4/") && w.ends_with("/tcp/4001") => format!(
                    "/ip4/127.0.0.1/tcp/{}",
                    found
                        .ports
                        .get(&state)
                        .unwrap_or_else(|| panic!("no port for {state}: {line}"))
                ),
                w => w.to_string(),
            }
        })
        .collect();
    out.join(" ")
}

/// The README's commands of one section, taken in order.
struct Section {
    name: &'static str,
    lines: Vec<Line>,
    next: usize,
}

impl Section {
    /// The next command, which must start with `starts` (so that a reordered
    /// or new command is a clear failure, not a confusing one).
    fn take(&mut self, starts: &str) -> Line {
        let l = self.lines.get(self.next).unwrap_or_else(|| {
            panic!(
                "README.md \"{}\" has no command left; the test expects one starting {starts:?}",
                self.name
            )
        });
        assert!(
            l.text.starts_with(starts),
            "README.md:{} (\"{}\"): expected a command starting {starts:?} here, found {:?}; \
             update integration/readme.rs if the README's steps changed",
            l.at,
            self.name,
            l.text
        );
        self.next += 1;
        l.clone()
    }

    fn done(&self) {
        let left: Vec<String> = self.lines[self.next..]
            .iter()
            .map(|l| format!("README.md:{}: {}", l.at, l.text))
            .collect();
        assert!(
            left.is_empty(),
            "README.md \"{}\": commands the test does not run: {left:#?}",
            self.name
        );
    }
}

struct Run {
    found: Found,
    log: Vec<String>,
    /// The nodes started by `node run`, stopped when the test ends.
    nodes: Vec<Child>,
}

impl Run {
    /// Runs `line` on `m` as written (after [`substitute`]); it must succeed.
    fn run(&mut self, line: &Line, m: &Machine) -> Output {
        let cmd = substitute(&line.text, m, &self.found);
        if cmd.trim_end().ends_with("tracenet node run") {
            self.start_node(&cmd, m, line);
            return Output {
                status: std::process::ExitStatus::default(),
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
        }
        let start = Instant::now();
        let o = m.sh(&cmd).output().expect("run sh");
        self.log.push(format!(
            "{} README.md:{} {:.2}s: {cmd}",
            m.state,
            line.at,
            start.elapsed().as_secs_f64()
        ));
        assert!(
            o.status.success(),
            "README.md:{} on {}'s machine: `{cmd}` failed ({}):\nstdout: {}\nstderr: {}",
            line.at,
            m.state,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// `node run` in the background (a second terminal), waited on until its
    /// control API answers.
    fn start_node(&mut self, cmd: &str, m: &Machine, line: &Line) {
        let log = std::fs::File::create(m.home().join("node.log")).unwrap();
        let child = m
            .sh(&format!("exec {cmd}"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the node");
        self.nodes.push(child);
        let dir = m.data_dir();
        let home = m.home().to_path_buf();
        wait_for(
            &format!("{}'s node (README.md:{})", m.state, line.at),
            Duration::from_secs(30),
            || {
                let o = common::run(&dir, &["--json", "status"]);
                if !o.status.success() {
                    let log = std::fs::read_to_string(home.join("node.log")).unwrap_or_default();
                    assert!(!log.contains("error:"), "the node did not start: {log}");
                }
                o.status.success().then_some(())
            },
        );
        self.log
            .push(format!("{} README.md:{}: {cmd} &", m.state, line.at));
    }

    /// Runs the next integrators' example on `m`: it must print one JSON
    /// document with every key the README's example output shows.
    fn integrator(
        &mut self,
        section: &mut Section,
        starts: &str,
        m: &Machine,
        examples: &HashMap<usize, Vec<String>>,
    ) {
        let line = section.take(starts);
        let o = self.run(&line, m);
        let example: Vec<&str> = examples
            .get(&line.at)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        shows_keys(&example, &stdout(&o), &line.text);
    }

    /// Runs the next command of `section` on each machine in turn.
    fn each(&mut self, section: &mut Section, starts: &str, machines: &[&Machine]) {
        let line = section.take(starts);
        for m in machines {
            self.run(&line, m);
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value after `label` on a line of text output (`peer id     12D3…`).
fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
}

fn connected(m: &Machine, peers: &[&str]) -> Option<()> {
    let st = m.json(&["status"]);
    let c: Vec<&str> = st["net"]["connected"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    peers.iter().all(|p| c.contains(p)).then_some(())
}

fn trace_ids(m: &Machine) -> Vec<String> {
    m.json(&["trace", "list"])
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The keys an integrators' example shows (`"added":`) all appear in `actual`.
fn shows_keys(example: &[&str], actual: &str, cmd: &str) {
    let v: Value = serde_json::from_str(actual)
        .unwrap_or_else(|e| panic!("`{cmd}` printed no JSON document ({e}): {actual}"));
    let text = v.to_string();
    for l in example {
        let mut rest = *l;
        while let Some(i) = rest.find("\":") {
            let key_start = rest[..i].rfind('"').map(|s| s + 1).unwrap_or(0);
            let key = &rest[key_start..i];
            assert!(
                text.contains(&format!("\"{key}\":")),
                "`{cmd}`: the README's example shows {key:?}, the output has no such key: {text}"
            );
            rest = &rest[i + 2..];
        }
    }
}

#[test]
fn the_readme_runs_as_written() {
    let started = Instant::now();
    let readme = std::fs::read_to_string(repo_file("README.md")).expect("README.md");
    let mut all = sections(&readme);
    let listed: Vec<&String> = all
        .keys()
        .filter(|k| !RUN_HERE.contains(&k.as_str()) && !RUN_ELSEWHERE.contains(&k.as_str()))
        .collect();
    assert!(
        listed.is_empty(),
        "README.md sections with commands nobody runs: {listed:?}; run them in integration/readme.rs"
    );
    let mut take = |name: &'static str| Section {
        name,
        lines: all.remove(name).unwrap_or_default(),
        next: 0,
    };
    let mut nat = take("For a national tracing unit");
    let mut org = take("For a regional organisation");
    let mut int = take("For integrators");
    let integrator_examples = integrator_outputs(&readme);

    let (be, de, ke, ng) = (
        Machine::new("BE"),
        Machine::new("DE"),
        Machine::new("KE"),
        Machine::new("NG"),
    );
    let court = Machine::new("XX");
    let mut r = Run {
        found: Found::default(),
        log: Vec::new(),
        nodes: Vec::new(),
    };
    for m in [&be, &de, &ke, &ng] {
        r.found.ports.insert(m.state.to_string(), m.port);
    }
    // The registries: DE holds the traced pistol (and the integrators' BP0746).
    let de_records = [
        record(
            "DE-1",
            "Carl Walther",
            "DE",
            "WP104233",
            &[("NG", 2012)],
            r#"{"date":"2011-05-02","kind":"manufactured","holder":"manufacturer"},{"date":"2012-02-10","kind":"exported","counterpart":"NG"}"#,
        ),
        record(
            "DE-2",
            "Walther",
            "DE",
            "BP0746",
            &[],
            r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#,
        ),
    ];
    std::fs::write(de.home().join("records.jsonl"), de_records.join("\n")).unwrap();
    for m in [&ke, &ng] {
        let line = record(
            &format!("{}-1", m.state),
            "Beretta",
            "IT",
            &format!("{}0001", m.state),
            &[],
            r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#,
        );
        std::fs::write(m.home().join("records.jsonl"), line).unwrap();
    }

    // The regional organisation's key and its bootstrap node's identity.
    let o = r.run(&org.take("tracenet roster keygen"), &be);
    r.found.anchor = field(&stdout(&o), "public key");
    r.run(&org.take("tracenet init --state BE"), &be);
    let o = r.run(&org.take("tracenet identity show"), &be);
    r.found.peer_ids.insert("BE", field(&stdout(&o), "peer id"));

    // Each State sets up its node up to the roster.
    r.each(&mut nat, "tracenet init", &[&de, &ke, &ng]);
    let line = nat.take("tracenet identity show");
    for m in [&de, &ke, &ng] {
        let o = r.run(&line, m);
        r.found
            .peer_ids
            .insert(m.state, field(&stdout(&o), "peer id"));
        r.found
            .oprf_keys
            .insert(m.state, field(&stdout(&o), "oprf key"));
    }
    r.each(&mut nat, "tracenet registry import", &[&de, &ke, &ng]);
    r.each(&mut nat, "cp config/policy.toml", &[&de, &ke, &ng]);
    // The integrators' registry examples, on DE's registry before its node
    // runs (through a running node, `registry import --json` prints the same
    // fields).
    for starts in [
        "tracenet --json registry find",
        "tracenet --json registry import",
    ] {
        r.integrator(&mut int, starts, &de, &integrator_examples);
    }

    // The organisation makes, signs and installs the roster, and runs its node.
    r.run(&org.take("tracenet roster new --out roster.json"), &be);
    for s in ["DE", "NG", "KE", "BE"] {
        r.run(
            &org.take(&format!("tracenet roster add roster.json --state {s}")),
            &be,
        );
    }
    r.run(&org.take("tracenet roster sign roster.json"), &be);
    r.run(&org.take("tracenet roster verify roster.json"), &be);
    r.run(&org.take("tracenet roster install roster.json"), &be);
    r.run(&org.take("tracenet node run"), &be);
    for m in [&de, &ke, &ng] {
        be.copy_to("roster.json", m);
    }

    // Each State installs it and joins.
    r.each(
        &mut nat,
        "tracenet roster install roster.json",
        &[&de, &ke, &ng],
    );
    r.each(&mut nat, "tracenet node run", &[&de, &ke, &ng]);
    let ids = |states: &[&str]| -> Vec<String> {
        states.iter().map(|s| r.found.peer_ids[s].clone()).collect()
    };
    for (m, others) in [
        (&ke, ["DE", "NG"]),
        (&ng, ["DE", "KE"]),
        (&de, ["KE", "NG"]),
    ] {
        let want = ids(&others);
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        wait_for(
            &format!("{} to connect to {others:?}", m.state),
            Duration::from_secs(30),
            || connected(m, &want),
        );
    }

    // KE traces; KE and NG each send DE an urgent request, which waits for a person.
    let before = trace_ids(&ke);
    r.run(&nat.take("tracenet trace --maker \"Carl Walther\""), &ke);
    let new: Vec<String> = trace_ids(&ke)
        .into_iter()
        .filter(|i| !before.contains(i))
        .collect();
    assert_eq!(new.len(), 1, "one new trace on KE: {new:?}");
    let trace_id = new[0].clone();
    let shown = ke.json(&["trace", "show", &trace_id]);
    let de_hit = shown["answers"].as_array().is_some_and(|a| {
        a.iter()
            .any(|a| a["state"] == "DE" && a["verified"] == true && a["outcome"]["hit"].is_object())
    });
    assert!(de_hit, "KE's trace got no verified hit from DE: {shown:#}");
    r.found.id.insert("KE", trace_id.clone());
    r.each(&mut nat, "tracenet trace --urgent", &[&ke, &ng]);
    let urgent: Vec<String> = trace_ids(&ke)
        .into_iter()
        .filter(|i| !before.contains(i) && *i != trace_id)
        .collect();
    assert_eq!(urgent.len(), 1, "one urgent trace on KE: {urgent:?}");
    // A blind trace: DE, which holds the weapon, hits and is sent the query.
    let known = trace_ids(&ke);
    r.run(&nat.take("tracenet trace --blind"), &ke);
    let blind: Vec<String> = trace_ids(&ke)
        .into_iter()
        .filter(|i| !known.contains(i))
        .collect();
    assert_eq!(blind.len(), 1, "one blind trace on KE: {blind:?}");
    let b = ke.json(&["trace", "show", &blind[0]]);
    let de_learned = b["blind"]["holders"].as_array().is_some_and(|h| {
        h.iter()
            .any(|h| h["state"] == "DE" && h["outcome"] == "hit" && h["received_marking"] == true)
    });
    assert!(de_learned, "KE's blind trace did not reach DE: {b:#}");
    for l in [
        "tracenet trace list",
        "tracenet trace show ID",
        "tracenet trace export ID evidence.json",
    ] {
        r.run(&nat.take(l), &ke);
    }
    // A retry goes to States without a final answer: DE has only
    // acknowledged the urgent trace (a fully answered trace has nothing to retry).
    r.found.id.insert("KE", urgent[0].clone());
    r.run(&nat.take("tracenet trace retry ID"), &ke);
    r.run(&nat.take("tracenet report"), &ke);
    let o = r.run(&nat.take("tracenet verify evidence.json"), &ke);
    assert!(stdout(&o).contains("evidence verifies"), "{}", stdout(&o));
    // A court's machine: no data directory, the anchor on the command line.
    ke.copy_to("evidence.json", &court);
    let o = r.run(&nat.take("tracenet verify evidence.json --anchor"), &court);
    let read = stdout(&o);
    // What was asked and what DE answered, readable: the export to NG with its direction.
    for want in [
        "asked: query ",
        "from KE",
        "serial WP1O4233",
        "from DE, ",
        "hit, 1 candidate",
        "exported      DE → NG",
        "evidence verifies",
    ] {
        assert!(read.contains(want), "{want:?} not in:\n{read}");
    }
    assert!(!court.data_dir().exists(), "verify made a data directory");
    r.run(&nat.take("tracenet peers"), &ke);
    r.run(&nat.take("tracenet status"), &ke);

    // DE's person answers the two urgent requests.
    let inbox_ids = || -> Vec<String> {
        de.json(&["inbox"])
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["status"]["state"] == "pending")
                    .filter_map(|i| i["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let waiting = wait_for(
        "DE's inbox to hold the two urgent requests",
        Duration::from_secs(30),
        || {
            let ids = inbox_ids();
            (ids.len() == 2).then_some(ids)
        },
    );
    r.run(&nat.take("tracenet inbox"), &de);
    r.found.id.insert("DE", waiting[0].clone());
    r.run(&nat.take("tracenet inbox approve ID"), &de);
    r.found.id.insert("DE", waiting[1].clone());
    r.run(&nat.take("tracenet inbox refuse ID"), &de);
    assert!(inbox_ids().is_empty(), "requests still wait in DE's inbox");
    for l in [
        "tracenet alerts",
        "tracenet audit verify",
        "tracenet audit show",
        "tracenet audit export audit.jsonl",
    ] {
        r.run(&nat.take(l), &de);
    }
    // The officer console's accounts, on DE's running node.
    let o = r.run(&nat.take("tracenet officer add amina.diallo"), &de);
    assert!(stdout(&o).contains("one-time password: "), "{}", stdout(&o));
    for l in [
        "tracenet officer list",
        "tracenet officer reset amina.diallo",
        "tracenet officer remove amina.diallo",
    ] {
        r.run(&nat.take(l), &de);
    }
    nat.done();

    // The rest of the integrators' examples, against the running nodes.
    for (starts, m) in [
        ("tracenet --json trace", &ke),
        ("tracenet --json status", &ke),
        ("tracenet --json verify", &ke),
    ] {
        r.integrator(&mut int, starts, m, &integrator_examples);
    }
    int.done();

    // The next roster version, installed on the bootstrap node, reaches every node.
    for l in [
        "tracenet roster new --out roster-v2.json",
        "tracenet roster remove roster-v2.json",
        "tracenet roster sign roster-v2.json",
        "tracenet roster install roster-v2.json",
    ] {
        r.run(&org.take(l), &be);
    }
    for m in [&de, &ke] {
        wait_for(
            &format!("roster version 2 on {}", m.state),
            Duration::from_secs(30),
            || (m.json(&["status"])["roster_version"] == 2).then_some(()),
        );
    }
    // The maker reference table, signed and installed on the bootstrap node,
    // reaches every member (NG is no longer one).
    for l in [
        "tracenet makers show --toml",
        "tracenet makers sign makers.toml",
        "tracenet makers verify makers.json",
        "tracenet makers install makers.json",
    ] {
        r.run(&org.take(l), &be);
    }
    let version = be.json(&["makers", "show"])["version"].clone();
    assert!(version.as_u64().is_some_and(|v| v >= 1), "{version}");
    for m in [&de, &ke] {
        wait_for(
            &format!("maker table version {version} on {}", m.state),
            Duration::from_secs(30),
            || (m.json(&["status"])["makers"]["version"] == version).then_some(()),
        );
    }
    r.run(&org.take("tracenet makers show"), &be);
    org.done();
    eprintln!(
        "README commands run in {:.1}s:\n{}",
        started.elapsed().as_secs_f64(),
        r.log.join("\n")
    );
}

/// For each integrators' command (by README line), the example output lines
/// that follow it.
fn integrator_outputs(readme: &str) -> HashMap<usize, Vec<String>> {
    let mut out: HashMap<usize, Vec<String>> = HashMap::new();
    let mut in_section = false;
    let mut current: Option<usize> = None;
    let mut continued = false;
    for (i, l) in readme.lines().enumerate() {
        if let Some(h) = l.strip_prefix("## ") {
            in_section = h.trim() == "For integrators";
            continue;
        }
        if !in_section || l.trim_start().starts_with("```") {
            continue;
        }
        if l.starts_with("$ ") {
            current = Some(i + 1);
            continued = l.trim_end().ends_with('\\');
        } else if continued {
            continued = l.trim_end().ends_with('\\');
        } else if let Some(c) = current {
            out.entry(c).or_default().push(l.to_string());
        }
    }
    out
}

#[test]
fn readme_blocks_are_read_as_commands() {
    let md = "## A\n\n```sh\ntracenet a --x \"a # b\" \\\n    --y 1   # note\n  # only a comment\n\n# a comment\ntracenet b\n```\n\n## For integrators\n```sh\n$ tracenet --json c \\\n   --d\n{\"e\":1}\n```\n";
    let s = sections(md);
    let a: Vec<&str> = s["A"].iter().map(|l| l.text.as_str()).collect();
    assert_eq!(a, ["tracenet a --x \"a # b\" --y 1", "tracenet b"]);
    let i: Vec<&str> = s["For integrators"]
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(i, ["tracenet --json c --d"]);
    assert_eq!(integrator_outputs(md)[&14], ["{\"e\":1}"]);
}
