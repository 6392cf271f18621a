//! How commands speak: human text on a terminal, stable JSON with `--json`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

/// What every command receives from the global flags.
#[derive(Debug, Clone)]
pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
}

impl Context {
    /// Prints a command's result: `value` as one JSON document with `--json`,
    /// otherwise the text that `human` renders.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        // Its errors name standard output (a full disk said only "No space
        // left on device"); a closed one keeps its kind (`closed_stdout`).
        let mut out = Naming::new(std::io::stdout().lock(), "standard output".into());
        if self.json {
            // As an io::Error, so that a closed stdout is told apart (its
            // kind survives the conversion).
            serde_json::to_writer(&mut out, value).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        } else {
            let text = human(value);
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

/// An export's destination: standard output, or a temporary file beside FILE
/// that becomes FILE only once complete (a failed export leaves no file that
/// looks whole). An existing FILE is replaced only when the command was told
/// `--force`: checked before the export starts, and again when the file takes
/// its name (a file made in between is not replaced either). A FIFO or a
/// character device (`/dev/null`, `/dev/stdout`) is written into, never
/// replaced ([`crate::model::target`]).
pub(crate) enum Destination {
    Stdout(BufWriter<Naming<std::io::StdoutLock<'static>>>),
    Stream(BufWriter<Naming<std::fs::File>>),
    File {
        w: BufWriter<Naming<tempfile::NamedTempFile>>,
        file: PathBuf,
        replace: bool,
        unfinished: Unfinished,
    },
}

/// The temporary files of the exports under way, by path: removed when the
/// command is interrupted (SIGINT, SIGTERM, SIGHUP) before they take their
/// names. A temporary file is otherwise removed when its export fails
/// ([`tempfile::NamedTempFile`]'s drop), but a signal's default action ends
/// the process without running it.
static UNFINISHED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Locks [`UNFINISHED`], whatever a panicking holder left: a list of paths
/// is whole after each of its operations.
fn unfinished() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts, once per process, the thread that removes [`UNFINISHED`]'s files
/// on an interrupting signal, then ends the process as the signal would have
/// (the shell sees it killed by the signal, as before). Its removal and an
/// export's renaming take the same lock: an interrupted export leaves the
/// old file or the new one under its name, and no temporary file. If the
/// handlers cannot be installed, the signals keep their default action (the
/// temporary file is then left, as before).
fn watch_interruptions() {
    static WATCH: std::sync::Once = std::sync::Once::new();
    #[cfg(unix)]
    WATCH.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("export-interrupted".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    // A rename under way on a stalled file system holds the
                    // lock: after two seconds the process ends anyway, as
                    // the signal asks, leaving the file as before.
                    let began = std::time::Instant::now();
                    let files = loop {
                        match UNFINISHED.try_lock() {
                            Ok(files) => break Some(files),
                            Err(std::sync::TryLockError::Poisoned(p)) => {
                                break Some(p.into_inner());
                            }
                            Err(std::sync::TryLockError::WouldBlock)
                                if began.elapsed() < std::time::Duration::from_secs(2) =>
                            {
                                std::thread::sleep(std::time::Duration::from_millis(10));
                            }
                            Err(std::sync::TryLockError::WouldBlock) => break None,
                        }
                    };
                    for file in files.iter().flat_map(|f| f.iter()) {
                        let _ = std::fs::remove_file(file);
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            });
    });
    #[cfg(not(unix))]
    WATCH.call_once(|| {});
}

/// One temporary file listed in [`UNFINISHED`] while its export is under
/// way; unlisted when it takes its name ([`Unfinished::settle`]) or when
/// the export is dropped (the file is then removed by its own drop).
pub(crate) struct Unfinished(Option<PathBuf>);

impl Unfinished {
    /// Makes a temporary file in `dir`, listed from the moment it exists
    /// (the interruption's cleanup waits for the lock held meanwhile, two
    /// seconds at most).
    fn create(dir: &Path) -> std::io::Result<(tempfile::NamedTempFile, Self)> {
        watch_interruptions();
        let mut files = unfinished();
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        files.push(tmp.path().to_path_buf());
        let path = tmp.path().to_path_buf();
        Ok((tmp, Unfinished(Some(path))))
    }

