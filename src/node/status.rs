//! What the node shows of itself and of its traces: `status`, a trace's
//! status and chain of custody. Reads only: answers were verified on receipt
//! and are decoded, not verified again, on every view.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use super::{Asked, Node, NodeError, Role, StoredTrace, TraceStatus, custody, decode_stored};
use super::{membership, unix_now};
use crate::model::CountryCode;
use crate::net;
use crate::protocol::{Limits, Outcome, TraceAnswer, TraceQuery};
use crate::roster::TrustConfig;

impl Node {
    /// The chain of custody of a trace, from its answers whose keys the roster
    /// in force when each was received vouches for.
    pub fn custody_of(&self, t: &StoredTrace) -> custody::Custody {
        let rosters = super::members::PastRosters::new(
            &self.inner.data_dir,
            &self.inner.trust,
            self.members(),
        );
        let decoded: Vec<(usize, CountryCode, Outcome)> = t
            .answers
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                // Verified on receipt: decoded, not verified again on every view.
                let b = decode_stored::<TraceAnswer>(&a.bytes, self.inner.rules.limits)?;
                let vouched = matches!(
                    rosters.vouch(a.roster_version, &b.responder.key, b.responder.state),
                    super::members::Vouch::Listed { .. }
                );
                vouched.then_some((i, b.responder.state, b.outcome))
            })
            .collect();
        // A State's final answer supersedes its acknowledgement.
        let finals: Vec<&(usize, CountryCode, Outcome)> = decoded
            .iter()
            .filter(|(_, st, o)| {
                !matches!(o, Outcome::Acknowledged)
                    || !decoded
                        .iter()
                        .any(|(_, s2, o2)| s2 == st && !matches!(o2, Outcome::Acknowledged))
            })
            .collect();
        let mut inputs: Vec<custody::AnswerInput<'_>> = finals
            .iter()
            .map(|(i, st, o)| custody::AnswerInput {
                index: Some(*i),
                state: *st,
                outcome: o,
            })
            .collect();
        let mut answered: std::collections::BTreeSet<CountryCode> =
            decoded.iter().map(|(_, s, _)| *s).collect();
        // The requester's own registry, looked up when the trace was sent,
        // joins the chain like an answer: this node never asks itself.
        if let Some(own) = &t.own_registry {
            inputs.push(custody::AnswerInput {
                index: None,
                state: self.inner.state,
                outcome: own,
            });
        }
        answered.insert(self.inner.state);
        let answered_final: std::collections::BTreeSet<CountryCode> = decoded
            .iter()
            .filter(|(_, _, o)| !matches!(o, Outcome::Acknowledged))
            .map(|(_, s, _)| *s)
            .collect();
        let wanted = decode_stored::<TraceQuery>(&t.query, self.inner.rules.limits)
            .map(|q| custody::Wanted {
                imports: q.marking.imports().iter().map(|m| m.country).collect(),
                category: Some(q.category),
            })
            .unwrap_or_default();
        // The States asked without a final answer: never "no record" while
        // one of them may hold the weapon. This node never waits on itself.
        let waiting: Vec<(CountryCode, Option<String>)> = t
            .asked
            .iter()
            .filter(|a| !t.final_at.contains_key(&a.peer))
            .filter_map(|a| Some((a.state?, a.unreachable.clone())))
            .filter(|(s, _)| *s != self.inner.state && !answered_final.contains(s))
            .collect();
        custody::assemble(&inputs, &answered, &waiting, &wanted)
    }

    /// Where a trace stands now.
    pub fn status_of(&self, t: &StoredTrace) -> TraceStatus {
        trace_status(t, unix_now(), self.inner.rules.limits)
    }

    /// Bytes sled occupies on disk.
    pub fn store_size(&self) -> u64 {
        self.inner.db.size_on_disk().unwrap_or(0)
    }

    pub fn limits(&self) -> Limits {
        self.inner.rules.limits
    }

    pub fn trust(&self) -> &TrustConfig {
        &self.inner.trust
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Peers whose requests are ignored after too many bad ones.
    pub fn peers_cooling_down(&self) -> Vec<libp2p::PeerId> {
        self.inner
            .standing
            .lock()
            .map(|s| s.cooling(std::time::Instant::now()))
            .unwrap_or_default()
    }
}

/// Derives a trace's status from its answers, who was asked and its deadline.
pub fn trace_status(t: &StoredTrace, now: u64, limits: Limits) -> TraceStatus {
    let mut finals = HashSet::new();
    let mut acks = HashSet::new();
    for a in &t.answers {
        // Verified on receipt; an answer this node could not decode now counts
        // as no answer.
        match decode_stored::<TraceAnswer>(&a.bytes, limits) {
            Some(s) if matches!(s.outcome, Outcome::Acknowledged) => acks.insert(a.peer.as_str()),
            Some(_) => finals.insert(a.peer.as_str()),
            None => false,
        };
    }
    let waiting: Vec<&Asked> = t
        .asked
        .iter()
        .filter(|a| !finals.contains(a.peer.as_str()))
        .collect();
    if waiting.is_empty() && !t.asked.is_empty() {
        return TraceStatus::Answered;
    }
    let all_gone = waiting.iter().all(|a| a.unreachable.is_some());
    if now >= t.deadline || (all_gone && !t.asked.is_empty()) {
        return if finals.is_empty() {
            TraceStatus::TimedOut
        } else {
            TraceStatus::Partial
        };
    }
    if t.asked.is_empty() && now >= t.deadline {
        return TraceStatus::TimedOut;
    }
    if !acks.is_empty() {
        TraceStatus::Acknowledged
    } else {
        TraceStatus::Sent
    }
}

