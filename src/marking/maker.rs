//! Manufacturers' names: folding and the alias table that makes "H&K",
//! "HECKLER & KOCH" and "Heckler und Koch" one maker.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Words that carry no identity in a maker's name: connectives and company forms.
const NOISE_WORDS: &[&str] = &[
    "AND", "UND", "ET", "Y", "E", "GMBH", "AG", "KG", "INC", "LTD", "LLC", "CO", "CORP", "COMPANY",
    "SPA", "SA", "AS", "OY", "AB", "BV", "NV", "PLC", "SRO", "JSC", "OAO", "OJSC",
];

/// Built-in makers: canonical display name, then the spellings found on weapons
/// and in records. Every spelling is folded before use, so case, punctuation and
/// company suffixes need not be listed.
const BUILT_IN: &[(&str, &[&str])] = &[
    ("Heckler & Koch", &["H&K", "HK", "Heckler Koch", "HKGmbH"]),
    ("Carl Walther", &["Walther", "Walther Arms"]),
    (
        "Kalashnikov Concern",
        &[
            "Kalashnikov",
            "Izhmash",
            "Izhevsk Mechanical Plant",
            "Ижмаш",
            "Калашников",
        ],
    ),
    (
        "FN Herstal",
        &[
            "FN",
            "FNH",
            "Fabrique Nationale",
            "Fabrique Nationale d'Herstal",
        ],
    ),
    (
        "Beretta",
        &["Pietro Beretta", "Fabbrica d'Armi Pietro Beretta"],
    ),
    ("Glock", &["Glock Ges.m.b.H."]),
    (
        "Colt",
        &["Colt's Manufacturing", "Colts", "Colt's Patent Fire Arms"],
    ),
    ("Smith & Wesson", &["S&W", "SW"]),
    ("Sturm, Ruger & Co.", &["Ruger", "Sturm Ruger"]),
    ("SIG Sauer", &["SIG", "Sig Arms", "SIGARMS", "Sauer"]),
    (
        "Česká zbrojovka",
        &["CZ", "CZUB", "Ceska Zbrojovka Uhersky Brod"],
    ),
    ("Norinco", &["China North Industries"]),
    ("Zastava Arms", &["Zastava", "Zastava Oruzje"]),
    ("Taurus", &["Forjas Taurus"]),
    (
        "Israel Weapon Industries",
        &["IWI", "IMI", "Israel Military Industries"],
    ),
    ("MKE", &["Makina ve Kimya", "Makine ve Kimya Endustrisi"]),
    ("Steyr Arms", &["Steyr", "Steyr Mannlicher"]),
    ("Arsenal", &["Arsenal AD", "Arsenal JSCo"]),
    ("Cugir", &["Uzina Mecanica Cugir", "UM Cugir"]),
    (
        "Tula Arms Plant",
        &["Tula", "TOZ", "Tulsky Oruzheiny Zavod"],
    ),
    ("Denel", &["Vektor", "Denel Land Systems"]),
    ("Imbel", &["Industria de Material Belico do Brasil"]),
    (
        "Ordnance Factories Board",
        &["OFB", "Indian Ordnance Factories"],
    ),
];

/// Folds a maker's name: compatibility-decomposed, accents dropped, upper case,
/// split on anything not a letter or digit, noise words dropped, joined.
/// Returns an empty string when nothing identifying is left.
pub fn fold_maker(raw: &str) -> String {
    // ASCII is its own NFKD form and holds no combining marks.
    if raw.is_ascii() {
        fold_words(raw.chars())
    } else {
        fold_words(raw.nfkd().filter(|c| !is_combining_mark(*c)))
    }
}

fn fold_words(chars: impl Iterator<Item = char>) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in chars {
        if c.is_alphanumeric() {
            cur.extend(c.to_uppercase());
        } else if c == '\'' || c == '\u{2019}' {
            // "Colt's" is "COLTS", not "COLT S".
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let kept: Vec<&String> = words
        .iter()
        .filter(|w| !NOISE_WORDS.contains(&w.as_str()))
        .collect();
    // A name made only of noise words ("S.A.") keeps them rather than vanish.
    if kept.is_empty() {
        words.concat()
    } else {
        kept.into_iter().map(String::as_str).collect()
    }
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// The canonical key of a maker: folded and alias-resolved. Only letters and
/// digits, never empty.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MakerKey(String);

impl MakerKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a key read back from a store or a topic name; `None` if it is not
    /// the shape a key has.
    pub fn from_folded(s: &str) -> Option<Self> {
        (!s.is_empty()
            && s.len() <= 128
            && s.chars().all(|c| c.is_alphanumeric() && !c.is_lowercase()))
        .then(|| MakerKey(s.to_string()))
    }
}

impl fmt::Display for MakerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MakerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MakerKey({})", self.0)
    }
}

/// One maker declared in configuration, extending the built-in table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakerAlias {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MakerError {
    #[error("manufacturer {0:?} has no letter or digit in it")]
    Empty(String),
    #[error("manufacturer name is {0} characters long; at most 128 are accepted")]
    TooLong(usize),
    #[error("alias {alias:?} is declared for both {first:?} and {second:?}")]
    Conflict {
        alias: String,
        first: String,
        second: String,
    },
}

/// Resolves folded spellings to canonical maker keys.
#[derive(Debug, Clone)]
pub struct MakerTable {
    /// folded spelling -> (canonical key, display name)
    by_folded: BTreeMap<String, (MakerKey, String)>,
}

