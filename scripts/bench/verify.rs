//! Batched Ed25519 verification tried (issue 16's path to 10,000 answers a
//! second): ring's one-by-one check, which every tracenet node uses on every
//! query and answer, against ed25519-dalek's `verify_batch` at the batch sizes
//! a holder or a requester would see, in the same run. Then the reason the
//! node does not take it: a signer can make a signature that the batch check
//! accepts and ring refuses, so the verdict kept on receipt would not be the
//! one every other State's node, and `tracenet evidence verify`, reaches later.
//!
//! Run with `scripts/bench-verify.sh` (release build; about 20 s).
//!   TRACENET_BENCH_VERIFY_SIGS=N  signatures checked per figure (default 20,000)

mod machine;
use machine::{env_usize, loadavg};

use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// The allocator of the `tracenet` binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How many signers: States of a large federation answering one requester.
const SIGNERS: usize = 64;
/// A signed answer's body is a few hundred bytes (protocol::messages).
const MESSAGE_BYTES: usize = 400;
/// Batch sizes: one answer, a 10-State trace's nine, a holder's queue.
const BATCHES: &[usize] = &[1, 4, 9, 16, 32, 64];

struct Signed {
    public: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
}

fn main() {
    let per_figure = env_usize("TRACENET_BENCH_VERIFY_SIGS", 20_000).max(SIGNERS);
    println!("load average at start: {}", loadavg());
    let rng = SystemRandom::new();
    let signed: Vec<Signed> = (0..SIGNERS)
        .map(|_| {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
            let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
            let mut message = vec![0u8; MESSAGE_BYTES];
            rng.fill(&mut message).expect("random");
            let mut signature = [0u8; 64];
            signature.copy_from_slice(key.sign(&message).as_ref());
            let mut public = [0u8; 32];
            public.copy_from_slice(key.public_key().as_ref());
            Signed {
                public,
                message,
                signature,
            }
        })
        .collect();

    // ring, one by one, as tracenet checks (protocol::keys::PublicKey::verifies).
    let rounds = per_figure / SIGNERS;
    let t = Instant::now();
    for _ in 0..rounds {
        for s in &signed {
            let ok = UnparsedPublicKey::new(&ED25519, &s.public)
                .verify(&s.message, &s.signature)
                .is_ok();
            assert!(black_box(ok));
        }
    }
    let ring_us = t.elapsed().as_secs_f64() * 1e6 / (rounds * SIGNERS) as f64;
    println!(
        "ring 0.17, one by one (tracenet's check): {ring_us:.1} µs a signature ({:.0} a second on one core)",
        1e6 / ring_us
    );

    // Each check below decodes its keys as ring's does (a square root
    // each): a node holds the roster's keys as bytes.
    let key = |i: usize| ed25519_dalek::VerifyingKey::from_bytes(&signed[i].public).expect("key");
    let sigs: Vec<ed25519_dalek::Signature> = signed
        .iter()
        .map(|s| ed25519_dalek::Signature::from_bytes(&s.signature))
        .collect();
    let messages: Vec<&[u8]> = signed.iter().map(|s| s.message.as_slice()).collect();

    let t = Instant::now();
    for _ in 0..rounds {
        for i in 0..SIGNERS {
            let ok = key(i).verify_strict(messages[i], &sigs[i]).is_ok();
            assert!(black_box(ok));
        }
    }
    let single_us = t.elapsed().as_secs_f64() * 1e6 / (rounds * SIGNERS) as f64;
    println!(
        "ed25519-dalek 3, one by one (verify_strict): {single_us:.1} µs a signature ({:.2}x ring's time)",
        single_us / ring_us
    );

    println!("ed25519-dalek 3, verify_batch (same signatures, same run):");
    for &n in BATCHES {
        let batches = (per_figure / n).max(1);
        let t = Instant::now();
        for b in 0..batches {
            let at = (b * n) % (SIGNERS - n + 1);
            let keys: Vec<_> = (at..at + n).map(key).collect();
            let ok = ed25519_dalek::verify_batch(&messages[at..at + n], &sigs[at..at + n], &keys)
                .is_ok();
            assert!(black_box(ok));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / (batches * n) as f64;
        println!(
            "  batches of {n:>2}: {us:5.1} µs a signature, {:.2}x ring's time ({:.0} a second on one core)",
            us / ring_us,
            1e6 / us
        );
    }

    // What a batch check would have to add to reach ring's verdict on every
    // signature: each R's encoding canonical and its point free of a
    // small-order part (a multiplication by the group's order).
    let t = Instant::now();
    for _ in 0..rounds {
        for s in &signed {
            let r: [u8; 32] = s.signature[..32].try_into().expect("32 bytes");
            let point = CompressedEdwardsY(r).decompress().expect("a point");
            let ok = point.compress().to_bytes() == r && point.is_torsion_free();
            assert!(black_box(ok));
        }
    }
    let torsion_us = t.elapsed().as_secs_f64() * 1e6 / (rounds * SIGNERS) as f64;
    println!(
        "each R decoded, its encoding compared and its point checked free of a small-order part: {torsion_us:.1} µs a signature ({:.2}x ring's time)",
        torsion_us / ring_us
    );

    // What a hostile signer can do against a batch check: a signature whose
    // equation is off by a point of order 2. ring (cofactorless, the encoded
    // R compared) refuses it; the batch equation, multiplied by a random z,
    // loses the error whenever z is even; z comes from the inputs, which the
    // signer chooses, so it tries messages until one passes.
    let (tries, refused_by_ring, refused_by_strict) = off_by_torsion(&rng);
    println!(
        "a signature off by a point of order 2, made by its signer: the batch check accepted it after {tries} message(s) tried; ring refused it: {refused_by_ring}; verify_strict refused it: {refused_by_strict}"
    );
    println!("load average at end: {}", loadavg());
}

/// Makes signatures whose verification equation is off by the point of order
/// 2, for messages that differ in one byte, until `verify_batch` (a batch of
/// one) accepts one. Returns how many were tried, and whether ring and
/// `verify_strict` refused the accepted one.
fn off_by_torsion(rng: &SystemRandom) -> (usize, bool, bool) {
    let scalar = |rng: &SystemRandom| {
        let mut wide = [0u8; 64];
        rng.fill(&mut wide).expect("random");
        Scalar::from_bytes_mod_order_wide(&wide)
    };
    // (0, -1): y = p - 1, the point of order 2.
    let mut y = [0xffu8; 32];
    y[0] = 0xec;
    y[31] = 0x7f;
    let order_two = CompressedEdwardsY(y).decompress().expect("a point");
    assert!(order_two.is_small_order());
    let secret = scalar(rng);
    let public = EdwardsPoint::mul_base(&secret).compress().to_bytes();
    let mut message = vec![7u8; MESSAGE_BYTES];
    for tries in 1..=256 {
        message[0] = tries as u8;
        let nonce = scalar(rng);
        let r = (EdwardsPoint::mul_base(&nonce) + order_two)
            .compress()
            .to_bytes();
        let mut h = ring::digest::Context::new(&ring::digest::SHA512);
        h.update(&r);
        h.update(&public);
        h.update(&message);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(h.finish().as_ref());
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        let s = nonce + k * secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r);
        signature[32..].copy_from_slice(s.as_bytes());
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public).expect("key");
        let sig = ed25519_dalek::Signature::from_bytes(&signature);
        if ed25519_dalek::verify_batch(&[&message], &[sig], &[key]).is_ok() {
            let by_ring = UnparsedPublicKey::new(&ED25519, &public)
                .verify(&message, &signature)
                .is_err();
            let by_strict = key.verify_strict(&message, &sig).is_err();
            return (tries, by_ring, by_strict);
        }
    }
    panic!("no message of 256 passed the batch check");
}
