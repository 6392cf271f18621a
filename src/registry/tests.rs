use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::marking::{MakerAlias, MatchQuality};

/// The registry is handed its database; `store`, which opens the node's, sits
/// below this module, so the tests open one with sled directly. sled's I/O
/// threads may hold the file lock for a moment after a `Db` in this process is
/// dropped, so a reopen waits for it (up to 5 s).
pub(crate) fn open_db(path: &Path) -> sled::Result<sled::Db> {
    let start = std::time::Instant::now();
    loop {
        match sled::open(path) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed() < std::time::Duration::from_secs(5) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            r => return r,
        }
    }
}

pub(super) fn open_temp() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir.path().join("db")).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    (dir, reg)
}

fn record(id: &str, maker: &str, cc: &str, serial: &str) -> Record {
    serde_json::from_str(&format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":"{maker}","country":"{cc}","serial":"{serial}",
            "imports":[{{"country":"NG","year":2009}}]}},"category":"pistol",
            "events":[{{"date":"2009-03-14","kind":"manufactured","holder":"manufacturer"}},
                      {{"date":"2009-09-19","kind":"exported","counterpart":"NG","reference":"EXP-1"}}]}}"#
    ))
    .unwrap()
}

fn write_file(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    p
}

fn find(reg: &Registry, maker: &str, cc: &str, serial: &str) -> Vec<Candidate> {
    reg.find(&FindQuery {
        maker: Some(maker.into()),
        country: Some(CountryCode::parse(cc).unwrap()),
        serial: serial.into(),
        factory_code: None,
        limit: 10,
        hide_confidential: false,
    })
    .unwrap()
}

#[test]
fn reimporting_an_id_updates_and_keeps_counts_right() {
    let (_d, reg) = open_temp();
    assert_eq!(
        reg.put_all(vec![record("A1", "Walther", "DE", "BP0746")])
            .unwrap(),
        (1, 0, 0)
    );
    assert_eq!(
        reg.put_all(vec![record("A1", "Walther", "DE", "BP0746")])
            .unwrap(),
        (0, 0, 1)
    );
    // Same id, other maker: the old prefix must go, the new one appear.
    assert_eq!(
        reg.put_all(vec![record("A1", "Glock", "AT", "XYZ1")])
            .unwrap(),
        (0, 1, 0)
    );
    assert_eq!(reg.len().unwrap(), 1);
    let prefixes: Vec<String> = reg
        .prefixes()
        .unwrap()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(prefixes, vec!["AT/GLOCK"]);
    assert!(find(&reg, "Walther", "DE", "BP0746").is_empty());
    assert_eq!(find(&reg, "glock", "AT", "xyz-1").len(), 1);
    assert_eq!(
        reg.import_countries().unwrap()[0],
        (CountryCode::parse("NG").unwrap(), 1)
    );
}

#[test]
fn duplicates_within_one_batch_are_one_record() {
    let (_d, reg) = open_temp();
    let a = record("A1", "Walther", "DE", "BP0746");
    let b = record("A1", "Walther", "DE", "BP0747");
    assert_eq!(reg.put_all(vec![a, b]).unwrap(), (1, 1, 0));
    assert_eq!(reg.len().unwrap(), 1);
    assert_eq!(reg.prefixes().unwrap()[0].1, 1);
    assert!(find(&reg, "Walther", "DE", "BP0746").is_empty());
    assert_eq!(find(&reg, "Walther", "DE", "BP0747").len(), 1);
}

#[test]
fn updates_are_found_whether_or_not_other_ids_crowd_the_chunk() {
    let (_d, reg) = open_temp();
    let all: Vec<Record> = (0..100)
        .map(|i| record(&format!("A{i:03}"), "Walther", "DE", &format!("BP{i:04}")))
        .collect();
    assert_eq!(reg.put_all(all).unwrap(), (100, 0, 0));
    // A few ids far apart: the range between them holds many other records.
    let sparse = vec![
        record("A000", "Walther", "DE", "XX0000"),
        record("A099", "Walther", "DE", "BP0099"),
        record("A100", "Walther", "DE", "BP0100"),
    ];
    assert_eq!(reg.put_all(sparse).unwrap(), (1, 1, 1));
    // Neighbouring ids: the range holds only the chunk's own records.
    let dense = vec![
        record("A010", "Walther", "DE", "YY0010"),
        record("A011", "Walther", "DE", "BP0011"),
    ];
    assert_eq!(reg.put_all(dense).unwrap(), (0, 1, 1));
    assert_eq!(reg.len().unwrap(), 101);
    assert_eq!(reg.prefixes().unwrap()[0].1, 101);
    assert!(find(&reg, "Walther", "DE", "BP0000").is_empty());
    assert_eq!(find(&reg, "Walther", "DE", "YY0010").len(), 1);
}

#[test]
fn find_ranks_exact_then_folded_then_wildcard_and_keeps_makers_apart() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        record("E", "Walther", "DE", "BP0746"),
        record("F", "Walther", "DE", "BPO746"), // letter O
        record("W", "Walther", "DE", "BP0776"),
        record("OTHER", "Heckler & Koch", "DE", "BP0746"),
    ])
    .unwrap();
    let hits = find(&reg, "Carl Walther", "DE", "BP0746");
    let ids: Vec<&str> = hits.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, vec!["E", "F"]);
    assert_eq!(hits[0].quality, MatchQuality::Exact);
    assert_eq!(hits[1].quality, MatchQuality::Folded);
    assert!(
        hits[0].reasons[0].contains("one maker"),
        "{:?}",
        hits[0].reasons
    );

    let wild = find(&reg, "Walther", "DE", "BP07?6");
    let ids: Vec<&str> = wild.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, vec!["E", "W", "F"], "{wild:?}");
    assert!(wild.iter().all(|c| c.quality == MatchQuality::Wildcard));

    let hk = find(&reg, "H&K", "DE", "BP0746");
    assert_eq!(hk.len(), 1);
    assert_eq!(hk[0].record.id.as_str(), "OTHER");
}

#[test]
fn find_without_country_searches_the_makers_prefixes() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        record("A", "Glock", "AT", "ABC123"),
        record("B", "Glock", "US", "ABC123"),
    ])
    .unwrap();
    let hits = reg
        .find(&FindQuery {
            maker: Some("GLOCK".into()),
            country: None,
            serial: "abc 123".into(),
            factory_code: None,
            limit: 10,
            hide_confidential: false,
        })
        .unwrap();
    assert_eq!(hits.len(), 2);
}

