//! What the API shows of a trace: the stored signed frames decoded, each answer
//! judged again by the roster in force when it was received, the status derived.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::evidence::Bundle;
use crate::model::CountryCode;
use crate::node::custody::Custody;
use crate::node::members::{PastRosters, Vouch};
use crate::node::{Asked, LocalCase, Node, StoredAnswer, StoredTrace, TraceStatus};
use crate::protocol::{Limits, Outcome, TraceAnswer, TraceQuery};
use crate::roster::{RosterError, RosterHistory};

/// One answer as the officer sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerView {
    pub peer: String,
    pub state: Option<CountryCode>,
    #[serde(with = "crate::model::instant")]
    pub received_at: u64,
    /// The signature verifies and the key was the roster's key for that State
    /// when the answer was received.
    pub verified: bool,
    #[serde(default)]
    pub verify_error: Option<String>,
    /// The roster version the key is judged by: the one this node held when
    /// the answer was received.
    #[serde(default)]
    pub roster_version: Option<u64>,
    /// The later roster version that removed the State (or replaced its key).
    #[serde(default)]
    pub removed_in: Option<u64>,
    #[serde(with = "crate::model::instant::option")]
    pub answered_at: Option<u64>,
    pub outcome: Option<Outcome>,
    /// The maker reference table version the responder read the maker with
    /// (0: its release's built-in table); null from builds before it was said.
    #[serde(default)]
    pub makers_version: Option<u32>,
}

/// A trace as `trace show` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceView {
    pub id: String,
    /// The query digest (hex SHA-256 of the signed query), as audit entries,
    /// the holders' inboxes and alerts name it.
    #[serde(default)]
    pub digest: String,
    pub status: TraceStatus,
    #[serde(with = "crate::model::instant")]
    pub created_at: u64,
    #[serde(with = "crate::model::instant")]
    pub deadline: u64,
    pub query: Option<TraceQuery>,
    pub topics: Vec<String>,
    pub asked: Vec<Asked>,
    /// Each expected holder and where it stands (`answered`, `withheld`,
    /// `refused`, `acknowledged`, `awaiting`, `unreachable`).
    #[serde(default)]
    pub holders: Vec<crate::node::HolderView>,
    /// Nobody was asked because no member is known to hold records under
    /// the marking's prefix (false also when nobody was asked for want of
    /// a connection: see the gaps).
    #[serde(default)]
    pub nobody_holds: bool,
    pub answers: Vec<AnswerView>,
    /// Case reference and notes: on this node only.
    pub local: LocalCase,
    /// Per State: seconds from sending to first acknowledgement and to final answer.
    pub timeliness: Vec<Timeliness>,
    /// The chain of custody assembled from the verified answers, the point of
    /// diversion, and the gaps.
    pub custody: Custody,
    /// States a directed follow-up was sent to.
    #[serde(default)]
    pub followed_up: Vec<CountryCode>,
    /// A blind trace: each expected holder, whether it was asked blind (its
    /// `elements`), its `outcome` (`hit`, `no_hit`, `no_filter`, ...) and
    /// whether it `received_marking`. Absent for a clear trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind: Option<crate::node::blind::BlindTrace>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeliness {
    pub peer: String,
    pub ack_secs: Option<u64>,
    pub answer_secs: Option<u64>,
}

/// A stored trace as the API and CLI show it, judged by `judge` (a running
/// node's [`Node::judge`], or [`crate::node::Judge::offline`]).
pub fn trace_view(judge: &crate::node::Judge, t: &StoredTrace) -> TraceView {
    let node = judge;
    let limits = node.limits();
    let rosters = PastRosters::new(node.data_dir(), node.trust(), node.shared_members());
    let answers = t
        .answers
        .iter()
        .map(|a| answer_view(a, &rosters, limits))
        .collect();
    let query = crate::node::decode_stored::<TraceQuery>(&t.query, limits);
    let mut peers: Vec<&String> = t.first_ack.keys().chain(t.final_at.keys()).collect();
    peers.sort();
    peers.dedup();
    let timeliness = peers
        .into_iter()
        .map(|p| Timeliness {
            peer: p.clone(),
            ack_secs: t.first_ack.get(p).map(|x| x.saturating_sub(t.created_at)),
            answer_secs: t.final_at.get(p).map(|x| x.saturating_sub(t.created_at)),
        })
        .collect();
    TraceView {
        id: t.id.clone(),
        digest: crate::protocol::Digest::of(&t.query).to_hex(),
        status: node.status_of(t),
        created_at: t.created_at,
        deadline: t.deadline,
        query,
        topics: t.topics.clone(),
        asked: t.asked.clone(),
        holders: crate::node::holders(t, limits),
        nobody_holds: t.nobody_holds,
        answers,
        local: t.local.clone(),
        timeliness,
        custody: node.custody_of(t),
        followed_up: t.followed_up.clone(),
        blind: t.blind.clone(),
    }
}

