//! Dates: whole calendar days ([`Date`], for rosters and clocks) and the dates
//! of events in a weapon's life ([`EventDate`]), which registries often know
//! only to the month or the year.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValueError;

/// The years a date may name: others are typing errors in a small-arms
/// record, not history.
const YEARS: std::ops::RangeInclusive<u16> = 1800..=2999;

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

/// The digits of `s`, if it is 1 to 4 ASCII digits.
fn digits(s: &str) -> Option<u16> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl Date {
    /// Years before 1800 or after 2999 are refused: they are typing errors in a
    /// small-arms record, not history.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if !YEARS.contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year.into(), month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        // A value echoed back is cut: it may be anything a user pasted.
        let err = || {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            ValueError::Date(shown)
        };
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err());
        }
        let (y, m, d) = (digits(&s[0..4]), digits(&s[5..7]), digits(&s[8..10]));
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

/// How much of an event's date is known, coarsest first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Year,
    Month,
    Day,
}

impl Precision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Precision::Year => "year",
            Precision::Month => "month",
            Precision::Day => "day",
        }
    }
}

/// The date of an event in a weapon's life, to the precision the registry
/// knows it: a day (`1985-03-14`), a month (`1985-03`) or a year (`1985`).
/// It is written in that form everywhere (JSON, the wire, every output), so
/// a date known to the year is never shown as a day it is not.
///
/// Ordering (`Ord`) is by the first day of the period, a less precise date
/// before a more precise one starting that day: `1985` < `1985-01` <
/// `1985-01-01` < `1985-01-02` < `1985-02`. The chain of custody places
/// partial dates among other events by its own rule (`node::custody`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventDate {
    year: u16,
    /// 1 to 12; 0 when only the year is known.
    month: u8,
    /// 1 to the month's length; 0 when not known.
    day: u8,
}

/// What is expected of an event date, for error messages.
const EXPECTED: &str = "write YYYY-MM-DD (1985-03-14), or YYYY-MM (1985-03) or YYYY (1985) when only the month or the year is known";

