//! The national registry: records in sled, indexed by marking prefix and folded
//! serial, with import, export, fuzzy find and retention statistics.
//!
//! Everything lives in one sled tree so that a record, its index entry and the
//! prefix counts change in one atomic batch: a crash never leaves a record
//! without its index or a count that disagrees with the records.

pub mod import;
mod record;
pub mod synthetic;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use import::{ImportError, ImportFormat, ImportOptions, ImportSummary, Rejection};
pub use record::{Event, MAX_EVENTS, NationalText, Record, RecordId};

use crate::marking::{
    MakerError, MakerTable, MarkingPrefix, MatchQuality, SerialError, SerialQuery, fold_maker,
    fold_serial,
};
use crate::model::{CountryCode, Date, EventKind, WeaponCategory};

/// Key layout of the registry tree; the first byte says what a key is.
mod keys {
    use super::*;

    pub const RECORD: u8 = b'r';
    pub const INDEX: u8 = b'i';
    pub const PREFIX: u8 = b'p';
    pub const IMPORT: u8 = b'g';
    pub const COUNT: &[u8] = b"x:count";
    pub const MAKERS: &[u8] = b"x:makers";

    pub fn record(id: &RecordId) -> Vec<u8> {
        [&[RECORD], id.as_str().as_bytes()].concat()
    }

    pub fn prefix(p: &MarkingPrefix) -> Vec<u8> {
        let c = p.country.as_bytes();
        [&[PREFIX, c[0], c[1]], p.maker.as_str().as_bytes()].concat()
    }

    pub fn import(c: CountryCode) -> Vec<u8> {
        let c = c.as_bytes();
        vec![IMPORT, c[0], c[1]]
    }

    /// `i CC MAKER 0x00 FOLDED`: the start of every index key under a prefix
    /// whose folded serial begins with `folded`.
    pub fn index_scan(p: &MarkingPrefix, folded: &str) -> Vec<u8> {
        let c = p.country.as_bytes();
        [
            &[INDEX, c[0], c[1]],
            p.maker.as_str().as_bytes(),
            &[0],
            folded.as_bytes(),
        ]
        .concat()
    }

    /// `i CC MAKER 0x00 FOLDED 0x00 ID`. Makers, serials and ids never hold 0x00.
    pub fn index(p: &MarkingPrefix, folded: &str, id: &RecordId) -> Vec<u8> {
        [
            index_scan(p, folded).as_slice(),
            &[0],
            id.as_str().as_bytes(),
        ]
        .concat()
    }

    /// The record id at the end of an index key.
    pub fn id_of_index(key: &[u8]) -> Option<&str> {
        let at = key.iter().rposition(|b| *b == 0)?;
        std::str::from_utf8(&key[at + 1..]).ok()
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error(
        "the registry in {0} is in use by another process; stop it, or run the command against the running node"
    )]
    Locked(PathBuf),
    #[error("cannot open the registry in {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("registry storage: {0}")]
    Storage(#[from] sled::Error),
    #[error(
        "stored entry {key:?} is unreadable ({reason}); export what is readable and re-import it"
    )]
    Corrupt { key: String, reason: String },
    #[error("serial: {0}")]
    Serial(#[from] SerialError),
    #[error("manufacturer: {0}")]
    Maker(#[from] MakerError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// How the registry's sled database is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 128 * 1024 * 1024,
        }
    }
}

/// Opens (creating if needed) the node's sled database in `dir`.
pub fn open_db(dir: &Path, opts: &StoreOptions) -> Result<sled::Db, RegistryError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(opts.cache_bytes)
        .open()
        .map_err(|source| {
            if source.to_string().contains("could not acquire lock") {
                RegistryError::Locked(dir.to_path_buf())
            } else {
                RegistryError::Open {
                    path: dir.to_path_buf(),
                    source,
                }
            }
        })
}

/// A search of the registry by marking.
#[derive(Debug, Clone)]
pub struct FindQuery {
    pub maker: Option<String>,
    pub country: Option<CountryCode>,
    /// As read from the weapon; may hold `?` and `*`.
    pub serial: String,
    pub limit: usize,
}

