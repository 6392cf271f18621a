//! The bodies of the signed messages: a trace query and its answer. Their types
//! can hold weapon data and coded reasons only: no free text, no names, no case
//! details, no place of seizure, so nothing else can leak through them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codec::{self, DecodeError, Kind, Limits};
use super::keys::{Digest, PublicKey, QueryId};
use crate::marking::{Marking, MatchQuality};
use crate::model::{
    Calibre, CountryCode, EventDate, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// At most this many candidate records in one `hit`; beyond it, `too_many`.
pub const MAX_CANDIDATES: usize = 16;
/// At most this many events in one record projection.
pub const MAX_EVENTS: usize = 64;

/// A message body that travels signed in a frame.
pub trait Message: Serialize + DeserializeOwned + Sized {
    /// The envelope kind, which also selects the signature's domain tag.
    const KIND: Kind;
    /// The key that must have signed it: the body names its own signer.
    fn signer(&self) -> PublicKey;
    /// Bounds the codec cannot express (lengths of lists).
    fn check(&self) -> Result<(), BoundsError>;
    /// Decodes an encoded message of this kind (header, then a body that
    /// uses every byte) under `limits`. A kind whose body grew a trailing
    /// field also reads the frames of builds before it.
    fn decode(message: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        codec::decode_body(Self::KIND, message, limits)
    }
}

/// The version of the maker reference table a marking was normalised with,
/// carried as the last field of a query and of an answer (PROTOCOL.md,
/// sections 5 and 6): 0 is the table built into the sender's release, N a
/// table signed by the trust anchors. On the wire a `u32` when stated and
/// nothing at all when not (`None`: a frame of a build before the field),
/// so a frame without it keeps its bytes and its signature; in JSON a
/// number, or null.
///
/// Only for the last field of a struct: its absence is the end of the body.
mod table_version {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            _ if s.is_human_readable() => v.serialize(s),
            Some(n) => s.serialize_u32(*n),
            // bincode writes nothing for a unit.
            None => s.serialize_unit(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        if d.is_human_readable() {
            Option::<u32>::deserialize(d)
        } else {
            u32::deserialize(d).map(Some)
        }
    }
}

/// Decodes a body of kind `T`, or, when that fails, the shape `Before` of
/// the builds before `T`'s trailing field, whose frames still verify. The
/// first error is the one reported: a frame that is neither is judged as
/// the current shape.
fn decode_either<T, Before>(kind: Kind, message: &[u8], limits: Limits) -> Result<T, DecodeError>
where
    T: DeserializeOwned,
    Before: DeserializeOwned + Into<T>,
{
    codec::decode_body::<T>(kind, message, limits).or_else(|e| {
        codec::decode_body::<Before>(kind, message, limits)
            .map(Into::into)
            .map_err(|_| e)
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoundsError {
    #[error("{what}: {found} given, at most {max} allowed")]
    TooMany {
        what: &'static str,
        found: usize,
        max: usize,
    },
    #[error("a hit must carry at least one candidate record")]
    EmptyHit,
    #[error("a trimmed hit must say how many events it left out (at least one)")]
    NothingTrimmed,
    #[error("{what}: none given, at least one needed")]
    NoneGiven { what: &'static str },
    #[error(
        "a directed-only query must state its maker table version (makers_version), or it would read as stating table 1"
    )]
    DirectedWithoutTable,
    #[error(
        "a query states the States served (served) only with its maker table version and never directed only"
    )]
    ServedOutOfPlace,
}

fn bound(what: &'static str, found: usize, max: usize) -> Result<(), BoundsError> {
    if found > max {
        return Err(BoundsError::TooMany { what, found, max });
    }
    Ok(())
}

/// A State taking part in an exchange: its code and its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub state: CountryCode,
    #[serde(rename = "public_key", alias = "key")]
    pub key: PublicKey,
}

/// How fast the requester needs the answer (ISACS 05.31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Routine,
    Urgent,
}

/// A word of a closed vocabulary as JSON writes it (`seized_in_crime`), or
/// why `s` is none, in a sentence naming the words there are (serde's own
/// says "unknown variant"). `all` lists the vocabulary; each type's `ALL`
/// is checked complete by a match in the tests.
pub fn one_of<T: DeserializeOwned + Serialize + Copy>(s: &str, all: &[T]) -> Result<T, String> {
    let s = s.trim();
    // As the other vocabularies read theirs: `Seized in crime`,
    // `seized-in-crime`.
    let folded: String = s
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    if let Ok(v) = serde_json::from_value(serde_json::Value::String(folded)) {
        return Ok(v);
    }
    let words: Vec<String> = all
        .iter()
        .filter_map(|w| serde_json::to_value(w).ok()?.as_str().map(str::to_string))
        .collect();
    Err(if s.is_empty() {
        format!("required: one of {}", words.join(", "))
    } else {
        format!("{s:?} is not one of {}", words.join(", "))
    })
}

