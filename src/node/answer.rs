//! Answering a trace query from the national registry: the match is done at
//! home, and only record projections leave. This is the one place where a
//! registry `Record` becomes something that crosses a border.

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
}

impl Default for AnswerPolicy {
    fn default() -> Self {
        AnswerPolicy {
            answer_no_hit: true,
            max_candidates: 5,
        }
    }
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

/// What the registry says about a query: the outcome to sign (or `None` to stay
/// silent), and the matching records for the node's own use (alerts, audit).
pub fn answer(
    reg: &Registry,
    q: &TraceQuery,
    policy: &AnswerPolicy,
) -> Result<(Option<Outcome>, Vec<registry::Candidate>), RegistryError> {
    let found = reg.find(&FindQuery {
        maker: Some(q.marking.manufacturer().to_string()),
        country: Some(q.marking.country()),
        serial: q.marking.serial().to_string(),
        limit: COUNT_CAP,
    })?;
    if found.is_empty() {
        return Ok((policy.answer_no_hit.then_some(Outcome::NoHit), found));
    }
    if found.len() > policy.max_candidates {
        // A wildcard must not be a way to dump a registry: the count only.
        let count = found.len().min(u32::MAX as usize) as u32;
        return Ok((Some(Outcome::TooMany { count }), found));
    }
    if found.iter().any(|c| c.record.confidential) {
        return Ok((
            Some(Outcome::Withheld {
                reason: WithheldReason::NationalLaw,
            }),
            found,
        ));
    }
    let candidates = found
        .iter()
        .map(|c| Candidate {
            quality: Quality::from(c.quality),
            record: project(&c.record),
        })
        .collect();
    Ok((Some(Outcome::Hit { candidates }), found))
}
