//! The API's endpoints on an axum `Router`. Each handler maps JSON to a node
//! call; a failure is a `{"error": ...}` with the status `reply::status_of`
//! gives the node's error. The request bodies are public: the CLI sends them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::reply::{self, Failure, MAX_BODY, RawBody, Reply, ok};
use super::views::{TraceView, trace_view};
use crate::model::{Calibre, WeaponCategory};
use crate::node::{
    self, LocalCase, NewTrace, Node, NodeError, TraceFault, TraceField, TraceStatus,
};
use crate::protocol::{IntendedUse, LegalGround, Priority};

/// A JSON `null` read as the field left out: every field of a trace may be
/// `null`, as its optional ones always could (a helper's trial: `"maker":
/// null` was a 400 where leaving it out was not).
fn null_is_absent<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `POST /v1/traces`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// As marked; may be empty (or absent) when `factory_code` is given.
    #[serde(default, deserialize_with = "null_is_absent")]
    pub maker: String,
    /// Required, as are `serial`, `category`, `ground` and `use`: each is
    /// read absent as empty, so that [`TraceRequest::into_new_trace`]
    /// names it in a [`TraceFault`] as it names a wrong one.
    #[serde(default, deserialize_with = "null_is_absent")]
    pub country: String,
    /// A factory code as marked instead of (or beside) the maker's name
    /// (ITI para 8(a)): `/66\`, `△66`, `66`.
    #[serde(default, deserialize_with = "null_is_absent")]
    pub factory_code: Option<String>,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub serial: String,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub imports: Vec<String>,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub category: String,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub calibre: Option<String>,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub ground: String,
    #[serde(rename = "use", default, deserialize_with = "null_is_absent")]
    pub intended_use: String,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub urgent: bool,
    #[serde(default, deserialize_with = "null_is_absent")]
    pub timeout_secs: Option<u64>,
    /// Local case reference: stored with the trace, never sent.
    #[serde(default, deserialize_with = "null_is_absent")]
    pub case: Option<String>,
    /// Local note: stored with the trace, never sent.
    #[serde(default, deserialize_with = "null_is_absent")]
    pub note: Option<String>,
    /// Send even if the maker reference table does not know the maker as one
    /// of `country` (`--force`).
    #[serde(default, deserialize_with = "null_is_absent")]
    pub force: bool,
    /// A blind trace (proto-docs/BLIND.md): the marking goes only to the
    /// holders whose keyed filter it hits. Absent: the node's
    /// `node.blind_by_default`. The console's "confidential trace".
    #[serde(default, deserialize_with = "null_is_absent")]
    pub blind: Option<bool>,
}

/// `POST /v1/registry/find`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindRequest {
    pub maker: Option<String>,
    pub country: Option<String>,
    /// As marked (`/66\`, `66`).
    #[serde(default)]
    pub factory_code: Option<String>,
    pub serial: String,
    /// Candidates at most, best first: 1 to [`MAX_FIND_LIMIT`]; absent, 20.
    #[serde(default = "default_find_limit")]
    pub limit: usize,
}

/// The most candidates `POST /v1/registry/find` returns.
pub const MAX_FIND_LIMIT: usize = 1000;

fn default_find_limit() -> usize {
    20
}

/// `POST /v1/registry/import`: a regular file on the node's machine.
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
    /// Make the registry hold exactly the file's records (`--replace`).
    #[serde(default)]
    pub replace: bool,
    /// The CSV separator, one character or `tab`; default: from the header.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// The files' encoding (`windows-1252`, ...); default UTF-8.
    #[serde(default)]
    pub encoding: Option<String>,
}

/// `POST /v1/registry/remove`: records to remove, all or none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveRequest {
    pub ids: Vec<String>,
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

impl DecideRequest {
    /// The level `disclose` asks for, if any; `Err` says why the word is
    /// none (it names no field: the CLI and the API name theirs).
    pub fn disclosure(&self) -> Result<Option<crate::node::policy::Disclosure>, String> {
        self.disclose.as_deref().map(str::parse).transpose()
    }

    /// The refusal's reason code (ITI para 20); `Err` says why the word is
    /// none, naming no field.
    pub fn withheld_reason(&self) -> Result<crate::protocol::WithheldReason, String> {
        use crate::protocol::WithheldReason;
        crate::protocol::one_of(self.reason.as_deref().unwrap_or(""), WithheldReason::ALL)
    }
}

/// serde_json's message without its " at line 1 column 149": a request
/// body is one line, and the field is named beside it.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Parses one of a closed vocabulary written as a JSON string.
fn word<T: serde::de::DeserializeOwned + Serialize + Copy>(
    field: TraceField,
    s: &str,
    all: &[T],
) -> Result<T, NodeError> {
    crate::protocol::one_of(s, all).map_err(|e| NodeError::BadTrace(TraceFault::of(field, e)))
}

