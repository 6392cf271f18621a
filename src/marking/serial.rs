//! Serial numbers: normalisation, look-alike folding, and matching with the
//! reading errors that real markings come with.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::variants::{self, SerialKeys};

/// The longest serial accepted, in characters after normalisation.
pub const MAX_SERIAL_CHARS: usize = 64;

/// Bumped whenever normalisation, folding or the variant keys of a serial
/// change, so that a registry indexed with the old rules re-places its
/// records at its next open. 1: spaces, `-`, `.`, `/` and the dashes
/// U+2010 to U+2015. 2: every separator of [`is_separator`], invisible
/// format characters, and the variant keys (transliteration, NCIC). 3:
/// look-alike folding drops diacritics from Latin, Greek and Cyrillic
/// letters ([`base_letter`]) and folds Greek capitals that look like Latin
/// ones; a combining diacritic left alone once a serial is upper-cased and
/// composed again is dropped; a Cyrillic letter with diacritics that the
/// transliteration table does not list is transliterated as its base letter
/// (`variants::cyrillic_in_latin`); the Arabic letter mark U+061C is a
/// separator, as U+200E and U+200F were. 4: every other invisible
/// character is a separator too (Unicode's default-ignorable characters:
/// variation selectors, tags, Hangul fillers, Mongolian free variation
/// selectors, the combining grapheme joiner; and the blank braille pattern
/// and interlinear annotation marks).
pub const SERIAL_RULES_VERSION: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    #[error(
        "serial is empty once spaces, dashes, dots, commas, slashes and other separators are removed"
    )]
    Empty,
    #[error("serial has {0} characters; at most {MAX_SERIAL_CHARS} are accepted")]
    TooLong(usize),
    /// A control character, a line separator or a text-direction
    /// character ([`crate::model::moves_text`]).
    #[error(
        "serial contains U+{0:04X}, a control or text-direction character; give the serial as marked"
    )]
    Control(u32),
    /// A private-use character, a noncharacter or a tag
    /// ([`is_not_readable`]): no other registry or officer writes it
    /// alike, and it prints as nothing or a box. Most often a file read in
    /// the wrong encoding (`x-user-defined` writes every byte above 127 as
    /// one).
    #[error("serial contains U+{0:04X}, {words}; give the serial as marked", words = not_readable_words(*.0))]
    NotReadable(u32),
    #[error(
        "a serial of only `*` would match every serial of the maker; give the characters that can be read, with `?` for each one that cannot"
    )]
    OnlyWildcards,
    /// Fewer than [`MIN_READ_WITH_WILDCARDS`] characters beside `?` and `*`.
    #[error(
        "a serial with `?` or `*` must keep at least {MIN_READ_WITH_WILDCARDS} characters that can be read ({0} here): with fewer it matches nearly every serial of the maker; give the characters that can be read"
    )]
    TooFewRead(usize),
}

/// The fewest characters other than `?` and `*` a marking's serial with
/// wildcards keeps (a trace's, sent to other States): `?*`, `*7` or `???`
/// would match nearly every serial of a maker, and each holder would scan
/// its whole prefix to say `too_many`. A search of the national registry
/// alone ([`SerialQuery::parse`]) refuses only a serial of `*`.
pub const MIN_READ_WITH_WILDCARDS: usize = 2;

/// Refuses a normalised serial whose wildcards leave too little to match
/// on ([`SerialError::OnlyWildcards`], [`SerialError::TooFewRead`]); one
/// without wildcards passes.
pub fn check_wildcards(normalised: &str) -> Result<(), SerialError> {
    if !normalised.contains(['?', '*']) {
        return Ok(());
    }
    if normalised.chars().all(|c| c == '*') {
        return Err(SerialError::OnlyWildcards);
    }
    let read = normalised
        .chars()
        .filter(|c| !matches!(c, '?' | '*'))
        .count();
    if read < MIN_READ_WITH_WILDCARDS {
        return Err(SerialError::TooFewRead(read));
    }
    Ok(())
}

/// Whether `c` (after NFKC) separates groups of a serial rather than being
/// part of it: white space; every Unicode dash (general category Pd, Unicode
/// 15) and the minus sign; the full stop, comma, apostrophes (thousands
/// separators of spreadsheets: `1,012,345`, `1'012'345`), underscore and
/// middle dots; and every slash, forward or backward (`66/12345` and
/// `66\12345` are one serial). Invisible characters (soft hyphen,
/// zero-width space and joiners, word joiner, byte order mark) are dropped
/// too, and the bidirectional marks (`model::is_direction_mark`; the
/// Arabic letter mark U+061C from serial rules 3): they are never part of a
/// marking. From serial rules 4, so is every other character Unicode
/// names default-ignorable (it prints as nothing: variation selectors,
/// tags, Hangul fillers, the combining grapheme joiner), and the blank
/// braille pattern and the interlinear annotation marks, which print as
/// nothing or a space: a serial `ZX\u{FE0F}77001` was stored under a key
/// no officer's reading met. The text-direction isolates U+2066 to U+2069
/// are not among them: a serial with one is refused
/// ([`crate::model::moves_text`]).
pub fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            // Dash punctuation (Pd) and the minus sign.
            '-' | '\u{058A}' | '\u{05BE}' | '\u{1400}' | '\u{1806}' | '\u{2010}'
                ..='\u{2015}'
                | '\u{2E17}' | '\u{2E1A}' | '\u{2E3A}' | '\u{2E3B}' | '\u{2E40}' | '\u{2E5D}'
                | '\u{301C}' | '\u{3030}' | '\u{30A0}' | '\u{FE31}' | '\u{FE32}' | '\u{FE58}'
                | '\u{FE63}' | '\u{FF0D}' | '\u{10EAD}' | '\u{2212}'
                // Stops, commas, apostrophes, underscores, middle dots.
                | '.' | ',' | '\'' | '_' | '\u{2019}' | '\u{00B7}' | '\u{2027}' | '\u{22C5}'
                | '\u{30FB}' | '\u{3001}' | '\u{3002}'
                // Slashes, both ways.
                | '/' | '\\' | '\u{2044}' | '\u{2215}' | '\u{29F5}' | '\u{29F8}' | '\u{29F9}'
        )
        || is_invisible(c)
}

