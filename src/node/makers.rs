//! The maker reference table in force on this node (`roster::makers`):
//! read from the data directory at start, replaced when a newer signed table
//! is installed or received by gossip, and passed on.
//!
//! Applying a table re-places the registry's records under the keys it gives
//! (finds wait meanwhile, so no answer is given from a half-moved index),
//! re-derives the marking prefixes the roster declares, and follows the
//! registry's prefixes with the subscriptions. A member whose query or
//! answer states an older table gets the one in force published again, at
//! most once per [`OFFER_EVERY`]; one stating a newer table is logged.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Node, NodeError, net};
use crate::audit::{AuditKind, NewEntry};
use crate::marking::{MakerAlias, MakerTable};
use crate::model::{CountryCode, Date};
use crate::net::{GossipId, Topic, Verdict};
use crate::roster::TrustConfig;
use crate::roster::makers::{self, InForce, MakersError, MakersFile, MakersView};

/// How often the table in force is published again for members seen on an
/// older one, and a newer one seen elsewhere is logged.
pub const OFFER_EVERY: Duration = Duration::from_secs(600);

/// Why a maker table was not installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallMakersError {
    #[error("{0}")]
    Unreadable(MakersError),
    /// Signatures, anchors, dates or rows do not hold.
    #[error("{0}")]
    Rejected(MakersError),
    #[error("the maker table cannot be applied: {0}")]
    Store(String),
    #[error("the network is not running: {0}")]
    Net(#[from] net::NetError),
}

/// What an install did: `installed` false when the node already holds this
/// version or a newer one (`version` is then the one in force).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MakersInstalled {
    pub installed: bool,
    pub version: u32,
}

/// The table in force in `data_dir` at start, with what cannot be used
/// logged.
pub(super) fn load(data_dir: &Path, trust: &TrustConfig, local: &[MakerAlias]) -> InForce {
    let in_force = makers::in_force(data_dir, trust, local);
    for p in &in_force.held.problems {
        tracing::error!(
            problem = p,
            "a stored maker table cannot be used; install the current one again with `tracenet makers install FILE`"
        );
    }
    log_left_out(&in_force);
    tracing::info!(
        version = in_force.version(),
        "maker reference table in force"
    );
    in_force
}

fn log_left_out(in_force: &InForce) {
    for r in &in_force.local_refused {
        tracing::warn!(
            maker = r.name,
            reason = r.reason,
            "a local maker of tracenet.toml is left out: the maker reference table gives its spelling to another maker"
        );
    }
}

impl Node {
    /// The maker table this node folds names with: the reference table in
    /// force and the local makers of tracenet.toml.
    pub fn makers(&self) -> MakerTable {
        self.read_makers().table.clone()
    }

    /// What `status` and `makers show` report of the table in force.
    pub fn makers_view(&self) -> MakersView {
        self.read_makers().view(Date::today())
    }

    pub(super) fn read_makers(&self) -> std::sync::RwLockReadGuard<'_, InForce> {
        // A poisoned lock holds a whole table still: keep serving.
        self.inner.makers.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn on_makers_gossip(&self, id: GossipId, data: Vec<u8>) {
        let verdict = match self.install_makers(&data, false).await {
            Ok(MakersInstalled {
                installed: true, ..
            }) => Verdict::Accept,
            Ok(_) => Verdict::Ignore,
            // A relay's calendar or a table not yet valid here: no fault of
            // the peer that passed it on.
            Err(InstallMakersError::Rejected(MakersError::Dates { .. })) => Verdict::Ignore,
            Err(e @ (InstallMakersError::Unreadable(_) | InstallMakersError::Rejected(_))) => {
                tracing::info!(error = %e, "rejected a gossiped maker table");
                Verdict::Reject
            }
            Err(e) => {
                tracing::warn!(error = %e, "a gossiped maker table could not be applied");
                Verdict::Ignore
            }
        };
        let _ = self.inner.net.validate(id, verdict).await;
    }

    /// Verifies a signed maker table against the trust anchors and applies
    /// it if it is newer than the table in force; with `publish`, passes it
    /// on to the federation.
    pub async fn install_makers(
        &self,
        bytes: &[u8],
        publish: bool,
    ) -> Result<MakersInstalled, InstallMakersError> {
        // A version not above the one held is ignored before a long job, a
        // lock, a disk read or a signature check: the federation's own
        // table offered again (by peers, or by a member replaying it under
        // new bytes) costs a JSON and body decode each.
        // Nor one below the highest version ever applied here, which the
        // install refuses too (it differs from the one in force only when a
        // stored copy was damaged or the anchors changed).
        // An officer's install (`publish`) is checked first all the same: a
        // table that no anchor signed was answered "already holds version N
        // or newer", hiding its fault (a trial).
        if !publish && let Some(held) = self.not_newer(bytes) {
            return Ok(held);
        }
        // A table whose signatures or dates do not hold is refused here,
        // before the long jobs' turn: a member that sends forged tables
        // again each time gossip forgives it holds up no import, export or
        // report, and no copy held is read for it. Checked on the blocking
        // pool (not on an async worker, which may be the node's only one:
        // `node.async_workers`): the body is decoded once more and at most
        // one signature checked per configured anchor (`anchors::counted`
        // stops at the first that fails and checks none of another key),
        // and at most `TRUST_GOSSIP_AT_ONCE` messages are in hand at once.
        // The install checks it again under its lock.
        let node = self.clone();
        let owned = bytes.to_vec();
        let (node, owned) = tokio::task::spawn_blocking(move || {
            MakersFile::from_json(&owned)
                .map_err(InstallMakersError::Unreadable)?
                .verify(&node.inner.trust, Some(Date::today()))
                .map_err(InstallMakersError::Rejected)?;
            Ok::<_, InstallMakersError>((node, owned))
        })
        .await
        .map_err(|e| InstallMakersError::Store(e.to_string()))??;
        // An officer's table, verified, that is not newer is said at once,
        // not after the long jobs ahead of it (a review).
        if publish && let Some(held) = node.not_newer(&owned) {
            return Ok(held);
        }
        // A long job: the install re-places every record of the registry.
        let applied = self
            .long_job(move || node.install_makers_now(&owned))
            .await
            .map_err(|e| InstallMakersError::Store(e.to_string()))??;
        let Some(version) = applied else {
            return Ok(MakersInstalled {
                installed: false,
                version: self.read_makers().version(),
            });
        };
        self.refresh_topics()
            .await
            .map_err(|e| InstallMakersError::Store(e.to_string()))?;
        tracing::info!(version, "maker reference table applied");
        if publish {
            self.publish_makers(bytes.to_vec()).await;
        }
        Ok(MakersInstalled {
            installed: true,
            version,
        })
    }

