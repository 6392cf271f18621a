//! The inbox (reviewers), alerts, the registry, reports and the federation.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::Tr;
use super::pages::{Nav, problem, problem_with, render};
use super::{Fields, Shared, allow};
use crate::node::inbox::{InboxItem, InboxStatus};
use crate::node::officers::Role;
use crate::node::policy::Disclosure;
use crate::protocol::{TraceQuery, WithheldReason};
use crate::registry::FindQuery;

fn code_of<T: serde::Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A local record the request matched: shown to the reviewer only.
pub struct LocalMatch {
    pub id: String,
    pub marking: String,
    pub events: String,
    pub confidential: bool,
}

pub struct Item {
    pub id: String,
    pub requester: String,
    pub marking: String,
    pub ground: String,
    pub intended_use: String,
    pub urgent: bool,
    pub reason: String,
    pub received: String,
    pub deadline: String,
    pub pending: bool,
    pub decided: String,
    pub matches: Vec<LocalMatch>,
}

#[derive(Template)]
#[template(path = "inbox.html", config = "src/console/askama.toml")]
struct Inbox {
    t: Tr,
    nav: Nav,
    items: Vec<Item>,
    levels: Vec<(String, String)>,
    reasons: Vec<(String, String)>,
    /// The link to older decided requests: None on the last page.
    older: Option<String>,
}

/// Requests on a page of the console's inbox: every one waiting (on the
/// first page), then at most this many of the newest listed, decided ones
/// shown.
const INBOX_PER_PAGE: usize = 50;
/// The most requests one view of the inbox reads past those waiting.
const INBOX_SCAN_BOUND: usize = 500;

