//! From answers to origin: assembles the verified answers of a trace into one
//! chronological chain of custody, and names the point of diversion or the gap
//! that hides it. Pure: no storage, no network.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::marking::{SerialQuery, normalise_serial};
use crate::model::{CountryCode, EventDate, EventKind, HolderCategory, Precision, WeaponCategory};
use crate::protocol::{Candidate, Outcome, Quality, RecordProjection};

/// One verified answer (or the requester's own registry), as the assembly
/// needs it.
#[derive(Debug, Clone)]
pub struct AnswerInput<'a> {
    /// Index of the answer in the trace, so each link can point at it;
    /// `None` for the requester's own registry, which is not a signed answer.
    pub index: Option<usize>,
    pub state: CountryCode,
    pub outcome: &'a Outcome,
}

/// One event of the weapon's life, and the signed answer it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// As the answer gave it: a day, a month or a year (`1985`).
    pub date: EventDate,
    pub kind: EventKind,
    /// The State whose record holds the event.
    pub state: CountryCode,
    pub counterpart: Option<CountryCode>,
    pub holder: Option<HolderCategory>,
    /// Index of the answer in the trace's answers; null for a record of the
    /// requester's own registry. In JSON the answer's number, counted from 1
    /// as the text says ("answer 2 from DE").
    #[serde(with = "answer_number")]
    pub answer: Option<usize>,
}

/// Answer indexes in JSON: numbers from 1, as people count them.
mod answer_number {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|i| i + 1).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        match Option::<usize>::deserialize(d)? {
            Some(0) => Err(serde::de::Error::custom("answers are numbered from 1")),
            n => Ok(n.map(|n| n - 1)),
        }
    }
}

/// Why the chain stops short of the point of diversion. `no_record` is said
/// only when every expected holder answered and none holds a record; every
/// other gap names the State and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Gap {
    /// A State holds a matching record but withheld it; `reason` is the
    /// coded reason it gave (`ongoing_investigation`, `national_law`, `other`).
    /// With `pattern` (the serial traced holds wildcards, and no blind probe
    /// of the State hit), it says less: a serial with wildcards never reaches
    /// a holder's confidential records, which answers `withheld` whenever
    /// the prefixes searched hold one and no public record matched
    /// (proto-docs/SECURITY.md, row 28), and what it withheld otherwise may
    /// be another weapon's record. The State may or may not hold this
    /// weapon; a blind trace, or the State asked outside tracenet, tells
    /// more. Absent in JSON when false.
    Withheld {
        state: CountryCode,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pattern: bool,
    },
    /// A State expected to answer, or that the weapon was exported to, has
    /// not given a final answer (yet).
    NoAnswer { state: CountryCode },
    /// The weapon was exported to a State the roster does not list: its
    /// records go on there, and no one in the federation can be asked for
    /// them; the officer asks that State outside tracenet.
    NotAMember { state: CountryCode },
    /// An expected State cannot be reached (offline when the trace was sent,
    /// disconnected, or a directed request failed); `reason` says how,
    /// `since` (unix seconds) from when. Its query is delivered when it
    /// reconnects, until the deadline.
    Unreachable {
        state: CountryCode,
        reason: String,
        #[serde(default)]
        #[serde(with = "crate::model::instant::option")]
        since: Option<u64>,
    },
    /// A State received the query and refused to process it, with a signed
    /// coded reason (`rate_limited`, `clock_skew`, `too_large`, ...); a retry
    /// may be answered, from `retry_after_secs` after its answer if not 0.
    Refused {
        state: CountryCode,
        reason: String,
        retry_after_secs: u32,
    },
    /// A State replied to a directed query without an answer: `code` says
    /// why (`not_answered`: its policy does not answer; `replayed`: it had
    /// the query before and has nothing more to say).
    Declined { state: CountryCode, code: String },
    /// A State's hit was trimmed to fit the message size limit: this many
    /// older events of its records were left out.
    Trimmed {
        state: CountryCode,
        events_left_out: u32,
    },
    /// Several candidate records: the marking must be refined.
    Ambiguous { state: CountryCode, count: u32 },
    /// A State holds a record of the weapon (its best candidate whose
    /// serial matches) that holds no events: the weapon is known there, but
    /// its record tells nothing of where it went. Never said as `no_record`.
    NoHistory { state: CountryCode },
    /// A State's hit holds no record whose serial matches the one traced
    /// (by the matching rules every holder applies: look-alikes, variants,
    /// wildcards): its records are listed among the candidates, and neither
    /// the chain, the point of diversion nor the follow-ups are built on
    /// them. An honest holder never sends one; ask it why.
    Mismatch { state: CountryCode },
    /// No member of the federation is known to hold records under the
    /// marking's prefix (none subscribed, declared in the roster, or seen
    /// subscribed in the last 30 days): nobody was asked. A member that
    /// subscribes to it while the trace waits becomes an expected holder.
    NoHolder { prefix: String },
    /// This node was connected to no member when the trace was sent, so
    /// nobody was asked; `trace retry` asks the expected holders once it is.
    NotConnected,
    /// Every State expected to answer gave a final answer, and none holds a
    /// record.
    NoRecord,
}

