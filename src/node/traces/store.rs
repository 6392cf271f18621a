//! The traces in sled. A trace is kept in five parts, so that creating it
//! writes a few records whatever the holders asked, and filing one answer
//! writes that answer and its holder's small record, never the whole trace
//! again.
//! - `traces`: id → the trace's head as JSON: what concerns the whole trace
//!   (its query, deadline, topics, local case, follow-ups), without the
//!   answers and without any holder's part;
//! - `trace_roll_calls`: id → the trace's roll call as JSON (a
//!   [`HolderPart`] with `asked` alone): the holders asked when the trace
//!   was created, each entry with its place (layout 5);
//! - `trace_holders`: id, `/`, the holder's peer id → that holder's part as
//!   JSON ([`HolderPart`]): its entries in the trace's `asked` and `filed`
//!   lists, each with its place in the list, and when its first
//!   acknowledgement and its final answer arrived. Written the first time
//!   something of the holder's own changes, and from then on it stands for
//!   the holder in place of the roll call (`{}`: a holder no longer asked);
//! - `trace_answers`: id, `/`, a sequence number (u64 big-endian, from sled's
//!   monotonic ids: the order of filing) → one answer as JSON;
//! - `traces_by_time`: creation second (u64 big-endian), the millisecond
//!   within it (u16 big-endian), id → nothing: the index that lists traces
//!   newest first a page at a time (traces sent in the same second too:
//!   before layout 4 the key had the second alone, and those were listed by
//!   id).
//!
//! Stores of layout 4 (a part for every holder from creation, no roll call)
//! are read as they are. Stores written before it (answers inside the
//! trace's JSON, or every holder's part inside the head) are rewritten once,
//! at open. A store of a later layout than this build knows is refused
//! ([`TraceStoreError::Layout`]).
//!
//! Every change goes through [`TraceStore`], one trace at a time (a lock per
//! stripe of trace ids): the store reads the trace as last written, applies
//! the change to a copy, and writes only the parts that differ: the head if
//! a field of the whole trace changed, each holder's part whose entries
//! changed. One part is one plain write; several are one sled transaction
//! (rare: a follow-up, a retry, a layout of holders reordered). Filing an
//! answer changes its holder's part alone, on the kept trace itself, not on
//! a copy ([`TraceStore::file_answer`]).
//!
//! Heads are read on every answer, every status view and every wake of a
//! waiting API call. The store keeps the last traces it assembled
//! ([`HEADS_KEPT`]), and every change leaves the kept copy as written, under
//! the same lock (filing takes it out while it changes it, and puts it back
//! once written): the store's trees are private to it, so nothing else
//! writes them, and a kept trace is always the stored one.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::{Asked, Filed, StoredAnswer, StoredTrace};
use crate::protocol::Limits;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceStoreError {
    #[error("trace storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("stored trace {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
    /// A page cursor of the right shape that names no trace created in its
    /// second: made up, or mangled on its way back.
    #[error(
        "cursor {0:?} names no trace of this node; give the `next` of a page of traces as it was handed out, or none for the newest"
    )]
    UnknownCursor(String),
    /// The store was written by a later tracenet, in a layout this build
    /// cannot read.
    #[error(
        "the trace store is of layout {found}, written by a later tracenet; this build reads layouts up to {known}: run the later build, or restore the data directory from a backup made before it"
    )]
    Layout { found: String, known: String },
}

/// The traces trees.
#[derive(Clone)]
pub struct TraceStore {
    db: sled::Db,
    tree: sled::Tree,
    holders: sled::Tree,
    /// The holders asked at creation, one record a trace (layout 5).
    roll_calls: sled::Tree,
    answers: sled::Tree,
    by_time: sled::Tree,
    heads: Arc<Mutex<lru::LruCache<String, Arc<StoredTrace>>>>,
    /// One lock per stripe of trace ids: changes to one trace take turns.
    turns: Arc<Vec<Mutex<()>>>,
    /// The peers each watched trace names ([`TraceStore::watch`]).
    named: Arc<Mutex<Named>>,
}

/// Which peers the watched traces (the node's pending ones) still wait on
/// ([`StoredTrace::waits_on`]: asked and no final answer yet, or a blind
/// probe not ended), both ways, so that an event about one peer (connected,
/// disconnected, a link closed) finds the traces it may concern without
/// reading every pending trace, and the maintenance minute reads only the
/// traces still waiting on someone: a trace every asked holder answered
/// stays pending until its deadline (a day by default) and is read by
/// neither. Kept as every change of a watched trace is written, from the
/// holders' parts the change wrote (and the blind holders when the head
/// changed): filing an answer looks at that answer's holder alone. A peer
/// is listed before the change that makes the trace wait on it is written,
/// and taken off after the change that ends the wait is (the callers read
/// each trace's head to decide, so a peer listed a moment too long costs a
/// read, never a mistake); a trace whose head could not be read when it was
/// watched is listed for every peer until it is.
#[derive(Debug, Default)]
struct Named {
    /// Every watched trace, with the peers it waits on (perhaps none).
    of: std::collections::HashMap<String, std::collections::HashSet<String>>,
    by_peer: std::collections::HashMap<String, std::collections::HashSet<String>>,
    /// Watched traces whose peers are not known (their head unreadable).
    unknown: std::collections::HashSet<String>,
    /// Each watched trace's holders handed its query by gossip that have
    /// said nothing yet ([`StoredTrace::silent_handed`]), kept as `of` is,
    /// from the holders' parts each change writes: the requester's
    /// silent-holder check reads this, not the trace's head. Absent for a
    /// trace whose head was not read (in `unknown`).
    silent: std::collections::HashMap<String, BTreeSet<String>>,
}

