//! The trust path as a hostile member would try it: a real holder node (DE),
//! and two members (NG, the requester, and ZA, a hostile member) played by
//! in-process libp2p peers holding their roster keys, so that the test can
//! send exactly the frames a hostile member would.

mod common;
mod fed;

use std::time::Duration;

use fed::{Federation, NodeSpec, Peer, record, wait_for};
use tracenet::identity::{self, NodeKey};
use tracenet::model::CountryCode;
use tracenet::protocol::{
    Limits, Outcome, Party, Priority, Refusal, Reply, TraceAnswer, decode_and_verify,
};

const EVENTS: &str = r#"{"kind":"manufactured","date":"2010-03-01","holder":"manufacturer"}"#;

/// A query for the Walther DE `serial`, signed by `requester` for `state`.
fn query(requester: &NodeKey, state: &str, serial: &str) -> Vec<u8> {
    query_with(requester, state, serial, Priority::Routine)
}

fn query_with(requester: &NodeKey, state: &str, serial: &str, priority: Priority) -> Vec<u8> {
    fed::signed_walther_query(requester, state, serial, priority)
}

fn hit(reply: &Reply) -> Vec<u8> {
    let Reply::Answer(frame) = reply else {
        panic!("expected an answer, got {reply:?}");
    };
    let a = decode_and_verify::<TraceAnswer>(frame, Limits::default()).unwrap();
    assert!(matches!(a.body().outcome, Outcome::Hit { .. }), "{a:?}");
    frame.clone()
}

