//! The federation's members as the node uses them: who may connect, which
//! State a key speaks for, and where to reach it. Built from the verified roster.
//! Also the roster versions behind the current one, by which stored answers
//! are judged ([`PastRosters`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

use crate::marking::{MakerTable, MarkingPrefix};
use crate::model::CountryCode;
use crate::protocol::PublicKey;
use crate::roster::{RosterHistory, TrustConfig};

#[derive(Debug, Clone, Serialize)]
pub struct MemberInfo {
    pub state: CountryCode,
    pub name: String,
    #[serde(rename = "public_key", serialize_with = "ser_key")]
    pub key: PublicKey,
    #[serde(rename = "addresses", serialize_with = "ser_addrs")]
    pub addrs: Vec<Multiaddr>,
    pub bootstrap: bool,
    /// The marking prefixes the roster says this State holds records under.
    #[serde(serialize_with = "ser_prefixes")]
    pub prefixes: Vec<crate::marking::MarkingPrefix>,
    /// The OPRF public key the roster lists for it: the only key its blind
    /// evaluations and filters are accepted under. `None`: blind traces pass
    /// it by.
    pub oprf_key: Option<crate::protocol::OprfPublicKey>,
}

fn ser_prefixes<S: serde::Serializer>(
    p: &[crate::marking::MarkingPrefix],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(|x| x.to_string()))
}

fn ser_key<S: serde::Serializer>(k: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.to_base64())
}

fn ser_addrs<S: serde::Serializer>(a: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(a.iter().map(|x| x.to_string()))
}

/// The current membership: one roster version.
///
/// A copy holds every member (its name, addresses, prefixes): the node
/// shares one behind an `Arc` (`Node::members`, [`PastRosters`], the
/// judge), and copies it only when a maker table changes while snapshots
/// are held. Tests count the copies made on their thread
/// (`members_copied_on_this_thread`).
#[derive(Debug, Default)]
pub struct Members {
    pub version: u64,
    /// Unix seconds after which the roster is no longer valid.
    pub valid_until: u64,
    /// Every member under the PeerId of its own key
    /// ([`crate::identity::peer_id_of`] of [`MemberInfo::key`]): a key is
    /// found from its PeerId ([`Members::by_key`]), so an entry under any
    /// other PeerId is never found by its key.
    pub by_peer: HashMap<PeerId, MemberInfo>,
    /// The gossip validation the roster decides for every member, if it
    /// states one ([`crate::roster::RosterBody::gossip_validation`]).
    pub gossip_validation: Option<crate::net::GossipValidation>,
    /// The links every member keeps, if the roster decides it for the
    /// federation ([`crate::roster::RosterBody::peer_connections`]).
    pub peer_connections: Option<u32>,
    /// Whether every member reads the States served a query names
    /// ([`crate::roster::RosterBody::served_lists`]).
    pub served_lists: bool,
    /// A declared prefix as the maker table in force reads it, where that
    /// differs from the roster's (a maker the table moved to another key),
    /// with the members declaring it ([`Members::rederive`]).
    pub(super) rederived: HashMap<MarkingPrefix, Vec<PeerId>>,
}

impl Clone for Members {
    fn clone(&self) -> Self {
        #[cfg(test)]
        COPIED.with(|n| n.set(n.get() + 1));
        Members {
            version: self.version,
            valid_until: self.valid_until,
            by_peer: self.by_peer.clone(),
            gossip_validation: self.gossip_validation,
            peer_connections: self.peer_connections,
            served_lists: self.served_lists,
            rederived: self.rederived.clone(),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Copies of a [`Members`] made on this thread: tests count them.
    static COPIED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Copies of a [`Members`] made on the calling thread so far (tests only).
#[cfg(test)]
pub fn members_copied_on_this_thread() -> u64 {
    COPIED.with(|n| n.get())
}

impl Members {
    /// Reads every declared prefix's maker key again with `makers`, so that a
    /// roster written under an earlier maker table still names the members
    /// holding a prefix under this one (`DE/OLDKEY` declared, the table now
    /// folding that maker to `DE/NEWKEY`: the member is expected for both).
    /// Called whenever the roster or the table changes.
    pub fn rederive(&mut self, makers: &MakerTable) {
        self.rederived.clear();
        for (peer, m) in &self.by_peer {
            for p in &m.prefixes {
                let Ok(maker) = makers.key(p.maker.as_str(), p.country) else {
                    continue;
                };
                if maker != p.maker {
                    let q = MarkingPrefix {
                        country: p.country,
                        maker,
                    };
                    self.rederived.entry(q).or_default().push(*peer);
                }
            }
        }
    }

    /// Whether `peer`'s roster entry declares `prefix`, as written or as
    /// the maker table in force reads it.
    pub fn declares(&self, peer: &PeerId, prefix: &MarkingPrefix) -> bool {
        self.by_peer
            .get(peer)
            .is_some_and(|m| m.prefixes.contains(prefix))
            || self
                .rederived
                .get(prefix)
                .is_some_and(|ps| ps.contains(peer))
    }

    pub fn get(&self, peer: &PeerId) -> Option<&MemberInfo> {
        self.by_peer.get(peer)
    }

    /// The member that `key` speaks for, if it is one: one map lookup under
    /// the key's PeerId, whatever the roster's size (each query and answer
    /// checked asks it).
    pub fn by_key(&self, key: &PublicKey) -> Option<(&PeerId, &MemberInfo)> {
        let peer = crate::identity::peer_id_of_signer(key)?;
        self.by_peer
            .get_key_value(&peer)
            .filter(|(_, m)| m.key == *key)
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

    /// The links every member keeps as the roster decides them, if it does.
    pub fn links_kept(&self) -> Option<usize> {
        self.peer_connections.map(|n| n as usize)
    }

    /// The members the roster names as bootstrap peers.
    pub fn bootstrap_peers(&self) -> HashSet<PeerId> {
        self.by_peer
            .iter()
            .filter(|(_, m)| m.bootstrap)
            .map(|(p, _)| *p)
            .collect()
    }
}

/// What the roster in force when an answer was received says of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouch {
    /// Roster `version` lists the key as the State's; `removed_in` is the
    /// first later version, up to the current one, that no longer does.
    Listed {
        version: u64,
        peer: PeerId,
        removed_in: Option<u64>,
    },
    /// It does not, or that version cannot be read: why, for the officer.
    Unvouched(String),
}

/// The current membership and the roster history behind it: an answer is
/// judged by the roster this node held when it received the answer, so a State
/// removed later still signed what it signed. Cheap to build per use: the
/// history is shared per data directory and caches the versions it loads.
pub struct PastRosters {
    current: Arc<Members>,
    history: Option<Arc<RosterHistory>>,
}

impl PastRosters {
    pub fn new(data_dir: &Path, trust: &TrustConfig, current: Arc<Members>) -> Self {
        let history = match RosterHistory::shared(data_dir, trust) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "the roster history is unreadable; past answers are judged by the current roster");
                None
            }
        };
        PastRosters { current, history }
    }

