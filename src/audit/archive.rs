//! The audit log's archive: its oldest entries, moved out of the store into
//! files once the store holds more than `node.audit_keep_in_store` of them.
//!
//! Why: sled keeps a record in memory for every page of a tree, evicted or
//! not (the page table, its cache's slot, the segment that holds it), and an
//! appended tree splits into pages of 8 or 9 entries. A log kept whole in the
//! store therefore costs memory for ever: about 33 MiB of live heap per
//! million queries answered (two entries each), measured with heaptrack
//! over a soak (proto-docs/PERFORMANCE.md, "Where the holder's memory
//! goes"). Entries moved to a file cost none, and the pages they leave are
//! reused.
//!
//! Shape: `<data dir>/audit-archive/<first>-<last>.jsonl`, both sequence
//! numbers written in 20 digits, one entry per line exactly as the store held
//! it (its JSON, which never holds a raw newline). The chain runs on from one
//! file to the next and into the store: `AuditLog::verify` walks all of it.
//! A file is written under a `.tmp` name, synced, renamed and its folder
//! synced before its entries leave the store, so a crash leaves each entry
//! in the store, in a file, or (for a moment) in both: opening the log
//! removes from the store what a file already holds, and deletes a `.tmp`
//! file left behind.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::AuditError;

/// The archive's folder in a node's data directory.
pub const DIR: &str = "audit-archive";

/// One archive file: entries `first..=last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    pub first: u64,
    pub last: u64,
    pub path: PathBuf,
}

fn name(first: u64, last: u64) -> String {
    format!("{first:020}-{last:020}.jsonl")
}

/// The first entry a file's name says it holds, when the name is an
/// archive file's (for naming where a file that cannot be read stops the
/// log).
pub fn first_in(path: &Path) -> Option<u64> {
    parse_name(path.file_name()?.to_str()?).map(|(first, _)| first)
}

/// The longest line an archive file may hold, in bytes. An entry's JSON is
/// a few hundred, and the log writes none past [`MAX_ENTRY`]; entries
/// written before that bound (an officer's name audited as sent, up to a
/// mebibyte) stay readable and archivable under this one. A longer line (a
/// planted or damaged file) is refused before it is held in memory whole.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// The longest entry the log writes, in bytes (`AuditError::TooLong`):
/// every field is bounded well below it.
pub const MAX_ENTRY: usize = 64 * 1024;

/// The range a stray name was made from (`...jsonl.bak`, `...jsonl~`), if
/// it starts as an archive file's does.
pub fn range_in_stray(path: &Path) -> Option<(u64, u64)> {
    let name = path.file_name()?.to_str()?;
    let end = name.find(".jsonl")? + ".jsonl".len();
    parse_name(&name[..end])
}

/// `(first, last)` from a file name written by [`name`].
fn parse_name(file: &str) -> Option<(u64, u64)> {
    let (a, b) = file.strip_suffix(".jsonl")?.split_once('-')?;
    let ok = |s: &str| s.len() == 20 && s.bytes().all(|c| c.is_ascii_digit());
    if !(ok(a) && ok(b)) {
        return None;
    }
    let (first, last) = (a.parse().ok()?, b.parse().ok()?);
    (first <= last).then_some((first, last))
}

