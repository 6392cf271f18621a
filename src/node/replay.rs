//! The replay guard, kept on disk so that a restart does not reopen it: a
//! query answered before a restart is refused as a replay after it.
//!
//! Each id is written in the same sled log as the audit entry of its answer,
//! without a flush of its own: the answer's flush makes it durable, so an
//! answered query's id is on disk whenever its answer could have left. Ids are
//! bounded per State by [`ReplayQuotas`] and dropped from disk once expired.

use std::sync::Mutex;

use crate::model::CountryCode;
use crate::protocol::{QueryId, ReplayError, ReplayQuotas};

/// Live query ids remembered per State, in memory and in the `replay` tree;
/// the ids this node's policy stayed silent on also in `replay_silenced`.
pub struct ReplayStore {
    quotas: Mutex<ReplayQuotas>,
    /// Every live id ([`key`]), with the signed answer given to it (empty
    /// when none was, or not yet).
    tree: sled::Tree,
    /// The ids of `tree` this node's policy stayed silent on, under the same
    /// key, with an empty value. A tree of their own, so that no value of
    /// `tree` is anything but an answer frame or empty (a build older than
    /// this tree reads every non-empty value there as an answer to replay).
    silenced: sled::Tree,
}

/// What the build of 6008737 kept in `replay` in place of an answer where
/// its policy stayed silent; moved to `replay_silenced` on open. No answer
/// frame is this short (a frame carries a 64-byte signature).
const LEGACY_SILENCE: &[u8] = b"policy_silent";

/// Key: expiry (u64 big-endian, so that a range scan finds the expired),
/// State (2 bytes), query id (16 bytes).
fn key(expires_at: u64, state: CountryCode, id: &QueryId) -> [u8; 26] {
    let mut k = [0u8; 26];
    k[..8].copy_from_slice(&expires_at.to_be_bytes());
    k[8..10].copy_from_slice(&state.as_bytes());
    k[10..].copy_from_slice(&id.0);
    k
}

/// The parts of a [`key`]; `None` for a key of another shape (a damaged
/// store).
fn parse_key(k: &[u8]) -> Option<(u64, CountryCode, QueryId)> {
    if k.len() != 26 {
        return None;
    }
    let exp = u64::from_be_bytes(k[..8].try_into().ok()?);
    let state = CountryCode::parse(std::str::from_utf8(&k[8..10]).ok()?).ok()?;
    let id = QueryId(k[10..].try_into().ok()?);
    Some((exp, state, id))
}

impl ReplayStore {
    /// Opens the tree, drops expired ids and loads the live ones. A key of the
    /// wrong shape (a damaged store) is dropped with a warning: forgetting it
    /// can at worst let one expired query through again, which freshness
    /// refuses anyway.
    pub fn open(db: &sled::Db, per_state: usize, now: u64) -> Result<Self, sled::Error> {
        let tree = db.open_tree("replay")?;
        let silenced = db.open_tree("replay_silenced")?;
        let mut quotas = ReplayQuotas::new(per_state);
        let mut dropped = 0u64;
        for kv in tree.iter() {
            let (k, v) = kv?;
            match parse_key(&k) {
                Some((exp, state, id)) if exp >= now => {
                    // Every live id is kept, past a per-State bound lowered
                    // since it was remembered (forgetting it would let its
                    // query be replayed); that State's new queries are
                    // refused until it is under the bound again.
                    quotas.restore(state, id, exp);
                    if v == LEGACY_SILENCE {
                        silenced.insert(&k, &[])?;
                        tree.insert(&k, &[])?;
                    }
                }
                _ => {
                    tree.remove(&k)?;
                    dropped += 1;
                }
            }
        }
        // A silence whose id is gone (expired, forgotten, or dropped above)
        // is forgotten with it.
        for kv in silenced.iter() {
            let (k, _) = kv?;
            if !tree.contains_key(&k)? {
                silenced.remove(&k)?;
            }
        }
        if dropped > 0 {
            tracing::debug!(dropped, "replay-guard entries removed: expired or damaged");
        }
        Ok(ReplayStore {
            quotas: Mutex::new(quotas),
            tree,
            silenced,
        })
    }

