//! Answers on their way to their requesters, a bounded number per requester.
//!
//! A holder sends the answer to a gossiped query by request-response and
//! waits for its requester's `ok`, which an honest requester gives once the
//! answer is on disk (milliseconds: `node::filing`). That wait used to hold
//! one of the holder's `node.max_concurrent_queries` places, so a member
//! that published queries and never acknowledged their answers held every
//! place for the request timeout (10 s) with 6.4 queries a second, well
//! within its rate limit, and the holder refused every other State's query
//! `overloaded` (SECURITY.md, holes closed, 15).
//!
//! Now the place is given back once the answer is made (signed, audited,
//! and kept for the requester's retries), and the delivery takes one of its
//! requester's [`DELIVERING_PER_REQUESTER`] places instead. A delivery that
//! finds none free within [`DELIVERY_WAIT`] is given up and counted
//! (`tracenet_answers_undelivered_total`): its requester asks again directly
//! a holder silent 5 s after a trace went out (NETWORK.md,
//! "Store-and-forward at the requester") and is sent the answer kept. A
//! member that never acknowledges thus holds only its own places; what
//! waits for them is bounded by its rate limit times [`DELIVERY_WAIT`].
//!
//! Requesters are roster members (a query is answered only after its
//! requester's key is found in the roster), so the map of places has at
//! most one entry per member.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Answers delivered at once to one requester, each waiting for its `ok`.
/// An honest requester acknowledges in milliseconds, so 16 carry a few
/// thousand answers a second to it.
pub const DELIVERING_PER_REQUESTER: usize = 16;

/// How long a delivery waits for one of its requester's places before it is
/// given up.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(20);

/// The places of each requester.
#[derive(Debug, Default)]
pub struct Deliveries {
    per_requester: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
}

impl Deliveries {
    /// One of `requester`'s places, waiting at most `wait`; `None` if none
    /// came free in time. Held while the answer is sent and its `ok` awaited.
    pub async fn place(&self, requester: PeerId, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let places = self
            .per_requester
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(requester)
            .or_insert_with(|| Arc::new(Semaphore::new(DELIVERING_PER_REQUESTER)))
            .clone();
        tokio::time::timeout(wait, places.acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A requester whose deliveries all wait for their `ok` holds its own
    /// places only: the next delivery to it is given up after the wait,
    /// and another requester's goes at once.
    #[tokio::test]
    async fn a_requester_that_never_acknowledges_holds_only_its_own_places() {
        let d = Deliveries::default();
        let (silent, other) = (PeerId::random(), PeerId::random());
        let mut held = Vec::new();
        for _ in 0..DELIVERING_PER_REQUESTER {
            held.push(d.place(silent, Duration::ZERO).await.expect("a free place"));
        }
        assert!(
            d.place(silent, Duration::from_millis(20)).await.is_none(),
            "its places are all held"
        );
        assert!(d.place(other, Duration::ZERO).await.is_some());
        held.pop();
        assert!(d.place(silent, Duration::ZERO).await.is_some(), "one freed");
    }
}
