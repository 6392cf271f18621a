//! The OPRF of RFC 9497 in its verifiable mode (VOPRF, ristretto255-SHA512),
//! through the `voprf` crate: a holder's key and its blind evaluation with a
//! batch proof; a requester's blinding and finalisation, which checks the
//! proof against the holder's public key as the roster lists it (which its
//! signed filter headers must also state).
//! F_k(x) is cut to the 64-bit key a binary fuse filter holds.

use rand_core::OsRng;
use voprf::{
    BlindedElement, EvaluationElement, Group, Proof, Ristretto255, VoprfClient, VoprfServer,
};

use crate::protocol::blind::{ELEMENT_LEN, Element};

type Suite = Ristretto255;

/// The key-derivation info of RFC 9497's DeriveKeyPair: a node's OPRF key is
/// derived from a 32-byte seed kept in its data directory.
const KEY_INFO: &[u8] = b"tracenet oprf key v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OprfError {
    #[error("the OPRF key cannot be derived from its seed")]
    Key,
    #[error("the holder's OPRF public key is not a ristretto255 element")]
    PublicKey,
    #[error("element {0} is not a ristretto255 element")]
    Element(usize),
    #[error("the proof is malformed")]
    MalformedProof,
    #[error("{sent} elements sent, {got} evaluated")]
    Count { sent: usize, got: usize },
    #[error("the evaluation proof does not verify for the holder's OPRF key")]
    Proof,
    #[error("an input is empty or longer than 65,535 bytes")]
    Input,
}

/// A holder's OPRF key (secret scalar and public element).
pub struct OprfKey {
    server: VoprfServer<Suite>,
}

impl std::fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OprfKey({})", hex::encode(self.public_key()))
    }
}

impl OprfKey {
    /// The key RFC 9497's DeriveKeyPair gives `seed` with this protocol's info.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, OprfError> {
        Self::derive(seed, KEY_INFO)
    }

    /// DeriveKeyPair(seed, info), as the RFC's test vectors use it.
    pub fn derive(seed: &[u8], info: &[u8]) -> Result<Self, OprfError> {
        let server = VoprfServer::<Suite>::new_from_seed(seed, info).map_err(|_| OprfError::Key)?;
        Ok(OprfKey { server })
    }

    /// The public key, compressed: what a filter header carries.
    pub fn public_key(&self) -> Element {
        let mut out = [0u8; ELEMENT_LEN];
        out.copy_from_slice(&Suite::serialize_elem(self.server.get_public_key()));
        out
    }

    /// The public key as the roster lists it.
    pub fn roster_key(&self) -> crate::protocol::OprfPublicKey {
        crate::protocol::OprfPublicKey(self.public_key())
    }

    /// F_k(input), computed by the holder for its own records.
    pub fn evaluate(&self, input: &[u8]) -> Result<[u8; 64], OprfError> {
        let o = self.server.evaluate(input).map_err(|_| OprfError::Input)?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&o);
        Ok(out)
    }

    /// Evaluates a requester's checked batch ([`BlindedBatch::check`]) with
    /// one proof (c, s).
    pub fn blind_evaluate(
        &self,
        batch: &BlindedBatch,
    ) -> Result<(Vec<Element>, (Element, Element)), OprfError> {
        let r = self
            .server
            .batch_blind_evaluate(&mut OsRng, &batch.0)
            .map_err(|_| OprfError::Count {
                sent: batch.len(),
                got: 0,
            })?;
        let out = r
            .messages
            .iter()
            .map(|m| {
                let mut e = [0u8; ELEMENT_LEN];
                e.copy_from_slice(&m.serialize());
                e
            })
            .collect();
        let p = r.proof.serialize();
        let mut c = [0u8; ELEMENT_LEN];
        let mut s = [0u8; ELEMENT_LEN];
        c.copy_from_slice(&p[..ELEMENT_LEN]);
        s.copy_from_slice(&p[ELEMENT_LEN..]);
        Ok((out, (c, s)))
    }
}

/// A requester's blinded elements, each decoded as a ristretto255 element:
/// the only input [`OprfKey::blind_evaluate`] takes, so that a holder checks
/// a batch before it spends budget, audit or a proof on it.
pub struct BlindedBatch(Vec<BlindedElement<Suite>>);

