//! The roster body's wire form, the bytes anchors sign. The members' OPRF
//! keys (blind traces) came after the first release: they travel as a list
//! after the members, keyed by the member's signing key, and the list is
//! absent when empty, so a roster without them is byte for byte what older
//! builds sign and read.

use serde::{Deserialize, Serialize};

use super::{Member, Role, RosterBody, RosterError};
use crate::marking::MarkingPrefix;
use crate::model::{CountryCode, Date};
use crate::protocol::{OprfPublicKey, PublicKey};

/// A member entry as signed since the first release.
#[derive(Serialize, Deserialize)]
pub(super) struct WireMember {
    state: CountryCode,
    name: String,
    key: PublicKey,
    role: Role,
    prefixes: Vec<MarkingPrefix>,
    addresses: Vec<String>,
}

/// One member's OPRF public key, named by the member's signing key.
#[derive(Serialize, Deserialize)]
pub(super) struct OprfKeyEntry {
    member: PublicKey,
    oprf_key: OprfPublicKey,
}

/// The body with the trailing OPRF keys.
#[derive(Serialize, Deserialize)]
pub(super) struct Body {
    version: u64,
    valid_from: Date,
    valid_until: Date,
    members: Vec<WireMember>,
    #[serde(with = "trailing_list")]
    oprf_keys: Vec<OprfKeyEntry>,
}

/// The body of the builds before OPRF keys.
#[derive(Serialize, Deserialize)]
pub(super) struct BodyBefore {
    version: u64,
    valid_from: Date,
    valid_until: Date,
    members: Vec<WireMember>,
}

impl From<BodyBefore> for Body {
    fn from(b: BodyBefore) -> Self {
        Body {
            version: b.version,
            valid_from: b.valid_from,
            valid_until: b.valid_until,
            members: b.members,
            oprf_keys: Vec::new(),
        }
    }
}

impl From<&RosterBody> for Body {
    fn from(b: &RosterBody) -> Self {
        Body {
            version: b.version,
            valid_from: b.valid_from,
            valid_until: b.valid_until,
            members: b
                .members
                .iter()
                .map(|m| WireMember {
                    state: m.state,
                    name: m.name.clone(),
                    key: m.key,
                    role: m.role,
                    prefixes: m.prefixes.clone(),
                    addresses: m.addresses.clone(),
                })
                .collect(),
            oprf_keys: b
                .members
                .iter()
                .filter_map(|m| {
                    m.oprf_key.map(|k| OprfKeyEntry {
                        member: m.key,
                        oprf_key: k,
                    })
                })
                .collect(),
        }
    }
}

impl Body {
    /// The body with each OPRF key at its member. A key for no listed
    /// member, or a second key for one, is refused: the signed bytes must
    /// say one thing.
    /// Whether the trailing list is present but empty: never written (an
    /// empty list is left out), so refused, keeping one encoding per roster.
    pub(super) fn has_empty_list(&self) -> bool {
        self.oprf_keys.is_empty()
    }

    pub(super) fn into_roster_body(self) -> Result<RosterBody, RosterError> {
        let mut members: Vec<Member> = self
            .members
            .into_iter()
            .map(|m| Member {
                state: m.state,
                name: m.name,
                key: m.key,
                role: m.role,
                prefixes: m.prefixes,
                addresses: m.addresses,
                oprf_key: None,
            })
            .collect();
        // Entries follow the members' order, as the encoder writes them:
        // one encoding per roster.
        let mut after = None;
        for e in self.oprf_keys {
            let Some(at) = members.iter().position(|m| m.key == e.member) else {
                return Err(RosterError::Invalid(format!(
                    "oprf_keys lists a key for {}, which is not a member's key; ask the regional organisation to issue the roster again",
                    e.member
                )));
            };
            if after.is_some_and(|a| at < a) {
                return Err(RosterError::Invalid(
                    "oprf_keys is not in the members' order; ask the regional organisation to issue the roster again"
                        .into(),
                ));
            }
            after = Some(at);
            let m = &mut members[at];
            if m.oprf_key.replace(e.oprf_key).is_some() {
                return Err(RosterError::Member {
                    state: m.state.to_string(),
                    problem: "two OPRF keys are listed for it in oprf_keys; ask the regional organisation to issue the roster again".into(),
                });
            }
        }
        Ok(RosterBody {
            version: self.version,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            members,
        })
    }
}

/// A list that is the last field of the body: on the wire nothing at all
/// when empty (bincode writes nothing for a unit), so its absence is the end
/// of the body; otherwise a length and the entries.
mod trailing_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &Vec<T>, s: S) -> Result<S::Ok, S::Error> {
        if v.is_empty() {
            s.serialize_unit()
        } else {
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        Vec::<T>::deserialize(d)
    }
}
