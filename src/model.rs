//! The shared vocabulary of a weapon's record: country codes, calendar dates,
//! weapon categories, event kinds and holder categories. Depends on nothing of ours.
//!
//! Every type here validates on construction and on deserialisation, so a value
//! that exists is a valid one, whether it came from a file, a flag or a peer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// ISO 3166-1 alpha-2 codes officially assigned (249 of them).
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether two upper-case ASCII letters are an assigned code: a table of 26 x 26
/// flags built once, since codes are checked on every decoded message.
fn assigned(code: [u8; 2]) -> bool {
    static TABLE: std::sync::LazyLock<[bool; 676]> = std::sync::LazyLock::new(|| {
        let mut t = [false; 676];
        for c in ISO_3166_ALPHA2.split(' ') {
            let b = c.as_bytes();
            t[usize::from(b[0] - b'A') * 26 + usize::from(b[1] - b'A')] = true;
        }
        t
    });
    TABLE[usize::from(code[0] - b'A') * 26 + usize::from(code[1] - b'A')]
}

/// An error in one of the vocabulary's values, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error("unknown country code {0:?}: expected an ISO 3166-1 alpha-2 code such as DE, NG or US")]
    Country(String),
    #[error("bad date {0:?}: expected a calendar date written YYYY-MM-DD")]
    Date(String),
    #[error(
        "{what} {value:?} must be 1 to {max} letters, digits, spaces or the marks - . / , + ( ) × ' \""
    )]
    Token {
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error("unknown {what} {value:?}: expected one of {expected}")]
    Enum {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A validated ISO 3166-1 alpha-2 country code, stored upper-case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            let up = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
            if assigned(up) {
                return Ok(CountryCode(up));
            }
        }
        Err(ValueError::Country(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn as_bytes(&self) -> [u8; 2] {
        self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A calendar date (proleptic Gregorian), written `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// Years before 1800 or after 2999 are refused: they are typing errors in a
    /// small-arms record, not history.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if !(1800..=2999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year.into(), month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let err = || ValueError::Date(s.to_string());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = &s[r];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        let (y, m, d) = (num(0..4), num(5..7), num(8..10));
        match (y, m, d) {
            (Some(y), Some(m), Some(d)) => Date::new(y, m as u8, d as u8).ok_or_else(err),
            _ => Err(err()),
        }
    }

    pub fn year(&self) -> u16 {
        self.year
    }
    pub fn month(&self) -> u8 {
        self.month
    }
    pub fn day(&self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn to_days(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (self.year as i64, self.month as i64, self.day as i64);
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01, if it lies in the accepted range.
    pub fn from_days(days: i64) -> Option<Self> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
        Date::new(u16::try_from(y).ok()?, m as u8, d as u8)
    }

    /// Today in UTC, from the system clock.
    pub fn today() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Date::from_days(secs.div_euclid(86_400)).unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
    }

    /// Whole years from `self` to `later` (a birthday-style difference).
    pub fn years_until(&self, later: Date) -> i32 {
        let mut y = later.year as i32 - self.year as i32;
        if (later.month, later.day) < (self.month, self.day) {
            y -= 1;
        }
        y
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl FromStr for Date {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
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
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($word => Ok($name::$variant),)+
                    other => Err(ValueError::Enum {
                        what: $what,
                        value: other.to_string(),
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

/// Declares a short, bounded token of weapon data (a model name, a calibre):
/// letters, digits and a few punctuation marks, so that no free text can ride in it.
macro_rules! bounded_token {
    ($(#[$m:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(s: &str) -> Result<Self, ValueError> {
                let t = s.trim();
                let n = t.chars().count();
                let allowed = |c: char| c.is_alphanumeric() || " -./,+()×'\"".contains(c);
                if n == 0 || n > $max || !t.chars().all(allowed) {
                    return Err(ValueError::Token {
                        what: $what,
                        value: s.chars().take(80).collect(),
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

bounded_token!(
    /// A weapon's model designation, such as `P99` or `AK-47`.
    ModelName, "model", 40
);
bounded_token!(
    /// A calibre, such as `9x19mm`, `7.62×39mm` or `.45 ACP`.
    Calibre, "calibre", 24
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_validated_and_folded() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert_eq!(CountryCode::parse(" NG ").unwrap().as_str(), "NG");
        assert!(CountryCode::parse("XX").is_err());
        assert!(CountryCode::parse("DEU").is_err());
        assert!(CountryCode::parse("").is_err());
        assert!(CountryCode::parse("D\u{e9}").is_err());
    }

    #[test]
    fn dates_validate_the_calendar() {
        assert_eq!(Date::parse("2009-03-14").unwrap().to_string(), "2009-03-14");
        assert!(Date::parse("2009-02-29").is_err());
        assert!(Date::parse("2008-02-29").is_ok());
        assert!(Date::parse("1900-02-29").is_err());
        assert!(Date::parse("2000-02-29").is_ok());
        for bad in [
            "2009-3-14",
            "2009/03/14",
            "+009-03-14",
            "2009-13-01",
            "0000-01-01",
            "",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(Date::parse("1970-01-01").unwrap().to_days(), 0);
        assert_eq!(Date::parse("2000-03-01").unwrap().to_days(), 11_017);
        for d in (-50_000..200_000).step_by(97) {
            let date = Date::from_days(d).unwrap();
            assert_eq!(date.to_days(), d);
        }
    }

    #[test]
    fn years_between_dates() {
        let a = Date::parse("1990-06-15").unwrap();
        assert_eq!(a.years_until(Date::parse("2020-06-14").unwrap()), 29);
        assert_eq!(a.years_until(Date::parse("2020-06-15").unwrap()), 30);
    }

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
    }

    #[test]
    fn tokens_hold_weapon_data_not_free_text() {
        assert_eq!(Calibre::parse(" 7.62×39mm ").unwrap().as_str(), "7.62×39mm");
        assert!(Calibre::parse(".45 ACP").is_ok());
        assert!(ModelName::parse("AK-47").is_ok());
        assert!(ModelName::parse("").is_err());
        assert!(ModelName::parse("P99; seized at the house of J. Smith on Elm Street").is_err());
        assert!(Calibre::parse("9mm\nnote").is_err());
        assert!(serde_json::from_str::<Calibre>("\"9x19mm\"").is_ok());
    }
}

/// `n` and a noun in the right number, for people: `1 record`, `2 records`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with(['s', 'x']) || noun.ends_with("ch") {
        format!("{n} {noun}es")
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
    }
}

/// Instants in the JSON vocabulary. A field holding Unix seconds (`u64`) and
/// marked `#[serde(with = "crate::model::instant")]` is written:
/// - in JSON (and every human-readable format): an RFC 3339 UTC string with
///   second precision, `"2026-12-01T02:39:34Z"` (instants past 9999 are written
///   as `"9999-12-31T23:59:59Z"`);
/// - in bincode (the wire, which is not human-readable): the `u64` itself, so
///   signed messages and test vectors are unchanged by the JSON form.
///
/// Reading JSON accepts an RFC 3339 string with any offset, or a number of Unix
/// seconds (what stores and files written before this form hold).
pub mod instant {
    use std::collections::BTreeMap;

    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// The RFC 3339 form of `secs`.
    pub fn to_rfc3339(secs: u64) -> String {
        let clamped = i64::try_from(secs).unwrap_or(i64::MAX).min(253_402_300_799);
        time::OffsetDateTime::from_unix_timestamp(clamped)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
    }

    /// Unix seconds from an RFC 3339 string; instants before 1970 are refused.
    pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2026-12-01T02:39:34Z: {e}"))?;
        u64::try_from(t.unix_timestamp())
            .map_err(|_| format!("{s:?} is before 1970-01-01T00:00:00Z"))
    }

    pub fn serialize<S: Serializer>(secs: &u64, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&to_rfc3339(*secs))
        } else {
            s.serialize_u64(*secs)
        }
    }

    struct Either;

    impl Visitor<'_> for Either {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an RFC 3339 time like \"2026-12-01T02:39:34Z\", or Unix seconds")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a time before 1970"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_rfc3339(v).map_err(E::custom)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(Either)
        } else {
            u64::deserialize(d)
        }
    }

    /// One instant as a value of its own, for containers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Instant(pub u64);

    impl Serialize for Instant {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for Instant {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(Instant)
        }
    }

    /// For `Option<u64>` fields: `null` or an instant.
    pub mod option {
        use super::Instant;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            v.map(Instant).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            Ok(Option::<Instant>::deserialize(d)?.map(|i| i.0))
        }
    }

    /// For maps whose values are instants (`BTreeMap<String, u64>`).
    pub mod map {
        use super::{BTreeMap, Instant};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(
            v: &BTreeMap<String, u64>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            v.iter()
                .map(|(k, t)| (k, Instant(*t)))
                .collect::<BTreeMap<_, _>>()
                .serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<String, u64>, D::Error> {
            Ok(BTreeMap::<String, Instant>::deserialize(d)?
                .into_iter()
                .map(|(k, i)| (k, i.0))
                .collect())
        }
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct T {
            #[serde(with = "super")]
            at: u64,
            #[serde(with = "super::option")]
            until: Option<u64>,
        }

        #[test]
        fn json_speaks_rfc3339_and_the_wire_keeps_seconds() {
            let t = T {
                at: 1_796_093_381,
                until: None,
            };
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, r#"{"at":"2026-12-01T02:49:41Z","until":null}"#);
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
            // What stores written before hold: numbers.
            let old: T = serde_json::from_str(r#"{"at":1796093381,"until":5}"#).unwrap();
            assert_eq!((old.at, old.until), (1_796_093_381, Some(5)));
            // Any offset is read.
            let off: T =
                serde_json::from_str(r#"{"at":"2026-12-01T03:49:41+01:00","until":null}"#).unwrap();
            assert_eq!(off.at, 1_796_093_381);
            assert!(serde_json::from_str::<T>(r#"{"at":"01/12/2026","until":null}"#).is_err());
            assert!(serde_json::from_str::<T>(r#"{"at":-1,"until":null}"#).is_err());
            // bincode: the u64 as before.
            let bin = crate::codec::to_bytes(&t).unwrap();
            let plain = crate::codec::to_bytes(&(1_796_093_381u64, Option::<u64>::None)).unwrap();
            assert_eq!(bin, plain);
            assert_eq!(super::to_rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
        }
    }
}
