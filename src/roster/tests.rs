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
        oprf_key: None,
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
        gossip_validation: None,
        peer_connections: None,
        served_lists: false,
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

/// A member's key under which anyone can sign (the identity point) is
/// never encoded, signed or believed; a roster listing one, as an earlier
/// build could make, is still read, to be shown and mended.
#[test]
fn a_member_key_anyone_could_sign_under_is_never_made_signed_nor_believed() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut b = body(1);
    b.members[1].key = PublicKey(identity);
    let e = b.encode().unwrap_err().to_string();
    assert!(e.contains("DE") && e.contains("small order"), "{e}");
    // Written as an earlier build wrote it, and signed all the same.
    let bytes = codec::encode_body(Kind::Roster, &wire::Body::from(&b)).unwrap();
    let mut f = RosterFile::new(&body(1)).unwrap();
    f.body = B64.encode(&bytes);
    let e = f.clone().sign(&anchor(1)).unwrap_err().to_string();
    assert!(e.contains("small order"), "{e}");
    anchors::sign(Kind::Roster, &bytes, &anchor(1), &mut f.signatures);
    let e = f
        .verify(&trust(1), d("2025-06-01"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("roster member DE") && e.contains("small order"),
        "{e}"
    );
    // The history of rosters installed reads it as it was believed then.
    assert!(f.verify_as_signed(&trust(1), d("2025-06-01")).is_ok());
    let read = f.decode_unverified().expect("read, to be shown and mended");
    assert_eq!(read.members[1].key, PublicKey(identity));
    // Held (an earlier build installed it), it is refused at load as a
    // member's fault, which the node's start says with what to do; a newer
    // roster without the key installs over it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(HELD_FILE), f.to_json()).unwrap();
    let on = d("2025-06-01");
    assert!(matches!(
        load_held(dir.path(), &trust(1), on),
        Err(RosterError::Member { ref state, .. }) if state == "DE"
    ));
    // Mended: the member's entry taken out, it is made and signed again.
    let mut mended = read;
    mended.members.remove(1);
    mended.version = 2;
    let mut f = RosterFile::new(&mended).unwrap();
    f.sign(&anchor(1)).unwrap();
    assert!(f.verify(&trust(1), on).is_ok());
    install(dir.path(), &f, &trust(1), on).unwrap();
    assert_eq!(
        load_held(dir.path(), &trust(1), on)
            .unwrap()
            .unwrap()
            .version(),
        2
    );
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
    // A former State may be in a prefix (records made there), not a member.
    let mut b = body(1);
    b.members[0]
        .prefixes
        .push("YU/ZASTAVAARMS".parse().unwrap());
    assert!(RosterFile::new(&b).is_ok());
    b.members[0].state = "SU".parse().unwrap();
    let e = RosterFile::new(&b).unwrap_err().to_string();
    assert!(e.contains("USSR is a former State"), "{e}");
}