    /// Whether `state`'s query `id` was seen and is still live.
    pub fn contains(&self, state: CountryCode, id: &QueryId, now: u64) -> bool {
        self.lock().contains(state, id, now)
    }

    /// Remembers a query id until it expires, in memory and on disk (flushed
    /// by the caller together with the query's audit entry).
    pub fn remember(
        &self,
        state: CountryCode,
        id: QueryId,
        expires_at: u64,
        now: u64,
    ) -> Result<Result<(), ReplayError>, sled::Error> {
        let r = self.lock().remember(state, id, expires_at, now);
        if r.is_ok() {
            self.tree.insert(key(expires_at, state, &id), &[])?;
        }
        Ok(r)
    }

    /// Keeps the signed answer given to `state`'s query `id` beside its id,
    /// so that the requester's retry gets the same answer after a restart
    /// (never a second one). Written unflushed; a failure only loses that
    /// convenience, so it is logged, not returned.
    pub fn keep_answer(&self, state: CountryCode, id: QueryId, answer: &[u8], now: u64) {
        let Some(exp) = self.lock().expiry_of(state, &id).filter(|&e| e >= now) else {
            return;
        };
        if let Err(e) = self.tree.insert(key(exp, state, &id), answer) {
            tracing::warn!(error = %e, "cannot keep an answer beside its replay id");
        }
    }

    /// Notes that this node's policy stayed silent on `state`'s live query
    /// `id` (in `replay_silenced`), so that the requester's retry is told
    /// `not_answered` again, after a restart too, and not `replayed`.
    /// Written unflushed, made durable by the audit flush that records the
    /// silence; a failure is logged, not returned.
    pub fn keep_silence(&self, state: CountryCode, id: QueryId, now: u64) {
        let Some(k) = self.live_key(state, &id, now) else {
            return;
        };
        if let Err(e) = self.silenced.insert(k, &[]) {
            tracing::warn!(error = %e, "cannot keep a silence beside its replay id");
        }
    }

    /// Whether this node's policy stayed silent on `state`'s live query `id`
    /// ([`Self::keep_silence`]).
    pub fn silenced(&self, state: CountryCode, id: &QueryId, now: u64) -> bool {
        self.live_key(state, id, now)
            .is_some_and(|k| self.silenced.contains_key(k).unwrap_or(false))
    }

    /// The answer kept for `state`'s live query `id`, if any.
    pub fn answer_of(&self, state: CountryCode, id: &QueryId, now: u64) -> Option<Vec<u8>> {
        let k = self.live_key(state, id, now)?;
        self.tree
            .get(k)
            .ok()?
            .filter(|v| !v.is_empty())
            .map(|v| v.to_vec())
    }

    /// The key of `state`'s query `id` while it is live.
    fn live_key(&self, state: CountryCode, id: &QueryId, now: u64) -> Option<[u8; 26]> {
        let exp = self.lock().expiry_of(state, id).filter(|&e| e >= now)?;
        Some(key(exp, state, id))
    }

