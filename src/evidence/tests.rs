use super::*;
use crate::protocol::{Outcome, Party, SigningKey, sign, vectors};
use crate::roster::{Member, Role, RosterBody};

fn anchor() -> SigningKey {
    SigningKey::from_seed(&[1; 32]).unwrap()
}

fn trust() -> TrustConfig {
    TrustConfig {
        anchors: vec![anchor().public_key().to_hex()],
        threshold: 1,
    }
}

fn ghana() -> SigningKey {
    SigningKey::from_seed(&[5; 32]).unwrap()
}

/// A roster of `version` with NG and DE, and GH unless `without_gh`.
fn roster_of(version: u64, without_gh: bool) -> RosterFile {
    let m = |state: &str, name: &str, key: PublicKey| Member {
        state: state.parse().unwrap(),
        name: name.into(),
        key,
        role: Role::Member,
        prefixes: vec![],
        addresses: vec![],
        oprf_key: None,
    };
    let mut members = vec![
        m("NG", "Nigeria", vectors::requester_key().public_key()),
        m("DE", "Germany", vectors::responder_key().public_key()),
    ];
    if !without_gh {
        members.push(m("GH", "Ghana", ghana().public_key()));
    }
    let body = RosterBody {
        version,
        valid_from: Date::parse("2024-01-01").unwrap(),
        valid_until: Date::parse("2026-12-31").unwrap(),
        members,
        gossip_validation: None,
        peer_connections: None,
        served_lists: false,
    };
    let mut f = RosterFile::new(&body).unwrap();
    f.sign(&anchor()).unwrap();
    f
}

fn roster() -> RosterFile {
    roster_of(1, false)
}

/// The query, DE's hit and GH's no_hit, signed.
fn frames() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let q = sign(vectors::query(), &vectors::requester_key()).unwrap();
    let a1 = sign(vectors::answer(q.digest()), &vectors::responder_key()).unwrap();
    let mut gh = vectors::answer(q.digest());
    gh.responder = Party {
        state: "GH".parse().unwrap(),
        key: ghana().public_key(),
    };
    gh.outcome = Outcome::NoHit;
    let a2 = sign(gh, &ghana()).unwrap();
    (q.bytes().to_vec(), a1.bytes().to_vec(), a2.bytes().to_vec())
}

fn bundle() -> BundleV2 {
    let (q, a1, a2) = frames();
    match Bundle::new(&q, 1, [(&a1[..], 1), (&a2[..], 1)], [roster()]) {
        Bundle::V2(b) => b,
        Bundle::V1(_) => unreachable!("new writes the current format"),
    }
}

#[test]
fn a_genuine_bundle_verifies() {
    let r = bundle().verify(&trust());
    assert!(r.ok, "{}", r.to_text());
    let names: Vec<_> = r.parts.iter().map(|p| p.part.as_str()).collect();
    assert_eq!(
        names,
        ["roster v1", "query", "answer 1 from DE", "answer 2 from GH"]
    );
    let back = Bundle::from_json(&Bundle::V2(bundle()).to_json()).unwrap();
    assert_eq!(back, Bundle::V2(bundle()));
}

/// A bundle proves each answer, not that it holds them all: one taken out
/// leaves the rest verifying, and the report says that this is the
/// exporter's word (a new user's trial took the verdict for more).
#[test]
fn a_bundle_with_an_answer_taken_out_verifies_and_says_what_it_cannot_tell() {
    let mut b = bundle();
    b.answers.remove(1);
    b.answer_rosters.remove(1);
    let r = b.verify(&trust());
    assert!(r.ok, "{}", r.to_text());
    let text = r.to_text();
    assert!(
        text.contains("that none was left out is the exporter's word")
            && text.ends_with("evidence verifies\n"),
        "{text}"
    );
    let mut broken = bundle();
    broken.answers[0].replace_range(10..14, "AAAA");
    let text = broken.verify(&trust()).to_text();
    assert!(
        !text.contains("left out"),
        "said only of evidence that verifies: {text}"
    );
}

