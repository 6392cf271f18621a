//! The only acceptance rules for a received query or answer, and the typed
//! reply of the request-response protocol.
//!
//! Every path that takes a query or an answer from a peer (gossip, a directed
//! request, a retry, an evidence bundle) goes through [`query`] or [`answer`];
//! the node adds only what needs its state (rate limits, the replay quotas,
//! the answer cache). The roster is passed in as [`Vouching`], so these rules
//! are tested with plain `#[test]`s, without a swarm or a store.
//!
//! Order matters and is part of the contract: nothing a sender who is not the
//! query's requester sends may change how the requester's query is treated, so
//! the requester binding is checked before anything is remembered.

use serde::{Deserialize, Serialize};

use super::codec::{self, Kind, Limits};
use super::fresh::{Freshness, FreshnessError};
use super::keys::{Digest, PublicKey};
use super::messages::{Outcome, RefusedReason, TraceAnswer, TraceQuery};
use super::signed::{Signed, VerifiedFrames, VerifyError};
use crate::model::CountryCode;

/// What a roster says about a key, as the acceptance rules need it.
pub trait Vouching {
    /// The State `key` speaks for, if the roster lists it as a member (a
    /// bootstrap peer speaks for no State).
    fn state_of(&self, key: &PublicKey) -> Option<CountryCode>;
    /// Unix seconds after which this roster vouches for no one.
    fn valid_until(&self) -> u64;
}

/// Why a node refused a query, an answer or a request. Each has a stable wire
/// code (PROTOCOL.md, "Replies"); never free text that code must parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// Not a tracenet frame of the expected kind, or over the size limit.
    Malformed,
    /// The signature does not verify for the key the body names.
    BadSignature,
    /// The signing key is not a member of the roster for the State it names.
    NotInRoster,
    /// The roster this node holds has passed its `valid_until`.
    RosterExpired,
    /// A directed query sent by someone other than its requester.
    NotRequester,
    /// Dated ahead of this node's clock by more than the allowed skew.
    ClockSkew,
    /// Its time-to-live has ended.
    Expired,
    /// A time-to-live longer than this node accepts.
    TtlTooLong,
    /// This query was already received (and not from its requester, or not
    /// answered yet).
    Replayed,
    /// The requesting State has as many live queries here as its quota allows.
    QuotaFull,
    /// The requesting State's rate limit is reached; retry later.
    RateLimited,
    /// This node is answering as many queries as it can at once.
    Overloaded,
    /// An answer to no trace of this node.
    UnknownTrace,
    /// An answer signed by a key other than the sending member's.
    WrongSigner,
    /// An answer dated before its query was issued.
    AnswerBeforeQuery,
    /// A frame of a kind that is not accepted as a request.
    UnexpectedKind,
    /// The audit log cannot be written: no answer leaves unrecorded.
    AuditUnavailable,
    /// This node failed (its store, a task); the sender did nothing wrong.
    Internal,
    /// The sending peer sent too many bad frames and is being ignored for a while.
    CoolingDown,
    /// The sender is not a member of the roster.
    NotAMember,
    /// This node's policy does not answer this query (it says nothing more).
    NotAnswered,
    /// The responder already gave this trace a final answer (or, for an
    /// acknowledgement, an acknowledgement): one of each per responder.
    AlreadyAnswered,
    /// A query its requester sends only directly (`directed_only`, a blind
    /// trace's), read from gossip: published by someone it was sent to.
    DirectedOnly,
    /// A query read from gossip on a topic its marking does not route to
    /// (under this node's maker table): not answered, not passed on. Not
    /// held against the relay, since tables may differ while a new one
    /// spreads (the requester then asks directly).
    OffRoute,
}

