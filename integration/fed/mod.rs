//! A test federation: real `tracenet node run` processes on 127.0.0.1, each in
//! its own temporary data directory, with ports chosen at run time and a roster
//! signed by a test trust anchor. Waits are on conditions, with timeouts.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracenet::identity::NodeKey;
use tracenet::model::{CountryCode, Date};
use tracenet::roster::{Member, Role, RosterBody, RosterFile};

use crate::common::{bin, json, ok};

pub struct NodeSpec {
    pub state: &'static str,
    pub bootstrap: bool,
    /// Registry records as JSON Lines.
    pub records: Vec<String>,
    /// Whether the roster lists this node (a rogue node is not listed).
    pub in_roster: bool,
    /// Extra lines for the `[node]` section.
    pub node_config: &'static str,
    /// Marking prefixes its roster entry declares (`DE/CARLWALTHER`).
    pub prefixes: &'static [&'static str],
    /// Whether its roster entry lists its OPRF key (blind traces ask it).
    pub oprf_key_listed: bool,
}

impl NodeSpec {
    pub fn member(state: &'static str, records: Vec<String>) -> Self {
        NodeSpec {
            state,
            bootstrap: false,
            records,
            in_roster: true,
            node_config: "",
            prefixes: &[],
            oprf_key_listed: true,
        }
    }
}

pub struct FedNode {
    pub state: &'static str,
    pub dir: PathBuf,
    pub port: u16,
    pub peer_id: String,
    pub public_key: String,
    /// Its OPRF public key, as `init` printed it.
    pub oprf_key: String,
    pub child: Option<Child>,
}

impl FedNode {
    pub fn cli(&self, args: &[&str]) -> String {
        ok(&self.dir, args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        json(&self.dir, args)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
        }
    }
}

pub struct Federation {
    pub nodes: Vec<FedNode>,
    pub anchor: NodeKey,
    pub _root: tempfile::TempDir,
    /// The links the roster decides for every member, if it does.
    pub roster_links: Option<u32>,
    /// Federations run one at a time: each is a handful of processes on a
    /// 2-core machine, and tests in one binary would otherwise start them together.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The log filter nodes are started with: `info,tracenet=debug` (tests read
/// tracenet's debug lines from `node.log`) unless [`log_as_deployed`] was
/// called.
static AS_DEPLOYED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts every node from now on with no `RUST_LOG`, so at its built-in
/// default (`info`, gossipsub and Kademlia at `warn`): what benchmarks
/// measure, a node as it runs in service, not one writing a debug line per
/// message.
pub fn log_as_deployed() {
    AS_DEPLOYED.store(true, std::sync::atomic::Ordering::Relaxed);
}

impl Drop for Federation {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.signal("CONT");
            n.kill();
        }
    }
}

