//! Answering a trace query from the national registry: the match is done at
//! home, and only record projections leave. This is the one place where a
//! registry `Record` becomes something that crosses a border.

use super::policy::{self, Decision, Disclosure, Policy, ReviewReason};
use crate::protocol::{
    Candidate, EncodeError, EventProjection, Limits, MAX_CANDIDATES, MAX_EVENTS, Outcome, Quality,
    RecordProjection, RefusedReason, TraceQuery, WithheldReason,
};
use crate::registry::{self, FindQuery, Record, Registry, RegistryError};

/// How a node answers; from the `[node]` section of its configuration.
#[derive(Debug, Clone)]
pub struct AnswerPolicy {
    /// Answer `no_hit` when holding the prefix but not the weapon (so the
    /// requester knows who looked), rather than stay silent.
    pub answer_no_hit: bool,
    /// At most this many candidates in a hit; more answer with their count only.
    pub max_candidates: usize,
    /// The disclosure policy (policy.toml).
    pub disclosure: Policy,
}

impl Default for AnswerPolicy {
    fn default() -> Self {
        AnswerPolicy {
            answer_no_hit: true,
            max_candidates: 5,
            disclosure: Policy::default(),
        }
    }
}

impl AnswerPolicy {
    /// The `[node]` settings' part of the policy; the disclosure policy comes
    /// from policy.toml.
    pub fn from_settings(s: &crate::config::NodeSettings) -> Self {
        AnswerPolicy {
            answer_no_hit: s.answer_no_hit,
            max_candidates: s.max_candidates.clamp(1, crate::protocol::MAX_CANDIDATES),
            disclosure: Policy::default(),
        }
    }
}

/// What to do with a query once the registry has been searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Send(Outcome),
    Silent,
    /// A person decides; the requester gets a signed `acknowledged` now.
    Review(ReviewReason),
}

/// Reduces a record to what may cross a border: no reference, no note, no id.
/// Every event is kept: [`fit`] cuts a long life to what an answer carries,
/// keeping its first and most recent events and saying how many it left out.
pub fn project(r: &Record) -> RecordProjection {
    RecordProjection {
        marking: r.marking.clone(),
        category: r.category,
        model: r.model.clone(),
        calibre: r.calibre.clone(),
        events: r
            .events
            .iter()
            .map(|e| EventProjection {
                kind: e.kind,
                date: e.date,
                counterpart: e.counterpart,
                holder: e.holder,
            })
            .collect(),
    }
}

/// The records matching a query: the best `MAX_CANDIDATES + 1`, decoded
/// (one more than any answer may carry, so that [`plan`] sees whether there
/// are too many), how many matched in all, counted from the index keys
/// without decoding the rest, and those of the rest held as lost or stolen
/// (found from their stored flags): a wildcard that matches a hundred
/// thousand records costs a count, not a hundred thousand decodings.
///
/// `hide_confidential` leaves confidential records out of the candidates and
/// the count (`Policy::hides_confidential`, for another State's query).
pub fn lookup(
    reg: &Registry,
    q: &TraceQuery,
    hide_confidential: bool,
) -> Result<registry::Found, RegistryError> {
    // `?*`, `*7`: nearly every serial of the maker. Answered `too_many`
    // without reading the registry (a member could make each holder scan a
    // whole prefix for it); a node of today refuses to send one.
    if q.marking.reads_too_little() {
        return Ok(registry::Found {
            candidates: Vec::new(),
            matched: COUNT_CAP,
            capped: true,
            hidden: 0,
            diverted: Vec::new(),
            confidential_in_scope: false,
        });
    }
    let maker = q.marking.manufacturer();
    reg.find_counted(&FindQuery {
        maker: (!maker.is_empty()).then(|| maker.to_string()),
        country: Some(q.marking.country()),
        factory_code: q.marking.factory_code().map(str::to_string),
        serial: q.marking.serial().to_string(),
        limit: MAX_CANDIDATES + 1,
        hide_confidential,
    })
}

/// Whether another State's query `q` is looked up with the confidential
/// records out of sight: under a policy of silence, and for every wildcard
/// (`?`, `*`). A wildcard answered `withheld` when it matched a confidential
/// record, and `no_hit` when not, let a member rebuild a confidential serial
/// a character at a time (`SE*` withheld, `SF*` no record, `SEC*` ...: a
/// regional organisation's trial). A wildcard is answered by its public
/// matches alone, and where none matched, by whether the prefixes it
/// searched hold confidential records at all ([`plan`]): the same answer
/// whatever serial it asked. An exact or folded serial is matched as before:
/// that a record exists under it is what `withhold` tells.
pub fn hides_confidential(p: &AnswerPolicy, q: &TraceQuery) -> bool {
    p.disclosure.hides_confidential() || q.marking.has_wildcards()
}

