//! The test vectors of proto-docs/BLIND.md, computed by the code: RFC 9497's
//! own (A.1.2, VOPRF ristretto255-SHA512: key derivation and an output),
//! which show that `voprf` is used as the RFC says; then tracenet's: a
//! node's OPRF key from a seed, the canonical inputs of a marking, their
//! outputs and filter keys, and the encodings of the blind messages. The
//! blinds are random, so a blinded element has no vector; a unit test
//! checks that blind evaluation gives the outputs listed.

use super::{OprfKey, canonical_input, filter_key, record_keys};
use crate::marking::MarkingPrefix;
use crate::protocol::blind::{BlindReply, BlindRequest};

/// RFC 9497 A.1.2's seed and key info.
pub const RFC_SEED: [u8; 32] = [0xa3; 32];
pub const RFC_KEY_INFO: &[u8] = b"test key";
/// The holder's OPRF seed in tracenet's vectors (State DE).
pub const HOLDER_OPRF_SEED: [u8; 32] = [0x0b; 32];
/// The prefix and serial of tracenet's vectors.
pub const PREFIX: &str = "DE/CARLWALTHER";
pub const SERIAL: &str = "WP104233";

/// Every vector, by the name BLIND.md gives it.
pub fn computed() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let rfc = OprfKey::derive(&RFC_SEED, RFC_KEY_INFO).unwrap_or_else(|_| unreachable!());
    out.push(("rfc9497-pkSm".into(), hex::encode(rfc.public_key())));
    let o = rfc.evaluate(&[0]).unwrap_or_else(|_| unreachable!());
    out.push(("rfc9497-output-00".into(), hex::encode(o)));
    let k = OprfKey::from_seed(&HOLDER_OPRF_SEED).unwrap_or_else(|_| unreachable!());
    out.push(("holder-oprf-public-key".into(), hex::encode(k.public_key())));
    let p: MarkingPrefix = PREFIX.parse().unwrap_or_else(|_| unreachable!());
    for (i, key) in record_keys(SERIAL).iter().enumerate() {
        let input = canonical_input(&p, key);
        let o = k.evaluate(&input).unwrap_or_else(|_| unreachable!());
        out.push((format!("key-{i}"), key.clone()));
        out.push((format!("input-{i}"), hex::encode(&input)));
        out.push((format!("output-{i}"), hex::encode(o)));
        out.push((
            format!("filter-key-{i}"),
            format!("{:016x}", filter_key(&o)),
        ));
    }
    let req = BlindRequest::Evaluate {
        elements: vec![[0x01; 32]],
    };
    out.push((
        "evaluate-request".into(),
        hex::encode(req.encode().unwrap_or_default()),
    ));
    let filter = BlindRequest::Filter { prefix: p };
    out.push((
        "filter-request".into(),
        hex::encode(filter.encode().unwrap_or_default()),
    ));
    out.push((
        "no-filter-reply".into(),
        hex::encode(BlindReply::NoFilter.encode()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLIND_MD: &str = include_str!("../../proto-docs/BLIND.md");

    fn doc_vector(name: &str) -> Option<String> {
        let marker = format!("<!-- vector {name} -->");
        let start = BLIND_MD.find(&marker)?;
        let rest = &BLIND_MD[start + marker.len()..];
        let body = &rest[rest.find("```")? + 3..];
        let body = &body[body.find('\n')? + 1..];
        let close = body.find("```")?;
        Some(body[..close].split_whitespace().collect())
    }

    /// BLIND.md lists what the code computes; `UPDATE_VECTORS=1` prints the
    /// blocks to paste after a deliberate change.
    #[test]
    fn blind_md_lists_the_vectors_the_code_computes() {
        let computed = computed();
        if std::env::var_os("UPDATE_VECTORS").is_some() {
            for (name, value) in &computed {
                println!("`{name}`\n<!-- vector {name} -->\n```text\n{value}\n```\n");
            }
        }
        for (name, value) in computed {
            assert_eq!(
                doc_vector(&name).as_deref(),
                Some(value.as_str()),
                "BLIND.md's vector {name}"
            );
        }
    }

    /// RFC 9497, A.1.2 (VOPRF mode): the key and the output of input 00.
    #[test]
    fn the_rfc_vectors_hold() {
        let c: std::collections::HashMap<_, _> = computed().into_iter().collect();
        assert_eq!(
            c["rfc9497-pkSm"],
            "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"
        );
        assert_eq!(
            c["rfc9497-output-00"],
            "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7da4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c"
        );
    }

    /// A blind evaluation of the vectors' inputs gives the listed filter keys.
    #[test]
    fn blind_evaluation_reproduces_the_listed_filter_keys() {
        let k = OprfKey::from_seed(&HOLDER_OPRF_SEED).unwrap();
        let p: MarkingPrefix = PREFIX.parse().unwrap();
        let inputs: Vec<Vec<u8>> = record_keys(SERIAL)
            .iter()
            .map(|key| canonical_input(&p, key))
            .collect();
        let b = super::super::Blinded::new(inputs).unwrap();
        let (ev, proof) = k
            .blind_evaluate(&super::super::BlindedBatch::check(&b.elements).unwrap())
            .unwrap();
        let keys = super::super::finalize(&b, &ev, &proof, &k.public_key()).unwrap();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                doc_vector(&format!("filter-key-{i}")),
                Some(format!("{key:016x}"))
            );
        }
    }
}
