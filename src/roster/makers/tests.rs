use base64::Engine;
use proptest::prelude::*;

use super::*;
use crate::marking::MakerAlias;
use crate::model::CountryCode;
use crate::protocol::sign_bytes;
use crate::roster::{RosterBody, RosterFile};
use store::entry_name;

fn anchor(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32]).unwrap()
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

const ON: &str = "2026-06-01";

/// Anchors 1, 2 and 3 configured, `threshold` of them needed.
fn trust(threshold: u8) -> TrustConfig {
    TrustConfig {
        anchors: (1..=3)
            .map(|n| anchor(n).public_key().to_base64())
            .collect(),
        threshold,
    }
}

/// The shipped rows plus a maker "Acme Arms" (alias "AA Works", DE), as
/// version `version`, valid through 2026.
fn body(version: u32) -> MakersBody {
    let mut t = ReferenceTable::shipped();
    t.makers.push(ReferenceMaker {
        name: "Acme Arms".into(),
        countries: vec![cc("DE")],
        aliases: vec!["AA Works".into()],
        history: Vec::new(),
        factory_codes: Vec::new(),
    });
    MakersBody::of(&t, version, d("2026-01-01"), d("2026-12-31"))
}

fn signed(version: u32, by: &[u8]) -> MakersFile {
    let mut f = MakersFile::new(&body(version)).unwrap();
    for &n in by {
        f.sign(&anchor(n)).unwrap();
    }
    f
}

#[test]
fn a_signed_table_verifies_and_applies_its_rows() {
    let f = signed(3, &[1]);
    let s = f.verify(&trust(1), Some(d(ON))).unwrap();
    assert_eq!(s.version(), 3);
    assert_eq!(s.signed_by(), [anchor(1).public_key()]);
    let t = s.table();
    assert_eq!(t.table_version(), 3);
    assert_eq!(t.key("AA Works", cc("DE")).unwrap().as_str(), "ACMEARMS");
    // Through its JSON file and back, byte for byte.
    let back = MakersFile::from_json(&f.to_json()).unwrap();
    assert_eq!(back, f);
    // The shipped table fits a gossip message with room to spare.
    let len = f.to_json().len();
    assert!(len < MAX_FILE_BYTES / 2, "{len} bytes");
}

#[test]
fn the_threshold_counts_distinct_configured_anchors() {
    let on = Some(d(ON));
    assert!(signed(1, &[1, 2]).verify(&trust(2), on).is_ok());
    assert!(matches!(
        signed(1, &[1]).verify(&trust(2), on),
        Err(MakersError::Threshold {
            found: 1,
            needed: 2
        })
    ));
    // The same anchor twice counts once; an unknown key not at all.
    let mut twice = signed(1, &[1]);
    let again = twice.signatures[0].clone();
    twice.signatures.push(again);
    assert!(matches!(
        twice.verify(&trust(2), on),
        Err(MakersError::Threshold { found: 1, .. })
    ));
    assert!(matches!(
        signed(1, &[9]).verify(&trust(1), on),
        Err(MakersError::Threshold { found: 0, .. })
    ));
    // Signing again with one key replaces its signature.
    assert_eq!(signed(1, &[1, 1]).signatures.len(), 1);
    // No anchors configured: said as such.
    let none = TrustConfig::default();
    let e = signed(1, &[1]).verify(&none, on).unwrap_err().to_string();
    assert!(e.contains("[trust] anchors"), "{e}");
}

