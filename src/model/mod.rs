//! The shared vocabulary of a weapon's record: country codes (with the former
//! States of ISO 3166-3), calendar dates and event dates with their precision,
//! weapon categories, event kinds, holder categories and descriptive text.
//! Depends on nothing of ours but `codec` (in tests).
//!
//! Every type here validates on construction and on deserialisation, so a value
//! that exists is a valid one, whether it came from a file, a flag or a peer.

mod country;
mod date;
pub mod file;
pub mod instant;
pub mod target;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

pub use country::CountryCode;
pub use date::{Date, EventDate, Precision};

/// An error in one of the vocabulary's values, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error(
        "unknown country code {0:?}: expected an ISO 3166-1 alpha-2 code such as DE, NG or US, or a former State's: YU (YUCS), CS (CSHH), SU (SUHH), DD (DDDE)"
    )]
    Country(String),
    /// A former State's code that cannot be taken as written.
    #[error("{value}: {reason}")]
    FormerCountry { value: String, reason: &'static str },
    #[error(
        "bad date {0:?}: expected a calendar date written YYYY-MM-DD, from 1800-01-01 to 2999-12-31"
    )]
    Date(String),
    /// An event date that does not parse: `hint` says why and what to write.
    #[error("bad date {value:?}: {hint}")]
    EventDate { value: String, hint: String },
    /// Descriptive text that is empty, too long or not printable.
    #[error("{what} {value:?}: {problem}; 1 to {max} printable characters are accepted")]
    Text {
        what: &'static str,
        value: String,
        problem: String,
        max: usize,
    },
    #[error("unknown {what} {value:?}: expected one of {expected}")]
    Enum {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Declares a closed vocabulary: a snake_case serde enum with `FromStr`,
/// `Display`, `ALL` and an error that lists the accepted words.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
        pub enum $name {
            $( #[serde(rename = $word)] $variant, )+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const WORDS: &'static str = concat!($($word, " "),+);

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $word,)+ }
            }

            /// In words, for people: the code with spaces (`state police`).
            pub fn words(&self) -> String {
                self.as_str().replace('_', " ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// The code in any case, with spaces or hyphens for its
        /// underscores (`Pistol`, `state police`, `State-Police`), as
        /// CSV cells, flags and forms write it; JSON takes the code alone.
        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let code: String = s
                    .trim()
                    .chars()
                    .map(|c| match c {
                        ' ' | '-' => '_',
                        c => c.to_ascii_lowercase(),
                    })
                    .collect();
                match code.as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err(ValueError::Enum {
                        what: $what,
                        value: s.trim().to_string(),
                        expected: $name::WORDS.trim_end(),
                    }),
                }
            }
        }
    };
}

vocabulary!(
    /// What happened to a weapon (ITI para 11 to 13).
    EventKind, "event kind", {
        Manufactured => "manufactured",
        Exported => "exported",
        Imported => "imported",
        Transferred => "transferred",
        Lost => "lost",
        Stolen => "stolen",
        Seized => "seized",
        Surrendered => "surrendered",
        Deactivated => "deactivated",
        Destroyed => "destroyed",
    }
);

vocabulary!(
    /// Who held a weapon, as a category: the only description of a holder that
    /// may cross a border.
    HolderCategory, "holder category", {
        Manufacturer => "manufacturer",
        StateMilitary => "state_military",
        StatePolice => "state_police",
        StateOther => "state_other",
        LicensedDealer => "licensed_dealer",
        LicensedCivilian => "licensed_civilian",
        Unknown => "unknown",
    }
);

vocabulary!(
    /// The kind of weapon (small arms and light weapons, ITI para 4).
    WeaponCategory, "weapon category", {
        Pistol => "pistol",
        Revolver => "revolver",
        Rifle => "rifle",
        Carbine => "carbine",
        AssaultRifle => "assault_rifle",
        SubmachineGun => "submachine_gun",
        Shotgun => "shotgun",
        LightMachineGun => "light_machine_gun",
        HeavyMachineGun => "heavy_machine_gun",
        GrenadeLauncher => "grenade_launcher",
        Mortar => "mortar",
        Other => "other",
    }
);

