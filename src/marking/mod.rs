//! Weapon markings (ITI para 7 to 10): makers, serials, import marks, their
//! normalisation and matching, and the marking prefix that traces are routed by.
//! Knows nothing of storage or networking.

mod factory;
mod fold;
mod maker;
pub mod reference;
mod serial;
pub mod variants;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use factory::{
    FactoryCodeError, FactoryPrefix, MAX_FACTORY_CODE_CHARS, normalise_factory_code,
};
pub use fold::{FOLD_RULES_VERSION, fold_maker};
pub use maker::{MakerAlias, MakerCheck, MakerError, MakerKey, MakerTable, Suggestion};
pub use reference::{ReferenceError, ReferenceMaker, ReferenceTable, unwritable_spelling};
pub use serial::{
    MAX_SERIAL_CHARS, MIN_READ_WITH_WILDCARDS, MatchQuality, SERIAL_RULES_VERSION, SerialError,
    SerialMatch, SerialQuery, check_readable, check_wildcards, fold_char, fold_serial,
    is_not_readable, is_separator, normalise_serial, not_readable_words,
};
pub use variants::SerialKeys;

use crate::model::CountryCode;

/// At most this many import marks on one weapon.
pub const MAX_IMPORT_MARKS: usize = 16;

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
            None => {
                // `NG-2012`, `NG/2012`, `NG 2012`: the year written another
                // way; said with the form meant.
                let t = s.trim();
                let (cc, rest) = t.split_at_checked(2).unwrap_or((t, ""));
                let year = rest.trim_start_matches(['-', '/', ' ', '.']);
                if cc.len() == 2
                    && cc.chars().all(|c| c.is_ascii_alphabetic())
                    && year.len() == 4
                    && year.chars().all(|c| c.is_ascii_digit())
                {
                    return Err(MarkingError::ImportMark(format!(
                        "{t:?} is not an import mark: write the country and the year as {}:{year}",
                        cc.to_ascii_uppercase()
                    )));
                }
                (s, None)
            }
        };
        let mark = ImportMark {
            country: CountryCode::parse(cc).map_err(|e| MarkingError::Country(e.to_string()))?,
            year,
        };
        check_year(mark.year)?;
        check_country_year(mark.country, mark.year)?;
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
    #[error("{0}")]
    FactoryCode(#[from] FactoryCodeError),
    #[error(
        "neither a manufacturer nor a factory code: give the manufacturer as marked, or the factory code marked instead of it (ITI para 8(a)), or both"
    )]
    NoMaker,
    #[error("{0} import marks given; at most {MAX_IMPORT_MARKS} are accepted")]
    TooManyImports(usize),
    #[error("prefix {0}")]
    Prefix(String),
    /// An import mark written in a form that is not `CC` or `CC:YEAR`.
    #[error("{0}")]
    ImportMark(String),
}

fn check_year(y: Option<u16>) -> Result<(), MarkingError> {
    match y {
        Some(y) if !(1800..=2999).contains(&y) => Err(MarkingError::Year(y.to_string())),
        _ => Ok(()),
    }
}

/// A former State's code with a year it cannot have (`CS` after 1992).
fn check_country_year(c: CountryCode, y: Option<u16>) -> Result<(), MarkingError> {
    c.check_year(y)
        .map_err(|e| MarkingError::Country(e.to_string()))
}

/// The marks on a weapon: manufacturer + country of manufacture + serial, the
/// optional year and factory code, and the import marks. A `Marking` that exists
/// has been validated; the manufacturer and serial are kept as written, and their
/// normal forms are derived on demand. The factory code is kept in its
/// canonical form ([`normalise_factory_code`]): `/66\` as marked is `66`.
///
/// A factory code may stand instead of the manufacturer's name (ITI para
/// 8(a)): the manufacturer is then empty. One of the two is always present.
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
    /// Empty (or, in JSON, absent) when a factory code stands instead.
    #[serde(default)]
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
    /// Wherever a marking is decoded (JSON, the wire, the store), its maker
    /// and serial are read without the characters that move or hide text
    /// ([`crate::model::without_moving`]): a holder's answer cannot print
    /// forged lines in `trace show` or hide what follows behind a terminal
    /// escape, and a frame signed or a record stored before they were kept
    /// out still reads. What this node makes itself refuses them with a
    /// reason ([`Marking::for_trace`]).
    fn try_from(f: MarkingFields) -> Result<Self, Self::Error> {
        Marking::from_fields(f).map_err(|(_, e)| e)
    }
}

