//! The local control API: JSON over HTTP/1.1 on a loopback address, guarded by
//! a random bearer token written to the data directory (mode 0600). The CLI is
//! its client; integrators may call it directly. Endpoints: proto-docs/API.md.

mod client;
mod metrics;
pub mod routes;
mod views;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

pub use client::{ApiClient, ApiClientError};
pub use views::{AnswerView, TraceView};

use crate::node::Node;

/// The largest request body accepted.
const MAX_BODY: usize = 1 << 20;

pub const TOKEN_FILE: &str = "api.token";
pub const ADDR_FILE: &str = "api.addr";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0} is not a loopback address; the control API listens on 127.0.0.1 or ::1 only")]
    NotLoopback(SocketAddr),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw a random token: the system random source failed")]
    Random,
}

/// The JSON error body of every failed call.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Starts the API on `addr` (port 0 picks a free one). Writes the bound address
/// and a fresh token to the data directory; returns the bound address.
pub async fn serve(node: Node, addr: &str, data_dir: &Path) -> Result<SocketAddr, ApiError> {
    let sa: SocketAddr = addr.parse().map_err(|e| ApiError::Listen {
        addr: addr.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")),
    })?;
    if !sa.ip().is_loopback() {
        return Err(ApiError::NotLoopback(sa));
    }
    let listener = tokio::net::TcpListener::bind(sa)
        .await
        .map_err(|source| ApiError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ApiError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let token = new_token()?;
    write_private(&data_dir.join(TOKEN_FILE), token.as_bytes())?;
    write_private(&data_dir.join(ADDR_FILE), bound.to_string().as_bytes())?;
    tokio::spawn(accept_loop(listener, node, token));
    Ok(bound)
}

async fn accept_loop(listener: tokio::net::TcpListener, node: Node, token: String) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control API accept failed");
                continue;
            }
        };
        // Small request/response pairs: no waiting for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let node = node.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let node = node.clone();
                let token = token.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(node, &token, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "control API connection ended with an error");
            }
        });
    }
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
    let err = |source| ApiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Compares in time independent of where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) type Reply = Response<Full<Bytes>>;

pub(crate) fn json_reply<T: Serialize>(status: StatusCode, v: &T) -> Reply {
    let body =
        serde_json::to_vec(v).unwrap_or_else(|_| b"{\"error\":\"encoding failed\"}".to_vec());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

pub(crate) fn error_reply(status: StatusCode, msg: impl Into<String>) -> Reply {
    json_reply(status, &ErrorBody { error: msg.into() })
}

async fn handle(node: Node, token: &str, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    if path == "/v1/health" {
        return json_reply(StatusCode::OK, &serde_json::json!({"ok": true}));
    }
    let authorised = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same_secret(t.as_bytes(), token.as_bytes()));
    if !authorised {
        return error_reply(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token; it is in the node's data directory, file api.token",
        );
    }
    if path == "/metrics" {
        let text = metrics::render(&node).await;
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(text)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    }
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over {MAX_BODY} bytes"),
            );
        }
    };
    routes::route(&node, &method, &path, &query, &body).await
}
