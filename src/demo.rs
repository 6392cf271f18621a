//! `tracenet demo`: a small federation on 127.0.0.1 from an embedded default —
//! a regional bootstrap node and four States with deterministic synthetic
//! registries and a few known stories — runs a handful of traces, prints what
//! came back, and shuts down. Every node is a real node with its own data
//! directory, key, sled store, libp2p listener and control API.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::api;
use crate::config::{Config, RegistryConfig};
use crate::identity::{self, NodeKey};
use crate::model::{CountryCode, Date};
use crate::node::{self, LocalCase, NewTrace, Node, NodeSettings, Role, StoredTrace, TraceStatus};
use crate::protocol::{IntendedUse, LegalGround, Outcome, Priority, TraceAnswer};
use crate::registry::{self, Record, Registry};
use crate::roster::{self, Member, RosterBody, RosterFile, TrustConfig};

/// The demo's States: code, name, synthetic records.
const STATES: &[(&str, &str, u64)] = &[
    ("DE", "Germany", 3000),
    ("NG", "Nigeria", 2000),
    ("FR", "France", 2000),
    ("KE", "Kenya", 1000),
];
const BOOTSTRAP: (&str, &str) = ("BE", "Regional Organisation");

/// Stories the traces follow, as canonical records: (holding State, record).
const STORIES: &[(&str, &str)] = &[
    // Made in Germany, exported to Nigeria, stolen from the Nigerian police.
    (
        "DE",
        r#"{"id":"DE-STORY-1","marking":{"manufacturer":"Carl Walther","country":"DE","serial":"WP 104233","year":2011,"imports":[{"country":"NG","year":2012}]},"model":"P99","category":"pistol","calibre":"9x19mm","events":[{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"},{"date":"2012-02-20","kind":"exported","counterpart":"NG","reference":"EXP-2012-0077"}]}"#,
    ),
    (
        "NG",
        r#"{"id":"NG-STORY-1","marking":{"manufacturer":"Walther","country":"DE","serial":"WP104233","year":2011,"imports":[{"country":"NG","year":2012}]},"model":"P99","category":"pistol","calibre":"9x19mm","events":[{"date":"2012-03-14","kind":"imported","counterpart":"DE","holder":"state_police"},{"date":"2019-07-30","kind":"stolen","holder":"state_police","note":"armoury inventory, station 12"}]}"#,
    ),
    // A French record of a Belgian rifle that the police lost.
    (
        "FR",
        r#"{"id":"FR-STORY-2","marking":{"manufacturer":"FN Herstal","country":"BE","serial":"1352-88017","year":1988},"model":"FAL","category":"rifle","calibre":"7.62x51mm","events":[{"date":"1990-01-10","kind":"imported","counterpart":"BE","holder":"state_military"},{"date":"2003-04-02","kind":"transferred","holder":"state_police"},{"date":"2016-11-21","kind":"lost","holder":"state_police"}]}"#,
    ),
    // A confidential record: the answer is withheld.
    (
        "DE",
        r#"{"id":"DE-STORY-3","marking":{"manufacturer":"Heckler & Koch","country":"DE","serial":"HK-55-7781","year":2014},"model":"G36","category":"assault_rifle","calibre":"5.56x45mm","confidential":true,"events":[{"date":"2014-06-01","kind":"manufactured","holder":"manufacturer"},{"date":"2015-01-12","kind":"transferred","holder":"state_military"}]}"#,
    ),
];

/// The demo's traces: what the Kenyan officer read off each seized weapon.
struct DemoTrace {
    title: &'static str,
    maker: &'static str,
    country: &'static str,
    serial: &'static str,
    imports: &'static [&'static str],
    /// A blind trace (proto-docs/BLIND.md): the marking only to the States
    /// whose keyed filter holds it.
    blind: bool,
}