#[test]
fn the_file_round_trips_through_json() {
    let f = signed(1, &[1, 2]);
    assert_eq!(RosterFile::from_json(&f.to_json()).unwrap(), f);
    assert!(RosterFile::from_json(b"{}").is_err());
    assert!(RosterFile::from_json(br#"{"format":"x","body":"","signatures":[]}"#).is_err());
    // A long format (a file from a peer) is quoted cut to 64 characters.
    let long = serde_json::json!({"format": "é".repeat(100_000), "body": "", "signatures": []});
    let e = RosterFile::from_json(long.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&"é".repeat(64)) && !e.contains(&"é".repeat(65)),
        "{e}"
    );
}

fn without_ng(version: u64) -> RosterFile {
    let ng = vectors::requester_key().public_key();
    let mut b = body(version);
    b.members.retain(|m| m.key != ng);
    let mut f = RosterFile::new(&b).unwrap();
    f.sign(&anchor(1)).unwrap();
    f
}

#[test]
fn every_installed_version_stays_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    install(dir.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    install(dir.path(), &without_ng(2), &trust(1), on).unwrap();
    install(dir.path(), &signed(3, &[1]), &trust(1), on).unwrap();
    // A second reader (as after a restart) sees what the installs wrote.
    let h = RosterHistory::open(dir.path(), &trust(1)).unwrap();
    assert_eq!(h.versions().unwrap(), [1, 2, 3]);
    let ng = vectors::requester_key().public_key();
    let ng_state = "NG".parse().unwrap();
    let v1 = h.get(1).unwrap();
    assert_eq!(v1.roster.member_by_key(&ng).unwrap().state, ng_state);
    assert!(h.get(2).unwrap().roster.member_by_key(&ng).is_none());
    // NG's answers under version 1 were given before its removal in 2.
    assert_eq!(h.removed_after(&ng, ng_state, 1, 3).unwrap(), Some(2));
    assert_eq!(h.removed_after(&ng, ng_state, 1, 1).unwrap(), None);
    let de = vectors::responder_key().public_key();
    assert_eq!(
        h.removed_after(&de, "DE".parse().unwrap(), 1, 3).unwrap(),
        None
    );
    // At the time version 3 was installed (the three installs may straddle
    // a second), 3 was in force, and 2 under a cap of 2.
    let t3 = h.get(3).unwrap().installed_at;
    assert_eq!(h.in_force_at(t3, 3).unwrap(), Some(3));
    assert_eq!(h.in_force_at(t3, 2).unwrap(), Some(2));
    assert_eq!(h.in_force_at(0, 3).unwrap(), None);
    assert!(matches!(
        h.get(4),
        Err(RosterError::NotInHistory { version: 4, .. })
    ));
}

/// Judging an answer under an older roster asks for the history's versions
/// (once per answer and view): the folder is listed once, then again only
/// when this process records a version.
#[test]
fn the_history_lists_its_folder_once_and_again_after_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    install(dir.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    let h = RosterHistory::open(dir.path(), &trust(1)).unwrap();
    assert_eq!(h.versions().unwrap(), [1]);
    // A file put there behind the history's back is not seen: not listed
    // again.
    let v1 = std::fs::read_dir(h.dir())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&v1, v1.with_file_name(format!("v{:020}.json", 7))).unwrap();
    assert_eq!(h.versions().unwrap(), [1]);
    let two = without_ng(2).verify(&trust(1), on).unwrap();
    h.record(&two, &trust(1), 5).unwrap();
    assert_eq!(
        h.versions().unwrap(),
        [1, 2, 7],
        "listed again after a record"
    );
}

#[test]
fn one_folder_shares_one_history_however_it_is_spelled() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    // First asked for through a symbolic link, so that the folder's own path
    // is found through its canonical key, not as asked before.
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("tracenet-data");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    install(&link, &signed(1, &[1]), &trust(1), on).unwrap();
    let linked = RosterHistory::shared(&link, &trust(1)).unwrap();
    // The folder's own path, that path again (the node's own calls), and a
    // third spelling, all find the same history.
    let a = RosterHistory::shared(dir.path(), &trust(1)).unwrap();
    let again = RosterHistory::shared(dir.path(), &trust(1)).unwrap();
    let dotted = dir.path().join("rosters").join("..");
    let third = RosterHistory::shared(&dotted, &trust(1)).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &linked));
    assert!(std::sync::Arc::ptr_eq(&a, &again));
    assert!(std::sync::Arc::ptr_eq(&a, &third));
    // An install through either path is seen through the other.
    install(dir.path(), &signed(2, &[1]), &trust(1), on).unwrap();
    assert_eq!(linked.versions().unwrap(), [1, 2]);
    // Another folder has its own.
    let other = tempfile::tempdir().unwrap();
    install(other.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    let b = RosterHistory::shared(other.path(), &trust(1)).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(b.versions().unwrap(), [1]);
}

#[test]
fn a_data_dir_from_before_the_history_keeps_its_held_roster() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    // As an older node left it: roster.json alone.
    signed(1, &[1]).write(&dir.path().join(HELD_FILE)).unwrap();
    assert!(!dir.path().join(HISTORY_DIR).exists());
    install(dir.path(), &without_ng(2), &trust(1), on).unwrap();
    let h = RosterHistory::open(dir.path(), &trust(1)).unwrap();
    assert_eq!(h.versions().unwrap(), [1, 2]);
    let ng = vectors::requester_key().public_key();
    assert!(h.get(1).unwrap().roster.member_by_key(&ng).is_some());
    // Loading the held roster alone adopts it too.
    let dir = tempfile::tempdir().unwrap();
    signed(1, &[1]).write(&dir.path().join(HELD_FILE)).unwrap();
    load_held(dir.path(), &trust(1), on).unwrap().unwrap();
    let h = RosterHistory::open(dir.path(), &trust(1)).unwrap();
    assert_eq!(h.versions().unwrap(), [1]);
}

