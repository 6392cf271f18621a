//! Blind evaluation of any elements a requester sends, and finalisation of
//! any evaluation and proof a holder returns, fail cleanly, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::blind::{Blinded, BlindedBatch, OprfKey, finalize};

fuzz_target!(|data: &[u8]| {
    let key = OprfKey::from_seed(&[7; 32]).unwrap();
    let elements: Vec<[u8; 32]> = data
        .chunks_exact(32)
        .take(8)
        .map(|c| c.try_into().unwrap())
        .collect();
    if let Ok(batch) = BlindedBatch::check(&elements) {
        let _ = key.blind_evaluate(&batch);
    }
    let Ok(b) = Blinded::new(vec![b"x".to_vec(); elements.len().max(1)]) else {
        return;
    };
    let proof = (
        elements.first().copied().unwrap_or([0; 32]),
        elements.last().copied().unwrap_or([0; 32]),
    );
    let pk = elements.get(1).copied().unwrap_or_else(|| key.public_key());
    let _ = finalize(&b, &elements, &proof, &pk);
});
