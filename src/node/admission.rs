//! The responder's bounded memory of what it was sent: the answer cache, the
//! tally of refusals and each peer's standing. Each is bounded per State or
//! per peer, so that one flooding member fills its own share and nobody
//! else's, and each is tested here without a swarm.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use lru::LruCache;

use crate::model::CountryCode;
use crate::protocol::{Digest, PublicKey, Refusal};

/// How many gossiped frames [`CheckedFrames`] remembers: the queries of the
/// last minutes at a busy holder's rate, each 32 bytes (about 130 KiB).
pub const CHECKED_FRAMES_KEPT: usize = 4096;

/// Gossiped query frames this node has checked (signature, roster,
/// freshness) and admitted, or found to be a query it already had: by the
/// SHA-256 of their bytes. A query is published once per topic it concerns,
/// the same bytes on each, and a holder subscribed to several topics reads
/// it once per topic. The copy on the second topic is ignored like any copy
/// of a query already seen, without its signature being checked again: only
/// the very bytes checked can match, and ignoring a message neither
/// forwards, answers nor charges it. Bounded (LRU): a frame evicted is only
/// checked again.
#[derive(Debug)]
pub struct CheckedFrames(LruCache<Digest, ()>);

impl CheckedFrames {
    pub fn new(capacity: usize) -> Self {
        CheckedFrames(LruCache::new(
            NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
        ))
    }

    /// Remembers a frame checked and admitted (or found seen).
    pub fn remember(&mut self, frame: Digest) {
        self.0.put(frame, ());
    }

    /// Whether these very bytes were checked and admitted lately.
    pub fn contains(&mut self, frame: &Digest) -> bool {
        self.0.get(frame).is_some()
    }
}

/// The gossiped query frames checked here lately ([`CheckedFrames`]), and a
/// turn for each frame while it is checked. Two copies of the same bytes
/// read at once (the query on two of its topics, or under `strict`
/// validation two messages of the same bytes) take their turns: the second
/// waits until the first is checked, then is a copy of bytes admitted, or
/// is checked itself if the first was not kept (shed for this node's load,
/// a quota, the clock, or refused: [`GossipChecks::check_once`]'s `keep`).
/// Without the turn both were checked, the requester's rate limit charged
/// twice, and the second relayed as a query already seen.
///
/// A turn is the frame's own (its SHA-256), held only while a check of
/// those bytes runs: different frames never wait for each other, whatever
/// digests a sender grinds for, and the turns held are at most the checks
/// running (the node's concurrency bound).
#[derive(Debug)]
pub struct GossipChecks {
    checked: Mutex<CheckedFrames>,
    turns: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
}

impl GossipChecks {
    /// Remembers up to `capacity` frames ([`CHECKED_FRAMES_KEPT`]).
    pub fn new(capacity: usize) -> Self {
        GossipChecks {
            checked: Mutex::new(CheckedFrames::new(capacity)),
            turns: Mutex::default(),
        }
    }

    /// Checks the gossiped `frame` once: `None` for a copy of bytes
    /// admitted lately (not checked again); otherwise `check`'s outcome,
    /// remembered for later copies when `keep` says it holds for every copy
    /// (admitted, or a query already had). A copy of the same bytes being
    /// checked on another thread is waited for first. Blocking: for the
    /// threads queries are checked on.
    pub fn check_once<A>(
        &self,
        frame: Digest,
        check: impl FnOnce() -> A,
        keep: impl FnOnce(&A) -> bool,
    ) -> Option<A> {
        if self.admitted(&frame) {
            return None;
        }
        let held = TurnHeld {
            turns: &self.turns,
            frame,
            turn: Some(
                self.turns
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(frame)
                    .or_default()
                    .clone(),
            ),
        };
        // A check that panicked leaves the turn poisoned, and its frame
        // unremembered: the next copy is checked in full. Dropped before
        // `held`, which lets the turn go, panic or not.
        let _turn = held
            .turn
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(PoisonError::into_inner));
        if self.admitted(&frame) {
            return None;
        }
        let outcome = check();
        if keep(&outcome)
            && let Ok(mut c) = self.checked.lock()
        {
            c.remember(frame);
        }
        Some(outcome)
    }

    /// Whether these bytes were admitted lately.
    fn admitted(&self, frame: &Digest) -> bool {
        self.checked.lock().is_ok_and(|mut c| c.contains(frame))
    }

    /// How many turns are held (checks of distinct frames running).
    #[cfg(test)]
    fn turns_held(&self) -> usize {
        self.turns.lock().map_or(0, |t| t.len())
    }
}

