//! Import: reports from JSON Lines (what `truce export --format jsonl`
//! writes, or bare reports) and from ACLED CSV, written through the normal
//! write RPCs so that every imported fact is an ordinary, validated entry.
//!
//! Re-importing is safe: each row's report id is looked up first; a new
//! report is submitted with a request id derived from the row's bytes, an
//! existing one gets a correction (the fields the row revises), its missing
//! sources and (JSON Lines) its new evidence status, each with a request id
//! derived from the row and the report's last entry; a row that says
//! nothing new writes nothing. A row that fails is reported with its line
//! number and the others still land (or, `strict`, the import stops).
//! The mapping of rows is pure and lives in `acled` and `jsonl`; the writes
//! in `apply`.

pub mod acled;
mod apply;
pub mod jsonl;
mod replay;

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    path::Path,
    sync::{Arc, atomic::AtomicBool},
};

use indicatif::ProgressBar;

use apply::{Row, Run};
use truce_client::{Client, ClientError};

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One report view (or bare report) per line, proto3 JSON.
    Jsonl,
    /// CSV with ACLED's columns and a header row.
    AcledCsv,
}

impl Format {
    /// The name on the command line (and in derived request ids).
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::AcledCsv => "acled-csv",
        }
    }
}

/// Called with each failed row as it fails.
pub type ErrorSink = Box<dyn FnMut(&RowError) + Send + Sync>;

/// How to import.
pub struct ImportOptions {
    /// Stop at the first failed row; nothing after it is written.
    pub strict: bool,
    /// Advanced to the byte offset read so far (set its length to the
    /// file's size); hidden by default.
    pub progress: ProgressBar,
    /// The file's name in error messages and correction reasons.
    pub file_label: String,
    pub on_error: Option<ErrorSink>,
    /// Checked between rows: once true, the import stops there and the
    /// summary says where (`truce import` sets it on Ctrl-C).
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            strict: false,
            progress: ProgressBar::hidden(),
            file_label: "-".into(),
            on_error: None,
            interrupt: None,
        }
    }
}

impl fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOptions")
            .field("strict", &self.strict)
            .field("file_label", &self.file_label)
            .finish_non_exhaustive()
    }
}

/// A row that failed: its physical line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// What an import did, by line: a line is new (its report was created),
/// corrected (something was written to an existing report), unchanged
/// (nothing written) or failed (see `errors`; a line whose report landed
/// but whose claim failed counts as failed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub new: u64,
    pub corrected: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Every failure, in the order they happened.
    pub errors: Vec<RowError>,
    /// Set when the run stopped before the end of the file.
    pub stopped: Option<Stopped>,
}

/// Where and why an import stopped before the end of its file. Every line
/// up to `line` is in; re-running the file is safe (what is in is found
/// and not written again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The last line whose writes all came back (0: none).
    pub line: u64,
    /// The highest sequence a receipt named (0: none).
    pub sequence: u64,
    pub cause: StopCause,
}

/// Why an import stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    /// The caller set [`ImportOptions::interrupt`].
    Interrupted,
    /// The server or the connection failed (the message).
    Failed(String),
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match &self.cause {
            StopCause::Interrupted => "interrupted".to_owned(),
            StopCause::Failed(e) => e.clone(),
        };
        write!(
            f,
            "stopped after line {} (sequence {}): {why}; re-running the file is safe: what is in is found, not written again",
            self.line, self.sequence
        )
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} new, {} corrected, {} unchanged, {} failed",
            self.new, self.corrected, self.unchanged, self.failed
        )
    }
}

/// Imports `input` through `client`. Row failures (bad lines, rejected
/// writes) are in the summary; so is a stop before the end (interrupted,
/// or the server or the connection failed: [`ImportSummary::stopped`]).
/// An error is returned only when the import cannot start (an ACLED header
/// lacks columns) or the file cannot be read.
pub async fn import<R: Read>(
    client: &Client,
    format: Format,
    input: R,
    options: ImportOptions,
) -> Result<ImportSummary, ClientError> {
    let mut run = Run::new(client, options);
    let rows = match format {
        Format::Jsonl => jsonl_rows(&mut run, input).await,
        Format::AcledCsv => acled_rows(&mut run, input).await,
    };
    let done = match rows {
        Ok(()) if !run.stopped() => run.claims().await.map_err(Failure::Server),
        other => other,
    };
    match done {
        Ok(()) => {}
        Err(Failure::Server(e)) => run.halt(&e),
        Err(Failure::Input(e)) => return Err(e),
    }
    Ok(run.finish())
}

/// Why a run over rows ended early: its input (an error) or the server
/// (in the summary).
enum Failure {
    Input(ClientError),
    Server(ClientError),
}

/// [`import`] of a file; the label defaults to its path.
pub async fn import_file(
    client: &Client,
    format: Format,
    path: &Path,
    mut options: ImportOptions,
) -> Result<ImportSummary, ClientError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ClientError::Request(format!("cannot open {}: {e}", path.display())))?;
    if options.file_label == "-" {
        options.file_label = path.display().to_string();
    }
    import(client, format, file, options).await
}

fn read_error(label: &str, e: impl fmt::Display) -> ClientError {
    ClientError::Request(format!("cannot read {label}: {e}"))
}

async fn jsonl_rows<R: Read>(run: &mut Run<'_>, input: R) -> Result<(), Failure> {
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    let (mut line, mut offset) = (0u64, 0u64);
    while !run.stopped() {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Failure::Input(read_error(run.label(), e)))?;
        if n == 0 {
            break;
        }
        line += 1;
        offset += n as u64;
        let row = match std::str::from_utf8(&buf) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => jsonl::parse(text.trim()).map(|l| Row::jsonl(Format::Jsonl, l)),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        run.row(line, row).await.map_err(Failure::Server)?;
        run.progress().set_position(offset);
    }
    Ok(())
}

async fn acled_rows<R: Read>(run: &mut Run<'_>, input: R) -> Result<(), Failure> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let names = reader
        .headers()
        .map_err(|e| Failure::Input(read_error(run.label(), e)))?
        .clone();
    let header = acled::Header::new(&names)
        .map_err(|e| Failure::Input(ClientError::Request(format!("{}:1: {e}", run.label()))))?;
    let mut record = csv::StringRecord::new();
    while !run.stopped() {
        let row = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let values = header.row(&record);
                let line = record.position().map_or(0, csv::Position::line);
                let row = acled::report(&values).map(|r| Row::acled(Format::AcledCsv, r, &values));
                (line, row)
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Err(Failure::Input(read_error(run.label(), e)));
            }
            Err(e) => (
                e.position().map_or(0, csv::Position::line),
                Err(e.to_string()),
            ),
        };
        run.row(row.0, row.1).await.map_err(Failure::Server)?;
        run.progress().set_position(reader.position().byte());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_future_is_send() {
        fn send<T: Send>(_: &T) {}
        let client_future = async {
            let client = Client::connect("http://127.0.0.1:1").await?;
            import(
                &client,
                Format::AcledCsv,
                &b""[..],
                ImportOptions::default(),
            )
            .await
        };
        send(&client_future);
    }

    #[test]
    fn summary_line() {
        let s = ImportSummary {
            new: 3,
            corrected: 1,
            unchanged: 2,
            failed: 4,
            errors: vec![],
            stopped: None,
        };
        assert_eq!(
            s.to_string(),
            "imported 3 new, 1 corrected, 2 unchanged, 4 failed"
        );
    }
}