impl TraceRequest {
    /// Reads `POST /v1/traces`'s body. A value of the wrong JSON type
    /// (`"timeout_secs": "10"`, `"imports": "NG"`) is a [`TraceFault`] of
    /// its field, as a wrong value is; an unknown field, or a body that is
    /// not one JSON object, a fault of the request as a whole.
    pub fn from_json(body: &[u8]) -> Result<TraceRequest, NodeError> {
        // A byte order mark some tools write is not part of the JSON.
        let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        // serde reads a struct from an array too, by position: not a form
        // API.md gives.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(NodeError::BadTrace(TraceFault::whole(
                "request body: a JSON object is expected (API.md, POST /v1/traces)",
            )));
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let req = serde_path_to_error::deserialize::<_, TraceRequest>(&mut de).map_err(|e| {
            let field = e.path().iter().next().and_then(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => TraceField::from_json_name(key),
                _ => None,
            });
            let inner = e.into_inner();
            let why = without_position(&inner);
            // A body cut short is not its last field's fault.
            let field = field.filter(|_| !inner.is_eof());
            NodeError::BadTrace(match field {
                Some(f) => TraceFault::of(f, why),
                None => TraceFault::whole(format!("request body: {why}")),
            })
        })?;
        de.end().map_err(|e| {
            NodeError::BadTrace(TraceFault::whole(format!(
                "request body: more follows the JSON object ({})",
                without_position(&e)
            )))
        })?;
        Ok(req)
    }

    /// Validates every field before anything is signed or sent.
    pub fn into_new_trace(self) -> Result<NewTrace, NodeError> {
        let bad = |f: TraceField, e: String| NodeError::BadTrace(TraceFault::of(f, e));
        if let Some(t) = self.timeout_secs
            && !(1..=node::MAX_TRACE_TIMEOUT_SECS).contains(&t)
        {
            return Err(bad(
                TraceField::TimeoutSecs,
                format!(
                    "{t} s is out of range: give 1 to {} seconds (7 days), or none for node.trace_timeout_secs",
                    node::MAX_TRACE_TIMEOUT_SECS
                ),
            ));
        }
        let code = self
            .factory_code
            .as_deref()
            .filter(|c| !c.trim().is_empty());
        if self.maker.trim().is_empty() && code.is_none() {
            return Err(NodeError::BadTrace(TraceFault::no_maker()));
        }
        for (given, field, what) in [
            (
                &self.country,
                TraceField::Country,
                "the country of manufacture as marked, two letters (ISO 3166)",
            ),
            (&self.serial, TraceField::Serial, "the serial as marked"),
            (
                &self.category,
                TraceField::Category,
                "the weapon's category",
            ),
        ] {
            if given.trim().is_empty() {
                return Err(bad(field, format!("required: {what}")));
            }
        }
        let marking = node::trace_marking(
            &self.maker,
            &self.country,
            &self.serial,
            code,
            &self.imports,
        )?;
        let category = self
            .category
            .parse::<WeaponCategory>()
            .map_err(|e| bad(TraceField::Category, e.to_string()))?;
        let calibre = self
            .calibre
            .as_deref()
            .map(Calibre::parse)
            .transpose()
            .map_err(|e| bad(TraceField::Calibre, e.to_string()))?;
        // What enters a trace, as what enters a registry (`Record::check_new`).
        let unreadable = calibre.as_ref().and_then(|c| {
            c.as_str()
                .chars()
                .find(|c| crate::marking::is_not_readable(*c))
        });
        if let Some(c) = unreadable {
            return Err(bad(
                TraceField::Calibre,
                format!(
                    "it holds U+{:04X}, {}",
                    c as u32,
                    crate::marking::not_readable_words(c as u32)
                ),
            ));
        }
        Ok(NewTrace {
            marking,
            category,
            calibre,
            legal_ground: word(TraceField::Ground, &self.ground, LegalGround::ALL)?,
            intended_use: word(TraceField::Use, &self.intended_use, IntendedUse::ALL)?,
            priority: if self.urgent {
                Priority::Urgent
            } else {
                Priority::Routine
            },
            timeout_secs: self.timeout_secs,
            local: LocalCase {
                case: node::local_text(TraceField::Case, self.case)?,
                note: node::local_text(TraceField::Note, self.note)?,
                officer: None,
            },
            blind: self.blind.unwrap_or(false),
        })
    }
}

/// Every endpoint of proto-docs/API.md. All but `/v1/health` need the token.
pub(crate) fn router(node: Node, token: String) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/traces", get(list_traces).post(send_trace))
        .route("/v1/traces/{id}", get(get_trace))
        .route("/v1/traces/{id}/evidence", get(evidence))
        .route("/v1/traces/{id}/retry", post(retry))
        .route("/v1/traces/{id}/send-clear", post(send_clear))
        .route("/v1/roster", post(install_roster))
        .route("/v1/makers", get(makers).post(install_makers))
        .route("/v1/inbox", get(inbox))
        .route("/v1/inbox/{id}/approve", post(approve))
        .route("/v1/inbox/{id}/refuse", post(refuse))
        .route("/v1/report", get(report))
        .route("/v1/alerts", get(alerts))
        .route("/v1/audit", get(super::audit::list))
        .route("/v1/audit/export", get(super::audit::export))
        .route("/v1/audit/verify", get(audit_verify))
        .nest("/v1/registry", super::registry::router())
        .nest("/v1/officers", super::officers::router())
        .route_layer(middleware::from_fn(known_params))
        .fallback(no_endpoint)
        .layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            require_token,
        ));
    Router::new()
        .route("/v1/health", get(health))
        .route_layer(middleware::from_fn(known_params))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::map_response(reply::error_as_json))
        .with_state(node)
}

