//! `tracenet node run`, `trace ...`, `peers`, `status`: the running node and
//! its clients.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::api::routes::TraceRequest;
use crate::api::{AnswerView, ApiClient, TraceView};
use crate::config::Config;
use crate::node::{Node, TraceStatus};
use crate::protocol::Outcome;

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run the node: join the federation, answer traces, serve the control API.
    Run {
        /// Log lines as JSON rather than text.
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        log_format: String,
    },
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    pub command: Option<TraceCommand>,
    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// [required to send, unless --factory-code] Manufacturer as marked on
    /// the weapon.
    #[arg(long)]
    pub maker: Option<String>,
    /// Factory code as marked instead of (or beside) the maker's name (ITI
    /// para 8(a)), for example the number in a triangle: /66\, △66 or 66.
    /// The trace also reaches the holders of that factory's records.
    #[arg(long, value_name = "CODE")]
    pub factory_code: Option<String>,
    /// [required to send] Country of manufacture (ISO 3166-1 alpha-2), or a
    /// former State as marked (YU, CS, SU, DD); either reaches the records of
    /// the other (a trace for YU also asks RS, ME, BA, HR, MK and SI).
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// [required to send] Serial as read; `?` for one obliterated character,
    /// `*` for several, keeping at least 2 readable characters.
    #[arg(long)]
    pub serial: Option<String>,
    /// An import mark, `CC` or `CC:YEAR`; may be repeated.
    #[arg(long = "import", value_name = "CC:YEAR")]
    pub imports: Vec<String>,
    /// [required to send] Weapon category: pistol, revolver, rifle, carbine,
    /// assault_rifle, submachine_gun, shotgun, light_machine_gun,
    /// heavy_machine_gun, grenade_launcher, mortar, other.
    #[arg(long)]
    pub category: Option<String>,
    /// Calibre as marked, e.g. 9x19mm or 7.62x39 (1 to 24 characters).
    #[arg(long)]
    pub calibre: Option<String>,
    /// [required to send] Why the weapon is considered illicit (ITI para 17):
    /// seized_in_crime, illicit_possession, illicit_transfer, found_abandoned,
    /// conflict_recovery, altered_markings, other.
    #[arg(long)]
    pub ground: Option<String>,
    /// [required to send] What the information is for (ITI para 17):
    /// criminal_investigation, judicial_proceedings, diversion_analysis,
    /// sanctions_monitoring, other.
    #[arg(long = "use", value_name = "USE")]
    pub intended_use: Option<String>,
    /// Urgent priority: holders whose policy reviews urgent requests
    /// acknowledge at once and a person there decides.
    #[arg(long)]
    pub urgent: bool,
    /// Wait up to SECS, printing answers as they arrive.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// How long the trace waits for answers before it is partial; default
    /// node.trace_timeout_secs (24 h), 1 to 604800 (7 days). The query
    /// stays valid for this long and at least node.trace_ttl_secs (24 h):
    /// holders show that end as "answer by", and their answers are filed
    /// until then, after the timeout too.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub timeout: Option<u64>,
    /// Local case reference; kept on this node, never sent.
    #[arg(long)]
    pub case: Option<String>,
    /// Local note; kept on this node, never sent.
    #[arg(long)]
    pub note: Option<String>,
    /// Send even if the maker reference table does not know --maker as a maker
    /// of --country.
    #[arg(long)]
    pub force: bool,
    /// A blind trace: the marking goes only to the States whose keyed filter
    /// holds it (proto-docs/BLIND.md). --blind=false sends in the clear;
    /// without the flag, node.blind_by_default decides.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub blind: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Traces sent from this node, newest first.
    List {
        /// Show only the N newest (fetched a page at a time either way).
        #[arg(long, value_name = "N", value_parser = super::count_of_newest)]
        limit: Option<u64>,
    },
    /// One trace with its answers (also after a restart).
    Show {
        /// The trace's id, as `tracenet trace list` shows it.
        #[arg(value_parser = trace_id)]
        id: String,
        /// Wait up to SECS for the trace to settle.
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Write the evidence bundle of a trace, for `tracenet verify`.
    Export {
        /// The trace's id, as `tracenet trace list` shows it.
        #[arg(value_parser = trace_id)]
        id: String,
        /// Where to write the bundle (JSON; `-` for standard output).
        file: std::path::PathBuf,
        /// Replace FILE if it exists (without it, an existing file is an error).
        #[arg(long)]
        force: bool,
    },
    /// Send a trace again, straight to every expected State without a final
    /// answer (and to States expected since it was sent).
    Retry {
        /// The trace's id, as `tracenet trace list` shows it.
        #[arg(value_parser = trace_id)]
        id: String,
    },
    /// Send a blind trace's query in the clear to the States it could not
    /// be traced blind with (no filter, failed, beyond the bound): your
    /// choice, since they then read the marking.
    SendClear {
        /// The trace's id, as `tracenet trace list` shows it.
        #[arg(value_parser = trace_id)]
        id: String,
        /// Only this State's holder (ISO 3166-1 alpha-2); without it, every
        /// holder left to your choice.
        #[arg(long, value_name = "CC")]
        state: Option<crate::model::CountryCode>,
    },
}

/// A trace's id as given on the command line: hexadecimal digits, as
/// `trace list` shows them. An empty one asked for `GET /v1/traces/` ("no
/// endpoint"), and one with `/` or `?` for another endpoint than a trace's.
fn trace_id(s: &str) -> Result<String, String> {
    super::hex_id(
        s,
        "a trace id",
        "the id `tracenet trace list` shows (32 hexadecimal digits)",
    )
}