/// Why the requester considers the weapon illicit (ITI para 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalGround {
    /// Seized in connection with a crime.
    SeizedInCrime,
    /// Held without a licence or authorisation.
    IllicitPossession,
    /// Crossed a border without authorisation.
    IllicitTransfer,
    /// Found abandoned or in an arms cache.
    FoundAbandoned,
    /// Recovered in a conflict or post-conflict setting.
    ConflictRecovery,
    /// Marks altered or obliterated, itself illicit (ITI para 8).
    AlteredMarkings,
    Other,
}

impl LegalGround {
    /// Every ground, in the order people are offered them.
    pub const ALL: &[LegalGround] = &[
        LegalGround::SeizedInCrime,
        LegalGround::IllicitPossession,
        LegalGround::IllicitTransfer,
        LegalGround::FoundAbandoned,
        LegalGround::ConflictRecovery,
        LegalGround::AlteredMarkings,
        LegalGround::Other,
    ];
}

/// What the requester will use the information for (ITI para 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntendedUse {
    CriminalInvestigation,
    JudicialProceedings,
    DiversionAnalysis,
    SanctionsMonitoring,
    Other,
}

impl IntendedUse {
    /// Every use, in the order people are offered them.
    pub const ALL: &[IntendedUse] = &[
        IntendedUse::CriminalInvestigation,
        IntendedUse::JudicialProceedings,
        IntendedUse::DiversionAnalysis,
        IntendedUse::SanctionsMonitoring,
        IntendedUse::Other,
    ];
}

/// Why a requested State restricts its answer (ITI para 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithheldReason {
    OngoingInvestigation,
    NationalLaw,
    Other,
}

impl WithheldReason {
    /// Every reason, in the order people are offered them.
    pub const ALL: &[WithheldReason] = &[
        WithheldReason::OngoingInvestigation,
        WithheldReason::NationalLaw,
        WithheldReason::Other,
    ];

    /// The code as written in JSON, the audit log and gaps.
    pub fn code(self) -> &'static str {
        match self {
            WithheldReason::OngoingInvestigation => "ongoing_investigation",
            WithheldReason::NationalLaw => "national_law",
            WithheldReason::Other => "other",
        }
    }

    /// In words, for people: `national law`.
    pub fn words(self) -> &'static str {
        match self {
            WithheldReason::OngoingInvestigation => "ongoing investigation",
            WithheldReason::NationalLaw => "national law",
            WithheldReason::Other => "other reason",
        }
    }
}

/// Why a requested State did not process a query it received and verified
/// (ITI para 20: a State that delays, restricts or refuses says why). These
/// are about the query, never about a record: a record whose details are
/// restricted is `Outcome::Withheld`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedReason {
    /// The requesting State's rate limit at the responder is reached;
    /// `retry_after_secs` says when a retry is admitted.
    RateLimited,
    /// The query is dated ahead of the responder's clock by more than the
    /// allowed skew: the requester's clock is fast.
    ClockSkew,
    /// The query's time-to-live had ended when it arrived.
    Expired,
    /// The query's time-to-live is longer than the responder accepts.
    TtlTooLong,
    /// The requesting State has as many live queries at the responder as
    /// its quota allows.
    QuotaFull,
    /// The responder is answering as many queries as it can at once.
    Overloaded,
    /// The answer does not fit the message size limit, even trimmed.
    TooLarge,
}

impl RefusedReason {
    /// The code as written in answers' JSON, the audit log and gaps.
    pub fn code(self) -> &'static str {
        match self {
            RefusedReason::RateLimited => "rate_limited",
            RefusedReason::ClockSkew => "clock_skew",
            RefusedReason::Expired => "expired",
            RefusedReason::TtlTooLong => "ttl_too_long",
            RefusedReason::QuotaFull => "quota_full",
            RefusedReason::Overloaded => "overloaded",
            RefusedReason::TooLarge => "too_large",
        }
    }
}

