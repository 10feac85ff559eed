//! The one declaration of every setting. Each entry names its file key
//! (the flag is the key with dashes, `--cache-mb`; the environment
//! variable is `TRUCE_` and the key in capitals, `TRUCE_CACHE_MB`), the
//! group of flags it belongs to, its help, the [`Settings`] field it sets
//! with that field's default, how a value becomes the field (`parse`,
//! shared by flags, environment and file) and how the field is shown
//! again (`show`, for `truced config` and the defaults in `--help`).
//! The macro turns the list into [`Setting`] and [`Settings`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use super::{
    DEFAULT_CACHE_BYTES, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT_PER_SEC,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_STREAM_BUFFER_BYTES, DEFAULT_STREAM_STALL_TIMEOUT,
    DEFAULT_STREAM_WRITE_BUFFER_BYTES, DEFAULT_STREAM_WRITE_WINDOW, Group, LogFormat,
    value::{FromValue, Kind, Value},
};
use crate::access::TokenEntry;

const MIB: u64 = 1024 * 1024;

macro_rules! settings {
    ($(
        $variant:ident {
            key: $key:literal,
            group: $group:ident,
            value_name: $value_name:literal,
            help: $help:literal,
            $(choices: [$($choice:literal),*],)?
            field: $field:ident: $ty:ty = $default:expr,
            parse: |$v:ident: $vty:ty| $parse:expr,
            show: |$f:ident| $show:expr $(,)?
        }
    ),* $(,)?) => {
        /// One setting of `truced`; [`Setting::ALL`] lists them in the
        /// order `truced config` prints them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Setting {
            $($variant),*
        }

        impl Setting {
            /// Every setting, in declaration order.
            pub const ALL: &'static [Setting] = &[$(Setting::$variant),*];

            /// The config-file key.
            pub const fn key(self) -> &'static str {
                match self { $(Self::$variant => $key),* }
            }

            /// The group of flags it belongs to.
            pub const fn group(self) -> Group {
                match self { $(Self::$variant => Group::$group),* }
            }

            /// What its value is, in the usage line (`--cache-mb <MIB>`).
            pub const fn value_name(self) -> &'static str {
                match self { $(Self::$variant => $value_name),* }
            }

            /// What it means.
            pub const fn help(self) -> &'static str {
                match self { $(Self::$variant => $help),* }
            }

            /// The values it takes, where they are a fixed list.
            pub const fn choices(self) -> &'static [&'static str] {
                match self { $(Self::$variant => &[$($($choice),*)?]),* }
            }

            /// The type of its value (string, integer or boolean).
            pub const fn kind(self) -> Kind {
                match self { $(Self::$variant => <$vty as FromValue>::KIND),* }
            }

            /// Sets its field from a value (of its kind), checking it.
            pub(super) fn set(self, settings: &mut Settings, value: &Value) -> Result<(), String> {
                match self {
                    $(Self::$variant => {
                        let $v: $vty = FromValue::from_value(value)?;
                        settings.$field = $parse?;
                    })*
                }
                Ok(())
            }

            /// Its field's value, as a value of its kind.
            pub fn get(self, settings: &Settings) -> Value {
                match self {
                    $(Self::$variant => {
                        let $f: &$ty = &settings.$field;
                        $show
                    })*
                }
            }
        }

        /// Everything the daemon needs to run: one field per [`Setting`],
        /// and the tokens of the config file.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(
                #[doc = concat!("`", $key, "`: ", $help)]
                pub $field: $ty,
            )*
            /// The tokens that may call (empty: access is open, as
            /// "anonymous"); `[[token]]` tables of the config file.
            pub tokens: Vec<TokenEntry>,
        }

        impl Default for Settings {
            fn default() -> Self {
                Self {
                    $($field: $default,)*
                    tokens: Vec::new(),
                }
            }
        }
    };
}

