//! Keyed filters: a binary fuse filter (xorf's `BinaryFuse16`, 16-bit
//! fingerprints, about 2^-16 false positives) of the 64-bit keys F_k(x) of a
//! prefix's canonical inputs; cut into chunks of
//! [`CHUNK_FINGERPRINTS`] whose SHA-256 the signed header lists; and
//! reassembled by a requester, which checks every chunk and the descriptor
//! before it reads a fingerprint: a hostile descriptor could otherwise make
//! the lookup index out of the fingerprints.

use xorf::{BinaryFuse16, Descriptor, Filter};

use crate::protocol::Digest;
use crate::protocol::blind::{CHUNK_FINGERPRINTS, FilterHeader, MAX_FILTER_CHUNKS};

/// The largest segment xorf builds (2^18).
const MAX_SEGMENT_LENGTH: u32 = 1 << 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    #[error("no keys: a prefix without records has no filter")]
    Empty,
    #[error("the filter could not be built: {0}")]
    Build(&'static str),
    #[error("{keys} keys make a filter of more than {MAX_FILTER_CHUNKS} chunks")]
    TooLarge { keys: usize },
    #[error("the header's descriptor is not one a binary fuse filter has ({0})")]
    Descriptor(&'static str),
    #[error("chunk {index} is {len} bytes; {expected} were expected")]
    ChunkLength {
        index: usize,
        len: usize,
        expected: usize,
    },
    #[error("chunk {0} does not match the digest its signed header lists")]
    ChunkDigest(usize),
    #[error("{got} chunks given for a header listing {listed}")]
    ChunkCount { got: usize, listed: usize },
}

/// A filter a holder built, ready to be described in a header and served
/// chunk by chunk.
#[derive(Debug, Clone)]
pub struct BuiltFilter {
    pub seed: u64,
    pub segment_length: u32,
    pub segment_length_mask: u32,
    pub segment_count_length: u32,
    pub keys: u64,
    /// Each chunk's bytes (u16 little-endian fingerprints).
    pub chunks: Vec<Vec<u8>>,
}

impl BuiltFilter {
    pub fn fingerprints(&self) -> u32 {
        (self.chunks.iter().map(Vec::len).sum::<usize>() / 2) as u32
    }

    pub fn digests(&self) -> Vec<Digest> {
        self.chunks.iter().map(|c| Digest::of(c)).collect()
    }

    /// Bytes of fingerprints: the size a requester fetches.
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// The header describing this filter, for `holder` to sign: its
    /// descriptor, key count and chunk digests, with the prefix, version,
    /// OPRF public key and serial alphabet given.
    pub fn header(
        &self,
        holder: crate::protocol::Party,
        prefix: crate::marking::MarkingPrefix,
        version: u64,
        oprf_key: crate::protocol::blind::Element,
        alphabet: String,
    ) -> FilterHeader {
        FilterHeader {
            holder,
            prefix,
            version,
            oprf_key,
            alphabet,
            keys: self.keys,
            seed: self.seed,
            segment_length: self.segment_length,
            segment_length_mask: self.segment_length_mask,
            segment_count_length: self.segment_count_length,
            fingerprints: self.fingerprints(),
            chunks: self.digests(),
        }
    }
}

/// Builds the filter of `keys` (duplicates allowed).
pub fn build_filter(mut keys: Vec<u64>) -> Result<BuiltFilter, FilterError> {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Err(FilterError::Empty);
    }
    let f = BinaryFuse16::try_from(&keys).map_err(FilterError::Build)?;
    if f.fingerprints.len() > MAX_FILTER_CHUNKS * CHUNK_FINGERPRINTS {
        return Err(FilterError::TooLarge { keys: keys.len() });
    }
    let chunks = f
        .fingerprints
        .chunks(CHUNK_FINGERPRINTS)
        .map(|c| c.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    Ok(BuiltFilter {
        seed: f.descriptor.seed,
        segment_length: f.descriptor.segment_length,
        segment_length_mask: f.descriptor.segment_length_mask,
        segment_count_length: f.descriptor.segment_count_length,
        keys: keys.len() as u64,
        chunks,
    })
}

/// A holder's filter as a requester reassembled and checked it.
#[derive(Debug, Clone)]
pub struct ReceivedFilter {
    filter: BinaryFuse16,
}

impl ReceivedFilter {
    /// Checks a header's descriptor (segment sizes, fingerprint count, at
    /// most the largest filter a header may state) before any chunk is
    /// fetched.
    ///
    /// # Errors
    /// [`FilterError::Descriptor`], naming the field that does not hold.
    pub fn check_header(h: &FilterHeader) -> Result<(), FilterError> {
        check_descriptor(h)?;
        if h.chunks.len() != (h.fingerprints as usize).div_ceil(CHUNK_FINGERPRINTS) {
            return Err(FilterError::Descriptor("chunk count"));
        }
        Ok(())
    }

    /// The length in bytes of chunk `index` of a filter of `fingerprints`
    /// (each chunk holds [`CHUNK_FINGERPRINTS`], the last the rest).
    pub fn chunk_len(fingerprints: u32, index: usize) -> usize {
        let total = fingerprints as usize;
        2 * CHUNK_FINGERPRINTS.min(total.saturating_sub(index * CHUNK_FINGERPRINTS))
    }

    /// Checks the descriptor of a (verified) header, then each chunk against
    /// its listed digest and length, and builds the filter. Every index the
    /// lookup computes from a descriptor that passes stays below
    /// `segment_count_length + 2 * segment_length`, the fingerprints' count.
    pub fn assemble(h: &FilterHeader, chunks: &[Vec<u8>]) -> Result<Self, FilterError> {
        check_descriptor(h)?;
        if chunks.len() != h.chunks.len() {
            return Err(FilterError::ChunkCount {
                got: chunks.len(),
                listed: h.chunks.len(),
            });
        }
        let total = h.fingerprints as usize;
        let mut fingerprints = Vec::with_capacity(total);
        for (i, (c, d)) in chunks.iter().zip(&h.chunks).enumerate() {
            let expected = 2 * CHUNK_FINGERPRINTS.min(total - i * CHUNK_FINGERPRINTS);
            if c.len() != expected {
                return Err(FilterError::ChunkLength {
                    index: i,
                    len: c.len(),
                    expected,
                });
            }
            if Digest::of(c) != *d {
                return Err(FilterError::ChunkDigest(i));
            }
            fingerprints.extend(c.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])));
        }
        Ok(ReceivedFilter {
            filter: BinaryFuse16 {
                descriptor: Descriptor {
                    seed: h.seed,
                    segment_length: h.segment_length,
                    segment_length_mask: h.segment_length_mask,
                    segment_count_length: h.segment_count_length,
                },
                fingerprints: fingerprints.into_boxed_slice(),
            },
        })
    }

    /// Bytes of fingerprints held: what keeping it costs.
    pub fn bytes(&self) -> usize {
        2 * self.filter.fingerprints.len()
    }

    /// Whether the filter holds `key` (false positives about 2^-16).
    pub fn contains(&self, key: u64) -> bool {
        self.filter.contains(&key)
    }
}

