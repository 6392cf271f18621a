//! The command line: clap definitions and output formatting. A thin layer over
//! the library; every error reaches the user as one line saying what to do.

/// A line for the user on stderr (a warning, a note, a rejected row), as
/// [`crate::logging::say`] writes it: not `eprintln!`, which panics on a
/// stderr whose reader has gone (`2>&1 | head -1`, a closed terminal) and
/// so ended the command with 141 before its work was done (a hostile
/// trial: `roster new` with dates already past wrote no roster). A line
/// stderr refuses is lost; the command goes on and ends with its own code.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::logging::say(&format!($($arg)*))
    };
}

mod audit;
mod inbox;
mod makers;
pub(crate) mod node;
mod officer;
mod output;
mod progress;
mod registry;
mod trust;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use output::Context;
pub(crate) use output::Destination;

/// Exit status for a runtime error (usage errors exit 2, through clap).
pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// Exit status of a `registry import` that imported the good lines and
/// rejected others ([`ImportedWithRejections`]): a script that loads a
/// registry every night can tell a partial load from a whole one.
pub const EXIT_REJECTED: i32 = 3;

/// A command did its work but left part of its input out: its output is on
/// stdout as always; `main` says this on stderr and exits
/// [`EXIT_REJECTED`].
#[derive(Debug, thiserror::Error)]
#[error("{file}: {rejected} rejected; {rest} (exit status 3)")]
pub struct ImportedWithRejections {
    pub file: String,
    /// Lines (or rows) rejected, each named in the output.
    pub rejected: String,
    /// "the rest was imported", or "nothing was imported".
    pub rest: &'static str,
}

/// A usage error found after clap's parsing (a value clap cannot check,
/// such as a serial of only `*`): reported like clap's own, with the
/// subcommand's usage line, exit status 2. `main` exits through it.
/// An id of the node's as given on the command line: 1 to 64 hexadecimal
/// digits, in lower case; else why not, saying what it is not (`a trace
/// id`) and what to give. It goes into a path of the control API, where an
/// empty one, or one holding `/` or `?`, names another endpoint.
pub(crate) fn hex_id(s: &str, what: &str, give: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("{s:?} is not {what}: give {give}"))
    }
}

/// A `--limit N` of the newest items: a whole number from 1 (clap's own
/// range said "not in 1..18446744073709551615" of a 0: a trial).
pub(crate) fn count_of_newest(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("0 lists nothing: give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number from 1")),
    }
}

/// A file a command writes JSON Lines to, as clap parses it: any path
/// (UTF-8 or not), but a name that says CSV (`.csv` or `.tsv`, any case:
/// what `registry import` reads as CSV) is refused as a usage error,
/// saying `why` it matters.
pub(crate) fn json_lines_destination(
    why: &'static str,
) -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::PathBufValueParser::new().try_map(move |p: PathBuf| {
        if crate::registry::import::ImportFormat::from_path(&p)
            == Some(crate::registry::import::ImportFormat::Csv)
        {
            return Err(format!(
                "{}: JSON Lines is written, not CSV or tab-separated values, and {why}; name it .jsonl",
                p.display()
            ));
        }
        Ok(p)
    })
}

/// A usage error (exit 2, with the usage line) of `subcommand`: its
/// names from the top, space-separated (`"trace"`, `"registry generate"`).
pub fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> anyhow::Error {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &mut cmd;
    for name in subcommand.split_whitespace() {
        if at.find_subcommand(name).is_some() {
            at = at.find_subcommand_mut(name).expect("just found");
        }
    }
    anyhow::Error::new(at.error(clap::error::ErrorKind::ValueValidation, message))
}

/// A usage error from clap's parser, with the usage line of the command it
/// concerns added where clap leaves it out (a value that does not parse:
/// `--reason bogus`, `--state XX`), so that every usage error shows one.
///
/// A number that does not parse is said in words: clap passes on Rust's
/// own (`invalid digit found in string`, `number too large to fit in target
/// type`).
pub fn with_usage(mut e: clap::Error) -> clap::Error {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if let Some(message) = negative_number_words(&e) {
        return message;
    }
    let number = number_words(&e);
    if number.is_none()
        && (!matches!(
            e.kind(),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation
        ) || e.get(ContextKind::Usage).is_some())
    {
        return e;
    }
    let mut cmd = Cli::command();
    cmd.build();
    // The deepest subcommand named on the command line.
    let mut at = &mut cmd;
    // `args_os`: an argument that is not UTF-8 (a file's name) panicked
    // `args` here, on the way to a usage error (a hostile trial).
    for arg in std::env::args_os().skip(1) {
        if at.find_subcommand(&arg).is_some() {
            at = at.find_subcommand_mut(&arg).expect("just found");
        }
    }
    if let Some(message) = number {
        return at.error(ErrorKind::ValueValidation, message);
    }
    let usage = at.render_usage();
    e.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
    e
}

