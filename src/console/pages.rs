//! Signing in and out, the one-time password, the language, and the pages
//! every other page shares (its navigation, the problem page).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::i18n::{Lang, Tr};
use super::session::{Officer, Session, Throttled};
use super::{Fields, Shared, allow, browser_lang, cookie, session_of};
use crate::audit::{AuditKind, NewEntry};
use crate::node::officers::{Role, SignIn};

/// What the header of every page shows.
pub struct Nav {
    /// The officer signed in, once past the forced password change: the
    /// menu shows with it.
    pub officer: Option<String>,
    /// The officer signed in, also on the forced password change: the name
    /// and the sign-out button show with it.
    pub who: Option<String>,
    pub role: Option<Role>,
    pub csrf: String,
    /// The page's own path, where the language form returns.
    pub path: String,
    pub lang: Lang,
}

impl Nav {
    pub fn of(s: Option<&Session>, path: &str) -> Nav {
        let who = s.and_then(|s| s.officer.as_ref());
        let o = who.filter(|o| !o.must_change);
        Nav {
            officer: o.map(|o| o.name.clone()),
            who: who.map(|o| o.name.clone()),
            role: o.map(|o| o.role),
            csrf: s.map(|s| s.csrf.clone()).unwrap_or_default(),
            path: path.to_string(),
            lang: s.map(|s| s.lang).unwrap_or_default(),
        }
    }

    pub fn admin(&self) -> bool {
        self.role.is_some_and(|r| r >= Role::Admin)
    }

    pub fn reviewer(&self) -> bool {
        self.role.is_some_and(|r| r >= Role::Reviewer)
    }

    pub fn langs(&self) -> Vec<(&'static str, &'static str, bool)> {
        Lang::ALL
            .iter()
            .map(|l| (l.code(), l.own_name(), *l == self.lang))
            .collect()
    }

    pub fn here(&self, prefix: &str) -> bool {
        self.path.starts_with(prefix)
    }
}

/// Renders a template as a page; a template error is logged and shown as a 500.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("console page could not be rendered: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered; the node's log says why",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "problem.html", config = "src/console/askama.toml")]
struct Problem {
    t: Tr,
    nav: Nav,
    message: String,
    detail: Option<String>,
}

/// A page that says what went wrong, in the officer's language.
pub fn problem(c: &super::Console, s: Option<&Session>, status: StatusCode, id: &str) -> Response {
    problem_with(c, s, status, id, None)
}

pub fn problem_with(
    _c: &super::Console,
    s: Option<&Session>,
    status: StatusCode,
    id: &str,
    detail: Option<String>,
) -> Response {
    let t = Tr::new(s.map(|s| s.lang).unwrap_or_default());
    let page = Problem {
        t,
        nav: Nav::of(s, "/console/"),
        message: t.t(id),
        detail,
    };
    (status, render(&page)).into_response()
}

pub async fn not_found(State(c): State<Shared>, headers: HeaderMap) -> Response {
    problem(
        &c,
        session_of(&c, &headers).as_ref(),
        StatusCode::NOT_FOUND,
        "error-not-found",
    )
}

pub async fn home(State(c): State<Shared>, headers: HeaderMap) -> Response {
    match allow(&c, &headers, Role::Officer) {
        Ok(_) => Redirect::to("/console/traces").into_response(),
        Err(r) => *r,
    }
}

#[derive(Template)]
#[template(path = "login.html", config = "src/console/askama.toml")]
struct Login {
    t: Tr,
    nav: Nav,
    error: Option<String>,
    name: String,
}

fn login_page(s: &Session, error: Option<String>, name: String, status: StatusCode) -> Response {
    let page = Login {
        t: Tr::new(s.lang),
        nav: Nav::of(Some(s), "/console/login"),
        error,
        name,
    };
    (status, render(&page)).into_response()
}

