//! Blind traces end to end (issue 17, proto-docs/BLIND.md): five States, one
//! of which holds the weapon. After a blind trace the marking is found in
//! the data directory, logs and audit of the holder only (and the
//! requester's), and the trace has the hit, chain and point of diversion
//! of a clear trace. Then: one `?` found blind within the bound; a `*` or
//! two `?` refused before sending, for the officer to choose; a holder's
//! budget stopping an enumeration, audited.

mod common;
mod fed;

use std::time::Duration;

use fed::*;
use serde_json::Value;

/// The weapon's serial: the canary. Nothing in it folds (no O, I, L, S, B,
/// Z, G), so its folded form is the same string.
const SERIAL: &str = "WX739184";

/// Another weapon: made in DE, exported to KE, which records no such
/// weapon: the chain of custody calls for a follow-up to KE, which a blind
/// trace probes, never sends the marking.
const EXPORTED: &str = "WX246810";

fn exported() -> String {
    record(
        "DE-3",
        "Walther",
        "DE",
        EXPORTED,
        &[],
        r#"{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"},{"date":"2015-02-20","kind":"exported","counterpart":"KE"}"#,
    )
}

fn walther(id: &str, serial: &str) -> String {
    record(
        id,
        "Walther",
        "DE",
        serial,
        &[],
        r#"{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"},{"date":"2019-07-30","kind":"stolen","holder":"state_police"}"#,
    )
}

/// Every file below `dir`, as bytes, with its path.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
    out
}

fn holder<'a>(t: &'a Value, fed: &Federation, state: &str) -> &'a Value {
    let peer = &fed.node(state).peer_id;
    t["blind"]["holders"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["peer"] == peer.as_str()))
        .unwrap_or_else(|| panic!("{state} not among the blind holders: {t:#}"))
}

fn settled(n: &FedNode, id: &str) -> Value {
    wait_for(
        &format!("blind trace {id} to settle"),
        Duration::from_secs(60),
        || {
            let t = n.json(&["trace", "show", id]);
            let all = t["blind"]["holders"]
                .as_array()?
                .iter()
                .all(|h| !matches!(h["outcome"].as_str(), Some("pending" | "unreachable")));
            let answered = t["status"] == "answered";
            (all && answered).then_some(t)
        },
    )
}

