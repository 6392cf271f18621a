//! Blind traces on a node (proto-docs/BLIND.md). `holder`: the keyed
//! filters this node serves for its registry's prefixes and the blind
//! evaluations it makes for other States, budgeted and audited.
//! `requester`: this node's blind traces: filters fetched and checked,
//! candidates blinded and finalised, the signed query sent only to the
//! holders whose filter hits, and what each holder learned, for `trace show`.
//! The pure parts (OPRF, filters, canonical inputs) are in `crate::blind`.

mod holder;
mod later;
mod probe;
mod requester;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::blind::{EvaluationBudget, OprfKey, ReceivedFilter};
use crate::marking::MarkingPrefix;
use crate::model::CountryCode;
use crate::protocol::blind::FilterHeader;

pub use holder::filter_keys_with;
pub use later::SendClearError;

pub use crate::blind::OPRF_KEY_FILE;

/// What a blind trace learned of each expected holder (`trace show`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindTrace {
    /// Candidates a `?` could expand to when it was sent.
    pub bound: usize,
    pub holders: Vec<BlindHolder>,
}

/// One expected holder of a blind trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindHolder {
    pub peer: String,
    pub state: Option<CountryCode>,
    pub outcome: BlindOutcome,
    /// Why, in words, for `no_filter`, `failed`, `refused`, `unreachable`
    /// and `beyond_bound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Blinded elements sent to it (0: not asked blind, for want of a filter
    /// or a connection).
    pub elements: u32,
    /// Whether it was sent the signed query, and so the marking: after a
    /// hit, or when the officer chose to send in the clear.
    pub received_marking: bool,
    /// When the outcome was last set.
    #[serde(default, with = "crate::model::instant::option")]
    pub at: Option<u64>,
}

impl BlindHolder {
    /// One line for `trace show`: the State, its outcome, whether it was
    /// asked blind and whether it received the marking.
    pub fn to_text(&self, trace: &str) -> String {
        let state = self
            .state
            .map_or_else(|| "?".to_string(), |s| s.to_string());
        let asked = if self.elements > 0 {
            format!(
                "asked blind ({})",
                crate::model::count(u64::from(self.elements), "element")
            )
        } else {
            "not asked blind".to_string()
        };
        let marking = if self.received_marking {
            "received the marking"
        } else {
            "did not receive the marking"
        };
        let mut s = format!("{state:<4} {}: {asked}, {marking}", self.outcome.words());
        if let Some(d) = &self.detail {
            s += &format!(" ({d})");
        }
        if self.outcome.awaits_officer() && !self.received_marking {
            s += &format!("; `tracenet trace send-clear {trace}` sends it the query in the clear");
        }
        s
    }
}

/// Where a holder of a blind trace stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlindOutcome {
    /// Not probed yet.
    Pending,
    /// Could not be reached; probed when it reconnects, until the deadline.
    Unreachable,
    /// It holds nothing under the marking's prefixes: not asked to evaluate.
    HoldsNothing,
    /// Its filter does not hold the marking: it was not sent the query.
    NoHit,
    /// Its filter holds the marking: it was sent the signed query.
    Hit,
    /// It has no keyed filter (a node before blind traces), or the roster
    /// lists no OPRF key for it (then it was not contacted at all): not
    /// sent the marking; the officer chooses (`trace send-clear`), or
    /// `trace retry` asks it blind again once it can be.
    NoFilter,
    /// Its serial alphabet expands the `?` beyond the bound: the officer chooses.
    BeyondBound,
    /// It refused the evaluation (its budget for this State): `trace retry`.
    Refused,
    /// Its filter or evaluation did not verify: not sent the marking.
    Failed,
}

impl BlindOutcome {
    /// Whether the officer must choose for it (send in the clear or not).
    pub fn awaits_officer(self) -> bool {
        matches!(
            self,
            BlindOutcome::NoFilter | BlindOutcome::BeyondBound | BlindOutcome::Failed
        )
    }

