use super::*;

fn shipped() -> ReferenceTable {
    ReferenceTable::shipped_ref().clone()
}

fn row<'a>(t: &'a mut ReferenceTable, name: &str) -> &'a mut ReferenceMaker {
    t.makers.iter_mut().find(|m| m.name == name).unwrap()
}

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// A row like `Voere`'s, for another maker, with `countries` and `aliases`.
fn another_maker(
    t: &ReferenceTable,
    name: &str,
    countries: &[&str],
    aliases: &[&str],
) -> ReferenceMaker {
    let mut m = t.makers.iter().find(|m| m.name == "Voere").unwrap().clone();
    m.name = name.into();
    m.countries = countries.iter().map(|c| cc(c)).collect();
    m.aliases = aliases.iter().map(|a| a.to_string()).collect();
    m
}

#[test]
fn the_built_in_table_changes_nothing() {
    let c = against_built_in(&shipped());
    assert_eq!(c, Changes::default());
    assert!(warnings(std::path::Path::new("t.json"), &c).is_empty());
    assert_eq!(text(&c), "");
}

#[test]
fn a_spelling_or_factory_code_taken_from_a_kept_maker_is_reported() {
    let mut t = shipped();
    row(&mut t, "Steyr Arms").aliases.retain(|a| a != "Steyr");
    row(&mut t, "Arsenal").factory_codes.clear();
    let c = against_built_in(&t);
    assert_eq!(
        c.narrowed,
        vec![
            Narrowed {
                maker: "Steyr Arms".into(),
                // Made in AT, and anywhere else: "Steyr" was Steyr Arms'
                // alone, and is now a name of its own.
                spellings: vec![LostSpelling {
                    spelling: "Steyr".into(),
                    countries: vec![cc("AT")],
                    elsewhere: true,
                    now: None,
                }],
                factory_codes: vec![],
                countries_left_out: vec![],
            },
            Narrowed {
                maker: "Arsenal".into(),
                spellings: vec![],
                factory_codes: vec![LostCode {
                    country: cc("BG"),
                    code: "10".into(),
                }],
                countries_left_out: vec![],
            },
        ]
    );
    // Still listed: neither left out nor renamed.
    assert!(c.left_out.is_empty() && c.renamed.is_empty());
    let w = warnings(std::path::Path::new("t.json"), &c).join("\n");
    assert!(
        w.contains("warning: 2 makers built into this release match fewer markings in t.json:\n")
            && w.contains(r#"  Steyr Arms: "Steyr" made in AT or anywhere else"#)
            && w.contains("  Arsenal: factory code 10 in BG")
            && w.contains("under another key than the maker's")
            && !w.contains("--force")
            && !w.contains("lists every one"),
        "{w}"
    );
    let t = text(&c);
    assert!(
        t.starts_with("built into this release and matching fewer markings:\n  Steyr Arms: ")
            && !t.contains("lists every one"),
        "{t}"
    );
}

#[test]
fn a_spelling_given_to_another_maker_is_reported() {
    let mut t = shipped();
    row(&mut t, "Steyr Arms").aliases.retain(|a| a != "Steyr");
    let other = another_maker(&t, "Steyr Sport", &["AT"], &["Steyr"]);
    t.makers.push(other);
    let n = against_built_in(&t).narrowed;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].maker, "Steyr Arms");
    assert_eq!(n[0].spellings[0].spelling, "Steyr");
    assert_eq!(n[0].spellings[0].countries, vec![cc("AT")]);
}

#[test]
fn a_spelling_shared_in_another_country_is_lost_where_it_was_the_makers_alone() {
    // Carl Walther's row is kept whole. "Walther" given to a maker in HU no
    // longer reads as Carl Walther on a weapon made in HU, nor in any
    // country neither row names (it means two makers there).
    let mut t = shipped();
    let other = another_maker(&t, "Walther Hungaria", &["HU"], &["Walther"]);
    t.makers.push(other);
    let n = against_built_in(&t).narrowed;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].maker, "Carl Walther");
    assert_eq!(
        n[0].spellings,
        vec![LostSpelling {
            spelling: "Walther".into(),
            countries: vec![cc("HU")],
            elsewhere: true,
            now: Some("Walther Hungaria".into()),
        }]
    );
}

