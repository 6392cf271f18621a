//! What is at a path tracenet is told to write a file to: the one check
//! every writer makes before it writes beside the path and renames (the CLI's
//! exports, `trace export`, `init`, rosters and maker tables, the control
//! API's registry export).
//!
//! A rename puts a new file in place of whatever has the name: done over a
//! device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe made with `mkfifo`)
//! it would replace the device node itself with a regular file. So a writer
//! asks here first: a FIFO or a character device is written *into* where the
//! writer streams (an export), and refused where it writes a document that
//! must be whole (a roster, a configuration); a block device, a socket and a
//! folder are always refused.

use std::path::Path;

/// What is at a path to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing: the file will be made.
    Free,
    /// A regular file, or a symbolic link (dangling or not) to be replaced
    /// by the file: the link itself is replaced, never written through.
    Existing,
    /// A FIFO or a character device (`/dev/null`, a terminal, a pipe), or
    /// a link to one, or anything in `/dev` or `/proc` (`/dev/stdout` with
    /// standard output sent to a file): to be written into, never replaced.
    Stream,
}

/// Whether `path` names this process's standard output or error, or one of
/// its descriptors: `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`,
/// `/proc/self/fd/N`, as written.
fn is_std_stream(path: &Path) -> bool {
    let Some(p) = path.to_str() else {
        return false;
    };
    let fd = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    matches!(p, "/dev/stdout" | "/dev/stderr")
        || p.strip_prefix("/dev/fd/").is_some_and(fd)
        || p.strip_prefix("/proc/self/fd/").is_some_and(fd)
}

/// Whether `path`, as written, names one of this process's own descriptors
/// or its place in `/proc`: `/dev/stdin`, `/dev/stdout`, `/dev/stderr`,
/// `/dev/fd/...`, `/proc/self/...`, `/proc/thread-self/...`. Given to
/// another process (the running node, through its control API) it names
/// that process's own.
pub fn names_a_descriptor(path: &Path) -> bool {
    [
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/fd",
        "/proc/self",
        "/proc/thread-self",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// Whether `path` is in `/dev` or `/proc` (its folder resolved), where
/// nothing is made or renamed over: `/dev/stdout`, `/proc/self/fd/1`.
pub fn in_system_folder(path: &Path) -> bool {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    dir.canonicalize()
        .is_ok_and(|d| d.starts_with("/dev") || d.starts_with("/proc"))
}

/// Why a path cannot be written to; the message names it and says what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("{0} is a folder: give the name of a file in it")]
    Folder(String),
    #[error("{0} is a block device or a socket, not a file: give the name of a file")]
    Device(String),
    #[error("{0} is a device or a FIFO, not a file: give the name of a file{1}")]
    NotAFile(String, &'static str),
    #[error("{0} is in /dev or /proc, where no file is made: give the name of a file")]
    System(String),
}

/// What is at `path`. Never follows a link to decide whether to replace it
/// (a link is replaced); follows it to tell a folder or a device.
pub fn target(path: &Path) -> Result<Target, TargetError> {
    let shown = || path.display().to_string();
    let system = in_system_folder(path);
    if std::fs::symlink_metadata(path).is_err() {
        return if system {
            Err(TargetError::System(shown()))
        } else {
            Ok(Target::Free)
        };
    }
    // A dangling link has no target: replaced like a file.
    let Ok(to) = std::fs::metadata(path) else {
        return if system {
            Err(TargetError::System(shown()))
        } else {
            Ok(Target::Existing)
        };
    };
    if to.is_dir() {
        return Err(TargetError::Folder(shown()));
    }
    if to.is_file() {
        if !system {
            return Ok(Target::Existing);
        }
        // Standard output or error sent to a file is written into; any
        // other file in /dev or /proc (/dev/shm/x) is neither replaced nor
        // overwritten in place.
        return if is_std_stream(path) {
            Ok(Target::Stream)
        } else {
            Err(TargetError::System(shown()))
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        let t = to.file_type();
        if t.is_fifo() || t.is_char_device() {
            return Ok(Target::Stream);
        }
    }
    Err(TargetError::Device(shown()))
}

/// [`target`] for a writer of a document that must be whole (never a
/// stream): a FIFO or a device is refused too. `hint` ends the refusal,
/// e.g. ", or - for standard output".
pub fn file_target(path: &Path, hint: &'static str) -> Result<Target, TargetError> {
    match target(path)? {
        Target::Stream => Err(TargetError::NotAFile(path.display().to_string(), hint)),
        t => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_path_is_told_apart() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        assert_eq!(target(&file), Ok(Target::Free));
        std::fs::write(&file, "x").unwrap();
        assert_eq!(target(&file), Ok(Target::Existing));
        assert!(matches!(target(d.path()), Err(TargetError::Folder(_))));
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        assert_eq!(target(&dangling), Ok(Target::Existing));
        let to_file = d.path().join("to-file");
        std::os::unix::fs::symlink(&file, &to_file).unwrap();
        assert_eq!(target(&to_file), Ok(Target::Existing));
        let null = Path::new("/dev/null");
        assert_eq!(target(null), Ok(Target::Stream));
        assert!(matches!(
            file_target(null, ""),
            Err(TargetError::NotAFile(..))
        ));
        let to_null = d.path().join("to-null");
        std::os::unix::fs::symlink(null, &to_null).unwrap();
        assert_eq!(target(&to_null), Ok(Target::Stream));
        // Nothing in /dev or /proc is made or replaced; only standard
        // output or error sent to a file is written into.
        assert!(in_system_folder(Path::new("/dev/stdout")));
        for p in ["/dev/stdout", "/dev/stderr", "/dev/fd/1", "/proc/self/fd/2"] {
            assert!(is_std_stream(Path::new(p)), "{p}");
        }
        for p in [
            "/dev/shm/x",
            "/dev/fd/",
            "/dev/fd/1x",
            "dev/stdout",
            "/proc/1/fd/1",
        ] {
            assert!(!is_std_stream(Path::new(p)), "{p}");
        }
        assert!(!in_system_folder(&file));
        assert!(matches!(
            target(Path::new("/dev/no-such-file")),
            Err(TargetError::System(_))
        ));
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert_eq!(target(&fifo), Ok(Target::Stream));
        }
    }
}
