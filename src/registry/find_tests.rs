//! Markings that are not maker + serial as typed: factory codes, serials
//! whose separators, embedded letters or script differ (issue 13).

use super::tests::{open_db, open_temp};
use super::*;
use crate::marking::{MatchQuality, SerialQuery};

fn rec(id: &str, maker: &str, cc: &str, serial: &str, factory_code: Option<&str>) -> Record {
    let code = factory_code
        .map(|c| serde_json::to_string(c).unwrap())
        .unwrap_or_else(|| "null".into());
    serde_json::from_str(&format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":{},"country":"{cc}","serial":{},
            "factory_code":{code}}},"category":"rifle",
            "events":[{{"date":"1988-03-14","kind":"manufactured","holder":"manufacturer"}}]}}"#,
        serde_json::to_string(maker).unwrap(),
        serde_json::to_string(serial).unwrap(),
    ))
    .unwrap()
}

fn query(maker: Option<&str>, cc: Option<&str>, code: Option<&str>, serial: &str) -> FindQuery {
    FindQuery {
        maker: maker.map(str::to_string),
        country: cc.map(|c| CountryCode::parse(c).unwrap()),
        factory_code: code.map(str::to_string),
        serial: serial.into(),
        limit: 20,
        hide_confidential: false,
    }
}

fn found(reg: &Registry, q: &FindQuery) -> Vec<(String, MatchQuality)> {
    reg.find(q)
        .unwrap()
        .into_iter()
        .map(|c| (c.record.id.as_str().to_string(), c.quality))
        .collect()
}

fn walther(reg: &Registry, serial: &str) -> Vec<(String, MatchQuality)> {
    found(reg, &query(Some("Walther"), Some("DE"), None, serial))
}

#[test]
fn embedded_letters_are_found_by_index_below_exact_and_look_alike_matches() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        rec("D-1", "Walther", "DE", "369M257", None),
        rec("D-2", "Walther", "DE", "369257", None),
        rec("D-3", "Walther", "DE", "369Z57", None),
        rec("D-4", "Walther", "DE", "A369257", None),
        rec("D-5", "Walther", "DE", "369257B", None),
    ])
    .unwrap();
    use MatchQuality::*;
    assert_eq!(
        walther(&reg, "369257"),
        [
            ("D-2".into(), Exact),
            ("D-3".into(), Folded),
            ("D-1".into(), EmbeddedLetters)
        ]
    );
    assert_eq!(
        walther(&reg, "369J257"),
        [
            ("D-1".into(), EmbeddedLetters),
            ("D-2".into(), EmbeddedLetters),
        ]
    );
    let c = reg
        .find(&query(Some("Walther"), Some("DE"), None, "369J257"))
        .unwrap();
    assert!(c[0].reasons[0].contains("NCIC"), "{:?}", c[0].reasons);
    // Leading and trailing letters count: D-4 and D-5 are other weapons.
    assert_eq!(walther(&reg, "A369M257"), [("D-4".into(), EmbeddedLetters)]);
    // No wildcard: the same index read as an exact serial.
    assert!(!SerialQuery::parse("369J257").unwrap().has_wildcards());
}

#[test]
fn cyrillic_and_latin_serials_find_each_other_below_exact() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        rec("R-1", "Izhmash", "RU", "ЛЕ1234", None),
        rec("R-2", "Izhmash", "RU", "LE1234", None),
        rec("R-3", "Izhmash", "RU", "ЖЩ 77", None),
    ])
    .unwrap();
    let f = |s: &str| {
        found(
            &reg,
            &query(Some("Kalashnikov Concern"), Some("RU"), None, s),
        )
    };
    use MatchQuality::*;
    assert_eq!(
        f("LE1234"),
        [("R-2".into(), Exact), ("R-1".into(), Transliterated)]
    );
    assert_eq!(
        f("ЛЕ-1234"),
        [("R-1".into(), Exact), ("R-2".into(), Transliterated)]
    );
    assert_eq!(f("zhshch77"), [("R-3".into(), Transliterated)]);
}

