//! The wire envelope (magic, version, kind) around a bincode body, always decoded
//! under a size limit and refusing trailing bytes (bincode itself stays behind
//! `crate::codec`).
//!
//! An encoded message is `MAGIC || VERSION || kind || bincode(body)`; a signed
//! frame appends the 64-byte signature. bincode runs with its `standard()`
//! configuration (little-endian, variable-length integers), as PROTOCOL.md says.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::{SIGNATURE_LEN, Signature};
use super::messages::BoundsError;

pub const MAGIC: [u8; 4] = *b"TRNT";
pub const VERSION: u8 = 1;
/// Header length: magic, version, kind.
pub const HEADER_LEN: usize = 6;
/// No frame of any kind is ever larger than this, whatever the limits say: it is
/// the bound bincode itself enforces while decoding.
pub const MAX_FRAME_CEILING: usize = 1 << 20;

/// The kind byte of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    Query = 1,
    Answer = 2,
    Roster = 3,
    /// The unsigned reply to a request-response request (`accept::Reply`).
    Reply = 4,
    /// The maker reference table, signed by the trust anchors like a roster
    /// (`roster::makers`).
    Makers = 5,
    /// A holder's keyed-filter header, signed (`protocol::blind`).
    BlindFilter = 6,
    /// A blind-trace request: a filter, one of its chunks, an evaluation.
    BlindRequest = 7,
    /// The reply to a blind-trace request.
    BlindReply = 8,
}

impl Kind {
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Query),
            2 => Some(Kind::Answer),
            3 => Some(Kind::Roster),
            4 => Some(Kind::Reply),
            5 => Some(Kind::Makers),
            6 => Some(Kind::BlindFilter),
            7 => Some(Kind::BlindRequest),
            8 => Some(Kind::BlindReply),
            _ => None,
        }
    }

    /// The signature's domain-separation tag: a signature made for one kind can
    /// never be presented as one of another.
    pub fn domain_tag(self) -> &'static [u8] {
        match self {
            Kind::Query => b"tracenet/v1/query\0",
            Kind::Answer => b"tracenet/v1/answer\0",
            Kind::Roster => b"tracenet/v1/roster\0",
            // Replies are never signed; the tag only keeps the match whole.
            Kind::Reply => b"tracenet/v1/reply\0",
            Kind::Makers => b"tracenet/v1/makers\0",
            Kind::BlindFilter => b"tracenet/v1/blind-filter\0",
            // Unsigned, like replies.
            Kind::BlindRequest => b"tracenet/v1/blind-request\0",
            Kind::BlindReply => b"tracenet/v1/blind-reply\0",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Query => "query",
            Kind::Answer => "answer",
            Kind::Roster => "roster",
            Kind::Reply => "reply",
            Kind::Makers => "maker reference table",
            Kind::BlindFilter => "keyed filter",
            Kind::BlindRequest => "blind request",
            Kind::BlindReply => "blind reply",
        })
    }
}

/// Size limits a decoder applies, named so a node's configuration can set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame accepted, in bytes (capped by `MAX_FRAME_CEILING`).
    pub max_frame: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 * 1024,
        }
    }
}

impl Limits {
    /// Rosters list every member State with their prefixes: allow them more room.
    pub fn roster() -> Self {
        Limits {
            max_frame: MAX_FRAME_CEILING,
        }
    }

