//! Per-State rate limits on incoming queries, in the spirit of Prüm's daily
//! caps: a member flooding queries exhausts its own budget, not the others';
//! and the budget of signed refusals the responder gives beyond them.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::model::CountryCode;
use crate::protocol::Digest;

/// A token bucket: `per_minute` tokens a minute, holding at most `per_minute`.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    buckets: HashMap<CountryCode, Bucket>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Whether [`Self::take`] would refuse `state` now; takes nothing.
    pub fn would_refuse(&self, state: CountryCode, now: Instant) -> bool {
        self.buckets.get(&state).is_some_and(|b| {
            let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
            (b.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute) < 1.0
        })
    }

    /// Takes one token from `state`'s bucket, or says how long until the
    /// bucket holds one again (what a refused requester is told to wait).
    pub fn take(&mut self, state: CountryCode, now: Instant) -> Result<(), Duration> {
        let cap = self.per_minute;
        let b = self.buckets.entry(state).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * cap / 60.0).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) * 60.0 / cap))
        }
    }
}

/// Signed refusals given per requesting State, at most this many a minute:
/// each costs a signature, an audit entry and a flush, like an answer, so a
/// State flooding past its rate limit may cost the holder at most this much
/// more (5% of the default exact-query rate), and never more per frame it sends.
pub const REFUSALS_PER_MINUTE: u32 = 30;
/// Queries remembered as refused, per State, so that one arriving again (on
/// a second topic) is not refused twice. Copies arrive within seconds, and
/// fewer than [`REFUSALS_PER_MINUTE`] are refused a minute: this covers minutes.
const REFUSED_REMEMBERED: usize = 256;

/// Which verified-but-refused queries get a signed refusal: one per query
/// (by digest), within a per-State token bucket. Past either, the refusal is
/// counted and the requester told nothing, as before refusals were signed.
#[derive(Debug)]
pub struct RefusalBudget {
    limiter: RateLimiter,
    refused: HashMap<CountryCode, LruCache<Digest, ()>>,
}

/// Why a refusal is not signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsigned {
    /// This very query was already refused with a signature.
    AlreadyRefused,
    /// The State's budget of signed refusals is spent for now.
    OverBudget,
}

impl RefusalBudget {
    pub fn new(per_minute: u32) -> Self {
        RefusalBudget {
            limiter: RateLimiter::new(per_minute),
            refused: HashMap::new(),
        }
    }

    /// Why [`Self::admit`] would not sign a refusal of `state`'s query of
    /// `digest` now, if it would not; takes nothing.
    pub fn would_not_sign(
        &self,
        state: CountryCode,
        digest: &Digest,
        now: Instant,
    ) -> Option<Unsigned> {
        if self.refused.get(&state).is_some_and(|r| r.contains(digest)) {
            Some(Unsigned::AlreadyRefused)
        } else if self.limiter.would_refuse(state, now) {
            Some(Unsigned::OverBudget)
        } else {
            None
        }
    }