    /// Runs `rename` (the temporary file taking its name) under the lock
    /// the interruption's cleanup takes, and unlists the file.
    fn settle<T>(mut self, rename: impl FnOnce() -> T) -> T {
        let mut files = unfinished();
        let done = rename();
        if let Some(path) = self.0.take() {
            files.retain(|f| f != &path);
        }
        done
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            unfinished().retain(|f| f != &path);
        }
    }
}

/// Whether an opened file is a FIFO or a character device.
fn is_stream(m: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        m.file_type().is_fifo() || m.file_type().is_char_device()
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        false
    }
}

/// The error for an existing file written without `--force`.
fn exists(file: &Path) -> anyhow::Error {
    anyhow::anyhow!("{} exists; pass --force to replace it", file.display())
}

/// A writer whose errors name where it writes: `audit export /dev/full`
/// said only "No space left on device (os error 28)".
pub(crate) struct Naming<W> {
    inner: W,
    name: String,
}

impl<W> Naming<W> {
    pub(crate) fn new(inner: W, name: String) -> Self {
        Naming { inner, name }
    }

    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("cannot write into {}: {e}", self.name))
    }
}

impl<W: Write> Write for Naming<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.named(e))
    }
}

/// The files a node keeps in its data directory, beside its `node.key`,
/// that no output writes: its keys, its API's token and addresses, its
/// configuration, policy, roster and maker table.
const NODES_OWN_FILES: &[&str] = &[
    crate::identity::KEY_FILE,
    crate::blind::OPRF_KEY_FILE,
    crate::api::TOKEN_FILE,
    crate::api::ADDR_FILE,
    crate::api::CONSOLE_ADDR_FILE,
    crate::config::CONFIG_FILE,
    crate::node::policy::POLICY_FILE,
    crate::roster::HELD_FILE,
    crate::roster::makers::HELD_FILE,
    // The temporary names the API's private files are made under: a file
    // there is removed at the next start, a folder stops it.
    "api.tmp",
    "console.tmp",
];

/// The folders a node keeps in its data directory, nothing in which any
/// output writes: its store, its rosters' and maker tables' histories,
/// its audit archive, its temporary files.
const NODES_OWN_FOLDERS: &[&str] = &[
    "db",
    crate::roster::HISTORY_DIR,
    crate::roster::makers::HISTORY_DIR,
    crate::audit::archive::DIR,
    "tmp",
];

/// The data directory of the command being run (`--data-dir`, or its
/// default), whose own files and folders are also known by what they are
/// (device and inode), whatever name reaches them.
static COMMANDS_DATA_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Sets the data directory [`refuse_a_nodes_own_path`] knows by identity:
/// once, as a command starts.
pub(crate) fn set_commands_data_dir(dir: &Path) {
    let _ = COMMANDS_DATA_DIR.set(dir.to_path_buf());
}

/// Refuses to write, even with `--force`, a data directory's own file
/// ([`NODES_OWN_FILES`] in a directory holding a `node.key` or a
/// `tracenet.toml`) or anything in its own folders ([`NODES_OWN_FOLDERS`]):
/// `registry export DIR/node.key --force` destroyed the node's identity,
/// `registry export DIR/db/db --force` its store, `makers sign --out
/// DIR/node.key` its key, and `registry export DIR/policy.toml` (made
/// new) stopped it from starting (hostile trials). Judged by name and
/// place, the folder as written and resolved (`..`, a linked folder), as
/// a node finds them; and for the command's own data directory also by
/// the identity of its folders, whatever the name: its store reached
/// through the place `db` links to. For a file that is written by a
/// rename over its name (every file but a stream): a link or a second
/// name of a node's file at `file` is replaced, the node's file left as
/// it is. Every command that writes a file a user names asks it.
pub(crate) fn refuse_a_nodes_own_path(file: &Path) -> anyhow::Result<()> {
    refuse(file, a_nodes_own_path(file, false))
}

/// [`refuse_a_nodes_own_path`] for a stream, opened and written into
/// where it is: the file it reaches is judged too, by name once resolved
/// and, for the command's own data directory, by identity. `/dev/fd/3`,
/// with descriptor 3 opened read-only by the shell on a node's key, is
/// opened again for writing by Linux (a hostile trial).
pub(crate) fn refuse_a_nodes_own_stream(file: &Path) -> anyhow::Result<()> {
    refuse(file, a_nodes_own_path(file, true))?;
    refuse_a_stream_into_a_file_of_many_names(file, &file.display().to_string())
}