#[test]
fn a_blind_trace_reaches_only_the_holder() {
    let mut fed = Federation::start(vec![
        NodeSpec::member("NG", vec![]),
        NodeSpec::member(
            "DE",
            vec![
                walther("DE-1", SERIAL),
                walther("DE-2", "WX100200"),
                exported(),
            ],
        ),
        NodeSpec::member("FR", vec![walther("FR-1", "WX500600")]),
        NodeSpec {
            // A small budget: an enumeration is stopped by it.
            node_config: "blind_evaluations_per_hour = 12",
            ..NodeSpec::member("BE", vec![walther("BE-1", "WX700800")])
        },
        NodeSpec::member("KE", vec![walther("KE-1", "WX900100")]),
    ]);
    let topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("NG", topic, &["DE", "FR", "BE", "KE"]);

    let sent = trace_walther(fed.node("NG"), SERIAL, &["--blind"]);
    let id = sent["id"].as_str().unwrap().to_string();
    let blind = settled(fed.node("NG"), &id);
    assert_eq!(holder(&blind, &fed, "DE")["outcome"], "hit", "{blind:#}");
    assert_eq!(holder(&blind, &fed, "DE")["received_marking"], true);
    for s in ["FR", "BE", "KE"] {
        let h = holder(&blind, &fed, s);
        assert_eq!(h["outcome"], "no_hit", "{s}: {blind:#}");
        assert_eq!(h["received_marking"], false, "{s}");
        assert!(h["elements"].as_u64().unwrap() >= 1, "{s} was asked blind");
    }
    let asked: Vec<&str> = blind["asked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["state"].as_str())
        .collect();
    assert_eq!(asked, ["DE"], "only the holder was sent the query");

    // Its evidence verifies: `verify` judged the query, which goes only to
    // the holders whose filter hit, as if it had been read from gossip, and
    // failed every blind trace's bundle.
    let ev = fed.node("NG").dir.join("blind-evidence.json");
    let ev = ev.to_str().unwrap();
    fed.node("NG").cli(&["trace", "export", &id, ev]);
    let report = fed.node("NG").json(&["verify", ev]);
    assert_eq!(report["ok"], true, "{report:#}");

    // Each holder audited its evaluation, without the marking.
    for s in ["FR", "KE"] {
        let audit = fed.node(s).cli(&["--json", "audit", "show"]);
        assert!(audit.contains("blind_evaluation"), "{s}'s audit: {audit}");
        assert!(audit.contains("element"), "{s}'s audit: {audit}");
    }
    assert!(fed.node("FR").log().contains("blind evaluation"));

    // A follow-up along the chain of custody (DE exported it to KE) is
    // probed blind: KE's filter does not hold it, KE is not sent it.
    let f = trace_walther(fed.node("NG"), EXPORTED, &["--blind"]);
    let fid = f["id"].as_str().unwrap().to_string();
    let ft = wait_for("the follow-up to KE", Duration::from_secs(60), || {
        let t = settled(fed.node("NG"), &fid);
        (t["followed_up"] == serde_json::json!(["KE"])).then_some(t)
    });
    assert_eq!(holder(&ft, &fed, "KE")["received_marking"], false, "{ft:#}");
    assert_eq!(ft["asked"].as_array().map(Vec::len), Some(1), "{ft:#}");

    // One `?`: found blind, with at most the bound of evaluations at DE.
    let q = trace_walther(fed.node("NG"), "WX73918?", &["--blind"]);
    let qid = q["id"].as_str().unwrap().to_string();
    let qt = settled(fed.node("NG"), &qid);
    let de = holder(&qt, &fed, "DE");
    assert_eq!(de["outcome"], "hit", "{qt:#}");
    let elements = de["elements"].as_u64().unwrap();
    assert!((1..=64).contains(&elements), "{elements} evaluations");

    // A `*`, or two `?` over the default alphabet (841 candidates), is not
    // sent: the officer chooses to send in the clear or not.
    for serial in ["WX7391*", "WX7391??"] {
        let o = common::run(
            &fed.node("NG").dir,
            &[
                "trace",
                "--maker",
                "walther",
                "--country",
                "DE",
                "--serial",
                serial,
                "--category",
                "pistol",
                "--ground",
                "seized_in_crime",
                "--use",
                "criminal_investigation",
                "--blind",
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{serial}");
        let err = common::stderr(&o);
        assert!(err.contains("--blind=false"), "{serial}: {err}");
    }

    // Enumerating through BE is stopped by its budget (12 an hour) and audited.
    let mut refused_id = String::new();
    let mut first_id = None;
    for i in 0..6 {
        let t = trace_walther(fed.node("NG"), &format!("WX7{i}000?"), &["--blind"]);
        let tid = t["id"].as_str().unwrap().to_string();
        first_id.get_or_insert(tid.clone());
        let t = wait_for("BE's outcome", Duration::from_secs(60), || {
            let t = fed.node("NG").json(&["trace", "show", &tid]);
            let h = holder(&t, &fed, "BE").clone();
            (h["outcome"] != "pending").then_some(h)
        });
        if t["outcome"] == "refused" {
            assert!(
                t["detail"].as_str().unwrap().contains("rate_limited"),
                "{t}"
            );
            refused_id = tid;
            break;
        }
    }
    assert!(!refused_id.is_empty(), "BE's budget never refused");
    // A blind trace whose every filter said no hit was sent to nobody: no
    // record. It was told as a prefix nobody holds (and, while its probes
    // ran, as a node connected to no member).
    let gaps = |id: &str| {
        let t = fed.node("NG").json(&["trace", "show", id]);
        (t["custody"]["gaps"].clone(), t)
    };
    let first_id = first_id.unwrap();
    assert_ne!(first_id, refused_id, "BE's budget held one trace at least");
    settled(fed.node("NG"), &first_id);
    let (g, t) = gaps(&first_id);
    assert_eq!(g, serde_json::json!([{"kind": "no_record"}]), "{t:#}");
    let text = fed.node("NG").cli(&["trace", "show", &first_id]);
    assert!(text.contains("do not hold the weapon"), "{text}");
    // One whose holder refused to evaluate waits on that holder: never "no
    // record", nor a node without connections.
    let (g, t) = gaps(&refused_id);
    assert!(
        g.as_array().unwrap().iter().any(|g| g["state"] == "BE"),
        "{t:#}"
    );
    for kind in ["no_record", "not_connected", "no_holder"] {
        assert!(!g.to_string().contains(kind), "{kind}: {t:#}");
    }
    let audit = fed.node("BE").cli(&["--json", "audit", "show"]);
    assert!(audit.contains("blind_refused"), "BE's audit: {audit}");

    // A retry of a settled blind trace has nothing to do: it sends nobody
    // the marking (a clear retry would ask every expected holder).
    let o = common::run(&fed.node("NG").dir, &["trace", "retry", &id]);
    assert!(!o.status.success(), "{}", common::stdout(&o));
    assert!(
        common::stderr(&o).contains("nothing to retry"),
        "{}",
        common::stderr(&o)
    );
    // One with a refused holder probes it again, and asks nobody else.
    let again = fed.node("NG").json(&["trace", "retry", &refused_id]);
    assert_eq!(again["asked"], serde_json::json!([]), "{again:#}");
    let shown = fed.node("NG").json(&["trace", "show", &id]);
    assert_eq!(
        shown["asked"].as_array().map(Vec::len),
        Some(1),
        "{shown:#}"
    );
    // The canaries: the serial is on the requester and the holder only.
    let logs: Vec<(String, String)> = fed
        .nodes
        .iter()
        .map(|n| (n.state.to_string(), n.log()))
        .collect();
    for n in &fed.nodes {
        n.signal("TERM");
    }
    for n in fed.nodes.iter_mut() {
        if let Some(mut c) = n.child.take() {
            let _ = c.wait();
        }
    }
    for (state, log) in &logs {
        if state != "NG" && state != "DE" {
            assert!(
                !log.contains(SERIAL) && !log.contains(EXPORTED),
                "{state}'s log holds the marking"
            );
        }
    }
    for n in &fed.nodes {
        if n.state == "NG" || n.state == "DE" {
            continue;
        }
        for (path, bytes) in files(&n.dir) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(SERIAL) && !text.contains("WX73918") && !text.contains(EXPORTED),
                "the marking is in {}",
                path.display()
            );
        }
    }

    // A clear trace of the same weapon: same hit, chain and point of diversion.
    for i in 0..fed.nodes.len() {
        fed.launch(i);
    }
    fed.wait_subscribed("NG", topic, &["DE", "FR", "BE", "KE"]);
    let clear = trace_walther(fed.node("NG"), SERIAL, &["--blind=false", "--wait", "30"]);
    assert!(clear.get("blind").is_none(), "{clear:#}");
    let hits = |t: &Value| -> Vec<String> {
        let mut v: Vec<String> = t["answers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["outcome"]["kind"] == "hit" || a["outcome"].get("hit").is_some())
            .filter_map(|a| a["state"].as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    assert_eq!(hits(&clear), hits(&blind), "{clear:#}\n{blind:#}");
    assert!(!hits(&blind).is_empty(), "{blind:#}");
    // The answers are numbered in arrival order: the clear trace's holder
    // answered after the others' no_hit, the blind one's alone.
    fn unnumbered(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| k.as_str() != "answer")
                    .map(|(k, v)| (k.clone(), unnumbered(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(unnumbered).collect()),
            other => other.clone(),
        }
    }
    assert!(!blind["custody"]["chain"].as_array().unwrap().is_empty());
    assert!(!blind["custody"]["diversion"].is_null(), "{blind:#}");
    assert_eq!(
        unnumbered(&clear["custody"]["chain"]),
        unnumbered(&blind["custody"]["chain"])
    );
    assert_eq!(
        unnumbered(&clear["custody"]["diversion"]),
        unnumbered(&blind["custody"]["diversion"])
    );
}

/// A holder without a keyed filter (a node before blind traces) is not sent
/// the marking: `trace show` names it, and the officer chooses to send the
/// query in the clear with `trace send-clear`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_without_a_filter_is_left_to_the_officer() {
    use tracenet::protocol::codec::{Kind, peek_kind};
    use tracenet::protocol::{Refusal, Reply};
    let mut fed = Federation::start(vec![
        NodeSpec {
            // Every trace blind unless the officer says --blind=false.
            node_config: "blind_by_default = true",
            ..NodeSpec::member("NG", vec![])
        },
        NodeSpec::member("DE", vec![walther("DE-1", SERIAL)]),
        NodeSpec {
            prefixes: &["DE/CARLWALTHER"],
            ..NodeSpec::member("KE", vec![])
        },
    ]);
    // KE is played in process as an older node: it refuses the blind kinds.
    fed.node_mut("KE").kill();
    let older = Reply::Refused(Refusal::UnexpectedKind).encode();
    let mut ke = Peer::connect_replying(&fed.node("KE").dir, fed.node("NG"), older).await;
    fed.wait_subscribed("NG", "tracenet/1/prefix/DE/CARLWALTHER", &["DE"]);
    let sent = trace_walther(fed.node("NG"), SERIAL, &[]);
    let id = sent["id"].as_str().unwrap().to_string();
    let t = wait_for("KE's outcome", Duration::from_secs(60), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        (holder(&t, &fed, "KE")["outcome"] == "no_filter"
            && holder(&t, &fed, "DE")["outcome"] == "hit")
            .then_some(t)
    });
    assert_eq!(holder(&t, &fed, "KE")["received_marking"], false);
    assert_ne!(
        t["status"], "answered",
        "a holder awaits the officer: {t:#}"
    );
    // KE was asked for a filter, never sent the query.
    while let Some(frame) = ke.next_request(Duration::from_secs(1)).await {
        assert_eq!(peek_kind(&frame), Ok(Kind::BlindRequest));
    }
    let text = fed.node("NG").cli(&["trace", "show", &id]);
    assert!(text.contains("no keyed filter"), "{text}");
    assert!(
        text.contains(&format!("tracenet trace send-clear {id}")),
        "{text}"
    );
    // The officer chooses to send it in the clear.
    let after = fed
        .node("NG")
        .json(&["trace", "send-clear", &id, "--state", "KE"]);
    assert_eq!(holder(&after, &fed, "KE")["received_marking"], true);
    let frame = loop {
        let f = ke
            .next_request(Duration::from_secs(30))
            .await
            .expect("KE is sent the query");
        if peek_kind(&f) == Ok(Kind::Query) {
            break f;
        }
    };
    assert!(String::from_utf8_lossy(&frame).contains(SERIAL));
    // Nobody awaits the officer now: nothing more is sent.
    let text = fed.node("NG").cli(&["trace", "send-clear", &id]);
    assert!(text.contains("nothing was sent"), "{text}");
    while let Some(frame) = ke.next_request(Duration::from_secs(2)).await {
        assert_ne!(peek_kind(&frame), Ok(Kind::Query), "sent twice");
    }
    // A clear trace has nothing to send in the clear.
    let clear = trace_walther(fed.node("NG"), SERIAL, &["--blind=false"]);
    let o = common::run(
        &fed.node("NG").dir,
        &["trace", "send-clear", clear["id"].as_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
}

/// A holder offline when a blind trace is sent is probed when it comes back,
/// also after the requester restarted; it is never sent the marking for
/// having subscribed to the trace's topic.
#[test]
fn a_holder_back_online_is_probed_not_sent_the_marking() {
    let mut fed = Federation::start(vec![
        NodeSpec::member("NG", vec![]),
        NodeSpec::member("DE", vec![walther("DE-1", SERIAL)]),
        NodeSpec {
            prefixes: &["DE/CARLWALTHER"],
            ..NodeSpec::member("FR", vec![walther("FR-1", "WX500600")])
        },
    ]);
    let topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("NG", topic, &["DE", "FR"]);
    let index = |fed: &Federation, s: &str| fed.nodes.iter().position(|n| n.state == s).unwrap();
    let fr_peer = fed.node("FR").peer_id.clone();
    fed.node_mut("FR").kill();
    wait_for("NG to see FR gone", Duration::from_secs(30), || {
        let st = fed.node("NG").json(&["status"]);
        (!st["net"]["connected"].to_string().contains(&fr_peer)).then_some(())
    });
    let sent = trace_walther(fed.node("NG"), SERIAL, &["--blind"]);
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(
        holder(&sent, &fed, "FR")["outcome"],
        "unreachable",
        "{sent:#}"
    );
    // NG stops at once (its probe of DE may be cut short) and restarts with
    // the trace waiting on FR; then FR comes back.
    let ng = index(&fed, "NG");
    fed.node_mut("NG").kill();
    fed.launch(ng);
    let fr = index(&fed, "FR");
    fed.launch(fr);
    let t = wait_for("FR probed", Duration::from_secs(60), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        let h = holder(&t, &fed, "FR").clone();
        (h["outcome"] == "no_hit" && holder(&t, &fed, "DE")["outcome"] == "hit").then_some(t)
    });
    assert_eq!(holder(&t, &fed, "FR")["received_marking"], false);
    let asked: Vec<&str> = t["asked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["state"].as_str())
        .collect();
    assert_eq!(asked, ["DE"], "{t:#}");
    fed.node("FR").signal("TERM");
    if let Some(mut c) = fed.node_mut("FR").child.take() {
        let _ = c.wait();
    }
    for (path, bytes) in files(&fed.node("FR").dir) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SERIAL),
            "the marking is in {}",
            path.display()
        );
    }
}

/// A member that gains records under a blind trace's prefix while the trace
/// waits, settled because nobody was known to hold any (the member
/// subscribes only then), is probed, as a clear trace's new subscriber is
/// asked, and is never sent the marking.
#[test]
fn a_member_subscribing_while_a_blind_trace_waits_is_probed() {
    let fed = Federation::start(vec![
        NodeSpec::member("NG", vec![]),
        NodeSpec::member(
            "FR",
            vec![record(
                "FR-1",
                "Glock",
                "AT",
                "QQ1",
                &[],
                r#"{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"}"#,
            )],
        ),
    ]);
    wait_for("NG linked to FR", Duration::from_secs(30), || {
        let st = fed.node("NG").json(&["status"]);
        st["net"]["connected"]
            .to_string()
            .contains(&fed.node("FR").peer_id)
            .then_some(())
    });
    let sent = trace_walther(fed.node("NG"), SERIAL, &["--blind"]);
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(sent["nobody_holds"], true, "{sent:#}");
    // FR now holds a Walther (another serial): it subscribes to the prefix.
    let fr = fed.node("FR");
    let f = fr.dir.join("more.jsonl");
    std::fs::write(&f, walther("FR-2", "WX500600")).unwrap();
    fr.cli(&["registry", "import", path_str(&f)]);
    let fr_peer = fr.peer_id.clone();
    let t = wait_for("FR probed", Duration::from_secs(60), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        let probed = t["blind"]["holders"].as_array().is_some_and(|h| {
            h.iter()
                .any(|h| h["peer"] == fr_peer.as_str() && h["outcome"] == "no_hit")
        });
        probed.then_some(t)
    });
    assert_eq!(holder(&t, &fed, "FR")["received_marking"], false, "{t:#}");
}

