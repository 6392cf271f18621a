//! Import of records from JSON Lines (canonical) and flat CSV, with a rejection
//! per bad line that names the file, line and field. The bytes come through
//! `source` (encodings, the node's guards) and CSV rows through `csv_rows`
//! (bounded, with the line each row starts on); `jsonl` and `csv` here read
//! each format into records, rejections and warnings.

mod csv;
mod jsonl;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::csv_rows::CsvRow;
use super::source::{self, Input, SourceError, SourceOptions};
use super::{Event, MarkingPrefix, NationalText, Record, RecordId, Registry, RegistryError};
use crate::marking::{ImportMark, MakerTable, Marking, MarkingFields, Suggestion};
use crate::model::{
    Calibre, CountryCode, EventDate, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// How many rejections a summary keeps in full; the rest are only counted.
const KEPT_REJECTIONS: usize = 100;
/// How many warnings a summary keeps in full; the rest are only counted.
const KEPT_WARNINGS: usize = 100;
/// How many new makers a summary lists with their near matches; the rest are
/// only counted.
const KEPT_NEW_MAKERS: usize = 100;
/// What a line that is not UTF-8 is told to try.
/// What a line that is not UTF-8 is told to try. The CLI, the control API
/// and the console all import, so it names the setting, not a flag or a
/// field (`--encoding`, `"encoding"`, the form's "Encoding").
const ENCODING_HINT: &str = "give the file's encoding: windows-1252 if it comes from Excel or an older system, or the encoding it was written in";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    JsonLines,
    Csv,
}

impl ImportFormat {
    /// By file extension, in any case: `.jsonl`, `.ndjson`, `.json`, or
    /// `.csv` and `.tsv` (tab-separated values, as Excel and registry
    /// databases export them: CSV whose separator the header shows).
    pub fn from_path(p: &Path) -> Option<Self> {
        Self::from_extension(p.extension()?.to_str()?)
    }

    /// By an extension without its dot, in any case ([`Self::from_path`]).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(ImportFormat::JsonLines),
            "csv" | "tsv" => Some(ImportFormat::Csv),
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
    /// A longer line (or CSV row) is rejected without being parsed, and
    /// without being held in memory.
    pub max_line_bytes: usize,
    /// The CSV separator (`--delimiter`); without it, the one that splits the
    /// header line into known column names (`,` `;` tab `|`).
    pub delimiter: Option<u8>,
    /// Make the registry hold exactly the file's records: import them, then
    /// remove every record whose id the file does not hold. Implies `strict`,
    /// and refuses a file without records.
    pub replace: bool,
    /// How the files are opened: encoding, regular files only, stop flag.
    pub source: SourceOptions,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            events_csv: None,
            strict: false,
            max_line_bytes: 1024 * 1024,
            delimiter: None,
            replace: false,
            source: SourceOptions::default(),
        }
    }
}

/// How far an import is: records read, and bytes of the file read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub records: u64,
    pub bytes: u64,
}

/// One input line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Rejection {
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
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