fn local_matches(c: &super::Console, q: &TraceQuery, t: &Tr) -> Vec<LocalMatch> {
    let Some(reg) = c.node.registry() else {
        return Vec::new();
    };
    let fq = FindQuery {
        maker: Some(q.marking.maker_label()).filter(|m| !m.is_empty()),
        country: Some(q.marking.country()),
        factory_code: q.marking.factory_code().map(str::to_string),
        serial: q.marking.serial().to_string(),
        limit: 5,
        hide_confidential: false,
    };
    reg.find(&fq)
        .unwrap_or_default()
        .into_iter()
        .map(|k| LocalMatch {
            id: k.record.id.as_str().to_string(),
            marking: format!(
                "{} {} {}",
                k.record.marking.maker_label(),
                k.record.marking.country(),
                k.record.marking.serial()
            ),
            events: k
                .record
                .events
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        t.event_date(&e.date),
                        t.code("event", e.kind.as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join(" · "),
            confidential: k.record.confidential,
        })
        .collect()
}

pub async fn inbox(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let a = match allow(&c, &headers, Role::Reviewer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let c2 = c.clone();
    // Decided requests are kept for good: a page of them at a time, each
    // with its matches looked up, after every request still waiting.
    let after = q
        .get("after")
        .and_then(|c| crate::node::inbox::PageCursor::parse(c));
    let items =
        tokio::task::spawn_blocking(move || -> Result<(Vec<Item>, Option<String>), String> {
            let now = crate::node::unix_now();
            let waits = |i: &InboxItem| i.status == InboxStatus::Pending && i.deadline >= now;
            let (list, cursor) = c2
                .node
                .inbox()
                .screen(after, now, INBOX_PER_PAGE, INBOX_SCAN_BOUND)
                .map_err(|e| e.to_string())?;
            let older = cursor.map(|c| format!("/console/inbox?after={}", c.to_text()));
            let items = list
                .iter()
                .map(|i| {
                    let v = crate::api::inbox_view(c2.node.limits(), i);
                    let q = v.query.as_ref();
                    Item {
                        id: v.id.clone(),
                        requester: v.requester.to_string(),
                        marking: q
                            .map(|q| {
                                format!(
                                    "{} {} {}",
                                    q.marking.maker_label(),
                                    q.marking.country(),
                                    q.marking.serial()
                                )
                            })
                            .unwrap_or_default(),
                        ground: q
                            .map(|q| t.code("ground", &code_of(q.legal_ground)))
                            .unwrap_or_default(),
                        intended_use: q
                            .map(|q| t.code("use", &code_of(q.intended_use)))
                            .unwrap_or_default(),
                        urgent: q.is_some_and(|q| q.priority == crate::protocol::Priority::Urgent),
                        reason: t.code("review", &code_of(v.reason)),
                        received: t.instant(v.received_at),
                        deadline: t.instant(v.deadline),
                        pending: waits(i),
                        decided: match &v.status {
                            InboxStatus::Pending if waits(i) => String::new(),
                            InboxStatus::Pending => t.t("inbox-lapsed"),
                            InboxStatus::Approved { at, disclose } => t.tn(
                                "inbox-approved",
                                &[
                                    ("level", t.code("disclose", &code_of(disclose))),
                                    ("at", t.instant(*at)),
                                ],
                            ),
                            InboxStatus::Refused { at, reason } => t.tn(
                                "inbox-refused",
                                &[
                                    ("reason", t.code("reason", reason.code())),
                                    ("at", t.instant(*at)),
                                ],
                            ),
                        },
                        matches: q.map(|q| local_matches(&c2, q, &t)).unwrap_or_default(),
                    }
                })
                .collect();
            Ok((items, older))
        })
        .await;
    let (items, older) = match items {
        Ok(Ok(i)) => i,
        _ => {
            return problem(
                &c,
                Some(&a.session),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            );
        }
    };
    let levels = [
        Disclosure::Full,
        Disclosure::NoHolders,
        Disclosure::Month,
        Disclosure::Year,
        Disclosure::AcknowledgeOnly,
    ]
    .into_iter()
    .map(|d| (code_of(d), t.code("disclose", &code_of(d))))
    .collect();
    let reasons = [
        WithheldReason::OngoingInvestigation,
        WithheldReason::NationalLaw,
        WithheldReason::Other,
    ]
    .into_iter()
    .map(|r| (r.code().to_string(), t.code("reason", r.code())))
    .collect();
    render(&Inbox {
        t,
        nav: Nav::of(Some(&a.session), "/console/inbox"),
        items,
        levels,
        reasons,
        older,
    })
}

async fn decide(
    c: Shared,
    headers: HeaderMap,
    id: String,
    body: axum::body::Bytes,
    approve: bool,
) -> Response {
    let a = match allow(&c, &headers, Role::Reviewer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let f = Fields::parse(&body);
    let result = if approve {
        let level = match f
            .get("disclose")
            .map(|d| d.parse::<Disclosure>())
            .transpose()
        {
            Ok(l) => l,
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
        c.node
            .decide(&id, Some(level), None, Some(a.name.clone()))
            .await
    } else {
        let reason = match f.get("reason").and_then(|r| {
            serde_json::from_value::<WithheldReason>(serde_json::Value::String(r)).ok()
        }) {
            Some(r) => r,
            None => return problem(&c, Some(&a.session), StatusCode::BAD_REQUEST, "error-form"),
        };
        c.node
            .decide(&id, None, Some(reason), Some(a.name.clone()))
            .await
    };
    match result {
        Ok(_) => Redirect::to("/console/inbox").into_response(),
        Err(e) => {
            let status = crate::api::status_of(&crate::node::NodeError::Decide(e));
            // The error moved into the status mapping; say it again in words.
            problem_with(&c, Some(&a.session), status, "error-decision", None)
        }
    }
}

pub async fn approve(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    decide(c, headers, id, body, true).await
}

pub async fn refuse(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    decide(c, headers, id, body, false).await
}

pub struct AlertRow {
    pub at: String,
    pub requester: String,
    pub record: String,
    pub marking: String,
    pub event: String,
    /// "And N more records matched the same trace", when it did.
    pub more: Option<String>,
}

#[derive(Template)]
#[template(path = "alerts.html", config = "src/console/askama.toml")]
struct Alerts {
    t: Tr,
    nav: Nav,
    rows: Vec<AlertRow>,
    /// The link to older alerts: None on the last page.
    older: Option<String>,
}

/// Alerts on a page of the console, newest first.
const ALERTS_PER_PAGE: usize = 100;

pub async fn alerts(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let node = c.node.clone();
    // A page at a time: alerts are kept for good, and another State's
    // traces add them every day.
    let after = q
        .get("after")
        .and_then(|c| crate::node::inbox::PageCursor::parse(c));
    let list = tokio::task::spawn_blocking(move || {
        node.inbox().alerts_page(after.as_ref(), ALERTS_PER_PAGE)
    })
    .await;
    let Ok(Ok((list, next))) = list else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-storage",
        );
    };
    let rows = list
        .iter()
        .map(|al| AlertRow {
            at: t.instant(al.at),
            requester: al.requester.to_string(),
            record: al.record.clone(),
            marking: format!(
                "{} {} {}",
                al.marking.maker_label(),
                al.marking.country(),
                al.marking.serial()
            ),
            event: format!(
                "{} {}",
                t.code("event", al.kind.as_str()),
                t.event_date(&al.date)
            ),
            more: al.more.map(|n| t.t1("alerts-more", "n", n)),
        })
        .collect();
    render(&Alerts {
        t,
        nav: Nav::of(Some(&a.session), "/console/alerts"),
        rows,
        older: next.map(|c| format!("/console/alerts?after={}", c.to_text())),
    })
}

pub struct Found {
    pub id: String,
    pub marking: String,
    pub quality: String,
    pub reasons: String,
}

#[derive(Template)]
#[template(path = "registry.html", config = "src/console/askama.toml")]
struct Registry {
    t: Tr,
    nav: Nav,
    maker: String,
    country: String,
    serial: String,
    found: Option<Vec<Found>>,
    error: Option<String>,
    records: String,
}

/// Search by marking: the same matching as `tracenet registry find`.
pub async fn registry(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (maker, country, serial) = (get("maker"), get("country").to_uppercase(), get("serial"));
    let Some(reg) = c.node.registry() else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::NOT_FOUND,
            "error-no-registry",
        );
    };
    // One counter read, not a scan of every record.
    // "4 records", with the language's plural ("٤ قيود", not "٤ قيد").
    let records = t.t1("records-count", "count", reg.len().unwrap_or(0));
    let (mut found, mut error) = (None, None);
    if !serial.is_empty() {
        let country_code = if country.is_empty() {
            Ok(None)
        } else {
            crate::model::CountryCode::parse(&country)
                .map(Some)
                .map_err(|e| e.to_string())
        };
        match country_code {
            Err(e) => error = Some(e),
            Ok(cc) => {
                let fq = FindQuery {
                    maker: Some(maker.clone()).filter(|m| !m.is_empty()),
                    country: cc,
                    factory_code: None,
                    serial: serial.clone(),
                    limit: 50,
                    hide_confidential: false,
                };
                let r = reg.clone();
                match tokio::task::spawn_blocking(move || r.find(&fq)).await {
                    Ok(Ok(list)) => {
                        found = Some(
                            list.into_iter()
                                .map(|k| Found {
                                    id: k.record.id.as_str().to_string(),
                                    marking: format!(
                                        "{} {} {}",
                                        k.record.marking.maker_label(),
                                        k.record.marking.country(),
                                        k.record.marking.serial()
                                    ),
                                    quality: t.code("quality", &code_of(k.quality)),
                                    reasons: k.reasons.join("; "),
                                })
                                .collect(),
                        )
                    }
                    Ok(Err(e)) => error = Some(e.to_string()),
                    Err(e) => error = Some(e.to_string()),
                }
            }
        }
    }
    render(&Registry {
        t,
        nav: Nav::of(Some(&a.session), "/console/registry"),
        maker,
        country,
        serial,
        found,
        error,
        records,
    })
}

