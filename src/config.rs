//! The node's configuration file, `tracenet.toml` in the data directory: read
//! strictly (an unknown key is an error, not a silent default), with errors that
//! name the file, line and key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::marking::{MakerAlias, MakerError, MakerTable};
use crate::model::CountryCode;
use crate::node::NodeSettings;
use crate::registry::StoreOptions;
use crate::roster::TrustConfig;

pub const CONFIG_FILE: &str = "tracenet.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's State.
    pub state: CountryCode,
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Makers and spellings added to the built-in table.
    #[serde(default)]
    pub makers: Vec<MakerAlias>,
    #[serde(default)]
    pub node: NodeSettings,
    /// The trust anchors whose signatures make a roster valid.
    #[serde(default)]
    pub trust: TrustConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// sled's page cache in MiB: the main lever on the node's memory.
    pub cache_mb: u64,
    /// Import refuses longer lines without parsing them.
    pub max_line_bytes: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            cache_mb: 128,
            max_line_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read {path}: {source}; create it with `tracenet init --state CC`")]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: makers: {source}")]
    Makers { path: PathBuf, source: MakerError },
}

impl Config {
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(CONFIG_FILE)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ConfigError::Missing {
                path: path.to_path_buf(),
                source,
            },
            _ => ConfigError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                message: e.message().to_string(),
            }
        })?;
        cfg.maker_table().map_err(|source| ConfigError::Makers {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.node
            .validate()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        if !cfg.trust.anchors.is_empty() {
            cfg.trust.anchor_keys().map_err(|e| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("trust: {e}"),
            })?;
        }
        Ok(cfg)
    }

    pub fn maker_table(&self) -> Result<MakerTable, MakerError> {
        MakerTable::with_extra(&self.makers)
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            cache_bytes: self.registry.cache_mb.saturating_mul(1024 * 1024),
        }
    }

    /// The commented file that `tracenet init` writes.
    pub fn template(state: CountryCode) -> String {
        TEMPLATE.replace("{STATE}", state.as_str())
    }
}

const TEMPLATE: &str = r#"# tracenet node configuration. Every key is documented in config/node.toml.
# An unknown key is an error, so a typo cannot silently fall back to a default.

# This node's State (ISO 3166-1 alpha-2).
state = "{STATE}"

[registry]
# sled's page cache, in MiB: the main lever on the node's memory use.
cache_mb = 128
# Import refuses a longer line, without parsing it.
max_line_bytes = 1048576

# Makers and spellings beyond the built-in table. Changing this rebuilds the
# registry's index at the next start.
# [[makers]]
# name = "Acme Arms"
# aliases = ["AA Works", "Acme Arms Factory"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses() {
        let cfg = Config::parse(
            Path::new("t.toml"),
            &Config::template(CountryCode::parse("DE").unwrap()),
        )
        .unwrap();
        assert_eq!(cfg.state.as_str(), "DE");
        assert_eq!(cfg.registry.cache_mb, 128);
    }

    #[test]
    fn the_annotated_example_parses() {
        let cfg = Config::parse(
            Path::new("config/node.toml"),
            include_str!("../config/node.toml"),
        )
        .unwrap();
        assert_eq!(cfg.makers.len(), 1);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::parse(
            Path::new("t.toml"),
            "state = \"DE\"\n\n[registry]\ncache_mib = 3\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("t.toml:4:"), "{s}");
        assert!(s.contains("cache_mib"), "{s}");
        let e = Config::parse(Path::new("t.toml"), "state = \"XX\"\n").unwrap_err();
        assert!(e.to_string().contains("XX"), "{e}");
        let clash = "state = \"DE\"\n[[makers]]\nname = \"Other\"\naliases = [\"H&K\"]\n";
        assert!(matches!(
            Config::parse(Path::new("t.toml"), clash),
            Err(ConfigError::Makers { .. })
        ));
    }
}
