//! This node's own traces: signing and publishing them, filing the answers
//! that come back (each verified once, on receipt, by `protocol::accept`),
//! following the chain of custody to the States it points at, retries, and
//! deadlines (one timer per trace, not a periodic scan).

use std::collections::BTreeSet;

use libp2p::PeerId;

use super::responder::outcome_words;
use super::{
    Asked, ExpectedBy, NewTrace, Node, NodeError, StoredAnswer, StoredTrace, bump, net, unix_now,
    unix_now_ms,
};
use crate::audit::{AuditKind, NewEntry};
use crate::marking::MarkingPrefix;
use crate::model::CountryCode;
use crate::net::Topic;
use crate::protocol::accept::{self, AskedQuery};
use crate::protocol::{Outcome, Party, QueryId, Refusal, Reply, TraceQuery};

/// The longest a trace waits for answers, and so the longest time-to-live of
/// its query: 7 days, the longest members accept. An officer's timeout
/// outside 1 to this is refused (`api::routes::TraceRequest`); the node's
/// own default is clamped to it.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 86_400;
/// Signed refusals filed per responder and trace: each retry may be refused
/// again, but a member cannot fill a trace with them.
const MAX_REFUSALS_PER_HOLDER: usize = 8;

/// Retries after a refusal that came back refused again for load, unsigned.
const RETRIES_AFTER_REFUSAL: u32 = 6;

/// How long a holder handed a trace's query by gossip may say nothing (no
/// acknowledgement, answer or refusal) before it is asked directly; at most
/// half the time left to the deadline. A holder answers in milliseconds;
/// one still silent after this missed the gossip (the requester's publish
/// skipped it: a full send queue, a score below the publish threshold, a
/// link lost as it was sent, and no other holder's relay reached it), or
/// its policy keeps it silent (asked directly, it says so: `not_answered`).
const SILENT_HOLDER_ASKED_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a directed query got no answer filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AskError {
    /// The request did not reach the peer, or no reply came back: it is
    /// unreachable, and asked again when it reconnects.
    Unreachable(String),
    /// The peer replied with an unsigned refusal (its policy stays silent,
    /// or it refused the request as such): it is reachable; not asked again
    /// until a retry.
    Refused(Refusal),
    /// Its answer was refused here.
    NotFiled(Refusal),
    /// This node is stopping.
    Stopping,
}

impl AskError {
    /// The reply's code, for a refusal: what the holder is shown to have
    /// declined with ([`Node::mark_replied`]).
    fn declined_code(&self) -> Option<String> {
        match self {
            AskError::Refused(code) => Some(code.code().to_string()),
            _ => None,
        }
    }
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::Unreachable(why) => f.write_str(why),
            AskError::Refused(r) => write!(f, "refused: {r}"),
            AskError::NotFiled(r) => write!(f, "its answer was refused here: {r}"),
            AskError::Stopping => f.write_str("this node is stopping"),
        }
    }
}

