//! Import of records from JSON Lines (canonical) and flat CSV, with a rejection
//! per bad line that names the file, line and field.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Event, MarkingPrefix, NationalText, Record, RecordId, Registry, RegistryError};
use crate::marking::{ImportMark, MakerTable, Marking, MarkingFields, Suggestion};
use crate::model::{
    Calibre, CountryCode, EventDate, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// How many rejections a summary keeps in full; the rest are only counted.
const KEPT_REJECTIONS: usize = 100;
/// How many new makers a summary lists with their near matches; the rest are
/// only counted.
const KEPT_NEW_MAKERS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    JsonLines,
    Csv,
}

impl ImportFormat {
    /// By file extension: `.jsonl`, `.ndjson`, `.json` or `.csv`.
    pub fn from_path(p: &Path) -> Option<Self> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(ImportFormat::JsonLines),
            "csv" => Some(ImportFormat::Csv),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Option<ImportFormat>,
    /// With CSV: a second file of events keyed by record id.
    pub events_csv: Option<PathBuf>,
    /// Refuse the whole file, writing nothing, if any line is bad.
    pub strict: bool,
    /// A longer line is rejected without being parsed.
    pub max_line_bytes: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            events_csv: None,
            strict: false,
            max_line_bytes: 1024 * 1024,
        }
    }
}

/// One input line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Rejection {
    pub file: PathBuf,
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.reason)
    }
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ImportSummary {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The first rejections in full.
    pub rejections: Vec<Rejection>,
    /// Makers of imported records that the maker table does not know, by the
    /// prefix their records went under: new makers, or typos that split a
    /// prefix ("Walhter" is not found by a trace for Walther).
    #[serde(default)]
    pub new_makers: Vec<NewMaker>,
    /// New makers beyond those listed.
    #[serde(default)]
    pub new_makers_more: u64,
}

/// A maker name an import had to treat as new: not in the maker table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NewMaker {
    /// As first written in the file.
    pub manufacturer: String,
    /// The marking prefix its records were placed under, written `CC/KEY`.
    #[serde(with = "prefix_text")]
    pub prefix: MarkingPrefix,
    /// How many imported records name it.
    pub records: u64,
    /// The nearest makers the table knows, nearest first.
    pub near: Vec<Suggestion>,
}

/// A marking prefix as its text, `DE/CARLWALTHER`, in JSON.
mod prefix_text {
    use serde::Deserialize;

    use super::MarkingPrefix;

    pub fn serialize<S: serde::Serializer>(p: &MarkingPrefix, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(p)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MarkingPrefix, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Notes the makers of imported records that the maker table does not know.
/// A file names few makers many times: each name as written is looked up once.
struct NewMakers<'a> {
    table: &'a MakerTable,
    /// Name as written -> for each country, its entry in `found` (None: known).
    seen: HashMap<String, Vec<(CountryCode, Option<usize>)>>,
    by_prefix: HashMap<MarkingPrefix, usize>,
    found: Vec<NewMaker>,
}

impl<'a> NewMakers<'a> {
    fn new(table: &'a MakerTable) -> Self {
        NewMakers {
            table,
            seen: HashMap::new(),
            by_prefix: HashMap::new(),
            found: Vec::new(),
        }
    }

    fn note(&mut self, m: &Marking) {
        let (raw, country) = (m.manufacturer(), m.country());
        if let Some(at) = self
            .seen
            .get(raw)
            .and_then(|cs| cs.iter().find(|(c, _)| *c == country))
        {
            if let Some(i) = at.1 {
                self.found[i].records += 1;
            }
            return;
        }
        let entry = if self.table.knows(raw) {
            None
        } else {
            let prefix = m.prefix(self.table);
            let i = *self.by_prefix.entry(prefix.clone()).or_insert_with(|| {
                self.found.push(NewMaker {
                    manufacturer: raw.to_string(),
                    prefix,
                    records: 0,
                    near: Vec::new(),
                });
                self.found.len() - 1
            });
            self.found[i].records += 1;
            Some(i)
        };
        self.seen
            .entry(raw.to_string())
            .or_default()
            .push((country, entry));
    }

