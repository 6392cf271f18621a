//! Answering a trace query from the national registry: the match is done at
//! home, and only record projections leave. This is the one place where a
//! registry `Record` becomes something that crosses a border.

use super::policy::{self, Decision, Disclosure, Policy, ReviewReason};
use crate::protocol::{
    Candidate, EventProjection, Outcome, Quality, RecordProjection, TraceQuery, WithheldReason,
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

/// The most matches a fuzzy query is counted up to.
const COUNT_CAP: usize = 10_000;

/// Reduces a record to what may cross a border: no reference, no note, no id.
pub fn project(r: &Record) -> RecordProjection {
    RecordProjection {
        marking: r.marking.clone(),
        category: r.category,
        model: r.model.clone(),
        calibre: r.calibre.clone(),
        events: r
            .events
            .iter()
            .take(crate::protocol::MAX_EVENTS)
            .map(|e| EventProjection {
                kind: e.kind,
                date: e.date,
                counterpart: e.counterpart,
                holder: e.holder,
            })
            .collect(),
    }
}

/// The records matching a query, best first (counted up to a cap).
pub fn lookup(reg: &Registry, q: &TraceQuery) -> Result<Vec<registry::Candidate>, RegistryError> {
    reg.find(&FindQuery {
        maker: Some(q.marking.manufacturer().to_string()),
        country: Some(q.marking.country()),
        serial: q.marking.serial().to_string(),
        limit: COUNT_CAP,
    })
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
pub fn plan(found: &[registry::Candidate], q: &TraceQuery, p: &AnswerPolicy) -> Planned {
    if found.is_empty() {
        return if p.answer_no_hit {
            Planned::Send(Outcome::NoHit)
        } else {
            Planned::Silent
        };
    }
    if found.len() > p.max_candidates {
        // A wildcard must not be a way to dump a registry: the count only.
        let count = found.len().min(u32::MAX as usize) as u32;
        return Planned::Send(Outcome::TooMany { count });
    }
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
) -> Result<(Option<Outcome>, Vec<registry::Candidate>), RegistryError> {
    let found = lookup(reg, q)?;
    let outcome = match plan(&found, q, policy) {
        Planned::Send(o) => Some(o),
        Planned::Silent => None,
        Planned::Review(_) => Some(Outcome::Acknowledged),
    };
    Ok((outcome, found))
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
}
