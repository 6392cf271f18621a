//! A copy of this node's key at work elsewhere. Every query this node signs
//! is stored as a trace, under the query's id, before it leaves
//! (`Node::send_trace`, follow-ups and retries send the same query), and
//! traces are never removed. So a query that verifies under this node's own
//! key, is still fresh, and names no trace of this node was signed by
//! another process holding the key: a copied data directory, a restored
//! backup running beside the node, or a stolen key (unless this node's own
//! data directory was put back from a backup older than the query, which
//! lost its trace). Other members take that
//! process for this State. The node cannot stop it; it says so (`status`,
//! the log, a metric) so that the State replaces its key (README, "A State
//! whose node key was compromised").

use std::time::{Duration, Instant};

use libp2p::PeerId;
use serde::Serialize;

/// How often the sightings are logged at ERROR at most: a copy sending
/// traces all day would otherwise fill the log.
const LOGGED_EVERY: Duration = Duration::from_secs(60);

/// The sightings of this node's key at work elsewhere since the node
/// started, as `status` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyCopySeen {
    /// Queries signed with this node's key that it never sent, read since
    /// start.
    pub queries: u64,
    /// When the last was read (unix seconds, shown as a date).
    #[serde(with = "crate::model::instant")]
    pub last_at: u64,
    /// The peer that delivered it: the copy itself when it came directly,
    /// a member relaying it when by gossip.
    pub last_from: String,
    /// The last one's query id (hex): a member holding that query can say
    /// where it came from.
    pub last_query: String,
}

/// What the node keeps of the sightings ([`KeyCopySeen`]) and when it
/// last logged them.
#[derive(Debug, Default)]
pub(super) struct KeyCopies {
    seen: Option<KeyCopySeen>,
    logged: Option<Instant>,
}

impl KeyCopies {
    /// Notes a query signed with this node's key that it never sent.
    /// Returns whether to log it now: the first, and then at most one a
    /// [`LOGGED_EVERY`].
    pub(super) fn note(&mut self, from: PeerId, query: String, now: u64, at: Instant) -> bool {
        let queries = self.seen.as_ref().map_or(0, |s| s.queries) + 1;
        self.seen = Some(KeyCopySeen {
            queries,
            last_at: now,
            last_from: from.to_string(),
            last_query: query,
        });
        let log = self
            .logged
            .is_none_or(|t| at.saturating_duration_since(t) >= LOGGED_EVERY);
        if log {
            self.logged = Some(at);
        }
        log
    }

    pub(super) fn seen(&self) -> Option<KeyCopySeen> {
        self.seen.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sightings_are_counted_each_and_logged_once_a_minute() {
        let mut k = KeyCopies::default();
        assert_eq!(k.seen(), None);
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        assert!(k.note(a, "q1".into(), 100, t0));
        assert!(!k.note(b, "q2".into(), 101, t0 + Duration::from_secs(59)));
        let s = k.seen().unwrap();
        assert_eq!(
            (s.queries, s.last_at, s.last_from, s.last_query.as_str()),
            (2, 101, b.to_string(), "q2")
        );
        assert!(k.note(a, "q3".into(), 160, t0 + LOGGED_EVERY));
        assert_eq!(k.seen().unwrap().queries, 3);
    }
}