/// A free TCP port on 127.0.0.1 below the ephemeral range
/// (`tracenet::net::listen_below_ephemeral`), free again when returned: a
/// port the OS picks from the ephemeral range can be taken by a node's
/// outgoing connection before the node it was meant for listens on it (seen
/// with ten nodes dialling each other as they start).
pub fn free_port() -> u16 {
    tracenet::net::listen_below_ephemeral()
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A list of peer ids in a `status` document's `net` part (`connected`,
/// `kept`); `None` if it is missing.
pub fn net_list(status: &Value, key: &str) -> Option<Vec<String>> {
    Some(
        status["net"][key]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

/// Polls `f` until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

fn write_roster(
    nodes: &[FedNode],
    specs: &[NodeSpec],
    anchor: &NodeKey,
    version: u64,
    links: Option<u32>,
) -> Vec<u8> {
    let today = Date::today();
    let members = nodes
        .iter()
        .zip(specs)
        .filter(|(_, s)| s.in_roster)
        .map(|(n, s)| Member {
            state: CountryCode::parse(n.state).unwrap(),
            name: format!("Test State {}", n.state).replace(|c: char| c.is_ascii_digit(), ""),
            key: tracenet::identity::parse_key(&n.public_key).unwrap(),
            role: if s.bootstrap {
                Role::Bootstrap
            } else {
                Role::Member
            },
            prefixes: s.prefixes.iter().map(|p| p.parse().unwrap()).collect(),
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", n.port)],
            oprf_key: (!s.bootstrap && s.oprf_key_listed).then(|| n.oprf_key.parse().unwrap()),
        })
        .collect();
    let body = RosterBody {
        version,
        valid_from: Date::from_days(today.to_days() - 1).unwrap(),
        valid_until: Date::from_days(today.to_days() + 30).unwrap(),
        members,
        gossip_validation: None,
        peer_connections: links,
        // As a first `tracenet roster new` states them together.
        served_lists: links.is_some(),
    };
    let mut file = RosterFile::new(&body).unwrap();
    file.sign(anchor.signing_key()).unwrap();
    file.to_json()
}

impl Federation {
    /// Initialises every node, signs a roster with all `in_roster` nodes, and
    /// starts them; returns once every member is connected to every other.
    pub fn start(specs: Vec<NodeSpec>) -> Federation {
        Self::start_with(specs, |_| {})
    }

    /// As `start`, with `prepare` run on each node's directory before it starts.
    pub fn start_with(specs: Vec<NodeSpec>, prepare: impl Fn(&FedNode)) -> Federation {
        Self::start_inner(specs, prepare, None)
    }

    /// As `start`, with a roster that decides the links every member keeps
    /// (`peer_connections`), as a first `tracenet roster new` does (64).
    pub fn start_stating_links(specs: Vec<NodeSpec>, links: u32) -> Federation {
        Self::start_inner(specs, |_| {}, Some(links))
    }

    fn start_inner(
        specs: Vec<NodeSpec>,
        prepare: impl Fn(&FedNode),
        links: Option<u32>,
    ) -> Federation {
        // A test that failed while holding the turn poisons it; the next may go.
        let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let root = tempfile::tempdir().unwrap();
        let anchor = NodeKey::generate().unwrap();
        let mut nodes = Vec::new();
        for s in &specs {
            let dir = root.path().join(s.state);
            let init = json(&dir, &["init", "--state", s.state]);
            nodes.push(FedNode {
                state: s.state,
                dir,
                port: free_port(),
                peer_id: init["peer_id"].as_str().unwrap().to_string(),
                public_key: init["public_key"].as_str().unwrap().to_string(),
                oprf_key: init["oprf_key"].as_str().unwrap().to_string(),
                child: None,
            });
        }
        let roster = write_roster(&nodes, &specs, &anchor, 1, links);
        for (n, s) in nodes.iter().zip(&specs) {
            let role = if s.bootstrap { "bootstrap" } else { "member" };
            let mut cfg = std::fs::OpenOptions::new()
                .append(true)
                .open(n.dir.join("tracenet.toml"))
                .unwrap();
            write!(
                cfg,
                "\n[node]\nrole = \"{role}\"\nlisten = [\"/ip4/127.0.0.1/tcp/{}\"]\napi_listen = \"127.0.0.1:0\"\n{}\n\n[trust]\nanchors = [\"{}\"]\nthreshold = 1\n",
                n.port,
                s.node_config,
                anchor.public_key().to_base64()
            )
            .unwrap();
            std::fs::write(n.dir.join("roster.json"), &roster).unwrap();
            if !s.records.is_empty() {
                let f = n.dir.join("records.jsonl");
                std::fs::write(&f, s.records.join("\n")).unwrap();
                ok(
                    &n.dir,
                    &["registry", "import", "--strict", f.to_str().unwrap()],
                );
            }
        }
        for n in &nodes {
            prepare(n);
        }
        let mut fed = Federation {
            _root: root,
            nodes,
            anchor,
            roster_links: links,
            _turn: turn,
        };
        for i in 0..fed.nodes.len() {
            fed.launch(i);
        }
        let members: Vec<String> = fed
            .nodes
            .iter()
            .zip(&specs)
            .filter(|(_, s)| s.in_roster)
            .map(|(n, _)| n.peer_id.clone())
            .collect();
        for (n, s) in fed.nodes.iter().zip(&specs) {
            if !s.in_roster {
                continue;
            }
            wait_for(
                &format!("{} to connect to every member it keeps a link to", n.state),
                Duration::from_secs(30),
                || {
                    let st = n.json(&["status"]);
                    let list = |k: &str| net_list(&st, k);
                    let connected = list("connected")?;
                    // With node.peer_connections below the federation's
                    // size, the links the roster plans; else every member.
                    let wanted = if st["net"]["links_bounded"] == true {
                        list("kept")?
                    } else {
                        members.clone()
                    };
                    wanted
                        .iter()
                        .filter(|p| **p != n.peer_id)
                        .all(|p| connected.contains(p))
                        .then_some(())
                },
            );
        }
        fed
    }

    /// Starts (or restarts) node `i` and waits for its control API.
    pub fn launch(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let _ = std::fs::remove_file(n.dir.join("api.addr"));
        let log = std::fs::File::create(n.dir.join("node.log")).unwrap();
        let mut cmd = Command::new(bin());
        if AS_DEPLOYED.load(std::sync::atomic::Ordering::Relaxed) {
            cmd.env_remove("RUST_LOG");
        } else {
            cmd.env("RUST_LOG", "info,tracenet=debug");
        }
        let child = cmd
            .args([
                "--data-dir",
                n.dir.to_str().unwrap(),
                "node",
                "run",
                "--log-format",
                "json",
            ])
            // A file `node-stdin` in its directory, if there, is its
            // standard input (what a node must not import as a client's).
            .stdin(
                std::fs::File::open(n.dir.join("node-stdin"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tracenet node");
        n.child = Some(child);
        let dir = n.dir.clone();
        let state = n.state;
        let child = n.child.as_mut().expect("just started");
        wait_for(
            &format!("{state} control API"),
            Duration::from_secs(30),
            || {
                // A node that stopped (a port taken, a bad config) says why.
                if let Ok(Some(code)) = child.try_wait() {
                    let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(20).collect();
                    panic!(
                        "{state} stopped ({code}) before its control API answered; its log ends:\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                let o = crate::common::run(&dir, &["--json", "status"]);
                o.status.success().then_some(())
            },
        );
    }

    pub fn node(&self, state: &str) -> &FedNode {
        self.nodes.iter().find(|n| n.state == state).expect("node")
    }

    pub fn node_mut(&mut self, state: &str) -> &mut FedNode {
        self.nodes
            .iter_mut()
            .find(|n| n.state == state)
            .expect("node")
    }

    /// Waits until `from` sees every peer of `states` subscribed to `topic`.
    pub fn wait_subscribed(&self, from: &str, topic: &str, states: &[&str]) {
        let want: Vec<String> = states
            .iter()
            .map(|s| self.node(s).peer_id.clone())
            .collect();
        let n = self.node(from);
        wait_for(
            &format!("{from} to see {states:?} on {topic}"),
            Duration::from_secs(30),
            || {
                let st = n.json(&["status"]);
                let peers: Vec<&str> = st["net"]["topic_peers"][topic]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                want.iter()
                    .all(|p| peers.contains(&p.as_str()))
                    .then_some(())
            },
        );
    }

    /// A roster with the given members only, signed by the anchor, as file bytes.
    pub fn roster_without(&self, specs_in: &[&str], version: u64) -> Vec<u8> {
        let specs: Vec<NodeSpec> = self
            .nodes
            .iter()
            .map(|n| NodeSpec {
                state: n.state,
                bootstrap: false,
                records: vec![],
                in_roster: specs_in.contains(&n.state),
                node_config: "",
                prefixes: &[],
                oprf_key_listed: true,
            })
            .collect();
        write_roster(
            &self.nodes,
            &specs,
            &self.anchor,
            version,
            self.roster_links,
        )
    }
}

/// A canonical record line.
pub fn record(
    id: &str,
    maker: &str,
    cc: &str,
    serial: &str,
    imports: &[(&str, u16)],
    events: &str,
) -> String {
    let imports: Vec<String> = imports
        .iter()
        .map(|(c, y)| format!(r#"{{"country":"{c}","year":{y}}}"#))
        .collect();
    format!(
        r#"{{"id":"{id}","marking":{{"manufacturer":"{maker}","country":"{cc}","serial":"{serial}","imports":[{}]}},"category":"pistol","events":[{events}]}}"#,
        imports.join(",")
    )
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `tracenet --json trace` from `n` for a Walther pistol marked DE `serial`,
/// seized in crime, for a criminal investigation; `extra` adds flags.
pub fn trace_walther(n: &FedNode, serial: &str, extra: &[&str]) -> serde_json::Value {
    n.json(&walther_trace_args(serial, extra))
}

/// As [`trace_walther`], as an officer reads it: the command's text.
pub fn trace_walther_text(n: &FedNode, serial: &str, extra: &[&str]) -> String {
    n.cli(&walther_trace_args(serial, extra))
}

/// `tracenet trace` of a Walther pistol by `serial`, then `extra`.
fn walther_trace_args<'a>(serial: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "trace",
        "--maker",
        "walther",
        "--country",
        "DE",
        "--serial",
        serial,
        "--category",
        "pistol",
        "--ground",
        "seized_in_crime",
        "--use",
        "criminal_investigation",
    ];
    args.extend_from_slice(extra);
    args
}

impl NodeSpec {
    /// A regional organisation's bootstrap node, in the roster.
    pub fn bootstrap(state: &'static str) -> Self {
        NodeSpec {
            state,
            bootstrap: true,
            records: Vec::new(),
            in_roster: true,
            node_config: "",
            prefixes: &[],
            oprf_key_listed: true,
        }
    }
}

/// A trace query for a Walther pistol marked DE `serial`, signed by `key` for
/// `state`, as a member played in process sends it.
pub fn signed_walther_query(
    key: &NodeKey,
    state: &str,
    serial: &str,
    priority: tracenet::protocol::Priority,
) -> Vec<u8> {
    let now = tracenet::node::unix_now();
    signed_walther_query_at(key, state, serial, priority, now)
}

/// As [`signed_walther_query`], dated `issued_at` (unix seconds): a query
/// from a requester whose clock is off.
pub fn signed_walther_query_at(
    key: &NodeKey,
    state: &str,
    serial: &str,
    priority: tracenet::protocol::Priority,
    issued_at: u64,
) -> Vec<u8> {
    use tracenet::marking::{Marking, MarkingFields};
    use tracenet::protocol::{IntendedUse, LegalGround, Party, QueryId, TraceQuery};
    let marking = Marking::try_from(MarkingFields {
        manufacturer: "Walther".into(),
        country: CountryCode::parse("DE").unwrap(),
        serial: serial.into(),
        year: None,
        factory_code: None,
        imports: Vec::new(),
    })
    .unwrap();
    let q = TraceQuery {
        id: QueryId::random().unwrap(),
        requester: Party {
            state: CountryCode::parse(state).unwrap(),
            key: key.public_key(),
        },
        issued_at,
        ttl_secs: 3600,
        priority,
        marking,
        category: tracenet::model::WeaponCategory::Pistol,
        calibre: None,
        legal_ground: LegalGround::SeizedInCrime,
        intended_use: IntendedUse::CriminalInvestigation,
        makers_version: Some(0),
        directed_only: false,
        served: None,
    };
    key.sign(q).unwrap().into_parts().0
}

/// A member played in process with its roster key (its `tracenet` process
/// stopped), connected to `target`, so that a test can send exactly the
/// frames a member would. It answers every request sent to it (answers to
/// its queries) with `Reply::Ok` and keeps them for [`Peer::next_request`].
pub struct Peer {
    pub key: NodeKey,
    pub net: tracenet::net::NetHandle,
    pub target: libp2p::PeerId,
    requests: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    events: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The task holds a handle to the network: ending it lets the peer go.
        self.events.abort();
    }
}

impl Peer {
    pub async fn connect(dir: &Path, target: &FedNode) -> Peer {
        Self::connect_replying(dir, target, tracenet::protocol::Reply::Ok.encode()).await
    }

    /// As [`Peer::connect`], answering every request with `reply` (a node
    /// before blind traces: `Reply::Refused(UnexpectedKind)`).
    pub async fn connect_replying(dir: &Path, target: &FedNode, reply: Vec<u8>) -> Peer {
        use tracenet::net::{self, NetConfig, NetEvent};
        let key = NodeKey::load(&tracenet::identity::key_path(dir)).unwrap();
        let (net, mut events) = net::spawn(key.libp2p_keypair(), NetConfig::default()).unwrap();
        let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
        let responder = net.clone();
        let events = tokio::spawn(async move {
            // Gossip is not read; requests are kept and acknowledged.
            while let Some(e) = events.recv().await {
                if let NetEvent::Request { id, data, .. } = e {
                    let _ = tx.send(data);
                    let _ = responder.respond(id, reply.clone()).await;
                }
            }
        });
        let target_id: libp2p::PeerId = target.peer_id.parse().unwrap();
        let addr = format!("/ip4/127.0.0.1/tcp/{}", target.port)
            .parse()
            .unwrap();
        net.set_members(
            std::collections::HashMap::from([(target_id, vec![addr])]),
            Default::default(),
            None,
        )
        .await
        .unwrap();
        for _ in 0..300 {
            let st = net.status().await.unwrap();
            if st.connected.contains(&target.peer_id) {
                return Peer {
                    key,
                    net,
                    target: target_id,
                    requests,
                    events,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the in-process peer did not connect to {}", target.state);
    }

    /// Sends `frame` to the target by request-response; its reply.
    pub async fn send(&self, frame: &[u8]) -> tracenet::protocol::Reply {
        use tracenet::protocol::{Limits, Reply};
        let bytes = self.net.request(self.target, frame.to_vec()).await.unwrap();
        Reply::decode(&bytes, Limits::default())
            .unwrap_or_else(|e| panic!("an unreadable reply ({e}): {bytes:?}"))
    }

    /// The next request the target sent this peer, within `timeout`.
    pub async fn next_request(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(timeout, self.requests.recv())
            .await
            .ok()
            .flatten()
    }

    /// Publishes `frame` by gossip on `topic`, once the target is seen
    /// subscribed to it.
    pub async fn publish(&self, topic: &str, frame: &[u8]) {
        use tracenet::net::Topic;
        let t: Topic = topic.parse().unwrap();
        for _ in 0..300 {
            let st = self.net.status().await.unwrap();
            let subscribed = st
                .topic_peers
                .get(topic)
                .is_some_and(|p| p.contains(&self.target.to_string()));
            if subscribed {
                self.net.publish(t, frame.to_vec()).await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the target never subscribed to {topic}");
    }
}