    /// In words, for people.
    pub fn words(self) -> &'static str {
        match self {
            BlindOutcome::Pending => "not probed yet",
            BlindOutcome::Unreachable => "unreachable",
            BlindOutcome::HoldsNothing => "holds nothing under the prefix",
            BlindOutcome::NoHit => "no hit",
            BlindOutcome::Hit => "hit",
            BlindOutcome::NoFilter => "no keyed filter",
            BlindOutcome::BeyondBound => "beyond the bound",
            BlindOutcome::Refused => "refused",
            BlindOutcome::Failed => "failed",
        }
    }

    /// Whether nothing more happens for it without the officer or a retry.
    pub fn is_settled(self) -> bool {
        !matches!(self, BlindOutcome::Pending | BlindOutcome::Unreachable)
    }
}

/// What a blind trace still waits for, if anything: it is not answered
/// while it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlindWait {
    /// Holders not probed yet (or unreachable): the trace waits.
    Probing,
    /// Holders left to the officer's choice (no filter, failed, beyond the
    /// bound) or refused for their budget: partial until the officer acts.
    Officer,
}

/// [`BlindWait`] of a trace; `None` for a clear trace or a settled one.
pub fn holders_wait(t: &super::StoredTrace) -> Option<BlindWait> {
    let b = t.blind.as_ref()?;
    if b.holders.iter().any(|h| !h.outcome.is_settled()) {
        return Some(BlindWait::Probing);
    }
    b.holders
        .iter()
        .any(|h| {
            !h.received_marking
                && (h.outcome.awaits_officer() || h.outcome == BlindOutcome::Refused)
        })
        .then_some(BlindWait::Officer)
}

/// A filter as this node serves it, for one prefix at one generation.
struct Served {
    generation: u64,
    /// `None`: nothing held under the prefix.
    filter: Option<ServedFilter>,
}

struct ServedFilter {
    version: u64,
    header: Vec<u8>,
    chunks: Vec<Vec<u8>>,
}

/// A holder's filter as this node fetched and checked it.
struct Fetched {
    header: FilterHeader,
    filter: ReceivedFilter,
}

/// Filters built at once: one (a build reads the registry under a prefix
/// and evaluates its new keys).
pub(crate) const BUILDS_AT_ONCE: usize = 1;

/// Blind evaluations run at once: one per core.
pub(crate) fn evaluating_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The node's blind-trace state, both sides.
pub(super) struct BlindSide {
    oprf: Arc<OprfKey>,
    /// `CC MAKER 0x00 KEY` → the u64 filter key: each key evaluated once.
    evaluations: sled::Tree,
    served: Mutex<HashMap<MarkingPrefix, Arc<Served>>>,
    /// Bumped when the registry changes: filters built before are stale.
    generation: AtomicU64,
    building: Mutex<()>,
    /// Prefixes whose filter a request is having built.
    builds: Mutex<std::collections::HashSet<MarkingPrefix>>,
    budget: Mutex<EvaluationBudget>,
    /// Evaluations at once: one per core ([`evaluating_at_once`]).
    evaluating: Arc<Semaphore>,
    /// Filter builds at once ([`BUILDS_AT_ONCE`]), taken before a build's
    /// blocking thread.
    build_turn: Arc<Semaphore>,
    /// Requester side: holders' filters by (peer, prefix), at one version.
    fetched: Mutex<HashMap<(String, MarkingPrefix), Arc<Fetched>>>,
}

impl BlindSide {
    /// Opens the node's blind state: its OPRF key (created on first start,
    /// mode 0600) and the kept evaluations.
    pub(super) fn open(data_dir: &Path, db: &sled::Db, per_hour: u32) -> Result<Self, String> {
        let (oprf, _) = crate::blind::load_or_create_key(&data_dir.join(OPRF_KEY_FILE))?;
        Ok(BlindSide {
            evaluations: kept_evaluations(db, &oprf)?,
            oprf: Arc::new(oprf),
            served: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            building: Mutex::new(()),
            builds: Mutex::new(Default::default()),
            budget: Mutex::new(EvaluationBudget::new(per_hour)),
            evaluating: Arc::new(Semaphore::new(evaluating_at_once())),
            build_turn: Arc::new(Semaphore::new(BUILDS_AT_ONCE)),
            fetched: Mutex::new(HashMap::new()),
        })
    }

