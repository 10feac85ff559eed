//! `truce export`: query results as JSON Lines, GeoJSON or ACLED CSV, to
//! standard output or a file.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::{CliError, list_flags::ReportListFlags};
use truce_client::Client;

use crate::export;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One report view per line, proto3 JSON, with the entries behind it
    /// (what `truce import` sends again).
    Jsonl,
    /// A FeatureCollection of report points (QGIS, web maps).
    Geojson,
    /// CSV with ACLED's columns.
    AcledCsv,
}

/// `truce export`.
#[derive(Debug, Args)]
pub struct ExportFlags {
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub query: ReportListFlags,
}

pub async fn run(client: &Client, flags: ExportFlags) -> Result<(), CliError> {
    let (req, limit) = flags.query.into_request().map_err(CliError::Usage)?;
    let views = client.query_all_reports(req, limit).await?;
    let mut out: Box<dyn Write> = match &flags.output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match flags.format {
        Format::Jsonl => {
            for v in &views {
                let entries = export::entries_of(client, v).await?;
                let line =
                    export::jsonl_line(v, &entries).map_err(|e| CliError::Usage(e.to_string()))?;
                writeln!(out, "{line}")?;
            }
        }
        Format::Geojson => {
            writeln!(out, "{}", export::feature_collection(&views))?;
        }
        Format::AcledCsv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(export::ACLED_COLUMNS)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            for v in &views {
                w.write_record(export::acled_row(v))
                    .map_err(|e| CliError::Usage(e.to_string()))?;
            }
            w.flush()?;
        }
    }
    out.flush()?;
    Ok(())
}
