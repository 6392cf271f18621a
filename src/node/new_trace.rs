//! A new trace as an officer asks for it, and the checks of the officer's
//! input that run before anything is signed or sent.

use super::{LocalCase, NodeError};
use crate::marking::{ImportMark, Marking, MarkingFields};
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
}

/// Builds the marking of a trace from an officer's flags, refusing bad input
/// before anything is sent.
pub fn trace_marking(
    maker: &str,
    country: &str,
    serial: &str,
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
    Marking::try_from(MarkingFields {
        manufacturer: maker.to_string(),
        country,
        serial: serial.to_string(),
        year: None,
        factory_code: None,
        imports,
    })
    .map_err(|e| bad(e.to_string()))
}

/// Checks free text that stays on this node (case references, notes).
pub fn local_text(field: &str, s: Option<String>) -> Result<Option<NationalText>, NodeError> {
    s.map(|s| NationalText::parse(&s).map_err(|e| NodeError::BadTrace(format!("{field}: {e}"))))
        .transpose()
}
