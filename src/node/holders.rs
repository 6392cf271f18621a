//! Who should answer a trace, known before it is published, and the delivery
//! of its query to those who could not be reached (store-and-forward at the
//! requester; NETWORK.md, "Expected holders").
//!
//! A trace's expected holders are the members subscribed to its topics now,
//! the members whose roster entry declares its marking prefix, the members of
//! the States of its import marks, and the members seen subscribed to its
//! topics within [`REMEMBER_SECS`] (kept on disk). Its own State is never one.
//! A holder that is offline keeps the signed query waiting here, never at a
//! third party: it is sent straight to the holder the moment it reconnects,
//! until the trace's deadline, across restarts of this node.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use libp2p::PeerId;

use super::{Asked, ExpectedBy, Node, unix_now};
use crate::marking::MarkingPrefix;
use crate::model::CountryCode;
use crate::net::Topic;

/// How long a member seen subscribed to a topic stays an expected holder of
/// traces on it: 30 days.
pub const REMEMBER_SECS: u64 = 30 * 86_400;
/// A subscription seen again is written at most this often (seconds).
const REWRITE_AFTER_SECS: u64 = 3_600;
/// At most this many (topic, member) pairs are remembered: a member
/// subscribing to endless topics cannot grow the store without bound.
const MAX_REMEMBERED: usize = 100_000;

/// The members seen subscribed to each trace topic, with when they were last
/// seen: the tree `seen_subscribed`, key `topic \n peer`, value unix seconds
/// (u64, big-endian).
pub(super) struct SeenSubscriptions {
    tree: sled::Tree,
    /// When each pair was last written, so that a resubscription storm
    /// costs no writes.
    written: Mutex<HashMap<(String, PeerId), u64>>,
}

fn key(topic: &str, peer: &PeerId) -> Vec<u8> {
    let mut k = topic.as_bytes().to_vec();
    k.push(b'\n');
    k.extend_from_slice(peer.to_string().as_bytes());
    k
}