/// The largest count a `too_many` answer gives: more matches read as this
/// many. A wildcard like `?*` then tells a requester no more about the size
/// of a maker's records here than "at least 10,000" (what holders said
/// before matches were counted without decoding, when they read at most
/// this many).
pub const COUNT_CAP: usize = 10_000;

/// The `too_many` answer for `matched` records, its count capped at
/// [`COUNT_CAP`].
pub fn too_many(matched: usize) -> Outcome {
    Outcome::TooMany {
        count: matched.min(COUNT_CAP) as u32,
    }
}

/// The records a trace matched that this node holds as lost or stolen: the
/// ones it raises alerts for. Every match counts, the decoded candidates and,
/// past them (a wildcard answered `too_many`), those the registry found
/// diverted from their stored flags: an obliterated serial matching many
/// records still tells the owner of a stolen one that it may have been found.
pub fn diverted(found: &registry::Found) -> impl Iterator<Item = &registry::Candidate> {
    found
        .candidates
        .iter()
        .chain(&found.diverted)
        .filter(|c| c.record.events.iter().any(|e| e.kind.is_diversion()))
}

/// The outcome of disclosing `found` at `level`.
pub fn disclosed(found: &[registry::Candidate], level: Disclosure) -> Outcome {
    if level == Disclosure::AcknowledgeOnly {
        return Outcome::Withheld {
            reason: WithheldReason::Other,
        };
    }
    let candidates = found
        .iter()
        .map(|c| Candidate {
            quality: Quality::from(c.quality),
            record: policy::apply(project(&c.record), level),
        })
        .collect();
    Outcome::Hit { candidates }
}

/// Decides what a query's matches answer, under the node's policy.
pub fn plan(found: &registry::Found, q: &TraceQuery, p: &AnswerPolicy) -> Planned {
    // Nothing public matched a wildcard under prefixes that hold
    // confidential records: answered as the `confidential` rule answers a
    // confidential match without a person, whether one matched or not
    // ([`hides_confidential`], `Policy::confidential_rule`).
    let wildcard = q.marking.has_wildcards();
    if wildcard && found.matched == 0 && found.confidential_in_scope {
        return match p.disclosure.confidential_rule() {
            Decision::Silent => Planned::Silent,
            _ => Planned::Send(Outcome::Withheld {
                reason: WithheldReason::NationalLaw,
            }),
        };
    }
    // A wildcard's hidden matches say nothing more (above); an exact
    // serial's, under a policy of silence, keep the answer silent.
    let hidden = !wildcard && found.hidden > 0;
    if found.capped {
        // The find stopped before it had counted every match: never a
        // no_hit or a partial hit from it; silent, as for any confidential
        // match under silence, when all it held were confidential ones.
        if found.matched == 0 && hidden {
            return Planned::Silent;
        }
        return Planned::Send(too_many(COUNT_CAP));
    }
    if found.matched == 0 && hidden {
        // Only confidential records matched, under a policy of silence:
        // silent, never a false no_hit.
        return Planned::Silent;
    }
    if found.matched == 0 {
        return if p.answer_no_hit {
            Planned::Send(Outcome::NoHit)
        } else {
            Planned::Silent
        };
    }
    if found.matched > p.max_candidates {
        // A wildcard must not be a way to dump a registry: the count only.
        return Planned::Send(too_many(found.matched));
    }
    let found = &found.candidates[..];
    let confidential = found.iter().any(|c| c.record.confidential);
    match p
        .disclosure
        .decide(q.requester.state, q.priority, confidential)
    {
        Decision::Review(r) => Planned::Review(r),
        Decision::Silent => Planned::Silent,
        Decision::Withhold => Planned::Send(Outcome::Withheld {
            reason: WithheldReason::NationalLaw,
        }),
        Decision::Disclose(level) => Planned::Send(disclosed(found, level)),
    }
}

/// Looks up and plans in one step, a review standing as `acknowledged`: the
/// outcome to sign (or `None` to stay silent) and the matching records.
pub fn answer(
    reg: &Registry,
    q: &TraceQuery,
    policy: &AnswerPolicy,
) -> Result<(Option<Outcome>, registry::Found), RegistryError> {
    let found = lookup(reg, q, hides_confidential(policy, q))?;
    let outcome = match plan(&found, q, policy) {
        Planned::Send(o) => Some(o),
        Planned::Silent => None,
        Planned::Review(_) => Some(Outcome::Acknowledged),
    };
    Ok((outcome, found))
}

