//! Where an import reads its bytes from: a file, opened so that a FIFO or a
//! device cannot hold a node that refuses them, read through a stop flag (the
//! node stopping, its client gone) and a byte counter (for progress), and
//! decoded to UTF-8 from a legacy encoding when one is named.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use encoding_rs::Encoding;

/// An import's input: UTF-8 bytes, buffered.
pub type Input = Box<dyn BufRead + Send>;

/// Bytes read from the file at a time.
const BUFFER: usize = 1 << 16;

/// How an import's files are opened.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Decode from this encoding (`--encoding`); without it the bytes must be
    /// UTF-8, or UTF-16 with a byte order mark.
    pub encoding: Option<&'static Encoding>,
    /// Refuse anything but a regular file (a FIFO, a device such as
    /// `/dev/zero`, a socket), without blocking on it: the running node
    /// imports only files, which end.
    pub regular_only: bool,
    /// Set from elsewhere to stop the import at its next read.
    pub stop: Option<Arc<AtomicBool>>,
    /// The running node's data directory, whose own files an import
    /// refuses, wherever the path given leads (links followed, judged on
    /// the file opened): those its owner alone may read (its keys and API
    /// token, made so) and its store (`db`). An import's errors quote what
    /// its file holds (a header's columns), so a client of the control API
    /// could otherwise have the node read its own key back to it. A
    /// registry file put beside them, readable as such files are, imports.
    pub refuse_under: Option<std::path::PathBuf>,
}

/// Why an import could not read its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("{} is {kind}, not a regular file: {}", .path.display(), not_a_file_advice(.path, .kind))]
    NotAFile {
        path: std::path::PathBuf,
        kind: &'static str,
    },
    /// A strict import or a replacement reads its file twice: a source
    /// that can be read once would give the second reading nothing (and a
    /// replacement nothing to keep: it emptied the registry) or hold it for
    /// ever.
    #[error(
        "{} is {kind}, which can be read only once, and a strict import or a replacement reads its file twice (every line checked first, then written); copy it to a file first ({}) and import the copy",
        .path.display(), copy_command(.path)
    )]
    ReadOnce {
        path: std::path::PathBuf,
        kind: &'static str,
    },
    /// A legacy encoding was named for a file whose bytes are UTF-8 text
    /// with characters beyond ASCII: read so, `ÄB123` would be stored as
    /// `Ã„B123` and found by no reading (a helper's hostile trial).
    #[error(
        "{} reads as UTF-8 text (line {line}: {utf8:?}), which --encoding {encoding} would read as {misread:?}; import it without --encoding",
        .path.display()
    )]
    LooksUtf8 {
        path: std::path::PathBuf,
        encoding: &'static str,
        line: u64,
        utf8: String,
        misread: String,
    },
    /// The file is in the running node's data directory
    /// ([`SourceOptions::refuse_under`]).
    #[error(
        "{} is a private file of the node's data directory {} (its owner alone may read it, as the node's keys and API token, or it is in the store), and the node imports none; a registry file there must be readable by its group, or put in another folder",
        .path.display(), .dir.display()
    )]
    InDataDir {
        path: std::path::PathBuf,
        dir: std::path::PathBuf,
    },
    /// The file is the running node's own standard input, output or error
    /// ([`SourceOptions::refuse_under`]), reached through a link.
    #[error(
        "{} is the node's own standard input, output or error, not a file of the client's; give the absolute path of a regular file",
        .path.display()
    )]
    OwnDescriptor { path: std::path::PathBuf },
}

/// Refuses, for an import that reads its file twice, a path that is
/// neither a regular file nor a directory (which [`open`] names as such):
/// a FIFO, a pipe given as `/dev/stdin`, a device, a socket. Looked at
/// without opening it, which for a FIFO without a writer would block.
pub fn refuse_read_once(path: &Path) -> Result<(), SourceError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => Err(SourceError::ReadOnce {
            path: path.to_path_buf(),
            kind: crate::model::file::kind_of(&meta),
        }),
        // A missing or unreadable path is said by the open that follows.
        _ => Ok(()),
    }
}