fn seconds(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl SeenSubscriptions {
    pub(super) fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(SeenSubscriptions {
            tree: db.open_tree("seen_subscribed")?,
            written: Mutex::new(HashMap::new()),
        })
    }

    /// Remembers that `peer` (a member) is subscribed to `topic` at `now`.
    /// Not flushed: a subscription lost in a crash is seen again.
    pub(super) fn note(&self, topic: &str, peer: &PeerId, now: u64) -> Result<(), sled::Error> {
        let k = (topic.to_string(), *peer);
        if let Ok(w) = self.written.lock()
            && w.get(&k)
                .is_some_and(|t| now.saturating_sub(*t) < REWRITE_AFTER_SECS)
        {
            return Ok(());
        }
        let key = key(topic, peer);
        if self.tree.len() >= MAX_REMEMBERED && !self.tree.contains_key(&key)? {
            tracing::warn!(
                %peer,
                topic,
                "the memory of subscriptions is full ({MAX_REMEMBERED}); this one is not remembered"
            );
            return Ok(());
        }
        self.tree.insert(key, &now.to_be_bytes())?;
        if let Ok(mut w) = self.written.lock() {
            if w.len() >= MAX_REMEMBERED {
                w.clear();
            }
            w.insert(k, now);
        }
        Ok(())
    }

    /// The peers seen subscribed to `topic` since `now - REMEMBER_SECS`.
    pub(super) fn seen(&self, topic: &str, now: u64) -> Vec<PeerId> {
        let mut prefix = topic.as_bytes().to_vec();
        prefix.push(b'\n');
        self.tree
            .scan_prefix(&prefix)
            .filter_map(Result::ok)
            .filter(|(_, v)| seconds(v).saturating_add(REMEMBER_SECS) >= now)
            .filter_map(|(k, _)| std::str::from_utf8(&k[prefix.len()..]).ok()?.parse().ok())
            .collect()
    }

    /// Forgets what was last seen before the window; returns how many.
    pub(super) fn purge(&self, now: u64) -> Result<usize, sled::Error> {
        let mut n = 0;
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            if seconds(&v).saturating_add(REMEMBER_SECS) < now {
                self.tree.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// What a trace is expected to reach: its topics, its marking prefix and the
/// countries of its import marks.
pub(super) struct Reach<'a> {
    pub topics: &'a [Topic],
    pub prefix: &'a MarkingPrefix,
    pub imports: &'a [CountryCode],
}

impl Node {
    /// The expected holders of a trace, each with why; a member expected for
    /// several reasons is listed once. Never this node's own State, never a
    /// bootstrap peer, never a peer the roster does not list.
    pub(super) async fn expected_holders(
        &self,
        reach: &Reach<'_>,
    ) -> Result<Vec<Asked>, crate::net::NetError> {
        let subscribed = self.inner.net.subscribers(reach.topics.to_vec()).await?;
        let topics: Vec<String> = reach.topics.iter().map(|t| t.to_string()).collect();
        let node = self.clone();
        let seen: Vec<PeerId> = tokio::task::spawn_blocking(move || {
            let now = unix_now();
            topics
                .iter()
                .flat_map(|t| node.inner.seen_subscribed.seen(t, now))
                .collect()
        })
        .await
        .unwrap_or_default();
        let members = self.read_members();
        let mut why: BTreeMap<PeerId, Vec<ExpectedBy>> = BTreeMap::new();
        let mut add = |p: PeerId, w: ExpectedBy| {
            let v = why.entry(p).or_default();
            if !v.contains(&w) {
                v.push(w);
            }
        };
        for p in subscribed {
            add(p, ExpectedBy::Subscribed);
        }
        for (p, m) in &members.by_peer {
            if m.prefixes.contains(reach.prefix) {
                add(*p, ExpectedBy::RosterPrefix);
            }
            if reach.imports.contains(&m.state) {
                add(*p, ExpectedBy::ImportMark);
            }
        }
        for p in seen {
            add(p, ExpectedBy::SeenSubscribed);
        }
        Ok(why
            .into_iter()
            .filter_map(|(p, expected_by)| {
                let m = members.get(&p)?;
                if m.bootstrap || m.state == self.inner.state || p == self.peer_id() {
                    return None;
                }
                let mut a = Asked::new(p.to_string(), m.state, ExpectedBy::Subscribed);
                a.expected_by = expected_by;
                Some(a)
            })
            .collect())
    }

    /// Remembers a member's subscription to a trace topic. Blocking.
    pub(super) fn note_subscription(&self, peer: PeerId, topic: &Topic) {
        let member = self.read_members().get(&peer).is_some_and(|m| !m.bootstrap);
        if !member {
            return;
        }
        if let Err(e) = self
            .inner
            .seen_subscribed
            .note(&topic.to_string(), &peer, unix_now())
        {
            self.store_failed(&e.to_string());
        }
    }

    /// Whether this run of the node already handed trace `id`'s query to
    /// `peer` (by gossip to a subscriber, or directly); remembers it if not.
    pub(super) fn first_delivery(&self, id: &str, peer: &PeerId) -> bool {
        self.inner
            .delivered
            .lock()
            .map(|mut d| d.insert((id.to_string(), *peer)))
            .unwrap_or(true)
    }

    /// Forgets the deliveries of a trace that is no longer pending.
    pub(super) fn forget_deliveries(&self, id: &str) {
        if let Ok(mut d) = self.inner.delivered.lock() {
            d.retain(|(t, _)| t != id);
        }
    }

    /// Store-and-forward: sends the query of every pending trace that waits
    /// on `peer` (no final answer, and unreachable until now or not yet
    /// handed to it since this node started) straight to it. Called when
    /// `peer` connects, and for every connected peer from the maintenance
    /// timer in case a connection event was missed.
    pub(super) async fn deliver_waiting(&self, peer: PeerId) {
        let node = self.clone();
        let due: Vec<String> = tokio::task::spawn_blocking(move || node.waiting_on(&peer))
            .await
            .unwrap_or_default();
        for id in due {
            let node = self.clone();
            self.spawn(async move {
                tracing::info!(%peer, trace = %id, "delivering a waiting trace query on reconnect");
                node.ask_and_file(peer, id).await;
            });
        }
    }

    /// The pending traces to deliver to `peer` now. Blocking.
    fn waiting_on(&self, peer: &PeerId) -> Vec<String> {
        let ids: Vec<String> = self
            .inner
            .pending
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default();
        let peer_s = peer.to_string();
        let handed: HashSet<String> = self
            .inner
            .delivered
            .lock()
            .map(|d| {
                d.iter()
                    .filter(|(_, p)| p == peer)
                    .map(|(t, _)| t.clone())
                    .collect()
            })
            .unwrap_or_default();
        let now = unix_now();
        ids.into_iter()
            .filter(|id| {
                self.trace(id).is_ok_and(|t| {
                    t.deadline > now
                        && !t.final_at.contains_key(&peer_s)
                        && t.asked.iter().any(|a| {
                            a.peer == peer_s && (a.unreachable.is_some() || !handed.contains(id))
                        })
                })
            })
            .collect()
    }
}
