//! Any bytes given as an evidence bundle: parse, then verify every part.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::evidence::Bundle;
use tracenet::roster::TrustConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Bundle::from_json(data) {
        let trust = TrustConfig {
            anchors: vec![
                "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c".into(),
            ],
            threshold: 1,
        };
        let _ = b.verify(&trust);
    }
});
