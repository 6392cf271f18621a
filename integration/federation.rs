//! The federation end to end: a bootstrap node and State nodes as real
//! processes on 127.0.0.1, traces routed by marking prefix, signed answers.

mod common;
mod fed;

use std::time::Duration;

use fed::*;
use serde_json::Value;

const EXPORTED: &str = r#"{"date":"2009-03-14","kind":"manufactured","holder":"manufacturer"},{"date":"2009-09-19","kind":"exported","counterpart":"NG","reference":"EXP-CANARY-DE"}"#;
const IMPORTED: &str = r#"{"date":"2009-10-02","kind":"imported","counterpart":"DE","holder":"state_police","note":"CANARY-NG-NOTE"}"#;
const OTHER: &str = r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#;

fn specs() -> Vec<NodeSpec> {
    vec![
        NodeSpec::bootstrap("BE"),
        // Made the pistol and exported it to NG; also holds an H&K with the same serial.
        NodeSpec::member(
            "DE",
            vec![
                record("DE-1", "Walther", "DE", "BP0746", &[("NG", 2009)], EXPORTED),
                record("DE-2", "Heckler & Koch", "DE", "BP0746", &[], OTHER),
            ],
        ),
        // Imported it.
        NodeSpec::member(
            "NG",
            vec![record(
                "NG-1",
                "Carl Walther",
                "DE",
                "BP-0746",
                &[("NG", 2009)],
                IMPORTED,
            )],
        ),
        // Holds other Walthers: asked, answers no_hit.
        NodeSpec::member(
            "FR",
            vec![record("FR-1", "Walther", "DE", "XY1234", &[], OTHER)],
        ),
        // Holds nothing under the prefix: never asked.
        NodeSpec::member(
            "AT",
            vec![record("AT-1", "Glock", "AT", "BP0746", &[], OTHER)],
        ),
        // The requester.
        NodeSpec::member(
            "KE",
            vec![record("KE-1", "Norinco", "CN", "56001", &[], OTHER)],
        ),
        // Not in the roster.
        NodeSpec {
            state: "GH",
            bootstrap: false,
            records: vec![record("GH-1", "Walther", "DE", "ZZ9999", &[], OTHER)],
            in_roster: false,
            node_config: "",
            prefixes: &[],
            oprf_key_listed: true,
        },
    ]
}

fn trace(node: &FedNode, serial: &str, extra: &[&str]) -> Value {
    trace_walther(node, serial, &[&["--wait", "20"], extra].concat())
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn answers_by_state(t: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let outcome = match &a["outcome"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.to_string(),
            };
            (a["state"].as_str().unwrap_or("?").to_string(), outcome)
        })
        .collect();
    v.sort();
    v
}

/// The answers to a trace of the Walther BP0746 in this federation: DE made
/// it, NG imported it, FR holds other Walthers.
fn walther_bp0746_answers() -> Vec<(String, String)> {
    [("DE", "hit"), ("FR", "no_hit"), ("NG", "hit")]
        .map(|(s, o)| (s.to_string(), o.to_string()))
        .to_vec()
}