impl EventKind {
    /// Manufacturing records are kept at least 30 years, all others at least 20
    /// (ITI para 12).
    pub fn retention_years(&self) -> i32 {
        match self {
            EventKind::Manufactured => 30,
            _ => 20,
        }
    }

    /// The events after which a weapon is no longer under lawful control.
    pub fn is_diversion(&self) -> bool {
        matches!(self, EventKind::Lost | EventKind::Stolen)
    }
}

/// Whether `c` is a control character (C0 or C1), a line or paragraph
/// separator, or a bidirectional embedding, override, isolate or mark
/// ([`is_direction_mark`]): a character that can start a new line in a
/// terminal, drive it (escape sequences), or reorder the text shown around
/// it. Never part of a marking: a maker's name or a serial holding one could
/// print as another record, or hide what follows it in `trace show`.
pub fn moves_text(c: char) -> bool {
    c.is_control()
        || is_direction_mark(c)
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is an invisible bidirectional mark: the left-to-right mark
/// U+200E, the right-to-left mark U+200F and the Arabic letter mark U+061C.
/// Text copied from a right-to-left document often carries them; they
/// reorder the neutral characters around them (a `(DE)` after a name can
/// print as `)DE(` before it).
pub fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// `t` without the characters [`moves_text`] names, each run of them one
/// space (a line break or tab between words stays a space between them;
/// none is left at either end: a right-to-left mark pasted before a name
/// leaves nothing): how every marking is read where it is decoded.
/// Borrowed when there is none.
pub fn without_moving(t: &str) -> std::borrow::Cow<'_, str> {
    if !t.chars().any(moves_text) {
        return std::borrow::Cow::Borrowed(t);
    }
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        if !moves_text(c) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            // A space, not nothing: `Glock\u{202E}GmbH` stays two words, as
            // a maker's name folds by its words.
            out.push(' ');
        }
    }
    std::borrow::Cow::Owned(out.trim_end().to_string())
}

/// Why `t` is not printable text: the first character that is a control
/// character, or one that changes how text around it is shown without being
/// seen (bidirectional overrides, zero-width characters, line separators),
/// which could make a record read as something it is not.
pub fn unprintable(t: &str) -> Option<String> {
    let hidden = |c: char| {
        matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}' | '\u{FFFE}' | '\u{FFFF}')
    };
    t.chars()
        .find(|c| c.is_control() || hidden(*c))
        .map(|c| format!("it holds the unprintable character U+{:04X}", c as u32))
}

