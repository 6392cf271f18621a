//! A trace says exactly what is known (issue 12): who should answer, who did
//! and how, who cannot be reached; never "no record" unless every expected
//! holder said so. Real `tracenet` processes on 127.0.0.1.

mod common;
mod fed;

use std::time::{Duration, Instant};

use fed::{Federation, NodeSpec, path_str, record, trace_walther, wait_for};
use serde_json::Value;

const TOPIC: &str = "tracenet/1/prefix/DE/CARLWALTHER";
const EVENTS: &str = r#"{"date":"2010-03-01","kind":"manufactured","holder":"manufacturer"},{"date":"2018-05-02","kind":"stolen","holder":"licensed_dealer"}"#;

fn walther(id: &str) -> String {
    record(id, "Walther", "DE", "WP104233", &[], EVENTS)
}

/// Where `state` stands among the trace's expected holders.
fn holder<'a>(t: &'a Value, state: &str) -> Option<&'a Value> {
    t["holders"]
        .as_array()?
        .iter()
        .find(|h| h["state"] == state)
}

fn status_of(t: &Value, state: &str) -> String {
    holder(t, state)
        .and_then(|h| h["status"].as_str())
        .unwrap_or("not expected")
        .to_string()
}

/// Kills `state`'s node and waits until `from` no longer sees it subscribed.
fn take_down(fed: &mut Federation, state: &str, from: &str) {
    let peer = fed.node(state).peer_id.clone();
    fed.node_mut(state).kill();
    let n = fed.node(from);
    wait_for(
        &format!("{from} to see {state} gone"),
        Duration::from_secs(30),
        || {
            let st = n.json(&["status"]);
            (!st["net"]["connected"].to_string().contains(&peer)).then_some(())
        },
    );
}

fn relaunch(fed: &mut Federation, state: &str) {
    let i = fed.nodes.iter().position(|n| n.state == state).unwrap();
    fed.launch(i);
}

/// Situation 1: the holders are offline when the trace is published. DE was
/// seen subscribed to the prefix before; NG never was (it held nothing
/// then), but its roster entry declares the prefix. Both are expected, shown
/// unreachable, and get the query by themselves when they return: the trace
/// ends answered without `trace retry`.
#[test]
fn holders_offline_at_publish_get_the_query_when_they_return() {
    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", vec![walther("DE-1")]),
        NodeSpec {
            prefixes: &["DE/CARLWALTHER"],
            ..NodeSpec::member("NG", Vec::new())
        },
        NodeSpec::member("KE", Vec::new()),
    ]);
    fed.wait_subscribed("KE", TOPIC, &["DE"]);
    take_down(&mut fed, "DE", "KE");
    take_down(&mut fed, "NG", "KE");
    // NG imports a record of the weapon while it is down.
    let ng_dir = fed.node("NG").dir.clone();
    let f = ng_dir.join("records.jsonl");
    let ng_record = r#"{"id":"NG-1","marking":{"manufacturer":"Walther","country":"DE","serial":"WP104233"},"category":"pistol","events":[{"date":"2012-01-01","kind":"imported","counterpart":"DE","holder":"state_police"}]}"#;
    std::fs::write(&f, ng_record).unwrap();
    common::ok(&ng_dir, &["registry", "import", "--strict", path_str(&f)]);

    let sent = trace_walther(fed.node("KE"), "WP104233", &["--timeout", "120"]);
    let id = sent["id"].as_str().unwrap().to_string();
    for (state, why) in [("DE", "seen_subscribed"), ("NG", "roster_prefix")] {
        let h = holder(&sent, state).unwrap_or_else(|| panic!("{state} expected: {sent:#}"));
        assert_eq!(h["status"], "unreachable", "{sent:#}");
        assert!(h["expected_by"].to_string().contains(why), "{sent:#}");
        assert!(common::secs(&h["since"]) > 0, "{sent:#}");
    }
    assert_eq!(sent["status"], "sent", "{sent:#}");
    let gaps = sent["custody"]["gaps"].to_string();
    assert!(
        gaps.contains("unreachable") && !gaps.contains("no_record"),
        "{gaps}"
    );
    let text = fed.node("KE").cli(&["trace", "show", &id]);
    assert!(
        text.contains("unreachable since")
            && text.contains("if it reconnects before the trace's deadline"),
        "{text}"
    );

    relaunch(&mut fed, "DE");
    relaunch(&mut fed, "NG");
    let ke = fed.node("KE");
    let t = wait_for(
        "both answers, without a retry",
        Duration::from_secs(60),
        || {
            let t = ke.json(&["trace", "show", &id]);
            (t["status"] == "answered").then_some(t)
        },
    );
    assert_eq!(status_of(&t, "DE"), "answered", "{t:#}");
    assert_eq!(status_of(&t, "NG"), "answered", "{t:#}");
    assert_eq!(
        t["custody"]["diversion"]["last_lawful_state"], "DE",
        "{:#}",
        t["custody"]
    );
}

