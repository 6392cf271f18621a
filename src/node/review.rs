//! Human review: requests the policy sends to a person (the inbox), their
//! decisions, and the alerts raised when another State traces a weapon this
//! node holds as lost or stolen.

use libp2p::PeerId;

use super::responder::outcome_words;
use super::{Node, answer, identity, inbox, policy, unix_now};
use crate::audit::{AuditKind, NewEntry};
use crate::protocol::{self, Digest, Outcome, Refusal, Reply, Signed, TraceQuery};

/// Why an inbox decision could not be made or delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    #[error(
        "no inbox item {0}; `tracenet inbox` (GET /v1/inbox) lists them, each by its id of 16 hexadecimal digits"
    )]
    NoSuchItem(String),
    #[error("inbox item {0} was already decided")]
    AlreadyDecided(String),
    #[error(
        "inbox item {id}: the requester's time-to-live ended {ago} s ago; it can no longer be answered"
    )]
    Expired { id: String, ago: u64 },
    #[error("approve or refuse, not both")]
    BothOrNeither,
    #[error("a bootstrap node has no registry")]
    NoRegistry,
    #[error(
        "the roster has expired: nothing can be decided until the next roster is installed with `tracenet roster install FILE`"
    )]
    RosterExpired,
    #[error("{0} is no longer a member of the roster: its request cannot be answered")]
    RequesterRemoved(crate::model::CountryCode),
    #[error("inbox item {id} is unreadable: {detail}")]
    Corrupt { id: String, detail: String },
    #[error("the decision cannot be recorded: {0}")]
    Storage(String),
    /// The decision is recorded and signed; the requester gets it on its next
    /// retry (`tracenet trace retry` there).
    #[error(
        "decision recorded, but the answer could not be delivered ({reason}); the requester receives it when it retries"
    )]
    NotDelivered {
        item: Box<inbox::InboxItem>,
        reason: String,
    },
}

impl Node {
    /// Puts a request in the inbox, on disk before the acknowledgement leaves.
    pub(super) fn to_inbox(
        &self,
        q: &Signed<TraceQuery>,
        reason: policy::ReviewReason,
        acknowledgement: &[u8],
    ) -> Result<(), Refusal> {
        let b = q.body();
        let now_ms = super::unix_now_ms();
        let item = inbox::InboxItem {
            id: inbox_id(q),
            received_at: now_ms / 1000,
            received_at_ms: Some(now_ms),
            deadline: b.issued_at.saturating_add(u64::from(b.ttl_secs)),
            reason,
            requester: b.requester.state,
            peer: identity::peer_id_of(&b.requester.key)
                .ok_or(Refusal::Malformed)?
                .to_string(),
            query: q.bytes().to_vec(),
            status: inbox::InboxStatus::Pending,
            answer: Some(acknowledgement.to_vec()),
        };
        self.inner.inbox.put_new(&item).map_err(|e| match e {
            inbox::InboxError::Changed(_) => Refusal::Replayed,
            e => {
                self.store_failed(&e.to_string());
                Refusal::AuditUnavailable
            }
        })
    }

    /// The answer recorded in the inbox for the query of `digest`, if any.
    /// (The item's id is [`inbox_id`].)
    pub(super) fn inbox_answer(&self, digest: &Digest) -> Option<Vec<u8>> {
        let id = &digest.to_hex()[..16];
        let item = self.inner.inbox.get(id).ok().flatten()?;
        // The id is a prefix of the digest: the item must be this very query.
        (Digest::of(&item.query) == *digest).then_some(item.answer?)
    }

