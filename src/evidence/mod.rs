//! Evidence bundles: a query, the answers it received and the rosters that
//! vouch for the signing keys, as the exact signed bytes, so that anyone can
//! check offline, later, that each State really gave each answer.
//!
//! Format 2 names, for the query and for each answer, the roster version the
//! exporting node held when it sent or received it, and carries every version
//! named: an answer from a State removed by a later roster is judged by the
//! roster that vouched for it then. Format 1 (one roster for every part) is
//! still read and verified as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::model::{CountryCode, Date};
use crate::protocol::{
    Limits, PublicKey, Refusal, Signed, TraceAnswer, TraceQuery, accept, codec, decode_and_verify,
};
use crate::roster::{Roster, RosterFile, TrustConfig};

/// The `format` field of the bundles this version writes. Unknown fields are
/// refused so nothing unverified rides along.
pub const FORMAT: &str = "tracenet-evidence/2";
/// The first format: one roster for every part. Still verified.
pub const FORMAT_V1: &str = "tracenet-evidence/1";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The longest evidence bundle read: a trace's query, every answer (each a
/// frame of at most 64 KiB) and the rosters, with room to spare; a longer
/// file, or a device such as `/dev/zero`, is refused rather than read.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("cannot read evidence bundle {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write evidence bundle {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not an evidence bundle: {0}")]
    Json(String),
    #[error("evidence bundle format {0:?} is neither {FORMAT} nor {FORMAT_V1}")]
    Format(String),
    /// A file read from disk that is not a bundle, with its path.
    #[error("{}: {problem}; an evidence bundle is the JSON `tracenet trace export` writes", path.display())]
    NotBundle { path: PathBuf, problem: String },
}

/// An evidence bundle in either format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Bundle {
    V1(BundleV1),
    V2(BundleV2),
}

/// Format 1: base64 of each exact signed frame, and one roster file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleV1 {
    pub format: String,
    pub query: String,
    pub answers: Vec<String>,
    pub roster: RosterFile,
}

/// Format 2: as format 1, with the roster version that vouched for each frame
/// and every roster version named. The frames stay a list of strings, so a
/// tool that reads the answers of format 1 reads them here too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleV2 {
    pub format: String,
    pub query: String,
    /// The roster version the requester held when it sent the query.
    pub query_roster: u64,
    pub answers: Vec<String>,
    /// For each answer, in order: the roster version the requester held when
    /// it received it.
    pub answer_rosters: Vec<u64>,
    pub rosters: Vec<RosterFile>,
}

/// The verdict on one signed part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartReport {
    /// `roster` (format 1) or `roster vN`, `query`, or `answer N from CC`.
    pub part: String,
    pub ok: bool,
    /// What was established, or why it fails.
    pub detail: String,
}

/// The verdict on a whole bundle, and what it says: the query and each
/// answer decoded from their signed frames, so that a person reads the
/// evidence itself, not only whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub ok: bool,
    pub parts: Vec<PartReport>,
    /// What was asked; `None` when the query frame does not decode or its
    /// signature does not hold (its part says why).
    pub asked: Option<Asked>,
    /// Each answer whose frame decodes and whose signature holds, in the
    /// bundle's order (`n` counts from 1, as the parts do).
    pub answered: Vec<Answered>,
}

/// The decoded query of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asked {
    /// Hex SHA-256 of the signed query frame: what answers and audit logs
    /// name the query by.
    pub digest: String,
    /// The roster version that vouched for the requester (format 1: the
    /// bundle's one roster).
    pub roster_version: Option<u64>,
    /// Whether its part verifies.
    pub verified: bool,
    pub query: TraceQuery,
}

/// One decoded answer of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answered {
    /// Its place in the bundle, from 1: `answer N` in the parts.
    pub n: usize,
    /// The roster version that vouched for the responder, as the bundle names it.
    pub roster_version: Option<u64>,
    /// Whether its part verifies.
    pub verified: bool,
    pub answer: TraceAnswer,
}

impl Report {
    pub fn failures(&self) -> impl Iterator<Item = &PartReport> {
        self.parts.iter().filter(|p| !p.ok)
    }