/// The requester is killed (SIGKILL) while its query waits for an offline
/// holder; after its restart the query is still delivered when the holder
/// returns.
#[test]
fn a_waiting_query_survives_a_kill_of_the_requester() {
    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", vec![walther("DE-1")]),
        NodeSpec::member("KE", Vec::new()),
    ]);
    fed.wait_subscribed("KE", TOPIC, &["DE"]);
    take_down(&mut fed, "DE", "KE");
    let sent = trace_walther(fed.node("KE"), "WP104233", &["--timeout", "120"]);
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(status_of(&sent, "DE"), "unreachable", "{sent:#}");

    fed.node_mut("KE").kill();
    relaunch(&mut fed, "KE");
    relaunch(&mut fed, "DE");
    let ke = fed.node("KE");
    let t = wait_for(
        "DE's answer after KE's restart",
        Duration::from_secs(60),
        || {
            let t = ke.json(&["trace", "show", &id]);
            (t["status"] == "answered").then_some(t)
        },
    );
    assert!(
        t["answers"].to_string().contains("\"hit\""),
        "{:#}",
        t["answers"]
    );

    // With both nodes stopped, what they hold is still readable.
    fed.node_mut("KE").kill();
    fed.node_mut("DE").kill();
    let ke = fed.node("KE");
    let shown = ke.json(&["trace", "show", &id]);
    assert_eq!(shown["status"], "answered", "{shown:#}");
    assert_eq!(shown["custody"]["diversion"]["last_lawful_state"], "DE");
    assert!(ke.cli(&["trace", "list"]).contains(&id));
    assert_eq!(ke.json(&["report"])["traces_answered"], 1);
    assert!(ke.json(&["inbox"]).as_array().unwrap().is_empty());
    let alerts = fed.node("DE").json(&["alerts"]);
    assert!(alerts.to_string().contains(r#""KE""#), "{alerts}");
    // One id for one trace on both sides: the alert names KE's trace id and
    // the digest that both audit logs name.
    assert_eq!(alerts[0]["trace"], id.as_str(), "{alerts}");
    let digest = shown["digest"].as_str().unwrap();
    assert_eq!(alerts[0]["digest"], digest, "{alerts}");
    let de_audit = fed.node("DE").json(&["audit", "show"]).to_string();
    let ke_audit = ke.json(&["audit", "show"]).to_string();
    assert!(de_audit.contains(digest) && ke_audit.contains(digest));
    let text = fed.node("DE").cli(&["alerts"]);
    assert!(text.contains(" UTC ") && text.contains("KE"), "{text}");
}

/// Situation 5: a prefix no member holds settles at once, asking nobody,
/// with a gap that says so, not "no record".
#[test]
fn a_prefix_nobody_holds_settles_at_once() {
    let fed = Federation::start(vec![
        NodeSpec::member("DE", vec![walther("DE-1")]),
        NodeSpec::member("KE", Vec::new()),
    ]);
    fed.wait_subscribed("KE", TOPIC, &["DE"]);
    let start = Instant::now();
    let t = fed.node("KE").json(&[
        "trace",
        "--maker",
        "Nobody Arms",
        "--country",
        "DE",
        "--serial",
        "NA1234",
        "--category",
        "pistol",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
        "--wait",
        "30",
        // Not in the maker reference table: sent anyway.
        "--force",
    ]);
    let took = start.elapsed();
    // Settled in the reply to the send itself: nothing to wait for.
    eprintln!("a trace for a prefix nobody holds settled in {took:?} (CLI start included)");
    assert_eq!(t["status"], "answered", "{t:#}");
    assert!(t["asked"].as_array().unwrap().is_empty(), "{t:#}");
    let gaps = &t["custody"]["gaps"];
    assert_eq!(gaps[0]["kind"], "no_holder", "{gaps:#}");
    assert!(
        gaps[0]["prefix"].as_str().unwrap().starts_with("DE/"),
        "{gaps:#}"
    );
    let id = t["id"].as_str().unwrap();
    let text = fed.node("KE").cli(&["trace", "show", id]);
    assert!(
        text.contains("no member is known to hold records under DE/"),
        "{text}"
    );
}

/// A trace settled because no member was known to hold the prefix is asked
/// of a member that starts holding it while the trace waits: "no member is
/// known" was never a final word.
#[test]
fn a_member_that_starts_holding_the_prefix_is_asked() {
    let glock = record("DE-9", "Glock", "AT", "GL1", &[], EVENTS);
    let fed = Federation::start(vec![
        NodeSpec::member("DE", vec![glock]),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let sent = trace_walther(fed.node("KE"), "WP104233", &["--timeout", "120"]);
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(sent["status"], "answered", "{sent:#}");
    assert_eq!(sent["custody"]["gaps"][0]["kind"], "no_holder", "{sent:#}");

    // DE imports the weapon while running: it subscribes to the prefix.
    let de = fed.node("DE");
    let f = de.dir.join("walther.jsonl");
    std::fs::write(&f, walther("DE-1")).unwrap();
    de.cli(&["registry", "import", path_str(&f)]);
    let ke = fed.node("KE");
    let t = wait_for("DE to be asked and answer", Duration::from_secs(60), || {
        let t = ke.json(&["trace", "show", &id]);
        (status_of(&t, "DE") == "answered").then_some(t)
    });
    assert_eq!(t["status"], "answered", "{t:#}");
    assert!(t["answers"].to_string().contains("\"hit\""), "{t:#}");
    assert!(
        !t["custody"]["gaps"].to_string().contains("no_holder"),
        "{t:#}"
    );
}

/// A holder whose policy stays silent, asked directly when it returns,
/// replies without an answer: it is shown as having declined (reachable),
/// never as unreachable, and the trace settles partial instead of waiting.
#[test]
fn a_holder_that_replies_without_an_answer_has_declined() {
    let other = record("DE-2", "Walther", "DE", "ZZ0001", &[], EVENTS);
    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: "answer_no_hit = false",
            ..NodeSpec::member("DE", vec![other])
        },
        NodeSpec::member("KE", Vec::new()),
    ]);
    fed.wait_subscribed("KE", TOPIC, &["DE"]);
    take_down(&mut fed, "DE", "KE");
    let sent = trace_walther(fed.node("KE"), "WP104233", &["--timeout", "120"]);
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(status_of(&sent, "DE"), "unreachable", "{sent:#}");
    relaunch(&mut fed, "DE");
    let ke = fed.node("KE");
    let t = wait_for("DE's reply", Duration::from_secs(60), || {
        let t = ke.json(&["trace", "show", &id]);
        (status_of(&t, "DE") == "declined").then_some(t)
    });
    assert_eq!(holder(&t, "DE").unwrap()["code"], "not_answered", "{t:#}");
    assert_eq!(t["status"], "partial", "{t:#}");
    let gaps = t["custody"]["gaps"].to_string();
    assert!(
        gaps.contains("declined") && !gaps.contains("no_record"),
        "{gaps}"
    );
    // Asked again, DE gives the same reason, not `replayed`: it keeps its
    // silence beside the query's replay id. The retry clears the reply it
    // replaced, so a declined DE below is the retry's.
    let again = ke.json(&["trace", "retry", &id]);
    assert_ne!(status_of(&again, "DE"), "declined", "{again:#}");
    // The retry is in KE's audit log, naming the query as the trace's
    // sending does.
    let audit = ke.json(&["audit", "show"]);
    let entries = audit.as_array().expect("entries");
    let sent = entries
        .iter()
        .find(|e| e["kind"] == "trace_sent")
        .expect("trace_sent");
    let retried = (entries.iter())
        .find(|e| e["kind"] == "trace_retried")
        .unwrap_or_else(|| panic!("no trace_retried entry: {audit:#}"));
    assert_eq!(retried["query"], sent["query"], "{audit:#}");
    assert_eq!(retried["outcome"], "asked again 1", "{audit:#}");
    let t = wait_for("DE's reply to the retry", Duration::from_secs(60), || {
        let t = ke.json(&["trace", "show", &id]);
        (status_of(&t, "DE") == "declined").then_some(t)
    });
    assert_eq!(holder(&t, "DE").unwrap()["code"], "not_answered", "{t:#}");
    // In words, the retry names whom it asks again and until when.
    let text = ke.cli(&["trace", "retry", &id]);
    assert!(
        text.contains("sent again to the States without a final answer (DE), until 20"),
        "{text}"
    );
}

