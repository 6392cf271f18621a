//! The plain libp2p baseline of the federation benchmark
//! (scripts/bench/baseline.rs) with each holder in a process of its own: a
//! holder process that ends early stops the run at once, never leaves it
//! waiting for ever.

#[path = "../scripts/bench/baseline.rs"]
#[allow(dead_code)]
mod baseline;

use std::process::Command;
use std::time::Duration;

/// Runs the baseline with one holder process running `script` (`sh -c`) in
/// place of a plain holder; returns the message the run panicked with.
fn run_with_holder_script(script: String) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            baseline::run_with(
                baseline::Layout::ProcessEach,
                || {
                    let mut c = Command::new("sh");
                    c.arg("-c").arg(&script);
                    c
                },
                1,
                5,
                420,
                520,
            )
        }));
        let _ = tx.send(run.err().map(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(message)) => message,
        Ok(None) => panic!("the run finished without its holder"),
        Err(_) => panic!("the run still waits a minute after its holder ended"),
    }
}

fn a_key() -> String {
    let k = libp2p::identity::Keypair::generate_ed25519();
    hex::encode(k.public().encode_protobuf())
}

#[test]
fn a_holder_that_ends_before_naming_its_key_stops_the_run() {
    let m = run_with_holder_script("exit 0".into());
    assert!(m.contains("exited early"), "{m}");
}

#[test]
fn a_holder_that_ends_before_it_is_ready_stops_the_run() {
    let m = run_with_holder_script(format!("echo key {}", a_key()));
    assert!(m.contains("exited early"), "{m}");
}

#[test]
fn a_holder_that_ends_once_ready_stops_the_run() {
    let m = run_with_holder_script(format!("echo key {}; echo ready", a_key()));
    assert!(m.contains("exited early"), "{m}");
}

/// A plain holder when this test executable is started as one (see below);
/// passes at once otherwise.
#[test]
fn plain_holder_process() {
    baseline::serve_if_holder();
}

#[test]
fn each_holder_in_a_process_of_its_own_answers_every_trace() {
    let f = baseline::run_with(
        baseline::Layout::ProcessEach,
        || {
            // This executable, running only the test above (quiet, so that
            // its output lines are the holder's own).
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["plain_holder_process", "--exact", "--nocapture", "-q"]);
            c
        },
        2,
        10,
        420,
        520,
    );
    assert_eq!(f.traces, 10);
    assert!(f.p50_ms > 0.0 && f.p99_ms >= f.p50_ms);
}

#[test]
fn a_plain_federation_kept_running_adds_each_block_of_traces_to_its_figures() {
    let mut p = baseline::PlainFederation::start_with(
        baseline::Layout::ProcessEach,
        || {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["plain_holder_process", "--exact", "--nocapture", "-q"]);
            c
        },
        2,
        420,
        520,
    );
    // Two blocks, timed as the benchmark times its blocks (there with
    // tracenet's own traces between them): both are counted.
    p.timed(3);
    p.timed(4);
    let f = p.figures();
    assert_eq!(f.traces, 7);
    assert!(f.p50_ms > 0.0 && f.p99_ms >= f.p50_ms);
}