pub fn run_node(ctx: &Context, log_format: &str) -> anyhow::Result<()> {
    // Held until the node has stopped: its last lines are written then.
    let _log = crate::logging::init(log_format);
    report_huge_pages();
    let cfg = Config::load(&Config::path_in(&ctx.data_dir))?;
    let workers = cfg.node.async_workers(crate::node::cores());
    let rt = crate::node::runtime(Some(workers))?;
    rt.block_on(async move {
        let api = crate::api::ApiOptions::from_settings(&cfg.node);
        let settings = cfg.node.clone();
        let (node, events) = Node::start(&ctx.data_dir, cfg).await?;
        let _ = std::fs::remove_file(ctx.data_dir.join(crate::api::CONSOLE_ADDR_FILE));
        let pages = if settings.console {
            Some(crate::console::router(
                node.clone(),
                &crate::console::ConsoleOptions::from_settings(&settings),
            )?)
        } else {
            None
        };
        let addr = match pages {
            Some(pages) if !settings.console_listen.is_empty() => {
                let addr = crate::api::serve(node.clone(), &api, &ctx.data_dir, None).await?;
                let console =
                    crate::api::serve_pages(pages, &settings.console_listen, &api, &ctx.data_dir)
                        .await?;
                tracing::info!(console = %format!("http://{console}/console/"), "officer console");
                addr
            }
            Some(pages) => {
                let addr =
                    crate::api::serve(node.clone(), &api, &ctx.data_dir, Some(pages)).await?;
                tracing::info!(console = %format!("http://{addr}/console/"), "officer console");
                addr
            }
            None => crate::api::serve(node.clone(), &api, &ctx.data_dir, None).await?,
        };
        tracing::info!(
            state = %node.state(),
            peer_id = %node.peer_id(),
            api = %addr,
            role = match node.role() {
                crate::config::Role::Member => "member",
                crate::config::Role::Bootstrap => "bootstrap",
            },
            gossip_validation = %node.gossip_validation(),
            gossip_mesh_degree = settings.gossip_mesh_degree,
            async_workers = workers,
            "node running"
        );
        // On a runtime worker, not on this thread: `block_on` polls its
        // future on the main thread, so every network event would wake a
        // thread of its own (one more context switch per event, 8 per trace
        // at a requester of 9 holders). A worker is woken by the swarm's
        // task on its own core.
        let runner = node.clone();
        let events_loop =
            tokio::spawn(async move { runner.run_events(events, shutdown_signal()).await });
        if let Err(e) = events_loop.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
        let _ = std::fs::remove_file(ctx.data_dir.join(crate::api::ADDR_FILE));
        let _ = std::fs::remove_file(ctx.data_dir.join(crate::api::CONSOLE_ADDR_FILE));
        if node.stopped_on_failure() {
            // Said whole here: the ERROR line that said it first may have
            // been dropped by a log nobody read.
            anyhow::bail!(
                "the node stopped because its store at {} cannot be written ({}); free space and start it again",
                ctx.data_dir.join("db").display(),
                node.failure().unwrap_or("no reason recorded")
            );
        }
        tracing::info!("node stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs an async API call on a small runtime.
pub fn with_client<T>(
    ctx: &Context,
    f: impl AsyncFnOnce(ApiClient) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let client = ApiClient::from_data_dir(&ctx.data_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(f(client))
}

/// Reads through the running node's API, or, when no node runs for this
/// data directory, from its store directly (read-only use; sled lets one
/// process hold it).
pub fn read_via<T>(
    ctx: &Context,
    online: impl AsyncFnOnce(ApiClient) -> anyhow::Result<T>,
    offline: impl FnOnce(&crate::node::offline::Offline) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    read_via_opening(
        ctx,
        online,
        |dir| Ok(crate::node::offline::Offline::open(dir)?),
        offline,
    )
}

/// [`read_via`] with the stopped node's store opened by `open` (given the
/// data directory) instead of [`crate::node::offline::Offline::open`]:
/// `open`'s error is the command's when no node runs, and when the node's
/// address is stale and the store cannot be opened, the online error is.
pub fn read_via_opening<T, O>(
    ctx: &Context,
    online: impl AsyncFnOnce(ApiClient) -> anyhow::Result<T>,
    open: impl FnOnce(&std::path::Path) -> anyhow::Result<O>,
    offline: impl FnOnce(&O) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match ApiClient::from_data_dir(&ctx.data_dir) {
        Ok(_) => match with_client(ctx, online) {
            // A node killed without cleaning up leaves its address behind:
            // nothing answers there, so the store is read directly (which
            // fails, saying so, if a node does hold it).
            Err(e)
                if e.chain().any(|c| {
                    matches!(
                        c.downcast_ref::<crate::api::ApiClientError>(),
                        Some(crate::api::ApiClientError::Unreachable { .. })
                    )
                }) =>
            {
                match open(&ctx.data_dir) {
                    Ok(off) => offline(&off),
                    Err(_) => Err(e),
                }
            }
            r => r,
        },
        Err(crate::api::ApiClientError::NotRunning(_)) => offline(&open(&ctx.data_dir)?),
        Err(e) => Err(e.into()),
    }
}

fn need(v: Option<String>, flag: &str) -> anyhow::Result<String> {
    v.filter(|s| !s.trim().is_empty())
        .ok_or_else(|| super::usage_error("trace", format!("{flag} is required to send a trace")))
}

/// Follows the pages of a paged listing of the control API (`GET /v1/traces`,
/// `/v1/alerts`, `/v1/inbox`: `{FIELD: [...], "next": C}`), newest first,
/// to the end or to `limit` entries, asking at most `most` a page.
pub async fn follow_pages<T: serde::de::DeserializeOwned>(
    c: &ApiClient,
    path: &str,
    field: &str,
    limit: Option<usize>,
    most: usize,
) -> anyhow::Result<Vec<T>> {
    let mut all: Vec<T> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let left = limit.map_or(usize::MAX, |l| l - all.len());
        let mut url = format!("{path}?limit={}", left.min(most));
        if let Some(c) = &cursor {
            url += &format!("&cursor={c}");
        }
        let mut page: serde_json::Value = c.get(&url).await?;
        let items = serde_json::from_value::<Vec<T>>(page[field].take())
            .map_err(|e| anyhow::anyhow!("{path}: a page's {field:?}: {e}"))?;
        all.extend(items);
        match page["next"].as_str() {
            Some(n) if limit.is_none_or(|l| all.len() < l) => cursor = Some(n.to_string()),
            _ => return Ok(all),
        }
    }
}

pub fn run_trace(ctx: &Context, args: TraceArgs) -> anyhow::Result<()> {
    match args.command {
        Some(TraceCommand::List { limit }) => {
            let limit = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
            let all: Vec<TraceView> = read_via(
                ctx,
                // The node serves pages; the list follows them to the end
                // (or to --limit).
                async |c| follow_pages(&c, "/v1/traces", "traces", limit, 500).await,
                |off| {
                    Ok(off
                        .traces
                        .page(None, limit.unwrap_or(usize::MAX))?
                        .0
                        .iter()
                        .map(|t| crate::api::trace_view(&off.judge, t))
                        .collect())
                },
            )?;
            ctx.emit(&all, |all| {
                if all.is_empty() {
                    return "no traces sent from this node\n".into();
                }
                all.iter().map(trace_line).collect::<Vec<_>>().join("\n")
            })
        }
        Some(TraceCommand::Show { id, wait }) => {
            let t: TraceView = read_via(
                ctx,
                async |c| {
                    let path = match wait {
                        Some(s) => format!("/v1/traces/{id}?wait_ms={}&answers=999999", s * 1000),
                        None => format!("/v1/traces/{id}"),
                    };
                    Ok(c.get(&path).await?)
                },
                |off| {
                    let t = off
                        .traces
                        .get(&id)?
                        .ok_or_else(|| crate::node::NodeError::NoSuchTrace(id.clone()))?;
                    Ok(crate::api::trace_view(&off.judge, &t))
                },
            )?;
            ctx.emit(&t, render_trace)
        }
        Some(TraceCommand::Export { id, file, force }) => export(ctx, &id, &file, force),
        Some(TraceCommand::Retry { id }) => with_client(ctx, async |c| {
            let t: TraceView = c
                .post(&format!("/v1/traces/{id}/retry"), &serde_json::json!({}))
                .await?;
            ctx.emit(&t, |t| {
                // The States asked again (where each stood before is stale
                // now: an unreachable one may have come back), and the new
                // deadline to the second.
                // A blind trace's filters probed again are named too; a
                // State with two entries once.
                let mut again: Vec<String> = Vec::new();
                let blind_again = (t.blind.iter().flat_map(|b| &b.holders)).filter(|h| {
                    !h.received_marking && h.outcome == crate::node::blind::BlindOutcome::Pending
                });
                for who in (t.holders.iter())
                    .filter(|h| !h.standing.is_final())
                    .map(|h| (h.state, &h.peer))
                    .chain(blind_again.map(|h| (h.state, &h.peer)))
                    .map(|(state, peer)| state.map_or_else(|| peer.clone(), |c| c.to_string()))
                {
                    if !again.contains(&who) {
                        again.push(who);
                    }
                }
                format!(
                    "trace {} sent again to the States without a final answer ({}), until {}; `tracenet trace show {}` for their answers",
                    t.id,
                    again.join(", "),
                    crate::model::instant::to_rfc3339(t.deadline),
                    t.id
                )
            })
        }),
        Some(TraceCommand::SendClear { id, state }) => with_client(ctx, async |c| {
            // What had the marking before: the text names only those sent now.
            let before: TraceView = c.get(&format!("/v1/traces/{id}")).await?;
            let had: Vec<String> = before
                .blind
                .iter()
                .flat_map(|b| &b.holders)
                .filter(|h| h.received_marking)
                .map(|h| h.peer.clone())
                .collect();
            let t: TraceView = c
                .post(
                    &format!("/v1/traces/{id}/send-clear"),
                    &match state {
                        Some(s) => serde_json::json!({ "state": s }),
                        None => serde_json::json!({}),
                    },
                )
                .await?;
            ctx.emit(&t, |t| {
                let sent: Vec<String> = t
                    .blind
                    .iter()
                    .flat_map(|b| &b.holders)
                    .filter(|h| h.received_marking && !had.contains(&h.peer))
                    .map(|h| h.state.map_or_else(|| h.peer.clone(), |s| s.to_string()))
                    .collect();
                if sent.is_empty() {
                    format!(
                        "trace {}: no State awaited your choice; nothing was sent",
                        t.id
                    )
                } else {
                    format!("trace {} sent in the clear to {}", t.id, sent.join(", "))
                }
            })
        }),
        None => send(ctx, args.send),
    }
}

fn send(ctx: &Context, a: SendArgs) -> anyhow::Result<()> {
    let maker = match (a.maker, &a.factory_code) {
        (Some(m), _) => m,
        (None, Some(_)) => String::new(),
        (None, None) => need(None, "--maker (or --factory-code)")?,
    };
    let req = TraceRequest {
        maker,
        factory_code: a.factory_code,
        country: need(a.country, "--country")?,
        serial: need(a.serial, "--serial")?,
        imports: a.imports,
        category: need(a.category, "--category")?,
        calibre: a.calibre,
        ground: need(a.ground, "--ground")?,
        intended_use: need(a.intended_use, "--use")?,
        urgent: a.urgent,
        timeout_secs: a.timeout,
        case: a.case,
        note: a.note,
        force: a.force,
        blind: a.blind,
    };
    // Refused here, before the node is even asked, if any field is wrong:
    // a usage error, as clap's own.
    if let Err(e) = req.clone().into_new_trace() {
        let msg = match e {
            crate::node::NodeError::BadTrace(f) => {
                format!("trace not sent: {}", f.say(crate::node::FieldNames::Cli))
            }
            other => other.to_string(),
        };
        return Err(super::usage_error("trace", msg));
    }
    let wait = a.wait;
    with_client(ctx, async |c| {
        // A field the node refuses (a maker its reference table does not
        // know) is the user's to correct: a usage error, as clap's own.
        let sent: TraceView = match c.post("/v1/traces", &req).await {
            Err(crate::api::ApiClientError::BadRequest(m)) => {
                return Err(super::usage_error("trace", m));
            }
            Err(e @ crate::api::ApiClientError::BadTrace(_)) => {
                return Err(super::usage_error("trace", e));
            }
            other => other?,
        };
        let Some(secs) = wait else {
            return ctx.emit(&sent, |t| match blind_first(t) {
                Some((n, states)) if t.asked.is_empty() => format!(
                    "trace {} sent blind: the query goes only to the holders whose filter holds the weapon; the filters of {} are asked first: {states}; `tracenet trace show {}` for answers",
                    t.id,
                    crate::model::count(n, "expected holder"),
                    t.id
                ),
                _ => format!(
                    "trace {} sent to {}; `tracenet trace show {}` for answers",
                    t.id,
                    crate::model::count(t.asked.len() as u64, "State"),
                    t.id
                ),
            });
        };
        if !ctx.json {
            println!("trace {} sent; asked: {}", sent.id, asked_states(&sent));
            print!("{}", render_own_registry(&sent));
        }
        let until = std::time::Instant::now() + Duration::from_secs(secs);
        let mut shown = 0usize;
        let mut t = sent;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            t = c
                .get(&format!(
                    "/v1/traces/{}?wait_ms={}&answers={shown}",
                    t.id,
                    left.as_millis()
                ))
                .await?;
            if !ctx.json {
                for a in &t.answers[shown.min(t.answers.len())..] {
                    print!("{}", render_answer(a));
                }
            }
            shown = t.answers.len();
            let settled = !matches!(t.status, TraceStatus::Sent | TraceStatus::Acknowledged);
            if settled || left.is_zero() {
                break;
            }
        }
        if ctx.json {
            ctx.emit(&t, |_| String::new())
        } else {
            let waits = matches!(t.status, TraceStatus::Sent | TraceStatus::Acknowledged);
            if t.status != TraceStatus::Answered && !t.holders.is_empty() {
                print!("{}", holder_lines(&t));
            }
            print!("{}", t.custody.to_text_for(waits));
            println!("status: {}", status_word(t.status));
            Ok(())
        }
    })
}

fn status_word(s: TraceStatus) -> &'static str {
    match s {
        TraceStatus::Sent => "sent",
        TraceStatus::Acknowledged => "acknowledged",
        TraceStatus::Answered => "answered",
        TraceStatus::Partial => "partial",
        TraceStatus::TimedOut => "timed_out",
    }
}

fn asked_states(t: &TraceView) -> String {
    let s: Vec<String> = t
        .asked
        .iter()
        .map(|a| {
            let who = a
                .state
                .map(|c| c.to_string())
                .unwrap_or_else(|| a.peer.clone());
            // A State asked because the records point at it, not because
            // it holds the prefix.
            if a.expected_by == [crate::node::ExpectedBy::FollowUp] {
                format!("{who} (a follow-up: the records say the weapon went there)")
            } else {
                who
            }
        })
        .collect();
    let blind = blind_first(t).filter(|_| s.is_empty());
    if let Some((n, states)) = blind.as_ref().filter(|_| t.nobody_holds) {
        format!(
            "nobody: the filters of the {} ({states}) do not hold the weapon, and none was sent the marking",
            crate::model::count(*n, "expected holder")
        )
    } else if let Some((n, states)) = blind {
        format!(
            "none yet: the query goes only to the holders whose filter holds the weapon; the filters of {} are asked first: {states}",
            crate::model::count(n, "expected holder")
        )
    } else if s.is_empty() && t.nobody_holds {
        "nobody: no member is known to hold records under this prefix".into()
    } else if s.is_empty() {
        "nobody: this node is connected to no member".into()
    } else {
        s.join(", ")
    }
}

/// A blind trace's expected holders, if it has any: how many, and their
/// States in words. A blind trace sends its query only to the holders whose
/// filter holds the weapon, so until one does it has asked nobody, and that
/// is neither a node cut off from the federation nor a prefix nobody holds.
fn blind_first(t: &TraceView) -> Option<(u64, String)> {
    let b = t.blind.as_ref().filter(|b| !b.holders.is_empty())?;
    let states: Vec<String> = b
        .holders
        .iter()
        .map(|h| h.state.map_or_else(|| h.peer.clone(), |c| c.to_string()))
        .collect();
    Some((states.len() as u64, states.join(", ")))
}

fn trace_line(t: &TraceView) -> String {
    let m = t.query.as_ref().map(|q| {
        format!(
            "{} {} {}",
            q.marking.maker_label(),
            q.marking.country(),
            q.marking.serial()
        )
    });
    // Final answers, as the report counts them: an acknowledgement or a
    // refusal is not one.
    let finals = t.holders.iter().filter(|h| h.standing.is_final()).count();
    format!(
        "{}  {:<12} {:<16}  {}",
        t.id,
        status_word(t.status),
        crate::model::count(finals as u64, "final answer"),
        m.unwrap_or_default()
    )
}

/// An answer's outcome for people; `state` is the answering State, by which
/// each transfer's direction is told.
fn render_outcome(o: &Outcome, state: Option<crate::model::CountryCode>) -> String {
    match o {
        Outcome::Hit { candidates } | Outcome::Trimmed { candidates, .. } => {
            let mut s = format!(
                "hit, {}\n",
                crate::model::count(candidates.len() as u64, "candidate")
            );
            if let Outcome::Trimmed {
                events_left_out, ..
            } = o
            {
                s += &format!(
                    "      trimmed to fit the message size limit: {} left out\n",
                    crate::model::count(u64::from(*events_left_out), "older event")
                );
            }
            for c in candidates {
                let r = &c.record;
                s += &format!(
                    "      [{}] {} {} {} {}\n",
                    c.quality.words(),
                    r.marking.maker_label(),
                    r.marking.country(),
                    r.marking.serial(),
                    r.category.words()
                );
                for e in &r.events {
                    let place = match state {
                        Some(st) => format!(
                            " {}",
                            crate::node::custody::places(
                                e.kind,
                                st,
                                e.counterpart,
                                Some(r.marking.country()),
                            )
                        ),
                        None => e
                            .counterpart
                            .map(|c| format!(" with {c}"))
                            .unwrap_or_default(),
                    };
                    s += &format!(
                        "        {:<10} {:<12}{}{}\n",
                        e.date,
                        e.kind.words(),
                        place,
                        e.holder
                            .map(|h| format!(", held by {}", h.words()))
                            .unwrap_or_default()
                    );
                }
            }
            s
        }
        Outcome::NoHit => "no record\n".into(),
        Outcome::Withheld { reason } => format!("withheld: {}\n", reason.words()),
        Outcome::Acknowledged => "acknowledged: a person will decide; the answer follows\n".into(),
        Outcome::TooMany { count } => {
            format!("too many candidates ({count}); refine the marking\n")
        }
        Outcome::Refused {
            reason,
            retry_after_secs,
        } => {
            let mut s = format!("refused: {}", reason.code().replace('_', " "));
            if *retry_after_secs > 0 {
                s += &format!(" (retry after {retry_after_secs} s)");
            }
            s + "\n"
        }
    }
}

/// `trace export ID FILE`: the node assembles the bundle, the CLI writes it.
/// `trace export`: through [`super::Destination`], as every export: `-` is
/// standard output, evidence once handed over is replaced only with
/// `--force` (said before asking the node, and again atomically when
/// writing), a FIFO or device is written into.
fn export(ctx: &Context, id: &str, file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let mut dest = super::Destination::new(file, force)?;
    with_client(ctx, async |c| {
        let bundle: serde_json::Value = c.get(&format!("/v1/traces/{id}/evidence")).await?;
        let w = dest.writer();
        serde_json::to_writer_pretty(&mut *w, &bundle)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    if !dest.finish()? {
        return Ok(());
    }
    {
        #[derive(Serialize)]
        struct Out<'a> {
            trace: &'a str,
            #[serde(serialize_with = "crate::model::file::serialize_lossy")]
            file: &'a std::path::Path,
        }
        ctx.emit(&Out { trace: id, file }, |o| {
            format!(
                "evidence for trace {} written to {}",
                o.trace,
                o.file.display()
            )
        })
    }
}

fn render_answer(a: &AnswerView) -> String {
    let who = a
        .state
        .map(|s| s.to_string())
        .unwrap_or_else(|| a.peer.clone());
    let sig = if let (true, Some(v), Some(removed)) = (a.verified, a.roster_version, a.removed_in) {
        format!("signed by {who} under roster v{v} ({who} removed in v{removed})")
    } else if a.verified {
        "signature verified".to_string()
    } else {
        format!(
            "NOT VERIFIED: {}",
            a.verify_error.as_deref().unwrap_or("unknown")
        )
    };
    let outcome = a
        .outcome
        .as_ref()
        .map(|o| render_outcome(o, a.state))
        .unwrap_or_else(|| "unreadable\n".into());
    let table = a
        .makers_version
        .map(|v| format!(", maker table v{v}"))
        .unwrap_or_default();
    format!("  {who} ({sig}{table}): {outcome}")
}

/// A local text (a case reference, a note) as `trace show` prints it:
/// each of its lines under the label, indented, without control and
/// text-direction characters (a helper's trial: a note's U+202E turned
/// what followed it around on the terminal, and its line breaks broke
/// the layout).
fn local_lines(label: &str, text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = crate::model::without_moving(line);
        if i == 0 {
            out += &format!("  {label}: {line}\n");
        } else {
            out += &format!("    {line}\n");
        }
    }
    out
}

/// What the own registry holds of the weapon, as an answer is shown: it is
/// looked up when the trace is sent, never asked. Empty when it holds none.
fn render_own_registry(t: &TraceView) -> String {
    let own: Vec<crate::protocol::Candidate> = t
        .custody
        .candidates
        .iter()
        .filter(|c| c.answer.is_none())
        .map(|c| crate::protocol::Candidate {
            quality: c.quality,
            record: c.record.clone(),
        })
        .collect();
    match t.custody.candidates.iter().find(|c| c.answer.is_none()) {
        Some(first) => format!(
            "  own registry ({}): {}",
            first.state,
            render_outcome(&Outcome::Hit { candidates: own }, Some(first.state))
        ),
        None => String::new(),
    }
}

/// A trace's holders for people: the expected ones, then any holder the
/// trace did not expect that replied all the same (a member this node did
/// not know to hold the prefix, reached by a relay from another holder),
/// listed apart: the trace was not sent to it.
fn holder_lines(t: &TraceView) -> String {
    let unexpected =
        |h: &&crate::node::HolderView| h.expected_by == [crate::node::ExpectedBy::Answered];
    let waits = matches!(t.status, TraceStatus::Sent | TraceStatus::Acknowledged);
    let (also, expected): (Vec<_>, Vec<_>) = t.holders.iter().partition(unexpected);
    let mut s = String::new();
    if expected.is_empty() {
        s += "  expected holders: none\n";
    } else {
        s += "  expected holders:\n";
    }
    for h in expected {
        s += &format!("    {}\n", h.to_text(waits));
    }
    if !also.is_empty() {
        s += "  also replied, not expected (a member this node did not know to hold the prefix, reached by a relay from another holder):\n";
    }
    for h in also {
        s += &format!("    {}\n", h.to_text(waits));
    }
    s
}

fn render_trace(t: &TraceView) -> String {
    let mut s = trace_line(t) + "\n";
    // The id both sides share: the holders' inbox items and every audit
    // entry about this trace name its query by these digits.
    s += &format!(
        "  query {} (as the holders' inboxes and the audit logs name it)\n",
        t.digest.get(..16).unwrap_or(&t.digest)
    );
    if let Some(v) = t.query.as_ref().and_then(|q| q.makers_version) {
        s += &format!("  maker resolved with maker reference table v{v}\n");
    }
    if t.holders.is_empty() {
        s += &format!("  expected holders: {}\n", asked_states(t));
    } else {
        s += &holder_lines(t);
    }
    if let Some(b) = &t.blind {
        s += &format!(
            "  blind trace (a ? expands to at most {}):\n",
            crate::model::count(b.bound as u64, "candidate")
        );
        for h in &b.holders {
            s += &format!("    {}\n", h.to_text(&t.id));
        }
    }
    if let Some(c) = &t.local.case {
        s += &local_lines("case (local only)", c.as_str());
    }
    if let Some(n) = &t.local.note {
        s += &local_lines("note (local only)", n.as_str());
    }
    s += &render_own_registry(t);
    for a in &t.answers {
        s += &render_answer(a);
    }
    s += &t.custody.to_text_for(matches!(
        t.status,
        TraceStatus::Sent | TraceStatus::Acknowledged
    ));
    s
}

pub fn run_peers(ctx: &Context) -> anyhow::Result<()> {
    with_client(ctx, async |c| {
        let peers: serde_json::Value = c.get("/v1/peers").await?;
        ctx.emit(&peers, |p| {
            let mut s = String::new();
            for x in p.as_array().into_iter().flatten() {
                s += &format!(
                    "{:<3} {:<10} {} {}\n",
                    x["state"].as_str().unwrap_or("?"),
                    if x["connected"].as_bool() == Some(true) {
                        "connected"
                    } else if x["kept"].as_bool() == Some(false) {
                        // Links bounded: dialled when a trace asks it.
                        "not linked"
                    } else {
                        "down"
                    },
                    x["peer_id"].as_str().unwrap_or("?"),
                    if x["bootstrap"].as_bool() == Some(true) {
                        "(bootstrap)"
                    } else {
                        ""
                    }
                );
            }
            s
        })
    })
}

pub fn run_status(ctx: &Context) -> anyhow::Result<()> {
    with_client(ctx, async |c| {
        let st: serde_json::Value = c.get("/v1/status").await?;
        ctx.emit(&st, |s| {
            // RFC 3339: its date is what people need.
            let until = s["roster_valid_until"]
                .as_str()
                .and_then(|t| t.get(..10))
                .unwrap_or("?")
                .to_string();
            let members = s["roster_members"].as_u64().unwrap_or(0);
            // `{"seq", "hash"}`, or null before the first entry.
            let head = match (s["audit_head"]["seq"].as_u64(), s["audit_head"]["hash"].as_str()) {
                (Some(seq), Some(hash)) => format!(
                    "entry {} ({}...)",
                    seq,
                    hash.chars().take(16).collect::<String>()
                ),
                _ => "no entries yet".to_string(),
            };
            let records = match s["registry_records"].as_u64() {
                Some(n) => crate::model::count(n, "record"),
                None => "none (a bootstrap node holds no registry)".to_string(),
            };
            let expiry = match s["roster_state"].as_str() {
                Some("expires_soon") => " (expires soon: install the next roster)",
                Some("expired") => " (EXPIRED: nothing is accepted until the next roster is installed)",
                _ => "",
            };
            let makers = serde_json::from_value::<crate::roster::makers::MakersView>(
                s["makers"].clone(),
            )
            .map(|m| {
                let mut t = m.to_text().replacen("maker reference table ", "", 1);
                t = t.trim_end().replace('\n', "\n  ");
                format!("  maker table {t}\n")
            })
            .unwrap_or_default();
            // A bootstrap peer keeps a link to every member, bounded or not.
            let links = if s["net"]["links_bounded"] == true && s["role"] != "bootstrap" {
                format!(
                    " ({} linked: the roster lists more members than the links kept, its peer_connections or else node.peer_connections; the others are dialled when a trace asks them)",
                    s["net"]["kept"].as_array().map(|a| a.len()).unwrap_or(0)
                )
            } else {
                String::new()
            };
            let blind = match s["oprf_key_in_roster"].as_str() {
                // The roster does not list the node as itself (the line
                // below says so): no OPRF key to give until its own entry is
                // right.
                Some(_) if s["listed_in_roster"] == "not_listed" => {
                    "  blind traces pass this node by while the roster does not list its key\n"
                }
                Some(_) if s["listed_in_roster"] == "as_another" => {
                    "  blind traces take this node for the entry the roster lists its key under (below)\n"
                }
                Some("listed") => "  blind traces: the roster lists this node's OPRF key\n",
                Some("not_listed") => "  blind traces: the roster lists no OPRF key for this node, so they pass it by (give `tracenet identity show`'s oprf key to your regional organisation)\n",
                Some("different") => "  blind traces: the roster lists ANOTHER OPRF key for this node, so requesters refuse its evaluations (restore oprf.key, or have the next roster list `tracenet identity show`'s oprf key)\n",
                _ => "",
            };
            let listed = match s["listed_in_roster"].as_str() {
                Some("not_listed") if s["role"] == "bootstrap" => "  NOT IN THE ROSTER: the roster this node holds does not list its key, so members refuse its connections (it was never added or was removed, or its key changed): give your regional organisation the `key` that `tracenet identity show` prints, for the bootstrap entry of the next roster\n",
                Some("not_listed") => "  NOT IN THE ROSTER: the roster this node holds does not list its key, so other members refuse its connections (it was never added or was removed, or its key changed): give your regional organisation the `key` and `oprf key` that `tracenet identity show` prints, for the next roster\n",
                Some("as_another") => "  the roster lists this node's key under another State or role than its own: other members judge it as that entry; ask your regional organisation\n",
                _ => "",
            };
            // First in what it says: other members take another process
            // for this State.
            let copies = match s["own_key_elsewhere"].as_object() {
                Some(k) => format!(
                    "  NODE KEY IN USE ELSEWHERE: {} read since start, signed with this node's key and never sent by it (the last at {}, passed on by peer {}, query {}): another process holds a copy of the key and speaks for this State, unless this node's data directory was put back from a backup older than those queries. Stop the copy if it is yours (a copied data directory, a backup running); otherwise replace the key (README, \"A State whose node key was compromised\")\n",
                    crate::model::count(k["queries"].as_u64().unwrap_or(0), "query"),
                    k["last_at"].as_str().unwrap_or("?"),
                    k["last_from"].as_str().unwrap_or("?"),
                    k["last_query"].as_str().unwrap_or("?"),
                ),
                None => String::new(),
            };
            let gossip = match (
                s["net"]["gossip_validation"].as_str(),
                s["net"]["gossip_validation_next"].as_str(),
            ) {
                (Some(now), Some(next)) => format!("  gossip validation: {now}, switching to {next} (the roster decides it)\n"),
                (Some(now), None) => format!("  gossip validation: {now}\n"),
                _ => String::new(),
            };
            let relaying = if s["role"] == "bootstrap" {
                // A bootstrap peer keeps a link to every member (NETWORK.md,
                // "Links kept"), and sends no trace.
                if s["links"].is_object() {
                    "  links: one to every member, as a bootstrap peer\n".to_string()
                } else {
                    String::new()
                }
            } else {
                links_in_force_text(&s["links"], s["net"]["links_bounded"] == true)
            };
            format!(
                "{copies}{} node of {} ({}), up {}\n  roster version {} valid until {}{expiry}, {}\n{makers}  peers connected: {} of {}{links}\n{relaying}{gossip}  topics subscribed: {}\n  registry: {}\n  inbox: {} pending; alerts: {}\n  audit head: {}\n{blind}{listed}",
                s["role"].as_str().unwrap_or("?"),
                s["state"].as_str().unwrap_or("?"),
                s["peer_id"].as_str().unwrap_or("?"),
                uptime(s["uptime_secs"].as_u64().unwrap_or(0)),
                s["roster_version"],
                until,
                crate::model::count(members, "member"),
                s["net"]["connected"].as_array().map(|a| a.len()).unwrap_or(0),
                // Itself among them unless the roster does not list it.
                if s["listed_in_roster"] == "not_listed" {
                    members
                } else {
                    members.saturating_sub(1)
                },
                s["net"]["subscribed"].as_array().map(|a| a.len()).unwrap_or(0),
                records,
                s["inbox_pending"],
                s["alerts"],
                head
            )
        })
    })
}

/// `status`'s line on the links in force and how holders relay this node's
/// queries (its `links` object); empty from a node before it.
fn links_in_force_text(l: &serde_json::Value, bounded: bool) -> String {
    let (Some(kept), Some(set_by)) = (l["kept"].as_u64(), l["set_by"].as_str()) else {
        return String::new();
    };
    let by_roster = set_by == "roster";
    let setting = if by_roster {
        format!("the roster sets {kept} per member")
    } else {
        format!("this node's configuration sets {kept} (the roster sets none)")
    };
    let relays = match (l["full_mesh"] == true, l["served_lists"] == true) {
        (true, _) => "a full mesh: holders do not relay a query read from its requester",
        (_, true) => {
            "bounded: this node's queries name the States it hands them to, and holders relay them only toward the others"
        }
        _ if bounded && by_roster => {
            "bounded: every holder relays each query it reads (the roster states no served lists)"
        }
        _ if bounded => "bounded: every holder relays each query it reads",
        _ if by_roster => {
            "every holder relays each query it reads (two members or more have no address in the roster, so the mesh may not form)"
        }
        _ => "every holder relays each query it reads (each node decides its own links)",
    };
    format!("  links: {setting}; {relays}\n")
}

/// An uptime for people: seconds under a minute, then minutes, hours and
/// days (`up 259212 s` was read as a number to work out).
fn uptime(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The report's lines per State: the traces that expected it, its final
/// answers with the median and slowest time to them, and the traces that
/// ended without one, so that a State that
/// never answered shows as well as one that answered late. A report of a
/// node from before the counts of traces expected gives the times alone.
fn per_state_lines(r: &crate::node::report::Report) -> String {
    let plural = |n: u64, one: &str, more: &str| format!("{n} {}", if n == 1 { one } else { more });
    let states: std::collections::BTreeSet<&crate::model::CountryCode> = (r.traces_expected.keys())
        .chain(r.median_answer_secs.keys())
        .collect();
    let mut s = String::new();
    for state in states {
        let Some(&expected) = r.traces_expected.get(state) else {
            // From a node of an earlier build.
            s += &format!(
                "median time to answer from {state}: {} s",
                r.median_answer_secs[state]
            );
            if let (Some(slowest), Some(&n)) =
                (r.slowest_answer_secs.get(state), r.final_answers.get(state))
            {
                s += &format!(
                    " (slowest {slowest} s; {})",
                    plural(n, "final answer", "final answers")
                );
            }
            s += "\n";
            continue;
        };
        let finals = r.final_answers.get(state).copied().unwrap_or(0);
        let without = r
            .traces_without_final_answer
            .get(state)
            .copied()
            .unwrap_or(0);
        s += &format!(
            "{state}: expected in {}, {}",
            plural(expected, "trace", "traces"),
            plural(finals, "final answer", "final answers")
        );
        if let (Some(median), Some(slowest)) = (
            r.median_answer_secs.get(state),
            r.slowest_answer_secs.get(state),
        ) {
            s += &format!(" (median {median} s, slowest {slowest} s)");
        }
        if let Some(&n) = r.traces_settled_by_filter.get(state) {
            s += &format!(
                ", no record by its blind filter in {}",
                plural(n, "trace", "traces")
            );
        }
        if without > 0 {
            s += &format!(
                ", no final answer in {}",
                plural(without, "trace", "traces")
            );
        }
        if let Some(&n) = r.traces_awaiting.get(state) {
            s += &format!(", awaited in {} still open", plural(n, "trace", "traces"));
        }
        s += "\n";
    }
    s
}

pub fn run_report(
    ctx: &Context,
    from: Option<crate::model::Date>,
    to: Option<crate::model::Date>,
    csv: bool,
) -> anyhow::Result<()> {
    // Up to the end of today unless told: a period people can read.
    let to_day = to.unwrap_or_else(crate::model::Date::today);
    for (flag, d) in [("--from", from), ("--to", Some(to_day))] {
        if let Some(d) = d
            && d.to_days() < 0
        {
            return Err(super::usage_error(
                "report",
                format!("{flag} {d} is before 1970-01-01: the log's times start there"),
            ));
        }
    }
    if let Some(f) = from
        && f > to_day
    {
        let told = if to.is_some() {
            "--to"
        } else {
            "today, the default --to,"
        };
        return Err(super::usage_error(
            "report",
            format!("--from {f} is after {told} {to_day}: the period would be empty"),
        ));
    }
    let day = |d: crate::model::Date| (d.to_days().max(0) as u64) * 86_400;
    let from = from.map(day).unwrap_or(0);
    let to = day(to_day) + 86_400;
    let spinner = super::progress::spinner(ctx, "counting the audit log and the traces");
    let r: crate::node::report::Report = read_via(
        ctx,
        async |c| Ok(c.get(&format!("/v1/report?from={from}&to={to}")).await?),
        |off| {
            Ok(crate::node::report::report_of(
                &off.judge,
                &off.audit,
                &off.traces,
                from,
                to,
            )?)
        },
    )?;
    if let Some(b) = spinner {
        b.finish_and_clear();
    }
    {
        if let Some(warning) = r.missing_notice() {
            say!("warning: {warning}");
        }
        if csv {
            print!("{}", r.to_csv());
            return Ok(());
        }
        ctx.emit(&r, |r| {
            let date = |secs: u64| {
                crate::model::Date::from_days((secs / 86_400) as i64)
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| secs.to_string())
            };
            let mut s = format!(
                "period: {} to {} (UTC days, inclusive)\n",
                if r.from == 0 {
                    "the beginning".to_string()
                } else {
                    date(r.from)
                },
                date(r.to.saturating_sub(1))
            );
            s += &format!(
                "traces sent {} (answered {}, partial {}, timed out {}, open {})\nqueries received {}, refused {}; answers sent {}, withheld {}, acknowledged {}\n",
                r.traces_sent,
                r.traces_answered,
                r.traces_partial,
                r.traces_timed_out,
                r.traces_open,
                r.queries_received,
                r.queries_refused,
                r.answers_sent,
                r.answers_withheld,
                r.answers_acknowledged
            );
            s += &per_state_lines(r);
            s += &format!(
                "SDG 16.4.2: illicit origin established for {} of {} weapons traced\n",
                r.sdg_16_4_2.origin_established, r.sdg_16_4_2.traced
            );
            s
        })
    }
}

/// Says, once logging is up, when this process still has transparent huge
/// pages: `main` asks Linux to turn them off before anything else, where no
/// log can report a refusal (an older kernel, or a seccomp filter). The node
/// runs either way; it costs CPU at each fresh page and resident memory
/// (measured: about 1.1 against 1.6 ms per answered query, 26 to 46 against
/// 101 to 185 MiB per idle node of 100,000 records).
fn report_huge_pages() {
    #[cfg(target_os = "linux")]
    match rustix::thread::transparent_huge_pages_are_disabled() {
        Ok(true) => {}
        Ok(false) => tracing::info!(
            "transparent huge pages stay on for this node: the kernel refused to turn them \
             off (PR_SET_THP_DISABLE); expect more memory and CPU, nothing else changes"
        ),
        Err(e) => tracing::debug!(error = %e, "cannot tell whether transparent huge pages are off"),
    }
}

/// Golden texts: what people read for fixed documents (`src/cli/golden/`,
/// taken from a real federation run). `UPDATE_GOLDEN=1 cargo test --lib
/// golden` writes the texts anew; the diff is then reviewed like code.
#[cfg(test)]
pub(crate) mod golden {
    /// Compares `text` with the golden file `name`.
    pub(crate) fn check(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/cli/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, text).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; UPDATE_GOLDEN=1 writes it", path.display()));
        assert_eq!(text, want, "the text differs from {}", path.display());
    }

    #[test]
    fn trace_show_reads_as_the_golden_text() {
        let t: crate::api::TraceView =
            serde_json::from_str(include_str!("golden/trace.json")).unwrap();
        check("trace-show.txt", &super::render_trace(&t));
        check("trace-list.txt", &super::trace_line(&t));
    }

    /// A blind trace just sent has asked nobody yet: its holders' filters
    /// come first. It said the node was connected to no member.
    #[test]
    fn a_blind_trace_just_sent_names_the_holders_asked_blind_first() {
        let mut t: crate::api::TraceView =
            serde_json::from_str(include_str!("golden/trace.json")).unwrap();
        t.asked.clear();
        t.holders.clear();
        let holder = |state: &str| crate::node::blind::BlindHolder {
            peer: libp2p::PeerId::random().to_string(),
            state: Some(state.parse().unwrap()),
            outcome: crate::node::blind::BlindOutcome::Pending,
            detail: None,
            elements: 0,
            received_marking: false,
            at: None,
        };
        t.blind = Some(crate::node::blind::BlindTrace {
            bound: 64,
            holders: vec![holder("DE"), holder("FR")],
        });
        let said = super::asked_states(&t);
        assert_eq!(
            said,
            "none yet: the query goes only to the holders whose filter holds the weapon; the filters of 2 expected holders are asked first: DE, FR"
        );
        assert!(super::render_trace(&t).contains(&said));
        // Every filter said no hit: no record, not a prefix nobody holds.
        t.nobody_holds = true;
        assert_eq!(
            super::asked_states(&t),
            "nobody: the filters of the 2 expected holders (DE, FR) do not hold the weapon, and none was sent the marking"
        );
        t.nobody_holds = false;
        // Without expected holders it is still the node's connections.
        t.blind = Some(crate::node::blind::BlindTrace {
            bound: 64,
            holders: Vec::new(),
        });
        assert!(super::asked_states(&t).contains("connected to no member"));
    }
}

#[cfg(test)]
mod report_lines {
    use crate::model::CountryCode;
    use crate::node::report::Report;

    /// Each State's line says how many traces expected it, its final
    /// answers with their times and those that ended without one; a report
    /// from an earlier build gives the times alone.
    #[test]
    fn a_state_without_answers_has_its_line() {
        let cc = |s: &str| CountryCode::parse(s).unwrap();
        let mut r = Report::default();
        r.median_answer_secs.insert(cc("DE"), 0.0);
        r.slowest_answer_secs.insert(cc("DE"), 2);
        r.final_answers.insert(cc("DE"), 4);
        r.traces_expected.insert(cc("DE"), 5);
        r.traces_without_final_answer.insert(cc("DE"), 1);
        r.traces_expected.insert(cc("FR"), 6);
        r.traces_without_final_answer.insert(cc("FR"), 4);
        r.traces_settled_by_filter.insert(cc("FR"), 1);
        r.traces_awaiting.insert(cc("FR"), 1);
        assert_eq!(
            super::per_state_lines(&r),
            "DE: expected in 5 traces, 4 final answers (median 0 s, slowest 2 s), no final answer in 1 trace\n\
             FR: expected in 6 traces, 0 final answers, no record by its blind filter in 1 trace, no final answer in 4 traces, awaited in 1 trace still open\n"
        );
        r.traces_expected.clear();
        r.traces_without_final_answer.clear();
        assert_eq!(
            super::per_state_lines(&r),
            "median time to answer from DE: 0 s (slowest 2 s; 4 final answers)\n"
        );
    }
}

#[cfg(test)]
mod field_names {
    use crate::node::TraceField;

    /// A field's JSON name is the name serde gives it in the error body's
    /// `fault` and a field of `POST /v1/traces`'s body; its flag is one of
    /// `tracenet trace`'s.
    #[test]
    fn each_field_is_named_as_the_api_and_the_cli_take_it() {
        use clap::CommandFactory;
        let body = serde_json::to_value(crate::api::routes::TraceRequest {
            maker: String::new(),
            country: String::new(),
            factory_code: None,
            serial: String::new(),
            imports: Vec::new(),
            category: String::new(),
            calibre: None,
            ground: String::new(),
            intended_use: String::new(),
            urgent: false,
            timeout_secs: None,
            case: None,
            note: None,
            force: false,
            blind: None,
        })
        .unwrap();
        let cmd = crate::cli::Cli::command();
        let trace = cmd.find_subcommand("trace").unwrap();
        let flags: Vec<String> = trace
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        // Every field, once: a new one does not compile here until `ALL`
        // lists it.
        for (i, f) in TraceField::ALL.iter().enumerate() {
            let place = match f {
                TraceField::Maker => 0,
                TraceField::FactoryCode => 1,
                TraceField::Country => 2,
                TraceField::Serial => 3,
                TraceField::Imports => 4,
                TraceField::Category => 5,
                TraceField::Calibre => 6,
                TraceField::Ground => 7,
                TraceField::Use => 8,
                TraceField::Urgent => 9,
                TraceField::TimeoutSecs => 10,
                TraceField::Case => 11,
                TraceField::Note => 12,
                TraceField::Force => 13,
                TraceField::Blind => 14,
            };
            assert_eq!(place, i, "{f:?}");
        }
        assert_eq!(TraceField::ALL.len(), 15);
        for &f in TraceField::ALL {
            assert_eq!(TraceField::from_json_name(f.json_name()), Some(f));
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::Value::from(f.json_name())
            );
            assert!(body.get(f.json_name()).is_some(), "{f:?}");
            assert!(flags.iter().any(|l| l == f.flag()), "{f:?}: {flags:?}");
        }
    }
}