/// The command that copies `path` to a regular file beside where it is
/// run, `cat 'PATH' > STEM-copy.EXT`: named after the source, never
/// `records.csv` (an events file's copy must not overwrite the weapons
/// file beside it, a helper's trial), with the extension its format is
/// told by (a copy of `pipe.csv` read as JSON Lines would refuse every row).
fn copy_command(path: &Path) -> String {
    // Standard input, or another descriptor: what is piped there is to go
    // to a file (copying the path itself would wait on the terminal).
    if (path.starts_with("/dev/") && !path.starts_with("/dev/shm")) || path.starts_with("/proc/") {
        return "write what you pipe to a file instead, `... > records.jsonl`".into();
    }
    let ext = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => "csv",
        Some(e) if e.eq_ignore_ascii_case("tsv") => "tsv",
        _ => "jsonl",
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "records".into());
    format!("`cat '{}' > {stem}-copy.{ext}`", path.display())
}

/// What to do with a path that is not a regular file: a directory's
/// files are imported one by one; a FIFO's or a device's bytes are copied
/// to a file first ([`copy_command`]), or imported with the node stopped.
fn not_a_file_advice(path: &std::path::Path, kind: &str) -> String {
    if kind == "a directory" {
        return "give the path of a file in it (each file is imported by its own command)".into();
    }
    format!(
        "the running node imports regular files only, so that a source without end cannot hold it; copy it to a file first ({}), or (unless the import is strict or a replacement, which read their file twice) stop the node and import it directly",
        copy_command(path)
    )
}

/// The marker error a read returns once the stop flag is set.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the import was stopped")
    }
}

impl std::error::Error for Stopped {}

/// Whether `e` is (or wraps) the error of a stopped read.
pub fn is_stopped(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Stopped>())
}

/// Opens `path` for reading as UTF-8 text, counting raw bytes read into
/// `counter` when given.
pub fn open(
    path: &Path,
    opts: &SourceOptions,
    counter: Option<Arc<AtomicU64>>,
) -> Result<Input, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = open_file(path, opts.regular_only).map_err(io_err)?;
    // A directory opens, then fails its first read with the system's
    // words: said as what it is, whoever imports (an events file too).
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(SourceError::NotAFile {
            path: path.to_path_buf(),
            kind: "a directory",
        });
    }
    if let Some(dir) = &opts.refuse_under {
        refuse_under(path, &file, dir)?;
    }
    if opts.regular_only {
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(SourceError::NotAFile {
                path: path.to_path_buf(),
                kind: crate::model::file::kind_of(&meta),
            });
        }
    }
    if let Some(enc) = opts.encoding {
        // Through the control API, a word of a file others may not read is
        // not quoted: its client may not read it (SECURITY.md, hole 30).
        let quote = opts.refuse_under.is_none() || readable_by_others(&file);
        legacy_label_on_utf8(path, &file, enc, quote)?;
    }
    let guarded = Guarded {
        inner: file,
        stop: opts.stop.clone(),
        counter,
    };
    let mut decode = encoding_rs_io::DecodeReaderBytesBuilder::new();
    // A byte order mark says what it is, and is never part of the first field.
    decode.strip_bom(true).bom_override(true);
    match opts.encoding {
        Some(enc) => decode.encoding(Some(enc)),
        // No encoding named: UTF-8 passes as it is (and is checked line by
        // line, to name the line), UTF-16 with a byte order mark is decoded.
        None => decode.utf8_passthru(true),
    };
    // The decoder's own buffer serves only a named encoding; UTF-8 is read
    // straight into the line reader's.
    let decoded = decode
        .build_with_buffer(guarded, vec![0; BUFFER])
        .map_err(io_err)?;
    Ok(Box::new(BufReader::with_capacity(BUFFER, decoded)))
}

/// Refuses `file` (opened from `path`) if it is a private file of data
/// directory `dir` ([`SourceOptions::refuse_under`]): where it lies is
/// judged by the opened file (`/proc/self/fd`), so that a link swapped
/// between a check and the opening cannot pass one file and open another,
/// or by the path with its links resolved where the system does not say; a
/// file whose place cannot be told is refused. Who may read it is read
/// from the opened file too.
fn refuse_under(path: &Path, file: &File, dir: &Path) -> Result<(), SourceError> {
    #[cfg(target_os = "linux")]
    let opened = {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    };
    #[cfg(not(target_os = "linux"))]
    let opened = {
        let _ = file;
        None
    };
    // The node's own standard input, output or error, reached by a link
    // (`/tmp/x` to `/proc/self/fd/0`): its file, not the client's.
    if is_own_standard_stream(file) {
        return Err(SourceError::OwnDescriptor {
            path: path.to_path_buf(),
        });
    }
    let real = opened.or_else(|| std::fs::canonicalize(path).ok());
    let refused = || SourceError::InDataDir {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
    };
    // A data directory whose place cannot be told lets nothing through.
    let dir_real = std::fs::canonicalize(dir).map_err(|_| refused())?;
    // The store may be a link to another disk.
    let db_real = std::fs::canonicalize(dir.join("db")).unwrap_or_else(|_| dir_real.join("db"));
    #[cfg(unix)]
    let owner_only = {
        use std::os::unix::fs::PermissionsExt;
        file.metadata()
            .map_or(true, |m| m.permissions().mode() & 0o044 == 0)
    };
    #[cfg(not(unix))]
    let owner_only = true;
    match real {
        Some(r) if r.starts_with(&db_real) => Err(refused()),
        Some(r) if !r.starts_with(&dir_real) => {
            // A second name for one of them elsewhere (a hard link) is the
            // same file: judged by its identity (the session's re-check
            // read the key through `ln node.key /tmp/x.csv`).
            if linked_to_private(file, &dir_real, &db_real) {
                Err(refused())
            } else {
                Ok(())
            }
        }
        Some(_) if !owner_only => Ok(()),
        _ => Err(refused()),
    }
}

