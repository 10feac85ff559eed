//! The daemon's settings: their defaults, the TOML config file, and how
//! the sources combine. Precedence: flags > `TRUCE_*` environment
//! variables > the config file (`--config`) > defaults. Every setting has
//! all four; [`SETTINGS`] lists them (and `deploy/truced.example.toml`
//! must list the same, which a test checks).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./truce-data";
/// Default sled page cache.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// The largest request message accepted (tonic answers OUT_OF_RANGE past
/// it). Entries are capped at 64 KiB, so this leaves room for framing and
/// for reads' small requests.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// One setting: its config-file key, flag, environment variable, default
/// and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every setting of `truced`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        flag: "--listen",
        env: "TRUCE_LISTEN",
        default: "127.0.0.1:50051",
        help: "address to serve gRPC on",
    },
    Setting {
        key: "data_dir",
        flag: "--data-dir",
        env: "TRUCE_DATA_DIR",
        default: "./truce-data",
        help: "directory that holds the log",
    },
    Setting {
        key: "signing_key",
        flag: "--signing-key",
        env: "TRUCE_SIGNING_KEY",
        default: "",
        help: "checkpoint signing key file (empty: checkpoint.key in the data dir, created on first start)",
    },
    Setting {
        key: "log_origin",
        flag: "--log-origin",
        env: "TRUCE_LOG_ORIGIN",
        default: "",
        help: "the log's name in checkpoints (empty: truce/ and 16 hex digits of the key's hash)",
    },
    Setting {
        key: "log_format",
        flag: "--log-format",
        env: "TRUCE_LOG_FORMAT",
        default: "pretty",
        help: "log line format: pretty or json (the level comes from TRUCE_LOG)",
    },
    Setting {
        key: "cache_mb",
        flag: "--cache-mb",
        env: "TRUCE_CACHE_MB",
        default: "256",
        help: "sled page cache, MiB",
    },
    Setting {
        key: "max_message_bytes",
        flag: "--max-message-bytes",
        env: "TRUCE_MAX_MESSAGE_BYTES",
        default: "1048576",
        help: "largest request message accepted, bytes (larger: OUT_OF_RANGE)",
    },
    Setting {
        key: "max_subscriptions",
        flag: "--max-subscriptions",
        env: "TRUCE_MAX_SUBSCRIPTIONS",
        default: "10000",
        help: "concurrent Subscribe streams at most (more: RESOURCE_EXHAUSTED)",
    },
    Setting {
        key: "shutdown_pause_ms",
        flag: "--shutdown-pause-ms",
        env: "TRUCE_SHUTDOWN_PAUSE_MS",
        default: "500",
        help: "pause between health NOT_SERVING and closing the listener, ms",
    },
    Setting {
        key: "shutdown_grace_secs",
        flag: "--shutdown-grace-secs",
        env: "TRUCE_SHUTDOWN_GRACE_SECS",
        default: "10",
        help: "how long in-flight requests may take to finish at shutdown, s",
    },
];

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
}

/// Everything the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Between health going NOT_SERVING and the listener closing.
    pub shutdown_pause: Duration,
    /// How long in-flight requests and streams may take to finish after
    /// the listener closes.
    pub shutdown_grace: Duration,
    pub max_message_bytes: usize,
    /// Concurrent Subscribe streams at most.
    pub max_subscriptions: usize,
    /// Checkpoint signing key file (None: in the data dir).
    pub signing_key: Option<PathBuf>,
    /// The log's origin line (None: derived from the key).
    pub log_origin: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            log_format: LogFormat::Pretty,
            cache_bytes: DEFAULT_CACHE_BYTES,
            shutdown_pause: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_subscriptions: 10_000,
            signing_key: None,
            log_origin: None,
        }
    }
}

/// A config file as written: every key optional, no unknown keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub signing_key: Option<PathBuf>,
    pub log_origin: Option<String>,
    pub log_format: Option<String>,
    pub cache_mb: Option<u64>,
    pub max_message_bytes: Option<u64>,
    pub max_subscriptions: Option<u64>,
    pub shutdown_pause_ms: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
}

