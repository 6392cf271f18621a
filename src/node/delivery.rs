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
//! requester's [`DELIVERING_PER_REQUESTER`] places instead, waiting as long
//! as it takes: an honest requester slow to acknowledge (a disk stall, a
//! burst) still gets every answer. At most [`WAITING_PER_REQUESTER`]
//! deliveries wait for its places; one past them is given up and counted
//! (`tracenet_answers_undelivered_total`), and the requester gets that
//! answer, kept here, when it asks again (`trace retry`, or directly as a
//! silent holder). A member that never acknowledges thus holds its own
//! places only, and this node holds at most 16 + 256 of its answers.
//!
//! Requesters are roster members (a query is answered only after its
//! requester's key is found in the roster), so the map of places has at
//! most one entry per member ever met; it is not pruned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Answers delivered at once to one requester, each waiting for its `ok`.
/// An honest requester acknowledges in milliseconds, so 16 carry a few
/// thousand answers a second to it.
pub const DELIVERING_PER_REQUESTER: usize = 16;

/// Deliveries waiting for one of a requester's places; one past them is
/// given up.
pub const WAITING_PER_REQUESTER: usize = 256;

/// One requester's places and how many deliveries wait for them.
#[derive(Debug)]
struct Places {
    sending: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// The places of each requester.
#[derive(Debug, Default)]
pub struct Deliveries {
    per_requester: Mutex<HashMap<PeerId, Arc<Places>>>,
}

impl Deliveries {
    /// One of `requester`'s places, once one is free; `None` (at once) if
    /// [`WAITING_PER_REQUESTER`] deliveries wait for them already. Held
    /// while the answer is sent and its `ok` awaited.
    pub async fn place(&self, requester: PeerId) -> Option<OwnedSemaphorePermit> {
        let places = self
            .per_requester
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(requester)
            .or_insert_with(|| {
                Arc::new(Places {
                    sending: Arc::new(Semaphore::new(DELIVERING_PER_REQUESTER)),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone();
        if let Ok(p) = places.sending.clone().try_acquire_owned() {
            return Some(p);
        }
        if places.waiting.fetch_add(1, Ordering::AcqRel) >= WAITING_PER_REQUESTER {
            places.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        // Counted out however the wait ends (its task cancelled included).
        struct Waits<'a>(&'a AtomicUsize);
        impl Drop for Waits<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _waits = Waits(&places.waiting);
        places.sending.clone().acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A requester whose deliveries all wait for their `ok` holds its own
    /// places only: deliveries to it wait, up to the bound, and the one past
    /// it is given up at once; another requester's goes at once; a place
    /// freed goes to a delivery that waits.
    #[tokio::test]
    async fn a_requester_that_never_acknowledges_holds_only_its_own_places() {
        let d = Arc::new(Deliveries::default());
        let (silent, other) = (PeerId::random(), PeerId::random());
        let mut held = Vec::new();
        for _ in 0..DELIVERING_PER_REQUESTER {
            held.push(d.place(silent).await.expect("a free place"));
        }
        let mut waiting = Vec::new();
        for _ in 0..WAITING_PER_REQUESTER {
            let d = d.clone();
            waiting.push(tokio::spawn(async move { d.place(silent).await.is_some() }));
        }
        // Every waiter counted before the next is asked for.
        while d.per_requester.lock().unwrap()[&silent]
            .waiting
            .load(Ordering::Acquire)
            < WAITING_PER_REQUESTER
        {
            tokio::task::yield_now().await;
        }
        assert!(d.place(silent).await.is_none(), "one past the bound");
        assert!(d.place(other).await.is_some(), "another requester's");
        held.clear();
        for w in waiting.drain(..DELIVERING_PER_REQUESTER) {
            assert!(w.await.unwrap(), "a freed place goes to a waiter");
        }
        for w in waiting {
            w.abort();
        }
    }
}
