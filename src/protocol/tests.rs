//! Property tests of the acceptance rules, and the test vectors of PROTOCOL.md,
//! read out of the document itself so that the two cannot drift apart.

use proptest::prelude::*;

use super::vectors::{self, ISSUED_AT};
use super::*;

const PROTOCOL_MD: &str = include_str!("../../proto-docs/PROTOCOL.md");

/// The hex in the fenced block that follows `<!-- vector NAME -->` in PROTOCOL.md.
fn doc_vector(name: &str) -> String {
    let marker = format!("<!-- vector {name} -->");
    let start = PROTOCOL_MD
        .find(&marker)
        .unwrap_or_else(|| panic!("PROTOCOL.md lacks {marker}"));
    let rest = &PROTOCOL_MD[start + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open + 3..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("```").expect("closing fence");
    body[..close].split_whitespace().collect()
}

/// A roster listing the vectors' requester and responder, valid until `until`.
pub(super) struct TestRoster {
    pub members: Vec<(PublicKey, crate::model::CountryCode)>,
    pub until: u64,
}

impl Vouching for TestRoster {
    fn state_of(&self, key: &PublicKey) -> Option<crate::model::CountryCode> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, s)| *s)
    }
    fn valid_until(&self) -> u64 {
        self.until
    }
}

pub(super) fn vectors_roster() -> TestRoster {
    let q = vectors::query();
    let a = vectors::answer(Digest::of(b""));
    TestRoster {
        members: vec![
            (q.requester.key, q.requester.state),
            (a.responder.key, a.responder.state),
        ],
        until: u64::MAX,
    }
}

/// The node's order: the stateless rules, then the replay quota.
fn accept_query(
    bytes: &[u8],
    now: u64,
    rules: &Rules,
    replay: &mut ReplayQuotas,
) -> Result<Signed<TraceQuery>, Refusal> {
    let (q, expires) = accept::query(bytes, Via::Gossip, now, rules, &vectors_roster())?;
    replay
        .remember(q.body().requester.state, q.body().id, expires, now)
        .map_err(|_| Refusal::Replayed)?;
    Ok(q)
}

fn signed_query() -> Signed<TraceQuery> {
    sign(vectors::query(), &vectors::requester_key()).unwrap()
}

fn signed_answer(q: &Signed<TraceQuery>) -> Signed<TraceAnswer> {
    sign(vectors::answer(q.digest()), &vectors::responder_key()).unwrap()
}

/// Every figure the document gives, computed from the fixed messages.
fn computed_vectors() -> Vec<(&'static str, String)> {
    let q = signed_query();
    let a = signed_answer(&q);
    let (qm, qs) = q.bytes().split_at(q.bytes().len() - SIGNATURE_LEN);
    let (am, as_) = a.bytes().split_at(a.bytes().len() - SIGNATURE_LEN);
    let p = sign(
        vectors::answer_partial_dates(q.digest()),
        &vectors::responder_key(),
    )
    .unwrap();
    let (pm, ps) = p.bytes().split_at(p.bytes().len() - SIGNATURE_LEN);
    let tq = sign(vectors::query_with_table(), &vectors::requester_key()).unwrap();
    let ta = sign(
        vectors::answer_with_table(tq.digest()),
        &vectors::responder_key(),
    )
    .unwrap();
    let (tqm, tqs) = tq.bytes().split_at(tq.bytes().len() - SIGNATURE_LEN);
    let (tam, tas) = ta.bytes().split_at(ta.bytes().len() - SIGNATURE_LEN);
    let fq = sign(vectors::factory_query(), &vectors::requester_key()).unwrap();
    let fa = sign(
        vectors::factory_answer(fq.digest()),
        &vectors::responder_key(),
    )
    .unwrap();
    let (fqm, _) = fq.bytes().split_at(fq.bytes().len() - SIGNATURE_LEN);
    let (fam, _) = fa.bytes().split_at(fa.bytes().len() - SIGNATURE_LEN);
    let dq = sign(vectors::query_directed(), &vectors::requester_key()).unwrap();
    let (dqm, dqs) = dq.bytes().split_at(dq.bytes().len() - SIGNATURE_LEN);
    let sq = sign(vectors::query_served(), &vectors::requester_key()).unwrap();
    let (sqm, sqs) = sq.bytes().split_at(sq.bytes().len() - SIGNATURE_LEN);
    vec![
        (
            "requester-public-key",
            vectors::requester_key().public_key().to_hex(),
        ),
        (
            "responder-public-key",
            vectors::responder_key().public_key().to_hex(),
        ),
        ("query-message", hex::encode(qm)),
        ("query-signature", hex::encode(qs)),
        ("query-digest", q.digest().to_hex()),
        ("answer-message", hex::encode(am)),
        ("answer-signature", hex::encode(as_)),
        ("answer-partial-dates-message", hex::encode(pm)),
        ("answer-partial-dates-signature", hex::encode(ps)),
        ("query-table-message", hex::encode(tqm)),
        ("query-table-signature", hex::encode(tqs)),
        ("query-table-digest", tq.digest().to_hex()),
        ("answer-table-message", hex::encode(tam)),
        ("answer-table-signature", hex::encode(tas)),
        ("factory-query-message", hex::encode(fqm)),
        ("factory-answer-message", hex::encode(fam)),
        ("query-directed-message", hex::encode(dqm)),
        ("query-directed-signature", hex::encode(dqs)),
        ("query-served-message", hex::encode(sqm)),
        ("query-served-signature", hex::encode(sqs)),
    ]
}

