//! The national registry: records in sled, kept under their marking (country,
//! maker, folded serial) and found by id through id buckets, with import,
//! export, fuzzy find and retention statistics. The layout is in
//! proto-docs/FORMATS.md, "Registry storage".
//!
//! Everything lives in one sled tree so that a record, its id bucket and the
//! counters change in one atomic batch: a crash never leaves a record without
//! its bucket or a count that disagrees with the records.

mod artefacts;
mod blind_keys;
mod countries;
mod csv_rows;
mod find;
mod ids;
pub mod import;
mod record;
mod remove;
pub mod source;
mod stored;
pub mod synthetic;
mod variant_heads;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::ops::Bound;
use std::sync::{Mutex, RwLock};

use serde::Serialize;

pub use find::{Candidate, FindQuery, Found};
pub use import::{
    ImportError, ImportFormat, ImportOptions, ImportSummary, NewMaker, Progress, Rejection, Warning,
};
pub use record::{Event, MAX_EVENTS, NationalText, Record, RecordId};
pub use source::SourceOptions;

use crate::marking::{
    FactoryCodeError, FactoryPrefix, MakerError, MakerKey, MakerTable, MarkingPrefix,
    SERIAL_RULES_VERSION, SerialError, SerialKeys, fold_serial,
};
use crate::model::{CountryCode, Date, EventKind, WeaponCategory};
use countries::CountriesHeld;
use variant_heads::VariantHeads;

/// Key layout of the registry tree (layouts 2 and 3); the first byte says what a key is.
mod keys {
    use super::*;

    /// `d FENCE`: an id bucket (see `ids`).
    pub const IDS: u8 = b'd';
    /// `k CC MAKER 0x00 FOLDED 0x00 ID`: a record, kept under its marking.
    pub const KEPT: u8 = b'k';
    /// `v CC MAKER 0x00 VARIANT 0x00 ID` → FOLDED: a record's variant key
    /// (`marking::SerialKeys::variants`), pointing at where it is kept.
    pub const VARIANT: u8 = b'v';
    pub const PREFIX: u8 = b'p';
    pub const IMPORT: u8 = b'g';
    /// `f CC CODE 0x00 MAKER`: records marked with factory code CODE made in
    /// CC, kept under MAKER; u64 BE.
    pub const FACTORY: u8 = b'f';
    /// `c CC MAKER`: confidential records under the prefix CC/MAKER; u64 BE,
    /// absent at zero. What a wildcard from another State is answered by
    /// instead of the confidential records it may match
    /// ([`Registry::holds_confidential`]); counted by a re-index
    /// ([`INDEX_RULES`] 2), then kept with every write.
    pub const CONFIDENTIAL: u8 = b'c';
    pub const COUNT: &[u8] = b"x:count";
    pub const MAKERS: &[u8] = b"x:makers";
    pub const LAYOUT: &[u8] = b"x:layout";
    /// Layout 1 kept `r ID` → canonical JSON and `i CC MAKER 0 FOLDED 0 ID` →
    /// normalised serial; `open` moves such a registry to layout 2.
    pub const V1_RECORD: u8 = b'r';
    pub const V1_INDEX: u8 = b'i';
    /// `q ID`: a layout-1 record that no longer parsed, kept as it was.
    pub const SET_ASIDE: u8 = b'q';

    pub fn ids(fence: &[u8]) -> Vec<u8> {
        [&[IDS], fence].concat()
    }

    pub fn prefix(p: &MarkingPrefix) -> Vec<u8> {
        let c = p.country.as_bytes();
        [&[PREFIX, c[0], c[1]], p.maker.as_str().as_bytes()].concat()
    }

    pub fn confidential(p: &MarkingPrefix) -> Vec<u8> {
        let c = p.country.as_bytes();
        [&[CONFIDENTIAL, c[0], c[1]], p.maker.as_str().as_bytes()].concat()
    }

    pub fn import(c: CountryCode) -> Vec<u8> {
        let c = c.as_bytes();
        vec![IMPORT, c[0], c[1]]
    }

    pub fn factory(c: CountryCode, code: &str, maker: &MakerKey) -> Vec<u8> {
        let c = c.as_bytes();
        [
            &[FACTORY, c[0], c[1]],
            code.as_bytes(),
            &[0],
            maker.as_str().as_bytes(),
        ]
        .concat()
    }

    /// The start of a prefix's locations: `CC MAKER 0x00`.
    pub fn head(p: &MarkingPrefix) -> Vec<u8> {
        let c = p.country.as_bytes();
        [&[c[0], c[1]], p.maker.as_str().as_bytes(), &[0]].concat()
    }

    /// The head (`CC MAKER 0x00`) of a location.
    pub fn head_of(location: &[u8]) -> &[u8] {
        let at = location.iter().position(|b| *b == 0).map_or(0, |i| i + 1);
        &location[..at]
    }

    /// The variant keys of a record kept at `location` (`CC MAKER 0x00
    /// FOLDED`) with normalised serial `normalised`, each with its value
    /// (FOLDED).
    pub fn variants(location: &[u8], normalised: &str, id: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        // Most serials have none: known without building the keys.
        if !SerialKeys::has_variants(normalised) {
            return Vec::new();
        }
        let keys = SerialKeys::of(normalised);
        let variants = keys.variants();
        if variants.is_empty() {
            return Vec::new();
        }
        let (head, folded) = location.split_at(head_of(location).len());
        variants
            .into_iter()
            .map(|v| {
                (
                    [&[VARIANT], head, v.as_bytes(), &[0], id].concat(),
                    folded.to_vec(),
                )
            })
            .collect()
    }

