//! One probe of one holder: its filters fetched (cached per version) and
//! checked, the candidates blinded, evaluated, finalised and looked up.

use std::sync::Arc;

use libp2p::PeerId;

use super::{BlindOutcome, Fetched};
use crate::blind::{Blinded, ReceivedFilter, canonical_input, finalize, query_candidates};
use crate::marking::{MarkingPrefix, SerialQuery};
use crate::node::Node;
use crate::node::members::MemberInfo;
use crate::protocol::blind::{BlindReply, BlindRequest, FilterHeader};
use crate::protocol::codec::Kind;
use crate::protocol::{OprfPublicKey, Refusal, Reply, TraceQuery, decode_and_verify};

/// How one probe ended.
pub(super) struct Probed {
    pub(super) outcome: BlindOutcome,
    pub(super) detail: Option<String>,
    pub(super) elements: u32,
    /// When the holder said to come back (its budget, a filter being built).
    pub(super) retry_after: Option<u32>,
}

impl Probed {
    pub(super) fn of(outcome: BlindOutcome, detail: impl Into<String>) -> Self {
        Probed {
            outcome,
            detail: Some(detail.into()),
            elements: 0,
            retry_after: None,
        }
    }
}

impl Node {
    pub(super) async fn probe_holder(&self, peer: PeerId, q: &TraceQuery, bound: usize) -> Probed {
        let Ok(serial) = SerialQuery::parse(q.marking.serial()) else {
            return Probed::of(BlindOutcome::Failed, "the trace's serial no longer parses");
        };
        let makers = match self.inner.registry.as_ref() {
            Some(r) => r.makers(),
            None => return Probed::of(BlindOutcome::Failed, "a bootstrap node sends no traces"),
        };
        // The roster's OPRF key is the only one its evaluations are checked
        // against: a holder cannot use another for some requesters. Without
        // one it is not asked at all, and the officer decides.
        // One snapshot of its roster entry for the whole probe, so that the
        // signing key and the OPRF key checked are of one roster version.
        let Some(member) = self.read_members().get(&peer).cloned() else {
            return Probed::of(
                BlindOutcome::Failed,
                "it is not in the roster in force, so it is not asked",
            );
        };
        let Some(oprf_key) = member.oprf_key else {
            return Probed::of(
                BlindOutcome::NoFilter,
                "the roster lists no OPRF key for it, so it cannot be asked blind",
            );
        };
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        let mut filters: Vec<Arc<Fetched>> = Vec::new();
        let mut of_input: Vec<usize> = Vec::new();
        for prefix in q.marking.routes(&makers).prefixes {
            let f = match self.fetch_filter(peer, &prefix, &member).await {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(p) => return p,
            };
            let candidates = match query_candidates(&serial, &f.header.alphabet, bound) {
                Ok(c) => c,
                Err(e) => return Probed::of(BlindOutcome::BeyondBound, e.to_string()),
            };
            for c in candidates {
                inputs.push(canonical_input(&prefix, &c));
                of_input.push(filters.len());
            }
            filters.push(f);
        }
        if filters.is_empty() {
            return Probed {
                outcome: BlindOutcome::HoldsNothing,
                detail: None,
                elements: 0,
                retry_after: None,
            };
        }
        let n = inputs.len();
        if n == 0 {
            // No candidate under any of its filters: nothing it could hold.
            return Probed {
                outcome: BlindOutcome::NoHit,
                detail: None,
                elements: 0,
                retry_after: None,
            };
        }
        if n > crate::protocol::blind::MAX_BLIND_ELEMENTS {
            return Probed::of(
                BlindOutcome::BeyondBound,
                format!("{n} elements under all prefixes, more than one request holds"),
            );
        }
        // The curve work (up to MAX_BLIND_ELEMENTS blindings, then as many
        // unblindings and the proof's check) on the blocking pool, in its
        // bound (`PROBING_AT_ONCE`): tens of milliseconds at the bound, not
        // for an async worker, which may be the node's only one
        // (`node.async_workers`).
        let blinded = match self.probe_work(move || Blinded::new(inputs)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return Probed::of(BlindOutcome::Failed, e.to_string()),
            Err(e) => return Probed::of(BlindOutcome::Failed, e.to_string()),
        };
        let req = BlindRequest::Evaluate {
            elements: blinded.elements.clone(),
        };
        let reply = match self.blind_request(peer, &req).await {
            Ok(r) => r,
            Err(p) => return p,
        };
        let mut p = match reply {
            BlindReply::Evaluated { elements, proof } => {
                let checked = self
                    .probe_work(move || {
                        let keys = finalize(&blinded, &elements, &proof, &oprf_key.0)?;
                        let hit = keys
                            .iter()
                            .zip(&of_input)
                            .any(|(k, i)| filters[*i].filter.contains(*k));
                        Ok::<_, crate::blind::OprfError>((hit, filters))
                    })
                    .await;
                let checked = match checked {
                    Ok(c) => c,
                    Err(e) => return Probed::of(BlindOutcome::Failed, e.to_string()),
                };
                match checked {
                    Ok((hit, filters)) => {
                        if let Ok(mut m) = self.inner.blind.fetched.lock() {
                            for f in &filters {
                                m.keep(&peer.to_string(), &f.header.prefix, f.clone());
                            }
                        }
                        Probed {
                            outcome: if hit {
                                BlindOutcome::Hit
                            } else {
                                BlindOutcome::NoHit
                            },
                            detail: None,
                            elements: 0,
                            retry_after: None,
                        }
                    }
                    Err(e) => Probed::of(BlindOutcome::Failed, e.to_string()),
                }
            }
            BlindReply::Refused {
                refusal,
                retry_after_secs,
            } => refused(refusal, retry_after_secs),
            other => Probed::of(
                BlindOutcome::Failed,
                format!("unexpected reply {}", reply_name(&other)),
            ),
        };
        p.elements = n as u32;
        p
    }

