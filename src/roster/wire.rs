//! The roster body's wire form, the bytes anchors sign. The members' OPRF
//! keys (blind traces) came after the first release: they travel as a list
//! after the members, keyed by the member's signing key, and the list is
//! absent when empty, so a roster without them is byte for byte what older
//! builds sign and read. The federation's settings (gossip validation, the
//! links every member keeps) came later still: a list of tagged settings
//! after the OPRF keys' list, both written only when the roster states a
//! setting.

use serde::{Deserialize, Serialize};

use super::{GossipValidation, Member, Role, RosterBody, RosterError};
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

/// One federation setting: a kind and its value's bytes. Kinds are listed
/// in ascending order, each at most once; a kind this build does not know
/// is refused, since the setting could change what members do.
#[derive(Serialize, Deserialize)]
pub(super) struct WireSetting {
    kind: u32,
    value: Vec<u8>,
}

/// Setting kind 0: gossip validation, one byte (0 `strict`, 1 `payload`).
const GOSSIP_VALIDATION: u32 = 0;
/// Setting kind 1: the links every member keeps, a u32 big-endian (4 bytes).
const PEER_CONNECTIONS: u32 = 1;
/// Setting kind 2: queries name the States served where links are bounded,
/// one byte 1.
const SERVED_LISTS: u32 = 2;

/// The settings a roster states, as read from its wire form.
#[derive(Debug, Default)]
pub(super) struct Settings {
    pub gossip_validation: Option<GossipValidation>,
    pub peer_connections: Option<u32>,
    pub served_lists: bool,
}

impl WireSetting {
    fn gossip_validation(v: GossipValidation) -> Self {
        WireSetting {
            kind: GOSSIP_VALIDATION,
            value: vec![match v {
                GossipValidation::Strict => 0,
                GossipValidation::Payload => 1,
            }],
        }
    }

    fn peer_connections(n: u32) -> Self {
        WireSetting {
            kind: PEER_CONNECTIONS,
            value: n.to_be_bytes().to_vec(),
        }
    }

    fn served_lists() -> Self {
        WireSetting {
            kind: SERVED_LISTS,
            value: vec![1],
        }
    }
}

/// The body with settings: the OPRF keys' list always written (possibly
/// empty), then the settings (never empty).
#[derive(Serialize, Deserialize)]
pub(super) struct BodyWithSettings {
    version: u64,
    valid_from: Date,
    valid_until: Date,
    members: Vec<WireMember>,
    oprf_keys: Vec<OprfKeyEntry>,
    settings: Vec<WireSetting>,
}

impl From<&RosterBody> for BodyWithSettings {
    fn from(b: &RosterBody) -> Self {
        let Body {
            version,
            valid_from,
            valid_until,
            members,
            oprf_keys,
        } = Body::from(b);
        BodyWithSettings {
            version,
            valid_from,
            valid_until,
            members,
            oprf_keys,
            // In ascending kind.
            settings: b
                .gossip_validation
                .map(WireSetting::gossip_validation)
                .into_iter()
                .chain(b.peer_connections.map(WireSetting::peer_connections))
                .chain(b.served_lists.then(WireSetting::served_lists))
                .collect(),
        }
    }
}

impl BodyWithSettings {
    /// The body as the older form reads it, and the settings, checked: at
    /// least one (else the older form is the encoding), in ascending kind,
    /// each known to this build with a value it reads.
    pub(super) fn into_body(self) -> Result<(Body, Settings), RosterError> {
        let again = "ask the regional organisation to issue the roster again";
        if self.settings.is_empty() {
            return Err(RosterError::Invalid(format!(
                "the settings' list is present but empty, which is never written; {again}"
            )));
        }
        let (mut gossip_validation, mut peer_connections, mut served_lists) = (None, None, false);
        let mut last = None;
        for s in &self.settings {
            if last.is_some_and(|l| s.kind <= l) {
                return Err(RosterError::Invalid(format!(
                    "setting kind {} is listed twice or out of order; {again}",
                    s.kind
                )));
            }
            last = Some(s.kind);
            match s.kind {
                GOSSIP_VALIDATION => {
                    gossip_validation = Some(match s.value.as_slice() {
                        [0] => GossipValidation::Strict,
                        [1] => GossipValidation::Payload,
                        other => {
                            // Named by its length and first bytes: the value
                            // may be as long as the roster.
                            return Err(RosterError::Invalid(format!(
                                "gossip validation of {} bytes beginning {:02x?} is not one this build knows (strict or payload): update tracenet, or {again}",
                                other.len(),
                                &other[..other.len().min(8)]
                            )));
                        }
                    })
                }
                PEER_CONNECTIONS => {
                    let n = match <[u8; 4]>::try_from(s.value.as_slice()) {
                        Ok(b) => u32::from_be_bytes(b),
                        Err(_) => {
                            return Err(RosterError::Invalid(format!(
                                "peer_connections of {} bytes is not a u32 (4 bytes); {again}",
                                s.value.len()
                            )));
                        }
                    };
                    super::check_peer_connections(n).map_err(RosterError::Invalid)?;
                    peer_connections = Some(n);
                }
                SERVED_LISTS => {
                    if s.value != [1] {
                        return Err(RosterError::Invalid(format!(
                            "served_lists of {} bytes beginning {:02x?} is not the one byte 1 this build knows: update tracenet, or {again}",
                            s.value.len(),
                            &s.value[..s.value.len().min(8)]
                        )));
                    }
                    served_lists = true;
                }
                kind => {
                    return Err(RosterError::Invalid(format!(
                        "the roster states a setting of kind {kind}, which this build does not know: update tracenet to a build that reads it"
                    )));
                }
            }
        }
        Ok((
            Body {
                version: self.version,
                valid_from: self.valid_from,
                valid_until: self.valid_until,
                members: self.members,
                oprf_keys: self.oprf_keys,
            },
            Settings {
                gossip_validation,
                peer_connections,
                served_lists,
            },
        ))
    }
}

/// The error to report for bytes no form reads: the settings form's when it
/// read the bytes and refused what they state, else the older forms'.
pub(super) fn pick_error(newest: RosterError, older: crate::protocol::DecodeError) -> RosterError {
    match newest {
        RosterError::Invalid(_) => newest,
        _ => RosterError::Decode(older),
    }
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
            gossip_validation: None,
            peer_connections: None,
            served_lists: false,
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
