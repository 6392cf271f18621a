//! Any bytes given to the roster body decoder yield a value or an error;
//! what decodes re-encodes, and the re-encoded bytes decode to the same
//! roster (the checks agree both ways; the trailing OPRF keys included).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::roster::RosterBody;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = RosterBody::decode(data) {
        let bytes = body.encode().expect("a decoded roster re-encodes");
        assert_eq!(RosterBody::decode(&bytes).expect("and decodes again"), body);
    }
});