/// One record that matched a find, with how and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub quality: MatchQuality,
    pub distance: u32,
    pub reasons: Vec<String>,
    pub record: Record,
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

/// The national registry over one sled tree.
pub struct Registry {
    db: sled::Db,
    tree: sled::Tree,
    makers: MakerTable,
}

/// How many records one atomic batch writes during an import.
const CHUNK: usize = 2048;

impl Registry {
    /// Opens the registry tree of `db`. If the maker table changed since the index
    /// was built, the index is rebuilt, since prefixes depend on it.
    pub fn open(db: &sled::Db, makers: MakerTable) -> Result<Self, RegistryError> {
        let tree = db.open_tree("registry")?;
        let reg = Registry {
            db: db.clone(),
            tree,
            makers,
        };
        let want = reg.makers.fingerprint().to_be_bytes();
        if reg.tree.get(keys::MAKERS)?.as_deref() != Some(&want[..]) {
            if reg.len()? > 0 {
                tracing::info!(
                    "maker table changed since the registry was indexed: rebuilding the index"
                );
                reg.reindex()?;
            }
            reg.tree.insert(keys::MAKERS, &want[..])?;
        }
        Ok(reg)
    }

    pub fn makers(&self) -> &MakerTable {
        &self.makers
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

    pub fn get(&self, id: &RecordId) -> Result<Option<Record>, RegistryError> {
        self.tree
            .get(keys::record(id))?
            .map(|v| decode_record(id.as_str(), &v))
            .transpose()
    }

    /// Writes records in atomic batches; a record that already exists under its id
    /// is replaced. Returns (added, updated, unchanged).
    pub fn put_all(&self, records: Vec<Record>) -> Result<(u64, u64, u64), RegistryError> {
        let mut totals = (0, 0, 0);
        for chunk in records.chunks(CHUNK) {
            let (a, u, n) = self.apply_chunk(chunk)?;
            totals = (totals.0 + a, totals.1 + u, totals.2 + n);
        }
        Ok(totals)
    }

    fn apply_chunk(&self, chunk: &[Record]) -> Result<(u64, u64, u64), RegistryError> {
        let mut batch = sled::Batch::default();
        let mut deltas: HashMap<Vec<u8>, i64> = HashMap::new();
        let stored = self.stored_versions(chunk)?;
        let mut written: HashMap<&RecordId, sled::IVec> = HashMap::new();
        let (mut added, mut updated, mut unchanged) = (0, 0, 0);
        for rec in chunk {
            let bytes = serde_json::to_vec(rec).map_err(|e| RegistryError::Corrupt {
                key: rec.id.to_string(),
                reason: e.to_string(),
            })?;
            let rkey = keys::record(&rec.id);
            let old = match (written.get(&rec.id), &stored) {
                (Some(b), _) => Some(b.clone()),
                (None, Some(stored)) => stored.get(&rkey).cloned(),
                (None, None) => self.tree.get(&rkey)?,
            };
            match old {
                Some(old) if old == bytes.as_slice() => {
                    unchanged += 1;
                    continue;
                }
                Some(old) => {
                    self.unindex(
                        &decode_record(rec.id.as_str(), &old)?,
                        &mut batch,
                        &mut deltas,
                    );
                    updated += 1;
                }
                None => {
                    *deltas.entry(keys::COUNT.to_vec()).or_default() += 1;
                    added += 1;
                }
            }
            self.index(rec, &mut batch, &mut deltas);
            let bytes = sled::IVec::from(bytes);
            batch.insert(rkey, bytes.clone());
            written.insert(&rec.id, bytes);
        }
        self.apply_deltas(&mut batch, deltas)?;
        self.tree.apply_batch(batch)?;
        Ok((added, updated, unchanged))
    }

    /// The stored versions of the chunk's records, by key, read in one range scan
    /// over the chunk's ids instead of one lookup per record: an import of new or
    /// re-sent records in id order finds nothing, or only its own ids, in that
    /// range. `None` when other records crowd the range; then each is looked up.
    fn stored_versions(
        &self,
        chunk: &[Record],
    ) -> Result<Option<HashMap<Vec<u8>, sled::IVec>>, RegistryError> {
        let mut ids = chunk.iter().map(|r| &r.id);
        let Some(first) = ids.next() else {
            return Ok(Some(HashMap::new()));
        };
        let (lo, hi) = ids.fold((first, first), |(lo, hi), id| (lo.min(id), hi.max(id)));
        let wanted: std::collections::HashSet<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
        let budget = 2 * chunk.len() + 16;
        let mut found = HashMap::new();
        for (seen, kv) in self
            .tree
            .range(keys::record(lo)..=keys::record(hi))
            .enumerate()
        {
            if seen >= budget {
                return Ok(None);
            }
            let (k, v) = kv?;
            if std::str::from_utf8(&k[1..]).is_ok_and(|id| wanted.contains(id)) {
                found.insert(k.to_vec(), v);
            }
        }
        Ok(Some(found))
    }

    /// Adds each counter's change to its stored value in the batch; a prefix whose
    /// count reaches zero disappears.
    fn apply_deltas(
        &self,
        batch: &mut sled::Batch,
        deltas: HashMap<Vec<u8>, i64>,
    ) -> Result<(), RegistryError> {
        for (key, delta) in deltas {
            if delta == 0 {
                continue;
            }
            let cur = self.tree.get(&key)?.map(|v| be_u64(&v)).unwrap_or(0) as i64;
            let new = cur.saturating_add(delta);
            if new <= 0 && key.as_slice() != keys::COUNT {
                batch.remove(key);
            } else {
                batch.insert(key, &(new.max(0) as u64).to_be_bytes()[..]);
            }
        }
        Ok(())
    }

    fn index_entries(&self, rec: &Record) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>, String) {
        let prefix = rec.marking.prefix(&self.makers);
        let normalised = rec.marking.normalised_serial();
        let folded = fold_serial(&normalised);
        let mut imports: Vec<CountryCode> =
            rec.marking.imports().iter().map(|m| m.country).collect();
        imports.sort();
        imports.dedup();
        (
            keys::index(&prefix, &folded, &rec.id),
            keys::prefix(&prefix),
            imports.into_iter().map(keys::import).collect(),
            normalised,
        )
    }

