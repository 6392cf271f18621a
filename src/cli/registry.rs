//! `tracenet registry ...`: the national registry, offline.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::Context;
use crate::config::Config;
use crate::model::{CountryCode, Date};
use crate::registry::{
    self, Candidate, FindQuery, ImportFormat, ImportOptions, ImportSummary, Record, RecordId,
    Registry,
};

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Import records from JSON Lines (canonical) or CSV; existing ids are updated.
    Import {
        /// The registry file: JSON Lines, or CSV (see --events).
        file: PathBuf,
        /// The file's format, if its extension does not say.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// With CSV: a second CSV of events, keyed by record_id.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// Import nothing if any line is bad.
        #[arg(long)]
        strict: bool,
    },
    /// Write every record as canonical JSON Lines (`-` for standard output).
    Export {
        /// Where to write (`-` for standard output).
        file: PathBuf,
    },
    /// Show one record, national details included.
    Show {
        /// The record's id, as imported.
        id: String,
    },
    /// Find records by marking, best match first, with the reasons for each.
    Find {
        /// Manufacturer as marked; without it, every maker.
        #[arg(long, value_name = "MAKER")]
        maker: Option<String>,
        /// Country of manufacture (ISO 3166-1 alpha-2, or a former State: YU,
        /// CS, SU, DD), which also finds the records of its former State or
        /// successors; without it, every country.
        #[arg(long, value_name = "CC")]
        country: Option<String>,
        /// As read from the weapon: `?` for one obliterated character, `*` for several.
        #[arg(long, value_name = "SERIAL")]
        serial: String,
        /// At most this many candidates, best first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Counts by category and event kind, and what is past the ITI retention minimums.
    Stats,
    /// The marking prefixes held (country of manufacture / maker) and import-mark countries.
    Prefixes,
    /// Write a deterministic synthetic registry as JSON Lines, for tests and benchmarks.
    Generate {
        /// The State whose registry it imitates (ISO 3166-1 alpha-2).
        #[arg(long, value_name = "CC")]
        state: String,
        /// How many records.
        #[arg(long)]
        count: u64,
        /// The same seed gives the same records.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write them (JSON Lines).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Jsonl,
    Csv,
}

pub fn run(cmd: RegistryCommand, ctx: &Context) -> anyhow::Result<()> {
    if let RegistryCommand::Generate {
        state,
        count,
        seed,
        out,
    } = cmd
    {
        return generate(ctx, &state, count, seed, &out);
    }
    let (cfg, reg) = match open(ctx) {
        Ok(opened) => opened,
        Err(e) if is_locked(&e) => return via_node(cmd, ctx),
        Err(e) => return Err(e),
    };
    match cmd {
        RegistryCommand::Import {
            file,
            format,
            events,
            strict,
        } => import(ctx, &cfg, &reg, &file, format, events, strict),
        RegistryCommand::Export { file } => export(ctx, &reg, &file),
        RegistryCommand::Show { id } => {
            let id = RecordId::parse(&id).map_err(anyhow::Error::msg)?;
            let rec = reg.get(&id)?.with_context(|| {
                format!(
                    "no record {id} in this registry; `tracenet registry find` searches by marking"
                )
            })?;
            ctx.emit(&rec, render_record)
        }
        RegistryCommand::Find {
            maker,
            country,
            serial,
            limit,
        } => {
            let country = country.as_deref().map(CountryCode::parse).transpose()?;
            let found = reg.find(&FindQuery {
                maker,
                country,
                serial,
                limit,
            })?;
            ctx.emit(&found, render_candidates)
        }
        RegistryCommand::Stats => ctx.emit(&reg.stats(Date::today())?, render_stats),
        RegistryCommand::Prefixes => ctx.emit(&reg.holdings()?, render_holdings),
        RegistryCommand::Generate { .. } => unreachable!("handled above"),
    }
}

fn is_locked(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::store::StoreError>(),
        Some(crate::store::StoreError::Locked(_))
    )
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
}

