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

use crate::access::{Role, TokenEntry, tokens};

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
/// Requests per second per token (and for all anonymous callers together).
pub const DEFAULT_RATE_LIMIT_PER_SEC: u32 = 20_000;
/// Requests a caller may make at once before the rate applies.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 40_000;
/// Concurrent HTTP/2 streams (calls) per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Deadline of a unary call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes buffered toward clients, all streams together.
pub const DEFAULT_STREAM_BUFFER_BYTES: usize = 64 * 1024 * 1024;
/// How long a stream may wait for its client to read.
pub const DEFAULT_STREAM_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new connection has to answer the server's opening.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may send nothing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Between HTTP/2 keepalive pings on a quiet connection.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a keepalive ping may go unanswered.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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
        key: "metrics_listen",
        flag: "--metrics-listen",
        env: "TRUCE_METRICS_LISTEN",
        default: "",
        help: "address to serve Prometheus metrics on, GET /metrics over plain HTTP (empty: no metrics endpoint)",
    },
    Setting {
        key: "tls_cert",
        flag: "--tls-cert",
        env: "TRUCE_TLS_CERT",
        default: "",
        help: "PEM certificate chain to serve TLS with (empty: plaintext)",
    },
    Setting {
        key: "tls_key",
        flag: "--tls-key",
        env: "TRUCE_TLS_KEY",
        default: "",
        help: "PEM private key of tls_cert",
    },
    Setting {
        key: "tls_client_ca",
        flag: "--tls-client-ca",
        env: "TRUCE_TLS_CLIENT_CA",
        default: "",
        help: "PEM CA certificates that client certificates must chain to (mutual TLS; empty: none asked)",
    },
    Setting {
        key: "insecure",
        flag: "--insecure",
        env: "TRUCE_INSECURE",
        default: "false",
        help: "allow a non-loopback listen address without TLS and tokens (logs a warning)",
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
        key: "log_segment_mb",
        flag: "--log-segment-mb",
        env: "TRUCE_LOG_SEGMENT_MB",
        default: "64",
        help: "largest entry-log segment, MiB (segments start at 1 MiB and double up to it; at least 1)",
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
        key: "min_free_disk_mb",
        flag: "--min-free-disk-mb",
        env: "TRUCE_MIN_FREE_DISK_MB",
        default: "64",
        help: "appends are refused (RESOURCE_EXHAUSTED) while the data dir's filesystem has less free space, MiB (0: no check)",
    },
    Setting {
        key: "scrub_interval_secs",
        flag: "--scrub-interval-secs",
        env: "TRUCE_SCRUB_INTERVAL_SECS",
        default: "21600",
        help: "seconds between background scrubs, which re-hash the whole entry log against the Merkle tree and the last checkpoint (0: no periodic scrub)",
    },
    Setting {
        key: "scrub_mb_per_sec",
        flag: "--scrub-mb-per-sec",
        env: "TRUCE_SCRUB_MB_PER_SEC",
        default: "32",
        help: "entry bytes the scrub re-hashes per second at most, MiB (0: no limit)",
    },
    Setting {
        key: "rate_limit_per_sec",
        flag: "--rate-limit-per-sec",
        env: "TRUCE_RATE_LIMIT_PER_SEC",
        default: "20000",
        help: "requests per second per token, all anonymous callers sharing one (more: RESOURCE_EXHAUSTED; 0: no limit)",
    },
    Setting {
        key: "rate_limit_burst",
        flag: "--rate-limit-burst",
        env: "TRUCE_RATE_LIMIT_BURST",
        default: "40000",
        help: "requests a caller may make at once before the rate applies",
    },
    Setting {
        key: "max_concurrent_streams",
        flag: "--max-concurrent-streams",
        env: "TRUCE_MAX_CONCURRENT_STREAMS",
        default: "100",
        help: "concurrent calls (HTTP/2 streams) per connection",
    },
    Setting {
        key: "request_timeout_ms",
        flag: "--request-timeout-ms",
        env: "TRUCE_REQUEST_TIMEOUT_MS",
        default: "30000",
        help: "deadline of a unary call, ms (past it: DEADLINE_EXCEEDED; streams exempt; 0: none)",
    },
    Setting {
        key: "stream_buffer_mb",
        flag: "--stream-buffer-mb",
        env: "TRUCE_STREAM_BUFFER_MB",
        default: "64",
        help: "bytes buffered toward clients that have not read them yet, all streams and ReadLog together, MiB (each stream queues at most 1/64 of it; at least 1)",
    },
    Setting {
        key: "stream_stall_timeout_ms",
        flag: "--stream-stall-timeout-ms",
        env: "TRUCE_STREAM_STALL_TIMEOUT_MS",
        default: "30000",
        help: "how long a stream waits for its client to read, or for stream_buffer_mb, before it ends with RESOURCE_EXHAUSTED, ms",
    },
    Setting {
        key: "handshake_timeout_ms",
        flag: "--handshake-timeout-ms",
        env: "TRUCE_HANDSHAKE_TIMEOUT_MS",
        default: "10000",
        help: "how long a new connection has to complete its opening (TLS handshake, HTTP/2 preface and SETTINGS) before it is closed, ms (0: no limit)",
    },
    Setting {
        key: "idle_timeout_secs",
        flag: "--idle-timeout-secs",
        env: "TRUCE_IDLE_TIMEOUT_SECS",
        default: "300",
        help: "a connection that sends nothing for this long is closed, s (keepalive answers count; 0: never)",
    },
    Setting {
        key: "keepalive_interval_secs",
        flag: "--keepalive-interval-secs",
        env: "TRUCE_KEEPALIVE_INTERVAL_SECS",
        default: "60",
        help: "HTTP/2 keepalive: ping a connection that has been quiet this long, s (also TCP keepalive; 0: off)",
    },
    Setting {
        key: "keepalive_timeout_secs",
        flag: "--keepalive-timeout-secs",
        env: "TRUCE_KEEPALIVE_TIMEOUT_SECS",
        default: "20",
        help: "HTTP/2 keepalive: close a connection whose ping is not answered within this, s",
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
    /// Where `GET /metrics` is served (None: nowhere).
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// The largest entry-log segment, in bytes.
    pub segment_bytes: u64,
    /// Between health going NOT_SERVING and the listener closing.
    pub shutdown_pause: Duration,
    /// How long in-flight requests and streams may take to finish after
    /// the listener closes.
    pub shutdown_grace: Duration,
    pub max_message_bytes: usize,
    /// Concurrent Subscribe streams at most.
    pub max_subscriptions: usize,
    /// Appends wait while less disk space than this is free (0: no check).
    pub min_free_disk_bytes: u64,
    /// Between background scrubs (zero: none).
    pub scrub_interval: Duration,
    /// Entry bytes the scrub re-hashes per second (0: no limit).
    pub scrub_bytes_per_sec: u64,
    /// Checkpoint signing key file (None: in the data dir).
    pub signing_key: Option<PathBuf>,
    /// The log's origin line (None: derived from the key).
    pub log_origin: Option<String>,
    /// TLS certificate chain and key (PEM files); None: plaintext.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// CA certificates client certificates must chain to (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// Serve beyond loopback without TLS and tokens.
    pub insecure: bool,
    /// The tokens that may call (empty: access is open, as "anonymous").
    pub tokens: Vec<TokenEntry>,
    /// Requests per second per caller (0: no limit).
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Deadline of unary calls (zero: none).
    pub request_timeout: Duration,
    /// Bytes buffered toward clients, all streams together.
    pub stream_buffer_bytes: usize,
    /// How long a stream waits for its client (or the budget) before it
    /// ends with RESOURCE_EXHAUSTED.
    pub stream_stall_timeout: Duration,
    /// A new connection's opening, at most (zero: no limit).
    pub handshake_timeout: Duration,
    /// A connection that sends nothing this long is closed (zero: never).
    pub idle_timeout: Duration,
    /// HTTP/2 (and TCP) keepalive interval (zero: off).
    pub keepalive_interval: Duration,
    /// An unanswered keepalive ping closes the connection after this.
    pub keepalive_timeout: Duration,
}