/// A trace request (ITI section V): the weapon's identification and the coded
/// grounds for asking, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceQuery {
    pub id: QueryId,
    pub requester: Party,
    /// Unix seconds (UTC) at which the requester issued it.
    #[serde(with = "crate::model::instant")]
    pub issued_at: u64,
    /// How long, in seconds from `issued_at`, a node may act on it.
    pub ttl_secs: u32,
    pub priority: Priority,
    /// The marks as read; the serial may carry `?`/`*` for obliterated characters.
    pub marking: Marking,
    pub category: WeaponCategory,
    pub calibre: Option<Calibre>,
    pub legal_ground: LegalGround,
    pub intended_use: IntendedUse,
    /// The maker reference table the requester resolved the maker with
    /// (0 its release's built-in table, N signed table N); `None` in a
    /// query of a build before the field. Appended: see [`table_version`].
    #[serde(default, with = "table_version")]
    pub makers_version: Option<u32>,
    /// Sent only directly to chosen holders, never by gossip: a blind
    /// trace's query (BLIND.md). A node refuses it read from gossip
    /// (`directed_only`, a frame no honest member publishes), so a holder
    /// it was sent to cannot make the federation read it. On the wire, a
    /// trailing byte 1 when set and nothing otherwise, so that every other
    /// query encodes as before (PROTOCOL.md, section 5). Set only with
    /// `makers_version` stated (signing refuses it otherwise): a query
    /// stating neither would read as stating table 1.
    #[serde(default, skip_serializing_if = "is_false", with = "directed")]
    pub directed_only: bool,
    /// The member States the requester handed this query to itself as it
    /// sent it (field 14): those its publish reached (linked to it and
    /// subscribed to one of the query's topics) and those it asked
    /// directly. Stated only where the roster bounds the links every member
    /// keeps (NETWORK.md, "Gossip mesh"): a holder then passes the query on
    /// only if one of its peers on the topic is a State not listed, since
    /// every listed one has its copy, or is asked directly once silent.
    /// Signed with the rest, so a relay cannot change it. On the wire the
    /// byte 2 after the table version, then the list; nothing otherwise, so
    /// every other query encodes as before (PROTOCOL.md, section 5). Never
    /// with `directed_only`, and only with `makers_version` stated.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "served")]
    pub served: Option<ServedStates>,
}

/// Field 14 of a query ([`TraceQuery::served`]): member States, in
/// ascending order, each once, 1 to [`ServedStates::MAX`] of them. The
/// order makes one encoding of each set; decoding refuses any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServedStates(Vec<CountryCode>);

impl ServedStates {
    /// A roster lists at most 512 members.
    pub const MAX: usize = 512;

    /// The set of `states`, sorted and each once; `None` if empty or more
    /// than [`ServedStates::MAX`].
    pub fn new(states: impl IntoIterator<Item = CountryCode>) -> Option<Self> {
        let set: std::collections::BTreeSet<CountryCode> = states.into_iter().collect();
        (!set.is_empty() && set.len() <= Self::MAX).then(|| ServedStates(set.into_iter().collect()))
    }

    /// Whether `state` was handed the query by its requester.
    pub fn contains(&self, state: &CountryCode) -> bool {
        self.0.binary_search(state).is_ok()
    }

    /// The States, in ascending order.
    pub fn states(&self) -> &[CountryCode] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ServedStates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = Vec::<CountryCode>::deserialize(d)?;
        if v.is_empty() || v.len() > Self::MAX {
            return Err(D::Error::custom(format!(
                "served: {} States, where 1 to {} are written",
                v.len(),
                Self::MAX
            )));
        }
        if let Some(w) = v.windows(2).find(|w| w[0] >= w[1]) {
            return Err(D::Error::custom(format!(
                "served: {} after {}, where each State is written once, in ascending order",
                w[1], w[0]
            )));
        }
        Ok(ServedStates(v))
    }
}