#[test]
fn a_former_state_and_its_successors_find_each_others_records() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        record("YU-1", "Crvena Zastava", "YU", "M70-1234"),
        record("RS-1", "Zastava Oruzje a.d.", "RS", "M70-1234"),
        record("HR-1", "Zastava", "HR", "M70-1234"),
        record("SU-1", "Izhmash", "SUHH", "AK-77"),
    ])
    .unwrap();
    let ids =
        |c: &[Candidate]| -> Vec<String> { c.iter().map(|c| c.record.id.to_string()).collect() };
    // RS finds its own first, then Yugoslavia's; not Croatia's.
    let rs = find(&reg, "Zastava", "RS", "M70 1234");
    assert_eq!(ids(&rs), ["RS-1", "YU-1"]);
    assert!(
        rs[1]
            .reasons
            .iter()
            .any(|r| r.contains("recorded as made in YU, not RS: RS succeeded YU (Yugoslavia)")),
        "{:?}",
        rs[1].reasons
    );
    // YU finds Yugoslavia's, then every successor's.
    assert_eq!(
        ids(&find(&reg, "Zastava", "YUCS", "M70 1234")),
        ["YU-1", "HR-1", "RS-1"]
    );
    assert_eq!(
        ids(&find(&reg, "Zastava", "HR", "M70 1234")),
        ["HR-1", "YU-1"]
    );
    assert_eq!(ids(&find(&reg, "Kalashnikov", "RU", "AK77")), ["SU-1"]);
    assert_eq!(ids(&find(&reg, "Izhmash", "UA", "AK77")), ["SU-1"]);
    assert!(find(&reg, "Izhmash", "PL", "AK77").is_empty());
    let any = reg
        .find(&FindQuery {
            maker: None,
            country: Some(CountryCode::parse("RS").unwrap()),
            serial: "M70-1234".into(),
            factory_code: None,
            limit: 10,
            hide_confidential: false,
        })
        .unwrap();
    assert_eq!(ids(&any), ["RS-1", "YU-1"]);
    // Kept as recorded: the prefixes say YU and SU.
    let prefixes: Vec<String> = reg
        .prefixes()
        .unwrap()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert!(
        prefixes.contains(&"YU/ZASTAVAARMS".to_string()),
        "{prefixes:?}"
    );
    assert!(
        prefixes.contains(&"SU/KALASHNIKOVCONCERN".to_string()),
        "{prefixes:?}"
    );
}

#[test]
fn a_reopened_registry_still_finds_a_former_states_records_from_a_successor() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open_db(&dir.path().join("db")).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(vec![record("DD-1", "Walther", "DDDE", "Z1")])
            .unwrap();
        reg.flush().unwrap();
    }
    let db = open_db(&dir.path().join("db")).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    // The countries held are known again after a restart, from the counters.
    assert!(reg.countries.contains(CountryCode::parse("DD").unwrap()));
    assert!(!reg.countries.contains(CountryCode::parse("YU").unwrap()));
    let hits = find(&reg, "Walther", "DE", "Z1");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].record.marking.country().as_str(), "DD");
}

#[test]
fn jsonl_import_reports_each_bad_line_and_keeps_the_good_ones() {
    let (dir, reg) = open_temp();
    let good = serde_json::to_string(&record("G1", "Walther", "DE", "BP0746")).unwrap();
    let bad_country = good.replace("\"DE\"", "\"XX\"").replace("G1", "G2");
    let bad_date = good.replace("2009-03-14", "2009-02-30").replace("G1", "G3");
    let bad_kind = good.replace("\"exported\"", "\"sold\"").replace("G1", "G4");
    let no_serial = good.replace("\"BP0746\"", "\" - \"").replace("G1", "G5");
    let huge = format!("{{\"id\":\"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let body = [
        good.as_str(),
        &bad_country,
        &bad_date,
        &bad_kind,
        &no_serial,
        "{not json",
        &huge,
        "",
    ]
    .join("\n");
    let path = write_file(&dir, "in.jsonl", &body);
    let s = import::import_file(&reg, &path, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.updated, s.rejected), (1, 0, 6));
    let r = &s.rejections;
    assert_eq!(
        (r[0].line, r[0].field.as_deref()),
        (2, Some("marking.country"))
    );
    assert!(r[0].reason.contains("XX"), "{}", r[0]);
    assert_eq!(
        (r[1].line, r[1].field.as_deref()),
        (3, Some("events[0].date"))
    );
    assert_eq!(
        (r[2].line, r[2].field.as_deref()),
        (4, Some("events[1].kind"))
    );
    assert!(r[2].reason.contains("sold"));
    assert_eq!(r[3].line, 5);
    assert!(r[3].reason.contains("serial"), "{}", r[3]);
    assert_eq!(r[4].line, 6);
    assert_eq!(r[5].line, 7);
    assert!(r[5].reason.contains("bytes"), "{}", r[5]);
    assert!(
        r[0].to_string()
            .starts_with(&format!("{}:2: marking.country: ", path.display()))
    );
    assert_eq!(reg.len().unwrap(), 1);
}

/// A second line with an id read earlier in the same file is refused,
/// naming the first: it used to replace that record without a word.
#[test]
fn jsonl_import_refuses_an_id_repeated_in_the_file() {
    let (dir, reg) = open_temp();
    let line = |id: &str, serial: &str| {
        serde_json::to_string(&record(id, "Walther", "DE", serial)).unwrap()
    };
    let body = [
        line("K1", "AB00001"),
        line("K2", "AB00002"),
        line("K1", "ZZ99999"),
    ]
    .join("\n");
    let path = write_file(&dir, "dup.jsonl", &body);
    let s = import::import_file(&reg, &path, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.updated, s.rejected), (2, 0, 1));
    let r = &s.rejections[0];
    assert_eq!((r.line, r.field.as_deref()), (3, Some("id")));
    assert!(r.reason.contains("already on line 1"), "{r}");
    // The first record stands.
    assert_eq!(find(&reg, "Walther", "DE", "AB00001").len(), 1);
    assert!(find(&reg, "Walther", "DE", "ZZ99999").is_empty());
    // A later file may still replace it: ids are unique in the registry.
    let path = write_file(&dir, "next.jsonl", &line("K1", "ZZ99999"));
    let s = import::import_file(&reg, &path, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.updated, s.rejected), (0, 1, 0));
}

#[test]
fn strict_import_writes_nothing_when_a_line_is_bad() {
    let (dir, reg) = open_temp();
    let good = serde_json::to_string(&record("G1", "Walther", "DE", "BP0746")).unwrap();
    let path = write_file(&dir, "in.jsonl", &format!("{good}\n{{\"id\":1}}\n"));
    let opts = ImportOptions {
        strict: true,
        ..ImportOptions::default()
    };
    let e = import::import_file(&reg, &path, &opts, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains(":2:"), "{e}");
    assert_eq!(reg.len().unwrap(), 0);
}

/// A strict import or a replacement reads its file twice: a FIFO would
/// give the second reading nothing, and a replacement with nothing to keep
/// removed every record (a review found it). Refused before reading, with
/// the registry as it was; a FIFO without a writer does not hold the call.
#[test]
fn a_strict_import_or_a_replacement_refuses_a_source_read_once() {
    let (dir, reg) = open_temp();
    let good = serde_json::to_string(&record("G1", "Walther", "DE", "BP0746")).unwrap();
    let path = write_file(&dir, "in.jsonl", &format!("{good}\n"));
    import::import_file(&reg, &path, &ImportOptions::default(), &mut |_| {}).unwrap();
    let fifo = dir.path().join("pipe.jsonl");
    crate::model::file::mkfifo(&fifo);
    for (strict, replace) in [(true, false), (false, true), (true, true)] {
        let opts = ImportOptions {
            strict,
            replace,
            ..ImportOptions::default()
        };
        let e = import::import_file(&reg, &fifo, &opts, &mut |_| {}).unwrap_err();
        let said = e.to_string();
        assert!(
            said.contains("FIFO")
                && said.contains("read only once")
                && said.contains("cat '")
                && said.contains("pipe-copy.jsonl"),
            "{said}"
        );
        assert_eq!(reg.len().unwrap(), 1);
    }
}