/// A roster signature over the very same bytes is not a table signature,
/// and a table file cannot pass for a roster.
#[test]
fn a_signature_under_another_domain_is_refused() {
    let mut f = MakersFile::new(&body(2)).unwrap();
    let bytes = f.body_bytes().unwrap();
    let roster_sig = sign_bytes(Kind::Roster, &bytes, &anchor(1));
    f.signatures.push(AnchorSignature {
        anchor: anchor(1).public_key(),
        signature: base64::engine::general_purpose::STANDARD.encode(roster_sig.0),
    });
    let e = f.verify(&trust(1), Some(d(ON))).unwrap_err();
    assert!(
        matches!(&e, MakersError::Signature { index: 1, problem, .. } if problem.contains("does not verify")),
        "{e}"
    );
    // A correctly signed table, read as a roster: refused by its
    // signatures, which are under the table's domain (checked before the
    // body is read), and by its kind.
    let table = signed(2, &[1]);
    let as_roster = RosterFile {
        format: crate::roster::FORMAT.into(),
        body: table.body.clone(),
        signatures: table.signatures.clone(),
    };
    let e = as_roster
        .verify(&crate::roster::TrustConfig { ..trust(1) }, d(ON))
        .unwrap_err();
    assert!(
        matches!(e, crate::roster::RosterError::Signature { index: 1, .. }),
        "{e}"
    );
    let e = as_roster.decode_unverified().unwrap_err().to_string();
    assert!(e.contains("expected a roster message"), "{e}");
    // And a roster's body in a table file.
    let roster = RosterBody {
        version: 1,
        valid_from: d("2026-01-01"),
        valid_until: d("2026-12-31"),
        members: Vec::new(),
        gossip_validation: None,
        peer_connections: None,
        served_lists: false,
    };
    let mut rf = RosterFile::new(&roster).unwrap();
    rf.sign(&anchor(1)).unwrap();
    let as_table = MakersFile {
        format: FORMAT.into(),
        body: rf.body,
        signatures: rf.signatures,
    };
    let e = as_table
        .verify(&trust(1), Some(d(ON)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected a maker reference table message"),
        "{e}"
    );
}

#[test]
fn a_changed_body_no_longer_verifies() {
    let mut f = signed(2, &[1]);
    let mut b = body(2);
    b.makers[0].aliases.push("Glock Perfection".into());
    f.body = MakersFile::new(&b).unwrap().body;
    let e = f.verify(&trust(1), Some(d(ON))).unwrap_err();
    assert!(matches!(e, MakersError::Signature { index: 1, .. }), "{e}");
    let mut f = signed(2, &[1]);
    f.signatures[0].signature = "not base64!".into();
    let e = f.verify(&trust(1), Some(d(ON))).unwrap_err().to_string();
    assert!(e.contains("not a base64 Ed25519 signature"), "{e}");
}

/// Whatever a peer sends is refused with a reason, never a panic.
#[test]
fn garbage_is_refused_at_each_layer() {
    let good = signed(2, &[1]);
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"garbage".to_vec(), "not a signed maker table file"),
        (vec![b' '; MAX_FILE_BYTES + 1], "exceeds 65536 bytes"),
        (
            json(serde_json::json!({"format":"tracenet-roster/1","body":"","signatures":[]})),
            "is not tracenet-makers/1",
        ),
        (
            json(serde_json::json!({"format":FORMAT,"body":"***","signatures":[]})),
            "not valid base64",
        ),
        (
            json(serde_json::json!({"format":FORMAT,"body":"VFJOVAEF","signatures":[]})),
            "malformed maker reference table body",
        ),
        (
            json(serde_json::json!({"format":FORMAT,"body":good.body,"signatures":[],"extra":1})),
            "unknown field",
        ),
    ];
    for (bytes, want) in cases {
        let e = MakersFile::from_json(&bytes)
            .and_then(|f| f.verify(&trust(1), Some(d(ON))))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
    // Trailing bytes after the body.
    let mut bytes = good.body_bytes().unwrap();
    bytes.push(0);
    let e = MakersBody::decode(&bytes).unwrap_err().to_string();
    assert!(e.contains("unexpected bytes"), "{e}");
    // A body over the limit, refused before decoding.
    let big = MakersFile {
        body: base64::engine::general_purpose::STANDARD.encode(vec![0u8; 50 * 1024]),
        ..good.clone()
    };
    assert!(matches!(
        big.decode_unverified(),
        Err(MakersError::Decode(DecodeError::TooLarge { .. }))
    ));
    // Rows that break the table's rules, encoded by hand (the encoder
    // refuses them), are refused on decoding: version 0, and a spelling
    // that means two makers in one country.
    let mut zero = body(2);
    zero.version = 0;
    let mut clash = body(2);
    clash.makers.push(ReferenceMaker {
        name: "Other Arms".into(),
        countries: vec![cc("DE")],
        aliases: vec!["AA Works".into()],
        history: Vec::new(),
        factory_codes: Vec::new(),
    });
    for (b, want) in [
        (zero, "version 0"),
        (clash, "already means the maker ACMEARMS"),
    ] {
        assert!(MakersFile::new(&b).is_err());
        let bytes = codec::encode_body(Kind::Makers, &b).unwrap();
        let e = MakersBody::decode(&bytes).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}

proptest! {
    /// Random bytes, as a file or as a body, are refused without a panic.
    #[test]
    fn random_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = MakersFile::from_json(&bytes);
        let mut framed = b"TRNT\x01\x05".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = MakersBody::decode(&framed);
    }
}

