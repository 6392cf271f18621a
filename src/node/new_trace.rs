//! A new trace as an officer asks for it, and the checks of the officer's
//! input that run before anything is signed or sent.

use super::{LocalCase, NodeError};
use crate::marking::{ImportMark, MakerCheck, MakerTable, Marking, MarkingFields, Suggestion};
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
    let bad = |e: String| NodeError::BadTrace(e);
    let country = CountryCode::parse(country).map_err(|e| bad(format!("--country: {e}")))?;
    // As the holders will read it: a serial they would refuse is refused here.
    crate::marking::SerialQuery::parse(serial)
        .map_err(|e| bad(format!("--serial {serial:?}: {e}")))?;
    let imports = imports
        .iter()
        .map(|s| {
            s.parse::<ImportMark>()
                .map_err(|e| bad(format!("--import {s:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(code) = factory_code {
        crate::marking::normalise_factory_code(code)
            .map_err(|e| bad(format!("--factory-code: {e}")))?;
    }
    Marking::for_trace(MarkingFields {
        manufacturer: maker.trim().to_string(),
        country,
        serial: serial.to_string(),
        year: None,
        factory_code: factory_code.map(str::to_string),
        imports,
    })
    .map_err(|e| bad(e.to_string()))
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
        .map_err(|e| NodeError::BadTrace(format!("--maker: {e}")))?;
    let anyway = "or send it anyway with --force (\"force\": true in the API)";
    let list = |s: &[Suggestion]| {
        s.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    };
    match check {
        MakerCheck::Known => Ok(()),
        MakerCheck::OtherCountry { makers } => Err(NodeError::BadTrace(format!(
            "--maker {raw:?} is not a maker of {country} in the maker reference table: it is {}; correct --country, {anyway}",
            list(&makers)
        ))),
        MakerCheck::Unknown { near } if near.is_empty() => Err(NodeError::BadTrace(format!(
            "--maker {raw:?} is not in the maker reference table and no known maker comes near; check the marking, {anyway}"
        ))),
        MakerCheck::Unknown { near } => Err(NodeError::BadTrace(format!(
            "--maker {raw:?} is not in the maker reference table; did you mean {}? Correct --maker, {anyway}",
            list(&near)
        ))),
    }
}

/// Checks free text that stays on this node (case references, notes).
pub fn local_text(field: &str, s: Option<String>) -> Result<Option<NationalText>, NodeError> {
    s.map(|s| NationalText::parse(&s).map_err(|e| NodeError::BadTrace(format!("{field}: {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(maker: &str, country: &str) -> Result<(), String> {
        let m = trace_marking(maker, country, "BP0746", None, &[]).unwrap();
        check_maker(&MakerTable::built_in(), &m).map_err(|e| e.to_string())
    }

    #[test]
    fn a_trace_names_a_maker_of_its_country_or_is_told_the_nearest() {
        check("Walther", "DE").unwrap();
        check("FN Herstal S.A.", "BE").unwrap();
        let e = check("Walhter", "DE").unwrap_err();
        assert!(
            e.contains("did you mean Walther (Carl Walther; DE, US)?"),
            "{e}"
        );
        assert!(e.contains("--force"), "{e}");
        let e = check("Walther", "GE").unwrap_err();
        assert!(e.contains("not a maker of GE"), "{e}");
        assert!(e.contains("(Carl Walther; DE, US)"), "{e}");
        let e = check("Qqqzzz Works", "DE").unwrap_err();
        assert!(e.contains("no known maker comes near"), "{e}");
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
        assert!(e.to_string().contains("--factory-code"), "{e}");
    }
}