/// A file written to between a replacement's two readings: the second
/// reading's records are written, none removed, and the error gives both
/// counts. The file grows while its first chunks are written, past what the
/// reader has read ahead.
#[test]
fn a_file_changed_between_the_two_readings_removes_nothing() {
    let (dir, reg) = open_temp();
    let old = serde_json::to_string(&record("OLD1", "Walther", "DE", "BP0001")).unwrap();
    let path = write_file(&dir, "old.jsonl", &format!("{old}\n"));
    import::import_file(&reg, &path, &ImportOptions::default(), &mut |_| {}).unwrap();
    let n = CHUNK * 12;
    let mut body = String::new();
    for i in 0..n {
        body += &serde_json::to_string(&record(
            &format!("N{i}"),
            "Walther",
            "DE",
            &format!("BP{i:06}"),
        ))
        .unwrap();
        body.push('\n');
    }
    let path = write_file(&dir, "new.jsonl", &body);
    let late = serde_json::to_string(&record("LATE", "Walther", "DE", "BP999999")).unwrap();
    let mut grown = false;
    let opts = ImportOptions {
        replace: true,
        ..ImportOptions::default()
    };
    let e = import::import_file(&reg, &path, &opts, &mut |_| {
        if !grown {
            grown = true;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            writeln!(f, "{late}").unwrap();
        }
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            import::ImportError::ChangedWhileRead { first, second, rejected: 0, .. }
                if first == n as u64 && second == n as u64 + 1
        ),
        "{e}"
    );
    assert!(e.wrote_records(), "{e}");
    let said = e.to_string();
    assert!(
        said.contains("changed while it was imported") && said.contains("no record removed"),
        "{said}"
    );
    // Nothing removed: the old record stays beside the second reading's.
    assert_eq!(reg.len().unwrap(), n as u64 + 2);
}

/// The counters of confidential records per prefix (what a wildcard from
/// another State is answered by) are counted by the re-index a store from
/// before them gets at its first open (index rules 2), and again after an
/// older build wrote to it without them.
#[test]
fn a_store_from_before_the_confidential_counters_is_counted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir.path().join("db")).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    let mut secret = record("C1", "Walther", "DE", "SECRET99");
    secret.confidential = true;
    let mut other = record("C2", "Glock", "AT", "GX100");
    other.confidential = true;
    reg.put_all(vec![
        secret.clone(),
        other.clone(),
        record("P1", "Walther", "DE", "AB100"),
        record("P2", "Beretta", "IT", "BB100"),
    ])
    .unwrap();
    let prefix = |r: &Record| r.marking.prefix(&MakerTable::built_in());
    let public = prefix(&record("P2", "Beretta", "IT", "BB100"));
    let held = |reg: &Registry| {
        [prefix(&secret), prefix(&other), public.clone()]
            .map(|p| reg.holds_confidential(&p).unwrap())
    };
    assert_eq!(held(&reg), [true, true, false]);
    // As a store indexed by an older build: no counters, and its own
    // fingerprint of the index rules (here, any other).
    let mut batch = sled::Batch::default();
    for k in reg.tree.scan_prefix([keys::CONFIDENTIAL]).keys() {
        batch.remove(k.unwrap());
    }
    batch.insert(keys::MAKERS, &0u64.to_be_bytes()[..]);
    reg.tree.apply_batch(batch).unwrap();
    assert_eq!(held(&reg), [false, false, false]);
    drop(reg);
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    assert_eq!(held(&reg), [true, true, false]);
    // Kept with writes from then on.
    reg.remove(&[RecordId::parse("C2").unwrap()]).unwrap();
    assert_eq!(held(&reg), [true, false, false]);
}

#[test]
fn export_then_import_round_trips_byte_for_byte() {
    let (dir, reg) = open_temp();
    let sample = include_str!("../../config/sample-registry.jsonl");
    let path = write_file(&dir, "in.jsonl", sample);
    let s = import::import_file(&reg, &path, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(s.rejected, 0, "{:?}", s.rejections);
    let mut first = Vec::new();
    reg.export(&mut first).unwrap();

    let (dir2, reg2) = open_temp();
    let p2 = write_file(&dir2, "again.jsonl", std::str::from_utf8(&first).unwrap());
    import::import_file(&reg2, &p2, &ImportOptions::default(), &mut |_| {}).unwrap();
    let mut second = Vec::new();
    reg2.export(&mut second).unwrap();
    assert_eq!(first, second);
    assert_eq!(reg.len().unwrap(), reg2.len().unwrap());
}

#[test]
fn csv_import_joins_events_and_refuses_a_record_with_a_bad_event() {
    let (dir, reg) = open_temp();
    let weapons = write_file(
        &dir,
        "w.csv",
        "id,manufacturer,country,serial,category,year,imports,model,calibre,confidential\n\
         C1,Walther,DE,BP0746,pistol,2009,NG:2009,P99,9x19mm,false\n\
         C2,Glock,AT,AB123,pistol,,,,,no\n\
         C3,Glock,XX,AB124,pistol,,,,,\n\
         C4,Glock,AT,AB125,Pistole,,,,,\n",
    );
    let events = write_file(
        &dir,
        "e.csv",
        "record_id,date,kind,holder,counterpart,reference,note\n\
         C1,2009-03-14,manufactured,manufacturer,,,\n\
         C1,2009-09-19,exported,,NG,EXP-1,\n\
         C2,2010-01-01,sold,,,,\n\
         C9,2010-01-01,lost,,,,\n\
         C4,2011-01-01,manufactured,manufacturer,,,\n",
    );
    let opts = ImportOptions {
        events_csv: Some(events.clone()),
        ..ImportOptions::default()
    };
    let s = import::import_file(&reg, &weapons, &opts, &mut |_| {}).unwrap();
    // Each weapon row once (C2, C3, C4 rejected), and the one event row
    // tied to no weapon row (C9): the counts add up to the input.
    assert_eq!((s.added, s.rejected), (1, 4), "{:?}", s.rejections);
    // A weapon row refused for itself takes its events with it, said so,
    // and they are not reported again as events of an unknown id.
    let c4 = s
        .rejections
        .iter()
        .find(|r| r.file == weapons && r.line == 5)
        .unwrap();
    assert!(
        c4.reason.contains("its event row is not imported either"),
        "{c4}"
    );
    assert!(!s.rejections.iter().any(|r| r.file == events && r.line == 6));
    let rec = reg.get(&RecordId::parse("C1").unwrap()).unwrap().unwrap();
    assert_eq!(rec.events.len(), 2);
    assert_eq!(rec.events[1].reference.as_ref().unwrap().as_str(), "EXP-1");
    let kind = s
        .rejections
        .iter()
        .find(|r| r.field.as_deref() == Some("kind"))
        .unwrap();
    assert_eq!((kind.file.as_path(), kind.line), (events.as_path(), 4));
    assert!(
        s.rejections
            .iter()
            .any(|r| r.line == 4 && r.file == weapons)
    );
    assert!(
        s.rejections
            .iter()
            .any(|r| r.line == 5 && r.reason.contains("not in the weapons file"))
    );
}

#[test]
fn csv_with_an_unknown_column_is_refused_whole() {
    let (dir, reg) = open_temp();
    let weapons = write_file(&dir, "w.csv", "id,maker,country,serial,category\n");
    let e =
        import::import_file(&reg, &weapons, &ImportOptions::default(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("unknown column \"maker\""), "{e}");
    // An export named .csv (as `registry export` wrote under any name
    // before it refused that one) is said to be JSON Lines.
    let exported = write_file(
        &dir,
        "e.csv",
        "{\"id\":\"A\",\"marking\":{\"manufacturer\":\"Glock\",\"country\":\"AT\",\"serial\":\"X1\"},\"category\":\"pistol\"}\n",
    );
    let e =
        import::import_file(&reg, &exported, &ImportOptions::default(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("--format jsonl"), "{e}");
    // An events file with JSON Lines was never read, and the import said
    // nothing (a hostile trial): refused, naming both, nothing written.
    let jsonl = write_file(
        &dir,
        "w.jsonl",
        "{\"id\":\"A\",\"marking\":{\"manufacturer\":\"Glock\",\"country\":\"AT\",\"serial\":\"X1\"},\"category\":\"pistol\"}\n",
    );
    let events = write_file(&dir, "ev.csv", "record_id,date,kind\nA,2020-01-01,stolen\n");
    let opts = ImportOptions {
        events_csv: Some(events),
        ..ImportOptions::default()
    };
    let e = import::import_file(&reg, &jsonl, &opts, &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, import::ImportError::EventsWithJsonLines { .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("ev.csv") && e.to_string().contains("w.jsonl"),
        "{e}"
    );
    assert_eq!(reg.len().unwrap(), 0);
}

#[test]
fn stats_count_categories_kinds_and_retention() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        record("A", "Walther", "DE", "1"),
        record("B", "Walther", "DE", "2"),
    ])
    .unwrap();
    let s = reg.stats(Date::parse("2035-01-01").unwrap()).unwrap();
    assert_eq!(s.records, 2);
    assert_eq!(s.by_category[&WeaponCategory::Pistol], 2);
    assert_eq!(s.by_event_kind[&EventKind::Exported], 2);
    // Exported in 2009 is past 20 years in 2035; manufactured is not past 30.
    assert_eq!(s.events_past_retention_minimum[&EventKind::Exported], 2);
    assert_eq!(s.past_retention_minimum, 0);
    let later = reg.stats(Date::parse("2040-01-01").unwrap()).unwrap();
    assert_eq!(later.past_retention_minimum, 2);
}

#[test]
fn a_changed_maker_table_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(vec![record("A", "Acme Works", "DE", "1")])
            .unwrap();
        reg.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let table = MakerTable::with_extra(&[MakerAlias {
        name: "Acme Arms".into(),
        aliases: vec!["Acme Works".into()],
        countries: Vec::new(),
    }])
    .unwrap();
    let reg = Registry::open(&db, table).unwrap();
    assert_eq!(reg.prefixes().unwrap()[0].0.to_string(), "DE/ACMEARMS");
    assert_eq!(find(&reg, "Acme Arms", "DE", "1").len(), 1);
    assert_eq!(reg.len().unwrap(), 1);
}

