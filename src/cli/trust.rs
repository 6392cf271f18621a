//! The trust commands: `identity show`, `roster keygen|new|add|remove|sign|verify|show`
//! and `verify FILE`, plus the identity half of `init`. Thin: the work is done in
//! `identity`, `roster` and `evidence`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::evidence::{Answered, Asked, Bundle, Report};
use crate::identity::{self, NodeKey};
use crate::marking::MarkingPrefix;
use crate::model::{CountryCode, Date, count, format_unix};
use crate::protocol::{OprfPublicKey, PublicKey};
use crate::roster::{
    self, AnchorSignature, GossipValidation, Member, Role, RosterBody, RosterFile, TrustConfig,
};

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
        /// Where to write the anchor's secret key (refused if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Start an unsigned roster, empty or as the next version of a previous one.
    New {
        /// Where to write the unsigned roster (JSON).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// First day of validity: YYYY-MM-DD, `today`, or `today+N` / `today-N`
        /// (N days, UTC).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        valid_from: Date,
        /// Last day of validity: YYYY-MM-DD, `today`, or `today+N` / `today-N`
        /// (N days, UTC).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        valid_until: Date,
        /// Copy the members of this roster and take its version plus one.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// The version number, 1 to 1000000 (default: 1, or the previous
        /// version plus one).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::roster::MAX_VERSION))]
        version: Option<u64>,
        /// How every member checks gossip envelopes: `strict` or `payload`
        /// (`roster set-gossip-validation`). Default: the previous roster's
        /// with --from; `payload` for a first roster (version 1), which only
        /// builds that read roster settings install; none otherwise.
        #[arg(long, value_name = "MODE", value_parser = parse_gossip_validation)]
        gossip_validation: Option<GossipValidation>,
        /// How many links every member keeps, decided for the whole
        /// federation (4 to 512; proto-docs/NETWORK.md, "Links kept"): a
        /// federation of at most N+1 members is a full mesh, where holders
        /// do not relay a query read from its requester itself. Default:
        /// the previous roster's with --from; 64 (tracenet's
        /// `node.peer_connections` default) for a first roster (version 1);
        /// none otherwise (each node's own `node.peer_connections`).
        #[arg(long, value_name = "N", value_parser = parse_peer_connections)]
        peer_connections: Option<u32>,
        /// Whether queries name the States their requester served, where
        /// the links are bounded (`roster set-served-lists`): `on` or
        /// `off`. Default: the previous roster's with --from; `on` for a
        /// first roster (version 1); `off` otherwise.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        served_lists: Option<bool>,
    },
    /// Add a member or bootstrap peer (clears the signatures).
    Add {
        /// The roster file to change.
        roster: PathBuf,
        /// The member's State (ISO 3166-1 alpha-2).
        #[arg(long, value_name = "CC")]
        state: CountryCode,
        /// The State's or organisation's name, as people know it: 1 to 64
        /// letters or digits of any script, spaces and - ' ’ . , ( ) & /
        /// (builds before 2026-12-07 refuse digits, ’, & and /).
        #[arg(long)]
        name: String,
        /// The node's public key: hex, base64 or its PeerId.
        #[arg(long)]
        key: String,
        /// `member` (a State's node) or `bootstrap` (a regional
        /// organisation's node, which speaks for no State).
        #[arg(long, default_value = "member", value_parser = parse_role)]
        role: Role,
        /// A marking prefix the State declares, CC/MAKER with the maker's
        /// key as `tracenet registry prefixes` prints it (DE/CARLWALTHER;
        /// repeatable).
        #[arg(long = "prefix", value_name = "CC/MAKER", value_parser = parse_prefix)]
        prefixes: Vec<MarkingPrefix>,
        /// A known address, multiaddr text (repeatable).
        #[arg(long = "address", value_name = "MULTIADDR")]
        addresses: Vec<String>,
        /// The node's OPRF public key for blind traces, base64 as `tracenet
        /// identity show` prints it. Without it, blind traces pass the node
        /// by. Builds before blind traces refuse a roster that lists OPRF
        /// keys: list them once every member runs a build with blind traces.
        #[arg(long = "oprf-key", value_name = "KEY", value_parser = parse_oprf_key)]
        oprf_key: Option<OprfPublicKey>,
    },
    /// Set a member's node key, e.g. after the State's key was compromised
    /// and replaced (clears the signatures if it changes the roster). Install the signed roster on
    /// another node first (the bootstrap node, say): the State's node with
    /// its new key is refused by the others until they hold it.
    SetKey {
        /// The roster file to change.
        roster: PathBuf,
        /// The entry's State (ISO 3166-1 alpha-2): a member's, or the
        /// regional organisation's bootstrap entry.
        #[arg(long, value_name = "CC")]
        state: CountryCode,
        /// Which of the State's entries, when it has both a member and a
        /// bootstrap entry.
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// The new key: its peer id (12D3KooW...) or public key, as `tracenet
        /// identity show` prints them.
        #[arg(long, value_name = "PEER_ID_OR_KEY")]
        key: String,
    },
    /// Set (or clear) a member's OPRF public key for blind traces, e.g. after
    /// the State rotated it (clears the signatures if it changes the roster). Builds before blind
    /// traces refuse a roster that lists OPRF keys: list them once every
    /// member runs a build with blind traces.
    #[command(group(clap::ArgGroup::new("setting").required(true).args(["oprf_key", "none"])))]
    SetOprfKey {
        /// The roster file to change.
        roster: PathBuf,
        /// The member's State (ISO 3166-1 alpha-2).
        #[arg(long, value_name = "CC")]
        state: CountryCode,
        /// The key, base64 as `tracenet identity show` prints it.
        #[arg(long = "oprf-key", value_name = "KEY", value_parser = parse_oprf_key)]
        oprf_key: Option<OprfPublicKey>,
        /// Remove the member's key: blind traces then pass it by.
        #[arg(long)]
        none: bool,
    },
    /// Decide how every member checks the gossipsub envelope around what it
    /// reads (clears the signatures if it changes the roster): `strict`, what every build does, or
    /// `payload`, one signature check per message instead of one per copy
    /// (proto-docs/NETWORK.md, "gossipsub validation"). Each node switches
    /// when it installs the roster; `--none` leaves it to each node's
    /// `node.gossip_validation`. Builds before this setting refuse a roster
    /// that states it: state it once every member runs a build that reads it.
    SetGossipValidation {
        /// The roster file to change.
        roster: PathBuf,
        /// `strict` or `payload`.
        #[arg(value_name = "MODE", value_parser = parse_gossip_validation)]
        mode: Option<GossipValidation>,
        /// State no setting: each node uses its own `node.gossip_validation`.
        #[arg(long)]
        none: bool,
    },
    /// Set the links every member keeps, decided for the whole federation
    /// (clears the signatures if it changes the roster): 4 to 512; a federation of at most N + 1
    /// members is a full mesh, where holders do not relay a query read from
    /// its requester itself (proto-docs/NETWORK.md, "Links kept", "Gossip
    /// mesh"). `--none` leaves it to each node's `node.peer_connections`,
    /// and every holder relays. Builds before this setting refuse a roster
    /// that states it: state it once every member runs a build that reads it.
    SetPeerConnections {
        /// The roster file to change.
        roster: PathBuf,
        /// How many links every member keeps.
        #[arg(value_name = "N", value_parser = parse_peer_connections)]
        links: Option<u32>,
        /// State no setting: each node uses its own `node.peer_connections`.
        #[arg(long)]
        none: bool,
    },
    /// State whether every member reads the States served that a query
    /// names (clears the signatures if it changes the roster). Where the roster's links are bounded
    /// (more members than `peer_connections` + 1), requesters then name in
    /// each query the States they handed it to themselves, and a holder
    /// relays a query only toward a peer it does not name: at 200 States a
    /// trace to 50 holders cost the federation 21% to 60% less CPU than with
    /// every holder relaying (proto-docs/NETWORK.md, "Gossip mesh"). Builds before
    /// 2026-12-07 (midday) refuse such a roster (they keep the one they
    /// hold) and such queries: state it once every member runs a build
    /// that reads it. `off` states nothing: every holder relays where links
    /// are bounded.
    SetServedLists {
        /// The roster file to change.
        roster: PathBuf,
        /// `on` or `off`.
        #[arg(value_name = "on|off", value_parser = parse_on_off, action = clap::ArgAction::Set)]
        state: bool,
    },
    /// Remove a State's entries, or one entry by key (clears the signatures).
    #[command(group(clap::ArgGroup::new("setting").required(true).args(["state", "key"])))]
    Remove {
        /// The roster file to change.
        roster: PathBuf,
        /// Remove every entry of this State.
        #[arg(long, value_name = "CC")]
        state: Option<CountryCode>,
        /// Remove the one entry with this public key (hex, base64 or PeerId).
        #[arg(long)]
        key: Option<String>,
    },
    /// Sign the roster with a trust anchor's key file.
    Sign {
        /// The roster file to sign (its signatures are kept and one added;
        /// refused where another key's signature in it does not hold).
        roster: PathBuf,
        /// The anchor's secret key file, from `roster keygen`.
        #[arg(long = "anchor-key", value_name = "FILE")]
        key: PathBuf,
        /// Sign although a member's name holds what builds before
        /// 2026-12-07 refuse (a digit, a combining mark, ’, & or /): only
        /// once every member runs a newer build.
        #[arg(long)]
        newer_builds_only: bool,
        /// Sign although a name holds what `roster add` refuses today (an
        /// invisible letter, a stack of marks, no letter), as a roster
        /// signed by an earlier build may: correct the name when you can.
        #[arg(long)]
        names_as_they_are: bool,
    },
    /// Check the roster's signatures and dates against the trust anchors.
    Verify {
        /// The roster file to check.
        roster: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Make it this node's roster if it is newer than the one held, as
        /// `roster install` does (the node stopped).
        #[arg(long)]
        install: bool,
    },
    /// Print the roster's contents (without verifying it).
    Show {
        /// The roster file to print.
        roster: PathBuf,
    },
    /// Make a signed roster this node's, if it verifies against the node's trust
    /// anchors and is newer; a running node applies it at once and passes it on
    /// to the federation. With --anchor on a node that has no anchors yet, the
    /// anchors are also written to [trust] in tracenet.toml.
    Install {
        /// The signed roster file.
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
    #[arg(long = "anchor", value_name = "KEY", value_parser = parse_anchor)]
    pub anchors: Vec<String>,
    /// How many anchors must have signed (default 1; at most the number of
    /// distinct --anchor keys).
    #[arg(long, requires = "anchors", value_parser = clap::value_parser!(u8).range(1..))]
    pub threshold: Option<u8>,
}

