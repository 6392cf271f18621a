//! Weapon markings (ITI para 7 to 10): makers, serials, import marks, their
//! normalisation and matching, and the marking prefix that traces are routed by.
//! Knows nothing of storage or networking.

mod fold;
mod maker;
pub mod reference;
mod serial;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use fold::{FOLD_RULES_VERSION, fold_maker};
pub use maker::{MakerAlias, MakerCheck, MakerError, MakerKey, MakerTable, Suggestion};
pub use reference::{ReferenceError, ReferenceMaker, ReferenceTable};
pub use serial::{
    MAX_SERIAL_CHARS, MatchQuality, SerialError, SerialMatch, SerialQuery, fold_char, fold_serial,
    normalise_serial,
};

use crate::model::CountryCode;

/// At most this many import marks on one weapon.
pub const MAX_IMPORT_MARKS: usize = 16;
/// The longest factory code accepted, in characters.
pub const MAX_FACTORY_CODE_CHARS: usize = 16;

/// An import mark (ITI para 8): country of import and, where marked, the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMark {
    pub country: CountryCode,
    #[serde(default)]
    pub year: Option<u16>,
}

impl FromStr for ImportMark {
    type Err = MarkingError;
    /// `CC` or `CC:YEAR`, as given on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cc, year) = match s.split_once(':') {
            Some((cc, y)) => {
                let y = y
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| MarkingError::Year(y.trim().to_string()))?;
                (cc, Some(y))
            }
            None => (s, None),
        };
        let mark = ImportMark {
            country: CountryCode::parse(cc).map_err(|e| MarkingError::Country(e.to_string()))?,
            year,
        };
        check_year(mark.year)?;
        Ok(mark)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MarkingError {
    #[error("manufacturer: {0}")]
    Maker(#[from] MakerError),
    #[error("serial: {0}")]
    Serial(#[from] SerialError),
    #[error("country: {0}")]
    Country(String),
    #[error("year {0:?} is not a year between 1800 and 2999")]
    Year(String),
    #[error("factory code {0:?} must be 1 to {MAX_FACTORY_CODE_CHARS} letters or digits")]
    FactoryCode(String),
    #[error("{0} import marks given; at most {MAX_IMPORT_MARKS} are accepted")]
    TooManyImports(usize),
}

fn check_year(y: Option<u16>) -> Result<(), MarkingError> {
    match y {
        Some(y) if !(1800..=2999).contains(&y) => Err(MarkingError::Year(y.to_string())),
        _ => Ok(()),
    }
}

/// The marks on a weapon: manufacturer + country of manufacture + serial, the
/// optional year and factory code, and the import marks. A `Marking` that exists
/// has been validated; the manufacturer and serial are kept as written, and their
/// normal forms are derived on demand.
///
/// Every field is always serialised (absent ones as `null` or `[]`) so that the
/// JSON and the wire form have one shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MarkingFields", into = "MarkingFields")]
pub struct Marking {
    manufacturer: String,
    country: CountryCode,
    serial: String,
    year: Option<u16>,
    factory_code: Option<String>,
    imports: Vec<ImportMark>,
}

/// The unvalidated shape of a [`Marking`], as it appears in JSON and on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkingFields {
    pub manufacturer: String,
    pub country: CountryCode,
    pub serial: String,
    #[serde(default)]
    pub year: Option<u16>,
    #[serde(default)]
    pub factory_code: Option<String>,
    #[serde(default)]
    pub imports: Vec<ImportMark>,
}

impl TryFrom<MarkingFields> for Marking {
    type Error = MarkingError;
    fn try_from(f: MarkingFields) -> Result<Self, Self::Error> {
        let n = f.manufacturer.chars().count();
        if n > 128 {
            return Err(MakerError::TooLong(n).into());
        }
        if fold_maker(&f.manufacturer).is_empty() {
            return Err(MakerError::Empty(f.manufacturer).into());
        }
        normalise_serial(&f.serial)?;
        check_year(f.year)?;
        if let Some(code) = &f.factory_code {
            let n = code.chars().count();
            if n == 0 || n > MAX_FACTORY_CODE_CHARS || !code.chars().all(char::is_alphanumeric) {
                return Err(MarkingError::FactoryCode(code.clone()));
            }
        }
        if f.imports.len() > MAX_IMPORT_MARKS {
            return Err(MarkingError::TooManyImports(f.imports.len()));
        }
        for m in &f.imports {
            check_year(m.year)?;
        }
        Ok(Marking {
            manufacturer: f.manufacturer,
            country: f.country,
            serial: f.serial,
            year: f.year,
            factory_code: f.factory_code,
            imports: f.imports,
        })
    }
}

impl From<Marking> for MarkingFields {
    fn from(m: Marking) -> Self {
        MarkingFields {
            manufacturer: m.manufacturer,
            country: m.country,
            serial: m.serial,
            year: m.year,
            factory_code: m.factory_code,
            imports: m.imports,
        }
    }
}

impl Marking {
    /// Builds and validates a marking.
    pub fn new(
        manufacturer: impl Into<String>,
        country: CountryCode,
        serial: impl Into<String>,
    ) -> Result<Self, MarkingError> {
        MarkingFields {
            manufacturer: manufacturer.into(),
            country,
            serial: serial.into(),
            year: None,
            factory_code: None,
            imports: Vec::new(),
        }
        .try_into()
    }

    pub fn with_year(mut self, year: Option<u16>) -> Result<Self, MarkingError> {
        check_year(year)?;
        self.year = year;
        Ok(self)
    }

    pub fn with_imports(mut self, imports: Vec<ImportMark>) -> Result<Self, MarkingError> {
        let mut f: MarkingFields = self.clone().into();
        f.imports = imports;
        self = f.try_into()?;
        Ok(self)
    }

    pub fn manufacturer(&self) -> &str {
        &self.manufacturer
    }
    pub fn country(&self) -> CountryCode {
        self.country
    }
    pub fn serial(&self) -> &str {
        &self.serial
    }
    pub fn year(&self) -> Option<u16> {
        self.year
    }
    pub fn factory_code(&self) -> Option<&str> {
        self.factory_code.as_deref()
    }
    pub fn imports(&self) -> &[ImportMark] {
        &self.imports
    }

    /// Whether the serial carries obliterated characters (`?`, `*`).
    pub fn has_wildcards(&self) -> bool {
        self.serial.contains(['?', '*'])
    }

    /// The serial in normal form (validated at construction).
    pub fn normalised_serial(&self) -> String {
        normalise_serial(&self.serial).unwrap_or_default()
    }

    /// The routing prefix of this marking under a maker table: the maker's
    /// name is resolved in the country of manufacture.
    pub fn prefix(&self, makers: &MakerTable) -> MarkingPrefix {
        MarkingPrefix {
            country: self.country,
            // Validated at construction: the folded name is never empty.
            maker: makers
                .key(&self.manufacturer, self.country)
                .unwrap_or_else(|_| MakerKey::from_folded("UNKNOWN").expect("constant key")),
        }
    }
}

/// Country of manufacture + canonical maker: the unit by which records are
/// indexed and traces routed. Written `DE/CARLWALTHER`, in JSON too; in
/// bincode (a signed roster) the two fields in order, as always.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MarkingPrefix {
    pub country: CountryCode,
    pub maker: MakerKey,
}

