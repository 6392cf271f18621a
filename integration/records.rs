//! Records as real registries hold them (issue 13): dates known only to the
//! month or year, weapons of former States (ISO 3166-3), and descriptive
//! fields with any printable text. Through the CLI on real files, and across
//! a federation of real processes on 127.0.0.1 (integration/fed).

mod common;
mod fed;

use std::path::Path;

use common::*;
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn import(dir: &Path, args: &[&str]) -> Value {
    let mut a = vec!["registry", "import"];
    a.extend_from_slice(args);
    json_import(dir, &a)
}

fn counts(s: &Value) -> [u64; 4] {
    ["added", "updated", "unchanged", "rejected"].map(|k| s[k].as_u64().unwrap())
}

fn dates(record: &Value) -> Vec<String> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["date"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn partial_dates_are_imported_kept_and_shown_as_known() {
    let d = init("CZ");
    let jsonl = write(
        d.path(),
        "old.jsonl",
        concat!(
            r#"{"id":"CZ-1","marking":{"manufacturer":"Česká zbrojovka","country":"CS","serial":"58-001"},"category":"assault_rifle","events":[{"date":"1962","kind":"manufactured"},{"date":"1963-03","kind":"transferred","holder":"state_military"},{"date":"1990-00-00","kind":"lost"},{"date":"1991-06-00","kind":"seized"},{"date":"1991-06-14","kind":"destroyed"}]}"#,
            "\n"
        ),
    );
    assert_eq!(counts(&import(d.path(), &[&jsonl])), [1, 0, 0, 0]);
    let w = write(
        d.path(),
        "w.csv",
        "id,manufacturer,country,serial,category\nCZ-2,CZ,CZ,75-001,pistol\n",
    );
    let e = write(
        d.path(),
        "e.csv",
        "record_id,date,kind\nCZ-2,1975,manufactured\nCZ-2,1976-00-00,exported\nCZ-2,1980-02-00,imported\nCZ-2,1981-04,stolen\n",
    );
    assert_eq!(
        counts(&import(d.path(), &[&w, "--events", &e])),
        [1, 0, 0, 0]
    );

    let one = json(d.path(), &["registry", "show", "CZ-1"]);
    assert_eq!(
        dates(&one),
        ["1962", "1963-03", "1990", "1991-06", "1991-06-14"],
        "{one}"
    );
    let two = json(d.path(), &["registry", "show", "CZ-2"]);
    assert_eq!(dates(&two), ["1975", "1976", "1980-02", "1981-04"], "{two}");
    // People read what is known: never a first of January that is not.
    let text = ok(d.path(), &["registry", "show", "CZ-1"]);
    assert!(text.contains("  1962        manufactured"), "{text}");
    assert!(text.contains("  1990        lost"), "{text}");
    assert!(
        !text.contains("-01-01") && !text.contains("1990-") && !text.contains("1991-06-00"),
        "{text}"
    );

    // Export writes the reduced forms, and reads back to the same bytes.
    let out = d.path().join("export.jsonl");
    ok(d.path(), &["registry", "export", out.to_str().unwrap()]);
    let exported = std::fs::read_to_string(&out).unwrap();
    assert!(
        exported.contains(r#""date":"1990","kind":"lost""#),
        "{exported}"
    );
    let again = init("CZ");
    import(again.path(), &[out.to_str().unwrap()]);
    let out2 = again.path().join("export.jsonl");
    ok(
        again.path(),
        &["registry", "export", out2.to_str().unwrap()],
    );
    assert_eq!(std::fs::read_to_string(&out2).unwrap(), exported);
}

#[test]
fn national_date_forms_are_refused_with_the_expected_form_file_line_and_field() {
    let d = init("FR");
    let w = write(
        d.path(),
        "w.csv",
        "id,manufacturer,country,serial,category\nF1,MAS,FR,A1,rifle\nF2,MAS,FR,A2,rifle\nF3,MAS,FR,A3,rifle\n",
    );
    let e = write(
        d.path(),
        "e.csv",
        "record_id,date,kind\nF1,1985-03-14,manufactured\nF2,14/03/1985,manufactured\nF3,03/14/1985,manufactured\n",
    );
    let s = import(d.path(), &[&w, "--events", &e]);
    // The weapons with a bad event are refused whole; the other is imported.
    assert_eq!(counts(&s), [1, 0, 0, 2], "{s}");
    let r = &s["rejections"];
    for (i, line, reading) in [
        (0, 3, "read as day/month/year it is 1985-03-14"),
        (1, 4, "read as month/day/year it is 1985-03-14"),
    ] {
        assert_eq!(r[i]["line"], line, "{s}");
        assert_eq!(r[i]["field"], "date", "{s}");
        assert!(r[i]["file"].as_str().unwrap().ends_with("e.csv"), "{s}");
        let why = r[i]["reason"].as_str().unwrap();
        assert!(
            why.contains(reading) && why.contains("write YYYY-MM-DD"),
            "{why}"
        );
    }
    // The one line a person reads names file, line, field and the form.
    let o = run(
        d.path(),
        &["registry", "import", "--strict", &w, "--events", &e],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("e.csv:3: date: bad date \"14/03/1985\"") && err.contains("YYYY-MM-DD"),
        "{err}"
    );

    let jsonl = write(
        d.path(),
        "in.jsonl",
        r#"{"id":"F4","marking":{"manufacturer":"MAS","country":"FR","serial":"A4"},"category":"rifle","events":[{"date":"1985","kind":"manufactured"},{"date":"14.03.1985","kind":"exported"}]}"#,
    );
    let s = import(d.path(), &[&jsonl]);
    assert_eq!(counts(&s), [0, 0, 0, 1], "{s}");
    assert_eq!(s["rejections"][0]["field"], "events[1].date", "{s}");
    assert!(
        s["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD"),
        "{s}"
    );
}

#[test]
fn an_odd_descriptive_field_keeps_its_weapon_and_life_cycle() {
    let d = init("US");
    let w = write(
        d.path(),
        "w.csv",
        "id,manufacturer,country,serial,category,model,calibre\n\
         U1,Smith & Wesson,US,HXK1234,pistol,M&P9 Shield [EZ],9mm Luger (9x19)\n\
         U2,Smith & Wesson,US,HXK1235,pistol,M&P9\u{7},9mm\n\
         U3,Smith & Wesson,US,HXK1236,pistol,M&P40,.40 S&W\n",
    );
    let e = write(
        d.path(),
        "e.csv",
        "record_id,date,kind,holder\n\
         U1,2016-05-02,manufactured,manufacturer\n\
         U1,2016-07,transferred,licensed_dealer\n\
         U3,2016-05-04,manufactured,manufacturer\n\
         U3,2017-01-01,sold,\n",
    );
    let s = import(d.path(), &[&w, "--events", &e]);
    // On the old code the `&` refused U1 with its two events.
    assert_eq!(counts(&s), [1, 0, 0, 2], "{s}");
    let u1 = json(d.path(), &["registry", "show", "U1"]);
    assert_eq!(u1["model"], "M&P9 Shield [EZ]", "{u1}");
    assert_eq!(u1["calibre"], "9mm Luger (9x19)", "{u1}");
    assert_eq!(dates(&u1), ["2016-05-02", "2016-07"], "{u1}");
    // Unprintable text in a descriptive field, and a bad event, still refuse
    // the record, naming line and field.
    let r = &s["rejections"];
    assert_eq!(
        (r[0]["line"].as_u64(), r[0]["field"].as_str()),
        (Some(3), Some("model")),
        "{s}"
    );
    assert!(
        r[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unprintable character U+0007"),
        "{s}"
    );
    assert_eq!(
        (r[1]["line"].as_u64(), r[1]["field"].as_str()),
        (Some(5), Some("kind")),
        "{s}"
    );
    assert!(r[1]["reason"].as_str().unwrap().contains("sold"), "{s}");

    // JSON Lines: the same rules; an identifying field stays strict.
    let jsonl = write(
        d.path(),
        "in.jsonl",
        concat!(
            r#"{"id":"U4","marking":{"manufacturer":"Smith & Wesson","country":"US","serial":"HXK1237"},"model":"Model 686 \"Plus\" & Co","calibre":".357 Mag/.38 Spl","category":"revolver","events":[{"date":"1999","kind":"manufactured"}]}"#,
            "\n",
            r#"{"id":"U5","marking":{"manufacturer":"Smith & Wesson","country":"US","serial":"HXK?238"},"model":"M&P9","category":"pistol"}"#,
            "\n",
            r#"{"id":"U6","marking":{"manufacturer":"Smith & Wesson","country":"US","serial":"HXK1239"},"model":"M&P9 with a name far longer than any real model","category":"pistol"}"#,
            "\n"
        ),
    );
    let s = import(d.path(), &[&jsonl]);
    assert_eq!(counts(&s), [1, 0, 0, 2], "{s}");
    assert_eq!(
        json(d.path(), &["registry", "show", "U4"])["model"],
        "Model 686 \"Plus\" & Co"
    );
    assert_eq!(s["rejections"][0]["field"], "marking.serial", "{s}");
    assert_eq!(s["rejections"][1]["field"], "model", "{s}");
    assert!(
        s["rejections"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("1 to 40 printable characters"),
        "{s}"
    );
}

#[test]
fn former_states_are_kept_as_recorded_and_found_under_their_successors() {
    let d = init("AT");
    let jsonl = write(
        d.path(),
        "in.jsonl",
        concat!(
            r#"{"id":"A1","marking":{"manufacturer":"Crvena Zastava","country":"YUCS","serial":"M70 40123","year":1984,"imports":[{"country":"DD","year":1986}]},"category":"assault_rifle","events":[{"date":"1984","kind":"manufactured","holder":"manufacturer"},{"date":"1986-02","kind":"exported","counterpart":"DDDE"}]}"#,
            "\n",
            r#"{"id":"A2","marking":{"manufacturer":"Izhmash","country":"SU","serial":"AK 77001"},"category":"assault_rifle","events":[]}"#,
            "\n",
            r#"{"id":"A3","marking":{"manufacturer":"CZ","country":"CSHH","serial":"58-1"},"category":"assault_rifle","events":[]}"#,
            "\n",
            r#"{"id":"A4","marking":{"manufacturer":"Zastava","country":"CSXX","serial":"M70 1"},"category":"assault_rifle","events":[]}"#,
            "\n",
            r#"{"id":"A5","marking":{"manufacturer":"Zastava","country":"CS","serial":"M70 2","year":2004},"category":"assault_rifle","events":[]}"#,
            "\n"
        ),
    );
    let s = import(d.path(), &[&jsonl]);
    assert_eq!(counts(&s), [3, 0, 0, 2], "{s}");
    let r = &s["rejections"];
    assert_eq!(r[0]["line"], 4, "{s}");
    assert!(
        r[0]["reason"]
            .as_str()
            .unwrap()
            .contains("RS (Serbia) or ME (Montenegro)"),
        "{s}"
    );
    assert_eq!(r[1]["line"], 5, "{s}");
    assert!(
        r[1]["reason"]
            .as_str()
            .unwrap()
            .contains("Czechoslovakia, which ended in 1992"),
        "{s}"
    );

    // Kept as recorded, in the two-letter form.
    let a1 = json(d.path(), &["registry", "show", "A1"]);
    assert_eq!(a1["marking"]["country"], "YU", "{a1}");
    assert_eq!(a1["marking"]["imports"][0]["country"], "DD", "{a1}");
    assert_eq!(a1["events"][1]["counterpart"], "DD", "{a1}");
    let p = json(d.path(), &["registry", "prefixes"]);
    let prefixes: Vec<&str> = p["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["prefix"].as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        [
            "CS/CESKAZBROJOVKA",
            "SU/KALASHNIKOVCONCERN",
            "YU/ZASTAVAARMS"
        ],
        "{p}"
    );

    // A successor finds the former State's record, and says why.
    let f = json(
        d.path(),
        &[
            "registry",
            "find",
            "--maker",
            "Zastava",
            "--country",
            "RS",
            "--serial",
            "M70-40123",
        ],
    );
    assert_eq!(f[0]["record"]["id"], "A1", "{f}");
    assert!(
        f.to_string().contains("recorded as made in YU, not RS"),
        "{f}"
    );
    let f = json(
        d.path(),
        &[
            "registry",
            "find",
            "--maker",
            "Kalashnikov",
            "--country",
            "UA",
            "--serial",
            "AK77001",
        ],
    );
    assert_eq!(f[0]["record"]["id"], "A2", "{f}");
    let f = json(
        d.path(),
        &[
            "registry",
            "find",
            "--maker",
            "CZ",
            "--country",
            "SK",
            "--serial",
            "58 1",
        ],
    );
    assert_eq!(f[0]["record"]["id"], "A3", "{f}");
    let f = json(
        d.path(),
        &[
            "registry",
            "find",
            "--maker",
            "Zastava",
            "--country",
            "PL",
            "--serial",
            "M70-40123",
        ],
    );
    assert_eq!(f.as_array().map(Vec::len), Some(0), "{f}");

    // A node stands for a State of today.
    let t = tempfile::tempdir().unwrap();
    let o = run(t.path(), &["init", "--state", "YU"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Yugoslavia, a former State"),
        "{}",
        stderr(&o)
    );
}

fn trace_zastava(n: &fed::FedNode, country: &str, serial: &str) -> Value {
    n.json(&[
        "trace",
        "--maker",
        "Zastava",
        "--country",
        country,
        "--serial",
        serial,
        "--category",
        "assault_rifle",
        "--ground",
        "conflict_recovery",
        "--use",
        "diversion_analysis",
        "--wait",
        "20",
    ])
}

fn hit_events(t: &Value, from: &str) -> Vec<String> {
    let a = t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == from)
        .unwrap_or_else(|| panic!("no answer from {from}: {t:#}"));
    assert_eq!(a["verified"], true, "{t:#}");
    dates(&a["outcome"]["hit"]["candidates"][0]["record"])
}

/// A holder whose record says YU/Zastava is found by a trace that says
/// RS/Zastava, and a holder whose record says RS by a trace that says YU;
/// dates travel with their precision, and a `year` disclosure is shown as
/// the year, never as its first of January.
#[test]
fn a_former_state_and_its_successor_find_each_others_holders_with_dates_as_known() {
    use fed::*;
    const AT_RECORD: &str = r#"{"date":"1984-05-14","kind":"manufactured","holder":"manufacturer"},{"date":"1986-02-11","kind":"imported","counterpart":"YU","holder":"licensed_dealer"}"#;
    const DE_RECORD: &str = r#"{"date":"2009-03","kind":"manufactured"},{"date":"2010","kind":"imported","counterpart":"RS","holder":"licensed_dealer"}"#;
    let fed = Federation::start_with(
        vec![
            NodeSpec::member(
                "AT",
                vec![record(
                    "AT-1",
                    "Crvena Zastava",
                    "YUCS",
                    "M70 40123",
                    &[("AT", 1986)],
                    AT_RECORD,
                )],
            ),
            NodeSpec::member(
                "DE",
                vec![record(
                    "DE-1",
                    "Zastava Oruzje a.d.",
                    "RS",
                    "M70 55555",
                    &[("DE", 2010)],
                    DE_RECORD,
                )],
            ),
            NodeSpec::member("NG", Vec::new()),
        ],
        |n| {
            if n.state == "AT" {
                std::fs::write(
                    n.dir.join("policy.toml"),
                    "[[override]]\nrequester = \"NG\"\ndisclose = \"year\"\n",
                )
                .unwrap();
            }
        },
    );
    fed.wait_subscribed("NG", "tracenet/1/prefix/YU/ZASTAVAARMS", &["AT"]);
    fed.wait_subscribed("NG", "tracenet/1/prefix/RS/ZASTAVAARMS", &["DE"]);
    let ng = fed.node("NG");

    // RS asked, YU held: routed to YU's prefix too, and AT answers.
    let t = trace_zastava(ng, "RS", "M70-40123");
    let topics = t["topics"].to_string();
    assert!(
        topics.contains("prefix/RS/ZASTAVAARMS") && topics.contains("prefix/YU/ZASTAVAARMS"),
        "{t:#}"
    );
    assert_eq!(t["status"], "answered", "{t:#}");
    assert_eq!(
        hit_events(&t, "AT"),
        ["1984", "1986"],
        "AT discloses years to NG"
    );
    let m = &t["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "AT")
        .unwrap()["outcome"]["hit"]["candidates"][0]["record"]["marking"];
    assert_eq!(m["country"], "YU", "kept as recorded: {t:#}");
    let shown = ng.cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(
        shown.contains("1984") && !shown.contains("1984-01-01"),
        "{shown}"
    );
    // DE holds no such serial: a no_hit, its record of another serial unseen.
    assert!(
        t["answers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["state"] == "DE" && a["outcome"] == "no_hit"),
        "{t:#}"
    );

    // YU asked, RS held: DE answers, with its dates as it knows them.
    let t = trace_zastava(ng, "YU", "M70-55555");
    assert_eq!(t["status"], "answered", "{t:#}");
    assert_eq!(hit_events(&t, "DE"), ["2009-03", "2010"], "{t:#}");
    let shown = ng.cli(&["trace", "show", t["id"].as_str().unwrap()]);
    assert!(
        shown.contains("2009-03     manufactured") && !shown.contains("2009-03-01"),
        "{shown}"
    );
}
