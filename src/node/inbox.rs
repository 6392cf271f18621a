//! Requests waiting for a person's decision, and alerts raised when another
//! State's trace hits a record this node holds as lost or stolen. Both are in
//! sled and on disk before the node acts on them, so neither is lost in a
//! crash: a request is flushed as it is stored; an alert is written before
//! the answer to the trace that raised it and reaches the disk with that
//! answer's audit entry, in the same flush ([`Inbox::raise_all`]).

use serde::{Deserialize, Serialize};

use super::b64;
use super::policy::{Disclosure, ReviewReason};
use crate::marking::Marking;
use crate::model::{CountryCode, EventDate, EventKind};
use crate::protocol::WithheldReason;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum InboxStatus {
    Pending,
    Approved {
        #[serde(with = "crate::model::instant")]
        at: u64,
        disclose: Disclosure,
    },
    Refused {
        #[serde(with = "crate::model::instant")]
        at: u64,
        reason: WithheldReason,
    },
}

/// One request waiting for (or decided by) a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The first 16 hex digits of the query digest.
    pub id: String,
    #[serde(with = "crate::model::instant")]
    pub received_at: u64,
    /// The same instant in milliseconds: the order of requests that came in
    /// the same second. Absent on items stored before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<u64>,
    /// After this (unix seconds), the requester's time-to-live is over.
    #[serde(with = "crate::model::instant")]
    pub deadline: u64,
    pub reason: ReviewReason,
    pub requester: CountryCode,
    pub peer: String,
    /// The signed query frame as received: its ITI fields are shown from it.
    #[serde(with = "b64")]
    pub query: Vec<u8>,
    pub status: InboxStatus,
    /// The signed answer last given to the requester (the acknowledgement,
    /// then the decision), so that a retry gets it again even after a restart
    /// or a failed delivery.
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub answer: Option<Vec<u8>>,
}

mod b64_opt {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::Deserialize;

    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&STANDARD.encode(v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A trace from another State matched a record held here as lost or stolen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    #[serde(with = "crate::model::instant")]
    pub at: u64,
    pub requester: CountryCode,
    /// The id of the record held here (`record` elsewhere is a record itself).
    #[serde(rename = "record_id", alias = "record")]
    pub record: String,
    pub marking: Marking,
    pub kind: EventKind,
    pub date: EventDate,
    /// The requester's trace id (the query id, hex), as its officer sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// The query digest (hex SHA-256 of the signed query), as audit entries
    /// on both sides name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// On the last alert a trace raised, how many more records held here as
    /// lost or stolen it matched, not raised one by one (a wildcard that
    /// matches thousands): at most [`ALERTS_PER_TRACE`] alerts a trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<u64>,
}

/// The most alerts one trace raises; the matches past them are counted on
/// the last (`Alert::more`). A wildcard matching ten thousand stolen records
/// is one trace for the officer to look at, not ten thousand alerts, writes
/// and log lines.
pub const ALERTS_PER_TRACE: usize = 16;

/// The alerts of one trace as they are kept: the first [`ALERTS_PER_TRACE`],
/// the last of them counting the rest in `more`.
pub fn bounded(mut alerts: Vec<Alert>) -> Vec<Alert> {
    if alerts.len() > ALERTS_PER_TRACE {
        let more = (alerts.len() - ALERTS_PER_TRACE) as u64;
        alerts.truncate(ALERTS_PER_TRACE);
        if let Some(last) = alerts.last_mut() {
            last.more = Some(more);
        }
    }
    alerts
}

/// Where a page of alerts or of the inbox goes on from
/// ([`Inbox::alerts_page`], [`Inbox::page`]): the key of the last one of
/// the page before, as lowercase hex in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(Vec<u8>);

/// A page of `tree`, newest (highest key) first: what `read` makes of each
/// entry older than `after` (`None` to pass one over), at most `limit`, and
/// the cursor of the next page (`None` on the last). Reads one entry past
/// the page to know whether it is the last.
fn newest_first<T>(
    tree: &sled::Tree,
    after: Option<&PageCursor>,
    limit: usize,
    mut read: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, InboxError>,
) -> Result<(Vec<T>, Option<PageCursor>), InboxError> {
    let range = match after {
        Some(c) => tree.range(..c.0.clone()),
        None => tree.range::<Vec<u8>, _>(..),
    };
    let mut page = Vec::new();
    let mut last = None;
    for kv in range.rev() {
        let (k, v) = kv?;
        if page.len() == limit {
            return Ok((page, last.map(PageCursor)));
        }
        if let Some(t) = read(&k, &v)? {
            page.push(t);
        }
        last = Some(k.to_vec());
    }
    Ok((page, None))
}

/// The key of an item in the time index: the second it came in (u64
/// big-endian), the millisecond within it (u16 big-endian), its id.
fn time_key(received_at: u64, milli: u16, id: &[u8]) -> Vec<u8> {
    [
        received_at.to_be_bytes().as_slice(),
        milli.to_be_bytes().as_slice(),
        id,
    ]
    .concat()
}

/// Where an item's id starts in its time index key.
const ID_AT: usize = 10;

/// The version of the time index's keys in `inbox_meta` (none: the second
/// and the id, which listed requests of the same second by id).
const INDEX_LAYOUT: &[u8] = b"2";

impl InboxItem {
    /// The millisecond of its second it came in (0 for an item stored
    /// without it), and its key in the time index.
    fn time_key(&self) -> Vec<u8> {
        time_key(self.received_at, self.milli(), self.id.as_bytes())
    }

