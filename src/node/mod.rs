//! The application: answers incoming trace queries from the national registry,
//! sends traces and collects their signed answers, and keeps the membership.
//! It talks to libp2p only through `net::NetHandle` and `net::NetEvent`.

pub mod answer;
pub mod custody;
mod flush;
pub mod inbox;
mod limits;
pub mod members;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod traces;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::audit::{AuditKind, AuditLog, NewEntry};
use crate::config::Config;
use crate::identity::{self, NodeKey};
use crate::marking::{ImportMark, Marking, MarkingFields};
use crate::model::{Calibre, CountryCode, Date, WeaponCategory};
use crate::net::{self, GossipId, NetEvent, NetHandle, Topic, Verdict};
use crate::protocol::{
    self, Digest, Freshness, IntendedUse, Kind, LegalGround, Limits, Outcome, Party, Priority,
    QueryId, ReplayGuard, Signed, TraceAnswer, TraceQuery,
};
use crate::registry::{NationalText, Registry};
use crate::roster::{self, Roster, RosterError, RosterFile, TrustConfig};

pub use crate::config::{NodeSettings, Role};
pub use members::{MemberInfo, Members};
pub use traces::{Asked, LocalCase, StoredAnswer, StoredTrace, TraceStatus, TraceStore};

use limits::RateLimiter;
pub use metrics::Counters;
use metrics::bump;

