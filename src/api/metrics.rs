//! `GET /metrics`: the node's figures in the Prometheus text format.

use crate::node::Node;
use crate::node::metrics::get;

fn line(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    for (labels, v) in samples {
        if labels.is_empty() {
            out.push_str(&format!("{name} {v}\n"));
        } else {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    }
}

pub async fn render(node: &Node) -> String {
    let mut out = String::new();
    let c = node.counters();
    let net = node.net().status_without_topics().await.unwrap_or_default();
    let members = node.members();
    line(
        &mut out,
        "tracenet_peers_connected",
        "gauge",
        "Peers connected.",
        &[("", net.connected.len() as u64)],
    );
    line(
        &mut out,
        "tracenet_roster_members",
        "gauge",
        "Members in the held roster.",
        &[("", members.by_peer.len() as u64)],
    );
    line(
        &mut out,
        "tracenet_roster_version",
        "gauge",
        "Version of the held roster.",
        &[("", members.version)],
    );
    line(
        &mut out,
        "tracenet_makers_version",
        "gauge",
        "Version of the maker reference table in force (0: built into this release).",
        &[("", u64::from(node.makers().table_version()))],
    );
    line(
        &mut out,
        "tracenet_topics_subscribed",
        "gauge",
        "Gossip topics subscribed.",
        &[("", net.subscribed.len() as u64)],
    );
    for (name, help, v) in [
        (
            "tracenet_blind_evaluations_total",
            "Blind elements this node evaluated for other States' blind traces.",
            &c.blind_evaluations,
        ),
        (
            "tracenet_blind_evaluations_refused_total",
            "Blind elements refused for the requesting State's hourly budget.",
            &c.blind_evaluations_refused,
        ),
        (
            "tracenet_blind_filters_served_total",
            "Keyed-filter headers and chunks served to blind traces.",
            &c.blind_filters_served,
        ),
        (
            "tracenet_blind_traces_total",
            "Blind traces this node sent.",
            &c.blind_traces,
        ),
        (
            "tracenet_blind_hits_total",
            "Holders whose keyed filter a blind trace of this node hit.",
            &c.blind_hits,
        ),
    ] {
        line(&mut out, name, "counter", help, &[("", get(v))]);
    }
    line(
        &mut out,
        "tracenet_log_lines_dropped_total",
        "counter",
        "Log lines dropped because stderr was not read and the log's buffer was full (the node runs on rather than wait; the audit log is not affected).",
        &[("", crate::logging::lines_dropped())],
    );
    line(
        &mut out,
        "tracenet_log_lines_lost_total",
        "counter",
        "Log lines stderr refused (a pipe whose reader has gone, a file on a full disk): lost, and said by nothing else; the audit log is not affected.",
        &[("", crate::logging::lines_lost())],
    );
    line(
        &mut out,
        "tracenet_traces_sent_total",
        "counter",
        "Traces sent by this node.",
        &[("", get(&c.traces_sent))],
    );
    line(
        &mut out,
        "tracenet_silent_holders_asked_total",
        "counter",
        "Holders handed a trace's query by gossip, silent 5 s later, and asked directly (the gossip missed them).",
        &[("", get(&c.silent_holders_asked))],
    );
    line(
        &mut out,
        "tracenet_queries_received_total",
        "counter",
        "Trace queries received by gossip.",
        &[("", get(&c.queries_received))],
    );
    line(
        &mut out,
        "tracenet_query_copies_total",
        "counter",
        "Gossiped copies of a query already handled, read on another of its topics or as another message of the same bytes, and ignored: checked=\"no\" without a second signature check.",
        &[
            ("checked=\"no\"", get(&c.query_copies_unchecked)),
            ("checked=\"yes\"", get(&c.query_copies_checked)),
        ],
    );
    line(
        &mut out,
        "tracenet_own_key_elsewhere_total",
        "counter",
        "Trace queries signed with this node's own key that it never sent: another process holds a copy of the key and speaks for this State (or this node's data directory was put back from an older backup); stop the copy or replace the key (README, \"A State whose node key was compromised\").",
        &[("", get(&c.own_key_elsewhere))],
    );
    line(
        &mut out,
        "tracenet_queries_not_relayed_total",
        "counter",
        "Trace query copies read by gossip and not passed on although new to gossip here: read from their requester itself where the roster makes the federation a full mesh, or, where the roster states served lists and links are bounded, naming as served every State on the topic here (the requester reached them itself).",
        &[("", get(&c.queries_not_relayed))],
    );
    line(
        &mut out,
        "tracenet_directed_queries_passed_on_total",
        "counter",
        "Trace queries asked of this node directly, naming the States their requester served, that it passed on by gossip: a peer on their topic here was not among them (not counted where gossip had brought the same query here first: that copy is relayed instead).",
        &[("", get(&c.directed_queries_passed_on))],
    );
    line(
        &mut out,
        "tracenet_queries_refused_total",
        "counter",
        "Trace queries not answered, by reason.",
        &[
            ("reason=\"invalid\"", get(&c.queries_rejected)),
            ("reason=\"stale\"", get(&c.queries_stale)),
            ("reason=\"rate_limited\"", get(&c.queries_rate_limited)),
            ("reason=\"overloaded\"", get(&c.queries_overloaded)),
        ],
    );
    line(
        &mut out,
        "tracenet_answers_sent_total",
        "counter",
        "Answers signed and sent, by outcome.",
        &[
            ("outcome=\"hit\"", get(&c.answers_sent_hit)),
            ("outcome=\"no_hit\"", get(&c.answers_sent_no_hit)),
            ("outcome=\"withheld\"", get(&c.answers_sent_withheld)),
            ("outcome=\"trimmed\"", get(&c.answers_sent_trimmed)),
            ("outcome=\"refused\"", get(&c.answers_sent_refused)),
            ("outcome=\"other\"", get(&c.answers_sent_other)),
        ],
    );
    line(
        &mut out,
        "tracenet_refusals_unsigned_total",
        "counter",
        "Verified queries refused without a signed answer: the requesting State's budget of signed refusals was spent.",
        &[("", get(&c.refusals_unsigned))],
    );
    line(
        &mut out,
        "tracenet_queries_refused_unchecked_total",
        "counter",
        "Directed queries refused rate_limited on their body alone, their signature not checked: the requesting State was past its rate limit, and its budget of signed refusals was spent or this very query was refused with one already.",
        &[("", get(&c.queries_refused_unchecked))],
    );
    line(
        &mut out,
        "tracenet_trust_gossip_dropped_total",
        "counter",
        "Roster and maker-table messages read from gossip and left unread: as many were in hand as the node takes at once (8).",
        &[("", get(&c.trust_gossip_dropped))],
    );
    line(
        &mut out,
        "tracenet_long_jobs_total",
        "counter",
        "Long jobs asked for (running, done or waiting their turn): imports, exports, audit verifications and reports, maker table installs; at most 2 run at once.",
        &[("", get(&c.long_jobs))],
    );
    line(
        &mut out,
        "tracenet_answers_undelivered_total",
        "counter",
        "Answers given up before delivery: 256 others waited already for their requester to acknowledge (it gets the answer when it asks again).",
        &[("", get(&c.answers_undelivered))],
    );
    line(
        &mut out,
        "tracenet_answers_delivered_total",
        "counter",
        "Answers the requester acknowledged.",
        &[("", get(&c.answers_sent))],
    );
    line(
        &mut out,
        "tracenet_answers_received_total",
        "counter",
        "Answers received for this node's traces, accepted or refused.",
        &[
            ("result=\"accepted\"", get(&c.answers_received)),
            ("result=\"refused\"", get(&c.answers_rejected)),
        ],
    );
    line(
        &mut out,
        "tracenet_answer_flushes_total",
        "counter",
        "Flushes of batches of answers read from the network (answers filed together share one).",
        &[("", get(&c.answer_flushes))],
    );
    line(
        &mut out,
        "tracenet_answers_flushed_total",
        "counter",
        "Answers read from the network in the batches flushed (over the flushes: answers per flush).",
        &[("", get(&c.answers_flushed))],
    );
    c.answer_latency.render(
        "tracenet_answer_latency_seconds",
        "From sending a trace to each answer's filing (before its batch's flush).",
        &mut out,
    );
    line(
        &mut out,
        "tracenet_gossip_messages_total",
        "counter",
        "Gossip messages received and published.",
        &[
            ("direction=\"in\"", net.gossip_in),
            ("direction=\"out\"", net.gossip_out),
        ],
    );
    let v = net.gossip_verdicts;
    line(
        &mut out,
        "tracenet_gossip_verdicts_total",
        "counter",
        "Verdicts on received gossip messages: accept (relayed), ignore, reject (its sender scored down) as gossipsub took them, late when it had dropped the message unjudged, copy when the network side ignored it on arrival, unread, as a copy of a query the node judged or published on its topic within the minute (strict validation, served lists, links bounded). A copy the node sheds (overloaded, a quota, the clocks) is counted as ignore.",
        &[
            ("verdict=\"accept\"", v.accept),
            ("verdict=\"ignore\"", v.ignore),
            ("verdict=\"reject\"", v.reject),
            ("verdict=\"late\"", v.late),
            ("verdict=\"copy\"", v.copy),
        ],
    );
    let r = net.requests;
    line(
        &mut out,
        "tracenet_requests_total",
        "counter",
        "Requests (answers, directed queries, blind requests) sent (out) and received (in), by how they were carried: stream on a peer's lasting stream, plain by request-response.",
        &[
            ("direction=\"out\",carried=\"stream\"", r.out_stream),
            ("direction=\"out\",carried=\"plain\"", r.out_plain),
            ("direction=\"in\",carried=\"stream\"", r.in_stream),
            ("direction=\"in\",carried=\"plain\"", r.in_plain),
        ],
    );
    let refused: Vec<(String, u64)> = net
        .connections_refused
        .iter()
        .map(|(reason, n)| (format!("reason=\"{reason}\""), *n))
        .collect();
    let refused: Vec<(&str, u64)> = refused.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    line(
        &mut out,
        "tracenet_connections_refused_total",
        "counter",
        "Inbound connections refused, by reason.",
        &refused,
    );
    line(
        &mut out,
        "tracenet_peers_graylisted",
        "gauge",
        "Peers whose gossip is ignored: score below the graylist threshold.",
        &[("", net.peers_graylisted as u64)],
    );
    let records = node.registry().and_then(|r| r.len().ok()).unwrap_or(0);
    line(
        &mut out,
        "tracenet_registry_records",
        "gauge",
        "Records in the national registry.",
        &[("", records)],
    );
    let refusals = c.refusals();
    let labels: Vec<String> = refusals
        .iter()
        .map(|(code, _)| format!("code=\"{code}\""))
        .collect();
    let samples: Vec<(&str, u64)> = labels
        .iter()
        .zip(&refusals)
        .map(|(l, (_, n))| (l.as_str(), *n))
        .collect();
    line(
        &mut out,
        "tracenet_refusals_total",
        "counter",
        "Queries, answers and requests from peers refused, by code (PROTOCOL.md, Replies); each also in the audit tally. A query dropped unchecked under load is counted only in tracenet_queries_refused_total{reason=\"overloaded\"}.",
        &samples,
    );
    let cooling = node.peers_cooling_down();
    line(
        &mut out,
        "tracenet_peers_cooling_down",
        "gauge",
        "Peers whose requests are ignored after too many bad ones.",
        &[("", cooling.len() as u64)],
    );
    // Named, so that an operator sees who floods; bounded by the roster,
    // since only members can connect.
    let labels: Vec<String> = cooling.iter().map(|p| format!("peer=\"{p}\"")).collect();
    let samples: Vec<(&str, u64)> = labels.iter().map(|l| (l.as_str(), 1)).collect();
    line(
        &mut out,
        "tracenet_peer_cooling_down",
        "gauge",
        "1 for each peer cooling down, by PeerId.",
        &samples,
    );
    let expires_in = members.valid_until as i64 - crate::node::unix_now() as i64;
    out.push_str(&format!(
        "# HELP tracenet_roster_expires_in_seconds Seconds until the held roster expires; negative once it has (then nothing is accepted).\n# TYPE tracenet_roster_expires_in_seconds gauge\ntracenet_roster_expires_in_seconds {expires_in}\n"
    ));
    line(
        &mut out,
        "tracenet_store_bytes",
        "gauge",
        "Bytes the sled store occupies on disk.",
        &[("", node.store_size())],
    );
    out
}
