//! Incoming queries: admission (the rules of `protocol::accept`, then the rate
//! limit, then the replay quota, in that order), the registry lookup, the
//! policy, the signature, the audit entry, and delivery. No answer leaves
//! unless its audit entry is on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use libp2p::PeerId;

use super::admission::Verdict as Standing;
use super::refusing::Declined;
use super::{Node, answer, bump, identity, unix_now};
use crate::audit::{AuditKind, NewEntry};
use crate::model::CountryCode;
use crate::net::{GossipId, Topic, Verdict};
use crate::protocol::accept::{self, Via};
use crate::protocol::{
    Digest, Kind, Outcome, Party, Refusal, ReplayError, Reply, Signed, TraceAnswer, TraceQuery,
};

/// A query that passed admission, or why it stops here.
enum Admission {
    /// New and remembered: answer it.
    Fresh(Signed<TraceQuery>),
    /// Already received. For its own requester's directed retry, the answer
    /// given before (if any) goes again.
    Seen(Signed<TraceQuery>),
    Refused(Refusal),
    /// Verified, and refused for a reason that is no fault of its requester
    /// (its clock, this node's limits): the requester may be told why in a
    /// signed answer (see [`Node::refusal_answer`]).
    Declined(Box<Declined>),
}

impl Admission {
    /// A refusal, declined with a signed answer if the query verified and the
    /// refusal has a reason to give.
    fn refused(r: Refusal, verified: Option<Signed<TraceQuery>>, retry_after_secs: u32) -> Self {
        match verified.and_then(|q| Declined::new(r, q, retry_after_secs)) {
            Some(d) => Admission::Declined(Box::new(d)),
            None => Admission::Refused(r),
        }
    }
}

/// One in this many queries [`Node::refused_unchecked`] would refuse
/// unchecked is checked in full: a forged one then earns its strike.
pub(super) const UNCHECKED_SAMPLE: u64 = 16;

/// Whether a refused query counts against the peer it came from (its
/// standing, gossip's `Reject`): a hostile refusal, except a gossiped
/// query's author missing from this node's roster. The peer only passed it
/// on, having found the author in its own roster: during a roster change,
/// members hold different versions for up to a day, and honest relays were
/// struck, cooled down and scored down for a removed or new member's
/// queries (a hostile member's review).
fn blames_forwarder(r: Refusal, via: Via) -> bool {
    r.is_hostile() && !(via == Via::Gossip && r == Refusal::NotInRoster)
}

impl Node {
    /// A query received by gossip: checked and answered on a blocking
    /// thread under the concurrency bound, its verdict passed to gossip
    /// exactly once ([`verdict_then_answer`]).
    pub(super) fn on_query_gossip(&self, id: GossipId, topic: Topic, data: Vec<u8>) {
        bump(&self.inner.counters.queries_received);
        let Ok(permit) = self.inner.busy.clone().try_acquire_owned() else {
            // Overloaded: not forwarded, not answered, and no penalty for the
            // sender; its requester is told so if a refusal can be spared.
            bump(&self.inner.counters.queries_overloaded);
            let node = self.clone();
            self.spawn(async move {
                let source = id.source();
                let _ = node.inner.net.validate(id, Verdict::Shed).await;
                if let Some((peer, bytes)) = node
                    .decline_overloaded(data, Via::Gossip, source, Some(topic))
                    .await
                {
                    node.send_answer(peer, bytes).await;
                }
            });
            return;
        };
        let node = self.clone();
        self.spawn(async move {
            let permit = permit;
            let received = Instant::now();
            let source = id.source();
            let n = node.clone();
            let gossip_id = id.clone();
            let others = id.others();
            let reported = Arc::new(AtomicBool::new(false));
            let reported_here = reported.clone();
            // One hand-off to a blocking thread for the whole of it.
            let answered = node
                .answering(move || {
                    let check = || match n.admit_gossip(&data, source, &topic) {
                        Some(Admission::Fresh(q)) => (
                            n.relay_verdict(&q, source, others.as_deref()),
                            (Some(q), None),
                        ),
                        // A query naming the States served, read before
                        // by a directed query (its requester asked this
                        // node, or handed it the trace on reconnecting):
                        // relayed as a first copy would be, since the
                        // directed one could not be passed on by gossip
                        // once gossip held these bytes (`pass_on_directed`).
                        Some(Admission::Seen(q))
                            if q.body().served.is_some()
                                && others.is_some()
                                && q.body().requester.key != n.inner.key.public_key() =>
                        {
                            (n.relay_verdict(&q, source, others.as_deref()), (None, None))
                        }
                        // The same query on a second topic: not forwarded twice.
                        Some(Admission::Seen(_)) | None => (Verdict::Ignore, (None, None)),
                        Some(Admission::Refused(r)) if blames_forwarder(r, Via::Gossip) => {
                            (Verdict::Reject, (None, None))
                        }
                        // Clocks, quotas, load: not the forwarder's fault.
                        // One this node's state decides is shed (a later
                        // copy is read); one the bytes decide (expired,
                        // replayed, off its route) holds for every copy.
                        Some(Admission::Refused(r)) => (refusal_verdict(r), (None, None)),
                        Some(Admission::Declined(d)) => {
                            (refusal_verdict(d.refusal), (None, Some(d)))
                        }
                    };
                    let report = |v| {
                        if received.elapsed() < crate::net::UNJUDGED_KEPT {
                            let _ = n.inner.net.validate_blocking(gossip_id, v);
                        }
                    };
                    let answer =
                        |work: (Option<Signed<TraceQuery>>, Option<Box<Declined>>)| match work {
                            (Some(query), _) => n.respond(&query).ok().flatten(),
                            (None, Some(d)) => n.refusal_answer(&d),
                            (None, None) => None,
                        };
                    verdict_then_answer(check, report, &reported_here, answer)
                })
                .await;
            // The blocking thread panicked (or the runtime is stopping): a
            // message not yet judged is reported shed (not rejected: the
            // fault is this node's); one already passed on keeps its verdict.
            let (later, answer) = answered.unwrap_or_else(|_| {
                let unjudged = !reported.load(Ordering::Acquire);
                (unjudged.then_some(Verdict::Shed), None)
            });
            // Past the time gossip keeps an unjudged message (a long wait
            // for a turn, an answer slowed by the disk), it has dropped it
            // by itself: a report, here or above, would only make it warn.
            if let Some(verdict) = later
                && received.elapsed() < crate::net::UNJUDGED_KEPT
            {
                let _ = node.inner.net.validate(id, verdict).await;
            }
            // The answer is made, audited and kept: the place goes back
            // before its delivery, which waits on its requester's places
            // (`node::delivery`), not on this node's.
            drop(permit);
            if let Some((peer, bytes)) = answer {
                node.send_answer(peer, bytes).await;
            }
        });
    }