const TRACES: &[DemoTrace] = &[
    DemoTrace {
        title: "pistol seized in Nairobi, import mark NG 2012",
        maker: "WALTHER",
        country: "DE",
        serial: "WP104233",
        imports: &["NG:2012"],
        blind: false,
    },
    DemoTrace {
        title: "the same pistol read with a letter O for a zero",
        maker: "Walther",
        country: "DE",
        serial: "WP1O4233",
        imports: &[],
        blind: false,
    },
    DemoTrace {
        title: "a rifle whose serial was partly ground off",
        maker: "Fabrique Nationale",
        country: "BE",
        serial: "1352-8?017",
        imports: &[],
        blind: false,
    },
    DemoTrace {
        title: "a rifle matching a confidential record",
        maker: "H&K",
        country: "DE",
        serial: "HK557781",
        imports: &[],
        blind: false,
    },
    DemoTrace {
        title: "a pistol no registry knows",
        maker: "Walther",
        country: "DE",
        serial: "QQ000001",
        imports: &[],
        blind: false,
    },
    DemoTrace {
        title: "the first pistol again, as a confidential (blind) trace",
        maker: "Walther",
        country: "DE",
        serial: "WP104233",
        imports: &["NG:2012"],
        blind: true,
    },
];

/// One node of the demo, running in this process.
struct DemoNode {
    state: CountryCode,
    dir: PathBuf,
    node: Node,
}

pub struct DemoOptions {
    /// Where the data directories go; a temporary folder if `None`.
    pub dir: Option<PathBuf>,
    /// Leave the federation running after the traces.
    pub keep: bool,
}

/// A free TCP port on 127.0.0.1 for a node to listen on, held (bound) until
/// the node starts ([`Reserved::release`]).
///
/// Taken below the system's ephemeral range
/// ([`crate::net::listen_below_ephemeral`]): a port of that range released
/// for a later node was taken meanwhile by the listener or the outbound
/// connection of a node already started (a helper's trial: the demo failing
/// at start, "port ... already in use by process ... (the demo itself)").
struct Reserved(std::net::TcpListener);

impl Reserved {
    fn port(&self) -> anyhow::Result<u16> {
        Ok(self.0.local_addr()?.port())
    }

    /// Frees the port for its node, which binds it at once.
    fn release(self) {}
}

fn reserve_port() -> anyhow::Result<Reserved> {
    Ok(Reserved(crate::net::listen_below_ephemeral()?))
}

/// Writes a node's configuration, key and registry; returns its key and its
/// port, reserved until the node starts.
fn prepare(
    dir: &Path,
    state: CountryCode,
    role: Role,
    trust: &TrustConfig,
) -> anyhow::Result<(NodeKey, Reserved)> {
    std::fs::create_dir_all(dir)?;
    let reserved = reserve_port()?;
    let port = reserved.port()?;
    let cfg = Config {
        state,
        registry: RegistryConfig {
            cache_mb: 16,
            ..RegistryConfig::default()
        },
        makers: Vec::new(),
        node: NodeSettings {
            role,
            listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
            api_listen: "127.0.0.1:0".into(),
            trace_timeout_secs: 10,
            ..NodeSettings::default()
        },
        trust: trust.clone(),
    };
    std::fs::write(Config::path_in(dir), toml::to_string(&cfg)?)?;
    let key = NodeKey::generate_and_store(&identity::key_path(dir))?;
    Ok((key, reserved))
}

fn fill_registry(dir: &Path, state: CountryCode, count: u64, seed: u64) -> anyhow::Result<()> {
    let cfg = Config::load(&Config::path_in(dir))?;
    let db = crate::store::open_db(&dir.join("db"), &cfg.store_options())?;
    let reg = Registry::open(&db, cfg.maker_table_in(dir))?;
    let mut records: Vec<Record> = registry::synthetic::generate(state, count, seed).collect();
    for (holder, json) in STORIES {
        if *holder == state.as_str() {
            records.push(serde_json::from_str(json)?);
        }
    }
    reg.put_all(records)?;
    reg.flush()?;
    Ok(())
}