    /// Whether `state`'s query of `digest` may be refused with a signature
    /// now; if so, it is remembered (and never refused with one again while
    /// remembered).
    pub fn admit(
        &mut self,
        state: CountryCode,
        digest: Digest,
        now: Instant,
    ) -> Result<(), Unsigned> {
        let cap = NonZeroUsize::new(REFUSED_REMEMBERED).unwrap_or(NonZeroUsize::MIN);
        let seen = self
            .refused
            .entry(state)
            .or_insert_with(|| LruCache::new(cap));
        if seen.contains(&digest) {
            return Err(Unsigned::AlreadyRefused);
        }
        self.limiter
            .take(state, now)
            .map_err(|_| Unsigned::OverBudget)?;
        seen.put(digest, ());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_state_exhausting_its_budget_does_not_touch_anothers() {
        let mut l = RateLimiter::new(3);
        let t = Instant::now();
        let (de, ng) = (
            CountryCode::parse("DE").unwrap(),
            CountryCode::parse("NG").unwrap(),
        );
        assert!((0..3).all(|_| l.take(de, t).is_ok()));
        assert!(l.take(de, t).is_err());
        assert!(l.take(ng, t).is_ok());
        // 20 seconds refill one token at 3 a minute.
        assert!(l.take(de, t + Duration::from_secs(20)).is_ok());
        assert!(l.take(de, t + Duration::from_secs(20)).is_err());
    }

    #[test]
    fn a_refused_take_says_when_the_next_token_comes() {
        let mut l = RateLimiter::new(60);
        let t = Instant::now();
        let de = CountryCode::parse("DE").unwrap();
        assert!((0..60).all(|_| l.take(de, t).is_ok()));
        // One a second at 60 a minute: the 61st waits a second.
        let wait = l.take(de, t).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        let wait = l.take(de, t + Duration::from_millis(400)).unwrap_err();
        assert!((wait.as_secs_f64() - 0.6).abs() < 1e-6, "{wait:?}");
        assert!(l.take(de, t + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn signed_refusals_are_one_per_query_and_bounded_per_state() {
        let mut b = RefusalBudget::new(3);
        let t = Instant::now();
        let (de, ng) = (
            CountryCode::parse("DE").unwrap(),
            CountryCode::parse("NG").unwrap(),
        );
        let q = |i: u32| Digest::of(&i.to_le_bytes());
        assert_eq!(b.admit(de, q(0), t), Ok(()));
        // The same query on a second topic: refused once only, and free.
        assert_eq!(b.admit(de, q(0), t), Err(Unsigned::AlreadyRefused));
        assert_eq!(b.admit(de, q(1), t), Ok(()));
        assert_eq!(b.admit(de, q(2), t), Ok(()));
        // A flood: past the budget, silence, however many frames.
        for i in 3..10_000 {
            assert_eq!(b.admit(de, q(i), t), Err(Unsigned::OverBudget));
        }
        // Another State keeps its own budget.
        assert_eq!(b.admit(ng, q(0), t), Ok(()));
        // The budget comes back with time; the memory of refused queries is bounded.
        assert_eq!(b.admit(de, q(10_001), t + Duration::from_secs(20)), Ok(()));
        assert!(b.refused[&de].len() <= REFUSED_REMEMBERED);
    }

    /// What a responder asks before it checks a query's signature says
    /// what taking would do, and takes nothing.
    #[test]
    fn asking_whether_a_state_would_be_refused_takes_nothing() {
        let t = Instant::now();
        let de = CountryCode::parse("DE").unwrap();
        let mut l = RateLimiter::new(2);
        assert!(
            !l.would_refuse(de, t),
            "a State never seen has a full bucket"
        );
        assert!(l.take(de, t).is_ok());
        assert!(!l.would_refuse(de, t));
        assert!(l.take(de, t).is_ok());
        for _ in 0..5 {
            assert!(l.would_refuse(de, t));
        }
        assert!(l.take(de, t).is_err());
        // Refilled at 2 a minute: a token after 30 s, asked or not.
        assert!(!l.would_refuse(de, t + Duration::from_secs(30)));
        assert!(l.take(de, t + Duration::from_secs(30)).is_ok());

        let mut b = RefusalBudget::new(1);
        let q = |i: u32| Digest::of(&i.to_le_bytes());
        assert_eq!(b.would_not_sign(de, &q(0), t), None);
        assert_eq!(b.would_not_sign(de, &q(0), t), None);
        assert_eq!(b.admit(de, q(0), t), Ok(()));
        assert_eq!(
            b.would_not_sign(de, &q(0), t),
            Some(Unsigned::AlreadyRefused)
        );
        assert_eq!(b.would_not_sign(de, &q(1), t), Some(Unsigned::OverBudget));
        assert_eq!(b.admit(de, q(1), t), Err(Unsigned::OverBudget));
    }
}