settings! {
    Listen {
        key: "listen",
        group: Serve,
        value_name: "ADDR",
        help: "address to serve gRPC on",
        field: listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 50051)),
        parse: |v: String| address(&v, "127.0.0.1:50051"),
        show: |f| Value::Str(f.to_string()),
    },
    MetricsListen {
        key: "metrics_listen",
        group: Serve,
        value_name: "ADDR",
        help: "address to serve Prometheus metrics on, GET /metrics over plain HTTP (empty: no metrics endpoint)",
        field: metrics_listen: Option<SocketAddr> = None,
        parse: |v: String| match v.as_str() {
            "" => Ok(None),
            v => address(v, "127.0.0.1:9464").map(Some),
        },
        show: |f| Value::Str(f.map(|a| a.to_string()).unwrap_or_default()),
    },
    HttpListen {
        key: "http_listen",
        group: Serve,
        value_name: "ADDR",
        help: "address to serve the read-only web view on, plain HTTP (empty: no web view; by default 127.0.0.1:8080, skipped with a warning if that port is taken)",
        field: http_listen: HttpListen = HttpListen::Default,
        parse: |v: String| match v.as_str() {
            "" => Ok(HttpListen::Off),
            v => address(v, "127.0.0.1:8080").map(HttpListen::from),
        },
        show: |f| Value::Str(f.addr().map(|a| a.to_string()).unwrap_or_default()),
    },
    HttpAnonymous {
        key: "http_anonymous",
        group: Serve,
        value_name: "BOOL",
        help: "let the web view be read without a token when tokens are configured (off: a reader token is asked for)",
        field: http_anonymous: bool = false,
        parse: |v: bool| Ok::<_, String>(v),
        show: |f| Value::Bool(*f),
    },
    HttpComplianceCache {
        key: "http_compliance_cache",
        group: Serve,
        value_name: "N",
        help: "compliance reports the web view keeps, by agreement and log sequence, so an agreement page is computed once per new entry (0: none kept)",
        field: http_compliance_cache: usize = 16,
        parse: |v: u64| usize::try_from(v).map_err(|_| format!("{v} is too large")),
        show: |f| Value::Int(int(*f)),
    },
    HttpLiveBuffer {
        key: "http_live_buffer",
        group: Serve,
        value_name: "N",
        help: "live updates queued for one web page before it is told to reload",
        field: http_live_buffer: usize = 64,
        parse: |v: u64| small(v, 1).map(|v| v as usize),
        show: |f| Value::Int(int(*f)),
    },
    TlsCert {
        key: "tls_cert",
        group: Serve,
        value_name: "FILE",
        help: "PEM certificate chain to serve TLS with (empty: plaintext)",
        field: tls_cert: Option<PathBuf> = None,
        parse: |v: String| Ok::<_, String>(path(v)),
        show: |f| show_path(f),
    },
    TlsKey {
        key: "tls_key",
        group: Serve,
        value_name: "FILE",
        help: "PEM private key of tls_cert",
        field: tls_key: Option<PathBuf> = None,
        parse: |v: String| Ok::<_, String>(path(v)),
        show: |f| show_path(f),
    },
    TlsClientCa {
        key: "tls_client_ca",
        group: Serve,
        value_name: "FILE",
        help: "PEM CA certificates that client certificates must chain to (mutual TLS; empty: none asked)",
        field: tls_client_ca: Option<PathBuf> = None,
        parse: |v: String| Ok::<_, String>(path(v)),
        show: |f| show_path(f),
    },
    Insecure {
        key: "insecure",
        group: Serve,
        value_name: "BOOL",
        help: "allow a non-loopback listen address without TLS and tokens (logs a warning)",
        field: insecure: bool = false,
        parse: |v: bool| Ok::<_, String>(v),
        show: |f| Value::Bool(*f),
    },
    DataDir {
        key: "data_dir",
        group: Store,
        value_name: "DIR",
        help: "directory that holds the log",
        field: data_dir: PathBuf = PathBuf::from(super::DEFAULT_DATA_DIR),
        parse: |v: String| Ok::<_, String>(PathBuf::from(v)),
        show: |f| Value::Str(f.display().to_string()),
    },
    SigningKey {
        key: "signing_key",
        group: Key,
        value_name: "FILE",
        help: "checkpoint signing key file (empty: checkpoint.key in the data dir, created on first start)",
        field: signing_key: Option<PathBuf> = None,
        parse: |v: String| Ok::<_, String>(path(v)),
        show: |f| show_path(f),
    },
    LogOrigin {
        key: "log_origin",
        group: Key,
        value_name: "ORIGIN",
        help: "the log's name in checkpoints (empty: truce/ and 16 hex digits of the key's hash)",
        field: log_origin: Option<String> = None,
        parse: |v: String| Ok::<_, String>((!v.is_empty()).then_some(v)),
        show: |f| Value::Str(f.clone().unwrap_or_default()),
    },
    LogFormat {
        key: "log_format",
        group: Store,
        value_name: "FORMAT",
        help: "log line format: pretty or json (the level comes from TRUCE_LOG)",
        choices: ["pretty", "json"],
        field: log_format: LogFormat = LogFormat::Pretty,
        parse: |v: String| LogFormat::parse(&v),
        show: |f| Value::Str(f.name().to_owned()),
    },
    CacheMb {
        key: "cache_mb",
        group: Store,
        value_name: "MIB",
        help: "the sled page cache, MiB",
        field: cache_bytes: u64 = DEFAULT_CACHE_BYTES,
        parse: |v: u64| v.checked_mul(MIB).ok_or_else(|| format!("{v} is too large")),
        show: |f| Value::Int(f / MIB),
    },
    LogSegmentMb {
        key: "log_segment_mb",
        group: Store,
        value_name: "MIB",
        help: "largest entry-log segment, MiB (segments start at 1 MiB and double up to it; at least 1)",
        field: segment_bytes: u64 = crate::store::DEFAULT_SEGMENT_BYTES,
        parse: |v: u64| v
            .checked_mul(MIB)
            .filter(|b| *b >= crate::store::MIN_SEGMENT_BYTES)
            .ok_or_else(|| format!("{v} is not between 1 and 2^44")),
        show: |f| Value::Int(f / MIB),
    },
    MaxMessageBytes {
        key: "max_message_bytes",
        group: Serve,
        value_name: "BYTES",
        help: "largest request message accepted, bytes (larger: OUT_OF_RANGE)",
        field: max_message_bytes: usize = DEFAULT_MAX_MESSAGE_BYTES,
        parse: |v: u64| usize::try_from(v)
            .ok()
            .filter(|v| *v >= 64 * 1024 + 1024)
            .ok_or_else(|| format!("{v} is below 66560 (an entry of 64 KiB must fit)")),
        show: |f| Value::Int(int(*f)),
    },
    MaxSubscriptions {
        key: "max_subscriptions",
        group: Serve,
        value_name: "N",
        help: "concurrent Subscribe streams at most (more: RESOURCE_EXHAUSTED)",
        field: max_subscriptions: usize = 10_000,
        parse: |v: u64| usize::try_from(v).map_err(|_| format!("{v} is too large")),
        show: |f| Value::Int(int(*f)),
    },
    StreamWriteWindow {
        key: "stream_write_window",
        group: Serve,
        value_name: "N",
        help: "envelopes a WriteStream may have in flight (read, not yet answered); the daemon stops reading the stream while that many are (at least 1)",
        field: stream_write_window: usize = DEFAULT_STREAM_WRITE_WINDOW,
        parse: |v: u64| usize::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("{v} is not between 1 and 2^63")),
        show: |f| Value::Int(int(*f)),
    },
    StreamWriteBufferMb {
        key: "stream_write_buffer_mb",
        group: Serve,
        value_name: "MIB",
        help: "bytes of envelopes held in flight by all WriteStreams together, MiB; a stream waits, unread, for room (at least 1)",
        field: stream_write_buffer_bytes: usize = DEFAULT_STREAM_WRITE_BUFFER_BYTES,
        parse: |v: u64| v
            .checked_mul(MIB)
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("{v} is not between 1 and 2^44")),
        show: |f| Value::Int(int(*f) / MIB),
    },
    MinFreeDiskMb {
        key: "min_free_disk_mb",
        group: Serve,
        value_name: "MIB",
        help: "appends are refused (RESOURCE_EXHAUSTED) while the data dir's filesystem has less free space, MiB (0: no check)",
        field: min_free_disk_bytes: u64 = 64 * MIB,
        parse: |v: u64| Ok::<_, String>(v.saturating_mul(MIB)),
        show: |f| Value::Int(f / MIB),
    },
    ScrubIntervalSecs {
        key: "scrub_interval_secs",
        group: Serve,
        value_name: "SECS",
        help: "seconds between background scrubs, which re-hash the whole entry log against the Merkle tree and the last checkpoint (0: no periodic scrub)",
        field: scrub_interval: Duration = Duration::from_secs(6 * 3600),
        parse: |v: u64| Ok::<_, String>(Duration::from_secs(v)),
        show: |f| Value::Int(f.as_secs()),
    },
    ScrubMbPerSec {
        key: "scrub_mb_per_sec",
        group: Serve,
        value_name: "MIB",
        help: "entry bytes the scrub re-hashes per second at most, MiB (0: no limit)",
        field: scrub_bytes_per_sec: u64 = 32 * MIB,
        parse: |v: u64| Ok::<_, String>(v.saturating_mul(MIB)),
        show: |f| Value::Int(f / MIB),
    },
    RateLimitPerSec {
        key: "rate_limit_per_sec",
        group: Serve,
        value_name: "N",
        help: "requests per second per token, all anonymous callers sharing one (more: RESOURCE_EXHAUSTED; 0: no limit)",
        field: rate_limit_per_sec: u32 = DEFAULT_RATE_LIMIT_PER_SEC,
        parse: |v: u64| small(v, 0),
        show: |f| Value::Int(u64::from(*f)),
    },
    RateLimitBurst {
        key: "rate_limit_burst",
        group: Serve,
        value_name: "N",
        help: "requests a caller may make at once before the rate applies",
        field: rate_limit_burst: u32 = DEFAULT_RATE_LIMIT_BURST,
        parse: |v: u64| small(v, 1),
        show: |f| Value::Int(u64::from(*f)),
    },
    MaxConcurrentStreams {
        key: "max_concurrent_streams",
        group: Serve,
        value_name: "N",
        help: "concurrent calls (HTTP/2 streams) per connection",
        field: max_concurrent_streams: u32 = DEFAULT_MAX_CONCURRENT_STREAMS,
        parse: |v: u64| small(v, 1),
        show: |f| Value::Int(u64::from(*f)),
    },
    RequestTimeoutMs {
        key: "request_timeout_ms",
        group: Serve,
        value_name: "MS",
        help: "deadline of a unary call, ms (past it: DEADLINE_EXCEEDED; streams exempt; 0: none)",
        field: request_timeout: Duration = DEFAULT_REQUEST_TIMEOUT,
        parse: |v: u64| Ok::<_, String>(Duration::from_millis(v)),
        show: |f| Value::Int(millis(*f)),
    },
    StreamBufferMb {
        key: "stream_buffer_mb",
        group: Serve,
        value_name: "MIB",
        help: "bytes buffered toward clients that have not read them yet, all streams and ReadLog together, MiB (each stream queues at most 1/64 of it; at least 1)",
        field: stream_buffer_bytes: usize = DEFAULT_STREAM_BUFFER_BYTES,
        parse: |v: u64| v
            .checked_mul(MIB)
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("{v} is not between 1 and 2^44")),
        show: |f| Value::Int(int(*f) / MIB),
    },
    StreamStallTimeoutMs {
        key: "stream_stall_timeout_ms",
        group: Serve,
        value_name: "MS",
        help: "how long a stream waits for its client to read, or for stream_buffer_mb, before it ends with RESOURCE_EXHAUSTED, ms",
        field: stream_stall_timeout: Duration = DEFAULT_STREAM_STALL_TIMEOUT,
        parse: |v: u64| Ok::<_, String>(Duration::from_millis(v)),
        show: |f| Value::Int(millis(*f)),
    },
    HandshakeTimeoutMs {
        key: "handshake_timeout_ms",
        group: Serve,
        value_name: "MS",
        help: "how long a new connection has to complete its opening (TLS handshake, HTTP/2 preface and SETTINGS) before it is closed, ms (0: no limit)",
        field: handshake_timeout: Duration = DEFAULT_HANDSHAKE_TIMEOUT,
        parse: |v: u64| Ok::<_, String>(Duration::from_millis(v)),
        show: |f| Value::Int(millis(*f)),
    },
    IdleTimeoutSecs {
        key: "idle_timeout_secs",
        group: Serve,
        value_name: "SECS",
        help: "a connection that sends nothing for this long is closed, s (keepalive answers count; 0: never)",
        field: idle_timeout: Duration = DEFAULT_IDLE_TIMEOUT,
        parse: |v: u64| Ok::<_, String>(Duration::from_secs(v)),
        show: |f| Value::Int(f.as_secs()),
    },
    KeepaliveIntervalSecs {
        key: "keepalive_interval_secs",
        group: Serve,
        value_name: "SECS",
        help: "HTTP/2 keepalive: ping a connection that has been quiet this long, s (also TCP keepalive; 0: off)",
        field: keepalive_interval: Duration = DEFAULT_KEEPALIVE_INTERVAL,
        parse: |v: u64| Ok::<_, String>(Duration::from_secs(v)),
        show: |f| Value::Int(f.as_secs()),
    },
    KeepaliveTimeoutSecs {
        key: "keepalive_timeout_secs",
        group: Serve,
        value_name: "SECS",
        help: "HTTP/2 keepalive: close a connection whose ping is not answered within this, s",
        field: keepalive_timeout: Duration = DEFAULT_KEEPALIVE_TIMEOUT,
        parse: |v: u64| Ok::<_, String>(Duration::from_secs(v)),
        show: |f| Value::Int(f.as_secs()),
    },
    ShutdownPauseMs {
        key: "shutdown_pause_ms",
        group: Serve,
        value_name: "MS",
        help: "pause between health NOT_SERVING and closing the listener, ms",
        field: shutdown_pause: Duration = Duration::from_millis(500),
        parse: |v: u64| Ok::<_, String>(Duration::from_millis(v)),
        show: |f| Value::Int(millis(*f)),
    },
    ShutdownGraceSecs {
        key: "shutdown_grace_secs",
        group: Serve,
        value_name: "SECS",
        help: "how long in-flight requests (gRPC calls and web pages) may take to finish at shutdown, s",
        field: shutdown_grace: Duration = Duration::from_secs(10),
        parse: |v: u64| Ok::<_, String>(Duration::from_secs(v)),
        show: |f| Value::Int(f.as_secs()),
    },
    MinSequenceWaitMs {
        key: "min_sequence_wait_ms",
        group: Serve,
        value_name: "MS",
        help: "how long a call that asks for a minimum sequence (metadata truce-min-sequence) waits for this daemon to reach it before UNAVAILABLE, ms",
        field: min_sequence_wait: Duration = Duration::from_secs(5),
        parse: |v: u64| Ok::<_, String>(Duration::from_millis(v)),
        show: |f| Value::Int(millis(*f)),
    },
    ClusterEtcd {
        key: "cluster_etcd",
        group: Serve,
        value_name: "URLS",
        help: "cluster mode: etcd's client URLs, comma-separated (empty: a single node; needs the cluster feature)",
        field: cluster_etcd: Vec<String> = Vec::new(),
        parse: |v: String| Ok::<_, String>(v.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()),
        show: |f| Value::Str(f.join(",")),
    },
    ReplicaName {
        key: "replica_name",
        group: Serve,
        value_name: "NAME",
        help: "cluster mode: this replica's name, unique in the cluster",
        field: replica_name: String = String::new(),
        parse: |v: String| Ok::<_, String>(v),
        show: |f| Value::Str(f.clone()),
    },
    ClusterPrefix {
        key: "cluster_prefix",
        group: Serve,
        value_name: "PREFIX",
        help: "cluster mode: the prefix of the cluster's keys in etcd",
        field: cluster_prefix: String = "truce".to_owned(),
        parse: |v: String| if v.is_empty() { Err("the prefix is empty".to_owned()) } else { Ok(v) },
        show: |f| Value::Str(f.clone()),
    },
    ClusterAdvertiseUrl {
        key: "cluster_advertise_url",
        group: Serve,
        value_name: "URL",
        help: "cluster mode: the URL other replicas forward writes to while this one is the writer (empty: http:// and the address it listens on)",
        field: cluster_advertise_url: String = String::new(),
        parse: |v: String| Ok::<_, String>(v),
        show: |f| Value::Str(f.clone()),
    },
    ClusterLeaseSecs {
        key: "cluster_lease_secs",
        group: Serve,
        value_name: "SECS",
        help: "cluster mode: the writer lease's time to live, s (at least 2): a writer that stops answering holds up writes this long",
        field: cluster_lease: Duration = Duration::from_secs(3),
        parse: |v: u64| if v < 2 { Err(format!("{v} is under 2")) } else { Ok(Duration::from_secs(v)) },
        show: |f| Value::Int(f.as_secs()),
    },
    ClusterTimeoutMs {
        key: "cluster_timeout_ms",
        group: Serve,
        value_name: "MS",
        help: "cluster mode: how long one etcd call may take before the write is refused with UNAVAILABLE (and a follower's wait for new entries), ms",
        field: cluster_timeout: Duration = Duration::from_secs(5),
        parse: |v: u64| if v == 0 { Err("0 would never wait".to_owned()) } else { Ok(Duration::from_millis(v)) },
        show: |f| Value::Int(millis(*f)),
    },
    ClusterTxnEntries {
        key: "cluster_txn_entries",
        group: Serve,
        value_name: "N",
        help: "cluster mode: entries per etcd transaction at most (and 1 MiB; etcd takes 128 operations per transaction by default)",
        field: cluster_txn_entries: usize = 100,
        parse: |v: u64| usize::try_from(v).ok().filter(|v| (1..=127).contains(v)).ok_or_else(|| format!("{v} is not between 1 and 127")),
        show: |f| Value::Int(int(*f)),
    },
    ClusterFetchEntries {
        key: "cluster_fetch_entries",
        group: Serve,
        value_name: "N",
        help: "cluster mode: entries one read of etcd's log fetches (and one apply takes) at most",
        field: cluster_fetch_entries: usize = 1024,
        parse: |v: u64| usize::try_from(v).ok().filter(|v| (1..=1024).contains(v)).ok_or_else(|| format!("{v} is not between 1 and 1024")),
        show: |f| Value::Int(int(*f)),
    },
    ClusterCosignQuorum {
        key: "cluster_cosign_quorum",
        group: Serve,
        value_name: "N",
        help: "cluster mode: how many replicas must cosign a checkpoint before it is final and served (0: a majority of the replicas registered in etcd, at least 2; a one-replica cluster sets 1)",
        field: cluster_cosign_quorum: usize = 0,
        parse: |v: u64| usize::try_from(v).ok().filter(|v| *v <= 64).ok_or_else(|| format!("{v} is over 64")),
        show: |f| Value::Int(int(*f)),
    },
    ClusterCompactBatch {
        key: "cluster_compact_batch",
        group: Serve,
        value_name: "N",
        help: "cluster mode: entries the writer deletes from etcd per look at most, once every replica applied them and a quorum-cosigned checkpoint covers them (then etcd's history is compacted); 0: never delete",
        field: cluster_compact_batch: usize = 1000,
        parse: |v: u64| usize::try_from(v).ok().filter(|v| *v <= 10_000).ok_or_else(|| format!("{v} is over 10000")),
        show: |f| Value::Int(int(*f)),
    },
    ClusterPeerTokenFile {
        key: "cluster_peer_token_file",
        group: Serve,
        value_name: "FILE",
        help: "cluster mode: a file holding a reader token for the other replicas, used to copy the log from a peer when etcd no longer holds the entries a replica lacks (empty: none, for replicas without tokens)",
        field: cluster_peer_token_file: Option<PathBuf> = None,
        parse: |v: String| Ok::<_, String>(path(v)),
        show: |f| show_path(f),
    },
    ClusterCosignIntervalMs {
        key: "cluster_cosign_interval_ms",
        group: Serve,
        value_name: "MS",
        help: "cluster mode: how often a replica looks for checkpoints to cosign (and the writer proposes its durable size), ms",
        field: cluster_cosign_interval: Duration = Duration::from_millis(250),
        parse: |v: u64| if v == 0 { Err("0 would never pause".to_owned()) } else { Ok(Duration::from_millis(v)) },
        show: |f| Value::Int(millis(*f)),
    },
}

