//! Any bytes given to the blind request and reply decoders (proto-docs/BLIND.md)
//! yield a value or an error, never a panic; a decoded reply's filter header
//! is read too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::protocol::blind::{BlindReply, BlindRequest, FilterHeader};
use tracenet::protocol::{Limits, decode_and_verify};

fuzz_target!(|data: &[u8]| {
    let _ = BlindRequest::decode(data, Limits::default());
    if let Ok(BlindReply::Filter(frame)) = BlindReply::decode(data, Limits::default()) {
        let _ = decode_and_verify::<FilterHeader>(&frame, Limits::default());
    }
});