impl Settings {
    /// How the store is opened.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            cache_bytes: self.cache_bytes,
            segment_bytes: self.segment_bytes,
        }
    }

    /// What the access layer takes from the settings.
    pub fn access_options(&self) -> crate::access::AccessOptions {
        crate::access::AccessOptions {
            listen: self.listen,
            tls: self.tls_cert.is_some(),
            insecure: self.insecure,
            tokens: self.tokens.clone(),
            rate_limit_per_sec: self.rate_limit_per_sec,
            rate_limit_burst: self.rate_limit_burst,
            request_timeout: self.request_timeout,
        }
    }

    /// The checkpoint signing key's file: the setting, else in the data dir.
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::checkpoint::KEY_FILE))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            log_format: LogFormat::Pretty,
            cache_bytes: DEFAULT_CACHE_BYTES,
            segment_bytes: crate::store::DEFAULT_SEGMENT_BYTES,
            shutdown_pause: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_subscriptions: 10_000,
            min_free_disk_bytes: 64 * 1024 * 1024,
            scrub_interval: Duration::from_secs(6 * 3600),
            scrub_bytes_per_sec: 32 * 1024 * 1024,
            signing_key: None,
            log_origin: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            insecure: false,
            tokens: Vec::new(),
            rate_limit_per_sec: DEFAULT_RATE_LIMIT_PER_SEC,
            rate_limit_burst: DEFAULT_RATE_LIMIT_BURST,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            stream_buffer_bytes: DEFAULT_STREAM_BUFFER_BYTES,
            stream_stall_timeout: DEFAULT_STREAM_STALL_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
        }
    }
}

