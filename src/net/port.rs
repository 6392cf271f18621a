//! Refusing a TCP port another process already listens on.
//!
//! libp2p's TCP transport (libp2p-tcp 0.45) sets SO_REUSEPORT on every
//! listening socket and offers no way to turn it off (`Config::port_reuse` is a
//! no-op). Two nodes on one port then both start, and the kernel splits the
//! incoming connections between them: answers go to the wrong process and
//! traces end partial, with nothing in any log. So before the swarm listens,
//! each concrete port is bound once without SO_REUSEPORT; that bind fails
//! while any other socket listens there, SO_REUSEPORT or not.
//!
//! The probe is released just before libp2p binds (the two cannot coexist:
//! Linux lets a port be shared only by sockets that all set SO_REUSEPORT), so
//! a second node starting in that same instant could still slip in. The window
//! is the few microseconds between two calls in `net::spawn`, against the
//! seconds a node takes to start, which is why nothing heavier (a lock file per
//! port, a check of /proc after listening) is added.

use std::net::{IpAddr, SocketAddr};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use socket2::{Domain, Socket, Type};

use super::NetError;

/// The TCP socket address a listen address names, if it names a concrete port.
/// Port 0 asks the kernel for a fresh port, which no one else can hold.
fn concrete_tcp(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut it = addr.iter();
    let ip: IpAddr = match it.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    match it.next()? {
        Protocol::Tcp(port) if port != 0 => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}

/// Fails if another socket listens on `addr`'s TCP port.
pub fn ensure_free(addr: &Multiaddr) -> Result<(), NetError> {
    let Some(sa) = concrete_tcp(addr) else {
        return Ok(());
    };
    match probe(sa) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(NetError::PortInUse {
            addr: addr.clone(),
            port: sa.port(),
            holder: holder_of(sa.port()),
        }),
        // Anything else (an address not on this host, no permission) is for
        // libp2p's own listen to report as it always has.
        Err(_) => Ok(()),
    }
}

/// Binds as libp2p does (SO_REUSEADDR, so that a restart is not refused for the
/// last run's connections in TIME_WAIT; v6 only for IPv6) but without
/// SO_REUSEPORT, then lets go.
fn probe(sa: SocketAddr) -> std::io::Result<()> {
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&sa.into())
}

/// How [`holder_of`] names this very process.
const OWN: &str = "this process itself";

/// "by HOLDER", or "by another process" when it is not known.
pub fn in_use_by(holder: Option<&str>) -> String {
    format!("by {}", holder.unwrap_or("another process"))
}

/// What to do about a port in use by `holder`, given in `setting`: stop the
/// holder, or move this node; only the second when the holder is this very
/// process (another of its listeners took the port, for instance between a
/// demo's reserving it and its node's start).
pub fn in_use_advice(holder: Option<&str>, setting: &str) -> String {
    match holder {
        Some(h) if h.starts_with(OWN) => format!(
            "another of this process's own listeners took it: start again, or give this node another port in {setting}"
        ),
        _ => format!("stop it, or give this node another port in {setting}"),
    }
}

/// "process PID (NAME)" for the process that listens on TCP `port`, when this
/// user may see it ("this process itself (PID)" for this one): Linux only,
/// best effort, `None` when unknown.
pub fn holder_of(port: u16) -> Option<String> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for proc_entry in std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()) {
        let pid = proc_entry.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.filter_map(|e| e.ok()).any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str()))
        });
        if holds {
            if pid == std::process::id().to_string() {
                // Another listener of this very process (one of the demo's
                // nodes, or its control API): there is nothing to stop.
                return Some(format!("{OWN} ({pid})"));
            }
            let name = std::fs::read_to_string(proc_entry.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            return Some(format!("process {pid} ({name})"));
        }
    }
    None
}

