//! Work that must not run twice at once for the same key: a blind probe of
//! one holder for one trace (each evaluation spends the holder's budget), a
//! store-and-forward delivery to one peer.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// The keys whose work is running now.
#[derive(Debug)]
pub struct InFlight<K: Eq + Hash + Clone> {
    running: Arc<Mutex<HashSet<K>>>,
}

impl<K: Eq + Hash + Clone> Default for InFlight<K> {
    fn default() -> Self {
        InFlight {
            running: Arc::default(),
        }
    }
}

/// Held while the work for its key runs; dropping it (the work ended, or its
/// task was cancelled) frees the key.
#[must_use]
pub struct Running<K: Eq + Hash + Clone> {
    key: K,
    running: Arc<Mutex<HashSet<K>>>,
}

impl<K: Eq + Hash + Clone> InFlight<K> {
    /// Starts the work for `key`, unless it is running already (`None`).
    pub fn start(&self, key: K) -> Option<Running<K>> {
        let mut r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        r.insert(key.clone()).then(|| Running {
            key,
            running: self.running.clone(),
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for Running<K> {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_runs_once_at_a_time() {
        let f: InFlight<(String, u8)> = InFlight::default();
        let first = f.start(("t1".into(), 1)).expect("free");
        assert!(f.start(("t1".into(), 1)).is_none(), "running already");
        let other = f.start(("t1".into(), 2)).expect("another holder");
        drop(first);
        assert!(f.start(("t1".into(), 1)).is_some(), "free again once done");
        drop(other);
    }
}
