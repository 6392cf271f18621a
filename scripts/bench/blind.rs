//! Blind-trace benchmark (issue 17, proto-docs/BLIND.md), in process: a
//! holder's blind evaluations per second on one core, the requester's
//! blinding and finalisation, and a keyed filter of 1,000,000 records (the
//! evaluations on every core, the filter built, its size), then the update
//! after 1,000 records imported; beside an unkeyed SHA-256 filter of the same
//! records, built in the same run (the baseline an offline attacker inverts).
//! The round trip of blind against clear traces is in the federation
//! benchmark. Run with `scripts/bench-blind.sh` (release). Size from
//! TRACENET_BENCH_RECORDS (default 1,000,000).

mod machine;
use machine::env_u64;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tracenet::blind::{
    Blinded, BlindedBatch, OprfKey, build_filter, canonical_input, filter_key, finalize,
    record_keys,
};
use tracenet::marking::MarkingPrefix;

fn main() {
    let records = env_u64("TRACENET_BENCH_RECORDS", 1_000_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let key = OprfKey::from_seed(&[0x42; 32]).unwrap();
    let prefix: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
    println!("blind-trace benchmark: {records} records, {cores} cores");

    // A holder's evaluation rate, one core, in batches of 64 (a trace with one `?`).
    let inputs: Vec<Vec<u8>> = (0..64)
        .map(|i| canonical_input(&prefix, &format!("WP{i:06}")))
        .collect();
    let b = Blinded::new(inputs.clone()).unwrap();
    let (mut n, started) = (0u64, Instant::now());
    while started.elapsed() < Duration::from_secs(3) {
        let _ = key
            .blind_evaluate(&BlindedBatch::check(&b.elements).unwrap())
            .unwrap();
        n += 64;
    }
    let per_sec = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "  holder: {per_sec:.0} blind evaluations/s on one core (batches of 64, proof included); the default budget of 1,200 an hour per State costs it {:.2} s of a core an hour",
        1200.0 / per_sec
    );
    let (mut n, started) = (0u64, Instant::now());
    while started.elapsed() < Duration::from_secs(3) {
        let b = Blinded::new(inputs.clone()).unwrap();
        let (ev, proof) = key
            .blind_evaluate(&BlindedBatch::check(&b.elements).unwrap())
            .unwrap();
        let _ = finalize(&b, &ev, &proof, &key.public_key()).unwrap();
        n += 64;
    }
    println!(
        "  requester and holder together (blind, evaluate, verify the proof, finalise): {:.0} elements/s on one core",
        n as f64 / started.elapsed().as_secs_f64()
    );

    // The records: WP + 7 digits, spread over the serial space; each record
    // is in the filter under its keys (here one: nothing folds or varies).
    let serial = |i: u64| format!("WP{:07}", i.wrapping_mul(7_919) % 10_000_000);
    let keys: BTreeSet<String> = (0..records).flat_map(|i| record_keys(&serial(i))).collect();

    // Baseline: an unkeyed filter (SHA-256) of the same keys.
    let started = Instant::now();
    let hashed: Vec<u64> = keys
        .iter()
        .map(|k| {
            let d = ring::digest::digest(&ring::digest::SHA256, &canonical_input(&prefix, k));
            filter_key(d.as_ref())
        })
        .collect();
    let baseline = build_filter(hashed).unwrap();
    println!(
        "  baseline, unkeyed SHA-256 filter: {} keys hashed and built in {:.2} s, {} bytes",
        keys.len(),
        started.elapsed().as_secs_f64(),
        baseline.bytes()
    );

    // The keyed filter: every key evaluated (on every core) and kept.
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let kept = db.open_tree("blind_evaluations").unwrap();
    let started = Instant::now();
    let (fk, evaluated) =
        tracenet::node::blind::filter_keys_with(&key, &kept, &prefix, &keys).unwrap();
    let evaluated_in = started.elapsed();
    let started = Instant::now();
    let built = build_filter(fk).unwrap();
    let built_in = started.elapsed();
    println!(
        "  keyed filter of {} records: {evaluated} keys evaluated in {:.1} s on {cores} cores ({:.0}/s), filter built in {:.2} s; {} bytes ({:.2} per key) in {} chunks",
        records,
        evaluated_in.as_secs_f64(),
        evaluated as f64 / evaluated_in.as_secs_f64(),
        built_in.as_secs_f64(),
        built.bytes(),
        built.bytes() as f64 / built.keys as f64,
        built.chunks.len()
    );

    // What an update reads: the kept evaluations, in one ordered scan.
    let started = Instant::now();
    let scanned = kept.scan_prefix(b"DE\0CARLWALTHER\0").count();
    println!(
        "  reading the {scanned} kept evaluations back (one ordered sled scan): {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // 1,000 records imported: only their keys are evaluated; the filter is rebuilt.
    let mut more = keys.clone();
    more.extend((0..1_000u64).map(|i| format!("NEW{i:06}")));
    let started = Instant::now();
    let (fk, evaluated) =
        tracenet::node::blind::filter_keys_with(&key, &kept, &prefix, &more).unwrap();
    let keys_in = started.elapsed();
    let rebuilt = build_filter(fk).unwrap();
    println!(
        "  update after 1,000 records imported: {evaluated} keys evaluated and {} read in {:.2} s, filter rebuilt in {:.2} s total",
        more.len() - evaluated,
        keys_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(rebuilt.keys as usize, more.len());
}