/// Whether `text` is a number below 0 as a person writes one (`-1`,
/// `-0.5`, `-1e3`): not `-0`, `-inf`, `-nan`, `-` or `-abc`, which Rust's
/// parsers refuse as no number of the kind an option takes.
fn a_negative_number(text: &str) -> bool {
    text.strip_prefix('-').is_some_and(|n| {
        n.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && n.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0)
    })
}

/// A negative number given to an option (`--threshold -1`), which clap
/// reads as an unknown option and answers with a tip to write `-- -1` (a
/// positional argument then, never the option's value: a trial). The
/// command line is read again with the number joined to its option
/// (`--threshold=-1`), so that the option's own parser says what is wrong
/// with the value, in words ([`number_words`]). `None` for every other
/// error, for a number after an option that takes no value, and where the
/// line read again asks for help or the version (clap's own error stands).
fn negative_number_words(e: &clap::Error) -> Option<clap::Error> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(refused)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    // clap names `-0` of `-0.5`, reading it as short options.
    let the_number = |token: &str| token.starts_with(refused.as_str()) && a_negative_number(token);
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = Cli::command();
    cmd.build();
    let mut at = &cmd;
    // The subcommands named before the number, from the top.
    let mut path: Vec<std::ffi::OsString> = Vec::new();
    let mut found = None;
    for (i, arg) in args.iter().enumerate().skip(1) {
        if let Some(sub) = at.find_subcommand(arg) {
            at = sub;
            path.push(arg.clone());
        }
        if i > 1 && arg.to_str().is_some_and(the_number) {
            found = Some(i);
            break;
        }
    }
    let i = found?;
    let value = args[i].to_str()?.to_string();
    let option = args[i - 1].to_str()?.to_string();
    let takes_a_value = at.get_arguments().any(|a| {
        let named = a.get_long().is_some_and(|l| option == format!("--{l}"))
            || a.get_short().is_some_and(|c| option == format!("-{c}"));
        named && a.get_action().takes_values()
    });
    if !takes_a_value {
        return None;
    }
    args.splice(i - 1..=i, [format!("{option}={value}").into()]);
    match Cli::try_parse_from(args) {
        Err(again)
            if !matches!(
                again.kind(),
                ErrorKind::UnknownArgument
                    | ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            Some(with_usage(again))
        }
        Err(_) => None,
        // A value the option takes: clap only needed it joined. Said with
        // the usage of the subcommand it was given to.
        Ok(_) => {
            let mut cmd = Cli::command();
            cmd.build();
            let mut at = &mut cmd;
            for name in &path {
                at = at.find_subcommand_mut(name).expect("found above");
            }
            Some(at.error(
                ErrorKind::ValueValidation,
                format!("'{value}' is read as an option: write {option}={value}"),
            ))
        }
    }
}

/// The range of `option` (clap's name of it, `--version <VERSION>`), given
/// `value` on this command line, as its parser says it when given 0
/// instead (`0 is not in 1..=1000000`): for a value too large or negative,
/// which the parser of a whole number refuses before it looks at a range.
/// Only the option's own value is replaced, and only a refusal of that
/// option is read (another option refused first says nothing of this
/// one's range: a review). `None` where 0 is taken, or the value is not
/// found after the option.
fn probed_range(option: &str, value: &str) -> Option<(i128, i128)> {
    use clap::error::{ContextKind, ContextValue};
    let name = option.split_whitespace().next()?;
    if value.is_empty() || !name.starts_with('-') {
        return None;
    }
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let joined = format!("{name}={value}");
    let at = (1..args.len()).find(|&i| {
        args[i].to_str() == Some(joined.as_str())
            || (args[i].to_str() == Some(value) && args[i - 1].to_str() == Some(name))
    })?;
    args[at] = if args[at].to_str() == Some(joined.as_str()) {
        format!("{name}=0").into()
    } else {
        "0".into()
    };
    let refused = Cli::try_parse_from(args).err()?;
    match refused.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) if a == option => {}
        _ => return None,
    }
    clap_range(&std::error::Error::source(&refused)?.to_string())
}

