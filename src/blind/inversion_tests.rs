//! Why keyed filters (issue 17, second acceptance line): an unkeyed hash
//! filter of a maker's serials is inverted offline by enumerating the serial
//! pattern; a keyed filter yields only its false positives without the key.

use std::time::Instant;

use super::{OprfKey, build_filter, canonical_input, filter_key};
use crate::marking::MarkingPrefix;

/// The pattern of the maker's serials: `WP` and six digits, a million values.
const SPACE: u64 = 1_000_000;
/// Records the keyed filter holds in this test: evaluating 1,000,000 keys
/// in the debug build takes minutes (README, "Blind traces", gives the
/// release figures); the attack's cost does not depend on it.
const KEYED_RECORDS: u64 = 20_000;

fn serial(i: u64) -> String {
    format!("WP{i:06}")
}

fn hashed(prefix: &MarkingPrefix, s: &str) -> u64 {
    let d = ring::digest::digest(&ring::digest::SHA256, &canonical_input(prefix, s));
    filter_key(d.as_ref())
}

fn assembled(keys: Vec<u64>) -> super::ReceivedFilter {
    let b = build_filter(keys).unwrap();
    let holder = crate::protocol::Party {
        state: crate::model::CountryCode::parse("DE").unwrap(),
        key: crate::protocol::SigningKey::from_seed(&[1; 32])
            .unwrap()
            .public_key(),
    };
    let h = b.header(
        holder,
        "DE/CARLWALTHER".parse().unwrap(),
        1,
        [0; 32],
        String::new(),
    );
    super::ReceivedFilter::assemble(&h, &b.chunks).unwrap()
}

#[test]
fn a_hashed_filter_is_inverted_a_keyed_one_is_not() {
    let prefix: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
    // Every serial of the pattern is held: the hashed filter of 1,000,000.
    let hashed_filter = assembled((0..SPACE).map(|i| hashed(&prefix, &serial(i))).collect());
    let started = Instant::now();
    let listed = (0..SPACE)
        .filter(|i| hashed_filter.contains(hashed(&prefix, &serial(*i))))
        .count() as u64;
    let took = started.elapsed();
    assert_eq!(listed, SPACE, "the whole registry is listed offline");
    assert!(took.as_secs() < 60, "inverted in {took:?}");
    eprintln!("hashed filter of {SPACE} serials inverted in {took:?}");

    // The keyed filter of the first records, under a key the attacker lacks.
    let key = OprfKey::from_seed(&[0x5e; 32]).unwrap();
    let keyed = assembled(
        (0..KEYED_RECORDS)
            .map(|i| filter_key(&key.evaluate(&canonical_input(&prefix, &serial(i))).unwrap()))
            .collect(),
    );
    // The same enumeration, by hash and under a guessed key, finds only
    // false positives (about 2^-16 of the guesses), not the records.
    let guessed = OprfKey::from_seed(&[0x01; 32]).unwrap();
    let by_hash: Vec<u64> = (0..SPACE)
        .filter(|i| keyed.contains(hashed(&prefix, &serial(*i))))
        .collect();
    let by_guess = (0..KEYED_RECORDS)
        .filter(|i| {
            keyed.contains(filter_key(
                &guessed
                    .evaluate(&canonical_input(&prefix, &serial(*i)))
                    .unwrap(),
            ))
        })
        .count();
    assert!(by_hash.len() < 60, "{} false positives", by_hash.len());
    let true_found = by_hash.iter().filter(|i| **i < KEYED_RECORDS).count();
    assert!(
        true_found < 5,
        "{true_found} records listed without the key"
    );
    assert!(
        by_guess < 5,
        "{by_guess} records listed under a guessed key"
    );
    // With the key (only the holder has it), every record is there.
    assert!((0..100).all(|i| keyed.contains(filter_key(
        &key.evaluate(&canonical_input(&prefix, &serial(i))).unwrap()
    ))));
}
