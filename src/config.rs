//! The node's configuration file, `tracenet.toml` in the data directory: read
//! strictly (an unknown key is an error, not a silent default), with errors that
//! name the file, line and key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::marking::{MakerAlias, MakerError, MakerTable};
use crate::model::CountryCode;
use crate::roster::TrustConfig;
use crate::store::StoreOptions;

mod settings;

pub use settings::{NodeSettings, Role};

pub const CONFIG_FILE: &str = "tracenet.toml";

/// `TRACENET_*` variables that are flags of the command line, not configuration.
const NOT_CONFIG_VARS: &[&str] = &[
    "TRACENET_DATA_DIR",
    "TRACENET_BENCH_RECORDS",
    "TRACENET_BENCH_CACHE_MB",
    "TRACENET_BENCH_STATES",
    "TRACENET_BENCH_TRACES",
];

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
            cache_mb: 256,
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

    /// Reads the file, then applies `TRACENET_*` environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    /// Reads the file, then applies overrides from `vars`: `TRACENET_STATE=DE`
    /// sets a top-level key, `TRACENET_NODE__API_LISTEN=127.0.0.1:7701` a key
    /// of a section (section and key joined by two underscores). Values are
    /// TOML (`true`, `30`, `["/ip4/0.0.0.0/tcp/4001"]`), or else a plain string.
    pub fn load_with_env(path: &Path, vars: &[(String, String)]) -> Result<Self, ConfigError> {
        let file_cfg = Self::load_file(path)?;
        let overrides: Vec<&(String, String)> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("TRACENET_") && !NOT_CONFIG_VARS.contains(&k.as_str()))
            .collect();
        if overrides.is_empty() {
            return Ok(file_cfg);
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        for (name, value) in overrides {
            let key = name["TRACENET_".len()..].to_ascii_lowercase();
            let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(value.clone()));
            match key.split_once("__") {
                Some((section, k)) => {
                    let entry = table
                        .entry(section.to_string())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    let Some(t) = entry.as_table_mut() else {
                        return Err(invalid(format!("{name}: {section} is not a section")));
                    };
                    t.insert(k.to_string(), value);
                }
                None => {
                    table.insert(key, value);
                }
            }
        }
        let cfg: Config = table.try_into().map_err(|e: toml::de::Error| {
            invalid(format!(
                "after applying TRACENET_* environment variables: {}",
                e.message()
            ))
        })?;
        cfg.check(path)?;
        Ok(cfg)
    }

    fn load_file(path: &Path) -> Result<Self, ConfigError> {
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
        cfg.check(path)?;
        Ok(cfg)
    }

    /// What the types cannot check: the maker table, addresses, trust anchors.
    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        self.maker_table().map_err(|source| ConfigError::Makers {
            path: path.to_path_buf(),
            source,
        })?;
        self.node
            .validate()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        if !self.trust.anchors.is_empty() {
            self.trust.anchor_keys().map_err(|e| ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("trust: {e}"),
            })?;
        }
        Ok(())
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
cache_mb = 256
# Import refuses a longer line, without parsing it.
max_line_bytes = 1048576

# Local makers and spellings beyond the federation's maker reference table
# (config/makers.toml, built in). Local only: other States' nodes do not know
# them, so prefer asking for an addition to the reference table. Changing this
# rebuilds the registry's index at the next start.
# [[makers]]
# name = "Acme Arms"
# aliases = ["AA Works", "Acme Arms Factory"]
# countries = ["DE"]   # where these spellings mean this maker; none: everywhere
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
        assert_eq!(cfg.registry.cache_mb, 256);
    }

    #[test]
    fn the_annotated_example_parses_and_documents_every_key() {
        let text = include_str!("../config/node.toml");
        let cfg = Config::parse(Path::new("config/node.toml"), text).unwrap();
        assert_eq!(cfg.makers.len(), 1);
        let doc: toml::Table = toml::from_str(text).unwrap();
        let defaults = toml::Table::try_from(Config {
            state: CountryCode::parse("DE").unwrap(),
            registry: RegistryConfig::default(),
            makers: Vec::new(),
            node: NodeSettings::default(),
            trust: TrustConfig::default(),
        })
        .unwrap();
        for section in ["registry", "node"] {
            for key in defaults[section].as_table().unwrap().keys() {
                let documented = doc[section].as_table().unwrap().contains_key(key);
                assert!(documented, "config/node.toml lacks {section}.{key}");
            }
        }
    }

    #[test]
    fn environment_variables_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, Config::template(CountryCode::parse("DE").unwrap())).unwrap();
        let vars = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let cfg = Config::load_with_env(
            &p,
            &vars(&[
                ("TRACENET_STATE", "NG"),
                ("TRACENET_NODE__API_LISTEN", "127.0.0.1:9999"),
                ("TRACENET_NODE__LISTEN", "[\"/ip4/127.0.0.1/tcp/5000\"]"),
                ("TRACENET_REGISTRY__CACHE_MB", "64"),
                ("TRACENET_DATA_DIR", "/elsewhere"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.state.as_str(), "NG");
        assert_eq!(cfg.node.api_listen, "127.0.0.1:9999");
        assert_eq!(cfg.node.listen, vec!["/ip4/127.0.0.1/tcp/5000"]);
        assert_eq!(cfg.registry.cache_mb, 64);
        let e = Config::load_with_env(&p, &vars(&[("TRACENET_NODE__NO_SUCH", "1")])).unwrap_err();
        assert!(e.to_string().contains("no_such"), "{e}");
        let e = Config::load_with_env(&p, &vars(&[("TRACENET_NODE__API_LISTEN", "0.0.0.0:7701")]))
            .unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
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