/// A frame of the document, signature included.
fn doc_frame(message: &str, signature: &str) -> Vec<u8> {
    let mut f = hex::decode(doc_vector(message)).unwrap();
    f.extend(hex::decode(doc_vector(signature)).unwrap());
    f
}

/// Frames of builds before `makers_version` (vectors 1 to 3) still decode
/// and verify, stating no table; frames with it (vectors 4 and 5) carry it
/// as one more field at the end, and nothing else changes.
#[test]
fn frames_without_the_table_version_still_verify() {
    let l = Limits::default();
    let q =
        decode_and_verify::<TraceQuery>(&doc_frame("query-message", "query-signature"), l).unwrap();
    assert_eq!(q.body().makers_version, None);
    assert_eq!(q.body(), &vectors::query());
    for (m, s) in [
        ("answer-message", "answer-signature"),
        (
            "answer-partial-dates-message",
            "answer-partial-dates-signature",
        ),
    ] {
        let a = decode_and_verify::<TraceAnswer>(&doc_frame(m, s), l).unwrap();
        assert_eq!(a.body().makers_version, None, "{m}");
    }
    let tq = decode_and_verify::<TraceQuery>(
        &doc_frame("query-table-message", "query-table-signature"),
        l,
    )
    .unwrap();
    assert_eq!(tq.body().makers_version, Some(3));
    let ta = decode_and_verify::<TraceAnswer>(
        &doc_frame("answer-table-message", "answer-table-signature"),
        l,
    )
    .unwrap();
    assert_eq!(ta.body().makers_version, Some(0));
    assert_eq!(ta.body().query, tq.digest());
    // The field is the only difference: the old message and one byte (3).
    let old = hex::decode(doc_vector("query-message")).unwrap();
    let new = hex::decode(doc_vector("query-table-message")).unwrap();
    assert_eq!([&old[..], &[3]].concat(), new);
}

/// Vectors 9 and 10 decode and verify as the queries they were made from,
/// and each is vector 4's message plus its field: `01` (directed only), or
/// `02`, the count and the States served in ascending order.
#[test]
fn the_directed_and_served_vectors_append_their_field_to_vector_4() {
    let l = Limits::default();
    let d = decode_and_verify::<TraceQuery>(
        &doc_frame("query-directed-message", "query-directed-signature"),
        l,
    )
    .unwrap();
    assert_eq!(d.body(), &vectors::query_directed());
    let s = decode_and_verify::<TraceQuery>(
        &doc_frame("query-served-message", "query-served-signature"),
        l,
    )
    .unwrap();
    assert_eq!(s.body(), &vectors::query_served());
    let table = hex::decode(doc_vector("query-table-message")).unwrap();
    assert_eq!(
        hex::decode(doc_vector("query-directed-message")).unwrap(),
        [&table[..], &[1]].concat()
    );
    assert_eq!(
        hex::decode(doc_vector("query-served-message")).unwrap(),
        [&table[..], &[2, 2, 2, b'D', b'E', 2, b'G', b'H']].concat()
    );
}

/// Whatever follows the body but a whole table version is refused, as any
/// trailing bytes always were; the error is the current shape's.
#[test]
fn a_broken_table_version_is_malformed() {
    let q = vectors::query();
    let old = codec::encode_body(Kind::Query, &q).unwrap();
    let decode = |tail: &[u8]| {
        let bytes = [&old[..], tail].concat();
        <TraceQuery as Message>::decode(&bytes, Limits::default())
    };
    assert_eq!(decode(&[]).unwrap().makers_version, None);
    assert_eq!(decode(&[7]).unwrap().makers_version, Some(7));
    assert_eq!(
        decode(&[0xfc, 0xff, 0xff, 0xff, 0xff])
            .unwrap()
            .makers_version,
        Some(u32::MAX)
    );
    for tail in [
        &[7, 0][..],
        &[0xfc, 0xff][..],
        &[0xfd, 1, 0, 0, 0, 0, 0, 0, 0][..],
        &[0xfb][..],
    ] {
        assert!(decode(tail).is_err(), "{tail:?}");
    }
    // In JSON, a number or null; a document without it states none.
    let mut with = q.clone();
    with.makers_version = Some(2);
    let v = serde_json::to_value(&with).unwrap();
    assert_eq!(v["makers_version"], 2);
    assert!(serde_json::to_value(&q).unwrap()["makers_version"].is_null());
    let mut m = v.as_object().unwrap().clone();
    m.remove("makers_version");
    let back: TraceQuery = serde_json::from_value(serde_json::Value::Object(m)).unwrap();
    assert_eq!(back.makers_version, None);
}

/// A query frame's body as this build reads it.
fn decode(bytes: &[u8]) -> Result<TraceQuery, DecodeError> {
    <TraceQuery as Message>::decode(bytes, Limits::default())
}