    /// Raises an alert when another State's trace matches a record this node
    /// holds as lost or stolen: its owner learns the weapon was found. At
    /// most [`inbox::ALERTS_PER_TRACE`] a trace; the last counts the rest
    /// (one log line for them). Written unflushed: the audit flush before
    /// the answer leaves takes them to disk ([`inbox::Inbox::raise_all`]),
    /// so an answer that raised alerts leaves no later than one that did not.
    pub(super) fn raise_alerts<'a>(
        &self,
        q: &TraceQuery,
        digest: Digest,
        found: impl IntoIterator<Item = &'a crate::registry::Candidate>,
    ) {
        let day = unix_now() / 86_400;
        let mut raised = Vec::new();
        for c in found {
            let Some(e) = c.record.events.iter().rev().find(|e| e.kind.is_diversion()) else {
                continue;
            };
            // One alert per record, requesting State and day: repeated
            // traces of one weapon cost no more writes, flushes or log lines.
            // Marked below, once raised: a record only counted in `more`
            // is raised by the next trace that matches it.
            let first_today = self.inner.alerted.lock().is_ok_and(|seen| {
                seen.get(&(c.record.id.to_string(), q.requester.state)) != Some(&day)
            });
            if !first_today {
                continue;
            }
            let alert = inbox::Alert {
                at: unix_now(),
                requester: q.requester.state,
                record: c.record.id.to_string(),
                marking: c.record.marking.clone(),
                kind: e.kind,
                date: e.date,
                trace: Some(q.id.to_hex()),
                digest: Some(digest.to_hex()),
                more: None,
            };
            raised.push(alert);
        }
        if raised.is_empty() {
            return;
        }
        let raised = inbox::bounded(raised);
        if let Ok(mut seen) = self.inner.alerted.lock() {
            if seen.len() >= 10_000 {
                seen.retain(|_, d| *d == day);
            }
            for a in &raised {
                seen.insert((a.record.clone(), a.requester), day);
            }
        }
        for a in &raised {
            tracing::warn!(record = %a.record, requester = %a.requester, "a weapon recorded as {} here was traced", a.kind);
        }
        if let Some(more) = raised.last().and_then(|a| a.more) {
            tracing::warn!(requester = %q.requester.state, more, "more weapons recorded as lost or stolen here matched the same trace; not raised one by one");
        }
        if let Err(err) = self.inner.inbox.raise_all(&raised) {
            tracing::error!(error = %err, "cannot store an alert");
        }
    }

    pub fn inbox(&self) -> &inbox::Inbox {
        &self.inner.inbox
    }

    /// Decides an inbox item: approve (disclosing at `disclose`, or the policy's
    /// level for the requester) or refuse with a reason code; signs the answer,
    /// records it (the item, the audit entry, the answer cache) and sends it to
    /// the requester. A failed delivery leaves the decision recorded and
    /// deliverable on the requester's retry.
    pub async fn decide(
        &self,
        id: &str,
        approve: Option<Option<policy::Disclosure>>,
        refuse: Option<protocol::WithheldReason>,
        officer: Option<String>,
    ) -> Result<inbox::InboxItem, DecideError> {
        let node = self.clone();
        let id_owned = id.to_string();
        let (item, peer, bytes) = tokio::task::spawn_blocking(move || {
            node.decide_now(&id_owned, approve, refuse, officer)
        })
        .await
        .map_err(|e| DecideError::Storage(e.to_string()))??;
        let reason = match self.inner.net.request(peer, bytes).await {
            Ok(reply) => match Reply::decode(&reply, self.inner.rules.limits) {
                Ok(Reply::Ok) => return Ok(item),
                Ok(Reply::Refused(code)) => format!("the requester refused it: {code}"),
                _ => "the requester's reply is unreadable".to_string(),
            },
            Err(e) => e.to_string(),
        };
        Err(DecideError::NotDelivered {
            item: Box::new(item),
            reason,
        })
    }

    /// The decision's blocking part: lookup, signature and records.
    fn decide_now(
        &self,
        id: &str,
        approve: Option<Option<policy::Disclosure>>,
        refuse: Option<protocol::WithheldReason>,
        officer: Option<String>,
    ) -> Result<(inbox::InboxItem, PeerId, Vec<u8>), DecideError> {
        let storage = |e: &dyn std::fmt::Display| DecideError::Storage(e.to_string());
        let mut item = self
            .inner
            .inbox
            .get(id)
            .map_err(|e| storage(&e))?
            .ok_or_else(|| DecideError::NoSuchItem(id.to_string()))?;
        if item.status != inbox::InboxStatus::Pending {
            return Err(DecideError::AlreadyDecided(id.to_string()));
        }
        let read = item.clone();
        let now = unix_now();
        if now > item.deadline {
            return Err(DecideError::Expired {
                id: id.to_string(),
                ago: now - item.deadline,
            });
        }
        let corrupt = |detail: &str| DecideError::Corrupt {
            id: id.to_string(),
            detail: detail.to_string(),
        };
        let q = super::decode_stored::<TraceQuery>(&item.query, self.inner.rules.limits)
            .ok_or_else(|| corrupt("its query cannot be decoded"))?;
        {
            // Decided under the roster in force, for a State still in it.
            use crate::protocol::Vouching;
            let members = self.read_members();
            if now > members.valid_until() {
                return Err(DecideError::RosterExpired);
            }
            if members.state_of(&q.requester.key) != Some(q.requester.state) {
                return Err(DecideError::RequesterRemoved(q.requester.state));
            }
        }
        let (outcome, status) = match (approve, refuse) {
            (Some(level), None) => {
                let reg = self
                    .inner
                    .registry
                    .as_ref()
                    .ok_or(DecideError::NoRegistry)?;
                // Confidential records are disclosed on approval only of a
                // request sent to a person for them, of an exact serial: a
                // wildcard, or a request reviewed for another reason (urgent,
                // outside the groups), is looked up as the automatic answer
                // would be, with them out of sight (a hostile member's review:
                // an urgent `SE*` approved disclosed SECRET99 in full).
                let hide = answer::hides_confidential(&self.inner.policy, &q)
                    || item.reason != super::policy::ReviewReason::Confidential;
                let found = answer::lookup(reg, &q, hide).map_err(|e| storage(&e))?;
                let wildcard = q.marking.has_wildcards();
                let level = level.unwrap_or_else(|| {
                    self.inner
                        .policy
                        .disclosure
                        .disclosure_for(q.requester.state)
                });
                // A person may disclose up to what an answer carries, more
                // than the policy's `max_candidates`; beyond, their count.
                let outcome = if found.capped {
                    // The find stopped before it counted every match.
                    answer::too_many(answer::COUNT_CAP)
                } else if found.matched == 0
                    && (if wildcard {
                        found.confidential_in_scope
                    } else {
                        found.hidden > 0
                    })
                {
                    // Only confidential records matched (or, for a wildcard,
                    // might have: the answer must not tell which): withheld.
                    // The request was acknowledged, so silence now would read
                    // as pending, and no_hit would be false.
                    Outcome::Withheld {
                        reason: protocol::WithheldReason::NationalLaw,
                    }
                } else if found.matched == 0 {
                    Outcome::NoHit
                } else if found.matched > crate::protocol::MAX_CANDIDATES {
                    answer::too_many(found.matched)
                } else {
                    answer::disclosed(&found.candidates, level)
                };
                let status = inbox::InboxStatus::Approved {
                    at: now,
                    disclose: level,
                };
                (outcome, status)
            }
            (None, Some(reason)) => (
                Outcome::Withheld { reason },
                inbox::InboxStatus::Refused { at: now, reason },
            ),
            _ => return Err(DecideError::BothOrNeither),
        };
        let digest = Digest::of(&item.query);
        // Made to fit what can be delivered: a decision disclosing a long
        // life, or many records, is trimmed or counted, never undeliverable.
        let (outcome, bytes) = self.sign_answer(digest, outcome).map_err(|r| storage(&r))?;
        let (word, _) = outcome_words(&outcome);
        let peer: PeerId = item
            .peer
            .parse()
            .map_err(|_| corrupt("it names an unreadable peer"))?;
        item.status = status;
        item.answer = Some(bytes.clone());
        self.inner
            .inbox
            .replace(&read, &item)
            .map_err(|e| match e {
                inbox::InboxError::Changed(_) => DecideError::AlreadyDecided(id.to_string()),
                e => storage(&e),
            })?;
        self.record(
            AuditKind::Decision,
            NewEntry {
                peer: Some(item.peer.clone()),
                state: Some(item.requester),
                query: Some(digest.to_hex()),
                outcome: Some(word.into()),
                rule: Some("human_decision".into()),
                officer,
            },
            true,
        )
        .map_err(|e| storage(&e))?;
        // The decision replaces the acknowledgement a retry would get.
        self.remember_answer(&q, digest, &bytes);
        Ok((item, peer, bytes))
    }
}

/// The inbox id of the item a query becomes: the first 16 hex digits of its
/// digest.
pub(super) fn inbox_id(q: &Signed<TraceQuery>) -> String {
    q.digest().to_hex()[..16].to_string()
}