#[test]
fn many_ids_in_any_order_span_buckets_and_stay_reachable() {
    let (_d, reg) = open_temp();
    // Ids arrive out of order and across many batches and buckets, some below
    // every fence written before them.
    let mut order: Vec<usize> = (0..1_000).collect();
    order.sort_by_key(|i| (i * 7919) % 1_000);
    let recs: Vec<Record> = order
        .iter()
        .map(|i| record(&format!("B{i:05}"), "Glock", "AT", &format!("GA{i:05}")))
        .collect();
    let (first, rest) = recs.split_at(300);
    assert_eq!(reg.put_all(first.to_vec()).unwrap(), (300, 0, 0));
    assert_eq!(reg.put_all(rest.to_vec()).unwrap(), (700, 0, 0));
    assert_eq!(reg.put_all(recs.clone()).unwrap(), (0, 0, 1_000));
    assert_eq!(reg.len().unwrap(), 1_000);
    let buckets = reg.tree.scan_prefix([keys::IDS]).count();
    assert!(buckets >= 1_000 / ids::MAX_ENTRIES, "{buckets} buckets");
    for i in [0usize, 1, 63, 64, 65, 500, 999] {
        let id = RecordId::parse(&format!("B{i:05}")).unwrap();
        let rec = reg.get(&id).unwrap().expect("found by id");
        assert_eq!(rec.marking.serial(), format!("GA{i:05}"));
        assert_eq!(find(&reg, "Glock", "AT", &format!("GA{i:05}")).len(), 1);
    }
    let ids: Vec<String> = reg.records().map(|r| r.unwrap().id.to_string()).collect();
    assert_eq!(ids.len(), 1_000);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "records come in id order"
    );
    assert!(
        reg.get(&RecordId::parse("B99999").unwrap())
            .unwrap()
            .is_none()
    );
    assert!(reg.get(&RecordId::parse("A").unwrap()).unwrap().is_none());
}

#[test]
fn a_registry_in_the_first_layout_is_moved_to_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let recs: Vec<Record> = (0..300)
        .map(|i| record(&format!("A{i:03}"), "Walther", "DE", &format!("BP{i:04}")))
        .collect();
    {
        // Layout 1, written as the previous release wrote it.
        let db = open_db(&path).unwrap();
        let tree = db.open_tree("registry").unwrap();
        for r in &recs {
            let loc = Registry::open_raw_location(r);
            tree.insert(
                [&b"r"[..], r.id.as_str().as_bytes()].concat(),
                serde_json::to_vec(r).unwrap(),
            )
            .unwrap();
            tree.insert(
                [&b"i"[..], &loc, &[0], r.id.as_str().as_bytes()].concat(),
                r.marking.normalised_serial().as_bytes(),
            )
            .unwrap();
        }
        let prefix = recs[0].marking.prefix(&MakerTable::built_in());
        tree.insert(keys::prefix(&prefix), &300u64.to_be_bytes()[..])
            .unwrap();
        tree.insert(b"gNG", &300u64.to_be_bytes()[..]).unwrap();
        tree.insert(keys::COUNT, &300u64.to_be_bytes()[..]).unwrap();
        tree.insert(
            keys::MAKERS,
            &index_fingerprint(&MakerTable::built_in()).to_be_bytes()[..],
        )
        .unwrap();
        db.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    assert_eq!(reg.len().unwrap(), 300);
    assert_eq!(reg.tree.scan_prefix(b"r").count(), 0);
    assert_eq!(reg.tree.scan_prefix(b"i").count(), 0);
    assert_eq!(reg.prefixes().unwrap().len(), 1);
    assert_eq!(reg.prefixes().unwrap()[0].1, 300);
    let back: Vec<Record> = reg.records().map(Result::unwrap).collect();
    assert_eq!(back, recs);
    assert_eq!(find(&reg, "Walther", "DE", "BP0123").len(), 1);
    // Adding after the move counts from the kept counters.
    reg.put_all(vec![record("A300", "Walther", "DE", "BP0300")])
        .unwrap();
    assert_eq!(reg.len().unwrap(), 301);
    assert_eq!(reg.prefixes().unwrap()[0].1, 301);
}

/// `cargo test write_registry_fuzz_seeds -- --ignored` writes stored forms of
/// real records into scripts/fuzz/corpus/stored_record, so the fuzzer starts from them.
#[test]
#[ignore]
fn write_registry_fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fuzz/corpus/stored_record");
    std::fs::create_dir_all(&dir).unwrap();
    let (_d, reg) = open_temp();
    let de = CountryCode::parse("DE").unwrap();
    reg.put_all(synthetic::generate(de, 100, 11).collect())
        .unwrap();
    for (i, kv) in reg.tree.iter().enumerate().take(40) {
        let (k, v) = kv.unwrap();
        std::fs::write(dir.join(format!("seed-{i:02}-{}", k[0] as char)), &v).unwrap();
        if k[0] == keys::KEPT {
            let (_, stored) = split_kept(&k, &v).unwrap();
            std::fs::write(dir.join(format!("seed-{i:02}-record")), stored).unwrap();
        }
    }
}