    /// Whether a fresh query read by gossip is passed on.
    ///
    /// Where the roster decides the links every member keeps and they make a
    /// full mesh ([`Node::federation_full_mesh`]), the requester keeps a link
    /// to every member and publishes to every one subscribed (gossipsub's
    /// flood publishing), so a copy read from the requester itself has
    /// already reached every holder a relay could: it is delivered here and
    /// not relayed (gossipsub's `Ignore`: no penalty for anyone; the
    /// requester only misses the first-delivery credit gossipsub would give
    /// it here, net::behaviour, which no threshold depends on). Each relay
    /// was a duplicate every other holder decoded and dropped.
    ///
    /// Where the roster states served lists and the links are bounded, a
    /// query stating the States its requester served (`served`, signed with
    /// it: no relay can change it) is passed on only if a peer on the topic
    /// here (`others`, read by the network side as the copy came; an empty
    /// list is no peer) is neither its requester nor the member of a State
    /// served: every served one had its copy from the requester, by its
    /// publish or asked directly. A peer that is not a member State (a
    /// bootstrap peer) counts as not served.
    ///
    /// Either way, a holder the requester served that got nothing (a link
    /// lost as it was sent) is asked directly once silent 5 s, and one whose
    /// link was down gets the trace when it comes back (NETWORK.md,
    /// "Store-and-forward at the requester"). Relayed as before where the
    /// roster leaves the links to each node (a node's own
    /// `node.peer_connections` does not tell it the requester's), for a
    /// query stating no States served, or when the network side gave no
    /// peer list (`others` is `None`: this node's links are a full mesh, or
    /// its roster states no served lists).
    fn relay_verdict(
        &self,
        q: &Signed<TraceQuery>,
        source: PeerId,
        others: Option<&[PeerId]>,
    ) -> Verdict {
        let requester = crate::identity::peer_id_of_signer(&q.body().requester.key);
        let from_requester = requester.is_some_and(|p| p == source);
        if from_requester && self.federation_full_mesh() {
            bump(&self.inner.counters.queries_not_relayed);
            return Verdict::Ignore;
        }
        let (Some(served), Some(others)) = (q.body().served.as_ref(), others) else {
            return Verdict::Accept;
        };
        let members = self.read_members();
        if unserved_peer(served, requester, others, |p| {
            members
                .by_peer
                .get(p)
                .filter(|m| !m.bootstrap)
                .map(|m| m.state)
        }) {
            Verdict::Accept
        } else {
            bump(&self.inner.counters.queries_not_relayed);
            Verdict::Ignore
        }
    }

    /// A directed query stating the States served, fresh here (asked
    /// directly by its requester, or handed it on reconnecting): passed on
    /// by gossip, as this node would relay a gossiped copy
    /// ([`Node::relay_verdict`]), on each of its topics this node is
    /// subscribed to where a peer subscribed here is neither its requester
    /// nor a State served. Such a peer (a holder its requester does not know
    /// of) would otherwise get it from no one: holders that read the
    /// requester's copy relay only toward States not served, and this one
    /// was. Published under this node's gossip identity, with the
    /// requester's signed bytes unchanged, on the query's topics as this
    /// node's maker table routes it. A node not subscribed to a topic (a
    /// State a chain of custody points at, holding nothing under the
    /// prefix) passes nothing on there: it has no mesh on it to relay
    /// along. Where a copy gossip brought here first, the network side does
    /// not publish it again (`NetError::SeenRecently`, not counted as
    /// passed on), and that copy is relayed instead (`on_query_gossip`):
    /// under `payload` validation from its arrival (gossipsub would refuse
    /// the publish), under `strict` once gossipsub took it to relay.
    fn pass_on_directed(&self, q: &Signed<TraceQuery>) {
        let Some(served) = q.body().served.clone() else {
            return;
        };
        let Some(reg) = self.inner.registry.as_ref() else {
            return;
        };
        if !self.links_bounded() {
            return;
        }
        let (topics, _, _) = super::holders::routes_of(&q.body().marking, &reg.makers());
        let requester = crate::identity::peer_id_of_signer(&q.body().requester.key);
        let bytes = q.bytes().to_vec();
        let id = q.body().id.to_hex();
        let node = self.clone();
        self.spawn(async move {
            let Ok(on_topics) = node.inner.net.topic_peers(topics).await else {
                return;
            };
            let to: Vec<Topic> = {
                let members = node.read_members();
                on_topics
                    .into_iter()
                    .filter(|(_, subscribed_here, peers)| {
                        *subscribed_here
                            && unserved_peer(&served, requester, peers, |p| {
                                members.by_peer.get(p).filter(|m| !m.bootstrap).map(|m| m.state)
                            })
                    })
                    .map(|(t, _, _)| t)
                    .collect()
            };
            if to.is_empty() {
                return;
            }
            let outcomes = node
                .inner
                .net
                .pass_on_each(to, bytes)
                .await
                .unwrap_or_default();
            if outcomes.iter().any(Result::is_ok) {
                bump(&node.inner.counters.directed_queries_passed_on);
                tracing::debug!(query = %id, "a directed query passed on by gossip to peers its requester did not serve");
            }
        });
    }

    /// Whether this node sent the query whose frame has digest `digest`:
    /// every query it signs has its digest indexed with its trace before
    /// it leaves, and traces are kept ([`super::key_copies`]). The very
    /// bytes, not the id: another signer could reuse the id of one of this
    /// node's traces. An index that cannot be read says yes: no alarm on a
    /// failing disk.
    fn sent_query(&self, digest: &crate::protocol::Digest) -> bool {
        !matches!(self.inner.by_digest.get(digest.as_bytes()), Ok(None))
    }