/// A serial with an invisible character (a variation selector, a tag, a
/// Hangul filler, a blank braille pattern) is found by its reading without
/// it: it was kept under a key no reading met, and a trace of it was
/// answered "no record" (a helper's hostile trial; serial rules 4).
#[test]
fn invisible_characters_in_a_serial_are_separators() {
    let (_d, reg) = open_temp();
    let invisible = [
        "\u{FE0F}",
        "\u{E0041}",
        "\u{3164}",
        "\u{FFA0}",
        "\u{2800}",
        "\u{180B}",
        "\u{17B4}",
        "\u{FFF9}",
        "\u{034F}",
        "\u{115F}",
    ];
    let records = (invisible.iter().enumerate())
        .map(|(i, c)| {
            rec(
                &format!("I-{i}"),
                "Walther",
                "DE",
                &format!("ZX{c}7700{i}"),
                None,
            )
        })
        .collect();
    reg.put_all(records).unwrap();
    for (i, c) in invisible.iter().enumerate() {
        assert_eq!(
            walther(&reg, &format!("ZX 7700{i}")),
            [(format!("I-{i}"), MatchQuality::Exact)],
            "{c:?}"
        );
    }
}

#[test]
fn a_backslash_separates_as_a_slash_does() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        rec("S-1", "Walther", "DE", "66\\12345", None),
        rec("S-2", "Walther", "DE", "77/12345", None),
    ])
    .unwrap();
    use MatchQuality::*;
    assert_eq!(walther(&reg, "66/12345"), [("S-1".into(), Exact)]);
    assert_eq!(walther(&reg, "77\\12345"), [("S-2".into(), Exact)]);
    assert_eq!(walther(&reg, "66_12345"), [("S-1".into(), Exact)]);
}

fn chinese_registry() -> (tempfile::TempDir, Registry) {
    let (d, reg) = open_temp();
    reg.put_all(vec![
        // As registries write them: the code in a triangle, bare, or only
        // the factory's name; a maker and a code, or a code alone.
        rec("C-1", "Norinco", "CN", "5612345", Some("/66\\")),
        rec("C-2", "", "CN", "5612345", Some("△66")),
        rec("C-3", "Factory 66", "CN", "5612345", None),
        rec("C-4", "Norinco", "CN", "5612345", Some("26")),
        rec("C-5", "Jianshe", "CN", "5612345", Some("296")),
        rec("C-6", "Norinco", "CN", "5612345", None),
        rec("C-7", "", "CN", "5612345", Some("9386")),
    ])
    .unwrap();
    (d, reg)
}