impl Marking {
    /// [`Marking::try_from`], with the field at fault named as a record's
    /// JSON names it within `marking` (`year`, `imports[1].year`,
    /// `factory_code`): an import says which column or key to correct (it
    /// said `marking` for a year of `85`).
    pub fn from_fields(mut f: MarkingFields) -> Result<Self, (String, MarkingError)> {
        let at = |field: &str| {
            let field = field.to_string();
            move |e: MarkingError| (field, e)
        };
        if let std::borrow::Cow::Owned(clean) = crate::model::without_moving(&f.manufacturer) {
            f.manufacturer = clean;
        }
        if let std::borrow::Cow::Owned(clean) = crate::model::without_moving(&f.serial) {
            f.serial = clean;
        }
        let n = f.manufacturer.chars().count();
        if n > 128 {
            return Err(at("manufacturer")(MakerError::TooLong(n).into()));
        }
        let factory_code = f
            .factory_code
            .as_deref()
            .map(normalise_factory_code)
            .transpose()
            .map_err(|e| at("factory_code")(e.into()))?;
        // A blank name is no name; a name of only punctuation is a mistake.
        let manufacturer = if f.manufacturer.trim().is_empty() {
            if factory_code.is_none() {
                return Err(at("manufacturer")(MarkingError::NoMaker));
            }
            String::new()
        } else {
            if fold_maker(&f.manufacturer).is_empty() {
                return Err(at("manufacturer")(MakerError::Empty(f.manufacturer).into()));
            }
            f.manufacturer
        };
        normalise_serial(&f.serial).map_err(|e| at("serial")(e.into()))?;
        check_year(f.year).map_err(at("year"))?;
        check_country_year(f.country, f.year).map_err(at("year"))?;
        if f.imports.len() > MAX_IMPORT_MARKS {
            return Err(at("imports")(MarkingError::TooManyImports(f.imports.len())));
        }
        for (i, m) in f.imports.iter().enumerate() {
            check_year(m.year).map_err(at(&format!("imports[{i}].year")))?;
            check_country_year(m.country, m.year).map_err(at(&format!("imports[{i}].year")))?;
        }
        Ok(Marking {
            manufacturer,
            country: f.country,
            serial: f.serial,
            year: f.year,
            factory_code,
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
    /// A marking this node sends in a trace, from what an officer or an
    /// integrator gave: as [`TryFrom`], but a maker or serial holding a
    /// control, line-separator or text-direction character is refused with
    /// its reason rather than read without it, and a serial with wildcards
    /// must keep [`MIN_READ_WITH_WILDCARDS`] readable characters (holders
    /// answer one with fewer `too_many`, without searching).
    pub fn for_trace(f: MarkingFields) -> Result<Self, MarkingError> {
        if let Some(c) = f
            .manufacturer
            .chars()
            .find(|c| crate::model::moves_text(*c))
        {
            return Err(MakerError::Control(c as u32).into());
        }
        if let Some(c) = f.manufacturer.chars().find(|c| is_not_readable(*c)) {
            return Err(MakerError::NotReadable(c as u32).into());
        }
        // A direction mark in a serial is an invisible separator (text
        // copied from a right-to-left document), dropped as the others are;
        // in a maker's name it would reorder what is printed around it.
        if let Some(c) = f
            .serial
            .chars()
            .find(|c| crate::model::moves_text(*c) && !crate::model::is_direction_mark(*c))
        {
            return Err(SerialError::Control(c as u32).into());
        }
        serial::check_readable(&f.serial)?;
        check_wildcards(&normalise_serial(&f.serial)?)?;
        Marking::try_from(f)
    }

    /// Whether a serial with wildcards keeps too few readable characters
    /// to search for ([`check_wildcards`]): a holder answers it `too_many`
    /// without reading its registry.
    pub fn reads_too_little(&self) -> bool {
        check_wildcards(&self.normalised_serial()).is_err()
    }

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
        check_country_year(self.country, year)?;
        self.year = year;
        Ok(self)
    }

    pub fn with_imports(mut self, imports: Vec<ImportMark>) -> Result<Self, MarkingError> {
        let mut f: MarkingFields = self.clone().into();
        f.imports = imports;
        self = f.try_into()?;
        Ok(self)
    }

    /// The manufacturer as written; empty when a factory code stands instead.
    pub fn manufacturer(&self) -> &str {
        &self.manufacturer
    }

    /// The maker for people: `Norinco`, `Norinco, factory 66`, or
    /// `factory 66` when only the factory code is marked.
    pub fn maker_label(&self) -> String {
        match (self.manufacturer.as_str(), &self.factory_code) {
            (name, None) => name.to_string(),
            ("", Some(code)) => format!("factory {code}"),
            (name, Some(code)) => format!("{name}, factory {code}"),
        }
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
    /// The factory code in canonical form.
    pub fn factory_code(&self) -> Option<&str> {
        self.factory_code.as_deref()
    }
    pub fn imports(&self) -> &[ImportMark] {
        &self.imports
    }

    /// Whether the serial carries obliterated characters (`?`, `*`), as
    /// matching reads it: after NFKC, so that the full-width `？` and `＊`
    /// (and `﹖`, `⁇`) count as the wildcards they become.
    pub fn has_wildcards(&self) -> bool {
        if self.serial.is_ascii() {
            return self.serial.contains(['?', '*']);
        }
        self.normalised_serial().contains(['?', '*'])
    }

    /// The serial in normal form (validated at construction).
    pub fn normalised_serial(&self) -> String {
        normalise_serial(&self.serial).unwrap_or_default()
    }

    /// The routing prefix of this marking under a maker table: the maker's
    /// name is resolved in the country of manufacture. Without a name, the
    /// maker the table gives the factory code in that country, or else
    /// `FACTORY` + the code (the key "Factory 66" folds to).
    pub fn prefix(&self, makers: &MakerTable) -> MarkingPrefix {
        let unknown = || MakerKey::from_folded("UNKNOWN").expect("constant key");
        let maker = match (self.manufacturer.as_str(), self.factory_code.as_deref()) {
            ("", Some(code)) => makers
                .factory_maker(self.country, code)
                .cloned()
                .or_else(|| MakerKey::from_folded(&fold_maker(&format!("FACTORY{code}"))))
                .unwrap_or_else(unknown),
            // Validated at construction: a name folds to something.
            (name, _) => makers.key(name, self.country).unwrap_or_else(|_| unknown()),
        };
        MarkingPrefix {
            country: self.country,
            maker,
        }
    }

    /// The prefixes a trace for this marking is routed to: its own
    /// ([`Marking::prefix`]) first, then the same maker under each country it
    /// routes with (`CountryCode::routes`): a Zastava marked `YU` is also
    /// traced under `RS`, `ME`, `BA`, `HR`, `MK` and `SI`, one marked `RS`
    /// also under `YU`. Each maker key is resolved in its own country.
    pub fn routing_prefixes(&self, makers: &MakerTable) -> Vec<MarkingPrefix> {
        let own = self.prefix(makers);
        let mut out = vec![own.clone()];
        for country in self.country.routes().skip(1) {
            let maker = makers
                .key(&self.manufacturer, country)
                .unwrap_or_else(|_| own.maker.clone());
            out.push(MarkingPrefix { country, maker });
        }
        out
    }

    /// Where a trace for this marking is routed, and a record of it is
    /// held: its routing prefixes ([`Marking::routing_prefixes`]: its own,
    /// then those of the countries it routes with); with a factory code, in
    /// each of those countries, also the prefix of the maker the table gives
    /// that code (when another), and the factory prefix of the code and of
    /// every code the table gives the same maker (`26` and `296` are one
    /// factory).
    pub fn routes(&self, makers: &MakerTable) -> Routes {
        let mut prefixes = self.routing_prefixes(makers);
        let mut factories: Vec<FactoryPrefix> = Vec::new();
        if let Some(code) = &self.factory_code {
            for country in self.country.routes() {
                if let Some(k) = makers.factory_maker(country, code) {
                    let p = MarkingPrefix {
                        country,
                        maker: k.clone(),
                    };
                    if !prefixes.contains(&p) {
                        prefixes.push(p);
                    }
                }
                for code in makers.factory_codes_alike(country, code) {
                    let f = FactoryPrefix { country, code };
                    if !factories.contains(&f) {
                        factories.push(f);
                    }
                }
            }
        }
        Routes {
            prefixes,
            factories,
        }
    }
}

/// The prefixes a marking is routed under ([`Marking::routes`]); the first
/// marking prefix is the marking's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    pub prefixes: Vec<MarkingPrefix>,
    pub factories: Vec<FactoryPrefix>,
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

/// Reads a prefix as written on the wire, in rosters and topics: the
/// country code, `/`, and the maker's key exactly (upper-case letters and
/// digits, as `tracenet registry prefixes` prints it). Cheap on every input,
/// a peer's included; [`MarkingPrefix::suggest`] finds the key of a maker
/// written otherwise, for a person's error message.
impl FromStr for MarkingPrefix {
    type Err = MarkingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cc, maker) = s.split_once('/').ok_or_else(|| {
            MarkingError::Prefix(format!(
                "{s:?} is not written CC/MAKER (a country code, `/` and the maker's key, e.g. DE/CARLWALTHER)"
            ))
        })?;
        let country = CountryCode::parse(cc).map_err(|e| MarkingError::Country(e.to_string()))?;
        let maker = MakerKey::from_folded(maker).ok_or_else(|| {
            MarkingError::Prefix(format!(
                "{s:?}: {maker:?} is not a maker key (upper-case letters and digits, as `tracenet registry prefixes` prints it, e.g. DE/CARLWALTHER)"
            ))
        })?;
        Ok(MarkingPrefix { country, maker })
    }
}

impl MarkingPrefix {
    /// Reads `s` as [`FromStr`] does; a maker written as a name rather than
    /// its key (`DE/Walther`) is refused naming the key `makers` gives it
    /// (`DE/CARLWALTHER`), for the person who typed it to confirm.
    pub fn parse_for_person(s: &str, makers: &MakerTable) -> Result<Self, MarkingError> {
        s.parse().map_err(|e| {
            let Some((cc, maker)) = s.split_once('/') else {
                return e;
            };
            let Ok(country) = CountryCode::parse(cc) else {
                return e;
            };
            match makers.key(maker, country) {
                Ok(key) => MarkingError::Prefix(format!(
                    "{s:?}: {maker:?} is not a maker key; did you mean {country}/{key}? (a prefix names the maker by its key, as `tracenet registry prefixes` prints it)"
                )),
                Err(m) => MarkingError::Maker(m),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    /// A holder's answer could carry a maker's name that printed forged
    /// lines, or hid the rest of `trace show` behind a terminal escape (a
    /// hostile member's review): wherever a marking is decoded (JSON, the
    /// wire) its maker and serial hold no control, line-separator or
    /// text-direction character, and a trace this node makes refuses them
    /// with its reason. A frame signed before still decodes.
    #[test]
    fn a_marking_never_holds_text_that_moves_or_hides_what_follows() {
        let fields = |maker: &str, serial: &str| MarkingFields {
            manufacturer: maker.into(),
            country: cc("DE"),
            serial: serial.into(),
            year: None,
            factory_code: None,
            imports: Vec::new(),
        };
        let clean = |m: &Marking| {
            !m.manufacturer().chars().any(crate::model::moves_text)
                && !m.serial().chars().any(crate::model::moves_text)
        };
        for maker in [
            "Walther\n  point of diversion: GH",
            "Walther\u{1b}[8m",
            "Walther\r",
            "Walther\u{85}",
            "Walther\u{202E}",
            "Walther\u{2067}",
            "Walther\u{2028}",
            "Walther\u{200F} (DE)",
            "Walther\u{200E}",
            "Walther\u{061C}",
        ] {
            // As a peer sends it: decoded without them.
            let wire = crate::codec::to_bytes(&fields(maker, "WP1")).unwrap();
            let m = crate::codec::from_bytes::<Marking, 4096>(&wire).unwrap();
            assert!(clean(&m), "{maker:?}: {:?}", m.manufacturer());
            assert!(m.manufacturer().starts_with("Walther"), "{maker:?}");
            let json = serde_json::to_string(&fields(maker, "WP1")).unwrap();
            assert!(clean(&serde_json::from_str::<Marking>(&json).unwrap()));
            // Made here: refused with the character named.
            let e = Marking::for_trace(fields(maker, "WP1")).unwrap_err();
            assert!(
                matches!(e, MarkingError::Maker(MakerError::Control(_))),
                "{maker:?}: {e}"
            );
        }
        assert_eq!(
            Marking::try_from(fields("Walther\r\nArms", "WP1"))
                .unwrap()
                .manufacturer(),
            "Walther Arms"
        );
        for serial in ["WP\u{202E}1", "WP1\u{2066}", "WP\n1", "WP\u{1b}1"] {
            let m = Marking::try_from(fields("Walther", serial)).unwrap();
            assert!(clean(&m), "{serial:?}");
            let e = Marking::for_trace(fields("Walther", serial)).unwrap_err();
            assert!(
                matches!(e, MarkingError::Serial(SerialError::Control(_))),
                "{serial:?}: {e}"
            );
            assert!(e.to_string().contains("text-direction"), "{e}");
        }
        // A zero-width space, soft hyphen or line separator in a serial is
        // a separator, as before; an Arabic maker's name keeps its letters.
        assert!(Marking::for_trace(fields("Walther", "WP\u{200B}1\u{00AD}2")).is_ok());
        // Direction marks too, the Arabic letter mark from serial rules 3;
        // a marking decoded with one in its maker's name reads it as a space.
        for serial in ["\u{200F}WP1", "WP1\u{200E}", "WP\u{061C}1"] {
            let m = Marking::for_trace(fields("Walther", serial)).unwrap();
            assert_eq!(m.normalised_serial(), "WP1", "{serial:?}");
        }
        assert_eq!(
            Marking::try_from(fields("Carl\u{200F}Walther\u{200E}", "WP1"))
                .unwrap()
                .manufacturer(),
            "Carl Walther"
        );
        assert_eq!(normalise_serial("WP\u{2028}12").unwrap(), "WP12");
        assert!(Marking::for_trace(fields("مصنع الأسلحة", "WP1")).is_ok());
        // A maker read in the wrong encoding: refused in a trace as in a
        // serial, and still decoded from elsewhere.
        for maker in ["Walther\u{F7C4}", "Wal\u{FDD0}ther", "Walther\u{E0041}"] {
            let e = Marking::for_trace(fields(maker, "WP1")).unwrap_err();
            assert!(
                matches!(e, MarkingError::Maker(MakerError::NotReadable(_))),
                "{maker:?}: {e}"
            );
            assert!(Marking::try_from(fields(maker, "WP1")).is_ok(), "{maker:?}");
        }
    }

    /// `?*` made each holder scan its whole prefix, holding every record
    /// of it in memory, to answer `too_many` (a hostile member's review):
    /// a trace's wildcards leave at least two readable characters, and a
    /// holder answers one from elsewhere with fewer `too_many` without
    /// searching ([`Marking::reads_too_little`]); it still decodes, so an
    /// honest node of before is not taken for a hostile one.
    #[test]
    fn a_marking_with_wildcards_keeps_enough_to_match_on() {
        let fields = |serial: &str| MarkingFields {
            manufacturer: "Walther".into(),
            country: cc("DE"),
            serial: serial.into(),
            year: None,
            factory_code: None,
            imports: Vec::new(),
        };
        // Full-width and other wildcards NFKC makes `?` and `*` count as
        // them (a review: `？＊` passed as no wildcard at all).
        for serial in [
            "?*", "*?", "??*", "???", "*7", "?", "A*", "？＊", "⁇1", "﹖﹡",
        ] {
            let e = Marking::for_trace(fields(serial)).unwrap_err();
            assert!(
                matches!(e, MarkingError::Serial(SerialError::TooFewRead(_))),
                "{serial}: {e}"
            );
            assert!(e.to_string().contains("at least 2 characters"), "{e}");
            let decoded = Marking::try_from(fields(serial)).unwrap();
            assert!(decoded.reads_too_little(), "{serial}");
            assert!(decoded.has_wildcards(), "{serial}");
        }
        assert!(matches!(
            Marking::for_trace(fields("**")).unwrap_err(),
            MarkingError::Serial(SerialError::OnlyWildcards)
        ));
        // Two readable characters are the least.
        for serial in ["?5?2", "BP07?6", "*46", "WP1", "A?1", "*46", "WP？1"] {
            let m = Marking::for_trace(fields(serial)).unwrap();
            assert!(!m.reads_too_little(), "{serial}");
        }
        // The national registry's own search reads fewer.
        assert!(SerialQuery::parse("?2").is_ok());
    }

    /// An import mark with its year written another way is said with the
    /// form meant (a helper's trial: `NG-2012` read as an unknown country).
    #[test]
    fn an_import_mark_written_another_way_names_the_form_meant() {
        for typed in ["NG-2012", "ng/2012", "NG 2012", "NG2012"] {
            let e = typed.parse::<ImportMark>().unwrap_err().to_string();
            assert!(
                e.contains("write the country and the year as NG:2012"),
                "{typed}: {e}"
            );
        }
        assert_eq!(
            "NG:2012".parse::<ImportMark>().unwrap(),
            ImportMark {
                country: cc("NG"),
                year: Some(2012)
            }
        );
        // Not a place to split a character.
        assert!("€2012".parse::<ImportMark>().is_err());
        assert!("Ж".parse::<ImportMark>().is_err());
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
            r#"{"manufacturer":"Walther","country":"DE","serial":"BP0746","factory_code":"66#"}"#,
            r#"{"manufacturer":"","country":"CN","serial":"5612345"}"#,
            r#"{"manufacturer":" ","country":"CN","serial":"5612345","factory_code":null}"#,
            r#"{"country":"CN","serial":"5612345"}"#,
            r#"{"manufacturer":"&","country":"CN","serial":"5612345","factory_code":"66"}"#,
            r#"{"country":"CN","serial":"5612345","factory_code":"/\"}"#,
        ] {
            assert!(serde_json::from_str::<Marking>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_factory_code_is_kept_canonical_and_may_stand_for_the_maker() {
        for marked in ["/66\\", "△66", "66", "(66)"] {
            let json = format!(
                r#"{{"manufacturer":"Norinco","country":"CN","serial":"5612345","factory_code":{}}}"#,
                serde_json::to_string(marked).unwrap()
            );
            let m: Marking = serde_json::from_str(&json).unwrap();
            assert_eq!(m.factory_code(), Some("66"), "{marked}");
        }
        let only: Marking = serde_json::from_str(
            r#"{"manufacturer":"  ","country":"CN","serial":"5612345","factory_code":"/66\\"}"#,
        )
        .unwrap();
        assert_eq!(only.manufacturer(), "");
        assert_eq!(only.maker_label(), "factory 66");
        let absent: Marking =
            serde_json::from_str(r#"{"country":"CN","serial":"5612345","factory_code":"66"}"#)
                .unwrap();
        assert_eq!(absent, only);
        let t = MakerTable::built_in();
        // The table gives 66 in CN to "Factory 66".
        assert_eq!(only.prefix(&t).to_string(), "CN/FACTORY66");
        // A code the table does not know is its own "Factory" key.
        let unknown: Marking =
            serde_json::from_str(r#"{"country":"CN","serial":"1","factory_code":"△9386"}"#)
                .unwrap();
        assert_eq!(unknown.prefix(&t).to_string(), "CN/FACTORY9386");
        // A name is placed by the name, as without a code.
        let named: Marking = serde_json::from_str(
            r#"{"manufacturer":"Norinco","country":"CN","serial":"1","factory_code":"66"}"#,
        )
        .unwrap();
        assert_eq!(named.prefix(&t).to_string(), "CN/NORINCO");
        assert_eq!(named.maker_label(), "Norinco, factory 66");
        // Canonical on the way out: export shows the form every node uses.
        assert!(
            serde_json::to_string(&named)
                .unwrap()
                .contains(r#""factory_code":"66""#)
        );
    }

    #[test]
    fn a_factory_code_routes_to_its_factory_and_its_makers_prefix() {
        let t = MakerTable::built_in();
        let m = |json: &str| serde_json::from_str::<Marking>(json).unwrap().routes(&t);
        let r = m(r#"{"manufacturer":"Norinco","country":"CN","serial":"1","factory_code":"66"}"#);
        let p: Vec<String> = r.prefixes.iter().map(ToString::to_string).collect();
        let f: Vec<String> = r.factories.iter().map(ToString::to_string).collect();
        assert_eq!(p, ["CN/NORINCO", "CN/FACTORY66"]);
        assert_eq!(f, ["CN/FC:66"]);
        // 296 is Factory 26's number: routed under both codes.
        let r = m(r#"{"country":"CN","serial":"1","factory_code":"/296\\"}"#);
        let p: Vec<String> = r.prefixes.iter().map(ToString::to_string).collect();
        let f: Vec<String> = r.factories.iter().map(ToString::to_string).collect();
        assert_eq!(p, ["CN/FACTORY26"]);
        assert_eq!(f, ["CN/FC:296", "CN/FC:26"]);
        // Without a code, a marking is routed by its maker only.
        let r = m(r#"{"manufacturer":"Beretta","country":"IT","serial":"1"}"#);
        assert_eq!(r.prefixes.len(), 1);
        assert!(r.factories.is_empty());
        // A former State's code is also routed under its successors.
        let r =
            m(r#"{"manufacturer":"Acme Arms","country":"YU","serial":"1","factory_code":"44"}"#);
        let f: Vec<String> = r.factories.iter().map(ToString::to_string).collect();
        assert!(
            f.contains(&"YU/FC:44".to_string()) && f.contains(&"RS/FC:44".to_string()),
            "{f:?}"
        );
        assert_eq!(r.prefixes[0].to_string(), "YU/ACMEARMS");
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
        // A name instead of the key: the person is told the key.
        let t = MakerTable::built_in();
        for typed in ["DE/Walther", "DE/carl walther", "DE/CARL-WALTHER"] {
            let e = MarkingPrefix::parse_for_person(typed, &t)
                .unwrap_err()
                .to_string();
            assert!(e.contains("did you mean DE/CARLWALTHER?"), "{typed}: {e}");
        }
        let e = MarkingPrefix::parse_for_person("DE/--", &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no letter or digit"), "{e}");
        let e = MarkingPrefix::parse_for_person("nope", &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not written CC/MAKER"), "{e}");
        assert_eq!(
            MarkingPrefix::parse_for_person("DE/CARLWALTHER", &t).unwrap(),
            "DE/CARLWALTHER".parse().unwrap()
        );
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
    fn a_former_state_routes_to_its_successors_and_back() {
        let t = MakerTable::built_in();
        let yu = Marking::new("Zastava", cc("YUCS"), "M70-1").unwrap();
        assert_eq!(yu.country().as_str(), "YU", "kept as recorded");
        let p: Vec<String> = yu
            .routing_prefixes(&t)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(p[0], "YU/ZASTAVAARMS");
        assert!(p.contains(&"RS/ZASTAVAARMS".to_string()), "{p:?}");
        assert_eq!(p.len(), 7, "{p:?}");
        let rs = Marking::new("Crvena Zastava", cc("RS"), "M70-1").unwrap();
        let p: Vec<String> = rs
            .routing_prefixes(&t)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(p, ["RS/ZASTAVAARMS", "YU/ZASTAVAARMS"]);
        // A marking of today's State without a predecessor has one prefix.
        let ng = Marking::new("Walther", cc("DE"), "1").unwrap();
        assert_eq!(ng.routing_prefixes(&t).len(), 2, "DE routes with DD");
        let ng = Marking::new("Beretta", cc("IT"), "1").unwrap();
        assert_eq!(ng.routing_prefixes(&t).len(), 1);
        // Izhmash marked USSR is the Russian maker, found under RU.
        let su = Marking::new("Izhmash", cc("SU"), "1").unwrap();
        assert!(
            su.routing_prefixes(&t)[0]
                .to_string()
                .ends_with("/KALASHNIKOVCONCERN")
        );
    }

    #[test]
    fn cs_with_a_year_after_czechoslovakia_is_refused_in_markings_and_import_marks() {
        let m = r#"{"manufacturer":"CZ","country":"CS","serial":"A1","year":1985,"imports":[{"country":"CSHH","year":1990}]}"#;
        let m: Marking = serde_json::from_str(m).unwrap();
        assert_eq!(m.imports()[0].country.as_str(), "CS");
        let bad = r#"{"manufacturer":"Zastava","country":"CS","serial":"A1","year":2004}"#;
        let e = serde_json::from_str::<Marking>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("RS or ME"), "{e}");
        assert!("CS:2005".parse::<ImportMark>().is_err());
        assert!("YU:1985".parse::<ImportMark>().is_ok());
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
