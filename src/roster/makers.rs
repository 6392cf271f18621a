//! The federation's maker reference table, signed by the trust anchors that
//! sign the roster, under the same threshold, and passed on by gossip like
//! the roster: two States find each other's records only if they fold a
//! maker's name alike, so the table is one for the whole federation.
//!
//! A body (version, validity, the rows of `config/makers.toml`) is encoded
//! as a message of kind `makers` (PROTOCOL.md, section 8.1) and signed under
//! its own domain tag, `tracenet/v1/makers\0`: a roster's signature can never
//! be taken for a table's. On disk and on the wire it is a JSON file like the
//! roster's (`tracenet-makers/1`): the exact signed bytes in base64 and the
//! anchors' signatures. A node starts from the table built into its release
//! (version 0) and applies a newer signed one when it is installed or
//! received; `store` keeps it in the data directory.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{AnchorSignature, TrustConfig, anchors};
use crate::marking::{MakerTable, ReferenceError, ReferenceMaker, ReferenceTable};
use crate::model::Date;
use crate::protocol::{
    DecodeError, Digest, EncodeError, Kind, Limits, PublicKey, SigningKey, codec,
};

mod store;
#[cfg(test)]
mod tests;

pub use store::{
    HELD_FILE, HISTORY_DIR, Held, InForce, LocalRefused, MakersView, Source, in_force, install,
    load_held,
};

/// The `format` field of a signed table file.
pub const FORMAT: &str = "tracenet-makers/1";
/// The largest signed table file read from disk, a peer or the API: the
/// default gossip message size, so that every node can receive what any
/// node accepts.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MakersError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "signed maker table file of {len} bytes exceeds {MAX_FILE_BYTES} bytes, the largest a node receives by gossip: shorten the table, or sign with fewer anchors"
    )]
    TooLarge { len: usize },
    #[error("not a signed maker table file: {0}")]
    Json(String),
    /// [`MakersError::Json`] or [`MakersError::Format`] of a file read
    /// from disk, with its path and a hint when it is another tracenet file.
    #[error("{}: {problem}{hint}", path.display())]
    NotMakersFile {
        path: PathBuf,
        problem: String,
        hint: &'static str,
    },
    /// The file's `format`, its first 64 characters.
    #[error("signed maker table file format {0:?} is not {FORMAT}")]
    Format(String),
    #[error("signed maker table body is not valid base64: {0}")]
    Base64(String),
    #[error("signed maker table body: {0}")]
    Decode(#[from] DecodeError),
    #[error("signed maker table body: {0}")]
    Encode(#[from] EncodeError),
    #[error("{0}")]
    Table(#[from] ReferenceError),
    #[error("signed maker table: {0}")]
    Invalid(String),
    #[error("signed maker table signature {index} (anchor {anchor}) is {problem}")]
    Signature {
        index: usize,
        anchor: String,
        problem: String,
    },
    #[error(
        "signed maker table is signed by {found} of the trust anchors; {} required", super::needed_anchors(*needed)
    )]
    Threshold { found: usize, needed: usize },
    #[error("signed maker table version {version} is valid from {from} to {until}, not on {on}")]
    Dates {
        version: u32,
        from: Date,
        until: Date,
        on: Date,
    },
    #[error(
        "maker table version {offered} is not newer than version {held}, in force or seen here"
    )]
    NotNewer { offered: u32, held: u32 },
    #[error(
        "trust configuration: {0}; set [trust] anchors (hex or base64 keys) and a threshold between 1 and their number"
    )]
    Trust(String),
}

/// The signed content of a maker reference table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakersBody {
    /// Strictly increasing, from 1: version 0 is the table built into a
    /// release, never signed.
    pub version: u32,
    /// First day (UTC) on which a node accepts it.
    pub valid_from: Date,
    /// Last day (UTC) on which a node accepts it. A table in force stays in
    /// force after it (there is nothing better to fold with) until a newer
    /// one arrives; `status` says it has expired.
    pub valid_until: Date,
    /// The rows, as in `config/makers.toml`.
    pub makers: Vec<ReferenceMaker>,
}

impl MakersBody {
    /// The body of a table file's rows, signed as version `version`.
    pub fn of(table: &ReferenceTable, version: u32, valid_from: Date, valid_until: Date) -> Self {
        MakersBody {
            version,
            valid_from,
            valid_until,
            makers: table.makers.clone(),
        }
    }

    /// The rows as a reference table of this body's version.
    pub fn reference(&self) -> ReferenceTable {
        ReferenceTable {
            version: self.version,
            makers: self.makers.clone(),
        }
    }

    /// A version from 1, valid_until not before valid_from, and the rows'
    /// bounds and rules ([`ReferenceTable::check`]).
    pub fn check(&self) -> Result<(), MakersError> {
        if self.version == 0 {
            return Err(MakersError::Invalid(
                "version 0 is the table built into each release; a signed table starts at 1".into(),
            ));
        }
        if self.valid_until < self.valid_from {
            return Err(MakersError::Invalid(
                "valid_until is before valid_from".into(),
            ));
        }
        // A table in force replaces the built-in one whole: an empty one
        // would leave every node matching no maker's name (a trial signed
        // and installed one).
        if self.makers.is_empty() {
            return Err(MakersError::Invalid(
                "it lists no maker: a node installing it would match no maker's name; start from the table in force (`tracenet makers show --toml` prints it) and add to it".into(),
            ));
        }
        Ok(self.reference().check()?)
    }