/// A query frame's body as a build before `directed_only` reads it.
fn old_build(bytes: &[u8]) -> Result<super::messages::QueryBeforeDirected, DecodeError> {
    codec::decode_body::<super::messages::QueryBeforeDirected>(
        Kind::Query,
        bytes,
        Limits::default(),
    )
}

/// `directed_only` is one trailing byte 1 after the table version, and
/// nothing when unset: every query not directed only encodes as before
/// (the vectors above are unchanged), one that is decodes as it, and any
/// other trailing byte is malformed. In JSON, a boolean, absent when false.
#[test]
fn directed_only_is_one_trailing_byte_and_absent_otherwise() {
    let mut q = vectors::query();
    q.makers_version = Some(3);
    let plain = codec::encode_body(Kind::Query, &q).unwrap();
    let mut d = q.clone();
    d.directed_only = true;
    let directed = codec::encode_body(Kind::Query, &d).unwrap();
    assert_eq!([&plain[..], &[1]].concat(), directed);
    assert_eq!(decode(&directed).unwrap(), d);
    assert_eq!(decode(&plain).unwrap(), q);
    // A build before the field reads the directed-only frame as malformed
    // (its trailing byte), never as a query it may pass on by gossip; it
    // reads every other query as it did.
    assert!(
        matches!(
            old_build(&directed),
            Err(DecodeError::TrailingBytes(1, Kind::Query))
        ),
        "an old build reads the directed-only byte as one byte too many"
    );
    assert!(old_build(&plain).is_ok());
    for tail in [&[0][..], &[2][..], &[1, 1][..]] {
        let bytes = [&plain[..], tail].concat();
        assert!(decode(&bytes).is_err(), "{tail:?}");
    }
    // The frame of a build before the table version still reads.
    let mut old = q.clone();
    old.makers_version = None;
    let before = codec::encode_body(Kind::Query, &old).unwrap();
    assert_eq!(decode(&before).unwrap(), old);
    // JSON.
    assert_eq!(serde_json::to_value(&d).unwrap()["directed_only"], true);
    assert!(
        serde_json::to_value(&q)
            .unwrap()
            .get("directed_only")
            .is_none()
    );
    let back: TraceQuery = serde_json::from_value(serde_json::to_value(&q).unwrap()).unwrap();
    assert!(!back.directed_only);
    let back: TraceQuery = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
    assert!(back.directed_only);
    // Without a table version it would read as table 1: not signed.
    let mut bad = d.clone();
    bad.makers_version = None;
    assert!(sign(bad, &vectors::requester_key()).is_err());
}

/// `served` (field 14) is the byte 2 after the table version, then the
/// States in ascending order, each once; nothing when unstated, so every
/// other query encodes as before. A build before it reads such a frame as
/// malformed (trailing bytes); a list out of order, repeated or empty, and
/// any tag but 1 or 2, are malformed. Never with `directed_only` or without
/// a table version (signing refuses both). In JSON, a list, absent when
/// unstated.
#[test]
fn served_is_a_tagged_list_after_the_table_version_and_absent_otherwise() {
    let cc = |s: &str| s.parse::<crate::model::CountryCode>().unwrap();
    let mut q = vectors::query();
    q.makers_version = Some(3);
    let plain = codec::encode_body(Kind::Query, &q).unwrap();
    let mut s = q.clone();
    s.served = ServedStates::new([cc("NG"), cc("DE"), cc("FR"), cc("DE")]);
    assert_eq!(
        s.served.as_ref().unwrap().states(),
        &[cc("DE"), cc("FR"), cc("NG")],
        "sorted, each once"
    );
    let served = codec::encode_body(Kind::Query, &s).unwrap();
    assert_eq!(
        [
            &plain[..],
            &[2, 3, 2, b'D', b'E', 2, b'F', b'R', 2, b'N', b'G']
        ]
        .concat(),
        served
    );
    assert_eq!(decode(&served).unwrap(), s);
    assert_eq!(decode(&plain).unwrap(), q);
    assert!(matches!(
        old_build(&served),
        Err(DecodeError::TrailingBytes(11, Kind::Query))
    ));
    for tail in [
        &[2, 2, 2, b'F', b'R', 2, b'D', b'E'][..], // out of order
        &[2, 2, 2, b'D', b'E', 2, b'D', b'E'][..], // twice
        &[2, 0][..],                               // empty
        &[2][..],                                  // no list
        &[3, 1, 2, b'D', b'E'][..],                // an unknown tag
        &[1, 1, 2, b'D', b'E'][..],                // directed only, then a list
        &[2, 1, 2, b'D', b'E', 0][..],             // a byte after the list
        &[2, 1, 2, b'1', b'2'][..],                // not a country code
    ] {
        let bytes = [&plain[..], tail].concat();
        assert!(decode(&bytes).is_err(), "{tail:?}");
    }
    assert!(ServedStates::new([]).is_none());
    // Signed and verified as any query.
    let key = vectors::requester_key();
    let frame = sign(s.clone(), &key).unwrap();
    let back = decode_and_verify::<TraceQuery>(frame.bytes(), Limits::default()).unwrap();
    assert_eq!(back.body().served, s.served);
    // Never beside directed_only, never without a table version.
    let mut both = s.clone();
    both.directed_only = true;
    assert!(sign(both, &key).is_err());
    let mut untabled = s.clone();
    untabled.makers_version = None;
    assert!(sign(untabled, &key).is_err());
    // JSON.
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["served"], serde_json::json!(["DE", "FR", "NG"]));
    assert!(serde_json::to_value(&q).unwrap().get("served").is_none());
    let back: TraceQuery = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
    let mut m = serde_json::to_value(&s).unwrap();
    m["served"] = serde_json::json!(["NG", "DE"]);
    assert!(serde_json::from_value::<TraceQuery>(m).is_err());
}

