//! `tracenet audit show|verify|export`: the node's hash-chained audit log,
//! read directly when the node is stopped, through it when it runs.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::Context;
use crate::audit::{AuditEntry, VerifyReport};
use crate::identity::{self, NodeKey};
use crate::model::Date;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print entries, oldest first.
    Show {
        /// Only entries from this day (YYYY-MM-DD) on.
        #[arg(long, value_name = "DATE")]
        since: Option<Date>,
    },
    /// Check the hash chain and the signed heads; exits non-zero, naming the
    /// entry, if anything was changed, removed or reordered.
    Verify,
    /// Write every entry as JSON Lines (`-` for standard output).
    Export {
        /// Where to write the entries, one JSON document per line (not a
        /// name ending in `.csv` or `.tsv`).
        #[arg(value_parser = super::json_lines_destination(
            "a spreadsheet opening a file named so would show each entry as broken columns"
        ))]
        file: PathBuf,
        /// Replace FILE if it exists (without it, an existing file is an error).
        #[arg(long)]
        force: bool,
    },
}

fn since_secs(d: Option<Date>) -> u64 {
    d.map(|d| (d.to_days().max(0) as u64) * 86_400).unwrap_or(0)
}

/// Hands `f` each entry at or after unix time `since`, oldest first, one at
/// a time: streamed from the running node (`GET /v1/audit/export`), or read
/// from the data directory when it is stopped. Returns how many, and what
/// to tell of the entries the log was found to miss at its opening
/// ([`crate::audit::AuditLog::missing`]; [`crate::audit::missing_notice`]). A reply that breaks off is an
/// error ([`crate::api::ApiClientError::Broken`]), never read again from the
/// store (which would hand entries twice).
fn each_entry(
    ctx: &Context,
    since: u64,
    f: impl FnMut(AuditEntry) -> std::io::Result<()>,
) -> anyhow::Result<(u64, Option<String>)> {
    let f = std::cell::RefCell::new(f);
    let n = std::cell::Cell::new(0u64);
    let missing = std::cell::RefCell::new(None);
    super::node::read_via(
        ctx,
        async |c| {
            // The tail of a line split between two pieces.
            let mut partial: Vec<u8> = Vec::new();
            let mut line_no = 0u64;
            let mut take = |line: &[u8]| -> std::io::Result<()> {
                line_no += 1;
                let e: AuditEntry = serde_json::from_slice(line).map_err(|err| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the node's audit listing, line {line_no}: {err}"),
                    )
                })?;
                (f.borrow_mut())(e)?;
                n.set(n.get() + 1);
                Ok(())
            };
            let streamed = c
                .get_stream(
                    &format!("/v1/audit/export?since={since}"),
                    crate::api::ENTRIES_HEADER,
                    |_, headers| {
                        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
                        let ranges = text(crate::api::MISSING_HEADER)
                            .and_then(crate::audit::parse_missing_header)
                            .unwrap_or_default();
                        // The header lists the first 16; the count, all.
                        let gaps = text(crate::api::MISSING_GAPS_HEADER)
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(ranges.len() as u64)
                            .max(ranges.len() as u64);
                        *missing.borrow_mut() = crate::audit::missing_words(
                            &ranges,
                            gaps,
                            crate::audit::MissingTo::Period,
                        );
                    },
                    |chunk| {
                        partial.extend_from_slice(chunk);
                        let mut start = 0;
                        while let Some(end) = partial[start..].iter().position(|b| *b == b'\n') {
                            take(&partial[start..start + end])?;
                            start += end + 1;
                        }
                        partial.drain(..start);
                        Ok(())
                    },
                )
                .await;
            match streamed {
                Err(e) => Err(e.into()),
                Ok(()) if !partial.is_empty() => anyhow::bail!(
                    "the node's audit listing ended inside an entry: run the command again"
                ),
                Ok(()) => Ok((n.get(), missing.take())),
            }
        },
        |off| {
            off.audit.for_each(since, |e| {
                (f.borrow_mut())(e).map_err(anyhow::Error::from)?;
                n.set(n.get() + 1);
                Ok::<_, anyhow::Error>(())
            })?;
            Ok((n.get(), crate::audit::missing_notice(off.audit.missing())))
        },
    )
}

/// The numbers missing from a listing of the whole log, which runs from 0
/// without a gap when intact.
#[derive(Default)]
struct Gaps {
    next: u64,
    /// The first few missing ranges, and how many there are.
    ranges: Vec<(u64, u64)>,
    count: u64,
}

impl Gaps {
    fn see(&mut self, seq: u64) {
        if seq > self.next {
            self.count += 1;
            if self.ranges.len() < 3 {
                self.ranges.push((self.next, seq - 1));
            }
        }
        self.next = self.next.max(seq.saturating_add(1));
    }

    fn warning(&self) -> Option<String> {
        crate::audit::missing_words(&self.ranges, self.count, crate::audit::MissingTo::WholeLog)
    }
}

fn render(e: &AuditEntry) -> String {
    let mut t = format!(
        "{:>6}  {}  {:<17}",
        e.seq,
        crate::model::format_unix(e.at),
        e.kind.words()
    );
    for (k, v) in [
        ("state", e.state.map(|s| s.to_string())),
        (
            "query",
            e.query.as_ref().map(|q| q.chars().take(16).collect()),
        ),
        ("outcome", e.outcome.as_ref().map(|o| o.replace('_', " "))),
        ("rule", e.rule.as_ref().map(|r| r.replace('_', " "))),
        ("officer", e.officer.clone()),
        ("peer", e.peer.clone()),
    ] {
        if let Some(v) = v {
            t += &format!("  {k}={v}");
        }
    }
    t
}

