//! `/v1/registry/...`: the national register through the running node, for
//! registry commands while the node holds the sled database. Reads and writes
//! run on blocking threads. An import reads regular files only, bounded as the
//! node's configuration says, and stops when the node stops; an export streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;

use super::listing;
use super::reply::{Failure, JsonBody, Reply, ok};
use super::routes::{FindRequest, ImportRequest, RemoveRequest};
use crate::audit::AuditKind;
use crate::model::Date;
use crate::node::Node;
use crate::registry::{
    self, FindQuery, ImportError, ImportFormat, ImportOptions, RecordId, Registry, SourceOptions,
};

/// The header of `GET /v1/registry/export` that says how many records follow.
pub const RECORDS_HEADER: &str = "x-tracenet-records";
/// Bytes of JSON Lines sent in one piece of an export.
const EXPORT_PIECE: usize = 64 * 1024;

pub(super) fn router() -> Router<Node> {
    Router::new()
        .route("/stats", get(stats))
        .route("/prefixes", get(prefixes))
        .route("/records/{id}", get(record))
        .route("/find", post(find))
        .route("/import", post(import))
        .route("/remove", post(remove))
        .route("/export", get(export_stream))
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "no such registry endpoint") })
}

fn registry_of(node: &Node) -> Result<Arc<Registry>, Failure> {
    node.registry()
        .cloned()
        .ok_or_else(|| Failure::bad_request("a bootstrap node holds no registry"))
}

async fn stats(State(node): State<Node>) -> Reply {
    let reg = registry_of(&node)?;
    // Reads every record: a long job.
    ok(&long(&node, move || reg.stats(Date::today())).await?)
}

async fn prefixes(State(node): State<Node>) -> Reply {
    let reg = registry_of(&node)?;
    let v = blocking(move || reg.holdings()).await?;
    ok(&v)
}

async fn record(State(node): State<Node>, Path(id): Path<String>) -> Reply {
    let reg = registry_of(&node)?;
    let id = RecordId::parse(&id).map_err(Failure::bad_request)?;
    let shown = id.as_str().to_string();
    match blocking(move || reg.get(&id)).await? {
        Some(r) => ok(&r),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!(
                "no record {shown} in this registry; `tracenet registry find` (POST /v1/registry/find) searches by marking"
            ),
        )),
    }
}

async fn find(State(node): State<Node>, JsonBody(f): JsonBody<FindRequest>) -> Reply {
    let reg = registry_of(&node)?;
    if !(1..=super::routes::MAX_FIND_LIMIT).contains(&f.limit) {
        return Err(Failure::bad_request(format!(
            "limit: {} candidates asked; give 1 to {}",
            f.limit,
            super::routes::MAX_FIND_LIMIT
        )));
    }
    let country = f
        .country
        .as_deref()
        .map(crate::model::CountryCode::parse)
        .transpose()
        .map_err(|e| Failure::bad_request(e.to_string()))?;
    let q = FindQuery {
        maker: f.maker,
        country,
        factory_code: f.factory_code,
        serial: f.serial,
        limit: f.limit,
        hide_confidential: false,
    };
    ok(&blocking(move || reg.find(&q)).await?)
}

