//! A holder that refuses a verified query, or whose answer is too large to
//! deliver, says so in a signed answer (issue 12, situation 3): a real
//! holder node (DE) and the requester (NG) played by an in-process libp2p
//! peer holding its roster key, which sends queries directly or by gossip
//! and receives the holder's answers.

mod common;
mod fed;

use std::time::{Duration, Instant};

use fed::{Federation, NodeSpec, Peer, record};
use tracenet::identity::NodeKey;
use tracenet::protocol::{
    Digest, Limits, Outcome, Priority, Refusal, RefusedReason, Reply, TraceAnswer,
    decode_and_verify,
};

const EVENTS: &str = r#"{"kind":"manufactured","date":"2010-03-01","holder":"manufacturer"}"#;

/// DE holding `records` under `config`, and NG played in process.
async fn holder(records: Vec<String>, config: &'static str) -> (Federation, Peer) {
    let mut fed = Federation::start(vec![
        NodeSpec {
            node_config: config,
            ..NodeSpec::member("DE", records)
        },
        NodeSpec::member("NG", Vec::new()),
    ]);
    fed.node_mut("NG").kill();
    let ng = Peer::connect(&fed.node("NG").dir, fed.node("DE")).await;
    (fed, ng)
}

/// The answer frame of a directed reply, verified, and bound to `query`.
fn answer_of(reply: &Reply, query: &[u8]) -> TraceAnswer {
    let Reply::Answer(frame) = reply else {
        panic!("expected a signed answer, got {reply:?}");
    };
    verified(frame, query)
}

fn verified(frame: &[u8], query: &[u8]) -> TraceAnswer {
    let a = decode_and_verify::<TraceAnswer>(frame, Limits::default())
        .unwrap_or_else(|e| panic!("the answer does not verify: {e}"));
    assert_eq!(a.body().query, Digest::of(query), "bound to its query");
    a.body().clone()
}

/// DE's prefix topic for Walther pistols, as DE subscribed to it.
fn walther_topic(de: &fed::FedNode) -> String {
    de.json(&["status"])["net"]["subscribed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .find(|t| t.starts_with("tracenet/1/prefix/DE/"))
        .expect("DE subscribed to its prefix")
        .to_string()
}

/// The audit entries of `kind` about the query `frame`.
fn audited(de: &fed::FedNode, kind: &str, frame: &[u8]) -> Vec<serde_json::Value> {
    let digest = Digest::of(frame).to_hex();
    de.json(&["audit", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind && e["query"] == digest.as_str())
        .cloned()
        .collect()
}

/// The 61st wildcard query within a minute is refused `rate_limited` in a
/// signed answer saying when to retry, at once; the same query again gets
/// no second signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_fuzzy_rate_limit_the_requester_is_told_in_a_signed_answer_when_to_retry() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let (fed, mut ng) = holder(vec![held], "").await;
    let de = fed.node("DE");
    let fuzzy = || fed::signed_walther_query(&ng.key, "NG", "WP10423?", Priority::Routine);
    // The bucket holds 60 and refills one a second: sent one after another,
    // a few more than 60 may pass before it is empty.
    let mut answered = 0;
    let (q, reply, took) = loop {
        let q = fuzzy();
        let sent = Instant::now();
        let reply = ng.send(&q).await;
        let took = sent.elapsed();
        match &reply {
            Reply::Answer(frame) if verified(frame, &q).outcome.is_final() => answered += 1,
            _ => break (q, reply, took),
        }
        assert!(answered < 120, "the fuzzy rate limit never refused");
    };
    assert!(answered >= 60, "refused after {answered} answers");
    let a = answer_of(&reply, &q);
    let Outcome::Refused {
        reason: RefusedReason::RateLimited,
        retry_after_secs,
    } = a.outcome
    else {
        panic!("expected refused(rate_limited), got {:?}", a.outcome);
    };
    assert!(retry_after_secs > 0, "no retry-after");
    assert!(took < Duration::from_secs(1), "refused in {took:?}");
    // The holder can show it said why.
    let sent = audited(de, "answer_sent", &q);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["outcome"], "refused");
    assert_eq!(sent[0]["rule"], "rate_limited");

    // The same query again: refused, but not signed a second time.
    assert_eq!(ng.send(&q).await, Reply::Refused(Refusal::RateLimited));
    assert_eq!(audited(de, "answer_sent", &q).len(), 1);

    // By gossip, a new one is refused as well, the answer sent to NG.
    let topic = walther_topic(de);
    let q = fuzzy();
    let sent = Instant::now();
    ng.publish(&topic, &q).await;
    let frame = ng
        .next_request(Duration::from_secs(5))
        .await
        .expect("no answer to the gossiped query");
    let took = sent.elapsed();
    let a = verified(&frame, &q);
    assert!(
        matches!(
            a.outcome,
            Outcome::Refused {
                reason: RefusedReason::RateLimited,
                retry_after_secs: 1..
            }
        ),
        "{:?}",
        a.outcome
    );
    assert!(took < Duration::from_secs(1), "refused in {took:?}");
}

