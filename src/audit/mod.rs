//! The audit log: every query sent or received, every answer sent or received
//! and every decision, appended to a hash chain in sled. Each entry holds the
//! digest of the one before, so a changed, removed or reordered entry is found
//! by `verify`; the node periodically signs the head, so that even its own
//! operator cannot rewrite history unnoticed. The oldest entries move to
//! files once the store holds many ([`archive`]); the chain runs on through
//! them.

pub mod archive;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, RwLock};

use ring::digest;
use serde::{Deserialize, Serialize};

use crate::identity::NodeKey;
use crate::model::CountryCode;
use crate::protocol;

/// How often the node calls [`AuditLog::archive_oldest`]: each call moves a
/// slice of the store (more only when entries come faster), so a store past
/// `node.audit_keep_in_store` drains over a minute or two of small moves,
/// not one of half the store.
pub const ARCHIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A move takes `keep / ARCHIVE_SLICES` entries (more only when appends
/// outrun that, see [`AuditLog::archive_oldest`]): files of about a tenth
/// of `node.audit_keep_in_store`.
pub const ARCHIVE_SLICES: u64 = 10;

/// Archivings a reader may hold back in a row (the node tries every
/// [`ARCHIVE_EVERY`]: ten minutes) before [`AuditLog::archiving_waits`]
/// says so.
pub const ARCHIVING_PATIENCE: u32 = 60;

/// Most slices one call of [`AuditLog::archive_oldest`] moves of what
/// built up before the last call, however far past `keep` the store is:
/// three tenths of `keep`, besides the entries appended since that call.
pub const ARCHIVE_MOST_SLICES: u64 = 3;

/// [`AuditLog::archive_oldest`]'s rule for a store of `stored` entries with
/// `keep` kept, `draining` whether the last call left it draining,
/// `appended` the entries appended since the last call: how many entries
/// to leave (`None`: nothing moves now), and whether the store is still
/// draining after that move.
fn drain_rule(keep: u64, draining: bool, stored: u64, appended: u64) -> (Option<u64>, bool) {
    let floor = (keep / 2).max(1);
    let slice = (keep / ARCHIVE_SLICES).max(1);
    if !(draining || stored > keep) || stored < floor.saturating_add(slice) {
        return (None, false);
    }
    let leave = (stored - slice)
        .min(keep.saturating_sub(slice))
        .max(floor)
        .max(
            stored.saturating_sub(
                slice
                    .saturating_mul(ARCHIVE_MOST_SLICES)
                    .saturating_add(appended),
            ),
        );
    (Some(leave), leave >= floor.saturating_add(slice))
}

/// The hash of the entry before the first one.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    TraceSent,
    /// A trace's query sent again (`trace retry`): `query` its digest,
    /// `outcome` `asked again N` (and `probed again N` for a blind trace's
    /// filters).
    TraceRetried,
    QueryReceived,
    QueryRefused,
    AnswerSent,
    AnswerReceived,
    AnswerRefused,
    RosterInstalled,
    /// A person approved or refused an inbox request.
    Decision,
    HeadSigned,
    /// Records imported into the national registry (`outcome`: the counts).
    RegistryImported,
    /// The national registry replaced by a file's records (`import --replace`).
    RegistryReplaced,
    /// Records removed from the national registry (`registry remove`).
    RecordsRemoved,
    /// A newer maker reference table applied (`outcome`: its version).
    MakersInstalled,
    /// An officer signed in to the console.
    SignedIn,
    /// A console sign-in refused (`rule`: `wrong_password`, `unknown_officer`,
    /// `locked`, `rate_limited`; `officer`: the name given).
    SignInRefused,
    /// An officer account added, its password reset, its role changed or the
    /// account removed (`outcome` says which).
    OfficerChanged,
    /// A blind evaluation for another State's blind trace (`outcome`:
    /// `N elements`; never a marking: the holder cannot know it).
    BlindEvaluation,
    /// Blind evaluations refused for the requesting State's budget, tallied
    /// as every refusal is (rule `blind_budget`): the first of a peer in a
    /// tally interval without `outcome`, then one entry with `outcome`
    /// `count N` for the rest. Entries written before the tally have
    /// `outcome` `N elements`, one per batch.
    BlindRefused,
}

impl AuditKind {
    /// In words, for people: `query received`.
    pub fn words(self) -> &'static str {
        match self {
            AuditKind::TraceSent => "trace sent",
            AuditKind::TraceRetried => "trace sent again",
            AuditKind::QueryReceived => "query received",
            AuditKind::QueryRefused => "query refused",
            AuditKind::AnswerSent => "answer sent",
            AuditKind::AnswerReceived => "answer received",
            AuditKind::AnswerRefused => "answer refused",
            AuditKind::RosterInstalled => "roster installed",
            AuditKind::Decision => "decision",
            AuditKind::HeadSigned => "audit head signed",
            AuditKind::RegistryImported => "registry imported",
            AuditKind::RegistryReplaced => "registry replaced",
            AuditKind::RecordsRemoved => "records removed",
            AuditKind::MakersInstalled => "maker table installed",
            AuditKind::SignedIn => "signed in",
            AuditKind::SignInRefused => "sign-in refused",
            AuditKind::OfficerChanged => "officer account changed",
            AuditKind::BlindEvaluation => "blind evaluation",
            AuditKind::BlindRefused => "blind evaluation refused",
        }
    }
}

/// One entry. No national-only field is ever written here: peers, States,
/// query digests, outcomes and the rule that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// Unix seconds; RFC 3339 in JSON. The hash covers the seconds as a
    /// number (see [`entry_hash`]), so the chain does not depend on the form.
    #[serde(with = "crate::model::instant")]
    pub at: u64,
    pub kind: AuditKind,
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub state: Option<CountryCode>,
    /// Hex SHA-256 of the signed query frame concerned.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    /// Which rule decided (`rate_limit`, `not_in_roster`, `confidential`, ...).
    #[serde(default)]
    pub rule: Option<String>,
    /// For `head_signed`: base64 of the node's signature over the head.
    #[serde(default)]
    pub signature: Option<String>,
    /// The officer who acted through the console (traces sent, decisions,
    /// sign-ins). Local: audit entries never leave the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// Hex hash of the previous entry.
    pub prev: String,
    /// Hex SHA-256 of this entry's canonical JSON with `hash` empty.
    pub hash: String,
}

/// What an appender fills in; the log adds sequence, time and hashes.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub peer: Option<String>,
    pub state: Option<CountryCode>,
    pub query: Option<String>,
    pub outcome: Option<String>,
    pub rule: Option<String>,
    pub officer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("audit log storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("audit entry {seq} is unreadable: {reason}")]
    Corrupt { seq: u64, reason: String },
    /// A file of the archive ([`archive`]) could not be read or written.
    #[error("audit archive {}: {reason}", path.display())]
    Archive { path: PathBuf, reason: String },
    /// An entry longer than [`archive::MAX_ENTRY`]: not written, so that
    /// every entry can be archived and read back. Every field is bounded
    /// well below it; this guards the bound.
    #[error(
        "an audit entry of {bytes} bytes is longer than the {} an entry may hold; it was not written",
        archive::MAX_ENTRY
    )]
    TooLong { bytes: usize },
}

/// A break in the chain, found by `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    pub seq: u64,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Entries read in the chain's order. A line that cannot be read, or
    /// that comes again or out of order, is a break and not counted; a file
    /// left out, or a walk stopped, reads fewer.
    pub entries: u64,
    /// The last entry's hash; `None` for an empty log, or when the walk
    /// stopped at an archive file it could not read.
    pub head: Option<String>,
    /// The last entry whose signed head covers it, if any.
    pub signed_through: Option<u64>,
    /// The breaks found, sorted by entry number: the first
    /// [`BREAKS_LISTED`] found in the chain, and one for every archive file
    /// left out or not read to its end.
    pub breaks: Vec<Break>,
    /// Breaks in the chain found past the first [`BREAKS_LISTED`], counted
    /// only: a file of garbage lines would otherwise make the report as
    /// long as itself.
    #[serde(default)]
    pub breaks_not_listed: u64,
}

/// The most breaks a [`VerifyReport`] lists.
pub const BREAKS_LISTED: usize = 1000;

/// The breaks `verify` finds: the first [`BREAKS_LISTED`] kept, the rest
/// counted.
#[derive(Default)]
struct Breaks {
    listed: Vec<Break>,
    not_listed: u64,
}

impl Breaks {
    fn push(&mut self, b: Break) {
        if self.listed.len() < BREAKS_LISTED {
            self.listed.push(b);
        } else {
            self.not_listed += 1;
        }
    }

    /// A break about a whole file (left out, or not read to its end):
    /// listed whatever the count, one per file at most.
    fn push_always(&mut self, b: Break) {
        self.listed.push(b);
    }
}

/// The canonical JSON an entry's hash covers: its fields in this order,
/// `at` as a number of Unix seconds, `hash` empty. Kept apart from
/// [`AuditEntry`]'s own JSON form so that how entries are shown can change
/// without breaking a chain.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    at: u64,
    kind: AuditKind,
    peer: &'a Option<String>,
    state: &'a Option<CountryCode>,
    query: &'a Option<String>,
    outcome: &'a Option<String>,
    rule: &'a Option<String>,
    signature: &'a Option<String>,
    /// Absent when `None`, so chains written before officers were named
    /// hash as they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    officer: &'a Option<String>,
    prev: &'a str,
    hash: &'a str,
}

fn entry_hash(e: &AuditEntry) -> String {
    let c = Canonical {
        seq: e.seq,
        at: e.at,
        kind: e.kind,
        peer: &e.peer,
        state: &e.state,
        query: &e.query,
        outcome: &e.outcome,
        rule: &e.rule,
        signature: &e.signature,
        officer: &e.officer,
        prev: &e.prev,
        hash: "",
    };
    let bytes = serde_json::to_vec(&c).unwrap_or_default();
    hex::encode(digest::digest(&digest::SHA256, &bytes).as_ref())
}

#[cfg(test)]
mod canonical_tests {
    use super::*;

    /// The hash covers the same bytes as chains written before entries were
    /// shown with RFC 3339 times: existing logs still verify.
    #[test]
    fn the_hash_covers_the_seconds_as_a_number() {
        let e = AuditEntry {
            seq: 3,
            at: 1_796_093_381,
            kind: AuditKind::AnswerSent,
            peer: Some("12D3KooW".into()),
            state: Some(CountryCode::parse("KE").unwrap()),
            query: Some("ab".into()),
            outcome: Some("hit".into()),
            rule: None,
            signature: None,
            officer: None,
            prev: "00".into(),
            hash: "ignored".into(),
        };
        let legacy = r#"{"seq":3,"at":1796093381,"kind":"answer_sent","peer":"12D3KooW","state":"KE","query":"ab","outcome":"hit","rule":null,"signature":null,"prev":"00","hash":""}"#;
        let want = hex::encode(digest::digest(&digest::SHA256, legacy.as_bytes()).as_ref());
        assert_eq!(entry_hash(&e), want);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""at":"2026-12-01T02:49:41Z""#), "{json}");
    }

    /// An entry naming an officer: the hash covers the name, so the name
    /// cannot be changed or removed unnoticed.
    #[test]
    fn the_hash_covers_the_officer() {
        let mut e = AuditEntry {
            seq: 0,
            at: 1,
            kind: AuditKind::Decision,
            peer: None,
            state: None,
            query: None,
            outcome: None,
            rule: None,
            signature: None,
            officer: Some("amina".into()),
            prev: GENESIS.into(),
            hash: String::new(),
        };
        let named = entry_hash(&e);
        e.officer = Some("someone else".into());
        assert_ne!(entry_hash(&e), named);
        e.officer = None;
        assert_ne!(entry_hash(&e), named);
    }
}

/// The bytes a head signature covers.
fn head_message(seq: u64, hash: &str) -> Vec<u8> {
    let mut m = b"tracenet/v1/audit-head\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

pub struct AuditLog {
    tree: sled::Tree,
    /// (next seq, hash of the last entry): appends are serialised through it.
    head: Mutex<(u64, String)>,
    /// The archive's folder ([`archive`]); `None` for a log opened without
    /// its data directory, which never archives.
    archive: Option<PathBuf>,
    /// Written while entries move to the archive, read by readers (side by
    /// side), so that a reader never sees an entry twice or misses one in
    /// flight.
    moving: RwLock<()>,
    /// Archivings skipped in a row because readers held `moving`.
    held_back: AtomicU32,
    /// Set when the store passed `keep`, cleared once moves took it down to
    /// half of `keep` ([`AuditLog::archive_oldest`]). In memory only: after
    /// a restart the store drains again once it passes `keep`.
    draining: AtomicBool,
    /// The head's next entry number at the last call of
    /// [`AuditLog::archive_oldest`] (`u64::MAX` before the first): what
    /// came since is what a move may take beyond its cap.
    last_called: std::sync::atomic::AtomicU64,
    /// Where each hour starts in the log ([`HOURS_TREE`]).
    hours: sled::Tree,
    /// The index's last segment: set by [`AuditLog::index_hours`] at open,
    /// before any appender, then changed under `head`'s lock.
    reach: Mutex<Reach>,
    /// The entry numbers the log misses, as found when it was opened
    /// ([`AuditLog::missing`]).
    missing: Vec<(u64, u64)>,
}

/// The last segment of the index of hours ([`HOURS_TREE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reach {
    /// Its hour (0: no segment yet), or [`UNINDEXED`] while the index
    /// cannot be trusted past its last segment (see
    /// [`AuditLog::index_hours`]): then nothing is added to it.
    hour: u64,
    /// Its first entry.
    first: u64,
    /// The earliest time of its entries.
    low: u64,
}

