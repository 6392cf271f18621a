//! The node's sled database: the one place it is opened, and how a store left
//! unreadable by a crash is brought back. The registry, traces, inbox and audit
//! each keep their own trees in the database opened here; they receive a
//! `&sled::Db` and never open one themselves. Group commit (`flush`) shares
//! one fsync among the writers that need their writes on disk at once.

mod flush;

use std::path::{Path, PathBuf};

pub use flush::GroupFlush;

/// How the node's sled database is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "the store in {0} is in use by another process; stop it, or run the command against the running node"
    )]
    Locked(PathBuf),
    #[error(
        "cannot open the store in {path}: {source}{}; stop every tracenet using it and restore {path} from a backup of the data directory (without one, move {path} away and re-import the registry with `tracenet registry import`: the traces and audit it held are then lost)",
        set_aside_note(.set_aside)
    )]
    Damaged {
        path: PathBuf,
        source: sled::Error,
        /// Unfinished snapshots moved out before the last attempt.
        set_aside: Vec<PathBuf>,
    },
    #[error("cannot open the store in {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error(
        "the store in {dir} holds an unfinished snapshot that stops it opening, and it cannot be moved to {to}: {source}; move it out of {dir} by hand"
    )]
    SetAside {
        dir: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
}

fn set_aside_note(moved: &[PathBuf]) -> String {
    if moved.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = moved.iter().map(|p| p.display().to_string()).collect();
        format!(
            " (even after moving the unfinished snapshot to {})",
            list.join(", ")
        )
    }
}

/// Opens (creating if needed) the node's sled database in `dir`.
///
/// sled 0.34.7 writes a snapshot as `snap.<LSN>.generating` and renames it
/// when complete. A crash between the two leaves a file that sled, which reads
/// every `snap.*` in the directory and trusts the last in name order, takes for
/// the newest snapshot; if it is incomplete its checksum fails and the store
/// never opens again. Such a file never was a snapshot sled meant to use (the
/// previous snapshot and the log still hold everything), so when an open fails
/// it is moved out of the directory and the open tried once more.
///
/// Unfinished snapshots are only touched after an open failed for another
/// reason than the lock: a running node may be writing one at this moment.
pub fn open_db(dir: &Path, opts: &StoreOptions) -> Result<sled::Db, StoreError> {
    let first = match open(dir, opts) {
        Ok(db) => return Ok(db),
        Err(e) => classify(dir, e)?,
    };
    let moved = set_aside_unfinished_snapshots(dir)?;
    if moved.is_empty() {
        return Err(damaged(dir, first, moved));
    }
    for m in &moved {
        tracing::warn!(
            store = %dir.display(),
            moved_to = %m.display(),
            "the store held an unfinished snapshot left by a crash; moved it aside and opened the store without it"
        );
    }
    match open(dir, opts) {
        Ok(db) => Ok(db),
        Err(e) => Err(damaged(dir, classify(dir, e)?, moved)),
    }
}

fn open(dir: &Path, opts: &StoreOptions) -> Result<sled::Db, sled::Error> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(opts.cache_bytes)
        .open()
}

/// Returns the error back unless it is the lock held by another process.
fn classify(dir: &Path, e: sled::Error) -> Result<sled::Error, StoreError> {
    // sled reports the lock only through its I/O error's text.
    if e.to_string().contains("could not acquire lock") {
        Err(StoreError::Locked(dir.to_path_buf()))
    } else {
        Ok(e)
    }
}

fn damaged(dir: &Path, source: sled::Error, set_aside: Vec<PathBuf>) -> StoreError {
    match source {
        sled::Error::Corruption { .. } => StoreError::Damaged {
            path: dir.to_path_buf(),
            source,
            set_aside,
        },
        // Anything else (permissions, a full disk) is not damage to the data.
        source => StoreError::Open {
            path: dir.to_path_buf(),
            source,
        },
    }
}

/// Where unfinished snapshots of `dir` are moved: a sibling directory, since
/// sled would read any `snap.*` file left inside `dir`.
pub fn set_aside_dir(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into());
    dir.with_file_name(format!("{name}-recovered"))
}

/// Moves every `snap.*.generating` file out of `dir`; returns where each went.
fn set_aside_unfinished_snapshots(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // Nothing to set aside; the open error stands.
        Err(_) => return Ok(Vec::new()),
    };
    let unfinished: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"))
        })
        .collect();
    if unfinished.is_empty() {
        return Ok(Vec::new());
    }
    let to_dir = set_aside_dir(dir);
    let fail = |to: &Path, source| StoreError::SetAside {
        dir: dir.to_path_buf(),
        to: to.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(&to_dir).map_err(|e| fail(&to_dir, e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut moved = Vec::new();
    for from in unfinished {
        let name = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The time keeps a second crash's file from replacing the first.
        let to = to_dir.join(format!("{name}.{now}"));
        std::fs::rename(&from, &to).map_err(|e| fail(&to, e))?;
        moved.push(to);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests;
