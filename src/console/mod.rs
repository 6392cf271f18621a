//! The officer's console: server-rendered HTML pages under `/console` on the
//! control API's loopback listener (or on a listener of its own,
//! `node.console_listen`), for national tracing units' officers, reviewers
//! and admins. Accounts are local ([`crate::node::officers`]); every form carries a
//! per-session CSRF token, checked by one middleware for every POST before
//! any handler runs; pages are in the officer's language ([`i18n`]); assets
//! are embedded; a strict Content-Security-Policy allows no inline script.
//! With JavaScript off everything works but the live update of a trace page.

pub mod i18n;
mod imports;
pub mod map;
mod officers;
mod pages;
mod review;
pub mod session;
mod traces;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::node::SIGN_INS_AT_ONCE;
use crate::node::officers::{self as accounts, Officers, Role};
use i18n::{Lang, Tr};
use session::{COOKIE, Session, Sessions};

use crate::node::Node;

/// Largest form accepted (the trace form with its notes is well under).
pub const MAX_FORM: usize = 64 * 1024;

/// The console's state, shared by its handlers.
pub struct Console {
    pub node: Node,
    pub officers: Officers,
    pub sessions: Sessions,
    /// Cookies marked `Secure` (the console is served behind TLS).
    pub secure: bool,
    /// Registry imports started here.
    pub imports: imports::Jobs,
    /// Password checks (Argon2id, 19 MiB and tens of milliseconds each)
    /// running at once: [`SIGN_INS_AT_ONCE`]; an attempt past them is told
    /// to try again, as one past the rate limit is.
    pub checking: Arc<tokio::sync::Semaphore>,
}

pub type Shared = Arc<Console>;

/// How the console is served (`[node]` of tracenet.toml).
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    pub idle: Duration,
    pub secure_cookies: bool,
}

impl ConsoleOptions {
    pub fn from_settings(s: &crate::config::NodeSettings) -> Self {
        ConsoleOptions {
            idle: Duration::from_secs(s.console_idle_minutes.max(1) * 60),
            secure_cookies: s.console_secure_cookies,
        }
    }
}

/// The console's routes, to be nested at `/console`.
pub fn router(node: Node, opts: &ConsoleOptions) -> Result<Router, accounts::AccountError> {
    let console = Arc::new(Console {
        officers: Officers::open(node.db())?,
        node,
        sessions: Sessions::new(opts.idle),
        secure: opts.secure_cookies,
        imports: imports::Jobs::default(),
        checking: Arc::new(tokio::sync::Semaphore::new(SIGN_INS_AT_ONCE)),
    });
    Ok(Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/password", get(pages::password_form).post(pages::password))
        .route("/lang", post(pages::set_lang))
        .route("/traces", get(traces::list).post(traces::send))
        .route("/traces/new", get(traces::form))
        .route("/traces/{id}", get(traces::show))
        .route("/traces/{id}/live", get(traces::live))
        .route("/traces/{id}/retry", post(traces::retry))
        .route("/traces/{id}/send-clear", post(traces::send_clear))
        .route("/traces/{id}/evidence", get(traces::evidence))
        .route("/inbox", get(review::inbox))
        .route("/inbox/{id}/approve", post(review::approve))
        .route("/inbox/{id}/refuse", post(review::refuse))
        .route("/alerts", get(review::alerts))
        .route("/registry", get(review::registry))
        .route("/registry/records/{id}", get(review::record))
        .route(
            "/registry/import",
            post(imports::start).layer(axum::extract::DefaultBodyLimit::max(
                imports::MAX_UPLOAD as usize + MAX_FORM,
            )),
        )
        .route("/registry/imports/{id}", get(imports::show))
        .route("/reports", get(review::reports))
        .route("/reports.csv", get(review::reports_csv))
        .route("/federation", get(review::federation))
        .route("/federation/verify", post(review::verify_audit))
        .route("/officers", get(officers::list).post(officers::add))
        .route("/officers/{name}/reset", post(officers::reset))
        .route("/officers/{name}/remove", post(officers::remove))
        .route("/assets/{file}", get(assets))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(console.clone(), csrf_guard))
        .layer(middleware::map_response(security_headers))
        .with_state(console))
}

