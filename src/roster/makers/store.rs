//! Where a node keeps the signed maker table, and which table is in force.
//!
//! `DATA_DIR/makers.json` is the table applied last; `DATA_DIR/makers/`
//! holds a copy of every version applied (`v<version, 20 digits>.json`),
//! written before `makers.json`, each through a flushed temporary file and a
//! rename. The table in force is the highest version among these copies that
//! still verifies against the node's anchors (a damaged `makers.json` falls
//! back on its copy); with none, the table built into the release (version
//! 0). The highest version ever applied is read from the copies' names as
//! well as their contents, so a damaged or deleted copy never lets an older
//! table be accepted again.
//!
//! A node's own `[[makers]]` (tracenet.toml) still extend the table in
//! force, locally: each entry applies whole unless the table gives one of
//! its spellings to another maker in the same country, in which case the
//! federation's table prevails and the entry is reported as left out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{MakersError, MakersFile, SignedMakers, digest_of, newer};
use crate::marking::{MakerAlias, MakerTable, ReferenceTable};
use crate::model::Date;
use crate::roster::TrustConfig;

/// The table applied last, inside a data directory.
pub const HELD_FILE: &str = "makers.json";
/// The folder of every version applied, inside a data directory.
pub const HISTORY_DIR: &str = "makers";

/// One install at a time in this process: reading what is held and writing
/// the new version are one step.
static INSTALLING: Mutex<()> = Mutex::new(());

pub(super) fn entry_name(version: u32) -> String {
    format!("v{version:020}.json")
}

fn version_of_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix('v')?.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
thread_local! {
    /// [`load_held`]'s calls on this thread, for the tests that count them.
    pub(super) static LOADS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// What a data directory holds.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// The highest version among the copies that verify.
    pub signed: Option<SignedMakers>,
    /// The highest version applied here, from the copies' names and
    /// contents, whether they verify or not.
    pub highest_seen: u32,
    /// Copies at or above the version in force that could not be used, each
    /// naming its file and why.
    pub problems: Vec<String>,
}

impl Held {
    /// The version in force: the signed table's, or 0.
    pub fn version(&self) -> u32 {
        self.signed.as_ref().map_or(0, SignedMakers::version)
    }
}

/// Reads what `data_dir` holds, checking each copy's signatures against
/// `trust` (not its dates: it was valid when applied). Never fails: what
/// cannot be used is listed in `problems`.
pub fn load_held(data_dir: &Path, trust: &TrustConfig) -> Held {
    #[cfg(test)]
    LOADS.with(|n| n.set(n.get() + 1));
    let mut copies: Vec<(Option<u32>, PathBuf)> = Vec::new();
    let held = data_dir.join(HELD_FILE);
    if held.exists() {
        copies.push((None, held));
    }
    if let Ok(entries) = std::fs::read_dir(data_dir.join(HISTORY_DIR)) {
        for e in entries.flatten() {
            if let Some(v) = e.file_name().to_str().and_then(version_of_name) {
                copies.push((Some(v), e.path()));
            }
        }
    }
    let mut out = Held::default();
    let mut failed: Vec<(u32, String)> = Vec::new();
    for (named, path) in copies {
        let file = MakersFile::read(&path);
        let claimed = file
            .as_ref()
            .ok()
            .and_then(|f| f.decode_unverified().ok())
            .map(|b| b.version);
        let seen = named.into_iter().chain(claimed).max().unwrap_or(0);
        out.highest_seen = out.highest_seen.max(seen);
        match file.and_then(|f| f.verify(trust, None)) {
            Ok(s) if named.is_some_and(|n| n != s.version()) => failed.push((
                seen,
                format!(
                    "{}: holds version {}, not the version its name says",
                    path.display(),
                    s.version()
                ),
            )),
            Ok(s) => {
                if out.version() < s.version() {
                    out.signed = Some(s);
                }
            }
            // A file that is not a table names its path already.
            Err(e @ MakersError::NotMakersFile { .. }) => failed.push((seen, e.to_string())),
            Err(e) => failed.push((seen, format!("{}: {e}", path.display()))),
        }
    }
    let in_force = out.version();
    failed.sort();
    out.problems = failed
        .into_iter()
        .filter(|(v, _)| *v == 0 || *v >= in_force)
        .map(|(_, p)| p)
        .collect();
    out
}

/// Accepts `offered` ([`super::accept`], verified on `today`) against what
/// `data_dir` holds, and keeps it: its copy in the history first, then
/// `makers.json`. The caller applies the returned table.
///
/// The offered table's signatures and dates are checked before the lock
/// and before any copy is read: a forged table, which any member can send
/// again each time gossip forgives it, costs its own check and nothing
/// else.
pub fn install(
    data_dir: &Path,
    offered: &MakersFile,
    trust: &TrustConfig,
    today: Date,
) -> Result<SignedMakers, MakersError> {
    let signed = offered.verify(trust, Some(today))?;
    let _one = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let held = load_held(data_dir, trust);
    let signed = newer(signed, held.version(), held.highest_seen)?;
    let dir = data_dir.join(HISTORY_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| MakersError::Write {
        path: dir.clone(),
        source,
    })?;
    offered.write(&dir.join(entry_name(signed.version())))?;
    offered.write(&data_dir.join(HELD_FILE))?;
    Ok(signed)
}

/// A local `[[makers]]` entry left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRefused {
    pub name: String,
    pub reason: String,
}

