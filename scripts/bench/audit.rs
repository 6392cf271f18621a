//! Audit log benchmark (issue 16, costs that grow with history): what a
//! reader from a time pays as the log grows, beside plain sled.
//!
//! A log of TRACENET_BENCH_AUDIT_ENTRIES entries (default 1,000,000), dated
//! evenly over a year, all but its newest quarter moved to the archive's
//! files as a node does past `node.audit_keep_in_store`, is read from 30
//! days before its last entry, as `audit show --since` and `GET
//! /v1/audit?since=` read it. Printed: that reader's wall time, the same
//! entries read from the log's start (what every reader from a time paid
//! before the log was indexed by hour), plain sled iterating as many values
//! of an entry's size from a key; a month in the middle of the year read as
//! `tracenet report` reads it, beside reading from its start to the log's
//! end and the whole log; and the index built at the first start on a log
//! written before it. Run with `scripts/bench-audit.sh` (release build).

mod machine;
use machine::loadavg;

use std::time::Instant;

use tracenet::audit::{AuditError, AuditKind, AuditLog, NewEntry};
use tracenet::store::{StoreOptions, open_db};

/// The allocator of the `tracenet` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY: u64 = 86_400;
/// The first entry's time: 2026-01-01.
const START: u64 = 1_767_225_600;

fn entry(i: u64) -> NewEntry {
    NewEntry {
        peer: Some(format!("12D3KooWQueryFrom{:030}", i % 50)),
        state: Some("DE".parse().unwrap()),
        query: Some(format!("{:064x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
        outcome: Some("found".into()),
        rule: None,
        officer: None,
    }
}

/// Seconds, median of `runs` timings of `f`, and what it returned.
fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], out.unwrap())
}

fn main() {
    let n: u64 = std::env::var("TRACENET_BENCH_AUDIT_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
        .max(100);
    println!(
        "audit log benchmark: {n} entries over a year; load average at start {}",
        loadavg()
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions::default();
    let step = 365 * DAY / n;
    let last = START + (n - 1) * step;
    let since = last - 30 * DAY;
    {
        let db = open_db(&dir.path().join("db"), &opts).unwrap();
        let log = AuditLog::open_in(&db, dir.path()).unwrap();
        let t = Instant::now();
        for i in 0..n {
            log.append_unflushed(AuditKind::QueryReceived, entry(i), START + i * step)
                .unwrap();
        }
        db.flush().unwrap();
        // A quarter of the entries stay in the store, as before.
        let archived = log.archive_past(n / 4).unwrap();
        println!(
            "  written in {:.1} s; archived to a file: {}",
            t.elapsed().as_secs_f64(),
            archived.map_or("none".into(), |f| format!(
                "entries {} to {}",
                f.first, f.last
            ))
        );
    }
    let db = open_db(&dir.path().join("db"), &opts).unwrap();
    // The first start of an indexing build on a log written before it.
    db.drop_tree("audit_hours").unwrap();
    let (index_secs, log) = timed(1, || AuditLog::open_in(&db, dir.path()).unwrap());
    let (reopen_secs, log) = {
        drop(log);
        timed(1, || AuditLog::open_in(&db, dir.path()).unwrap())
    };
    let count_from = |from: u64| {
        let mut c = 0u64;
        log.for_each(from, |e| {
            if e.at >= since {
                c += 1;
            }
            Ok::<_, AuditError>(())
        })
        .unwrap();
        c
    };
    let (month_secs, month) = timed(5, || count_from(since));
    let (whole_secs, whole) = timed(3, || count_from(0));
    assert_eq!(month, whole, "a reader from a time missed entries");
    // A month in the middle of the year, as `tracenet report` reads it.
    let (from, to) = (START + 150 * DAY, START + 180 * DAY);
    let count_in = |since: u64, until: u64| {
        let mut c = 0u64;
        log.for_each_in(since, until, |e| {
            if (from..to).contains(&e.at) {
                c += 1;
            }
            Ok::<_, AuditError>(())
        })
        .unwrap();
        c
    };
    let (period_secs, period) = timed(5, || count_in(from, to));
    let (onward_secs, onward) = timed(3, || count_in(from, u64::MAX));
    let (all_secs, all) = timed(3, || count_in(0, u64::MAX));
    assert_eq!(
        (period, period),
        (onward, all),
        "a reader of a period missed entries"
    );
    // Plain sled: as many values of an entry's size, iterated from a key.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = sled::Config::new()
        .path(plain_dir.path())
        .open()
        .unwrap()
        .open_tree("plain")
        .unwrap();
    let mut size = 0;
    log.for_each(last, |e| {
        size = serde_json::to_vec(&e).unwrap().len();
        Ok::<_, AuditError>(())
    })
    .unwrap();
    for i in 0..n {
        plain.insert(i.to_be_bytes(), vec![b'x'; size]).unwrap();
    }
    let (plain_secs, _) = timed(5, || plain.range((n - month).to_be_bytes()..).count());
    println!(
        "  the last 30 days ({month} entries) read from their hour: {:.1} ms ({:.2} us an entry); from the log's start: {:.1} ms ({:.0}x)",
        month_secs * 1e3,
        month_secs * 1e6 / month as f64,
        whole_secs * 1e3,
        whole_secs / month_secs
    );
    println!(
        "  plain sled iterating {month} values of {size} bytes from a key: {:.1} ms; the reader from the hour {:.1}x that (it decodes each entry's JSON)",
        plain_secs * 1e3,
        month_secs / plain_secs
    );
    println!(
        "  a month in the middle of the year ({period} entries, as `tracenet report` reads it): {:.1} ms; from its start to the log's end: {:.1} ms ({:.0}x); the whole log: {:.1} ms ({:.0}x)",
        period_secs * 1e3,
        onward_secs * 1e3,
        onward_secs / period_secs,
        all_secs * 1e3,
        all_secs / period_secs
    );
    println!(
        "  first start on a log written before the index: {:.2} s ({} hours indexed); a start after: {:.1} ms",
        index_secs,
        db.open_tree("audit_hours").unwrap().len(),
        reopen_secs * 1e3
    );
    println!("  load average at end {}", loadavg());
}
