//! The API's endpoints. Each maps JSON to a node call; errors become a JSON
//! `{"error": ...}` with a fitting status.

// A `Reply` is built once per request and moved out; boxing it would only add
// an allocation to every error path.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::views::{TraceView, trace_view};
use super::{Reply, error_reply, json_reply};
use crate::model::{Calibre, Date, WeaponCategory};
use crate::node::{self, LocalCase, NewTrace, Node, NodeError, TraceStatus};
use crate::protocol::{IntendedUse, LegalGround, Priority};
use crate::registry::{self, FindQuery, ImportFormat, ImportOptions, RecordId};

/// `POST /v1/traces`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    pub maker: String,
    pub country: String,
    pub serial: String,
    #[serde(default)]
    pub imports: Vec<String>,
    pub category: String,
    #[serde(default)]
    pub calibre: Option<String>,
    pub ground: String,
    #[serde(rename = "use")]
    pub intended_use: String,
    #[serde(default)]
    pub urgent: bool,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Local case reference: stored with the trace, never sent.
    #[serde(default)]
    pub case: Option<String>,
    /// Local note: stored with the trace, never sent.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/registry/find`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindRequest {
    pub maker: Option<String>,
    pub country: Option<String>,
    pub serial: String,
    pub limit: usize,
}

/// `POST /v1/registry/import`: a file on the node's machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub file: PathBuf,
    #[serde(default)]
    pub csv: Option<bool>,
    #[serde(default)]
    pub events: Option<PathBuf>,
    #[serde(default)]
    pub strict: bool,
}

/// `POST /v1/registry/export`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub file: PathBuf,
}

/// `POST /v1/inbox/ID/approve` and `/refuse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    #[serde(default)]
    pub disclose: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// An inbox item with its query's ITI fields decoded.
fn inbox_view(node: &Node, i: &crate::node::inbox::InboxItem) -> serde_json::Value {
    let q = crate::node::decode_stored::<crate::protocol::TraceQuery>(&i.query, node.limits());
    serde_json::json!({
        "id": i.id,
        "received_at": i.received_at,
        "deadline": i.deadline,
        "reason": i.reason,
        "requester": i.requester,
        "status": i.status,
        "query": q,
    })
}

/// Parses one of a closed vocabulary written as a JSON string.
fn word<T: serde::de::DeserializeOwned>(field: &str, s: &str) -> Result<T, NodeError> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_string()))
        .map_err(|e| NodeError::BadTrace(format!("{field}: {e}")))
}

impl TraceRequest {
    /// Validates every field before anything is signed or sent.
    pub fn into_new_trace(self) -> Result<NewTrace, NodeError> {
        let bad = NodeError::BadTrace;
        if self.maker.trim().is_empty() {
            return Err(bad("--maker is empty".into()));
        }
        let marking = node::trace_marking(&self.maker, &self.country, &self.serial, &self.imports)?;
        let category = self
            .category
            .parse::<WeaponCategory>()
            .map_err(|e| bad(format!("--category: {e}")))?;
        let calibre = self
            .calibre
            .as_deref()
            .map(Calibre::parse)
            .transpose()
            .map_err(|e| bad(format!("--calibre: {e}")))?;
        Ok(NewTrace {
            marking,
            category,
            calibre,
            legal_ground: word::<LegalGround>("--ground", &self.ground)?,
            intended_use: word::<IntendedUse>("--use", &self.intended_use)?,
            priority: if self.urgent {
                Priority::Urgent
            } else {
                Priority::Routine
            },
            timeout_secs: self.timeout_secs,
            local: LocalCase {
                case: node::local_text("--case", self.case)?,
                note: node::local_text("--note", self.note)?,
            },
        })
    }
}

