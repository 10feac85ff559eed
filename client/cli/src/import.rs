//! Import: reports from JSON Lines (what `truce export --format jsonl`
//! writes, or bare reports) and from ACLED CSV, written through the normal
//! write path so that every imported fact is an ordinary, validated entry.
//!
//! Re-importing is safe: each row's report id is looked up first; a new
//! report is submitted with a request id derived from the row's bytes, an
//! existing one gets a correction (the fields the row revises), its missing
//! sources and (JSON Lines) its new evidence status, each with a request id
//! derived from the row and the report's last entry; a row that says
//! nothing new writes nothing. A row that fails is reported with its line
//! number and the others still land (or, `strict`, the import stops).
//!
//! The rows go through a pipeline (`pipeline`): read and looked up ahead,
//! concurrently and bounded (`read`), decided and sent in order over one
//! WriteStream (`send`, with `apply` and `replay` saying what to write),
//! the answers matched to their lines in order (`receive`) into the run's
//! tally (`run`); claims and held-back entries follow the rows (`last`).
//! The mapping of rows is pure and lives in `acled` and `jsonl`.

pub mod acled;
mod apply;
pub mod jsonl;
mod last;
mod pipeline;
mod read;
mod receive;
mod replay;
mod run;
mod send;

use std::{
    fmt,
    io::Read,
    path::Path,
    sync::{Arc, atomic::AtomicBool},
};

use indicatif::ProgressBar;

use read::Rows;
use run::Run;
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
pub async fn import<R: Read + Send + 'static>(
    client: &Client,
    format: Format,
    input: R,
    options: ImportOptions,
) -> Result<ImportSummary, ClientError> {
    let rows = Rows::new(format, input, &options.file_label)?;
    let mut run = Run::new(client, options);
    pipeline::rows(&mut run, rows).await?;
    if !run.stopped()
        && let Err(e) = run.last_phase().await
    {
        run.halt(&e);
    }
    Ok(run.finish())
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