    /// The exact bytes anchors sign, within [`Limits::makers`].
    pub fn encode(&self) -> Result<Vec<u8>, MakersError> {
        self.check()?;
        // A table being made: what it would print is checked too.
        self.reference().check_printable()?;
        let bytes = codec::encode_body(Kind::Makers, self)?;
        let max = Limits::makers().max_frame;
        if bytes.len() > max {
            return Err(EncodeError::TooLarge {
                kind: Kind::Makers,
                len: bytes.len(),
                max,
            }
            .into());
        }
        Ok(bytes)
    }

    /// Decodes (within [`Limits::makers`]) and checks a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, MakersError> {
        let body: MakersBody = codec::decode_body(Kind::Makers, bytes, Limits::makers())?;
        body.check()?;
        Ok(body)
    }
}

/// A signed table file: the exact encoded body (base64) and the anchors'
/// signatures over it, as the roster file holds a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakersFile {
    pub format: String,
    pub body: String,
    pub signatures: Vec<AnchorSignature>,
}

/// A table whose signatures, threshold and contents have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMakers {
    body: MakersBody,
    signed_by: Vec<PublicKey>,
    file: MakersFile,
}

impl MakersFile {
    /// An unsigned file holding `body`.
    pub fn new(body: &MakersBody) -> Result<Self, MakersError> {
        Ok(MakersFile {
            format: FORMAT.into(),
            body: B64.encode(body.encode()?),
            signatures: Vec::new(),
        })
    }

    /// Reads a file's JSON, at most [`MAX_FILE_BYTES`] of it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, MakersError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(MakersError::TooLarge { len: bytes.len() });
        }
        let f: MakersFile = serde_json::from_slice(bytes)
            .map_err(|e| MakersError::Json(crate::model::file::json_problem(bytes, &e)))?;
        if f.format != FORMAT {
            return Err(MakersError::Format(f.format.chars().take(64).collect()));
        }
        Ok(f)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and keys cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Reads `path`, refusing more than [`MAX_FILE_BYTES`] before reading it
    /// whole.
    /// An error that it is not a signed table names the file, and says so
    /// when it is a roster, or the TOML table before signing.
    pub fn read(path: &Path) -> Result<Self, MakersError> {
        let bytes = read_bounded(path)?;
        Self::from_json(&bytes).map_err(|e| {
            let hint = match &e {
                MakersError::Format(f) if f.starts_with("tracenet-roster/") => {
                    "; it is a roster: `tracenet roster install` takes it"
                }
                MakersError::Json(_)
                    if std::str::from_utf8(&bytes)
                        .is_ok_and(|t| t.parse::<toml::Table>().is_ok_and(|t| !t.is_empty())) =>
                {
                    "; a table in the TOML form of config/makers.toml is signed first: `tracenet makers sign`"
                }
                MakersError::Json(_) | MakersError::Format(_) => "",
                _ => return e,
            };
            MakersError::NotMakersFile {
                path: path.into(),
                problem: e.to_string(),
                hint,
            }
        })
        .and_then(|file| {
            // Its body read now, so that a damaged one is named with its
            // file, as a roster's is; a body that decodes but breaks a
            // rule (no maker listed) is said as it is, no damage.
            match file.decode_unverified() {
                Ok(_) => Ok(file),
                Err(e) => Err(MakersError::NotMakersFile {
                    path: path.into(),
                    problem: e.to_string(),
                    hint: match e {
                        MakersError::Base64(_) | MakersError::Decode(_) => {
                            "; its body is damaged: take the file again from the anchor that signed it"
                        }
                        _ => "",
                    },
                }),
            }
        })
    }

    /// Writes the file through a flushed temporary file and a rename.
    pub fn write(&self, path: &Path) -> Result<(), MakersError> {
        super::history::write_atomically(path, &self.to_json()).map_err(|e| match e {
            super::RosterError::Write { path, source } => MakersError::Write { path, source },
            other => MakersError::Invalid(other.to_string()),
        })
    }

    /// The exact signed bytes.
    pub fn body_bytes(&self) -> Result<Vec<u8>, MakersError> {
        // Base64 grows by a third: a body beyond the limit is refused
        // before it is decoded.
        let text = self.body.trim();
        if text.len() / 4 * 3 > Limits::makers().max_frame + 3 {
            return Err(DecodeError::TooLarge {
                len: text.len() / 4 * 3,
                max: Limits::makers().max_frame,
            }
            .into());
        }
        B64.decode(text)
            .map_err(|e| MakersError::Base64(crate::model::file::base64_problem(&e)))
    }

    /// The body, without checking any signature (for showing it, and for the
    /// version a damaged copy still names).
    pub fn decode_unverified(&self) -> Result<MakersBody, MakersError> {
        MakersBody::decode(&self.body_bytes()?)
    }

    /// [`crate::roster::RosterFile::broken_signatures`], for a table.
    pub fn broken_signatures(&self) -> Result<Vec<(usize, PublicKey)>, MakersError> {
        let bytes = self.body_bytes()?;
        Ok(anchors::broken(Kind::Makers, &bytes, &self.signatures))
    }

    /// Adds (or replaces) `key`'s signature over the body. Refused if the
    /// file would then be too large to travel by gossip.
    pub fn sign(&mut self, key: &SigningKey) -> Result<(), MakersError> {
        let bytes = self.body_bytes()?;
        MakersBody::decode(&bytes)?;
        anchors::sign(Kind::Makers, &bytes, key, &mut self.signatures);
        let len = self.to_json().len();
        if len > MAX_FILE_BYTES {
            return Err(MakersError::TooLarge { len });
        }
        Ok(())
    }

    /// Checks the signatures against the configured anchors and threshold
    /// and, with `on`, that the table is valid on that day (a table held
    /// since it was accepted is not checked against the calendar again).
    pub fn verify(
        &self,
        trust: &TrustConfig,
        on: Option<Date>,
    ) -> Result<SignedMakers, MakersError> {
        let anchors = trust
            .anchor_keys()
            .map_err(|e| MakersError::Trust(trust_problem(e)))?;
        let bytes = self.body_bytes()?;
        let body = MakersBody::decode(&bytes)?;
        let signed_by = anchors::counted(Kind::Makers, &bytes, &self.signatures, &anchors)
            .map_err(|b| MakersError::Signature {
                index: b.index,
                anchor: b.anchor.to_base64(),
                problem: b.problem.into(),
            })?;
        let needed = usize::from(trust.threshold);
        if signed_by.len() < needed {
            return Err(MakersError::Threshold {
                found: signed_by.len(),
                needed,
            });
        }
        if let Some(on) = on
            && (on < body.valid_from || on > body.valid_until)
        {
            return Err(MakersError::Dates {
                version: body.version,
                from: body.valid_from,
                until: body.valid_until,
                on,
            });
        }
        Ok(SignedMakers {
            body,
            signed_by,
            file: self.clone(),
        })
    }
}

