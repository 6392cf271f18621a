//! A bound on the inbound connections one address may hold in their
//! handshake.
//!
//! Anyone who can reach a node's port can open TCP connections and then say
//! nothing: each one holds a pending place until the transport's timeout
//! (10 s) closes it. The swarm's own bound on pending inbound connections
//! ([`super::MAX_PENDING_INCOMING`], 64) keeps that from costing memory, but
//! one machine opening 64 such connections every 10 s then holds every
//! place, and every member's connection is refused while it does. This
//! behaviour gives each address at most `node.max_handshakes_per_address` of
//! them (8 by default), so filling the node's places takes many addresses. A
//! member opens at most two connections to a node (the per-peer bound), and a
//! handshake takes milliseconds, so it never meets this bound.
//!
//! An address is an IPv4 address or an IPv6 /56 (one site's allocation, as
//! RFC 6177 advises, so a host cannot take a fresh address per connection
//! from its /64); and once the node's places are three quarters taken
//! ([`BLOCKS_FROM`]), wider prefixes are bounded too, so that a block of
//! addresses cannot take the last places one address at a time: twice the
//! bound per IPv4 /24 and IPv6 /48, four times per IPv6 /32. (Always, they
//! would let two neighbours in a member's /24 keep it out.) This host's own
//! loopback addresses, `127.0.0.1` and `::1`, are not bounded: every node of
//! a federation run on one machine (the demo, a training federation, the
//! tests) connects from them, and whoever can use them already runs on the
//! node's host. The rest of `127.0.0.0/8` is bounded, which is how the tests
//! play an attacker on this machine.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr};
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::{Endpoint, Multiaddr, multiaddr::Protocol, transport::PortUse};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

/// `node.max_handshakes_per_address` by default: the most inbound
/// connections one address may have in their handshake at once; past it,
/// the next is closed at once and counted as refused
/// (`tracenet_connections_refused_total{reason="address_limit"}`).
pub const DEFAULT_HANDSHAKES_PER_ADDRESS: usize = 8;

/// What the bound counts by: a prefix of an address, its length in bits
/// and its bytes (zero past the length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prefix {
    V4(u8, [u8; 4]),
    V6(u8, [u8; 16]),
}

/// Inbound connections in their handshake (every address together) from
/// which the wider prefixes are bounded too.
pub const BLOCKS_FROM: usize = super::MAX_PENDING_INCOMING * 3 / 4;

/// The prefixes an IPv4 address counts under, each with how many times the
/// per-address bound it may hold (the first is the address itself).
const V4_PREFIXES: [(u8, usize); 2] = [(32, 1), (24, 2)];
/// The same for IPv6: the /56 is "the address".
const V6_PREFIXES: [(u8, usize); 3] = [(56, 1), (48, 2), (32, 4)];

fn masked<const N: usize>(bytes: [u8; N], bits: u8) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in bytes.iter().enumerate() {
        let from = (i * 8) as u8;
        if from + 8 <= bits {
            out[i] = *b;
        } else if from < bits {
            out[i] = b & (0xffu8 << (8 - (bits - from)));
        }
    }
    out
}

/// The prefixes `remote` counts under, each with its multiple of the bound;
/// none for this host's own loopback address and for an address that is
/// not IP (not bounded).
fn prefixes_of(remote: &Multiaddr) -> Vec<(Prefix, usize)> {
    let ip = match remote.iter().next() {
        Some(Protocol::Ip4(ip)) => IpAddr::V4(ip),
        Some(Protocol::Ip6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(ip),
        },
        _ => return Vec::new(),
    };
    match ip {
        IpAddr::V4(ip) if ip == std::net::Ipv4Addr::LOCALHOST => Vec::new(),
        IpAddr::V4(ip) => V4_PREFIXES
            .iter()
            .map(|&(bits, times)| (Prefix::V4(bits, masked(ip.octets(), bits)), times))
            .collect(),
        IpAddr::V6(ip) if ip == Ipv6Addr::LOCALHOST => Vec::new(),
        IpAddr::V6(ip) => V6_PREFIXES
            .iter()
            .map(|&(bits, times)| (Prefix::V6(bits, masked(ip.octets(), bits)), times))
            .collect(),
    }
}

/// Why a connection was refused: its address (or a block it is in) already
/// had as many connections in their handshake as it may.
#[derive(Debug)]
pub struct AddressLimit {
    pub limit: usize,
}

