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

/// A raw `GET` to a running node's control API (for non-JSON endpoints).
pub fn http_get(dir: &Path, path: &str, with_token: bool) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = std::fs::read_to_string(dir.join("api.addr")).expect("api.addr");
    let token = std::fs::read_to_string(dir.join("api.token")).expect("api.token");
    let mut s = std::net::TcpStream::connect(addr.trim()).expect("connect to the API");
    let auth = if with_token {
        format!("Authorization: Bearer {}\r\n", token.trim())
    } else {
        String::new()
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Unix seconds of an instant in command output (an RFC 3339 string).
#[allow(dead_code)]
pub fn secs(v: &serde_json::Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{v} is not an RFC 3339 time"));
    tracenet::model::instant::parse_rfc3339(s).unwrap()
}