impl Refusal {
    /// The code as it appears on the wire, in the audit log and in metrics.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::BadSignature => "bad_signature",
            Refusal::NotInRoster => "not_in_roster",
            Refusal::RosterExpired => "roster_expired",
            Refusal::NotRequester => "not_requester",
            Refusal::ClockSkew => "clock_skew",
            Refusal::Expired => "expired",
            Refusal::TtlTooLong => "ttl_too_long",
            Refusal::Replayed => "replayed",
            Refusal::QuotaFull => "quota_full",
            Refusal::RateLimited => "rate_limited",
            Refusal::Overloaded => "overloaded",
            Refusal::UnknownTrace => "unknown_trace",
            Refusal::WrongSigner => "wrong_signer",
            Refusal::AnswerBeforeQuery => "answer_before_query",
            Refusal::UnexpectedKind => "unexpected_kind",
            Refusal::AuditUnavailable => "audit_unavailable",
            Refusal::Internal => "internal",
            Refusal::CoolingDown => "cooling_down",
            Refusal::NotAMember => "not_a_member",
            Refusal::NotAnswered => "not_answered",
            Refusal::AlreadyAnswered => "already_answered",
            Refusal::DirectedOnly => "directed_only",
            Refusal::OffRoute => "off_route",
        }
    }

    /// Whether an honest member could not have sent it: these count against
    /// the sender's standing, the others (clocks, load, quotas) do not.
    pub fn is_hostile(self) -> bool {
        matches!(
            self,
            Refusal::Malformed
                | Refusal::BadSignature
                | Refusal::NotInRoster
                | Refusal::NotRequester
                | Refusal::WrongSigner
                | Refusal::UnexpectedKind
                | Refusal::NotAMember
                | Refusal::UnknownTrace
                | Refusal::AlreadyAnswered
                | Refusal::DirectedOnly
        )
    }
}

impl Refusal {
    /// The reason a responder gives in a signed `refused` answer, for the
    /// refusals that are no fault of a requester whose query verified (its
    /// clock, the responder's limits and load); `None` for every other: a
    /// frame that did not verify, or one its sender could not have sent
    /// honestly, is never answered with a signature.
    pub fn refused_reason(self) -> Option<RefusedReason> {
        Some(match self {
            Refusal::RateLimited => RefusedReason::RateLimited,
            Refusal::ClockSkew => RefusedReason::ClockSkew,
            Refusal::Expired => RefusedReason::Expired,
            Refusal::TtlTooLong => RefusedReason::TtlTooLong,
            Refusal::QuotaFull => RefusedReason::QuotaFull,
            Refusal::Overloaded => RefusedReason::Overloaded,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl From<VerifyError> for Refusal {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::BadSignature { .. } => Refusal::BadSignature,
            _ => Refusal::Malformed,
        }
    }
}

impl From<FreshnessError> for Refusal {
    fn from(e: FreshnessError) -> Self {
        match e {
            FreshnessError::Future { .. } => Refusal::ClockSkew,
            FreshnessError::Expired { .. } => Refusal::Expired,
            FreshnessError::TtlTooLong { .. } => Refusal::TtlTooLong,
        }
    }
}

/// How a query arrived: by gossip from anyone on its topic, or as a directed
/// request whose sender the transport authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Gossip,
    /// `sender` is the roster key of the member whose connection carried it.
    Direct {
        sender: PublicKey,
    },
}

/// The limits and clock rules a node applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    pub fresh: Freshness,
    pub limits: Limits,
}

fn roster_in_force(roster: &impl Vouching, now: u64) -> Result<(), Refusal> {
    if now > roster.valid_until() {
        return Err(Refusal::RosterExpired);
    }
    Ok(())
}

/// Why [`query`] refused a frame. A query that passed every rule but its
/// time (rule 6: `clock_skew`, `expired`, `ttl_too_long`) comes back with
/// it, verified, so that the responder may tell its requester why in a
/// signed answer; a frame that failed any earlier rule never does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{refusal}")]
pub struct QueryRefused {
    pub refusal: Refusal,
    /// The query, verified (signature, roster, requester binding), when only
    /// its time failed.
    pub verified: Option<Box<Signed<TraceQuery>>>,
}

impl From<Refusal> for QueryRefused {
    fn from(refusal: Refusal) -> Self {
        QueryRefused {
            refusal,
            verified: None,
        }
    }
}

impl From<QueryRefused> for Refusal {
    fn from(r: QueryRefused) -> Self {
        r.refusal
    }
}

impl From<VerifyError> for QueryRefused {
    fn from(e: VerifyError) -> Self {
        Refusal::from(e).into()
    }
}

/// Compares the code alone, as callers that only ask why do.
impl PartialEq<Refusal> for QueryRefused {
    fn eq(&self, other: &Refusal) -> bool {
        self.refusal == *other
    }
}

/// Accepts a received query: in force roster, signed by the key it names, that
/// key a member for the State it names, sent by its requester when directed,
/// not read from gossip when its requester sends it only directly, and fresh
/// at `now`. Returns the query and when it expires (unix seconds).
/// Replay and rate limits are the caller's next steps, in that order: rate
/// first, so that a flood is refused before anything is remembered.
pub fn query(
    bytes: &[u8],
    via: Via,
    now: u64,
    rules: &Rules,
    roster: &impl Vouching,
) -> Result<(Signed<TraceQuery>, u64), QueryRefused> {
    query_checking(bytes, via, now, rules, roster, None)
}

