//! `GET /v1/audit` and `GET /v1/audit/export`: the audit log streamed as it is
//! read, the archive's files then the store, one entry at a time. A node whose
//! log holds millions of entries answers either with the memory of one piece
//! (64 KiB), never the whole history.
//!
//! A log that cannot be read from its start (an archive file that does not fit
//! the store, say) is a 500 with the error, as any call. Once the reply has
//! begun, a listing ends with its last chunk only when every entry was sent:
//! an error, the node stopping, a client that reads nothing for a minute, or
//! a listing that held archiving back for ten minutes
//! ([`AuditLog::archiving_waits`](crate::audit::AuditLog::archiving_waits))
//! ends the body without it, so that a client sees the listing fail, never
//! look complete. That last chunk is HTTP/1.1's: an HTTP/1.0 reply can only
//! end by closing the connection, the same whether the listing ended or
//! failed, so both listings refuse HTTP/1.0 (505, saying to use HTTP/1.1).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{Version, header};
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

/// What the reading thread hands the reply: a piece of the listing, or its
/// end, sent only after the last piece went.
enum Item {
    Piece(Bytes),
    End,
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
    version: Version,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    super::reply::chunked_only(version)?;
    let since = instant_param(&q, "since", 0)?;
    stream(node, since, Shape::Array, "application/json").await
}

/// `GET /v1/audit/export[?since=T]`: the same entries as JSON Lines, the
/// log's size in [`ENTRIES_HEADER`].
pub(super) async fn export(
    State(node): State<Node>,
    version: Version,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    super::reply::chunked_only(version)?;
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
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Item, std::io::Error>>(4);
    let stopping = node.stopping();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        // False once the client is gone, or read nothing for STALL.
        let send = |item: Result<Item, std::io::Error>| {
            rt.block_on(tokio::time::timeout(STALL, tx.send(item)))
                .is_ok_and(|sent| sent.is_ok())
        };
        let mut piece = Vec::with_capacity(PIECE + 4096);
        if shape == Shape::Array {
            piece.push(b'[');
        }
        let (mut began, mut written) = (false, 0u64);
        let audit = node.audit();
        let walked = audit.for_each(0, |e| {
            if !began {
                // The log opened and its first entry read: the reply's
                // head may go.
                began = true;
                if !send(Ok(Item::Piece(Bytes::new()))) {
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
                if audit.archiving_waits() {
                    return Err(Stop::Failed(std::io::Error::other(
                        "the listing held back the archiving of the oldest entries for ten minutes and gave way",
                    )));
                }
                let full = std::mem::replace(&mut piece, Vec::with_capacity(PIECE + 4096));
                if !send(Ok(Item::Piece(full.into()))) {
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
                if send(Ok(Item::Piece(piece.into()))) {
                    send(Ok(Item::End));
                }
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
        Some(Ok(Item::Piece(b))) => b,
        Some(Ok(Item::End)) => Bytes::new(),
        Some(Err(e)) => return Err(Failure::internal(e)),
        None => {
            return Err(Failure::internal(
                "reading the audit log stopped; see the node's log",
            ));
        }
    };
    let body = pieces(first, rx);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(ENTRIES_HEADER, total)
        .body(Body::from_stream(body))
        .map_err(Failure::internal)
}

/// The reply's body: `first`, then the pieces from `rx` until its end. A
/// channel closed before the end (the reading thread stopped or gave up)
/// or an error yields an error, so the body ends without its last chunk.
fn pieces(
    first: Bytes,
    rx: tokio::sync::mpsc::Receiver<Result<Item, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let rest = futures::stream::unfold((rx, false), |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        match rx.recv().await {
            Some(Ok(Item::Piece(b))) => Some((Ok(b), (rx, false))),
            Some(Ok(Item::End)) => None,
            Some(Err(e)) => Some((Err(e), (rx, true))),
            None => Some((
                Err(std::io::Error::other(
                    "the audit listing stopped before its end; see the node's log",
                )),
                (rx, true),
            )),
        }
    });
    futures::stream::once(async move { Ok(first) })
        .chain(rest)
        .filter(|item| std::future::ready(!matches!(item, Ok(b) if b.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(items: Vec<Result<Item, std::io::Error>>) -> Vec<Result<Vec<u8>, String>> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        for i in items {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        pieces(Bytes::from_static(b"["), rx)
            .map(|r| r.map(|b| b.to_vec()).map_err(|e| e.to_string()))
            .collect()
            .await
    }

    /// Only a listing whose reading thread said it ended ends cleanly: one
    /// that stopped (a stalled client given up, the thread gone) or failed
    /// ends with an error, which the HTTP layer turns into a body without
    /// its last chunk.
    #[tokio::test]
    async fn a_listing_ends_cleanly_only_when_its_end_was_sent() {
        let whole = body(vec![
            Ok(Item::Piece(Bytes::from_static(b"1"))),
            Ok(Item::Piece(Bytes::new())),
            Ok(Item::Piece(Bytes::from_static(b"]"))),
            Ok(Item::End),
        ])
        .await;
        assert_eq!(
            whole,
            vec![Ok(b"[".to_vec()), Ok(b"1".to_vec()), Ok(b"]".to_vec())]
        );
        let stopped = body(vec![Ok(Item::Piece(Bytes::from_static(b"1")))]).await;
        assert_eq!(stopped.len(), 3, "{stopped:?}");
        assert!(
            stopped[2]
                .as_ref()
                .is_err_and(|e| e.contains("before its end"))
        );
        let failed = body(vec![
            Err(std::io::Error::other("an archive file vanished")),
            Ok(Item::End),
        ])
        .await;
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed[1].as_ref().is_err_and(|e| e.contains("vanished")));
    }
}
