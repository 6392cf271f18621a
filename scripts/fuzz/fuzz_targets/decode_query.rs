//! Any bytes given to the query decoder yield a value or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::protocol::{Limits, TraceQuery, decode_and_verify};

fuzz_target!(|data: &[u8]| {
    let _ = decode_and_verify::<TraceQuery>(data, Limits::default());
});
