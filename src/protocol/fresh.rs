//! Expiry and replay protection for queries. Time is passed in as unix seconds
//! (`now`) so the rules are testable without a clock.

use std::collections::{BTreeSet, HashMap};

use super::keys::QueryId;
use crate::model::CountryCode;

/// How long after its query's time-to-live ended an answer may be dated,
/// and how long before its query ([`crate::protocol::accept::answer`]),
/// seconds. A holder acts on a query only while its own clock is within
/// the time-to-live, but dates its answer when it signs it, after its
/// lookup, a queue under load or a reviewer's decision at the deadline;
/// and its clock may be behind the requester's by as much as a node may
/// allow (`node.clock_skew_secs`, at most an hour): an hour covers those.
/// Fixed by the protocol, not by a node's setting, so that every requester
/// and every verifier of an evidence bundle draws the same lines (a node's
/// own setting would let it file an answer its export then fails).
pub const LATE_ANSWER_SECS: u64 = 3_600;

/// The time rules a node applies to received messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// How far in the future a message may be dated (clock skew between nodes).
    pub skew_secs: u64,
    /// The longest time-to-live accepted; it also bounds how long a node must
    /// remember a query id.
    pub max_ttl_secs: u32,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            skew_secs: 60,
            max_ttl_secs: 7 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FreshnessError {
    #[error(
        "dated {issued_at}, more than {skew}s ahead of this node's clock ({now}); check the sender's clock"
    )]
    Future { issued_at: u64, now: u64, skew: u64 },
    #[error("expired at {expired_at} (now {now})")]
    Expired { expired_at: u64, now: u64 },
    #[error("time-to-live of {ttl}s exceeds the {max}s this node accepts")]
    TtlTooLong { ttl: u32, max: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("query {0} was already received (a replay)")]
    Replayed(QueryId),
    #[error("this node is tracking {capacity} live queries, its limit; retry later")]
    Full { capacity: usize },
}

impl Freshness {
    /// Checks a message issued at `issued_at` with `ttl`; returns when it expires.
    pub fn check(&self, issued_at: u64, ttl: u32, now: u64) -> Result<u64, FreshnessError> {
        if ttl > self.max_ttl_secs {
            return Err(FreshnessError::TtlTooLong {
                ttl,
                max: self.max_ttl_secs,
            });
        }
        self.check_not_future(issued_at, now)?;
        let expired_at = issued_at.saturating_add(u64::from(ttl));
        if now > expired_at {
            return Err(FreshnessError::Expired { expired_at, now });
        }
        Ok(expired_at)
    }

    pub fn check_not_future(&self, at: u64, now: u64) -> Result<(), FreshnessError> {
        if at > now.saturating_add(self.skew_secs) {
            return Err(FreshnessError::Future {
                issued_at: at,
                now,
                skew: self.skew_secs,
            });
        }
        Ok(())
    }
}

/// The query ids seen and not yet expired. Bounded: when full, new queries are
/// refused rather than old ids forgotten, since forgetting would reopen a replay.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    capacity: usize,
    seen: HashMap<QueryId, u64>,
    by_expiry: BTreeSet<(u64, QueryId)>,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            capacity,
            seen: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records `id` until `expires_at`; refuses an id already recorded.
    pub fn remember(&mut self, id: QueryId, expires_at: u64, now: u64) -> Result<(), ReplayError> {
        self.forget_expired(now);
        if self.seen.contains_key(&id) {
            return Err(ReplayError::Replayed(id));
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayError::Full {
                capacity: self.capacity,
            });
        }
        self.seen.insert(id, expires_at);
        self.by_expiry.insert((expires_at, id));
        Ok(())
    }

    /// Records `id` until `expires_at` whatever the capacity: an id read
    /// back from the store at start, remembered before a lower bound came
    /// into force. Forgetting it would reopen its replay; new ids are
    /// refused until the guard is under its capacity again.
    pub fn restore(&mut self, id: QueryId, expires_at: u64) {
        if self.seen.insert(id, expires_at).is_none() {
            self.by_expiry.insert((expires_at, id));
        }
    }

    /// When the remembered `id` expires, if it is remembered.
    pub fn expiry_of(&self, id: &QueryId) -> Option<u64> {
        self.seen.get(id).copied()
    }

    /// Forgets `id` (its query was not answered after all, so its
    /// requester's retry must be able to pass).
    pub fn forget(&mut self, id: &QueryId) {
        if let Some(exp) = self.seen.remove(id) {
            self.by_expiry.remove(&(exp, *id));
        }
    }

    /// Whether `id` is remembered and not yet expired at `now`.
    pub fn contains(&self, id: &QueryId, now: u64) -> bool {
        self.seen.get(id).is_some_and(|&exp| exp >= now)
    }

    /// Drops ids whose query can no longer pass the freshness check anyway.
    fn forget_expired(&mut self, now: u64) {
        while let Some(&(exp, id)) = self.by_expiry.first() {
            if exp >= now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&id);
        }
    }
}

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::new(100_000)
    }
}