    fn index(&self, rec: &Record, batch: &mut sled::Batch, deltas: &mut HashMap<Vec<u8>, i64>) {
        let (ikey, pkey, gkeys, normalised) = self.index_entries(rec);
        batch.insert(ikey, normalised.as_bytes());
        *deltas.entry(pkey).or_default() += 1;
        for g in gkeys {
            *deltas.entry(g).or_default() += 1;
        }
    }

    fn unindex(&self, rec: &Record, batch: &mut sled::Batch, deltas: &mut HashMap<Vec<u8>, i64>) {
        let (ikey, pkey, gkeys, _) = self.index_entries(rec);
        batch.remove(ikey);
        *deltas.entry(pkey).or_default() -= 1;
        for g in gkeys {
            *deltas.entry(g).or_default() -= 1;
        }
    }

    /// Rebuilds the index and the counters from the records.
    pub fn reindex(&self) -> Result<(), RegistryError> {
        for tag in [keys::INDEX, keys::PREFIX, keys::IMPORT] {
            let mut batch = sled::Batch::default();
            for k in self.tree.scan_prefix([tag]).keys() {
                batch.remove(k?);
            }
            self.tree.apply_batch(batch)?;
        }
        self.tree.remove(keys::COUNT)?;
        let mut chunk = Vec::with_capacity(CHUNK);
        let flush_chunk = |chunk: &mut Vec<Record>| -> Result<(), RegistryError> {
            let mut batch = sled::Batch::default();
            let mut deltas = HashMap::new();
            for rec in chunk.drain(..) {
                self.index(&rec, &mut batch, &mut deltas);
                *deltas.entry(keys::COUNT.to_vec()).or_default() += 1;
            }
            self.apply_deltas(&mut batch, deltas)?;
            self.tree.apply_batch(batch)?;
            Ok(())
        };
        for rec in self.records() {
            chunk.push(rec?);
            if chunk.len() == CHUNK {
                flush_chunk(&mut chunk)?;
            }
        }
        flush_chunk(&mut chunk)
    }