#[test]
fn traces_reach_the_prefix_holders_and_come_back_signed() {
    let mut fed = Federation::start(specs());
    let prefix_topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("KE", prefix_topic, &["DE", "NG", "FR"]);
    fed.wait_subscribed("KE", "tracenet/1/import/NG", &["DE", "NG"]);

    let t = trace(
        fed.node("KE"),
        "BP0746",
        &["--import", "NG:2009", "--case", "CASE-CANARY-KE"],
    );
    assert_eq!(t["status"], "answered", "{t:#}");
    assert_eq!(answers_by_state(&t), walther_bp0746_answers());
    for a in t["answers"].as_array().unwrap() {
        assert_eq!(a["verified"], true, "{a:#}");
        if let Some(c) = a["outcome"]["hit"]["candidates"].as_array() {
            // Two makers sharing one serial never answer for each other.
            for cand in c {
                let maker = cand["record"]["marking"]["manufacturer"].as_str().unwrap();
                assert!(maker.contains("Walther"), "{cand:#}");
            }
            assert_eq!(c.len(), 1);
        }
    }
    // AT holds nothing under the prefix: neither asked nor answering.
    let asked: Vec<&str> = t["asked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert!(
        !asked.contains(&"AT") && !asked.contains(&"BE") && !asked.contains(&"GH"),
        "{asked:?}"
    );
    // National-only details never travel.
    let text = t.to_string();
    assert!(
        !text.contains("CANARY-NG-NOTE") && !text.contains("EXP-CANARY-DE"),
        "{text}"
    );
    assert_eq!(t["local"]["case"], "CASE-CANARY-KE");

    // Registry commands keep working while the node holds the store.
    let found = fed.node("DE").json(&[
        "registry",
        "find",
        "--maker",
        "walther",
        "--country",
        "DE",
        "--serial",
        "BP0746",
    ]);
    assert_eq!(found[0]["record"]["id"], "DE-1", "{found}");
    let stats = fed.node("DE").json(&["registry", "stats"]);
    assert_eq!(stats["records"], 2);

    // Subscriptions follow the registry: AT gains the prefix, then loses it.
    let at = fed.node("AT");
    let f = at.dir.join("more.jsonl");
    std::fs::write(&f, record("AT-2", "Walther", "DE", "QQ1", &[], OTHER)).unwrap();
    at.cli(&["registry", "import", path_str(&f)]);
    fed.wait_subscribed("KE", prefix_topic, &["AT"]);
    std::fs::write(&f, record("AT-2", "Glock", "AT", "QQ1", &[], OTHER)).unwrap();
    at.cli(&["registry", "import", path_str(&f)]);
    let at_peer = at.peer_id.clone();
    wait_for(
        "KE to see AT leave the prefix topic",
        Duration::from_secs(30),
        || {
            let st = fed.node("KE").json(&["status"]);
            (!st["net"]["topic_peers"][prefix_topic]
                .to_string()
                .contains(&at_peer))
            .then_some(())
        },
    );

    // Metrics: token required; the answer DE sent is counted.
    let de = &fed.node("DE").dir;
    assert_eq!(common::http_get(de, "/metrics", false).0, 401);
    let (status, metrics) = common::http_get(de, "/metrics", true);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tracenet_answers_sent_total{outcome=\"hit\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tracenet_registry_records 2"), "{metrics}");
    // DE and NG read the query on both its topics (the prefix and NG's
    // imports): the second copy is ignored, unchecked unless the query came
    // first some other way (asked directly once silent): one that came
    // while the first was still being checked waits for it.
    for state in ["DE", "NG"] {
        let dir = &fed.node(state).dir;
        let copies = wait_for(
            &format!("{state} to count the query's copy on its second topic"),
            Duration::from_secs(10),
            || {
                let (_, m) = common::http_get(dir, "/metrics", true);
                let n = |name: &str| -> Option<u64> {
                    m.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .and_then(|v| v.trim().parse().ok())
                };
                let unchecked = n("tracenet_query_copies_total{checked=\"no\"} ")?;
                let checked = n("tracenet_query_copies_total{checked=\"yes\"} ")?;
                (unchecked + checked >= 1).then_some((unchecked, checked))
            },
        );
        assert_eq!(copies.0 + copies.1, 1, "{state}: {copies:?}");
    }
    // No transparent huge pages in a node (src/main.rs): each fresh 2 MiB of
    // its heap would be zeroed whole at its first touch.
    #[cfg(target_os = "linux")]
    {
        let pid = fed.node("DE").child.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.contains("THP_enabled:\t0"), "{status}");
    }
    let (_, ke_metrics) = common::http_get(&fed.node("KE").dir, "/metrics", true);
    assert!(
        ke_metrics.contains("tracenet_answer_latency_seconds_count 3"),
        "{ke_metrics}"
    );
    assert_eq!(common::http_get(de, "/v1/health", false).0, 200);

    // The audit log on both sides: what was sent and received, nothing national.
    let de_audit = fed.node("DE").json(&["audit", "show"]);
    let kinds = de_audit.to_string();
    assert!(
        kinds.contains("query_received") && kinds.contains("answer_sent"),
        "{kinds}"
    );
    assert!(!kinds.contains("CANARY"), "{kinds}");
    let ke_audit = fed.node("KE").json(&["audit", "show"]).to_string();
    assert!(
        ke_audit.contains("trace_sent") && ke_audit.matches("answer_received").count() >= 3,
        "{ke_audit}"
    );
    assert!(!ke_audit.contains("CANARY"), "{ke_audit}");
    assert_eq!(fed.node("KE").json(&["audit", "verify"])["ok"], true);

    // The trace is kept: shown again after a restart of the requester.
    let id = t["id"].as_str().unwrap().to_string();
    fed.node_mut("KE").signal("TERM");
    if let Some(mut c) = fed.node_mut("KE").child.take() {
        let _ = c.wait();
    }
    // Logs are JSON lines with --log-format json.
    let log = fed.node("KE").log();
    assert!(
        log.lines().count() > 0
            && log
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{log}"
    );
    assert!(log.contains("node stopped"), "{log}");

    // Stopped gracefully, the node has signed its audit head; read offline.
    let offline = fed.node("KE").json(&["audit", "verify"]);
    assert_eq!(offline["ok"], true, "{offline}");
    assert!(offline["signed_through"].is_u64(), "{offline}");
    let ke = fed.nodes.iter().position(|n| n.state == "KE").unwrap();
    fed.launch(ke);
    let shown = fed.node("KE").json(&["trace", "show", &id]);
    assert_eq!(shown["status"], "answered");
    assert_eq!(shown["answers"].as_array().unwrap().len(), 3);

    // The exported evidence verifies offline.
    let ev = fed.node("KE").dir.join("evidence.json");
    fed.node("KE").cli(&["trace", "export", &id, path_str(&ev)]);
    let evidence = std::fs::read_to_string(&ev).unwrap();
    assert!(!evidence.contains("CASE-CANARY-KE"));
    let verified = fed.node("KE").cli(&["verify", path_str(&ev)]);
    assert!(
        verified.contains("DE") && verified.contains("NG"),
        "{verified}"
    );
    // Anywhere, with only the anchor on the command line: a prosecutor's
    // machine has no data directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("evidence.json");
    std::fs::copy(&ev, &copy).unwrap();
    let anchor = fed.anchor.public_key().to_base64();
    let o = common::run(
        &elsewhere.path().join("no-such-dir"),
        &["verify", path_str(&copy), "--anchor", &anchor],
    );
    assert_eq!(o.status.code(), Some(0), "{}", common::stderr(&o));
    assert!(common::stdout(&o).contains("NG"), "{}", common::stdout(&o));
    // Any change to a signed part makes verification fail, naming the part.
    let mut bundle: Value = serde_json::from_str(&evidence).unwrap();
    let a0 = bundle["answers"][0].as_str().unwrap().to_string();
    let mut bytes = base64_decode(&a0);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bundle["answers"][0] = Value::String(base64_encode(&bytes));
    let tampered = fed.node("KE").dir.join("tampered.json");
    std::fs::write(&tampered, bundle.to_string()).unwrap();
    let o = common::run(&fed.node("KE").dir, &["verify", path_str(&tampered)]);
    assert_ne!(o.status.code(), Some(0));
    let said = format!("{}{}", common::stdout(&o), common::stderr(&o));
    assert!(said.contains("answer 1"), "{said}");
}

