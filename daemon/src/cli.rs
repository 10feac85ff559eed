//! The `truced` command line: the admin subcommands, each taking the
//! groups of setting flags it uses (built from the settings' declarations
//! in `config`), and how flags, environment, file and defaults combine.
//! `main.rs` only parses and calls [`run`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    access::{Role, tokens},
    config::{self, ConfigError, FileConfig, KeyFlags, ServeFlags, Settings, StoreFlags},
    server::{Daemon, Running},
    service_manager,
    store::Store,
    telemetry,
};

/// truced: the Truce ceasefire-record daemon.
///
/// Settings come from flags, then TRUCE_* environment variables, then the
/// config file, then defaults (see deploy/truced.example.toml). Without a
/// subcommand it serves; each subcommand takes only the settings it uses.
#[derive(Debug, Parser)]
#[command(
    name = "truced",
    version,
    about,
    after_help = "Examples:
  truced --data-dir /var/lib/truce --listen 127.0.0.1:50051
  truced --config /etc/truce/truced.toml serve
  truced token new --name monitor-1 --role reporter"
)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreFlags,
    #[command(flatten)]
    pub key: KeyFlags,
    #[command(flatten)]
    pub serve: ServeFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every setting: `serve` and `config`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AllFlags {
    #[command(flatten)]
    pub store: StoreFlags,
    #[command(flatten)]
    pub key: KeyFlags,
    #[command(flatten)]
    pub serve: ServeFlags,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    #[command(after_help = "Examples:
  truced serve --data-dir /var/lib/truce
  truced serve --config /etc/truce/truced.toml --listen 0.0.0.0:50051")]
    Serve(AllFlags),
    /// Rebuild every derived tree (views, indexes, idempotency keys) from the log.
    #[command(after_help = "Examples:
  truced reindex --data-dir /var/lib/truce")]
    Reindex(StoreFlags),
    /// Print the effective settings as TOML.
    #[command(after_help = "Examples:
  truced config --config /etc/truce/truced.toml
  TRUCE_LISTEN=0.0.0.0:50051 truced config")]
    Config(AllFlags),
    /// The checkpoint signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Bearer tokens for the config file.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Recompute the Merkle tree from the stored entries (offline) and
    /// compare it with the stored tree and the last signed checkpoint.
    #[command(after_help = "Examples:
  truced audit --data-dir /var/lib/truce")]
    Audit(StoreFlags),
    /// Back up a stopped store (a running daemon: `truce admin backup`):
    /// the log up to its last entry and a checkpoint signed over it.
    #[command(after_help = "Examples:
  truced backup --data-dir /var/lib/truce --to /var/backups/truce/1
  truced backup --data-dir /var/lib/truce --to /var/backups/truce/2 --with-key")]
    Backup {
        /// Directory to write (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Put the checkpoint signing key in the backup too (mode 0600).
        #[arg(long)]
        with_key: bool,
        #[command(flatten)]
        store: StoreFlags,
        #[command(flatten)]
        key: KeyFlags,
    },
    /// Restore a backup into a new data dir (--data-dir), verifying the
    /// entries against the checkpoint signed over them.
    #[command(after_help = "Examples:
  truced restore --from /var/backups/truce/1 --data-dir /var/lib/truce-new \\
      --verifier-key 'truce/…+…+…'")]
    Restore {
        /// The backup directory.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The verifier key the backup must be signed with, as `truced key
        /// show` prints it (else the one its manifest names is trusted,
        /// with a warning).
        #[arg(long, value_name = "KEY", value_parser = parse_verifier_key)]
        verifier_key: Option<String>,
        #[command(flatten)]
        store: StoreFlags,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh random token (once: only its hash is kept) and the
    /// `[[token]]` lines to add to the config file.
    #[command(after_help = "Examples:
  truced token new --name monitor-1 --role reporter
  truced token new --name ops --role admin >> tokens-for-ops.txt")]
    New {
        /// The name entries written with the token are recorded under.
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_parser = role_parser())]
        role: Role,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the log's origin, key id, public key and verifier key (an
    /// existing key; nothing is created).
    #[command(after_help = "Examples:
  truced key show --data-dir /var/lib/truce")]
    Show {
        #[command(flatten)]
        store: StoreFlags,
        #[command(flatten)]
        key: KeyFlags,
    },
    /// Create the signing key (and the data dir) before the first start,
    /// so that its verifier key can be pinned; refused if a key exists.
    #[command(after_help = "Examples:
  truced key new --data-dir /var/lib/truce --log-origin example.org/truce")]
    New {
        #[command(flatten)]
        store: StoreFlags,
        #[command(flatten)]
        key: KeyFlags,
    },
}

