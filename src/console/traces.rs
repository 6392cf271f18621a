//! Tracing a weapon: the form, the list, and the trace page whose answers,
//! chain of custody (timeline and map), point of diversion and gaps update
//! while answers arrive.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::Tr;
use super::pages::{Nav, problem, problem_with, render};
use super::{Fields, Shared, allow};
use crate::api::routes::TraceRequest;
use crate::api::{TraceView, trace_view};
use crate::model::{EventKind, HolderCategory, WeaponCategory};
use crate::node::custody::Gap;
use crate::node::officers::Role;
use crate::node::{HolderState, NodeError, Remedy, TraceField, TraceStatus};
use crate::protocol::{IntendedUse, LegalGround, Outcome};

/// Rows on one page of the trace list.
const ROWS_PER_PAGE: usize = 50;
/// Traces read for one page at most, however few match the filters.
const SCAN_BOUND: usize = 2_000;

/// One row of the trace list.
pub struct Row {
    pub id: String,
    pub created: String,
    pub marking: String,
    pub status: String,
    pub status_code: &'static str,
    pub states: String,
    pub answers: String,
}

fn status_code(s: TraceStatus) -> &'static str {
    match s {
        TraceStatus::Sent => "sent",
        TraceStatus::Acknowledged => "acknowledged",
        TraceStatus::Answered => "answered",
        TraceStatus::Partial => "partial",
        TraceStatus::TimedOut => "timed_out",
    }
}

fn marking_of(v: &TraceView) -> String {
    v.query
        .as_ref()
        .map(|q| {
            format!(
                "{} {} {}",
                q.marking.maker_label(),
                q.marking.country(),
                q.marking.serial()
            )
        })
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "traces.html", config = "src/console/askama.toml")]
struct List {
    t: Tr,
    nav: Nav,
    rows: Vec<Row>,
    status: String,
    state: String,
    from: String,
    statuses: Vec<(String, String)>,
    /// The link to older traces, with the filters: None on the last page.
    older: Option<String>,
    /// What the page confirms at its top: a change made on the page before
    /// (`?notice=`, one of [`NOTICES`]; any other word shows nothing).
    notice: Option<String>,
}

/// The confirmations the trace list shows when a form sends the officer
/// there (`?notice=KEY`): each a message key of the console's locales.
pub const NOTICES: &[&str] = &["password-changed"];

