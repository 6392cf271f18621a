//! The application: answers incoming trace queries from the national registry,
//! sends traces and collects their signed answers, and keeps the membership.
//! It talks to libp2p only through `net::NetHandle` and `net::NetEvent`.
//!
//! Split by role, each file one job:
//! - `dispatch`: the event loop; classifies network events and hands work off,
//!   never awaiting application work itself; tracked tasks and shutdown.
//! - `responder`: incoming queries: admission, lookup, policy, sign, deliver;
//!   `refusing`: the signed refusals of verified queries it does not answer.
//! - `review`: the inbox of requests a person decides, and alerts.
//! - `requester`: sending traces, filing answers, follow-ups, retries;
//!   `deadlines`: a timer per trace and the reachability of those asked;
//!   `new_trace`: an officer's request, checked before anything is signed.
//! - `membership`: roster installation and expiry; `makers`: the maker
//!   reference table in force, its installation and gossip.
//! - `status`: what `status` and the trace views show.
//! - `admission`, `replay`, `limits`: the bounded memories the responder keeps.
//!
//! Acceptance rules for what peers send live in `protocol::accept` only.

pub mod admission;
pub mod answer;
pub mod blind;
pub mod custody;
mod deadlines;
mod delivery;
mod dispatch;
mod filing;
mod holders;
pub mod inbox;
mod inflight;
pub mod key_copies;
mod limits;
pub mod makers;
pub mod members;
mod membership;
pub mod metrics;
mod new_trace;
pub mod officers;
pub mod offline;
mod peer_events;
pub mod policy;
mod refusing;
mod replay;
pub mod report;
mod requester;
mod responder;
mod review;
mod status;
pub mod traces;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{AuditKind, AuditLog, NewEntry};
use crate::config::Config;
use crate::identity::{self, NodeKey};
use crate::model::CountryCode;
use crate::net::{self, NetEvent, NetHandle, Topic};
use crate::protocol::{self, Freshness, Limits, Rules};
use crate::registry::Registry;
use crate::roster::TrustConfig;

pub use crate::config::{NodeSettings, Role};
pub use makers::{InstallMakersError, MakersInstalled};
pub use members::{MemberInfo, Members};
pub use membership::InstallRosterError;
pub use new_trace::{
    FieldNames, NewTrace, Remedy, TraceFault, TraceField, check_maker, local_text, trace_marking,
};
pub use requester::{MAX_TIMEOUT_SECS as MAX_TRACE_TIMEOUT_SECS, SendTraceError};
pub use review::DecideError;
pub use status::{HolderState, HolderView, Judge, NodeStatus, holders, trace_status};
pub use traces::{
    Asked, Cursor, ExpectedBy, LocalCase, StoredAnswer, StoredTrace, TraceStatus, TraceStore,
    TraceStoreError,
};

use admission::{AnswerCache, PeerStanding, RefusalTally};
use limits::{RateLimiter, RefusalBudget};
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