/// The tree that tells a reader of a period where to start and where to
/// stop, so that a report of last month, or a listing since yesterday, does
/// not read (and decode) every entry since the log began, nor those after
/// the period. It cuts the log into segments: each starts at the entry
/// whose time first reached an hour that no entry before it reached. Its
/// keys are those hours (unix seconds / [`HOUR`], big-endian); its values
/// the segment's first entry and the earliest time of its entries (two
/// big-endian u64). A reader from time `t` starts at the segment of the
/// latest hour at or before `t`'s: every entry before it is dated before
/// that hour, whatever the clock did (an entry dated earlier than one
/// before it, after the clock was set back, never starts a segment, so it
/// is read). A reader until `u` stops after the last segment whose earliest
/// time is before `u`: every entry after it is dated at `u` or later. A
/// clock once far ahead leaves the hours after it without segments until
/// time catches up: readers then start at the jump, and read more, never
/// less. One key an hour: about 8,800 a year; a segment's earliest time is
/// rewritten only when the clock goes back within it.
const HOURS_TREE: &str = "audit_hours";
/// The index's step, seconds.
const HOUR: u64 = 3600;
/// [`Reach::hour`] when the index stops where it is.
const UNINDEXED: u64 = u64::MAX;

/// A segment's value in [`HOURS_TREE`]: its first entry, its earliest time.
fn segment_value(first: u64, low: u64) -> [u8; 16] {
    let mut v = [0; 16];
    v[..8].copy_from_slice(&first.to_be_bytes());
    v[8..].copy_from_slice(&low.to_be_bytes());
    v
}

/// A segment's first entry and earliest time; `None` for a value of
/// another shape.
fn segment_of(v: &[u8]) -> Option<(u64, u64)> {
    let first = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let low = u64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    (v.len() == 16).then_some((first, low))
}

impl AuditLog {
    /// Opens the log of a store without its archive: for the tests of the
    /// chain alone. A node and its CLI use [`AuditLog::open_in`].
    #[cfg(test)]
    fn open(db: &sled::Db) -> Result<Self, AuditError> {
        let log = AuditLog::open_store(db)?;
        log.index_hours()?;
        Ok(log)
    }

    /// The store's log as it stands, its hours not yet indexed.
    fn open_store(db: &sled::Db) -> Result<Self, AuditError> {
        let tree = db.open_tree("audit")?;
        let head = match tree.last()? {
            Some((k, v)) => head_after(&decode(&k, &v)?)?,
            None => (0, GENESIS.to_string()),
        };
        Ok(AuditLog {
            tree,
            head: Mutex::new(head),
            archive: None,
            moving: RwLock::new(()),
            held_back: AtomicU32::new(0),
            draining: AtomicBool::new(false),
            last_called: std::sync::atomic::AtomicU64::new(u64::MAX),
            hours: db.open_tree(HOURS_TREE)?,
            reach: Mutex::new(Reach {
                hour: 0,
                first: 0,
                low: 0,
            }),
            missing: Vec::new(),
        })
    }

    /// Brings the index of hours ([`HOURS_TREE`]) up to the log's end, from
    /// its last segment's first entry: at most about an hour of entries at
    /// each start, the whole log once (the first start of a build that
    /// indexes, on a log written before). The last segment's earliest time
    /// is found again from its entries (a crash may have lost its last
    /// rewrite). Only each entry's number and time are decoded. An entry that cannot be read, or an archive file that
    /// cannot be read or does not fit, stops the index before it for as
    /// long as the node runs ([`UNINDEXED`]): no reader then starts past
    /// it, so each still meets it and reports it (an entry's hour is not
    /// known until it is read), and the next start tries again.
    fn index_hours(&self) -> Result<(), AuditError> {
        /// The part of an entry the index needs.
        #[derive(Deserialize)]
        struct Stamp {
            seq: u64,
            #[serde(with = "crate::model::instant")]
            at: u64,
        }
        let mut reach = match self.hours.last()? {
            Some((k, v)) => match segment_of(&v) {
                Some((first, _)) => Reach {
                    hour: seq_of(&k),
                    first,
                    low: u64::MAX,
                },
                None => {
                    tracing::warn!(
                        "the audit log's index of hours is damaged: it is built again from the log's start"
                    );
                    self.hours.clear()?;
                    Reach {
                        hour: 0,
                        first: 0,
                        low: u64::MAX,
                    }
                }
            },
            None => Reach {
                hour: 0,
                first: 0,
                low: u64::MAX,
            },
        };
        let from = reach.first;
        // The last segment's earliest time as stored, to be rewritten if
        // its entries say otherwise.
        let stored_low = match self.hours.last()? {
            Some((_, v)) => segment_of(&v).map(|(_, low)| low),
            None => None,
        };
        let mut misfits = Vec::new();
        let (mut read, mut added) = (0u64, 0u64);
        let mut stopped: Option<String> = None;
        self.walk::<AuditError>(from, u64::MAX, Some(&mut misfits), |place, v| {
            if stopped.is_some() {
                return Ok(());
            }
            let at = match place {
                Place::Unreadable(file, reason) => {
                    stopped = Some(format!("{}: {reason}", file.path.display()));
                    return Ok(());
                }
                Place::FileEnd(_) => return Ok(()),
                Place::Archived(file, seq) => (
                    format!(
                        "{}, line {}",
                        file.path.display(),
                        seq.saturating_sub(file.first).saturating_add(1)
                    ),
                    seq,
                ),
                Place::Stored(seq) => (format!("entry {seq}"), seq),
            };
            read += 1;
            match serde_json::from_slice::<Stamp>(v) {
                // An entry out of its place (a line removed from a file, a
                // key of another number): segments past it would start at
                // the wrong entries.
                Ok(_) if matches!(place, Place::Archived(f, seq) if seq > f.last) => {
                    stopped = Some(format!("{}: more lines than its name gives", at.0))
                }
                Ok(s) if s.seq != at.1 => {
                    stopped = Some(format!(
                        "{}: entry {} stands where entry {} belongs",
                        at.0, s.seq, at.1
                    ))
                }
                Ok(s) if s.at / HOUR > reach.hour => {
                    // The segment before is complete: its earliest time
                    // stored as found.
                    if reach.hour > 0 {
                        self.hours.insert(
                            reach.hour.to_be_bytes(),
                            &segment_value(reach.first, reach.low)[..],
                        )?;
                    }
                    reach = Reach {
                        hour: s.at / HOUR,
                        first: s.seq,
                        low: s.at,
                    };
                    added += 1;
                }
                Ok(s) => reach.low = reach.low.min(s.at),
                Err(e) => stopped = Some(format!("{}: {}", at.0, json_fault(&e))),
            }
            Ok(())
        })?;
        if let Some((f, reason)) = misfits.first() {
            stopped.get_or_insert(format!("{}: {reason}", f.path.display()));
        }
        // Stopped, the last segment's entries were not all read: it is
        // left for the next start to find again.
        if stopped.is_none() && reach.hour > 0 && (added > 0 || stored_low != Some(reach.low)) {
            self.hours.insert(
                reach.hour.to_be_bytes(),
                &segment_value(reach.first, reach.low)[..],
            )?;
        }
        if let Some(at) = stopped {
            tracing::warn!(
                at = %at,
                "the audit log cannot be indexed past a part that cannot be read: readers from a time read on from there until it is restored (run `tracenet audit verify`)"
            );
            reach.hour = UNINDEXED;
        }
        if added > 100_000 {
            tracing::info!(entries = read, hours = added, "audit log indexed by hour");
        }
        *self.reach.lock().unwrap_or_else(|p| p.into_inner()) = reach;
        Ok(())
    }