#[test]
fn a_factory_code_finds_that_factorys_records_under_any_maker() {
    let (_d, reg) = chinese_registry();
    let ids = |q: &FindQuery| -> Vec<String> {
        let mut v: Vec<String> = found(&reg, q).into_iter().map(|(id, _)| id).collect();
        v.sort();
        v
    };
    // By factory code alone: the records marked 66, and the table's
    // "Factory 66"; not Norinco's other records.
    assert_eq!(
        ids(&query(None, Some("CN"), Some("66"), "5612345")),
        ["C-1", "C-2", "C-3"]
    );
    assert_eq!(
        ids(&query(None, Some("CN"), Some("/66\\"), "5612345")),
        ["C-1", "C-2", "C-3"]
    );
    assert_eq!(
        ids(&query(None, None, Some("△66"), "5612345")),
        ["C-1", "C-2", "C-3"]
    );
    // 26 and 296 are one factory (Jianshe); its records under any maker.
    assert_eq!(
        ids(&query(None, Some("CN"), Some("296"), "5612345")),
        ["C-4", "C-5"]
    );
    // A code the table does not know still finds the records marked with it.
    assert_eq!(
        ids(&query(None, Some("CN"), Some("9386"), "5612345")),
        ["C-7"]
    );
    // A maker and a code: the maker's records and the factory's.
    assert_eq!(
        ids(&query(Some("Norinco"), Some("CN"), Some("66"), "5612345")),
        ["C-1", "C-2", "C-3", "C-4", "C-6"]
    );
    let c = reg
        .find(&query(None, Some("CN"), Some("296"), "5612345"))
        .unwrap();
    let c5 = c.iter().find(|c| c.record.id.as_str() == "C-5").unwrap();
    assert!(
        c5.reasons[0].contains("factory code 296"),
        "{:?}",
        c5.reasons
    );
    let by66 = reg
        .find(&query(None, Some("CN"), Some("66"), "5612345"))
        .unwrap();
    let reason = |id: &str| {
        by66.iter()
            .find(|c| c.record.id.as_str() == id)
            .unwrap()
            .reasons[0]
            .clone()
    };
    assert_eq!(reason("C-2"), "marked with factory code 66");
    assert!(
        reason("C-3").starts_with("recorded as \"Factory 66\""),
        "{}",
        reason("C-3")
    );
    let c4 = c.iter().find(|c| c.record.id.as_str() == "C-4").unwrap();
    assert!(c4.reasons[0].contains("same factory"), "{:?}", c4.reasons);
    // The code is stored canonical; a bad one is refused with its reason.
    assert_eq!(
        reg.get(&RecordId::parse("C-1").unwrap())
            .unwrap()
            .unwrap()
            .marking
            .factory_code(),
        Some("66")
    );
    assert!(matches!(
        reg.find(&query(None, Some("CN"), Some("66#"), "1")),
        Err(RegistryError::FactoryCode(_))
    ));
}

#[test]
fn factory_codes_held_are_counted_for_their_topics() {
    let (_d, reg) = chinese_registry();
    let codes: Vec<(String, u64)> = reg
        .factory_codes()
        .unwrap()
        .into_iter()
        .map(|(f, n)| (f.to_string(), n))
        .collect();
    assert_eq!(
        codes,
        [
            ("CN/FC:26".to_string(), 1),
            ("CN/FC:296".to_string(), 1),
            ("CN/FC:66".to_string(), 2),
            ("CN/FC:9386".to_string(), 1)
        ]
    );
    // A record moved off a code takes its count along.
    reg.put_all(vec![rec("C-2", "", "CN", "5612345", Some("386"))])
        .unwrap();
    reg.put_all(vec![rec("C-7", "Norinco", "CN", "5612345", None)])
        .unwrap();
    let codes: Vec<String> = reg
        .factory_codes()
        .unwrap()
        .into_iter()
        .map(|(f, n)| format!("{f} {n}"))
        .collect();
    assert_eq!(
        codes,
        ["CN/FC:26 1", "CN/FC:296 1", "CN/FC:386 1", "CN/FC:66 1"]
    );
    let prefixes: Vec<String> = reg
        .prefixes()
        .unwrap()
        .into_iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    assert_eq!(
        prefixes,
        [
            "CN/FACTORY386 1",
            "CN/FACTORY66 1",
            "CN/JIANSHE 1",
            "CN/NORINCO 4"
        ]
    );
}

#[test]
fn an_update_takes_its_old_variant_keys_away() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![rec("V-1", "Walther", "DE", "369M257", None)])
        .unwrap();
    assert_eq!(reg.tree.scan_prefix([keys::VARIANT]).count(), 1);
    assert_eq!(walther(&reg, "369257").len(), 1);
    reg.put_all(vec![rec("V-1", "Walther", "DE", "BP0746", None)])
        .unwrap();
    assert_eq!(reg.tree.scan_prefix([keys::VARIANT]).count(), 0);
    assert!(walther(&reg, "369257").is_empty());
    // Twice in one batch: the last one stands, with its keys only.
    reg.put_all(vec![
        rec("V-2", "Walther", "DE", "ЛЕ1234", None),
        rec("V-2", "Walther", "DE", "12X34", None),
    ])
    .unwrap();
    let variants: Vec<_> = reg
        .tree
        .scan_prefix([keys::VARIANT])
        .keys()
        .map(|k| String::from_utf8_lossy(&k.unwrap()).into_owned())
        .collect();
    assert_eq!(variants, ["vDECARLWALTHER\u{0}1234\u{0}V-2"]);
}

