//! This node's blind traces: the query is signed and stored as any trace's,
//! but never published; each expected holder is probed (`probe`) and only a
//! holder whose filter hits is sent the signed query. What happens later
//! (reconnects, retries, follow-ups, the officer's choice) is in `later`.

use libp2p::PeerId;

use super::probe::Probed;
use super::{BlindHolder, BlindOutcome, BlindTrace};
use crate::blind::{DEFAULT_ALPHABET, query_candidates};
use crate::marking::SerialQuery;
use crate::node::{
    Asked, ExpectedBy, NewTrace, Node, NodeError, SendTraceError, StoredTrace, bump, unix_now,
};
use crate::protocol::{TraceQuery, decode_and_verify};

/// Probes of one holder after it said when to come back.
const REPROBES: u32 = 30;

impl Node {
    /// Sends a blind trace: checks the bound, signs and stores the query
    /// (never published), then probes each expected holder.
    pub(in crate::node) async fn send_blind_trace(
        &self,
        t: NewTrace,
    ) -> Result<StoredTrace, SendTraceError> {
        let bound = self.inner.settings.blind_max_candidates;
        let serial = SerialQuery::parse(t.marking.serial())
            .map_err(|e| SendTraceError::Store(e.to_string()))?;
        if let Err(b) = query_candidates(&serial, DEFAULT_ALPHABET, bound) {
            return Err(SendTraceError::BlindBeyondBound(b.to_string()));
        }
        let mut stored = self.sign_and_plan(t).await?;
        let now = unix_now();
        let connected: std::collections::BTreeSet<String> = self
            .inner
            .net
            .connected()
            .await?
            .iter()
            .map(|p| p.to_string())
            .collect();
        // With links bounded, a holder not linked is dialled by its probe.
        let on_demand = self.links_bounded();
        let holders = std::mem::take(&mut stored.asked)
            .into_iter()
            .map(|a| {
                let up = on_demand || connected.contains(&a.peer);
                BlindHolder {
                    peer: a.peer,
                    state: a.state,
                    outcome: if up {
                        BlindOutcome::Pending
                    } else {
                        BlindOutcome::Unreachable
                    },
                    detail: (!up).then(|| "offline when the trace was sent".to_string()),
                    elements: 0,
                    received_marking: false,
                    at: Some(now),
                }
            })
            .collect::<Vec<_>>();
        stored.nobody_holds = holders.is_empty();
        stored.blind = Some(BlindTrace { bound, holders });
        let stored = self.store_new_trace(stored).await?;
        bump(&self.inner.counters.blind_traces);
        for h in stored.blind.iter().flat_map(|b| &b.holders) {
            if h.outcome == BlindOutcome::Pending
                && let Ok(peer) = h.peer.parse::<PeerId>()
            {
                let node = self.clone();
                let id = stored.id.clone();
                self.spawn(async move { node.probe(peer, id).await });
            }
        }
        self.notify();
        Ok(stored)
    }

    /// Probes one holder of blind trace `id`, records the outcome, and on a
    /// hit sends it the signed query.
    pub(super) async fn probe(&self, peer: PeerId, id: String) {
        // Not twice at once: a reconnect and the minute timer may both call.
        let Some(_running) = self.inner.probing.start((id.clone(), peer)) else {
            tracing::debug!(%peer, trace = %id, "blind probe already running");
            return;
        };
        self.probe_attempt(peer, id, 0).await;
    }

    /// [`Node::probe`]; a holder that says when to come back (a filter being
    /// built, its budget) is probed again then, before the deadline, at
    /// most [`REPROBES`] times.
    fn probe_attempt(
        &self,
        peer: PeerId,
        id: String,
        attempt: u32,
    ) -> futures::future::BoxFuture<'static, ()> {
        let node = self.clone();
        Box::pin(async move { node.probe_once(peer, id, attempt).await })
    }

    async fn probe_once(&self, peer: PeerId, id: String, attempt: u32) {
        let node = self.clone();
        let i = id.clone();
        let Ok(Ok(t)) = tokio::task::spawn_blocking(move || node.trace(&i)).await else {
            return;
        };
        let Some(q) = crate::node::decode_stored::<TraceQuery>(&t.query, self.inner.rules.limits)
        else {
            return;
        };
        let bound = t.blind.as_ref().map_or(0, |b| b.bound);
        let p = self.probe_holder(peer, &q, bound).await;
        let hit = p.outcome == BlindOutcome::Hit;
        if hit {
            bump(&self.inner.counters.blind_hits);
        }
        tracing::info!(%peer, trace = %id, outcome = ?p.outcome, detail = p.detail.as_deref().unwrap_or(""), "blind probe");
        let again = p.retry_after.filter(|_| attempt < REPROBES);
        self.set_blind_outcome(&id, &peer, p, hit).await;
        if hit {
            self.ask_and_file(peer, id).await;
        } else if let Some(secs) = again
            && unix_now().saturating_add(u64::from(secs)) < t.deadline
        {
            let node = self.clone();
            let stopping = self.inner.stopping.clone();
            self.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(u64::from(secs))) => {}
                    _ = stopping.cancelled() => return,
                }
                node.probe_attempt(peer, id, attempt + 1).await;
            });
        }
    }

    /// Records a holder's outcome; with `send`, also lists it among those
    /// asked (it is sent the signed query next).
    pub(super) async fn set_blind_outcome(&self, id: &str, peer: &PeerId, p: Probed, send: bool) {
        let node = self.clone();
        let id = id.to_string();
        let peer_s = peer.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            let r = node.inner.traces.update(&id, |t| {
                let Some(b) = t.blind.as_mut() else { return };
                let mut state = None;
                for h in b.holders.iter_mut().filter(|h| h.peer == peer_s) {
                    h.outcome = p.outcome;
                    h.detail = p.detail.clone();
                    h.elements += p.elements;
                    h.at = Some(unix_now());
                    h.received_marking |= send;
                    state = h.state;
                }
                let settled = b.holders.iter().all(|h| h.outcome.is_settled());
                let none_sent = b.holders.iter().all(|h| !h.received_marking);
                let none_waits = !b.holders.iter().any(|h| h.outcome.awaits_officer());
                if send
                    && !t.asked.iter().any(|a| a.peer == peer_s)
                    && let Some(s) = state
                {
                    t.asked
                        .push(Asked::new(peer_s.clone(), s, ExpectedBy::BlindHit));
                }
                // Every holder answered blind and none hit: settled, nobody
                // was sent the marking.
                t.nobody_holds = settled && none_sent && none_waits && t.asked.is_empty();
            });
            match r {
                Ok(_) => node.notify(),
                Err(e) => node.store_failed(&e.to_string()),
            }
        })
        .await;
    }
}

