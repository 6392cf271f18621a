//! What the node shows of itself and of its traces: `status`, a trace's
//! status and chain of custody. Reads only: answers were verified on receipt
//! and are decoded, not verified again, on every view.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::traces::{Filed, Said};
use super::{Node, NodeError, Role, StoredTrace, TraceStatus, custody, decode_stored};
use super::{membership, unix_now};
use crate::model::CountryCode;
use crate::net;
use crate::protocol::{Limits, Outcome, TraceAnswer, TraceQuery};
use crate::roster::TrustConfig;

/// What judging a stored trace needs: who this node is, the roster in
/// force and its history, the codec's limits. Built from a running node
/// ([`Node::judge`]) or from the data directory alone ([`Judge::offline`]),
/// so that traces, custody and reports are readable while the node is down.
#[derive(Clone)]
pub struct Judge {
    pub(super) data_dir: std::path::PathBuf,
    pub(super) trust: TrustConfig,
    pub(super) state: CountryCode,
    pub(super) limits: Limits,
    pub(super) members: std::sync::Arc<super::Members>,
}

impl Judge {
    /// From the data directory and its configuration, without the network.
    pub fn offline(data_dir: &Path, cfg: &crate::config::Config) -> Result<Judge, NodeError> {
        Ok(Judge {
            data_dir: data_dir.to_path_buf(),
            trust: cfg.trust.clone(),
            state: cfg.state,
            limits: Limits::default(),
            // A node that never installed a roster still reads its audit
            // log, inbox and reports: no members, nothing vouched for. One
            // whose roster ran out (or is not yet in force) reads them too,
            // under that roster, its signatures checked: its traces are what
            // an officer looks at while a renewal is awaited (`trace list`
            // and the like failed with the expiry).
            members: std::sync::Arc::new(
                match crate::roster::load_held(data_dir, &cfg.trust, crate::model::Date::today()) {
                    Ok(None) => super::Members::default(),
                    Err(crate::roster::RosterError::Dates { until, .. }) => {
                        match crate::roster::load_held(data_dir, &cfg.trust, until) {
                            Ok(Some(r)) => membership::members_of(&r),
                            _ => membership::load_members(data_dir, &cfg.trust)?,
                        }
                    }
                    _ => membership::load_members(data_dir, &cfg.trust)?,
                },
            ),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn trust(&self) -> &TrustConfig {
        &self.trust
    }

    pub fn members(&self) -> &super::Members {
        &self.members
    }

    /// The roster this judge reads by, shared (a count bump, not a copy).
    pub fn shared_members(&self) -> std::sync::Arc<super::Members> {
        self.members.clone()
    }

    /// Where a trace stands now.
    pub fn status_of(&self, t: &StoredTrace) -> TraceStatus {
        trace_status(t, unix_now(), self.limits)
    }

    /// The chain of custody of a trace, from its answers whose keys the roster
    /// in force when each was received vouches for.
    pub fn custody_of(&self, t: &StoredTrace) -> custody::Custody {
        let rosters =
            super::members::PastRosters::new(&self.data_dir, &self.trust, self.shared_members());
        let decoded: Vec<(usize, CountryCode, Outcome)> = t
            .answers
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                // Verified on receipt: decoded, not verified again on every view.
                let b = decode_stored::<TraceAnswer>(&a.bytes, self.limits)?;
                let vouched = matches!(
                    rosters.vouch(a.roster_version, &b.responder.key, b.responder.state),
                    super::members::Vouch::Listed { .. }
                );
                vouched.then_some((i, b.responder.state, b.outcome))
            })
            .collect();
        // A State's final answer supersedes its acknowledgement and its
        // refusals; of those, only the latest refusal counts (a retry may
        // have been refused again, or answered).
        let finals: Vec<&(usize, CountryCode, Outcome)> = decoded
            .iter()
            .filter(|(i, st, o)| {
                if o.is_final() {
                    return true;
                }
                // A final answer or an acknowledgement (a person there
                // decides) supersedes a refusal, and so does a later refusal.
                let superseded = decoded.iter().any(|(i2, s2, o2)| {
                    s2 == st
                        && (o2.is_final()
                            || matches!(o2, Outcome::Acknowledged)
                            || (i2 > i && matches!(o2, Outcome::Refused { .. })))
                });
                matches!(o, Outcome::Refused { .. }) && !superseded
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
                state: self.state,
                outcome: own,
            });
        }
        answered.insert(self.state);
        // Settled: a final answer, or a refusal not superseded (a gap of
        // its own); not an acknowledged State, which is still awaited.
        let settled: std::collections::BTreeSet<CountryCode> =
            finals.iter().map(|(_, s, _)| *s).collect();
        let mut wanted = decode_stored::<TraceQuery>(&t.query, self.limits)
            .map(|q| custody::Wanted {
                imports: q.marking.imports().iter().map(|m| m.country).collect(),
                category: Some(q.category),
                nobody_asked: None,
                members: None,
                serial: crate::marking::SerialQuery::parse(q.marking.serial()).ok(),
                blind_hits: t
                    .blind
                    .iter()
                    .flat_map(|b| &b.holders)
                    .filter(|h| h.outcome == crate::node::blind::BlindOutcome::Hit)
                    .filter_map(|h| h.state)
                    .collect(),
            })
            .unwrap_or_default();
        wanted.members = Some(
            self.members
                .by_peer
                .values()
                .filter(|m| !m.bootstrap)
                .map(|m| m.state)
                .chain([self.state])
                .collect(),
        );
        // A blind trace asks its expected holders' filters first, and sends
        // the query only to those that hit: having sent it to nobody is
        // neither a prefix nobody holds nor a node without connections.
        let blind: Vec<&crate::node::blind::BlindHolder> =
            t.blind.iter().flat_map(|b| &b.holders).collect();
        if t.asked.is_empty() && blind.is_empty() {
            wanted.nobody_asked = Some(if t.nobody_holds {
                custody::Gap::NoHolder {
                    prefix: t
                        .topics
                        .iter()
                        .find_map(|topic| match topic.parse() {
                            Ok(crate::net::Topic::Prefix(p)) => Some(p.to_string()),
                            _ => None,
                        })
                        .unwrap_or_default(),
                }
            } else {
                custody::Gap::NotConnected
            });
        }
        // The expected States without a final answer or a refusal: never "no
        // record" while one of them may hold the weapon. This node never
        // waits on itself.
        let waiting: Vec<custody::Awaited> = t
            .asked
            .iter()
            .filter(|a| !t.final_at.contains_key(&a.peer))
            .filter_map(|a| {
                Some(custody::Awaited {
                    state: a.state?,
                    unreachable: a.unreachable.clone().map(|r| (r, a.unreachable_since)),
                    declined: a.declined.clone(),
                })
            })
            // A blind trace's holders not sent the query whose filter has
            // not said "no hit" yet (probes to come, or left to the
            // officer): not "no record" while one of them may hold it.
            .chain(
                blind
                    .iter()
                    .filter(|h| !t.asked.iter().any(|a| a.peer == h.peer))
                    .filter(|h| h.outcome.leaves_the_holder_unknown())
                    .filter_map(|h| {
                        Some(custody::Awaited {
                            state: h.state?,
                            unreachable: (h.outcome
                                == crate::node::blind::BlindOutcome::Unreachable)
                                .then(|| {
                                    let why = h.detail.clone();
                                    (why.unwrap_or_else(|| "unreachable".into()), h.at)
                                }),
                            declined: None,
                        })
                    }),
            )
            .filter(|w| w.state != self.state && !settled.contains(&w.state))
            .collect();
        custody::assemble(&inputs, &answered, &waiting, &wanted)
    }
}

