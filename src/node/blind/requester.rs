//! This node's blind traces: the query is signed and stored as any trace's,
//! but never published; each expected holder is probed (its filters fetched
//! and checked, the candidates blinded, evaluated, finalised and looked up)
//! and only a holder whose filter hits is sent the signed query.

use std::sync::Arc;

use libp2p::PeerId;

use super::{BlindHolder, BlindOutcome, BlindTrace, Fetched};
use crate::blind::{
    Blinded, DEFAULT_ALPHABET, ReceivedFilter, canonical_input, finalize, query_candidates,
};
use crate::marking::{MarkingPrefix, SerialQuery};
use crate::node::{
    Asked, ExpectedBy, NewTrace, Node, NodeError, SendTraceError, StoredTrace, bump, unix_now,
};
use crate::protocol::blind::{BlindReply, BlindRequest, FilterHeader};
use crate::protocol::codec::Kind;
use crate::protocol::{Refusal, Reply, TraceQuery, decode_and_verify};

/// Why a trace was not sent in the clear to the holders the officer chose.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendClearError {
    #[error("trace {0} is not a blind trace: every expected holder was sent its query")]
    NotBlind(String),
}

/// How one probe ended.
struct Probed {
    outcome: BlindOutcome,
    detail: Option<String>,
    elements: u32,
}