    /// A signed maker reference table travels by gossip as its JSON file,
    /// whose messages are at most `node.max_message_bytes`, 64 KiB by
    /// default. Its encoded body is bounded so that the file, the body in
    /// base64 (4/3 of it) and up to 16 signatures, fits that default: 44 KiB
    /// give a file of at most 63 KiB. A table that a node with the default
    /// limit could not receive is never signed nor accepted.
    pub fn makers() -> Self {
        Limits {
            max_frame: 44 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("message of {len} bytes is too short to be a tracenet message")]
    TooShort { len: usize },
    #[error("not a tracenet message (bad magic bytes)")]
    BadMagic,
    #[error("unsupported protocol version {0} (this node speaks version {VERSION})")]
    UnknownVersion(u8),
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("expected a {expected} message, got a {found} message")]
    WrongKind { expected: Kind, found: Kind },
    #[error("malformed {kind} body: {detail}")]
    Body { kind: Kind, detail: String },
    #[error("{0} unexpected bytes after the {1} body")]
    TrailingBytes(usize, Kind),
    #[error("{0}")]
    Bounds(#[from] BoundsError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("could not encode the {kind}: {detail}")]
    Body { kind: Kind, detail: String },
    #[error("the encoded {kind} is {len} bytes, over the limit of {max}")]
    TooLarge { kind: Kind, len: usize, max: usize },
    #[error("{0}")]
    Bounds(#[from] BoundsError),
    #[error("the body names signer {named} but the signing key is {actual}")]
    WrongKey { named: String, actual: String },
}

/// Encodes `body` behind the envelope header: the bytes a signature covers.
pub fn encode_body<T: Serialize>(kind: Kind, body: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    let encoded = crate::codec::to_bytes(body).map_err(|e| EncodeError::Body {
        kind,
        detail: e.to_string(),
    })?;
    out.extend_from_slice(&encoded);
    Ok(out)
}

/// Reads the envelope header of `bytes` and returns its kind.
pub fn peek_kind(bytes: &[u8]) -> Result<Kind, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort { len: bytes.len() });
    }
    if bytes[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(DecodeError::UnknownVersion(bytes[4]));
    }
    Kind::from_byte(bytes[5]).ok_or(DecodeError::UnknownKind(bytes[5]))
}

/// Decodes an encoded (unsigned) message of the expected kind: header, then a
/// body that must use every remaining byte.
pub fn decode_body<T: DeserializeOwned>(
    expected: Kind,
    bytes: &[u8],
    limits: Limits,
) -> Result<T, DecodeError> {
    let max = limits.max_frame.min(MAX_FRAME_CEILING);
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let found = peek_kind(bytes)?;
    if found != expected {
        return Err(DecodeError::WrongKind { expected, found });
    }
    let rest = &bytes[HEADER_LEN..];
    crate::codec::from_bytes::<T, MAX_FRAME_CEILING>(rest).map_err(|e| match e {
        crate::codec::CodecError::TrailingBytes(n) => DecodeError::TrailingBytes(n, expected),
        e => DecodeError::Body {
            kind: expected,
            detail: e.to_string(),
        },
    })
}

/// Splits a signed frame into the encoded message and its trailing signature.
pub fn split_signed(frame: &[u8]) -> Result<(&[u8], Signature), DecodeError> {
    if frame.len() < HEADER_LEN + SIGNATURE_LEN {
        return Err(DecodeError::TooShort { len: frame.len() });
    }
    let (message, sig) = frame.split_at(frame.len() - SIGNATURE_LEN);
    let sig = Signature::from_slice(sig).ok_or(DecodeError::TooShort { len: frame.len() })?;
    Ok((message, sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_checked_before_the_body() {
        let ok = encode_body(Kind::Roster, &(1u32, 2u8)).unwrap();
        assert_eq!(&ok[..6], b"TRNT\x01\x03");
        let l = Limits::default();
        assert_eq!(
            decode_body::<(u32, u8)>(Kind::Roster, &ok, l).unwrap(),
            (1, 2)
        );
        let mut v = ok.clone();
        v[4] = 2;
        assert_eq!(
            decode_body::<(u32, u8)>(Kind::Roster, &v, l),
            Err(DecodeError::UnknownVersion(2))
        );
        let mut k = ok.clone();
        k[5] = 9;
        assert_eq!(
            decode_body::<(u32, u8)>(Kind::Roster, &k, l),
            Err(DecodeError::UnknownKind(9))
        );
        assert!(matches!(
            decode_body::<(u32, u8)>(Kind::Query, &ok, l),
            Err(DecodeError::WrongKind { .. })
        ));
        let mut t = ok.clone();
        t.push(0);
        assert!(matches!(
            decode_body::<(u32, u8)>(Kind::Roster, &t, l),
            Err(DecodeError::TrailingBytes(1, _))
        ));
        assert_eq!(
            decode_body::<(u32, u8)>(Kind::Roster, b"TRN", l),
            Err(DecodeError::TooShort { len: 3 })
        );
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let big = vec![0u8; 64 * 1024 + 1];
        assert!(matches!(
            decode_body::<Vec<u8>>(Kind::Query, &big, Limits::default()),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn huge_length_prefixes_do_not_allocate() {
        // A Vec<u64> claiming 2^60 elements must fail, not abort on allocation.
        let mut v = b"TRNT\x01\x01".to_vec();
        v.extend_from_slice(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 0x10]);
        assert!(decode_body::<Vec<u64>>(Kind::Query, &v, Limits::default()).is_err());
    }
}