/// The bounds of clap's range refusal, `"0 is not in 1..=255"`.
fn clap_range(text: &str) -> Option<(i128, i128)> {
    let (_, range) = text.split_once(" is not in ")?;
    let (low, high) = range.split_once("..")?;
    let low: i128 = low.parse().ok()?;
    let high: i128 = match high.strip_prefix('=') {
        Some(h) => h.parse().ok()?,
        None => high.parse::<i128>().ok()? - 1,
    };
    Some((low, high))
}

/// A value clap refused because it is no number of the kind the argument
/// takes, said in words with the argument it was given for; `None` for
/// every other error.
fn number_words(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    use std::num::IntErrorKind;
    let source = std::error::Error::source(e)?;
    let negative = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => a_negative_number(v.trim()),
        _ => false,
    };
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let value = text(ContextKind::InvalidValue).unwrap_or_default();
    let option = text(ContextKind::InvalidArg).unwrap_or_default();
    // The option's range, where its parser has one, for a value that is
    // no number of its type at all (negative, or too large for it).
    let range = || match probed_range(&option, &value) {
        Some((low, high)) => format!(": a whole number from {low} to {high}"),
        None => String::new(),
    };
    let why = if let Some(int) = source.downcast_ref::<std::num::ParseIntError>() {
        match int.kind() {
            IntErrorKind::InvalidDigit if negative => match probed_range(&option, &value) {
                Some((low, high)) => {
                    format!("out of range: a whole number from {low} to {high}")
                }
                None => "negative: this argument takes no number below 0".to_string(),
            },
            IntErrorKind::Empty => "empty: give a whole number".to_string(),
            IntErrorKind::PosOverflow => format!("too large a number for this argument{}", range()),
            IntErrorKind::NegOverflow => format!("too small a number for this argument{}", range()),
            _ => "not a whole number: digits 0 to 9 only".to_string(),
        }
    } else if source.is::<std::num::ParseFloatError>() {
        "not a number: digits, with a point for a fraction (0.5)".to_string()
    } else if let Some((low, high)) = clap_range(&source.to_string()) {
        format!("out of range: a whole number from {low} to {high}")
    } else {
        return None;
    };
    Some(match text(ContextKind::InvalidArg) {
        Some(arg) => format!("invalid value '{value}' for '{arg}': {why}"),
        None => format!("invalid value '{value}': {why}"),
    })
}

/// What `tracenet --version` prints: the release, and the day of the last
/// change to what this build reads and sends (roster fields, query and
/// answer fields). Help texts and notes say which "builds before" a day
/// refuse what: compare with this. Move the day with any such change (a
/// test holds every day the sources cite to at most this one).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    ", reads and sends as builds of 2026-12-07 (night)"
);

