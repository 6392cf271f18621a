use super::*;
use crate::protocol::vectors;

fn anchor(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32]).unwrap()
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn member(state: &str, name: &str, key: PublicKey) -> Member {
    Member {
        state: state.parse().unwrap(),
        name: name.into(),
        key,
        role: Role::Member,
        prefixes: vec!["DE/CARLWALTHER".parse().unwrap()],
        addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
    }
}

fn body(version: u64) -> RosterBody {
    RosterBody {
        version,
        valid_from: d("2025-01-01"),
        valid_until: d("2025-12-31"),
        members: vec![
            member("NG", "Nigeria", vectors::requester_key().public_key()),
            member("DE", "Germany", vectors::responder_key().public_key()),
        ],
    }
}

fn trust(threshold: u8) -> TrustConfig {
    TrustConfig {
        anchors: vec![
            anchor(1).public_key().to_hex(),
            anchor(2).public_key().to_base64(),
        ],
        threshold,
    }
}

fn signed(version: u64, by: &[u8]) -> RosterFile {
    let mut f = RosterFile::new(&body(version)).unwrap();
    for &n in by {
        f.sign(&anchor(n)).unwrap();
    }
    f
}

#[test]
fn threshold_counts_distinct_configured_anchors() {
    let on = d("2025-06-01");
    assert!(signed(1, &[1]).verify(&trust(1), on).is_ok());
    assert!(matches!(
        signed(1, &[1]).verify(&trust(2), on),
        Err(RosterError::Threshold {
            found: 1,
            needed: 2
        })
    ));
    assert_eq!(
        signed(1, &[1, 2])
            .verify(&trust(2), on)
            .unwrap()
            .signed_by()
            .len(),
        2
    );
    // Signing twice with one anchor still counts once; an unknown signer not at all.
    assert!(signed(1, &[1, 1, 3]).verify(&trust(2), on).is_err());
    assert!(matches!(
        signed(1, &[]).verify(&trust(1), on),
        Err(RosterError::Threshold { .. })
    ));
}

#[test]
fn bad_trust_configurations_are_refused() {
    let mut t = trust(3);
    assert!(matches!(t.anchor_keys(), Err(RosterError::Trust(_))));
    t.threshold = 0;
    assert!(t.anchor_keys().is_err());
    t.threshold = 1;
    t.anchors.push("nonsense".into());
    assert!(t.anchor_keys().is_err());
}

#[test]
fn any_change_to_the_body_breaks_the_signatures() {
    let f = signed(1, &[1]);
    let mut bytes = f.body_bytes().unwrap();
    let n = bytes.len();
    for i in 0..n {
        bytes[i] ^= 0x01;
        let mut t = f.clone();
        t.body = B64.encode(&bytes);
        assert!(t.verify(&trust(1), d("2025-06-01")).is_err(), "byte {i}");
        bytes[i] ^= 0x01;
    }
}

#[test]
fn dates_and_versions_are_enforced() {
    let f = signed(2, &[1]);
    assert!(matches!(
        f.verify(&trust(1), d("2026-01-01")),
        Err(RosterError::Dates { .. })
    ));
    assert!(matches!(
        f.verify(&trust(1), d("2024-12-31")),
        Err(RosterError::Dates { .. })
    ));
    let on = d("2025-06-01");
    assert!(accept(&f, &trust(1), Some(1), on).is_ok());
    assert!(matches!(
        accept(&f, &trust(1), Some(2), on),
        Err(RosterError::NotNewer { .. })
    ));
}

#[test]
fn a_removed_member_is_revoked_in_the_next_version() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    let v1 = install(dir.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    let ng = vectors::requester_key().public_key();
    assert_eq!(v1.member_by_key(&ng).unwrap().state.as_str(), "NG");
    let mut b2 = body(2);
    b2.members.retain(|m| m.key != ng);
    let mut f2 = RosterFile::new(&b2).unwrap();
    f2.sign(&anchor(2)).unwrap();
    install(dir.path(), &f2, &trust(1), on).unwrap();
    let held = load_held(dir.path(), &trust(1), on).unwrap().unwrap();
    assert!(held.member_by_key(&ng).is_none());
    // The old version, still validly signed, cannot be installed again.
    assert!(install(dir.path(), &signed(1, &[1]), &trust(1), on).is_err());
    assert_eq!(
        held.holders_of(&"DE/CARLWALTHER".parse().unwrap()).count(),
        1
    );
}

#[test]
fn contents_are_validated() {
    let mut b = body(1);
    b.members[1].key = b.members[0].key;
    assert!(matches!(
        RosterFile::new(&b),
        Err(RosterError::Member { .. })
    ));
    let mut b = body(1);
    b.members[0].name = "Nigeria; DROP TABLE".into();
    assert!(RosterFile::new(&b).is_err());
    let mut b = body(1);
    b.members[0].addresses = vec!["not an address".into()];
    assert!(RosterFile::new(&b).is_err());
    let mut b = body(1);
    b.members[0].state = "DE".parse().unwrap();
    assert!(RosterFile::new(&b).is_err());
}

#[test]
fn the_file_round_trips_through_json() {
    let f = signed(1, &[1, 2]);
    assert_eq!(RosterFile::from_json(&f.to_json()).unwrap(), f);
    assert!(RosterFile::from_json(b"{}").is_err());
    assert!(RosterFile::from_json(br#"{"format":"x","body":"","signatures":[]}"#).is_err());
}
