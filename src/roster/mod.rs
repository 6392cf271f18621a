//! The membership roster: which States' keys belong to the federation, signed by
//! trust anchors (regional organisations). A node accepts a roster only if enough
//! configured anchors signed it, it is in its validity dates, and it is newer
//! than the one held. On disk: a JSON envelope around the exact signed bytes,
//! `roster.json` for the held one and every version installed in `rosters/`
//! (`history`), by which past answers are judged.
//!
//! The same anchors, under the same threshold, sign the federation's maker
//! reference table (`makers`); `anchors` holds what the two share.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::marking::{MakerKey, MarkingPrefix};
use crate::model::{CountryCode, Date};
use crate::protocol::{
    DecodeError, EncodeError, Kind, Limits, OprfPublicKey, PublicKey, SigningKey, codec,
};

/// The `format` field of a roster file.
pub const FORMAT: &str = "tracenet-roster/1";
/// The held roster's file name inside a data directory.
pub const HELD_FILE: &str = "roster.json";
pub const MAX_MEMBERS: usize = 512;

/// The highest version a roster may have. A roster's version only grows (a
/// node installs one above the version it holds), so one at the top of the
/// range could never be replaced: no member removed, no key changed, until
/// every node's files were edited by hand (`roster new --version
/// 18446744073709551615` was accepted: a regional organisation's trial). A
/// million leaves room for a roster renewed every day for 2,700 years.
pub const MAX_VERSION: u64 = 1_000_000;
pub const MAX_PREFIXES: usize = 256;
pub const MAX_ADDRESSES: usize = 8;
pub const MAX_ADDRESS_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 64;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a roster file: {0}")]
    Json(String),
    /// [`RosterError::Json`] or [`RosterError::Format`] of a file read
    /// from disk, with its path and a hint when it is another tracenet file.
    #[error("{}: {problem}{hint}", path.display())]
    NotRosterFile {
        path: PathBuf,
        problem: String,
        hint: &'static str,
    },
    /// The file's `format`, its first 64 characters.
    #[error("roster file format {0:?} is not {FORMAT}")]
    Format(String),
    #[error("roster body is not valid base64: {0}")]
    Base64(String),
    #[error("roster body: {0}")]
    Decode(#[from] DecodeError),
    #[error("roster body: {0}")]
    Encode(#[from] EncodeError),
    #[error("roster member {state}: {problem}")]
    Member { state: String, problem: String },
    #[error("roster: {0}")]
    Invalid(String),
    #[error("roster signature {index} (anchor {anchor}) is {problem}")]
    Signature {
        index: usize,
        anchor: String,
        problem: String,
    },
    #[error("roster is signed by {found} of the trust anchors; {} required{}", needed_anchors(*needed), if *found == 0 { " (a roster none of them signed, or not signed at all)" } else { "" })]
    Threshold { found: usize, needed: usize },
    #[error("roster version {version} is valid from {from} to {until}, not on {on}{}", dates_advice(*from, *until, *on))]
    Dates {
        version: u64,
        from: Date,
        until: Date,
        on: Date,
    },
    #[error("roster version {offered} is not newer than the held version {held}")]
    NotNewer { offered: u64, held: u64 },
    #[error("roster history {path}: {problem}; move the file aside to drop that version")]
    History { path: PathBuf, problem: String },
    #[error(
        "roster version {version} is not in this node's history ({dir}): it was never installed here"
    )]
    NotInHistory { version: u64, dir: PathBuf },
    #[error(
        "trust configuration: {0}; set [trust] anchors (hex or base64 keys) and a threshold between 1 and their number"
    )]
    Trust(String),
}

/// A member's role in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A State's node: sends and answers traces.
    Member,
    /// A well-known peer that new nodes dial first (run by a regional organisation).
    Bootstrap,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "member" => Ok(Role::Member),
            "bootstrap" => Ok(Role::Bootstrap),
            other => Err(format!(
                "unknown role {other:?}: expected member or bootstrap"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Member => "member",
            Role::Bootstrap => "bootstrap",
        })
    }
}

/// One entry of the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub state: CountryCode,
    /// The State's name, for people reading the roster.
    pub name: String,
    #[serde(rename = "public_key", alias = "key")]
    pub key: PublicKey,
    pub role: Role,
    /// The marking prefixes whose records this State declares it holds.
    pub prefixes: Vec<MarkingPrefix>,
    /// Known addresses, as multiaddr text (`/dns4/.../tcp/4001`).
    pub addresses: Vec<String>,
    /// The node's OPRF public key for blind traces (`tracenet identity show`
    /// prints it; proto-docs/BLIND.md). A requester checks every holder's
    /// filter header and blind evaluation against this key, so a holder
    /// cannot use another key for some requesters to tell them apart. `None`
    /// (or `null` in JSON): the node takes no part in blind traces; a blind
    /// trace passes it by and leaves it to the officer. On the wire these keys
    /// follow the members as a trailing list (see [`RosterBody::encode`]).
    #[serde(default)]
    pub oprf_key: Option<OprfPublicKey>,
}