/// `TraceQuery::served` on the wire: in JSON a list or absent; in the
/// binary form the byte 2 and the list when stated, nothing otherwise.
mod served {
    use super::ServedStates;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<ServedStates>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            _ if s.is_human_readable() => v.serialize(s),
            Some(list) => (super::SERVED_TAG, list).serialize(s),
            None => s.serialize_unit(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ServedStates>, D::Error> {
        if d.is_human_readable() {
            Option::<ServedStates>::deserialize(d)
        } else {
            // Binary queries are read through the shapes of
            // `TraceQuery::decode`, never through this.
            Err(serde::de::Error::custom(
                "a binary query is read by its shapes",
            ))
        }
    }
}

/// The byte that opens field 14 where field 13 would be (which is 1).
const SERVED_TAG: u8 = 2;

/// A query stating field 14: the shape before `directed_only`, the byte
/// [`SERVED_TAG`] (read by `TraceQuery::decode` before this shape is
/// tried), the States.
#[derive(Deserialize)]
pub(super) struct QueryWithServed {
    before: QueryBeforeDirected,
    #[serde(rename = "tag")]
    _tag: u8,
    served: ServedStates,
}

/// A query stating field 13: the shape before it and the byte 1.
#[derive(Deserialize)]
struct QueryDirected {
    before: QueryBeforeDirected,
    #[serde(with = "directed")]
    directed_only: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `TraceQuery::directed_only` on the wire: in JSON a boolean; in the binary
/// form the byte 1 when set (never written otherwise, and only 1 read).
mod directed {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        match v {
            _ if s.is_human_readable() => v.serialize(s),
            true => s.serialize_u8(1),
            false => s.serialize_unit(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        if d.is_human_readable() {
            return bool::deserialize(d);
        }
        match u8::deserialize(d)? {
            1 => Ok(true),
            n => Err(D::Error::custom(format!(
                "directed_only: {n}, where only 1 is written"
            ))),
        }
    }
}

/// A [`TraceQuery`] as builds before `directed_only` encoded it (and as
/// every query not directed only is encoded now): the shape before the
/// table version, then the version. The binary form writes a struct's
/// fields one after another, a nested struct's included, so the nesting
/// reads the same bytes as the flat list.
#[derive(Deserialize)]
pub(super) struct QueryBeforeDirected {
    before_table: QueryBeforeTable,
    #[serde(with = "table_version")]
    makers_version: Option<u32>,
}

impl From<QueryBeforeDirected> for TraceQuery {
    fn from(q: QueryBeforeDirected) -> Self {
        TraceQuery {
            makers_version: q.makers_version,
            ..q.before_table.into()
        }
    }
}

impl From<QueryDirected> for TraceQuery {
    fn from(q: QueryDirected) -> Self {
        TraceQuery {
            directed_only: q.directed_only,
            ..q.before.into()
        }
    }
}

/// A [`TraceQuery`] as builds before `makers_version` encoded it.
#[derive(Deserialize)]
struct QueryBeforeTable {
    id: QueryId,
    requester: Party,
    #[serde(with = "crate::model::instant")]
    issued_at: u64,
    ttl_secs: u32,
    priority: Priority,
    marking: Marking,
    category: WeaponCategory,
    calibre: Option<Calibre>,
    legal_ground: LegalGround,
    intended_use: IntendedUse,
}

impl From<QueryBeforeTable> for TraceQuery {
    fn from(q: QueryBeforeTable) -> Self {
        TraceQuery {
            id: q.id,
            requester: q.requester,
            issued_at: q.issued_at,
            ttl_secs: q.ttl_secs,
            priority: q.priority,
            marking: q.marking,
            category: q.category,
            calibre: q.calibre,
            legal_ground: q.legal_ground,
            intended_use: q.intended_use,
            makers_version: None,
            directed_only: false,
            served: None,
        }
    }
}

impl Message for TraceQuery {
    const KIND: Kind = Kind::Query;
    fn signer(&self) -> PublicKey {
        self.requester.key
    }
    fn check(&self) -> Result<(), BoundsError> {
        if self.directed_only && self.makers_version.is_none() {
            return Err(BoundsError::DirectedWithoutTable);
        }
        if self.served.is_some() && (self.directed_only || self.makers_version.is_none()) {
            return Err(BoundsError::ServedOutOfPlace);
        }
        Ok(())
    }
    fn decode(message: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        // The shape of nearly every query first (one pass). One that reads
        // it with bytes left over states field 13 or 14: the first byte
        // left says which (1 or 2), and that shape is read next, its error
        // the one reported. A frame of a build before the table version
        // last, reported as the shape with field 13, as before field 14.
        let left = match codec::decode_body::<QueryBeforeDirected>(Self::KIND, message, limits) {
            Ok(q) => return Ok(q.into()),
            Err(DecodeError::TrailingBytes(n, _)) => n,
            Err(_) => 0,
        };
        let tag = message.len().checked_sub(left).and_then(|i| message.get(i));
        if left > 0 && tag == Some(&SERVED_TAG) {
            return codec::decode_body::<QueryWithServed>(Self::KIND, message, limits).map(|q| {
                TraceQuery {
                    served: Some(q.served),
                    ..q.before.into()
                }
            });
        }
        codec::decode_body::<QueryDirected>(Self::KIND, message, limits)
            .map(Into::into)
            .or_else(|e| {
                codec::decode_body::<QueryBeforeTable>(Self::KIND, message, limits)
                    .map(Into::into)
                    .map_err(|_| e)
            })
    }
}

/// One event of a record, reduced to what may cross a border.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProjection {
    pub kind: EventKind,
    /// To the precision the record holds, or less if the disclosure policy
    /// reduced it: on the wire, 4, 7 or 10 characters (PROTOCOL.md, `EventDate`).
    pub date: EventDate,
    /// The other country of an export or import.
    pub counterpart: Option<CountryCode>,
    pub holder: Option<HolderCategory>,
}

/// A registry record reduced to weapon data. It has no field for a reference,
/// note or any other free text, so they cannot be sent by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProjection {
    pub marking: Marking,
    pub category: WeaponCategory,
    pub model: Option<ModelName>,
    pub calibre: Option<Calibre>,
    pub events: Vec<EventProjection>,
}

/// How a candidate's serial matched, as carried on the wire. Mirrors
/// `marking::MatchQuality` so the wire form is fixed here, not by the matcher.
/// Variants are encoded by position and only appended; the order of merit
/// (`Ord`) is `rank`'s, not the position's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Exact,
    Folded,
    Wildcard,
    /// Appended: the same serial once Cyrillic letters are transliterated.
    Transliterated,
    /// Appended: the same serial once letters between digits are left out
    /// (the NCIC rule).
    EmbeddedLetters,
}

