//! Progress of long commands (imports, exports) for a person watching: a bar
//! on standard error when it is a terminal, and nothing with `--json` or when
//! standard error goes to a file or a pipe, so that logs and scripts get no
//! control characters.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Context;

/// What a bar counts.
pub enum Unit {
    Bytes,
    Records,
}

/// A bar of `len` units (a spinner when the length is not known), or None
/// when no one is watching: `--json`, or standard error not a terminal.
pub fn bar(ctx: &Context, len: Option<u64>, unit: Unit, what: &str) -> Option<ProgressBar> {
    if ctx.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let count = match unit {
        Unit::Bytes => "{bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        Unit::Records => "{human_pos}/{human_len} records ({per_sec}, {eta} left)",
    };
    let template = match len {
        Some(_) => format!("{what} [{{bar:30}}] {count} {{msg}}"),
        None => match unit {
            Unit::Bytes => format!("{what} {{spinner}} {{bytes}} ({{bytes_per_sec}}) {{msg}}"),
            Unit::Records => {
                format!("{what} {{spinner}} {{human_pos}} records ({{per_sec}}) {{msg}}")
            }
        },
    };
    let b = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        b.set_style(style.progress_chars("=> "));
    }
    b.enable_steady_tick(Duration::from_millis(200));
    Some(b)
}

/// A spinner with the time elapsed, for work whose size is not known ahead
/// (`report` over a large audit log, counted by the node or from the store);
/// None as for [`bar`].
pub fn spinner(ctx: &Context, what: &str) -> Option<ProgressBar> {
    if ctx.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(&format!("{{spinner}} {what} ({{elapsed}})")) {
        b.set_style(style);
    }
    b.enable_steady_tick(Duration::from_millis(200));
    Some(b)
}
