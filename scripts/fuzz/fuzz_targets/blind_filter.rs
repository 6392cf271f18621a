//! A keyed filter as a hostile holder could send it: any header (decoded
//! without its signature, which a fuzzer cannot make) and any chunks are
//! refused or assembled, and a lookup in an assembled filter never reads
//! outside its fingerprints.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracenet::blind::ReceivedFilter;
use tracenet::protocol::blind::{CHUNK_FINGERPRINTS, FilterHeader};
use tracenet::protocol::{Digest, Limits, Message};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    let (head, body) = rest.split_at(n.min(rest.len()));
    let Ok(mut h) = FilterHeader::decode(head, Limits::default()) else {
        return;
    };
    let chunks: Vec<Vec<u8>> = body.chunks(2 * CHUNK_FINGERPRINTS).map(<[u8]>::to_vec).collect();
    // Half the time, let the digests match so that the descriptor checks run.
    if n % 2 == 0 {
        h.chunks = chunks.iter().map(|c| Digest::of(c)).collect();
    }
    if let Ok(f) = ReceivedFilter::assemble(&h, &chunks) {
        for k in [0u64, 1, u64::MAX, h.seed, n as u64] {
            let _ = f.contains(k);
        }
    }
});