/// A socket address, or a message with an example of one.
fn address(v: &str, example: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("{v:?} is not an address like {example}"))
}

/// Where the web view listens: the default address, 127.0.0.1:8080,
/// whether given or not (a port in use there only turns the web view off,
/// with a warning, so that several daemons on one machine start), another
/// address (a port in use fails the start, as for `listen`), or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpListen {
    Default,
    At(SocketAddr),
    Off,
}

/// The web view's default address: loopback only.
pub const DEFAULT_HTTP_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

impl From<SocketAddr> for HttpListen {
    /// The default address, even when given, stays the default (so the
    /// example config, which names it, behaves as no config).
    fn from(addr: SocketAddr) -> Self {
        if addr == DEFAULT_HTTP_LISTEN {
            Self::Default
        } else {
            Self::At(addr)
        }
    }
}

impl HttpListen {
    /// The address to bind, if any.
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            Self::Default => Some(DEFAULT_HTTP_LISTEN),
            Self::At(addr) => Some(addr),
            Self::Off => None,
        }
    }
}

/// A file setting: empty means none.
fn path(v: String) -> Option<PathBuf> {
    (!v.is_empty()).then(|| PathBuf::from(v))
}

fn show_path(p: &Option<PathBuf>) -> Value {
    Value::Str(
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    )
}

/// A count that fits a u32, at least `min`.
fn small(v: u64, min: u32) -> Result<u32, String> {
    u32::try_from(v)
        .ok()
        .filter(|v| *v >= min)
        .ok_or_else(|| format!("{v} is not between {min} and {}", u32::MAX))
}

fn int(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