fn io_error(path: &Path, what: &str, e: impl std::fmt::Display) -> AuditError {
    AuditError::Archive {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

/// The archive files in `dir`, oldest first; none when `dir` does not exist.
/// A file of another name is ignored, except a `.tmp` left by a crash,
/// which `remove_unfinished` deletes. A file with an archive's name that
/// does not fit ([`Listing::misfits`]: one whose range overlaps another's,
/// or that is not a regular file) is refused: the log cannot tell which
/// holds the entries, and a pipe or a link could stall or mislead a reader.
/// What a file holds is checked against its name by `AuditLog::verify`,
/// and against the store when the log opens.
pub fn files(dir: &Path) -> Result<Vec<ArchiveFile>, AuditError> {
    let l = listing(dir)?;
    match l.misfits.into_iter().next() {
        Some((f, reason)) => Err(AuditError::Archive {
            path: f.path,
            reason,
        }),
        None => Ok(l.files),
    }
}

/// The files with an archive's name in its folder, sorted.
#[derive(Debug, Default)]
pub struct Listing {
    /// Regular files whose ranges do not overlap, oldest first.
    pub files: Vec<ArchiveFile>,
    /// The others, each with why it does not fit and what to do: a file
    /// overlapping one listed before it (by first entry, then last), or a
    /// link, pipe, device or folder, which is never read.
    pub misfits: Vec<(ArchiveFile, String)>,
    /// Other names in the folder (a `.tmp` aside): never read; `verify`
    /// names those that start as an archive file's (`...jsonl.bak`: a file
    /// renamed out of the archive's names).
    pub strays: Vec<std::path::PathBuf>,
}

/// Lists `dir` as [`files`] does, keeping what does not fit apart instead of
/// refusing it: for `AuditLog::verify`, which reports each and reads the
/// rest.
pub fn listing(dir: &Path) -> Result<Listing, AuditError> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(io_error(dir, "cannot list the audit archive", e)),
    };
    let mut named = Vec::new();
    let mut strays = Vec::new();
    for ent in read {
        let ent = ent.map_err(|e| io_error(dir, "cannot list the audit archive", e))?;
        let file = ent.file_name();
        let parsed = file.to_str().and_then(parse_name);
        if parsed.is_none() && ent.path().extension().is_none_or(|x| x != "tmp") {
            strays.push(ent.path());
        }
        if let Some((first, last)) = parsed {
            // Not followed: a link is judged as a link.
            let regular = ent.file_type().is_ok_and(|t| t.is_file());
            let f = ArchiveFile {
                first,
                last,
                path: ent.path(),
            };
            named.push((f, regular));
        }
    }
    named.sort_by_key(|(f, _)| (f.first, f.last));
    strays.sort();
    let mut l = Listing {
        strays,
        ..Listing::default()
    };
    for (f, regular) in named {
        if !regular {
            l.misfits.push((
                f,
                "has an archive file's name but is not a regular file (a link, a pipe, a device or a folder): move it out of the folder".into(),
            ));
        } else if let Some(before) = l.files.last()
            && f.first <= before.last
        {
            let reason = format!(
                "overlaps {} (entries {} to {}): move the copy that is not the node's own out of the folder",
                before.path.display(),
                before.first,
                before.last
            );
            l.misfits.push((f, reason));
        } else {
            l.files.push(f);
        }
    }
    Ok(l)
}

/// Deletes the `.tmp` files a crash left while writing an archive file:
/// their entries are still in the store.
pub fn remove_unfinished(dir: &Path) -> Result<(), AuditError> {
    for f in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = f.path();
        if p.extension().is_some_and(|x| x == "tmp") {
            fs::remove_file(&p)
                .map_err(|e| io_error(&p, "cannot delete an unfinished archive file", e))?;
        }
    }
    Ok(())
}

/// Writes `entries` (stored bytes, entries `first..=last` in order) as one
/// archive file, durably: written under a `.tmp` name, synced, renamed, the
/// folder synced. Returns the file's path. On an error nothing is left
/// behind but, at worst, the renamed file (when the folder's sync failed),
/// which the next archiving finds complete.
pub fn write(
    dir: &Path,
    first: u64,
    last: u64,
    entries: impl Iterator<Item = Result<Vec<u8>, AuditError>>,
) -> Result<PathBuf, AuditError> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, "cannot create the audit archive", e))?;
    let path = dir.join(name(first, last));
    let tmp = path.with_extension("jsonl.tmp");
    let written = write_synced(&tmp, entries).and_then(|()| {
        fs::rename(&tmp, &path).map_err(|e| io_error(&path, "cannot rename into place", e))
    });
    if written.is_err() {
        // A part written is no use, and would take the space the store
        // needs on a full disk.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // The entries leave the store after this: the rename must be durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "cannot sync the archive folder", e))?;
    Ok(path)
}

/// Writes `entries` to `tmp`, one a line, and syncs it.
fn write_synced(
    tmp: &Path,
    entries: impl Iterator<Item = Result<Vec<u8>, AuditError>>,
) -> Result<(), AuditError> {
    // A `.tmp` of that name left or put there is removed (a link itself,
    // not what it points to), and the file created anew without following
    // a link: nothing outside the folder is truncated or written.
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(tmp, "cannot remove an old copy", e)),
    }
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    let file = o.open(tmp).map_err(|e| io_error(tmp, "cannot create", e))?;
    let mut w = BufWriter::new(file);
    for bytes in entries {
        let bytes = bytes?;
        if bytes.contains(&b'\n') {
            // Never written by this log (its JSON escapes newlines).
            return Err(io_error(
                tmp,
                "an entry holds a raw newline",
                "not archived",
            ));
        }
        if bytes.len() > MAX_LINE {
            // Never written by this log (`AuditError::TooLong`): an entry
            // stored before that bound stays in the store, where it can be
            // read, rather than in a file no reader takes.
            return Err(io_error(
                tmp,
                &format!(
                    "an entry of {} bytes is longer than a line may be",
                    bytes.len()
                ),
                "not archived",
            ));
        }
        w.write_all(&bytes)
            .and_then(|_| w.write_all(b"\n"))
            .map_err(|e| io_error(tmp, "cannot write", e))?;
    }
    let file = w
        .into_inner()
        .map_err(|e| io_error(tmp, "cannot write", e.error().to_string()))?;
    file.sync_all().map_err(|e| io_error(tmp, "cannot sync", e))
}

