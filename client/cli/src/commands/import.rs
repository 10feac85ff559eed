//! `truce import --format jsonl|acled-csv FILE`: the flags, a progress bar
//! on a terminal (none when piped), failed rows on stderr as
//! `FILE:LINE: reason` while the good ones land, and a summary line (exit 2
//! if any row failed). Ctrl-C stops between rows; a run that stops early
//! (Ctrl-C: exit 130; the server failed: exit 1) says where on stderr.
//! The work is the library's (`crate::import`).

use std::{
    io::{IsTerminal, Read, Write},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, terminal};
use truce_client::Client;

use crate::import::{self, Format, ImportOptions, StopCause};

/// `truce import`.
#[derive(Debug, Args)]
pub struct ImportFlags {
    #[arg(long, value_enum)]
    pub format: Format,
    /// The file, or - for standard input.
    pub file: String,
    /// Stop at the first failed row (nothing after it is written).
    #[arg(long)]
    pub strict: bool,
}

/// A flag set on Ctrl-C (SIGINT), from now on: the run stops cleanly
/// between two writes instead of dying in the middle of one.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            set.store(true, Ordering::Relaxed);
        }
    });
    flag
}

/// A bar on stderr when it is a terminal, else nothing.
pub fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr()).with_style(style)
}

pub async fn run(client: &Client, json: bool, flags: ImportFlags) -> Result<ExitCode, CliError> {
    let (input, len): (Box<dyn Read + Send>, Option<u64>) = if flags.file == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&flags.file)
            .map_err(|e| CliError::Usage(format!("cannot open {}: {e}", flags.file)))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = progress_bar(len);
    let (label, shown) = (flags.file.clone(), bar.clone());
    let options = ImportOptions {
        strict: flags.strict,
        progress: bar,
        file_label: flags.file.clone(),
        on_error: Some(Box::new(move |e| {
            shown.suspend(|| terminal::eprintln(format_args!("{label}:{}: {}", e.line, e.reason)));
        })),
        interrupt: Some(interrupt_flag()),
    };
    let summary = import::import(client, flags.format, input, options).await?;
    if let Some(stopped) = &summary.stopped {
        terminal::eprintln(format_args!("truce: {}: {stopped}", flags.file));
    }
    if json {
        let counts = serde_json::json!({
            "new": summary.new,
            "corrected": summary.corrected,
            "unchanged": summary.unchanged,
            "failed": summary.failed,
        });
        writeln!(terminal::stdout(), "{counts}")?;
    } else {
        writeln!(terminal::stdout(), "{summary}")?;
    }
    Ok(match summary.stopped.as_ref().map(|s| &s.cause) {
        Some(StopCause::Interrupted) => ExitCode::from(130),
        Some(StopCause::Failed(_)) => ExitCode::from(1),
        None if summary.failed > 0 => ExitCode::from(2),
        None => ExitCode::SUCCESS,
    })
}