/// A stream that reaches a regular file with more than one name (hard
/// links) is refused: any of them may be a node's own file, of another
/// data directory or in its store, which no name found from here says (a
/// hostile re-check: `- >> LINK` appended an export to another node's key
/// through a hard link). A file the shell made for the output (`>
/// out.jsonl`) has one name.
fn refuse_a_stream_into_a_file_of_many_names(file: &Path, shown: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(file)
            && m.is_file()
            && m.nlink() > 1
        {
            anyhow::bail!(
                "{shown} is written where it is, and reaches a file with {} names (hard links), any of which may be a tracenet node's own file; write to a new file instead",
                m.nlink()
            );
        }
    }
    let _ = (file, shown);
    Ok(())
}

fn refuse(file: &Path, found: Option<(String, std::path::PathBuf)>) -> anyhow::Result<()> {
    if let Some((what, dir)) = found {
        anyhow::bail!(
            "{} is {what} of the tracenet node in {}: no command writes there, even with --force; write elsewhere",
            file.display(),
            dir.display()
        );
    }
    Ok(())
}

/// What of a node's own `file` is (its file, or a file in its folder) and
/// the data directory, if it is one ([`refuse_a_nodes_own_path`]); with
/// `stream`, the file it reaches is judged too
/// ([`refuse_a_nodes_own_stream`]).
fn a_nodes_own_path(file: &Path, stream: bool) -> Option<(String, std::path::PathBuf)> {
    if let Some(found) = by_name(file) {
        return Some(found);
    }
    // A stream is judged as the file it reaches, resolved: its name and
    // its folders (`- >> DIR/db/conf` with `db` linked elsewhere).
    let real = stream
        .then(|| file.canonicalize().ok())
        .flatten()
        .filter(|real| real != file);
    if let Some(found) = real.as_deref().and_then(by_name) {
        return Some(found);
    }
    let judged = real.as_deref().unwrap_or(file);
    COMMANDS_DATA_DIR
        .get()
        .and_then(|dir| by_identity(judged, dir, stream))
}

/// [`a_nodes_own_path`] by the identity (device and inode) of `dir`'s own
/// folders, and with `stream` of its own files: `file` itself (a stream),
/// or its folder or one above it, is one of them. A node's `db` linked to
/// `/mnt/store` made `/mnt/store/conf` writable, as no name in it says
/// `db` (a hostile trial). Its `tmp` (uploads on their way to an import)
/// is left to [`by_name`]: linked to the machine's `/tmp`, it would refuse
/// every file there.
#[cfg(unix)]
fn by_identity(file: &Path, dir: &Path, stream: bool) -> Option<(String, std::path::PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    // A node's data directory only, as [`by_name`] judges it: a roster
    // edited in a work folder given as `--data-dir` is no node's.
    if !is_data_dir(dir) {
        return None;
    }
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    if stream
        && let Some(it) = id(file)
        && let Some(name) = NODES_OWN_FILES
            .iter()
            .find(|f| id(&dir.join(f)) == Some(it))
    {
        return Some((format!("the own {name}"), dir.to_path_buf()));
    }
    let folders: Vec<(&str, (u64, u64))> = NODES_OWN_FOLDERS
        .iter()
        .filter(|f| **f != "tmp")
        .filter_map(|f| {
            let p = dir.join(f);
            p.is_dir().then(|| id(&p)).flatten().map(|i| (*f, i))
        })
        .collect();
    if folders.is_empty() {
        return None;
    }
    let parent = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut at = parent.canonicalize().ok()?;
    loop {
        if let Some(i) = id(&at)
            && let Some((folder, _)) = folders.iter().find(|(_, f)| *f == i)
        {
            return Some((format!("in the {folder} folder"), dir.to_path_buf()));
        }
        if !at.pop() {
            return None;
        }
    }
}

#[cfg(not(unix))]
fn by_identity(_file: &Path, _dir: &Path, _stream: bool) -> Option<(String, std::path::PathBuf)> {
    None
}

