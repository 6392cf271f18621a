//! The disclosure policy: what a hit discloses, to whom, what a confidential
//! record answers, and which requests wait for a person's decision. Read from
//! `DATA_DIR/policy.toml` (optional; config/policy.toml documents every key).
//! Whatever the policy says, only record projections ever leave the node: the
//! policy can only take away from them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{CountryCode, EventDate, Precision};
use crate::protocol::{EventProjection, Priority, RecordProjection};

pub const POLICY_FILE: &str = "policy.toml";

/// How much of a matching record a hit discloses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Disclosure {
    /// The whole projection.
    #[default]
    Full,
    /// Events without holder categories.
    NoHolders,
    /// Dates told to the month only (`2019-07`), marked so on the wire.
    Month,
    /// Dates told to the year only (`2019`), marked so on the wire.
    Year,
    /// The hit is acknowledged without details (`withheld`, reason `other`).
    AcknowledgeOnly,
}

impl std::str::FromStr for Disclosure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            format!("{s:?}: expected full, no_holders, month, year or acknowledge_only")
        })
    }
}

/// What a match on a confidential record answers, unless it goes to review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConfidentialRule {
    /// `withheld` with reason `national_law`.
    #[default]
    Withhold,
    /// No answer at all.
    Silent,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewRules {
    /// Every urgent request waits for a person.
    pub urgent: bool,
    /// Every match on a confidential record waits for a person.
    pub confidential: bool,
    /// Every requester outside all groups waits for a person.
    pub outside_groups: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default)]
    pub requester: Option<CountryCode>,
    #[serde(default)]
    pub group: Option<String>,
    pub disclose: Disclosure,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub disclose: Disclosure,
    pub confidential: ConfidentialRule,
    pub review: ReviewRules,
    /// Named groups of States, for example a region's members.
    pub groups: BTreeMap<String, Vec<CountryCode>>,
    #[serde(rename = "override")]
    pub overrides: Vec<Override>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}; the node does not start on a policy it cannot parse")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}; the node does not start on a contradictory policy")]
    Contradiction { path: PathBuf, message: String },
}

/// Why a request waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    Urgent,
    Confidential,
    OutsideGroups,
}

/// What the policy decides for one request that matched records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Disclose(Disclosure),
    /// `withheld` (national law) for a confidential record.
    Withhold,
    Silent,
    Review(ReviewReason),
}

