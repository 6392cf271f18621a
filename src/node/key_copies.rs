//! A copy of this node's key at work elsewhere. Every query this node signs
//! is stored as a trace, its digest indexed, before it leaves
//! (`Node::file_new_trace`; follow-ups and retries send the same bytes),
//! and traces are never removed. So a fresh query that verifies under this
//! node's own key and whose digest names no trace was signed by another
//! process holding the key: a copied data directory, a backup started
//! beside the node, a stolen key; or this node's data directory was put
//! back from a backup older than the query, which lost its trace. Other
//! members take such a process for this State. The node cannot stop it; it
//! says so (`status`, the log, a metric) so that the State finds the copy or
//! replaces its key (README, "A State whose node key was compromised").
//!
//! It sees only what reaches it, and the copy shares its PeerId: libp2p
//! connects neither to nor from its own PeerId, so nothing directed (a
//! blind trace's query, a query sent to one holder) ever comes; under
//! `strict` gossip validation gossipsub passes no message to its author's
//! PeerId and drops one claiming to come from itself; under `payload` a
//! copy's query comes only from a member that read it from another member
//! (links bounded, the copy not linked to every holder), and a member
//! linked to both processes may hand it to either. SECURITY.md, "Known
//! limits".

use std::time::{Duration, Instant};

use libp2p::PeerId;
use lru::LruCache;
use serde::Serialize;

use crate::protocol::Digest;

/// How often the sightings are logged at ERROR at most: a copy sending
/// traces all day would otherwise fill the log.
const LOGGED_EVERY: Duration = Duration::from_secs(60);

/// Queries remembered as counted: a query read again (on another of its
/// topics, or relayed again) is counted once while it is among the last
/// this many.
const COUNTED_KEPT: usize = 1024;

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
    /// The member that delivered the last (a relay: the copy shares this
    /// node's PeerId and never reaches it itself).
    pub last_from: String,
    /// The last one's query id (hex): a member holding that query can say
    /// where it came from.
    pub last_query: String,
}

/// What the node keeps of the sightings ([`KeyCopySeen`]), the queries
/// counted, and when it last logged them.
#[derive(Debug)]
pub(super) struct KeyCopies {
    seen: Option<KeyCopySeen>,
    counted: LruCache<Digest, ()>,
    logged: Option<Instant>,
}

impl Default for KeyCopies {
    fn default() -> Self {
        KeyCopies {
            seen: None,
            counted: LruCache::new(
                std::num::NonZeroUsize::new(COUNTED_KEPT).unwrap_or(std::num::NonZeroUsize::MIN),
            ),
            logged: None,
        }
    }
}

/// What [`KeyCopies::note`] made of a sighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Noted {
    /// A query counted already: nothing changes.
    Again,
    /// Counted; `log`: log it now (the first, then at most one a
    /// [`LOGGED_EVERY`]).
    New { log: bool },
}

impl KeyCopies {
    /// Notes the query of digest `digest` and id `query`, signed with this
    /// node's key and never sent by it, read from `from`.
    pub(super) fn note(
        &mut self,
        from: PeerId,
        digest: Digest,
        query: String,
        now: u64,
        at: Instant,
    ) -> Noted {
        if self.counted.put(digest, ()).is_some() {
            return Noted::Again;
        }
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
        Noted::New { log }
    }

    pub(super) fn seen(&self) -> Option<KeyCopySeen> {
        self.seen.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_query_is_counted_once_and_logged_once_a_minute() {
        let mut k = KeyCopies::default();
        assert_eq!(k.seen(), None);
        let (a, b) = (PeerId::random(), PeerId::random());
        let d = |n: u8| Digest::of(&[n]);
        let t0 = Instant::now();
        assert_eq!(
            k.note(a, d(1), "q1".into(), 100, t0),
            Noted::New { log: true }
        );
        // The same query again, on another topic or by another relay.
        assert_eq!(k.note(b, d(1), "q1".into(), 100, t0), Noted::Again);
        let t = t0 + Duration::from_secs(59);
        assert_eq!(
            k.note(b, d(2), "q2".into(), 101, t),
            Noted::New { log: false }
        );
        let s = k.seen().unwrap();
        assert_eq!(
            (s.queries, s.last_at, s.last_from, s.last_query.as_str()),
            (2, 101, b.to_string(), "q2")
        );
        let t = t0 + LOGGED_EVERY;
        assert_eq!(
            k.note(a, d(3), "q3".into(), 160, t),
            Noted::New { log: true }
        );
        assert_eq!(k.seen().unwrap().queries, 3);
    }
}
