//! `registry export`: from the registry, or streamed from the running node,
//! into a file that appears only once complete, or standard output.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::super::{Context, progress};
use crate::registry::Registry;

/// An export's destination: standard output, or a temporary file beside FILE
/// that becomes FILE only once complete (a failed export leaves no file that
/// looks whole).
enum Destination {
    Stdout(BufWriter<std::io::StdoutLock<'static>>),
    File(BufWriter<tempfile::NamedTempFile>, PathBuf),
}

impl Destination {
    fn new(file: &Path) -> anyhow::Result<Self> {
        if file == Path::new("-") {
            return Ok(Destination::Stdout(BufWriter::new(
                std::io::stdout().lock(),
            )));
        }
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
            if !dir.is_dir() {
                anyhow::anyhow!(
                    "cannot create {}: the folder {} does not exist",
                    file.display(),
                    dir.display()
                )
            } else {
                let cause = e.to_string();
                let cause = cause
                    .split(" at path ")
                    .next()
                    .unwrap_or(&cause)
                    .to_string();
                anyhow::anyhow!("cannot create {}: {cause}", file.display())
            }
        })?;
        Ok(Destination::File(
            BufWriter::with_capacity(1 << 16, tmp),
            file.to_path_buf(),
        ))
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Destination::Stdout(w) => w,
            Destination::File(w, _) => w,
        }
    }

    /// Flushes, and puts a file in place. Returns whether it was a file.
    fn finish(self) -> anyhow::Result<bool> {
        match self {
            Destination::Stdout(mut w) => {
                w.flush()?;
                Ok(false)
            }
            Destination::File(w, file) => {
                let tmp = w
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot write {}", file.display()))?;
                tmp.persist(&file)
                    .with_context(|| format!("cannot write {}", file.display()))?;
                Ok(true)
            }
        }
    }
}

#[derive(Serialize)]
struct Exported<'a> {
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

pub(super) fn export(ctx: &Context, reg: &Registry, file: &Path) -> anyhow::Result<()> {
    let mut dest = Destination::new(file)?;
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
) -> anyhow::Result<()> {
    let mut dest = Destination::new(file)?;
    // Made once the reply says how many records come.
    let bar = std::cell::OnceCell::new();
    let mut n = 0u64;
    let w = dest.writer();
    let streamed = c
        .get_stream(
            "/v1/registry/export",
            crate::api::RECORDS_HEADER,
            |total| {
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
