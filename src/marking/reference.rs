//! The maker reference table (`config/makers.toml`): its file format, its
//! canonical serialisation, and the copy compiled into every node. The rows
//! become a `MakerTable` in `maker.rs`.
//!
//! The table is data the federation shares: the regional organisation signs
//! it with the roster's anchors and nodes pass it on by gossip
//! (`roster::makers`). For that it has a version, one canonical byte form
//! (`canonical_bytes`) independent of how the TOML file is laid out, and
//! bounds and rules every table must meet (`check`), since a table may come
//! from a peer.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::fold::fold_maker;
use super::{MAX_FACTORY_CODE_CHARS, MakerError};
use crate::model::CountryCode;

/// At most this many rows in a table.
pub const MAX_ROWS: usize = 2048;
/// At most this many countries, and this many aliases and earlier names
/// together, in one row.
pub const MAX_COUNTRIES: usize = 64;
pub const MAX_SPELLINGS: usize = 64;
/// At most this many factory codes in one row.
pub const MAX_FACTORY_CODES: usize = 16;
/// The longest spelling, in characters (as for a marking's manufacturer).
pub const MAX_SPELLING_CHARS: usize = 128;

/// The table shipped with this build.
pub const SHIPPED: &str = include_str!("../../config/makers.toml");

/// The whole table, as in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceTable {
    /// Raised with every change of the rows.
    pub version: u32,
    #[serde(rename = "maker", default)]
    pub makers: Vec<ReferenceMaker>,
}

/// One row: a maker in the countries where its spellings mean it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceMaker {
    /// The canonical name; its folded form is the maker's key.
    pub name: String,
    /// Countries of manufacture as marked, in which these spellings mean this maker.
    pub countries: Vec<CountryCode>,
    /// Other spellings: abbreviations, brands, transliterations.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Earlier legal names, oldest first; spellings too.
    #[serde(default)]
    pub history: Vec<String>,
    /// State factory numbers marked instead of a name (ITI para 8(a)), as digits.
    #[serde(default)]
    pub factory_codes: Vec<String>,
}

