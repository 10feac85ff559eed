//! The `truced` command line: flags, environment variables and admin
//! subcommands. `main.rs` only parses and calls [`run`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

use crate::{
    config::{self, ConfigError, FileConfig, LogFormat, Settings},
    server::Daemon,
    store::Store,
    telemetry,
};

/// truced: the Truce ceasefire-record daemon.
///
/// Settings come from flags, then TRUCE_* environment variables, then the
/// config file, then defaults (see deploy/truced.example.toml).
#[derive(Debug, Parser)]
#[command(name = "truced", version, about)]
pub struct Args {
    /// TOML config file (see deploy/truced.example.toml).
    #[arg(long, env = "TRUCE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to serve gRPC on [default: 127.0.0.1:50051].
    #[arg(long, env = "TRUCE_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Directory that holds the log [default: ./truce-data].
    #[arg(long, env = "TRUCE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Checkpoint signing key file [default: checkpoint.key in the data dir].
    #[arg(long, env = "TRUCE_SIGNING_KEY", global = true)]
    pub signing_key: Option<PathBuf>,
    /// The log's origin in checkpoints [default: derived from the key].
    #[arg(long, env = "TRUCE_LOG_ORIGIN", global = true)]
    pub log_origin: Option<String>,
    /// Log format; the level comes from TRUCE_LOG [default: pretty].
    #[arg(long, env = "TRUCE_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// sled page cache in MiB [default: 256].
    #[arg(long, env = "TRUCE_CACHE_MB", global = true)]
    pub cache_mb: Option<u64>,
    /// Largest request message accepted, bytes [default: 1048576].
    #[arg(long, env = "TRUCE_MAX_MESSAGE_BYTES", global = true, value_parser = clap::value_parser!(u64).range(66_560..))]
    pub max_message_bytes: Option<u64>,
    /// Concurrent Subscribe streams at most [default: 10000].
    #[arg(long, env = "TRUCE_MAX_SUBSCRIPTIONS", global = true)]
    pub max_subscriptions: Option<usize>,
    /// Pause between health NOT_SERVING and closing the listener, ms [default: 500].
    #[arg(long, env = "TRUCE_SHUTDOWN_PAUSE_MS", global = true)]
    pub shutdown_pause_ms: Option<u64>,
    /// Grace period for in-flight requests at shutdown, s [default: 10].
    #[arg(long, env = "TRUCE_SHUTDOWN_GRACE_SECS", global = true)]
    pub shutdown_grace_secs: Option<u64>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Rebuild every derived tree (views, indexes, idempotency keys) from the log.
    Reindex,
    /// Print the effective settings as TOML.
    Config,
    /// The checkpoint signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Recompute the Merkle tree from the stored entries (offline) and
    /// compare it with the stored tree and the last signed checkpoint.
    Audit,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the log's origin, key id, public key and verifier key (creating
    /// the key if the data dir has none yet).
    Show,
}

impl Args {
    /// Defaults, then the config file, then environment and flags.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        if let Some(path) = &self.config {
            FileConfig::load(path)?.apply(path, &mut settings)?;
        }
        if let Some(v) = self.listen {
            settings.listen = v;
        }
        if let Some(v) = &self.data_dir {
            settings.data_dir = v.clone();
        }
        if let Some(v) = &self.signing_key {
            settings.signing_key = Some(v.clone());
        }
        if let Some(v) = &self.log_origin {
            settings.log_origin = Some(v.clone());
        }
        if let Some(v) = self.log_format {
            settings.log_format = v;
        }
        if let Some(v) = self.cache_mb {
            settings.cache_bytes = v.saturating_mul(1024 * 1024);
        }
        if let Some(v) = self.max_message_bytes {
            settings.max_message_bytes = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = self.max_subscriptions {
            settings.max_subscriptions = v;
        }
        if let Some(v) = self.shutdown_pause_ms {
            settings.shutdown_pause = Duration::from_millis(v);
        }
        if let Some(v) = self.shutdown_grace_secs {
            settings.shutdown_grace = Duration::from_secs(v);
        }
        Ok(settings)
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
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Other(String),
}

/// Runs `truced` with parsed arguments.
pub async fn run(args: Args) -> Result<(), RunError> {
    let settings = args.settings()?;
    if let Some(Command::Config) = args.command {
        print!("{}", config::to_toml(&settings));
        return Ok(());
    }
    telemetry::init(settings.log_format).map_err(RunError::Other)?;
    match args.command.unwrap_or(Command::Serve) {
        Command::Config => Ok(()),
        Command::Audit => {
            let store = Store::open(&settings.data_dir, settings.cache_bytes)?;
            let dir = settings.data_dir.clone();
            let report = tokio::task::spawn_blocking(move || crate::audit::run(&store, &dir))
                .await
                .map_err(|e| RunError::Other(e.to_string()))??;
            println!(
                "{} entries, root {}",
                report.entries,
                hex::encode(report.root)
            );
            match report.checkpoint {
                Some((size, true)) => println!("last signed checkpoint (size {size}): matches"),
                Some((size, false)) => {
                    println!("last signed checkpoint (size {size}): DOES NOT MATCH")
                }
                None => println!("no signed checkpoint to compare with"),
            }
            match (&report.first_difference, report.checkpoint) {
                (Some((seq, why)), _) => Err(RunError::Other(format!(
                    "audit failed: first difference at sequence {seq}: {why}"
                ))),
                (None, Some((size, false))) => Err(RunError::Other(format!(
                    "audit failed: the recomputed tree does not match the checkpoint at size {size}"
                ))),
                _ => {
                    println!("the stored tree matches the entries");
                    Ok(())
                }
            }
        }
        Command::Key(KeyCommand::Show) => {
            std::fs::create_dir_all(&settings.data_dir)
                .map_err(|e| RunError::Other(format!("{}: {e}", settings.data_dir.display())))?;
            let path = settings
                .signing_key
                .clone()
                .unwrap_or_else(|| settings.data_dir.join(crate::checkpoint::KEY_FILE));
            let signer =
                crate::checkpoint::Signer::load_or_create(&path, settings.log_origin.as_deref())
                    .map_err(|e| RunError::Other(e.to_string()))?;
            let vkey = signer.verifier_key();
            let key_id = vkey.split('+').nth(1).unwrap_or_default().to_owned();
            println!("origin        {}", signer.name());
            println!("key id        {key_id}");
            println!("public key    {}", hex::encode(signer.public_key()));
            println!("verifier key  {vkey}");
            Ok(())
        }
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
