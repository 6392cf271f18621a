//! `tracenet makers sign|verify|install|show`: the regional organisation
//! signs the federation's maker reference table with its anchor keys, and
//! any node installs it (it then spreads by gossip) or shows the one in
//! force. Thin: the work is in `roster::makers` and the node.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde::Serialize;

use super::Context;
use super::trust::{TrustArgs, anchors_named, parse_day, trust_config};
use crate::api::{ApiClient, ApiClientError};
use crate::config::Config;
use crate::identity::NodeKey;
use crate::marking::ReferenceTable;
use crate::model::{Date, count};
use crate::node::MakersInstalled;
use crate::roster::makers::{self, MakersBody, MakersFile, MakersView};

mod changes;

/// A table in the TOML format is read whole: refuse one far larger than any
/// table that could be signed.
const MAX_TOML_BYTES: u64 = 1 << 20;

#[derive(Debug, Subcommand)]
pub enum MakersCommand {
    /// Sign a maker reference table with a trust anchor's key: a table in the
    /// format of config/makers.toml becomes a signed file (--out); a signed
    /// file gets this anchor's signature added (for a threshold above 1),
    /// refused where another key's signature in it does not hold.
    Sign {
        /// The table (TOML, as config/makers.toml) or a signed table file (JSON).
        file: PathBuf,
        /// The anchor's secret key file, from `roster keygen`.
        #[arg(long = "anchor-key", value_name = "FILE")]
        key: PathBuf,
        /// The version to sign it as, above every version the federation
        /// used, from 1 (default: the file's `version`). TOML only.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        version: Option<u32>,
        /// First day nodes accept it: YYYY-MM-DD, `today` or `today+N`
        /// (default today, UTC). TOML only.
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        valid_from: Option<Date>,
        /// Last day nodes accept it (it stays in force after): YYYY-MM-DD or
        /// `today+N` (default today+364). TOML only.
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        valid_until: Option<Date>,
        /// Where to write the signed file (required for a TOML table; a
        /// signed file is updated in place without it).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace --out if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check a signed table's signatures, threshold, dates and rows against
    /// the trust anchors (--anchor, or [trust] of the data directory).
    Verify {
        /// The signed table file.
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Make a signed table this node's if it verifies against the node's
    /// anchors and is newer than the one in force; a running node applies it
    /// at once (its registry's records move to the new keys, its topics
    /// follow) and passes it on to the federation.
    Install {
        /// The signed table file.
        file: PathBuf,
    },
    /// The maker reference table in force on this node: its version (0 for
    /// the one built into this release), signers, validity, local makers.
    /// With --toml, its rows in the format `makers sign` takes, to edit and
    /// sign as the next version.
    Show {
        /// Print the table's rows as TOML, the format `makers sign` takes
        /// (config/makers.toml's): the table in force on this node, or the
        /// one built into this release where the data directory holds no
        /// node (a regional organisation's first table).
        #[arg(long)]
        toml: bool,
    },
}

/// What `makers show --toml` prints with --json: the table's text and
/// where it comes from.
#[derive(Debug, Serialize)]
struct TableText {
    /// The table's version: 0 for the one built into this release.
    version: u32,
    source: makers::Source,
    /// The table in the TOML format `makers sign` takes.
    toml: String,
}

/// What `makers sign` and `makers verify` report.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
    file: &'a Path,
    version: u32,
    valid_from: Date,
    valid_until: Date,
    /// Makers in the table (distinct canonical names).
    makers: usize,
    /// SHA-256 (hex) of the table's canonical form.
    digest: String,
    /// The public keys (base64) of the anchors whose signatures it carries
    /// (`sign`) or that were counted (`verify`).
    signed_by: Vec<String>,
    verified: bool,
    /// What the table changes against the one built into this release
    /// (`built_in_left_out`, `built_in_renamed`, `built_in_narrowed`).
    /// `sign` also warns of them on standard error.
    #[serde(flatten)]
    changes: changes::Changes,
}

fn summary_text(s: &Summary<'_>) -> String {
    format!(
        "maker table {} version {} valid {} to {}{}, {}\n  digest {}\nsigned by {}: {}\n",
        s.file.display(),
        s.version,
        s.valid_from,
        s.valid_until,
        if s.verified { " (verified)" } else { "" },
        count(s.makers as u64, "maker"),
        s.digest,
        count(s.signed_by.len() as u64, "anchor"),
        s.signed_by.join(", ")
    )
}

fn summary<'a>(
    path: &'a Path,
    body: &MakersBody,
    signed_by: Vec<String>,
    verified: bool,
) -> Summary<'a> {
    Summary {
        file: path,
        version: body.version,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        makers: body.reference().maker_count(),
        digest: makers::digest_of(&body.reference()).to_hex(),
        signed_by,
        verified,
        changes: changes::against_built_in(&body.reference()),
    }
}

