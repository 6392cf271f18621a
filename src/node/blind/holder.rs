//! The holder's side of blind traces: keyed filters of the registry's
//! prefixes, built from kept evaluations (an import evaluates only its new
//! keys), signed and served by chunks; and blind evaluations for other
//! States, within each State's hourly budget, each batch audited as
//! "blind evaluation: N elements" before its reply leaves.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use libp2p::PeerId;

use super::{Served, ServedFilter};

/// How long a request waits for its prefix's filter to be built.
const BUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// When a requester is told to come back while a filter is being built.
const BUILD_RETRY_SECS: u32 = 5;
use crate::audit::{AuditKind, NewEntry};
use crate::blind::{BlindedBatch, build_filter, canonical_input, filter_key, serial_alphabet};
use crate::marking::MarkingPrefix;
use crate::node::{Node, bump, unix_now_ms};
use crate::protocol::blind::{BlindReply, BlindRequest};
use crate::protocol::{Party, Refusal};

/// The State `peer`'s blind requests are charged to at `now` (unix
/// seconds): a member that speaks for a State under a roster in force.
fn requesting_state(
    members: &crate::node::members::Members,
    peer: &PeerId,
    now: u64,
) -> Result<crate::model::CountryCode, Refusal> {
    if now > crate::protocol::Vouching::valid_until(members) {
        return Err(Refusal::RosterExpired);
    }
    match members.get(peer) {
        Some(m) if !m.bootstrap => Ok(m.state),
        _ => Err(Refusal::NotAMember),
    }
}

impl Node {
    /// Answers one blind request from `peer` (encoded reply). Never awaits
    /// the store on the runtime's threads.
    pub(in crate::node) async fn on_blind_request(&self, peer: PeerId, data: Vec<u8>) -> Vec<u8> {
        let state = match self.blind_requester(&peer) {
            Ok(s) => s,
            Err(r) => {
                self.refuse_blind(peer, None, r, r.code()).await;
                return BlindReply::refused(r).encode();
            }
        };
        let req = match BlindRequest::decode(&data, self.inner.rules.limits) {
            Ok(r) => r,
            Err(_) => {
                let r = Refusal::Malformed;
                self.refuse_blind(peer, Some(state), r, r.code()).await;
                return BlindReply::refused(r).encode();
            }
        };
        if self.inner.registry.is_none() {
            return BlindReply::NoFilter.encode();
        }
        let reply = match req {
            BlindRequest::Filter { prefix } => {
                let served = match self.filter_for(prefix).await {
                    Ok(s) => s,
                    Err(building) => return building.encode(),
                };
                bump(&self.inner.counters.blind_filters_served);
                match served.as_ref().map(|s| s.filter.as_ref()) {
                    Some(Some(f)) => match self.charge_filter_bytes(peer, state).await {
                        Ok(()) => BlindReply::Filter(f.header.clone()),
                        Err(refused) => refused,
                    },
                    Some(None) => BlindReply::NoFilter,
                    None => BlindReply::refused(Refusal::Internal),
                }
            }
            BlindRequest::Chunk {
                prefix,
                version,
                index,
            } => {
                let served = match self.filter_for(prefix).await {
                    Ok(s) => s,
                    Err(building) => return building.encode(),
                };
                bump(&self.inner.counters.blind_filters_served);
                match served.as_ref().map(|s| s.filter.as_ref()) {
                    Some(Some(f)) if f.version != version => {
                        BlindReply::Stale { version: f.version }
                    }
                    Some(Some(f)) => match f.chunks.get(index as usize) {
                        Some(c) => match self.charge_filter_bytes(peer, state).await {
                            Ok(()) => BlindReply::Chunk(c.clone()),
                            Err(refused) => refused,
                        },
                        None => BlindReply::refused(Refusal::Malformed),
                    },
                    Some(None) => BlindReply::NoFilter,
                    None => BlindReply::refused(Refusal::Internal),
                }
            }
            BlindRequest::Evaluate { elements } => self.evaluate_blind(peer, state, elements).await,
        };
        reply.encode()
    }