/// Opens an archive file for reading, refusing anything but a regular file:
/// a link is not followed, and a pipe put in the file's place after the
/// folder was listed does not block the open.
fn open_regular(path: &Path) -> Result<File, AuditError> {
    let mut o = fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = o
        .open(path)
        .map_err(|e| io_error(path, "cannot open (a link is not followed)", e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_error(path, "cannot read its metadata", e))?;
    if !meta.is_file() {
        return Err(AuditError::Archive {
            path: path.to_path_buf(),
            reason: "is not a regular file: move it out of the folder".into(),
        });
    }
    Ok(file)
}

/// The lines of an archive file (each an entry's stored bytes), in order.
/// A line longer than [`MAX_LINE`] is an error naming the file and the
/// line, after which the iterator ends.
pub fn lines(
    f: &ArchiveFile,
) -> Result<impl Iterator<Item = Result<Vec<u8>, AuditError>> + '_, AuditError> {
    let file = open_regular(&f.path)?;
    let mut r = BufReader::new(file);
    let mut n = 0u64;
    let mut stopped = false;
    Ok(std::iter::from_fn(move || {
        if stopped {
            return None;
        }
        n += 1;
        let mut line = Vec::new();
        // One byte past the longest line, to tell a line of exactly
        // MAX_LINE bytes and its newline from a longer one.
        match (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => None,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                } else if line.len() > MAX_LINE {
                    stopped = true;
                    return Some(Err(AuditError::Archive {
                        path: f.path.clone(),
                        reason: format!(
                            "line {n} is longer than {MAX_LINE} bytes, which no audit entry is: the file is not this node's (move it out of the folder and run `tracenet audit verify`)"
                        ),
                    }));
                }
                Some(Ok(line))
            }
            Err(e) => {
                stopped = true;
                Some(Err(io_error(&f.path, "cannot read", e)))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_ignored() {
        assert_eq!(parse_name(&name(0, 41)), Some((0, 41)));
        assert_eq!(parse_name(&name(7, 7)), Some((7, 7)));
        for other in [
            "notes.txt",
            "1-2.jsonl",
            "00000000000000000009-00000000000000000001.jsonl",
            "00000000000000000001-0000000000000000000x.jsonl",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn overlapping_files_are_refused_naming_both() {
        let d = tempfile::tempdir().unwrap();
        for (a, b) in [(0, 9), (5, 12)] {
            fs::write(d.path().join(name(a, b)), b"").unwrap();
        }
        let e = files(d.path()).unwrap_err().to_string();
        assert!(e.contains(&name(5, 12)) && e.contains(&name(0, 9)), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_put_where_the_file_is_written_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside.txt");
        fs::write(&outside, b"not the archive's").unwrap();
        let dir = d.path().join(DIR);
        fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(name(0, 1)).with_extension("jsonl.tmp");
        std::os::unix::fs::symlink(&outside, &tmp).unwrap();
        let entries = [b"{}".to_vec(), b"{}".to_vec()].into_iter().map(Ok);
        let path = write(&dir, 0, 1, entries).unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"not the archive's");
        assert_eq!(fs::read(&path).unwrap(), b"{}\n{}\n");
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
    }

    #[test]
    fn a_line_longer_than_any_entry_is_refused_without_holding_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(name(0, 2));
        let mut text = b"a".repeat(MAX_LINE);
        text.push(b'\n');
        text.extend(b"b".repeat(3 * MAX_LINE));
        text.extend(b"\nnever read\n");
        fs::write(&path, &text).unwrap();
        let f = ArchiveFile {
            first: 0,
            last: 2,
            path,
        };
        let read: Vec<_> = lines(&f).unwrap().collect();
        assert_eq!(read.len(), 2, "the iterator ends at the long line");
        assert_eq!(read[0].as_ref().unwrap().len(), MAX_LINE);
        let e = read[1].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("line 2 is longer than") && e.contains(&name(0, 2)),
            "{e}"
        );
        assert_eq!(first_in(&f.path), Some(0));
        assert_eq!(first_in(Path::new("notes.txt")), None);
    }
}
