//! Any bytes given as a signed maker table file (as gossip delivers them):
//! parse, then verify against a fixed anchor.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::model::Date;
use tracenet::roster::TrustConfig;
use tracenet::roster::makers::MakersFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = MakersFile::from_json(data) {
        let trust = TrustConfig {
            anchors: vec![
                "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c".into(),
            ],
            threshold: 1,
        };
        let on = Date::new(2025, 6, 1).unwrap_or_else(|| unreachable!());
        let _ = f.verify(&trust, Some(on));
        let _ = f.decode_unverified();
    }
});