pub struct LifeEvent {
    pub date: String,
    pub kind: String,
    pub holder: String,
    pub counterpart: String,
    pub reference: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "record.html", config = "src/console/askama.toml")]
struct RecordPage {
    t: Tr,
    nav: Nav,
    id: String,
    marking: String,
    category: String,
    model: String,
    calibre: String,
    confidential: bool,
    events: Vec<LifeEvent>,
}

pub async fn record(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let Some(reg) = c.node.registry().cloned() else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::NOT_FOUND,
            "error-no-registry",
        );
    };
    let Ok(rid) = crate::registry::RecordId::parse(&id) else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::NOT_FOUND,
            "error-no-record",
        );
    };
    let r = match tokio::task::spawn_blocking(move || reg.get(&rid)).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => {
            return problem(
                &c,
                Some(&a.session),
                StatusCode::NOT_FOUND,
                "error-no-record",
            );
        }
        _ => {
            return problem(
                &c,
                Some(&a.session),
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-storage",
            );
        }
    };
    render(&RecordPage {
        id: r.id.as_str().to_string(),
        marking: format!(
            "{} {} {}",
            r.marking.maker_label(),
            r.marking.country(),
            r.marking.serial()
        ),
        category: t.code("category", r.category.as_str()),
        model: r.model.as_ref().map(|m| m.to_string()).unwrap_or_default(),
        calibre: r
            .calibre
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
        confidential: r.confidential,
        events: r
            .events
            .iter()
            .map(|e| LifeEvent {
                date: t.event_date(&e.date),
                kind: t.code("event", e.kind.as_str()),
                holder: e
                    .holder
                    .map(|h| t.code("held-by", h.as_str()))
                    .unwrap_or_default(),
                counterpart: t.counterpart(e.kind, e.counterpart),
                reference: e
                    .reference
                    .as_ref()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
                note: e
                    .note
                    .as_ref()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
            })
            .collect(),
        nav: Nav::of(Some(&a.session), "/console/registry"),
        t,
    })
}

