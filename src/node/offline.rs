//! A data directory's stored traces, inbox, alerts and audit log, opened
//! without the network, for reading while the node is not running (sled
//! lets one process hold the store: when the node runs, read through its
//! API instead).

use std::path::Path;

use super::{Judge, NodeError, TraceStore, inbox::Inbox};
use crate::audit::{AuditError, AuditLog, VerifyReport};
use crate::config::Config;

/// What a stopped node holds, open for reading.
pub struct Offline {
    pub judge: Judge,
    pub traces: TraceStore,
    pub inbox: Inbox,
    pub audit: AuditLog,
    /// The store itself, for local trees (officer accounts).
    pub db: sled::Db,
}

impl Offline {
    /// Opens the store of `data_dir`. Fails, saying so, if the directory is
    /// not initialised or another process (the node) holds the store.
    pub fn open(data_dir: &Path) -> Result<Offline, NodeError> {
        let cfg = Config::load(&Config::path_in(data_dir))
            .map_err(|e| NodeError::Config(e.to_string()))?;
        let db = crate::store::open_db(&data_dir.join("db"), &cfg.store_options())?;
        Ok(Offline {
            judge: Judge::offline(data_dir, &cfg)?,
            traces: super::open_traces(&db, data_dir)?,
            inbox: Inbox::open(&db).map_err(|e| NodeError::Config(e.to_string()))?,
            audit: AuditLog::open_in(&db, data_dir)
                .map_err(|e| NodeError::Config(e.to_string()))?,
            db,
        })
    }
}

/// A stopped node's audit log, open for `tracenet audit verify`: as the node
/// opens it when it can ([`AuditLog::open_in`], which finishes an archiving
/// cut short, removing from the store the entries its newest file already
/// holds, before it checks the rest), and otherwise, when the archive does
/// not fit the store (a file put in the folder, or changed) or the log's
/// last entry is unreadable, as it stands, so that `verify` reports each
/// misfit as a break rather than stopping at the first.
pub struct AuditToVerify {
    db: sled::Db,
    data_dir: std::path::PathBuf,
    /// `None` when `open_in` refused the archive.
    log: Option<AuditLog>,
}

impl AuditToVerify {
    /// Opens the store of `data_dir`; fails as [`Offline::open`] does on a
    /// directory not initialised or a store another process holds.
    pub fn open(data_dir: &Path) -> Result<Self, NodeError> {
        let cfg = Config::load(&Config::path_in(data_dir))
            .map_err(|e| NodeError::Config(e.to_string()))?;
        let db = crate::store::open_db(&data_dir.join("db"), &cfg.store_options())?;
        let log = match AuditLog::open_in(&db, data_dir) {
            Ok(log) => Some(log),
            // A store that cannot be read is an error; anything the archive
            // or an entry makes `open_in` refuse, `verify` reports.
            Err(AuditError::Storage(e)) => return Err(NodeError::Storage(e)),
            Err(_) => None,
        };
        Ok(AuditToVerify {
            db,
            data_dir: data_dir.to_path_buf(),
            log,
        })
    }

    /// [`AuditLog::verify`], or [`AuditLog::verify_as_it_stands`] when the
    /// archive was refused.
    pub fn verify(&self, key: &crate::protocol::PublicKey) -> Result<VerifyReport, AuditError> {
        match &self.log {
            Some(log) => log.verify(key),
            None => AuditLog::verify_as_it_stands(&self.db, &self.data_dir, key),
        }
    }
}
