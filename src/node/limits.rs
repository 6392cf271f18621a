//! Per-State rate limits on incoming queries, in the spirit of Prüm's daily
//! caps: a member flooding queries exhausts its own budget, not the others'.

use std::collections::HashMap;
use std::time::Instant;

use crate::model::CountryCode;

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

    /// Takes one token from `state`'s bucket; false if it is empty.
    pub fn allow(&mut self, state: CountryCode, now: Instant) -> bool {
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
            true
        } else {
            false
        }
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
        assert!((0..3).all(|_| l.allow(de, t)));
        assert!(!l.allow(de, t));
        assert!(l.allow(ng, t));
        // 20 seconds refill one token at 3 a minute.
        assert!(l.allow(de, t + Duration::from_secs(20)));
        assert!(!l.allow(de, t + Duration::from_secs(20)));
    }
}