    /// One line per part, as `verify` prints it.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            let mark = if p.ok { "ok  " } else { "FAIL" };
            s.push_str(&format!("{mark} {}: {}\n", p.part, p.detail));
        }
        // What no signature covers, said where the verdict is read: a
        // bundle with an answer taken out verifies as well (a trial).
        if self.ok {
            s.push_str(
                "note: each answer here is proved its State's; that none was left out is the exporter's word (its audit log, `tracenet audit`, lists each answer it received)\n",
            );
        }
        s.push_str(if self.ok {
            "evidence verifies\n"
        } else {
            "evidence does NOT verify\n"
        });
        s
    }

    /// The report on `parts`, with the content of the frames they judged:
    /// `query` with its roster version, and each answer's base64 frame with
    /// its roster version.
    fn of(
        parts: Vec<PartReport>,
        query: Option<(&Signed<TraceQuery>, Option<u64>)>,
        answers: &[(&str, Option<u64>)],
    ) -> Report {
        let verified = |name: &str| parts.iter().any(|p| p.ok && p.part == name);
        let asked = query.map(|(q, roster_version)| Asked {
            digest: q.digest().to_hex(),
            roster_version,
            verified: verified("query"),
            query: q.body().clone(),
        });
        let answered = answers
            .iter()
            .enumerate()
            .filter_map(|(i, (b64, roster_version))| {
                let bytes = B64.decode(b64.trim()).ok()?;
                let a = decode_and_verify::<TraceAnswer>(&bytes, Limits::default()).ok()?;
                let n = i + 1;
                let name = format!("answer {n} from {}", a.body().responder.state);
                Some(Answered {
                    n,
                    roster_version: *roster_version,
                    verified: verified(&name),
                    answer: a.into_parts().1,
                })
            })
            .collect();
        Report {
            ok: parts.iter().all(|p| p.ok),
            parts,
            asked,
            answered,
        }
    }
}

fn part(part: impl Into<String>, result: Result<String, String>) -> PartReport {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    PartReport {
        part: part.into(),
        ok,
        detail,
    }
}

/// The UTC day of a unix time, for checking a roster's validity dates.
fn day_of(unix: u64) -> Option<Date> {
    Date::from_days(i64::try_from(unix / 86_400).ok()?)
}

/// Applies the acceptance rules of `protocol::accept` to an answer, judged
/// at the time it was given, against the roster that vouched for it: the same
/// rules the node applied on receipt. Failures are told in words.
fn accept_answer_at(
    a: &Signed<TraceAnswer>,
    query: &Signed<TraceQuery>,
    roster: &Roster,
) -> Result<(), String> {
    let asked = accept::AskedQuery::of(query);
    let at = a.body().answered_at;
    accept::answer(
        a.bytes(),
        asked,
        None,
        at,
        &accept::Rules::default(),
        roster,
    )
    .map(|_| ())
    .map_err(|code| refusal_text(code, roster, &a.signer(), a.body().responder.state))
}

/// As [`accept_answer_at`], for the query, judged when it was issued, as
/// its requester sent it: from its own key. Not as read from gossip, where
/// a blind trace's query (`directed_only`) is refused: that rule is about
/// who may pass a query on, and a bundle's query is the requester's own.
fn accept_query_at(q: &Signed<TraceQuery>, roster: &Roster) -> Result<(), String> {
    let at = q.body().issued_at;
    accept::query(
        q.bytes(),
        accept::Via::Direct {
            sender: q.body().requester.key,
        },
        at,
        &accept::Rules::default(),
        roster,
    )
    .map(|_| ())
    .map_err(|r| refusal_text(r.refusal, roster, &q.signer(), q.body().requester.state))
}

fn refusal_text(code: Refusal, roster: &Roster, key: &PublicKey, state: CountryCode) -> String {
    match code {
        Refusal::NotInRoster => vouch(Some(roster), key, state).err().unwrap_or_else(|| {
            format!(
                "key {key} is not a member node of {state} in roster version {}",
                roster.version()
            )
        }),
        Refusal::RosterExpired => format!(
            "roster version {} had expired by then (valid until {})",
            roster.version(),
            roster.body().valid_until
        ),
        Refusal::AnswerBeforeQuery => {
            "the answer is dated more than an hour before its query".into()
        }
        Refusal::Expired => {
            "dated more than an hour after its query's time-to-live ended (no holder acts on a query past it)".into()
        }
        Refusal::UnknownTrace => "answers another query".into(),
        other => format!("refused by the acceptance rules: {other}"),
    }
}

/// Whether `key` is the roster's entry for `state`.
fn vouch(roster: Option<&Roster>, key: &PublicKey, state: CountryCode) -> Result<(), String> {
    let roster = roster.ok_or("no valid roster vouches for its key")?;
    match roster.member_by_key(key) {
        Some(m) if m.state == state => Ok(()),
        Some(m) => Err(format!(
            "key {key} belongs to {} in the roster, not {state}",
            m.state
        )),
        None => Err(format!(
            "key {key} is not in roster version {}",
            roster.version()
        )),
    }
}