impl BlindedBatch {
    /// Decodes every element; a malformed one refuses the whole batch,
    /// naming it.
    pub fn check(elements: &[Element]) -> Result<Self, OprfError> {
        elements
            .iter()
            .enumerate()
            .map(|(i, e)| {
                BlindedElement::<Suite>::deserialize(e).map_err(|_| OprfError::Element(i))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(BlindedBatch)
    }

    /// Elements in the batch.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks that a roster's OPRF public key is a ristretto255 element (and
/// not the identity, which would make every evaluation the same).
pub fn check_oprf_public_key(key: &crate::protocol::OprfPublicKey) -> Result<(), OprfError> {
    Suite::deserialize_elem(key.as_bytes())
        .map(|_| ())
        .map_err(|_| OprfError::PublicKey)
}

/// The 64-bit filter key of an OPRF output (its first 8 bytes, little-endian).
pub fn filter_key(output: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&output[..8]);
    u64::from_le_bytes(b)
}

/// A requester's blinded inputs: what it sends, and what it keeps to
/// finalise (the blinds never leave it).
pub struct Blinded {
    inputs: Vec<Vec<u8>>,
    clients: Vec<VoprfClient<Suite>>,
    /// The blinded elements to send, in input order.
    pub elements: Vec<Element>,
}

impl Blinded {
    /// Blinds each input with a fresh random scalar.
    pub fn new(inputs: Vec<Vec<u8>>) -> Result<Self, OprfError> {
        let mut clients = Vec::with_capacity(inputs.len());
        let mut elements = Vec::with_capacity(inputs.len());
        for i in &inputs {
            let r = VoprfClient::<Suite>::blind(i, &mut OsRng).map_err(|_| OprfError::Input)?;
            let mut e = [0u8; ELEMENT_LEN];
            e.copy_from_slice(&r.message.serialize());
            clients.push(r.state);
            elements.push(e);
        }
        Ok(Blinded {
            inputs,
            clients,
            elements,
        })
    }

    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }
}

/// Finalises a holder's evaluations: checks the batch proof against
/// `holder_key` (the OPRF key the roster lists for the holder) and returns the filter key
/// of each input, in order.
pub fn finalize(
    b: &Blinded,
    evaluated: &[Element],
    proof: &(Element, Element),
    holder_key: &Element,
) -> Result<Vec<u64>, OprfError> {
    if evaluated.len() != b.clients.len() {
        return Err(OprfError::Count {
            sent: b.clients.len(),
            got: evaluated.len(),
        });
    }
    let pk = Suite::deserialize_elem(holder_key).map_err(|_| OprfError::PublicKey)?;
    let messages = evaluated
        .iter()
        .enumerate()
        .map(|(i, e)| EvaluationElement::<Suite>::deserialize(e).map_err(|_| OprfError::Element(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let proof_bytes = [proof.0, proof.1].concat();
    let proof = Proof::<Suite>::deserialize(&proof_bytes).map_err(|_| OprfError::MalformedProof)?;
    let outputs = VoprfClient::batch_finalize(&b.inputs, &b.clients, &messages, &proof, pk)
        .map_err(|_| OprfError::Proof)?;
    outputs
        .map(|o| o.map(|o| filter_key(&o)).map_err(|_| OprfError::Input))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_evaluation_gives_the_holders_own_evaluation() {
        let k = OprfKey::from_seed(&[9; 32]).unwrap();
        let inputs = vec![b"a".to_vec(), b"bb".to_vec()];
        let b = Blinded::new(inputs.clone()).unwrap();
        let (ev, proof) = k
            .blind_evaluate(&BlindedBatch::check(&b.elements).unwrap())
            .unwrap();
        let keys = finalize(&b, &ev, &proof, &k.public_key()).unwrap();
        let direct: Vec<u64> = inputs
            .iter()
            .map(|i| filter_key(&k.evaluate(i).unwrap()))
            .collect();
        assert_eq!(keys, direct);
    }

    #[test]
    fn another_key_or_a_tampered_evaluation_fails_the_proof() {
        let k = OprfKey::from_seed(&[9; 32]).unwrap();
        let other = OprfKey::from_seed(&[10; 32]).unwrap();
        let b = Blinded::new(vec![b"x".to_vec(), b"y".to_vec()]).unwrap();
        // Evaluated with another key than the one the header states.
        let (ev, proof) = other
            .blind_evaluate(&BlindedBatch::check(&b.elements).unwrap())
            .unwrap();
        assert_eq!(
            finalize(&b, &ev, &proof, &k.public_key()),
            Err(OprfError::Proof)
        );
        // Two evaluations swapped.
        let (mut ev, proof) = k
            .blind_evaluate(&BlindedBatch::check(&b.elements).unwrap())
            .unwrap();
        ev.swap(0, 1);
        assert_eq!(
            finalize(&b, &ev, &proof, &k.public_key()),
            Err(OprfError::Proof)
        );
        assert!(matches!(
            finalize(&b, &ev[..1], &proof, &k.public_key()),
            Err(OprfError::Count { .. })
        ));
        // Garbage elements are refused by the holder's check, not a panic,
        // and the check names the first.
        assert_eq!(
            BlindedBatch::check(&[b.elements[0], [0xff; 32]])
                .err()
                .unwrap(),
            OprfError::Element(1)
        );
    }
}
