//! Every command's `--json` output, validated against its JSON Schema in
//! `proto-docs/schemas/` (one file per output, shared definitions in
//! `common.json`), and checked against the vocabulary rules of
//! `proto-docs/API.md` ("One vocabulary"): instants are RFC 3339 strings,
//! public keys are `public_key` in base64, addresses are `addresses`, custody
//! answer numbers count from 1, no positional tuples. Outputs are taken from
//! a running federation, and again with the nodes stopped (the offline
//! readers), so both paths are held to one vocabulary.
//!
//! `SCHEMA_SAMPLES_DIR=DIR cargo test --test schemas` also writes each
//! output to DIR, to help when a schema has to change.

mod common;
mod fed;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use fed::{Federation, NodeSpec, path_str, record};
use serde_json::Value;

const SCHEMA_BASE: &str = "https://tracenet.invalid/schemas/";

fn schema_dir() -> PathBuf {
    common::repo_file("proto-docs/schemas")
}

struct Checker {
    schemas: BTreeMap<String, Value>,
    registry: jsonschema::Registry<'static>,
    used: BTreeSet<String>,
    samples: Option<PathBuf>,
    n: usize,
}

impl Checker {
    fn new() -> Checker {
        let mut schemas = BTreeMap::new();
        let mut registry = jsonschema::Registry::new();
        for e in std::fs::read_dir(schema_dir()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            let id = format!("{SCHEMA_BASE}{name}.json");
            assert_eq!(v["$id"], id.as_str(), "{}: $id", p.display());
            registry = registry.add(id, v.clone()).unwrap();
            schemas.insert(name, v);
        }
        let registry = registry.prepare().unwrap();
        let samples = std::env::var_os("SCHEMA_SAMPLES_DIR").map(PathBuf::from);
        if let Some(d) = &samples {
            std::fs::create_dir_all(d).unwrap();
        }
        Checker {
            schemas,
            registry,
            used: BTreeSet::new(),
            samples,
            n: 0,
        }
    }

    /// Validates `doc` (the output of `what`) against schema `name` and the
    /// vocabulary rules.
    fn check(&mut self, name: &str, what: &str, doc: &Value) {
        self.n += 1;
        if let Some(d) = &self.samples {
            std::fs::write(
                d.join(format!("{:02}-{name}.json", self.n)),
                serde_json::to_string_pretty(doc).unwrap(),
            )
            .unwrap();
        }
        let mut faults = Vec::new();
        vocabulary(doc, "", &mut faults);
        assert!(
            faults.is_empty(),
            "`{what}` breaks the vocabulary:\n{}\n{doc:#}",
            faults.join("\n")
        );
        let Some(schema) = self.schemas.get(name) else {
            // Writing samples for a schema still to be written.
            assert!(
                self.samples.is_some(),
                "no schema proto-docs/schemas/{name}.json for `{what}`"
            );
            return;
        };
        let validator = jsonschema::options()
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("schema {name}: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "`{what}` does not match {name}.json:\n{}\n{doc:#}",
            errors.join("\n")
        );
        self.used.insert(name.to_string());
    }

    /// Runs `tracenet --json ARGS` in `dir`, checks and returns its output.
    fn run(&mut self, name: &str, dir: &Path, args: &[&str]) -> Value {
        let doc = common::json(dir, args);
        self.check(name, &args.join(" "), &doc);
        doc
    }

    /// As [`Checker::run`] for a command that changes nothing, which is also
    /// run without `--json` and its text checked as people read it.
    fn read(&mut self, name: &str, dir: &Path, args: &[&str]) -> Value {
        let doc = self.run(name, dir, args);
        let text = common::ok(dir, args);
        let faults = common::for_people(&text);
        assert!(
            faults.is_empty(),
            "`{}` prints for people:\n{}\n---\n{text}",
            args.join(" "),
            faults.join("\n")
        );
        doc
    }
}

fn is_instant_key(k: &str) -> bool {
    k == "at" || k.ends_with("_at") || k == "deadline" || k == "since" || k.ends_with("_since")
}

/// The rules of one vocabulary, on any document.
fn vocabulary(v: &Value, path: &str, faults: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{k}");
                if matches!(
                    k.as_str(),
                    "key" | "addrs" | "pubkey" | "public_key_hex" | "public_key_base64"
                ) {
                    faults.push(format!("{p}: one name per thing (public_key, addresses)"));
                }
                if is_instant_key(k) && !x.is_null() {
                    match x.as_str().map(tracenet::model::instant::parse_rfc3339) {
                        Some(Ok(_)) => {}
                        _ => {
                            faults.push(format!("{p}: an instant must be an RFC 3339 string: {x}"))
                        }
                    }
                }
                if (k.ends_with("_until") || k.ends_with("_from") || k == "from" || k == "to")
                    && x.is_number()
                {
                    faults.push(format!("{p}: a time as a number: {x}"));
                }
                if k == "public_key" || k == "anchors" {
                    let keys: Vec<&Value> = match x {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for key in keys {
                        let ok = key.as_str().is_some_and(|s| {
                            base64::engine::general_purpose::STANDARD
                                .decode(s)
                                .is_ok_and(|b| b.len() == 32)
                        });
                        if !ok {
                            faults.push(format!(
                                "{p}: a public key must be base64 of 32 bytes: {key}"
                            ));
                        }
                    }
                }
                vocabulary(x, &p, faults);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                if x.is_array() {
                    faults.push(format!("{path}/{i}: a tuple; use an object with names"));
                }
                vocabulary(x, &format!("{path}/{i}"), faults);
            }
        }
        _ => {}
    }
}

