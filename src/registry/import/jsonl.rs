//! JSON Lines, the canonical format: one record a line, each line bounded
//! before it is read whole, a line that is not UTF-8 named with the hint to
//! give its encoding.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::{ENCODING_HINT, ImportError, Input, Item, Record, Rejection, Sink};

/// Reads lines of at most `max` bytes; a longer one is reported by its length
/// and skipped without being held in memory.
pub(crate) struct BoundedLines<R> {
    inner: R,
    max: usize,
    line: u64,
    buf: Vec<u8>,
}

pub(crate) enum LineItem<'a> {
    Text(u64, &'a [u8]),
    TooLong(u64, usize),
}

impl<R: BufRead> BoundedLines<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        BoundedLines {
            inner,
            max,
            line: 0,
            buf: Vec::new(),
        }
    }

    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<LineItem<'_>>> {
        self.buf.clear();
        let (mut total, mut any) = (0usize, false);
        loop {
            let avail = self.inner.fill_buf()?;
            if avail.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (take, done) = match avail.iter().position(|b| *b == b'\n') {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            total = total.saturating_add(take);
            if total <= self.max {
                self.buf.extend_from_slice(&avail[..take]);
            }
            self.inner.consume(take + done as usize);
            if done {
                break;
            }
        }
        self.line += 1;
        if total > self.max {
            return Ok(Some(LineItem::TooLong(self.line, total)));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(LineItem::Text(self.line, &self.buf)))
    }
}

pub(super) fn read_json_lines(
    path: &Path,
    input: Input,
    max: usize,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let mut lines = BoundedLines::new(input, max);
    let reject = |line, field: Option<String>, reason: String| Rejection {
        file: path.to_path_buf(),
        line,
        field,
        reason,
    };
    // The line each id was first read on: a later line with the same id is
    // refused, as in a CSV weapons file, rather than silently replacing the
    // record read before it in the same import.
    let mut ids: std::collections::HashMap<Box<str>, u64> = std::collections::HashMap::new();
    loop {
        let item = lines
            .next_line()
            .map_err(|source| ImportError::read(path, source))?;
        let (line, text) = match item {
            None => return Ok(()),
            Some(LineItem::TooLong(line, len)) => {
                sink(Item::Rejected(reject(
                    line,
                    None,
                    format!("line is {len} bytes; at most {max} are accepted"),
                )))?;
                continue;
            }
            Some(LineItem::Text(line, text)) => (line, text),
        };
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = match parse_record(text) {
            // A line that is not UTF-8 fails to parse; say why, and what to do.
            Err((field, reason)) => match not_utf8(text) {
                Some(why) => Item::Rejected(reject(line, None, why)),
                None => Item::Rejected(reject(line, field, reason)),
            },
            Ok(rec) => match rec.check_new() {
                Ok(()) => match ids.get(rec.id.as_str()) {
                    Some(first) => Item::Rejected(reject(
                        line,
                        Some("id".into()),
                        format!(
                            "id {:?} is already on line {first} of this file; ids are unique",
                            rec.id.as_str()
                        ),
                    )),
                    None => {
                        ids.insert(rec.id.as_str().into(), line);
                        sink(Item::Record(rec))?;
                        for w in invisible_in_marking(path, line, text) {
                            sink(Item::Warning(w))?;
                        }
                        continue;
                    }
                },
                Err((field, reason)) => Item::Rejected(reject(line, Some(field), reason)),
            },
        };
        sink(item)?;
    }
}

/// The warnings for a record line whose marking held characters every
/// marking is read without ([`super::invisible_characters`]). They reach a
/// JSON string raw (U+2028, U+202E, DEL) or escaped (`\n`, `\u202e`): a
/// line with neither is not parsed again.
fn invisible_in_marking(path: &Path, line: u64, text: &[u8]) -> Vec<super::Warning> {
    let Ok(s) = std::str::from_utf8(text) else {
        return Vec::new();
    };
    if !may_hold_moving(s) {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(s) else {
        return Vec::new();
    };
    let m = &v["marking"];
    super::invisible_characters(
        path,
        line,
        [
            (
                "marking.manufacturer",
                m["manufacturer"].as_str().unwrap_or(""),
            ),
            ("marking.serial", m["serial"].as_str().unwrap_or("")),
        ],
    )
}

/// Whether a JSON line may hold, in one of its strings, a character every
/// marking is read without: raw (U+2028, DEL), or escaped (`\n`, `\u202e`).
/// An escaped backslash, quote or slash is none (a factory code `/66\` is
/// written `"/66\\"`), so such lines are not parsed a second time.
fn may_hold_moving(s: &str) -> bool {
    if s.chars().any(crate::model::moves_text) {
        return true;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'n' | b'r' | b't' | b'b' | b'f') => return true,
            Some(b'u') => {
                let escaped = s
                    .get(i + 2..i + 6)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32);
                if escaped.is_some_and(crate::model::moves_text) {
                    return true;
                }
                i += 6;
            }
            _ => i += 2,
        }
    }
    false
}

