//! Settings for `pinbridge`: each comes from a command-line flag, else the TOML file
//! given with `--config`, else an environment variable `PINBRIDGE_<KEY>`, else its
//! default. `docs/configuration.md` lists every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Every key the config file and environment may set, with its default and meaning.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "data_dir",
        "./pinbridge-data",
        "directory of the embedded store (SQLite), its server.key and the mailbox",
    ),
    (
        "database_url",
        "(none)",
        "postgres://… to use PostgreSQL instead of the embedded store",
    ),
    (
        "server_key",
        "(none)",
        "64 hex digits; required with database_url, the same on every node and for the CLI",
    ),
    (
        "http",
        "127.0.0.1:8080",
        "address the web server listens on",
    ),
    (
        "log",
        "info",
        "log filter, as RUST_LOG (e.g. info,pinbridge_store=debug)",
    ),
];

/// The `--config` file and the environment, read once.
pub struct Sources {
    file: BTreeMap<String, toml::Value>,
    file_path: Option<PathBuf>,
    env: BTreeMap<String, String>,
}

impl Sources {
    pub fn load(config_file: Option<&Path>) -> Result<Self, String> {
        let mut file = BTreeMap::new();
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
            for (key, value) in table {
                if !KEYS.iter().any(|(k, _, _)| *k == key) {
                    return Err(format!(
                        "config file {}: unknown key {key:?} (known keys: {})",
                        path.display(),
                        KEYS.iter()
                            .map(|(k, _, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                file.insert(key, value);
            }
        }
        let env = KEYS
            .iter()
            .filter_map(|(key, _, _)| {
                let name = env_name(key);
                std::env::var(&name).ok().map(|v| (key.to_string(), v))
            })
            .collect();
        Ok(Self {
            file,
            file_path: config_file.map(Path::to_path_buf),
            env,
        })
    }

    /// The value of `key`: the flag if given, else the file, else the environment.
    pub fn get<T: FromStr>(&self, key: &str, flag: Option<T>) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        debug_assert!(
            KEYS.iter().any(|(k, _, _)| *k == key),
            "undocumented key {key}"
        );
        if flag.is_some() {
            return Ok(flag);
        }
        if let Some(value) = self.file.get(key) {
            let path = self.file_path.as_deref().unwrap_or(Path::new("?"));
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "config file {}: {key}: expected text, a number or true/false",
                        path.display()
                    ));
                }
            };
            return text
                .parse()
                .map(Some)
                .map_err(|e| format!("config file {}: {key}: {e}", path.display()));
        }
        if let Some(text) = self.env.get(key) {
            return text
                .parse()
                .map(Some)
                .map_err(|e| format!("{}: {e}", env_name(key)));
        }
        Ok(None)
    }
}

pub fn env_name(key: &str) -> String {
    format!("PINBRIDGE_{}", key.to_ascii_uppercase())
}