    fn milli(&self) -> u16 {
        match self.received_at_ms {
            Some(ms) if ms / 1000 == self.received_at => (ms % 1000) as u16,
            Some(ms) if ms / 1000 > self.received_at => 999,
            _ => 0,
        }
    }

    /// How items are ordered in time: second, millisecond, id.
    fn order(&self) -> (u64, u16, &str) {
        (self.received_at, self.milli(), &self.id)
    }
}

impl PageCursor {
    /// The longest key either is stored under, in bytes: an alert's time
    /// (8), record id (at most 64), separator and State (2); an item's time
    /// (8), millisecond (2) and id (16 hex digits).
    const MAX_LEN: usize = 8 + 64 + 1 + 2;

    /// A cursor from its text, as [`PageCursor::to_text`] wrote it; `None`
    /// for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text;
        if t.is_empty()
            || !t.len().is_multiple_of(2)
            || t.len() > 2 * Self::MAX_LEN
            || !t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map(PageCursor)
    }

    pub fn to_text(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    #[error("inbox storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("inbox entry {0} is unreadable: {1}")]
    Corrupt(String, String),
    #[error("cannot encode inbox entry {0}: {1}")]
    Encode(String, String),
    /// Another decision (or request) changed the item first.
    #[error("inbox item {0} was changed by someone else meanwhile")]
    Changed(String),
}

#[derive(Clone)]
pub struct Inbox {
    items: sled::Tree,
    /// The items by when they came: key `received_at` (u64, big-endian), the
    /// millisecond within it (u16, big-endian), then the id, value empty;
    /// what pages of the listing read. Written after the item, and
    /// completed at open (an item without its entry, from a crash between
    /// the two or a store from before the index, gets it); built again at
    /// open from a store whose keys had the second alone.
    by_time: sled::Tree,
    alerts: sled::Tree,
    /// Per requesting State, its pending items (and places reserved for
    /// items about to be written) by id, with the time until which each
    /// counts ([`counts_until`], unix seconds): what [`Inbox::waiting_for`]
    /// and [`Inbox::reserve`] count without reading the tree. Read from the
    /// tree at open, then kept with every write.
    waiting: std::sync::Arc<std::sync::Mutex<Waiting>>,
    /// What `status` reports, without listing the trees: the items pending
    /// (by id, with their deadlines), and how many alerts are kept. Read
    /// from the trees at open, then kept with every write.
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
    /// Held across a write of an item and its note ([`Inbox::noted`]).
    writing: std::sync::Arc<std::sync::Mutex<()>>,
}

#[derive(Default)]
struct Counts {
    pending: std::collections::HashMap<String, u64>,
    alerts: usize,
}

impl Counts {
    /// Forgets the items pending past their deadline (they can no longer
    /// be decided: `Node::decide` refuses them as expired).
    fn lapse(&mut self, now: u64) {
        self.pending.retain(|_, deadline| *deadline >= now);
    }
}

type Waiting = std::collections::HashMap<CountryCode, std::collections::HashMap<String, u64>>;

/// Until when a pending item counts toward its State's bound (unix
/// seconds): its deadline, and at least a day after it was received, so
/// that queries of a short time-to-live cannot put more than the bound
/// before the reviewers in a day (an item past its deadline stays in the
/// list until someone looks at it).
pub fn counts_until(received_at: u64, deadline: u64) -> u64 {
    deadline.max(received_at.saturating_add(86_400))
}

/// Never stores empty bytes for a value that failed to encode: the failure is
/// the caller's error.
fn enc<T: Serialize>(what: &str, v: &T) -> Result<Vec<u8>, InboxError> {
    serde_json::to_vec(v).map_err(|e| InboxError::Encode(what.to_string(), e.to_string()))
}

impl Inbox {
    pub fn open(db: &sled::Db) -> Result<Self, InboxError> {
        let inbox = Inbox {
            items: db.open_tree("inbox")?,
            by_time: db.open_tree("inbox_by_time")?,
            alerts: db.open_tree("alerts")?,
            waiting: Default::default(),
            counts: Default::default(),
            writing: Default::default(),
        };
        let meta = db.open_tree("inbox_meta")?;
        let layout_before = meta.get("index_layout")?.as_deref() != Some(INDEX_LAYOUT);
        if layout_before {
            inbox.by_time.clear()?;
        }
        // An unreadable item is reported where it is listed, not here: it
        // must not stop the node from starting.
        for kv in inbox.items.iter() {
            let (k, v) = kv?;
            // An unreadable item is listed as the oldest, where reading it
            // reports it.
            let tk = match serde_json::from_slice::<InboxItem>(&v) {
                Ok(item) => {
                    inbox.note(&item);
                    item.time_key()
                }
                Err(_) => time_key(0, 0, &k),
            };
            if !inbox.by_time.contains_key(&tk)? {
                inbox.by_time.insert(tk, &[][..])?;
            }
        }
        if layout_before {
            // A start cut short before this clears and builds it again.
            meta.insert("index_layout", INDEX_LAYOUT)?;
        }
        let mut alerts = 0;
        for k in inbox.alerts.iter().keys() {
            k?;
            alerts += 1;
        }
        if let Ok(mut c) = inbox.counts.lock() {
            c.alerts = alerts;
        }
        Ok(inbox)
    }