/// A reference to a frame's turn ([`GossipChecks`]), let go on drop: under
/// the map's lock, where every reference is taken, so that the last holder
/// sees itself last and takes the turn out of the map (a copy that took the
/// turn meanwhile holds a reference of its own, and does so itself).
struct TurnHeld<'a> {
    turns: &'a Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
    frame: Digest,
    turn: Option<Arc<Mutex<()>>>,
}

impl Drop for TurnHeld<'_> {
    fn drop(&mut self) {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(turn) = self.turn.take() {
            let last = Arc::strong_count(&turn) == 2;
            drop(turn);
            if last {
                turns.remove(&self.frame);
            }
        }
    }
}

/// Answers this node signed, kept for the requester's retries. Keyed by
/// (query digest, requester key): an answer is only ever handed again to the
/// State it was decided for. One LRU per requesting State, so that a State
/// sending many queries evicts its own answers, not another's. Each is kept
/// until its query expires (a retry after that is refused stale before it
/// is looked up): [`AnswerCache::expire`] lets the rest go, so the cache
/// holds what a State asked within a query's life, not its whole history.
#[derive(Debug)]
pub struct AnswerCache {
    per_state: NonZeroUsize,
    by_state: HashMap<CountryCode, LruCache<(Digest, PublicKey), Kept>>,
}

/// An answer kept: the unix second after which it is not handed again, and
/// its signed frame.
type Kept = (u64, Vec<u8>);

impl AnswerCache {
    pub fn new(per_state: usize) -> Self {
        AnswerCache {
            per_state: NonZeroUsize::new(per_state).unwrap_or(NonZeroUsize::MIN),
            by_state: HashMap::new(),
        }
    }

    /// Keeps (replacing) the answer to `query` for `requester`, until unix
    /// second `until` (the query's expiry).
    pub fn put(
        &mut self,
        state: CountryCode,
        query: Digest,
        requester: PublicKey,
        answer: Vec<u8>,
        until: u64,
    ) {
        let cap = self.per_state;
        self.by_state
            .entry(state)
            .or_insert_with(|| LruCache::new(cap))
            .put((query, requester), (until, answer));
    }

    /// The answer kept for this requester's query, if any and not expired
    /// at `now`.
    pub fn get(
        &mut self,
        state: CountryCode,
        query: Digest,
        requester: PublicKey,
        now: u64,
    ) -> Option<Vec<u8>> {
        self.by_state
            .get_mut(&state)?
            .get(&(query, requester))
            .filter(|(until, _)| *until >= now)
            .map(|(_, a)| a.clone())
    }

    /// Lets go of every answer expired at `now`, and of the States left
    /// with none; returns how many answers went.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut gone = 0;
        for lru in self.by_state.values_mut() {
            let expired: Vec<_> = lru
                .iter()
                .filter(|(_, (until, _))| *until < now)
                .map(|(k, _)| *k)
                .collect();
            gone += expired.len();
            for k in expired {
                lru.pop(&k);
            }
        }
        self.by_state.retain(|_, lru| !lru.is_empty());
        gone
    }
}

