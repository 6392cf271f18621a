//! Markings that are not maker + serial (issue 13): factory codes marked
//! instead of a maker's name, serials whose separators, embedded letters or
//! script differ between the weapon and the record. Through the CLI on real
//! files, and across a federation of real processes on 127.0.0.1.

mod common;
mod fed;

use fed::*;
use serde_json::Value;

const MADE: &str = r#"{"date":"1988-05-02","kind":"manufactured","holder":"manufacturer"}"#;

/// A record line with a factory code; `maker` may be empty.
fn coded(id: &str, maker: &str, cc: &str, serial: &str, code: &str) -> String {
    format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":{},"country":"{cc}","serial":{},"factory_code":{}}},"category":"assault_rifle","events":[{MADE}]}}"#,
        serde_json::to_string(maker).unwrap(),
        serde_json::to_string(serial).unwrap(),
        serde_json::to_string(code).unwrap(),
    )
}

fn plain(id: &str, maker: &str, cc: &str, serial: &str) -> String {
    format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":{},"country":"{cc}","serial":{}}},"category":"rifle","events":[{MADE}]}}"#,
        serde_json::to_string(maker).unwrap(),
        serde_json::to_string(serial).unwrap(),
    )
}

fn trace_args<'a>(marks: &[&'a str], serial: &'a str) -> Vec<&'a str> {
    let mut v = vec!["trace"];
    v.extend_from_slice(marks);
    v.extend_from_slice(&[
        "--serial",
        serial,
        "--category",
        "assault_rifle",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
        "--wait",
        "20",
    ]);
    v
}

/// The candidates of the one answer from `state`.
fn candidates<'a>(t: &'a Value, state: &str) -> &'a Vec<Value> {
    let a = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == state)
        .unwrap_or_else(|| panic!("no answer from {state}: {t:#}"));
    assert_eq!(a["verified"], true, "{t:#}");
    a["outcome"]["hit"]["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no hit from {state}: {t:#}"))
}

/// ZA holds Chinese rifles recorded as registries write them: a factory code
/// in a triangle with no maker named, under Norinco, and as Jianshe's /26\.
/// KE traces by factory code alone, and by serials read differently.
#[test]
fn a_trace_by_factory_code_reaches_the_holder_of_that_factorys_records() {
    let fed = Federation::start(vec![
        NodeSpec::bootstrap("LU"),
        NodeSpec {
            // One wildcard query a minute: readings by the NCIC rule or by
            // transliteration must not spend it.
            node_config: "fuzzy_queries_per_minute = 1",
            ..NodeSpec::member(
                "ZA",
                vec![
                    coded("ZA-1", "", "CN", "56-1234567", "/66\\"),
                    coded("ZA-2", "Norinco", "CN", "56-7654321", "△66"),
                    coded("ZA-3", "Jianshe", "CN", "56-1111111", "26"),
                    plain("ZA-4", "Izhmash", "RU", "ЛЕ1234"),
                    plain("ZA-5", "Walther", "DE", "369M257"),
                ],
            )
        },
        NodeSpec::member("KE", Vec::new()),
    ]);
    let za = fed.node("ZA");
    let held = za.json(&["registry", "prefixes"]);
    assert_eq!(
        held["factory_codes"],
        serde_json::json!([
            {"country": "CN", "code": "26", "records": 1},
            {"country": "CN", "code": "66", "records": 2}
        ]),
        "{held:#}"
    );
    fed.wait_subscribed("KE", "tracenet/1/factory/CN/66", &["ZA"]);
    fed.wait_subscribed("KE", "tracenet/1/factory/CN/26", &["ZA"]);
    let ke = fed.node("KE");

    // No maker named: the factory code as marked, in a triangle.
    let t = ke.json(&trace_args(
        &["--factory-code", "/66\\", "--country", "CN"],
        "561234567",
    ));
    assert_eq!(t["status"], "answered", "{t:#}");
    assert_eq!(t["query"]["marking"]["manufacturer"], "", "{t:#}");
    assert_eq!(t["query"]["marking"]["factory_code"], "66", "{t:#}");
    let topics: Vec<&str> = t["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        topics,
        ["tracenet/1/prefix/CN/FACTORY66", "tracenet/1/factory/CN/66"]
    );
    let c = candidates(&t, "ZA");
    assert_eq!(c.len(), 1, "{t:#}");
    assert_eq!(c[0]["quality"], "exact");
    assert_eq!(c[0]["record"]["marking"]["factory_code"], "66");
    assert_eq!(c[0]["record"]["marking"]["serial"], "56-1234567");

    // Under Norinco in the record, by code alone in the trace.
    let t = ke.json(&trace_args(
        &["--factory-code", "66", "--country", "CN"],
        "56 7654321",
    ));
    let c = candidates(&t, "ZA");
    assert_eq!(
        c[0]["record"]["marking"]["manufacturer"], "Norinco",
        "{t:#}"
    );

    // 296 is Factory 26's number (Jianshe): the /26\ record answers it.
    let t = ke.json(&trace_args(
        &["--factory-code", "296", "--country", "CN"],
        "561111111",
    ));
    assert_eq!(
        candidates(&t, "ZA")[0]["record"]["marking"]["factory_code"],
        "26",
        "{t:#}"
    );

    // A wildcard spends the one fuzzy query of the minute...
    let t = ke.json(&trace_args(
        &["--maker", "Walther", "--country", "DE"],
        "369M2?7",
    ));
    assert_eq!(candidates(&t, "ZA")[0]["quality"], "wildcard", "{t:#}");
    // ...and the readings below need none: the NCIC rule, then a Latin
    // reading of a Cyrillic serial.
    let t = ke.json(&trace_args(
        &["--maker", "Walther", "--country", "DE"],
        "369J257",
    ));
    let c = candidates(&t, "ZA");
    assert_eq!(c[0]["quality"], "embedded_letters", "{t:#}");
    assert_eq!(c[0]["record"]["marking"]["serial"], "369M257");
    let t = ke.json(&trace_args(
        &["--maker", "Kalashnikov Concern", "--country", "RU"],
        "LE-1234",
    ));
    let c = candidates(&t, "ZA");
    assert_eq!(c[0]["quality"], "transliterated", "{t:#}");
    assert_eq!(c[0]["record"]["marking"]["serial"], "ЛЕ1234");
    // Shown in words too.
    let shown = ke.cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(shown.contains("transliterated match"), "{shown}");
}