impl Node {
    /// What judging its stored traces needs, as of now.
    pub fn judge(&self) -> Judge {
        Judge {
            data_dir: self.inner.data_dir.clone(),
            trust: self.inner.trust.clone(),
            state: self.inner.state,
            limits: self.inner.rules.limits,
            members: self.members(),
        }
    }

    /// The chain of custody of a trace (see [`Judge::custody_of`]).
    pub fn custody_of(&self, t: &StoredTrace) -> custody::Custody {
        self.judge().custody_of(t)
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

/// Where one expected holder of a trace stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum HolderState {
    /// A final answer: a hit (trimmed or not), no hit, or too many candidates.
    Answered,
    /// A final answer restricting the record's details, with the coded reason.
    Withheld { reason: String },
    /// Its latest word is a signed refusal, with the coded reason; a retry
    /// may be answered. `retry_at` (unix seconds), when the refusal gave
    /// one: this node asks again then, while the trace waits.
    Refused {
        reason: String,
        retry_after_secs: u32,
        #[serde(default)]
        #[serde(with = "crate::model::instant::option")]
        retry_at: Option<u64>,
    },
    /// It replied to a directed query without an answer, with a code
    /// (`not_answered`: its policy does not answer; `replayed`: it received
    /// the query before and has nothing to say). Asked again by `trace retry`.
    Declined { code: String },
    /// Acknowledged: a person there decides; the answer follows.
    Acknowledged,
    /// Asked, or to be asked, and not answered yet.
    Awaiting,
    /// Cannot be reached since `since` (unix seconds): the query is
    /// delivered when it reconnects, until the deadline.
    Unreachable {
        reason: String,
        #[serde(with = "crate::model::instant::option")]
        since: Option<u64>,
    },
}

impl HolderState {
    /// Nothing more is awaited from it at `now`: a final answer, a refusal
    /// without a retry still to come, or a reply without an answer.
    pub fn is_settled(&self, now: u64) -> bool {
        match self {
            HolderState::Answered | HolderState::Withheld { .. } | HolderState::Declined { .. } => {
                true
            }
            HolderState::Refused { retry_at, .. } => retry_at.is_none_or(|at| at <= now),
            _ => false,
        }
    }