/// [`a_nodes_own_path`] by the name of `file` and of its folders.
fn by_name(file: &Path) -> Option<(String, std::path::PathBuf)> {
    let name = file.file_name()?;
    let parent = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The folder as written (made absolute, links kept: `DIR/db` linked
    // to another disk is still `db`) and as resolved (`..`, a linked data
    // directory).
    let written = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    let resolved = parent.canonicalize().ok();
    let own_file = |n: &std::ffi::OsStr| NODES_OWN_FILES.iter().any(|f| n == *f);
    let own_folder = |n: &std::ffi::OsStr| NODES_OWN_FOLDERS.iter().any(|f| n == *f);
    for parent in std::iter::once(written).chain(resolved) {
        if own_file(name) && is_data_dir(&parent) {
            return Some((format!("the own {}", name.to_string_lossy()), parent));
        }
        // A folder's own name, before the node makes it (a file named
        // `rosters` stopped every roster install, one named
        // `audit-archive` the node's start: a hostile trial).
        if own_folder(name) && is_data_dir(&parent) {
            let folder = name.to_string_lossy();
            return Some((format!("the name of the {folder} folder"), parent));
        }
        let mut at = parent.as_path();
        while let (Some(folder), Some(up)) = (at.file_name(), at.parent()) {
            if (own_folder(folder) || own_file(folder)) && is_data_dir(up) {
                let folder = folder.to_string_lossy();
                let what = if own_file(std::ffi::OsStr::new(folder.as_ref())) {
                    format!("under the own {folder}")
                } else {
                    format!("in the {folder} folder")
                };
                return Some((what, up.to_path_buf()));
            }
            at = up;
        }
    }
    None
}

/// Whether `dir` is a node's data directory: it holds a `node.key` or a
/// `tracenet.toml` (or a link by that name).
fn is_data_dir(dir: &Path) -> bool {
    [crate::identity::KEY_FILE, crate::config::CONFIG_FILE]
        .iter()
        .any(|f| dir.join(f).symlink_metadata().is_ok())
}

/// Whether `file` is one of `names` in a node's data directory (one
/// holding a `node.key` or a `tracenet.toml`): its name and that
/// directory.
pub(crate) fn a_nodes_own_file<'a>(file: &'a Path, names: &[&str]) -> Option<(&'a str, &'a Path)> {
    let name = file.file_name().and_then(|n| n.to_str())?;
    if !names.contains(&name) {
        return None;
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    is_data_dir(dir).then_some((name, dir))
}

impl Destination {
    /// `-` is standard output. `replace` is the command's `--force`.
    pub(crate) fn new(file: &Path, replace: bool) -> anyhow::Result<Self> {
        if file == Path::new("-") {
            // Standard output sent by the shell into a node's file (`- >>
            // DIR/node.key` appended an export to the key, where
            // `/dev/stdout` was refused: a hostile trial).
            #[cfg(target_os = "linux")]
            {
                let stdout = Path::new("/dev/stdout");
                refuse(Path::new("standard output"), a_nodes_own_path(stdout, true))?;
                refuse_a_stream_into_a_file_of_many_names(stdout, "standard output")?;
            }
            return Ok(Destination::Stdout(BufWriter::new(Naming::new(
                std::io::stdout().lock(),
                "standard output".into(),
            ))));
        }
        // Before any work: an export of a large log or registry should not
        // run to its end only to be refused.
        use crate::model::target::{Target, target};
        let kind = target(file)?;
        // Before "exists, pass --force", which --force would not get past;
        // a stream is written where it is (`/dev/fd/3` may name a node's
        // file), a file replaced by a rename.
        if matches!(kind, Target::Stream) {
            refuse_a_nodes_own_stream(file)?;
        } else {
            refuse_a_nodes_own_path(file)?;
        }
        match kind {
            Target::Stream => {
                let mut open = std::fs::OpenOptions::new();
                open.write(true);
                #[cfg(unix)]
                {
                    // A terminal written into does not become this process's.
                    use std::os::unix::fs::OpenOptionsExt as _;
                    open.custom_flags(libc::O_NOCTTY);
                }
                #[cfg(target_os = "linux")]
                {
                    // A FIFO no one reads is refused at once rather than
                    // waited on without end (ENXIO).
                    use std::os::unix::fs::OpenOptionsExt as _;
                    open.custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK);
                }
                let f = match open.open(file) {
                    Ok(f) => f,
                    #[cfg(target_os = "linux")]
                    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => anyhow::bail!(
                        "{} is a FIFO that nothing reads yet: start its reader first",
                        file.display()
                    ),
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot write into {}", file.display()));
                    }
                };
                // Writes then wait for the reader, as to any pipe.
                #[cfg(target_os = "linux")]
                {
                    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
                    fcntl_getfl(&f)
                        .and_then(|flags| fcntl_setfl(&f, flags - OFlags::NONBLOCK))
                        .map_err(std::io::Error::from)
                        .with_context(|| format!("cannot write into {}", file.display()))?;
                }
                // What was opened is what was checked: a path turned into a
                // regular file meanwhile would be overwritten in place.
                let opened = f
                    .metadata()
                    .with_context(|| format!("cannot write into {}", file.display()))?;
                if !is_stream(&opened) && !crate::model::target::in_system_folder(file) {
                    anyhow::bail!(
                        "{} changed while it was being opened: run the command again",
                        file.display()
                    );
                }
                return Ok(Destination::Stream(BufWriter::new(Naming::new(
                    f,
                    file.display().to_string(),
                ))));
            }
            Target::Existing if !replace => return Err(exists(file)),
            Target::Existing | Target::Free => {}
        }
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let (tmp, unfinished) =
            Unfinished::create(dir).map_err(|e| super::cannot_in(dir, "create", file, &e))?;
        Ok(Destination::File {
            w: BufWriter::with_capacity(1 << 16, Naming::new(tmp, file.display().to_string())),
            file: file.to_path_buf(),
            replace,
            unfinished,
        })
    }

    pub(crate) fn writer(&mut self) -> &mut dyn Write {
        match self {
            Destination::Stdout(w) => w,
            Destination::Stream(w) => w,
            Destination::File { w, .. } => w,
        }
    }

    /// Flushes, and puts a file in place. Returns whether it was a file
    /// (not standard output, a FIFO or a device, where a summary would mix
    /// with what was written or be lost).
    pub(crate) fn finish(self) -> anyhow::Result<bool> {
        match self {
            Destination::Stdout(mut w) => {
                w.flush()?;
                Ok(false)
            }
            // The writer's errors name the file.
            Destination::Stream(mut w) => {
                w.flush()?;
                Ok(false)
            }
            Destination::File {
                w,
                file,
                replace,
                unfinished,
            } => {
                let tmp = w.into_inner().map_err(|e| e.into_error())?.inner;
                // On disk before it takes the name: a crash leaves the old
                // file or the whole new one.
                tmp.as_file()
                    .sync_all()
                    .with_context(|| format!("cannot write {}", file.display()))?;
                let done = unfinished.settle(|| {
                    if replace {
                        tmp.persist(&file)
                    } else {
                        tmp.persist_noclobber(&file)
                    }
                });
                match done {
                    Ok(_) => Ok(true),
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(exists(&file))
                    }
                    Err(e) => {
                        Err(e.error).with_context(|| format!("cannot write {}", file.display()))
                    }
                }
            }
        }
    }
}

