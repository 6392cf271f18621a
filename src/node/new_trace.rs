//! A new trace as an officer asks for it, and the checks of the officer's
//! input that run before anything is signed or sent.

use serde::{Deserialize, Serialize};

use super::{LocalCase, NodeError};
use crate::marking::{
    ImportMark, MakerCheck, MakerTable, Marking, MarkingError, MarkingFields, Suggestion,
};
use crate::model::{Calibre, CountryCode, WeaponCategory};
use crate::protocol::{IntendedUse, LegalGround, Priority};
use crate::registry::NationalText;

/// A new trace as an officer asks for it; validated before anything is sent.
#[derive(Debug, Clone)]
pub struct NewTrace {
    pub marking: Marking,
    pub category: WeaponCategory,
    pub calibre: Option<Calibre>,
    pub legal_ground: LegalGround,
    pub intended_use: IntendedUse,
    pub priority: Priority,
    /// How long to wait for answers before the trace is partial or timed out.
    pub timeout_secs: Option<u64>,
    pub local: LocalCase,
    /// Blind (proto-docs/BLIND.md): the marking goes only to the holders
    /// whose keyed filter it hits.
    pub blind: bool,
}

/// A field of a new trace. Each front end names it in its own words: the
/// CLI by its flag, the control API by its JSON field, the console by its
/// form's label ([`TraceFault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceField {
    Maker,
    FactoryCode,
    Country,
    Serial,
    Imports,
    Category,
    Calibre,
    Ground,
    #[serde(rename = "use")]
    Use,
    TimeoutSecs,
    Case,
    Note,
    Blind,
    Urgent,
    Force,
}

impl TraceField {
    /// Its field in `POST /v1/traces` (proto-docs/API.md).
    pub fn json_name(self) -> &'static str {
        match self {
            TraceField::Maker => "maker",
            TraceField::FactoryCode => "factory_code",
            TraceField::Country => "country",
            TraceField::Serial => "serial",
            TraceField::Imports => "imports",
            TraceField::Category => "category",
            TraceField::Calibre => "calibre",
            TraceField::Ground => "ground",
            TraceField::Use => "use",
            TraceField::TimeoutSecs => "timeout_secs",
            TraceField::Case => "case",
            TraceField::Note => "note",
            TraceField::Blind => "blind",
            TraceField::Urgent => "urgent",
            TraceField::Force => "force",
        }
    }

    /// Every field, in `POST /v1/traces`'s order.
    pub const ALL: &[TraceField] = &[
        TraceField::Maker,
        TraceField::FactoryCode,
        TraceField::Country,
        TraceField::Serial,
        TraceField::Imports,
        TraceField::Category,
        TraceField::Calibre,
        TraceField::Ground,
        TraceField::Use,
        TraceField::Urgent,
        TraceField::TimeoutSecs,
        TraceField::Case,
        TraceField::Note,
        TraceField::Force,
        TraceField::Blind,
    ];

    /// The field `POST /v1/traces` names `name`, if any.
    pub fn from_json_name(name: &str) -> Option<TraceField> {
        Self::ALL.iter().copied().find(|f| f.json_name() == name)
    }

    /// Its flag in `tracenet trace`.
    pub fn flag(self) -> &'static str {
        match self {
            TraceField::Maker => "--maker",
            TraceField::FactoryCode => "--factory-code",
            TraceField::Country => "--country",
            TraceField::Serial => "--serial",
            TraceField::Imports => "--import",
            TraceField::Category => "--category",
            TraceField::Calibre => "--calibre",
            TraceField::Ground => "--ground",
            TraceField::Use => "--use",
            TraceField::TimeoutSecs => "--timeout",
            TraceField::Case => "--case",
            TraceField::Note => "--note",
            TraceField::Blind => "--blind",
            TraceField::Urgent => "--urgent",
            TraceField::Force => "--force",
        }
    }
}

/// The way round a [`TraceFault`] the officer may take besides correcting
/// the field at fault. In the API's error body: `{"correct_or_force":
/// "country"}` or `"send_in_clear"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// The maker reference table does not know the maker (as a maker of
    /// the country given): correct this field, or send the trace anyway
    /// (`--force`, `"force": true`, the console's checkbox).
    CorrectOrForce(TraceField),
    /// A blind trace whose serial reads too many ways: send it in the clear
    /// (`--blind=false`, `"blind": false`), which every expected holder
    /// reads, or narrow the reading.
    SendInClear,
    /// Neither of two fields is given: give the one at fault, this one, or
    /// both (a maker or a factory code, ITI para 8(a)).
    OrGive(TraceField),
}