fn audit_rules(n: &fed::FedNode) -> Vec<String> {
    n.json(&["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["rule"].as_str().map(str::to_string))
        .collect()
}

fn federation() -> Federation {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", vec![held]),
        NodeSpec::member("NG", Vec::new()),
        NodeSpec::member("ZA", Vec::new()),
    ]);
    // NG and ZA are played in process with their own roster keys.
    fed.node_mut("NG").kill();
    fed.node_mut("ZA").kill();
    fed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_sent_by_anyone_but_its_requester_changes_nothing_and_gets_nothing() {
    let fed = federation();
    let de = fed.node("DE");
    let ng = Peer::connect(&fed.node("NG").dir, de).await;
    let za = Peer::connect(&fed.node("ZA").dir, de).await;
    let q = query(&ng.key, "NG", "WP104233");

    // ZA presents NG's query first: refused, and nothing is remembered of it.
    assert_eq!(za.send(&q).await, Reply::Refused(Refusal::NotRequester));
    // So NG's own query is still answered (it was blocked before).
    let first = hit(&ng.send(&q).await);

    // ZA asks for the answer DE's policy decided for NG: refused, no answer.
    let r = za.send(&q).await;
    assert_eq!(r, Reply::Refused(Refusal::NotRequester));

    // NG's retry gets the same signed answer, audited like a fresh one.
    assert_eq!(hit(&ng.send(&q).await), first);
    assert!(audit_rules(de).iter().any(|r| r == "answered_again"));
    let received = de
        .json(&["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "query_received")
        .count();
    assert_eq!(received, 1, "the query was admitted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_answered_before_a_restart_is_a_replay_after_it() {
    let mut fed = federation();
    let (q, first) = {
        let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
        let q = query(&ng.key, "NG", "WP104233");
        let first = hit(&ng.send(&q).await);
        (q, first)
    };
    let i = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.node_mut("DE").kill();
    fed.launch(i);
    let de = fed.node("DE");
    let ng = Peer::connect(&fed.node("NG").dir, de).await;
    // Not answered a second time: the requester's retry gets the answer
    // given before the restart, the same signed bytes.
    assert_eq!(hit(&ng.send(&q).await), first);
    let digest = tracenet::protocol::Digest::of(&q).to_hex();
    let received = de
        .json(&["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "query_received" && e["query"] == digest.as_str())
        .count();
    assert_eq!(
        received, 1,
        "the query was admitted once, across the restart"
    );
    // ZA replaying it after the restart gets nothing.
    let za = Peer::connect(&fed.node("ZA").dir, de).await;
    assert_eq!(za.send(&q).await, Reply::Refused(Refusal::NotRequester));
    // A new query is answered as ever.
    hit(&ng.send(&query(&ng.key, "NG", "WP104233")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_fill_a_trace_with_answers() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", vec![held]),
        NodeSpec::member("NG", Vec::new()),
        NodeSpec::member("ZA", Vec::new()),
    ]);
    fed.node_mut("ZA").kill();
    let ng = fed.node("NG");
    let t = fed::trace_walther(ng, "WP104233", &["--wait", "20"]);
    let id = t["id"].as_str().unwrap().to_string();
    let (_, bundle) = common::http_get(&ng.dir, &format!("/v1/traces/{id}/evidence"), true);
    let bundle: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    use base64::Engine as _;
    let q = base64::engine::general_purpose::STANDARD
        .decode(bundle["query"].as_str().unwrap())
        .unwrap();
    let digest = tracenet::protocol::Digest::of(&q);
    let za = Peer::connect(&fed.node("ZA").dir, ng).await;
    let answer = |at: u64| {
        let a = TraceAnswer {
            query: digest,
            responder: Party {
                state: CountryCode::parse("ZA").unwrap(),
                key: za.key.public_key(),
            },
            answered_at: at,
            outcome: Outcome::NoHit,
            makers_version: Some(0),
        };
        za.key.sign(a).unwrap().into_parts().0
    };
    let now = tracenet::node::unix_now();
    let first = answer(now);
    assert_eq!(za.send(&first).await, Reply::Ok);
    // The same frame again is delivered already; any other is refused.
    assert_eq!(za.send(&first).await, Reply::Ok);
    for i in 1..20 {
        let r = za.send(&answer(now - i)).await;
        assert_eq!(r, Reply::Refused(Refusal::AlreadyAnswered));
    }
    let t = ng.json(&["trace", "show", &id]);
    let from_za = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "ZA")
        .count();
    assert_eq!(from_za, 1, "{t:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_garbage_frames_costs_a_few_audit_entries_and_cools_the_sender_down() {
    let fed = federation();
    let de = fed.node("DE");
    let before = de.json(&["audit", "show"]).as_array().unwrap().len();
    let za = Peer::connect(&fed.node("ZA").dir, de).await;
    let mut cooled = 0;
    for i in 0..2_000u32 {
        let mut junk = b"TRNT\x01\x02".to_vec();
        junk.extend_from_slice(&i.to_le_bytes());
        match za.net.request(za.target, junk).await {
            Ok(bytes) => match Reply::decode(&bytes, Limits::default()) {
                Ok(Reply::Refused(Refusal::CoolingDown)) => cooled += 1,
                Ok(Reply::Refused(_)) => {}
                other => panic!("garbage was not refused: {other:?}"),
            },
            // Disconnected when its standing ran out: the flood is over.
            Err(_) => break,
        }
    }
    // The first refusals are written at once, the rest as a tally.
    let after = wait_for("the refusal tally", Duration::from_secs(30), || {
        let a = de.json(&["audit", "show"]);
        let a = a.as_array().unwrap();
        a.iter()
            .any(|e| {
                e["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("count "))
            })
            .then_some(a.len())
    });
    assert!(
        after - before <= 10,
        "{} audit entries for a flood",
        after - before
    );
    let (_, metrics) = common::http_get(&de.dir, "/metrics", true);
    assert!(
        metrics.contains("tracenet_refusals_total{code=\"malformed\"}"),
        "{metrics}"
    );
    // Cut off by a disconnect, or answered `cooling_down` while reconnecting.
    assert!(
        cooled > 0 || metrics.contains("tracenet_peers_cooling_down 1"),
        "the flooding peer was never cooled down: {metrics}"
    );
    let named = format!(
        "tracenet_peer_cooling_down{{peer=\"{}\"}} 1",
        fed.node("ZA").peer_id
    );
    assert!(metrics.contains(&named), "{metrics}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

/// A tmpfs of `mib` MiB mounted for the test's life (needs root, as CI runs).
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_disk_full_a_holder_sends_no_answer_unrecorded_and_stops_saying_why() {
    if !is_root() {
        // Mounting needs root; CI runs as root, where a failed mount fails the test.
        eprintln!("SKIPPED: this test mounts a small tmpfs and needs root");
        return;
    }
    let disk = SmallDisk::mount(64).expect("mount a 64 MiB tmpfs as root");
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let disk_path = disk.path.clone();
    let mut fed = Federation::start_with(
        vec![
            NodeSpec {
                node_config: "queries_per_minute = 1000000",
                ..NodeSpec::member("DE", vec![held])
            },
            NodeSpec::member("NG", Vec::new()),
        ],
        move |n| {
            if n.state == "DE" {
                // DE's store lives on the small disk.
                let db = n.dir.join("db");
                let target = disk_path.join("db");
                let status = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(&db)
                    .arg(&target)
                    .status()
                    .unwrap();
                assert!(status.success());
                std::fs::remove_dir_all(&db).unwrap();
                std::os::unix::fs::symlink(&target, &db).unwrap();
            }
        },
    );
    fed.node_mut("NG").kill();
    let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
    // Answered while there is space.
    hit(&ng.send(&query(&ng.key, "NG", "WP104233")).await);
    let before = fed
        .node("DE")
        .json(&["audit", "show"])
        .as_array()
        .unwrap()
        .len();

    disk.fill();
    // Keep asking until the holder stops: every answer that leaves must be
    // one whose audit entry reached the disk.
    let mut delivered = Vec::new();
    for _ in 0..20_000 {
        let q = query(&ng.key, "NG", "WP104233");
        match ng.net.request(ng.target, q.clone()).await {
            Ok(bytes) => match Reply::decode(&bytes, Limits::default()) {
                Ok(Reply::Answer(_)) => delivered.push(tracenet::protocol::Digest::of(&q).to_hex()),
                Ok(Reply::Refused(Refusal::AuditUnavailable)) => {}
                other => panic!("unexpected reply with the disk full: {other:?}"),
            },
            Err(_) => break,
        }
    }
    let de = fed.node_mut("DE");
    let child = de.child.as_mut().unwrap();
    let status = wait_for("DE to stop", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    assert!(!status.success());
    let log = de.log();
    assert!(log.contains("cannot write the store"), "{log}");

    // Space back, started again: it answers, and every entry it showed is there.
    disk.free();
    let i = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.launch(i);
    let audit = fed.node("DE").json(&["audit", "show"]);
    let audit = audit.as_array().unwrap();
    assert!(
        audit.len() >= before,
        "audit entries were lost: {before} then {}",
        audit.len()
    );
    let sent: std::collections::HashSet<&str> = audit
        .iter()
        .filter(|e| e["kind"] == "answer_sent")
        .filter_map(|e| e["query"].as_str())
        .collect();
    for d in &delivered {
        assert!(
            sent.contains(d.as_str()),
            "answer to {d} left without its audit entry"
        );
    }
    let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
    hit(&ng.send(&query(&ng.key, "NG", "WP104233")).await);
    let v = fed.node("DE").cli(&["audit", "verify"]);
    assert!(!v.contains("BROKEN"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_not_delivered_reaches_the_requester_on_its_retry() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let mut fed = Federation::start_with(
        vec![
            NodeSpec::member("DE", vec![held]),
            NodeSpec::member("NG", Vec::new()),
        ],
        |n| {
            if n.state == "DE" {
                std::fs::write(n.dir.join("policy.toml"), "[review]\nurgent = true\n").unwrap();
            }
        },
    );
    fed.node_mut("NG").kill();
    let q = query_with(
        &NodeKey::load(&identity::key_path(&fed.node("NG").dir)).unwrap(),
        "NG",
        "WP104233",
        Priority::Urgent,
    );
    {
        let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
        let Reply::Answer(ack) = ng.send(&q).await else {
            panic!("no acknowledgement")
        };
        let ack = decode_and_verify::<TraceAnswer>(&ack, Limits::default()).unwrap();
        assert_eq!(ack.body().outcome, Outcome::Acknowledged);
        // NG goes away before DE's officer decides.
    }
    let item = &tracenet::protocol::Digest::of(&q).to_hex()[..16];
    let de = fed.node("DE");
    let o = common::run(&de.dir, &["inbox", "approve", item]);
    assert!(
        !o.status.success(),
        "delivery to a requester that is gone cannot succeed"
    );
    assert!(
        common::stderr(&o).contains("decision recorded"),
        "{}",
        common::stderr(&o)
    );
    // NG's retry gets the decision, not the old acknowledgement.
    let ng = Peer::connect(&fed.node("NG").dir, de).await;
    hit(&ng.send(&q).await);
    // And so after DE restarts (the decision is kept in the inbox item).
    drop(ng);
    let i = fed.nodes.iter().position(|n| n.state == "DE").unwrap();
    fed.node_mut("DE").kill();
    fed.launch(i);
    let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
    hit(&ng.send(&q).await);
}

/// A holder frozen for the whole trace is a State that has not answered,
/// never "no record"; once it runs again, a retry gets its answer.
#[test]
fn a_frozen_holder_is_no_answer_never_no_record() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let fed = Federation::start(vec![
        NodeSpec::member("DE", vec![held]),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let (de, ke) = (fed.node("DE"), fed.node("KE"));
    de.signal("STOP");
    let t = fed::trace_walther(ke, "WP104233", &["--timeout", "3", "--wait", "20"]);
    de.signal("CONT");
    let id = t["id"].as_str().unwrap().to_string();
    assert!(
        matches!(t["status"].as_str(), Some("timed_out" | "partial")),
        "{t:#}"
    );
    let gaps = t["custody"]["gaps"].to_string();
    assert!(
        gaps.contains("no_answer") && gaps.contains(r#""DE""#),
        "{t:#}"
    );
    assert!(!gaps.contains("no_record"), "{t:#}");
    // Woken, DE may answer the gossiped query before the retry reaches it:
    // then there is nothing to retry, and the trace is answered already.
    let retry = common::run(&ke.dir, &["--json", "trace", "retry", &id]);
    assert!(
        retry.status.success() || common::stderr(&retry).contains("nothing to retry"),
        "{}",
        common::stderr(&retry)
    );
    let answered = wait_for(
        "DE's answer after the retry",
        Duration::from_secs(30),
        || {
            let t = ke.json(&["trace", "show", &id]);
            (t["status"] == "answered").then_some(t)
        },
    );
    assert!(
        answered["custody"]["gaps"].as_array().unwrap().is_empty(),
        "{answered:#}"
    );
}

/// A weapon the requester's own registry records as lost: the chain runs
/// from DE to the requester and ends at the local loss; the requester is
/// never asked, awaited or a gap (issue 12, situation 4).
#[test]
fn the_requesters_own_registry_joins_the_chain() {
    let de = r#"{"id":"DE-1","marking":{"manufacturer":"Walther","country":"DE","serial":"WP104233"},"category":"pistol","events":[{"date":"2010-03-01","kind":"manufactured","holder":"manufacturer"},{"date":"2011-04-01","kind":"exported","counterpart":"KE"}]}"#;
    let ke = r#"{"id":"KE-1","marking":{"manufacturer":"Walther","country":"DE","serial":"WP104233"},"category":"pistol","events":[{"date":"2011-04-20","kind":"imported","counterpart":"DE","holder":"state_police"},{"date":"2019-08-02","kind":"lost","holder":"state_police"}]}"#;
    // Records without events, one in each registry.
    let de_bare = r#"{"id":"DE-2","marking":{"manufacturer":"Walther","country":"DE","serial":"WP200001"},"category":"pistol","events":[]}"#;
    let ke_bare = r#"{"id":"KE-2","marking":{"manufacturer":"Walther","country":"DE","serial":"WP200002"},"category":"pistol","events":[]}"#;
    let fed = Federation::start(vec![
        NodeSpec::member("DE", vec![de.into(), de_bare.into()]),
        NodeSpec::member("KE", vec![ke.into(), ke_bare.into()]),
    ]);
    let t = fed::trace_walther(fed.node("KE"), "WP104233", &["--wait", "20"]);
    assert_eq!(t["status"], "answered", "{t:#}");
    let custody = &t["custody"];
    let chain: Vec<(String, String)> = custody["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["state"].as_str().unwrap().to_string(),
                l["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("DE", "manufactured"),
        ("DE", "exported"),
        ("KE", "imported"),
        ("KE", "lost"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(s, k)| (s.to_string(), k.to_string()))
        .collect();
    assert_eq!(chain, want, "{t:#}");
    assert_eq!(custody["diversion"]["last_lawful_state"], "KE", "{t:#}");
    assert_eq!(custody["diversion"]["event"]["kind"], "lost", "{t:#}");
    assert!(custody["gaps"].as_array().unwrap().is_empty(), "{t:#}");
    assert!(custody["follow_up"].as_array().unwrap().is_empty(), "{t:#}");
    assert!(
        t["asked"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] != "KE"),
        "{t:#}"
    );
    let text = fed
        .node("KE")
        .cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(text.contains("own registry"), "{text}");

    // A holder's record without events is a hit, never "no record" (a
    // helper's trial: "KE: hit, 1 candidate" above "none holds one").
    let t = fed::trace_walther(fed.node("KE"), "WP200001", &["--wait", "20"]);
    let gaps = t["custody"]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{t:#}");
    assert_eq!(
        (&gaps[0]["kind"], &gaps[0]["state"]),
        (&serde_json::json!("no_history"), &serde_json::json!("DE")),
        "{t:#}"
    );
    // The own registry's record without events is shown, and not said to
    // be held by nobody: DE answered that it holds none.
    let t = fed::trace_walther(fed.node("KE"), "WP200002", &["--wait", "20"]);
    let kinds: Vec<&str> = t["custody"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["no_history"], "{t:#}");
    let text = fed
        .node("KE")
        .cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(
        text.contains("own registry (KE): hit, 1 candidate")
            && text.contains("WP200002")
            && text.contains("KE holds a record of this weapon without events")
            && !text.contains("none holds one"),
        "{text}"
    );
}

/// A weapon the requester's own registry records as exported is followed to
/// the importing State at once, as an answer's export would be: with no
/// holder asked to point there, the importer was never asked, the trace
/// said "KE has not answered", and `trace retry` had nothing to retry (a
/// helper's trial).
#[test]
fn the_own_registrys_export_is_followed_up() {
    let de = r#"{"id":"DE-9","marking":{"manufacturer":"Walther","country":"DE","serial":"WP300001"},"category":"pistol","events":[{"date":"2010-03-01","kind":"manufactured","holder":"manufacturer"},{"date":"2011-04-01","kind":"exported","counterpart":"KE"}]}"#;
    // KE holds no Walther: it is not an expected holder of the trace.
    let ke = r#"{"id":"KE-9","marking":{"manufacturer":"Beretta","country":"IT","serial":"B1"},"category":"pistol","events":[]}"#;
    let fed = Federation::start(vec![
        NodeSpec::member("DE", vec![de.into()]),
        NodeSpec::member("KE", vec![ke.into()]),
    ]);
    // The reply to the trace itself says so (it showed the trace as stored
    // before its follow-ups: a review).
    let sent = fed::trace_walther(fed.node("DE"), "WP300001", &[]);
    assert_eq!(sent["followed_up"], serde_json::json!(["KE"]), "{sent:#}");
    assert_eq!(sent["nobody_holds"], false, "{sent:#}");
    let t = fed.node("DE").json(&[
        "trace",
        "show",
        sent["id"].as_str().unwrap(),
        "--wait",
        "20",
    ]);
    assert_eq!(t["followed_up"], serde_json::json!(["KE"]), "{t:#}");
    // Someone was asked after all: not "nobody holds" beside KE.
    assert_eq!(t["nobody_holds"], false, "{t:#}");
    // As an officer reads the trace while it waits: the own registry's
    // record, and KE asked as a follow-up (a helper's trial: "asked:
    // nobody" above nothing of the own registry).
    let text = fed::trace_walther_text(fed.node("DE"), "WP300001", &["--wait", "20"]);
    assert!(
        text.contains("own registry (DE): hit, 1 candidate") && text.contains("KE (a follow-up"),
        "{text}"
    );
    assert!(
        t["asked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["state"] == "KE"),
        "{t:#}"
    );
    assert_eq!(t["status"], "answered", "{t:#}");
    let answered: Vec<&str> = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(answered, ["KE"], "{t:#}");
}

/// A member replaying rosters the anchors signed, each copy a new gossip
/// message (trailing spaces): the held version and an older, expired one are
/// ignored before any signature or date check, without a WARN line each
/// (before: every copy read the held roster and the history from disk,
/// checked the anchors' signatures, and the expired one logged a WARN).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_replaying_signed_rosters_is_ignored_quietly() {
    use tracenet::model::Date;
    use tracenet::roster::{RosterBody, RosterFile};
    const ROSTER: &str = "tracenet/1/roster";
    let mut fed = Federation::start(vec![
        NodeSpec::member("DE", Vec::new()),
        NodeSpec::member("NG", Vec::new()),
    ]);
    fed.wait_subscribed("DE", ROSTER, &["NG"]);
    fed.node_mut("NG").kill();
    let de = fed.node("DE");
    // DE holds version 2, so that an older one (version 1; 0 is out of
    // range) can be replayed at it.
    let v2 = de.dir.join("roster-v2.json");
    std::fs::write(&v2, fed.roster_without(&["DE", "NG"], 2)).unwrap();
    de.json(&["roster", "install", v2.to_str().unwrap()]);
    let ng = Peer::connect(&fed.node("NG").dir, de).await;
    let held = std::fs::read(de.dir.join("roster.json")).unwrap();
    let mut body: RosterBody = RosterFile::from_json(&held)
        .unwrap()
        .decode_unverified()
        .unwrap();
    let today = Date::today().to_days();
    body.version = 1;
    body.valid_from = Date::from_days(today - 400).unwrap();
    body.valid_until = Date::from_days(today - 35).unwrap();
    let mut expired = RosterFile::new(&body).unwrap();
    expired.sign(fed.anchor.signing_key()).unwrap();
    let gossip_in = || de.json(&["status"])["net"]["gossip_in"].as_u64().unwrap();
    let before = gossip_in();
    const COPIES: usize = 100;
    for roster in [held.clone(), expired.to_json()] {
        ng.publish(ROSTER, &roster).await;
        for i in 1..COPIES {
            let mut b = roster.clone();
            b.extend(std::iter::repeat_n(b' ', i));
            ng.net.publish(ROSTER.parse().unwrap(), b).await.unwrap();
        }
    }
    wait_for("DE to read every copy", Duration::from_secs(60), || {
        (gossip_in() >= before + 2 * COPIES as u64).then_some(())
    });
    let log = de.log();
    let warned = log
        .lines()
        .filter(|l| l.contains("a gossiped roster could not be installed"))
        .count();
    assert_eq!(warned, 0, "{log}");
    let st = de.json(&["status"]);
    assert_eq!(st["roster_version"], 2, "{st}");
    // Ignored, not rejected: the copies are rosters the anchors signed, as
    // a member offering its held roster sends; the peer is not scored down.
    assert_eq!(st["net"]["peers_graylisted"], 0, "{st}");
}

/// `roster verify --install` writes no roster behind a running node, which
/// holds its roster and its history: it is told to hand it over with
/// `roster install`, and nothing in the data directory changes.
#[test]
fn roster_verify_install_refuses_a_running_node() {
    let fed = Federation::start(vec![NodeSpec::member("DE", Vec::new())]);
    let de = fed.node("DE");
    let held = std::fs::read(de.dir.join("roster.json")).unwrap();
    let file = de.dir.join("offered-roster.json");
    std::fs::write(&file, &held).unwrap();
    let out = common::run(
        &de.dir,
        &["roster", "verify", fed::path_str(&file), "--install"],
    );
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("is running") && err.contains("tracenet roster install"),
        "{err}"
    );
    assert_eq!(std::fs::read(de.dir.join("roster.json")).unwrap(), held);

    // A signature copied over and over is one anchor's, said once (it read
    // as "signed by 80 anchors": a helper's hostile trial).
    let mut v: serde_json::Value = serde_json::from_slice(&held).unwrap();
    let sig = v["signatures"][0].clone();
    v["signatures"] = serde_json::json!([sig.clone(), sig.clone(), sig]);
    let copied = de.dir.join("copied-roster.json");
    std::fs::write(&copied, serde_json::to_vec(&v).unwrap()).unwrap();
    for cmd in ["verify", "show"] {
        let shown = de.json(&["roster", cmd, fed::path_str(&copied)]);
        assert_eq!(
            shown["signed_by"].as_array().map(Vec::len),
            Some(1),
            "{cmd}: {shown:#}"
        );
    }
}
