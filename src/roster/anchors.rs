//! The trust anchors' signatures over a document they vouch for (the roster,
//! the maker reference table): how one is added, and which of them count.
//! Each document kind signs under its own domain tag (`protocol::Kind`), so
//! a roster's signature can never be taken for a table's, or the reverse.

use base64::Engine;

use super::AnchorSignature;
use crate::protocol::{Kind, PublicKey, Signature, SigningKey, sign_bytes, verify_bytes};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A configured anchor's signature that does not verify: the document was
/// changed after signing, or the signature is not one. `index` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadSignature {
    pub index: usize,
    pub anchor: PublicKey,
    pub problem: &'static str,
}

/// Adds (or replaces) `key`'s signature over `bytes`, an encoded message of
/// `kind`.
pub(crate) fn sign(
    kind: Kind,
    bytes: &[u8],
    key: &SigningKey,
    signatures: &mut Vec<AnchorSignature>,
) {
    let sig = sign_bytes(kind, bytes, key);
    signatures.retain(|s| s.anchor != key.public_key());
    signatures.push(AnchorSignature {
        anchor: key.public_key(),
        signature: B64.encode(sig.0),
    });
}

/// The signatures in `signatures` that do not verify over `bytes` (of
/// `kind`) under their own keys, whoever they are: the document was changed
/// after that key signed, or the signature was damaged. Their places, from
/// 1, and keys. Signing beside one kept it, and the file then failed to
/// verify wherever that key is an anchor (a trial); taking it out would
/// hide that the body is not what that anchor signed (a review), so the
/// signing commands refuse and say so.
pub(crate) fn broken(
    kind: Kind,
    bytes: &[u8],
    signatures: &[AnchorSignature],
) -> Vec<(usize, PublicKey)> {
    signatures
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            !B64.decode(s.signature.trim())
                .ok()
                .and_then(|b| Signature::from_slice(&b))
                .is_some_and(|sig| verify_bytes(kind, bytes, &s.anchor, &sig))
        })
        .map(|(i, s)| (i + 1, s.anchor))
        .collect()
}

/// The distinct configured `anchors` whose signature over `bytes` (of
/// `kind`) verifies. A signature by a configured anchor that fails is an
/// error, since the document was tampered with; one by an unknown key is
/// ignored, and so is a second one by the same anchor.
pub(crate) fn counted(
    kind: Kind,
    bytes: &[u8],
    signatures: &[AnchorSignature],
    anchors: &[PublicKey],
) -> Result<Vec<PublicKey>, BadSignature> {
    let mut good = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        if !anchors.contains(&s.anchor) || good.contains(&s.anchor) {
            continue;
        }
        let sig = B64
            .decode(s.signature.trim())
            .ok()
            .and_then(|b| Signature::from_slice(&b));
        let problem = match sig {
            None => "not a base64 Ed25519 signature",
            Some(sig) if verify_bytes(kind, bytes, &s.anchor, &sig) => {
                good.push(s.anchor);
                continue;
            }
            Some(_) => "invalid: it does not verify over the signed body",
        };
        return Err(BadSignature {
            index: i + 1,
            anchor: s.anchor,
            problem,
        });
    }
    Ok(good)
}