/// Whether `roster` was valid on the day of unix time `at`.
fn valid_on(roster: &Roster, at: u64) -> Result<(), String> {
    let b = roster.body();
    match day_of(at) {
        Some(day) if day >= b.valid_from && day <= b.valid_until => Ok(()),
        Some(day) => Err(format!(
            "roster version {} is valid from {} to {}, not on {day}",
            b.version, b.valid_from, b.valid_until
        )),
        None => Err(format!("its date ({at}) is out of range")),
    }
}

fn decode_query(b64: &str) -> Result<Signed<TraceQuery>, String> {
    let bytes = B64.decode(b64.trim()).map_err(|e| {
        format!(
            "its base64 text: {}",
            crate::model::file::base64_problem(&e)
        )
    })?;
    decode_and_verify(&bytes, Limits::default()).map_err(|e| e.to_string())
}

fn query_detail(q: &Signed<TraceQuery>) -> String {
    let b = q.body();
    format!(
        "query {} from {} signed by {}",
        b.id,
        b.requester.state,
        q.signer()
    )
}

impl Bundle {
    /// A bundle in the current format: the query frame with the roster version
    /// that vouched for it, each answer frame with its version, and the roster
    /// files of those versions.
    pub fn new<'a>(
        query: &[u8],
        query_roster: u64,
        answers: impl IntoIterator<Item = (&'a [u8], u64)>,
        rosters: impl IntoIterator<Item = RosterFile>,
    ) -> Self {
        let (answers, answer_rosters) = answers
            .into_iter()
            .map(|(a, roster)| (B64.encode(a), roster))
            .unzip();
        Bundle::V2(BundleV2 {
            format: FORMAT.into(),
            query: B64.encode(query),
            query_roster,
            answers,
            answer_rosters,
            rosters: rosters.into_iter().collect(),
        })
    }

