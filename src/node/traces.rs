//! Outgoing traces, kept in sled so that they survive a restart: the signed
//! query, who was asked, every signed answer as received, and the officer's
//! local case notes (which never leave the node).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::b64;
use crate::model::CountryCode;
use crate::registry::NationalText;

mod store;
#[cfg(test)]
mod tests;
pub use store::{Cursor, TraceStore, TraceStoreError};

/// Where a trace stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceStatus {
    /// Sent; waiting for expected holders (some may be unreachable: the
    /// query is delivered to them when they reconnect).
    Sent,
    /// At least one State acknowledged and a person there will decide.
    Acknowledged,
    /// Every expected holder has given a final answer, or none is expected
    /// (no member is known to hold records under the marking's prefix).
    Answered,
    /// Settled with some expected holders' answers missing or refused: the
    /// deadline passed with a final answer from some but not all, or every
    /// expected holder answered and at least one refused (the gaps say who
    /// and why).
    Partial,
    /// The deadline passed with no final answer at all.
    TimedOut,
}

/// Why a member is expected to answer a trace (NETWORK.md, "Expected holders").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedBy {
    /// Subscribed to one of the trace's topics when it was sent.
    Subscribed,
    /// The roster lists the trace's marking prefix among the member's prefixes.
    RosterPrefix,
    /// The member is the State of one of the weapon's import marks.
    ImportMark,
    /// Seen subscribed to one of the trace's topics within the remembered window.
    SeenSubscribed,
    /// The chain of custody points at its State (a directed follow-up).
    FollowUp,
    /// It answered without having been expected (it subscribed after the
    /// trace was sent).
    Answered,
    /// A blind trace's probe hit its keyed filter (or the officer chose to
    /// send it in the clear): it was sent the signed query.
    BlindHit,
}

/// One expected holder of a trace: asked by gossip, directly, or waiting to
/// be asked the moment it reconnects (store-and-forward).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    pub peer: String,
    pub state: Option<CountryCode>,
    /// Set while the peer cannot be reached: offline when the trace was sent,
    /// disconnected since, or a directed request to it failed. The query is
    /// delivered to it directly when it reconnects, until the deadline.
    #[serde(default)]
    pub unreachable: Option<String>,
    /// Unix seconds since which it has been unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::model::instant::option")]
    pub unreachable_since: Option<u64>,
    /// Why it is expected to answer; empty for traces stored before this was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_by: Vec<ExpectedBy>,
    /// The code of its reply to a directed query that carried no answer
    /// (`not_answered`, `replayed`, ...): it is reachable and said nothing
    /// more; asked again only by `trace retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declined: Option<String>,
}

impl Asked {
    pub fn new(peer: String, state: CountryCode, why: ExpectedBy) -> Asked {
        Asked {
            peer,
            state: Some(state),
            unreachable: None,
            unreachable_since: None,
            expected_by: vec![why],
            declined: None,
        }
    }

    /// Marks it unreachable for `why` since `now`, keeping the first instant.
    pub fn set_unreachable(&mut self, why: String, now: u64) {
        if self.unreachable.is_none() {
            self.unreachable_since = Some(now);
        }
        self.unreachable = Some(why);
    }