/// The query parameters an endpoint takes, by method and route (as
/// routed: `/v1/traces/{id}`; HEAD as GET); every endpoint not listed takes
/// none. `None`: not checked, for the probes of monitoring systems, which
/// may add their own (`/v1/health`, `/metrics`).
fn params_of(method: &axum::http::Method, route: &str) -> Option<&'static [&'static str]> {
    use axum::http::Method;
    let read = method == Method::GET || method == Method::HEAD;
    Some(match route {
        "/v1/health" | "/metrics" => return None,
        "/v1/traces" if read => &["limit", "cursor"],
        "/v1/traces/{id}" if read => &["wait_ms", "answers"],
        "/v1/inbox" if read => &["limit", "cursor", "pending"],
        "/v1/alerts" if read => &["limit", "cursor"],
        "/v1/report" if read => &["from", "to"],
        "/v1/audit" | "/v1/audit/export" if read => &["since"],
        _ => &[],
    })
}

/// Refuses, with a 400 naming them, query parameters the endpoint does not
/// take ([`params_of`]), on every endpoint: a misspelt one (`?lmit=3`,
/// `?pendng=true`) was read as absent, and gave another answer than the one
/// asked for without a word.
async fn known_params(req: Request, next: Next) -> Response {
    if req.uri().query().is_some_and(|q| !q.is_empty()) {
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string());
        if let Some(known) = params_of(req.method(), &route) {
            let pairs = match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
                Ok(Query(pairs)) => pairs,
                Err(e) => {
                    return Failure::bad_request(format!("the query string: {}", e.body_text()))
                        .into_response();
                }
            };
            // One value each: `?limit=3&limit=4` was read as one of them.
            let mut q = HashMap::new();
            for (k, v) in pairs {
                if q.contains_key(&k) {
                    return Failure::bad_request(format!(
                        "?{}: given twice; give it once",
                        k.chars().take(40).collect::<String>()
                    ))
                    .into_response();
                }
                q.insert(k, v);
            }
            if let Err(f) = only_params(&q, &route, known) {
                return f.into_response();
            }
        }
    }
    next.run(req).await
}

async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let authorised = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| super::same_secret(t.as_bytes(), token.as_bytes()));
    if !authorised {
        return Failure::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token; it is in the node's data directory, file api.token",
        )
        .into_response();
    }
    next.run(req).await
}

async fn no_endpoint(req: Request) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint {} {}", req.method(), req.uri().path()),
    )
}

async fn health() -> Reply {
    ok(&serde_json::json!({"ok": true}))
}

async fn metrics(State(node): State<Node>) -> Response {
    let text = super::metrics::render(&node).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn status(State(node): State<Node>) -> Reply {
    ok(&node.status().await?)
}

async fn send_trace(State(node): State<Node>, RawBody(body): RawBody) -> Reply {
    let req = TraceRequest::from_json(&body)?;
    let force = req.force;
    let blind = req.blind;
    let mut trace = req.into_new_trace()?;
    trace.blind = blind.unwrap_or_else(|| node.blind_by_default());
    // Checked here, on the node, whose table (with its local makers) folds the
    // name; the CLI's own checks run without it.
    if !force && let Some(reg) = node.registry() {
        node::check_maker(&reg.makers(), &trace.marking)?;
    }
    let t = node.send_trace(trace).await.map_err(NodeError::from)?;
    ok(&trace_view(&node.judge(), &t))
}

/// Runs store reads and the views built on them on a blocking thread, off the
/// runtime's workers (the network and other calls go on meanwhile).
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Failure::internal)?
}

/// Traces per page of `GET /v1/traces` unless `limit` says otherwise, and the most.
const TRACES_PER_PAGE: usize = 50;
const MAX_TRACES_PER_PAGE: usize = 500;

/// One page of `GET /v1/traces`: newest first; `next` is the `cursor` of the
/// following page, null on the last.
#[derive(Serialize)]
struct TracePage {
    traces: Vec<TraceView>,
    next: Option<String>,
}

