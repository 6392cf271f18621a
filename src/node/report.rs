//! `tracenet report`: what this node did in a period, counted from its audit
//! log (so every figure can be checked against it) and its stored traces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Node, NodeError, TraceStatus};
use crate::audit::AuditKind;
use crate::model::CountryCode;

/// SDG indicator 16.4.2 for the weapons traced through this node: of the
/// traces sent in the period, how many established the illicit origin (the
/// chain of custody names a point of diversion).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sdg1642 {
    pub traced: u64,
    pub origin_established: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Unix seconds, start inclusive, end exclusive.
    #[serde(with = "crate::model::instant")]
    pub from: u64,
    #[serde(with = "crate::model::instant")]
    pub to: u64,
    pub traces_sent: u64,
    pub traces_answered: u64,
    pub traces_partial: u64,
    pub traces_timed_out: u64,
    pub traces_open: u64,
    pub queries_received: u64,
    pub queries_refused: u64,
    pub answers_sent: u64,
    pub answers_withheld: u64,
    pub answers_acknowledged: u64,
    /// Per answering State: the median seconds from sending a trace to its
    /// final answer.
    pub median_answer_secs: BTreeMap<CountryCode, f64>,
    /// Per answering State: the longest seconds from sending a trace to its
    /// final answer, so that answers that came late show beside the median.
    /// Absent (empty) in reports of builds before it.
    #[serde(default)]
    pub slowest_answer_secs: BTreeMap<CountryCode, u64>,
    /// Per answering State: how many final answers the median and the
    /// slowest are taken over (one a trace it answered).
    #[serde(default)]
    pub final_answers: BTreeMap<CountryCode, u64>,
    /// Per State: how many of the period's traces expected it (asked it,
    /// took its answer unasked, or were to ask its blind filter). Absent
    /// (empty) in reports of builds before it.
    #[serde(default)]
    pub traces_expected: BTreeMap<CountryCode, u64>,
    /// Per State: how many of those ended without its final word (no
    /// longer open: past their deadline, or settled with it refusing,
    /// declining or unreachable; a blind filter's "no record",
    /// [`Report::traces_settled_by_filter`], is a final word): the States
    /// that did not answer, and how often. A trace still open is not counted; a late final answer takes
    /// its trace off the count. Absent (empty) in reports of builds before
    /// it.
    #[serde(default)]
    pub traces_without_final_answer: BTreeMap<CountryCode, u64>,
    /// Per State: of the traces that expected it, the blind ones its keyed
    /// filter settled, saying it holds no record under the marking (or
    /// nothing under the marking's prefixes): its final word without an
    /// answer, so without a time in the figures above. Only States with
    /// some are listed. Absent (empty) in reports of builds before it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub traces_settled_by_filter: BTreeMap<CountryCode, u64>,
    /// Per State: of the traces that expected it, those still open that
    /// await its final word. The traces whose outcome for the State is known
    /// are [`Report::traces_expected`] less these, and
    /// [`Report::traces_without_final_answer`] is a share of them (the
    /// console's chart; it drew a State whose every ended trace went
    /// unanswered short of a full bar while others were open). Only States
    /// with some are listed. Absent (empty) in reports of builds before it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub traces_awaiting: BTreeMap<CountryCode, u64>,
    pub sdg_16_4_2: Sdg1642,
    /// The audit entry numbers the log misses (inclusive ranges, oldest
    /// first, as found when it was opened:
    /// [`crate::audit::AuditLog::missing`]): the counts from the log lack
    /// those of them that fall in the period. Absent when it misses none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_entries_missing: Vec<MissingEntries>,
}

/// Audit entries `first` to `last` (inclusive) that the log misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingEntries {
    pub first: u64,
    pub last: u64,
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2] as f64,
        n => (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0,
    }
}

/// The figures of a running node between `from` and `to` (unix seconds).
pub fn report(node: &Node, from: u64, to: u64) -> Result<Report, NodeError> {
    report_of(&node.judge(), node.audit(), &node.inner.traces, from, to)
}

