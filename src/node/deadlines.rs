//! What a sent trace waits for: its deadline (one timer per trace, re-armed
//! by a retry) and the reachability of the States it asked.

use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;

use super::{Node, StoredTrace, unix_now};

/// What the pending set keeps of a trace whose deadline has not passed:
/// what its timers need, so that they read nothing from the store. In a
/// burst of traces (more than the store keeps heads of, `HEADS_KEPT`, in
/// the seconds before a timer fires), reading the head back cost each
/// timer a store read.
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    /// When the trace stops waiting (unix seconds): the head's `deadline`,
    /// as last written. A retry writes its new deadline to the head and
    /// here in one step under the pending set's lock
    /// (`Node::retry_pending`).
    pub deadline: u64,
    /// The gossip topics its query was published on (the head's `topics`,
    /// never changed after sending): what the deadline unindexes.
    pub topics: Arc<[String]>,
}

/// Takes trace `id` out of `pending` if its deadline is not after `now`
/// (unix seconds): a timer armed for an earlier deadline, which a retry has
/// moved since, leaves it waiting.
fn take_if_past(
    pending: &mut std::collections::HashMap<String, Waiting>,
    id: &str,
    now: u64,
) -> Option<Waiting> {
    if pending.get(id)?.deadline > now {
        return None;
    }
    pending.remove(id)
}

impl Waiting {
    pub fn of(t: &StoredTrace) -> Waiting {
        Waiting {
            deadline: t.deadline,
            topics: t.topics.iter().cloned().collect(),
        }
    }
}

impl Node {
    /// Marks `peer` unreachable in every pending trace that asked it and
    /// still waits on it; one flush for all of them.
    pub(super) async fn mark_unreachable(&self, peer: PeerId, why: String) {
        self.mark_unreachable_where(peer, why, false, u64::MAX)
            .await;
    }

    /// As [`Self::mark_unreachable`], for the traces sent up to `until_ms`
    /// (unix milliseconds): those a connection lost then may have carried.
    pub(super) async fn mark_unreachable_until(&self, peer: PeerId, why: String, until_ms: u64) {
        self.mark_unreachable_where(peer, why, false, until_ms)
            .await;
    }

    /// A link opened on demand closed (net::links): routine once a holder
    /// has said its word, but a holder that has said nothing yet (handed
    /// the query by gossip over that link, then gone, or its gossip lost)
    /// would otherwise wait unasked until the deadline. Those are marked
    /// unreachable, and so asked again by the maintenance timer; a holder
    /// that acknowledged, refused for now or declined is left as it is.
    /// Only the traces sent up to `until_ms` (unix milliseconds), when the
    /// link closed.
    pub(super) async fn mark_silent_unreachable(&self, peer: PeerId, why: String, until_ms: u64) {
        self.mark_unreachable_where(peer, why, true, until_ms).await;
    }

    async fn mark_unreachable_where(
        &self,
        peer: PeerId,
        why: String,
        silent_only: bool,
        until_ms: u64,
    ) {
        let node = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let ids = node.pending_waiting_on(&peer);
            let peer_s = peer.to_string();
            // Whether `a`, `peer`'s entry in `t`, is to be marked now.
            let due = |t: &super::StoredTrace, a: &super::Asked| {
                let spoke = t.first_ack.contains_key(&peer_s)
                    || t.filed.iter().any(|f| f.peer == peer_s)
                    || a.declined.is_some();
                let sent_ms = t.created_at_ms.unwrap_or(t.created_at.saturating_mul(1000));
                a.peer == peer_s
                    && sent_ms <= until_ms
                    && !t.final_at.contains_key(&peer_s)
                    && a.unreachable.is_none()
                    && !(silent_only && spoke)
            };
            let mut changed = false;
            for id in ids {
                let waits = node
                    .trace_head(&id)
                    .is_ok_and(|t| t.asked.iter().any(|a| due(&t, a)));
                if !waits {
                    continue;
                }
                let now = unix_now();
                let r = node.inner.traces.update_unflushed(&id, |t| {
                    let marked: Vec<bool> = t.asked.iter().map(|a| due(t, a)).collect();
                    for (a, m) in t.asked.iter_mut().zip(marked) {
                        if m {
                            a.set_unreachable(why.clone(), now);
                        }
                    }
                });
                changed |= r.is_ok();
            }
            if changed {
                if let Err(e) = node.inner.group_flush.flush(&node.inner.db) {
                    node.store_failed(&e.to_string());
                }
                node.notify();
            }
        })
        .await;
    }

    /// Arms the deadline timers of the traces pending at start.
    pub(super) fn arm_deadlines(&self) {
        let pending: Vec<(String, u64)> = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, w)| (id.clone(), w.deadline))
            .collect();
        for (id, deadline) in pending {
            self.arm_deadline(id, deadline);
        }
    }

    /// At `deadline`, takes the trace off the pending set and tells waiters,
    /// unless a retry moved its deadline since. Reads nothing from the
    /// store: the deadline and topics are the pending set's ([`Waiting`]).
    pub(super) fn arm_deadline(&self, id: String, deadline: u64) {
        let node = self.clone();
        let stopping = self.inner.stopping.clone();
        self.spawn(async move {
            let wait = Duration::from_secs(deadline.saturating_sub(unix_now()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // At shutdown a timer does not hold the drain up.
                _ = stopping.cancelled() => return,
            }
            let n = node.clone();
            // Off the async workers: a retry holds the pending set's lock
            // while it writes the trace and watches it.
            let expired = tokio::task::spawn_blocking(move || {
                // Under the pending set's lock: a retry writes its new
                // deadline there as it puts the trace back, so it either is
                // seen here (the trace waits on) or comes after.
                // A lock poisoned by a panic elsewhere still expires traces.
                let mut pending = n.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
                let Some(w) = take_if_past(&mut pending, &id, unix_now()) else {
                    return false;
                };
                n.unindex_pending(&id, &w.topics);
                true
            })
            .await
            .unwrap_or(false);
            if expired {
                node.notify();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(deadline: u64) -> Waiting {
        Waiting {
            deadline,
            topics: vec!["tracenet/1/prefix/DE/WALTHER".to_string()].into(),
        }
    }

    /// A deadline's timer reads the deadline the pending set holds: a retry
    /// that moved it (and wrote it there) keeps the trace waiting past the
    /// first timer; the retry's own timer ends it.
    #[test]
    fn a_trace_retried_before_its_deadline_waits_for_the_new_one() {
        let mut pending = std::collections::HashMap::new();
        pending.insert("t1".to_string(), waiting(100));
        // Not yet.
        assert!(take_if_past(&mut pending, "t1", 99).is_none());
        // A retry at 99 moves it to 160; the first timer fires at 100.
        pending.insert("t1".to_string(), waiting(160));
        assert!(take_if_past(&mut pending, "t1", 100).is_none());
        assert!(pending.contains_key("t1"), "still waiting");
        // The retry's timer, at 160: taken out, with its topics to unindex.
        let w = take_if_past(&mut pending, "t1", 160).expect("past its deadline");
        assert_eq!(&*w.topics, ["tracenet/1/prefix/DE/WALTHER".to_string()]);
        assert!(pending.is_empty());
        // A timer for a trace already taken out (or never pending): nothing.
        assert!(take_if_past(&mut pending, "t1", 200).is_none());
    }
}