#[test]
fn a_registry_indexed_with_the_old_serial_rules_is_re_placed_at_open() {
    // Before serial rules 2, `\` was kept: "66\12345" was kept under the
    // folded key "66\12345", with that normalised serial, and had no
    // variant keys. Open re-places it where "66/12345" looks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let r1 = rec("O-1", "Walther", "DE", "66\\12345", None);
    let r2 = rec("O-2", "Walther", "DE", "369M257", None);
    {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        reg.put_all(vec![r1.clone(), r2.clone()]).unwrap();
        let (_, new_loc, _) = reg.location(&r1);
        let old_loc = keys::location(&r1.marking.prefix(&reg.makers()), "66\\12345");
        let id = r1.id.as_str().as_bytes();
        let v = reg.tree.remove(keys::kept(&new_loc, id)).unwrap().unwrap();
        let (_, stored) = split_kept(b"k", &v).unwrap();
        reg.tree
            .insert(keys::kept(&old_loc, id), kept_value("66\\12345", stored))
            .unwrap();
        let (bkey, bytes) = reg.tree.scan_prefix([keys::IDS]).next().unwrap().unwrap();
        let mut entries = ids::decode(&bytes).unwrap();
        entries.insert(id.to_vec(), old_loc);
        let (_, bytes) = ids::encode_split(&entries).remove(0);
        reg.tree.insert(bkey, bytes).unwrap();
        reg.remove_tagged(keys::VARIANT).unwrap();
        reg.tree
            .insert(
                keys::MAKERS,
                &MakerTable::built_in().fingerprint().to_be_bytes()[..],
            )
            .unwrap();
        assert!(walther(&reg, "66/12345").is_empty());
        assert!(walther(&reg, "369257").is_empty());
        reg.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    assert_eq!(
        walther(&reg, "66/12345"),
        [("O-1".into(), MatchQuality::Exact)]
    );
    assert_eq!(
        walther(&reg, "369257"),
        [("O-2".into(), MatchQuality::EmbeddedLetters)]
    );
    assert_eq!(reg.get(&r1.id).unwrap(), Some(r1));
    assert_eq!(reg.len().unwrap(), 2);
    let kept: Vec<_> = reg.tree.scan_prefix([keys::KEPT]).collect();
    assert_eq!(kept.len(), 2);
}

#[test]
fn a_removed_record_takes_its_variant_keys_and_factory_count_along() {
    let (_d, reg) = open_temp();
    reg.put_all(vec![
        rec("X-1", "Walther", "DE", "369M257", None),
        rec("X-2", "", "CN", "ЛЕ12", Some("/66\\")),
        rec("X-3", "Walther", "DE", "BP0746", None),
    ])
    .unwrap();
    assert_eq!(reg.tree.scan_prefix([keys::VARIANT]).count(), 2);
    assert_eq!(reg.factory_codes().unwrap().len(), 1);
    reg.remove(&[
        RecordId::parse("X-1").unwrap(),
        RecordId::parse("X-2").unwrap(),
    ])
    .unwrap();
    assert_eq!(reg.tree.scan_prefix([keys::VARIANT]).count(), 0);
    assert!(reg.factory_codes().unwrap().is_empty());
    assert!(walther(&reg, "369257").is_empty());
    assert_eq!(walther(&reg, "BP0746").len(), 1);
}

#[test]
fn variant_keys_are_read_after_a_reopen_in_every_prefix_that_holds_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = open_db(&path).unwrap();
        let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
        // Maker keys where one starts the other, each with variant keys:
        // the seek from one prefix to the next must not skip the second.
        reg.put_all(vec![
            rec("H-1", "Acme", "DE", "12X34", None),
            rec("H-2", "Acmex", "DE", "56Y78", None),
            rec("H-3", "Acmexy", "DE", "ЛЕ99", None),
            rec("H-4", "Walther", "DE", "BP0746", None),
        ])
        .unwrap();
        reg.flush().unwrap();
    }
    let db = open_db(&path).unwrap();
    let reg = Registry::open(&db, MakerTable::built_in()).unwrap();
    let f = |maker: &str, serial: &str| found(&reg, &query(Some(maker), Some("DE"), None, serial));
    assert_eq!(
        f("Acme", "1234"),
        [("H-1".into(), MatchQuality::EmbeddedLetters)]
    );
    assert_eq!(
        f("Acmex", "5678"),
        [("H-2".into(), MatchQuality::EmbeddedLetters)]
    );
    assert_eq!(
        f("Acmexy", "LE99"),
        [("H-3".into(), MatchQuality::Transliterated)]
    );
    // A prefix without variant keys is not read for them.
    let walther = keys::head(&"DE/CARLWALTHER".parse().unwrap());
    assert!(!reg.variant_heads.contains(&walther));
}