pub async fn list(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let want_status = q.get("status").cloned().unwrap_or_default();
    let want_state = q
        .get("state")
        .map(|s| s.trim().to_uppercase())
        .unwrap_or_default();
    let from = q.get("from").cloned().unwrap_or_default();
    let from_unix =
        crate::model::instant::parse_rfc3339(&format!("{}T00:00:00Z", from.trim())).ok();
    let node = c.node.clone();
    // Newest first, a page at a time, until a screenful matches or the
    // scan bound is reached (the "older" link goes on from there): the cost
    // does not grow with the traces stored.
    let after = q.get("after").and_then(|c| crate::node::Cursor::parse(c));
    let (ws, wst) = (want_status.clone(), want_state.clone());
    let scanned = tokio::task::spawn_blocking(
        move || -> Result<(Vec<TraceView>, Option<String>), NodeError> {
            let judge = node.judge();
            let (mut out, mut cursor, mut seen) = (Vec::new(), after, 0usize);
            loop {
                let (page, next) = match node.traces_page(cursor.as_ref(), 100) {
                    // A link's cursor naming no trace (mangled, made up):
                    // the newest traces, as for a cursor of another shape.
                    Err(NodeError::Traces(crate::node::TraceStoreError::UnknownCursor(_)))
                        if seen == 0 =>
                    {
                        cursor = None;
                        continue;
                    }
                    r => r?,
                };
                seen += page.len();
                for tr in &page {
                    let v = trace_view(&judge, tr);
                    let keep = (ws.is_empty() || status_code(v.status) == ws)
                        && from_unix.is_none_or(|f| v.created_at >= f)
                        && (wst.is_empty()
                            || v.holders
                                .iter()
                                .any(|h| h.state.is_some_and(|s| s.as_str() == wst))
                            || v.answers
                                .iter()
                                .any(|h| h.state.is_some_and(|s| s.as_str() == wst)));
                    if keep {
                        out.push(v);
                    }
                }
                cursor = next;
                if cursor.is_none() || out.len() >= ROWS_PER_PAGE || seen >= SCAN_BOUND {
                    return Ok((out, cursor.map(|c| c.to_text())));
                }
            }
        },
    )
    .await;
    let (views, older) = match scanned {
        Ok(Ok(v)) => v,
        _ => {
            return problem(
                &c,
                Some(&a.session),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            );
        }
    };
    let rows = views
        .iter()
        .map(|v| Row {
            id: v.id.clone(),
            created: t.instant(v.created_at),
            marking: marking_of(v),
            status: t.code("status", status_code(v.status)),
            status_code: status_code(v.status),
            states: v
                .holders
                .iter()
                .filter_map(|h| h.state.map(|s| s.to_string()))
                .collect::<Vec<_>>()
                .join(" "),
            answers: t.t1("answers-count", "count", v.answers.len()),
        })
        .collect();
    let statuses = ["sent", "acknowledged", "answered", "partial", "timed_out"]
        .into_iter()
        .map(|s| (s.to_string(), t.code("status", s)))
        .collect();
    let older = older.map(|c| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("status", &want_status)
            .append_pair("state", &want_state)
            .append_pair("from", &from)
            .append_pair("after", &c);
        format!("/console/traces?{}", q.finish())
    });
    let notice = q
        .get("notice")
        .filter(|n| NOTICES.contains(&n.as_str()))
        .map(|n| t.t(n));
    render(&List {
        t,
        nav: Nav::of(Some(&a.session), "/console/traces"),
        rows,
        older,
        status: want_status,
        state: want_state,
        from,
        statuses,
        notice,
    })
}

/// The trace form's values, kept when the node refuses the trace.
#[derive(Default)]
pub struct FormValues {
    pub maker: String,
    pub country: String,
    pub serial: String,
    pub factory_code: String,
    pub imports: Vec<String>,
    pub category: String,
    pub calibre: String,
    pub model: String,
    pub ground: String,
    pub intended_use: String,
    pub urgent: bool,
    pub justification: String,
    pub case: String,
    pub note: String,
    /// Send even if the maker table does not know the maker in that country.
    pub force: bool,
    /// A confidential (blind) trace: the marking goes only to holders whose
    /// keyed filter holds it (proto-docs/BLIND.md).
    pub blind: bool,
}

#[derive(Template)]
#[template(path = "trace_form.html", config = "src/console/askama.toml")]
struct Form {
    t: Tr,
    nav: Nav,
    v: FormValues,
    error: Option<String>,
    makers: Vec<String>,
    categories: Vec<(String, String)>,
    grounds: Vec<(String, String)>,
    uses: Vec<(String, String)>,
    /// Import-mark inputs: the ones given and one empty more.
    import_slots: Vec<String>,
}

/// A closed vocabulary's codes (as serde writes them) and their words.
fn words<T: serde::Serialize>(t: &Tr, list: &str, all: &[T]) -> Vec<(String, String)> {
    all.iter()
        .filter_map(|v| match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => Some(s),
            _ => None,
        })
        .map(|s| {
            let word = t.code(list, &s);
            (s, word)
        })
        .collect()
}