/// One stored answer, verified on receipt (unverifiable answers are refused,
/// never stored); here its key is checked again against the roster that
/// vouched for it then, which a later removal of the State does not undo.
fn answer_view(a: &StoredAnswer, rosters: &PastRosters, limits: Limits) -> AnswerView {
    let Some(b) = crate::node::decode_stored::<TraceAnswer>(&a.bytes, limits) else {
        return AnswerView {
            peer: a.peer.clone(),
            state: None,
            received_at: a.received_at,
            verified: false,
            verify_error: Some("the stored answer is unreadable".into()),
            roster_version: a.roster_version,
            removed_in: None,
            answered_at: None,
            outcome: None,
            makers_version: None,
        };
    };
    let (verified, verify_error, removed_in) =
        match rosters.vouch(a.roster_version, &b.responder.key, b.responder.state) {
            Vouch::Listed {
                peer, removed_in, ..
            } if peer.to_string() == a.peer => (true, None, removed_in),
            Vouch::Listed { .. } => (
                false,
                Some("it came from a peer other than the key's".into()),
                None,
            ),
            Vouch::Unvouched(why) => (false, Some(why), None),
        };
    AnswerView {
        peer: a.peer.clone(),
        state: Some(b.responder.state),
        received_at: a.received_at,
        verified,
        verify_error,
        roster_version: Some(a.roster_version.unwrap_or(rosters.current().version)),
        removed_in,
        answered_at: Some(b.answered_at),
        outcome: Some(b.outcome),
        makers_version: b.makers_version,
    }
}

/// The evidence bundle of a trace: the signed query, every signed answer as
/// received, each with the roster version this node held when it sent or
/// received it, and those versions' roster files from the history.
pub fn evidence_bundle(node: &Node, t: &StoredTrace) -> Result<Bundle, RosterError> {
    let history = RosterHistory::shared(node.data_dir(), node.trust())?;
    let current = node.members().version;
    // The query's version is not stored with the trace: the history says
    // which version was held when it was sent.
    let query_roster = history
        .in_force_at(t.created_at, current)?
        .unwrap_or(current);
    let answers: Vec<(&[u8], u64)> = t
        .answers
        .iter()
        .map(|a| (a.bytes.as_slice(), a.roster_version.unwrap_or(current)))
        .collect();
    let versions: BTreeSet<u64> = answers
        .iter()
        .map(|(_, v)| *v)
        .chain([query_roster])
        .collect();
    let rosters = versions
        .into_iter()
        .map(|v| Ok(history.get(v)?.roster.file().clone()))
        .collect::<Result<Vec<_>, RosterError>>()?;
    Ok(Bundle::new(&t.query, query_roster, answers, rosters))
}

/// An inbox item with its query's ITI fields decoded, as `inbox list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxView {
    /// The item's id: the first 16 hex digits of the query digest.
    pub id: String,
    /// One id for one trace on both sides: the requester's trace id.
    pub trace: Option<String>,
    /// The query digest its audit entries name (hex SHA-256 of the signed query).
    pub digest: String,
    #[serde(with = "crate::model::instant")]
    pub received_at: u64,
    /// After this the requester's time-to-live is over.
    #[serde(with = "crate::model::instant")]
    pub deadline: u64,
    pub reason: crate::node::policy::ReviewReason,
    pub requester: CountryCode,
    pub status: crate::node::inbox::InboxStatus,
    /// The query's ITI fields; null if the stored query no longer decodes.
    pub query: Option<TraceQuery>,
}

/// An inbox item with its query's ITI fields decoded.
pub fn inbox_view(limits: crate::protocol::Limits, i: &crate::node::inbox::InboxItem) -> InboxView {
    let q = crate::node::decode_stored::<TraceQuery>(&i.query, limits);
    InboxView {
        id: i.id.clone(),
        trace: q.as_ref().map(|q| q.id.to_hex()),
        digest: crate::protocol::Digest::of(&i.query).to_hex(),
        received_at: i.received_at,
        deadline: i.deadline,
        reason: i.reason,
        requester: i.requester,
        status: i.status.clone(),
        query: q,
    }
}
