//! Flat CSV: a weapons file and an optional events file, read through the
//! bounded row reader (`csv_rows`), with the separator given or chosen from
//! the header, and the spreadsheet artefacts noted as warnings.

use std::collections::HashMap;
use std::path::Path;

use super::super::artefacts::{LeadingZeros, scientific_notation};
use super::super::csv_rows::{CsvRows, RowItem};
use super::{
    ENCODING_HINT, EVENT_COLUMNS, Event, ImportError, ImportOptions, Input, Item, Rejection, Row,
    Sink, WEAPON_COLUMNS, Warning, event_from_row, invisible_characters, source, weapon_from_row,
};

/// Opens a CSV file's rows and maps its header to column positions, refusing
/// unknown and missing columns (a misspelt header would otherwise drop data
/// silently).
fn open_csv(
    path: &Path,
    input: Input,
    opts: &ImportOptions,
    spec: &[(&str, bool)],
) -> Result<(CsvRows<Input>, HashMap<String, usize>), ImportError> {
    let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
    let header = |reason: String| ImportError::Header {
        path: path.to_path_buf(),
        reason,
    };
    let mut rows = CsvRows::new(input, opts.delimiter, &names, opts.max_line_bytes)
        .map_err(|e| ImportError::read(path, e))?;
    let sep = rows.delimiter();
    let cells: Vec<String> = match rows.next_row().map_err(|e| ImportError::read(path, e))? {
        None => {
            return Err(header(
                "empty: a CSV file starts with its header row".into(),
            ));
        }
        Some(RowItem::Row { row, .. }) => row.iter().map(str::to_string).collect(),
        Some(RowItem::TooLong { bytes, .. }) => {
            return Err(header(format!(
                "the header row is over {bytes} bytes; at most {} are accepted",
                opts.max_line_bytes
            )));
        }
        Some(RowItem::NotUtf8 { byte, .. }) => {
            return Err(header(format!(
                "the header row is not UTF-8 (byte {byte:#04x}); {ENCODING_HINT}"
            )));
        }
        // The header sets the width: it cannot differ from it.
        Some(RowItem::Fields { .. }) => return Err(header("unreadable header row".into())),
    };
    let mut at = HashMap::new();
    for (i, h) in cells.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        // UTF-16 without a byte order mark reads as every other byte 0:
        // the column's name is not the clerk's to correct, the encoding is.
        if h.contains('\0') {
            return Err(header(format!(
                "the header row holds zero bytes ({h:?}): the file looks like UTF-16 without a byte order mark; give its encoding, utf-16le (Windows' \"Unicode\") or utf-16be"
            )));
        }
        // An export (JSON Lines) named .csv, as `registry export` wrote
        // one under any name before it refused that one.
        if i == 0 && h.starts_with('{') && names.contains(&"manufacturer") {
            return Err(header(
                "the file looks like JSON Lines (a record in braces a line, as `registry export` writes), not CSV; import it as JSON Lines (`--format jsonl`; through the control API, \"csv\": false), or name it .jsonl".into(),
            ));
        }
        if !names.contains(&h) {
            return Err(header(format!(
                "unknown column {h:?} (columns split at {}); the columns are {}{}",
                separator_name(sep),
                names.join(", "),
                if opts.delimiter.is_none() {
                    "; if the file uses another separator, give it as the delimiter"
                } else {
                    ""
                }
            )));
        }
        if at.insert(h.to_string(), i).is_some() {
            return Err(header(format!("the column {h:?} is there twice")));
        }
    }
    for (name, required) in spec {
        if *required && !at.contains_key(*name) {
            return Err(header(format!("missing the required column {name:?}")));
        }
    }
    Ok((rows, at))
}

/// A separator in words, for messages.
fn separator_name(sep: u8) -> String {
    match sep {
        b',' => "\",\" (comma)".into(),
        b';' => "\";\" (semicolon)".into(),
        b'\t' => "tab".into(),
        b'|' => "\"|\"".into(),
        other => format!("{:?}", other as char),
    }
}

type EventRows = HashMap<String, Vec<Result<(u64, Event), Rejection>>>;