/// The trace store in the database of `data_dir`, its errors named by the
/// store's folder (`DATA_DIR/db`).
pub(crate) fn open_traces(db: &sled::Db, data_dir: &Path) -> Result<TraceStore, NodeError> {
    TraceStore::open(db).map_err(|source| NodeError::TraceStoreAt {
        dir: data_dir.join("db"),
        source,
    })
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
    /// The data directory's trace store could not be opened (a later
    /// layout, or unreadable): named by the store's folder.
    #[error("{}: {source}", dir.display())]
    TraceStoreAt {
        dir: PathBuf,
        source: traces::TraceStoreError,
    },
    #[error("{0}")]
    Net(#[from] net::NetError),
    #[error("{0}")]
    Config(String),
    /// A trace that cannot be sent as given (a field is wrong): not a
    /// refusal by any State.
    #[error("trace not sent: {0}")]
    BadTrace(TraceFault),
    #[error(
        "no trace {0} on this node; `tracenet trace list` (GET /v1/traces) lists them, each by its id of 32 hexadecimal digits (the 16 digits inboxes and audit logs name a query by are not one)"
    )]
    NoSuchTrace(String),
    #[error(
        "trace {0}: every expected State has given its final answer; nothing to retry (`tracenet trace show {0}`, GET /v1/traces/{0})"
    )]
    NothingToRetry(String),
    #[error("{0}")]
    Decide(#[from] DecideError),
    #[error("{0}")]
    SendTrace(SendTraceError),
    #[error("{0}")]
    InstallRoster(#[from] InstallRosterError),
    #[error("{0}")]
    InstallMakers(#[from] InstallMakersError),
    #[error("{0}")]
    Storage(#[from] sled::Error),
    #[error("{0}")]
    SendClear(#[from] blind::SendClearError),
}

/// A blind trace the officer must choose how to send is a fault of the
/// trace as asked ([`NodeError::BadTrace`]), said with each front end's
/// names; every other failure to send is the node's.
impl From<SendTraceError> for NodeError {
    fn from(e: SendTraceError) -> Self {
        match e {
            SendTraceError::BlindBeyondBound(reason) => NodeError::BadTrace(
                TraceFault::of(TraceField::Blind, reason).with(Remedy::SendInClear),
            ),
            e => NodeError::SendTrace(e),
        }
    }
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
    /// Query digest → id of this node's trace it belongs to.
    by_digest: sled::Tree,
    /// Traces whose deadline has not passed, with what their timers need
    /// of them ([`deadlines::Waiting`]): a deadline read here, not from the
    /// trace's head in the store.
    pending: Mutex<std::collections::HashMap<String, deadlines::Waiting>>,
    /// Members seen subscribed to trace topics: expected holders of later traces.
    seen_subscribed: holders::SeenSubscriptions,
    /// Trace id → the peers this run of the node handed its query to (by
    /// gossip or directly); what is missing is delivered on reconnect.
    /// Keyed by trace, so that forgetting an expired trace does not scan
    /// the others' (a burst of thousands pending).
    delivered: Mutex<std::collections::HashMap<String, HashSet<PeerId>>>,
    /// Topic → the pending traces published on it: a member that subscribes
    /// to one later becomes an expected holder of those traces.
    pending_topics: Mutex<std::collections::HashMap<String, HashSet<String>>>,
    /// Members a directed query of this node's last failed to reach, until
    /// they connect or reply: a trace names them as served only once they are
    /// reached again, so that where links are bounded holders relay toward
    /// a member this node cannot dial (node::requester, `served_states`).
    /// At most one entry per roster member.
    not_reached: Mutex<HashSet<PeerId>>,
    /// Peers a store-and-forward delivery is running for (one at a time each).
    delivering: inflight::InFlight<PeerId>,
    /// (trace id, holder) whose blind probe is running: a second one (a
    /// reconnect and the minute timer at once) would spend the holder's
    /// evaluation budget twice.
    probing: inflight::InFlight<(String, PeerId)>,
    /// The roster in force as members, shared: a view, a judge or a check
    /// takes the snapshot (a count bump), never a copy of every member, so
    /// what each trace costs does not grow with the federation. Replaced
    /// whole on a roster install; changed copy-on-write on a maker table's.
    members: RwLock<Arc<Members>>,
    /// The maker reference table in force and the local makers on top.
    makers: RwLock<crate::roster::makers::InForce>,
    /// The `[[makers]]` of tracenet.toml, applied on every table.
    local_makers: Vec<crate::marking::MakerAlias>,
    /// One maker table install at a time.
    makers_installing: Mutex<()>,
    /// When a member on another table version was last acted on.
    makers_noted: Mutex<Option<Instant>>,
    replay: replay::ReplayStore,
    /// Gossiped query frames checked here lately (their SHA-256): the same
    /// bytes on another of the query's topics are ignored unchecked, and
    /// two copies read at once are checked one after the other.
    gossip_checked: admission::GossipChecks,
    /// Which peers have connection work running ([`peer_events`]).
    peer_gate: Mutex<peer_events::PeerGate>,
    /// Directed queries `refused_unchecked` would have refused unchecked,
    /// counted to check one in `UNCHECKED_SAMPLE` in full.
    unchecked_seen: std::sync::atomic::AtomicU64,
    /// Directed query frames whose signature verified here lately: one sent
    /// again (a retry, or a member re-sending a refused query) is not
    /// checked again.
    direct_verified: crate::protocol::VerifiedFrames,
    exact_limiter: Mutex<RateLimiter>,
    fuzzy_limiter: Mutex<RateLimiter>,
    /// Which verified-but-refused queries get a signed refusal.
    refusals: Mutex<RefusalBudget>,
    net: NetHandle,
    changed: watch::Sender<u64>,
    /// Bounds the queries (gossiped and directed alike) admitted at once:
    /// past it, refused `overloaded`.
    busy: Arc<Semaphore>,
    /// Bounds the refusals of queries that found `busy` full: a few are
    /// verified and answered `overloaded` at once, the rest dropped.
    refusing: Arc<Semaphore>,
    /// Bounds the answers to this node's traces filed at once.
    filing: Arc<Semaphore>,
    /// Bounds the answers being delivered to each requester
    /// ([`delivery`]).
    deliveries: delivery::Deliveries,
    /// Bounds the admitted queries on the blocking pool at once
    /// ([`ANSWERING_AT_ONCE`]).
    answering: Arc<Semaphore>,
    /// Bounds the long jobs at once ([`LONG_JOBS`], [`Node::long_job`]).
    long_jobs: Arc<Semaphore>,
    /// Bounds blind probes' work on the blocking pool ([`PROBING_AT_ONCE`],
    /// [`Node::probe_work`]).
    probe_work: Arc<Semaphore>,
    /// [`TRUST_GOSSIP_AT_ONCE`].
    trust_gossip: Arc<Semaphore>,
    /// Answers read from the network, waiting to be filed in a batch.
    answers: Arc<filing::AnswerQueue>,
    rules: Rules,
    counters: Counters,
    listen: Mutex<Vec<String>>,
    started: Instant,
    /// Sequence of the last head-signed entry, so that an idle log is not re-signed.
    last_signed_head: Mutex<Option<u64>>,
    /// Shares fsyncs among concurrent answers.
    group_flush: crate::store::GroupFlush,
    /// Answers this node signed, per requester, for requesters that retry.
    answered: Mutex<AnswerCache>,
    /// Refusals counted between two audit entries.
    tally: Mutex<RefusalTally>,
    /// Request-response misbehaviour per peer.
    standing: Mutex<PeerStanding>,
    /// Every task the node spawns; drained at shutdown.
    tasks: TaskTracker,
    /// Cancelled when the node must stop on its own (its store cannot be written).
    fatal: CancellationToken,
    /// Why the store failed, once it did: said again when the node stops
    /// (the ERROR line saying it first may be dropped by a log nobody reads).
    fatal_reason: std::sync::OnceLock<String>,
    /// Cancelled when shutdown begins: timers stop waiting.
    stopping: CancellationToken,
    /// Alerts raised today: (record id, requesting State) → day number.
    alerted: Mutex<std::collections::HashMap<(String, CountryCode), u64>>,
    /// When the roster-expiry warning was last logged, and for which state.
    expiry_warned: Mutex<Option<(Instant, u8)>>,
    /// To which peers the held roster was offered (membership::ROSTER_OFFER_GAP).
    roster_offers: Mutex<membership::RosterOffers>,
    /// When a gossiped roster that could not be installed was last logged
    /// at WARN.
    roster_warned: Mutex<Option<Instant>>,
    /// Queries signed with this node's key that it never sent
    /// ([`key_copies`]).
    key_copies: Mutex<key_copies::KeyCopies>,
    /// `node.gossip_validation`: used where the roster states none.
    own_gossip_validation: net::GossipValidation,
    /// `registry.max_line_bytes`: the bound of imports through the API too.
    max_line_bytes: usize,
    /// Blind traces: the OPRF key, keyed filters, budgets (`blind`).
    blind: blind::BlindSide,
}

/// Threads in tokio's blocking pool, where a node answers queries, files
/// answers, and reads and writes its stores.
///
/// More threads than the work can use only add stacks, allocator heaps and
/// switching on a machine of a few cores: measured in PERFORMANCE.md
/// ("Twenty-fourth session"), under tokio's default of up to 512 a holder
/// under load kept 73 to 248 threads and 150 to 330 MiB more than under a
/// bound of 8 (20 threads in all), and answered 6% fewer a second.
///
/// A bounded pool must never be filled by one kind of work while another
/// waits for a thread: so each kind that may hold a thread for long, or
/// that a peer or a client can ask for at will, has a bound of its own,
/// taken before it asks for a thread (waiting there holds none), and the
/// pool is their sum plus [`KEPT_FREE`] for the rest (filing answers, the
/// control API's and the console's short reads, flushes, the minute's
/// upkeep such as archiving the oldest audit entries):
///
/// | work | at once |
/// |---|---|
/// | answering queries, gossiped or directed | [`ANSWERING_AT_ONCE`] |
/// | refusing queries past the load bound, signed | `REFUSING_AT_ONCE` (2) |
/// | blind evaluations | one per core |
/// | building a blind filter | 1 |
/// | long jobs: imports, registry statistics and exports to a file, audit verifications and reports, maker table installs | [`LONG_JOBS`] |
/// | a blind probe's curve work (blinding, the proof's check, unblinding) and a fetched filter's assembly | [`PROBING_AT_ONCE`] |
/// | console sign-ins and password changes (Argon2id) | [`SIGN_INS_AT_ONCE`] |
///
/// The control API's streamed listings, which wait for their clients, run
/// on threads of their own (`api::listing`), never here.
pub fn blocking_threads() -> usize {
    ANSWERING_AT_ONCE
        + REFUSING_AT_ONCE
        + blind::BUILDS_AT_ONCE
        + LONG_JOBS
        + PROBING_AT_ONCE
        + SIGN_INS_AT_ONCE
        + KEPT_FREE
        + blind::evaluating_at_once()
}

/// Runs `f` on the blocking pool once `turns` has a turn free, holding it
/// until `f` returns. The turn goes with the job: a caller dropped while
/// `f` runs (a client gone) does not free it, since `f` runs on.
async fn in_turn<T: Send + 'static>(
    turns: &Arc<Semaphore>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // Never closed: an error cannot happen, and would only skip the wait.
    let turn = turns.clone().acquire_owned().await;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        f()
    })
    .await
}

/// Queries answered at once on the blocking pool (admitted ones past it
/// wait for a turn, up to `node.max_concurrent_queries`).
pub const ANSWERING_AT_ONCE: usize = 6;
/// Long jobs run at once: imports through the API or the console,
/// registry statistics and exports to a file, audit verifications and
/// reports, maker table installs (each may read the whole registry or
/// log); more wait their turn.
pub const LONG_JOBS: usize = 2;
/// A blind probe's curve work at once (up to 512 blindings, then the
/// holder's proof checked and as many unblindings, tens of milliseconds at
/// the bound) and the assembly of a filter fetched (megabytes checked and
/// laid out); every holder of every blind trace is probed, so more wait
/// their turn.
pub const PROBING_AT_ONCE: usize = 2;
/// Password checks of the officer console (Argon2id, 19 MiB and tens of
/// milliseconds each) run at once; an attempt past them is told to try
/// again, as one past the rate limit is.
pub const SIGN_INS_AT_ONCE: usize = 2;
/// Roster and maker-table messages read from gossip at once; one past them
/// is left (ignored, not passed on, no penalty): a member flooding copies
/// cannot pile up tasks, and a genuine new version is published again.
pub const TRUST_GOSSIP_AT_ONCE: usize = 8;
/// Blocking threads no bounded kind of work may take.
pub const KEPT_FREE: usize = 3;

/// The runtime a node runs on: tokio's multi-threaded scheduler with
/// `workers` async workers (`None`: one per core, for a process that runs
/// several nodes, as the demo does; a node alone takes
/// [`crate::config::NodeSettings::async_workers`]), its blocking pool
/// bounded at [`blocking_threads`].
///
/// # Errors
/// The operating system refused the runtime's threads or its I/O driver.
pub fn runtime(workers: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        b.worker_threads(n.max(1));
    }
    b.max_blocking_threads(blocking_threads())
        .enable_all()
        .build()
}