/// Declares descriptive text of a weapon (a model name, a calibre): any
/// printable text up to a length, trimmed. Descriptive fields do not identify
/// a weapon, so real names such as `M&P9` or `Vz. 58 "Kompakt"` are taken as
/// written; only the length bounds what can ride in them.
macro_rules! descriptive_text {
    ($(#[$m:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted, in characters (Unicode scalar values).
            pub const MAX_CHARS: usize = $max;

            /// Trims `s` and accepts it if it is 1 to `MAX_CHARS` printable
            /// characters (see [`unprintable`]).
            pub fn parse(s: &str) -> Result<Self, ValueError> {
                let t = s.trim();
                let n = t.chars().count();
                let problem = if n == 0 {
                    Some("it is empty".to_string())
                } else if n > $max {
                    Some(format!("it is {n} characters long"))
                } else {
                    unprintable(t)
                };
                if let Some(problem) = problem {
                    return Err(ValueError::Text {
                        what: $what,
                        value: s.chars().take(80).collect(),
                        problem,
                        max: $max,
                    });
                }
                Ok($name(t.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

descriptive_text!(
    /// A weapon's model designation, such as `P99`, `AK-47` or `M&P9`.
    ModelName, "model", 40
);
descriptive_text!(
    /// A calibre, such as `9x19mm`, `7.62×39mm`, `.45 ACP` or `12/70`.
    Calibre, "calibre", 24
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_words_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), *k);
            assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{k}\""));
        }
        let e = "sold".parse::<EventKind>().unwrap_err().to_string();
        assert!(e.contains("manufactured") && e.contains("sold"), "{e}");
        assert!("state_police".parse::<HolderCategory>().is_ok());
        assert!("pistol".parse::<WeaponCategory>().is_ok());
        // As spreadsheets and people write codes (a helper's trial: "Pistol"
        // refused where "de" was taken as a country).
        assert_eq!(
            "Pistol".parse::<WeaponCategory>(),
            Ok(WeaponCategory::Pistol)
        );
        assert_eq!(
            " Assault Rifle".parse::<WeaponCategory>(),
            Ok(WeaponCategory::AssaultRifle)
        );
        assert_eq!(
            "State-Police".parse::<HolderCategory>(),
            Ok(HolderCategory::StatePolice)
        );
        assert!("pistoll".parse::<WeaponCategory>().is_err());
    }

    #[test]
    fn descriptive_text_is_any_printable_text_up_to_its_length() {
        assert_eq!(Calibre::parse(" 7.62×39mm ").unwrap().as_str(), "7.62×39mm");
        for model in [
            "M&P9",
            "AK-47",
            "Vz. 58 \"Kompakt\"",
            "SIG P226 [X-Five]",
            "Ижмаш #1",
            "FN 5.7@x",
        ] {
            assert_eq!(ModelName::parse(model).unwrap().as_str(), model);
        }
        assert!(Calibre::parse(".45 ACP").is_ok());
        assert!(Calibre::parse("12/70; 3\"").is_ok());
        assert!(serde_json::from_str::<Calibre>("\"9x19mm\"").is_ok());
        assert!(serde_json::from_str::<ModelName>("\"M&P9\"").is_ok());
        // Empty, too long, or holding what a reader cannot see: refused, saying why.
        let e = ModelName::parse("  ").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = ModelName::parse("P99; seized at the house of J. Smith on Elm Street")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("50 characters long") && e.contains("1 to 40"),
            "{e}"
        );
        assert!(ModelName::parse(&"é".repeat(40)).is_ok());
        assert!(ModelName::parse(&"é".repeat(41)).is_err());
        for bad in [
            "9mm\nnote",
            "P99\u{0}",
            "P\u{202E}99",
            "P\u{200B}99",
            "P\tnote",
        ] {
            let e = Calibre::parse(bad).unwrap_err().to_string();
            assert!(e.contains("unprintable character U+"), "{bad:?}: {e}");
        }
    }
}

/// `n` and a noun in the right number, for people: `1 record`, `2 records`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with(['s', 'x']) || noun.ends_with("ch") {
        format!("{n} {noun}es")
    } else if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'o', 'u'])
    {
        format!("{n} {stem}ies")
    } else {
        format!("{n} {noun}s")
    }
}

/// Unix seconds as a UTC date and time for people, `2026-11-30 22:51 UTC`;
/// the number itself when it is out of the calendar's range.
pub fn format_unix(secs: u64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod format_tests {
    #[test]
    fn unix_seconds_read_as_a_utc_date() {
        assert_eq!(super::format_unix(1_796_082_660), "2026-11-30 23:51 UTC");
        assert_eq!(super::format_unix(u64::MAX), u64::MAX.to_string());
        assert_eq!(super::count(1, "record"), "1 record");
        assert_eq!(super::count(0, "record"), "0 records");
        assert_eq!(super::count(2, "marking prefix"), "2 marking prefixes");
        assert_eq!(super::count(2, "entry"), "2 entries");
        assert_eq!(super::count(2, "day"), "2 days");
    }
}