#[test]
fn elsewhere_is_found_when_the_first_countries_tried_are_named() {
    // The new row takes the three countries tried first for "elsewhere":
    // a weapon marked "Walther" made in FR still means two makers.
    let mut t = shipped();
    let other = another_maker(&t, "Walther Polar", &["AQ", "BV", "HM"], &["Walther"]);
    t.makers.push(other);
    let n = against_built_in(&t).narrowed;
    let walther = n[0]
        .spellings
        .iter()
        .find(|l| l.spelling == "Walther")
        .unwrap();
    assert!(walther.elsewhere, "{walther:?}");
}

#[test]
fn a_spelling_shared_with_a_successor_of_a_former_state_is_lost_under_it() {
    // "Zastava" marked YU read as Zastava Arms of RS (YU's successor);
    // given also to a maker of HR, another successor, it means two.
    let mut t = shipped();
    let other = another_maker(&t, "Zastava Croatia", &["HR"], &["Zastava"]);
    t.makers.push(other);
    let c = against_built_in(&t);
    let lost = c
        .narrowed
        .iter()
        .find(|m| m.maker == "Zastava Arms")
        .and_then(|m| m.spellings.iter().find(|l| l.spelling == "Zastava"))
        .unwrap_or_else(|| panic!("{c:?}"));
    assert!(
        lost.countries.contains(&cc("YU")) && lost.countries.contains(&cc("HR")),
        "{lost:?}"
    );
    assert!(!lost.countries.contains(&cc("RS")), "{lost:?}");
    let w = warnings(std::path::Path::new("t.json"), &c).join("\n");
    assert!(w.contains("YU (Yugoslavia)"), "{w}");
}

#[test]
fn a_country_dropped_is_said_though_its_markings_still_match() {
    // "Walther" made in the US still folds to Carl Walther's key through
    // its German row (one maker holds the spelling): records are filed and
    // found as before, but a trace of Carl Walther made in the US now
    // needs --force.
    let mut t = shipped();
    row(&mut t, "Carl Walther")
        .countries
        .retain(|c| *c != cc("US"));
    let c = against_built_in(&t);
    assert_eq!(
        c.narrowed,
        vec![Narrowed {
            maker: "Carl Walther".into(),
            spellings: vec![],
            factory_codes: vec![],
            countries_left_out: vec![cc("US")],
        }]
    );
    let w = warnings(std::path::Path::new("t.json"), &c).join("\n");
    assert!(
        w.contains(
            "  Carl Walther: no longer a maker of US, so a trace of it made there needs --force"
        ) && w.contains("give each maker's row back what it lost")
            && !w.contains("under another key"),
        "{w}"
    );
}

#[test]
fn a_factory_code_given_to_another_maker_is_reported_once() {
    let mut t = shipped();
    row(&mut t, "Arsenal").factory_codes.clear();
    let mut other = another_maker(&t, "Factory Ten", &["BG"], &[]);
    other.factory_codes = vec!["10".into(), "10".into()];
    t.makers.push(other);
    let n = against_built_in(&t).narrowed;
    let arsenal = n.iter().find(|m| m.maker == "Arsenal").unwrap();
    assert_eq!(
        arsenal.factory_codes,
        vec![LostCode {
            country: cc("BG"),
            code: "10".into(),
        }]
    );
}

#[test]
fn a_row_renamed_to_one_of_its_spellings_is_renamed_not_left_out() {
    let mut t = shipped();
    let steyr = row(&mut t, "Steyr Arms");
    steyr.name = "Steyr".into();
    steyr.aliases.retain(|a| a != "Steyr");
    steyr.aliases.push("Steyr Arms".into());
    let c = against_built_in(&t);
    assert_eq!(
        c.renamed,
        vec![Renamed {
            maker: "Steyr Arms".into(),
            now: "Steyr".into(),
            merged_with: vec![],
        }]
    );
    // Every spelling kept: nothing lost under the new name.
    assert!(c.left_out.is_empty() && c.narrowed.is_empty(), "{c:?}");
    let w = warnings(std::path::Path::new("t.json"), &c).join("\n");
    assert!(
        w.contains(
            "1 maker built into this release is named otherwise in t.json:
  Steyr Arms: now Steyr
"
        ) && !w.contains("merged"),
        "{w}"
    );
}

