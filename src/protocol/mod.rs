//! The wire messages States exchange (trace queries and answers), their codec
//! and signatures, and the freshness and replay rules a received query must pass.
//! Byte-level specification: `proto-docs/PROTOCOL.md`. Uses only `model` and `marking`.

pub mod accept;
pub mod blind;
pub mod codec;
mod fresh;
mod keys;
mod messages;
mod signed;
#[cfg(test)]
mod tests;
pub mod vectors;

pub use accept::{QueryRefused, Refusal, Reply, Rules, Via, Vouching};
pub use codec::{DecodeError, EncodeError, Kind, Limits, MAGIC, MAX_FRAME_CEILING, VERSION};
pub use fresh::{
    Freshness, FreshnessError, LATE_ANSWER_SECS, ReplayError, ReplayGuard, ReplayQuotas,
    replay_ids_per_state,
};
pub use keys::{
    Digest, KeyError, OprfPublicKey, PublicKey, QueryId, SIGNATURE_LEN, Signature, SigningKey,
};
pub use messages::{
    BoundsError, Candidate, EventProjection, IntendedUse, LegalGround, MAX_CANDIDATES, MAX_EVENTS,
    Message, Outcome, Party, Priority, Quality, RecordProjection, RefusedReason, ServedStates,
    TraceAnswer, TraceQuery, WithheldReason, one_of,
};
#[cfg(test)]
pub use signed::verified_on_this_thread;
pub use signed::{
    Signed, VerifiedFrames, VerifyError, decode_and_verify, sign, sign_bytes, verify_bytes,
};