fn node_error(e: NodeError) -> Reply {
    let status = match &e {
        NodeError::BadTrace(_) | NodeError::Roster(_) => StatusCode::BAD_REQUEST,
        NodeError::NoSuchTrace(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_reply(status, e.to_string())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub async fn route(node: &Node, method: &Method, path: &str, query: &str, body: &[u8]) -> Reply {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&Method::GET, ["v1", "status"]) => match node.status().await {
            Ok(s) => json_reply(StatusCode::OK, &s),
            Err(e) => node_error(e),
        },
        (&Method::GET, ["v1", "peers"]) => peers(node).await,
        (&Method::POST, ["v1", "traces"]) => {
            let req: TraceRequest = match parse_json(body) {
                Ok(r) => r,
                Err(r) => return r,
            };
            let sent = match req.into_new_trace() {
                Ok(t) => node.send_trace(t).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(t) => json_reply(StatusCode::OK, &trace_view(node, &t)),
                Err(e) => node_error(e),
            }
        }
        (&Method::GET, ["v1", "traces"]) => match node.traces() {
            Ok(all) => {
                let views: Vec<TraceView> = all.iter().map(|t| trace_view(node, t)).collect();
                json_reply(StatusCode::OK, &views)
            }
            Err(e) => node_error(e),
        },
        (&Method::GET, ["v1", "traces", id]) => get_trace(node, id, query).await,
        (&Method::GET, ["v1", "traces", id, "evidence"]) => evidence(node, id),
        (&Method::POST, ["v1", "traces", id, "retry"]) => match node.retry(id).await {
            Ok(t) => json_reply(StatusCode::OK, &trace_view(node, &t)),
            Err(e) => node_error(e),
        },
        (&Method::POST, ["v1", "roster"]) => match node.install_roster(body, true).await {
            Ok(installed) => json_reply(
                StatusCode::OK,
                &serde_json::json!({"installed": installed, "version": node.members().version}),
            ),
            Err(e) => node_error(e),
        },
        (&Method::GET, ["v1", "inbox"]) => match node.inbox().list() {
            Ok(items) => {
                let views: Vec<serde_json::Value> =
                    items.iter().map(|i| inbox_view(node, i)).collect();
                json_reply(StatusCode::OK, &views)
            }
            Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (&Method::POST, ["v1", "inbox", id, action]) => {
            let req: DecideRequest = match parse_json(body) {
                Ok(r) => r,
                Err(r) => return r,
            };
            let decided = match *action {
                "approve" => {
                    let level = match req
                        .disclose
                        .as_deref()
                        .map(str::parse::<crate::node::policy::Disclosure>)
                        .transpose()
                    {
                        Ok(l) => l,
                        Err(e) => {
                            return error_reply(StatusCode::BAD_REQUEST, format!("--disclose {e}"));
                        }
                    };
                    node.decide(id, Some(level), None).await
                }
                "refuse" => {
                    let reason = match word::<crate::protocol::WithheldReason>(
                        "--reason",
                        req.reason.as_deref().unwrap_or(""),
                    ) {
                        Ok(r) => r,
                        Err(e) => return node_error(e),
                    };
                    node.decide(id, None, Some(reason)).await
                }
                other => {
                    return error_reply(
                        StatusCode::NOT_FOUND,
                        format!("no inbox action {other:?}"),
                    );
                }
            };
            match decided {
                Ok(item) => json_reply(StatusCode::OK, &inbox_view(node, &item)),
                Err(e) => node_error(e),
            }
        }
        (&Method::GET, ["v1", "report"]) => {
            let from = query_param(query, "from")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let to = query_param(query, "to")
                .and_then(|v| v.parse().ok())
                .unwrap_or(u64::MAX);
            match crate::node::report::report(node, from, to) {
                Ok(r) => json_reply(StatusCode::OK, &r),
                Err(e) => node_error(e),
            }
        }
        (&Method::GET, ["v1", "alerts"]) => match node.inbox().alerts() {
            Ok(a) => json_reply(StatusCode::OK, &a),
            Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (&Method::GET, ["v1", "audit"]) => {
            let since = query_param(query, "since")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            match node.audit().entries(since) {
                Ok(v) => json_reply(StatusCode::OK, &v),
                Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::GET, ["v1", "audit", "verify"]) => {
            match node.audit().verify(&node.public_key()) {
                Ok(r) => json_reply(StatusCode::OK, &r),
                Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (_, ["v1", "registry", ..]) => registry_route(node, method, &segs[2..], body).await,
        _ => error_reply(
            StatusCode::NOT_FOUND,
            format!("no endpoint {method} {path}"),
        ),
    }
}

/// The evidence bundle of a trace (`views::evidence_bundle`).
fn evidence(node: &Node, id: &str) -> Reply {
    let t = match node.trace(id) {
        Ok(t) => t,
        Err(e) => return node_error(e),
    };
    let bundle = match super::views::evidence_bundle(node, &t) {
        Ok(b) => b,
        Err(e) => return error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match serde_json::from_slice::<serde_json::Value>(&bundle.to_json()) {
        Ok(v) => json_reply(StatusCode::OK, &v),
        Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn peers(node: &Node) -> Reply {
    let status = match node.net().status().await {
        Ok(s) => s,
        Err(e) => return node_error(e.into()),
    };
    #[derive(Serialize)]
    struct Peer {
        peer_id: String,
        connected: bool,
        #[serde(flatten)]
        member: node::MemberInfo,
    }
    let mut out: Vec<Peer> = node
        .members()
        .by_peer
        .into_iter()
        .filter(|(p, _)| *p != node.peer_id())
        .map(|(p, m)| Peer {
            connected: status.connected.contains(&p.to_string()),
            peer_id: p.to_string(),
            member: m,
        })
        .collect();
    out.sort_by(|a, b| {
        a.member
            .state
            .cmp(&b.member.state)
            .then(a.peer_id.cmp(&b.peer_id))
    });
    json_reply(StatusCode::OK, &out)
}

/// `GET /v1/traces/ID[?wait_ms=N&answers=K]`: with `wait_ms`, waits until the
/// trace holds more than K answers or is settled, at most N milliseconds.
async fn get_trace(node: &Node, id: &str, query: &str) -> Reply {
    let wait = query_param(query, "wait_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.min(60_000)));
    let seen = query_param(query, "answers")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut changes = node.subscribe_changes();
    let until = wait.map(|w| tokio::time::Instant::now() + w);
    loop {
        let t = match node.trace(id) {
            Ok(t) => t,
            Err(e) => return node_error(e),
        };
        let settled = !matches!(
            node.status_of(&t),
            TraceStatus::Sent | TraceStatus::Acknowledged
        );
        let Some(until) = until else {
            return json_reply(StatusCode::OK, &trace_view(node, &t));
        };
        if settled || t.answers.len() > seen || tokio::time::Instant::now() >= until {
            return json_reply(StatusCode::OK, &trace_view(node, &t));
        }
        // Wakes on any trace change, and at the deadline to re-derive the status.
        let deadline_in = Duration::from_secs(t.deadline.saturating_sub(node::unix_now()))
            .max(Duration::from_millis(200));
        let next = until.min(tokio::time::Instant::now() + deadline_in);
        let _ = tokio::time::timeout_at(next, changes.changed()).await;
    }
}

async fn registry_route(node: &Node, method: &Method, segs: &[&str], body: &[u8]) -> Reply {
    let Some(reg) = node.registry().cloned() else {
        return error_reply(
            StatusCode::BAD_REQUEST,
            "a bootstrap node holds no registry",
        );
    };
    let result: Result<serde_json::Value, Reply> = match (method, segs) {
        (&Method::GET, ["stats"]) => {
            blocking(move || Ok(to_value(reg.stats(Date::today())?))).await
        }
        (&Method::GET, ["prefixes"]) => {
            blocking(move || {
                let p: Vec<(String, u64)> = reg
                    .prefixes()?
                    .into_iter()
                    .map(|(p, n)| (p.to_string(), n))
                    .collect();
                let i: Vec<(String, u64)> = reg
                    .import_countries()?
                    .into_iter()
                    .map(|(c, n)| (c.to_string(), n))
                    .collect();
                Ok(serde_json::json!({"prefixes": p, "import_countries": i}))
            })
            .await
        }
        (&Method::GET, ["records", id]) => {
            let id = match RecordId::parse(id) {
                Ok(id) => id,
                Err(e) => return error_reply(StatusCode::BAD_REQUEST, e),
            };
            match blocking(move || Ok(to_value(reg.get(&id)?))).await {
                Ok(serde_json::Value::Null) => {
                    Err(error_reply(StatusCode::NOT_FOUND, "no such record"))
                }
                other => other,
            }
        }
        (&Method::POST, ["find"]) => match parse_json::<FindRequest>(body) {
            Ok(f) => {
                let country = match f
                    .country
                    .as_deref()
                    .map(crate::model::CountryCode::parse)
                    .transpose()
                {
                    Ok(c) => c,
                    Err(e) => return error_reply(StatusCode::BAD_REQUEST, e.to_string()),
                };
                let q = FindQuery {
                    maker: f.maker,
                    country,
                    serial: f.serial,
                    limit: f.limit.min(1000),
                };
                blocking(move || Ok(to_value(reg.find(&q)?))).await
            }
            Err(r) => Err(r),
        },
        (&Method::POST, ["import"]) => match parse_json::<ImportRequest>(body) {
            Ok(r) => {
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
                let out = tokio::task::spawn_blocking(move || {
                    registry::import::import_file(&reg, &r.file, &opts, &mut |_| {})
                })
                .await;
                match out {
                    Ok(Ok(summary)) => {
                        // The registry may hold new prefixes: follow them.
                        if let Err(e) = node.refresh_topics().await {
                            tracing::warn!(error = %e, "refreshing topics after import failed");
                        }
                        Ok(to_value(summary))
                    }
                    Ok(Err(e)) => Err(error_reply(StatusCode::BAD_REQUEST, e.to_string())),
                    Err(e) => Err(error_reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        e.to_string(),
                    )),
                }
            }
            Err(r) => Err(r),
        },
        (&Method::POST, ["export"]) => match parse_json::<ExportRequest>(body) {
            Ok(r) => {
                blocking(move || {
                    let f =
                        std::fs::File::create(&r.file).map_err(registry::RegistryError::Write)?;
                    let n = reg.export(&mut std::io::BufWriter::new(f))?;
                    Ok(serde_json::json!({"file": r.file, "records": n}))
                })
                .await
            }
            Err(r) => Err(r),
        },
        _ => Err(error_reply(
            StatusCode::NOT_FOUND,
            "no such registry endpoint",
        )),
    };
    match result {
        Ok(v) => json_reply(StatusCode::OK, &v),
        Err(r) => r,
    }
}

fn to_value<T: Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

async fn blocking(
    f: impl FnOnce() -> Result<serde_json::Value, registry::RegistryError> + Send + 'static,
) -> Result<serde_json::Value, Reply> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error_reply(StatusCode::BAD_REQUEST, e.to_string())),
        Err(e) => Err(error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
}
