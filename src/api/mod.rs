//! The local control API: JSON over HTTP/1.1 on a loopback address, guarded by
//! a random bearer token written to the data directory (mode 0600). The CLI is
//! its client; integrators may call it directly. Endpoints: proto-docs/API.md.

mod audit;
mod client;
mod listing;
mod metrics;
pub mod officers;
mod registry;
mod reply;
pub mod routes;
mod server;
mod views;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use audit::{ENTRIES_HEADER, MISSING_GAPS_HEADER, MISSING_HEADER};
pub use client::{ApiClient, ApiClientError};
pub use registry::RECORDS_HEADER;
pub use reply::status_of;
pub use server::{HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use views::{AnswerView, InboxView, TraceView, evidence_bundle, inbox_view, trace_view};

use crate::config::NodeSettings;
use crate::node::Node;

pub const TOKEN_FILE: &str = "api.token";
pub const ADDR_FILE: &str = "api.addr";
/// Where the officer console is served: `http://ADDR/console/`.
pub const CONSOLE_ADDR_FILE: &str = "console.addr";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {addr}: TCP port {} is already in use {}; {}",
        .addr.port(),
        crate::net::in_use_by(holder.as_deref()),
        crate::net::in_use_advice(holder.as_deref(), setting)
    )]
    PortInUse {
        addr: SocketAddr,
        /// The setting that gave the address (`node.api_listen`).
        setting: &'static str,
        /// "process PID (NAME)", when it could be found.
        holder: Option<String>,
    },
    #[error("{0} is not a loopback address; the control API listens on 127.0.0.1 or ::1 only")]
    NotLoopback(SocketAddr),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file made first and renamed to `path` could not be made or
    /// written: what is at `temporary` (a directory, a file of another
    /// owner) is in the way.
    #[error(
        "cannot write {path} through its temporary file {temporary}: {source}; move whatever is at {temporary} away and start again"
    )]
    WriteTemporary {
        path: PathBuf,
        temporary: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw a random token: the system random source failed")]
    Random,
}

/// The JSON error body of every failed call.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// An import refused whole (`--strict`, `--replace`): its bad lines in
    /// file order, the first 100. Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<crate::registry::import::Rejection>,
    /// With `rejections`: how many lines were bad in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// A trace not sent (or not sent again) for what was asked: the field
    /// at fault, the reason naming no field, the way round. Absent
    /// otherwise.
    /// Read leniently: a fault of a kind this build does not know (a newer
    /// node's field or remedy) is left out, and the `error` line stays.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fault_if_known"
    )]
    pub fault: Option<crate::node::TraceFault>,
}

fn fault_if_known<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::node::TraceFault>, D::Error> {
    let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// Where the API listens and how it guards its connections.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// A loopback address; port 0 picks a free one.
    pub listen: String,
    /// A connection that has not sent a full request head within this is closed.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the kernel's listen queue.
    pub max_connections: usize,
}