    /// The `format` field.
    pub fn format(&self) -> &str {
        match self {
            Bundle::V1(b) => &b.format,
            Bundle::V2(b) => &b.format,
        }
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        #[derive(Deserialize)]
        struct Peek {
            format: String,
        }
        let json =
            |e: serde_json::Error| BundleError::Json(crate::model::file::json_problem(bytes, &e));
        let peek: Peek = serde_json::from_slice(bytes).map_err(json)?;
        match peek.format.as_str() {
            FORMAT => Ok(Bundle::V2(serde_json::from_slice(bytes).map_err(json)?)),
            FORMAT_V1 => Ok(Bundle::V1(serde_json::from_slice(bytes).map_err(json)?)),
            _ => Err(BundleError::Format(peek.format)),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Reads a bundle file: a regular file of at most [`MAX_BUNDLE_BYTES`].
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        let bytes = crate::model::file::read_small(path, MAX_BUNDLE_BYTES).map_err(|source| {
            BundleError::Read {
                path: path.into(),
                source,
            }
        })?;
        Bundle::from_json(&bytes).map_err(|e| match e {
            BundleError::Json(_) | BundleError::Format(_) => BundleError::NotBundle {
                path: path.into(),
                problem: e.to_string(),
            },
            other => other,
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        std::fs::write(path, self.to_json()).map_err(|source| BundleError::Write {
            path: path.into(),
            source,
        })
    }

    /// Verifies every part; never stops at the first failure, so the report
    /// names each one.
    pub fn verify(&self, trust: &TrustConfig) -> Report {
        match self {
            Bundle::V1(b) => b.verify(trust),
            Bundle::V2(b) => b.verify(trust),
        }
    }
}

impl BundleV1 {
    /// A bundle in format 1, as nodes wrote them before format 2.
    pub fn new<'a>(
        query: &[u8],
        answers: impl IntoIterator<Item = &'a [u8]>,
        roster: &RosterFile,
    ) -> Self {
        BundleV1 {
            format: FORMAT_V1.into(),
            query: B64.encode(query),
            answers: answers.into_iter().map(|a| B64.encode(a)).collect(),
            roster: roster.clone(),
        }
    }

    /// Every part against the one roster, which must be valid on the day the
    /// query was issued.
    pub fn verify(&self, trust: &TrustConfig) -> Report {
        let query = decode_query(&self.query);
        let roster = self.verify_roster(trust, query.as_ref().ok());
        let mut parts = vec![part(
            "roster",
            roster.as_ref().map(roster_summary).map_err(Clone::clone),
        )];
        let roster = roster.ok();
        parts.push(part("query", check_query(&query, roster.as_ref())));
        let asked = query.as_ref().ok();
        for (i, a) in self.answers.iter().enumerate() {
            parts.push(check_answer(i + 1, a, asked, |a| {
                vouch(roster.as_ref(), &a.signer(), a.body().responder.state)?;
                if let (Some(r), Some(q)) = (roster.as_ref(), asked) {
                    accept_answer_at(a, q, r)?;
                }
                Ok(format!(
                    "{} signed by {}",
                    outcome_word(a.body()),
                    a.signer()
                ))
            }));
        }
        // One roster for every part: its version, whether or not it verifies.
        let version = roster
            .as_ref()
            .map(Roster::version)
            .or_else(|| self.roster.decode_unverified().ok().map(|b| b.version));
        let answers: Vec<(&str, Option<u64>)> =
            self.answers.iter().map(|a| (a.as_str(), version)).collect();
        Report::of(parts, asked.map(|q| (q, version)), &answers)
    }

    fn verify_roster(
        &self,
        trust: &TrustConfig,
        query: Option<&Signed<TraceQuery>>,
    ) -> Result<Roster, String> {
        let on = match query.and_then(|q| day_of(q.body().issued_at)) {
            Some(d) => d,
            // Without a readable query, check the signatures on the roster's own first day.
            None => {
                self.roster
                    .decode_unverified()
                    .map_err(|e| e.to_string())?
                    .valid_from
            }
        };
        self.roster.verify(trust, on).map_err(|e| e.to_string())
    }
}

fn check_query(
    query: &Result<Signed<TraceQuery>, String>,
    roster: Option<&Roster>,
) -> Result<String, String> {
    let q = query.as_ref().map_err(Clone::clone)?;
    let b = q.body();
    vouch(roster, &q.signer(), b.requester.state)
        .map_err(|e| format!("from {}: {e}", b.requester.state))?;
    if let Some(r) = roster {
        accept_query_at(q, r).map_err(|e| format!("from {}: {e}", b.requester.state))?;
    }
    Ok(query_detail(q))
}

impl BundleV2 {
    /// Each roster's signatures against the verifier's anchors; the query and
    /// each answer against the version it names, which must list its key and
    /// be valid on the day the query was issued or the answer given.
    pub fn verify(&self, trust: &TrustConfig) -> Report {
        let (mut parts, rosters) = self.verify_rosters(trust);
        let query = decode_query(&self.query);
        let in_bundle = |v: u64| {
            rosters.get(&v).ok_or_else(|| {
                format!("roster version {v} is not in the bundle or does not verify")
            })
        };
        let q = query.as_ref().map_err(Clone::clone).and_then(|q| {
            let r = in_bundle(self.query_roster)?;
            let state = q.body().requester.state;
            valid_on(r, q.body().issued_at)
                .and_then(|()| vouch(Some(r), &q.signer(), state))
                .and_then(|()| accept_query_at(q, r))
                .map_err(|e| format!("from {state}: {e}"))?;
            Ok(format!("{} under roster v{}", query_detail(q), r.version()))
        });
        parts.push(part("query", q));
        let asked = query.as_ref().ok();
        for (i, a) in self.answers.iter().enumerate() {
            let version = self.answer_rosters.get(i).copied();
            parts.push(check_answer(i + 1, a, asked, |s| {
                let v = version.ok_or("answer_rosters names no roster version for it")?;
                let r = in_bundle(v)?;
                let (key, state) = (s.signer(), s.body().responder.state);
                valid_on(r, s.body().answered_at)?;
                vouch(Some(r), &key, state)?;
                if let Some(q) = asked {
                    accept_answer_at(s, q, r)?;
                }
                let removed = rosters
                    .range(v + 1..)
                    .find(|(_, later)| !later.lists(&key, state))
                    .map(|(v, _)| format!(" ({state} removed in v{v})"))
                    .unwrap_or_default();
                Ok(format!(
                    "{} signed by {key} under roster v{}{removed}",
                    outcome_word(s.body()),
                    v
                ))
            }));
        }
        let answers: Vec<(&str, Option<u64>)> = self
            .answers
            .iter()
            .enumerate()
            .map(|(i, a)| (a.as_str(), self.answer_rosters.get(i).copied()))
            .collect();
        if self.answer_rosters.len() > self.answers.len() {
            parts.push(part(
                "answer_rosters",
                Err(format!(
                    "{} roster versions for {} answers",
                    self.answer_rosters.len(),
                    self.answers.len()
                )),
            ));
        }
        Report::of(parts, asked.map(|q| (q, Some(self.query_roster))), &answers)
    }

    /// One part per roster file: its signatures against the verifier's anchors
    /// (dates are checked against each part that relies on it). A version
    /// present twice is ambiguous, so neither copy vouches for anything.
    fn verify_rosters(&self, trust: &TrustConfig) -> (Vec<PartReport>, BTreeMap<u64, Roster>) {
        let mut count: BTreeMap<u64, usize> = BTreeMap::new();
        let bodies: Vec<_> = self
            .rosters
            .iter()
            .map(|f| f.decode_unverified().map_err(|e| e.to_string()))
            .collect();
        for b in bodies.iter().flatten() {
            *count.entry(b.version).or_default() += 1;
        }
        let mut parts = Vec::new();
        let mut good = BTreeMap::new();
        for (i, (f, body)) in self.rosters.iter().zip(bodies).enumerate() {
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    parts.push(part(format!("roster {}", i + 1), Err(e)));
                    continue;
                }
            };
            let name = format!("roster v{}", body.version);
            if count.get(&body.version).copied().unwrap_or(0) > 1 {
                parts.push(part(
                    name,
                    Err("this version is in the bundle twice".into()),
                ));
                continue;
            }
            match f.verify(trust, body.valid_from) {
                Ok(r) => {
                    parts.push(part(name, Ok(roster_summary(&r))));
                    good.insert(body.version, r);
                }
                Err(e) => parts.push(part(name, Err(e.to_string()))),
            }
        }
        if self.rosters.is_empty() {
            parts.push(part("roster", Err("the bundle holds no roster".into())));
        }
        (parts, good)
    }
}

