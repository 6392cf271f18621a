//! The console's languages: one Fluent catalogue per language
//! (src/console/locales/LANG.ftl, embedded in the binary). Every string an
//! officer reads comes from a catalogue; a message missing in one language
//! falls back to English (a unit test keeps the catalogues complete). Dates
//! and counts are written the language's way.
//!
//! Adding a language: a catalogue file, a [`Lang`] variant and its line in
//! [`Lang::ALL`]; the tests then say which messages it lacks.

use std::collections::HashMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};

/// A console language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Fr,
    Es,
    Ar,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Fr, Lang::Es, Lang::Ar];

    /// The BCP 47 tag, as `<html lang>` takes it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::Ar => "ar",
        }
    }

    /// The language's own name, for the switcher.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Es => "Español",
            Lang::Ar => "العربية",
        }
    }

    pub fn rtl(self) -> bool {
        matches!(self, Lang::Ar)
    }

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == s.trim())
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("locales/en.ftl"),
            Lang::Fr => include_str!("locales/fr.ftl"),
            Lang::Es => include_str!("locales/es.ftl"),
            Lang::Ar => include_str!("locales/ar.ftl"),
        }
    }

    /// Digits and group separator for counts (CLDR's defaults: Arabic
    /// writes Arabic-Indic digits).
    fn number(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = match self {
            Lang::En => ",",
            Lang::Fr => "\u{202F}",
            Lang::Es => ".",
            Lang::Ar => "\u{066C}",
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0
                && (digits.len() - i).is_multiple_of(3)
                && !(self == Lang::Es && digits.len() <= 4)
            {
                out += sep;
            }
            out.push(match self {
                Lang::Ar => char::from_u32(0x0660 + c.to_digit(10).unwrap_or(0)).unwrap_or(c),
                _ => c,
            });
        }
        out
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundles() -> &'static HashMap<Lang, Bundle> {
    static B: OnceLock<HashMap<Lang, Bundle>> = OnceLock::new();
    B.get_or_init(|| {
        Lang::ALL
            .into_iter()
            .map(|lang| {
                let id: unic_langid::LanguageIdentifier = lang.code().parse().unwrap_or_default();
                let mut b = FluentBundle::new_concurrent(vec![id]);
                // Values are isolated in the HTML (<bdi>), not with invisible
                // Unicode marks that would end up in copied serials.
                b.set_use_isolating(false);
                // A catalogue with a syntax error keeps its good messages;
                // the unit tests fail on any error.
                let res = FluentResource::try_new(lang.source().to_string())
                    .unwrap_or_else(|(res, _)| res);
                let _ = b.add_resource(res);
                (lang, b)
            })
            .collect()
    })
}