/// Whether `c` prints as nothing (or as a blank that is no space): the
/// characters Unicode names default-ignorable (DerivedCoreProperties.txt)
/// but the text-direction isolates U+2066 to U+2069, which
/// [`crate::model::moves_text`] names; the blank braille pattern; the
/// interlinear annotation marks. Separators in a serial; refused in a
/// maker's spelling of the reference table.
pub fn is_invisible(c: char) -> bool {
    // Nearly every serial is ASCII, which holds none of them: one
    // comparison a character on an import's path.
    !c.is_ascii()
        && matches!(
            c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
                | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2065}' | '\u{206A}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Refuses a serial holding a private-use character, a noncharacter or a
/// tag ([`SerialError::NotReadable`]): what a new record or a new trace may
/// not hold. Not a rule of normalisation: a record stored, or an answer
/// signed, before the check still reads as it did.
pub fn check_readable(raw: &str) -> Result<(), SerialError> {
    match raw.chars().find(|c| is_not_readable(*c)) {
        Some(c) => Err(SerialError::NotReadable(c as u32)),
        None => Ok(()),
    }
}

/// Whether `c` is a character no registry writes alike, refused in what
/// enters a registry or a trace (serials, makers' names, models,
/// calibres) and never in what is decoded: a private-use character or a
/// noncharacter, which a file read in the wrong encoding gives, or a tag
/// (U+E0000 to U+E007F), which prints as nothing and can carry hidden text.
pub fn is_not_readable(c: char) -> bool {
    let n = c as u32;
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}' | '\u{FDD0}'..='\u{FDEF}' | '\u{E0000}'..='\u{E007F}')
        || n & 0xFFFE == 0xFFFE
}

/// What a character [`is_not_readable`] refuses is, and what to do, in
/// words that follow "holds U+XXXX, ".
pub fn not_readable_words(c: u32) -> &'static str {
    if (0xE0000..=0xE007F).contains(&c) {
        "a tag character, which prints as nothing and can carry hidden text; remove it"
    } else {
        "a private-use character or a noncharacter, which no other registry writes alike (text read in the wrong encoding gives them)"
    }
}

/// Folds case and drops separators ([`is_separator`]): the form in which two
/// readings of the same serial are equal.
pub fn normalise_serial(raw: &str) -> Result<String, SerialError> {
    let mut out = String::with_capacity(raw.len());
    // ASCII is its own NFKC form, and nearly every serial is ASCII: skipping the
    // normaliser makes import and lookup several times cheaper.
    if raw.is_ascii() {
        push_normalised(raw.chars(), &mut out)?;
    } else {
        push_normalised(raw.nfkc(), &mut out)?;
        if out.chars().any(is_loose_diacritic) {
            out = out.nfc().filter(|c| !is_loose_diacritic(*c)).collect();
        }
    }
    let n = out.chars().count();
    if n == 0 {
        return Err(SerialError::Empty);
    }
    if n > MAX_SERIAL_CHARS {
        return Err(SerialError::TooLong(n));
    }
    Ok(out)
}

fn push_normalised(chars: impl Iterator<Item = char>, out: &mut String) -> Result<(), SerialError> {
    for c in chars {
        if c.is_control() {
            return Err(SerialError::Control(c as u32));
        }
        if is_separator(c) {
            continue;
        }
        // Text-direction overrides and isolates (line separators are
        // separators above).
        if crate::model::moves_text(c) {
            return Err(SerialError::Control(c as u32));
        }
        out.extend(c.to_uppercase());
    }
    Ok(())
}

/// Maps a normalised (upper-case) character to the representative of its
/// look-alike class: a letter without its diacritics ([`base_letter`]:
/// `Ä` is `A`, `Ø` is `O`), Greek and Cyrillic capitals to the Latin letters
/// they resemble, then O/0, I/1/L, S/5, B/8, Z/2, G/6 to the digit.
pub fn fold_char(c: char) -> char {
    // ASCII has no diacritics and no other script: wildcard scans fold every
    // character of up to a whole prefix's serials.
    let c = if c.is_ascii() { c } else { base_letter(c) };
    let latin = match c {
        // Greek capitals that look like Latin ones.
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Cyrillic capitals that look like Latin ones.
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'З' => '3',
        'І' => 'I',
        'Ј' => 'J',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Ѕ' => 'S',
        'Т' => 'T',
        'У' => 'Y',
        'Х' => 'X',
        'Ь' => 'b',
        other => other,
    };
    match latin {
        'O' => '0',
        'I' | 'L' => '1',
        'S' => '5',
        'B' | 'b' => '8',
        'Z' => '2',
        'G' => '6',
        other => other,
    }
}