/// An expected State without a final answer or a refusal, as the assembly
/// needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    pub state: CountryCode,
    /// Why it cannot be reached and since when (unix seconds), if it cannot.
    pub unreachable: Option<(String, Option<u64>)>,
    /// The code of its reply without an answer, if it gave one.
    pub declined: Option<String>,
}

/// Where the weapon left lawful control, as far as the answers show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diversion {
    /// The last lawful holder: its State and holder category.
    pub last_lawful_state: CountryCode,
    pub last_lawful_holder: Option<HolderCategory>,
    /// The loss or theft, where recorded.
    pub event: Option<Link>,
}

/// Where the weapon was last recorded when no loss or theft is: the lead a
/// tracing unit follows next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRecorded {
    pub state: CountryCode,
    pub holder: Option<HolderCategory>,
    /// The date of the last recorded event there (`date` in JSON: `since`
    /// is an instant everywhere else).
    #[serde(rename = "date", alias = "since")]
    pub since: EventDate,
    /// When that last event is an export: the State it left for, which has
    /// no later record of it (it answered without one, or it is this node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_to: Option<CountryCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Custody {
    pub chain: Vec<Link>,
    pub diversion: Option<Diversion>,
    /// With no point of diversion and nothing left to ask: where the records
    /// end (the fate of the weapon was never reported).
    #[serde(default)]
    pub last_recorded: Option<LastRecorded>,
    pub gaps: Vec<Gap>,
    /// States the chain says the weapon went to that have not answered yet:
    /// the targets of a directed follow-up.
    pub follow_up: Vec<CountryCode>,
    /// Every candidate record, ranked across States.
    pub candidates: Vec<RankedCandidate>,
}

impl Custody {
    /// Which States each State's records say the weapon was exported to:
    /// the follow-ups that State's records call for, each State with its
    /// own share of them ([`super::StoredTrace::add_follow_ups`]). Only
    /// exports with a named counterpart count; an import names where the
    /// weapon came from, which was asked already or is further back.
    pub fn follow_up_calls(
        &self,
    ) -> std::collections::BTreeMap<CountryCode, std::collections::BTreeSet<CountryCode>> {
        let mut calls: std::collections::BTreeMap<_, std::collections::BTreeSet<_>> =
            Default::default();
        for l in self.chain.iter().filter(|l| l.kind == EventKind::Exported) {
            if let Some(to) = l.counterpart {
                calls.entry(l.state).or_default().insert(to);
            }
        }
        calls
    }

    /// The country of manufacture, as marked, of the record a link comes
    /// from (the best matching candidate of its answer).
    pub fn made_in(&self, l: &Link) -> Option<CountryCode> {
        self.candidates
            .iter()
            .find(|c| c.state == l.state && c.answer == l.answer && c.serial_matches)
            .map(|c| c.record.marking.country())
    }

    /// The chain as a readable timeline, with the point of diversion and
    /// gaps, of a trace that still waits for answers.
    pub fn to_text(&self) -> String {
        self.to_text_for(true)
    }

