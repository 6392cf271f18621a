//! Chains of custody assembled from answers, without a swarm.

use super::*;
use crate::marking::Marking;
use crate::protocol::{EventProjection, WithheldReason};

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

fn ev(
    date: &str,
    kind: EventKind,
    cp: Option<&str>,
    holder: Option<HolderCategory>,
) -> EventProjection {
    EventProjection {
        kind,
        date: EventDate::parse(date).unwrap(),
        counterpart: cp.map(cc),
        holder,
    }
}

/// The chain of DE's answer (the first) and NG's (the second), both
/// final, nothing else wanted.
fn de_then_ng(de: &Outcome, ng: &Outcome) -> Custody {
    let answers = [
        AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: de,
        },
        AnswerInput {
            index: Some(1),
            state: cc("NG"),
            outcome: ng,
        },
    ];
    let answered = [cc("DE"), cc("NG")].into_iter().collect();
    assemble(&answers, &answered, &[], &Wanted::default())
}

fn hit(events: Vec<EventProjection>) -> Outcome {
    Outcome::Hit {
        candidates: vec![Candidate {
            quality: Quality::Exact,
            record: RecordProjection {
                marking: Marking::new("Walther", cc("DE"), "WP1").unwrap(),
                category: crate::model::WeaponCategory::Pistol,
                model: None,
                calibre: None,
                events,
            },
        }],
    }
}

#[test]
fn a_three_hop_chain_ends_at_the_theft() {
    use EventKind::*;
    let a = hit(vec![
        ev(
            "2010-01-01",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev("2010-06-01", Exported, Some("NG"), None),
    ]);
    let b = hit(vec![
        ev(
            "2010-07-01",
            Imported,
            Some("DE"),
            Some(HolderCategory::LicensedDealer),
        ),
        ev("2012-01-01", Exported, Some("GH"), None),
    ]);
    let c = hit(vec![
        ev(
            "2012-02-01",
            Imported,
            Some("NG"),
            Some(HolderCategory::StatePolice),
        ),
        ev(
            "2019-03-01",
            Stolen,
            None,
            Some(HolderCategory::StatePolice),
        ),
    ]);
    let answers = [
        AnswerInput {
            index: Some(2),
            state: cc("GH"),
            outcome: &c,
        },
        AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: &a,
        },
        AnswerInput {
            index: Some(1),
            state: cc("NG"),
            outcome: &b,
        },
    ];
    let answered = [cc("DE"), cc("NG"), cc("GH")].into_iter().collect();
    let k = assemble(&answers, &answered, &[], &Wanted::default());
    let kinds: Vec<EventKind> = k.chain.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        vec![Manufactured, Exported, Imported, Exported, Imported, Stolen]
    );
    let d = k.diversion.clone().unwrap();
    assert_eq!(
        (d.last_lawful_state, d.last_lawful_holder),
        (cc("GH"), Some(HolderCategory::StatePolice))
    );
    assert_eq!(d.event.unwrap().answer, Some(2));
    assert!(k.gaps.is_empty() && k.follow_up.is_empty(), "{k:?}");
}