/// The CPUs this process may run on, as the standard library counts them
/// (`available_parallelism`: its affinity mask, as `taskset` sets it, and
/// its cgroup's CPU quota), 1 if the system does not say.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Answers to this node's traces read from the network and waiting to be
/// filed, or being filed (`filing`); more wait for a place.
pub(super) const FILING_AT_ONCE: usize = 32;
/// Signed answers kept per requesting State for its retries.
const ANSWERS_PER_STATE: usize = 2_000;
/// Overloaded queries verified and refused with a signed answer at once.
const REFUSING_AT_ONCE: usize = 2;

/// The audit log could not be written; the work it would record was refused.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the audit log cannot be written; nothing was done")]
pub struct AuditUnavailable;

impl Node {
    /// Opens everything the node holds and starts the network. The returned
    /// receiver must be driven by [`Node::run_events`].
    pub async fn start(
        data_dir: &Path,
        cfg: Config,
    ) -> Result<(Node, mpsc::Receiver<NetEvent>), NodeError> {
        let settings = cfg.node.clone();
        let own_gossip_validation = settings.gossip_validation;
        let max_line_bytes = cfg.registry.max_line_bytes;
        // A policy the node cannot parse stops it here, before it joins.
        let policy =
            policy::Policy::load(data_dir).map_err(|e| NodeError::Config(e.to_string()))?;
        for w in policy.warnings(settings.answer_no_hit) {
            tracing::warn!("policy: {w}");
        }
        let key = NodeKey::load(&identity::key_path(data_dir))?;
        let trust = cfg.trust.clone();
        // The store first: its lock is what tells the CLI a node runs here,
        // so a roster or maker table it installs with the node stopped is
        // either installed before this reads them, or refused to it.
        let db = crate::store::open_db(&data_dir.join("db"), &cfg.store_options())?;
        // Before anything else is moved on: a trace store this build cannot
        // read (a later layout) stops the node before it joins or rewrites
        // another tree.
        let traces = open_traces(&db, data_dir)?;
        let mut members = membership::load_members(data_dir, &trust)?;
        let makers = makers::load(data_dir, &trust, &cfg.makers);
        members.rederive(&makers.table);
        let registry = match settings.role {
            Role::Member => Some(Arc::new(Registry::open(&db, makers.table.clone())?)),
            Role::Bootstrap => None,
        };
        let blind = blind::BlindSide::open(data_dir, &db, &settings).map_err(NodeError::Config)?;
        let mut net_cfg = settings.net_config().map_err(NodeError::Config)?;
        // The roster held decides for every member; the node's own setting
        // only where it says nothing.
        if let Some(g) = members.gossip_validation {
            if g != net_cfg.gossip_validation {
                tracing::info!(
                    roster = %g,
                    node_gossip_validation = %net_cfg.gossip_validation,
                    "the roster decides the federation's gossip validation; node.gossip_validation is not used"
                );
            }
            net_cfg.gossip_validation = g;
        }
        let (net, events) = net::spawn(key.libp2p_keypair(), net_cfg)?;
        // A trace waits at most its query's time-to-live (7 days at most)
        // from when it was sent: older ones need not be read.
        let waiting: Vec<StoredTrace> = traces
            .heads_since(unix_now().saturating_sub(7 * 86_400 + 1))?
            .into_iter()
            .filter(|t| t.deadline > unix_now())
            .collect();
        traces.watch_read(&waiting);
        let mut pending_topics: std::collections::HashMap<String, HashSet<String>> =
            Default::default();
        for t in &waiting {
            for topic in &t.topics {
                pending_topics
                    .entry(topic.clone())
                    .or_default()
                    .insert(t.id.clone());
            }
        }
        let pending: std::collections::HashMap<String, deadlines::Waiting> = waiting
            .into_iter()
            .map(|t| (t.id.clone(), deadlines::Waiting::of(&t)))
            .collect();
        let node = Node {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                state: cfg.state,
                by_digest: db.open_tree("trace_by_digest")?,
                seen_subscribed: holders::SeenSubscriptions::open(&db)?,
                delivered: Mutex::new(std::collections::HashMap::new()),
                audit: AuditLog::open_in(&db, data_dir)
                    .map_err(|e| NodeError::Config(e.to_string()))?,
                inbox: inbox::Inbox::open(&db).map_err(|e| NodeError::Config(e.to_string()))?,
                policy: answer::AnswerPolicy {
                    disclosure: policy,
                    ..answer::AnswerPolicy::from_settings(&settings)
                },
                gossip_checked: admission::GossipChecks::new(admission::CHECKED_FRAMES_KEPT),
                peer_gate: Mutex::default(),
                unchecked_seen: std::sync::atomic::AtomicU64::new(0),
                direct_verified: crate::protocol::VerifiedFrames::new(
                    admission::CHECKED_FRAMES_KEPT,
                ),
                exact_limiter: Mutex::new(RateLimiter::new(settings.queries_per_minute)),
                fuzzy_limiter: Mutex::new(RateLimiter::new(settings.fuzzy_queries_per_minute)),
                // Sized by the rate limits and the longest life of an id:
                // full only for a State past its rate (see the function).
                replay: replay::ReplayStore::open(
                    &db,
                    protocol::replay_ids_per_state(
                        u64::from(settings.queries_per_minute)
                            + u64::from(settings.fuzzy_queries_per_minute),
                        &Freshness {
                            skew_secs: settings.clock_skew_secs,
                            ..Freshness::default()
                        },
                    ),
                    unix_now(),
                )?,
                refusals: Mutex::new(RefusalBudget::new(limits::REFUSALS_PER_MINUTE)),
                busy: Arc::new(Semaphore::new(settings.max_concurrent_queries)),
                refusing: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
                filing: Arc::new(Semaphore::new(FILING_AT_ONCE)),
                deliveries: Default::default(),
                answering: Arc::new(Semaphore::new(ANSWERING_AT_ONCE)),
                long_jobs: Arc::new(Semaphore::new(LONG_JOBS)),
                probe_work: Arc::new(Semaphore::new(PROBING_AT_ONCE)),
                trust_gossip: Arc::new(Semaphore::new(TRUST_GOSSIP_AT_ONCE)),
                answers: Arc::default(),
                rules: Rules {
                    fresh: Freshness {
                        skew_secs: settings.clock_skew_secs,
                        ..Freshness::default()
                    },
                    limits: Limits::default(),
                },
                settings,
                trust,
                key,
                registry,
                db,
                traces,
                pending: Mutex::new(pending),
                pending_topics: Mutex::new(pending_topics),
                not_reached: Default::default(),
                delivering: Default::default(),
                probing: Default::default(),
                members: RwLock::new(Arc::new(members)),
                makers: RwLock::new(makers),
                local_makers: cfg.makers.clone(),
                makers_installing: Mutex::new(()),
                makers_noted: Mutex::new(None),
                net,
                changed: watch::channel(0).0,
                counters: Counters::default(),
                listen: Mutex::new(Vec::new()),
                started: Instant::now(),
                last_signed_head: Mutex::new(None),
                answered: Mutex::new(AnswerCache::new(ANSWERS_PER_STATE)),
                group_flush: crate::store::GroupFlush::default(),
                tally: Mutex::new(RefusalTally::default()),
                standing: Mutex::new(PeerStanding::default()),
                tasks: TaskTracker::new(),
                fatal: CancellationToken::new(),
                fatal_reason: std::sync::OnceLock::new(),
                stopping: CancellationToken::new(),
                expiry_warned: Mutex::new(None),
                roster_offers: Mutex::new(Default::default()),
                roster_warned: Mutex::new(None),
                key_copies: Mutex::default(),
                alerted: Mutex::new(Default::default()),
                max_line_bytes,
                own_gossip_validation,

                blind,
            }),
        };
        node.apply_members().await?;
        node.refresh_topics().await?;
        node.check_own_oprf_key();
        Ok((node, events))
    }

    pub fn state(&self) -> CountryCode {
        self.inner.state
    }

    pub fn peer_id(&self) -> PeerId {
        self.inner.key.peer_id()
    }

    /// `node.blind_by_default`: whether a trace is blind unless said otherwise.
    pub fn blind_by_default(&self) -> bool {
        self.inner.settings.blind_by_default
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

    /// The roster in force, shared (see `Inner::members`).
    pub fn members(&self) -> Arc<Members> {
        self.read_members()
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

    /// The roster in force, taken under the lock for as long as a count bump
    /// takes: a roster installed meanwhile does not change the snapshot a
    /// caller holds, and no caller holds the lock.
    fn read_members(&self) -> Arc<Members> {
        // A poisoned lock means a thread panicked while holding it; the data
        // (a roster snapshot) is still whole, so keep serving.
        self.inner
            .members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn public_key(&self) -> protocol::PublicKey {
        self.inner.key.public_key()
    }

    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// The node's store, for local trees kept beside the node's own (the
    /// console's officer accounts).
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// Records what a person did through the console (a sign-in, an account
    /// change), on disk before it returns. Fails closed, as every audit write.
    pub fn record_local(&self, kind: AuditKind, n: NewEntry) -> Result<(), AuditUnavailable> {
        self.record(kind, n, true)
    }

    /// [`Node::record_local`] from async code: the append and the flush it
    /// waits for (a disk sync, or another thread's) run on the blocking
    /// pool, not on an async worker, which may be the node's only one
    /// (`node.async_workers`). A panic there is [`AuditUnavailable`].
    pub async fn audit_local(&self, kind: AuditKind, n: NewEntry) -> Result<(), AuditUnavailable> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.record_local(kind, n))
            .await
            .unwrap_or(Err(AuditUnavailable))
    }

    /// Records an audit entry; with `flush`, waits until it is on disk.
    ///
    /// Fails closed: a write that fails is returned, so that the work it
    /// records is refused, and the node stops cleanly (sled does not recover
    /// from a failed write without a restart; a restart once space is back
    /// does). The ERROR line says why.
    fn record(&self, kind: AuditKind, n: NewEntry, flush: bool) -> Result<(), AuditUnavailable> {
        let appended = self.inner.audit.append_unflushed(kind, n, unix_now());
        if let Err(e @ crate::audit::AuditError::TooLong { .. }) = &appended {
            // Nothing was written and the store is sound: the work is
            // refused, the node goes on.
            tracing::error!(error = %e, "an audit entry was refused");
            return Err(AuditUnavailable);
        }
        let r = appended
            .map(|_| ())
            .map_err(|e| e.to_string())
            .and_then(|()| {
                if flush {
                    self.inner
                        .group_flush
                        .flush(&self.inner.db)
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                }
            });
        r.map_err(|e| {
            self.store_failed(&e);
            AuditUnavailable
        })
    }

    /// Stops the node because its store cannot be written: nothing it would
    /// do next could be recorded.
    fn store_failed(&self, error: &str) {
        let _ = self.inner.fatal_reason.set(error.to_string());
        if !self.inner.fatal.is_cancelled() {
            tracing::error!(
                error,
                store = %self.inner.data_dir.join("db").display(),
                "cannot write the store (is the disk full?); no answer leaves unrecorded, so the node stops: free space and start it again"
            );
            self.inner.fatal.cancel();
        }
    }

    /// Whether the node stopped itself because its store failed.
    pub fn stopped_on_failure(&self) -> bool {
        self.inner.fatal.is_cancelled()
    }

    /// The store's first failure, as sled reported it, once the node has
    /// stopped on it ([`Self::stopped_on_failure`]).
    pub fn failure(&self) -> Option<&str> {
        self.inner.fatal_reason.get().map(String::as_str)
    }

    /// `registry.max_line_bytes` of this node's configuration.
    pub fn max_line_bytes(&self) -> usize {
        self.inner.max_line_bytes
    }

    /// Cancelled when the node begins to stop: long work (an import, an
    /// export) watches it to end in time.
    pub fn stopping(&self) -> CancellationToken {
        self.inner.stopping.clone()
    }

    /// Runs `f` on the blocking pool as one of the node's long jobs (an
    /// import, an audit verification or report, ...: [`LONG_JOBS`]), at most [`LONG_JOBS`] at
    /// once: a job past them waits its turn here, holding no thread, so
    /// that long jobs never take the threads the node answers and files
    /// with.
    ///
    /// # Errors
    /// `f` panicked (or the runtime is shutting down).
    pub async fn long_job<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.inner
            .counters
            .long_jobs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        in_turn(&self.inner.long_jobs, f).await
    }

    /// Runs a blind probe's curve work or a fetched filter's assembly on
    /// the blocking pool, at most [`PROBING_AT_ONCE`] at once; the rest
    /// wait here, holding no thread.
    pub(crate) async fn probe_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        in_turn(&self.inner.probe_work, f).await
    }

    /// Runs a query's admission and answer on the blocking pool, at most
    /// [`ANSWERING_AT_ONCE`] at once; the rest wait here, holding no thread.
    pub(crate) async fn answering<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        in_turn(&self.inner.answering, f).await
    }

    /// `f`, tracked: shutdown waits for it (a few seconds at most) as for the
    /// node's own tasks, so that a call that stops on `stopping` can answer.
    pub fn track<F: std::future::Future>(
        &self,
        f: F,
    ) -> tokio_util::task::task_tracker::TrackedFuture<F> {
        self.inner.tasks.track_future(f)
    }

    /// Records a change of the national registry made through the API
    /// (`kind` one of the registry kinds; `outcome` its counts), flushed.
    pub fn record_registry_change(
        &self,
        kind: AuditKind,
        outcome: String,
    ) -> Result<(), AuditUnavailable> {
        let entry = NewEntry {
            outcome: Some(outcome),
            ..NewEntry::default()
        };
        self.record(kind, entry, true)
    }

    /// Several entries of [`Node::audit_local`] in one job on the blocking
    /// pool, in order: a caller dropped while it runs (a client gone) does
    /// not leave the later ones unwritten. Stops at the first that fails.
    pub async fn audit_local_all(
        &self,
        entries: Vec<(AuditKind, NewEntry)>,
    ) -> Result<(), AuditUnavailable> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            entries
                .into_iter()
                .try_for_each(|(kind, n)| node.record_local(kind, n))
        })
        .await
        .unwrap_or(Err(AuditUnavailable))
    }

    /// [`Node::record_registry_change`] from async code, on the blocking
    /// pool (as [`Node::audit_local`]).
    pub async fn audit_registry_change(
        &self,
        kind: AuditKind,
        outcome: String,
    ) -> Result<(), AuditUnavailable> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.record_registry_change(kind, outcome))
            .await
            .unwrap_or(Err(AuditUnavailable))
    }

    /// Spawns a task the node tracks and drains at shutdown.
    fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn(f);
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
        let (list, bootstrap, keep, served_lists) = {
            let m = self.read_members();
            (
                m.dial_list(),
                m.bootstrap_peers(),
                m.links_kept(),
                m.served_lists && m.links_kept().is_some(),
            )
        };
        self.inner.net.set_members(list, bootstrap, keep).await?;
        self.inner.net.set_served_lists(served_lists).await?;
        self.warn_of_unlinked_gaps();
        Ok(())
    }

    /// With links bounded (net::links), a trace finds a holder outside this
    /// node's links through the roster: its declared prefixes and its
    /// addresses. Says which members the roster leaves without either, so
    /// that the regional organisation can complete it (NETWORK.md, "Links
    /// kept").
    fn warn_of_unlinked_gaps(&self) {
        if !self.links_bounded() {
            return;
        }
        let me = self.peer_id();
        let m = self.read_members();
        let others = || m.by_peer.iter().filter(|(p, i)| **p != me && !i.bootstrap);
        let no_prefix: Vec<String> = others()
            .filter(|(_, i)| i.prefixes.is_empty())
            .map(|(_, i)| i.state.to_string())
            .collect();
        let no_address: Vec<String> = others()
            .filter(|(_, i)| i.addrs.is_empty())
            .map(|(_, i)| i.state.to_string())
            .collect();
        if !no_prefix.is_empty() {
            tracing::warn!(
                count = no_prefix.len(),
                states = %no_prefix.join(","),
                "links are bounded (the roster's peer_connections, else node.peer_connections) and these members declare no marking prefix in the roster: a trace finds them only if this node's links see them subscribed; have the roster declare their prefixes"
            );
        }
        if !no_address.is_empty() {
            tracing::warn!(
                count = no_address.len(),
                states = %no_address.join(","),
                "links are bounded (the roster's peer_connections, else node.peer_connections) and the roster gives these members no address: a trace reaches them only if they are among this node's links; have the roster list their addresses"
            );
        }
    }

    /// Subscribes to the topics of what the registry holds (its marking
    /// prefixes, import-mark countries and factory codes), and the roster's
    /// and the maker table's, which every node relays.
    pub async fn refresh_topics(&self) -> Result<(), NodeError> {
        // Called after every change of the registry: keyed filters are stale.
        self.inner.blind.registry_changed();
        let mut topics = BTreeSet::from([Topic::Roster, Topic::Makers]);
        if let Some(reg) = &self.inner.registry {
            let reg = reg.clone();
            let (prefixes, imports, factories) = tokio::task::spawn_blocking(move || {
                Ok::<_, NodeError>((
                    reg.prefixes()?,
                    reg.import_countries()?,
                    reg.factory_codes()?,
                ))
            })
            .await
            .map_err(|e| NodeError::Config(format!("registry task failed: {e}")))??;
            topics.extend(prefixes.into_iter().map(|(p, _)| Topic::Prefix(p)));
            topics.extend(imports.into_iter().map(|(c, _)| Topic::Import(c)));
            topics.extend(factories.into_iter().map(|(f, _)| Topic::Factory(f)));
        }
        self.inner.net.set_topics(topics).await?;
        Ok(())
    }
}

