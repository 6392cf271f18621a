//! The traces in sled. A trace is kept as three parts, so that filing one
//! answer writes that answer and a small head, never the whole trace again
//! (the work of a trace stays linear in its holders):
//! - `traces`: id → the trace's head as JSON (who was asked, deadlines, the
//!   verdict on each answer), without the answers' frames;
//! - `trace_answers`: id, `/`, a sequence number (u64 big-endian, from sled's
//!   monotonic ids: the order of filing) → one answer as JSON;
//! - `traces_by_time`: creation instant (u64 big-endian), id → nothing: the
//!   index that lists traces newest first a page at a time.
//!
//! Stores written before this layout (answers inside the trace's JSON) are
//! rewritten once, at open.
//!
//! Heads are read on every answer, every status view and every wake of a
//! waiting API call, and a head grows with the holders asked. The store keeps
//! the last heads it decoded ([`HEADS_KEPT`]), each with the exact bytes it was
//! decoded from: a read whose stored bytes are those bytes reuses the decoded
//! head. A head written by any path (this process or another writer of the same
//! bytes) is seen as soon as it is stored, since the bytes are compared on
//! every read, so the cache can never serve a head that is not the one stored.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use sled::IVec;

use super::{Filed, StoredAnswer, StoredTrace};
use crate::protocol::Limits;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceStoreError {
    #[error("trace storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("stored trace {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
}

/// The traces trees.
#[derive(Clone)]
pub struct TraceStore {
    db: sled::Db,
    tree: sled::Tree,
    answers: sled::Tree,
    by_time: sled::Tree,
    heads: Arc<Mutex<lru::LruCache<String, DecodedHead>>>,
}

/// A head as decoded, with the stored bytes it was decoded from.
type DecodedHead = (IVec, Arc<StoredTrace>);

/// How many decoded heads the store keeps: the traces pending at once on a
/// busy unit, with room to spare. A head whose holders each acknowledged and
/// answered was measured at 36 KiB stored and 44 KiB decoded for 50 holders,
/// 143 and 175 KiB for 200: the cache holds up to about 20 MiB at 50 holders,
/// 78 MiB at 200 (less where the stored bytes are still sled's own).
pub const HEADS_KEPT: usize = 256;

#[cfg(test)]
thread_local! {
    /// Stored traces decoded on this thread: how the tests see the cache.
    pub(super) static HEADS_DECODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The limits the rewrite of an older store decoded its answers under, to
/// give each a verdict; [`TraceStore::answers_of`] tells by them which
/// answers without a verdict it moved.
const REWRITE_LIMITS: Limits = Limits {
    max_frame: 64 * 1024,
};

/// The key of the layout's version in the `trace_store` tree.
const LAYOUT_KEY: &[u8] = b"layout";
/// Answers in their own tree, verdicts in the head, the time index.
const LAYOUT: &[u8] = b"2";

/// Where a page of traces starts: after this trace (creation instant, id),
/// going back in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: u64,
    pub id: String,
}

impl Cursor {
    /// `SECONDS.ID`, as the API hands it out.
    pub fn to_text(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    /// Reads what [`Cursor::to_text`] wrote; `None` if it is not that shape.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (secs, id) = s.split_once('.')?;
        let id_ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        id_ok.then_some(Cursor {
            created_at: secs.parse().ok()?,
            id: id.to_string(),
        })
    }
}

fn time_key(created_at: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&created_at.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn answers_prefix(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 9);
    k.extend_from_slice(id.as_bytes());
    k.push(b'/');
    k
}

