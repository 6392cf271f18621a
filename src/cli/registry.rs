//! `tracenet registry ...`: the national registry, offline.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

mod export;

use super::{Context, progress};
use crate::audit::AuditKind;
use crate::config::Config;
use crate::model::{CountryCode, Date};
use crate::registry::{
    self, Candidate, FindQuery, ImportFormat, ImportOptions, ImportSummary, Record, RecordId,
    Registry,
};

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Import records from JSON Lines (canonical) or CSV; existing ids are updated.
    Import(ImportArgs),
    /// Write every record as canonical JSON Lines (`-` for standard output).
    Export {
        /// Where to write (`-` for standard output); not a name ending in
        /// `.csv` or `.tsv`.
        #[arg(value_parser = export::destination())]
        file: PathBuf,
        /// Replace FILE if it exists (without it, an existing file is an error).
        #[arg(long)]
        force: bool,
    },
    /// Remove records by id, all or none (an id not held removes nothing);
    /// audited. To undo a whole import, see `import --replace`.
    Remove {
        /// The records' ids, as imported.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
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
        #[arg(long, value_name = "CC", value_parser = country_flag)]
        country: Option<String>,
        /// Factory code as marked instead of (or beside) the maker's name
        /// (ITI para 8(a)): /66\, △66 or 66. Finds the records marked with
        /// it, and those of the maker the reference table gives it.
        #[arg(long, value_name = "CODE")]
        factory_code: Option<String>,
        /// As read from the weapon: `?` for one obliterated character, `*` for
        /// several (not `*` alone).
        #[arg(long, value_name = "SERIAL", value_parser = serial_flag)]
        serial: String,
        /// At most this many candidates, best first (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = find_limit)]
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
        /// How many records (1 to 100,000,000: some 30 GB of JSON Lines).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        count: u64,
        /// The same seed gives the same records.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write them (JSON Lines; not a name ending in `.csv` or
        /// `.tsv`).
        #[arg(long, value_name = "FILE", value_parser = export::destination())]
        out: PathBuf,
        /// Replace FILE if it exists (without it, an existing file is an error).
        #[arg(long)]
        force: bool,
    },
}

