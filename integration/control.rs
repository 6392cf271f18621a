//! National control end to end: disclosure policy, human review through the
//! inbox (surviving kill -9), alerts for lost and stolen weapons, the audit
//! chain, and canaries in every national-only field that must never be found
//! on another node.

mod common;
mod fed;

use std::time::Duration;

use fed::*;
use serde_json::Value;

const OTHER: &str = r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#;

/// A record whose national-only fields carry canaries naming its holder:
/// `REF-CANARY-DE-1`, `NOTE-CANARY-DE-1`.
fn rec(id: &str, serial: &str, confidential: bool, events: &str, _: &str) -> String {
    let events = events.replace("CANARY", &format!("CANARY-{id}"));
    format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":"Walther","country":"DE","serial":"{serial}"}},"category":"pistol","confidential":{confidential},"events":[{events}]}}"#
    )
}

fn events(holder: &str) -> String {
    format!(
        r#"{{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer","reference":"REF-CANARY"}},{{"date":"2019-07-30","kind":"stolen","holder":"{holder}","note":"NOTE-CANARY"}}"#
    )
}

fn specs() -> Vec<NodeSpec> {
    vec![
        NodeSpec::bootstrap("BE"),
        NodeSpec {
            // At most three of a State's requests wait for a person.
            node_config: "max_reviews_waiting_per_state = 3",
            ..NodeSpec::member(
                "DE",
                vec![
                    rec("DE-1", "RV100", false, &events("state_police"), "DE1"),
                    rec("DE-2", "RV200", false, &events("state_police"), "DE2"),
                    rec("DE-3", "CF300", true, &events("state_military"), "DE3"),
                ],
            )
        },
        NodeSpec {
            // Signs its audit head every second while it runs.
            node_config: "audit_sign_every_secs = 1",
            ..NodeSpec::member(
                "NG",
                vec![rec("NG-1", "DS400", false, &events("state_police"), "NG1")],
            )
        },
        NodeSpec::member(
            "FR",
            vec![
                rec("FR-1", "SL500", true, &events("licensed_civilian"), "FR1"),
                rec("FR-2", "SL510", false, OTHER, "FR2"),
            ],
        ),
        NodeSpec::member("KE", vec![rec("KE-1", "ZZ900", false, OTHER, "KE1")]),
        NodeSpec {
            state: "SN",
            bootstrap: false,
            records: vec![rec("SN-1", "ZZ901", false, OTHER, "SN1")],
            in_roster: true,
            // Its traces live two seconds: reviewed too late, they cannot be answered.
            node_config: "trace_ttl_secs = 2",
            prefixes: &[],
            oprf_key_listed: true,
        },
    ]
}

fn write_policy(n: &FedNode, text: &str) {
    std::fs::write(n.dir.join("policy.toml"), text).unwrap();
}

fn trace(n: &FedNode, serial: &str, extra: &[&str]) -> Value {
    trace_walther(n, serial, extra)
}

fn outcome_of(t: &Value, state: &str) -> Option<Value> {
    t["answers"]
        .as_array()?
        .iter()
        .rev()
        .find(|a| a["state"] == state)
        .map(|a| a["outcome"].clone())
}