/// Whether `file` is this process's standard input, output or error (the
/// same file, by device and inode).
#[cfg(target_os = "linux")]
fn is_own_standard_stream(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = file.metadata() else {
        return false;
    };
    (0..3).any(|fd| {
        std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|s| (s.dev(), s.ino()) == (m.dev(), m.ino()))
    })
}

#[cfg(not(target_os = "linux"))]
fn is_own_standard_stream(_: &File) -> bool {
    false
}

/// Whether `file`, which has more than one name, is one of the private
/// files of data directory `dir` (those its owner alone may read, at its
/// top) or of its store `db`: compared by device and inode.
#[cfg(unix)]
fn linked_to_private(file: &File, dir: &Path, db: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = file.metadata() else {
        return true;
    };
    if meta.nlink() < 2 {
        return false;
    }
    let same = |m: &std::fs::Metadata| m.dev() == meta.dev() && m.ino() == meta.ino();
    let in_folder = |folder: &Path, private_only: bool| {
        std::fs::read_dir(folder).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.metadata().is_ok_and(|m| {
                    m.is_file()
                        && same(&m)
                        && (!private_only || m.permissions().mode() & 0o044 == 0)
                })
            })
        })
    };
    in_folder(dir, true) || in_folder(db, false)
}

#[cfg(not(unix))]
fn linked_to_private(_: &File, _: &Path, _: &Path) -> bool {
    false
}

