//! The `truced` command line: flags, environment variables and admin
//! subcommands. `main.rs` only parses and calls [`run`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

use crate::{
    config::{self, Settings},
    server::Daemon,
    store::Store,
    telemetry::{self, LogFormat},
};

/// truced: the Truce ceasefire-record daemon.
#[derive(Debug, Parser)]
#[command(name = "truced", version, about)]
pub struct Args {
    /// Address to serve gRPC on.
    #[arg(long, env = "TRUCE_LISTEN", default_value = config::DEFAULT_LISTEN, global = true)]
    pub listen: SocketAddr,
    /// Directory that holds the log.
    #[arg(long, env = "TRUCE_DATA_DIR", default_value = config::DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
    /// Log format (the level comes from TRUCE_LOG, default info).
    #[arg(
        long,
        env = "TRUCE_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
    /// sled page cache in MiB.
    #[arg(long, env = "TRUCE_CACHE_MB", default_value_t = config::DEFAULT_CACHE_BYTES / (1024 * 1024), global = true)]
    pub cache_mb: u64,
    /// Pause between health NOT_SERVING and closing the listener, in ms.
    #[arg(
        long,
        env = "TRUCE_SHUTDOWN_PAUSE_MS",
        default_value_t = 500,
        global = true
    )]
    pub shutdown_pause_ms: u64,
    /// Grace period for in-flight requests at shutdown, in seconds.
    #[arg(
        long,
        env = "TRUCE_SHUTDOWN_GRACE_SECS",
        default_value_t = 10,
        global = true
    )]
    pub shutdown_grace_secs: u64,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Rebuild every derived tree (indexes, idempotency keys) from the log.
    Reindex,
}

impl Args {
    pub fn settings(&self) -> Settings {
        Settings {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            cache_bytes: self.cache_mb.saturating_mul(1024 * 1024),
            shutdown_pause: Duration::from_millis(self.shutdown_pause_ms),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            ..Settings::default()
        }
    }
}

/// Why `truced` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Start(#[from] crate::server::StartError),
    #[error(transparent)]
    Daemon(#[from] crate::error::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Other(String),
}

/// Runs `truced` with parsed arguments.
pub async fn run(args: Args) -> Result<(), RunError> {
    telemetry::init(args.log_format).map_err(RunError::Other)?;
    let settings = args.settings();
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Reindex => {
            let store = Store::open(&settings.data_dir, settings.cache_bytes)?;
            let stats = tokio::task::spawn_blocking(move || store.reindex())
                .await
                .map_err(|e| RunError::Other(e.to_string()))??;
            println!(
                "reindexed {} entries: {} records, {} request ids",
                stats.entries, stats.records, stats.requests
            );
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> Result<(), RunError> {
    // Install the handlers before announcing the address, so a signal sent
    // as soon as the line is read is not lost.
    let mut signals = Signals::install().map_err(|e| RunError::Other(format!("signals: {e}")))?;
    let running = Daemon::new(settings).start().await?;
    // Scripts and tests wait for this line instead of sleeping.
    println!("listening on {}", running.local_addr());
    let signal = signals.recv().await;
    tracing::info!(signal, "signal received");
    running.shutdown().await?;
    Ok(())
}

/// SIGINT and SIGTERM.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