    /// A record's location: `CC MAKER 0x00 FOLDED`.
    pub fn location(p: &MarkingPrefix, folded: &str) -> Vec<u8> {
        let c = p.country.as_bytes();
        [
            &[c[0], c[1]],
            p.maker.as_str().as_bytes(),
            &[0],
            folded.as_bytes(),
        ]
        .concat()
    }

    /// `k LOCATION 0x00 ID`. Makers, serials and ids never hold 0x00.
    pub fn kept(location: &[u8], id: &[u8]) -> Vec<u8> {
        [&[KEPT], location, &[0], id].concat()
    }

    /// The record id at the end of a kept (or layout-1 index) key.
    pub fn id_of_kept(key: &[u8]) -> Option<&str> {
        let at = key.iter().rposition(|b| *b == 0)?;
        std::str::from_utf8(&key[at + 1..]).ok()
    }
}

/// A kept value: `u16 LE length || normalised serial || stored record`. The
/// serial comes first so that a fuzzy scan matches without decoding records.
fn kept_value(normalised: &str, record: &[u8]) -> Vec<u8> {
    let n = normalised.len() as u16;
    [&n.to_le_bytes()[..], normalised.as_bytes(), record].concat()
}

/// Splits a kept value into its normalised serial and stored record.
fn split_kept<'a>(key: &[u8], v: &'a [u8]) -> Result<(&'a str, &'a [u8]), RegistryError> {
    let bad = |why: &str| corrupt_index(key, why);
    if v.len() < 2 {
        return Err(bad("value too short"));
    }
    let n = u16::from_le_bytes([v[0], v[1]]) as usize;
    let rest = &v[2..];
    if rest.len() < n {
        return Err(bad("serial longer than the value"));
    }
    let serial = std::str::from_utf8(&rest[..n]).map_err(|e| bad(&e.to_string()))?;
    Ok((serial, &rest[n..]))
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("registry storage: {0}")]
    Storage(#[from] sled::Error),
    #[error(
        "stored entry {key:?} is unreadable ({reason}); export what is readable and re-import it"
    )]
    Corrupt { key: String, reason: String },
    #[error(
        "the registry is in storage layout {0}, which this tracenet (layout {1}) cannot read; run the tracenet release that wrote it, or a newer one"
    )]
    Layout(u8, u8),
    #[error("serial: {0}")]
    Serial(#[from] SerialError),
    #[error("manufacturer: {0}")]
    Maker(#[from] MakerError),
    #[error("{0}")]
    FactoryCode(#[from] FactoryCodeError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    #[error(
        "no record {} in this registry; nothing was removed (`tracenet registry find`, POST /v1/registry/find, searches by marking)",
        .0.join(", ")
    )]
    NoSuchRecords(Vec<String>),
}

/// What `registry stats` reports.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Stats {
    pub records: u64,
    pub confidential: u64,
    pub prefixes: u64,
    pub by_category: BTreeMap<WeaponCategory, u64>,
    pub by_event_kind: BTreeMap<EventKind, u64>,
    /// Records whose every event is older than its ITI minimum (30 years for
    /// manufacture, 20 for other events): kept longer than the law requires.
    pub past_retention_minimum: u64,
    /// Events older than their ITI minimum, by kind.
    pub events_past_retention_minimum: BTreeMap<EventKind, u64>,
    pub as_of: Date,
}

/// What `registry prefixes` reports: the marking prefixes held, the
/// countries of import marks and the factory codes, each with its record
/// count.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Holdings {
    pub prefixes: Vec<PrefixCount>,
    pub import_countries: Vec<ImportCount>,
    /// Absent from the output of releases before factory codes.
    #[serde(default)]
    pub factory_codes: Vec<FactoryCount>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PrefixCount {
    /// `DE/CARLWALTHER`: country of manufacture and maker key.
    pub prefix: String,
    pub records: u64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ImportCount {
    pub country: CountryCode,
    pub records: u64,
}

/// Records made in `country` marked with factory code `code` (canonical),
/// under any maker; its topic is `tracenet/1/factory/CC/CODE`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FactoryCount {
    pub country: CountryCode,
    pub code: String,
    pub records: u64,
}

/// Whether the records written carry their events ([`Registry::put_all_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Each record's events are all it has: a JSON Lines record, a weapons
    /// CSV imported with its events file.
    AsGiven,
    /// The records' events were not given (a weapons CSV without its events
    /// file): a record written without events keeps those stored under its
    /// id.
    KeepStored,
}

/// The national registry over one sled tree.
pub struct Registry {
    db: sled::Db,
    tree: sled::Tree,
    /// Replaced when a newer maker reference table is applied
    /// ([`Registry::set_makers`]); each use takes a snapshot.
    makers: RwLock<MakerTable>,
    /// Held for writing while records move to a new maker table's
    /// locations, and for reading by every `find`: a find never sees a
    /// record half-moved (and a responder never answers no_hit for it).
    moving: RwLock<()>,
    /// Writes read buckets and counters before changing them: one writer at a time.
    writer: Mutex<()>,
    /// The countries of manufacture records were ever placed under.
    countries: CountriesHeld,
    /// The prefixes variant keys were ever written under.
    variant_heads: VariantHeads,
}