#[test]
fn a_table_is_accepted_only_within_its_dates_and_when_newer() {
    let f = signed(3, &[1]);
    let e = f.verify(&trust(1), Some(d("2027-01-01"))).unwrap_err();
    assert!(matches!(e, MakersError::Dates { version: 3, .. }), "{e}");
    // A table held since it was accepted is not judged by the calendar.
    assert!(f.verify(&trust(1), None).is_ok());
    let on = d(ON);
    assert!(accept(&f, &trust(1), 0, 0, on).is_ok());
    assert!(accept(&f, &trust(1), 2, 2, on).is_ok());
    for (in_force, seen) in [(3, 3), (4, 4), (0, 4)] {
        assert!(
            matches!(
                accept(&f, &trust(1), in_force, seen, on),
                Err(MakersError::NotNewer { offered: 3, .. })
            ),
            "in force {in_force}, seen {seen}"
        );
    }
    // The highest version seen may be installed again over an older one in
    // force: the repair of a damaged copy.
    assert!(accept(&f, &trust(1), 0, 3, on).is_ok());
}

fn install_on(dir: &Path, f: &MakersFile) -> Result<SignedMakers, MakersError> {
    install(dir, f, &trust(1), d(ON))
}

#[test]
fn an_installed_table_survives_and_a_damaged_copy_cannot_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    assert_eq!(load_held(dir, &trust(1)).version(), 0);
    install_on(dir, &signed(2, &[1])).unwrap();
    install_on(dir, &signed(3, &[1])).unwrap();
    let held = load_held(dir, &trust(1));
    assert_eq!((held.version(), held.highest_seen), (3, 3));
    assert!(held.problems.is_empty(), "{:?}", held.problems);
    assert!(matches!(
        install_on(dir, &signed(2, &[1])),
        Err(MakersError::NotNewer {
            offered: 2,
            held: 3
        })
    ));

    // makers.json damaged: its copy in the history takes over.
    std::fs::write(dir.join(HELD_FILE), b"{ half a file").unwrap();
    let held = load_held(dir, &trust(1));
    assert_eq!(held.version(), 3);
    assert_eq!(held.problems.len(), 1, "{:?}", held.problems);
    assert!(
        held.problems[0].contains("makers.json"),
        "{:?}",
        held.problems
    );

    // Every copy of version 3 damaged: version 2 is in force, yet nothing
    // below 3 is accepted, and 3 itself may be installed again.
    std::fs::write(dir.join(HISTORY_DIR).join(entry_name(3)), b"").unwrap();
    let held = load_held(dir, &trust(1));
    assert_eq!((held.version(), held.highest_seen), (2, 3));
    assert!(matches!(
        install_on(dir, &signed(2, &[1])),
        Err(MakersError::NotNewer {
            offered: 2,
            held: 3
        })
    ));
    install_on(dir, &signed(3, &[1])).unwrap();
    let held = load_held(dir, &trust(1));
    assert_eq!(held.version(), 3);
    assert!(held.problems.is_empty(), "{:?}", held.problems);

    // Every copy gone but the names: the built-in table, and still no
    // version below 3.
    for e in std::fs::read_dir(dir.join(HISTORY_DIR)).unwrap() {
        std::fs::write(e.unwrap().path(), b"x").unwrap();
    }
    std::fs::remove_file(dir.join(HELD_FILE)).unwrap();
    let held = load_held(dir, &trust(1));
    assert_eq!((held.version(), held.highest_seen), (0, 3));
    assert!(install_on(dir, &signed(2, &[1])).is_err());
}