/// `path` as one word of a command a person copies into a POSIX shell:
/// as it is when it holds only characters no shell reads specially, else
/// in single quotes (a quote inside written as quote, backslash, quote,
/// quote); a relative path
/// starting with `-` gets `./` before it, so that no command takes it for
/// an option.
pub(crate) fn shell_word(path: &std::path::Path) -> String {
    let s = path.to_string_lossy();
    let s = if s.starts_with('-') {
        format!("./{s}")
    } else {
        s.into_owned()
    };
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod shell_word_tests {
    use super::shell_word;
    use std::path::Path;

    /// A path given back in a command to copy is one shell word whatever
    /// it holds (a helper's trial: spaces, a quote, `$` and `;`, a dash).
    #[test]
    fn a_path_in_a_command_to_copy_is_one_shell_word() {
        let w = |s: &str| shell_word(Path::new(s));
        assert_eq!(w("rosters/r-v2.json"), "rosters/r-v2.json");
        assert_eq!(
            w("dir with space/my roster.json"),
            "'dir with space/my roster.json'"
        );
        assert_eq!(w("it's.json"), "'it'\\''s.json'");
        assert_eq!(w("a$b;c.json"), "'a$b;c.json'");
        assert_eq!(w("-dash.json"), "./-dash.json");
        assert_eq!(w(""), "''");
    }
}
