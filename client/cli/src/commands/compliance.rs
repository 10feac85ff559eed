//! `truce compliance`: fetch a compliance report (annex pages assembled by
//! the client), print it as proto3 JSON or as text, and optionally write
//! its per-day timeline as SVG.

use std::{io::Write, path::PathBuf};

use clap::Args;
use truce_proto::v1::ComplianceReportRequest;

use super::{CliError, Server, flags::parse_time, render::Output, terminal};
use crate::{
    compliance,
    timeline::{self, TimelineError},
};

/// `truce compliance`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce compliance ru-ua-energy-moratorium-2025
  truce compliance ru-ua-energy-moratorium-2025 --as-of 12 --svg moratorium.svg --reading UA
  truce compliance ru-ua-energy-moratorium-2025 --from 2025-03-18 --until 2025-04-01 --no-annex")]
pub struct ComplianceFlags {
    /// The agreement's id.
    pub agreement: String,
    /// Start of the period, by when reports occurred (inclusive; RFC 3339
    /// or YYYY-MM-DD) [default: the earliest reading of the agreement's
    /// start].
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the period (exclusive) [default: when the agreement stopped
    /// applying, else the time of the as-of entry].
    #[arg(long, alias = "to", value_name = "TIME")]
    pub until: Option<String>,
    /// As the records stood at this log sequence [default: now].
    #[arg(long, default_value_t = 0, hide_default_value = true, value_name = "N")]
    pub as_of: u64,
    /// Leave out the annex (every report considered, with its sources).
    #[arg(long)]
    pub no_annex: bool,
    /// Also write a per-day timeline of in-scope alleged violations here,
    /// as SVG.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// The reading of the start the timeline shows: a party code, or `all`
    /// for a start agreed by all [default: the first reading].
    #[arg(long, value_name = "PARTY", requires = "svg")]
    pub reading: Option<String>,
}

impl ComplianceFlags {
    pub fn request(&self) -> Result<ComplianceReportRequest, String> {
        Ok(ComplianceReportRequest {
            agreement_id: self.agreement.clone(),
            period_from: self
                .from
                .as_deref()
                .map(|t| parse_time("from", t))
                .transpose()?,
            period_to: self
                .until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
            as_of_sequence: self.as_of,
            without_annex: self.no_annex,
        })
    }
}

/// Parses the flags (before connecting), fetches the report, writes the
/// SVG (before printing, so a bad `--reading` prints nothing), prints.
pub async fn run(server: &Server, out: &Output, flags: ComplianceFlags) -> Result<(), CliError> {
    let req = flags.request().map_err(CliError::Usage)?;
    let client = server.connect().await?;
    let report = client.compliance_report(req).await?;
    if let Some(path) = &flags.svg {
        let svg =
            timeline::timeline_svg(&report, flags.reading.as_deref()).map_err(|e| match e {
                TimelineError::UnknownReading { .. } => CliError::Usage(e.to_string()),
                TimelineError::Draw(_) => CliError::Io(std::io::Error::other(e)),
            })?;
        std::fs::write(path, svg)?;
    }
    let text = if out.is_json() {
        let mut line = serde_json::to_string(&report)
            .map_err(|e| CliError::Usage(format!("cannot print as JSON: {e}")))?;
        line.push('\n');
        line
    } else {
        compliance::compliance_text(&report)
    };
    terminal::stdout().write_all(text.as_bytes())?;
    if let Some(path) = &flags.svg {
        eprintln!("timeline written to {}", path.display());
    }
    Ok(())
}