#[test]
fn history_entries_verify_against_the_anchors_that_accepted_them() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    install(dir.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    // The federation moves to anchor 2 alone: version 1 still judges its time.
    let rotated = TrustConfig {
        anchors: vec![anchor(2).public_key().to_hex()],
        threshold: 1,
    };
    let mut f2 = RosterFile::new(&body(2)).unwrap();
    f2.sign(&anchor(2)).unwrap();
    install(dir.path(), &f2, &rotated, on).unwrap();
    let h = RosterHistory::open(dir.path(), &rotated).unwrap();
    assert_eq!(h.get(1).unwrap().roster.version(), 1);
    assert_eq!(h.get(2).unwrap().roster.version(), 2);
    // An entry whose roster was altered on disk does not load, naming the file.
    let path = h.dir().join("v00000000000000000001.json");
    let mut e: HistoryEntry = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut b = body(1);
    b.members.pop();
    e.roster.body = RosterFile::new(&b).unwrap().body;
    std::fs::write(&path, serde_json::to_vec(&e).unwrap()).unwrap();
    let fresh = RosterHistory::open(dir.path(), &rotated).unwrap();
    let err = fresh.get(1).unwrap_err();
    assert!(
        matches!(err, RosterError::History { ref path, .. } if path.ends_with("v00000000000000000001.json")),
        "{err}"
    );
    // A version once loaded is not read again.
    assert_eq!(h.get(1).unwrap().roster.version(), 1);
}

#[test]
fn a_failed_install_leaves_the_held_roster_and_the_history_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    install(dir.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    // The held file cannot be replaced: a folder stands in its place.
    let held = dir.path().join(HELD_FILE);
    std::fs::remove_file(&held).unwrap();
    std::fs::create_dir(&held).unwrap();
    std::fs::write(held.join("x"), b"x").unwrap();
    assert!(install(dir.path(), &signed(2, &[1]), &trust(1), on).is_err());
    std::fs::remove_dir_all(&held).unwrap();
    let h = RosterHistory::open(dir.path(), &trust(1)).unwrap();
    assert_eq!(h.versions().unwrap(), [1]);
}

#[test]
fn a_damaged_held_roster_does_not_let_an_older_version_back_in() {
    let dir = tempfile::tempdir().unwrap();
    let on = d("2025-06-01");
    install(dir.path(), &signed(1, &[1]), &trust(1), on).unwrap();
    install(dir.path(), &without_ng(2), &trust(1), on).unwrap();
    // roster.json damaged (a disk fault, a careless edit): unreadable.
    std::fs::write(dir.path().join(HELD_FILE), b"{ not json").unwrap();
    // Version 1, validly signed, is still older than what was installed.
    assert!(matches!(
        install(dir.path(), &signed(1, &[1]), &trust(1), on),
        Err(RosterError::NotNewer { held: 2, .. })
    ));
    // A newer one is installed, and repairs the file.
    install(dir.path(), &signed(3, &[1]), &trust(1), on).unwrap();
    assert_eq!(
        load_held(dir.path(), &trust(1), on)
            .unwrap()
            .unwrap()
            .version(),
        3
    );
}

/// `body(1)` as the builds before OPRF keys encoded it (printed by the
/// build of commit 23f43ea): a roster without OPRF keys keeps these bytes,
/// so rosters signed before still verify and older builds read new ones.
const BODY_BEFORE_OPRF_KEYS: &str = "VFJOVAEDAQoyMDI1LTAxLTAxCjIwMjUtMTItMzECAk5HB05pZ2VyaWHqSmxj4pxSCr71UHsTLsX5lUd2rr6+e5JCHuppFEbSLAABAkRFC0NBUkxXQUxUSEVSARcvaXA0LzEyNy4wLjAuMS90Y3AvNDAwMQJERQdHZXJtYW55/RckOFqgx1tk+3jNYC+h2ZH96/drE8WO1wLqyDXp9hgAAQJERQtDQVJMV0FMVEhFUgEXL2lwNC8xMjcuMC4wLjEvdGNwLzQwMDE=";

