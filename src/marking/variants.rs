//! The readings of one serial that a registry clerk or an officer may have
//! written instead of another: a Cyrillic serial in Latin letters
//! (transliteration), and a serial whose letters between digits were dropped
//! or misread (the NCIC rule). Each gives a *variant key*, compared after
//! look-alike folding; the registry indexes a record under its variant keys
//! so that finding one is an index read, not a scan.

use super::serial::{base_letter, fold_char};

/// The Latin letters of a Cyrillic capital letter, after ICAO Doc 9303
/// (Machine Readable Travel Documents, part 3, the transliteration table of
/// passports), the table that Russian, Ukrainian, Belarusian, Serbian,
/// Macedonian and Bulgarian passports share: one table for every language,
/// with the Russian reading of letters that languages read differently
/// (Г is G, И is I). `None` for a character that is not a Cyrillic letter.
///
/// Serials are upper case once normalised, so only capitals are listed.
pub fn cyrillic_to_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'А' => "A",
        'Б' => "B",
        'В' => "V",
        'Г' | 'Ґ' | 'Ѓ' => "G",
        'Д' | 'Ђ' => "D",
        'Е' | 'Ё' | 'Э' => "E",
        'Є' | 'Ъ' => "IE",
        'Ж' => "ZH",
        'З' => "Z",
        'Ѕ' | 'Џ' => "DZ",
        'И' | 'І' | 'Ї' | 'Й' => "I",
        'Ј' => "J",
        'К' | 'Ќ' => "K",
        'Л' => "L",
        'Љ' => "LJ",
        'М' => "M",
        'Н' => "N",
        'Њ' => "NJ",
        'О' => "O",
        'П' => "P",
        'Р' => "R",
        'С' => "S",
        'Т' => "T",
        'Ћ' => "C",
        'У' | 'Ў' | 'Ѫ' => "U",
        'Ф' => "F",
        'Х' => "KH",
        'Ц' => "TS",
        'Ч' => "CH",
        'Ш' => "SH",
        'Щ' => "SHCH",
        'Ы' => "Y",
        'Ь' => "",
        'Ю' => "IU",
        'Я' => "IA",
        _ => return None,
    })
}

/// The Latin letters of a Cyrillic capital letter as [`cyrillic_to_latin`]
/// writes them, or, for a letter with diacritics that table does not list
/// (`Ѝ`, `Ӧ`, `Ӓ`), those of its base letter ([`super::base_letter`]): from
/// serial rules 3, a Cyrillic serial with accents is transliterated as the
/// same serial without them is, so that `ЍЛ123` meets `IL123` as `ИЛ123`
/// does. `None` for a character that is not a Cyrillic letter.
pub fn cyrillic_in_latin(c: char) -> Option<&'static str> {
    cyrillic_to_latin(c).or_else(|| {
        let b = base_letter(c);
        if b == c { None } else { cyrillic_to_latin(b) }
    })
}

/// Whether `s` holds a Cyrillic letter that [`cyrillic_in_latin`] rewrites.
fn has_cyrillic(s: &str) -> bool {
    !s.is_ascii() && s.chars().any(|c| cyrillic_in_latin(c).is_some())
}

/// A normalised serial with its Cyrillic letters in Latin ones; `None` if it
/// has none.
pub fn transliterate(normalised: &str) -> Option<String> {
    if !has_cyrillic(normalised) {
        return None;
    }
    let mut out = String::with_capacity(normalised.len());
    for c in normalised.chars() {
        match cyrillic_in_latin(c) {
            Some(latin) => out.push_str(latin),
            None => out.push(c),
        }
    }
    Some(out)
}

/// Whether `c` is a digit for the NCIC rule (any script's; NFKC has already
/// made full-width digits ASCII).
fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// The letters of `normalised` that stand between two digits (each with a
/// digit somewhere before and after it): the letters the NCIC rule does not
/// count. Leading and trailing letters are not among them.
pub fn embedded_letters(normalised: &str) -> Vec<char> {
    let Some(first) = normalised.find(is_digit) else {
        return Vec::new();
    };
    let last = normalised.rfind(is_digit).unwrap_or(first);
    normalised[first..last]
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect()
}

/// Whether `normalised` has no embedded letter, without allocating.
fn embedded_letters_none(normalised: &str) -> bool {
    match (normalised.find(is_digit), normalised.rfind(is_digit)) {
        (Some(first), Some(last)) => !normalised[first..last].chars().any(char::is_alphabetic),
        _ => true,
    }
}

/// A normalised serial without its embedded letters; `None` if it has none.
pub fn without_embedded_letters(normalised: &str) -> Option<String> {
    let first = normalised.find(is_digit)?;
    let last = normalised.rfind(is_digit)?;
    let middle = &normalised[first..last];
    if !middle.chars().any(char::is_alphabetic) {
        return None;
    }
    let mut out = String::with_capacity(normalised.len());
    out.push_str(&normalised[..first]);
    out.extend(middle.chars().filter(|c| !c.is_alphabetic()));
    out.push_str(&normalised[last..]);
    Some(out)
}