    /// A final answer: a hit, no hit, too many candidates, or withheld
    /// details; what a trace list and the report count as answered.
    pub fn is_final(&self) -> bool {
        matches!(self, HolderState::Answered | HolderState::Withheld { .. })
    }
}

/// One expected holder and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HolderView {
    pub peer: String,
    pub state: Option<CountryCode>,
    pub expected_by: Vec<super::ExpectedBy>,
    #[serde(flatten)]
    pub standing: HolderState,
}

impl HolderView {
    /// One line for people: `NG  unreachable since 2026-11-30 22:51 UTC
    /// (...)`. `waits`: the trace still waits for answers (sent or
    /// acknowledged); once it no longer does, an unreachable holder is no
    /// longer promised its query when it reconnects.
    pub fn to_text(&self, waits: bool) -> String {
        let who = self
            .state
            .map(|c| c.to_string())
            .unwrap_or_else(|| self.peer.clone());
        let what = match &self.standing {
            HolderState::Answered => "answered".to_string(),
            HolderState::Withheld { reason } => format!("withheld: {}", reason.replace('_', " ")),
            HolderState::Refused {
                reason, retry_at, ..
            } => {
                let mut s = format!("refused: {}", reason.replace('_', " "));
                if let Some(at) = retry_at {
                    s += &format!(" (asked again from {})", crate::model::format_unix(*at));
                }
                s
            }
            HolderState::Declined { code } => format!(
                "replied without an answer ({}); `trace retry` asks again",
                code.replace('_', " ")
            ),
            HolderState::Acknowledged => "acknowledged: a person there decides".to_string(),
            HolderState::Awaiting => "awaiting an answer".to_string(),
            HolderState::Unreachable { reason, since } => format!(
                "unreachable{} ({reason}); {}",
                since
                    .map(|s| format!(" since {}", crate::model::format_unix(s)))
                    .unwrap_or_default(),
                if waits {
                    "its query goes to it if it reconnects while the trace waits"
                } else {
                    "the trace no longer waits: `tracenet trace retry` asks it again while the query is valid"
                }
            ),
        };
        format!("{who:<4} {what}")
    }
}