/// The replay guard of a node: one bounded [`ReplayGuard`] per requesting
/// State, so that a State flooding queries fills its own quota and nobody
/// else's. Memory is bounded by the roster's size times `per_state`.
#[derive(Debug, Clone)]
pub struct ReplayQuotas {
    per_state: usize,
    guards: HashMap<CountryCode, ReplayGuard>,
}

/// Live ids a State can have on a holder that admits `per_minute` of its
/// queries (exact and fuzzy together) and remembers each id until its
/// query expires, at most `fresh.max_ttl_secs` (plus the clock skew) after
/// it arrives: the rate times that life, plus one minute's burst. A guard
/// of this size is never full for queries the rate limits admit, so a
/// holder answers for as long as it runs (issue 16: a fixed 20,000 was
/// full after 20,000 queries of one hour's time-to-live). Memory follows
/// what is live, about 60 bytes an id: a State at 600 queries a minute
/// with one hour's time-to-live holds 36,000 ids, about 2 MB.
///
/// At most [`MAX_LIVE_IDS_PER_STATE`]: at the rate limits with the longest
/// time-to-live (seven days) the product is 6.6 million ids, and one member
/// sending that for a week held about 400 MB of every holder's memory, and
/// a gigabyte of its store, with its kept answers (a hostile member's
/// review). Past the bound that State alone is refused `quota_full`, told
/// when its first id expires.
pub fn replay_ids_per_state(per_minute: u64, fresh: &Freshness) -> usize {
    let life_minutes = (u64::from(fresh.max_ttl_secs) + fresh.skew_secs).div_ceil(60) + 1;
    usize::try_from(per_minute.max(1).saturating_mul(life_minutes))
        .unwrap_or(usize::MAX)
        .min(MAX_LIVE_IDS_PER_STATE)
}

/// The most live query ids a holder keeps for one requesting State: about
/// 6 MB of memory each. A State sending a trace every second, all day,
/// with the default time-to-live of one day holds 86,400.
pub const MAX_LIVE_IDS_PER_STATE: usize = 100_000;

impl ReplayQuotas {
    pub fn new(per_state: usize) -> Self {
        ReplayQuotas {
            per_state: per_state.max(1),
            guards: HashMap::new(),
        }
    }

    /// Whether `state`'s query `id` was already remembered and is still live.
    pub fn contains(&self, state: CountryCode, id: &QueryId, now: u64) -> bool {
        self.guards.get(&state).is_some_and(|g| g.contains(id, now))
    }

    /// Remembers `state`'s query `id` until `expires_at`; refuses a replay, or
    /// a new query when `state`'s own quota is full.
    pub fn remember(
        &mut self,
        state: CountryCode,
        id: QueryId,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let per_state = self.per_state;
        self.guards
            .entry(state)
            .or_insert_with(|| ReplayGuard::new(per_state))
            .remember(id, expires_at, now)
    }

    /// Restores `state`'s query `id`, read back from the store, whatever
    /// the State's bound ([`ReplayGuard::restore`]).
    pub fn restore(&mut self, state: CountryCode, id: QueryId, expires_at: u64) {
        let per_state = self.per_state;
        self.guards
            .entry(state)
            .or_insert_with(|| ReplayGuard::new(per_state))
            .restore(id, expires_at);
    }

    /// When `state`'s remembered query `id` expires.
    pub fn expiry_of(&self, state: CountryCode, id: &QueryId) -> Option<u64> {
        self.guards.get(&state)?.expiry_of(id)
    }

    /// Forgets `state`'s query `id`.
    pub fn forget(&mut self, state: CountryCode, id: &QueryId) {
        if let Some(g) = self.guards.get_mut(&state) {
            g.forget(id);
        }
    }

    /// Live ids remembered for `state`.
    pub fn len_of(&self, state: CountryCode) -> usize {
        self.guards.get(&state).map_or(0, ReplayGuard::len)
    }