/// An anchor's public key as typed, checked to be one: the bad one is named
/// under `--anchor`, not as the `[trust]` section it did not come from.
fn parse_anchor(s: &str) -> Result<String, String> {
    let key = PublicKey::parse(s).map_err(|_| {
        "not a trust anchor's public key: 32 bytes written in hex or base64, as `tracenet roster keygen` prints it".to_string()
    })?;
    key.check_usable().map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// A prefix as typed: a maker's name in place of its key is refused naming
/// the key the built-in maker table gives it.
fn parse_prefix(s: &str) -> Result<MarkingPrefix, String> {
    MarkingPrefix::parse_for_person(s, &crate::marking::MakerTable::built_in())
        .map_err(|e| e.to_string())
}

fn parse_peer_connections(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of links (4 to 512)"))?;
    crate::roster::check_peer_connections(n)
        .map_err(|_| format!("{n} links: expected 4 to 512"))?;
    Ok(n)
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

fn parse_gossip_validation(s: &str) -> Result<GossipValidation, String> {
    s.parse()
}

/// An OPRF public key: 32 bytes in base64 or hex, a ristretto255 element.
fn parse_oprf_key(s: &str) -> Result<OprfPublicKey, String> {
    let k = OprfPublicKey::parse(s).map_err(|e| e.to_string())?;
    crate::blind::check_oprf_public_key(&k)
        .map_err(|_| format!("{s:?} is not a ristretto255 public key: copy the oprf_key that tracenet identity show prints"))?;
    Ok(k)
}

/// A day as a date or relative to today (UTC), so that a roster made from a
/// script or the README is valid on the day it is made, whatever that day is.
pub(super) fn parse_day(s: &str) -> Result<Date, String> {
    parse_day_from(s, Date::today())
}

fn parse_day_from(s: &str, today: Date) -> Result<Date, String> {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("today") else {
        return Date::parse(t).map_err(|e| e.to_string());
    };
    let bad = || format!("{s:?}: write YYYY-MM-DD, `today`, or `today+N` / `today-N` (N days)");
    // N is digits only: `today--9223372036854775808` overflowed negating
    // an i64 (a panic in a debug build), and `today+-5` meant today-5.
    let days = |n: &str| -> Result<i64, String> {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        n.parse::<u32>()
            .map(i64::from)
            .map_err(|_| format!("{s:?}: outside the years 1800 to 2999"))
    };
    let offset: i64 = match rest.as_bytes().first() {
        None => 0,
        Some(b'+') => days(&rest[1..])?,
        Some(b'-') => -days(&rest[1..])?,
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
    /// Base64 (standard alphabet, padded) of the 32-byte Ed25519 public key,
    /// the one form every command prints and reads.
    pub public_key: String,
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
    pub key_file: PathBuf,
    /// Whether this call created the key (false: an existing key was kept).
    pub created: bool,
    /// Base64 of the node's 32-byte OPRF public key for blind traces, which
    /// the regional organisation lists in the roster (`roster add
    /// --oprf-key`); null for an anchor's key and a bootstrap node.
    pub oprf_key: Option<String>,
}

fn identity_info(key: &NodeKey, path: &Path, state: Option<String>, created: bool) -> IdentityInfo {
    IdentityInfo {
        state,
        peer_id: key.peer_id().to_string(),
        public_key: key.public_key().to_base64(),
        key_file: path.to_path_buf(),
        created,
        oprf_key: None,
    }
}

/// The node's OPRF public key (base64), its seed made beside the node key
/// when missing, as `node run` would make it.
/// A seed made for a node whose signing key was there already is said on
/// stderr: a backup restored without `oprf.key` gets a key the roster does
/// not list, and it was made without a word (a hostile trial).
fn node_oprf_key(data_dir: &Path, node_key_made: bool) -> anyhow::Result<String> {
    let path = data_dir.join(crate::blind::OPRF_KEY_FILE);
    let (key, made) = crate::blind::load_or_create_key(&path).map_err(anyhow::Error::msg)?;
    if made && !node_key_made {
        crate::logging::say(&format!(
            "warning: there was no OPRF key seed at {}; a new one was made. If the roster lists another OPRF key for this node (a backup restored without its oprf.key), restore that seed, or give this oprf key to your regional organisation for the next roster: until then requesters refuse this node's blind evaluations",
            path.display()
        ));
    }
    Ok(key.roster_key().to_base64())
}

/// Creates the node key in `data_dir` unless one exists; an existing key is
/// checked and kept, since replacing it would drop the State from the roster.
pub fn init_identity(data_dir: &Path) -> anyhow::Result<IdentityInfo> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = identity::key_path(data_dir);
    refuse_a_dangling_key(&path)?;
    let (key, created) = if path.exists() {
        (NodeKey::load(&path)?, false)
    } else {
        (NodeKey::generate_and_store(&path)?, true)
    };
    let mut info = identity_info(&key, &path, read_config(data_dir)?.state, created);
    info.oprf_key = Some(node_oprf_key(data_dir, created)?);
    Ok(info)
}

/// The parts of tracenet.toml this module reads.
#[derive(Debug, Default, serde::Deserialize)]
struct ConfigView {
    state: Option<String>,
    trust: Option<TrustConfig>,
    /// `[node] role = "bootstrap"`: a node that answers no blind trace.
    bootstrap: bool,
}

fn read_config(data_dir: &Path) -> anyhow::Result<ConfigView> {
    let path = data_dir.join(CONFIG_FILE);
    // With `TRACENET_*` settings in the environment, as the node reads it
    // (`identity show` said the file's State under `TRACENET_STATE=UG`,
    // where the node and `config check` said UG: a trial).
    if crate::config::overridden_by_environment() && path.exists() {
        let cfg = crate::config::Config::load(&path)?;
        return Ok(ConfigView {
            state: Some(cfg.state.to_string()),
            bootstrap: cfg.node.role == crate::config::Role::Bootstrap,
            trust: (!cfg.trust.anchors.is_empty()).then_some(cfg.trust),
        });
    }
    let text =
        match crate::model::file::read_small_text(&path, crate::model::file::SMALL_FILE_BYTES) {
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
    let bootstrap = value
        .get("node")
        .and_then(|n| n.get("role"))
        .and_then(|r| r.as_str())
        == Some("bootstrap");
    Ok(ConfigView {
        state,
        trust,
        bootstrap,
    })
}

/// The anchors to verify with: --anchor's, else `[trust]` of the data
/// directory. `cmd` names the subcommand (its usage goes with a bad
/// --threshold).
pub(super) fn trust_config(
    args: &TrustArgs,
    ctx: &Context,
    cmd: &str,
) -> anyhow::Result<TrustConfig> {
    if !args.anchors.is_empty() {
        let t = TrustConfig {
            anchors: args.anchors.clone(),
            threshold: args.threshold.unwrap_or(1),
        };
        // Each key was checked as it was parsed; what is left to refuse is
        // a threshold above the keys given.
        if t.anchor_keys().is_err() {
            let distinct: std::collections::HashSet<_> = args
                .anchors
                .iter()
                .filter_map(|a| PublicKey::parse(a).ok())
                .collect();
            return Err(super::usage_error(
                cmd,
                format!(
                    "--threshold {} is more than the {} given with --anchor: give at most that many, or more anchors",
                    t.threshold,
                    crate::model::count(distinct.len() as u64, "distinct key")
                ),
            ));
        }
        return Ok(t);
    }
    let cfg_path = ctx.data_dir.join(CONFIG_FILE);
    let trust = read_config(&ctx.data_dir)?.trust.ok_or_else(|| {
        anyhow::anyhow!(
            "no trust anchors: pass --anchor KEY, or set [trust] anchors and threshold in {}",
            cfg_path.display()
        )
    })?;
    // A bad key or threshold there is said with the file it is in.
    trust
        .anchor_keys()
        .with_context(|| format!("[trust] in {}", cfg_path.display()))?;
    Ok(trust)
}

/// Which anchors a roster file or a signed maker table carries signatures
/// of, whether or not they verify: said after a threshold error, beside the
/// anchors it was checked against.
pub(super) fn signed_by(signatures: &[AnchorSignature]) -> String {
    let mut seen = std::collections::HashSet::new();
    let anchors: Vec<String> = signatures
        .iter()
        .filter(|s| seen.insert(s.anchor))
        .map(|s| s.anchor.to_base64())
        .collect();
    match anchors.len() {
        0 => "it carries no signature".to_string(),
        _ => format!("it carries signatures of {}", anchors.join(", ")),
    }
}

/// Where the anchors a file was verified with came from, said after a
/// threshold error (`... of the trust anchors`): --anchor's, or the data
/// directory's `[trust]`.
pub(super) fn anchors_named(args: &TrustArgs, ctx: &Context) -> String {
    if args.anchors.is_empty() {
        format!(
            "the anchors of [trust] in {}",
            ctx.data_dir.join(CONFIG_FILE).display()
        )
    } else {
        let distinct: std::collections::HashSet<_> = args
            .anchors
            .iter()
            .filter_map(|a| PublicKey::parse(a).ok())
            .collect();
        format!(
            "the {} given with --anchor",
            count(distinct.len() as u64, "key")
        )
    }
}

/// Refuses, as an --anchor-key, a file that is no anchor's secret key: a
/// node's own key or OPRF key (named so in a data directory, linked to one,
/// or this data directory's by device and inode: a maker table signed with
/// node.key signed, then failed to verify, and a roster signed with
/// another node's oprf.key signed; hostile trials), a public key, or JSON
/// ([`refuse_a_public_key_file`]).
pub(super) fn refuse_what_is_no_anchor_key(ctx: &Context, key: &Path) -> anyhow::Result<()> {
    refuse_a_nodes_key_file(ctx, key)?;
    refuse_a_public_key_file(key)
}

/// The first part of [`refuse_what_is_no_anchor_key`]: a node's own key
/// or OPRF key file. `roster sign` asks it after its own checks against
/// the roster's members, which name the State whose key it is.
fn refuse_a_nodes_key_file(ctx: &Context, key: &Path) -> anyhow::Result<()> {
    let own = [crate::identity::KEY_FILE, crate::blind::OPRF_KEY_FILE];
    // As named, and as resolved: a link to another node's key signed (a
    // hostile trial).
    let real = key.canonicalize().ok();
    let found = super::output::a_nodes_own_file(key, &own).or_else(|| {
        real.as_deref()
            .and_then(|r| super::output::a_nodes_own_file(r, &own))
    });
    if let Some((name, dir)) = found {
        bail!(
            "{} is the {name} of the node in {}, not an anchor key: sign with the regional organisation's anchor key (`tracenet roster keygen`)",
            key.display(),
            dir.display()
        );
    }
    // A link or a second name of this data directory's keys is the same
    // file (by device and inode), whatever its name (a re-check).
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        if let Some(k) = id(key) {
            for name in own {
                let mine = ctx.data_dir.join(name);
                if id(&mine) == Some(k) {
                    bail!(
                        "{} is this node's {} ({}), not an anchor key: sign with the regional organisation's anchor key (`tracenet roster keygen`)",
                        key.display(),
                        name,
                        mine.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// An --anchor-key file that is no secret key file (32 bytes) is named
/// for what it holds, with the file to give instead where that is known:
/// the secret key file's own checks told to chmod a public key, to
/// "restore from backup" the configuration, and called `roster keygen
/// --json`'s printout "JSON (a roster or a maker table?)" (trials).
fn refuse_a_public_key_file(path: &Path) -> anyhow::Result<()> {
    const READ: u64 = 64 * 1024;
    let takes = "--anchor-key takes the 32-byte file `tracenet roster keygen --out FILE` wrote";
    let shown = path.display();
    let bytes = match crate::model::file::read_small(path, READ) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            bail!("{shown} holds more than {READ} bytes, not an anchor's secret key: {takes}")
        }
        // Missing, not a file: the key's own load says which.
        Err(_) => return Ok(()),
    };
    // A secret key file is its 32-byte seed, whatever the bytes.
    if bytes.len() == crate::identity::SEED_LEN {
        return Ok(());
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        bail!(
            "{shown} holds {} bytes, not an anchor's secret key: {takes}",
            bytes.len()
        );
    };
    let text = text.trim();
    if PublicKey::parse(text).is_ok() {
        bail!("{shown} holds a public key, not an anchor's secret key: {takes}");
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let field = |name: &str| json.get(name).and_then(|v| v.as_str());
        // Both read from the file: the key shown as parsed, the path only
        // where it is printable.
        let public = field("public_key").and_then(|k| PublicKey::parse(k).ok());
        let key_file = field("key_file").filter(|f| !f.chars().any(char::is_control));
        if let (Some(public), Some(key_file)) = (public, key_file) {
            let public = public.to_base64();
            // `roster keygen` alone prints a key it made with no State;
            // `init` prints one with its State, `identity show` one it
            // did not make.
            let by_keygen = json.get("state").is_some_and(|s| s.is_null())
                && json.get("created").and_then(|c| c.as_bool()) == Some(true);
            if !by_keygen {
                bail!(
                    "{shown} is what `tracenet identity show --json` or `init --json` printed of a node's key ({public}), not an anchor's secret key: {takes}"
                );
            }
            bail!(
                "{shown} is what `tracenet roster keygen --json` printed (the public key {public}); the secret key is its key_file: --anchor-key {}",
                crate::cli::output::shell_word(Path::new(key_file))
            );
        }
        let what = match field("format") {
            Some(f) if f.starts_with("tracenet-roster/") => "a roster file",
            Some(f) if f.starts_with("tracenet-makers/") => "a signed maker table",
            Some(f) if f.starts_with("tracenet-evidence/") => "an evidence bundle",
            _ => "JSON",
        };
        bail!("{shown} holds {what}, not an anchor's secret key: {takes}");
    }
    bail!(
        "{shown} holds text ({} bytes), not an anchor's secret key: {takes}",
        bytes.len()
    )
}

/// A node key that is a link to nothing is said so: `identity show` told
/// to run `init`, and `init` that the key existed (a trial).
pub(crate) fn refuse_a_dangling_key(path: &Path) -> anyhow::Result<()> {
    if let Some(to) = crate::model::file::dangling_link(path) {
        bail!(
            "{} is a link to {}, which is not there: mount or restore the node key it names (a new key would take this State out of the roster)",
            path.display(),
            to.display()
        );
    }
    Ok(())
}

pub fn run_identity(cmd: IdentityCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        IdentityCommand::Show => {
            let path = identity::key_path(&ctx.data_dir);
            refuse_a_dangling_key(&path)?;
            if !path.exists() {
                bail!(
                    "no node key at {}; run `tracenet init --state CC` first",
                    path.display()
                );
            }
            let key = NodeKey::load(&path)?;
            let cfg = read_config(&ctx.data_dir)?;
            let mut info = identity_info(&key, &path, cfg.state, false);
            // A bootstrap node answers no blind trace: the roster lists no
            // OPRF key for it.
            if !cfg.bootstrap {
                info.oprf_key = Some(node_oprf_key(&ctx.data_dir, false)?);
            }
            ctx.emit(&info, |i| {
                format!(
                    "state       {}\npeer id     {}\npublic key  {}\noprf key    {}",
                    i.state.as_deref().unwrap_or("(not set)"),
                    i.peer_id,
                    i.public_key,
                    i.oprf_key.as_deref().unwrap_or("(none)")
                )
            })
        }
    }
}

/// Rewrites a roster file with an edited body; its signatures no longer
/// apply. An edit that changes nothing (a setting set to what the roster
/// already states) leaves the file as it is, signatures included, and says
/// so on standard error: the anchors need not sign it again.
fn edit_roster(
    path: &Path,
    edit: impl FnOnce(&mut RosterBody) -> anyhow::Result<()>,
) -> anyhow::Result<Edited> {
    let file = RosterFile::read(path)?;
    let mut body = file.decode_unverified()?;
    let unedited = body.clone();
    let before = key_mixups(&body, &file.signatures);
    edit(&mut body)?;
    if body == unedited {
        let n = file.signatures.len();
        say!(
            "{}: unchanged, the roster already says so; the file is left as it is{}",
            path.display(),
            match n {
                0 => String::new(),
                1 => ", with its signature".to_string(),
                n => format!(", with its {n} signatures"),
            }
        );
        return Ok(Edited {
            body,
            changed: false,
        });
    }
    // Only a mix-up this edit makes is refused: one the roster held already
    // must not block removing or changing another State's entry.
    for m in key_mixups(&body, &file.signatures) {
        if before.contains(&m) {
            say!(
                "warning: {m} (already so before this edit: `tracenet roster set-key` puts the member's node key in its place)"
            );
        } else {
            bail!("{m}");
        }
    }
    refuse_to_edit(path)?;
    RosterFile::new_edited(&body, &unedited)?.write(path)?;
    for (m, why) in unusable_keys(&body) {
        say!(
            "warning: {}'s {} key {} is {why}: `tracenet roster sign` refuses the roster until it is replaced or removed",
            m.state,
            m.role,
            m.key.to_base64()
        );
    }
    Ok(Edited {
        body,
        changed: true,
    })
}

/// The signatures among `broken` (a file's `broken_signatures`) that are
/// another key's than `signer`'s, said for a refusal to sign beside them:
/// "signature 1 (key K) does", or "signature 1 (key K), signature 3 (key
/// L) do"; `None` where there is none. The body is not what those keys
/// signed; the signer's own is replaced by its signing.
pub(super) fn others_broken(
    broken: Vec<(usize, crate::protocol::PublicKey)>,
    signer: &crate::protocol::PublicKey,
) -> Option<String> {
    let named: Vec<String> = broken
        .into_iter()
        .filter(|(_, k)| k != signer)
        .map(|(place, k)| format!("signature {place} (key {})", k.to_base64()))
        .collect();
    match named.len() {
        0 => None,
        1 => Some(format!("{} does", named[0])),
        _ => Some(format!("{} do", named.join(", "))),
    }
}

/// The members whose keys no signature would show who made
/// ([`crate::protocol::PublicKey::check_usable`]), with why.
fn unusable_keys(body: &RosterBody) -> Vec<(&roster::Member, String)> {
    body.members
        .iter()
        .filter_map(|m| {
            m.key.check_usable().err().map(|e| {
                let why = match e {
                    crate::protocol::KeyError::Weak { why, .. } => why.to_string(),
                    other => other.to_string(),
                };
                (m, why)
            })
        })
        .collect()
}

/// What [`edit_roster`] did: the roster's body after the edit, and whether
/// the edit changed it (and so rewrote the file without its signatures).
struct Edited {
    body: RosterBody,
    changed: bool,
}

/// A member's node key given on the command line (`--key`): its PeerId,
/// or 32 bytes in hex or base64. One that is neither is a usage error of
/// `command` (exit 2), saying the forms it takes.
fn key_arg(command: &str, s: &str) -> anyhow::Result<crate::protocol::PublicKey> {
    let key = identity::parse_key(s).map_err(|e| {
        super::usage_error(
            command,
            format!(
                "--key: {e}, nor a PeerId: give the node's key as `tracenet identity show` prints it (its peer id, or its public key)"
            ),
        )
    })?;
    // Removing a key anyone could sign under is how a roster is mended.
    if command != "roster remove" {
        key.check_usable().map_err(|e| {
            // A State's OPRF key pasted as its node key: 32 bytes too, and
            // as a curve point refused with words about cofactors (a trial).
            let oprf = if parse_oprf_key(s).is_ok() {
                "; it reads as an OPRF public key (the `oprf key` line of `tracenet identity show`), which goes in --oprf-key of `roster add` or in `roster set-oprf-key`: --key takes the `public key` line"
            } else {
                ""
            };
            super::usage_error(command, format!("--key: {e}{oprf}"))
        })?;
    }
    Ok(key)
}

/// Shows a roster as [`edit_roster`] left it, saying whether the edit
/// changed it.
fn show_edited(ctx: &Context, path: &Path, edited: Edited) -> anyhow::Result<()> {
    let file = RosterFile::read(path)?;
    show(ctx, path, &edited.body, &file, None, Some(edited.changed))
}

/// Refuses a roster command's rewrite of a node's own file: the roster it
/// holds and goes by (`roster remove DIR/roster.json` stripped its
/// signatures, and the node stopped starting: a hostile re-check) is said
/// as such, anything else of the node's as
/// [`super::output::refuse_a_nodes_own_path`] says it.
fn refuse_to_edit(path: &Path) -> anyhow::Result<()> {
    let held = path
        .file_name()
        .is_some_and(|n| n == crate::roster::HELD_FILE);
    super::output::refuse_a_nodes_own_path(path).map_err(|e| {
        if held {
            anyhow::anyhow!(
                "{} is the roster a tracenet node holds and goes by: edit a copy, sign it, and install it (`tracenet roster install COPY`)",
                path.display()
            )
        } else {
            e
        }
    })
}

/// The State (and its entry's role) whose node key `anchor` is, if the roster lists it as one: an
/// anchor key signing the roster it is listed in as a member's (a member's
/// key file taken for the anchor's, or the other way round).
fn signed_with_a_node_key(
    body: &RosterBody,
    anchor: &crate::protocol::PublicKey,
) -> Option<(CountryCode, Role)> {
    body.members
        .iter()
        .find(|m| m.key == *anchor)
        .map(|m| (m.state, m.role))
}

/// A roster's members whose node key is one of its other keys: a member's
/// OPRF key, or the key of an anchor that signed it (`signatures`), each
/// said in words. As 32 bytes each they cannot be told apart, so the
/// roster's own check lets them through; a node never holds the key listed
/// for it, and the regional organisation learned it from the member's
/// refused connections (a regional organisation's trial).
fn key_mixups(body: &RosterBody, signatures: &[AnchorSignature]) -> Vec<String> {
    let mut out = Vec::new();
    for m in &body.members {
        for o in body
            .members
            .iter()
            .filter(|o| o.oprf_key.is_some_and(|k| k.as_bytes() == m.key.as_bytes()))
        {
            out.push(format!(
                "{}'s node key {} is {}'s OPRF key: a node key is the `key` that `tracenet identity show` prints on the member's node, its OPRF key the `oprf key`",
                m.state, m.key, o.state
            ));
        }
        if signatures.iter().any(|s| s.anchor == m.key) {
            out.push(format!(
                "{}'s node key {} is the key of an anchor that signed this roster: a node key is the `key` that `tracenet identity show` prints on the member's node",
                m.state, m.key
            ));
        }
    }
    out
}

#[derive(Debug, Serialize)]
struct RosterSummary<'a> {
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
    file: &'a Path,
    version: u64,
    valid_from: Date,
    valid_until: Date,
    members: &'a [Member],
    /// The federation's gossip validation, when the roster states one
    /// (absent in JSON otherwise: each node's own setting applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    gossip_validation: Option<GossipValidation>,
    /// The links every member keeps, when the roster states them (absent
    /// in JSON otherwise: each node's own `node.peer_connections` applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_connections: Option<u32>,
    /// Whether queries name the States served where links are bounded
    /// (absent in JSON when not stated).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    served_lists: bool,
    /// The public keys (base64) of the anchors that signed it.
    signed_by: Vec<String>,
    verified: bool,
    /// For the commands that edit a roster (add, remove, set-*): whether
    /// the edit changed it. `false`: the roster already said so, and the
    /// file was left as it is, its signatures included (a set- command
    /// only: add and remove change the roster or fail). Absent for the
    /// commands that do not edit (new, sign, verify, show).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<bool>,
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
    match s.gossip_validation {
        Some(g) => t.push_str(&format!("  gossip validation {g} (every member)\n")),
        None => t.push_str("  gossip validation not stated (each node's node.gossip_validation)\n"),
    }
    match s.peer_connections {
        Some(n) => t.push_str(&format!("  links kept {n} (every member)\n")),
        None => t.push_str("  links kept not stated (each node's node.peer_connections)\n"),
    }
    match (s.served_lists, s.peer_connections) {
        (true, Some(_)) => t.push_str("  served lists on: where links are bounded, holders relay a query only toward States its requester did not serve\n"),
        (true, None) => t.push_str("  served lists on, with no effect while the links kept are not stated\n"),
        (false, _) => t.push_str("  served lists not stated (where links are bounded, every holder relays)\n"),
    }
    for m in s.members {
        t.push_str(&format!(
            "  {} {:<9} {} {}\n",
            m.state,
            m.role,
            identity::peer_id_of(&m.key)
                .map(|p| p.to_string())
                .unwrap_or_else(|| m.key.to_base64()),
            m.name
        ));
        let prefixes: Vec<String> = m.prefixes.iter().map(ToString::to_string).collect();
        if !prefixes.is_empty() {
            t.push_str(&format!("     prefixes {}\n", prefixes.join(" ")));
        }
        for a in &m.addresses {
            t.push_str(&format!("     address  {a}\n"));
        }
        if let Some(k) = &m.oprf_key {
            t.push_str(&format!("     oprf key {k}\n"));
        }
    }
    if s.signed_by.is_empty() {
        t.push_str(&format!(
            "not signed (a change clears the signatures): sign it with `tracenet roster sign {} --anchor-key KEY_FILE`\n",
            super::output::shell_word(s.file)
        ));
    } else if s.verified {
        t.push_str(&format!(
            "signed by {}: {}\n",
            crate::model::count(s.signed_by.len() as u64, "anchor"),
            s.signed_by.join(", ")
        ));
    } else {
        // Any key signs: which of them are anchors only a check against
        // the anchors says (a member's node key signed one, and it read as
        // "signed by 2 anchors": a regional organisation's trial).
        t.push_str(&format!(
            "signed by {} (not checked against the trust anchors: `tracenet roster verify {} --anchor KEY` checks them): {}\n",
            crate::model::count(s.signed_by.len() as u64, "key"),
            s.file.display(),
            s.signed_by.join(", ")
        ));
    }
    t
}

/// Shows a roster; `verified`, the anchors whose signatures were counted
/// when it was checked. Unchecked, each key that signed is listed once (a
/// signature copied 40 times read as "signed by 80 anchors": a helper's
/// hostile trial).
fn show(
    ctx: &Context,
    path: &Path,
    body: &RosterBody,
    file: &RosterFile,
    verified: Option<&[crate::protocol::PublicKey]>,
    changed: Option<bool>,
) -> anyhow::Result<()> {
    let mut signed_by: Vec<String> = Vec::new();
    let keys = match verified {
        Some(anchors) => anchors.to_vec(),
        None => file.signatures.iter().map(|s| s.anchor).collect(),
    };
    for k in keys {
        let k = k.to_base64();
        if !signed_by.contains(&k) {
            signed_by.push(k);
        }
    }
    // On standard error, with --json too: the JSON stays the roster's.
    let shape = crate::net::links::RosterShape {
        members: body.members.len(),
        bootstrap: (body.members.iter())
            .filter(|m| m.role == roster::Role::Bootstrap)
            .count(),
        unaddressed: (body.members.iter())
            .filter(|m| m.role != roster::Role::Bootstrap && m.addresses.is_empty())
            .count(),
        stated: body.peer_connections,
        served_lists: body.served_lists,
    };
    if let Some(note) = crate::net::links::roster_note(shape, &super::output::shell_word(path)) {
        say!("{note}");
    }
    for (a, b) in roster::names_alike(&body.members) {
        say!(
            "note: {} {:?} and {} {:?} have the same name: people tell members apart by name, so give each its own (`tracenet roster remove`, then `roster add` again)",
            a.state,
            a.name,
            b.state,
            b.name
        );
    }
    let newer: Vec<&str> = (body.members.iter())
        .filter(|m| roster::name_needs_newer_build(&m.name))
        .map(|m| m.name.as_str())
        .collect();
    if !newer.is_empty() {
        say!(
            "note: {} written with a digit, a combining mark, \u{2019}, & or /, which nodes of builds before 2026-12-07 refuse as an invalid roster (they keep the one they have and score down the peers that pass this one on): `roster sign` asks for --newer-builds-only, to be given once every member runs a newer build; or write the name{} without them",
            match newer.as_slice() {
                [one] => format!("member name {one:?} is"),
                more => format!(
                    "member names {} are",
                    more.iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            if newer.len() == 1 { "" } else { "s" }
        );
    }
    let summary = RosterSummary {
        file: path,
        version: body.version,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        members: &body.members,
        gossip_validation: body.gossip_validation,
        peer_connections: body.peer_connections,
        served_lists: body.served_lists,
        signed_by,
        verified: verified.is_some(),
        changed,
    };
    ctx.emit(&summary, summary_text)
}

pub fn run_roster(cmd: RosterCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        RosterCommand::Keygen { out } => {
            // Made new only, but new where a node's file goes it stops the
            // node (`roster keygen --out DIR/policy.toml`: a review).
            super::output::refuse_a_nodes_own_path(&out)?;
            let key = NodeKey::generate_and_store(&out)?;
            let info = identity_info(&key, &out, None, true);
            ctx.emit(&info, |i| {
                format!(
                    "anchor key written to {}\npublic key {}",
                    i.key_file.display(),
                    i.public_key
                )
            })
        }
        RosterCommand::New {
            out,
            valid_from,
            valid_until,
            from,
            version,
            gossip_validation,
            peer_connections,
            served_lists,
        } => {
            if out == Path::new("-") {
                return Err(super::usage_error(
                    "roster",
                    "--out -: a roster is a file to edit, sign and hand out; give its name",
                ));
            }
            if valid_until < valid_from {
                return Err(super::usage_error(
                    "roster new",
                    format!(
                        "--valid-until {valid_until} is before --valid-from {valid_from}: give the last day of validity on or after the first"
                    ),
                ));
            }
            // The next version keeps the members and the federation's
            // settings of the one before. A first roster is made by this
            // build for members running it: one signature check per gossip
            // message (proto-docs/NETWORK.md, "gossipsub validation").
            let mut prev_version = 0;
            let (members, next, previous, previous_links, previous_served) = match &from {
                Some(prev) => {
                    let b = RosterFile::read(prev)?.decode_unverified()?;
                    prev_version = b.version;
                    (
                        b.members,
                        b.version.saturating_add(1),
                        b.gossip_validation,
                        b.peer_connections,
                        b.served_lists,
                    )
                }
                // A roster made afresh for a federation already running
                // (--version above 1) may reach members on earlier builds.
                None if version.is_none_or(|v| v == 1) => (
                    Vec::new(),
                    1,
                    Some(GossipValidation::Payload),
                    Some(crate::net::DEFAULT_PEER_CONNECTIONS as u32),
                    true,
                ),
                None => (Vec::new(), 1, None, None, false),
            };
            if let (Some(prev), Some(v)) = (&from, version)
                && v <= prev_version
            {
                bail!(
                    "--version {v} is not above the version of {}, {prev_version}: nodes holding it would keep it; leave --version out to make version {next}",
                    prev.display(),
                );
            }
            let chosen = version.unwrap_or(next);
            if !(1..=roster::MAX_VERSION).contains(&chosen) {
                let what = match (&from, version) {
                    (_, Some(v)) => format!("--version {v}"),
                    (Some(prev), None) => {
                        format!("{} is version {prev_version}, so the next", prev.display())
                    }
                    (None, None) => format!("version {chosen}"),
                };
                bail!(
                    "{what} is out of range: a roster's version is 1 to {} (versions only grow, so a roster at the top could never be replaced)",
                    roster::MAX_VERSION
                );
            }
            if let Some(v) = version
                && v > next.saturating_add(100)
            {
                say!(
                    "warning: version {v} skips {} versions; versions only grow, so a roster can never go back below it",
                    v - next
                );
            }
            // On standard error, with --json too: the JSON on standard
            // output stays the roster's.
            {
                let today = Date::today();
                if valid_until < today {
                    say!(
                        "warning: valid until {valid_until}, before today: this roster has expired already, and no node installs it"
                    );
                } else if valid_from > today {
                    say!(
                        "warning: valid from {valid_from}, after today: nodes install it from that day on, not before"
                    );
                }
                // Five years hold at most two 29 Februaries: 1,827 days.
                if valid_until.to_days() - valid_from.to_days() >= 5 * 365 + 2 {
                    say!(
                        "warning: valid from {valid_from} to {valid_until}, more than five years: a removed member or a replaced key stays vouched for by this roster wherever a node still holds it"
                    );
                }
            }
            let gossip_validation = gossip_validation.or(previous);
            let body = RosterBody {
                version: version.unwrap_or(next),
                valid_from,
                valid_until,
                members,
                gossip_validation,
                peer_connections: peer_connections.or(previous_links),
                served_lists: served_lists.unwrap_or(previous_served),
            };
            // A dangling symbolic link counts: it is not written through.
            if std::fs::symlink_metadata(&out).is_ok() {
                bail!("{} already exists; choose another --out", out.display());
            }
            super::output::refuse_a_nodes_own_path(&out)?;
            let file = RosterFile::new(&body)?;
            file.write(&out)?;
            show(ctx, &out, &body, &file, None, None)
        }
        RosterCommand::Add {
            roster,
            state,
            name,
            key,
            role,
            prefixes,
            addresses,
            oprf_key,
        } => {
            let key = key_arg("roster add", &key)?;
            let name = roster::typed_name(&name)
                .map_err(|e| super::usage_error("roster add", format!("--name: {e}")))?;
            let member = Member {
                state,
                name,
                key,
                role,
                prefixes,
                addresses,
                oprf_key,
            };
            let edited = edit_roster(&roster, |b| {
                if member.role == Role::Member
                    && b.members
                        .iter()
                        .any(|m| m.state == member.state && m.role == Role::Member)
                {
                    bail!(
                        "{} already has a member entry in {}; to change its key, `tracenet roster set-key {} --state {} --key KEY`; to replace the entry, `tracenet roster remove` it first",
                        member.state,
                        roster.display(),
                        roster.display(),
                        member.state
                    );
                }
                b.members.push(member);
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::SetKey {
            roster,
            state,
            role,
            key,
        } => {
            let key = key_arg("roster set-key", &key)?;
            let edited = edit_roster(&roster, |b| {
                let mut entries: Vec<&mut Member> = b
                    .members
                    .iter_mut()
                    .filter(|m| m.state == state && role.is_none_or(|r| m.role == r))
                    .collect();
                match entries.as_mut_slice() {
                    [m] => m.key = key,
                    [] => bail!(
                        "{state} has no {}entry in {}; add it with `tracenet roster add`",
                        match role {
                            Some(Role::Member) => "member ",
                            Some(Role::Bootstrap) => "bootstrap ",
                            None => "",
                        },
                        roster.display()
                    ),
                    _ => bail!(
                        "{state} has a member and a bootstrap entry in {}: say which with --role member or --role bootstrap",
                        roster.display()
                    ),
                }
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::SetOprfKey {
            roster,
            state,
            oprf_key,
            none: _,
        } => {
            let edited = edit_roster(&roster, |b| {
                let bootstrap_only = b.members.iter().any(|m| m.state == state)
                    && !b
                        .members
                        .iter()
                        .any(|m| m.state == state && m.role == Role::Member);
                let m = b
                    .members
                    .iter_mut()
                    .find(|m| m.state == state && m.role == Role::Member)
                    .ok_or_else(|| {
                        if bootstrap_only {
                            anyhow::anyhow!(
                                "{state} has only a bootstrap entry in {}: a bootstrap peer answers no blind trace, so it holds no OPRF key (only a member entry does)",
                                roster.display()
                            )
                        } else {
                            anyhow::anyhow!(
                                "{state} has no member entry in {}; add it with `tracenet roster add`",
                                roster.display()
                            )
                        }
                    })?;
                m.oprf_key = oprf_key;
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::SetGossipValidation { roster, mode, none } => {
            if mode.is_some() == none {
                return Err(super::usage_error(
                    "roster set-gossip-validation",
                    "give the validation every member applies, strict or payload, or --none to state none (one of them)",
                ));
            }
            let edited = edit_roster(&roster, |b| {
                b.gossip_validation = mode;
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::SetPeerConnections {
            roster,
            links,
            none,
        } => {
            if links.is_some() == none {
                return Err(super::usage_error(
                    "roster set-peer-connections",
                    "give the links every member keeps, N from 4 to 512, or --none to state none (one of them)",
                ));
            }
            let edited = edit_roster(&roster, |b| {
                b.peer_connections = links;
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::SetServedLists { roster, state } => {
            let edited = edit_roster(&roster, |b| {
                b.served_lists = state;
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::Remove { roster, state, key } => {
            let key = key.map(|k| key_arg("roster remove", &k)).transpose()?;
            let edited = edit_roster(&roster, |b| {
                let before = b.members.len();
                b.members
                    .retain(|m| Some(m.state) != state && Some(m.key) != key);
                if b.members.len() == before {
                    let asked = match (state, &key) {
                        (Some(st), Some(k)) => format!("no entry of {st} nor with key {k}"),
                        (Some(st), None) => format!("no entry of {st}"),
                        (None, Some(k)) => format!("no entry with key {k}"),
                        (None, None) => "no entry".to_string(),
                    };
                    bail!("{asked} in {}; nothing removed", roster.display());
                }
                Ok(())
            })?;
            show_edited(ctx, &roster, edited)
        }
        RosterCommand::Sign {
            roster,
            key,
            newer_builds_only,
            names_as_they_are,
        } => {
            let key_path = key;
            refuse_a_public_key_file(&key_path)?;
            let key = NodeKey::load(&key_path)?;
            let mut file = RosterFile::read(&roster)?;
            let body = file.decode_unverified()?;
            // Keys no signature under which would show who made it (an
            // edit by hand, an earlier build's roster): each said with the
            // two edits that mend the roster, not only the key's fault (a
            // trial).
            let unusable = unusable_keys(&body);
            if !unusable.is_empty() {
                let file_word = super::output::shell_word(&roster);
                let lines: Vec<String> = unusable
                    .iter()
                    .map(|(m, why)| {
                        let st = m.state;
                        // --role only where the State has both entries.
                        let role = if body.members.iter().filter(|o| o.state == st).count() > 1 {
                            format!(" --role {}", m.role)
                        } else {
                            String::new()
                        };
                        let key = m.key.to_base64();
                        format!(
                            "{st}'s {} key {key} is {why}: put {st}'s own node key in its place (`tracenet roster set-key {file_word} --state {st}{role} --key KEY`, KEY the public key that `tracenet identity show` prints on {st}'s node), or take the entry out (`tracenet roster remove {file_word} --key {key}`)",
                            m.role
                        )
                    })
                    .collect();
                bail!(
                    "{} is not signed: it lists {} under which no signature would show who made it\n  {}",
                    roster.display(),
                    if lines.len() == 1 {
                        "a key".to_string()
                    } else {
                        format!("{} keys", lines.len())
                    },
                    lines.join("\n  ")
                );
            }
            let unsignable: Vec<String> = (body.members.iter())
                .filter_map(|m| {
                    roster::name_problem_to_sign(&m.name).map(|p| format!("{}: {p}", m.state))
                })
                .collect();
            if !unsignable.is_empty() && !names_as_they_are {
                bail!(
                    "{} holds names not to sign; correct them (`tracenet roster remove`, then `roster add` again), or, for a roster an earlier build signed with them, sign it as it is with --names-as-they-are:\n  {}",
                    roster.display(),
                    unsignable.join("\n  ")
                );
            }
            for u in &unsignable {
                say!("warning: signed as it is: {u}");
            }
            let newer: Vec<String> = (body.members.iter())
                .filter(|m| roster::name_needs_newer_build(&m.name))
                .map(|m| format!("{} {:?}", m.state, m.name))
                .collect();
            if !newer.is_empty() && !newer_builds_only {
                bail!(
                    "{} names {}, which nodes of builds before 2026-12-07 refuse as an invalid roster: they keep the roster they have and score down every peer that passes the new one on, cutting gossip between old and new nodes. Sign it once every member runs a newer build (`tracenet roster sign {} --anchor-key {} --newer-builds-only`), or write the names without a digit, a combining mark, \u{2019}, & or /",
                    roster.display(),
                    newer.join(", "),
                    super::output::shell_word(&roster),
                    super::output::shell_word(&key_path)
                );
            }
            if let Some((state, role)) = signed_with_a_node_key(&body, &key.public_key()) {
                bail!(
                    "the key in {} is listed as {state}'s node key in {}, and an anchor's key cannot be a member's: if it is the anchor key, put {state}'s own node key in its place (`tracenet roster set-key {} --state {state}{} --key KEY`, KEY the public key that `tracenet identity show` prints on {state}'s node); if it is {state}'s node key file, sign with the regional organisation's anchor key",
                    key_path.display(),
                    roster.display(),
                    roster.display(),
                    if role == Role::Bootstrap {
                        " --role bootstrap"
                    } else {
                        ""
                    }
                );
            }
            // A node's OPRF seed is 32 bytes too, and loads as a signing key.
            // From the seed loaded above, not the path opened again.
            if let Some(state) = key
                .as_oprf_seed()
                .map(|k| k.roster_key())
                .and_then(|k| body.members.iter().find(|m| m.oprf_key == Some(k)))
                .map(|m| m.state)
            {
                bail!(
                    "{} is {state}'s OPRF key seed, not an anchor key: sign with the regional organisation's anchor key (`tracenet roster keygen`)",
                    key_path.display()
                );
            }
            // A node's key or OPRF key the roster does not list (another
            // node's, not yet a member's): by its file (a trial signed with
            // both).
            refuse_a_nodes_key_file(ctx, &key_path)?;
            // Refused when an edit makes them; one already in the file (an
            // older build, an edit by hand) is said before it is signed.
            for m in key_mixups(&body, &file.signatures) {
                say!(
                    "warning: {m}: signed all the same; correct it with `tracenet roster set-key` and sign again"
                );
            }
            if let Some(broken) = others_broken(file.broken_signatures()?, &key.public_key()) {
                bail!(
                    "{}: {broken} not hold over this roster: its body is not what that key signed (changed after, or the signature damaged). Not signed: check the members (`tracenet roster show {}`), then have that anchor sign again, which replaces its signature; or start a clean copy (`tracenet roster new --from {} --out NEW_FILE ...`) and have every anchor sign it",
                    roster.display(),
                    super::output::shell_word(&roster),
                    super::output::shell_word(&roster)
                );
            }
            file.sign(key.signing_key())?;
            refuse_to_edit(&roster)?;
            file.write(&roster)?;
            if body.valid_until < Date::today() {
                say!(
                    "warning: {} was valid until {}, before today: nodes refuse it; make the next version with later dates (`tracenet roster new --from {} --out NEXT_FILE --valid-from today --valid-until today+364`)",
                    roster.display(),
                    body.valid_until,
                    super::output::shell_word(&roster)
                );
            }
            show(ctx, &roster, &file.decode_unverified()?, &file, None, None)
        }
        RosterCommand::Verify {
            roster,
            trust,
            install,
        } => {
            if install {
                // A running node holds its roster and history: it is handed
                // a roster through its API, never written behind it.
                if super::registry::store_if_stopped(ctx)?.is_none() {
                    bail!(
                        "the node for {} is running: install the roster with `tracenet roster install {}`, which hands it to the node",
                        ctx.data_dir.display(),
                        roster.display()
                    );
                }
                // With the node stopped, installed as `roster install`
                // installs it: with the node's [trust], --anchor agreeing
                // with it. Its own install verified with --anchor alone,
                // and a roster of another anchor left the node unable to
                // start (a re-check).
                return self::install(ctx, &roster, &trust, "roster verify");
            }
            let named = anchors_named(&trust, ctx);
            let trust = trust_config(&trust, ctx, "roster verify")?;
            let file = RosterFile::read(&roster)?;
            let checked = file.verify(&trust, Date::today()).map_err(|e| match e {
                roster::RosterError::Threshold { .. } => anyhow::anyhow!(
                    "{}: {e}, checked against {named}; {}",
                    roster.display(),
                    signed_by(&file.signatures)
                ),
                e => e.into(),
            })?;
            show(
                ctx,
                &roster,
                checked.body(),
                &file,
                Some(checked.signed_by()),
                None,
            )
        }
        RosterCommand::Show { roster } => {
            let file = RosterFile::read(&roster)?;
            show(ctx, &roster, &file.decode_unverified()?, &file, None, None)
        }
        RosterCommand::Install { roster, trust } => install(ctx, &roster, &trust, "roster install"),
    }
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct Installed {
    installed: bool,
    version: u64,
    /// The gossip validation the node runs now (a running node), or runs
    /// with this roster from its next start (a stopped one: the roster's,
    /// or `node.gossip_validation` where it states none). Absent from a node
    /// built before it was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gossip_validation: Option<GossipValidation>,
    /// The gossip validation a running node switches to in the next seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gossip_validation_next: Option<GossipValidation>,
}

/// `cmd` names the subcommand, for the usage of a bad --threshold.
fn install(ctx: &Context, path: &Path, args: &TrustArgs, cmd: &str) -> anyhow::Result<()> {
    // Read as a roster here first: a wrong file is named, not refused by
    // the node without its name. Its bytes go to the node as they are.
    let offered = RosterFile::read(path)?.decode_unverified()?.version;
    let bytes = crate::model::file::read_small(path, crate::model::file::SMALL_FILE_BYTES)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let configured = read_config(&ctx.data_dir)?
        .trust
        .filter(|t| !t.anchors.is_empty());
    let cfg_path = ctx.data_dir.join(CONFIG_FILE);
    // Anchors given here must agree with the node's own: a node verifies
    // every later roster, received by gossip, with [trust] alone.
    let given = (!args.anchors.is_empty())
        .then(|| trust_config(args, ctx, cmd))
        .transpose()?;
    if let (Some(g), Some(c)) = (&given, &configured)
        && (g.anchor_keys()? != c.anchor_keys()? || g.threshold != c.threshold)
    {
        bail!(
            "--anchor differs from [trust] in {}: the node verifies rosters with the anchors there. Edit that section (or drop --anchor) and try again",
            cfg_path.display()
        );
    }
    // The store's lock tells a running node from a stopped one; a stopped
    // one's store stays held here until the install is audited.
    let stopped = super::registry::store_if_stopped(ctx)?;
    let running = stopped.is_none();
    let out: Installed = match stopped {
        None => {
            if given.is_some() && configured.is_none() {
                bail!(
                    "the running node has no trust anchors; stop it, run `tracenet roster install {} --anchor KEY` (which writes them to {}), then start it",
                    path.display(),
                    cfg_path.display()
                );
            }
            super::node::with_client(ctx, async |c| Ok(c.post_bytes("/v1/roster", bytes).await?))
                .map_err(|e| {
                    // The node's refusal for too few signatures, naming
                    // where its anchors come from.
                    if format!("{e:#}").contains(" of the trust anchors; ") {
                        anyhow::anyhow!(
                            "{}: {e:#}, checked against the running node's anchors of [trust] in {}",
                            path.display(),
                            cfg_path.display()
                        )
                    } else {
                        e
                    }
                })?
        }
        Some(db) => {
            let trust = match (&given, &configured) {
                (_, Some(c)) => c.clone(),
                (Some(g), None) => g.clone(),
                (None, None) => trust_config(&TrustArgs::default(), ctx, cmd)?,
            };
            let file = RosterFile::read(path)?;
            let r = match roster::install(&ctx.data_dir, &file, &trust, Date::today()) {
                Ok(r) => r,
                // As a running node answers it (below).
                Err(roster::RosterError::NotNewer { held, .. }) => {
                    // With the gossip validation the held roster has the
                    // node use, as a running node's reply says it.
                    let held_validation = RosterFile::read(&ctx.data_dir.join(roster::HELD_FILE))
                        .and_then(|f| f.decode_unverified())
                        .ok()
                        .map(|b| b.gossip_validation.unwrap_or(own_validation(&cfg_path)));
                    let out = Installed {
                        installed: false,
                        version: held,
                        gossip_validation: held_validation,
                        gossip_validation_next: None,
                    };
                    return not_installed(ctx, path, offered, &out);
                }
                Err(e @ roster::RosterError::Threshold { .. }) => {
                    let from = if configured.is_some() {
                        anchors_named(&TrustArgs::default(), ctx)
                    } else {
                        anchors_named(args, ctx)
                    };
                    bail!(
                        "{}: {e}, checked against {from}; {}",
                        path.display(),
                        signed_by(&file.signatures)
                    );
                }
                Err(e) => return Err(e.into()),
            };

            let own = own_validation(&cfg_path);
            if configured.is_none() {
                // Verified with these anchors: the node keeps using them.
                write_trust(&cfg_path, &trust)?;
                if !ctx.json {
                    say!("trust anchors written to [trust] in {}", cfg_path.display());
                }
            }
            // Last, once the anchors the node needs are written too.
            audit_roster_installed(ctx, &db, r.version())?;
            Installed {
                installed: true,
                version: r.version(),
                gossip_validation: Some(r.body().gossip_validation.unwrap_or(own)),
                gossip_validation_next: None,
            }
        }
    };
    if !out.installed {
        return not_installed(ctx, path, offered, &out);
    }
    // Installed all the same (a node may be set up before its entry is
    // listed), but said at once: status said so only once it ran, and its
    // peers' refusals said nothing.
    if let (Ok(me), Ok(body)) = (
        NodeKey::load(&ctx.data_dir.join(identity::KEY_FILE)),
        RosterFile::read(path).and_then(|f| f.decode_unverified()),
    ) && !body.members.iter().any(|m| m.key == me.public_key())
    {
        // A bootstrap entry takes no OPRF key (the roster refuses one).
        let bootstrap = read_config(&ctx.data_dir).is_ok_and(|c| c.bootstrap);
        say!(
            "warning: roster version {} does not list this node's key {}: the other members refuse its connections. Give your regional organisation the `key`{} that `tracenet identity show` prints, for the next roster",
            out.version,
            me.public_key(),
            if bootstrap { "" } else { " and `oprf key`" }
        );
    }
    ctx.emit(&out, |o| {
        if o.installed {
            let mut line = format!("roster version {} installed", o.version);
            match (o.gossip_validation, o.gossip_validation_next, running) {
                (Some(now), Some(next), _) => line += &format!(
                    "\ngossip validation switches from {now} to {next} in {} to {} s, once no request waits (the node rebuilds its gossip on the same ports; `tracenet status` shows it)",
                    crate::net::SWITCH_GRACE.as_secs(),
                    crate::net::SWITCH_MOST.as_secs()
                ),
                (Some(now), None, true) => line += &format!("\ngossip validation: {now}"),
                (Some(now), None, false) => {
                    line += &format!("\ngossip validation: {now} (from the node's next start)")
                }
                (None, ..) => {}
            }
            line
        } else {
            format!(
                "not installed: this node already holds version {} or newer",
                o.version
            )
        }
    })
}

/// The gossip validation the node's configuration at `cfg_path` sets where
/// its roster states none, as the node reads it at start: the file with its
/// TRACENET_* overrides (a configuration it refuses shows in `config check`).
fn own_validation(cfg_path: &Path) -> GossipValidation {
    crate::config::Config::load(cfg_path)
        .ok()
        .and_then(|c| c.node.net_config().ok())
        .map(|n| n.gossip_validation)
        .unwrap_or_default()
}

/// A verified roster the node did not install, its version not above the
/// one held (`out.version`). The same version again is nothing to do, not an
/// error, so that a provisioning script run twice passes. An older one is an
/// error: a renewal made without `--from` (version 1) was ignored with
/// success, and the roster in force ran out unnoticed (a regional
/// organisation's trial).
fn not_installed(ctx: &Context, path: &Path, offered: u64, out: &Installed) -> anyhow::Result<()> {
    if offered < out.version {
        bail!(
            "not installed: {} is roster version {offered}, older than version {} which this node holds; a renewal is made from the roster in force (`tracenet roster new --from ROSTER ...`), so that its version is above it",
            path.display(),
            out.version
        );
    }
    ctx.emit(out, |o| {
        format!(
            "not installed: this node already holds version {}",
            o.version
        )
    })
}

/// Adds `[trust]` to a configuration file that has none (commented lines
/// are kept), through a temporary file and a rename.
fn write_trust(cfg_path: &Path, trust: &TrustConfig) -> anyhow::Result<()> {
    let mut text =
        crate::model::file::read_small_text(cfg_path, crate::model::file::SMALL_FILE_BYTES)
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
    let trust = trust_config(&args.trust, ctx, "verify")?;
    let bundle = Bundle::read(&args.file)?;
    let report = bundle.verify(&trust);
    ctx.emit(&report, verify_text)?;
    let failed = report.failures().count();
    if failed > 0 {
        bail!(
            "{} of {} {} verification",
            crate::model::count(failed as u64, "part"),
            args.file.display(),
            if failed == 1 { "fails" } else { "fail" }
        );
    }
    Ok(())
}

/// `verify` for people: what was asked, what each State answered, then the
/// verdict on every signed part. Dates as dates, codes in words, each
/// transfer with its direction.
fn verify_text(r: &Report) -> String {
    let mut t = String::new();
    match &r.asked {
        Some(a) => t += &asked_text(a),
        None => t += "asked: the query cannot be read (see below)\n",
    }
    for a in &r.answered {
        t += &answered_text(a);
    }
    t += "checks\n";
    for line in r.to_text().lines() {
        t += &format!("  {line}\n");
    }
    t
}

/// A wire code for people: `seized_in_crime` reads `seized in crime`.
fn code_words<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s.replace('_', " "),
        _ => String::new(),
    }
}

fn under(version: Option<u64>) -> String {
    version
        .map(|v| format!(" under roster v{v}"))
        .unwrap_or_default()
}

fn not_verified(verified: bool) -> &'static str {
    if verified { "" } else { " (does NOT verify)" }
}

fn asked_text(a: &Asked) -> String {
    let q = &a.query;
    let m = &q.marking;
    let made = match m.year() {
        Some(y) => format!("made in {} in {y}", m.country()),
        None => format!("made in {}", m.country()),
    };
    let imports: Vec<String> = m
        .imports()
        .iter()
        .map(|i| match i.year {
            Some(y) => format!("{} {y}", i.country),
            None => i.country.to_string(),
        })
        .collect();
    let imports = if imports.is_empty() {
        String::new()
    } else {
        format!(", import marks {}", imports.join(", "))
    };
    let factory = m
        .factory_code()
        .map(|f| format!(", factory code {f}"))
        .unwrap_or_default();
    let calibre = q
        .calibre
        .as_ref()
        .map(|c| format!(", calibre {c}"))
        .unwrap_or_default();
    format!(
        "asked: query {} from {}, issued {}{}{}\n\
         \x20 weapon   {}, {made}, serial {}{factory}{imports}\n\
         \x20 type     {}{calibre}\n\
         \x20 grounds  {}; for {}; {} (to be acted on by {})\n\
         \x20 digest   {}\n",
        q.id,
        q.requester.state,
        format_unix(q.issued_at),
        under(a.roster_version),
        not_verified(a.verified),
        if m.manufacturer().is_empty() {
            "maker not named"
        } else {
            m.manufacturer()
        },
        m.serial(),
        code_words(&q.category),
        code_words(&q.legal_ground),
        code_words(&q.intended_use),
        code_words(&q.priority),
        format_unix(q.issued_at.saturating_add(u64::from(q.ttl_secs))),
        a.digest,
    )
}

fn answered_text(a: &Answered) -> String {
    use crate::protocol::Outcome;
    let b = &a.answer;
    let state = b.responder.state;
    let mut t = format!(
        "answer {} from {state}, {}{}{}: ",
        a.n,
        format_unix(b.answered_at),
        under(a.roster_version),
        not_verified(a.verified)
    );
    let candidates = match &b.outcome {
        Outcome::Hit { candidates } => {
            t += &format!("hit, {}\n", count(candidates.len() as u64, "candidate"));
            candidates
        }
        Outcome::Trimmed {
            candidates,
            events_left_out,
        } => {
            t += &format!(
                "hit, {}, trimmed to fit the message size limit ({} left out)\n",
                count(candidates.len() as u64, "candidate"),
                count(u64::from(*events_left_out), "older event")
            );
            candidates
        }
        Outcome::NoHit => return t + "no record\n",
        Outcome::Withheld { reason } => return t + &format!("withheld: {}\n", reason.words()),
        Outcome::Acknowledged => {
            return t + "acknowledged: a person decides, and the answer follows\n";
        }
        Outcome::TooMany { count: n } => {
            return t + &format!("too many candidates ({n}) to list\n");
        }
        Outcome::Refused {
            reason,
            retry_after_secs,
        } => {
            t += &format!("refused: {}", code_words(reason));
            if *retry_after_secs > 0 {
                t += &format!(" (retry after {retry_after_secs} s)");
            }
            return t + "\n";
        }
    };
    for c in candidates {
        let r = &c.record;
        let extra: Vec<String> = [
            Some(code_words(&r.category)),
            r.model.as_ref().map(ToString::to_string),
            r.calibre.as_ref().map(ToString::to_string),
        ]
        .into_iter()
        .flatten()
        .collect();
        t += &format!(
            "  [{}] {} {} {}, {}\n",
            c.quality.words(),
            r.marking.maker_label(),
            r.marking.country(),
            r.marking.serial(),
            extra.join(", ")
        );
        for e in &r.events {
            let holder = e
                .holder
                .map(|h| format!(", held by {}", code_words(&h)))
                .unwrap_or_default();
            t += &format!(
                "    {:<10}  {:<12}  {}{holder}\n",
                e.date,
                code_words(&e.kind),
                crate::node::custody::places(
                    e.kind,
                    state,
                    e.counterpart,
                    Some(r.marking.country())
                )
            );
        }
    }
    t
}

/// Records a roster installed with the node stopped in its audit log
/// (`roster install`, `roster verify --install`).
fn audit_roster_installed(ctx: &Context, db: &sled::Db, version: u64) -> anyhow::Result<()> {
    super::registry::audit_stopped(
        ctx,
        db,
        crate::audit::AuditKind::RosterInstalled,
        format!("version {version}"),
        &format!("roster version {version} was installed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member's OPRF key or a signing anchor's key given as a node key is
    /// refused by name: the roster's own check cannot tell 32 bytes apart.
    #[test]
    fn a_node_key_that_is_an_oprf_or_anchor_key_is_refused() {
        let member = |cc: &str, key: [u8; 32], oprf: Option<[u8; 32]>| Member {
            state: CountryCode::parse(cc).unwrap(),
            name: cc.into(),
            key: crate::protocol::PublicKey(key),
            role: Role::Member,
            prefixes: Vec::new(),
            addresses: Vec::new(),
            oprf_key: oprf.map(OprfPublicKey),
        };
        let body = |members| RosterBody {
            version: 1,
            valid_from: Date::parse("2026-12-01").unwrap(),
            valid_until: Date::parse("2026-12-31").unwrap(),
            members,
            gossip_validation: None,
            peer_connections: None,
            served_lists: false,
        };
        let clean = body(vec![
            member("DE", [1; 32], Some([2; 32])),
            member("NG", [3; 32], Some([4; 32])),
        ]);
        assert!(key_mixups(&clean, &[]).is_empty());
        let e = key_mixups(
            &body(vec![
                member("DE", [1; 32], Some([2; 32])),
                member("NG", [2; 32], None),
            ]),
            &[],
        );
        assert!(
            matches!(&e[..], [m] if m.contains("NG's node key") && m.contains("is DE's OPRF key")),
            "{e:?}"
        );
        let signed = [AnchorSignature {
            anchor: crate::protocol::PublicKey([3; 32]),
            signature: String::new(),
        }];
        let e = key_mixups(&clean, &signed);
        assert!(
            matches!(&e[..], [m] if m.contains("NG's node key") && m.contains("anchor that signed")),
            "{e:?}"
        );
        // The signing anchor's own key listed as a node key is refused at
        // `roster sign` too (`signed_with_a_node_key`).
        assert!(signed_with_a_node_key(&clean, &crate::protocol::PublicKey([3; 32])).is_some());
        assert!(signed_with_a_node_key(&clean, &crate::protocol::PublicKey([9; 32])).is_none());
    }

    #[test]
    fn an_oprf_key_flag_takes_a_ristretto255_key_and_says_where_to_find_one() {
        let k = crate::blind::OprfKey::from_seed(&[4; 32])
            .unwrap()
            .roster_key();
        assert_eq!(parse_oprf_key(&k.to_base64()), Ok(k));
        assert_eq!(parse_oprf_key(&k.to_hex()), Ok(k));
        let e = parse_oprf_key(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [0xffu8; 32],
        ))
        .unwrap_err();
        assert!(e.contains("tracenet identity show"), "{e}");
        assert!(parse_oprf_key("AAAA").is_err());
    }

    /// A State's OPRF key given as its node key (`roster add --key`) is
    /// said to be one, with where it goes (a trial: the curve's words alone
    /// told nothing).
    #[test]
    fn an_oprf_key_given_as_a_node_key_is_said_to_be_one() {
        use curve25519_dalek::ristretto::RistrettoPoint;
        use curve25519_dalek::scalar::Scalar;
        // The first multiple of ristretto255's base point whose encoding is
        // no usable Ed25519 key (most are not).
        let (text, _) = (1u64..64)
            .map(|n| {
                let p = RistrettoPoint::mul_base(&Scalar::from(n));
                hex::encode(p.compress().to_bytes())
            })
            .map(|t| {
                let usable = identity::parse_key(&t).is_ok_and(|k| k.check_usable().is_ok());
                (t, usable)
            })
            .find(|(t, usable)| !usable && parse_oprf_key(t).is_ok())
            .expect("an OPRF key no Ed25519 key");
        let e = key_arg("roster add", &text).unwrap_err().to_string();
        assert!(
            e.contains("reads as an OPRF public key") && e.contains("--oprf-key"),
            "{e}"
        );
        // A key that is neither gets no such hint.
        let e = key_arg("roster add", &"00".repeat(32))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("OPRF"), "{e}");
    }

    #[test]
    fn a_day_is_a_date_or_relative_to_today() {
        let today = Date::parse("2026-12-01").unwrap();
        let day = |s| parse_day_from(s, today);
        assert_eq!(day("today"), Ok(today));
        assert_eq!(
            day("today+30"),
            Date::parse("2026-12-31").map_err(|e| e.to_string())
        );
        assert_eq!(
            day("today-1"),
            Date::parse("2026-11-30").map_err(|e| e.to_string())
        );
        assert_eq!(
            day("2027-11-30"),
            Date::parse("2027-11-30").map_err(|e| e.to_string())
        );
        for bad in [
            "tomorrow",
            "today+",
            "today+x",
            "today*3",
            "today+99999999",
            "today-9223372036854775807",
            // Negated, it overflowed (a panic in a debug build).
            "today--9223372036854775808",
            "today+-5",
            "today++5",
        ] {
            assert!(day(bad).is_err(), "{bad} was accepted");
        }
    }

    /// A bundle of the protocol's test vectors: NG's query, DE's hit, GH's
    /// withheld answer, under roster v1, signed by an anchor of seed 1.
    fn vector_bundle() -> (Bundle, crate::roster::TrustConfig) {
        use crate::protocol::{Outcome, Party, SigningKey, WithheldReason, sign, vectors};
        let anchor = SigningKey::from_seed(&[1; 32]).unwrap();
        let ghana = SigningKey::from_seed(&[5; 32]).unwrap();
        let m = |state: &str, name: &str, key| Member {
            state: state.parse().unwrap(),
            name: name.into(),
            key,
            role: Role::Member,
            prefixes: vec![],
            addresses: vec![],
            oprf_key: None,
        };
        let body = RosterBody {
            version: 1,
            valid_from: Date::parse("2024-01-01").unwrap(),
            valid_until: Date::parse("2030-12-31").unwrap(),
            members: vec![
                m("NG", "Nigeria", vectors::requester_key().public_key()),
                m("DE", "Germany", vectors::responder_key().public_key()),
                m("GH", "Ghana", ghana.public_key()),
            ],
            gossip_validation: None,
            peer_connections: None,
            served_lists: false,
        };
        let mut roster = RosterFile::new(&body).unwrap();
        roster.sign(&anchor).unwrap();
        let q = sign(vectors::query(), &vectors::requester_key()).unwrap();
        let hit = sign(vectors::answer(q.digest()), &vectors::responder_key()).unwrap();
        let mut gh = vectors::answer(q.digest());
        gh.responder = Party {
            state: "GH".parse().unwrap(),
            key: ghana.public_key(),
        };
        gh.outcome = Outcome::Withheld {
            reason: WithheldReason::NationalLaw,
        };
        let gh = sign(gh, &ghana).unwrap();
        let bundle = Bundle::new(q.bytes(), 1, [(hit.bytes(), 1), (gh.bytes(), 1)], [roster]);
        let trust = crate::roster::TrustConfig {
            anchors: vec![anchor.public_key().to_hex()],
            threshold: 1,
        };
        (bundle, trust)
    }

    #[test]
    fn verify_reads_what_was_asked_and_answered() {
        let (bundle, trust) = vector_bundle();
        let report = bundle.verify(&trust);
        let text = verify_text(&report);
        let lines: Vec<&str> = text.lines().collect();
        let digest = report.asked.as_ref().unwrap().digest.clone();
        let want = [
            "asked: query 11111111111111111111111111111111 from NG, issued 2025-01-01 00:00 UTC under roster v1".to_string(),
            "  weapon   Walther, made in DE in 2009, serial BP0746, import marks NG 2010".into(),
            "  type     pistol, calibre 9x19mm".into(),
            "  grounds  seized in crime; for criminal investigation; urgent (to be acted on by 2025-01-01 01:00 UTC)".into(),
            format!("  digest   {digest}"),
            "answer 1 from DE, 2025-01-01 00:00 UTC under roster v1: hit, 1 candidate".into(),
            "  [exact match] Walther DE BP0746, pistol, P99, 9x19mm".into(),
            "    2009-03-14  manufactured  DE, held by manufacturer".into(),
            "    2010-02-01  exported      DE → NG, held by state police".into(),
            "    2015-07-20  stolen        DE, held by state police".into(),
            "answer 2 from GH, 2025-01-01 00:00 UTC under roster v1: withheld: national law".into(),
            "checks".into(),
        ];
        assert_eq!(lines[..want.len()], want, "{text}");
        assert_eq!(lines.last(), Some(&"  evidence verifies"), "{text}");
        // No Rust debug forms, no bare Unix seconds.
        for bad in ["NationalLaw", "Some(", "null", "1735689600"] {
            assert!(!text.contains(bad), "{bad:?} in:\n{text}");
        }
        // --json carries the same decoded content.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["asked"]["query"]["requester"]["state"], "NG");
        assert_eq!(json["asked"]["roster_version"], 1);
        assert_eq!(json["answered"][0]["answer"]["responder"]["state"], "DE");
        assert_eq!(json["answered"][0]["verified"], true);
        assert_eq!(
            json["answered"][1]["answer"]["outcome"]["withheld"]["reason"],
            "national_law"
        );
    }

    #[test]
    fn an_answer_that_fails_says_so_beside_its_content() {
        let (bundle, trust) = vector_bundle();
        let Bundle::V2(mut b) = bundle else {
            unreachable!("new writes format 2")
        };
        // GH's answer judged by a roster version the bundle does not hold.
        b.answer_rosters[1] = 7;
        let report = Bundle::V2(b).verify(&trust);
        let text = verify_text(&report);
        assert!(
            text.contains("answer 2 from GH, 2025-01-01 00:00 UTC under roster v7 (does NOT verify): withheld: national law"),
            "{text}"
        );
        assert!(text.contains("  evidence does NOT verify"), "{text}");
    }
}