/// A letter of the Latin, Greek or Cyrillic scripts without its diacritics:
/// the first character of its canonical decomposition when the rest are
/// combining marks (`Ä`, `É`, `Ç`, `Ő`, `Ș`, `Ṭ`, `Ά`, `Ӧ`, `Й`), and the
/// letters drawn with a stroke that have none (`Ø` O, `Ł` L, `Đ` and `Ð` D,
/// `Ħ` H, `Ŧ` T, `Ɨ` I). A clerk or an officer without the marked letter on
/// their keyboard writes the base letter, and a marking with an accent read
/// without it is the same marking. Every other character is itself.
pub fn base_letter(c: char) -> char {
    // Latin, Greek and Cyrillic with their supplements, Latin Extended
    // Additional (Vietnamese) and Greek Extended.
    if !(c <= '\u{052F}' || ('\u{1E00}'..='\u{1FFF}').contains(&c)) {
        return c;
    }
    let (mut base, mut marks_only) = (None, true);
    unicode_normalization::char::decompose_canonical(c, |d| match base {
        None => base = Some(d),
        Some(_) => marks_only &= unicode_normalization::char::is_combining_mark(d),
    });
    let c = match base {
        Some(b) if b != c && marks_only && b.is_alphabetic() => b,
        _ => c,
    };
    // After the decomposition: `Ǿ` is `Ø` with an acute, and so `O`.
    match c {
        'Ø' => 'O',
        'Ł' => 'L',
        'Đ' | 'Ð' => 'D',
        'Ħ' => 'H',
        'Ŧ' => 'T',
        'Ɨ' => 'I',
        other => other,
    }
}

/// Whether `c` is a combining diacritical mark (U+0300 to U+036F, and the
/// extended, supplement and half-mark blocks) left alone in a serial once
/// it is upper-cased and composed again: upper case splits some letters
/// (`ǰ` is `J` and a caron; `i̇`, as lower-casing writes a Turkish `İ`, is
/// `I` and a dot) and not every pair has a composed capital. Dropped from
/// rules 3, as [`base_letter`] drops the diacritics of composed letters.
/// Marks of other scripts (Arabic vowels, Indic vowel signs) stay: they
/// are letters' parts there, not accents.
fn is_loose_diacritic(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// Why two different characters of a serial fold alike, for a match's
/// reasons: `accent` when they are one letter but for diacritics (`A`, `Ä`),
/// `look-alike` otherwise (`O`, `0`; `Ö`, `0`).
fn why_folded(read: char, recorded: char) -> &'static str {
    if base_letter(read) == base_letter(recorded) {
        "accent"
    } else {
        "look-alike"
    }
}

/// The folded form of a normalised serial: the key under which it is indexed.
pub fn fold_serial(normalised: &str) -> String {
    normalised.chars().map(fold_char).collect()
}

/// How a candidate's serial matched the query. Better matches order first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchQuality {
    /// Identical once case, spaces and separators are folded.
    Exact,
    /// Identical once look-alike characters and accents are folded too
    /// ([`fold_char`]).
    Folded,
    /// Identical once Cyrillic letters are written in Latin ones (ICAO Doc
    /// 9303; `variants::cyrillic_to_latin`), then folded: `ЛЕ1234` and
    /// `LE1234`.
    Transliterated,
    /// Identical once the letters between digits are left out (the NCIC
    /// rule: they are often dropped or misread; leading and trailing
    /// letters count): `369M257`, `369257` and `369J257`.
    EmbeddedLetters,
    /// Matched a query with obliterated characters (`?`, `*`).
    Wildcard,
}

impl fmt::Display for MatchQuality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchQuality::Exact => "exact",
            MatchQuality::Folded => "folded",
            MatchQuality::Transliterated => "transliterated",
            MatchQuality::EmbeddedLetters => "embedded_letters",
            MatchQuality::Wildcard => "wildcard",
        })
    }
}

/// The outcome of matching one serial: its quality, a score to rank within a
/// quality (lower is better), and the reasons in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialMatch {
    pub quality: MatchQuality,
    /// Look-alike substitutions plus characters covered by wildcards.
    pub distance: u32,
    pub reasons: Vec<String>,
}

/// A serial as read from a weapon, possibly with `?` (one obliterated character)
/// and `*` (a run of zero or more obliterated characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialQuery {
    normalised: Vec<char>,
    folded: Vec<char>,
    wildcards: bool,
    /// The keys of a query without wildcards (`None` with them).
    keys: Option<SerialKeys>,
}