/// Bytes a reply adds around the answer frame it carries: the envelope
/// header, the variant index and the frame's length (varints, the length at
/// most 5 bytes for any frame under 4 GiB).
const REPLY_OVERHEAD: usize = crate::protocol::codec::HEADER_LEN + 1 + 5;

/// The largest answer frame this node may sign: one its own transport can
/// carry (request-response frames of at most `max_message_bytes`, a directed
/// answer inside a reply) and a requester decodes (frames and replies of at
/// most `limits.max_frame`).
pub fn max_answer_bytes(max_message_bytes: usize, limits: Limits) -> usize {
    max_message_bytes
        .min(limits.max_frame)
        .saturating_sub(REPLY_OVERHEAD)
}

/// Makes an outcome fit an answer frame of at most `max_bytes`, sizes
/// measured by signing it with `sign` (the frame that would be sent). A hit
/// whose records carry more events than a projection may, or whose frame is
/// too large, is cut: each candidate keeps its first event (its manufacture)
/// and as many of its most recent ones as fit, the same number for each, and
/// the outcome becomes `trimmed` with the count left out. If even the first
/// and last event of each do not fit: `too_many` with the count when there
/// are several candidates, else `refused(too_large)`. The oversized answer
/// is never what is returned: it would not be delivered, and the requester
/// would wait for nothing.
pub fn fit(
    outcome: Outcome,
    max_bytes: usize,
    mut sign: impl FnMut(&Outcome) -> Result<Vec<u8>, EncodeError>,
) -> Result<(Outcome, Vec<u8>), EncodeError> {
    let Outcome::Hit { candidates } = outcome else {
        if let Some(bytes) = fitting(sign(&outcome), max_bytes)? {
            return Ok((outcome, bytes));
        }
        return too_large(1, sign);
    };
    if candidates.len() > MAX_CANDIDATES {
        return too_large(candidates.len(), sign);
    }
    let longest = candidates
        .iter()
        .map(|c| c.record.events.len())
        .max()
        .unwrap_or(0);
    // Whole, or cut to the most events a projection may carry.
    let first = longest.min(MAX_EVENTS);
    if let Some(fits) = attempt(&candidates, first, max_bytes, &mut sign)? {
        return Ok(fits);
    }
    // The fewest: the first and the last event of each.
    let fewest = if first > 2 {
        attempt(&candidates, 2, max_bytes, &mut sign)?
    } else {
        None
    };
    let Some(mut best) = fewest else {
        return too_large(candidates.len(), sign);
    };
    // The most events between, by bisection: the size grows with `keep`.
    let (mut lo, mut hi) = (2, first - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match attempt(&candidates, mid, max_bytes, &mut sign)? {
            Some(fits) => {
                best = fits;
                lo = mid;
            }
            None => hi = mid - 1,
        }
    }
    Ok(best)
}

/// The hit cut to `keep` events a candidate, signed, if it fits.
fn attempt(
    candidates: &[Candidate],
    keep: usize,
    max_bytes: usize,
    sign: &mut impl FnMut(&Outcome) -> Result<Vec<u8>, EncodeError>,
) -> Result<Option<(Outcome, Vec<u8>)>, EncodeError> {
    let o = keep_events(candidates, keep);
    Ok(fitting(sign(&o), max_bytes)?.map(|bytes| (o, bytes)))
}

