//! The `[node]` section of `tracenet.toml`: how the node takes part in the
//! federation. Every key has a default; config/node.toml documents them.

use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::net::NetConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A State's node: holds a registry, answers and sends traces.
    Member,
    /// A regional organisation's node: no registry; serves discovery, the roster
    /// and the gossip mesh.
    Bootstrap,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    pub role: Role,
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Bootstrap peers, `/ip4/.../tcp/4001/p2p/PEERID`, dialled in addition to
    /// the roster's addresses (they must be roster members).
    pub bootstrap: Vec<String>,
    /// The control API's address; loopback only.
    pub api_listen: String,
    /// The control API closes a connection that has not sent a full request
    /// head within this many seconds.
    pub api_header_timeout_secs: u64,
    /// Answer `no_hit` when holding the prefix but not the weapon.
    pub answer_no_hit: bool,
    /// At most this many candidates in a hit; more answer with the count only.
    pub max_candidates: usize,
    /// Exact queries answered per requesting State per minute.
    pub queries_per_minute: u32,
    /// Queries with wildcards answered per requesting State per minute.
    pub fuzzy_queries_per_minute: u32,
    /// Queries processed at once; beyond, new ones are dropped unanswered.
    pub max_concurrent_queries: usize,
    /// Requests of one State waiting for a person here (policy.toml's
    /// `[review]`) at most; past it, its next request that would wait is
    /// refused `quota_full`, so that one State cannot bury the others'
    /// requests (or a reviewer's day) under its own.
    pub max_reviews_waiting_per_state: usize,
    /// Whether a trace is blind unless the officer says otherwise
    /// (`--blind=false`, `"blind": false`): proto-docs/BLIND.md.
    pub blind_by_default: bool,
    /// Blind evaluations (elements) granted per requesting State per hour:
    /// at the default 1,200, enumerating a million serials here takes a
    /// State about 35 days, every batch audited.
    pub blind_evaluations_per_hour: u32,
    /// MiB of keyed-filter chunks served per requesting State per hour (a
    /// token bucket): a chunk request costs a member 40 bytes and its reply
    /// up to 32,000, so without a bound a member could fill this node's
    /// uplink for nothing.
    pub blind_chunks_mib_per_hour: u32,
    /// MiB of keyed filters fetched from one holder's State per hour, at
    /// most (a token bucket): a holder that serves a large filter and then
    /// refuses to evaluate cannot have every probe fetch it again. A filter
    /// larger than this takes the whole bucket.
    pub blind_fetch_mib_per_hour: u32,
    /// Candidates a serial with `?` may expand to in a blind trace; beyond,
    /// the officer chooses to send in the clear or not.
    pub blind_max_candidates: usize,
    /// How long another State may act on our queries, in seconds (at most 7
    /// days); a query is valid at least as long as its trace waits.
    pub trace_ttl_secs: u32,
    /// How long a trace waits for answers before it is partial or timed
    /// out, in seconds; default 24 hours: an expected holder offline for a
    /// while still gets the query when it reconnects.
    pub trace_timeout_secs: u64,
    /// How far ahead of our clock a message may be dated.
    pub clock_skew_secs: u64,
    /// Largest gossip message or request frame.
    pub max_message_bytes: usize,
    /// How gossip envelopes are checked where the roster states none:
    /// `strict` (every build; the default) or `payload` (once per message,
    /// by its own signature; every member of the federation must use it, so
    /// the roster decides it): proto-docs/NETWORK.md.
    pub gossip_validation: crate::net::GossipValidation,
    /// How many members of a topic the node relays gossip to (gossipsub's
    /// mesh degree D): proto-docs/NETWORK.md, "Gossip mesh".
    pub gossip_mesh_degree: u32,
    pub max_connections: u32,
    /// Threads that run the node's async work (connections, gossip, the
    /// control API); 0, the default, for half the cores this process may
    /// run on, at least one ([`NodeSettings::async_workers`]). Tokio's
    /// `TOKIO_WORKER_THREADS` is not read. Signatures,
    /// the registry and the store run on the blocking pool beside them.
    pub async_workers: u32,
    /// Inbound connections one address (an IPv4 address, an IPv6 /56) may
    /// have in their handshake at once (proto-docs/NETWORK.md, "Transport").
    pub max_handshakes_per_address: u32,
    /// About how many members the node keeps a connection to when the roster
    /// lists more (proto-docs/NETWORK.md, "Links kept"); the others are
    /// dialled when a trace asks them.
    pub peer_connections: u32,
    /// Directed follow-ups a trace may send along its chain of custody.
    pub max_follow_ups: usize,
    /// How often the node signs its audit head (and always at shutdown).
    pub audit_sign_every_secs: u64,
    /// Audit entries kept in the store; past this many, the oldest move to
    /// files in `audit-archive/` (src/audit/archive.rs), a tenth of it
    /// every 10 s, down to half of it
    /// ([`crate::audit::AuditLog::archive_oldest`]). The store's memory
    /// grows with the entries it holds, a file's does not.
    pub audit_keep_in_store: u64,
    /// Serve the officer console (`/console`).
    pub console: bool,
    /// Where the console listens: empty for the control API's own listener
    /// (under `/console`); else an address of its own, loopback only, for a
    /// TLS reverse proxy on the same machine.
    pub console_listen: String,
    /// A console session with no request for this many minutes ends.
    pub console_idle_minutes: u64,
    /// Mark the console's cookie `Secure`: set it when officers reach the
    /// console through an HTTPS reverse proxy.
    pub console_secure_cookies: bool,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            role: Role::Member,
            listen: vec!["/ip4/0.0.0.0/tcp/4001".into()],
            bootstrap: Vec::new(),
            api_listen: "127.0.0.1:7701".into(),
            api_header_timeout_secs: 10,
            answer_no_hit: true,
            max_candidates: 5,
            queries_per_minute: 600,
            fuzzy_queries_per_minute: 60,
            max_concurrent_queries: 64,
            max_reviews_waiting_per_state: 200,
            blind_by_default: false,
            blind_evaluations_per_hour: 1_200,
            blind_chunks_mib_per_hour: 256,
            blind_fetch_mib_per_hour: 96,
            blind_max_candidates: crate::blind::DEFAULT_BOUND,
            trace_ttl_secs: 86_400,
            trace_timeout_secs: 86_400,
            clock_skew_secs: 60,
            max_message_bytes: 64 * 1024,
            gossip_validation: crate::net::GossipValidation::Strict,
            gossip_mesh_degree: crate::net::DEFAULT_GOSSIP_MESH_DEGREE as u32,
            max_connections: 512,
            async_workers: 0,
            max_handshakes_per_address: crate::net::DEFAULT_HANDSHAKES_PER_ADDRESS as u32,
            peer_connections: crate::net::DEFAULT_PEER_CONNECTIONS as u32,
            max_follow_ups: 4,
            audit_sign_every_secs: 3600,
            audit_keep_in_store: 1_000_000,
            console: true,
            console_listen: String::new(),
            console_idle_minutes: 15,
            console_secure_cookies: false,
        }
    }
}

