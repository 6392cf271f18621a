//! The serial keys a prefix holds, for a blind trace's keyed filter
//! (proto-docs/BLIND.md): each record's folded serial and variant keys, read
//! from the keys of the `k` and `v` ranges without decoding a record.

use std::collections::{BTreeSet, HashSet};

use super::{Registry, RegistryError, corrupt_index, decode_kept, keys, split_kept};
use crate::marking::MarkingPrefix;

impl Registry {
    /// Every serial key held under `p` (folded serials and variant keys),
    /// each once, in order. With `hide_confidential`
    /// (`Policy::hides_confidential`), only the keys of records that are not
    /// confidential: a key that only confidential records hold is left out,
    /// so that a filter served to other States does not tell that they
    /// exist. The confidential flag is read from each record's header (a
    /// record stored before format 3 is decoded, and left out if it cannot
    /// be).
    pub fn serial_keys_under(
        &self,
        p: &MarkingPrefix,
        hide_confidential: bool,
    ) -> Result<BTreeSet<String>, RegistryError> {
        // Not while records move to a new maker table's locations.
        let _steady = self.moving.read().unwrap_or_else(|e| e.into_inner());
        let head = keys::head(p);
        let mut out = BTreeSet::new();
        // The ids of the confidential records under `p`, whose variant keys
        // are left out too.
        let mut hidden: HashSet<Vec<u8>> = HashSet::new();
        for kind in [keys::KEPT, keys::VARIANT] {
            let start = [&[kind][..], &head].concat();
            for kv in self.tree.scan_prefix(&start) {
                let (k, v) = kv?;
                let rest = &k[start.len()..];
                let end = rest
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| corrupt_index(&k, "no end to the serial key"))?;
                if hide_confidential {
                    let id = &rest[end + 1..];
                    let confidential = if kind == keys::KEPT {
                        let (_, stored) = split_kept(&k, &v)?;
                        let c = match super::stored::header(stored).and_then(|h| h.confidential) {
                            Some(c) => c,
                            // One that does not decode may be confidential.
                            None => decode_kept(&k, &v).map_or_else(
                                |e| {
                                    tracing::warn!(error = %e, "a record that cannot be read is left out of the keyed filter, as if confidential");
                                    true
                                },
                                |r| r.confidential,
                            ),
                        };
                        if c {
                            hidden.insert(id.to_vec());
                        }
                        c
                    } else {
                        hidden.contains(id)
                    };
                    if confidential {
                        continue;
                    }
                }
                let key = std::str::from_utf8(&rest[..end])
                    .map_err(|e| corrupt_index(&k, e.to_string()))?;
                if !out.contains(key) {
                    out.insert(key.to_string());
                }
            }
        }
        Ok(out)
    }
}
