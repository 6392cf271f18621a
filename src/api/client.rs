//! The control API's client, used by the CLI: finds the running node through
//! the data directory and speaks JSON to it.
//!
//! A call made soon after another one's reply was read to its end goes on
//! the same connection (HTTP/1.1 keep-alive), so that a command of several
//! calls (a trace sent then waited for, a listing paged by cursor) costs the
//! node one connection, not one a call.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
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

/// A connection target: the node's API address and token, and the
/// connection kept from the last call (clones share it).
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: String,
    token: String,
    idle: Arc<Mutex<Option<Idle>>>,
}

/// A connection whose last reply was read to its end.
#[derive(Debug)]
struct Idle {
    conn: Conn,
    /// The runtime whose task drives the connection: on another runtime, a
    /// call would wait on a task that runtime may not be running.
    runtime: tokio::runtime::Id,
}

/// A connection and when its last reply's head came.
#[derive(Debug)]
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

/// A connection is not used again this long after its last reply's head.
/// The node closes an idle connection after its header timeout
/// (`node.api_header_timeout_secs`, at least 1 s), counted from the end of
/// its reply: well within it, a call seldom meets the node closing it, and a
/// `GET` that does is sent again on a new connection.
const REUSE_WITHIN: Duration = Duration::from_millis(500);

/// How long a kept connection may take to say it is ready for the next call
/// before a new connection is opened instead.
const READY_WITHIN: Duration = Duration::from_millis(200);

impl Conn {
    /// `sender`, whose reply's head has just come.
    fn of(sender: SendRequest<Full<Bytes>>) -> Self {
        Conn {
            sender,
            since: Instant::now(),
        }
    }
}

