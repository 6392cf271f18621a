//! `/v1/registry/...`: the national register through the running node, for
//! registry commands while the node holds the sled database. Reads and writes
//! run on blocking threads.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Serialize;

use super::reply::{Failure, JsonBody, Reply, ok};
use super::routes::{ExportRequest, FindRequest, ImportRequest};
use crate::model::Date;
use crate::node::Node;
use crate::registry::{self, FindQuery, ImportFormat, ImportOptions, RecordId, Registry};

pub(super) fn router() -> Router<Node> {
    Router::new()
        .route("/stats", get(stats))
        .route("/prefixes", get(prefixes))
        .route("/records/{id}", get(record))
        .route("/find", post(find))
        .route("/import", post(import))
        .route("/export", post(export))
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "no such registry endpoint") })
}

fn registry_of(node: &Node) -> Result<Arc<Registry>, Failure> {
    node.registry()
        .cloned()
        .ok_or_else(|| Failure::bad_request("a bootstrap node holds no registry"))
}

async fn stats(State(node): State<Node>) -> Reply {
    let reg = registry_of(&node)?;
    ok(&blocking(move || reg.stats(Date::today())).await?)
}

async fn prefixes(State(node): State<Node>) -> Reply {
    let reg = registry_of(&node)?;
    let v = blocking(move || reg.holdings()).await?;
    ok(&v)
}

async fn record(State(node): State<Node>, Path(id): Path<String>) -> Reply {
    let reg = registry_of(&node)?;
    let id = RecordId::parse(&id).map_err(Failure::bad_request)?;
    match blocking(move || reg.get(&id)).await? {
        Some(r) => ok(&r),
        None => Err(Failure::new(StatusCode::NOT_FOUND, "no such record")),
    }
}

async fn find(State(node): State<Node>, JsonBody(f): JsonBody<FindRequest>) -> Reply {
    let reg = registry_of(&node)?;
    let country = f
        .country
        .as_deref()
        .map(crate::model::CountryCode::parse)
        .transpose()
        .map_err(|e| Failure::bad_request(e.to_string()))?;
    let q = FindQuery {
        maker: f.maker,
        country,
        serial: f.serial,
        limit: f.limit.min(1000),
    };
    ok(&blocking(move || reg.find(&q)).await?)
}

async fn import(State(node): State<Node>, JsonBody(r): JsonBody<ImportRequest>) -> Reply {
    let reg = registry_of(&node)?;
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
        ..ImportOptions::default()
    };
    let summary =
        blocking(move || registry::import::import_file(&reg, &r.file, &opts, &mut |_| {})).await?;
    // The registry may hold new prefixes: follow them.
    if let Err(e) = node.refresh_topics().await {
        tracing::warn!(error = %e, "refreshing topics after import failed");
    }
    ok(&summary)
}

async fn export(State(node): State<Node>, JsonBody(r): JsonBody<ExportRequest>) -> Reply {
    let reg = registry_of(&node)?;
    let v = blocking(move || {
        let f = std::fs::File::create(&r.file).map_err(registry::RegistryError::Write)?;
        let n = reg.export(&mut std::io::BufWriter::new(f))?;
        Ok::<_, registry::RegistryError>(serde_json::json!({"file": r.file, "records": n}))
    })
    .await?;
    ok(&v)
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