/// The keys one normalised serial is compared (and indexed) under, each
/// after look-alike folding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialKeys {
    /// The folded serial: the registry's primary key.
    pub folded: String,
    /// Transliterated, if it holds Cyrillic letters.
    pub transliterated: Option<String>,
    /// Without embedded letters, if it has some.
    pub stripped: Option<String>,
    /// Transliterated, then without embedded letters, if that differs from
    /// both of the above.
    pub transliterated_stripped: Option<String>,
}

fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

impl SerialKeys {
    /// The keys of a normalised serial. An ASCII serial without letters
    /// between digits costs one folding and two scans.
    pub fn of(normalised: &str) -> Self {
        let folded = fold(normalised);
        let latin = transliterate(normalised);
        let stripped = without_embedded_letters(normalised).map(|s| fold(&s));
        let transliterated_stripped = latin
            .as_deref()
            .and_then(without_embedded_letters)
            .map(|s| fold(&s));
        SerialKeys {
            transliterated: latin.map(|s| fold(&s)),
            stripped,
            transliterated_stripped,
            folded,
        }
    }

    /// Whether a normalised serial may have variant keys (it holds Cyrillic
    /// letters, or letters between digits), without building them. `false`
    /// means it has none: the answer for nearly every record of an import.
    pub fn has_variants(normalised: &str) -> bool {
        has_cyrillic(normalised) || !embedded_letters_none(normalised)
    }

    /// The transliterated key, or the folded one if there is nothing to
    /// transliterate.
    pub fn latin(&self) -> &str {
        self.transliterated.as_deref().unwrap_or(&self.folded)
    }

    /// The key without embedded letters, or the folded one.
    pub fn ncic(&self) -> &str {
        self.stripped.as_deref().unwrap_or(&self.folded)
    }

    /// The transliterated key without embedded letters, or the
    /// transliterated one.
    pub fn latin_ncic(&self) -> &str {
        self.transliterated_stripped
            .as_deref()
            .unwrap_or_else(|| self.latin())
    }

    /// The variant keys that differ from the folded one, each once: what a
    /// record is indexed under besides its folded serial.
    pub fn variants(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::with_capacity(3);
        for k in [self.latin(), self.ncic(), self.latin_ncic()] {
            if k != self.folded && !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    /// Every key, the folded one first, each once: what a query looks up.
    pub fn all(&self) -> Vec<&str> {
        let mut out = vec![self.folded.as_str()];
        out.extend(self.variants());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrillic_serials_transliterate_by_one_table() {
        assert_eq!(transliterate("ЛЕ1234").as_deref(), Some("LE1234"));
        assert_eq!(transliterate("ЖЩ12").as_deref(), Some("ZHSHCH12"));
        assert_eq!(transliterate("ХЦ9").as_deref(), Some("KHTS9"));
        assert_eq!(transliterate("БЬ1").as_deref(), Some("B1"));
        assert_eq!(transliterate("LE1234"), None);
        assert_eq!(transliterate("Ä12"), None);
        // Every capital of the Russian alphabet has a reading.
        for c in 'А'..='Я' {
            assert!(cyrillic_to_latin(c).is_some(), "{c}");
        }
    }

    #[test]
    fn embedded_letters_are_those_between_digits() {
        assert_eq!(embedded_letters("369M257"), ['M']);
        assert_eq!(embedded_letters("AB369M257C"), ['M']);
        assert_eq!(embedded_letters("12AB34C5"), ['A', 'B', 'C']);
        assert!(embedded_letters("AB1234").is_empty());
        assert!(embedded_letters("ABCD").is_empty());
        assert_eq!(
            without_embedded_letters("AB369M257C").as_deref(),
            Some("AB369257C")
        );
        assert_eq!(without_embedded_letters("1ЖЖ2").as_deref(), Some("12"));
        assert_eq!(without_embedded_letters("AB1234C"), None);
        assert_eq!(without_embedded_letters("7"), None);
    }

    #[test]
    fn variant_keys_differ_from_the_folded_key() {
        let k = SerialKeys::of("369M257");
        assert_eq!(k.folded, "369M257");
        assert_eq!(k.variants(), ["369257"]);
        let k = SerialKeys::of("ЛЕ1234");
        assert_eq!(k.variants(), ["1E1234"]); // L and I fold to 1
        let k = SerialKeys::of("Л12Ж34");
        assert_eq!(k.variants(), ["1122H34", "Л1234", "11234"]); // Z folds to 2
        assert!(SerialKeys::of("BP0746").variants().is_empty());
        for s in [
            "BP0746", "369M257", "ЛЕ1234", "AB12C", "12", "ABC", "1Ж2", "А12",
        ] {
            if !SerialKeys::has_variants(s) {
                assert!(SerialKeys::of(s).variants().is_empty(), "{s}");
            }
        }
        assert!(!SerialKeys::has_variants("BP0746"));
        assert!(SerialKeys::has_variants("369M257") && SerialKeys::has_variants("ЛЕ1234"));
        assert_eq!(SerialKeys::of("BP0746").all(), ["8P0746"]);
    }
}
