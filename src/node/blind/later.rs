//! A blind trace after it was sent: holders probed when they connect or
//! subscribe, `trace retry`, follow-ups along the chain of custody, and the
//! officer's choice to send in the clear to holders without a filter. None
//! of them sends the query to a holder that did not hit, unless the officer
//! chose so.

use libp2p::PeerId;

use super::probe::Probed;
use super::{BlindHolder, BlindOutcome};
use crate::marking::MarkingPrefix;
use crate::node::{Node, NodeError, StoredTrace, unix_now};

/// Why a trace was not sent in the clear to the holders the officer chose.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendClearError {
    #[error("trace {0} is not a blind trace: every expected holder was sent its query")]
    NotBlind(String),
    #[error(
        "trace {trace}: {state} does not await your choice (it is not among the holders left to the officer, or already has the marking); `tracenet trace show {trace}` (GET /v1/traces/{trace}) lists them"
    )]
    NotAwaiting {
        trace: String,
        state: crate::model::CountryCode,
    },
}

/// A probe still `pending` after this long was cut short (by a restart):
/// longer than a probe's requests take, with their timeouts.
const STALE_PROBE_SECS: u64 = 120;

impl Node {
    /// Probes the holders of this node's pending blind traces that were
    /// unreachable, or not probed yet (a probe cut short by a restart), now
    /// that `peer` is connected.
    pub(in crate::node) fn probe_waiting(&self, peer: PeerId) {
        let node = self.clone();
        self.spawn(async move {
            let n = node.clone();
            let p = peer.to_string();
            let due: Vec<String> = tokio::task::spawn_blocking(move || {
                n.pending_waiting_on(&peer)
                    .into_iter()
                    .filter(|id| {
                        n.trace_head(id).is_ok_and(|t| {
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

    /// With links bounded, the maintenance timer's part for blind traces: a
    /// holder not linked to this node never connects by itself, so one left
    /// unreachable, or pending since before [`STALE_PROBE_SECS`] (a probe a
    /// restart cut short), is probed from here, which dials it; once a
    /// minute, until the deadline. One pass over the pending traces still
    /// waiting on someone.
    pub(in crate::node) async fn probe_unlinked(&self) {
        let node = self.clone();
        let due = tokio::task::spawn_blocking(move || {
            let ids: Vec<String> = node.pending_waiting();
            let now = unix_now();
            let mut due: std::collections::HashMap<PeerId, Vec<String>> = Default::default();
            for id in ids {
                let Ok(t) = node.trace_head(&id) else {
                    continue;
                };
                if t.deadline <= now {
                    continue;
                }
                for h in t.blind.iter().flat_map(|b| &b.holders) {
                    let stale = h.at.is_none_or(|at| at + STALE_PROBE_SECS <= now);
                    let again = match h.outcome {
                        BlindOutcome::Unreachable => true,
                        BlindOutcome::Pending => stale,
                        _ => false,
                    };
                    if again && let Ok(p) = h.peer.parse::<PeerId>() {
                        due.entry(p).or_default().push(id.clone());
                    }
                }
            }
            due
        })
        .await
        .unwrap_or_default();
        for (peer, ids) in due {
            let node = self.clone();
            self.spawn(async move {
                for id in ids {
                    if node.inner.stopping.is_cancelled() {
                        break;
                    }
                    node.probe(peer, id).await;
                }
            });
        }
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
                match b.holders.iter_mut().find(|h| h.peer == p) {
                    Some(h) if h.received_marking => probe = None,
                    // Listed by the follow-up's planning, not probed yet:
                    // this follow-up probes it.
                    Some(h)
                        if h.outcome == BlindOutcome::Pending
                            && h.detail.as_deref() == Some(super::FOLLOW_UP_DETAIL) =>
                    {
                        h.at = Some(unix_now());
                        probe = Some(true);
                    }
                    // Probed already, or being probed: its outcome stands.
                    Some(_) => probe = Some(false),
                    None => {
                        b.holders.push(BlindHolder {
                            peer: p.clone(),
                            state: Some(state),
                            outcome: BlindOutcome::Pending,
                            detail: Some(super::FOLLOW_UP_DETAIL.into()),
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
            let now = unix_now();
            let expires = crate::node::query_still_live(&id, &t.query, limits, now)?;
            // Also those left to the officer for want of a filter or a
            // key the roster lists, or a failed probe: a newer roster or
            // build may let them be asked blind now (a key rotated, an
            // upgraded node). Never those that have the marking already.
            let again = |h: &BlindHolder| {
                !h.received_marking
                    && matches!(
                        h.outcome,
                        BlindOutcome::Pending
                            | BlindOutcome::Unreachable
                            | BlindOutcome::Refused
                            | BlindOutcome::NoFilter
                            | BlindOutcome::Failed
                    )
            };
            // In the log before the trace reopens, counted as the change
            // below will find them (an answer or probe filed meanwhile may
            // make a count one too many); nothing to retry is said first.
            let probed = t
                .blind
                .iter()
                .flat_map(|b| &b.holders)
                .filter(|h| again(h))
                .count()
                + expected
                    .iter()
                    .filter(|a| {
                        !t.blind
                            .iter()
                            .flat_map(|b| &b.holders)
                            .any(|h| h.peer == a.peer)
                    })
                    .count();
            let asked = t
                .asked
                .iter()
                .filter(|a| !t.final_at.contains_key(&a.peer))
                .count();
            if probed + asked == 0 {
                return Err(NodeError::NothingToRetry(t.id.clone()));
            }
            node.audit_retry(&t, asked, probed)?;
            let (t, (probe, ask)) = node.retry_pending(
                &id,
                |t| {
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
                },
                |t| {
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
                        return Err(NodeError::NothingToRetry(t.id.clone()));
                    }
                    Ok((probe, ask))
                },
            )?;
            Ok::<_, NodeError>((t, probe, ask))
        })
        .await
        .map_err(|e| NodeError::Config(e.to_string()))??;
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

    /// Sends blind trace `id`'s signed query in the clear to the holders
    /// that await the officer's choice (no filter, failed, beyond the
    /// bound): every one, or only those of State `only`. The officer chose
    /// so. Returns how many (0: none awaited it); naming a State that awaits
    /// nothing is an error.
    pub async fn send_clear(
        &self,
        id: &str,
        only: Option<crate::model::CountryCode>,
    ) -> Result<usize, NodeError> {
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
            .filter(|h| only.is_none() || h.state == only)
            .filter_map(|h| h.peer.parse().ok())
            .collect();
        if let (Some(state), true) = (only, chosen.is_empty()) {
            return Err(NodeError::SendClear(SendClearError::NotAwaiting {
                trace: id.into(),
                state,
            }));
        }
        // Holders refuse a query past its time-to-live: the officer is
        // told to send a new trace, rather than collect `expired` refusals.
        if !chosen.is_empty() {
            crate::node::query_still_live(id, &t.query, self.inner.rules.limits, unix_now())?;
        }
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
                retry_after: None,
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
