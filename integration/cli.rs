//! The command line as integrators use it: real processes of the built binary,
//! each in its own temporary data directory.

mod common;

use common::*;

#[test]
fn sample_registry_imports_finds_and_round_trips() {
    let d = init("DE");
    let sample = repo_file("config/sample-registry.jsonl");
    let s = json(d.path(), &["registry", "import", sample.to_str().unwrap()]);
    assert_eq!(
        (s["added"].as_u64(), s["rejected"].as_u64()),
        (Some(8), Some(0)),
        "{s}"
    );

    // Re-importing updates nothing and duplicates nothing.
    let again = json(d.path(), &["registry", "import", sample.to_str().unwrap()]);
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(8))
    );

    let found = json(
        d.path(),
        &[
            "registry",
            "find",
            "--maker",
            "WALTHER",
            "--country",
            "de",
            "--serial",
            "bp-o746",
        ],
    );
    let found = found.as_array().unwrap();
    assert_eq!(found[0]["record"]["id"], "DE-0000042");
    assert_eq!(found[0]["quality"], "folded");
    assert!(!found[0]["reasons"].as_array().unwrap().is_empty());

    let export1 = d.path().join("e1.jsonl");
    ok(d.path(), &["registry", "export", export1.to_str().unwrap()]);
    let d2 = init("DE");
    ok(
        d2.path(),
        &["registry", "import", export1.to_str().unwrap()],
    );
    let export2 = d2.path().join("e2.jsonl");
    ok(
        d2.path(),
        &["registry", "export", export2.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(&export1).unwrap(),
        std::fs::read(&export2).unwrap()
    );

    let stats = json(d.path(), &["registry", "stats"]);
    assert_eq!(stats["records"], 8);
    assert_eq!(stats["by_category"]["pistol"], 5);
    let shown = json(d.path(), &["registry", "show", "DE-0000042"]);
    assert_eq!(shown["events"][2]["kind"], "stolen");
}

#[test]
fn bad_lines_are_reported_by_file_line_and_field() {
    let d = init("NG");
    let f = d.path().join("bad.jsonl");
    std::fs::write(
        &f,
        concat!(
            r#"{"id":"A","marking":{"manufacturer":"Glock","country":"AT","serial":"X1"},"category":"pistol"}"#,
            "\n",
            r#"{"id":"B","marking":{"manufacturer":"Glock","country":"ZZ","serial":"X2"},"category":"pistol"}"#,
            "\n"
        ),
    )
    .unwrap();
    // The good line is imported, the bad one named; the exit status tells
    // a script the load was partial.
    let o = run(d.path(), &["registry", "import", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("1 added"), "{out}");
    assert!(
        out.contains(&format!("{}:2: marking.country:", f.display())),
        "{out}"
    );
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "warning: {}: 1 line rejected; the rest was imported (exit status 3)",
            f.display()
        )
    );
    // With --json, the summary is the whole of stdout.
    let o = run(
        d.path(),
        &["--json", "registry", "import", f.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rejected"], 1, "{v}");

    let strict = run(
        d.path(),
        &["registry", "import", "--strict", f.to_str().unwrap()],
    );
    assert_eq!(strict.status.code(), Some(1));
    assert!(stderr(&strict).contains(":2:"), "{}", stderr(&strict));
    // Every bad line is listed, then the one error line: all are fixed at once.
    let two = d.path().join("two.jsonl");
    let text = std::fs::read_to_string(&f).unwrap();
    let third = text.lines().nth(1).unwrap().replace("\"B\"", "\"C\"");
    std::fs::write(&two, format!("{text}{third}\n")).unwrap();
    let strict = run(
        d.path(),
        &["registry", "import", "--strict", two.to_str().unwrap()],
    );
    assert_eq!(strict.status.code(), Some(1));
    let e = stderr(&strict);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with(&format!("rejected {}:2: ", two.display())),
        "{e}"
    );
    assert!(
        lines[1].starts_with(&format!("rejected {}:3: ", two.display())),
        "{e}"
    );
    assert!(
        lines[2].starts_with("error: strict import: nothing imported; 2 bad lines, listed above"),
        "{e}"
    );
    // The first bad line is said once, in the list.
    assert!(!lines[2].contains(":2:"), "{e}");
}

#[test]
fn errors_are_one_line_with_the_right_exit_code() {
    let d = tempfile::tempdir().unwrap();
    // No configuration yet: a runtime error that says what to do.
    let o = run(d.path(), &["registry", "stats"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("tracenet init"), "{e}");

    // A bad value is a usage error, as clap's own: exit 2 and the usage line.
    let o = run(d.path(), &["init", "--state", "XX"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ISO 3166-1"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Usage: tracenet init"),
        "{}",
        stderr(&o)
    );

    let o = run(d.path(), &["registry", "find", "--nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    // Wrong values of flags are usage errors: exit 2, the flag named, the usage line.
    for args in [
        // No bound held a synthetic registry of 2^64 records (a hostile
        // trial).
        vec![
            "registry",
            "generate",
            "--state",
            "DE",
            "--count",
            "18446744073709551615",
            "--out",
            "g.jsonl",
        ],
        // An export is JSON Lines, which `registry import` would read as
        // CSV under this name (a new user's trial).
        vec!["registry", "export", "records.csv"],
        vec!["registry", "export", "records.TSV"],
        vec![
            "registry", "generate", "--state", "DE", "--count", "1", "--out", "g.CSV",
        ],
        vec!["audit", "export", "audit.csv"],
        vec![
            "registry", "generate", "--state", "ZZ", "--count", "1", "--out", "g.jsonl",
        ],
        vec!["officer", "add", "bad name!"],
        vec!["trace", "list", "--limit", "0"],
        vec!["alerts", "--limit", "-1"],
        vec!["registry", "find", "--serial", " - "],
        vec!["registry", "find", "--serial", "*"],
        vec!["registry", "find", "--serial", "1", "--country", "XX"],
        vec!["registry", "find", "--serial", "1", "--limit", "0"],
        vec![
            "trace",
            "--maker",
            "Walther",
            "--country",
            "DE",
            "--serial",
            "*",
            "--category",
            "pistol",
            "--ground",
            "seized_in_crime",
            "--use",
            "criminal_investigation",
        ],
        vec![
            "trace",
            "--maker",
            "Walther",
            "--country",
            "DE",
            "--serial",
            "1",
            "--category",
            "spoon",
            "--ground",
            "seized_in_crime",
            "--use",
            "criminal_investigation",
        ],
        vec![
            "trace",
            "--maker",
            "Walther",
            "--country",
            "DE",
            "--serial",
            "1",
            "--category",
            "pistol",
            "--ground",
            "bogus",
            "--use",
            "criminal_investigation",
        ],
        vec!["inbox", "refuse", "abc", "--reason", "bogus"],
        vec![
            "roster", "add", "r.json", "--state", "XX", "--name", "X", "--key", "abc",
        ],
        vec!["report", "--from", "2026-02-01", "--to", "2026-01-01"],
        // After today, the default --to; before 1970, where the log's
        // times start.
        vec!["report", "--from", "2999-01-01"],
        vec!["report", "--to", "1969-12-31"],
        vec!["report", "--from", "1900-01-01", "--to", "2026-01-01"],
    ] {
        let o = run(d.path(), &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains("Usage:"), "{args:?}: {e}");
        assert!(!e.contains("trace refused"), "{args:?}: {e}");
    }

    let d = init("DE");
    let o = run(d.path(), &["init", "--state", "DE"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"));
    for o in [
        run(d.path(), &["registry", "show", "no such id"]),
        run(d.path(), &["registry", "import", "/nonexistent/file.jsonl"]),
    ] {
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.starts_with("error: ") && e.lines().count() == 1, "{e}");
        assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
    }
}

#[test]
fn csv_import_with_events() {
    let d = init("DE");
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    std::fs::write(
        &w,
        "id,manufacturer,country,serial,category,imports\nC1,Beretta,IT,M9 011,pistol,DE:2008\n",
    )
    .unwrap();
    std::fs::write(
        &e,
        "record_id,date,kind,holder,counterpart,reference,note\nC1,2008-02-12,imported,licensed_dealer,IT,IMP-1,\n",
    )
    .unwrap();
    let s = json(
        d.path(),
        &[
            "registry",
            "import",
            w.to_str().unwrap(),
            "--events",
            e.to_str().unwrap(),
        ],
    );
    assert_eq!(s["added"], 1, "{s}");
    let shown = json(d.path(), &["registry", "show", "C1"]);
    assert_eq!(shown["events"][0]["reference"], "IMP-1");
    let p = json(d.path(), &["registry", "prefixes"]);
    assert_eq!(p["prefixes"][0]["prefix"], "IT/BERETTA");
    assert_eq!(p["prefixes"][0]["records"], 1);
    assert_eq!(p["import_countries"][0]["country"], "DE");
}

#[test]
fn a_trace_with_bad_input_is_refused_before_anything_is_sent() {
    // No node runs here: a refusal must come from validation, not from the network.
    let d = init("KE");
    let base = [
        "trace",
        "--category",
        "pistol",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
    ];
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "--maker",
                "Walther",
                "--country",
                "XX",
                "--serial",
                "BP0746",
            ],
            "--country",
        ),
        (
            &["--maker", "Walther", "--country", "DE", "--serial", " - "],
            "serial",
        ),
        (
            &["--maker", " ", "--country", "DE", "--serial", "BP0746"],
            "--maker",
        ),
        (
            &["--maker", "&&", "--country", "DE", "--serial", "BP0746"],
            "manufacturer",
        ),
        (
            &[
                "--maker",
                "Walther",
                "--country",
                "DE",
                "--serial",
                "BP0746",
                "--import",
                "QQ:2009",
            ],
            "--import",
        ),
        (&["--maker", "Walther", "--country", "DE"], "--serial"),
    ];
    for (extra, needle) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: a usage error");
        let e = stderr(&o);
        let first = e.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{args:?}: {e}"
        );
        assert!(e.contains("Usage: tracenet trace"), "{args:?}: {e}");
        assert!(!e.contains("trace refused"), "{args:?}: {e}");
        assert!(
            !e.contains("no node is running"),
            "{args:?}: validated too late: {e}"
        );
    }
    // A misspelt but non-empty maker passes the CLI's own checks: the node,
    // whose maker table holds its local makers too, judges it
    // (integration/makers.rs). Here it fails only because no node runs.
    let mut args: Vec<&str> = base.to_vec();
    args.extend_from_slice(&["--maker", "Walthr", "--country", "DE", "--serial", "BP0746"]);
    let e = stderr(&run(d.path(), &args));
    assert!(e.contains("no node is running"), "{e}");
}

#[test]
fn the_demo_runs_its_traces_and_stops() {
    let d = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // It has no JSON to give: --json is a usage error, not ignored.
    let o = run(d.path(), &["--json", "demo"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("no JSON output"), "{}", stderr(&o));
    let o = std::process::Command::new(bin())
        .args(["demo", "--dir", d.path().join("fed").to_str().unwrap()])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // With --dir, no temporary folder is left behind.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    assert_eq!(out.matches("trace: ").count(), 6, "{out}");
    assert_eq!(out.matches("status: answered").count(), 6, "{out}");
    // The blind trace: the marking reached the holders only.
    assert!(
        out.contains("States that learned the marking: ") && out.contains("hit: asked blind"),
        "{out}"
    );
    assert!(
        out.contains("hit [exact match]")
            && out.contains("hit [folded match]")
            && out.contains("hit [wildcard match]"),
        "{out}"
    );
    assert!(out.contains("withheld"), "{out}");
    assert!(!out.contains("NOT vouched"), "{out}");
    // National-only details of the stories never reach the requester.
    assert!(
        !out.contains("armoury inventory") && !out.contains("EXP-2012-0077"),
        "{out}"
    );
    assert!(out.ends_with("federation stopped\n"), "{out}");
    // Written for people: words, dates, no codes or debug forms.
    let faults = for_people(&out);
    assert!(faults.is_empty(), "{faults:#?}\n{out}");
}

#[test]
fn config_check_explains_errors_and_accepts_the_examples() {
    let d = tempfile::tempdir().unwrap();
    for example in ["config/node.toml", "config/bootstrap.toml"] {
        let out = ok(
            d.path(),
            &["config", "check", repo_file(example).to_str().unwrap()],
        );
        assert!(out.contains("valid"), "{example}: {out}");
    }
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "state = \"DE\"\n[node]\nrole = \"bosstrap\"\n").unwrap();
    let o = run(d.path(), &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("{}:3:", bad.display())),
        "{}",
        stderr(&o)
    );
}

/// A usable key (Ed25519's base point, hex), for where the key itself is
/// never used.
const ANY_KEY: &str = "5866666666666666666666666666666666666666666666666666666666666666";

/// A FIFO where a file is read held the command for ever, and `/dev/zero`
/// filled memory at gigabytes a second (a helper's hostile trial): each is
/// refused at once, naming what it is.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_given_as_a_file_is_refused_at_once() {
    let d = init("DE");
    let fifo = d.path().join("policy.toml");
    mkfifo(&fifo);
    let o = run(d.path(), &["node", "run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("a FIFO (named pipe)"), "{}", stderr(&o));
    let f = fifo.to_str().unwrap();
    for args in [
        vec!["config", "check", f],
        vec!["roster", "show", "/dev/zero"],
        vec!["roster", "verify", "/dev/zero", "--anchor", ANY_KEY],
        vec!["verify", "/dev/zero", "--anchor", ANY_KEY],
    ] {
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("not a regular file"), "{args:?}: {e}");
    }
}