/// As [`query`], without checking the signature of bytes `frames` saw
/// verify before (a directed query sent again); every other check is made.
pub fn query_known(
    bytes: &[u8],
    via: Via,
    now: u64,
    rules: &Rules,
    roster: &impl Vouching,
    frames: &VerifiedFrames,
) -> Result<(Signed<TraceQuery>, u64), QueryRefused> {
    query_checking(bytes, via, now, rules, roster, Some(frames))
}

/// What a responder's rate limits need to know of a query before its
/// signature is checked, read from its unverified body: who it claims to
/// come from, its id and whether its marking holds wildcards. Nothing here
/// is to be believed: it serves only to refuse a query sooner, when the
/// full check could end no other way but for the signature
/// (`node::responder`'s directed queries past a State's rate limit and its
/// signed refusals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedQuery {
    pub requester: super::messages::Party,
    pub id: super::keys::QueryId,
    pub wild: bool,
}

/// Reads `bytes` as a query within `rules`' limits, without checking its
/// signature, and makes every check of [`query`] that does not need the
/// signature: the roster in force at `now`, the claimed requester's key a
/// member for the State it names, the query fresh. `None` if any fails (the
/// full check then says why).
pub fn peek_query(
    bytes: &[u8],
    now: u64,
    rules: &Rules,
    roster: &impl Vouching,
) -> Option<UnverifiedQuery> {
    roster_in_force(roster, now).ok()?;
    let q = super::signed::decode_checking::<TraceQuery>(bytes, rules.limits, false).ok()?;
    let (_, b) = q.into_parts();
    if roster.state_of(&b.requester.key) != Some(b.requester.state) {
        return None;
    }
    rules.fresh.check(b.issued_at, b.ttl_secs, now).ok()?;
    Some(UnverifiedQuery {
        requester: b.requester,
        id: b.id,
        wild: b.marking.has_wildcards(),
    })
}

fn query_checking(
    bytes: &[u8],
    via: Via,
    now: u64,
    rules: &Rules,
    roster: &impl Vouching,
    frames: Option<&VerifiedFrames>,
) -> Result<(Signed<TraceQuery>, u64), QueryRefused> {
    roster_in_force(roster, now)?;
    // The roster before the signature: a query signed by a key no roster
    // lists (a flood of throwaway keys, which a relay is not blamed for)
    // costs a decode, not an Ed25519 check.
    let q = super::signed::decode_checking::<TraceQuery>(bytes, rules.limits, false)?;
    let b = q.body();
    if roster.state_of(&b.requester.key) != Some(b.requester.state) {
        return Err(Refusal::NotInRoster.into());
    }
    super::signed::verify_decoded(&q, frames)?;
    match via {
        Via::Direct { sender } if sender != b.requester.key => {
            return Err(Refusal::NotRequester.into());
        }
        // Only someone the requester sent it to can have published it.
        Via::Gossip if b.directed_only => return Err(Refusal::DirectedOnly.into()),
        _ => {}
    }
    match rules.fresh.check(b.issued_at, b.ttl_secs, now) {
        Ok(expires_at) => Ok((q, expires_at)),
        Err(e) => Err(QueryRefused {
            refusal: e.into(),
            verified: Some(Box::new(q)),
        }),
    }
}

/// What an answer is checked against: the query this node sent, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AskedQuery {
    pub digest: Digest,
    /// The query's `issued_at`, unix seconds.
    pub issued_at: u64,
    /// The query's `ttl_secs`: no holder acts on it after `issued_at` plus
    /// this.
    pub ttl_secs: u32,
}

impl AskedQuery {
    /// The latest date of an answer other than an `expired` refusal:
    /// the query's end plus [`super::fresh::LATE_ANSWER_SECS`].
    pub fn late_after(&self) -> u64 {
        self.issued_at
            .saturating_add(u64::from(self.ttl_secs))
            .saturating_add(super::fresh::LATE_ANSWER_SECS)
    }

    /// What answers to `q` are checked against.
    pub fn of(q: &Signed<TraceQuery>) -> Self {
        AskedQuery {
            digest: q.digest(),
            issued_at: q.body().issued_at,
            ttl_secs: q.body().ttl_secs,
        }
    }
}

