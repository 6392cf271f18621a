//! A national record in the canonical interchange format (proto-docs/FORMATS.md).
//! It holds national-only details (`reference`, `note`): this type never crosses
//! a border; the protocol's record projection is what does.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::marking::Marking;
use crate::model::{
    Calibre, CountryCode, Date, EventDate, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// At most this many events in one record's life cycle.
pub const MAX_EVENTS: usize = 256;
/// The longest national-only text accepted, in characters.
pub const MAX_NATIONAL_TEXT_CHARS: usize = 4096;

/// A record's identifier within its national registry: 1 to 64 characters among
/// letters, digits and `. _ : -`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecordId(String);

impl RecordId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if ok {
            Ok(RecordId(s.to_string()))
        } else {
            Err(format!(
                "record id {:?} must be 1 to 64 letters, digits or . _ : -",
                s.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.0)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RecordId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Free text that stays in the national registry: a transfer reference or an
/// officer's note. Bounded, without control characters other than tab and newline.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NationalText(String);

impl NationalText {
    pub fn parse(s: &str) -> Result<Self, String> {
        // A Windows line end is a line end (a helper's trial: an API
        // client's "a\r\nb" was refused for its U+000D).
        let crlf;
        let s = if s.contains("\r\n") {
            crlf = s.replace("\r\n", "\n");
            crlf.as_str()
        } else {
            s
        };
        let n = s.chars().count();
        if n > MAX_NATIONAL_TEXT_CHARS {
            return Err(format!(
                "text of {n} characters; at most {MAX_NATIONAL_TEXT_CHARS} are accepted"
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            return Err(format!(
                "text contains the control character U+{:04X}",
                c as u32
            ));
        }
        Ok(NationalText(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NationalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keeps national text out of debug logs by accident.
        write!(f, "NationalText({} chars)", self.0.chars().count())
    }
}

impl<'de> Deserialize<'de> for NationalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        NationalText::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One event in a weapon's life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// To the day, month or year, as the registry knows it.
    pub date: EventDate,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<HolderCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterpart: Option<CountryCode>,
    /// National only: a licence, transfer or case reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<NationalText>,
    /// National only: an officer's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<NationalText>,
}

/// A weapon's record as the national registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: RecordId,
    pub marking: Marking,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelName>,
    pub category: WeaponCategory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibre: Option<Calibre>,
    #[serde(default)]
    pub confidential: bool,
    #[serde(default)]
    pub events: Vec<Event>,
}

impl Record {
    /// Checks what the field types cannot: a registry holds whole serials, not
    /// partial readings, and a bounded life cycle. Returns the field and reason.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.marking.has_wildcards() {
            return Err((
                "marking.serial".into(),
                "a record's serial may not contain '?' or '*'; those are for trace queries".into(),
            ));
        }
        if self.events.len() > MAX_EVENTS {
            return Err((
                "events".into(),
                format!(
                    "{} events; at most {MAX_EVENTS} are accepted",
                    self.events.len()
                ),
            ));
        }
        Ok(())
    }

    /// [`Record::check`], and what a record entering the registry may not
    /// hold that one stored before may: a private-use character, a
    /// noncharacter or a tag ([`crate::marking::is_not_readable`]) in the
    /// serial, the maker's name, the model or the calibre. No other
    /// registry or officer writes them alike (a file read in the wrong
    /// encoding gives the first two), and tags carry hidden text. Not
    /// checked when a stored record or a signed answer is read, so that
    /// none stored before fails to decode. Returns the field and why.
    pub fn check_new(&self) -> Result<(), (String, String)> {
        self.check()?;
        // Said of a file: the option that reads it in another encoding.
        let hint = |c: u32| {
            if (0xE0000..=0xE007F).contains(&c) {
                ""
            } else {
                "; check the file's --encoding"
            }
        };
        if let Err(e) = crate::marking::check_readable(self.marking.serial()) {
            let crate::marking::SerialError::NotReadable(c) = e else {
                return Err(("marking.serial".to_string(), e.to_string()));
            };
            return Err(("marking.serial".to_string(), format!("{e}{}", hint(c))));
        }
        let texts = [
            ("marking.manufacturer", Some(self.marking.manufacturer())),
            ("model", self.model.as_ref().map(|m| m.as_str())),
            ("calibre", self.calibre.as_ref().map(|c| c.as_str())),
        ];
        for (field, text) in texts {
            let found = text.and_then(|t| t.chars().find(|c| crate::marking::is_not_readable(*c)));
            if let Some(c) = found {
                return Err((
                    field.to_string(),
                    format!(
                        "it holds U+{:04X}, {}; give it as written{}",
                        c as u32,
                        crate::marking::not_readable_words(c as u32),
                        hint(c as u32)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether every event is older than its ITI retention minimum (30 years for
    /// manufacture, 20 for the rest) on `today`, counted from the last day of
    /// a partial date's period. A record with no events is not.
    pub fn past_retention(&self, today: Date) -> bool {
        !self.events.is_empty()
            && self
                .events
                .iter()
                .all(|e| e.date.years_until(today) >= e.kind.retention_years())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"id":"DE-0000042","marking":{"manufacturer":"Walther","country":"DE","serial":"BP0746","year":2009,"imports":[{"country":"NG","year":2009}]},"model":"P99","category":"pistol","calibre":"9x19mm","confidential":false,"events":[{"date":"2009-03-14","kind":"manufactured","holder":"manufacturer"},{"date":"2009-09-19","kind":"exported","counterpart":"NG","reference":"EXP-2009-0042"},{"date":"2011-02-01","kind":"stolen","holder":"state_police","note":"free text, national only"}]}"#;

    #[test]
    fn the_documented_sample_parses_and_round_trips() {
        let r: Record = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(r.events.len(), 3);
        let again = serde_json::to_string(&r).unwrap();
        let r2: Record = serde_json::from_str(&again).unwrap();
        assert_eq!(r, r2);
        assert_eq!(serde_json::to_string(&r2).unwrap(), again);
    }

    #[test]
    fn national_text_is_hidden_from_debug_output() {
        let r: Record = serde_json::from_str(SAMPLE).unwrap();
        assert!(!format!("{r:?}").contains("free text"));
    }

    #[test]
    fn retention_follows_the_iti_minimums() {
        let mut r: Record = serde_json::from_str(SAMPLE).unwrap();
        r.events.truncate(1); // manufactured 2009-03-14
        assert!(!r.past_retention(Date::parse("2039-03-13").unwrap()));
        assert!(r.past_retention(Date::parse("2039-03-14").unwrap()));
        r.events[0].kind = EventKind::Exported;
        assert!(r.past_retention(Date::parse("2029-03-14").unwrap()));
    }

    /// A maker's name, model or calibre read in the wrong encoding (private
    /// use), or carrying hidden tag characters, is refused on entry, naming
    /// the field; a stored record holding one still decodes.
    #[test]
    fn text_no_registry_writes_alike_is_refused_on_entry_only() {
        let good: Record = serde_json::from_str(SAMPLE).unwrap();
        assert!(good.check_new().is_ok());
        for (field, from, to) in [
            ("marking.manufacturer", "Walther", "Walther\u{F7C4}"),
            ("model", "P99", "P\u{E041}99"),
            ("calibre", "9x19mm", "9x19mm\u{E0041}\u{E007F}"),
            ("calibre", "9x19mm", "9x19\u{FDD0}mm"),
        ] {
            let json = SAMPLE.replace(&format!("\"{from}\""), &format!("\"{to}\""));
            let r: Record = serde_json::from_str(&json).unwrap();
            let (f, why) = r.check_new().unwrap_err();
            assert_eq!(f, field, "{to:?}");
            let tag = to.chars().any(|c| ('\u{E0000}'..='\u{E007F}').contains(&c));
            let said = if tag { "hidden text" } else { "--encoding" };
            assert!(why.contains(said), "{why}");
            assert!(r.check().is_ok(), "{to:?}");
        }
        // Japanese names may carry ideographic variation selectors.
        let json = SAMPLE.replace("\"P99\"", "\"\u{845B}\u{E0100}\"");
        let r: Record = serde_json::from_str(&json).unwrap();
        assert!(r.check_new().is_ok());
    }

    #[test]
    fn ids_are_bounded() {
        assert!(RecordId::parse("DE-0000042").is_ok());
        assert!(RecordId::parse("").is_err());
        assert!(RecordId::parse("a b").is_err());
        assert!(RecordId::parse(&"a".repeat(65)).is_err());
    }
}