impl Node {
    /// Signs a trace's query and finds its expected holders, as a clear
    /// trace does (`send_trace`), without sending anything.
    async fn sign_and_plan(&self, t: NewTrace) -> Result<StoredTrace, SendTraceError> {
        let Some(reg) = self.inner.registry.as_ref() else {
            return Err(SendTraceError::Bootstrap);
        };
        let makers = reg.makers();
        let id = crate::protocol::QueryId::random().map_err(|_| SendTraceError::Random)?;
        let now_ms = crate::node::unix_now_ms();
        let now = now_ms / 1000;
        let timeout = t
            .timeout_secs
            .unwrap_or(self.inner.settings.trace_timeout_secs)
            .clamp(1, 7 * 86_400);
        let ttl_secs = u64::from(self.inner.settings.trace_ttl_secs)
            .max(timeout)
            .min(7 * 86_400) as u32;
        let body = TraceQuery {
            id,
            requester: crate::protocol::Party {
                state: self.inner.state,
                key: self.inner.key.public_key(),
            },
            issued_at: now,
            ttl_secs,
            priority: t.priority,
            marking: t.marking.clone(),
            category: t.category,
            calibre: t.calibre,
            legal_ground: t.legal_ground,
            intended_use: t.intended_use,
            makers_version: Some(makers.table_version()),
            // Sent only to the holders whose filter hits: never gossiped,
            // and refused by every node that reads it from gossip.
            directed_only: true,
            served: None,
        };
        let signed = self.inner.key.sign(body)?;
        let (topics, prefixes, imports) = crate::node::holders::routes_of(&t.marking, &makers);
        let asked = self
            .expected_holders(&crate::node::holders::Reach {
                topics: &topics,
                prefixes: &prefixes,
                imports: &imports,
            })
            .await?;
        Ok(StoredTrace {
            id: id.to_hex(),
            created_at: now,
            created_at_ms: Some(now_ms),
            deadline: now + timeout,
            query: signed.bytes().to_vec(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            asked,
            answers: Vec::new(),
            local: t.local,
            first_ack: Default::default(),
            final_at: Default::default(),
            followed_up: Vec::new(),
            own_registry: None,
            nobody_holds: false,
            timeout_secs: Some(timeout),
            blind: None,
            filed: Vec::new(),
        })
    }

    /// Stores a new trace with its own registry's records and its audit
    /// entry, and arms its deadline.
    async fn store_new_trace(&self, mut t: StoredTrace) -> Result<StoredTrace, SendTraceError> {
        let node = self.clone();
        let limits = self.inner.rules.limits;
        let stored = tokio::task::spawn_blocking(move || {
            let signed = decode_and_verify::<TraceQuery>(&t.query, limits)
                .map_err(|e| NodeError::Config(e.to_string()))?;
            t.own_registry = node.own_records(signed.body());
            node.file_new_trace(&t, signed.digest())?;
            let follow = node.own_registry_follow_ups(&t);
            // As stored with its follow-ups: the reply shows them.
            let t = if follow.is_empty() {
                t
            } else {
                node.trace(&t.id).unwrap_or(t)
            };
            Ok::<_, NodeError>((t, follow))
        })
        .await
        .map_err(|e| SendTraceError::Store(e.to_string()))?
        .map_err(|e| SendTraceError::Store(e.to_string()))?;
        let (stored, follow) = stored;
        self.arm_deadline(stored.id.clone(), stored.deadline);
        // A member that subscribes to its topics while it waits is probed
        // (`adopt_blind`), as a clear trace's is asked.
        self.index_pending(&stored.id, &stored.topics);
        for (state, id) in follow {
            self.spawn(self.follow_up(state, id));
        }
        Ok(stored)
    }
}