/// Refusals counted per (peer, rule) between two audit tallies. The first of
/// each (peer, rule) in an interval is written to the audit log at once, so
/// that it shows without delay; the rest become one entry with a count at the
/// end of the interval. A flood of bad frames thus costs the log two lines per
/// peer and rule and interval, not a line per frame.
#[derive(Debug, Default)]
pub struct RefusalTally {
    counts: HashMap<(String, &'static str), Tally>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub state: Option<CountryCode>,
    pub code: Refusal,
    /// Refusals after the first of the interval.
    pub count: u64,
}

/// The most (peer, rule) pairs held between two flushes: past it, refusals
/// are still counted under one shared key, never dropped.
const MAX_TALLIES: usize = 4096;

impl RefusalTally {
    /// Counts one refusal under `rule` (the audit's word for it); returns true
    /// when it is the first of its (peer, rule) since the last flush: the
    /// caller writes that one at once and may log it.
    pub fn count(
        &mut self,
        peer: &str,
        state: Option<CountryCode>,
        code: Refusal,
        rule: &'static str,
    ) -> bool {
        let known = self.counts.contains_key(&(peer.to_string(), rule));
        let key = if self.counts.len() >= MAX_TALLIES && !known {
            ("(many peers)".to_string(), rule)
        } else {
            (peer.to_string(), rule)
        };
        match self.counts.get_mut(&key) {
            Some(t) => {
                t.count += 1;
                false
            }
            None => {
                self.counts.insert(
                    key,
                    Tally {
                        state,
                        code,
                        count: 0,
                    },
                );
                true
            }
        }
    }