    /// Every record, in id order.
    pub fn records(&self) -> impl Iterator<Item = Result<Record, RegistryError>> + '_ {
        self.tree.scan_prefix([keys::RECORD]).map(|kv| {
            let (k, v) = kv?;
            decode_record(&String::from_utf8_lossy(&k[1..]), &v)
        })
    }

    /// Writes every record as canonical JSON Lines, in id order. Returns the count.
    pub fn export(&self, out: &mut impl Write) -> Result<u64, RegistryError> {
        let mut n = 0;
        // The stored bytes are the canonical encoding already: written as they are.
        for kv in self.tree.scan_prefix([keys::RECORD]) {
            let (_, v) = kv?;
            out.write_all(&v)?;
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

    /// Finds records by marking, best first. An exact or folded serial is a
    /// bounded index read; a serial with wildcards scans only the part of its
    /// prefix that shares the literal characters before the first wildcard.
    pub fn find(&self, q: &FindQuery) -> Result<Vec<Candidate>, RegistryError> {
        let serial = SerialQuery::parse(&q.serial)?;
        let maker = q.maker.as_deref().map(|m| self.makers.key(m)).transpose()?;
        let prefixes: Vec<MarkingPrefix> = match (&maker, q.country) {
            (Some(m), Some(c)) => vec![MarkingPrefix {
                country: c,
                maker: m.clone(),
            }],
            _ => self
                .prefixes()?
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| maker.as_ref().is_none_or(|m| p.maker == *m))
                .filter(|p| q.country.is_none_or(|c| p.country == c))
                .collect(),
        };
        let mut hits = Vec::new();
        for p in &prefixes {
            self.scan_prefix_for(p, &serial, &mut hits)?;
        }
        hits.sort_by(|a, b| {
            (a.1.quality, a.1.distance, &a.0).cmp(&(b.1.quality, b.1.distance, &b.0))
        });
        hits.truncate(q.limit);
        let mut out = Vec::with_capacity(hits.len());
        for (id, m) in hits {
            let Some(record) = self.get(&id)? else {
                continue;
            };
            let mut reasons = m.reasons;
            if let Some(raw) = &q.maker
                && fold_maker(raw) != fold_maker(record.marking.manufacturer())
            {
                reasons.insert(
                    0,
                    format!(
                        "manufacturer {raw:?} and {:?} are one maker",
                        record.marking.manufacturer()
                    ),
                );
            }
            out.push(Candidate {
                quality: m.quality,
                distance: m.distance,
                reasons,
                record,
            });
        }
        Ok(out)
    }

    fn scan_prefix_for(
        &self,
        p: &MarkingPrefix,
        serial: &SerialQuery,
        hits: &mut Vec<(RecordId, crate::marking::SerialMatch)>,
    ) -> Result<(), RegistryError> {
        let mut start = keys::index_scan(p, &serial.folded_prefix());
        if !serial.has_wildcards() {
            start.push(0);
        }
        for kv in self.tree.scan_prefix(&start) {
            let (k, v) = kv?;
            let normalised = std::str::from_utf8(&v).map_err(|e| corrupt_index(&k, e))?;
            if let Some(m) = serial.matches(normalised) {
                let id = keys::id_of_index(&k)
                    .and_then(|s| RecordId::parse(s).ok())
                    .ok_or_else(|| corrupt_index(&k, "no record id"))?;
                hits.push((id, m));
            }
        }
        Ok(())
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
        for rec in self.records() {
            let rec = rec?;
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

fn decode_record(id: &str, bytes: &[u8]) -> Result<Record, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
        key: format!("record {id}"),
        reason: e.to_string(),
    })
}

fn be_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[8 - n..].copy_from_slice(&v[v.len() - n..]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests;