pub fn run(cmd: MakersCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        MakersCommand::Sign {
            file,
            key,
            version,
            valid_from,
            valid_until,
            out,
            force,
        } => sign(
            ctx,
            &file,
            &key,
            (version, valid_from, valid_until),
            out.as_deref(),
            force,
        ),
        MakersCommand::Verify { file, trust } => {
            let named = anchors_named(&trust, ctx);
            let trust = trust_config(&trust, ctx, "makers verify")?;
            let read = MakersFile::read(&file)?;
            let signed = read
                .verify(&trust, Some(Date::today()))
                .map_err(|e| match e {
                    crate::roster::makers::MakersError::Threshold { .. } => anyhow::anyhow!(
                        "{}: {e}, checked against {named}; {}",
                        file.display(),
                        super::trust::signed_by(&read.signatures)
                    ),
                    e => e.into(),
                })?;
            let by = signed.signed_by().iter().map(|k| k.to_base64()).collect();
            ctx.emit(&summary(&file, signed.body(), by, true), |s| {
                summary_text(s) + &changes::text(&s.changes)
            })
        }
        MakersCommand::Install { file } => install(ctx, &file),
        MakersCommand::Show { toml: false } => {
            let view = show(ctx)?;
            ctx.emit(&view, MakersView::to_text)
        }
        MakersCommand::Show { toml: true } => {
            let text = table_text(ctx)?;
            ctx.emit(&text, |t| t.toml.trim_end().to_string())
        }
    }
}