/// `GET /v1/traces[?limit=N&cursor=C]`: a page of traces, newest first, read
/// through the time index (only the traces shown are read), off the
/// runtime's workers.
async fn list_traces(State(node): State<Node>, Query(q): Query<HashMap<String, String>>) -> Reply {
    let limit = match q.get("limit") {
        None => TRACES_PER_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_TRACES_PER_PAGE).contains(&n) => n,
            _ => {
                return Err(Failure::bad_request(format!(
                    "limit: {v:?} is not a number from 1 to {MAX_TRACES_PER_PAGE}"
                )));
            }
        },
    };
    let cursor = match q.get("cursor") {
        None => None,
        Some(c) => Some(node::Cursor::parse(c).ok_or_else(|| {
            Failure::bad_request(format!(
                "cursor: {c:?} is not one this node handed out (the `next` of a page of GET /v1/traces)"
            ))
        })?),
    };
    let page = off_thread(move || {
        let judge = node.judge();
        let (traces, next) = node.traces_page(cursor.as_ref(), limit)?;
        Ok(TracePage {
            traces: traces.iter().map(|t| trace_view(&judge, t)).collect(),
            next: next.map(|c| c.to_text()),
        })
    })
    .await?;
    ok(&page)
}

/// The body of `POST /v1/traces/{id}/send-clear`: `{}` for every holder
/// left to the officer, `{"state": "KE"}` for that State's only.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SendClearRequest {
    #[serde(default)]
    state: Option<crate::model::CountryCode>,
}

/// `POST /v1/traces/{id}/send-clear`: the officer chose to send a blind
/// trace's query in the clear to the holders without a filter (or whose
/// filter failed, or beyond the bound), all or one State's. An empty body
/// is `{}`.
async fn send_clear(
    State(node): State<Node>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Reply {
    let req: SendClearRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SendClearRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Failure::bad_request(format!("request body: {e}")))?
    };
    node.send_clear(&id, req.state).await?;
    let view = off_thread(move || {
        let t = node.trace(&id)?;
        Ok(trace_view(&node.judge(), &t))
    })
    .await?;
    ok(&view)
}

async fn retry(State(node): State<Node>, Path(id): Path<String>) -> Reply {
    let t = node.retry(&id).await?;
    let view = off_thread(move || Ok(trace_view(&node.judge(), &t))).await?;
    ok(&view)
}

async fn install_roster(State(node): State<Node>, RawBody(body): RawBody) -> Reply {
    let installed = node
        .install_roster(&body, true)
        .await
        .map_err(NodeError::from)?;
    // The roster may change the gossip validation the federation uses: the
    // switch comes seconds later (net::SWITCH_GRACE), so the reply says so.
    let (now, next) = node.gossip_validation_now().await;
    let mut reply = serde_json::json!({
        "installed": installed,
        "version": node.members().version,
        "gossip_validation": now,
    });
    if let Some(next) = next {
        reply["gossip_validation_next"] = serde_json::json!(next);
    }
    ok(&reply)
}

async fn makers(State(node): State<Node>) -> Reply {
    ok(&node.makers_view())
}

async fn install_makers(State(node): State<Node>, RawBody(body): RawBody) -> Reply {
    let installed = node
        .install_makers(&body, true)
        .await
        .map_err(NodeError::from)?;
    ok(&installed)
}

/// Items per page of `GET /v1/inbox` unless `limit` says otherwise, and the most.
const INBOX_PER_PAGE: usize = 100;
const MAX_INBOX_PER_PAGE: usize = 1_000;

/// One page of `GET /v1/inbox`: newest first; `next` is the `cursor` of the
/// following page, null on the last (and always with `pending=true`).
#[derive(Serialize)]
struct InboxPage {
    items: Vec<super::InboxView>,
    next: Option<String>,
}

/// `GET /v1/inbox[?limit=N&cursor=C]`: a page of the requests, pending and
/// decided, newest first, reading only those it returns (decided ones are
/// kept for good); `?pending=true`: every request waiting for a decision,
/// newest first, in one reply.
async fn inbox(State(node): State<Node>, Query(q): Query<HashMap<String, String>>) -> Reply {
    let limit = page_limit(&q, INBOX_PER_PAGE, MAX_INBOX_PER_PAGE)?;
    let cursor = page_cursor(&q, "GET /v1/inbox")?;
    let pending = match q.get("pending").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(Failure::bad_request(format!(
                "pending: {v:?} is not true or false"
            )));
        }
    };
    // Every waiting request comes in one reply: a limit or a cursor with
    // it was ignored without a word (a helper's trial).
    if pending && let Some(p) = ["limit", "cursor"].into_iter().find(|p| q.contains_key(*p)) {
        return Err(Failure::bad_request(format!(
            "{p}: not with pending=true, which returns every waiting request in one reply; leave one of them out"
        )));
    }
    let page = off_thread(move || {
        let (items, next) = if pending {
            (node.inbox().pending_items(crate::node::unix_now()), None)
        } else {
            match node.inbox().page(cursor.as_ref(), limit) {
                Ok((items, next)) => (Ok(items), next),
                Err(e) => (Err(e), None),
            }
        };
        Ok(InboxPage {
            items: items
                .map_err(Failure::internal)?
                .iter()
                .map(|i| super::inbox_view(node.limits(), i))
                .collect(),
            next: next.map(|c| c.to_text()),
        })
    })
    .await?;
    ok(&page)
}