#[test]
fn a_node_outside_the_roster_can_neither_connect_nor_trace() {
    let fed = Federation::start(specs());
    let gh = fed.node("GH");
    let t = trace(gh, "BP0746", &["--timeout", "3"]);
    assert_eq!(t["status"], "timed_out", "{t:#}");
    assert!(t["answers"].as_array().unwrap().is_empty());
    // Never "no record": it asked nobody, for want of a connection.
    assert_eq!(
        t["custody"]["gaps"],
        serde_json::json!([{"kind": "not_connected"}]),
        "{t:#}"
    );
    let st = gh.json(&["status"]);
    assert!(
        st["net"]["connected"].as_array().unwrap().is_empty(),
        "{st:#}"
    );
    for n in fed.nodes.iter().filter(|n| n.state != "GH") {
        let st = n.json(&["status"]);
        let connected = st["net"]["connected"].to_string();
        assert!(
            !connected.contains(&gh.peer_id),
            "{} holds a connection to GH",
            n.state
        );
    }
}

/// A holder that dies mid-trace is awaited as unreachable, never taken for
/// "no record", and the trace ends partial at its deadline.
#[test]
fn a_node_killed_mid_trace_leaves_the_trace_partial() {
    let mut fed = Federation::start(specs());
    fed.wait_subscribed(
        "KE",
        "tracenet/1/prefix/DE/CARLWALTHER",
        &["DE", "NG", "FR"],
    );
    // Frozen, FR is still subscribed when the trace goes out, and never answers.
    fed.node("FR").signal("STOP");
    let sent = trace_walther(fed.node("KE"), "BP0746", &["--timeout", "15"]);
    let id = sent["id"].as_str().unwrap().to_string();
    let asked: Vec<&str> = sent["asked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert!(asked.contains(&"FR"), "{asked:?}");
    let ke = fed.node("KE");
    wait_for("DE and NG to answer", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", &id]);
        (t["answers"].as_array()?.len() >= 2).then_some(())
    });
    fed.node_mut("FR").kill();
    let ke = fed.node("KE");
    // Before the deadline: still awaited, as unreachable since the kill.
    let t = wait_for("FR to be unreachable", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", &id]);
        (holder_status(&t, "FR") == "unreachable").then_some(t)
    });
    if t["status"] != "partial" {
        assert_eq!(t["status"], "sent", "{t:#}");
    }
    assert!(
        !t["custody"]["gaps"].to_string().contains("no_record"),
        "{t:#}"
    );
    // At the deadline: partial, FR named in the gaps.
    let t = ke.json(&["trace", "show", &id, "--wait", "30"]);
    assert_eq!(t["status"], "partial", "{t:#}");
    let gaps = t["custody"]["gaps"].to_string();
    assert!(
        gaps.contains("unreachable") && gaps.contains(r#""FR""#),
        "{gaps}"
    );
    let fr = t["asked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "FR")
        .unwrap();
    assert!(fr["unreachable"].is_string(), "{fr:#}");
}

/// NG the requester, DE holding a Walther's record, and FR played in
/// process: subscribed to the prefix, it reads no gossip (as if the publish
/// had missed it) and acknowledges what it is sent. Returns once NG has
/// seen DE and FR subscribed.
async fn with_fr_silent() -> (Federation, Peer) {
    let mut fed = Federation::start(vec![
        NodeSpec::member("NG", vec![]),
        NodeSpec::member(
            "DE",
            vec![record(
                "DE-1",
                "Walther",
                "DE",
                "BP0746",
                &[("NG", 2009)],
                EXPORTED,
            )],
        ),
        NodeSpec::member("FR", vec![]),
    ]);
    fed.node_mut("FR").kill();
    let fr = Peer::connect(&fed.node("FR").dir, fed.node("NG")).await;
    let topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fr.net
        .set_topics([topic.parse().unwrap()].into())
        .await
        .unwrap();
    fed.wait_subscribed("NG", topic, &["DE", "FR"]);
    (fed, fr)
}

/// A holder handed a query by gossip that then says nothing is asked
/// directly after 5 s: neither the requester's publish nor another
/// holder's relay is certain to reach every subscriber, a direct ask is
/// answered or fails visibly. A holder that answered is not asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_silent_after_the_gossip_is_asked_directly() {
    use tracenet::protocol::codec::{Kind, peek_kind};
    let (fed, mut fr) = with_fr_silent().await;
    let sent = trace_walther(fed.node("NG"), "BP0746", &[]);
    let id = sent["id"].as_str().unwrap().to_string();
    let frame = fr
        .next_request(Duration::from_secs(30))
        .await
        .expect("the silent holder was never asked directly");
    assert_eq!(peek_kind(&frame), Ok(Kind::Query));
    let t = fed.node("NG").json(&["trace", "show", &id]);
    assert_eq!(holder_status(&t, "DE"), "answered", "{t:#}");
    let (_, m) = common::http_get(&fed.node("NG").dir, "/metrics", true);
    assert!(
        m.contains("tracenet_silent_holders_asked_total 1\n"),
        "only FR, silent, is asked again: {m}"
    );
}

/// A requester that crashes before its silent-holder timer fires loses the
/// timer, not the trace: started again, it hands every pending trace's
/// query to each holder that has not answered it as that holder connects
/// (store-and-forward counts only what this run handed), so a holder the
/// gossip missed is still asked before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_holder_is_asked_after_its_requester_crashes_and_starts_again() {
    use tracenet::protocol::codec::{Kind, peek_kind};
    let (mut fed, mut fr) = with_fr_silent().await;
    let sent = trace_walther(fed.node("NG"), "BP0746", &["--timeout", "120"]);
    let id = sent["id"].as_str().unwrap().to_string();
    // Killed (SIGKILL) well within the 5 s the timer waits.
    fed.node_mut("NG").kill();
    assert!(
        fr.next_request(Duration::ZERO).await.is_none(),
        "FR was asked directly before NG was killed: the test no longer tests a restart"
    );
    let ng = fed.nodes.iter().position(|n| n.state == "NG").unwrap();
    fed.launch(ng);
    let frame = fr
        .next_request(Duration::from_secs(90))
        .await
        .expect("the silent holder was never asked after its requester started again");
    assert_eq!(peek_kind(&frame), Ok(Kind::Query));
    let log = fed.node("NG").log();
    assert!(
        log.contains("delivering a waiting trace query") && log.contains(&id),
        "{log}"
    );
    // DE's answer is filed, whether it came before the crash or was asked
    // for again after it.
    wait_for("DE's answer to be filed", Duration::from_secs(60), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        (holder_status(&t, "DE") == "answered").then_some(())
    });
}

