//! `truce watch`: follow the log as entries become durable, filtered on the
//! server; reconnects and resumes by itself; exits cleanly on Ctrl-C, or
//! after the backlog with --until-caught-up.

use std::io::Write;

use clap::Args;
use truce_proto::v1::{EntryKind, GetEntryResponse, SubscribeFilter};

use super::{
    CliError,
    flags::{parse_enum, parse_time},
    render::{Output, entry_row},
    terminal, values,
};
use truce_client::{Client, Event, Start};

/// `truce watch`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce watch --from-start --until-caught-up
  truce watch --after-seq 1234          # resume where a previous watch stopped
  truce watch --admin1 \"Donetsk Oblast\" --type drone-strike --follow")]
pub struct WatchFlags {
    /// Start with every entry from the beginning.
    #[arg(long, conflicts_with_all = ["from_seq", "after_seq", "recorded_from"])]
    pub from_start: bool,
    /// Start at this sequence (inclusive).
    #[arg(long, value_name = "N", conflicts_with_all = ["after_seq", "recorded_from"])]
    pub from_seq: Option<u64>,
    /// Start after this sequence (exclusive): where a previous watch stopped.
    #[arg(long, value_name = "N", conflicts_with = "recorded_from")]
    pub after_seq: Option<u64>,
    /// Start at the first entry the log recorded at or after this time
    /// (inclusive; the time of recording, not of the event).
    #[arg(long, alias = "since", value_name = "TIME")]
    pub recorded_from: Option<String>,
    /// Exit once the backlog has been printed.
    #[arg(long)]
    pub until_caught_up: bool,
    /// Only entries of this kind (repeatable).
    #[arg(long = "kind", value_parser = values::entry_kind(), ignore_case = true)]
    pub kinds: Vec<String>,
    #[command(flatten)]
    pub filter: super::list_flags::ReportFilterFlags,
    /// Also the claims, status changes, sources and corrections of matching
    /// reports and agreements.
    #[arg(long)]
    pub follow: bool,
}

impl WatchFlags {
    fn into_parts(self) -> Result<(Start, SubscribeFilter, bool), String> {
        let start = if self.from_start {
            Start::FromStart
        } else if let Some(n) = self.from_seq {
            Start::FromSequence(n)
        } else if let Some(n) = self.after_seq {
            Start::AfterSequence(n)
        } else if let Some(t) = &self.recorded_from {
            Start::Since(parse_time("recorded-from", t)?)
        } else {
            Start::FromNow
        };
        let filter = SubscribeFilter {
            kinds: self
                .kinds
                .iter()
                .map(|k| parse_enum("kind", "ENTRY_KIND_", k, EntryKind::from_str_name))
                .collect::<Result<_, _>>()?,
            reports: Some(self.filter.into_filter()?),
            follow: self.follow,
        };
        Ok((start, filter, self.until_caught_up))
    }
}

pub async fn run(client: &Client, out: &Output, flags: WatchFlags) -> Result<(), CliError> {
    let (start, filter, until_caught_up) = flags.into_parts().map_err(CliError::Usage)?;
    let mut sub = client.subscribe(start, filter);
    let mut header = !out.is_json();
    loop {
        let next = tokio::select! {
            n = sub.next_event() => n,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(event) = next else {
            return Ok(());
        };
        match event? {
            Event::Entry { raw, entry, .. } => {
                let mut stdout = terminal::stdout();
                if out.is_json() {
                    let line = serde_json::to_string(&GetEntryResponse {
                        entry: Some(*entry),
                        raw,
                    })
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                    writeln!(stdout, "{line}")?;
                } else {
                    if header {
                        writeln!(
                            stdout,
                            "{:<9} {:<30} {:<10} {:<30} SUMMARY",
                            "SEQUENCE", "RECORDED AT", "KIND", "RECORD"
                        )?;
                        header = false;
                    }
                    writeln!(stdout, "{}", entry_row(&entry))?;
                }
                stdout.flush()?;
            }
            Event::CaughtUp(seq) => {
                if until_caught_up {
                    return Ok(());
                }
                if !out.is_json() {
                    eprintln!("-- caught up at sequence {seq}; live from here --");
                }
            }
            Event::Progress(_) => {}
        }
    }
}