    /// Charges one filter header or chunk served to `state`'s hourly bytes
    /// (`node.blind_chunks_mib_per_hour`), as a whole chunk's
    /// [`super::SERVED_REPLY_KIB`] whatever its length; past them, the
    /// refusal to send (`rate_limited`, with when to come back), counted
    /// and tallied in the audit as `blind_chunks`.
    async fn charge_filter_bytes(
        &self,
        peer: PeerId,
        state: crate::model::CountryCode,
    ) -> Result<(), BlindReply> {
        let allowed = self
            .inner
            .blind
            .chunks_served
            .lock()
            .map(|mut b| b.take(state, super::SERVED_REPLY_KIB, Instant::now()))
            .unwrap_or(Err(std::time::Duration::from_secs(60)));
        let Err(wait) = allowed else {
            return Ok(());
        };
        self.refuse_blind(
            peer,
            Some(state),
            Refusal::RateLimited,
            super::BLIND_CHUNKS_RULE,
        )
        .await;
        Err(BlindReply::Refused {
            refusal: Refusal::RateLimited,
            retry_after_secs: wait.as_secs().clamp(1, u64::from(u32::MAX)) as u32,
        })
    }

    /// The State a blind request from `peer` is charged to: a member of the
    /// roster in force, and not a bootstrap peer, which speaks for no State
    /// (as in `protocol::accept`) and has no budget of its own to spend.
    fn blind_requester(&self, peer: &PeerId) -> Result<crate::model::CountryCode, Refusal> {
        requesting_state(&self.read_members(), peer, crate::node::unix_now())
    }