/// Where the roster decides the links every member keeps and they make a
/// full mesh, a holder that read a query from its requester itself answers
/// it and does not relay it (every holder had the requester's own copy);
/// where the roster leaves the links to each node, every holder relays, as
/// another node's links may be bounded where its own are not.
#[test]
fn holders_relay_the_requesters_copy_unless_the_roster_makes_a_full_mesh() {
    for (links, not_relayed) in [(Some(48), 1), (None, 0)] {
        let walther = |id: &str, serial: &str| record(id, "Walther", "DE", serial, &[], EXPORTED);
        let specs = vec![
            NodeSpec::member("NG", vec![]),
            NodeSpec::member("DE", vec![walther("DE-1", "BP0746")]),
            NodeSpec::member("FR", vec![walther("FR-1", "ZZ0001")]),
        ];
        let fed = match links {
            Some(n) => Federation::start_stating_links(specs, n),
            None => Federation::start(specs),
        };
        fed.wait_subscribed("NG", "tracenet/1/prefix/DE/CARLWALTHER", &["DE", "FR"]);
        let sent = trace_walther(fed.node("NG"), "BP0746", &[]);
        let id = sent["id"].as_str().unwrap().to_string();
        wait_for("DE and FR to answer", Duration::from_secs(30), || {
            let t = fed.node("NG").json(&["trace", "show", &id]);
            (holder_status(&t, "DE") == "answered" && holder_status(&t, "FR") == "answered")
                .then_some(())
        });
        for state in ["DE", "FR"] {
            let (_, m) = common::http_get(&fed.node(state).dir, "/metrics", true);
            assert!(
                m.contains(&format!(
                    "tracenet_queries_not_relayed_total {not_relayed}\n"
                )),
                "{state}, roster links {links:?}: {m}"
            );
        }
        // `status` says which: the setting, who sets it, and the relays.
        let st = fed.node("NG").json(&["status"]);
        let said = fed.node("NG").cli(&["status"]);
        match links {
            Some(n) => {
                assert_eq!(
                    st["links"],
                    serde_json::json!({"kept": n, "set_by": "roster", "full_mesh": true, "served_lists": false}),
                    "{st:#}"
                );
                assert!(
                    said.contains(&format!("links: the roster sets {n} per member; a full mesh: holders do not relay a query read from its requester")),
                    "{said}"
                );
            }
            None => {
                assert_eq!(st["links"]["set_by"], "node", "{st:#}");
                assert_eq!(st["links"]["full_mesh"], false, "{st:#}");
                assert!(
                    said.contains("this node's configuration sets 64 (the roster sets none); every holder relays each query it reads (each node decides its own links)"),
                    "{said}"
                );
            }
        }
    }
}

/// In a full mesh the roster decides, no holder relays the requester's
/// copy, so a holder that subscribes after the publish (here FR, importing
/// the weapon's maker while the trace waits for its deadline) is handed the
/// trace by the requester, even once DE has answered it.
#[test]
fn in_a_full_mesh_a_late_subscriber_gets_an_answered_trace_before_its_deadline() {
    let walther = |id: &str, serial: &str| record(id, "Walther", "DE", serial, &[], EXPORTED);
    let fed = Federation::start_stating_links(
        vec![
            NodeSpec::member("NG", vec![]),
            NodeSpec::member("DE", vec![walther("DE-1", "BP0746")]),
            NodeSpec::member("FR", vec![]),
        ],
        48,
    );
    let topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("NG", topic, &["DE"]);
    let sent = trace_walther(fed.node("NG"), "BP0746", &["--timeout", "120"]);
    let id = sent["id"].as_str().unwrap().to_string();
    wait_for("DE to answer", Duration::from_secs(30), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        (holder_status(&t, "DE") == "answered").then_some(())
    });
    let fr = fed.node("FR");
    let f = fr.dir.join("walther.jsonl");
    std::fs::write(&f, walther("FR-1", "ZZ0001")).unwrap();
    fr.cli(&["registry", "import", path_str(&f)]);
    wait_for(
        "FR to be handed the trace and answer",
        Duration::from_secs(60),
        || {
            let t = fed.node("NG").json(&["trace", "show", &id]);
            (holder_status(&t, "FR") == "answered").then_some(())
        },
    );
}

/// A node whose connection limit cannot hold the links the roster's full
/// mesh asks of it (two connections a link at most) says so at start,
/// naming the number to raise `node.max_connections` to.
#[test]
fn a_connection_limit_below_the_links_kept_is_warned_of() {
    let small = NodeSpec {
        node_config: "max_connections = 8",
        ..NodeSpec::member("GH", vec![])
    };
    let fed = Federation::start_stating_links(
        vec![
            small,
            NodeSpec::member("NG", vec![]),
            NodeSpec::member("DE", vec![]),
            NodeSpec::member("FR", vec![]),
            NodeSpec::member("KE", vec![]),
            NodeSpec::member("AT", vec![]),
        ],
        48,
    );
    let log = wait_for("GH's warning", Duration::from_secs(20), || {
        let log = fed.node("GH").log();
        log.contains("node.max_connections is below twice the links")
            .then_some(log)
    });
    assert!(log.contains("raise it to at least 10"), "{log}");
    assert!(
        !fed.node("NG")
            .log()
            .contains("node.max_connections is below twice the links")
    );
}