#[test]
fn a_trace_needs_a_maker_or_a_factory_code() {
    let d = common::init("KE");
    let o = common::run(d.path(), &trace_args(&["--country", "CN"], "561234567"));
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--maker (or --factory-code)"), "{e}");
    let o = common::run(
        d.path(),
        &trace_args(&["--factory-code", "66#", "--country", "CN"], "561234567"),
    );
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--factory-code") && e.contains("/66\\"), "{e}");
}

/// A registry clerk's CSV, as exported by a national system: factory codes as
/// marked, a serial written with a backslash, one only in Cyrillic.
#[test]
fn registry_find_reads_factory_codes_separators_embedded_letters_and_cyrillic() {
    let d = common::init("ZA");
    let csv = d.path().join("weapons.csv");
    std::fs::write(
        &csv,
        "id,manufacturer,country,serial,category,factory_code\n\
         ZA-1,,CN,56\\1234567,assault_rifle,/66\\\n\
         ZA-2,Norinco,CN,56-7654321,assault_rifle,△ 66\n\
         ZA-3,Norinco,CN,56-1234567,assault_rifle,\n\
         ZA-4,Izhmash,RU,ЛЕ1234,rifle,\n\
         ZA-5,Walther,DE,369M257,pistol,\n\
         ZA-6,,CN,56-2,assault_rifle,\n",
    )
    .unwrap();
    let o = common::run(
        d.path(),
        &["--json", "registry", "import", csv.to_str().unwrap()],
    );
    let s: Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    assert_eq!(s["added"], 5, "{s:#}");
    assert_eq!(s["rejected"], 1, "{s:#}");
    let why = s["rejections"].to_string();
    assert!(why.contains("factory code"), "{why}");
    // No name and a factory code: not a "new maker" for the clerk to fix.
    assert!(s["new_makers"].as_array().unwrap().is_empty(), "{s:#}");

    let find = |args: &[&str]| -> Vec<(String, String)> {
        let mut a = vec!["registry", "find"];
        a.extend_from_slice(args);
        common::json(d.path(), &a)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["record"]["id"].as_str().unwrap().to_string(),
                    c["quality"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |id: &str, q: &str| (id.to_string(), q.to_string());
    assert_eq!(
        find(&[
            "--factory-code",
            "66",
            "--country",
            "CN",
            "--serial",
            "56/1234567"
        ]),
        [pair("ZA-1", "exact")]
    );
    assert_eq!(
        find(&["--factory-code", "△66", "--serial", "567654321"]),
        [pair("ZA-2", "exact")]
    );
    assert_eq!(
        find(&[
            "--maker",
            "Norinco",
            "--country",
            "CN",
            "--serial",
            "56\\1234567"
        ]),
        [pair("ZA-3", "exact")]
    );
    assert_eq!(
        find(&[
            "--maker",
            "Walther",
            "--country",
            "DE",
            "--serial",
            "369257"
        ]),
        [pair("ZA-5", "embedded_letters")]
    );
    assert_eq!(
        find(&[
            "--maker",
            "Izhmash",
            "--country",
            "RU",
            "--serial",
            "le1234"
        ]),
        [pair("ZA-4", "transliterated")]
    );
    let text = common::ok(
        d.path(),
        &[
            "registry",
            "find",
            "--factory-code",
            "66",
            "--country",
            "CN",
            "--serial",
            "561234567",
        ],
    );
    assert!(
        text.contains("factory 66") && text.contains("marked with factory code 66"),
        "{text}"
    );
    let held = common::ok(d.path(), &["registry", "prefixes"]);
    assert!(held.contains("factory code CN/FC:66"), "{held}");
    // Export writes the canonical code, which imports again unchanged.
    let out = common::ok(d.path(), &["registry", "export", "-"]);
    assert!(out.contains(r#""factory_code":"66""#), "{out}");
}