/// Reads the whole events file, grouped by record id; a bad event row is kept as
/// a rejection so that its record is refused whole rather than imported without it.
fn read_events(path: &Path, opts: &ImportOptions) -> Result<EventRows, ImportError> {
    let input = source::open(path, &opts.source, None)?;
    let (mut rows, cols) = open_csv(path, input, opts, EVENT_COLUMNS)?;
    let sep = rows.delimiter();
    let mut out: EventRows = HashMap::new();
    let max = opts.max_line_bytes;
    loop {
        let item = rows.next_row().map_err(|e| ImportError::read(path, e))?;
        let reject = |line, field: Option<String>, reason: String| Rejection {
            file: path.to_path_buf(),
            line,
            field,
            reason,
        };
        // Each bad row is filed under its record id (when it can be read),
        // so that its weapon is refused whole instead of imported without it.
        let (id, bad) = match item {
            None => return Ok(out),
            Some(RowItem::Row { line, row }) => {
                let row = Row {
                    rec: &row,
                    cols: &cols,
                };
                if let Some((field, reason)) = broken_over_lines(&row, line, sep) {
                    let id = row.get("record_id").unwrap_or_default().to_string();
                    out.entry(id)
                        .or_default()
                        .push(Err(reject(line, Some(field), reason)));
                    continue;
                }
                match event_from_row(&row) {
                    Ok((id, ev)) => {
                        out.entry(id).or_default().push(Ok((line, ev)));
                        continue;
                    }
                    Err((field, reason)) => (
                        row.get("record_id").unwrap_or_default().to_string(),
                        reject(line, Some(field), reason),
                    ),
                }
            }
            Some(RowItem::TooLong {
                line, last, head, ..
            }) => (
                Row {
                    rec: &head,
                    cols: &cols,
                }
                .get("record_id")
                .unwrap_or_default()
                .to_string(),
                reject(line, None, too_long_reason(line, last, max)),
            ),
            Some(RowItem::Fields {
                line,
                last,
                found,
                expected,
            }) => (
                String::new(),
                reject(
                    line,
                    None,
                    width_reason(line, last, found, expected, opts.delimiter),
                ),
            ),
            Some(RowItem::NotUtf8 { line, field, byte }) => (
                String::new(),
                reject(line, column_at(&cols, field), utf8_reason(byte)),
            ),
        };
        out.entry(id).or_default().push(Err(bad));
    }
}

/// Why a row that starts on `line` and ends on `last` is refused as longer
/// than `max` bytes: over several lines, a quote left open read them into
/// its field (in a file of any size the rest of it is one row past the
/// bound, which said only "row exceeds 1048576 bytes").
fn too_long_reason(line: u64, last: u64, max: usize) -> String {
    if last > line {
        format!(
            "row exceeds {max} bytes: a quoted field opened on line {line} runs on to line {last}, so {} read into it and not imported; close its quote (a quote inside a field is written twice, \"\")",
            swallowed(line, last)
        )
    } else {
        format!("row exceeds {max} bytes")
    }
}

/// "line N was" or "lines N to M were": the lines after `line`, to `last`.
fn swallowed(line: u64, last: u64) -> String {
    if last == line + 1 {
        format!("line {last} was")
    } else {
        format!("lines {} to {last} were", line + 1)
    }
}

/// Why a row that starts on `line` and ends on `last` has `found` fields.
fn width_reason(line: u64, last: u64, found: usize, expected: usize, given: Option<u8>) -> String {
    if last > line {
        // A quote left open reads every line up to the next quote (or the
        // end of the file) into its field.
        return format!(
            "{found} fields where the header has {expected}: a quoted field opened on line {line} runs on to line {last}, so {} read into it and not imported; close its quote (a quote inside a field is written twice, \"\")",
            swallowed(line, last)
        );
    }
    format!(
        "{found} fields where the header has {expected}; a field holding the separator must be in double quotes{}",
        if given.is_none() {
            " (or give the delimiter, if the separator is not the one the header was split at)"
        } else {
            ""
        }
    )
}

/// A row's field that holds a line break it never may, as the field and
/// why: an identifying field (an id, a country, a serial, a factory code, a
/// record id), or any field whose text after a line break holds the
/// separator, which is a row read into it (a spreadsheet's Alt+Enter in a
/// maker's name or a note is read as a space, with a warning). A quote left
/// open reads the rows after it into its field: a serial
/// `WP1\nQ2,Walther,DE,WP2` was imported, and the row of Q2 was gone; so
/// was one closed in the next row's maker column.
fn broken_over_lines(row: &Row<'_>, line: u64, sep: u8) -> Option<(String, String)> {
    const NEVER: [&str; 5] = ["id", "record_id", "country", "serial", "factory_code"];
    // In the file's order: the first field at fault is named.
    let mut cols: Vec<(&String, &usize)> = row.cols.iter().collect();
    cols.sort_by_key(|(_, i)| **i);
    let (field, _) = cols.into_iter().find(|(name, i)| {
        row.rec.get(**i).is_some_and(|v| match v.find('\n') {
            Some(at) => NEVER.contains(&name.as_str()) || v[at..].contains(char::from(sep)),
            None => false,
        })
    })?;
    let field = field.as_str();
    let text: Vec<u8> = row.rec.iter().flat_map(str::bytes).collect();
    let last = crate::registry::csv_rows::last_line(line, &text);
    Some((
        field.to_string(),
        format!(
            "holds a line break: the quoted field runs from line {line} to line {last}, so what {} is read into it; a quote is likely not closed where the field ends: close it (a quote inside a field is written twice, \"\")",
            if last == line + 1 {
                format!("line {last} holds")
            } else {
                format!("lines {} to {last} hold", line + 1)
            }
        ),
    ))
}

fn utf8_reason(byte: u8) -> String {
    format!("not UTF-8 (byte {byte:#04x}); {ENCODING_HINT}")
}

/// The name of the column at position `i`.
fn column_at(cols: &HashMap<String, usize>, i: usize) -> Option<String> {
    cols.iter()
        .find(|(_, at)| **at == i)
        .map(|(n, _)| n.clone())
}

