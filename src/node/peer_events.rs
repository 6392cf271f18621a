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
//! again), then the delivery a connection calls for, each once. A marking
//! run late touches only the traces sent before the disconnection: one
//! sent after it was never handed over the lost connection.

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
/// covers a closed link's) of the traces sent up to the latest such event
/// (unix milliseconds), then a delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gathered {
    pub mark: Option<(PeerWork, u64)>,
    pub deliver: bool,
}

impl Gathered {
    fn of(work: PeerWork, at_ms: u64) -> Self {
        Gathered::default().with(work, at_ms)
    }

    fn with(mut self, work: PeerWork, at_ms: u64) -> Self {
        let latest = self.mark.map_or(at_ms, |(_, t)| t.max(at_ms));
        match (work, self.mark) {
            (PeerWork::Up, _) => self.deliver = true,
            (PeerWork::Down, _) | (PeerWork::LinkClosed, None) => {
                self.mark = Some((work, latest));
            }
            (PeerWork::LinkClosed, Some((kind, _))) => self.mark = Some((kind, latest)),
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
    pub fn arrive(&mut self, peer: PeerId, work: PeerWork, at_ms: u64) -> Option<Gathered> {
        match self.running.get_mut(&peer) {
            Some(next) => {
                *next = Some(next.unwrap_or_default().with(work, at_ms));
                None
            }
            None => {
                self.running.insert(peer, None);
                Some(Gathered::of(work, at_ms))
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
        let at_ms = super::unix_now_ms();
        let start = match self.inner.peer_gate.lock() {
            Ok(mut g) => g.arrive(peer, work, at_ms),
            Err(_) => Some(Gathered::of(work, at_ms)),
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
            Some((PeerWork::Down, at_ms)) => {
                self.mark_unreachable_until(peer, "disconnected".into(), at_ms)
                    .await
            }
            Some((PeerWork::LinkClosed, at_ms)) => {
                self.mark_silent_unreachable(
                    peer,
                    "its link closed before it answered".into(),
                    at_ms,
                )
                .await
            }
            Some((PeerWork::Up, _)) | None => {}
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
            mark: Some((PeerWork::Down, 2)),
            deliver: false,
        };
        assert_eq!(g.arrive(a, PeerWork::Down, 2), Some(down));
        // A hundred flaps while it runs: nothing more starts...
        for _ in 0..100 {
            assert_eq!(g.arrive(a, PeerWork::Up, 1), None);
            assert_eq!(g.arrive(a, PeerWork::Down, 2), None);
        }
        assert_eq!(g.arrive(a, PeerWork::Up, 1), None);
        // ...another peer is not held up by it...
        let closed = g.arrive(b, PeerWork::LinkClosed, 3).unwrap();
        assert_eq!(closed.mark, Some((PeerWork::LinkClosed, 3)));
        assert_eq!(g.len(), 2);
        // ...and once it ends, one run follows: the marking, then the
        // delivery.
        assert_eq!(
            g.finished(&a),
            Some(Gathered {
                mark: Some((PeerWork::Down, 2)),
                deliver: true
            })
        );
        assert_eq!(g.finished(&a), None);
        assert_eq!(g.finished(&b), None);
        assert_eq!(g.len(), 0);
        // Let go, the next event starts at once.
        assert!(g.arrive(a, PeerWork::Up, 1).is_some());
    }

    /// Up, Down, Up while the first runs: the disconnection between is not
    /// lost (what was handed over the lost connection is marked, and so
    /// handed again by the delivery that follows).
    #[test]
    fn a_disconnection_between_two_connections_is_not_lost() {
        let mut g = PeerGate::default();
        let a = PeerId::random();
        assert!(g.arrive(a, PeerWork::Up, 1).is_some());
        assert_eq!(g.arrive(a, PeerWork::Down, 2), None);
        assert_eq!(g.arrive(a, PeerWork::Up, 1), None);
        let next = g.finished(&a).unwrap();
        assert_eq!(next.mark, Some((PeerWork::Down, 2)));
        assert!(next.deliver);
        // A closed link then a disconnection: the disconnection's marking,
        // which covers the link's, up to the latest of them.
        assert_eq!(g.arrive(a, PeerWork::LinkClosed, 4), None);
        assert_eq!(g.arrive(a, PeerWork::Down, 2), None);
        assert_eq!(g.arrive(a, PeerWork::LinkClosed, 4), None);
        assert_eq!(g.finished(&a).unwrap().mark, Some((PeerWork::Down, 4)));
    }
}