/// One bar of a chart: label, value, its width in the 0..=400 box.
pub struct Bar {
    pub label: String,
    pub value: String,
    pub width: u32,
    pub y: u32,
    pub text_y: u32,
}

#[derive(Template)]
#[template(path = "reports.html", config = "src/console/askama.toml")]
struct Reports {
    t: Tr,
    nav: Nav,
    /// The period's first and last days, YYYY-MM-DD.
    from: String,
    to: String,
    /// The period in words.
    period: String,
    figures: Vec<(String, String)>,
    bars: Vec<Bar>,
    chart_height: u32,
    answer_times: Vec<Bar>,
    times_height: u32,
    /// The slowest final answer per State: the late answers a median hides.
    slowest_times: Vec<Bar>,
    slowest_height: u32,
    /// Per State, the traces that ended without its final answer, shown
    /// beside those that expected it ("2 of 5").
    without_final: Vec<Bar>,
    without_final_height: u32,
    months: Vec<Bar>,
    months_height: u32,
    /// Said when the audit log misses entries (its first ranges), or empty.
    missing: String,
}

fn bars(items: &[(String, f64, String)]) -> (Vec<Bar>, u32) {
    let max = items
        .iter()
        .map(|(_, v, _)| *v)
        .fold(0.0, f64::max)
        .max(1.0);
    let out = items
        .iter()
        .enumerate()
        .map(|(i, (label, v, shown))| Bar {
            label: label.clone(),
            value: shown.clone(),
            width: ((v / max) * 400.0).round() as u32,
            y: i as u32 * 28,
            text_y: i as u32 * 28 + 15,
        })
        .collect();
    (out, items.len() as u32 * 28)
}

/// The days a report covers, both included: `from` and `to` of the query
/// (YYYY-MM-DD), by default the year up to today (the 365 days ending
/// today). `None` for a date that does not parse, a day before 1970-01-01
/// (the log's times are unix seconds: none is earlier), or a first day after
/// the last. A report reads the audit entries and traces of its period alone
/// (`AuditLog::for_each_in`, the traces' time index), so the page costs what
/// its period holds, not the node's whole history.
fn period_of(q: &HashMap<String, String>) -> Option<(crate::model::Date, crate::model::Date)> {
    use crate::model::Date;
    let day = |k: &str| {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<Date>())
    };
    let to = match day("to") {
        Some(d) => d.ok()?,
        None => Date::today(),
    };
    let from = match day("from") {
        Some(d) => d.ok()?,
        None => Date::from_days(to.to_days() - 364)?,
    };
    (from.to_days() >= 0 && from <= to).then_some((from, to))
}

/// The unix time of a day's start, for a day of [`period_of`] (from
/// 1970-01-01).
fn day_start(d: crate::model::Date) -> u64 {
    d.to_days().max(0) as u64 * 86_400
}

/// The period the query asks for ([`period_of`]) and its report; a 400 for
/// a period that is not one, a 500 for a store that cannot be read.
async fn period_report(
    c: &super::Console,
    a: &super::Allowed,
    q: &HashMap<String, String>,
) -> Result<
    (
        (crate::model::Date, crate::model::Date),
        crate::node::report::Report,
    ),
    Box<Response>,
