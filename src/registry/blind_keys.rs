//! The serial keys a prefix holds, for a blind trace's keyed filter
//! (proto-docs/BLIND.md): each record's folded serial and variant keys, read
//! from the keys of the `k` and `v` ranges without decoding a record.

use std::collections::BTreeSet;

use super::{Registry, RegistryError, corrupt_index, keys};
use crate::marking::MarkingPrefix;

impl Registry {
    /// Every serial key held under `p` (folded serials and variant keys),
    /// each once, in order.
    pub fn serial_keys_under(&self, p: &MarkingPrefix) -> Result<BTreeSet<String>, RegistryError> {
        // Not while records move to a new maker table's locations.
        let _steady = self.moving.read().unwrap_or_else(|e| e.into_inner());
        let head = keys::head(p);
        let mut out = BTreeSet::new();
        for kind in [keys::KEPT, keys::VARIANT] {
            let start = [&[kind][..], &head].concat();
            for kv in self.tree.scan_prefix(&start) {
                let (k, _) = kv?;
                let rest = &k[start.len()..];
                let end = rest
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| corrupt_index(&k, "no end to the serial key"))?;
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
