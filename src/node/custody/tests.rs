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
        date: Date::parse(date).unwrap(),
        counterpart: cp.map(cc),
        holder,
    }
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
    assert_eq!(k.gaps, vec![Gap::Withheld { state: cc("NG") }]);
    assert!(k.follow_up.is_empty());
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
        (cc("DE"), None),
        (cc("NG"), Some("disconnected".to_string())),
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
                reason: "disconnected".into()
            }
        ]
    );
    assert!(k.to_text().contains("DE has not answered"));
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
    let answered = [cc("DE"), cc("NG")].into_iter().collect();
    let k = assemble(&answers, &answered, &[], &Wanted::default());
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
    let k = assemble(
        &answers[..1],
        &[cc("DE")].into_iter().collect(),
        &[],
        &Wanted::default(),
    );
    assert!(k.last_recorded.is_none());
}