/// How many records one atomic sled batch writes. Small batches matter: sled
/// frees replaced pages only between batches, and a batch of thousands of
/// records held hundreds of MiB of them (measured: 2.2 GiB resident at 2048
/// records a batch, 0.2 GiB at 128, for the same speed).
const BATCH: usize = 128;
/// How many records an import hands to `put_all` at a time.
pub(crate) const CHUNK: usize = 2048;
/// The registry's storage layout. 3: the keys of layout 2, with stored
/// records of format 2 (a header; `stored`), which a tracenet of layout 2
/// cannot read: the number tells it to refuse the registry whole, with
/// `RegistryError::Layout`, instead of failing on every such record. 4:
/// every stored record in format 3 (the confidential bit in its header),
/// rewritten once at open from formats 1 and 2, so that a holder hiding
/// confidential records never decodes a record to know.
const LAYOUT: u8 = 4;
/// Bumped whenever the registry's own index changes within a layout, so
/// that a registry indexed before re-indexes at its next open. 1: variant
/// keys (`v`) and factory-code counters (`f`). 2: counters of confidential
/// records per prefix (`c`). An older build that opens the registry
/// re-indexes it by its own rules and then writes without the `c`
/// counters; this build re-indexes it again at its next open, so the
/// counters are never left behind by a downgrade and an upgrade.
const INDEX_RULES: u32 = 2;

