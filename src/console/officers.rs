//! Officer accounts from the console (admins): the same accounts and rules
//! as `tracenet officer`. A one-time password is shown once, on the page
//! that made it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::i18n::Tr;
use super::pages::{Nav, problem, problem_with, render};
use super::{Fields, Shared, allow};
use crate::audit::{AuditKind, NewEntry};
use crate::node::officers::{AccountError, OneTimePassword, Role};

pub struct Row {
    pub name: String,
    pub role: String,
    pub since: String,
    pub must_change: bool,
    pub me: bool,
}

#[derive(Template)]
#[template(path = "officers.html", config = "src/console/askama.toml")]
struct Officers {
    t: Tr,
    nav: Nav,
    rows: Vec<Row>,
    /// (name, password) just made.
    made: Option<(String, String)>,
    error: Option<String>,
    roles: Vec<(String, String)>,
}

async fn page(
    c: &super::Console,
    a: &super::Allowed,
    made: Option<OneTimePassword>,
    error: Option<String>,
) -> Response {
    let t = a.tr();
    let officers = c.officers.clone();
    let list = tokio::task::spawn_blocking(move || officers.list()).await;
    let Ok(Ok(list)) = list else {
        return problem(
            c,
            Some(&a.session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-storage",
        );
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = Officers {
        rows: list
            .into_iter()
            .map(|o| Row {
                me: o.name == a.name,
                role: t.code("role", o.role.word()),
                since: t.date(o.created_at),
                must_change: o.must_change,
                name: o.name,
            })
            .collect(),
        made: made.map(|m| (m.name, m.password)),
        error,
        roles: [Role::Officer, Role::Reviewer, Role::Admin]
            .into_iter()
            .map(|r| (r.word().to_string(), t.code("role", r.word())))
            .collect(),
        nav: Nav::of(Some(&a.session), "/console/officers"),
        t,
    };
    (status, render(&page)).into_response()
}

use axum::response::IntoResponse;

pub async fn list(State(c): State<Shared>, headers: HeaderMap) -> Response {
    match allow(&c, &headers, Role::Admin) {
        Ok(a) => page(&c, &a, None, None).await,
        Err(r) => *r,
    }
}

/// Runs an account change on a blocking thread and audits it, naming the
/// account changed and the admin who changed it.
async fn change<T: Send + 'static>(
    c: &super::Console,
    a: &super::Allowed,
    name: String,
    what: &str,
    f: impl FnOnce(&crate::node::officers::Officers) -> Result<T, AccountError> + Send + 'static,
) -> Result<T, String> {
    let officers = c.officers.clone();
    let t = a.tr();
    let me = a.name.clone();
    let out = tokio::task::spawn_blocking(move || f(&officers))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| match e {
            // The console's own controls, not the CLI's command and the
            // API's endpoint the node's words name.
            // Its own row has no "New password" button: its own password
            // is changed at the top of every page.
            AccountError::Exists(n) if n == me => t.t1("officers-exists-yourself", "name", n),
            AccountError::Exists(n) => t.t1("officers-exists", "name", n),
            AccountError::NoSuchOfficer(n) => t.t1("officers-missing", "name", n),
            e => e.to_string(),
        })?;
    let name = crate::node::officers::audited_name(name);
    c.node
        .audit_local(
            AuditKind::OfficerChanged,
            NewEntry {
                officer: Some(name),
                outcome: Some(format!("{what} by {}", a.name)),
                ..NewEntry::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(out)
}

pub async fn add(State(c): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let a = match allow(&c, &headers, Role::Admin) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let f = Fields::parse(&body);
    let name = f.get("name").unwrap_or_default();
    let role = match f.get("role").unwrap_or_default().parse::<Role>() {
        Ok(r) => r,
        Err(e) => {
            return problem_with(
                &c,
                Some(&a.session),
                StatusCode::BAD_REQUEST,
                "error-form",
                Some(e),
            );
        }
    };
    let n = name.clone();
    match change(
        &c,
        &a,
        name,
        &format!("added as {}", role.word()),
        move |o| o.add(&n, role, crate::node::unix_now()),
    )
    .await
    {
        Ok(made) => page(&c, &a, Some(made), None).await,
        Err(e) => page(&c, &a, None, Some(e)).await,
    }
}

pub async fn reset(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let a = match allow(&c, &headers, Role::Admin) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let n = name.clone();
    match change(&c, &a, name.clone(), "password reset", move |o| o.reset(&n)).await {
        Ok(made) => {
            c.sessions.end_officer(&name);
            page(&c, &a, Some(made), None).await
        }
        Err(e) => page(&c, &a, None, Some(e)).await,
    }
}

pub async fn remove(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let a = match allow(&c, &headers, Role::Admin) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if name == a.name {
        return page(&c, &a, None, Some(a.tr().t("officers-not-yourself"))).await;
    }
    let n = name.clone();
    match change(&c, &a, name.clone(), "removed", move |o| o.remove(&n)).await {
        Ok(()) => {
            c.sessions.end_officer(&name);
            page(&c, &a, None, None).await
        }
        Err(e) => page(&c, &a, None, Some(e)).await,
    }
}