/// Parses `truced`'s command line (exits with clap's message on a usage
/// error, like `Args::parse`). The TRUCE_* environment variables are read
/// once, by the flags given before the subcommand (the top level has them
/// all); a subcommand's own flags come only from its command line, so a
/// flag wherever it is given beats the environment.
pub fn parse() -> Args {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The command [`parse`] uses.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    env_at_the_top_only(Args::command())
}

fn env_at_the_top_only(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommands(|sub| env_at_the_top_only(sub.mut_args(env_in_help_only)))
}

/// An argument that names its environment variable in its help but does
/// not read it.
fn env_in_help_only(arg: clap::Arg) -> clap::Arg {
    let Some(env) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
        return arg;
    };
    let help = arg.get_help().map(|h| format!("{h} [env: {env}]"));
    let long = arg.get_long_help().map(|h| format!("{h} [env: {env}]"));
    let mut arg = arg.env(None);
    if let Some(h) = help {
        arg = arg.help(h);
    }
    if let Some(h) = long {
        arg = arg.long_help(h);
    }
    arg
}

/// `--role`: the roles' names are its possible values (listed in `--help`).
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Role::ALL.map(|r| r.name()))
        .try_map(|s| s.parse::<Role>())
}

/// `--verifier-key`: not empty (an empty key would pin nothing).
fn parse_verifier_key(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(
            "the key is empty: give the log's verifier key as `truced key show` prints it \
             (<origin>+<key id>+<key>), or leave --verifier-key out"
                .into(),
        );
    }
    Ok(s.to_owned())
}

impl Args {
    /// The settings of the subcommand (the flags given before it count
    /// too, the subcommand's own after them).
    fn sub_flags(&self) -> (Option<&StoreFlags>, Option<&KeyFlags>, Option<&ServeFlags>) {
        match &self.command {
            None | Some(Command::Token(_)) => (None, None, None),
            Some(Command::Serve(a) | Command::Config(a)) => {
                (Some(&a.store), Some(&a.key), Some(&a.serve))
            }
            Some(Command::Reindex(s) | Command::Audit(s) | Command::Restore { store: s, .. }) => {
                (Some(s), None, None)
            }
            Some(
                Command::Backup { store, key, .. }
                | Command::Key(KeyCommand::Show { store, key } | KeyCommand::New { store, key }),
            ) => (Some(store), Some(key), None),
        }
    }

    /// The config file the command reads: the subcommand's, else the one
    /// given before it.
    pub fn config(&self) -> Option<PathBuf> {
        let (store, _, _) = self.sub_flags();
        store
            .and_then(|s| s.config())
            .or_else(|| self.store.config())
            .cloned()
    }

    /// Defaults, then the config file, then environment and flags.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        if let Some(path) = &self.config() {
            FileConfig::load(path)?.apply(path, &mut settings)?;
        }
        self.store.apply(&mut settings)?;
        self.key.apply(&mut settings)?;
        self.serve.apply(&mut settings)?;
        let (store, key, serve) = self.sub_flags();
        if let Some(f) = store {
            f.apply(&mut settings)?;
        }
        if let Some(f) = key {
            f.apply(&mut settings)?;
        }
        if let Some(f) = serve {
            f.apply(&mut settings)?;
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
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error("{0}")]
    Other(String),
}

/// Runs `truced` with parsed arguments.
pub async fn run(args: Args) -> Result<(), RunError> {
    // Needs no settings: works even before a config file exists.
    if let Some(Command::Token(TokenCommand::New { name, role })) = &args.command {
        return token_new(name, *role);
    }
    // The daemon's signal handlers first of all, so that a SIGHUP sent as
    // soon as the process exists (`systemctl reload` right after `start`)
    // does not kill it. The other commands keep the default handlers.
    let signals = match args.command {
        None | Some(Command::Serve(_)) => {
            Some(Signals::install().map_err(|e| RunError::Other(format!("signals: {e}")))?)
        }
        Some(_) => None,
    };
    let settings = args.settings()?;
    if let Some(Command::Config(_)) = args.command {
        print!("{}", config::to_toml(&settings));
        return Ok(());
    }
    telemetry::init(settings.log_format).map_err(RunError::Other)?;
    let config = args.config();
    match args.command.unwrap_or(Command::Serve(AllFlags::default())) {
        Command::Config(_) | Command::Token(_) => Ok(()),
        Command::Audit(_) => audit(&settings).await,
        Command::Key(KeyCommand::Show { .. }) => key_show(&settings),
        Command::Key(KeyCommand::New { .. }) => key_new(&settings),
        Command::Backup { to, with_key, .. } => backup(&settings, to, with_key).await,
        Command::Restore {
            from, verifier_key, ..
        } => restore(&settings, from, verifier_key).await,
        Command::Serve(_) => match signals {
            Some(signals) => serve(settings, config, signals).await,
            None => Err(RunError::Other("no signal handlers".into())),
        },
        Command::Reindex(_) => reindex(&settings).await,
    }
}