/// Where each expected holder of a trace stands, from its answers (verified
/// on receipt; one this node cannot decode now counts as no answer). A
/// final answer outranks everything; an acknowledgement outranks a later
/// refusal (of a retry: the person there still decides).
pub fn holders(t: &StoredTrace, limits: Limits) -> Vec<HolderView> {
    // The verdicts kept when each answer was filed: no frame is decoded here.
    let verdicts = t.verdicts(limits);
    t.asked
        .iter()
        .map(|a| {
            let mine = || verdicts.iter().filter(|f| f.peer == a.peer);
            let refused = mine().rfind(|f| matches!(f.said, Said::Refused { .. }));
            let standing = if let Some(f) = mine().find(|f| f.said.is_final()) {
                match &f.said {
                    Said::Withheld { reason } => HolderState::Withheld {
                        reason: reason.clone(),
                    },
                    _ => HolderState::Answered,
                }
            } else if mine().any(|f| f.said == Said::Acknowledged) {
                HolderState::Acknowledged
            } else if let Some(Filed {
                said:
                    Said::Refused {
                        reason,
                        retry_after_secs,
                    },
                answered_at,
                ..
            }) = refused
            {
                HolderState::Refused {
                    reason: reason.clone(),
                    retry_after_secs: *retry_after_secs,
                    retry_at: (*retry_after_secs > 0)
                        .then(|| answered_at.saturating_add(u64::from(*retry_after_secs))),
                }
            } else if let Some(code) = &a.declined {
                HolderState::Declined { code: code.clone() }
            } else if let Some(why) = &a.unreachable {
                HolderState::Unreachable {
                    reason: why.clone(),
                    since: a.unreachable_since,
                }
            } else {
                HolderState::Awaiting
            };
            HolderView {
                peer: a.peer.clone(),
                state: a.state,
                expected_by: a.expected_by.clone(),
                standing,
            }
        })
        .collect()
}

/// Derives a trace's status from where its expected holders stand and its
/// deadline. `answered` only when every expected holder gave a final answer
/// (or none is expected); every holder settled but some refused or declined,
/// or past the deadline with some final answers, `partial`; past it with
/// none, `timed_out`. An unreachable holder, or a refusal whose retry is
/// still to come, does not end a trace before its deadline.
pub fn trace_status(t: &StoredTrace, now: u64, limits: Limits) -> TraceStatus {
    let hs = holders(t, limits);
    if hs.is_empty() && !t.nobody_holds {
        // Nobody asked because this node was connected to no member.
        return if now >= t.deadline {
            TraceStatus::TimedOut
        } else {
            TraceStatus::Sent
        };
    }
    let finals = hs.iter().filter(|h| h.standing.is_final()).count();
    let settled = hs.iter().filter(|h| h.standing.is_settled(now)).count();
    // A blind trace with holders still to probe, or left to the officer's
    // choice, is not answered yet (node::blind).
    let blind = super::blind::holders_wait(t);
    if finals == hs.len() && blind.is_none() {
        return TraceStatus::Answered;
    }
    if blind == Some(super::blind::BlindWait::Probing) && now < t.deadline {
        return TraceStatus::Sent;
    }
    if settled == hs.len() || now >= t.deadline {
        return if finals == 0 && settled == 0 {
            TraceStatus::TimedOut
        } else {
            TraceStatus::Partial
        };
    }
    if hs.iter().any(|h| h.standing == HolderState::Acknowledged) {
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
    /// The threads running the node's async work, as its runtime has them
    /// (`node.async_workers`; 0 there is half the cores, at least one).
    pub async_workers: usize,
    pub roster_version: u64,
    #[serde(with = "crate::model::instant")]
    pub roster_valid_until: u64,
    /// Seconds until the roster expires; negative once it has.
    pub roster_expires_in_secs: i64,
    /// `valid`, `expires_soon` (within 14 days) or `expired` (nothing is
    /// accepted until the next roster is installed).
    pub roster_state: &'static str,
    pub roster_members: usize,
    /// The maker reference table in force and the local makers on top.
    pub makers: crate::roster::makers::MakersView,
    pub net: net::NetStatus,
    pub registry_records: Option<u64>,
    /// Requests waiting for a person's decision.
    pub inbox_pending: usize,
    pub alerts: usize,
    /// The audit log's last entry; null before the first.
    pub audit_head: Option<AuditHead>,
    /// This node's OPRF public key for blind traces (base64); null on a
    /// bootstrap node.
    pub oprf_key: Option<crate::protocol::OprfPublicKey>,
    /// How the roster lists it: `listed` (requesters ask this node blind),
    /// `not_listed` (blind traces pass it by) or `different` (the seed file
    /// changed: requesters refuse its evaluations); null on a bootstrap node.
    pub oprf_key_in_roster: Option<super::blind::OwnOprfKey>,
    /// How the roster lists this node's key: `as_itself` (its State, its
    /// role), `not_listed` (other members refuse its connections: it was
    /// removed, or its key changed and the roster has the new one), or
    /// `as_another` (under another State or role). A removed member saw
    /// only "0 peers connected" and traces calling others unreachable.
    pub listed_in_roster: &'static str,
    /// Queries signed with this node's key that it never sent, read since
    /// start: another process holds a copy of the key (`node::key_copies`);
    /// null while none was read.
    pub own_key_elsewhere: Option<super::key_copies::KeyCopySeen>,
    /// The links this node keeps and how holders relay its queries, as the
    /// roster in force (or this node's configuration) decides them
    /// (NETWORK.md, "Links kept" and "Gossip mesh").
    pub links: LinksInForce,
}

/// `status`'s `links`: the links setting in force and what it means for the
/// queries this node sends and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LinksInForce {
    /// How many links a member keeps: the roster's `peer_connections`, or
    /// this node's `node.peer_connections` where the roster states none.
    pub kept: usize,
    /// `roster` or `node`: where `kept` comes from.
    pub set_by: &'static str,
    /// The roster decides a full mesh (it lists at most `kept` + 1
    /// members): a holder does not relay a query read from its requester.
    pub full_mesh: bool,
    /// This node's queries name the States they were handed to (field 14):
    /// the roster states served lists and bounds the links. Holders then
    /// relay only toward the others; with links bounded and this `false`,
    /// every holder relays each query it reads. Always `false` on a
    /// bootstrap peer, which sends no trace and keeps a link to every
    /// member.
    pub served_lists: bool,
}

