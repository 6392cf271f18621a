//! Signed frames: signing a message body, and the only way to obtain a received
//! one, which verifies the signature over the exact received bytes (in the
//! spirit of COSE_Sign1, never over a re-encoding). The acceptance rules built
//! on it are in `accept`.

use super::codec::{self, DecodeError, EncodeError, Kind, Limits};
use super::keys::{Digest, PublicKey, Signature, SigningKey};
use super::messages::Message;

/// A message whose signature has been checked (or that this node signed), with
/// the exact bytes the signature covers. Only `sign` and `decode_and_verify`
/// build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    bytes: Vec<u8>,
    body: T,
    signer: PublicKey,
}

impl<T> Signed<T> {
    /// The whole frame, signature included: what to send, store or export.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn body(&self) -> &T {
        &self.body
    }
    pub fn signer(&self) -> PublicKey {
        self.signer
    }
    /// SHA-256 of the frame: what an answer binds to name its query.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }
    pub fn into_parts(self) -> (Vec<u8>, T) {
        (self.bytes, self.body)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("signature does not verify for key {signer}")]
    BadSignature { signer: PublicKey },
}

/// The signing input: the kind's domain tag, then the exact encoded message.
fn signing_input(kind: Kind, message: &[u8]) -> Vec<u8> {
    let tag = kind.domain_tag();
    let mut input = Vec::with_capacity(tag.len() + message.len());
    input.extend_from_slice(tag);
    input.extend_from_slice(message);
    input
}

/// Signs an encoded message of `kind` (used for rosters, whose signatures live
/// outside the frame).
pub fn sign_bytes(kind: Kind, message: &[u8], key: &SigningKey) -> Signature {
    key.sign_raw(&signing_input(kind, message))
}

/// Whether `sig` is `key`'s signature of the encoded message of `kind`.
pub fn verify_bytes(kind: Kind, message: &[u8], key: &PublicKey, sig: &Signature) -> bool {
    #[cfg(test)]
    VERIFIED.with(|n| n.set(n.get() + 1));
    key.verifies(&signing_input(kind, message), sig)
}

#[cfg(test)]
thread_local! {
    /// Signatures checked on this thread: tests count them.
    static VERIFIED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Signatures checked on the calling thread so far (tests only).
#[cfg(test)]
pub fn verified_on_this_thread() -> u64 {
    VERIFIED.with(|n| n.get())
}

/// Encodes and signs `body` with `key`, which must be the key the body names.
pub fn sign<T: Message>(body: T, key: &SigningKey) -> Result<Signed<T>, EncodeError> {
    body.check()?;
    if body.signer() != key.public_key() {
        return Err(EncodeError::WrongKey {
            named: body.signer().to_hex(),
            actual: key.public_key().to_base64(),
        });
    }
    let mut bytes = codec::encode_body(T::KIND, &body)?;
    let sig = sign_bytes(T::KIND, &bytes, key);
    bytes.extend_from_slice(&sig.0);
    // Never produce what a peer with default limits would refuse.
    let max = Limits::default().max_frame;
    if bytes.len() > max {
        return Err(EncodeError::TooLarge {
            kind: T::KIND,
            len: bytes.len(),
            max,
        });
    }
    let signer = key.public_key();
    Ok(Signed {
        bytes,
        body,
        signer,
    })
}

/// Decodes a received frame and verifies it was signed by the key its body names.
pub fn decode_and_verify<T: Message>(
    bytes: &[u8],
    limits: Limits,
) -> Result<Signed<T>, VerifyError> {
    decode_checking(bytes, limits, true)
}

/// Frames whose signature this node verified lately, by the SHA-256 of their
/// bytes, so that the very same bytes received again are decoded without
/// their signature being checked again. A signature's validity depends on
/// the bytes alone (the signer is named in them), so only a frame that
/// verified can be let through, and only unchanged. Bounded (LRU): a frame
/// evicted is only checked again.
///
/// Every other check a frame meets (its limits, its shape, the roster, its
/// freshness, the rate limits) is still made each time: this only spares the
/// signature check, which a member re-sending a refused query could
/// otherwise have a holder make as often as it sent it.
#[derive(Debug)]
pub struct VerifiedFrames(std::sync::Mutex<lru::LruCache<Digest, ()>>);

impl VerifiedFrames {
    /// Remembers up to `capacity` frames (32 bytes each, and the LRU's own).
    pub fn new(capacity: usize) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity).unwrap_or(std::num::NonZeroUsize::MIN);
        VerifiedFrames(std::sync::Mutex::new(lru::LruCache::new(capacity)))
    }

    /// As [`decode_and_verify`], without the signature check when these very
    /// bytes verified before here; a frame that verifies now is remembered.
    pub fn decode<T: Message>(
        &self,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<Signed<T>, VerifyError> {
        let digest = Digest::of(bytes);
        let known = self
            .0
            .lock()
            .map(|mut c| c.get(&digest).is_some())
            .unwrap_or(false);
        let signed = decode_checking(bytes, limits, !known)?;
        if !known && let Ok(mut c) = self.0.lock() {
            c.put(digest, ());
        }
        Ok(signed)
    }
}

/// Checks the signature of a frame [`decode_checking`] decoded without
/// checking it: what `accept` does once the roster lists its signer, so that
/// a frame from a key no roster lists costs a decode, not an Ed25519 check.
pub(super) fn verify_decoded<T: Message>(
    s: &Signed<T>,
    frames: Option<&VerifiedFrames>,
) -> Result<(), VerifyError> {
    let digest = frames.map(|_| Digest::of(&s.bytes));
    let known = match (frames, &digest) {
        (Some(f), Some(d)) => f.0.lock().map(|mut c| c.get(d).is_some()).unwrap_or(false),
        _ => false,
    };
    if known {
        return Ok(());
    }
    let (message, sig) = codec::split_signed(&s.bytes)?;
    if !verify_bytes(T::KIND, message, &s.signer, &sig) {
        return Err(VerifyError::BadSignature { signer: s.signer });
    }
    if let (Some(f), Some(d)) = (frames, digest)
        && let Ok(mut c) = f.0.lock()
    {
        c.put(d, ());
    }
    Ok(())
}

/// Decodes a frame within `limits`; checks its signature when `verify`. Only
/// [`decode_and_verify`], [`VerifiedFrames`] (without the check only for
/// bytes it saw verify), `accept::peek_query` (whose result can only
/// refuse), and `accept`'s query check and `accept::UnreadAnswer` (whose
/// bodies are read only through [`verify_decoded`]) call it.
pub(super) fn decode_checking<T: Message>(
    bytes: &[u8],
    limits: Limits,
    verify: bool,
) -> Result<Signed<T>, VerifyError> {
    let max = limits.max_frame.min(codec::MAX_FRAME_CEILING);
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        }
        .into());
    }
    let (message, sig) = codec::split_signed(bytes)?;
    let body = T::decode(message, limits)?;
    body.check().map_err(DecodeError::from)?;
    let signer = body.signer();
    if verify && !verify_bytes(T::KIND, message, &signer, &sig) {
        return Err(VerifyError::BadSignature { signer });
    }
    Ok(Signed {
        bytes: bytes.to_vec(),
        body,
        signer,
    })
}