    /// A fresh query signed with this node's key that it never sent, read
    /// from `from`: counted once for the metrics and `status`, and logged
    /// at ERROR, at most once a minute ([`super::key_copies`]).
    fn key_copy_seen(&self, from: PeerId, q: &Signed<TraceQuery>, now: u64) {
        let id = q.body().id.to_hex();
        let noted = self
            .inner
            .key_copies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .note(from, q.digest(), id.clone(), now, Instant::now());
        let super::key_copies::Noted::New { log } = noted else {
            return;
        };
        bump(&self.inner.counters.own_key_elsewhere);
        if log {
            tracing::error!(
                query = %id,
                %from,
                "a trace query signed with this node's key, which this node never sent: another process holds a copy of the key and speaks for this State (a copied data directory, a backup running, a stolen key), unless this node's data directory was put back from a backup older than the query. Stop the copy if it is yours; otherwise replace the key as README says (\"A State whose node key was compromised\") and have the next roster list the new one. `tracenet status` counts these"
            );
        }
    }

    /// [`Node::admit`] for a gossiped frame, first asking whether these very
    /// bytes were checked and admitted lately ([`super::admission::GossipChecks`]):
    /// then they are a copy of a query already handled, from another of its
    /// topics or another message of the same bytes, and are not checked
    /// again (`None`). A copy read while another is being checked waits for
    /// its outcome.
    fn admit_gossip(&self, data: &[u8], from: PeerId, topic: &Topic) -> Option<Admission> {
        let frame = crate::protocol::Digest::of(data);
        let a = self.inner.gossip_checked.check_once(
            frame,
            || self.admit(data, Via::Gossip, from, Some(topic)),
            |a| matches!(a, Admission::Fresh(_) | Admission::Seen(_)),
        );
        match &a {
            None => bump(&self.inner.counters.query_copies_unchecked),
            Some(Admission::Seen(_)) => bump(&self.inner.counters.query_copies_checked),
            Some(_) => {}
        }
        a
    }

    /// A received query's checks that need no state of this node's but the
    /// roster ([`accept::query`]). A directed one's bytes sent again are not
    /// checked for their signature again ([`crate::protocol::VerifiedFrames`]):
    /// a member re-sending a query refused for its rate limit, or while this
    /// node is overloaded, costs no signature check past the first. Gossip
    /// needs no such memory: gossipsub drops the same bytes on the same topic
    /// within a minute, and [`super::admission::GossipChecks`] the same
    /// bytes admitted on another topic.
    pub(super) fn check_query(
        &self,
        data: &[u8],
        via: Via,
        now: u64,
    ) -> Result<(Signed<TraceQuery>, u64), accept::QueryRefused> {
        let members = self.read_members();
        match via {
            Via::Direct { .. } => accept::query_known(
                data,
                via,
                now,
                &self.inner.rules,
                &*members,
                &self.inner.direct_verified,
            ),
            Via::Gossip => accept::query(data, via, now, &self.inner.rules, &*members),
        }
    }

    /// A directed query from a State past its rate limit, whose refusal
    /// would not be signed (its signed refusals spent for now, or this very
    /// query refused with one already): refused `rate_limited` on its
    /// unverified body, without its signature checked, after every other
    /// check the full one makes ([`accept::peek_query`]: roster, member,
    /// freshness), so the outcome is the full check's unless the signature
    /// is broken. One in [`UNCHECKED_SAMPLE`] such queries is checked in
    /// full all the same, so that a member sending forged frames past its
    /// limits still meets the strikes a forgery earns. `None` for every
    /// other query, checked in full: one whose claimed requester is not the
    /// sender, one this node stayed silent on (asked again for free), one
    /// within the limits. So a member sending queries past its limits, fresh
    /// or the same again, costs a decode each, and an honest State's queries
    /// are treated as before.
    fn refused_unchecked(
        &self,
        data: &[u8],
        sender: crate::protocol::PublicKey,
        from: PeerId,
        now: u64,
    ) -> Option<Admission> {
        let q = {
            let members = self.read_members();
            accept::peek_query(data, now, &self.inner.rules, &*members)?
        };
        if q.requester.key != sender {
            return None;
        }
        let state = q.requester.state;
        if self.inner.replay.contains(state, &q.id, now)
            && self.inner.replay.silenced(state, &q.id, now)
        {
            return None;
        }
        let at = Instant::now();
        let limiter = if q.wild {
            &self.inner.fuzzy_limiter
        } else {
            &self.inner.exact_limiter
        };
        if !limiter.lock().ok()?.would_refuse(state, at) {
            return None;
        }
        self.inner.refusals.lock().ok()?.would_not_sign(
            state,
            &crate::protocol::Digest::of(data),
            at,
        )?;
        let n = self.inner.unchecked_seen.fetch_add(1, Ordering::Relaxed);
        if n % UNCHECKED_SAMPLE == UNCHECKED_SAMPLE - 1 {
            return None;
        }
        bump(&self.inner.counters.queries_rate_limited);
        bump(&self.inner.counters.queries_refused_unchecked);
        let rule = if q.wild {
            "fuzzy_rate_limit"
        } else {
            "rate_limit"
        };
        self.count_refusal_as(&from.to_string(), Some(state), Refusal::RateLimited, rule);
        Some(Admission::Refused(Refusal::RateLimited))
    }