/// A blind trace's query (`directed_only`, sent only to the holders whose
/// filter hit) verifies as any other: the rule that refuses it from gossip
/// is about who passes it on, not about the requester's own bundle. Every
/// blind trace's evidence failed `verify` before.
#[test]
fn a_blind_traces_bundle_verifies() {
    let blind = TraceQuery {
        makers_version: Some(3),
        directed_only: true,
        ..vectors::query()
    };
    let q = sign(blind, &vectors::requester_key()).unwrap();
    let a = sign(vectors::answer(q.digest()), &vectors::responder_key()).unwrap();
    let Bundle::V2(b) = Bundle::new(q.bytes(), 1, [(a.bytes(), 1)], [roster()]) else {
        unreachable!("new writes the current format")
    };
    let r = b.verify(&trust());
    assert!(r.ok, "{}", r.to_text());
    // Still judged: the same query from a key the roster does not list fails.
    let stranger = SigningKey::from_seed(&[0x77; 32]).unwrap();
    let forged = sign(
        TraceQuery {
            requester: Party {
                state: "NG".parse().unwrap(),
                key: stranger.public_key(),
            },
            ..q.body().clone()
        },
        &stranger,
    )
    .unwrap();
    let Bundle::V2(b) = Bundle::new(forged.bytes(), 1, [(a.bytes(), 1)], [roster()]) else {
        unreachable!("new writes the current format")
    };
    let r = b.verify(&trust());
    assert!(!r.ok, "{}", r.to_text());
}

