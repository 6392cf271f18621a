//! The trust commands: `identity show`, `roster keygen|new|add|remove|sign|verify|show`
//! and `verify FILE`, plus the identity half of `init`. Thin: the work is done in
//! `identity`, `roster` and `evidence`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::evidence::Bundle;
use crate::identity::{self, NodeKey};
use crate::marking::MarkingPrefix;
use crate::model::{CountryCode, Date};
use crate::roster::{self, Member, Role, RosterBody, RosterFile, TrustConfig};

/// The node's configuration file inside the data directory.
pub const CONFIG_FILE: &str = "tracenet.toml";

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Print this node's State, PeerId and public key (never the secret).
    Show,
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Create a trust anchor's key file (mode 0600) and print its public key.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Start an unsigned roster, empty or as the next version of a previous one.
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// First day of validity: YYYY-MM-DD, `today`, or `today+N` / `today-N`
        /// (N days, UTC).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        valid_from: Date,
        /// Last day of validity: YYYY-MM-DD, `today`, or `today+N` (N days, UTC).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        valid_until: Date,
        /// Copy the members of this roster and take its version plus one.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// The version number (default: 1, or the previous version plus one).
        #[arg(long)]
        version: Option<u64>,
    },
    /// Add a member or bootstrap peer (clears the signatures).
    Add {
        roster: PathBuf,
        #[arg(long, value_name = "CC")]
        state: CountryCode,
        #[arg(long)]
        name: String,
        /// The node's public key: hex, base64 or its PeerId.
        #[arg(long)]
        key: String,
        #[arg(long, default_value = "member", value_parser = parse_role)]
        role: Role,
        /// A marking prefix the State declares, CC/MAKER (repeatable).
        #[arg(long = "prefix", value_name = "CC/MAKER")]
        prefixes: Vec<MarkingPrefix>,
        /// A known address, multiaddr text (repeatable).
        #[arg(long = "address", value_name = "MULTIADDR")]
        addresses: Vec<String>,
    },
    /// Remove a State's entries, or one entry by key (clears the signatures).
    Remove {
        roster: PathBuf,
        #[arg(long, value_name = "CC", required_unless_present = "key")]
        state: Option<CountryCode>,
        #[arg(long, conflicts_with = "state")]
        key: Option<String>,
    },
    /// Sign the roster with a trust anchor's key file.
    Sign {
        roster: PathBuf,
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Check the roster's signatures and dates against the trust anchors.
    Verify {
        roster: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Make it this node's roster if it is newer than the one held.
        #[arg(long)]
        install: bool,
    },
    /// Print the roster's contents (without verifying it).
    Show { roster: PathBuf },
    /// Make a signed roster this node's, if it verifies against the node's trust
    /// anchors and is newer; a running node applies it at once and passes it on
    /// to the federation. With --anchor on a node that has no anchors yet, the
    /// anchors are also written to [trust] in tracenet.toml.
    Install {
        roster: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

/// `tracenet verify FILE`: check an evidence bundle offline.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The evidence bundle (JSON).
    pub file: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Trust anchors given on the command line; without them, `[trust]` in the
/// data directory's tracenet.toml is used.
#[derive(Debug, Args, Clone, Default)]
pub struct TrustArgs {
    /// A trust anchor's public key, hex or base64 (repeatable).
    #[arg(long = "anchor", value_name = "KEY")]
    pub anchors: Vec<String>,
    /// How many anchors must have signed (default 1).
    #[arg(long, requires = "anchors")]
    pub threshold: Option<u8>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// A day as a date or relative to today (UTC), so that a roster made from a
/// script or the README is valid on the day it is made, whatever that day is.
fn parse_day(s: &str) -> Result<Date, String> {
    parse_day_from(s, Date::today())
}

fn parse_day_from(s: &str, today: Date) -> Result<Date, String> {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("today") else {
        return Date::parse(t).map_err(|e| e.to_string());
    };
    let bad = || format!("{s:?}: write YYYY-MM-DD, `today`, or `today+N` / `today-N` (N days)");
    let offset: i64 = match rest.as_bytes().first() {
        None => 0,
        Some(b'+') => rest[1..].parse().map_err(|_| bad())?,
        Some(b'-') => -rest[1..].parse::<i64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    // Dates run from 1800 to 2999: a larger offset is out of range anyway,
    // and bounding it keeps the day arithmetic far from overflow.
    (offset.abs() <= 1_000 * 366)
        .then(|| today.to_days() + offset)
        .and_then(Date::from_days)
        .ok_or_else(|| format!("{s:?}: outside the years 1800 to 2999"))
}

/// What `init` and `identity show` report.
#[derive(Debug, Serialize)]
pub struct IdentityInfo {
    pub state: Option<String>,
    pub peer_id: String,
    pub public_key_hex: String,
    pub public_key_base64: String,
    pub key_file: PathBuf,
    /// Whether this call created the key (false: an existing key was kept).
    pub created: bool,
}

fn identity_info(key: &NodeKey, path: &Path, state: Option<String>, created: bool) -> IdentityInfo {
    IdentityInfo {
        state,
        peer_id: key.peer_id().to_string(),
        public_key_hex: key.public_key().to_hex(),
        public_key_base64: key.public_key().to_base64(),
        key_file: path.to_path_buf(),
        created,
    }
}

/// Creates the node key in `data_dir` unless one exists; an existing key is
/// checked and kept, since replacing it would drop the State from the roster.
pub fn init_identity(data_dir: &Path) -> anyhow::Result<IdentityInfo> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = identity::key_path(data_dir);
    let (key, created) = if path.exists() {
        (NodeKey::load(&path)?, false)
    } else {
        (NodeKey::generate_and_store(&path)?, true)
    };
    Ok(identity_info(
        &key,
        &path,
        read_config(data_dir)?.state,
        created,
    ))
}

/// The parts of tracenet.toml this module reads.
#[derive(Debug, Default, serde::Deserialize)]
struct ConfigView {
    state: Option<String>,
    trust: Option<TrustConfig>,
}

fn read_config(data_dir: &Path) -> anyhow::Result<ConfigView> {
    let path = data_dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigView::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // Other tables belong to other modules: read ours, ignore the rest.
    let value: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let pick = |k: &str| value.get(k).cloned();
    let state = pick("state").and_then(|v| v.as_str().map(str::to_string));
    let trust = match pick("trust") {
        Some(t) => Some(
            t.try_into()
                .with_context(|| format!("[trust] in {}", path.display()))?,
        ),
        None => None,
    };
    Ok(ConfigView { state, trust })
}

fn trust_config(args: &TrustArgs, ctx: &Context) -> anyhow::Result<TrustConfig> {
    if !args.anchors.is_empty() {
        return Ok(TrustConfig {
            anchors: args.anchors.clone(),
            threshold: args.threshold.unwrap_or(1),
        });
    }
    read_config(&ctx.data_dir)?.trust.ok_or_else(|| {
        anyhow::anyhow!(
            "no trust anchors: pass --anchor KEY, or set [trust] anchors and threshold in {}",
            ctx.data_dir.join(CONFIG_FILE).display()
        )
    })
}

pub fn run_identity(cmd: IdentityCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        IdentityCommand::Show => {
            let path = identity::key_path(&ctx.data_dir);
            if !path.exists() {
                bail!(
                    "no node key at {}; run `tracenet init --state CC` first",
                    path.display()
                );
            }
            let key = NodeKey::load(&path)?;
            let info = identity_info(&key, &path, read_config(&ctx.data_dir)?.state, false);
            ctx.emit(&info, |i| {
                format!(
                    "state       {}\npeer id     {}\npublic key  {} (hex)\n            {} (base64)",
                    i.state.as_deref().unwrap_or("(not set)"),
                    i.peer_id,
                    i.public_key_hex,
                    i.public_key_base64
                )
            })
        }
    }
}

/// Rewrites a roster file with an edited body; its signatures no longer apply.
fn edit_roster(
    path: &Path,
    edit: impl FnOnce(&mut RosterBody) -> anyhow::Result<()>,
) -> anyhow::Result<RosterBody> {
    let mut body = RosterFile::read(path)?.decode_unverified()?;
    edit(&mut body)?;
    RosterFile::new(&body)?.write(path)?;
    Ok(body)
}

#[derive(Debug, Serialize)]
struct RosterSummary<'a> {
    file: &'a Path,
    version: u64,
    valid_from: Date,
    valid_until: Date,
    members: &'a [Member],
    signatures: Vec<String>,
    verified: bool,
}

fn summary_text(s: &RosterSummary<'_>) -> String {
    let mut t = format!(
        "roster {} version {} valid {} to {}{}\n",
        s.file.display(),
        s.version,
        s.valid_from,
        s.valid_until,
        if s.verified { " (verified)" } else { "" }
    );
    for m in s.members {
        t.push_str(&format!(
            "  {} {:<9} {} {}\n",
            m.state,
            m.role,
            identity::peer_id_of(&m.key)
                .map(|p| p.to_string())
                .unwrap_or_else(|| m.key.to_hex()),
            m.name
        ));
        let prefixes: Vec<String> = m.prefixes.iter().map(ToString::to_string).collect();
        if !prefixes.is_empty() {
            t.push_str(&format!("     prefixes {}\n", prefixes.join(" ")));
        }
        for a in &m.addresses {
            t.push_str(&format!("     address  {a}\n"));
        }
    }
    t.push_str(&format!(
        "signed by {} anchor(s): {}\n",
        s.signatures.len(),
        s.signatures.join(", ")
    ));
    t
}

fn show(
    ctx: &Context,
    path: &Path,
    body: &RosterBody,
    file: &RosterFile,
    verified: bool,
) -> anyhow::Result<()> {
    let summary = RosterSummary {
        file: path,
        version: body.version,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        members: &body.members,
        signatures: file.signatures.iter().map(|s| s.anchor.to_hex()).collect(),
        verified,
    };
    ctx.emit(&summary, summary_text)
}

pub fn run_roster(cmd: RosterCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        RosterCommand::Keygen { out } => {
            let key = NodeKey::generate_and_store(&out)?;
            let info = identity_info(&key, &out, None, true);
            ctx.emit(&info, |i| {
                format!(
                    "anchor key written to {}\npublic key {}",
                    i.key_file.display(),
                    i.public_key_hex
                )
            })
        }
        RosterCommand::New {
            out,
            valid_from,
            valid_until,
            from,
            version,
        } => {
            let (members, next) = match &from {
                Some(prev) => {
                    let b = RosterFile::read(prev)?.decode_unverified()?;
                    (b.members, b.version.saturating_add(1))
                }
                None => (Vec::new(), 1),
            };
            let body = RosterBody {
                version: version.unwrap_or(next),
                valid_from,
                valid_until,
                members,
            };
            if out.exists() {
                bail!("{} already exists; choose another --out", out.display());
            }
            let file = RosterFile::new(&body)?;
            file.write(&out)?;
            show(ctx, &out, &body, &file, false)
        }
        RosterCommand::Add {
            roster,
            state,
            name,
            key,
            role,
            prefixes,
            addresses,
        } => {
            let key = identity::parse_key(&key)?;
            let member = Member {
                state,
                name,
                key,
                role,
                prefixes,
                addresses,
            };
            let body = edit_roster(&roster, |b| {
                b.members.push(member);
                Ok(())
            })?;
            let file = RosterFile::read(&roster)?;
            show(ctx, &roster, &body, &file, false)
        }
        RosterCommand::Remove { roster, state, key } => {
            let key = key.map(|k| identity::parse_key(&k)).transpose()?;
            let body = edit_roster(&roster, |b| {
                let before = b.members.len();
                b.members
                    .retain(|m| Some(m.state) != state && Some(m.key) != key);
                if b.members.len() == before {
                    bail!("no entry matches; nothing removed");
                }
                Ok(())
            })?;
            let file = RosterFile::read(&roster)?;
            show(ctx, &roster, &body, &file, false)
        }
        RosterCommand::Sign { roster, key } => {
            let key = NodeKey::load(&key)?;
            let mut file = RosterFile::read(&roster)?;
            file.sign(key.signing_key())?;
            file.write(&roster)?;
            show(ctx, &roster, &file.decode_unverified()?, &file, false)
        }
        RosterCommand::Verify {
            roster,
            trust,
            install,
        } => {
            let trust = trust_config(&trust, ctx)?;
            let file = RosterFile::read(&roster)?;
            let checked = if install {
                roster::install(&ctx.data_dir, &file, &trust, Date::today())?
            } else {
                file.verify(&trust, Date::today())?
            };
            show(ctx, &roster, checked.body(), &file, true)
        }
        RosterCommand::Show { roster } => {
            let file = RosterFile::read(&roster)?;
            show(ctx, &roster, &file.decode_unverified()?, &file, false)
        }
        RosterCommand::Install { roster, trust } => install(ctx, &roster, &trust),
    }
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct Installed {
    installed: bool,
    version: u64,
}

fn install(ctx: &Context, path: &Path, args: &TrustArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let configured = read_config(&ctx.data_dir)?
        .trust
        .filter(|t| !t.anchors.is_empty());
    let cfg_path = ctx.data_dir.join(CONFIG_FILE);
    // Anchors given here must agree with the node's own: a node verifies
    // every later roster, received by gossip, with [trust] alone.
    let given = (!args.anchors.is_empty())
        .then(|| trust_config(args, ctx))
        .transpose()?;
    if let (Some(g), Some(c)) = (&given, &configured)
        && (g.anchor_keys()? != c.anchor_keys()? || g.threshold != c.threshold)
    {
        bail!(
            "--anchor differs from [trust] in {}: the node verifies rosters with the anchors there. Edit that section (or drop --anchor) and try again",
            cfg_path.display()
        );
    }
    let running = crate::api::ApiClient::from_data_dir(&ctx.data_dir).is_ok();
    let out: Installed = if running {
        if given.is_some() && configured.is_none() {
            bail!(
                "the running node has no trust anchors; stop it, run `tracenet roster install {} --anchor KEY` (which writes them to {}), then start it",
                path.display(),
                cfg_path.display()
            );
        }
        super::node::with_client(ctx, async |c| Ok(c.post_bytes("/v1/roster", bytes).await?))?
    } else {
        let trust = match (&given, &configured) {
            (_, Some(c)) => c.clone(),
            (Some(g), None) => g.clone(),
            (None, None) => trust_config(&TrustArgs::default(), ctx)?,
        };
        let file = RosterFile::read(path)?;
        let r = roster::install(&ctx.data_dir, &file, &trust, Date::today())?;
        if configured.is_none() {
            // Verified with these anchors: the node keeps using them.
            write_trust(&cfg_path, &trust)?;
            if !ctx.json {
                eprintln!("trust anchors written to [trust] in {}", cfg_path.display());
            }
        }
        Installed {
            installed: true,
            version: r.version(),
        }
    };
    ctx.emit(&out, |o| {
        if o.installed {
            format!("roster version {} installed", o.version)
        } else {
            format!(
                "not installed: this node already holds version {} or newer",
                o.version
            )
        }
    })
}

/// Adds `[trust]` to a configuration file that has none (commented lines
/// are kept), through a temporary file and a rename.
fn write_trust(cfg_path: &Path, trust: &TrustConfig) -> anyhow::Result<()> {
    let mut text = std::fs::read_to_string(cfg_path)
        .with_context(|| format!("cannot read {}", cfg_path.display()))?;
    #[derive(Serialize)]
    struct Section<'a> {
        trust: &'a TrustConfig,
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text += "\n";
    text += &toml::to_string(&Section { trust })
        .with_context(|| format!("cannot write [trust] to {}", cfg_path.display()))?;
    super::write_file(cfg_path, text.as_bytes(), true)
}

/// Verifies an evidence bundle; an error (so a non-zero exit) if any part fails.
pub fn run_verify(args: VerifyArgs, ctx: &Context) -> anyhow::Result<()> {
    let trust = trust_config(&args.trust, ctx)?;
    let bundle = Bundle::read(&args.file)?;
    let report = bundle.verify(&trust);
    ctx.emit(&report, |r| r.to_text())?;
    let failed = report.failures().count();
    if failed > 0 {
        bail!(
            "{failed} part(s) of {} fail verification",
            args.file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_a_date_or_relative_to_today() {
        let today = Date::parse("2026-12-01").unwrap();
        let day = |s| parse_day_from(s, today);
        assert_eq!(day("today"), Ok(today));
        assert_eq!(day("today+30"), Date::parse("2026-12-31").map_err(|e| e.to_string()));
        assert_eq!(day("today-1"), Date::parse("2026-11-30").map_err(|e| e.to_string()));
        assert_eq!(day("2027-11-30"), Date::parse("2027-11-30").map_err(|e| e.to_string()));
        for bad in ["tomorrow", "today+", "today+x", "today*3", "today+99999999", "today-9223372036854775807"] {
            assert!(day(bad).is_err(), "{bad} was accepted");
        }
    }
}
