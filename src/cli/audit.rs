//! `tracenet audit show|verify|export`: the node's hash-chained audit log,
//! read directly when the node is stopped, through it when it runs.

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
        /// Where to write the entries, one JSON document per line.
        file: PathBuf,
    },
}

fn since_secs(d: Option<Date>) -> u64 {
    d.map(|d| (d.to_days().max(0) as u64) * 86_400).unwrap_or(0)
}

/// Runs `f` on the audit log held in the data directory, opened directly.
fn entries(ctx: &Context, since: u64) -> anyhow::Result<Vec<AuditEntry>> {
    super::node::read_via(
        ctx,
        async |c| Ok(c.get(&format!("/v1/audit?since={since}")).await?),
        |off| Ok(off.audit.entries(since)?),
    )
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
            let all = entries(ctx, since_secs(since))?;
            ctx.emit(&all, |all| {
                all.iter().map(render).collect::<Vec<_>>().join("\n")
            })
        }
        AuditCommand::Export { file } => {
            let all = entries(ctx, 0)?;
            let mut out = String::new();
            for e in &all {
                out += &serde_json::to_string(e)?;
                out.push('\n');
            }
            if file.as_os_str() == "-" {
                print!("{out}");
                return Ok(());
            }
            super::write_file(&file, out.as_bytes(), true)?;
            ctx.emit(
                &serde_json::json!({"file": file, "entries": all.len()}),
                |v| {
                    format!(
                        "{} audit entries written to {}",
                        v["entries"],
                        file.display()
                    )
                },
            )
        }
        AuditCommand::Verify => {
            let report: VerifyReport = super::node::read_via(
                ctx,
                async |c| Ok(c.get("/v1/audit/verify").await?),
                |off| {
                    let key = NodeKey::load(&identity::key_path(&ctx.data_dir))?;
                    Ok(off.audit.verify(&key.public_key())?)
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