    /// Applies the acceptance rules, the rate limit and the replay quota, in
    /// that order, so that nothing is remembered of a query that a rule or the
    /// rate limit refuses, and nothing a non-requester sends changes how the
    /// requester's own query is treated. Counts and audits refusals.
    fn admit(&self, data: &[u8], via: Via, from: PeerId, topic: Option<&Topic>) -> Admission {
        let now = unix_now();
        if let Via::Direct { sender } = via
            && let Some(refused) = self.refused_unchecked(data, sender, from, now)
        {
            return refused;
        }
        let checked = self.check_query(data, via, now);
        let (q, expires_at) = match checked {
            Ok(x) => x,
            Err(accept::QueryRefused {
                refusal: r,
                verified,
            }) => {
                let c = &self.inner.counters;
                let blamed = blames_forwarder(r, via);
                if blamed {
                    bump(&c.queries_rejected);
                } else if matches!(
                    r,
                    Refusal::ClockSkew | Refusal::Expired | Refusal::TtlTooLong
                ) {
                    bump(&c.queries_stale);
                }
                self.count_refusal_blaming(&from.to_string(), None, r, r.code(), blamed);
                // Dated ahead: a retry of this very frame passes once this
                // node's clock has caught up with it.
                let retry_after = verified.as_ref().map_or(0, |q| {
                    let admitted_from = now.saturating_add(self.inner.rules.fresh.skew_secs);
                    q.body().issued_at.saturating_sub(admitted_from)
                });
                let retry_after = if r == Refusal::ClockSkew {
                    u32::try_from(retry_after).unwrap_or(u32::MAX)
                } else {
                    0
                };
                // Gossip delivers in seconds: a query expired on arrival was
                // re-published by someone, most likely a member replaying
                // another State's old query. Refusing it with a signature
                // would let that member make this node send its requester
                // refusals for traces long settled; a directed one can only
                // come from its requester, and is told.
                let verified = verified.filter(|_| !(via == Via::Gossip && r == Refusal::Expired));
                return Admission::refused(r, verified.map(|q| *q), retry_after);
            }
        };
        let b = q.body();
        let state = b.requester.state;
        if b.requester.key == self.inner.key.public_key() {
            // Our own query, come back by gossip; or one this node never
            // sent, signed by a copy of its key.
            if !self.sent_query(&q.digest()) {
                self.key_copy_seen(from, &q, now);
            }
            return Admission::Seen(q);
        }
        // Read on a topic its requester did not publish it on (a member
        // passing a query it received to other holders): before the rate
        // limit and the replay set, so it spends nothing of the requester's.
        if let Some(t) = topic
            && !super::holders::routes_of(&b.marking, &self.read_makers().table)
                .0
                .contains(t)
        {
            self.count_refusal(&from.to_string(), Some(state), Refusal::OffRoute);
            return Admission::Refused(Refusal::OffRoute);
        }
        let seen = self.inner.replay.contains(state, &b.id, now);
        if seen && via == Via::Gossip {
            // The same query on a second topic: no charge, nothing to do.
            return Admission::Seen(q);
        }
        // A query this node's policy stayed silent on, asked again directly
        // (the requester's silent-holder timer, a retry): the same word
        // again, with nothing to look up, sign or audit, so not charged.
        if seen && self.inner.replay.silenced(state, &b.id, now) {
            return Admission::Seen(q);
        }
        // A directed retry is charged like a new query: answering it again
        // costs an audit entry and a flush.
        let wild = b.marking.has_wildcards();
        let limiter = if wild {
            &self.inner.fuzzy_limiter
        } else {
            &self.inner.exact_limiter
        };
        let allowed = limiter
            .lock()
            .map(|mut l| l.take(state, Instant::now()))
            .unwrap_or(Err(std::time::Duration::ZERO));
        if let Err(wait) = allowed {
            bump(&self.inner.counters.queries_rate_limited);
            let rule = if wild {
                "fuzzy_rate_limit"
            } else {
                "rate_limit"
            };
            self.count_refusal_as(&from.to_string(), Some(state), Refusal::RateLimited, rule);
            // Whole seconds, rounded up: a retry at that time is admitted.
            let retry_after = u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                .unwrap_or(u32::MAX);
            return Admission::refused(Refusal::RateLimited, Some(q), retry_after);
        }
        if seen {
            return Admission::Seen(q);
        }
        match self.inner.replay.remember(state, b.id, expires_at, now) {
            Ok(Ok(())) => {}
            Ok(Err(ReplayError::Replayed(_))) => return Admission::Seen(q),
            Ok(Err(_)) => {
                // Only a State past its rate limits gets here; it is told
                // when a slot frees, never left without a word.
                self.count_refusal(&from.to_string(), Some(state), Refusal::QuotaFull);
                let retry_after = self.inner.replay.retry_after(state, now);
                return Admission::refused(Refusal::QuotaFull, Some(q), retry_after);
            }
            Err(e) => {
                self.store_failed(&e.to_string());
                return Admission::Refused(Refusal::AuditUnavailable);
            }
        }
        let entry = NewEntry {
            state: Some(state),
            query: Some(q.digest().to_hex()),
            ..NewEntry::default()
        };
        if self.record(AuditKind::QueryReceived, entry, false).is_err() {
            return Admission::Refused(Refusal::AuditUnavailable);
        }
        Admission::Fresh(q)
    }

    /// Counts a refusal for the metrics and the audit tally (the first of
    /// its peer and rule in an interval is written and logged at once, the
    /// rest counted); a hostile one is a strike against the peer's standing
    /// (a cool-down and a disconnect past the threshold). Blocking: not for
    /// the dispatch loop.
    pub(super) fn count_refusal(&self, peer: &str, state: Option<CountryCode>, r: Refusal) {
        self.count_refusal_as(peer, state, r, r.code());
    }

    /// As [`Node::count_refusal`], under a more specific audit `rule`.
    pub(super) fn count_refusal_as(
        &self,
        peer: &str,
        state: Option<CountryCode>,
        r: Refusal,
        rule: &'static str,
    ) {
        self.count_refusal_blaming(peer, state, r, rule, r.is_hostile());
    }

    /// As [`Node::count_refusal_as`], striking `peer`'s standing only when
    /// `blamed` (a hostile refusal of something `peer` is answerable for).
    pub(super) fn count_refusal_blaming(
        &self,
        peer: &str,
        state: Option<CountryCode>,
        r: Refusal,
        rule: &'static str,
        blamed: bool,
    ) {
        if let Some((kind, entry)) = self.tally_refusal(peer, state, r, rule) {
            // A failed write stops the node (see `record`); nothing to refuse here.
            let _ = self.record(kind, entry, false);
        }
        self.strike_if(peer, blamed);
    }

    /// [`Node::count_refusal`] from async code: counted at once, and the
    /// audit entry of the first of its peer and rule in an interval (a sled
    /// write) made on the blocking pool, not on an async worker.
    pub(super) fn count_refusal_async(&self, peer: &str, r: Refusal) {
        if let Some((kind, entry)) = self.tally_refusal(peer, None, r, r.code()) {
            let node = self.clone();
            // At most once per peer and rule an interval: bounded. A task
            // the node tracks, so that its shutdown waits for the entry
            // before its last tally, signed head and flush.
            self.spawn(async move {
                let _ = tokio::task::spawn_blocking(move || {
                    let _ = node.record(kind, entry, false);
                })
                .await;
            });
        }
        self.strike_if(peer, r.is_hostile());
    }

    /// Counts a refusal for the metrics and the audit tally; returns the
    /// audit entry to write if it is the first of its peer and rule since
    /// the last tally (logged here), `None` if it is only counted.
    fn tally_refusal(
        &self,
        peer: &str,
        state: Option<CountryCode>,
        r: Refusal,
        rule: &'static str,
    ) -> Option<(AuditKind, NewEntry)> {
        self.inner.counters.refused(r);
        let first = self
            .inner
            .tally
            .lock()
            .map(|mut t| t.count(peer, state, r, rule))
            .unwrap_or(false);
        if !first {
            return None;
        }
        tracing::info!(%peer, reason = rule, "refused (more of this peer and reason are counted, not logged, until the next audit tally)");
        Some((
            refusal_kind(r, rule),
            NewEntry {
                peer: Some(peer.to_string()),
                state,
                rule: Some(rule.to_string()),
                ..NewEntry::default()
            },
        ))
    }

