//! Blind traces (proto-docs/BLIND.md): the pure parts. The canonical inputs
//! of a marking (the folding of exact and look-alike matching, and the
//! expansion of `?` up to a bound); the OPRF of RFC 9497 (VOPRF,
//! ristretto255-SHA512), a holder's side and a requester's; keyed filters
//! (binary fuse, 16-bit fingerprints) built, chunked, checked and read;
//! the per-State budget of evaluations; the key's seed file. Uses `marking`
//! and `protocol` only: no libp2p, tokio or sled, and every rule here is tested with plain tests.

mod budget;
mod canonical;
mod filter;
#[cfg(test)]
mod inversion_tests;
mod keyfile;
mod oprf;
pub mod vectors;

pub use budget::EvaluationBudget;
pub use canonical::{
    Beyond, DEFAULT_ALPHABET, DEFAULT_BOUND, canonical_input, query_candidates, record_keys,
    serial_alphabet,
};
pub use filter::{BuiltFilter, FilterError, ReceivedFilter, build_filter};
pub use keyfile::{OPRF_KEY_FILE, load_or_create_key};
pub use oprf::{
    Blinded, BlindedBatch, OprfError, OprfKey, check_oprf_public_key, filter_key, finalize,
};