#[test]
fn a_copy_under_another_version_name_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    install_on(dir, &signed(2, &[1])).unwrap();
    std::fs::remove_file(dir.join(HELD_FILE)).unwrap();
    let h = dir.join(HISTORY_DIR);
    std::fs::rename(h.join(entry_name(2)), h.join(entry_name(5))).unwrap();
    let held = load_held(dir, &trust(1));
    assert_eq!((held.version(), held.highest_seen), (0, 5));
    assert!(held.problems[0].contains("not the version its name says"));
}

#[test]
fn copies_signed_by_anchors_no_longer_configured_are_not_used() {
    let dir = tempfile::tempdir().unwrap();
    install_on(dir.path(), &signed(2, &[1])).unwrap();
    let other = TrustConfig {
        anchors: vec![anchor(7).public_key().to_base64()],
        threshold: 1,
    };
    let held = load_held(dir.path(), &other);
    assert_eq!((held.version(), held.highest_seen), (0, 2));
    assert_eq!(held.problems.len(), 2, "{:?}", held.problems);
}

#[test]
fn the_table_in_force_carries_local_makers_and_says_which_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let local = vec![
        MakerAlias {
            name: "Zeta Works".into(),
            aliases: vec!["AA Works".into()],
            countries: vec![cc("DE")],
        },
        MakerAlias {
            name: "Yotta Arms".into(),
            aliases: Vec::new(),
            countries: Vec::new(),
        },
    ];
    let before = in_force(dir.path(), &trust(1), &local);
    assert_eq!(before.version(), 0);
    assert_eq!(before.local, ["Zeta Works", "Yotta Arms"]);
    let v = before.view(d(ON));
    assert_eq!((v.source, v.version), (Source::BuiltIn, 0));
    assert_eq!(v.built_in_revision, ReferenceTable::shipped().version);
    assert!(v.valid_until.is_none() && v.signed_by.is_empty());

    install_on(dir.path(), &signed(4, &[1])).unwrap();
    let after = in_force(dir.path(), &trust(1), &local);
    assert_eq!(after.table.table_version(), 4);
    assert_eq!(after.local, ["Yotta Arms"]);
    assert_eq!(after.local_refused.len(), 1);
    assert_eq!(after.local_refused[0].name, "Zeta Works");
    let v = after.view(d(ON));
    assert_eq!((v.source, v.version, v.expired), (Source::Signed, 4, false));
    assert_eq!(v.signed_by, [anchor(1).public_key().to_base64()]);
    assert_eq!(v.makers, body(4).reference().maker_count());
    assert_eq!(v.makers, before.view(d(ON)).makers + 1, "Acme Arms added");
    assert!(after.view(d("2027-01-01")).expired);
    assert_ne!(v.digest, before.view(d(ON)).digest);
    let text = v.to_text();
    for want in [
        "version 4, signed by 1 anchor",
        "Yotta Arms",
        "Zeta Works left out",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

/// The hex in the fenced block after `<!-- vector NAME -->` in PROTOCOL.md.
fn doc_vector(name: &str) -> String {
    let doc = include_str!("../../../proto-docs/PROTOCOL.md");
    let marker = format!("<!-- vector {name} -->");
    let rest = &doc[doc.find(&marker).expect("the vector's marker") + marker.len()..];
    let body = &rest[rest.find("```").expect("a fence") + 3..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    body[..body.find("```").expect("closing fence")]
        .split_whitespace()
        .collect()
}

/// Vector 6 of PROTOCOL.md, computed.
fn computed_vector() -> Vec<(&'static str, String)> {
    let key = SigningKey::from_seed(&[5; 32]).unwrap();
    let body = MakersBody {
        version: 1,
        valid_from: d("2025-01-01"),
        valid_until: d("2025-12-31"),
        makers: vec![ReferenceMaker {
            name: "Acme Arms".into(),
            countries: vec![cc("DE")],
            aliases: vec!["AA".into()],
            history: Vec::new(),
            factory_codes: Vec::new(),
        }],
    };
    let mut f = MakersFile::new(&body).unwrap();
    f.sign(&key).unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&f.signatures[0].signature)
        .unwrap();
    vec![
        ("makers-anchor-public-key", key.public_key().to_hex()),
        ("makers-message", hex::encode(f.body_bytes().unwrap())),
        ("makers-signature", hex::encode(sig)),
    ]
}

#[test]
fn protocol_md_vector_6_matches_the_implementation() {
    for (name, value) in computed_vector() {
        assert_eq!(doc_vector(name), value, "vector {name} in PROTOCOL.md");
    }
    // And it verifies under the makers tag only.
    let key = crate::protocol::PublicKey::parse(&doc_vector("makers-anchor-public-key")).unwrap();
    let msg = hex::decode(doc_vector("makers-message")).unwrap();
    let sig = crate::protocol::Signature::from_slice(
        &hex::decode(doc_vector("makers-signature")).unwrap(),
    )
    .unwrap();
    assert!(crate::protocol::verify_bytes(
        Kind::Makers,
        &msg,
        &key,
        &sig
    ));
    assert!(!crate::protocol::verify_bytes(
        Kind::Roster,
        &msg,
        &key,
        &sig
    ));
}

/// `cargo test print_makers_vector -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_makers_vector() {
    for (name, value) in computed_vector() {
        println!("{name}:");
        for chunk in value.as_bytes().chunks(64) {
            println!("{}", String::from_utf8_lossy(chunk));
        }
    }
}

