//! What the network refuses, made visible: refused inbound connections counted
//! by reason, and a log line for the first of each peer per hour. Probing from
//! outside the roster or flooding connections is otherwise silent, and a log
//! line per attempt would hand the attacker our disk instead.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use libp2p::swarm::ConnectionDenied;
use libp2p::{allow_block_list, connection_limits};

/// Why an inbound connection was refused. The names are the `reason` label of
/// `tracenet_connections_refused_total` and must not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The peer's key is not in the held roster.
    NotInRoster,
    /// A connection limit (`node.max_connections`, per peer, pending) was reached.
    ConnectionLimit,
    /// The address already had its share of connections in their handshake
    /// ([`super::handshakes::DEFAULT_HANDSHAKES_PER_ADDRESS`]).
    AddressLimit,
    /// Denied by a behaviour for a cause not listed above.
    Other,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 4] = [
        RefusalReason::NotInRoster,
        RefusalReason::ConnectionLimit,
        RefusalReason::AddressLimit,
        RefusalReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::NotInRoster => "not_in_roster",
            RefusalReason::ConnectionLimit => "connection_limit",
            RefusalReason::AddressLimit => "address_limit",
            RefusalReason::Other => "other",
        }
    }

    /// What a person reading the log should understand.
    fn explain(self) -> &'static str {
        match self {
            RefusalReason::NotInRoster => "the peer's key is not in the roster",
            RefusalReason::ConnectionLimit => "a connection limit was reached",
            RefusalReason::AddressLimit => {
                "its address already has its share of connections in their handshake"
            }
            RefusalReason::Other => "a network behaviour denied it",
        }
    }

    /// Classifies a denial by the behaviour that made it.
    pub fn of(cause: &ConnectionDenied) -> RefusalReason {
        if cause
            .downcast_ref::<allow_block_list::NotAllowed>()
            .is_some()
        {
            RefusalReason::NotInRoster
        } else if cause
            .downcast_ref::<connection_limits::Exceeded>()
            .is_some()
        {
            RefusalReason::ConnectionLimit
        } else if cause
            .downcast_ref::<super::handshakes::AddressLimit>()
            .is_some()
        {
            RefusalReason::AddressLimit
        } else {
            RefusalReason::Other
        }
    }
}

/// Remembers when each key was last logged so that it is logged at most once
/// per `every`; holds at most `cap` keys. When full of recent keys, a new key is
/// not logged at all: a flood of fresh identities then costs a bounded map and
/// at most `cap` lines per period, and the counters still say what happened.
pub struct OncePer<K> {
    every: Duration,
    cap: usize,
    last: HashMap<K, Instant>,
}

impl<K: Eq + Hash + Clone> OncePer<K> {
    pub fn new(every: Duration, cap: usize) -> Self {
        OncePer {
            every,
            cap,
            last: HashMap::new(),
        }
    }

    /// Whether `key` should be logged now; if so, remembers that it was.
    pub fn check(&mut self, key: &K, now: Instant) -> bool {
        if let Some(t) = self.last.get(key)
            && now.duration_since(*t) < self.every
        {
            return false;
        }
        if !self.last.contains_key(key) && self.last.len() >= self.cap {
            let every = self.every;
            self.last.retain(|_, t| now.duration_since(*t) < every);
            if self.last.len() >= self.cap {
                return false;
            }
        }
        self.last.insert(key.clone(), now);
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.last.len()
    }
}

/// Who tried to connect: the peer when the handshake got far enough to name
/// it, else the address it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Who {
    Peer(libp2p::PeerId),
    Address(String),
}

/// Refused inbound connections: counts by reason, and the log line.
pub struct Refusals {
    counts: HashMap<RefusalReason, u64>,
    logged: OncePer<Who>,
}

/// Peers remembered for the once-an-hour log line; about 100 bytes each.
const LOGGED_PEERS: usize = 4096;
const LOG_EVERY: Duration = Duration::from_secs(3600);

impl Default for Refusals {
    fn default() -> Self {
        Refusals {
            counts: HashMap::new(),
            logged: OncePer::new(LOG_EVERY, LOGGED_PEERS),
        }
    }
}

impl Refusals {
    pub fn record(&mut self, reason: RefusalReason, who: Who, from: &libp2p::Multiaddr) {
        *self.counts.entry(reason).or_default() += 1;
        if !self.logged.check(&who, Instant::now()) {
            return;
        }
        let who = match &who {
            Who::Peer(p) => p.to_string(),
            Who::Address(a) => a.clone(),
        };
        tracing::info!(
            peer = %who,
            address = %from,
            reason = reason.as_str(),
            "refused a connection from {who}: {}; its further refusals this hour are only counted (tracenet_connections_refused_total)",
            reason.explain()
        );
    }

    /// Every reason with its count, zeros included, so the series always exist.
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        RefusalReason::ALL
            .iter()
            .map(|r| (r.as_str(), self.counts.get(r).copied().unwrap_or(0)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_logged_once_per_period() {
        let t0 = Instant::now();
        let mut o = OncePer::new(Duration::from_secs(3600), 10);
        assert!(o.check(&1, t0));
        assert!(!o.check(&1, t0 + Duration::from_secs(10)));
        assert!(o.check(&2, t0 + Duration::from_secs(10)));
        assert!(!o.check(&1, t0 + Duration::from_secs(3599)));
        assert!(o.check(&1, t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn the_map_stays_bounded_under_a_flood_of_identities() {
        let t0 = Instant::now();
        let mut o = OncePer::new(Duration::from_secs(3600), 100);
        let logged = (0..10_000u32).filter(|k| o.check(k, t0)).count();
        assert_eq!(logged, 100);
        assert_eq!(o.len(), 100);
        // An hour on, old keys make room again.
        assert!(o.check(&20_000, t0 + Duration::from_secs(3600)));
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn every_reason_is_counted_and_reported_with_zeros() {
        let mut r = Refusals::default();
        let addr: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let p = libp2p::PeerId::random();
        r.record(RefusalReason::NotInRoster, Who::Peer(p), &addr);
        r.record(RefusalReason::NotInRoster, Who::Peer(p), &addr);
        let counts: Vec<_> = r.counts().into_iter().collect();
        assert_eq!(
            counts,
            vec![
                ("address_limit", 0),
                ("connection_limit", 0),
                ("not_in_roster", 2),
                ("other", 0)
            ]
        );
    }

    #[test]
    fn denials_are_classified_by_the_behaviour_that_made_them() {
        let peer = libp2p::PeerId::random();
        let not_allowed = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
        // The allow list's own error type, as the swarm hands it over.
        let denied = {
            use libp2p::swarm::NetworkBehaviour as _;
            let mut b = not_allowed;
            b.handle_established_inbound_connection(
                libp2p::swarm::ConnectionId::new_unchecked(1),
                peer,
                &"/ip4/127.0.0.1/tcp/1".parse().unwrap(),
                &"/ip4/127.0.0.1/tcp/2".parse().unwrap(),
            )
            .err()
            .expect("an unlisted peer is denied")
        };
        assert_eq!(RefusalReason::of(&denied), RefusalReason::NotInRoster);
        let over = ConnectionDenied::new(super::super::handshakes::AddressLimit { limit: 8 });
        assert_eq!(RefusalReason::of(&over), RefusalReason::AddressLimit);
        let other = ConnectionDenied::new(std::io::Error::other("x"));
        assert_eq!(RefusalReason::of(&other), RefusalReason::Other);
    }
}