/// `truced key show`. The key is never made here: a wrong --data-dir must
/// not print a new key as the log's. No key and no store: the data dir is
/// wrong.
fn key_show(settings: &Settings) -> Result<(), RunError> {
    let path = settings.signing_key_path();
    if !path.exists() && !Store::exists_in(&settings.data_dir) {
        return Err(crate::store::StoreError::Missing {
            path: settings.data_dir.clone(),
        }
        .into());
    }
    print_key(&signer(settings)?);
    Ok(())
}

/// `truced backup`, of a stopped daemon's store.
async fn backup(settings: &Settings, to: PathBuf, with_key: bool) -> Result<(), RunError> {
    let store = Store::open_existing(&settings.data_dir, settings.store_options())?;
    let signer = signer(settings)?;
    let m = tokio::task::spawn_blocking(move || {
        // The daemon is stopped: no appends need the margin.
        crate::backup::write(&store, &signer, &to, with_key, &|_| Ok(()))
    })
    .await
    .map_err(|e| RunError::Other(e.to_string()))??;
    println!("backed up {} entries, root {}", m.sequence, m.root);
    Ok(())
}

/// `truced restore`: the backup checked and the store rebuilt from it.
async fn restore(
    settings: &Settings,
    from: PathBuf,
    verifier_key: Option<String>,
) -> Result<(), RunError> {
    let pinned = verifier_key.is_some();
    let (dir, options) = (settings.data_dir.clone(), settings.store_options());
    let restored = tokio::task::spawn_blocking(move || {
        crate::backup::restore(&from, &dir, options, verifier_key.as_deref())
    })
    .await
    .map_err(|e| RunError::Other(e.to_string()))??;
    if !pinned {
        // The checks above hold for any key; only a pinned one shows the
        // backup was signed by this log's.
        eprintln!(
            "warning: no --verifier-key: the backup was checked against the key its own manifest names ({}); compare it with the log's verifier key (`truced key show` where the log ran) before serving",
            restored.manifest.verifier_key
        );
    }
    println!(
        "restored {} entries into {}; the rebuilt tree matches the checkpoint signed by {}",
        restored.manifest.sequence,
        settings.data_dir.display(),
        restored.manifest.verifier_key
    );
    if !restored.manifest.with_key {
        println!(
            "the backup carries no signing key: put the log's key in place before serving (else a new key signs, and clients pinned to the old one refuse it)"
        );
    }
    Ok(())
}

/// `truced reindex`: every derived row again from the log.
async fn reindex(settings: &Settings) -> Result<(), RunError> {
    let store = Store::open_existing(&settings.data_dir, settings.store_options())?.into_writer();
    let stats = tokio::task::spawn_blocking(move || store.reindex())
        .await
        .map_err(|e| RunError::Other(e.to_string()))??;
    println!(
        "reindexed {} entries: {} records, {} request ids",
        stats.entries, stats.records, stats.requests
    );
    Ok(())
}

/// The log's signer from the settings; never created here (only `serve`
/// and `key new` make a key).
fn signer(settings: &Settings) -> Result<crate::checkpoint::Signer, RunError> {
    let path = settings.signing_key_path();
    crate::checkpoint::Signer::load(&path, settings.checkpoint_origin().as_deref())
        .map_err(|e| RunError::Other(e.to_string()))
}

/// `truced key show` / `key new`: origin, key id, public and verifier key.
/// `truced key new`: the signing key (and the data dir) before the first
/// start; refused where a key exists.
fn key_new(settings: &Settings) -> Result<(), RunError> {
    let path = settings.signing_key_path();
    if path.exists() {
        return Err(RunError::Other(format!(
            "signing key {} exists already (`truced key show` prints it)",
            path.display()
        )));
    }
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| RunError::Other(format!("{}: {e}", settings.data_dir.display())))?;
    let signer =
        crate::checkpoint::Signer::load_or_create(&path, settings.checkpoint_origin().as_deref())
            .map_err(|e| RunError::Other(e.to_string()))?;
    print_key(&signer);
    Ok(())
}