/// What `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub state: CountryCode,
    pub role: Role,
    pub peer_id: String,
    pub uptime_secs: u64,
    pub roster_version: u64,
    pub roster_valid_until: u64,
    /// Seconds until the roster expires; negative once it has.
    pub roster_expires_in_secs: i64,
    /// `valid`, `expires_soon` (within 14 days) or `expired` (nothing is
    /// accepted until the next roster is installed).
    pub roster_state: &'static str,
    pub roster_members: usize,
    pub net: net::NetStatus,
    pub registry_records: Option<u64>,
    /// Requests waiting for a person's decision.
    pub inbox_pending: usize,
    pub alerts: usize,
    /// The audit log's last entry: sequence and hash.
    pub audit_head: Option<(u64, String)>,
}

impl Node {
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let now = unix_now();
        let net = self.inner.net.status().await?;
        let members = self.members();
        let node = self.clone();
        let (registry_records, inbox_pending, alerts) = tokio::task::spawn_blocking(move || {
            let records = match &node.inner.registry {
                Some(r) => Some(r.len()?),
                None => None,
            };
            let pending = node.inner.inbox.pending().unwrap_or(0);
            let alerts = node.inner.inbox.alerts().map(|a| a.len()).unwrap_or(0);
            Ok::<_, NodeError>((records, pending, alerts))
        })
        .await
        .map_err(|e| NodeError::Config(e.to_string()))??;
        Ok(NodeStatus {
            state: self.inner.state,
            role: self.inner.settings.role,
            peer_id: self.peer_id().to_string(),
            uptime_secs: self.uptime().as_secs(),
            roster_version: members.version,
            roster_valid_until: members.valid_until,
            roster_expires_in_secs: members.valid_until as i64 - now as i64,
            roster_state: match membership::expiry(members.valid_until, now) {
                membership::Expiry::Valid => "valid",
                membership::Expiry::Soon(_) => "expires_soon",
                membership::Expiry::Expired => "expired",
            },
            roster_members: members.by_peer.len(),
            net,
            registry_records,
            inbox_pending,
            alerts,
            audit_head: self.inner.audit.head(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Digest, sign, vectors};

    fn frame(outcome: Outcome) -> Vec<u8> {
        let mut a = vectors::answer(Digest::of(b"q"));
        a.outcome = outcome;
        sign(a, &vectors::responder_key()).unwrap().into_parts().0
    }

    fn asked(peer: &str) -> Asked {
        Asked {
            peer: peer.into(),
            state: None,
            unreachable: None,
        }
    }

    fn answered(peer: &str, outcome: Outcome) -> super::super::StoredAnswer {
        super::super::StoredAnswer {
            peer: peer.into(),
            received_at: 0,
            bytes: frame(outcome),
            roster_version: None,
        }
    }

    fn trace(answers: Vec<super::super::StoredAnswer>) -> StoredTrace {
        StoredTrace {
            id: "t".into(),
            created_at: 0,
            created_at_ms: None,
            deadline: 100,
            query: Vec::new(),
            topics: Vec::new(),
            asked: vec![asked("de"), asked("ng")],
            answers,
            local: Default::default(),
            first_ack: Default::default(),
            final_at: Default::default(),
            followed_up: Vec::new(),
            own_registry: None,
        }
    }

    #[test]
    fn a_trace_is_answered_only_when_every_asked_state_gave_a_final_answer() {
        let l = Limits::default();
        let st = |t: &StoredTrace, now| trace_status(t, now, l);
        assert_eq!(st(&trace(vec![]), 10), TraceStatus::Sent);
        let ack = trace(vec![answered("de", Outcome::Acknowledged)]);
        assert_eq!(st(&ack, 10), TraceStatus::Acknowledged);
        let one = trace(vec![answered("de", Outcome::NoHit)]);
        assert_eq!(st(&one, 10), TraceStatus::Sent);
        assert_eq!(st(&one, 100), TraceStatus::Partial);
        let mut gone = one.clone();
        gone.asked[1].unreachable = Some("disconnected".into());
        assert_eq!(st(&gone, 10), TraceStatus::Partial);
        let both = trace(vec![
            answered("de", Outcome::NoHit),
            answered("ng", Outcome::NoHit),
        ]);
        assert_eq!(st(&both, 10), TraceStatus::Answered);
        assert_eq!(st(&trace(vec![]), 100), TraceStatus::TimedOut);
        // An acknowledgement is not a final answer.
        assert_eq!(st(&ack, 100), TraceStatus::TimedOut);
    }
}