impl Quality {
    /// In words, for people: `exact match`, `folded match`, ...
    pub fn words(self) -> &'static str {
        match self {
            Quality::Exact => "exact match",
            Quality::Folded => "folded match",
            Quality::Transliterated => "transliterated match",
            Quality::EmbeddedLetters => "match without embedded letters",
            Quality::Wildcard => "wildcard match",
        }
    }

    /// The order of merit, best first: exact, folded, transliterated,
    /// embedded letters, wildcard.
    pub fn rank(self) -> u8 {
        match self {
            Quality::Exact => 0,
            Quality::Folded => 1,
            Quality::Transliterated => 2,
            Quality::EmbeddedLetters => 3,
            Quality::Wildcard => 4,
        }
    }
}

impl PartialOrd for Quality {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quality {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl From<MatchQuality> for Quality {
    fn from(q: MatchQuality) -> Self {
        match q {
            MatchQuality::Exact => Quality::Exact,
            MatchQuality::Folded => Quality::Folded,
            MatchQuality::Transliterated => Quality::Transliterated,
            MatchQuality::EmbeddedLetters => Quality::EmbeddedLetters,
            MatchQuality::Wildcard => Quality::Wildcard,
        }
    }
}

/// One record that may be the traced weapon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub quality: Quality,
    pub record: RecordProjection,
}

/// What the requested State says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// One or more matching records, best first.
    Hit {
        candidates: Vec<Candidate>,
    },
    NoHit,
    /// A record matches, but the State restricts the details (ITI para 20).
    Withheld {
        reason: WithheldReason,
    },
    /// Received; a person will decide, and the answer follows.
    Acknowledged,
    /// More candidates than `MAX_CANDIDATES`: only their number.
    TooMany {
        count: u32,
    },
    /// The query was received and verified but not processed, for a coded
    /// reason. Not final: a later retry may be answered.
    Refused {
        reason: RefusedReason,
        /// Seconds after `answered_at` from which a retry is admitted; 0
        /// when the reason gives none.
        retry_after_secs: u32,
    },
    /// A hit cut to fit the message size limit: each candidate keeps its
    /// first event and its most recent ones; `events_left_out` counts the
    /// events removed across all candidates (at least one).
    Trimmed {
        candidates: Vec<Candidate>,
        events_left_out: u32,
    },
}

impl Outcome {
    /// The candidate records of a hit, trimmed or not; empty otherwise.
    pub fn candidates(&self) -> &[Candidate] {
        match self {
            Outcome::Hit { candidates } | Outcome::Trimmed { candidates, .. } => candidates,
            _ => &[],
        }
    }

    /// Whether this is the responder's last word on the query: not an
    /// acknowledgement (a decision follows) nor a refusal (a retry may be
    /// answered).
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::Acknowledged | Outcome::Refused { .. })
    }
}

