//! Reading the small files a node and its commands are given (keys, the
//! configuration, the policy, rosters, maker tables, evidence bundles): a
//! regular file only, opened without blocking, and at most a bound. A path
//! that names a FIFO held the reader for ever (`config check`, `node run`
//! with `policy.toml` a FIFO), and `/dev/zero` filled memory at gigabytes a
//! second (`roster verify /dev/zero`; a helper's hostile trial).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The bound of a configuration, policy, roster, maker table or key file:
/// far above any real one (a roster of 200 States is some 100 KiB).
pub const SMALL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads the whole of the regular file at `path`, at most `max` bytes. A
/// FIFO, a device, a socket or a directory is refused, never waited on or
/// read without end, and so is a longer file: each as an [`io::Error`] in
/// words, of kind `InvalidInput` and `FileTooLarge`, so that the callers'
/// errors, which name the file, say what it is.
pub fn read_small(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_to_bound(open_regular(path)?, max)
}

/// Where `path` links to, if it is a symbolic link to nothing (a mount
/// absent, a file moved): such a path is neither a file there nor a free
/// name to make one at.
pub fn dangling_link(path: &Path) -> Option<std::path::PathBuf> {
    let meta = path.symlink_metadata().ok()?;
    (meta.is_symlink() && !path.exists())
        .then(|| std::fs::read_link(path).ok())
        .flatten()
}

/// Serialises a path as text, a name that is not UTF-8 with U+FFFD where
/// it is not: what a command's `--json` (and the control API) says of a
/// file. serde's own form refuses such a name, and the command failed
/// after its work was done (`roster new --out` a name in Latin-1, a
/// hostile trial). Every path field of a serialised output takes it
/// (`#[serde(serialize_with = "crate::model::file::serialize_lossy")]`).
pub fn serialize_lossy<P: AsRef<Path>, S: serde::Serializer>(
    p: &P,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.as_ref().to_string_lossy())
}

/// A secret file as [`read_small_secret`] found it.
#[derive(Debug)]
pub enum Secret {
    /// Its bytes: only its owner may read or write it.
    Read(Vec<u8>),
    /// Not read: others may read or write it (its permission bits, as
    /// `0o644`).
    OpenToOthers(u32),
}

/// [`read_small`] of a secret (a node's signing or OPRF key): not read if
/// anyone but its owner may read or write it. The mode is judged on the
/// file opened, not on the path before opening it, so that a file put in
/// its place between the check and the read is never the one read.
pub fn read_small_secret(path: &Path, max: u64) -> io::Result<Secret> {
    secret_of(open_regular(path)?, max)
}

/// [`read_small_secret`] of a file opened: judged by its own mode, whatever
/// its path names now.
fn secret_of(f: File, max: u64) -> io::Result<Secret> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(Secret::OpenToOthers(mode));
        }
    }
    read_to_bound(f, max).map(Secret::Read)
}