/// A holder is asked blind only under the OPRF key its roster entry lists:
/// one whose entry lists none is not asked at all, and one whose filters
/// state another key (its seed replaced, or a key kept for some
/// requesters) is refused before any evaluation. Neither is sent the
/// marking; both are left to the officer, and each says why in its log.
#[test]
fn a_holder_is_asked_blind_only_under_the_key_the_roster_lists() {
    let mut fed = Federation::start_with(
        vec![
            NodeSpec::member("NG", vec![]),
            NodeSpec::member("DE", vec![walther("DE-1", SERIAL)]),
            NodeSpec {
                oprf_key_listed: false,
                ..NodeSpec::member("FR", vec![walther("FR-1", "WX500600")])
            },
            NodeSpec::member("BE", vec![walther("BE-1", "WX700800")]),
        ],
        |n| {
            // BE's seed is replaced after `init` printed the key the
            // roster lists: its filters state another key.
            if n.state == "BE" {
                std::fs::write(n.dir.join("oprf.key"), [0x5a; 32]).unwrap();
            }
        },
    );
    fed.wait_subscribed(
        "NG",
        "tracenet/1/prefix/DE/CARLWALTHER",
        &["DE", "FR", "BE"],
    );
    let sent = trace_walther(fed.node("NG"), SERIAL, &["--blind"]);
    let id = sent["id"].as_str().unwrap().to_string();
    let t = wait_for("the blind outcomes", Duration::from_secs(60), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        (holder(&t, &fed, "DE")["outcome"] == "hit"
            && holder(&t, &fed, "FR")["outcome"] == "no_filter"
            && holder(&t, &fed, "BE")["outcome"] == "failed")
            .then_some(t)
    });
    let (fr, be) = (holder(&t, &fed, "FR"), holder(&t, &fed, "BE"));
    assert!(
        fr["detail"]
            .as_str()
            .unwrap()
            .contains("the roster lists no OPRF key for it"),
        "{t:#}"
    );
    assert_eq!(fr["elements"], 0, "FR was not asked blind");
    assert!(
        be["detail"]
            .as_str()
            .unwrap()
            .contains("oprf_key_not_in_roster"),
        "{t:#}"
    );
    assert_eq!(be["elements"], 0, "BE evaluated nothing");
    for s in ["FR", "BE"] {
        assert_eq!(holder(&t, &fed, s)["received_marking"], false, "{s}");
        let audit = fed.node(s).cli(&["--json", "audit", "show"]);
        assert!(!audit.contains("blind_evaluation"), "{s}'s audit: {audit}");
        for (path, bytes) in files(&fed.node(s).dir) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(SERIAL),
                "the marking is in {}",
                path.display()
            );
        }
    }
    let text = fed.node("NG").cli(&["trace", "show", &id]);
    assert!(
        text.contains(&format!("tracenet trace send-clear {id}")),
        "{text}"
    );
    assert!(fed.node("NG").log().contains("oprf_key_not_in_roster"));
    assert!(
        fed.node("FR")
            .log()
            .contains("the roster lists no OPRF key for this node")
    );
    assert!(
        fed.node("BE")
            .log()
            .contains("the roster lists another OPRF key for this node")
    );
    // `status` says how the roster lists each node's key.
    for (s, listed) in [("DE", "listed"), ("FR", "not_listed"), ("BE", "different")] {
        let st = fed.node(s).json(&["status"]);
        assert_eq!(st["oprf_key_in_roster"], listed, "{s}: {st:#}");
    }
    assert!(
        fed.node("FR")
            .cli(&["status"])
            .contains("the roster lists no OPRF key for this node")
    );
    // `identity show` prints the key the node uses: BE's is not the roster's.
    let be_id = fed.node("BE").json(&["identity", "show"]);
    assert_ne!(be_id["oprf_key"], fed.node("BE").oprf_key.as_str());
    let de_id = fed.node("DE").json(&["identity", "show"]);
    assert_eq!(de_id["oprf_key"], fed.node("DE").oprf_key.as_str());

    // Naming a State that awaits no choice sends nothing.
    let o = common::run(
        &fed.node("NG").dir,
        &["trace", "send-clear", &id, "--state", "DE"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("DE does not await your choice"),
        "{}",
        common::stderr(&o)
    );

    // Version 2 lists FR's key and BE's new one; once it has spread,
    // `trace retry` asks both blind: no hit, and still no marking.
    fed.node_mut("BE").oprf_key = be_id["oprf_key"].as_str().unwrap().to_string();
    let f = fed.node("NG").dir.join("roster-v2.json");
    std::fs::write(&f, fed.roster_without(&["NG", "DE", "FR", "BE"], 2)).unwrap();
    let out = fed
        .node("NG")
        .json(&["roster", "install", f.to_str().unwrap()]);
    assert_eq!(out["installed"], true, "{out}");
    for s in ["FR", "BE"] {
        wait_for(
            &format!("{s} to hold roster 2 with its key"),
            Duration::from_secs(60),
            || (fed.node(s).json(&["status"])["oprf_key_in_roster"] == "listed").then_some(()),
        );
    }
    fed.node("NG").json(&["trace", "retry", &id]);
    let t = wait_for("FR and BE asked blind", Duration::from_secs(60), || {
        let t = fed.node("NG").json(&["trace", "show", &id]);
        (holder(&t, &fed, "FR")["outcome"] == "no_hit"
            && holder(&t, &fed, "BE")["outcome"] == "no_hit")
            .then_some(t)
    });
    for s in ["FR", "BE"] {
        let h = holder(&t, &fed, s);
        assert!(h["elements"].as_u64().unwrap() >= 1, "{s}: {t:#}");
        assert_eq!(h["received_marking"], false, "{s}");
        for (path, bytes) in files(&fed.node(s).dir) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(SERIAL),
                "the marking is in {}",
                path.display()
            );
        }
    }
    assert_eq!(t["status"], "answered", "nobody awaits the officer: {t:#}");
}