/// A page's `limit`: `default` when absent, else a number from 1 to `most`
/// (a 400 naming it otherwise).
fn page_limit(q: &HashMap<String, String>, default: usize, most: usize) -> Result<usize, Failure> {
    match q.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=most).contains(&n) => Ok(n),
            _ => Err(Failure::bad_request(format!(
                "limit: {v:?} is not a number from 1 to {most}"
            ))),
        },
    }
}

/// A page's `cursor` of the inbox or the alerts, as `listing` handed it out
/// (a 400 naming it otherwise).
fn page_cursor(
    q: &HashMap<String, String>,
    listing: &str,
) -> Result<Option<crate::node::inbox::PageCursor>, Failure> {
    q.get("cursor")
        .map(|c| {
            crate::node::inbox::PageCursor::parse(c).ok_or_else(|| {
                Failure::bad_request(format!(
                    "cursor: {c:?} is not one this node handed out (the `next` of a page of {listing})"
                ))
            })
        })
        .transpose()
}

/// An inbox decision's body: empty is `{}` (an approval at the policy's
/// level needs nothing); a field of the other decision is refused, not
/// ignored.
fn decision(body: &[u8], other: &str) -> Result<DecideRequest, Failure> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let req: DecideRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DecideRequest::default()
    } else if body.trim_ascii_start().first() != Some(&b'{') {
        // serde reads a struct from an array by position: `["year"]` was
        // an approval disclosing the year, `[]` one at the policy's level
        // (a helper's trial). A decision is sent for good; only the form
        // API.md gives is taken.
        return Err(Failure::bad_request(
            "request body: a JSON object is expected, or none (API.md, the inbox)",
        ));
    } else {
        let mut de = serde_json::Deserializer::from_slice(body);
        let req = serde_path_to_error::deserialize::<_, DecideRequest>(&mut de).map_err(|e| {
            let at = e.path().to_string();
            let why = without_position(e.inner());
            Failure::bad_request(match at.as_str() {
                "." | "?" | "" => format!("request body: {why}"),
                field => format!("\"{field}\": {why}"),
            })
        })?;
        de.end().map_err(|e| {
            Failure::bad_request(format!(
                "request body: more follows the JSON object ({})",
                without_position(&e)
            ))
        })?;
        req
    };
    let (wrong, field) = match other {
        "refuse" => (req.reason.is_some(), "reason"),
        _ => (req.disclose.is_some(), "disclose"),
    };
    if wrong {
        return Err(Failure::bad_request(format!(
            "\"{field}\" is a field of POST /v1/inbox/ID/{other}, not of this decision"
        )));
    }
    Ok(req)
}

async fn approve(
    State(node): State<Node>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Reply {
    let req = decision(&body, "refuse")?;
    let level = req
        .disclosure()
        .map_err(|e| Failure::bad_request(format!("\"disclose\": {e}")))?;
    let item = node.decide(&id, Some(level), None, None).await?;
    ok(&super::inbox_view(node.limits(), &item))
}

async fn refuse(State(node): State<Node>, Path(id): Path<String>, RawBody(body): RawBody) -> Reply {
    let req = decision(&body, "approve")?;
    let reason = req
        .withheld_reason()
        .map_err(|e| Failure::bad_request(format!("\"reason\": {e}")))?;
    let item = node.decide(&id, None, Some(reason), None).await?;
    ok(&super::inbox_view(node.limits(), &item))
}

/// Which end of a day a query parameter given as a day (YYYY-MM-DD) stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum DayEdge {
    /// Its first second: `since`, `from`.
    Start,
    /// The first second after it (an exclusive `to`): the day is included,
    /// as the CLI's `--to` and the console's period include theirs.
    End,
}

/// Refuses query parameters other than `known` with a 400 naming them, so
/// that a misspelt one (`?frm=`) is not read as absent (the whole log).
pub(super) fn only_params(
    q: &HashMap<String, String>,
    path: &str,
    known: &[&str],
) -> Result<(), Failure> {
    let mut unknown: Vec<&str> = q
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    let shown: Vec<String> = unknown
        .iter()
        .take(3)
        .map(|k| format!("?{}", k.chars().take(40).collect::<String>()))
        .collect();
    if known.is_empty() {
        return Err(Failure::bad_request(format!(
            "{}: {path} takes no query parameters",
            shown.join(", ")
        )));
    }
    let takes: Vec<String> = known.iter().map(|k| format!("?{k}")).collect();
    let takes = match takes.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(Failure::bad_request(format!(
        "{}: not a parameter of {path}, which takes {takes}",
        shown.join(", ")
    )))
}

/// 3000-01-01T00:00:00Z in Unix seconds: the first instant after the last
/// day a [`crate::model::Date`] can hold.
const END_OF_DATES: u64 = 32_503_680_000;

/// Whether a query parameter's value is a day (YYYY-MM-DD) for
/// [`instant_param`].
fn is_day(v: &str) -> bool {
    v.len() == 10 && v.parse::<u64>().is_err() && crate::model::Date::parse(v).is_ok()
}