impl Named {
    /// Adds to trace `id`'s entry, if it is watched, the peers of `waited`.
    fn add<'a>(&mut self, id: &str, waited: impl Iterator<Item = &'a str>) {
        let Some(peers) = self.of.get_mut(id) else {
            return;
        };
        for p in waited {
            if !peers.contains(p) {
                peers.insert(p.to_string());
                self.by_peer
                    .entry(p.to_string())
                    .or_default()
                    .insert(id.to_string());
            }
        }
    }

    /// Takes `peer` off trace `id`'s entry (and the trace off `peer`'s).
    fn remove(&mut self, id: &str, peer: &str) {
        let Some(peers) = self.of.get_mut(id) else {
            return;
        };
        if !peers.remove(peer) {
            return;
        }
        if let Some(ids) = self.by_peer.get_mut(peer) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_peer.remove(peer);
            }
        }
    }

    /// After a change of watched trace `t` was written: takes off its entry
    /// those of `peers` (whose part the change wrote) it no longer waits on.
    fn note_ended<'a>(&mut self, t: &StoredTrace, peers: impl Iterator<Item = &'a str>) {
        for p in peers {
            if !t.waits_on(p) {
                self.remove(&t.id, p);
            }
        }
    }

    /// Sets every peer `t` waits on, if it is watched, in place of those
    /// listed: its peers are known, and its silent holders with them.
    fn note_all(&mut self, t: &StoredTrace) {
        if let Some(listed) = self.of.get(&t.id) {
            let waited = t.peers_waited_on();
            let ended: Vec<String> = listed
                .iter()
                .filter(|p| !waited.contains(p.as_str()))
                .cloned()
                .collect();
            for p in &ended {
                self.remove(&t.id, p);
            }
            self.unknown.remove(&t.id);
            self.add(&t.id, waited.into_iter());
            let silent = t.silent_handed_peers().into_iter().map(String::from);
            self.silent.insert(t.id.clone(), silent.collect());
        }
    }

    /// After a change of watched trace `t` was written: whether each of
    /// `peers` (those whose part it wrote) is silent now. Nothing if `t` is
    /// not watched or its silent holders are not known.
    fn note_silence<'a>(&mut self, t: &StoredTrace, peers: impl Iterator<Item = &'a str>) {
        let Some(silent) = self.silent.get_mut(&t.id) else {
            return;
        };
        for p in peers {
            if t.silent_handed(p) {
                silent.insert(p.to_string());
            } else {
                silent.remove(p);
            }
        }
    }
}

/// How many stripes of trace ids take turns ([`TraceStore::turns`]).
const STRIPES: usize = 64;

/// How many assembled traces (without their answers) the store keeps: the
/// traces pending at once on a busy unit, with room to spare. A trace whose
/// holders each acknowledged and answered was measured at 44 KiB decoded for
/// 50 holders, 175 KiB for 200: up to about 11 MiB kept at 50 holders,
/// 44 MiB at 200.
pub const HEADS_KEPT: usize = 256;

#[cfg(test)]
thread_local! {
    /// Heads decoded on this thread: how the tests see the kept copies.
    pub(super) static HEADS_DECODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One holder's part of a trace, stored under the trace's id and the
/// holder's peer id: its entries in the trace's `asked` and `filed` lists,
/// each with its place in the list (so that the lists read back in order),
/// and the instants of its first acknowledgement and its final answer.
/// Also the shape of a trace's roll call ([`HolderPart::roll_call`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct HolderPart {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    asked: Vec<(u32, Asked)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    filed: Vec<(u32, Filed)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::model::instant::option")]
    first_ack: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::model::instant::option")]
    final_at: Option<u64>,
}

impl HolderPart {
    /// `peer`'s part of `t`.
    fn of(t: &StoredTrace, peer: &str) -> HolderPart {
        let place = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        HolderPart {
            asked: (t.asked.iter().enumerate())
                .filter(|(_, a)| a.peer == peer)
                .map(|(i, a)| (place(i), a.clone()))
                .collect(),
            filed: (t.filed.iter().enumerate())
                .filter(|(_, f)| f.peer == peer)
                .map(|(i, f)| (place(i), f.clone()))
                .collect(),
            first_ack: t.first_ack.get(peer).copied(),
            final_at: t.final_at.get(peer).copied(),
        }
    }

    /// The trace's roll call: every entry of `t.asked`, with its place,
    /// as the trace was created. Stored in `trace_roll_calls`; a holder's
    /// own part, once written, stands for it in its place.
    fn roll_call(t: &StoredTrace) -> HolderPart {
        let place = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        HolderPart {
            asked: (t.asked.iter().enumerate())
                .map(|(i, a)| (place(i), a.clone()))
                .collect(),
            ..HolderPart::default()
        }
    }
}