/// Whether anyone on the machine may read `file` (its mode lets others
/// read it): what quoting a word of it tells a client nobody else knows.
fn readable_by_others(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.metadata()
            .is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

/// Bytes of a file looked at to tell UTF-8 from the legacy encoding named.
const LABEL_SAMPLE: usize = 64 * 1024;

/// Refuses `enc`, a legacy encoding named for `file`, when the file's first
/// [`LABEL_SAMPLE`] bytes are UTF-8 text with characters beyond ASCII: a
/// file in a single-byte encoding almost never is (`Ä` in windows-1252
/// followed by a byte that would continue it is a sequence like `Ã„`). Read
/// in place (`pread`), so the import still reads from the start; a file
/// that is not a regular one (the stopped node's FIFO) is not looked at.
fn legacy_label_on_utf8(
    path: &Path,
    file: &File,
    enc: &'static Encoding,
    quote: bool,
) -> Result<(), SourceError> {
    if enc == encoding_rs::UTF_8 || enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(());
        }
        let mut buf = vec![0u8; LABEL_SAMPLE];
        let mut n = 0;
        while n < buf.len() {
            match file.read_at(&mut buf[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(()),
            }
        }
        let sample = &buf[..n];
        // A byte order mark says what the file is, and wins over the
        // encoding named (`bom_override`): read as it says.
        if sample.starts_with(b"\xef\xbb\xbf")
            || sample.starts_with(b"\xff\xfe")
            || sample.starts_with(b"\xfe\xff")
        {
            return Ok(());
        }
        let Some(first) = sample.iter().position(|b| *b >= 0x80) else {
            return Ok(());
        };
        let text = match std::str::from_utf8(sample) {
            Ok(t) => t,
            // Cut in the middle of a character at the sample's end.
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return Ok(()),
        };
        if text.len() <= first {
            return Ok(());
        }
        // The word around the first character beyond ASCII.
        let is_edge = |b: &u8| b.is_ascii_whitespace() || matches!(b, b',' | b';' | b'"' | b'\t');
        let start = sample[..first]
            .iter()
            .rposition(is_edge)
            .map_or(0, |i| i + 1);
        let end = sample[first..text.len()]
            .iter()
            .position(is_edge)
            .map_or(text.len(), |i| first + i);
        let word = text.get(start..end).unwrap_or_default();
        let word: String = word.chars().take(24).collect();
        let misread = enc
            .decode_without_bom_handling(word.as_bytes())
            .0
            .into_owned();
        let (utf8, misread) = if quote {
            (word, misread)
        } else {
            ("…".to_string(), "…".to_string())
        };
        Err(SourceError::LooksUtf8 {
            path: path.to_path_buf(),
            encoding: enc.name(),
            line: 1 + sample[..first].iter().filter(|b| **b == b'\n').count() as u64,
            misread,
            utf8,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        Ok(())
    }
}

/// Opens without blocking: a FIFO without a writer would otherwise hold the
/// open (and the thread) until one comes.
fn open_file(path: &Path, nonblocking: bool) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    if nonblocking {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    let _ = nonblocking;
    o.open(path)
}

/// A reader that stops when its flag is set and counts what it reads.
struct Guarded<R> {
    inner: R,
    stop: Option<Arc<AtomicBool>>,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            return Err(io::Error::other(Stopped));
        }
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Parses an `--encoding` label (WHATWG names: `utf-8`, `windows-1252`,
/// `latin1`, `iso-8859-15`, `utf-16le`, ...).
pub fn encoding(label: &str) -> Result<&'static Encoding, String> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        format!(
            "unknown encoding {label:?}; use a name such as utf-8, windows-1252 (Excel in western Europe, also for latin1), iso-8859-2 or utf-16le"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(path: &Path, opts: &SourceOptions) -> Result<Vec<u8>, SourceError> {
        let mut r = open(path, opts, None)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        Ok(out)
    }

    #[test]
    fn legacy_encodings_are_decoded_and_utf8_passes_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.csv");
        std::fs::write(&f, b"Mauser Oberndorf,M\xfcnchen\n").unwrap();
        let raw = read_all(&f, &SourceOptions::default()).unwrap();
        assert_eq!(raw, b"Mauser Oberndorf,M\xfcnchen\n", "passed through");
        let opts = SourceOptions {
            encoding: Some(encoding("latin1").unwrap()),
            ..SourceOptions::default()
        };
        assert_eq!(
            String::from_utf8(read_all(&f, &opts).unwrap()).unwrap(),
            "Mauser Oberndorf,München\n"
        );
        // A UTF-16 file from Excel's "Unicode text" carries its byte order mark.
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("Žilina\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        std::fs::write(&f, utf16).unwrap();
        assert_eq!(
            read_all(&f, &SourceOptions::default()).unwrap(),
            "Žilina\n".as_bytes()
        );
        assert!(encoding("klingon").unwrap_err().contains("windows-1252"));
    }

    #[cfg(unix)]
    #[test]
    fn the_node_refuses_fifos_and_devices_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe.csv");
        crate::model::file::mkfifo(&fifo);
        let opts = SourceOptions {
            regular_only: true,
            ..SourceOptions::default()
        };
        // No writer ever opens the FIFO: a blocking open would hang here.
        let e = open(&fifo, &opts, None).err().unwrap();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        // Copied under a name of its own format (a helper's trial: a CSV
        // pipe was told to become `records.jsonl`).
        assert!(e.to_string().contains("pipe.csv' > pipe-copy.csv`"), "{e}");
        let e = open(Path::new("/dev/zero"), &opts, None).err().unwrap();
        assert!(e.to_string().contains("character device"), "{e}");
    }

    /// The running node imports none of its own private files, whatever the
    /// path given: its key read as a CSV came back, byte for byte, in the
    /// "unknown column" of the error (a helper's hostile trial).
    #[cfg(unix)]
    #[test]
    fn the_node_imports_none_of_its_own_private_files() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        std::fs::create_dir(&data).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let key = data.join("node.key");
        std::fs::write(&key, [7u8; 32]).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let outside = d.path().join("records.csv");
        std::fs::write(&outside, "id,serial\n").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o600)).unwrap();
        let beside = data.join("records.csv");
        std::fs::write(&beside, "id,serial\n").unwrap();
        std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::create_dir(data.join("db")).unwrap();
        let store = data.join("db").join("conf");
        std::fs::write(&store, "segment_size: 524288\n").unwrap();
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
        let opts = SourceOptions {
            regular_only: true,
            refuse_under: Some(data.clone()),
            ..SourceOptions::default()
        };
        let link = d.path().join("innocent.csv");
        std::os::unix::fs::symlink(&key, &link).unwrap();
        for p in [
            key.clone(),
            link,
            data.join("..").join("data").join("node.key"),
            store,
        ] {
            let e = open(&p, &opts, None).err().unwrap();
            assert!(matches!(e, SourceError::InDataDir { .. }), "{p:?}: {e}");
            assert!(e.to_string().contains("another folder"), "{e}");
        }
        // A hard link to it elsewhere is the same file.
        let hard = d.path().join("hard.csv");
        std::fs::hard_link(&key, &hard).unwrap();
        let e = open(&hard, &opts, None).err().unwrap();
        assert!(matches!(e, SourceError::InDataDir { .. }), "{e}");
        // The data directory named through a link is the same folder.
        let via = d.path().join("via");
        std::os::unix::fs::symlink(&data, &via).unwrap();
        let opts_via = SourceOptions {
            refuse_under: Some(via),
            ..opts.clone()
        };
        assert!(open(&key, &opts_via, None).is_err());
        // A registry file outside it, whoever may read it, or beside the
        // node's files and readable as registry files are, imports.
        assert!(open(&outside, &opts, None).is_ok());
        assert!(open(&beside, &opts, None).is_ok());
    }

    /// A UTF-8 file given a legacy encoding is refused, showing the first
    /// word as it would be misread; a file in that encoding is read.
    #[cfg(unix)]
    #[test]
    fn a_legacy_encoding_named_for_a_utf8_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("u8.csv");
        std::fs::write(&f, "id,serial\nA1,\u{c4}B123\n").unwrap();
        let opts = SourceOptions {
            encoding: Some(encoding("windows-1252").unwrap()),
            ..SourceOptions::default()
        };
        let e = open(&f, &opts, None).err().unwrap();
        let said = e.to_string();
        assert!(
            said.contains("line 2")
                && said.contains("\"ÄB123\"")
                && said.contains("\"Ã\u{201e}B123\""),
            "{said}"
        );
        std::fs::write(&f, b"id,serial\nA1,\xc4B123\n").unwrap();
        assert!(open(&f, &opts, None).is_ok());
        std::fs::write(&f, "id,serial\nA1,AB123\n").unwrap();
        assert!(open(&f, &opts, None).is_ok());
        // UTF-8 named as such, or no encoding named, reads it.
        std::fs::write(&f, "id,serial\nA1,\u{c4}B123\n").unwrap();
        assert!(open(&f, &SourceOptions::default(), None).is_ok());
        // A byte order mark wins over the encoding named, as before: Excel's
        // "CSV UTF-8", with or without characters beyond ASCII, reads.
        for text in [
            "\u{feff}id,serial\nA1,AB123\n",
            "\u{feff}id,serial\nA1,\u{c4}B123\n",
        ] {
            std::fs::write(&f, text).unwrap();
            let mut r = open(&f, &opts, None).unwrap();
            let mut read = String::new();
            r.read_to_string(&mut read).unwrap();
            assert_eq!(read, text.trim_start_matches('\u{feff}'));
        }
        // Through the control API, a word of a file others may not read is
        // not quoted; of one anyone may read, it is.
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&f, "id,serial\nA1,\u{c4}B123\n").unwrap();
        let api = SourceOptions {
            refuse_under: Some(d.path().join("elsewhere")),
            ..opts.clone()
        };
        std::fs::create_dir(d.path().join("elsewhere")).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let said = open(&f, &api, None).err().unwrap().to_string();
        assert!(said.contains("line 2") && !said.contains("B123"), "{said}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let said = open(&f, &api, None).err().unwrap().to_string();
        assert!(said.contains("\"ÄB123\""), "{said}");
    }

    #[test]
    fn a_set_stop_flag_ends_the_next_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.jsonl");
        std::fs::write(&f, "x\n".repeat(100_000)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(0));
        let opts = SourceOptions {
            stop: Some(stop.clone()),
            ..SourceOptions::default()
        };
        let mut r = open(&f, &opts, Some(counter.clone())).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(counter.load(Ordering::Relaxed) > 0);
        stop.store(true, Ordering::Relaxed);
        let mut rest = Vec::new();
        let e = r.read_to_end(&mut rest).unwrap_err();
        assert!(is_stopped(&e), "{e}");
    }
}