/// The same commands through the running node, which holds the store (sled
/// allows one process at a time).
fn via_node(cmd: RegistryCommand, ctx: &Context) -> anyhow::Result<()> {
    use crate::api::routes::{ExportRequest, FindRequest, ImportRequest};
    super::node::with_client(ctx, async |c| match cmd {
        RegistryCommand::Import {
            file,
            format,
            events,
            strict,
        } => {
            let req = ImportRequest {
                file: absolute(&file)?,
                csv: format.map(|f| matches!(f, FormatArg::Csv)),
                events: events.as_deref().map(absolute).transpose()?,
                strict,
            };
            let s: ImportSummary = c.post("/v1/registry/import", &req).await?;
            ctx.emit(&s, |s| render_summary(&file, s, None))
        }
        RegistryCommand::Export { file } => {
            let v: serde_json::Value = c
                .post(
                    "/v1/registry/export",
                    &ExportRequest {
                        file: absolute(&file)?,
                    },
                )
                .await?;
            ctx.emit(&v, |v| {
                format!(
                    "{}: {} exported",
                    file.display(),
                    crate::model::count(v["records"].as_u64().unwrap_or(0), "record")
                )
            })
        }
        RegistryCommand::Show { id } => {
            let id = RecordId::parse(&id).map_err(anyhow::Error::msg)?;
            let rec: Record = c.get(&format!("/v1/registry/records/{id}")).await?;
            ctx.emit(&rec, render_record)
        }
        RegistryCommand::Find {
            maker,
            country,
            serial,
            limit,
        } => {
            let req = FindRequest {
                maker,
                country,
                serial,
                limit,
            };
            let found: Vec<Candidate> = c.post("/v1/registry/find", &req).await?;
            ctx.emit(&found, render_candidates)
        }
        RegistryCommand::Stats => {
            let s: registry::Stats = c.get("/v1/registry/stats").await?;
            ctx.emit(&s, render_stats)
        }
        RegistryCommand::Prefixes => {
            let h: registry::Holdings = c.get("/v1/registry/prefixes").await?;
            ctx.emit(&h, render_holdings)
        }
        RegistryCommand::Generate { .. } => unreachable!("handled before opening the registry"),
    })
}

fn join_counts<K: std::fmt::Display>(m: &std::collections::BTreeMap<K, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads the configuration and opens the registry of the data directory.
pub fn open(ctx: &Context) -> anyhow::Result<(Config, Registry)> {
    let cfg = Config::load(&Config::path_in(&ctx.data_dir))?;
    let db = crate::store::open_db(&ctx.data_dir.join("db"), &cfg.store_options())?;
    let reg = Registry::open(&db, cfg.maker_table_in(&ctx.data_dir))?;
    Ok((cfg, reg))
}

fn import(
    ctx: &Context,
    cfg: &Config,
    reg: &Registry,
    file: &Path,
    format: Option<FormatArg>,
    events: Option<PathBuf>,
    strict: bool,
) -> anyhow::Result<()> {
    let opts = ImportOptions {
        format: format.map(|f| match f {
            FormatArg::Jsonl => ImportFormat::JsonLines,
            FormatArg::Csv => ImportFormat::Csv,
        }),
        events_csv: events,
        strict,
        max_line_bytes: cfg.registry.max_line_bytes,
    };
    let started = std::time::Instant::now();
    let summary = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} records read ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let s = registry::import::import_file(reg, file, &opts, &mut |n| bar.set_position(n));
        bar.finish_and_clear();
        s
    } else {
        let mut next = 100_000;
        registry::import::import_file(reg, file, &opts, &mut |n| {
            if n >= next {
                eprintln!(
                    "{}: {} read",
                    file.display(),
                    crate::model::count(n, "record")
                );
                next = n + 100_000;
            }
        })
    }?;
    #[derive(Serialize)]
    struct Out<'a> {
        file: &'a Path,
        #[serde(flatten)]
        summary: &'a ImportSummary,
        seconds: f64,
    }
    let out = Out {
        file,
        summary: &summary,
        seconds: started.elapsed().as_secs_f64(),
    };
    ctx.emit(&out, |o| render_summary(o.file, o.summary, Some(o.seconds)))
}

fn writer_for(file: &Path) -> anyhow::Result<Box<dyn Write>> {
    if file == Path::new("-") {
        return Ok(Box::new(BufWriter::new(std::io::stdout().lock())));
    }
    let f = File::create(file).with_context(|| format!("cannot create {}", file.display()))?;
    Ok(Box::new(BufWriter::new(f)))
}

fn export(ctx: &Context, reg: &Registry, file: &Path) -> anyhow::Result<()> {
    let mut w = writer_for(file)?;
    let n = reg.export(&mut w)?;
    drop(w);
    if file == Path::new("-") {
        return Ok(());
    }
    #[derive(Serialize)]
    struct Out<'a> {
        file: &'a Path,
        records: u64,
    }
    ctx.emit(&Out { file, records: n }, |o| {
        format!(
            "{}: {} exported",
            o.file.display(),
            crate::model::count(o.records, "record")
        )
    })
}

fn generate(ctx: &Context, state: &str, count: u64, seed: u64, out: &Path) -> anyhow::Result<()> {
    let state = CountryCode::parse(state)?;
    let mut w = writer_for(out)?;
    for rec in registry::synthetic::generate(state, count, seed) {
        serde_json::to_writer(&mut w, &rec)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    if out == Path::new("-") {
        return Ok(());
    }
    #[derive(Serialize)]
    struct Out<'a> {
        file: &'a Path,
        records: u64,
    }
    ctx.emit(
        &Out {
            file: out,
            records: count,
        },
        |o| {
            format!(
                "{}: {} synthetic records written",
                o.file.display(),
                o.records
            )
        },
    )
}