    /// What an install of the table in `bytes` says without applying it,
    /// if its version is not above the one in force or is below the
    /// highest ever applied here (decoded, not verified: `None` for bytes
    /// that do not decode).
    fn not_newer(&self, bytes: &[u8]) -> Option<MakersInstalled> {
        let body = MakersFile::from_json(bytes)
            .and_then(|f| f.decode_unverified())
            .ok()?;
        let m = self.read_makers();
        (body.version <= m.version() || body.version < m.held.highest_seen).then(|| {
            MakersInstalled {
                installed: false,
                version: m.version(),
            }
        })
    }

    async fn publish_makers(&self, bytes: Vec<u8>) {
        match self.inner.net.publish(Topic::Makers, bytes).await {
            // The same table read or published within the last minute is
            // on its way already (payload validation names it by its bytes).
            Ok(()) | Err(net::NetError::NoSubscribers(_)) | Err(net::NetError::SeenRecently(_)) => {
            }
            Err(e) => tracing::warn!(error = %e, "publishing the maker table failed"),
        }
    }

    /// The blocking part of an install: verify and keep, audit, re-place
    /// the registry's records, swap. One at a time, so that two tables
    /// received together are applied in the order they were accepted.
    fn install_makers_now(&self, bytes: &[u8]) -> Result<Option<u32>, InstallMakersError> {
        let file = MakersFile::from_json(bytes).map_err(InstallMakersError::Unreadable)?;
        let _one = self
            .inner
            .makers_installing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let dir = &self.inner.data_dir;
        let signed = match makers::install(dir, &file, &self.inner.trust, Date::today()) {
            Ok(s) => s,
            Err(MakersError::NotNewer { .. }) => return Ok(None),
            Err(e) => return Err(InstallMakersError::Rejected(e)),
        };
        let version = signed.version();
        self.record(
            AuditKind::MakersInstalled,
            NewEntry {
                outcome: Some(format!("version {version}")),
                ..NewEntry::default()
            },
            true,
        )
        .map_err(|e| InstallMakersError::Store(e.to_string()))?;
        let in_force = makers::in_force(dir, &self.inner.trust, &self.inner.local_makers);
        self.apply_makers(in_force)
            .map_err(|e| InstallMakersError::Store(e.to_string()))?;
        Ok(Some(version))
    }

    /// Makes `in_force` the table of this node. Blocking: the registry's
    /// records move to the keys it gives them before finds resume.
    fn apply_makers(&self, in_force: InForce) -> Result<(), NodeError> {
        log_left_out(&in_force);
        let table = in_force.table.clone();
        if let Some(reg) = &self.inner.registry {
            let started = Instant::now();
            if reg.set_makers(table.clone())? {
                tracing::info!(
                    secs = started.elapsed().as_secs_f64(),
                    "the registry's records were placed under the new maker table's keys"
                );
            }
        }
        let mut members = self
            .inner
            .members
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Copy-on-write: snapshots taken before keep the old reading.
        Arc::make_mut(&mut members).rederive(&table);
        // Swapped under the roster's lock, which a roster install takes to
        // read the table: a roster landing meanwhile is read by this table,
        // never by the one it replaces (`Node::install_now`).
        *self.inner.makers.write().unwrap_or_else(|p| p.into_inner()) = in_force;
        Ok(())
    }

    /// A verified query or answer from `state` stated the maker table it
    /// used (`theirs`). An older one: the table in force is published again
    /// (its peer may have been away when it spread); a newer one: logged.
    /// Each at most once per [`OFFER_EVERY`].
    pub(super) fn note_makers_version(&self, theirs: Option<u32>, state: CountryCode) {
        let Some(theirs) = theirs else {
            return;
        };
        // The version alone on every query and answer: the table's file (up
        // to 64 KiB of JSON) is made only when it is offered again below.
        let mine = self.read_makers().version();
        if theirs == mine {
            return;
        }
        tracing::debug!(
            %state,
            theirs,
            mine,
            "a member resolves makers with another reference table version; this node reads the maker name with its own"
        );
        let due = self.inner.makers_noted.lock().is_ok_and(|mut last| {
            let due = last.is_none_or(|t| t.elapsed() >= OFFER_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        });
        if !due {
            return;
        }
        let file = (theirs < mine)
            .then(|| {
                let m = self.read_makers();
                m.held.signed.as_ref().map(|s| s.file().to_json())
            })
            .flatten();
        match file {
            Some(bytes) if theirs < mine => {
                let node = self.clone();
                self.spawn(async move { node.publish_makers(bytes).await });
            }
            _ if theirs > mine => tracing::warn!(
                %state,
                theirs,
                mine,
                "a member uses a newer maker reference table; it spreads by gossip, or install it with `tracenet makers install FILE`"
            ),
            _ => {}
        }
    }
}