pub fn run(opts: DemoOptions) -> anyhow::Result<()> {
    // A temporary folder only when no --dir is given; --keep keeps it.
    let temp = match &opts.dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("tracenet-demo-")
                .tempdir()?,
        ),
    };
    let root = match (&opts.dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => unreachable!("a temporary folder is made when no --dir is given"),
    };
    let rt = crate::node::runtime(None)?;
    let result = rt.block_on(run_async(&root, opts.keep));
    rt.shutdown_timeout(Duration::from_secs(2));
    if opts.keep
        && let Some(t) = temp
    {
        // The folder is the user's to keep.
        let _ = t.keep();
    }
    result
}

async fn run_async(root: &Path, keep: bool) -> anyhow::Result<()> {
    let anchor = NodeKey::generate()?;
    let trust = TrustConfig {
        anchors: vec![anchor.public_key().to_base64()],
        threshold: 1,
    };
    println!(
        "tracenet demo: a federation of {} States and a regional bootstrap node on 127.0.0.1",
        STATES.len()
    );
    println!("  data directories under {}", root.display());
    let mut members = Vec::new();
    let mut dirs = Vec::new();
    let all = std::iter::once((BOOTSTRAP.0, BOOTSTRAP.1, 0u64, Role::Bootstrap))
        .chain(STATES.iter().map(|(c, n, k)| (*c, *n, *k, Role::Member)));
    for (i, (code, name, count, role)) in all.enumerate() {
        let state = CountryCode::parse(code)?;
        let dir = root.join(code);
        let (key, reserved) = prepare(&dir, state, role, &trust)?;
        let port = reserved.port()?;
        if role == Role::Member {
            fill_registry(&dir, state, count, 1000 + i as u64)?;
            println!("  {code} {name}: {count} synthetic records and its stories");
        }
        members.push(Member {
            state,
            name: name.to_string(),
            key: key.public_key(),
            role: match role {
                Role::Member => roster::Role::Member,
                Role::Bootstrap => roster::Role::Bootstrap,
            },
            prefixes: Vec::new(),
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
            // Each State's OPRF key, made now as `init` makes it, so the
            // roster lists it and requesters check blind evaluations by it.
            oprf_key: match role {
                Role::Member => Some(
                    crate::blind::load_or_create_key(&dir.join(crate::blind::OPRF_KEY_FILE))
                        .map_err(anyhow::Error::msg)?
                        .0
                        .roster_key(),
                ),
                Role::Bootstrap => None,
            },
        });
        dirs.push((state, dir, reserved));
    }
    let today = Date::today();
    let body = RosterBody {
        version: 1,
        valid_from: Date::from_days(today.to_days() - 1).unwrap_or(today),
        valid_until: Date::from_days(today.to_days() + 365).unwrap_or(today),
        members,
        // As `tracenet roster new` makes a first roster (README, "A roster also
        // decides how every member checks gossip envelopes").
        gossip_validation: Some(roster::GossipValidation::Payload),
        peer_connections: None,
        served_lists: false,
    };
    let mut file = RosterFile::new(&body)?;
    file.sign(anchor.signing_key())?;
    println!(
        "  roster version 1 signed by the demo trust anchor {}",
        anchor.public_key().to_base64()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut nodes = Vec::new();
    let mut loops = Vec::new();
    for (state, dir, reserved) in dirs {
        roster::install(&dir, &file, &trust, today)?;
        let cfg = Config::load(&Config::path_in(&dir))?;
        let api = api::ApiOptions::from_settings(&cfg.node);
        let console = crate::console::ConsoleOptions::from_settings(&cfg.node);
        reserved.release();
        let (node, events) = Node::start(&dir, cfg).await?;
        let pages = crate::console::router(node.clone(), &console)?;
        api::serve(node.clone(), &api, &dir, Some(pages)).await?;
        let n = node.clone();
        let mut stop = stop_rx.clone();
        loops.push(tokio::spawn(async move {
            n.run_events(events, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
        }));
        nodes.push(DemoNode { state, dir, node });
    }
    wait_until_meshed(&nodes).await?;
    println!("  every node is connected and subscribed\n");

    let requester = nodes
        .iter()
        .find(|n| n.state.as_str() == "KE")
        .ok_or_else(|| anyhow::anyhow!("no requesting State"))?;
    let mut failures = 0;
    for t in TRACES {
        failures += run_trace(requester, t).await? as u32;
    }
    if keep {
        print_keep_instructions(&nodes);
        tokio::signal::ctrl_c().await?;
    }
    let _ = stop_tx.send(true);
    // Each node drains its work, signs its audit head and flushes its store.
    for l in loops {
        let _ = l.await;
    }
    println!("federation stopped");
    if failures > 0 {
        anyhow::bail!(
            "{} did not settle as expected",
            crate::model::count(failures as u64, "demo trace")
        );
    }
    Ok(())
}

/// Waits (up to 30 s) until every member is connected to every other and sees
/// the subscriptions it needs.
async fn wait_until_meshed(nodes: &[DemoNode]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let want: BTreeSet<String> = nodes.iter().map(|n| n.node.peer_id().to_string()).collect();
    loop {
        let mut ready = true;
        for n in nodes {
            let st = n.node.net().status().await?;
            let mut have: BTreeSet<String> = st.connected.into_iter().collect();
            have.insert(n.node.peer_id().to_string());
            ready &= have == want;
            if n.state.as_str() == "KE" {
                ready &= st
                    .topic_peers
                    .get("tracenet/1/prefix/DE/CARLWALTHER")
                    .is_some_and(|p| p.len() >= 3);
            }
        }
        if ready {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("the demo federation did not connect within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_trace(requester: &DemoNode, t: &DemoTrace) -> anyhow::Result<bool> {
    let imports: Vec<String> = t.imports.iter().map(|s| s.to_string()).collect();
    let marking = node::trace_marking(t.maker, t.country, t.serial, None, &imports)?;
    println!(
        "trace: {} — {} {} serial {:?}",
        t.title, t.maker, t.country, t.serial
    );
    let mut changes = requester.node.subscribe_changes();
    let sent = requester
        .node
        .send_trace(NewTrace {
            marking,
            category: crate::model::WeaponCategory::Pistol,
            calibre: None,
            legal_ground: LegalGround::SeizedInCrime,
            intended_use: IntendedUse::CriminalInvestigation,
            priority: Priority::Routine,
            timeout_secs: Some(10),
            local: LocalCase::default(),
            blind: t.blind,
        })
        .await?;
    let asked: Vec<String> = sent
        .asked
        .iter()
        .filter_map(|a| a.state.map(|s| s.to_string()))
        .collect();
    if let Some(b) = &sent.blind {
        let expected: Vec<String> = b
            .holders
            .iter()
            .filter_map(|h| h.state.map(|s| s.to_string()))
            .collect();
        println!(
            "  blind: {} expected to hold it are asked whether their keyed filter does; only those that do are sent the marking",
            expected.join(", ")
        );
    } else {
        println!(
            "  asked: {}",
            if asked.is_empty() {
                "nobody holds this prefix".into()
            } else {
                asked.join(", ")
            }
        );
    }
    let settled = loop {
        let cur = requester.node.trace(&sent.id)?;
        let status = requester.node.status_of(&cur);
        if !matches!(status, TraceStatus::Sent | TraceStatus::Acknowledged) {
            break cur;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), changes.changed()).await;
    };
    if let Some(b) = &settled.blind {
        for h in &b.holders {
            println!("  {}", h.to_text(&settled.id));
        }
        let learned: Vec<String> = b
            .holders
            .iter()
            .filter(|h| h.received_marking)
            .filter_map(|h| h.state.map(|s| s.to_string()))
            .collect();
        println!(
            "  States that learned the marking: {} (and {}, which traced it)",
            if learned.is_empty() {
                "none".to_string()
            } else {
                learned.join(", ")
            },
            requester.state
        );
    }
    print_answers(requester, &settled);
    let status = requester.node.status_of(&settled);
    let waits = matches!(
        status,
        crate::node::TraceStatus::Sent | crate::node::TraceStatus::Acknowledged
    );
    print!("{}", requester.node.custody_of(&settled).to_text_for(waits));
    println!(
        "  status: {}\n",
        serde_json::to_value(status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    Ok(status != TraceStatus::Answered && !settled.asked.is_empty())
}

fn print_answers(requester: &DemoNode, t: &StoredTrace) {
    let members = requester.node.members();
    for a in &t.answers {
        let Ok(s) =
            crate::protocol::decode_and_verify::<TraceAnswer>(&a.bytes, requester.node.limits())
        else {
            println!("  an answer that does not verify");
            continue;
        };
        let b = s.body();
        let vouched = members
            .by_key(&b.responder.key)
            .is_some_and(|(_, m)| m.state == b.responder.state);
        let sig = if vouched {
            "signature verified against the roster"
        } else {
            "NOT vouched for by the roster"
        };
        match &b.outcome {
            Outcome::Hit { candidates } => {
                for c in candidates {
                    let r = &c.record;
                    println!(
                        "  {} ({sig}): hit [{}] {} {} {} {}",
                        b.responder.state,
                        c.quality.words(),
                        r.marking.manufacturer(),
                        r.marking.country(),
                        r.marking.serial(),
                        r.model.as_ref().map(|m| m.as_str()).unwrap_or("")
                    );
                    for e in &r.events {
                        println!(
                            "      {:<10} {:<12} {}{}",
                            e.date,
                            e.kind.words(),
                            crate::node::custody::places(
                                e.kind,
                                b.responder.state,
                                e.counterpart,
                                Some(r.marking.country()),
                            ),
                            e.holder
                                .map(|h| format!(", held by {}", h.words()))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            other => println!("  {} ({sig}): {}", b.responder.state, outcome_word(other)),
        }
    }
}

fn outcome_word(o: &Outcome) -> String {
    match o {
        Outcome::Hit { .. } => "hit".into(),
        Outcome::NoHit => "no record".into(),
        Outcome::Withheld { reason } => format!("withheld: {}", reason.words()),
        Outcome::Acknowledged => "acknowledged".into(),
        Outcome::TooMany { count } => format!("too many candidates ({count})"),
        Outcome::Trimmed { .. } => "hit (trimmed)".into(),
        Outcome::Refused { reason, .. } => {
            format!("refused ({})", reason.code().replace('_', " "))
        }
    }
}

fn print_keep_instructions(nodes: &[DemoNode]) {
    println!("the federation keeps running; press Ctrl-C to stop it. From another terminal:");
    // The full path: after `cargo run` no `tracenet` is on the PATH.
    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "tracenet".into());
    if let Some(ke) = nodes.iter().find(|n| n.state.as_str() == "KE") {
        println!(
            "  {bin} --data-dir {} trace --maker Walther --country DE --serial WP104233 \\\n      --category pistol --ground seized_in_crime --use criminal_investigation --wait 10",
            ke.dir.display()
        );
        println!("  {bin} --data-dir {} trace list", ke.dir.display());
        // An admin account on KE's console, to try it in a browser.
        let addr = std::fs::read_to_string(ke.dir.join(api::CONSOLE_ADDR_FILE)).unwrap_or_default();
        let account = crate::node::officers::Officers::open(ke.node.db()).and_then(|o| {
            o.add(
                "demo.admin",
                crate::node::officers::Role::Admin,
                crate::node::unix_now(),
            )
        });
        if let Ok(a) = account {
            println!(
                "KE's officer console: http://{}/console/  (officer demo.admin, one-time password {})",
                addr.trim(),
                a.password
            );
        }
    }
    for n in nodes {
        println!("  {bin} --data-dir {} status", n.dir.display());
    }
}

#[cfg(test)]
mod tests {
    /// A demo node's port is taken below the ephemeral range (where no
    /// listener on port 0 and no outbound connection of a node already
    /// started can take it) and held until the node starts.
    #[test]
    fn a_nodes_port_is_taken_below_the_ephemeral_range_and_held_until_it_starts() {
        let reserved = super::reserve_port().unwrap();
        let port = reserved.port().unwrap();
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok());
        if let Some(low) = low.filter(|l| *l > 1_024) {
            assert!(port < low, "{port} (ephemeral from {low})");
        }
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
            "{port} not held"
        );
        reserved.release();
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "{port} not released"
        );
    }
}