    /// Runs `write` (of `item`) and notes it ([`Inbox::note`]) in one step:
    /// a request and the decision of it, written at once, cannot leave the
    /// counts behind the tree. Then indexes it by time.
    fn noted<T>(
        &self,
        item: &InboxItem,
        write: impl FnOnce() -> Result<T, InboxError>,
    ) -> Result<T, InboxError> {
        let _one = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let r = write()?;
        self.note(item);
        // The item is written: a failed index entry is made at the next
        // open, and must not fail the request (a retry would read as a
        // replay).
        if let Err(e) = self.by_time.insert(item.time_key(), &[][..]) {
            tracing::warn!(id = item.id, error = %e, "an inbox item could not be indexed by time; it is indexed at the next start");
        }
        Ok(r)
    }

    /// Keeps [`Inbox::waiting`] and the pending count in step with an item
    /// just written.
    fn note(&self, item: &InboxItem) {
        if let Ok(mut c) = self.counts.lock() {
            if item.status == InboxStatus::Pending {
                c.pending.insert(item.id.clone(), item.deadline);
            } else {
                c.pending.remove(&item.id);
            }
        }
        let Ok(mut w) = self.waiting.lock() else {
            return;
        };
        let of_state = w.entry(item.requester).or_default();
        if item.status == InboxStatus::Pending {
            of_state.insert(
                item.id.clone(),
                counts_until(item.received_at, item.deadline),
            );
        } else {
            of_state.remove(&item.id);
        }
    }

    /// Takes one of `state`'s places for the item `id` about to be written
    /// (counting until `until`), if it has fewer than `bound` at `now`: the
    /// check and the taking are one step, so that queries answered at once
    /// cannot all pass a check made before any is written. A place taken
    /// for an item then not written frees itself at `until`.
    pub fn reserve(
        &self,
        state: CountryCode,
        id: &str,
        until: u64,
        now: u64,
        bound: usize,
    ) -> bool {
        let Ok(mut w) = self.waiting.lock() else {
            return false;
        };
        let of_state = w.entry(state).or_default();
        of_state.retain(|_, u| *u >= now);
        if of_state.len() >= bound && !of_state.contains_key(id) {
            return false;
        }
        of_state.insert(id.to_string(), until);
        true
    }

    /// How many of `state`'s requests count toward its bound at `now`:
    /// pending (or about to be written), until [`counts_until`].
    pub fn waiting_for(&self, state: CountryCode, now: u64) -> usize {
        let Ok(mut w) = self.waiting.lock() else {
            return 0;
        };
        w.get_mut(&state).map_or(0, |of_state| {
            of_state.retain(|_, until| *until >= now);
            of_state.len()
        })
    }

    /// Stores an item and waits for the disk: the acknowledgement that tells
    /// the requester a person will decide is sent only after this.
    pub fn put(&self, item: &InboxItem) -> Result<(), InboxError> {
        let bytes = enc(&item.id, item)?;
        self.noted(item, || Ok(self.items.insert(item.id.as_bytes(), bytes)?))?;
        self.items.flush()?;
        Ok(())
    }

    /// Stores a new item and waits for the disk; refuses to replace one.
    pub fn put_new(&self, item: &InboxItem) -> Result<(), InboxError> {
        let bytes = enc(&item.id, item)?;
        self.noted(item, || {
            self.items
                .compare_and_swap(item.id.as_bytes(), None as Option<&[u8]>, Some(bytes))?
                .map_err(|_| InboxError::Changed(item.id.clone()))
        })?;
        self.items.flush()?;
        Ok(())
    }