/// What a registry's keys were built with: the maker table's fingerprint,
/// the serial rules and the index rules, mixed (FNV-1a). Stored under
/// `x:makers`; a registry whose value differs is re-indexed at open.
pub fn index_fingerprint(makers: &MakerTable) -> u64 {
    let mut h = makers.fingerprint();
    for b in SERIAL_RULES_VERSION
        .to_be_bytes()
        .iter()
        .chain(&INDEX_RULES.to_be_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A record id bucket read during a write, with the fence of the next bucket
/// (the end of what it covers) and whether it changed.
struct LoadedBucket {
    upper: Option<Vec<u8>>,
    entries: ids::Entries,
    dirty: bool,
}

/// The counters as this writer knows them: read from sled once, then kept
/// across batches, with those changed since the last batch was written.
#[derive(Default)]
struct Counters {
    values: HashMap<Vec<u8>, i64>,
    changed: HashSet<Vec<u8>>,
}

impl Counters {
    fn add(&mut self, tree: &sled::Tree, key: &[u8], delta: i64) -> Result<(), RegistryError> {
        if !self.values.contains_key(key) {
            let cur = tree.get(key)?.map(|v| be_u64(&v)).unwrap_or(0) as i64;
            self.values.insert(key.to_vec(), cur);
        }
        let v = self.values.get_mut(key).expect("just inserted");
        *v = v.saturating_add(delta);
        self.changed.insert(key.to_vec());
        Ok(())
    }

    /// Writes the counters changed since the last call into the batch; a prefix
    /// or import counter that reaches zero disappears.
    fn write(&mut self, batch: &mut sled::Batch) {
        for key in self.changed.drain() {
            let v = self.values.get(&key).copied().unwrap_or(0);
            if v <= 0 && key.as_slice() != keys::COUNT {
                batch.remove(key);
            } else {
                batch.insert(key, &(v.max(0) as u64).to_be_bytes()[..]);
            }
        }
    }
}

impl Registry {
    /// Opens the registry tree of `db`. A registry in the older layout is moved to
    /// the current one; if the maker table changed since the records were placed,
    /// they are re-placed, since locations depend on it.
    pub fn open(db: &sled::Db, makers: MakerTable) -> Result<Self, RegistryError> {
        let tree = db.open_tree("registry")?;
        let reg = Registry {
            db: db.clone(),
            tree,
            makers: RwLock::new(makers),
            moving: RwLock::new(()),
            writer: Mutex::new(()),
            countries: CountriesHeld::new(),
            variant_heads: VariantHeads::new(),
        };
        match reg.tree.get(keys::LAYOUT)?.as_deref() {
            Some([LAYOUT]) => {}
            // Layouts 2 and 3 are layout 4 with records of formats 1 and 2,
            // rewritten now (a rewrite cut short resumes at the next open).
            Some([2] | [3]) => {
                reg.rewrite_stored()?;
                reg.tree.insert(keys::LAYOUT, &[LAYOUT][..])?;
            }
            // Layout 1 wrote no layout key.
            None | Some([1]) => {
                let set_aside = reg.migrate_v1()?;
                if set_aside > 0 {
                    // The counters still count what was set aside.
                    reg.reindex()?;
                }
                reg.tree.insert(keys::LAYOUT, &[LAYOUT][..])?;
            }
            Some(other) => {
                return Err(RegistryError::Layout(
                    other.first().copied().unwrap_or(0),
                    LAYOUT,
                ));
            }
        }
        let want = index_fingerprint(&reg.makers()).to_be_bytes();
        if reg.tree.get(keys::MAKERS)?.as_deref() != Some(&want[..]) {
            // Whether records exist, not what the counter says: an interrupted
            // rebuild may have left the counter wrong.
            if reg.tree.scan_prefix([keys::IDS]).next().is_some() {
                tracing::info!(
                    "maker table or serial rules changed since the registry was indexed: rebuilding the index"
                );
                reg.reindex()?;
            }
            reg.tree.insert(keys::MAKERS, &want[..])?;
        }
        for (p, _) in reg.prefixes()? {
            reg.countries.insert(p.country);
        }
        reg.load_variant_heads()?;
        Ok(reg)
    }

    /// The maker table records are placed by now (a cheap clone).
    pub fn makers(&self) -> MakerTable {
        self.makers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Places records by `makers` from now on. When it folds differently
    /// from the table in use (another fingerprint), every record is moved to
    /// the location the new table gives it and the counters are rebuilt
    /// ([`Registry::reindex`]), while finds wait; returns whether that
    /// happened. A crash part-way leaves the old fingerprint stored, so the
    /// next `open` with the new table finishes the move.
    pub fn set_makers(&self, makers: MakerTable) -> Result<bool, RegistryError> {
        let _moving = self.moving.write().unwrap_or_else(|p| p.into_inner());
        let want = index_fingerprint(&makers);
        let changed = index_fingerprint(&self.makers()) != want;
        *self.makers.write().unwrap_or_else(|p| p.into_inner()) = makers;
        if !changed {
            return Ok(false);
        }
        if self.tree.scan_prefix([keys::IDS]).next().is_some() {
            self.reindex()?;
        }
        self.tree.insert(keys::MAKERS, &want.to_be_bytes()[..])?;
        Ok(true)
    }

    /// Notes every prefix that holds variant keys: one seek per such
    /// prefix, however many keys it holds.
    fn load_variant_heads(&self) -> Result<(), RegistryError> {
        let mut from = vec![keys::VARIANT];
        while let Some(kv) = self.tree.range(from.as_slice()..).next() {
            let (k, _) = kv?;
            if k.first() != Some(&keys::VARIANT) {
                break;
            }
            let at = k[1..]
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| corrupt_index(&k, "a variant key without its prefix"))?;
            let head = &k[1..=1 + at];
            self.variant_heads.insert(head);
            // Past every key of this head: its final 0x00 raised to 0x01.
            from = [&[keys::VARIANT], &head[..at], &[1]].concat();
        }
        Ok(())
    }

    /// What the registry's keys were built with ([`index_fingerprint`]).
    pub fn fingerprint(&self) -> u64 {
        index_fingerprint(&self.makers())
    }

    /// Number of records held (kept as a counter, not counted).
    pub fn len(&self) -> Result<u64, RegistryError> {
        Ok(self.tree.get(keys::COUNT)?.map(|v| be_u64(&v)).unwrap_or(0))
    }

    pub fn is_empty(&self) -> Result<bool, RegistryError> {
        Ok(self.len()? == 0)
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<(), RegistryError> {
        self.db.flush()?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded state is in sled; a panicked writer left nothing half-done.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &RecordId) -> Result<Option<Record>, RegistryError> {
        let id = id.as_str().as_bytes();
        // The bucket and the record are two reads: a write that moves the record
        // to another marking between them is seen as a missing record, and read
        // again; a record removed between them is missing, as it now is.
        for _ in 0..3 {
            let Some((fence, bucket)) = self.bucket_of(id)? else {
                return Ok(None);
            };
            let Some(loc) =
                ids::find(&bucket, id).map_err(|e| corrupt_index(&keys::ids(&fence), e))?
            else {
                return Ok(None);
            };
            let key = keys::kept(loc, id);
            if let Some(v) = self.tree.get(&key)? {
                return decode_kept(&key, &v).map(Some);
            }
        }
        Ok(None)
    }

    /// The stored bucket covering `id`: (fence, bytes).
    fn bucket_of(&self, id: &[u8]) -> Result<Option<(Vec<u8>, sled::IVec)>, RegistryError> {
        match self.tree.range(..=keys::ids(id)).next_back().transpose()? {
            Some((k, v)) if k.first() == Some(&keys::IDS) => Ok(Some((k[1..].to_vec(), v))),
            _ => Ok(None),
        }
    }

    /// Loads (once per batch) the bucket covering `id`; returns its fence.
    fn load_bucket(
        &self,
        id: &[u8],
        loaded: &mut BTreeMap<Vec<u8>, LoadedBucket>,
    ) -> Result<Vec<u8>, RegistryError> {
        if let Some((fence, b)) = loaded
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(id)))
            .next_back()
            && b.upper.as_deref().is_none_or(|u| id < u)
        {
            return Ok(fence.clone());
        }
        let (fence, entries) = match self.bucket_of(id)? {
            Some((fence, bytes)) => {
                let entries =
                    ids::decode(&bytes).map_err(|e| corrupt_index(&keys::ids(&fence), e))?;
                (fence, entries)
            }
            None => (Vec::new(), ids::Entries::new()),
        };
        let upper = self
            .tree
            .range((Bound::Excluded(keys::ids(&fence)), Bound::Unbounded))
            .next()
            .transpose()?
            .filter(|(k, _)| k.first() == Some(&keys::IDS))
            .map(|(k, _)| k[1..].to_vec());
        loaded.insert(
            fence.clone(),
            LoadedBucket {
                upper,
                entries,
                dirty: false,
            },
        );
        Ok(fence)
    }

    /// Writes records in atomic batches of [`BATCH`]; a record that already exists
    /// under its id is replaced. Returns (added, updated, unchanged).
    pub fn put_all(&self, records: Vec<Record>) -> Result<(u64, u64, u64), RegistryError> {
        self.put_all_as(records, Events::AsGiven)
    }

    /// As [`Registry::put_all`], with `events` saying whether each record's
    /// events replace those stored under its id, or are not given (a
    /// weapons CSV imported without its events file) and the stored ones are
    /// kept.
    pub fn put_all_as(
        &self,
        records: Vec<Record>,
        events: Events,
    ) -> Result<(u64, u64, u64), RegistryError> {
        let _w = self.lock();
        let mut counters = Counters::default();
        let mut totals = (0, 0, 0);
        for chunk in records.chunks(BATCH) {
            let (batch, (a, u, n)) = self.plan(chunk, &mut counters, true, events)?;
            self.tree.apply_batch(batch)?;
            totals = (totals.0 + a, totals.1 + u, totals.2 + n);
        }
        Ok(totals)
    }

    /// The batch that writes `chunk`: records under their markings, their id
    /// buckets and, when `counting`, the counters.
    fn plan(
        &self,
        chunk: &[Record],
        counters: &mut Counters,
        counting: bool,
        events: Events,
    ) -> Result<(sled::Batch, (u64, u64, u64)), RegistryError> {
        let mut batch = sled::Batch::default();
        let mut loaded = BTreeMap::new();
        let mut written: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        let (mut added, mut updated, mut unchanged) = (0, 0, 0);
        for rec in chunk {
            let id = rec.id.as_str().as_bytes();
            let fence = self.load_bucket(id, &mut loaded)?;
            let (prefix, loc, normalised) = self.location(rec);
            // Before the batch is applied: a lookup never misses the country.
            self.countries.insert(prefix.country);
            let key = keys::kept(&loc, id);
            let bucket = loaded.get_mut(&fence).expect("loaded");
            let old_loc = bucket.entries.get(id);
            let old = match old_loc {
                Some(old_loc) => {
                    let old_key = keys::kept(old_loc, id);
                    match written.get(&old_key) {
                        Some(v) => v.clone(),
                        None => self.tree.get(&old_key)?.map(|v| v.to_vec()),
                    }
                }
                None => None,
            };
            // Events not given: the stored record's are kept.
            let kept_events;
            let rec = match (&old, old_loc, events) {
                (Some(old), Some(old_loc), Events::KeepStored) if rec.events.is_empty() => {
                    let old = decode_kept(&keys::kept(old_loc, id), old)?;
                    kept_events = Record {
                        events: old.events,
                        ..rec.clone()
                    };
                    &kept_events
                }
                _ => rec,
            };
            let stored = stored::encode(rec).map_err(|reason| RegistryError::Corrupt {
                key: format!("record {}", rec.id),
                reason,
            })?;
            let value = kept_value(&normalised, &stored);
            match old_loc {
                Some(old_loc) => {
                    let old_key = keys::kept(old_loc, id);
                    if old.as_deref() == Some(value.as_slice()) {
                        unchanged += 1;
                        continue;
                    }
                    if let Some(old) = &old {
                        let (old_normalised, _) = split_kept(&old_key, old)?;
                        for (k, _) in keys::variants(old_loc, old_normalised, id) {
                            batch.remove(k);
                        }
                    }
                    if let Some(old) = old
                        && counting
                    {
                        let old = decode_kept(&old_key, &old)?;
                        let (old_prefix, _, _) = self.location(&old);
                        self.count(&old, &old_prefix, -1, counters)?;
                    }
                    if old_key != key {
                        batch.remove(old_key.as_slice());
                        written.insert(old_key, None);
                    }
                    updated += 1;
                }
                None => {
                    if counting {
                        counters.add(&self.tree, keys::COUNT, 1)?;
                    }
                    added += 1;
                }
            }
            if counting {
                self.count(rec, &prefix, 1, counters)?;
            }
            for (k, v) in keys::variants(&loc, &normalised, id) {
                // Before the batch is applied: a lookup never misses them.
                self.variant_heads.insert(keys::head_of(&loc));
                batch.insert(k, v);
            }
            bucket.entries.insert(id.to_vec(), loc);
            bucket.dirty = true;
            batch.insert(key.as_slice(), value.as_slice());
            written.insert(key, Some(value));
        }
        for (fence, b) in loaded {
            if !b.dirty {
                continue;
            }
            for (new_fence, bytes) in ids::encode_split(&b.entries) {
                batch.insert(keys::ids(new_fence.as_deref().unwrap_or(&fence)), bytes);
            }
        }
        counters.write(&mut batch);
        Ok((batch, (added, updated, unchanged)))
    }

    /// A record's location under the built-in maker table (for tests that
    /// write an older layout by hand).
    #[cfg(test)]
    fn open_raw_location(rec: &Record) -> Vec<u8> {
        let prefix = rec.marking.prefix(&MakerTable::built_in());
        keys::location(&prefix, &fold_serial(&rec.marking.normalised_serial()))
    }

    /// A record's marking prefix, location and normalised serial.
    fn location(&self, rec: &Record) -> (MarkingPrefix, Vec<u8>, String) {
        let prefix = rec.marking.prefix(&self.makers());
        let normalised = rec.marking.normalised_serial();
        let location = keys::location(&prefix, &fold_serial(&normalised));
        (prefix, location, normalised)
    }

    /// The counters a record under `prefix` contributes to: the prefix, the
    /// countries of its import marks (each once) and its factory code.
    fn counter_keys(rec: &Record, prefix: &MarkingPrefix) -> Vec<Vec<u8>> {
        let mut imports: Vec<CountryCode> =
            rec.marking.imports().iter().map(|m| m.country).collect();
        imports.sort();
        imports.dedup();
        let factory = rec
            .marking
            .factory_code()
            .map(|code| keys::factory(rec.marking.country(), code, &prefix.maker));
        std::iter::once(keys::prefix(prefix))
            .chain(imports.into_iter().map(keys::import))
            .chain(factory)
            .chain(rec.confidential.then(|| keys::confidential(prefix)))
            .collect()
    }

    /// Adds `delta` to each counter the record contributes to.
    fn count(
        &self,
        rec: &Record,
        prefix: &MarkingPrefix,
        delta: i64,
        counters: &mut Counters,
    ) -> Result<(), RegistryError> {
        for key in Self::counter_keys(rec, prefix) {
            counters.add(&self.tree, &key, delta)?;
        }
        Ok(())
    }

    /// Rewrites every kept record not in the current stored format (1 or
    /// 2) in it, a batch at a time; only the value changes, so no index
    /// or counter moves. A record that does not decode is left as it is,
    /// reported where it is read. Returns how many were rewritten.
    fn rewrite_stored(&self) -> Result<u64, RegistryError> {
        let _w = self.lock();
        let (mut rewritten, mut batch, mut in_batch) = (0u64, sled::Batch::default(), 0u64);
        for kv in self.tree.scan_prefix([keys::KEPT]) {
            let (k, v) = kv?;
            let (serial, stored) = split_kept(&k, &v)?;
            if stored::is_current(stored) {
                continue;
            }
            let Ok(rec) = decode_kept(&k, &v) else {
                continue;
            };
            let bytes = stored::encode(&rec).map_err(|reason| RegistryError::Corrupt {
                key: format!("record {}", rec.id),
                reason,
            })?;
            batch.insert(k, kept_value(serial, &bytes));
            in_batch += 1;
            if in_batch == 8 * BATCH as u64 {
                self.tree.apply_batch(std::mem::take(&mut batch))?;
                rewritten += in_batch;
                in_batch = 0;
            }
        }
        self.tree.apply_batch(batch)?;
        rewritten += in_batch;
        if rewritten > 0 {
            tracing::info!(
                records = rewritten,
                "registry records rewritten in the current stored format (storage layout {LAYOUT})"
            );
        }
        Ok(rewritten)
    }

    /// Moves a registry in layout 1 to layout 2, a batch of records at a time:
    /// each batch writes records in the new layout and removes their old keys
    /// together, so an interrupted move resumes where it stopped. The counters
    /// mean the same in both layouts and are kept. A stored record that no longer
    /// parses is not dropped: it is set aside under `q ID`, as it was, and logged.
    fn migrate_v1(&self) -> Result<u64, RegistryError> {
        let _w = self.lock();
        let mut counters = Counters::default();
        let (mut moved, mut set_aside) = (0u64, 0u64);
        loop {
            let mut chunk = Vec::with_capacity(BATCH);
            let mut old_keys = Vec::with_capacity(BATCH);
            let mut batch_aside = Vec::new();
            for kv in self.tree.scan_prefix([keys::V1_RECORD]).take(BATCH) {
                let (k, v) = kv?;
                match serde_json::from_slice::<Record>(&v) {
                    Ok(rec) => chunk.push(rec),
                    Err(e) => {
                        tracing::warn!(
                            record = %String::from_utf8_lossy(&k[1..]),
                            error = %e,
                            "a stored record does not parse: set aside under its id with prefix 'q'"
                        );
                        batch_aside.push((k.clone(), v));
                    }
                }
                old_keys.push(k);
            }
            if old_keys.is_empty() {
                break;
            }
            let (mut batch, _) = self.plan(&chunk, &mut counters, false, Events::AsGiven)?;
            for (k, v) in &batch_aside {
                batch.insert([&[keys::SET_ASIDE], &k[1..]].concat(), v.clone());
            }
            for k in old_keys {
                batch.remove(k);
            }
            self.tree.apply_batch(batch)?;
            moved += chunk.len() as u64;
            set_aside += batch_aside.len() as u64;
        }
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in self
                .tree
                .scan_prefix([keys::V1_INDEX])
                .keys()
                .take(4 * BATCH)
            {
                batch.remove(k?);
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.tree.apply_batch(batch)?;
        }
        if moved + set_aside > 0 {
            tracing::info!(
                records = moved,
                set_aside,
                "registry moved to storage layout {LAYOUT}"
            );
        }
        Ok(set_aside)
    }

    /// Re-places every record under the location the current maker table gives
    /// it, and rebuilds the counters from the records.
    pub fn reindex(&self) -> Result<(), RegistryError> {
        let _w = self.lock();
        // Variant keys are rebuilt from the records below; until `x:makers`
        // is written after this pass, an interrupted one runs again.
        self.remove_tagged(keys::VARIANT)?;
        let mut counts: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut total = 0i64;
        for kv in self.tree.scan_prefix([keys::IDS]) {
            let (bkey, bytes) = kv?;
            let mut entries = ids::decode(&bytes).map_err(|e| corrupt_index(&bkey, e))?;
            let mut batch = sled::Batch::default();
            let mut dirty = false;
            for (id, loc) in entries.iter_mut() {
                let key = keys::kept(loc, id);
                let Some(v) = self.tree.get(&key)? else {
                    continue;
                };
                let rec = decode_kept(&key, &v)?;
                total += 1;
                let (prefix, new_loc, normalised) = self.location(&rec);
                self.countries.insert(prefix.country);
                for key in Self::counter_keys(&rec, &prefix) {
                    *counts.entry(key).or_default() += 1;
                }
                for (k, value) in keys::variants(&new_loc, &normalised, id) {
                    self.variant_heads.insert(keys::head_of(&new_loc));
                    batch.insert(k, value);
                }
                // Changed serial rules change the normalised serial it is
                // kept with, as well as where.
                let (old_normalised, stored) = split_kept(&key, &v)?;
                let value = if old_normalised == normalised {
                    v.to_vec()
                } else {
                    kept_value(&normalised, stored)
                };
                if new_loc != *loc || value != v.as_ref() {
                    batch.remove(key);
                    batch.insert(keys::kept(&new_loc, id), value);
                    dirty |= new_loc != *loc;
                    *loc = new_loc;
                }
            }
            if dirty {
                for (fence, bytes) in ids::encode_split(&entries) {
                    match fence {
                        Some(f) => batch.insert(keys::ids(&f), bytes),
                        None => batch.insert(&bkey, bytes),
                    }
                }
            }
            self.tree.apply_batch(batch)?;
        }
        let mut batch = sled::Batch::default();
        for tag in [
            keys::PREFIX,
            keys::IMPORT,
            keys::FACTORY,
            keys::CONFIDENTIAL,
        ] {
            for k in self.tree.scan_prefix([tag]).keys() {
                batch.remove(k?);
            }
        }
        for (k, v) in counts {
            batch.insert(k, &(v as u64).to_be_bytes()[..]);
        }
        batch.insert(keys::COUNT, &(total as u64).to_be_bytes()[..]);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Whether any record under `prefix` is confidential: what a wildcard
    /// from another State is answered by in place of the confidential
    /// records it may match, so that the answer does not depend on which
    /// serials they hold. Read from a counter, never from the records.
    pub fn holds_confidential(&self, prefix: &MarkingPrefix) -> Result<bool, RegistryError> {
        Ok(self.tree.contains_key(keys::confidential(prefix))?)
    }

    /// Removes every key starting with `tag`, in batches.
    fn remove_tagged(&self, tag: u8) -> Result<(), RegistryError> {
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in self.tree.scan_prefix([tag]).keys().take(4 * BATCH) {
                batch.remove(k?);
                n += 1;
            }
            if n == 0 {
                return Ok(());
            }
            self.tree.apply_batch(batch)?;
        }
    }

    /// Every record, in id order.
    ///
    /// An import running at the same time may split a bucket already read (its
    /// upper ids then come again under a new fence: they are skipped) or move a
    /// record to another marking (it is then looked up again by id).
    pub fn records(&self) -> impl Iterator<Item = Result<Record, RegistryError>> + '_ {
        let mut buckets = self.tree.scan_prefix([keys::IDS]);
        let mut pending: std::collections::VecDeque<(Vec<u8>, Vec<u8>)> = Default::default();
        let mut last: Option<Vec<u8>> = None;
        std::iter::from_fn(move || {
            loop {
                if let Some((id, key)) = pending.pop_front() {
                    if last.as_ref().is_some_and(|l| id <= *l) {
                        continue;
                    }
                    last = Some(id.clone());
                    let found = match self.tree.get(&key) {
                        Ok(Some(v)) => decode_kept(&key, &v).map(Some),
                        // Moved by a concurrent write: look it up by id.
                        Ok(None) => std::str::from_utf8(&id)
                            .ok()
                            .and_then(|s| RecordId::parse(s).ok())
                            .ok_or_else(|| corrupt_index(&key, "the bucket lists an invalid id"))
                            .and_then(|id| self.get(&id)),
                        Err(e) => Err(e.into()),
                    };
                    match found {
                        Ok(Some(rec)) => return Some(Ok(rec)),
                        Ok(None) => continue,
                        Err(e) => return Some(Err(e)),
                    }
                }
                let (bkey, bytes) = match buckets.next()? {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(e.into())),
                };
                for e in ids::iter(&bytes) {
                    match e {
                        Ok((id, loc)) => pending.push_back((id.to_vec(), keys::kept(loc, id))),
                        Err(e) => return Some(Err(corrupt_index(&bkey, e))),
                    }
                }
            }
        })
    }

    /// Writes every record as canonical JSON Lines, in id order. Returns the count.
    pub fn export(&self, out: &mut impl Write) -> Result<u64, RegistryError> {
        let mut n = 0;
        for rec in self.records() {
            serde_json::to_writer(&mut *out, &rec?).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        out.flush()?;
        Ok(n)
    }

    /// The marking prefixes held, with their record counts: one key per prefix.
    pub fn prefixes(&self) -> Result<Vec<(MarkingPrefix, u64)>, RegistryError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix([keys::PREFIX]) {
            let (k, v) = kv?;
            if k.len() < 4 {
                return Err(corrupt_index(&k, "prefix key too short"));
            }
            let text = format!(
                "{}/{}",
                String::from_utf8_lossy(&k[1..3]),
                String::from_utf8_lossy(&k[3..])
            );
            let p = text
                .parse::<MarkingPrefix>()
                .map_err(|e| RegistryError::Corrupt {
                    key: text.clone(),
                    reason: e.to_string(),
                })?;
            out.push((p, be_u64(&v)));
        }
        Ok(out)
    }

    /// [`Registry::prefixes`] and [`Registry::import_countries`] together.
    pub fn holdings(&self) -> Result<Holdings, RegistryError> {
        Ok(Holdings {
            prefixes: self
                .prefixes()?
                .into_iter()
                .map(|(p, records)| PrefixCount {
                    prefix: p.to_string(),
                    records,
                })
                .collect(),
            import_countries: self
                .import_countries()?
                .into_iter()
                .map(|(country, records)| ImportCount { country, records })
                .collect(),
            factory_codes: self
                .factory_codes()?
                .into_iter()
                .map(|(f, records)| FactoryCount {
                    country: f.country,
                    code: f.code,
                    records,
                })
                .collect(),
        })
    }

    /// The factory codes held, by country of manufacture, with their record
    /// counts (over every maker they are recorded under).
    pub fn factory_codes(&self) -> Result<Vec<(FactoryPrefix, u64)>, RegistryError> {
        let mut out: BTreeMap<FactoryPrefix, u64> = BTreeMap::new();
        for (fp, _, n) in self.factory_counts()? {
            *out.entry(fp).or_default() += n;
        }
        Ok(out.into_iter().collect())
    }

    /// The factory-code counters: each factory code held, the maker its
    /// records are kept under, and how many.
    pub(crate) fn factory_counts(
        &self,
    ) -> Result<Vec<(FactoryPrefix, MakerKey, u64)>, RegistryError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix([keys::FACTORY]) {
            let (k, v) = kv?;
            let bad = |why: &str| corrupt_index(&k, why);
            let rest = k.get(1..).ok_or_else(|| bad("too short"))?;
            let at = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| bad("no maker"))?;
            let text = std::str::from_utf8(&rest[..at]).map_err(|e| bad(&e.to_string()))?;
            let fp: FactoryPrefix = text
                .get(..2)
                .zip(text.get(2..))
                .map(|(cc, code)| format!("{cc}/{code}"))
                .ok_or_else(|| bad("too short"))?
                .parse()
                .map_err(|e: FactoryCodeError| bad(&e.to_string()))?;
            let maker = std::str::from_utf8(&rest[at + 1..])
                .ok()
                .and_then(MakerKey::from_folded)
                .ok_or_else(|| bad("not a maker key"))?;
            out.push((fp, maker, be_u64(&v)));
        }
        Ok(out)
    }

    /// The countries of import marks held, with their record counts.
    pub fn import_countries(&self) -> Result<Vec<(CountryCode, u64)>, RegistryError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix([keys::IMPORT]) {
            let (k, v) = kv?;
            let cc = CountryCode::parse(&String::from_utf8_lossy(&k[1..])).map_err(|e| {
                RegistryError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: e.to_string(),
                }
            })?;
            out.push((cc, be_u64(&v)));
        }
        Ok(out)
    }

    /// Counts by category and event kind, and what is past the ITI retention
    /// minimums on `today`. Reads every record.
    pub fn stats(&self, today: Date) -> Result<Stats, RegistryError> {
        let mut s = Stats {
            records: 0,
            confidential: 0,
            prefixes: self.prefixes()?.len() as u64,
            by_category: BTreeMap::new(),
            by_event_kind: BTreeMap::new(),
            past_retention_minimum: 0,
            events_past_retention_minimum: BTreeMap::new(),
            as_of: today,
        };
        // In marking order: statistics need no id order, and this reads each
        // record once, sequentially.
        for kv in self.tree.scan_prefix([keys::KEPT]) {
            let (k, v) = kv?;
            let rec = decode_kept(&k, &v)?;
            s.records += 1;
            s.confidential += rec.confidential as u64;
            *s.by_category.entry(rec.category).or_default() += 1;
            for e in &rec.events {
                *s.by_event_kind.entry(e.kind).or_default() += 1;
                if e.date.years_until(today) >= e.kind.retention_years() {
                    *s.events_past_retention_minimum.entry(e.kind).or_default() += 1;
                }
            }
            s.past_retention_minimum += rec.past_retention(today) as u64;
        }
        Ok(s)
    }
}