/// Where an expected holder of a trace stands, from `trace show --json`.
fn holder_status(t: &Value, state: &str) -> String {
    t["holders"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["state"] == state)
        .and_then(|h| h["status"].as_str())
        .unwrap_or("not expected")
        .to_string()
}

#[test]
fn a_roster_update_cuts_a_removed_member_off() {
    let fed = Federation::start(specs());
    let ke = fed.node("KE");
    let fr = fed.node("FR");
    let roster = fed.roster_without(&["BE", "DE", "NG", "AT", "KE"], 2);
    let f = ke.dir.join("roster-v2.json");
    std::fs::write(&f, roster).unwrap();
    let out = ke.json(&["roster", "install", path_str(&f)]);
    assert_eq!(out["installed"], true, "{out}");
    // The same roster again: nothing to do, said as a stopped node says it
    // (integration/cli.rs).
    let again = ke.json(&["roster", "install", path_str(&f)]);
    assert_eq!(
        again,
        serde_json::json!({"installed": false, "version": 2, "gossip_validation": out["gossip_validation"]})
    );
    // Through the running node: a roster changed after it was signed is
    // said as such, though its version is not above the one held (it was
    // "not installed: already holds version 2", with success); a version
    // below the one held is an error that says how renewals are made.
    let tampered = ke.dir.join("roster-tampered.json");
    let mut v: Value =
        serde_json::from_slice(&fed.roster_without(&["BE", "DE", "NG", "AT", "KE"], 1)).unwrap();
    let mut body = base64_decode(v["body"].as_str().unwrap());
    let name = b"Test State KE";
    let at = body
        .windows(name.len())
        .position(|w| w == name)
        .expect("KE's name in the roster body");
    body[at + name.len() - 1] = b'X';
    v["body"] = base64_encode(&body).into();
    std::fs::write(&tampered, v.to_string()).unwrap();
    let o = common::run(&ke.dir, &["roster", "install", path_str(&tampered)]);
    assert!(
        !o.status.success() && common::stderr(&o).contains("signature"),
        "{}",
        common::stderr(&o)
    );
    let older = ke.dir.join("roster-v1.json");
    std::fs::write(
        &older,
        fed.roster_without(&["BE", "DE", "NG", "AT", "KE"], 1),
    )
    .unwrap();
    let o = common::run(&ke.dir, &["roster", "install", path_str(&older)]);
    assert!(
        o.status.code() == Some(1) && common::stderr(&o).contains("older than version 2"),
        "{}",
        common::stderr(&o)
    );
    // The new roster spreads by gossip; every remaining member drops FR.
    for n in fed.nodes.iter().filter(|n| !matches!(n.state, "FR" | "GH")) {
        wait_for(
            &format!("{} to drop FR", n.state),
            Duration::from_secs(20),
            || {
                let st = n.json(&["status"]);
                let connected = st["net"]["connected"].to_string();
                (st["roster_version"] == 2 && !connected.contains(&fr.peer_id)).then_some(())
            },
        );
    }
    // KE is listed as itself; FR, given the roster that removed it, is told
    // that it is not in it (it saw only "0 peers connected", and its traces
    // called the others unreachable).
    assert_eq!(ke.json(&["status"])["listed_in_roster"], "as_itself");
    fr.json(&["roster", "install", path_str(&f)]);
    assert_eq!(fr.json(&["status"])["listed_in_roster"], "not_listed");
    let said = fr.cli(&["status"]);
    assert!(said.contains("NOT IN THE ROSTER"), "{said}");
    // Every member of the roster is another node to it (it said "of 2" for
    // three others, taking itself off a roster that does not list it).
    let members = fr.json(&["status"])["roster_members"].as_u64().unwrap();
    assert!(
        said.contains(&format!(" of {members}")),
        "{members} members: {said}"
    );
    // Its blind line blames the node key, not a missing OPRF key (a
    // re-trial: told to hand over its OPRF key, which would not help).
    assert!(!said.contains("lists no OPRF key"), "{said}");
    assert!(
        said.contains("pass this node by while the roster does not list its key"),
        "{said}"
    );
}

#[test]
fn a_retry_reaches_a_state_that_missed_the_trace() {
    let mut fed = Federation::start(specs());
    fed.wait_subscribed(
        "KE",
        "tracenet/1/prefix/DE/CARLWALTHER",
        &["DE", "NG", "FR"],
    );
    // FR is frozen when the trace goes out, then dies: it never saw the query.
    fed.node("FR").signal("STOP");
    let sent = trace_walther(fed.node("KE"), "BP0746", &["--timeout", "60"]);
    let id = sent["id"].as_str().unwrap().to_string();
    let ke = fed.node("KE");
    wait_for("DE and NG to answer", Duration::from_secs(20), || {
        (ke.json(&["trace", "show", &id])["answers"]
            .as_array()?
            .len()
            >= 2)
            .then_some(())
    });
    fed.node_mut("FR").kill();
    let ke = fed.node("KE");
    wait_for("FR to be unreachable", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", &id]);
        (holder_status(&t, "FR") == "unreachable").then_some(())
    });
    // FR comes back; the retry goes straight to it and its answer is attached
    // (the waiting query is also delivered on reconnect by itself).
    let fr = fed.nodes.iter().position(|n| n.state == "FR").unwrap();
    fed.launch(fr);
    let fr_peer = fed.node("FR").peer_id.clone();
    wait_for("KE to reconnect to FR", Duration::from_secs(30), || {
        let st = fed.node("KE").json(&["status"]);
        st["net"]["connected"]
            .to_string()
            .contains(&fr_peer)
            .then_some(())
    });
    // (Store-and-forward may have delivered it already: then there is
    // nothing to retry, and the retry says so.)
    let o = common::run(&fed.node("KE").dir, &["trace", "retry", &id]);
    assert!(
        o.status.success() || common::stderr(&o).contains("nothing to retry"),
        "{}",
        common::stderr(&o)
    );
    let t = fed.node("KE").json(&["trace", "show", &id, "--wait", "20"]);
    assert_eq!(t["status"], "answered", "{t:#}");
    assert!(
        answers_by_state(&t).contains(&("FR".to_string(), "no_hit".to_string())),
        "{t:#}"
    );
    // Now every expected State has answered: a retry says there is nothing to do.
    let o = common::run(&fed.node("KE").dir, &["trace", "retry", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("nothing to retry"),
        "{}",
        common::stderr(&o)
    );
}

