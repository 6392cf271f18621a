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

/// [`BlindHolder::detail`] of a holder the chain of custody points at,
/// added by a follow-up's planning and probed by the follow-up.
pub const FOLLOW_UP_DETAIL: &str = "the chain of custody points at it";

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

    /// Whether the holder's filter has not told (yet) that it does not hold
    /// the weapon: not probed yet, unreachable, or left to the officer
    /// (no filter, beyond the bound, refused, failed). `false` for `no_hit`
    /// and `holds_nothing`, which tell it, and for `hit`, after which the
    /// holder is sent the query and answers it.
    pub fn leaves_the_holder_unknown(self) -> bool {
        !matches!(
            self,
            BlindOutcome::NoHit | BlindOutcome::HoldsNothing | BlindOutcome::Hit
        )
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
    filter: Option<Arc<ServedFilter>>,
}

struct ServedFilter {
    version: u64,
    header: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    /// SHA-256 of what the filter is made of (its keys in order and the
    /// serial alphabet): a rebuild that finds the same keeps this filter and
    /// its version, so requesters' cached copies stay current.
    made_of: [u8; 32],
}

/// A holder's filter as this node fetched and checked it.
pub(super) struct Fetched {
    header: FilterHeader,
    filter: ReceivedFilter,
}

/// The audit rule of a blind evaluation refused for the requesting State's
/// hourly budget: written as `blind_refused`, the first of each peer in a
/// tally interval and then one entry with the count of the rest, so that a
/// requester over its budget cannot grow the holder's log at will.
pub(crate) const BLIND_BUDGET_RULE: &str = "blind_budget";

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
    /// Requester side: holders' filters by (peer, prefix), at one version,
    /// bounded ([`FETCHED_FILTER_BYTES`]).
    fetched: Mutex<FilterCache>,
    /// Holder side: KiB of filter chunks served to each requesting State
    /// (`node.blind_chunks_mib_per_hour`, by default 256: eight of the
    /// largest filters a header may state, where an honest requester
    /// fetches each version of a holder's filter once, or again only while
    /// that holder refuses to evaluate). A chunk request costs a member
    /// about 40 bytes and its reply up to 32,000: without a bound, a member
    /// could keep this node's uplink full at no cost to itself (SECURITY.md,
    /// holes closed, 17). Refused past it as `rate_limited`, with when to
    /// come back, tallied in the audit as `blind_chunks`.
    chunks_served: Mutex<EvaluationBudget>,
    /// Requester side: KiB of filters fetched from each holder's State
    /// (`node.blind_fetch_mib_per_hour`, by default 96: three of the
    /// largest). A holder that serves a large filter and then refuses to
    /// evaluate, asking to be probed again in a second, could otherwise
    /// have each of a trace's probes fetch it whole again. Past it, the
    /// probe waits until the bucket holds the filter again.
    filters_fetched: Mutex<EvaluationBudget>,
    /// The bucket's size in KiB: a filter larger takes the whole of it.
    fetch_kib_per_hour: u32,
}

/// What one filter header or chunk served costs a requesting State's
/// hourly bytes, KiB: a full chunk's 32,000 bytes (a header listing 1,000
/// chunk digests is as long), whatever the reply's length, so that the
/// bound counts requests evenly and the largest filter (1,000 chunks and
/// its header, 31.3 MiB) fits the least the setting allows (32 MiB).
pub(crate) const SERVED_REPLY_KIB: usize = 32;

/// The audit rule of filter chunks refused for the requesting State's
/// hourly bound.
pub(crate) const BLIND_CHUNKS_RULE: &str = "blind_chunks";

/// The most bytes of holders' fingerprints a requester keeps between blind
/// traces: 28 filters of a million-record prefix (2.26 MiB each), or two of
/// the largest a header may state (16 million fingerprints, 30.5 MiB). A
/// hostile holder serving the largest filter for every prefix it is probed
/// under cannot make the requester keep more.
pub(crate) const FETCHED_FILTER_BYTES: usize = 64 << 20;

/// Holders' filters a requester fetched, checked and evaluated against, by
/// (peer, prefix): at most `cap` bytes of fingerprints in all and half of
/// that for one holder's, the least recently used let go first (a holder's
/// own first when it is over its half, so that one serving the largest
/// filters cannot push out every other holder's). Only a filter an
/// evaluation succeeded with is kept ([`FilterCache::keep`]), so that a
/// holder that serves a filter and then refuses to evaluate leaves nothing
/// behind.
pub(super) struct FilterCache {
    cap: usize,
    bytes: usize,
    /// Bumped on every use; an entry's value is its last.
    clock: u64,
    entries: HashMap<(String, MarkingPrefix), (Arc<Fetched>, u64)>,
}

