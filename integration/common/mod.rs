//! Helpers shared by the integration tests: running the built binary in a
//! temporary data directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tracenet"))
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs `tracenet --data-dir DIR ARGS...`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run tracenet")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "tracenet {args:?} failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// Runs a `--json` command that must succeed and parses its output.
pub fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = ok(dir, &a);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("tracenet {args:?}: not JSON ({e}): {out}"))
}

/// A fresh data directory initialised for `state`.
pub fn init(state: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    ok(d.path(), &["init", "--state", state]);
    d
}