/// A bundle written before format 2 still reads and verifies as it did.
#[test]
fn a_format_1_bundle_still_verifies() {
    let (q, a1, a2) = frames();
    let v1 = BundleV1::new(&q, [&a1[..], &a2[..]], &roster());
    let text = String::from_utf8(Bundle::V1(v1.clone()).to_json()).unwrap();
    assert!(
        text.contains("\"format\": \"tracenet-evidence/1\""),
        "{text}"
    );
    let back = Bundle::from_json(text.as_bytes()).unwrap();
    assert_eq!(back, Bundle::V1(v1));
    let r = back.verify(&trust());
    assert!(r.ok, "{}", r.to_text());
    let names: Vec<_> = r.parts.iter().map(|p| p.part.as_str()).collect();
    assert_eq!(
        names,
        ["roster", "query", "answer 1 from DE", "answer 2 from GH"]
    );
    // Fields of one format are refused in the other.
    let mixed = text.replace(
        "\"format\": \"tracenet-evidence/1\"",
        "\"format\": \"tracenet-evidence/2\"",
    );
    assert!(matches!(
        Bundle::from_json(mixed.as_bytes()),
        Err(BundleError::Json(_))
    ));
    assert!(matches!(
        Bundle::from_json(br#"{"format":"tracenet-evidence/9"}"#),
        Err(BundleError::Format(_))
    ));
}

/// GH answered under roster 1 and was removed in roster 2: its answer is
/// judged by roster 1, and the removal is named, not held against it.
#[test]
fn an_answer_from_a_member_removed_later_still_verifies() {
    let (q, a1, a2) = frames();
    let b = Bundle::new(
        &q,
        1,
        [(&a1[..], 2), (&a2[..], 1)],
        [roster_of(1, false), roster_of(2, true)],
    );
    let r = Bundle::from_json(&b.to_json()).unwrap().verify(&trust());
    assert!(r.ok, "{}", r.to_text());
    let gh = r
        .parts
        .iter()
        .find(|p| p.part == "answer 2 from GH")
        .unwrap();
    assert!(
        gh.detail.contains("under roster v1 (GH removed in v2)"),
        "{}",
        gh.detail
    );
    // Judged by today's roster alone, as format 1 bundles were exported, the
    // same answer fails: what the node wrote before this change.
    let old = BundleV1::new(&q, [&a1[..], &a2[..]], &roster_of(2, true));
    let r = old.verify(&trust());
    let f: Vec<_> = r.failures().map(|p| p.part.as_str()).collect();
    assert_eq!(f, ["answer 2 from GH"], "{}", r.to_text());
    // An answer naming a version the bundle lacks fails, naming it.
    let mut missing = bundle();
    missing.answer_rosters[1] = 3;
    let r = missing.verify(&trust());
    let f: Vec<_> = r.failures().collect();
    assert_eq!(f.len(), 1, "{}", r.to_text());
    assert!(
        f[0].detail
            .contains("roster version 3 is not in the bundle")
    );
    // Every answer needs its version, and no more versions than answers.
    let mut short = bundle();
    short.answer_rosters.pop();
    let r = short.verify(&trust());
    let f: Vec<_> = r.failures().map(|p| p.part.as_str()).collect();
    assert_eq!(f, ["answer 2 from GH"], "{}", r.to_text());
    let mut long = bundle();
    long.answer_rosters.push(1);
    let r = long.verify(&trust());
    let f: Vec<_> = r.failures().map(|p| p.part.as_str()).collect();
    assert_eq!(f, ["answer_rosters"], "{}", r.to_text());
    // A version present twice vouches for nothing.
    let mut twice = bundle();
    twice.rosters.push(roster());
    assert!(!twice.verify(&trust()).ok);
}

#[test]
fn a_roster_not_valid_when_the_answer_was_given_fails_that_answer() {
    let (q, a1, _) = frames();
    let mut body = roster_of(1, false).decode_unverified().unwrap();
    // The vectors' query and answers are dated 2025-01-01.
    body.valid_from = Date::parse("2025-02-01").unwrap();
    let mut later = RosterFile::new(&body).unwrap();
    later.sign(&anchor()).unwrap();
    let Bundle::V2(mut b) = Bundle::new(&q, 2, [(&a1[..], 1)], [later, roster_of(2, false)]) else {
        unreachable!()
    };
    let r = b.verify(&trust());
    let f: Vec<_> = r.failures().map(|p| p.part.as_str()).collect();
    assert_eq!(f, ["answer 1 from DE"], "{}", r.to_text());
    b.answer_rosters[0] = 2;
    assert!(b.verify(&trust()).ok);
}

fn flip_each_byte(
    get: impl Fn(&BundleV2) -> Vec<u8>,
    set: impl Fn(&mut BundleV2, Vec<u8>),
    part: &str,
) {
    let b = bundle();
    let bytes = get(&b);
    for i in 0..bytes.len() {
        let mut t = b.clone();
        let mut v = bytes.clone();
        v[i] ^= 0x80;
        set(&mut t, v);
        let r = t.verify(&trust());
        assert!(!r.ok, "{part} byte {i}");
        assert!(
            r.failures().any(|p| p.part.starts_with(part)),
            "{part} byte {i}: {}",
            r.to_text()
        );
    }
}

#[test]
fn flipping_any_signed_byte_fails_naming_the_part() {
    let dec = |s: &str| B64.decode(s).unwrap();
    flip_each_byte(|b| dec(&b.query), |b, v| b.query = B64.encode(v), "query");
    flip_each_byte(
        |b| dec(&b.answers[1]),
        |b, v| b.answers[1] = B64.encode(v),
        "answer 2",
    );
    flip_each_byte(
        |b| dec(&b.rosters[0].body),
        |b, v| b.rosters[0].body = B64.encode(v),
        "roster",
    );
    flip_each_byte(
        |b| dec(&b.rosters[0].signatures[0].signature),
        |b, v| b.rosters[0].signatures[0].signature = B64.encode(v),
        "roster",
    );
}

#[test]
fn an_answer_from_a_key_outside_the_roster_fails() {
    let mut b = bundle();
    let stranger = SigningKey::from_seed(&[6; 32]).unwrap();
    let q = sign(vectors::query(), &vectors::requester_key()).unwrap();
    let mut a = vectors::answer(q.digest());
    a.responder.key = stranger.public_key();
    b.answers
        .push(B64.encode(sign(a, &stranger).unwrap().bytes()));
    b.answer_rosters.push(1);
    let r = b.verify(&trust());
    let f: Vec<_> = r.failures().collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].part, "answer 3 from DE");
    assert!(f[0].detail.contains("not in roster"), "{}", f[0].detail);
}

