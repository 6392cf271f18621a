//! Group commit: many threads that each need their writes on disk share one
//! fsync instead of queueing one each. A caller's writes are covered by any
//! flush that starts after it asked.

use std::sync::{Condvar, Mutex};

#[derive(Default)]
struct State {
    requested: u64,
    done: u64,
    running: bool,
}

#[derive(Default)]
pub struct GroupFlush {
    state: Mutex<State>,
    cv: Condvar,
}

impl GroupFlush {
    /// Returns once everything this thread wrote before the call is on disk.
    pub fn flush(&self, db: &sled::Db) -> Result<(), sled::Error> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        g.requested += 1;
        let mine = g.requested;
        loop {
            if g.done >= mine {
                return Ok(());
            }
            if g.running {
                g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // This flush covers every request made up to now.
            g.running = true;
            let target = g.requested;
            drop(g);
            let result = db.flush().map(|_| ());
            g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            g.running = false;
            if result.is_ok() {
                g.done = g.done.max(target);
            }
            self.cv.notify_all();
            result?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_writers_all_get_their_writes_flushed() {
        let d = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(d.path()).open().unwrap();
        let g = Arc::new(GroupFlush::default());
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let (db, g) = (db.clone(), g.clone());
                std::thread::spawn(move || {
                    db.insert(i.to_be_bytes(), &b"x"[..]).unwrap();
                    g.flush(&db).unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = g.state.lock().unwrap();
        assert_eq!(s.requested, 8);
        assert!(s.done >= 8 && !s.running);
    }
}
