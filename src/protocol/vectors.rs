//! The fixed key and messages of PROTOCOL.md's test vectors. Public so that the
//! test suite, the benchmark and the fuzz corpus all start from the same bytes.

use super::keys::{Digest, QueryId, SigningKey};
use super::messages::{
    Candidate, EventProjection, IntendedUse, LegalGround, Outcome, Party, Priority, Quality,
    RecordProjection, TraceAnswer, TraceQuery,
};
use crate::marking::{ImportMark, Marking, MarkingFields};
use crate::model::{
    Calibre, CountryCode, EventDate, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// The requester's seed in the vectors (State NG).
pub const REQUESTER_SEED: [u8; 32] = [7u8; 32];
/// The responder's seed in the vectors (State DE).
pub const RESPONDER_SEED: [u8; 32] = [9u8; 32];
/// 2025-01-01T00:00:00Z.
pub const ISSUED_AT: u64 = 1_735_689_600;

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap_or_else(|_| unreachable!("constant country code"))
}

fn date(s: &str) -> EventDate {
    EventDate::parse(s).unwrap_or_else(|_| unreachable!("constant date"))
}

pub fn requester_key() -> SigningKey {
    SigningKey::from_seed(&REQUESTER_SEED).unwrap_or_else(|_| unreachable!("constant seed"))
}

pub fn responder_key() -> SigningKey {
    SigningKey::from_seed(&RESPONDER_SEED).unwrap_or_else(|_| unreachable!("constant seed"))
}

pub fn marking() -> Marking {
    Marking::new("Walther", cc("DE"), "BP0746")
        .and_then(|m| m.with_year(Some(2009)))
        .and_then(|m| {
            m.with_imports(vec![ImportMark {
                country: cc("NG"),
                year: Some(2010),
            }])
        })
        .unwrap_or_else(|_| unreachable!("constant marking"))
}

/// The query of vector 1: NG asks about a Walther pistol.
pub fn query() -> TraceQuery {
    TraceQuery {
        id: QueryId([0x11; 16]),
        requester: Party {
            state: cc("NG"),
            key: requester_key().public_key(),
        },
        issued_at: ISSUED_AT,
        ttl_secs: 3600,
        priority: Priority::Urgent,
        marking: marking(),
        category: WeaponCategory::Pistol,
        calibre: Calibre::parse("9x19mm").ok(),
        legal_ground: LegalGround::SeizedInCrime,
        intended_use: IntendedUse::CriminalInvestigation,
        // The vectors of builds before the field keep their bytes.
        makers_version: None,
        directed_only: false,
        served: None,
    }
}

/// The query of vector 4: vector 1's query stating that the requester
/// resolved the maker with signed maker reference table version 3.
pub fn query_with_table() -> TraceQuery {
    TraceQuery {
        makers_version: Some(3),
        directed_only: false,
        ..query()
    }
}

/// The query of vector 9: vector 4's, sent only directly to chosen
/// holders (field 13, a blind trace's).
pub fn query_directed() -> TraceQuery {
    TraceQuery {
        directed_only: true,
        ..query_with_table()
    }
}

/// The query of vector 10: vector 4's, naming DE and GH as the States its
/// requester handed it to (field 14).
pub fn query_served() -> TraceQuery {
    TraceQuery {
        served: super::ServedStates::new([cc("GH"), cc("DE")]),
        ..query_with_table()
    }
}

/// A record projection with three events: made, exported, stolen.
pub fn projection() -> RecordProjection {
    projection_dated(["2009-03-14", "2010-02-01", "2015-07-20"])
}

/// The record projection of [`projection`] with its three events dated as
/// given (a day, a month or a year each).
fn projection_dated(dates: [&str; 3]) -> RecordProjection {
    let ev = |kind, d, counterpart: Option<&str>, holder| EventProjection {
        kind,
        date: date(d),
        counterpart: counterpart.map(cc),
        holder,
    };
    RecordProjection {
        marking: marking(),
        category: WeaponCategory::Pistol,
        model: ModelName::parse("P99").ok(),
        calibre: Calibre::parse("9x19mm").ok(),
        events: vec![
            ev(
                EventKind::Manufactured,
                dates[0],
                None,
                Some(HolderCategory::Manufacturer),
            ),
            ev(
                EventKind::Exported,
                dates[1],
                Some("NG"),
                Some(HolderCategory::StatePolice),
            ),
            ev(
                EventKind::Stolen,
                dates[2],
                None,
                Some(HolderCategory::StatePolice),
            ),
        ],
    }
}

/// The answer of vector 2: DE's hit, bound to the query of vector 1 by `query_digest`.
pub fn answer(query_digest: Digest) -> TraceAnswer {
    TraceAnswer {
        query: query_digest,
        responder: Party {
            state: cc("DE"),
            key: responder_key().public_key(),
        },
        answered_at: ISSUED_AT + 5,
        outcome: Outcome::Hit {
            candidates: vec![Candidate {
                quality: Quality::Exact,
                record: projection(),
            }],
        },
        makers_version: None,
    }
}

/// The answer of vector 5: vector 2's hit, bound to the query of vector 4,
/// from a responder whose maker reference table is the one built into its
/// release (version 0).
pub fn answer_with_table(query_digest: Digest) -> TraceAnswer {
    TraceAnswer {
        makers_version: Some(0),
        ..answer(query_digest)
    }
}

/// The answer of vector 3: vector 2's hit with dates of each precision, as a
/// registry that knows the year of manufacture (`2009`) and the month of
/// export (`2010-02`) answers, or as a `month`/`year` disclosure reduces them.
pub fn answer_partial_dates(query_digest: Digest) -> TraceAnswer {
    TraceAnswer {
        outcome: Outcome::Hit {
            candidates: vec![Candidate {
                quality: Quality::Exact,
                record: projection_dated(["2009", "2010-02", "2015-07-20"]),
            }],
        },
        ..answer(query_digest)
    }
}

/// The marking of the factory-code vectors: a rifle marked only with factory
/// code 66 in a triangle, made in CN, serial `56-1234567`, no maker named.
pub fn factory_marking() -> Marking {
    Marking::try_from(MarkingFields {
        manufacturer: String::new(),
        country: cc("CN"),
        serial: "56-1234567".into(),
        year: None,
        factory_code: Some("66".into()),
        imports: Vec::new(),
    })
    .unwrap_or_else(|_| unreachable!("constant marking"))
}

/// The query of the factory-code vector: NG asks by factory code alone, for
/// an assault rifle read `561234567`.
pub fn factory_query() -> TraceQuery {
    TraceQuery {
        id: QueryId([0x22; 16]),
        marking: factory_marking(),
        priority: Priority::Routine,
        category: WeaponCategory::AssaultRifle,
        calibre: Calibre::parse("7.62x39mm").ok(),
        ..query()
    }
}

/// The answer of the factory-code vector: DE's hit on a record whose serial
/// carries a letter between digits (`56-12M34567`), matched by the NCIC rule.
pub fn factory_answer(query_digest: Digest) -> TraceAnswer {
    let marking = Marking::try_from(MarkingFields {
        serial: "56-12M34567".into(),
        ..factory_marking().into()
    })
    .unwrap_or_else(|_| unreachable!("constant marking"));
    TraceAnswer {
        outcome: Outcome::Hit {
            candidates: vec![Candidate {
                quality: Quality::EmbeddedLetters,
                record: RecordProjection {
                    marking,
                    category: WeaponCategory::AssaultRifle,
                    model: None,
                    calibre: None,
                    events: Vec::new(),
                },
            }],
        },
        ..answer(query_digest)
    }
}
