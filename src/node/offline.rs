//! A data directory's stored traces, inbox, alerts and audit log, opened
//! without the network, for reading while the node is not running (sled
//! lets one process hold the store: when the node runs, read through its
//! API instead).

use std::path::Path;

use super::{Judge, NodeError, TraceStore, inbox::Inbox};
use crate::audit::AuditLog;
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
            traces: TraceStore::open(&db)?,
            inbox: Inbox::open(&db).map_err(|e| NodeError::Config(e.to_string()))?,
            audit: AuditLog::open_in(&db, data_dir)
                .map_err(|e| NodeError::Config(e.to_string()))?,
            db,
        })
    }
}