fn corrupt_index(key: &[u8], reason: impl std::fmt::Display) -> RegistryError {
    RegistryError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
    }
}

/// The record in a kept value.
fn decode_kept(key: &[u8], value: &[u8]) -> Result<Record, RegistryError> {
    let (_, stored) = split_kept(key, value)?;
    let id = keys::id_of_kept(key).unwrap_or("with an unreadable id");
    let corrupt = |reason| RegistryError::Corrupt {
        key: format!("record {id}"),
        reason,
    };
    let rec = stored::decode(stored).map_err(corrupt)?;
    if rec.id.as_str() != id {
        return Err(corrupt(format!(
            "the value holds record {} instead",
            rec.id
        )));
    }
    Ok(rec)
}

fn be_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[8 - n..].copy_from_slice(&v[v.len() - n..]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod find_tests;
#[cfg(test)]
pub(crate) mod tests;

/// Decodes `bytes` as each stored form of the registry (a kept value, a stored
/// record, an id bucket), for the fuzz targets: any bytes give a value or an
/// error, never a panic.
#[doc(hidden)]
pub fn fuzz_stored_forms(bytes: &[u8]) {
    let _ = decode_kept(b"k", bytes);
    let _ = stored::decode(bytes);
    let _ = ids::decode(bytes);
    let _ = ids::find(bytes, b"DE-00000001");
}
