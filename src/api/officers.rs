//! `/v1/officers`: the officer console's accounts, for `tracenet officer`
//! while the node runs (with the node stopped the CLI opens the store).
//! Every change is audited as `officer_changed`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::reply::{Failure, JsonBody, Reply, ok};
use crate::audit::{AuditKind, NewEntry};
use crate::node::Node;
use crate::node::officers::{AccountError, Officers, Role};

/// `POST /v1/officers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddOfficer {
    pub name: String,
    /// `officer`, `reviewer` or `admin`.
    pub role: Role,
}

/// What `officer remove` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removed {
    pub removed: String,
}

pub(super) fn router() -> Router<Node> {
    Router::new()
        .route("/", get(list).post(add))
        .route("/{name}/reset", post(reset))
        .route("/{name}/remove", post(remove))
}

fn failure(e: AccountError) -> Failure {
    let status = match e {
        AccountError::BadName(_) | AccountError::WeakPassword | AccountError::SamePassword => {
            StatusCode::BAD_REQUEST
        }
        AccountError::Exists(_) | AccountError::CaseOf { .. } | AccountError::LastAdmin => {
            StatusCode::CONFLICT
        }
        AccountError::NoSuchOfficer(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Failure::new(status, e.to_string())
}

/// Runs an account change off the runtime's workers (Argon2id costs tens of
/// milliseconds) and audits it, naming the officer and what changed.
async fn change<T: Serialize + Send + 'static>(
    node: Node,
    name: String,
    what: String,
    f: impl FnOnce(&Officers) -> Result<T, AccountError> + Send + 'static,
) -> Reply {
    let n = node.clone();
    let out = tokio::task::spawn_blocking(move || {
        let officers = Officers::open(n.db()).map_err(failure)?;
        let out = f(&officers).map_err(failure)?;
        let name = crate::node::officers::audited_name(name);
        n.record_local(
            AuditKind::OfficerChanged,
            NewEntry {
                officer: Some(name),
                outcome: Some(what),
                ..NewEntry::default()
            },
        )
        .map_err(Failure::internal)?;
        Ok::<T, Failure>(out)
    })
    .await
    .map_err(Failure::internal)??;
    ok(&out)
}

async fn list(State(node): State<Node>) -> Reply {
    let out = tokio::task::spawn_blocking(move || {
        Officers::open(node.db())
            .and_then(|o| o.list())
            .map_err(failure)
    })
    .await
    .map_err(Failure::internal)??;
    ok(&out)
}

async fn add(State(node): State<Node>, JsonBody(r): JsonBody<AddOfficer>) -> Reply {
    let what = format!("added as {}", r.role.word());
    change(node, r.name.clone(), what, move |o| {
        o.add(&r.name, r.role, crate::node::unix_now())
    })
    .await
}

async fn reset(State(node): State<Node>, Path(name): Path<String>) -> Reply {
    let n = name.clone();
    change(node, name, "password reset".into(), move |o| o.reset(&n)).await
}

async fn remove(State(node): State<Node>, Path(name): Path<String>) -> Reply {
    let n = name.clone();
    change(node, name, "removed".into(), move |o| {
        o.remove(&n).map(|()| Removed { removed: n.clone() })
    })
    .await
}