/// An instant query parameter: Unix seconds, an RFC 3339 time, or a day
/// (YYYY-MM-DD, UTC) as the CLI and the console take, read by `edge`; absent
/// gives `default`, anything else (a day before 1970 or a time from 3000 on
/// included) is a 400 naming the parameter.
pub(super) fn instant_param(
    q: &HashMap<String, String>,
    name: &str,
    default: u64,
    edge: DayEdge,
) -> Result<u64, Failure> {
    let Some(v) = q.get(name) else {
        return Ok(default);
    };
    let shown: String = v.chars().take(40).collect();
    if let Some(secs) = v
        .parse::<u64>()
        .ok()
        .or_else(|| crate::model::instant::parse_rfc3339(v).ok())
    {
        // Dates run to 2999 (a day past it is refused): a time past it is a
        // typing error too, shown back as 9999-12-31 when it was taken.
        if secs >= END_OF_DATES {
            return Err(Failure::bad_request(format!(
                "?{name}={shown}: after 2999-12-31, where tracenet's dates end; leave ?{name} out for no bound"
            )));
        }
        return Ok(secs);
    }
    // Written as a day but not one (2026-02-30): the day's own error.
    let day_shaped = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if day_shaped && let Err(e) = crate::model::Date::parse(v) {
        return Err(Failure::bad_request(format!("?{name}={shown}: {e}")));
    }
    if v.len() == 10
        && let Ok(day) = crate::model::Date::parse(v)
    {
        let days = day.to_days();
        if days < 0 {
            return Err(Failure::bad_request(format!(
                "?{name}={shown}: the day is before 1970-01-01, where the log's times start"
            )));
        }
        let start = days as u64 * 86_400;
        return Ok(match edge {
            DayEdge::Start => start,
            DayEdge::End => start + 86_400,
        });
    }
    Err(Failure::bad_request(format!(
        "?{name}={shown}: give a day like 2026-12-01, Unix seconds, or an RFC 3339 time like 2026-12-01T00:00:00Z"
    )))
}

async fn report(State(node): State<Node>, Query(q): Query<HashMap<String, String>>) -> Reply {
    only_params(&q, "/v1/report", &["from", "to"])?;
    let (from, to) = (
        instant_param(&q, "from", 0, DayEdge::Start)?,
        instant_param(&q, "to", u64::MAX, DayEdge::End)?,
    );
    // A day given as `to` runs to the next day's start: `from` there (the
    // day after `to`, given as a day) is after it, as the CLI and the
    // console refuse it; a time given as `to` may equal `from`.
    let to_is_day = q.get("to").is_some_and(|v| is_day(v));
    if from > to || (to_is_day && from == to) {
        return Err(Failure::bad_request(format!(
            "?from={} is after ?to={}: the period would be empty (a time given as to is excluded, a day given as to is included)",
            q.get("from")
                .map(|v| v.chars().take(40).collect::<String>())
                .unwrap_or_default(),
            q.get("to")
                .map(|v| v.chars().take(40).collect::<String>())
                .unwrap_or_default(),
        )));
    }
    let n = node.clone();
    let r = node
        .long_job(move || crate::node::report::report(&n, from, to))
        .await
        .map_err(Failure::internal)??;
    ok(&r)
}

/// Alerts per page of `GET /v1/alerts` unless `limit` says otherwise, and the most.
const ALERTS_PER_PAGE: usize = 100;
const MAX_ALERTS_PER_PAGE: usize = 1_000;

/// One page of `GET /v1/alerts`: newest first; `next` is the `cursor` of the
/// following page, null on the last.
#[derive(Serialize)]
struct AlertPage {
    alerts: Vec<crate::node::inbox::Alert>,
    next: Option<String>,
}

/// `GET /v1/alerts[?limit=N&cursor=C]`: a page of the alerts, newest first,
/// reading only the alerts it returns (they are kept for good, and another
/// State's traces add them every day).
async fn alerts(State(node): State<Node>, Query(q): Query<HashMap<String, String>>) -> Reply {
    let limit = page_limit(&q, ALERTS_PER_PAGE, MAX_ALERTS_PER_PAGE)?;
    let cursor = page_cursor(&q, "GET /v1/alerts")?;
    let page = off_thread(move || {
        let (alerts, next) = node
            .inbox()
            .alerts_page(cursor.as_ref(), limit)
            .map_err(Failure::internal)?;
        Ok(AlertPage {
            alerts,
            next: next.map(|c| c.to_text()),
        })
    })
    .await?;
    ok(&page)
}

async fn audit_verify(State(node): State<Node>) -> Reply {
    let n = node.clone();
    let r = node
        .long_job(move || n.audit().verify(&n.public_key()))
        .await
        .map_err(Failure::internal)?
        .map_err(Failure::internal)?;
    ok(&r)
}

/// The evidence bundle of a trace (`views::evidence_bundle`): the signed
/// query, every signed answer as received, and the roster versions that
/// vouched for them.
async fn evidence(State(node): State<Node>, Path(id): Path<String>) -> Reply {
    // Built, written out and read back on a blocking thread: a bundle
    // holds every signed answer, megabytes at worst.
    let v = off_thread(move || {
        let t = node.trace(&id)?;
        let bundle = super::views::evidence_bundle(&node, &t).map_err(Failure::internal)?;
        serde_json::from_slice::<serde_json::Value>(&bundle.to_json()).map_err(Failure::internal)
    })
    .await?;
    ok(&v)
}