/// Ten States at `node.peer_connections = 4`, so that each keeps a few links
/// (ring neighbours and hashed chords), not one to every member. DE made and
/// exported the Walther BP0746, NG imported it; both declare its prefix in
/// the roster, the others hold a Glock each.
fn bounded_specs() -> Vec<NodeSpec> {
    const STATES: [&str; 10] = ["DE", "NG", "FR", "AT", "KE", "GH", "SN", "CI", "ML", "BF"];
    STATES
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let records = match *s {
                "DE" => vec![record(
                    "DE-1",
                    "Walther",
                    "DE",
                    "BP0746",
                    &[("NG", 2009)],
                    EXPORTED,
                )],
                "NG" => vec![record(
                    "NG-1",
                    "Carl Walther",
                    "DE",
                    "BP-0746",
                    &[("NG", 2009)],
                    IMPORTED,
                )],
                _ => vec![record(
                    &format!("{s}-1"),
                    "Glock",
                    "AT",
                    &format!("GL{i:04}"),
                    &[],
                    OTHER,
                )],
            };
            NodeSpec {
                state: s,
                bootstrap: false,
                records,
                in_roster: true,
                node_config: "peer_connections = 4",
                prefixes: if matches!(*s, "DE" | "NG") {
                    &["DE/CARLWALTHER"]
                } else {
                    &[]
                },
                oprf_key_listed: true,
            }
        })
        .collect()
}

/// The links `n` keeps and the peers it is connected to.
fn links(n: &FedNode) -> (Vec<String>, Vec<String>) {
    let st = n.json(&["status"]);
    assert_eq!(st["net"]["links_bounded"], true, "{st:#}");
    let list = |k: &str| net_list(&st, k).unwrap_or_else(|| panic!("no net.{k}: {st:#}"));
    (list("kept"), list("connected"))
}

/// A State other than DE and NG that neither keeps nor has a link to DE.
fn not_linked_to_de(fed: &Federation) -> &'static str {
    let de = fed.node("DE");
    fed.nodes
        .iter()
        .filter(|n| !matches!(n.state, "DE" | "NG"))
        .find(|n| {
            let (kept, connected) = links(n);
            !kept.contains(&de.peer_id) && !connected.contains(&de.peer_id)
        })
        .map(|n| n.state)
        .unwrap_or_else(|| {
            let all: Vec<_> = fed.nodes.iter().map(|n| (n.state, links(n))).collect();
            panic!("no node is not linked to DE ({}): {all:#?}", de.peer_id)
        })
}

/// `state`'s entry among a trace's expected holders.
fn asked_of<'a>(t: &'a Value, state: &str) -> &'a Value {
    t["asked"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["state"] == state))
        .unwrap_or_else(|| panic!("{state} not asked: {t:#}"))
}

/// A federation larger than `node.peer_connections` still reaches the
/// holders the roster declares for a trace's prefix: one not linked to the
/// requester is dialled by the query itself (issue 16, bounded
/// connections). Without it, the holder was marked "offline when the trace
/// was sent" (and its record came only if gossip or the minute timer
/// happened to bring it).
#[test]
fn with_links_bounded_a_trace_dials_the_declared_holders_it_is_not_linked_to() {
    // Started once each node holds the links its roster plans (fed::start).
    let fed = Federation::start(bounded_specs());
    let mut total = 0;
    for n in &fed.nodes {
        let (kept, _) = links(n);
        assert!(kept.len() < fed.nodes.len() - 1, "{}: {kept:?}", n.state);
        total += kept.len();
    }
    assert!(
        total < fed.nodes.len() * (fed.nodes.len() - 1),
        "a full mesh"
    );
    let de = fed.node("DE");
    let ke = fed.node(not_linked_to_de(&fed));
    // The officer is not told DE is down: it is not linked, and dialled
    // when a trace asks it.
    let peers = ke.json(&["peers"]);
    let de_row = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == de.peer_id.as_str())
        .unwrap();
    assert_eq!(de_row["kept"], false, "{de_row:#}");
    let text = ke.cli(&["peers"]);
    let de_line = text.lines().find(|l| l.contains(&de.peer_id)).unwrap();
    assert!(de_line.contains("not linked"), "{text}");
    assert!(
        ke.cli(&["status"])
            .contains("linked: the roster lists more members than the links kept")
    );
    // Eight members declare no prefix: the node says a trace may miss them.
    assert!(
        ke.log().contains("declare no marking prefix in the roster"),
        "{}",
        ke.log()
    );
    let sent = trace_walther(ke, "BP0746", &["--import", "NG:2009"]);
    // Asked at once, as sent: not left for later as offline.
    assert!(asked_of(&sent, "DE")["unreachable"].is_null(), "{sent:#}");
    let id = sent["id"].as_str().unwrap().to_string();
    let t = wait_for("DE and NG to answer", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", &id]);
        (t["status"] == "answered").then_some(t)
    });
    assert_eq!(
        answers_by_state(&t),
        vec![
            ("DE".to_string(), "hit".to_string()),
            ("NG".to_string(), "hit".to_string())
        ],
        "{t:#}"
    );
    assert!(asked_of(&t, "DE")["unreachable"].is_null(), "{t:#}");
    // The link the query opened stays until it has been idle a minute.
    let (_, connected) = links(ke);
    assert!(connected.contains(&de.peer_id), "{connected:?}");
}

