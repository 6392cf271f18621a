//! What a sent trace waits for: its deadline (one timer per trace, re-armed
//! by a retry) and the reachability of the States it asked.

use std::time::Duration;

use libp2p::PeerId;

use super::{Node, unix_now};

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
            let ids = node.pending_naming(&peer);
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
        let node = self.clone();
        self.spawn(async move {
            let n = node.clone();
            let pending = tokio::task::spawn_blocking(move || {
                let ids: Vec<String> = n.pending_ids();
                ids.into_iter()
                    .filter_map(|id| n.trace_head(&id).ok().map(|t| (t.id.clone(), t.deadline)))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for (id, deadline) in pending {
                node.arm_deadline(id, deadline);
            }
        });
    }

    /// At `deadline`, takes the trace off the pending set and tells waiters,
    /// unless a retry moved its deadline since.
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
            let expired = tokio::task::spawn_blocking(move || {
                // The head is read under the pending set's lock: a retry
                // writes its new deadline before it puts the trace back in
                // the set, so it either is seen here or comes after.
                let Ok(mut pending) = n.inner.pending.lock() else {
                    return false;
                };
                let head = n.trace_head(&id).ok();
                if head.as_ref().is_some_and(|t| t.deadline > unix_now()) {
                    return false;
                }
                n.unindex_pending(&id, head.as_ref().map(|t| t.topics.as_slice()));
                pending.remove(&id)
            })
            .await
            .unwrap_or(false);
            if expired {
                node.notify();
            }
        });
    }
}