/// The figures from an audit log and stored traces, judged by `judge`: the
/// same whether the node runs or not. The traces of the period are read one
/// at a time by the time index, never all at once.
pub fn report_of(
    judge: &super::Judge,
    audit: &crate::audit::AuditLog,
    traces: &super::traces::TraceStore,
    from: u64,
    to: u64,
) -> Result<Report, NodeError> {
    let node = judge;
    let mut r = Report {
        from,
        to,
        audit_entries_missing: audit
            .missing()
            .iter()
            .map(|&(first, last)| MissingEntries { first, last })
            .collect(),
        ..Report::default()
    };
    // One entry at a time: a year's log is never held whole.
    audit
        .for_each_in(from, to, |e| {
            match e.kind {
                AuditKind::TraceSent => r.traces_sent += 1,
                AuditKind::QueryReceived => r.queries_received += 1,
                AuditKind::QueryRefused => r.queries_refused += 1,
                AuditKind::AnswerSent | AuditKind::Decision => match e.outcome.as_deref() {
                    Some("withheld") => r.answers_withheld += 1,
                    Some("acknowledged") => r.answers_acknowledged += 1,
                    _ => r.answers_sent += 1,
                },
                _ => {}
            }
            Ok::<_, crate::audit::AuditError>(())
        })
        .map_err(|e| NodeError::Config(e.to_string()))?;
    let mut times: BTreeMap<CountryCode, Vec<u64>> = BTreeMap::new();
    traces.for_each_created(from, to, |t| {
        let t = &t;
        let status = node.status_of(t);
        match status {
            TraceStatus::Answered => r.traces_answered += 1,
            TraceStatus::Partial => r.traces_partial += 1,
            TraceStatus::TimedOut => r.traces_timed_out += 1,
            TraceStatus::Sent | TraceStatus::Acknowledged => r.traces_open += 1,
        }
        let open = matches!(status, TraceStatus::Sent | TraceStatus::Acknowledged);
        r.count_expected(expected_states(t, node.limits()), open);
        for a in &t.asked {
            if let (Some(state), Some(at)) = (a.state, t.final_at.get(&a.peer)) {
                times
                    .entry(state)
                    .or_default()
                    .push(at.saturating_sub(t.created_at));
            }
        }
        r.sdg_16_4_2.traced += 1;
        r.sdg_16_4_2.origin_established += node.custody_of(t).diversion.is_some() as u64;
        Ok::<_, NodeError>(())
    })?;
    r.file_answer_times(times);
    Ok(r)
}

/// What an expected State said in one trace, the best of its entries
/// counting ([`expected_states`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Word {
    /// No final word: silent, refused, declined, unreachable, or a blind
    /// filter not asked, refusing, or left to the officer.
    Nothing,
    /// A blind trace's filter without the weapon, or nothing held under
    /// the marking's prefixes: never sent the marking, nothing to answer.
    FilterSaidNoRecord,
    /// A final answer (withheld details included).
    Answered,
}

/// A trace's expected States, each with its [`Word`]: its holders as its
/// view lists them, and for a blind trace the holders whose filters were to
/// be asked but which were never sent the marking (those are not among the
/// holders).
fn expected_states(
    t: &super::StoredTrace,
    limits: crate::protocol::Limits,
) -> Vec<(CountryCode, Word)> {
    use super::blind::BlindOutcome;
    let mut out: Vec<(CountryCode, Word)> = super::status::holders(t, limits)
        .iter()
        .filter_map(|h| {
            let word = if h.standing.is_final() {
                Word::Answered
            } else {
                Word::Nothing
            };
            h.state.map(|s| (s, word))
        })
        .collect();
    for h in t.blind.iter().flat_map(|b| &b.holders) {
        if let Some(state) = h.state
            && !t.asked.iter().any(|a| a.peer == h.peer)
        {
            let word = match h.outcome {
                BlindOutcome::NoHit | BlindOutcome::HoldsNothing => Word::FilterSaidNoRecord,
                _ => Word::Nothing,
            };
            out.push((state, word));
        }
    }
    out
}

impl Report {
    /// Counts one trace's expected States (`words`: each State with what it
    /// said, [`expected_states`]) in
    /// [`Report::traces_expected`] and those without a final answer in
    /// [`Report::traces_without_final_answer`] once the trace is no longer
    /// `open`, in [`Report::traces_awaiting`] while it is; a State listed
    /// twice in one trace counts once, answered if either entry answered.
    fn count_expected(&mut self, words: impl IntoIterator<Item = (CountryCode, Word)>, open: bool) {
        let mut best: BTreeMap<CountryCode, Word> = BTreeMap::new();
        for (state, word) in words {
            let b = best.entry(state).or_insert(Word::Nothing);
            *b = (*b).max(word);
        }
        for (state, word) in best {
            *self.traces_expected.entry(state).or_default() += 1;
            // Every expected State has its count, 0 included.
            let without = self.traces_without_final_answer.entry(state).or_default();
            match word {
                Word::Nothing if !open => *without += 1,
                Word::Nothing => *self.traces_awaiting.entry(state).or_default() += 1,
                Word::FilterSaidNoRecord => {
                    *self.traces_settled_by_filter.entry(state).or_default() += 1
                }
                _ => {}
            }
        }
    }