fn code_of<T: serde::Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn form_page(
    c: &super::Console,
    a: &super::Allowed,
    v: FormValues,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let t = a.tr();
    let mut makers: Vec<String> = c.node.makers().names();
    makers.sort();
    makers.dedup();
    // The marks given, and empty inputs for more (at least three in all).
    let mut import_slots = v.imports.clone();
    while import_slots.len() < 3 || import_slots.last().is_some_and(|m| !m.is_empty()) {
        import_slots.push(String::new());
    }
    let page = Form {
        categories: WeaponCategory::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), t.code("category", c.as_str())))
            .collect(),
        grounds: words(&t, "ground", LegalGround::ALL),
        uses: words(&t, "use", IntendedUse::ALL),
        t,
        nav: Nav::of(Some(&a.session), "/console/traces/new"),
        v,
        error,
        makers,
        import_slots,
    };
    (status, render(&page)).into_response()
}

pub async fn form(State(c): State<Shared>, headers: HeaderMap) -> Response {
    match allow(&c, &headers, Role::Officer) {
        Ok(a) => {
            let v = FormValues {
                blind: c.node.blind_by_default(),
                ..FormValues::default()
            };
            form_page(&c, &a, v, None, StatusCode::OK)
        }
        Err(r) => *r,
    }
}

/// Sends the trace the form describes; the officer's name goes into the
/// audit entry and the local case, never into the query.
pub async fn send(
    State(c): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let f = Fields::parse(&body);
    let g = |k: &str| f.get(k).unwrap_or_default();
    let v = FormValues {
        maker: g("maker"),
        country: g("country").to_uppercase(),
        serial: g("serial"),
        factory_code: g("factory_code"),
        imports: f.all("import"),
        category: g("category"),
        calibre: g("calibre"),
        model: g("model"),
        ground: g("ground"),
        intended_use: g("use"),
        urgent: f.get("urgent").is_some(),
        justification: g("justification"),
        case: g("case"),
        note: g("note"),
        force: f.get("force").is_some(),
        blind: f.get("blind").is_some(),
    };
    if v.urgent && v.justification.is_empty() {
        let msg = t.t("trace-justify-urgent");
        return form_page(&c, &a, v, Some(msg), StatusCode::BAD_REQUEST);
    }
    // The justification and the model stay with the local case: neither is
    // part of the query's vocabulary.
    let mut note = v.note.clone();
    for (label, extra) in [
        (t.t("trace-justification"), &v.justification),
        (t.t("trace-model"), &v.model),
    ] {
        if !extra.is_empty() {
            if !note.is_empty() {
                note.push('\n');
            }
            note += &format!("{label}: {extra}");
        }
    }
    let req = TraceRequest {
        maker: v.maker.clone(),
        country: v.country.clone(),
        factory_code: Some(v.factory_code.clone()).filter(|s| !s.is_empty()),
        serial: v.serial.clone(),
        imports: v.imports.clone(),
        category: v.category.clone(),
        calibre: Some(v.calibre.clone()).filter(|s| !s.is_empty()),
        ground: v.ground.clone(),
        intended_use: v.intended_use.clone(),
        urgent: v.urgent,
        timeout_secs: None,
        case: Some(v.case.clone()).filter(|s| !s.is_empty()),
        note: Some(note).filter(|s| !s.is_empty()),
        force: v.force,
        blind: Some(v.blind),
    };
    let mut trace = match req.into_new_trace() {
        Ok(tr) => tr,
        Err(e) => {
            let msg = for_the_form(&t, &e);
            return form_page(&c, &a, v, Some(msg), StatusCode::BAD_REQUEST);
        }
    };
    if !v.force
        && let Some(reg) = c.node.registry()
        && let Err(e) = crate::node::check_maker(&reg.makers(), &trace.marking)
    {
        let msg = for_the_form(&t, &e);
        return form_page(&c, &a, v, Some(msg), StatusCode::BAD_REQUEST);
    }
    trace.local.officer = Some(a.name.clone());
    trace.blind = v.blind;
    match c.node.send_trace(trace).await {
        Ok(stored) => Redirect::to(&format!("/console/traces/{}", stored.id)).into_response(),
        Err(e) => {
            let msg = for_the_form(&t, &NodeError::from(e));
            form_page(&c, &a, v, Some(msg), StatusCode::BAD_REQUEST)
        }
    }
}