#[test]
fn a_row_removed_is_left_out_and_one_merged_into_another_is_renamed() {
    let mut t = shipped();
    t.makers.retain(|m| m.name != "Lebeau-Courally");
    // Voere's spellings given to Steyr Arms, Voere's row removed.
    let voere = t.makers.iter().position(|m| m.name == "Voere").unwrap();
    let v = t.makers.remove(voere);
    row(&mut t, "Steyr Arms")
        .aliases
        .extend(std::iter::once(v.name).chain(v.aliases));
    let c = against_built_in(&t);
    assert_eq!(c.left_out, vec!["Lebeau-Courally".to_string()]);
    assert_eq!(
        c.renamed,
        vec![Renamed {
            maker: "Voere".into(),
            now: "Steyr Arms".into(),
            merged_with: vec!["Steyr Arms".into()],
        }]
    );
    let w = warnings(std::path::Path::new("t.json"), &c).join("\n");
    assert!(
        w.contains("  Voere: merged into Steyr Arms\n")
            && w.contains("a trace of one finds the others'"),
        "{w}"
    );
}

#[test]
fn a_row_renamed_without_its_old_name_is_renamed_and_the_name_lost() {
    // Most spellings still read as one maker, under a new name: renamed,
    // and the old name, no longer a spelling, lost (a trial's " Group").
    let mut t = shipped();
    row(&mut t, "Steyr Arms").name = "Steyr Arms Group".into();
    let c = against_built_in(&t);
    assert!(c.left_out.is_empty(), "{c:?}");
    assert_eq!(c.renamed[0].now, "Steyr Arms Group");
    assert_eq!(c.narrowed.len(), 1, "{c:?}");
    assert_eq!(c.narrowed[0].maker, "Steyr Arms");
    assert_eq!(c.narrowed[0].spellings[0].spelling, "Steyr Arms");
}

#[test]
fn a_rename_does_not_hide_a_lost_code_or_country() {
    let mut t = shipped();
    let a = row(&mut t, "Arsenal");
    a.name = "Arsenal Group".into();
    a.aliases.push("Arsenal".into());
    a.factory_codes.clear();
    let fnh = row(&mut t, "FN Herstal");
    fnh.name = "FN Group".into();
    fnh.aliases.push("FN Herstal".into());
    fnh.countries.retain(|c| *c != cc("US"));
    let c = against_built_in(&t);
    assert_eq!(c.renamed.len(), 2, "{c:?}");
    let arsenal = c.narrowed.iter().find(|m| m.maker == "Arsenal").unwrap();
    assert_eq!(arsenal.factory_codes.len(), 1, "{arsenal:?}");
    let fnh = c.narrowed.iter().find(|m| m.maker == "FN Herstal").unwrap();
    assert_eq!(fnh.countries_left_out, vec![cc("US")], "{fnh:?}");
}

#[test]
fn two_makers_merged_into_a_new_name_are_merged_with_each_other() {
    let mut t = shipped();
    let voere = t.makers.iter().position(|m| m.name == "Voere").unwrap();
    let v = t.makers.remove(voere);
    let s = row(&mut t, "Steyr Arms");
    s.name = "Steyr Voere".into();
    s.aliases.push("Steyr Arms".into());
    s.aliases.extend(std::iter::once(v.name).chain(v.aliases));
    let c = against_built_in(&t);
    let merged: Vec<(&str, Vec<String>)> = c
        .renamed
        .iter()
        .map(|r| (r.maker.as_str(), r.merged_with.clone()))
        .collect();
    assert_eq!(
        merged,
        vec![
            ("Steyr Arms", vec!["Voere".to_string()]),
            ("Voere", vec!["Steyr Arms".to_string()]),
        ]
    );
}