/// The sign-in form; it starts an anonymous session that carries the form's
/// CSRF token.
pub async fn login_form(State(c): State<Shared>, headers: HeaderMap) -> Response {
    let s = match session_of(&c, &headers) {
        Some(s) if s.officer.is_some() => return Redirect::to("/console/traces").into_response(),
        Some(s) => s,
        None => match c.sessions.create(browser_lang(&headers)) {
            Some(s) => s,
            None => return problem(&c, None, StatusCode::SERVICE_UNAVAILABLE, "error-random"),
        },
    };
    let mut r = login_page(&s, None, String::new(), StatusCode::OK);
    r.headers_mut().insert(header::SET_COOKIE, cookie(&c, &s));
    r
}

pub async fn login(
    State(c): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = Fields::parse(&body);
    let Some(s) = session_of(&c, &headers) else {
        return Redirect::to("/console/login").into_response();
    };
    let t = Tr::new(s.lang);
    let name = f.get("name").unwrap_or_default();
    let password =
        f.0.iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
    // Only an account's own name is written to the audit log and the log:
    // what someone typed as a name may be a password, or a forged line.
    let known = matches!(c.officers.get(&name), Ok(Some(_)));
    let audit = async |rule: &str, officer: Option<String>, outcome: Option<String>| {
        let _ = c
            .node
            .audit_local(
                AuditKind::SignInRefused,
                NewEntry {
                    officer,
                    rule: Some(rule.into()),
                    outcome,
                    ..NewEntry::default()
                },
            )
            .await;
    };
    let wrong = |s: &Session, name: String| {
        login_page(s, Some(t.t("login-wrong")), name, StatusCode::UNAUTHORIZED)
    };
    // Past the rate, or past the password checks the node runs at once.
    let admitted = c.sessions.admit_attempt(&name, known).and_then(|()| {
        c.checking
            .clone()
            .try_acquire_owned()
            .map_err(|_| Throttled::Busy)
    });
    let turn = match admitted {
        // Audited once, when the name was locked.
        Err(Throttled::Locked(left)) => {
            let minutes = left.as_secs().div_ceil(60);
            return login_page(
                &s,
                Some(t.t1("login-locked", "minutes", minutes)),
                name,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(Throttled::Busy) => {
            if let Some(n) = c.sessions.tally("rate_limited") {
                audit(
                    "rate_limited",
                    None,
                    Some(format!("{n} refused since the last entry")),
                )
                .await;
                tracing::warn!(refused = n, "console sign-ins refused: too many at once");
            }
            if !known {
                // As for any made-up name: nothing tells it apart.
                return wrong(&s, name);
            }
            return login_page(
                &s,
                Some(t.t("login-busy")),
                name,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Ok(turn) => turn,
    };
    let officers = c.officers.clone();
    let (n, p) = (name.clone(), password);
    let checked = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        officers.check(&n, &p)
    })
    .await;
    let account = match checked {
        Ok(Ok(SignIn::Accepted(a))) => a,
        Ok(Ok(SignIn::UnknownOfficer)) => {
            if let Some(n) = c.sessions.tally("unknown_officer") {
                audit(
                    "unknown_officer",
                    None,
                    Some(format!("{n} since the last entry")),
                )
                .await;
                tracing::warn!(
                    refused = n,
                    "console sign-ins refused: names that are no account"
                );
            }
            // The same words whether the name or the password was wrong.
            return wrong(&s, name);
        }
        Ok(Ok(SignIn::WrongPassword)) => {
            let locked = c.sessions.failed(&name);
            // Both entries in one job: a client gone while the first is
            // written does not leave the lock unaudited.
            let entry = |rule: &str| {
                (
                    AuditKind::SignInRefused,
                    NewEntry {
                        officer: Some(name.clone()),
                        rule: Some(rule.into()),
                        ..NewEntry::default()
                    },
                )
            };
            let mut entries = vec![entry("wrong_password")];
            entries.extend(locked.then(|| entry("locked")));
            let _ = c.node.audit_local_all(entries).await;
            tracing::warn!(officer = ?name, "console sign-in refused: wrong password");
            if locked {
                tracing::warn!(officer = ?name, "console sign-in locked for 15 minutes after 5 wrong passwords");
            }
            return wrong(&s, name);
        }
        Ok(Err(e)) => {
            tracing::error!("console sign-in: {e}");
            return problem(
                &c,
                Some(&s),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            );
        }
        Err(e) => {
            tracing::error!("console sign-in: {e}");
            return problem(
                &c,
                Some(&s),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            );
        }
    };
    c.sessions.succeeded(&name);
    let officer = Officer {
        name: account.name.clone(),
        role: account.role,
        must_change: account.must_change,
        stamp: account.password.clone(),
    };
    // The session first, then its entry: an entry is written only for a
    // session that exists (the random source failing, or the client leaving
    // while the entry is written, left a `signed_in` entry with no session
    // behind it), and a session whose entry cannot be written is ended.
    let Some(new) = c.sessions.sign_in(
        &s.id,
        officer,
        Lang::parse(&account.lang).unwrap_or_default(),
    ) else {
        return problem(
            &c,
            Some(&s),
            StatusCode::SERVICE_UNAVAILABLE,
            "error-random",
        );
    };
    if c.node
        .audit_local(
            AuditKind::SignedIn,
            NewEntry {
                officer: Some(account.name.clone()),
                ..NewEntry::default()
            },
        )
        .await
        .is_err()
    {
        c.sessions.end(&new.id);
        return problem(&c, Some(&s), StatusCode::SERVICE_UNAVAILABLE, "error-audit");
    }
    let to = if account.must_change {
        "/console/password"
    } else {
        "/console/traces"
    };
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie(&c, &new));
    r
}

pub async fn logout(State(c): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(s) = session_of(&c, &headers) {
        c.sessions.end(&s.id);
    }
    Redirect::to("/console/login").into_response()
}

#[derive(Template)]
#[template(path = "password.html", config = "src/console/askama.toml")]
struct Password {
    t: Tr,
    nav: Nav,
    error: Option<String>,
    first: bool,
}

fn signed_in(c: &super::Console, headers: &HeaderMap) -> Result<(Session, Officer), Box<Response>> {
    let login = || Box::new(Redirect::to("/console/login").into_response());
    let s = session_of(c, headers).ok_or_else(login)?;
    let o = s.officer.clone().ok_or_else(login)?;
    // A reset or removal of the account ends its sessions here too.
    if !matches!(c.officers.get(&o.name), Ok(Some(a)) if a.password == o.stamp) {
        c.sessions.end(&s.id);
        return Err(login());
    }
    Ok((s, o))
}

pub async fn password_form(State(c): State<Shared>, headers: HeaderMap) -> Response {
    let (s, o) = match signed_in(&c, &headers) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    render(&Password {
        t: Tr::new(s.lang),
        nav: Nav::of(Some(&s), "/console/password"),
        error: None,
        first: o.must_change,
    })
}

pub async fn password(
    State(c): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (s, o) = match signed_in(&c, &headers) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let f = Fields::parse(&body);
    let raw = |k: &str| {
        f.0.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (current, new, again) = (raw("current"), raw("new"), raw("again"));
    let t = Tr::new(s.lang);
    let page = |error: String| {
        (
            StatusCode::BAD_REQUEST,
            render(&Password {
                t,
                nav: Nav::of(Some(&s), "/console/password"),
                error: Some(error),
                first: o.must_change,
            }),
        )
            .into_response()
    };
    if new != again {
        return page(t.t("password-mismatch"));
    }
    // Checking the current password is a sign-in: the same lock, audited.
    if c.sessions.admit_attempt(&o.name, true).is_err() {
        c.sessions.end(&s.id);
        return Redirect::to("/console/login").into_response();
    }
    let Ok(turn) = c.checking.clone().try_acquire_owned() else {
        return page(t.t("login-busy"));
    };
    let officers = c.officers.clone();
    let name = o.name.clone();
    let result = tokio::task::spawn_blocking(move || {
        // Held through both hashes: the check and the new password's.
        let _turn = turn;
        match officers.check(&name, &current)? {
            SignIn::Accepted(_) => officers
                .change_password(&name, &new, &current)
                .map(|()| true),
            _ => Ok(false),
        }
    })
    .await;
    match result {
        Ok(Ok(true)) => {
            let stamp = c
                .officers
                .get(&o.name)
                .ok()
                .flatten()
                .map(|a| a.password)
                .unwrap_or_default();
            c.sessions.password_changed(&s.id, stamp);
            let _ = c
                .node
                .audit_local(
                    AuditKind::OfficerChanged,
                    NewEntry {
                        officer: Some(o.name.clone()),
                        outcome: Some("password_changed".into()),
                        ..NewEntry::default()
                    },
                )
                .await;
            // Said on the page it leads to: the change took.
            Redirect::to("/console/traces?notice=password-changed").into_response()
        }
        Ok(Ok(false)) => {
            let locked = c.sessions.failed(&o.name);
            // In one job: a client gone meanwhile leaves no entry unwritten.
            let entries = std::iter::once("wrong_password")
                .chain(locked.then_some("locked"))
                .map(|rule| {
                    (
                        AuditKind::SignInRefused,
                        NewEntry {
                            officer: Some(o.name.clone()),
                            rule: Some(rule.into()),
                            outcome: Some("password change".into()),
                            ..NewEntry::default()
                        },
                    )
                })
                .collect();
            let _ = c.node.audit_local_all(entries).await;
            tracing::warn!(officer = ?o.name, "console password change refused: wrong current password");
            if locked {
                c.sessions.end_officer(&o.name);
                return Redirect::to("/console/login").into_response();
            }
            page(t.t("password-current-wrong"))
        }
        Ok(Err(crate::node::officers::AccountError::WeakPassword)) => page(t.t1(
            "password-weak",
            "count",
            crate::node::officers::MIN_PASSWORD,
        )),
        Ok(Err(crate::node::officers::AccountError::SamePassword)) => page(t.t("password-same")),
        Ok(Err(e)) => {
            tracing::error!("console password change: {e}");
            problem(
                &c,
                Some(&s),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            )
        }
        Err(e) => {
            tracing::error!("console password change: {e}");
            problem(
                &c,
                Some(&s),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            )
        }
    }
}

/// A path this console may send a browser back to: its own, printable
/// ASCII, no scheme or host, no backslash.
fn safe_back(b: &str) -> bool {
    b.starts_with("/console/")
        && !b.starts_with("/console//")
        && b.len() <= 2048
        && b.bytes().all(|c| c.is_ascii_graphic() && c != b'\\')
}

/// Switches the language: kept in the session, and in the account when
/// signed in. Returns to the page the form was on (a console path only).
pub async fn set_lang(
    State(c): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = Fields::parse(&body);
    // Back to the page the form was on, with its query (filters, a search):
    // the Referer's path when it is this console's, else the form's `back`.
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()));
    let back = referer
        .into_iter()
        .chain(f.get("back"))
        .find(|b| safe_back(b))
        .unwrap_or_else(|| "/console/traces".to_string());
    let (Some(s), Some(lang)) = (
        session_of(&c, &headers),
        f.get("lang").and_then(|l| Lang::parse(&l)),
    ) else {
        return Redirect::to(&back).into_response();
    };
    c.sessions.set_lang(&s.id, lang);
    if let Some(o) = &s.officer {
        let officers = c.officers.clone();
        let name = o.name.clone();
        let _ = tokio::task::spawn_blocking(move || officers.set_lang(&name, lang.code())).await;
    }
    Redirect::to(&back).into_response()
}