/// The node's words on a trace it did not send, for the console's form: a
/// fault of the trace as asked names the form's field by its label
/// ("Import marks", not the CLI's `--import`) and its way round by the
/// form's own control (the checkbox, not `--force`), without the "trace
/// not sent:" the page already says in its language (a helper's trial:
/// "Le traçage n'a pas été envoyé : trace not sent: --import ..."). The
/// reason itself stays in English.
fn for_the_form(t: &Tr, e: &NodeError) -> String {
    let NodeError::BadTrace(fault) = e else {
        return e.to_string();
    };
    let mut out = match fault.field {
        Some(f) => format!("{}: {}", t.t(form_label(f)), fault.reason),
        None => fault.reason.clone(),
    };
    if let Some(remedy) = fault.remedy {
        out.push_str(if out.ends_with(['?', '.']) { " " } else { ". " });
        out.push_str(&t.t(match remedy {
            Remedy::CorrectOrForce(TraceField::Country) => "trace-force-country-hint",
            Remedy::CorrectOrForce(_) => "trace-force-hint",
            Remedy::SendInClear => "trace-send-in-clear-hint",
            Remedy::OrGive(_) => "trace-maker-or-code-hint",
        }));
    }
    out
}

/// The form's label of each field of a trace (the form sets no time-out:
/// the node's default).
fn form_label(f: TraceField) -> &'static str {
    match f {
        TraceField::Maker => "trace-maker",
        TraceField::FactoryCode => "trace-factory-code",
        TraceField::Country => "trace-country",
        TraceField::Serial => "trace-serial",
        TraceField::Imports => "trace-imports",
        TraceField::Category => "trace-category",
        TraceField::Calibre => "trace-calibre",
        TraceField::Ground => "trace-ground",
        TraceField::Use => "trace-use",
        TraceField::TimeoutSecs => "trace-deadline",
        TraceField::Case => "trace-case",
        TraceField::Note => "trace-note",
        TraceField::Blind => "trace-confidential",
        TraceField::Urgent => "trace-urgent",
        TraceField::Force => "trace-force",
    }
}

/// One expected holder and where it stands.
pub struct HolderRow {
    pub state: String,
    pub standing: String,
    pub code: &'static str,
}

/// One answer, its badge and what it disclosed.
pub struct AnswerRow {
    pub number: usize,
    pub state: String,
    pub received: String,
    pub verified: bool,
    pub badge: String,
    pub disclosed: String,
}

/// One event of the chain of custody.
pub struct Event {
    pub date: String,
    pub kind: String,
    pub state: String,
    pub counterpart: String,
    pub holder: String,
    pub source: String,
    pub diversion: bool,
}

/// One holder of a blind trace: asked blind, hit, received the marking.
pub struct BlindRow {
    pub state: String,
    pub outcome: String,
    pub code: String,
    pub received_marking: bool,
    /// It awaits the officer's choice, and its State is known: the row
    /// offers to send the marking in the clear to it alone.
    pub choose: bool,
}

/// Everything the live part of a trace page shows.
pub struct Live {
    /// A confidential (blind) trace's holders; None for a clear trace.
    pub blind: Option<Vec<BlindRow>>,
    /// Some holders wait for the officer's choice: send in the clear or not.
    pub awaits_officer: bool,
    /// The session's CSRF token, for the live part's own form.
    pub csrf: String,
    pub id: String,
    pub status: String,
    pub status_code: &'static str,
    /// Changes whenever what is shown changes; the page's script compares it.
    pub version: String,
    pub holders: Vec<HolderRow>,
    pub answers: Vec<AnswerRow>,
    /// What this State's own registry holds of the weapon (looked up when
    /// the trace was sent: it is never asked as a holder), when it holds a
    /// record: "our registry: 1 record, 0 events".
    pub own: Option<String>,
    pub events: Vec<Event>,
    pub map: String,
    pub diversion: Option<String>,
    pub last_recorded: Option<String>,
    pub gaps: Vec<String>,
    pub settled: bool,
}

