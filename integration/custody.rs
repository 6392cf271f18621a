//! From answers to origin, end to end: six States whose registries tell one
//! consistent story (made in DE, exported to NG, re-exported to GH, stolen
//! there, seized in KE), traced from KE.

mod common;
mod fed;

use std::time::Duration;

use fed::*;
use serde_json::Value;

/// The story of one pistol across three registries; `suffix` makes serials
/// unique per weapon, `confidential_in_gh` hides the GH record.
fn story(serial: &str, confidential_in_gh: bool) -> [(String, String, String); 3] {
    let gh_conf = if confidential_in_gh { "true" } else { "false" };
    [
        (
            "DE".into(),
            format!("DE-{serial}"),
            format!(
                r#"{{"id":"DE-{serial}","marking":{{"manufacturer":"Carl Walther","country":"DE","serial":"{serial}","imports":[{{"country":"NG","year":2012}}]}},"category":"pistol","events":[{{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"}},{{"date":"2012-02-20","kind":"exported","counterpart":"NG","reference":"EXP-DE-CANARY"}}]}}"#
            ),
        ),
        (
            "NG".into(),
            format!("NG-{serial}"),
            format!(
                r#"{{"id":"NG-{serial}","marking":{{"manufacturer":"Walther","country":"DE","serial":"{serial}","imports":[{{"country":"NG","year":2012}},{{"country":"GH","year":2015}}]}},"category":"pistol","events":[{{"date":"2012-03-14","kind":"imported","counterpart":"DE","holder":"licensed_dealer"}},{{"date":"2015-06-01","kind":"exported","counterpart":"GH"}}]}}"#
            ),
        ),
        (
            "GH".into(),
            format!("GH-{serial}"),
            format!(
                r#"{{"id":"GH-{serial}","marking":{{"manufacturer":"Walther","country":"DE","serial":"{serial}","imports":[{{"country":"NG","year":2012}},{{"country":"GH","year":2015}}]}},"category":"pistol","confidential":{gh_conf},"events":[{{"date":"2015-06-20","kind":"imported","counterpart":"NG","holder":"state_police"}},{{"date":"2020-01-09","kind":"stolen","holder":"state_police","note":"GH-NOTE-CANARY"}}]}}"#
            ),
        ),
    ]
}

fn specs() -> Vec<NodeSpec> {
    let mut by_state: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (st, _, rec) in story("WP104233", false)
        .into_iter()
        .chain(story("WP555001", true))
    {
        by_state.entry(st).or_default().push(rec);
    }
    // A decoy in DE that matches the obliterated serial equally well, but has no
    // NG import mark; its id sorts first.
    by_state.get_mut("DE").unwrap().insert(
        0,
        r#"{"id":"DE-0000","marking":{"manufacturer":"Carl Walther","country":"DE","serial":"WP107233"},"category":"pistol","events":[{"date":"2013-01-01","kind":"manufactured","holder":"manufacturer"}]}"#.into(),
    );
    let other = r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#;
    vec![
        NodeSpec::bootstrap("BE"),
        NodeSpec {
            // A strict budget for wildcard queries, to show it applies per State.
            node_config: "fuzzy_queries_per_minute = 1",
            ..NodeSpec::member("DE", by_state.remove("DE").unwrap())
        },
        NodeSpec::member("NG", by_state.remove("NG").unwrap()),
        NodeSpec::member("GH", by_state.remove("GH").unwrap()),
        NodeSpec::member(
            "FR",
            vec![record("FR-1", "Walther", "DE", "XY1234", &[], other)],
        ),
        NodeSpec::member(
            "AT",
            vec![record("AT-1", "Glock", "AT", "WP104233", &[], other)],
        ),
        NodeSpec::member(
            "KE",
            vec![record("KE-1", "Norinco", "CN", "56001", &[], other)],
        ),
    ]
}

fn trace(fed: &Federation, serial: &str) -> Value {
    trace_walther(
        fed.node("KE"),
        serial,
        &["--import", "NG:2012", "--wait", "20"],
    )
}