/// Decodes a frame this node stored after verifying it on receipt (its own
/// query, or an answer accepted by `on_answer`): the signature is not checked
/// again on every read. The evidence bundle lets anyone re-verify it.
pub fn decode_stored<T: protocol::Message>(frame: &[u8], limits: Limits) -> Option<T> {
    let (message, _) = protocol::codec::split_signed(frame).ok()?;
    T::decode(message, limits).ok()
}

/// When trace `id`'s stored query (`query`, its signed frame) ends its
/// time-to-live, unix seconds, if that is more than a second after `now`;
/// otherwise [`NodeError::BadTrace`] saying to send a new trace (holders
/// refuse the query, and an answer dated past it is refused). For what
/// sends the stored query again: a retry, a blind probe again, the
/// officer's choice to send a blind trace in the clear.
pub(crate) fn query_still_live(
    id: &str,
    query: &[u8],
    limits: Limits,
    now: u64,
) -> Result<u64, NodeError> {
    let Some(q) = decode_stored::<protocol::TraceQuery>(query, limits) else {
        return Err(NodeError::BadTrace(TraceFault::whole(format!(
            "trace {id}: its stored query cannot be read (the store is damaged); send a new trace for the same weapon"
        ))));
    };
    let expires = q.issued_at.saturating_add(u64::from(q.ttl_secs));
    if expires <= now.saturating_add(1) {
        return Err(NodeError::BadTrace(TraceFault::whole(format!(
            "trace {id}: its query's time-to-live ended at {}; holders refuse it now. Send a new trace for the same weapon",
            crate::model::format_unix(expires)
        ))));
    }
    Ok(expires)
}