/// The peers whose part differs between `old` and `new`: an entry of
/// `asked` or `filed` that changed, moved, came or went, or an instant.
fn changed_holders<'a>(old: &'a StoredTrace, new: &'a StoredTrace) -> BTreeSet<&'a str> {
    let mut out = BTreeSet::new();
    differing_places(&old.asked, &new.asked, |a| &a.peer, &mut out);
    differing_places(&old.filed, &new.filed, |f| &f.peer, &mut out);
    for (a, b) in [
        (&old.first_ack, &new.first_ack),
        (&new.first_ack, &old.first_ack),
        (&old.final_at, &new.final_at),
        (&new.final_at, &old.final_at),
    ] {
        out.extend(
            a.iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k.as_str()),
        );
    }
    out
}

/// The fields of `t`'s head: every field but the holders' parts and the
/// answers. Every field is named, so that a field added to [`StoredTrace`]
/// must be placed here (in the head) or in [`HolderPart`].
#[allow(clippy::type_complexity)]
fn head_fields(
    t: &StoredTrace,
) -> (
    &String,
    &u64,
    &Option<u64>,
    &u64,
    &Vec<u8>,
    &Vec<String>,
    &super::LocalCase,
    &Vec<crate::model::CountryCode>,
    &Option<crate::protocol::Outcome>,
    &bool,
    &Option<u64>,
    &Option<crate::node::blind::BlindTrace>,
) {
    let StoredTrace {
        id,
        created_at,
        created_at_ms,
        deadline,
        query,
        topics,
        asked: _,
        answers: _,
        local,
        first_ack: _,
        final_at: _,
        followed_up,
        own_registry,
        nobody_holds,
        timeout_secs,
        blind,
        filed: _,
    } = t;
    (
        id,
        created_at,
        created_at_ms,
        deadline,
        query,
        topics,
        local,
        followed_up,
        own_registry,
        nobody_holds,
        timeout_secs,
        blind,
    )
}

/// Adds to `out` the peers of the entries that differ, place by place,
/// between `old` and `new` (on both sides: the one that left a place and
/// the one that took it).
fn differing_places<'a, T: PartialEq>(
    old: &'a [T],
    new: &'a [T],
    peer: impl Fn(&'a T) -> &'a String,
    out: &mut BTreeSet<&'a str>,
) {
    for i in 0..old.len().max(new.len()) {
        let (o, w) = (old.get(i), new.get(i));
        if o != w {
            out.extend(o.map(|x| peer(x).as_str()));
            out.extend(w.map(|x| peer(x).as_str()));
        }
    }
}

/// Whether `a` and `b` have the same head.
fn same_head(a: &StoredTrace, b: &StoredTrace) -> bool {
    head_fields(a) == head_fields(b)
}

/// `t`'s head as stored: without the holders' parts and the answers (a
/// head is written when a trace is created and when a field of the whole
/// trace changes, never on filing an answer: the copy costs little).
fn encode_head(t: &StoredTrace) -> Result<Vec<u8>, TraceStoreError> {
    let head = StoredTrace {
        asked: Vec::new(),
        answers: Vec::new(),
        first_ack: BTreeMap::new(),
        final_at: BTreeMap::new(),
        filed: Vec::new(),
        ..t.clone()
    };
    serde_json::to_vec(&head).map_err(|e| corrupt(&t.id, e))
}

/// What a change of one trace came to.
enum Change {
    /// No such trace.
    NoTrace,
    /// The change declined (filing: the answer was not admitted).
    Declined,
    /// Written (or nothing to write): the trace as it now is, without answers.
    Done(Arc<StoredTrace>),
}

/// The limits the rewrite of an older store decoded its answers under, to
/// give each a verdict; [`TraceStore::answers_of`] tells by them which
/// answers without a verdict it moved.
const REWRITE_LIMITS: Limits = Limits {
    max_frame: 64 * 1024,
};

/// The key of the layout's version in the `trace_store` tree.
const LAYOUT_KEY: &[u8] = b"layout";
/// Answers in their own tree, the holders asked at creation in one record
/// (the roll call), each holder's part in its own once it changes, the time
/// index to the millisecond. (`4`: a part for every holder from creation,
/// none written empty, which this layout reads as it is; `3`: the time
/// index to the second; `2`: the holders' parts inside the head; none:
/// answers inside it too.)
const LAYOUT: &[u8] = b"5";
/// The layout this one reads as it is (see [`LAYOUT`]).
const LAYOUT_READ_AS_IS: &[u8] = b"4";

/// Whether `layout` (as stored under [`LAYOUT_KEY`]) is a later layout
/// than this build's: a number above [`LAYOUT`]. A build before layout 5
/// cannot tell, and reads a store of layout 5 without its roll calls (a
/// trace created since lists the holders asked that have a part of their
/// own, and those alone): going back to it is not supported
/// (proto-docs/FORMATS.md, "Trace storage").
fn is_later_layout(layout: &[u8]) -> bool {
    let n = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u64>().ok();
    match (n(layout), n(LAYOUT)) {
        (Some(found), Some(known)) => found > known,
        _ => false,
    }
}

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

/// Where a trace's id starts in its time index key.
const ID_AT: usize = 10;

/// Trace `t`'s key in `traces_by_time`: its creation second, the
/// millisecond within it, its id. The key's first 8 bytes are the second,
/// so that a range of seconds is a range of keys.
fn time_key(t: &StoredTrace) -> Vec<u8> {
    time_key_at(t.created_at, milli_in_second(t), &t.id)
}