/// The trust error's own words, without the roster's framing.
fn trust_problem(e: super::RosterError) -> String {
    match e {
        super::RosterError::Trust(t) => t,
        other => other.to_string(),
    }
}

/// Reads at most [`MAX_FILE_BYTES`] (and one more, to know it is more).
fn read_bounded(path: &Path) -> Result<Vec<u8>, MakersError> {
    let read_err = |source| MakersError::Read {
        path: path.to_path_buf(),
        source,
    };
    // A regular file only, opened without blocking: a FIFO held `makers
    // verify` and `node run` for ever (the session's review).
    match crate::model::file::read_small(path, MAX_FILE_BYTES as u64) {
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Err(MakersError::TooLarge {
            len: MAX_FILE_BYTES + 1,
        }),
        other => other.map_err(read_err),
    }
}

impl SignedMakers {
    pub fn version(&self) -> u32 {
        self.body.version
    }
    pub fn body(&self) -> &MakersBody {
        &self.body
    }
    /// The anchors whose signatures were counted.
    pub fn signed_by(&self) -> &[PublicKey] {
        &self.signed_by
    }
    pub fn file(&self) -> &MakersFile {
        &self.file
    }
    /// The maker table its rows make, stating this version.
    pub fn table(&self) -> MakerTable {
        MakerTable::from_signed(&self.body.reference())
    }
    /// Whether `today` is past its `valid_until`.
    pub fn expired(&self, today: Date) -> bool {
        today > self.body.valid_until
    }
}

/// SHA-256 of a table's canonical form ([`ReferenceTable::canonical_bytes`]):
/// the same rows under the same version give the same digest, signed or
/// built in, however the file was laid out.
pub fn digest_of(table: &ReferenceTable) -> Digest {
    Digest::of(&table.canonical_bytes())
}

/// Accepts `offered` (verified on `today`) if its version is newer than the
/// table in force (`in_force`, 0 for the built-in one) and not older than the
/// highest version this node ever applied (`highest_seen`): a damaged copy
/// on disk can never let an older table back in, yet the version it held may
/// be installed again to repair it.
pub fn accept(
    offered: &MakersFile,
    trust: &TrustConfig,
    in_force: u32,
    highest_seen: u32,
    today: Date,
) -> Result<SignedMakers, MakersError> {
    newer(offered.verify(trust, Some(today))?, in_force, highest_seen)
}

/// [`accept`]'s version rule on a table already verified: `signed` if its
/// version is above `in_force` and not below `highest_seen`, else
/// [`MakersError::NotNewer`].
pub fn newer(
    signed: SignedMakers,
    in_force: u32,
    highest_seen: u32,
) -> Result<SignedMakers, MakersError> {
    let v = signed.version();
    if v <= in_force || v < highest_seen {
        return Err(MakersError::NotNewer {
            offered: v,
            held: in_force.max(highest_seen),
        });
    }
    Ok(signed)
}