/// Whether `path` holds a signed table file rather than a TOML table.
fn is_signed_file(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn sign(
    ctx: &Context,
    path: &Path,
    key: &Path,
    (version, from, until): (Option<u32>, Option<Date>, Option<Date>),
    out: Option<&Path>,
    force: bool,
) -> anyhow::Result<()> {
    super::trust::refuse_what_is_no_anchor_key(ctx, key)?;
    let key = NodeKey::load(key)?;
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_TOML_BYTES {
        bail!(
            "{} is {size} bytes; a maker table is at most {MAX_TOML_BYTES}",
            path.display()
        );
    }
    let text = crate::model::file::read_small_text(path, crate::model::file::SMALL_FILE_BYTES)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let (mut file, target) = if is_signed_file(&text) {
        if version.is_some() || from.is_some() || until.is_some() {
            return Err(super::usage_error(
                "makers sign",
                format!(
                    "{} is already signed: its version and dates are fixed; sign the TOML table again to change them",
                    path.display()
                ),
            ));
        }
        // Signed in place by default; another file named by --out is
        // replaced only with --force, as the TOML branch's.
        super::output::refuse_a_nodes_own_path(out.unwrap_or(path))?;
        if let Some(out) = out
            && out != path
            && std::fs::symlink_metadata(out).is_ok()
            && !force
        {
            bail!("{} exists; pass --force to replace it", out.display());
        }
        (MakersFile::from_json(text.as_bytes())?, out.unwrap_or(path))
    } else {
        let Some(out) = out else {
            return Err(super::usage_error(
                "makers sign",
                format!(
                    "--out FILE is required: where to write the signed table made from {}",
                    path.display()
                ),
            ));
        };
        let table = ReferenceTable::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; a maker table is the TOML that `tracenet makers show --toml` prints",
                path.display()
            )
        })?;
        let today = Date::today();
        let from = from.unwrap_or(today);
        let until = match until {
            Some(u) => u,
            None => Date::from_days(from.to_days() + 364).unwrap_or(from),
        };
        if until < from {
            return Err(super::usage_error(
                "makers sign",
                format!(
                    "--valid-until {until} is before --valid-from {from}{}: give the last day of validity on or after the first",
                    if from == today { " (today)" } else { "" }
                ),
            ));
        }
        let body = MakersBody::of(&table, version.unwrap_or(table.version), from, until);
        let file = MakersFile::new(&body).with_context(|| format!("{}", path.display()))?;
        // Before "exists, pass --force", which --force would not get past.
        super::output::refuse_a_nodes_own_path(out)?;
        // A dangling symbolic link counts: it is replaced only with --force.
        if std::fs::symlink_metadata(out).is_ok() && !force {
            bail!("{} exists; pass --force to replace it", out.display());
        }
        (file, out)
    };
    if let Some(broken) = super::trust::others_broken(file.broken_signatures()?, &key.public_key())
    {
        bail!(
            "{}: {broken} not hold over this table: its body is not what that key signed (changed after, or the signature damaged). Not signed: have that anchor sign it again, which replaces its signature, or sign the TOML table again as a new file (`tracenet makers sign TABLE.toml --anchor-key KEY_FILE --out NEW_FILE`)",
            path.display(),
        );
    }
    file.sign(key.signing_key())?;
    super::output::refuse_a_nodes_own_path(target)?;
    file.write(target)?;
    let body = file.decode_unverified()?;
    // A table in force replaces the built-in one whole: what it leaves out
    // is no longer matched wherever it is installed. Said once the table
    // is checked and signed (a co-signature too), not of one refused.
    let summary = summary(target, &body, Vec::new(), false);
    for w in changes::warnings(target, &summary.changes) {
        say!("{w}");
    }
    if body.valid_until < Date::today() {
        say!(
            "warning: {} was valid until {}, before today: nodes refuse it; sign the table again with later dates (--valid-from, --valid-until) as a new version",
            target.display(),
            body.valid_until
        );
    }
    // Each key once: a signature copied in the file is one signer's.
    let mut by: Vec<String> = Vec::new();
    for s in &file.signatures {
        let k = s.anchor.to_base64();
        if !by.contains(&k) {
            by.push(k);
        }
    }
    ctx.emit(
        &Summary {
            signed_by: by,
            ..summary
        },
        summary_text,
    )
}

/// The trust anchors of the data directory's configuration, which a node
/// verifies every table with.
fn node_config(ctx: &Context) -> anyhow::Result<Config> {
    let path = Config::path_in(&ctx.data_dir);
    let cfg = Config::load(&path)?;
    if cfg.trust.anchors.is_empty() {
        bail!(
            "no trust anchors in {}: install the roster first (`tracenet roster install FILE --anchor KEY` writes them), then the maker table",
            path.display()
        );
    }
    Ok(cfg)
}