impl std::fmt::Display for AddressLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the address, or a block of addresses it is in, already has {} connections in their handshake",
            self.limit
        )
    }
}

impl std::error::Error for AddressLimit {}

/// Counts inbound connections in their handshake by address and by wider
/// prefix, and refuses one that would take any of them past its bound. A
/// connection stops counting when its handshake ends, however it ends:
/// established (whether or not a behaviour then refuses it), failed, timed
/// out or refused.
pub struct Handshakes {
    /// Per address (`node.max_handshakes_per_address`).
    per_address: usize,
    /// The prefixes each connection in its handshake is counted under
    /// (none for an address not bounded).
    of: HashMap<ConnectionId, Vec<Prefix>>,
    /// How many connections each prefix has counted; no zero entries.
    counts: HashMap<Prefix, usize>,
}

impl Handshakes {
    pub fn new(per_address: usize) -> Self {
        Handshakes {
            per_address: per_address.max(1),
            of: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    fn release(&mut self, id: ConnectionId) {
        let Some(prefixes) = self.of.remove(&id) else {
            return;
        };
        for p in prefixes {
            if let Some(n) = self.counts.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&p);
                }
            }
        }
    }

    /// Connections in their handshake, all addresses together.
    #[cfg(test)]
    fn counted(&self) -> usize {
        self.of.len()
    }
}