impl ApiOptions {
    /// The options `[node]` of `tracenet.toml` sets.
    pub fn from_settings(s: &NodeSettings) -> Self {
        ApiOptions {
            listen: s.api_listen.clone(),
            header_timeout: Duration::from_secs(s.api_header_timeout_secs.max(1)),
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Starts the API. Writes the bound address and a fresh token to the data
/// directory; returns the bound address. `pages`, when given, is served
/// under `/console` on the same listener (the officer console, which needs
/// no token: it has its own accounts and sessions).
pub async fn serve(
    node: Node,
    opts: &ApiOptions,
    data_dir: &Path,
    pages: Option<axum::Router>,
) -> Result<SocketAddr, ApiError> {
    let listener = bind_loopback(&opts.listen, "node.api_listen").await?;
    let bound = listener.local_addr().map_err(|source| ApiError::Listen {
        addr: opts.listen.clone(),
        source,
    })?;
    let token = new_token()?;
    write_private(&data_dir.join(TOKEN_FILE), token.as_bytes())?;
    write_private(&data_dir.join(ADDR_FILE), bound.to_string().as_bytes())?;
    let limits = server::Limits {
        header_timeout: opts.header_timeout,
        max_connections: opts.max_connections,
    };
    let mut app = routes::router(node, token);
    if let Some(pages) = pages {
        app = mount(pages).merge(app);
        write_private(
            &data_dir.join(CONSOLE_ADDR_FILE),
            bound.to_string().as_bytes(),
        )?;
    }
    tokio::spawn(server::accept_loop(listener, app, limits));
    Ok(bound)
}

/// Serves the officer console alone on a listener of its own (loopback
/// only), with the API's connection guards; writes `console.addr`.
pub async fn serve_pages(
    pages: axum::Router,
    listen: &str,
    opts: &ApiOptions,
    data_dir: &Path,
) -> Result<SocketAddr, ApiError> {
    let listener = bind_loopback(listen, "node.console_listen").await?;
    let bound = listener.local_addr().map_err(|source| ApiError::Listen {
        addr: listen.to_string(),
        source,
    })?;
    write_private(
        &data_dir.join(CONSOLE_ADDR_FILE),
        bound.to_string().as_bytes(),
    )?;
    let limits = server::Limits {
        header_timeout: opts.header_timeout,
        max_connections: opts.max_connections,
    };
    tokio::spawn(server::accept_loop(listener, mount(pages), limits));
    Ok(bound)
}

/// The console's pages at `/console`, and `/console/` (the address the node
/// prints) sent there.
fn mount(pages: axum::Router) -> axum::Router {
    axum::Router::new()
        .route(
            "/console/",
            axum::routing::get(|| async { axum::response::Redirect::to("/console") }),
        )
        .nest("/console", pages)
}

/// Binds `addr`, given by `setting`, on loopback only; a port another
/// process holds is named with that process and the setting to change.
async fn bind_loopback(
    addr: &str,
    setting: &'static str,
) -> Result<tokio::net::TcpListener, ApiError> {
    let sa: SocketAddr = addr.parse().map_err(|e| ApiError::Listen {
        addr: addr.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")),
    })?;
    if !sa.ip().is_loopback() {
        return Err(ApiError::NotLoopback(sa));
    }
    tokio::net::TcpListener::bind(sa)
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => ApiError::PortInUse {
                addr: sa,
                setting,
                holder: crate::net::holder_of(sa.port()),
            },
            _ => ApiError::Listen {
                addr: addr.to_string(),
                source,
            },
        })
}

fn new_token() -> Result<String, ApiError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ApiError::Random)?;
    Ok(hex::encode(b))
}

/// Writes a file readable by its owner only, through a rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ApiError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    // Named as the file that failed: a directory at `api.tmp` was said as
    // `api.token` (a hostile trial). What is in the way there is said so;
    // another failure (a full disk, a folder not writable) names the
    // temporary file alone.
    let in_the_way = |source| ApiError::WriteTemporary {
        path: path.to_path_buf(),
        temporary: tmp.clone(),
        source,
    };
    let failed = |source| ApiError::Write {
        path: tmp.clone(),
        source,
    };
    // Whatever is left at the temporary name (a crash's file, a link, a
    // FIFO) goes first, and the file is made new, never opened through
    // what was there: a link at `api.tmp` had the token written into the
    // file it named, and a FIFO held the node (a hostile trial).
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if tmp.symlink_metadata().is_ok_and(|m| m.is_dir()) => return Err(in_the_way(e)),
        Err(e) => return Err(failed(e)),
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            in_the_way(e)
        } else {
            failed(e)
        }
    })?;
    f.write_all(bytes).map_err(failed)?;
    f.sync_all().map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(|source| ApiError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Compares in time independent of where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file left over with a wider mode (a crash, a hand)
    /// does not pass it on to the token it becomes (a review).
    #[cfg(unix)]
    #[test]
    fn a_private_file_is_owner_only_whatever_was_left_in_its_place() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let token = d.path().join(TOKEN_FILE);
        let tmp = token.with_extension("tmp");
        std::fs::write(&tmp, b"left over").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&token, b"secret").unwrap();
        let meta = std::fs::metadata(&token).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&token).unwrap(), b"secret");
        assert!(!tmp.exists());
        // A link left there is not written through; a FIFO does not hold it.
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, b"important").unwrap();
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        write_private(&token, b"secret 2").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"important");
        assert!(!std::fs::symlink_metadata(&token).unwrap().is_symlink());
        assert_eq!(std::fs::read(&token).unwrap(), b"secret 2");
        crate::model::file::mkfifo(&tmp);
        write_private(&token, b"secret 3").unwrap();
        assert_eq!(std::fs::read(&token).unwrap(), b"secret 3");
        // A directory there is named as what is in the way, not as the
        // token (it was said as `api.token`).
        std::fs::remove_file(&tmp).ok();
        std::fs::create_dir(&tmp).unwrap();
        let said = write_private(&token, b"secret 4").unwrap_err().to_string();
        assert!(
            said.contains(&format!("temporary file {}", tmp.display()))
                && said.contains(&format!("move whatever is at {} away", tmp.display())),
            "{said}"
        );
        assert_eq!(std::fs::read(&token).unwrap(), b"secret 3");
    }
}