    /// The holder's checked filter for `prefix` (the kept one if the holder
    /// has not rebuilt it since); `None`
    /// when it holds nothing there. Its header must be signed by `member`'s
    /// key and state the OPRF key `member`'s roster entry lists.
    async fn fetch_filter(
        &self,
        peer: PeerId,
        prefix: &MarkingPrefix,
        member: &MemberInfo,
    ) -> Result<Option<Arc<Fetched>>, Probed> {
        let req = BlindRequest::Filter {
            prefix: prefix.clone(),
        };
        let frame = match self.blind_request(peer, &req).await? {
            BlindReply::Filter(f) => f,
            BlindReply::NoFilter => return Ok(None),
            BlindReply::Refused {
                refusal,
                retry_after_secs,
            } => return Err(refused(refusal, retry_after_secs)),
            other => {
                return Err(Probed::of(
                    BlindOutcome::Failed,
                    format!("unexpected reply {}", reply_name(&other)),
                ));
            }
        };
        let fail = |why: String| Probed::of(BlindOutcome::Failed, why);
        let header = decode_and_verify::<FilterHeader>(&frame, self.inner.rules.limits)
            .map_err(|e| fail(format!("its filter header: {e}")))?
            .into_parts()
            .1;
        if member.key != header.holder.key || member.state != header.holder.state {
            return Err(fail(
                "its filter header is not signed by its roster key".into(),
            ));
        }
        if header.prefix != *prefix {
            return Err(fail("its filter header is for another prefix".into()));
        }
        let listed = member.oprf_key.map(|k| k.0);
        if Some(header.oprf_key) != listed {
            let stated = OprfPublicKey(header.oprf_key);
            let listed = member
                .oprf_key
                .map_or_else(|| "none".to_string(), |k| k.to_base64());
            tracing::warn!(
                %peer,
                state = %member.state,
                %stated,
                %listed,
                "oprf_key_not_in_roster: a holder's filter states another OPRF key than the roster lists for it; it is not asked blind"
            );
            return Err(fail(format!(
                "its filter states the OPRF key {stated}, the roster lists {listed} (oprf_key_not_in_roster): it was not asked to evaluate"
            )));
        }
        let cached = self
            .inner
            .blind
            .fetched
            .lock()
            .ok()
            .and_then(|mut m| m.get(&peer.to_string(), prefix, &header));
        if let Some(f) = cached {
            return Ok(Some(f));
        }
        // The header's shape is checked before any chunk is asked for, and
        // its size taken from this holder's hourly share: a holder that
        // serves a large filter and refuses to evaluate cannot have every
        // probe fetch it whole again.
        ReceivedFilter::check_header(&header).map_err(|e| fail(format!("its filter: {e}")))?;
        let kib = (u64::from(header.fingerprints) * 2)
            .div_ceil(1024)
            .min(u64::from(self.inner.blind.fetch_kib_per_hour)) as usize;
        let allowed = self
            .inner
            .blind
            .filters_fetched
            .lock()
            .map(|mut b| b.take(member.state, kib, std::time::Instant::now()))
            .unwrap_or(Err(std::time::Duration::from_secs(60)));
        if let Err(wait) = allowed {
            let secs = wait.as_secs().clamp(1, u64::from(u32::MAX)) as u32;
            return Err(Probed {
                outcome: BlindOutcome::Failed,
                detail: Some(format!(
                    "its filters fetched within the hour reached node.blind_fetch_mib_per_hour ({} MiB); probed again after {secs} s",
                    self.inner.settings.blind_fetch_mib_per_hour
                )),
                elements: 0,
                retry_after: Some(secs),
            });
        }
        let mut chunks = Vec::with_capacity(header.chunks.len());
        for index in 0..header.chunks.len() {
            let req = BlindRequest::Chunk {
                prefix: prefix.clone(),
                version: header.version,
                index: index as u32,
            };
            match self.blind_request(peer, &req).await? {
                // Each chunk against its signed digest as it comes: a wrong
                // one ends the fetch there.
                BlindReply::Chunk(c)
                    if c.len() != ReceivedFilter::chunk_len(header.fingerprints, index)
                        || crate::protocol::Digest::of(&c) != header.chunks[index] =>
                {
                    return Err(fail(format!(
                        "chunk {index} of its filter is not the length or digest its signed header states"
                    )));
                }
                BlindReply::Chunk(c) => chunks.push(c),
                // Its bytes for the hour spent: probed again when it says.
                BlindReply::Refused {
                    refusal,
                    retry_after_secs,
                } => return Err(refused(refusal, retry_after_secs)),
                other => {
                    return Err(fail(format!(
                        "chunk {index} of its filter: {}",
                        reply_name(&other)
                    )));
                }
            }
        }
        // Up to megabytes checked and laid out: on the blocking pool, in
        // the probes' bound.
        let (header, assembled) = self
            .probe_work(move || {
                let f = ReceivedFilter::assemble(&header, &chunks);
                (header, f)
            })
            .await
            .map_err(|e| fail(format!("its filter: {e}")))?;
        let filter = assembled.map_err(|e| fail(format!("its filter: {e}")))?;
        // Kept only once an evaluation succeeds with it (probe_holder).
        Ok(Some(Arc::new(Fetched { header, filter })))
    }