    /// Replaces `old` (as read) by `new` and waits for the disk, only if
    /// nobody changed the item in between: two decisions of one item cannot
    /// both be recorded.
    pub fn replace(&self, old: &InboxItem, new: &InboxItem) -> Result<(), InboxError> {
        let (old_bytes, new_bytes) = (enc(&old.id, old)?, enc(&new.id, new)?);
        self.noted(new, || {
            self.items
                .compare_and_swap(new.id.as_bytes(), Some(old_bytes), Some(new_bytes))?
                .map_err(|_| InboxError::Changed(new.id.clone()))
        })?;
        self.items.flush()?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<InboxItem>, InboxError> {
        self.items
            .get(id.as_bytes())?
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| InboxError::Corrupt(id.into(), e.to_string()))
            })
            .transpose()
    }

    /// Every item, oldest first, read whole (the API, the CLI and the
    /// console read [`Inbox::page`]).
    pub fn list(&self) -> Result<Vec<InboxItem>, InboxError> {
        let mut all = Vec::new();
        for kv in self.items.iter() {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k).into_owned();
            all.push(
                serde_json::from_slice::<InboxItem>(&v)
                    .map_err(|e| InboxError::Corrupt(id, e.to_string()))?,
            );
        }
        all.sort_by(|a, b| a.order().cmp(&b.order()));
        Ok(all)
    }

    /// The items waiting for a decision at `now` (pending, their deadline
    /// not passed), newest first: read by id, not by listing the tree. They
    /// are bounded: each counts toward its State's
    /// `node.max_reviews_waiting_per_state` until at least its deadline. An
    /// item that cannot be read is passed over (the paged listing reports
    /// it).
    pub fn pending_items(&self, now: u64) -> Result<Vec<InboxItem>, InboxError> {
        let ids: Vec<String> = self
            .counts
            .lock()
            .map(|mut c| {
                c.lapse(now);
                c.pending.keys().cloned().collect()
            })
            .unwrap_or_default();
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get(&id) {
                Ok(Some(item)) if item.status == InboxStatus::Pending && item.deadline >= now => {
                    items.push(item)
                }
                Ok(_) => {}
                Err(InboxError::Corrupt(id, e)) => {
                    tracing::warn!(
                        id,
                        error = e,
                        "an inbox item cannot be read; it is passed over"
                    )
                }
                Err(e) => return Err(e),
            }
        }
        items.sort_by(|a, b| b.order().cmp(&a.order()));
        Ok(items)
    }

    /// A page of the items, pending and decided, newest first: at most
    /// `limit`, older than `after` (the `next` of the page before), and
    /// where the next page goes on from (`None` on the last). Reads only the
    /// items it returns, and one more index entry.
    pub fn page(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<(Vec<InboxItem>, Option<PageCursor>), InboxError> {
        newest_first(&self.by_time, after, limit, |k, _| {
            let id = String::from_utf8_lossy(k.get(ID_AT..).unwrap_or_default()).into_owned();
            let at = k
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            match self.get(&id) {
                // An entry whose item is not written (a crash between the
                // two writes of a first request), or of another time than
                // the item's (indexed at 0 while it could not be read), lists
                // nothing.
                Ok(Some(item)) if Some(item.received_at) == at => Ok(Some(item)),
                Ok(_) => Ok(None),
                // One unreadable item does not hide the rest.
                Err(InboxError::Corrupt(id, e)) => {
                    tracing::warn!(
                        id,
                        error = e,
                        "an inbox item cannot be read; it is passed over"
                    );
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
    }

    /// One screen of the console's inbox: on the first (`after` None) every
    /// item waiting at `now`, newest first; then the decided or lapsed ones,
    /// newest first, older than `after`, read `per_page` at a time until at
    /// least `per_page` are shown or `scan_bound` items were read (items
    /// waiting are passed over there, as they are listed above), and the
    /// cursor the next screen goes on from (`None` once the oldest is shown).
    ///
    /// A screen reads at most `scan_bound + per_page` index entries past the
    /// items waiting, however long the inbox has grown.
    pub fn screen(
        &self,
        after: Option<PageCursor>,
        now: u64,
        per_page: usize,
        scan_bound: usize,
    ) -> Result<(Vec<InboxItem>, Option<PageCursor>), InboxError> {
        let waits = |i: &InboxItem| i.status == InboxStatus::Pending && i.deadline >= now;
        let mut list = match after {
            None => self.pending_items(now)?,
            Some(_) => Vec::new(),
        };
        let (mut cursor, mut seen, mut shown) = (after, 0usize, 0usize);
        loop {
            let (page, next) = self.page(cursor.as_ref(), per_page.max(1))?;
            seen += page.len();
            for i in page.into_iter().filter(|i| !waits(i)) {
                shown += 1;
                list.push(i);
            }
            cursor = next;
            if cursor.is_none() || shown >= per_page || seen >= scan_bound {
                return Ok((list, cursor));
            }
        }
    }

    /// How many items wait for a decision at `now` (as
    /// [`Inbox::pending_items`]), without reading the tree.
    pub fn pending(&self, now: u64) -> usize {
        self.counts.lock().map_or(0, |mut c| {
            c.lapse(now);
            c.pending.len()
        })
    }

    /// How many alerts are kept, without reading the tree.
    pub fn alert_count(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.alerts)
    }

    /// Stores an alert, unflushed, as [`Inbox::raise_all`]. Keyed by time,
    /// record and requesting State: two States tracing one stolen weapon in
    /// the same second are two alerts.
    pub fn raise(&self, alert: &Alert) -> Result<(), InboxError> {
        self.raise_all(std::slice::from_ref(alert))
    }

    /// Stores the alerts of one trace, unflushed: the caller's next flush
    /// (the answer's audit entry, in the same sled log) takes them to disk,
    /// or sled's own flush within half a second where the reply flushes
    /// nothing.
    ///
    /// Not a flush of their own: an alert is raised for a record hidden
    /// from the answer as well (a confidential stolen weapon matched by a
    /// wildcard), and a flush costs a disk write the requester could time.
    /// An answer that raised alerts and one that did not wait for the same
    /// one flush.
    pub fn raise_all(&self, alerts: &[Alert]) -> Result<(), InboxError> {
        for alert in alerts {
            let key = [
                alert.at.to_be_bytes().as_slice(),
                alert.record.as_bytes(),
                &[0],
                alert.requester.as_bytes().as_slice(),
            ]
            .concat();
            if self.alerts.insert(key, enc("alert", alert)?)?.is_none()
                && let Ok(mut c) = self.counts.lock()
            {
                c.alerts += 1;
            }
        }
        Ok(())
    }

    /// A page of the alerts, newest first: at most `limit`, older than
    /// `after` (the `next` of the page before), and where the next page goes
    /// on from (`None` on the last). Reads only the alerts it returns, and
    /// one more to know whether the page is the last.
    pub fn alerts_page(
        &self,
        after: Option<&PageCursor>,
        limit: usize,
    ) -> Result<(Vec<Alert>, Option<PageCursor>), InboxError> {
        newest_first(&self.alerts, after, limit, |k, v| {
            match serde_json::from_slice(v) {
                Ok(alert) => Ok(Some(alert)),
                // One unreadable alert does not hide the rest.
                Err(e) => {
                    tracing::warn!(key = ?k, error = %e, "an alert cannot be read; it is passed over");
                    Ok(None)
                }
            }
        })
    }

    /// Every alert, oldest first (for tests and small stores; the API and
    /// the console read [`Inbox::alerts_page`]).
    pub fn alerts(&self) -> Result<Vec<Alert>, InboxError> {
        let mut all = Vec::new();
        for kv in self.alerts.iter() {
            let (_, v) = kv?;
            all.push(
                serde_json::from_slice(&v)
                    .map_err(|e| InboxError::Corrupt("alert".into(), e.to_string()))?,
            );
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CountryCode;

    /// KE's trace matched stolen record `DE-{i:05}`.
    fn stolen_record_alert(i: usize) -> Alert {
        Alert {
            at: 1_764_000_000,
            requester: CountryCode::parse("KE").unwrap(),
            record: format!("DE-{i:05}"),
            marking: Marking::new("Walther", CountryCode::parse("DE").unwrap(), "WP1?4219")
                .unwrap(),
            kind: EventKind::Stolen,
            date: EventDate::parse("2018-05-02").unwrap(),
            trace: Some("t".into()),
            digest: None,
            more: None,
        }
    }

    /// A wildcard matching thousands of stolen records raises at most
    /// ALERTS_PER_TRACE alerts, the last counting the rest, read back with
    /// the count.
    #[test]
    fn a_trace_raises_a_bounded_number_of_alerts_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_db(&dir.path().join("db"), &Default::default()).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        let alert = stolen_record_alert;
        let few: Vec<Alert> = (0..3).map(alert).collect();
        assert_eq!(bounded(few.clone()), few);
        let exactly: Vec<Alert> = (0..ALERTS_PER_TRACE).map(alert).collect();
        assert_eq!(bounded(exactly.clone()), exactly);
        let many = bounded((0..10_000).map(alert).collect());
        assert_eq!(many.len(), ALERTS_PER_TRACE);
        assert_eq!(
            many.last().unwrap().more,
            Some(10_000 - ALERTS_PER_TRACE as u64)
        );
        assert!(
            many[..ALERTS_PER_TRACE - 1]
                .iter()
                .all(|a| a.more.is_none())
        );
        inbox.raise_all(&many).unwrap();
        let kept = inbox.alerts().unwrap();
        assert_eq!(kept.len(), ALERTS_PER_TRACE);
        // Counted without listing; the same alerts raised again are the
        // same keys, not more alerts.
        assert_eq!(inbox.alert_count(), ALERTS_PER_TRACE);
        inbox.raise_all(&many).unwrap();
        assert_eq!(inbox.alert_count(), ALERTS_PER_TRACE);
        assert_eq!(
            kept.iter().filter_map(|a| a.more).collect::<Vec<_>>(),
            [10_000 - ALERTS_PER_TRACE as u64]
        );
    }

    /// Raising alerts writes nothing to disk by itself: they reach it with
    /// the caller's next flush (the audit entry of the answer that raised
    /// them), and survive a reopen after it. An answer that raised alerts
    /// thus waits for no flush of its own, which a requester timing the
    /// answer to a wildcard could read as a hidden stolen record matched.
    #[test]
    fn alerts_reach_the_disk_with_the_next_flush_not_one_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            sled::Config::new()
                .path(dir.path())
                .flush_every_ms(None)
                .open()
                .unwrap()
        };
        // Bytes in the store's files.
        let on_disk = || -> u64 {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        };
        let alert = stolen_record_alert(1);
        {
            let db = open();
            let inbox = Inbox::open(&db).unwrap();
            db.flush().unwrap();
            let before = on_disk();
            inbox.raise_all(std::slice::from_ref(&alert)).unwrap();
            assert_eq!(on_disk(), before, "raising alerts flushed them");
            assert_eq!(inbox.alerts().unwrap(), std::slice::from_ref(&alert));
            // What the answer's audit entry does next: one flush for both.
            db.flush().unwrap();
            assert!(on_disk() > before, "the flush after wrote nothing");
        }
        let db = open();
        assert_eq!(Inbox::open(&db).unwrap().alerts().unwrap(), [alert]);
    }

    /// A State's requests waiting for a person are counted without reading
    /// the tree: a decided one no longer counts, nor one past its deadline
    /// and a day after it came (a short time-to-live does not free its
    /// place sooner), another State's never does, and a reopened inbox
    /// counts the same. A place is reserved and checked in one step.
    #[test]
    fn requests_waiting_are_counted_per_state_and_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        // Waits for the first handle's file lock to go.
        let open = crate::registry::tests::open_db;
        let item = |id: &str, state: &str, deadline: u64| InboxItem {
            id: id.into(),
            received_at: 100,
            received_at_ms: None,
            deadline,
            reason: ReviewReason::Urgent,
            requester: CountryCode::parse(state).unwrap(),
            peer: "p".into(),
            query: vec![1, 2, 3],
            status: InboxStatus::Pending,
            answer: None,
        };
        let ke = CountryCode::parse("KE").unwrap();
        let ng = CountryCode::parse("NG").unwrap();
        {
            let db = open(&path).unwrap();
            let inbox = Inbox::open(&db).unwrap();
            let a = item("a", "KE", 1_000);
            inbox.put_new(&a).unwrap();
            inbox.put_new(&item("b", "KE", 2_000)).unwrap();
            inbox.put_new(&item("c", "KE", 3_000)).unwrap();
            inbox.put_new(&item("d", "NG", 3_000)).unwrap();
            assert_eq!(inbox.waiting_for(ke, 500), 3);
            assert_eq!(inbox.waiting_for(ng, 500), 1);
            assert_eq!(inbox.pending(500), 4);
            let decided = InboxItem {
                status: InboxStatus::Refused {
                    at: 600,
                    reason: WithheldReason::Other,
                },
                ..a.clone()
            };
            inbox.replace(&a, &decided).unwrap();
            assert_eq!(inbox.waiting_for(ke, 600), 2);
            // Pending until decided, whatever its deadline (as `status` and
            // the listing say).
            assert_eq!(inbox.pending(600), 3);
            // Past their deadlines, none can be decided any more: none waits.
            assert_eq!(inbox.pending(3_001), 0);
            // b's deadline passed, but it came less than a day ago.
            assert_eq!(inbox.waiting_for(ke, 2_500), 2);
            // A day after they came (received at 100), neither counts.
            assert_eq!(inbox.waiting_for(ke, 86_501), 0);
        }
        let db = open(&path).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        assert_eq!(inbox.pending(600), 3);
        assert_eq!(
            inbox.pending(600),
            inbox
                .list()
                .unwrap()
                .iter()
                .filter(|i| i.status == InboxStatus::Pending)
                .count()
        );
        assert_eq!(inbox.waiting_for(ke, 600), 2);
        assert_eq!(inbox.waiting_for(ng, 2_500), 1);
        assert_eq!(inbox.waiting_for(CountryCode::parse("FR").unwrap(), 0), 0);
        // Reserving: within the bound, or again for the same item; not past it.
        assert!(inbox.reserve(ke, "e", 90_000, 600, 3));
        assert!(!inbox.reserve(ke, "f", 90_000, 600, 3));
        assert!(inbox.reserve(ke, "e", 90_000, 600, 3));
        assert_eq!(inbox.waiting_for(ke, 600), 3);
        assert!(
            inbox.reserve(ng, "g", 90_000, 600, 3),
            "another State's bound"
        );
        // Writing the reserved item takes no second place.
        inbox.put_new(&item("e", "KE", 3_000)).unwrap();
        assert_eq!(inbox.waiting_for(ke, 600), 3);
        assert_eq!(counts_until(100, 50), 86_500);
        assert_eq!(counts_until(100, 100_000), 100_000);
    }

    /// Requests that came in the same second are listed newest first by
    /// their millisecond, in the pages and among those waiting, not by id (a
    /// helper's trial: eight urgent traces 0.15 s apart came out in the
    /// order of their ids within each second); an index whose keys had the
    /// second alone is built again at open.
    #[test]
    fn requests_of_the_same_second_are_listed_by_their_millisecond() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let open = crate::registry::tests::open_db;
        // Ids running against time: listed by id, the order is reversed.
        let items: Vec<InboxItem> = (0..6u64)
            .map(|n| InboxItem {
                id: format!("{:016x}", 100 - n),
                received_at: 7_000,
                received_at_ms: Some(7_000_000 + n * 150),
                deadline: 90_000,
                reason: ReviewReason::Urgent,
                requester: CountryCode::parse("KE").unwrap(),
                peer: "p".into(),
                query: vec![1, 2, 3],
                status: InboxStatus::Pending,
                answer: None,
            })
            .collect();
        let newest_first: Vec<String> = items.iter().rev().map(|i| i.id.clone()).collect();
        let paged = |inbox: &Inbox| {
            let mut seen = Vec::new();
            let mut next = None;
            loop {
                let (page, more) = inbox.page(next.as_ref(), 4).unwrap();
                seen.extend(page.into_iter().map(|i| i.id));
                match more {
                    Some(c) => next = Some(c),
                    None => return seen,
                }
            }
        };
        {
            let db = open(&path).unwrap();
            let inbox = Inbox::open(&db).unwrap();
            for i in &items {
                inbox.put_new(i).unwrap();
            }
            assert_eq!(paged(&inbox), newest_first);
            let waiting: Vec<String> = inbox
                .pending_items(7_001)
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect();
            assert_eq!(waiting, newest_first);
            // As the index was before this layout: the second, then the id.
            inbox.by_time.clear().unwrap();
            for i in &items {
                let mut k = i.received_at.to_be_bytes().to_vec();
                k.extend_from_slice(i.id.as_bytes());
                inbox.by_time.insert(k, &[][..]).unwrap();
            }
            db.open_tree("inbox_meta")
                .unwrap()
                .remove("index_layout")
                .unwrap();
            db.flush().unwrap();
        }
        let db = open(&path).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        assert_eq!(paged(&inbox), newest_first);
        assert_eq!(inbox.by_time.len(), items.len(), "each item indexed once");
    }

    /// The inbox is listed newest first, a page at a time, through its time
    /// index, which a store from before the index (or a crash between an
    /// item and its entry) gets at open; the requests waiting are read by
    /// id, newest first.
    #[test]
    fn requests_are_listed_newest_first_a_page_at_a_time_and_waiting_ones_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let open = crate::registry::tests::open_db;
        let item = |n: u64| InboxItem {
            id: format!("{n:016x}"),
            received_at: 1_000 + n,
            received_at_ms: None,
            deadline: 90_000,
            reason: ReviewReason::Urgent,
            requester: CountryCode::parse("KE").unwrap(),
            peer: "p".into(),
            query: vec![1, 2, 3],
            status: InboxStatus::Pending,
            answer: None,
        };
        let received = |items: &[InboxItem]| {
            items
                .iter()
                .map(|i| i.received_at - 1_000)
                .collect::<Vec<_>>()
        };
        {
            let db = open(&path).unwrap();
            let inbox = Inbox::open(&db).unwrap();
            for n in 0..7 {
                inbox.put_new(&item(n)).unwrap();
            }
            let decided = InboxItem {
                status: InboxStatus::Refused {
                    at: 2_000,
                    reason: WithheldReason::Other,
                },
                ..item(3)
            };
            inbox.replace(&item(3), &decided).unwrap();
            let (first, next) = inbox.page(None, 3).unwrap();
            assert_eq!(received(&first), [6, 5, 4]);
            let (second, next) = inbox.page(next.as_ref(), 3).unwrap();
            assert_eq!(received(&second), [3, 2, 1]);
            assert!(
                second[0].status != InboxStatus::Pending,
                "decided, listed where it came"
            );
            let (third, next) = inbox.page(next.as_ref(), 3).unwrap();
            assert_eq!((received(&third), next), (vec![0], None));
            assert_eq!(
                received(&inbox.pending_items(1_000).unwrap()),
                [6, 5, 4, 2, 1, 0]
            );
            // Past their deadline they can no longer be decided: none waits,
            // and the listing still holds them.
            assert!(inbox.pending_items(90_001).unwrap().is_empty());
            assert_eq!(inbox.pending(90_001), 0);
            // An unreadable item, and an index entry of another time than
            // its item's, hide nothing else: passed over.
            let bad = "00000000000000ff";
            inbox.items.insert(bad, &b"{ half"[..]).unwrap();
            inbox
                .by_time
                .insert(time_key(1_004, 0, bad.as_bytes()), &[][..])
                .unwrap();
            inbox
                .by_time
                .insert(time_key(1_003, 0, item(5).id.as_bytes()), &[][..])
                .unwrap();
            let (all, _) = inbox.page(None, 100).unwrap();
            assert_eq!(received(&all), [6, 5, 4, 3, 2, 1, 0]);
            let (first, next) = inbox.page(None, 3).unwrap();
            assert_eq!(received(&first), [6, 5, 4]);
            let (second, next) = inbox.page(next.as_ref(), 4).unwrap();
            assert_eq!((received(&second), next), (vec![3, 2, 1, 0], None));
            inbox.items.remove(bad).unwrap();
            // As a store from before the index: its entries gone.
            inbox.by_time.clear().unwrap();
            db.flush().unwrap();
        }
        let db = open(&path).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        let (all, next) = inbox.page(None, 100).unwrap();
        assert_eq!((received(&all), next), (vec![6, 5, 4, 3, 2, 1, 0], None));
        let mut listed = inbox.list().unwrap();
        listed.reverse();
        assert_eq!(all, listed, "the pages hold what the whole listing does");
    }

    /// The console's inbox, a screen at a time: every waiting request on the
    /// first screen only, then the decided and lapsed ones newest first,
    /// each exactly once across the screens; a screen stops at the scan
    /// bound even when the requests it read were all waiting, and its
    /// cursor goes on from there.
    #[test]
    fn the_console_shows_waiting_requests_once_and_every_decided_one_a_screen_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_db(&dir.path().join("db"), &Default::default()).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        let now = 2_000;
        // Received at 1,000 + n: the newest eight and number 3 waiting,
        // number 5 pending past its deadline (lapsed), the rest refused.
        let waiting = |n: u64| n >= 12 || n == 3;
        for n in 0..20u64 {
            let item = InboxItem {
                id: format!("{n:016x}"),
                received_at: 1_000 + n,
                received_at_ms: None,
                deadline: if n == 5 { 1_500 } else { 90_000 },
                reason: ReviewReason::Urgent,
                requester: CountryCode::parse("KE").unwrap(),
                peer: "p".into(),
                query: vec![1, 2, 3],
                status: if waiting(n) || n == 5 {
                    InboxStatus::Pending
                } else {
                    InboxStatus::Refused {
                        at: 1_900,
                        reason: WithheldReason::Other,
                    }
                },
                answer: None,
            };
            inbox.put_new(&item).unwrap();
        }
        let numbers = |items: &[InboxItem]| {
            items
                .iter()
                .map(|i| i.received_at - 1_000)
                .collect::<Vec<_>>()
        };
        let (first, mut after) = inbox.screen(None, now, 4, 6).unwrap();
        assert_eq!(
            numbers(&first),
            [19, 18, 17, 16, 15, 14, 13, 12, 3],
            "the waiting ones, and no decided one within the scan bound"
        );
        assert!(after.is_some(), "the bound reached, the older link kept");
        let mut screens = Vec::new();
        while let Some(cursor) = after {
            let (screen, next) = inbox.screen(Some(cursor), now, 4, 6).unwrap();
            assert!(screen.len() >= 4 || next.is_none(), "a full screen");
            screens.push(numbers(&screen));
            after = next;
        }
        assert_eq!(
            screens,
            [vec![11, 10, 9, 8], vec![7, 6, 5, 4], vec![2, 1, 0]],
            "each decided or lapsed request once, newest first; the waiting one passed over"
        );
    }

    /// Alerts are listed newest first, a page at a time, each page going on
    /// from the cursor of the one before, with no alert repeated or left
    /// out; a cursor of another shape is not read.
    #[test]
    fn alerts_are_listed_newest_first_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_db(&dir.path().join("db"), &Default::default()).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        let alert = |i: u64| Alert {
            at: 1_764_000_000 + i,
            requester: CountryCode::parse("KE").unwrap(),
            record: format!("DE-{i}"),
            marking: Marking::new("Walther", CountryCode::parse("DE").unwrap(), "WP104219")
                .unwrap(),
            kind: EventKind::Stolen,
            date: EventDate::parse("2018-05-02").unwrap(),
            trace: None,
            digest: None,
            more: None,
        };
        let (none, next) = inbox.alerts_page(None, 10).unwrap();
        assert!(none.is_empty() && next.is_none());
        for i in 0..25 {
            inbox.raise(&alert(i)).unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let (page, next) = inbox.alerts_page(cursor.as_ref(), 10).unwrap();
            pages += 1;
            seen.extend(page.iter().map(|a| a.at - 1_764_000_000));
            // Through its text, as the API hands it out.
            match next {
                Some(c) => cursor = Some(PageCursor::parse(&c.to_text()).unwrap()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, (0..25).rev().collect::<Vec<_>>());
        // Exactly a page's worth: the page says it is the last.
        let (page, next) = inbox.alerts_page(None, 25).unwrap();
        assert_eq!((page.len(), next), (25, None));
        for bad in ["", "abc", "zz", "+f", " 0f", "0F", "é0", &"00".repeat(76)] {
            assert!(PageCursor::parse(bad).is_none(), "{bad:?}");
        }
    }

    /// Two States tracing one stolen weapon in the same second are two
    /// alerts (the key once held only the time and the record, and the
    /// second overwrote the first).
    #[test]
    fn alerts_of_two_requesters_in_one_second_are_both_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_db(&dir.path().join("db"), &Default::default()).unwrap();
        let inbox = Inbox::open(&db).unwrap();
        let alert = |requester: &str| Alert {
            at: 1_764_000_000,
            requester: CountryCode::parse(requester).unwrap(),
            record: "DE-19".into(),
            marking: Marking::new("Walther", CountryCode::parse("DE").unwrap(), "WP104219")
                .unwrap(),
            kind: EventKind::Stolen,
            date: EventDate::parse("2018-05-02").unwrap(),
            trace: None,
            digest: None,
            more: None,
        };
        inbox.raise(&alert("KE")).unwrap();
        inbox.raise(&alert("NG")).unwrap();
        assert_eq!(inbox.alert_count(), 2);
        drop(inbox);
        let inbox = Inbox::open(&db).unwrap();
        assert_eq!(inbox.alert_count(), 2, "counted again at open");
        let who: Vec<String> = inbox
            .alerts()
            .unwrap()
            .iter()
            .map(|a| a.requester.to_string())
            .collect();
        assert_eq!(who, ["KE", "NG"]);
    }
}
