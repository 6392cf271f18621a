//! Registry imports from files as real registries write them: nothing a file
//! holds is dropped without a rejection that names its file, line and field,
//! and the summary's counts add up to the input (issue 13).

mod common;
mod fed;

use std::path::Path;

use common::*;

fn record(id: &str, serial: &str) -> String {
    format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":"Walther","country":"DE","serial":"{serial}"}},"category":"pistol","events":[]}}"#
    )
}

fn import(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["registry", "import"];
    a.extend_from_slice(args);
    json_import(dir, &a)
}

fn counts(s: &serde_json::Value) -> [u64; 4] {
    ["added", "updated", "unchanged", "rejected"].map(|k| s[k].as_u64().unwrap())
}

#[test]
fn two_records_on_one_line_or_trailing_garbage_are_rejected_by_line() {
    let d = init("DE");
    let f = d.path().join("in.jsonl");
    let text = format!(
        "{}\n{}{}\n{} trailing\n{}   \n",
        record("A1", "BP1"),
        record("A2", "BP2"),
        record("A3", "BP3"),
        record("A4", "BP4"),
        record("A5", "BP5"),
    );
    std::fs::write(&f, text).unwrap();
    let fs = f.to_str().unwrap();

    // --strict refuses the file: on the old code it imported everything, the
    // second record of line 2 and the garbage of line 3 unseen.
    let o = run(d.path(), &["registry", "import", "--strict", fs]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("2 bad line"), "{}", stderr(&o));
    // With --json the refusal's bad lines are the summary on standard
    // output (it printed nothing there: a helper's trial).
    let o = run(d.path(), &["--json", "registry", "import", "--strict", fs]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let refused: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(counts(&refused), [0, 0, 0, 2], "{refused}");
    assert_eq!(refused["rejections"][0]["line"], 2, "{refused}");
    assert!(!stderr(&o).contains("rejected "), "{}", stderr(&o));
    // One error line counting them, not naming the first again (a re-trial).
    assert!(
        stderr(&o).contains("2 bad lines, in the rejections printed")
            && !stderr(&o).contains(":2:"),
        "{}",
        stderr(&o)
    );

    let s = import(d.path(), &[fs]);
    // Four lines: lines 1 and 4 imported (trailing white space is fine), 2 and 3 refused.
    assert_eq!(counts(&s), [2, 0, 0, 2], "{s}");
    let lines: Vec<u64> = s["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3], "{s}");
    assert!(
        s["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("one record a line"),
        "{s}"
    );
    // Nothing of a refused line was imported, not even its first record.
    assert!(!run(d.path(), &["registry", "show", "A2"]).status.success());
    ok(d.path(), &["registry", "show", "A5"]);
}

#[test]
fn a_weapon_id_listed_twice_in_csv_is_refused_and_keeps_its_events() {
    let d = init("DE");
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    std::fs::write(
        &w,
        "id,manufacturer,country,serial,category\n\
         C1,Beretta,IT,M9 011,pistol\n\
         C2,Beretta,IT,M9 012,pistol\n\
         C1,Beretta,IT,M9 013,pistol\n",
    )
    .unwrap();
    std::fs::write(
        &e,
        "record_id,date,kind\nC1,2008-02-12,manufactured\nC1,2009-02-12,exported\n",
    )
    .unwrap();
    let s = import(
        d.path(),
        &[w.to_str().unwrap(), "--events", e.to_str().unwrap()],
    );
    // On the old code: added 2, updated 1, 0 rejected, and C1 without events.
    assert_eq!(counts(&s), [2, 0, 0, 1], "{s}");
    let r = &s["rejections"][0];
    assert_eq!(
        (r["line"].as_u64(), r["field"].as_str()),
        (Some(4), Some("id")),
        "{s}"
    );
    assert!(r["reason"].as_str().unwrap().contains("line 2"), "{s}");
    let c1 = json(d.path(), &["registry", "show", "C1"]);
    assert_eq!(c1["marking"]["serial"], "M9 011", "{c1}");
    assert_eq!(c1["events"].as_array().unwrap().len(), 2, "{c1}");
}

/// A weapons CSV imported again without its events file wiped every
/// updated record's events, lost and stolen reports included (a helper's
/// trial: "0 added, 4 updated" and the "lost" event gone). Without
/// `--events` the stored events are kept; with it, the events file says
/// what they are.
#[test]
fn a_weapons_csv_imported_again_without_events_keeps_the_stored_events() {
    let d = init("DE");
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    std::fs::write(
        &w,
        "id,manufacturer,country,serial,category
         C1,Beretta,IT,M9 011,pistol
         C2,Beretta,IT,M9 012,pistol
",
    )
    .unwrap();
    std::fs::write(
        &e,
        "record_id,date,kind
C1,2008-02-12,manufactured
C1,2016-11-21,lost
",
    )
    .unwrap();
    let s = import(
        d.path(),
        &[w.to_str().unwrap(), "--events", e.to_str().unwrap()],
    );
    assert_eq!(counts(&s), [2, 0, 0, 0], "{s}");
    let events = |id: &str| {
        json(d.path(), &["registry", "show", id])["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The same file alone: nothing changed.
    let s = import(d.path(), &[w.to_str().unwrap()]);
    assert_eq!(counts(&s), [0, 0, 2, 0], "{s}");
    assert_eq!(events("C1"), ["manufactured", "lost"]);
    // A weapon's own field changed: updated, its events kept.
    std::fs::write(
        &w,
        "id,manufacturer,country,serial,category,model
         C1,Beretta,IT,M9 011,pistol,92FS
         C2,Beretta,IT,M9 012,pistol,
",
    )
    .unwrap();
    let s = import(d.path(), &[w.to_str().unwrap()]);
    assert_eq!(counts(&s), [0, 1, 1, 0], "{s}");
    assert_eq!(events("C1"), ["manufactured", "lost"]);
    assert_eq!(json(d.path(), &["registry", "show", "C1"])["model"], "92FS");
    // With an events file, it says what the events are.
    std::fs::write(
        &e,
        "record_id,date,kind
C1,2008-02-12,manufactured
",
    )
    .unwrap();
    let s = import(
        d.path(),
        &[w.to_str().unwrap(), "--events", e.to_str().unwrap()],
    );
    assert_eq!(counts(&s), [0, 1, 1, 0], "{s}");
    assert_eq!(events("C1"), ["manufactured"]);
}

#[test]
fn an_event_row_too_long_refuses_its_weapon_whole() {
    let d = init("DE");
    let cfg = d.path().join("tracenet.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("max_line_bytes = 1048576"), "{text}");
    std::fs::write(
        &cfg,
        text.replace("max_line_bytes = 1048576", "max_line_bytes = 1024"),
    )
    .unwrap();
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    std::fs::write(
        &w,
        "id,manufacturer,country,serial,category\nC1,Beretta,IT,M9 011,pistol\nC2,Beretta,IT,M9 012,pistol\n",
    )
    .unwrap();
    // A note within its own limit (4096 characters) in a row over the line limit.
    std::fs::write(
        &e,
        format!(
            "record_id,date,kind,note\nC1,2008-02-12,manufactured,\nC1,2009-02-12,exported,{}\n",
            "n".repeat(2000)
        ),
    )
    .unwrap();
    let s = import(
        d.path(),
        &[w.to_str().unwrap(), "--events", e.to_str().unwrap()],
    );
    // On the old code: added 2 and 1 rejected (the event alone), C1 imported
    // with one of its two events.
    assert_eq!(counts(&s), [1, 0, 0, 1], "{s}");
    let r = &s["rejections"][0];
    assert!(r["file"].as_str().unwrap().ends_with("e.csv"), "{s}");
    assert_eq!(r["line"].as_u64(), Some(3), "{s}");
    // The weapon it refuses is named, with its line (a helper's trial).
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("so weapon C1 (line 2 of ") && reason.contains("w.csv) is not imported"),
        "{s}"
    );
    assert!(!run(d.path(), &["registry", "show", "C1"]).status.success());
}

/// Sets `registry.max_line_bytes` in `dir`'s configuration.
fn set_max_line_bytes(dir: &Path, n: usize) {
    let cfg = dir.join("tracenet.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("max_line_bytes = 1048576"), "{text}");
    std::fs::write(
        &cfg,
        text.replace("max_line_bytes = 1048576", &format!("max_line_bytes = {n}")),
    )
    .unwrap();
}

fn rejection_lines(s: &serde_json::Value) -> Vec<(u64, String)> {
    s["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_semicolon_csv_from_excel_is_read_by_its_header_or_with_delimiter() {
    let d = init("DE");
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    // Excel in most of Europe: `;` between fields, `,` inside them.
    std::fs::write(
        &w,
        "id;manufacturer;country;serial;category;calibre\n\
         S1;Walther;DE;BP1;pistol;7,65 mm\n\
         S2;\"Heckler; Koch\";DE;HK2;rifle;\n",
    )
    .unwrap();
    std::fs::write(&e, "record_id;date;kind\nS1;2008-02-12;manufactured\n").unwrap();
    let (ws, es) = (w.to_str().unwrap(), e.to_str().unwrap());
    // On the old code: refused whole, `"id;manufacturer;..."` an unknown column.
    let s = import(d.path(), &[ws, "--events", es]);
    assert_eq!(counts(&s), [2, 0, 0, 0], "{s}");
    let s1 = json(d.path(), &["registry", "show", "S1"]);
    assert_eq!(s1["calibre"], "7,65 mm", "{s1}");
    assert_eq!(s1["events"][0]["kind"], "manufactured", "{s1}");
    assert_eq!(
        json(d.path(), &["registry", "show", "S2"])["marking"]["manufacturer"],
        "Heckler; Koch"
    );
    // Chosen by hand, the same; a wrong choice says what it split at.
    let s = import(d.path(), &[ws, "--events", es, "--delimiter", ";"]);
    assert_eq!(counts(&s), [0, 0, 2, 0], "{s}");
    let o = run(d.path(), &["registry", "import", ws, "--delimiter", ","]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("\",\" (comma)"), "{}", stderr(&o));
    let o = run(d.path(), &["registry", "import", ws, "--delimiter", "ab"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_windows_1252_file_is_read_with_encoding_and_otherwise_refused_by_line_with_a_hint() {
    let d = init("DE");
    let w = d.path().join("w.csv");
    // "Münchner Büchsenmacher" and a model "Spéciale" in Windows-1252.
    let mut bytes = b"id,manufacturer,country,serial,category,model\n".to_vec();
    bytes.extend(b"L1,Walther,DE,BP1,pistol,\n");
    bytes.extend(b"L2,M\xfcnchner B\xfcchsenmacher,DE,MB2,rifle,Sp\xe9ciale\n");
    std::fs::write(&w, &bytes).unwrap();
    let ws = w.to_str().unwrap();
    let s = import(d.path(), &[ws]);
    assert_eq!(counts(&s), [1, 0, 0, 1], "{s}");
    assert_eq!(
        rejection_lines(&s),
        [(3, "manufacturer".to_string())],
        "{s}"
    );
    let reason = s["rejections"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("give the file's encoding: windows-1252"),
        "{reason}"
    );
    let s = import(d.path(), &[ws, "--encoding", "windows-1252"]);
    assert_eq!(counts(&s), [1, 0, 1, 0], "{s}");
    let l2 = json(d.path(), &["registry", "show", "L2"]);
    assert_eq!(
        l2["marking"]["manufacturer"], "Münchner Büchsenmacher",
        "{l2}"
    );
    assert_eq!(l2["model"], "Spéciale", "{l2}");
    // The same for JSON Lines, by line.
    let j = d.path().join("l.jsonl");
    let mut bytes = format!("{}\n", record("J1", "BP9")).into_bytes();
    bytes.extend(
        b"{\"id\":\"J2\",\"marking\":{\"manufacturer\":\"Walth\xe9r\",\"country\":\"DE\",\"serial\":\"BP8\"},\"category\":\"pistol\"}\n",
    );
    std::fs::write(&j, bytes).unwrap();
    let s = import(d.path(), &[j.to_str().unwrap()]);
    assert_eq!(counts(&s), [1, 0, 0, 1], "{s}");
    assert_eq!(s["rejections"][0]["line"], 2, "{s}");
    assert!(
        s["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("give the file's encoding"),
        "{s}"
    );
    let o = run(
        d.path(),
        &["registry", "import", ws, "--encoding", "klingon"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn errors_in_crlf_files_name_the_line_they_are_on() {
    let d = init("DE");
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    std::fs::write(
        &w,
        "id,manufacturer,country,serial,category\r\n\
         C1,Walther,DE,BP1,pistol\r\n\
         C2,Walther,ZZ,BP2,pistol\r\n\
         \r\n\
         C3,\"Walther\r\nArms\",DE,BP3,pistol\r\n\
         C4,Walther,DE,BP4,pistoll\r\n",
    )
    .unwrap();
    std::fs::write(
        &e,
        "record_id,date,kind\r\nC1,2008-02-12,manufactured\r\nC9,2008-02-12,manufactured\r\n",
    )
    .unwrap();
    let s = import(
        d.path(),
        &[w.to_str().unwrap(), "--events", e.to_str().unwrap()],
    );
    // On the old code: lines 2, 5 and 2: each one line too low.
    assert_eq!(
        rejection_lines(&s),
        [
            (3, "country".to_string()),
            (7, "category".to_string()),
            (3, "record_id".to_string())
        ],
        "{s}"
    );
    // A quoted line end inside a field is read as part of it: in a
    // maker's name, a space (a marking holds no control character).
    let c3 = json(d.path(), &["registry", "show", "C3"]);
    assert_eq!(c3["marking"]["manufacturer"], "Walther Arms", "{c3}");
}

#[test]
fn serials_a_spreadsheet_rewrote_are_imported_with_a_warning_naming_the_line() {
    let d = init("RS");
    let w = d.path().join("w.csv");
    let mut text = String::from("id,manufacturer,country,serial,category\n");
    // Six-digit serials, none with a leading zero: two lost theirs (lines 5
    // and 12), and one became scientific notation (line 20).
    for i in 0..30u32 {
        let serial = match i {
            3 => "12345".to_string(),
            10 => "2345".to_string(),
            18 => "1.01219E+11".to_string(),
            _ => format!("{}", 512_345 + i * 7),
        };
        text += &format!("Z{i:02},Zastava,RS,{serial},pistol\n");
    }
    std::fs::write(&w, text).unwrap();
    let s = import(d.path(), &[w.to_str().unwrap()]);
    assert_eq!(counts(&s), [30, 0, 0, 0], "{s}");
    assert_eq!(s["warned"], 3, "{s}");
    let warned: Vec<(u64, String)> = s["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["line"].as_u64().unwrap(),
                w["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let lines: Vec<u64> = {
        let mut l: Vec<u64> = warned.iter().map(|w| w.0).collect();
        l.sort();
        l
    };
    assert_eq!(lines, [5, 12, 20], "{s}");
    let msg = |line| &warned.iter().find(|w| w.0 == line).unwrap().1;
    assert!(msg(5).contains("\"012345\""), "{}", msg(5));
    assert!(msg(12).contains("\"002345\""), "{}", msg(12));
    assert!(msg(20).contains("scientific notation"), "{}", msg(20));
    // People see them too.
    let text = ok(d.path(), &["registry", "import", w.to_str().unwrap()]);
    assert!(
        text.contains("warning ") && text.contains(":20: serial"),
        "{text}"
    );
}

/// Runs `tracenet ARGS` and returns its output and peak resident memory (KiB).
fn run_measured(dir: &Path, args: &[&str]) -> (std::process::Output, i64) {
    use std::process::{Command, Stdio};
    let child = Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // The pipes are small: read them on threads while waiting.
    let mut child = child;
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).unwrap();
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).unwrap();
        b
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    std::mem::forget(child);
    (output, usage.ru_maxrss)
}

#[test]
fn a_csv_row_over_max_line_bytes_is_skipped_as_it_is_read_never_held() {
    let d = init("DE");
    set_max_line_bytes(d.path(), 4096);
    // The weapons file is a FIFO fed by a thread: a 200 MiB file would take
    // 200 MiB of the disk CI shares with its build for nothing (the stopped
    // node's import, neither strict nor a replacement, reads a stream once,
    // as it reads a file).
    let w = d.path().join("w.csv");
    let e = d.path().join("e.csv");
    mkfifo(&w);
    const ROW: usize = 200 << 20;
    let writer = {
        let w = w.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&w)?);
            f.write_all(b"id,manufacturer,country,serial,category,model\nC1,Walther,DE,BP1,pistol,\nC2,Walther,DE,BP2,pistol,\"")?;
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..ROW >> 20 {
                f.write_all(&chunk)?;
            }
            f.write_all(b"\"\nC3,Walther,DE,BP3,pistol,\n")?;
            f.flush()
        })
    };
    std::fs::write(&e, "record_id,date,kind\nC1,2008-02-12,manufactured\n").unwrap();
    let (o, peak_kib) = run_measured(
        d.path(),
        &[
            "--json",
            "registry",
            "import",
            w.to_str().unwrap(),
            "--events",
            e.to_str().unwrap(),
        ],
    );
    // The import ended: a writer still waiting to open the FIFO (the import
    // never opened it, or the thread started late) is let go by opening the
    // other end, as often as it takes; its writes then fail, as they do
    // once the import is gone.
    while !writer.is_finished() {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&w);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let written = writer.join().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    written.expect("the whole 200 MiB row was read from the FIFO");
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(counts(&s), [2, 0, 0, 1], "{s}");
    assert_eq!(s["rejections"][0]["line"], 3, "{s}");
    assert!(
        s["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("4096"),
        "{s}"
    );
    eprintln!("peak resident memory of an import with a 200 MiB row: {peak_kib} KiB");
    // On the old code the 200 MiB row took about 585 MiB.
    assert!(peak_kib < 150 * 1024, "peak resident memory {peak_kib} KiB");
}

#[test]
fn replace_undoes_a_wrong_import_and_remove_takes_ids_all_or_none() {
    let d = init("DE");
    let good = d.path().join("good.jsonl");
    let wrong = d.path().join("wrong.jsonl");
    std::fs::write(
        &good,
        format!(
            "{}\n{}\n{}\n",
            record("A1", "BP1"),
            record("A2", "BP2"),
            record("A3", "BP3")
        ),
    )
    .unwrap();
    std::fs::write(
        &wrong,
        format!(
            "{}\n{}\n{}\n",
            record("A1", "XX1"),
            record("W1", "BP7"),
            record("W2", "BP8")
        ),
    )
    .unwrap();
    ok(d.path(), &["registry", "import", good.to_str().unwrap()]);
    let before = d.path().join("before.jsonl");
    ok(d.path(), &["registry", "export", before.to_str().unwrap()]);
    ok(d.path(), &["registry", "import", wrong.to_str().unwrap()]);
    assert_eq!(json(d.path(), &["registry", "stats"])["records"], 5);

    // A replacement with a bad line, or without records, changes nothing.
    let bad = d.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\nnot json\n", record("A1", "BP1"))).unwrap();
    let o = run(
        d.path(),
        &["registry", "import", "--replace", bad.to_str().unwrap()],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("replacing the registry: nothing changed"),
        "{}",
        stderr(&o)
    );
    // Its bad line is said once: listed, then counted.
    assert_eq!(stderr(&o).matches(":2:").count(), 1, "{}", stderr(&o));
    let empty = d.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let o = run(
        d.path(),
        &["registry", "import", "--replace", empty.to_str().unwrap()],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("would empty it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(json(d.path(), &["registry", "stats"])["records"], 5);

    // A replacement read from a pipe: its second reading found nothing, and
    // with nothing to keep every record was removed (a review found it).
    // Refused before reading, naming the copy to make.
    for mode in ["--replace", "--strict"] {
        let mut c = std::process::Command::new(bin())
            .arg("--data-dir")
            .arg(d.path())
            .args([
                "registry",
                "import",
                mode,
                "--format",
                "jsonl",
                "/dev/stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            // The node may refuse before reading: a closed pipe is no fault.
            let _ = c
                .stdin
                .take()
                .unwrap()
                .write_all(std::fs::read(&good).unwrap().as_slice());
        }
        let o = c.wait_with_output().unwrap();
        assert!(
            !o.status.success()
                && stderr(&o).contains("read only once")
                && stderr(&o).contains("write what you pipe to a file"),
            "{mode}: {}",
            stderr(&o)
        );
        assert_eq!(json(d.path(), &["registry", "stats"])["records"], 5);
    }

    // The last good export, as a replacement: the registry is as it was.
    let s = import(d.path(), &["--replace", before.to_str().unwrap()]);
    assert_eq!(counts(&s), [0, 1, 2, 0], "{s}");
    assert_eq!(s["removed"], 2, "{s}");
    let after = d.path().join("after.jsonl");
    ok(d.path(), &["registry", "export", after.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&before).unwrap(),
        std::fs::read(&after).unwrap()
    );
    let prefixes = json(d.path(), &["registry", "prefixes"]);
    assert_eq!(prefixes["prefixes"][0]["records"], 3, "{prefixes}");

    // An unknown id removes nothing; known ones go, with their counts.
    let o = run(d.path(), &["registry", "remove", "A1", "X9"]);
    assert!(
        !o.status.success() && stderr(&o).contains("no record X9"),
        "{}",
        stderr(&o)
    );
    assert_eq!(json(d.path(), &["registry", "stats"])["records"], 3);
    let r = json(d.path(), &["registry", "remove", "A1", "A3"]);
    assert_eq!(r["removed"], 2, "{r}");
    assert!(!run(d.path(), &["registry", "show", "A1"]).status.success());
    ok(d.path(), &["registry", "show", "A2"]);
    assert_eq!(json(d.path(), &["registry", "stats"])["records"], 1);
    let prefixes = json(d.path(), &["registry", "prefixes"]);
    assert_eq!(prefixes["prefixes"][0]["records"], 1, "{prefixes}");
    // Removed records come back with an import, as new.
    let s = import(d.path(), &[good.to_str().unwrap()]);
    assert_eq!(counts(&s), [2, 0, 1, 0], "{s}");
}

/// Whether `bytes` hold a control character other than a line end or tab
/// (a progress bar's escape sequences and carriage returns).
fn has_control(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|b| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f)
}

#[test]
fn progress_is_drawn_on_a_terminal_only_and_never_with_json() {
    let d = init("DE");
    let f = d.path().join("gen.jsonl");
    let fs = f.to_str().unwrap();
    ok(
        d.path(),
        &[
            "registry", "generate", "--state", "DE", "--count", "50000", "--out", fs,
        ],
    );
    // Not a terminal (the test's pipes): no control characters, with or without --json.
    for args in [
        vec!["registry", "import", fs],
        vec!["--json", "registry", "import", fs],
    ] {
        let o = run(d.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            !has_control(&o.stdout) && !has_control(&o.stderr),
            "{args:?}: {:?}",
            stderr(&o)
        );
    }
    let out = d.path().join("out.jsonl");
    let o = run(d.path(), &["registry", "export", out.to_str().unwrap()]);
    assert!(o.status.success() && !has_control(&o.stderr) && !has_control(&o.stdout));
    // On a terminal (a pseudo-terminal from `script`), a bar is drawn, but
    // not with --json.
    let on_tty = |extra: &str| {
        let cmd = format!(
            "{} --data-dir {} {extra} registry import {fs}",
            bin().display(),
            d.path().display()
        );
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stdout(&o));
        o.stdout
    };
    let drawn = on_tty("");
    assert!(
        has_control(&drawn) && String::from_utf8_lossy(&drawn).contains("importing"),
        "{}",
        String::from_utf8_lossy(&drawn)
    );
    let quiet = on_tty("--json");
    assert!(
        !String::from_utf8_lossy(&quiet).contains("importing"),
        "{}",
        String::from_utf8_lossy(&quiet)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&quiet).trim()).unwrap();
    assert_eq!(v["unchanged"], 50000, "{v}");
    // `report` counts the audit log: a spinner on a terminal, none elsewhere.
    let o = run(d.path(), &["report"]);
    assert!(
        o.status.success() && !has_control(&o.stderr),
        "{}",
        stderr(&o)
    );
    let cmd = format!(
        "{} --data-dir {} report",
        bin().display(),
        d.path().display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && shown.contains("counting the audit log")
            && shown.contains("traces sent"),
        "{shown}"
    );
}

/// Waits for `child` to exit within `within`; its status, or a panic naming `what`.
fn exits_within(
    child: &mut std::process::Child,
    within: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    fed::wait_for(what, within, || child.try_wait().unwrap())
}

/// A child process killed if the test ends before it does.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tracenet --data-dir DIR ARGS` with its output piped.
fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn child_stderr(child: &mut std::process::Child) -> String {
    let mut s = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut s).unwrap();
    s
}

#[test]
fn through_the_node_lines_are_bounded_by_its_limit_endless_sources_are_refused_and_it_stops_in_time()
 {
    use std::time::Duration;
    let mut fed = fed::Federation::start_with(vec![fed::NodeSpec::member("DE", Vec::new())], |n| {
        set_max_line_bytes(&n.dir, 1024)
    });
    let de = fed.node("DE");
    let dir = de.dir.clone();

    // The node's own limit, not the API's old default of 1 MiB.
    let f = dir.join("long.jsonl");
    let long = record("L2", "BP2").replace(
        r#""events":[]"#,
        &format!(
            r#""events":[{{"date":"2001-02-03","kind":"manufactured","note":"{}"}}]"#,
            "n".repeat(1500)
        ),
    );
    std::fs::write(&f, format!("{}\n{long}\n", record("L1", "BP1"))).unwrap();
    let s = json_import(&de.dir, &["registry", "import", f.to_str().unwrap()]);
    assert_eq!(counts(&s), [1, 0, 0, 1], "{s}");
    assert!(
        s["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("at most 1024"),
        "{s}"
    );

    // A device and a FIFO without a writer are refused at once, not read for ever.
    let fifo = dir.join("pipe.jsonl");
    mkfifo(&fifo);
    for (source, kind) in [
        ("/dev/zero", "character device"),
        (fifo.to_str().unwrap(), "FIFO"),
    ] {
        let mut c = Reaped(spawn(
            &dir,
            &["registry", "import", "--format", "jsonl", source],
        ));
        let status = exits_within(
            &mut c.0,
            Duration::from_secs(20),
            &format!("the import of {source} to end"),
        );
        let err = child_stderr(&mut c.0);
        assert!(
            !status.success() && err.contains(kind) && err.contains("copy it to a file"),
            "{err}"
        );
    }

    // A file that takes for ever to read (1 TiB, sparse): a client that goes
    // away (Ctrl-C) takes its import with it...
    let huge = dir.join("huge.jsonl");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let started = |log: &str, what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && l.contains("huge.jsonl"))
            .count()
    };
    let mut gone = Reaped(spawn(&dir, &["registry", "import", huge.to_str().unwrap()]));
    fed::wait_for(
        "the node to start the import",
        Duration::from_secs(30),
        || (started(&de.log(), "registry import started") == 1).then_some(()),
    );
    gone.0.kill().unwrap();
    fed::wait_for(
        "the node to stop the import of the client gone",
        Duration::from_secs(20),
        || (started(&de.log(), "registry import stopped") == 1).then_some(()),
    );
    // ...and stopping the node stops the import, and the node exits in time,
    // saying so to the client.
    let mut client = Reaped(spawn(&dir, &["registry", "import", huge.to_str().unwrap()]));
    let client = &mut client.0;
    fed::wait_for(
        "the node to start the import",
        Duration::from_secs(30),
        || (started(&de.log(), "registry import started") == 2).then_some(()),
    );
    let started = std::time::Instant::now();
    de.signal("TERM");
    let node = fed.node_mut("DE").child.as_mut().unwrap();
    exits_within(node, Duration::from_secs(20), "the node to stop");
    let stopped_in = started.elapsed();
    let status = exits_within(client, Duration::from_secs(10), "the client to end");
    let err = child_stderr(client);
    assert!(!status.success(), "{err}");
    assert!(err.contains("was stopped"), "{err}");
    eprintln!("node stopped {stopped_in:?} after TERM, mid-import");
}

#[test]
fn remove_replace_and_export_to_standard_output_work_through_the_running_node() {
    let records = vec![
        record("A1", "BP1"),
        record("A2", "BP2"),
        record("A3", "BP3"),
    ];
    let fed = fed::Federation::start(vec![fed::NodeSpec::member("DE", records)]);
    let de = fed.node("DE");
    let dir = de.dir.clone();
    // Before, `export -` through the node wrote a file named "-" on its side.
    let o = run(&dir, &["registry", "export", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["A1", "A2", "A3"]);
    assert!(!dir.join("-").exists());
    let file = dir.join("export.jsonl");
    let e = de.json(&["registry", "export", file.to_str().unwrap()]);
    assert_eq!(e["records"], 3, "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), o.stdout);

    let o = run(&dir, &["registry", "remove", "A1", "X9"]);
    assert!(
        !o.status.success() && stderr(&o).contains("no record X9"),
        "{}",
        stderr(&o)
    );
    assert_eq!(de.json(&["registry", "remove", "A1"])["removed"], 1);
    assert!(!run(&dir, &["registry", "show", "A1"]).status.success());

    let keep = dir.join("keep.jsonl");
    std::fs::write(&keep, format!("{}\n", record("A2", "BP2"))).unwrap();
    let s = de.json(&["registry", "import", "--replace", keep.to_str().unwrap()]);
    assert_eq!(
        (s["unchanged"].as_u64(), s["removed"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(de.json(&["registry", "stats"])["records"], 1);

    // Refused whole through the node: every bad line is listed, as with the
    // node stopped, then the one error line; nothing is written.
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n{}\n",
            record("A7", "BP7"),
            record("A8", "BP8").replace("\"DE\"", "\"XX\""),
            record("A9", "BP9").replace("\"DE\"", "\"YY\"")
        ),
    )
    .unwrap();
    let o = run(
        &dir,
        &["registry", "import", "--strict", bad.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with(&format!("rejected {}:2: ", bad.display())),
        "{e}"
    );
    assert!(
        lines[1].starts_with(&format!("rejected {}:3: ", bad.display())),
        "{e}"
    );
    assert!(
        lines[2].starts_with("error: strict import: nothing imported; 2 bad lines, listed above"),
        "{e}"
    );
    // The first bad line is said once, in the list.
    assert!(!lines[2].contains(":2:"), "{e}");
    assert_eq!(de.json(&["registry", "stats"])["records"], 1);

    let audit = de.json(&["audit", "show"]);
    let entries: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("registry") || k == "records_removed")
        })
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            // The import before the node started, written offline.
            (
                "registry_imported".to_string(),
                "added 3, updated 0, unchanged 0, rejected 0, removed 0".to_string()
            ),
            ("records_removed".to_string(), "removed 1".to_string()),
            (
                "registry_replaced".to_string(),
                "added 0, updated 0, unchanged 1, rejected 0, removed 1".to_string()
            ),
        ],
        "{audit}"
    );
}

/// A file named `.tsv` (tab-separated values, as Excel and registry
/// databases export them) is imported as CSV with its tab found in the
/// header, in any case of its name; it was "unknown file type".
#[test]
fn a_tab_separated_file_named_tsv_is_imported_as_csv() {
    let d = init("DE");
    let w = d.path().join("w.TSV");
    std::fs::write(
        &w,
        "id\tmanufacturer\tcountry\tserial\tcategory\tcalibre\nT1\tWalther\tDE\tTS1\tpistol\t7,65 mm\n",
    )
    .unwrap();
    let s = import(d.path(), &[w.to_str().unwrap()]);
    assert_eq!(counts(&s), [1, 0, 0, 0], "{s}");
    let t1 = json(d.path(), &["registry", "show", "T1"]);
    assert_eq!(t1["calibre"], "7,65 mm", "{t1}");
    // A name that says nothing, given `--format tsv`: CSV with tabs.
    let t = d.path().join("export.txt");
    std::fs::write(
        &t,
        "id\tmanufacturer\tcountry\tserial\tcategory\nT2\tWalther\tDE\tTS2\tpistol\n",
    )
    .unwrap();
    let s = import(d.path(), &[t.to_str().unwrap(), "--format", "tsv"]);
    assert_eq!(counts(&s), [1, 0, 0, 0], "{s}");
}

/// `registry import -` reads standard input, as `registry export -` writes
/// standard output (it was "cannot read -"); its format is given, as no
/// name tells it.
#[test]
fn a_dash_imports_standard_input() {
    use std::io::Write;
    let d = init("DE");
    let mut child = std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(d.path())
        .args(["--json", "registry", "import", "-", "--format", "jsonl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    writeln!(input, "{}", record("S1", "STDIN1")).unwrap();
    drop(input);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(counts(&s), [1, 0, 0, 0], "{s}");
    let o = run(d.path(), &["registry", "import", "-"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("give --format jsonl, csv or tsv"),
        "{}",
        stderr(&o)
    );
    let o = run(d.path(), &["registry", "import", "w.csv", "--events", "-"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("give its path"), "{}", stderr(&o));
}
