//! Every roster version a node has installed, kept so that an answer is judged
//! by the roster that was in force when it was received, not by today's: a
//! State removed in version 3 still signed its answers of version 2's time.
//!
//! On disk: `DATA_DIR/rosters/v<version, 20 digits>.json`, one file per version,
//! each the roster file exactly as installed together with when it was
//! installed and the trust anchors that accepted it. `DATA_DIR/roster.json`
//! stays the held (current) roster; a data directory from before the history
//! gets its held roster as the first entry the first time it is opened.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::{HELD_FILE, Roster, RosterError, RosterFile, TrustConfig};
use crate::model::CountryCode;
use crate::protocol::PublicKey;

/// The history's folder inside a data directory.
pub const HISTORY_DIR: &str = "rosters";
/// The `format` field of a history entry.
pub const ENTRY_FORMAT: &str = "tracenet-roster-history/1";

/// One installed version as stored in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub format: String,
    pub version: u64,
    /// Unix seconds at which this node installed it (for an entry migrated
    /// from a data directory without history: when `roster.json` was written).
    pub installed_at: u64,
    /// The anchors and threshold the node trusted when it accepted the roster,
    /// so that a later change of anchors does not unmake past evidence.
    pub trust: TrustConfig,
    pub roster: RosterFile,
}

/// A version from the history, verified.
#[derive(Debug, Clone)]
pub struct Installed {
    pub roster: Roster,
    pub installed_at: u64,
}

/// The history of one data directory. Loaded versions are cached: a version
/// never changes once installed, so judging many answers reads each file once.
#[derive(Debug)]
pub struct RosterHistory {
    dir: PathBuf,
    trust: TrustConfig,
    cache: Mutex<BTreeMap<u64, Arc<Installed>>>,
    /// The versions in the folder, read once: only [`RosterHistory::record`]
    /// and [`RosterHistory::forget`] change it in this process (and no other
    /// process writes it while a node runs), so judging an answer under an
    /// older roster lists no directory.
    versions: Mutex<Option<Vec<u64>>>,
}