/// A member's blind requests that cost it nothing must cost the holder
/// nothing lasting either. ZA (played in process with its roster key) asks
/// DE, whose budget is 20 elements an hour:
/// - an evaluation of nothing is refused as malformed, counted against ZA,
///   and audited as no evaluation;
/// - past its budget, 300 refused batches add a few tallied audit entries,
///   not one each;
/// - a batch with an element that is not a ristretto255 element is refused
///   before it is audited as an evaluation;
/// - ZA's malformed requests cool it down like any other hostile frame;
/// - a bootstrap peer, which speaks for no State, is not evaluated for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_free_blind_requests_do_not_grow_the_holders_audit() {
    use tracenet::blind::Blinded;
    use tracenet::protocol::blind::{BlindReply, BlindRequest};
    use tracenet::protocol::codec::{Kind, encode_body, peek_kind};
    use tracenet::protocol::{Limits, Refusal, Reply};

    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: "blind_evaluations_per_hour = 20",
            ..NodeSpec::member("DE", vec![walther("DE-1", SERIAL)])
        },
        NodeSpec::member("ZA", Vec::new()),
        NodeSpec::bootstrap("BE"),
    ]);
    fed.node_mut("ZA").kill();
    fed.node_mut("BE").kill();
    let de = fed.node("DE");
    let za = Peer::connect(&fed.node("ZA").dir, de).await;
    // What DE answers: its blind reply, or the refusal of a frame it did
    // not decode (a peer cooling down); `None` when it closed the link.
    let ask_or_closed = |r: BlindRequest| {
        // Encoded as a hostile peer would, past the request's own checks.
        let bytes = encode_body(Kind::BlindRequest, &r).unwrap();
        let net = za.net.clone();
        let target = za.target;
        async move {
            let reply = net.request(target, bytes).await.ok()?;
            Some(match peek_kind(&reply).unwrap() {
                Kind::BlindReply => Ok(BlindReply::decode(&reply, Limits::default()).unwrap()),
                _ => Err(Reply::decode(&reply, Limits::default()).unwrap()),
            })
        }
    };
    let ask = |r: BlindRequest| {
        let f = ask_or_closed(r);
        async move { f.await.expect("DE closed the link") }
    };
    let count = |kind: &str| {
        de.json(&["audit", "show"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .count()
    };
    let entries = || de.json(&["audit", "show"]).as_array().unwrap().len();

    // Within its budget, a real batch is evaluated and audited.
    let good = Blinded::new(vec![b"one".to_vec(), b"two".to_vec()]).unwrap();
    let r = ask(BlindRequest::Evaluate {
        elements: good.elements.clone(),
    })
    .await;
    assert!(matches!(r, Ok(BlindReply::Evaluated { .. })), "{r:?}");
    assert_eq!(count("blind_evaluation"), 1);

    // A batch with a bad element: refused, never audited as an evaluation.
    let mut bad = good.elements.clone();
    bad[1] = [0xff; 32];
    let r = ask(BlindRequest::Evaluate { elements: bad }).await;
    assert_eq!(
        r.unwrap(),
        BlindReply::refused(Refusal::Malformed),
        "a bad element"
    );
    assert_eq!(count("blind_evaluation"), 1);

    // The rest of the budget spent (2 + 2 + 16 = 20), then 300 batches over it.
    let r = ask(BlindRequest::Evaluate {
        elements: vec![good.elements[0]; 16],
    })
    .await;
    assert!(matches!(r, Ok(BlindReply::Evaluated { .. })), "{r:?}");
    let before = entries();
    for _ in 0..300 {
        let r = ask(BlindRequest::Evaluate {
            elements: vec![good.elements[0]; 1],
        })
        .await;
        assert!(
            matches!(
                r,
                Ok(BlindReply::Refused {
                    refusal: Refusal::RateLimited,
                    retry_after_secs: 1..
                })
            ),
            "{r:?}"
        );
    }
    let refused = count("blind_refused");
    assert!(
        (1..=4).contains(&refused),
        "300 refusals over the budget gave {refused} blind_refused entries"
    );
    assert!(
        entries() - before <= 8,
        "300 refusals over the budget added {} audit entries",
        entries() - before
    );
    assert_eq!(count("blind_evaluation"), 2);

    // Evaluations of nothing: malformed, each a strike, until ZA cools down.
    let before = entries();
    let mut cooled = false;
    for i in 0..80 {
        match ask_or_closed(BlindRequest::Evaluate { elements: vec![] }).await {
            Some(Ok(r)) => assert_eq!(r, BlindReply::refused(Refusal::Malformed), "request {i}"),
            // Disconnected, or refused undecoded: cooling down.
            None | Some(Err(Reply::Refused(Refusal::CoolingDown))) => {
                assert!(i >= 40, "cooled down after {i} requests");
                cooled = true;
                break;
            }
            Some(Err(other)) => panic!("request {i}: {other:?}"),
        }
    }
    assert!(cooled, "80 evaluations of nothing never cooled ZA down");

    // The bootstrap peer's key is in the roster, but for no State.
    let be = Peer::connect(&fed.node("BE").dir, de).await;
    let bytes = encode_body(
        Kind::BlindRequest,
        &BlindRequest::Evaluate {
            elements: good.elements.clone(),
        },
    )
    .unwrap();
    let reply = be.net.request(be.target, bytes).await.unwrap();
    assert_eq!(
        BlindReply::decode(&reply, Limits::default()).unwrap(),
        BlindReply::refused(Refusal::NotAMember)
    );
    assert_eq!(count("blind_evaluation"), 2);
    assert!(
        entries() - before <= 8,
        "the malformed requests added {} audit entries",
        entries() - before
    );
}

/// ZA played in process with its roster and OPRF keys (its process
/// stopped): it serves NG a filter of `keys` keys under the Walther prefix,
/// counts the chunks it serves, and evaluates only while `evaluates` is set
/// (refusing otherwise, with no time to come back).
struct InProcessHolder {
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    evaluates: std::sync::Arc<std::sync::atomic::AtomicBool>,
    chunks: usize,
    _net: tracenet::net::NetHandle,
}

async fn walther_holder_in_process(fed: &mut Federation, keys: u64) -> InProcessHolder {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tracenet::blind::{BlindedBatch, build_filter};
    use tracenet::identity::NodeKey;
    use tracenet::net::{self, NetConfig, NetEvent, Topic};
    use tracenet::protocol::blind::{BlindReply, BlindRequest};
    use tracenet::protocol::{Limits, Party, Refusal};

    fed.node_mut("ZA").kill();
    let ng = fed.node("NG");
    let za_dir = fed.node("ZA").dir.clone();
    let key = Arc::new(NodeKey::load(&tracenet::identity::key_path(&za_dir)).unwrap());
    let (oprf, _) =
        tracenet::blind::load_or_create_key(&za_dir.join(tracenet::blind::OPRF_KEY_FILE)).unwrap();
    let oprf = Arc::new(oprf);
    let built = build_filter((0..keys).collect()).unwrap();
    let chunks = Arc::new(built.chunks.clone());
    let served = Arc::new(AtomicUsize::new(0));
    let evaluates = Arc::new(AtomicBool::new(false));
    let (handle, mut events) = net::spawn(key.libp2p_keypair(), NetConfig::default()).unwrap();
    {
        let (handle, key, oprf) = (handle.clone(), key.clone(), oprf.clone());
        let (served, evaluates, chunks) = (served.clone(), evaluates.clone(), chunks.clone());
        let built = built.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let NetEvent::Request { id, data, .. } = e else {
                    continue;
                };
                let reply = match BlindRequest::decode(&data, Limits::default()) {
                    // A trace's other routes (the maker's aliases): nothing.
                    Ok(BlindRequest::Filter { prefix })
                        if prefix.to_string() != "DE/CARLWALTHER" =>
                    {
                        BlindReply::NoFilter
                    }
                    Ok(BlindRequest::Filter { prefix }) => {
                        let holder = Party {
                            state: tracenet::model::CountryCode::parse("ZA").unwrap(),
                            key: key.public_key(),
                        };
                        let h = built.header(holder, prefix, 1, oprf.public_key(), String::new());
                        BlindReply::Filter(key.sign(h).unwrap().into_parts().0)
                    }
                    Ok(BlindRequest::Chunk { index, .. }) => {
                        served.fetch_add(1, Ordering::SeqCst);
                        BlindReply::Chunk(chunks[index as usize].clone())
                    }
                    Ok(BlindRequest::Evaluate { elements }) if evaluates.load(Ordering::SeqCst) => {
                        let batch = BlindedBatch::check(&elements).unwrap();
                        let (elements, proof) = oprf.blind_evaluate(&batch).unwrap();
                        BlindReply::Evaluated { elements, proof }
                    }
                    Ok(BlindRequest::Evaluate { .. }) | Err(_) => {
                        BlindReply::refused(Refusal::Internal)
                    }
                };
                let _ = handle.respond(id, reply.encode()).await;
            }
        });
    }
    let topic: Topic = "tracenet/1/prefix/DE/CARLWALTHER".parse().unwrap();
    handle.set_topics([topic.clone()].into()).await.unwrap();
    let target: libp2p::PeerId = ng.peer_id.parse().unwrap();
    handle
        .set_members(
            std::collections::HashMap::from([(
                target,
                vec![format!("/ip4/127.0.0.1/tcp/{}", ng.port).parse().unwrap()],
            )]),
            Default::default(),
            None,
        )
        .await
        .unwrap();
    fed.wait_subscribed("NG", &topic.to_string(), &["ZA"]);
    InProcessHolder {
        served,
        evaluates,
        chunks: chunks.len(),
        _net: handle,
    }
}