/// A signed answer to one query, bound to it by the query's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceAnswer {
    /// SHA-256 of the exact signed query frame answered.
    pub query: Digest,
    pub responder: Party,
    /// Unix seconds (UTC) at which it was answered.
    #[serde(with = "crate::model::instant")]
    pub answered_at: u64,
    pub outcome: Outcome,
    /// The maker reference table the responder resolved the query's maker
    /// with, which may differ from the query's: a responder always reads
    /// the raw maker name with its own table. `None` in an answer of a
    /// build before the field. Appended: see [`table_version`].
    #[serde(default, with = "table_version")]
    pub makers_version: Option<u32>,
}

/// A [`TraceAnswer`] as builds before `makers_version` encoded it.
#[derive(Deserialize)]
struct AnswerBeforeTable {
    query: Digest,
    responder: Party,
    #[serde(with = "crate::model::instant")]
    answered_at: u64,
    outcome: Outcome,
}

impl From<AnswerBeforeTable> for TraceAnswer {
    fn from(a: AnswerBeforeTable) -> Self {
        TraceAnswer {
            query: a.query,
            responder: a.responder,
            answered_at: a.answered_at,
            outcome: a.outcome,
            makers_version: None,
        }
    }
}

impl Message for TraceAnswer {
    const KIND: Kind = Kind::Answer;
    fn signer(&self) -> PublicKey {
        self.responder.key
    }
    fn decode(message: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        decode_either::<Self, AnswerBeforeTable>(Self::KIND, message, limits)
    }
    fn check(&self) -> Result<(), BoundsError> {
        let candidates = match &self.outcome {
            Outcome::Hit { candidates } => candidates,
            Outcome::Trimmed {
                candidates,
                events_left_out,
            } => {
                if *events_left_out == 0 {
                    return Err(BoundsError::NothingTrimmed);
                }
                candidates
            }
            _ => return Ok(()),
        };
        if candidates.is_empty() {
            return Err(BoundsError::EmptyHit);
        }
        bound("candidates in a hit", candidates.len(), MAX_CANDIDATES)?;
        for c in candidates {
            bound("events in a record", c.record.events.len(), MAX_EVENTS)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    /// Each `ALL` lists every word once, in its place: a new variant does
    /// not compile here until it is listed.
    #[test]
    fn each_vocabulary_lists_every_word_once() {
        fn check<T: Copy + std::fmt::Debug>(all: &[T], place: fn(T) -> usize) {
            for (i, w) in all.iter().enumerate() {
                assert_eq!(place(*w), i, "{w:?}");
            }
        }
        check(LegalGround::ALL, |g| match g {
            LegalGround::SeizedInCrime => 0,
            LegalGround::IllicitPossession => 1,
            LegalGround::IllicitTransfer => 2,
            LegalGround::FoundAbandoned => 3,
            LegalGround::ConflictRecovery => 4,
            LegalGround::AlteredMarkings => 5,
            LegalGround::Other => 6,
        });
        assert_eq!(LegalGround::ALL.len(), 7);
        check(IntendedUse::ALL, |u| match u {
            IntendedUse::CriminalInvestigation => 0,
            IntendedUse::JudicialProceedings => 1,
            IntendedUse::DiversionAnalysis => 2,
            IntendedUse::SanctionsMonitoring => 3,
            IntendedUse::Other => 4,
        });
        assert_eq!(IntendedUse::ALL.len(), 5);
        check(WithheldReason::ALL, |r| match r {
            WithheldReason::OngoingInvestigation => 0,
            WithheldReason::NationalLaw => 1,
            WithheldReason::Other => 2,
        });
        assert_eq!(WithheldReason::ALL.len(), 3);
    }

    /// A word outside the vocabulary, or none, is said in a sentence that
    /// lists the words, not as serde's "unknown variant" (a helper's trial).
    #[test]
    fn a_word_outside_the_vocabulary_is_answered_with_the_words_there_are() {
        for written in [" seized_in_crime ", "Seized in crime", "SEIZED-IN-CRIME"] {
            assert_eq!(
                one_of(written, LegalGround::ALL),
                Ok(LegalGround::SeizedInCrime),
                "{written}"
            );
        }
        assert_eq!(
            one_of::<WithheldReason>("bogus", WithheldReason::ALL),
            Err("\"bogus\" is not one of ongoing_investigation, national_law, other".into())
        );
        assert_eq!(
            one_of::<WithheldReason>("", WithheldReason::ALL),
            Err("required: one of ongoing_investigation, national_law, other".into())
        );
    }
}
