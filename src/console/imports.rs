//! Registry imports from the console (admins): the file is uploaded, written
//! to the data directory's `tmp/` (bounded), imported on a blocking thread
//! with the same reader as `tracenet registry import`, and followed on a
//! page with a progress bar and, at the end, the rejected lines.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use tokio::io::AsyncWriteExt;

use super::i18n::Tr;
use super::pages::{Nav, problem, problem_with, render};
use super::{Shared, allow};
use crate::audit::{AuditKind, NewEntry};
use crate::node::officers::Role;
use crate::registry::import::{ImportFormat, ImportOptions, ImportSummary};

/// The largest file an import through the console takes (a registry of
/// several million records as JSON Lines); larger ones: `tracenet registry
/// import` on the node's machine.
pub const MAX_UPLOAD: u64 = 2 << 30;
/// Imports remembered for their pages.
const KEPT: usize = 20;

/// One import and where it stands.
pub struct Job {
    pub id: String,
    pub file_name: String,
    pub officer: String,
    pub bytes_total: u64,
    pub bytes_read: AtomicU64,
    pub records: AtomicU64,
    pub done: Mutex<Option<Result<ImportSummary, String>>>,
    stop: Arc<AtomicBool>,
}

/// The imports this console started, newest last.
#[derive(Default)]
pub struct Jobs(Mutex<VecDeque<Arc<Job>>>);

impl Jobs {
    fn add(&self, j: Arc<Job>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= KEPT {
            g.pop_front();
        }
        g.push_back(j);
    }

    fn get(&self, id: &str) -> Option<Arc<Job>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.iter().find(|j| j.id == id).cloned()
    }

    /// Asks every running import to stop (the node is stopping).
    pub fn stop_all(&self) {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for j in g.iter() {
            j.stop.store(true, Ordering::Relaxed);
        }
    }
}

fn random_id() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(hex::encode(b))
}

/// `POST /console/registry/import?_csrf=...` (multipart: `file`, `format`,
/// `delimiter`, `encoding`). The CSRF guard reads the token from the query
/// for multipart forms, whose body it does not buffer.
pub async fn start(State(c): State<Shared>, headers: HeaderMap, mut form: Multipart) -> Response {
    let a = match allow(&c, &headers, Role::Admin) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let Some(reg) = c.node.registry().cloned() else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::NOT_FOUND,
            "error-no-registry",
        );
    };
    let Some(id) = random_id() else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::SERVICE_UNAVAILABLE,
            "error-random",
        );
    };
    let tmp_dir = c.node.data_dir().join("tmp");
    if let Err(e) = tokio::fs::create_dir_all(&tmp_dir).await {
        return problem_with(
            &c,
            Some(&a.session),
            StatusCode::INTERNAL_SERVER_ERROR,
            "error-storage",
            Some(e.to_string()),
        );
    }
    let mut path = tmp_dir.join(format!("console-import-{id}"));
    let (mut file_name, mut format, mut delimiter, mut encoding, mut written) =
        (String::new(), None, None, None, 0u64);
    let bad = |detail: String| {
        problem_with(
            &c,
            Some(&a.session),
            StatusCode::BAD_REQUEST,
            "error-form",
            Some(detail),
        )
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return bad(e.to_string());
            }
        };
        match field.name().unwrap_or("") {
            "file" => {
                file_name = field
                    .file_name()
                    .unwrap_or("upload")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(120)
                    .collect();
                // The importer tells the format by the name's extension: the
                // temporary file keeps the upload's, when it is one it reads.
                let ext = std::path::Path::new(&file_name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .filter(|e| crate::registry::import::ImportFormat::from_extension(e).is_some());
                if let Some(ext) = ext {
                    path.set_extension(ext);
                }
                let mut out = match tokio::fs::File::create(&path).await {
                    Ok(f) => f,
                    Err(e) => {
                        return problem_with(
                            &c,
                            Some(&a.session),
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "error-storage",
                            Some(e.to_string()),
                        );
                    }
                };
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            written += chunk.len() as u64;
                            if written > MAX_UPLOAD {
                                drop(out);
                                let _ = tokio::fs::remove_file(&path).await;
                                return problem(
                                    &c,
                                    Some(&a.session),
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    "import-too-large",
                                );
                            }
                            if let Err(e) = out.write_all(&chunk).await {
                                drop(out);
                                let _ = tokio::fs::remove_file(&path).await;
                                return problem_with(
                                    &c,
                                    Some(&a.session),
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    "error-storage",
                                    Some(e.to_string()),
                                );
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            drop(out);
                            let _ = tokio::fs::remove_file(&path).await;
                            return bad(e.to_string());
                        }
                    }
                }
                if let Err(e) = out.sync_all().await {
                    return problem_with(
                        &c,
                        Some(&a.session),
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "error-storage",
                        Some(e.to_string()),
                    );
                }
            }
            name @ ("format" | "delimiter" | "encoding") => {
                let name = name.to_string();
                let v = field
                    .text()
                    .await
                    .unwrap_or_default()
                    .trim()
                    .chars()
                    .take(40)
                    .collect::<String>();
                if v.is_empty() {
                    continue;
                }
                match name.as_str() {
                    "format" => format = Some(v),
                    "delimiter" => delimiter = Some(v),
                    _ => encoding = Some(v),
                }
            }
            _ => {}
        }
    }
    if file_name.is_empty() || written == 0 {
        let _ = tokio::fs::remove_file(&path).await;
        return bad(a.tr().t("import-no-file"));
    }
    if format.is_none() && crate::registry::import::ImportFormat::from_path(&path).is_none() {
        let _ = tokio::fs::remove_file(&path).await;
        return bad(a.tr().t("import-choose-format"));
    }
    let options = (|| -> Result<ImportOptions, String> {
        Ok(ImportOptions {
            format: match format.as_deref() {
                Some("csv") => Some(ImportFormat::Csv),
                Some("jsonl") => Some(ImportFormat::JsonLines),
                _ => None,
            },
            events_csv: None,
            strict: false,
            replace: false,
            delimiter: delimiter
                .as_deref()
                .map(crate::registry::import::parse_delimiter)
                .transpose()?,
            max_line_bytes: c.node.max_line_bytes(),
            source: crate::registry::source::SourceOptions {
                encoding: encoding
                    .as_deref()
                    .map(crate::registry::source::encoding)
                    .transpose()?,
                regular_only: true,
                stop: None,
                refuse_under: None,
            },
        })
    })();
    let mut opts = match options {
        Ok(o) => o,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return bad(e);
        }
    };
    // The reader names the file it read: the name the admin uploaded, as a
    // rejection's line says where to look.
    let shown = tmp_dir.join(&file_name);
    let stop = Arc::new(AtomicBool::new(false));
    opts.source.stop = Some(stop.clone());
    let job = Arc::new(Job {
        id: id.clone(),
        file_name: file_name.clone(),
        officer: a.name.clone(),
        bytes_total: written,
        bytes_read: AtomicU64::new(0),
        records: AtomicU64::new(0),
        done: Mutex::new(None),
        stop,
    });
    c.imports.add(job.clone());
    let node = c.node.clone();
    let stopping = node.stopping();
    let j = job.clone();
    tracing::info!(file = %file_name, officer = %a.name, bytes = written, "registry import from the console started");
    tokio::spawn(node.clone().track(async move {
        let j2 = j.clone();
        let p = path.clone();
        let work = node.long_job(move || {
            crate::registry::import::import_file(&reg, &p, &opts, &mut |pr| {
                j2.records.store(pr.records, Ordering::Relaxed);
                j2.bytes_read.store(pr.bytes, Ordering::Relaxed);
            })
        });
        tokio::pin!(work);
        let done = tokio::select! {
            d = &mut work => d,
            _ = stopping.cancelled() => {
                j.stop.store(true, Ordering::Relaxed);
                work.await
            }
        };
        let _ = tokio::fs::remove_file(&path).await;
        let result = match done {
            Ok(Ok(mut s)) => {
                for r in &mut s.rejections {
                    r.file = shown.clone();
                }
                let _ = node
                    .audit_local(
                        AuditKind::RegistryImported,
                        NewEntry {
                            outcome: Some(s.counts_text()),
                            officer: Some(j.officer.clone()),
                            ..NewEntry::default()
                        },
                    )
                    .await;
                if let Err(e) = node.refresh_topics().await {
                    tracing::warn!(error = %e, "refreshing topics after import failed");
                }
                Ok(s)
            }
            // The upload's name, not the temporary file's path.
            Ok(Err(e)) => Err(e
                .to_string()
                .replace(&path.display().to_string(), &j.file_name)),
            Err(e) => Err(e.to_string()),
        };
        *j.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    }));
    Redirect::to(&format!("/console/registry/imports/{id}")).into_response()
}

