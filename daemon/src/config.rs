//! The daemon's settings and their defaults. Flags and `TRUCE_*`
//! environment variables fill them in ([`crate::cli`]).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

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

/// Everything the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Between health going NOT_SERVING and the listener closing.
    pub shutdown_pause: Duration,
    /// How long in-flight requests and streams may take to finish after
    /// the listener closes.
    pub shutdown_grace: Duration,
    pub max_message_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            cache_bytes: DEFAULT_CACHE_BYTES,
            shutdown_pause: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}