/// Accepts a received answer to `asked`: in force roster, signed by `sender`
/// (the member whose connection carried it, `None` for an answer read from an
/// evidence bundle), that key a member for the State it names, bound to the
/// query by its digest, not dated in the future, nor more than
/// [`super::fresh::LATE_ANSWER_SECS`] before the query
/// ([`Refusal::AnswerBeforeQuery`]) or, unless it is an `expired` refusal,
/// after the query's time-to-live ended ([`Refusal::Expired`]: a holder
/// acts on a query only within it, so no honest answer is dated much
/// later, and a verifier judging the answer later at its own date holds it
/// to the same bound). Both bounds are the protocol's, not the node's skew
/// setting, so that every requester and verifier draws the same lines. An
/// `expired` refusal may come at any time: a holder refuses a query it
/// reads past its end with one (the only answer it signs then), and it
/// discloses and settles nothing; the requester files a late one only from
/// a holder it asked.
pub fn answer(
    bytes: &[u8],
    asked: AskedQuery,
    sender: Option<PublicKey>,
    now: u64,
    rules: &Rules,
    roster: &impl Vouching,
) -> Result<Signed<TraceAnswer>, Refusal> {
    // The roster first: with none in force, nothing is read.
    roster_in_force(roster, now)?;
    answer_read(
        UnreadAnswer::read(bytes, rules.limits)?,
        asked,
        sender,
        now,
        rules,
        roster,
    )
}

/// An answer frame read within the limits, its signature not checked yet:
/// all it tells is the query it names ([`UnreadAnswer::query`]), to find
/// the trace, and [`answer_read`] is the only way to its body. A requester
/// reads the frame once, where it read it once to find the trace and again
/// to check it.
#[derive(Debug)]
pub struct UnreadAnswer(Signed<TraceAnswer>);

impl UnreadAnswer {
    /// Reads `bytes` within `limits` ([`Refusal::Malformed`] if they are
    /// not an answer frame within them).
    pub fn read(bytes: &[u8], limits: Limits) -> Result<Self, Refusal> {
        super::signed::decode_checking::<TraceAnswer>(bytes, limits, false)
            .map(UnreadAnswer)
            .map_err(|_| Refusal::Malformed)
    }

    /// The digest of the query the answer claims to answer (unverified).
    pub fn query(&self) -> Digest {
        self.0.body().query
    }
}

/// [`answer`] for a frame [`UnreadAnswer::read`] read: the same checks,
/// its signature among them, without decoding it again.
pub fn answer_read(
    read: UnreadAnswer,
    asked: AskedQuery,
    sender: Option<PublicKey>,
    now: u64,
    rules: &Rules,
    roster: &impl Vouching,
) -> Result<Signed<TraceAnswer>, Refusal> {
    roster_in_force(roster, now)?;
    super::signed::verify_decoded(&read.0, None)?;
    let a = read.0;
    let b = a.body();
    if sender.is_some_and(|s| s != b.responder.key) {
        return Err(Refusal::WrongSigner);
    }
    if roster.state_of(&b.responder.key) != Some(b.responder.state) {
        return Err(Refusal::NotInRoster);
    }
    if b.query != asked.digest {
        return Err(Refusal::UnknownTrace);
    }
    rules.fresh.check_not_future(b.answered_at, now)?;
    if b.answered_at.saturating_add(super::fresh::LATE_ANSWER_SECS) < asked.issued_at {
        return Err(Refusal::AnswerBeforeQuery);
    }
    if b.answered_at > asked.late_after()
        && !matches!(
            b.outcome,
            Outcome::Refused {
                reason: RefusedReason::Expired,
                ..
            }
        )
    {
        return Err(Refusal::Expired);
    }
    Ok(a)
}

/// The reply to every request on the request-response protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The request (an answer to one of the receiver's traces) was filed.
    Ok,
    /// Refused, with the code saying why.
    Refused(Refusal),
    /// A directed query's signed answer frame.
    Answer(Vec<u8>),
}

impl Reply {
    /// Encodes the reply behind the envelope header (kind `reply`, unsigned:
    /// the answer it may carry is signed itself).
    pub fn encode(&self) -> Vec<u8> {
        // A reply holds at most one answer frame, which is itself bounded; an
        // encoding failure is impossible for this shape, but is never a panic.
        codec::encode_body(Kind::Reply, self).unwrap_or_else(|_| {
            codec::encode_body(Kind::Reply, &Reply::Refused(Refusal::Internal)).unwrap_or_default()
        })
    }

    /// Decodes a reply under `limits`.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Reply, codec::DecodeError> {
        codec::decode_body(Kind::Reply, bytes, limits)
    }
}