    /// A strike against `peer`'s standing if `blamed`: a cool-down and a
    /// disconnect past the threshold.
    fn strike_if(&self, peer: &str, blamed: bool) {
        if blamed && let Ok(pid) = peer.parse::<PeerId>() {
            let verdict = self
                .inner
                .standing
                .lock()
                .map(|mut s| s.strike(pid, Instant::now()))
                .unwrap_or(Standing::Keep);
            if verdict == Standing::CoolDown {
                tracing::warn!(%peer, "too many bad requests: disconnected and ignored for a while");
                let net = self.inner.net.clone();
                self.spawn(async move {
                    let _ = net.disconnect(pid).await;
                });
            }
        }
    }

    /// Writes the refusals counted since the last call beyond the first of
    /// each (peer, rule): one audit entry each, with the count.
    pub(super) fn write_tally(&self) {
        let taken = match self.inner.tally.lock() {
            Ok(mut t) => t.take(),
            Err(_) => return,
        };
        for ((peer, rule), t) in taken {
            let entry = NewEntry {
                peer: Some(peer),
                state: t.state,
                outcome: Some(format!("count {}", t.count)),
                rule: Some(rule.to_string()),
                ..NewEntry::default()
            };
            if self
                .record(refusal_kind(t.code, rule), entry, false)
                .is_err()
            {
                return;
            }
        }
    }

    /// Looks the weapon up, plans the answer under the policy, signs it and
    /// records it. `Ok(None)`: the policy stays silent. The audit entry is
    /// on disk before the answer is returned (a failed write refuses the
    /// answer), and any alert the query raised with it, in the same flush.
    /// A reply that flushes nothing (a bare refusal code) leaves the alerts
    /// to sled's own flush; a failed alert write is logged, not refused.
    pub(super) fn respond(
        &self,
        q: &Signed<TraceQuery>,
    ) -> Result<Option<(PeerId, Vec<u8>)>, Refusal> {
        let r = self.respond_once(q);
        if r == Err(Refusal::Internal) {
            // Nothing was answered: the requester's retry must not be a replay.
            let b = q.body();
            self.inner.replay.forget(b.requester.state, &b.id);
        }
        r
    }

    fn respond_once(&self, q: &Signed<TraceQuery>) -> Result<Option<(PeerId, Vec<u8>)>, Refusal> {
        let reg = self.inner.registry.as_ref().ok_or(Refusal::NotAnswered)?;
        let b = q.body();
        // The maker is read from its name as marked, with this node's own
        // table, whatever version the requester resolved it with.
        self.note_makers_version(b.makers_version, b.requester.state);
        let found = answer::lookup(reg, b, answer::hides_confidential(&self.inner.policy, b))
            .map_err(|e| {
                tracing::error!(error = %e, "registry lookup failed");
                Refusal::Internal
            })?;
        // Unflushed: the flush of the answer's audit entry below (or of the
        // silence's, the review's, the signed refusal's) takes them to disk
        // with it; a bare refusal code flushes nothing, alerts or not.
        self.raise_alerts(b, q.digest(), answer::diverted(&found));
        let entry = |rule: &str| NewEntry {
            state: Some(b.requester.state),
            query: Some(q.digest().to_hex()),
            rule: Some(rule.into()),
            ..NewEntry::default()
        };
        let (outcome, review) = match answer::plan(&found, b, &self.inner.policy) {
            answer::Planned::Send(o) => (o, None),
            answer::Planned::Silent => {
                // Made durable by the flush below: a retry is told the same.
                self.inner
                    .replay
                    .keep_silence(b.requester.state, b.id, unix_now());
                self.record(AuditKind::QueryRefused, entry("policy_silent"), true)
                    .map_err(|_| Refusal::AuditUnavailable)?;
                return Ok(None);
            }
            answer::Planned::Review(_)
                if !self.inner.inbox.reserve(
                    b.requester.state,
                    &super::review::inbox_id(q),
                    super::inbox::counts_until(
                        unix_now(),
                        b.issued_at.saturating_add(u64::from(b.ttl_secs)),
                    ),
                    unix_now(),
                    self.inner.settings.max_reviews_waiting_per_state,
                ) =>
            {
                // The State has as many requests waiting for a person here
                // as it may: told so (not final), its id forgotten so that
                // its retry, once some are decided, is read again.
                self.inner.replay.forget(b.requester.state, &b.id);
                let peer = identity::peer_id_of_signer(&b.requester.key)
                    .map_or_else(String::new, |p| p.to_string());
                self.count_refusal_as(
                    &peer,
                    Some(b.requester.state),
                    Refusal::QuotaFull,
                    "review_quota",
                );
                // Past the refusal budget (or refused once already), no
                // signed answer: a directed query is told the code.
                return Declined::new(Refusal::QuotaFull, q.clone(), 0)
                    .and_then(|d| self.refusal_answer(&d))
                    .map(Some)
                    .ok_or(Refusal::QuotaFull);
            }
            answer::Planned::Review(reason) => (Outcome::Acknowledged, Some(reason)),
        };
        // Signed first: an answer too large to deliver is trimmed (or
        // replaced by its count or a refusal) before anything is counted.
        let (outcome, bytes) = self.sign_answer(q.digest(), outcome)?;
        self.count_answer(&outcome);
        let (word, rule) = outcome_words(&outcome);
        let level = matches!(outcome, Outcome::Hit { .. } | Outcome::Trimmed { .. }).then(|| {
            format!(
                "disclose_{:?}",
                self.inner
                    .policy
                    .disclosure
                    .disclosure_for(b.requester.state)
            )
            .to_lowercase()
        });
        let rule = level.as_deref().or(rule);
        // The requester's key has verified the query's signature.
        let peer = identity::peer_id_of_signer(&b.requester.key).ok_or(Refusal::Malformed)?;
        if let Some(reason) = review {
            // The item holds its acknowledgement from its first write on, so
            // a decision can never be overwritten by it.
            self.to_inbox(q, reason, &bytes)?;
        }
        // Beside its replay id, made durable by the audit flush below: a
        // retry after a restart gets this same answer.
        self.inner
            .replay
            .keep_answer(b.requester.state, b.id, &bytes, unix_now());
        self.record(
            AuditKind::AnswerSent,
            NewEntry {
                officer: None,
                peer: Some(peer.to_string()),
                state: Some(b.requester.state),
                query: Some(q.digest().to_hex()),
                outcome: Some(word.into()),
                rule: rule.map(str::to_string),
            },
            true,
        )
        .map_err(|_| Refusal::AuditUnavailable)?;
        self.remember_answer(b, q.digest(), &bytes);
        Ok(Some((peer, bytes)))
    }