#[derive(Template)]
#[template(path = "trace.html", config = "src/console/askama.toml")]
struct Page {
    t: Tr,
    nav: Nav,
    live: Live,
    marking: String,
    imports: String,
    category: String,
    calibre: String,
    ground: String,
    intended_use: String,
    urgent: bool,
    created: String,
    deadline: String,
    digest: String,
    case: String,
    note: String,
    officer: String,
}

#[derive(Template)]
#[template(path = "trace_live.html", config = "src/console/askama.toml")]
struct LivePart {
    t: Tr,
    live: Live,
}

fn holder_word(t: &Tr, h: &HolderState) -> (String, &'static str) {
    match h {
        HolderState::Answered => (t.t("holder-answered"), "answered"),
        HolderState::Withheld { reason } => (
            t.t1("holder-withheld", "reason", t.code("reason", reason)),
            "withheld",
        ),
        HolderState::Refused {
            reason, retry_at, ..
        } => (
            t.tn(
                "holder-refused",
                &[
                    ("reason", t.code("reason", reason)),
                    ("retry", retry_at.map(|r| t.instant(r)).unwrap_or_default()),
                ],
            ),
            "refused",
        ),
        HolderState::Declined { code } => (
            t.t1("holder-declined", "reason", t.code("reason", code)),
            "declined",
        ),
        HolderState::Acknowledged => (t.t("holder-acknowledged"), "acknowledged"),
        HolderState::Awaiting => (t.t("holder-awaiting"), "awaiting"),
        HolderState::Unreachable { since, .. } => (
            t.t1(
                "holder-unreachable",
                "since",
                since.map(|s| t.instant(s)).unwrap_or_default(),
            ),
            "unreachable",
        ),
        #[allow(unreachable_patterns)]
        _ => (t.t("holder-awaiting"), "awaiting"),
    }
}

fn disclosed(t: &Tr, o: &Option<Outcome>) -> String {
    match o {
        None => t.t("outcome-unreadable"),
        Some(Outcome::Hit { candidates }) | Some(Outcome::Trimmed { candidates, .. }) => {
            let events: usize = candidates.iter().map(|c| c.record.events.len()).sum();
            t.tn(
                "outcome-hit",
                &[
                    ("records", t.t1("records-count", "count", candidates.len())),
                    ("events", t.t1("events-count", "count", events)),
                ],
            )
        }
        Some(Outcome::NoHit) => t.t("outcome-no-hit"),
        Some(Outcome::Withheld { reason }) => t.t1(
            "outcome-withheld",
            "reason",
            t.code("reason", reason.code()),
        ),
        Some(Outcome::Acknowledged) => t.t("outcome-acknowledged"),
        Some(Outcome::TooMany { count }) => t.t1("outcome-too-many", "count", *count),
        Some(Outcome::Refused { .. }) => t.t("outcome-refused"),
    }
}