> {
    let Some(period) = period_of(q) else {
        return Err(Box::new(problem(
            c,
            Some(&a.session),
            StatusCode::BAD_REQUEST,
            "error-period",
        )));
    };
    let Some(r) = report_of(c, period).await else {
        return Err(Box::new(problem(
            c,
            Some(&a.session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-storage",
        )));
    };
    Ok((period, r))
}

/// The report of the days `from` to `to`, both included.
async fn report_of(
    c: &super::Console,
    (from, to): (crate::model::Date, crate::model::Date),
) -> Option<crate::node::report::Report> {
    let node = c.node.clone();
    let (from, to) = (day_start(from), day_start(to) + 86_400);
    c.node
        .long_job(move || crate::node::report::report(&node, from, to).ok())
        .await
        .ok()
        .flatten()
}

/// The traces sent per month, the last `months` months that had any, oldest
/// first: read from the traces' time index, newest first, up to the first
/// trace of an older month (no trace read, none older than that).
fn recent_months(node: &crate::node::Node, months: usize) -> Vec<((i32, u8), u64)> {
    let mut per_month = Vec::new();
    let _ = node.trace_instants_newest_first(|at| tally_month(&mut per_month, months, at));
    per_month.reverse();
    per_month
}

/// Counts the instant `at` (unix seconds, newest first) in `per_month`
/// ((year, month), traces), newest month first; `false` once `at` falls in
/// a month older than the `months` counted (nothing is counted then).
fn tally_month(per_month: &mut Vec<((i32, u8), u64)>, months: usize, at: u64) -> bool {
    // A time beyond the calendar is no month's (it would wrap to 1969).
    let Some(d) = i64::try_from(at)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
    else {
        return true;
    };
    let m = (d.year(), u8::from(d.month()));
    let full = per_month.len() == months;
    match per_month.last_mut() {
        Some((last, n)) if *last == m => *n += 1,
        _ if full => return false,
        _ => per_month.push((m, 1)),
    }
    true
}

/// The notice of a report whose audit log misses entries (its first three
/// ranges), or empty.
fn missing_words(t: &Tr, r: &crate::node::report::Report) -> String {
    if r.audit_entries_missing.is_empty() {
        return String::new();
    }
    let ranges: Vec<String> = r
        .audit_entries_missing
        .iter()
        .take(3)
        .map(|m| format!("{}–{}", t.num(m.first), t.num(m.last)))
        .collect();
    t.tn("reports-missing", &[("ranges", ranges.join(", "))])
}

pub async fn reports(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let (period, r) = match period_report(&c, &a, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let counts = [
        ("report-traces-sent", r.traces_sent),
        ("report-traces-answered", r.traces_answered),
        ("report-traces-partial", r.traces_partial),
        ("report-traces-timed-out", r.traces_timed_out),
        ("report-queries-received", r.queries_received),
        ("report-answers-sent", r.answers_sent),
        ("report-answers-withheld", r.answers_withheld),
        // The rest of `tracenet report`'s counts, as its CSV has them.
        ("report-traces-open", r.traces_open),
        ("report-queries-refused", r.queries_refused),
        ("report-answers-acknowledged", r.answers_acknowledged),
    ];
    let items: Vec<(String, f64, String)> = counts
        .iter()
        .map(|(id, n)| (t.t(id), *n as f64, t.num(*n)))
        .collect();
    let (bars_, chart_height) = bars(&items);
    let times: Vec<(String, f64, String)> = r
        .median_answer_secs
        .iter()
        .map(|(cc, s)| {
            (
                cc.to_string(),
                *s,
                t.t1("seconds", "count", s.round() as u64),
            )
        })
        .collect();
    let (answer_times, times_height) = bars(&times);
    let slowest: Vec<(String, f64, String)> = r
        .slowest_answer_secs
        .iter()
        .map(|(cc, s)| (cc.to_string(), *s as f64, t.t1("seconds", "count", *s)))
        .collect();
    let (slowest_times, slowest_height) = bars(&slowest);
    let without: Vec<(String, f64, String)> = r
        .traces_without_final_answer
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(cc, n)| {
            let (share, decided) = share_without_final_answer(&r, cc, *n);
            (
                cc.to_string(),
                share,
                t.tn(
                    "reports-n-of-total",
                    &[("n", t.num(*n)), ("total", t.num(decided))],
                ),
            )
        })
        .collect();
    let (without_final, without_final_height) = bars(&without);
    // Traces sent per month, the last twelve months that had any.
    let node = c.node.clone();
    let per_month = c
        .node
        .long_job(move || recent_months(&node, 12))
        .await
        .unwrap_or_default();
    let recent: Vec<(String, f64, String)> = per_month
        .iter()
        .map(|((y, m), n)| {
            (
                format!("{} {}", t.t(&format!("month-{m}")), y),
                *n as f64,
                t.num(*n),
            )
        })
        .collect();
    let (months, months_height) = bars(&recent);
    let hit_rate = (r.traces_answered * 100)
        .checked_div(r.traces_sent)
        .map(|p| format!("{} %", t.num(p)))
        .unwrap_or_else(|| "–".into());
    let figures = vec![
        (t.t("report-hit-rate"), hit_rate),
        (t.t("report-sdg-traced"), t.num(r.sdg_16_4_2.traced)),
        (
            t.t("report-sdg-origin"),
            t.num(r.sdg_16_4_2.origin_established),
        ),
    ];
    let missing = missing_words(&t, &r);
    let period_words = t.tn(
        "reports-period",
        &[
            ("from", t.date(day_start(period.0))),
            ("to", t.date(day_start(period.1))),
        ],
    );
    render(&Reports {
        t,
        nav: Nav::of(Some(&a.session), "/console/reports"),
        from: period.0.to_string(),
        to: period.1.to_string(),
        period: period_words,
        figures,
        bars: bars_,
        chart_height,
        answer_times,
        times_height,
        slowest_times,
        slowest_height,
        without_final,
        without_final_height,
        months,
        months_height,
        missing,
    })
}

/// The same figures as `tracenet report --csv`, for the page's period.
pub async fn reports_csv(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let (period, r) = match period_report(&c, &a, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    // The file names its period, in its name and in its first rows.
    let name = format!(
        "attachment; filename=\"tracenet-report-{}-to-{}.csv\"",
        period.0, period.1
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        r.to_csv(),
    )
        .into_response()
}

pub struct PeerRow {
    pub state: String,
    pub peer: String,
    pub connected: bool,
    /// Whether this node keeps a link to it (net::links): one not kept is
    /// dialled when a trace asks it, so "no" would mislead.
    pub kept: bool,
}

#[derive(Template)]
#[template(path = "federation.html", config = "src/console/askama.toml")]
struct Federation {
    t: Tr,
    nav: Nav,
    peers: Vec<PeerRow>,
    roster_version: String,
    roster_until: String,
    audit_head: String,
    verified: Option<String>,
    verified_ok: bool,
}

async fn federation_page(
    c: &super::Console,
    a: &super::Allowed,
    verified: Option<(bool, String)>,
) -> Response {
    let t = a.tr();
    let (connected, kept, bounded) = c
        .node
        .net()
        .status()
        .await
        .map(|s| (s.connected, s.kept, s.links_bounded))
        .unwrap_or_default();
    let members = c.node.members();
    let me = c.node.peer_id();
    let mut peers: Vec<PeerRow> = members
        .by_peer
        .iter()
        .filter(|(p, _)| **p != me)
        .map(|(p, m)| PeerRow {
            state: m.state.to_string(),
            peer: p.to_string(),
            connected: connected.contains(&p.to_string()),
            kept: !bounded || kept.contains(&p.to_string()),
        })
        .collect();
    peers.sort_by(|x, y| x.state.cmp(&y.state));
    let (ok, text) = verified.unwrap_or((true, String::new()));
    render(&Federation {
        roster_version: t.num(members.version),
        roster_until: t.instant(members.valid_until),
        audit_head: c
            .node
            .audit()
            .head()
            .map(|(seq, hash)| format!("{} · {}", t.num(seq), &hash[..16.min(hash.len())]))
            .unwrap_or_default(),
        verified: Some(text).filter(|s| !s.is_empty()),
        verified_ok: ok,
        peers,
        nav: Nav::of(Some(&a.session), "/console/federation"),
        t,
    })
}

pub async fn federation(State(c): State<Shared>, headers: HeaderMap) -> Response {
    match allow(&c, &headers, Role::Officer) {
        Ok(a) => federation_page(&c, &a, None).await,
        Err(r) => *r,
    }
}

/// Walks the audit chain, as `tracenet audit verify` does.
pub async fn verify_audit(State(c): State<Shared>, headers: HeaderMap) -> Response {
    let a = match allow(&c, &headers, Role::Officer) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let node = c.node.clone();
    let r = c
        .node
        .long_job(move || node.audit().verify(&node.public_key()))
        .await;
    let verdict = match r {
        Ok(Ok(v)) if v.ok => (true, t.t1("audit-verified", "count", v.entries)),
        Ok(Ok(v)) => (
            false,
            t.t1(
                "audit-broken",
                "count",
                v.breaks.len() as u64 + v.breaks_not_listed,
            ),
        ),
        _ => (false, t.t("error-storage")),
    };
    federation_page(&c, &a, Some(verdict)).await
}

/// A State's share of the traces without its final answer (`n` of them),
/// and what it is a share of: the traces that expected it whose outcome for
/// it is known, so that a State that missed every trace that ended
/// expecting it draws a full bar whatever their number, and traces still
/// open that await it count neither way
/// ([`crate::node::report::Report::traces_awaiting`]). A report of a build
/// before the awaited counts takes every expected trace.
fn share_without_final_answer(
    r: &crate::node::report::Report,
    state: &crate::model::CountryCode,
    n: u64,
) -> (f64, u64) {
    let expected = r.traces_expected.get(state).copied().unwrap_or(n);
    let awaiting = r.traces_awaiting.get(state).copied().unwrap_or(0);
    let decided = expected.saturating_sub(awaiting).max(n);
    (n as f64 / decided.max(1) as f64, decided)
}

#[cfg(test)]
mod tests {
    /// A State that missed the one trace that ended expecting it, with two
    /// more still open and awaiting it, draws a full bar (it drew a third);
    /// one that answered those two has them counted.
    #[test]
    fn the_share_without_a_final_answer_leaves_out_traces_still_awaiting_it() {
        let cc = crate::model::CountryCode::parse("FR").unwrap();
        let mut r = crate::node::report::Report::default();
        r.traces_expected.insert(cc, 3);
        r.traces_without_final_answer.insert(cc, 1);
        r.traces_awaiting.insert(cc, 2);
        assert_eq!(super::share_without_final_answer(&r, &cc, 1), (1.0, 1));
        r.traces_awaiting.clear();
        assert_eq!(
            super::share_without_final_answer(&r, &cc, 1),
            (1.0 / 3.0, 3)
        );
        // Counts that disagree (a report edited by hand) never share above 1.
        r.traces_awaiting.insert(cc, 5);
        assert_eq!(super::share_without_final_answer(&r, &cc, 1), (1.0, 1));
    }

    use super::*;
    use crate::console::i18n::Lang;

    /// The report's period: a year to today by default, the dates given
    /// otherwise; refused when a date does not parse or the first is after
    /// the last.
    #[test]
    fn a_reports_period_is_the_year_to_today_unless_two_dates_say_otherwise() {
        use crate::model::Date;
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let d = |s: &str| s.parse::<Date>().unwrap();
        let (from, to) = period_of(&q(&[])).unwrap();
        assert_eq!((to, to.to_days() - from.to_days()), (Date::today(), 364));
        assert_eq!(
            period_of(&q(&[("from", "2026-01-01"), ("to", "2026-12-31")])),
            Some((d("2026-01-01"), d("2026-12-31")))
        );
        assert_eq!(
            period_of(&q(&[("to", "2026-03-01")])),
            Some((d("2025-03-02"), d("2026-03-01")))
        );
        assert_eq!(
            period_of(&q(&[("from", "2026-05-01"), ("to", "2026-04-30")])),
            None
        );
        assert_eq!(period_of(&q(&[("from", "01/05/2026")])), None);
        // Before 1970, whether given or reached by the default year.
        assert_eq!(
            period_of(&q(&[("from", "1969-12-31"), ("to", "1970-01-05")])),
            None
        );
        assert_eq!(period_of(&q(&[("to", "1970-06-01")])), None);
        assert_eq!(
            period_of(&q(&[("from", "1970-01-01"), ("to", "1970-01-01")])),
            Some((d("1970-01-01"), d("1970-01-01")))
        );
    }

    /// A report whose audit log misses entries says so on the page, in
    /// every language; an intact log's page says nothing of it.
    #[test]
    fn a_report_of_a_log_missing_entries_says_so() {
        for lang in [Lang::En, Lang::Fr, Lang::Es, Lang::Ar] {
            let t = Tr::new(lang);
            let mut r = crate::node::report::Report::default();
            let page = |missing: String| {
                Reports {
                    t: Tr::new(lang),
                    nav: Nav::of(None, "/console/reports"),
                    from: "2026-01-01".into(),
                    to: "2026-12-31".into(),
                    period: String::new(),
                    figures: Vec::new(),
                    bars: Vec::new(),
                    chart_height: 0,
                    answer_times: Vec::new(),
                    times_height: 0,
                    slowest_times: Vec::new(),
                    slowest_height: 0,
                    without_final: Vec::new(),
                    without_final_height: 0,
                    months: Vec::new(),
                    months_height: 0,
                    missing,
                }
                .render()
                .unwrap()
            };
            assert_eq!(missing_words(&t, &r), "");
            assert!(!page(String::new()).contains("id=\"missing\""));
            r.audit_entries_missing = vec![crate::node::report::MissingEntries {
                first: 0,
                last: 725,
            }];
            let words = missing_words(&t, &r);
            assert!(
                words.contains(&t.num(725u64)) && !words.contains("reports-missing"),
                "{lang:?}: {words}"
            );
            assert!(page(words).contains("id=\"missing\""), "{lang:?}");
        }
    }

    /// Traces per month are tallied newest first and the reading stops at
    /// the first trace of a month older than those shown.
    #[test]
    fn traces_per_month_stop_at_the_first_older_month() {
        let day = 86_400;
        // 2026-03-11, 2026-03-10; 2026-02-01; 2025-12-31; 2025-11-05 (newest first).
        // A trace stored with a time beyond the calendar (u64::MAX, newest
        // of all) is no month's: it wrapped to December 1969.
        let instants = [
            u64::MAX,
            1_773_100_800 + day,
            1_773_100_800,
            1_769_904_000,
            1_767_139_200,
            1_762_300_800,
        ];
        let mut per_month = Vec::new();
        let taken: Vec<bool> = instants
            .iter()
            .map(|at| tally_month(&mut per_month, 3, *at))
            .collect();
        assert_eq!(taken, [true, true, true, true, true, false]);
        assert_eq!(per_month, [((2026, 3), 2), ((2026, 2), 1), ((2025, 12), 1)]);
    }

    /// The alerts and the inbox are shown a page at a time: a page with
    /// more behind it links to the older ones, in every language, and the
    /// last page does not.
    #[test]
    fn a_page_of_alerts_or_requests_links_to_the_older_ones() {
        for lang in [Lang::En, Lang::Fr, Lang::Es, Lang::Ar] {
            let link = "/console/alerts?after=00ff";
            let page = |older: Option<String>| {
                Alerts {
                    t: Tr::new(lang),
                    nav: Nav::of(None, "/console/alerts"),
                    rows: Vec::new(),
                    older,
                }
                .render()
                .unwrap()
            };
            let with = page(Some(link.into()));
            assert!(
                with.contains(&format!("href=\"{link}\" id=\"older\"")),
                "{with}"
            );
            assert!(
                !with.contains("alerts-older"),
                "{lang:?}: the key, untranslated"
            );
            assert!(!page(None).contains("id=\"older\""));
            let link = "/console/inbox?after=00ff";
            let inbox = Inbox {
                t: Tr::new(lang),
                nav: Nav::of(None, "/console/inbox"),
                items: Vec::new(),
                levels: Vec::new(),
                reasons: Vec::new(),
                older: Some(link.into()),
            }
            .render()
            .unwrap();
            assert!(
                inbox.contains(&format!("href=\"{link}\" id=\"older\"")),
                "{inbox}"
            );
            assert!(
                !inbox.contains("inbox-older"),
                "{lang:?}: the key, untranslated"
            );
        }
    }
}
