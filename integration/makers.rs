//! Makers as States really write them, across the federation: legal forms,
//! the reference table's suggestions at `trace`, `--force`, and the signed
//! reference table spreading by gossip. Real processes on 127.0.0.1
//! (integration/fed).

mod common;
mod fed;

use std::time::Duration;

use fed::*;

const MADE: &str = r#"{"date":"1988-05-02","kind":"manufactured","holder":"manufacturer"}"#;

fn trace_args<'a>(maker: &'a str, country: &'a str, serial: &'a str) -> Vec<&'a str> {
    vec![
        "trace",
        "--maker",
        maker,
        "--country",
        country,
        "--serial",
        serial,
        "--category",
        "rifle",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
    ]
}

/// The issue's case: NL recorded the rifle as made by "FN Herstal S.A."
/// and holds other FN rifles as "FN Herstal". Before legal forms were
/// stripped, the first folded to BE/FNHERSTALSA: NL was asked under
/// BE/FNHERSTAL for its other records, and sent a signed no_hit.
#[test]
fn a_holder_of_fn_herstal_sa_answers_a_trace_for_fn_herstal() {
    let fed = Federation::start(vec![
        NodeSpec::bootstrap("LU"),
        NodeSpec::member(
            "NL",
            vec![
                record("NL-1", "FN Herstal S.A.", "BE", "1352-88017", &[], MADE),
                record("NL-2", "FN Herstal", "BE", "1352-99999", &[], MADE),
            ],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let prefixes = fed.node("NL").json(&["registry", "prefixes"]);
    assert_eq!(
        prefixes["prefixes"][0]["prefix"], "BE/FNHERSTAL",
        "{prefixes:#}"
    );
    assert_eq!(prefixes["prefixes"][0]["records"], 2, "{prefixes:#}");
    fed.wait_subscribed("KE", "tracenet/1/prefix/BE/FNHERSTAL", &["NL"]);

    let mut args = trace_args("FN Herstal", "BE", "1352-88017");
    args.extend_from_slice(&["--wait", "20"]);
    let t = fed.node("KE").json(&args);
    assert_eq!(t["status"], "answered", "{t:#}");
    let answers = t["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 1, "{t:#}");
    assert_eq!(answers[0]["state"], "NL");
    assert_eq!(answers[0]["verified"], true);
    let c = &answers[0]["outcome"]["hit"]["candidates"];
    assert_eq!(c.as_array().unwrap().len(), 1, "{t:#}");
    assert_eq!(c[0]["quality"], "exact", "{t:#}");
    let m = &c[0]["record"]["marking"];
    assert_eq!(
        (&m["manufacturer"], &m["serial"]),
        (&"FN Herstal S.A.".into(), &"1352-88017".into())
    );
}

#[test]
fn an_unknown_maker_or_a_wrong_country_is_refused_with_the_nearest_names_unless_forced() {
    let fed = Federation::start(vec![
        NodeSpec::member(
            "DE",
            vec![record("DE-1", "Walther", "DE", "BP0746", &[], MADE)],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let ke = fed.node("KE");

    // The user's to correct: a usage error, exit 2, with the usage line.
    let o = common::run(&ke.dir, &trace_args("Walhter", "DE", "BP0746"));
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("Usage:") && !e.contains("refused"), "{e}");
    assert!(
        e.contains("\"Walhter\" is not in the maker reference table")
            && e.contains("did you mean Walther (Carl Walther; DE, US)?")
            && e.contains("--force"),
        "{e}"
    );

    let o = common::run(&ke.dir, &trace_args("Walther", "GE", "BP0746"));
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("not a maker of GE") && e.contains("(Carl Walther; DE, US)"),
        "{e}"
    );
    // Nothing was sent.
    assert_eq!(ke.json(&["trace", "list"]).as_array().unwrap().len(), 0);

    // --force sends it as written: under its own prefix, held by nobody.
    let mut args = trace_args("Walhter", "DE", "BP0746");
    args.push("--force");
    let t = ke.json(&args);
    assert_eq!(t["query"]["marking"]["manufacturer"], "Walhter", "{t:#}");
    assert_eq!(t["topics"][0], "tracenet/1/prefix/DE/WALHTER", "{t:#}");
    assert!(t["asked"].as_array().unwrap().is_empty(), "{t:#}");
    // The right name, in any legal form, is sent without --force.
    fed.wait_subscribed("KE", "tracenet/1/prefix/DE/CARLWALTHER", &["DE"]);
    let t = ke.json(&trace_args("Carl Walther GmbH", "DE", "BP0746"));
    assert_eq!(t["topics"][0], "tracenet/1/prefix/DE/CARLWALTHER", "{t:#}");
    assert_eq!(t["asked"][0]["state"], "DE", "{t:#}");
}

/// The subscribed topics of a node, from `status`.
fn subscribed(n: &FedNode) -> Vec<String> {
    n.json(&["status"])["net"]["subscribed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Issue 13's acceptance line: the regional organisation signs a newer maker
/// reference table, one node installs it, and a node still on the table
/// built into its release receives it by gossip, applies it (its record moves
/// to the maker's new key), subscribes to the new topic and leaves the old
/// one; a trace by the new table's name then reaches it. The table survives
/// a restart, and an older one is refused.
#[test]
fn a_newer_signed_maker_table_spreads_by_gossip_and_moves_the_topics() {
    let mut fed = Federation::start(vec![
        NodeSpec::bootstrap("LU"),
        NodeSpec::member(
            "DE",
            vec![record("DE-1", "AA Works", "DE", "AW-1001", &[], MADE)],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let (old_topic, new_topic) = (
        "tracenet/1/prefix/DE/AAWORKS",
        "tracenet/1/prefix/DE/ACMEARMS",
    );
    let de = fed.node("DE");
    let st = de.json(&["status"]);
    assert_eq!(st["makers"]["version"], 0, "{st:#}");
    assert_eq!(st["makers"]["source"], "built_in", "{st:#}");
    assert!(subscribed(de).contains(&old_topic.to_string()));
    assert!(subscribed(de).contains(&"tracenet/1/makers".to_string()));

    // Under the built-in table "Acme Arms" is a maker of its own: nobody
    // holds records under it, so nobody is asked.
    let mut args = trace_args("Acme Arms", "DE", "AW-1001");
    args.extend_from_slice(&["--force", "--wait", "5"]);
    let before = fed.node("KE").json(&args);
    assert!(
        before["answers"].as_array().unwrap().is_empty(),
        "{before:#}"
    );

    // The regional organisation: the shipped table plus Acme Arms, whose
    // alias "AA Works" moves DE's record to the key ACMEARMS.
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let key_file = w.join("anchor.key");
    fed.anchor.store(&key_file).unwrap();
    let shipped = std::fs::read_to_string(common::repo_file("config/makers.toml")).unwrap();
    let table = format!(
        "{shipped}\n[[maker]]\nname = \"Acme Arms\"\ncountries = [\"DE\"]\naliases = [\"AA Works\"]\n"
    );
    std::fs::write(w.join("makers.toml"), table).unwrap();
    let sign = |version: &str, out: &str| {
        let ke = fed.node("KE");
        ke.json(&[
            "makers",
            "sign",
            path_str(&w.join("makers.toml")),
            "--version",
            version,
            "--anchor-key",
            path_str(&key_file),
            "--out",
            path_str(&w.join(out)),
        ])
    };
    let signed = sign("5", "makers-v5.json");
    assert_eq!(signed["version"], 5, "{signed:#}");
    let anchor = fed.anchor.public_key().to_base64();
    let checked = fed.node("KE").json(&[
        "makers",
        "verify",
        path_str(&w.join("makers-v5.json")),
        "--anchor",
        &anchor,
    ]);
    assert_eq!(checked["verified"], true, "{checked:#}");

    // KE installs it through its running node; it spreads by gossip.
    let installed =
        fed.node("KE")
            .json(&["makers", "install", path_str(&w.join("makers-v5.json"))]);
    assert_eq!(installed["installed"], true, "{installed:#}");
    assert_eq!(installed["version"], 5);
    for s in ["DE", "LU"] {
        let n = fed.node(s);
        wait_for(
            &format!("{s} to apply maker table version 5"),
            Duration::from_secs(30),
            || (n.json(&["status"])["makers"]["version"] == 5).then_some(()),
        );
    }
    let de = fed.node("DE");
    wait_for(
        "DE to subscribe under the new key and leave the old one",
        Duration::from_secs(30),
        || {
            let t = subscribed(de);
            (t.contains(&new_topic.to_string()) && !t.contains(&old_topic.to_string()))
                .then_some(())
        },
    );
    let p = de.json(&["registry", "prefixes"]);
    assert_eq!(p["prefixes"][0]["prefix"], "DE/ACMEARMS", "{p:#}");
    let shown = de.json(&["makers", "show"]);
    assert_eq!(
        (&shown["version"], &shown["source"]),
        (&5.into(), &"signed".into()),
        "{shown:#}"
    );
    assert_eq!(shown["signed_by"][0], anchor.as_str(), "{shown:#}");
    assert!(de.log().contains("maker reference table applied"));

    // An older table no anchor signed, installed by an officer through the
    // running node, is refused for its signature, not answered "already
    // holds version 5 or newer" with exit 0 (a trial).
    let stranger = w.join("stranger.key");
    tracenet::identity::NodeKey::generate()
        .unwrap()
        .store(&stranger)
        .unwrap();
    fed.node("KE").json(&[
        "makers",
        "sign",
        path_str(&w.join("makers.toml")),
        "--version",
        "3",
        "--anchor-key",
        path_str(&stranger),
        "--out",
        path_str(&w.join("makers-v3-forged.json")),
    ]);
    // Dates the wrong way round are a usage error naming the flags, with
    // nothing written.
    let reversed = w.join("makers-reversed.json");
    let o = common::run(
        &fed.node("KE").dir,
        &[
            "makers",
            "sign",
            path_str(&w.join("makers.toml")),
            "--valid-from",
            "today+5",
            "--anchor-key",
            path_str(&stranger),
            "--valid-until",
            "today",
            "--out",
            path_str(&reversed),
        ],
    );
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("is before --valid-from") && e.contains("Usage: tracenet makers sign"),
        "{e}"
    );
    assert!(!reversed.exists());
    let o = common::run(
        &de.dir,
        &[
            "makers",
            "install",
            path_str(&w.join("makers-v3-forged.json")),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", common::stdout(&o));
    assert!(
        !common::stdout(&o).contains("already holds"),
        "{}",
        common::stdout(&o)
    );

    // The trace now routes by the new table and finds DE's record.
    fed.wait_subscribed("KE", new_topic, &["DE"]);
    let mut args = trace_args("Acme Arms", "DE", "AW-1001");
    args.extend_from_slice(&["--wait", "20"]);
    let t = fed.node("KE").json(&args);
    assert_eq!(t["query"]["makers_version"], 5, "{t:#}");
    assert!(
        t["topics"].as_array().unwrap().contains(&new_topic.into()),
        "{t:#}"
    );
    assert_eq!(t["status"], "answered", "{t:#}");
    let a = &t["answers"][0];
    assert_eq!((&a["state"], &a["verified"]), (&"DE".into(), &true.into()));
    assert_eq!(a["makers_version"], 5, "{t:#}");
    let m = &a["outcome"]["hit"]["candidates"][0]["record"]["marking"];
    assert_eq!(m["manufacturer"], "AA Works", "{t:#}");
    let text = fed
        .node("KE")
        .cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(
        text.contains("maker reference table v5") && text.contains("maker table v5"),
        "{text}"
    );

    // An older table is refused everywhere; the one in force stays.
    sign("4", "makers-v4.json");
    let older = fed
        .node("DE")
        .json(&["makers", "install", path_str(&w.join("makers-v4.json"))]);
    assert_eq!(
        (&older["installed"], &older["version"]),
        (&false.into(), &5.into())
    );

    // Kept in the data directory: after a restart DE is on version 5, with
    // its record under the new key and the new topic.
    sign("6", "makers-v6.json");
    let i = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.nodes[i].kill();
    let offline = fed.node("DE").json(&["makers", "show"]);
    assert_eq!(offline["version"], 5, "{offline:#}");
    fed.launch(i);
    let de = fed.node("DE");
    assert_eq!(de.json(&["status"])["makers"]["version"], 5);
    assert!(subscribed(de).contains(&new_topic.to_string()));
    assert!(!de.log().contains("rebuilding the index"), "{}", de.log());

    // Installed with the node stopped (killed: its address file is left
    // behind): audited as the running node audits it.
    fed.nodes[i].kill();
    let stopped = fed
        .node("DE")
        .json(&["makers", "install", path_str(&w.join("makers-v6.json"))]);
    assert_eq!(stopped["installed"], true, "{stopped:#}");
    let audited: Vec<_> = fed
        .node("DE")
        .json(&["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "makers_installed")
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(audited.last(), Some(&"version 6".into()), "{audited:?}");
}

/// A node that was stopped while a table spread is brought up to date by
/// the first member that sees it answer under an older table: that member
/// publishes its table again.
#[test]
fn a_node_that_missed_the_table_gets_it_from_a_member_that_sees_it_behind() {
    let mut fed = Federation::start(vec![
        NodeSpec::member(
            "DE",
            vec![
                record("DE-1", "AA Works", "DE", "AW-1001", &[], MADE),
                record("DE-2", "Walther", "DE", "WA-2002", &[], MADE),
            ],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let key_file = w.join("anchor.key");
    fed.anchor.store(&key_file).unwrap();
    let shipped = std::fs::read_to_string(common::repo_file("config/makers.toml")).unwrap();
    std::fs::write(
        w.join("makers.toml"),
        format!("{shipped}\n[[maker]]\nname = \"Acme Arms\"\ncountries = [\"DE\"]\naliases = [\"AA Works\"]\n"),
    )
    .unwrap();
    let de = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.nodes[de].kill();
    let ke = fed.node("KE");
    ke.json(&[
        "makers",
        "sign",
        path_str(&w.join("makers.toml")),
        "--version",
        "7",
        "--anchor-key",
        path_str(&key_file),
        "--out",
        path_str(&w.join("makers.json")),
    ]);
    // A signed table signed again into another file replaces it only with
    // --force (a hostile trial found this branch replaced it without).
    let kept = w.join("kept.json");
    std::fs::write(&kept, "an officer's file").unwrap();
    let signed = w.join("makers.json");
    let again = |extra: &[&str]| {
        let mut args = vec![
            "makers",
            "sign",
            path_str(&signed),
            "--anchor-key",
            path_str(&key_file),
            "--out",
            path_str(&kept),
        ];
        args.extend_from_slice(extra);
        common::run(&ke.dir, &args)
    };
    let o = again(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("exists; pass --force"),
        "{}",
        common::stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "an officer's file");
    assert!(again(&["--force"]).status.success());
    let installed = ke.json(&["makers", "install", path_str(&w.join("makers.json"))]);
    assert_eq!(installed["version"], 7, "{installed:#}");
    fed.launch(de);
    assert_eq!(fed.node("DE").json(&["status"])["makers"]["version"], 0);

    // KE's trace reaches DE by a prefix both tables agree on; DE answers
    // under version 0, and KE passes its table on.
    fed.wait_subscribed("KE", "tracenet/1/prefix/DE/CARLWALTHER", &["DE"]);
    let t = trace_walther(fed.node("KE"), "WA-2002", &["--wait", "20"]);
    assert_eq!(t["status"], "answered", "{t:#}");
    assert_eq!(t["query"]["makers_version"], 7, "{t:#}");
    assert_eq!(t["answers"][0]["makers_version"], 0, "{t:#}");
    let de = fed.node("DE");
    wait_for(
        "DE to receive maker table version 7 from KE",
        Duration::from_secs(30),
        || (de.json(&["status"])["makers"]["version"] == 7).then_some(()),
    );
    wait_for(
        "DE to follow its record's new prefix",
        Duration::from_secs(30),
        || {
            subscribed(de)
                .contains(&"tracenet/1/prefix/DE/ACMEARMS".to_string())
                .then_some(())
        },
    );
    assert!(
        de.log().contains("another reference table version"),
        "DE logged KE's newer version: {}",
        de.log()
    );
}
