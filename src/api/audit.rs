//! `GET /v1/audit` and `GET /v1/audit/export`: the audit log streamed as it is
//! read, the archive's files then the store, one entry at a time. A node whose
//! log holds millions of entries answers either with the memory of one piece
//! (64 KiB), never the whole history.
//!
//! A log that cannot be read from its start (an archive file that does not fit
//! the store, say), or whose first 64 KiB of the listing cannot be read (a
//! line cut short near the start), is a 500 with the error, as any call: the
//! reply's head goes with the first piece. Once the reply has begun, a listing ends with its last chunk only when every entry was sent:
//! an error, the node stopping, a client that reads nothing for a minute, or
//! a listing that held archiving back for ten minutes
//! ([`AuditLog::archiving_waits`](crate::audit::AuditLog::archiving_waits))
//! ends the body without it, so that a client sees the listing fail, never
//! look complete. That last chunk is HTTP/1.1's: an HTTP/1.0 reply can only
//! end by closing the connection, the same whether the listing ended or
//! failed, so both listings refuse HTTP/1.0 (505, saying to use HTTP/1.1).
//! Each is read on a thread of its own, and a listing beyond
//! [`listing::MAX_LISTINGS`] at once is refused (503): see [`super::listing`].

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{Version, header};
use axum::response::Response;

use super::listing;
use super::reply::Failure;
use super::routes::{DayEdge, instant_param, only_params};
use crate::audit::AuditError;
use crate::node::Node;

/// The header of `GET /v1/audit/export` that says how many entries the log
/// holds (all of them; fewer follow when `since` is given).
pub const ENTRIES_HEADER: &str = "x-tracenet-audit-entries";

/// The reply header of an audit listing from a log that misses entries
/// (found at the node's start: an archive file removed or renamed, entries
/// removed from the store): their numbers as inclusive ranges, `10-725,800-800`
/// ([`crate::audit::missing_header_value`], the first 16). Absent from an
/// intact log's.
pub const MISSING_HEADER: &str = "x-tracenet-audit-missing";

/// Beside [`MISSING_HEADER`]: how many gaps the log has, all of them.
pub const MISSING_GAPS_HEADER: &str = "x-tracenet-audit-missing-gaps";
/// Bytes of JSON sent in one piece.
const PIECE: usize = 64 * 1024;

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
    version: Version,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    super::reply::chunked_only(version)?;
    only_params(&q, "/v1/audit", &["since"])?;
    let since = instant_param(&q, "since", 0, DayEdge::Start)?;
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
    only_params(&q, "/v1/audit/export", &["since"])?;
    let since = instant_param(&q, "since", 0, DayEdge::Start)?;
    stream(node, since, Shape::Lines, "application/x-ndjson").await
}

async fn stream(
    node: Node,
    since: u64,
    shape: Shape,
    content_type: &'static str,
) -> Result<Response, Failure> {
    // The entries the log holds: its length less those it misses.
    let total = node.audit().len().saturating_sub(
        node.audit()
            .missing()
            .iter()
            .map(|(a, b)| b.saturating_sub(*a).saturating_add(1))
            .sum(),
    );
    let gaps = node.audit().missing().len();
    let missing = crate::audit::missing_header_value(node.audit().missing());
    let stopping = node.stopping();
    let body = listing::start("audit log", stopping.clone(), move |sink| {
        let mut piece = Vec::with_capacity(PIECE + 4096);
        if shape == Shape::Array {
            piece.push(b'[');
        }
        // The reply's head goes with the first full piece (or the whole
        // listing, when shorter): an error met before, such as an archived
        // line cut short near the start, is a 500 naming the file and line
        // rather than a 200 whose body breaks off empty.
        let mut written = 0u64;
        let audit = node.audit();
        let walked = audit.for_each(since, |e| {
            if stopping.is_cancelled() {
                return Err(Stop::Failed(std::io::Error::other("the node is stopping")));
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
                if !sink.send(full.into()) {
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
                if sink.send(piece.into()) {
                    sink.end();
                }
            }
            Err(Stop::Gone) => {}
            Err(Stop::Failed(e)) => {
                tracing::error!(error = %e, "reading the audit log for the control API failed");
                sink.fail(e);
            }
        }
    })
    .await?;
    let mut reply = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(ENTRIES_HEADER, total);
    if let Some(v) = missing {
        reply = reply
            .header(MISSING_HEADER, v)
            .header(MISSING_GAPS_HEADER, gaps);
    }
    reply
        .body(Body::from_stream(body))
        .map_err(Failure::internal)
}