/// Custody links and candidates name answers by number, from 1.
fn answer_numbers_count_from_one(trace: &Value) {
    let n = trace["answers"].as_array().map_or(0, |a| a.len()) as u64;
    let c = &trace["custody"];
    for item in c["chain"]
        .as_array()
        .into_iter()
        .chain(c["candidates"].as_array())
        .flatten()
    {
        if let Some(a) = item["answer"].as_u64() {
            assert!((1..=n).contains(&a), "answer {a} of {n}: {trace:#}");
        }
    }
}

/// The leaf commands of the CLI, as paths (`trace list`).
fn leaf_commands() -> BTreeSet<String> {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, out: &mut BTreeSet<String>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        // A leaf, or a command that also runs without a subcommand (`trace`
        // sends, `inbox` lists).
        if !path.is_empty() && (subs.is_empty() || !cmd.is_subcommand_required_set()) {
            out.insert(path.trim().to_string());
        }
        for s in subs {
            walk(s, &format!("{path} {}", s.get_name()), out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&tracenet::cli::Cli::command(), "", &mut out);
    out
}

const HELD: &str = r#"{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"},{"date":"2012-02-20","kind":"exported","counterpart":"KE","reference":"EXP-1"}"#;
const LOST: &str = r#"{"date":"2012-03-14","kind":"imported","counterpart":"DE","holder":"state_police"},{"date":"2019-07-30","kind":"lost","holder":"state_police"}"#;

#[test]
fn every_command_speaks_one_vocabulary_checked_by_its_schema() {
    let mut c = Checker::new();
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    // The regional organisation: its anchor key and a roster.
    let anchor = c.run(
        "identity",
        w,
        &["roster", "keygen", "--out", path_str(&w.join("anchor.key"))],
    );
    covered.insert("roster keygen");
    let anchor_key = anchor["public_key"].as_str().unwrap().to_string();

    // A State's node set up by hand, never started.
    let solo = w.join("solo");
    c.run(
        "init",
        &solo,
        &[
            "init",
            "--state",
            "GH",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--anchor",
            &anchor_key,
        ],
    );
    covered.insert("init");
    let me = c.read("identity", &solo, &["identity", "show"]);
    covered.insert("identity show");
    let roster = w.join("roster.json");
    let r = path_str(&roster);
    c.run(
        "roster-summary",
        w,
        &[
            "roster",
            "new",
            "--out",
            r,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    c.run(
        "roster-summary",
        w,
        &[
            "roster",
            "add",
            r,
            "--state",
            "GH",
            "--name",
            "Ghana",
            "--key",
            me["public_key"].as_str().unwrap(),
            "--prefix",
            "DE/CARLWALTHER",
            "--address",
            "/ip4/127.0.0.1/tcp/1",
        ],
    );
    c.run(
        "roster-summary",
        w,
        &[
            "roster",
            "add",
            r,
            "--state",
            "SN",
            "--name",
            "Senegal",
            "--key",
            &anchor_key,
        ],
    );
    c.run(
        "roster-summary",
        w,
        &["roster", "remove", r, "--state", "SN"],
    );
    // GH's key set (again, to the same: the node installs this roster).
    c.run(
        "roster-summary",
        w,
        &[
            "roster",
            "set-key",
            r,
            "--state",
            "GH",
            "--key",
            me["peer_id"].as_str().unwrap(),
        ],
    );
    // GH's OPRF key set, so that roster show lists one.
    c.run(
        "roster-summary",
        w,
        &[
            "roster",
            "set-oprf-key",
            r,
            "--state",
            "GH",
            "--oprf-key",
            me["oprf_key"].as_str().unwrap(),
        ],
    );
    // The federation's gossip validation stated, so that roster show lists it.
    c.run(
        "roster-summary",
        w,
        &["roster", "set-gossip-validation", r, "payload"],
    );
    // And the links every member keeps.
    c.run(
        "roster-summary",
        w,
        &["roster", "set-peer-connections", r, "48"],
    );
    // And served lists.
    c.run(
        "roster-summary",
        w,
        &["roster", "set-served-lists", r, "on"],
    );
    c.run(
        "roster-summary",
        w,
        &[
            "roster",
            "sign",
            r,
            "--anchor-key",
            path_str(&w.join("anchor.key")),
        ],
    );
    c.read(
        "roster-verify",
        w,
        &["roster", "verify", r, "--anchor", &anchor_key],
    );
    c.read("roster-show", w, &["roster", "show", r]);
    c.run("roster-install", &solo, &["roster", "install", r]);
    covered.extend([
        "roster new",
        "roster add",
        "roster remove",
        "roster set-key",
        "roster set-oprf-key",
        "roster set-gossip-validation",
        "roster set-peer-connections",
        "roster set-served-lists",
        "roster sign",
        "roster verify",
        "roster show",
        "roster install",
    ]);
    c.run("config-check", &solo, &["config", "check"]);
    covered.insert("config check");

    // The maker reference table, signed by the same anchor; shown before and
    // after it is installed on the stopped node.
    let shipped = common::repo_file("config/makers.toml");
    let table = w.join("makers.json");
    c.run(
        "makers-summary",
        w,
        &[
            "makers",
            "sign",
            path_str(&shipped),
            "--anchor-key",
            path_str(&w.join("anchor.key")),
            "--out",
            path_str(&table),
        ],
    );
    c.read(
        "makers-summary",
        w,
        &[
            "makers",
            "verify",
            path_str(&table),
            "--anchor",
            &anchor_key,
        ],
    );
    let built_in = c.read("makers-show", &solo, &["makers", "show"]);
    assert_eq!(built_in["source"], "built_in", "{built_in:#}");
    let installed = c.run(
        "makers-install",
        &solo,
        &["makers", "install", path_str(&table)],
    );
    assert_eq!(installed["installed"], true, "{installed:#}");
    let signed = c.read("makers-show", &solo, &["makers", "show"]);
    assert_eq!(signed["source"], "signed", "{signed:#}");
    // A file's text (TOML), not prose: checked by its schema only.
    let table = c.run("makers-table", &solo, &["makers", "show", "--toml"]);
    assert_eq!(table["version"], signed["version"], "{table:#}");
    covered.extend([
        "makers sign",
        "makers verify",
        "makers install",
        "makers show",
    ]);

    // A registry worked offline.
    let generated = w.join("gen.jsonl");
    c.run(
        "registry-generate",
        &solo,
        &[
            "registry",
            "generate",
            "--state",
            "GH",
            "--count",
            "50",
            "--out",
            path_str(&generated),
        ],
    );
    let imported = c.run(
        "registry-import",
        &solo,
        &["registry", "import", path_str(&generated)],
    );
    assert_eq!(imported["added"], 50, "{imported:#}");
    c.run(
        "registry-export",
        &solo,
        &["registry", "export", path_str(&w.join("out.jsonl"))],
    );
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&generated)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let id = first["id"].as_str().unwrap();
    c.read("registry-show", &solo, &["registry", "show", id]);
    let m = &first["marking"];
    c.read(
        "registry-find",
        &solo,
        &[
            "registry",
            "find",
            "--maker",
            m["manufacturer"].as_str().unwrap(),
            "--country",
            m["country"].as_str().unwrap(),
            "--serial",
            m["serial"].as_str().unwrap(),
        ],
    );
    c.read("registry-stats", &solo, &["registry", "stats"]);
    c.read("registry-prefixes", &solo, &["registry", "prefixes"]);
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(&generated)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let removed = c.run(
        "registry-remove",
        &solo,
        &["registry", "remove", last["id"].as_str().unwrap()],
    );
    assert_eq!(removed["removed"], 1, "{removed:#}");
    covered.extend([
        "registry remove",
        "registry generate",
        "registry import",
        "registry export",
        "registry show",
        "registry find",
        "registry stats",
        "registry prefixes",
    ]);

    // A federation: DE holds the weapon's export, KE recorded it lost.
    // DE and KE have a person decide urgent requests.
    let mut fed = Federation::start_with(
        vec![
            NodeSpec::bootstrap("BE"),
            NodeSpec::member(
                "DE",
                vec![record(
                    "DE-1",
                    "Carl Walther",
                    "DE",
                    "WP 104233",
                    &[("KE", 2012)],
                    HELD,
                )],
            ),
            NodeSpec::member(
                "KE",
                vec![record(
                    "KE-1",
                    "Walther",
                    "DE",
                    "WP104233",
                    &[("KE", 2012)],
                    LOST,
                )],
            ),
            NodeSpec::member("NG", Vec::new()),
        ],
        |n| {
            if n.state == "DE" || n.state == "KE" {
                std::fs::write(n.dir.join("policy.toml"), "[review]\nurgent = true\n").unwrap();
            }
        },
    );
    let (de, ke, ng) = (
        fed.node("DE").dir.clone(),
        fed.node("KE").dir.clone(),
        fed.node("NG").dir.clone(),
    );

    let t = fed::trace_walther(fed.node("NG"), "WP104233", &["--wait", "20"]);
    c.check("trace", "trace --wait", &t);
    answer_numbers_count_from_one(&t);
    assert!(
        !t["custody"]["chain"].as_array().unwrap().is_empty(),
        "{t:#}"
    );
    let id = t["id"].as_str().unwrap().to_string();
    covered.insert("trace");
    let shown = c.read("trace", &ng, &["trace", "show", &id]);
    answer_numbers_count_from_one(&shown);
    c.read("trace-list", &ng, &["trace", "list"]);
    let newest = c.read("trace-list", &ng, &["trace", "list", "--limit", "1"]);
    assert_eq!(newest.as_array().map(Vec::len), Some(1), "{newest:#}");
    // The API serves traces a page at a time: a cursor to the next page.
    let (code, body) = common::http_get(&ng, "/v1/traces?limit=1", true);
    assert_eq!(code, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    c.check("trace-page", "GET /v1/traces?limit=1", &page);
    for bad in [
        "/v1/traces?limit=0",
        "/v1/traces?limit=x",
        "/v1/traces?cursor=nope",
    ] {
        let (code, body) = common::http_get(&ng, bad, true);
        assert_eq!(code, 400, "{bad}: {body}");
        let named = bad.split(['?', '=']).nth(1).unwrap();
        assert!(body.contains(named), "{bad}: {body}");
    }
    let ev = w.join("evidence.json");
    c.run(
        "trace-export",
        &ng,
        &["trace", "export", &id, path_str(&ev)],
    );
    c.read(
        "verify",
        w,
        &[
            "verify",
            path_str(&ev),
            "--anchor",
            &fed.anchor.public_key().to_base64(),
        ],
    );
    covered.extend(["trace show", "trace list", "trace export", "verify"]);

    // A blind trace (proto-docs/BLIND.md): its holders in trace show's blind
    // section; send-clear with no holder awaiting the officer sends nothing.
    let b = fed::trace_walther(fed.node("NG"), "WP104233", &["--blind", "--wait", "20"]);
    c.check("trace", "trace --blind", &b);
    let bid = b["id"].as_str().unwrap().to_string();
    let shown = c.read("trace", &ng, &["trace", "show", &bid]);
    assert!(
        shown["blind"]["holders"]
            .as_array()
            .is_some_and(|h| !h.is_empty()),
        "{shown:#}"
    );
    c.run("trace", &ng, &["trace", "send-clear", &bid]);
    covered.insert("trace send-clear");

    // An urgent trace waits for a person at each holder: approve at DE,
    // refuse at KE; retry meanwhile.
    let urgent = fed::trace_walther(fed.node("NG"), "WP104233", &["--urgent"]);
    let uid = urgent["id"].as_str().unwrap().to_string();
    let item = |dir: &Path| {
        fed::wait_for(
            "the urgent request in the inbox",
            std::time::Duration::from_secs(20),
            || {
                let items = common::json(dir, &["inbox", "list"]);
                items
                    .as_array()?
                    .iter()
                    .find(|i| i["trace"] == uid.as_str())
                    .cloned()
            },
        )
    };
    let (de_item, ke_item) = (item(&de), item(&ke));
    c.read("inbox-list", &de, &["inbox", "list"]);
    c.read("inbox-list", &de, &["inbox"]);
    c.run("trace", &ng, &["trace", "retry", &uid]);
    c.run(
        "inbox-item",
        &de,
        &["inbox", "approve", de_item["id"].as_str().unwrap()],
    );
    c.run(
        "inbox-item",
        &ke,
        &[
            "inbox",
            "refuse",
            ke_item["id"].as_str().unwrap(),
            "--reason",
            "ongoing_investigation",
        ],
    );
    covered.extend([
        "inbox",
        "inbox list",
        "inbox approve",
        "inbox refuse",
        "trace retry",
    ]);

    // KE recorded the weapon lost: NG's trace raised an alert there.
    let alerts = c.read("alerts", &ke, &["alerts"]);
    assert!(!alerts.as_array().unwrap().is_empty(), "{alerts:#}");
    // The federation's anchor signs a table; NG's running node applies it.
    let fed_key = w.join("fed-anchor.key");
    fed.anchor.store(&fed_key).unwrap();
    let fed_table = w.join("fed-makers.json");
    c.run(
        "makers-summary",
        w,
        &[
            "makers",
            "sign",
            path_str(&shipped),
            "--anchor-key",
            path_str(&fed_key),
            "--out",
            path_str(&fed_table),
        ],
    );
    c.run(
        "makers-install",
        &ng,
        &["makers", "install", path_str(&fed_table)],
    );
    c.read("makers-show", &ng, &["makers", "show"]);
    c.read("status", &ng, &["status"]);
    c.read("status", &fed.node("BE").dir.clone(), &["status"]);
    c.read("peers", &ng, &["peers"]);
    c.read("report", &de, &["report"]);
    // The CSV speaks the same vocabulary: the period as RFC 3339 instants.
    let csv = common::ok(&de, &["report", "--csv"]);
    for line in csv.lines() {
        if let Some(v) = line.strip_prefix("from,").or(line.strip_prefix("to,")) {
            tracenet::model::instant::parse_rfc3339(v).unwrap_or_else(|e| panic!("{e}: {csv}"));
        }
    }
    c.read("audit-show", &de, &["audit", "show"]);
    // Instants in query parameters: RFC 3339 or Unix seconds, else a 400.
    let (code, body) = common::http_get(&de, "/v1/audit?since=2020-01-01T00:00:00Z", true);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("query_received"), "{body}");
    let (code, body) = common::http_get(&de, "/v1/report?from=yesterday", true);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("?from=yesterday"), "{body}");
    let (code, body) = common::http_get(&de, "/v1/report?from=200&to=100", true);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("is after ?to=100"), "{body}");
    // A day, as the CLI and the console take: `from` from its start, `to`
    // through its end; a day before 1970 is a 400.
    let (code, body) = common::http_get(&de, "/v1/audit?since=2020-01-01", true);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("query_received"), "{body}");
    let today = tracenet::model::Date::today();
    let tomorrow = tracenet::model::Date::from_days(today.to_days() + 1).unwrap();
    // Around midnight the CLI's today below may be the next day.
    let still_today = || tracenet::model::Date::today() == today;
    let (code, body) = common::http_get(&de, &format!("/v1/report?from={today}&to={today}"), true);
    assert_eq!(code, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["from"], format!("{today}T00:00:00Z"), "{body}");
    assert_eq!(r["to"], format!("{tomorrow}T00:00:00Z"), "{body}");
    let cli = common::json(&de, &["report", "--from", &today.to_string()]);
    if still_today() {
        assert_eq!((&r["from"], &r["to"]), (&cli["from"], &cli["to"]), "{cli}");
    }
    let (code, body) = common::http_get(&de, "/v1/report?from=2026-12-02&to=2026-12-01", true);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("is after ?to=2026-12-01"), "{body}");
    let (code, body) = common::http_get(
        &de,
        "/v1/report?from=2026-12-01T12:00:00Z&to=2026-12-01",
        true,
    );
    assert_eq!(code, 200, "half a day: {body}");
    let (code, body) = common::http_get(&de, "/v1/report?from=1969-12-31", true);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("before 1970-01-01"), "{body}");
    // A time past the dates' end is a typing error, not a period shown back
    // as ending 9999-12-31 (a helper's trial); the last second before it is
    // taken.
    for path in [
        "/v1/report?to=99999999999999",
        "/v1/report?to=18446744073709551615",
        "/v1/audit?since=3000-01-01T00:00:00Z",
    ] {
        let (code, body) = common::http_get(&de, path, true);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains("after 2999-12-31"), "{path}: {body}");
    }
    let (code, body) = common::http_get(&de, "/v1/report?to=32503679999", true);
    assert_eq!(code, 200, "{body}");
    // A day that is not one says why; a misspelt parameter is not read as
    // absent (a helper's trial: ?frm= gave the whole log's report).
    let (code, body) = common::http_get(&de, "/v1/report?from=2026-02-30", true);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("?from=2026-02-30: ") && !body.contains("give a day like"),
        "{body}"
    );
    for path in ["/v1/report?frm=2026-01-01", "/v1/audit?sinse=2026-01-01"] {
        let (code, body) = common::http_get(&de, path, true);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains("not a parameter of"), "{path}: {body}");
    }
    // Every endpoint: each of these answered 200 as if the parameter were
    // absent (a helper's trial: ?pendng=true gave decided items too).
    for (path, said) in [
        ("/v1/traces?lmit=3", "not a parameter of /v1/traces"),
        ("/v1/alerts?lmit=3", "not a parameter of /v1/alerts"),
        (
            "/v1/inbox?pendng=true",
            "not a parameter of /v1/inbox, which takes ?limit, ?cursor and ?pending",
        ),
        ("/v1/traces?limit=3&limit=4", "?limit: given twice"),
        ("/v1/status?x=1", "/v1/status takes no query parameters"),
        (
            "/v1/registry/stats?x=1",
            "/v1/registry/stats takes no query parameters",
        ),
        (
            "/v1/traces/no-such-trace?wait=1000",
            "not a parameter of /v1/traces/{id}",
        ),
        (
            "/v1/traces/no-such-trace?wait_ms=abc",
            "is not a whole number of milliseconds",
        ),
        (
            "/v1/traces/no-such-trace?answers=-1",
            "is not a whole number",
        ),
    ] {
        let (code, body) = common::http_get(&de, path, true);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains(said), "{path}: {body}");
    }
    for path in [
        "/v1/traces?limit=3",
        "/v1/inbox?pending=true",
        "/v1/alerts?limit=2",
        "/v1/status",
        "/v1/status?",
        // Monitoring probes may add their own.
        "/v1/health?nocache=1",
        "/metrics?nocache=1",
    ] {
        let (code, body) = common::http_get(&de, path, true);
        assert_eq!(code, 200, "{path}: {body}");
    }
    let o = common::run(&de, &["audit", "show", "--since", "1969-12-31"]);
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("before 1970-01-01"),
        "{}",
        common::stderr(&o)
    );
    c.read("audit-verify", &de, &["audit", "verify"]);
    c.run(
        "audit-export",
        &de,
        &["audit", "export", path_str(&w.join("audit.jsonl"))],
    );
    c.read("registry-stats", &de, &["registry", "stats"]);
    c.read("registry-prefixes", &de, &["registry", "prefixes"]);
    c.read("registry-show", &de, &["registry", "show", "DE-1"]);
    c.read(
        "registry-find",
        &de,
        &[
            "registry",
            "find",
            "--maker",
            "Walther",
            "--country",
            "DE",
            "--serial",
            "WP1O4233",
        ],
    );
    covered.extend([
        "alerts",
        "status",
        "peers",
        "report",
        "audit show",
        "audit verify",
        "audit export",
    ]);

    // The console's accounts, through the running node.
    let added = c.run(
        "officer-password",
        &de,
        &["officer", "add", "amina.diallo", "--role", "reviewer"],
    );
    assert_eq!(added["role"], "reviewer", "{added:#}");
    c.run(
        "officer-password",
        &de,
        &["officer", "add", "chief", "--role", "admin"],
    );
    c.read("officer-list", &de, &["officer", "list"]);
    c.run(
        "officer-password",
        &de,
        &["officer", "reset", "amina.diallo"],
    );
    c.run(
        "officer-remove",
        &de,
        &["officer", "remove", "amina.diallo"],
    );
    covered.extend([
        "officer add",
        "officer list",
        "officer reset",
        "officer remove",
    ]);

    // Logs written to a file carry no colour codes.
    for s in ["DE", "KE", "NG"] {
        let log = fed.node(s).log();
        assert!(!log.is_empty() && !log.contains('\x1b'), "{s}'s log: {log}");
    }

    // Stopped: the same outputs read from the stores.
    for s in ["DE", "KE", "NG"] {
        fed.node_mut(s).kill();
    }
    c.read("trace-list", &ng, &["trace", "list"]);
    let offline = c.read("trace", &ng, &["trace", "show", &id]);
    answer_numbers_count_from_one(&offline);
    c.read("inbox-list", &de, &["inbox", "list"]);
    c.read("alerts", &ke, &["alerts"]);
    c.read("report", &ng, &["report", "--from", "2020-01-01"]);
    c.read("audit-show", &ke, &["audit", "show"]);
    c.read("makers-show", &ng, &["makers", "show"]);
    c.read("officer-list", &de, &["officer", "list"]);
    c.run(
        "officer-password",
        &de,
        &["officer", "add", "kofi", "--role", "officer"],
    );
    c.run("officer-remove", &de, &["officer", "remove", "kofi"]);

    // Every schema was used, and every command with output has one.
    let unused: Vec<&String> = c
        .schemas
        .keys()
        .filter(|k| *k != "common" && !c.used.contains(*k))
        .collect();
    assert!(
        unused.is_empty(),
        "schemas no output was checked against: {unused:?}"
    );
    // Commands without a JSON document of their own: the node itself, the demo.
    let exempt = ["node", "node run", "demo"];
    let missing: Vec<String> = leaf_commands()
        .into_iter()
        .filter(|cmd| !covered.contains(cmd.as_str()) && !exempt.contains(&cmd.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "commands whose --json output no schema checks: {missing:?}"
    );
}