/// The audit log's last entry: its sequence number and hex hash.
#[derive(Debug, Clone, Serialize)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

impl Node {
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let now = unix_now();
        let net = self.inner.net.status().await?;
        let members = self.members();
        let node = self.clone();
        let registry_records = tokio::task::spawn_blocking(move || match &node.inner.registry {
            Some(r) => Ok::<_, NodeError>(Some(r.len()?)),
            None => Ok(None),
        })
        .await
        .map_err(|e| NodeError::Config(e.to_string()))??;
        // Kept counts: the inbox and the alerts are not listed to count them.
        let inbox_pending = self.inner.inbox.pending(now);
        let alerts = self.inner.inbox.alert_count();
        Ok(NodeStatus {
            state: self.inner.state,
            role: self.inner.settings.role,
            peer_id: self.peer_id().to_string(),
            uptime_secs: self.uptime().as_secs(),
            async_workers: tokio::runtime::Handle::current().metrics().num_workers(),
            roster_version: members.version,
            roster_valid_until: members.valid_until,
            roster_expires_in_secs: members.valid_until as i64 - now as i64,
            roster_state: match membership::expiry(members.valid_until, now) {
                membership::Expiry::Valid => "valid",
                membership::Expiry::Soon(_) => "expires_soon",
                membership::Expiry::Expired => "expired",
            },
            roster_members: members.by_peer.len(),
            makers: self.makers_view(),
            net,
            registry_records,
            inbox_pending,
            alerts,
            audit_head: self
                .inner
                .audit
                .head()
                .map(|(seq, hash)| AuditHead { seq, hash }),
            oprf_key: self.own_oprf_key().map(|(k, _)| k),
            oprf_key_in_roster: self.own_oprf_key().map(|(_, l)| l),
            listed_in_roster: match members.by_peer.get(&self.peer_id()) {
                None => "not_listed",
                Some(m)
                    if m.state == self.inner.state
                        && m.bootstrap == (self.inner.settings.role == Role::Bootstrap) =>
                {
                    "as_itself"
                }
                Some(_) => "as_another",
            },
            own_key_elsewhere: self
                .inner
                .key_copies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .seen(),
            links: LinksInForce {
                kept: members
                    .links_kept()
                    .unwrap_or(self.inner.settings.peer_connections as usize),
                set_by: if members.links_kept().is_some() {
                    "roster"
                } else {
                    "node"
                },
                full_mesh: self.federation_full_mesh(),
                // A bootstrap peer sends no trace.
                served_lists: self.inner.settings.role != Role::Bootstrap && self.names_served(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Asked;
    use super::*;

    /// An unreachable holder of a trace that still waits is promised its
    /// query when it reconnects; of a trace that ended, it is not (a
    /// reconnect sends nothing then), and the retry is named.
    #[test]
    fn an_ended_trace_promises_no_delivery_to_an_unreachable_holder() {
        let h = HolderView {
            peer: "p".into(),
            state: Some(CountryCode::parse("FR").unwrap()),
            expected_by: Vec::new(),
            standing: HolderState::Unreachable {
                reason: "offline".into(),
                since: Some(0),
            },
        };
        let waiting = h.to_text(true);
        assert!(waiting.contains("goes to it if it reconnects"), "{waiting}");
        let ended = h.to_text(false);
        assert!(
            !ended.contains("reconnects") && ended.contains("trace retry"),
            "{ended}"
        );
    }
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
            unreachable_since: None,
            expected_by: Vec::new(),
            declined: None,
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
            nobody_holds: false,
            timeout_secs: None,
            blind: None,
            filed: Vec::new(),
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
        // An unreachable holder does not end the trace before its deadline:
        // its query is delivered when it reconnects.
        let mut gone = one.clone();
        gone.asked[1].set_unreachable("disconnected".into(), 5);
        assert_eq!(st(&gone, 10), TraceStatus::Sent);
        assert_eq!(st(&gone, 100), TraceStatus::Partial);
        let both = trace(vec![
            answered("de", Outcome::NoHit),
            answered("ng", Outcome::NoHit),
        ]);
        assert_eq!(st(&both, 10), TraceStatus::Answered);
        assert_eq!(st(&trace(vec![]), 100), TraceStatus::TimedOut);
        // An acknowledgement is not a final answer.
        assert_eq!(st(&ack, 100), TraceStatus::TimedOut);
    }

    #[test]
    fn a_refusal_settles_a_holder_as_refused_never_as_answered() {
        use crate::protocol::RefusedReason;
        let l = Limits::default();
        let refused = Outcome::Refused {
            reason: RefusedReason::ClockSkew,
            retry_after_secs: 0,
        };
        let t = trace(vec![
            answered("de", refused.clone()),
            answered("ng", Outcome::NoHit),
        ]);
        // Settled before the deadline, but not answered: partial.
        assert_eq!(trace_status(&t, 10, l), TraceStatus::Partial);
        let hs = holders(&t, l);
        assert_eq!(
            hs[0].standing,
            HolderState::Refused {
                reason: "clock_skew".into(),
                retry_after_secs: 0,
                retry_at: None,
            }
        );
        assert_eq!(hs[1].standing, HolderState::Answered);
        // A final answer after a retry supersedes the refusal.
        let mut later = t.clone();
        later.answers.push(answered("de", Outcome::NoHit));
        assert_eq!(trace_status(&later, 10, l), TraceStatus::Answered);
        // Nobody expected: settled at once.
        let mut nobody = trace(vec![]);
        nobody.asked.clear();
        nobody.nobody_holds = true;
        assert_eq!(trace_status(&nobody, 0, l), TraceStatus::Answered);
        // Nobody asked for want of a connection: not settled.
        nobody.nobody_holds = false;
        assert_eq!(trace_status(&nobody, 0, l), TraceStatus::Sent);
        assert_eq!(trace_status(&nobody, 100, l), TraceStatus::TimedOut);
    }
}
