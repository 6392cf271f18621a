//! Removing records: by id (`registry remove`), and every record a file does
//! not hold (`import --replace`). Each batch removes records, their id-bucket
//! entries, their variant keys and their part of the counters atomically, as
//! `put_all` writes them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    BATCH, Counters, RecordId, Registry, RegistryError, corrupt_index, decode_kept, ids, keys,
    split_kept,
};

impl Registry {
    /// Removes the records with these ids, all or none: if any id is not held,
    /// nothing is removed and the error names every such id. Returns how many
    /// were removed (an id given twice counts once).
    pub fn remove(&self, ids: &[RecordId]) -> Result<u64, RegistryError> {
        let _w = self.lock();
        let mut wanted: Vec<Vec<u8>> = ids.iter().map(|i| i.as_str().as_bytes().to_vec()).collect();
        wanted.sort();
        wanted.dedup();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| matches!(self.get(id), Ok(None)))
            .map(|id| id.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(RegistryError::NoSuchRecords(missing));
        }
        let mut counters = Counters::default();
        let mut removed = 0;
        for chunk in wanted.chunks(BATCH) {
            let (batch, n) = self.plan_removal(chunk, &mut counters)?;
            self.tree.apply_batch(batch)?;
            removed += n;
        }
        self.flush()?;
        Ok(removed)
    }

    /// Removes every record whose id `keep` refuses, a batch at a time in id
    /// order; stops between batches once `stop` is set. Returns how many were
    /// removed. (`import --replace` keeps the ids of its file.)
    pub fn remove_unless(
        &self,
        keep: &dyn Fn(&str) -> bool,
        stop: Option<&AtomicBool>,
    ) -> Result<u64, RegistryError> {
        let _w = self.lock();
        let mut counters = Counters::default();
        let mut removed = 0;
        // The last id looked at: each round scans on from its bucket, as the
        // buckets behind it change with the removals.
        let mut after: Option<Vec<u8>> = None;
        loop {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                break;
            }
            let start = match &after {
                Some(id) => self.bucket_of(id)?.map(|(f, _)| keys::ids(&f)),
                None => None,
            }
            .unwrap_or_else(|| vec![keys::IDS]);
            let mut doomed = Vec::new();
            let mut full = false;
            'scan: for kv in self.tree.range(start..) {
                let (bkey, bytes) = kv?;
                if bkey.first() != Some(&keys::IDS) {
                    break;
                }
                for e in ids::iter(&bytes) {
                    let (id, _) = e.map_err(|e| corrupt_index(&bkey, e))?;
                    if after.as_deref().is_some_and(|a| id <= a) {
                        continue;
                    }
                    after = Some(id.to_vec());
                    if !std::str::from_utf8(id).is_ok_and(keep) {
                        doomed.push(id.to_vec());
                        if doomed.len() >= BATCH {
                            full = true;
                            break 'scan;
                        }
                    }
                }
            }
            if !doomed.is_empty() {
                let (batch, n) = self.plan_removal(&doomed, &mut counters)?;
                self.tree.apply_batch(batch)?;
                removed += n;
            }
            if !full {
                break;
            }
        }
        Ok(removed)
    }

    /// The batch that removes the records of `ids` (sorted), their bucket
    /// entries and their part of the counters; with how many it removes.
    fn plan_removal(
        &self,
        ids: &[Vec<u8>],
        counters: &mut Counters,
    ) -> Result<(sled::Batch, u64), RegistryError> {
        let mut batch = sled::Batch::default();
        let mut loaded = BTreeMap::new();
        let mut n = 0;
        for id in ids {
            let fence = self.load_bucket(id, &mut loaded)?;
            let bucket = loaded.get_mut(&fence).expect("loaded");
            let Some(loc) = bucket.entries.remove(id.as_slice()) else {
                continue;
            };
            bucket.dirty = true;
            let key = keys::kept(&loc, id);
            if let Some(v) = self.tree.get(&key)? {
                let rec = decode_kept(&key, &v)?;
                let (prefix, _, _) = self.location(&rec);
                self.count(&rec, &prefix, -1, counters)?;
                counters.add(&self.tree, keys::COUNT, -1)?;
                let (normalised, _) = split_kept(&key, &v)?;
                for (k, _) in keys::variants(&loc, normalised, id) {
                    batch.remove(k);
                }
                batch.remove(key);
                n += 1;
            }
        }
        for (fence, b) in loaded {
            if !b.dirty {
                continue;
            }
            // An emptied bucket goes, but for the first (its fence is empty):
            // the bucket before it then covers its range, which holds no id.
            if b.entries.is_empty() && !fence.is_empty() {
                batch.remove(keys::ids(&fence));
                continue;
            }
            for (new_fence, bytes) in ids::encode_split(&b.entries) {
                batch.insert(keys::ids(new_fence.as_deref().unwrap_or(&fence)), bytes);
            }
        }
        counters.write(&mut batch);
        Ok((batch, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marking::MakerTable;

    fn record(id: &str, maker: &str, cc: &str, serial: &str, import: &str) -> super::super::Record {
        serde_json::from_str(&format!(
            r#"{{"id":"{id}","marking":{{"manufacturer":"{maker}","country":"{cc}","serial":"{serial}",
                "imports":[{{"country":"{import}","year":2009}}]}},"category":"pistol"}}"#
        ))
        .unwrap()
    }

    fn registry() -> (tempfile::TempDir, Registry) {
        let d = tempfile::tempdir().unwrap();
        let db = sled::open(d.path().join("db")).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        (d, reg)
    }

    /// What the counters say.
    struct Counted {
        len: u64,
        prefixes: Vec<(String, u64)>,
        imports: Vec<(String, u64)>,
    }

    /// What the counters say, and how many records a full read finds.
    fn counted_and_found(reg: &Registry) -> (Counted, usize) {
        let counted = Counted {
            len: reg.len().unwrap(),
            prefixes: reg
                .prefixes()
                .unwrap()
                .into_iter()
                .map(|(p, n)| (p.to_string(), n))
                .collect(),
            imports: reg
                .import_countries()
                .unwrap()
                .into_iter()
                .map(|(c, n)| (c.to_string(), n))
                .collect(),
        };
        let found = reg.records().inspect(|r| assert!(r.is_ok())).count();
        (counted, found)
    }

    #[test]
    fn removals_across_buckets_keep_records_buckets_and_counters_agreed() {
        let (_d, reg) = registry();
        let recs: Vec<_> = (0..1_000)
            .map(|i| {
                let (maker, cc, import) = if i % 2 == 0 {
                    ("Glock", "AT", "NG")
                } else {
                    ("Walther", "DE", "KE")
                };
                record(&format!("B{i:05}"), maker, cc, &format!("S{i:05}"), import)
            })
            .collect();
        reg.put_all(recs).unwrap();
        // All or none: one unknown id removes nothing.
        let ids = |r: std::ops::Range<usize>| -> Vec<RecordId> {
            r.map(|i| RecordId::parse(&format!("B{i:05}")).unwrap())
                .collect()
        };
        let mut some = ids(0..3);
        some.push(RecordId::parse("NOPE").unwrap());
        assert!(matches!(reg.remove(&some), Err(RegistryError::NoSuchRecords(m)) if m == ["NOPE"]));
        assert_eq!(reg.len().unwrap(), 1_000);
        // A whole bucket's worth and more, from the first bucket on.
        assert_eq!(reg.remove(&ids(0..200)).unwrap(), 200);
        assert!(
            reg.get(&RecordId::parse("B00000").unwrap())
                .unwrap()
                .is_none()
        );
        assert!(
            reg.get(&RecordId::parse("B00200").unwrap())
                .unwrap()
                .is_some()
        );
        // Every odd id (all of DE's Walthers, with their KE import marks).
        let removed = reg
            .remove_unless(&|id| id[1..].parse::<u32>().unwrap() % 2 == 0, None)
            .unwrap();
        assert_eq!(removed, 400);
        let (c, found) = counted_and_found(&reg);
        assert_eq!((c.len, found), (400, 400));
        assert_eq!(c.prefixes, [("AT/GLOCK".to_string(), 400)]);
        assert_eq!(c.imports, [("NG".to_string(), 400)]);
        // Everything: the registry is empty, and takes records again.
        assert_eq!(reg.remove_unless(&|_| false, None).unwrap(), 400);
        let (c, found) = counted_and_found(&reg);
        assert_eq!(
            (c.len, found, c.prefixes.len(), c.imports.len()),
            (0, 0, 0, 0)
        );
        let back = record("B00007", "Walther", "DE", "S7", "KE");
        assert_eq!(reg.put_all(vec![back]).unwrap(), (1, 0, 0));
        assert_eq!(counted_and_found(&reg).1, 1);
        // A set stop flag removes nothing more.
        let stop = AtomicBool::new(true);
        assert_eq!(reg.remove_unless(&|_| false, Some(&stop)).unwrap(), 0);
    }
}