impl FilterCache {
    pub(super) fn new(cap: usize) -> Self {
        FilterCache {
            cap,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    /// The kept filter of `peer` under `prefix` if its header is `header`
    /// (the holder has not rebuilt it since).
    pub(super) fn get(
        &mut self,
        peer: &str,
        prefix: &MarkingPrefix,
        header: &FilterHeader,
    ) -> Option<Arc<Fetched>> {
        self.clock += 1;
        let clock = self.clock;
        let (f, used) = self.entries.get_mut(&(peer.to_string(), prefix.clone()))?;
        if f.header != *header {
            return None;
        }
        *used = clock;
        Some(f.clone())
    }

    /// Keeps `f` as `peer`'s filter under `prefix` (replacing an older
    /// version), letting the least recently used go until the holder's are
    /// within half the cap and the whole within the cap; a filter larger
    /// than half the cap is not kept.
    pub(super) fn keep(&mut self, peer: &str, prefix: &MarkingPrefix, f: Arc<Fetched>) {
        let size = f.filter.bytes();
        let share = self.cap / 2;
        if size > share {
            return;
        }
        self.clock += 1;
        let key = (peer.to_string(), prefix.clone());
        if let Some((old, _)) = self.entries.insert(key.clone(), (f, self.clock)) {
            self.bytes -= old.filter.bytes();
        }
        self.bytes += size;
        let held_by = |entries: &HashMap<(String, MarkingPrefix), (Arc<Fetched>, u64)>| {
            entries
                .iter()
                .filter(|(k, _)| k.0 == peer)
                .map(|(_, (f, _))| f.filter.bytes())
                .sum::<usize>()
        };
        while held_by(&self.entries) > share {
            if !self.let_go_oldest(&key, |k| k.0 == peer) {
                break;
            }
        }
        while self.bytes > self.cap {
            if !self.let_go_oldest(&key, |_| true) {
                break;
            }
        }
    }

    /// Lets go the least recently used entry that `which` picks, never
    /// `keep`; false when there is none.
    fn let_go_oldest(
        &mut self,
        keep: &(String, MarkingPrefix),
        which: impl Fn(&(String, MarkingPrefix)) -> bool,
    ) -> bool {
        let Some(oldest) = self
            .entries
            .iter()
            .filter(|(k, _)| *k != keep && which(k))
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())
        else {
            return false;
        };
        if let Some((gone, _)) = self.entries.remove(&oldest) {
            self.bytes -= gone.filter.bytes();
        }
        true
    }

    /// Bytes of fingerprints kept.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

impl BlindSide {
    /// Opens the node's blind state: its OPRF key (created on first start,
    /// mode 0600) and the kept evaluations.
    pub(super) fn open(
        data_dir: &Path,
        db: &sled::Db,
        settings: &crate::config::NodeSettings,
    ) -> Result<Self, String> {
        let per_hour = settings.blind_evaluations_per_hour;
        let mib_in_kib = |mib: u32| mib.saturating_mul(1024);
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
            fetched: Mutex::new(FilterCache::new(FETCHED_FILTER_BYTES)),
            chunks_served: Mutex::new(EvaluationBudget::new(mib_in_kib(
                settings.blind_chunks_mib_per_hour,
            ))),
            fetch_kib_per_hour: mib_in_kib(settings.blind_fetch_mib_per_hour),
            filters_fetched: Mutex::new(EvaluationBudget::new(mib_in_kib(
                settings.blind_fetch_mib_per_hour,
            ))),
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
            None if self.read_members().by_key(&self.public_key()).is_none() => {
                // Said by `status` and the membership warnings: the node key
                // is what the regional organisation must list first.
                tracing::info!(
                    "the roster does not list this node's key: members refuse its connections and blind traces pass it by; ask your regional organisation"
                );
                OwnOprfKey::NotListed
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

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::blind::build_filter;
    use crate::protocol::{Party, SigningKey};

    /// A checked filter of `keys` keys as holder `version` made it.
    fn fetched(prefix: &str, keys: u64, version: u64) -> Arc<Fetched> {
        let b = build_filter(
            (0..keys)
                .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect(),
        )
        .unwrap();
        let holder = Party {
            state: CountryCode::parse("ZA").unwrap(),
            key: SigningKey::from_seed(&[3; 32]).unwrap().public_key(),
        };
        let header = b.header(
            holder,
            prefix.parse().unwrap(),
            version,
            [0; 32],
            String::new(),
        );
        let filter = ReceivedFilter::assemble(&header, &b.chunks).unwrap();
        Arc::new(Fetched { header, filter })
    }

    #[test]
    fn kept_filters_stay_within_the_cap_and_the_least_used_go_first() {
        let one = fetched("DE/CARLWALTHER", 20_000, 1);
        let size = one.filter.bytes();
        // Room for four filters of this size in all, two of one holder's.
        let mut c = FilterCache::new(4 * size + size / 2);
        let prefixes = ["DE/CARLWALTHER", "DE/MAUSER", "DE/MERKEL"];
        let filters: Vec<_> = prefixes.iter().map(|p| fetched(p, 20_000, 1)).collect();
        let p = |i: usize| filters[i].header.prefix.clone();
        c.keep("za", &p(0), filters[0].clone());
        c.keep("za", &p(1), filters[1].clone());
        // The first is used again, so the second is the least recent.
        assert!(c.get("za", &p(0), &filters[0].header).is_some());
        c.keep("za", &p(2), filters[2].clone());
        // ZA is held to its half: its least recent went.
        assert!(c.get("za", &p(0), &filters[0].header).is_some());
        assert!(c.get("za", &p(1), &filters[1].header).is_none());
        assert!(c.get("za", &p(2), &filters[2].header).is_some());
        // Another holder's filter under the same prefix is its own entry.
        assert!(c.get("ng", &p(0), &filters[0].header).is_none());
        // Other holders' fill the rest, and then the whole is held to the
        // cap, the least recent going first whoever's it is.
        c.keep("ng", &p(0), filters[0].clone());
        c.keep("ke", &p(0), filters[0].clone());
        assert_eq!(c.bytes(), 4 * size);
        c.keep("sn", &p(0), filters[0].clone());
        assert!(c.bytes() <= 4 * size + size / 2, "{}", c.bytes());
        // ZA's first, used longest ago, went.
        assert!(c.get("za", &p(0), &filters[0].header).is_none());
        assert!(c.get("za", &p(2), &filters[2].header).is_some());
        assert!(c.get("sn", &p(0), &filters[0].header).is_some());
    }

    /// A holder serving the largest filters it may, for every prefix, takes
    /// at most half the cache: the other holders' stay.
    #[test]
    fn one_holder_cannot_push_out_every_other_holders_filters() {
        let honest = fetched("DE/CARLWALTHER", 5_000, 1);
        let big = fetched("DE/MAUSER", 60_000, 1);
        let mut c = FilterCache::new(4 * big.filter.bytes());
        c.keep("ng", &honest.header.prefix, honest.clone());
        for p in [
            "DE/MAUSER",
            "DE/MERKEL",
            "DE/BLASER",
            "DE/ERMA",
            "DE/KRIEGHOFF",
        ] {
            c.keep("za", &p.parse().unwrap(), fetched(p, 60_000, 1));
        }
        assert!(c.get("ng", &honest.header.prefix, &honest.header).is_some());
        assert!(c.bytes() <= 4 * big.filter.bytes(), "{}", c.bytes());
    }

    #[test]
    fn a_rebuilt_filter_replaces_the_kept_one_and_a_huge_one_is_not_kept() {
        let v1 = fetched("DE/CARLWALTHER", 5_000, 1);
        let v2 = fetched("DE/CARLWALTHER", 6_000, 2);
        let mut c = FilterCache::new(1 << 20);
        let p = v1.header.prefix.clone();
        c.keep("za", &p, v1.clone());
        // The holder rebuilt it: the kept one no longer matches its header.
        assert!(c.get("za", &p, &v2.header).is_none());
        c.keep("za", &p, v2.clone());
        assert_eq!(c.bytes(), v2.filter.bytes());
        assert!(c.get("za", &p, &v1.header).is_none());
        assert!(c.get("za", &p, &v2.header).is_some());
        // Larger than a holder's half: not kept, and nothing else let go.
        let mut small = FilterCache::new(2 * v1.filter.bytes());
        small.keep("za", &p, v1.clone());
        small.keep("ng", &p, v2.clone());
        assert_eq!(small.bytes(), v1.filter.bytes());
        assert!(small.get("ng", &p, &v2.header).is_none());
    }
}