/// The holders trace `t` handed its query by gossip that have said nothing
/// yet ([`StoredTrace::silent_handed`]: not known unreachable either, as
/// those are asked when they reconnect); none once its deadline (unix
/// seconds) is not after `now`.
fn silent_handed_holders(t: &StoredTrace, now: u64) -> Vec<PeerId> {
    if t.deadline <= now {
        return Vec::new();
    }
    t.silent_handed_peers()
        .into_iter()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Why a trace could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendTraceError {
    #[error("a bootstrap node does not send traces")]
    Bootstrap,
    #[error("the system random source failed; no query id could be drawn")]
    Random,
    #[error("the query cannot be signed: {0}")]
    Sign(#[from] crate::protocol::EncodeError),
    #[error("the trace cannot be stored, so it was not sent: {0}")]
    Store(String),
    #[error("the network is not running: {0}")]
    Net(#[from] net::NetError),
    /// The serial cannot be traced blind; the officer chooses. Sent on as
    /// a [`super::TraceFault`] of the `blind` field (`NodeError`'s `From`).
    #[error(
        "blind trace not sent: {0}. Send it in the clear, which every expected holder reads, or narrow the reading"
    )]
    BlindBeyondBound(String),
}

/// An answer written to the store, not yet flushed: what is left to do once
/// it is on disk ([`Node::after_filed`]).
pub(super) struct Unflushed {
    /// Who sent it.
    peer: PeerId,
    /// The trace it answers.
    id: String,
    /// Whether its verdict was filed; `false`: only its audit entry was
    /// written (an answer of the same kind from the same holder was filed
    /// concurrently).
    filed: bool,
    /// From the trace's sending to this answer's filing, milliseconds (the
    /// answer's latency, taken as it is written: its flush may wait for
    /// the rest of its batch).
    latency_ms: u64,
    /// The follow-ups its chain of custody called for (State, trace id),
    /// recorded as asked unflushed, covered by the same flush: sent once it
    /// is on disk. `Err`: planning them failed (logged); the answer is
    /// filed all the same and its sender told `Internal` after the flush.
    follow: Result<Vec<(CountryCode, String)>, ()>,
    /// A refusal's `retry_after_secs`.
    refusal: Option<u32>,
}

impl Unflushed {
    /// Whether it changed what the trace shows (its verdict was filed), so
    /// that the trace's watchers are to be woken.
    pub(super) fn changed_trace(&self) -> bool {
        self.filed
    }

    /// Whether it calls for follow-ups, which are sent once it is on disk:
    /// its batch is flushed at once, not kept open for more answers.
    pub(super) fn calls_for_follow_ups(&self) -> bool {
        !matches!(&self.follow, Ok(v) if v.is_empty())
    }
}

impl Node {
    /// Signs and publishes a trace to the topics of its marking prefix and import
    /// marks. It is on disk before it is sent, so that no answer finds it missing.
    pub async fn send_trace(&self, t: NewTrace) -> Result<StoredTrace, SendTraceError> {
        // A blind trace is never published (node::blind).
        if t.blind {
            return self.send_blind_trace(t).await;
        }
        let Some(reg) = self.inner.registry.as_ref() else {
            return Err(SendTraceError::Bootstrap);
        };
        let makers = reg.makers();
        let id = QueryId::random().map_err(|_| SendTraceError::Random)?;
        // One reading of the clock: the time index orders traces of the
        // same second by its milliseconds.
        let now_ms = unix_now_ms();
        let now = now_ms / 1000;
        let timeout = t
            .timeout_secs
            .unwrap_or(self.inner.settings.trace_timeout_secs)
            .clamp(1, MAX_TIMEOUT_SECS);
        // The query stays valid as long as the trace waits for answers: an
        // offline holder must accept it when it reconnects.
        let ttl_secs = u64::from(self.inner.settings.trace_ttl_secs)
            .max(timeout)
            .min(MAX_TIMEOUT_SECS) as u32;
        let mut body = TraceQuery {
            id,
            requester: Party {
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
            directed_only: false,
            served: None,
        };
        // A former State's marking also goes to its successors' prefixes and
        // import topics, a successor's to its former State's (model, routes);
        // with a factory code, also to the table's maker for it and to the
        // factory's own topics.
        let (topics, prefixes, imports) = super::holders::routes_of(&t.marking, &makers);
        let mut asked = self
            .expected_holders(&super::holders::Reach {
                topics: &topics,
                prefixes: &prefixes,
                imports: &imports,
            })
            .await?;
        // Gossip reaches the subscribers; the others are asked directly if
        // connected, and when they reconnect if not.
        // Asked of the network only when a holder is not a subscriber: a
        // round trip to the swarm's task costs the most under load.
        let all_subscribed = asked
            .iter()
            .all(|a| a.expected_by.contains(&ExpectedBy::Subscribed));
        let on_demand = self.links_bounded();
        let connected: BTreeSet<String> = if (all_subscribed && !asked.is_empty()) || on_demand {
            asked.iter().map(|a| a.peer.clone()).collect()
        } else {
            self.inner
                .net
                .connected()
                .await?
                .iter()
                .map(|p| p.to_string())
                .collect()
        };
        // In a federation larger than the links this node keeps, a holder
        // not linked is dialled by the request itself; in a full mesh it is
        // offline.
        let mut direct = Vec::new();
        for a in asked.iter_mut() {
            if a.expected_by.contains(&ExpectedBy::Subscribed) {
                continue;
            }
            if on_demand || connected.contains(&a.peer) {
                direct.extend(a.peer.parse::<PeerId>().ok());
            } else {
                a.set_unreachable("offline when the trace was sent".into(), now);
            }
        }
        // Where the roster bounds every member's links and states served
        // lists, the query names the States this node hands it to itself
        // (its publish's subscribers, those asked directly): a holder then
        // relays it only toward a peer not among them (node::responder,
        // `relay_verdict`; NETWORK.md, "Gossip mesh").
        if self.names_served() {
            body.served = self.served_states(&asked);
        }
        let signed = self.inner.key.sign(body)?;
        // Nobody to ask, while in the federation's gossip (not merely
        // connected: a member that refuses this node accepts the connection
        // first): settled at once.
        let nobody_holds = asked.is_empty() && {
            let gossiping: BTreeSet<String> = self
                .inner
                .net
                .gossiping()
                .await?
                .iter()
                .map(|p| p.to_string())
                .collect();
            self.read_members()
                .by_peer
                .iter()
                .any(|(p, m)| !m.bootstrap && gossiping.contains(&p.to_string()))
        };
        let stored = StoredTrace {
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
            nobody_holds,
            timeout_secs: Some(timeout),
            blind: None,
            filed: Vec::new(),
        };
        // The subscribers are handed the query by the publish below: so
        // recorded before the trace is pending, so that a delivery to one
        // of them (its connection coming up meanwhile) does not send it
        // again. A trace that is not stored leaves entries the minute pass
        // forgets.
        for a in &stored.asked {
            if a.expected_by.contains(&ExpectedBy::Subscribed)
                && let Ok(p) = a.peer.parse::<PeerId>()
            {
                self.first_delivery(&stored.id, &p);
            }
        }
        let node = self.clone();
        let mut to_store = stored.clone();
        let query = signed.body().clone();
        let digest = signed.digest();
        let (stored, follow) = tokio::task::spawn_blocking(move || {
            // The own registry first: what this State holds joins the chain.
            to_store.own_registry = node.own_records(&query);
            node.file_new_trace(&to_store, digest)?;
            let follow = node.own_registry_follow_ups(&to_store);
            // As stored with its follow-ups: the reply shows them.
            let to_store = if follow.is_empty() {
                to_store
            } else {
                node.trace(&to_store.id).unwrap_or(to_store)
            };
            Ok::<_, NodeError>((to_store, follow))
        })
        .await
        .map_err(|e| SendTraceError::Store(e.to_string()))?
        .map_err(|e| SendTraceError::Store(e.to_string()))?;
        self.arm_deadline(stored.id.clone(), stored.deadline);
        self.index_pending(&stored.id, &stored.topics);
        for (state, id) in follow {
            self.spawn(self.follow_up(state, id));
        }
        for peer in direct {
            let node = self.clone();
            let id = stored.id.clone();
            self.spawn(async move {
                node.ask_and_file(peer, id).await;
            });
        }
        let mut asked_directly = false;
        // Every topic in one round trip to the network's task. If it stopped,
        // the first topic carries the error (the holders are asked directly
        // once whatever failed).
        let outcomes = self
            .inner
            .net
            .publish_each(topics.clone(), signed.bytes().to_vec())
            .await
            .unwrap_or_else(|e| vec![Err(e)]);
        for (topic, outcome) in topics.iter().zip(outcomes) {
            match outcome {
                Ok(()) | Err(net::NetError::NoSubscribers(_)) => {}
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "publishing a trace failed; its subscribers are asked directly");
                    if std::mem::replace(&mut asked_directly, true) {
                        continue;
                    }
                    // Another topic's gossip may have reached a holder: its
                    // `replayed` says it is answering, not that it declined.
                    for a in &stored.asked {
                        if a.expected_by.contains(&ExpectedBy::Subscribed)
                            && let Ok(peer) = a.peer.parse::<PeerId>()
                        {
                            self.ask_handed_holder(peer, stored.id.clone());
                        }
                    }
                }
            }
        }
        // Armed where the publish failed too: a holder asked directly then
        // that has said nothing since is asked once more.
        if stored
            .asked
            .iter()
            .any(|a| a.expected_by.contains(&ExpectedBy::Subscribed))
        {
            self.ask_silent_holders_later(stored.id.clone(), stored.deadline);
        }
        bump(&self.inner.counters.traces_sent);
        self.notify();
        Ok(stored)
    }

    /// After [`SILENT_HOLDER_ASKED_AFTER`], asks directly each holder trace
    /// `id` handed its query by gossip that has said nothing yet and is not
    /// known unreachable (those are asked when they reconnect). A holder
    /// that got the gossip after all replies with its answer again, or
    /// `replayed` while it is still answering: that reply is left unfiled,
    /// as its answer comes by itself. One whose policy stayed silent
    /// replies `not_answered`, filed as its word (declined).
    ///
    /// The timer lives in memory only. A node started again needs none: it
    /// hands every pending trace's query to each holder without an answer
    /// as that holder connects, since what counts as handed is what this run
    /// handed (node::holders, `due_deliveries`).
    fn ask_silent_holders_later(&self, id: String, deadline: u64) {
        let node = self.clone();
        let stopping = self.inner.stopping.clone();
        let half_left = std::time::Duration::from_millis(
            deadline.saturating_sub(unix_now()).saturating_mul(500),
        );
        // Not before 2 s, while holders are still answering.
        let wait = SILENT_HOLDER_ASKED_AFTER
            .min(half_left)
            .max(std::time::Duration::from_secs(2));
        self.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopping.cancelled() => return,
            }
            let deadline = node.pending_deadline_async(&id).await;
            if deadline.is_none_or(|d| d <= unix_now()) {
                return;
            }
            // The store keeps each pending trace's silent holders in memory
            // as its changes are written: no head is read, even in a burst
            // of more traces in these seconds than the store keeps heads of
            // (HEADS_KEPT). A head never read (unreadable when the trace was
            // watched) is read now.
            let silent = match node.inner.traces.silent_handed(&id) {
                Some(peers) => peers.iter().filter_map(|p| p.parse().ok()).collect(),
                None => {
                    let (n, i) = (node.clone(), id.clone());
                    tokio::task::spawn_blocking(move || {
                        n.trace_head(&i)
                            .map(|t| silent_handed_holders(&t, unix_now()))
                            .unwrap_or_default()
                    })
                    .await
                    .unwrap_or_default()
                }
            };
            for peer in silent {
                bump(&node.inner.counters.silent_holders_asked);
                tracing::info!(%peer, trace = %id, "holder silent since the gossip; asking it directly");
                node.ask_handed_holder(peer, id.clone());
            }
        });
    }

    /// Asks `peer`, a holder handed trace `id`'s query by gossip, for it
    /// directly, in a task of its own. `replayed` is left unfiled: the
    /// holder got the gossip and is answering, its answer comes by itself.
    /// A refusal (`not_answered` where its policy stayed silent) is filed as
    /// its word; an unreachable holder is marked so.
    fn ask_handed_holder(&self, peer: PeerId, id: String) {
        let n = self.clone();
        self.spawn(async move {
            let r = n.ask_directly(peer, &id).await;
            if !matches!(r, Err(AskError::Unreachable(_) | AskError::Stopping)) {
                n.note_reached(peer);
            }
            match r {
                Ok(()) | Err(AskError::Stopping) => {}
                Err(AskError::Refused(Refusal::Replayed)) => {}
                Err(AskError::Unreachable(why)) => {
                    n.note_not_reached(peer);
                    n.mark_unreachable(peer, why).await
                }
                Err(e) => {
                    tracing::info!(%peer, trace = %id, why = %e, "holder handed the gossip not answered");
                    n.mark_replied(peer, &id, e.declined_code()).await;
                }
            }
        });
    }

    /// Whether the roster lists more members than this node keeps links to
    /// (the roster's `peer_connections`, else `node.peer_connections`;
    /// net::links): then a member not connected is not offline, only not
    /// linked, and a request dials it.
    pub(super) fn links_bounded(&self) -> bool {
        let me = self.peer_id();
        let members = self.read_members();
        let others = members.by_peer.keys().filter(|p| **p != me).count();
        let keep = members
            .links_kept()
            .unwrap_or(self.inner.settings.peer_connections as usize);
        crate::net::links::bounded(others, keep)
    }

    /// Whether every member keeps a link to every other, as the roster
    /// decides for the whole federation (its `peer_connections`): then
    /// every member plans the same full mesh from the same roster. `false`
    /// where the roster leaves the links to each node's own
    /// `node.peer_connections`, since another node's plan may then be
    /// bounded where this one's is not (node::responder, `relay_verdict`).
    pub(super) fn federation_full_mesh(&self) -> bool {
        let me = self.peer_id();
        let members = self.read_members();
        let Some(keep) = members.links_kept() else {
            return false;
        };
        // Two members the roster gives no address cannot dial each other, so
        // the mesh would not form between them: relays stay on. Every node
        // reads this from the same roster, so they still agree.
        let unaddressed = members
            .by_peer
            .values()
            .filter(|m| !m.bootstrap && m.addrs.is_empty())
            .count();
        if unaddressed >= 2 {
            return false;
        }
        let others = members.by_peer.keys().filter(|p| **p != me).count();
        !crate::net::links::bounded(others, keep)
    }

    /// Whether this node's queries name the States served (field 14): the
    /// roster states served lists ([`crate::roster::RosterBody::served_lists`],
    /// which every member then reads) and decides the links every member
    /// keeps, and they are bounded. Not where the roster leaves the links
    /// to each node: members may then plan their links apart.
    pub(super) fn names_served(&self) -> bool {
        let members = self.read_members();
        members.served_lists && members.links_kept().is_some() && self.links_bounded()
    }

    /// The States a new trace hands its query to itself, from its expected
    /// holders `asked`: the subscribers its publish reaches, and those it
    /// asks directly, except a member it may not reach that way: one the
    /// roster gives no address (only its own dial or Kademlia would bring
    /// it), and one a directed query of this node's last failed to reach,
    /// until it connects or replies again. Holders relay toward those.
    /// `None` if no State is left.
    fn served_states(&self, asked: &[Asked]) -> Option<crate::protocol::ServedStates> {
        let members = self.read_members();
        let not_reached = self
            .inner
            .not_reached
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default();
        crate::protocol::ServedStates::new(
            asked
                .iter()
                .filter(|a| a.unreachable.is_none())
                .filter(|a| {
                    a.expected_by.contains(&ExpectedBy::Subscribed)
                        || a.peer.parse::<PeerId>().is_ok_and(|p| {
                            !not_reached.contains(&p)
                                && members.by_peer.get(&p).is_some_and(|m| !m.addrs.is_empty())
                        })
                })
                .filter_map(|a| a.state),
        )
    }

    /// `peer` replied to a directed query: named as served again.
    fn note_reached(&self, peer: PeerId) {
        if let Ok(mut n) = self.inner.not_reached.lock() {
            n.remove(&peer);
        }
    }

    /// `peer` was not reached by a directed query: named as served by no
    /// trace until it connects or replies to one ([`Node::served_states`]).
    fn note_not_reached(&self, peer: PeerId) {
        if self.read_members().by_peer.contains_key(&peer)
            && let Ok(mut n) = self.inner.not_reached.lock()
        {
            n.insert(peer);
        }
    }

    /// What this node's registry holds under a query's marking, projected as
    /// a full disclosure would be; `None` if nothing (or the lookup failed,
    /// which is logged: the trace goes out all the same).
    pub(super) fn own_records(&self, q: &TraceQuery) -> Option<Outcome> {
        let reg = self.inner.registry.as_ref()?;
        let found = match super::answer::lookup(reg, q, false) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "the own registry could not be searched for this trace");
                return None;
            }
        };
        if found.matched == 0 {
            return None;
        }
        if found.matched > crate::protocol::MAX_CANDIDATES {
            return Some(super::answer::too_many(found.matched));
        }
        Some(super::answer::disclosed(
            &found.candidates,
            super::policy::Disclosure::Full,
        ))
    }

    /// Writes a new trace, its digest index and its audit entry, flushed once.
    pub(super) fn file_new_trace(
        &self,
        stored: &StoredTrace,
        digest: crate::protocol::Digest,
    ) -> Result<(), NodeError> {
        // Both trees share sled's log: the trace's flush makes the index durable too.
        self.inner
            .by_digest
            .insert(digest.as_bytes(), stored.id.as_bytes())?;
        self.record(
            AuditKind::TraceSent,
            NewEntry {
                query: Some(digest.to_hex()),
                outcome: Some(format!("asked {}", stored.asked.len())),
                officer: stored.local.officer.clone(),
                ..NewEntry::default()
            },
            false,
        )
        .map_err(|e| NodeError::Config(e.to_string()))?;
        self.inner.traces.put(stored)?;
        self.add_pending(stored);
        Ok(())
    }

    /// Records a `trace retry` in the audit log, flushed, before the trace
    /// reopens (so before anything is sent again): `asked` holders asked
    /// again, `probed` blind filters probed again. A log that cannot take
    /// it refuses the retry, the trace left as it was.
    pub(super) fn audit_retry(
        &self,
        t: &StoredTrace,
        asked: usize,
        probed: usize,
    ) -> Result<(), NodeError> {
        let mut outcome = format!("asked again {asked}");
        if probed > 0 {
            outcome += &format!(", probed again {probed}");
        }
        self.record_local(
            AuditKind::TraceRetried,
            NewEntry {
                query: Some(crate::protocol::Digest::of(&t.query).to_hex()),
                outcome: Some(outcome),
                ..NewEntry::default()
            },
        )
        .map_err(|e| NodeError::Config(e.to_string()))
    }

    pub fn trace(&self, id: &str) -> Result<StoredTrace, NodeError> {
        self.inner
            .traces
            .get(id)?
            .ok_or_else(|| NodeError::NoSuchTrace(id.to_string()))
    }

    /// A trace without its answers' frames (see [`super::TraceStore::head`]).
    pub fn trace_head(&self, id: &str) -> Result<std::sync::Arc<StoredTrace>, NodeError> {
        self.inner
            .traces
            .head(id)?
            .ok_or_else(|| NodeError::NoSuchTrace(id.to_string()))
    }

    /// Trace `id`'s head if the store keeps it in memory, as every change of
    /// the trace leaves it (not while an answer is being filed into it): no
    /// read of sled, so callable on an async worker.
    /// `None` says nothing of the store (read it with [`Node::trace_head`],
    /// off the async workers).
    pub fn kept_trace_head(&self, id: &str) -> Option<std::sync::Arc<StoredTrace>> {
        self.inner.traces.cached_head(id)
    }

    /// Up to `limit` traces, newest first, after `after`; and where the next
    /// page starts, if there may be one.
    pub fn traces_page(
        &self,
        after: Option<&super::traces::Cursor>,
        limit: usize,
    ) -> Result<(Vec<StoredTrace>, Option<super::traces::Cursor>), NodeError> {
        Ok(self.inner.traces.page(after, limit)?)
    }

    /// Hands `more` the creation instant of each trace, newest first, until
    /// it returns `false`, from the time index alone (no trace read; see
    /// [`TraceStore::created_newest_first`]). Blocking.
    pub fn trace_instants_newest_first(
        &self,
        more: impl FnMut(u64) -> bool,
    ) -> Result<(), NodeError> {
        Ok(self.inner.traces.created_newest_first(more)?)
    }

    /// Files an answer to one of this node's traces, after `protocol::accept`
    /// has checked it against the trace's query and the roster, and flushes
    /// it. Returns the follow-ups the chain of custody now calls for:
    /// (State, trace id). Answers read from the network are filed in batches
    /// instead, one flush for each batch ([`super::filing`]).
    pub(super) fn on_answer(
        &self,
        peer: PeerId,
        data: &[u8],
    ) -> Result<Vec<(CountryCode, String)>, Refusal> {
        match self.file_answer_unflushed(peer, data)? {
            // The same frame again: `ok` once the first copy is on disk,
            // which another thread may still be flushing.
            None => self.flush_filed().map(|()| Vec::new()),
            Some(written) => {
                // Watchers see it now, as readers do (see node::filing).
                if written.changed_trace() {
                    self.notify();
                }
                self.flush_filed()?;
                self.after_filed(written)
            }
        }
    }

    /// The group flush of filed answers: their audit entries and traces on
    /// disk. A failed flush stops the node (`store_failed`).
    pub(super) fn flush_filed(&self) -> Result<(), Refusal> {
        self.inner.group_flush.flush(&self.inner.db).map_err(|e| {
            self.store_failed(&e.to_string());
            Refusal::AuditUnavailable
        })
    }

    /// The first half of [`Node::on_answer`]: checks the answer and writes
    /// its audit entry, its verdict and the follow-ups it calls for to the
    /// store, unflushed. `Ok(None)`:
    /// nothing was written (the same frame again, or a refusal superseded),
    /// and the sender is told `ok`. `Ok(Some)`: written; once flushed,
    /// [`Node::after_filed`] finishes it.
    pub(super) fn file_answer_unflushed(
        &self,
        peer: PeerId,
        data: &[u8],
    ) -> Result<Option<Unflushed>, Refusal> {
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "filing an answer failed");
            Refusal::Internal
        };
        // One snapshot of the roster for the whole filing: the member, the
        // answer's checks and the version recorded with it.
        let members = self.read_members();
        let member = members.get(&peer).ok_or(Refusal::NotAMember)?;
        // The digest names the trace; the rules below check the binding
        // and the signature, on the frame as read here.
        let read = accept::UnreadAnswer::read(data, self.inner.rules.limits)?;
        let digest = read.query();
        let id = self
            .inner
            .by_digest
            .get(digest.as_bytes())
            .map_err(|e| internal(&e))?
            .ok_or(Refusal::UnknownTrace)?;
        let id = String::from_utf8_lossy(&id).into_owned();
        // The head only: the verdicts on the answers filed so far are all
        // this needs, so filing does not grow with them.
        let trace = self
            .inner
            .traces
            .head(&id)
            .map_err(|e| internal(&e))?
            .ok_or(Refusal::UnknownTrace)?;
        // The query as sent: its time-to-live bounds the answers' dates.
        let query = crate::node::decode_stored::<TraceQuery>(&trace.query, self.inner.rules.limits)
            .ok_or_else(|| internal(&format!("trace {id}: its stored query cannot be read")))?;
        let asked = AskedQuery {
            digest,
            issued_at: query.issued_at,
            ttl_secs: query.ttl_secs,
        };
        // Judged by the roster in force now; recorded, so that it is judged by
        // this version ever after (a later roster may remove its State).
        let (a, roster_version) = {
            let a = accept::answer_read(
                read,
                asked,
                Some(member.key),
                unix_now(),
                &self.inner.rules,
                &*members,
            )?;
            (a, members.version)
        };
        self.note_makers_version(a.body().makers_version, a.body().responder.state);
        let outcome = &a.body().outcome;
        let is_final = outcome.is_final();
        let refusal = match outcome {
            Outcome::Refused {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let peer_s = peer.to_string();
        let verdict = super::traces::Filed {
            peer: peer_s.clone(),
            state: a.body().responder.state,
            frame: crate::protocol::Digest::of(data).to_hex(),
            answered_at: a.body().answered_at,
            said: super::traces::Said::of(outcome),
        };
        // Only an export to another State can point the chain of custody
        // somewhere not yet asked (custody's follow-ups): any other answer
        // leaves them as they were, and is filed without reading the trace.
        let points_on = points_on(outcome);
        // One acknowledgement and one final answer per responder, and a few
        // refusals before its final answer: the same frame again is delivered
        // already; another one is refused, so that a member cannot fill a
        // trace with contradicting answers.
        let again = |t: &StoredTrace| t.filed.iter().any(|f| f.frame == verdict.frame);
        if again(&trace) {
            return Ok(None);
        }
        let refusals = |t: &StoredTrace| {
            t.filed
                .iter()
                .filter(|f| {
                    f.peer == peer_s && matches!(f.said, super::traces::Said::Refused { .. })
                })
                .count()
        };
        // A refusal after the responder's final answer is honest (a retry
        // rate-limited before the holder saw it was answered): superseded,
        // taken as delivered, not filed. So are refusals past the cap.
        let superseded = |t: &StoredTrace| {
            refusal.is_some()
                && (t.final_at.contains_key(&peer_s) || refusals(t) >= MAX_REFUSALS_PER_HOLDER)
        };
        if superseded(&trace) {
            return Ok(None);
        }
        if expired_from_unasked(&a.body().outcome, &trace.asked, &peer_s) {
            return Ok(None);
        }
        let taken = |t: &StoredTrace| match refusal {
            Some(_) => superseded(t),
            None if is_final => t.final_at.contains_key(&peer_s),
            None => t.first_ack.contains_key(&peer_s),
        };
        if taken(&trace) {
            return Err(Refusal::AlreadyAnswered);
        }
        // Unflushed: the caller's flush covers it (one log for every tree).
        self.record(
            AuditKind::AnswerReceived,
            NewEntry {
                officer: None,
                peer: Some(peer.to_string()),
                state: Some(member.state),
                query: Some(digest.to_hex()),
                outcome: Some(outcome_words(&a.body().outcome).0.into()),
                rule: None,
            },
            false,
        )
        .map_err(|_| Refusal::AuditUnavailable)?;
        let now = unix_now();
        let answer = StoredAnswer {
            peer: peer_s.clone(),
            received_at: now,
            bytes: data.to_vec(),
            roster_version: Some(roster_version),
        };
        let created_ms = trace.created_at_ms.unwrap_or(trace.created_at * 1000);
        // Not held while the answer is filed, so that the trace is changed
        // in place rather than copied (TraceStore::file_answer).
        drop(trace);
        // Checked again in the trace's turn: two answers of one responder
        // arriving together file at most one of each kind.
        let filed = self
            .inner
            .traces
            .file_answer(
                &id,
                &answer,
                |t| !again(t) && !taken(t),
                |t| {
                    t.filed.push(verdict.clone());
                    if !t.asked.iter().any(|x| x.peer == peer_s) {
                        // Answered without having been expected (it subscribed
                        // after the trace was sent): it was asked after all.
                        t.asked.push(Asked::new(
                            peer_s.clone(),
                            member.state,
                            ExpectedBy::Answered,
                        ));
                    }
                    // It answered, so it is reachable.
                    for x in t.asked.iter_mut().filter(|x| x.peer == peer_s) {
                        x.set_reachable();
                    }
                    if is_final {
                        t.final_at.entry(peer_s.clone()).or_insert(now);
                    } else if refusal.is_none() {
                        t.first_ack.entry(peer_s.clone()).or_insert(now);
                    }
                },
            )
            .map_err(|e| internal(&e))?;
        let filed = filed.is_some();
        // Planned before the flush, so that the one flush covers the answer
        // and the follow-ups it records as asked, and the wake-up of its
        // batch never shows the answer without its follow-ups (the trace
        // would look answered for a moment).
        let follow = if filed && points_on {
            self.plan_follow_ups(&id)
                .map_err(|e| tracing::error!(error = %e, "planning an answer's follow-ups failed"))
        } else {
            Ok(Vec::new())
        };
        Ok(Some(Unflushed {
            peer,
            id,
            filed,
            latency_ms: unix_now_ms().saturating_sub(created_ms),
            follow,
            refusal,
        }))
    }

    /// The second half of [`Node::on_answer`], once the answer is on disk
    /// (the sender hears `ok` only then): counts it, schedules the retry a
    /// refusal asked for, and returns the follow-ups planned when it was
    /// written, to be sent now. The trace's watchers were woken when it was
    /// written.
    pub(super) fn after_filed(&self, w: Unflushed) -> Result<Vec<(CountryCode, String)>, Refusal> {
        if !w.filed {
            return Ok(Vec::new());
        }
        bump(&self.inner.counters.answers_received);
        self.inner
            .counters
            .answer_latency
            .observe(w.latency_ms as f64 / 1000.0);
        if let Some(after) = w.refusal.filter(|s| *s > 0) {
            self.retry_later(w.peer, w.id.clone(), after, 0);
        }
        w.follow.map_err(|()| Refusal::Internal)
    }

    /// The follow-ups a new trace's own registry calls for (its records'
    /// exports to other States), planned and flushed once the trace is
    /// stored: only answers planned them, so a weapon this State exported
    /// was never followed to its importer when no holder asked pointed
    /// there (a helper's trial: "KE has not answered", KE never asked, and
    /// `trace retry` refusing). Blocking; to be sent once it returns.
    pub(super) fn own_registry_follow_ups(&self, t: &StoredTrace) -> Vec<(CountryCode, String)> {
        if !t.own_registry.as_ref().is_some_and(points_on) {
            return Vec::new();
        }
        match self.plan_follow_ups(&t.id) {
            Ok(f) if f.is_empty() => f,
            Ok(f) => match self.flush_filed() {
                Ok(()) => f,
                Err(_) => Vec::new(),
            },
            Err(e) => {
                tracing::error!(error = %e, trace = %t.id, "planning the own registry's follow-ups failed");
                Vec::new()
            }
        }
    }

    /// Decides which States the chain of custody should be followed to, at most
    /// `max_follow_ups` called for by each State's records and never the
    /// same State twice, and records
    /// them as asked, unflushed (the answer's flush covers them; they are
    /// sent only after it).
    fn plan_follow_ups(&self, id: &str) -> Result<Vec<(CountryCode, String)>, NodeError> {
        let t = self.trace(id)?;
        let custody = self.custody_of(&t);
        let calls = custody.follow_up_calls();
        let members = self.members();
        let candidates: Vec<(CountryCode, PeerId)> = custody
            .follow_up
            .into_iter()
            .filter(|s| *s != self.inner.state)
            .filter_map(|s| members.of_state(s).next().map(|(p, _)| (s, *p)))
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let max = self.inner.settings.max_follow_ups;
        // Decided inside the update, which is atomic per trace: two answers
        // arriving together cannot both send the same follow-up.
        let mut chosen: Vec<CountryCode> = Vec::new();
        // Unflushed: the caller's flush of the answer covers it.
        self.inner.traces.update_unflushed(id, |t| {
            chosen = t.add_follow_ups(&candidates, &calls, max, unix_now());
        })?;
        Ok(chosen.into_iter().map(|s| (s, id.to_string())).collect())
    }

    /// Sends a trace's query straight to the member of `state` the chain of
    /// custody points at, and files its answer.
    /// Boxed: a follow-up's answer may call for further follow-ups.
    pub(super) fn follow_up(
        &self,
        state: CountryCode,
        id: String,
    ) -> futures::future::BoxFuture<'static, ()> {
        let node = self.clone();
        Box::pin(async move {
            let Some(peer) = node.read_members().of_state(state).map(|(p, _)| *p).next() else {
                return;
            };
            // A blind trace's follow-up is probed first (node::blind).
            if node.follow_up_blind(peer, state, &id).await {
                return;
            }
            node.ask_and_file(peer, id).await;
        })
    }

    /// Hands trace `id`'s query straight to `peer` and files its answer; an
    /// unreachable peer is marked so, and gets it again when it reconnects;
    /// a reply without an answer is kept as the peer's word (it is
    /// reachable, and asked again only by a retry). Returns why no answer
    /// was filed, if none was.
    pub(super) async fn ask_and_file(&self, peer: PeerId, id: String) -> Option<AskError> {
        self.first_delivery(&id, &peer);
        let r = self.ask_directly(peer, &id).await;
        if !matches!(r, Err(AskError::Unreachable(_) | AskError::Stopping)) {
            self.note_reached(peer);
        }
        match &r {
            Ok(()) | Err(AskError::Stopping) => {}
            Err(AskError::Unreachable(why)) => {
                tracing::info!(%peer, trace = %id, %why, "trace query not delivered; it goes again when the peer reconnects");
                self.note_not_reached(peer);
                self.mark_unreachable(peer, why.clone()).await;
            }
            Err(e) => {
                tracing::info!(%peer, trace = %id, why = %e, "trace query not answered");
                self.mark_replied(peer, &id, e.declined_code()).await;
            }
        }
        r.err()
    }

    /// `peer` replied to trace `id`'s query without an answer to file: it is
    /// reachable; `declined` is its reply's code.
    async fn mark_replied(&self, peer: PeerId, id: &str, declined: Option<String>) {
        let node = self.clone();
        let id = id.to_string();
        let peer_s = peer.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            let r = node.inner.traces.update(&id, |t| {
                for a in t.asked.iter_mut().filter(|a| a.peer == peer_s) {
                    a.set_reachable();
                    if declined.is_some() {
                        a.declined = declined.clone();
                    }
                }
            });
            match r {
                Ok(_) => node.notify(),
                Err(e) => node.store_failed(&e.to_string()),
            }
        })
        .await;
    }

    /// After a refusal that says when to retry: asks `peer` again then, if
    /// the trace still waits for its final answer and that time is before
    /// its deadline. A retry refused again for load without a signed answer
    /// (the holder signs one refusal per query) backs off and tries again,
    /// at most `RETRIES_AFTER_REFUSAL` times.
    fn retry_later(&self, peer: PeerId, id: String, after_secs: u32, attempt: u32) {
        let node = self.clone();
        let stopping = self.inner.stopping.clone();
        self.spawn(async move {
            // A trace no longer pending waits for nothing.
            let deadline = node.pending_deadline_async(&id).await.unwrap_or(0);
            if unix_now().saturating_add(u64::from(after_secs)) >= deadline {
                return;
            }
            // Spreads a burst of retries told the same time over a second.
            let jitter = std::time::Duration::from_millis(unix_now_ms() % 1000);
            let wait = std::time::Duration::from_secs(u64::from(after_secs)) + jitter;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopping.cancelled() => return,
            }
            let n = node.clone();
            let i = id.clone();
            let due = tokio::task::spawn_blocking(move || {
                let pending = n.pending_deadline(&i).is_some();
                pending && n.trace_head(&i).is_ok_and(|t| !t.final_at.contains_key(&peer.to_string()))
            })
            .await
            .unwrap_or(false);
            if !due {
                return;
            }
            tracing::info!(%peer, trace = %id, attempt, "asking again after a refusal's retry-after");
            let again = node.ask_and_file(peer, id.clone()).await;
            if let Some(AskError::Refused(Refusal::RateLimited | Refusal::Overloaded)) = again
                && attempt < RETRIES_AFTER_REFUSAL
            {
                let backoff = (2u32 << attempt).min(300);
                node.retry_later(peer, id, backoff, attempt + 1);
            }
        });
    }

    /// Sends the query of trace `id` to `peer` and files the answer in its
    /// reply, with the follow-ups it calls for.
    async fn ask_directly(&self, peer: PeerId, id: &str) -> Result<(), AskError> {
        let node = self.clone();
        let id_owned = id.to_string();
        let query = tokio::task::spawn_blocking(move || {
            node.trace_head(&id_owned).map(|t| t.query.clone())
        })
        .await
        .map_err(|_| AskError::NotFiled(Refusal::Internal))?
        .map_err(|_| AskError::NotFiled(Refusal::Internal))?;
        let stopping = self.inner.stopping.clone();
        let reply = tokio::select! {
            r = self.inner.net.request(peer, query) => {
                r.map_err(|e| AskError::Unreachable(e.to_string()))?
            }
            // At shutdown a request in flight does not hold the drain up.
            _ = stopping.cancelled() => return Err(AskError::Stopping),
        };
        match Reply::decode(&reply, self.inner.rules.limits) {
            Ok(Reply::Answer(bytes)) => {
                let node = self.clone();
                let filed = tokio::task::spawn_blocking(move || node.on_answer(peer, &bytes))
                    .await
                    .map_err(|_| AskError::NotFiled(Refusal::Internal))?;
                match filed {
                    Ok(more) => {
                        for (target, id) in more {
                            self.spawn(self.follow_up(target, id));
                        }
                        Ok(())
                    }
                    Err(r) => Err(AskError::NotFiled(r)),
                }
            }
            Ok(Reply::Refused(code)) => Err(AskError::Refused(code)),
            Ok(Reply::Ok) => Err(AskError::Refused(Refusal::Malformed)),
            Err(_) => Err(AskError::Refused(Refusal::Malformed)),
        }
    }

    /// Sends a trace's query again, straight to every expected holder that
    /// has not given a final answer (refused, unreachable or silent),
    /// including holders expected since it was sent, and reopens the trace
    /// until a new deadline, within its query's time-to-live.
    pub async fn retry(&self, id: &str) -> Result<StoredTrace, NodeError> {
        // A blind trace is retried blind: never sent to a holder that did not hit.
        if let Some(r) = self.retry_blind(id).await {
            return r;
        }
        let default_timeout = self.inner.settings.trace_timeout_secs;
        let limits = self.inner.rules.limits;
        let node = self.clone();
        let id_owned = id.to_string();
        let topics: Vec<Topic> = tokio::task::spawn_blocking(move || node.trace_head(&id_owned))
            .await
            .map_err(|e| NodeError::Config(e.to_string()))??
            .topics
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect();
        let prefixes: Vec<MarkingPrefix> = topics
            .iter()
            .filter_map(|t| match t {
                Topic::Prefix(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let imports: Vec<CountryCode> = topics
            .iter()
            .filter_map(|t| match t {
                Topic::Import(c) => Some(*c),
                _ => None,
            })
            .collect();
        let newly_expected = if prefixes.is_empty() {
            Vec::new()
        } else {
            self.expected_holders(&super::holders::Reach {
                topics: &topics,
                prefixes: &prefixes,
                imports: &imports,
            })
            .await
            .map_err(|e| NodeError::Config(e.to_string()))?
        };
        let node = self.clone();
        let id_owned = id.to_string();
        let (t, waiting) = tokio::task::spawn_blocking(move || {
            let t = node.trace_head(&id_owned)?;
            let unanswered = t
                .asked
                .iter()
                .filter(|a| !t.final_at.contains_key(&a.peer))
                .count();
            let new = newly_expected
                .iter()
                .filter(|a| !t.asked.iter().any(|x| x.peer == a.peer))
                .count();
            if unanswered + new == 0 {
                return Err(NodeError::NothingToRetry(id_owned.clone()));
            }
            let now = unix_now();
            let expires = crate::node::query_still_live(&id_owned, &t.query, limits, now)?;
            // In the log before the trace reopens: a log that cannot take it
            // leaves the trace as it was (an answer filed meanwhile may make
            // the count one too many).
            node.audit_retry(&t, unanswered + new, 0)?;
            let (t, waiting) = node.retry_pending(
                &id_owned,
                |t| {
                    let timeout = t.timeout_secs.unwrap_or(default_timeout);
                    t.deadline = (now + timeout).min(expires);
                    for a in &newly_expected {
                        if !t.asked.iter().any(|x| x.peer == a.peer) {
                            t.asked.push(a.clone());
                        }
                    }
                    // Asked again: what they replied before no longer stands.
                    for a in t.asked.iter_mut() {
                        a.declined = None;
                    }
                    t.nobody_holds &= t.asked.is_empty();
                },
                |t| {
                    Ok(t.asked
                        .iter()
                        .filter(|a| !t.final_at.contains_key(&a.peer))
                        .filter_map(|a| a.peer.parse::<PeerId>().ok())
                        .collect::<Vec<PeerId>>())
                },
            )?;
            Ok::<_, NodeError>((t, waiting))
        })
        .await
        .map_err(|e| NodeError::Config(e.to_string()))??;
        for peer in waiting {
            let node = self.clone();
            let id = t.id.clone();
            self.spawn(async move {
                node.ask_and_file(peer, id).await;
            });
        }
        self.notify();
        Ok(t)
    }
}

/// Whether `outcome` is an `expired` refusal from a member the trace never
/// asked (`holders`, its asked list): then it is taken as delivered and not
/// filed. A holder signs one only for a query sent to it directly that it
/// read past its end (one read by gossip past its end is dropped unsigned),
/// and `accept::answer` lets one through at any date (after the query's
/// end, the only answer that may come): from anyone else it would only
/// make an answered trace partial, months later.
fn expired_from_unasked(outcome: &Outcome, holders: &[Asked], peer: &str) -> bool {
    matches!(
        outcome,
        Outcome::Refused {
            reason: crate::protocol::RefusedReason::Expired,
            ..
        }
    ) && !holders.iter().any(|x| x.peer == peer)
}

/// Whether an outcome's records point the chain of custody somewhere not
/// yet asked: an export to another State (custody's follow-ups). Any other
/// outcome leaves the follow-ups as they were.
fn points_on(outcome: &crate::protocol::Outcome) -> bool {
    outcome.candidates().iter().any(|c| {
        c.record
            .events
            .iter()
            .any(|e| e.kind == crate::model::EventKind::Exported && e.counterpart.is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `expired` refusal is filed from a holder asked, not from anyone
    /// else; any other answer is filed from both.
    #[test]
    fn an_expired_refusal_is_filed_only_from_a_holder_asked() {
        use crate::protocol::RefusedReason;
        let ng = CountryCode::parse("NG").unwrap();
        let holders = [Asked::new("holder".into(), ng, ExpectedBy::Subscribed)];
        let refused = |reason| Outcome::Refused {
            reason,
            retry_after_secs: 0,
        };
        for (outcome, peer, dropped) in [
            (refused(RefusedReason::Expired), "holder", false),
            (refused(RefusedReason::Expired), "other", true),
            (refused(RefusedReason::RateLimited), "other", false),
            (Outcome::NoHit, "other", false),
        ] {
            assert_eq!(
                expired_from_unasked(&outcome, &holders, peer),
                dropped,
                "{outcome:?} {peer}"
            );
        }
    }

    fn written(follow: Result<Vec<(CountryCode, String)>, ()>) -> Unflushed {
        Unflushed {
            peer: PeerId::random(),
            id: "t".into(),
            filed: true,
            latency_ms: 1,
            follow,
            refusal: None,
        }
    }

    #[test]
    fn an_answer_with_follow_ups_or_a_failed_plan_is_flushed_at_once() {
        assert!(!written(Ok(Vec::new())).calls_for_follow_ups());
        let ng = CountryCode::parse("NG").unwrap();
        assert!(written(Ok(vec![(ng, "t2".into())])).calls_for_follow_ups());
        // Its sender is told `Internal` after the flush: no reason to wait.
        assert!(written(Err(())).calls_for_follow_ups());
    }
}