impl ReferenceMaker {
    /// Every spelling of this row: its name, aliases and earlier names.
    pub fn spellings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .chain(self.history.iter().map(String::as_str))
    }

    /// The bounds of one row (see [`ReferenceTable::check`]).
    fn check_bounds(&self) -> Result<(), String> {
        if self.countries.is_empty() || self.countries.len() > MAX_COUNTRIES {
            return Err(format!(
                "{} countries; give 1 to {MAX_COUNTRIES}",
                self.countries.len()
            ));
        }
        let spellings = self.aliases.len() + self.history.len();
        if spellings > MAX_SPELLINGS {
            return Err(format!(
                "{spellings} aliases and earlier names; at most {MAX_SPELLINGS} are accepted"
            ));
        }
        for s in self.spellings() {
            let n = s.chars().count();
            if n > MAX_SPELLING_CHARS {
                return Err(MakerError::TooLong(n).to_string());
            }
            if fold_maker(s).is_empty() {
                return Err(MakerError::Empty(s.to_string()).to_string());
            }
        }
        if self.factory_codes.len() > MAX_FACTORY_CODES {
            return Err(format!(
                "{} factory codes; at most {MAX_FACTORY_CODES} are accepted",
                self.factory_codes.len()
            ));
        }
        if let Some(code) = self.factory_codes.iter().find(|c| {
            c.is_empty()
                || c.chars().count() > MAX_FACTORY_CODE_CHARS
                || !c.chars().all(|d| d.is_ascii_digit())
        }) {
            return Err(format!(
                "factory code {code:?} must be 1 to {MAX_FACTORY_CODE_CHARS} digits"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    #[error("maker reference table: {0}")]
    Parse(String),
    #[error("maker reference table: {rows} rows; at most {MAX_ROWS} are accepted")]
    TooManyRows { rows: usize },
    /// A row breaks a bound or a rule; `row` counts from 1, in file order.
    #[error("maker reference table, row {row} ({name:?}): {problem}")]
    Row {
        row: usize,
        name: String,
        problem: String,
    },
}

impl ReferenceTable {
    /// Parses a table in the TOML format of `config/makers.toml`.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        toml::from_str(text)
            .map_err(|e| ReferenceError::Parse(crate::model::file::toml_problem(text, &e)))
    }

    /// The table compiled into this build, a copy to change. Its content is
    /// checked by the tests below, so a failure here is a build that was
    /// never tested.
    pub fn shipped() -> Self {
        Self::shipped_ref().clone()
    }

    /// The table compiled into this build, parsed once per process (22 KB
    /// of TOML: `status` and `makers show` read it on every call).
    pub fn shipped_ref() -> &'static Self {
        static SHIPPED_TABLE: std::sync::OnceLock<ReferenceTable> = std::sync::OnceLock::new();
        SHIPPED_TABLE.get_or_init(|| {
            Self::parse(SHIPPED).expect("config/makers.toml is checked by the marking tests")
        })
    }

    /// Checks the bounds and rules a table must meet, whoever wrote it: at
    /// most [`MAX_ROWS`] rows; in each, a name and spellings of 1 to
    /// [`MAX_SPELLING_CHARS`] characters that keep a letter or digit once
    /// folded, 1 to [`MAX_COUNTRIES`] countries, at most [`MAX_SPELLINGS`]
    /// aliases and earlier names, at most [`MAX_FACTORY_CODES`] factory codes
    /// of 1 to 16 digits; and no spelling (or factory code) that means two
    /// makers in one country. The first fault found is reported, naming the
    /// row and the spelling.
    pub fn check(&self) -> Result<(), ReferenceError> {
        if self.makers.len() > MAX_ROWS {
            return Err(ReferenceError::TooManyRows {
                rows: self.makers.len(),
            });
        }
        let mut spellings: HashMap<(CountryCode, String), String> = HashMap::new();
        let mut codes: HashMap<(CountryCode, &str), String> = HashMap::new();
        for (i, m) in self.makers.iter().enumerate() {
            let fault = |problem: String| ReferenceError::Row {
                row: i + 1,
                name: m.name.chars().take(MAX_SPELLING_CHARS).collect(),
                problem,
            };
            m.check_bounds().map_err(fault)?;
            let key = fold_maker(&m.name);
            for c in &m.countries {
                for s in m.spellings() {
                    let other = spellings
                        .entry((*c, fold_maker(s)))
                        .or_insert_with(|| key.clone());
                    if *other != key {
                        return Err(fault(format!(
                            "{s:?} in {c} already means the maker {other}"
                        )));
                    }
                }
                for code in &m.factory_codes {
                    let other = codes.entry((*c, code)).or_insert_with(|| key.clone());
                    if *other != key {
                        return Err(fault(format!(
                            "factory code {code} in {c} already means the maker {other}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Refuses a spelling holding a control, text-direction or invisible
    /// character: every node that installs the table prints its spellings
    /// (`did you mean Wal<U+202E>ther (DE)?`), and records and traces refuse
    /// them (a helper's hostile trial). The zero-width non-joiner and joiner
    /// (U+200C, U+200D) are spelling in Persian and Indic names, and pass.
    /// Checked on a table being made and signed, not on one held or
    /// received: a table signed before the check still reads.
    ///
    /// Also refuses a canonical name whose folded form is no maker key
    /// ([`super::MakerKey::from_folded`]: at most 128 bytes, no letter
    /// without a capital, such as `ĸ`): every node would leave that row out
    /// of the table, and its spellings with it. A name of 128 Cyrillic
    /// letters folds to 256 bytes.
    pub fn check_printable(&self) -> Result<(), ReferenceError> {
        for (i, m) in self.makers.iter().enumerate() {
            let folded = fold_maker(&m.name);
            if super::MakerKey::from_folded(&folded).is_none() {
                return Err(ReferenceError::Row {
                    row: i + 1,
                    name: m.name.chars().take(MAX_SPELLING_CHARS).collect(),
                    problem: match folded.chars().find(|c| c.is_lowercase()) {
                        Some(c) => format!(
                            "the name folds to a maker key with {c:?}, a letter that has no capital (a key holds capitals, digits and letters without case): every node would leave the row out; write the name without that letter ({c:?} as the nearest capital, such as K for 'ĸ') and keep this one as an alias"
                        ),
                        None => format!(
                            "the name folds to {} bytes, more than the 128 a maker key holds: every node would leave the row out; give a shorter name and keep this one as an alias",
                            folded.len()
                        ),
                    },
                });
            }
            for s in m.spellings() {
                if let Some(problem) = unwritable_spelling(s) {
                    return Err(ReferenceError::Row {
                        row: i + 1,
                        name: m.name.chars().take(MAX_SPELLING_CHARS).collect(),
                        problem,
                    });
                }
            }
        }
        Ok(())
    }

    /// How many makers the table names: distinct canonical names (a maker
    /// with rows for several countries counts once).
    pub fn maker_count(&self) -> usize {
        let keys: std::collections::HashSet<String> =
            self.makers.iter().map(|m| fold_maker(&m.name)).collect();
        keys.len()
    }

    /// The canonical form that a signature will cover: compact JSON with the
    /// fields in declaration order (version, then each row's name, countries,
    /// aliases, history, factory_codes), rows and lists in file order, every
    /// field present. Two files with the same content give the same bytes
    /// however they are laid out.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serialising plain structs and vectors of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why a maker's spelling `s` may not be written into a table that names
/// makers (a signed reference table being made, a node's own
/// `[[makers]]`): it holds a control, text-direction or invisible character,
/// which would print as something else on every node, or a private-use or
/// noncharacter, which no registry writes alike. ZWNJ and ZWJ pass:
/// Persian and Indic names need them.
pub fn unwritable_spelling(s: &str) -> Option<String> {
    let c = s.chars().find(|c| {
        crate::model::moves_text(*c)
            || (super::serial::is_invisible(*c) && !matches!(c, '\u{200C}' | '\u{200D}'))
            || super::serial::is_not_readable(*c)
    })?;
    let what = if super::serial::is_not_readable(c) {
        super::serial::not_readable_words(c as u32)
    } else {
        "a control, text-direction or invisible character, which would print as something else on every node"
    };
    Some(format!(
        "{s:?} holds U+{:04X}, {what}; write the spelling without it",
        c as u32
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::marking::fold_maker;

    /// The continent (or region) of each country the table uses. A country
    /// missing here fails the test, so that a new one is placed on purpose.
    fn region(c: &str) -> Option<&'static str> {
        Some(match c {
            "AT" | "BE" | "BG" | "CH" | "CZ" | "DE" | "DK" | "ES" | "FI" | "FR" | "GB" | "GR"
            | "HR" | "HU" | "IT" | "NL" | "NO" | "PL" | "PT" | "RO" | "RS" | "RU" | "SE" | "SI"
            | "SK" | "TR" | "UA" => "Europe",
            "US" | "CA" | "MX" | "BR" | "AR" | "CL" | "CO" | "VE" | "PE" => "Americas",
            "ZA" | "EG" | "NG" | "SD" => "Africa",
            "CN" | "JP" | "KR" | "TW" | "SG" | "IN" | "PK" | "BD" | "ID" | "PH" | "MY" => "Asia",
            "IL" | "IR" | "SA" | "AE" => "Middle East",
            "AU" => "Oceania",
            _ => return None,
        })
    }

    #[test]
    fn the_shipped_table_parses_and_is_well_formed() {
        let t = ReferenceTable::parse(SHIPPED).unwrap();
        assert!(t.version >= 1);
        let mut regions = BTreeSet::new();
        for m in &t.makers {
            assert!(!m.countries.is_empty(), "{} has no country", m.name);
            for c in &m.countries {
                regions.insert(
                    region(c.as_str())
                        .unwrap_or_else(|| panic!("{}: place {c} in a region", m.name)),
                );
            }
            for s in m.spellings() {
                assert!(
                    !fold_maker(s).is_empty(),
                    "{}: {s:?} folds to nothing",
                    m.name
                );
                assert!(s.chars().count() <= 128, "{s:?} is too long");
            }
            for code in &m.factory_codes {
                assert!(
                    !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()),
                    "{}: factory code {code:?}",
                    m.name
                );
            }
        }
        assert_eq!(
            regions.into_iter().collect::<Vec<_>>(),
            [
                "Africa",
                "Americas",
                "Asia",
                "Europe",
                "Middle East",
                "Oceania"
            ]
        );
    }

    #[test]
    fn the_shipped_table_holds_at_least_150_makers() {
        let t = ReferenceTable::shipped();
        // Makers named by a name, not only by a factory number; a maker listed
        // in two rows (for different countries) counts once.
        let named: BTreeSet<String> = t
            .makers
            .iter()
            .filter(|m| m.factory_codes.is_empty())
            .map(|m| fold_maker(&m.name))
            .collect();
        assert!(named.len() >= 150, "{} makers", named.len());
    }

    #[test]
    fn no_spelling_means_two_makers_in_one_country() {
        let t = ReferenceTable::shipped();
        let mut seen: BTreeMap<(CountryCode, String), String> = BTreeMap::new();
        let mut codes: BTreeMap<(CountryCode, String), String> = BTreeMap::new();
        for m in &t.makers {
            let key = fold_maker(&m.name);
            for c in &m.countries {
                for s in m.spellings() {
                    if let Some(other) = seen.insert((*c, fold_maker(s)), key.clone()) {
                        assert_eq!(other, key, "{s:?} in {c} means {other} and {key}");
                    }
                }
                for code in &m.factory_codes {
                    if let Some(other) = codes.insert((*c, code.clone()), key.clone()) {
                        assert_eq!(other, key, "factory {code} in {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_shipped_table_meets_the_rules_every_table_must_meet() {
        ReferenceTable::shipped().check().unwrap();
        // Parsed once: every call after the first is the same table.
        assert!(std::ptr::eq(
            ReferenceTable::shipped_ref(),
            ReferenceTable::shipped_ref()
        ));
        assert_eq!(&ReferenceTable::shipped(), ReferenceTable::shipped_ref());
    }

    /// Each bound and rule of `check`, broken once, is refused naming the
    /// row and what is wrong.
    #[test]
    fn a_table_breaking_a_rule_is_refused_naming_the_row() {
        let row = |name: &str, countries: &str, aliases: &str| {
            format!(
                "[[maker]]\nname = \"{name}\"\ncountries = [{countries}]\naliases = [{aliases}]\n"
            )
        };
        let table = |rows: &[String]| {
            ReferenceTable::parse(&format!("version = 1\n{}", rows.concat())).unwrap()
        };
        let good = table(&[row("Acme", "\"DE\"", "\"A\"")]);
        good.check().unwrap();
        let many = |n: usize, what: &str| {
            (0..n)
                .map(|i| format!("\"{what}{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let cases = [
            (
                table(&[row("Acme", "", "")]),
                "row 1 (\"Acme\"): 0 countries",
            ),
            (
                table(&[row("Acme", "\"DE\"", "\"&&\"")]),
                "no letter or digit",
            ),
            (
                table(&[row("Acme", "\"DE\"", &format!("\"{}\"", "x".repeat(129)))]),
                "129 characters",
            ),
            (
                table(&[row("Acme", "\"DE\"", &many(65, "A"))]),
                "65 aliases",
            ),
            // Printed raw by every node (a helper's hostile trial).
            (
                table(&[row("Wal\\u202Ether", "\"DE\"", "")]),
                "U+202E, a control, text-direction or invisible character",
            ),
            (table(&[row("Acme", "\"DE\"", "\"Ev\\u0001il\"")]), "U+0001"),
            (table(&[row("Acme", "\"DE\"", "\"A\\u3164\"")]), "U+3164"),
            (
                table(&[row("Acme", "\"DE\"", "\"Priv\\uE000ate\"")]),
                "U+E000, a private-use",
            ),
            (
                table(&[row("Acme", "\"DE\"", "\"Non\\uFDD0char\"")]),
                "U+FDD0",
            ),
            (
                table(&[
                    row("Acme", "\"DE\"", "\"AA\""),
                    row("Other", "\"FR\", \"DE\"", "\"A A\""),
                ]),
                "row 2 (\"Other\"): \"A A\" in DE already means the maker ACME",
            ),
        ];
        for (t, want) in cases {
            let e = match t.check() {
                Err(e) => e.to_string(),
                Ok(()) => t.check_printable().unwrap_err().to_string(),
            };
            assert!(e.contains(want), "{e}");
        }
        // A name no maker key can hold: refused for signing, its row would
        // be left out on every node.
        let long = "Ж".repeat(100);
        for (name, why) in [
            (
                long.as_str(),
                "folds to 200 bytes, more than the 128 a maker key holds",
            ),
            ("Acmeĸ", "'ĸ', a letter that has no capital"),
        ] {
            let e = table(&[row(name, "\"RU\"", "\"AA\"")])
                .check_printable()
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(why)
                    && e.contains("every node would leave the row out")
                    && e.contains("keep this one as an alias"),
                "{e}"
            );
        }
        // Spelling in Persian and Indic names.
        table(&[row("Acme", "\"IR\"", "\"می\\u200Cشود\"")])
            .check_printable()
            .unwrap();
        // The same spelling in two countries is two makers, rightly.
        table(&[
            row("Acme", "\"DE\"", "\"AA\""),
            row("Other", "\"FR\"", "\"AA\""),
        ])
        .check()
        .unwrap();
        let mut codes = good.clone();
        codes.makers[0].factory_codes = vec!["6x".into()];
        assert!(codes.check().unwrap_err().to_string().contains("digits"));
        let mut rows = good.clone();
        rows.makers = vec![good.makers[0].clone(); MAX_ROWS + 1];
        assert!(matches!(
            rows.check(),
            Err(ReferenceError::TooManyRows { .. })
        ));
    }

    #[test]
    fn canonical_bytes_ignore_the_layout_of_the_file() {
        let a = ReferenceTable::parse(
            "version = 3\n[[maker]]\nname = \"Acme\"\ncountries = [\"DE\"]\naliases = [\"A\"]\n",
        )
        .unwrap();
        let b = ReferenceTable::parse(
            "# a comment\n[[maker]]\naliases = [ \"A\" ]\ncountries = [\"de\"]\nname = \"Acme\"\n\nversion = 3\n",
        );
        // TOML puts top-level keys before tables: a version after them belongs
        // to the last row and is refused, never silently misread.
        assert!(b.is_err());
        let b = ReferenceTable::parse(
            "version = 3 # three\n\n[[maker]]\naliases = [ \"A\" ]\ncountries = [\"de\"]\nname = \"Acme\"\n",
        )
        .unwrap();
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        assert_eq!(
            String::from_utf8(a.canonical_bytes()).unwrap(),
            r#"{"version":3,"maker":[{"name":"Acme","countries":["DE"],"aliases":["A"],"history":[],"factory_codes":[]}]}"#
        );
        assert!(ReferenceTable::parse("version = 1\n[[maker]]\nname = \"X\"\n").is_err());
        assert!(
            ReferenceTable::parse("version = 1\n[[maker]]\nname = \"X\"\ncountries = [\"XX\"]\n")
                .is_err()
        );
    }
}