#[test]
fn the_chain_names_the_point_of_diversion_or_the_gap() {
    let fed = Federation::start(specs());
    fed.wait_subscribed(
        "KE",
        "tracenet/1/prefix/DE/CARLWALTHER",
        &["DE", "NG", "GH", "FR"],
    );

    // The full story.
    let t = trace(&fed, "WP104233");
    assert_eq!(t["status"], "answered", "{t:#}");
    let c = &t["custody"];
    let steps: Vec<(String, String)> = c["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("manufactured", "DE"),
        ("exported", "DE"),
        ("imported", "NG"),
        ("exported", "NG"),
        ("imported", "GH"),
        ("stolen", "GH"),
    ];
    assert_eq!(
        steps,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "{c:#}"
    );
    assert_eq!(c["diversion"]["last_lawful_state"], "GH", "{c:#}");
    assert_eq!(c["diversion"]["last_lawful_holder"], "state_police");
    assert_eq!(c["diversion"]["event"]["kind"], "stolen");
    // Each link points at the signed answer it rests on.
    let answers = t["answers"].as_array().unwrap();
    for l in c["chain"].as_array().unwrap() {
        // Answer numbers count from 1, as the text says.
        let a = &answers[l["answer"].as_u64().unwrap() as usize - 1];
        assert_eq!(a["state"], l["state"]);
        assert_eq!(a["verified"], true);
    }
    assert!(c["gaps"].as_array().unwrap().is_empty(), "{c:#}");
    let text = t.to_string();
    assert!(!text.contains("CANARY"), "national text leaked: {text}");
    let shown = fed
        .node("KE")
        .cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(
        shown.contains("point of diversion: GH (state police), stolen on 2020-01-09"),
        "{shown}"
    );

    // GH withholds: the result names GH as the gap.
    let t = trace(&fed, "WP555001");
    let c = &t["custody"];
    assert!(c["diversion"].is_null(), "{c:#}");
    let gaps = c["gaps"].as_array().unwrap();
    assert!(
        gaps.iter()
            .any(|g| g["kind"] == "withheld" && g["state"] == "GH"),
        "{c:#}"
    );

    // One character obliterated: the right weapon is still the top candidate,
    // although DE's own ranking puts an equally good decoy first.
    let t = trace(&fed, "WP10?233");
    let top = &t["custody"]["candidates"][0];
    assert_eq!(
        top["record"]["marking"]["serial"], "WP104233",
        "{:#}",
        t["custody"]
    );
    assert_eq!(t["custody"]["diversion"]["last_lawful_state"], "GH");

    // KE's second wildcard query within the minute exceeds DE's fuzzy budget:
    // DE refuses it in a signed answer saying when to retry (issue 12);
    // exact queries are still answered.
    let t = trace_walther(
        fed.node("KE"),
        "WP55?001",
        &["--timeout", "3", "--wait", "20"],
    );
    let answered_by = |t: &Value, st: &str| {
        t["answers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["state"] == st)
    };
    let refused = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "DE")
        .map(|a| a["outcome"]["refused"].clone());
    let refused = refused.unwrap_or_else(|| panic!("DE said nothing: {t:#}"));
    assert_eq!(refused["reason"], "rate_limited", "{t:#}");
    assert!(refused["retry_after_secs"].as_u64() > Some(0), "{t:#}");
    // The trace names it: DE refused (a gap with the reason, never "no
    // record"), and it came back before the deadline, not as a timeout.
    let de = t["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["state"] == "DE")
        .unwrap();
    assert_eq!(de["status"], "refused", "{t:#}");
    assert_eq!(de["reason"], "rate_limited", "{t:#}");
    let gaps = t["custody"]["gaps"].to_string();
    assert!(
        gaps.contains(r#""kind":"refused""#)
            && gaps.contains(r#""DE""#)
            && !gaps.contains("no_record"),
        "{gaps}"
    );
    let received = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "DE")
        .unwrap()["received_at"]
        .clone();
    let received = common::secs(&received);
    eprintln!(
        "DE's signed refusal came {} s after the trace was sent",
        received - common::secs(&t["created_at"])
    );
    assert!(received < common::secs(&t["deadline"]), "{t:#}");
    let de_audit = fed.node("DE").json(&["audit", "show"]).to_string();
    assert!(de_audit.contains("fuzzy_rate_limit"), "{de_audit}");
    let t = trace(&fed, "WP104233");
    assert!(answered_by(&t, "DE"), "{t:#}");

    // The report counts what the audit log recorded.
    let r = fed.node("KE").json(&["report"]);
    assert_eq!(r["traces_sent"], 5, "{r:#}");
    assert_eq!(r["traces_answered"], 4, "{r:#}");
    assert_eq!(r["traces_partial"], 1, "{r:#}");
    assert_eq!(r["sdg_16_4_2"]["traced"], 5);
    // The withheld and the rate-limited traces established nothing.
    assert_eq!(r["sdg_16_4_2"]["origin_established"], 3, "{r:#}");
    assert!(r["median_answer_secs"]["GH"].is_number(), "{r:#}");
    // Beside the median, the slowest final answer and how many there were.
    let slowest = r["slowest_answer_secs"]["GH"].as_u64().expect("slowest");
    assert!(
        slowest as f64 >= r["median_answer_secs"]["GH"].as_f64().unwrap(),
        "{r:#}"
    );
    assert!(
        r["final_answers"]["GH"].as_u64().is_some_and(|n| n >= 1),
        "{r:#}"
    );
    // Every State the traces expected is counted, and the partial trace
    // ended without some State's final answer.
    let expected = r["traces_expected"].as_object().expect("traces_expected");
    assert!(
        expected["GH"].as_u64() >= r["final_answers"]["GH"].as_u64(),
        "{r:#}"
    );
    let without: u64 = (r["traces_without_final_answer"].as_object())
        .expect("traces_without_final_answer")
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    assert!(without >= 1, "{r:#}");
    let audit = fed.node("KE").json(&["audit", "show"]).to_string();
    assert_eq!(audit.matches("trace_sent").count(), 5);
    let gh = fed.node("GH").json(&["report"]);
    let gh_counts = (
        gh["queries_received"].as_u64(),
        gh["answers_withheld"].as_u64(),
    );
    assert_eq!(gh_counts, (Some(5), Some(2)), "{gh:#}");
    let csv = fed.node("KE").cli(&["report", "--csv"]);
    assert!(
        csv.starts_with("figure,value\n") && csv.contains("sdg_16_4_2_origin_established,3\n"),
        "{csv}"
    );
}

/// The chain points at a State no one expected to hold the weapon (GH held
/// nothing under the prefix when KE last saw it): a directed follow-up goes
/// there, GH is down, so it is unreachable, never "no record"; when GH comes
/// back the waiting query is delivered by itself (store-and-forward, no retry)
/// and the chain ends at the theft.
#[test]
fn the_chain_is_followed_to_a_state_that_was_not_asked() {
    let mut specs = specs();
    let gh_spec = specs.iter_mut().find(|s| s.state == "GH").unwrap();
    let gh_records = std::mem::take(&mut gh_spec.records);
    let mut fed = Federation::start(specs);
    let topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("KE", topic, &["DE", "NG"]);
    // GH goes down and imports its records while down.
    fed.node_mut("GH").kill();
    let gh_dir = fed.node("GH").dir.clone();
    let f = gh_dir.join("records.jsonl");
    std::fs::write(&f, gh_records.join("\n")).unwrap();
    common::ok(&gh_dir, &["registry", "import", "--strict", path_str(&f)]);

    let sent = trace_walther(fed.node("KE"), "WP104233", &["--timeout", "120"]);
    assert!(!sent["asked"].to_string().contains("\"GH\""), "{sent:#}");
    let id = sent["id"].as_str().unwrap().to_string();
    // NG's answer shows the export to GH: a directed follow-up goes there, fails
    // (GH is down), and GH is named as the gap.
    let ke = fed.node("KE");
    let t = wait_for("the follow-up to GH", Duration::from_secs(30), || {
        let t = ke.json(&["trace", "show", &id]);
        let gh = t["holders"]
            .as_array()?
            .iter()
            .find(|a| a["state"] == "GH")?
            .clone();
        (gh["status"] == "unreachable").then_some(t)
    });
    assert_eq!(t["followed_up"], serde_json::json!(["GH"]), "{t:#}");
    // Every other expected State answered; GH is still awaited.
    assert_eq!(t["status"], "sent", "{t:#}");
    let gaps = t["custody"]["gaps"].to_string();
    assert!(
        gaps.contains("unreachable") && gaps.contains(r#""GH""#) && !gaps.contains("no_record"),
        "{gaps}"
    );
    // GH comes back: the query goes to it by itself and the chain ends at the theft.
    let gh = fed.nodes.iter().position(|n| n.state == "GH").unwrap();
    fed.launch(gh);
    let ke = fed.node("KE");
    let t = wait_for(
        "GH's answer, without a retry",
        Duration::from_secs(30),
        || {
            let t = ke.json(&["trace", "show", &id]);
            (t["status"] == "answered").then_some(t)
        },
    );
    assert_eq!(
        t["custody"]["diversion"]["last_lawful_state"], "GH",
        "{:#}",
        t["custody"]
    );
}

/// Issue 11, hole 10: a roster update that removes GH does not unmake GH's
/// past answers. They are judged by the roster this node held when it
/// received them: still verified (the removal noted), still in the chain of
/// custody and the report, and the exported evidence still verifies.
#[test]
fn past_answers_are_judged_by_the_roster_they_were_received_under() {
    let five: Vec<NodeSpec> = specs()
        .into_iter()
        .filter(|s| matches!(s.state, "BE" | "DE" | "NG" | "GH" | "KE"))
        .collect();
    let mut fed = Federation::start(five);
    fed.wait_subscribed(
        "KE",
        "tracenet/1/prefix/DE/CARLWALTHER",
        &["DE", "NG", "GH"],
    );
    let t = trace(&fed, "WP104233");
    assert_eq!(t["status"], "answered", "{t:#}");
    assert_eq!(t["custody"]["diversion"]["last_lawful_state"], "GH");
    let id = t["id"].as_str().unwrap().to_string();
    let report_before = fed.node("KE").json(&["report"]);
    assert_eq!(report_before["sdg_16_4_2"]["origin_established"], 1);

    // Version 2 removes GH.
    let ke = fed.node("KE");
    let f = ke.dir.join("roster-v2.json");
    std::fs::write(&f, fed.roster_without(&["BE", "DE", "NG", "KE"], 2)).unwrap();
    let out = ke.json(&["roster", "install", path_str(&f)]);
    assert_eq!(out["installed"], true, "{out}");
    assert_eq!(ke.json(&["status"])["roster_version"], 2);

    let check = |ke: &FedNode| {
        let shown = ke.json(&["trace", "show", &id]);
        let gh = shown["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["state"] == "GH")
            .cloned()
            .unwrap_or_else(|| panic!("no GH answer: {shown:#}"));
        assert_eq!(gh["verified"], true, "{gh:#}");
        assert_eq!(gh["roster_version"], 1, "{gh:#}");
        assert_eq!(gh["removed_in"], 2, "{gh:#}");
        let c = &shown["custody"];
        assert_eq!(c["diversion"]["last_lawful_state"], "GH", "{c:#}");
        assert!(
            c["chain"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["state"] == "GH"),
            "{c:#}"
        );
        let text = ke.cli(&["trace", "show", &id]);
        assert!(
            text.contains("signed by GH under roster v1 (GH removed in v2)")
                && !text.contains("NOT VERIFIED"),
            "{text}"
        );
        let report = ke.json(&["report"]);
        assert_eq!(
            report["sdg_16_4_2"], report_before["sdg_16_4_2"],
            "{report:#}"
        );
        assert_eq!(report["traces_answered"], report_before["traces_answered"]);
    };
    check(ke);
    // The history is on disk: a restarted node judges the same way.
    let i = fed.nodes.iter().position(|n| n.state == "KE").unwrap();
    fed.node_mut("KE").kill();
    fed.launch(i);
    let ke = fed.node("KE");
    check(ke);

    // The evidence carries roster version 1 for GH's answer and verifies.
    let ev = ke.dir.join("evidence.json");
    ke.cli(&["trace", "export", &id, path_str(&ev)]);
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(&ev).unwrap()).unwrap();
    assert_eq!(bundle["format"], "tracenet-evidence/2", "{bundle:#}");
    let verified = ke.cli(&["verify", path_str(&ev)]);
    assert!(
        verified.contains("evidence verifies") && verified.contains("under roster v1"),
        "{verified}"
    );
    // An existing file is not replaced without --force.
    std::fs::write(&ev, "kept").unwrap();
    let o = common::run(&ke.dir, &["trace", "export", &id, path_str(&ev)]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("--force"),
        "{}",
        common::stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&ev).unwrap(), "kept");
    ke.cli(&["trace", "export", &id, path_str(&ev), "--force"]);
    ke.cli(&["verify", path_str(&ev)]);
}