fn pending(n: &FedNode) -> Vec<Value> {
    let items = n.json(&["inbox"]);
    items
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"]["state"] == "pending")
        .cloned()
        .collect()
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

#[test]
fn policy_review_alerts_audit_and_canaries() {
    let mut fed = Federation::start_with(specs(), |n| match n.state {
        "DE" => write_policy(n, "[review]\nurgent = true\nconfidential = true\n"),
        "NG" => write_policy(n, "[[override]]\nrequester = \"KE\"\ndisclose = \"year\"\n"),
        "FR" => write_policy(n, "confidential = \"silent\"\n"),
        _ => {}
    });
    let topic = "tracenet/1/prefix/DE/CARLWALTHER";
    fed.wait_subscribed("KE", topic, &["DE", "NG", "FR", "SN"]);
    fed.wait_subscribed("SN", topic, &["DE"]);
    let mut api_outputs = Vec::new();

    // Disclosure per requester: NG gives KE dates to the year only.
    let t = trace(
        fed.node("KE"),
        "DS400",
        &[
            "--wait",
            "20",
            "--case",
            "CASE-CANARY-KE",
            "--note",
            "CASENOTE-CANARY-KE",
        ],
    );
    let ng = outcome_of(&t, "NG").expect("NG answers");
    let dates: Vec<&str> = ng["hit"]["candidates"][0]["record"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["date"].as_str().unwrap())
        .collect();
    // Shown as the years they are, never as a first of January (issue 13).
    assert_eq!(dates, vec!["2011", "2019"], "{ng:#}");
    api_outputs.push(t.to_string());

    // NG signs its audit head every second while it runs.
    let ng_node = fed.node("NG");
    wait_for(
        "NG's periodic signed audit head",
        Duration::from_secs(20),
        || {
            let v = ng_node.json(&["audit", "verify"]);
            (v["ok"] == true && v["signed_through"].is_u64()).then_some(())
        },
    );

    // A hit on a weapon NG holds as stolen raises an alert there.
    let alerts = fed.node("NG").json(&["alerts"]);
    assert!(
        alerts.to_string().contains("NG-1") && alerts.to_string().contains(r#""KE""#),
        "{alerts}"
    );

    // A confidential record under a silent policy: FR does not answer at all.
    let t = trace(fed.node("KE"), "SL500", &["--wait", "20", "--timeout", "3"]);
    assert!(outcome_of(&t, "FR").is_none(), "{t:#}");
    assert!(t["asked"].to_string().contains("\"FR\""), "{t:#}");
    // The others answered no_hit; FR's silence leaves the trace partial.
    assert_eq!(t["status"], "partial", "{t:#}");
    // Nor does anything else tell KE of it. A wildcard matching it and
    // FR's public SL510 is answered with SL510 alone (the whole answer was
    // silent before, which told of it; and a wildcard's count counted it).
    let t = trace(
        fed.node("KE"),
        "SL5?0",
        &["--wait", "20", "--timeout", "3", "--blind=false"],
    );
    let fr = outcome_of(&t, "FR").unwrap_or_else(|| panic!("FR answers SL5?0: {t:#}"));
    let serials: Vec<&str> = fr["hit"]["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("{fr:#}"))
        .iter()
        .map(|c| c["record"]["marking"]["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["SL510"], "{fr:#}");
    // DE holds a confidential record under the prefix (CF300) and nothing
    // public matching: withheld, as every wildcard matching nothing public
    // there is, whatever serial (SECURITY.md row 28); never to a person,
    // though DE reviews confidential matches.
    let de = outcome_of(&t, "DE").unwrap_or_else(|| panic!("DE answers SL5?0: {t:#}"));
    assert_eq!(de["withheld"]["reason"], "national_law", "{de:#}");
    assert!(pending(fed.node("DE")).is_empty());
    // KE's chain says so: DE withheld its answer to the pattern, which does
    // not say that DE holds the weapon.
    let gaps = t["custody"]["gaps"].as_array().unwrap();
    assert!(
        gaps.iter()
            .any(|g| g["kind"] == "withheld" && g["state"] == "DE" && g["pattern"] == true),
        "{t:#}"
    );
    // A blind trace finds SL510 in FR's keyed filter, and not SL500 (which
    // FR's filter held before: KE learnt a hit, then silence).
    for (serial, expected) in [("SL510", "hit"), ("SL500", "no_hit")] {
        let sent = trace(fed.node("KE"), serial, &["--blind"]);
        let id = sent["id"].as_str().unwrap().to_string();
        let fr_peer = fed.node("FR").peer_id.clone();
        let ke = fed.node("KE");
        let h = wait_for(
            &format!("FR's blind outcome for {serial}"),
            Duration::from_secs(60),
            || {
                let t = ke.json(&["trace", "show", &id]);
                let h = t["blind"]["holders"]
                    .as_array()?
                    .iter()
                    .find(|h| h["peer"] == fr_peer.as_str())?
                    .clone();
                (!matches!(
                    h["outcome"].as_str(),
                    Some("pending" | "unreachable") | None
                ))
                .then_some(h)
            },
        );
        assert_eq!(h["outcome"], expected, "{serial}: {h:#}");
        assert_eq!(h["received_marking"], expected == "hit", "{serial}: {h:#}");
    }
    // And FR's own officer is told, when it checks its settings, what its
    // silence still tells with answer_no_hit on.
    let check = common::run(&fed.node("FR").dir, &["config", "check"]);
    assert!(check.status.success(), "{}", common::stderr(&check));
    assert!(
        common::stderr(&check)
            .contains("warning: confidential = \"silent\" with node.answer_no_hit = true"),
        "{}",
        common::stderr(&check)
    );

    // Urgent: DE acknowledges at once and a person decides; the item survives a
    // kill -9 at once after the acknowledgement, in a loop.
    let mut approved_id = None;
    for (round, serial) in ["RV100", "RV200", "CF300"].iter().enumerate() {
        let sent = trace(fed.node("KE"), serial, &["--urgent", "--timeout", "120"]);
        let id = sent["id"].as_str().unwrap().to_string();
        let ke = fed.node("KE");
        wait_for("DE's acknowledgement", Duration::from_secs(20), || {
            let t = ke.json(&["trace", "show", &id]);
            (outcome_of(&t, "DE")? == "acknowledged").then_some(())
        });
        let de = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
        fed.nodes[de].kill(); // SIGKILL
        fed.launch(de);
        let items = pending(fed.node("DE"));
        assert_eq!(items.len(), round + 1, "round {round}: {items:#?}");
        let audit = fed.node("DE").json(&["audit", "verify"]);
        assert_eq!(audit["ok"], true, "round {round}: {audit}");
        // The acknowledgement's audit entry was written before it left. (KE
        // delivers its waiting query again when DE reconnects, which DE
        // answers from the inbox, audited `answered_again`: not counted.)
        let acks = fed
            .node("DE")
            .json(&["audit", "show"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["outcome"] == "acknowledged" && e["rule"] != "answered_again")
            .count();
        assert_eq!(acks, round + 1, "round {round}");
        approved_id.get_or_insert(id);
    }
    fed.wait_subscribed("KE", topic, &["DE"]);
    // KE has three requests waiting at DE, as many as DE allows a State
    // (counted again from the store at each restart above): its next one
    // that would wait is refused quota_full, not final, and not put in the
    // inbox; another State's is not (SN's, below).
    let fourth = trace(fed.node("KE"), "RV100", &["--urgent", "--timeout", "120"]);
    let fourth_id = fourth["id"].as_str().unwrap().to_string();
    let ke = fed.node("KE");
    let refused = wait_for("DE's quota_full", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", &fourth_id]);
        let o = outcome_of(&t, "DE")?;
        o.get("refused").is_some().then_some(o)
    });
    assert_eq!(refused["refused"]["reason"], "quota_full", "{refused:#}");
    assert_eq!(pending(fed.node("DE")).len(), 3);
    assert_eq!(fed.node("DE").json(&["status"])["inbox_pending"], 3);
    // The API: every request waiting in one reply; all of them, a page at
    // a time.
    let api = |path: &str| {
        let (status, body) = common::http_get(&fed.node("DE").dir, path, true);
        let v = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
        (status, v)
    };
    let (status, waiting) = api("/v1/inbox?pending=true");
    assert_eq!(status, 200, "{waiting:#}");
    assert_eq!(waiting["items"].as_array().unwrap().len(), 3, "{waiting:#}");
    assert!(waiting["next"].is_null());
    let (_, first) = api("/v1/inbox?limit=2");
    assert_eq!(first["items"].as_array().unwrap().len(), 2, "{first:#}");
    let next = first["next"].as_str().expect("a second page");
    let (_, second) = api(&format!("/v1/inbox?limit=1000&cursor={next}"));
    assert!(second["next"].is_null(), "{second:#}");
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut paged = [ids(&first), ids(&second)].concat();
    let n = paged.len();
    paged.sort();
    paged.dedup();
    assert_eq!(paged.len(), n, "no request listed twice");
    assert!(
        ids(&waiting).iter().all(|id| paged.contains(id)),
        "every waiting request is in the pages"
    );
    for bad in ["pending=yes", "limit=0", "cursor=0"] {
        assert_eq!(api(&format!("/v1/inbox?{bad}")).0, 400, "{bad}");
    }
    let audit = fed.node("DE").cli(&["--json", "audit", "show"]);
    assert!(audit.contains("review_quota"), "{audit}");
    let items = pending(fed.node("DE"));
    assert!(
        items[0]["query"]["priority"] == "urgent"
            && items[0]["query"]["legal_ground"] == "seized_in_crime"
    );
    let item_id = |serial: &str| {
        items
            .iter()
            .find(|i| i["query"]["marking"]["serial"] == serial)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Approve one (after the restarts), refuse another.
    fed.node("DE").json(&[
        "inbox",
        "approve",
        &item_id("RV100"),
        "--disclose",
        "no_holders",
    ]);
    fed.node("DE").json(&[
        "inbox",
        "refuse",
        &item_id("RV200"),
        "--reason",
        "ongoing_investigation",
    ]);
    let ke = fed.node("KE");
    let t = wait_for("the approved answer", Duration::from_secs(20), || {
        let t = ke.json(&["trace", "show", approved_id.as_ref().unwrap()]);
        (outcome_of(&t, "DE")?.get("hit").is_some()).then_some(t)
    });
    let events = &outcome_of(&t, "DE").unwrap()["hit"]["candidates"][0]["record"]["events"];
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["holder"].is_null()),
        "{events}"
    );
    api_outputs.push(t.to_string());
    let all = ke.json(&["trace", "list"]).to_string();
    assert!(all.contains("ongoing_investigation"), "{all}");
    api_outputs.push(all);
    // Two decided: KE's fourth request, sent again, now waits its turn.
    ke.json(&["trace", "retry", &fourth_id]);
    wait_for(
        "DE's acknowledgement of the retry",
        Duration::from_secs(20),
        || {
            let t = ke.json(&["trace", "show", &fourth_id]);
            (outcome_of(&t, "DE")? == "acknowledged").then_some(())
        },
    );
    assert_eq!(pending(fed.node("DE")).len(), 2);
    assert_eq!(fed.node("DE").json(&["status"])["inbox_pending"], 2);
    let again = common::run(
        &fed.node("DE").dir,
        &["inbox", "approve", &item_id("RV100")],
    );
    assert!(
        common::stderr(&again).contains("already decided"),
        "{}",
        common::stderr(&again)
    );

    // Too late: SN's trace lives two seconds; DE's approval is refused clearly.
    // (A query lives at least as long as its trace waits: both two seconds.)
    trace(fed.node("SN"), "RV100", &["--urgent", "--timeout", "2"]);
    let de = fed.node("DE");
    let late = wait_for(
        "SN's request in DE's inbox",
        Duration::from_secs(20),
        || pending(de).into_iter().find(|i| i["requester"] == "SN"),
    );
    let deadline = common::secs(&late["deadline"]);
    wait_for("SN's time-to-live to pass", Duration::from_secs(10), || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (now > deadline).then_some(())
    });
    let o = common::run(&de.dir, &["inbox", "approve", late["id"].as_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("time-to-live"),
        "{}",
        common::stderr(&o)
    );

    // An urgent wildcard matching public RV100 and RV200 and confidential
    // CF300 waits for a person as urgent; approved, it discloses the public
    // two alone (it disclosed CF300 in full: a hostile member's review).
    let sent = trace(fed.node("SN"), "*00", &["--urgent", "--timeout", "120"]);
    let sn_trace = sent["id"].as_str().unwrap().to_string();
    let de = fed.node("DE");
    let item = wait_for(
        "SN's wildcard in DE's inbox",
        Duration::from_secs(20),
        || {
            pending(de)
                .into_iter()
                .find(|i| i["query"]["marking"]["serial"] == "*00")
        },
    );
    assert_eq!(item["reason"], "urgent", "{item:#}");
    de.cli(&["inbox", "approve", item["id"].as_str().unwrap()]);
    let sn = fed.node("SN");
    let hit = wait_for("DE's decision at SN", Duration::from_secs(20), || {
        let t = sn.json(&["trace", "show", &sn_trace]);
        outcome_of(&t, "DE").filter(|o| o.get("hit").is_some())
    });
    let serials: Vec<&str> = hit["hit"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["record"]["marking"]["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["RV100", "RV200"], "{hit:#}");

    // Evidence from KE carries neither national text nor KE's case notes.
    let ev = fed.node("KE").dir.join("evidence.json");
    fed.node("KE").cli(&[
        "trace",
        "export",
        approved_id.as_ref().unwrap(),
        path_str(&ev),
    ]);
    api_outputs.push(std::fs::read_to_string(&ev).unwrap());
    fed.node("KE").cli(&["verify", path_str(&ev)]);

    // Canaries: each node's national text stays in its own data directory.
    for n in &fed.nodes {
        n.signal("TERM");
    }
    // Every canary is `-CANARY-` followed by its owner's State code.
    let owners = |text: &str| -> Vec<String> {
        text.match_indices("-CANARY-")
            .filter_map(|(i, m)| text.get(i + m.len()..i + m.len() + 2).map(str::to_string))
            .collect()
    };
    for n in &fed.nodes {
        for (path, bytes) in files(&n.dir) {
            for owner in owners(&String::from_utf8_lossy(&bytes)) {
                assert_eq!(
                    owner,
                    n.state,
                    "{owner}'s national text found in {}",
                    path.display()
                );
            }
        }
    }
    for out in &api_outputs {
        for owner in owners(out) {
            assert_eq!(
                owner, "KE",
                "{owner}'s national text in KE's API output: {out}"
            );
        }
    }
    // KE's own case note is on KE only, and never in the evidence.
    let evidence = api_outputs.last().unwrap();
    assert!(owners(evidence).is_empty(), "{evidence}");
}

/// Past `node.audit_keep_in_store` entries, the oldest move to files in the
/// data directory's `audit-archive/` (at start and every 10 s after), so
/// that the store, and the node's memory, stop growing with its history; the
/// chain still verifies through them, and `audit show` still lists every
/// entry once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_audit_entries_move_to_the_archive_and_the_chain_still_verifies_through_it() {
    use tracenet::protocol::{Priority, Reply};
    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: "audit_keep_in_store = 1000\nqueries_per_minute = 100000",
            ..NodeSpec::member("DE", vec![rec("DE-1", "RV100", false, OTHER, "DE1")])
        },
        NodeSpec::member("NG", Vec::new()),
    ]);
    fed.node_mut("NG").kill();
    let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
    // 600 answered queries: 1,200 entries, past the 1,000 kept.
    for i in 0..600 {
        let q = signed_walther_query(&ng.key, "NG", &format!("RV{i:03}"), Priority::Routine);
        let reply = ng.net.request(ng.target, q).await.expect("DE replies");
        assert!(
            matches!(
                Reply::decode(&reply, Default::default()),
                Ok(Reply::Answer(_))
            ),
            "query {i}: {reply:?}"
        );
    }
    drop(ng);
    // Restarted, the node archives at once (it may have while it ran
    // too): at least the 200 entries past the 1,000 kept are in files.
    let de = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.nodes[de].kill();
    fed.launch(de);
    let dir = fed.node("DE").dir.join("audit-archive");
    // The archive's files, oldest first, with the entries each holds.
    let archive_files = || -> Vec<(std::path::PathBuf, usize)> {
        let mut f: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_else(|_| Vec::new())
            .into_iter()
            .filter(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        f.sort();
        f.into_iter()
            .map(|p| {
                let n = std::fs::read_to_string(&p)
                    .unwrap_or_default()
                    .lines()
                    .count();
                (p, n)
            })
            .collect()
    };
    // Until the store holds no more than the 1,000 (the whole log's entries
    // less those in files).
    let (listed, all_then) = wait_for("DE's audit archive", Duration::from_secs(60), || {
        let f = archive_files();
        let in_files = f.iter().map(|(_, n)| n).sum::<usize>();
        let verify = fed.node("DE").json(&["audit", "verify"]);
        let all = verify["entries"].as_u64()? as usize;
        (in_files >= 200 && all.saturating_sub(in_files) <= 1000).then_some((f, all))
    });
    // Each file holds a tenth of the 1,000 kept or more: the first move
    // takes what passed the 1,000 and a tenth more, each after a tenth.
    for (p, n) in &listed {
        assert!(*n >= 100, "{} holds {n}", p.display());
    }
    let files: Vec<std::path::PathBuf> = listed.iter().map(|(p, _)| p.clone()).collect();
    // The first file's entries: 0 to this, less one.
    let archived = listed[0].1;
    let verify = fed.node("DE").json(&["audit", "verify"]);
    assert_eq!(verify["ok"], true, "{verify}");
    let total = verify["entries"].as_u64().unwrap();
    assert!(total >= 1200, "{verify}");
    let shown = fed.node("DE").json(&["audit", "show"]);
    let seqs: Vec<u64> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..total).collect::<Vec<_>>());
    // The control API streams the same entries, in pieces, as one array and
    // as JSON Lines; the export writes them through it. The node may have
    // appended since (a signed head): what was shown comes first.
    let shown = shown.as_array().unwrap().clone();
    let (code, head, body) = common::http_get_with_head(&fed.node("DE").dir, "/v1/audit", true);
    assert_eq!(code, 200, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).expect("one JSON array");
    assert_eq!(listed[..shown.len()], shown[..]);
    let (code, head, body) =
        common::http_get_with_head(&fed.node("DE").dir, "/v1/audit/export", true);
    assert_eq!(code, 200, "{body}");
    let count: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("x-tracenet-audit-entries: "))
        .expect("the entries header")
        .trim()
        .parse()
        .unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // The header is read as the listing starts; the node may append after.
    assert!(
        lines.len() as u64 >= count,
        "{} lines, {count} in the header",
        lines.len()
    );
    assert_eq!(lines[..shown.len()], shown[..]);
    // HTTP/1.0 cannot tell a listing that ended from one cut off: the
    // streamed listings refuse it, saying so.
    for path in ["/v1/audit", "/v1/audit/export", "/v1/registry/export"] {
        use std::io::{Read, Write};
        let dir = &fed.node("DE").dir;
        let addr = std::fs::read_to_string(dir.join("api.addr")).unwrap();
        let token = std::fs::read_to_string(dir.join("api.token")).unwrap();
        let mut s = std::net::TcpStream::connect(addr.trim()).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.0\r\nAuthorization: Bearer {}\r\n\r\n",
            token.trim()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(
            reply.starts_with("HTTP/1.0 505") && reply.contains("send this request with HTTP/1.1"),
            "{path}: {reply}"
        );
    }
    // An officer's name is audited as the account holds it (trimmed), not
    // as sent: 70,000 spaces after it would make an entry no archive line
    // may hold.
    let padded = format!("amina{}", " ".repeat(70_000));
    let added = fed
        .node("DE")
        .json(&["officer", "add", &padded, "--role", "reviewer"]);
    assert_eq!(added["name"], "amina", "{added}");
    let audited = fed.node("DE").json(&["audit", "show"]);
    let last = audited
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "officer_changed");
    assert_eq!(last.expect("the officer's entry")["officer"], "amina");
    let exported = fed.node("DE").dir.join("exported.jsonl");
    fed.node("DE")
        .cli(&["audit", "export", exported.to_str().unwrap()]);
    let file: Vec<serde_json::Value> = std::fs::read_to_string(&exported)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(file[..shown.len()], shown[..]);
    // The store itself, read with the node stopped, keeps between half of
    // what it may hold and all of it, and what came since the wait above
    // (the node may have drained while the queries ran, and then have had
    // nothing to move since), from the entry after the last file's last.
    fed.nodes[de].kill();
    // With the node stopped, the CLI reads files and store itself.
    let offline = fed.node("DE").json(&["audit", "show"]);
    assert_eq!(offline.as_array().unwrap()[..shown.len()], shown[..]);
    let db = sled::open(fed.node("DE").dir.join("db")).unwrap();
    let store = db.open_tree("audit").unwrap();
    let (key, _) = store.first().unwrap().unwrap();
    let first = u64::from_be_bytes(key.as_ref().try_into().unwrap());
    let since = (first as usize + store.len()).saturating_sub(all_then);
    assert!(
        (500..=1000 + since).contains(&store.len()),
        "{} in the store, {since} entries since the wait",
        store.len()
    );
    let now_archived = archive_files();
    assert_eq!(
        first as usize,
        now_archived.iter().map(|(_, n)| n).sum::<usize>(),
        "{now_archived:?}"
    );
    // An archive file emptied: the listing goes on from the store, and
    // says which entries are missing.
    drop(store);
    drop(db);
    std::fs::write(&files[0], "").unwrap();
    let o = common::run(&fed.node("DE").dir, &["audit", "show"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: the audit log misses entries 0 to {} (",
            archived - 1
        )),
        "{err}"
    );
    // `--json audit verify` reports what is wrong with the archive as
    // breaks, in JSON, and exits 1: the emptied file; then a copy planted
    // over it, which stops the walk; then a file claiming entries past the
    // store, which the node refuses to open with.
    let verify_json = |what: &str| {
        let o = common::run(&fed.node("DE").dir, &["--json", "audit", "verify"]);
        let (out, err) = (common::stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{what}: {out} {err}");
        assert!(
            err.contains("audit verification failed at entry"),
            "{what}: {err}"
        );
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {out} {err}"));
        assert_eq!(v["ok"], false, "{what}: {v}");
        v
    };
    let v = verify_json("an emptied file");
    assert!(v["breaks"].to_string().contains("holds 0 lines"), "{v}");
    let copy = dir.join(format!("{:020}-{:020}.jsonl", 1, 2));
    std::fs::write(&copy, "planted\n").unwrap();
    // A break at `seq` naming `file`.
    let has_break = |v: &serde_json::Value, seq: u64, file: &std::path::Path| {
        let name = file.file_name().unwrap().to_str().unwrap();
        v["breaks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["seq"] == seq && b["problem"].as_str().unwrap().contains(name))
    };
    let v = verify_json("an overlapping copy");
    assert!(has_break(&v, 1, &copy), "{v}");
    std::fs::remove_file(&copy).unwrap();
    let past = dir.join(format!("{:020}-{:020}.jsonl", 900_000, 900_001));
    std::fs::write(&past, "planted\n").unwrap();
    let o = common::run(&fed.node("DE").dir, &["audit", "show"]);
    assert_eq!(o.status.code(), Some(1), "the node's own open refuses it");
    let v = verify_json("a file past the store");
    assert!(has_break(&v, 900_000, &past), "{v}");
    std::fs::remove_file(&past).unwrap();

    // The archive file removed: readers of a period, or of the log from a
    // day, read on past its entries, and now say so (a helper's trial found
    // they did without a word): the report in its JSON and on stderr, the
    // listing from a day on stderr, the API in a header.
    std::fs::remove_file(&files[0]).unwrap();
    let gone = format!("the audit log misses entries 0 to {}", archived - 1);
    let ranges = serde_json::json!([{"first": 0, "last": archived - 1}]);
    let check_report = |dir: &std::path::Path, how: &str| {
        let o = common::run(dir, &["--json", "report"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{how}: {err}");
        assert!(err.contains(&format!("warning: {gone}")), "{how}: {err}");
        let r: serde_json::Value = serde_json::from_str(&common::stdout(&o)).unwrap();
        assert_eq!(r["audit_entries_missing"], ranges, "{how}: {r}");
        let o = common::run(dir, &["audit", "show", "--since", "2000-01-01"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{how}: {err}");
        assert!(err.contains(&format!("warning: {gone}")), "{how}: {err}");
        let csv = common::ok(dir, &["report", "--csv"]);
        assert!(
            csv.contains(&format!("\naudit_entries_missing,0-{}\n", archived - 1)),
            "{how}: {csv}"
        );
    };
    check_report(&fed.node("DE").dir, "the node stopped");
    fed.launch(de);
    check_report(&fed.node("DE").dir, "through the node");
    let (code, head, _) =
        common::http_get_with_head(&fed.node("DE").dir, "/v1/audit?since=2000-01-01", true);
    assert_eq!(code, 200);
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains(&format!("x-tracenet-audit-missing: 0-{}", archived - 1))
            && head.contains("x-tracenet-audit-missing-gaps: 1"),
        "{head}"
    );
    // The count the listing announces is of the entries the log holds.
    let (_, body) = common::http_get(&fed.node("DE").dir, "/v1/audit", true);
    let listed = serde_json::from_str::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("x-tracenet-audit-entries: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the entries header");
    assert!(
        announced <= listed,
        "{announced} announced, {listed} listed"
    );
}

/// The control API's streamed listings wait for their clients on threads of
/// their own (`tracenet-list`), not on the bounded pool where the node
/// answers queries: nine exports whose clients read nothing hold four such
/// threads, the other five are refused (503, saying to try again), the node
/// answers meanwhile, and once the clients go a new export is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_whose_clients_read_nothing_do_not_stall_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tracenet::protocol::{Priority, Reply};
    // About 10 MB of export: more than the kernel buffers between a node and
    // a client whose receive buffer is 4 KiB, so that a listing waits.
    let records: Vec<String> = (0..30_000)
        .map(|i| {
            rec(
                &format!("DE-{i}"),
                &format!("RV{i:05}"),
                false,
                &events("state_police"),
                "",
            )
        })
        .collect();
    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: "queries_per_minute = 100000",
            ..NodeSpec::member("DE", records)
        },
        NodeSpec::member("NG", Vec::new()),
    ]);
    fed.node_mut("NG").kill();
    let dir = fed.node("DE").dir.clone();
    let addr: std::net::SocketAddr = std::fs::read_to_string(dir.join("api.addr"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let token = std::fs::read_to_string(dir.join("api.token"))
        .unwrap()
        .trim()
        .to_string();
    // An export whose client reads its head, then nothing.
    let mut held = Vec::new();
    let mut refused = 0;
    for i in 0..9 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        let mut c = s.connect(addr).await.unwrap();
        c.write_all(
            format!(
                "GET /v1/registry/export HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(30), c.read(&mut b))
                .await
                .unwrap_or_else(|_| panic!("export {i}: no reply's head in 30 s"))
                .unwrap();
            assert_eq!(n, 1, "export {i}: the node closed the connection");
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("HTTP/1.1 200") {
            held.push(c);
        } else {
            assert!(head.starts_with("HTTP/1.1 503"), "export {i}: {head}");
            let mut body = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&body).contains('}') {
                let n = tokio::time::timeout(Duration::from_secs(30), c.read(&mut buf))
                    .await
                    .expect("the refusal's body")
                    .unwrap();
                assert!(n > 0, "export {i}: the refusal's body was cut");
                body.extend_from_slice(&buf[..n]);
            }
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("try again when one has ended"), "{body}");
            refused += 1;
        }
    }
    assert_eq!((held.len(), refused), (4, 5), "four exports stream at once");
    // Each on a thread of its own, named so.
    let pid = fed.node("DE").child.as_ref().unwrap().id();
    let listing_threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "tracenet-list")
        })
        .count();
    assert_eq!(listing_threads, 4, "threads named for the listings");
    // The node answers as before, each query in one of its blocking threads.
    let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
    for i in 0..40 {
        let q = signed_walther_query(&ng.key, "NG", &format!("RV{i:05}"), Priority::Routine);
        let reply = tokio::time::timeout(Duration::from_secs(20), ng.net.request(ng.target, q))
            .await
            .unwrap_or_else(|_| panic!("query {i}: no answer in 20 s"))
            .expect("DE replies");
        assert!(
            matches!(
                Reply::decode(&reply, Default::default()),
                Ok(Reply::Answer(_))
            ),
            "query {i}: {reply:?}"
        );
    }
    // The clients go: their listings end, and a new export is whole.
    drop(held);
    let (count, lines) = tokio::task::spawn_blocking(move || {
        wait_for(
            "an export once the others ended",
            Duration::from_secs(30),
            || {
                let (code, head, body) =
                    common::http_get_with_head(&dir, "/v1/registry/export", true);
                (code == 200).then(|| {
                    let count: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("x-tracenet-records: "))
                        .expect("the records header")
                        .trim()
                        .parse()
                        .unwrap();
                    (count, body.lines().count())
                })
            },
        )
    })
    .await
    .unwrap();
    assert_eq!((count, lines), (30_000, 30_000));
}

