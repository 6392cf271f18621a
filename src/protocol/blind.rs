//! The wire messages of blind traces (proto-docs/BLIND.md): a holder's signed
//! keyed-filter header, the unsigned request-response messages that fetch a
//! filter's chunks and ask for blind evaluations, and their replies. Every
//! one is decoded through [`super::codec`] under a size limit, then checked
//! against the bounds below before anything else reads it.

use serde::{Deserialize, Serialize};

use super::accept::Refusal;
use super::codec::{self, DecodeError, EncodeError, Kind, Limits};
use super::keys::{Digest, PublicKey};
use super::messages::{BoundsError, Message, Party};
use crate::marking::MarkingPrefix;

/// Blinded elements in one evaluation request, and evaluated ones in its
/// reply: a trace's 64 candidates under the 7 routing prefixes of a former
/// State's marking fit, with room.
pub const MAX_BLIND_ELEMENTS: usize = 512;
/// Fingerprints (u16) in one chunk of a filter: 64,000 bytes would not fit a
/// default 64 KiB reply with its envelope, 32,000 bytes do with room.
pub const CHUNK_FINGERPRINTS: usize = 16_000;
/// Chunks in one filter: 16 million fingerprints, about 14 million keys.
pub const MAX_FILTER_CHUNKS: usize = 1_000;
/// Characters in a filter's serial alphabet.
pub const MAX_ALPHABET_CHARS: usize = 128;
/// A ristretto255 element (compressed) or scalar.
pub const ELEMENT_LEN: usize = 32;

/// A ristretto255 element or scalar as 32 bytes.
pub type Element = [u8; ELEMENT_LEN];

/// A holder's keyed filter, as its signed header: the filter's parameters,
/// the holder's OPRF public key under which its keys were computed, and the
/// SHA-256 of each chunk of fingerprints, so that each chunk fetched is
/// checked on arrival. Signed by the holder's node key (kind
/// `blind_filter`); a requester checks the signer against the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterHeader {
    pub holder: Party,
    pub prefix: MarkingPrefix,
    /// Increases with every rebuild (milliseconds since the Unix epoch of
    /// the build): a requester's cached chunks are of one version.
    pub version: u64,
    /// The holder's OPRF public key (ristretto255, compressed).
    pub oprf_key: Element,
    /// The folded characters of the serials held under the prefix, in
    /// order: what a `?` is expanded over.
    pub alphabet: String,
    /// Keys in the filter (a record's folded serial and variant keys).
    pub keys: u64,
    /// The binary fuse filter's descriptor (xorf's `Descriptor`).
    pub seed: u64,
    pub segment_length: u32,
    pub segment_length_mask: u32,
    pub segment_count_length: u32,
    /// Fingerprints in the filter, in chunks of [`CHUNK_FINGERPRINTS`].
    pub fingerprints: u32,
    pub chunks: Vec<Digest>,
}

impl Message for FilterHeader {
    const KIND: Kind = Kind::BlindFilter;
    fn signer(&self) -> PublicKey {
        self.holder.key
    }
    fn check(&self) -> Result<(), BoundsError> {
        let bound = |what, found, max| {
            if found > max {
                Err(BoundsError::TooMany { what, found, max })
            } else {
                Ok(())
            }
        };
        bound("filter chunks", self.chunks.len(), MAX_FILTER_CHUNKS)?;
        bound(
            "alphabet characters",
            self.alphabet.chars().count(),
            MAX_ALPHABET_CHARS,
        )?;
        let needed = (self.fingerprints as usize).div_ceil(CHUNK_FINGERPRINTS);
        if needed != self.chunks.len() {
            return Err(BoundsError::TooMany {
                what: "filter chunks for its fingerprints",
                found: self.chunks.len(),
                max: needed,
            });
        }
        Ok(())
    }
}

/// A request of the blind-trace exchange (kind `blind_request`, unsigned:
/// the connection authenticates its sender, whom the holder finds in the
/// roster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlindRequest {
    /// The signed header of the holder's filter for `prefix`.
    Filter { prefix: MarkingPrefix },
    /// Chunk `index` of the filter for `prefix` at `version`.
    Chunk {
        prefix: MarkingPrefix,
        version: u64,
        index: u32,
    },
    /// Evaluate these blinded elements with the holder's OPRF key.
    Evaluate { elements: Vec<Element> },
}

impl BlindRequest {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.check()?;
        codec::encode_body(Kind::BlindRequest, self)
    }

    /// Decodes a request under `limits` and its bounds.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        let r: BlindRequest = codec::decode_body(Kind::BlindRequest, bytes, limits)?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), BoundsError> {
        match self {
            // Nothing to evaluate would cost the holder its audit entry and
            // the requesting State none of its budget.
            BlindRequest::Evaluate { elements } if elements.is_empty() => {
                Err(BoundsError::NoneGiven {
                    what: "blinded elements",
                })
            }
            BlindRequest::Evaluate { elements } if elements.len() > MAX_BLIND_ELEMENTS => {
                Err(BoundsError::TooMany {
                    what: "blinded elements",
                    found: elements.len(),
                    max: MAX_BLIND_ELEMENTS,
                })
            }
            BlindRequest::Chunk { index, .. } if *index as usize >= MAX_FILTER_CHUNKS => {
                Err(BoundsError::TooMany {
                    what: "chunk index",
                    found: *index as usize,
                    max: MAX_FILTER_CHUNKS - 1,
                })
            }
            _ => Ok(()),
        }
    }
}