/// The headers of every console response: a strict CSP (no inline script or
/// style, nothing from elsewhere), no framing, no sniffing, no caching of
/// pages that show records.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // The console's own pages only (the language form returns to the page it
    // was on, with its query); nothing links elsewhere.
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    r
}

/// Every POST must carry the session's CSRF token in its `_csrf` field:
/// checked here, once, for every form of the console, before the handler.
async fn csrf_guard(State(c): State<Shared>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let session = session_of(&c, req.headers());
    // A file upload carries its token in the query (`?_csrf=`): its body is
    // streamed to disk by the handler, not read here.
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let token = req
            .uri()
            .query()
            .and_then(|q| form_field(&Bytes::copy_from_slice(q.as_bytes()), "_csrf"));
        let ok = matches!((&session, token), (Some(s), Some(t)) if session::csrf_matches(s, &t));
        if !ok {
            tracing::warn!(path = %req.uri().path(), "console upload refused: its CSRF token is missing or wrong");
            return pages::problem(&c, session.as_ref(), StatusCode::FORBIDDEN, "error-csrf");
        }
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(b) => b,
        Err(_) => {
            return pages::problem(
                &c,
                session.as_ref(),
                StatusCode::PAYLOAD_TOO_LARGE,
                "error-too-large",
            );
        }
    };
    let token = form_field(&bytes, "_csrf");
    let ok = match (&session, token) {
        (Some(s), Some(t)) => session::csrf_matches(s, &t),
        _ => false,
    };
    if !ok {
        tracing::warn!(
            path = %parts.uri.path(),
            "console form refused: its CSRF token is missing or wrong"
        );
        return pages::problem(&c, session.as_ref(), StatusCode::FORBIDDEN, "error-csrf");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A form's fields (`application/x-www-form-urlencoded`), in order.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(bytes: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

fn form_field(bytes: &Bytes, name: &str) -> Option<String> {
    Fields::parse(bytes)
        .0
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The session a request's cookie names, if live.
pub fn session_of(c: &Console, headers: &HeaderMap) -> Option<Session> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .and_then(|(_, v)| c.sessions.get(v))
}

/// The `Set-Cookie` value for a session.
pub fn cookie(c: &Console, s: &Session) -> HeaderValue {
    let secure = if c.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict{secure}",
        s.id
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A signed-in officer allowed on a page, or the response that sends them
/// elsewhere: the sign-in page, the password page, or a 403.
pub struct Allowed {
    pub session: Session,
    pub name: String,
    pub role: Role,
}

impl Allowed {
    pub fn tr(&self) -> Tr {
        Tr::new(self.session.lang)
    }
}

pub fn allow(c: &Console, headers: &HeaderMap, need: Role) -> Result<Allowed, Box<Response>> {
    let Some(s) = session_of(c, headers) else {
        return Err(Box::new(Redirect::to("/console/login").into_response()));
    };
    let Some(o) = s.officer.clone() else {
        return Err(Box::new(Redirect::to("/console/login").into_response()));
    };
    // An account removed or reset (`tracenet officer`) ends its sessions at
    // their next request, and a role changed takes effect at once.
    let role = match c.officers.get(&o.name) {
        Ok(Some(a)) if a.password == o.stamp => a.role,
        _ => {
            c.sessions.end(&s.id);
            return Err(Box::new(Redirect::to("/console/login").into_response()));
        }
    };
    let o = session::Officer { role, ..o };
    if o.must_change {
        return Err(Box::new(Redirect::to("/console/password").into_response()));
    }
    if o.role < need {
        tracing::warn!(officer = %o.name, role = o.role.word(), "console page refused: it needs the {} role", need.word());
        return Err(Box::new(pages::problem(
            c,
            Some(&s),
            StatusCode::FORBIDDEN,
            "error-role",
        )));
    }
    Ok(Allowed {
        name: o.name,
        role: o.role,
        session: s,
    })
}

/// Embedded assets: stylesheet, script, icon. Cached an hour.
async fn assets(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "console.css" => (
            include_bytes!("assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_bytes!("assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The language a page before sign-in is shown in: the browser's first
/// console language, else English.
pub fn browser_lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|p| p.split(';').next())
                .filter_map(|p| Lang::parse(p.trim().get(..2).unwrap_or("")))
                .next()
        })
        .unwrap_or_default()
}