impl EventDate {
    /// A date from its parts; 0 or `None` for an unknown month or day (as
    /// MySQL's `1985-00-00`). `None` for a day without its month or a date
    /// that is not in the calendar.
    pub fn new(year: u16, month: Option<u8>, day: Option<u8>) -> Option<Self> {
        let (month, day) = (month.unwrap_or(0), day.unwrap_or(0));
        if !YEARS.contains(&year) || month > 12 {
            return None;
        }
        if day != 0 && (month == 0 || day > days_in_month(year.into(), month)) {
            return None;
        }
        Some(EventDate { year, month, day })
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM` or `YYYY`, and the zero forms of MySQL
    /// exports, `YYYY-MM-00` and `YYYY-00-00`. National forms (`14/03/1985`,
    /// `03/14/1985`, `14.03.1985`) are refused with the expected form and,
    /// where the order of day and month is certain, the date it would be.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let err = |hint: String| ValueError::EventDate {
            value: s.chars().take(40).collect(),
            hint,
        };
        let parts: Vec<&str> = s.split('-').collect();
        let widths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        let nums: Option<Vec<u16>> = parts.iter().map(|p| digits(p)).collect();
        let Some(nums) = nums.filter(|_| matches!(widths[..], [4] | [4, 2] | [4, 2, 2])) else {
            return Err(err(national_hint(s)));
        };
        let (year, month, day) = (
            nums[0],
            nums.get(1).copied().unwrap_or(0) as u8,
            nums.get(2).copied().unwrap_or(0) as u8,
        );
        if year == 0 {
            return Err(err(format!(
                "a zero date (as MySQL writes an unknown one): an event needs at least its year; {EXPECTED}"
            )));
        }
        if !YEARS.contains(&year) {
            return Err(err(format!(
                "the year must be from 1800 to 2999; {EXPECTED}"
            )));
        }
        if month == 0 && day != 0 {
            return Err(err(format!("a day without its month; {EXPECTED}")));
        }
        EventDate::new(year, Some(month), Some(day))
            .ok_or_else(|| err(format!("not a day of the calendar; {EXPECTED}")))
    }

    /// A whole day.
    pub fn from_day(d: Date) -> Self {
        EventDate {
            year: d.year,
            month: d.month,
            day: d.day,
        }
    }

    pub fn precision(&self) -> Precision {
        match (self.month, self.day) {
            (0, _) => Precision::Year,
            (_, 0) => Precision::Month,
            _ => Precision::Day,
        }
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1 to 12, if known.
    pub fn month(&self) -> Option<u8> {
        (self.month != 0).then_some(self.month)
    }

    /// The day of the month, if known.
    pub fn day(&self) -> Option<u8> {
        (self.day != 0).then_some(self.day)
    }

    /// The whole day, when the date is known to the day.
    pub fn as_day(&self) -> Option<Date> {
        (self.precision() == Precision::Day).then(|| self.first_day())
    }

    /// The first day of the period the date names (`1985` → `1985-01-01`).
    pub fn first_day(&self) -> Date {
        Date {
            year: self.year,
            month: self.month.max(1),
            day: self.day.max(1),
        }
    }

    /// The last day of the period the date names (`1985-02` → `1985-02-28`).
    pub fn last_day(&self) -> Date {
        let month = if self.month == 0 { 12 } else { self.month };
        let day = if self.day == 0 {
            days_in_month(self.year.into(), month)
        } else {
            self.day
        };
        Date {
            year: self.year,
            month,
            day,
        }
    }

    /// The date told no more precisely than `to`: `1985-03-14` reduced to the
    /// month is `1985-03`; a date already coarser stays as it is.
    pub fn reduced(self, to: Precision) -> Self {
        match to {
            Precision::Year => EventDate {
                month: 0,
                day: 0,
                ..self
            },
            Precision::Month => EventDate { day: 0, ..self },
            Precision::Day => self,
        }
    }

    /// Whole years from the end of the period to `later`: a record whose
    /// event is known only to the year is kept as if it happened on its
    /// last day, so never less than a retention minimum.
    pub fn years_until(&self, later: Date) -> i32 {
        self.last_day().years_until(later)
    }
}

impl From<Date> for EventDate {
    fn from(d: Date) -> Self {
        EventDate::from_day(d)
    }
}

/// A hint for a date not written year first: which form it seems to be in.
fn national_hint(s: &str) -> String {
    let t = s.trim();
    if t != s {
        return format!("spaces around the date; {EXPECTED}");
    }
    if let Some((day, _)) = t.split_once(['T', ' '])
        && EventDate::parse(day).is_ok()
    {
        return format!("a time of day is not part of an event's date; write {day}");
    }
    let parts: Vec<&str> = t.split(['/', '.', '-']).collect();
    let nums: Option<Vec<u16>> = parts.iter().map(|p| digits(p)).collect();
    match (nums.as_deref(), parts.as_slice()) {
        (Some([a, b, y]), [_, _, yp]) if yp.len() == 4 && *a <= 31 && *b <= 31 => {
            let iso = |d: u16, m: u16| format!("{y:04}-{m:02}-{d:02}");
            let reading = if *a > 12 && *b <= 12 {
                format!("read as day/month/year it is {}; ", iso(*a, *b))
            } else if *b > 12 && *a <= 12 {
                format!("read as month/day/year it is {}; ", iso(*b, *a))
            } else {
                "day and month cannot be told apart; ".to_string()
            };
            format!("a national form with the year last, {reading}{EXPECTED}")
        }
        (Some([_, _, _]), [yp, _, _]) if yp.len() == 4 => {
            format!("the parts are separated by '-' and written with two digits; {EXPECTED}")
        }
        (Some([_, _, _]), [_, _, yp]) if yp.len() == 2 => {
            format!("a two-digit year; {EXPECTED}")
        }
        _ => EXPECTED.to_string(),
    }
}

impl fmt::Display for EventDate {
    /// Honours width and alignment (`{:<10}`), so that columns of dates of
    /// mixed precision line up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.precision() {
            Precision::Year => format!("{:04}", self.year),
            Precision::Month => format!("{:04}-{:02}", self.year, self.month),
            Precision::Day => format!("{:04}-{:02}-{:02}", self.year, self.month, self.day),
        };
        f.pad(&s)
    }
}

impl fmt::Debug for EventDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventDate({self})")
    }
}

impl FromStr for EventDate {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventDate::parse(s)
    }
}

impl Serialize for EventDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventDate {
    /// From JSON (files, the API): every form [`EventDate::parse`] takes.
    /// From the wire (bincode, not human-readable): the written form only,
    /// so that one date has one encoding between nodes.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let binary = !d.is_human_readable();
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let date = EventDate::parse(&s).map_err(serde::de::Error::custom)?;
        if binary && date.to_string() != s {
            return Err(serde::de::Error::custom(format!(
                "event date {s:?} is not written YYYY-MM-DD, YYYY-MM or YYYY"
            )));
        }
        Ok(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(s: &str) -> EventDate {
        EventDate::parse(s).unwrap()
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
            "1985",
            "1985-03",
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
    fn event_dates_keep_their_precision_in_every_form() {
        for (input, shown, p) in [
            ("1985", "1985", Precision::Year),
            ("1985-03", "1985-03", Precision::Month),
            ("1985-03-14", "1985-03-14", Precision::Day),
            ("1985-00-00", "1985", Precision::Year),
            ("1985-03-00", "1985-03", Precision::Month),
        ] {
            let d = ed(input);
            assert_eq!(
                (d.to_string(), d.precision()),
                (shown.to_string(), p),
                "{input}"
            );
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{shown}\""));
            assert_eq!(serde_json::from_str::<EventDate>(&json).unwrap(), d);
            let wire = crate::codec::to_bytes(&d).unwrap();
            assert_eq!(wire[0] as usize, shown.len(), "length, then the text");
            assert_eq!(crate::codec::from_bytes::<EventDate, 64>(&wire).unwrap(), d);
        }
        // The wire takes the written forms only; JSON also MySQL's zeros.
        let zeros = crate::codec::to_bytes(&"1985-03-00").unwrap();
        assert!(crate::codec::from_bytes::<EventDate, 64>(&zeros).is_err());
        assert_eq!(
            serde_json::from_str::<EventDate>("\"1985-03-00\"").unwrap(),
            ed("1985-03")
        );
        assert_eq!(format!("[{:<10}]", ed("1985")), "[1985      ]");
        assert_eq!(ed("1985-03").month(), Some(3));
        assert_eq!(ed("1985-03").day(), None);
        assert_eq!(ed("1985").as_day(), None);
        assert_eq!(ed("2008-02").last_day().to_string(), "2008-02-29");
        assert_eq!(ed("1985").first_day().to_string(), "1985-01-01");
        assert_eq!(ed("1985").last_day().to_string(), "1985-12-31");
    }

    #[test]
    fn impossible_and_national_dates_are_refused_with_the_expected_form() {
        for (bad, says) in [
            ("14/03/1985", "1985-03-14"),
            ("03/14/1985", "1985-03-14"),
            ("14.03.1985", "day/month/year"),
            ("05/03/1985", "cannot be told apart"),
            ("14/03/85", "two-digit year"),
            ("1985/03/14", "separated by '-'"),
            ("1985-3-14", "YYYY-MM-DD"),
            ("0000-00-00", "at least its year"),
            ("1985-00-14", "without its month"),
            ("1985-02-30", "not a day of the calendar"),
            ("1985-13", "not a day of the calendar"),
            ("1799", "1800"),
            ("1985-03-14T00:00:00", "write 1985-03-14"),
            ("1985-03-14 00:00:00", "write 1985-03-14"),
            (" 1985", "spaces"),
            ("", "YYYY-MM-DD"),
            ("-", "YYYY-MM-DD"),
            ("1985-", "YYYY-MM-DD"),
            ("19850314", "YYYY-MM-DD"),
        ] {
            let e = EventDate::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(
                e.contains("YYYY") || e.contains("1985-03-14") || e.contains("year"),
                "{bad}: {e}"
            );
        }
        let e = EventDate::parse("14/03/1985").unwrap_err().to_string();
        assert!(e.contains("YYYY-MM-DD"), "{e}");
    }

    #[test]
    fn reduction_never_adds_precision() {
        let d = ed("2019-07-30");
        assert_eq!(d.reduced(Precision::Month).to_string(), "2019-07");
        assert_eq!(d.reduced(Precision::Year).to_string(), "2019");
        assert_eq!(d.reduced(Precision::Day), d);
        assert_eq!(ed("2019").reduced(Precision::Month), ed("2019"));
    }

    #[test]
    fn order_is_by_first_day_then_coarser_first() {
        let mut v = [
            "1985-02",
            "1985-01-02",
            "1985-01-01",
            "1985",
            "1984-12-31",
            "1985-01",
        ]
        .map(ed);
        v.sort();
        let s: Vec<String> = v.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            s,
            [
                "1984-12-31",
                "1985",
                "1985-01",
                "1985-01-01",
                "1985-01-02",
                "1985-02"
            ]
        );
    }

    #[test]
    fn retention_counts_from_the_end_of_the_period() {
        let today = Date::parse("2015-06-30").unwrap();
        assert_eq!(ed("1985").years_until(today), 29);
        assert_eq!(ed("1985-06").years_until(today), 30);
        assert_eq!(ed("1985-06-30").years_until(today), 30);
    }
}