fn history_err(path: &Path, problem: impl Into<String>) -> RosterError {
    RosterError::History {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn entry_name(version: u64) -> String {
    format!("v{version:020}.json")
}

fn version_of_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('v')?.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one:
/// a temporary file beside it, flushed to disk, renamed over it, and the
/// folder flushed so that the rename itself survives.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RosterError> {
    let write_err = |source| RosterError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Never renamed over a device or a FIFO (it would replace the node),
    // and a folder missing is said so, not as the temporary file's name.
    crate::model::target::file_target(path, "")
        .map_err(|e| write_err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    if !dir.is_dir() {
        return Err(write_err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the folder {} does not exist", dir.display()),
        )));
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    // Rosters and maker tables are public documents, read by other users
    // and containers: a replaced file keeps its permissions, a new one is
    // readable by all (the temporary file is made for its owner alone).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let perms = std::fs::metadata(path)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        tmp.as_file().set_permissions(perms).map_err(write_err)?;
    }
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    // Opening a folder to flush it works on Unix; elsewhere the rename is
    // as durable as the platform makes it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl RosterHistory {
    /// The history of `data_dir`, shared by everyone in this process who asks
    /// for the same folder, so that an install is seen at once by the readers.
    /// Records the held roster first if it is missing (see the module doc).
    pub fn shared(data_dir: &Path, trust: &TrustConfig) -> Result<Arc<Self>, RosterError> {
        // Keyed by the folder's canonical path, and also by the path as
        // asked, so that the node's own calls (one or more per answer and per
        // view, always with the same path) cost no path resolution.
        static ALL: OnceLock<Mutex<HashMap<PathBuf, Arc<RosterHistory>>>> = OnceLock::new();
        let mut all = ALL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(h) = all.get(data_dir) {
            return Ok(h.clone());
        }
        let key = data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf());
        let h = match all.get(&key) {
            Some(h) => h.clone(),
            None => {
                let h = Arc::new(Self::open(data_dir, trust)?);
                all.insert(key, h.clone());
                h
            }
        };
        all.insert(data_dir.to_path_buf(), h.clone());
        Ok(h)
    }

    /// Opens the history of `data_dir` (not shared; see [`RosterHistory::shared`]).
    pub fn open(data_dir: &Path, trust: &TrustConfig) -> Result<Self, RosterError> {
        let h = RosterHistory {
            dir: data_dir.join(HISTORY_DIR),
            trust: trust.clone(),
            cache: Mutex::new(BTreeMap::new()),
            versions: Mutex::new(None),
        };
        h.adopt_held(&data_dir.join(HELD_FILE))?;
        Ok(h)
    }

    /// The folder holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes sure the held roster is in the history: a data directory from
    /// before the history, or a crash between writing `roster.json` and its
    /// history entry, leaves it out. A held roster that does not verify is
    /// left out: it vouches for nothing.
    fn adopt_held(&self, held: &Path) -> Result<(), RosterError> {
        if !held.exists() {
            return Ok(());
        }
        // A damaged held file is not adopted: the history and the highest
        // version seen still stand, and installing a newer roster repairs it.
        let Ok(file) = RosterFile::read(held) else {
            tracing::warn!(file = %held.display(), "the held roster is damaged; install the current roster again");
            return Ok(());
        };
        let Ok(body) = file.decode_unverified() else {
            return Ok(());
        };
        if self.entry_path(body.version).exists() {
            return Ok(());
        }
        let installed_at = std::fs::metadata(held)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or_else(unix_now);
        // Dates were checked when it was installed; only its signatures here.
        match file.verify(&self.trust, body.valid_from) {
            Ok(roster) => self.record(&roster, &self.trust, installed_at),
            Err(_) => Ok(()),
        }
    }

    fn entry_path(&self, version: u64) -> PathBuf {
        self.dir.join(entry_name(version))
    }

    /// Adds a roster accepted under `trust` to the history (replacing an entry
    /// of the same version, which only an interrupted install can leave).
    pub fn record(
        &self,
        roster: &Roster,
        trust: &TrustConfig,
        installed_at: u64,
    ) -> Result<(), RosterError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| RosterError::Write {
            path: self.dir.clone(),
            source,
        })?;
        let entry = HistoryEntry {
            format: ENTRY_FORMAT.into(),
            version: roster.version(),
            installed_at,
            trust: trust.clone(),
            roster: roster.file().clone(),
        };
        // Serialising strings, numbers and keys cannot fail.
        let mut bytes = serde_json::to_vec_pretty(&entry).unwrap_or_default();
        bytes.push(b'\n');
        let written = write_atomically(&self.entry_path(roster.version()), &bytes);
        *self.versions.lock().unwrap_or_else(|p| p.into_inner()) = None;
        written?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            roster.version(),
            Arc::new(Installed {
                roster: roster.clone(),
                installed_at,
            }),
        );
        Ok(())
    }

    /// Takes back an entry whose install failed after it was recorded.
    pub(crate) fn forget(&self, version: u64) {
        let _ = std::fs::remove_file(self.entry_path(version));
        *self.versions.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&version);
    }

    /// Every version in the history, oldest first: the folder is listed
    /// once, then again only after this process records or forgets one.
    pub fn versions(&self) -> Result<Vec<u64>, RosterError> {
        let mut kept = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = kept.as_ref() {
            return Ok(v.clone());
        }
        let listed = self.list_versions()?;
        *kept = Some(listed.clone());
        Ok(listed)
    }

    /// The versions in the folder as it is now, oldest first.
    fn list_versions(&self) -> Result<Vec<u64>, RosterError> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RosterError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for e in read {
            let e = e.map_err(|source| RosterError::Read {
                path: self.dir.clone(),
                source,
            })?;
            if let Some(v) = e.file_name().to_str().and_then(version_of_name) {
                out.push(v);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Version `version`, verified against the anchors that accepted it.
    pub fn get(&self, version: u64) -> Result<Arc<Installed>, RosterError> {
        if let Some(i) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&version)
        {
            return Ok(i.clone());
        }
        let installed = Arc::new(self.load(version)?);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(version, installed.clone());
        Ok(installed)
    }

    fn load(&self, version: u64) -> Result<Installed, RosterError> {
        let path = self.entry_path(version);
        let bytes =
            match crate::model::file::read_small(&path, crate::model::file::SMALL_FILE_BYTES) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(RosterError::NotInHistory {
                        version,
                        dir: self.dir.clone(),
                    });
                }
                Err(source) => return Err(RosterError::Read { path, source }),
            };
        let entry: HistoryEntry = serde_json::from_slice(&bytes)
            .map_err(|e| history_err(&path, crate::model::file::json_problem(&bytes, &e)))?;
        if entry.format != ENTRY_FORMAT {
            return Err(history_err(
                &path,
                format!("format {:?} is not {ENTRY_FORMAT}", entry.format),
            ));
        }
        let body = entry.roster.decode_unverified()?;
        if body.version != version || entry.version != version {
            return Err(history_err(
                &path,
                format!("holds roster version {}, not {version}", body.version),
            ));
        }
        // The dates were checked on the day it was installed; what must still
        // hold is that the anchors trusted then signed it.
        let roster = entry
            .roster
            .verify_as_signed(&entry.trust, body.valid_from)
            .map_err(|e| history_err(&path, e.to_string()))?;
        Ok(Installed {
            roster,
            installed_at: entry.installed_at,
        })
    }

    /// The version this node held at unix second `at`: the newest installed
    /// at or before it, up to `until` (the held version). `None` if the
    /// history starts later.
    pub fn in_force_at(&self, at: u64, until: u64) -> Result<Option<u64>, RosterError> {
        let mut found = None;
        for v in self.versions()?.into_iter().filter(|v| *v <= until) {
            if self.get(v)?.installed_at <= at {
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// The first version after `version`, up to `until`, that no longer lists
    /// `key` as `state`'s: when that member was removed (or its key replaced).
    /// Versions that cannot be read are skipped.
    pub fn removed_after(
        &self,
        key: &PublicKey,
        state: CountryCode,
        version: u64,
        until: u64,
    ) -> Result<Option<u64>, RosterError> {
        for v in self
            .versions()?
            .into_iter()
            .filter(|v| *v > version && *v <= until)
        {
            let Ok(i) = self.get(v) else { continue };
            if !i.roster.lists(key, state) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}
