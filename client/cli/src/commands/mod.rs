//! The `truce` command line: global flags, subcommands, and exit codes
//! (0 ok, 1 server or connection error, 2 usage or validation error).

mod change_flags;
mod compliance;
mod connect;
mod export;
mod flags;
mod import;
mod list_flags;
pub(crate) mod render;
mod submit;
pub mod terminal;
pub mod values;
mod verify;
mod watch;

use std::{io::Write, process::ExitCode};

use clap::{Parser, Subcommand};

use truce_proto::v1::{Envelope, envelope::Kind};

pub use connect::Server;

use truce_client::ClientError;

/// The heading global flags are grouped under in every `--help`.
pub const GLOBAL: &str = "Global options";

/// truce: record and read ceasefire agreements and alleged violations.
#[derive(Debug, Parser)]
#[command(
    name = "truce",
    version,
    about,
    after_help = "Exit codes: 0 ok; 1 server or connection error; 2 usage or validation error, \
or a record that does not exist; 3 the log does not verify. docs/cli.md lists the flags' \
vocabulary."
)]
pub struct Args {
    /// The daemon's address: http://HOST:PORT, https://HOST:PORT, or
    /// HOST:PORT as truced prints it (plaintext).
    #[arg(
        long,
        env = "TRUCE_SERVER",
        default_value = "http://127.0.0.1:50051",
        global = true,
        help_heading = GLOBAL
    )]
    pub server: String,
    #[command(flatten)]
    pub access: connect::AccessFlags,
    /// Print JSON Lines (proto3 JSON mapping) instead of tables.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Have the daemon write a backup of its log, consistent at the
    /// durable sequence, into a directory on its own machine (restore it
    /// with `truced restore --from DIR --data-dir D`).
    #[command(after_help = "Examples:
  truce admin backup --to /var/backups/truce/2025-04-01
  truce admin backup --to /var/backups/truce/keyed --with-key")]
    Backup {
        /// An absolute path on the daemon's machine; must not exist, or be empty.
        #[arg(long, value_name = "DIR")]
        to: String,
        /// Put the checkpoint signing key in the backup too (mode 0600).
        #[arg(long)]
        with_key: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Agreements: record one, list them, show one.
    #[command(subcommand)]
    Agreement(AgreementCommand),
    /// Reports of alleged violations: submit, list, correct, show.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Parties' claims: accusations, denials, acknowledgements.
    #[command(subcommand)]
    Claim(ClaimCommand),
    /// Status changes of reports (evidence, compliance) and agreements.
    #[command(subcommand)]
    Status(StatusCommand),
    /// Sources attached to existing reports and agreements.
    #[command(subcommand)]
    Source(SourceCommand),
    /// Export reports matching filters as jsonl, geojson or acled-csv.
    #[command(
        mut_arg("format", |a| a.help("The output format")),
        after_help = "Examples:
  truce export --format geojson --country UA -o reports.geojson
  truce export --format acled-csv --agreement ru-ua-energy-moratorium-2025 > acled.csv"
    )]
    Export(Box<export::ExportFlags>),
    /// Import reports from jsonl (an export) or ACLED CSV; re-running
    /// a file writes only what changed.
    #[command(
        mut_arg("format", |a| a.help("The file's format")),
        after_help = "Examples:
  truce import --format jsonl reports.jsonl
  truce import --format acled-csv --strict acled.csv"
    )]
    Import(Box<import::ImportFlags>),
    /// Administration (admin token): backups.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Is a report within an agreement's scope? Per reading of its start.
    /// Without --agreement: every agreement whose scope covers it, whether
    /// or not the report names it.
    #[command(after_help = "Examples:
  truce scope seed-report-3 --agreement ru-ua-energy-moratorium-2025
  truce scope seed-report-1 --as-of 4")]
    Scope {
        /// The report.
        report: String,
        /// Only this agreement [default: every agreement].
        #[arg(long, value_name = "ID")]
        agreement: Option<String>,
        /// As the records stood at this log sequence [default: now].
        #[arg(long, default_value_t = 0, hide_default_value = true, value_name = "N")]
        as_of: u64,
    },
    /// A compliance report on an agreement: counts per reading of its
    /// start, claims beside evidence, the reports considered; optionally a
    /// per-day SVG timeline.
    Compliance(Box<compliance::ComplianceFlags>),
    /// What changed between two log sequences: the entries after
    /// --after-seq up to and including --to-seq, record by record.
    #[command(after_help = "Examples:
  truce changes --after-seq 4 --to-seq 10
  truce changes --after-seq 1234      # everything since a sequence you saw")]
    Changes {
        /// After this sequence (exclusive) [default: from the start].
        #[arg(
            long,
            alias = "after",
            default_value_t = 0,
            hide_default_value = true,
            value_name = "N"
        )]
        after_seq: u64,
        /// Up to and including this sequence [default: the durable end].
        #[arg(
            long,
            alias = "until",
            default_value_t = 0,
            hide_default_value = true,
            value_name = "N"
        )]
        to_seq: u64,
    },
    /// Print the log from a sequence, with each entry's SHA-256.
    #[command(after_help = "Examples:
  truce log
  truce log --from-seq 100 --limit 20")]
    Log {
        /// First sequence to print (inclusive).
        #[arg(long, alias = "from", default_value_t = 1, value_name = "N")]
        from_seq: u64,
        /// Print at most this many entries (0: all).
        #[arg(long, default_value_t = 0, value_name = "N")]
        limit: u64,
    },
    /// Verify the log's signed checkpoint, its consistency with the last
    /// one verified here, and optionally one entry's inclusion.
    #[command(after_help = "Examples:
  truce verify --key \"$(ssh log-host truced key show | awk '/verifier key/ {print $3}')\"
  TRUCE_LOG_KEY='truce/…+…+…' truce verify --entry 42")]
    Verify(verify::VerifyFlags),
    /// Follow the log as entries become durable (default: from now).
    Watch(Box<watch::WatchFlags>),
    /// Submit a file of writes: JSON Lines, one envelope per line with
    /// exactly one of agreement, report, claim, status, source, correction.
    #[command(after_help = "Examples:
  truce submit --file examples/seed-scenario.jsonl
  generate-writes | truce submit --file - --keep-going")]
    Submit {
        /// The file, or - for standard input.
        #[arg(long, short)]
        file: String,
        /// Go on after a line fails (the exit code still reports it).
        #[arg(long)]
        keep_going: bool,
        /// Lines sent ahead of their receipts at most (the daemon reads at
        /// most its own stream_write_window ahead).
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
        window: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgreementCommand {
    /// Record an agreement.
    Add(Box<flags::AgreementFlags>),
    /// List agreements matching filters.
    List(list_flags::AgreementListFlags),
    /// Show an agreement as it stands (or stood, with --as-of).
    #[command(after_help = "Examples:
  truce agreement show ru-ua-energy-moratorium-2025 --history
  truce agreement show ru-ua-energy-moratorium-2025 --as-of 12")]
    Show {
        /// The agreement's id.
        id: String,
        /// Also list the entries behind the view.
        #[arg(long)]
        history: bool,
        /// As it stood at this log sequence [default: now].
        #[arg(long, default_value_t = 0, hide_default_value = true, value_name = "N")]
        as_of: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Submit a report of an alleged violation.
    Submit(Box<flags::ReportFlags>),
    /// List reports matching filters (all filters combine).
    #[command(after_help = "Examples:
  truce report list --perpetrator UA --evidence disputed
  truce report list --agreement ru-ua-energy-moratorium-2025 --from 2025-03-18 --until 2025-04-01
  truce report list --bbox 44,30,52,41 --json")]
    List(Box<list_flags::ReportListFlags>),
    /// Correct named fields of a report (the original stays in the log).
    Correct(Box<change_flags::CorrectFlags>),
    /// Show a report as it stands (or stood, with --as-of).
    #[command(after_help = "Examples:
  truce report show seed-report-1 --history
  truce report show seed-report-1 --as-of 4
  TRUCE_LOG_KEY='truce/…' truce report show seed-report-1 --verify")]
    Show {
        /// The report's id.
        id: String,
        /// Also list the entries behind the view.
        #[arg(long)]
        history: bool,
        /// As it stood at this log sequence [default: now].
        #[arg(long, default_value_t = 0, hide_default_value = true, value_name = "N")]
        as_of: u64,
        /// Prove every entry behind the view against the signed checkpoint
        /// (needs --key or TRUCE_LOG_KEY).
        #[arg(long)]
        verify: bool,
        /// The log's verifier key, for --verify.
        #[arg(long, env = "TRUCE_LOG_KEY")]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClaimCommand {
    /// Record a party's claim about reports or an agreement.
    Add(Box<change_flags::ClaimFlags>),
}

#[derive(Debug, Subcommand)]
pub enum StatusCommand {
    /// Change a report's or an agreement's status.
    Set(Box<change_flags::StatusFlags>),
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Attach a source to a report or an agreement.
    Attach(Box<change_flags::SourceFlags>),
}

/// A failure of a command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or input: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The log does not verify: exit 3.
    #[error("verification failed: {0}")]
    Verification(String),
}

impl CliError {
    /// The error as `truce` prints it: the message, then what the
    /// daemon's error details add (the field, when to retry).
    pub fn shown(&self) -> String {
        let mut shown = self.to_string();
        if let Self::Client(c) = self {
            if let Some(field) = c.field() {
                shown.push_str(&format!(" [field: {field}]"));
            }
            if let Some(delay) = c.retry_delay() {
                shown.push_str(&format!(" [retry after {} ms]", delay.as_millis()));
            }
        }
        shown
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Client(e) if e.is_usage() => ExitCode::from(2),
            Self::Client(_) | Self::Io(_) => ExitCode::from(1),
            Self::Verification(_) => ExitCode::from(3),
        }
    }
}

/// Runs `truce`; returns the process exit code.
pub async fn main(args: Args) -> ExitCode {
    match run(args).await {
        Ok(code) => code,
        // A closed pipe (`truce log | head`) is not an error.
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            terminal::eprintln(format_args!("truce: {}", e.shown()));
            e.exit_code()
        }
    }
}

