//! Expiry and replay protection for queries. Time is passed in as unix seconds
//! (`now`) so the rules are testable without a clock.

use std::collections::{BTreeSet, HashMap};

use super::keys::QueryId;
use crate::model::CountryCode;

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