/// Where the roster bounds the links, a query names the States its
/// requester served (its publish's subscribers, the holders it asked
/// directly), and holders relay it only toward peers not among them
/// (NETWORK.md, "Gossip mesh"). Every holder is still reached: here all ten
/// States hold the Walther BP0746, only DE and NG declare its prefix, and
/// the requester (the member with the fewest links) does not know the
/// holders it is not linked to; each of them answers all the same.
#[test]
fn with_links_bounded_by_the_roster_holders_the_requester_did_not_serve_are_reached() {
    let specs: Vec<NodeSpec> = bounded_specs()
        .into_iter()
        .map(|s| NodeSpec {
            records: vec![record(
                &format!("{}-W", s.state),
                "Walther",
                "DE",
                "BP0746",
                &[],
                OTHER,
            )],
            node_config: "",
            ..s
        })
        .collect();
    let fed = Federation::start_stating_links(specs, 4);
    let requester = fed
        .nodes
        .iter()
        .filter(|n| !matches!(n.state, "DE" | "NG"))
        .min_by_key(|n| links(n).1.len())
        .unwrap();
    let st = requester.json(&["status"]);
    assert_eq!(
        st["links"],
        serde_json::json!({"kept": 4, "set_by": "roster", "full_mesh": false, "served_lists": true}),
        "{st:#}"
    );
    assert!(
        requester
            .cli(&["status"])
            .contains("links: the roster sets 4 per member; bounded: this node's queries name the States it hands them to, and holders relay them only toward the others"),
        "{}",
        requester.cli(&["status"])
    );
    let sent = trace_walther(requester, "BP0746", &[]);
    let served: Vec<String> = sent["query"]["served"]
        .as_array()
        .unwrap_or_else(|| panic!("no States served: {sent:#}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert!(
        served.contains(&"DE".to_string()) && served.contains(&"NG".to_string()),
        "{served:?}"
    );
    let others: Vec<&str> = fed
        .nodes
        .iter()
        .map(|n| n.state)
        .filter(|s| *s != requester.state)
        .collect();
    assert!(
        others.iter().any(|s| !served.iter().any(|x| x == s)),
        "{} served every State ({served:?}): nothing to relay toward",
        requester.state
    );
    let id = sent["id"].as_str().unwrap().to_string();
    let t = wait_for(
        "every other State to answer",
        Duration::from_secs(40),
        || {
            let t = requester.json(&["trace", "show", &id]);
            (answers_by_state(&t).len() == others.len()).then_some(t)
        },
    );
    for (state, outcome) in answers_by_state(&t) {
        assert_eq!(outcome, "hit", "{state}: {t:#}");
    }
    // A State reached only by a relay was not expected: `trace show` lists
    // it apart from the holders the trace waited for.
    let relayed: Vec<&str> = t["holders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["expected_by"] == serde_json::json!(["answered"]))
        .filter_map(|h| h["state"].as_str())
        .collect();
    let text = requester.cli(&["trace", "show", &id]);
    let first = relayed
        .first()
        .unwrap_or_else(|| panic!("no State answered unexpected: {t:#}"));
    let (expected, also) = text
        .split_once("also replied, not expected")
        .unwrap_or_else(|| panic!("{relayed:?} not listed apart: {text}"));
    assert!(
        also.contains(&format!("    {first}   answered"))
            && !expected.contains(&format!("    {first}   ")),
        "{text}"
    );
}

/// With links bounded, a holder the requester is linked to only because a
/// query opened the link sees the next trace on its topic go by gossip. If
/// that link closes before the holder says anything (here it is frozen,
/// then killed), it is unreachable and asked again, as a holder whose kept
/// link drops. Before, the closing of a link opened on demand was not
/// reported at all: the holder stayed awaited, never asked again, until the
/// deadline.
#[test]
fn with_links_bounded_a_holder_silent_when_its_link_closes_is_unreachable() {
    let mut fed = Federation::start(bounded_specs());
    let ke_state = not_linked_to_de(&fed);
    let ke = fed.node(ke_state);
    let first = trace(ke, "BP0746", &["--import", "NG:2009"]);
    assert_eq!(first["status"], "answered", "{first:#}");
    // The link the first query opened carries DE's subscriptions.
    fed.wait_subscribed(ke_state, "tracenet/1/prefix/DE/CARLWALTHER", &["DE"]);
    fed.node("DE").signal("STOP");
    let sent = trace_walther(fed.node(ke_state), "WP104233", &[]);
    let id = sent["id"].as_str().unwrap().to_string();
    let de = asked_of(&sent, "DE");
    assert!(
        de["expected_by"].to_string().contains("subscribed") && de["unreachable"].is_null(),
        "{sent:#}"
    );
    fed.node_mut("DE").kill();
    let ke = fed.node(ke_state);
    let t = wait_for("DE to be unreachable", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", &id]);
        (holder_status(&t, "DE") == "unreachable").then_some(t)
    });
    assert_ne!(t["status"], "answered", "{t:#}");
}

/// With links bounded, a blind trace's holder that was down when probed is
/// probed again once it is back, though it does not link to the requester:
/// the maintenance timer dials it, as it does a clear trace's holder.
/// Before, only a connection (PeerUp) brought a new probe, and a holder not
/// linked never makes one: it stayed unreachable until the deadline.
#[test]
fn with_links_bounded_a_blind_holder_down_when_probed_is_probed_once_back() {
    let mut fed = Federation::start(bounded_specs());
    let ke_state = not_linked_to_de(&fed);
    let de_peer = fed.node("DE").peer_id.clone();
    let de = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.node_mut("DE").kill();
    let sent = trace_walther(fed.node(ke_state), "BP0746", &["--blind"]);
    let id = sent["id"].as_str().unwrap().to_string();
    let outcome = |t: &Value| -> String {
        t["blind"]["holders"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h["peer"] == de_peer.as_str()))
            .and_then(|h| h["outcome"].as_str())
            .unwrap_or("not a holder")
            .to_string()
    };
    let ke = fed.node(ke_state);
    wait_for("DE's probe to fail", Duration::from_secs(30), || {
        let t = ke.json(&["trace", "show", &id]);
        (outcome(&t) == "unreachable").then_some(())
    });
    fed.launch(de);
    let ke = fed.node(ke_state);
    // The maintenance timer runs once a minute.
    let t = wait_for("DE probed again", Duration::from_secs(100), || {
        let t = ke.json(&["trace", "show", &id]);
        let de_hit = answers_by_state(&t).contains(&("DE".to_string(), "hit".to_string()));
        (outcome(&t) == "hit" && de_hit).then_some(t)
    });
    assert!(!links(ke).0.contains(&de_peer), "{t:#}");
}