    /// Forgets `state`'s query `id`: it was not answered (a lookup or
    /// signature failed), so its requester's retry must be able to pass.
    pub fn forget(&self, state: CountryCode, id: &QueryId) {
        let exp = {
            let mut q = self.lock();
            let exp = q.expiry_of(state, id);
            q.forget(state, id);
            exp
        };
        if let Some(exp) = exp {
            let k = key(exp, state, id);
            // Both tried: a silence left alone would answer a new ask of
            // this id `not_answered`.
            for r in [self.silenced.remove(k), self.tree.remove(k)] {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "cannot forget a replay id");
                }
            }
        }
    }

    /// Removes expired ids, and the silences kept beside them, from disk
    /// (memory forgets them on its own). Returns how many ids.
    pub fn purge(&self, now: u64) -> Result<usize, sled::Error> {
        let mut n = 0;
        for kv in self.tree.range(..now.to_be_bytes().to_vec()) {
            let (k, _) = kv?;
            self.tree.remove(k)?;
            n += 1;
        }
        for kv in self.silenced.range(..now.to_be_bytes().to_vec()) {
            let (k, _) = kv?;
            self.silenced.remove(k)?;
        }
        Ok(n)
    }

    /// Seconds from `now` until a slot of `state`'s quota frees.
    pub fn retry_after(&self, state: CountryCode, now: u64) -> u32 {
        let next = self.lock().next_expiry(state).unwrap_or(now);
        u32::try_from(next.saturating_sub(now).saturating_add(1)).unwrap_or(u32::MAX)
    }

    /// Live ids remembered for `state`.
    #[cfg(test)]
    pub fn len_of(&self, state: CountryCode) -> usize {
        self.lock().len_of(state)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplayQuotas> {
        // The quotas stay whole if a holder panicked: keep using them.
        self.quotas.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_seen_before_a_restart_is_still_a_replay_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let de = CountryCode::parse("DE").unwrap();
        let id = QueryId([7; 16]);
        // sled's I/O threads may hold the file lock a moment after the
        // first Db is dropped: the reopen waits for it.
        let open = crate::registry::tests::open_db;
        {
            let db = open(dir.path()).unwrap();
            let r = ReplayStore::open(&db, 10, 100).unwrap();
            r.remember(de, id, 500, 100).unwrap().unwrap();
            r.remember(de, QueryId([8; 16]), 150, 100).unwrap().unwrap();
            db.flush().unwrap();
        }
        let db = open(dir.path()).unwrap();
        let r = ReplayStore::open(&db, 10, 200).unwrap();
        assert!(r.contains(de, &id, 200));
        assert!(matches!(
            r.remember(de, id, 500, 200).unwrap(),
            Err(ReplayError::Replayed(_))
        ));
        // The one that expired at 150 was dropped on open.
        assert_eq!(r.len_of(de), 1);
        // An answer kept beside its id survives a restart; a forgotten id
        // lets its query through again.
        r.keep_answer(de, id, b"signed answer", 200);
        assert_eq!(r.answer_of(de, &id, 200), Some(b"signed answer".to_vec()));
        r.forget(de, &id);
        assert!(!r.contains(de, &id, 200));
        r.remember(de, id, 500, 200).unwrap().unwrap();
        assert_eq!(r.answer_of(de, &id, 200), None);
        assert_eq!(r.tree.len(), 1);
        assert_eq!(r.purge(501).unwrap(), 1);
        assert!(r.tree.is_empty());
    }

    #[test]
    fn a_silence_kept_beside_its_id_survives_a_restart_and_is_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let de = CountryCode::parse("DE").unwrap();
        let (silent, answered) = (QueryId([1; 16]), QueryId([2; 16]));
        let open = crate::registry::tests::open_db;
        {
            let db = open(dir.path()).unwrap();
            let r = ReplayStore::open(&db, 10, 100).unwrap();
            r.remember(de, silent, 500, 100).unwrap().unwrap();
            r.remember(de, answered, 500, 100).unwrap().unwrap();
            r.keep_silence(de, silent, 100);
            r.keep_answer(de, answered, b"signed answer", 100);
            db.flush().unwrap();
        }
        let db = open(dir.path()).unwrap();
        let r = ReplayStore::open(&db, 10, 200).unwrap();
        assert!(r.silenced(de, &silent, 200));
        assert_eq!(r.answer_of(de, &silent, 200), None);
        assert!(!r.silenced(de, &answered, 200));
        assert_eq!(
            r.answer_of(de, &answered, 200),
            Some(b"signed answer".to_vec())
        );
        // What a build without `replay_silenced` reads: no answer to replay.
        assert_eq!(
            r.tree.get(key(500, de, &silent)).unwrap().unwrap(),
            b"".as_slice()
        );
        // Expired, it is forgotten like any id, its silence too.
        assert!(!r.silenced(de, &silent, 501));
        assert_eq!(r.purge(501).unwrap(), 2);
        assert!(r.silenced.is_empty());
        // An id never remembered keeps nothing.
        r.keep_silence(de, QueryId([3; 16]), 200);
        assert!(!r.silenced(de, &QueryId([3; 16]), 200));
    }

    #[test]
    fn a_silence_kept_in_the_replay_tree_by_an_older_build_is_moved_and_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let de = CountryCode::parse("DE").unwrap();
        let id = QueryId([4; 16]);
        let open = crate::registry::tests::open_db;
        {
            let db = open(dir.path()).unwrap();
            db.open_tree("replay")
                .unwrap()
                .insert(key(500, de, &id), LEGACY_SILENCE)
                .unwrap();
            db.flush().unwrap();
        }
        let db = open(dir.path()).unwrap();
        let r = ReplayStore::open(&db, 10, 200).unwrap();
        assert!(r.contains(de, &id, 200));
        assert!(r.silenced(de, &id, 200));
        assert_eq!(r.answer_of(de, &id, 200), None);
        assert_eq!(
            r.tree.get(key(500, de, &id)).unwrap().unwrap(),
            b"".as_slice()
        );
    }

    #[test]
    fn open_keeps_no_silence_without_its_live_id() {
        let dir = tempfile::tempdir().unwrap();
        let de = CountryCode::parse("DE").unwrap();
        let (expired, orphan, over, kept) = (
            QueryId([6; 16]),
            QueryId([7; 16]),
            QueryId([8; 16]),
            QueryId([9; 16]),
        );
        let open = crate::registry::tests::open_db;
        {
            let db = open(dir.path()).unwrap();
            let replay = db.open_tree("replay").unwrap();
            let silenced = db.open_tree("replay_silenced").unwrap();
            // An expired marker of 6008737's build; a silence whose id is
            // gone; two live silent ids for a quota lowered to one.
            replay
                .insert(key(150, de, &expired), LEGACY_SILENCE)
                .unwrap();
            silenced.insert(key(500, de, &orphan), &[]).unwrap();
            for id in [&kept, &over] {
                replay.insert(key(500, de, id), &[]).unwrap();
                silenced.insert(key(500, de, id), &[]).unwrap();
            }
            db.flush().unwrap();
        }
        let db = open(dir.path()).unwrap();
        let r = ReplayStore::open(&db, 1, 200).unwrap();
        assert!(!r.contains(de, &expired, 200));
        assert!(!r.silenced(de, &expired, 200));
        // Both live ids are kept past the lowered quota, with their
        // silences: forgetting one would let its query be replayed (a
        // review). The State's new queries wait until it is under its
        // quota again.
        for id in [&kept, &over] {
            assert!(r.contains(de, id, 200));
            assert!(r.silenced(de, id, 200));
        }
        assert_eq!(r.tree.len(), 2);
        assert_eq!(r.silenced.len(), 2, "only the live ids keep their silence");
        assert!(matches!(
            r.remember(de, QueryId([10; 16]), 600, 200).unwrap(),
            Err(ReplayError::Full { .. })
        ));
        assert!(matches!(
            r.remember(de, kept, 600, 200).unwrap(),
            Err(ReplayError::Replayed(_))
        ));
        // Once they expire, a slot frees.
        r.remember(de, QueryId([10; 16]), 900, 501)
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_forgotten_id_forgets_its_silence() {
        let dir = tempfile::tempdir().unwrap();
        let de = CountryCode::parse("DE").unwrap();
        let id = QueryId([5; 16]);
        let db = crate::registry::tests::open_db(dir.path()).unwrap();
        let r = ReplayStore::open(&db, 10, 100).unwrap();
        r.remember(de, id, 500, 100).unwrap().unwrap();
        r.keep_silence(de, id, 100);
        r.forget(de, &id);
        assert!(r.silenced.is_empty());
        r.remember(de, id, 500, 100).unwrap().unwrap();
        assert!(!r.silenced(de, &id, 100));
    }
}
