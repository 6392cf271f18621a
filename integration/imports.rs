//! Registry imports from files as real registries write them: nothing a file
//! holds is dropped without a rejection that names its file, line and field,
//! and the summary's counts add up to the input (issue 13).

mod common;

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
    json(dir, &a)
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
    assert!(!run(d.path(), &["registry", "show", "C1"]).status.success());
}