/// The signed content of a roster. In JSON as written here; anchors sign
/// its wire form ([`RosterBody::encode`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterBody {
    pub version: u64,
    pub valid_from: Date,
    pub valid_until: Date,
    pub members: Vec<Member>,
    /// How every member checks the gossipsub envelope around what it reads,
    /// decided for the whole federation (`tracenet roster set-gossip-validation`).
    /// `None` (absent in JSON): the roster says nothing, and each node uses
    /// its own `node.gossip_validation`. On the wire a trailing setting
    /// (see [`RosterBody::encode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_validation: Option<GossipValidation>,
    /// How many links every member keeps (proto-docs/NETWORK.md, "Links
    /// kept"), decided for the whole federation (`tracenet roster new
    /// --peer-connections N`), from [`MIN_PEER_CONNECTIONS`] to
    /// [`MAX_MEMBERS`]. Stated, every member plans the same links from the
    /// same roster, and while that plan is a full mesh a holder that read a
    /// query from its requester itself does not relay it (the requester's
    /// publish reached every member a relay could). `None` (absent in
    /// JSON): each node uses its own `node.peer_connections`, and every
    /// holder relays. On the wire a trailing setting (see
    /// [`RosterBody::encode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_connections: Option<u32>,
    /// Whether every member reads the States served a query names (its
    /// field 14, PROTOCOL.md section 5): then, where `peer_connections` is
    /// stated and bounds the links, requesters write it and holders relay a
    /// query only toward peers it does not name (proto-docs/NETWORK.md,
    /// "Gossip mesh"). Builds before it refuse such a query, so anchors
    /// state it once every member runs a build that reads it (`tracenet
    /// roster set-served-lists`; a first roster states it). `false` (absent
    /// in JSON): every holder relays where links are bounded. On the wire
    /// a trailing setting (see [`RosterBody::encode`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub served_lists: bool,
}

/// How a node checks the gossipsub envelope around each gossip message it
/// reads (proto-docs/NETWORK.md, "gossipsub validation"). Messages are
/// published signed either way. The members of a federation must agree: a
/// `payload` node passes messages on without their envelope's author and
/// sequence number, which a `strict` node refuses (and scores the relay
/// down for), and the two name messages differently in IHAVE and IWANT. So
/// the roster decides it for all ([`RosterBody::gossip_validation`]), and
/// every node switches when it installs the roster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GossipValidation {
    /// gossipsub verifies every envelope's signature, on every copy read;
    /// messages are named by author and sequence number. What every build
    /// of tracenet does, and the default.
    #[default]
    Strict,
    /// Envelopes are not verified: what they carry is signed by its author
    /// and checked by the node before it is passed on, once per message.
    /// Messages are named by SHA-256 of topic and data. 5 to 12% less CPU
    /// per trace across a 10-State federation, 25 to 31% at 50 holders
    /// with links bounded (proto-docs/NETWORK.md).
    Payload,
}

impl GossipValidation {
    pub fn as_str(self) -> &'static str {
        match self {
            GossipValidation::Strict => "strict",
            GossipValidation::Payload => "payload",
        }
    }
}

impl std::fmt::Display for GossipValidation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for GossipValidation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "strict" => Ok(GossipValidation::Strict),
            "payload" => Ok(GossipValidation::Payload),
            other => Err(format!(
                "unknown gossip validation {other:?}: expected strict or payload"
            )),
        }
    }
}

/// One anchor's signature, as stored in the roster file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSignature {
    pub anchor: PublicKey,
    /// Base64 of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// A roster file: the exact encoded body (base64) and the anchors' signatures
/// over it. Editing the body drops the signatures, since they no longer apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterFile {
    pub format: String,
    pub body: String,
    pub signatures: Vec<AnchorSignature>,
}

/// The trust anchors a node believes, as written under `[trust]` in tracenet.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Anchor public keys, hex or base64.
    pub anchors: Vec<String>,
    /// How many distinct anchors must have signed a roster.
    pub threshold: u8,
}

/// A roster whose signatures, dates and contents have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    body: RosterBody,
    signed_by: Vec<PublicKey>,
    file: RosterFile,
}

