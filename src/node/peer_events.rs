//! What a member connecting or disconnecting sets off, one peer at a time.
//!
//! A member connecting has the traces waiting for it delivered and its blind
//! probes made; one disconnecting has the traces that await it marked
//! unreachable. Each reads, and may write, every pending trace that names
//! the peer. A member that flaps its connection (closing and opening it as
//! fast as the handshake allows) would set that work off once per flap and
//! run many copies of it side by side. Here each peer's work runs one at a
//! time, at most once per [`PEER_WORK_SPACING`]; events that come while it
//! runs or waits are merged, the latest winning, since only where the peer
//! stands now matters: connected, its traces are delivered; gone, they are
//! marked.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;

use super::Node;

/// The least time between two runs of one peer's work.
pub const PEER_WORK_SPACING: Duration = Duration::from_secs(1);

/// What a peer event calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerWork {
    /// Connected: deliver what waits for it, probe its blind traces.
    Up,
    /// Disconnected: mark it unreachable where it owes a word.
    Down,
    /// A link opened on demand closed: mark it unreachable where it has
    /// said nothing yet.
    LinkClosed,
}

/// Which peers have work running, and the work that comes next for each.
#[derive(Debug, Default)]
pub struct PeerGate {
    running: HashMap<PeerId, Option<PeerWork>>,
}

impl PeerGate {
    /// An event for `peer`: `true` if its work is to start now (none
    /// running); otherwise it is kept as the next, replacing any kept.
    pub fn arrive(&mut self, peer: PeerId, work: PeerWork) -> bool {
        match self.running.get_mut(&peer) {
            Some(next) => {
                *next = Some(work);
                false
            }
            None => {
                self.running.insert(peer, None);
                true
            }
        }
    }

    /// `peer`'s work finished (and its spacing passed): the next to run,
    /// if an event came meanwhile; else the peer is let go.
    pub fn finished(&mut self, peer: &PeerId) -> Option<PeerWork> {
        let next = self.running.get_mut(peer).and_then(Option::take);
        if next.is_none() {
            self.running.remove(peer);
        }
        next
    }

    /// Peers with work running or waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.running.len()
    }
}

impl Node {
    /// Runs `work` for `peer` now, or after the work running for it.
    pub(super) fn on_peer_event(&self, peer: PeerId, work: PeerWork) {
        let start = self
            .inner
            .peer_gate
            .lock()
            .map(|mut g| g.arrive(peer, work.clone()))
            .unwrap_or(true);
        if !start {
            return;
        }
        let node = self.clone();
        let stopping = self.inner.stopping.clone();
        self.spawn(async move {
            let mut work = work;
            loop {
                let began = tokio::time::Instant::now();
                // A panic here must not leave the peer marked running for
                // good, with no work ever run for it again.
                let ran = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                    node.run_peer_work(peer, &work),
                ))
                .await;
                if ran.is_err() {
                    tracing::error!(%peer, ?work, "the work set off by a peer's connection or disconnection failed; the next event for it runs again");
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(began + PEER_WORK_SPACING) => {}
                    _ = stopping.cancelled() => return,
                }
                let next = node
                    .inner
                    .peer_gate
                    .lock()
                    .ok()
                    .and_then(|mut g| g.finished(&peer));
                match next {
                    Some(w) => work = w,
                    None => return,
                }
            }
        });
    }

    async fn run_peer_work(&self, peer: PeerId, work: &PeerWork) {
        match work {
            PeerWork::Up => {
                // Store-and-forward: what waited for this peer goes now.
                self.probe_waiting(peer);
                self.deliver_waiting(peer).await;
            }
            PeerWork::Down => self.mark_unreachable(peer, "disconnected".into()).await,
            PeerWork::LinkClosed => {
                self.mark_silent_unreachable(peer, "its link closed before it answered".into())
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_peer_has_one_run_at_a_time_and_only_its_latest_state_next() {
        let mut g = PeerGate::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert!(g.arrive(a, PeerWork::Down));
        // A hundred flaps while it runs: nothing more starts...
        for _ in 0..100 {
            assert!(!g.arrive(a, PeerWork::Up));
            assert!(!g.arrive(a, PeerWork::Down));
        }
        assert!(!g.arrive(a, PeerWork::Up));
        // ...another peer is not held up by it...
        assert!(g.arrive(b, PeerWork::LinkClosed));
        assert_eq!(g.len(), 2);
        // ...and once it ends, one run follows, for where the peer stands.
        assert_eq!(g.finished(&a), Some(PeerWork::Up));
        assert_eq!(g.finished(&a), None);
        assert_eq!(g.finished(&b), None);
        assert_eq!(g.len(), 0);
        // Let go, the next event starts at once.
        assert!(g.arrive(a, PeerWork::Down));
    }
}