    /// One blind request and its decoded reply; an older node's reply (kind
    /// `reply`, refusing the kind) is `no_filter`.
    async fn blind_request(&self, peer: PeerId, req: &BlindRequest) -> Result<BlindReply, Probed> {
        let bytes = req
            .encode()
            .map_err(|e| Probed::of(BlindOutcome::Failed, e.to_string()))?;
        let stopping = self.inner.stopping.clone();
        let reply = tokio::select! {
            r = self.inner.net.request(peer, bytes) => r.map_err(|e| Probed::of(BlindOutcome::Unreachable, e.to_string()))?,
            _ = stopping.cancelled() => return Err(Probed::of(BlindOutcome::Unreachable, "this node is stopping")),
        };
        let limits = crate::protocol::Limits {
            max_frame: self.inner.settings.max_message_bytes,
        };
        match crate::protocol::codec::peek_kind(&reply) {
            Ok(Kind::BlindReply) => BlindReply::decode(&reply, limits)
                .map_err(|e| Probed::of(BlindOutcome::Failed, format!("its reply: {e}"))),
            Ok(Kind::Reply) => match Reply::decode(&reply, limits) {
                Ok(Reply::Refused(Refusal::UnexpectedKind | Refusal::Malformed)) => {
                    Err(Probed::of(
                        BlindOutcome::NoFilter,
                        "it does not take part in blind traces (a node before them)",
                    ))
                }
                Ok(Reply::Refused(r)) => Err(Probed::of(BlindOutcome::Refused, r.to_string())),
                _ => Err(Probed::of(BlindOutcome::Failed, "an unexpected reply")),
            },
            _ => Err(Probed::of(BlindOutcome::Failed, "an unreadable reply")),
        }
    }
}

fn reply_name(r: &BlindReply) -> &'static str {
    match r {
        BlindReply::Filter(_) => "filter",
        BlindReply::NoFilter => "no_filter",
        BlindReply::Chunk(_) => "chunk",
        BlindReply::Stale { .. } => "stale (the filter was rebuilt meanwhile; retry)",
        BlindReply::Evaluated { .. } => "evaluated",
        BlindReply::Refused { .. } => "refused",
    }
}

/// A holder's refusal; probed again after `retry_after_secs` (when given and
/// before the trace's deadline).
fn refused(refusal: Refusal, retry_after_secs: u32) -> Probed {
    Probed {
        outcome: BlindOutcome::Refused,
        detail: Some(if retry_after_secs > 0 {
            format!("{refusal}; probed again after {retry_after_secs} s")
        } else {
            refusal.to_string()
        }),
        elements: 0,
        retry_after: (retry_after_secs > 0).then_some(retry_after_secs),
    }
}