/// `name`'s value in DE's /metrics.
fn metric(de: &fed::FedNode, name: &str) -> u64 {
    let (status, metrics) = common::http_get(&de.dir, "/metrics", true);
    assert_eq!(status, 200, "{metrics}");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// Past its rate limit and its budget of signed refusals, a State's directed
/// queries are refused on their body alone, their signature not checked:
/// copies with a broken signature are refused `rate_limited`, not as
/// forged, so a member sending queries past its limits costs the holder a
/// decode each, not a signature check; but one in sixteen is checked in
/// full. Within the limits, a broken signature is refused as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_limits_a_states_directed_queries_cost_no_signature_check() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let (fed, ng) = holder(vec![held], "queries_per_minute = 1").await;
    let de = fed.node("DE");
    let fresh = || fed::signed_walther_query(&ng.key, "NG", "WP104233", Priority::Routine);
    let broken = |mut q: Vec<u8>| {
        let last = q.len() - 1;
        q[last] ^= 1;
        q
    };
    // Within the limits, a broken signature is checked and refused.
    assert_eq!(
        ng.send(&broken(fresh())).await,
        Reply::Refused(Refusal::BadSignature)
    );
    // One query a minute answered; the next refused with a signature
    // until the State's signed refusals (30 a minute) are spent.
    let mut sent = 0;
    loop {
        let reply = ng.send(&fresh()).await;
        if reply == Reply::Refused(Refusal::RateLimited) {
            break;
        }
        assert!(matches!(reply, Reply::Answer(_)), "{reply:?}");
        sent += 1;
        assert!(sent < 100, "the signed refusals were never spent");
    }
    assert!(sent >= 30, "unsigned after {sent}");
    assert_eq!(metric(de, "tracenet_queries_refused_unchecked_total"), 1);
    // Copies with a broken signature: refused rate_limited, unchecked; but
    // one in sixteen is checked in full, so that a forgery past the limits
    // still earns its strike. (The signed refusals come back at one per two
    // seconds: one copy may find one, and be checked.)
    let mut replies = Vec::new();
    for _ in 0..26 {
        replies.push(ng.send(&broken(fresh())).await);
    }
    let count = |r: Reply| replies.iter().filter(|x| **x == r).count() as u64;
    let unchecked = count(Reply::Refused(Refusal::RateLimited));
    let forged = count(Reply::Refused(Refusal::BadSignature));
    assert_eq!(unchecked + forged, 26, "{replies:?}");
    assert!((1..=2).contains(&forged), "{replies:?}");
    assert_eq!(
        metric(de, "tracenet_queries_refused_unchecked_total"),
        1 + unchecked
    );
}

