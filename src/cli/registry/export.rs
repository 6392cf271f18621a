//! `registry export`: from the registry, or streamed from the running node,
//! into a file that appears only once complete, or standard output.

use std::path::Path;

use serde::Serialize;

use super::super::{Context, Destination, progress};
use crate::registry::Registry;

#[derive(Serialize)]
struct Exported<'a> {
    /// As near as text can (a name that is not UTF-8 failed `--json`
    /// after the file was written).
    #[serde(serialize_with = "crate::model::file::serialize_lossy")]
    file: &'a Path,
    records: u64,
}

fn render_exported(o: &Exported<'_>) -> String {
    format!(
        "{}: {} exported",
        o.file.display(),
        crate::model::count(o.records, "record")
    )
}

/// What `registry export` and `registry generate` write to: see
/// [`super::super::json_lines_destination`].
pub(super) fn destination() -> impl clap::builder::TypedValueParser<Value = std::path::PathBuf> {
    super::super::json_lines_destination(
        "`registry import` reads a file named so as CSV, so it could not be imported again under this name",
    )
}

/// `replace` is `--force`.
pub(super) fn export(
    ctx: &Context,
    reg: &Registry,
    file: &Path,
    replace: bool,
) -> anyhow::Result<()> {
    let mut dest = Destination::new(file, replace)?;
    let bar = progress::bar(ctx, Some(reg.len()?), progress::Unit::Records, "exporting");
    let mut n = 0u64;
    let w = dest.writer();
    for rec in reg.records() {
        serde_json::to_writer(&mut *w, &rec?).map_err(std::io::Error::from)?;
        w.write_all(b"\n")?;
        n += 1;
        if n.is_multiple_of(1024)
            && let Some(b) = &bar
        {
            b.set_position(n);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if dest.finish()? {
        ctx.emit(&Exported { file, records: n }, render_exported)?;
    }
    Ok(())
}

/// Streams the running node's export into `file` (or standard output).
pub(super) async fn export_via_node(
    ctx: &Context,
    c: &crate::api::ApiClient,
    file: &Path,
    replace: bool,
) -> anyhow::Result<()> {
    let mut dest = Destination::new(file, replace)?;
    // Made once the reply says how many records come.
    let bar = std::cell::OnceCell::new();
    let mut n = 0u64;
    let w = dest.writer();
    let streamed = c
        .get_stream(
            "/v1/registry/export",
            crate::api::RECORDS_HEADER,
            |total, _| {
                let _ = bar.set(progress::bar(
                    ctx,
                    total,
                    progress::Unit::Records,
                    "exporting",
                ));
            },
            |chunk| {
                w.write_all(chunk)?;
                n += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                if let Some(b) = bar.get().and_then(Option::as_ref) {
                    b.set_position(n);
                }
                Ok(())
            },
        )
        .await;
    if let Some(b) = bar.get().and_then(Option::as_ref) {
        b.finish_and_clear();
    }
    streamed?;
    if dest.finish()? {
        ctx.emit(&Exported { file, records: n }, render_exported)?;
    }
    Ok(())
}