#[cfg(test)]
mod local_text_tests {
    /// A local note's line breaks are kept as indented lines, and its
    /// control and text-direction characters are read as spaces.
    #[test]
    fn a_local_note_is_printed_line_by_line_without_what_turns_the_terminal() {
        assert_eq!(
            super::local_lines(
                "note (local only)",
                "seized at\u{202e}the port\nsecond\u{7}line"
            ),
            "  note (local only): seized at the port\n    second line\n"
        );
        assert_eq!(
            super::local_lines("case (local only)", "CASE-1"),
            "  case (local only): CASE-1\n"
        );
    }
}

#[cfg(test)]
mod uptime_tests {
    #[test]
    fn an_uptime_is_said_in_the_units_people_read() {
        assert_eq!(super::uptime(42), "42 s");
        assert_eq!(super::uptime(125), "2 min 5 s");
        assert_eq!(super::uptime(7_260), "2 h 1 min");
        assert_eq!(super::uptime(259_212), "3 d 0 h");
    }
}

#[cfg(test)]
mod links_text {
    use serde_json::json;

    /// `status`'s line on the links names the setting, who sets it and how
    /// holders relay, in each case the node can be in.
    #[test]
    fn each_case_of_the_links_in_force_has_its_words() {
        let line = |kept: u64, by: &str, full: bool, served: bool, bounded: bool| {
            super::links_in_force_text(
                &json!({"kept": kept, "set_by": by, "full_mesh": full, "served_lists": served}),
                bounded,
            )
        };
        assert_eq!(
            line(64, "roster", true, false, false),
            "  links: the roster sets 64 per member; a full mesh: holders do not relay a query read from its requester\n"
        );
        assert!(
            line(64, "roster", false, true, true).ends_with(
                "bounded: this node's queries name the States it hands them to, and holders relay them only toward the others\n"
            )
        );
        assert!(line(64, "roster", false, false, true).ends_with(
            "bounded: every holder relays each query it reads (the roster states no served lists)\n"
        ));
        assert!(line(64, "roster", false, false, false).contains("have no address in the roster"));
        assert_eq!(
            line(48, "node", false, false, true),
            "  links: this node's configuration sets 48 (the roster sets none); bounded: every holder relays each query it reads\n"
        );
        assert!(line(48, "node", false, false, false).ends_with(
            "every holder relays each query it reads (each node decides its own links)\n"
        ));
        // A node of an earlier build gives no `links`: no line.
        assert_eq!(super::links_in_force_text(&json!(null), true), "");
    }
}