/// Whose names a [`TraceFault`] is said with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldNames {
    /// `tracenet trace`'s flags: `--country`.
    Cli,
    /// `POST /v1/traces`'s JSON fields: `"country"`.
    Api,
}

/// Why a trace was not sent (or not sent again): the field at fault, what
/// is wrong in words that name no flag and no JSON field, and the way round
/// besides correcting it. The CLI says it with its flags, the control API
/// with its JSON fields (and returns it whole as the error body's `fault`),
/// the console with its form's labels: an integrator's program was told
/// `--country: ...` before, a CLI flag it has no use for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceFault {
    /// The field at fault; absent for the trace as a whole (a stored query
    /// whose time-to-live has ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<TraceField>,
    /// What is wrong, in English, naming no flag and no JSON field.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

impl TraceFault {
    /// A fault of one field.
    pub fn of(field: TraceField, reason: impl Into<String>) -> Self {
        TraceFault {
            field: Some(field),
            reason: reason.into(),
            remedy: None,
        }
    }

    /// Neither a maker nor a factory code.
    pub fn no_maker() -> Self {
        TraceFault::of(
            TraceField::Maker,
            "neither the manufacturer as marked nor the factory code marked instead of it (ITI para 8(a)) is given",
        )
        .with(Remedy::OrGive(TraceField::FactoryCode))
    }

    /// A fault of the trace as a whole.
    pub fn whole(reason: impl Into<String>) -> Self {
        TraceFault {
            field: None,
            reason: reason.into(),
            remedy: None,
        }
    }

    pub(crate) fn with(mut self, remedy: Remedy) -> Self {
        self.remedy = Some(remedy);
        self
    }

    /// The fault in one line, with the CLI's or the API's names:
    /// `--country: "D" is not ...` or `"country": "D" is not ...`.
    pub fn say(&self, names: FieldNames) -> String {
        let name = |f: TraceField| match names {
            FieldNames::Cli => f.flag().to_string(),
            FieldNames::Api => format!("\"{}\"", f.json_name()),
        };
        let mut out = match self.field {
            Some(f) => format!("{}: {}", name(f), self.reason),
            None => self.reason.clone(),
        };
        let Some(remedy) = self.remedy else {
            return out;
        };
        out.push_str(if out.ends_with(['?', '.']) { " " } else { ". " });
        match (remedy, names) {
            (Remedy::CorrectOrForce(f), FieldNames::Cli) => {
                out.push_str(&format!("Correct {}, or send it anyway with --force", name(f)))
            }
            (Remedy::CorrectOrForce(f), FieldNames::Api) => out.push_str(&format!(
                "Correct {}, or send it anyway with \"force\": true",
                name(f)
            )),
            (Remedy::SendInClear, FieldNames::Cli) => out.push_str(
                "Send it in the clear (--blind=false), which every expected holder reads, or narrow the reading",
            ),
            (Remedy::SendInClear, FieldNames::Api) => out.push_str(
                "Send it in the clear (\"blind\": false), which every expected holder reads, or narrow the reading",
            ),
            (Remedy::OrGive(other), _) => {
                let at = self.field.map(name).unwrap_or_default();
                out.push_str(&format!("Give {at} or {}, or both", name(other)));
            }
        }
        out
    }

    /// A marking the trace cannot carry, by the field its error is about.
    fn of_marking(e: MarkingError) -> Self {
        match e {
            MarkingError::Maker(e) => TraceFault::of(TraceField::Maker, e.to_string()),
            MarkingError::NoMaker => TraceFault::no_maker(),
            MarkingError::Serial(e) => TraceFault::of(TraceField::Serial, e.to_string()),
            MarkingError::Country(e) => TraceFault::of(TraceField::Country, e),
            MarkingError::FactoryCode(e) => TraceFault::of(TraceField::FactoryCode, e.to_string()),
            e @ (MarkingError::TooManyImports(_) | MarkingError::ImportMark(_)) => {
                TraceFault::of(TraceField::Imports, e.to_string())
            }
            e => TraceFault::whole(e.to_string()),
        }
    }
}

/// The control API's names: the node's own words on a trace not sent.
impl std::fmt::Display for TraceFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.say(FieldNames::Api))
    }
}