#[derive(Debug, Parser)]
#[command(
    name = "tracenet",
    version = VERSION,
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
    Init(InitArgs),
    /// The national registry: import, export, find, statistics.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Run this State's node (or a regional bootstrap node).
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Send a trace (with --maker, --country, --serial, ...), or list, show and export traces.
    Trace(Box<node::TraceArgs>),
    /// The federation's members and whether they are connected.
    Peers,
    /// The running node's health: roster, peers, topics, registry.
    Status,
    /// This node's identity: State, PeerId, public key.
    #[command(subcommand)]
    Identity(trust::IdentityCommand),
    /// Build, sign, verify and install the membership roster.
    #[command(subcommand)]
    Roster(trust::RosterCommand),
    /// The federation's maker reference table: sign it (regional
    /// organisation), verify, install (it spreads by gossip), show the one in force.
    #[command(subcommand)]
    Makers(makers::MakersCommand),
    /// Check an exported evidence bundle offline; exits non-zero if any part fails.
    Verify(trust::VerifyArgs),
    /// Requests waiting for a person's decision: list, approve, refuse.
    Inbox {
        #[command(subcommand)]
        command: Option<inbox::InboxCommand>,
    },
    /// Traces from other States that found weapons recorded here as lost or
    /// stolen, oldest first.
    Alerts {
        /// Only the N newest (still listed oldest first).
        #[arg(long, value_name = "N", value_parser = count_of_newest)]
        limit: Option<u64>,
    },
    /// Accounts of the officer console: add (prints a one-time password),
    /// list, reset, remove.
    #[command(subcommand)]
    Officer(officer::OfficerCommand),
    /// Traces sent and received, answered, withheld, timed out; median and
    /// slowest time to answer per State; SDG 16.4.2 figures. Counted from
    /// the audit log.
    Report {
        /// First day: YYYY-MM-DD, `today`, or `today-N` / `today+N` (N
        /// days, UTC); default the beginning.
        #[arg(long, value_name = "DATE", value_parser = trust::parse_day)]
        from: Option<crate::model::Date>,
        /// Last day, included: YYYY-MM-DD, `today`, or `today-N` /
        /// `today+N`; default today.
        #[arg(long, value_name = "DATE", value_parser = trust::parse_day)]
        to: Option<crate::model::Date>,
        /// Print `figure,value` lines.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// The hash-chained audit log: show, verify, export.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check a configuration file (default: the data directory's tracenet.toml).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Start a small federation on 127.0.0.1, run a handful of traces, print the
    /// answers, and stop.
    Demo {
        /// Keep the data directories here instead of a temporary folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Leave the federation running and print how to trace by hand.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file, with the TRACENET_* environment applied,
    /// and print the settings in effect; errors name the file, line and key.
    Check {
        /// The file to check; default DATA_DIR/tracenet.toml.
        file: Option<PathBuf>,
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
    output::set_commands_data_dir(&ctx.data_dir);
    match cli.command {
        Command::Init(args) => init(&ctx, args),
        Command::Registry(cmd) => registry::run(cmd, &ctx),
        Command::Node(node::NodeCommand::Run { log_format }) => node::run_node(&ctx, &log_format),
        Command::Trace(args) => node::run_trace(&ctx, *args),
        Command::Peers => node::run_peers(&ctx),
        Command::Status => node::run_status(&ctx),
        Command::Identity(cmd) => trust::run_identity(cmd, &ctx),
        Command::Audit(cmd) => audit::run(cmd, &ctx),
        Command::Inbox { command } => inbox::run(command, &ctx),
        Command::Alerts { limit } => inbox::run_alerts(&ctx, limit),
        Command::Officer(cmd) => officer::run(cmd, &ctx),
        Command::Report { from, to, csv } => node::run_report(&ctx, from, to, csv),
        Command::Roster(cmd) => trust::run_roster(cmd, &ctx),
        Command::Makers(cmd) => makers::run(cmd, &ctx),
        Command::Verify(args) => trust::run_verify(args, &ctx),
        Command::Config(ConfigCommand::Check { file }) => {
            let path = file.unwrap_or_else(|| crate::config::Config::path_in(&ctx.data_dir));
            let cfg = crate::config::Config::load(&path)?;
            // The disclosure policy beside it, which the node refuses to start
            // on if it cannot read it.
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            let policy = dir.join(crate::node::policy::POLICY_FILE);
            let has_policy = policy.exists();
            let p = crate::node::policy::Policy::load(dir)?;
            // Valid, but telling requesters what its author may not expect.
            for w in p.warnings(cfg.node.answer_no_hit) {
                say!("warning: {w}");
            }
            ctx.emit(&cfg, |c| {
                let mut s = format!("{}: valid\n", path.display());
                if has_policy {
                    s += &format!("{}: valid\n", policy.display());
                }
                s + &toml::to_string(c).unwrap_or_default()
            })
        }
        // The demo narrates for people; it has no JSON to give, and said
        // so nowhere: its help offers the global flag.
        Command::Demo { .. } if ctx.json => Err(usage_error(
            "demo",
            "the demo prints its traces for people and has no JSON output; run it without --json, and use `tracenet --json trace show ID` against a federation kept with --keep",
        )),
        Command::Demo { dir, keep } => crate::demo::run(crate::demo::DemoOptions { dir, keep }),
    }
}

/// An error and its causes on one line, each said once: many errors already
/// quote their cause in their own message ("cannot write X: No such file"),
/// and anyhow's chain would repeat it.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if s.is_empty() || out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out += ": ";
        }
        out += &s;
    }
    out
}

