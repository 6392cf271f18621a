//! What the API shows of a trace: the stored signed frames decoded, each answer
//! verified again against the current roster, the status derived.

use serde::{Deserialize, Serialize};

use crate::model::CountryCode;
use crate::node::custody::Custody;
use crate::node::{Asked, LocalCase, Node, StoredTrace, TraceStatus};
use crate::protocol::{Outcome, TraceAnswer, TraceQuery};

/// One answer as the officer sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerView {
    pub peer: String,
    pub state: Option<CountryCode>,
    pub received_at: u64,
    /// The signature verifies and the key is the roster's key for that State.
    pub verified: bool,
    #[serde(default)]
    pub verify_error: Option<String>,
    pub answered_at: Option<u64>,
    pub outcome: Option<Outcome>,
}

/// A trace as `trace show` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceView {
    pub id: String,
    pub status: TraceStatus,
    pub created_at: u64,
    pub deadline: u64,
    pub query: Option<TraceQuery>,
    pub topics: Vec<String>,
    pub asked: Vec<Asked>,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeliness {
    pub peer: String,
    pub ack_secs: Option<u64>,
    pub answer_secs: Option<u64>,
}

pub fn trace_view(node: &Node, t: &StoredTrace) -> TraceView {
    let limits = node.limits();
    let members = node.members();
    let answers = t
        .answers
        .iter()
        .map(|a| {
            // Verified on receipt (unverifiable answers are refused, never
            // stored); here the key is checked against the current roster.
            match crate::node::decode_stored::<TraceAnswer>(&a.bytes, limits) {
                Some(b) => {
                    let roster_ok = members.by_key(&b.responder.key).is_some_and(|(p, m)| {
                        m.state == b.responder.state && p.to_string() == a.peer
                    });
                    AnswerView {
                        peer: a.peer.clone(),
                        state: Some(b.responder.state),
                        received_at: a.received_at,
                        verified: roster_ok,
                        verify_error: (!roster_ok).then(|| {
                            "the signing key is not the current roster's key for that State"
                                .to_string()
                        }),
                        answered_at: Some(b.answered_at),
                        outcome: Some(b.outcome),
                    }
                }
                None => AnswerView {
                    peer: a.peer.clone(),
                    state: None,
                    received_at: a.received_at,
                    verified: false,
                    verify_error: Some("the stored answer is unreadable".into()),
                    answered_at: None,
                    outcome: None,
                },
            }
        })
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
        status: node.status_of(t),
        created_at: t.created_at,
        deadline: t.deadline,
        query,
        topics: t.topics.clone(),
        asked: t.asked.clone(),
        answers,
        local: t.local.clone(),
        timeliness,
        custody: node.custody_of(t),
        followed_up: t.followed_up.clone(),
    }
}