    /// Files each State's seconds to its final answers (one per trace it
    /// answered) as its median, its slowest and their count.
    fn file_answer_times(&mut self, times: BTreeMap<CountryCode, Vec<u64>>) {
        for (state, mut v) in times {
            self.median_answer_secs.insert(state, median(&mut v));
            self.slowest_answer_secs
                .insert(state, v.iter().copied().max().unwrap_or(0));
            self.final_answers.insert(state, v.len() as u64);
        }
    }

    /// One `name,value` line per figure, for spreadsheets; the period as
    /// RFC 3339 instants, `from` included and `to` not (as in the JSON).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("figure,value\n");
        s += &format!("from,{}\n", crate::model::instant::to_rfc3339(self.from));
        s += &format!("to,{}\n", crate::model::instant::to_rfc3339(self.to));
        let rows: [(&str, u64); 12] = [
            ("traces_sent", self.traces_sent),
            ("traces_answered", self.traces_answered),
            ("traces_partial", self.traces_partial),
            ("traces_timed_out", self.traces_timed_out),
            ("traces_open", self.traces_open),
            ("queries_received", self.queries_received),
            ("queries_refused", self.queries_refused),
            ("answers_sent", self.answers_sent),
            ("answers_withheld", self.answers_withheld),
            ("answers_acknowledged", self.answers_acknowledged),
            ("sdg_16_4_2_traced", self.sdg_16_4_2.traced),
            (
                "sdg_16_4_2_origin_established",
                self.sdg_16_4_2.origin_established,
            ),
        ];
        for (k, v) in rows {
            s += &format!("{k},{v}\n");
        }
        for (state, secs) in &self.median_answer_secs {
            s += &format!("median_answer_secs_{state},{secs}\n");
        }
        for (state, secs) in &self.slowest_answer_secs {
            s += &format!("slowest_answer_secs_{state},{secs}\n");
        }
        for (state, n) in &self.final_answers {
            s += &format!("final_answers_{state},{n}\n");
        }
        for (state, n) in &self.traces_expected {
            s += &format!("traces_expected_{state},{n}\n");
        }
        for (state, n) in &self.traces_without_final_answer {
            s += &format!("traces_without_final_answer_{state},{n}\n");
        }
        for (state, n) in &self.traces_settled_by_filter {
            s += &format!("traces_settled_by_filter_{state},{n}\n");
        }
        for (state, n) in &self.traces_awaiting {
            s += &format!("traces_awaiting_{state},{n}\n");
        }
        if !self.audit_entries_missing.is_empty() {
            let ranges: Vec<String> = self
                .audit_entries_missing
                .iter()
                .map(|m| format!("{}-{}", m.first, m.last))
                .collect();
            s += &format!("audit_entries_missing,{}\n", ranges.join(" "));
        }
        s
    }

    /// The warning for a report whose audit log misses entries, or `None`.
    pub fn missing_notice(&self) -> Option<String> {
        let ranges: Vec<(u64, u64)> = self
            .audit_entries_missing
            .iter()
            .map(|m| (m.first, m.last))
            .collect();
        crate::audit::missing_notice(&ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A State that never answers shows: every trace that expected it is
    /// counted, and those that ended without its final answer; a trace
    /// still open is not counted as unanswered, and a State listed twice
    /// in one trace counts once.
    #[test]
    fn a_state_that_never_answers_is_counted_per_trace() {
        let cc = |s: &str| CountryCode::parse(s).unwrap();
        let mut r = Report::default();
        // Ended: DE answered, FR without a final answer, NG withheld (final).
        let (yes, no) = (Word::Answered, Word::Nothing);
        r.count_expected([(cc("DE"), yes), (cc("FR"), no), (cc("NG"), yes)], false);
        // Ended: FR declined; DE refused, then answered by its second entry.
        r.count_expected([(cc("FR"), no), (cc("DE"), no), (cc("DE"), yes)], false);
        // Still open: FR awaited, not counted as unanswered; DE already
        // answered it, so not awaited.
        r.count_expected([(cc("FR"), no), (cc("DE"), yes)], true);
        // A blind filter's "no record" settles NG's part of a trace: counted
        // apart, not as a trace without a final word.
        r.count_expected([(cc("NG"), Word::FilterSaidNoRecord)], false);
        assert_eq!(r.traces_expected[&cc("FR")], 3);
        assert_eq!(r.traces_without_final_answer[&cc("FR")], 2);
        assert_eq!(r.traces_awaiting[&cc("FR")], 1);
        assert_eq!(r.traces_expected[&cc("DE")], 3);
        assert!(!r.traces_awaiting.contains_key(&cc("DE")));
        assert_eq!(r.traces_without_final_answer[&cc("DE")], 0);
        assert_eq!(r.traces_without_final_answer[&cc("NG")], 0);
        assert_eq!(r.traces_settled_by_filter[&cc("NG")], 1);
        assert_eq!(r.traces_expected[&cc("NG")], 2);
        let csv = r.to_csv();
        assert!(csv.contains("traces_expected_FR,3\n"), "{csv}");
        assert!(csv.contains("traces_without_final_answer_FR,2\n"), "{csv}");
        assert!(csv.contains("traces_awaiting_FR,1\n"), "{csv}");
        // A report from a build before these fields still reads.
        let mut old = serde_json::to_value(&r).unwrap();
        let o = old.as_object_mut().unwrap();
        o.remove("traces_expected");
        o.remove("traces_without_final_answer");
        let back: Report = serde_json::from_value(old).unwrap();
        assert!(back.traces_expected.is_empty() && back.traces_without_final_answer.is_empty());
    }

    /// Each holder's standing decides (a holder asked and silent is no
    /// final answer); of a blind trace, the holders never sent the marking
    /// count too, a filter without the weapon, or nothing under the
    /// prefixes, as their State's final word.
    #[test]
    fn expected_states_take_the_holders_and_a_blind_traces_filters() {
        use super::super::blind::{BlindHolder, BlindOutcome, BlindTrace};
        use super::super::{Asked, ExpectedBy, LocalCase, StoredTrace};
        let cc = |s: &str| CountryCode::parse(s).unwrap();
        let blind = |peer: &str, state: &str, outcome| BlindHolder {
            peer: peer.into(),
            state: Some(cc(state)),
            outcome,
            detail: None,
            elements: 0,
            received_marking: outcome == BlindOutcome::Hit,
            at: None,
        };
        let t = StoredTrace {
            id: "0123456789abcdef0123456789abcdef".into(),
            created_at: 0,
            created_at_ms: None,
            deadline: 3600,
            query: Vec::new(),
            topics: Vec::new(),
            asked: vec![Asked::new("p-de".into(), cc("DE"), ExpectedBy::BlindHit)],
            answers: Vec::new(),
            local: LocalCase::default(),
            first_ack: Default::default(),
            final_at: Default::default(),
            followed_up: Vec::new(),
            own_registry: None,
            nobody_holds: false,
            timeout_secs: None,
            filed: Vec::new(),
            blind: Some(BlindTrace {
                bound: 64,
                holders: vec![
                    blind("p-de", "DE", BlindOutcome::Hit),
                    blind("p-fr", "FR", BlindOutcome::Unreachable),
                    blind("p-ng", "NG", BlindOutcome::NoHit),
                    blind("p-ke", "KE", BlindOutcome::NoFilter),
                    blind("p-gh", "GH", BlindOutcome::HoldsNothing),
                ],
            }),
        };
        let got: BTreeMap<CountryCode, Word> =
            expected_states(&t, crate::protocol::Limits::default())
                .into_iter()
                .collect();
        assert_eq!(
            got,
            BTreeMap::from([
                (cc("DE"), Word::Nothing),
                (cc("FR"), Word::Nothing),
                (cc("NG"), Word::FilterSaidNoRecord),
                (cc("KE"), Word::Nothing),
                (cc("GH"), Word::FilterSaidNoRecord),
            ])
        );
    }

    /// A State that answers most traces at once and one 44 s late: the
    /// median says 1 s, and the slowest shows the late one.
    #[test]
    fn a_late_answer_shows_beside_the_median() {
        let cc = |s: &str| CountryCode::parse(s).unwrap();
        let mut r = Report::default();
        r.file_answer_times(BTreeMap::from([
            (cc("GH"), vec![1, 44, 0, 1, 2]),
            (cc("DE"), vec![3]),
        ]));
        assert_eq!(r.median_answer_secs[&cc("GH")], 1.0);
        assert_eq!(r.slowest_answer_secs[&cc("GH")], 44);
        assert_eq!(r.final_answers[&cc("GH")], 5);
        assert_eq!(r.slowest_answer_secs[&cc("DE")], 3);
        let csv = r.to_csv();
        assert!(csv.contains("median_answer_secs_GH,1\n"), "{csv}");
        assert!(csv.contains("slowest_answer_secs_GH,44\n"), "{csv}");
        assert!(csv.contains("final_answers_GH,5\n"), "{csv}");
        // A report from a build before these fields still reads.
        let mut old = serde_json::to_value(&r).unwrap();
        let o = old.as_object_mut().unwrap();
        o.remove("slowest_answer_secs");
        o.remove("final_answers");
        let back: Report = serde_json::from_value(old).unwrap();
        assert!(back.slowest_answer_secs.is_empty() && back.final_answers.is_empty());
    }
}