/// A bad config file or value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {key}: {message}")]
    Value {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: describe(&text, &e),
        })
    }

    /// Applies the file's values over `settings`.
    pub fn apply(&self, path: &Path, settings: &mut Settings) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: String| ConfigError::Value {
            path: path.to_owned(),
            key,
            message,
        };
        if let Some(v) = &self.listen {
            settings.listen = v.parse().map_err(|_| {
                bad(
                    "listen",
                    format!("{v:?} is not an address like 127.0.0.1:50051"),
                )
            })?;
        }
        if let Some(v) = &self.data_dir {
            settings.data_dir = v.clone();
        }
        if let Some(v) = &self.signing_key {
            settings.signing_key = (!v.as_os_str().is_empty()).then(|| v.clone());
        }
        if let Some(v) = &self.log_origin {
            settings.log_origin = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(v) = &self.log_format {
            settings.log_format = match v.as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => return Err(bad("log_format", format!("{v:?} is not pretty or json"))),
            };
        }
        if let Some(v) = self.cache_mb {
            settings.cache_bytes = v
                .checked_mul(1024 * 1024)
                .ok_or_else(|| bad("cache_mb", format!("{v} is too large")))?;
        }
        if let Some(v) = self.max_message_bytes {
            settings.max_message_bytes = usize::try_from(v)
                .ok()
                .filter(|v| *v >= 64 * 1024 + 1024)
                .ok_or_else(|| {
                    bad(
                        "max_message_bytes",
                        format!("{v} is below 66560 (an entry of 64 KiB must fit)"),
                    )
                })?;
        }
        if let Some(v) = self.max_subscriptions {
            settings.max_subscriptions = usize::try_from(v)
                .map_err(|_| bad("max_subscriptions", format!("{v} is too large")))?;
        }
        if let Some(v) = self.shutdown_pause_ms {
            settings.shutdown_pause = Duration::from_millis(v);
        }
        if let Some(v) = self.shutdown_grace_secs {
            settings.shutdown_grace = Duration::from_secs(v);
        }
        Ok(())
    }
}

/// A parse error with its line and, where there is one, the key.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => {
            format!("line {line_no}: {}: {}", key.trim(), e.message())
        }
        _ => format!("line {line_no}: {}", e.message()),
    }
}

/// The effective settings as TOML, in [`SETTINGS`] order.
pub fn to_toml(s: &Settings) -> String {
    let value = |key: &str| match key {
        "listen" => format!("{:?}", s.listen.to_string()),
        "data_dir" => format!("{:?}", s.data_dir.display().to_string()),
        "log_format" => format!("{:?}", s.log_format.name()),
        "signing_key" => format!(
            "{:?}",
            s.signing_key
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        "log_origin" => format!("{:?}", s.log_origin.clone().unwrap_or_default()),
        "cache_mb" => (s.cache_bytes / (1024 * 1024)).to_string(),
        "max_message_bytes" => s.max_message_bytes.to_string(),
        "max_subscriptions" => s.max_subscriptions.to_string(),
        "shutdown_pause_ms" => s.shutdown_pause.as_millis().to_string(),
        "shutdown_grace_secs" => s.shutdown_grace.as_secs().to_string(),
        _ => String::new(),
    };
    SETTINGS
        .iter()
        .map(|st| format!("{} = {}\n", st.key, value(st.key)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../deploy/truced.example.toml");

    #[test]
    fn the_example_config_lists_every_setting_with_its_default() {
        let table: toml::Table = toml::from_str(EXAMPLE).expect("the example parses");
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let settings: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        let mut a = keys.clone();
        let mut b = settings.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "the example and SETTINGS list the same keys");
        // Every key is known to the file format.
        let file: FileConfig = toml::from_str(EXAMPLE).expect("the example is a valid config");
        let mut settings = Settings::default();
        file.apply(Path::new("example"), &mut settings)
            .expect("valid values");
        // And each value is the default.
        assert_eq!(to_toml(&settings), to_toml(&Settings::default()));
        for s in SETTINGS {
            let v = &table[s.key];
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            assert_eq!(shown, s.default, "{}", s.key);
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_setting() {
        let err = toml::from_str::<FileConfig>("listne = \"x\"").unwrap_err();
        assert!(err.message().contains("listne"), "{err}");
        let file: FileConfig = toml::from_str("listen = \"nowhere\"").unwrap();
        let err = file
            .apply(Path::new("/etc/truce.toml"), &mut Settings::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/truce.toml") && err.contains("listen"),
            "{err}"
        );
    }
}