    /// Signs the answer to the query of digest `query`, made to fit the
    /// largest frame this node can deliver (see [`answer::fit`]): the
    /// outcome actually signed, and the frame.
    pub(super) fn sign_answer(
        &self,
        query: Digest,
        outcome: Outcome,
    ) -> Result<(Outcome, Vec<u8>), Refusal> {
        let responder = Party {
            state: self.inner.state,
            key: self.inner.key.public_key(),
        };
        let answered_at = unix_now();
        let makers_version = Some(self.makers().table_version());
        let sign = |o: &Outcome| {
            let body = TraceAnswer {
                query,
                responder,
                answered_at,
                outcome: o.clone(),
                makers_version,
            };
            self.inner.key.sign(body).map(|s| s.into_parts().0)
        };
        let wanted = std::mem::discriminant(&outcome);
        let fitted = answer::fit(outcome, self.max_answer_bytes(), sign).map_err(|e| {
            tracing::error!(error = %e, "cannot encode an answer");
            Refusal::Internal
        })?;
        if std::mem::discriminant(&fitted.0) != wanted {
            let (word, _) = outcome_words(&fitted.0);
            tracing::warn!(
                max_bytes = self.max_answer_bytes(),
                sent = word,
                "an answer did not fit the message size limit (node.max_message_bytes) and was cut"
            );
        }
        Ok(fitted)
    }

    /// The largest answer frame this node signs (see [`answer::max_answer_bytes`]).
    fn max_answer_bytes(&self) -> usize {
        answer::max_answer_bytes(self.inner.settings.message_bytes(), self.inner.rules.limits)
    }

    pub(super) fn count_answer(&self, outcome: &Outcome) {
        let c = &self.inner.counters;
        bump(match outcome {
            Outcome::Hit { .. } => &c.answers_sent_hit,
            Outcome::NoHit => &c.answers_sent_no_hit,
            Outcome::Withheld { .. } => &c.answers_sent_withheld,
            Outcome::Trimmed { .. } => &c.answers_sent_trimmed,
            Outcome::Refused { .. } => &c.answers_sent_refused,
            _ => &c.answers_sent_other,
        });
    }

    pub(super) fn remember_answer(&self, q: &TraceQuery, digest: Digest, bytes: &[u8]) {
        if let Ok(mut m) = self.inner.answered.lock() {
            // Kept while a retry could still be admitted: past the query's
            // time-to-live and the clock skew allowed, it is refused stale.
            let until = q
                .issued_at
                .saturating_add(u64::from(q.ttl_secs))
                .saturating_add(self.inner.rules.fresh.skew_secs);
            m.put(
                q.requester.state,
                digest,
                q.requester.key,
                bytes.to_vec(),
                until,
            );
        }
    }

    /// Sends an answer to its requester and waits for its `ok`, in one of
    /// the requester's places (`node::delivery`); given up and counted if
    /// `WAITING_PER_REQUESTER` deliveries to it wait already.
    pub(super) async fn send_answer(&self, peer: PeerId, bytes: Vec<u8>) {
        let Some(_place) = self.inner.deliveries.place(peer).await else {
            bump(&self.inner.counters.answers_undelivered);
            tracing::debug!(%peer, "answer given up: its requester leaves its answers unacknowledged");
            return;
        };
        match self.inner.net.request(peer, bytes).await {
            Ok(reply) => match Reply::decode(&reply, self.inner.rules.limits) {
                Ok(Reply::Ok) => bump(&self.inner.counters.answers_sent),
                Ok(Reply::Refused(code)) => {
                    tracing::info!(%peer, %code, "answer refused by the requester")
                }
                Ok(Reply::Answer(_)) | Err(_) => {
                    tracing::info!(%peer, "the requester sent an unreadable reply to an answer")
                }
            },
            Err(e) => tracing::info!(%peer, error = %e, "answer not delivered"),
        }
    }

    /// Every request on the request-response protocol: an answer to one of
    /// this node's traces, or a query sent straight to it.
    pub(super) async fn on_request(&self, peer: PeerId, data: Vec<u8>) -> Reply {
        let kind = crate::protocol::codec::peek_kind(&data);
        match kind {
            Ok(Kind::Answer) => {
                // Answers are filed a bounded number at a time; more wait
                // (they are never refused for load: that would lose them).
                let Ok(_permit) = self.inner.filing.clone().acquire_owned().await else {
                    return Reply::Refused(Refusal::Internal);
                };
                match self.file_network_answer(peer, data).await {
                    Ok(follow) => {
                        for (target, id) in follow {
                            self.spawn(self.follow_up(target, id));
                        }
                        Reply::Ok
                    }
                    Err(r) => {
                        bump(&self.inner.counters.answers_rejected);
                        self.count_refusal_async(&peer.to_string(), r);
                        Reply::Refused(r)
                    }
                }
            }
            Ok(Kind::Query) => {
                // Directed queries share the bound of gossiped ones.
                let Ok(_permit) = self.inner.busy.clone().try_acquire_owned() else {
                    bump(&self.inner.counters.queries_overloaded);
                    let sender = self.read_members().get(&peer).map(|m| m.key);
                    let Some(sender) = sender else {
                        return Reply::Refused(Refusal::Overloaded);
                    };
                    let via = Via::Direct { sender };
                    return match self.decline_overloaded(data, via, peer, None).await {
                        Some((_, bytes)) => Reply::Answer(bytes),
                        None => Reply::Refused(Refusal::Overloaded),
                    };
                };
                let node = self.clone();
                self.answering(move || node.on_direct_query(peer, &data))
                    .await
                    .unwrap_or(Reply::Refused(Refusal::Internal))
            }
            Ok(_) => {
                self.count_refusal_async(&peer.to_string(), Refusal::UnexpectedKind);
                Reply::Refused(Refusal::UnexpectedKind)
            }
            Err(_) => {
                self.count_refusal_async(&peer.to_string(), Refusal::Malformed);
                Reply::Refused(Refusal::Malformed)
            }
        }
    }