#[test]
fn a_changed_maker_table_re_places_records_across_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let recs: Vec<Record> = (0..200)
        .map(|i| {
            let maker = if i % 2 == 0 { "Acme Works" } else { "Glock" };
            record(&format!("C{i:04}"), maker, "DE", &format!("AW{i:04}"))
        })
        .collect();
    {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(recs.clone()).unwrap();
        reg.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let table = MakerTable::with_extra(&[MakerAlias {
        name: "Acme Arms".into(),
        aliases: vec!["Acme Works".into()],
        countries: Vec::new(),
    }])
    .unwrap();
    let reg = Registry::open(&db, table).unwrap();
    assert_eq!(reg.len().unwrap(), 200);
    let mut prefixes: Vec<(String, u64)> = reg
        .prefixes()
        .unwrap()
        .into_iter()
        .map(|(p, n)| (p.to_string(), n))
        .collect();
    prefixes.sort();
    assert_eq!(prefixes[0], ("DE/ACMEARMS".to_string(), 100));
    assert_eq!(prefixes[1].1, 100);
    assert_eq!(reg.import_countries().unwrap()[0].1, 200);
    for i in [0usize, 64, 130, 198] {
        let id = RecordId::parse(&format!("C{i:04}")).unwrap();
        assert_eq!(reg.get(&id).unwrap().unwrap(), recs[i]);
        assert_eq!(find(&reg, "Acme Arms", "DE", &format!("AW{i:04}")).len(), 1);
    }
    assert_eq!(reg.records().count(), 200);
    // Nothing is left under the old locations.
    assert!(find(&reg, "Acme Works", "DE", "AW0000").len() == 1);
    assert_eq!(reg.tree.scan_prefix([keys::KEPT]).count(), 200);
}

#[test]
fn readers_see_every_record_once_while_an_import_moves_and_splits() {
    let (_d, reg) = open_temp();
    let ids: Vec<String> = (0..600).map(|i| format!("E{:05}", i * 10)).collect();
    let version = |round: usize| -> Vec<Record> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| record(id, "Walther", "DE", &format!("R{round}S{i:05}")))
            .collect()
    };
    reg.put_all(version(0)).unwrap();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for round in 1..8 {
                // Every marking changes; new ids between the old ones split buckets.
                let mut recs = version(round);
                recs.extend((0..40).map(|i| {
                    record(
                        &format!("E{:05}", i * 150 + round),
                        "Glock",
                        "AT",
                        &format!("N{round}{i}"),
                    )
                }));
                reg.put_all(recs).unwrap();
            }
        });
        while !writer.is_finished() {
            let seen: Vec<String> = reg.records().map(|r| r.unwrap().id.to_string()).collect();
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "ids strictly increase"
            );
            assert!(seen.len() >= ids.len());
            for id in ids.iter().step_by(97) {
                let id = RecordId::parse(id).unwrap();
                assert!(reg.get(&id).unwrap().is_some(), "{id} is always found");
            }
        }
    });
    assert_eq!(reg.records().count() as u64, reg.len().unwrap());
}

/// A registry of layout 2 (format-1 records) or 3 (format-2 records) opens
/// in layout 4, each record rewritten once in format 3 and read as it was:
/// the number changes so that an older tracenet refuses the registry whole
/// instead of failing on each record, and the confidential bit is in every
/// header, so that hiding confidential records never decodes one.
#[test]
fn an_older_layout_moves_to_layout_4_with_every_record_in_format_3() {
    for (layout, format) in [(2u8, 1u8), (3, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let open_rec = record("A1", "Walther", "DE", "BP0746");
        let secret = Record {
            confidential: true,
            ..record("C1", "Walther", "DE", "77K123")
        };
        {
            let db = open_db(&path).unwrap();
            let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
            reg.put_all(vec![open_rec.clone(), secret.clone()]).unwrap();
            // As the older layout kept them.
            for kv in reg.tree.scan_prefix([keys::KEPT]) {
                let (k, v) = kv.unwrap();
                let n = u16::from_le_bytes([v[0], v[1]]) as usize;
                let at = 2 + n;
                let mut v = v.to_vec();
                assert_eq!(v[at], 3);
                if format == 2 {
                    v[at] = 2;
                    v[at + 1] &= !2;
                } else {
                    let code = v[at + 2] as usize;
                    v = [&v[..at], &[1u8][..], &v[at + 3 + code..]].concat();
                }
                reg.tree.insert(k, v).unwrap();
            }
            reg.tree.insert(keys::LAYOUT, &[layout][..]).unwrap();
            db.flush().unwrap();
        }
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        assert_eq!(
            reg.tree.get(keys::LAYOUT).unwrap().as_deref(),
            Some(&[4u8][..]),
            "from layout {layout}"
        );
        for kv in reg.tree.scan_prefix([keys::KEPT]) {
            let (k, v) = kv.unwrap();
            let (_, stored) = split_kept(&k, &v).unwrap();
            assert!(stored::is_current(stored), "from layout {layout}");
        }
        assert_eq!(reg.get(&open_rec.id).unwrap(), Some(open_rec));
        assert_eq!(reg.get(&secret.id).unwrap(), Some(secret));
    }
}

#[test]
fn a_store_from_a_newer_layout_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir.path().join("db")).unwrap();
    db.open_tree("registry")
        .unwrap()
        .insert(keys::LAYOUT, &[9u8][..])
        .unwrap();
    let err = Registry::open(&db, MakerTable::built_in())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("storage layout 9"), "{err}");
}

#[test]
fn an_unreadable_first_layout_record_is_set_aside_and_counts_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let good = record("A1", "Walther", "DE", "BP0746");
    {
        let db = open_db(&path).unwrap();
        let tree = db.open_tree("registry").unwrap();
        tree.insert(b"rA1", serde_json::to_vec(&good).unwrap())
            .unwrap();
        tree.insert(b"rA2", &b"{not json"[..]).unwrap();
        tree.insert(keys::COUNT, &2u64.to_be_bytes()[..]).unwrap();
        tree.insert(
            keys::MAKERS,
            &index_fingerprint(&MakerTable::built_in()).to_be_bytes()[..],
        )
        .unwrap();
    }
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    assert_eq!(reg.len().unwrap(), 1);
    assert_eq!(reg.get(&good.id).unwrap(), Some(good));
    assert_eq!(
        reg.tree.get(b"qA2").unwrap().as_deref(),
        Some(&b"{not json"[..])
    );
    assert_eq!(reg.prefixes().unwrap()[0].1, 1);
}

#[test]
fn a_damaged_counter_does_not_overflow() {
    let (_d, reg) = open_temp();
    reg.tree
        .insert(keys::COUNT, &(i64::MAX as u64).to_be_bytes()[..])
        .unwrap();
    reg.put_all(vec![record("A1", "Walther", "DE", "BP0746")])
        .unwrap();
    assert_eq!(reg.len().unwrap(), i64::MAX as u64);
}

/// Moves `rec`, as this build placed it, to `old_loc`, where an older
/// build's rules placed it, and marks the index as built by other rules
/// (the fingerprint 1): the next open re-indexes. The record's id must be
/// in the first bucket of ids.
fn place_as_before(reg: &Registry, rec: &Record, old_loc: Vec<u8>) {
    let (_, new_loc, _) = reg.location(rec);
    let id = rec.id.as_str().as_bytes();
    let v = reg.tree.remove(keys::kept(&new_loc, id)).unwrap().unwrap();
    reg.tree.insert(keys::kept(&old_loc, id), v).unwrap();
    let (bkey, bytes) = reg.tree.scan_prefix([keys::IDS]).next().unwrap().unwrap();
    let mut entries = ids::decode(&bytes).unwrap();
    entries.insert(id.to_vec(), old_loc);
    let (_, bytes) = ids::encode_split(&entries).remove(0);
    reg.tree.insert(bkey, bytes).unwrap();
    reg.tree
        .insert(keys::MAKERS, &1u64.to_be_bytes()[..])
        .unwrap();
}