/// `registry import`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The registry file: JSON Lines (.jsonl), or CSV (.csv or .tsv, the
    /// separator found in the header; see --events); `-` for standard
    /// input (with --format; the node stopped). With the node running, a
    /// regular file (not a FIFO or a device).
    pub file: PathBuf,
    /// The file's format, if its extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// With CSV: a second CSV of events, keyed by record_id.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Import nothing if any line is bad.
    #[arg(long)]
    pub strict: bool,
    /// Make the registry hold exactly this file's records: import them,
    /// then remove every record whose id the file does not hold (to undo a
    /// wrong import with the last good export). Implies --strict; audited.
    #[arg(long)]
    pub replace: bool,
    /// CSV separator: one character such as `,` or `;`, or `tab`
    /// [default: the one that splits the header into known columns].
    #[arg(long, value_name = "CHAR", value_parser = registry::import::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The files' character encoding, for files not in UTF-8: windows-1252
    /// (Excel in western Europe; also for latin1), iso-8859-2, utf-16le, ...
    /// [default: UTF-8, or UTF-16 with a byte order mark]
    #[arg(long, value_name = "NAME", value_parser = registry::source::encoding)]
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl ImportArgs {
    fn options(&self, max_line_bytes: usize) -> ImportOptions {
        ImportOptions {
            format: self.format.map(|f| match f {
                FormatArg::Jsonl => ImportFormat::JsonLines,
                FormatArg::Csv | FormatArg::Tsv => ImportFormat::Csv,
            }),
            events_csv: self.events.clone(),
            strict: self.strict,
            max_line_bytes,
            delimiter: self.delimiter,
            replace: self.replace,
            source: registry::SourceOptions {
                encoding: self.encoding,
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// JSON Lines, one record a line.
    Jsonl,
    /// CSV, the separator given by --delimiter or found in the header.
    Csv,
    /// CSV separated by tabs (tab-separated values), unless --delimiter
    /// says otherwise.
    Tsv,
}

pub fn run(cmd: RegistryCommand, ctx: &Context) -> anyhow::Result<()> {
    // `-` is standard input, as `registry export -` is standard output (it
    // was "cannot read -: No such file or directory").
    let cmd = match cmd {
        RegistryCommand::Import(mut a) => {
            if a.events.as_deref() == Some(Path::new("-")) {
                return Err(super::usage_error(
                    "registry import",
                    "--events -: the events file is read from its path, not from standard input; give its path",
                ));
            }
            if a.file == Path::new("-") {
                if a.format.is_none() {
                    return Err(super::usage_error(
                        "registry import",
                        "-: standard input has no name to tell its format; give --format jsonl, csv or tsv",
                    ));
                }
                a.file = PathBuf::from("/dev/stdin");
            }
            // `--format tsv` is CSV with tabs, unless --delimiter says
            // otherwise (it was not a value).
            if matches!(a.format, Some(FormatArg::Tsv)) && a.delimiter.is_none() {
                a.delimiter = Some(b'\t');
            }
            RegistryCommand::Import(a)
        }
        cmd => cmd,
    };
    if let RegistryCommand::Generate {
        state,
        count,
        seed,
        out,
        force,
    } = cmd
    {
        return generate(ctx, &state, count, seed, &out, force);
    }
    let Opened { cfg, db, reg } = match open(ctx) {
        Ok(opened) => opened,
        Err(e) if is_locked(&e) => return via_node(cmd, ctx),
        Err(e) => return Err(e),
    };
    // A bootstrap node holds no registry (it serves the roster and
    // addresses, and answers no trace): records written here would be kept
    // and never read.
    if cfg.node.role == crate::config::Role::Bootstrap
        && matches!(
            cmd,
            RegistryCommand::Import(_) | RegistryCommand::Remove { .. }
        )
    {
        bail!(
            "{} is a bootstrap node's data directory (node.role = \"bootstrap\" in {}): it holds no registry and answers no trace; import the registry into a State's node",
            ctx.data_dir.display(),
            Config::path_in(&ctx.data_dir).display()
        );
    }
    match cmd {
        RegistryCommand::Import(args) => import(ctx, &cfg, &db, &reg, &args),
        RegistryCommand::Export { file, force } => export::export(ctx, &reg, &file, force),
        RegistryCommand::Remove { ids } => {
            let ids = parse_ids(&ids)?;
            let removed = reg.remove(&ids)?;
            audit(
                ctx,
                &db,
                AuditKind::RecordsRemoved,
                format!("removed {removed}"),
            )?;
            ctx.emit(&Removed { removed }, render_removed)
        }
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
            factory_code,
            serial,
            limit,
        } => {
            let country = country.as_deref().map(CountryCode::parse).transpose()?;
            let found = reg.find(&FindQuery {
                maker,
                country,
                factory_code,
                serial,
                limit,
                hide_confidential: false,
            })?;
            ctx.emit(&found, render_candidates)
        }
        RegistryCommand::Stats => ctx.emit(&reg.stats(Date::today())?, render_stats),
        RegistryCommand::Prefixes => ctx.emit(&reg.holdings()?, render_holdings),
        RegistryCommand::Generate { .. } => unreachable!("handled above"),
    }
}

/// `--limit` of `registry find`: 1 to the API's most.
fn find_limit(s: &str) -> Result<usize, String> {
    let max = crate::api::routes::MAX_FIND_LIMIT;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} candidates: give a whole number from 1 to {max}"
        )),
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

