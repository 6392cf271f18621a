//! CSV rows read with a bound: a row longer than the limit is skipped as it is
//! read, never held whole (rust-csv's reader grows its buffer to any row: a
//! 200 MB row took 585 MB). Built on `csv_core`, the reader under rust-csv,
//! so quoting is the same; line numbers count the line a row starts on, also
//! in files with CRLF line ends (rust-csv's were one line low there, as it
//! counted the `\n` of a row's `\r\n` into the next row). The separator is
//! given, or chosen from the header line.

use std::io::{self, BufRead, Cursor, Read};

/// Separators a header line is tried with, in order of preference.
const SEPARATORS: &[u8] = b",;\t|";
/// The longest header line looked at to choose the separator.
const HEADER_PEEK: usize = 64 * 1024;

/// One row's fields, as UTF-8 text.
pub struct CsvRow<'a> {
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> CsvRow<'a> {
    /// Field `i`, or None past the last.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// What reading the next row gives.
pub enum RowItem<'a> {
    Row {
        line: u64,
        row: CsvRow<'a>,
    },
    /// Longer than the limit: skipped, its length counted as read up to its
    /// end. `head` holds the fields complete within the limit (an events
    /// row's `record_id`, to refuse its weapon), or none if not UTF-8.
    TooLong {
        line: u64,
        /// The line it ends on: past `line` when a quoted field holds line
        /// breaks (a quote left open reads on to the end of the file).
        last: u64,
        bytes: u64,
        head: CsvRow<'a>,
    },
    /// Not as many fields as the header. `last` is the line the row ends
    /// on: past `line` when a quoted field holds line breaks (a quote not
    /// closed reads the lines after it into its field).
    Fields {
        line: u64,
        last: u64,
        found: usize,
        expected: usize,
    },
    /// Not UTF-8: the field (by position) and the first bad byte.
    NotUtf8 {
        line: u64,
        field: usize,
        byte: u8,
    },
}

/// A CSV file read row by row, each at most `max` bytes.
pub struct CsvRows<R> {
    inner: R,
    core: csv_core::Reader,
    max: usize,
    /// Lines ended (`\n` read) so far.
    lines: u64,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Where a row over the limit is parsed on to its end, over and over.
    scratch_out: Vec<u8>,
    scratch_ends: Vec<usize>,
    /// Fields of the header row; later rows must have as many.
    width: Option<usize>,
    delimiter: u8,
}

impl CsvRows<Box<dyn BufRead + Send>> {
    /// Reads from `inner` with `delimiter`, or with the separator the header
    /// line splits into most of `known` column names (`,` when none does).
    pub fn new(
        mut inner: Box<dyn BufRead + Send>,
        delimiter: Option<u8>,
        known: &[&str],
        max: usize,
    ) -> io::Result<Self> {
        let delimiter = match delimiter {
            Some(d) => d,
            None => {
                let head = peek_line(&mut inner)?;
                let d = choose_separator(&head, known);
                inner = Box::new(io::BufReader::with_capacity(
                    1 << 16,
                    Cursor::new(head).chain(inner),
                ));
                d
            }
        };
        Ok(CsvRows {
            inner,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            max,
            lines: 0,
            out: vec![0; 1024],
            ends: vec![0; 64],
            scratch_out: vec![0; 4096],
            scratch_ends: vec![0; 64],
            width: None,
            delimiter,
        })
    }
}