#[test]
fn protocol_md_vectors_match_the_implementation() {
    for (name, value) in computed_vectors() {
        assert_eq!(doc_vector(name), value, "vector {name} in PROTOCOL.md");
    }
}

/// `cargo test print_vectors -- --ignored --nocapture` prints the vectors to
/// paste into PROTOCOL.md after a deliberate wire change.
#[test]
#[ignore]
fn print_vectors() {
    for (name, value) in computed_vectors() {
        println!("{name}:");
        for chunk in value.as_bytes().chunks(64) {
            println!("{}", String::from_utf8_lossy(chunk));
        }
    }
}

#[test]
fn signed_messages_round_trip() {
    let q = signed_query();
    let back = decode_and_verify::<TraceQuery>(q.bytes(), Limits::default()).unwrap();
    assert_eq!(back.body(), q.body());
    assert_eq!(back.signer(), vectors::requester_key().public_key());
    let a = signed_answer(&q);
    let back = decode_and_verify::<TraceAnswer>(a.bytes(), Limits::default()).unwrap();
    assert_eq!(back.body(), a.body());
}

#[test]
fn a_query_is_not_an_answer() {
    let q = signed_query();
    let err = decode_and_verify::<TraceAnswer>(q.bytes(), Limits::default()).unwrap_err();
    assert!(
        matches!(err, VerifyError::Decode(DecodeError::WrongKind { .. })),
        "{err}"
    );
}

#[test]
fn signing_with_a_key_the_body_does_not_name_is_refused() {
    let err = sign(vectors::query(), &vectors::responder_key()).unwrap_err();
    assert!(matches!(err, EncodeError::WrongKey { .. }));
}

#[test]
fn bounds_are_enforced_both_ways() {
    let q = signed_query();
    let mut a = vectors::answer(q.digest());
    a.outcome = Outcome::Hit { candidates: vec![] };
    assert!(matches!(
        sign(a.clone(), &vectors::responder_key()),
        Err(EncodeError::Bounds(_))
    ));
    let c = Candidate {
        quality: Quality::Folded,
        record: vectors::projection(),
    };
    a.outcome = Outcome::Hit {
        candidates: vec![c; MAX_CANDIDATES + 1],
    };
    assert!(sign(a, &vectors::responder_key()).is_err());
}

/// The vectors' query under another id: another digest.
fn another_query() -> Signed<TraceQuery> {
    let mut other = vectors::query();
    other.id = QueryId([0x22; 16]);
    sign(other, &vectors::requester_key()).unwrap()
}

#[test]
fn an_answer_replayed_against_another_query_is_refused() {
    let (q1, q2) = (signed_query(), another_query());
    let a = signed_answer(&q1);
    let r = Rules::default();
    let asked = accept::AskedQuery::of;
    let roster = vectors_roster();
    assert!(accept::answer(a.bytes(), asked(&q1), None, ISSUED_AT + 10, &r, &roster).is_ok());
    let err = accept::answer(a.bytes(), asked(&q2), None, ISSUED_AT + 10, &r, &roster).unwrap_err();
    assert_eq!(err, Refusal::UnknownTrace);
}

/// An answer read once to find its trace (`UnreadAnswer`) is checked as
/// `accept::answer` checks the bytes: the same verdicts, its signature
/// checked exactly once, a tampered frame refused, a frame of another kind
/// malformed.
#[test]
fn an_answer_read_first_is_checked_as_its_bytes_are() {
    let (q1, q2) = (signed_query(), another_query());
    let a = signed_answer(&q1);
    let r = Rules::default();
    let roster = vectors_roster();
    let read = |b: &[u8]| accept::UnreadAnswer::read(b, r.limits);
    assert_eq!(read(a.bytes()).unwrap().query(), q1.digest());
    let before = super::signed::verified_on_this_thread();
    let got = accept::answer_read(
        read(a.bytes()).unwrap(),
        accept::AskedQuery::of(&q1),
        None,
        ISSUED_AT + 10,
        &r,
        &roster,
    )
    .unwrap();
    assert_eq!(got.bytes(), a.bytes());
    assert_eq!(super::signed::verified_on_this_thread() - before, 1);
    for (bytes, asked, want) in [
        (a.bytes().to_vec(), &q2, Refusal::UnknownTrace),
        (
            {
                let mut t = a.bytes().to_vec();
                *t.last_mut().unwrap() ^= 1;
                t
            },
            &q1,
            Refusal::BadSignature,
        ),
    ] {
        let asked = accept::AskedQuery::of(asked);
        let whole = accept::answer(&bytes, asked, None, ISSUED_AT + 10, &r, &roster);
        let first = accept::answer_read(
            read(&bytes).unwrap(),
            asked,
            None,
            ISSUED_AT + 10,
            &r,
            &roster,
        );
        assert_eq!(whole.unwrap_err(), want);
        assert_eq!(first.unwrap_err(), want);
    }
    assert_eq!(read(q1.bytes()).unwrap_err(), Refusal::Malformed);
}

