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

fn roster() -> RosterFile {
    let m = |state: &str, name: &str, key: PublicKey| Member {
        state: state.parse().unwrap(),
        name: name.into(),
        key,
        role: Role::Member,
        prefixes: vec![],
        addresses: vec![],
    };
    let body = RosterBody {
        version: 1,
        valid_from: Date::parse("2024-01-01").unwrap(),
        valid_until: Date::parse("2026-12-31").unwrap(),
        members: vec![
            m("NG", "Nigeria", vectors::requester_key().public_key()),
            m("DE", "Germany", vectors::responder_key().public_key()),
            m("GH", "Ghana", ghana().public_key()),
        ],
    };
    let mut f = RosterFile::new(&body).unwrap();
    f.sign(&anchor()).unwrap();
    f
}

fn bundle() -> Bundle {
    let q = sign(vectors::query(), &vectors::requester_key()).unwrap();
    let a1 = sign(vectors::answer(q.digest()), &vectors::responder_key()).unwrap();
    let mut gh = vectors::answer(q.digest());
    gh.responder = Party {
        state: "GH".parse().unwrap(),
        key: ghana().public_key(),
    };
    gh.outcome = Outcome::NoHit;
    let a2 = sign(gh, &ghana()).unwrap();
    Bundle::new(q.bytes(), [a1.bytes(), a2.bytes()], &roster())
}

#[test]
fn a_genuine_bundle_verifies() {
    let r = bundle().verify(&trust());
    assert!(r.ok, "{}", r.to_text());
    let names: Vec<_> = r.parts.iter().map(|p| p.part.as_str()).collect();
    assert_eq!(
        names,
        ["roster", "query", "answer 1 from DE", "answer 2 from GH"]
    );
    let back = Bundle::from_json(&bundle().to_json()).unwrap();
    assert_eq!(back, bundle());
}

fn flip_each_byte(
    get: impl Fn(&Bundle) -> Vec<u8>,
    set: impl Fn(&mut Bundle, Vec<u8>),
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
        |b| dec(&b.roster.body),
        |b, v| b.roster.body = B64.encode(v),
        "roster",
    );
    flip_each_byte(
        |b| dec(&b.roster.signatures[0].signature),
        |b, v| b.roster.signatures[0].signature = B64.encode(v),
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
    let r = b.verify(&trust());
    let f: Vec<_> = r.failures().collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].part, "answer 3 from DE");
    assert!(f[0].detail.contains("not in roster"), "{}", f[0].detail);
}

/// `cargo test write_fuzz_seeds -- --ignored` writes a valid input for each fuzz
/// target into fuzz/corpus, so the fuzzer starts from the real formats.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    // The fuzz targets configure this anchor (seed [1; 32]).
    assert_eq!(
        anchor().public_key().to_hex(),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let b = bundle();
    let seeds: [(&str, Vec<u8>); 5] = [
        ("decode_query", B64.decode(&b.query).unwrap()),
        ("decode_answer", B64.decode(&b.answers[0]).unwrap()),
        ("decode_roster", b.roster.body_bytes().unwrap()),
        ("roster_file", b.roster.to_json()),
        ("evidence_bundle", b.to_json()),
    ];
    for (target, bytes) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seed"), bytes).unwrap();
    }
}
