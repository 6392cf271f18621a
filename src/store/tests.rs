use super::*;

/// sled's I/O threads may hold the file lock for a moment after a `Db` in this
/// process is dropped; an open in the same process waits for it (up to 5 s).
fn open_when_free(dir: &Path) -> Result<sled::Db, StoreError> {
    let start = std::time::Instant::now();
    loop {
        match open_db(dir, &StoreOptions::default()) {
            Err(StoreError::Locked(_)) if start.elapsed().as_secs() < 5 => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            r => return r,
        }
    }
}

fn reopen(dir: &Path) -> sled::Db {
    open_when_free(dir).unwrap()
}

/// sled's own open, waiting out the same lock.
fn plain_sled_open(dir: &Path) -> sled::Result<sled::Db> {
    let start = std::time::Instant::now();
    loop {
        match sled::Config::new().path(dir).open() {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed().as_secs() < 5 =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            r => return r,
        }
    }
}

/// A store with one key written, flushed and closed, then opened and closed
/// again as a restarted node leaves it. sled 0.34.7 writes its snapshot while
/// opening (when the log has moved past the last one), so the reopening leaves
/// a complete `snap.<LSN>` behind, and it is at start-up that a crash can tear
/// one.
fn closed_store() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let db = open_db(&dir, &StoreOptions::default()).unwrap();
    db.open_tree("traces")
        .unwrap()
        .insert(b"t1", b"kept across the crash")
        .unwrap();
    db.flush().unwrap();
    drop(db);
    drop(reopen(&dir));
    assert!(!snapshots(&dir).is_empty(), "sled took no snapshot");
    (root, dir)
}

fn snapshots(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// What sled 0.34.7's `write_snapshot` leaves when the process dies after
/// writing part of `snap.<LSN>.generating` and before renaming it: a file
/// named for a later LSN than any complete snapshot, holding the first bytes
/// of a snapshot and no checksum trailer.
fn plant_unfinished_snapshot(dir: &Path) -> PathBuf {
    let (name, body) = snapshots(dir).pop().unwrap();
    let lsn = u64::from_str_radix(name.trim_start_matches("snap."), 16).unwrap();
    let path = dir.join(format!("snap.{:016X}.generating", lsn + 4096));
    std::fs::write(&path, &body[..body.len() / 2 + 13]).unwrap();
    path
}

fn read_back(db: &sled::Db) -> Option<Vec<u8>> {
    db.open_tree("traces")
        .unwrap()
        .get(b"t1")
        .unwrap()
        .map(|v| v.to_vec())
}

#[test]
fn an_unfinished_snapshot_left_by_a_crash_is_set_aside_and_the_store_opens() {
    let (_root, dir) = closed_store();
    let planted = plant_unfinished_snapshot(&dir);

    // sled itself takes the file for the newest snapshot and refuses to open.
    let plain = plain_sled_open(&dir);
    assert!(
        matches!(plain, Err(sled::Error::Corruption { .. })),
        "sled opened a store with a torn snapshot: {:?}",
        plain.map(|_| ())
    );

    let db = reopen(&dir);
    assert_eq!(
        read_back(&db).as_deref(),
        Some(&b"kept across the crash"[..])
    );
    assert!(!planted.exists());
    let recovered: Vec<_> = std::fs::read_dir(set_aside_dir(&dir))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(
        recovered[0].starts_with(planted.file_name().unwrap().to_str().unwrap()),
        "{recovered:?}"
    );

    // And the store keeps working: written, closed and opened again.
    db.open_tree("traces").unwrap().insert(b"t2", b"x").unwrap();
    db.flush().unwrap();
    drop(db);
    let db = reopen(&dir);
    assert_eq!(
        read_back(&db).as_deref(),
        Some(&b"kept across the crash"[..])
    );
}

#[test]
fn a_store_in_use_is_reported_locked_and_its_files_left_alone() {
    let (_root, dir) = closed_store();
    let running = reopen(&dir);
    // A running node may be between writing and renaming a snapshot right now.
    let in_progress = plant_unfinished_snapshot(&dir);
    let e = open_db(&dir, &StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::Locked(_)), "{e}");
    assert!(in_progress.exists(), "a running node's snapshot was moved");
    drop(running);
}

#[test]
fn damage_that_remains_names_the_store_and_what_to_do() {
    let (_root, dir) = closed_store();
    // A complete-looking snapshot whose checksum fails: not ours to discard.
    let torn = dir.join(format!("snap.{:016X}", u64::MAX / 2));
    std::fs::write(&torn, [1u8; 40]).unwrap();
    let e = open_when_free(&dir).unwrap_err();
    let said = e.to_string();
    assert!(matches!(e, StoreError::Damaged { .. }), "{said}");
    assert!(said.contains(&dir.display().to_string()), "{said}");
    assert!(said.contains("backup"), "{said}");
    assert!(torn.exists());
}