/// A member may send a forged table (a version above the one in force,
/// signatures that do not hold) again each time gossip forgives it: it is
/// refused from its own signatures, before any copy held is read (the
/// second hostile review's suspicion that each try re-read and re-verified
/// the whole history).
#[test]
fn a_forged_table_is_refused_before_any_copy_held_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    install_on(dir, &signed(2, &[1])).unwrap();
    let loads = || store::LOADS.with(|n| n.get());
    let before = loads();
    // Signed by a key that is not an anchor, and by none.
    for forged in [signed(9, &[7]), signed(9, &[])] {
        let e = install_on(dir, &forged).unwrap_err();
        assert!(
            matches!(
                e,
                MakersError::Signature { .. } | MakersError::Threshold { .. }
            ),
            "{e}"
        );
    }
    // An anchor's signature over other bytes: the body changed after signing.
    let mut tampered = signed(9, &[1]);
    let other = signed(10, &[1]);
    tampered.body = other.body.clone();
    let e = install_on(dir, &tampered).unwrap_err();
    assert!(matches!(e, MakersError::Signature { .. }), "{e}");
    assert_eq!(loads(), before, "a forged table read the copies held");
    // A genuine newer table still reads them (to judge its version).
    install_on(dir, &signed(3, &[1])).unwrap();
    assert_eq!(loads(), before + 1);
    assert_eq!(load_held(dir, &trust(1)).version(), 3);
}