/// Where the table in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Built into this release (version 0).
    BuiltIn,
    /// Signed by the trust anchors, applied on this node.
    Signed,
}

/// The table a node folds makers' names with: the reference table in force
/// extended by its local makers.
#[derive(Debug, Clone)]
pub struct InForce {
    pub table: MakerTable,
    pub held: Held,
    /// The local entries applied, by name.
    pub local: Vec<String>,
    pub local_refused: Vec<LocalRefused>,
}

/// The table in force in `data_dir` ([`load_held`]) with `local` makers.
pub fn in_force(data_dir: &Path, trust: &TrustConfig, local: &[MakerAlias]) -> InForce {
    InForce::of(load_held(data_dir, trust), local)
}

impl InForce {
    /// The table of `held` (or the built-in one) extended by `local`.
    pub fn of(held: Held, local: &[MakerAlias]) -> Self {
        let base = match &held.signed {
            Some(s) => s.table(),
            None => MakerTable::built_in(),
        };
        let (table, refused) = base.extended(local);
        let local_refused: Vec<LocalRefused> = refused
            .into_iter()
            .map(|(m, e)| LocalRefused {
                name: m.name,
                reason: e.to_string(),
            })
            .collect();
        let local = local
            .iter()
            .filter(|m| !local_refused.iter().any(|r| r.name == m.name))
            .map(|m| m.name.clone())
            .collect();
        InForce {
            table,
            held,
            local,
            local_refused,
        }
    }

    /// The version queries carry: the signed table's, or 0.
    pub fn version(&self) -> u32 {
        self.held.version()
    }

    /// What `status` and `makers show` report, on `today`.
    pub fn view(&self, today: Date) -> MakersView {
        let shipped = ReferenceTable::shipped_ref();
        let (reference, signed_by, validity, expired) = match &self.held.signed {
            Some(s) => (
                s.body().reference(),
                s.signed_by().iter().map(|k| k.to_base64()).collect(),
                Some((s.body().valid_from, s.body().valid_until)),
                s.expired(today),
            ),
            None => (shipped.clone(), Vec::new(), None, false),
        };
        MakersView {
            version: self.version(),
            source: if self.held.signed.is_some() {
                Source::Signed
            } else {
                Source::BuiltIn
            },
            built_in_revision: shipped.version,
            makers: reference.maker_count(),
            digest: digest_of(&reference).to_hex(),
            valid_from: validity.map(|v| v.0),
            valid_until: validity.map(|v| v.1),
            expired,
            signed_by,
            highest_seen: self.held.highest_seen,
            local_makers: self.local.clone(),
            local_refused: self.local_refused.clone(),
            problems: self.held.problems.clone(),
        }
    }
}

/// The maker reference table a node uses, as `status` and `makers show`
/// report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakersView {
    /// The version in force, which queries and answers carry: 0 for the
    /// table built into this release.
    pub version: u32,
    pub source: Source,
    /// The built-in table's own revision (the `version` line of
    /// `config/makers.toml` in this release).
    pub built_in_revision: u32,
    /// Makers in the table in force (distinct canonical names).
    pub makers: usize,
    /// SHA-256 (hex) of the table's canonical form: equal on two nodes
    /// exactly when they hold the same rows under the same version.
    pub digest: String,
    /// The signed table's validity; null for the built-in one.
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    /// The signed table is past `valid_until`: it stays in force until the
    /// regional organisation signs the next one.
    pub expired: bool,
    /// The anchors (base64 public keys) whose signatures were counted.
    pub signed_by: Vec<String>,
    /// The highest version ever applied on this node; no older one is
    /// accepted.
    pub highest_seen: u32,
    /// Local makers from tracenet.toml applied on top: spellings this node
    /// folds and the federation does not.
    pub local_makers: Vec<String>,
    /// Local makers left out: the table in force gives one of their
    /// spellings to another maker.
    pub local_refused: Vec<LocalRefused>,
    /// Stored copies that could not be used (damaged, or not signed by the
    /// anchors configured now).
    pub problems: Vec<String>,
}

impl MakersView {
    /// For people: the version and where it comes from, then anything
    /// local or wrong.
    pub fn to_text(&self) -> String {
        let mut t = match self.source {
            Source::BuiltIn => format!(
                "maker reference table version 0: built into this release (revision {}), {}\n",
                self.built_in_revision,
                crate::model::count(self.makers as u64, "maker")
            ),
            Source::Signed => format!(
                "maker reference table version {}, signed by {}, valid {} to {}{}, {}\n",
                self.version,
                crate::model::count(self.signed_by.len() as u64, "anchor"),
                self.valid_from.map(|d| d.to_string()).unwrap_or_default(),
                self.valid_until.map(|d| d.to_string()).unwrap_or_default(),
                if self.expired {
                    " (expired: it stays in force until the next one)"
                } else {
                    ""
                },
                crate::model::count(self.makers as u64, "maker")
            ),
        };
        t += &format!("  digest {}\n", self.digest);
        if !self.local_makers.is_empty() {
            t += &format!(
                "  local makers from tracenet.toml, not shared with the federation: {}\n",
                self.local_makers.join(", ")
            );
        }
        for r in &self.local_refused {
            t += &format!(
                "  local maker {} left out: {}; the reference table prevails\n",
                r.name, r.reason
            );
        }
        for p in &self.problems {
            t += &format!("  cannot use {p}\n");
        }
        t
    }
}