async fn peers(State(node): State<Node>) -> Reply {
    let status = node.net().status().await.map_err(NodeError::from)?;
    #[derive(Serialize)]
    struct Peer {
        peer_id: String,
        connected: bool,
        /// Whether this node keeps a link to it (always, within the links
        /// kept: the roster's `peer_connections`, else
        /// `node.peer_connections`); one not kept is dialled when a trace
        /// asks it, so not being connected says nothing of it.
        kept: bool,
        #[serde(flatten)]
        member: node::MemberInfo,
    }
    let members = node.members();
    let mut out: Vec<Peer> = members
        .by_peer
        .iter()
        .filter(|(p, _)| **p != node.peer_id())
        .map(|(p, m)| Peer {
            connected: status.connected.contains(&p.to_string()),
            kept: !status.links_bounded || status.kept.contains(&p.to_string()),
            peer_id: p.to_string(),
            member: m.clone(),
        })
        .collect();
    out.sort_by(|a, b| {
        a.member
            .state
            .cmp(&b.member.state)
            .then(a.peer_id.cmp(&b.peer_id))
    });
    ok(&out)
}

/// Whether a waiting `GET /v1/traces/ID` replies now: trace `t` is settled
/// (no longer sent or acknowledged only), or holds more than `seen` answers.
fn moved(node: &Node, t: &node::StoredTrace, seen: usize) -> bool {
    let settled = !matches!(
        node.status_of(t),
        TraceStatus::Sent | TraceStatus::Acknowledged
    );
    settled || t.filed.len() > seen
}

