//! The marking prefixes that hold variant keys (`v`), kept in memory so that
//! a lookup reads the variant range only where one can be found: most
//! prefixes hold only ASCII serials without letters between digits, and a
//! read of an empty sled range costs as much as the exact lookup itself.

use std::collections::HashSet;
use std::sync::RwLock;

/// The heads (`CC MAKER 0x00`) under which a variant key was ever written.
/// A head is added before its batch is applied and never removed, so a
/// reader never misses a variant key (at worst it reads an empty range).
pub(super) struct VariantHeads(RwLock<HashSet<Vec<u8>>>);

impl VariantHeads {
    pub(super) fn new() -> Self {
        VariantHeads(RwLock::new(HashSet::new()))
    }

    pub(super) fn insert(&self, head: &[u8]) {
        if self.contains(head) {
            return;
        }
        // A poisoned lock only means a writer panicked between two inserts.
        let mut set = self.0.write().unwrap_or_else(|e| e.into_inner());
        set.insert(head.to_vec());
    }

    pub(super) fn contains(&self, head: &[u8]) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(head)
    }
}