/// The regional organisation decides `payload` gossip validation in the
/// next roster, made with the CLI. Installed at one member, the roster
/// spreads by gossip; every node, the bootstrap peer included, switches on
/// the ports the roster lists, and traces are answered as before. A member
/// stopped while it spread is offered it when it is back, and switches too.
#[test]
fn a_roster_deciding_payload_gossip_validation_switches_every_node() {
    let specs: Vec<NodeSpec> = specs()
        .into_iter()
        .filter(|s| !matches!(s.state, "GH" | "AT"))
        .collect();
    let mut fed = Federation::start(specs);
    let ke = fed.node("KE");
    for n in &fed.nodes {
        assert_eq!(
            n.json(&["status"])["net"]["gossip_validation"],
            "strict",
            "{}",
            n.state
        );
    }
    // The next roster, as an anchor makes it: the members kept, the
    // setting stated, signed with the anchor's key file.
    let key = ke.dir.join("anchor.key");
    fed.anchor.store(&key).unwrap();
    let v2 = ke.dir.join("roster-v2.json");
    ke.cli(&[
        "roster",
        "new",
        "--from",
        path_str(&ke.dir.join("roster.json")),
        "--out",
        path_str(&v2),
        "--valid-from",
        "today-1",
        "--valid-until",
        "today+30",
    ]);
    let shown = ke.json(&["roster", "set-gossip-validation", path_str(&v2), "payload"]);
    assert_eq!(shown["gossip_validation"], "payload", "{shown}");
    assert_eq!(shown["members"].as_array().unwrap().len(), 5, "{shown}");
    ke.cli(&[
        "roster",
        "sign",
        path_str(&v2),
        "--anchor-key",
        path_str(&key),
    ]);
    // FR is away while the roster spreads.
    fed.node_mut("FR").kill();
    let ke = fed.node("KE");
    // The officer installing it is told the switch is coming.
    let out = ke.cli(&["roster", "install", path_str(&v2)]);
    assert!(
        out.contains("roster version 2 installed")
            && out.contains("gossip validation switches from strict to payload in 10 to 30 s"),
        "{out}"
    );
    for n in fed.nodes.iter().filter(|n| n.state != "FR") {
        wait_for(
            &format!("{} to switch", n.state),
            Duration::from_secs(60),
            || (n.json(&["status"])["net"]["gossip_validation"] == "payload").then_some(()),
        );
    }
    let fr = fed.nodes.iter().position(|n| n.state == "FR").unwrap();
    fed.launch(fr);
    assert_eq!(
        fed.node("FR").json(&["status"])["roster_version"],
        1,
        "FR is back with the roster it held"
    );
    let ke = fed.node("KE");

    let peers: Vec<String> = fed.nodes.iter().map(|n| n.peer_id.clone()).collect();
    for n in &fed.nodes {
        wait_for(
            &format!("{} to switch and link to every member again", n.state),
            Duration::from_secs(60),
            || {
                let st = n.json(&["status"]);
                let connected = net_list(&st, "connected")?;
                let listen = net_list(&st, "listen")?;
                (st["roster_version"] == 2
                    && st["net"]["gossip_validation"] == "payload"
                    && st["net"]["gossip_validation_next"].is_null()
                    && listen == [format!("/ip4/127.0.0.1/tcp/{}", n.port)]
                    && peers
                        .iter()
                        .filter(|p| **p != n.peer_id)
                        .all(|p| connected.contains(p)))
                .then_some(())
            },
        );
    }
    let prefix_topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("KE", prefix_topic, &["DE", "NG", "FR"]);
    let gossip_in = |state: &str| {
        fed.node(state).json(&["status"])["net"]["gossip_in"]
            .as_u64()
            .unwrap()
    };
    let before: Vec<u64> = ["DE", "NG", "FR"].map(gossip_in).to_vec();
    let t = trace(ke, "BP0746", &[]);
    assert_eq!(t["status"], "answered", "{t:#}");
    // The query reached the holders by gossip, not only by direct asks.
    let after: Vec<u64> = ["DE", "NG", "FR"].map(gossip_in).to_vec();
    assert!(
        before.iter().zip(&after).all(|(b, a)| a > b),
        "gossip read by DE, NG, FR: {before:?} then {after:?}"
    );
    assert_eq!(answers_by_state(&t), walther_bp0746_answers());
    // The text status says it too.
    assert!(
        ke.cli(&["status"]).contains("gossip validation: payload"),
        "{}",
        ke.cli(&["status"])
    );
    // Rosters offered as peers reconnected were never refused by gossipsub
    // as already published (a WARN line an operator cannot act on).
    for n in &fed.nodes {
        let log = n.log();
        assert!(
            !log.contains("already been published"),
            "{}: {log}",
            n.state
        );
    }
}