/// Translations for one page: `t.t("trace-new")`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Tr { lang }
    }

    fn format(&self, lang: Lang, id: &str, args: Option<&FluentArgs>) -> Option<String> {
        let b = bundles().get(&lang)?;
        let msg = b.get_message(id)?;
        let pattern = msg.value()?;
        let mut errors = Vec::new();
        Some(b.format_pattern(pattern, args, &mut errors).into_owned())
    }

    fn get(&self, id: &str, args: Option<&FluentArgs>) -> String {
        self.format(self.lang, id, args)
            .or_else(|| self.format(Lang::En, id, args))
            .unwrap_or_else(|| id.to_string())
    }

    /// The message `id`.
    pub fn t(&self, id: &str) -> String {
        self.get(id, None)
    }

    /// The message `id` with one argument (`{ $name }`); numbers choose the
    /// plural form.
    pub fn t1(&self, id: &str, name: &str, value: impl std::fmt::Display) -> String {
        let mut args = FluentArgs::new();
        let v = value.to_string();
        match v.parse::<u64>() {
            Ok(n) => {
                args.set(name, FluentValue::from(n));
                // `{ $name_text }`: the count written the language's way.
                args.set(
                    format!("{name}_text"),
                    FluentValue::from(self.lang.number(n)),
                );
            }
            Err(_) => args.set(name, FluentValue::from(v)),
        }
        self.get(id, Some(&args))
    }

    /// The message `id` with several text arguments.
    pub fn tn(&self, id: &str, named: &[(&str, String)]) -> String {
        let mut args = FluentArgs::new();
        for (k, v) in named {
            args.set(*k, FluentValue::from(v.clone()));
        }
        self.get(id, Some(&args))
    }

    /// A code list's word (`event-kind-export`), or the code itself in
    /// words when the catalogue lacks it.
    pub fn code(&self, list: &str, code: &str) -> String {
        let id = format!("{list}-{}", code.replace('_', "-"));
        let s = self.get(&id, None);
        if s == id { code.replace('_', " ") } else { s }
    }

    /// Where an event's counterpart stands: `to NG` for an export or a
    /// transfer, `from DE` for an import, `with X` otherwise.
    pub fn counterpart(
        &self,
        kind: crate::model::EventKind,
        c: Option<crate::model::CountryCode>,
    ) -> String {
        use crate::model::EventKind as K;
        let Some(c) = c else {
            return String::new();
        };
        let id = match kind {
            K::Exported | K::Transferred => "event-to",
            K::Imported => "event-from",
            _ => "event-with",
        };
        self.t1(id, "state", c)
    }

    /// A count written the language's way.
    pub fn num(&self, n: impl TryInto<u64>) -> String {
        self.lang.number(n.try_into().unwrap_or(0))
    }

    /// Unix seconds as a UTC date and time, when before year 10000: a time
    /// a store or a peer holds beyond that is never read as another date
    /// (it was shown as 1 January 1970, or, above `i64::MAX`, wrapped to a
    /// year before 1970).
    fn datetime(unix: u64) -> Option<time::OffsetDateTime> {
        i64::try_from(unix)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
    }

    /// A time beyond the calendar, said as its number of seconds, in ASCII
    /// digits in every language (Arabic included): a raw value, to be
    /// copied and looked up as it is stored.
    fn beyond_calendar(&self, unix: u64) -> String {
        // As text: a number argument is a float to Fluent, which would
        // round the seconds it is meant to show exactly.
        self.tn("time-beyond-calendar", &[("secs", unix.to_string())])
    }

    /// A date (day precision) written the language's way: `1 December 2026`;
    /// the number of seconds, said as such, when beyond the calendar.
    pub fn date(&self, unix: u64) -> String {
        let Some(dt) = Self::datetime(unix) else {
            return self.beyond_calendar(unix);
        };
        let mut args = FluentArgs::new();
        args.set("day", FluentValue::from(self.lang.number(dt.day() as u64)));
        args.set(
            "month",
            FluentValue::from(self.t(&format!("month-{}", u8::from(dt.month())))),
        );
        args.set("year", FluentValue::from(self.year(dt.year())));
        self.get("date-format", Some(&args))
    }

    fn year(&self, y: i32) -> String {
        // Years are not grouped (2026, not 2,026).
        let s = y.to_string();
        match self.lang {
            Lang::Ar => s
                .chars()
                .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
                .collect(),
            _ => s,
        }
    }

    /// An instant to the minute, in UTC: `1 December 2026, 05:30 UTC`; the
    /// number of seconds, said as such, when beyond the calendar.
    pub fn instant(&self, unix: u64) -> String {
        let Some(dt) = Self::datetime(unix) else {
            return self.beyond_calendar(unix);
        };
        let two = |n: u8| {
            let s = format!("{n:02}");
            match self.lang {
                Lang::Ar => s
                    .chars()
                    .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
                    .collect(),
                _ => s,
            }
        };
        let mut args = FluentArgs::new();
        args.set("date", FluentValue::from(self.date(unix)));
        args.set(
            "time",
            FluentValue::from(format!("{}:{}", two(dt.hour()), two(dt.minute()))),
        );
        self.get("instant-format", Some(&args))
    }

    /// A calendar date as recorded (`2014`, `2014-03`, `2014-03-02`), with
    /// the month in words when known.
    pub fn event_date(&self, d: &crate::model::EventDate) -> String {
        let s = d.to_string();
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            [y] => self.year(y.parse().unwrap_or(0)),
            [y, m] => format!(
                "{} {}",
                self.t(&format!("month-{}", m.parse::<u8>().unwrap_or(0))),
                self.year(y.parse().unwrap_or(0))
            ),
            _ => match crate::model::instant::parse_rfc3339(&format!("{s}T00:00:00Z")) {
                Ok(unix) => self.date(unix),
                Err(_) => s,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(lang: Lang) -> Vec<String> {
        let res = FluentResource::try_new(lang.source().to_string())
            .unwrap_or_else(|(_, e)| panic!("{}: {e:?}", lang.code()));
        res.entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Every language has every English message and nothing else: a page
    /// never falls back to English without a test failing.
    #[test]
    fn every_catalogue_is_complete_and_parses() {
        let mut en = ids(Lang::En);
        en.sort();
        assert!(en.len() > 100, "{}", en.len());
        for lang in Lang::ALL {
            let mut other = ids(lang);
            other.sort();
            let missing: Vec<_> = en.iter().filter(|i| !other.contains(i)).collect();
            let extra: Vec<_> = other.iter().filter(|i| !en.contains(i)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, extra {extra:?}",
                lang.code()
            );
        }
    }

    /// Every message a template or handler asks for exists in English.
    #[test]
    fn every_message_used_exists() {
        let en = ids(Lang::En);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut used = Vec::new();
        let mut files = vec![dir.clone()];
        while let Some(d) = files.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    files.push(p);
                } else if matches!(p.extension().and_then(|x| x.to_str()), Some("html" | "rs"))
                    && !p.ends_with("i18n.rs")
                {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for pat in ["t.t(\"", "t.t1(\"", "t.tn(\""] {
                        for (i, _) in text.match_indices(pat) {
                            let rest = &text[i + pat.len()..];
                            let id = &rest[..rest.find('"').unwrap()];
                            used.push((p.display().to_string(), id.to_string()));
                        }
                    }
                }
            }
        }
        assert!(used.len() > 50, "{}", used.len());
        // Keys looked up from a list, not written out at the call.
        used.extend(
            super::super::traces::NOTICES
                .iter()
                .map(|id| ("traces.rs NOTICES".to_string(), id.to_string())),
        );
        let missing: Vec<_> = used.iter().filter(|(_, id)| !en.contains(id)).collect();
        assert!(missing.is_empty(), "{missing:?}");
    }

    #[test]
    fn the_last_recorded_export_names_where_the_weapon_went() {
        for lang in [Lang::En, Lang::Fr, Lang::Es, Lang::Ar] {
            let said = Tr::new(lang).tn(
                "last-recorded-exported",
                &[
                    ("state", "KE".into()),
                    ("to", "NG".into()),
                    ("holder", String::new()),
                    ("date", "2014".into()),
                ],
            );
            assert!(
                said.contains("KE") && said.contains("NG") && said.contains("2014"),
                "{lang:?}: {said}"
            );
        }
    }

    #[test]
    fn counts_and_dates_are_written_the_languages_way() {
        assert_eq!(Tr::new(Lang::En).num(1234567u64), "1,234,567");
        assert_eq!(Tr::new(Lang::Fr).num(1234u64), "1\u{202F}234");
        assert_eq!(Tr::new(Lang::Es).num(1234u64), "1234");
        assert_eq!(Tr::new(Lang::Es).num(12345u64), "12.345");
        assert_eq!(Tr::new(Lang::Ar).num(1234u64), "١٬٢٣٤");
        let d = 1_796_103_000; // 2026-12-01 05:30 UTC
        assert_eq!(Tr::new(Lang::En).instant(d), "1 December 2026, 05:30 UTC");
        assert_eq!(Tr::new(Lang::Fr).date(d), "1 décembre 2026");
        assert_eq!(Tr::new(Lang::Es).date(d), "1 de diciembre de 2026");
        assert!(Tr::new(Lang::Ar).date(d).contains("ديسمبر"));
        // Beyond the calendar (a store's or a peer's wrong time): the number,
        // said as such, never 1970 or a wrapped 1969.
        for lang in Lang::ALL {
            for far in [u64::MAX, i64::MAX as u64, 253_402_300_800] {
                for said in [Tr::new(lang).date(far), Tr::new(lang).instant(far)] {
                    assert!(
                        said.contains(&far.to_string())
                            && !said.contains("1970")
                            && !said.contains("1969"),
                        "{lang:?}: {said}"
                    );
                }
            }
        }
        // The last second of year 9999 is still a date.
        assert!(Tr::new(Lang::En).instant(253_402_300_799).contains("9999"));
        assert_eq!(
            Tr::new(Lang::En).t1("answers-count", "count", 1),
            "1 answer"
        );
        // Digits for every count, one as well: "one record, 0 events" mixed
        // words and digits (a helper's re-trial).
        for lang in Lang::ALL {
            let t = Tr::new(lang);
            let said = t.tn(
                "outcome-hit",
                &[
                    ("records", t.t1("records-count", "count", 1)),
                    ("events", t.t1("events-count", "count", 0)),
                ],
            );
            assert!(
                said.contains(&t.num(1u64)) && said.contains(&t.num(0u64)),
                "{lang:?}: {said}"
            );
        }
        assert_eq!(
            Tr::new(Lang::En).t1("answers-count", "count", 2),
            "2 answers"
        );
        assert_eq!(
            Tr::new(Lang::Fr).t1("answers-count", "count", 1500),
            "1\u{202F}500 réponses"
        );
    }
}
