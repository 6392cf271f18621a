//! How commands speak: human text on a terminal, stable JSON with `--json`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

/// What every command receives from the global flags.
#[derive(Debug, Clone)]
pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
}

impl Context {
    /// Prints a command's result: `value` as one JSON document with `--json`,
    /// otherwise the text that `human` renders.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            // As an io::Error, so that a closed stdout is told apart (its
            // kind survives the conversion).
            serde_json::to_writer(&mut out, value).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        } else {
            let text = human(value);
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

/// An export's destination: standard output, or a temporary file beside FILE
/// that becomes FILE only once complete (a failed export leaves no file that
/// looks whole).
pub(crate) enum Destination {
    Stdout(BufWriter<std::io::StdoutLock<'static>>),
    File(BufWriter<tempfile::NamedTempFile>, PathBuf),
}

impl Destination {
    pub(crate) fn new(file: &Path) -> anyhow::Result<Self> {
        if file == Path::new("-") {
            return Ok(Destination::Stdout(BufWriter::new(
                std::io::stdout().lock(),
            )));
        }
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| super::cannot_in(dir, "create", file, &e))?;
        Ok(Destination::File(
            BufWriter::with_capacity(1 << 16, tmp),
            file.to_path_buf(),
        ))
    }

    pub(crate) fn writer(&mut self) -> &mut dyn Write {
        match self {
            Destination::Stdout(w) => w,
            Destination::File(w, _) => w,
        }
    }

    /// Flushes, and puts a file in place. Returns whether it was a file.
    pub(crate) fn finish(self) -> anyhow::Result<bool> {
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
                // On disk before it takes the name: a crash leaves the old
                // file or the whole new one.
                tmp.as_file()
                    .sync_all()
                    .with_context(|| format!("cannot write {}", file.display()))?;
                tmp.persist(&file)
                    .with_context(|| format!("cannot write {}", file.display()))?;
                Ok(true)
            }
        }
    }
}