fn answer_key(id: &str, seq: u64) -> Vec<u8> {
    let mut k = answers_prefix(id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn corrupt(id: &str, e: impl std::fmt::Display) -> TraceStoreError {
    TraceStoreError::Corrupt {
        id: id.to_string(),
        reason: e.to_string(),
    }
}

fn encode_head(t: &StoredTrace) -> Result<Vec<u8>, TraceStoreError> {
    // The answers live in their own tree; the head never carries them.
    let bytes = if t.answers.is_empty() {
        serde_json::to_vec(t)
    } else {
        serde_json::to_vec(&StoredTrace {
            answers: Vec::new(),
            ..t.clone()
        })
    };
    bytes.map_err(|e| corrupt(&t.id, e))
}

impl TraceStore {
    pub fn open(db: &sled::Db) -> Result<Self, TraceStoreError> {
        let s = TraceStore {
            db: db.clone(),
            tree: db.open_tree("traces")?,
            answers: db.open_tree("trace_answers")?,
            by_time: db.open_tree("traces_by_time")?,
            heads: Arc::new(Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(HEADS_KEPT).unwrap_or(NonZeroUsize::MIN),
            ))),
        };
        let meta = db.open_tree("trace_store")?;
        if meta.get(LAYOUT_KEY)?.as_deref() != Some(LAYOUT) {
            s.rewrite_layout()?;
            meta.insert(LAYOUT_KEY, LAYOUT)?;
            db.flush()?;
        }
        Ok(s)
    }

    /// Moves the answers of traces stored before this layout into their own
    /// tree, keeps their verdicts in the head and indexes every trace by time.
    fn rewrite_layout(&self) -> Result<(), TraceStoreError> {
        let mut moved = 0usize;
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let mut t = Self::decode(&id, &v)?;
            self.by_time.insert(time_key(t.created_at, &t.id), &[])?;
            if t.answers.is_empty() {
                continue;
            }
            if t.filed.is_empty() {
                t.filed = t
                    .answers
                    .iter()
                    .filter_map(|a| Filed::of_frame(&a.peer, &a.bytes, REWRITE_LIMITS))
                    .collect();
            }
            for a in &t.answers {
                let seq = self.db.generate_id()?;
                let bytes = serde_json::to_vec(a).map_err(|e| corrupt(&id, e))?;
                self.answers.insert(answer_key(&id, seq), bytes)?;
            }
            self.tree.insert(&k, encode_head(&t)?)?;
            moved += 1;
        }
        if moved > 0 {
            tracing::info!(
                traces = moved,
                "stored traces rewritten: answers kept apart"
            );
        }
        Ok(())
    }

    fn decode(id: &str, v: &[u8]) -> Result<StoredTrace, TraceStoreError> {
        #[cfg(test)]
        HEADS_DECODED.with(|n| n.set(n.get() + 1));
        serde_json::from_slice(v).map_err(|e| corrupt(id, e))
    }

    /// Writes a trace (its head, its answers, its place in the time index)
    /// and waits until it is on disk: a trace reported sent survives a crash.
    pub fn put(&self, t: &StoredTrace) -> Result<(), TraceStoreError> {
        for a in &t.answers {
            let seq = self.db.generate_id()?;
            let bytes = serde_json::to_vec(a).map_err(|e| corrupt(&t.id, e))?;
            self.answers.insert(answer_key(&t.id, seq), bytes)?;
        }
        self.by_time.insert(time_key(t.created_at, &t.id), &[])?;
        self.tree.insert(t.id.as_bytes(), encode_head(t)?)?;
        self.tree.flush()?;
        Ok(())
    }

    /// A trace with its answers.
    pub fn get(&self, id: &str) -> Result<Option<StoredTrace>, TraceStoreError> {
        let Some(t) = self.head(id)? else {
            return Ok(None);
        };
        let mut t = Arc::unwrap_or_clone(t);
        t.answers = self.answers_of(&t)?;
        Ok(Some(t))
    }

    /// A trace without its answers' frames (`answers` empty; `filed` holds
    /// the verdict on each): what filing and status need. Shared with the
    /// store's cache of decoded heads: decoded only when its stored bytes
    /// changed since it was last read or written here.
    pub fn head(&self, id: &str) -> Result<Option<Arc<StoredTrace>>, TraceStoreError> {
        self.tree
            .get(id.as_bytes())?
            .map(|v| self.decode_head(id, &v))
            .transpose()
    }

    /// The head stored as `bytes`: the cached one if it was decoded from
    /// exactly these bytes, else decoded now and kept.
    fn decode_head(&self, id: &str, bytes: &IVec) -> Result<Arc<StoredTrace>, TraceStoreError> {
        if let Some(t) = self.cached(id, bytes) {
            return Ok(t);
        }
        let t = Arc::new(Self::decode(id, bytes)?);
        self.keep(id, bytes.clone(), t.clone());
        Ok(t)
    }

    fn cached(&self, id: &str, bytes: &[u8]) -> Option<Arc<StoredTrace>> {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        match heads.get(id) {
            Some((b, t)) if b.as_ref() == bytes => Some(t.clone()),
            _ => None,
        }
    }

    fn keep(&self, id: &str, bytes: IVec, t: Arc<StoredTrace>) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.put(id.to_string(), (bytes, t));
    }

    /// Whether a trace's head, as stored, contains `needle` (a peer id):
    /// a search of its bytes, without decoding it. A peer asked by the trace,
    /// or whose answer it filed, is always found; `false` means the trace
    /// does not concern it (and for a missing trace).
    pub fn head_mentions(&self, id: &str, needle: &[u8]) -> Result<bool, TraceStoreError> {
        Ok(self
            .tree
            .get(id.as_bytes())?
            .is_some_and(|v| !needle.is_empty() && v.windows(needle.len()).any(|w| w == needle)))
    }

    /// The answers `head` filed, in the order they were stored. An answer
    /// stored without its verdict in the head (see [`TraceStore::file_answer`]:
    /// a crash between its two writes) was never filed, and is left out, even
    /// before the trace's first verdict; so is a second copy of a frame. Such
    /// a frame was verified on receipt, so it decodes; an answer no verdict
    /// names and that does not decode is one the rewrite of an older store
    /// could give no verdict ([`TraceStore::rewrite_layout`]), and is kept.
    fn answers_of(&self, head: &StoredTrace) -> Result<Vec<StoredAnswer>, TraceStoreError> {
        let id = head.id.as_str();
        let filed: std::collections::HashSet<&str> =
            head.filed.iter().map(|f| f.frame.as_str()).collect();
        let mut named = filed.clone();
        let mut out = Vec::new();
        for kv in self.answers.scan_prefix(answers_prefix(id)) {
            let (_, v) = kv?;
            let a: StoredAnswer = serde_json::from_slice(&v).map_err(|e| corrupt(id, e))?;
            let frame = crate::protocol::Digest::of(&a.bytes).to_hex();
            let own = if filed.contains(frame.as_str()) {
                named.remove(frame.as_str())
            } else {
                Filed::of_frame(&a.peer, &a.bytes, REWRITE_LIMITS).is_none()
            };
            if own {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Applies `f` to a trace's head (its `answers` are not loaded: `f` must
    /// not read them) atomically with respect to other updates of this
    /// store, flushed; returns the updated trace with its answers, or `None`
    /// if there is no such trace.
    pub fn update(
        &self,
        id: &str,
        f: impl FnMut(&mut StoredTrace),
    ) -> Result<Option<StoredTrace>, TraceStoreError> {
        let out = self.update_unflushed(id, f)?;
        self.tree.flush()?;
        match out {
            Some(mut t) => {
                t.answers = self.answers_of(&t)?;
                Ok(Some(t))
            }
            None => Ok(None),
        }
    }

    /// As `update`, leaving the flush to the caller (to share it with
    /// others); returns the updated head, without its answers.
    pub fn update_unflushed(
        &self,
        id: &str,
        mut f: impl FnMut(&mut StoredTrace),
    ) -> Result<Option<StoredTrace>, TraceStoreError> {
        let mut out = None;
        let mut err = None;
        let stored = self.tree.update_and_fetch(id.as_bytes(), |old| {
            let old = old?;
            let head = match self.cached(id, old) {
                Some(t) => Ok((*t).clone()),
                None => Self::decode(id, old),
            };
            match head {
                Ok(mut t) => {
                    f(&mut t);
                    let bytes = encode_head(&t).ok();
                    out = Some((t, bytes.is_some()));
                    bytes.or_else(|| Some(old.to_vec()))
                }
                Err(e) => {
                    err = Some(e);
                    Some(old.to_vec())
                }
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        Ok(out.map(|(t, written)| {
            if let (true, Some(bytes)) = (written, stored) {
                self.keep(id, bytes, Arc::new(t.clone()));
            }
            t
        }))
    }

    /// Files one answer, unflushed: `admit` sees the head (answers not
    /// loaded) and, if it returns true (having recorded the verdict in it),
    /// the answer and the head are written. Returns the updated head if the
    /// answer was filed, `None` if `admit` refused it or there is no such
    /// trace. The cost does not grow with the answers already filed.
    ///
    /// Two plain writes, not a sled transaction: sled writes a transaction's
    /// manifest in an I/O buffer of its own and rolls the buffer before and
    /// after it, so each transaction cost three log writes and three syncs
    /// where these share the one flush that follows. The answer is written
    /// first and the head, with its verdict, after it. sled recovers its log
    /// in order, so a head never outlives the answer its verdict names. An
    /// answer without its verdict (a crash between the writes) is not part of
    /// the trace ([`TraceStore::answers_of`]); its holder, never told `ok`,
    /// is handed the query again once the node restarts (store-and-forward,
    /// to every expected holder without a final answer, until the deadline)
    /// and replies with the answer it gave. The head is replaced by
    /// compare-and-swap: when another answer changed it meanwhile, `admit`
    /// runs again on the new head, so two answers of one responder arriving
    /// together file at most one of each kind.
    pub fn file_answer(
        &self,
        id: &str,
        answer: &StoredAnswer,
        mut admit: impl FnMut(&mut StoredTrace) -> bool,
    ) -> Result<Option<Arc<StoredTrace>>, TraceStoreError> {
        let seq = self.db.generate_id()?;
        let answer_bytes = serde_json::to_vec(answer).map_err(|e| corrupt(id, e))?;
        let key = answer_key(id, seq);
        self.answers.insert(key.as_slice(), answer_bytes)?;
        let not_filed = || -> Result<Option<Arc<StoredTrace>>, TraceStoreError> {
            self.answers.remove(key.as_slice())?;
            Ok(None)
        };
        loop {
            let Some(old) = self.tree.get(id.as_bytes())? else {
                return not_filed();
            };
            let mut t = match self.cached(id, &old) {
                Some(t) => (*t).clone(),
                None => Self::decode(id, &old)?,
            };
            if !admit(&mut t) {
                return not_filed();
            }
            let head = IVec::from(encode_head(&t)?);
            if self
                .tree
                .compare_and_swap(id.as_bytes(), Some(&old), Some(head.clone()))?
                .is_ok()
            {
                let t = Arc::new(t);
                self.keep(id, head, t.clone());
                return Ok(Some(t));
            }
        }
    }

    /// Every trace with its answers, newest first.
    pub fn list(&self) -> Result<Vec<StoredTrace>, TraceStoreError> {
        Ok(self.page(None, usize::MAX)?.0)
    }

    /// Up to `limit` traces with their answers, newest first, starting after
    /// `after` (from the newest if `None`); and where the next page starts,
    /// if there may be one. Reads only the traces it returns, by the time index.
    pub fn page(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<StoredTrace>, Option<Cursor>), TraceStoreError> {
        let range = match after {
            Some(c) => self.by_time.range(..time_key(c.created_at, &c.id)),
            None => self.by_time.range::<&[u8], _>(..),
        };
        let mut out = Vec::new();
        for kv in range.rev() {
            if out.len() == limit {
                let last: &StoredTrace = &out[out.len() - 1];
                let next = Cursor {
                    created_at: last.created_at,
                    id: last.id.clone(),
                };
                return Ok((out, Some(next)));
            }
            let (k, _) = kv?;
            let id = String::from_utf8_lossy(k.get(8..).unwrap_or_default()).into_owned();
            // An index entry whose trace is gone (a crash between the two
            // writes of `put`, before its flush) lists nothing.
            if let Some(t) = self.get(&id)? {
                out.push(t);
            }
        }
        Ok((out, None))
    }

    /// The heads (without answers) of the traces created at or after
    /// `since` (unix seconds): what may still wait for answers at start.
    pub fn heads_since(&self, since: u64) -> Result<Vec<StoredTrace>, TraceStoreError> {
        let mut out = Vec::new();
        for kv in self.by_time.range(since.to_be_bytes().to_vec()..) {
            let (k, _) = kv?;
            let id = String::from_utf8_lossy(k.get(8..).unwrap_or_default()).into_owned();
            if let Some(t) = self.head(&id)? {
                out.push(Arc::unwrap_or_clone(t));
            }
        }
        Ok(out)
    }
}
