//! The control API's client, used by the CLI: finds the running node through
//! the data directory and speaks JSON to it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ADDR_FILE, ErrorBody, TOKEN_FILE};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiClientError {
    #[error("no node is running for {0} (start one with `tracenet node run`)")]
    NotRunning(PathBuf),
    #[error(
        "the data directory {0} does not exist; create it with `tracenet init --state CC`, or pass --data-dir (or TRACENET_DATA_DIR) to use another"
    )]
    NoDataDir(PathBuf),
    #[error(
        "{0} is not a tracenet data directory (no tracenet.toml); create one with `tracenet init --state CC`, or pass --data-dir"
    )]
    NotInitialised(PathBuf),
    #[error("the node at {addr} does not answer: {reason}; is `tracenet node run` still running?")]
    Unreachable { addr: String, reason: String },
    /// A streamed reply that began and then broke off: the node failed or
    /// gave up part-way (its log says why). Not a node that is gone, so a
    /// command does not turn to the store instead.
    #[error(
        "the node at {addr} broke off its reply ({reason}); see the node's log, and run the command again"
    )]
    Broken { addr: String, reason: String },
    #[error("{0}")]
    Node(String),
    /// The node refused the request's content (HTTP 400): a field of it is
    /// wrong, as a usage mistake is.
    #[error("{0}")]
    BadRequest(String),
    /// The node did not send a trace (or send it again) for what was asked
    /// (HTTP 400 with a `fault`): said with the CLI's flags, for the CLI
    /// is this client's user.
    #[error("trace not sent: {}", .0.say(crate::node::FieldNames::Cli))]
    BadTrace(crate::node::TraceFault),
    /// An import refused whole (HTTP 400): the message, and the bad lines
    /// the node listed (the first 100).
    #[error("{message}")]
    BadLines {
        message: String,
        rejections: Vec<crate::registry::import::Rejection>,
        /// How many lines were bad in all (the node lists the first 100).
        rejected: u64,
    },
    #[error("unexpected reply from the node: {0}")]
    Protocol(String),
    /// What a streamed reply was handed to could not take it (a closed
    /// standard output, a full disk).
    #[error("{0}")]
    Output(#[source] std::io::Error),
}

/// A connection target: the node's API address and token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: String,
    token: String,
}

impl ApiClient {
    /// Reads the address and token that the running node wrote.
    pub fn from_data_dir(dir: &Path) -> Result<Self, ApiClientError> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
        match (read(ADDR_FILE), read(TOKEN_FILE)) {
            (Ok(addr), Ok(token)) if !addr.is_empty() => Ok(ApiClient { addr, token }),
            _ if !dir.exists() => Err(ApiClientError::NoDataDir(dir.to_path_buf())),
            _ if !dir.join(crate::config::CONFIG_FILE).exists() => {
                Err(ApiClientError::NotInitialised(dir.to_path_buf()))
            }
            _ => Err(ApiClientError::NotRunning(dir.to_path_buf())),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiClientError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiClientError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| ApiClientError::Protocol(e.to_string()))?;
        self.call(Method::POST, path, Some(bytes)).await
    }

    /// Posts raw bytes (a roster file).
    pub async fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, ApiClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `GET path`, whose body is handed to `on_chunk` as it arrives; first,
    /// `on_start` gets the number in the reply's header `count_header`, if
    /// any, and the reply's headers. A body that ends early (the node failed
    /// or stopped) is an error.
    pub async fn get_stream(
        &self,
        path: &str,
        count_header: &str,
        on_start: impl FnOnce(Option<u64>, &hyper::HeaderMap),
        mut on_chunk: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), ApiClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(error_of(status, &bytes));
        }
        on_start(
            resp.headers()
                .get(count_header)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            resp.headers(),
        );
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiClientError::Broken {
                addr: self.addr.clone(),
                reason: e.to_string(),
            })?;
            if let Ok(data) = frame.into_data() {
                on_chunk(&data).map_err(ApiClientError::Output)?;
            }
        }
        Ok(())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiClientError> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiClientError::Unreachable {
                addr: self.addr.clone(),
                reason: e.to_string(),
            })?
            .to_bytes();
        if !status.is_success() {
            return Err(error_of(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiClientError::Protocol(e.to_string()))
    }

    /// Sends one request on a new connection; the reply's head, body to come.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ApiClientError> {
        let unreachable = |reason: String| ApiClientError::Unreachable {
            addr: self.addr.clone(),
            reason,
        };
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&self.addr),
        )
        .await
        .map_err(|_| unreachable("connection timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ApiClientError::Protocol(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))
    }
}

/// The error a failed call's body says.
fn error_of(status: hyper::StatusCode, bytes: &[u8]) -> ApiClientError {
    let (msg, rejections, rejected, fault) = serde_json::from_slice::<ErrorBody>(bytes)
        .map(|e| (e.error, e.rejections, e.rejected, e.fault))
        .unwrap_or_else(|_| (format!("HTTP {status}"), Vec::new(), None, None));
    if status == hyper::StatusCode::BAD_REQUEST
        && let Some(fault) = fault
    {
        return ApiClientError::BadTrace(fault);
    }
    match status {
        hyper::StatusCode::BAD_REQUEST if !rejections.is_empty() => ApiClientError::BadLines {
            message: msg,
            rejected: rejected.unwrap_or(rejections.len() as u64),
            rejections,
        },
        hyper::StatusCode::BAD_REQUEST => ApiClientError::BadRequest(msg),
        _ => ApiClientError::Node(msg),
    }
}