    /// A query sent straight to this node by its requester (a follow-up along
    /// a chain of custody, or a retry): admitted like a gossiped one, with the
    /// sender bound to the requester before anything is remembered, and
    /// answered in the reply. A retry of a query answered before gets the same
    /// signed answer again, audited like a fresh one.
    fn on_direct_query(&self, peer: PeerId, data: &[u8]) -> Reply {
        let sender = self.read_members().get(&peer).map(|m| m.key);
        let Some(sender) = sender else {
            self.count_refusal(&peer.to_string(), None, Refusal::NotAMember);
            return Reply::Refused(Refusal::NotAMember);
        };
        match self.admit(data, Via::Direct { sender }, peer, None) {
            Admission::Refused(r) => Reply::Refused(r),
            // Told why in a signed answer, if the refusal budget allows;
            // otherwise the code alone, as before.
            Admission::Declined(d) => match self.refusal_answer(&d) {
                Some((_, bytes)) => Reply::Answer(bytes),
                None => Reply::Refused(d.refusal),
            },
            Admission::Seen(q) => self.answer_again(peer, &q),
            Admission::Fresh(q) => {
                self.pass_on_directed(&q);
                self.answer_directed(&q)
            }
        }
    }

    /// A fresh directed query's answer, as the reply carries it.
    fn answer_directed(&self, q: &Signed<TraceQuery>) -> Reply {
        match self.respond(q) {
            Ok(Some((_, bytes))) => Reply::Answer(bytes),
            Ok(None) => Reply::Refused(Refusal::NotAnswered),
            Err(r) => Reply::Refused(r),
        }
    }

    /// A retry of a query this node holds no answer for: `not_answered`
    /// again if its policy stayed silent on it (so the requester shows the
    /// same reason as before, not a new one); otherwise `replayed` (it is
    /// still being answered, or its answer was not kept). The repeated
    /// silence is not audited again: the decision was, when it was made,
    /// and a repeat discloses nothing (an audit entry per ask would let a
    /// requester grow this node's log at will; it is not charged either).
    fn silent_again(&self, q: &Signed<TraceQuery>) -> Reply {
        let b = q.body();
        if self
            .inner
            .replay
            .silenced(b.requester.state, &b.id, unix_now())
        {
            Reply::Refused(Refusal::NotAnswered)
        } else {
            Reply::Refused(Refusal::Replayed)
        }
    }

    /// The answer given before to this requester's query, from the cache or
    /// (after a restart, or for a decided inbox item) from the inbox.
    fn answer_again(&self, peer: PeerId, q: &Signed<TraceQuery>) -> Reply {
        let b = q.body();
        let digest = q.digest();
        // The inbox holds the decision of a reviewed query (the cache may
        // still hold its acknowledgement); then the cache; then the answer
        // kept beside the replay id on disk (after a restart).
        let cached =
            self.inbox_answer(&digest)
                .or_else(|| {
                    self.inner.answered.lock().ok().and_then(|mut c| {
                        c.get(b.requester.state, digest, b.requester.key, unix_now())
                    })
                })
                .or_else(|| {
                    self.inner
                        .replay
                        .answer_of(b.requester.state, &b.id, unix_now())
                });
        let Some(bytes) = cached else {
            return self.silent_again(q);
        };
        let word = crate::node::decode_stored::<TraceAnswer>(&bytes, self.inner.rules.limits)
            .map(|a| outcome_words(&a.outcome).0)
            .unwrap_or("unknown");
        let recorded = self.record(
            AuditKind::AnswerSent,
            NewEntry {
                officer: None,
                peer: Some(peer.to_string()),
                state: Some(b.requester.state),
                query: Some(digest.to_hex()),
                outcome: Some(word.into()),
                rule: Some("answered_again".into()),
            },
            true,
        );
        match recorded {
            Ok(()) => Reply::Answer(bytes),
            Err(_) => Reply::Refused(Refusal::AuditUnavailable),
        }
    }
}

/// Whether one of `peers` (those on a query's topic here) is neither its
/// `requester` nor the member of a State in `served`; `state_of` gives a
/// peer's State if it is a member (not a bootstrap peer). Such a peer had no
/// copy from the requester, so the query is passed on.
fn unserved_peer(
    served: &crate::protocol::ServedStates,
    requester: Option<PeerId>,
    peers: &[PeerId],
    state_of: impl Fn(&PeerId) -> Option<CountryCode>,
) -> bool {
    peers
        .iter()
        .filter(|p| Some(**p) != requester)
        .any(|p| state_of(p).is_none_or(|s| !served.contains(&s)))
}

/// Whether a gossiped query's verdict goes to gossip as soon as it is
/// known, from the blocking thread that checked the query (`true`), or
/// from the query's task once the thread returns, beside its answer if it
/// has one (`false`). Only an accepted query is passed on, and passing it
/// on must not wait for the lookup, the signature and the audit flush.
/// Until any other verdict is reported, gossip keeps the message unjudged
/// in its cache (never offered or served to other peers; dropped by itself
/// after `history_length` heartbeats, about 2.5 s here), so that verdict
/// waits: a report from the blocking thread would wake the network's task
/// from outside the runtime, one wake-up more per query than a command
/// sent by the task the thread's return wakes anyway.
fn reported_at_once(verdict: Verdict) -> bool {
    verdict == Verdict::Accept
}

/// The verdict on a gossiped query refused for no fault of its forwarder:
/// shed ([`Verdict::Shed`]: a later copy of its bytes is read) where the
/// refusal comes from this node's state at the moment (its load, a quota
/// or rate limit, the clocks, its roster, its audit log, a fault of its
/// own), ignored where every copy would get it (expired, replayed, off its
/// route).
fn refusal_verdict(r: Refusal) -> Verdict {
    match r {
        Refusal::Overloaded
        | Refusal::QuotaFull
        | Refusal::RateLimited
        | Refusal::ClockSkew
        | Refusal::RosterExpired
        | Refusal::NotInRoster
        | Refusal::AuditUnavailable
        | Refusal::Internal => Verdict::Shed,
        _ => Verdict::Ignore,
    }
}