fn oprf_key(seed: u8) -> OprfPublicKey {
    crate::blind::OprfKey::from_seed(&[seed; 32])
        .unwrap()
        .roster_key()
}

#[test]
fn a_roster_without_oprf_keys_keeps_the_bytes_of_earlier_builds() {
    let f = RosterFile::new(&body(1)).unwrap();
    assert_eq!(f.body, BODY_BEFORE_OPRF_KEYS);
    let old = RosterFile {
        body: BODY_BEFORE_OPRF_KEYS.into(),
        ..f
    };
    assert_eq!(old.decode_unverified().unwrap(), body(1));
}

#[test]
fn oprf_keys_are_signed_with_the_members_and_read_back_at_their_member() {
    let mut b = body(1);
    b.members[1].oprf_key = Some(oprf_key(7));
    let mut f = RosterFile::new(&b).unwrap();
    // The earlier bytes, then the trailing list: one entry, DE's key and its OPRF key.
    let bytes = f.body_bytes().unwrap();
    let before = base64::engine::general_purpose::STANDARD
        .decode(BODY_BEFORE_OPRF_KEYS)
        .unwrap();
    assert_eq!(&bytes[..before.len()], &before[..]);
    assert_eq!(bytes.len(), before.len() + 1 + 32 + 32);
    f.sign(&anchor(1)).unwrap();
    let r = f.verify(&trust(1), d("2025-06-01")).unwrap();
    assert_eq!(r.members()[1].oprf_key, Some(oprf_key(7)));
    assert_eq!(r.members()[0].oprf_key, None);
    // Changing the OPRF key voids the anchors' signatures like any field.
    let mut b2 = b.clone();
    b2.members[1].oprf_key = Some(oprf_key(8));
    let forged = RosterFile {
        body: RosterFile::new(&b2).unwrap().body,
        ..f.clone()
    };
    assert!(matches!(
        forged.verify(&trust(1), d("2025-06-01")),
        Err(RosterError::Signature { .. })
    ));
    // JSON shows it at its member, base64; null where none.
    let json = serde_json::to_value(r.members()).unwrap();
    assert_eq!(json[1]["oprf_key"], oprf_key(7).to_base64());
    assert!(json[0]["oprf_key"].is_null());
}

#[test]
fn a_bad_oprf_key_entry_is_refused_naming_it() {
    // Not a ristretto255 element, and the identity element.
    for bad in [[0xff; 32], [0; 32]] {
        let mut b = body(1);
        b.members[0].oprf_key = Some(OprfPublicKey(bad));
        let e = RosterFile::new(&b).unwrap_err().to_string();
        assert!(
            e.contains("roster member NG") && e.contains("ristretto255"),
            "{e}"
        );
    }
    // A bootstrap peer answers no blind trace.
    let mut b = body(1);
    b.members[0].role = Role::Bootstrap;
    b.members[0].oprf_key = Some(oprf_key(1));
    assert!(
        RosterFile::new(&b)
            .unwrap_err()
            .to_string()
            .contains("bootstrap")
    );
    // Wire forms the encoder never writes: a key for a key not listed, and
    // two keys for one member.
    let before = base64::engine::general_purpose::STANDARD
        .decode(BODY_BEFORE_OPRF_KEYS)
        .unwrap();
    let entry = |member: PublicKey, k: OprfPublicKey| [member.0.to_vec(), k.0.to_vec()].concat();
    let stranger = anchor(42).public_key();
    let de = vectors::responder_key().public_key();
    let mut unknown = before.clone();
    unknown.push(1);
    unknown.extend(entry(stranger, oprf_key(1)));
    let e = RosterBody::decode(&unknown).unwrap_err().to_string();
    assert!(e.contains("not a member's key"), "{e}");
    let mut twice = before.clone();
    twice.push(2);
    twice.extend(entry(de, oprf_key(1)));
    twice.extend(entry(de, oprf_key(2)));
    let e = RosterBody::decode(&twice).unwrap_err().to_string();
    assert!(
        e.contains("roster member DE") && e.contains("two OPRF keys"),
        "{e}"
    );
    // One encoding per roster: an empty list written out, or entries out of
    // the members' order, are refused.
    let mut empty = before.clone();
    empty.push(0);
    assert!(RosterBody::decode(&empty).is_err());
    let ng = vectors::requester_key().public_key();
    let mut reordered = before.clone();
    reordered.push(2);
    reordered.extend(entry(de, oprf_key(1)));
    reordered.extend(entry(ng, oprf_key(2)));
    let e = RosterBody::decode(&reordered).unwrap_err().to_string();
    assert!(e.contains("not in the members' order"), "{e}");
    let mut ordered = before.clone();
    ordered.push(2);
    ordered.extend(entry(ng, oprf_key(2)));
    ordered.extend(entry(de, oprf_key(1)));
    let b = RosterBody::decode(&ordered).unwrap();
    assert_eq!(
        b.encode().unwrap(),
        ordered,
        "the encoder writes this order"
    );
    // A truncated list is an error, not an empty one.
    let mut cut = before.clone();
    cut.push(1);
    cut.extend(&entry(de, oprf_key(1))[..40]);
    assert!(RosterBody::decode(&cut).is_err());
}

