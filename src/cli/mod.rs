//! The command line: clap definitions and output formatting. A thin layer over
//! the library; every error reaches the user as one line saying what to do.

mod output;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use output::Context;

/// Exit status for a runtime error (usage errors exit 2, through clap).
pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "tracenet",
    version,
    about = "Exchange small-arms trace requests between States, peer to peer"
)]
pub struct Cli {
    /// The node's data directory (registry, keys, configuration).
    #[arg(long, global = true, env = "TRACENET_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print results as JSON, one document per command, for integrators.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory, its configuration and the node's key.
    Init {
        /// This node's State, as an ISO 3166-1 alpha-2 code.
        #[arg(long, value_name = "CC")]
        state: String,
    },
}

/// The per-user default data directory: `$XDG_DATA_HOME/tracenet`, else
/// `~/.local/share/tracenet`, else `./tracenet-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tracenet");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/tracenet");
    }
    PathBuf::from("tracenet-data")
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context {
        data_dir: cli.data_dir.unwrap_or_else(default_data_dir),
        json: cli.json,
    };
    match cli.command {
        Command::Init { state } => {
            let _ = (&ctx, state);
            anyhow::bail!("init is not written yet")
        }
    }
}

/// A panic is a bug in tracenet: say so in one line, without a backtrace.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{place}; please report it to the tracenet maintainers");
    }));
}
