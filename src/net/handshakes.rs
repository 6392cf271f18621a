//! A bound on the inbound connections one address may hold in their
//! handshake.
//!
//! Anyone who can reach a node's port can open TCP connections and then say
//! nothing: each one holds a pending slot until the transport's timeout (10 s)
//! closes it. The swarm's own bound on pending inbound connections (64, in
//! [`super::behaviour::build_swarm`]) keeps that from costing memory, but one
//! machine opening 64 such connections every 10 s then holds every slot, and
//! every member's connection is refused while it does. This behaviour gives
//! each address at most [`MAX_HANDSHAKES_PER_ADDRESS`] of them, so filling the
//! node's slots takes as many addresses as slots. A member opens at most two
//! connections to a node (the per-peer bound), so it never meets this limit.
//!
//! An address is an IPv4 address or an IPv6 /56 (one site's allocation, as
//! RFC 6177 advises, so a host cannot take a fresh address per connection
//! from its /64). This host's own loopback addresses, `127.0.0.1` and `::1`,
//! are not bounded: every node of a federation run on one machine (the demo,
//! a training federation, the tests) connects from them, and whoever can use
//! them already runs on the node's host. The rest of `127.0.0.0/8` is
//! bounded, which is how the tests play an attacker on this machine.

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

/// The most inbound connections one address may have in their handshake at
/// once; past it, the next is closed at once and counted as refused
/// (`tracenet_connections_refused_total{reason="address_limit"}`).
pub const MAX_HANDSHAKES_PER_ADDRESS: usize = 8;

/// What the bound counts by: an IPv4 address, or an IPv6 address's first 56
/// bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Address {
    V4([u8; 4]),
    V6([u8; 7]),
}

/// The address `remote` counts under; `None` for this host's own loopback
/// address and for an address that is not IP (not bounded).
fn address_of(remote: &Multiaddr) -> Option<Address> {
    let ip = match remote.iter().next()? {
        Protocol::Ip4(ip) => IpAddr::V4(ip),
        Protocol::Ip6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(ip),
        },
        _ => return None,
    };
    match ip {
        IpAddr::V4(ip) if ip == std::net::Ipv4Addr::LOCALHOST => None,
        IpAddr::V4(ip) => Some(Address::V4(ip.octets())),
        IpAddr::V6(ip) if ip == Ipv6Addr::LOCALHOST => None,
        IpAddr::V6(ip) => {
            let mut site = [0u8; 7];
            site.copy_from_slice(&ip.octets()[..7]);
            Some(Address::V6(site))
        }
    }
}

/// Why a connection was refused: its address already had
/// [`MAX_HANDSHAKES_PER_ADDRESS`] connections in their handshake.
#[derive(Debug)]
pub struct AddressLimit {
    pub limit: usize,
}

impl std::fmt::Display for AddressLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the address already has {} connections in their handshake",
            self.limit
        )
    }
}

impl std::error::Error for AddressLimit {}

/// Counts inbound connections in their handshake by address and refuses one
/// past [`MAX_HANDSHAKES_PER_ADDRESS`]. A connection stops counting when its
/// handshake ends, however it ends: established (whether or not a behaviour
/// then refuses it), failed, timed out or refused.
#[derive(Default)]
pub struct Handshakes {
    /// The address of each connection counted.
    of: HashMap<ConnectionId, Address>,
    /// How many connections each address has counted; no zero entries.
    counts: HashMap<Address, usize>,
}

impl Handshakes {
    fn release(&mut self, id: ConnectionId) {
        let Some(address) = self.of.remove(&id) else {
            return;
        };
        if let Some(n) = self.counts.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&address);
            }
        }
    }

    /// Connections counted, all addresses together.
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
        let Some(address) = address_of(remote) else {
            return Ok(());
        };
        let n = self.counts.entry(address).or_default();
        if *n >= MAX_HANDSHAKES_PER_ADDRESS {
            return Err(ConnectionDenied::new(AddressLimit {
                limit: MAX_HANDSHAKES_PER_ADDRESS,
            }));
        }
        *n += 1;
        self.of.insert(connection_id, address);
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

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn open(h: &mut Handshakes, from: &str) -> (ConnectionId, bool) {
        let id = ConnectionId::new_unchecked(rand_id());
        let local = addr("/ip4/127.0.0.1/tcp/4001");
        let ok = h
            .handle_pending_inbound_connection(id, &local, &addr(from))
            .is_ok();
        (id, ok)
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
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
        let mut h = Handshakes::default();
        let held: Vec<ConnectionId> = (0..MAX_HANDSHAKES_PER_ADDRESS)
            .map(|i| {
                let (id, ok) = open(&mut h, &format!("/ip4/192.0.2.7/tcp/{}", 5000 + i));
                assert!(ok, "connection {i} of the address refused");
                id
            })
            .collect();
        let (_, ok) = open(&mut h, "/ip4/192.0.2.7/tcp/6000");
        assert!(!ok, "the address held more than its share");
        // Another address is not held back by it.
        assert!(open(&mut h, "/ip4/192.0.2.8/tcp/5000").1);
        assert_eq!(h.counted(), MAX_HANDSHAKES_PER_ADDRESS + 1);

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

    #[test]
    fn addresses_count_by_ipv4_address_and_ipv6_site() {
        let v4 = |s: &str| address_of(&addr(s));
        assert_eq!(v4("/ip4/192.0.2.7/tcp/1"), v4("/ip4/192.0.2.7/tcp/2"));
        assert_ne!(v4("/ip4/192.0.2.7/tcp/1"), v4("/ip4/192.0.2.8/tcp/1"));
        // The host's own loopback address is not bounded; the rest of
        // 127.0.0.0/8 is.
        assert_eq!(v4("/ip4/127.0.0.1/tcp/1"), None);
        assert_eq!(v4("/ip6/::1/tcp/1"), None);
        assert!(v4("/ip4/127.0.0.2/tcp/1").is_some());
        // Two hosts of one /56 are one address; another /56 is another.
        assert_eq!(
            v4("/ip6/2001:db8:0:ff01::1/tcp/1"),
            v4("/ip6/2001:db8:0:ff02::9/tcp/1")
        );
        assert_ne!(
            v4("/ip6/2001:db8:0:ff01::1/tcp/1"),
            v4("/ip6/2001:db8:0:fe01::1/tcp/1")
        );
        // An IPv4 address written as IPv6 is the IPv4 address.
        assert_eq!(
            v4("/ip6/::ffff:192.0.2.7/tcp/1"),
            v4("/ip4/192.0.2.7/tcp/9")
        );
        assert_eq!(v4("/ip6/::ffff:127.0.0.1/tcp/1"), None);
        assert_eq!(v4("/dns4/example.org/tcp/1"), None);
    }
}