/// Signed frames kept as base64 in stored JSON (traces, inbox items).
mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::Deserialize;

    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("{0}")]
    Key(#[from] identity::KeyFileError),
    #[error("{0}")]
    Roster(String),
    #[error("{0}")]
    Registry(#[from] crate::registry::RegistryError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Traces(#[from] traces::TraceStoreError),
    #[error("{0}")]
    Net(#[from] net::NetError),
    #[error("{0}")]
    Config(String),
    #[error("trace refused: {0}")]
    BadTrace(String),
    #[error("no trace {0} on this node; `tracenet trace list` shows them")]
    NoSuchTrace(String),
    #[error("{0}")]
    Storage(#[from] sled::Error),
}

/// A new trace as an officer asks for it; validated before anything is sent.
#[derive(Debug, Clone)]
pub struct NewTrace {
    pub marking: Marking,
    pub category: WeaponCategory,
    pub calibre: Option<Calibre>,
    pub legal_ground: LegalGround,
    pub intended_use: IntendedUse,
    pub priority: Priority,
    /// How long to wait for answers before the trace is partial or timed out.
    pub timeout_secs: Option<u64>,
    pub local: LocalCase,
}

/// A running node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    state: CountryCode,
    key: NodeKey,
    settings: NodeSettings,
    trust: TrustConfig,
    registry: Option<Arc<Registry>>,
    db: sled::Db,
    traces: TraceStore,
    audit: AuditLog,
    inbox: inbox::Inbox,
    policy: answer::AnswerPolicy,
    by_digest: sled::Tree,
    pending: Mutex<HashSet<String>>,
    members: RwLock<Members>,
    replay: Mutex<ReplayGuard>,
    exact_limiter: Mutex<RateLimiter>,
    fuzzy_limiter: Mutex<RateLimiter>,
    net: NetHandle,
    changed: watch::Sender<u64>,
    busy: Arc<Semaphore>,
    freshness: Freshness,
    limits: Limits,
    counters: Counters,
    listen: Mutex<Vec<String>>,
    started: Instant,
    /// Sequence of the last head-signed entry, so that an idle log is not re-signed.
    last_signed_head: Mutex<Option<u64>>,
    /// Shares fsyncs among concurrent answers.
    group_flush: flush::GroupFlush,
    /// Answers this node signed, by query digest, for requesters that retry.
    answered: Mutex<std::collections::HashMap<Digest, Vec<u8>>>,
}

impl Node {
    /// Opens everything the node holds and starts the network. The returned
    /// receiver must be driven by [`Node::run_events`].
    pub async fn start(
        data_dir: &Path,
        cfg: Config,
    ) -> Result<(Node, mpsc::Receiver<NetEvent>), NodeError> {
        let settings = cfg.node.clone();
        // A policy the node cannot parse stops it here, before it joins.
        let policy =
            policy::Policy::load(data_dir).map_err(|e| NodeError::Config(e.to_string()))?;
        let key = NodeKey::load(&identity::key_path(data_dir))?;
        let trust = cfg.trust.clone();
        let members = load_members(data_dir, &trust)?;
        let db = crate::store::open_db(&data_dir.join("db"), &cfg.store_options())?;
        let registry = match settings.role {
            Role::Member => Some(Arc::new(Registry::open(
                &db,
                cfg.maker_table()
                    .map_err(|e| NodeError::Config(e.to_string()))?,
            )?)),
            Role::Bootstrap => None,
        };
        let net_cfg = settings.net_config().map_err(NodeError::Config)?;
        let (net, events) = net::spawn(key.libp2p_keypair(), net_cfg)?;
        let traces = TraceStore::open(&db)?;
        let pending: HashSet<String> = traces
            .list()?
            .into_iter()
            .filter(|t| t.deadline > unix_now())
            .map(|t| t.id)
            .collect();
        let node = Node {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                state: cfg.state,
                by_digest: db.open_tree("trace_by_digest")?,
                audit: AuditLog::open(&db).map_err(|e| NodeError::Config(e.to_string()))?,
                inbox: inbox::Inbox::open(&db).map_err(|e| NodeError::Config(e.to_string()))?,
                policy: answer::AnswerPolicy {
                    disclosure: policy,
                    ..answer::AnswerPolicy::from_settings(&settings)
                },
                exact_limiter: Mutex::new(RateLimiter::new(settings.queries_per_minute)),
                fuzzy_limiter: Mutex::new(RateLimiter::new(settings.fuzzy_queries_per_minute)),
                replay: Mutex::new(ReplayGuard::new(100_000)),
                busy: Arc::new(Semaphore::new(settings.max_concurrent_queries)),
                freshness: Freshness {
                    skew_secs: settings.clock_skew_secs,
                    ..Freshness::default()
                },
                limits: Limits::default(),
                settings,
                trust,
                key,
                registry,
                db,
                traces,
                pending: Mutex::new(pending),
                members: RwLock::new(members),
                net,
                changed: watch::channel(0).0,
                counters: Counters::default(),
                listen: Mutex::new(Vec::new()),
                started: Instant::now(),
                last_signed_head: Mutex::new(None),
                answered: Mutex::new(Default::default()),
                group_flush: flush::GroupFlush::default(),
            }),
        };
        node.apply_members().await?;
        node.refresh_topics().await?;
        Ok((node, events))
    }

    pub fn state(&self) -> CountryCode {
        self.inner.state
    }

    pub fn peer_id(&self) -> PeerId {
        self.inner.key.peer_id()
    }

    pub fn role(&self) -> Role {
        self.inner.settings.role
    }

    pub fn registry(&self) -> Option<&Arc<Registry>> {
        self.inner.registry.as_ref()
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub fn members(&self) -> Members {
        self.read_members().clone()
    }

    pub fn net(&self) -> &NetHandle {
        &self.inner.net
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    pub fn listen_addrs(&self) -> Vec<String> {
        self.inner
            .listen
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    fn read_members(&self) -> std::sync::RwLockReadGuard<'_, Members> {
        // A poisoned lock means a thread panicked while holding it; the data
        // (a roster snapshot) is still whole, so keep serving.
        self.inner.members.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn public_key(&self) -> protocol::PublicKey {
        self.inner.key.public_key()
    }

    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// Records an audit entry; with `flush`, waits until it is on disk. A
    /// failure is logged loudly: the node keeps serving, but says so.
    fn record(&self, kind: AuditKind, n: NewEntry, flush: bool) {
        let r = self
            .inner
            .audit
            .append_unflushed(kind, n, unix_now())
            .map(|_| ());
        let r = r.map_err(|e| e.to_string()).and_then(|()| {
            if flush {
                self.inner
                    .group_flush
                    .flush(&self.inner.db)
                    .map_err(|e| e.to_string())
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            tracing::error!(error = %e, ?kind, "cannot write the audit log");
        }
    }

    /// Signs the audit head if entries were added since it was last signed.
    pub fn sign_audit_head(&self) {
        let last_signed = self.inner.audit.head().map(|(seq, _)| seq);
        let needs = match self.inner.last_signed_head.lock() {
            Ok(mut l) => {
                let needs = *l != last_signed && last_signed.is_some();
                if needs {
                    *l = last_signed.map(|s| s + 1);
                }
                needs
            }
            Err(_) => false,
        };
        if needs && let Err(e) = self.inner.audit.sign_head(&self.inner.key, unix_now()) {
            tracing::error!(error = %e, "cannot sign the audit head");
        }
    }

    /// A counter that moves whenever a trace changes; waiters watch it.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn notify(&self) {
        self.inner.changed.send_modify(|v| *v += 1);
    }

    async fn apply_members(&self) -> Result<(), NodeError> {
        let list = self.read_members().dial_list();
        self.inner.net.set_members(list).await?;
        Ok(())
    }

    /// Subscribes to the topics of what the registry holds (and the roster's).
    pub async fn refresh_topics(&self) -> Result<(), NodeError> {
        let mut topics = BTreeSet::from([Topic::Roster]);
        if let Some(reg) = &self.inner.registry {
            let reg = reg.clone();
            let (prefixes, imports) = tokio::task::spawn_blocking(move || {
                Ok::<_, NodeError>((reg.prefixes()?, reg.import_countries()?))
            })
            .await
            .map_err(|e| NodeError::Config(format!("registry task failed: {e}")))??;
            topics.extend(prefixes.into_iter().map(|(p, _)| Topic::Prefix(p)));
            topics.extend(imports.into_iter().map(|(c, _)| Topic::Import(c)));
        }
        self.inner.net.set_topics(topics).await?;
        Ok(())
    }

    /// Drives the node until `shutdown` resolves: network events in, answers out.
    pub async fn run_events(
        &self,
        mut events: mpsc::Receiver<NetEvent>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let every = Duration::from_secs(self.inner.settings.audit_sign_every_secs.max(1));
        let mut sign_tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => break,
                },
                _ = tick.tick() => self.expire_pending(),
                _ = sign_tick.tick() => {
                    let n = self.clone();
                    let _ = tokio::task::spawn_blocking(move || n.sign_audit_head()).await;
                }
                _ = &mut shutdown => break,
            }
        }
        self.drain().await;
        self.sign_audit_head();
        if let Err(e) = self.inner.db.flush() {
            tracing::error!(error = %e, "flushing the store at shutdown failed");
        }
    }

    /// Lets queries being answered finish (their answers sent), for at most a
    /// few seconds: no new ones are taken while it waits.
    async fn drain(&self) {
        let all = self.inner.settings.max_concurrent_queries as u32;
        let wait =
            tokio::time::timeout(Duration::from_secs(5), self.inner.busy.acquire_many(all)).await;
        match wait {
            Ok(Ok(_permits)) => tracing::info!("in-flight answers sent"),
            _ => tracing::warn!("stopped with answers still in flight after 5 s"),
        }
    }

    fn on_event(&self, ev: NetEvent) {
        match ev {
            NetEvent::Gossip { id, topic, data } => match topic {
                Topic::Roster => {
                    let node = self.clone();
                    tokio::spawn(async move { node.on_roster_gossip(id, data).await });
                }
                _ => self.on_query_gossip(id, data),
            },
            NetEvent::Request { id, peer, data } => {
                let node = self.clone();
                tokio::spawn(async move {
                    let reply = node.on_request(peer, data).await;
                    let _ = node.inner.net.respond(id, reply).await;
                });
            }
            NetEvent::PeerUp(peer) => tracing::debug!(%peer, "peer connected"),
            NetEvent::PeerDown(peer) => {
                tracing::debug!(%peer, "peer disconnected");
                self.mark_unreachable(&peer, "disconnected");
            }
            NetEvent::Listening(addr) => {
                if let Ok(mut l) = self.inner.listen.lock() {
                    l.push(addr.to_string());
                }
            }
        }
    }

    // ---- incoming queries ----

    fn on_query_gossip(&self, id: GossipId, data: Vec<u8>) {
        bump(&self.inner.counters.queries_received);
        let Ok(permit) = self.inner.busy.clone().try_acquire_owned() else {
            // Overloaded: not forwarded, not answered, and no penalty for the sender.
            bump(&self.inner.counters.queries_overloaded);
            let net = self.inner.net.clone();
            tokio::spawn(async move { net.validate(id, Verdict::Ignore).await });
            return;
        };
        let node = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let n = node.clone();
            let checked = tokio::task::spawn_blocking(move || n.check_query(&data)).await;
            let (verdict, query) = match checked {
                Ok(r) => r,
                Err(_) => (Verdict::Ignore, None),
            };
            let _ = node.inner.net.validate(id, verdict).await;
            let Some(query) = query else { return };
            let n = node.clone();
            let answer = tokio::task::spawn_blocking(move || n.answer_query(&query)).await;
            if let Ok(Some((peer, bytes))) = answer {
                node.send_answer(peer, bytes).await;
            }
        });
    }

    /// Decodes and verifies a gossiped query; decides whether gossip forwards it.
    fn check_query(&self, data: &[u8]) -> (Verdict, Option<Signed<TraceQuery>>) {
        let q = match protocol::decode_and_verify::<TraceQuery>(data, self.inner.limits) {
            Ok(q) => q,
            Err(e) => {
                tracing::info!(error = %e, "rejected a query that does not verify");
                bump(&self.inner.counters.queries_rejected);
                self.record(
                    AuditKind::QueryRefused,
                    NewEntry {
                        rule: Some("does_not_verify".into()),
                        ..NewEntry::default()
                    },
                    false,
                );
                return (Verdict::Reject, None);
            }
        };
        let audit_of = |rule: Option<&str>| NewEntry {
            state: Some(q.body().requester.state),
            query: Some(q.digest().to_hex()),
            rule: rule.map(str::to_string),
            ..NewEntry::default()
        };
        let b = q.body();
        let member_ok = self
            .read_members()
            .by_key(&b.requester.key)
            .is_some_and(|(_, m)| m.state == b.requester.state && !m.bootstrap);
        if !member_ok {
            tracing::info!(state = %b.requester.state, "rejected a query from a key not in the roster for its State");
            bump(&self.inner.counters.queries_rejected);
            self.record(
                AuditKind::QueryRefused,
                audit_of(Some("not_in_roster")),
                false,
            );
            return (Verdict::Reject, None);
        }
        if b.requester.key == self.inner.key.public_key() {
            return (Verdict::Ignore, None);
        }
        let now = unix_now();
        let expires = match self.inner.freshness.check(b.issued_at, b.ttl_secs, now) {
            Ok(e) => e,
            Err(e) => {
                // A clock problem, not an attack: not forwarded, not penalised.
                tracing::info!(state = %b.requester.state, error = %e, "ignored a stale query");
                bump(&self.inner.counters.queries_stale);
                self.record(AuditKind::QueryRefused, audit_of(Some("stale")), false);
                return (Verdict::Ignore, None);
            }
        };
        let fresh = self
            .inner
            .replay
            .lock()
            .map(|mut g| g.remember(b.id, expires, now).is_ok())
            .unwrap_or(false);
        if !fresh {
            // The same query reached us on a second topic, or was replayed.
            return (Verdict::Ignore, None);
        }
        self.record(AuditKind::QueryReceived, audit_of(None), false);
        (Verdict::Accept, Some(q))
    }

    /// Looks the weapon up and signs the answer; `None` to stay silent.
    fn answer_query(&self, q: &Signed<TraceQuery>) -> Option<(PeerId, Vec<u8>)> {
        let reg = self.inner.registry.as_ref()?;
        let b = q.body();
        let limiter = if b.marking.has_wildcards() {
            &self.inner.fuzzy_limiter
        } else {
            &self.inner.exact_limiter
        };
        let allowed = limiter
            .lock()
            .map(|mut l| l.allow(b.requester.state, Instant::now()))
            .unwrap_or(false);
        if !allowed {
            tracing::info!(state = %b.requester.state, "query rate limit reached; not answered");
            bump(&self.inner.counters.queries_rate_limited);
            let rule = if b.marking.has_wildcards() {
                "fuzzy_rate_limit"
            } else {
                "rate_limit"
            };
            self.record(
                AuditKind::QueryRefused,
                NewEntry {
                    state: Some(b.requester.state),
                    query: Some(q.digest().to_hex()),
                    rule: Some(rule.into()),
                    ..NewEntry::default()
                },
                true,
            );
            return None;
        }
        let found = match answer::lookup(reg, b) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "registry lookup failed");
                return None;
            }
        };
        self.raise_alerts(b, &found);
        let outcome = match answer::plan(&found, b, &self.inner.policy) {
            answer::Planned::Send(o) => o,
            answer::Planned::Silent => {
                self.record(
                    AuditKind::QueryRefused,
                    NewEntry {
                        state: Some(b.requester.state),
                        query: Some(q.digest().to_hex()),
                        rule: Some("policy_silent".into()),
                        ..NewEntry::default()
                    },
                    true,
                );
                return None;
            }
            answer::Planned::Review(reason) => {
                self.to_inbox(q, reason)?;
                Outcome::Acknowledged
            }
        };
        let c = &self.inner.counters;
        bump(match &outcome {
            Outcome::Hit { .. } => &c.answers_sent_hit,
            Outcome::NoHit => &c.answers_sent_no_hit,
            Outcome::Withheld { .. } => &c.answers_sent_withheld,
            _ => &c.answers_sent_other,
        });
        let (word, rule) = outcome_words(&outcome);
        let level = matches!(outcome, Outcome::Hit { .. }).then(|| {
            format!(
                "disclose_{:?}",
                self.inner
                    .policy
                    .disclosure
                    .disclosure_for(b.requester.state)
            )
            .to_lowercase()
        });
        let rule = level.as_deref().or(rule);
        let bytes = self.sign_answer(q.digest(), outcome)?;
        self.remember_answer(q.digest(), &bytes);
        let peer = identity::peer_id_of(&b.requester.key)?;
        // On disk before the answer leaves: no answer is ever sent unrecorded.
        self.record(
            AuditKind::AnswerSent,
            NewEntry {
                peer: Some(peer.to_string()),
                state: Some(b.requester.state),
                query: Some(q.digest().to_hex()),
                outcome: Some(word.into()),
                rule: rule.map(str::to_string),
            },
            true,
        );
        Some((peer, bytes))
    }

    fn sign_answer(&self, query: Digest, outcome: Outcome) -> Option<Vec<u8>> {
        let body = TraceAnswer {
            query,
            responder: Party {
                state: self.inner.state,
                key: self.inner.key.public_key(),
            },
            answered_at: unix_now(),
            outcome,
        };
        match self.inner.key.sign(body) {
            Ok(s) => Some(s.into_parts().0),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an answer");
                None
            }
        }
    }

    async fn send_answer(&self, peer: PeerId, bytes: Vec<u8>) {
        match self.inner.net.request(peer, bytes).await {
            Ok(reply) if reply == b"ok" => bump(&self.inner.counters.answers_sent),
            Ok(reply) => {
                tracing::info!(%peer, reply = %String::from_utf8_lossy(&reply), "answer refused")
            }
            Err(e) => tracing::info!(%peer, error = %e, "answer not delivered"),
        }
    }

    // ---- incoming requests: answers to our traces ----

    async fn on_request(&self, peer: PeerId, data: Vec<u8>) -> Vec<u8> {
        let kind = protocol::codec::peek_kind(&data);
        let node = self.clone();
        let result = tokio::task::spawn_blocking(move || match kind {
            Ok(Kind::Answer) => node
                .on_answer(peer, &data)
                .map(|follow| (b"ok".to_vec(), follow)),
            Ok(Kind::Query) => node.on_direct_query(peer, &data).map(|a| (a, Vec::new())),
            Ok(other) => Err(format!("{other:?} is not accepted as a request")),
            Err(e) => Err(e.to_string()),
        })
        .await
        .unwrap_or_else(|e| Err(format!("internal error: {e}")));
        match result {
            Ok((reply, follow)) => {
                for (target, id) in follow {
                    tokio::spawn(self.follow_up(target, id));
                }
                reply
            }
            Err(reason) => {
                bump(&self.inner.counters.answers_rejected);
                self.record(
                    AuditKind::AnswerRefused,
                    NewEntry {
                        peer: Some(peer.to_string()),
                        rule: Some(reason.chars().take(200).collect()),
                        ..NewEntry::default()
                    },
                    true,
                );
                tracing::info!(%peer, %reason, "refused an incoming answer");
                format!("refused: {reason}").into_bytes()
            }
        }
    }

    fn remember_answer(&self, query: Digest, bytes: &[u8]) {
        if let Ok(mut m) = self.inner.answered.lock() {
            // Bounded: a retry comes within a trace's lifetime, not days later.
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(query, bytes.to_vec());
        }
    }

    fn answered_before(&self, query: &Digest) -> Option<Vec<u8>> {
        self.inner.answered.lock().ok()?.get(query).cloned()
    }

    /// Sends a trace's query again, straight to every asked State that has not
    /// given a final answer, and reopens the trace until a new deadline.
    pub async fn retry(&self, id: &str) -> Result<StoredTrace, NodeError> {
        let t = self.trace(id)?;
        let timeout = self.inner.settings.trace_timeout_secs;
        let waiting: Vec<PeerId> = t
            .asked
            .iter()
            .filter(|a| !t.final_at.contains_key(&a.peer))
            .filter_map(|a| a.peer.parse().ok())
            .collect();
        let t = self
            .inner
            .traces
            .update(id, |t| {
                t.deadline = unix_now() + timeout;
                for a in t.asked.iter_mut() {
                    a.unreachable = None;
                }
            })?
            .ok_or_else(|| NodeError::NoSuchTrace(id.to_string()))?;
        if let Ok(mut p) = self.inner.pending.lock() {
            p.insert(id.to_string());
        }
        for peer in waiting {
            let node = self.clone();
            let query = t.query.clone();
            tokio::spawn(async move {
                let failure = match node.inner.net.request(peer, query).await {
                    Ok(reply) if reply.starts_with(b"refused") => {
                        Some(String::from_utf8_lossy(&reply).into_owned())
                    }
                    Ok(reply) => {
                        let n = node.clone();
                        match tokio::task::spawn_blocking(move || n.on_answer(peer, &reply)).await {
                            Ok(Ok(_)) => None,
                            Ok(Err(e)) => Some(e),
                            Err(e) => Some(e.to_string()),
                        }
                    }
                    Err(e) => Some(e.to_string()),
                };
                if let Some(why) = failure {
                    node.mark_unreachable(&peer, &why);
                }
            });
        }
        self.notify();
        Ok(t)
    }

    /// Puts a request in the inbox (on disk before the acknowledgement leaves).
    fn to_inbox(&self, q: &Signed<TraceQuery>, reason: policy::ReviewReason) -> Option<()> {
        let b = q.body();
        let item = inbox::InboxItem {
            id: q.digest().to_hex()[..16].to_string(),
            received_at: unix_now(),
            deadline: b.issued_at.saturating_add(u64::from(b.ttl_secs)),
            reason,
            requester: b.requester.state,
            peer: identity::peer_id_of(&b.requester.key)?.to_string(),
            query: q.bytes().to_vec(),
            status: inbox::InboxStatus::Pending,
        };
        if let Err(e) = self.inner.inbox.put(&item) {
            tracing::error!(error = %e, "cannot store an inbox item; the request is not acknowledged");
            return None;
        }
        Some(())
    }

    /// Raises an alert when another State's trace matches a record this node
    /// holds as lost or stolen: its owner learns the weapon was found.
    fn raise_alerts(&self, q: &TraceQuery, found: &[crate::registry::Candidate]) {
        for c in found {
            let Some(e) = c.record.events.iter().rev().find(|e| e.kind.is_diversion()) else {
                continue;
            };
            let alert = inbox::Alert {
                at: unix_now(),
                requester: q.requester.state,
                record: c.record.id.to_string(),
                marking: c.record.marking.clone(),
                kind: e.kind,
                date: e.date,
            };
            tracing::warn!(record = %alert.record, requester = %alert.requester, "a weapon recorded as {} here was traced", e.kind);
            if let Err(err) = self.inner.inbox.raise(&alert) {
                tracing::error!(error = %err, "cannot store an alert");
            }
        }
    }

    pub fn inbox(&self) -> &inbox::Inbox {
        &self.inner.inbox
    }

    /// Decides an inbox item: approve (disclosing at `disclose`, or the policy's
    /// level for the requester) or refuse with a reason code; signs the answer
    /// and sends it to the requester.
    pub async fn decide(
        &self,
        id: &str,
        approve: Option<Option<policy::Disclosure>>,
        refuse: Option<protocol::WithheldReason>,
    ) -> Result<inbox::InboxItem, NodeError> {
        let mut item = self
            .inner
            .inbox
            .get(id)
            .map_err(|e| NodeError::Config(e.to_string()))?
            .ok_or_else(|| {
                NodeError::BadTrace(format!("no inbox item {id}; `tracenet inbox` lists them"))
            })?;
        if item.status != inbox::InboxStatus::Pending {
            return Err(NodeError::BadTrace(format!(
                "inbox item {id} was already decided"
            )));
        }
        let now = unix_now();
        if now > item.deadline {
            return Err(NodeError::BadTrace(format!(
                "inbox item {id}: the requester's time-to-live ended {} s ago; it can no longer be answered",
                now - item.deadline
            )));
        }
        let q = decode_stored::<TraceQuery>(&item.query, self.inner.limits).ok_or_else(|| {
            NodeError::Config(format!("inbox item {id} holds an unreadable query"))
        })?;
        let (outcome, status) = match (approve, refuse) {
            (Some(level), None) => {
                let reg = self.inner.registry.clone().ok_or_else(|| {
                    NodeError::BadTrace("a bootstrap node has no registry".into())
                })?;
                let qq = q.clone();
                let found = tokio::task::spawn_blocking(move || answer::lookup(&reg, &qq))
                    .await
                    .map_err(|e| NodeError::Config(e.to_string()))??;
                let level = level.unwrap_or_else(|| {
                    self.inner
                        .policy
                        .disclosure
                        .disclosure_for(q.requester.state)
                });
                let outcome = if found.is_empty() {
                    Outcome::NoHit
                } else {
                    answer::disclosed(&found, level)
                };
                (
                    outcome,
                    inbox::InboxStatus::Approved {
                        at: now,
                        disclose: level,
                    },
                )
            }
            (None, Some(reason)) => (
                Outcome::Withheld { reason },
                inbox::InboxStatus::Refused { at: now, reason },
            ),
            _ => return Err(NodeError::BadTrace("approve or refuse, not both".into())),
        };
        let digest = Digest::of(&item.query);
        let (word, _) = outcome_words(&outcome);
        let bytes = self
            .sign_answer(digest, outcome)
            .ok_or_else(|| NodeError::Config("cannot sign the answer".into()))?;
        let peer: PeerId = item
            .peer
            .parse()
            .map_err(|_| NodeError::Config(format!("inbox item {id} names an unreadable peer")))?;
        item.status = status;
        self.inner
            .inbox
            .put(&item)
            .map_err(|e| NodeError::Config(e.to_string()))?;
        self.record(
            AuditKind::Decision,
            NewEntry {
                peer: Some(item.peer.clone()),
                state: Some(item.requester),
                query: Some(digest.to_hex()),
                outcome: Some(word.into()),
                rule: Some("human_decision".into()),
            },
            true,
        );
        match self.inner.net.request(peer, bytes).await {
            Ok(reply) if reply == b"ok" => Ok(item),
            Ok(reply) => Err(NodeError::BadTrace(format!(
                "the requester refused the answer: {}",
                String::from_utf8_lossy(&reply)
            ))),
            Err(e) => Err(NodeError::BadTrace(format!(
                "decision recorded, but the answer could not be delivered: {e}"
            ))),
        }
    }

    /// A query sent straight to this node (a follow-up along a chain of
    /// custody): checked like a gossiped one, answered in the response.
    fn on_direct_query(&self, peer: PeerId, data: &[u8]) -> Result<Vec<u8>, String> {
        let (verdict, q) = self.check_query(data);
        let Some(q) = q else {
            // Already answered (the requester retries, or our answer was lost):
            // the same signed answer again.
            if let Some(a) = self.answered_before(&Digest::of(data)) {
                return Ok(a);
            }
            return Err(format!("query not accepted ({verdict:?})"));
        };
        if identity::peer_id_of(&q.body().requester.key) != Some(peer) {
            return Err("a directed query must come from its requester".into());
        }
        self.answer_query(&q)
            .map(|(_, bytes)| bytes)
            .ok_or_else(|| "not answered (rate limit, or nothing held and silent)".into())
    }

    /// Sends a trace's query straight to the member of `state` the chain of
    /// custody points at, and files its answer.
    fn follow_up(&self, state: CountryCode, id: String) -> futures::future::BoxFuture<'static, ()> {
        let node = self.clone();
        Box::pin(async move { node.follow_up_now(state, id).await })
    }

    async fn follow_up_now(&self, state: CountryCode, id: String) {
        let Some(peer) = self.read_members().of_state(state).map(|(p, _)| *p).next() else {
            return;
        };
        let Ok(t) = self.trace(&id) else { return };
        let outcome = self.inner.net.request(peer, t.query.clone()).await;
        let failure = match outcome {
            Ok(reply) if reply.starts_with(b"refused") => {
                Some(String::from_utf8_lossy(&reply).into_owned())
            }
            Ok(reply) => {
                let node = self.clone();
                let filed = tokio::task::spawn_blocking(move || node.on_answer(peer, &reply)).await;
                match filed {
                    Ok(Ok(more)) => {
                        for (target, id) in more {
                            let node = self.clone();
                            tokio::spawn(node.follow_up(target, id));
                        }
                        None
                    }
                    Ok(Err(e)) => Some(e),
                    Err(e) => Some(e.to_string()),
                }
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            tracing::info!(%state, %why, "follow-up not answered");
            self.mark_unreachable(&peer, &why);
        }
    }

    /// Files an answer to one of this node's traces. Returns the follow-ups the
    /// chain of custody now calls for: (State, trace id).
    fn on_answer(&self, peer: PeerId, data: &[u8]) -> Result<Vec<(CountryCode, String)>, String> {
        let member = self
            .read_members()
            .get(&peer)
            .cloned()
            .ok_or("not a member of the roster")?;
        let a = protocol::decode_and_verify::<TraceAnswer>(data, self.inner.limits)
            .map_err(|e| e.to_string())?;
        if a.signer() != member.key || a.body().responder.state != member.state {
            return Err("signed by a key other than the sending member's".into());
        }
        let digest = a.body().query;
        let id = self
            .inner
            .by_digest
            .get(digest.as_bytes())
            .map_err(|e| e.to_string())?
            .ok_or("answers no trace of this node")?;
        let id = String::from_utf8_lossy(&id).into_owned();
        let trace = self
            .inner
            .traces
            .get(&id)
            .map_err(|e| e.to_string())?
            .ok_or("trace vanished")?;
        // The answer is bound to the query by its digest (looked up above) and
        // verified once; what remains of `accept_answer` is its dating.
        let answered_at = a.body().answered_at;
        self.inner
            .freshness
            .check_not_future(answered_at, unix_now())
            .map_err(|e| e.to_string())?;
        if answered_at.saturating_add(self.inner.freshness.skew_secs) < trace.created_at {
            return Err("the answer is dated before its query".into());
        }
        let is_final = !matches!(a.body().outcome, Outcome::Acknowledged);
        // Flushed by the trace update just below (one log for every tree).
        self.record(
            AuditKind::AnswerReceived,
            NewEntry {
                peer: Some(peer.to_string()),
                state: Some(member.state),
                query: Some(digest.to_hex()),
                outcome: Some(outcome_words(&a.body().outcome).0.into()),
                rule: None,
            },
            false,
        );
        let now = unix_now();
        let peer_s = peer.to_string();
        self.inner
            .traces
            .update_unflushed(&id, |t| {
                if t.answers.iter().any(|x| x.bytes == data) {
                    return;
                }
                t.answers.push(StoredAnswer {
                    peer: peer_s.clone(),
                    received_at: now,
                    bytes: data.to_vec(),
                });
                if !t.asked.iter().any(|x| x.peer == peer_s) {
                    // Answered without having been counted as asked (it
                    // subscribed after the trace was sent): it was asked after all.
                    t.asked.push(Asked {
                        peer: peer_s.clone(),
                        state: Some(member.state),
                        unreachable: None,
                    });
                }
                if is_final {
                    t.final_at.entry(peer_s.clone()).or_insert(now);
                } else {
                    t.first_ack.entry(peer_s.clone()).or_insert(now);
                }
            })
            .map_err(|e| e.to_string())?;
        // On disk before the sender hears `ok`; concurrent answers share the fsync.
        self.inner
            .group_flush
            .flush(&self.inner.db)
            .map_err(|e| e.to_string())?;
        bump(&self.inner.counters.answers_received);
        let sent_ms = trace.created_at_ms.unwrap_or(trace.created_at * 1000);
        let latency = unix_now_ms().saturating_sub(sent_ms) as f64 / 1000.0;
        self.inner.counters.answer_latency.observe(latency);
        let follow = self.plan_follow_ups(&id).map_err(|e| e.to_string())?;
        self.notify();
        Ok(follow)
    }

    /// Decides which States the chain of custody should be followed to, at most
    /// `max_follow_ups` per trace and never the same State twice, and records
    /// them as asked.
    fn plan_follow_ups(&self, id: &str) -> Result<Vec<(CountryCode, String)>, NodeError> {
        let t = self.trace(id)?;
        let custody = self.custody_of(&t);
        let members = self.members();
        let max = self.inner.settings.max_follow_ups;
        let me = self.inner.state;
        let candidates: Vec<(CountryCode, PeerId)> = custody
            .follow_up
            .into_iter()
            .filter(|s| *s != me)
            .filter_map(|s| members.of_state(s).next().map(|(p, _)| (s, *p)))
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // Decided inside the update, which is atomic per trace: two answers
        // arriving together cannot both send the same follow-up.
        let mut chosen: Vec<CountryCode> = Vec::new();
        self.inner.traces.update(id, |t| {
            chosen.clear();
            for (state, peer) in &candidates {
                let already = t.followed_up.contains(state)
                    || t.asked.iter().any(|a| a.state == Some(*state));
                if already || t.followed_up.len() >= max {
                    continue;
                }
                t.followed_up.push(*state);
                t.asked.push(Asked {
                    peer: peer.to_string(),
                    state: Some(*state),
                    unreachable: None,
                });
                chosen.push(*state);
            }
        })?;
        Ok(chosen.into_iter().map(|s| (s, id.to_string())).collect())
    }

    /// The chain of custody of a trace, from its answers whose keys the current
    /// roster vouches for.
    pub fn custody_of(&self, t: &StoredTrace) -> custody::Custody {
        let members = self.members();
        let decoded: Vec<(usize, CountryCode, Outcome)> = t
            .answers
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let s =
                    protocol::decode_and_verify::<TraceAnswer>(&a.bytes, self.inner.limits).ok()?;
                let b = s.body();
                let vouched = members
                    .by_key(&b.responder.key)
                    .is_some_and(|(_, m)| m.state == b.responder.state);
                vouched.then(|| (i, b.responder.state, b.outcome.clone()))
            })
            .collect();
        // A State's final answer supersedes its acknowledgement.
        let finals: Vec<&(usize, CountryCode, Outcome)> = decoded
            .iter()
            .filter(|(_, st, o)| {
                !matches!(o, Outcome::Acknowledged)
                    || !decoded
                        .iter()
                        .any(|(_, s2, o2)| s2 == st && !matches!(o2, Outcome::Acknowledged))
            })
            .collect();
        let inputs: Vec<custody::AnswerInput<'_>> = finals
            .iter()
            .map(|(i, st, o)| custody::AnswerInput {
                index: *i,
                state: *st,
                outcome: o,
            })
            .collect();
        let answered = decoded.iter().map(|(_, s, _)| *s).collect();
        let wanted = protocol::decode_and_verify::<TraceQuery>(&t.query, self.inner.limits)
            .map(|q| custody::Wanted {
                imports: q
                    .body()
                    .marking
                    .imports()
                    .iter()
                    .map(|m| m.country)
                    .collect(),
                category: Some(q.body().category),
            })
            .unwrap_or_default();
        custody::assemble(&inputs, &answered, &wanted)
    }

    fn mark_unreachable(&self, peer: &PeerId, why: &str) {
        let ids: Vec<String> = self
            .inner
            .pending
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default();
        let peer_s = peer.to_string();
        let mut changed = false;
        for id in ids {
            let r = self.inner.traces.update(&id, |t| {
                for a in t.asked.iter_mut() {
                    if a.peer == peer_s
                        && !t.final_at.contains_key(&peer_s)
                        && a.unreachable.is_none()
                    {
                        a.unreachable = Some(why.to_string());
                    }
                }
            });
            changed |= r.is_ok();
        }
        if changed {
            self.notify();
        }
    }

    fn expire_pending(&self) {
        let now = unix_now();
        let mut expired = false;
        if let Ok(mut p) = self.inner.pending.lock() {
            let before = p.len();
            p.retain(|id| {
                self.inner
                    .traces
                    .get(id)
                    .ok()
                    .flatten()
                    .is_some_and(|t| t.deadline > now)
            });
            expired = p.len() != before;
        }
        if expired {
            self.notify();
        }
    }

    // ---- outgoing traces ----

    /// Signs and publishes a trace to the topics of its marking prefix and import
    /// marks. It is on disk before it is sent, so that no answer finds it missing.
    pub async fn send_trace(&self, t: NewTrace) -> Result<StoredTrace, NodeError> {
        if self.inner.registry.is_none() {
            return Err(NodeError::BadTrace(
                "a bootstrap node does not send traces".into(),
            ));
        }
        let makers = self
            .inner
            .registry
            .as_ref()
            .map(|r| r.makers().clone())
            .unwrap_or_default();
        let id = QueryId::random().map_err(|e| NodeError::BadTrace(e.to_string()))?;
        let now = unix_now();
        let body = TraceQuery {
            id,
            requester: Party {
                state: self.inner.state,
                key: self.inner.key.public_key(),
            },
            issued_at: now,
            ttl_secs: self.inner.settings.trace_ttl_secs,
            priority: t.priority,
            marking: t.marking.clone(),
            category: t.category,
            calibre: t.calibre,
            legal_ground: t.legal_ground,
            intended_use: t.intended_use,
        };
        let signed = self
            .inner
            .key
            .sign(body)
            .map_err(|e| NodeError::BadTrace(e.to_string()))?;
        let mut topics = vec![Topic::Prefix(t.marking.prefix(&makers))];
        topics.extend(t.marking.imports().iter().map(|m| Topic::Import(m.country)));
        topics.dedup();
        let asked = self.subscribers_of(&topics).await?;
        let timeout = t
            .timeout_secs
            .unwrap_or(self.inner.settings.trace_timeout_secs)
            .clamp(1, 7 * 86_400);
        let stored = StoredTrace {
            id: id.to_hex(),
            created_at: now,
            created_at_ms: Some(unix_now_ms()),
            deadline: now + timeout,
            query: signed.bytes().to_vec(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            asked,
            answers: Vec::new(),
            local: t.local,
            first_ack: Default::default(),
            final_at: Default::default(),
            followed_up: Vec::new(),
        };
        // Both trees share sled's log: the trace's flush makes the index durable too.
        self.inner
            .by_digest
            .insert(signed.digest().as_bytes(), stored.id.as_bytes())?;
        self.record(
            AuditKind::TraceSent,
            NewEntry {
                query: Some(signed.digest().to_hex()),
                outcome: Some(format!("asked {}", stored.asked.len())),
                ..NewEntry::default()
            },
            false,
        );
        self.inner.traces.put(&stored)?;
        if let Ok(mut p) = self.inner.pending.lock() {
            p.insert(stored.id.clone());
        }
        for topic in topics {
            match self
                .inner
                .net
                .publish(topic.clone(), signed.bytes().to_vec())
                .await
            {
                Ok(()) | Err(net::NetError::NoSubscribers(_)) => {}
                Err(e) => tracing::warn!(%topic, error = %e, "publishing a trace failed"),
            }
        }
        bump(&self.inner.counters.traces_sent);
        self.notify();
        Ok(stored)
    }

    /// The members subscribed to any of `topics` right now: the States a trace asks.
    async fn subscribers_of(&self, topics: &[Topic]) -> Result<Vec<Asked>, NodeError> {
        let subscribed = self.inner.net.subscribers(topics.to_vec()).await?;
        let members = self.read_members();
        let peers: BTreeSet<String> = subscribed.iter().map(|p| p.to_string()).collect();
        Ok(peers
            .into_iter()
            .filter_map(|p| {
                let pid: PeerId = p.parse().ok()?;
                let m = members.get(&pid)?;
                (!m.bootstrap).then_some(Asked {
                    peer: p,
                    state: Some(m.state),
                    unreachable: None,
                })
            })
            .collect())
    }

    pub fn trace(&self, id: &str) -> Result<StoredTrace, NodeError> {
        self.inner
            .traces
            .get(id)?
            .ok_or_else(|| NodeError::NoSuchTrace(id.to_string()))
    }

    pub fn traces(&self) -> Result<Vec<StoredTrace>, NodeError> {
        Ok(self.inner.traces.list()?)
    }

    /// Where a trace stands now.
    pub fn status_of(&self, t: &StoredTrace) -> TraceStatus {
        trace_status(t, unix_now(), self.inner.limits)
    }

    /// Bytes sled occupies on disk.
    pub fn store_size(&self) -> u64 {
        self.inner.db.size_on_disk().unwrap_or(0)
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    pub fn trust(&self) -> &TrustConfig {
        &self.inner.trust
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    // ---- roster ----

    async fn on_roster_gossip(&self, id: GossipId, data: Vec<u8>) {
        let verdict = match self.install_roster(&data, false).await {
            Ok(true) => Verdict::Accept,
            Ok(false) => Verdict::Ignore,
            Err(e) => {
                tracing::info!(error = %e, "rejected a gossiped roster");
                Verdict::Reject
            }
        };
        let _ = self.inner.net.validate(id, verdict).await;
    }

    /// Verifies a roster against the trust anchors and installs it if it is newer
    /// than the one held: members removed from it are cut off at once. Returns
    /// whether it was installed. With `publish`, passes it on to the federation.
    pub async fn install_roster(&self, bytes: &[u8], publish: bool) -> Result<bool, NodeError> {
        let file = RosterFile::from_json(bytes).map_err(|e| NodeError::Roster(e.to_string()))?;
        let roster = match roster::install(
            &self.inner.data_dir,
            &file,
            &self.inner.trust,
            Date::today(),
        ) {
            Ok(r) => r,
            Err(RosterError::NotNewer { .. }) => return Ok(false),
            Err(e) => return Err(NodeError::Roster(e.to_string())),
        };
        let members = members_of(&roster);
        let version = members.version;
        self.record(
            AuditKind::RosterInstalled,
            NewEntry {
                outcome: Some(format!("version {version}")),
                ..NewEntry::default()
            },
            true,
        );
        *self
            .inner
            .members
            .write()
            .unwrap_or_else(|p| p.into_inner()) = members;
        self.apply_members().await?;
        tracing::info!(version, "roster installed");
        if publish {
            match self.inner.net.publish(Topic::Roster, bytes.to_vec()).await {
                Ok(()) | Err(net::NetError::NoSubscribers(_)) => {}
                Err(e) => tracing::warn!(error = %e, "publishing the roster failed"),
            }
        }
        Ok(true)
    }
}

fn load_members(data_dir: &Path, trust: &TrustConfig) -> Result<Members, NodeError> {
    match roster::load_held(data_dir, trust, Date::today()) {
        Ok(Some(r)) => Ok(members_of(&r)),
        Ok(None) => Err(NodeError::Roster(format!(
            "no roster in {}; install one signed by your trust anchors with `tracenet roster install FILE`",
            data_dir.display()
        ))),
        Err(e) => Err(NodeError::Roster(format!(
            "the roster in {}: {e}",
            data_dir.display()
        ))),
    }
}

/// The node's membership view of a verified roster.
fn members_of(roster: &Roster) -> Members {
    let mut m = Members {
        version: roster.version(),
        valid_until: (roster.body().valid_until.to_days().max(0) as u64) * 86_400 + 86_399,
        ..Members::default()
    };
    for member in roster.members() {
        let Some(peer) = identity::peer_id_of(&member.key) else {
            continue;
        };
        m.by_peer.insert(
            peer,
            MemberInfo {
                state: member.state,
                name: member.name.clone(),
                key: member.key,
                addrs: member
                    .addresses
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect(),
                bootstrap: member.role == roster::Role::Bootstrap,
            },
        );
    }
    m
}

/// The outcome as one word for the audit log and metrics, and the rule behind it.
fn outcome_words(o: &Outcome) -> (&'static str, Option<&'static str>) {
    match o {
        Outcome::Hit { .. } => ("hit", None),
        Outcome::NoHit => ("no_hit", None),
        Outcome::Withheld { .. } => ("withheld", Some("confidential_record")),
        Outcome::Acknowledged => ("acknowledged", Some("human_review")),
        Outcome::TooMany { .. } => ("too_many", Some("max_candidates")),
    }
}

/// Decodes a frame this node stored after verifying it on receipt (its own
/// query, or an answer accepted by `on_answer`): the signature is not checked
/// again on every read. The evidence bundle lets anyone re-verify it.
pub fn decode_stored<T: protocol::Message>(frame: &[u8], limits: Limits) -> Option<T> {
    let (message, _) = protocol::codec::split_signed(frame).ok()?;
    protocol::codec::decode_body::<T>(T::KIND, message, limits).ok()
}

/// Derives a trace's status from its answers, who was asked and its deadline.
pub fn trace_status(t: &StoredTrace, now: u64, limits: Limits) -> TraceStatus {
    let mut finals = HashSet::new();
    let mut acks = HashSet::new();
    for a in &t.answers {
        match protocol::decode_and_verify::<TraceAnswer>(&a.bytes, limits) {
            Ok(s) if matches!(s.body().outcome, Outcome::Acknowledged) => {
                acks.insert(a.peer.as_str())
            }
            Ok(_) => finals.insert(a.peer.as_str()),
            Err(_) => false,
        };
    }
    let waiting: Vec<&Asked> = t
        .asked
        .iter()
        .filter(|a| !finals.contains(a.peer.as_str()))
        .collect();
    if waiting.is_empty() && !t.asked.is_empty() {
        return TraceStatus::Answered;
    }
    let all_gone = waiting.iter().all(|a| a.unreachable.is_some());
    if now >= t.deadline || (all_gone && !t.asked.is_empty()) {
        return if finals.is_empty() {
            TraceStatus::TimedOut
        } else {
            TraceStatus::Partial
        };
    }
    if t.asked.is_empty() && now >= t.deadline {
        return TraceStatus::TimedOut;
    }
    if !acks.is_empty() {
        TraceStatus::Acknowledged
    } else {
        TraceStatus::Sent
    }
}

/// Builds the marking of a trace from an officer's flags, refusing bad input
/// before anything is sent.
pub fn trace_marking(
    maker: &str,
    country: &str,
    serial: &str,
    imports: &[String],
) -> Result<Marking, NodeError> {
    let bad = |e: String| NodeError::BadTrace(e);
    let country = CountryCode::parse(country).map_err(|e| bad(format!("--country: {e}")))?;
    let imports = imports
        .iter()
        .map(|s| {
            s.parse::<ImportMark>()
                .map_err(|e| bad(format!("--import {s:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Marking::try_from(MarkingFields {
        manufacturer: maker.to_string(),
        country,
        serial: serial.to_string(),
        year: None,
        factory_code: None,
        imports,
    })
    .map_err(|e| bad(e.to_string()))
}

/// Checks free text that stays on this node (case references, notes).
pub fn local_text(field: &str, s: Option<String>) -> Result<Option<NationalText>, NodeError> {
    s.map(|s| NationalText::parse(&s).map_err(|e| NodeError::BadTrace(format!("{field}: {e}"))))
        .transpose()
}

/// What `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub state: CountryCode,
    pub role: Role,
    pub peer_id: String,
    pub uptime_secs: u64,
    pub roster_version: u64,
    pub roster_valid_until: u64,
    pub roster_members: usize,
    pub net: net::NetStatus,
    pub registry_records: Option<u64>,
    /// Requests waiting for a person's decision.
    pub inbox_pending: usize,
    pub alerts: usize,
    /// The audit log's last entry: sequence and hash.
    pub audit_head: Option<(u64, String)>,
}

impl Node {
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let net = self.inner.net.status().await?;
        let members = self.members();
        let registry_records = match &self.inner.registry {
            Some(r) => Some(r.len()?),
            None => None,
        };
        Ok(NodeStatus {
            state: self.inner.state,
            role: self.inner.settings.role,
            peer_id: self.peer_id().to_string(),
            uptime_secs: self.uptime().as_secs(),
            roster_version: members.version,
            roster_valid_until: members.valid_until,
            roster_members: members.by_peer.len(),
            net,
            registry_records,
            inbox_pending: self.inner.inbox.pending().unwrap_or(0),
            alerts: self.inner.inbox.alerts().map(|a| a.len()).unwrap_or(0),
            audit_head: self.inner.audit.head(),
        })
    }
}
