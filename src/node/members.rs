//! The federation's members as the node uses them: who may connect, which
//! State a key speaks for, and where to reach it. Built from the verified roster.

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

use crate::model::CountryCode;
use crate::protocol::PublicKey;

#[derive(Debug, Clone, Serialize)]
pub struct MemberInfo {
    pub state: CountryCode,
    pub name: String,
    #[serde(serialize_with = "ser_key")]
    pub key: PublicKey,
    #[serde(serialize_with = "ser_addrs")]
    pub addrs: Vec<Multiaddr>,
    pub bootstrap: bool,
}

fn ser_key<S: serde::Serializer>(k: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.to_base64())
}

fn ser_addrs<S: serde::Serializer>(a: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(a.iter().map(|x| x.to_string()))
}

/// The current membership: one roster version.
#[derive(Debug, Clone, Default)]
pub struct Members {
    pub version: u64,
    /// Unix seconds after which the roster is no longer valid.
    pub valid_until: u64,
    pub by_peer: HashMap<PeerId, MemberInfo>,
}

impl Members {
    pub fn get(&self, peer: &PeerId) -> Option<&MemberInfo> {
        self.by_peer.get(peer)
    }

    /// The member that `key` speaks for, if it is one.
    pub fn by_key(&self, key: &PublicKey) -> Option<(&PeerId, &MemberInfo)> {
        self.by_peer.iter().find(|(_, m)| m.key == *key)
    }

    /// The members of a State (normally one node each).
    pub fn of_state(&self, state: CountryCode) -> impl Iterator<Item = (&PeerId, &MemberInfo)> {
        self.by_peer
            .iter()
            .filter(move |(_, m)| m.state == state && !m.bootstrap)
    }

    pub fn dial_list(&self) -> HashMap<PeerId, Vec<Multiaddr>> {
        self.by_peer
            .iter()
            .map(|(p, m)| (*p, m.addrs.clone()))
            .collect()
    }
}