#[test]
fn the_gossip_validation_setting_is_signed_and_read_back() {
    for mode in [GossipValidation::Strict, GossipValidation::Payload] {
        let mut b = body(1);
        b.gossip_validation = Some(mode);
        let bytes = b.encode().unwrap();
        let back = RosterBody::decode(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.encode().unwrap(), bytes, "one encoding per roster");
        // With OPRF keys too: both trailing parts, in order.
        b.members[1].oprf_key = Some(oprf_key(7));
        let bytes = b.encode().unwrap();
        assert_eq!(RosterBody::decode(&bytes).unwrap(), b);
        // Signed and verified with the rest of the body.
        let mut f = RosterFile::new(&b).unwrap();
        f.sign(&anchor(1)).unwrap();
        let r = f.verify(&trust(1), d("2025-06-01")).unwrap();
        assert_eq!(r.body().gossip_validation, Some(mode));
        // In JSON as anchors read it.
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["gossip_validation"], mode.as_str());
    }
    // Stating none keeps the bytes of earlier builds, and says nothing in JSON.
    assert_eq!(
        RosterFile::new(&body(1)).unwrap().body,
        BODY_BEFORE_OPRF_KEYS
    );
    let json = serde_json::to_value(body(1)).unwrap();
    assert!(json.get("gossip_validation").is_none());
    let from_json: RosterBody = serde_json::from_value(json).unwrap();
    assert_eq!(from_json.gossip_validation, None);
}

#[test]
fn a_roster_stating_a_setting_is_refused_by_the_forms_of_earlier_builds() {
    let mut b = body(1);
    b.gossip_validation = Some(GossipValidation::Payload);
    let bytes = b.encode().unwrap();
    // What builds before the setting decode: trailing bytes, so refused,
    // rather than read without the setting.
    assert!(codec::decode_body::<wire::Body>(Kind::Roster, &bytes, Limits::roster()).is_err());
    assert!(
        codec::decode_body::<wire::BodyBefore>(Kind::Roster, &bytes, Limits::roster()).is_err()
    );
}

/// The wire body of `body(1)` (members only) followed by an empty OPRF
/// keys' list and `settings` as (kind, value) pairs, as a decoder reads them.
fn with_settings(settings: &[(u8, &[u8])]) -> Vec<u8> {
    let mut v = base64::engine::general_purpose::STANDARD
        .decode(BODY_BEFORE_OPRF_KEYS)
        .unwrap();
    v.push(0);
    v.push(settings.len() as u8);
    for (kind, value) in settings {
        v.push(*kind);
        v.push(value.len() as u8);
        v.extend_from_slice(value);
    }
    v
}

#[test]
fn settings_the_encoder_never_writes_are_refused_naming_them() {
    let with = with_settings;
    let ok = RosterBody::decode(&with(&[(0, &[1])])).unwrap();
    assert_eq!(ok.gossip_validation, Some(GossipValidation::Payload));
    assert_eq!(ok.encode().unwrap(), with(&[(0, &[1])]));
    let refused = |v: Vec<u8>, says: &str| {
        let e = RosterBody::decode(&v).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    };
    refused(with(&[]), "present but empty");
    refused(
        with(&[(0, &[1]), (0, &[0])]),
        "listed twice or out of order",
    );
    refused(with(&[(0, &[2])]), "of 1 bytes beginning [02]");
    refused(with(&[(0, &[])]), "not one this build knows");
    refused(
        with(&[(7, &[1])]),
        "setting of kind 7, which this build does not know",
    );
    // Cut short: an error, not a roster without the setting.
    let mut cut = with(&[(0, &[1])]);
    cut.pop();
    assert!(RosterBody::decode(&cut).is_err());
}