impl SerialQuery {
    pub fn parse(raw: &str) -> Result<Self, SerialError> {
        let normalised = normalise_serial(raw)?;
        let wildcards = normalised.contains(['?', '*']);
        if wildcards && normalised.chars().all(|c| c == '*') {
            // "*" alone would match every serial of a maker. A search of
            // the national registry may read fewer characters than a
            // marking sent to other States ([`check_wildcards`]).
            return Err(SerialError::OnlyWildcards);
        }
        Ok(SerialQuery {
            folded: normalised.chars().map(fold_char).collect(),
            keys: (!wildcards).then(|| SerialKeys::of(&normalised)),
            normalised: normalised.chars().collect(),
            wildcards,
        })
    }

    pub fn has_wildcards(&self) -> bool {
        self.wildcards
    }

    /// The keys a registry looks this serial up under, the folded serial
    /// first: its folded serial and its variant keys (transliterated,
    /// without embedded letters). Empty for a query with wildcards, which
    /// scans instead ([`SerialQuery::folded_prefix`]). Every record that
    /// [`SerialQuery::matches`] has one of these as its folded serial or as
    /// one of its variant keys (`SerialKeys::variants`).
    pub fn lookup_keys(&self) -> Vec<&str> {
        self.keys.as_ref().map(SerialKeys::all).unwrap_or_default()
    }

    pub fn normalised(&self) -> String {
        self.normalised.iter().collect()
    }

    /// The folded characters every match's folded serial starts with: the whole
    /// folded serial without wildcards, the literal part before the first one
    /// otherwise. An index keyed by folded serial need scan only this prefix.
    pub fn folded_prefix(&self) -> String {
        self.folded
            .iter()
            .take_while(|c| !matches!(c, '?' | '*'))
            .collect()
    }

    /// The folded serial read as literal characters, then `?` wildcards,
    /// then the literal characters after them up to the next wildcard:
    /// `AB??123*4` is ("AB", 2, "123"). Every match's folded serial starts
    /// with the first, then that many characters, then the last.
    pub fn around_first_wildcards(&self) -> (String, usize, String) {
        let lead = self
            .folded
            .iter()
            .take_while(|c| !matches!(c, '?' | '*'))
            .count();
        let any = self.folded[lead..]
            .iter()
            .take_while(|c| **c == '?')
            .count();
        let literal = self.folded[lead + any..]
            .iter()
            .take_while(|c| !matches!(c, '?' | '*'))
            .collect();
        (self.folded[..lead].iter().collect(), any, literal)
    }

    /// Matches a record's normalised serial; `None` if it does not match.
    pub fn matches(&self, candidate: &str) -> Option<SerialMatch> {
        if self.wildcards && self.cannot_match(candidate) {
            return None;
        }
        let cand: Vec<char> = candidate.chars().collect();
        if !self.wildcards {
            return self.match_plain(&cand);
        }
        self.match_wildcard(&cand)
    }

    /// A quick test, without allocating, that rules out most candidates of a
    /// pattern without `*`: a wildcard scan may test a whole prefix's serials.
    fn cannot_match(&self, candidate: &str) -> bool {
        if self.folded.contains(&'*') {
            return false;
        }
        let mut pattern = self.folded.iter();
        for c in candidate.chars() {
            match pattern.next() {
                None => return true,
                Some('?') => {}
                Some(p) if fold_char(c) == *p => {}
                Some(_) => return true,
            }
        }
        pattern.next().is_some()
    }

    fn match_plain(&self, cand: &[char]) -> Option<SerialMatch> {
        if cand == self.normalised.as_slice() {
            return Some(SerialMatch {
                quality: MatchQuality::Exact,
                distance: 0,
                reasons: vec!["serial identical (case, spaces and separators ignored)".into()],
            });
        }
        if cand.len() != self.folded.len()
            || !cand
                .iter()
                .zip(&self.folded)
                .all(|(c, f)| fold_char(*c) == *f)
        {
            return self.match_variant(cand);
        }
        let reasons: Vec<String> = cand
            .iter()
            .zip(&self.normalised)
            .enumerate()
            .filter(|(_, (c, q))| c != q)
            .map(|(i, (c, q))| {
                format!(
                    "position {}: read {q:?}, recorded {c:?} ({})",
                    i + 1,
                    why_folded(*q, *c)
                )
            })
            .collect();
        Some(SerialMatch {
            quality: MatchQuality::Folded,
            distance: reasons.len() as u32,
            reasons,
        })
    }