/// A requester keeps a holder's filter only once an evaluation against it
/// succeeded (SECURITY.md, blind traces, 3). ZA, played in process with its
/// roster and OPRF keys, serves a filter of the Walther prefix and counts
/// the chunks NG fetches: while ZA refuses to evaluate, every blind trace
/// fetches the filter again (nothing was kept); once it evaluates, the
/// next trace fetches it once more and the one after not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_is_kept_only_after_an_evaluation_succeeds() {
    use std::sync::atomic::Ordering;

    let mut fed = Federation::start(vec![
        NodeSpec::member("NG", Vec::new()),
        NodeSpec::member("ZA", Vec::new()),
    ]);
    let za = walther_holder_in_process(&mut fed, 40_000).await;
    let (served, evaluates) = (za.served.clone(), za.evaluates.clone());
    let n = za.chunks;
    // One blind trace, and the chunks ZA has served once NG settled ZA.
    let trace = |serial: &str| {
        let t = trace_walther(fed.node("NG"), serial, &["--blind"]);
        let id = t["id"].as_str().unwrap().to_string();
        wait_for("NG's outcome for ZA", Duration::from_secs(60), || {
            let t = fed.node("NG").json(&["trace", "show", &id]);
            let h = holder(&t, &fed, "ZA").clone();
            (h["outcome"] != "pending").then_some(h["outcome"].clone())
        })
    };
    for (i, serial) in ["WX100001", "WX100002"].iter().enumerate() {
        assert_eq!(trace(serial), "refused");
        assert_eq!(served.load(Ordering::SeqCst), (i + 1) * n, "nothing kept");
    }
    evaluates.store(true, Ordering::SeqCst);
    assert_eq!(trace("WX100003"), "no_hit");
    assert_eq!(served.load(Ordering::SeqCst), 3 * n);
    assert_eq!(trace("WX100004"), "no_hit");
    assert_eq!(
        served.load(Ordering::SeqCst),
        3 * n,
        "kept after it evaluated"
    );
}

