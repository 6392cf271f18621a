//! Counters and the answer-latency histogram behind `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the answer-latency buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A fixed-bucket histogram that can be observed from any thread.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum of observations, in microseconds.
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: LATENCY_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (b, le) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            if seconds <= *le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// Writes the histogram in the Prometheus text format.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        for (b, le) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            out.push_str(&format!(
                "{name}_bucket{{le=\"{le}\"}} {}\n",
                b.load(Ordering::Relaxed)
            ));
        }
        let count = self.count.load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {count}\n"));
        out.push_str(&format!(
            "{name}_sum {}\n{name}_count {count}\n",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        ));
    }
}

/// Counters for `status` and `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub queries_received: AtomicU64,
    pub queries_rejected: AtomicU64,
    pub queries_stale: AtomicU64,
    pub queries_rate_limited: AtomicU64,
    pub queries_overloaded: AtomicU64,
    /// Gossiped copies of a query already handled (read on another of its
    /// topics), ignored: without a signature check (the very bytes were
    /// checked), or checked first (another copy was still being checked).
    pub query_copies_unchecked: AtomicU64,
    pub query_copies_checked: AtomicU64,
    /// Query copies read by gossip and not relayed (`Node::relay_verdict`):
    /// read fresh from their requester itself where the roster makes the
    /// federation a full mesh, or, where served lists are in force, stating
    /// the States their requester served when every peer on the topic here
    /// is one.
    pub queries_not_relayed: AtomicU64,
    /// Directed queries stating the States served that this node passed on
    /// by gossip, having a peer on their topic its requester did not serve
    /// (node::responder, `pass_on_directed`).
    pub directed_queries_passed_on: AtomicU64,
    /// Queries signed with this node's own key that it never sent: a copy
    /// of its key at work elsewhere (`node::key_copies`).
    pub own_key_elsewhere: AtomicU64,
    pub answers_sent: AtomicU64,
    /// Answers given up before delivery: `WAITING_PER_REQUESTER` others
    /// waited already for one of their requester's places
    /// (`node::delivery`).
    pub answers_undelivered: AtomicU64,
    pub answers_sent_hit: AtomicU64,
    pub answers_sent_no_hit: AtomicU64,
    pub answers_sent_withheld: AtomicU64,
    pub answers_sent_trimmed: AtomicU64,
    /// Signed refusals of verified queries (rate limit, clock, load...).
    pub answers_sent_refused: AtomicU64,
    pub answers_sent_other: AtomicU64,
    /// Refusals of verified queries left unsigned: the State's refusal
    /// budget was spent.
    pub refusals_unsigned: AtomicU64,
    /// Directed queries refused `rate_limited` on their body alone, their
    /// signature not checked: their State was past its rate limit, and its
    /// signed refusals were spent or this query refused with one already
    /// (`Node::refused_unchecked`).
    pub queries_refused_unchecked: AtomicU64,
    /// Roster and maker-table messages left unread: as many were in hand
    /// as a node takes at once (`node::TRUST_GOSSIP_AT_ONCE`).
    pub trust_gossip_dropped: AtomicU64,
    /// Long jobs asked for, whether running, done or waiting their turn
    /// (`Node::long_job`: imports, exports, audit verifications and
    /// reports, maker table installs).
    pub long_jobs: AtomicU64,
    pub answers_received: AtomicU64,
    /// Flushes of batches of answers read from the network, and the
    /// answers those batches held (`node::filing`).
    pub answer_flushes: AtomicU64,
    pub answers_flushed: AtomicU64,
    pub answers_rejected: AtomicU64,
    pub traces_sent: AtomicU64,
    /// Holders handed a trace's query by gossip and asked it directly,
    /// having said nothing after `SILENT_HOLDER_ASKED_AFTER` (node::requester).
    pub silent_holders_asked: AtomicU64,
    /// Blind traces (proto-docs/BLIND.md): elements this node evaluated for
    /// other States, elements refused for their budget, filter headers and
    /// chunks served; blind traces sent, and holders whose filter they hit.
    pub blind_evaluations: AtomicU64,
    pub blind_evaluations_refused: AtomicU64,
    pub blind_filters_served: AtomicU64,
    pub blind_traces: AtomicU64,
    pub blind_hits: AtomicU64,
    /// From sending a trace to each answer's arrival.
    pub answer_latency: Histogram,
    /// Refusals of what peers sent, by code.
    pub refusals: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Counters {
    /// Counts one refusal under its code.
    pub fn refused(&self, r: crate::protocol::Refusal) {
        if let Ok(mut m) = self.refusals.lock() {
            *m.entry(r.code()).or_default() += 1;
        }
    }

    /// The refusal counts, by code.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        self.refusals
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(0.007);
        h.observe(2.0);
        let mut s = String::new();
        h.render("x", "test", &mut s);
        assert!(s.contains("x_bucket{le=\"0.005\"} 0\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"0.01\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"2.5\"} 2\n"), "{s}");
        assert!(
            s.contains("x_bucket{le=\"+Inf\"} 2\nx_sum 2.007\nx_count 2\n"),
            "{s}"
        );
    }
}
