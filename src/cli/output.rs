//! How commands speak: human text on a terminal, stable JSON with `--json`.

use std::io::Write;
use std::path::PathBuf;

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