/// A query dated five minutes ahead of the holder's clock is refused
/// `clock_skew` in a signed answer, by either path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_clock_five_minutes_fast_is_told_so_in_a_signed_answer() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let (fed, mut ng) = holder(vec![held], "").await;
    let de = fed.node("DE");
    let ahead = |key: &NodeKey| {
        let at = tracenet::node::unix_now() + 300;
        fed::signed_walther_query_at(key, "NG", "WP104233", Priority::Routine, at)
    };
    let skewed = |a: &TraceAnswer| match a.outcome {
        Outcome::Refused {
            reason: RefusedReason::ClockSkew,
            retry_after_secs,
        } => retry_after_secs,
        ref o => panic!("expected refused(clock_skew), got {o:?}"),
    };

    // Directed.
    let q = ahead(&ng.key);
    let sent = Instant::now();
    let reply = ng.send(&q).await;
    assert!(sent.elapsed() < Duration::from_secs(1));
    let retry = skewed(&answer_of(&reply, &q));
    // Dated 300 s ahead with 60 s of skew allowed: admitted in about 240 s.
    assert!((230..=241).contains(&retry), "retry after {retry} s");
    let sent_entries = audited(de, "answer_sent", &q);
    assert_eq!(sent_entries.len(), 1, "{sent_entries:?}");
    assert_eq!(sent_entries[0]["rule"], "clock_skew");

    // By gossip: the answer comes to NG by request-response.
    let topic = walther_topic(de);
    let q = ahead(&ng.key);
    let sent = Instant::now();
    ng.publish(&topic, &q).await;
    let frame = ng
        .next_request(Duration::from_secs(5))
        .await
        .expect("no answer to the gossiped query");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    skewed(&verified(&frame, &q));
    assert_eq!(audited(de, "answer_sent", &q).len(), 1);

    // Expired (issued 4,000 s ago with a time-to-live of 3,600 s): its
    // requester asking directly is told so ...
    let old = |key: &NodeKey| {
        let at = tracenet::node::unix_now() - 4_000;
        fed::signed_walther_query_at(key, "NG", "WP104233", Priority::Routine, at)
    };
    let q = old(&ng.key);
    let a = answer_of(&ng.send(&q).await, &q);
    assert!(
        matches!(
            a.outcome,
            Outcome::Refused {
                reason: RefusedReason::Expired,
                retry_after_secs: 0
            }
        ),
        "{:?}",
        a.outcome
    );
    // ... but by gossip it is a replay, which gets no signature: published
    // before a skewed query, only the skewed one is answered.
    let stale = old(&ng.key);
    ng.publish(&topic, &stale).await;
    let q = ahead(&ng.key);
    ng.publish(&topic, &q).await;
    let frame = ng
        .next_request(Duration::from_secs(5))
        .await
        .expect("no answer to the gossiped query");
    skewed(&verified(&frame, &q));
    assert_eq!(ng.next_request(Duration::from_millis(500)).await, None);
    assert!(audited(de, "answer_sent", &stale).is_empty());
}

/// A record's life as `n` events: made, then transferred once a month.
fn long_life(n: usize) -> String {
    let mut events =
        vec![r#"{"kind":"manufactured","date":"2000-01-01","holder":"manufacturer"}"#.to_string()];
    for i in 1..n {
        let (y, m) = (2000 + i / 12, 1 + i % 12);
        events.push(format!(
            r#"{{"kind":"transferred","date":"{y}-{m:02}-15","holder":"licensed_dealer"}}"#
        ));
    }
    events.join(",")
}

/// A holder whose answer would not fit its `max_message_bytes` sends it
/// trimmed (first and latest events of each record, the count left out),
/// signed, instead of nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_message_size_limit_is_trimmed_not_dropped() {
    let records: Vec<String> = (0..8)
        .map(|i| {
            let serial = format!("WP2000{i}");
            record(
                &format!("DE-{i}"),
                "Walther",
                "DE",
                &serial,
                &[],
                &long_life(60),
            )
        })
        .collect();
    let (fed, mut ng) = holder(records, "max_message_bytes = 4096\nmax_candidates = 16").await;
    let de = fed.node("DE");
    let check = |a: &TraceAnswer| {
        let Outcome::Trimmed {
            candidates,
            events_left_out,
        } = &a.outcome
        else {
            panic!("expected a trimmed hit, got {:?}", a.outcome);
        };
        assert_eq!(candidates.len(), 8);
        let kept: usize = candidates.iter().map(|c| c.record.events.len()).sum();
        assert_eq!(kept + *events_left_out as usize, 8 * 60);
        for c in candidates {
            let e = &c.record.events;
            assert!(e.len() >= 2 && e.len() < 60, "{} events", e.len());
            assert_eq!(e[0].kind.to_string(), "manufactured");
            // The latest event is kept: a transfer in 2004-12.
            assert_eq!(e[e.len() - 1].date.to_string(), "2004-12-15");
        }
    };

    let q = fed::signed_walther_query(&ng.key, "NG", "WP2000?", Priority::Routine);
    let reply = ng.send(&q).await;
    let Reply::Answer(frame) = &reply else {
        panic!("expected an answer, got {reply:?}");
    };
    assert!(frame.len() <= 4096, "{} bytes", frame.len());
    check(&answer_of(&reply, &q));
    let sent = audited(de, "answer_sent", &q);
    assert_eq!(sent[0]["outcome"], "trimmed", "{sent:?}");

    // By gossip, the same.
    let q = fed::signed_walther_query(&ng.key, "NG", "WP2000?", Priority::Routine);
    ng.publish(&walther_topic(de), &q).await;
    let frame = ng
        .next_request(Duration::from_secs(5))
        .await
        .expect("no answer to the gossiped query");
    check(&verified(&frame, &q));
}