    /// Counts a refused blind request as every refusal is counted (the
    /// audit's first entry of its peer and `rule` in a tally interval, then
    /// one with the count; a hostile one a strike), on a blocking thread.
    async fn refuse_blind(
        &self,
        peer: PeerId,
        state: Option<crate::model::CountryCode>,
        r: Refusal,
        rule: &'static str,
    ) {
        let node = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            node.count_refusal_as(&peer.to_string(), state, r, rule)
        })
        .await;
    }

    /// The filter served for `prefix`, built if it must be (on a blocking
    /// thread, one build per prefix at a time). A build that takes longer
    /// than [`BUILD_WAIT`] goes on in the background and the requester is
    /// told `overloaded` with when to come back, rather than timing out.
    /// `Ok(None)`: it could not be built.
    async fn filter_for(&self, prefix: MarkingPrefix) -> Result<Option<Arc<Served>>, BlindReply> {
        let building = BlindReply::Refused {
            refusal: Refusal::Overloaded,
            retry_after_secs: BUILD_RETRY_SECS,
        };
        let b = &self.inner.blind;
        if let Some(s) = self.current_served(&prefix) {
            return Ok(Some(s));
        }
        let first = b
            .builds
            .lock()
            .map(|mut s| s.insert(prefix.clone()))
            .unwrap_or(false);
        if !first {
            return Err(building);
        }
        let node = self.clone();
        // Builds of other prefixes wait their turn here, holding no thread
        // of the bounded pool; the build goes on past BUILD_WAIT.
        let turn = b.build_turn.clone();
        let job = tokio::spawn(async move {
            let _turn = turn.acquire_owned().await;
            let (n, p) = (node.clone(), prefix.clone());
            let served = tokio::task::spawn_blocking(move || n.served_filter(&p))
                .await
                .ok()
                .flatten();
            // Also after a panic: the next request builds again.
            if let Ok(mut s) = node.inner.blind.builds.lock() {
                s.remove(&prefix);
            }
            served
        });
        match tokio::time::timeout(BUILD_WAIT, job).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(_)) => Ok(None),
            Err(_) => Err(building),
        }
    }

    /// The filter of `prefix` built at the current generation, if any.
    fn current_served(&self, prefix: &MarkingPrefix) -> Option<Arc<Served>> {
        let b = &self.inner.blind;
        let g = b.generation.load(Ordering::SeqCst);
        b.served
            .lock()
            .ok()
            .and_then(|m| m.get(prefix).filter(|s| s.generation == g).cloned())
    }

    /// Evaluates a batch within the State's budget. Its elements are
    /// checked before the audit entry is written and the proof made: a batch
    /// with one that is not a ristretto255 element is refused as malformed
    /// (a strike against the peer, charged to the budget, tallied rather than
    /// audited one by one); a batch over the budget is refused as rate
    /// limited and tallied under [`super::BLIND_BUDGET_RULE`]. A batch
    /// evaluated is audited first, flushed (fail closed).
    async fn evaluate_blind(
        &self,
        peer: PeerId,
        state: crate::model::CountryCode,
        elements: Vec<crate::protocol::blind::Element>,
    ) -> BlindReply {
        let n = elements.len();
        let allowed = self
            .inner
            .blind
            .budget
            .lock()
            .map(|mut b| b.take(state, n, Instant::now()))
            .unwrap_or(Err(std::time::Duration::from_secs(60)));
        if let Err(wait) = allowed {
            self.inner
                .counters
                .blind_evaluations_refused
                .fetch_add(n as u64, Ordering::Relaxed);
            self.refuse_blind(
                peer,
                Some(state),
                Refusal::RateLimited,
                super::BLIND_BUDGET_RULE,
            )
            .await;
            return BlindReply::Refused {
                refusal: Refusal::RateLimited,
                retry_after_secs: wait.as_secs().clamp(1, u64::from(u32::MAX)) as u32,
            };
        }
        let Ok(_permit) = self.inner.blind.evaluating.clone().acquire_owned().await else {
            return BlindReply::refused(Refusal::Internal);
        };
        let node = self.clone();
        let entry = NewEntry {
            peer: Some(peer.to_string()),
            state: Some(state),
            outcome: Some(format!("{n} element{}", if n == 1 { "" } else { "s" })),
            ..NewEntry::default()
        };
        let done = tokio::task::spawn_blocking(move || {
            let Ok(batch) = BlindedBatch::check(&elements) else {
                let r = Refusal::Malformed;
                node.count_refusal_as(&peer.to_string(), Some(state), r, r.code());
                return Err(r);
            };
            node.record(AuditKind::BlindEvaluation, entry, true)
                .map_err(|_| Refusal::AuditUnavailable)?;
            node.inner.blind.oprf.blind_evaluate(&batch).map_err(|e| {
                tracing::error!(error = %e, "blind evaluation failed on a checked batch");
                Refusal::Internal
            })
        })
        .await
        .unwrap_or(Err(Refusal::Internal));
        match done {
            Ok((elements, proof)) => {
                self.inner
                    .counters
                    .blind_evaluations
                    .fetch_add(n as u64, Ordering::Relaxed);
                tracing::info!(%peer, %state, elements = n, "blind evaluation");
                BlindReply::Evaluated { elements, proof }
            }
            Err(r) => BlindReply::refused(r),
        }
    }

    /// The filter served for `prefix`: the one built at the current
    /// generation, or a new one (blocking: reads the registry, evaluates new
    /// keys). `None` if it cannot be built (logged).
    fn served_filter(&self, prefix: &MarkingPrefix) -> Option<Arc<Served>> {
        let b = &self.inner.blind;
        let current = |g: u64| {
            b.served
                .lock()
                .ok()
                .and_then(|m| m.get(prefix).filter(|s| s.generation == g).cloned())
        };
        let g = b.generation.load(Ordering::SeqCst);
        if let Some(s) = current(g) {
            return Some(s);
        }
        let _one = b.building.lock().unwrap_or_else(|e| e.into_inner());
        let g = b.generation.load(Ordering::SeqCst);
        if let Some(s) = current(g) {
            return Some(s);
        }
        let previous = b
            .served
            .lock()
            .ok()
            .and_then(|m| m.get(prefix).and_then(|s| s.filter.clone()));
        match self.build_served(prefix, g, previous) {
            Ok(s) => {
                let s = Arc::new(s);
                // Only held prefixes are kept: a member naming prefixes this
                // node does not hold cannot grow the map.
                if s.filter.is_some()
                    && let Ok(mut m) = b.served.lock()
                {
                    m.insert(prefix.clone(), s.clone());
                }
                Some(s)
            }
            Err(e) => {
                tracing::error!(%prefix, error = %e, "cannot build the keyed filter; blind traces under this prefix are refused");
                None
            }
        }
    }

    fn build_served(
        &self,
        prefix: &MarkingPrefix,
        generation: u64,
        previous: Option<Arc<ServedFilter>>,
    ) -> Result<Served, String> {
        let Some(reg) = self.inner.registry.as_ref() else {
            return Ok(Served {
                generation,
                filter: None,
            });
        };
        let started = Instant::now();
        // Under a policy of silence for confidential records, their keys
        // stay out of the filter (its keys, count and alphabet).
        let hide = self.inner.policy.disclosure.hides_confidential();
        let keys = reg
            .serial_keys_under(prefix, hide)
            .map_err(|e| e.to_string())?;
        if keys.is_empty() {
            return Ok(Served {
                generation,
                filter: None,
            });
        }
        let (filter_keys, evaluated) = self.filter_keys(prefix, &keys)?;
        let alphabet: String = serial_alphabet(keys.iter().map(String::as_str))
            .chars()
            .take(crate::protocol::blind::MAX_ALPHABET_CHARS)
            .collect();
        let made_of = filter_made_of(&filter_keys, &alphabet);
        // An import that changed nothing under this prefix (other prefixes'
        // records, or the same records again) keeps the filter requesters
        // hold: a new version would have each of them fetch it whole again.
        if let Some(p) = previous.as_ref().filter(|p| p.made_of == made_of) {
            tracing::debug!(%prefix, version = p.version, "keyed filter unchanged");
            return Ok(Served {
                generation,
                filter: Some(p.clone()),
            });
        }
        let built = build_filter(filter_keys).map_err(|e| e.to_string())?;
        let version = unix_now_ms().max(previous.map_or(0, |p| p.version + 1));
        let header = built.header(
            Party {
                state: self.inner.state,
                key: self.inner.key.public_key(),
            },
            prefix.clone(),
            version,
            self.inner.blind.oprf.public_key(),
            alphabet,
        );
        let signed = self.inner.key.sign(header).map_err(|e| e.to_string())?;
        tracing::info!(%prefix, keys = built.keys, evaluated, bytes = built.bytes(), ms = started.elapsed().as_millis() as u64, "keyed filter built");
        Ok(Served {
            generation,
            filter: Some(Arc::new(ServedFilter {
                version,
                header: signed.bytes().to_vec(),
                chunks: built.chunks,
                made_of,
            })),
        })
    }

    /// The filter key of each serial key: kept ones read, new ones
    /// evaluated (on every core) and kept. Returns the keys and how many
    /// were evaluated now.
    fn filter_keys(
        &self,
        prefix: &MarkingPrefix,
        keys: &std::collections::BTreeSet<String>,
    ) -> Result<(Vec<u64>, usize), String> {
        filter_keys_with(
            &self.inner.blind.oprf,
            &self.inner.blind.evaluations,
            prefix,
            keys,
        )
    }
}