    pub fn set_reachable(&mut self) {
        self.unreachable = None;
        self.unreachable_since = None;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub peer: String,
    #[serde(with = "crate::model::instant")]
    pub received_at: u64,
    /// The signed answer frame exactly as received.
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
    /// The version of the roster that vouched for the signing key when the
    /// answer was received; it is judged by that version ever after. `None`
    /// for answers stored before versions were recorded.
    #[serde(default)]
    pub roster_version: Option<u64>,
}

/// What only this node knows about its own trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCase {
    pub case: Option<NationalText>,
    pub note: Option<NationalText>,
    /// The officer who sent the trace through the console (none from the
    /// CLI or the API). Like the case, never sent.
    #[serde(default)]
    pub officer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTrace {
    /// The query id, hex.
    pub id: String,
    #[serde(with = "crate::model::instant")]
    pub created_at: u64,
    /// The same instant in milliseconds, for latency figures.
    #[serde(default)]
    pub created_at_ms: Option<u64>,
    #[serde(with = "crate::model::instant")]
    pub deadline: u64,
    /// The signed query frame as sent.
    #[serde(with = "b64")]
    pub query: Vec<u8>,
    pub topics: Vec<String>,
    pub asked: Vec<Asked>,
    pub answers: Vec<StoredAnswer>,
    #[serde(default)]
    pub local: LocalCase,
    /// Unix seconds at which each peer's first acknowledgement and final answer
    /// arrived: the timeliness figures.
    #[serde(default)]
    #[serde(with = "crate::model::instant::map")]
    pub first_ack: BTreeMap<String, u64>,
    #[serde(default)]
    #[serde(with = "crate::model::instant::map")]
    pub final_at: BTreeMap<String, u64>,
    /// States a directed follow-up was sent to, along the chain of custody.
    #[serde(default)]
    pub followed_up: Vec<CountryCode>,
    /// What this node's own registry holds under the trace's marking, looked
    /// up when the trace was sent (a projection, as another State would
    /// disclose it in full); `None` when it holds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_registry: Option<crate::protocol::Outcome>,
    /// No member was expected to hold records under the trace's prefix while
    /// this node was connected to the federation: it settled at once, asking
    /// nobody. (Connected to no member, nobody is asked either, but the
    /// trace waits: a retry asks the expected holders once connected.)
    #[serde(default)]
    pub nobody_holds: bool,
    /// How long the trace waits for answers, in seconds, as sent (a retry
    /// reopens it for as long); `None` for traces stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// A blind trace (proto-docs/BLIND.md): each expected holder, whether it
    /// was asked blind, hit, and received the marking. `None`: a clear trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind: Option<super::blind::BlindTrace>,
    /// The verdict on each filed answer, in the order the head recorded
    /// them (not always the order of `answers`, and not one to one with
    /// them: an answer that a rewritten store could not decode has none).
    /// Written once, when the answer was verified on receipt, and read by
    /// status views and the next answer's checks instead of the frames.
    /// Empty only for a trace built in memory before any answer was filed
    /// this way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filed: Vec<Filed>,
}

/// What one filed answer said, as status views and filing need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Said {
    /// A final answer with records, without, or too many to list.
    Final,
    /// A final answer: a record matches, its details withheld for `reason`
    /// (to a serial with wildcards, perhaps none does: `custody::Gap::Withheld`).
    Withheld { reason: String },
    /// Received; a person there decides.
    Acknowledged,
    /// Received and refused for `reason`; a retry may be answered from
    /// `retry_after_secs` after `answered_at` (0: no time given).
    Refused {
        reason: String,
        retry_after_secs: u32,
    },
}

impl Said {
    pub fn of(o: &crate::protocol::Outcome) -> Said {
        use crate::protocol::Outcome;
        match o {
            Outcome::Withheld { reason } => Said::Withheld {
                reason: reason.code().to_string(),
            },
            Outcome::Acknowledged => Said::Acknowledged,
            Outcome::Refused {
                reason,
                retry_after_secs,
            } => Said::Refused {
                reason: reason.code().to_string(),
                retry_after_secs: *retry_after_secs,
            },
            Outcome::Hit { .. }
            | Outcome::NoHit
            | Outcome::TooMany { .. }
            | Outcome::Trimmed { .. } => Said::Final,
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, Said::Final | Said::Withheld { .. })
    }
}

/// The verdict on one answer, kept in the trace beside who was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filed {
    pub peer: String,
    /// The State the answer's verified key speaks for.
    pub state: CountryCode,
    /// Hex SHA-256 of the signed frame: the same frame again is the same answer.
    pub frame: String,
    /// When the responder signed it (unix seconds).
    #[serde(with = "crate::model::instant")]
    pub answered_at: u64,
    pub said: Said,
}

impl Filed {
    /// The verdict on a frame this node verified on receipt (or stored
    /// before verdicts were kept); `None` if it cannot be decoded.
    pub fn of_frame(peer: &str, bytes: &[u8], limits: crate::protocol::Limits) -> Option<Filed> {
        let b = super::decode_stored::<crate::protocol::TraceAnswer>(bytes, limits)?;
        Some(Filed {
            peer: peer.to_string(),
            state: b.responder.state,
            frame: crate::protocol::Digest::of(bytes).to_hex(),
            answered_at: b.answered_at,
            said: Said::of(&b.outcome),
        })
    }
}

impl StoredTrace {
    /// Whether `peer` is a holder this trace handed its query by gossip (an
    /// `asked` entry expected as subscribed, not known unreachable, not
    /// declined) that has said nothing yet: no acknowledgement, answer or
    /// final answer. Reads `peer`'s own entries alone (its holder's part in
    /// the store), so a change to one holder's part changes this for that
    /// holder only. Says nothing of the deadline.
    pub fn silent_handed(&self, peer: &str) -> bool {
        self.asked.iter().any(|a| {
            a.peer == peer
                && a.expected_by.contains(&ExpectedBy::Subscribed)
                && a.unreachable.is_none()
                && a.declined.is_none()
        }) && !self.first_ack.contains_key(peer)
            && !self.final_at.contains_key(peer)
            && !self.filed.iter().any(|f| f.peer == peer)
    }