impl<R: BufRead> CsvRows<R> {
    /// The separator in use.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The next row, or None at the end of the input. The first row read is
    /// the header: it sets the number of fields of every later row.
    pub fn next_row(&mut self) -> io::Result<Option<RowItem<'_>>> {
        // Blank lines (and the `\n` of a `\r\n` after the last row) are
        // skipped here, so that the row starts where its line is counted.
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let skip = buf
                .iter()
                .position(|b| *b != b'\n' && *b != b'\r')
                .unwrap_or(buf.len());
            self.lines += buf[..skip].iter().filter(|b| **b == b'\n').count() as u64;
            let more = skip == buf.len();
            self.inner.consume(skip);
            if !more {
                break;
            }
        }
        let line = self.lines + 1;
        let (mut outlen, mut endlen, mut bytes) = (0usize, 0usize, 0u64);
        let mut too_long = false;
        loop {
            let (res, nin, nout, nend) = {
                let input = self.inner.fill_buf()?;
                let (out, ends) = if too_long {
                    (&mut self.scratch_out[..], &mut self.scratch_ends[..])
                } else {
                    (&mut self.out[outlen..], &mut self.ends[endlen..])
                };
                let r = self.core.read_record(input, out, ends);
                self.lines += input[..r.1].iter().filter(|b| **b == b'\n').count() as u64;
                r
            };
            self.inner.consume(nin);
            bytes += nin as u64;
            if !too_long {
                outlen += nout;
                endlen += nend;
                if bytes > self.max as u64 {
                    too_long = true;
                }
            }
            use csv_core::ReadRecordResult::*;
            match res {
                InputEmpty => {}
                OutputFull if !too_long => {
                    let n = (self.out.len() * 2).min(self.max.max(1024) + 1024);
                    self.out.resize(n.max(self.out.len() + 1), 0);
                }
                OutputEndsFull if !too_long => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                OutputFull | OutputEndsFull => {}
                Record if too_long => return Ok(Some(self.too_long(line, bytes, endlen))),
                Record => return Ok(Some(self.finish(line, outlen, endlen))),
                End => return Ok(None),
            }
        }
    }

    fn too_long(&self, line: u64, bytes: u64, endlen: usize) -> RowItem<'_> {
        let ends = &self.ends[..endlen];
        let len = ends.last().copied().unwrap_or(0);
        let head = match std::str::from_utf8(&self.out[..len]) {
            Ok(text) => CsvRow { text, ends },
            Err(_) => CsvRow {
                text: "",
                ends: &[],
            },
        };
        // Every line break read is counted, those inside quotes too.
        let last = self.lines.max(line);
        RowItem::TooLong {
            line,
            last,
            bytes,
            head,
        }
    }

    fn finish(&mut self, line: u64, outlen: usize, endlen: usize) -> RowItem<'_> {
        let expected = *self.width.get_or_insert(endlen);
        if endlen != expected {
            return RowItem::Fields {
                line,
                last: last_line(line, &self.out[..outlen]),
                found: endlen,
                expected,
            };
        }
        let ends = &self.ends[..endlen];
        match std::str::from_utf8(&self.out[..outlen]) {
            Ok(text) => RowItem::Row {
                line,
                row: CsvRow { text, ends },
            },
            Err(e) => {
                let at = e.valid_up_to();
                RowItem::NotUtf8 {
                    line,
                    field: ends.iter().position(|end| *end > at).unwrap_or(0),
                    byte: self.out[at],
                }
            }
        }
    }
}

/// The line a row that starts on `line` ends on, from its fields' text
/// `fields`: a line break is in a field only inside quotes, and a break at
/// the very end of the text is the end of the last line read into it.
pub fn last_line(line: u64, fields: &[u8]) -> u64 {
    let breaks = fields.iter().filter(|b| **b == b'\n').count() as u64;
    line + breaks - u64::from(breaks > 0 && fields.last() == Some(&b'\n'))
}

/// The bytes of the first line (at most `HEADER_PEEK`), read out of `r`.
fn peek_line(r: &mut dyn BufRead) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    r.take(HEADER_PEEK as u64).read_until(b'\n', &mut head)?;
    Ok(head)
}

/// The separator that splits `header` into the most names of `known`;
/// ties go to the earlier of `SEPARATORS`.
pub fn choose_separator(header: &[u8], known: &[&str]) -> u8 {
    let text = String::from_utf8_lossy(header);
    let mut best = (0, b',');
    for &sep in SEPARATORS {
        let n = split_quoted(&text, sep as char)
            .filter(|f| known.contains(&f.as_str()))
            .count();
        if n > best.0 {
            best = (n, sep);
        }
    }
    best.1
}