/// A config file as written: every key optional, no unknown keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub signing_key: Option<PathBuf>,
    pub log_origin: Option<String>,
    pub log_format: Option<String>,
    pub cache_mb: Option<u64>,
    pub log_segment_mb: Option<u64>,
    pub max_message_bytes: Option<u64>,
    pub max_subscriptions: Option<u64>,
    pub min_free_disk_mb: Option<u64>,
    pub shutdown_pause_ms: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub scrub_interval_secs: Option<u64>,
    pub scrub_mb_per_sec: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub rate_limit_per_sec: Option<u64>,
    pub rate_limit_burst: Option<u64>,
    pub max_concurrent_streams: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub stream_buffer_mb: Option<u64>,
    pub stream_stall_timeout_ms: Option<u64>,
    pub handshake_timeout_ms: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub keepalive_interval_secs: Option<u64>,
    pub keepalive_timeout_secs: Option<u64>,
    /// `[[token]]` tables.
    pub token: Option<Vec<FileToken>>,
}

/// One `[[token]]` table: a name, a role and the token's SHA-256 (hex);
/// `truced token new` prints them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToken {
    pub name: String,
    pub role: String,
    pub sha256: String,
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
        if let Some(v) = &self.metrics_listen {
            settings.metrics_listen = match v.as_str() {
                "" => None,
                v => Some(v.parse().map_err(|_| {
                    bad(
                        "metrics_listen",
                        format!("{v:?} is not empty or an address like 127.0.0.1:9464"),
                    )
                })?),
            };
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
        if let Some(v) = self.log_segment_mb {
            settings.segment_bytes = v
                .checked_mul(1024 * 1024)
                .filter(|b| *b >= crate::store::MIN_SEGMENT_BYTES)
                .ok_or_else(|| bad("log_segment_mb", format!("{v} is not between 1 and 2^44")))?;
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
        if let Some(v) = self.min_free_disk_mb {
            settings.min_free_disk_bytes = v.saturating_mul(1024 * 1024);
        }
        if let Some(v) = self.shutdown_pause_ms {
            settings.shutdown_pause = Duration::from_millis(v);
        }
        if let Some(v) = self.shutdown_grace_secs {
            settings.shutdown_grace = Duration::from_secs(v);
        }
        if let Some(v) = self.scrub_interval_secs {
            settings.scrub_interval = Duration::from_secs(v);
        }
        if let Some(v) = self.scrub_mb_per_sec {
            settings.scrub_bytes_per_sec = v.saturating_mul(1024 * 1024);
        }
        self.apply_access(&bad, settings)?;
        self.apply_connections(&bad, settings)?;
        Ok(())
    }

    /// The stream budget and the connections' timeouts.
    fn apply_connections(
        &self,
        bad: &dyn Fn(&'static str, String) -> ConfigError,
        settings: &mut Settings,
    ) -> Result<(), ConfigError> {
        if let Some(v) = self.stream_buffer_mb {
            settings.stream_buffer_bytes = v
                .checked_mul(1024 * 1024)
                .and_then(|b| usize::try_from(b).ok())
                .filter(|b| *b > 0)
                .ok_or_else(|| bad("stream_buffer_mb", format!("{v} is not between 1 and 2^44")))?;
        }
        if let Some(v) = self.stream_stall_timeout_ms {
            settings.stream_stall_timeout = Duration::from_millis(v);
        }
        if let Some(v) = self.handshake_timeout_ms {
            settings.handshake_timeout = Duration::from_millis(v);
        }
        if let Some(v) = self.idle_timeout_secs {
            settings.idle_timeout = Duration::from_secs(v);
        }
        if let Some(v) = self.keepalive_interval_secs {
            settings.keepalive_interval = Duration::from_secs(v);
        }
        if let Some(v) = self.keepalive_timeout_secs {
            settings.keepalive_timeout = Duration::from_secs(v);
        }
        Ok(())
    }

    /// TLS, tokens and limits.
    fn apply_access(
        &self,
        bad: &dyn Fn(&'static str, String) -> ConfigError,
        settings: &mut Settings,
    ) -> Result<(), ConfigError> {
        let path = |v: &PathBuf| (!v.as_os_str().is_empty()).then(|| v.clone());
        if let Some(v) = &self.tls_cert {
            settings.tls_cert = path(v);
        }
        if let Some(v) = &self.tls_key {
            settings.tls_key = path(v);
        }
        if let Some(v) = &self.tls_client_ca {
            settings.tls_client_ca = path(v);
        }
        if let Some(v) = self.insecure {
            settings.insecure = v;
        }
        let small = |key: &'static str, v: u64, min: u32| {
            u32::try_from(v)
                .ok()
                .filter(|v| *v >= min)
                .ok_or_else(|| bad(key, format!("{v} is not between {min} and {}", u32::MAX)))
        };
        if let Some(v) = self.rate_limit_per_sec {
            settings.rate_limit_per_sec = small("rate_limit_per_sec", v, 0)?;
        }
        if let Some(v) = self.rate_limit_burst {
            settings.rate_limit_burst = small("rate_limit_burst", v, 1)?;
        }
        if let Some(v) = self.max_concurrent_streams {
            settings.max_concurrent_streams = small("max_concurrent_streams", v, 1)?;
        }
        if let Some(v) = self.request_timeout_ms {
            settings.request_timeout = Duration::from_millis(v);
        }
        if let Some(list) = &self.token {
            let mut tokens: Vec<TokenEntry> = Vec::with_capacity(list.len());
            for t in list {
                let entry = TokenEntry {
                    name: t.name.clone(),
                    role: t.role.parse::<Role>().map_err(|m| bad("token.role", m))?,
                    sha256: tokens::parse_hash(&t.sha256).map_err(|m| bad("token.sha256", m))?,
                };
                tokens::check_name(&entry.name).map_err(|m| bad("token.name", m))?;
                if tokens.iter().any(|o| o.name == entry.name) {
                    return Err(bad(
                        "token.name",
                        format!("{:?} is listed twice", entry.name),
                    ));
                }
                if tokens.iter().any(|o| o.sha256 == entry.sha256) {
                    return Err(bad(
                        "token.sha256",
                        format!("token {:?} has the hash of another token", entry.name),
                    ));
                }
                tokens.push(entry);
            }
            settings.tokens = tokens;
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
        "metrics_listen" => format!(
            "{:?}",
            s.metrics_listen.map(|a| a.to_string()).unwrap_or_default()
        ),
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
        "log_segment_mb" => (s.segment_bytes / (1024 * 1024)).to_string(),
        "max_message_bytes" => s.max_message_bytes.to_string(),
        "max_subscriptions" => s.max_subscriptions.to_string(),
        "min_free_disk_mb" => (s.min_free_disk_bytes / (1024 * 1024)).to_string(),
        "shutdown_pause_ms" => s.shutdown_pause.as_millis().to_string(),
        "shutdown_grace_secs" => s.shutdown_grace.as_secs().to_string(),
        "scrub_interval_secs" => s.scrub_interval.as_secs().to_string(),
        "scrub_mb_per_sec" => (s.scrub_bytes_per_sec / (1024 * 1024)).to_string(),
        "tls_cert" | "tls_key" | "tls_client_ca" => {
            let p = match key {
                "tls_cert" => &s.tls_cert,
                "tls_key" => &s.tls_key,
                _ => &s.tls_client_ca,
            };
            format!(
                "{:?}",
                p.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        }
        "insecure" => s.insecure.to_string(),
        "rate_limit_per_sec" => s.rate_limit_per_sec.to_string(),
        "rate_limit_burst" => s.rate_limit_burst.to_string(),
        "max_concurrent_streams" => s.max_concurrent_streams.to_string(),
        "request_timeout_ms" => s.request_timeout.as_millis().to_string(),
        "stream_buffer_mb" => (s.stream_buffer_bytes / (1024 * 1024)).to_string(),
        "stream_stall_timeout_ms" => s.stream_stall_timeout.as_millis().to_string(),
        "handshake_timeout_ms" => s.handshake_timeout.as_millis().to_string(),
        "idle_timeout_secs" => s.idle_timeout.as_secs().to_string(),
        "keepalive_interval_secs" => s.keepalive_interval.as_secs().to_string(),
        "keepalive_timeout_secs" => s.keepalive_timeout.as_secs().to_string(),
        _ => String::new(),
    };
    let settings: String = SETTINGS
        .iter()
        .map(|st| format!("{} = {}\n", st.key, value(st.key)))
        .collect();
    // Tokens last: a TOML table ends the top-level keys.
    let tokens: String = s
        .tokens
        .iter()
        .map(|t| {
            format!(
                "\n[[token]]\nname = {:?}\nrole = {:?}\nsha256 = {:?}\n",
                t.name,
                t.role.name(),
                hex::encode(t.sha256)
            )
        })
        .collect();
    settings + &tokens
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

    #[test]
    fn token_tables_are_checked_and_printed_back() {
        let hash = "ab".repeat(32);
        let text = format!(
            "rate_limit_per_sec = 5\n[[token]]\nname = \"m-1\"\nrole = \"reporter\"\nsha256 = \"{hash}\"\n"
        );
        let file: FileConfig = toml::from_str(&text).unwrap();
        let mut settings = Settings::default();
        file.apply(Path::new("t.toml"), &mut settings).unwrap();
        assert_eq!(settings.tokens.len(), 1);
        assert_eq!(settings.tokens[0].role, Role::Reporter);
        assert_eq!(settings.rate_limit_per_sec, 5);
        // `truced config` output is itself a valid config with the same tokens.
        let printed = to_toml(&settings);
        let again: FileConfig = toml::from_str(&printed).unwrap();
        let mut back = Settings::default();
        again.apply(Path::new("p.toml"), &mut back).unwrap();
        assert_eq!(back.tokens, settings.tokens);

        let bad = |extra: &str, key: &str| {
            let text = format!(
                "[[token]]\nname = \"m-1\"\nrole = \"reporter\"\nsha256 = \"{hash}\"\n{extra}"
            );
            let err = match toml::from_str::<FileConfig>(&text) {
                Err(e) => e.to_string(),
                Ok(f) => f
                    .apply(Path::new("t.toml"), &mut Settings::default())
                    .unwrap_err()
                    .to_string(),
            };
            assert!(err.contains(key), "{extra}: {err}");
        };
        bad(
            &format!(
                "[[token]]\nname = \"m-1\"\nrole = \"reader\"\nsha256 = \"{}\"",
                "cd".repeat(32)
            ),
            "token.name",
        );
        bad(
            &format!("[[token]]\nname = \"m-2\"\nrole = \"reader\"\nsha256 = \"{hash}\""),
            "token.sha256",
        );
        bad(
            &format!(
                "[[token]]\nname = \"m-2\"\nrole = \"root\"\nsha256 = \"{}\"",
                "cd".repeat(32)
            ),
            "token.role",
        );
        bad(
            &format!(
                "[[token]]\nname = \"anonymous\"\nrole = \"reader\"\nsha256 = \"{}\"",
                "cd".repeat(32)
            ),
            "token.name",
        );
        bad(
            "[[token]]\nname = \"m-2\"\nrole = \"reader\"\nsha256 = \"xyz\"",
            "token.sha256",
        );
        bad(
            "[[token]]\nname = \"m-2\"\nrole = \"reader\"\nsha256 = \"\"\ntoken = \"secret\"",
            "token",
        );
    }
}
