//! Benchmark of the trust layer on one thread: answers signed per second,
//! verified per second, and encode + decode time of a typical answer (one hit
//! with three events). Run with `cargo bench --bench trust`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracenet::protocol::{Limits, TraceAnswer, codec, decode_and_verify, sign, vectors};

/// Runs `f` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up caches and the branch predictor first.
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        n += 256;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let budget = Duration::from_secs(3);
    let query = sign(vectors::query(), &vectors::requester_key()).expect("vector query signs");
    let answer = vectors::answer(query.digest());
    let key = vectors::responder_key();
    let signed = sign(answer.clone(), &key).expect("vector answer signs");
    let frame = signed.bytes().to_vec();

    let signs = rate(budget, || {
        black_box(sign(black_box(answer.clone()), &key).ok());
    });
    let verifies = rate(budget, || {
        black_box(decode_and_verify::<TraceAnswer>(black_box(&frame), Limits::default()).ok());
    });
    let roundtrips = rate(budget, || {
        let bytes = codec::encode_body(codec::Kind::Answer, black_box(&answer)).ok();
        let back: Option<TraceAnswer> =
            bytes.and_then(|b| codec::decode_body(codec::Kind::Answer, &b, Limits::default()).ok());
        black_box(back);
    });

    println!("answer frame: {} bytes (3 events)", frame.len());
    println!("sign (encode + Ed25519):          {signs:>10.0} answers/s  (target >= 20000)");
    println!("verify (decode + Ed25519 verify): {verifies:>10.0} answers/s  (target >= 12000)");
    println!(
        "encode + decode, no signature:    {:>10.2} µs           (target <= 5)",
        1e6 / roundtrips
    );
}