impl Default for MakerTable {
    fn default() -> Self {
        Self::built_in()
    }
}

impl MakerTable {
    pub fn built_in() -> Self {
        let mut t = MakerTable {
            by_folded: BTreeMap::new(),
        };
        for (name, aliases) in BUILT_IN {
            // The built-in table is checked by a unit test; a clash there is a bug
            // in this file, not an input error.
            let _ = t.add(name, aliases.iter().copied());
        }
        t
    }

    /// The built-in table extended by configured makers. A configured alias may not
    /// point at two different makers.
    pub fn with_extra(extra: &[MakerAlias]) -> Result<Self, MakerError> {
        let mut t = Self::built_in();
        for m in extra {
            t.add(&m.name, m.aliases.iter().map(String::as_str))?;
        }
        Ok(t)
    }

    fn add<'a>(
        &mut self,
        name: &'a str,
        aliases: impl Iterator<Item = &'a str>,
    ) -> Result<(), MakerError> {
        let folded_name = fold_maker(name);
        if folded_name.is_empty() {
            return Err(MakerError::Empty(name.to_string()));
        }
        // A configured maker that is already known (by name or alias) joins it.
        let (key, display) = match self.by_folded.get(&folded_name) {
            Some(existing) => existing.clone(),
            None => (MakerKey(folded_name.clone()), name.to_string()),
        };
        for spelling in std::iter::once(name).chain(aliases) {
            let f = fold_maker(spelling);
            if f.is_empty() {
                return Err(MakerError::Empty(spelling.to_string()));
            }
            if let Some((other, other_name)) = self.by_folded.get(&f)
                && *other != key
            {
                return Err(MakerError::Conflict {
                    alias: spelling.to_string(),
                    first: other_name.clone(),
                    second: name.to_string(),
                });
            }
            self.by_folded.insert(f, (key.clone(), display.clone()));
        }
        Ok(())
    }

    /// The canonical key for a maker as written on a weapon or in a record.
    pub fn key(&self, raw: &str) -> Result<MakerKey, MakerError> {
        let n = raw.chars().count();
        if n > 128 {
            return Err(MakerError::TooLong(n));
        }
        let f = fold_maker(raw);
        if f.is_empty() {
            return Err(MakerError::Empty(raw.to_string()));
        }
        Ok(match self.by_folded.get(&f) {
            Some((k, _)) => k.clone(),
            None => MakerKey(f),
        })
    }

    /// The display name of a known maker.
    pub fn display_name(&self, key: &MakerKey) -> Option<&str> {
        self.by_folded.get(key.as_str()).map(|(_, d)| d.as_str())
    }

    /// A stable fingerprint of the table: an index built with one table must be
    /// rebuilt when the table changes. FNV-1a, 64 bits; not a security measure.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (folded, (key, _)) in &self.by_folded {
            for b in folded
                .bytes()
                .chain([0])
                .chain(key.as_str().bytes())
                .chain([0])
            {
                h ^= b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_table_has_no_conflicts() {
        let mut t = MakerTable {
            by_folded: BTreeMap::new(),
        };
        for (name, aliases) in BUILT_IN {
            t.add(name, aliases.iter().copied()).unwrap();
        }
    }

    #[test]
    fn spellings_of_one_maker_share_a_key() {
        let t = MakerTable::built_in();
        let hk = t.key("Heckler & Koch").unwrap();
        for s in [
            "H&K",
            "HECKLER & KOCH",
            "Heckler und Koch",
            "heckler-koch gmbh",
            "H & K",
        ] {
            assert_eq!(t.key(s).unwrap(), hk, "{s}");
        }
        assert_eq!(t.key("Česká Zbrojovka").unwrap(), t.key("CZ").unwrap());
        assert_eq!(t.key("IZHMASH").unwrap(), t.key("Ижмаш").unwrap());
        assert_ne!(t.key("Walther").unwrap(), hk);
        assert_eq!(t.display_name(&hk), Some("Heckler & Koch"));
    }

    #[test]
    fn ascii_names_fold_as_through_nfkd() {
        for s in [
            "Colt's Patent",
            "H & K",
            "S.A.",
            "Glock Ges.m.b.H.",
            "a-b_c",
        ] {
            assert_eq!(
                fold_words(s.chars()),
                fold_words(s.nfkd().filter(|c| !is_combining_mark(*c))),
                "{s}"
            );
        }
    }

    #[test]
    fn unknown_makers_fold_to_themselves() {
        let t = MakerTable::built_in();
        assert_eq!(t.key("Acme Arms Ltd.").unwrap().as_str(), "ACMEARMS");
        assert!(matches!(t.key("&&"), Err(MakerError::Empty(_))));
        assert!(matches!(t.key(""), Err(MakerError::Empty(_))));
        assert!(t.key(&"x".repeat(200)).is_err());
    }

    #[test]
    fn configured_aliases_extend_and_conflicts_are_refused() {
        let extra = vec![MakerAlias {
            name: "Acme Arms".into(),
            aliases: vec!["AA Works".into()],
        }];
        let t = MakerTable::with_extra(&extra).unwrap();
        assert_eq!(t.key("AA WORKS").unwrap(), t.key("acme arms").unwrap());
        assert_ne!(t.fingerprint(), MakerTable::built_in().fingerprint());

        let clash = vec![MakerAlias {
            name: "Other Co".into(),
            aliases: vec!["H&K".into()],
        }];
        assert!(matches!(
            MakerTable::with_extra(&clash),
            Err(MakerError::Conflict { .. })
        ));
    }
}