/// The shape xorf gives every binary fuse filter: a power-of-two segment
/// length, its mask, a whole number of segments, and three segments more
/// than `segment_count_length` less one (arity 3).
fn check_descriptor(h: &FilterHeader) -> Result<(), FilterError> {
    let sl = h.segment_length;
    if sl == 0 || !sl.is_power_of_two() || sl > MAX_SEGMENT_LENGTH {
        return Err(FilterError::Descriptor("segment length"));
    }
    if h.segment_length_mask != sl - 1 {
        return Err(FilterError::Descriptor("segment length mask"));
    }
    let scl = u64::from(h.segment_count_length);
    if scl == 0 || scl % u64::from(sl) != 0 {
        return Err(FilterError::Descriptor("segment count length"));
    }
    if scl + 2 * u64::from(sl) != u64::from(h.fingerprints) {
        return Err(FilterError::Descriptor("fingerprint count"));
    }
    if h.fingerprints as usize > MAX_FILTER_CHUNKS * CHUNK_FINGERPRINTS {
        return Err(FilterError::Descriptor("fingerprint count"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CountryCode;
    use crate::protocol::{Party, SigningKey};
    use proptest::prelude::*;

    pub(crate) fn header_of(b: &BuiltFilter) -> FilterHeader {
        let holder = Party {
            state: CountryCode::parse("DE").unwrap(),
            key: SigningKey::from_seed(&[1; 32]).unwrap().public_key(),
        };
        b.header(
            holder,
            "DE/CARLWALTHER".parse().unwrap(),
            1,
            [0; 32],
            String::new(),
        )
    }

    #[test]
    fn a_filter_survives_chunking_and_finds_its_keys() {
        let keys: Vec<u64> = (0..50_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let b = build_filter(keys.clone()).unwrap();
        assert!(b.chunks.len() > 1);
        let h = header_of(&b);
        let f = ReceivedFilter::assemble(&h, &b.chunks).unwrap();
        assert!(keys.iter().all(|k| f.contains(*k)));
        let false_hits = (1..=100_000u64).filter(|k| f.contains(k << 20 | 1)).count();
        assert!(false_hits < 20, "{false_hits}");
        // A single key builds a filter too.
        let one = build_filter(vec![42]).unwrap();
        let f = ReceivedFilter::assemble(&header_of(&one), &one.chunks).unwrap();
        assert!(f.contains(42));
        assert_eq!(build_filter(vec![]).unwrap_err(), FilterError::Empty);
    }

    #[test]
    fn a_tampered_chunk_or_descriptor_is_refused() {
        let b = build_filter((0..40_000u64).collect()).unwrap();
        let h = header_of(&b);
        let mut chunks = b.chunks.clone();
        chunks[1][7] ^= 1;
        assert_eq!(
            ReceivedFilter::assemble(&h, &chunks).unwrap_err(),
            FilterError::ChunkDigest(1)
        );
        let mut bad = h.clone();
        bad.segment_length_mask += 1;
        assert!(matches!(
            ReceivedFilter::assemble(&bad, &b.chunks),
            Err(FilterError::Descriptor(_))
        ));
        assert!(matches!(
            ReceivedFilter::assemble(&h, &b.chunks[1..]),
            Err(FilterError::ChunkCount { .. })
        ));
    }

    proptest! {
        /// Whatever descriptor a header states, a filter that assembles
        /// never reads outside its fingerprints.
        #[test]
        fn hostile_descriptors_never_panic(
            seed in any::<u64>(),
            sl_log in 0u32..20,
            segments in 1u32..40,
            mask_off in 0u32..2,
            extra in 0u32..3,
            key in any::<u64>(),
        ) {
            let sl = 1u32 << sl_log;
            let scl = segments.saturating_mul(sl);
            let fingerprints = scl.saturating_add(2 * sl).saturating_add(extra).min(64_000);
            let mut h = header_of(&build_filter(vec![1]).unwrap());
            h.seed = seed;
            h.segment_length = sl;
            h.segment_length_mask = sl - 1 + mask_off;
            h.segment_count_length = scl;
            h.fingerprints = fingerprints;
            let n = fingerprints as usize;
            let chunks: Vec<Vec<u8>> = (0..n.div_ceil(CHUNK_FINGERPRINTS))
                .map(|i| vec![0u8; 2 * CHUNK_FINGERPRINTS.min(n - i * CHUNK_FINGERPRINTS)])
                .collect();
            h.chunks = chunks.iter().map(|c| Digest::of(c)).collect();
            if let Ok(f) = ReceivedFilter::assemble(&h, &chunks) {
                let _ = f.contains(key);
            }
        }
    }
}