#[cfg(test)]
mod error_line_tests {
    #[test]
    fn a_cause_quoted_in_its_error_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e =
            anyhow::Error::new(io).context("cannot write key file k: No such file or directory");
        assert_eq!(
            super::error_line(&e),
            "cannot write key file k: No such file or directory"
        );
        let e = anyhow::anyhow!("disk full").context("cannot write k");
        assert_eq!(super::error_line(&e), "cannot write k: disk full");
    }
}

/// Exit status when the reader of standard output went away (`tracenet ... |
/// head`): 141, as a shell reports a process ended by SIGPIPE.
pub const EXIT_CLOSED_STDOUT: i32 = 141;

/// Whether a command failed only because its standard output was closed by
/// its reader (a broken pipe): it then ends quietly.
pub fn closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A panic is a bug in tracenet: say so in one line, without a backtrace.
/// Except a write to standard output that failed (std's print macros panic
/// then): a reader that closed it ends the command quietly, with 141; any
/// other failure (a full disk) is said as such, with 1.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        // The log's end failing to print its complaint to a closed stdout
        // (tracing-appender's `println!`): caught on its thread, nothing to
        // say and no reason to end the process with another code.
        if std::thread::current().name() == Some(crate::logging::ENDING_THREAD) {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        // A warning for stderr whose reader has gone (`2>&1 | head -1`):
        // nothing can be said there either; a panic's message printed
        // into it aborted the process (a hostile trial).
        if msg.starts_with("failed printing to stderr") {
            std::process::exit(if msg.contains("Broken pipe") {
                EXIT_CLOSED_STDOUT
            } else {
                EXIT_RUNTIME
            });
        }
        if let Some(cause) = msg.strip_prefix("failed printing to stdout") {
            if msg.contains("Broken pipe") {
                std::process::exit(EXIT_CLOSED_STDOUT);
            }
            // Standard output into a full disk or `/dev/full`: the user's
            // to fix, not a bug (it was said as an internal error).
            crate::logging::say(&format!("error: cannot write into standard output{cause}"));
            std::process::exit(1);
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // Bounded in time under `node run`: a stderr nobody reads must not
        // hold the panicking thread (and what it holds) for good.
        crate::logging::say(&format!(
            "error: internal error{place}; please report it to the tracenet maintainers"
        ));
    }));
}

/// `tracenet init`: what a node needs to join, so that no file is edited by hand.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// This node's State, as an ISO 3166-1 alpha-2 code.
    #[arg(long, value_name = "CC")]
    state: String,
    /// A State's node (holds a registry, sends and answers traces) or a
    /// regional organisation's bootstrap node (no registry).
    #[arg(long, value_enum, default_value = "member")]
    role: InitRole,
    /// A libp2p listen address, e.g. /ip4/0.0.0.0/tcp/4001 (repeatable;
    /// default /ip4/0.0.0.0/tcp/4001).
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// The control API's address, loopback only; port 0 picks a free port
    /// (written to DATA_DIR/api.addr when the node runs). Default 127.0.0.1:7701.
    #[arg(long, value_name = "ADDR")]
    api_listen: Option<String>,
    /// The regional organisation's roster-signing public key, hex or base64
    /// (repeatable).
    #[arg(long = "anchor", value_name = "KEY")]
    anchors: Vec<String>,
    /// How many anchors must have signed a roster (default 1; at most the
    /// number of distinct --anchor keys).
    #[arg(long, requires = "anchors", value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    threshold: Option<u8>,
    /// Overwrite an existing configuration file (the key and registry are kept).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InitRole {
    Member,
    Bootstrap,
}