fn read_to_bound(f: File, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "longer than {max} bytes, far more than such a file holds; is it the right file?"
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_small`], as UTF-8 text.
pub fn read_small_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_small(path, max)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (byte {} is not)",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Opens `path` for reading without blocking (a FIFO without a writer
/// opens at once), and refuses what is not a regular file.
fn open_regular(path: &Path) -> io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK);
    }
    let f = o.open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}, not a regular file", kind_of(&meta)),
        ));
    }
    Ok(f)
}

/// What a file that is not a regular file is, in words ("a FIFO (named
/// pipe)", "a character device", ...).
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Makes a FIFO at `path`, for the tests of what reads and writes files.
#[cfg(all(test, unix))]
pub(crate) fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

/// What is wrong with a JSON file, in words for the person who gave it:
/// where (line and column), and what, without the Rust type names serde
/// puts in its messages (`expected struct RosterFile with 3 elements`, a
/// regional organisation's trial), for the file's `bytes`. The caller names
/// the file and what it should have been.
pub fn json_problem(bytes: &[u8], e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if bytes.trim_ascii().is_empty() {
        return "the file is empty".into();
    }
    let (line, column) = (e.line(), e.column());
    // serde_json's text is the message and then this.
    let full = e.to_string();
    let message = full
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&full);
    match e.classify() {
        Category::Eof => {
            format!("the file ends at line {line} column {column} before its JSON does: cut short?")
        }
        Category::Syntax => format!("not JSON: line {line} column {column}: {message}"),
        Category::Data => format!("line {line} column {column}: {}", data_words(message)),
        Category::Io => full,
    }
}

/// What is wrong with a TOML file (a maker table, a configuration), in the
/// words of [`json_problem`]: where, and what, without serde's Rust type
/// names (`expected u32`, a regional organisation's trial) or the toml
/// crate's drawing of the line.
pub fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    if text.trim().is_empty() {
        return "the file is empty".into();
    }
    let words = data_words(e.message().trim());
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line} column {column}: {words}")
        }
        None => words,
    }
}

/// A serde data error said without Rust type names: `expected struct X`
/// (and `with N elements`, serde's reading of an array as a struct)
/// becomes "an object", `expected u64` "a whole number from 0 to ...",
/// `sequence` and `map` "an array" and "an object".
fn data_words(message: &str) -> String {
    let Some(at) = message.find("expected struct ") else {
        let mut said = message.to_string();
        for (rust, words) in [
            ("expected u8", "expected a whole number from 0 to 255"),
            ("expected u16", "expected a whole number from 0 to 65535"),
            (
                "expected u32",
                "expected a whole number from 0 to 4294967295",
            ),
            ("expected u64", "expected a whole number from 0 up"),
            ("expected usize", "expected a whole number from 0 up"),
            ("expected i32", "expected a whole number"),
            ("expected i64", "expected a whole number"),
            ("expected f64", "expected a number"),
            ("expected a boolean", "expected true or false"),
            ("expected a sequence", "expected an array"),
            ("expected a map", "expected an object"),
            ("invalid type: sequence", "invalid type: an array"),
            ("invalid type: map", "invalid type: an object"),
        ] {
            if let Some(rest) = said.strip_suffix(rust) {
                said = format!("{rest}{words}");
            } else {
                said = said.replace(&format!("{rust},"), &format!("{words},"));
            }
        }
        return said;
    };
    let head = &message[..at];
    if head.starts_with("invalid length") {
        return "a JSON array where an object was expected".into();
    }
    let found = head
        .strip_prefix("invalid type: ")
        .map(|t| t.trim_end_matches([',', ' ']))
        .map(|t| match t {
            "sequence" => "an array".to_string(),
            "map" => "an object".to_string(),
            other => other.to_string(),
        });
    match found {
        Some(found) => format!("{found} where an object was expected"),
        None => format!("{head}expected an object"),
    }
}

/// What is wrong with base64 text (a roster's or a maker table's body, a
/// signature, an evidence bundle's message), in words: which character, or
/// that its length or end is no base64 (most often a file cut short or
/// edited). Positions count from 1.
pub fn base64_problem(e: &base64::DecodeError) -> String {
    let shown = |byte: u8| match byte {
        b' '..=b'~' => format!("{:?}", byte as char),
        _ => format!("byte 0x{byte:02x}"),
    };
    match *e {
        base64::DecodeError::InvalidByte(at, byte) => format!(
            "character {} at position {} is not base64 (A to Z, a to z, 0 to 9, + and /, = at the end)",
            shown(byte),
            at + 1
        ),
        base64::DecodeError::InvalidLength(len) => {
            format!("{len} characters of base64 are no whole number of bytes: cut short or edited?")
        }
        base64::DecodeError::InvalidLastSymbol(at, byte) => format!(
            "its last character {} (position {}) is not how base64 ends: cut short or edited?",
            shown(byte),
            at + 1
        ),
        base64::DecodeError::InvalidPadding => {
            "its padding (the = at its end) is wrong: cut short or edited?".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_fifo_a_device_a_folder_and_a_long_file_are_refused_without_waiting() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("policy.toml");
        mkfifo(&fifo);
        // No writer ever opens it: a blocking open would hang here.
        let e = read_small(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = read_small(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_small(d.path(), 100).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let long = d.path().join("roster.json");
        std::fs::write(&long, [b'x'; 101]).unwrap();
        let e = read_small(&long, 100).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(read_small(&long, 101).unwrap().len(), 101);
        std::fs::write(&long, b"\xff").unwrap();
        assert!(read_small_text(&long, 100).is_err());
        let e = read_small(&d.path().join("absent"), 100).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_others_may_read_is_not_read_and_its_mode_is_the_opened_files() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("node.key");
        std::fs::write(&key, [7u8; 32]).unwrap();
        for (mode, read) in [(0o600, true), (0o400, true), (0o640, false), (0o606, false)] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            match read_small_secret(&key, 4096).unwrap() {
                Secret::Read(b) => assert!(read && b == [7u8; 32], "{mode:o}"),
                Secret::OpenToOthers(m) => assert!(!read && m == mode, "{mode:o}"),
            }
        }
        // The file opened is judged, not what its path names by then: a
        // file others may read, put in its place after the open, is
        // neither judged nor read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let opened = open_regular(&key).unwrap();
        let swapped = d.path().join("swapped");
        std::fs::write(&swapped, [9u8; 32]).unwrap();
        std::fs::set_permissions(&swapped, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::rename(&swapped, &key).unwrap();
        match secret_of(opened, 4096).unwrap() {
            Secret::Read(b) => assert_eq!(b, [7u8; 32]),
            Secret::OpenToOthers(m) => panic!("judged the path's file, mode {m:o}"),
        }
        assert!(matches!(
            read_small_secret(&key, 4096).unwrap(),
            Secret::OpenToOthers(0o644)
        ));
        let e = read_small_secret(&d.path().join("absent"), 4096).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let fifo = d.path().join("oprf.key");
        mkfifo(&fifo);
        let e = read_small_secret(&fifo, 4096).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }

    #[test]
    fn json_and_base64_problems_are_said_without_rust_names() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct RosterFile {
            format: String,
            body: String,
        }
        let problem = |text: &str| {
            json_problem(
                text.as_bytes(),
                &serde_json::from_str::<RosterFile>(text).unwrap_err(),
            )
        };
        for (text, said) in [
            ("", "the file is empty"),
            ("\n \n\t", "the file is empty"),
            (
                "{\"format\": \"x\",",
                "ends at line 1 column 15 before its JSON does",
            ),
            ("hello", "not JSON: line 1 column 1"),
            (
                "[]",
                "line 1 column 2: a JSON array where an object was expected",
            ),
            ("[\"a\"]", "a JSON array where an object was expected"),
            (
                "\"a roster\"",
                "string \"a roster\" where an object was expected",
            ),
            ("7", "integer `7` where an object was expected"),
            (
                "{\"format\": 1}",
                "invalid type: integer `1`, expected a string",
            ),
            ("{\"format\": \"x\"}", "missing field `body`"),
        ] {
            let p = problem(text);
            assert!(p.contains(said), "{text:?}: {p}");
            assert!(
                !p.contains("struct") && !p.contains("RosterFile"),
                "{text:?}: {p}"
            );
        }
        // TOML, as a maker table's.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Table {
            version: u32,
        }
        let in_toml = |text: &str| toml_problem(text, &toml::from_str::<Table>(text).unwrap_err());
        assert_eq!(in_toml(" \n\n"), "the file is empty");
        let p = in_toml("# a table\nversion = -1\n");
        assert!(
            p.starts_with("line 2 column 11: ")
                && p.contains("expected a whole number from 0 to 4294967295"),
            "{p}"
        );
        let p = in_toml("!!!!");
        assert!(p.starts_with("line 1 column 1: "), "{p}");
        assert!(!in_toml("version = \"3\"").contains("u32"));
        // Numbers and the other kinds serde names in Rust's words.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Entry {
            version: u64,
            threshold: u8,
            listed: Vec<String>,
            kept: bool,
        }
        let entry = |text: &str| {
            json_problem(
                text.as_bytes(),
                &serde_json::from_str::<Entry>(text).unwrap_err(),
            )
        };
        for (text, said) in [
            (
                "{\"version\": -1}",
                "invalid value: integer `-1`, expected a whole number from 0 up",
            ),
            (
                "{\"version\": \"3\"}",
                "invalid type: string \"3\", expected a whole number from 0 up",
            ),
            (
                "{\"version\": 1, \"threshold\": 300}",
                "expected a whole number from 0 to 255",
            ),
            (
                "{\"version\": 1, \"threshold\": 1, \"listed\": {}}",
                "invalid type: an object, expected an array",
            ),
            (
                "{\"version\": 1, \"threshold\": 1, \"listed\": [], \"kept\": 1}",
                "invalid type: integer `1`, expected true or false",
            ),
        ] {
            let p = entry(text);
            assert!(p.contains(said), "{text:?}: {p}");
            for rust in ["u64", "u8", "sequence", "map", "boolean", "Entry"] {
                assert!(!p.contains(rust), "{text:?}: {p}");
            }
        }
        use base64::Engine;
        let b64 = |text: &str| {
            base64_problem(
                &base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_err(),
            )
        };
        assert!(b64("!!!!").starts_with("character '!' at position 1 is not base64"));
        assert!(
            b64("AA\u{e9}A").contains("byte 0xc3 at position 3"),
            "{}",
            b64("AA\u{e9}A")
        );
        assert!(b64("AAAAA").contains("5 characters"), "{}", b64("AAAAA"));
        assert!(b64("AAA").contains("padding"), "{}", b64("AAA"));
        assert!(
            b64("AB==").contains("last character 'B'"),
            "{}",
            b64("AB==")
        );
    }
}