    /// When a slot frees for `state`: its earliest remembered id's expiry,
    /// or, over its bound, the expiry that brings it back under.
    pub fn next_expiry(&self, state: CountryCode) -> Option<u64> {
        let g = self.guards.get(&state)?;
        // Over its bound (ids restored past a lowered one), a slot frees
        // only once that many more have expired.
        let over = g.seen.len().saturating_sub(g.capacity);
        g.by_expiry.iter().nth(over).map(|(e, _)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_window_is_enforced() {
        let f = Freshness::default();
        assert_eq!(f.check(1000, 300, 1000), Ok(1300));
        assert_eq!(f.check(1000, 300, 1300), Ok(1300));
        assert!(matches!(
            f.check(1000, 300, 1301),
            Err(FreshnessError::Expired { .. })
        ));
        assert!(f.check(1060, 300, 1000).is_ok());
        assert!(matches!(
            f.check(1061, 300, 1000),
            Err(FreshnessError::Future { .. })
        ));
        assert!(matches!(
            f.check(1000, u32::MAX, 1000),
            Err(FreshnessError::TtlTooLong { .. })
        ));
        assert!(f.check(u64::MAX, 10, u64::MAX).is_ok());
    }

    #[test]
    fn guard_refuses_replays_until_expiry_and_stays_bounded() {
        let mut g = ReplayGuard::new(2);
        let (a, b, c) = (QueryId([1; 16]), QueryId([2; 16]), QueryId([3; 16]));
        g.remember(a, 100, 0).unwrap();
        assert_eq!(g.remember(a, 100, 50), Err(ReplayError::Replayed(a)));
        g.remember(b, 200, 50).unwrap();
        assert_eq!(
            g.remember(c, 300, 60),
            Err(ReplayError::Full { capacity: 2 })
        );
        // a expires after 100: its slot frees, and it could not pass `check` any more.
        g.remember(c, 300, 101).unwrap();
        assert_eq!(g.len(), 2);
    }

    /// Seven-day ids at the rate limits would be 6.6 million a State: the
    /// guard stops at its bound, and refuses that State alone past it.
    #[test]
    fn a_state_sending_long_lived_queries_fills_its_own_bounded_quota() {
        let per_state = replay_ids_per_state(660, &Freshness::default());
        assert_eq!(per_state, MAX_LIVE_IDS_PER_STATE);
        let mut q = ReplayQuotas::new(per_state);
        let (de, ng) = (
            CountryCode::parse("DE").unwrap(),
            CountryCode::parse("NG").unwrap(),
        );
        let week = 7 * 24 * 3600;
        for n in 0..MAX_LIVE_IDS_PER_STATE as u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_be_bytes());
            q.remember(de, QueryId(id), 1_000 + week, 1_000).unwrap();
        }
        let r = q.remember(de, QueryId([0xff; 16]), 1_000 + week, 1_001);
        assert!(matches!(r, Err(ReplayError::Full { .. })), "{r:?}");
        assert_eq!(
            q.remember(ng, QueryId([0xff; 16]), 1_000 + week, 1_001),
            Ok(())
        );
    }

    #[test]
    fn a_guard_sized_by_rate_and_life_is_never_full_for_admitted_queries() {
        // One hour's time-to-live, 600 queries a minute: 36,000 live ids at
        // the rate limit, more than the fixed 20,000 of before.
        let fresh = Freshness {
            skew_secs: 60,
            max_ttl_secs: 3_600,
        };
        let per_minute = 600u64;
        let mut q = ReplayQuotas::new(replay_ids_per_state(per_minute, &fresh));
        let de = CountryCode::parse("DE").unwrap();
        let mut n = 0u32;
        // Two hours of queries at the rate limit (10 a second), each living
        // its full hour: ids expire as fast as new ones come once the first
        // hour is over.
        for sec in 0..7_200u64 {
            for _ in 0..10 {
                n += 1;
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&n.to_be_bytes());
                let r = q.remember(de, QueryId(id), sec + 3_600, sec);
                assert_eq!(r, Ok(()), "query {n} at second {sec}");
            }
        }
        assert!(n > 20_000 * 3);
        assert!(q.len_of(de) <= 36_010, "{}", q.len_of(de));
        assert_eq!(q.next_expiry(de), Some(7_199));
    }

    #[test]
    fn one_state_filling_its_quota_leaves_the_others_theirs() {
        let mut q = ReplayQuotas::new(2);
        let (de, ng) = (
            CountryCode::parse("DE").unwrap(),
            CountryCode::parse("NG").unwrap(),
        );
        q.remember(de, QueryId([1; 16]), 100, 0).unwrap();
        q.remember(de, QueryId([2; 16]), 100, 0).unwrap();
        assert_eq!(
            q.remember(de, QueryId([3; 16]), 100, 0),
            Err(ReplayError::Full { capacity: 2 })
        );
        q.remember(ng, QueryId([3; 16]), 100, 0).unwrap();
        assert!(q.contains(de, &QueryId([1; 16]), 50));
        assert!(!q.contains(ng, &QueryId([1; 16]), 50));
        assert!(!q.contains(de, &QueryId([1; 16]), 101));
    }
}