#[test]
fn records_placed_with_the_old_folding_are_found_after_the_reindex_at_open() {
    // Rules 1 folded "FN Herstal S.A." to BE/FNHERSTALSA. A store written then
    // holds the record there, under the fingerprint of the old table: the
    // new folding's fingerprint differs, so open re-places it under
    // BE/FNHERSTAL, where a trace for "FN Herstal" looks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let rec = record("BE-1", "FN Herstal S.A.", "BE", "1352-88017");
    {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(vec![rec.clone()]).unwrap();
        let (prefix, _, _) = reg.location(&rec);
        let old_prefix: MarkingPrefix = "BE/FNHERSTALSA".parse().unwrap();
        place_as_before(
            &reg,
            &rec,
            keys::location(&old_prefix, &fold_serial("1352-88017")),
        );
        let n = reg.tree.remove(keys::prefix(&prefix)).unwrap().unwrap();
        reg.tree.insert(keys::prefix(&old_prefix), n).unwrap();
        assert!(find(&reg, "FN Herstal", "BE", "1352-88017").is_empty());
        reg.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    assert_eq!(find(&reg, "FN Herstal", "BE", "1352-88017").len(), 1);
    assert_eq!(find(&reg, "FN Herstal SA", "BE", "1352-88017").len(), 1);
    let prefixes = reg.prefixes().unwrap();
    assert_eq!(prefixes.len(), 1);
    assert_eq!(prefixes[0].0.to_string(), "BE/FNHERSTAL");
    assert_eq!(reg.get(&rec.id).unwrap(), Some(rec));
}

/// A serial with accents is found by the serial read without them, and the
/// reverse (serial rules 3); a registry placed under rules 2, where `Ä` was
/// its own key, is re-placed at its next open and found so too.
#[test]
fn a_serial_with_accents_is_found_without_them_also_in_a_store_placed_before_rules_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let rec = record("DE-1", "Walther", "DE", "1234-ÄÖ");
    {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(vec![rec.clone(), record("DE-2", "Walther", "DE", "5678AO")])
            .unwrap();
        let hit = find(&reg, "Walther", "DE", "1234AO");
        assert_eq!(hit.len(), 1, "{hit:?}");
        assert_eq!(hit[0].quality, MatchQuality::Folded);
        assert!(hit[0].reasons.iter().any(|r| r.contains("(accent)")));
        assert_eq!(find(&reg, "Walther", "DE", "5678ÄÖ").len(), 1);
        assert_eq!(
            find(&reg, "Walther", "DE", "1234-ÄÖ")[0].quality,
            MatchQuality::Exact
        );
        // Where rules 2 kept it: under its serial with the accents.
        let prefix: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
        place_as_before(&reg, &rec, keys::location(&prefix, "1234ÄÖ"));
        assert!(find(&reg, "Walther", "DE", "1234AO").is_empty());
        reg.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    assert_eq!(find(&reg, "Walther", "DE", "1234AO").len(), 1);
    assert_eq!(find(&reg, "Walther", "DE", "1234ÄÖ").len(), 1);
    assert_eq!(reg.len().unwrap(), 2);
    assert_eq!(reg.get(&rec.id).unwrap(), Some(rec));
}

#[test]
fn a_find_without_a_country_resolves_the_maker_in_each_prefix() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        record("A", "Sauer", "DE", "S1"),
        record("B", "Sauer", "US", "S1"),
        record("C", "J.P. Sauer & Sohn", "DE", "S1"),
    ])
    .unwrap();
    let ids = |maker: &str| -> Vec<String> {
        let mut v: Vec<String> = reg
            .find(&FindQuery {
                maker: Some(maker.into()),
                country: None,
                serial: "S1".into(),
                factory_code: None,
                limit: 10,
                hide_confidential: false,
            })
            .unwrap()
            .into_iter()
            .map(|c| c.record.id.as_str().to_string())
            .collect();
        v.sort();
        v
    };
    // "Sauer" is J. P. Sauer & Sohn in DE and SIG Sauer in the US.
    assert_eq!(ids("Sauer"), ["A", "B", "C"]);
    assert_eq!(ids("J. P. Sauer"), ["A", "C"]);
    assert_eq!(ids("SIG Sauer"), ["B"]);
}

#[test]
fn import_lists_the_makers_the_table_does_not_know_with_near_matches() {
    let (d, reg) = open_temp();
    let lines: Vec<String> = [
        ("DE-1", "Walther", "DE"),
        ("DE-2", "Walhter", "DE"),
        ("DE-3", "Walhter", "DE"),
        ("DE-4", "WALHTER GmbH", "DE"),
        ("BE-1", "FN Herstal S.A.", "BE"),
        ("XX-1", "Qqqzzz Works", "DE"),
    ]
    .iter()
    .map(|(id, m, c)| serde_json::to_string(&record(id, m, c, id)).unwrap())
    .collect();
    let file = write_file(&d, "in.jsonl", &lines.join("\n"));
    let s = import::import_file(&reg, &file, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(s.added, 6);
    assert_eq!(s.new_makers.len(), 2, "{:?}", s.new_makers);
    let w = &s.new_makers[0];
    assert_eq!(w.manufacturer, "Walhter");
    assert_eq!(w.prefix.to_string(), "DE/WALHTER");
    assert_eq!(w.records, 3);
    assert_eq!(w.near[0].key.as_str(), "CARLWALTHER");
    assert_eq!(s.new_makers[1].manufacturer, "Qqqzzz Works");
    assert!(s.new_makers[1].near.is_empty());
    assert_eq!(s.new_makers_more, 0);
}

/// A newer maker table applied to a running registry: records move to the
/// keys it gives, finds and counts follow, and the stored fingerprint means
/// the next open does not move them again.
#[test]
fn a_maker_table_applied_while_open_moves_the_records_it_reads_differently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let moved = {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(vec![
            record("A", "AA Works", "DE", "1"),
            record("B", "Walther", "DE", "2"),
        ])
        .unwrap();
        let held = |reg: &Registry| -> Vec<String> {
            reg.prefixes()
                .unwrap()
                .iter()
                .map(|(p, _)| p.to_string())
                .collect()
        };
        assert_eq!(held(&reg), ["DE/AAWORKS", "DE/CARLWALTHER"]);
        assert!(
            !reg.set_makers(MakerTable::built_in()).unwrap(),
            "same table"
        );
        let mut r = crate::marking::ReferenceTable::shipped();
        r.version = 9;
        r.makers.push(crate::marking::ReferenceMaker {
            name: "Acme Arms".into(),
            countries: vec![CountryCode::parse("DE").unwrap()],
            aliases: vec!["AA Works".into()],
            history: Vec::new(),
            factory_codes: Vec::new(),
        });
        let table = MakerTable::from_signed(&r);
        assert!(reg.set_makers(table.clone()).unwrap());
        assert_eq!(held(&reg), ["DE/ACMEARMS", "DE/CARLWALTHER"]);
        assert_eq!(reg.makers().table_version(), 9);
        assert_eq!(find(&reg, "Acme Arms", "DE", "1").len(), 1);
        assert_eq!(find(&reg, "AA Works", "DE", "1").len(), 1);
        assert_eq!(
            reg.get(&RecordId::parse("A").unwrap())
                .unwrap()
                .unwrap()
                .id
                .as_str(),
            "A"
        );
        assert_eq!(reg.len().unwrap(), 2);
        reg.flush().unwrap();
        table
    };
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, moved.clone()).unwrap();
    assert_eq!(
        reg.tree.get(keys::MAKERS).unwrap().as_deref(),
        Some(&index_fingerprint(&moved).to_be_bytes()[..])
    );
    assert_eq!(find(&reg, "Acme Arms", "DE", "1").len(), 1);
}