fn print_key(signer: &crate::checkpoint::Signer) {
    let vkey = signer.verifier_key();
    let key_id = vkey.split('+').nth(1).unwrap_or_default().to_owned();
    println!("origin        {}", signer.name());
    println!("key id        {key_id}");
    println!("public key    {}", hex::encode(signer.public_key()));
    println!("verifier key  {vkey}");
}

/// `truced audit`: the stored tree against the entries and the last
/// checkpoint, of an existing store only (an empty one made here would
/// pass, a false all-clear).
async fn audit(settings: &Settings) -> Result<(), RunError> {
    let store = Store::open_existing(&settings.data_dir, settings.store_options())?;
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

/// `truced token new`: the token once, then the config lines (hash only).
fn token_new(name: &str, role: Role) -> Result<(), RunError> {
    tokens::check_name(name).map_err(|m| RunError::Other(format!("--name: {m}")))?;
    let token = tokens::generate().map_err(RunError::Other)?;
    println!("# The token for {name:?} ({role}), shown only now: give it to the client");
    println!("# (TRUCE_TOKEN=... or truce --token ...).");
    println!("{token}");
    println!(
        "# Add to truced's config file (only the token's SHA-256 is kept), then reload (SIGHUP):"
    );
    print!("{}", tokens::config_lines(name, role, &token));
    Ok(())
}

/// Serves until SIGINT or SIGTERM; SIGHUP reloads the tokens from
/// `config`. The handlers are installed before the address is announced,
/// so a signal sent as soon as the line is read is not lost.
async fn serve(
    settings: Settings,
    config: Option<PathBuf>,
    mut signals: Signals,
) -> Result<(), RunError> {
    let running = Daemon::new(settings).start().await?;
    // Scripts and tests wait for this line instead of sleeping; systemd
    // for the notification.
    // One write of both lines: a reader that takes the first line and
    // closes the pipe never sees a second write fail.
    let mut lines = format!("listening on {}\n", running.local_addr());
    if let Some(web) = running.http_addr() {
        lines.push_str(&format!("web view on http://{web}/\n"));
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(lines.as_bytes())
            .and_then(|()| stdout.flush())
        {
            tracing::warn!(error = %e, "cannot print the listening address");
        }
    }
    let status = format!("serving on {}", running.local_addr());
    service_manager::ready(&status);
    loop {
        match signals.recv().await {
            Received::Reload => {
                service_manager::reloading();
                reload_tokens(config.clone(), &running).await;
                service_manager::ready(&status);
            }
            Received::Stop(signal) => {
                tracing::info!(signal, "signal received");
                break;
            }
        }
    }
    service_manager::stopping();
    running.shutdown().await?;
    Ok(())
}

/// SIGHUP: the config file's tokens replace the running ones; a file that
/// does not load, or tokens the running daemon refuses (none at all, where
/// it had some), leave them.
async fn reload_tokens(config: Option<PathBuf>, running: &Running) {
    let Some(path) = config else {
        tracing::warn!(
            "SIGHUP: no config file (--config or TRUCE_CONFIG) to reload the tokens from"
        );
        return;
    };
    // Off the runtime: a hung filesystem must not hold up a SIGTERM.
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut read = Settings::default();
            FileConfig::load(&path).and_then(|file| file.apply(&path, &mut read))?;
            Ok::<_, ConfigError>(read.tokens)
        })
        .await
    };
    let path = path.as_path();
    let result = match read {
        Ok(Ok(tokens)) => running.reload_tokens(tokens).map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(tokens) => tracing::info!(
            config = %path.display(),
            tokens,
            "tokens reloaded; other settings take effect at the next start"
        ),
        Err(error) => tracing::error!(
            config = %path.display(),
            error,
            "tokens not reloaded; the running ones stay"
        ),
    }
}

/// What a signal asks for.
enum Received {
    /// SIGHUP: reload the tokens.
    Reload,
    /// SIGINT or SIGTERM (named): shut down.
    Stop(&'static str),
}

/// SIGINT and SIGTERM, and SIGHUP.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    #[cfg(unix)]
    async fn recv(&mut self) -> Received {
        tokio::select! {
            Some(()) = self.interrupt.recv() => Received::Stop("SIGINT"),
            Some(()) = self.terminate.recv() => Received::Stop("SIGTERM"),
            Some(()) = self.hangup.recv() => Received::Reload,
            // Every signal stream ended (it does not happen): stop rather
            // than spin.
            else => Received::Stop("no more signals"),
        }
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> Received {
        let _ = tokio::signal::ctrl_c().await;
        Received::Stop("ctrl-c")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        super::command().debug_assert();
    }
}
