//! `tracenet officer`: the officer console's accounts. Through the running
//! node's API, or, with the node stopped, in its store directly. Every change
//! is audited (`officer changed`).

use clap::Subcommand;

use super::Context;
use crate::api::officers::{AddOfficer, Removed};
use crate::audit::{AuditKind, NewEntry};
use crate::node::officers::{OfficerView, Officers, OneTimePassword, Role};

#[derive(Debug, Subcommand)]
pub enum OfficerCommand {
    /// Add an account; prints a one-time password, to be changed at the
    /// first sign-in.
    Add {
        /// The officer's name as the audit log will show it: letters,
        /// digits, '.', '-', '_' (e.g. amina.diallo).
        name: String,
        /// officer: traces and reads; reviewer: also decides the inbox;
        /// admin: also manages the registry, policy and accounts.
        #[arg(long, value_parser = ["officer", "reviewer", "admin"], default_value = "officer")]
        role: String,
    },
    /// The accounts, with their roles (no passwords).
    List,
    /// A new one-time password for an account (a forgotten password); signs
    /// the officer out.
    Reset {
        /// The account's name, as `tracenet officer list` shows it.
        name: String,
    },
    /// Remove an account; signs the officer out. The last admin stays.
    Remove {
        /// The account's name, as `tracenet officer list` shows it.
        name: String,
    },
}

fn offline_change<T>(
    off: &crate::node::offline::Offline,
    name: &str,
    what: &str,
    f: impl FnOnce(&Officers) -> Result<T, crate::node::officers::AccountError>,
) -> anyhow::Result<T> {
    let officers = Officers::open(&off.db)?;
    let out = f(&officers)?;
    let name = crate::node::officers::audited_name(name.to_string());
    off.audit.append(
        AuditKind::OfficerChanged,
        NewEntry {
            officer: Some(name),
            outcome: Some(what.to_string()),
            ..NewEntry::default()
        },
        crate::node::unix_now(),
    )?;
    Ok(out)
}

fn show_password(p: &OneTimePassword) -> String {
    format!(
        "officer {} ({})\none-time password: {}\nGive it to the officer in person; it must be changed at the first sign-in to the console.",
        p.name,
        p.role.word(),
        p.password
    )
}

pub fn run(cmd: OfficerCommand, ctx: &Context) -> anyhow::Result<()> {
    use super::node::read_via;
    match cmd {
        OfficerCommand::Add { name, role } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            // A name no account may have is the command line's fault: a
            // usage error, before the node is asked (it was exit 1).
            crate::node::officers::check_name(&name)
                .map_err(|e| super::usage_error("officer add", format!("NAME: {e}")))?;
            let body = AddOfficer {
                name: name.clone(),
                role,
            };
            let out: OneTimePassword = read_via(
                ctx,
                async |c| Ok(c.post("/v1/officers", &body).await?),
                |off| {
                    offline_change(off, &name, &format!("added as {}", role.word()), |o| {
                        o.add(&name, role, crate::node::unix_now())
                    })
                },
            )?;
            ctx.emit(&out, show_password)
        }
        OfficerCommand::List => {
            let out: Vec<OfficerView> = read_via(
                ctx,
                async |c| Ok(c.get("/v1/officers").await?),
                |off| Ok(Officers::open(&off.db)?.list()?),
            )?;
            ctx.emit(&out, |all| {
                if all.is_empty() {
                    return "no officer account; `tracenet officer add NAME --role admin` adds one"
                        .into();
                }
                all.iter()
                    .map(|o| {
                        format!(
                            "{:<24} {:<9} since {}{}",
                            o.name,
                            o.role.word(),
                            crate::model::format_unix(o.created_at),
                            if o.must_change {
                                "  (one-time password not yet changed)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        OfficerCommand::Reset { name } => {
            let path = format!("/v1/officers/{}/reset", segment(&name));
            let out: OneTimePassword = read_via(
                ctx,
                async |c| Ok(c.post(&path, &serde_json::json!({})).await?),
                |off| offline_change(off, &name, "password reset", |o| o.reset(&name)),
            )?;
            ctx.emit(&out, show_password)
        }
        OfficerCommand::Remove { name } => {
            let path = format!("/v1/officers/{}/remove", segment(&name));
            let out: Removed = read_via(
                ctx,
                async |c| Ok(c.post(&path, &serde_json::json!({})).await?),
                |off| {
                    offline_change(off, &name, "removed", |o| {
                        o.remove(&name).map(|()| Removed {
                            removed: name.clone(),
                        })
                    })
                },
            )?;
            ctx.emit(&out, |r| format!("officer {} removed", r.removed))
        }
    }
}

/// An account's name as a path segment of the control API: every byte but
/// unreserved ones percent-encoded, so that a name with `/` or `?` (one
/// stored before names were checked, or a typing slip) names that account
/// and no other endpoint.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// A name is one path segment, whatever it holds.
    #[test]
    fn a_name_is_one_path_segment() {
        assert_eq!(super::segment("k.amara-1_x"), "k.amara-1_x");
        assert_eq!(super::segment("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(super::segment("é"), "%C3%A9");
    }
}