    /// The first new makers with their near matches, and how many more.
    fn finish(mut self) -> (Vec<NewMaker>, u64) {
        let more = self.found.len().saturating_sub(KEPT_NEW_MAKERS) as u64;
        self.found.truncate(KEPT_NEW_MAKERS);
        for n in &mut self.found {
            n.near = self.table.near(&n.manufacturer, n.prefix.country, 3);
        }
        (self.found, more)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: unknown file type; name it .jsonl or .csv, or pass --format")]
    UnknownFormat(PathBuf),
    #[error("{path}: {reason}")]
    Header { path: PathBuf, reason: String },
    #[error("--strict: nothing imported; {count} bad line(s), the first: {first}")]
    Strict { count: u64, first: Box<Rejection> },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Imports a file into the registry. Good records are written in atomic batches;
/// bad ones are counted and described. `progress` is told how many input records
/// have been read so far.
pub fn import_file(
    reg: &Registry,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportSummary, ImportError> {
    if opts.strict {
        // A first pass that writes nothing, so that a bad line leaves no trace.
        let mut count = 0;
        let mut first = None;
        read_records(path, opts, &mut |item| {
            if let Err(r) = item {
                count += 1;
                first.get_or_insert(r);
            }
            Ok(())
        })?;
        if let Some(first) = first {
            return Err(ImportError::Strict {
                count,
                first: Box::new(first),
            });
        }
    }
    let mut summary = ImportSummary::default();
    let table = reg.makers();
    let mut new_makers = NewMakers::new(&table);
    let mut pending = Vec::with_capacity(super::CHUNK);
    let mut seen = 0u64;
    let mut write = |pending: &mut Vec<Record>, summary: &mut ImportSummary, seen| {
        let (a, u, n) =
            reg.put_all(std::mem::replace(pending, Vec::with_capacity(super::CHUNK)))?;
        summary.added += a;
        summary.updated += u;
        summary.unchanged += n;
        progress(seen);
        Ok::<(), ImportError>(())
    };
    // Lines are read and parsed on a second thread, a few chunks ahead, so that
    // parsing overlaps with sled's writing instead of taking turns with it.
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD_CHUNKS);
        let reader = s.spawn(move || read_ahead(path, opts, tx));
        for items in rx {
            for item in items {
                seen += 1;
                match item {
                    Ok(rec) => {
                        new_makers.note(&rec.marking);
                        pending.push(rec);
                    }
                    Err(r) => {
                        summary.rejected += 1;
                        if summary.rejections.len() < KEPT_REJECTIONS {
                            summary.rejections.push(r);
                        }
                    }
                }
                if pending.len() >= super::CHUNK {
                    // Returning drops the receiver, which stops the reader.
                    write(&mut pending, &mut summary, seen)?;
                }
            }
        }
        match reader.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    write(&mut pending, &mut summary, seen)?;
    reg.flush()?;
    (summary.new_makers, summary.new_makers_more) = new_makers.finish();
    Ok(summary)
}

/// How many parsed chunks the reader may hold ahead of the writer.
const READ_AHEAD_CHUNKS: usize = 4;

type Item = Result<Record, Rejection>;

/// Reads `path` and sends what it parses in chunks. Stops early, with an error
/// that nobody reads, when the writer has gone.
fn read_ahead(
    path: &Path,
    opts: &ImportOptions,
    tx: std::sync::mpsc::SyncSender<Vec<Item>>,
) -> Result<(), ImportError> {
    let gone = || ImportError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::other("the import stopped"),
    };
    let mut buf = Vec::with_capacity(super::CHUNK);
    read_records(path, opts, &mut |item| {
        buf.push(item);
        if buf.len() >= super::CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(super::CHUNK));
            tx.send(full).map_err(|_| gone())?;
        }
        Ok(())
    })?;
    if !buf.is_empty() {
        tx.send(buf).map_err(|_| gone())?;
    }
    Ok(())
}

type Sink<'a> = dyn FnMut(Item) -> Result<(), ImportError> + 'a;

fn read_records(path: &Path, opts: &ImportOptions, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let format = opts
        .format
        .or_else(|| ImportFormat::from_path(path))
        .ok_or_else(|| ImportError::UnknownFormat(path.to_path_buf()))?;
    match format {
        ImportFormat::JsonLines => read_json_lines(path, opts.max_line_bytes, sink),
        ImportFormat::Csv => read_csv(path, opts, sink),
    }
}

fn open(path: &Path) -> Result<BufReader<File>, ImportError> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })
}

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
            total += take;
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