impl ApiClient {
    /// Reads the address and token that the running node wrote.
    pub fn from_data_dir(dir: &Path) -> Result<Self, ApiClientError> {
        let read = |f: &str| {
            crate::model::file::read_small_text(&dir.join(f), 4096).map(|s| s.trim().to_string())
        };
        match (read(ADDR_FILE), read(TOKEN_FILE)) {
            (Ok(addr), Ok(token)) if !addr.is_empty() => Ok(ApiClient {
                addr,
                token,
                idle: Arc::default(),
            }),
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
        let (resp, conn) = self.send(Method::GET, path, None).await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = match resp.into_body().collect().await {
                Ok(b) => {
                    self.keep(conn);
                    b.to_bytes()
                }
                Err(_) => Bytes::new(),
            };
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
        self.keep(conn);
        Ok(())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiClientError> {
        let (resp, conn) = self.send(method, path, body).await?;
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
        self.keep(conn);
        if !status.is_success() {
            return Err(error_of(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiClientError::Protocol(e.to_string()))
    }

    /// Sends one request, on the kept connection if there is one still
    /// fresh and ready, else on a new one; the reply's head, body to come,
    /// and the connection, to be [kept](Self::keep) once the body is read.
    ///
    /// A request never written (the kept connection closed meanwhile) is
    /// sent on a new connection; so is a `GET` whose kept connection failed
    /// before any reply (the node closed it as it was written). Any other
    /// request that was written is not sent again: the node may have acted
    /// on it.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, Conn), ApiClientError> {
        let unreachable = |reason: String| ApiClientError::Unreachable {
            addr: self.addr.clone(),
            reason,
        };
        let body = Bytes::from(body.unwrap_or_default());
        let request = || {
            Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", &self.addr)
                .header("authorization", format!("Bearer {}", self.token))
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| ApiClientError::Protocol(e.to_string()))
        };
        let req = match self.kept().await {
            Some(mut sender) => match sender.try_send_request(request()?).await {
                Ok(resp) => return Ok((resp, Conn::of(sender))),
                Err(mut e) => match e.take_message() {
                    Some(req) => req,
                    None if method == Method::GET => request()?,
                    None => return Err(unreachable(e.into_error().to_string())),
                },
            },
            None => request()?,
        };
        let mut sender = self.connect().await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok((resp, Conn::of(sender)))
    }

    /// The kept connection, if made on this runtime, its last reply's head
    /// less than [`REUSE_WITHIN`] ago, and ready for a request within
    /// [`READY_WITHIN`]; it is taken, so a call made meanwhile opens its own.
    async fn kept(&self) -> Option<SendRequest<Full<Bytes>>> {
        let idle = self.idle.lock().ok()?.take()?;
        let runtime = tokio::runtime::Handle::try_current().ok()?.id();
        if idle.runtime != runtime || idle.conn.since.elapsed() >= REUSE_WITHIN {
            return None;
        }
        let mut sender = idle.conn.sender;
        match tokio::time::timeout(READY_WITHIN, sender.ready()).await {
            Ok(Ok(())) => Some(sender),
            _ => None,
        }
    }

    /// Keeps `conn`, whose reply was read to its end, for the next call,
    /// and lets go of it once it is too old to be used ([`REUSE_WITHIN`]
    /// after its reply's head), closing it: a client that makes no further call does not hold one of
    /// the node's connection slots until the node's header timeout (10 s by
    /// default) closes it. The timer holds no strong reference to the
    /// client: a client dropped sooner closes the connection with it.
    fn keep(&self, conn: Conn) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // A reply read for longer than the reuse window (a streamed
        // listing) leaves a connection no call may use: closed at once.
        if conn.sender.is_closed() || conn.since.elapsed() >= REUSE_WITHIN {
            return;
        }
        let since = conn.since;
        if let Ok(mut idle) = self.idle.lock() {
            *idle = Some(Idle {
                conn,
                runtime: handle.id(),
            });
        }
        let idle = Arc::downgrade(&self.idle);
        handle.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(since + REUSE_WITHIN)).await;
            let Some(idle) = idle.upgrade() else {
                return;
            };
            // Only this call's connection: a later call's is the next
            // timer's, and one taken by a call in progress is not here.
            let stale = idle
                .lock()
                .ok()
                .and_then(|mut kept| kept.take_if(|k| k.conn.since == since));
            drop(stale);
        });
    }

    /// A new connection to the node.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ApiClientError> {
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
        // A call on a kept connection is one small write: not held back
        // waiting for an acknowledgement (Nagle's algorithm).
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(conn);
        Ok(sender)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::routing::get;
    use hyper_util::service::TowerToHyperService;
    use serde_json::{Value, json};

    use super::*;

    /// A node stand-in on 127.0.0.1: answers `GET /x` and `POST /x`, counts
    /// the connections it accepted, and keeps them open between requests
    /// only if `keep_alive`.
    async fn server(keep_alive: bool) -> (ApiClient, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        let app = Router::new().route(
            "/x",
            get(|| async { r#"{"ok":true}"# }).post(|| async { r#"{"sent":true}"# }),
        );
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                let app = app.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        let client = ApiClient {
            addr,
            token: "t".into(),
            idle: Arc::default(),
        };
        (client, accepted)
    }

    #[tokio::test]
    async fn calls_in_a_row_share_one_connection() {
        let (client, accepted) = server(true).await;
        let sent: Value = client.post("/x", &json!({})).await.unwrap();
        assert_eq!(sent["sent"], true);
        for _ in 0..3 {
            let v: Value = client.get("/x").await.unwrap();
            assert_eq!(v["ok"], true);
        }
        // A clone shares the kept connection.
        let v: Value = client.clone().get("/x").await.unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_idle_too_long_is_not_used_again() {
        let (client, accepted) = server(true).await;
        let _: Value = client.get("/x").await.unwrap();
        // As if the call came REUSE_WITHIN after the last reply.
        client.idle.lock().unwrap().as_mut().unwrap().conn.since -= REUSE_WITHIN;
        let _: Value = client.get("/x").await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A node stand-in on a runtime of its own thread, which runs while the
    /// test's runtimes are held up: closes a connection idle for
    /// `header_timeout`, and says on the channel returned when it closed one.
    fn server_on_its_own_thread(
        header_timeout: Duration,
    ) -> (ApiClient, Arc<AtomicUsize>, std::sync::mpsc::Receiver<()>) {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx
                    .send(listener.local_addr().unwrap().to_string())
                    .unwrap();
                let app = Router::new().route("/x", get(|| async { r#"{"ok":true}"# }));
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    counted.fetch_add(1, Ordering::SeqCst);
                    let (app, closed) = (app.clone(), closed_tx.clone());
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(header_timeout)
                            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                            .await;
                        let _ = closed.send(());
                    });
                }
            });
        });
        let client = ApiClient {
            addr: addr_rx.recv().unwrap(),
            token: "t".into(),
            idle: Arc::default(),
        };
        (client, accepted, closed_rx)
    }

    /// The node closes the kept connection (its header timeout) while the
    /// client's runtime is not running, so the client has not seen it close:
    /// a `GET` on it is sent again on a new connection and goes through.
    #[tokio::test]
    async fn a_get_on_a_connection_the_node_closed_goes_through() {
        let (client, accepted, closed) = server_on_its_own_thread(Duration::from_millis(50));
        let _: Value = client.get("/x").await.unwrap();
        // Blocks this runtime until the node has closed the connection.
        closed.recv_timeout(Duration::from_secs(30)).unwrap();
        let v: Value = client.get("/x").await.unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A kept connection the client no longer calls on is closed by the
    /// client once it is too old to be used, not left to the node's header
    /// timeout (here a minute): the node's connection slot is free again.
    #[tokio::test]
    async fn a_kept_connection_no_call_uses_is_closed_by_the_client() {
        let (client, accepted, closed) = server_on_its_own_thread(Duration::from_secs(60));
        let _: Value = client.get("/x").await.unwrap();
        let waited = Instant::now();
        // Waited for off this runtime, which runs the client's timer.
        let seen =
            tokio::task::spawn_blocking(move || closed.recv_timeout(Duration::from_secs(10)))
                .await
                .unwrap();
        assert!(
            seen.is_ok(),
            "the kept connection was still open after 10 s"
        );
        assert!(waited.elapsed() < Duration::from_secs(10));
        assert!(client.idle.lock().unwrap().is_none());
        // The next call opens its own and goes through.
        let v: Value = client.get("/x").await.unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A connection kept from a runtime that still exists but is not being
    /// run is not used from another: the call would wait on a task nobody
    /// runs. It opens its own and goes through.
    #[test]
    fn a_connection_of_another_runtime_is_not_used() {
        let (client, accepted, _closed) = server_on_its_own_thread(Duration::from_secs(60));
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let (first, second) = (runtime(), runtime());
        let _: Value = first.block_on(client.get("/x")).unwrap();
        let v: Value = second
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.get::<Value>("/x")).await
            })
            .expect("the call did not wait on the other runtime's connection")
            .unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        drop(first);
    }
}