pub struct RejectedLine {
    pub line: String,
    pub field: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "import.html", config = "src/console/askama.toml")]
struct ImportPage {
    t: Tr,
    nav: Nav,
    file_name: String,
    officer: String,
    running: bool,
    percent: u64,
    records: String,
    counts: Option<String>,
    error: Option<String>,
    rejected: Vec<RejectedLine>,
    more_rejected: String,
}

pub async fn show(State(c): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let a = match allow(&c, &headers, Role::Admin) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let t = a.tr();
    let Some(j) = c.imports.get(&id) else {
        return problem(
            &c,
            Some(&a.session),
            StatusCode::NOT_FOUND,
            "error-not-found",
        );
    };
    let done = j.done.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let read = j.bytes_read.load(Ordering::Relaxed);
    let (counts, error, rejected, more) = match &done {
        None => (None, None, Vec::new(), 0),
        Some(Ok(s)) => (
            Some(t.tn(
                "import-counts",
                &[
                    ("added", t.num(s.added)),
                    ("updated", t.num(s.updated)),
                    ("unchanged", t.num(s.unchanged)),
                    ("rejected", t.num(s.rejected)),
                ],
            )),
            None,
            s.rejections
                .iter()
                .map(|r| RejectedLine {
                    line: t.num(r.line),
                    field: r.field.clone().unwrap_or_default(),
                    reason: r.reason.clone(),
                })
                .collect(),
            s.rejected.saturating_sub(s.rejections.len() as u64),
        ),
        Some(Err(e)) => (None, Some(e.clone()), Vec::new(), 0),
    };
    render(&ImportPage {
        file_name: j.file_name.clone(),
        officer: j.officer.clone(),
        running: done.is_none(),
        percent: if done.is_some() {
            100
        } else {
            (read * 100).checked_div(j.bytes_total).unwrap_or(0).min(99)
        },
        records: t.num(j.records.load(Ordering::Relaxed)),
        counts,
        error,
        rejected,
        more_rejected: if more > 0 {
            t.t1("import-more-rejected", "count", more)
        } else {
            String::new()
        },
        nav: Nav::of(Some(&a.session), "/console/registry"),
        t,
    })
}