    /// The registry changed: filters are rebuilt on their next request.
    pub(super) fn registry_changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The kept evaluations (`blind_evaluations`), made under `oprf`: when the
/// key they were made under differs (the seed file was replaced or
/// restored), they are dropped first, since a filter built from them under
/// another key would miss every record held before (requesters would see
/// `no_hit` for weapons the node holds). The key is recorded after the
/// clearing, so a crash in between clears again at the next start.
pub(super) fn kept_evaluations(db: &sled::Db, oprf: &OprfKey) -> Result<sled::Tree, String> {
    const KEY: &[u8] = b"oprf_public_key";
    let err = |what: &str, e: sled::Error| format!("the store's {what}: {e}");
    let tree = db
        .open_tree("blind_evaluations")
        .map_err(|e| err("blind_evaluations tree", e))?;
    let meta = db
        .open_tree("blind_evaluations_key")
        .map_err(|e| err("blind_evaluations_key tree", e))?;
    let own = oprf.public_key();
    let recorded = meta
        .get(KEY)
        .map_err(|e| err("blind_evaluations_key tree", e))?;
    if recorded.as_deref() != Some(&own[..]) {
        if recorded.is_some() || !tree.is_empty() {
            tracing::warn!(
                kept = tree.len(),
                "the OPRF key changed since the kept blind evaluations were made: they are dropped and the keyed filters rebuilt under the new key"
            );
        }
        tree.clear().map_err(|e| err("blind_evaluations tree", e))?;
        tree.flush().map_err(|e| err("blind_evaluations tree", e))?;
        meta.insert(KEY, &own[..])
            .map_err(|e| err("blind_evaluations_key tree", e))?;
        meta.flush()
            .map_err(|e| err("blind_evaluations_key tree", e))?;
    }
    Ok(tree)
}

/// How the roster in force lists this node's OPRF key (`status`,
/// `oprf_key_in_roster`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnOprfKey {
    /// The roster lists this node's key: requesters ask it blind.
    Listed,
    /// The roster lists no key for it (or does not list the node): blind
    /// traces pass it by and leave it to the requesting officer.
    NotListed,
    /// The roster lists another key (a seed file replaced or restored from
    /// another node): requesters refuse its filters and evaluations.
    Different,
}

impl crate::node::Node {
    /// Compares the roster's OPRF key for this node with its own and says
    /// in the log what a mismatch means; called at start and on every
    /// roster install.
    pub(crate) fn check_own_oprf_key(&self) -> OwnOprfKey {
        if self.inner.registry.is_none() {
            return OwnOprfKey::NotListed;
        }
        let own = self.inner.blind.oprf.roster_key();
        match self.listed_oprf_key() {
            Some(k) if k == own => OwnOprfKey::Listed,
            Some(k) => {
                tracing::warn!(
                    roster = %k,
                    own = %own,
                    "the roster lists another OPRF key for this node than the one in its {OPRF_KEY_FILE}: requesters refuse its blind evaluations. Restore the seed file, or give `tracenet identity show`'s oprf key to your regional organisation for the next roster"
                );
                OwnOprfKey::Different
            }
            None => {
                tracing::info!(
                    "the roster lists no OPRF key for this node: blind traces pass it by. Give `tracenet identity show`'s oprf key to your regional organisation to take part"
                );
                OwnOprfKey::NotListed
            }
        }
    }

    fn listed_oprf_key(&self) -> Option<crate::protocol::OprfPublicKey> {
        self.read_members()
            .by_key(&self.public_key())
            .and_then(|(_, m)| m.oprf_key)
    }

    /// This node's OPRF public key and how the roster lists it, for
    /// `status`; `None` on a bootstrap node, which answers no blind trace.
    pub fn own_oprf_key(&self) -> Option<(crate::protocol::OprfPublicKey, OwnOprfKey)> {
        self.inner.registry.as_ref()?;
        let own = self.inner.blind.oprf.roster_key();
        Some((
            own,
            match self.listed_oprf_key() {
                Some(k) if k == own => OwnOprfKey::Listed,
                Some(_) => OwnOprfKey::Different,
                None => OwnOprfKey::NotListed,
            },
        ))
    }
}