/// SHA-256 of a filter's keys, in the order built, and its serial alphabet:
/// equal for two builds that would serve the same filter.
fn filter_made_of(keys: &[u64], alphabet: &str) -> [u8; 32] {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    d.update(&(keys.len() as u64).to_le_bytes());
    for k in keys {
        d.update(&k.to_le_bytes());
    }
    d.update(alphabet.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.finish().as_ref());
    out
}

/// [`Node::filter_keys`] without a node: what the benchmark measures.
pub fn filter_keys_with(
    oprf: &crate::blind::OprfKey,
    kept: &sled::Tree,
    prefix: &MarkingPrefix,
    keys: &std::collections::BTreeSet<String>,
) -> Result<(Vec<u64>, usize), String> {
    let head = format!("{}\0{}\0", prefix.country, prefix.maker);
    let mut out = Vec::with_capacity(keys.len());
    let mut missing: Vec<&str> = Vec::new();
    // One ordered scan of the kept evaluations beside the ordered keys (both
    // in byte order): a million point reads took ten times as long.
    let mut scan = kept.scan_prefix(head.as_bytes()).peekable();
    for k in keys {
        let mut found = None;
        while let Some(kv) = scan.peek() {
            let (at, v) = match kv {
                Ok(kv) => kv,
                Err(e) => return Err(e.to_string()),
            };
            match at[head.len()..].cmp(k.as_bytes()) {
                std::cmp::Ordering::Less => {
                    scan.next();
                }
                std::cmp::Ordering::Equal => {
                    if let Ok(b) = <[u8; 8]>::try_from(v.as_ref()) {
                        found = Some(u64::from_le_bytes(b));
                    }
                    scan.next();
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        match found {
            Some(fk) => out.push(fk),
            None => missing.push(k),
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = missing.len().div_ceil(threads).max(1);
    let evaluated: Vec<Result<Vec<(String, u64)>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = missing
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|k| {
                            oprf.evaluate(&canonical_input(prefix, k))
                                .map(|o| (k.to_string(), filter_key(&o)))
                                .map_err(|e| format!("serial key {k:?}: {e}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("an evaluation thread failed".into()))
            })
            .collect()
    });
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for part in evaluated {
        for (k, fk) in part? {
            batch.insert([head.as_bytes(), k.as_bytes()].concat(), &fk.to_le_bytes());
            out.push(fk);
            n += 1;
        }
    }
    kept.apply_batch(batch).map_err(|e| e.to_string())?;
    Ok((out, n))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::filter_keys_with;
    use crate::blind::{OprfKey, canonical_input, filter_key};
    use crate::marking::MarkingPrefix;

    /// A blind request is charged to a member speaking for a State, while
    /// the roster is in force: not to a bootstrap peer, nor to anyone once
    /// the roster has expired.
    #[test]
    fn blind_requests_are_charged_to_a_state_under_a_roster_in_force() {
        use crate::node::members::{MemberInfo, Members};
        use crate::protocol::Refusal;
        let member = |seed: u8, bootstrap: bool| {
            let key = crate::protocol::SigningKey::from_seed(&[seed; 32]).unwrap();
            let peer = crate::identity::peer_id_of(&key.public_key()).unwrap();
            let info = MemberInfo {
                state: crate::model::CountryCode::parse("ZA").unwrap(),
                name: "ZA".into(),
                key: key.public_key(),
                addrs: Vec::new(),
                bootstrap,
                prefixes: Vec::new(),
                oprf_key: None,
            };
            (peer, info)
        };
        let (za, za_info) = member(1, false);
        let (be, be_info) = member(2, true);
        let (outsider, _) = member(3, false);
        let mut m = Members {
            version: 1,
            valid_until: 100,
            ..Members::default()
        };
        m.by_peer.insert(za, za_info);
        m.by_peer.insert(be, be_info);
        let za_state = crate::model::CountryCode::parse("ZA").unwrap();
        assert_eq!(super::requesting_state(&m, &za, 100), Ok(za_state));
        assert_eq!(
            super::requesting_state(&m, &be, 100),
            Err(Refusal::NotAMember)
        );
        assert_eq!(
            super::requesting_state(&m, &outsider, 100),
            Err(Refusal::NotAMember)
        );
        assert_eq!(
            super::requesting_state(&m, &za, 101),
            Err(Refusal::RosterExpired)
        );
    }

    /// Kept evaluations are reused, only new keys are evaluated, and a key
    /// kept for a record removed since is not put in the filter.
    #[test]
    fn an_import_evaluates_only_its_new_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let kept = db.open_tree("blind_evaluations").unwrap();
        let key = OprfKey::from_seed(&[3; 32]).unwrap();
        let p: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
        let other: MarkingPrefix = "DE/CARLWALTHERX".parse().unwrap();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let direct = |p: &MarkingPrefix, ks: &BTreeSet<String>| {
            let mut v: Vec<u64> = ks
                .iter()
                .map(|k| filter_key(&key.evaluate(&canonical_input(p, k)).unwrap()))
                .collect();
            v.sort_unstable();
            v
        };
        let first = set(&["A1", "B2", "C3", "D4"]);
        let (_, n) = filter_keys_with(&key, &kept, &p, &first).unwrap();
        assert_eq!(n, 4);
        // Another prefix whose name extends this one's stays apart.
        let (_, n) = filter_keys_with(&key, &kept, &other, &set(&["A1"])).unwrap();
        assert_eq!(n, 1);
        // B2 removed, E5 and 0 added.
        let second = set(&["0", "A1", "C3", "D4", "E5"]);
        let (mut got, n) = filter_keys_with(&key, &kept, &p, &second).unwrap();
        assert_eq!(n, 2, "only the new keys are evaluated");
        got.sort_unstable();
        assert_eq!(got, direct(&p, &second));
    }

    /// Evaluations kept under one OPRF key are not used under another (a
    /// replaced seed file): the filter is the new key's, whole.
    #[test]
    fn evaluations_kept_under_another_key_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let (a, b) = (
            OprfKey::from_seed(&[3; 32]).unwrap(),
            OprfKey::from_seed(&[4; 32]).unwrap(),
        );
        let p: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
        let keys: BTreeSet<String> = ["A1", "B2"].iter().map(|s| s.to_string()).collect();
        let kept = super::super::kept_evaluations(&db, &a).unwrap();
        assert_eq!(filter_keys_with(&a, &kept, &p, &keys).unwrap().1, 2);
        // The same key again: kept.
        let kept = super::super::kept_evaluations(&db, &a).unwrap();
        assert_eq!(filter_keys_with(&a, &kept, &p, &keys).unwrap().1, 0);
        // Another key: everything evaluated again, under it.
        let kept = super::super::kept_evaluations(&db, &b).unwrap();
        let (mut got, n) = filter_keys_with(&b, &kept, &p, &keys).unwrap();
        assert_eq!(n, 2);
        got.sort_unstable();
        let mut want: Vec<u64> = keys
            .iter()
            .map(|k| filter_key(&b.evaluate(&canonical_input(&p, k)).unwrap()))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want);
    }
}