impl Probed {
    fn of(outcome: BlindOutcome, detail: impl Into<String>) -> Self {
        Probed {
            outcome,
            detail: Some(detail.into()),
            elements: 0,
        }
    }
}

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
        let holders = std::mem::take(&mut stored.asked)
            .into_iter()
            .map(|a| {
                let up = connected.contains(&a.peer);
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

    /// Probes the holders of this node's pending blind traces that were
    /// unreachable, or not probed yet (a probe cut short by a restart), now
    /// that `peer` is connected.
    pub(in crate::node) fn probe_waiting(&self, peer: PeerId) {
        let node = self.clone();
        self.spawn(async move {
            let n = node.clone();
            let p = peer.to_string();
            let due: Vec<String> = tokio::task::spawn_blocking(move || {
                let ids: Vec<String> = n
                    .inner
                    .pending
                    .lock()
                    .map(|p| p.iter().cloned().collect())
                    .unwrap_or_default();
                ids.into_iter()
                    .filter(|id| {
                        n.trace(id).is_ok_and(|t| {
                            t.deadline > unix_now()
                                && t.blind.as_ref().is_some_and(|b| {
                                    b.holders.iter().any(|h| {
                                        h.peer == p
                                            && matches!(
                                                h.outcome,
                                                BlindOutcome::Unreachable | BlindOutcome::Pending
                                            )
                                    })
                                })
                        })
                    })
                    .collect()
            })
            .await
            .unwrap_or_default();
            for id in due {
                node.probe(peer, id).await;
            }
        });
    }

    /// A follow-up along the chain of custody of a blind trace: the State it
    /// points at is probed like an expected holder, and sent the query only
    /// on a hit. Returns false for a clear trace, or a holder that already
    /// received the marking (the caller asks it).
    pub(in crate::node) async fn follow_up_blind(
        &self,
        peer: PeerId,
        state: crate::model::CountryCode,
        id: &str,
    ) -> bool {
        let node = self.clone();
        let i = id.to_string();
        let p = peer.to_string();
        // None: a clear trace; Some(true): probe it; Some(false): nothing
        // to do (probed or being probed); ask: it received the marking.
        let probe = tokio::task::spawn_blocking(move || {
            let mut probe = None;
            let r = node.inner.traces.update(&i, |t| {
                let Some(b) = t.blind.as_mut() else { return };
                match b.holders.iter().find(|h| h.peer == p) {
                    Some(h) if h.received_marking => probe = None,
                    // Probed already, or being probed: its outcome stands.
                    Some(_) => probe = Some(false),
                    None => {
                        b.holders.push(BlindHolder {
                            peer: p.clone(),
                            state: Some(state),
                            outcome: BlindOutcome::Pending,
                            detail: Some("the chain of custody points at it".into()),
                            elements: 0,
                            received_marking: false,
                            at: Some(unix_now()),
                        });
                        probe = Some(true);
                    }
                }
                // Listed as asked by the follow-up's planning: a blind trace
                // lists only the holders sent its query (a hit adds it back).
                if probe.is_some() {
                    t.asked.retain(|a| a.peer != p);
                }
            });
            match r {
                Ok(_) => probe,
                Err(e) => {
                    node.store_failed(&e.to_string());
                    Some(false)
                }
            }
        })
        .await
        .unwrap_or(Some(false));
        match probe {
            None => false,
            Some(false) => true,
            Some(true) => {
                self.probe(peer, id.to_string()).await;
                true
            }
        }
    }

    /// A member that subscribed to a blind trace's topic while it waits
    /// becomes one of its holders, to be probed. Returns false for a clear
    /// trace (the caller adopts it as usual). Blocking.
    pub(in crate::node) fn adopt_blind(
        &self,
        peer: PeerId,
        state: crate::model::CountryCode,
        id: &str,
    ) -> bool {
        let p = peer.to_string();
        let mut blind = false;
        let mut added = false;
        let r = self.inner.traces.update(id, |t| {
            let Some(b) = t.blind.as_mut() else { return };
            blind = true;
            if !b.holders.iter().any(|h| h.peer == p) {
                b.holders.push(BlindHolder {
                    peer: p.clone(),
                    state: Some(state),
                    outcome: BlindOutcome::Pending,
                    detail: None,
                    elements: 0,
                    received_marking: false,
                    at: Some(unix_now()),
                });
                t.nobody_holds = false;
                added = true;
            }
        });
        if let Err(e) = r {
            self.store_failed(&e.to_string());
        }
        if added {
            let node = self.clone();
            let id = id.to_string();
            self.spawn(async move { node.probe(peer, id).await });
        }
        blind
    }

    /// `trace retry` of a blind trace (`None` for a clear one): holders
    /// expected since are added to be probed; those refused (their budget)
    /// or unreachable are probed again; holders that received the marking
    /// without a final answer are asked again. Nobody else is sent anything.
    pub(in crate::node) async fn retry_blind(
        &self,
        id: &str,
    ) -> Option<Result<StoredTrace, NodeError>> {
        let node = self.clone();
        let i = id.to_string();
        let t = match tokio::task::spawn_blocking(move || node.trace(&i)).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Some(Err(e)),
            Err(e) => return Some(Err(NodeError::Config(e.to_string()))),
        };
        t.blind.as_ref()?;
        Some(self.retry_blind_trace(t).await)
    }

    async fn retry_blind_trace(&self, t: StoredTrace) -> Result<StoredTrace, NodeError> {
        let topics: Vec<crate::net::Topic> =
            t.topics.iter().filter_map(|x| x.parse().ok()).collect();
        let prefixes: Vec<MarkingPrefix> = topics
            .iter()
            .filter_map(|x| match x {
                crate::net::Topic::Prefix(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let imports: Vec<crate::model::CountryCode> = topics
            .iter()
            .filter_map(|x| match x {
                crate::net::Topic::Import(c) => Some(*c),
                _ => None,
            })
            .collect();
        let expected = self
            .expected_holders(&crate::node::holders::Reach {
                topics: &topics,
                prefixes: &prefixes,
                imports: &imports,
            })
            .await
            .map_err(|e| NodeError::Config(e.to_string()))?;
        let limits = self.inner.rules.limits;
        let default_timeout = self.inner.settings.trace_timeout_secs;
        let node = self.clone();
        let id = t.id.clone();
        let (t, probe, ask) = tokio::task::spawn_blocking(move || {
            let expires = crate::node::decode_stored::<TraceQuery>(&t.query, limits)
                .map(|q| q.issued_at.saturating_add(u64::from(q.ttl_secs)))
                .unwrap_or(0);
            let now = unix_now();
            if expires <= now + 1 {
                return Err(NodeError::BadTrace(format!(
                    "trace {id}: its query's time-to-live ended at {}; holders refuse it now. Send a new trace for the same weapon",
                    crate::model::format_unix(expires)
                )));
            }
            let again = |h: &BlindHolder| {
                matches!(
                    h.outcome,
                    BlindOutcome::Pending | BlindOutcome::Unreachable | BlindOutcome::Refused
                )
            };
            let t = node
                .inner
                .traces
                .update(&id, |t| {
                    let Some(b) = t.blind.as_mut() else { return };
                    for a in &expected {
                        if !b.holders.iter().any(|h| h.peer == a.peer) {
                            b.holders.push(BlindHolder {
                                peer: a.peer.clone(),
                                state: a.state,
                                outcome: BlindOutcome::Pending,
                                detail: None,
                                elements: 0,
                                received_marking: false,
                                at: Some(now),
                            });
                        }
                    }
                    for h in b.holders.iter_mut().filter(|h| again(h)) {
                        h.outcome = BlindOutcome::Pending;
                        h.detail = None;
                    }
                    let timeout = t.timeout_secs.unwrap_or(default_timeout);
                    t.deadline = (now + timeout).min(expires);
                    for a in t.asked.iter_mut() {
                        a.declined = None;
                    }
                })?
                .ok_or_else(|| NodeError::NoSuchTrace(id.clone()))?;
            let probe: Vec<PeerId> = t
                .blind
                .iter()
                .flat_map(|b| &b.holders)
                .filter(|h| h.outcome == BlindOutcome::Pending)
                .filter_map(|h| h.peer.parse().ok())
                .collect();
            let ask: Vec<PeerId> = t
                .asked
                .iter()
                .filter(|a| !t.final_at.contains_key(&a.peer))
                .filter_map(|a| a.peer.parse().ok())
                .collect();
            if probe.is_empty() && ask.is_empty() {
                return Err(NodeError::NothingToRetry(id.clone()));
            }
            if let Ok(mut p) = node.inner.pending.lock() {
                p.insert(id.clone());
            }
            Ok((t, probe, ask))
        })
        .await
        .map_err(|e| NodeError::Config(e.to_string()))??;
        self.arm_deadline(t.id.clone(), t.deadline);
        for peer in probe {
            let node = self.clone();
            let id = t.id.clone();
            self.spawn(async move { node.probe(peer, id).await });
        }
        for peer in ask {
            let node = self.clone();
            let id = t.id.clone();
            self.spawn(async move {
                node.ask_and_file(peer, id).await;
            });
        }
        self.notify();
        Ok(t)
    }

    /// Probes one holder of blind trace `id`, records the outcome, and on a
    /// hit sends it the signed query.
    async fn probe(&self, peer: PeerId, id: String) {
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
        self.set_blind_outcome(&id, &peer, p, hit).await;
        if hit {
            self.ask_and_file(peer, id).await;
        }
    }

    /// Records a holder's outcome; with `send`, also lists it among those
    /// asked (it is sent the signed query next).
    async fn set_blind_outcome(&self, id: &str, peer: &PeerId, p: Probed, send: bool) {
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

    async fn probe_holder(&self, peer: PeerId, q: &TraceQuery, bound: usize) -> Probed {
        let Ok(serial) = SerialQuery::parse(q.marking.serial()) else {
            return Probed::of(BlindOutcome::Failed, "the trace's serial no longer parses");
        };
        let makers = match self.inner.registry.as_ref() {
            Some(r) => r.makers(),
            None => return Probed::of(BlindOutcome::Failed, "a bootstrap node sends no traces"),
        };
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        let mut filters: Vec<Arc<Fetched>> = Vec::new();
        let mut of_input: Vec<usize> = Vec::new();
        for prefix in q.marking.routes(&makers).prefixes {
            let f = match self.fetch_filter(peer, &prefix).await {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(p) => return p,
            };
            let candidates = match query_candidates(&serial, &f.header.alphabet, bound) {
                Ok(c) => c,
                Err(e) => return Probed::of(BlindOutcome::BeyondBound, e.to_string()),
            };
            if let Some(first) = filters.first()
                && first.header.oprf_key != f.header.oprf_key
            {
                return Probed::of(
                    BlindOutcome::Failed,
                    "its filters state two different OPRF keys",
                );
            }
            for c in candidates {
                inputs.push(canonical_input(&prefix, &c));
                of_input.push(filters.len());
            }
            filters.push(f);
        }
        let Some(first) = filters.first() else {
            return Probed {
                outcome: BlindOutcome::HoldsNothing,
                detail: None,
                elements: 0,
            };
        };
        let oprf_key = first.header.oprf_key;
        let n = inputs.len();
        if n > crate::protocol::blind::MAX_BLIND_ELEMENTS {
            return Probed::of(
                BlindOutcome::BeyondBound,
                format!("{n} elements under all prefixes, more than one request holds"),
            );
        }
        let blinded = match Blinded::new(inputs) {
            Ok(b) => b,
            Err(e) => return Probed::of(BlindOutcome::Failed, e.to_string()),
        };
        let req = BlindRequest::Evaluate {
            elements: blinded.elements.clone(),
        };
        let reply = match self.blind_request(peer, &req).await {
            Ok(r) => r,
            Err(p) => return p,
        };
        let mut p = match reply {
            BlindReply::Evaluated { elements, proof } => {
                match finalize(&blinded, &elements, &proof, &oprf_key) {
                    Ok(keys) => {
                        let hit = keys
                            .iter()
                            .zip(&of_input)
                            .any(|(k, i)| filters[*i].filter.contains(*k));
                        Probed {
                            outcome: if hit {
                                BlindOutcome::Hit
                            } else {
                                BlindOutcome::NoHit
                            },
                            detail: None,
                            elements: 0,
                        }
                    }
                    Err(e) => Probed::of(BlindOutcome::Failed, e.to_string()),
                }
            }
            BlindReply::Refused {
                refusal,
                retry_after_secs,
            } => Probed::of(
                BlindOutcome::Refused,
                format!("{refusal}; retry after {retry_after_secs} s (`tracenet trace retry`)"),
            ),
            other => Probed::of(
                BlindOutcome::Failed,
                format!("unexpected reply {}", reply_name(&other)),
            ),
        };
        p.elements = n as u32;
        p
    }

    /// The holder's checked filter for `prefix` (cached per version); `None`
    /// when it holds nothing there.
    async fn fetch_filter(
        &self,
        peer: PeerId,
        prefix: &MarkingPrefix,
    ) -> Result<Option<Arc<Fetched>>, Probed> {
        let req = BlindRequest::Filter {
            prefix: prefix.clone(),
        };
        let frame = match self.blind_request(peer, &req).await? {
            BlindReply::Filter(f) => f,
            BlindReply::NoFilter => return Ok(None),
            BlindReply::Refused { refusal, .. } => {
                return Err(Probed::of(BlindOutcome::Refused, refusal.to_string()));
            }
            other => {
                return Err(Probed::of(
                    BlindOutcome::Failed,
                    format!("unexpected reply {}", reply_name(&other)),
                ));
            }
        };
        let fail = |why: String| Probed::of(BlindOutcome::Failed, why);
        let header = decode_and_verify::<FilterHeader>(&frame, self.inner.rules.limits)
            .map_err(|e| fail(format!("its filter header: {e}")))?
            .into_parts()
            .1;
        let member = self.read_members().get(&peer).cloned();
        if member.is_none_or(|m| m.key != header.holder.key || m.state != header.holder.state) {
            return Err(fail(
                "its filter header is not signed by its roster key".into(),
            ));
        }
        if header.prefix != *prefix {
            return Err(fail("its filter header is for another prefix".into()));
        }
        let peer_s = peer.to_string();
        if let Ok(mut pins) = self.inner.blind.pins.lock() {
            let pinned = pins.entry(peer_s.clone()).or_insert(header.oprf_key);
            if *pinned != header.oprf_key {
                tracing::warn!(%peer, "oprf_key_changed: a holder's filter states another OPRF key than before");
                return Err(fail("its OPRF key changed (oprf_key_changed)".into()));
            }
        }
        let key = (peer_s, prefix.clone());
        let cached = self
            .inner
            .blind
            .fetched
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
            .filter(|f| f.header == header);
        if let Some(f) = cached {
            return Ok(Some(f));
        }
        let mut chunks = Vec::with_capacity(header.chunks.len());
        for index in 0..header.chunks.len() {
            let req = BlindRequest::Chunk {
                prefix: prefix.clone(),
                version: header.version,
                index: index as u32,
            };
            match self.blind_request(peer, &req).await? {
                BlindReply::Chunk(c) => chunks.push(c),
                other => {
                    return Err(fail(format!(
                        "chunk {index} of its filter: {}",
                        reply_name(&other)
                    )));
                }
            }
        }
        let filter = ReceivedFilter::assemble(&header, &chunks)
            .map_err(|e| fail(format!("its filter: {e}")))?;
        let f = Arc::new(Fetched { header, filter });
        if let Ok(mut m) = self.inner.blind.fetched.lock() {
            m.insert(key, f.clone());
        }
        Ok(Some(f))
    }

    /// One blind request and its decoded reply; an older node's reply (kind
    /// `reply`, refusing the kind) is `no_filter`.
    async fn blind_request(&self, peer: PeerId, req: &BlindRequest) -> Result<BlindReply, Probed> {
        let bytes = req
            .encode()
            .map_err(|e| Probed::of(BlindOutcome::Failed, e.to_string()))?;
        let stopping = self.inner.stopping.clone();
        let reply = tokio::select! {
            r = self.inner.net.request(peer, bytes) => r.map_err(|e| Probed::of(BlindOutcome::Unreachable, e.to_string()))?,
            _ = stopping.cancelled() => return Err(Probed::of(BlindOutcome::Unreachable, "this node is stopping")),
        };
        let limits = crate::protocol::Limits {
            max_frame: self.inner.settings.max_message_bytes,
        };
        match crate::protocol::codec::peek_kind(&reply) {
            Ok(Kind::BlindReply) => BlindReply::decode(&reply, limits)
                .map_err(|e| Probed::of(BlindOutcome::Failed, format!("its reply: {e}"))),
            Ok(Kind::Reply) => match Reply::decode(&reply, limits) {
                Ok(Reply::Refused(Refusal::UnexpectedKind | Refusal::Malformed)) => {
                    Err(Probed::of(
                        BlindOutcome::NoFilter,
                        "it does not take part in blind traces (a node before them)",
                    ))
                }
                Ok(Reply::Refused(r)) => Err(Probed::of(BlindOutcome::Refused, r.to_string())),
                _ => Err(Probed::of(BlindOutcome::Failed, "an unexpected reply")),
            },
            _ => Err(Probed::of(BlindOutcome::Failed, "an unreadable reply")),
        }
    }

    /// Sends blind trace `id`'s signed query in the clear to every holder
    /// that awaits the officer's choice (no filter, failed, beyond the
    /// bound): the officer chose so. Returns how many (0: none awaited it).
    pub async fn send_clear(&self, id: &str) -> Result<usize, NodeError> {
        let node = self.clone();
        let i = id.to_string();
        let t = tokio::task::spawn_blocking(move || node.trace(&i))
            .await
            .map_err(|e| NodeError::Config(e.to_string()))??;
        let Some(b) = &t.blind else {
            return Err(NodeError::SendClear(SendClearError::NotBlind(id.into())));
        };
        let chosen: Vec<PeerId> = b
            .holders
            .iter()
            .filter(|h| h.outcome.awaits_officer() && !h.received_marking)
            .filter_map(|h| h.peer.parse().ok())
            .collect();
        // Nobody awaits the officer's choice (any more): nothing is sent.
        for peer in &chosen {
            let current = b
                .holders
                .iter()
                .find(|h| h.peer == peer.to_string())
                .map(|h| (h.outcome, h.detail.clone()));
            let (outcome, detail) = current.unwrap_or((BlindOutcome::NoFilter, None));
            let p = Probed {
                outcome,
                detail: Some(format!(
                    "{}; sent in the clear by the officer's choice",
                    detail.unwrap_or_else(|| "no filter".into())
                )),
                elements: 0,
            };
            self.set_blind_outcome(id, peer, p, true).await;
            let node = self.clone();
            let id = id.to_string();
            let peer = *peer;
            self.spawn(async move {
                node.ask_and_file(peer, id).await;
            });
        }
        Ok(chosen.len())
    }
}

fn reply_name(r: &BlindReply) -> &'static str {
    match r {
        BlindReply::Filter(_) => "filter",
        BlindReply::NoFilter => "no_filter",
        BlindReply::Chunk(_) => "chunk",
        BlindReply::Stale { .. } => "stale (the filter was rebuilt meanwhile; retry)",
        BlindReply::Evaluated { .. } => "evaluated",
        BlindReply::Refused { .. } => "refused",
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
        let now = unix_now();
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
        };
        let signed = self.inner.key.sign(body)?;
        let routes = t.marking.routes(&makers);
        let prefixes = routes.prefixes;
        let mut imports: Vec<crate::model::CountryCode> = Vec::new();
        for c in t.marking.imports().iter().flat_map(|m| m.country.routes()) {
            if !imports.contains(&c) {
                imports.push(c);
            }
        }
        let mut topics: Vec<crate::net::Topic> = prefixes
            .iter()
            .cloned()
            .map(crate::net::Topic::Prefix)
            .collect();
        topics.extend(routes.factories.into_iter().map(crate::net::Topic::Factory));
        topics.extend(imports.iter().map(|c| crate::net::Topic::Import(*c)));
        topics.dedup();
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
            created_at_ms: Some(crate::node::unix_now_ms()),
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
            node.file_new_trace(&t, signed.digest()).map(|()| t)
        })
        .await
        .map_err(|e| SendTraceError::Store(e.to_string()))?
        .map_err(|e| SendTraceError::Store(e.to_string()))?;
        self.arm_deadline(stored.id.clone(), stored.deadline);
        Ok(stored)
    }
}
