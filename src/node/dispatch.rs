//! The node's event loop: classifies each network event and hands the work to
//! a tracked task. It never awaits sled, signing or a lookup itself, so that a
//! slow disk or a flood of queries cannot stall the reading of the network.
//! Periodic work (audit heads, refusal tallies, the replay purge, the roster's
//! expiry, the audit archive) runs from timers here, each in a task of its
//! own.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::peer_events::PeerWork;
use super::{Node, bump, membership, unix_now};
use crate::net::{NetEvent, Topic, Verdict};
use crate::protocol::{Refusal, Reply};

/// How often refusal counts are written to the audit log as one entry each.
const TALLY_EVERY: Duration = Duration::from_secs(10);
/// How often expired replay ids are purged and the roster's expiry checked.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// How long shutdown waits for tasks in flight.
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// After a move to the audit archive failed, how long before the next try.
const ARCHIVE_RETRY: Duration = Duration::from_secs(60);

impl Node {
    /// Drives the node until `shutdown` resolves (or the node must stop on
    /// its own, see [`Node::stopped_on_failure`]): network events in, answers
    /// out. On the way out, drains every tracked task, writes the pending
    /// refusal counts, signs the audit head and flushes the store.
    pub async fn run_events(
        &self,
        mut events: mpsc::Receiver<NetEvent>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let every = Duration::from_secs(self.inner.settings.audit_sign_every_secs.max(1));
        let start = tokio::time::Instant::now();
        let mut sign_tick = tokio::time::interval_at(start + every, every);
        let mut tally_tick = tokio::time::interval_at(start + TALLY_EVERY, TALLY_EVERY);
        let mut care_tick = tokio::time::interval(MAINTENANCE_EVERY);
        let mut archive_tick = tokio::time::interval(crate::audit::ARCHIVE_EVERY);
        archive_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One move to the audit archive at a time: one that outlasts the
        // period (a slow disk) is not started again beside itself, which
        // the log would count as held back by a reader.
        let archiving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A move that failed (a full disk, a damaged stretch) or panicked is
        // tried again a minute later, not every 10 s: each try reads the
        // whole range. Milliseconds since `start` (monotonic: a clock set
        // back does not hold archiving back).
        let archive_after = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let offer_every = membership::ROSTER_OFFER_EVERY;
        let mut offer_tick = tokio::time::interval_at(start + offer_every, offer_every);
        self.arm_deadlines();
        tokio::pin!(shutdown);
        let fatal = self.inner.fatal.clone();
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => break,
                },
                _ = sign_tick.tick() => self.background(|n| n.sign_audit_head()),
                _ = tally_tick.tick() => self.background(|n| n.write_tally()),
                _ = care_tick.tick() => {
                    self.background(|n| n.maintenance());
                    let node = self.clone();
                    self.spawn(async move { node.deliver_to_connected().await });
                }
                _ = archive_tick.tick() => {
                    use std::sync::atomic::Ordering;
                    let ms = move |t: tokio::time::Instant| t.duration_since(start).as_millis() as u64;
                    let due = ms(tokio::time::Instant::now()) >= archive_after.load(Ordering::Acquire);
                    if due && !archiving.swap(true, Ordering::AcqRel) {
                        let done = Clears(archiving.clone());
                        let after = archive_after.clone();
                        self.background(move |n| {
                            let _done = done;
                            // Set first: a move that panics waits too.
                            let retry = tokio::time::Instant::now() + ARCHIVE_RETRY;
                            after.store(ms(retry), Ordering::Release);
                            if n.archive_audit() {
                                after.store(0, Ordering::Release);
                            } else {
                                // A minute from the failure, however long
                                // the move took.
                                let retry = tokio::time::Instant::now() + ARCHIVE_RETRY;
                                after.store(ms(retry), Ordering::Release);
                            }
                        });
                    }
                }
                _ = offer_tick.tick() => self.offer_roster_by_lot(),
                _ = fatal.cancelled() => break,
                _ = &mut shutdown => break,
            }
        }
        self.drain().await;
        let n = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            n.write_tally();
            n.sign_audit_head();
            if let Err(e) = n.inner.db.flush() {
                tracing::error!(error = %e, "flushing the store at shutdown failed");
            }
        })
        .await;
    }

    /// Runs blocking periodic work in a tracked task.
    fn background(&self, f: impl FnOnce(&Node) + Send + 'static) {
        let n = self.clone();
        self.spawn(async move {
            let _ = tokio::task::spawn_blocking(move || f(&n)).await;
        });
    }

    /// Lets tasks in flight finish (answers being sent, follow-ups, answers
    /// being filed, roster installs), for at most a few seconds; no new work
    /// is taken while it waits.
    async fn drain(&self) {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        match tokio::time::timeout(DRAIN_FOR, self.inner.tasks.wait()).await {
            Ok(()) => tracing::info!("work in flight finished"),
            Err(_) => tracing::warn!(
                left = self.inner.tasks.len(),
                "stopped with work still in flight after {} s",
                DRAIN_FOR.as_secs()
            ),
        }
    }

    fn on_event(&self, ev: NetEvent) {
        match ev {
            NetEvent::Gossip { id, topic, data } => match topic {
                Topic::Roster | Topic::Makers => {
                    let node = self.clone();
                    let Ok(permit) = self.inner.trust_gossip.clone().try_acquire_owned() else {
                        // As many in hand as a node takes at once (a member
                        // flooding copies): left, neither passed on nor held
                        // against the relay; a new version comes again.
                        bump(&self.inner.counters.trust_gossip_dropped);
                        self.spawn(async move {
                            let _ = node.inner.net.validate(id, Verdict::Ignore).await;
                        });
                        return;
                    };
                    self.spawn(async move {
                        let _permit = permit;
                        if topic == Topic::Roster {
                            node.on_roster_gossip(id, data).await
                        } else {
                            node.on_makers_gossip(id, data).await
                        }
                    });
                }
                _ => self.on_query_gossip(id, topic, data),
            },
            NetEvent::Request { id, peer, data } => {
                // A peer cooling down is answered at once, without decoding.
                let cooling = self
                    .inner
                    .standing
                    .lock()
                    .map(|s| s.is_cooling(&peer, Instant::now()))
                    .unwrap_or(false);
                let node = self.clone();
                if cooling {
                    // Counted, never written from here: the loop does no I/O.
                    let r = Refusal::CoolingDown;
                    self.inner.counters.refused(r);
                    if let Ok(mut t) = self.inner.tally.lock() {
                        t.count(&peer.to_string(), None, r, r.code());
                    }
                    self.spawn(async move {
                        let reply = Reply::Refused(Refusal::CoolingDown).encode();
                        let _ = node.inner.net.respond(id, reply).await;
                    });
                    return;
                }
                let blind = crate::protocol::codec::peek_kind(&data)
                    == Ok(crate::protocol::codec::Kind::BlindRequest);
                self.spawn(async move {
                    let reply = if blind {
                        node.on_blind_request(peer, data).await
                    } else {
                        node.on_request(peer, data).await.encode()
                    };
                    let _ = node.inner.net.respond(id, reply).await;
                });
            }
            NetEvent::PeerUp(peer) => {
                tracing::debug!(%peer, "peer connected");
                if let Ok(mut n) = self.inner.not_reached.lock() {
                    n.remove(&peer);
                }
                self.offer_roster_on_peer_up(peer);
                self.on_peer_event(peer, PeerWork::Up);
            }
            NetEvent::Subscribed { peer, topic } => self.on_subscribed(peer, topic),
            NetEvent::PeerDown(peer) => {
                tracing::debug!(%peer, "peer disconnected");
                self.on_peer_event(peer, PeerWork::Down);
            }
            NetEvent::LinkClosed(peer) => self.on_peer_event(peer, PeerWork::LinkClosed),
            NetEvent::Listening(addr) => {
                // Said again for the same address after a gossip
                // validation switch (net::NetHandle::set_gossip_validation).
                if let Ok(mut l) = self.inner.listen.lock()
                    && !l.contains(&addr.to_string())
                {
                    l.push(addr.to_string());
                }
            }
        }
    }

    /// Purges expired replay ids and forgets what expired with them, checks
    /// the roster's expiry, and says how many log lines a stderr not read
    /// made the node drop since the last minute that had drops. (The audit archive has its own timer:
    /// [`Self::archive_audit`].)
    fn maintenance(&self) {
        match self.inner.replay.purge(unix_now()) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(n, "expired replay-guard entries purged"),
            Err(e) => self.store_failed(&e.to_string()),
        }
        match self.inner.seen_subscribed.purge(unix_now()) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(n, "subscriptions not seen for 30 days forgotten"),
            Err(e) => self.store_failed(&e.to_string()),
        }
        if let Ok(mut cache) = self.inner.answered.lock() {
            let n = cache.expire(unix_now());
            if n > 0 {
                tracing::debug!(n, "answers kept for retries let go with their queries");
            }
        }
        self.check_roster_expiry(unix_now());
        crate::logging::report_dropped();
    }

    /// Every [`crate::audit::ARCHIVE_EVERY`]: moves a slice of the oldest
    /// audit entries to the archive while the store drains from past
    /// `node.audit_keep_in_store` to half of it
    /// ([`crate::audit::AuditLog::archive_oldest`]). Blocking: it reads,
    /// writes and removes every entry it moves. Whether it succeeded (or
    /// had nothing to do).
    fn archive_audit(&self) -> bool {
        match self
            .inner
            .audit
            .archive_oldest(self.inner.settings.audit_keep_in_store)
        {
            Ok(None) => true,
            Ok(Some(f)) => {
                tracing::info!(
                    first = f.first,
                    last = f.last,
                    file = %f.path.display(),
                    "oldest audit entries moved from the store to the archive"
                );
                true
            }
            // The audit fails closed: a store that cannot be written stops
            // the node, as for any audit write.
            Err(crate::audit::AuditError::Storage(e)) => {
                self.store_failed(&e.to_string());
                false
            }
            // A file that cannot be written (a full disk) or a damaged
            // stretch: the entries stay in the store, tried again a minute
            // later.
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "cannot move the oldest audit entries to the archive; they stay in the store, tried again in a minute"
                );
                false
            }
        }
    }
}

/// Clears its flag when dropped: the archive's move is over, returned or
/// not.
struct Clears(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Clears {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}