/// A wildcard matching many weapons held as stolen raises at most 16
/// alerts at their holder, the last counting the rest, one log line for
/// them: one trace for the officer to look at, not one write and one line
/// per record.
#[test]
fn a_wildcard_matching_many_stolen_weapons_raises_sixteen_alerts_and_counts_the_rest() {
    let stolen: Vec<String> = (0..40)
        .map(|i| {
            rec(
                &format!("DE-{i:02}"),
                &format!("AB0{i:02}"),
                false,
                &events("state_police"),
                "",
            )
        })
        .collect();
    let fed = Federation::start(vec![
        NodeSpec::member("DE", stolen),
        NodeSpec::member("KE", vec![rec("KE-1", "ZZ900", false, OTHER, "KE1")]),
    ]);
    fed.wait_subscribed("KE", "tracenet/1/prefix/DE/CARLWALTHER", &["DE"]);
    let t = trace(fed.node("KE"), "AB0??", &["--wait", "20"]);
    let de = outcome_of(&t, "DE").unwrap_or_else(|| panic!("DE answers: {t:#}"));
    assert_eq!(de["too_many"]["count"], 40, "{de:#}");
    let node = fed.node("DE");
    let alerts = wait_for("DE's alerts", Duration::from_secs(20), || {
        let a = node.json(&["alerts"]);
        (a.as_array()?.len() >= 16).then_some(a)
    });
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 16, "{alerts:#?}");
    let more: Vec<u64> = alerts.iter().filter_map(|a| a["more"].as_u64()).collect();
    assert_eq!(more, [24], "{alerts:#?}");
    let text = node.cli(&["alerts"]);
    assert!(text.contains("and 24 more records"), "{text}");
    // A weapon only counted in `more` is raised when KE traces it itself
    // the same day (the mark of "alerted today" is for raised alerts only).
    assert!(!text.contains("DE-39"), "{text}");
    let t = trace(fed.node("KE"), "AB039", &["--wait", "20"]);
    assert!(
        outcome_of(&t, "DE").is_some_and(|o| o.get("hit").is_some()),
        "{t:#}"
    );
    let alerts = node.json(&["alerts"]);
    let ids: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["record_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 17, "{ids:?}");
    assert!(ids.contains(&"DE-39"), "{ids:?}");
    // `status` counts them as kept, without listing them.
    let status = node.json(&["status"]);
    assert_eq!(status["alerts"], 17, "{status:#}");
    assert_eq!(status["inbox_pending"], 0, "{status:#}");
    // The API lists them a page at a time, newest first (DE-39's is the
    // newest); the CLI follows the pages, or takes the N newest.
    let page = |path: &str| {
        let (status, body) = common::http_get(&node.dir, path, true);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let (status, first) = page("/v1/alerts?limit=10");
    assert_eq!(status, 200, "{first:#}");
    assert_eq!(first["alerts"].as_array().unwrap().len(), 10);
    assert_eq!(first["alerts"][0]["record_id"], "DE-39", "{first:#}");
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = page(&format!("/v1/alerts?limit=10&cursor={next}"));
    assert_eq!(second["alerts"].as_array().unwrap().len(), 7, "{second:#}");
    assert!(second["next"].is_null(), "{second:#}");
    let mut listed: Vec<String> = first["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["alerts"].as_array().unwrap())
        .map(|a| a["record_id"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    listed.dedup();
    assert_eq!(
        listed.len(),
        17,
        "the pages hold every alert once: {listed:?}"
    );
    // The 3 newest, listed oldest first: DE-39's last.
    let newest = node.json(&["alerts", "--limit", "3"]);
    let newest = newest.as_array().unwrap();
    assert_eq!(newest.len(), 3);
    assert_eq!(newest[2]["record_id"], "DE-39", "{newest:#?}");
    for bad in ["limit=0", "limit=1001", "cursor=zz"] {
        let (status, body) = common::http_get(&node.dir, &format!("/v1/alerts?{bad}"), true);
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