impl NetworkBehaviour for Handshakes {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let prefixes = prefixes_of(remote);
        let blocks = self.of.len() >= BLOCKS_FROM;
        for (i, &(p, times)) in prefixes.iter().enumerate() {
            if i > 0 && !blocks {
                break;
            }
            let limit = self.per_address * times;
            if self.counts.get(&p).copied().unwrap_or(0) >= limit {
                return Err(ConnectionDenied::new(AddressLimit { limit }));
            }
        }
        for &(p, _) in &prefixes {
            *self.counts.entry(p).or_default() += 1;
        }
        self.of.insert(
            connection_id,
            prefixes.into_iter().map(|(p, _)| p).collect(),
        );
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.release(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // A handshake that failed, timed out, or was refused by this or
        // another behaviour (before or after it was established).
        if let FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) = event {
            self.release(connection_id);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::swarm::ListenError;

    const PER_ADDRESS: usize = DEFAULT_HANDSHAKES_PER_ADDRESS;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn next_id() -> ConnectionId {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        ConnectionId::new_unchecked(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    fn open(h: &mut Handshakes, from: &str) -> (ConnectionId, bool) {
        let id = next_id();
        let local = addr("/ip4/127.0.0.1/tcp/4001");
        let ok = h
            .handle_pending_inbound_connection(id, &local, &addr(from))
            .is_ok();
        (id, ok)
    }

    fn fail(h: &mut Handshakes, id: ConnectionId) {
        let local = addr("/ip4/127.0.0.1/tcp/4001");
        let remote = addr("/ip4/192.0.2.1/tcp/5000");
        h.on_swarm_event(FromSwarm::ListenFailure(ListenFailure {
            local_addr: &local,
            send_back_addr: &remote,
            error: &ListenError::Aborted,
            connection_id: id,
            peer_id: None,
        }));
    }

    #[test]
    fn one_address_holds_at_most_its_share_of_handshakes() {
        let mut h = Handshakes::new(PER_ADDRESS);
        let held: Vec<ConnectionId> = (0..PER_ADDRESS)
            .map(|i| {
                let (id, ok) = open(&mut h, &format!("/ip4/192.0.2.7/tcp/{}", 5000 + i));
                assert!(ok, "connection {i} of the address refused");
                id
            })
            .collect();
        let (_, ok) = open(&mut h, "/ip4/192.0.2.7/tcp/6000");
        assert!(!ok, "the address held more than its share");
        // Another address is not held back by it.
        assert!(open(&mut h, "/ip4/198.51.100.8/tcp/5000").1);
        assert_eq!(h.counted(), PER_ADDRESS + 1);

        // A handshake that ends (failed, timed out) makes room for one more.
        fail(&mut h, held[0]);
        assert!(open(&mut h, "/ip4/192.0.2.7/tcp/6001").1);
        assert!(!open(&mut h, "/ip4/192.0.2.7/tcp/6002").1);
        // So does one established, whatever the behaviours after this one
        // decide (a refusal then reaches here as a failure too: counted once).
        let local = addr("/ip4/127.0.0.1/tcp/4001");
        let remote = addr("/ip4/192.0.2.7/tcp/5001");
        assert!(
            h.handle_established_inbound_connection(held[1], PeerId::random(), &local, &remote)
                .is_ok()
        );
        fail(&mut h, held[1]);
        assert!(open(&mut h, "/ip4/192.0.2.7/tcp/6003").1);
        assert!(!open(&mut h, "/ip4/192.0.2.7/tcp/6004").1);

        // Everything ended: nothing is left counted, no empty entry kept.
        let all: Vec<ConnectionId> = h.of.keys().copied().collect();
        for id in all {
            fail(&mut h, id);
        }
        assert_eq!(h.counted(), 0);
        assert!(h.counts.is_empty());
    }

    /// Three quarters of the node's places taken, a block of addresses
    /// cannot take the rest one address at a time: an IPv4 /24 holds twice
    /// the bound; an IPv6 /48 twice and a /32 four times, however many /56s
    /// it spans. Before that, only each address is bounded.
    #[test]
    fn a_block_of_addresses_holds_a_bounded_share_too() {
        // Below three quarters, two neighbours in one /24 hold 16 together
        // and a third its own 8.
        let mut h = Handshakes::new(PER_ADDRESS);
        let few = (1..=3)
            .flat_map(|a| (0..PER_ADDRESS).map(move |p| format!("/ip4/203.0.113.{a}/tcp/{p}")))
            .filter(|s| open(&mut h, s).1)
            .count();
        assert_eq!(few, 3 * PER_ADDRESS);

        let crowded = || {
            // The host's own nodes, not bounded, fill three quarters.
            let mut h = Handshakes::new(PER_ADDRESS);
            for p in 0..BLOCKS_FROM {
                assert!(open(&mut h, &format!("/ip4/127.0.0.1/tcp/{p}")).1);
            }
            h
        };
        let mut h = crowded();
        let v4 = (1..=40)
            .filter(|i| open(&mut h, &format!("/ip4/203.0.113.{i}/tcp/1")).1)
            .count();
        assert_eq!(v4, 2 * PER_ADDRESS);
        assert!(open(&mut h, "/ip4/203.0.114.1/tcp/1").1);

        let mut h = crowded();
        let one_48 = (0..=255u32)
            .filter(|i| open(&mut h, &format!("/ip6/2001:db8:7:{:x}00::1/tcp/1", i)).1)
            .count();
        assert_eq!(one_48, 2 * PER_ADDRESS);
        let one_32 = (8..=255u32)
            .filter(|i| open(&mut h, &format!("/ip6/2001:db8:{:x}::1/tcp/1", i)).1)
            .count();
        assert_eq!(one_48 + one_32, 4 * PER_ADDRESS);
        assert!(open(&mut h, "/ip6/2001:db9::1/tcp/1").1);
    }

    #[test]
    fn addresses_count_by_ipv4_address_and_ipv6_site() {
        let first = |s: &str| prefixes_of(&addr(s)).first().map(|(p, _)| *p);
        assert_eq!(first("/ip4/192.0.2.7/tcp/1"), first("/ip4/192.0.2.7/tcp/2"));
        assert_ne!(first("/ip4/192.0.2.7/tcp/1"), first("/ip4/192.0.2.8/tcp/1"));
        // The host's own loopback address is not bounded; the rest of
        // 127.0.0.0/8 is.
        assert_eq!(first("/ip4/127.0.0.1/tcp/1"), None);
        assert_eq!(first("/ip6/::1/tcp/1"), None);
        assert!(first("/ip4/127.0.0.2/tcp/1").is_some());
        // Two hosts of one /56 are one address; another /56 is another.
        assert_eq!(
            first("/ip6/2001:db8:0:ff01::1/tcp/1"),
            first("/ip6/2001:db8:0:ff02::9/tcp/1")
        );
        assert_ne!(
            first("/ip6/2001:db8:0:ff01::1/tcp/1"),
            first("/ip6/2001:db8:0:fe01::1/tcp/1")
        );
        // An IPv4 address written as IPv6 is the IPv4 address.
        assert_eq!(
            first("/ip6/::ffff:192.0.2.7/tcp/1"),
            first("/ip4/192.0.2.7/tcp/9")
        );
        assert_eq!(first("/ip6/::ffff:127.0.0.1/tcp/1"), None);
        assert_eq!(first("/dns4/example.org/tcp/1"), None);
        assert_eq!(masked([0xff, 0xff], 12), [0xff, 0xf0]);
    }
}