/// The binary form of a [`MarkingPrefix`].
#[derive(Serialize, Deserialize)]
struct PrefixFields {
    country: CountryCode,
    maker: MakerKey,
}

impl Serialize for MarkingPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            PrefixFields {
                country: self.country,
                maker: self.maker.clone(),
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for MarkingPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            let f = PrefixFields::deserialize(d)?;
            Ok(MarkingPrefix {
                country: f.country,
                maker: f.maker,
            })
        }
    }
}

impl fmt::Display for MarkingPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.country, self.maker)
    }
}

impl FromStr for MarkingPrefix {
    type Err = MarkingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cc, maker) = s
            .split_once('/')
            .ok_or_else(|| MarkingError::Country(format!("{s:?} is not written CC/MAKER")))?;
        Ok(MarkingPrefix {
            country: CountryCode::parse(cc).map_err(|e| MarkingError::Country(e.to_string()))?,
            maker: MakerKey::from_folded(maker)
                .ok_or_else(|| MakerError::Empty(maker.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    #[test]
    fn markings_validate_when_decoded() {
        let ok = r#"{"manufacturer":"Walther","country":"DE","serial":"BP0746","year":2009,
                    "imports":[{"country":"NG","year":2009}]}"#;
        let m: Marking = serde_json::from_str(ok).unwrap();
        assert_eq!(m.imports()[0].country, cc("NG"));
        for bad in [
            r#"{"manufacturer":"Walther","country":"XX","serial":"BP0746"}"#,
            r#"{"manufacturer":"Walther","country":"DE","serial":" - "}"#,
            r#"{"manufacturer":"&","country":"DE","serial":"BP0746"}"#,
            r#"{"manufacturer":"Walther","country":"DE","serial":"BP0746","year":99}"#,
            r#"{"manufacturer":"Walther","country":"DE","serial":"BP0746","colour":"black"}"#,
            r#"{"manufacturer":"Walther","country":"DE","serial":"BP0746","factory_code":"6 6"}"#,
        ] {
            assert!(serde_json::from_str::<Marking>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_uses_the_canonical_maker() {
        let t = MakerTable::built_in();
        let a = Marking::new("H&K", cc("DE"), "1").unwrap().prefix(&t);
        let b = Marking::new("Heckler und Koch", cc("DE"), "2")
            .unwrap()
            .prefix(&t);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "DE/HECKLERKOCH");
        assert_eq!(a.to_string().parse::<MarkingPrefix>().unwrap(), a);
        assert!("DE/".parse::<MarkingPrefix>().is_err());
        assert!("DE/abc".parse::<MarkingPrefix>().is_err());
        // JSON: the written form; bincode: the fields, as signed rosters hold them.
        assert_eq!(serde_json::to_string(&a).unwrap(), r#""DE/HECKLERKOCH""#);
        assert_eq!(
            serde_json::from_str::<MarkingPrefix>(r#""DE/HECKLERKOCH""#).unwrap(),
            a
        );
        let bin = crate::codec::to_bytes(&a).unwrap();
        assert_eq!(
            bin,
            crate::codec::to_bytes(&(a.country, a.maker.clone())).unwrap()
        );
    }

    #[test]
    fn import_marks_parse_from_flags() {
        let m: ImportMark = "ng:2009".parse().unwrap();
        assert_eq!((m.country, m.year), (cc("NG"), Some(2009)));
        assert_eq!("GH".parse::<ImportMark>().unwrap().year, None);
        assert!("GH:20x9".parse::<ImportMark>().is_err());
        assert!("QQ:2009".parse::<ImportMark>().is_err());
    }
}