/// A holder whose policy answers a confidential match with silence searches
/// for other States without its confidential records, and builds its keyed
/// filters without their serial keys: folded and variant keys alike, a key
/// that a public record shares kept. A record stored before format 3 (no
/// confidential bit) is decoded to know.
#[test]
fn confidential_records_are_left_out_of_hidden_finds_and_filter_keys() {
    let (_d, reg) = open_temp();
    let confidential = |id, serial| Record {
        confidential: true,
        ..record(id, "Walther", "DE", serial)
    };
    reg.put_all(vec![
        confidential("C1", "BP0746"),
        confidential("C2", "77K123"),
        record("P1", "Walther", "DE", "369M257"),
        record("P2", "Walther", "DE", "BP0746"),
    ])
    .unwrap();
    // C2 as the registry kept it before format 3.
    let mut rewritten = 0;
    for kv in reg.tree.scan_prefix([keys::KEPT]) {
        let (k, v) = kv.unwrap();
        if keys::id_of_kept(&k) == Some("C2") {
            let n = u16::from_le_bytes([v[0], v[1]]) as usize;
            let mut v = v.to_vec();
            assert_eq!((v[2 + n], v[3 + n]), (3, 2), "format 3, confidential");
            v[2 + n] = 2;
            v[3 + n] = 0;
            reg.tree.insert(k, v).unwrap();
            rewritten += 1;
        }
    }
    assert_eq!(rewritten, 1);
    let prefix = record("X", "Walther", "DE", "1")
        .marking
        .prefix(&MakerTable::built_in());
    let all = reg.serial_keys_under(&prefix, false).unwrap();
    let shown = reg.serial_keys_under(&prefix, true).unwrap();
    for k in ["8P0746", "77K123", "77123", "369M257", "369257"] {
        assert!(all.contains(k), "{k} in {all:?}");
    }
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    assert_eq!(shown, ["369257", "369M257", "8P0746"]);

    let hidden_find = |serial: &str| {
        reg.find_counted(&FindQuery {
            maker: Some("Walther".into()),
            country: Some(CountryCode::parse("DE").unwrap()),
            serial: serial.into(),
            factory_code: None,
            limit: 10,
            hide_confidential: true,
        })
        .unwrap()
    };
    // Six characters: P2, and C1 and C2 hidden.
    let f = hidden_find("??????");
    let ids: Vec<&str> = f.candidates.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!((ids, f.matched, f.hidden), (vec!["P2"], 1, 2));
    let f = hidden_find("77K123");
    assert_eq!((f.candidates.len(), f.matched, f.hidden), (0, 0, 1));
    // A national search shows them.
    assert_eq!(find(&reg, "Walther", "DE", "77K123").len(), 1);
}

/// A marking field holding a control, line-separator or text-direction
/// character imports as read (each run one space), with a warning naming
/// the line, the field and the character: the import read such characters
/// away without a word, and the clerk never learnt what the source system
/// wrote. The same in CSV (a quoted cell's Alt+Enter) and in JSON Lines
/// (escaped or raw); a clean line gives none.
#[test]
fn invisible_characters_in_a_marking_are_read_away_with_a_warning() {
    let warned = |s: &import::ImportSummary| -> Vec<(u64, String)> {
        s.warnings
            .iter()
            .map(|w| (w.line, w.field.clone().unwrap_or_default()))
            .collect()
    };
    let (dir, reg) = open_temp();
    let csv = write_file(
        &dir,
        "w.csv",
        "id,manufacturer,country,serial,category\n\
         V1,\"Carl\nWalther\",DE,BP0746,pistol\n\
         V2,Glock,AT,AB\u{202e}123,pistol\n\
         V3,Glock,AT,AB124,pistol\n",
    );
    let s = import::import_file(&reg, &csv, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (3, 0), "{:?}", s.rejections);
    let w = warned(&s);
    assert_eq!(
        w,
        [(2, "manufacturer".to_string()), (4, "serial".to_string())],
        "{:?}",
        s.warnings
    );
    assert!(
        s.warnings[0].message.contains("U+000A")
            && s.warnings[0].message.contains("\"Carl Walther\""),
        "{}",
        s.warnings[0]
    );
    assert!(
        s.warnings[1].message.contains("U+202E"),
        "{}",
        s.warnings[1]
    );

    let lines = [
        r#"{"id":"J1","marking":{"manufacturer":"Carl\u0007Walther","country":"DE","serial":"BP1"},"category":"pistol"}"#.to_string(),
        format!(r#"{{"id":"J2","marking":{{"manufacturer":"Glock","country":"AT","serial":"AB{}9"}},"category":"pistol"}}"#, '\u{2028}'),
        r#"{"id":"J3","marking":{"manufacturer":"Norinco","country":"CN","serial":"5\\6","factory_code":"/66\\"},"category":"pistol"}"#.to_string(),
    ];
    let jsonl = write_file(&dir, "w.jsonl", &lines.join("\n"));
    let s = import::import_file(&reg, &jsonl, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (3, 0), "{:?}", s.rejections);
    let w = warned(&s);
    assert_eq!(
        w,
        [
            (1, "marking.manufacturer".to_string()),
            (2, "marking.serial".to_string())
        ],
        "{:?}",
        s.warnings
    );
}

/// A quote left open reads the rows after it into its field: with the
/// quote closed a row later, Q1 was stored with the serial `WP1 Q2,Walther,
/// DE,WP2` and Q2 was gone, with exit status 0; never closed, the rest of the
/// file was one rejection that said only "4 fields" (a helper's hostile
/// trial). Both now say which lines were read into the field.
#[test]
fn a_quote_left_open_is_refused_naming_the_lines_it_swallowed() {
    let (dir, reg) = open_temp();
    let head = "id,manufacturer,country,serial,category\n";
    let closed_late = write_file(
        &dir,
        "q3.csv",
        &format!(
            "{head}Q1,Walther,DE,\"WP1\nQ2,Walther,DE,WP2\",pistol\nQ3,Walther,DE,WP3,pistol\n"
        ),
    );
    let s =
        import::import_file(&reg, &closed_late, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (1, 1), "{:?}", s.rejections);
    let r = &s.rejections[0];
    assert_eq!((r.line, r.field.as_deref()), (2, Some("serial")), "{r}");
    assert!(
        r.reason.contains("from line 2 to line 3") && r.reason.contains("close it"),
        "{r}"
    );
    let never = write_file(
        &dir,
        "q.csv",
        &format!(
            "{head}Q1,Walther,DE,\"WP1,pistol\nQ2,Walther,DE,WP2,pistol\nQ3,Walther,DE,WP3,pistol\n"
        ),
    );
    let s = import::import_file(&reg, &never, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (0, 1), "{:?}", s.rejections);
    let r = &s.rejections[0];
    assert!(
        r.line == 2 && r.reason.contains("runs on to line 4") && r.reason.contains("lines 3 to 4"),
        "{r}"
    );
    // Closed in the next row's maker column: the widths match, and Q1 was
    // stored with Q2's serial (the session's review).
    let in_maker = write_file(
        &dir,
        "qm.csv",
        &format!("{head}Q1,\"Walther,DE,WP1,pistol\nQ2,Walther\",DE,WP2,pistol\n"),
    );
    let s = import::import_file(&reg, &in_maker, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (0, 1), "{:?}", s.rejections);
    assert_eq!(s.rejections[0].field.as_deref(), Some("manufacturer"));
    // Left open in a file longer than a row may be: the rest of it is one
    // row past the bound, and said so with its lines.
    let long = write_file(
        &dir,
        "ql.csv",
        &format!(
            "{head}Q1,Walther,DE,\"WP1,pistol\n{}",
            "Q2,Walther,DE,WP2,pistol\n".repeat(10)
        ),
    );
    let small = ImportOptions {
        max_line_bytes: 64,
        ..ImportOptions::default()
    };
    let s = import::import_file(&reg, &long, &small, &mut |_| {}).unwrap();
    let r = &s.rejections[0];
    assert!(
        r.reason.contains("exceeds 64 bytes") && r.reason.contains("lines 3 to 12"),
        "{r}"
    );
    // A maker's name broken by Alt+Enter in a spreadsheet still imports,
    // read with a space, as before.
    let alt_enter = write_file(
        &dir,
        "a.csv",
        &format!("{head}A1,\"Carl\nWalther\",DE,WP9,pistol\n"),
    );
    let s = import::import_file(&reg, &alt_enter, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected, s.warned), (1, 0, 1));
}