/// A holder's filter keeps its version while what it is made of is the
/// same: an import of another maker's records, or of records it holds
/// already, does not make every requester fetch the filter again. An import
/// under its prefix does. ZA (played in process with its roster key) asks
/// DE for its Walther filter's header after each import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_that_changes_nothing_under_a_prefix_keeps_its_filter_version() {
    use tracenet::protocol::blind::{BlindReply, BlindRequest, FilterHeader};
    use tracenet::protocol::codec::{Kind, encode_body};
    use tracenet::protocol::{Limits, decode_and_verify};

    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", vec![walther("DE-1", SERIAL)]),
        NodeSpec::member("ZA", Vec::new()),
    ]);
    fed.node_mut("ZA").kill();
    let de = fed.node("DE");
    let za = Peer::connect(&fed.node("ZA").dir, de).await;
    let version = || {
        let bytes = encode_body(
            Kind::BlindRequest,
            &BlindRequest::Filter {
                prefix: "DE/CARLWALTHER".parse().unwrap(),
            },
        )
        .unwrap();
        let (net, target) = (za.net.clone(), za.target);
        async move {
            let reply = net.request(target, bytes).await.unwrap();
            let BlindReply::Filter(frame) = BlindReply::decode(&reply, Limits::default()).unwrap()
            else {
                panic!("no filter served");
            };
            let header = decode_and_verify::<FilterHeader>(&frame, Limits::default())
                .unwrap()
                .into_parts()
                .1;
            (header.version, header.keys)
        }
    };
    let import = |name: &str, lines: String| {
        let f = de.dir.join(name);
        std::fs::write(&f, lines).unwrap();
        de.cli(&["registry", "import", path_str(&f)]);
    };
    let (first, keys) = version().await;
    assert_eq!(keys, 1);
    import(
        "other-maker.jsonl",
        record(
            "DE-9",
            "Norinco",
            "CN",
            "56001",
            &[],
            r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#,
        ),
    );
    import("same-again.jsonl", walther("DE-1", SERIAL));
    assert_eq!(
        version().await,
        (first, 1),
        "rebuilt after two imports that changed nothing under the prefix"
    );
    import("one-more.jsonl", walther("DE-2", "WX500600"));
    let (after, keys) = version().await;
    assert!(
        after > first,
        "a new key, a new version: {after} after {first}"
    );
    assert_eq!(keys, 2);
}