impl NodeSettings {
    /// The network side's settings; an error names the key and value.
    pub fn net_config(&self) -> Result<NetConfig, String> {
        let listen = self
            .listen
            .iter()
            .map(|a| {
                a.parse::<Multiaddr>().map_err(|e| {
                    format!(
                        "node.listen: {a:?} is not a multiaddr: {e}; write /ip4/IP/tcp/PORT (or /ip6/...), with a port from 0 to 65535"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bootstrap = self
            .bootstrap
            .iter()
            .map(|a| {
                let m = a
                    .parse::<Multiaddr>()
                    .map_err(|e| format!("node.bootstrap: {a:?} is not a multiaddr: {e}"))?;
                match m.iter().last() {
                    Some(libp2p::multiaddr::Protocol::P2p(_)) => Ok(m),
                    _ => Err(format!("node.bootstrap: {a:?} must end in /p2p/PEERID")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetConfig {
            listen,
            bootstrap,
            max_message_bytes: self.message_bytes(),
            max_connections: self.max_connections.max(8),
            max_handshakes_per_address: (self.max_handshakes_per_address as usize)
                .clamp(1, crate::net::MAX_PENDING_INCOMING),
            peer_connections: (self.peer_connections as usize).max(crate::net::links::MIN_KEEP),
            request_timeout: Duration::from_secs(10),
            gossip_validation: self.gossip_validation,
            gossip_mesh_degree: (self.gossip_mesh_degree as usize).clamp(
                crate::net::MIN_GOSSIP_MESH_DEGREE,
                crate::net::MAX_GOSSIP_MESH_DEGREE,
            ),
            ..NetConfig::default()
        })
    }

    /// The threads of the node's async runtime: `async_workers`, or for 0
    /// half of `cores` (the CPUs this process may run on), at least one.
    ///
    /// Not one per core, tokio's default: the node's heavy work (signature
    /// checks, registry lookups, sled) runs on the blocking pool, and the
    /// async workers move bytes. A worker with nothing to do is woken to
    /// steal each task another wakes; on 2 cores one worker measured a fifth
    /// fewer context switches per trace and about 4% less of a requester's
    /// CPU per answer (proto-docs/PERFORMANCE.md, "Forty-third session").
    pub fn async_workers(&self, cores: usize) -> usize {
        match self.async_workers {
            0 => (cores / 2).max(1),
            n => n as usize,
        }
    }

    /// The largest gossip message or request frame, `max_message_bytes` held
    /// within what the network side supports.
    pub fn message_bytes(&self) -> usize {
        self.max_message_bytes
            .clamp(4096, crate::protocol::MAX_FRAME_CEILING)
    }

    /// Checks what serde cannot: addresses parse, the API stays on loopback,
    /// numbers are in range.
    pub fn validate(&self) -> Result<(), String> {
        self.net_config()?;
        let api: std::net::SocketAddr = self.api_listen.parse().map_err(|e| {
            format!(
                "node.api_listen: {:?} is not an address: {e}; write IP:PORT with a port from 0 to 65535, e.g. 127.0.0.1:7701",
                self.api_listen
            )
        })?;
        if !api.ip().is_loopback() {
            return Err(format!(
                "node.api_listen: {api} is not a loopback address; the control API only listens on 127.0.0.1 or ::1"
            ));
        }
        if !self.console_listen.is_empty() {
            let c: std::net::SocketAddr = self.console_listen.parse().map_err(|e| {
                format!(
                    "node.console_listen: {:?} is not an address: {e}; write IP:PORT with a port from 0 to 65535, e.g. 127.0.0.1:7702",
                    self.console_listen
                )
            })?;
            if !c.ip().is_loopback() {
                return Err(format!(
                    "node.console_listen: {c} is not a loopback address; put the console behind a TLS reverse proxy on this machine (see README, \"The officer console\")"
                ));
            }
        }
        // Numbers are checked against `config::RANGES`, with their line.
        Ok(())
    }
}

/// The most queries a node may answer at once (each holds a blocking thread).
pub const MAX_CONCURRENT_QUERIES: usize = 4096;