fn roster_summary(r: &Roster) -> String {
    let by: Vec<String> = r.signed_by().iter().map(|k| k.to_base64()).collect();
    format!(
        "version {} ({}), signed by {}: {}",
        r.version(),
        crate::model::count(r.members().len() as u64, "member"),
        crate::model::count(by.len() as u64, "anchor"),
        by.join(", ")
    )
}

/// Decodes answer `n` and checks that it answers the bundle's query; `judge`
/// checks its key against the roster and says what it established.
fn check_answer(
    n: usize,
    b64: &str,
    query: Option<&Signed<TraceQuery>>,
    judge: impl FnOnce(&Signed<TraceAnswer>) -> Result<String, String>,
) -> PartReport {
    let bytes = match B64.decode(b64.trim()) {
        Ok(b) => b,
        Err(e) => {
            return part(
                format!("answer {n}"),
                Err(format!(
                    "its base64 text: {}",
                    crate::model::file::base64_problem(&e)
                )),
            );
        }
    };
    let a = match decode_and_verify::<TraceAnswer>(&bytes, Limits::default()) {
        Ok(a) => a,
        Err(e) => {
            let name = match claimed_state(&bytes) {
                Some(cc) => format!("answer {n} from {cc}"),
                None => format!("answer {n}"),
            };
            return part(name, Err(e.to_string()));
        }
    };
    let name = format!("answer {n} from {}", a.body().responder.state);
    let result = match query {
        None => Err("the query it answers does not verify".to_string()),
        Some(q) if a.body().query != q.digest() => {
            Err(format!("answers another query (digest {})", a.body().query))
        }
        Some(_) => judge(&a),
    };
    part(name, result)
}

/// The State an answer claims to be from, read without trusting it, so that a
/// failure can be named the way a person looks for it.
fn claimed_state(frame: &[u8]) -> Option<CountryCode> {
    let (message, _) = codec::split_signed(frame).ok()?;
    let body =
        <TraceAnswer as crate::protocol::Message>::decode(message, Limits::default()).ok()?;
    Some(body.responder.state)
}

/// The outcome in words, for the verdict's lines (the answer itself is
/// told in full above them).
fn outcome_word(a: &TraceAnswer) -> &'static str {
    use crate::protocol::Outcome::*;
    match a.outcome {
        Hit { .. } => "hit",
        NoHit => "no record",
        Withheld { .. } => "withheld",
        Acknowledged => "acknowledged",
        TooMany { .. } => "too many candidates",
        Refused { .. } => "refused",
        Trimmed { .. } => "hit (trimmed)",
    }
}

#[cfg(test)]
mod tests;