#[test]
fn a_query_by_factory_code_and_its_embedded_letters_answer_are_accepted() {
    let q = sign(vectors::factory_query(), &vectors::requester_key()).unwrap();
    let got = accept_query(
        q.bytes(),
        ISSUED_AT,
        &Rules::default(),
        &mut ReplayQuotas::new(10),
    )
    .unwrap();
    assert_eq!(got.body().marking.manufacturer(), "");
    assert_eq!(got.body().marking.factory_code(), Some("66"));
    let a = sign(
        vectors::factory_answer(q.digest()),
        &vectors::responder_key(),
    )
    .unwrap();
    let asked = accept::AskedQuery::of(&q);
    let r = Rules::default();
    let got = accept::answer(
        a.bytes(),
        asked,
        None,
        ISSUED_AT + 10,
        &r,
        &vectors_roster(),
    )
    .unwrap();
    let Outcome::Hit { candidates } = &got.body().outcome else {
        panic!("a hit");
    };
    assert_eq!(candidates[0].quality, Quality::EmbeddedLetters);
}

#[test]
fn qualities_keep_their_wire_positions_and_rank_by_merit() {
    // Appended variants: the first three keep positions 0 to 2.
    let pos = |q: Quality| crate::codec::to_bytes(&q).unwrap();
    assert_eq!(pos(Quality::Exact), [0]);
    assert_eq!(pos(Quality::Folded), [1]);
    assert_eq!(pos(Quality::Wildcard), [2]);
    assert_eq!(pos(Quality::Transliterated), [3]);
    assert_eq!(pos(Quality::EmbeddedLetters), [4]);
    let mut all = vec![
        Quality::Wildcard,
        Quality::EmbeddedLetters,
        Quality::Transliterated,
        Quality::Folded,
        Quality::Exact,
    ];
    all.sort();
    assert_eq!(
        all,
        [
            Quality::Exact,
            Quality::Folded,
            Quality::Transliterated,
            Quality::EmbeddedLetters,
            Quality::Wildcard
        ]
    );
}

fn arb_query() -> impl Strategy<Value = TraceQuery> {
    (
        any::<[u8; 16]>(),
        1u32..86_400,
        any::<bool>(),
        0usize..7,
        0usize..5,
    )
        .prop_map(|(id, ttl, urgent, g, u)| {
            let mut q = vectors::query();
            q.id = QueryId(id);
            q.ttl_secs = ttl;
            q.priority = if urgent {
                Priority::Urgent
            } else {
                Priority::Routine
            };
            q.legal_ground = LegalGround::ALL[g];
            q.intended_use = IntendedUse::ALL[u];
            q
        })
}