/// A signed frame if it fits; `None` if it is too large (for `max_bytes`,
/// or for what `sign` itself produces); any other failure is an error.
fn fitting(
    signed: Result<Vec<u8>, EncodeError>,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, EncodeError> {
    match signed {
        Ok(bytes) => Ok((bytes.len() <= max_bytes).then_some(bytes)),
        Err(EncodeError::TooLarge { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The hit with each candidate cut to `keep` events, in their order: its
/// first (the manufacture), its first loss or theft (the point of
/// diversion, which a cut must not move) when there is room, then its most
/// recent ones; `trimmed` if any event was left out.
fn keep_events(candidates: &[Candidate], keep: usize) -> Outcome {
    let mut left_out = 0usize;
    let candidates: Vec<Candidate> = candidates
        .iter()
        .map(|c| {
            let events = &c.record.events;
            let mut c = c.clone();
            let n = events.len();
            if n > keep && keep >= 1 {
                left_out += n - keep;
                let mut kept = vec![0usize];
                if let Some(d) = events.iter().position(|e| e.kind.is_diversion())
                    && d > 0
                    && keep >= 3
                    && d < n - (keep - 2)
                {
                    kept.push(d);
                }
                let recent = keep - kept.len();
                kept.extend(n - recent..n);
                c.record.events = kept.into_iter().map(|i| events[i].clone()).collect();
            }
            c
        })
        .collect();
    if left_out == 0 {
        Outcome::Hit { candidates }
    } else {
        Outcome::Trimmed {
            candidates,
            events_left_out: u32::try_from(left_out).unwrap_or(u32::MAX),
        }
    }
}

/// What is said when no cut of the records fits: how many there are, or
/// for a single one, that it does not fit.
fn too_large(
    count: usize,
    mut sign: impl FnMut(&Outcome) -> Result<Vec<u8>, EncodeError>,
) -> Result<(Outcome, Vec<u8>), EncodeError> {
    let o = if count > 1 {
        Outcome::TooMany {
            count: u32::try_from(count).unwrap_or(u32::MAX),
        }
    } else {
        Outcome::Refused {
            reason: RefusedReason::TooLarge,
            retry_after_secs: 0,
        }
    };
    let bytes = sign(&o)?;
    Ok((o, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marking::{MakerTable, Marking};
    use crate::model::{CountryCode, WeaponCategory};
    use crate::protocol::{IntendedUse, LegalGround, Party, Priority, PublicKey, QueryId};

    fn registry(lines: &[String]) -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_db(&dir.path().join("db"), &Default::default()).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        let recs = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        reg.put_all(recs).unwrap();
        (dir, reg)
    }

    fn rec(id: &str, serial: &str, confidential: bool) -> String {
        format!(
            r#"{{"id":"{id}","marking":{{"manufacturer":"Walther","country":"DE","serial":"{serial}"}},"category":"pistol","confidential":{confidential},"events":[{{"date":"2010-01-01","kind":"exported","counterpart":"NG","reference":"REF-CANARY","note":"NOTE-CANARY"}}]}}"#
        )
    }

    fn query(serial: &str) -> TraceQuery {
        TraceQuery {
            id: QueryId([1; 16]),
            requester: Party {
                state: CountryCode::parse("KE").unwrap(),
                key: PublicKey([2; 32]),
            },
            issued_at: 0,
            ttl_secs: 60,
            priority: Priority::Routine,
            marking: Marking::new("Carl Walther", CountryCode::parse("DE").unwrap(), serial)
                .unwrap(),
            category: WeaponCategory::Pistol,
            calibre: None,
            legal_ground: LegalGround::SeizedInCrime,
            intended_use: IntendedUse::CriminalInvestigation,
            makers_version: Some(0),
            directed_only: false,
            served: None,
        }
    }

    #[test]
    fn outcomes_follow_the_registry_and_the_policy() {
        let mut lines: Vec<String> = (0..7)
            .map(|i| rec(&format!("W{i}"), &format!("AB{i}00"), false))
            .collect();
        lines.push(rec("C1", "CONF1", true));
        let (_d, reg) = registry(&lines);
        let policy = AnswerPolicy::default();

        let (o, _) = answer(&reg, &query("AB300"), &policy).unwrap();
        let Some(Outcome::Hit { candidates }) = o else {
            panic!("{o:?}")
        };
        assert_eq!(candidates.len(), 1);
        // Nothing national in what crosses the border, checked on the signed
        // frame's bytes, at the codec boundary.
        let key = crate::identity::NodeKey::from_seed([3; 32]).unwrap();
        let frame = key
            .sign(crate::protocol::TraceAnswer {
                query: crate::protocol::Digest::of(b"q"),
                responder: Party {
                    state: CountryCode::parse("DE").unwrap(),
                    key: key.public_key(),
                },
                answered_at: 0,
                outcome: Outcome::Hit { candidates },
                makers_version: Some(0),
            })
            .unwrap();
        let wire = String::from_utf8_lossy(frame.bytes()).into_owned();
        assert!(wire.contains("AB300"), "the frame carries the marking");
        assert!(!wire.contains("CANARY") && !wire.contains("W3"), "{wire}");

        // A wildcard matching more than the bound answers with the count only.
        let (o, _) = answer(&reg, &query("AB?00"), &policy).unwrap();
        assert_eq!(o, Some(Outcome::TooMany { count: 7 }));

        let (o, _) = answer(&reg, &query("CONF1"), &policy).unwrap();
        assert!(matches!(o, Some(Outcome::Withheld { .. })), "{o:?}");

        let (o, _) = answer(&reg, &query("ZZ999"), &policy).unwrap();
        assert_eq!(o, Some(Outcome::NoHit));
        let silent = AnswerPolicy {
            answer_no_hit: false,
            ..policy
        };
        assert_eq!(answer(&reg, &query("ZZ999"), &silent).unwrap().0, None);
    }

    /// A wildcard answered `too_many` still gives every match held as lost
    /// or stolen for alerts, the ones past the decoded candidates included
    /// (the regression a count-only lookup once made).
    #[test]
    fn a_too_many_wildcard_still_finds_the_stolen_matches() {
        let stolen = |id: &str, serial: &str| {
            rec(id, serial, false).replace(
                r#""reference":"REF-CANARY","note":"NOTE-CANARY"}]"#,
                r#""reference":"REF-CANARY","note":"NOTE-CANARY"},{"date":"2015-05-05","kind":"stolen"}]"#,
            )
        };
        let mut lines: Vec<String> = (0..40)
            .map(|i| rec(&format!("W{i:02}"), &format!("AB{i:02}0"), false))
            .collect();
        lines[2] = stolen("W02", "AB020");
        lines[33] = stolen("W33", "AB330");
        assert!(lines[33].contains("stolen"), "{}", lines[33]);
        let (_d, reg) = registry(&lines);
        let policy = AnswerPolicy::default();
        let (o, found) = answer(&reg, &query("AB??0"), &policy).unwrap();
        assert_eq!(o, Some(Outcome::TooMany { count: 40 }));
        assert_eq!(found.candidates.len(), MAX_CANDIDATES + 1);
        let alerted: Vec<&str> = diverted(&found).map(|c| c.record.id.as_str()).collect();
        assert_eq!(alerted, ["W02", "W33"]);
    }

    /// An answer policy of `confidential = RULE` and `[review] confidential
    /// = REVIEW`, answering no_hit, at most five candidates.
    fn with(rule: &str, review: bool) -> AnswerPolicy {
        let text = format!("confidential = \"{rule}\"\n[review]\nconfidential = {review}\n");
        AnswerPolicy {
            answer_no_hit: true,
            max_candidates: 5,
            disclosure: Policy::parse(std::path::Path::new("policy.toml"), &text).unwrap(),
        }
    }

    /// Under `confidential = "silent"` another State learns nothing of a
    /// confidential record: a wildcard's count leaves it out, a wildcard
    /// matching it beside others discloses the others, and a match on it
    /// alone is silent (never a false `no_hit`), whatever `answer_no_hit`.
    /// Under `withhold`, or with a person reviewing confidential matches,
    /// a match on it is said (and counted), as before.
    #[test]
    fn a_confidential_record_under_silence_is_neither_counted_nor_told() {
        let mut lines: Vec<String> = (0..20)
            .map(|i| rec(&format!("W{i:02}"), &format!("AB{i:02}0"), false))
            .collect();
        for i in [3, 11, 17] {
            lines[i] = rec(&format!("W{i:02}"), &format!("AB{i:02}0"), true);
        }
        lines.push(rec("C1", "CD000", true));
        lines.push(rec("P1", "CD100", false));
        lines.push(rec("P2", "CD200", false));
        let (_d, reg) = registry(&lines);
        let silent = with("silent", false);
        assert!(silent.disclosure.hides_confidential());

        // The count: 17 of the 20 (before the fix, 20).
        let (o, found) = answer(&reg, &query("AB??0"), &silent).unwrap();
        assert_eq!(o, Some(Outcome::TooMany { count: 17 }));
        assert_eq!(found.hidden, 3);
        // Two public records and one confidential: the two, nothing of it
        // (before the fix, the whole answer was silent, which told it).
        let (o, _) = answer(&reg, &query("CD?00"), &silent).unwrap();
        let Some(Outcome::Hit { candidates }) = o else {
            panic!("{o:?}")
        };
        let serials: Vec<&str> = candidates
            .iter()
            .map(|c| c.record.marking.serial())
            .collect();
        assert_eq!(serials, ["CD100", "CD200"]);
        // The confidential record alone: silent, though no_hit is answered
        // for a serial not held, and the config check warns of just that.
        assert_eq!(answer(&reg, &query("CD000"), &silent).unwrap().0, None);
        assert_eq!(
            answer(&reg, &query("ZZ999"), &silent).unwrap().0,
            Some(Outcome::NoHit)
        );
        assert_eq!(silent.disclosure.warnings(true).len(), 1);
        assert!(silent.disclosure.warnings(false).is_empty());

        // Withheld openly, or reviewed by a person: an exact serial's match
        // is said; a wildcard counts the public records alone, as under
        // silence (its count would otherwise tell a confidential one).
        for p in [with("withhold", false), with("silent", true)] {
            assert!(!p.disclosure.hides_confidential());
            assert!(p.disclosure.warnings(true).is_empty());
            let (o, found) = answer(&reg, &query("AB??0"), &p).unwrap();
            assert_eq!(o, Some(Outcome::TooMany { count: 17 }));
            assert_eq!(found.hidden, 3);
            let (o, _) = answer(&reg, &query("CD000"), &p).unwrap();
            assert!(
                matches!(o, Some(Outcome::Withheld { .. } | Outcome::Acknowledged)),
                "{o:?}"
            );
        }
    }

    /// A wildcard cannot tell a confidential serial a character at a time:
    /// `SE*` was withheld and `SF*` no record, `SEC*` withheld and `SEX*`
    /// no record (a regional organisation's trial, as a hostile member).
    /// Every wildcard under a prefix holding a confidential record gets the
    /// same answer when nothing public matches, under each policy; public
    /// matches are disclosed without it; a prefix without one says no_hit.
    /// The registry's counter follows the record becoming public, and back.
    #[test]
    fn a_wildcard_answers_alike_whatever_confidential_serial_it_matches() {
        let (_d, reg) = registry(&[
            rec("S1", "SECRET99", true),
            rec("P1", "AB100", false),
            rec("P2", "AB200", false),
            rec("S2", "AB300", true),
        ]);
        let probes = ["SE*", "SF*", "SEC*", "SEX*", "??????99", "SECRET9?", "ZZ*"];
        for (p, said) in [
            (
                with("withhold", false),
                Some(Outcome::Withheld {
                    reason: WithheldReason::NationalLaw,
                }),
            ),
            (with("silent", false), None),
            // Never to a person: each wildcard would take one of the
            // requester's places in the inbox, its misses too.
            (
                with("withhold", true),
                Some(Outcome::Withheld {
                    reason: WithheldReason::NationalLaw,
                }),
            ),
            (with("silent", true), None),
        ] {
            for probe in probes {
                let (o, found) = answer(&reg, &query(probe), &p).unwrap();
                assert_eq!(o, said, "{probe}");
                assert!(found.candidates.is_empty(), "{probe}");
            }
            // Public matches: those alone, whatever else matched (AB300).
            let (o, _) = answer(&reg, &query("AB*"), &p).unwrap();
            let Some(Outcome::Hit { candidates }) = o else {
                panic!("{o:?}")
            };
            let serials: Vec<&str> = candidates
                .iter()
                .map(|c| c.record.marking.serial())
                .collect();
            assert_eq!(serials, ["AB100", "AB200"]);
        }
        // AB300 removed and SECRET99 made public: the counter follows, and
        // so do answers.
        reg.remove(&[crate::registry::RecordId::parse("S2").unwrap()])
            .unwrap();
        let public = rec("S1", "SECRET99", false);
        reg.put_all(vec![serde_json::from_str(&public).unwrap()])
            .unwrap();
        let withhold = with("withhold", false);
        assert_eq!(
            answer(&reg, &query("SF*"), &withhold).unwrap().0,
            Some(Outcome::NoHit)
        );
        assert!(matches!(
            answer(&reg, &query("SE*"), &withhold).unwrap().0,
            Some(Outcome::Hit { .. })
        ));
        // Confidential again, then removed: the counter follows both.
        reg.put_all(vec![
            serde_json::from_str(&rec("S1", "SECRET99", true)).unwrap(),
        ])
        .unwrap();
        assert!(matches!(
            answer(&reg, &query("SF*"), &withhold).unwrap().0,
            Some(Outcome::Withheld { .. })
        ));
        reg.remove(&[crate::registry::RecordId::parse("S1").unwrap()])
            .unwrap();
        assert_eq!(
            answer(&reg, &query("SF*"), &withhold).unwrap().0,
            Some(Outcome::NoHit)
        );
    }

    /// A hidden confidential record still raises its holder's own alert
    /// when it was stolen: the alert never leaves the node.
    #[test]
    fn a_hidden_stolen_record_still_alerts_its_holder() {
        let mut lines: Vec<String> = (0..30)
            .map(|i| rec(&format!("W{i:02}"), &format!("AB{i:02}0"), false))
            .collect();
        lines[4] = rec("W04", "AB040", true).replace(
            r#""note":"NOTE-CANARY"}]"#,
            r#""note":"NOTE-CANARY"},{"date":"2015-05-05","kind":"stolen"}]"#,
        );
        assert!(lines[4].contains("stolen"));
        let (_d, reg) = registry(&lines);
        let silent = AnswerPolicy {
            disclosure: Policy::parse(
                std::path::Path::new("policy.toml"),
                "confidential = \"silent\"\n",
            )
            .unwrap(),
            ..AnswerPolicy::default()
        };
        let (o, found) = answer(&reg, &query("AB??0"), &silent).unwrap();
        assert_eq!(o, Some(Outcome::TooMany { count: 29 }));
        let alerted: Vec<&str> = diverted(&found).map(|c| c.record.id.as_str()).collect();
        assert_eq!(alerted, ["W04"]);
    }

    #[test]
    fn a_too_many_count_is_capped() {
        assert_eq!(too_many(17), Outcome::TooMany { count: 17 });
        assert_eq!(too_many(COUNT_CAP), Outcome::TooMany { count: 10_000 });
        assert_eq!(too_many(250_000), Outcome::TooMany { count: 10_000 });
    }

    /// `?*` from a node of before (it decodes) is `too_many`, found
    /// without a search; a find stopped at its cap is `too_many` too, never
    /// a `no_hit` or a partial hit from the matches it held (a review).
    #[test]
    fn a_wildcard_reading_too_little_or_a_capped_find_is_too_many() {
        let (_d, reg) = registry(&[rec("A1", "AB100", false), rec("A2", "AB200", false)]);
        let policy = AnswerPolicy::default();
        for serial in ["?*", "*0", "???"] {
            let (o, found) = answer(&reg, &query(serial), &policy).unwrap();
            assert_eq!(o, Some(Outcome::TooMany { count: 10_000 }), "{serial}");
            assert!(found.candidates.is_empty() && found.capped, "{serial}");
        }
        let capped = registry::Found {
            candidates: Vec::new(),
            matched: 0,
            capped: true,
            hidden: 0,
            diverted: Vec::new(),
            confidential_in_scope: false,
        };
        assert_eq!(
            plan(&capped, &query("AB1*"), &policy),
            Planned::Send(Outcome::TooMany { count: 10_000 })
        );
        // All it held confidential, under silence: silent, as for any
        // (an exact serial's find; a wildcard's says what its scope holds,
        // below).
        let hidden = registry::Found {
            hidden: 7,
            ..capped.clone()
        };
        assert_eq!(plan(&hidden, &query("AB100"), &policy), Planned::Silent);
        // Two readable characters, the least, are searched; so are more.
        let (o, _) = answer(&reg, &query("AB*"), &policy).unwrap();
        assert!(
            matches!(&o, Some(Outcome::Hit { candidates }) if candidates.len() == 2),
            "{o:?}"
        );
        let (o, _) = answer(&reg, &query("AB?00"), &policy).unwrap();
        assert!(
            matches!(&o, Some(Outcome::Hit { candidates }) if candidates.len() == 2),
            "{o:?}"
        );
        let (o, _) = answer(&reg, &query("*100"), &policy).unwrap();
        assert!(matches!(o, Some(Outcome::Hit { .. })), "{o:?}");
    }
}

#[cfg(test)]
mod fit_tests {
    use super::*;
    use crate::identity::NodeKey;
    use crate::marking::Marking;
    use crate::model::{CountryCode, Date, EventKind, WeaponCategory};
    use crate::protocol::{Digest, Party, Reply, TraceAnswer, decode_and_verify};

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    /// A candidate whose events are numbered by their day, oldest first.
    fn candidate(serial: &str, events: usize) -> Candidate {
        Candidate {
            quality: Quality::Wildcard,
            record: RecordProjection {
                marking: Marking::new("Carl Walther", cc("DE"), serial).unwrap(),
                category: WeaponCategory::Pistol,
                model: None,
                calibre: None,
                events: (0..events)
                    .map(|i| EventProjection {
                        kind: if i == 0 {
                            EventKind::Manufactured
                        } else {
                            EventKind::Transferred
                        },
                        date: Date::from_days(10_000 + i as i64).unwrap().into(),
                        counterpart: Some(cc("NG")),
                        holder: None,
                    })
                    .collect(),
            },
        }
    }

    fn hit(n: usize, events: usize) -> Outcome {
        Outcome::Hit {
            candidates: (0..n)
                .map(|i| candidate(&format!("WP{i:04}"), events))
                .collect(),
        }
    }

    /// Signs as the responder does: the frame that would be sent.
    fn signer() -> impl FnMut(&Outcome) -> Result<Vec<u8>, EncodeError> {
        let k = NodeKey::from_seed([7; 32]).unwrap();
        move |o: &Outcome| {
            k.sign(TraceAnswer {
                query: Digest::of(b"q"),
                responder: Party {
                    state: cc("DE"),
                    key: k.public_key(),
                },
                answered_at: 1_700_000_000,
                outcome: o.clone(),
                makers_version: Some(0),
            })
            .map(|s| s.into_parts().0)
        }
    }

    fn verified(bytes: &[u8]) -> Outcome {
        decode_and_verify::<TraceAnswer>(bytes, Limits::default())
            .unwrap()
            .body()
            .outcome
            .clone()
    }

    fn size(o: &Outcome) -> usize {
        signer()(o).unwrap().len()
    }

    /// Each kept record: its first event, then its most recent ones, in order.
    fn assert_first_and_latest(kept: &Candidate, all: usize) {
        let days: Vec<i64> = kept
            .record
            .events
            .iter()
            .map(|e| e.date.first_day().to_days() - 10_000)
            .collect();
        let tail: Vec<i64> = ((all - (days.len() - 1)) as i64..all as i64).collect();
        assert_eq!(days[0], 0, "{days:?}");
        assert_eq!(days[1..], tail[..], "{days:?}");
    }

    #[test]
    fn an_answer_that_fits_is_sent_as_it_is() {
        let o = hit(2, 10);
        let sign = signer();
        let (got, bytes) = fit(o.clone(), 64 * 1024, sign).unwrap();
        assert_eq!(got, o);
        assert_eq!(verified(&bytes), o);
        let sign = signer();
        let (got, _) = fit(Outcome::NoHit, 64 * 1024, sign).unwrap();
        assert_eq!(got, Outcome::NoHit);
    }

    #[test]
    fn a_life_longer_than_a_projection_keeps_its_first_and_latest_events() {
        let sign = signer();
        let (got, bytes) = fit(hit(1, 200), 64 * 1024, sign).unwrap();
        let Outcome::Trimmed {
            candidates,
            events_left_out,
        } = verified(&bytes)
        else {
            panic!("{got:?}")
        };
        assert_eq!(candidates[0].record.events.len(), MAX_EVENTS);
        assert_eq!(events_left_out, (200 - MAX_EVENTS) as u32);
        assert_first_and_latest(&candidates[0], 200);
    }

    #[test]
    fn an_oversized_hit_is_trimmed_to_the_most_events_that_fit() {
        let whole = hit(8, 60);
        let max = 4096 - 12;
        assert!(
            size(&whole) > max,
            "the test needs an answer over the limit"
        );
        let sign = signer();
        let (got, bytes) = fit(whole, max, sign).unwrap();
        assert!(bytes.len() <= max);
        assert_eq!(verified(&bytes), got);
        let Outcome::Trimmed {
            candidates,
            events_left_out,
        } = &got
        else {
            panic!("{got:?}")
        };
        assert_eq!(candidates.len(), 8);
        let kept = candidates[0].record.events.len();
        assert!((2..60).contains(&kept), "{kept}");
        for c in candidates {
            assert_eq!(c.record.events.len(), kept);
            assert_first_and_latest(c, 60);
        }
        assert_eq!(*events_left_out as usize, 8 * (60 - kept));
        // The most that fit: one more event each would not.
        assert!(size(&keep_events(hit(8, 60).candidates(), kept + 1)) > max);
    }

    #[test]
    fn when_first_and_last_do_not_fit_the_count_or_a_refusal_is_said() {
        let sign = signer();
        let (got, bytes) = fit(hit(8, 60), 600, sign).unwrap();
        assert_eq!(got, Outcome::TooMany { count: 8 });
        assert_eq!(verified(&bytes), got);
        let sign = signer();
        let (got, bytes) = fit(hit(1, 60), 200, sign).unwrap();
        let refused = Outcome::Refused {
            reason: RefusedReason::TooLarge,
            retry_after_secs: 0,
        };
        assert_eq!(got, refused);
        assert_eq!(verified(&bytes), refused);
        // A record with only two events has nothing to cut.
        let sign = signer();
        assert_eq!(fit(hit(1, 2), 200, sign).unwrap().0, refused);
        // More candidates than a hit may carry (a person's decision can
        // disclose them all): their count.
        let sign = signer();
        let many = hit(MAX_CANDIDATES + 1, 1);
        let count = (MAX_CANDIDATES + 1) as u32;
        assert_eq!(
            fit(many, 64 * 1024, sign).unwrap().0,
            Outcome::TooMany { count }
        );
    }

    #[test]
    fn the_answer_limit_leaves_room_for_the_reply_around_it() {
        for max_message_bytes in [4096, 64 * 1024, 1 << 20] {
            let limits = Limits::default();
            let max = max_answer_bytes(max_message_bytes, limits);
            let reply = Reply::Answer(vec![0xA5; max]).encode();
            assert!(reply.len() <= max_message_bytes.min(limits.max_frame));
            assert!(Reply::decode(&reply, limits).is_ok());
        }
    }

    #[test]
    fn a_cut_keeps_the_point_of_diversion() {
        let mut c = candidate("WP1", 10);
        c.record.events[3].kind = EventKind::Stolen;
        let Outcome::Trimmed {
            candidates,
            events_left_out,
        } = keep_events(&[c], 4)
        else {
            panic!("not trimmed")
        };
        assert_eq!(events_left_out, 6);
        let days: Vec<i64> = candidates[0]
            .record
            .events
            .iter()
            .map(|e| e.date.first_day().to_days() - 10_000)
            .collect();
        assert_eq!(days, vec![0, 3, 8, 9]);
        assert_eq!(candidates[0].record.events[1].kind, EventKind::Stolen);
    }
}