fn init(ctx: &Context, args: InitArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let state = crate::model::CountryCode::parse(&args.state)
        .map_err(|e| usage_error("init", format!("--state {:?}: {e}", args.state)))?;
    if let Some(name) = state.former_name() {
        return Err(usage_error(
            "init",
            format!(
                "--state {state} is {name}, a former State: a node stands for a State of today"
            ),
        ));
    }
    let role = match args.role {
        InitRole::Member => crate::config::Role::Member,
        InitRole::Bootstrap => crate::config::Role::Bootstrap,
    };
    // Each flag checked on its own first, so that the error names it.
    let mut distinct = std::collections::HashSet::new();
    for a in &args.anchors {
        let key = crate::protocol::PublicKey::parse(a)
            .and_then(|k| k.check_usable().map(|()| k))
            .map_err(|e| {
                usage_error("init", format!("--anchor {a:?}: {e}; give the regional organisation's public key (32 bytes, hex or base64)"))
            })?;
        distinct.insert(key);
    }
    if let Some(t) = args.threshold
        && (t == 0 || usize::from(t) > distinct.len())
    {
        return Err(usage_error(
            "init",
            format!(
                "--threshold {t}: must be between 1 and the number of distinct --anchor keys ({})",
                distinct.len()
            ),
        ));
    }
    for l in &args.listen {
        l.parse::<libp2p::Multiaddr>().map_err(|e| {
            usage_error(
                "init",
                format!("--listen {l:?}: {e}; write a multiaddr such as /ip4/0.0.0.0/tcp/4001"),
            )
        })?;
    }
    if let Some(a) = &args.api_listen {
        let loopback = a
            .parse::<std::net::SocketAddr>()
            .map(|s| s.ip().is_loopback());
        if loopback != Ok(true) {
            return Err(usage_error(
                "init",
                format!(
                    "--api-listen {a:?}: give a loopback address and port, such as 127.0.0.1:7701 (port 0 picks a free one); the control API never listens beyond this machine"
                ),
            ));
        }
    }
    let initial = crate::config::Initial {
        state,
        role,
        listen: args.listen,
        api_listen: args.api_listen,
        anchors: args.anchors,
        threshold: args.threshold,
    };
    let text = crate::config::Config::template_with(&initial);
    let force = args.force;
    let dir = &ctx.data_dir;
    // Checked before anything is written: a bad address or key names the flag.
    crate::config::Config::parse(std::path::Path::new("the flags of tracenet init"), &text)?;
    // A key linked to nothing is said before the configuration is written.
    trust::refuse_a_dangling_key(&crate::identity::key_path(dir))?;
    // Not inside another node's own folders or files: a data directory
    // made in a node's `db`, `tmp` or `api.tmp` broke it (a hostile trial).
    output::refuse_a_nodes_own_path(dir)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    restrict_dir(dir)?;
    let cfg_path = crate::config::Config::path_in(dir);
    if cfg_path.exists() && !force {
        anyhow::bail!(
            "{} already exists; pass --force to overwrite it (the key and registry are kept)",
            cfg_path.display()
        );
    }
    // The State a node speaks for is what the roster lists its key under:
    // changed here, the key kept, its peers refuse it (a trial pasted the
    // next step's `--state CC` and re-homed its node).
    let before = cfg_path
        .exists()
        .then(|| crate::config::Config::load(&cfg_path).ok())
        .flatten()
        .map(|c| c.state);
    write_file(&cfg_path, text.as_bytes(), force)?;
    if let Some(was) = before.filter(|was| *was != state) {
        say!(
            "warning: {} was for {was} and is now for {state}, with the same node key: the roster lists that key under {was}, so members refuse this node until the roster lists it under {state}. Run `tracenet init --force --state {was}` to go back",
            cfg_path.display()
        );
    }
    let cfg = crate::config::Config::load(&cfg_path)?;
    let identity = trust::init_identity(dir)?;
    crate::store::open_db(&dir.join("db"), &cfg.store_options())?.flush()?;
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(serialize_with = "crate::model::file::serialize_lossy")]
        data_dir: &'a std::path::Path,
        state: crate::model::CountryCode,
        role: crate::config::Role,
        #[serde(serialize_with = "crate::model::file::serialize_lossy")]
        config: &'a std::path::Path,
        peer_id: String,
        public_key: String,
        /// The OPRF public key for blind traces (members only).
        oprf_key: Option<String>,
        /// What to do next, in order.
        next: Vec<String>,
    }
    let mut next = Vec::new();
    // The commands as they are to be typed: naming this directory where the
    // other commands would not find it by themselves (a trial followed them
    // and acted on the default directory).
    let here = if ctx.data_dir == default_data_dir()
        || std::env::var_os("TRACENET_DATA_DIR")
            .is_some_and(|d| std::path::Path::new(&d) == ctx.data_dir)
    {
        String::new()
    } else {
        format!(" --data-dir {}", output::shell_word(&ctx.data_dir))
    };
    let tracenet = |args: &str| format!("tracenet {args}{here}");
    if initial.anchors.is_empty() {
        next.push(format!(
            "get your regional organisation's anchor public key, then: {} (or pass --anchor to roster install)",
            tracenet(&format!("init --force --state {state} --anchor KEY"))
        ));
    }
    if role == crate::config::Role::Member {
        next.push(
            "give your peer id, public key and OPRF key to your regional organisation".into(),
        );
        next.push(tracenet("roster install roster.json"));
        next.push(tracenet("registry import FILE"));
    } else {
        next.push(tracenet("roster install roster.json"));
    }
    next.push(tracenet("node run"));
    let out = Out {
        data_dir: dir,
        state,
        role,
        config: &cfg_path,
        peer_id: identity.peer_id,
        public_key: identity.public_key,
        oprf_key: identity
            .oprf_key
            .filter(|_| role == crate::config::Role::Member),
        next,
    };
    ctx.emit(&out, |o| {
        let mut s = format!(
            "initialised {} for {} ({})\n  configuration: {}\n  peer id: {}\n  public key: {}{}\nnext:",
            o.data_dir.display(),
            o.state,
            match o.role {
                crate::config::Role::Member => "member",
                crate::config::Role::Bootstrap => "bootstrap node",
            },
            o.config.display(),
            o.peer_id,
            o.public_key,
            o.oprf_key
                .as_deref()
                .map(|k| format!("\n  OPRF key: {k}"))
                .unwrap_or_default()
        );
        for (i, n) in o.next.iter().enumerate() {
            s += &format!("\n  {}. {n}", i + 1);
        }
        s
    })
}