/// A row that was imported but shows a sign of damage done before tracenet
/// saw it (a spreadsheet's scientific notation, leading zeros dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Warning {
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
    pub file: PathBuf,
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Warnings for a record's marking fields (named as the file names them)
/// that held control, line-separator or text-direction characters: every
/// marking is read without them, each run as one space
/// ([`crate::model::without_moving`]), so the record imports as read, and
/// the registry's clerk learns what the source system wrote (an Alt+Enter
/// line break in a spreadsheet cell, a stray right-to-left mark).
fn invisible_characters(path: &Path, line: u64, fields: [(&str, &str); 2]) -> Vec<Warning> {
    fields
        .into_iter()
        .filter_map(|(field, raw)| {
            let c = raw.chars().find(|c| crate::model::moves_text(*c))?;
            Some(Warning {
                file: path.to_path_buf(),
                line,
                field: Some(field.to_string()),
                message: format!(
                    "held U+{:04X}, a control or text-direction character: {raw:?} is read as {:?}; check how the source system exports this field",
                    c as u32,
                    crate::model::without_moving(raw)
                ),
            })
        })
        .collect()
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
    /// With `replace`: records removed because the file does not hold their id.
    #[serde(default)]
    pub removed: u64,
    /// Rows imported with a warning; the first ones are in `warnings`.
    #[serde(default)]
    pub warned: u64,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

impl ImportSummary {
    /// The counts in words, as the audit log records them:
    /// `added 3, updated 1, unchanged 0, rejected 2, removed 0`.
    pub fn counts_text(&self) -> String {
        format!(
            "added {}, updated {}, unchanged {}, rejected {}, removed {}",
            self.added, self.updated, self.unchanged, self.rejected, self.removed
        )
    }
}

/// Parses a `--delimiter`: one ASCII character other than a quote or a line
/// end, or `tab` (also `\t`).
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => return Ok(b'\t'),
        _ => {}
    }
    match s.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') && !b.is_ascii_alphanumeric() => {
            Ok(*b)
        }
        _ => Err(format!(
            "{s:?} cannot separate CSV fields; give one character such as , or ; (or tab)"
        )),
    }
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
        if raw.is_empty() {
            // Marked with a factory code only: no name to be new.
            return;
        }
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
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(
        "{0}: unknown file type; name it .jsonl, .csv or .tsv, or give its format (`--format jsonl`, `csv` or `tsv`; through the control API, \"csv\": false or true)"
    )]
    UnknownFormat(PathBuf),
    #[error("{path}: {reason}")]
    Header { path: PathBuf, reason: String },
    /// An events file given with a JSON Lines file, whose records carry
    /// their own events.
    #[error(
        "{events}: an events file goes with a CSV of weapons only; {path} is JSON Lines, whose records carry their events in their \"events\" field. Import it without the events file, or give the weapons as CSV"
    )]
    EventsWithJsonLines { path: PathBuf, events: PathBuf },
    #[error("strict import: nothing imported; {}, the first: {first}", crate::model::count(*count, "bad line"))]
    Strict {
        count: u64,
        first: Box<Rejection>,
        /// The bad lines in file order, the first [`KEPT_REJECTIONS`] of
        /// them (the first included), for the command to list.
        listed: Vec<Rejection>,
    },
    #[error(
        "replacing the registry: nothing changed; {}, and replacing would remove the records they hold; the first: {first}", crate::model::count(*count, "bad line")
    )]
    ReplaceRefused {
        count: u64,
        first: Box<Rejection>,
        /// As in [`ImportError::Strict`].
        listed: Vec<Rejection>,
    },
    #[error(
        "replacing the registry: {0} holds no records, and replacing the registry with it would empty it; nothing changed (to take records out, remove them by id)"
    )]
    ReplaceWithNothing(PathBuf),
    /// A strict import's or a replacement's file read differently the
    /// second time (it was written to meanwhile): the records of the
    /// second reading were written, none removed.
    #[error(
        "{}: the file changed while it was imported: {} on the first reading, {} and {} on the second; {} added or updated from the second reading, no record removed; import it again once nothing writes to it",
        .path.display(),
        crate::model::count(*first, "record"),
        crate::model::count(*second, "record"),
        crate::model::count(*rejected, "bad line"),
        crate::model::count(*written, "record")
    )]
    ChangedWhileRead {
        path: PathBuf,
        /// Records the first reading found.
        first: u64,
        /// Records the second reading found (and wrote).
        second: u64,
        /// Bad lines the second reading found.
        rejected: u64,
        /// Records added or updated.
        written: u64,
    },
    #[error(
        "the import of {path} was stopped (the node is stopping, or its client went away) after {written} records were written; import the file again to finish: records already written come out unchanged"
    )]
    Stopped { path: PathBuf, written: u64 },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ImportError {
    /// Whether the import failed after writing records (it was stopped
    /// part-way, or its file changed between a strict import's or a
    /// replacement's two readings): the registry changed, and the change is
    /// audited as such.
    pub fn wrote_records(&self) -> bool {
        match self {
            ImportError::Stopped { written, .. } => *written > 0,
            ImportError::ChangedWhileRead { written, .. } => *written > 0,
            _ => false,
        }
    }

    /// A read error of `path`, or `Stopped` when the stop flag ended it.
    fn read(path: &Path, source: std::io::Error) -> Self {
        if source::is_stopped(&source) {
            ImportError::Stopped {
                path: path.to_path_buf(),
                written: 0,
            }
        } else {
            ImportError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Imports a file into the registry. Good records are written in atomic batches;
/// bad ones are counted and described. `progress` is told how many records and
/// bytes of the file have been read so far.
pub fn import_file(
    reg: &Registry,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportSummary, ImportError> {
    // Events come in a file of their own with a CSV only: with JSON Lines
    // (whose records carry their events) the file was not read at all,
    // and the import said nothing of it (a hostile trial).
    if let Some(events) = &opts.events_csv
        && opts.format.or_else(|| ImportFormat::from_path(path)) == Some(ImportFormat::JsonLines)
    {
        return Err(ImportError::EventsWithJsonLines {
            path: path.to_path_buf(),
            events: events.clone(),
        });
    }
    // What the first reading of a strict import or a replacement saw: its
    // records and its bad lines.
    let mut first_reading = None;
    if opts.strict || opts.replace {
        source::refuse_read_once(path)?;
        // A first pass that writes nothing, so that a bad line leaves no trace.
        let (mut count, mut records) = (0, 0u64);
        let mut listed: Vec<Rejection> = Vec::new();
        read_records(path, opts, None, &mut |item| {
            match item {
                Item::Rejected(r) => {
                    count += 1;
                    if listed.len() < KEPT_REJECTIONS {
                        listed.push(r);
                    }
                }
                Item::Record(_) => records += 1,
                Item::Warning(_) => {}
            }
            Ok(())
        })?;
        if let Some(first) = listed.first().cloned() {
            let first = Box::new(first);
            return Err(if opts.replace {
                ImportError::ReplaceRefused {
                    count,
                    first,
                    listed,
                }
            } else {
                ImportError::Strict {
                    count,
                    first,
                    listed,
                }
            });
        }
        if opts.replace && records == 0 {
            return Err(ImportError::ReplaceWithNothing(path.to_path_buf()));
        }
        first_reading = Some(records);
    }
    let mut summary = ImportSummary::default();
    // A weapons CSV without its events file says nothing of events: an
    // update keeps those the registry holds (it wiped them, lost and stolen
    // reports included).
    let events = match opts.format.or_else(|| ImportFormat::from_path(path)) {
        Some(ImportFormat::Csv) if opts.events_csv.is_none() => super::Events::KeepStored,
        _ => super::Events::AsGiven,
    };
    let table = reg.makers();
    let mut new_makers = NewMakers::new(&table);
    let mut pending = Vec::with_capacity(super::CHUNK);
    // With `replace`: the ids the file holds, to keep.
    let mut kept: Option<HashSet<Box<str>>> = opts.replace.then(HashSet::new);
    let bytes = Arc::new(AtomicU64::new(0));
    let mut seen = 0u64;
    let mut write = |pending: &mut Vec<Record>, summary: &mut ImportSummary, seen| {
        let (a, u, n) = reg.put_all_as(
            std::mem::replace(pending, Vec::with_capacity(super::CHUNK)),
            events,
        )?;
        summary.added += a;
        summary.updated += u;
        summary.unchanged += n;
        progress(Progress {
            records: seen,
            bytes: bytes.load(Ordering::Relaxed),
        });
        Ok::<(), ImportError>(())
    };
    // Lines are read and parsed on a second thread, a few chunks ahead, so that
    // parsing overlaps with sled's writing instead of taking turns with it.
    let read = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD_CHUNKS);
        let counter = bytes.clone();
        let reader = s.spawn(move || read_ahead(path, opts, counter, tx));
        for items in rx {
            for item in items {
                match item {
                    Item::Record(rec) => {
                        seen += 1;
                        if let Some(k) = &mut kept {
                            k.insert(rec.id.as_str().into());
                        }
                        new_makers.note(&rec.marking);
                        pending.push(rec);
                    }
                    Item::Rejected(r) => {
                        seen += 1;
                        summary.rejected += 1;
                        if summary.rejections.len() < KEPT_REJECTIONS {
                            summary.rejections.push(r);
                        }
                    }
                    Item::Warning(w) => {
                        summary.warned += 1;
                        if summary.warnings.len() < KEPT_WARNINGS {
                            summary.warnings.push(w);
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
    });
    let stopped = |summary: &ImportSummary| ImportError::Stopped {
        path: path.to_path_buf(),
        written: summary.added + summary.updated + summary.unchanged,
    };
    match read {
        Err(ImportError::Stopped { .. }) => return Err(stopped(&summary)),
        other => other?,
    }
    write(&mut pending, &mut summary, seen)?;
    // The file changed between the two readings (written to meanwhile):
    // what the first one checked is not what was written, so nothing is
    // removed, and the import says what it did.
    if let Some(records) = first_reading {
        let second = seen - summary.rejected;
        if second != records || summary.rejected > 0 {
            reg.flush()?;
            return Err(ImportError::ChangedWhileRead {
                path: path.to_path_buf(),
                first: records,
                second,
                rejected: summary.rejected,
                written: summary.added + summary.updated,
            });
        }
    }
    if let Some(kept) = kept {
        summary.removed =
            reg.remove_unless(&|id| kept.contains(id), opts.source.stop.as_deref())?;
        if opts
            .source
            .stop
            .as_deref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            return Err(stopped(&summary));
        }
    }
    reg.flush()?;
    (summary.new_makers, summary.new_makers_more) = new_makers.finish();
    Ok(summary)
}

/// How many parsed chunks the reader may hold ahead of the writer.
const READ_AHEAD_CHUNKS: usize = 4;

/// What reading a file gives, in file order.
enum Item {
    Record(Record),
    Rejected(Rejection),
    /// An imported row's warning; it follows the row's record (or, for what
    /// the whole file shows, comes at the end).
    Warning(Warning),
}

/// Reads `path` and sends what it parses in chunks. Stops early, with an error
/// that nobody reads, when the writer has gone.
fn read_ahead(
    path: &Path,
    opts: &ImportOptions,
    counter: Arc<AtomicU64>,
    tx: std::sync::mpsc::SyncSender<Vec<Item>>,
) -> Result<(), ImportError> {
    let gone = || ImportError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::other("the import stopped"),
    };
    let mut buf = Vec::with_capacity(super::CHUNK);
    read_records(path, opts, Some(counter), &mut |item| {
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

fn read_records(
    path: &Path,
    opts: &ImportOptions,
    counter: Option<Arc<AtomicU64>>,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    // Said first: a directory has no file type to guess, nor bytes to read.
    if path.is_dir() {
        return Err(SourceError::NotAFile {
            path: path.to_path_buf(),
            kind: "a directory",
        }
        .into());
    }
    let format = opts
        .format
        .or_else(|| ImportFormat::from_path(path))
        .ok_or_else(|| ImportError::UnknownFormat(path.to_path_buf()))?;
    let input = source::open(path, &opts.source, counter)?;
    match format {
        ImportFormat::JsonLines => jsonl::read_json_lines(path, input, opts.max_line_bytes, sink),
        ImportFormat::Csv => csv::read_csv(path, input, opts, sink),
    }
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

/// One CSV row with named access; empty cells are absent values.
struct Row<'a> {
    rec: &'a CsvRow<'a>,
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
    let marking = Marking::from_fields(MarkingFields {
        // May be empty when a factory code stands instead (ITI para 8(a)).
        // A line break a spreadsheet kept in the cell (Alt+Enter) is read
        // as a space, as in every marking decoded.
        manufacturer: row.get("manufacturer").unwrap_or_default().to_string(),
        country,
        serial: row.req("serial")?.to_string(),
        year: row.parse("year", |s| {
            s.parse::<u16>().map_err(|_| format!("{s:?} is not a year"))
        })?,
        factory_code: row.get("factory_code").map(str::to_string),
        imports,
    })
    // Named by the file's column (an import mark's year is in `imports`).
    .map_err(|(field, e)| {
        let column = if field.starts_with("imports") {
            "imports".to_string()
        } else {
            field
        };
        (column, e.to_string())
    })?;
    let confidential = row
        .parse("confidential", |s| match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(format!(
                "{s:?} is not true or false (write true, false, yes, no, 1 or 0)"
            )),
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
