//! The per-State budget of blind evaluations a holder grants: a token bucket
//! of `per_hour` elements, holding at most `per_hour`. Each guess of an
//! enumeration costs one element, so the budget is what makes enumeration
//! online only and slow: at the default 1,200 an hour, a million serials
//! take a requesting State 833 hours (about 35 days) at one holder, and
//! every batch is in the holder's audit log. Time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::model::CountryCode;

#[derive(Debug)]
pub struct EvaluationBudget {
    per_hour: f64,
    buckets: HashMap<CountryCode, (f64, Instant)>,
}

impl EvaluationBudget {
    pub fn new(per_hour: u32) -> Self {
        EvaluationBudget {
            per_hour: f64::from(per_hour.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes `n` elements from `state`'s bucket, all or none; or says how
    /// long until it holds `n` again (never, for more than a full bucket:
    /// then the wait for a full one).
    pub fn take(&mut self, state: CountryCode, n: usize, now: Instant) -> Result<(), Duration> {
        let cap = self.per_hour;
        let (tokens, last) = self.buckets.entry(state).or_insert((cap, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * cap / 3600.0).min(cap);
        *last = now;
        let want = (n as f64).min(cap);
        if *tokens >= n as f64 {
            *tokens -= n as f64;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((want - *tokens) * 3600.0 / cap).max(1.0),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_spends_its_own_budget_and_it_refills() {
        let t0 = Instant::now();
        let de = CountryCode::parse("DE").unwrap();
        let fr = CountryCode::parse("FR").unwrap();
        let mut b = EvaluationBudget::new(100);
        assert!(b.take(de, 64, t0).is_ok());
        assert!(b.take(de, 36, t0).is_ok());
        let wait = b.take(de, 4, t0).unwrap_err();
        assert_eq!(wait.as_secs(), 144); // 4 elements at 100 an hour
        assert!(
            b.take(fr, 100, t0).is_ok(),
            "another State's budget is its own"
        );
        assert!(b.take(de, 4, t0 + Duration::from_secs(145)).is_ok());
        assert!(b.take(de, 101, t0 + Duration::from_secs(7200)).is_err());
    }
}