    /// [`Custody::to_text`], for a trace that still `waits` for answers or
    /// no longer does: then an unreachable State is no longer promised its
    /// query when it reconnects (nothing is sent after the deadline), and
    /// the retry is named.
    pub fn to_text_for(&self, waits: bool) -> String {
        let c = self;
        let mut s = String::new();
        if c.candidates.len() > 1 {
            s += "  candidates, best first across States:\n";
            for (i, k) in c.candidates.iter().enumerate() {
                s += &format!(
                    "    {}. {} {} {} {} {} (import marks matched: {})\n",
                    i + 1,
                    k.state,
                    k.quality.words(),
                    k.record.marking.maker_label(),
                    k.record.marking.country(),
                    k.record.marking.serial(),
                    k.import_marks_matched
                );
            }
        }
        if !c.chain.is_empty() {
            s += "  chain of custody:\n";
            for l in &c.chain {
                let source = match l.answer {
                    Some(i) => format!("answer {} from {}", i + 1, l.state),
                    None => "own registry".to_string(),
                };
                s += &format!(
                    "    {:<10}  {:<12} {}{}  ({source})\n",
                    l.date,
                    l.kind.words(),
                    places(l.kind, l.state, l.counterpart, c.made_in(l)),
                    l.holder
                        .map(|h| format!(", held by {}", h.words()))
                        .unwrap_or_default(),
                );
            }
        }
        match &c.diversion {
            Some(d) => {
                s += &format!(
                    "  point of diversion: {} ({}){}\n",
                    d.last_lawful_state,
                    d.last_lawful_holder
                        .map(|h| h.words())
                        .unwrap_or_else(|| "holder not recorded".into()),
                    d.event
                        .as_ref()
                        .map(|e| format!(", {} {}", e.kind.words(), when(e.date)))
                        .unwrap_or_default()
                );
            }
            None => match &c.last_recorded {
                Some(l) if l.exported_to.is_some() => {
                    s += &format!(
                        "  point of diversion: not recorded; last recorded leaving {} for {} {} (exported); no record of it there; fate not recorded\n",
                        l.state,
                        l.exported_to.map(|c| c.to_string()).unwrap_or_default(),
                        when(l.since)
                    )
                }
                Some(l) => {
                    s += &format!(
                        "  point of diversion: not recorded; last recorded with {} ({}) since {}; fate not recorded\n",
                        l.state,
                        l.holder
                            .map(|h| h.words())
                            .unwrap_or_else(|| "holder not recorded".into()),
                        l.since
                    )
                }
                None => s += "  point of diversion: not established\n",
            },
        }
        for g in &c.gaps {
            s += &match g {
                Gap::Withheld {
                    state,
                    reason,
                    pattern,
                } => {
                    let reason = reason
                        .as_deref()
                        .map(|r| format!(" ({})", r.replace('_', " ")))
                        .unwrap_or_default();
                    if *pattern {
                        format!(
                            "  gap: {state} withheld its answer to a serial with wildcards{reason}: it may or may not hold this weapon (such a serial never reaches a State's confidential records, and may match other weapons' records); a blind trace tells more, with a `?` for each character that cannot be read (a `*` cannot be traced blind), or ask {state} outside tracenet\n"
                        )
                    } else {
                        format!("  gap: {state} withheld its record{reason}\n")
                    }
                }
                Gap::NoAnswer { state } => format!("  gap: {state} has not answered\n"),
                Gap::NotAMember { state } => format!(
                    "  gap: {state} is not a member of the federation: the records go on there; ask it outside tracenet\n"
                ),
                Gap::Declined { state, code } => format!(
                    "  gap: {state} replied without an answer ({}); `trace retry` asks again\n",
                    code.replace('_', " ")
                ),
                Gap::Unreachable {
                    state,
                    reason,
                    since,
                } => format!(
                    "  gap: {state} cannot be reached ({reason}){}; {}\n",
                    since
                        .map(|s| format!(" since {}", crate::model::format_unix(s)))
                        .unwrap_or_default(),
                    if waits {
                        "its query goes to it if it reconnects before the trace's deadline"
                    } else {
                        "the trace no longer waits: `tracenet trace retry` asks it again while the query is valid"
                    }
                ),
                Gap::Refused {
                    state,
                    reason,
                    retry_after_secs,
                } => format!(
                    "  gap: {state} refused the query ({}){}\n",
                    reason.replace('_', " "),
                    if *retry_after_secs > 0 {
                        format!("; retry after {retry_after_secs} s")
                    } else {
                        String::new()
                    }
                ),
                Gap::Trimmed {
                    state,
                    events_left_out,
                } => format!(
                    "  gap: {state}'s answer was trimmed to fit the size limit: {} left out\n",
                    crate::model::count(u64::from(*events_left_out), "older event")
                ),
                Gap::NoHolder { prefix } => format!(
                    "  gap: no member is known to hold records under {prefix} (none subscribed, declared in the roster, or seen in the last 30 days); nobody was asked. A member that subscribes to it while the trace waits is asked\n"
                ),
                Gap::NotConnected => "  gap: this node was connected to no member when the trace was sent; nobody was asked. Check `tracenet peers`, then `tracenet trace retry ID`\n".to_string(),
                Gap::Ambiguous { state, count } => {
                    format!("  gap: {count} candidates in {state}; refine the marking\n")
                }
                Gap::Mismatch { state } => format!(
                    "  gap: {state} answered with records of another serial than the one traced; they are not used in the chain (ask {state} why)\n"
                ),
                Gap::NoHistory { state } => format!(
                    "  gap: {state} holds a record of this weapon without events: where it went is not recorded there (ask {state} outside tracenet)\n"
                ),
                Gap::NoRecord => {
                    "  gap: every State expected to hold a record answered, and none holds one; a member this node did not know to hold the prefix (none declared in the roster, not seen subscribed) may still answer until the deadline\n"
                        .to_string()
                }
            };
        }
        s
    }
}

