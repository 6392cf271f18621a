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

/// Runs `--json ARGS` for a `registry import` and parses its summary; the
/// exit status must follow it: 0 when nothing was rejected, 3 (with a
/// `warning:` line on stderr) when lines were.
#[allow(dead_code)]
pub fn json_import(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = run(dir, &a);
    let out = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "tracenet {args:?}: not JSON ({e}): {out}; stderr: {}",
            stderr(&o)
        )
    });
    let rejected = v["rejected"].as_u64().unwrap_or(0);
    let want = if rejected > 0 { 3 } else { 0 };
    assert_eq!(
        o.status.code(),
        Some(want),
        "tracenet {args:?}: {rejected} rejected: {}",
        stderr(&o)
    );
    if rejected > 0 {
        assert!(stderr(&o).starts_with("warning: "), "{}", stderr(&o));
    }
    v
}

/// A fresh data directory initialised for `state`.
pub fn init(state: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    ok(d.path(), &["init", "--state", state]);
    d
}

/// A raw `GET` to a running node's control API (for non-JSON endpoints).
pub fn http_get(dir: &Path, path: &str, with_token: bool) -> (u16, String) {
    let (status, _, body) = http_get_with_head(dir, path, with_token);
    (status, body)
}

/// As [`http_get`], with the reply's head (status line and headers, header
/// names as sent) too; a chunked body is returned joined.
#[allow(dead_code)]
pub fn http_get_with_head(dir: &Path, path: &str, with_token: bool) -> (u16, String, String) {
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
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap_or_default();
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    if !chunked {
        return (status, head, body);
    }
    // Chunk by chunk: a size line in hex, the data, CRLF; the last is 0.
    let (mut joined, mut rest) = (String::new(), body.as_str());
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if n == 0 {
            break;
        }
        joined.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    (status, head, joined)
}

/// Unix seconds of an instant in command output (an RFC 3339 string).
#[allow(dead_code)]
pub fn secs(v: &serde_json::Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{v} is not an RFC 3339 time"));
    tracenet::model::instant::parse_rfc3339(s).unwrap()
}

/// What human output must not contain: colours when not at a terminal,
/// Rust's debug forms, JSON, raw Unix seconds, a wrong plural.
#[allow(dead_code)]
pub fn for_people(text: &str) -> Vec<String> {
    let mut faults = Vec::new();
    let mut say = |what: &str, line: &str| faults.push(format!("{what}: {line}"));
    for line in text.lines() {
        if line.contains('\x1b') {
            say("an ANSI colour code", line);
        }
        if line.contains("(s)") {
            say("a plural left to the reader", line);
        }
        for debug in ["Some(", "None", "Ok(", "Err(", "null", "{\"", "[\"", "\\\""] {
            if line.contains(debug) {
                say("a debug or JSON form", line);
            }
        }
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || ",;:()[]\"'.".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        for w in &words {
            // 10-digit numbers from 1.5e9 on: Unix seconds, not dates.
            if w.len() == 10 && w.bytes().all(|b| b.is_ascii_digit()) && *w > "1500000000" {
                say("Unix seconds instead of a date", line);
            }
            // snake_case is a code from JSON: people read words.
            let snake = w.contains('_')
                && !w.starts_with('_')
                && !w.ends_with('_')
                && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if snake {
                say("a code instead of words", line);
            }
            if *w == "18446744073709551615" {
                say("u64::MAX", line);
            }
            // CamelCase words are Rust enum variants (NationalLaw); peer ids
            // (12D3KooW...) and base64 keys contain digits or symbols.
            let camel = w.len() > 3
                && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && w.chars().skip(1).any(|c| c.is_ascii_uppercase())
                && w.chars().all(|c| c.is_ascii_alphabetic())
                && w.chars().skip(1).any(|c| c.is_ascii_lowercase());
            if camel {
                say("a Rust name", line);
            }
        }
        for pair in words.windows(2) {
            if pair[0] == "1"
                && pair[1].len() > 3
                && pair[1].ends_with('s')
                && !pair[1].ends_with("ss")
            {
                say("a plural after 1", line);
            }
        }
    }
    faults
}

/// Makes a FIFO at `path`.
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}