fn render_stats(s: &registry::Stats) -> String {
    let mut t = format!(
        "{} ({} confidential) under {}, as of {}\n",
        crate::model::count(s.records, "record"),
        s.confidential,
        crate::model::count(s.prefixes, "marking prefix"),
        s.as_of
    );
    t += &format!("by category: {}\n", join_counts(&s.by_category));
    t += &format!("by event kind: {}\n", join_counts(&s.by_event_kind));
    t += &format!(
        "past the ITI retention minimum (30 years manufacture, 20 others): {}; events: {}\n",
        crate::model::count(s.past_retention_minimum, "record"),
        join_counts(&s.events_past_retention_minimum)
    );
    t
}

fn render_summary(file: &Path, s: &ImportSummary, seconds: Option<f64>) -> String {
    let mut t = format!(
        "{}: {} added, {} updated, {} unchanged, {} rejected{}\n",
        file.display(),
        s.added,
        s.updated,
        s.unchanged,
        s.rejected,
        seconds.map(|x| format!(" ({x:.1} s)")).unwrap_or_default()
    );
    for r in &s.rejections {
        t += &format!("  rejected {r}\n");
    }
    if s.rejected as usize > s.rejections.len() {
        t += &format!(
            "  ... and {} more\n",
            s.rejected as usize - s.rejections.len()
        );
    }
    // Imported, but under a maker the reference table does not know: a typo
    // here splits a prefix, and traces for the right name will not find them.
    for n in &s.new_makers {
        let near: Vec<String> = n.near.iter().map(ToString::to_string).collect();
        t += &format!(
            "  new maker {:?} ({} record{} under {}): {}\n",
            n.manufacturer,
            n.records,
            if n.records == 1 { "" } else { "s" },
            n.prefix,
            if near.is_empty() {
                "not in the maker reference table, and no known maker is near".to_string()
            } else {
                format!(
                    "not in the maker reference table; did you mean {}?",
                    near.join(" or ")
                )
            }
        );
    }
    if s.new_makers_more > 0 {
        t += &format!("  ... and {} more new makers\n", s.new_makers_more);
    }
    t
}

fn render_record(r: &Record) -> String {
    let m = &r.marking;
    let mut t = format!(
        "{}  {} {} serial {}{}\n",
        r.id,
        m.manufacturer(),
        m.country(),
        m.serial(),
        if r.confidential {
            "  [confidential]"
        } else {
            ""
        }
    );
    t += &format!(
        "  {} {} {}{}\n",
        r.category,
        r.model.as_ref().map(|x| x.as_str()).unwrap_or("-"),
        r.calibre.as_ref().map(|x| x.as_str()).unwrap_or("-"),
        m.year().map(|y| format!(", made {y}")).unwrap_or_default()
    );
    for i in m.imports() {
        t += &format!(
            "  import mark {}{}\n",
            i.country,
            i.year.map(|y| format!(" {y}")).unwrap_or_default()
        );
    }
    for e in &r.events {
        t += &format!("  {:<10}  {:<12}", e.date, e.kind.as_str());
        if let Some(h) = e.holder {
            t += &format!(" holder {h}");
        }
        if let Some(c) = e.counterpart {
            t += &format!(" counterpart {c}");
        }
        if let Some(x) = &e.reference {
            t += &format!(" ref {}", x.as_str());
        }
        if let Some(x) = &e.note {
            t += &format!(" note: {}", x.as_str());
        }
        t.push('\n');
    }
    t
}

#[allow(clippy::ptr_arg)] // the shape Context::emit hands over
fn render_candidates(found: &Vec<Candidate>) -> String {
    render_candidate_list(found)
}

fn render_candidate_list(found: &[Candidate]) -> String {
    if found.is_empty() {
        return "no record matches\n".into();
    }
    let mut t = String::new();
    for (i, c) in found.iter().enumerate() {
        let m = &c.record.marking;
        t += &format!(
            "{}. {}  {}  {} {} {}\n",
            i + 1,
            c.record.id,
            c.quality,
            m.manufacturer(),
            m.country(),
            m.serial()
        );
        for r in &c.reasons {
            t += &format!("     {r}\n");
        }
    }
    t
}

fn render_holdings(h: &registry::Holdings) -> String {
    let mut t = String::new();
    for p in &h.prefixes {
        t += &format!(
            "{:<32} {}\n",
            p.prefix,
            crate::model::count(p.records, "record")
        );
    }
    for c in &h.import_countries {
        t += &format!(
            "import mark {:<20} {}\n",
            c.country,
            crate::model::count(c.records, "record")
        );
    }
    if t.is_empty() {
        t = "the registry holds no records\n".into();
    }
    t
}