fn gap_words(t: &Tr, g: &Gap) -> String {
    match g {
        Gap::Withheld {
            state,
            reason,
            pattern,
        } => t.tn(
            if *pattern {
                "gap-withheld-pattern"
            } else {
                "gap-withheld"
            },
            &[
                ("state", state.to_string()),
                (
                    "reason",
                    reason
                        .as_deref()
                        .map(|r| t.code("reason", r))
                        .unwrap_or_default(),
                ),
            ],
        ),
        Gap::NoAnswer { state } => t.t1("gap-no-answer", "state", state),
        Gap::NotAMember { state } => t.t1("gap-not-a-member", "state", state),
        Gap::Mismatch { state } => t.t1("gap-mismatch", "state", state),
        Gap::NoHistory { state } => t.t1("gap-no-history", "state", state),
        Gap::Unreachable { state, since, .. } => t.tn(
            "gap-unreachable",
            &[
                ("state", state.to_string()),
                ("since", since.map(|s| t.instant(s)).unwrap_or_default()),
            ],
        ),
        Gap::Refused { state, reason, .. } => t.tn(
            "gap-refused",
            &[
                ("state", state.to_string()),
                ("reason", t.code("reason", reason)),
            ],
        ),
        Gap::Declined { state, code } => t.tn(
            "gap-declined",
            &[
                ("state", state.to_string()),
                ("reason", t.code("reason", code)),
            ],
        ),
        Gap::Trimmed {
            state,
            events_left_out,
        } => t.tn(
            "gap-trimmed",
            &[
                ("state", state.to_string()),
                ("count", t.num(*events_left_out)),
            ],
        ),
        Gap::Ambiguous { state, count } => t.tn(
            "gap-ambiguous",
            &[("state", state.to_string()), ("count", t.num(*count))],
        ),
        Gap::NoHolder { prefix } => t.t1("gap-no-holder", "prefix", prefix),
        Gap::NotConnected => t.t("gap-not-connected"),
        Gap::NoRecord => t.t("gap-no-record"),
    }
}

fn holder_category(t: &Tr, h: Option<HolderCategory>) -> String {
    h.map(|h| t.code("held-by", h.as_str())).unwrap_or_default()
}