pub fn run(cmd: AuditCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Show { since } => {
            if let Some(d) = since
                && d.to_days() < 0
            {
                return Err(super::usage_error(
                    "audit",
                    format!("--since {d} is before 1970-01-01: the log's times start there"),
                ));
            }
            let mut out = std::io::BufWriter::new(super::output::Naming::new(
                std::io::stdout().lock(),
                "standard output".into(),
            ));
            let mut first = true;
            // The whole log is numbered from 0 without gaps: a gap is told
            // (an entry deleted, an archive file emptied), `verify` says more.
            let mut gaps = Gaps::default();
            let (n, missing) = each_entry(ctx, since_secs(since), |e| {
                if since.is_none() {
                    gaps.see(e.seq);
                }
                if ctx.json {
                    // One JSON array, written as it comes.
                    out.write_all(if first { b"[" } else { b"," })?;
                    serde_json::to_writer(&mut out, &e)?;
                } else {
                    out.write_all(render(&e).as_bytes())?;
                    out.write_all(b"\n")?;
                }
                first = false;
                Ok(())
            })?;
            if ctx.json {
                out.write_all(if n == 0 { b"[]\n" } else { b"]\n" })?;
            } else if n == 0 {
                out.write_all(b"no audit entries\n")?;
            }
            out.flush()?;
            // From a day: the gaps the log was opened with, which may fall
            // in it (its listing cannot tell them from entries before it).
            let warning = match since {
                None => gaps.warning(),
                Some(_) => missing,
            };
            if let Some(warning) = warning {
                say!("warning: {warning}");
            }
            Ok(())
        }
        AuditCommand::Export { file, force } => {
            let mut dest = super::Destination::new(&file, force)?;
            let w = dest.writer();
            // The whole log: its gaps are seen as it is read, as `show`'s.
            let mut gaps = Gaps::default();
            let (n, _) = each_entry(ctx, 0, |e| {
                gaps.see(e.seq);
                serde_json::to_writer(&mut *w, &e)?;
                w.write_all(b"\n")
            })?;
            let written = dest.finish()?;
            if let Some(warning) = gaps.warning() {
                say!("warning: {warning}");
            }
            if !written {
                return Ok(());
            }
            // A name that is not UTF-8 is shown as near as text can:
            // `json!` of the path panicked, after the file was written.
            ctx.emit(
                &serde_json::json!({"file": file.to_string_lossy(), "entries": n}),
                |_| {
                    format!(
                        "{} written to {}",
                        crate::model::count(n, "audit entry"),
                        file.display()
                    )
                },
            )
        }
        AuditCommand::Verify => {
            let report: VerifyReport = super::node::read_via_opening(
                ctx,
                async |c| Ok(c.get("/v1/audit/verify").await?),
                |dir| Ok(crate::node::offline::AuditToVerify::open(dir)?),
                |log| {
                    let key = NodeKey::load(&identity::key_path(&ctx.data_dir))?;
                    Ok(log.verify(&key.public_key())?)
                },
            )?;
            ctx.emit(&report, |r| {
                let mut t = format!(
                    "{}, head {}, {}\n",
                    crate::model::count(r.entries, "entry"),
                    r.head.as_deref().unwrap_or("-"),
                    r.signed_through
                        .map(|s| format!("signed through entry {s}"))
                        .unwrap_or_else(|| "no signed head yet".into())
                );
                for b in &r.breaks {
                    t += &format!("  entry {}: {}\n", b.seq, b.problem);
                }
                if r.breaks_not_listed > 0 {
                    t += &format!("  and {} more breaks, not listed\n", r.breaks_not_listed);
                }
                t += if r.ok {
                    "the audit log is intact\n"
                } else {
                    "THE AUDIT LOG WAS ALTERED\n"
                };
                t
            })?;
            if !report.ok {
                anyhow::bail!(
                    "audit verification failed at entry {}",
                    report.breaks[0].seq
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Gaps;

    #[test]
    fn gaps_in_a_listing_are_named() {
        let mut g = Gaps::default();
        for s in [0, 1, 2, 3] {
            g.see(s);
        }
        assert_eq!(g.warning(), None);
        let mut g = Gaps::default();
        for s in [601, 602, 700, 702, 800, 900, 1000] {
            g.see(s);
        }
        let w = g.warning().unwrap();
        assert!(
            w.starts_with("the audit log misses entries 0 to 600, 603 to 699, 701, 3 more gaps ("),
            "{w}"
        );
        // One entry alone is said so.
        let mut g = Gaps::default();
        for s in [0, 2] {
            g.see(s);
        }
        let w = g.warning().unwrap();
        assert!(w.starts_with("the audit log misses entry 1 ("), "{w}");
        assert!(w.contains("they are not listed"), "{w}");
    }

    use super::*;
    use crate::audit::AuditKind;

    #[test]
    fn an_entry_reads_as_dates_and_words() {
        let e = AuditEntry {
            seq: 7,
            at: 1_796_082_660,
            kind: AuditKind::QueryReceived,
            peer: None,
            state: Some(crate::model::CountryCode::parse("NG").unwrap()),
            query: Some("ab".repeat(32)),
            outcome: Some("no_hit".into()),
            rule: Some("fuzzy_rate_limit".into()),
            ..serde_json::from_str(r#"{"seq":0,"at":0,"kind":"trace_sent","prev":"","hash":""}"#)
                .unwrap()
        };
        assert_eq!(
            render(&e),
            "     7  2026-11-30 23:51 UTC  query received     state=NG  query=abababababababab  outcome=no hit  rule=fuzzy rate limit"
        );
    }
}