fn read_json_lines(path: &Path, max: usize, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let mut lines = BoundedLines::new(open(path)?, max);
    let reject = |line, field: Option<String>, reason: String| Rejection {
        file: path.to_path_buf(),
        line,
        field,
        reason,
    };
    loop {
        let item = lines.next_line().map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (line, text) = match item {
            None => return Ok(()),
            Some(LineItem::TooLong(line, len)) => {
                sink(Err(reject(
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
            Err((field, reason)) => Err(reject(line, field, reason)),
            Ok(rec) => match rec.check() {
                Ok(()) => Ok(rec),
                Err((field, reason)) => Err(reject(line, Some(field), reason)),
            },
        };
        sink(item)?;
    }
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
                format!("more follows the record ({e}); one record a line"),
            )),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize::<_, Record>(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = (field != "." && !field.is_empty()).then_some(field);
        (field, e.into_inner().to_string())
    })
}

/// Columns of the weapons CSV; those marked true are required.
const WEAPON_COLUMNS: &[(&str, bool)] = &[
    ("id", true),
    ("manufacturer", true),
    ("country", true),
    ("serial", true),
    ("category", true),
    ("year", false),
    ("factory_code", false),
    ("imports", false),
    ("model", false),
    ("calibre", false),
    ("confidential", false),
];

const EVENT_COLUMNS: &[(&str, bool)] = &[
    ("record_id", true),
    ("date", true),
    ("kind", true),
    ("holder", false),
    ("counterpart", false),
    ("reference", false),
    ("note", false),
];

/// Maps the header of a CSV file to column positions, refusing unknown and
/// missing columns (a misspelt header would otherwise drop data silently).
fn columns(
    path: &Path,
    headers: &csv::StringRecord,
    spec: &[(&str, bool)],
) -> Result<HashMap<String, usize>, ImportError> {
    let mut at = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        if !spec.iter().any(|(name, _)| *name == h) {
            let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
            return Err(ImportError::Header {
                path: path.to_path_buf(),
                reason: format!("unknown column {h:?}; the columns are {}", names.join(", ")),
            });
        }
        at.insert(h.to_string(), i);
    }
    for (name, required) in spec {
        if *required && !at.contains_key(*name) {
            return Err(ImportError::Header {
                path: path.to_path_buf(),
                reason: format!("missing the required column {name:?}"),
            });
        }
    }
    Ok(at)
}

/// One CSV row with named access; empty cells are absent values.
struct Row<'a> {
    rec: &'a csv::StringRecord,
    cols: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        let v = self.rec.get(*self.cols.get(name)?)?.trim();
        (!v.is_empty()).then_some(v)
    }

    fn req(&self, name: &str) -> Result<&str, (String, String)> {
        self.get(name)
            .ok_or_else(|| (name.to_string(), "required, but empty".to_string()))
    }

    fn parse<T>(
        &self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, (String, String)> {
        self.get(name)
            .map(f)
            .transpose()
            .map_err(|e| (name.to_string(), e))
    }
}

fn err<E: fmt::Display>(e: E) -> String {
    e.to_string()
}

fn weapon_from_row(row: &Row<'_>) -> Result<Record, (String, String)> {
    let id = RecordId::parse(row.req("id")?).map_err(|e| ("id".to_string(), e))?;
    let country =
        CountryCode::parse(row.req("country")?).map_err(|e| ("country".into(), e.to_string()))?;
    let imports = row
        .parse("imports", |s| {
            s.split([';', ' '])
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<ImportMark>().map_err(err))
                .collect::<Result<Vec<_>, _>>()
        })?
        .unwrap_or_default();
    let marking = Marking::try_from(MarkingFields {
        manufacturer: row.req("manufacturer")?.to_string(),
        country,
        serial: row.req("serial")?.to_string(),
        year: row.parse("year", |s| {
            s.parse::<u16>().map_err(|_| format!("{s:?} is not a year"))
        })?,
        factory_code: row.get("factory_code").map(str::to_string),
        imports,
    })
    .map_err(|e| ("marking".to_string(), e.to_string()))?;
    let confidential = row
        .parse("confidential", |s| match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(format!("{s:?} is not true or false")),
        })?
        .unwrap_or(false);
    Ok(Record {
        id,
        marking,
        model: row.parse("model", |s| ModelName::parse(s).map_err(err))?,
        category: row
            .parse("category", |s| s.parse::<WeaponCategory>().map_err(err))?
            .ok_or(("category".to_string(), "required, but empty".to_string()))?,
        calibre: row.parse("calibre", |s| Calibre::parse(s).map_err(err))?,
        confidential,
        events: Vec::new(),
    })
}

