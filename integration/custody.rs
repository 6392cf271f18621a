//! From answers to origin, end to end: six States whose registries tell one
//! consistent story (made in DE, exported to NG, re-exported to GH, stolen
//! there, seized in KE), traced from KE.

mod common;
mod fed;

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
        NodeSpec {
            state: "BE",
            bootstrap: true,
            records: vec![],
            in_roster: true,
            node_config: "",
        },
        NodeSpec::member("DE", by_state.remove("DE").unwrap()),
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
    fed.node("KE").json(&[
        "trace",
        "--maker",
        "walther",
        "--country",
        "DE",
        "--serial",
        serial,
        "--import",
        "NG:2012",
        "--category",
        "pistol",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
        "--wait",
        "20",
    ])
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
        let a = &answers[l["answer"].as_u64().unwrap() as usize];
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
        shown.contains("point of diversion: GH (state_police), stolen on 2020-01-09"),
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

    // The report counts what the audit log recorded.
    let r = fed.node("KE").json(&["report"]);
    assert_eq!(r["traces_sent"], 3, "{r:#}");
    assert_eq!(r["traces_answered"], 3, "{r:#}");
    assert_eq!(r["sdg_16_4_2"]["traced"], 3);
    assert_eq!(
        r["sdg_16_4_2"]["origin_established"], 2,
        "the withheld trace established nothing: {r:#}"
    );
    assert!(r["median_answer_secs"]["GH"].is_number(), "{r:#}");
    let audit = fed.node("KE").json(&["audit", "show"]).to_string();
    assert_eq!(audit.matches("trace_sent").count(), 3);
    let gh = fed.node("GH").json(&["report"]);
    assert_eq!(
        (
            gh["queries_received"].as_u64(),
            gh["answers_withheld"].as_u64()
        ),
        (Some(3), Some(1)),
        "{gh:#}"
    );
    let csv = fed.node("KE").cli(&["report", "--csv"]);
    assert!(
        csv.starts_with("figure,value\n") && csv.contains("sdg_16_4_2_origin_established,2\n"),
        "{csv}"
    );
}