/// Why `text` is not UTF-8, with the hint to name its encoding; None if it is.
fn not_utf8(text: &[u8]) -> Option<String> {
    let e = std::str::from_utf8(text).err()?;
    let at = e.valid_up_to();
    Some(format!(
        "not UTF-8: byte {:#04x} at byte {} of the line; {ENCODING_HINT}",
        text[at],
        at + 1
    ))
}

/// Parses one JSON line. Tracking the field path costs on every line, so it is
/// done only for a line that failed, to name the field.
fn parse_record(text: &[u8]) -> Result<Record, (Option<String>, String)> {
    let mut de = serde_json::Deserializer::from_slice(text);
    if let Ok(rec) = Record::deserialize(&mut de) {
        // Anything but white space after the record (a second record, or
        // garbage) refuses the line: accepting the first record alone would
        // drop the rest without a word.
        return match de.end() {
            Ok(()) => Ok(rec),
            Err(e) => Err((
                None,
                format!(
                    "more follows the record ({}); one record a line",
                    for_people(&e)
                ),
            )),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize::<_, Record>(&mut de).map_err(|e| {
        let field = e.path().to_string();
        // `?` stands for a key the parser never read (a trailing comma, a
        // key that is not a string): the object it is in is the field.
        let field = field
            .strip_suffix(".?")
            .map(str::to_string)
            .unwrap_or(field);
        let field = (field != "." && field != "?" && !field.is_empty()).then_some(field);
        let inner = e.into_inner();
        if inner.classify() == serde_json::error::Category::Eof {
            // The field is where the text ran out, not what is wrong.
            return (
                None,
                format!(
                    "the line ends before its record does, at column {} (cut short?)",
                    inner.column()
                ),
            );
        }
        // A marking refused as a whole (its checks run once its fields are
        // read) names the field at fault within it: `marking.year`, not
        // `marking`, for a year of 85.
        if field.as_deref() == Some("marking")
            && let Some(within) = marking_field_at_fault(text)
        {
            return (Some(format!("marking.{within}")), for_people(&inner));
        }
        (field, for_people(&inner))
    })
}

/// The field of the line's marking that its checks refuse, if its fields
/// read ([`crate::marking::Marking::from_fields`]).
fn marking_field_at_fault(text: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        marking: crate::marking::MarkingFields,
    }
    let line: Line = serde_json::from_slice(text).ok()?;
    crate::marking::Marking::from_fields(line.marking)
        .err()
        .map(|(field, _)| field)
}

/// serde_json's message as a registry clerk reads it: the column within
/// the line (the file's line is named beside it already), and JSON's
/// words for what was expected instead of Rust's type names.
fn for_people(e: &serde_json::Error) -> String {
    let mut s = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    if let Some(head) = s.strip_suffix(&at) {
        s = format!("{head} (column {})", e.column());
    }
    for (rust, json) in [
        ("expected u8", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected a list [...]"),
        ("expected a map", "expected an object {...}"),
        ("expected a boolean", "expected true or false"),
    ] {
        s = s.replace(rust, json);
    }
    if let Some(i) = s.find("expected struct ") {
        let rest = &s[i + "expected struct ".len()..];
        let end = rest
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        s = format!("{}expected an object {{...}}{}", &s[..i], &rest[end..]);
    }
    s
}

#[cfg(test)]
mod tests {
    /// Only lines that may hold such a character are parsed a second
    /// time: escapes of one, not of a backslash, quote or slash.
    #[test]
    fn only_an_escape_of_a_moving_character_calls_for_a_second_parse() {
        for line in [
            r#"{"s":"a\nb"}"#,
            r#"{"s":"a\u202Eb"}"#,
            r#"{"s":"a\u0007b"}"#,
            r#"{"s":"a\\\tb"}"#,
            "{\"s\":\"a\u{2028}b\"}",
        ] {
            assert!(super::may_hold_moving(line), "{line}");
        }
        for line in [
            r#"{"factory_code":"/66\\"}"#,
            r#"{"s":"a\"quoted\" \/ \\n"}"#,
            r#"{"s":"\u00e9t\u00e9"}"#,
            r#"{"s":"plain"}"#,
        ] {
            assert!(!super::may_hold_moving(line), "{line}");
        }
    }

    use super::*;

    #[test]
    fn a_json_line_holds_one_record_and_nothing_after_it() {
        let rec = r#"{"id":"A1","marking":{"manufacturer":"Walther","country":"DE","serial":"BP1"},"category":"pistol"}"#;
        assert!(parse_record(rec.as_bytes()).is_ok());
        assert!(parse_record(format!("{rec} \t").as_bytes()).is_ok());
        for bad in [format!("{rec}{rec}"), format!("{rec} x"), format!("{rec},")] {
            let (field, reason) = parse_record(bad.as_bytes()).unwrap_err();
            assert_eq!(field, None);
            assert!(reason.contains("one record a line"), "{reason}");
        }
    }

    /// A marking refused by its checks names the field at fault within it,
    /// not `marking` (a new user's trial: a year of 85, an import mark's
    /// year of 12, a factory code of `!!`).
    #[test]
    fn a_refused_marking_names_its_field() {
        let line = |marking: &str| {
            format!(
                r#"{{"id":"A1","marking":{{"manufacturer":"Walther","country":"DE","serial":"BP1",{marking}}},"category":"pistol"}}"#
            )
        };
        for (marking, want) in [
            (r#""year":85"#, "marking.year"),
            (r#""year":3050"#, "marking.year"),
            (
                r#""imports":[{"country":"NG"},{"country":"GH","year":12}]"#,
                "marking.imports[1].year",
            ),
            (r#""factory_code":"!!""#, "marking.factory_code"),
        ] {
            let (field, reason) = parse_record(line(marking).as_bytes()).unwrap_err();
            assert_eq!(field.as_deref(), Some(want), "{marking}: {reason}");
        }
    }

    /// What a clerk reads: the column, JSON's words, and a line cut short
    /// said so, not blamed on the field where the text ran out.
    #[test]
    fn a_bad_line_is_explained_in_the_files_terms() {
        let rec = r#"{"id":"A1","marking":{"manufacturer":"Walther","country":"DE","serial":"BP1","year":"2009"},"category":"pistol"}"#;
        let (field, reason) = parse_record(rec.as_bytes()).unwrap_err();
        assert_eq!(field.as_deref(), Some("marking.year"));
        assert!(reason.contains("expected a whole number"), "{reason}");
        assert!(
            reason.contains("(column ") && !reason.contains("line 1"),
            "{reason}"
        );
        let (field, reason) = parse_record(b"null").unwrap_err();
        assert_eq!(field, None);
        assert!(reason.contains("expected an object {...}"), "{reason}");
        assert!(!reason.contains("struct"), "{reason}");
        let cut = &rec[..50];
        let (field, reason) = parse_record(cut.as_bytes()).unwrap_err();
        assert_eq!(field, None, "{reason}");
        assert!(reason.contains("cut short"), "{reason}");
        // A trailing comma is in the object it ends, not in "marking.?"
        // (a helper's trial).
        let comma = r#"{"id":"A1","marking":{"manufacturer":"Walther","country":"DE","serial":"BP1",},"category":"pistol"}"#;
        let (field, reason) = parse_record(comma.as_bytes()).unwrap_err();
        assert_eq!(field.as_deref(), Some("marking"), "{reason}");
        let comma = r#"{"id":"A1","category":"pistol",}"#;
        let (field, reason) = parse_record(comma.as_bytes()).unwrap_err();
        assert_eq!(field, None, "{reason}");
    }

    #[test]
    fn bounded_lines_skip_long_lines_without_holding_them() {
        let data = format!("short\n{}\nlast", "x".repeat(100));
        let mut r = BoundedLines::new(std::io::Cursor::new(data.into_bytes()), 10);
        assert!(matches!(
            r.next_line().unwrap(),
            Some(LineItem::Text(1, b"short"))
        ));
        assert!(matches!(
            r.next_line().unwrap(),
            Some(LineItem::TooLong(2, 100))
        ));
        assert!(matches!(
            r.next_line().unwrap(),
            Some(LineItem::Text(3, b"last"))
        ));
        assert!(r.next_line().unwrap().is_none());
    }
}