/// Builds the marking of a trace from an officer's flags, refusing bad input
/// before anything is sent. `maker` may be empty when `factory_code` (as
/// marked: `/66\`, `△66`, `66`) is given; the marking keeps the code in its
/// canonical form, which is what the query carries.
pub fn trace_marking(
    maker: &str,
    country: &str,
    serial: &str,
    factory_code: Option<&str>,
    imports: &[String],
) -> Result<Marking, NodeError> {
    let bad = |f: TraceField, e: String| NodeError::BadTrace(TraceFault::of(f, e));
    let country =
        CountryCode::parse(country).map_err(|e| bad(TraceField::Country, e.to_string()))?;
    // As the holders will read it: a serial they would refuse is refused here.
    crate::marking::SerialQuery::parse(serial)
        .map_err(|e| bad(TraceField::Serial, format!("{serial:?}: {e}")))?;
    let imports = imports
        .iter()
        .map(|s| {
            s.parse::<ImportMark>().map_err(|e| {
                bad(
                    TraceField::Imports,
                    match e {
                        // Names the mark itself.
                        MarkingError::ImportMark(m) => m,
                        MarkingError::Country(m) => format!("{s:?}: {m}"),
                        e => format!("{s:?}: {e}"),
                    },
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(code) = factory_code {
        crate::marking::normalise_factory_code(code)
            .map_err(|e| bad(TraceField::FactoryCode, e.to_string()))?;
    }
    Marking::for_trace(MarkingFields {
        // A direction mark pasted at either end of a name (text copied from
        // a right-to-left document) is taken off with the spaces: invisible,
        // it reorders nothing there. One inside the name is refused, named.
        manufacturer: maker
            .trim_matches(|c: char| c.is_whitespace() || crate::model::is_direction_mark(c))
            .to_string(),
        country,
        serial: serial.to_string(),
        year: None,
        factory_code: factory_code.map(str::to_string),
        imports,
    })
    .map_err(|e| NodeError::BadTrace(TraceFault::of_marking(e)))
}

/// Refuses a trace whose maker the maker table does not know as a maker of
/// its country of manufacture, naming the nearest known makers: a misspelt
/// maker folds to a prefix no holder subscribes to, and the trace would come
/// back empty as if no State held the weapon. `--force` skips this.
///
/// A trace by factory code alone has no name to check: holders of that
/// factory's records subscribe to its code whatever maker they recorded.
pub fn check_maker(makers: &MakerTable, marking: &Marking) -> Result<(), NodeError> {
    let raw = marking.manufacturer();
    if raw.is_empty() {
        return Ok(());
    }
    let country = marking.country();
    let check = makers
        .check(raw, country)
        .map_err(|e| NodeError::BadTrace(TraceFault::of(TraceField::Maker, e.to_string())))?;
    let list = |s: &[Suggestion]| {
        s.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let fault = match check {
        MakerCheck::Known => return Ok(()),
        MakerCheck::OtherCountry { makers } => TraceFault::of(
            TraceField::Maker,
            format!(
                "{raw:?} is not a maker of {country} in the maker reference table: it is {}",
                list(&makers)
            ),
        )
        .with(Remedy::CorrectOrForce(TraceField::Country)),
        MakerCheck::Unknown { near } if near.is_empty() => TraceFault::of(
            TraceField::Maker,
            format!(
                "{raw:?} is not in the maker reference table and no known maker comes near; check the marking"
            ),
        )
        .with(Remedy::CorrectOrForce(TraceField::Maker)),
        MakerCheck::Unknown { near } => TraceFault::of(
            TraceField::Maker,
            format!(
                "{raw:?} is not in the maker reference table; did you mean {}?",
                list(&near)
            ),
        )
        .with(Remedy::CorrectOrForce(TraceField::Maker)),
    };
    Err(NodeError::BadTrace(fault))
}

/// Checks free text that stays on this node (case references, notes).
pub fn local_text(field: TraceField, s: Option<String>) -> Result<Option<NationalText>, NodeError> {
    s.map(|s| {
        NationalText::parse(&s)
            .map_err(|e| NodeError::BadTrace(TraceFault::of(field, e.to_string())))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(maker: &str, country: &str) -> Result<(), TraceFault> {
        let m = trace_marking(maker, country, "BP0746", None, &[]).unwrap();
        match check_maker(&MakerTable::built_in(), &m) {
            Ok(()) => Ok(()),
            Err(NodeError::BadTrace(f)) => Err(f),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_trace_names_a_maker_of_its_country_or_is_told_the_nearest() {
        check("Walther", "DE").unwrap();
        check("FN Herstal S.A.", "BE").unwrap();
        let f = check("Walhter", "DE").unwrap_err();
        assert_eq!(f.field, Some(TraceField::Maker));
        assert_eq!(f.remedy, Some(Remedy::CorrectOrForce(TraceField::Maker)));
        assert!(
            f.reason
                .contains("did you mean Walther (Carl Walther; DE, US)?"),
            "{f:?}"
        );
        let f = check("Walther", "GE").unwrap_err();
        assert!(f.reason.contains("not a maker of GE"), "{f:?}");
        assert!(f.reason.contains("(Carl Walther; DE, US)"), "{f:?}");
        assert_eq!(f.remedy, Some(Remedy::CorrectOrForce(TraceField::Country)));
        let f = check("Qqqzzz Works", "DE").unwrap_err();
        assert!(f.reason.contains("no known maker comes near"), "{f:?}");
    }

    /// The same fault is said with the CLI's flags and with the API's JSON
    /// fields, never the one in the other's words (an integrator was told
    /// `--country` and `--force`).
    #[test]
    fn a_fault_is_said_with_each_front_ends_own_names() {
        let f = check("Walhter", "DE").unwrap_err();
        assert_eq!(
            f.say(FieldNames::Cli),
            "--maker: \"Walhter\" is not in the maker reference table; did you mean Walther (Carl Walther; DE, US)? Correct --maker, or send it anyway with --force"
        );
        assert_eq!(
            f.say(FieldNames::Api),
            "\"maker\": \"Walhter\" is not in the maker reference table; did you mean Walther (Carl Walther; DE, US)? Correct \"maker\", or send it anyway with \"force\": true"
        );
        let f = check("Walther", "GE").unwrap_err();
        assert!(
            f.say(FieldNames::Cli)
                .ends_with("Correct --country, or send it anyway with --force")
        );
        let country = trace_marking("Walther", "D", "BP0746", None, &[]).unwrap_err();
        let NodeError::BadTrace(f) = country else {
            panic!("{country}")
        };
        assert_eq!(f.field, Some(TraceField::Country));
        assert!(f.say(FieldNames::Cli).starts_with("--country: "), "{f:?}");
        assert!(f.say(FieldNames::Api).starts_with("\"country\": "), "{f:?}");
        // Every way a marking fails names a field, and no reason names a
        // flag or a field itself.
        for (maker, country, serial, code, imports) in [
            ("Walther", "DE", "", None, vec![]),
            ("Walther", "DE", "WP1\u{1b}", None, vec![]),
            ("Walther", "DE", "?*", None, vec![]),
            ("Wal\u{202e}ther", "DE", "WP1", None, vec![]),
            ("", "DE", "WP1", None, vec![]),
            ("", "CN", "WP1", Some("66#"), vec![]),
            ("Walther", "DE", "WP1", None, vec!["NG-2012".to_string()]),
            (
                "Walther",
                "DE",
                "WP1",
                None,
                vec!["NG:2012".to_string(); 20],
            ),
        ] {
            let e = trace_marking(maker, country, serial, code, &imports).unwrap_err();
            let NodeError::BadTrace(f) = e else {
                panic!("{e}")
            };
            assert!(f.field.is_some(), "{maker:?} {serial:?}: {f:?}");
            assert!(!f.reason.contains("--"), "{f:?}");
            assert!(!f.say(FieldNames::Api).contains("--"), "{f:?}");
        }
    }

    /// A maker's name pasted from a right-to-left document with a direction
    /// mark at either end is taken as the name; one with a mark inside is
    /// refused, the character named.
    #[test]
    fn a_direction_mark_at_the_ends_of_a_makers_name_is_taken_off() {
        for maker in [
            "Walther\u{200F}",
            "\u{200E} Walther ",
            "\u{061C}Walther\u{200F}\u{200E}",
        ] {
            let m = trace_marking(maker, "DE", "BP0746", None, &[]).unwrap();
            assert_eq!(m.manufacturer(), "Walther", "{maker:?}");
        }
        let e = trace_marking("Carl\u{200F}Walther", "DE", "BP0746", None, &[]).unwrap_err();
        assert!(e.to_string().contains("U+200F"), "{e}");
    }

    #[test]
    fn a_trace_may_name_a_factory_code_instead_of_a_maker() {
        let m = trace_marking("", "CN", "5612345", Some("/66\\"), &[]).unwrap();
        assert_eq!((m.manufacturer(), m.factory_code()), ("", Some("66")));
        check_maker(&MakerTable::built_in(), &m).unwrap();
        let m = trace_marking("Norinco", "CN", "5612345", Some("△66"), &[]).unwrap();
        assert_eq!(m.factory_code(), Some("66"));
        let e = trace_marking("", "CN", "5612345", None, &[]).unwrap_err();
        assert!(e.to_string().contains("factory code"), "{e}");
        let e = trace_marking("", "CN", "5612345", Some("66#"), &[]).unwrap_err();
        assert!(e.to_string().contains("\"factory_code\": "), "{e}");
    }
}