#[test]
fn the_links_setting_is_signed_read_back_and_bounded() {
    let with = with_settings;
    let n48 = 48u32.to_be_bytes();
    let ok = RosterBody::decode(&with(&[(1, &n48)])).unwrap();
    assert_eq!(ok.peer_connections, Some(48));
    assert_eq!(ok.gossip_validation, None);
    assert_eq!(ok.encode().unwrap(), with(&[(1, &n48)]));
    // Both settings, in ascending kind, one encoding.
    let both = with(&[(0, &[1]), (1, &n48)]);
    let b = RosterBody::decode(&both).unwrap();
    assert_eq!(b.gossip_validation, Some(GossipValidation::Payload));
    assert_eq!(b.peer_connections, Some(48));
    assert_eq!(b.encode().unwrap(), both);
    let refused = |v: Vec<u8>, says: &str| {
        let e = RosterBody::decode(&v).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    };
    refused(with(&[(1, &[0, 0, 48])]), "of 3 bytes is not a u32");
    refused(
        with(&[(1, &3u32.to_be_bytes())]),
        "peer_connections 3 is outside 4 to 512",
    );
    refused(with(&[(1, &513u32.to_be_bytes())]), "is outside 4 to 512");
    refused(
        with(&[(1, &n48), (0, &[1])]),
        "listed twice or out of order",
    );
    // The encoder refuses what the decoder would.
    let mut b = body(1);
    b.peer_connections = Some(2);
    assert!(b.encode().is_err());
    // Signed and verified with the rest of the body; in JSON as anchors read it.
    b.peer_connections = Some(48);
    let mut f = RosterFile::new(&b).unwrap();
    f.sign(&anchor(1)).unwrap();
    let r = f.verify(&trust(1), d("2025-06-01")).unwrap();
    assert_eq!(r.body().peer_connections, Some(48));
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["peer_connections"], 48);
    assert!(
        serde_json::to_value(body(1))
            .unwrap()
            .get("peer_connections")
            .is_none()
    );
}