/// `GET /v1/traces/ID[?wait_ms=N&answers=K]`: with `wait_ms`, waits until the
/// trace holds more than K answers or is settled, at most N milliseconds.
async fn get_trace(
    State(node): State<Node>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let number = |name: &str, most: u64| -> Result<Option<u64>, Failure> {
        q.get(name)
            .map(|v| match v.parse::<u64>() {
                Ok(n) if n <= most => Ok(n),
                // Digits past u64: a whole number all the same, cut to the
                // most (a wait past a minute is cut to it, as API.md says:
                // 20 nines were refused as "not a whole number").
                Err(e)
                    if matches!(e.kind(), std::num::IntErrorKind::PosOverflow)
                        && most == u64::MAX =>
                {
                    Ok(most)
                }
                _ => Err(Failure::bad_request(format!(
                    "{name}: {:?} is not a whole number{}",
                    v.chars().take(40).collect::<String>(),
                    if name == "wait_ms" {
                        " of milliseconds (a wait longer than 60000 is cut to it)"
                    } else {
                        ""
                    }
                ))),
            })
            .transpose()
    };
    // A longer wait is cut to a minute (API.md): the client asks again.
    let wait = number("wait_ms", u64::MAX)?.map(|ms| Duration::from_millis(ms.min(60_000)));
    let seen = number("answers", u64::from(u32::MAX))?.unwrap_or(0) as usize;
    let mut changes = node.subscribe_changes();
    let until = wait.map(|w| tokio::time::Instant::now() + w);
    loop {
        let (n, i) = (node.clone(), id.clone());
        let now = tokio::time::Instant::now();
        let give_up = until.is_none_or(|u| now >= u);
        // Woken by any trace's change: the head (with its verdicts) says
        // whether this one moved; the whole view is built only to reply.
        // The head kept in memory (every change of the trace leaves it
        // there, filing an answer once it is written) says so without a
        // hand-off to a blocking thread; one not kept is read there.
        let unmoved = if give_up {
            None
        } else {
            node.kept_trace_head(&id)
                .filter(|t| !moved(&node, t, seen))
                .map(|t| t.deadline)
        };
        let (deadline, view) = match unmoved {
            Some(deadline) => (deadline, None),
            None => {
                off_thread(move || {
                    let t = n.trace_head(&i)?;
                    let view = (give_up || moved(&n, &t, seen))
                        .then(|| n.trace(&i).map(|full| trace_view(&n.judge(), &full)))
                        .transpose()?;
                    Ok((t.deadline, view))
                })
                .await?
            }
        };
        if let Some(view) = view {
            return ok(&view);
        }
        let Some(until) = until else {
            continue;
        };
        // Wakes on any trace change, and at the deadline to re-derive the status.
        let deadline_in = Duration::from_secs(deadline.saturating_sub(node::unix_now()))
            .max(Duration::from_millis(200));
        let next = until.min(tokio::time::Instant::now() + deadline_in);
        let _ = tokio::time::timeout_at(next, changes.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(body: &str) -> TraceFault {
        let e = TraceRequest::from_json(body.as_bytes())
            .and_then(TraceRequest::into_new_trace)
            .unwrap_err();
        match e {
            NodeError::BadTrace(f) => f,
            e => panic!("{e}"),
        }
    }

    const GOOD: &str = r#""maker":"Walther","country":"DE","serial":"WP1","category":"pistol","ground":"seized_in_crime","use":"criminal_investigation""#;

    /// A value of the wrong JSON type, a required field left out and a word
    /// outside its vocabulary are each a fault of their field, as a wrong
    /// value is (a helper's trial: serde's "invalid type ... at line 1
    /// column 149" with no field, and "unknown variant").
    #[test]
    fn a_trace_body_is_faulted_by_the_field_it_gets_wrong() {
        TraceRequest::from_json(format!("{{{GOOD}}}").as_bytes())
            .unwrap()
            .into_new_trace()
            .unwrap();
        for (extra, field) in [
            (r#""timeout_secs":-5"#, TraceField::TimeoutSecs),
            (r#""timeout_secs":"10""#, TraceField::TimeoutSecs),
            (r#""imports":"NG""#, TraceField::Imports),
            (r#""imports":[1]"#, TraceField::Imports),
            (r#""blind":"yes""#, TraceField::Blind),
            (r#""force":"yes""#, TraceField::Force),
            (r#""urgent":1"#, TraceField::Urgent),
        ] {
            let f = fault(&format!("{{{GOOD},{extra}}}"));
            assert_eq!(f.field, Some(field), "{extra}: {f:?}");
            assert!(!f.reason.contains("line 1"), "{f:?}");
        }
        for (left_out, field) in [
            ("\"country\":\"DE\",", TraceField::Country),
            ("\"serial\":\"WP1\",", TraceField::Serial),
            ("\"category\":\"pistol\",", TraceField::Category),
            ("\"ground\":\"seized_in_crime\",", TraceField::Ground),
        ] {
            let f = fault(&format!("{{{}}}", GOOD.replace(left_out, "")));
            assert_eq!(f.field, Some(field), "{left_out}: {f:?}");
        }
        let f = fault(&format!(
            "{{{}}}",
            GOOD.replace("seized_in_crime", "seized")
        ));
        assert_eq!(f.field, Some(TraceField::Ground));
        assert!(
            f.reason
                .starts_with("\"seized\" is not one of seized_in_crime, "),
            "{f:?}"
        );
        let f = fault(&format!(
            "{{{}}}",
            GOOD.replace("\"maker\":\"Walther\",", "")
        ));
        assert_eq!(
            f.say(node::FieldNames::Api),
            "\"maker\": neither the manufacturer as marked nor the factory code marked instead of it (ITI para 8(a)) is given. Give \"maker\" or \"factory_code\", or both"
        );
        // Not a field of the request: the request as a whole.
        for body in [
            format!("{{{GOOD},\"colour\":\"red\"}}"),
            format!("{{{GOOD}}} {{}}"),
            "[]".to_string(),
        ] {
            let f = fault(&body);
            assert_eq!(f.field, None, "{body}: {f:?}");
            assert!(f.reason.starts_with("request body: "), "{f:?}");
        }
        // `null` is a field left out; a required one left out is said to
        // be required; a body cut short is the request's fault.
        let f = fault(&format!(
            "{{{}, \"factory_code\": null, \"imports\": null, \"urgent\": null, \"force\": null, \"category\": null}}",
            GOOD.replace(",\"category\":\"pistol\"", "")
        ));
        assert_eq!(
            (f.field, f.reason.as_str()),
            (
                Some(TraceField::Category),
                "required: the weapon's category"
            )
        );
        let by_code = GOOD
            .replace(
                "\"maker\":\"Walther\"",
                "\"maker\":null,\"factory_code\":\"66\"",
            )
            .replace("\"DE\"", "\"CN\"");
        TraceRequest::from_json(format!("{{{by_code}}}").as_bytes())
            .unwrap()
            .into_new_trace()
            .unwrap();
        let f = fault("{\"maker\":");
        assert_eq!(f.field, None, "{f:?}");
        TraceRequest::from_json(format!("\u{feff}{{{GOOD}}}").as_bytes())
            .unwrap()
            .into_new_trace()
            .unwrap();
        let f = fault(&format!("{{{GOOD},\"imports\":[\"NG-2012\"]}}"));
        assert_eq!(
            f.reason,
            "\"NG-2012\" is not an import mark: write the country and the year as NG:2012"
        );
        // What no registry writes alike is refused in a trace as in an
        // import: hidden tag text, private use (a review).
        for (calibre, said) in [
            ("9mm\u{E0041}\u{E0042}", "hidden text"),
            ("9mm\u{F7C4}", "wrong encoding"),
        ] {
            let f = fault(&format!("{{{GOOD},\"calibre\":\"{calibre}\"}}"));
            assert_eq!(f.field, Some(TraceField::Calibre), "{f:?}");
            assert!(f.reason.contains(said), "{f:?}");
        }
        let f = fault(&format!(
            "{{{}}}",
            GOOD.replace("Walther", "Walther\u{E0041}")
        ));
        assert!(f.reason.contains("hidden text"), "{f:?}");
    }
}
