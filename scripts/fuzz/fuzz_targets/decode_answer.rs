//! Any bytes given to the answer decoder yield a value or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::protocol::{Limits, TraceAnswer, decode_and_verify};

fuzz_target!(|data: &[u8]| {
    let _ = decode_and_verify::<TraceAnswer>(data, Limits::default());
});