impl TrustConfig {
    /// The anchors' keys, once the configuration is checked.
    pub fn anchor_keys(&self) -> Result<Vec<PublicKey>, RosterError> {
        let keys = self
            .anchors
            .iter()
            .map(|a| {
                PublicKey::parse(a)
                    .and_then(|k| k.check_usable().map(|()| k))
                    .map_err(|e| RosterError::Trust(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let distinct: HashSet<_> = keys.iter().collect();
        if self.threshold == 0 || usize::from(self.threshold) > distinct.len() {
            return Err(RosterError::Trust(format!(
                "threshold {} needs at least as many distinct anchors, and at least 1; {} given",
                self.threshold,
                crate::model::count(distinct.len() as u64, "distinct anchor")
            )));
        }
        Ok(keys)
    }
}

fn member_err(m: &Member, problem: impl Into<String>) -> RosterError {
    RosterError::Member {
        state: m.state.to_string(),
        problem: problem.into(),
    }
}

/// The fewest links a member keeps (also the network's floor for
/// `node.peer_connections`): below it a ring of one successor and no chord
/// would split when two members are offline (proto-docs/NETWORK.md, "Links
/// kept").
pub const MIN_PEER_CONNECTIONS: usize = 4;

/// The links every member keeps, as a roster may state them: at least
/// [`MIN_PEER_CONNECTIONS`], at most [`MAX_MEMBERS`] (a full mesh of the
/// largest roster).
pub fn check_peer_connections(n: u32) -> Result<(), String> {
    let min = MIN_PEER_CONNECTIONS;
    if (n as usize) < min || n as usize > MAX_MEMBERS {
        return Err(format!(
            "peer_connections {n} is outside {min} to {MAX_MEMBERS}; ask the regional organisation to issue the roster again"
        ));
    }
    Ok(())
}

/// What a member's name may hold besides letters and digits: the spaces and
/// punctuation States' and regional organisations' names are written with
/// ("Côte d’Ivoire", "Bosnia & Herzegovina", "ECOWAS bootstrap 2").
pub const NAME_PUNCTUATION: &str = " -'’.,()&/";

/// The most combining marks one letter may carry (Vietnamese written
/// decomposed stacks two): more only pile up over the lines where the name
/// is shown. [`name_problem`] counts only marks that are not letters by
/// Unicode's count (builds before took Arabic and Indic vowel signs as
/// letters, in any number); [`name_problem_to_sign`] counts every mark.
const MAX_MARKS_ON_A_LETTER: usize = 3;

/// What builds before the fifty-eighth session's (2026-12-07) took in a
/// member's name: letters and ` -'.,()`. A roster with any other character
/// in a name is refused by them, so `roster` commands say so
/// ([`name_needs_newer_build`]).
const NAME_PUNCTUATION_BEFORE: &str = " -'.,()";

/// Why `name` cannot be a member's name in a roster, if it cannot: 1 to
/// [`MAX_NAME_CHARS`] characters, each a letter or digit of any script, a
/// character of [`NAME_PUNCTUATION`], or a combining mark on a letter or
/// digit (at most [`MAX_MARKS_ON_A_LETTER`] on one, [`is_invisible_mark`]s
/// refused). Controls, invisible
/// and direction characters, symbols and other punctuation are refused:
/// a name is shown in terminals, logs and the console, and must read there
/// as it is. Every name builds before took (letters, marks that are
/// letters by Unicode's count, ` -'.,()`) still passes, so that no roster a
/// node has installed is refused after an upgrade; what a regional
/// organisation types or signs is held to more ([`name_problem_to_sign`]:
/// `roster add`, `roster sign`).
pub fn name_problem(name: &str) -> Option<String> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Some(format!(
            "name {name:?} has {n} characters: give 1 to {MAX_NAME_CHARS}"
        ));
    }
    // Marks in a row on the last letter or digit; `None` after anything else.
    let mut marks = None::<usize>;
    for (i, c) in name.chars().enumerate() {
        if is_invisible_mark(c) {
            return Some(format!(
                "name {name:?}: U+{:04X} (character {}) is invisible: write the name without it",
                c as u32,
                i + 1
            ));
        }
        if c.is_alphanumeric() {
            marks = Some(0);
        } else if unicode_normalization::char::is_combining_mark(c) {
            match marks {
                Some(k) if k < MAX_MARKS_ON_A_LETTER => marks = Some(k + 1),
                Some(_) => {
                    return Some(format!(
                        "name {name:?}: more than {MAX_MARKS_ON_A_LETTER} combining marks on one letter (character {}): write the name without them",
                        i + 1
                    ));
                }
                None => {
                    return Some(format!(
                        "name {name:?}: combining mark U+{:04X} (character {}) is not on a letter or digit: write the name without it",
                        c as u32,
                        i + 1
                    ));
                }
            }
        } else if NAME_PUNCTUATION.contains(c) {
            marks = None;
        } else {
            return Some(format!(
                "name {name:?}: U+{:04X} (character {}) is not a letter, digit, space or one of - ' \u{2019} . , ( ) & /: write the name without it",
                c as u32,
                i + 1
            ));
        }
    }
    None
}

/// Combining marks that show nothing (variation selectors, the combining
/// grapheme joiner, Mongolian and Khmer fillers): "Gha\u{FE0F}na" would
/// read as "Ghana". None is a letter, so no build before took them.
fn is_invisible_mark(c: char) -> bool {
    matches!(c as u32, 0x034F | 0x17B4..=0x17B5 | 0x180B..=0x180F | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// A name as a regional organisation typed it (`roster add --name`), made
/// the one way it is written in a roster: composed (NFC: a name typed
/// decomposed, as some keyboards write "Việt Nam", is stored as the same
/// letters composed, which every build reads), spaces at either end
/// dropped and runs of spaces made one. Refused, saying why: what
/// [`name_problem_to_sign`] refuses.
pub fn typed_name(typed: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    let single = |s: &str| {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let composed = single(&typed.nfc().collect::<String>());
    // NFC takes a few letters apart (U+0958 to U+0915 and a nukta, which is
    // no letter): kept as typed where only the composed form would need a
    // newer build.
    let as_typed = single(typed);
    let name = if name_needs_newer_build(&composed) && !name_needs_newer_build(&as_typed) {
        as_typed
    } else {
        composed
    };
    match name_problem_to_sign(&name) {
        Some(problem) => Err(problem),
        None => Ok(name),
    }
}

/// Why a regional organisation should not sign `name`, if it should not:
/// what [`name_problem`] refuses, and what that check takes only because
/// builds before took it (a roster they installed must stay valid): a name
/// without a letter that is not a mark, the Hangul fillers (letters by
/// Unicode's count that show nothing), and more than
/// [`MAX_MARKS_ON_A_LETTER`] combining marks on one letter, letters by
/// Unicode's count or not. `roster add` and `roster sign` hold names to it.
pub fn name_problem_to_sign(name: &str) -> Option<String> {
    let mark = unicode_normalization::char::is_combining_mark;
    if !name.chars().any(|c| c.is_alphabetic() && !mark(c)) {
        return Some(format!(
            "name {name:?} has no letter: give the State's or organisation's name as people know it"
        ));
    }
    if let Some(problem) = name_problem(name) {
        return Some(problem);
    }
    let mut marks = 0;
    for (i, c) in name.chars().enumerate() {
        if matches!(c as u32, 0x115F | 0x1160 | 0x3164 | 0xFFA0) {
            return Some(format!(
                "name {name:?}: U+{:04X} (character {}) is invisible: write the name without it",
                c as u32,
                i + 1
            ));
        }
        marks = if mark(c) { marks + 1 } else { 0 };
        if marks > MAX_MARKS_ON_A_LETTER {
            return Some(format!(
                "name {name:?}: more than {MAX_MARKS_ON_A_LETTER} combining marks on one letter (character {}): write the name without them",
                i + 1
            ));
        }
    }
    None
}

/// Names of `members` that people could take for one another: the same
/// once composition (NFC), case and the apostrophe's form are set aside
/// (`Côte d'Ivoire`, `CÔTE D’IVOIRE`). Each member with the next one alike
/// after it, in the members' order: three alike give two pairs, naming all
/// three.
pub fn names_alike(members: &[Member]) -> Vec<(&Member, &Member)> {
    use unicode_normalization::UnicodeNormalization;
    let folded = |m: &Member| {
        m.name
            .nfc()
            .collect::<String>()
            .to_lowercase()
            .replace('\u{2019}', "'")
    };
    let mut out = Vec::new();
    for (i, a) in members.iter().enumerate() {
        if let Some(b) = members[i + 1..].iter().find(|b| folded(a) == folded(b)) {
            out.push((a, b));
        }
    }
    out
}

/// Whether builds before 2026-12-07 refuse `name` (a digit, a combining
/// mark, `’`, `&` or `/`), so that a roster naming it is refused by nodes
/// not yet upgraded: they keep the roster they have.
pub fn name_needs_newer_build(name: &str) -> bool {
    name.chars()
        .any(|c| !(c.is_alphabetic() || NAME_PUNCTUATION_BEFORE.contains(c)))
}

fn check_name(m: &Member) -> Result<(), RosterError> {
    match name_problem(&m.name) {
        Some(problem) => Err(member_err(m, problem)),
        None => Ok(()),
    }
}

/// Addresses are checked loosely (multiaddr-shaped text); the network layer
/// parses them for real.
pub fn check_address(a: &str) -> Result<(), String> {
    let ok = a.starts_with('/')
        && a.len() <= MAX_ADDRESS_CHARS
        && a.chars().all(|c| c.is_ascii_graphic());
    if !ok {
        return Err(format!(
            "address {a:?} must be multiaddr text such as /dns4/node.example/tcp/4001"
        ));
    }
    Ok(())
}

fn check_member(m: &Member) -> Result<(), RosterError> {
    check_name(m)?;
    if let Some(name) = m.state.former_name() {
        return Err(member_err(
            m,
            format!("{name} is a former State; members are States of today"),
        ));
    }
    if m.prefixes.len() > MAX_PREFIXES {
        return Err(member_err(m, format!("more than {MAX_PREFIXES} prefixes")));
    }
    if m.addresses.len() > MAX_ADDRESSES {
        return Err(member_err(
            m,
            format!("more than {MAX_ADDRESSES} addresses"),
        ));
    }
    // Maker keys deserialise without validation, so check their shape here.
    if let Some(p) = m
        .prefixes
        .iter()
        .find(|p| MakerKey::from_folded(p.maker.as_str()).is_none())
    {
        return Err(member_err(
            m,
            format!(
                "prefix maker {:?} is not a folded maker name",
                p.maker.as_str()
            ),
        ));
    }
    if let Some(k) = &m.oprf_key {
        if m.role != Role::Member {
            return Err(member_err(
                m,
                "a bootstrap peer answers no blind trace: give it no OPRF key",
            ));
        }
        crate::blind::check_oprf_public_key(k).map_err(|_| {
            member_err(
                m,
                format!("OPRF key {k} is not a ristretto255 public key (copy it from tracenet identity show)"),
            )
        })?;
    }
    m.addresses
        .iter()
        .try_for_each(|a| check_address(a).map_err(|p| member_err(m, p)))
}

/// "1 is" or "N are".
pub(crate) fn needed_anchors(n: usize) -> String {
    if n == 1 {
        "1 is".into()
    } else {
        format!("{n} are")
    }
}

/// What to do with a roster outside its dates on `on`.
fn dates_advice(from: Date, until: Date, on: Date) -> String {
    if on < from {
        format!(
            "; it is not yet in force: install it from {from} on (a node takes only the roster in force)"
        )
    } else if on > until {
        "; it has expired: install the roster in force, from your regional organisation".into()
    } else {
        String::new()
    }
}

impl RosterBody {
    /// Every member's key is one whose signatures say who made them
    /// ([`PublicKey::check_usable`]). Checked where a roster is made
    /// ([`RosterBody::encode`]) and where one is believed
    /// ([`RosterFile::verify`]), not at each read: a roster a node ignores
    /// (an old version replayed by a member) costs no curve arithmetic, and
    /// `roster show` and `roster remove` still read one listing such a key.
    pub fn check_keys(&self) -> Result<(), RosterError> {
        for m in &self.members {
            m.key
                .check_usable()
                .map_err(|e| member_err(m, e.to_string()))?;
        }
        Ok(())
    }

    /// Bounds and uniqueness: one key per entry, one member entry per State.
    pub fn check(&self) -> Result<(), RosterError> {
        if !(1..=MAX_VERSION).contains(&self.version) {
            return Err(RosterError::Invalid(format!(
                "version {} is out of range: a roster's version is 1 to {MAX_VERSION}",
                self.version
            )));
        }
        if self.valid_until < self.valid_from {
            return Err(RosterError::Invalid(format!(
                "valid_until ({}) is before valid_from ({})",
                self.valid_until, self.valid_from
            )));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(RosterError::Invalid(format!(
                "more than {MAX_MEMBERS} members"
            )));
        }
        if let Some(n) = self.peer_connections {
            check_peer_connections(n).map_err(RosterError::Invalid)?;
        }
        let (mut keys, mut states, mut oprf_keys) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for m in &self.members {
            check_member(m)?;
            if !keys.insert(m.key) {
                let first = self
                    .members
                    .iter()
                    .find(|o| o.key == m.key)
                    .map(|o| o.state);
                return Err(member_err(
                    m,
                    format!(
                        "key {} is listed twice{}",
                        m.key,
                        first
                            .filter(|s| *s != m.state)
                            .map(|s| format!(" (it is {s}'s node key too)"))
                            .unwrap_or_default()
                    ),
                ));
            }
            // Two members with one OPRF key: requesters would take either's
            // evaluations for the other's (a regional organisation's trial
            // gave one State's key to a second).
            if let Some(k) = &m.oprf_key
                && !oprf_keys.insert(k.to_string())
            {
                return Err(member_err(m, format!("OPRF key {k} is listed twice")));
            }
            if m.role == Role::Member && !states.insert(m.state) {
                return Err(member_err(m, "State is listed twice as a member"));
            }
        }
        Ok(())
    }

    /// The exact bytes anchors sign (PROTOCOL.md, "Roster"): version,
    /// dates and members as before blind traces, then the members' OPRF keys
    /// as a trailing list, written only when some member has one, then the
    /// federation's settings (gossip validation, links kept), written only when the
    /// roster states one (and then after the OPRF keys' list, empty or not).
    /// A roster with neither keeps the bytes older builds sign and read; one
    /// with them is refused by those builds as trailing bytes, so anchors
    /// add them once every member runs a build that reads them.
    pub fn encode(&self) -> Result<Vec<u8>, RosterError> {
        self.check()?;
        self.check_keys()?;
        self.encode_checked()
    }

    /// [`RosterBody::encode`] once the caller has checked what it must.
    fn encode_checked(&self) -> Result<Vec<u8>, RosterError> {
        let bytes = if self.gossip_validation.is_some()
            || self.peer_connections.is_some()
            || self.served_lists
        {
            codec::encode_body(Kind::Roster, &wire::BodyWithSettings::from(self))?
        } else {
            codec::encode_body(Kind::Roster, &wire::Body::from(self))?
        };
        Ok(bytes)
    }

    /// Reads the wire form, with or without the trailing OPRF keys and
    /// settings, and checks it: an OPRF key for a key the roster does not
    /// list, or two for one member, is refused, and so are settings out of
    /// their order, listed twice, or of a kind this build does not know.
    pub fn decode(bytes: &[u8]) -> Result<Self, RosterError> {
        // Each form is tried in turn; each reads to the last byte, so at
        // most one reads a given roster, and its error is the one reported
        // when none does: the newest form's, which names unknown settings.
        let body =
            codec::decode_body::<wire::BodyWithSettings>(Kind::Roster, bytes, Limits::roster())
                .map_err(RosterError::from)
                .and_then(wire::BodyWithSettings::into_body)
                .or_else(|newest| {
                    codec::decode_body::<wire::Body>(Kind::Roster, bytes, Limits::roster())
                        .and_then(|b| {
                            if b.has_empty_list() {
                                // Reported as the trailing byte it is: an empty
                                // list is never written.
                                Err(DecodeError::TrailingBytes(1, Kind::Roster))
                            } else {
                                Ok(b)
                            }
                        })
                        .or_else(|e| {
                            codec::decode_body::<wire::BodyBefore>(
                                Kind::Roster,
                                bytes,
                                Limits::roster(),
                            )
                            .map(wire::Body::from)
                            .map_err(|_| e)
                        })
                        .map(|b| (b, wire::Settings::default()))
                        .map_err(|older| wire::pick_error(newest, older))
                })?;
        let (body, settings) = body;
        let mut body = body.into_roster_body()?;
        body.gossip_validation = settings.gossip_validation;
        body.peer_connections = settings.peer_connections;
        body.served_lists = settings.served_lists;
        body.check()?;
        Ok(body)
    }
}

impl RosterFile {
    /// An unsigned roster file holding `body`.
    pub fn new(body: &RosterBody) -> Result<Self, RosterError> {
        Ok(RosterFile {
            format: FORMAT.into(),
            body: B64.encode(body.encode()?),
            signatures: Vec::new(),
        })
    }

    /// [`RosterFile::new`] for an edit of `before`: a member key under
    /// which no signature would show who made it
    /// ([`PublicKey::check_usable`]) is refused only if the edit brought
    /// it. One that `before` listed already stays, so that a roster listing
    /// two such keys (an edit by hand, an earlier build's) can be mended
    /// one `set-key` or `remove` at a time; [`RosterFile::sign`] refuses
    /// it until none is left.
    pub fn new_edited(body: &RosterBody, before: &RosterBody) -> Result<Self, RosterError> {
        body.check()?;
        for m in &body.members {
            if let Err(e) = m.key.check_usable()
                && !before.members.iter().any(|b| b.key == m.key)
            {
                return Err(member_err(m, e.to_string()));
            }
        }
        Ok(RosterFile {
            format: FORMAT.into(),
            body: B64.encode(body.encode_checked()?),
            signatures: Vec::new(),
        })
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, RosterError> {
        let f: RosterFile = serde_json::from_slice(bytes)
            .map_err(|e| RosterError::Json(crate::model::file::json_problem(bytes, &e)))?;
        if f.format != FORMAT {
            // Quoted in the error, so cut: the file may come from a peer.
            return Err(RosterError::Format(f.format.chars().take(64).collect()));
        }
        Ok(f)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and keys cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Reads a roster file; an error that it is not one names the file,
    /// and says so when it is a signed maker table instead.
    pub fn read(path: &Path) -> Result<Self, RosterError> {
        let bytes = crate::model::file::read_small(path, crate::model::file::SMALL_FILE_BYTES)
            .map_err(|source| RosterError::Read {
                path: path.into(),
                source,
            })?;
        RosterFile::from_json(&bytes).map_err(|e| match e {
            RosterError::Format(ref f) => RosterError::NotRosterFile {
                path: path.into(),
                problem: e.to_string(),
                hint: if f.starts_with("tracenet-makers/") {
                    "; it is a signed maker reference table: `tracenet makers install` takes it"
                } else {
                    ""
                },
            },
            RosterError::Json(_) => RosterError::NotRosterFile {
                path: path.into(),
                problem: e.to_string(),
                hint: "; a roster file is the JSON `tracenet roster new` writes",
            },
            other => other,
        })
        .and_then(|file| {
            // Its body read now, so that a damaged one is named with its file
            // rather than later, by whichever command meets it.
            match file.decode_unverified() {
                Ok(_) => Ok(file),
                Err(e) => Err(RosterError::NotRosterFile {
                    path: path.into(),
                    problem: e.to_string(),
                    hint: match e {
                        RosterError::Base64(_) | RosterError::Decode(_) => {
                            "; its body is damaged: take the file again from where it came (the regional organisation, or the anchor that sent it to sign)"
                        }
                        _ => "",
                    },
                }),
            }
        })
    }

    /// Writes the file at `path`, replacing what is there: beside it, synced,
    /// then renamed, so that a crash leaves the old file or the whole new one
    /// (and a symbolic link at `path` is replaced, not followed).
    pub fn write(&self, path: &Path) -> Result<(), RosterError> {
        history::write_atomically(path, &self.to_json())
    }

    /// The exact signed bytes.
    pub fn body_bytes(&self) -> Result<Vec<u8>, RosterError> {
        B64.decode(self.body.trim())
            .map_err(|e| RosterError::Base64(crate::model::file::base64_problem(&e)))
    }

    /// The body, without checking any signature (for showing and editing).
    pub fn decode_unverified(&self) -> Result<RosterBody, RosterError> {
        RosterBody::decode(&self.body_bytes()?)
    }

    /// Adds (or replaces) `key`'s signature over the body.
    pub fn sign(&mut self, key: &SigningKey) -> Result<(), RosterError> {
        let bytes = self.body_bytes()?;
        RosterBody::decode(&bytes)?.check_keys()?;
        anchors::sign(Kind::Roster, &bytes, key, &mut self.signatures);
        Ok(())
    }

    /// The signatures that do not verify over the body under their own
    /// keys (damaged, or made over another body): their places, from 1,
    /// and keys.
    pub fn broken_signatures(&self) -> Result<Vec<(usize, PublicKey)>, RosterError> {
        let bytes = self.body_bytes()?;
        Ok(anchors::broken(Kind::Roster, &bytes, &self.signatures))
    }

    /// Checks the signatures against the configured anchors and the dates
    /// against `on` (the day the roster must be valid).
    pub fn verify(&self, trust: &TrustConfig, on: Date) -> Result<Roster, RosterError> {
        let roster = self.verify_as_signed(trust, on)?;
        roster.body.check_keys()?;
        Ok(roster)
    }

    /// [`RosterFile::verify`] but for its members' keys: for the history of
    /// rosters installed, which must stay readable as they were believed
    /// then (an earlier build took any 32 bytes as a key), so that the
    /// rosters after them, and what was received under them, can still be
    /// judged.
    pub(crate) fn verify_as_signed(
        &self,
        trust: &TrustConfig,
        on: Date,
    ) -> Result<Roster, RosterError> {
        let anchors = trust.anchor_keys()?;
        let bytes = self.body_bytes()?;
        // The signatures first, over the raw bytes: what no anchor signed is
        // refused as such, not read (and not reported as a newer build's).
        let signed_by = self.valid_anchor_signatures(&bytes, &anchors)?;
        let needed = usize::from(trust.threshold);
        if signed_by.len() < needed {
            return Err(RosterError::Threshold {
                found: signed_by.len(),
                needed,
            });
        }
        let body = RosterBody::decode(&bytes)?;
        if on < body.valid_from || on > body.valid_until {
            return Err(RosterError::Dates {
                version: body.version,
                from: body.valid_from,
                until: body.valid_until,
                on,
            });
        }
        Ok(Roster {
            body,
            signed_by,
            file: self.clone(),
        })
    }

    /// The distinct configured anchors whose signature verifies
    /// (`anchors::counted`).
    fn valid_anchor_signatures(
        &self,
        bytes: &[u8],
        anchors: &[PublicKey],
    ) -> Result<Vec<PublicKey>, RosterError> {
        anchors::counted(Kind::Roster, bytes, &self.signatures, anchors).map_err(|b| {
            RosterError::Signature {
                index: b.index,
                anchor: b.anchor.to_base64(),
                problem: b.problem.into(),
            }
        })
    }
}

impl Roster {
    pub fn version(&self) -> u64 {
        self.body.version
    }
    pub fn body(&self) -> &RosterBody {
        &self.body
    }
    pub fn members(&self) -> &[Member] {
        &self.body.members
    }
    /// The anchors whose signatures were counted.
    pub fn signed_by(&self) -> &[PublicKey] {
        &self.signed_by
    }
    pub fn file(&self) -> &RosterFile {
        &self.file
    }

    /// Unix seconds at the end of `valid_until` (UTC), after which the roster
    /// vouches for no one.
    pub fn valid_until_unix(&self) -> u64 {
        (self.body.valid_until.to_days().max(0) as u64) * 86_400 + 86_399
    }

    /// The entry holding `key`: absent means not (or no longer) in the network.
    pub fn member_by_key(&self, key: &PublicKey) -> Option<&Member> {
        self.body.members.iter().find(|m| &m.key == key)
    }

    /// Whether `key` is listed as speaking for `state`.
    pub fn lists(&self, key: &PublicKey, state: CountryCode) -> bool {
        self.member_by_key(key).is_some_and(|m| m.state == state)
    }

    /// The member node of `state`, if it is a member.
    pub fn member_by_state(&self, state: CountryCode) -> Option<&Member> {
        self.body
            .members
            .iter()
            .find(|m| m.state == state && m.role == Role::Member)
    }

    /// The members declaring `prefix`: where a trace for it should go.
    pub fn holders_of(&self, prefix: &MarkingPrefix) -> impl Iterator<Item = &Member> {
        self.body
            .members
            .iter()
            .filter(move |m| m.prefixes.contains(prefix))
    }

    pub fn bootstrap_peers(&self) -> impl Iterator<Item = &Member> {
        self.body
            .members
            .iter()
            .filter(|m| m.role == Role::Bootstrap)
    }
}

/// Accepts an offered roster against the one held (if any): verified on `today`
/// and strictly newer, so an old roster cannot bring back a revoked member.
pub fn accept(
    offered: &RosterFile,
    trust: &TrustConfig,
    held: Option<u64>,
    today: Date,
) -> Result<Roster, RosterError> {
    newer(offered.verify(trust, today)?, held)
}

/// [`accept`]'s version rule on a roster already verified.
fn newer(roster: Roster, held: Option<u64>) -> Result<Roster, RosterError> {
    match held {
        Some(h) if roster.version() <= h => Err(RosterError::NotNewer {
            offered: roster.version(),
            held: h,
        }),
        _ => Ok(roster),
    }
}

/// The roster a node holds in `data_dir`, verified again on load. Also makes
/// sure it is in the roster history (a data directory from before the history
/// gets it as the first entry).
pub fn load_held(
    data_dir: &Path,
    trust: &TrustConfig,
    today: Date,
) -> Result<Option<Roster>, RosterError> {
    let path = data_dir.join(HELD_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let roster = RosterFile::read(&path)?.verify(trust, today)?;
    RosterHistory::shared(data_dir, trust)?;
    Ok(Some(roster))
}

/// Accepts `offered`, adds it to the history and makes it the held roster in
/// `data_dir`. The history entry is written first, so a held roster is always
/// in the history; a crash between the two leaves an entry newer than the held
/// roster, which is never used to judge (nothing was received under it) and is
/// replaced when that version is installed again.
pub fn install(
    data_dir: &Path,
    offered: &RosterFile,
    trust: &TrustConfig,
    today: Date,
) -> Result<Roster, RosterError> {
    // The offered roster's signatures and dates first: a forged one costs
    // its own check, no read of the held roster or the history.
    let roster = offered.verify(trust, today)?;
    // Opening the history records the held roster in it if it is missing, so
    // the version being replaced stays available to judge what it vouched for.
    let history = RosterHistory::shared(data_dir, trust)?;
    // A held roster that no longer verifies (expired, anchors changed) does not
    // block a newer one; its version still does if readable. The history is
    // the second place the highest version is kept: a damaged roster.json
    // must not let an older version back in.
    let held_file = RosterFile::read(&data_dir.join(HELD_FILE))
        .ok()
        .and_then(|f| f.decode_unverified().ok())
        .map(|b| b.version);
    let highest = history.versions().ok().and_then(|v| v.into_iter().max());
    let held = held_file.max(highest);
    let roster = newer(roster, held)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    history.record(&roster, trust, now)?;
    if let Err(e) = history::write_atomically(&data_dir.join(HELD_FILE), &offered.to_json()) {
        history.forget(roster.version());
        return Err(e);
    }
    Ok(roster)
}

mod anchors;
mod history;
pub mod makers;
mod wire;
pub use history::{ENTRY_FORMAT, HISTORY_DIR, HistoryEntry, Installed, RosterHistory};

#[cfg(test)]
mod tests;

/// A roster as the acceptance rules see it: a member (not a bootstrap peer)
/// speaks for its State until the end of `valid_until`.
impl crate::protocol::Vouching for Roster {
    fn state_of(&self, key: &PublicKey) -> Option<CountryCode> {
        self.member_by_key(key)
            .filter(|m| m.role == Role::Member)
            .map(|m| m.state)
    }

    fn valid_until(&self) -> u64 {
        self.valid_until_unix()
    }
}