/// Queries signed by a key missing from DE's roster, reaching DE by gossip
/// from a member (as a relay on an older or newer roster passes them on),
/// are refused `not_in_roster` without striking the member that passed them
/// on: each struck it, and fifty a minute cooled an honest relay down (a
/// hostile member's review). Sent directly, the same query is its sender's
/// own, and still counts against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_query_from_outside_the_roster_does_not_strike_the_relay() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let (fed, ng) = holder(vec![held], "").await;
    let de = fed.node("DE");
    let topic = walther_topic(de);
    let outsider = NodeKey::generate().unwrap();
    const SENT: usize = 80;
    for i in 0..SENT {
        let q = fed::signed_walther_query(&outsider, "NG", &format!("WP{i:05}"), Priority::Routine);
        ng.publish(&topic, &q).await;
    }
    let metrics = fed::wait_for("the refusals counted", Duration::from_secs(30), || {
        let (_, m) = common::http_get(&de.dir, "/metrics", true);
        m.contains(&format!(
            "tracenet_refusals_total{{code=\"not_in_roster\"}} {SENT}"
        ))
        .then_some(m)
    });
    assert!(
        metrics.contains("tracenet_peers_cooling_down 0"),
        "{metrics}"
    );
    // NG is still heard: its own query is answered.
    let own = fed::signed_walther_query(&ng.key, "NG", "WP99999", Priority::Routine);
    assert!(
        matches!(ng.send(&own).await, Reply::Answer(_)),
        "NG was cooled down for what it passed on"
    );
}

/// A query signed with the holder's own key that the holder never sent (a
/// copy of its key at work elsewhere, relayed here by a member) is counted
/// and shown by `status`, the metrics and the log; the holder's own query
/// come back by gossip is not. Neither is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_signed_with_the_nodes_own_key_that_it_never_sent_is_reported() {
    let held = record("DE-1", "Walther", "DE", "WP104233", &[], EVENTS);
    let (fed, ng) = holder(vec![held], "").await;
    let de = fed.node("DE");
    let topic = walther_topic(de);
    // DE's own trace, stored before its query left: its query relayed back.
    let sent = fed::trace_walther(de, "WP555", &["--json"]);
    let id = sent["id"].as_str().expect("a trace id").to_string();
    let bundle = de.json(&["trace", "export", &id, "-"]);
    let own = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        bundle["query"].as_str().expect("the bundle's query"),
    )
    .unwrap();
    ng.publish(&topic, &own).await;
    // A query signed with DE's key by another process.
    let de_key = NodeKey::load(&tracenet::identity::key_path(&de.dir)).unwrap();
    let copy = fed::signed_walther_query(&de_key, "DE", "WP104233", Priority::Routine);
    let copy_id = decode_and_verify::<tracenet::protocol::TraceQuery>(&copy, Limits::default())
        .unwrap()
        .body()
        .id
        .to_hex();
    ng.publish(&topic, &copy).await;
    // Both read and taken for copies of a query of DE's: then counted.
    fed::wait_for("both queries read", Duration::from_secs(30), || {
        (metric(de, "tracenet_query_copies_total{checked=\"yes\"}") >= 2).then_some(())
    });
    assert_eq!(metric(de, "tracenet_own_key_elsewhere_total"), 1);
    let status = de.json(&["status"]);
    let seen = &status["own_key_elsewhere"];
    assert_eq!(seen["queries"], 1, "{status}");
    assert_eq!(seen["last_query"], copy_id.as_str(), "{status}");
    assert_eq!(
        seen["last_from"],
        ng.net.local_peer_id().to_string(),
        "{status}"
    );
    let text = de.cli(&["status"]);
    assert!(
        text.contains("NODE KEY IN USE ELSEWHERE: 1 query"),
        "{text}"
    );
    let faults = common::for_people(&text);
    assert!(faults.is_empty(), "{faults:?}\n{text}");
    assert!(
        de.log()
            .contains("a trace query signed with this node's key, which this node never sent")
    );
    // Not answered: DE sent NG nothing for it.
    assert_eq!(
        metric(de, "tracenet_answers_sent_total{outcome=\"hit\"}"),
        0
    );
}