fn install(ctx: &Context, path: &Path) -> anyhow::Result<()> {
    let read = MakersFile::read(path)?;
    let bytes = read.to_json();
    let cfg_path = Config::path_in(&ctx.data_dir);
    // The store's lock tells a running node from a stopped one (not the
    // address file a killed node leaves); a stopped one's store stays held
    // here until the install is audited.
    let out: MakersInstalled = match super::registry::store_if_stopped(ctx)? {
        None => {
            super::node::with_client(ctx, async |c| Ok(c.post_bytes("/v1/makers", bytes).await?))
                .map_err(|e| {
                    // The node's refusal for too few signatures, naming
                    // where its anchors come from and whose the file holds.
                    if format!("{e:#}").contains(" of the trust anchors; ") {
                        anyhow::anyhow!(
                            "{}: {e:#}, checked against the running node's anchors of [trust] in {}; {}",
                            path.display(),
                            cfg_path.display(),
                            super::trust::signed_by(&read.signatures)
                        )
                    } else {
                        e
                    }
                })?
        }
        Some(db) => {
            let cfg = node_config(ctx)?;
            let file = MakersFile::from_json(&bytes)?;
            match makers::install(&ctx.data_dir, &file, &cfg.trust, Date::today()) {
                Ok(s) => {
                    super::registry::audit_stopped(
                        ctx,
                        &db,
                        crate::audit::AuditKind::MakersInstalled,
                        format!("version {}", s.version()),
                        &format!("maker table version {} was installed", s.version()),
                    )?;
                    MakersInstalled {
                        installed: true,
                        version: s.version(),
                    }
                }
                Err(makers::MakersError::NotNewer { held, .. }) => MakersInstalled {
                    installed: false,
                    version: held,
                },
                Err(e @ makers::MakersError::Threshold { .. }) => bail!(
                    "{}: {e}, checked against the anchors of [trust] in {}; {}",
                    path.display(),
                    cfg_path.display(),
                    super::trust::signed_by(&read.signatures)
                ),
                Err(e) => return Err(e.into()),
            }
        }
    };
    ctx.emit(&out, |o| {
        if o.installed {
            format!("maker table version {} installed", o.version)
        } else {
            format!(
                "not installed: this node already holds version {} or newer",
                o.version
            )
        }
    })
}

/// The table in force in the data directory as TOML: the built-in one as
/// shipped (its comments say the format), a signed one as its rows, under
/// a header naming its version. Read from the node's files, running or
/// not: a running node's table in force is the one it stored.
fn table_text(ctx: &Context) -> anyhow::Result<TableText> {
    let built_in = || TableText {
        version: 0,
        source: makers::Source::BuiltIn,
        toml: crate::marking::reference::SHIPPED.to_string(),
    };
    let config = Config::path_in(&ctx.data_dir);
    if !config.exists() {
        say!(
            "note: {} holds no node: the table built into this release",
            ctx.data_dir.display()
        );
        return Ok(built_in());
    }
    let cfg = Config::load(&config)?;
    let Some(signed) = makers::load_held(&ctx.data_dir, &cfg.trust).signed else {
        return Ok(built_in());
    };
    let rows = toml::to_string(&signed.body().reference())
        .context("the table in force could not be written as TOML")?;
    let version = signed.version();
    Ok(TableText {
        version,
        source: makers::Source::Signed,
        toml: format!(
            "# The maker reference table in force on this node: version {version}, valid\n\
             # {} to {}. Format: config/makers.toml in tracenet's sources and\n\
             # proto-docs/FORMATS.md. Sign the next one with a version above {version}.\n\n{rows}",
            signed.body().valid_from,
            signed.body().valid_until,
        ),
    })
}

/// The table in force: from the running node, or read from the data
/// directory when none runs (what the node will apply when it starts).
fn show(ctx: &Context) -> anyhow::Result<MakersView> {
    let offline = || -> anyhow::Result<MakersView> {
        let cfg = Config::load(&Config::path_in(&ctx.data_dir))?;
        Ok(makers::in_force(&ctx.data_dir, &cfg.trust, &cfg.makers).view(Date::today()))
    };
    match ApiClient::from_data_dir(&ctx.data_dir) {
        Ok(_) => match super::node::with_client(ctx, async |c| Ok(c.get("/v1/makers").await?)) {
            Err(e)
                if e.chain().any(|c| {
                    matches!(
                        c.downcast_ref::<ApiClientError>(),
                        Some(ApiClientError::Unreachable { .. })
                    )
                }) =>
            {
                offline()
            }
            r => r,
        },
        Err(ApiClientError::NotRunning(_)) => offline(),
        Err(e) => Err(e.into()),
    }
}