/// The socket inodes of a /proc/net/tcp{,6} table that listen on `port`.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit_once(':')?.1;
            let listening = *f.get(3)? == LISTEN;
            let matches = u16::from_str_radix(local_port, 16).ok()? == port;
            (listening && matches)
                .then(|| f.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// A listener on 127.0.0.1 at a free port below the system's ephemeral
/// range (Linux `ip_local_port_range`, from 32768 by default), for a node
/// started on this machine later: keep it until just before the node
/// binds the port, or read its port and drop it.
///
/// A port of the ephemeral range, chosen by binding port 0 and let go, is
/// taken meanwhile by another node's port-0 listener or outbound connection
/// (seen in the demo and in the multi-node tests, with nodes dialling each
/// other as they start); below the range, only a deliberate bind takes it.
/// Ports are tried from a start that differs between processes, then in
/// turn across calls, so that processes and successive calls seldom try the
/// same one (a port read and dropped stays free for its node meanwhile).
/// Falls back to a port the system picks when none is free below the range.
///
/// Errors: only the fallback's bind, with its I/O error.
pub fn listen_below_ephemeral() -> std::io::Result<std::net::TcpListener> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let base = low.saturating_sub(12_000).max(1_024);
    let span = u32::from(low.saturating_sub(base));
    if span > 0 {
        if NEXT.load(Ordering::Relaxed) == u32::MAX {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let seed = (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % span;
            let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::Relaxed, Ordering::Relaxed);
        }
        for _ in 0..span {
            let off = NEXT.fetch_add(1, Ordering::Relaxed) % span;
            let port = base + off as u16;
            if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return Ok(l);
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports come from below the ephemeral range, held while the listener
    /// lives, a different one each call.
    #[test]
    fn ports_for_later_nodes_come_from_below_the_ephemeral_range() {
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok());
        // A port read and let go is not handed out by the next call: the
        // multi-node tests read ports before their nodes bind them.
        let pa = listen_below_ephemeral()
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let b = listen_below_ephemeral().unwrap();
        let pb = b.local_addr().unwrap().port();
        assert_ne!(pa, pb);
        if let Some(low) = low.filter(|l| *l > 1_024) {
            assert!(pa < low && pb < low, "{pa}, {pb} (ephemeral from {low})");
        }
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", pb)).is_err(),
            "{pb} not held"
        );
        drop(b);
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", pb)).is_ok(),
            "{pb} not released"
        );
    }

    #[test]
    fn only_concrete_tcp_ports_are_probed() {
        let sa = |s: &str| concrete_tcp(&s.parse().unwrap());
        assert_eq!(
            sa("/ip4/127.0.0.1/tcp/4001"),
            Some("127.0.0.1:4001".parse().unwrap())
        );
        assert_eq!(sa("/ip6/::1/tcp/4001"), Some("[::1]:4001".parse().unwrap()));
        assert_eq!(sa("/ip4/127.0.0.1/tcp/0"), None);
        assert_eq!(sa("/ip4/127.0.0.1/udp/4001/quic-v1"), None);
        assert_eq!(sa("/dns4/localhost/tcp/4001"), None);
    }

    #[test]
    fn a_port_held_with_reuseport_is_refused_and_its_holder_named() {
        // Held the way libp2p holds it.
        let held = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        held.set_reuse_address(true).unwrap();
        held.set_reuse_port(true).unwrap();
        held.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        held.listen(8).unwrap();
        let port = held.local_addr().unwrap().as_socket().unwrap().port();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
        let e = ensure_free(&addr).unwrap_err();
        let said = e.to_string();
        assert!(said.contains(&format!("port {port}")), "{said}");
        if cfg!(target_os = "linux") {
            // Held by the test itself: named as this process, and not told
            // to stop it.
            let me = format!("by this process itself ({})", std::process::id());
            assert!(said.contains(&me), "{said}");
            assert!(!said.contains("stop it"), "{said}");
        }
        drop(held);
        ensure_free(&addr).unwrap();
    }

    #[test]
    fn the_proc_table_is_read_for_listening_sockets_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0FA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0FA1 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0FA2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inodes(table, 4001), vec![4242]);
        assert_eq!(listening_inodes(table, 4003), Vec::<u64>::new());
    }
}
