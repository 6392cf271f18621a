//! Signed refusals: a query that verified (its signature, its requester's
//! roster membership, its sender when directed) but is refused for a reason
//! that is no fault of its requester (its clock, this node's rate limit,
//! replay quota or load) is answered with a signed `refused` and the reason,
//! so that the requester is never left to wait out its timeout. Bounded per
//! requesting State and once per query ([`super::limits::RefusalBudget`]):
//! a flood earns silence, as before. Nothing that did not verify is signed.

use std::time::Instant;

use libp2p::PeerId;

use super::limits::Unsigned;
use super::responder::outcome_words;
use super::{Node, bump, identity, unix_now};
use crate::audit::{AuditKind, NewEntry};
use crate::protocol::accept::{self, Via};
use crate::protocol::{Outcome, Refusal, RefusedReason, Signed, TraceQuery};

/// A verified query refused, and what its requester is to be told.
pub(super) struct Declined {
    pub(super) query: Signed<TraceQuery>,
    pub(super) refusal: Refusal,
    pub(super) reason: RefusedReason,
    pub(super) retry_after_secs: u32,
}

impl Declined {
    /// `None` for a refusal that has no reason to give in a signed answer
    /// (see [`Refusal::refused_reason`]).
    pub(super) fn new(
        refusal: Refusal,
        query: Signed<TraceQuery>,
        retry_after_secs: u32,
    ) -> Option<Self> {
        Some(Declined {
            reason: refusal.refused_reason()?,
            query,
            refusal,
            retry_after_secs,
        })
    }
}

impl Node {
    /// Tells the requester of a verified query why it was refused, in a
    /// signed `refused` answer, audited (`answer_sent`, outcome `refused`,
    /// rule the reason) and flushed before it leaves. At most one per query
    /// and a bounded number per requesting State a minute (see
    /// [`super::limits::RefusalBudget`]): past that, nothing is signed and
    /// the requester is told nothing, as a flood deserves. `None` then, for
    /// this node's own query, or if the audit cannot be written.
    pub(super) fn refusal_answer(&self, d: &Declined) -> Option<(PeerId, Vec<u8>)> {
        let q = &d.query;
        let b = q.body();
        if b.requester.key == self.inner.key.public_key() {
            return None;
        }
        let budget = self
            .inner
            .refusals
            .lock()
            .map(|mut r| r.admit(b.requester.state, q.digest(), Instant::now()))
            .unwrap_or(Err(Unsigned::OverBudget));
        match budget {
            Ok(()) => {}
            Err(Unsigned::OverBudget) => {
                bump(&self.inner.counters.refusals_unsigned);
                return None;
            }
            Err(Unsigned::AlreadyRefused) => return None,
        }
        let peer = identity::peer_id_of(&b.requester.key)?;
        let outcome = Outcome::Refused {
            reason: d.reason,
            retry_after_secs: d.retry_after_secs,
        };
        let (outcome, bytes) = self.sign_answer(q.digest(), outcome).ok()?;
        self.record(
            AuditKind::AnswerSent,
            NewEntry {
                officer: None,
                peer: Some(peer.to_string()),
                state: Some(b.requester.state),
                query: Some(q.digest().to_hex()),
                outcome: Some(outcome_words(&outcome).0.into()),
                rule: Some(d.reason.code().into()),
            },
            true,
        )
        .ok()?;
        self.count_answer(&outcome);
        tracing::debug!(requester = %b.requester.state, reason = d.reason.code(), refusal = %d.refusal, "a verified query refused with a signed answer");
        Some((peer, bytes))
    }

    /// A query that arrived while this node answers all it can at once: if a
    /// refusal can be spared (a few at a time, within the refusal budget),
    /// the query is verified and its requester told `overloaded` in a
    /// signed answer; otherwise nothing is done with it, as before. A
    /// gossiped one read on a topic its marking does not route to (`on`)
    /// is not told anything, as it would not be answered.
    pub(super) async fn decline_overloaded(
        &self,
        data: Vec<u8>,
        via: Via,
        from: PeerId,
        on: Option<crate::net::Topic>,
    ) -> Option<(PeerId, Vec<u8>)> {
        let _permit = self.inner.refusing.clone().try_acquire_owned().ok()?;
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            // A refusal this node would not sign (the claimed State's signed
            // refusals spent, or this query refused with one) ends as a
            // plain `overloaded` whatever the check finds: not checked.
            let now = unix_now();
            let unsigned = {
                let members = node.read_members();
                accept::peek_query(&data, now, &node.inner.rules, &*members)
            }
            .and_then(|q| {
                node.inner.refusals.lock().ok()?.would_not_sign(
                    q.requester.state,
                    &crate::protocol::Digest::of(&data),
                    Instant::now(),
                )
            });
            if unsigned.is_some() {
                return None;
            }
            let checked = node.check_query(&data, via, now);
            // Not counted against anyone: under load, a frame that does not
            // verify is simply dropped, as every query was before.
            let (query, _) = checked.ok()?;
            if let Some(t) = &on
                && !super::holders::routes_of(&query.body().marking, &node.read_makers().table)
                    .0
                    .contains(t)
            {
                return None;
            }
            node.count_refusal(
                &from.to_string(),
                Some(query.body().requester.state),
                Refusal::Overloaded,
            );
            let d = Declined::new(Refusal::Overloaded, query, 0)?;
            node.refusal_answer(&d)
        })
        .await
        .ok()
        .flatten()
    }
}