/// The reply to a [`BlindRequest`] (kind `blind_reply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlindReply {
    /// The signed [`FilterHeader`] frame.
    Filter(Vec<u8>),
    /// The holder holds nothing under the prefix: it has no filter for it.
    NoFilter,
    /// A chunk's fingerprints, u16 little-endian.
    Chunk(Vec<u8>),
    /// The filter was rebuilt since: fetch the header again.
    Stale { version: u64 },
    /// The evaluated elements in request order, and the VOPRF batch proof
    /// (c, s) that each is the holder's key applied to its blinded element.
    Evaluated {
        elements: Vec<Element>,
        proof: (Element, Element),
    },
    /// Refused, with the code saying why; `retry_after_secs` when rate limited.
    Refused {
        refusal: Refusal,
        retry_after_secs: u32,
    },
}

impl BlindReply {
    /// Encodes the reply; a reply that cannot be encoded becomes `internal`.
    pub fn encode(&self) -> Vec<u8> {
        self.check()
            .map_err(EncodeError::from)
            .and_then(|()| codec::encode_body(Kind::BlindReply, self))
            .unwrap_or_else(|_| {
                codec::encode_body(Kind::BlindReply, &BlindReply::refused(Refusal::Internal))
                    .unwrap_or_default()
            })
    }

    /// Decodes a reply under `limits` and its bounds.
    pub fn decode(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        let r: BlindReply = codec::decode_body(Kind::BlindReply, bytes, limits)?;
        r.check()?;
        Ok(r)
    }

    pub fn refused(refusal: Refusal) -> Self {
        BlindReply::Refused {
            refusal,
            retry_after_secs: 0,
        }
    }

    fn check(&self) -> Result<(), BoundsError> {
        let too_many = |what, found, max| Err(BoundsError::TooMany { what, found, max });
        match self {
            BlindReply::Evaluated { elements, .. } if elements.len() > MAX_BLIND_ELEMENTS => {
                too_many("evaluated elements", elements.len(), MAX_BLIND_ELEMENTS)
            }
            BlindReply::Chunk(b) if b.len() > 2 * CHUNK_FINGERPRINTS || b.len() % 2 != 0 => {
                too_many("chunk bytes", b.len(), 2 * CHUNK_FINGERPRINTS)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CountryCode;

    fn prefix() -> MarkingPrefix {
        "DE/CARLWALTHER".parse().unwrap()
    }

    #[test]
    fn requests_and_replies_round_trip_within_their_bounds() {
        let l = Limits::default();
        let r = BlindRequest::Evaluate {
            elements: vec![[7; 32]; 3],
        };
        assert_eq!(BlindRequest::decode(&r.encode().unwrap(), l).unwrap(), r);
        let c = BlindRequest::Chunk {
            prefix: prefix(),
            version: 9,
            index: 2,
        };
        assert_eq!(BlindRequest::decode(&c.encode().unwrap(), l).unwrap(), c);
        // Too many elements is refused when encoding and when decoding.
        let big = BlindRequest::Evaluate {
            elements: vec![[1; 32]; MAX_BLIND_ELEMENTS + 1],
        };
        assert!(big.encode().is_err());
        let raw = codec::encode_body(Kind::BlindRequest, &big).unwrap();
        assert!(BlindRequest::decode(&raw, Limits::roster()).is_err());
        // So is an evaluation of nothing.
        let none = BlindRequest::Evaluate { elements: vec![] };
        assert!(none.encode().is_err());
        let raw = codec::encode_body(Kind::BlindRequest, &none).unwrap();
        let e = BlindRequest::decode(&raw, l).unwrap_err();
        assert!(e.to_string().contains("none given"), "{e}");
        let odd = codec::encode_body(Kind::BlindReply, &BlindReply::Chunk(vec![0; 3])).unwrap();
        assert!(BlindReply::decode(&odd, l).is_err());
        let e = BlindReply::Evaluated {
            elements: vec![[3; 32]],
            proof: ([1; 32], [2; 32]),
        };
        assert_eq!(BlindReply::decode(&e.encode(), l).unwrap(), e);
        // A full chunk fits the default frame.
        let full = BlindReply::Chunk(vec![0; 2 * CHUNK_FINGERPRINTS]).encode();
        assert!(full.len() < l.max_frame, "{}", full.len());
        let _ = CountryCode::parse("DE").unwrap();
    }

    #[test]
    fn a_header_must_list_one_chunk_digest_per_chunk() {
        let key = crate::protocol::SigningKey::from_seed(&[5; 32]).unwrap();
        let mut h = FilterHeader {
            holder: Party {
                state: CountryCode::parse("DE").unwrap(),
                key: key.public_key(),
            },
            prefix: prefix(),
            version: 1,
            oprf_key: [0; 32],
            alphabet: "0123456789".into(),
            keys: 10,
            seed: 1,
            segment_length: 4,
            segment_length_mask: 3,
            segment_count_length: 8,
            fingerprints: CHUNK_FINGERPRINTS as u32 + 1,
            chunks: vec![Digest::of(b"a")],
        };
        assert!(crate::protocol::sign(h.clone(), &key).is_err());
        h.chunks.push(Digest::of(b"b"));
        let s = crate::protocol::sign(h.clone(), &key).unwrap();
        let back = crate::protocol::decode_and_verify::<FilterHeader>(s.bytes(), Limits::default())
            .unwrap();
        assert_eq!(back.body(), &h);
    }
}