fn event_from_row(row: &Row<'_>) -> Result<(String, Event), (String, String)> {
    let text = |name: &str| row.parse(name, NationalText::parse);
    Ok((
        row.req("record_id")?.to_string(),
        Event {
            date: row
                .parse("date", |s| EventDate::parse(s).map_err(err))?
                .ok_or(("date".to_string(), "required, but empty".to_string()))?,
            kind: row
                .parse("kind", |s| s.parse::<EventKind>().map_err(err))?
                .ok_or(("kind".to_string(), "required, but empty".to_string()))?,
            holder: row.parse("holder", |s| s.parse::<HolderCategory>().map_err(err))?,
            counterpart: row.parse("counterpart", |s| CountryCode::parse(s).map_err(err))?,
            reference: text("reference")?,
            note: text("note")?,
        },
    ))
}

type EventRows = HashMap<String, Vec<Result<(u64, Event), Rejection>>>;

/// Reads the whole events file, grouped by record id; a bad event row is kept as
/// a rejection so that its record is refused whole rather than imported without it.
fn read_events(path: &Path, max: usize) -> Result<EventRows, ImportError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(open(path)?);
    let read_err = |e: csv::Error| ImportError::Header {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let cols = columns(
        path,
        &rdr.headers().map_err(read_err)?.clone(),
        EVENT_COLUMNS,
    )?;
    let mut out: EventRows = HashMap::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => return Ok(out),
            Ok(true) => {}
            Err(e) => return Err(read_err(e)),
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let reject = |field: Option<String>, reason: String| Rejection {
            file: path.to_path_buf(),
            line,
            field,
            reason,
        };
        let row = Row {
            rec: &rec,
            cols: &cols,
        };
        if rec.as_slice().len() > max {
            // Filed under its record id, so that its weapon is refused whole
            // instead of imported without this event.
            let id = row.get("record_id").unwrap_or_default().to_string();
            out.entry(id)
                .or_default()
                .push(Err(reject(None, format!("row exceeds {max} bytes"))));
            continue;
        }
        match event_from_row(&row) {
            Ok((id, ev)) => out.entry(id).or_default().push(Ok((line, ev))),
            Err((field, reason)) => {
                let id = row.get("record_id").unwrap_or_default().to_string();
                out.entry(id)
                    .or_default()
                    .push(Err(reject(Some(field), reason)));
            }
        }
    }
}

fn read_csv(path: &Path, opts: &ImportOptions, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let mut events = match &opts.events_csv {
        Some(p) => read_events(p, opts.max_line_bytes)?,
        None => HashMap::new(),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(open(path)?);
    let header_err = |e: csv::Error| ImportError::Header {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let cols = columns(
        path,
        &rdr.headers().map_err(header_err)?.clone(),
        WEAPON_COLUMNS,
    )?;
    let mut rec = csv::StringRecord::new();
    // Id -> the line it was first read on. A repeated id is refused: its
    // events went to the first row, and the repeat would replace that record
    // with one that has none.
    let mut ids: HashMap<String, u64> = HashMap::new();
    loop {
        let line = rdr.position().line();
        let reject = |line, field: Option<String>, reason: String| Rejection {
            file: path.to_path_buf(),
            line,
            field,
            reason,
        };
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.is_io_error() => return Err(header_err(e)),
            Err(e) => {
                sink(Err(reject(line, None, e.to_string())))?;
                continue;
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(line);
        if rec.as_slice().len() > opts.max_line_bytes {
            let reason = format!("row exceeds {} bytes", opts.max_line_bytes);
            sink(Err(reject(line, None, reason)))?;
            continue;
        }
        let row = Row {
            rec: &rec,
            cols: &cols,
        };
        if let Some(id) = row.get("id") {
            if let Some(first) = ids.get(id) {
                let reason =
                    format!("id {id:?} is already on line {first} of this file; ids are unique");
                sink(Err(reject(line, Some("id".into()), reason)))?;
                continue;
            }
            ids.insert(id.to_string(), line);
        }
        let item = weapon_from_row(&row)
            .map_err(|(f, r)| reject(line, Some(f), r))
            .and_then(|mut record| {
                for ev in events.remove(record.id.as_str()).unwrap_or_default() {
                    record.events.push(ev?.1);
                }
                record.check().map_err(|(f, r)| reject(line, Some(f), r))?;
                Ok(record)
            });
        sink(item)?;
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
        sink(Err(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