/// Output into a full disk (`/dev/full`) is said as such, naming where:
/// printed reports panicked as an internal error, and exports said only
/// "No space left on device" (a helper's hostile trial).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_said_naming_where_never_as_an_internal_error() {
    let d = init("DE");
    for args in [
        vec!["report", "--csv"],
        vec!["audit", "show"],
        vec!["--json", "trace", "list"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = std::process::Command::new(bin())
            .arg("--data-dir")
            .arg(d.path())
            .args(&args)
            .stdout(full)
            .output()
            .unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(
            e.contains("standard output") && e.contains("No space left") && !e.contains("internal"),
            "{args:?}: {e}"
        );
    }
    // An entry to export: the import's.
    let sample = repo_file("config/sample-registry.jsonl");
    ok(d.path(), &["registry", "import", sample.to_str().unwrap()]);
    let o = run(d.path(), &["audit", "export", "/dev/full"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write into /dev/full"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_node_does_not_start_on_a_bad_policy() {
    let d = init("DE");
    std::fs::write(
        d.path().join("policy.toml"),
        "disclose = \"full\"\n[review]\nurgnet = true\n",
    )
    .unwrap();
    let o = run(d.path(), &["node", "run"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("policy.toml:3:") && e.contains("urgnet"), "{e}");
    // `config check`, run before a restart, says so too.
    let o = run(d.path(), &["config", "check"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("policy.toml:3:") && e.contains("urgnet"), "{e}");
}

/// `init` takes what a node needs, so that no TOML is edited by hand; the next
/// steps fit the role; `roster install --anchor` on a node without anchors
/// verifies with them and keeps them; a missing data directory is named so.
#[test]
fn init_and_roster_install_take_what_a_node_needs() {
    let root = tempfile::tempdir().unwrap();
    let anchor_file = root.path().join("anchor.key");
    let anchor = common::json(
        root.path(),
        &["roster", "keygen", "--out", anchor_file.to_str().unwrap()],
    )["public_key"]
        .as_str()
        .unwrap()
        .to_string();

    // A member, with every flag.
    let de = root.path().join("de");
    let out = common::json(
        &de,
        &[
            "init",
            "--state",
            "DE",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--anchor",
            &anchor,
        ],
    );
    assert_eq!(out["role"], "member", "{out}");
    assert!(out["next"].to_string().contains("registry import"), "{out}");
    // The next commands name the directory, to be typed as they are.
    assert!(
        out["next"]
            .to_string()
            .contains(&format!("tracenet node run --data-dir {}", de.display())),
        "{out}"
    );
    let cfg = common::json(&de, &["config", "check"]);
    assert_eq!(cfg["node"]["listen"][0], "/ip4/127.0.0.1/tcp/0", "{cfg}");
    assert_eq!(cfg["node"]["api_listen"], "127.0.0.1:0", "{cfg}");
    assert_eq!(cfg["trust"]["anchors"][0], anchor.as_str(), "{cfg}");
    assert_eq!(cfg["trust"]["threshold"], 1, "{cfg}");

    // A bootstrap node without an anchor: told to get one, never to import.
    let be = root.path().join("be");
    let text = common::ok(&be, &["init", "--state", "BE", "--role", "bootstrap"]);
    assert!(
        text.contains("anchor public key") && !text.contains("registry import"),
        "{text}"
    );
    assert_eq!(
        common::json(&be, &["config", "check"])["node"]["role"],
        "bootstrap"
    );
    // It holds no registry: an import into it is refused, saying so.
    let sample = common::repo_file("config/sample-registry.jsonl");
    let o = common::run(&be, &["registry", "import", sample.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stdout(&o));
    assert!(
        common::stderr(&o).contains("bootstrap node's data directory"),
        "{}",
        common::stderr(&o)
    );

    // Bad flags are named, and nothing is written.
    let bad = root.path().join("bad");
    for (flag, value) in [
        ("--anchor", "AAAA"),
        ("--listen", "not-a-multiaddr"),
        ("--api-listen", "10.0.0.1:80"),
    ] {
        let o = common::run(&bad, &["init", "--state", "NG", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag}: a usage error");
        let err = common::stderr(&o);
        assert!(err.contains(flag.trim_start_matches("--")), "{flag}: {err}");
        assert!(!bad.join("tracenet.toml").exists(), "{flag}");
    }

    // `roster install --anchor` on the bootstrap node, which has no anchors.
    let roster = root.path().join("roster.json");
    let r = roster.to_str().unwrap();
    let today = tracenet::model::Date::today();
    let from = tracenet::model::Date::from_days(today.to_days() - 1)
        .unwrap()
        .to_string();
    let until = tracenet::model::Date::from_days(today.to_days() + 365)
        .unwrap()
        .to_string();
    common::ok(
        root.path(),
        &[
            "roster",
            "new",
            "--out",
            r,
            "--valid-from",
            &from,
            "--valid-until",
            &until,
        ],
    );
    for (state, dir, role) in [("DE", &de, "member"), ("BE", &be, "bootstrap")] {
        let key = common::json(dir, &["identity", "show"])["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        common::ok(
            root.path(),
            &[
                "roster", "add", r, "--state", state, "--name", "A State", "--key", &key, "--role",
                role,
            ],
        );
    }
    common::ok(
        root.path(),
        &[
            "roster",
            "sign",
            r,
            "--anchor-key",
            anchor_file.to_str().unwrap(),
        ],
    );
    let o = common::run(&be, &["roster", "install", r]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        common::stderr(&o).contains("--anchor"),
        "{}",
        common::stderr(&o)
    );
    let out = common::json(&be, &["roster", "install", r, "--anchor", &anchor]);
    assert_eq!(out["installed"], true, "{out}");
    // A first roster states payload validation; no node runs to switch now.
    assert_eq!(out["gossip_validation"], "payload", "{out}");
    assert!(out.get("gossip_validation_next").is_none(), "{out}");
    // The same roster again: nothing to do, said with the same fields as a
    // running node says it (the gossip validation was left out here).
    let again = common::json(&be, &["roster", "install", r]);
    assert_eq!(
        again,
        serde_json::json!({"installed": false, "version": out["version"], "gossip_validation": "payload"})
    );
    assert_eq!(
        common::json(&be, &["config", "check"])["trust"]["anchors"][0],
        anchor.as_str()
    );

    // A reader that closes standard output early ends the command quietly.
    {
        use std::io::Read;
        let mut child = std::process::Command::new(common::bin())
            .args(["--data-dir", de.to_str().unwrap(), "roster", "show", r])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!err.contains("internal error"), "{err}");
        assert!(matches!(status.code(), Some(0 | 141)), "{status:?}: {err}");
    }

    // An error's cause is said once.
    let o = common::run(
        root.path(),
        &["roster", "keygen", "--out", "/nonexistent/dir/anchor.key"],
    );
    let err = common::stderr(&o);
    assert_eq!(
        err.matches("the folder /nonexistent/dir does not exist")
            .count(),
        1,
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");

    // No such data directory: said so, not "no node is running".
    let o = common::run(&root.path().join("nowhere"), &["status"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        common::stderr(&o).contains("does not exist"),
        "{}",
        common::stderr(&o)
    );
}

#[test]
fn import_names_the_makers_the_reference_table_does_not_know() {
    let d = init("DE");
    let f = d.path().join("makers.jsonl");
    let line = |id: &str, maker: &str| {
        format!(
            r#"{{"id":"{id}","marking":{{"manufacturer":"{maker}","country":"DE","serial":"{id}"}},"category":"pistol"}}"#
        )
    };
    std::fs::write(
        &f,
        [
            line("A1", "Walther"),
            line("A2", "Walhter"),
            line("A3", "Walhter"),
            line("A4", "Heckler & Koch G.m.b.H."),
        ]
        .join("\n"),
    )
    .unwrap();
    let text = ok(d.path(), &["registry", "import", f.to_str().unwrap()]);
    assert!(
        text.contains(
            "new maker \"Walhter\" (2 records under DE/WALHTER): not in the maker reference table; did you mean Walther (Carl Walther; DE, US)?"
        ),
        "{text}"
    );
    assert_eq!(text.matches("new maker").count(), 1, "{text}");
    let s = json(d.path(), &["registry", "import", f.to_str().unwrap()]);
    assert_eq!(s["new_makers"][0]["manufacturer"], "Walhter", "{s:#}");
    assert_eq!(s["new_makers"][0]["prefix"], "DE/WALHTER", "{s:#}");
    assert_eq!(
        s["new_makers"][0]["near"][0]["maker_key"], "CARLWALTHER",
        "{s:#}"
    );
    assert_eq!(s["new_makers"].as_array().unwrap().len(), 1, "{s:#}");
}

/// A node set up but never given a roster, and not running, still reads its
/// own stores: nothing to show is not an error.
#[test]
fn a_node_without_a_roster_reads_its_stores_with_the_node_stopped() {
    let d = init("KE");
    for args in [
        vec!["trace", "list"],
        vec!["inbox", "list"],
        vec!["alerts"],
        vec!["audit", "show"],
        vec!["report"],
    ] {
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(json(d.path(), &["audit", "show"]), serde_json::json!([]));
    assert_eq!(json(d.path(), &["report"])["traces_sent"], 0);
    // Days relative to today, as `roster new` takes them: the period is
    // the thirty days up to today, inclusive.
    let r = json(d.path(), &["report", "--from", "today-29", "--to", "today"]);
    let (from, to) = (common::secs(&r["from"]), common::secs(&r["to"]));
    assert_eq!(to - from, 30 * 86_400, "{r}");
    let o = run(d.path(), &["report", "--from", "today+x"]);
    assert!(stderr(&o).contains("`today-N`"), "{}", stderr(&o));
}

/// An anchor (its key file in `w`) and KE's data directory `w/ke`, set up
/// with it; `roster(name, version, from, until)` makes a roster listing KE
/// alone, signed by the anchor: its path.
struct Anchored {
    w: tempfile::TempDir,
    key: std::path::PathBuf,
    anchor: String,
    ke: std::path::PathBuf,
    pk: String,
}

impl Anchored {
    fn new() -> Self {
        let w = tempfile::tempdir().unwrap();
        let key = w.path().join("anchor.key");
        let anchor = json(
            w.path(),
            &["roster", "keygen", "--out", key.to_str().unwrap()],
        )["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        let ke = w.path().join("ke");
        let me = json(&ke, &["init", "--state", "KE", "--anchor", &anchor]);
        let pk = me["public_key"].as_str().unwrap().to_string();
        Anchored {
            w,
            key,
            anchor,
            ke,
            pk,
        }
    }

    /// Another anchor's key file, beside the first, and its public key.
    fn other_anchor(&self) -> (std::path::PathBuf, String) {
        let key = self.w.path().join("other-anchor.key");
        let public = json(
            self.w.path(),
            &["roster", "keygen", "--out", key.to_str().unwrap()],
        )["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        (key, public)
    }

    fn roster(&self, name: &str, version: u64, from: &str, until: &str) -> String {
        self.roster_signed_by(&self.key, name, version, from, until)
    }

    /// [`Anchored::roster`], signed with the anchor key at `key`.
    fn roster_signed_by(
        &self,
        key: &std::path::Path,
        name: &str,
        version: u64,
        from: &str,
        until: &str,
    ) -> String {
        let fs = self.w.path().join(name).to_str().unwrap().to_string();
        let w = self.w.path();
        ok(
            w,
            &[
                "roster",
                "new",
                "--out",
                &fs,
                "--version",
                &version.to_string(),
                "--valid-from",
                from,
                "--valid-until",
                until,
            ],
        );
        ok(
            w,
            &[
                "roster", "add", &fs, "--state", "KE", "--name", "Kenya", "--key", &self.pk,
            ],
        );
        ok(
            w,
            &["roster", "sign", &fs, "--anchor-key", key.to_str().unwrap()],
        );
        fs
    }
}

/// A node whose roster ran out cannot run, and says what to do; its stores
/// are read with it stopped, under that roster (they failed with the
/// expiry: a regional organisation's trial).
#[test]
fn a_node_whose_roster_ran_out_reads_its_stores_with_the_node_stopped() {
    let a = Anchored::new();
    let d = a.ke.clone();
    let f = a.roster("old.json", 1, "today-30", "today-1");
    // As a roster installed while in force, and then run out.
    std::fs::copy(&f, d.join("roster.json")).unwrap();
    for args in [
        vec!["trace", "list"],
        vec!["inbox", "list"],
        vec!["alerts"],
        vec!["audit", "show"],
        vec!["report"],
    ] {
        let o = run(&d, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    let o = run(&d, &["node", "run"]);
    assert!(
        !o.status.success()
            && stderr(&o).contains("not on")
            && stderr(&o).contains("tracenet roster install FILE"),
        "{}",
        stderr(&o)
    );
}

/// A State's key replaced: `roster set-key` changes it (and clears the
/// signatures); `roster add` of a State already listed says how (it said
/// only "State is listed twice as a member").
#[test]
fn a_members_key_is_changed_with_set_key_and_add_says_so() {
    let w = tempfile::tempdir().unwrap();
    let f = w.path().join("r.json");
    let fs = f.to_str().unwrap();
    let key = w.path().join("anchor.key");
    let ks = key.to_str().unwrap();
    ok(w.path(), &["roster", "keygen", "--out", ks]);
    let (old, new) = (init("DE"), init("DE"));
    let pk = |d: &tempfile::TempDir| {
        json(d.path(), &["identity", "show"])["public_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let peer = json(new.path(), &["identity", "show"])["peer_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        w.path(),
        &[
            "roster",
            "new",
            "--out",
            fs,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    ok(
        w.path(),
        &[
            "roster",
            "add",
            fs,
            "--state",
            "DE",
            "--name",
            "Germany",
            "--key",
            &pk(&old),
        ],
    );
    ok(w.path(), &["roster", "sign", fs, "--anchor-key", ks]);
    let o = run(
        w.path(),
        &[
            "roster",
            "add",
            fs,
            "--state",
            "DE",
            "--name",
            "Germany",
            "--key",
            &pk(&new),
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("roster set-key"),
        "{}",
        stderr(&o)
    );
    let shown = json(
        w.path(),
        &["roster", "set-key", fs, "--state", "DE", "--key", &peer],
    );
    assert_eq!(shown["members"][0]["public_key"], pk(&new), "{shown}");
    assert_eq!(shown["signed_by"], serde_json::json!([]), "{shown}");
    let o = run(
        w.path(),
        &["roster", "set-key", fs, "--state", "NG", "--key", &peer],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("NG has no entry"),
        "{}",
        stderr(&o)
    );
    // A bootstrap entry's key too (it sent the user to `roster add`, which
    // made a second entry); a State with both entries is asked which.
    let boot = init("BE");
    ok(
        w.path(),
        &[
            "roster",
            "add",
            fs,
            "--state",
            "DE",
            "--name",
            "Bootstrap",
            "--key",
            &pk(&boot),
            "--role",
            "bootstrap",
        ],
    );
    let o = run(
        w.path(),
        &["roster", "set-key", fs, "--state", "DE", "--key", &pk(&old)],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("--role member or --role bootstrap"),
        "{}",
        stderr(&o)
    );
    let fresh = init("BE");
    let shown = json(
        w.path(),
        &[
            "roster",
            "set-key",
            fs,
            "--state",
            "DE",
            "--role",
            "bootstrap",
            "--key",
            &pk(&fresh),
        ],
    );
    let boots: Vec<&serde_json::Value> = shown["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "bootstrap")
        .collect();
    assert_eq!(boots.len(), 1, "{shown}");
    assert_eq!(boots[0]["public_key"], pk(&fresh), "{shown}");
    // Any key signs: shown without anchors, it is not called an anchor.
    ok(w.path(), &["roster", "sign", fs, "--anchor-key", ks]);
    let shown = ok(w.path(), &["roster", "show", fs]);
    assert!(
        shown.contains("signed by 1 key (not checked against the trust anchors"),
        "{shown}"
    );
    // A removal that matches nothing names what it looked for.
    let o = run(w.path(), &["roster", "remove", fs, "--state", "NG"]);
    assert!(
        !o.status.success() && stderr(&o).contains("no entry of NG in"),
        "{}",
        stderr(&o)
    );
    // A roster made expired is warned of.
    let expired = w.path().join("expired.json");
    let o = run(
        w.path(),
        &[
            "roster",
            "new",
            "--out",
            expired.to_str().unwrap(),
            "--valid-from",
            "today-30",
            "--valid-until",
            "today-1",
        ],
    );
    assert!(
        o.status.success() && stderr(&o).contains("has expired already"),
        "{}",
        stderr(&o)
    );
    // With --json too (on standard error), and five years and a day.
    let long = w.path().join("long.json");
    let o = run(
        w.path(),
        &[
            "--json",
            "roster",
            "new",
            "--out",
            long.to_str().unwrap(),
            "--valid-from",
            "today",
            "--valid-until",
            "today+1827",
        ],
    );
    assert!(
        o.status.success() && stderr(&o).contains("more than five years"),
        "{}",
        stderr(&o)
    );
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();
}

/// A reader that closed standard output (`tracenet ... | head`) ends the
/// command quietly with 141, in JSON as in text.
#[test]
fn a_closed_stdout_ends_any_command_quietly() {
    let d = init("KE");
    for args in [
        vec!["--json", "audit", "show"],
        vec!["--json", "registry", "stats"],
        vec!["registry", "stats"],
    ] {
        let mut child = std::process::Command::new(bin())
            .arg("--data-dir")
            .arg(d.path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is written.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
    }
    // Nor does a closed stderr abort: an error, and an import with a bad
    // line, end with their own codes (both aborted, 134: a hostile trial).
    let bad = d.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"A\"}\n").unwrap();
    for (args, code) in [
        (vec!["registry", "show", "NOPE"], 1),
        (vec!["registry", "import", bad.to_str().unwrap()], 3),
    ] {
        let mut child = std::process::Command::new(bin())
            .arg("--data-dir")
            .arg(d.path())
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{args:?}: {status:?}");
    }
    // Nor does a warning into a closed stderr stop the work it warns of: a
    // roster made with dates already past is still written (it ended with
    // 141 and no roster: a hostile trial).
    // The pipe's reader is gone before the command starts, so that its
    // warning cannot be read in time.
    let expired = d.path().join("expired.json");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(d.path())
        .args([
            "roster",
            "new",
            "--valid-from",
            "today-30",
            "--valid-until",
            "today-1",
        ])
        .arg("--out")
        .arg(&expired)
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(expired.is_file(), "no roster was written");
}

/// A damaged `roster.json` neither blocks the next install nor lets an
/// older version back in (the history keeps the highest version seen). With
/// the node stopped, an install is audited as a running node audits it, and
/// one not newer than the held version is answered as a running node
/// answers it: not installed, and not an error.
#[test]
fn a_damaged_held_roster_is_repaired_by_a_newer_install_only() {
    let a = Anchored::new();
    let (w, anchor, d) = (&a.w, &a.anchor, a.ke.clone());
    let roster = |v: u64| a.roster(&format!("r{v}.json"), v, "today", "today+30");
    let (r1, r2, r3) = (roster(1), roster(2), roster(3));
    ok(&d, &["roster", "install", &r2]);
    std::fs::write(d.join("roster.json"), "garbage").unwrap();
    // An older version is refused, saying how a renewal is made (it was
    // "not installed" with success: a renewal made without --from, version
    // 1, was ignored, and the roster in force ran out unnoticed).
    let o = run(&d, &["--json", "roster", "install", &r1]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is roster version 1, older than version 2")
            && stderr(&o).contains("roster new --from"),
        "{}",
        stderr(&o)
    );
    // A roster signed by another key, whatever its version, is said as such.
    let rogue = w.path().join("rogue.key");
    ok(
        w.path(),
        &["roster", "keygen", "--out", rogue.to_str().unwrap()],
    );
    let forged = w.path().join("forged.json");
    std::fs::copy(&r1, &forged).unwrap();
    let fs = forged.to_str().unwrap();
    // The anchor's own key is no node key: refused (it passed for one, as
    // 32 bytes, and the member's node then never connected).
    let o = run(
        w.path(),
        &[
            "roster", "add", fs, "--state", "NG", "--name", "Nigeria", "--key", anchor,
        ],
    );
    assert!(
        !o.status.success()
            && stderr(&o).contains("is the key of an anchor that signed this roster"),
        "{}",
        stderr(&o)
    );
    let ng = json(
        &w.path().join("ng"),
        &["init", "--state", "NG", "--anchor", anchor],
    );
    ok(
        w.path(),
        &[
            "roster",
            "add",
            fs,
            "--state",
            "NG",
            "--name",
            "Nigeria",
            "--key",
            ng["public_key"].as_str().unwrap(),
            "--oprf-key",
            ng["oprf_key"].as_str().unwrap(),
        ],
    );
    // A node's OPRF seed is 32 bytes too, and loaded as a signing key.
    let o = run(
        w.path(),
        &[
            "roster",
            "sign",
            fs,
            "--anchor-key",
            w.path().join("ng").join("oprf.key").to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("is NG's OPRF key seed, not an anchor key"),
        "{}",
        stderr(&o)
    );
    // Nor is a member's node key an anchor's: the rogue signs, KE's may not.
    let o = run(
        w.path(),
        &[
            "roster",
            "sign",
            fs,
            "--anchor-key",
            d.join("node.key").to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("is listed as KE's node key in"),
        "{}",
        stderr(&o)
    );
    ok(
        w.path(),
        &[
            "roster",
            "sign",
            fs,
            "--anchor-key",
            rogue.to_str().unwrap(),
        ],
    );
    let o = run(&d, &["roster", "install", fs]);
    assert!(
        !o.status.success() && stderr(&o).contains("anchors"),
        "{}",
        stderr(&o)
    );

    // Versions a roster could never be replaced from are refused when made.
    for (from, version, said) in [
        (None, "18446744073709551615", "out of range"),
        (None, "0", "out of range"),
        (Some(&r3), "2", "is not above the version"),
        (Some(&r3), "3", "is not above the version"),
    ] {
        let out = w.path().join(format!("bad-{version}.json"));
        let mut args = vec![
            "roster",
            "new",
            "--out",
            out.to_str().unwrap(),
            "--version",
            version,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ];
        if let Some(f) = from {
            args.extend(["--from", f.as_str()]);
        }
        let o = run(w.path(), &args);
        assert!(
            !o.status.success() && stderr(&o).contains(said) && !out.exists(),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = run(&d, &["--json", "roster", "install", &r3]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        json(
            &d,
            &["roster", "show", d.join("roster.json").to_str().unwrap()]
        )["version"],
        3
    );
    // Run again, as a provisioning script may be.
    let o = run(&d, &["roster", "install", &r3]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("not installed: this node already holds version 3"),
        "{}",
        stdout(&o)
    );
    let installed: Vec<_> = json(&d, &["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "roster_installed")
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(installed, ["version 2", "version 3"]);
    // A roster that does not list this node is installed, and said at once
    // (its status said so only once it ran; a user's trial).
    let r4 = w.path().join("r4.json");
    let r4s = r4.to_str().unwrap();
    ok(
        w.path(),
        &[
            "roster",
            "new",
            "--out",
            r4s,
            "--from",
            &r3,
            "--version",
            "4",
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    ok(
        w.path(),
        &[
            "roster",
            "add",
            r4s,
            "--state",
            "NG",
            "--name",
            "Nigeria",
            "--key",
            ng["public_key"].as_str().unwrap(),
        ],
    );
    ok(w.path(), &["roster", "remove", r4s, "--state", "KE"]);
    let anchor_key = w.path().join("anchor.key");
    ok(
        w.path(),
        &[
            "roster",
            "sign",
            r4s,
            "--anchor-key",
            anchor_key.to_str().unwrap(),
        ],
    );
    let o = run(&d, &["--json", "roster", "install", r4s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("roster version 4 does not list this node's key")
            && stderr(&o).contains("tracenet identity show"),
        "{}",
        stderr(&o)
    );
}

/// Files that cannot be written are named once, with the cause once.
#[test]
fn a_file_that_cannot_be_written_is_named_with_its_cause_once() {
    let d = init("KE");
    for args in [
        vec!["audit", "export", "/nonexistent/dir/a.jsonl"],
        vec!["registry", "export", "/nonexistent/dir/a.jsonl"],
    ] {
        let o = run(d.path(), &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert_eq!(
            e.trim(),
            "error: cannot create /nonexistent/dir/a.jsonl: the folder /nonexistent/dir does not exist",
            "{args:?}"
        );
    }
    let o = run(d.path(), &["registry", "show", "NOPE-1"]);
    assert!(stderr(&o).contains("NOPE-1"), "{}", stderr(&o));
}

/// Every command that writes a file of its own replaces an existing one only
/// with `--force`, as `trace export` does: before, `audit export`, `registry
/// export` and `registry generate` replaced it without a word.
#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let d = init("KE");
    let file = d.path().join("kept.jsonl");
    let f = file.to_str().unwrap();
    for args in [
        vec!["audit", "export", f],
        vec!["registry", "export", f],
        vec![
            "registry", "generate", "--state", "KE", "--count", "3", "--out", f,
        ],
    ] {
        std::fs::write(&file, "an officer's file\n").unwrap();
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o).trim(),
            format!("error: {f} exists; pass --force to replace it"),
            "{args:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "an officer's file\n",
            "{args:?}"
        );
        let mut forced = args.clone();
        forced.push("--force");
        ok(d.path(), &forced);
        assert_ne!(
            std::fs::read_to_string(&file).unwrap(),
            "an officer's file\n",
            "{forced:?}"
        );
    }
    // Not even with --force, a node's own files (a hostile trial: an
    // export over node.key destroyed the node's identity).
    for (args, name) in [
        (
            vec!["registry", "export", "node.key", "--force"],
            "node.key",
        ),
        (vec!["audit", "export", "oprf.key", "--force"], "oprf.key"),
        (
            vec![
                "registry",
                "generate",
                "--state",
                "KE",
                "--count",
                "1",
                "--out",
                "tracenet.toml",
                "--force",
            ],
            "tracenet.toml",
        ),
    ] {
        let path = d.path().join(name);
        let before = std::fs::read(&path).unwrap();
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let at = args.iter().position(|a| a == name).unwrap();
        args[at] = path.to_str().unwrap().to_string();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no command writes there"),
            "{}",
            stderr(&o)
        );
        assert!(std::fs::read(&path).unwrap() == before, "{name} changed");
    }
    // A symbolic link to nowhere is a file there too: not written through
    // (before, `roster new --out` created the file it pointed to).
    let link = d.path().join("link.json");
    let target = d.path().join("elsewhere.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let l = link.to_str().unwrap();
    for args in [
        vec!["audit", "export", l],
        vec![
            "roster",
            "new",
            "--out",
            l,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    ] {
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("exists"), "{args:?}: {}", stderr(&o));
        assert!(!target.exists(), "{args:?} wrote through the link");
    }
    std::fs::remove_file(&link).unwrap();
    // A device is written into, never replaced (a helper's trial turned
    // /dev/null into a regular file with `audit export /dev/null --force`).
    use std::os::unix::fs::FileTypeExt as _;
    for args in [
        vec!["audit", "export", "/dev/null"],
        vec!["audit", "export", "/dev/null", "--force"],
        vec!["registry", "export", "/dev/null", "--force"],
    ] {
        ok(d.path(), &args);
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device(),
            "{args:?} replaced /dev/null"
        );
    }
    // /dev/stdout with standard output sent to a file is written into: the
    // link in /dev is not replaced by a file (as root it was, with --force).
    let out = d.path().join("stdout.jsonl");
    let status = std::process::Command::new(common::bin())
        .arg("--data-dir")
        .arg(d.path())
        .args([
            "registry",
            "generate",
            "--state",
            "KE",
            "--count",
            "3",
            "--out",
            "/dev/stdout",
            "--force",
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::read_to_string(&out).unwrap().lines().count() == 3,
        "the records went to the file standard output was sent to"
    );
    assert!(
        std::fs::symlink_metadata("/dev/stdout")
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A FIFO nothing reads is refused at once, not waited on without end;
    // one being read is written into.
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    let mut child = std::process::Command::new(common::bin())
        .arg("--data-dir")
        .arg(d.path())
        .args(["registry", "export", f])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let began = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if began.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("an export into a FIFO nothing reads waited 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("a FIFO that nothing reads yet"), "{err}");
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read_to_string(&fifo).unwrap()
    });
    // The reader opens the FIFO first: wait until it does (the export
    // would be refused as above before), then export into it.
    let mut exported = None;
    for _ in 0..200 {
        let o = run(
            d.path(),
            &[
                "registry", "generate", "--state", "KE", "--count", "2", "--out", f,
            ],
        );
        if o.status.success() {
            exported = Some(o);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(exported.is_some(), "the reader never opened the FIFO");
    assert_eq!(reader.join().unwrap().lines().count(), 2);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // A roster is a file, never standard output.
    let o = run(
        d.path(),
        &[
            "roster",
            "new",
            "--out",
            "-",
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!d.path().join("-").exists());
    // A folder is said to be one.
    let o = run(d.path(), &["audit", "export", d.path().to_str().unwrap()]);
    assert!(stderr(&o).contains("is a folder"), "{}", stderr(&o));
    // No temporary file left beside it by the refusals.
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A first roster states `payload` gossip validation; the next keeps what
/// the one before stated (nothing included); the flag and
/// `set-gossip-validation` choose, and a wrong value names the choices.
#[test]
fn roster_new_states_the_gossip_validation_and_the_next_version_keeps_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let new = |out: &str, extra: &[&str]| {
        let out = path(out);
        let mut args = vec![
            "roster",
            "new",
            "--out",
            &out,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ];
        args.extend_from_slice(extra);
        common::json(dir, &args)
    };
    let first = new("v1.json", &[]);
    assert_eq!(first["gossip_validation"], "payload", "{first}");
    let v1 = path("v1.json");
    let next = new("v2.json", &["--from", &v1]);
    assert_eq!(next["gossip_validation"], "payload", "{next}");
    // Made afresh for a federation already running: left to each node.
    let later = new("v7.json", &["--version", "7"]);
    assert!(later.get("gossip_validation").is_none(), "{later}");
    let strict = new("s.json", &["--gossip-validation", "strict"]);
    assert_eq!(strict["gossip_validation"], "strict", "{strict}");
    // Left to each node: the next version says nothing either.
    let s = path("s.json");
    let none = common::json(dir, &["roster", "set-gossip-validation", &s, "--none"]);
    assert!(none.get("gossip_validation").is_none(), "{none}");
    let kept = new("s2.json", &["--from", &s]);
    assert!(kept.get("gossip_validation").is_none(), "{kept}");
    let text = common::ok(dir, &["roster", "set-gossip-validation", &s, "payload"]);
    assert!(
        text.contains("gossip validation payload (every member)"),
        "{text}"
    );
    let o = common::run(dir, &["roster", "set-gossip-validation", &s, "fast"]);
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains("expected strict or payload"),
        "{}",
        common::stderr(&o)
    );
}

/// A first roster decides the links every member keeps (64, as
/// `node.peer_connections` defaults); the next keeps what the one before
/// stated (nothing included); the flag and `set-peer-connections` choose,
/// bounded 4 to 512, and `--none` leaves them to each node.
#[test]
fn roster_new_states_the_links_kept_and_the_next_version_keeps_them() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let new_args = |out: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "roster",
            "new",
            "--out",
            &path(out),
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let new = |out: &str, extra: &[&str]| {
        let args = new_args(out, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::json(dir, &args)
    };
    let first = new("v1.json", &[]);
    assert_eq!(first["peer_connections"], 64, "{first}");
    assert_eq!(first["served_lists"], true, "{first}");
    let next = new("v2.json", &["--from", &path("v1.json")]);
    assert_eq!(next["peer_connections"], 64, "{next}");
    assert_eq!(next["served_lists"], true, "{next}");
    let later = new("v7.json", &["--version", "7"]);
    assert!(later.get("peer_connections").is_none(), "{later}");
    assert!(later.get("served_lists").is_none(), "{later}");
    let kept = new("v8.json", &["--from", &path("v7.json")]);
    assert!(kept.get("peer_connections").is_none(), "{kept}");
    assert!(kept.get("served_lists").is_none(), "{kept}");
    // Served lists: chosen at `roster new`, set and cleared later.
    let on = new(
        "s.json",
        &["--from", &path("v7.json"), "--served-lists", "on"],
    );
    assert_eq!(on["served_lists"], true, "{on}");
    let text = common::ok(dir, &["roster", "show", &path("s.json")]);
    assert!(text.contains("served lists on"), "{text}");
    let off = common::json(dir, &["roster", "set-served-lists", &path("s.json"), "off"]);
    assert!(off.get("served_lists").is_none(), "{off}");
    let text = common::ok(dir, &["roster", "show", &path("s.json")]);
    assert!(
        text.contains("served lists not stated (where links are bounded, every holder relays)"),
        "{text}"
    );
    let again = common::json(dir, &["roster", "set-served-lists", &path("s.json"), "on"]);
    assert_eq!(again["served_lists"], true, "{again}");
    // A setting set to what the signed roster already states leaves the
    // file and its signature alone (it cleared them, and the anchors had to
    // sign again for nothing); a change still clears them.
    let key = path("anchor.key");
    common::ok(dir, &["roster", "keygen", "--out", &key]);
    common::ok(
        dir,
        &["roster", "sign", &path("s.json"), "--anchor-key", &key],
    );
    let signed = std::fs::read(path("s.json")).unwrap();
    for same in [
        vec!["roster", "set-served-lists", &path("s.json"), "on"],
        vec!["roster", "set-peer-connections", &path("s.json"), "--none"],
        vec!["roster", "set-gossip-validation", &path("s.json"), "--none"],
    ] {
        let o = common::run(dir, &[&["--json"], same.as_slice()].concat());
        assert!(o.status.success(), "{same:?}: {}", common::stderr(&o));
        assert!(
            common::stderr(&o).contains("unchanged, the roster already says so; the file is left as it is, with its signature"),
            "{same:?}: {}",
            common::stderr(&o)
        );
        let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            shown["signed_by"].as_array().map(Vec::len),
            Some(1),
            "{shown}"
        );
        assert_eq!(shown["changed"], false, "{same:?}: {shown}");
        assert_eq!(std::fs::read(path("s.json")).unwrap(), signed, "{same:?}");
    }
    let changed = common::json(dir, &["roster", "set-served-lists", &path("s.json"), "off"]);
    assert_eq!(
        changed["signed_by"].as_array().map(Vec::len),
        Some(0),
        "{changed}"
    );
    assert_eq!(changed["changed"], true, "{changed}");
    // A command that does not edit says nothing of a change.
    let shown = common::json(dir, &["roster", "show", &path("s.json")]);
    assert!(shown.get("changed").is_none(), "{shown}");
    // A setting given neither a value nor --none says which to give, and the
    // usage line reads as --help does.
    // Both a value and --none: one of them, under the same usage line.
    let o = common::run(
        dir,
        &[
            "roster",
            "set-peer-connections",
            &path("s.json"),
            "8",
            "--none",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = common::stderr(&o);
    assert!(
        err.contains("(one of them)") && err.contains("<ROSTER> [N]"),
        "{err}"
    );
    // A key that is none of the forms a key takes is a usage error too.
    let o = common::run(
        dir,
        &[
            "roster",
            "add",
            &path("s.json"),
            "--state",
            "IT",
            "--name",
            "Italy",
            "--key",
            "12D3KooWgarbage",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o)
            .contains("nor a PeerId: give the node's key as `tracenet identity show` prints it"),
        "{}",
        common::stderr(&o)
    );
    for (cmd, says, usage) in [
        (
            "set-peer-connections",
            "give the links every member keeps, N from 4 to 512, or --none",
            "<ROSTER> [N]",
        ),
        (
            "set-gossip-validation",
            "give the validation every member applies, strict or payload, or --none",
            "<ROSTER> [MODE]",
        ),
    ] {
        let o = common::run(dir, &["roster", cmd, &path("s.json")]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = common::stderr(&o);
        assert!(err.contains(says) && err.contains(usage), "{cmd}: {err}");
        let help = common::ok(dir, &["roster", cmd, "--help"]);
        assert!(help.contains(usage), "{cmd}: {help}");
    }
    for (args, says) in [
        (
            vec!["roster", "set-oprf-key", &path("s.json"), "--state", "FR"],
            "<--oprf-key <KEY>|--none>",
        ),
        (
            vec!["roster", "remove", &path("s.json")],
            "<--state <CC>|--key <KEY>>",
        ),
    ] {
        let o = common::run(dir, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            common::stderr(&o).contains(says),
            "{args:?}: {}",
            common::stderr(&o)
        );
    }
    common::ok(dir, &["roster", "set-served-lists", &path("s.json"), "on"]);
    let o = common::run(dir, &["roster", "set-served-lists", &path("s.json"), "yes"]);
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains("expected on or off"),
        "{}",
        common::stderr(&o)
    );
    let chosen = new(
        "c.json",
        &["--from", &path("v7.json"), "--peer-connections", "12"],
    );
    assert_eq!(chosen["peer_connections"], 12, "{chosen}");
    let text = common::ok(dir, &["roster", "show", &path("c.json")]);
    assert!(text.contains("links kept 12 (every member)"), "{text}");
    // Changed, then left to each node again.
    let set = common::json(
        dir,
        &["roster", "set-peer-connections", &path("c.json"), "20"],
    );
    assert_eq!(set["peer_connections"], 20, "{set}");
    let none = common::json(
        dir,
        &["roster", "set-peer-connections", &path("c.json"), "--none"],
    );
    assert!(none.get("peer_connections").is_none(), "{none}");
    let text = common::ok(dir, &["roster", "show", &path("c.json")]);
    assert!(
        text.contains("links kept not stated (each node's node.peer_connections)"),
        "{text}"
    );
    for bad in ["3", "513", "many"] {
        let args = new_args("bad.json", &["--peer-connections", bad]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = common::run(dir, &args);
        assert!(!o.status.success());
        assert!(
            common::stderr(&o).contains("4 to 512"),
            "{bad}: {}",
            common::stderr(&o)
        );
    }
}

/// A file that is not the kind the command takes is named in the error, with
/// the command that takes it when it is another tracenet file: a maker table
/// given as a roster, a roster given as a maker table, the TOML table not yet
/// signed. Before, the error said only "not a roster file" (and, through a
/// running node, nothing of which file).
#[test]
fn a_wrong_file_given_as_a_roster_or_a_maker_table_is_named_with_what_takes_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let refused = |args: &[&str]| {
        let o = common::run(dir, args);
        assert!(!o.status.success(), "{args:?}");
        common::stderr(&o)
    };
    let garbage = file("garbage.json", "garbage\n");
    let makers = file(
        "makers.json",
        "{\"format\": \"tracenet-makers/1\", \"body\": \"\", \"signatures\": []}\n",
    );
    let toml = file(
        "makers.toml",
        "[[maker]]\nname = \"Walther\"\ncountry = \"DE\"\n",
    );
    let roster = dir.join("roster.json").to_str().unwrap().to_string();
    common::ok(
        dir,
        &[
            "roster",
            "new",
            "--out",
            &roster,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    // Each refusal names the file and says what to do.
    let says = |args: &[&str], parts: &[String]| {
        let e = refused(args);
        for part in parts {
            assert!(e.contains(part.as_str()), "{args:?}: {e}");
        }
        e
    };
    for cmd in ["show", "install"] {
        says(
            &["roster", cmd, &garbage],
            &[
                format!("{garbage}: not a roster file"),
                "`tracenet roster new` writes".into(),
            ],
        );
        says(
            &["roster", cmd, &makers],
            &[
                format!("{makers}: roster file format \"tracenet-makers/1\""),
                "`tracenet makers install` takes it".into(),
            ],
        );
    }
    says(
        &["makers", "install", &roster],
        &[
            format!("{roster}: signed maker table file format \"tracenet-roster/1\""),
            "`tracenet roster install` takes it".into(),
        ],
    );
    says(
        &["makers", "install", &toml],
        &[
            format!("{toml}: not a signed maker table file"),
            "`tracenet makers sign`".into(),
        ],
    );
    // Garbage is not taken for the TOML table.
    let e = says(
        &["makers", "install", &garbage],
        &[format!("{garbage}: not a signed maker table file")],
    );
    assert!(!e.contains("makers sign"), "{e}");
    // A roster whose body is damaged, and a file given as evidence that is
    // not a bundle, are named too.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&roster).unwrap()).unwrap();
    v["body"] = "!!not base64!!".into();
    let damaged = file("damaged.json", &v.to_string());
    says(
        &["roster", "show", &damaged],
        &[format!("{damaged}: roster body is not valid base64")],
    );
    let key = dir.join("anchor.key");
    let anchor =
        common::json(dir, &["roster", "keygen", "--out", key.to_str().unwrap()])["public_key"]
            .as_str()
            .unwrap()
            .to_string();
    says(
        &["verify", &garbage, "--anchor", &anchor],
        &[
            format!("{garbage}: not an evidence bundle"),
            "`tracenet trace export` writes".into(),
        ],
    );
}

/// An export interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP leaves no
/// temporary file beside its name, and the name keeps what it held: the
/// signal's default action ended the process before the temporary file's
/// own cleanup ran, and each interrupted export left a `.tmpXXXXXX` of the
/// size written so far.
#[cfg(unix)]
#[test]
fn an_interrupted_export_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt as _;
    let d = tempfile::tempdir().unwrap();
    let temporary = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .map(|e| e.path())
            .collect()
    };
    for (signal, replace) in [
        (libc::SIGINT, false),
        (libc::SIGTERM, true),
        (libc::SIGHUP, false),
    ] {
        let out = d.path().join(format!("records-{signal}.jsonl"));
        if replace {
            std::fs::write(&out, "the old export\n").unwrap();
        }
        let mut args = vec![
            "registry",
            "generate",
            "--state",
            "KE",
            "--count",
            "50000000",
            "--out",
            out.to_str().unwrap(),
        ];
        if replace {
            args.push("--force");
        }
        let mut child = std::process::Command::new(common::bin())
            .arg("--data-dir")
            .arg(d.path().join("node"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Interrupted while it writes: its temporary file has records.
        let began = std::time::Instant::now();
        loop {
            let written = temporary(d.path())
                .iter()
                .any(|t| std::fs::metadata(t).map(|m| m.len() > 0).unwrap_or(false));
            if written {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the export of 50,000,000 records ended before it was interrupted"
            );
            assert!(
                began.elapsed() < std::time::Duration::from_secs(60),
                "no temporary file with records after 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert!(
            temporary(d.path()).is_empty(),
            "signal {signal} left {:?}",
            temporary(d.path())
        );
        if replace {
            assert_eq!(std::fs::read_to_string(&out).unwrap(), "the old export\n");
        } else {
            assert!(!out.exists(), "signal {signal} left {}", out.display());
        }
    }
}

/// A node whose OPRF seed is gone (a backup restored without it) is told
/// that `identity show` made a new one, whose key the roster does not list
/// (a hostile trial: made without a word); once made, nothing more is said.
#[test]
fn a_new_oprf_seed_made_for_a_known_node_is_said() {
    let d = init("KE");
    let before = json(d.path(), &["identity", "show"])["oprf_key"].clone();
    std::fs::remove_file(d.path().join("oprf.key")).unwrap();
    let o = run(d.path(), &["identity", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: there was no OPRF key seed"),
        "{}",
        stderr(&o)
    );
    let after = json(d.path(), &["identity", "show"])["oprf_key"].clone();
    assert_ne!(before, after);
    let o = run(d.path(), &["identity", "show"]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// A node's own keys sign no maker table (a hostile trial: signed with
/// `node.key` or `oprf.key`, the table then failed every verification).
#[test]
fn a_nodes_own_key_signs_no_maker_table() {
    let d = init("KE");
    let out = tempfile::tempdir().unwrap();
    for key in ["node.key", "oprf.key"] {
        let m = out.path().join(format!("m-{key}.json"));
        let o = run(
            d.path(),
            &[
                "makers",
                "sign",
                repo_file("config/makers.toml").to_str().unwrap(),
                "--version",
                "2",
                "--anchor-key",
                d.path().join(key).to_str().unwrap(),
                "--out",
                m.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{key}: {}", stderr(&o));
        assert!(stderr(&o).contains("not an anchor key"), "{}", stderr(&o));
        assert!(!m.exists());
    }
}

/// A node key that is a link to nothing (a mount absent) is said so, by
/// `identity show` and `init` alike (a trial: told to run init, then that
/// the key existed).
#[test]
fn a_node_key_linked_to_nothing_is_said_so() {
    let d = init("KE");
    let key = d.path().join("node.key");
    std::fs::remove_file(&key).unwrap();
    std::os::unix::fs::symlink("/nonexistent/tracenet/node.key", &key).unwrap();
    for args in [
        vec!["identity", "show"],
        vec!["init", "--state", "KE", "--force"],
    ] {
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("is a link to /nonexistent/tracenet/node.key"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// No command writes a node's own files or folders, with --force or not,
/// and none signs with its keys under another name (a hostile re-check:
/// `registry export DIR/db/db --force` destroyed the store, `makers sign
/// --out DIR/node.key` the key, `roster remove DIR/roster.json` the
/// roster's signatures, `registry export DIR/policy.toml` the start).
#[test]
fn no_command_writes_a_nodes_own_files_or_folders() {
    let d = init("KE");
    let p = |rel: &str| d.path().join(rel).to_str().unwrap().to_string();
    let out = tempfile::tempdir().unwrap();
    let anchor = out.path().join("anchor.key");
    ok(
        out.path(),
        &["roster", "keygen", "--out", anchor.to_str().unwrap()],
    );
    let roster = p("roster.json");
    ok(
        out.path(),
        &[
            "roster",
            "new",
            "--out",
            out.path().join("r.json").to_str().unwrap(),
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    std::fs::copy(out.path().join("r.json"), &roster).unwrap();
    let makers = repo_file("config/makers.toml");
    let makers = makers.to_str().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "registry".into(),
            "export".into(),
            p("db/db"),
            "--force".into(),
        ],
        vec![
            "audit".into(),
            "export".into(),
            p("db/conf"),
            "--force".into(),
        ],
        vec!["registry".into(), "export".into(), p("policy.toml")],
        vec![
            "registry".into(),
            "export".into(),
            p("api.addr"),
            "--force".into(),
        ],
        vec![
            "makers".into(),
            "sign".into(),
            makers.into(),
            "--version".into(),
            "2".into(),
            "--anchor-key".into(),
            anchor.to_str().unwrap().into(),
            "--out".into(),
            p("node.key"),
            "--force".into(),
        ],
        vec![
            "roster".into(),
            "sign".into(),
            roster.clone(),
            "--anchor-key".into(),
            anchor.to_str().unwrap().into(),
        ],
        vec![
            "roster".into(),
            "keygen".into(),
            "--out".into(),
            p("policy.toml"),
        ],
    ];
    for args in cases {
        let target = args
            .iter()
            .find(|a| a.starts_with(d.path().to_str().unwrap()))
            .unwrap()
            .clone();
        let before = std::fs::read(&target).ok();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("no command writes there") || e.contains("edit a copy"),
            "{args:?}: {e}"
        );
        // The store's own files are sled's to write as the command opens
        // it: that it still opens is checked below.
        if !target.contains("/db/") {
            assert!(std::fs::read(&target).ok() == before, "{args:?} changed it");
        }
    }
    // The store moved to another disk and linked in place is the store
    // still (a review: the resolved folder was not named `db`).
    let moved = out.path().join("store");
    std::fs::rename(d.path().join("db"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, d.path().join("db")).unwrap();
    let o = run(d.path(), &["registry", "export", &p("db/db"), "--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no command writes there"),
        "{}",
        stderr(&o)
    );
    // Nor is it written as the place the link names, where no name says
    // `db` (a hostile trial: `/mnt/store/conf` was written).
    let o = run(
        d.path(),
        &[
            "registry",
            "export",
            moved.join("conf").to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("in the db folder of the tracenet node in"),
        "{}",
        stderr(&o)
    );
    // Nor through standard output sent into a file of the linked store
    // (it appended to `conf`, and the store no longer opened: a re-check).
    let conf_before = std::fs::read(moved.join("conf")).unwrap();
    for target in [moved.join("conf"), d.path().join("db/conf")] {
        let o = in_shell(
            "exec \"$0\" --data-dir \"$1\" registry export - >> \"$2\"",
            &[d.path(), &target],
        );
        assert_eq!(o.status.code(), Some(1), "{target:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("in the db folder"),
            "{target:?}: {}",
            stderr(&o)
        );
    }
    assert!(std::fs::read(moved.join("conf")).unwrap() == conf_before);
    // A stream into a file of many names is refused whatever the data
    // directory: a hard link to this node's key, written from another's.
    let other = init("TZ");
    let many = out.path().join("many-names");
    std::fs::hard_link(d.path().join("node.key"), &many).unwrap();
    let o = in_shell(
        "exec \"$0\" --data-dir \"$1\" registry export - >> \"$2\"",
        &[other.path(), &many],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 names (hard links)"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(&many).unwrap();
    // A second (hard) name of the node's key, written over, is replaced by
    // a rename: the key stays as it was.
    let second = out.path().join("second-name.jsonl");
    std::fs::hard_link(d.path().join("node.key"), &second).unwrap();
    let key_before = std::fs::read(d.path().join("node.key")).unwrap();
    ok(
        d.path(),
        &["registry", "export", second.to_str().unwrap(), "--force"],
    );
    assert!(
        std::fs::read(d.path().join("node.key")).unwrap() == key_before,
        "the key was written"
    );
    std::fs::remove_file(&second).unwrap();
    std::fs::hard_link(d.path().join("node.key"), &second).unwrap();
    // `/dev/fd/3`, descriptor 3 opened read-only by the shell on the key or
    // on a second name of it: a stream, written where it is, which Linux
    // would open again for writing (a hostile trial).
    for name in [d.path().join("node.key"), second.clone()] {
        let o = in_shell(
            "exec 3< \"$1\"; exec \"$0\" --data-dir \"$2\" registry export /dev/fd/3 --force",
            &[&name, d.path()],
        );
        assert_eq!(o.status.code(), Some(1), "{name:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no command writes there"),
            "{name:?}: {}",
            stderr(&o)
        );
        assert!(
            std::fs::read(d.path().join("node.key")).unwrap() == key_before,
            "the key was written"
        );
    }
    // A link to the node's key, under another name, signs nothing; nor
    // does a link to another node's key, signed by a command of this data
    // directory (it signed: a hostile trial).
    let other = init("UG");
    for (key, link, signed) in [
        (d.path().join("node.key"), "anchor-link.key", "m.json"),
        (other.path().join("node.key"), "other-link.key", "m2.json"),
    ] {
        let link = out.path().join(link);
        std::os::unix::fs::symlink(&key, &link).unwrap();
        let signed = out.path().join(signed);
        let o = run(
            d.path(),
            &[
                "makers",
                "sign",
                makers,
                "--version",
                "2",
                "--anchor-key",
                link.to_str().unwrap(),
                "--out",
                signed.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{key:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("not an anchor key"), "{}", stderr(&o));
        assert!(!signed.exists());
    }
    // The store still opens.
    assert_eq!(json(d.path(), &["registry", "stats"])["records"], 0);
}

/// A file name that is not UTF-8 is written and said, with --json too (a
/// hostile re-check: `audit export` panicked after writing, and `registry
/// export --json` printed half a document).
#[test]
fn an_output_named_in_bytes_that_are_not_utf8_is_written_and_said() {
    use std::os::unix::ffi::OsStrExt;
    let d = init("KE");
    let name = std::ffi::OsStr::from_bytes(b"odd\xff.jsonl");
    let file = d.path().join(name);
    for (cmd, what) in [("audit", "entries"), ("registry", "records")] {
        let _ = std::fs::remove_file(&file);
        let o = std::process::Command::new(bin())
            .arg("--data-dir")
            .arg(d.path())
            .args(["--json", cmd, "export"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{cmd}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            v["file"].as_str().unwrap().contains("odd\u{FFFD}.jsonl"),
            "{v}"
        );
        assert!(v[what].is_u64(), "{v}");
        assert!(file.exists());
    }
}

/// Every `--json` output that names a file says a name that is not UTF-8
/// (U+FFFD where it is not), after doing its work as with any other name:
/// they failed once the work was done ("path contains invalid UTF-8
/// characters"), a roster or key written and the command said failed (a
/// hostile trial). Through the running node, an import of such a name is
/// refused saying why and what to do.
#[cfg(unix)]
#[test]
fn json_outputs_name_files_whose_names_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let root = tempfile::tempdir().unwrap();
    // "données" in Latin-1.
    let latin1 = |stem: &str, ext: &str| {
        let mut b = stem.as_bytes().to_vec();
        b.extend_from_slice(b"-donn\xe9es.");
        b.extend_from_slice(ext.as_bytes());
        root.path().join(OsStr::from_bytes(&b))
    };
    let dir = latin1("node", "d");
    let run_json = |args: &[&OsStr]| -> serde_json::Value {
        let o = std::process::Command::new(bin())
            .arg("--json")
            .arg("--data-dir")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&o)))
    };
    let os = |s: &'static str| OsStr::new(s);
    let said = |v: &serde_json::Value, field: &str| v[field].as_str().unwrap_or("").to_string();

    let v = run_json(&[os("init"), os("--state"), os("KE")]);
    assert!(said(&v, "data_dir").contains("donn\u{FFFD}es"), "{v}");
    let v = run_json(&[os("identity"), os("show")]);
    assert!(said(&v, "key_file").contains("donn\u{FFFD}es"), "{v}");

    let anchor = latin1("anchor", "key");
    let v = run_json(&[os("roster"), os("keygen"), os("--out"), anchor.as_os_str()]);
    assert!(anchor.is_file(), "{v}");
    assert!(said(&v, "key_file").contains("donn\u{FFFD}es"), "{v}");
    let anchor_public = said(&v, "public_key");
    let roster = latin1("roster", "json");
    let v = run_json(&[
        os("roster"),
        os("new"),
        os("--valid-from"),
        os("today"),
        os("--valid-until"),
        os("today+30"),
        os("--out"),
        roster.as_os_str(),
    ]);
    assert!(roster.is_file(), "{v}");
    let v = run_json(&[os("roster"), os("show"), roster.as_os_str()]);
    assert!(v.to_string().contains("donn\u{FFFD}es"), "{v}");

    let generated = latin1("generated", "jsonl");
    let v = run_json(&[
        os("registry"),
        os("generate"),
        os("--state"),
        os("KE"),
        os("--count"),
        os("2"),
        os("--out"),
        generated.as_os_str(),
    ]);
    assert!(v.to_string().contains("donn\u{FFFD}es"), "{v}");
    // An import with a bad line names the file in its rejection.
    let mut lines = std::fs::read(&generated).unwrap();
    lines.extend_from_slice(b"{\"id\":\"BAD\"}\n");
    std::fs::write(&generated, lines).unwrap();
    let o = std::process::Command::new(bin())
        .arg("--json")
        .arg("--data-dir")
        .arg(&dir)
        .args([os("registry"), os("import"), generated.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["added"], 2, "{v}");
    assert!(
        said(&v["rejections"][0], "file").contains("donn\u{FFFD}es"),
        "{v}"
    );

    let table = root.path().join("makers.toml");
    std::fs::copy(repo_file("config/makers.toml"), &table).unwrap();
    let signed = latin1("makers", "json");
    let v = run_json(&[
        os("makers"),
        os("sign"),
        table.as_os_str(),
        os("--version"),
        os("2"),
        os("--anchor-key"),
        anchor.as_os_str(),
        os("--out"),
        signed.as_os_str(),
    ]);
    assert!(signed.is_file(), "{v}");
    let v = run_json(&[
        os("makers"),
        os("verify"),
        signed.as_os_str(),
        os("--anchor"),
        OsStr::new(&anchor_public),
    ]);
    assert!(said(&v, "file").contains("donn\u{FFFD}es"), "{v}");
}

/// A variable of the environment that is not UTF-8 (bash's `PWD` in a
/// folder named in Latin-1) ends no command: every command that read the
/// configuration panicked on it (a hostile trial). A `TRACENET_` one is
/// refused, naming it.
#[cfg(unix)]
#[test]
fn an_environment_that_is_not_utf8_ends_no_command() {
    use std::os::unix::ffi::OsStrExt;
    let d = init("KE");
    let latin1 = std::ffi::OsStr::from_bytes(b"/tmp/donn\xe9es");
    let run_with = |name: &str| {
        std::process::Command::new(bin())
            .arg("--data-dir")
            .arg(d.path())
            .args(["--json", "registry", "stats"])
            .env(name, latin1)
            .output()
            .unwrap()
    };
    let o = run_with("PWD");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A State set by the environment is the one `identity show` says, as
    // the node and `config check` do (it said the file's).
    let o = std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(d.path())
        .args(["--json", "identity", "show"])
        .env("TRACENET_STATE", "UG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["state"], "UG", "{shown}");
    let o = run_with("TRACENET_STATE");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("TRACENET_STATE=") && stderr(&o).contains("is not UTF-8"),
        "{}",
        stderr(&o)
    );
    // The data directory's variable is a path, whatever its bytes, as
    // `--data-dir` is.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(std::ffi::OsStr::from_bytes(b"donn\xe9es"));
    let o = std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(&dir)
        .args(["init", "--state", "KE"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = std::process::Command::new(bin())
        .args(["--json", "registry", "stats"])
        .env("TRACENET_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// A node's folders before it makes them, and its temporary names, are
/// its own too; no data directory is made inside them; and standard
/// output sent by the shell into a node's file is refused as the file
/// itself (a hostile trial: a file named `rosters` stopped every roster
/// install, one named `audit-archive` the node's start, `init` in `db/x`
/// or `api.tmp` broke the node, `- >> node.key` appended to the key).
#[test]
fn a_nodes_folders_to_come_and_its_temporary_names_are_its_own() {
    let d = init("KE");
    let p = |rel: &str| d.path().join(rel).to_str().unwrap().to_string();
    assert!(!d.path().join("rosters").exists());
    for (args, said) in [
        (
            vec!["registry", "export", &p("rosters") as &str, "--force"],
            "the name of the rosters folder",
        ),
        (
            vec!["roster", "keygen", "--out", &p("audit-archive")],
            "the name of the audit-archive folder",
        ),
        (vec!["registry", "export", &p("api.tmp")], "the own api.tmp"),
    ] {
        let o = run(d.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(said), "{args:?}: {}", stderr(&o));
    }
    assert!(!d.path().join("rosters").exists() && !d.path().join("api.tmp").exists());
    for inner in [p("db/inner"), p("api.tmp"), p("tmp")] {
        let o = run(std::path::Path::new(&inner), &["init", "--state", "UG"]);
        assert_eq!(o.status.code(), Some(1), "{inner}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no command writes there"),
            "{inner}: {}",
            stderr(&o)
        );
        assert!(!std::path::Path::new(&inner).join("node.key").exists());
    }
    let key_before = std::fs::read(d.path().join("node.key")).unwrap();
    let o = in_shell(
        "exec \"$0\" --data-dir \"$1\" registry export - >> \"$1/node.key\"",
        &[d.path()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("standard output is the own node.key"),
        "{}",
        stderr(&o)
    );
    assert!(
        std::fs::read(d.path().join("node.key")).unwrap() == key_before,
        "the key was written"
    );
    // A node's own name elsewhere is not refused: no data directory there.
    let elsewhere = tempfile::tempdir().unwrap();
    ok(
        d.path(),
        &[
            "registry",
            "export",
            elsewhere.path().join("rosters").to_str().unwrap(),
        ],
    );
    ok(d.path(), &["registry", "export", "-"]);
}

/// Runs `sh -c SCRIPT` with `$0` the tracenet binary and `$1`, `$2`... the
/// `args`: what the shell opens (a descriptor, `>>`) before tracenet runs.
fn in_shell(script: &str, args: &[&std::path::Path]) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(bin())
        .args(args)
        .output()
        .unwrap()
}

/// `roster verify --install` installs as `roster install` does: a roster
/// signed by another anchor than the node's [trust] is refused. It was
/// verified with `--anchor` alone and installed, and the node could then
/// not start, nor take the right roster of the same version (a re-check).
#[test]
fn roster_verify_install_keeps_to_the_nodes_anchors() {
    let a = Anchored::new();
    let (other_key, other) = a.other_anchor();
    let fs = a.roster_signed_by(&other_key, "by-other.json", 1, "today", "today+30");
    let fs = fs.as_str();
    let o = run(
        &a.ke,
        &["roster", "verify", fs, "--anchor", &other, "--install"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--anchor differs from [trust]"),
        "{}",
        stderr(&o)
    );
    assert!(!a.ke.join("roster.json").exists());
    // The node's own anchor's roster installs the same way.
    let good = a.roster("good.json", 1, "today", "today+30");
    let v = json(&a.ke, &["roster", "verify", &good, "--install"]);
    assert_eq!(v["installed"], true, "{v}");
    assert!(a.ke.join("roster.json").exists());
}

/// What is wrong with --anchor, --threshold, a number or a roster's dates
/// is said as a usage error (exit 2) naming the flag, in words: not as the
/// `[trust]` section the anchors did not come from, not in Rust's own words
/// (`invalid digit found in string`), and a roster verified against other
/// anchors names those it was checked against (a regional organisation's
/// trial).
#[test]
fn anchors_numbers_and_dates_given_wrong_are_named_as_given() {
    let a = Anchored::new();
    let w = a.w.path();
    let (other_key, other) = a.other_anchor();
    let good = a.roster("good.json", 1, "today", "today+30");
    let usage = |args: &[&str], says: &[&str]| {
        let o = run(w, args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        for s in says {
            assert!(e.contains(s), "{args:?}: {s:?} not in {e}");
        }
        for s in ["[trust]", "invalid digit", "unexpected argument", "tip:"] {
            assert!(!e.contains(s), "{args:?}: {s:?} in {e}");
        }
        assert!(e.contains("Usage: tracenet "), "{args:?}: {e}");
    };
    usage(
        &["roster", "verify", &good, "--anchor", "garbage"],
        &["'--anchor <KEY>'", "32 bytes written in hex or base64"],
    );
    // Thresholds above the keys given, or out of range, in words.
    for (threshold, says) in [
        (
            "2",
            "--threshold 2 is more than the 1 distinct key given with --anchor",
        ),
        ("0", "out of range: a whole number from 1 to 255"),
        // Negative: not clap's "unexpected argument" with a tip to write
        // `-- -1`, which would make it a file name (a trial).
        ("-1", "out of range: a whole number from 1 to 255"),
    ] {
        let args = [
            "roster",
            "verify",
            &good,
            "--anchor",
            &other,
            "--threshold",
            threshold,
        ];
        usage(&args, &[says]);
    }
    usage(
        &[
            "verify",
            "bundle.json",
            "--anchor",
            &other,
            "--threshold",
            "x",
        ],
        &["'--threshold <THRESHOLD>'", "not a whole number"],
    );
    // Versions that are no number or out of range, in words.
    for (version, says) in [
        ("x", "not a whole number"),
        ("0", "out of range: a whole number from 1 to 1000000"),
        // Below 0 or too large for its type: its range found all the same.
        ("-1", "out of range: a whole number from 1 to 1000000"),
        ("-0.5", "out of range: a whole number from 1 to 1000000"),
        (
            "99999999999999999999",
            "too large a number for this argument: a whole number from 1 to 1000000",
        ),
    ] {
        let out = w.join("r.json");
        let args = [
            "roster",
            "new",
            "--out",
            out.to_str().unwrap(),
            "--valid-from",
            "today",
            "--valid-until",
            "today",
            "--version",
            version,
        ];
        usage(&args, &["'--version <VERSION>'", says]);
    }
    // The range is the refused option's own: 0 in --seed's place lets
    // the line be read up to --count 0, whose range is not --seed's (a
    // review).
    let o = run(
        w,
        &[
            "registry",
            "generate",
            "--state",
            "KE",
            "--seed",
            "99999999999999999999",
            "--count",
            "0",
            "--out",
            w.join("x.jsonl").to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("'--seed <SEED>': too large a number for this argument")
            && !e.contains("from 1"),
        "{e}"
    );
    usage(
        &[
            "roster",
            "new",
            "--out",
            w.join("r.json").to_str().unwrap(),
            "--valid-from",
            "today+5",
            "--valid-until",
            "today",
        ],
        &[
            "--valid-until",
            "is before --valid-from",
            "Usage: tracenet roster new",
        ],
    );
    assert!(!w.join("r.json").exists());
    // Signed by the node's anchor, checked against another's.
    let o = run(w, &["roster", "verify", &good, "--anchor", &other]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("signed by 0 of the trust anchors")
            && e.contains("checked against the 1 key given with --anchor")
            && e.contains(&format!("it carries signatures of {}", a.anchor))
            && e.contains("good.json")
            && !e.contains("[trust]"),
        "{e}"
    );
    // A key anyone could sign under (all zeros: a point of small order) is
    // no member's key and no anchor.
    let zeros = "0".repeat(64);
    usage(
        &[
            "roster", "add", &good, "--state", "NG", "--name", "Nigeria", "--key", &zeros,
        ],
        &["--key", "small order", "roster keygen"],
    );
    usage(
        &["roster", "verify", &good, "--anchor", &zeros],
        &["'--anchor <KEY>'", "small order"],
    );
    // A roster listing such keys (edited by hand, or an earlier build's)
    // is not signed, and the error names each with the two edits that
    // mend it; the edits can be made one at a time.
    {
        use base64::Engine;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let b64 = base64::engine::general_purpose::STANDARD;
        let fresh = |name: &str| {
            json(
                w,
                &["roster", "keygen", "--out", w.join(name).to_str().unwrap()],
            )["public_key"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let weak = w.join("weak.json");
        std::fs::copy(&good, &weak).unwrap();
        let weak_s = weak.to_str().unwrap();
        let ug = fresh("ug.key");
        ok(
            w,
            &[
                "roster", "add", weak_s, "--state", "UG", "--name", "Uganda", "--key", &ug,
            ],
        );
        let mut file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&weak).unwrap()).unwrap();
        let mut body = b64.decode(file["body"].as_str().unwrap()).unwrap();
        let mut replace = |key: &str, by: [u8; 32]| {
            let key = b64.decode(key).unwrap();
            let at = body
                .windows(32)
                .position(|k| k == key.as_slice())
                .expect("the key in the body");
            body[at..at + 32].copy_from_slice(&by);
            b64.encode(by)
        };
        // KE's: the identity, of small order. UG's: its own key plus a
        // point of order 8, of mixed order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let small = replace(&a.pk, identity);
        let ug_point = CompressedEdwardsY(b64.decode(&ug).unwrap().try_into().unwrap())
            .decompress()
            .unwrap();
        let mixed = replace(
            &ug,
            (ug_point + curve25519_dalek::constants::EIGHT_TORSION[1])
                .compress()
                .to_bytes(),
        );
        file["body"] = b64.encode(&body).into();
        std::fs::write(&weak, file.to_string()).unwrap();
        let sign = || {
            let o = run(
                w,
                &[
                    "roster",
                    "sign",
                    weak_s,
                    "--anchor-key",
                    a.key.to_str().unwrap(),
                ],
            );
            (o.status.code(), stderr(&o))
        };
        let (code, e) = sign();
        assert_eq!(code, Some(1), "{e}");
        for says in [
            format!("{} is not signed: it lists 2 keys", weak.display()),
            format!("KE's member key {small} is a point of small order"),
            format!("UG's member key {mixed} is a point with a small-order part (mixed order)"),
            format!(
                "tracenet roster set-key {} --state KE --key KEY",
                weak.display()
            ),
            format!("tracenet roster remove {} --key {small}", weak.display()),
            format!("tracenet roster remove {} --key {mixed}", weak.display()),
        ] {
            assert!(e.contains(&says), "{says:?} not in {e}");
        }
        let signatures = || {
            let f: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&weak).unwrap()).unwrap();
            f["signatures"].as_array().unwrap().len()
        };
        assert_eq!(signatures(), 0, "nothing written");
        // One edit at a time: KE's entry out (the other key stays, said),
        // then UG's key replaced, and the roster signs.
        let o = run(w, &["roster", "remove", weak_s, "--key", &small]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!(
                "warning: UG's member key {mixed} is a point with a small-order part"
            )),
            "{}",
            stderr(&o)
        );
        let (code, e) = sign();
        assert_eq!(code, Some(1), "{e}");
        assert!(e.contains("it lists a key") && !e.contains(&small), "{e}");
        let ug2 = fresh("ug2.key");
        ok(
            w,
            &["roster", "set-key", weak_s, "--state", "UG", "--key", &ug2],
        );
        let (code, e) = sign();
        assert_eq!(code, Some(0), "{e}");
        assert_eq!(signatures(), 1);
    }
    // The anchor's public key given as its secret key file.
    let public = w.join("anchor.pub");
    std::fs::write(&public, format!("{other}\n")).unwrap();
    let o = run(
        w,
        &[
            "roster",
            "sign",
            &good,
            "--anchor-key",
            public.to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("holds a public key, not an anchor's secret key") && !e.contains("chmod"),
        "{e}"
    );
    // What `roster keygen --json` printed, saved where the key was meant
    // to be: the secret key file it names is the one to give.
    let printed = w.join("anchor2.json");
    let key2 = w.join("anchor2.key");
    let made = json(w, &["roster", "keygen", "--out", key2.to_str().unwrap()]);
    std::fs::write(&printed, made.to_string()).unwrap();
    // Other files given as the key: each named for what it is.
    let config = w.join("node-config.toml");
    std::fs::write(&config, "state = \"KE\"\n[trust]\nanchors = []\n").unwrap();
    let binary = w.join("blob");
    std::fs::write(&binary, [0xffu8; 40]).unwrap();
    let node_doc = w.join("ke-identity.json");
    std::fs::write(&node_doc, json(&a.ke, &["identity", "show"]).to_string()).unwrap();
    for (file, says) in [
        (
            node_doc.to_str().unwrap(),
            format!(
                "is what `tracenet identity show --json` or `init --json` printed of a node's key ({}), not an anchor's secret key",
                a.pk
            ),
        ),
        (
            printed.to_str().unwrap(),
            format!(
                "is what `tracenet roster keygen --json` printed (the public key {}); the secret key is its key_file: --anchor-key {}",
                made["public_key"].as_str().unwrap(),
                key2.display()
            ),
        ),
        (
            good.as_str(),
            "holds a roster file, not an anchor's secret key".to_string(),
        ),
        (config.to_str().unwrap(), "holds text (".to_string()),
        (
            binary.to_str().unwrap(),
            "holds 40 bytes, not an anchor's secret key".to_string(),
        ),
    ] {
        let o = run(w, &["roster", "sign", &good, "--anchor-key", file]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{file}: {e}");
        assert!(e.contains(&says), "{file}: {says:?} not in {e}");
        assert!(!e.contains("backup") && !e.contains("chmod"), "{file}: {e}");
    }
    // Another node's keys, which the roster does not list, are no anchor
    // key either.
    let ug = w.join("ug");
    ok(&ug, &["init", "--state", "UG", "--anchor", &a.anchor]);
    for file in ["node.key", "oprf.key"] {
        let o = run(
            w,
            &[
                "roster",
                "sign",
                &good,
                "--anchor-key",
                ug.join(file).to_str().unwrap(),
            ],
        );
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{file}: {e}");
        assert!(e.contains(&format!("is the {file} of the node in")), "{e}");
    }
    // A directory that holds no node is refused before anything is made
    // in it.
    let none = w.join("no-node");
    let o = run(&none, &["roster", "install", &good, "--anchor", &a.anchor]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("holds no node") && e.contains("tracenet init --state CC --data-dir"),
        "{e}"
    );
    assert!(!none.join("db").exists() && !none.join("roster.json").exists());
    // A maker table with no maker is refused; one leaving out makers built
    // in is signed, with a warning naming them.
    let empty = w.join("empty.toml");
    std::fs::write(&empty, "version = 4\n").unwrap();
    let key = a.key.to_str().unwrap();
    // Signs `table` into `<name>.json`: its stderr, exit code, and whether
    // the signed file was written.
    let sign = |table: &std::path::Path, name: &str| {
        let out = w.join(format!("{name}.json"));
        let args = [
            "makers",
            "sign",
            table.to_str().unwrap(),
            "--anchor-key",
            key,
            "--out",
            out.to_str().unwrap(),
        ];
        let o = run(w, &args);
        (stderr(&o), o.status.code(), out.exists())
    };
    let (e, code, written) = sign(&empty, "empty");
    assert_eq!((code, written), (Some(1), false), "{e}");
    assert!(e.contains("lists no maker"), "{e}");
    let one = w.join("one.toml");
    std::fs::write(
        &one,
        "version = 4\n[[maker]]\nname = \"Glock\"\ncountries = [\"AT\", \"US\"]\n[[maker]]\nname = \"Carl Walther\"\ncountries = [\"DE\", \"US\"]\naliases = [\"Walther\"]\n",
    )
    .unwrap();
    let (e, code, written) = sign(&one, "one");
    assert_eq!((code, written), (Some(0), true), "{e}");
    assert!(
        e.contains("makers built into this release are not in") && e.contains("Steyr Arms"),
        "{e}"
    );
    // Carl Walther is kept with fewer spellings: said too, with where
    // (DD, East Germany, for the German maker's weapons marked before 1990).
    assert!(
        e.contains("1 maker built into this release matches fewer markings")
            && e.contains(r#"  Carl Walther: "Walther Arms" made in DD (German Democratic Republic), DE, US or anywhere else; "Carl Walther Sportwaffen" made in DD (German Democratic Republic), DE, US or anywhere else"#),
        "{e}"
    );
    // Said in words by `verify`, and to a second anchor co-signing it.
    let one_json = w.join("one.json");
    let o = run(
        w,
        &[
            "makers",
            "verify",
            one_json.to_str().unwrap(),
            "--anchor",
            &a.anchor,
        ],
    );
    let t = stdout(&o);
    assert!(
        o.status.success()
            && t.contains("built into this release and left out:\n  Steyr Arms\n")
            && t.contains("built into this release and matching fewer markings:\n  Carl Walther: "),
        "{t}"
    );
    let o = run(
        w,
        &[
            "makers",
            "sign",
            one_json.to_str().unwrap(),
            "--anchor-key",
            other_key.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success()
            && stderr(&o).contains("1 maker built into this release matches fewer markings"),
        "{}",
        stderr(&o)
    );
    // A table refused is not warned of: the warnings describe a table signed.
    let clash = w.join("clash.toml");
    std::fs::write(
        &clash,
        "version = 4\n[[maker]]\nname = \"Glock\"\ncountries = [\"AT\"]\naliases = [\"Steyr\"]\n[[maker]]\nname = \"Steyr Arms\"\ncountries = [\"AT\"]\naliases = [\"Steyr\"]\n",
    )
    .unwrap();
    let (refused, code, written) = sign(&clash, "clash");
    assert_eq!((code, written), (Some(1), false), "{refused}");
    assert!(
        refused.contains("already means the maker GLOCK") && !refused.contains("warning"),
        "{refused}"
    );
    // The table to start from, with the binary alone: `makers show --toml`
    // where no node is prints the one built in, as shipped, which signs
    // with no warning (the warning above points to it; it pointed to
    // tracenet's sources, which a regional organisation may not have).
    assert!(e.contains("tracenet makers show --toml"), "{e}");
    let o = run(&w.join("bare"), &["makers", "show", "--toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("holds no node"), "{}", stderr(&o));
    let shipped = std::fs::read_to_string(repo_file("config/makers.toml")).unwrap();
    assert_eq!(stdout(&o).trim_end(), shipped.trim_end());
    let first = w.join("first.toml");
    std::fs::write(&first, &o.stdout).unwrap();
    let (e, code, written) = sign(&first, "first");
    assert_eq!((code, written), (Some(0), true), "{e}");
    assert!(!e.contains("warning"), "{e}");
    // Installed on a node, the table in force prints as its rows, which
    // sign again, as the next version, to a table of the same rows: the
    // next one, installed, prints the same rows under its own header.
    ok(
        &a.ke,
        &["makers", "install", w.join("first.json").to_str().unwrap()],
    );
    let o = run(&a.ke, &["makers", "show", "--toml"]);
    let text = stdout(&o);
    assert!(
        text.starts_with("# The maker reference table in force on this node: version 3,"),
        "{text}"
    );
    let shown = json(&a.ke, &["makers", "show", "--toml"]);
    assert_eq!(
        (shown["version"].as_u64(), shown["source"].as_str()),
        (Some(3), Some("signed"))
    );
    assert_eq!(shown["toml"].as_str().unwrap().trim_end(), text.trim_end());
    let next = w.join("next.toml");
    std::fs::write(&next, &text).unwrap();
    let signed_next = w.join("next.json");
    let o = run(
        w,
        &[
            "makers",
            "sign",
            next.to_str().unwrap(),
            "--anchor-key",
            key,
            "--version",
            "4",
            "--out",
            signed_next.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        stderr(&o)
    );
    let anchor = a.anchor.as_str();
    // `makers verify --json` of a signed table.
    let verified = |file: &std::path::Path| {
        json(
            w,
            &[
                "makers",
                "verify",
                file.to_str().unwrap(),
                "--anchor",
                anchor,
            ],
        )
    };
    let makers_of = |file: &std::path::Path| verified(file)["makers"].clone();
    assert_eq!(makers_of(&signed_next), makers_of(&w.join("first.json")));
    ok(&a.ke, &["makers", "install", signed_next.to_str().unwrap()]);
    let rows = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("version ="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let again = stdout(&run(&a.ke, &["makers", "show", "--toml"]));
    assert!(again.contains("version 4,"), "{again}");
    assert_eq!(rows(&again), rows(&text));
    // The makers built in that a table leaves out, for integrators too.
    let left_out = |file: &std::path::Path| verified(file)["built_in_left_out"].clone();
    assert_eq!(left_out(&w.join("first.json")), serde_json::json!([]));
    let narrowed = |file: &std::path::Path| verified(file)["built_in_narrowed"].clone();
    assert_eq!(narrowed(&w.join("first.json")), serde_json::json!([]));
    assert_eq!(
        narrowed(&w.join("one.json")),
        serde_json::json!([{"maker": "Carl Walther", "spellings": [
            {"spelling": "Walther Arms", "countries": ["DD", "DE", "US"], "elsewhere": true, "now": null},
            {"spelling": "Carl Walther Sportwaffen", "countries": ["DD", "DE", "US"], "elsewhere": true, "now": null}
        ], "factory_codes": [], "countries_left_out": []}])
    );
    let one_left = left_out(&w.join("one.json"));
    assert!(
        one_left
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "Steyr Arms") && !a.iter().any(|m| m == "Glock")),
        "{one_left}"
    );
    // Against the node's own [trust], which names its file.
    let o = run(
        &a.ke,
        &[
            "roster",
            "verify",
            &a.roster_signed_by(&other_key, "other.json", 1, "today", "today+30"),
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("checked against the anchors of [trust] in") && e.contains("tracenet.toml"),
        "{e}"
    );
    // A key anyone could sign under written into [trust] by hand is refused
    // naming the file.
    let cfg = a.ke.join("tracenet.toml");
    let kept = std::fs::read_to_string(&cfg).unwrap();
    assert!(kept.contains(&a.anchor), "{kept}");
    std::fs::write(&cfg, kept.replace(&a.anchor, &zeros)).unwrap();
    let o = run(&a.ke, &["roster", "verify", &good]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("[trust] in") && e.contains("tracenet.toml") && e.contains("small order"),
        "{e}"
    );
    std::fs::write(&cfg, &kept).unwrap();
    // Another State given to `init --force` keeps the key, which the roster
    // lists under the first: said.
    let o = run(
        &a.ke,
        &["init", "--force", "--state", "UG", "--anchor", &a.anchor],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("was for KE and is now for UG") && e.contains("init --force --state KE"),
        "{e}"
    );
}

/// A regional organisation's mistakes with signed files, from a trial:
/// each said with its file and what to do.
#[test]
fn signing_and_checking_files_name_the_file_and_what_to_do() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let a = Anchored::new();
    let w = a.w.path();
    let (other_key, other) = a.other_anchor();
    let key = a.key.to_str().unwrap();
    let read_json = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    // Damages the first signature of a signed file (one bit of R), and
    // returns the file as written.
    let break_first_signature = |p: &std::path::Path| -> serde_json::Value {
        let mut f = read_json(p);
        let sig = f["signatures"][0]["signature"]
            .as_str()
            .unwrap()
            .to_string();
        let mut bytes = b64.decode(&sig).unwrap();
        bytes[0] ^= 1;
        f["signatures"][0]["signature"] = b64.encode(&bytes).into();
        std::fs::write(p, f.to_string()).unwrap();
        f
    };
    // Another anchor's signature that does not hold over the body refuses
    // a co-signature, naming it: signed beside it, the file failed to
    // verify wherever that key is an anchor (a trial), and taking it out
    // would hide that the body is not what that anchor signed (a review).
    let good = a.roster("good.json", 1, "today", "today+30");
    let good_p = std::path::PathBuf::from(&good);
    break_first_signature(&good_p);
    let o = run(
        w,
        &[
            "roster",
            "sign",
            &good,
            "--anchor-key",
            other_key.to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!(
            "{good}: signature 1 (key {}) does not hold over this roster",
            a.anchor
        )) && e.contains("Not signed")
            && e.contains("have that anchor sign again"),
        "{e}"
    );
    let f = read_json(&good_p);
    assert_eq!(
        f["signatures"].as_array().unwrap().len(),
        1,
        "nothing written"
    );
    // Its own anchor signing again replaces it; then the other co-signs.
    ok(w, &["roster", "sign", &good, "--anchor-key", key]);
    ok(
        w,
        &[
            "roster",
            "sign",
            &good,
            "--anchor-key",
            other_key.to_str().unwrap(),
        ],
    );
    ok(
        w,
        &[
            "roster",
            "verify",
            &good,
            "--anchor",
            &a.anchor,
            "--anchor",
            &other,
            "--threshold",
            "2",
        ],
    );
    // A roster past its dates is signed, with a warning saying so.
    let old = a.roster("old.json", 2, "today-30", "today-1");
    let o = run(w, &["roster", "sign", &old, "--anchor-key", key]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("before today: nodes refuse it") && e.contains("tracenet roster new --from"),
        "{e}"
    );
    // Maker tables: a TOML table given wrong is said with its line and in
    // words; an empty one points to the table to start from.
    let sign_table = |text: &str| {
        let t = w.join("table.toml");
        std::fs::write(&t, text).unwrap();
        let out = w.join("table.json");
        let _ = std::fs::remove_file(&out);
        let o = run(
            w,
            &[
                "makers",
                "sign",
                t.to_str().unwrap(),
                "--anchor-key",
                key,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        (o.status.code(), stderr(&o))
    };
    for (text, says) in [
        ("", "the file is empty"),
        ("\n  \n", "the file is empty"),
        (
            "version = -1\n",
            "line 1 column 11: invalid value: integer `-1`, expected a whole number from 0 to 4294967295",
        ),
        (
            "version = \"3\"\n",
            "expected a whole number from 0 to 4294967295",
        ),
        ("!!!!", "line 1 column 1: "),
    ] {
        let (code, e) = sign_table(text);
        assert_eq!(code, Some(1), "{text:?}: {e}");
        assert!(
            e.contains(says)
                && e.contains("table.toml")
                && e.contains("tracenet makers show --toml"),
            "{text:?}: {says:?} not in {e}"
        );
        assert!(
            !e.contains("u32") && !e.contains("TOML parse error"),
            "{text:?}: {e}"
        );
    }
    // A signed table: checked against an anchor that did not sign it, the
    // error names the file and whose signatures it carries; its body
    // damaged, the file and the fault.
    let shipped = w.join("shipped.toml");
    std::fs::write(
        &shipped,
        json(w, &["makers", "show", "--toml"])["toml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let table = w.join("makers.json");
    ok(
        w,
        &[
            "makers",
            "sign",
            shipped.to_str().unwrap(),
            "--anchor-key",
            key,
            "--out",
            table.to_str().unwrap(),
        ],
    );
    let o = run(
        w,
        &[
            "makers",
            "verify",
            table.to_str().unwrap(),
            "--anchor",
            &other,
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&table.display().to_string())
            && e.contains("signed by 0 of the trust anchors")
            && e.contains(&format!("it carries signatures of {}", a.anchor)),
        "{e}"
    );
    // A co-signature beside another key's that does not hold is refused,
    // as a roster's.
    let mut f = break_first_signature(&table);
    let o = run(
        w,
        &[
            "makers",
            "sign",
            table.to_str().unwrap(),
            "--anchor-key",
            other_key.to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!(
            "signature 1 (key {}) does not hold over this table",
            a.anchor
        )) && e.contains("--anchor-key KEY_FILE --out NEW_FILE"),
        "{e}"
    );
    assert_eq!(read_json(&table), f, "nothing written");
    f["body"] = "!!!!".into();
    std::fs::write(&table, f.to_string()).unwrap();
    let o = run(
        w,
        &[
            "makers",
            "verify",
            table.to_str().unwrap(),
            "--anchor",
            &a.anchor,
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&table.display().to_string())
            && e.contains("character '!' at position 1 is not base64")
            && e.contains("take the file again"),
        "{e}"
    );
}

/// Help texts say which builds refuse what by the day they were built
/// ("builds before 2026-12-07 (midday)"): `tracenet --version` prints the
/// day this build reads and sends as, and no day the sources cite is later
/// (an officer comparing them would take this build for an older one).
#[test]
fn the_version_names_the_day_the_help_compares_builds_by() {
    let o = run(std::path::Path::new("."), &["--version"]);
    let v = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{v}");
    let rank = |text: &str| -> Option<(String, usize)> {
        let day = text.get(..10)?;
        let ok = day.len() == 10
            && day.chars().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        // A day's builds in order: unnamed, then midday, evening, night.
        let part = ["(midday)", "(evening)", "(night)"]
            .iter()
            .position(|p| text[10..].trim_start().starts_with(p))
            .map_or(0, |p| p + 1);
        ok.then(|| (day.to_string(), part))
    };
    let (_, after) = v
        .split_once("reads and sends as builds of ")
        .unwrap_or_else(|| panic!("no day in {v}"));
    let this = rank(after).unwrap_or_else(|| panic!("no day in {v}"));
    let mut cited = 0;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("src"), root.join("proto-docs")];
    let mut files = vec![root.join("README.md")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                files.push(path);
            }
        }
    }
    for path in files {
        {
            let text = std::fs::read_to_string(&path).unwrap();
            // Comments and paragraphs break lines anywhere: read them
            // joined, comment marks taken off.
            let joined = text
                .lines()
                .map(|l| {
                    let l = l.trim();
                    l.strip_prefix("///")
                        .or_else(|| l.strip_prefix("//!"))
                        .or_else(|| l.strip_prefix("//"))
                        .unwrap_or(l)
                        .trim()
                })
                .collect::<Vec<_>>()
                .join(" ");
            // ASCII lowering keeps every byte where it was.
            for (at, _) in joined.to_ascii_lowercase().match_indices("builds before ") {
                if let Some(day) = rank(&joined[at + "builds before ".len()..]) {
                    cited += 1;
                    assert!(
                        day <= this,
                        "{}: builds before {day:?}, after {v}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(cited >= 3, "the days cited were not found ({cited})");
}

/// A trace store written by a later tracenet (a later layout) stops the
/// node before it joins, and the commands that read traces with the node
/// stopped, with the layout found and what to do; the store is left as it
/// is.
#[test]
fn a_trace_store_of_a_later_layout_stops_the_node_and_says_what_to_do() {
    let d = init("DE");
    {
        let db = sled::open(d.path().join("db")).unwrap();
        db.open_tree("trace_store")
            .unwrap()
            .insert("layout", "6")
            .unwrap();
        db.flush().unwrap();
    }
    for args in [vec!["node", "run"], vec!["inbox", "list"]] {
        let o = run(d.path(), &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(
            e.contains("layout 6")
                && e.contains("later tracenet")
                && e.contains("backup")
                && e.contains(&d.path().join("db").display().to_string()),
            "{args:?}: {e}"
        );
    }
    let db = sled::open(d.path().join("db")).unwrap();
    let layout = db.open_tree("trace_store").unwrap().get("layout").unwrap();
    assert_eq!(layout.as_deref(), Some(&b"6"[..]));
}

/// A regional organisation names members as their names are written
/// (digits, `&`, `/`, decomposed marks); what builds before 2026-12-07
/// refuse in a roster is noted on standard error, the JSON left whole; a
/// name hiding an invisible or direction character is refused, naming it.
#[test]
fn roster_names_take_digits_and_marks_and_note_what_older_builds_refuse() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let key = |name: &str| {
        common::json(dir, &["roster", "keygen", "--out", &path(name)])["public_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = path("r.json");
    common::ok(
        dir,
        &[
            "roster",
            "new",
            "--out",
            &r,
            "--valid-from",
            "today",
            "--valid-until",
            "today+30",
        ],
    );
    let plain = key("gh.key");
    let o = common::run(
        dir,
        &[
            "--json", "roster", "add", &r, "--state", "GH", "--name", "Ghana", "--key", &plain,
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        !common::stderr(&o).contains("newer build"),
        "{}",
        common::stderr(&o)
    );
    let boot = key("boot.key");
    let o = common::run(
        dir,
        &[
            "--json",
            "roster",
            "add",
            &r,
            "--state",
            "NG",
            "--name",
            "ECOWAS bootstrap 2",
            "--key",
            &boot,
            "--role",
            "bootstrap",
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout stays JSON");
    assert!(v.to_string().contains("ECOWAS bootstrap 2"), "{v}");
    let err = common::stderr(&o);
    assert!(
        err.contains("\"ECOWAS bootstrap 2\"") && err.contains("before 2026-12-07"),
        "{err}"
    );
    // Typed decomposed, with stray spaces: stored composed, which every
    // build reads, so not noted (the note names ECOWAS's name alone).
    let vn = key("vn.key");
    let o = common::run(
        dir,
        &[
            "roster",
            "add",
            &r,
            "--state",
            "VN",
            "--name",
            " Vie\u{323}\u{302}t  Nam ",
            "--key",
            &vn,
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        !common::stderr(&o).contains("Vi\u{1ec7}t"),
        "{}",
        common::stderr(&o)
    );
    // The same name again is noted; a name without a letter is refused.
    let km = key("km.key");
    let o = common::run(
        dir,
        &[
            "roster", "add", &r, "--state", "KM", "--name", "ghana", "--key", &km,
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("GH \"Ghana\" and KM \"ghana\" have the same name"),
        "{}",
        common::stderr(&o)
    );
    let cv = key("cv.key");
    for blank in ["   ", "-", "(((---)))"] {
        let o = common::run(
            dir,
            &[
                "roster", "add", &r, "--state", "CV", "--name", blank, "--key", &cv,
            ],
        );
        assert!(!o.status.success(), "{blank:?}");
        let err = common::stderr(&o);
        assert!(
            err.contains("--name") && err.contains("letter"),
            "{blank:?}: {err}"
        );
    }
    let ci = key("ci.key");
    let o = common::run(
        dir,
        &[
            "roster",
            "add",
            &r,
            "--state",
            "CI",
            "--name",
            "Co\u{302}te d\u{2019}Ivoire\u{202E}",
            "--key",
            &ci,
        ],
    );
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(err.contains("--name") && err.contains("U+202E"), "{err}");
    // Signing such a roster waits for every member's upgrade: older nodes
    // would refuse it and score down the peers passing it on.
    let anchor = path("anchor.key");
    key("anchor.key");
    let o = common::run(dir, &["roster", "sign", &r, "--anchor-key", &anchor]);
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(
        err.contains("NG \"ECOWAS bootstrap 2\"") && err.contains("--newer-builds-only"),
        "{err}"
    );
    common::ok(
        dir,
        &[
            "roster",
            "sign",
            &r,
            "--anchor-key",
            &anchor,
            "--newer-builds-only",
        ],
    );
    let shown = common::ok(dir, &["roster", "show", &r]);
    assert!(
        shown.contains("\n  VN member ") && shown.contains(" Vi\u{1ec7}t Nam\n"),
        "{shown}"
    );
    assert!(
        !shown.contains("Ivoire") && !shown.contains("\n  CV ") && !shown.contains("not signed"),
        "{shown}"
    );
}