    pub fn current(&self) -> &Members {
        &self.current
    }

    pub fn history(&self) -> Option<&RosterHistory> {
        self.history.as_deref()
    }

    /// Judges `key` speaking for `state` by roster `version`; `None` (an
    /// answer stored before versions were recorded) means the current roster.
    pub fn vouch(&self, version: Option<u64>, key: &PublicKey, state: CountryCode) -> Vouch {
        let v = version.unwrap_or(self.current.version);
        if v == self.current.version {
            return match self.current.by_key(key) {
                Some((peer, m)) if m.state == state => Vouch::Listed {
                    version: v,
                    peer: *peer,
                    removed_in: None,
                },
                Some((_, m)) => Vouch::Unvouched(format!(
                    "the signing key is {}'s in roster v{v}, not {state}'s",
                    m.state
                )),
                None => Vouch::Unvouched(format!("the signing key is not in roster v{v}")),
            };
        }
        let Some(history) = &self.history else {
            return Vouch::Unvouched(format!("roster v{v} is not available on this node"));
        };
        let past = match history.get(v) {
            Ok(p) => p,
            Err(e) => return Vouch::Unvouched(e.to_string()),
        };
        let listed = past.roster.lists(key, state);
        let peer = crate::identity::peer_id_of(key);
        match (listed, peer) {
            (true, Some(peer)) => Vouch::Listed {
                version: v,
                peer,
                removed_in: self.removed_in(key, state, v),
            },
            _ => Vouch::Unvouched(format!("the signing key is not {state}'s in roster v{v}")),
        }
    }

    fn removed_in(&self, key: &PublicKey, state: CountryCode, version: u64) -> Option<u64> {
        let cur = self.current.version;
        let from_history = self
            .history
            .as_ref()
            .and_then(|h| h.removed_after(key, state, version, cur).ok().flatten());
        let in_current = self
            .current
            .by_key(key)
            .is_some_and(|(_, m)| m.state == state);
        from_history.or((!in_current && cur > version).then_some(cur))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(seed: u8) -> (PeerId, MemberInfo) {
        let key = crate::protocol::SigningKey::from_seed(&[seed; 32]).unwrap();
        let peer = crate::identity::peer_id_of(&key.public_key()).unwrap();
        let info = MemberInfo {
            state: CountryCode::parse("DE").unwrap(),
            name: format!("member {seed}"),
            key: key.public_key(),
            addrs: Vec::new(),
            bootstrap: false,
            prefixes: Vec::new(),
            oprf_key: None,
        };
        (peer, info)
    }

    /// A key is found by its PeerId, among 200 members as among one; a key
    /// not in the roster, 32 bytes that are no key, and an entry filed under
    /// another member's PeerId are not found.
    #[test]
    fn a_member_is_found_by_its_key_and_by_nothing_else() {
        let mut m = Members::default();
        for seed in 1..=200 {
            let (peer, info) = member(seed);
            m.by_peer.insert(peer, info);
        }
        for seed in [1, 100, 200] {
            let (peer, info) = member(seed);
            let (found, got) = m.by_key(&info.key).expect("a member's key is found");
            assert_eq!((*found, got.name.as_str()), (peer, info.name.as_str()));
        }
        assert!(m.by_key(&member(201).1.key).is_none());
        let not_a_key = PublicKey::from_slice(&[0xff; 32]).unwrap();
        assert!(m.by_key(&not_a_key).is_none());
        // Member 7's entry moved under member 8's PeerId: neither key finds it.
        let (p8, _) = member(8);
        let (p7, i7) = member(7);
        let moved = m.by_peer.remove(&p7).unwrap();
        m.by_peer.insert(p8, moved);
        assert!(m.by_key(&i7.key).is_none());
        assert!(m.by_key(&member(8).1.key).is_none());
    }
}