/// [`absolute`], for the running node's control API, whose JSON carries a
/// file's name as UTF-8 text: a name that is not UTF-8 is said so, with
/// what to do (it was the API client's "cannot encode", a hostile trial).
fn absolute_for_api(p: &Path) -> anyhow::Result<PathBuf> {
    // This command's own standard input or descriptors are not the node's
    // to open: given their name, the node opened its own (a re-check: a
    // node started with a file as its standard input imported that file).
    if crate::model::target::names_a_descriptor(p) {
        let what = if p == Path::new("/dev/stdin") {
            "standard input".to_string()
        } else {
            p.display().to_string()
        };
        anyhow::bail!(
            "{what}: the running node imports a regular file it opens itself, and cannot read this command's input or descriptors; write what you pipe to a file (`... > records.jsonl`) and import that, or stop the node and import it directly"
        );
    }
    let abs = absolute(p)?;
    if abs.to_str().is_none() {
        anyhow::bail!(
            "{}: the file's full path is not UTF-8, and the running node's control API takes paths as UTF-8 text; rename the file or the folder whose name is not (or copy the file to a UTF-8 path) and import that, or stop the node and import it directly",
            abs.display()
        );
    }
    Ok(abs)
}

/// The same commands through the running node, which holds the store (sled
/// allows one process at a time).
fn via_node(cmd: RegistryCommand, ctx: &Context) -> anyhow::Result<()> {
    use crate::api::routes::{FindRequest, ImportRequest, RemoveRequest};
    super::node::with_client(ctx, async |c| match cmd {
        RegistryCommand::Import(a) => {
            let req = ImportRequest {
                file: absolute_for_api(&a.file)?,
                csv: a
                    .format
                    .map(|f| matches!(f, FormatArg::Csv | FormatArg::Tsv)),
                events: a.events.as_deref().map(absolute_for_api).transpose()?,
                strict: a.strict,
                replace: a.replace,
                delimiter: a.delimiter.map(|d| match d {
                    b'\t' => "tab".to_string(),
                    d => (d as char).to_string(),
                }),
                encoding: a.encoding.map(|e| e.name().to_string()),
            };
            let started = std::time::Instant::now();
            let bar = progress::bar(
                ctx,
                None,
                progress::Unit::Records,
                "importing through the running node",
            );
            let s: Result<ImportSummary, _> = c.post("/v1/registry/import", &req).await;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            // Refused whole: its bad lines listed before the error, as with
            // the node stopped.
            if let Err(crate::api::ApiClientError::BadLines {
                rejections,
                rejected,
                ..
            }) = &s
            {
                refused_whole(ctx, &a.file, rejections, *rejected, a.replace)?;
            }
            let out = ImportOut {
                file: &a.file,
                summary: &s?,
                seconds: started.elapsed().as_secs_f64(),
            };
            ctx.emit(&out, |o| render_summary(o.file, o.summary, Some(o.seconds)))?;
            partial(&a.file, out.summary)
        }
        RegistryCommand::Export { file, force } => {
            export::export_via_node(ctx, &c, &file, force).await
        }
        RegistryCommand::Remove { ids } => {
            let req = RemoveRequest {
                ids: parse_ids(&ids)?.iter().map(ToString::to_string).collect(),
            };
            let r: Removed = c.post("/v1/registry/remove", &req).await?;
            ctx.emit(&r, render_removed)
        }
        RegistryCommand::Show { id } => {
            let id = RecordId::parse(&id).map_err(anyhow::Error::msg)?;
            let rec: Record = c.get(&format!("/v1/registry/records/{id}")).await?;
            ctx.emit(&rec, render_record)
        }
        RegistryCommand::Find {
            maker,
            country,
            factory_code,
            serial,
            limit,
        } => {
            let req = FindRequest {
                maker,
                country,
                factory_code,
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
        .map(|(k, v)| format!("{} {v}", k.to_string().replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The data directory's configuration, store and registry, opened.
pub struct Opened {
    pub cfg: Config,
    pub db: sled::Db,
    pub reg: Registry,
}

/// Loads the configuration and opens the registry of the data directory.
pub fn open(ctx: &Context) -> anyhow::Result<Opened> {
    let cfg = Config::load(&Config::path_in(&ctx.data_dir))?;
    let db = crate::store::open_db(&ctx.data_dir.join("db"), &cfg.store_options())?;
    let reg = Registry::open(&db, cfg.maker_table_in(&ctx.data_dir))?;
    Ok(Opened { cfg, db, reg })
}

/// Records a change of the registry made with the node stopped, flushed. The
/// node signs the audit head with it the next time it runs.
fn audit(ctx: &Context, db: &sled::Db, kind: AuditKind, outcome: String) -> anyhow::Result<()> {
    audit_in(ctx, db, kind, outcome)
        .context("the registry changed, but its audit entry could not be written")
}

fn audit_in(ctx: &Context, db: &sled::Db, kind: AuditKind, outcome: String) -> anyhow::Result<()> {
    let log = crate::audit::AuditLog::open_in(db, &ctx.data_dir)?;
    let entry = crate::audit::NewEntry {
        outcome: Some(outcome),
        ..Default::default()
    };
    log.append(kind, entry, crate::node::unix_now())?;
    Ok(())
}

/// The data directory's store when no node holds it (the node is stopped,
/// and cannot start while this is held), `None` when a running node does.
/// Decided by the store's lock, not by the address file a killed node
/// leaves behind.
///
/// The configuration is read only for the store's cache size, and a file
/// that does not load (edited since the node started, a stray variable)
/// does not stop a roster reaching a running node: the defaults open it.
///
/// A directory that holds no node (no tracenet.toml: never initialised, or
/// a mistyped --data-dir) is refused before anything is created in it.
pub(super) fn store_if_stopped(ctx: &Context) -> anyhow::Result<Option<sled::Db>> {
    let config = Config::path_in(&ctx.data_dir);
    if std::fs::symlink_metadata(&config).is_err() {
        bail!(
            "{} holds no node ({} is not there): give the --data-dir of the node to install it in, or run `tracenet init --state CC --data-dir {}` first",
            ctx.data_dir.display(),
            config.display(),
            super::output::shell_word(&ctx.data_dir)
        );
    }
    let options = Config::load(&config)
        .map(|c| c.store_options())
        .unwrap_or_default();
    match crate::store::open_db(&ctx.data_dir.join("db"), &options) {
        Ok(db) => Ok(Some(db)),
        Err(e) => {
            let e = anyhow::Error::from(e);
            if is_locked(&e) { Ok(None) } else { Err(e) }
        }
    }
}

/// Records a change made with the node stopped (a roster or maker table
/// installed) in `db`, the store [`store_if_stopped`] opened, flushed; the
/// node signs the audit head with it the next time it runs, as it does for
/// the entries it writes itself. `what` names the change for the error.
pub(super) fn audit_stopped(
    ctx: &Context,
    db: &sled::Db,
    kind: AuditKind,
    outcome: String,
    what: &str,
) -> anyhow::Result<()> {
    audit_in(ctx, db, kind, outcome).with_context(|| {
        format!(
            "{what}, but its audit entry could not be written to {}: the log lacks it (`tracenet audit verify` checks the rest); free space or fix the store before the node starts",
            ctx.data_dir.join("db").display()
        )
    })
}

fn parse_ids(ids: &[String]) -> anyhow::Result<Vec<RecordId>> {
    ids.iter()
        .map(|i| RecordId::parse(i).map_err(anyhow::Error::msg))
        .collect()
}

/// What `registry remove` prints.
#[derive(Serialize, serde::Deserialize)]
struct Removed {
    removed: u64,
}

fn render_removed(r: &Removed) -> String {
    format!("{} removed", crate::model::count(r.removed, "record"))
}

/// What `registry import` prints.
#[derive(Serialize)]
struct ImportOut<'a> {
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
    file: &'a Path,
    #[serde(flatten)]
    summary: &'a ImportSummary,
    seconds: f64,
}

fn import(
    ctx: &Context,
    cfg: &Config,
    db: &sled::Db,
    reg: &Registry,
    args: &ImportArgs,
) -> anyhow::Result<()> {
    let opts = args.options(cfg.registry.max_line_bytes);
    let file = args.file.as_path();
    let started = std::time::Instant::now();
    // A regular file's size makes a bar; a pipe's gives a spinner.
    let size = std::fs::metadata(file)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let bar = progress::bar(ctx, size, progress::Unit::Bytes, "importing");
    let mut next = 100_000;
    let summary = registry::import::import_file(reg, file, &opts, &mut |p| {
        if let Some(b) = &bar {
            b.set_position(p.bytes);
            b.set_message(crate::model::count(p.records, "record"));
        } else if !ctx.json && p.records >= next {
            // Plain lines for a log, and none with --json.
            say!(
                "{}: {} read",
                file.display(),
                crate::model::count(p.records, "record")
            );
            next = p.records + 100_000;
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // Refused whole (--strict, --replace): every bad line is listed on
    // stderr before the one error line, so that all can be fixed at once.
    if let Err(
        registry::import::ImportError::Strict { count, listed, .. }
        | registry::import::ImportError::ReplaceRefused { count, listed, .. },
    ) = &summary
    {
        refused_whole(ctx, file, listed, *count, args.replace)?;
    }
    let kind = if args.replace {
        AuditKind::RegistryReplaced
    } else {
        AuditKind::RegistryImported
    };
    // Records written before the import failed are a change of the
    // registry like any other: audited, with why it is incomplete.
    if let Err(e) = &summary
        && e.wrote_records()
    {
        audit(ctx, db, kind, format!("incomplete: {e}"))?;
    }
    let summary = summary?;
    audit(ctx, db, kind, summary.counts_text())?;
    let out = ImportOut {
        file,
        summary: &summary,
        seconds: started.elapsed().as_secs_f64(),
    };
    ctx.emit(&out, |o| render_summary(o.file, o.summary, Some(o.seconds)))?;
    partial(file, &summary)
}

/// An import refused whole (`--strict`, `--replace`) says its bad lines:
/// with `--json`, as the import's summary on standard output (nothing
/// added, updated or kept; `rejected` and the first `rejections`), so that
/// a script reads them as it reads a partial import's; otherwise on
/// standard error, so that all can be fixed at once. Either way the command
/// then fails with one error line that counts them without repeating the
/// first (`Err`).
fn refused_whole(
    ctx: &Context,
    file: &Path,
    listed: &[registry::import::Rejection],
    count: u64,
    replace: bool,
) -> anyhow::Result<()> {
    if ctx.json {
        let summary = ImportSummary {
            rejected: count,
            rejections: listed.to_vec(),
            ..ImportSummary::default()
        };
        let out = ImportOut {
            file,
            summary: &summary,
            seconds: 0.0,
        };
        ctx.emit(&out, |_| String::new())?;
    } else {
        for r in listed {
            say!("rejected {r}");
        }
        if count > listed.len() as u64 {
            say!(
                "and {} more",
                crate::model::count(count - listed.len() as u64, "bad line")
            );
        }
    }
    // Where they are: the summary's `rejections` on standard output with
    // --json (the error line named the first again), else above.
    let place = if ctx.json {
        "in the rejections printed"
    } else {
        "listed above"
    };
    let bad = if count > listed.len() as u64 {
        format!(
            "{}, the first {} {place}",
            crate::model::count(count, "bad line"),
            listed.len()
        )
    } else {
        format!("{}, {place}", crate::model::count(count, "bad line"))
    };
    Err(if replace {
        anyhow::anyhow!(
            "replacing the registry: nothing changed; {bad}, and replacing would remove the records they hold: correct them and replace again"
        )
    } else {
        anyhow::anyhow!(
            "strict import: nothing imported; {bad}: correct them and import again, or import without --strict to take the good lines"
        )
    })
}

/// An import that rejected lines ends with [`super::EXIT_REJECTED`], after
/// its summary is printed.
fn partial(file: &Path, s: &ImportSummary) -> anyhow::Result<()> {
    if s.rejected == 0 {
        return Ok(());
    }
    Err(super::ImportedWithRejections {
        file: file.display().to_string(),
        rejected: crate::model::count(s.rejected, "line"),
        rest: if s.added + s.updated + s.unchanged == 0 {
            "nothing was imported"
        } else {
            "the rest was imported"
        },
    }
    .into())
}

fn generate(
    ctx: &Context,
    state: &str,
    count: u64,
    seed: u64,
    out: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let state = CountryCode::parse(state)
        .map_err(|e| super::usage_error("registry generate", format!("--state {state:?}: {e}")))?;
    // Through a temporary file beside it, as every export: a crash or a
    // full disk leaves the old file or the whole new one.
    let mut dest = super::Destination::new(out, force)?;
    let w = dest.writer();
    for rec in registry::synthetic::generate(state, count, seed) {
        serde_json::to_writer(&mut *w, &rec)?;
        w.write_all(b"\n")?;
    }
    if !dest.finish()? {
        return Ok(());
    }
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(serialize_with = "crate::model::file::serialize_lossy")]
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
        "{}: {} added, {} updated, {} unchanged, {} rejected{}{}\n",
        file.display(),
        s.added,
        s.updated,
        s.unchanged,
        s.rejected,
        if s.removed > 0 {
            format!(", {} removed (not in the file)", s.removed)
        } else {
            String::new()
        },
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
    for w in &s.warnings {
        t += &format!("  warning {w}\n");
    }
    if s.warned as usize > s.warnings.len() {
        t += &format!(
            "  ... and {} more warnings\n",
            s.warned as usize - s.warnings.len()
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
        r.category.words(),
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
        let mut said = Vec::new();
        if let Some(c) = e.counterpart {
            said.push(match e.kind {
                crate::model::EventKind::Imported => format!("from {c}"),
                crate::model::EventKind::Exported => format!("to {c}"),
                _ => format!("with {c}"),
            });
        }
        if let Some(h) = e.holder {
            said.push(format!("held by {}", h.words()));
        }
        // On one line, as read: line breaks and text-direction marks in
        // a registry's free text neither break nor turn the listing.
        if let Some(x) = &e.reference {
            said.push(format!(
                "reference {}",
                crate::model::without_moving(x.as_str())
            ));
        }
        if let Some(x) = &e.note {
            said.push(format!(
                "note: {}",
                crate::model::without_moving(x.as_str())
            ));
        }
        t += &format!(
            "  {:<10}  {:<12} {}\n",
            e.date.to_string(),
            e.kind.words(),
            said.join(", ")
        );
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
            c.quality.to_string().replace('_', " "),
            m.maker_label(),
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
    for f in &h.factory_codes {
        t += &format!(
            "factory code {:<19} {}\n",
            format!("{}/FC:{}", f.country, f.code),
            crate::model::count(f.records, "record")
        );
    }
    if t.is_empty() {
        t = "the registry holds no records\n".into();
    }
    t
}

/// `--country`, checked as clap checks its own values (a usage error, exit 2).
fn country_flag(s: &str) -> Result<String, String> {
    CountryCode::parse(s)
        .map(|c| c.to_string())
        .map_err(|e| e.to_string())
}

/// `--serial`, checked before anything is opened or asked.
fn serial_flag(s: &str) -> Result<String, String> {
    crate::marking::SerialQuery::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod golden {
    #[test]
    fn registry_show_reads_as_the_golden_text() {
        let r: crate::registry::Record =
            serde_json::from_str(include_str!("golden/record.json")).unwrap();
        crate::cli::node::golden::check("registry-show.txt", &super::render_record(&r));
    }
}