pub(super) fn read_csv(
    path: &Path,
    input: Input,
    opts: &ImportOptions,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let mut events = match &opts.events_csv {
        Some(p) => read_events(p, opts)?,
        None => HashMap::new(),
    };
    let (mut rows, cols) = open_csv(path, input, opts, WEAPON_COLUMNS)?;
    let sep = rows.delimiter();
    // Id -> the line it was first read on. A repeated id is refused: its
    // events went to the first row, and the repeat would replace that record
    // with one that has none.
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut zeros = LeadingZeros::default();
    let reject = |line, field: Option<String>, reason: String| Rejection {
        file: path.to_path_buf(),
        line,
        field,
        reason,
    };
    loop {
        let (line, row) = match rows.next_row().map_err(|e| ImportError::read(path, e))? {
            None => break,
            Some(RowItem::Row { line, row }) => (line, row),
            Some(RowItem::TooLong { line, last, .. }) => {
                let reason = too_long_reason(line, last, opts.max_line_bytes);
                sink(Item::Rejected(reject(line, None, reason)))?;
                continue;
            }
            Some(RowItem::Fields {
                line,
                last,
                found,
                expected,
            }) => {
                let reason = width_reason(line, last, found, expected, opts.delimiter);
                sink(Item::Rejected(reject(line, None, reason)))?;
                continue;
            }
            Some(RowItem::NotUtf8 { line, field, byte }) => {
                let field = column_at(&cols, field);
                sink(Item::Rejected(reject(line, field, utf8_reason(byte))))?;
                continue;
            }
        };
        let row = Row {
            rec: &row,
            cols: &cols,
        };
        if let Some((field, reason)) = broken_over_lines(&row, line, sep) {
            sink(Item::Rejected(reject(line, Some(field), reason)))?;
            continue;
        }
        if let Some(id) = row.get("id") {
            if let Some(first) = ids.get(id) {
                let reason =
                    format!("id {id:?} is already on line {first} of this file; ids are unique");
                sink(Item::Rejected(reject(line, Some("id".into()), reason)))?;
                continue;
            }
            ids.insert(id.to_string(), line);
        }
        let item = weapon_from_row(&row)
            .map_err(|(f, r)| {
                // Its events go with it: counted in its rejection, not again
                // as events of an id the weapons file does not have.
                let dropped = row
                    .get("id")
                    .and_then(|id| events.remove(id))
                    .map_or(0, |e| e.len());
                let r = match dropped {
                    0 => r,
                    1 => format!("{r} (its event row is not imported either)"),
                    n => format!("{r} (its {n} event rows are not imported either)"),
                };
                reject(line, Some(f), r)
            })
            .and_then(|mut record| {
                for ev in events.remove(record.id.as_str()).unwrap_or_default() {
                    // Named at the event's row, where the fix is; the
                    // weapon it refuses is said (it was counted against
                    // the weapons file without a word of which).
                    let ev = ev.map_err(|mut r| {
                        r.reason = format!(
                            "{}; so weapon {} (line {line} of {}) is not imported: a record is never imported without part of its life cycle",
                            r.reason,
                            record.id,
                            path.display()
                        );
                        r
                    })?;
                    record.events.push(ev.1);
                }
                // Named by the file's column (`serial`, not `marking.serial`).
                record.check_new().map_err(|(f, r)| {
                    let column = f.strip_prefix("marking.").unwrap_or(&f).to_string();
                    reject(line, Some(column), r)
                })?;
                Ok(record)
            });
        match item {
            Ok(record) => {
                let serial = row.get("serial").unwrap_or_default();
                let warning = scientific_notation(serial);
                zeros.note(
                    row.get("manufacturer").unwrap_or_default(),
                    row.get("country").unwrap_or_default(),
                    serial,
                    line,
                );
                sink(Item::Record(record))?;
                let maker = row.get("manufacturer").unwrap_or_default();
                for w in
                    invisible_characters(path, line, [("manufacturer", maker), ("serial", serial)])
                {
                    sink(Item::Warning(w))?;
                }
                if let Some(message) = warning {
                    sink(Item::Warning(Warning {
                        file: path.to_path_buf(),
                        line,
                        field: Some("serial".into()),
                        message,
                    }))?;
                }
            }
            Err(r) => sink(Item::Rejected(r))?,
        }
    }
    // Events whose record is not in the weapons file (or whose id was unreadable).
    let mut orphans: Vec<Rejection> = events
        .into_values()
        .flatten()
        .map(|ev| match ev {
            Err(r) => r,
            Ok((line, _)) => Rejection {
                file: opts.events_csv.clone().unwrap_or_default(),
                line,
                field: Some("record_id".into()),
                reason: "event for a record id not in the weapons file".into(),
            },
        })
        .collect();
    orphans.sort_by_key(|r| r.line);
    for r in orphans {
        sink(Item::Rejected(r))?;
    }
    for (line, message) in zeros.finish() {
        sink(Item::Warning(Warning {
            file: path.to_path_buf(),
            line,
            field: Some("serial".into()),
            message,
        }))?;
    }
    Ok(())
}