impl Policy {
    /// Reads `DATA_DIR/policy.toml`; the default policy if there is none.
    pub fn load(data_dir: &Path) -> Result<Self, PolicyError> {
        let path = data_dir.join(POLICY_FILE);
        match crate::model::file::read_small_text(&path, crate::model::file::SMALL_FILE_BYTES) {
            Ok(text) => Self::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
            Err(source) => Err(PolicyError::Read { path, source }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_path_buf(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0),
            message: e.message().to_string(),
        })?;
        p.check().map_err(|message| PolicyError::Contradiction {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(p)
    }

    /// Refuses rules that cannot all hold.
    fn check(&self) -> Result<(), String> {
        let mut seen: BTreeMap<String, Disclosure> = BTreeMap::new();
        for (i, o) in self.overrides.iter().enumerate() {
            let who = match (&o.requester, &o.group) {
                (Some(r), None) => r.to_string(),
                (None, Some(g)) => {
                    if !self.groups.contains_key(g) {
                        return Err(format!(
                            "override {}: group {g:?} is not defined under [groups]",
                            i + 1
                        ));
                    }
                    format!("group {g}")
                }
                _ => {
                    return Err(format!(
                        "override {}: name exactly one of requester or group",
                        i + 1
                    ));
                }
            };
            if let Some(prev) = seen.insert(who.clone(), o.disclose)
                && prev != o.disclose
            {
                return Err(format!(
                    "override {}: {who} is given two different disclosures",
                    i + 1
                ));
            }
        }
        if self.review.outside_groups && self.groups.is_empty() {
            return Err("review.outside_groups is set but no [groups] are defined: every request would wait".into());
        }
        Ok(())
    }

    fn in_group(&self, group: &str, state: CountryCode) -> bool {
        self.groups.get(group).is_some_and(|g| g.contains(&state))
    }

    /// The disclosure for a requester: its own override, else its group's,
    /// else the default.
    pub fn disclosure_for(&self, requester: CountryCode) -> Disclosure {
        let own = self
            .overrides
            .iter()
            .find(|o| o.requester == Some(requester));
        let group = || {
            self.overrides.iter().find(|o| {
                o.group
                    .as_deref()
                    .is_some_and(|g| self.in_group(g, requester))
            })
        };
        own.or_else(group)
            .map(|o| o.disclose)
            .unwrap_or(self.disclose)
    }

    /// Whether another State may learn nothing of a confidential record:
    /// a match on one answers with silence and no person reviews it. The
    /// holder then searches for other States without its confidential
    /// records (`FindQuery::hide_confidential`) and leaves them out of its
    /// keyed filters, so that neither a wildcard's count, nor the other
    /// records a wildcard matches, nor a blind trace's filter tells that one
    /// exists.
    pub fn hides_confidential(&self) -> bool {
        self.confidential == ConfidentialRule::Silent && !self.review.confidential
    }

    /// What this policy, with the node's `answer_no_hit`, lets a requester
    /// learn that its author may not expect: each a sentence for `config
    /// check` and the node's log.
    pub fn warnings(&self, answer_no_hit: bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.hides_confidential() && answer_no_hit {
            out.push(
                "confidential = \"silent\" with node.answer_no_hit = true: every serial this node does not hold is answered no_hit, so the silence that answers a confidential record tells the requester that one exists; set answer_no_hit = false under [node] in tracenet.toml to make silence tell nothing, or confidential = \"withhold\" to say so openly".to_string(),
            );
        }
        out
    }

    /// What a confidential match answers without a person: withheld, or
    /// silence (the `confidential` rule), whatever `[review]` says. What a
    /// wildcard under prefixes holding confidential records, matching
    /// nothing public, is answered by (`answer::plan`): sent to a person,
    /// every such wildcard would take one of the requester's places in the
    /// inbox (`max_reviews_waiting_per_state`), its misses included.
    pub fn confidential_rule(&self) -> Decision {
        match self.confidential {
            ConfidentialRule::Withhold => Decision::Withhold,
            ConfidentialRule::Silent => Decision::Silent,
        }
    }

    /// Decides for a request whose lookup matched records.
    pub fn decide(
        &self,
        requester: CountryCode,
        priority: Priority,
        confidential: bool,
    ) -> Decision {
        if confidential && self.review.confidential {
            return Decision::Review(ReviewReason::Confidential);
        }
        if priority == Priority::Urgent && self.review.urgent {
            return Decision::Review(ReviewReason::Urgent);
        }
        if self.review.outside_groups && !self.groups.values().any(|g| g.contains(&requester)) {
            return Decision::Review(ReviewReason::OutsideGroups);
        }
        if confidential {
            return match self.confidential {
                ConfidentialRule::Withhold => Decision::Withhold,
                ConfidentialRule::Silent => Decision::Silent,
            };
        }
        Decision::Disclose(self.disclosure_for(requester))
    }
}

/// A date told no more precisely than the disclosure allows. The date keeps
/// its reduced form (`2019`, not `2019-01-01`), so the requester sees what
/// it was told and nothing it was not.
fn reduce_date(d: EventDate, to: Disclosure) -> EventDate {
    match to {
        Disclosure::Month => d.reduced(Precision::Month),
        Disclosure::Year => d.reduced(Precision::Year),
        _ => d,
    }
}

/// Takes from a projection what the disclosure level does not allow.
pub fn apply(mut r: RecordProjection, level: Disclosure) -> RecordProjection {
    r.events = r
        .events
        .into_iter()
        .map(|e| EventProjection {
            date: reduce_date(e.date, level),
            holder: if level == Disclosure::NoHolders {
                None
            } else {
                e.holder
            },
            ..e
        })
        .collect();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    const EXAMPLE: &str = include_str!("../../config/policy.toml");

    #[test]
    fn the_annotated_example_parses_and_decides() {
        let p = Policy::parse(Path::new("config/policy.toml"), EXAMPLE).unwrap();
        assert_eq!(p.disclosure_for(cc("NG")), Disclosure::Full);
        assert_eq!(p.disclosure_for(cc("US")), Disclosure::Year);
        assert_eq!(
            p.decide(cc("NG"), Priority::Urgent, false),
            Decision::Review(ReviewReason::Urgent)
        );
        assert_eq!(
            p.decide(cc("GH"), Priority::Routine, true),
            Decision::Review(ReviewReason::Confidential)
        );
        assert_eq!(
            p.decide(cc("GH"), Priority::Routine, false),
            Decision::Disclose(Disclosure::Full)
        );
    }

    #[test]
    fn bad_policies_are_refused_with_file_line_and_reason() {
        let f = Path::new("p.toml");
        let e = Policy::parse(f, "disclose = \"full\"\n\n[review]\nurgnet = true\n").unwrap_err();
        assert!(e.to_string().starts_with("p.toml:4:"), "{e}");
        let e = Policy::parse(f, "[groups]\nwest = [\"NG\", \"XX\"]\n").unwrap_err();
        assert!(e.to_string().contains("XX"), "{e}");
        let e = Policy::parse(
            f,
            "[[override]]\ngroup = \"nowhere\"\ndisclose = \"year\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("not defined"), "{e}");
        let e = Policy::parse(
            f,
            "[[override]]\nrequester = \"NG\"\ndisclose = \"year\"\n[[override]]\nrequester = \"NG\"\ndisclose = \"full\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("two different"), "{e}");
        let e = Policy::parse(f, "[review]\noutside_groups = true\n").unwrap_err();
        assert!(e.to_string().contains("no [groups]"), "{e}");
    }

    #[test]
    fn confidential_records_follow_the_rule() {
        let silent = Policy {
            confidential: ConfidentialRule::Silent,
            ..Policy::default()
        };
        assert_eq!(
            silent.decide(cc("NG"), Priority::Routine, true),
            Decision::Silent
        );
        assert_eq!(
            Policy::default().decide(cc("NG"), Priority::Routine, true),
            Decision::Withhold
        );
    }

    #[test]
    fn disclosure_levels_take_away_details() {
        use crate::marking::Marking;
        use crate::model::{EventKind, HolderCategory, WeaponCategory};
        let r = RecordProjection {
            marking: Marking::new("Walther", cc("DE"), "X1").unwrap(),
            category: WeaponCategory::Pistol,
            model: None,
            calibre: None,
            events: vec![EventProjection {
                kind: EventKind::Stolen,
                date: EventDate::parse("2019-07-30").unwrap(),
                counterpart: None,
                holder: Some(HolderCategory::StatePolice),
            }],
        };
        assert_eq!(
            apply(r.clone(), Disclosure::Month).events[0]
                .date
                .to_string(),
            "2019-07"
        );
        assert_eq!(
            apply(r.clone(), Disclosure::Year).events[0]
                .date
                .to_string(),
            "2019"
        );
        assert_eq!(
            apply(r.clone(), Disclosure::NoHolders).events[0].holder,
            None
        );
        assert_eq!(apply(r.clone(), Disclosure::Full), r);
    }
}