/// Sets its flag when dropped: an import whose call is dropped (the client
/// went away, the runtime is stopping) stops at its next read.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn import(State(node): State<Node>, JsonBody(r): JsonBody<ImportRequest>) -> Reply {
    let reg = registry_of(&node)?;
    let bad = |e: String| Failure::bad_request(e);
    // A relative path would be read from the node's working directory, not
    // the client's: a file of the same name there was imported instead.
    for (field, path) in [("file", Some(&r.file)), ("events", r.events.as_ref())] {
        if let Some(p) = path
            && !p.is_absolute()
        {
            return Err(bad(format!(
                "\"{field}\": {} is a relative path; give its absolute path on the node's machine (the node does not know the client's working directory)",
                p.display()
            )));
        }
        // `/dev/stdin`, `/dev/fd/N`, `/proc/self/...` name the node's own
        // descriptors, not the client's: a node started with its standard
        // input from a file imported that file for a client that meant its
        // own (a re-check).
        if let Some(p) = path
            && crate::model::target::names_a_descriptor(p)
        {
            return Err(bad(format!(
                "\"{field}\": {} names the node's own descriptors, not the client's; give the absolute path of a regular file",
                p.display()
            )));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let opts = ImportOptions {
        format: r.csv.map(|c| {
            if c {
                ImportFormat::Csv
            } else {
                ImportFormat::JsonLines
            }
        }),
        events_csv: r.events,
        strict: r.strict,
        replace: r.replace,
        delimiter: r
            .delimiter
            .as_deref()
            .map(registry::import::parse_delimiter)
            .transpose()
            .map_err(bad)?,
        max_line_bytes: node.max_line_bytes(),
        source: SourceOptions {
            encoding: r
                .encoding
                .as_deref()
                .map(registry::source::encoding)
                .transpose()
                .map_err(bad)?,
            // A FIFO or a device may never end: the node reads files only.
            regular_only: true,
            stop: Some(stop.clone()),
            // Its own keys and token are not a client's to read.
            refuse_under: Some(node.data_dir().to_path_buf()),
        },
    };
    let _guard = StopOnDrop(stop.clone());
    let stopping = node.stopping();
    let file = r.file;
    tracing::info!(file = %file.display(), replace = opts.replace, "registry import started");
    let work = node.long_job(move || {
        let done = registry::import::import_file(&reg, &file, &opts, &mut |_| {});
        let file = file.display();
        match &done {
            Ok(s) => tracing::info!(%file, counts = %s.counts_text(), "registry import finished"),
            Err(ImportError::Stopped { written, .. }) => {
                tracing::info!(%file, written, "registry import stopped")
            }
            Err(e) => tracing::info!(%file, error = %e, "registry import refused"),
        }
        done
    });
    // Tracked, so that shutdown waits (briefly) for the answer saying it stopped.
    let summary = node
        .track(async move {
            tokio::pin!(work);
            tokio::select! {
                done = &mut work => done,
                _ = stopping.cancelled() => {
                    stop.store(true, Ordering::Relaxed);
                    work.await
                }
            }
        })
        .await
        .map_err(Failure::internal)?;
    let kind = if r.replace {
        AuditKind::RegistryReplaced
    } else {
        AuditKind::RegistryImported
    };
    // Records written before the import failed are a change of the
    // registry like any other: audited, with why it is incomplete.
    if let Err(e) = &summary
        && e.wrote_records()
    {
        node.audit_registry_change(kind, format!("incomplete: {e}"))
            .await
            .map_err(Failure::internal)?;
        if let Err(e) = node.refresh_topics().await {
            tracing::warn!(error = %e, "refreshing topics after an incomplete import failed");
        }
    }
    let summary = summary.map_err(|e| match e {
        ImportError::Stopped { .. } => Failure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        ImportError::ChangedWhileRead { .. } => Failure::new(StatusCode::CONFLICT, e.to_string()),
        ImportError::Strict {
            ref listed, count, ..
        }
        | ImportError::ReplaceRefused {
            ref listed, count, ..
        } => Failure {
            rejections: listed.clone(),
            rejected: Some(count),
            ..Failure::bad_request(e.to_string())
        },
        e => Failure::bad_request(e.to_string()),
    })?;
    node.audit_registry_change(kind, summary.counts_text())
        .await
        .map_err(Failure::internal)?;
    // The registry may hold new prefixes, or fewer: follow them.
    if let Err(e) = node.refresh_topics().await {
        tracing::warn!(error = %e, "refreshing topics after import failed");
    }
    ok(&summary)
}

async fn remove(State(node): State<Node>, JsonBody(r): JsonBody<RemoveRequest>) -> Reply {
    let reg = registry_of(&node)?;
    let ids = r
        .ids
        .iter()
        .map(|i| RecordId::parse(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::bad_request)?;
    if ids.is_empty() {
        return Err(Failure::bad_request("no record id given"));
    }
    let removed = blocking(move || reg.remove(&ids)).await?;
    node.audit_registry_change(AuditKind::RecordsRemoved, format!("removed {removed}"))
        .await
        .map_err(Failure::internal)?;
    if let Err(e) = node.refresh_topics().await {
        tracing::warn!(error = %e, "refreshing topics after a removal failed");
    }
    ok(&serde_json::json!({"removed": removed}))
}

/// `GET /v1/registry/export`: every record as JSON Lines, streamed as it is
/// read (the count first, in the `x-tracenet-records` header), on a thread
/// of its own ([`listing`]: 503 when too many listings stream already). The
/// body ends with its last chunk only when every record was sent: an error,
/// the node stopping or a client that read nothing for a minute ends it
/// without, so that a client sees an incomplete export as failed, never as
/// complete.
async fn export_stream(
    State(node): State<Node>,
    version: axum::http::Version,
) -> Result<Response, Failure> {
    super::reply::chunked_only(version)?;
    let reg = registry_of(&node)?;
    // One counter read, not a scan.
    let total = reg.len().map_err(Failure::internal)?;
    let stopping = node.stopping();
    let body = listing::start("registry export", stopping.clone(), move |sink| {
        // The head goes at once: the count is known.
        if !sink.send(Bytes::new()) {
            return;
        }
        let mut piece = Vec::with_capacity(EXPORT_PIECE + 4096);
        for rec in reg.records() {
            if stopping.is_cancelled() {
                sink.fail(std::io::Error::other("the node is stopping"));
                return;
            }
            let line = rec
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| serde_json::to_writer(&mut piece, &r).map_err(std::io::Error::from));
            if let Err(e) = line {
                tracing::error!(error = %e, "registry export through the API failed");
                sink.fail(e);
                return;
            }
            piece.push(b'\n');
            if piece.len() >= EXPORT_PIECE {
                let full = std::mem::replace(&mut piece, Vec::with_capacity(EXPORT_PIECE + 4096));
                // The client went away or stalled: stop reading.
                if !sink.send(full.into()) {
                    return;
                }
            }
        }
        if sink.send(piece.into()) {
            sink.end();
        }
    })
    .await?;
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(RECORDS_HEADER, total)
        .body(Body::from_stream(body))
        .map_err(Failure::internal)
}

/// Runs registry work that reads the whole registry as one of the node's
/// long jobs ([`Node::long_job`]); its errors are the caller's (400).
async fn long<T: Serialize + Send + 'static, E: std::fmt::Display + Send + 'static>(
    node: &Node,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Failure> {
    match node.long_job(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::bad_request(e.to_string())),
        Err(e) => Err(Failure::internal(e)),
    }
}

/// Runs registry work on a blocking thread; its errors are the caller's (400).
async fn blocking<T: Serialize + Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::bad_request(e.to_string())),
        Err(e) => Err(Failure::internal(e)),
    }
}