/// Evidence is judged by `protocol::accept`, the rules the node applied on
/// receipt: an answer dated before its query fails here as it would there.
#[test]
fn an_answer_dated_before_its_query_fails_as_on_receipt() {
    let mut b = bundle();
    let q = sign(vectors::query(), &vectors::requester_key()).unwrap();
    let mut a = vectors::answer(q.digest());
    // More than LATE_ANSWER_SECS before it (an hour before is taken: a
    // holder's clock may be that far behind).
    a.answered_at = vectors::ISSUED_AT - crate::protocol::LATE_ANSWER_SECS - 1;
    b.answers
        .push(B64.encode(sign(a, &vectors::responder_key()).unwrap().bytes()));
    b.answer_rosters.push(1);
    let r = b.verify(&trust());
    let f: Vec<_> = r.failures().collect();
    assert_eq!(f.len(), 1, "{}", r.to_text());
    assert!(
        f[0].detail.contains("more than an hour before its query"),
        "{}",
        f[0].detail
    );
}

/// An answer dated more than LATE_ANSWER_SECS after its query's
/// time-to-live is one no holder makes, as holders act on a query only
/// within it: it fails here as on receipt, where the verifier judges it at
/// its own date. An `expired` refusal dated as late passes (a holder
/// refuses a query it reads past its end, signed).
#[test]
fn an_answer_dated_after_its_querys_time_to_live_fails_as_on_receipt() {
    let q = sign(vectors::query(), &vectors::requester_key()).unwrap();
    let over =
        vectors::ISSUED_AT + u64::from(q.body().ttl_secs) + crate::protocol::LATE_ANSWER_SECS;
    let refused = crate::protocol::Outcome::Refused {
        reason: crate::protocol::RefusedReason::Expired,
        retry_after_secs: 0,
    };
    for (answered_at, refusal, fails) in [
        (over, false, false),
        (over + 1, false, true),
        (over + 400 * 86_400, false, true),
        (over + 400 * 86_400, true, false),
    ] {
        let mut b = bundle();
        let mut a = vectors::answer(q.digest());
        a.answered_at = answered_at;
        if refusal {
            a.outcome = refused.clone();
        }
        b.answers
            .push(B64.encode(sign(a, &vectors::responder_key()).unwrap().bytes()));
        b.answer_rosters.push(1);
        let r = b.verify(&trust());
        let f: Vec<_> = r.failures().collect();
        assert_eq!(f.len(), usize::from(fails), "{}", r.to_text());
        if fails {
            assert!(f[0].detail.contains("time-to-live"), "{}", f[0].detail);
        }
    }
}

/// `cargo test write_fuzz_seeds -- --ignored` writes a valid input for each fuzz
/// target into scripts/fuzz/corpus, so the fuzzer starts from the real formats.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    // The fuzz targets configure this anchor (seed [1; 32]).
    assert_eq!(
        anchor().public_key().to_hex(),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fuzz/corpus");
    let b = bundle();
    let seeds: [(&str, Vec<u8>); 5] = [
        ("decode_query", B64.decode(&b.query).unwrap()),
        ("decode_answer", B64.decode(&b.answers[0]).unwrap()),
        ("decode_roster", b.rosters[0].body_bytes().unwrap()),
        ("roster_file", b.rosters[0].to_json()),
        ("evidence_bundle", Bundle::V2(b).to_json()),
    ];
    for (target, bytes) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seed"), bytes).unwrap();
    }
}