/// A date in a sentence: `on 1985-03-14`, `in 1985-03`, `in 1985`.
pub fn when(d: EventDate) -> String {
    match d.precision() {
        Precision::Day => format!("on {d}"),
        _ => format!("in {d}"),
    }
}

/// Where an event of `state`'s record took place, with the direction of a
/// transfer: `DE → NG` for an export from DE to NG or an import into NG
/// from DE, `NG` alone for an event without another country. A manufacture
/// took place in `made_in`, the record's country of manufacture as marked:
/// `SU (recorded by DE)` when another State's record tells it (it read
/// `DE`, as if the weapon were made where it is recorded).
pub fn places(
    kind: EventKind,
    state: CountryCode,
    counterpart: Option<CountryCode>,
    made_in: Option<CountryCode>,
) -> String {
    match (kind, counterpart, made_in) {
        (EventKind::Exported, Some(to), _) => format!("{state} → {to}"),
        (EventKind::Imported, Some(from), _) => format!("{from} → {state}"),
        (EventKind::Manufactured, None, Some(made)) if made != state => {
            format!("{made} (recorded by {state})")
        }
        (_, Some(other), _) => format!("{state} (with {other})"),
        (_, None, _) => state.to_string(),
    }
}

/// What the requester read off the weapon beyond its serial: used to rank
/// candidates from several States against each other.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub imports: Vec<CountryCode>,
    pub category: Option<WeaponCategory>,
    /// Set when nobody was asked: the gap that says why (`no_holder` or
    /// `not_connected`), said instead of `no_record`.
    pub nobody_asked: Option<Gap>,
    /// The States the roster lists as members (and this node's own); an
    /// export to another is `not_a_member`, not awaited. `None`: not known,
    /// every State exported to is awaited.
    pub members: Option<BTreeSet<CountryCode>>,
    /// The serial traced: a candidate whose serial it does not match is
    /// ranked last and not built on (`Gap::Mismatch`). `None`: every
    /// candidate is taken to match.
    pub serial: Option<SerialQuery>,
    /// The States whose keyed filter a blind probe of this trace hit: their
    /// `withheld` is not said as a pattern's ([`Gap::Withheld`]), since the
    /// filter, confidential records included, holds one of the serials.
    pub blind_hits: BTreeSet<CountryCode>,
}

/// One candidate record from one State's answer, as the requester ranks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankedCandidate {
    pub state: CountryCode,
    /// As in [`Link::answer`] (from 1 in JSON).
    #[serde(with = "answer_number")]
    pub answer: Option<usize>,
    pub quality: Quality,
    /// How many of the weapon's import marks the record also carries.
    pub import_marks_matched: usize,
    pub category_matches: bool,
    /// Whether the record's serial matches the one traced, checked here
    /// (a holder's claimed `quality` is its own word). One that does not is
    /// listed, last, and nothing is built on it.
    #[serde(default = "matches_by_default")]
    pub serial_matches: bool,
    pub record: RecordProjection,
}

fn matches_by_default() -> bool {
    true
}

/// Better first: a serial that matches, then match quality, then agreement
/// of import marks, then category.
fn rank_key(c: &RankedCandidate) -> (bool, Quality, std::cmp::Reverse<usize>, bool) {
    (
        !c.serial_matches,
        c.quality,
        std::cmp::Reverse(c.import_marks_matched),
        !c.category_matches,
    )
}