/// The data directory holds the node's secret key and national records: owner only.
fn restrict_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| anyhow::anyhow!("cannot restrict {} to its owner: {e}", dir.display()))?;
    }
    Ok(())
}

/// "cannot VERB PATH: CAUSE" for a file written through a temporary one in
/// `dir`: the cause once, naming the file asked for, not the temporary one,
/// and a folder that does not exist said so.
pub(crate) fn cannot_in(
    dir: &std::path::Path,
    verb: &str,
    path: &std::path::Path,
    e: &std::io::Error,
) -> anyhow::Error {
    if !dir.is_dir() {
        return anyhow::anyhow!(
            "cannot {verb} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let cause = e.to_string();
    let cause = cause.split(" at path ").next().unwrap_or(&cause);
    anyhow::anyhow!("cannot {verb} {}: {cause}", path.display())
}

/// Writes `bytes` to `path` through a flushed temporary file beside it, so a
/// crash leaves the old file or the new one. Unless `replace`, an existing
/// `path` is an error, checked atomically (the temporary file is linked into
/// place only if the name is free).
pub fn write_file(path: &std::path::Path, bytes: &[u8], replace: bool) -> anyhow::Result<()> {
    use std::io::Write;
    // Never renamed over a device or a FIFO (it would replace the node).
    crate::model::target::file_target(path, "")?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let cannot = |e: &std::io::Error| cannot_in(dir, "write", path, e);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| cannot(&e))?;
    tmp.write_all(bytes).map_err(|e| cannot(&e))?;
    tmp.as_file().sync_all().map_err(|e| cannot(&e))?;
    let done = if replace {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    match done {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(anyhow::anyhow!(
            "{} exists; pass --force to replace it",
            path.display()
        )),
        Err(e) => Err(cannot(&e.error)),
    }
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    /// Every option and argument of every command says what it is.
    #[test]
    fn every_option_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "tracenet", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }
}

#[cfg(test)]
mod tests {
    use super::a_negative_number;

    #[test]
    fn a_negative_number_is_one_a_person_writes() {
        for n in ["-1", "-0.5", "-.5", "-1e3", "-255"] {
            assert!(a_negative_number(n), "{n}");
        }
        for n in [
            "-0",
            "-0.0",
            "-inf",
            "-nan",
            "-infinity",
            "-",
            "-abc",
            "1",
            "--1",
            "-e5",
        ] {
            assert!(!a_negative_number(n), "{n}");
        }
    }
}