/// What a wildcard serial finds by reading the whole prefix: what the
/// loose index scan of leading `?` must find.
fn by_full_scan(reg: &Registry, serial: &str) -> Vec<String> {
    let q = SerialQuery::parse(serial).unwrap();
    let mut ids: Vec<String> = reg
        .tree
        .scan_prefix([keys::KEPT])
        .filter_map(|kv| {
            let (k, v) = kv.unwrap();
            let (normalised, _) = split_kept(&k, &v).unwrap();
            q.matches(normalised)?;
            Some(keys::id_of_kept(&k).unwrap().to_string())
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn leading_wildcards_find_what_a_full_scan_finds() {
    let (_d, reg) = open_temp();
    let serials = [
        "A12345",
        "B12345",
        "12345",
        "AB12345",
        "A12346",
        "Z9912345",
        "A-123-45",
        "Б12345",
        "Ж12345",
        "X2345",
        "A1234",
        "1",
        "9",
        "Я",
        "ЯЯ12345",
    ];
    let recs: Vec<Record> = serials
        .iter()
        .enumerate()
        .map(|(i, s)| rec(&format!("W-{i}"), "Walther", "DE", s, None))
        .collect();
    reg.put_all(recs).unwrap();
    for pattern in [
        "?12345", "??12345", "??2345", "?1234?", "???", "?2", "*12345", "*45", "A*5", "??", "?",
        "A?2345", "A??345", "AB?2345", "Z9?12345", "A?", "Я?", "A?*5",
    ] {
        let mut got: Vec<String> = walther(&reg, pattern)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        got.sort();
        assert_eq!(got, by_full_scan(&reg, pattern), "{pattern}");
    }
    // A12345, B12345, A-123-45 (separators go), Б12345 and Ж12345.
    assert_eq!(walther(&reg, "?12345").len(), 5);
}

/// A wildcard matching more records than are asked for decodes only those
/// returned and, past them, those whose stored flags say lost or stolen: the
/// rest are counted from their keys. The proof: a record past the limit whose
/// flags say "not diverted" and whose body is unreadable is counted, not an
/// error; the stolen ones past the limit are found, written in format 3 or
/// (by an older tracenet) in format 1. Searched for another State under a
/// policy of silence, the unreadable one, which may be confidential, is
/// hidden.
#[test]
fn matches_past_the_limit_are_counted_and_only_the_diverted_decoded() {
    let (_d, reg) = open_temp();
    let mut recs: Vec<Record> = (0..30)
        .map(|i| {
            rec(
                &format!("W{i:02}"),
                "Walther",
                "DE",
                &format!("AB0{i:02}"),
                None,
            )
        })
        .collect();
    let stolen = Event {
        kind: crate::model::EventKind::Stolen,
        ..recs[0].events[0].clone()
    };
    for i in [3, 20, 25] {
        recs[i].events.push(stolen.clone());
    }
    let garbled = recs[29].clone();
    let recs_28 = recs[28].clone();
    let old_format = recs[25].clone();
    reg.put_all(recs).unwrap();
    let kept_at = |r: &Record| {
        let (_, loc, _) = reg.location(r);
        keys::kept(&loc, r.id.as_str().as_bytes())
    };
    // W29: format 2, flags 0, no factory code, a body that is not a record.
    reg.tree
        .insert(
            kept_at(&garbled),
            kept_value("AB029", b"\x02\x00\x00\xff not a record"),
        )
        .unwrap();
    // W25: stolen, stored as format 1 (no header) by an older tracenet.
    let v = reg.tree.get(kept_at(&old_format)).unwrap().unwrap();
    let (serial, body) = split_kept(&kept_at(&old_format), &v).unwrap();
    assert_eq!(body[..3], [3, 1, 0], "format 3, diverted, no factory code");
    let v1 = kept_value(serial, &[&[1u8][..], &body[3..]].concat());
    reg.tree.insert(kept_at(&old_format), v1).unwrap();

    let mut q = query(Some("Walther"), Some("DE"), None, "AB0??");
    q.limit = 17;
    let f = reg.find_counted(&q).unwrap();
    assert_eq!(f.matched, 30);
    let ids: Vec<&str> = f.candidates.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids.len(), 17);
    assert_eq!((ids[0], ids[16]), ("W00", "W16"));
    let diverted: Vec<&str> = f.diverted.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(diverted, ["W20", "W25"]);
    // For another State under a policy of silence, W29 (format 2, which does
    // not say whether it is confidential) cannot be read: hidden, and the
    // stolen W25 (format 1) is read to know it is not confidential. W28,
    // whose header cannot be read either, is hidden too and, read again for
    // alerts, passed over rather than failing the answer.
    let w28 = kept_at(&recs_28);
    reg.tree
        .insert(&w28, kept_value("AB028", b"\x02\x09\x00\xff not a record"))
        .unwrap();
    q.hide_confidential = true;
    let f = reg.find_counted(&q).unwrap();
    assert_eq!((f.matched, f.hidden), (28, 2));
    let diverted: Vec<&str> = f.diverted.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(diverted, ["W20", "W25"]);
    q.hide_confidential = false;
    // Asked for all of them, the unreadable one is read and reported.
    q.limit = 30;
    let e = reg.find_counted(&q).unwrap_err().to_string();
    assert!(e.contains("W28"), "{e}");
}

/// A plain find (the API's, the CLI's, the console's) decodes only the
/// records it returns: past its limit, a record in format 1 or one flagged
/// lost or stolen is not read, and so cannot fail it or slow it down. Only a
/// holder's `find_counted` reads those, for its alerts.
#[test]
fn a_plain_find_reads_nothing_past_its_limit() {
    let (_d, reg) = open_temp();
    let recs: Vec<Record> = (0..10)
        .map(|i| {
            rec(
                &format!("P{i:02}"),
                "Walther",
                "DE",
                &format!("CD0{i:02}"),
                None,
            )
        })
        .collect();
    reg.put_all(recs.clone()).unwrap();
    let kept_at = |r: &Record| {
        let (_, loc, _) = reg.location(r);
        keys::kept(&loc, r.id.as_str().as_bytes())
    };
    // P08 as an older tracenet wrote it (format 1), P09 flagged stolen: both
    // with a body that is not a record.
    for (r, bytes) in [
        (&recs[8], &b"\x01\xff not a record"[..]),
        (&recs[9], &b"\x02\x01\x00\xff not a record"[..]),
    ] {
        let serial = r.marking.normalised_serial();
        reg.tree
            .insert(kept_at(r), kept_value(&serial, bytes))
            .unwrap();
    }
    let mut q = query(Some("Walther"), Some("DE"), None, "CD0??");
    q.limit = 5;
    let ids: Vec<String> = found(&reg, &q).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["P00", "P01", "P02", "P03", "P04"]);
    // A holder's lookup reads them (and reports the damage).
    let e = reg.find_counted(&q).unwrap_err().to_string();
    assert!(e.contains("P08"), "{e}");
}

/// A search by factory code keeps the records marked with it by reading
/// their stored header, not by decoding them: in a prefix held under another
/// maker, records past the limit (one marked with the code, one not) whose
/// bodies are unreadable are counted or passed over, never read.
#[test]
fn a_factory_code_search_reads_codes_from_the_headers() {
    let (_d, reg) = open_temp();
    let recs: Vec<Record> = (0..30)
        .map(|i| {
            let code = (i % 2 == 1 || i == 28).then_some("9386");
            rec(
                &format!("N{i:02}"),
                "Norinco",
                "CN",
                &format!("AB0{i:02}"),
                if i == 28 { None } else { code },
            )
        })
        .collect();
    let (marked, unmarked) = (recs[29].clone(), recs[28].clone());
    reg.put_all(recs).unwrap();
    let kept_at = |r: &Record| {
        let (_, loc, _) = reg.location(r);
        keys::kept(&loc, r.id.as_str().as_bytes())
    };
    reg.tree
        .insert(
            kept_at(&marked),
            kept_value("AB029", b"\x02\x00\x049386\xff not a record"),
        )
        .unwrap();
    reg.tree
        .insert(
            kept_at(&unmarked),
            kept_value("AB028", b"\x02\x00\x00\xff not a record"),
        )
        .unwrap();
    let mut q = query(None, Some("CN"), Some("9386"), "AB0??");
    q.limit = 10;
    let f = reg.find_counted(&q).unwrap();
    // N01, N03, ..., N29: fifteen marked 9386.
    assert_eq!(f.matched, 15);
    let ids: Vec<&str> = f.candidates.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids.len(), 10);
    assert!(
        ids.iter()
            .all(|id| id[1..].parse::<u32>().unwrap() % 2 == 1),
        "{ids:?}"
    );
}