fn time_key_at(created_at: u64, milli: u16, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(ID_AT + id.len());
    k.extend_from_slice(&created_at.to_be_bytes());
    k.extend_from_slice(&milli.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// The millisecond of `t`'s creation within its second (0 to 999), from
/// `created_at_ms`, read from the clock just after `created_at`: a reading
/// already in the next second is the second's last millisecond, and a trace
/// stored without it (before the field) its first.
fn milli_in_second(t: &StoredTrace) -> u16 {
    match t.created_at_ms {
        Some(ms) if ms / 1000 == t.created_at => (ms % 1000) as u16,
        Some(ms) if ms / 1000 > t.created_at => 999,
        _ => 0,
    }
}

/// The id in a `traces_by_time` key.
fn id_of_time_key(k: &[u8]) -> String {
    String::from_utf8_lossy(k.get(ID_AT..).unwrap_or_default()).into_owned()
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

/// The prefix of trace `id`'s keys in `trace_holders`.
fn holders_prefix(id: &str) -> Vec<u8> {
    answers_prefix(id)
}

fn holder_key(id: &str, peer: &str) -> Vec<u8> {
    let mut k = holders_prefix(id);
    k.extend_from_slice(peer.as_bytes());
    k
}

impl TraceStore {
    pub fn open(db: &sled::Db) -> Result<Self, TraceStoreError> {
        let s = TraceStore {
            db: db.clone(),
            tree: db.open_tree("traces")?,
            holders: db.open_tree("trace_holders")?,
            roll_calls: db.open_tree("trace_roll_calls")?,
            answers: db.open_tree("trace_answers")?,
            by_time: db.open_tree("traces_by_time")?,
            heads: Arc::new(Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(HEADS_KEPT).unwrap_or(NonZeroUsize::MIN),
            ))),
            turns: Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect()),
            named: Arc::default(),
        };
        let meta = db.open_tree("trace_store")?;
        let layout = meta.get(LAYOUT_KEY)?;
        if layout.as_deref() != Some(LAYOUT) {
            if let Some(found) = layout.as_deref().filter(|l| is_later_layout(l)) {
                return Err(TraceStoreError::Layout {
                    found: String::from_utf8_lossy(found).into_owned(),
                    known: String::from_utf8_lossy(LAYOUT).into_owned(),
                });
            }
            if layout.as_deref() != Some(LAYOUT_READ_AS_IS) {
                s.rewrite_layout()?;
            }
            meta.insert(LAYOUT_KEY, LAYOUT)?;
            db.flush()?;
        }
        Ok(s)
    }

    /// Rewrites traces stored before this layout: moves their answers into
    /// their own tree (keeping a verdict on each in the trace), each holder's
    /// part into its own record, and indexes every trace by time. Each step
    /// can run again after a crash: a head already rewritten has no answers
    /// and no holder's part left in it, and an answer a run cut short
    /// copied from a head it did not rewrite is not copied twice.
    fn rewrite_layout(&self) -> Result<(), TraceStoreError> {
        let mut moved = 0usize;
        let mut indexed = 0usize;
        // Indexed again from the heads, to the millisecond (layout 4).
        self.by_time.clear()?;
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k).into_owned();
            // An unreadable head must not stop the node from starting (the
            // index is cleared already): indexed as the oldest, where
            // reading it reports it, and left as it is.
            let mut t = match Self::decode(&id, &v) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(trace = id, error = %e, "a stored trace cannot be read; it is indexed as the oldest and left as it is");
                    self.by_time.insert(time_key_at(0, 0, &id), &[])?;
                    continue;
                }
            };
            self.by_time.insert(time_key(&t), &[])?;
            indexed += 1;
            let parts = !(t.asked.is_empty()
                && t.filed.is_empty()
                && t.first_ack.is_empty()
                && t.final_at.is_empty());
            if t.answers.is_empty() && !parts {
                continue;
            }
            if t.filed.is_empty() {
                t.filed = t
                    .answers
                    .iter()
                    .filter_map(|a| Filed::of_frame(&a.peer, &a.bytes, REWRITE_LIMITS))
                    .collect();
            }
            // A run cut short before it rewrote this head copied a prefix
            // of its answers already: those are not copied again.
            let mut copied = Vec::new();
            if !t.answers.is_empty() {
                for kv in self.answers.scan_prefix(answers_prefix(&id)).values() {
                    let a: StoredAnswer =
                        serde_json::from_slice(&kv?).map_err(|e| corrupt(&id, e))?;
                    copied.push(a);
                }
            }
            for a in &t.answers {
                if let Some(i) = copied.iter().position(|c| c == a) {
                    copied.swap_remove(i);
                    continue;
                }
                let seq = self.db.generate_id()?;
                let bytes = serde_json::to_vec(a).map_err(|e| corrupt(&id, e))?;
                self.answers.insert(answer_key(&id, seq), bytes)?;
            }
            self.write_parts(&t, holders_of(&t))?;
            self.tree.insert(&k, encode_head(&t)?)?;
            moved += 1;
        }
        if moved > 0 {
            tracing::info!(
                traces = moved,
                "stored traces rewritten: answers and each holder's part kept apart"
            );
        }
        if indexed > 0 {
            tracing::info!(
                traces = indexed,
                "stored traces indexed again by their creation to the millisecond"
            );
        }
        Ok(())
    }

    fn decode(id: &str, v: &[u8]) -> Result<StoredTrace, TraceStoreError> {
        #[cfg(test)]
        HEADS_DECODED.with(|n| n.set(n.get() + 1));
        serde_json::from_slice(v).map_err(|e| corrupt(id, e))
    }

    /// Writes `peers`' parts of `t`, each as one plain write. A part that is
    /// empty is written too (`{}`): it stands for its holder in place of the
    /// trace's roll call, which may still name it.
    fn write_parts<'a>(
        &self,
        t: &StoredTrace,
        peers: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), TraceStoreError> {
        for peer in peers {
            let part = HolderPart::of(t, peer);
            let bytes = serde_json::to_vec(&part).map_err(|e| corrupt(&t.id, e))?;
            self.holders.insert(holder_key(&t.id, peer), bytes)?;
        }
        Ok(())
    }

    /// The lock trace `id`'s changes take turns on.
    fn turn(&self, id: &str) -> std::sync::MutexGuard<'_, ()> {
        // FNV-1a: ids are the node's own (hex digests); only the spread matters.
        let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let stripe = &self.turns[(h % self.turns.len() as u64) as usize];
        stripe.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a trace (its answers, its roll call, the parts of holders
    /// that answered already, its place in the time index, its head last) and waits until it is on disk: a trace
    /// reported sent survives a crash. A crash before the head leaves no
    /// trace (the parts written before it are never read).
    pub fn put(&self, t: &StoredTrace) -> Result<(), TraceStoreError> {
        self.put_unflushed(t)?;
        // Out of the trace's turn: a change waiting for it (and the pending
        // set's lock a retry holds while it waits) does not wait on the disk.
        self.tree.flush()?;
        Ok(())
    }

    fn put_unflushed(&self, t: &StoredTrace) -> Result<(), TraceStoreError> {
        let _turn = self.turn(&t.id);
        for a in &t.answers {
            let seq = self.db.generate_id()?;
            let bytes = serde_json::to_vec(a).map_err(|e| corrupt(&t.id, e))?;
            self.answers.insert(answer_key(&t.id, seq), bytes)?;
        }
        // Parts and a roll call left by an earlier trace of the same id (a
        // crash before its head) are not this trace's.
        for kv in self.holders.scan_prefix(holders_prefix(&t.id)).keys() {
            self.holders.remove(kv?)?;
        }
        // The holders asked, in one record (the roll call), not one each:
        // a holder's part is written once something of its own changes,
        // and then stands for it. Holders with more than their entries in
        // `asked` (a trace stored with its answers) have their part now.
        if t.asked.is_empty() {
            self.roll_calls.remove(t.id.as_bytes())?;
        } else {
            let roll =
                serde_json::to_vec(&HolderPart::roll_call(t)).map_err(|e| corrupt(&t.id, e))?;
            self.roll_calls.insert(t.id.as_bytes(), roll)?;
        }
        let answered = t.filed.iter().map(|f| f.peer.as_str());
        let answered = answered.chain(t.first_ack.keys().map(String::as_str));
        let answered: BTreeSet<&str> = answered
            .chain(t.final_at.keys().map(String::as_str))
            .collect();
        self.write_parts(t, answered)?;
        self.by_time.insert(time_key(t), &[])?;
        self.tree.insert(t.id.as_bytes(), encode_head(t)?)?;
        let kept = StoredTrace {
            answers: Vec::new(),
            ..t.clone()
        };
        self.keep(&t.id, Arc::new(kept));
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
    /// store's kept copies: read from sled only when not kept.
    pub fn head(&self, id: &str) -> Result<Option<Arc<StoredTrace>>, TraceStoreError> {
        if let Some(t) = self.cached(id) {
            return Ok(Some(t));
        }
        let _turn = self.turn(id);
        self.current(id)
    }

    /// Trace `id` as stored, without its answers: the kept copy, else read
    /// and kept. The caller holds the trace's turn, so that no change is
    /// written between the read and the keeping.
    fn current(&self, id: &str) -> Result<Option<Arc<StoredTrace>>, TraceStoreError> {
        if let Some(t) = self.cached(id) {
            return Ok(Some(t));
        }
        let Some(v) = self.tree.get(id.as_bytes())? else {
            return Ok(None);
        };
        let mut t = Self::decode(id, &v)?;
        let prefix = holders_prefix(id);
        // Entries a head itself still carries (none once rewritten) first.
        let mut asked: Vec<(u32, Asked)> = Vec::new();
        let mut filed: Vec<(u32, Filed)> = Vec::new();
        // The roll call, and the holders whose own part stands for them in
        // its place.
        let roll: Vec<(u32, Asked)> = match self.roll_calls.get(id.as_bytes())? {
            Some(v) => {
                let r: HolderPart = serde_json::from_slice(&v).map_err(|e| corrupt(id, e))?;
                r.asked
            }
            None => Vec::new(),
        };
        let mut own_part: std::collections::HashSet<String> = Default::default();
        for kv in self.holders.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let part: HolderPart = serde_json::from_slice(&v).map_err(|e| corrupt(id, e))?;
            let peer = String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or_default());
            own_part.insert(peer.to_string());
            asked.extend(part.asked);
            filed.extend(part.filed);
            if let Some(at) = part.first_ack {
                t.first_ack.insert(peer.to_string(), at);
            }
            if let Some(at) = part.final_at {
                t.final_at.insert(peer.to_string(), at);
            }
        }
        asked.extend(
            roll.into_iter()
                .filter(|(_, a)| !own_part.contains(&a.peer)),
        );
        asked.sort_by_key(|(i, _)| *i);
        filed.sort_by_key(|(i, _)| *i);
        t.asked.extend(asked.into_iter().map(|(_, a)| a));
        t.filed.extend(filed.into_iter().map(|(_, f)| f));
        t.answers.clear();
        let t = Arc::new(t);
        self.keep(id, t.clone());
        Ok(Some(t))
    }

    /// Trace `id`'s head (without answers) if it is kept in memory, which
    /// every change of the trace leaves it (but while an answer is being
    /// filed into it, and after a write that failed); `None` says nothing
    /// of the store (read it with [`Self::head`], off the async workers).
    pub fn cached_head(&self, id: &str) -> Option<Arc<StoredTrace>> {
        self.cached(id)
    }

    fn cached(&self, id: &str) -> Option<Arc<StoredTrace>> {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.get(id).cloned()
    }

    /// Keeps `t` as trace `id`'s head, read whole or written whole.
    fn keep(&self, id: &str, t: Arc<StoredTrace>) {
        self.named
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note_all(&t);
        self.keep_head(id, t);
    }

    fn keep_head(&self, id: &str, t: Arc<StoredTrace>) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.put(id.to_string(), t);
    }

    /// Watches trace `id` (the node's pending traces): from now on the
    /// peers it waits on are indexed, kept as its changes are written, and
    /// [`Self::watched_waiting_on`] lists it for each. Reads its head (one
    /// read, not kept in memory beyond the store's kept heads). Returns
    /// whether there is such a trace.
    pub fn watch(&self, id: &str) -> Result<bool, TraceStoreError> {
        let _turn = self.turn(id);
        self.named
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .of
            .entry(id.to_string())
            .or_default();
        match self.current(id) {
            Ok(Some(t)) => {
                self.named
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .note_all(&t);
                Ok(true)
            }
            Ok(None) => {
                self.unwatch(id);
                Ok(false)
            }
            // Watched still, listed for every peer until its head is read;
            // its silent holders not known until then.
            Err(e) => {
                let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
                named.unknown.insert(id.to_string());
                named.silent.remove(id);
                Err(e)
            }
        }
    }

    /// Watches the traces of `heads`, as [`Self::watch`] does, from heads
    /// this store has just read, with nothing changing them since (the
    /// node's pending traces, at open): no read again.
    pub fn watch_read(&self, heads: &[StoredTrace]) {
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        for t in heads {
            named.of.entry(t.id.clone()).or_default();
            named.note_all(t);
        }
    }

    /// Stops watching trace `id`; its entries go.
    pub fn unwatch(&self, id: &str) {
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        named.unknown.remove(id);
        named.silent.remove(id);
        let Some(peers) = named.of.remove(id) else {
            return;
        };
        for p in peers {
            if let Some(ids) = named.by_peer.get_mut(&p) {
                ids.remove(id);
                if ids.is_empty() {
                    named.by_peer.remove(&p);
                }
            }
        }
    }

    /// The watched traces that wait on `peer` ([`StoredTrace::waits_on`]),
    /// from memory; and those whose peers are not known.
    pub fn watched_waiting_on(&self, peer: &str) -> Vec<String> {
        let named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = named
            .by_peer
            .get(peer)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        ids.extend(
            named
                .unknown
                .iter()
                .filter(|id| !named.by_peer.get(peer).is_some_and(|s| s.contains(*id)))
                .cloned(),
        );
        ids
    }

    /// The watched traces that wait on some peer, from memory; and those
    /// whose peers are not known. A trace every holder asked has answered
    /// finally is not among them, pending as it is until its deadline.
    pub fn watched_waiting(&self) -> Vec<String> {
        let named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        named
            .of
            .iter()
            .filter(|(id, peers)| !peers.is_empty() && !named.unknown.contains(*id))
            .map(|(id, _)| id.clone())
            .chain(named.unknown.iter().cloned())
            .collect()
    }

    /// The holders watched trace `id` handed its query by gossip that have
    /// said nothing yet ([`StoredTrace::silent_handed`]), as peer ids in
    /// text, from memory: no read, whatever the kept heads. `None` if the
    /// trace is not watched or its head could not be read when it was
    /// (read the head then). Says nothing of the trace's deadline.
    pub fn silent_handed(&self, id: &str) -> Option<Vec<String>> {
        let named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        named
            .silent
            .get(id)
            .map(|peers| peers.iter().cloned().collect())
    }

    /// How many traces are watched, and how many (trace, peer) pairs
    /// their index holds.
    #[cfg(test)]
    pub fn watched_size(&self) -> (usize, usize) {
        let named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        (
            named.of.len(),
            named.by_peer.values().map(|ids| ids.len()).sum(),
        )
    }

    /// Applies `f` to a copy of trace `id` as stored (without its answers:
    /// `f` must not read them), in the trace's turn, and writes what
    /// differs, unflushed, if `f` returns true.
    fn change(
        &self,
        id: &str,
        mut f: impl FnMut(&mut StoredTrace) -> bool,
    ) -> Result<Change, TraceStoreError> {
        let _turn = self.turn(id);
        let Some(old) = self.current(id)? else {
            return Ok(Change::NoTrace);
        };
        let mut new = (*old).clone();
        if !f(&mut new) {
            return Ok(Change::Declined);
        }
        new.answers.clear();
        if new == *old {
            return Ok(Change::Done(old));
        }
        let peers = changed_holders(&old, &new);
        let head = (!same_head(&old, &new))
            .then(|| encode_head(&new))
            .transpose()?;
        let head_changed = head.is_some();
        // The peers whose wait this change may start or end: those whose
        // part it writes, and a blind trace's holders when the head changes.
        let touched = || {
            let blind = new.blind.iter().filter(|_| head_changed);
            peers
                .iter()
                .copied()
                .chain(blind.flat_map(|b| b.holders.iter().map(|h| h.peer.as_str())))
        };
        // A wait is indexed before it is written: a peer event in between
        // finds the trace (a peer listed before its entry is written costs a
        // read). One that ends is taken off once written (below).
        self.named
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(id, touched().filter(|p| new.waits_on(p)));
        if peers.len() + usize::from(head.is_some()) == 1 {
            // One record: one plain write.
            self.write_parts(&new, peers.iter().copied())?;
            if let Some(head) = head {
                self.tree.insert(id.as_bytes(), head)?;
            }
        } else {
            let mut parts = Vec::new();
            for peer in &peers {
                let part = HolderPart::of(&new, peer);
                let bytes = serde_json::to_vec(&part).map_err(|e| corrupt(id, e))?;
                parts.push((holder_key(id, peer), bytes));
            }
            (&self.tree, &self.holders)
                .transaction(|(tree, holders)| {
                    for (key, bytes) in &parts {
                        holders.insert(key.as_slice(), bytes.as_slice())?;
                    }
                    if let Some(h) = &head {
                        tree.insert(id.as_bytes(), h.as_slice())?;
                    }
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .map_err(|e| match e {
                    sled::transaction::TransactionError::Storage(e) => TraceStoreError::from(e),
                    sled::transaction::TransactionError::Abort(()) => corrupt(id, "aborted"),
                })?;
        }
        {
            let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
            named.note_silence(&new, peers.iter().copied());
            named.note_ended(&new, touched());
        }
        drop(peers);
        let new = Arc::new(new);
        self.keep_head(id, new.clone());
        Ok(Change::Done(new))
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

    /// Applies `f` to a trace (its `answers` are not loaded: `f` must not
    /// read them), in the trace's turn, flushed; returns the updated trace
    /// with its answers, or `None` if there is no such trace.
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

    /// Waits until every change written so far is on disk.
    pub fn flush(&self) -> Result<(), TraceStoreError> {
        self.tree.flush()?;
        Ok(())
    }

    /// As `update`, leaving the flush to the caller (to share it with
    /// others); returns the updated trace, without its answers.
    pub fn update_unflushed(
        &self,
        id: &str,
        mut f: impl FnMut(&mut StoredTrace),
    ) -> Result<Option<StoredTrace>, TraceStoreError> {
        Ok(
            match self.change(id, |t| {
                f(t);
                true
            })? {
                Change::Done(t) => Some(Arc::unwrap_or_clone(t)),
                Change::NoTrace | Change::Declined => None,
            },
        )
    }

    /// Files one answer, unflushed: `admit` sees the trace (answers not
    /// loaded) and, if it returns true, `apply` records the verdict in it,
    /// and the answer and its holder's part are written. Returns the updated
    /// trace if the answer was filed, `None` if `admit` refused it or there
    /// is no such trace.
    ///
    /// `apply` changes the part of the answer's holder (`answer.peer`)
    /// alone: its entries in `asked` and `filed`, its `first_ack` and its
    /// `final_at` (a debug build checks it). The trace is changed in place,
    /// not copied (a copy only if a reader still holds the kept one): the
    /// work grows with the holders asked only by scans of the trace's
    /// lists, and what is written not at all (the answer, and its holder's
    /// part).
    ///
    /// Plain writes, not a sled transaction: sled writes a transaction's
    /// manifest in an I/O buffer of its own and rolls the buffer before and
    /// after it, so each transaction cost three log writes and three syncs
    /// where these share the one flush that follows. The answer is written
    /// first and the holder's part, with its verdict, after it. sled recovers
    /// its log in order, so a verdict never outlives the answer it names. An
    /// answer without its verdict (a crash between the writes) is not part
    /// of the trace ([`TraceStore::answers_of`]); its holder, never told
    /// `ok`, is handed the query again once the node restarts
    /// (store-and-forward, to every expected holder without a final answer,
    /// until the deadline) and replies with the answer it gave. Answers of
    /// one trace are filed in turn, so two answers of one responder arriving
    /// together file at most one of each kind.
    pub fn file_answer(
        &self,
        id: &str,
        answer: &StoredAnswer,
        admit: impl FnOnce(&StoredTrace) -> bool,
        apply: impl FnOnce(&mut StoredTrace),
    ) -> Result<Option<Arc<StoredTrace>>, TraceStoreError> {
        let seq = self.db.generate_id()?;
        let answer_bytes = serde_json::to_vec(answer).map_err(|e| corrupt(id, e))?;
        let key = answer_key(id, seq);
        self.answers.insert(key.as_slice(), answer_bytes)?;
        match self.change_part(id, &answer.peer, admit, apply)? {
            Change::Done(t) => Ok(Some(t)),
            Change::NoTrace | Change::Declined => {
                self.answers.remove(key.as_slice())?;
                Ok(None)
            }
        }
    }

    /// Applies `apply` to trace `id` in place, in the trace's turn, if
    /// `admit` returns true, and writes `peer`'s part, unflushed. `apply`
    /// changes `peer`'s part alone (see [`TraceStore::file_answer`]).
    ///
    /// The kept copy is taken out of the kept heads while it changes, so
    /// that it is changed where it is unless a reader still holds it (then
    /// the reader keeps the trace as it was, and the change is made on a
    /// copy). It goes back once written; if a write fails, it stays out,
    /// and the next read reads what the store holds.
    fn change_part(
        &self,
        id: &str,
        peer: &str,
        admit: impl FnOnce(&StoredTrace) -> bool,
        apply: impl FnOnce(&mut StoredTrace),
    ) -> Result<Change, TraceStoreError> {
        let _turn = self.turn(id);
        let Some(mut t) = self.current(id)? else {
            return Ok(Change::NoTrace);
        };
        if !admit(&t) {
            return Ok(Change::Declined);
        }
        // The kept heads' reference, dropped: in the turn, no other change
        // reads it meanwhile, and a reader that misses it waits for the turn.
        self.heads.lock().unwrap_or_else(|p| p.into_inner()).pop(id);
        #[cfg(debug_assertions)]
        let old = (*t).clone();
        let before = HolderPart::of(&t, peer);
        let new = Arc::make_mut(&mut t);
        apply(new);
        #[cfg(debug_assertions)]
        {
            let others: Vec<&str> = changed_holders(&old, new)
                .into_iter()
                .filter(|p| *p != peer)
                .collect();
            assert!(
                others.is_empty() && same_head(&old, new),
                "trace {id}: filing an answer of {peer} changed more than its part (parts of {others:?}, or the head)"
            );
        }
        let waits = new.waits_on(peer);
        // As `change`: a wait is indexed before it is written, and taken
        // off once written.
        self.named
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(id, std::iter::once(peer).filter(|_| waits));
        if HolderPart::of(new, peer) != before {
            self.write_parts(new, std::iter::once(peer))?;
        }
        {
            let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
            named.note_silence(new, std::iter::once(peer));
            named.note_ended(new, std::iter::once(peer));
        }
        self.keep_head(id, t.clone());
        Ok(Change::Done(t))
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
            // The cursor names a trace; its key is the stored trace's.
            // Traces are never removed, so one handed out always names
            // one; any other restarted at its second without a word.
            Some(c) => {
                let Some(t) = self.head(&c.id)?.filter(|t| t.created_at == c.created_at) else {
                    return Err(TraceStoreError::UnknownCursor(c.to_text()));
                };
                self.by_time.range(..time_key(&t))
            }
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
            let id = id_of_time_key(&k);
            // An index entry whose trace is gone (a crash between the two
            // writes of `put`, before its flush) lists nothing.
            if let Some(t) = self.get(&id)? {
                out.push(t);
            }
        }
        Ok((out, None))
    }

    /// Hands `f` each trace created in `[from, to)` (unix seconds), with its
    /// answers, oldest first, one at a time: a reader of a year of traces
    /// holds one. Stops at `f`'s first error, which it returns.
    pub fn for_each_created<E: From<TraceStoreError>>(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(StoredTrace) -> Result<(), E>,
    ) -> Result<(), E> {
        for kv in self
            .by_time
            .range(from.to_be_bytes().to_vec()..to.to_be_bytes().to_vec())
        {
            let (k, _) = kv.map_err(TraceStoreError::from)?;
            let id = id_of_time_key(&k);
            // An index entry whose trace is gone lists nothing (as `page`).
            if let Some(t) = self.get(&id)? {
                f(t)?;
            }
        }
        Ok(())
    }

    /// Hands `more` the creation instant (unix seconds) of each trace,
    /// newest first, until it returns `false`: read from the time index's
    /// keys alone, no trace read, and no key past the one it stopped at.
    pub fn created_newest_first(
        &self,
        mut more: impl FnMut(u64) -> bool,
    ) -> Result<(), TraceStoreError> {
        for k in self.by_time.iter().keys().rev() {
            let k = k?;
            if let Some(b) = k.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok())
                && !more(u64::from_be_bytes(b))
            {
                break;
            }
        }
        Ok(())
    }

    /// The heads (without answers) of the traces created at or after
    /// `since` (unix seconds): what may still wait for answers at start.
    pub fn heads_since(&self, since: u64) -> Result<Vec<StoredTrace>, TraceStoreError> {
        let mut out = Vec::new();
        for kv in self.by_time.range(since.to_be_bytes().to_vec()..) {
            let (k, _) = kv?;
            let id = id_of_time_key(&k);
            if let Some(t) = self.head(&id)? {
                out.push(Arc::unwrap_or_clone(t));
            }
        }
        Ok(out)
    }
}

/// Every peer with an entry in `t` as held in memory (in `asked`, `filed`,
/// `first_ack` or `final_at`): the parts a rewrite of an older layout writes.
fn holders_of(t: &StoredTrace) -> BTreeSet<&str> {
    let mut out: BTreeSet<&str> = t.asked.iter().map(|a| a.peer.as_str()).collect();
    out.extend(t.filed.iter().map(|f| f.peer.as_str()));
    out.extend(t.first_ack.keys().map(String::as_str));
    out.extend(t.final_at.keys().map(String::as_str));
    out
}
