//! Evidence bundles: a query, the answers it received and the roster that vouches
//! for the answering keys, as the exact signed bytes, so that anyone can check
//! offline, later, that each State really gave each answer.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::model::{CountryCode, Date};
use crate::protocol::{
    Kind, Limits, PublicKey, Signed, TraceAnswer, TraceQuery, codec, decode_and_verify,
};
use crate::roster::{Roster, RosterFile, TrustConfig};

/// The `format` field of a bundle. A later version may add a chain-of-custody
/// section; this one refuses unknown fields so nothing unverified rides along.
pub const FORMAT: &str = "tracenet-evidence/1";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
    #[error("evidence bundle format {0:?} is not {FORMAT}")]
    Format(String),
}

/// The bundle file: base64 of each exact signed frame, and the roster file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub query: String,
    pub answers: Vec<String>,
    pub roster: RosterFile,
}

/// The verdict on one signed part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartReport {
    /// `query`, `roster` or `answer N from CC`.
    pub part: String,
    pub ok: bool,
    /// What was established, or why it fails.
    pub detail: String,
}

/// The verdict on a whole bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub ok: bool,
    pub parts: Vec<PartReport>,
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
        s.push_str(if self.ok {
            "evidence verifies\n"
        } else {
            "evidence does NOT verify\n"
        });
        s
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

impl Bundle {
    pub fn new<'a>(
        query: &[u8],
        answers: impl IntoIterator<Item = &'a [u8]>,
        roster: &RosterFile,
    ) -> Self {
        Bundle {
            format: FORMAT.into(),
            query: B64.encode(query),
            answers: answers.into_iter().map(|a| B64.encode(a)).collect(),
            roster: roster.clone(),
        }
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        let b: Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        if b.format != FORMAT {
            return Err(BundleError::Format(b.format));
        }
        Ok(b)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    pub fn read(path: &Path) -> Result<Self, BundleError> {
        let bytes = std::fs::read(path).map_err(|source| BundleError::Read {
            path: path.into(),
            source,
        })?;
        Bundle::from_json(&bytes)
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
        let query = self.decode_query();
        let roster = self.verify_roster(trust, query.as_ref().ok());
        let mut parts = vec![part(
            "roster",
            roster.as_ref().map(roster_summary).map_err(Clone::clone),
        )];
        let roster = roster.ok();
        parts.push(part("query", self.check_query(&query, roster.as_ref())));
        for (i, a) in self.answers.iter().enumerate() {
            parts.push(check_answer(i + 1, a, query.as_ref().ok(), roster.as_ref()));
        }
        Report {
            ok: parts.iter().all(|p| p.ok),
            parts,
        }
    }

    fn decode_query(&self) -> Result<Signed<TraceQuery>, String> {
        let bytes = B64
            .decode(self.query.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        decode_and_verify(&bytes, Limits::default()).map_err(|e| e.to_string())
    }

    /// The roster must be validly signed and valid on the day the query was issued.
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

    fn check_query(
        &self,
        query: &Result<Signed<TraceQuery>, String>,
        roster: Option<&Roster>,
    ) -> Result<String, String> {
        let q = query.as_ref().map_err(Clone::clone)?;
        let b = q.body();
        vouch(roster, &q.signer(), b.requester.state)
            .map_err(|e| format!("from {}: {e}", b.requester.state))?;
        Ok(format!(
            "query {} from {} signed by {}",
            b.id,
            b.requester.state,
            q.signer()
        ))
    }
}

fn roster_summary(r: &Roster) -> String {
    let by: Vec<String> = r
        .signed_by()
        .iter()
        .map(|k| k.to_hex()[..16].to_string())
        .collect();
    format!(
        "version {} ({} members), signed by anchors {}",
        r.version(),
        r.members().len(),
        by.join(", ")
    )
}

fn check_answer(
    n: usize,
    b64: &str,
    query: Option<&Signed<TraceQuery>>,
    roster: Option<&Roster>,
) -> PartReport {
    let bytes = match B64.decode(b64.trim()) {
        Ok(b) => b,
        Err(e) => return part(format!("answer {n}"), Err(format!("not base64: {e}"))),
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
    let state = a.body().responder.state;
    let name = format!("answer {n} from {state}");
    let result = (|| {
        let q = query.ok_or("the query it answers does not verify")?;
        if a.body().query != q.digest() {
            return Err(format!("answers another query (digest {})", a.body().query));
        }
        vouch(roster, &a.signer(), state)?;
        Ok(format!(
            "{} signed by {}",
            outcome_word(a.body()),
            a.signer()
        ))
    })();
    part(name, result)
}

/// The State an answer claims to be from, read without trusting it, so that a
/// failure can be named the way a person looks for it.
fn claimed_state(frame: &[u8]) -> Option<CountryCode> {
    let (message, _) = codec::split_signed(frame).ok()?;
    let body: TraceAnswer = codec::decode_body(Kind::Answer, message, Limits::default()).ok()?;
    Some(body.responder.state)
}

fn outcome_word(a: &TraceAnswer) -> &'static str {
    use crate::protocol::Outcome::*;
    match a.outcome {
        Hit { .. } => "hit",
        NoHit => "no_hit",
        Withheld { .. } => "withheld",
        Acknowledged => "acknowledged",
        TooMany { .. } => "too_many",
    }
}

#[cfg(test)]
mod tests;
