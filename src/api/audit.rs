//! `GET /v1/audit` and `GET /v1/audit/export`: the audit log streamed as it is
//! read, the archive's files then the store, one entry at a time. A node whose
//! log holds millions of entries answers either with the memory of one piece
//! (64 KiB), never the whole history.
//!
//! A log that cannot be read from its start (an archive file that does not fit
//! the store, say) is a 500 with the error, as any call. An error after the
//! reply began, the node stopping, or a client that reads nothing for a minute
//! ends the body without its last chunk: a client sees the listing as failed,
//! never as complete, and archiving, which waits for readers, is not held back
//! by a client that stalls.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::Response;
use futures::StreamExt as _;

use super::reply::Failure;
use super::routes::instant_param;
use crate::audit::AuditError;
use crate::node::Node;

/// The header of `GET /v1/audit/export` that says how many entries the log
/// holds (all of them; fewer follow when `since` is given).
pub const ENTRIES_HEADER: &str = "x-tracenet-audit-entries";
/// Bytes of JSON sent in one piece.
const PIECE: usize = 64 * 1024;
/// How long a piece waits for a client that reads nothing before the
/// listing is given up.
const STALL: Duration = Duration::from_secs(60);

/// How the entries are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One JSON array (`GET /v1/audit`).
    Array,
    /// One JSON document a line (`GET /v1/audit/export`).
    Lines,
}

/// Why a listing stopped before its end.
enum Stop {
    /// The client went away or stalled: nothing to tell it.
    Gone,
    Failed(std::io::Error),
}

impl From<AuditError> for Stop {
    fn from(e: AuditError) -> Self {
        Stop::Failed(std::io::Error::other(e.to_string()))
    }
}

/// `GET /v1/audit[?since=T]`: the entries at or after `since`, oldest first,
/// as one JSON array.
pub(super) async fn list(
    State(node): State<Node>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let since = instant_param(&q, "since", 0)?;
    stream(node, since, Shape::Array, "application/json").await
}

/// `GET /v1/audit/export[?since=T]`: the same entries as JSON Lines, the
/// log's size in [`ENTRIES_HEADER`].
pub(super) async fn export(
    State(node): State<Node>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let since = instant_param(&q, "since", 0)?;
    stream(node, since, Shape::Lines, "application/x-ndjson").await
}

async fn stream(
    node: Node,
    since: u64,
    shape: Shape,
    content_type: &'static str,
) -> Result<Response, Failure> {
    let total = node.audit().len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stopping = node.stopping();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        // False once the client is gone, or read nothing for STALL.
        let send = |item: Result<Bytes, std::io::Error>| {
            rt.block_on(tokio::time::timeout(STALL, tx.send(item)))
                .is_ok_and(|sent| sent.is_ok())
        };
        let mut piece = Vec::with_capacity(PIECE + 4096);
        if shape == Shape::Array {
            piece.push(b'[');
        }
        let (mut began, mut written) = (false, 0u64);
        let walked = node.audit().for_each(0, |e| {
            if !began {
                // The log opened and its first entry read: the reply's
                // head may go.
                began = true;
                if !send(Ok(Bytes::new())) {
                    return Err(Stop::Gone);
                }
            }
            if stopping.is_cancelled() {
                return Err(Stop::Failed(std::io::Error::other("the node is stopping")));
            }
            if e.at < since {
                return Ok(());
            }
            if shape == Shape::Array && written > 0 {
                piece.push(b',');
            }
            serde_json::to_writer(&mut piece, &e)
                .map_err(|e| Stop::Failed(std::io::Error::other(e)))?;
            if shape == Shape::Lines {
                piece.push(b'\n');
            }
            written += 1;
            if piece.len() >= PIECE {
                let full = std::mem::replace(&mut piece, Vec::with_capacity(PIECE + 4096));
                if !send(Ok(full.into())) {
                    return Err(Stop::Gone);
                }
            }
            Ok(())
        });
        match walked {
            Ok(()) => {
                if shape == Shape::Array {
                    piece.push(b']');
                }
                send(Ok(piece.into()));
            }
            Err(Stop::Gone) => {}
            Err(Stop::Failed(e)) => {
                tracing::error!(error = %e, "reading the audit log for the control API failed");
                send(Err(e));
            }
        }
    });
    // The log opened (or failed to) before the reply's head goes.
    let first = match rx.recv().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(Failure::internal(e)),
        None => {
            return Err(Failure::internal(
                "reading the audit log stopped; see the node's log",
            ));
        }
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = futures::stream::once(async move { Ok(first) })
        .chain(rest)
        .filter(|item| std::future::ready(!matches!(item, Ok(b) if b.is_empty())));
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(ENTRIES_HEADER, total)
        .body(Body::from_stream(body))
        .map_err(Failure::internal)
}