fn live_of(t: &Tr, v: &TraceView) -> Live {
    let holders = v
        .holders
        .iter()
        .map(|h| {
            let (standing, code) = holder_word(t, &h.standing);
            HolderRow {
                state: h
                    .state
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| h.peer.clone()),
                standing,
                code,
            }
        })
        .collect();
    let answers = v
        .answers
        .iter()
        .enumerate()
        .map(|(i, a)| AnswerRow {
            number: i + 1,
            state: a
                .state
                .map(|s| s.to_string())
                .unwrap_or_else(|| a.peer.clone()),
            received: t.instant(a.received_at),
            verified: a.verified,
            badge: if a.verified {
                t.t1("badge-verified", "version", a.roster_version.unwrap_or(0))
            } else {
                t.t1(
                    "badge-not-verified",
                    "reason",
                    a.verify_error.clone().unwrap_or_default(),
                )
            },
            disclosed: disclosed(t, &a.outcome),
        })
        .collect();
    let c = &v.custody;
    let own_records: Vec<_> = c.candidates.iter().filter(|r| r.answer.is_none()).collect();
    let own = (!own_records.is_empty()).then(|| {
        let events: usize = own_records.iter().map(|r| r.record.events.len()).sum();
        // Which records, as marked (a helper's re-trial: a count alone).
        let marked: Vec<String> = own_records
            .iter()
            .take(5)
            .map(|r| {
                let m = &r.record.marking;
                format!("{} {} {}", m.maker_label(), m.country(), m.serial())
            })
            .collect();
        format!(
            "{}: {} ({})",
            t.t("source-own-registry"),
            t.tn(
                "outcome-hit",
                &[
                    ("records", t.t1("records-count", "count", own_records.len())),
                    ("events", t.t1("events-count", "count", events)),
                ],
            ),
            marked.join("; ")
        )
    });
    let diversion_event = c.diversion.as_ref().and_then(|d| d.event.clone());
    let events = c
        .chain
        .iter()
        .map(|l| Event {
            date: t.event_date(&l.date),
            kind: t.code("event", l.kind.as_str()),
            // A manufacture where the weapon was made, as marked; the
            // source names the State whose record tells it.
            state: match (l.kind, l.counterpart, c.made_in(l)) {
                (EventKind::Manufactured, None, Some(made)) => made.to_string(),
                _ => l.state.to_string(),
            },
            counterpart: t.counterpart(l.kind, l.counterpart),
            holder: holder_category(t, l.holder),
            source: match l.answer {
                Some(i) => t.tn(
                    "source-answer",
                    &[
                        ("number", (i + 1).to_string()),
                        ("state", l.state.to_string()),
                    ],
                ),
                None => t.t("source-own-registry"),
            },
            diversion: diversion_event.as_ref() == Some(l),
        })
        .collect();
    // The countries in the order the weapon passed through them.
    let mut path = Vec::new();
    for l in &c.chain {
        for s in [
            Some(l.state),
            if l.kind == EventKind::Exported {
                l.counterpart
            } else {
                None
            },
        ]
        .into_iter()
        .flatten()
        {
            if path.last() != Some(&s) {
                path.push(s);
            }
        }
    }
    let diversion = c.diversion.as_ref().map(|d| {
        let (event, date) = match &d.event {
            Some(e) => (t.code("event", e.kind.as_str()), t.event_date(&e.date)),
            None => (String::new(), String::new()),
        };
        t.tn(
            match (&d.event, d.last_lawful_holder) {
                (None, _) => "diversion-sentence-undated",
                (Some(_), Some(_)) => "diversion-sentence",
                (Some(_), None) => "diversion-sentence-no-holder",
            },
            &[
                ("state", d.last_lawful_state.to_string()),
                ("holder", holder_category(t, d.last_lawful_holder)),
                ("event", event),
                ("date", date),
            ],
        )
    });
    let last_recorded = c.last_recorded.as_ref().map(|l| {
        // Its last event an export: the lead is the State it left for, as
        // the CLI says (a helper's trial: the page said only where it was).
        let (id, to) = match l.exported_to {
            Some(to) => ("last-recorded-exported", to.to_string()),
            None => ("last-recorded-sentence", String::new()),
        };
        t.tn(
            id,
            &[
                ("state", l.state.to_string()),
                ("to", to),
                ("holder", holder_category(t, l.holder)),
                ("date", t.event_date(&l.since)),
            ],
        )
    });
    let settled = !matches!(v.status, TraceStatus::Sent | TraceStatus::Acknowledged);
    let awaits_officer = v
        .blind
        .as_ref()
        .is_some_and(|b| b.holders.iter().any(|h| h.outcome.awaits_officer()));
    let blind = v.blind.as_ref().map(|b| {
        b.holders
            .iter()
            .map(|h| {
                let code = code_of(h.outcome);
                BlindRow {
                    state: h
                        .state
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| h.peer.clone()),
                    outcome: t.code("blind", &code),
                    code,
                    received_marking: h.received_marking,
                    choose: h.outcome.awaits_officer() && !h.received_marking && h.state.is_some(),
                }
            })
            .collect()
    });
    Live {
        blind,
        awaits_officer,
        csrf: String::new(),
        id: v.id.clone(),
        status: t.code("status", status_code(v.status)),
        status_code: status_code(v.status),
        version: format!(
            "{}-{}-{}-{}-{}",
            status_code(v.status),
            v.blind
                .as_ref()
                .map(|b| b
                    .holders
                    .iter()
                    .map(|h| code_of(h.outcome))
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
            v.answers.len(),
            c.chain.len(),
            v.holders
                .iter()
                .map(|h| holder_word(t, &h.standing).1)
                .collect::<Vec<_>>()
                .join(",")
        ),
        holders,
        answers,
        own,
        events,
        map: super::map::render(
            &path,
            c.diversion.as_ref().map(|d| d.last_lawful_state),
            &t.t("map-title"),
        ),
        diversion,
        last_recorded,
        gaps: c.gaps.iter().map(|g| gap_words(t, g)).collect(),
        settled,
    }
}

async fn view_of(c: &super::Console, id: &str) -> Result<TraceView, NodeError> {
    let node = c.node.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let t = node.trace(&id)?;
        Ok(trace_view(&node.judge(), &t))
    })
    .await
    .map_err(|e| NodeError::Config(e.to_string()))?
}