    /// Every holder [`Self::silent_handed`] holds for, once each, in one
    /// pass over the trace (not one per holder).
    pub fn silent_handed_peers(&self) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> = self
            .asked
            .iter()
            .filter(|a| {
                a.expected_by.contains(&ExpectedBy::Subscribed)
                    && a.unreachable.is_none()
                    && a.declined.is_none()
            })
            .map(|a| a.peer.as_str())
            .collect();
        for f in &self.filed {
            out.remove(f.peer.as_str());
        }
        out.retain(|p| !self.first_ack.contains_key(*p) && !self.final_at.contains_key(*p));
        out
    }

    /// Whether the trace still waits on `peer` (a peer id in text): it asked
    /// `peer` and has no final answer from it, or a blind trace's probe of
    /// `peer` has not ended (pending, or unreachable). What a peer event or
    /// the maintenance minute does for a trace and a peer (deliver the
    /// query again, mark the holder unreachable, probe it blind) is done
    /// only where this holds; once it holds for no peer (every holder asked
    /// gave its final answer), nothing is left to do for the trace until
    /// its deadline but expire it.
    pub fn waits_on(&self, peer: &str) -> bool {
        (self.asked.iter().any(|a| a.peer == peer) && !self.final_at.contains_key(peer))
            || self.blind.iter().flat_map(|b| &b.holders).any(|h| {
                h.peer == peer
                    && matches!(
                        h.outcome,
                        super::blind::BlindOutcome::Pending
                            | super::blind::BlindOutcome::Unreachable
                    )
            })
    }

    /// Every peer [`Self::waits_on`] holds for, once each, in one pass over
    /// the trace (not one per peer: a trace of 200 holders is read whole
    /// from the store in bursts, and this runs each time).
    pub fn peers_waited_on(&self) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> = self
            .asked
            .iter()
            .map(|a| a.peer.as_str())
            .filter(|p| !self.final_at.contains_key(*p))
            .collect();
        out.extend(
            self.blind
                .iter()
                .flat_map(|b| &b.holders)
                .filter(|h| {
                    matches!(
                        h.outcome,
                        super::blind::BlindOutcome::Pending
                            | super::blind::BlindOutcome::Unreachable
                    )
                })
                .map(|h| h.peer.as_str()),
        );
        out
    }

    /// The verdicts on its answers: those kept, or (for a trace built in
    /// memory without them) decoded from the frames.
    pub fn verdicts(&self, limits: crate::protocol::Limits) -> std::borrow::Cow<'_, [Filed]> {
        if !self.filed.is_empty() || self.answers.is_empty() {
            return std::borrow::Cow::Borrowed(&self.filed);
        }
        std::borrow::Cow::Owned(
            self.answers
                .iter()
                .filter_map(|a| Filed::of_frame(&a.peer, &a.bytes, limits))
                .collect(),
        )
    }

    /// Records follow-ups to the candidate States (each with the peer that
    /// speaks for it) that were neither asked nor followed up before;
    /// returns the States chosen. `calls` holds, per State whose records
    /// are in the chain of custody, the States its records say the weapon
    /// was exported to: each such State's records call for at most `max`
    /// follow-ups (one called for by two counts for both), so a member whose
    /// answer names States first cannot spend the share of the State whose
    /// records truly continue the chain. A State is asked at most once.
    /// A clear trace lists each as asked (sent the query); a blind one as a
    /// holder to probe ([`super::blind::FOLLOW_UP_DETAIL`], pending since
    /// `now`, unix seconds), never as asked: a holder listed as asked is
    /// sent the signed query, and so the marking, by whatever delivers to
    /// it (a reconnection, a restart) before its probe has said whether its
    /// filter holds the weapon.
    pub fn add_follow_ups(
        &mut self,
        candidates: &[(CountryCode, libp2p::PeerId)],
        calls: &BTreeMap<CountryCode, BTreeSet<CountryCode>>,
        max: usize,
        now: u64,
    ) -> Vec<CountryCode> {
        let mut chosen = Vec::new();
        for (state, peer) in candidates {
            let already = self.followed_up.contains(state)
                || self.asked.iter().any(|a| a.state == Some(*state));
            let followed = &self.followed_up;
            let a_share_left = calls.values().any(|named| {
                named.contains(state) && followed.iter().filter(|f| named.contains(f)).count() < max
            });
            if already || !a_share_left {
                continue;
            }
            self.followed_up.push(*state);
            let p = peer.to_string();
            match self.blind.as_mut() {
                Some(b) => {
                    if !b.holders.iter().any(|h| h.peer == p) {
                        b.holders.push(super::blind::BlindHolder {
                            peer: p,
                            state: Some(*state),
                            outcome: super::blind::BlindOutcome::Pending,
                            detail: Some(super::blind::FOLLOW_UP_DETAIL.into()),
                            elements: 0,
                            received_marking: false,
                            at: Some(now),
                        });
                    }
                }
                None => self.asked.push(Asked::new(p, *state, ExpectedBy::FollowUp)),
            }
            chosen.push(*state);
        }
        // Someone is asked now: the trace no longer says nobody holds the
        // weapon (a follow-up of the own registry's export, where no
        // member held the prefix), and is not adopted as one that waits
        // for a holder.
        if !chosen.is_empty() {
            self.nobody_holds = false;
        }
        chosen
    }
}

