//! Factory codes (ITI para 8(a)): a State factory's number marked instead of
//! a maker's name, as Chinese state factories mark theirs in a triangle
//! (military output: `/66\`, `△66`) or an oval (export: `(66)`). Records
//! and traces write them as marked; they are kept in one canonical form,
//! and routed by the factory prefix `CC/FC:CODE`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::model::CountryCode;

/// The longest factory code accepted, in characters of its canonical form.
pub const MAX_FACTORY_CODE_CHARS: usize = 16;

/// Why a factory code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FactoryCodeError {
    #[error(
        "factory code {0:?} has no letter or digit in it; write the number as marked, for example /66\\, △66 or 66"
    )]
    Empty(String),
    #[error(
        "factory code {code:?} holds {found:?}; write the letters and digits as marked, in a triangle (/66\\, △66), an oval ((66)) or bare (66)"
    )]
    Character { code: String, found: char },
    #[error("factory code {0:?} has more than {MAX_FACTORY_CODE_CHARS} letters or digits")]
    TooLong(String),
}

/// Whether `c` is part of the shape a factory code is marked in, or of how
/// people write that shape: the triangle (`/66\`, `△66`, `▲66`, `∆66`, the
/// Greek capital delta `Δ66`), the oval or circle (`(66)`, `○`, `◯`, `⬭`),
/// brackets, and the spaces, dots, dashes and underscores around them.
fn is_enclosure(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '/' | '\\'
                | '|'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '.'
                | '-'
                | '_'
                | '\u{0394}' // Δ Greek capital delta, typed for a triangle
                | '\u{2206}' // ∆ increment
                | '\u{25B2}'..='\u{25B5}' // ▲ △ ▴ ▵
                | '\u{25EC}'..='\u{25EE}' // ◬ ◭ ◮
                | '\u{27C1}' // ⟁
                | '\u{25CB}' // ○
                | '\u{25EF}' // ◯
                | '\u{2B2D}'..='\u{2B2F}' // ⬭ ⬮ ⬯
                | '\u{2B55}' // ⭕
        )
}

/// The canonical form of a factory code written as marked: NFKC, the shape
/// it is marked in and spacing dropped ([`is_enclosure`]), letters upper
/// case. What remains must be 1 to [`MAX_FACTORY_CODE_CHARS`] letters or
/// digits. `/66\`, `△66`, `(66)`, ` 66 ` and `66` are all `66`; `296` stays
/// `296` (the reference table says which codes are one factory).
pub fn normalise_factory_code(raw: &str) -> Result<String, FactoryCodeError> {
    let mut out = String::new();
    for c in raw.nfkc() {
        if is_enclosure(c) {
            continue;
        }
        if !c.is_alphanumeric() {
            return Err(FactoryCodeError::Character {
                code: raw.chars().take(40).collect(),
                found: c,
            });
        }
        out.extend(c.to_uppercase());
    }
    let n = out.chars().count();
    if n == 0 {
        return Err(FactoryCodeError::Empty(raw.chars().take(40).collect()));
    }
    if n > MAX_FACTORY_CODE_CHARS {
        return Err(FactoryCodeError::TooLong(raw.chars().take(40).collect()));
    }
    Ok(out)
}

/// Country of manufacture + canonical factory code: the unit by which
/// records marked with a factory code are routed. Written `CN/FC:66`; its
/// gossip topic is `tracenet/1/factory/CN/66`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FactoryPrefix {
    pub country: CountryCode,
    /// Canonical ([`normalise_factory_code`]).
    pub code: String,
}

impl fmt::Display for FactoryPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/FC:{}", self.country, self.code)
    }
}

impl FromStr for FactoryPrefix {
    type Err = FactoryCodeError;
    /// `CC/FC:CODE` or `CC/CODE`, the code in canonical form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FactoryCodeError::Empty(s.chars().take(40).collect());
        let (cc, code) = s.split_once('/').ok_or_else(bad)?;
        let code = code.strip_prefix("FC:").unwrap_or(code);
        let country = CountryCode::parse(cc).map_err(|_| bad())?;
        if normalise_factory_code(code)? != code {
            return Err(bad());
        }
        Ok(FactoryPrefix {
            country,
            code: code.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_codes_as_marked_normalise_to_one_form() {
        for raw in [
            "/66\\", "△66", "▲66", "∆66", "Δ66", "(66)", "66", " 66 ", "／66＼", "○66○", "[66]",
            "⟁66",
        ] {
            assert_eq!(normalise_factory_code(raw).unwrap(), "66", "{raw:?}");
        }
        assert_eq!(normalise_factory_code("/296\\").unwrap(), "296");
        assert_eq!(normalise_factory_code("a10").unwrap(), "A10");
        assert!(matches!(
            normalise_factory_code("/\\"),
            Err(FactoryCodeError::Empty(_))
        ));
        assert!(matches!(
            normalise_factory_code("66#"),
            Err(FactoryCodeError::Character { found: '#', .. })
        ));
        assert!(matches!(
            normalise_factory_code(&"6".repeat(17)),
            Err(FactoryCodeError::TooLong(_))
        ));
        assert!(normalise_factory_code("6\u{0}6").is_err());
    }

    #[test]
    fn factory_prefixes_round_trip() {
        let p: FactoryPrefix = "CN/FC:66".parse().unwrap();
        assert_eq!(p.to_string(), "CN/FC:66");
        assert_eq!("CN/66".parse::<FactoryPrefix>().unwrap(), p);
        for bad in ["CN/FC:", "XX/66", "CN/6 6", "CN/fc:66", "66"] {
            assert!(bad.parse::<FactoryPrefix>().is_err(), "{bad}");
        }
    }
}