/// Every candidate of every hit, best first across States.
pub fn rank_candidates(answers: &[AnswerInput<'_>], wanted: &Wanted) -> Vec<RankedCandidate> {
    let mut all: Vec<RankedCandidate> = answers
        .iter()
        .flat_map(|a| {
            let cands: &[Candidate] = a.outcome.candidates();
            cands.iter().map(move |c| RankedCandidate {
                state: a.state,
                answer: a.index,
                quality: c.quality,
                import_marks_matched: c
                    .record
                    .marking
                    .imports()
                    .iter()
                    .filter(|m| wanted.imports.iter().any(|w| w.routes_with(m.country)))
                    .count(),
                category_matches: wanted.category.is_none_or(|w| w == c.record.category),
                serial_matches: wanted.serial.as_ref().is_none_or(|s| {
                    normalise_serial(c.record.marking.serial())
                        .is_ok_and(|n| s.matches(&n).is_some())
                }),
                record: c.record.clone(),
            })
        })
        .collect();
    // Stable: within equal keys, each State's own order is kept.
    all.sort_by_key(rank_key);
    all
}

/// Assembles the chain from the answers received so far, following in each
/// answer its best-ranked candidate. `answered` is every State that gave any
/// answer, so that follow-ups are not sent twice.
/// `waiting`: the expected States that have not given a final answer nor
/// refused. "No record" is only ever said when no State is waited for and
/// none refused: an unanswered State may hold the weapon.
pub fn assemble(
    answers: &[AnswerInput<'_>],
    answered: &BTreeSet<CountryCode>,
    waiting: &[Awaited],
    wanted: &Wanted,
) -> Custody {
    let ranked = rank_candidates(answers, wanted);
    let mut chain = Vec::new();
    let mut gaps = Vec::new();
    for a in answers {
        match a.outcome {
            Outcome::Withheld { reason } => gaps.push(Gap::Withheld {
                state: a.state,
                reason: Some(reason.code().to_string()),
                pattern: wanted
                    .serial
                    .as_ref()
                    .is_some_and(SerialQuery::has_wildcards)
                    && !wanted.blind_hits.contains(&a.state),
            }),
            Outcome::Refused {
                reason,
                retry_after_secs,
            } => gaps.push(Gap::Refused {
                state: a.state,
                reason: reason.code().to_string(),
                retry_after_secs: *retry_after_secs,
            }),
            Outcome::Trimmed {
                events_left_out, ..
            } => gaps.push(Gap::Trimmed {
                state: a.state,
                events_left_out: *events_left_out,
            }),
            Outcome::TooMany { count } => gaps.push(Gap::Ambiguous {
                state: a.state,
                count: *count,
            }),
            _ => {}
        }
        let own = |c: &&RankedCandidate| c.answer == a.index && c.state == a.state;
        if ranked.iter().any(|c| own(&c)) && !ranked.iter().any(|c| own(&c) && c.serial_matches) {
            gaps.push(Gap::Mismatch { state: a.state });
        }
        if let Some(best) = ranked.iter().find(|c| own(c) && c.serial_matches) {
            if best.record.events.is_empty() {
                gaps.push(Gap::NoHistory { state: a.state });
            }
            for e in &best.record.events {
                chain.push(Link {
                    date: e.date,
                    kind: e.kind,
                    state: a.state,
                    counterpart: e.counterpart,
                    holder: e.holder,
                    answer: a.index,
                });
            }
        }
    }
    let chain = in_order(chain);

    // Exports to States that have not answered: the chain continues there.
    let follow_up: Vec<CountryCode> = chain
        .iter()
        .filter(|l| l.kind == EventKind::Exported)
        .filter_map(|l| l.counterpart)
        .filter(|c| !answered.contains(c))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // The States the chain points at first, then the other expected ones;
    // each says whether it is merely silent or cannot be reached.
    let pointed = follow_up.iter().map(|s| {
        waiting
            .iter()
            .find(|w| w.state == *s)
            .cloned()
            .unwrap_or(Awaited {
                state: *s,
                unreachable: None,
                declined: None,
            })
    });
    let mut seen: BTreeSet<CountryCode> = BTreeSet::new();
    for w in pointed.collect::<Vec<_>>().iter().chain(waiting) {
        if !seen.insert(w.state) {
            continue;
        }
        gaps.push(match (&w.declined, &w.unreachable) {
            (Some(code), _) => Gap::Declined {
                state: w.state,
                code: code.clone(),
            },
            (None, Some((reason, since))) => Gap::Unreachable {
                state: w.state,
                reason: reason.clone(),
                since: *since,
            },
            (None, None) => match &wanted.members {
                Some(m) if !m.contains(&w.state) => Gap::NotAMember { state: w.state },
                _ => Gap::NoAnswer { state: w.state },
            },
        });
    }
    // With no chain: why nobody was asked, beside a record without events
    // (the own registry's) if there is one; "no record" only when no State
    // holds one.
    if chain.is_empty() && gaps.iter().all(|g| matches!(g, Gap::NoHistory { .. })) {
        match &wanted.nobody_asked {
            Some(why) => gaps.push(why.clone()),
            None if gaps.is_empty() => gaps.push(Gap::NoRecord),
            None => {}
        }
    }
    let diversion = diversion(&chain);
    // Only where nothing is left to ask: an export to a State that has not
    // answered means the records go on there.
    // A trimmed answer still ends where its records end, and so does an
    // export to a State outside the federation: nobody here can be asked.
    let nothing_missing = gaps.iter().all(|g| {
        matches!(
            g,
            Gap::Trimmed { .. } | Gap::NotAMember { .. } | Gap::NoHistory { .. }
        )
    });
    let last_recorded = (diversion.is_none() && nothing_missing)
        .then(|| last_recorded(&chain))
        .flatten();
    Custody {
        diversion,
        last_recorded,
        chain,
        gaps,
        follow_up,
        candidates: ranked,
    }
}

/// Puts the events of the chain in order, each event once (the same date,
/// kind and State from two sources is one event).
///
/// Events known to the day are ordered by date, then in their natural
/// sequence ([`rank`]), then by State. An event known only to its month or
/// year is then placed, coarsest first, after every event that ends before
/// its period and before every event that starts after it; among the events
/// within its period, before the first that comes later in the natural
/// sequence, else after them all. So `imported 1985` follows `manufactured
/// 1985-03-14` and `exported 1985-09-19` and precedes `stolen 1985-12-01`.
/// Deterministic, whatever the order of the answers; events known to the day
/// keep their order among themselves.
fn in_order(links: Vec<Link>) -> Vec<Link> {
    let key = |l: &Link| {
        (
            l.date.first_day(),
            rank(l.kind),
            l.date.precision(),
            l.state,
        )
    };
    let (mut chain, mut partial): (Vec<Link>, Vec<Link>) = links
        .into_iter()
        .partition(|l| l.date.precision() == Precision::Day);
    let same =
        |x: &mut Link, y: &mut Link| x.date == y.date && x.kind == y.kind && x.state == y.state;
    chain.sort_by_key(key);
    chain.dedup_by(same);
    partial.sort_by_key(|l| (l.date.precision(), key(l)));
    partial.dedup_by(same);
    for l in partial {
        let (start, end) = (l.date.first_day(), l.date.last_day());
        let lo = chain
            .iter()
            .rposition(|x| x.date.last_day() < start)
            .map_or(0, |i| i + 1);
        let hi = chain
            .iter()
            .position(|x| x.date.first_day() > end)
            .unwrap_or(chain.len())
            .max(lo);
        let at = (lo..hi)
            .find(|i| rank(chain[*i].kind) > rank(l.kind))
            .unwrap_or(hi);
        chain.insert(at, l);
    }
    chain
}

/// Orders events of one period in their natural sequence.
fn rank(k: EventKind) -> u8 {
    match k {
        EventKind::Manufactured => 0,
        EventKind::Exported => 1,
        EventKind::Imported => 2,
        EventKind::Transferred => 3,
        EventKind::Lost | EventKind::Stolen => 4,
        EventKind::Seized | EventKind::Surrendered => 5,
        EventKind::Deactivated | EventKind::Destroyed => 6,
    }
}

/// The first loss or theft, and the lawful holder just before it.
/// The last event of the chain with the holder last named before it.
fn last_recorded(chain: &[Link]) -> Option<LastRecorded> {
    let last = chain.last()?;
    let holder = chain
        .iter()
        .rev()
        .take_while(|l| l.state == last.state)
        .find_map(|l| l.holder);
    Some(LastRecorded {
        state: last.state,
        holder,
        since: last.date,
        exported_to: (last.kind == EventKind::Exported)
            .then_some(last.counterpart)
            .flatten(),
    })
}

fn diversion(chain: &[Link]) -> Option<Diversion> {
    let at = chain.iter().position(|l| l.kind.is_diversion())?;
    let event = chain[at].clone();
    let before = chain[..at].iter().rev().find(|l| l.holder.is_some());
    Some(Diversion {
        last_lawful_state: event.state,
        last_lawful_holder: event.holder.or_else(|| before.and_then(|l| l.holder)),
        event: Some(event),
    })
}

#[cfg(test)]
mod tests;