#[cfg(test)]
mod follow_up_tests {
    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    /// A trace with no answers that asked `asked`.
    fn trace(asked: Vec<Asked>) -> StoredTrace {
        StoredTrace {
            id: "t".into(),
            created_at: 0,
            created_at_ms: None,
            deadline: 10,
            query: Vec::new(),
            topics: Vec::new(),
            asked,
            answers: Vec::new(),
            local: LocalCase::default(),
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
    fn follow_ups_skip_asked_states_and_stop_at_the_budget() {
        let mut t = trace(vec![Asked::new(
            "p-de".into(),
            cc("DE"),
            ExpectedBy::Subscribed,
        )]);
        let p = libp2p::PeerId::random();
        let cands = [(cc("DE"), p), (cc("NG"), p), (cc("GH"), p), (cc("ZA"), p)];
        let calls = BTreeMap::from([(cc("DE"), BTreeSet::from([cc("NG"), cc("GH"), cc("ZA")]))]);
        assert_eq!(
            t.add_follow_ups(&cands, &calls, 2, 0),
            vec![cc("NG"), cc("GH")]
        );
        // Twice the same answer never follows up twice.
        assert!(t.add_follow_ups(&cands, &calls, 2, 0).is_empty());
        assert_eq!(t.asked.len(), 3);
        assert_eq!(t.add_follow_ups(&cands, &calls, 3, 0), vec![cc("ZA")]);
    }

    /// A blind trace's follow-up is a holder to probe, never one listed as
    /// asked (which would be sent the signed query, and so the marking, by
    /// a reconnection or a restart before its probe).
    #[test]
    fn a_blind_traces_follow_up_is_probed_never_listed_as_asked() {
        let mut t = trace(Vec::new());
        t.blind = Some(super::super::blind::BlindTrace {
            bound: 1,
            holders: Vec::new(),
        });
        let p = libp2p::PeerId::random();
        let calls = BTreeMap::from([(cc("DE"), BTreeSet::from([cc("NG")]))]);
        assert_eq!(
            t.add_follow_ups(&[(cc("NG"), p)], &calls, 2, 1_000),
            vec![cc("NG")]
        );
        assert!(t.asked.is_empty(), "{:?}", t.asked);
        let b = t.blind.as_ref().unwrap();
        assert_eq!(b.holders.len(), 1);
        let h = &b.holders[0];
        assert_eq!(
            (h.peer.clone(), h.state, h.outcome, h.received_marking, h.at),
            (
                p.to_string(),
                Some(cc("NG")),
                super::super::blind::BlindOutcome::Pending,
                false,
                Some(1_000)
            )
        );
        // Never twice.
        assert!(
            t.add_follow_ups(&[(cc("NG"), p)], &calls, 2, 1_001)
                .is_empty()
        );
    }

    /// A member whose answer names four States first spends its own share,
    /// not the share of the State whose records truly continue the chain:
    /// that State's export is still followed up.
    #[test]
    fn a_members_answer_spends_only_its_own_share_of_follow_ups() {
        let mut t = trace(Vec::new());
        let p = libp2p::PeerId::random();
        let decoys = [cc("AR"), cc("BR"), cc("CL"), cc("PE")];
        let mut calls = BTreeMap::from([(cc("VE"), decoys.iter().copied().collect())]);
        let cands: Vec<_> = decoys.iter().map(|s| (*s, p)).collect();
        assert_eq!(t.add_follow_ups(&cands, &calls, 4, 0), decoys.to_vec());
        // The true exporter answers next: its export to NG is followed up,
        // though four follow-ups were sent already.
        calls.insert(cc("DE"), BTreeSet::from([cc("NG")]));
        let cands = [(cc("NG"), p)];
        assert_eq!(t.add_follow_ups(&cands, &calls, 4, 0), vec![cc("NG")]);
        // The member's fifth named State is not.
        calls.get_mut(&cc("VE")).unwrap().insert(cc("UY"));
        assert!(t.add_follow_ups(&[(cc("UY"), p)], &calls, 4, 0).is_empty());
    }
}