/// Checks a gossiped query and answers it, its verdict reported exactly
/// once: `check` gives the verdict and the work to answer; a verdict to
/// report at once ([`reported_at_once`]) goes to `report` before the work
/// is answered, with `reported` set first, so that a caller who finds the
/// thread panicked knows not to report again; any other is returned
/// beside the answer, for the caller to report.
fn verdict_then_answer<W, A>(
    check: impl FnOnce() -> (Verdict, W),
    report: impl FnOnce(Verdict),
    reported: &AtomicBool,
    answer: impl FnOnce(W) -> A,
) -> (Option<Verdict>, A) {
    let (verdict, work) = check();
    let later = if reported_at_once(verdict) {
        reported.store(true, Ordering::Release);
        report(verdict);
        None
    } else {
        Some(verdict)
    };
    (later, answer(work))
}

/// The audit kind a refusal is recorded under.
fn refusal_kind(r: Refusal, rule: &str) -> AuditKind {
    if rule == super::blind::BLIND_BUDGET_RULE || rule == super::blind::BLIND_CHUNKS_RULE {
        return AuditKind::BlindRefused;
    }
    match r {
        Refusal::UnknownTrace | Refusal::WrongSigner | Refusal::AnswerBeforeQuery => {
            AuditKind::AnswerRefused
        }
        _ => AuditKind::QueryRefused,
    }
}

/// The outcome as one word for the audit log and metrics, and the rule behind it.
pub(super) fn outcome_words(o: &Outcome) -> (&'static str, Option<&'static str>) {
    match o {
        Outcome::Hit { .. } => ("hit", None),
        Outcome::NoHit => ("no_hit", None),
        Outcome::Withheld { .. } => ("withheld", Some("confidential_record")),
        Outcome::Acknowledged => ("acknowledged", Some("human_review")),
        Outcome::TooMany { .. } => ("too_many", Some("max_candidates")),
        Outcome::Trimmed { .. } => ("trimmed", Some("max_message_bytes")),
        Outcome::Refused { reason, .. } => ("refused", Some(reason.code())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A holder relays a query stating the States served only toward a peer
    /// on the topic that is neither the requester nor a served State's
    /// member; a bootstrap peer or a peer outside the roster counts as not
    /// served.
    #[test]
    fn a_query_is_relayed_only_toward_a_peer_its_requester_did_not_serve() {
        let cc = |s: &str| s.parse::<CountryCode>().unwrap();
        let served = crate::protocol::ServedStates::new([cc("DE"), cc("NG")]).unwrap();
        let [requester, de, ng, fr, boot, stranger] = [0; 6].map(|_| PeerId::random());
        let state_of = |p: &PeerId| {
            [(de, "DE"), (ng, "NG"), (fr, "FR"), (requester, "KE")]
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, s)| cc(s))
        };
        let relays = |peers: &[PeerId]| unserved_peer(&served, Some(requester), peers, state_of);
        assert!(!relays(&[]), "no peer on the topic");
        assert!(!relays(&[de, ng]), "every peer served");
        assert!(!relays(&[requester, de]), "the requester itself");
        assert!(relays(&[de, fr]), "FR was not served");
        assert!(relays(&[de, boot]), "a bootstrap peer is no served State");
        assert!(relays(&[stranger]), "nor a peer outside the roster");
        // Without a requester known (a key that names no peer), it is a
        // peer like any other.
        assert!(unserved_peer(&served, None, &[requester], state_of));
    }

    /// Runs [`verdict_then_answer`] with `verdict`, logging the calls in
    /// order; `panics` makes the answer panic.
    fn run(verdict: Verdict, panics: bool) -> (Vec<String>, bool, Option<Option<Verdict>>) {
        let log = RefCell::new(Vec::new());
        let reported = AtomicBool::new(false);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            verdict_then_answer(
                || (verdict, "work"),
                |v| log.borrow_mut().push(format!("report {v:?}")),
                &reported,
                |w| {
                    log.borrow_mut().push(format!("answer {w}"));
                    assert!(!panics, "the answer panicked");
                },
            )
        }));
        (
            log.into_inner(),
            reported.load(Ordering::Acquire),
            out.ok().map(|(later, ())| later),
        )
    }

    /// Forwarding never waits for an answer: an accepted query's verdict
    /// goes before the answer is made, once.
    #[test]
    fn a_query_passed_on_has_its_verdict_reported_before_it_is_answered() {
        let (log, reported, later) = run(Verdict::Accept, false);
        assert_eq!(log, ["report Accept", "answer work"]);
        assert!(reported);
        assert_eq!(later, Some(None), "not to be reported again");
    }

    /// A gossiped query refused for this node's state at the moment is
    /// shed (a later copy of its bytes is read under strict validation);
    /// one every copy would be refused the same is ignored.
    #[test]
    fn a_refusal_of_the_moment_sheds_and_one_of_the_bytes_ignores() {
        use crate::protocol::Refusal;
        for r in [
            Refusal::Overloaded,
            Refusal::QuotaFull,
            Refusal::RateLimited,
            Refusal::ClockSkew,
            Refusal::RosterExpired,
            Refusal::NotInRoster,
            Refusal::AuditUnavailable,
            Refusal::Internal,
        ] {
            assert_eq!(super::refusal_verdict(r), Verdict::Shed, "{r:?}");
        }
        for r in [
            Refusal::Expired,
            Refusal::TtlTooLong,
            Refusal::Replayed,
            Refusal::OffRoute,
            Refusal::DirectedOnly,
            Refusal::NotAnswered,
        ] {
            assert_eq!(super::refusal_verdict(r), Verdict::Ignore, "{r:?}");
        }
    }

    /// The verdicts that forward nothing come back with the answer, to go
    /// to gossip from the query's task; nothing was reported from the
    /// blocking thread.
    #[test]
    fn any_other_verdict_comes_back_beside_the_answer() {
        for v in [Verdict::Ignore, Verdict::Shed, Verdict::Reject] {
            let (log, reported, later) = run(v, false);
            assert_eq!(log, ["answer work"], "{v:?}");
            assert!(!reported, "{v:?}");
            assert_eq!(later, Some(Some(v)));
        }
    }

    /// An answer that panics after its query was passed on leaves it
    /// reported (the caller must not send a second, contradicting
    /// verdict); one that panics before any report leaves it unreported
    /// (the caller reports it shed).
    #[test]
    fn a_panicked_answer_leaves_the_caller_knowing_whether_the_verdict_went() {
        let (log, reported, later) = run(Verdict::Accept, true);
        assert_eq!(log, ["report Accept", "answer work"]);
        assert!(reported);
        assert_eq!(later, None, "the answer panicked");
        let (_, reported, later) = run(Verdict::Ignore, true);
        assert!(!reported);
        assert_eq!(later, None);
    }
}
