//! Makers as States really write them, across the federation: legal forms,
//! the reference table's suggestions at `trace`, and `--force`. Real processes
//! on 127.0.0.1 (integration/fed).

mod common;
mod fed;

use fed::*;

const MADE: &str = r#"{"date":"1988-05-02","kind":"manufactured","holder":"manufacturer"}"#;

fn trace_args<'a>(maker: &'a str, country: &'a str, serial: &'a str) -> Vec<&'a str> {
    vec![
        "trace",
        "--maker",
        maker,
        "--country",
        country,
        "--serial",
        serial,
        "--category",
        "rifle",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
    ]
}

/// The issue's case: NL recorded the rifle as made by "FN Herstal S.A."
/// and holds other FN rifles as "FN Herstal". Before legal forms were
/// stripped, the first folded to BE/FNHERSTALSA: NL was asked under
/// BE/FNHERSTAL for its other records, and sent a signed no_hit.
#[test]
fn a_holder_of_fn_herstal_sa_answers_a_trace_for_fn_herstal() {
    let fed = Federation::start(vec![
        NodeSpec::bootstrap("LU"),
        NodeSpec::member(
            "NL",
            vec![
                record("NL-1", "FN Herstal S.A.", "BE", "1352-88017", &[], MADE),
                record("NL-2", "FN Herstal", "BE", "1352-99999", &[], MADE),
            ],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let prefixes = fed.node("NL").json(&["registry", "prefixes"]);
    assert_eq!(
        prefixes["prefixes"][0]["prefix"], "BE/FNHERSTAL",
        "{prefixes:#}"
    );
    assert_eq!(prefixes["prefixes"][0]["records"], 2, "{prefixes:#}");
    fed.wait_subscribed("KE", "tracenet/1/prefix/BE/FNHERSTAL", &["NL"]);

    let mut args = trace_args("FN Herstal", "BE", "1352-88017");
    args.extend_from_slice(&["--wait", "20"]);
    let t = fed.node("KE").json(&args);
    assert_eq!(t["status"], "answered", "{t:#}");
    let answers = t["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 1, "{t:#}");
    assert_eq!(answers[0]["state"], "NL");
    assert_eq!(answers[0]["verified"], true);
    let c = &answers[0]["outcome"]["hit"]["candidates"];
    assert_eq!(c.as_array().unwrap().len(), 1, "{t:#}");
    assert_eq!(c[0]["quality"], "exact", "{t:#}");
    let m = &c[0]["record"]["marking"];
    assert_eq!(
        (&m["manufacturer"], &m["serial"]),
        (&"FN Herstal S.A.".into(), &"1352-88017".into())
    );
}

#[test]
fn an_unknown_maker_or_a_wrong_country_is_refused_with_the_nearest_names_unless_forced() {
    let fed = Federation::start(vec![
        NodeSpec::member(
            "DE",
            vec![record("DE-1", "Walther", "DE", "BP0746", &[], MADE)],
        ),
        NodeSpec::member("KE", Vec::new()),
    ]);
    let ke = fed.node("KE");

    // The user's to correct: a usage error, exit 2, with the usage line.
    let o = common::run(&ke.dir, &trace_args("Walhter", "DE", "BP0746"));
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("Usage:") && !e.contains("refused"), "{e}");
    assert!(
        e.contains("\"Walhter\" is not in the maker reference table")
            && e.contains("did you mean Walther (Carl Walther; DE, US)?")
            && e.contains("--force"),
        "{e}"
    );

    let o = common::run(&ke.dir, &trace_args("Walther", "GE", "BP0746"));
    let e = common::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("not a maker of GE") && e.contains("(Carl Walther; DE, US)"),
        "{e}"
    );
    // Nothing was sent.
    assert_eq!(ke.json(&["trace", "list"]).as_array().unwrap().len(), 0);

    // --force sends it as written: under its own prefix, held by nobody.
    let mut args = trace_args("Walhter", "DE", "BP0746");
    args.push("--force");
    let t = ke.json(&args);
    assert_eq!(t["query"]["marking"]["manufacturer"], "Walhter", "{t:#}");
    assert_eq!(t["topics"][0], "tracenet/1/prefix/DE/WALHTER", "{t:#}");
    assert!(t["asked"].as_array().unwrap().is_empty(), "{t:#}");
    // The right name, in any legal form, is sent without --force.
    fed.wait_subscribed("KE", "tracenet/1/prefix/DE/CARLWALTHER", &["DE"]);
    let t = ke.json(&trace_args("Carl Walther GmbH", "DE", "BP0746"));
    assert_eq!(t["topics"][0], "tracenet/1/prefix/DE/CARLWALTHER", "{t:#}");
    assert_eq!(t["asked"][0]["state"], "DE", "{t:#}");
}