/// Each State's records call for the States they say the weapon was
/// exported to, and only those: what bounds the follow-ups one answer can
/// spend (`StoredTrace::add_follow_ups`).
#[test]
fn each_states_records_call_for_the_states_they_exported_to() {
    use EventKind::*;
    let de = hit(vec![
        ev(
            "2010-01-01",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev("2010-06-01", Exported, Some("NG"), None),
        ev("2010-07-01", Exported, Some("GH"), None),
    ]);
    // NG's record: imported from DE (not a call), exported on to FR, and an
    // export with no counterpart named (not a call either).
    let ng = hit(vec![
        ev("2010-08-01", Imported, Some("DE"), None),
        ev("2011-01-01", Exported, Some("FR"), None),
        ev("2012-01-01", Exported, None, None),
    ]);
    let k = de_then_ng(&de, &ng);
    let calls: Vec<(CountryCode, Vec<CountryCode>)> = k
        .follow_up_calls()
        .into_iter()
        .map(|(s, to)| (s, to.into_iter().collect()))
        .collect();
    assert_eq!(
        calls,
        vec![
            (cc("DE"), vec![cc("GH"), cc("NG")]),
            (cc("NG"), vec![cc("FR")]),
        ],
        "{k:#?}"
    );
}

#[test]
fn a_silent_or_withholding_state_is_named_as_the_gap() {
    use EventKind::*;
    let a = hit(vec![
        ev(
            "2010-01-01",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev("2010-06-01", Exported, Some("NG"), None),
    ]);
    let withheld = Outcome::Withheld {
        reason: WithheldReason::OngoingInvestigation,
    };
    let only_de = [AnswerInput {
        index: Some(0),
        state: cc("DE"),
        outcome: &a,
    }];
    let k = assemble(
        &only_de,
        &[cc("DE")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    assert_eq!(k.follow_up, vec![cc("NG")]);
    assert_eq!(k.gaps, vec![Gap::NoAnswer { state: cc("NG") }]);
    assert!(k.diversion.is_none());

    // NG outside the federation: not awaited, said so, and the records end
    // at the export, the lead to follow outside tracenet.
    let members = Wanted {
        members: Some([cc("DE"), cc("KE")].into_iter().collect()),
        ..Wanted::default()
    };
    let k = assemble(&only_de, &[cc("DE")].into_iter().collect(), &[], &members);
    assert_eq!(k.gaps, vec![Gap::NotAMember { state: cc("NG") }]);
    let last = k.last_recorded.as_ref().unwrap();
    assert_eq!((last.state, last.exported_to), (cc("DE"), Some(cc("NG"))));
    assert!(
        k.to_text()
            .contains("NG is not a member of the federation: the records go on there"),
        "{}",
        k.to_text()
    );

    let both = [
        AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: &a,
        },
        AnswerInput {
            index: Some(1),
            state: cc("NG"),
            outcome: &withheld,
        },
    ];
    let k = assemble(
        &both,
        &[cc("DE"), cc("NG")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    assert_eq!(
        k.gaps,
        vec![Gap::Withheld {
            state: cc("NG"),
            reason: Some("ongoing_investigation".into()),
            pattern: false,
        }]
    );
    assert!(
        k.to_text()
            .contains("withheld its record (ongoing investigation)"),
        "{}",
        k.to_text()
    );
    assert!(k.follow_up.is_empty());
    let json = serde_json::to_value(&k.gaps[0]).unwrap();
    assert!(json.get("pattern").is_none(), "{json}");

    // Traced by a pattern, `withheld` says that NG restricts what it holds
    // under it (a wildcard never reaches a confidential record), not that a
    // record matches: an honest requester read it as "the weapon is there".
    let pattern = Wanted {
        serial: Some(crate::marking::SerialQuery::parse("WP12*").unwrap()),
        ..Wanted::default()
    };
    let k = assemble(
        &both,
        &[cc("DE"), cc("NG")].into_iter().collect(),
        &[],
        &pattern,
    );
    let gap = k
        .gaps
        .iter()
        .find(|g| matches!(g, Gap::Withheld { .. }))
        .unwrap();
    assert!(
        matches!(gap, Gap::Withheld { pattern: true, .. }),
        "{gap:?}"
    );
    let text = k.to_text();
    assert!(!text.contains("withheld its record"), "{text}");
    assert!(
        text.contains("NG withheld its answer to a serial with wildcards (ongoing investigation)")
            && text.contains("may or may not hold this weapon")
            // Blind only with `?`: the advice said so of `*` too, which a
            // blind trace refuses (a new user's trial).
            && text.contains("a `*` cannot be traced blind"),
        "{text}"
    );
    let json = serde_json::to_value(gap).unwrap();
    assert_eq!(json["pattern"], true, "{json}");
    // A blind probe of NG hit: its keyed filter (confidential records
    // included) holds one of the serials, so its withheld is a record's.
    let hit = Wanted {
        blind_hits: [cc("NG")].into_iter().collect(),
        ..pattern
    };
    let k = assemble(
        &both,
        &[cc("DE"), cc("NG")].into_iter().collect(),
        &[],
        &hit,
    );
    assert!(
        k.gaps
            .iter()
            .any(|g| matches!(g, Gap::Withheld { pattern: false, .. })),
        "{:?}",
        k.gaps
    );
    assert!(
        k.to_text().contains("NG withheld its record"),
        "{}",
        k.to_text()
    );
}

#[test]
fn a_state_asked_that_has_not_answered_is_a_gap_never_no_record() {
    let no_hit = Outcome::NoHit;
    let fr = [AnswerInput {
        index: Some(0),
        state: cc("FR"),
        outcome: &no_hit,
    }];
    let waiting = [
        Awaited {
            state: cc("DE"),
            unreachable: None,
            declined: None,
        },
        Awaited {
            state: cc("NG"),
            unreachable: Some(("disconnected".to_string(), Some(1_796_082_660))),
            declined: None,
        },
    ];
    let k = assemble(
        &fr,
        &[cc("FR")].into_iter().collect(),
        &waiting,
        &Wanted::default(),
    );
    assert_eq!(
        k.gaps,
        vec![
            Gap::NoAnswer { state: cc("DE") },
            Gap::Unreachable {
                state: cc("NG"),
                reason: "disconnected".into(),
                since: Some(1_796_082_660),
            }
        ]
    );
    assert!(k.to_text().contains("DE has not answered"));
    assert!(
        k.to_text()
            .contains("NG cannot be reached (disconnected) since 2026-11-30 23:51 UTC"),
        "{}",
        k.to_text()
    );
    // Promised its query while the trace waits; not once it has ended.
    assert!(
        k.to_text()
            .contains("its query goes to it if it reconnects")
    );
    let ended = k.to_text_for(false);
    assert!(
        !ended.contains("reconnects") && ended.contains("`tracenet trace retry` asks it again"),
        "{ended}"
    );
    // Once every State asked has answered no_hit: no record.
    let k = assemble(
        &fr,
        &[cc("FR")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    assert_eq!(k.gaps, vec![Gap::NoRecord]);
}

#[test]
fn no_record_anywhere_is_said_so() {
    let k = assemble(&[], &BTreeSet::new(), &[], &Wanted::default());
    assert_eq!(k.gaps, vec![Gap::NoRecord]);
}

#[test]
fn a_weapon_whose_fate_was_never_reported_names_where_it_was_last_recorded() {
    use EventKind::*;
    let de = hit(vec![
        ev(
            "2010-01-01",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev("2010-06-01", Exported, Some("NG"), None),
    ]);
    let ng = hit(vec![ev(
        "2010-07-01",
        Imported,
        Some("DE"),
        Some(HolderCategory::StatePolice),
    )]);
    let k = de_then_ng(&de, &ng);
    assert!(k.diversion.is_none());
    let l = k.last_recorded.clone().unwrap();
    assert_eq!(
        (l.state, l.holder),
        (cc("NG"), Some(HolderCategory::StatePolice))
    );
    assert!(
        k.to_text().contains("last recorded with NG"),
        "{}",
        k.to_text()
    );
    // While NG has not answered, the records go on there: no such claim.
    let only_de = [AnswerInput {
        index: Some(0),
        state: cc("DE"),
        outcome: &de,
    }];
    let k = assemble(
        &only_de,
        &[cc("DE")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    assert!(k.last_recorded.is_none());
}

#[test]
fn a_signed_refusal_or_a_trimmed_hit_is_a_gap_that_names_the_state_and_reason() {
    use crate::protocol::RefusedReason;
    let refused = Outcome::Refused {
        reason: RefusedReason::RateLimited,
        retry_after_secs: 30,
    };
    let no_hit = Outcome::NoHit;
    let answers = [
        AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: &refused,
        },
        AnswerInput {
            index: Some(1),
            state: cc("FR"),
            outcome: &no_hit,
        },
    ];
    let k = assemble(
        &answers,
        &[cc("DE"), cc("FR")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    // Never "no record" while a State refused: it may hold the weapon.
    assert_eq!(
        k.gaps,
        vec![Gap::Refused {
            state: cc("DE"),
            reason: "rate_limited".into(),
            retry_after_secs: 30
        }]
    );
    assert!(
        k.to_text()
            .contains("DE refused the query (rate limited); retry after 30 s")
    );

    let events = vec![ev(
        "2010-01-01",
        EventKind::Manufactured,
        None,
        Some(HolderCategory::Manufacturer),
    )];
    let Outcome::Hit { candidates } = hit(events) else {
        unreachable!()
    };
    let trimmed = Outcome::Trimmed {
        candidates,
        events_left_out: 12,
    };
    let k = assemble(
        &[AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: &trimmed,
        }],
        &[cc("DE")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    // A trimmed hit still builds the chain, and says what it left out.
    assert_eq!(k.chain.len(), 1);
    assert_eq!(
        k.gaps,
        vec![Gap::Trimmed {
            state: cc("DE"),
            events_left_out: 12
        }]
    );
}

#[test]
fn a_prefix_nobody_holds_is_said_so_not_no_record() {
    let wanted = Wanted {
        nobody_asked: Some(Gap::NoHolder {
            prefix: "DE/XYZ".into(),
        }),
        ..Wanted::default()
    };
    let k = assemble(&[], &BTreeSet::new(), &[], &wanted);
    assert_eq!(
        k.gaps,
        vec![Gap::NoHolder {
            prefix: "DE/XYZ".into()
        }]
    );
    assert!(
        k.to_text()
            .contains("no member is known to hold records under DE/XYZ")
    );
}

/// A hit on a record without events said "no record" (a helper's trial:
/// "KE: hit, 1 candidate" above "gap: every State expected to hold a record
/// answered, and none holds one"), and the own registry's hit without events
/// said only that nobody holds one.
#[test]
fn a_record_without_events_is_never_no_record() {
    let bare = hit(vec![]);
    let no_hit = Outcome::NoHit;
    let k = de_then_ng(&bare, &no_hit);
    assert_eq!(k.gaps, vec![Gap::NoHistory { state: cc("DE") }]);
    assert!(k.chain.is_empty() && k.diversion.is_none());
    assert!(
        k.to_text()
            .contains("DE holds a record of this weapon without events")
            && !k.to_text().contains("none holds one"),
        "{}",
        k.to_text()
    );
    // The own registry's record, nobody asked: both are said.
    let own = [AnswerInput {
        index: None,
        state: cc("KE"),
        outcome: &bare,
    }];
    let wanted = Wanted {
        nobody_asked: Some(Gap::NoHolder {
            prefix: "DE/WALTHER".into(),
        }),
        ..Wanted::default()
    };
    let k = assemble(&own, &[cc("KE")].into_iter().collect(), &[], &wanted);
    assert_eq!(
        k.gaps,
        vec![
            Gap::NoHistory { state: cc("KE") },
            Gap::NoHolder {
                prefix: "DE/WALTHER".into()
            }
        ]
    );
    // A record with events: its chain, and no gap.
    let with = hit(vec![ev("2001-02-03", EventKind::Manufactured, None, None)]);
    let k = de_then_ng(&with, &no_hit);
    assert!(k.gaps.is_empty(), "{:?}", k.gaps);
}

/// A manufacture told by another State's record is placed where the
/// marking says the weapon was made (a helper's trial: an Izhmash marked SU,
/// recorded by DE, read "manufactured DE").
#[test]
fn a_manufacture_is_placed_in_the_country_of_manufacture() {
    assert_eq!(
        places(EventKind::Manufactured, cc("DE"), None, Some(cc("SU"))),
        "SU (recorded by DE)"
    );
    assert_eq!(
        places(EventKind::Manufactured, cc("DE"), None, Some(cc("DE"))),
        "DE"
    );
    assert_eq!(
        places(
            EventKind::Exported,
            cc("DE"),
            Some(cc("KE")),
            Some(cc("SU"))
        ),
        "DE → KE"
    );
    let made_elsewhere = Outcome::Hit {
        candidates: vec![Candidate {
            quality: Quality::Exact,
            record: RecordProjection {
                marking: Marking::new("Izhmash", cc("SU"), "WP1").unwrap(),
                category: crate::model::WeaponCategory::Pistol,
                model: None,
                calibre: None,
                events: vec![ev("1975", EventKind::Manufactured, None, None)],
            },
        }],
    };
    let k = de_then_ng(&made_elsewhere, &Outcome::NoHit);
    assert!(
        k.to_text().contains("SU (recorded by DE)"),
        "{}",
        k.to_text()
    );
}

#[test]
fn the_chain_says_the_direction_of_each_transfer() {
    use EventKind::*;
    let de = hit(vec![ev("2010-06-01", Exported, Some("NG"), None)]);
    let ng = hit(vec![ev(
        "2010-07-01",
        Imported,
        Some("DE"),
        Some(HolderCategory::StatePolice),
    )]);
    let answers = [
        AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: &de,
        },
        AnswerInput {
            index: Some(1),
            state: cc("NG"),
            outcome: &ng,
        },
    ];
    let k = assemble(
        &answers,
        &[cc("DE"), cc("NG")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    let text = k.to_text();
    assert!(
        text.contains("2010-06-01  exported     DE → NG  (answer 1 from DE)"),
        "{text}"
    );
    assert!(
        text.contains("2010-07-01  imported     DE → NG, held by state police  (answer 2 from NG)"),
        "{text}"
    );
}

#[test]
fn records_that_end_with_an_export_say_where_the_weapon_went() {
    use EventKind::*;
    let de = hit(vec![
        ev(
            "2010-01-01",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev("2012-05-02", Exported, Some("NG"), None),
    ]);
    let no_hit = Outcome::NoHit;
    let answers = [
        AnswerInput {
            index: Some(0),
            state: cc("DE"),
            outcome: &de,
        },
        AnswerInput {
            index: Some(1),
            state: cc("NG"),
            outcome: &no_hit,
        },
    ];
    let k = assemble(
        &answers,
        &[cc("DE"), cc("NG")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    let l = k.last_recorded.clone().unwrap();
    assert_eq!((l.state, l.exported_to), (cc("DE"), Some(cc("NG"))));
    let text = k.to_text();
    assert!(
        text.contains("last recorded leaving DE for NG on 2012-05-02 (exported)"),
        "{text}"
    );
    assert!(!text.contains("with DE (manufacturer)"), "{text}");
}

/// The order of a chain whose answers give dates of mixed precision, as
/// `kind@date@state` strings, whatever the order of the answers.
fn mixed_chain(answers_in: &[(&str, Vec<EventProjection>)]) -> Vec<String> {
    let outcomes: Vec<(CountryCode, Outcome)> = answers_in
        .iter()
        .map(|(s, evs)| (cc(s), hit(evs.clone())))
        .collect();
    let answered: BTreeSet<CountryCode> = outcomes.iter().map(|(s, _)| *s).collect();
    let mut orders = Vec::new();
    for rotate in 0..outcomes.len() {
        let mut inputs: Vec<AnswerInput<'_>> = outcomes
            .iter()
            .enumerate()
            .map(|(i, (s, o))| AnswerInput {
                index: Some(i),
                state: *s,
                outcome: o,
            })
            .collect();
        inputs.rotate_left(rotate);
        let k = assemble(&inputs, &answered, &[], &Wanted::default());
        orders.push(
            k.chain
                .iter()
                .map(|l| format!("{}@{}@{}", l.kind.as_str(), l.date, l.state))
                .collect::<Vec<_>>(),
        );
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "{orders:#?}");
    orders.remove(0)
}

#[test]
fn a_partial_date_is_placed_among_its_period_by_the_natural_order() {
    use EventKind::*;
    // DE knows the days; NG's old register knows only the year of import
    // and the month of the theft. Sorted by the first day of the period,
    // "imported 1985" would come before the manufacture of 1985-03-14.
    let chain = mixed_chain(&[
        (
            "DE",
            vec![
                ev(
                    "1985-03-14",
                    Manufactured,
                    None,
                    Some(HolderCategory::Manufacturer),
                ),
                ev("1985-09-19", Exported, Some("NG"), None),
            ],
        ),
        (
            "NG",
            vec![
                ev(
                    "1985",
                    Imported,
                    Some("DE"),
                    Some(HolderCategory::StatePolice),
                ),
                ev(
                    "1985-12-01",
                    Transferred,
                    None,
                    Some(HolderCategory::StateMilitary),
                ),
                ev("1991-07", Stolen, None, Some(HolderCategory::StateMilitary)),
                ev("1991-07-02", Seized, None, None),
            ],
        ),
    ]);
    assert_eq!(
        chain,
        [
            "manufactured@1985-03-14@DE",
            "exported@1985-09-19@DE",
            "imported@1985@NG",
            "transferred@1985-12-01@NG",
            "stolen@1991-07@NG",
            "seized@1991-07-02@NG",
        ]
    );
}

#[test]
fn partial_dates_keep_their_form_and_fix_the_point_of_diversion() {
    use EventKind::*;
    let a = hit(vec![
        ev(
            "1979",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev(
            "1980-02",
            Transferred,
            None,
            Some(HolderCategory::StatePolice),
        ),
        ev("1992", Lost, None, None),
    ]);
    let answers = [AnswerInput {
        index: Some(0),
        state: cc("CZ"),
        outcome: &a,
    }];
    let answered = [cc("CZ")].into_iter().collect();
    let k = assemble(&answers, &answered, &[], &Wanted::default());
    let d = k.diversion.clone().unwrap();
    assert_eq!(d.last_lawful_holder, Some(HolderCategory::StatePolice));
    let text = k.to_text();
    assert!(text.contains("    1979        manufactured"), "{text}");
    assert!(text.contains("    1980-02     transferred"), "{text}");
    assert!(text.contains("lost in 1992"), "{text}");
    assert!(
        !text.contains("1992-01-01") && !text.contains("1979-01-01"),
        "{text}"
    );
    let json = serde_json::to_value(&k).unwrap();
    assert_eq!(json["chain"][0]["date"], "1979", "{json}");
    assert_eq!(json["diversion"]["event"]["date"], "1992", "{json}");
    let back: Custody = serde_json::from_value(json).unwrap();
    assert_eq!(back, k);
}

#[test]
fn a_year_and_the_months_in_it_from_several_states_order_the_same_way() {
    use EventKind::*;
    // Same year, every precision, from three States: coarsest placed first,
    // then by natural order within the period.
    let chain = mixed_chain(&[
        (
            "DE",
            vec![
                ev("2001", Manufactured, None, None),
                ev("2001-06", Exported, Some("NG"), None),
            ],
        ),
        (
            "NG",
            vec![
                ev("2001-06-20", Imported, Some("DE"), None),
                ev("2001", Stolen, None, None),
            ],
        ),
        ("GH", vec![ev("2001-11", Seized, None, None)]),
    ]);
    assert_eq!(
        chain,
        [
            "manufactured@2001@DE",
            "exported@2001-06@DE",
            "imported@2001-06-20@NG",
            "stolen@2001@NG",
            "seized@2001-11@GH",
        ]
    );
}

/// A member answering with a record of another serial (claimed `exact`)
/// moves neither the point of diversion nor the follow-ups: its record is
/// listed last, flagged, and a gap says so (the second hostile review:
/// "lost in 1901" took the point of diversion from the real theft, and
/// exports to FR, GB and ZA became follow-ups, telling them the marking).
#[test]
fn a_record_of_another_serial_is_listed_not_built_on() {
    use EventKind::*;
    let real = hit(vec![
        ev(
            "2010-01-01",
            Manufactured,
            None,
            Some(HolderCategory::Manufacturer),
        ),
        ev(
            "2015-05-05",
            Stolen,
            None,
            Some(HolderCategory::StatePolice),
        ),
    ]);
    let mut other = hit(vec![
        ev("1900-01-01", Exported, Some("FR"), None),
        ev("1900-02-01", Exported, Some("GB"), None),
        ev("1900-03-01", Exported, Some("ZA"), None),
        ev("1901-01-01", Lost, None, Some(HolderCategory::Unknown)),
    ]);
    if let Outcome::Hit { candidates } = &mut other {
        candidates[0].record.marking = Marking::new("Walther", cc("DE"), "XX99999").unwrap();
    }
    let answers = [
        AnswerInput {
            index: Some(0),
            state: cc("NG"),
            outcome: &real,
        },
        AnswerInput {
            index: Some(1),
            state: cc("KE"),
            outcome: &other,
        },
    ];
    let answered = [cc("NG"), cc("KE")].into_iter().collect();
    let wanted = Wanted {
        serial: Some(crate::marking::SerialQuery::parse("WP1").unwrap()),
        ..Wanted::default()
    };
    let k = assemble(&answers, &answered, &[], &wanted);
    let d = k.diversion.expect("the real theft");
    assert_eq!(d.last_lawful_state, cc("NG"), "{d:?}");
    assert!(k.follow_up.is_empty(), "{:?}", k.follow_up);
    assert!(k.chain.iter().all(|l| l.state == cc("NG")), "{:?}", k.chain);
    assert!(
        k.gaps.contains(&Gap::Mismatch { state: cc("KE") }),
        "{:?}",
        k.gaps
    );
    let last = k.candidates.last().unwrap();
    assert_eq!((last.state, last.serial_matches), (cc("KE"), false));
    assert!(k.candidates[0].serial_matches);
    // Without the serial to check against (an older stored trace's view),
    // every record is taken to match, as before.
    let k = assemble(&answers, &answered, &[], &Wanted::default());
    assert!(!k.follow_up.is_empty());
    // A look-alike reading (B for 8) or a wildcard still matches.
    let wanted = Wanted {
        serial: Some(crate::marking::SerialQuery::parse("XX9999?").unwrap()),
        ..Wanted::default()
    };
    let k = assemble(&answers, &answered, &[], &wanted);
    assert!(k.gaps.contains(&Gap::Mismatch { state: cc("NG") }));
    assert!(!k.gaps.contains(&Gap::Mismatch { state: cc("KE") }));
}