/// Setting kind 2, served lists: the one byte 1, read back, written after
/// the links, signed with the rest; any other value is refused, naming it.
#[test]
fn the_served_lists_setting_is_one_byte_read_back_and_signed() {
    let with = with_settings;
    let n64 = 64u32.to_be_bytes();
    let ok = RosterBody::decode(&with(&[(1, &n64), (2, &[1])])).unwrap();
    assert!(ok.served_lists);
    assert_eq!(ok.peer_connections, Some(64));
    assert_eq!(ok.encode().unwrap(), with(&[(1, &n64), (2, &[1])]));
    let alone = RosterBody::decode(&with(&[(2, &[1])])).unwrap();
    assert!(alone.served_lists && alone.peer_connections.is_none());
    for (value, says) in [
        (&[0][..], "served_lists of 1 bytes"),
        (&[1, 1][..], "of 2 bytes"),
    ] {
        let e = RosterBody::decode(&with(&[(2, value)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
    }
    let e = RosterBody::decode(&with(&[(2, &[1]), (1, &n64)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("listed twice or out of order"), "{e}");
    // Not stated: nothing written, as before the setting.
    assert!(
        !RosterBody::decode(&body(1).encode().unwrap())
            .unwrap()
            .served_lists
    );
    let mut b = body(1);
    b.served_lists = true;
    let mut f = RosterFile::new(&b).unwrap();
    f.sign(&anchor(1)).unwrap();
    let r = f.verify(&trust(1), d("2025-06-01")).unwrap();
    assert!(r.body().served_lists);
    assert_eq!(serde_json::to_value(&b).unwrap()["served_lists"], true);
    assert!(
        serde_json::to_value(body(1))
            .unwrap()
            .get("served_lists")
            .is_none()
    );
}

#[test]
fn gossip_validation_reads_from_text_and_names_the_choices() {
    assert_eq!("payload".parse(), Ok(GossipValidation::Payload));
    assert_eq!(" strict ".parse(), Ok(GossipValidation::Strict));
    let e = "none".parse::<GossipValidation>().unwrap_err();
    assert!(e.contains("strict or payload"), "{e}");
}

/// A version at the top of the range could never be replaced (versions only
/// grow): 0 and anything above [`MAX_VERSION`] are refused, with the range;
/// dates out of order name both.
#[test]
fn a_roster_version_out_of_range_or_dates_out_of_order_are_refused() {
    for v in [0, MAX_VERSION + 1, u64::MAX] {
        let e = body(v).check().unwrap_err().to_string();
        assert!(
            e.contains(&format!("version {v} is out of range")) && e.contains("1 to 1000000"),
            "{e}"
        );
    }
    assert!(body(MAX_VERSION).check().is_ok());
    let mut b = body(2);
    std::mem::swap(&mut b.valid_from, &mut b.valid_until);
    let e = b.check().unwrap_err().to_string();
    assert!(
        e.contains(&format!("valid_until ({})", b.valid_until))
            && e.contains(&format!("valid_from ({})", b.valid_from)),
        "{e}"
    );
}

/// One OPRF key for two members (a regional organisation's trial gave one
/// State's key to a second): requesters would take either's evaluations for
/// the other's. Refused, naming the second.
#[test]
fn an_oprf_key_listed_for_two_members_is_refused() {
    let mut b = body(2);
    b.members[0].oprf_key = Some(oprf_key(3));
    b.members[1].oprf_key = Some(oprf_key(3));
    let e = b.check().unwrap_err().to_string();
    assert!(e.contains("DE") && e.contains("listed twice"), "{e}");
    b.members[1].oprf_key = Some(oprf_key(4));
    b.check().unwrap();
}

/// One node key for two States: the refusal names the State that holds it
/// first, so the regional organisation sees which entry to correct (a
/// user's trial: "key ... is listed twice" named neither).
#[test]
fn a_node_key_listed_for_two_states_names_both() {
    let mut b = body(2);
    b.members[1].key = b.members[0].key;
    let e = b.check().unwrap_err().to_string();
    assert!(
        e.contains("roster member DE") && e.contains("it is NG's node key too"),
        "{e}"
    );
}

/// A roster outside its dates says what to do: wait for its first day, or
/// get the roster in force.
#[test]
fn a_roster_outside_its_dates_says_what_to_do() {
    let f = signed(2, &[1]);
    let early = f
        .verify(&trust(1), d("2024-12-31"))
        .unwrap_err()
        .to_string();
    assert!(
        early.contains("not yet in force: install it from 2025-01-01 on"),
        "{early}"
    );
    let late = f
        .verify(&trust(1), d("2026-01-01"))
        .unwrap_err()
        .to_string();
    assert!(late.contains("it has expired"), "{late}");
}

/// "1 are required" read wrong; a roster no anchor signed says so.
#[test]
fn a_threshold_error_is_said_in_words() {
    let e = RosterError::Threshold {
        found: 0,
        needed: 1,
    }
    .to_string();
    assert!(
        e.contains("1 is required") && e.contains("none of them signed"),
        "{e}"
    );
    let e = RosterError::Threshold {
        found: 1,
        needed: 2,
    }
    .to_string();
    assert!(
        e.contains("2 are required") && !e.contains("no anchor"),
        "{e}"
    );
}

/// Names States and regional organisations write pass: digits, marks on a
/// letter (decomposed Vietnamese), the typographic apostrophe, `&`, `/`,
/// Arabic. Controls, invisible and direction characters, symbols, marks on
/// nothing and stacks of marks are refused, each naming the character.
#[test]
fn member_names_take_what_names_are_written_with_and_nothing_hidden() {
    for ok in [
        "Ghana",
        "ECOWAS bootstrap 2",
        "Vie\u{0323}\u{0302}t Nam",
        "Co\u{0302}te d\u{2019}Ivoire",
        "Côte d'Ivoire",
        "Bosnia & Herzegovina",
        "Trinidad/Tobago",
        "المملكة المغربية",
        "Lao People's Democratic Republic (the)",
        "AU bootstrap ٢",
    ] {
        assert_eq!(name_problem(ok), None, "{ok:?}");
    }
    for (bad, says) in [
        ("", "1 to 64"),
        (&"a".repeat(65) as &str, "has 65 characters"),
        ("Ghana\u{202E}anahG", "U+202E (character 6)"),
        ("Gha\u{200B}na", "U+200B"),
        ("Ghana\n", "U+000A"),
        ("Gh\u{1b}[31mana", "U+001B"),
        ("Ghana \u{0301}", "not on a letter"),
        ("\u{0301}Ghana", "not on a letter"),
        (
            "Gha\u{0301}\u{0301}\u{0301}\u{0301}na",
            "more than 3 combining marks",
        ),
        ("Ghana ✓", "U+2713"),
        ("Gha\u{FE0F}na", "U+FE0F (character 4) is invisible"),
        ("Gha\u{034F}na", "invisible"),
        ("Ghana; rm", "U+003B"),
    ] {
        let problem = name_problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
        assert!(problem.contains(says), "{bad:?}: {problem}");
    }
    // A roster with such a name is refused, naming the member.
    let e = check_member(&member("GH", "Gha\u{200B}na", anchor(7).public_key()))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("roster member GH: name"), "{e}");
    // What builds before refuse is told apart from what they took.
    assert!(!name_needs_newer_build("Côte d'Ivoire (the)"));
    for newer in [
        "ECOWAS bootstrap 2",
        "Co\u{0302}te",
        "Bosnia & Herzegovina",
        "A/B",
        "Côte d\u{2019}Ivoire",
    ] {
        assert!(name_needs_newer_build(newer), "{newer:?}");
    }
}

/// What a regional organisation types is stored one way: composed, its
/// spaces trimmed and single; a name without a letter is refused.
#[test]
fn a_typed_name_is_stored_composed_with_single_spaces() {
    assert_eq!(
        typed_name(" Vie\u{0323}\u{0302}t  Nam ").unwrap(),
        "Vi\u{1ec7}t Nam"
    );
    assert!(!name_needs_newer_build(
        &typed_name("Co\u{0302}te d'Ivoire").unwrap()
    ));
    assert_eq!(typed_name("South  Africa").unwrap(), "South Africa");
    for blank in ["", "   ", "-", "(((---)))", "2"] {
        let e = typed_name(blank).unwrap_err();
        assert!(
            e.contains("letter") || e.contains("1 to 64"),
            "{blank:?}: {e}"
        );
    }
    assert!(typed_name("Gha\u{200B}na").unwrap_err().contains("U+200B"));
    // What the decode check takes only because builds before took it is
    // not typed or signed: Hangul fillers, stacks of marks that are letters
    // by Unicode's count, marks on a digit with no letter.
    for (unsigned, says) in [
        ("France\u{3164}", "U+3164 (character 7) is invisible"),
        ("\u{3164}", "U+3164 (character 1) is invisible"),
        (
            "Ge\u{0363}\u{0363}\u{0363}\u{0363}rmany",
            "more than 3 combining marks",
        ),
        (
            "مصر\u{064B}\u{064B}\u{064B}\u{064B}",
            "more than 3 combining marks",
        ),
        ("2\u{0363}\u{0363}", "no letter"),
    ] {
        assert_eq!(name_problem(unsigned), None, "{unsigned:?} stays readable");
        let e = typed_name(unsigned).unwrap_err();
        assert!(e.contains(says), "{unsigned:?}: {e}");
    }
    assert_eq!(name_problem_to_sign("مَصْر"), None);
    // Names alike, case and apostrophe aside.
    let k = anchor(3).public_key();
    let ms = [
        member("CI", "Côte d'Ivoire", k),
        member("GH", "Ghana", anchor(4).public_key()),
        member("TG", "CÔTE D\u{2019}IVOIRE", anchor(5).public_key()),
        member("BJ", "Co\u{0302}te d'Ivoire", anchor(6).public_key()),
    ];
    let alike: Vec<(&str, &str)> = names_alike(&ms)
        .iter()
        .map(|(a, b)| (a.name.as_str(), b.name.as_str()))
        .collect();
    assert_eq!(
        alike,
        [
            ("Côte d'Ivoire", "CÔTE D\u{2019}IVOIRE"),
            ("CÔTE D\u{2019}IVOIRE", "Co\u{0302}te d'Ivoire")
        ]
    );
    // NFC takes U+0958 apart into a letter and a nukta builds before
    // refuse: kept as typed.
    assert_eq!(typed_name("\u{0958}\u{093E}").unwrap(), "\u{0958}\u{093E}");
    assert!(!name_needs_newer_build("\u{0958}\u{093E}"));
}