/// The vocabulary rules find what they are for.
/// A report from a log that misses entries carries `audit_entries_missing`,
/// which its schema describes (the run above sees only intact logs); the
/// field is absent, not empty, from an intact log's.
#[test]
fn a_report_of_a_log_missing_entries_matches_its_schema() {
    let mut c = Checker::new();
    let mut r = tracenet::node::report::Report {
        to: 86_400,
        ..Default::default()
    };
    let intact = serde_json::to_value(&r).unwrap();
    assert!(intact.get("audit_entries_missing").is_none(), "{intact}");
    c.check("report", "an intact log's report", &intact);
    use tracenet::node::report::MissingEntries;
    r.audit_entries_missing = vec![
        MissingEntries {
            first: 0,
            last: 725,
        },
        MissingEntries {
            first: 800,
            last: 800,
        },
    ];
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(
        doc["audit_entries_missing"],
        serde_json::json!([{"first": 0, "last": 725}, {"first": 800, "last": 800}])
    );
    c.check("report", "a report missing entries", &doc);
}

#[test]
fn the_vocabulary_rules_catch_each_kind_of_fault() {
    let cases = [
        (r#"{"at":1796093381}"#, "RFC 3339"),
        (r#"{"received_at":"01/12/2026"}"#, "RFC 3339"),
        (r#"{"deadline":"2026-12-01"}"#, "RFC 3339"),
        (r#"{"valid_until":1796093381}"#, "as a number"),
        (
            r#"{"key":"Ziyv0K+TQYdpfM36pokzeGV8vDIg4ikKvuxMTxSNshE="}"#,
            "one name",
        ),
        (r#"{"addrs":[]}"#, "one name"),
        (
            r#"{"public_key":"662cafd0af934187697ccdfaa689337865"}"#,
            "base64",
        ),
        (r#"{"prefixes":[["DE/CARLWALTHER",3]]}"#, "tuple"),
    ];
    for (doc, want) in cases {
        let mut faults = Vec::new();
        vocabulary(&serde_json::from_str(doc).unwrap(), "", &mut faults);
        assert!(faults.iter().any(|f| f.contains(want)), "{doc}: {faults:?}");
    }
    let mut faults = Vec::new();
    let good = r#"{"at":"2026-12-01T02:49:41Z","since":null,"public_key":"Ziyv0K+TQYdpfM36pokzeGV8vDIg4ikKvuxMTxSNshE=","addresses":["/ip4/127.0.0.1/tcp/1"]}"#;
    vocabulary(&serde_json::from_str(good).unwrap(), "", &mut faults);
    assert!(faults.is_empty(), "{faults:?}");
}

/// The rules for people find what they are for, and pass what is right.
#[test]
fn the_rules_for_people_catch_each_kind_of_fault() {
    for (text, want) in [
        ("\x1b[32mINFO\x1b[0m node started", "ANSI"),
        ("  DE: withheld: NationalLaw", "Rust name"),
        ("  candidate Some(\"DE-1\")", "debug"),
        ("  since 1796093381", "Unix seconds"),
        ("until 18446744073709551615", "u64::MAX"),
        ("imported 1 records", "plural"),
        ("3 answer(s)", "plural left"),
        ("held by state_police", "code instead of words"),
        ("  holder: null", "debug"),
    ] {
        assert!(
            common::for_people(text).iter().any(|f| f.contains(want)),
            "{text:?}: {:?}",
            common::for_people(text)
        );
    }
    let good = "  GH member 12D3KooWJZBMG9mCWnU6WLCPW7pfESGNf8zBG4kkGcAmXHMdtTYh Ghana\n\
                signed by 1 anchor: jjTAgLZpcO+UXEGe/Nk9qnB3Vrnk2GJCMQYURG9SL0w=\n\
                  exported DE → NG on 2012-02-20; 1 record; withheld: national law";
    assert!(
        common::for_people(good).is_empty(),
        "{:?}",
        common::for_people(good)
    );
}

/// `status`'s `own_key_elsewhere` once a copy of the node's key was seen
/// (the federation run above never has one): its schema, and the
/// vocabulary's rules.
#[test]
fn a_status_reporting_a_copy_of_its_key_matches_its_schema() {
    let c = Checker::new();
    let mut sub = c.schemas["status"]["properties"]["own_key_elsewhere"].clone();
    sub["$id"] = format!("{SCHEMA_BASE}status-own-key-elsewhere.json").into();
    let validator = jsonschema::options()
        .with_registry(&c.registry)
        .should_validate_formats(true)
        .build(&sub)
        .unwrap();
    let seen = tracenet::node::key_copies::KeyCopySeen {
        queries: 3,
        last_at: 1_764_990_000,
        last_from: "12D3KooWGzh7CvxhGyZtQEpC4dDuHdxrLxNQkvQCs3ZtrLQbYtCH".into(),
        last_query: "9f".repeat(16),
    };
    let doc = serde_json::to_value(&seen).unwrap();
    assert_eq!(doc["last_at"], "2025-12-06T03:00:00Z", "{doc}");
    let mut faults = Vec::new();
    vocabulary(&doc, "own_key_elsewhere", &mut faults);
    assert!(faults.is_empty(), "{faults:?}");
    for d in [doc, Value::Null] {
        let errors: Vec<String> = validator.iter_errors(&d).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?} {d}");
    }
    assert!(!validator.is_valid(&serde_json::json!({"queries": 0})));
}