/// A wildcard matching more than a find may hold stops there, says so, and
/// counts and returns what it held: `?*` made a holder hold every record
/// of a prefix (a hostile member's review).
#[test]
fn a_find_holds_at_most_its_cap_of_matches() {
    let (_d, reg) = open_temp();
    let recs: Vec<Record> = (0..30)
        .map(|i| {
            rec(
                &format!("W{i:02}"),
                "Walther",
                "DE",
                &format!("AB{i:03}"),
                None,
            )
        })
        .collect();
    reg.put_all(recs).unwrap();
    let mut q = query(Some("Walther"), Some("DE"), None, "?*");
    q.limit = 5;
    let f = reg.find_within(&q, true, 12).unwrap();
    assert_eq!((f.matched, f.capped, f.candidates.len()), (12, true, 5));
    let f = reg.find_within(&q, true, 100).unwrap();
    assert_eq!((f.matched, f.capped, f.candidates.len()), (30, false, 5));
    // The same through the index of an exact serial: never capped.
    let q = query(Some("Walther"), Some("DE"), None, "AB007");
    let f = reg.find_within(&q, true, 12).unwrap();
    assert_eq!((f.matched, f.capped), (1, false));
}

/// A factory code's scan that stopped at the cap says so, even when the
/// code's filter then keeps none of what it held: counted after the filter,
/// `capped` read false and a holder signed a false `no_hit` (a review).
#[test]
fn a_capped_scan_thinned_by_a_factory_code_is_still_capped() {
    let (_d, reg) = chinese_registry();
    let others: Vec<Record> = (0..20)
        .map(|i| {
            rec(
                &format!("N-{i}"),
                "Norinco",
                "CN",
                &format!("56000{i:02}"),
                Some("26"),
            )
        })
        .collect();
    reg.put_all(others).unwrap();
    let q = query(None, Some("CN"), Some("66"), "56*");
    let f = reg.find_within(&q, true, 5).unwrap();
    assert!(f.capped, "{} matched", f.matched);
    let f = reg.find_within(&q, true, 1_000).unwrap();
    assert!(!f.capped);
    assert_eq!(f.matched, 3, "C-1, C-2 and C-3");
}