/// Filter headers and chunks are free to ask for and cost the holder up to
/// 32,000 bytes each: DE serves a requesting State at most
/// `node.blind_chunks_mib_per_hour` of them (here the least, 32 MiB, each
/// reply counted as a full 32 KiB chunk: 1,024 replies), then refuses it
/// `rate_limited` with when to come back, tallied in its audit, while
/// another State is served as before (SECURITY.md, holes closed, 17).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_asking_for_filter_chunks_without_end_is_refused_past_its_hourly_bytes() {
    use tracenet::protocol::blind::{BlindReply, BlindRequest, FilterHeader};
    use tracenet::protocol::codec::{Kind, encode_body};
    use tracenet::protocol::{Limits, Refusal, decode_and_verify};

    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: "blind_chunks_mib_per_hour = 32",
            ..NodeSpec::member("DE", vec![walther("DE-1", SERIAL)])
        },
        NodeSpec::member("ZA", Vec::new()),
        NodeSpec::member("NG", Vec::new()),
    ]);
    fed.node_mut("ZA").kill();
    fed.node_mut("NG").kill();
    let de = fed.node("DE");
    let za = Peer::connect(&fed.node("ZA").dir, de).await;
    let ng = Peer::connect(&fed.node("NG").dir, de).await;
    let ask = |p: &Peer, r: BlindRequest| {
        let bytes = encode_body(Kind::BlindRequest, &r).unwrap();
        let (net, target) = (p.net.clone(), p.target);
        async move {
            let reply = net.request(target, bytes).await.unwrap();
            BlindReply::decode(&reply, Limits::default()).unwrap()
        }
    };
    let prefix: tracenet::marking::MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
    let BlindReply::Filter(frame) = ask(
        &za,
        BlindRequest::Filter {
            prefix: prefix.clone(),
        },
    )
    .await
    else {
        panic!("no filter served");
    };
    let header = decode_and_verify::<FilterHeader>(&frame, Limits::default())
        .unwrap()
        .into_parts()
        .1;
    let chunk = BlindRequest::Chunk {
        prefix,
        version: header.version,
        index: 0,
    };
    // The header took one reply's share; then chunks.
    let mut served = 0;
    let refused = loop {
        match ask(&za, chunk.clone()).await {
            BlindReply::Chunk(_) => served += 1,
            other => break other,
        }
        assert!(served <= 1023, "more than 32 MiB served in an hour");
    };
    assert_eq!(
        served, 1023,
        "32 MiB of 32 KiB replies, the header included"
    );
    assert!(
        matches!(
            refused,
            BlindReply::Refused {
                refusal: Refusal::RateLimited,
                retry_after_secs: 1..
            }
        ),
        "{refused:?}"
    );
    for _ in 0..50 {
        assert!(matches!(
            ask(&za, chunk.clone()).await,
            BlindReply::Refused { .. }
        ));
    }
    assert!(
        matches!(ask(&ng, chunk.clone()).await, BlindReply::Chunk(_)),
        "another State is served from its own bytes"
    );
    let audit = de.json(&["audit", "show"]);
    let tallied = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "blind_refused")
        .count();
    assert!(
        (1..=4).contains(&tallied),
        "51 refusals gave {tallied} blind_refused entries"
    );
}