    /// The entries a reader of the period from unix time `since` until
    /// `until` (exclusive) reads: from the first (inclusive) to the second
    /// (exclusive; `u64::MAX` for the log's end). See [`HOURS_TREE`].
    fn span_of(&self, since: u64, until: u64) -> Result<(u64, u64), AuditError> {
        let hour = since / HOUR;
        let (from_key, start) = match self.hours.range(..=hour.to_be_bytes()).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                (k.to_vec(), segment_of(&v).map_or(0, |(first, _)| first))
            }
            None => (Vec::new(), 0),
        };
        if until == u64::MAX {
            return Ok((start, u64::MAX));
        }
        // Taken under the appenders' lock, which each holds until its entry
        // and the index's change are both written: the tree then covers
        // every entry before `next`. Entries written after this are read
        // or not, as they come.
        let (indexed, next) = {
            let head = self.head.lock().unwrap_or_else(|p| p.into_inner());
            let reach = self.reach.lock().unwrap_or_else(|p| p.into_inner());
            (reach.hour != UNINDEXED, head.0)
        };
        if !indexed {
            return Ok((start, u64::MAX));
        }
        // From the segment that begins at `start` (or the entries before
        // the first segment, at `start` 0: dated in the first hour of 1970,
        // so read), the log is read to the end of the last segment that
        // holds an entry before `until`.
        let mut end = start;
        let mut open = start == 0 && until > 0;
        for kv in self.hours.range(from_key..) {
            let (_, v) = kv?;
            let Some((first, low)) = segment_of(&v) else {
                return Ok((start, u64::MAX));
            };
            if first >= next {
                break;
            }
            if first < start {
                continue;
            }
            if open {
                end = end.max(first);
            }
            open = low < until;
        }
        Ok((start, if open { u64::MAX } else { end }))
    }

    /// Opens the log of the node whose data directory is `data_dir`, with
    /// its archive, and finishes an archiving cut short (see
    /// [`AuditLog::settle`]). Refuses an archive that does not fit the
    /// store: a file that claims entries the store holds with other
    /// contents, or past the log's newest entry, is not this log's.
    pub fn open_in(db: &sled::Db, data_dir: &Path) -> Result<Self, AuditError> {
        let dir = data_dir.join(archive::DIR);
        let mut log = AuditLog::open_store(db)?;
        log.archive = Some(dir);
        let files = log.settle()?;
        let first_stored = match log.tree.first()? {
            Some((k, _)) if k.len() == 8 => Some(seq_of(&k)),
            _ => None,
        };
        let missing = missing_ranges(&files, first_stored);
        if let Some((a, b)) = missing.first() {
            tracing::warn!(
                first = a,
                last = b,
                gaps = missing.len(),
                "the audit log has no entries from first to last (an archive file removed or renamed, or the oldest entries removed from the store): listings and reports say so, and lack those of them that fall in their period; run `tracenet audit verify`"
            );
        }
        log.missing = missing;
        if let Some(newest) = files.last()
            && log.tree.is_empty()
        {
            // Every entry is in files: the chain goes on from the newest,
            // whose last line must be the entry its name ends with.
            let mut tail = None;
            for line in archive::lines(newest)? {
                tail = Some(line?);
            }
            let e = tail
                .as_deref()
                .and_then(|l| serde_json::from_slice::<AuditEntry>(l).ok())
                .filter(|e| e.seq == newest.last)
                .ok_or_else(|| AuditError::Archive {
                    path: newest.path.clone(),
                    reason: format!(
                        "its last line is not entry {}, as its name says, and the store is empty: the log cannot go on from it (restore the file from a backup)",
                        newest.last
                    ),
                })?;
            log.head = Mutex::new(head_after(&e)?);
        }
        log.index_hours()?;
        Ok(log)
    }

    /// Makes the store and the archive one log again after an archiving
    /// that stopped between writing a file and removing its entries from
    /// the store (a crash, a failed removal): deletes a `.tmp` file left
    /// behind, and removes from the store each entry the newest file holds
    /// byte for byte. Refuses a store entry the files' range claims with
    /// other contents, or none. Returns the files, oldest first.
    fn settle(&self) -> Result<Vec<archive::ArchiveFile>, AuditError> {
        let Some(dir) = &self.archive else {
            return Ok(Vec::new());
        };
        archive::remove_unfinished(dir)?;
        let files = archive::files(dir)?;
        let Some(newest) = files.last() else {
            return Ok(files);
        };
        let claimed = |k: &[u8]| k.len() != 8 || seq_of(k) <= newest.last;
        if !self.tree.first()?.is_some_and(|(k, _)| claimed(&k)) {
            return Ok(files);
        }
        // Every entry compared before any is removed.
        let mut held = Vec::new();
        // The lines its name gives, no more: a line past them claims an
        // entry that is not the file's, and readers skip it.
        let span = (newest.last - newest.first).saturating_add(1);
        let lines = archive::lines(newest)?.take(usize::try_from(span).unwrap_or(usize::MAX));
        for (i, line) in lines.enumerate() {
            let seq = newest.first.saturating_add(i as u64);
            let line = line?;
            if let Some(v) = self.tree.get(seq.to_be_bytes())? {
                if v != line.as_slice() {
                    return Err(AuditError::Archive {
                        path: newest.path.clone(),
                        reason: format!(
                            "line {} should be entry {seq}, as the store holds it, but is not (the file is not this node's, or one of them was changed): move the file out of the folder and run `tracenet audit verify`",
                            i + 1
                        ),
                    });
                }
                held.push(seq);
            }
        }
        let removed = held.len();
        remove_each(&self.tree, held)?;
        if let Some((k, _)) = self.tree.first()?
            && claimed(&k)
        {
            return Err(AuditError::Archive {
                path: newest.path.clone(),
                reason: format!(
                    "claims entries up to {}, but the store holds entry {} that no file holds: the file is not this node's, or the store is damaged (move the file out of the folder and run `tracenet audit verify`)",
                    newest.last,
                    seq_of(&k)
                ),
            });
        }
        self.tree.flush()?;
        tracing::info!(
            removed,
            archive = %newest.path.display(),
            "audit entries already in the archive removed from the store (an archiving was cut short)"
        );
        Ok(files)
    }

    /// The node's rule, called every [`ARCHIVE_EVERY`]: once the store
    /// holds more than `keep` entries, each call moves its oldest
    /// `keep / ARCHIVE_SLICES` (at least one) to a new archive file, until
    /// less than a slice more than `keep / 2` (at least one) is left; then
    /// nothing moves until it passes `keep` again. So the store holds
    /// between about half of `keep` and `keep`, as when half of it moved
    /// at once, but the work comes in slices ten seconds apart: a move of
    /// half a million entries at once took a holder's answers down by a
    /// fifth to a third for the 30 s holding it (proto-docs/PERFORMANCE.md,
    /// forty-seventh session). When appends outrun a slice per call, a
    /// call also moves everything past `keep` less a slice, but of what
    /// built up before the last call never more than
    /// [`ARCHIVE_MOST_SLICES`] slices: a store far past `keep` (`keep`
    /// lowered, or a reader that held archiving back) drains over several
    /// calls, not in one long move, while what comes in between is moved
    /// as it comes, so the store never grows without bound. Every file holds a slice or more. The
    /// draining is in memory: after a restart the store drains again once
    /// it passes `keep`. `Ok(None)` when nothing moved (nothing due, or see
    /// [`AuditLog::archive_past`]); errors as there, and a first key of
    /// another shape, whatever the count.
    pub fn archive_oldest(&self, keep: u64) -> Result<Option<archive::ArchiveFile>, AuditError> {
        let next = self.head.lock().unwrap_or_else(|p| p.into_inner()).0;
        let appended = match self.last_called.swap(next, Ordering::Relaxed) {
            u64::MAX => 0,
            before => next.saturating_sub(before),
        };
        // Every 10 s: with nothing to move, nothing more is read (not even
        // the archive's folder).
        let Some(stored) = self.stored_span()? else {
            self.draining.store(false, Ordering::Relaxed);
            return Ok(None);
        };
        let draining = self.draining.load(Ordering::Relaxed);
        if drain_rule(keep, draining, stored, appended).0.is_none() {
            self.draining.store(false, Ordering::Relaxed);
            return Ok(None);
        }
        // Decided again on the store as it stands once the log is held and
        // an archiving cut short is finished (entries appended since count
        // as appended since the last call).
        let mut verdict = None;
        let moved = self.move_oldest(|now| {
            let v = drain_rule(
                keep,
                draining,
                now,
                appended.saturating_add(now.saturating_sub(stored)),
            );
            verdict = Some(v);
            v.0
        })?;
        match (&moved, verdict) {
            // Moved, or found nothing to move: the rule says what follows.
            (Some(_), Some((_, still))) | (None, Some((None, still))) => {
                self.draining.store(still, Ordering::Relaxed)
            }
            // Held back by a reader: as it was.
            _ => {}
        }
        Ok(moved)
    }

    /// How many entries the store holds, by their numbers (no scan): from
    /// its first key to the head. `None` when empty. A first key of another
    /// shape is an error (damaged), so that the node reports it rather than
    /// skipping it as nothing to move.
    fn stored_span(&self) -> Result<Option<u64>, AuditError> {
        let next = self.head.lock().unwrap_or_else(|p| p.into_inner()).0;
        match self.tree.first()? {
            None => Ok(None),
            Some((k, _)) if k.len() == 8 => Ok(Some(next.saturating_sub(seq_of(&k)))),
            Some(_) => Err(damaged(u64::MAX, "a key of another shape")),
        }
    }

    /// Moves the oldest entries to a new archive file, leaving the newest
    /// `leave` (at least one) in the store. `Ok(None)` when nothing moved:
    /// no more than `leave` stored, a log opened without its archive, or a
    /// reader walking the log (the next call moves them). Refuses a damaged
    /// range (a key of another shape, a gap, an entry stored under another
    /// number's key): left in the store, `verify` reports it. Blocking:
    /// reads, writes and removes the whole range.
    pub fn archive_past(&self, leave: u64) -> Result<Option<archive::ArchiveFile>, AuditError> {
        self.move_oldest(|stored| (stored > leave).then_some(leave))
    }

    /// Moves all but the newest `plan(stored)` entries (at least one) to a
    /// new archive file, `stored` being how many the store holds once the
    /// log is held from readers and an archiving cut short is finished
    /// (`None`: nothing to move). With readers walking the log, nothing
    /// moves; `plan` then says, on the store as it stands, whether that
    /// held something back (see [`AuditLog::archiving_waits`]).
    fn move_oldest(
        &self,
        mut plan: impl FnMut(u64) -> Option<u64>,
    ) -> Result<Option<archive::ArchiveFile>, AuditError> {
        let Some(dir) = &self.archive else {
            return Ok(None);
        };
        let _moving = match self.moving.try_write() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                // Counted only when there is something to move: readers
                // that held it back this long give way (`archiving_waits`).
                if self
                    .stored_span()
                    .ok()
                    .flatten()
                    .and_then(&mut plan)
                    .is_some()
                {
                    self.held_back.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(None);
            }
        };
        self.held_back.store(0, Ordering::Relaxed);
        // An archiving cut short last time is finished first, so that the
        // new file starts after the newest.
        self.settle()?;
        let Some((k, _)) = self.tree.first()? else {
            return Ok(None);
        };
        if k.len() != 8 {
            return Err(damaged(u64::MAX, "a key of another shape"));
        }
        let first = seq_of(&k);
        let next = self.head.lock().unwrap_or_else(|p| p.into_inner()).0;
        let stored = next.saturating_sub(first);
        let Some(leave) = plan(stored).map(|l| l.max(1)) else {
            return Ok(None);
        };
        if stored <= leave {
            return Ok(None);
        }
        let last = next - 1 - leave;
        let range = first.to_be_bytes()..=last.to_be_bytes();
        /// The part of an entry checked against its key.
        #[derive(Deserialize)]
        struct Seq {
            seq: u64,
        }
        let expect = std::cell::Cell::new(first);
        let entries = self
            .tree
            .range(range.clone())
            .map(|kv| {
                let (k, v) = kv?;
                let seq = seq_of(&k);
                if seq != expect.get() || k.len() != 8 {
                    return Err(damaged(expect.get(), "a gap or a key of another shape"));
                }
                match serde_json::from_slice::<Seq>(&v) {
                    Ok(e) if e.seq == seq => {}
                    _ => return Err(damaged(seq, "unreadable, or stored under another number")),
                }
                expect.set(seq + 1);
                Ok(v.to_vec())
            })
            // Entries missing at the end of the range are a gap too.
            .chain(std::iter::from_fn(|| {
                (expect.get() != last + 1).then(|| {
                    let at = expect.get();
                    expect.set(last + 1);
                    Err(damaged(at, "a gap"))
                })
            }));
        let path = archive::write(dir, first, last, entries)?;
        remove_each(&self.tree, first..=last)?;
        self.tree.flush()?;
        Ok(Some(archive::ArchiveFile { first, last, path }))
    }

    /// Appends an entry and waits until it is on disk: an entry reported
    /// written survives a crash.
    pub fn append(&self, kind: AuditKind, n: NewEntry, at: u64) -> Result<AuditEntry, AuditError> {
        let e = self.append_with(kind, n, at, |_, _| None)?;
        self.tree.flush()?;
        Ok(e)
    }

    /// Appends without waiting for the disk: for an entry that a flushed write
    /// of the same store follows at once (sled keeps one log for all trees).
    pub fn append_unflushed(
        &self,
        kind: AuditKind,
        n: NewEntry,
        at: u64,
    ) -> Result<AuditEntry, AuditError> {
        self.append_with(kind, n, at, |_, _| None)
    }

    fn append_with(
        &self,
        kind: AuditKind,
        n: NewEntry,
        at: u64,
        sign: impl FnOnce(u64, &str) -> Option<String>,
    ) -> Result<AuditEntry, AuditError> {
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        let (seq, prev) = head.clone();
        let mut e = AuditEntry {
            seq,
            at,
            kind,
            peer: n.peer,
            state: n.state,
            query: n.query,
            outcome: n.outcome,
            rule: n.rule,
            signature: sign(seq.saturating_sub(1), &prev),
            officer: n.officer,
            prev,
            hash: String::new(),
        };
        e.hash = entry_hash(&e);
        let bytes = serde_json::to_vec(&e).map_err(|err| AuditError::Corrupt {
            seq,
            reason: err.to_string(),
        })?;
        if bytes.len() > archive::MAX_ENTRY {
            return Err(AuditError::TooLong { bytes: bytes.len() });
        }
        let next = seq.checked_add(1).ok_or_else(|| AuditError::Corrupt {
            seq,
            reason: "the log has no number after this one (a file's name claims the last)".into(),
        })?;
        self.tree.insert(seq.to_be_bytes(), bytes)?;
        *head = (next, e.hash.clone());
        // After the entry: an hour the index names is always in the log.
        // Lost in a crash with the entry kept, it is found again at the
        // next start ([`AuditLog::index_hours`]).
        // The entry is written: a failure to index it stops the index where
        // it is (readers of a period then read to the log's end) instead of
        // failing an append that took place.
        let mut reach = self.reach.lock().unwrap_or_else(|p| p.into_inner());
        let hour = at / HOUR;
        let indexed = if reach.hour == UNINDEXED {
            Ok(())
        } else if hour > reach.hour {
            let r = self
                .hours
                .insert(hour.to_be_bytes(), &segment_value(seq, at)[..]);
            *reach = Reach {
                hour,
                first: seq,
                low: at,
            };
            r.map(|_| ())
        } else if reach.hour > 0 && at < reach.low {
            // The clock went back within the segment.
            reach.low = at;
            self.hours
                .insert(
                    reach.hour.to_be_bytes(),
                    &segment_value(reach.first, at)[..],
                )
                .map(|_| ())
        } else {
            Ok(())
        };
        if let Err(err) = indexed {
            tracing::error!(
                seq,
                error = %err,
                "the audit log's index of hours could not be written: readers of a period read on to the log's end until the next start"
            );
            reach.hour = UNINDEXED;
        }
        Ok(e)
    }

    /// Signs the current head (the last entry's sequence and hash) with the
    /// node key, recorded as an entry of its own.
    pub fn sign_head(&self, key: &NodeKey, at: u64) -> Result<AuditEntry, AuditError> {
        let e = self.append_with(
            AuditKind::HeadSigned,
            NewEntry::default(),
            at,
            |seq, hash| {
                // The message starts with its own domain tag, distinct from every
                // protocol message's.
                let sig = key.signing_key().sign_raw(&head_message(seq, hash));
                use base64::Engine as _;
                Some(base64::engine::general_purpose::STANDARD.encode(sig.0))
            },
        )?;
        self.tree.flush()?;
        Ok(e)
    }

    /// The last entry's sequence and hash.
    pub fn head(&self) -> Option<(u64, String)> {
        let h = self.head.lock().unwrap_or_else(|p| p.into_inner());
        (h.0 > 0).then(|| (h.0 - 1, h.1.clone()))
    }

    /// Every entry's place and stored bytes from entry `from` up to `to`
    /// (exclusive; `u64::MAX` for the end), in order: the archive's files
    /// (a file wholly outside is not opened, and its lines outside are not
    /// handed to `f`), then the store. Holds off archiving while it runs (readers walk
    /// side by side). Stops at `f`'s first error, which it returns. An
    /// archive file that does not fit ([`archive::Listing::misfits`]) or
    /// cannot be read is an error, unless `misfits` is given (for
    /// `verify`): then a misfit is left out of the walk and handed back
    /// there, and a file whose reading fails is handed to `f` as
    /// [`Place::Unreadable`] and the walk goes on with the next.
    fn walk<E: From<AuditError>>(
        &self,
        from: u64,
        to: u64,
        misfits: Option<&mut Vec<(archive::ArchiveFile, String)>>,
        mut f: impl FnMut(Place<'_>, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let _moving = self.moving.read().unwrap_or_else(|p| p.into_inner());
        let tolerant = misfits.is_some();
        let files = match (&self.archive, misfits) {
            (Some(dir), None) => archive::files(dir)?,
            (Some(dir), Some(out)) => {
                let l = archive::listing(dir)?;
                *out = l.misfits;
                l.files
            }
            (None, _) => Vec::new(),
        };
        // `to` at `u64::MAX` is no bound: `verify` walks every file, one
        // whose name claims the last numbers included.
        let before_end = |first: u64| to == u64::MAX || first < to;
        for file in files
            .iter()
            .filter(|f| f.last >= from && before_end(f.first))
        {
            let failed = match archive::lines(file) {
                Ok(lines) => {
                    let mut failed = None;
                    // A file holds its entries in order, without a gap.
                    let skip = from.saturating_sub(file.first);
                    let mut read = 0u64;
                    for (i, line) in lines.enumerate() {
                        let seq = file.first.saturating_add(i as u64);
                        read = i as u64 + 1;
                        if !before_end(seq) {
                            break;
                        }
                        // A line past the last its name gives claims an
                        // entry that belongs after the file (read there):
                        // readers skip it rather than read an entry twice;
                        // `verify` is handed it, and reports the file.
                        if seq > file.last && !tolerant {
                            break;
                        }
                        match line {
                            Ok(_) if (i as u64) < skip => {}
                            Ok(line) => f(Place::Archived(file, seq), &line)?,
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    // Cut short where the period reaches: its missing
                    // entries are not read (`verify` reports them); said
                    // here, since a reader of a period cannot tell.
                    let span = (file.last - file.first).saturating_add(1);
                    if failed.is_none() && !tolerant && before_end(file.last) && read < span {
                        tracing::warn!(
                            file = %file.path.display(),
                            lines = read,
                            expected = span,
                            "an audit archive file holds fewer lines than its name gives: its missing entries are not read (run `tracenet audit verify`)"
                        );
                    }
                    failed
                }
                Err(e) => Some(e),
            };
            if let Some(e) = failed {
                if !tolerant {
                    return Err(e.into());
                }
                let reason = match e {
                    AuditError::Archive { reason, .. } => reason,
                    other => other.to_string(),
                };
                f(Place::Unreadable(file, &reason), &[])?;
            }
            f(Place::FileEnd(file), &[])?;
        }
        // Entries a file holds and the store still does (an archiving
        // whose last step failed, until the next `settle`) are read once,
        // from the file; `verify` walks the store whole and reports them.
        let from = match files.last() {
            Some(f) if !tolerant => from.max(f.last.saturating_add(1)),
            _ => from,
        };
        // From 0, every key, those of another shape included (`verify`
        // reports them).
        let stored = match (from, to) {
            (0, u64::MAX) => self.tree.iter(),
            (from, u64::MAX) => self.tree.range(from.to_be_bytes()..),
            (from, to) => self
                .tree
                .range(from.to_be_bytes()..to.max(from).to_be_bytes()),
        };
        for kv in stored {
            let (k, v) = kv.map_err(AuditError::from)?;
            f(Place::Stored(seq_of(&k)), &v)?;
        }
        Ok(())
    }

    /// Hands `f` each entry at or after unix time `since`, in order, the
    /// archived ones included, one at a time: [`AuditLog::for_each_in`]
    /// with no end.
    pub fn for_each<E: From<AuditError>>(
        &self,
        since: u64,
        f: impl FnMut(AuditEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_in(since, u64::MAX, f)
    }

    /// Hands `f` each entry dated from unix time `since` until `until`
    /// (exclusive), in order, the archived ones included, one at a time: a
    /// reader of the whole log holds one entry, whatever its length. It
    /// reads only the segments of the index of hours ([`HOURS_TREE`]) that
    /// may hold such an entry: from the one where `since`'s hour starts to
    /// the last that holds an entry before `until` (an entry dated back by
    /// the clock included), so the entries of other hours are neither read
    /// nor decoded, nor reported when unreadable, and an archive file
    /// wholly outside is not opened. Stops at `f`'s first error (a client
    /// gone, an output closed), which it returns; an entry that cannot be
    /// read is [`AuditError::Corrupt`] (in the store) or
    /// [`AuditError::Archive`] (in a file, named). Archiving waits while it
    /// runs (see [`AuditLog::archive_oldest`]).
    pub fn for_each_in<E: From<AuditError>>(
        &self,
        since: u64,
        until: u64,
        mut f: impl FnMut(AuditEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let (from, to) = self.span_of(since, until).map_err(E::from)?;
        self.walk(from, to, None, |place, v| {
            let e: AuditEntry = match place {
                Place::FileEnd(_) => return Ok(()),
                Place::Unreadable(file, reason) => {
                    return Err(AuditError::Archive {
                        path: file.path.clone(),
                        reason: reason.to_string(),
                    }
                    .into());
                }
                Place::Archived(file, seq) => {
                    let e: AuditEntry =
                        serde_json::from_slice(v).map_err(|err| AuditError::Archive {
                            path: file.path.clone(),
                            reason: format!(
                                "line {} {}: run `tracenet audit verify`",
                                seq.saturating_sub(file.first).saturating_add(1),
                                json_fault(&err)
                            ),
                        })?;
                    // A reader that starts inside a file counts on its
                    // lines being in place: a line removed or added would
                    // shift the period it reads.
                    if e.seq != seq {
                        return Err(AuditError::Archive {
                            path: file.path.clone(),
                            reason: format!(
                                "line {} holds entry {} where entry {seq} belongs: the file was changed (run `tracenet audit verify`)",
                                seq - file.first + 1,
                                e.seq
                            ),
                        }
                        .into());
                    }
                    e
                }
                Place::Stored(seq) => {
                    serde_json::from_slice(v).map_err(|err| AuditError::Corrupt {
                        seq,
                        reason: format!("the stored entry {}", json_fault(&err)),
                    })?
                }
            };
            if (since..until).contains(&e.at) {
                f(e)
            } else {
                Ok(())
            }
        })
    }

    /// Whether archiving has found the log held by readers
    /// [`ARCHIVING_PATIENCE`] times in a row with entries to move: a reader
    /// paced by someone else (a client of the control API) should then stop
    /// and let it run. Readers that only read the disk finish in seconds.
    pub fn archiving_waits(&self) -> bool {
        self.held_back.load(Ordering::Relaxed) >= ARCHIVING_PATIENCE
    }

    /// The entry numbers (inclusive ranges, oldest first) that neither the
    /// archive files' names nor the store accounted for when the log was
    /// opened: a file removed or renamed, the oldest entries removed from
    /// the store (entries removed from the store's middle are not seen here,
    /// nor a file emptied: a listing of the whole log and `verify` see them).
    /// Readers of a period or from a time read on past them; they say so
    /// with [`missing_notice`]. Found at open only (a file removed while the
    /// node runs shows at its next start, or to `tracenet audit verify`).
    pub fn missing(&self) -> &[(u64, u64)] {
        &self.missing
    }

    /// How many entries the log holds, archived ones included: the next
    /// entry's number, since entries are numbered from 0 without gaps (a
    /// damaged log may hold fewer; `verify` says).
    pub fn len(&self) -> u64 {
        self.head.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Whether no entry was ever appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry at or after unix time `since`, collected: for the tests;
    /// readers of a whole log use [`AuditLog::for_each`].
    #[cfg(test)]
    pub fn entries(&self, since: u64) -> Result<Vec<AuditEntry>, AuditError> {
        let mut out = Vec::new();
        self.for_each(since, |e| {
            out.push(e);
            Ok::<_, AuditError>(())
        })?;
        Ok(out)
    }

    /// Walks the chain, through the archive and the store, and reports every
    /// changed, removed or reordered entry, and every head signature that
    /// does not verify with `key`.
    pub fn verify(&self, key: &protocol::PublicKey) -> Result<VerifyReport, AuditError> {
        let mut breaks = Breaks::default();
        let mut expect_seq = 0u64;
        let mut prev = GENESIS.to_string();
        let mut signed_through = None;
        let mut n = 0;
        // The file being read, with the first and last numbers and the
        // count of its lines so far: checked against its name at its end.
        let mut file: Option<(archive::ArchiveFile, Option<u64>, Option<u64>, u64)> = None;
        // A line's number as the report says it: `UNREADABLE` marks a line
        // that does not parse (its number cannot be known).
        let entry_at = |s: Option<u64>| match s {
            None => "none".to_string(),
            Some(UNREADABLE) => "unreadable".to_string(),
            Some(s) => format!("entry {s}"),
        };
        let end_of_file = |file: &mut Option<_>, breaks: &mut Breaks| {
            if let Some((f, seen_first, seen_last, lines)) = file.take() {
                let f: archive::ArchiveFile = f;
                let span = (f.last - f.first).saturating_add(1);
                if (seen_first, seen_last, lines) != (Some(f.first), Some(f.last), span) {
                    breaks.push(Break {
                        seq: f.first,
                        problem: format!(
                            "the archive file {} should hold entries {} to {} ({span} lines) but holds {} lines (first: {}, last: {}): a file changed, cut, added or renamed",
                            f.path.display(),
                            f.first,
                            f.last,
                            lines,
                            entry_at(seen_first),
                            entry_at(seen_last),
                        ),
                    });
                }
            }
        };
        let mut misfits = Vec::new();
        let walked = self.walk::<AuditError>(0, u64::MAX, Some(&mut misfits), |place, v| {
            let stored_under = match place {
                Place::Unreadable(f, reason) => {
                    // Where its reading stopped, if it began; always listed.
                    let inside = file.as_ref().is_some_and(|c| c.0.path == f.path);
                    breaks.push_always(Break {
                        seq: if inside { expect_seq } else { f.first },
                        problem: format!(
                            "the archive file {}: {reason}; the rest of it was not read",
                            f.path.display()
                        ),
                    });
                    return Ok(());
                }
                Place::Archived(f, _) => {
                    if file.is_none() {
                        file = Some((f.clone(), None, None, 0));
                    }
                    None
                }
                Place::FileEnd(f) => {
                    if file.is_none() {
                        // A file without a line.
                        file = Some((f.clone(), None, None, 0));
                    }
                    end_of_file(&mut file, &mut breaks);
                    return Ok(());
                }
                Place::Stored(seq) => Some(seq),
            };
            let parsed = serde_json::from_slice::<AuditEntry>(v);
            if let (Some((_, seen_first, seen_last, lines)), None) = (file.as_mut(), stored_under) {
                let line_seq = parsed.as_ref().map_or(UNREADABLE, |e| e.seq);
                *lines += 1;
                seen_first.get_or_insert(line_seq);
                *seen_last = Some(line_seq);
            }
            let e = match parsed {
                Ok(e) => e,
                Err(err) => {
                    let seq = stored_under.unwrap_or(expect_seq);
                    // Named by the file's line, not by the JSON's (a line is
                    // always line 1 of its own JSON).
                    let problem = match (&file, stored_under) {
                        (Some((f, _, _, lines)), None) => format!(
                            "unreadable: line {lines} of the archive file {} {}",
                            f.path.display(),
                            json_fault(&err)
                        ),
                        _ => format!("unreadable: the stored entry {}", json_fault(&err)),
                    };
                    breaks.push(Break { seq, problem });
                    expect_seq = seq.saturating_add(1);
                    return Ok(());
                }
            };
            // An archived line is where its own number says.
            let key_seq = stored_under.unwrap_or(e.seq);
            if e.seq != key_seq {
                breaks.push(Break {
                    seq: key_seq,
                    problem: format!("stored under {key_seq} but says {}: moved", e.seq),
                });
            }
            if key_seq > expect_seq {
                breaks.push(Break {
                    seq: expect_seq,
                    problem: format!("entries {expect_seq} to {} are missing", key_seq - 1),
                });
            } else if key_seq < expect_seq {
                breaks.push(Break {
                    seq: key_seq,
                    problem: format!(
                        "comes again, or out of order, after entry {}",
                        expect_seq.saturating_sub(1)
                    ),
                });
                // What holds of the entry alone is still checked (a changed
                // copy is said changed, a head whose signature fails is said
                // so), but the chain goes on from the entry before it: a
                // line copied to the end of a file is this one break, not
                // also every entry after it "missing" and the next one "not
                // following".
                if entry_hash(&e) != e.hash {
                    breaks.push(Break {
                        seq: key_seq,
                        problem: "changed after it was written".into(),
                    });
                }
                if e.kind == AuditKind::HeadSigned && !head_verifies(key, key_seq, &e) {
                    breaks.push(Break {
                        seq: key_seq,
                        problem: "the signed head does not verify with this node's key".into(),
                    });
                }
                return Ok(());
            }
            // After a gap the entry cannot follow the one read before it:
            // the gap is the break, said once.
            if e.prev != prev && key_seq <= expect_seq {
                breaks.push(Break {
                    seq: key_seq,
                    problem: "does not follow the entry before it (removed or reordered)".into(),
                });
            }
            if entry_hash(&e) != e.hash {
                breaks.push(Break {
                    seq: key_seq,
                    problem: "changed after it was written".into(),
                });
            }
            if e.kind == AuditKind::HeadSigned {
                if head_verifies(key, key_seq, &e) {
                    signed_through = key_seq.checked_sub(1);
                } else {
                    breaks.push(Break {
                        seq: key_seq,
                        problem: "the signed head does not verify with this node's key".into(),
                    });
                }
            }
            prev = e.hash;
            expect_seq = key_seq.saturating_add(1);
            n += 1;
            Ok(())
        });
        // A file that cannot be read, or does not fit, is a change to the
        // log: reported as a break naming it, with what to do, never as an
        // error, and the rest is checked. Only an archive folder that cannot
        // be listed stops the walk (no head given then); a store that cannot
        // be read is an error.
        let stopped = match walked {
            Ok(()) => false,
            Err(AuditError::Archive { path, reason }) => {
                breaks.push_always(Break {
                    seq: archive::first_in(&path).unwrap_or(expect_seq),
                    problem: format!(
                        "{}: {reason}; the log was not checked past it",
                        path.display()
                    ),
                });
                true
            }
            Err(e) => return Err(e),
        };
        // Files left out of the walk: each a break where it claims to start.
        for (f, reason) in misfits {
            breaks.push_always(Break {
                seq: f.first,
                problem: format!(
                    "the archive file {} was not read: it {reason}",
                    f.path.display()
                ),
            });
        }
        // A file renamed out of the archive's names (`...jsonl.bak`) is
        // named, so that the gap it leaves is explained; other names
        // (`.DS_Store`, an editor's swap file) are not the log's and are
        // left alone.
        if let Some(dir) = &self.archive
            && let Ok(l) = archive::listing(dir)
        {
            for p in l.strays {
                let Some((a, b)) = archive::range_in_stray(&p) else {
                    continue;
                };
                breaks.push(Break {
                    seq: a,
                    problem: format!(
                        "{} is in the audit archive's folder without an archive file's name (renamed from entries {a} to {b}?): it was not read; give it back its name, or move it out of the folder",
                        p.display(),
                    ),
                });
            }
        }
        let Breaks {
            mut listed,
            not_listed,
        } = breaks;
        listed.sort_by_key(|b| b.seq);
        Ok(VerifyReport {
            ok: listed.is_empty(),
            entries: n,
            head: (n > 0 && !stopped).then_some(prev),
            signed_through,
            breaks: listed,
            breaks_not_listed: not_listed,
        })
    }

    /// Verifies the log of a stopped node as it stands on disk, for
    /// `tracenet audit verify` when [`AuditLog::open_in`] refuses it (an
    /// archive file that overlaps another, or claims entries the store holds
    /// otherwise or not at all; a last entry that cannot be read): what
    /// `open_in` refuses with one error, this reports as breaks, each naming
    /// its file or entry. Moves nothing, settles nothing and reads no head;
    /// the log it opens is never handed out, so nothing can be appended to
    /// it.
    pub fn verify_as_it_stands(
        db: &sled::Db,
        data_dir: &Path,
        key: &protocol::PublicKey,
    ) -> Result<VerifyReport, AuditError> {
        let log = AuditLog {
            tree: db.open_tree("audit")?,
            // Unused by `verify`, and never appended to.
            head: Mutex::new((0, GENESIS.to_string())),
            archive: Some(data_dir.join(archive::DIR)),
            moving: RwLock::new(()),
            held_back: AtomicU32::new(0),
            draining: AtomicBool::new(false),
            last_called: std::sync::atomic::AtomicU64::new(u64::MAX),
            // Unused by `verify` (opening it creates the tree, empty, on a
            // store that has none: the next start indexes the whole log).
            hours: db.open_tree(HOURS_TREE)?,
            reach: Mutex::new(Reach {
                hour: UNINDEXED,
                first: 0,
                low: 0,
            }),
            missing: Vec::new(),
        };
        log.verify(key)
    }
}

/// Which reader a [`missing_words`] sentence is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingTo {
    /// A listing of the whole log, which saw the gaps as it read.
    WholeLog,
    /// A reader of a period or from a time, told the gaps the log was
    /// opened with ([`AuditLog::missing`]): it cannot tell which fall in
    /// its period.
    Period,
}

/// The sentence that tells a reader the log misses entries: the first
/// ranges (`listed`, inclusive, the first three said) of `count` gaps, or
/// `None` for none.
pub fn missing_words(listed: &[(u64, u64)], count: u64, to: MissingTo) -> Option<String> {
    const SAID: usize = 3;
    if count == 0 || listed.is_empty() {
        return None;
    }
    let mut said: Vec<String> = listed
        .iter()
        .take(SAID)
        .map(|&(a, b)| {
            if a == b {
                format!("{a}")
            } else {
                format!("{a} to {b}")
            }
        })
        .collect();
    let shown = said.len() as u64;
    if count > shown {
        said.push(format!("{} more gaps", count - shown));
    }
    let one = count == 1 && listed[0].0 == listed[0].1;
    let (cause, effect) = match to {
        MissingTo::WholeLog => (
            "an archive file removed, renamed or emptied, or entries removed from the store",
            "they are not listed",
        ),
        MissingTo::Period => (
            "an archive file removed or renamed, or the oldest entries removed from the store, found when the log was opened",
            "those that fall in this period are not counted or listed",
        ),
    };
    Some(format!(
        "the audit log misses {} {} ({cause}): {effect}; run `tracenet audit verify`",
        if one { "entry" } else { "entries" },
        said.join(", ")
    ))
}

/// [`missing_words`] for a reader of a period, from the gaps the log was
/// opened with ([`AuditLog::missing`]).
pub fn missing_notice(missing: &[(u64, u64)]) -> Option<String> {
    missing_words(missing, missing.len() as u64, MissingTo::Period)
}

/// [`AuditLog::missing`] as a header value (`MISSING_HEADER`): inclusive
/// ranges `first-last`, comma-separated, oldest first; at most 16 (the rest
/// left off: the header says the log misses entries, `audit verify` says
/// which).
pub fn missing_header_value(missing: &[(u64, u64)]) -> Option<String> {
    (!missing.is_empty()).then(|| {
        missing
            .iter()
            .take(16)
            .map(|(a, b)| format!("{a}-{b}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Reads [`missing_header_value`]'s form back; `None` for anything else.
pub fn parse_missing_header(v: &str) -> Option<Vec<(u64, u64)>> {
    v.split(',')
        .map(|r| {
            let (a, b) = r.trim().split_once('-')?;
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then_some((a, b))
        })
        .collect()
}

/// Whether the head entry `e`, at `seq`, signs the chain before it with `key`.
fn head_verifies(key: &protocol::PublicKey, seq: u64, e: &AuditEntry) -> bool {
    e.signature.as_deref().is_some_and(|s| {
        use base64::Engine as _;
        let sig = base64::engine::general_purpose::STANDARD.decode(s).ok();
        let sig = sig.as_deref().and_then(protocol::Signature::from_slice);
        sig.is_some_and(|sig| key.verifies(&head_message(seq.saturating_sub(1), &e.prev), &sig))
    })
}

/// What is wrong with a line that does not parse as an entry, without the
/// JSON's own line number (always 1: an entry is one line), e.g. "is cut
/// short (it ends at column 120)", to follow "line 3 of FILE" or "the
/// stored entry".
fn json_fault(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let said = err.to_string();
    let what = said
        .strip_suffix(&format!(" at line {} column {}", err.line(), err.column()))
        .unwrap_or(&said);
    match err.classify() {
        Category::Eof => format!("is cut short (it ends at column {})", err.column()),
        Category::Syntax => format!("is not one JSON entry (at column {}: {what})", err.column()),
        Category::Data => format!("is not an audit entry ({what})"),
        Category::Io => format!("cannot be read ({what})"),
    }
}

/// The entry numbers neither the archive's files (by their names, oldest
/// first) nor the store (from `first_stored`, its lowest key) account for,
/// as inclusive ranges: the log is numbered from 0 without a gap when
/// intact. A file emptied or cut keeps its name, and is not seen here.
fn missing_ranges(files: &[archive::ArchiveFile], first_stored: Option<u64>) -> Vec<(u64, u64)> {
    let mut missing = Vec::new();
    let mut next = 0u64;
    let starts = files
        .iter()
        .map(|f| (f.first, Some(f.last)))
        .chain(first_stored.map(|s| (s, None)));
    for (first, last) in starts {
        if first > next {
            missing.push((next, first - 1));
        }
        match last {
            Some(last) => next = next.max(last.saturating_add(1)),
            None => break,
        }
    }
    missing
}

/// Where [`AuditLog::walk`] read an entry.
#[derive(Clone, Copy)]
enum Place<'a> {
    /// A line of this archive file, where the entry of this number belongs
    /// (the file's first plus the line's index: a file holds its entries in
    /// order, without a gap, unless it was changed).
    Archived(&'a archive::ArchiveFile, u64),
    /// Past the last line of this archive file (no entry).
    FileEnd(&'a archive::ArchiveFile),
    /// The store, under this key's number.
    Stored(u64),
    /// This archive file's reading failed here, for this reason (only when
    /// walking for `verify`); its end follows.
    Unreadable(&'a archive::ArchiveFile, &'a str),
}

/// Removes the entries of these numbers one by one. Not as one
/// `sled::Batch`: a batch of 500,000 removals held sled's write lock and
/// its epoch for seconds, so that appends waited (queries timed out) and the
/// old page versions it could not free took the holder from 1 GiB to 3 GiB
/// (proto-docs/PERFORMANCE.md, "Where the holder's memory goes").
fn remove_each(tree: &sled::Tree, seqs: impl IntoIterator<Item = u64>) -> Result<(), AuditError> {
    for seq in seqs {
        tree.remove(seq.to_be_bytes())?;
    }
    Ok(())
}

/// The head after entry `e`: the next sequence number and `e`'s hash.
fn head_after(e: &AuditEntry) -> Result<(u64, String), AuditError> {
    let next = e.seq.checked_add(1).ok_or_else(|| AuditError::Corrupt {
        seq: e.seq,
        reason: "the last sequence number there can be".into(),
    })?;
    Ok((next, e.hash.clone()))
}

/// The error for a damaged stretch of the store, found while archiving.
fn damaged(seq: u64, what: &str) -> AuditError {
    AuditError::Corrupt {
        seq,
        reason: format!(
            "{what}: not archived, left in the store (run `tracenet audit verify` for the whole report)"
        ),
    }
}

/// The number `verify` gives an archived line that does not parse.
const UNREADABLE: u64 = u64::MAX;

/// The sequence number a store key holds (`u64::MAX` for a key of another
/// shape, which `verify` reports).
fn seq_of(k: &[u8]) -> u64 {
    k.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX)
}

fn decode(k: &[u8], v: &[u8]) -> Result<AuditEntry, AuditError> {
    let seq = seq_of(k);
    serde_json::from_slice(v).map_err(|e| AuditError::Corrupt {
        seq,
        reason: format!("the stored entry {}", json_fault(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, sled::Db, AuditLog) {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(d.path().join("db"))
            .open()
            .unwrap();
        let log = AuditLog::open(&db).unwrap();
        (d, db, log)
    }

    fn entry(peer: &str) -> NewEntry {
        NewEntry {
            peer: Some(peer.into()),
            ..NewEntry::default()
        }
    }

    #[test]
    fn an_intact_chain_verifies_and_survives_reopening() {
        let (_d, db, log) = log();
        let key = NodeKey::from_seed([5; 32]).unwrap();
        for i in 0..5 {
            log.append(AuditKind::QueryReceived, entry(&format!("p{i}")), 100 + i)
                .unwrap();
        }
        log.sign_head(&key, 200).unwrap();
        let r = log.verify(&key.public_key()).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!((r.entries, r.signed_through), (6, Some(4)));
        drop(log);
        let again = AuditLog::open(&db).unwrap();
        let e = again
            .append(AuditKind::AnswerSent, entry("x"), 300)
            .unwrap();
        assert_eq!(e.seq, 6);
        assert!(again.verify(&key.public_key()).unwrap().ok);
        assert_eq!(again.entries(300).unwrap().len(), 1);
    }

    #[test]
    fn an_entry_longer_than_an_archive_line_is_not_written() {
        let (_d, _db, log) = log();
        log.append(AuditKind::QueryReceived, entry("p"), 100)
            .unwrap();
        let long = NewEntry {
            officer: Some("o".repeat(archive::MAX_ENTRY)),
            ..NewEntry::default()
        };
        let e = log
            .append(AuditKind::OfficerChanged, long, 101)
            .unwrap_err();
        assert!(matches!(e, AuditError::TooLong { .. }), "{e}");
        // Nothing written, and the chain goes on from the entry before.
        assert_eq!(log.len(), 1);
        let next = log
            .append(AuditKind::QueryReceived, entry("q"), 102)
            .unwrap();
        assert_eq!(next.seq, 1);
        assert!(
            log.verify(&NodeKey::from_seed([5; 32]).unwrap().public_key())
                .unwrap()
                .ok
        );
    }

    #[test]
    fn changed_removed_and_reordered_entries_are_found() {
        let key = NodeKey::from_seed([5; 32]).unwrap();
        let pk = key.public_key();
        // Changed.
        let (_d, db, log) = log();
        for i in 0..4 {
            log.append(AuditKind::QueryReceived, entry(&format!("p{i}")), i)
                .unwrap();
        }
        let tree = db.open_tree("audit").unwrap();
        let raw = tree.get(2u64.to_be_bytes()).unwrap().unwrap();
        let edited = String::from_utf8(raw.to_vec())
            .unwrap()
            .replace("\"p2\"", "\"pX\"");
        tree.insert(2u64.to_be_bytes(), edited.as_bytes()).unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(!r.ok);
        assert_eq!(r.breaks[0].seq, 2);
        assert!(r.breaks[0].problem.contains("changed"), "{r:?}");

        // Removed.
        let (_d, db, log) = self::log();
        for i in 0..4 {
            log.append(AuditKind::QueryReceived, entry(&format!("p{i}")), i)
                .unwrap();
        }
        db.open_tree("audit")
            .unwrap()
            .remove(1u64.to_be_bytes())
            .unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 1 && b.problem.contains("missing")),
            "{r:?}"
        );

        // Reordered (two entries swapped).
        let (_d, db, log) = self::log();
        for i in 0..4 {
            log.append(AuditKind::QueryReceived, entry(&format!("p{i}")), i)
                .unwrap();
        }
        let t = db.open_tree("audit").unwrap();
        let a = t.get(1u64.to_be_bytes()).unwrap().unwrap();
        let b = t.get(2u64.to_be_bytes()).unwrap().unwrap();
        t.insert(1u64.to_be_bytes(), b).unwrap();
        t.insert(2u64.to_be_bytes(), a).unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(!r.ok && r.breaks.iter().any(|b| b.seq == 1), "{r:?}");
    }

    #[test]
    fn a_rewritten_history_fails_the_signed_head() {
        let key = NodeKey::from_seed([5; 32]).unwrap();
        let (_d, db, log) = log();
        for i in 0..3 {
            log.append(AuditKind::QueryReceived, entry(&format!("p{i}")), i)
                .unwrap();
        }
        log.sign_head(&key, 10).unwrap();
        // The operator rewrites entry 1 and recomputes every hash after it, but
        // cannot sign the new head with a key other than the node's.
        let t = db.open_tree("audit").unwrap();
        let mut prev = GENESIS.to_string();
        for seq in 0..4u64 {
            let mut e: AuditEntry =
                serde_json::from_slice(&t.get(seq.to_be_bytes()).unwrap().unwrap()).unwrap();
            if seq == 1 {
                e.peer = Some("forged".into());
            }
            e.prev = prev.clone();
            e.hash = entry_hash(&e);
            prev = e.hash.clone();
            t.insert(seq.to_be_bytes(), serde_json::to_vec(&e).unwrap())
                .unwrap();
        }
        let r = log.verify(&key.public_key()).unwrap();
        assert!(!r.ok);
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 3 && b.problem.contains("signed head")),
            "{r:?}"
        );
    }

    fn archived_log() -> (tempfile::TempDir, sled::Db, AuditLog) {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(d.path().join("db"))
            .open()
            .unwrap();
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        (d, db, log)
    }

    fn append_n(log: &AuditLog, n: u64) {
        for i in 0..n {
            log.append_unflushed(AuditKind::QueryReceived, entry(&format!("p{i}")), 100 + i)
                .unwrap();
        }
    }

    #[test]
    fn the_oldest_entries_move_to_a_file_and_the_chain_runs_on_through_it() {
        let key = NodeKey::from_seed([5; 32]).unwrap();
        let (d, db, log) = archived_log();
        append_n(&log, 30);
        // Not past `keep`: nothing moves.
        assert!(log.archive_oldest(30).unwrap().is_none());
        let f = log.archive_past(5).unwrap().unwrap();
        // The newest `leave` stay in the store.
        assert_eq!((f.first, f.last), (0, 24));
        assert_eq!(db.open_tree("audit").unwrap().len(), 5);
        let text = std::fs::read_to_string(&f.path).unwrap();
        assert_eq!(text.lines().count(), 25);
        assert!(f.path.starts_with(d.path().join(archive::DIR)));
        // Nothing lost, nothing twice, in order.
        let all = log.entries(0).unwrap();
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (0..30).collect::<Vec<_>>()
        );
        assert_eq!(log.entries(125).unwrap().len(), 5);
        log.sign_head(&key, 200).unwrap();
        let r = log.verify(&key.public_key()).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!((r.entries, r.signed_through), (31, Some(29)));
        // Reopened, the chain goes on; a second file follows the first.
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        append_n(&log, 20);
        let g = log.archive_past(5).unwrap().unwrap();
        assert_eq!((g.first, g.last), (25, 45));
        let r = log.verify(&key.public_key()).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 51);
        assert_eq!(log.entries(0).unwrap().len(), 51);
        // A log opened without its data directory never archives.
        assert!(
            AuditLog::open(&db)
                .unwrap()
                .archive_past(1)
                .unwrap()
                .is_none()
        );
    }

    /// The node's rule: past `keep`, a tenth of `keep` a call, down to half
    /// of `keep` (less than a tenth above it); then nothing until the store
    /// passes `keep` again. Appends that outrun a tenth a call move too;
    /// of what built up before a call, never more than three tenths.
    /// Nothing lost or read twice.
    #[test]
    fn past_keep_the_store_drains_a_tenth_of_keep_a_call_down_to_half_of_it() {
        let (d, db, log) = archived_log();
        let tree = db.open_tree("audit").unwrap();
        // Calls until nothing moves: (first, last, left in the store).
        let drain = |log: &AuditLog, keep: u64| {
            let mut moves = Vec::new();
            while let Some(f) = log.archive_oldest(keep).unwrap() {
                moves.push((f.first, f.last, tree.len()));
                assert!(moves.len() < 100, "never stops: {moves:?}");
            }
            moves
        };
        let left = |moves: &[(u64, u64, usize)]| moves.iter().map(|m| m.2).collect::<Vec<_>>();
        append_n(&log, 20);
        assert_eq!(drain(&log, 20), [], "not past keep");
        append_n(&log, 1);
        // keep 20: slices of 2, down to 10. The first move takes what passed
        // `keep` and a slice (3).
        assert_eq!(
            drain(&log, 20),
            [(0, 2, 18), (3, 4, 16), (5, 6, 14), (7, 8, 12), (9, 10, 10)]
        );
        // Between half and all of `keep`, nothing moves.
        append_n(&log, 10);
        assert_eq!(drain(&log, 20), []);
        append_n(&log, 1);
        let f = log.archive_oldest(20).unwrap().unwrap();
        assert_eq!((f.first, f.last, tree.len()), (11, 13, 18));
        // Reopened mid-drain: nothing moves until past `keep` again.
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(drain(&log, 20), []);
        // Appends that outrun a slice a call: what passed `keep` moves too.
        append_n(&log, 5);
        let f = log.archive_oldest(20).unwrap().unwrap();
        assert_eq!((f.first, f.last, tree.len()), (14, 18, 18));
        // Far past `keep` (`keep` lowered from 200, where nothing was due):
        // three slices a call at most of what built up.
        for _ in 0..3 {
            append_n(&log, 10);
            assert!(log.archive_oldest(200).unwrap().is_none());
        }
        let moves = drain(&log, 20);
        assert_eq!(left(&moves), [42, 36, 30, 24, 18, 16, 14, 12, 10]);
        assert!(
            moves.iter().all(|m| (2..=6).contains(&(m.1 - m.0 + 1))),
            "{moves:?}"
        );
        // Entries coming faster than that between calls move as they come:
        // the store stays at `keep` less a slice.
        let mut moves = Vec::new();
        for _ in 0..3 {
            append_n(&log, 15);
            let f = log.archive_oldest(20).unwrap().unwrap();
            moves.push((f.last - f.first + 1, tree.len()));
        }
        assert_eq!(moves, [(7, 18), (15, 18), (15, 18)]);
        assert_eq!(left(&drain(&log, 20)), [16, 14, 12, 10]);
        // `keep` lowered to 4 (slices of 1): the same, in its measure.
        assert_eq!(left(&drain(&log, 4)), [7, 4, 3, 2]);
        // A `keep` under ARCHIVE_SLICES moves at least one and leaves one.
        append_n(&log, 2);
        assert_eq!(left(&drain(&log, 1)), [1]);
        assert_eq!(
            log.entries(0)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            (0..114).collect::<Vec<_>>()
        );
    }

    /// A damaged stretch is refused, said, and left in the store: a gap in
    /// the range to move, and a first key of another shape.
    #[test]
    fn a_damaged_stretch_is_reported_and_left_in_the_store() {
        let (_d, db, log) = archived_log();
        let tree = db.open_tree("audit").unwrap();
        append_n(&log, 30);
        tree.remove(1u64.to_be_bytes()).unwrap();
        let e = log.archive_oldest(10).unwrap_err();
        assert!(e.to_string().contains("a gap"), "{e}");
        assert_eq!(tree.len(), 29);
        let (_d, db, log) = archived_log();
        let tree = db.open_tree("audit").unwrap();
        append_n(&log, 5);
        tree.insert([0u8], b"{}".as_slice()).unwrap();
        let e = log.archive_oldest(1000).unwrap_err();
        assert!(e.to_string().contains("another shape"), "{e}");
        assert_eq!(tree.len(), 6);
    }

    /// Appends one entry at each of `ats` (unix seconds), unflushed.
    fn append_at(log: &AuditLog, ats: &[u64]) {
        for (i, at) in ats.iter().enumerate() {
            log.append_unflushed(AuditKind::QueryReceived, entry(&format!("p{i}")), *at)
                .unwrap();
        }
    }

    fn seqs_since(log: &AuditLog, since: u64) -> Result<Vec<u64>, AuditError> {
        let mut seen = Vec::new();
        log.for_each(since, |e| {
            seen.push(e.seq);
            Ok::<_, AuditError>(())
        })?;
        Ok(seen)
    }

    fn seqs_in(log: &AuditLog, since: u64, until: u64) -> Vec<u64> {
        let mut seen = Vec::new();
        log.for_each_in(since, until, |e| {
            seen.push(e.seq);
            Ok::<_, AuditError>(())
        })
        .unwrap();
        seen
    }

    /// The period from `since` until `until` gives the entries whose times
    /// (`ats`, by entry number) are in it, as filtering the whole log does.
    fn assert_period_whole(log: &AuditLog, ats: &[u64], since: u64, until: u64) {
        let want: Vec<u64> = (0..ats.len() as u64)
            .filter(|i| (since..until).contains(&ats[*i as usize]))
            .collect();
        assert_eq!(
            seqs_in(log, since, until),
            want,
            "from {since} until {until}"
        );
    }

    /// Makes the store's entry `seq` unreadable.
    fn spoil(db: &sled::Db, seq: u64) {
        db.open_tree("audit")
            .unwrap()
            .insert(seq.to_be_bytes(), &b"not an entry"[..])
            .unwrap();
    }

    const T: u64 = 1_780_000_000 / HOUR * HOUR;

    /// A reader from a time starts at that time's hour: what came before is
    /// neither read nor decoded (an unreadable entry there goes unnoticed,
    /// where a reader of the whole log is stopped by it), and nothing at or
    /// after it is missed, the entries the clock dated back included.
    #[test]
    fn a_reader_from_a_time_starts_at_its_hour_and_misses_nothing_after_it() {
        let (_d, db, log) = archived_log();
        // Hours T, T+2 and T+3; entry 5 after the clock went back half an
        // hour, entry 6 back to T+3.
        append_at(
            &log,
            &[
                T,
                T + 10,
                T + 2 * HOUR,
                T + 2 * HOUR + 5,
                T + 3 * HOUR,
                T + 3 * HOUR - 1800,
                T + 3 * HOUR + 1,
            ],
        );
        spoil(&db, 1);
        assert!(matches!(
            seqs_since(&log, 0),
            Err(AuditError::Corrupt { seq: 1, .. })
        ));
        assert_eq!(seqs_since(&log, T + 2 * HOUR).unwrap(), vec![2, 3, 4, 5, 6]);
        assert_eq!(seqs_since(&log, T + 2 * HOUR + 6).unwrap(), vec![4, 5, 6]);
        // The entry dated back into hour T+2 is read from it.
        assert_eq!(
            seqs_since(&log, T + 3 * HOUR - 1800).unwrap(),
            vec![4, 5, 6]
        );
        // An hour no entry is in starts at the hour before it.
        assert!(matches!(
            seqs_since(&log, T + HOUR),
            Err(AuditError::Corrupt { seq: 1, .. })
        ));
        assert_eq!(seqs_since(&log, T + 9 * HOUR).unwrap(), Vec::<u64>::new());
        // The index names the first entry of each hour the log reached,
        // and the earliest time of the entries from it to the next.
        let hours: Vec<(u64, (u64, u64))> = log
            .hours
            .iter()
            .map(|kv| {
                kv.map(|(k, v)| (seq_of(&k) - T / HOUR, segment_of(&v).unwrap()))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            hours,
            vec![
                (0, (0, T)),
                (2, (2, T + 2 * HOUR)),
                (3, (4, T + 3 * HOUR - 1800))
            ]
        );
    }

    /// A reader of a period stops after the last segment that holds an
    /// entry before its end: what comes after is neither read nor decoded,
    /// and an entry the clock dated back into the period is still found.
    #[test]
    fn a_reader_of_a_period_stops_after_the_last_hour_that_holds_an_entry_of_it() {
        let (_d, db, log) = archived_log();
        // Entry 6 dated back into hour T+1 from T+5; entries 8 and 9 after.
        append_at(
            &log,
            &[
                T,
                T + HOUR,
                T + HOUR + 9,
                T + 2 * HOUR,
                T + 3 * HOUR,
                T + 5 * HOUR,
                T + HOUR + 5,
                T + 6 * HOUR,
                T + 7 * HOUR,
                T + 8 * HOUR,
            ],
        );
        let within = |since, until| {
            let mut seen = Vec::new();
            log.for_each_in(since, until, |e| {
                seen.push(e.seq);
                Ok::<_, AuditError>(())
            })
            .map(|()| seen)
        };
        spoil(&db, 8);
        assert!(matches!(
            within(T, T + 9 * HOUR),
            Err(AuditError::Corrupt { seq: 8, .. })
        ));
        // Hours T+2 to T+3: segments 3 and 4 alone.
        assert_eq!(within(T + 2 * HOUR, T + 4 * HOUR).unwrap(), vec![3, 4]);
        // Hour T+1 reaches entry 6 in the segment of T+5, and stops there.
        assert_eq!(within(T + HOUR, T + 2 * HOUR).unwrap(), vec![1, 2, 6]);
        assert_eq!(within(T + HOUR + 6, T + HOUR + 10).unwrap(), vec![2]);
        spoil(&db, 0);
        assert!(matches!(
            within(T, T + 1),
            Err(AuditError::Corrupt { seq: 0, .. })
        ));
        assert_eq!(
            within(T + 2 * HOUR, T + 2 * HOUR).unwrap(),
            Vec::<u64>::new()
        );
    }

    /// Any period, on a log whose clock jumps ahead and back, gives what
    /// filtering the whole log gives: the index never makes a reader miss
    /// an entry, through the archive and the store, before and after the
    /// log is reopened.
    #[test]
    fn every_period_is_read_whole_whatever_the_clock_did() {
        let (d, db, log) = archived_log();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut at = T;
        let mut ats = Vec::new();
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            at = match x % 10 {
                // Back by up to three hours, now and then.
                0 => at.saturating_sub(x % (3 * HOUR)),
                // Ahead by up to a day.
                1 => at + x % (24 * HOUR),
                _ => at + x % 600,
            };
            ats.push(at);
        }
        append_at(&log, &ats[..250]);
        log.archive_past(60).unwrap().unwrap();
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        append_at(&log, &ats[250..]);
        // About 1,500 periods, of every length, each bound anywhere.
        let (lo, hi) = (T - HOUR, ats.iter().max().unwrap() + HOUR);
        let step = (hi - lo) / 53;
        for since in (lo..hi).step_by(step as usize) {
            for until in (since..hi).step_by(step as usize / 3 + 7) {
                assert_period_whole(&log, &ats, since, until);
            }
        }
    }

    /// The earliest time of the last segment, rewritten when the clock goes
    /// back, is found again at the next start if a crash lost its rewrite.
    #[test]
    fn the_last_segments_earliest_time_is_found_again_at_start() {
        let (d, db, log) = archived_log();
        append_at(&log, &[T, T + HOUR, T + 2 * HOUR, T + HOUR + 5]);
        drop(log);
        // As if the rewrite for entry 3 was lost.
        db.open_tree(HOURS_TREE)
            .unwrap()
            .insert(
                (T / HOUR + 2).to_be_bytes(),
                &segment_value(2, T + 2 * HOUR)[..],
            )
            .unwrap();
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(seqs_in(&log, T + HOUR, T + 2 * HOUR), vec![1, 3]);
    }

    /// Through the archive: a file that ends before the reader's hour is
    /// not opened, and within the file the reader starts at its entry.
    #[test]
    fn a_reader_from_a_time_opens_no_archive_file_before_it() {
        let (d, db, log) = archived_log();
        let ats: Vec<u64> = (0..30).map(|i| T + i * HOUR / 2).collect();
        append_at(&log, &ats);
        let f = log.archive_past(10).unwrap().unwrap();
        assert_eq!((f.first, f.last), (0, 19));
        append_at(
            &log,
            &(30..60).map(|i| T + i * HOUR / 2).collect::<Vec<_>>(),
        );
        let g = log.archive_past(10).unwrap().unwrap();
        assert_eq!((g.first, g.last), (20, 49));
        // Hour T+12 starts at entry 24, in the second file.
        assert_eq!(
            seqs_since(&log, T + 12 * HOUR).unwrap(),
            (24..60).collect::<Vec<_>>()
        );
        // The first file is not opened: spoiled, it is not noticed.
        std::fs::write(&f.path, b"garbage\n").unwrap();
        assert_eq!(
            seqs_since(&log, T + 12 * HOUR).unwrap(),
            (24..60).collect::<Vec<_>>()
        );
        // A reader from before it does open it, and reports it.
        assert!(matches!(
            seqs_since(&log, T),
            Err(AuditError::Archive { .. })
        ));
        drop((log, db, d));
    }

    /// A log written before the index (or with hours lost in a crash) is
    /// indexed when it is opened, the whole log once, and readers then
    /// start at their hour.
    #[test]
    fn a_log_without_its_index_is_indexed_when_opened() {
        let (d, db, log) = archived_log();
        append_at(&log, &(0..12).map(|i| T + i * HOUR).collect::<Vec<_>>());
        log.archive_past(3).unwrap().unwrap();
        drop(log);
        db.drop_tree(HOURS_TREE).unwrap();
        // The last hour alone lost, as a crash between an entry and its
        // hour can lose it.
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(log.hours.len(), 12);
        log.hours.remove((T / HOUR + 11).to_be_bytes()).unwrap();
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(log.hours.len(), 12);
        spoil(&db, 10);
        assert_eq!(seqs_since(&log, T + 11 * HOUR).unwrap(), vec![11]);
        // And appends go on indexing from there.
        append_at(&log, &[T + 13 * HOUR]);
        assert_eq!(seqs_since(&log, T + 13 * HOUR).unwrap(), vec![12]);
    }

    /// An archive file that cannot be read when the log is indexed stops
    /// the index where it is: readers from any later time still meet the
    /// file and report it, rather than start past entries never indexed.
    #[test]
    fn an_unreadable_archive_file_stops_the_index_before_it() {
        let (d, db, log) = archived_log();
        append_at(&log, &(0..12).map(|i| T + i * HOUR).collect::<Vec<_>>());
        let f = log.archive_past(3).unwrap().unwrap();
        drop(log);
        db.drop_tree(HOURS_TREE).unwrap();
        let text = std::fs::read(&f.path).unwrap();
        std::fs::write(&f.path, b"garbage\n").unwrap();
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(log.reach.lock().unwrap().hour, UNINDEXED);
        append_at(&log, &[T + 20 * HOUR]);
        assert!(matches!(
            seqs_since(&log, T + 20 * HOUR),
            Err(AuditError::Archive { .. })
        ));
        // A period with an end as well.
        assert!(matches!(
            log.for_each_in(T + 20 * HOUR, T + 21 * HOUR, |_| Ok::<_, AuditError>(())),
            Err(AuditError::Archive { .. })
        ));
        // Restored, the next start indexes the whole log.
        drop(log);
        std::fs::write(&f.path, text).unwrap();
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(log.hours.len(), 13);
        assert_eq!(seqs_since(&log, T + 20 * HOUR).unwrap(), vec![12]);
    }

    /// Entries dated in 1970's first hour (a node whose clock was not set),
    /// then at real times, then again near 0 (the clock reset): every
    /// period still gives what filtering the whole log gives, before and
    /// after the log is reopened.
    #[test]
    fn entries_dated_at_the_epoch_are_read_in_every_period() {
        let (d, db, log) = archived_log();
        let ats = [0, 5, T, T + 10, 3, T + HOUR, 0, T + 2 * HOUR, HOUR + 1];
        append_at(&log, &ats[..6]);
        log.archive_past(1).unwrap().unwrap();
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        append_at(&log, &ats[6..]);
        let points = [
            0,
            1,
            4,
            6,
            HOUR,
            HOUR + 2,
            T,
            T + 5,
            T + 11,
            T + HOUR,
            T + 3 * HOUR,
        ];
        for since in points {
            for until in points.iter().copied().filter(|u| *u >= since) {
                assert_period_whole(&log, &ats, since, until);
            }
        }
    }

    /// A line removed from the middle of an archive file shifts the entries
    /// after it: a reader starting inside the file finds an entry out of
    /// its place and says so, where it would otherwise read a period that
    /// is not the one asked for; the next start indexes no further.
    #[test]
    fn an_archive_file_with_a_line_removed_is_reported_not_read_shifted() {
        let (d, db, log) = archived_log();
        append_at(&log, &(0..12).map(|i| T + i * HOUR).collect::<Vec<_>>());
        let f = log.archive_past(4).unwrap().unwrap();
        assert_eq!((f.first, f.last), (0, 7));
        let text = std::fs::read_to_string(&f.path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, l)| l)
            .collect();
        std::fs::write(&f.path, kept.join("\n") + "\n").unwrap();
        // Hour T+5 starts at entry 5, the file's sixth line: it now holds 6.
        let read = log.for_each_in(T + 5 * HOUR, T + 6 * HOUR, |_| Ok::<_, AuditError>(()));
        match read {
            Err(AuditError::Archive { reason, .. }) => {
                assert!(
                    reason.contains("holds entry 6 where entry 5 belongs"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        drop(log);
        db.drop_tree(HOURS_TREE).unwrap();
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(log.reach.lock().unwrap().hour, UNINDEXED);
        // Hours T and T+1; T+2's segment, not read to its end, is left.
        assert_eq!(log.hours.len(), 2);
    }

    /// A file cut of its last line is read as it stands (the entry is
    /// missing, not invented: listings of the whole log warn of it), and a
    /// line past the last its name gives is skipped by readers, which read
    /// that entry where it belongs, not twice; indexing stops at such a
    /// line.
    #[test]
    fn an_archive_file_cut_short_or_made_longer_is_read_without_inventing_or_repeating() {
        let (d, db, log) = archived_log();
        append_at(&log, &(0..12).map(|i| T + i * HOUR).collect::<Vec<_>>());
        let f = log.archive_past(4).unwrap().unwrap();
        assert_eq!((f.first, f.last), (0, 7));
        let text = std::fs::read_to_string(&f.path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let within = |since, until| seqs_in(&log, since, until);
        assert_eq!(within(T + 7 * HOUR, T + 9 * HOUR), vec![7, 8]);
        // Its last line removed.
        std::fs::write(&f.path, lines[..7].join("\n") + "\n").unwrap();
        assert_eq!(within(T + 7 * HOUR, T + 9 * HOUR), vec![8]);
        assert_eq!(within(T + 5 * HOUR, T + 6 * HOUR), vec![5]);
        // A copy of entry 8 after its last line.
        let stored = db
            .open_tree("audit")
            .unwrap()
            .get(8u64.to_be_bytes())
            .unwrap()
            .unwrap();
        let longer = format!("{}{}\n", text, String::from_utf8_lossy(&stored));
        std::fs::write(&f.path, longer).unwrap();
        assert_eq!(within(T + 7 * HOUR, T + 9 * HOUR), vec![7, 8]);
        assert_eq!(seqs_since(&log, 0).unwrap(), (0..12).collect::<Vec<_>>());
        drop(log);
        db.drop_tree(HOURS_TREE).unwrap();
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert_eq!(log.reach.lock().unwrap().hour, UNINDEXED);
    }

    /// The entries no file's name and not the store account for are named
    /// at open (a file removed or renamed, entries removed from the store).
    #[test]
    fn missing_entries_are_told_in_words_and_in_a_header_read_back() {
        assert_eq!(missing_notice(&[]), None);
        assert_eq!(missing_header_value(&[]), None);
        let one = missing_notice(&[(7, 7)]).unwrap();
        assert!(one.starts_with("the audit log misses entry 7 ("), "{one}");
        let many = missing_notice(&[(0, 9), (20, 29), (40, 40), (50, 59)]).unwrap();
        assert!(
            many.starts_with("the audit log misses entries 0 to 9, 20 to 29, 40, 1 more gaps ("),
            "{many}"
        );
        assert!(many.ends_with("run `tracenet audit verify`"), "{many}");
        let ranges = vec![(0, 9), (20, 29), (40, 40)];
        let v = missing_header_value(&ranges).unwrap();
        assert_eq!(v, "0-9,20-29,40-40");
        assert_eq!(parse_missing_header(&v), Some(ranges));
        for bad in ["", "9-0", "a-b", "1", "1-2,", "1-2;3-4"] {
            assert_eq!(parse_missing_header(bad), None, "{bad}");
        }
        let long: Vec<(u64, u64)> = (0..40).map(|i| (i * 10, i * 10 + 1)).collect();
        assert_eq!(
            parse_missing_header(&missing_header_value(&long).unwrap()).unwrap(),
            long[..16]
        );
    }

    #[test]
    fn missing_entries_are_found_from_the_files_names_and_the_stores_first() {
        let file = |first, last| archive::ArchiveFile {
            path: PathBuf::from(format!("{first}-{last}.jsonl")),
            first,
            last,
        };
        assert_eq!(missing_ranges(&[], None), vec![]);
        assert_eq!(missing_ranges(&[], Some(0)), vec![]);
        assert_eq!(missing_ranges(&[], Some(500)), vec![(0, 499)]);
        assert_eq!(
            missing_ranges(&[file(0, 99), file(100, 199)], Some(200)),
            vec![]
        );
        assert_eq!(
            missing_ranges(&[file(100, 199), file(300, 399)], Some(450)),
            vec![(0, 99), (200, 299), (400, 449)]
        );
        // Every entry in files, the store empty.
        assert_eq!(missing_ranges(&[file(0, 99)], None), vec![]);
    }

    /// Entries a file holds that the store still holds too (an archiving
    /// whose last step failed, until the next start settles it) are read
    /// once, from the file.
    #[test]
    fn entries_both_archived_and_still_stored_are_read_once() {
        let (_d, db, log) = archived_log();
        append_at(&log, &(0..12).map(|i| T + i * HOUR).collect::<Vec<_>>());
        let f = log.archive_past(4).unwrap().unwrap();
        let store = db.open_tree("audit").unwrap();
        let text = std::fs::read_to_string(&f.path).unwrap();
        for (i, line) in text.lines().enumerate() {
            store
                .insert((i as u64).to_be_bytes(), line.as_bytes())
                .unwrap();
        }
        assert_eq!(store.len(), 12);
        assert_eq!(seqs_since(&log, 0).unwrap(), (0..12).collect::<Vec<_>>());
        assert_eq!(seqs_in(&log, T + 6 * HOUR, T + 9 * HOUR), vec![6, 7, 8]);
        assert_eq!(seqs_in(&log, T + 2 * HOUR, T + 3 * HOUR), vec![2]);
    }

    /// Readers get one entry at a time through files and store, stop when
    /// they say, and walk side by side while archiving waits for them.
    #[test]
    fn readers_walk_one_entry_at_a_time_and_archiving_waits_for_them() {
        let (_d, _db, log) = archived_log();
        assert!(log.is_empty());
        append_n(&log, 30);
        log.archive_past(5).unwrap().unwrap();
        assert_eq!(log.len(), 30);
        // Through the file into the store, in order, from `since`.
        let mut seen = Vec::new();
        log.for_each(110, |e| {
            seen.push(e.seq);
            Ok::<_, AuditError>(())
        })
        .unwrap();
        assert_eq!(seen, (10..30).collect::<Vec<_>>());
        // The reader's own error stops the walk and comes back as it was.
        #[derive(Debug, PartialEq)]
        enum Mine {
            Enough(u64),
            Log,
        }
        impl From<AuditError> for Mine {
            fn from(_: AuditError) -> Self {
                Mine::Log
            }
        }
        let mut calls = 0;
        let stopped = log.for_each(0, |e| {
            calls += 1;
            if e.seq == 3 {
                Err(Mine::Enough(3))
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, calls), (Err(Mine::Enough(3)), 4));
        // Two readers at once; archiving waits for both, then runs.
        append_n(&log, 20);
        log.for_each(0, |outer| {
            if outer.seq == 0 {
                let mut inner = 0;
                log.for_each(0, |_| {
                    inner += 1;
                    Ok::<_, AuditError>(())
                })?;
                assert_eq!(inner, 50);
                assert!(log.archive_oldest(10).unwrap().is_none());
            }
            Ok::<_, AuditError>(())
        })
        .unwrap();
        assert!(log.archive_oldest(10).unwrap().is_some());
        // A reader that holds archiving back for ARCHIVING_PATIENCE tries in
        // a row, with entries to move, is told to give way; not before, and
        // not when there was nothing to move.
        append_n(&log, 20);
        log.for_each(0, |outer| {
            if outer.seq == 0 {
                assert!(log.archive_oldest(1000).unwrap().is_none());
                assert!(!log.archiving_waits(), "nothing to move");
                for _ in 1..ARCHIVING_PATIENCE {
                    assert!(log.archive_oldest(10).unwrap().is_none());
                }
                assert!(!log.archiving_waits());
                assert!(log.archive_oldest(10).unwrap().is_none());
                assert!(log.archiving_waits());
            }
            Ok::<_, AuditError>(())
        })
        .unwrap();
        assert!(log.archive_oldest(10).unwrap().is_some());
        assert!(!log.archiving_waits());
    }

    #[test]
    fn a_changed_or_removed_archived_entry_is_found() {
        let pk = NodeKey::from_seed([5; 32]).unwrap().public_key();
        let (_d, _db, log) = archived_log();
        append_n(&log, 12);
        let f = log.archive_past(2).unwrap().unwrap();
        let text = std::fs::read_to_string(&f.path).unwrap();
        // Changed.
        std::fs::write(&f.path, text.replace("\"p3\"", "\"pX\"")).unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            !r.ok
                && r.breaks
                    .iter()
                    .any(|b| b.seq == 3 && b.problem.contains("changed")),
            "{r:?}"
        );
        // Removed.
        let kept: Vec<&str> = text.lines().filter(|l| !l.contains("\"p5\"")).collect();
        std::fs::write(&f.path, kept.join("\n") + "\n").unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 5 && b.problem.contains("missing")),
            "{r:?}"
        );
        // Unreadable: named in `entries`' error, a break in `verify`'s.
        std::fs::write(&f.path, text.replacen("{", "{{", 1)).unwrap();
        let e = log.entries(0).unwrap_err().to_string();
        assert!(e.contains(&f.path.display().to_string()), "{e}");
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 0 && b.problem.contains("unreadable")),
            "{r:?}"
        );
    }

    /// Damage is described as it is (a helper's trial): a line copied to the
    /// end of a file is one entry that comes again, not every entry after it
    /// missing; a line cut in the middle is named by the file's line, not as
    /// line 1 of its JSON.
    #[test]
    fn verify_describes_a_copied_line_and_a_cut_line_as_they_are() {
        let pk = NodeKey::from_seed([5; 32]).unwrap().public_key();
        let (_d, _db, log) = archived_log();
        append_n(&log, 12);
        let f = log.archive_past(3).unwrap().unwrap();
        let text = std::fs::read_to_string(&f.path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let last = f.last;
        assert_eq!(lines.len() as u64, last + 1);

        let whole = log.verify(&pk).unwrap().entries;
        let copied = format!("{text}{}\n", lines[0]);
        std::fs::write(&f.path, &copied).unwrap();
        let r = log.verify(&pk).unwrap();
        // The copy is a break, not one more entry.
        assert_eq!(r.entries, whole, "{r:?}");
        let said: Vec<_> = r
            .breaks
            .iter()
            .map(|b| (b.seq, b.problem.as_str()))
            .collect();
        assert!(
            said.iter().any(|(seq, p)| *seq == 0
                && p.contains(&format!("comes again, or out of order, after entry {last}"))),
            "{said:?}"
        );
        assert!(
            !said
                .iter()
                .any(|(_, p)| p.contains("missing") || p.contains("does not follow")),
            "{said:?}"
        );

        // A changed copy is still said changed.
        let changed = format!("{text}{}\n", lines[0].replace("\"p0\"", "\"pX\""));
        std::fs::write(&f.path, &changed).unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 0 && b.problem == "changed after it was written"),
            "{r:?}"
        );

        let mut cut: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let half = cut[2].len() / 2;
        cut[2].truncate(half);
        std::fs::write(&f.path, cut.join("\n") + "\n").unwrap();
        let r = log.verify(&pk).unwrap();
        let unreadable = r
            .breaks
            .iter()
            .find(|b| b.problem.starts_with("unreadable"))
            .unwrap_or_else(|| panic!("{r:?}"));
        assert_eq!(unreadable.seq, 2, "{unreadable:?}");
        // The cut line is a break, not an entry.
        assert_eq!(r.entries, whole - 1, "{r:?}");
        let p = &unreadable.problem;
        assert!(
            p.contains(&format!("line 3 of the archive file {}", f.path.display()))
                && p.contains("cut short")
                && !p.contains("line 1"),
            "{p}"
        );
        // Readers name the same file and line, and say what to do.
        let e = log
            .for_each(0, |_| Ok::<_, AuditError>(()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&f.path.display().to_string())
                && e.contains("line 3 is cut short")
                && e.contains("tracenet audit verify")
                && !e.contains("line 1"),
            "{e}"
        );
        std::fs::write(&f.path, &text).unwrap();
        assert!(log.verify(&pk).unwrap().ok);

        // A file renamed out of the archive's names is named, beside the gap
        // it leaves.
        let bak = f.path.with_extension("jsonl.bak");
        std::fs::rename(&f.path, &bak).unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks.iter().any(|b| b.seq == 0
                && b.problem.contains(&bak.display().to_string())
                && b.problem
                    .contains(&format!("renamed from entries 0 to {last}"))),
            "{r:?}"
        );
        std::fs::rename(&bak, &f.path).unwrap();
        assert!(log.verify(&pk).unwrap().ok);
    }

    /// Writes the store's entries 0 to `last` as an archive file, leaving
    /// them in the store: an archiving stopped after its rename.
    fn archive_as_a_crash_left_it(log: &AuditLog, dir: &Path, last: u64) {
        let stored = log.tree.range(..=last.to_be_bytes()).values();
        archive::write(dir, 0, last, stored.map(|v| Ok(v?.to_vec()))).unwrap();
    }

    #[test]
    fn an_archiving_cut_short_by_a_crash_is_finished_on_open() {
        let pk = NodeKey::from_seed([5; 32]).unwrap().public_key();
        let (d, db, log) = archived_log();
        append_n(&log, 10);
        log.tree.flush().unwrap();
        // The crash: every entry written to a file, none yet removed from
        // the store; and a second file's .tmp half written.
        let dir = d.path().join(archive::DIR);
        archive_as_a_crash_left_it(&log, &dir, 9);
        std::fs::write(dir.join("x.jsonl.tmp"), b"{\"seq\":10").unwrap();
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        assert!(log.tree.is_empty());
        assert!(!dir.join("x.jsonl.tmp").exists());
        assert_eq!(log.entries(0).unwrap().len(), 10);
        // Opened again with the store empty, the head comes from the file:
        // the chain goes on unbroken.
        drop(log);
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        let e = log.append(AuditKind::AnswerSent, entry("y"), 300).unwrap();
        assert_eq!(e.seq, 10);
        let r = log.verify(&pk).unwrap();
        assert!(r.ok && r.entries == 11, "{r:?}");
        // A newest file cut short cannot be gone on from.
        let f = archive::files(&dir).unwrap().pop().unwrap();
        let text = std::fs::read_to_string(&f.path).unwrap();
        let cut: Vec<&str> = text.lines().take(9).collect();
        std::fs::write(&f.path, cut.join("\n") + "\n").unwrap();
        db.open_tree("audit").unwrap().clear().unwrap();
        drop(log);
        let e = AuditLog::open_in(&db, d.path()).err().unwrap().to_string();
        assert!(e.contains("is not entry 9"), "{e}");
    }

    #[test]
    fn an_archiving_stopped_after_its_file_is_finished_by_the_next() {
        let pk = NodeKey::from_seed([5; 32]).unwrap().public_key();
        let (d, _db, log) = archived_log();
        append_n(&log, 40);
        log.tree.flush().unwrap();
        // Stopped after the rename: the file holds 0 to 24, the store
        // still 10 to 39.
        let dir = d.path().join(archive::DIR);
        archive_as_a_crash_left_it(&log, &dir, 24);
        for seq in 0..10u64 {
            log.tree.remove(seq.to_be_bytes()).unwrap();
        }
        // Readers see each entry once meanwhile? `verify` says which twice.
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 10 && b.problem.contains("comes again")),
            "{r:?}"
        );
        // The next archiving finishes it, and starts after the file.
        let g = log.archive_past(5).unwrap().unwrap();
        assert_eq!((g.first, g.last), (25, 34));
        let r = log.verify(&pk).unwrap();
        assert!(r.ok && r.entries == 40, "{r:?}");
        assert_eq!(archive::files(&dir).unwrap().len(), 2);
    }

    #[test]
    fn a_file_added_renamed_or_cut_is_found_and_one_past_the_store_refused() {
        let pk = NodeKey::from_seed([5; 32]).unwrap().public_key();
        let (d, db, log) = archived_log();
        append_n(&log, 30);
        let f = log.archive_past(5).unwrap().unwrap();
        let dir = d.path().join(archive::DIR);
        // Added: an empty file claiming every number after the store's.
        let fake = dir.join(format!("{:020}-{:020}.jsonl", 1000, u64::MAX));
        std::fs::write(&fake, b"").unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            !r.ok
                && r.breaks
                    .iter()
                    .any(|b| b.problem.contains(&fake.display().to_string())),
            "{r:?}"
        );
        drop(log);
        let e = AuditLog::open_in(&db, d.path()).err().unwrap().to_string();
        assert!(e.contains("no file holds"), "{e}");
        // What opening refuses, verifying the log as it stands reports.
        let r = AuditLog::verify_as_it_stands(&db, d.path(), &pk).unwrap();
        assert!(
            !r.ok
                && r.breaks
                    .iter()
                    .any(|b| b.seq == 1000 && b.problem.contains(&fake.display().to_string())),
            "{r:?}"
        );
        std::fs::remove_file(&fake).unwrap();
        // A copy overlapping the node's own file is left out and reported,
        // naming both files; the rest of the log is checked.
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        let intact = log.verify(&pk).unwrap();
        assert!(intact.ok, "{intact:?}");
        let copy = dir.join(format!("{:020}-{:020}.jsonl", 5, 12));
        std::fs::write(&copy, b"").unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(!r.ok, "{r:?}");
        assert_eq!((r.entries, &r.head), (intact.entries, &intact.head));
        assert_eq!(r.breaks.len(), 1, "{r:?}");
        assert_eq!(r.breaks[0].seq, 5, "{r:?}");
        assert!(
            r.breaks[0].problem.contains(&copy.display().to_string())
                && r.breaks[0].problem.contains(&f.path.display().to_string())
                && r.breaks[0].problem.contains("was not read"),
            "{r:?}"
        );
        std::fs::remove_file(&copy).unwrap();
        // A link with an archive's name is not followed: reported, and
        // refused by the node's open.
        #[cfg(unix)]
        {
            let link = dir.join(format!("{:020}-{:020}.jsonl", 500, 600));
            std::os::unix::fs::symlink(&f.path, &link).unwrap();
            let r = log.verify(&pk).unwrap();
            assert!(
                !r.ok
                    && r.breaks
                        .iter()
                        .any(|b| b.seq == 500 && b.problem.contains("not a regular file")),
                "{r:?}"
            );
            drop(log);
            let e = AuditLog::open_in(&db, d.path()).err().unwrap().to_string();
            assert!(e.contains("not a regular file"), "{e}");
            std::fs::remove_file(&link).unwrap();
        }
        // A line longer than any entry, inside the node's own file: the
        // walk stops there, at that entry, without holding the line.
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        let text = std::fs::read_to_string(&f.path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[3] = "x".repeat(archive::MAX_LINE + 10);
        std::fs::write(&f.path, lines.join("\n") + "\n").unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            !r.ok && r.head.is_some(),
            "the store is still checked: {r:?}"
        );
        assert!(
            r.breaks.iter().any(|b| b.seq == 3
                && b.problem.contains("line 4 is longer than")
                && b.problem.contains("the rest of it was not read")),
            "{r:?}"
        );
        std::fs::write(&f.path, &text).unwrap();
        // A file of garbage: the first BREAKS_LISTED breaks listed, the
        // rest counted.
        let garbage = dir.join(format!("{:020}-{:020}.jsonl", 1_000_000, 1_000_001));
        std::fs::write(&garbage, "garbage\n".repeat(BREAKS_LISTED + 500)).unwrap();
        let r = log.verify(&pk).unwrap();
        assert_eq!(r.breaks.len(), BREAKS_LISTED, "{:?}", &r.breaks[..3]);
        assert!(r.breaks_not_listed >= 500, "{}", r.breaks_not_listed);
        std::fs::remove_file(&garbage).unwrap();
        // A short one: its unreadable lines have no number to report, and
        // are said so (not as 18446744073709551615).
        std::fs::write(&garbage, "garbage\n").unwrap();
        let r = log.verify(&pk).unwrap();
        let end = r
            .breaks
            .iter()
            .find(|b| b.problem.contains("should hold"))
            .expect("the file's lines against its name");
        assert!(
            end.problem
                .contains("(first: unreadable, last: unreadable)")
                && !end.problem.contains(&u64::MAX.to_string()),
            "{end:?}"
        );
        drop(log);
        std::fs::remove_file(&garbage).unwrap();
        // Garbage claiming entries the store holds: named by its line.
        let garbage = dir.join(format!("{:020}-{:020}.jsonl", 25, 26));
        std::fs::write(&garbage, b"garbage\n").unwrap();
        let e = AuditLog::open_in(&db, d.path()).err().unwrap().to_string();
        assert!(e.contains("line 1 should be entry 25"), "{e}");
        std::fs::remove_file(&garbage).unwrap();
        // Cut: its last line gone.
        let log = AuditLog::open_in(&db, d.path()).unwrap();
        let text = std::fs::read_to_string(&f.path).unwrap();
        let cut: Vec<&str> = text.lines().take(24).collect();
        std::fs::write(&f.path, cut.join("\n") + "\n").unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.seq == 0 && b.problem.contains("holds 24 lines")),
            "{r:?}"
        );
        // Renamed to claim fewer entries than it holds.
        std::fs::write(&f.path, &text).unwrap();
        let renamed = dir.join(format!("{:020}-{:020}.jsonl", 0, 20));
        std::fs::rename(&f.path, &renamed).unwrap();
        let r = log.verify(&pk).unwrap();
        assert!(
            r.breaks
                .iter()
                .any(|b| b.problem.contains(&renamed.display().to_string())),
            "{r:?}"
        );
    }
}