/// A UTF-16 file without a byte order mark is told to be one, with the
/// encoding to give: it said `unknown column "i\0d\0"` (a helper's trial).
#[test]
fn utf16_without_a_byte_order_mark_is_named() {
    let (dir, reg) = open_temp();
    let p = dir.path().join("u16.csv");
    let text = "id,manufacturer,country,serial,category\nU1,Walther,DE,WP1,pistol\n";
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    std::fs::write(&p, bytes).unwrap();
    let e = import::import_file(&reg, &p, &ImportOptions::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("UTF-16 without a byte order mark") && e.contains("utf-16le"),
        "{e}"
    );
}

/// A year a marking's checks refuse is named by its column, as one that
/// is not a number was (it said `marking`: a new user's trial).
#[test]
fn a_csv_year_out_of_range_is_named_by_its_column() {
    let (dir, reg) = open_temp();
    let csv = write_file(
        &dir,
        "y.csv",
        "id,manufacturer,country,serial,category,year\n\
         Y1,Walther,DE,WP1,pistol,85\n\
         Y2,Walther,DE,WP2,pistol,abc\n\
         Y3,Walther,DE,WP3,pistol,1985\n",
    );
    let s = import::import_file(&reg, &csv, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (1, 2), "{:?}", s.rejections);
    for r in &s.rejections {
        assert_eq!(r.field.as_deref(), Some("year"), "{r}");
    }
}

/// A serial with a private-use character (a file read as
/// `x-user-defined`, which writes every byte above 127 as one) is refused at
/// import, naming the field and the encoding: it was stored, printed as if
/// the characters were not there, and found by no reading. One with an
/// invisible character imports, and is found without it (serial rules 4).
#[test]
fn a_serial_no_registry_writes_alike_is_refused_at_import() {
    let (dir, reg) = open_temp();
    let csv = write_file(
        &dir,
        "p.csv",
        "id,manufacturer,country,serial,category\n\
         P1,Glock,AT,\u{F7C3}\u{F784}B123,pistol\n\
         P2,Glock,AT,AB\u{FE0F}13,pistol\n",
    );
    let s = import::import_file(&reg, &csv, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (1, 1), "{:?}", s.rejections);
    let r = &s.rejections[0];
    assert_eq!((r.line, r.field.as_deref()), (2, Some("serial")));
    assert!(
        r.reason.contains("U+F7C3") && r.reason.contains("--encoding"),
        "{}",
        r.reason
    );
    let jsonl = write_file(
        &dir,
        "p.jsonl",
        r#"{"id":"J1","marking":{"manufacturer":"Glock","country":"AT","serial":"AB\ue00012"},"category":"pistol"}"#,
    );
    let s = import::import_file(&reg, &jsonl, &ImportOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((s.added, s.rejected), (0, 1), "{:?}", s.rejections);
    assert_eq!(find(&reg, "Glock", "AT", "AB13").len(), 1);
}

/// A directory given to import is said to be one, with or without a file
/// type in its name, not "unknown file type" or a FIFO's advice to copy it
/// (a helper's trial).
#[test]
fn a_directory_given_to_import_is_said_to_be_one() {
    let (dir, reg) = open_temp();
    // An events file too, read with the node stopped (it said the
    // system's "Is a directory (os error 21)").
    let weapons = write_file(
        &dir,
        "w.csv",
        "id,manufacturer,country,serial,category\nD1,Walther,DE,BP1,pistol\n",
    );
    let events_dir = dir.path().join("events.csv");
    std::fs::create_dir(&events_dir).unwrap();
    let opts = ImportOptions {
        events_csv: Some(events_dir),
        ..ImportOptions::default()
    };
    let e = import::import_file(&reg, &weapons, &opts, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    for name in ["records", "records.csv"] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        for regular_only in [false, true] {
            let mut opts = ImportOptions::default();
            opts.source.regular_only = regular_only;
            let e = import::import_file(&reg, &d, &opts, &mut |_| {}).unwrap_err();
            let said = e.to_string();
            assert!(
                said.contains("is a directory, not a regular file")
                    && said.contains("give the path of a file in it"),
                "{name}: {said}"
            );
        }
    }
}

/// A Windows line end in local or national free text is a line end, not a
/// refused U+000D (a helper's trial: an API client's note "a\r\nb"); a lone
/// carriage return is still refused.
#[test]
fn a_windows_line_end_in_free_text_is_a_line_end() {
    let t = super::NationalText::parse("seized at the port\r\nsecond line").unwrap();
    assert_eq!(t.as_str(), "seized at the port\nsecond line");
    assert!(super::NationalText::parse("a\rb").is_err());
}

/// A wildcard's cap counts the records it may show: confidential ones, set
/// aside as they are read, left a public match unfound behind them (4
/// confidential records and a cap of 5 made `CQ*` capped, `too_many`, where
/// the public CQZZZ1 was there to find: a hostile member's review). The scan
/// still stops at the cap of confidential ones, so that a wildcard never
/// reads a whole prefix of them.
#[test]
fn a_wildcards_cap_counts_the_public_records_only() {
    let (_dir, reg) = open_temp();
    let mut recs: Vec<Record> = (0..4)
        .map(|i| {
            let mut r = record(&format!("C{i}"), "Walther", "DE", &format!("CQ000{i}"));
            r.confidential = true;
            r
        })
        .collect();
    recs.push(record("P1", "Walther", "DE", "CQZZZ1"));
    reg.put_all(recs).unwrap();
    let q = FindQuery {
        maker: Some("Walther".into()),
        country: Some("DE".parse().unwrap()),
        factory_code: None,
        serial: "CQ*".into(),
        limit: 16,
        hide_confidential: true,
    };
    let found = reg.find_within(&q, false, 5).unwrap();
    assert!(!found.capped, "{found:?}");
    assert_eq!(found.matched, 1);
    assert_eq!(found.hidden, 4);
    assert_eq!(found.candidates[0].record.id.as_str(), "P1");
    // Past the cap of confidential ones, the scan stops.
    let found = reg.find_within(&q, false, 3).unwrap();
    assert!(found.capped && found.matched == 0, "{found:?}");
}
