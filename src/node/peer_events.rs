//! What a member connecting or disconnecting sets off, one peer at a time.
//!
//! A member connecting has the traces waiting for it delivered and its blind
//! probes made; one disconnecting has the traces that await it marked
//! unreachable. Each reads, and may write, every pending trace that names
//! the peer. A member that flaps its connection (closing and opening it as
//! fast as the handshake allows) would set that work off once per flap and
//! run many copies of it side by side. Here each peer's work runs one at a
//! time, at most once per [`PEER_WORK_SPACING`]; events that come while it
//! runs or waits are gathered into one run: the marking a disconnection
//! calls for (so that what was handed over the lost connection is handed
//! again), then the delivery a connection calls for, each once.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;

use super::Node;

/// The least time between two runs of one peer's work.
pub const PEER_WORK_SPACING: Duration = Duration::from_secs(1);

/// What a peer event calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerWork {
    /// Connected: deliver what waits for it, probe its blind traces.
    Up,
    /// Disconnected: mark it unreachable where it owes a word.
    Down,
    /// A link opened on demand closed: mark it unreachable where it has
    /// said nothing yet.
    LinkClosed,
}

/// The work gathered for one run: a marking (a disconnection's, which
/// covers a closed link's), then a delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gathered {
    pub mark: Option<PeerWork>,
    pub deliver: bool,
}

impl Gathered {
    fn of(work: PeerWork) -> Self {
        Gathered::default().with(work)
    }

    fn with(mut self, work: PeerWork) -> Self {
        match work {
            PeerWork::Up => self.deliver = true,
            PeerWork::Down => self.mark = Some(PeerWork::Down),
            PeerWork::LinkClosed => {
                if self.mark.is_none() {
                    self.mark = Some(PeerWork::LinkClosed);
                }
            }
        }
        self
    }
}

/// Which peers have work running, and the work gathered for each next.
#[derive(Debug, Default)]
pub struct PeerGate {
    running: HashMap<PeerId, Option<Gathered>>,
}

impl PeerGate {
    /// An event for `peer`: its work to start now, if none runs; otherwise
    /// it is gathered for the next run.
    pub fn arrive(&mut self, peer: PeerId, work: PeerWork) -> Option<Gathered> {
        match self.running.get_mut(&peer) {
            Some(next) => {
                *next = Some(next.unwrap_or_default().with(work));
                None
            }
            None => {
                self.running.insert(peer, None);
                Some(Gathered::of(work))
            }
        }
    }

    /// `peer`'s work finished (and its spacing passed): the next to run,
    /// if events came meanwhile; else the peer is let go.
    pub fn finished(&mut self, peer: &PeerId) -> Option<Gathered> {
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
        let start = match self.inner.peer_gate.lock() {
            Ok(mut g) => g.arrive(peer, work),
            Err(_) => Some(Gathered::of(work)),
        };
        let Some(work) = start else {
            return;
        };
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

    async fn run_peer_work(&self, peer: PeerId, work: &Gathered) {
        match work.mark {
            Some(PeerWork::Down) => self.mark_unreachable(peer, "disconnected".into()).await,
            Some(PeerWork::LinkClosed) => {
                self.mark_silent_unreachable(peer, "its link closed before it answered".into())
                    .await
            }
            Some(PeerWork::Up) | None => {}
        }
        if work.deliver {
            // Store-and-forward: what waited for this peer goes now.
            self.probe_waiting(peer);
            self.deliver_waiting(peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_peer_has_one_run_at_a_time_with_what_its_events_called_for() {
        let mut g = PeerGate::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let down = Gathered {
            mark: Some(PeerWork::Down),
            deliver: false,
        };
        assert_eq!(g.arrive(a, PeerWork::Down), Some(down));
        // A hundred flaps while it runs: nothing more starts...
        for _ in 0..100 {
            assert_eq!(g.arrive(a, PeerWork::Up), None);
            assert_eq!(g.arrive(a, PeerWork::Down), None);
        }
        assert_eq!(g.arrive(a, PeerWork::Up), None);
        // ...another peer is not held up by it...
        let closed = g.arrive(b, PeerWork::LinkClosed).unwrap();
        assert_eq!(closed.mark, Some(PeerWork::LinkClosed));
        assert_eq!(g.len(), 2);
        // ...and once it ends, one run follows: the marking, then the
        // delivery.
        assert_eq!(
            g.finished(&a),
            Some(Gathered {
                mark: Some(PeerWork::Down),
                deliver: true
            })
        );
        assert_eq!(g.finished(&a), None);
        assert_eq!(g.finished(&b), None);
        assert_eq!(g.len(), 0);
        // Let go, the next event starts at once.
        assert!(g.arrive(a, PeerWork::Up).is_some());
    }

    /// Up, Down, Up while the first runs: the disconnection between is not
    /// lost (what was handed over the lost connection is marked, and so
    /// handed again by the delivery that follows).
    #[test]
    fn a_disconnection_between_two_connections_is_not_lost() {
        let mut g = PeerGate::default();
        let a = PeerId::random();
        assert!(g.arrive(a, PeerWork::Up).is_some());
        assert_eq!(g.arrive(a, PeerWork::Down), None);
        assert_eq!(g.arrive(a, PeerWork::Up), None);
        let next = g.finished(&a).unwrap();
        assert_eq!(next.mark, Some(PeerWork::Down));
        assert!(next.deliver);
        // A closed link then a disconnection: the disconnection's marking,
        // which covers the link's.
        assert_eq!(g.arrive(a, PeerWork::LinkClosed), None);
        assert_eq!(g.arrive(a, PeerWork::Down), None);
        assert_eq!(g.arrive(a, PeerWork::LinkClosed), None);
        assert_eq!(g.finished(&a).unwrap().mark, Some(PeerWork::Down));
    }
}
