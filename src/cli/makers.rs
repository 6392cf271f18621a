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
    /// Makers built into this release that the table does not list, by
    /// canonical name (compared folded), each once: nodes installing it no
    /// longer match them by name. `sign` also warns of them on standard
    /// error.
    built_in_left_out: Vec<String>,
    /// Makers built into this release that the table still lists, but
    /// under which it matches fewer markings: spellings no longer read as
    /// that maker in some countries of manufacture, or state factory codes
    /// no longer placed with it. `sign` also warns of them on standard
    /// error.
    built_in_narrowed: Vec<Narrowed>,
}

/// A built-in maker the table lists, and what of the built-in table's
/// matching it lost ([`built_in_narrowed`]).
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Narrowed {
    /// The canonical name, as the built-in table writes it.
    maker: String,
    /// Spellings (as the built-in table writes them) no longer read as this
    /// maker, each with the countries of manufacture where.
    spellings: Vec<LostSpelling>,
    /// State factory codes no longer placed with this maker.
    factory_codes: Vec<LostCode>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct LostSpelling {
    spelling: String,
    /// Countries of manufacture where it is no longer read as the maker.
    countries: Vec<crate::model::CountryCode>,
    /// Lost also for a weapon made in any country neither table names for
    /// this spelling.
    elsewhere: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct LostCode {
    country: crate::model::CountryCode,
    code: String,
}

/// The makers built into this release that `table` does not list, by
/// folded canonical name, each once, in the built-in table's order.
fn built_in_left_out(table: &ReferenceTable) -> Vec<String> {
    let Ok(shipped) = ReferenceTable::parse(crate::marking::reference::SHIPPED) else {
        return Vec::new();
    };
    let kept: std::collections::BTreeSet<String> = table
        .makers
        .iter()
        .map(|m| crate::marking::fold_maker(&m.name))
        .collect();
    // A maker with rows for several countries counts once.
    let mut seen = std::collections::BTreeSet::new();
    shipped
        .makers
        .iter()
        .filter(|m| {
            let folded = crate::marking::fold_maker(&m.name);
            !kept.contains(&folded) && seen.insert(folded)
        })
        .map(|m| m.name.clone())
        .collect()
}

/// The makers built into this release that `table` still lists (by folded
/// canonical name) but under which a node installing it matches fewer
/// markings than under the built-in table. For each spelling of a built-in
/// row, the maker key it folds to (`MakerTable::key`, what records are
/// filed and found under) is compared in every country where the answer
/// can differ: the row's countries, those either table gives a spelling of
/// that folded form, the States these route with (a former State and its
/// successors), and one country neither names, which stands for all the
/// others ("elsewhere": a spelling one maker holds alone is that maker's
/// wherever the weapon was made). Lost where the key differs or names no
/// maker of the table. For each factory code and country of the row, lost
/// where the table places it with no maker or another
/// (`MakerTable::factory_maker`). In the built-in table's order; spellings
/// that fold alike are reported once, as first written.
fn built_in_narrowed(table: &ReferenceTable) -> Vec<Narrowed> {
    use crate::marking::{MakerTable, fold_maker};
    use crate::model::CountryCode;
    use std::collections::{BTreeMap, BTreeSet};
    let shipped = ReferenceTable::shipped_ref();
    let built = MakerTable::built_in();
    let new = MakerTable::from_reference(table);
    let listed: BTreeSet<String> = table.makers.iter().map(|m| fold_maker(&m.name)).collect();
    // Folded spelling -> the countries either table gives it in.
    let mut scoped: BTreeMap<String, BTreeSet<CountryCode>> = BTreeMap::new();
    for row in shipped.makers.iter().chain(&table.makers) {
        for s in row.spellings() {
            scoped
                .entry(fold_maker(s))
                .or_default()
                .extend(row.countries.iter().copied());
        }
    }
    let mut out: Vec<Narrowed> = Vec::new();
    for row in &shipped.makers {
        let folded = fold_maker(&row.name);
        if !listed.contains(&folded) {
            continue;
        }
        let mut lost_spellings: Vec<LostSpelling> = Vec::new();
        let mut lost_codes: Vec<LostCode> = Vec::new();
        let mut seen = BTreeSet::new();
        for spelling in row.spellings() {
            let f = fold_maker(spelling);
            if !seen.insert(f.clone()) {
                continue;
            }
            let named: BTreeSet<CountryCode> = row
                .countries
                .iter()
                .chain(scoped.get(&f).into_iter().flatten())
                .flat_map(|c| c.routes())
                .collect();
            // A country no row names, for every such country alike.
            let elsewhere = ["AQ", "BV", "HM"]
                .iter()
                .filter_map(|c| CountryCode::parse(c).ok())
                .find(|c| !named.contains(c));
            let lost_in = |country: CountryCode| {
                let Ok(was) = built.key(spelling, country) else {
                    return false;
                };
                // A spelling the built-in table gives another maker there
                // is not this row's to lose.
                if was.as_str() != folded || built.display_name(&was).is_none() {
                    return false;
                }
                !new.key(spelling, country)
                    .is_ok_and(|now| now == was && new.display_name(&now).is_some())
            };
            let countries: Vec<CountryCode> =
                named.iter().copied().filter(|c| lost_in(*c)).collect();
            let lost_elsewhere = elsewhere.is_some_and(lost_in);
            if !countries.is_empty() || lost_elsewhere {
                lost_spellings.push(LostSpelling {
                    spelling: spelling.to_string(),
                    countries,
                    elsewhere: lost_elsewhere,
                });
            }
        }
        for &country in &row.countries {
            for code in &row.factory_codes {
                let was = built.factory_maker(country, code);
                if was.is_none_or(|k| k.as_str() != folded) {
                    continue;
                }
                let lost = LostCode {
                    country,
                    code: code.clone(),
                };
                if new.factory_maker(country, code) != was && !lost_codes.contains(&lost) {
                    lost_codes.push(lost);
                }
            }
        }
        if lost_spellings.is_empty() && lost_codes.is_empty() {
            continue;
        }
        // A maker with rows for several countries is one entry.
        match out.iter_mut().find(|n| fold_maker(&n.maker) == folded) {
            Some(n) => {
                for l in lost_spellings {
                    let f = fold_maker(&l.spelling);
                    match n
                        .spellings
                        .iter_mut()
                        .find(|m| fold_maker(&m.spelling) == f)
                    {
                        Some(m) => {
                            for c in l.countries {
                                if !m.countries.contains(&c) {
                                    m.countries.push(c);
                                }
                            }
                            m.countries.sort();
                            m.elsewhere |= l.elsewhere;
                        }
                        None => n.spellings.push(l),
                    }
                }
                for c in lost_codes {
                    if !n.factory_codes.contains(&c) {
                        n.factory_codes.push(c);
                    }
                }
            }
            None => out.push(Narrowed {
                maker: row.name.clone(),
                spellings: lost_spellings,
                factory_codes: lost_codes,
            }),
        }
    }
    out
}

/// `narrowed` in words, a maker each, at most `at_most` makers and as many
/// spellings and codes of each.
fn narrowed_words(narrowed: &[Narrowed], at_most: usize) -> String {
    let one = |n: &Narrowed| {
        let mut parts: Vec<String> = n
            .spellings
            .iter()
            .map(|l| {
                let mut places: Vec<String> = l.countries.iter().map(ToString::to_string).collect();
                if l.elsewhere {
                    places.push("elsewhere".into());
                }
                format!("{:?} made in {}", l.spelling, places.join(", "))
            })
            .chain(
                n.factory_codes
                    .iter()
                    .map(|c| format!("factory code {} in {}", c.code, c.country)),
            )
            .collect();
        if parts.len() > at_most {
            parts.truncate(at_most);
            parts.push("...".into());
        }
        format!("{} ({})", n.maker, parts.join("; "))
    };
    let mut words: Vec<String> = narrowed.iter().take(at_most).map(one).collect();
    if narrowed.len() > at_most {
        words.push("...".into());
    }
    words.join(", ")
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
        built_in_left_out: built_in_left_out(&body.reference()),
        built_in_narrowed: built_in_narrowed(&body.reference()),
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
            ctx.emit(&summary(&file, signed.body(), by, true), summary_text)
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
        // A table in force replaces the built-in one whole: makers left out
        // are no longer matched by name wherever it is installed.
        let left_out = built_in_left_out(&table);
        if !left_out.is_empty() && !table.makers.is_empty() {
            let shipped = ReferenceTable::shipped().maker_count();
            say!(
                "warning: {} of the {} makers built into this build {} not in {} ({}{}): nodes installing it no longer match {} by name. Start from the table built into this release to keep them: `tracenet makers show --toml` prints it where no table was signed, or for a directory without a node (`--data-dir` an empty one)",
                left_out.len(),
                shipped,
                if left_out.len() == 1 { "is" } else { "are" },
                path.display(),
                left_out
                    .iter()
                    .take(5)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                if left_out.len() > 5 { ", ..." } else { "" },
                if left_out.len() == 1 { "it" } else { "them" },
            );
        }
        let narrowed = built_in_narrowed(&table);
        if !narrowed.is_empty() {
            say!(
                "warning: {} built into this build {} matched by fewer spellings or factory codes in {}: {}. Nodes installing it file and find records so marked under another maker's name, or a name of their own. Give the row those spellings, countries and codes again (taking them from a row that now has them) to keep them; `tracenet makers show --toml` prints the table in force",
                count(narrowed.len() as u64, "maker"),
                if narrowed.len() == 1 { "is" } else { "are" },
                path.display(),
                narrowed_words(&narrowed, 5),
            );
        }
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
    ctx.emit(&summary(target, &body, by, false), summary_text)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CountryCode;

    fn shipped() -> ReferenceTable {
        ReferenceTable::shipped_ref().clone()
    }

    fn row<'a>(t: &'a mut ReferenceTable, name: &str) -> &'a mut crate::marking::ReferenceMaker {
        t.makers.iter_mut().find(|m| m.name == name).unwrap()
    }

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    #[test]
    fn the_built_in_table_loses_nothing() {
        assert!(built_in_left_out(&shipped()).is_empty());
        assert_eq!(built_in_narrowed(&shipped()), Vec::new());
    }

    #[test]
    fn a_spelling_or_factory_code_taken_from_a_kept_maker_is_reported() {
        let mut t = shipped();
        row(&mut t, "Steyr Arms").aliases.retain(|a| a != "Steyr");
        row(&mut t, "Arsenal").factory_codes.clear();
        let n = built_in_narrowed(&t);
        assert_eq!(
            n,
            vec![
                Narrowed {
                    maker: "Steyr Arms".into(),
                    // Made in AT, and anywhere else: "Steyr" was Steyr Arms'
                    // alone, and is now a name of its own.
                    spellings: vec![LostSpelling {
                        spelling: "Steyr".into(),
                        countries: vec![cc("AT")],
                        elsewhere: true,
                    }],
                    factory_codes: vec![],
                },
                Narrowed {
                    maker: "Arsenal".into(),
                    spellings: vec![],
                    factory_codes: vec![LostCode {
                        country: cc("BG"),
                        code: "10".into(),
                    }],
                },
            ]
        );
        // Still listed: not among the makers left out.
        assert!(built_in_left_out(&t).is_empty());
        let words = narrowed_words(&n, 5);
        assert!(
            words.contains(r#"Steyr Arms ("Steyr" made in AT, elsewhere)"#)
                && words.contains("Arsenal (factory code 10 in BG)"),
            "{words}"
        );
    }

    /// A row like `Voere`'s, for another maker, with `countries` and
    /// `aliases`.
    fn another_maker(
        t: &ReferenceTable,
        name: &str,
        countries: &[&str],
        aliases: &[&str],
    ) -> crate::marking::ReferenceMaker {
        let mut m = t.makers.iter().find(|m| m.name == "Voere").unwrap().clone();
        m.name = name.into();
        m.countries = countries.iter().map(|c| cc(c)).collect();
        m.aliases = aliases.iter().map(|a| a.to_string()).collect();
        m
    }

    #[test]
    fn a_spelling_given_to_another_maker_is_reported() {
        let mut t = shipped();
        row(&mut t, "Steyr Arms").aliases.retain(|a| a != "Steyr");
        let other = another_maker(&t, "Steyr Sport", &["AT"], &["Steyr"]);
        t.makers.push(other);
        let n = built_in_narrowed(&t);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].maker, "Steyr Arms");
        assert_eq!(n[0].spellings[0].spelling, "Steyr");
        assert_eq!(n[0].spellings[0].countries, vec![cc("AT")]);
    }

    #[test]
    fn a_spelling_shared_in_another_country_is_lost_where_it_was_the_makers_alone() {
        // Carl Walther's row is kept whole. "Walther" given to a maker in HU
        // no longer reads as Carl Walther on a weapon made in HU, nor in any
        // country neither row names (it means two makers there).
        let mut t = shipped();
        let other = another_maker(&t, "Walther Hungaria", &["HU"], &["Walther"]);
        t.makers.push(other);
        let n = built_in_narrowed(&t);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].maker, "Carl Walther");
        assert_eq!(
            n[0].spellings,
            vec![LostSpelling {
                spelling: "Walther".into(),
                countries: vec![cc("HU")],
                elsewhere: true,
            }]
        );
    }

    #[test]
    fn a_spelling_shared_with_a_successor_of_a_former_state_is_lost_under_it() {
        // "Zastava" marked YU read as Zastava Arms of RS (YU's successor);
        // given also to a maker of HR, another successor, it means two.
        let mut t = shipped();
        let other = another_maker(&t, "Zastava Croatia", &["HR"], &["Zastava"]);
        t.makers.push(other);
        let n = built_in_narrowed(&t);
        let zastava = n
            .iter()
            .find(|m| m.maker == "Zastava Arms")
            .and_then(|m| m.spellings.iter().find(|l| l.spelling == "Zastava"));
        let lost = zastava.unwrap_or_else(|| panic!("{n:?}"));
        assert!(
            lost.countries.contains(&cc("YU")) && lost.countries.contains(&cc("HR")),
            "{lost:?}"
        );
        assert!(!lost.countries.contains(&cc("RS")), "{lost:?}");
    }

    #[test]
    fn a_country_dropped_where_the_spelling_still_names_the_maker_elsewhere_loses_nothing() {
        // "Walther" made in the US still folds to Carl Walther's key through
        // its German row (one maker holds the spelling): records are filed
        // and found as before.
        let mut t = shipped();
        row(&mut t, "Carl Walther")
            .countries
            .retain(|c| *c != cc("US"));
        assert_eq!(built_in_narrowed(&t), Vec::new());
    }

    #[test]
    fn a_factory_code_given_to_another_maker_is_reported_once() {
        let mut t = shipped();
        row(&mut t, "Arsenal").factory_codes.clear();
        let mut other = another_maker(&t, "Factory Ten", &["BG"], &[]);
        other.factory_codes = vec!["10".into(), "10".into()];
        t.makers.push(other);
        let n = built_in_narrowed(&t);
        let arsenal = n.iter().find(|m| m.maker == "Arsenal").unwrap();
        assert_eq!(
            arsenal.factory_codes,
            vec![LostCode {
                country: cc("BG"),
                code: "10".into(),
            }]
        );
    }
}
