//! `tracenet inbox` and `tracenet alerts`: requests waiting for a person's
//! decision, and traces that found weapons this State recorded lost or stolen.

use clap::Subcommand;

use super::Context;
use super::node::with_client;
use crate::api::routes::DecideRequest;

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Requests waiting for a decision (and those decided), with their ITI
    /// fields, oldest first, as a queue is worked (`GET /v1/inbox` pages
    /// newest first).
    List,
    /// Answer a request: a signed hit at the policy's level, or at --disclose.
    Approve {
        /// The inbox item's id, as `tracenet inbox` lists it.
        #[arg(value_parser = inbox_id)]
        id: String,
        /// What the hit discloses, instead of the policy's level.
        #[arg(long, value_name = "LEVEL", value_parser = ["full", "no_holders", "month", "year", "acknowledge_only"])]
        disclose: Option<String>,
    },
    /// Refuse a request with a reason code (ITI para 20); the requester gets
    /// a signed `withheld` answer with it.
    Refuse {
        /// The inbox item's id, as `tracenet inbox` lists it.
        #[arg(value_parser = inbox_id)]
        id: String,
        /// Why the details are withheld.
        #[arg(long, value_name = "CODE", value_parser = ["ongoing_investigation", "national_law", "other"])]
        reason: String,
    },
}

/// A code from the JSON (`seized_in_crime`) in words.
fn words(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or("?").replace('_', " ")
}

fn render(v: &serde_json::Value) -> String {
    let q = &v["query"];
    let deadline = v["deadline"]
        .as_str()
        .and_then(|t| crate::model::instant::parse_rfc3339(t).ok())
        .map(crate::model::format_unix)
        .unwrap_or_default();
    format!(
        "{}  {:<9} from {}  {}  {} {} {}  {}; for {}  ({})  answer by {}  trace {}",
        v["id"].as_str().unwrap_or("?"),
        words(&v["status"]["state"]),
        v["requester"].as_str().unwrap_or("?"),
        words(&q["priority"]),
        q["marking"]["manufacturer"].as_str().unwrap_or("?"),
        q["marking"]["country"].as_str().unwrap_or("?"),
        q["marking"]["serial"].as_str().unwrap_or("?"),
        words(&q["legal_ground"]),
        words(&q["intended_use"]),
        words(&v["reason"]),
        deadline,
        v["trace"].as_str().unwrap_or("?"),
    )
}

pub fn run(cmd: Option<InboxCommand>, ctx: &Context) -> anyhow::Result<()> {
    let cmd = cmd.unwrap_or(InboxCommand::List);
    if let InboxCommand::List = cmd {
        // Readable with the node stopped, from the store.
        let items: Vec<serde_json::Value> = super::node::read_via(
            ctx,
            async |c| {
                // The node serves pages, newest first: follow them to the
                // end; listed oldest first, as before the pages.
                let mut all: Vec<serde_json::Value> =
                    super::node::follow_pages(&c, "/v1/inbox", "items", None, 1_000).await?;
                all.reverse();
                Ok(all)
            },
            |off| {
                // As the node lists them: through the time index, an
                // unreadable item passed over; oldest first.
                Ok(off
                    .inbox
                    .page(None, usize::MAX)?
                    .0
                    .iter()
                    .rev()
                    .map(|i| serde_json::to_value(crate::api::inbox_view(off.judge.limits(), i)))
                    .collect::<Result<_, _>>()?)
            },
        )?;
        return ctx.emit(&items, |items| {
            if items.is_empty() {
                return "the inbox is empty".into();
            }
            items.iter().map(render).collect::<Vec<_>>().join("\n")
        });
    }
    with_client(ctx, async |c| match cmd {
        InboxCommand::List => Ok(()),
        InboxCommand::Approve { id, disclose } => {
            let v: serde_json::Value = c
                .post(
                    &format!("/v1/inbox/{id}/approve"),
                    &DecideRequest {
                        disclose,
                        reason: None,
                    },
                )
                .await?;
            ctx.emit(&v, |v| {
                format!("approved; signed answer sent\n{}", render(v))
            })
        }
        InboxCommand::Refuse { id, reason } => {
            let v: serde_json::Value = c
                .post(
                    &format!("/v1/inbox/{id}/refuse"),
                    &DecideRequest {
                        disclose: None,
                        reason: Some(reason),
                    },
                )
                .await?;
            ctx.emit(&v, |v| {
                format!("refused; signed answer sent\n{}", render(v))
            })
        }
    })
}

pub fn run_alerts(ctx: &Context, limit: Option<u64>) -> anyhow::Result<()> {
    let limit = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let alerts: Vec<serde_json::Value> = super::node::read_via(
        ctx,
        // The node serves pages, newest first: follow them to the end (or
        // to --limit).
        async |c| super::node::follow_pages(&c, "/v1/alerts", "alerts", limit, 1_000).await,
        |off| {
            Ok(off
                .inbox
                .alerts_page(None, limit.unwrap_or(usize::MAX))?
                .0
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?)
        },
    )?;
    // Read newest first; listed oldest first, as `inbox list` is.
    let alerts: Vec<serde_json::Value> = alerts.into_iter().rev().collect();
    ctx.emit(&alerts, |a| {
        if a.is_empty() {
            return "no alerts".into();
        }
        a.iter()
            .map(|x| {
                format!(
                    "{}  record {} ({} {} {}) was traced by {} (trace {})",
                    x["at"]
                        .as_str()
                        .and_then(|t| crate::model::instant::parse_rfc3339(t).ok())
                        .map(crate::model::format_unix)
                        .unwrap_or_default(),
                    x["record_id"].as_str().unwrap_or("?"),
                    x["marking"]["serial"].as_str().unwrap_or("?"),
                    words(&x["kind"]),
                    x["date"]
                        .as_str()
                        .and_then(|d| crate::model::EventDate::parse(d).ok())
                        .map(crate::node::custody::when)
                        .unwrap_or_else(|| "on ?".into()),
                    x["requester"].as_str().unwrap_or("?"),
                    x["trace"].as_str().unwrap_or("?")
                ) + &x["more"].as_u64().map_or_else(String::new, |n| {
                    format!(
                        "; and {} held here as lost or stolen matched the same trace",
                        crate::model::count(n, "more record")
                    )
                })
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[cfg(test)]
mod golden {
    #[test]
    fn inbox_list_reads_as_the_golden_text() {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("golden/inbox.json")).unwrap();
        let text: Vec<String> = items.iter().map(super::render).collect();
        crate::cli::node::golden::check("inbox-list.txt", &text.join("\n"));
    }
}

/// An inbox item's id as given on the command line: hexadecimal digits, as
/// `tracenet inbox` lists them. An empty one, or one with `/` or `?`, asked
/// for another endpoint than the item's (as trace ids did).
fn inbox_id(s: &str) -> Result<String, String> {
    super::hex_id(
        s,
        "an inbox item's id",
        "the id `tracenet inbox` lists (16 hexadecimal digits)",
    )
}

#[cfg(test)]
mod tests {
    /// An id with `/`, `?` or nothing is refused before any request.
    #[test]
    fn an_inbox_id_is_hexadecimal() {
        assert_eq!(
            super::inbox_id("B5F5CC813D6C3ED1").unwrap(),
            "b5f5cc813d6c3ed1"
        );
        for bad in ["", "../status", "ab?x=1", "zz"] {
            assert!(super::inbox_id(bad).is_err(), "{bad:?}");
        }
    }
}