/// A wildcard trace matching more of DE's records than an answer may carry
/// is answered `too_many` with their count, and still tells DE that one of
/// them, recorded as stolen and sorted past every record an answer could
/// carry, may have been found.
#[test]
fn a_too_many_wildcard_still_raises_the_alert_for_a_stolen_match() {
    const MADE: &str = r#"{"date":"2010-03-01","kind":"manufactured","holder":"manufacturer"}"#;
    let records: Vec<String> = (0..20)
        .map(|i| {
            let events = if i == 19 { EVENTS } else { MADE };
            record(
                &format!("DE-{i:02}"),
                "Walther",
                "DE",
                &format!("WP1042{i:02}"),
                &[],
                events,
            )
        })
        .collect();
    let fed = Federation::start(vec![
        NodeSpec::member("DE", records),
        NodeSpec::member("KE", Vec::new()),
    ]);
    fed.wait_subscribed("KE", TOPIC, &["DE"]);
    let t = trace_walther(fed.node("KE"), "WP1042??", &["--wait", "20"]);
    let de = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "DE")
        .unwrap_or_else(|| panic!("no answer from DE: {t:#}"));
    assert_eq!(de["outcome"]["too_many"]["count"], 20, "{t:#}");
    let alerts = fed.node("DE").json(&["alerts"]);
    let alerted: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["record_id"].as_str())
        .collect();
    assert_eq!(alerted, ["DE-19"], "{alerts:#}");
    assert_eq!(alerts[0]["requester"], "KE", "{alerts:#}");
}