fn trace_problem(c: &super::Console, a: &super::Allowed, e: NodeError) -> Response {
    match e {
        NodeError::NoSuchTrace(_) => {
            problem(c, Some(&a.session), StatusCode::NOT_FOUND, "error-no-trace")
        }
        e => problem_with(
            c,
            Some(&a.session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-storage",
            Some(e.to_string()),
        ),
    }
}

pub async fn show(State(c): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let v = match view_of(&c, &id).await {
        Ok(v) => v,
        Err(e) => return trace_problem(&c, &a, e),
    };
    let q = v.query.as_ref();
    let page = Page {
        live: Live {
            csrf: a.session.csrf.clone(),
            ..live_of(&t, &v)
        },
        marking: marking_of(&v),
        imports: q
            .map(|q| {
                q.marking
                    .imports()
                    .iter()
                    .map(|m| match m.year {
                        Some(y) => format!("{} {y}", m.country),
                        None => m.country.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        category: q
            .map(|q| t.code("category", q.category.as_str()))
            .unwrap_or_default(),
        calibre: q
            .and_then(|q| q.calibre.as_ref())
            .map(|c| c.to_string())
            .unwrap_or_default(),
        ground: q
            .map(|q| t.code("ground", &code_of(q.legal_ground)))
            .unwrap_or_default(),
        intended_use: q
            .map(|q| t.code("use", &code_of(q.intended_use)))
            .unwrap_or_default(),
        urgent: q.is_some_and(|q| q.priority == crate::protocol::Priority::Urgent),
        created: t.instant(v.created_at),
        deadline: t.instant(v.deadline),
        digest: v.digest.chars().take(16).collect(),
        case: v
            .local
            .case
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        note: v
            .local
            .note
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        officer: v.local.officer.clone().unwrap_or_default(),
        nav: Nav::of(Some(&a.session), &format!("/console/traces/{}", v.id)),
        t,
    };
    render(&page)
}

/// The live part of a trace page alone, which the page's script fetches.
pub async fn live(State(c): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    match view_of(&c, &id).await {
        Ok(v) => render(&LivePart {
            live: Live {
                csrf: a.session.csrf.clone(),
                ..live_of(&t, &v)
            },
            t,
        }),
        Err(e) => trace_problem(&c, &a, e),
    }
}

pub async fn retry(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match c.node.retry(&id).await {
        Ok(_) => Redirect::to(&format!("/console/traces/{id}")).into_response(),
        Err(NodeError::NothingToRetry(_)) => problem(
            &c,
            Some(&a.session),
            StatusCode::CONFLICT,
            "error-nothing-to-retry",
        ),
        Err(e) => trace_problem(&c, &a, e),
    }
}

/// The evidence bundle, as `tracenet trace export` writes it.
pub async fn evidence(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let node = c.node.clone();
    let i = id.clone();
    // Written out on the blocking thread too: megabytes at worst.
    let bundle = tokio::task::spawn_blocking(move || {
        let t = node.trace(&i)?;
        crate::api::evidence_bundle(&node, &t)
            .map(|b| b.to_json())
            .map_err(|e| NodeError::Config(e.to_string()))
    })
    .await;
    match bundle {
        Ok(Ok(b)) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"trace-{id}-evidence.json\""),
                ),
            ],
            b,
        )
            .into_response(),
        Ok(Err(e)) => trace_problem(&c, &a, e),
        Err(_) => problem(
            &c,
            Some(&a.session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-storage",
        ),
    }
}

/// The officer chose to send a blind trace's query in the clear to the
/// holders that could not be asked blind: all, or the one State the form's
/// `state` names.
pub async fn send_clear(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    // A State code the form did not come with is ignored, not guessed at:
    // without one, every holder left to the officer is sent the query.
    let only = super::Fields::parse(&body)
        .get("state")
        .and_then(|s| crate::model::CountryCode::parse(&s).ok());
    match c.node.send_clear(&id, only).await {
        Ok(_) => Redirect::to(&format!("/console/traces/{id}")).into_response(),
        Err(e) => trace_problem(&c, &a, e),
    }
}