/// A holder that serves a large filter and refuses to evaluate cannot have
/// every probe fetch it whole again (SECURITY.md, holes closed, 17): NG,
/// allowed `node.blind_fetch_mib_per_hour = 1`, fetches ZA's filter of
/// 600,000 keys (1.2 MB, more than the bucket: it takes all of it) for one
/// blind trace, and for the next fetches nothing and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_refusing_to_evaluate_has_its_filter_fetched_within_the_hourly_bytes() {
    use std::sync::atomic::Ordering;

    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: "blind_fetch_mib_per_hour = 1",
            ..NodeSpec::member("NG", Vec::new())
        },
        NodeSpec::member("ZA", Vec::new()),
    ]);
    let za = walther_holder_in_process(&mut fed, 600_000).await;
    let settle = |serial: &str| {
        let t = trace_walther(fed.node("NG"), serial, &["--blind"]);
        let id = t["id"].as_str().unwrap().to_string();
        wait_for("NG's outcome for ZA", Duration::from_secs(60), || {
            let t = fed.node("NG").json(&["trace", "show", &id]);
            let h = holder(&t, &fed, "ZA").clone();
            (h["outcome"] != "pending").then_some(h)
        })
    };
    let first = settle("WX100001");
    assert_eq!(first["outcome"], "refused", "{first:#}");
    assert_eq!(za.served.load(Ordering::SeqCst), za.chunks, "fetched once");
    let second = settle("WX100002");
    assert_eq!(second["outcome"], "failed", "{second:#}");
    assert!(
        second["detail"]
            .as_str()
            .is_some_and(|d| d.contains("node.blind_fetch_mib_per_hour")),
        "{second:#}"
    );
    assert_eq!(
        za.served.load(Ordering::SeqCst),
        za.chunks,
        "not fetched again"
    );
}