/// The fields of one line split at `sep` outside double quotes, trimmed,
/// without their quotes and a byte order mark.
fn split_quoted(line: &str, sep: char) -> impl Iterator<Item = String> + '_ {
    let mut fields = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in line.trim_end_matches(['\r', '\n']).chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
        .into_iter()
        .map(|f| f.trim().trim_start_matches('\u{feff}').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8], max: usize, sep: Option<u8>) -> Vec<String> {
        let known = ["id", "serial", "manufacturer"];
        let inner: Box<dyn BufRead + Send> = Box::new(Cursor::new(text.to_vec()));
        let mut r = CsvRows::new(inner, sep, &known, max).unwrap();
        let mut out = Vec::new();
        while let Some(item) = r.next_row().unwrap() {
            out.push(match item {
                RowItem::Row { line, row } => {
                    format!("{line}:{}", row.iter().collect::<Vec<_>>().join("|"))
                }
                RowItem::TooLong {
                    line, bytes, head, ..
                } => {
                    format!(
                        "{line}:long {bytes} {}",
                        head.iter().collect::<Vec<_>>().join("|")
                    )
                }
                RowItem::Fields {
                    line,
                    found,
                    expected,
                    ..
                } => {
                    format!("{line}:fields {found}/{expected}")
                }
                RowItem::NotUtf8 { line, field, byte } => format!("{line}:utf8 {field} {byte:#x}"),
            });
        }
        out
    }

    #[test]
    fn lines_are_those_rows_start_on_with_any_line_ends() {
        let lf = b"id,serial\nA,1\n\nB,\"2\nx\"\nC,3\n";
        let crlf = b"id,serial\r\nA,1\r\n\r\nB,\"2\r\nx\"\r\nC,3\r\n";
        assert_eq!(
            rows(lf, 1000, None),
            ["1:id|serial", "2:A|1", "4:B|2\nx", "6:C|3"]
        );
        assert_eq!(
            rows(crlf, 1000, None),
            ["1:id|serial", "2:A|1", "4:B|2\r\nx", "6:C|3"]
        );
        // No line end after the last row.
        assert_eq!(
            rows(b"id,serial\r\nA,1", 1000, None),
            ["1:id|serial", "2:A|1"]
        );
    }

    #[test]
    fn a_long_row_is_skipped_whole_and_reading_goes_on() {
        let mut text = b"id,serial\nA,1\nB,".to_vec();
        text.extend(std::iter::repeat_n(b'x', 100_000));
        text.extend(b"\nC,\"3\"\n");
        let got = rows(&text, 1000, None);
        assert_eq!(got[..2], ["1:id|serial", "2:A|1"]);
        assert_eq!(got[2], "3:long 100003 B", "{got:?}");
        assert_eq!(got[3], "4:C|3");
        // The buffer never grew to the row.
        let inner: Box<dyn BufRead + Send> = Box::new(Cursor::new(text));
        let mut r = CsvRows::new(inner, None, &[], 1000).unwrap();
        while r.next_row().unwrap().is_some() {}
        assert!(r.out.len() <= 4096, "{}", r.out.len());
    }

    #[test]
    fn the_separator_is_the_one_that_splits_the_header_into_known_columns() {
        assert_eq!(
            choose_separator(
                b"id;manufacturer;serial\r\n",
                &["id", "serial", "manufacturer"]
            ),
            b';'
        );
        assert_eq!(
            choose_separator(b"\xef\xbb\xbf\"id\",\"serial\"\n", &["id", "serial"]),
            b','
        );
        assert_eq!(choose_separator(b"id\tserial\n", &["id", "serial"]), b'\t');
        // A semicolon inside a quoted name does not count.
        assert_eq!(
            choose_separator(b"\"a;b\",id,serial\n", &["id", "serial"]),
            b','
        );
        assert_eq!(choose_separator(b"nothing known\n", &["id"]), b',');
        assert_eq!(
            rows(b"id;serial\nA;1,5\n", 1000, None),
            ["1:id|serial", "2:A|1,5"]
        );
    }

    #[test]
    fn rows_of_another_width_and_bytes_not_utf8_are_named_by_line() {
        let got = rows(b"id,serial\nA,1,2\nB,M\xfcller\n", 1000, None);
        assert_eq!(got[1], "2:fields 3/2");
        assert_eq!(got[2], "3:utf8 1 0xfc");
    }
}