proptest! {
    #[test]
    fn a_valid_query_is_always_accepted(q in arb_query(), age in 0u64..86_400) {
        let now = ISSUED_AT + age % (u64::from(q.ttl_secs) + 1);
        let s = sign(q, &vectors::requester_key()).unwrap();
        let mut g = ReplayQuotas::new(10);
        let got = accept_query(s.bytes(), now, &Rules::default(), &mut g).unwrap();
        prop_assert_eq!(got, s);
    }

    #[test]
    fn a_replayed_query_is_refused(q in arb_query()) {
        let s = sign(q, &vectors::requester_key()).unwrap();
        let (r, mut g) = (Rules::default(), ReplayQuotas::new(10));
        accept_query(s.bytes(), ISSUED_AT, &r, &mut g).unwrap();
        let err = accept_query(s.bytes(), ISSUED_AT + 1, &r, &mut g).unwrap_err();
        prop_assert_eq!(err, Refusal::Replayed);
    }

    #[test]
    fn an_expired_query_is_refused(q in arb_query(), late in 1u64..1_000_000) {
        let now = ISSUED_AT + u64::from(q.ttl_secs) + late;
        let s = sign(q, &vectors::requester_key()).unwrap();
        let err = accept_query(s.bytes(), now, &Rules::default(), &mut ReplayQuotas::new(10)).unwrap_err();
        prop_assert_eq!(err, Refusal::Expired);
    }

    #[test]
    fn a_future_dated_query_is_refused(q in arb_query(), ahead in 61u64..1_000_000) {
        let s = sign(q, &vectors::requester_key()).unwrap();
        let err = accept_query(s.bytes(), ISSUED_AT - ahead, &Rules::default(), &mut ReplayQuotas::new(10)).unwrap_err();
        prop_assert_eq!(err, Refusal::ClockSkew);
    }

    #[test]
    fn a_forged_query_is_refused(q in arb_query(), seed in any::<[u8; 32]>()) {
        prop_assume!(seed != vectors::REQUESTER_SEED);
        // The forger signs with its own key a body naming the requester's key.
        let forger = SigningKey::from_seed(&seed).unwrap();
        let mut bytes = codec::encode_body(Kind::Query, &q).unwrap();
        bytes.extend_from_slice(&sign_bytes(Kind::Query, &bytes, &forger).0);
        let err = decode_and_verify::<TraceQuery>(&bytes, Limits::default()).unwrap_err();
        prop_assert!(matches!(err, VerifyError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn any_tampered_byte_is_refused(q in arb_query(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let s = sign(q, &vectors::requester_key()).unwrap();
        let mut bytes = s.bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert!(decode_and_verify::<TraceQuery>(&bytes, Limits::default()).is_err());
        let a = signed_answer(&signed_query());
        let mut ab = a.bytes().to_vec();
        let j = pos.index(ab.len());
        ab[j] ^= flip;
        prop_assert!(decode_and_verify::<TraceAnswer>(&ab, Limits::default()).is_err());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), header in any::<bool>()) {
        let mut b = bytes;
        if header {
            b.splice(0..0, *b"TRNT\x01\x02");
        }
        let _ = decode_and_verify::<TraceAnswer>(&b, Limits::default());
        let _ = decode_and_verify::<TraceQuery>(&b, Limits::default());
    }
}

mod accept_rules {
    use super::*;

    fn roster_until(until: u64) -> TestRoster {
        TestRoster {
            until,
            ..vectors_roster()
        }
    }

    /// Only a query that verified and failed on its time comes back with the
    /// refusal: the responder may sign a refusal for it, never for the rest.
    #[test]
    fn a_query_refused_for_its_time_alone_comes_back_verified() {
        let q = signed_query();
        let r = Rules::default();
        let roster = vectors_roster();
        for (now, code) in [
            (ISSUED_AT - 300, Refusal::ClockSkew),
            (ISSUED_AT + 3601, Refusal::Expired),
        ] {
            let err = accept::query(q.bytes(), Via::Gossip, now, &r, &roster).unwrap_err();
            assert_eq!(err.refusal, code);
            assert_eq!(err.verified.as_deref(), Some(&q));
            assert!(code.refused_reason().is_some());
        }
        let long = Rules {
            fresh: crate::protocol::Freshness {
                max_ttl_secs: 60,
                ..Default::default()
            },
            ..r
        };
        let err = accept::query(q.bytes(), Via::Gossip, ISSUED_AT, &long, &roster).unwrap_err();
        assert_eq!(err.refusal, Refusal::TtlTooLong);
        assert!(err.verified.is_some());

        // Not verified: nothing comes back, and nothing may be signed.
        let third = vectors::responder_key().public_key();
        let direct = Via::Direct { sender: third };
        let late = ISSUED_AT + 3601;
        let err = accept::query(q.bytes(), direct, late, &r, &roster).unwrap_err();
        assert_eq!((err.refusal, err.verified), (Refusal::NotRequester, None));
        let mut forged = q.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let err = accept::query(&forged, Via::Gossip, late, &r, &roster).unwrap_err();
        assert_eq!((err.refusal, err.verified), (Refusal::BadSignature, None));
        let mut stranger = vectors_roster();
        stranger.members.remove(0);
        let err = accept::query(q.bytes(), Via::Gossip, late, &r, &stranger).unwrap_err();
        assert_eq!((err.refusal, err.verified), (Refusal::NotInRoster, None));
        for hostile in [
            Refusal::BadSignature,
            Refusal::NotInRoster,
            Refusal::NotRequester,
        ] {
            assert_eq!(hostile.refused_reason(), None);
        }
    }

    /// A directed query sent again (a retry, or a member re-sending one
    /// refused for its rate limit) has its signature checked once; every
    /// other check is made each time, and bytes that did not verify are
    /// checked again each time they come.
    #[test]
    fn a_frame_sent_again_has_its_signature_checked_once_and_all_else_each_time() {
        let q = signed_query();
        let r = Rules::default();
        let roster = vectors_roster();
        let frames = VerifiedFrames::new(16);
        let direct = Via::Direct {
            sender: q.body().requester.key,
        };
        let checks = verified_on_this_thread();
        for _ in 0..5 {
            let (back, _) =
                accept::query_known(q.bytes(), direct, ISSUED_AT, &r, &roster, &frames).unwrap();
            assert_eq!(back, q);
        }
        assert_eq!(verified_on_this_thread() - checks, 1);

        // Unchanged bytes, refused for everything else as before.
        let late = ISSUED_AT + 3601;
        let err = accept::query_known(q.bytes(), direct, late, &r, &roster, &frames).unwrap_err();
        assert_eq!(err.refusal, Refusal::Expired);
        assert_eq!(err.verified.as_deref(), Some(&q));
        let third = Via::Direct {
            sender: vectors::responder_key().public_key(),
        };
        let err = accept::query_known(q.bytes(), third, ISSUED_AT, &r, &roster, &frames);
        assert_eq!(err.unwrap_err().refusal, Refusal::NotRequester);
        let mut stranger = vectors_roster();
        stranger.members.remove(0);
        let err = accept::query_known(q.bytes(), direct, ISSUED_AT, &r, &stranger, &frames);
        assert_eq!(err.unwrap_err().refusal, Refusal::NotInRoster);
        let err = accept::query_known(q.bytes(), Via::Gossip, ISSUED_AT, &r, &roster, &frames);
        assert!(err.is_ok(), "{err:?}");
        assert_eq!(verified_on_this_thread() - checks, 1);

        // A forged copy is checked, and refused, every time it comes.
        let mut forged = q.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        for _ in 0..3 {
            let err = accept::query_known(&forged, direct, ISSUED_AT, &r, &roster, &frames);
            assert_eq!(err.unwrap_err().refusal, Refusal::BadSignature);
        }
        assert_eq!(verified_on_this_thread() - checks, 4);

        // Evicted, a frame is only checked again.
        let small = VerifiedFrames::new(1);
        let other = sign(
            TraceQuery {
                issued_at: ISSUED_AT + 1,
                ..q.body().clone()
            },
            &vectors::requester_key(),
        )
        .unwrap();
        for f in [&q, &other, &q] {
            accept::query_known(f.bytes(), direct, ISSUED_AT, &r, &roster, &small).unwrap();
        }
        assert_eq!(verified_on_this_thread() - checks, 7);
    }

    /// A query signed by a key no roster lists is refused `not_in_roster`
    /// before its signature is checked: a flood of throwaway keys by gossip
    /// (whose relay is not blamed for it) costs a decode each, not an
    /// Ed25519 check (a review).
    #[test]
    fn a_query_from_outside_the_roster_is_refused_before_its_signature_is_checked() {
        let q = signed_query();
        let r = Rules::default();
        let mut stranger = vectors_roster();
        stranger.members.remove(0);
        let checks = verified_on_this_thread();
        for via in [
            Via::Gossip,
            Via::Direct {
                sender: q.body().requester.key,
            },
        ] {
            let err = accept::query(q.bytes(), via, ISSUED_AT, &r, &stranger).unwrap_err();
            assert_eq!(err.refusal, Refusal::NotInRoster);
        }
        // Forged bytes from outside the roster: the same, unchecked.
        let mut forged = q.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let err = accept::query(&forged, Via::Gossip, ISSUED_AT, &r, &stranger).unwrap_err();
        assert_eq!(err.refusal, Refusal::NotInRoster);
        assert_eq!(verified_on_this_thread() - checks, 0);
        // Listed, it is checked: once, and a forged copy refused.
        let roster = vectors_roster();
        accept::query(q.bytes(), Via::Gossip, ISSUED_AT, &r, &roster).unwrap();
        let err = accept::query(&forged, Via::Gossip, ISSUED_AT, &r, &roster).unwrap_err();
        assert_eq!(err.refusal, Refusal::BadSignature);
        assert_eq!(verified_on_this_thread() - checks, 2);
    }

    #[test]
    fn a_roster_past_its_validity_vouches_for_no_one() {
        let q = signed_query();
        let r = Rules::default();
        let roster = roster_until(ISSUED_AT + 5);
        assert!(accept::query(q.bytes(), Via::Gossip, ISSUED_AT + 5, &r, &roster).is_ok());
        let late = accept::query(q.bytes(), Via::Gossip, ISSUED_AT + 6, &r, &roster);
        assert_eq!(late.unwrap_err(), Refusal::RosterExpired);
        let a = signed_answer(&q);
        let asked = accept::AskedQuery::of(&q);
        let late = accept::answer(a.bytes(), asked, None, ISSUED_AT + 6, &r, &roster);
        assert_eq!(late.unwrap_err(), Refusal::RosterExpired);
    }

    #[test]
    fn a_key_listed_for_another_state_or_not_at_all_is_refused() {
        let q = signed_query();
        let r = Rules::default();
        let mut roster = vectors_roster();
        roster.members[0].1 = crate::model::CountryCode::parse("ZA").unwrap();
        let got = accept::query(q.bytes(), Via::Gossip, ISSUED_AT, &r, &roster);
        assert_eq!(got.unwrap_err(), Refusal::NotInRoster);
        roster.members.remove(0);
        let got = accept::query(q.bytes(), Via::Gossip, ISSUED_AT, &r, &roster);
        assert_eq!(got.unwrap_err(), Refusal::NotInRoster);
    }

    #[test]
    fn a_directed_query_from_anyone_but_its_requester_is_refused() {
        let q = signed_query();
        let r = Rules::default();
        let roster = vectors_roster();
        let third = vectors::responder_key().public_key();
        let got = accept::query(
            q.bytes(),
            Via::Direct { sender: third },
            ISSUED_AT,
            &r,
            &roster,
        );
        assert_eq!(got.unwrap_err(), Refusal::NotRequester);
        let own = q.body().requester.key;
        assert!(
            accept::query(
                q.bytes(),
                Via::Direct { sender: own },
                ISSUED_AT,
                &r,
                &roster
            )
            .is_ok()
        );
    }

    /// A directed-only query (a blind trace's) is refused read from gossip,
    /// whoever published it, and accepted from its requester directly.
    #[test]
    fn a_directed_only_query_is_refused_from_gossip() {
        let mut body = signed_query().body().clone();
        body.directed_only = true;
        body.makers_version = Some(0);
        let q = sign(body, &vectors::requester_key()).unwrap();
        let r = Rules::default();
        let roster = vectors_roster();
        let got = accept::query(q.bytes(), Via::Gossip, ISSUED_AT, &r, &roster);
        assert_eq!(got.unwrap_err(), Refusal::DirectedOnly);
        assert!(Refusal::DirectedOnly.is_hostile());
        let own = q.body().requester.key;
        let got = accept::query(
            q.bytes(),
            Via::Direct { sender: own },
            ISSUED_AT,
            &r,
            &roster,
        );
        assert!(got.unwrap().0.body().directed_only);
        // The same query not directed only is taken from gossip as always.
        assert!(accept::query(signed_query().bytes(), Via::Gossip, ISSUED_AT, &r, &roster).is_ok());
    }

    #[test]
    fn an_answer_carried_by_another_member_or_dated_before_its_query_is_refused() {
        let q = signed_query();
        let a = signed_answer(&q);
        let r = Rules::default();
        let roster = vectors_roster();
        let asked = accept::AskedQuery::of(&q);
        let other = Some(q.body().requester.key);
        let got = accept::answer(a.bytes(), asked, other, ISSUED_AT + 10, &r, &roster);
        assert_eq!(got.unwrap_err(), Refusal::WrongSigner);
        // More than LATE_ANSWER_SECS before its query, whatever the
        // node's skew setting; at the bound, taken.
        let slack = crate::protocol::LATE_ANSWER_SECS;
        for (before, refused) in [(slack + 1, true), (slack, false)] {
            let later = accept::AskedQuery {
                issued_at: a.body().answered_at + before,
                ..asked
            };
            let got = accept::answer(a.bytes(), later, None, later.issued_at, &r, &roster);
            assert_eq!(
                got.err(),
                refused.then_some(Refusal::AnswerBeforeQuery),
                "{before}"
            );
        }
        // Dated more than LATE_ANSWER_SECS past the query's time-to-live:
        // refused as expired, however late it is received, whatever the
        // node's skew setting; at the bound, taken.
        let mut late = a.body().clone();
        late.answered_at = asked.issued_at + 1_000 + crate::protocol::LATE_ANSWER_SECS;
        let late = sign(late, &vectors::responder_key()).unwrap();
        for (ttl_secs, refused) in [(1_000, false), (999, true)] {
            let short = accept::AskedQuery { ttl_secs, ..asked };
            let got = accept::answer(
                late.bytes(),
                short,
                None,
                late.body().answered_at,
                &r,
                &roster,
            );
            assert_eq!(got.err(), refused.then_some(Refusal::Expired), "{ttl_secs}");
            let strict = Rules {
                fresh: crate::protocol::fresh::Freshness {
                    skew_secs: 0,
                    ..r.fresh
                },
                ..r
            };
            let got = accept::answer(
                late.bytes(),
                short,
                None,
                late.body().answered_at,
                &strict,
                &roster,
            );
            assert_eq!(got.err(), refused.then_some(Refusal::Expired), "{ttl_secs}");
        }
        // An `expired` refusal may come at any time: a holder's signed
        // refusal of a query it read past its end, a year later, is taken,
        // unless dated ahead of the receiver's clock; any other refusal
        // that late is refused as expired.
        use crate::protocol::{Outcome, RefusedReason};
        for (reason, taken) in [
            (RefusedReason::Expired, true),
            (RefusedReason::RateLimited, false),
        ] {
            let mut refusal = a.body().clone();
            refusal.outcome = Outcome::Refused {
                reason,
                retry_after_secs: 0,
            };
            refusal.answered_at = asked.issued_at + 365 * 86_400;
            let refusal = sign(refusal, &vectors::responder_key()).unwrap();
            let at = refusal.body().answered_at;
            let got = accept::answer(refusal.bytes(), asked, None, at, &r, &roster);
            assert_eq!(
                got.err(),
                (!taken).then_some(Refusal::Expired),
                "{reason:?}"
            );
            let early = at - r.fresh.skew_secs - 1;
            let got = accept::answer(refusal.bytes(), asked, None, early, &r, &roster);
            assert_eq!(got.err(), Some(Refusal::ClockSkew), "{reason:?}");
        }
        let got = accept::answer(
            b"TRNT\x01\x02junk",
            asked,
            None,
            ISSUED_AT + 10,
            &r,
            &roster,
        );
        assert_eq!(got.unwrap_err(), Refusal::Malformed);
    }

    #[test]
    fn replies_round_trip_and_garbage_is_an_error() {
        for reply in [
            Reply::Ok,
            Reply::Refused(Refusal::RateLimited),
            Reply::Answer(signed_answer(&signed_query()).bytes().to_vec()),
        ] {
            assert_eq!(Reply::decode(&reply.encode(), Limits::default()), Ok(reply));
        }
        assert!(Reply::decode(b"ok", Limits::default()).is_err());
        // The indices PROTOCOL.md section 7.1 gives.
        let wire = Reply::Refused(Refusal::NotAnswered).encode();
        assert_eq!(wire, b"TRNT\x01\x04\x01\x14");
        assert_eq!(Reply::Ok.encode(), b"TRNT\x01\x04\x00");
        assert!(Reply::decode(b"TRNT\x01\x04\xff\xff", Limits::default()).is_err());
    }
}