    /// Takes the counts gathered since the last call (those beyond the first
    /// of each pair; pairs with none are left out).
    pub fn take(&mut self) -> Vec<((String, &'static str), Tally)> {
        let mut v: Vec<_> = self.counts.drain().filter(|(_, t)| t.count > 0).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// How many hostile refusals (see [`Refusal::is_hostile`]) a peer may cause in
/// one window before it is disconnected and ignored for the cool-down.
#[derive(Debug, Clone, Copy)]
pub struct StandingRules {
    pub threshold: u32,
    pub window: Duration,
    pub cool_down: Duration,
}

impl Default for StandingRules {
    fn default() -> Self {
        StandingRules {
            threshold: 50,
            window: Duration::from_secs(60),
            cool_down: Duration::from_secs(600),
        }
    }
}

/// Request-response misbehaviour per peer (gossip has its own peer scores).
#[derive(Debug, Default)]
pub struct PeerStanding {
    rules: StandingRules,
    peers: HashMap<PeerId, Standing>,
}

#[derive(Debug, Clone, Copy)]
struct Standing {
    window_start: Instant,
    strikes: u32,
    cooling_until: Option<Instant>,
}

/// What to do after a strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// The threshold was just crossed: disconnect the peer now.
    CoolDown,
}

impl PeerStanding {
    pub fn new(rules: StandingRules) -> Self {
        PeerStanding {
            rules,
            peers: HashMap::new(),
        }
    }

    /// Whether `peer` is cooling down at `now` (its requests are refused
    /// without being decoded).
    pub fn is_cooling(&self, peer: &PeerId, now: Instant) -> bool {
        self.peers
            .get(peer)
            .and_then(|s| s.cooling_until)
            .is_some_and(|until| now < until)
    }

    /// Records a hostile refusal of `peer`'s request.
    pub fn strike(&mut self, peer: PeerId, now: Instant) -> Verdict {
        // Bounded: peers are roster members (others cannot connect), but old
        // entries go when the map grows, to hold even if that ever changed.
        if self.peers.len() >= 10_000 {
            let rules = self.rules;
            self.peers.retain(|_, s| {
                s.cooling_until.is_some_and(|u| u > now)
                    || now.duration_since(s.window_start) < rules.window
            });
        }
        let rules = self.rules;
        let s = self.peers.entry(peer).or_insert(Standing {
            window_start: now,
            strikes: 0,
            cooling_until: None,
        });
        if now.duration_since(s.window_start) >= rules.window {
            s.window_start = now;
            s.strikes = 0;
        }
        s.strikes += 1;
        if s.strikes == rules.threshold {
            s.cooling_until = Some(now + rules.cool_down);
            Verdict::CoolDown
        } else {
            Verdict::Keep
        }
    }

    /// Peers cooling down now.
    pub fn cooling(&self, now: Instant) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.cooling_until.is_some_and(|u| now < u))
            .map(|(p, _)| *p)
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    fn key(b: u8) -> PublicKey {
        crate::protocol::SigningKey::from_seed(&[b; 32])
            .unwrap()
            .public_key()
    }

    /// Runs `check_once` on `copies` threads at once for the same frame,
    /// each check slow enough that all are read before the first ends;
    /// `keep` sees which check this was (0 the first). Returns how many
    /// checks ran and how many copies came back checked.
    fn read_at_once(copies: usize, keep: fn(usize) -> bool) -> (usize, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let checks = GossipChecks::new(16);
        let ran = AtomicUsize::new(0);
        let start = std::sync::Barrier::new(copies);
        let frame = Digest::of(b"a query's bytes");
        let checked = std::thread::scope(|s| {
            let threads: Vec<_> = (0..copies)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        checks.check_once(
                            frame,
                            || {
                                let n = ran.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(30));
                                n
                            },
                            |n| keep(*n),
                        )
                    })
                })
                .collect();
            threads
                .into_iter()
                .filter_map(|t| t.join().expect("no check panics"))
                .count()
        });
        assert_eq!(checks.turns_held(), 0, "a turn outlived its checks");
        (ran.load(Ordering::SeqCst), checked)
    }

    /// Copies of a query's bytes read at once are checked once: the rest
    /// wait for the first and are copies (before, each was checked, and
    /// its requester charged, while the first was being checked). A first
    /// check not kept (shed) leaves the next copy to be checked.
    #[test]
    fn copies_read_at_once_are_checked_once_unless_the_first_is_shed() {
        assert_eq!(read_at_once(8, |_| true), (1, 1));
        assert_eq!(read_at_once(8, |n| n > 0), (2, 2), "the first was shed");
        assert_eq!(read_at_once(3, |_| false), (3, 3), "each was shed");
        // Another frame is not a copy, and no turn outlives its checks.
        let checks = GossipChecks::new(16);
        assert_eq!(checks.check_once(Digest::of(b"a"), || 1, |_| true), Some(1));
        assert_eq!(checks.check_once(Digest::of(b"a"), || 2, |_| true), None);
        assert_eq!(checks.check_once(Digest::of(b"b"), || 3, |_| true), Some(3));
        assert_eq!(checks.turns_held(), 0);
    }

    /// Checks of different frames run at once: none waits for another's
    /// turn, even two whose digests begin alike (a sender grinding digests
    /// cannot line them up, as it could when turns were picked by the
    /// digest's first byte); and a check that panics lets its turn go.
    #[test]
    fn checks_of_different_frames_do_not_wait_for_each_other() {
        let checks = GossipChecks::new(16);
        let frame = |i: u32| Digest::of(&i.to_le_bytes());
        let first = frame(0);
        let second = (1..)
            .map(frame)
            .find(|d| d.as_bytes()[0] == first.as_bytes()[0])
            .expect("a digest beginning alike");
        let (inside, release) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        let (done, ran) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let held = s.spawn(|| {
                checks.check_once(
                    first,
                    || {
                        inside.wait();
                        // Held until the second frame's check has run.
                        release.wait();
                    },
                    |_| true,
                )
            });
            inside.wait();
            assert_eq!(checks.turns_held(), 1);
            let checks = &checks;
            s.spawn(move || {
                let _ = done.send(checks.check_once(second, || 2, |_| true));
            });
            let outcome = ran.recv_timeout(Duration::from_secs(60));
            release.wait();
            assert_eq!(
                outcome,
                Ok(Some(2)),
                "the second frame waited on the first's turn"
            );
            assert_eq!(held.join().unwrap(), Some(()));
        });
        assert_eq!(checks.turns_held(), 0);
        let third = Digest::of(b"a frame whose check panics");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            checks.check_once(third, || panic!("a check's fault"), |_: &()| true)
        }));
        assert!(panicked.is_err());
        assert_eq!(checks.turns_held(), 0, "a panicked check kept its turn");
        assert_eq!(
            checks.check_once(third, || 3, |_| true),
            Some(3),
            "checked again"
        );
    }

    #[test]
    fn a_cached_answer_is_only_for_its_requester_and_a_flood_evicts_only_its_own() {
        let mut c = AnswerCache::new(2);
        let q = Digest::of(b"query");
        c.put(cc("NG"), q, key(1), b"answer for NG".to_vec(), 100);
        assert_eq!(
            c.get(cc("NG"), q, key(1), 0),
            Some(b"answer for NG".to_vec())
        );
        // Another State presenting the same query digest gets nothing.
        assert_eq!(c.get(cc("ZA"), q, key(2), 0), None);
        assert_eq!(c.get(cc("NG"), q, key(2), 0), None);
        // ZA floods: its own entries are evicted, NG's stays.
        for i in 0..1000u32 {
            c.put(cc("ZA"), Digest::of(&i.to_le_bytes()), key(2), vec![0], 100);
        }
        assert_eq!(
            c.get(cc("NG"), q, key(1), 0),
            Some(b"answer for NG".to_vec())
        );
        // A decision replaces the acknowledgement kept before it.
        c.put(cc("NG"), q, key(1), b"decided".to_vec(), 100);
        assert_eq!(c.get(cc("NG"), q, key(1), 0), Some(b"decided".to_vec()));
    }

    /// An answer is kept until its query expires, then neither handed again
    /// nor held: a State's answers of last month are not in memory.
    #[test]
    fn a_cached_answer_goes_when_its_query_expires() {
        let mut c = AnswerCache::new(10);
        let (old, fresh) = (Digest::of(b"old"), Digest::of(b"fresh"));
        c.put(cc("NG"), old, key(1), b"old".to_vec(), 100);
        c.put(cc("NG"), fresh, key(1), b"fresh".to_vec(), 200);
        c.put(cc("ZA"), old, key(2), b"ZA's".to_vec(), 150);
        assert_eq!(c.get(cc("NG"), old, key(1), 100), Some(b"old".to_vec()));
        assert_eq!(c.get(cc("NG"), old, key(1), 101), None, "expired");
        assert_eq!(c.expire(160), 2);
        assert_eq!(c.by_state.len(), 1, "ZA, left with none, is let go");
        assert_eq!(c.get(cc("NG"), fresh, key(1), 160), Some(b"fresh".to_vec()));
        assert_eq!(c.expire(201), 1);
        assert!(c.by_state.is_empty());
    }

    #[test]
    fn refusals_are_tallied_per_peer_and_code() {
        let mut t = RefusalTally::default();
        let m = Refusal::Malformed;
        assert!(t.count("p1", None, m, m.code()));
        for _ in 0..9_999 {
            assert!(!t.count("p1", None, m, m.code()));
        }
        let b = Refusal::BadSignature;
        assert!(t.count("p1", None, b, b.code()));
        // The first of each pair was written at once: the tally has the rest.
        let taken = t.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1.count, 9_999);
        assert!(t.take().is_empty());
        // A new interval writes the first again.
        assert!(t.count("p1", None, m, m.code()));
        // Bounded whatever the number of peers.
        for i in 0..(MAX_TALLIES + 100) {
            t.count(&format!("peer{i}"), None, m, m.code());
        }
        assert!(t.counts.len() <= MAX_TALLIES + 1);
    }

    #[test]
    fn a_peer_over_the_threshold_cools_down_and_comes_back() {
        let rules = StandingRules {
            threshold: 3,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(60),
        };
        let mut s = PeerStanding::new(rules);
        let p = PeerId::random();
        let t = Instant::now();
        assert_eq!(s.strike(p, t), Verdict::Keep);
        assert_eq!(s.strike(p, t), Verdict::Keep);
        assert!(!s.is_cooling(&p, t));
        assert_eq!(s.strike(p, t), Verdict::CoolDown);
        assert!(s.is_cooling(&p, t + Duration::from_secs(59)));
        assert_eq!(s.cooling(t), vec![p]);
        assert!(!s.is_cooling(&p, t + Duration::from_secs(61)));
        // Strikes spread over windows never add up.
        let q = PeerId::random();
        for i in 0..10 {
            assert_eq!(s.strike(q, t + Duration::from_secs(11 * i)), Verdict::Keep);
        }
    }
}