#[test]
fn long_lists_are_cut_with_how_many_more() {
    // Every alias and earlier name removed: many makers narrowed.
    let mut t = shipped();
    for m in &mut t.makers {
        m.aliases.clear();
        m.history.clear();
    }
    let c = against_built_in(&t);
    assert!(c.narrowed.len() > 5, "{}", c.narrowed.len());
    let w = warnings(std::path::Path::new("t.json"), &c).join("\n");
    let more = format!("  and {} more makers", c.narrowed.len() - 5);
    assert!(
        w.contains(&more) && w.contains("lists every one") && w.lines().all(|l| l.len() < 600),
        "{w}"
    );
}

#[test]
fn a_maker_kept_under_its_name_is_not_renamed_by_spellings_moved_away() {
    // Steyr Arms keeps its row and name; most of its other spellings move
    // to a new maker. Not a rename: those spellings are lost, to the maker
    // they read as now, and its own name is not.
    let mut t = shipped();
    let moved = [
        "Steyr",
        "Steyr Mannlicher",
        "Steyr-Daimler-Puch",
        "Steyr-Werke",
    ];
    row(&mut t, "Steyr Arms")
        .aliases
        .retain(|a| !moved.contains(&a.as_str()));
    let other = another_maker(&t, "Steyr Mannlicher Group", &["AT"], &moved);
    t.makers.push(other);
    let c = against_built_in(&t);
    assert!(c.renamed.is_empty() && c.left_out.is_empty(), "{c:?}");
    let steyr = &c.narrowed[0];
    assert_eq!(steyr.maker, "Steyr Arms");
    assert!(
        steyr.spellings.iter().all(|l| l.spelling != "Steyr Arms"),
        "{steyr:?}"
    );
    let lost: Vec<(&str, Option<&str>)> = steyr
        .spellings
        .iter()
        .map(|l| (l.spelling.as_str(), l.now.as_deref()))
        .collect();
    assert_eq!(
        lost,
        moved
            .iter()
            .map(|m| (*m, Some("Steyr Mannlicher Group")))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_renamed_maker_follows_its_old_name_not_the_order_of_names() {
    // Steyr Arms' row renamed with its old name kept, and half its other
    // spellings given to another maker: whatever that maker is called,
    // the successor is the maker its old name reads as.
    for other_name in ["A Steyr Company", "Z Steyr Company"] {
        let mut t = shipped();
        // Four of its six spellings: more than stay with the old name.
        let moved = [
            "Steyr",
            "Steyr Mannlicher",
            "Steyr-Daimler-Puch",
            "Steyr-Werke",
        ];
        let s = row(&mut t, "Steyr Arms");
        s.name = "Steyr Austria".into();
        s.aliases.retain(|a| !moved.contains(&a.as_str()));
        s.aliases.push("Steyr Arms".into());
        let other = another_maker(&t, other_name, &["AT"], &moved);
        t.makers.push(other);
        let c = against_built_in(&t);
        assert_eq!(c.renamed[0].now, "Steyr Austria", "{other_name}: {c:?}");
        let steyr = &c.narrowed[0];
        assert!(
            steyr.spellings.iter().all(|l| l.spelling != "Steyr Arms"),
            "{steyr:?}"
        );
    }
}

#[test]
fn a_country_that_routes_with_one_kept_is_not_dropped() {
    // Zastava Arms moved from RS to YU, RS's former State: a trace of it
    // marked RS still reaches it (the countries route together).
    let mut t = shipped();
    row(&mut t, "Zastava Arms").countries = vec![cc("YU")];
    let c = against_built_in(&t);
    let zastava = c.narrowed.iter().find(|m| m.maker == "Zastava Arms");
    assert!(
        zastava.is_none_or(|m| m.countries_left_out.is_empty()),
        "{zastava:?}"
    );
}

#[test]
fn what_a_lost_spelling_reads_as_now_is_said_of_its_first_place() {
    let mut t = shipped();
    let other = another_maker(&t, "Walther Hungaria", &["HU"], &["Walther"]);
    t.makers.push(other);
    let w = warnings(std::path::Path::new("t.json"), &against_built_in(&t)).join("\n");
    assert!(
        w.contains(r#""Walther" made in HU (now Walther Hungaria) or anywhere else"#),
        "{w}"
    );
}