/// Sends one write built from flags and prints its receipt. Without
/// `--request-id`, the request id is derived from the content, so an
/// identical re-run gets the original receipt, marked duplicate.
async fn write(server: &Server, out: &render::Output, kind: Kind) -> Result<(), CliError> {
    let mut envelope = Envelope { kind: Some(kind) };
    let derived = truce_client::content_request_id(&envelope);
    if let Some(id) = envelope.kind.as_mut().map(truce_client::request_id_of)
        && id.is_empty()
    {
        *id = derived;
    }
    let client = server.connect().await?;
    let receipt = client.submit(envelope).await?;
    if receipt.duplicate && !out.is_json() {
        terminal::eprintln(format_args!(
            "truce: already recorded (the same request was sent before): the original receipt"
        ));
    }
    out.receipts(&[(None, receipt)])
}

async fn run(args: Args) -> Result<ExitCode, CliError> {
    let out = render::Output::new(args.json);
    let server = Server::new(&args.server, &args.access)?;
    // Parse flags before connecting, so usage errors need no server.
    match args.command {
        Command::Agreement(command) => agreement(&server, &out, command).await?,
        Command::Report(command) => report(&server, &out, command).await?,
        Command::Claim(ClaimCommand::Add(flags)) => {
            let kind = Kind::Claim(flags.into_request().map_err(CliError::Usage)?);
            write(&server, &out, kind).await?;
        }
        Command::Status(StatusCommand::Set(flags)) => {
            let kind = Kind::Status(flags.into_request().map_err(CliError::Usage)?);
            write(&server, &out, kind).await?;
        }
        Command::Source(SourceCommand::Attach(flags)) => {
            let kind = Kind::Source(flags.into_request().map_err(CliError::Usage)?);
            write(&server, &out, kind).await?;
        }
        Command::Export(flags) => {
            let client = server.connect().await?;
            export::run(&client, *flags).await?;
        }
        Command::Admin(AdminCommand::Backup { to, with_key }) => {
            admin_backup(&server, args.json, &to, with_key).await?;
        }
        Command::Import(flags) => {
            let client = server.connect().await?;
            return import::run(&client, args.json, *flags).await;
        }
        Command::Scope {
            report,
            agreement,
            as_of,
        } => {
            let client = server.connect().await?;
            match agreement {
                Some(agreement) => {
                    out.scope(&client.assess_scope(&report, &agreement, as_of).await?)?;
                }
                None => out.agreements_covering(&client.find_agreements(&report, as_of).await?)?,
            }
        }
        Command::Compliance(flags) => compliance::run(&server, &out, *flags).await?,
        Command::Changes { after_seq, to_seq } => {
            let client = server.connect().await?;
            render::changes(&client, &out, after_seq, to_seq).await?;
        }
        Command::Log { from_seq, limit } => {
            let client = server.connect().await?;
            render::log(&client, &out, from_seq, limit).await?;
        }
        Command::Verify(flags) => {
            let client = server.connect().await?;
            verify::run(&client, flags).await?;
        }
        Command::Watch(flags) => {
            let client = server.connect().await?;
            watch::run(&client, &out, *flags).await?;
        }
        Command::Submit {
            file,
            keep_going,
            window,
        } => {
            let client = server.connect().await?;
            return submit::run(&client, args.json, &file, keep_going, window as usize).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `truce agreement add|show|list`.
async fn agreement(
    server: &Server,
    out: &render::Output,
    command: AgreementCommand,
) -> Result<(), CliError> {
    match command {
        AgreementCommand::Add(flags) => {
            let kind = Kind::Agreement(flags.into_request().map_err(CliError::Usage)?);
            write(server, out, kind).await
        }
        AgreementCommand::Show { id, history, as_of } => {
            let client = server.connect().await?;
            out.agreement(&client.get_agreement_at(&id, as_of).await?, history, as_of)
        }
        AgreementCommand::List(flags) => {
            let (req, limit) = flags.into_request().map_err(CliError::Usage)?;
            let client = server.connect().await?;
            out.agreement_list(&client.list_all_agreements(req, limit).await?)
        }
    }
}

/// `truce report submit|show|list|correct`.
async fn report(
    server: &Server,
    out: &render::Output,
    command: ReportCommand,
) -> Result<(), CliError> {
    match command {
        ReportCommand::Submit(flags) => {
            let kind = Kind::Report(flags.into_request().map_err(CliError::Usage)?);
            write(server, out, kind).await
        }
        ReportCommand::Show {
            id,
            history,
            as_of,
            verify: check,
            key,
        } => report_show(server, out, &id, history, as_of, check.then_some(key)).await,
        ReportCommand::List(flags) => {
            let (req, limit) = flags.into_request().map_err(CliError::Usage)?;
            let client = server.connect().await?;
            out.report_list(&client.query_all_reports(req, limit).await?)
        }
        ReportCommand::Correct(flags) => {
            let kind = Kind::Correction(flags.into_request().map_err(CliError::Usage)?);
            write(server, out, kind).await
        }
    }
}

/// `truce report show`; with `verify` (`--verify`, holding `--key` if
/// given), the entries behind the view are checked against the signed
/// log.
async fn report_show(
    server: &Server,
    out: &render::Output,
    id: &str,
    history: bool,
    as_of: u64,
    verify: Option<Option<String>>,
) -> Result<(), CliError> {
    let client = server.connect().await?;
    let view = client.get_report_at(id, as_of).await?;
    out.report(&view, history, as_of)?;
    let Some(key) = verify else {
        return Ok(());
    };
    let key =
        key.ok_or_else(|| CliError::Usage("--verify needs --key (or TRUCE_LOG_KEY)".into()))?;
    let sequences: Vec<u64> = view.history.iter().map(|h| h.sequence).collect();
    let size = verify::entries(&client, &key, &sequences).await?;
    terminal::eprintln(format_args!(
        "verified: the {} entries behind {id} are in the signed log of {size} entries",
        sequences.len()
    ));
    Ok(())
}

/// `truce admin backup`: the daemon backs its log up on its own machine.
async fn admin_backup(
    server: &Server,
    json: bool,
    to: &str,
    with_key: bool,
) -> Result<(), CliError> {
    let client = server.connect().await?;
    let made = client.backup(to, with_key).await?;
    if json {
        render::json_line(&made)?;
        return Ok(());
    }
    writeln!(
        terminal::stdout(),
        "backed up {} entries (root {}) into {} on the daemon's machine{}",
        made.sequence,
        made.root,
        made.to_dir,
        if made.with_key {
            ", with the signing key"
        } else {
            ""
        }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