    /// A match by transliteration or by the NCIC rule, once exact and
    /// folded ones have failed.
    fn match_variant(&self, cand: &[char]) -> Option<SerialMatch> {
        let q = self.keys.as_ref()?;
        let cand: String = cand.iter().collect();
        let c = SerialKeys::of(&cand);
        let read = self.normalised();
        // Without Cyrillic letters on either side, latin() is the folded
        // key, which already differs.
        if (q.transliterated.is_some() || c.transliterated.is_some()) && q.latin() == c.latin() {
            let latin = |s: &str| variants::transliterate(s).unwrap_or_else(|| s.to_string());
            let n = |s: &str| {
                s.chars()
                    .filter(|ch| variants::cyrillic_in_latin(*ch).is_some())
                    .count()
            };
            return Some(SerialMatch {
                quality: MatchQuality::Transliterated,
                distance: (n(&read) + n(&cand)) as u32,
                reasons: vec![format!(
                    "read {read:?}, recorded {cand:?}: both {:?} in Latin letters (ICAO 9303 transliteration)",
                    latin(&cand)
                )],
            });
        }
        if q.ncic() == c.ncic() || q.latin_ncic() == c.latin_ncic() {
            let (a, b) = (
                variants::embedded_letters(&read),
                variants::embedded_letters(&cand),
            );
            let letters = |v: &[char]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    format!("{:?}", v.iter().collect::<String>())
                }
            };
            // A letter misread and a letter dropped are one difference each.
            let (sa, sb): (String, String) = (a.iter().collect(), b.iter().collect());
            return Some(SerialMatch {
                quality: MatchQuality::EmbeddedLetters,
                distance: strsim::levenshtein(&sa, &sb) as u32,
                reasons: vec![format!(
                    "read {read:?}, recorded {cand:?}: the same once letters between digits are left out (NCIC rule; letters between digits read {}, recorded {})",
                    letters(&a),
                    letters(&b)
                )],
            });
        }
        None
    }

    fn match_wildcard(&self, cand: &[char]) -> Option<SerialMatch> {
        let p = &self.folded;
        let (np, nc) = (p.len(), cand.len());
        // ok[i][j]: pattern p[i..] matches cand[j..]. Serials are at most 64
        // characters, so the table is at most 65 x 65.
        let mut ok = vec![vec![false; nc + 1]; np + 1];
        ok[np][nc] = true;
        for i in (0..np).rev() {
            for j in (0..=nc).rev() {
                ok[i][j] = match p[i] {
                    '*' => ok[i + 1][j] || (j < nc && ok[i][j + 1]),
                    '?' => j < nc && ok[i + 1][j + 1],
                    pc => j < nc && fold_char(cand[j]) == pc && ok[i + 1][j + 1],
                };
            }
        }
        if !ok[0][0] {
            return None;
        }
        // Walk one alignment (a `*` covers as little as it can) to explain it.
        let (mut i, mut j) = (0, 0);
        let mut reasons = Vec::new();
        let mut distance = 0u32;
        while i < np {
            match p[i] {
                '*' => {
                    let start = j;
                    while !ok[i + 1][j] {
                        j += 1;
                    }
                    let covered: String = cand[start..j].iter().collect();
                    distance += (j - start) as u32;
                    reasons.push(format!("'*' at position {} covers {covered:?}", i + 1));
                    i += 1;
                }
                '?' => {
                    distance += 1;
                    reasons.push(format!(
                        "'?' at position {} stands for {:?}",
                        i + 1,
                        cand[j]
                    ));
                    i += 1;
                    j += 1;
                }
                _ => {
                    if cand[j] != self.normalised[i] {
                        distance += 1;
                        reasons.push(format!(
                            "position {}: read {:?}, recorded {:?} ({})",
                            i + 1,
                            self.normalised[i],
                            cand[j],
                            why_folded(self.normalised[i], cand[j])
                        ));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Some(SerialMatch {
            quality: MatchQuality::Wildcard,
            distance,
            reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> SerialQuery {
        SerialQuery::parse(s).unwrap()
    }

    #[test]
    fn normalisation_folds_case_and_separators() {
        assert_eq!(normalise_serial(" bp-07.46/a ").unwrap(), "BP0746A");
        assert_eq!(normalise_serial("ＡＢ１２").unwrap(), "AB12");
        assert_eq!(normalise_serial(" - . ").unwrap_err(), SerialError::Empty);
        assert!(matches!(
            normalise_serial("AB\u{0}1"),
            Err(SerialError::Control(0))
        ));
        assert!(matches!(
            normalise_serial(&"9".repeat(65)),
            Err(SerialError::TooLong(65))
        ));
    }

    #[test]
    fn every_separator_is_dropped_alike() {
        // `/` was a separator and `\` was not: "66\12345" missed "66/12345".
        let want = normalise_serial("66/12345").unwrap();
        for s in [
            "66\\12345",
            "66 12345",
            "66-12345",
            "66_12345",
            "66.12345",
            "66,12345",
            "66'12345",
            "66\u{2019}12345", // right single quotation mark
            "66\u{2212}12345", // minus sign
            "66\u{2013}12345", // en dash
            "66\u{FE58}12345", // small em dash
            "66\u{00B7}12345", // middle dot
            "66\u{2215}12345", // division slash
            "66\u{2044}12345", // fraction slash
            "66\u{FF3C}12345", // full-width reverse solidus
            "66\u{00AD}12345", // soft hyphen, invisible
            "66\u{200B}12345", // zero-width space
            "66\u{FEFF}12345",
            "6\u{00A0}6/\\12345", // no-break space
        ] {
            assert_eq!(normalise_serial(s).unwrap(), want, "{s:?}");
            assert_eq!(
                q(s).matches(&want).map(|m| m.quality),
                Some(MatchQuality::Exact),
                "{s:?}"
            );
        }
        assert_eq!(normalise_serial("\\/_,").unwrap_err(), SerialError::Empty);
        // Not separators: characters that may be part of a marking.
        assert_ne!(normalise_serial("66#12345").unwrap(), want);
        assert_ne!(normalise_serial("66+12345").unwrap(), want);
    }

    #[test]
    fn embedded_letters_match_below_look_alikes_and_need_no_wildcard() {
        // The NCIC rule: letters between digits are often dropped or misread.
        for read in ["369257", "369J257", "369-257", "369MM257"] {
            let m = q(read).matches("369M257").unwrap();
            assert_eq!(m.quality, MatchQuality::EmbeddedLetters, "{read}");
            assert!(m.reasons[0].contains("NCIC"), "{:?}", m.reasons);
            assert!(!q(read).has_wildcards());
        }
        assert_eq!(
            q("369M257").matches("369M257").unwrap().quality,
            MatchQuality::Exact
        );
        // The rule is symmetric: a record without the letter is found too.
        assert!(q("369M257").matches("369257").is_some());
        // Leading and trailing letters count.
        assert!(q("369257").matches("A369257").is_none());
        assert!(q("B369257").matches("A369257").is_none());
        assert!(q("369257A").matches("369257B").is_none());
        assert!(q("A369257").matches("A369X257").is_some());
        // Digits still count.
        assert!(q("369258").matches("369M257").is_none());
        let folded = q("369MZ57").matches("369M257").unwrap();
        let ncic = q("369257").matches("369M257").unwrap();
        let wild = q("369M2?7").matches("369M257").unwrap();
        assert!(MatchQuality::Exact < folded.quality);
        assert!(folded.quality < ncic.quality && ncic.quality < wild.quality);
    }

    #[test]
    fn cyrillic_and_latin_serials_match_by_transliteration() {
        let m = q("LE1234").matches("ЛЕ1234").unwrap();
        assert_eq!(m.quality, MatchQuality::Transliterated);
        assert!(m.reasons[0].contains("ICAO"), "{:?}", m.reasons);
        assert_eq!(
            q("ЛЕ1234").matches("LE1234").unwrap().quality,
            MatchQuality::Transliterated
        );
        assert_eq!(
            q("ZHSHCH12").matches("ЖЩ12").unwrap().quality,
            MatchQuality::Transliterated
        );
        // A look-alike reading (Cyrillic В looks like B) is still folded, and
        // ranks above the transliteration (В reads V).
        assert_eq!(
            q("BP0746").matches("ВР0746").unwrap().quality,
            MatchQuality::Folded
        );
        assert_eq!(
            q("VR0746").matches("ВР0746").unwrap().quality,
            MatchQuality::Transliterated
        );
        assert!(q("LE1235").matches("ЛЕ1234").is_none());
        assert!(MatchQuality::Folded < MatchQuality::Transliterated);
        assert!(MatchQuality::Transliterated < MatchQuality::EmbeddedLetters);
    }

    #[test]
    fn every_match_is_found_under_a_lookup_key() {
        // The registry's promise: a plain query's matches are indexed under
        // one of its lookup keys (folded serial or variant key).
        let records = [
            "369M257", "369257", "369J257", "ЛЕ1234", "LE1234", "ВР0746", "BP0746", "VR0746",
            "Л12Ж34", "L12ZH34", "L1234", "A369X257",
        ];
        for read in records {
            let query = q(read);
            let keys = query.lookup_keys();
            for rec in records {
                if query.matches(rec).is_none() {
                    continue;
                }
                let k = SerialKeys::of(rec);
                assert!(
                    keys.contains(&k.folded.as_str())
                        || k.variants().iter().any(|v| keys.contains(v)),
                    "{read} matches {rec} but no key finds it"
                );
            }
        }
        assert!(q("BP07?6").lookup_keys().is_empty());
    }

    #[test]
    fn look_alikes_fold_to_one_class() {
        assert_eq!(
            fold_serial("BOIS2G"),
            fold_serial("80152６".nfkc().collect::<String>().as_str())
        );
        assert_eq!(fold_serial("ВР0746"), fold_serial("BP0746")); // Cyrillic В and Р
        assert_eq!(fold_serial("L1I"), "111");
        assert_ne!(fold_serial("A1"), fold_serial("A7"));
    }

    /// A serial read or recorded with an accent, or without it, is found
    /// (`1234-ÄÖ` by `1234AO`: the forty-third session's example), below an
    /// exact match and with the reason; Greek capitals fold as Cyrillic
    /// ones do; ASCII folds as before the rule.
    #[test]
    fn letters_with_diacritics_fold_to_their_base_letter() {
        let m = q("1234AO")
            .matches(&normalise_serial("1234-äö").unwrap())
            .unwrap();
        assert_eq!((m.quality, m.distance), (MatchQuality::Folded, 2));
        assert_eq!(
            m.reasons,
            [
                "position 5: read 'A', recorded 'Ä' (accent)",
                "position 6: read 'O', recorded 'Ö' (accent)"
            ]
        );
        assert!(q("1234-ÄÖ").matches("1234AO").is_some());
        assert_eq!(
            q("1234ÄÖ").matches("1234ÄÖ").unwrap().quality,
            MatchQuality::Exact
        );
        // Both in the index under one key, and so in a blind trace's filter.
        assert_eq!(
            SerialKeys::of("1234ÄÖ").folded,
            SerialKeys::of("1234AO").folded
        );
        for (marked, plain) in [
            ("ÉÈÊËĖ", "EEEEE"),
            ("ÇŞȘŢȚ", "CSSTT"),
            ("ŐŰÑÅÃ", "OUNAA"),
            ("ØŁĐÐĦŦƗ", "OLDDHTI"),
            ("ẠỆỘ", "AEO"),
            ("ΆΈΉΌ", "AEHO"),
            ("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX"),
            ("ӦЁЇ", "OEI"),
        ] {
            assert_eq!(fold_serial(marked), fold_serial(plain), "{marked}");
        }
        // Й is И with a breve: folded together, and each stays Cyrillic.
        assert_eq!(fold_char('Й'), 'И');
        // Not letters of those scripts, or letters that are not one with a mark.
        for c in ['ß', 'Æ', 'Œ', 'Þ', 'ガ', '가', '٣', '?', '*'] {
            assert_eq!(base_letter(c), c, "{c}");
        }
        // ASCII folds as it did before rules 3.
        for c in (0u8..128).map(char::from) {
            let before = match c {
                'O' => '0',
                'I' | 'L' => '1',
                'S' => '5',
                'B' | 'b' => '8',
                'Z' => '2',
                'G' => '6',
                other => other,
            };
            assert_eq!(fold_char(c), before, "{c:?}");
        }
        // A wildcard reads accents alike, and says so.
        let w = q("1234?Ö").matches("1234AO").unwrap();
        assert_eq!(
            w.reasons.last().unwrap(),
            "position 6: read 'Ö', recorded 'O' (accent)"
        );
        // Ǿ is Ø with an acute: it folds as Ø does, and folding is stable.
        assert_eq!(fold_serial("Ǿ123"), fold_serial("O123"));
        for c in ('\u{80}'..='\u{2000}').chain(['Ǿ', 'Ø', 'Ӧ']) {
            assert_eq!(
                fold_char(fold_char(c)),
                fold_char(c),
                "{c:?} U+{:04X}",
                c as u32
            );
        }
        // Upper case splits ǰ and the i̇ lower-casing writes for İ into a
        // letter and a mark: the mark alone is dropped, not kept.
        assert_eq!(normalise_serial("1234ǰ").unwrap(), "1234J");
        assert_eq!(normalise_serial("1234i\u{307}").unwrap(), "1234İ");
        assert!(q("1234i\u{307}").matches("1234I").is_some());
        // Marks of other scripts are their letters' parts.
        assert_eq!(normalise_serial("१२क\u{94D}").unwrap(), "१२क\u{94D}");
    }

    /// A Cyrillic serial with accents the transliteration table does not
    /// list is transliterated as the serial without them: `ЍЛ123` meets
    /// `IL123` as `ИЛ123` does.
    #[test]
    fn accented_cyrillic_serials_are_transliterated_as_without_the_accents() {
        for (read, recorded) in [("IL123", "ЍЛ123"), ("ИЛ123", "ЍЛ123"), ("IL123", "ИЛ123")]
        {
            assert!(q(read).matches(recorded).is_some(), "{read} {recorded}");
            assert!(q(recorded).matches(read).is_some(), "{recorded} {read}");
            let query = q(read);
            let keys = query.lookup_keys();
            let k = SerialKeys::of(recorded);
            assert!(
                keys.contains(&k.folded.as_str()) || k.variants().iter().any(|v| keys.contains(v)),
                "{read} {recorded}"
            );
        }
    }

    /// Every invisible character is a separator (serial rules 4), and a
    /// private-use character or a noncharacter is refused in a new record
    /// or trace, naming it.
    #[test]
    fn invisible_characters_are_separators_and_private_use_is_refused() {
        for c in [
            '\u{FE0F}',
            '\u{E0041}',
            '\u{E0100}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{180B}',
            '\u{17B4}',
            '\u{FFF9}',
            '\u{034F}',
            '\u{115F}',
            '\u{2065}',
            '\u{1D173}',
        ] {
            assert_eq!(
                normalise_serial(&format!("zx{c}77")).unwrap(),
                "ZX77",
                "U+{:04X}",
                c as u32
            );
        }
        // The isolates stay refused as text-direction characters.
        assert_eq!(
            normalise_serial("ZX\u{2066}77"),
            Err(SerialError::Control(0x2066))
        );
        for c in [
            '\u{E000}',
            '\u{F7C3}',
            '\u{10FFFD}',
            '\u{FDD0}',
            '\u{FFFE}',
            '\u{1FFFF}',
        ] {
            let e = check_readable(&format!("ZX{c}77")).unwrap_err();
            assert_eq!(e, SerialError::NotReadable(c as u32));
            assert!(e.to_string().contains("wrong encoding"), "{e}");
            // Stored records and signed answers holding one still read.
            assert!(normalise_serial(&format!("ZX{c}77")).is_ok());
        }
        assert!(check_readable("ZX\u{FE0F}77 ÄÖ").is_ok());
        // A tag hides text and is refused too, saying so; stored ones read.
        let e = check_readable("ZX77\u{E0041}\u{E0042}").unwrap_err();
        assert_eq!(e, SerialError::NotReadable(0xE0041));
        assert!(e.to_string().contains("hidden text"), "{e}");
        assert_eq!(normalise_serial("ZX77\u{E0041}").unwrap(), "ZX77");
    }

    /// Folding is versioned: a change to it that does not bump
    /// [`SERIAL_RULES_VERSION`] leaves registries indexed under the old keys,
    /// found by nothing. This digest of the rules over the characters
    /// serials are made of changes with them; bump the version with it. It
    /// also changes with the Unicode tables under the rules (Rust's case
    /// and class tables, unicode-normalization's): nodes built on other
    /// tables may key a serial otherwise, which is a rules change too.
    #[test]
    fn a_change_of_the_folding_rules_bumps_their_version() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |s: &str| {
            for b in s.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for c in ('\u{20}'..='\u{2FFF}').filter(|c| !c.is_control()) {
            let s = c.to_string();
            match normalise_serial(&s) {
                Ok(n) => {
                    mix(&n);
                    mix(&fold_serial(&n));
                    mix(&SerialKeys::of(&format!("1{n}2")).all().join(","));
                }
                Err(_) => mix("-"),
            }
        }
        assert_eq!(
            (SERIAL_RULES_VERSION, h),
            (4, 7_987_384_188_551_059_815),
            "the serial rules changed (or the Unicode tables under them): bump SERIAL_RULES_VERSION and put the new digest here with it"
        );
    }

    #[test]
    fn exact_beats_folded_beats_wildcard() {
        let exact = q("bp 0746").matches("BP0746").unwrap();
        assert_eq!(exact.quality, MatchQuality::Exact);
        let folded = q("BPO746").matches("BP0746").unwrap();
        assert_eq!(folded.quality, MatchQuality::Folded);
        assert_eq!(folded.distance, 1);
        assert!(
            folded.reasons[0].contains("position 3"),
            "{:?}",
            folded.reasons
        );
        let wild = q("BP07?6").matches("BP0746").unwrap();
        assert_eq!(wild.quality, MatchQuality::Wildcard);
        assert!(exact.quality < folded.quality && folded.quality < wild.quality);
        assert!(q("BP0746").matches("BP0747").is_none());
        assert!(q("BP0746").matches("BP07460").is_none());
    }

    #[test]
    fn wildcards_cover_obliterated_characters() {
        assert!(q("B?0746").matches("BP0746").is_some());
        assert!(q("B?0746").matches("BPP0746").is_none());
        let m = q("BP*6").matches("BP0746").unwrap();
        assert_eq!(m.distance, 3);
        assert!(m.reasons[0].contains("\"074\""), "{:?}", m.reasons);
        assert!(q("*0746").matches("BP0746").is_some());
        assert!(q("BP0746*").matches("BP0746").is_some());
        assert!(q("?P0?46").matches("8P0746").is_some());
        assert!(
            q("BPO7?6")
                .matches("BP0746")
                .unwrap()
                .reasons
                .iter()
                .any(|r| r.contains("look-alike"))
        );
        assert!(q("A*B*C").matches("AXXBYYC").is_some());
        assert!(q("A*B*C").matches("AXXBYY").is_none());
        assert_eq!(
            SerialQuery::parse("**").unwrap_err(),
            SerialError::OnlyWildcards
        );
    }

    #[test]
    fn ascii_serials_normalise_as_through_nfkc() {
        for s in ["bp-07.46/a", " x y\tz ", "ab\u{7f}1", "--", "a?b*c"] {
            let slow = {
                let mut out = String::new();
                push_normalised(s.nfkc(), &mut out).map(|()| out)
            };
            let fast = {
                let mut out = String::new();
                push_normalised(s.chars(), &mut out).map(|()| out)
            };
            assert_eq!(fast, slow, "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_quick_test_never_rules_out_a_match(
            pattern in "[AB08OÄÖ?*]{1,6}",
            cand in "[AB08OÄÖ]{1,6}",
        ) {
            if let Ok(q) = SerialQuery::parse(&pattern) {
                let c: Vec<char> = cand.chars().collect();
                let slow = if q.wildcards { q.match_wildcard(&c) } else { q.match_plain(&c) };
                proptest::prop_assert_eq!(q.matches(&cand), slow);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_match_always_shares_a_lookup_key(
            read in "[0-9A-CLMOSЛЕЖВРÄÖØЙИ]{1,7}",
            rec in "[0-9A-CLMOSЛЕЖВРÄÖØЙИ]{1,7}",
        ) {
            if !SerialKeys::has_variants(&rec) {
                proptest::prop_assert!(SerialKeys::of(&rec).variants().is_empty());
            }
            let query = q(&read);
            if query.matches(&rec).is_some() {
                let keys = query.lookup_keys();
                let k = SerialKeys::of(&rec);
                proptest::prop_assert!(
                    keys.contains(&k.folded.as_str()) || k.variants().iter().any(|v| keys.contains(v))
                );
            }
        }
    }

    #[test]
    fn folded_prefix_bounds_the_scan() {
        assert_eq!(q("BP07?6").folded_prefix(), "8P07");
        assert_eq!(q("?P0746").folded_prefix(), "");
        assert_eq!(q("bpo746").folded_prefix(), "8P0746");
    }
}