#[cfg(test)]
mod live_tests {
    use super::*;
    use crate::protocol::vectors;

    /// A stored query is sent again only while more than a second of its
    /// time-to-live is left; past it, the error says to send a new trace,
    /// and an unreadable stored query is never live.
    #[test]
    fn a_stored_query_is_live_until_a_second_before_its_time_to_live_ends() {
        let q = protocol::sign(vectors::query(), &vectors::requester_key()).unwrap();
        let end = vectors::ISSUED_AT + 3600;
        let limits = Limits::default();
        assert_eq!(
            query_still_live("t1", q.bytes(), limits, end - 2).ok(),
            Some(end)
        );
        for now in [end - 1, end, end + 86_400, u64::MAX] {
            match query_still_live("t1", q.bytes(), limits, now) {
                Err(NodeError::BadTrace(f)) => {
                    let m = f.reason;
                    assert!(
                        m.contains("trace t1") && m.contains("Send a new trace"),
                        "{m}"
                    )
                }
                other => panic!("{now}: {other:?}"),
            }
        }
        assert!(query_still_live("t1", b"not a query", limits, 0).is_err());
    }
}

#[cfg(test)]
mod turn_tests {
    use super::*;

    /// A job's turn is held until the job returns, even when its caller
    /// stops waiting (a client that went away): the bound holds for the
    /// threads, not for the callers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_turn_is_held_by_the_job_not_by_its_caller() {
        let turns = Arc::new(Semaphore::new(1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, mut running) = tokio::sync::mpsc::unbounded_channel();
        let caller = tokio::spawn({
            let turns = turns.clone();
            async move {
                in_turn(&turns, move || {
                    let _ = started.send(());
                    let _ = wait.recv();
                })
                .await
            }
        });
        running.recv().await.expect("the job started");
        caller.abort();
        let _ = caller.await;
        assert_eq!(
            turns.available_permits(),
            0,
            "the job still runs: its turn too"
        );
        release.send(()).unwrap();
        let freed = tokio::time::timeout(Duration::from_secs(30), turns.acquire())
            .await
            .expect("the turn comes back once the job returns");
        drop(freed);
    }
}
