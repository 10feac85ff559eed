//! `truce submit --file F`: JSON Lines of envelopes in, one receipt per
//! line out, each printed as it arrives. Lines are sent in order (a line
//! may refer to ids created by earlier ones); the first failure stops the
//! run unless --keep-going. A line without a request id gets one derived
//! from its content, so re-running a file is always safe. A progress bar
//! on a terminal (none when piped); Ctrl-C stops between two lines; the
//! run ends with a summary line on stderr, and a stopped run says where.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    process::ExitCode,
    sync::atomic::Ordering,
};

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use truce_proto::v1::{Envelope, Receipt, envelope::Kind};

use super::{CliError, import, terminal};
use truce_client::{Client, ClientError};

use crate::time;

/// What a run did so far.
#[derive(Debug, Default)]
struct Tally {
    written: u64,
    duplicates: u64,
    failed: u64,
    /// The last line whose receipt came back, and the highest sequence.
    line: usize,
    sequence: u64,
}

/// Prints receipts as they arrive, around the progress bar.
struct Receipts {
    json: bool,
    bar: ProgressBar,
    header: bool,
}

impl Receipts {
    fn print(&mut self, line: usize, r: &Receipt) -> Result<(), CliError> {
        let text = if self.json {
            serde_json::to_string(r)
                .map_err(|e| CliError::Usage(format!("cannot print as JSON: {e}")))?
        } else {
            let row = format!(
                "{line:<6} {:<9} {:<40} {:<24} {}",
                r.sequence,
                r.record_id,
                time::format(r.recorded_at.as_ref()),
                if r.duplicate { "yes" } else { "no" }
            );
            if self.header {
                row
            } else {
                self.header = true;
                let head = format!(
                    "{:<6} {:<9} {:<40} {:<24} DUPLICATE",
                    "LINE", "SEQUENCE", "RECORD", "RECORDED AT"
                );
                format!("{head}\n{row}")
            }
        };
        self.bar
            .suspend(|| writeln!(terminal::stdout(), "{text}"))
            .map_err(CliError::from)
    }
}

fn open(file: &str) -> Result<(Box<dyn BufRead>, Option<u64>), CliError> {
    if file == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin())), None));
    }
    let f = File::open(file).map_err(|e| CliError::Usage(format!("cannot open {file}: {e}")))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::new(f)), len))
}

pub async fn run(
    client: &Client,
    json: bool,
    file: &str,
    keep_going: bool,
) -> Result<ExitCode, CliError> {
    let (mut reader, len) = open(file)?;
    let bar = import::progress_bar(len);
    let interrupt = import::interrupt_flag();
    let mut printer = Receipts {
        json,
        bar: bar.clone(),
        header: false,
    };
    // The exit code: 1 if any failure was the server's or the
    // connection's, else 2 if any line was rejected, else 0 (130: Ctrl-C).
    let mut exit: Option<ExitCode> = None;
    let (mut tally, mut server_failed, mut stop) = (Tally::default(), false, None);
    let (mut number, mut offset, mut buf) = (0usize, 0u64, String::new());
    loop {
        if interrupt.load(Ordering::Relaxed) {
            stop = Some("interrupted".to_owned());
            exit = Some(ExitCode::from(130));
            break;
        }
        buf.clear();
        let n = reader.read_line(&mut buf)?;
        if n == 0 {
            break;
        }
        number += 1;
        offset += n as u64;
        bar.set_position(offset);
        if buf.trim().is_empty() {
            continue;
        }
        let result = match parse_line(buf.trim()) {
            Ok(envelope) => client.submit(envelope).await.map_err(CliError::from),
            Err(e) => Err(CliError::Usage(e)),
        };
        let e = match result {
            Ok(receipt) => {
                printer.print(number, &receipt)?;
                tally.line = number;
                tally.sequence = tally.sequence.max(receipt.sequence);
                *if receipt.duplicate {
                    &mut tally.duplicates
                } else {
                    &mut tally.written
                } += 1;
                continue;
            }
            Err(e) => e,
        };
        tally.failed += 1;
        bar.suspend(|| terminal::eprintln(format_args!("truce: {file}:{number}: {}", e.shown())));
        let unavailable = matches!(&e, CliError::Client(c) if !c.is_usage() && c.code() != Some(tonic::Code::Unimplemented));
        server_failed |= matches!(e.exit_code(), c if c == ExitCode::from(1));
        exit = Some(if server_failed {
            ExitCode::from(1)
        } else {
            e.exit_code()
        });
        if unavailable {
            stop = Some(e.shown());
        }
        if !keep_going || unavailable {
            break;
        }
    }
    bar.finish_and_clear();
    summarize(file, &tally, stop.as_deref());
    Ok(exit.unwrap_or(ExitCode::SUCCESS))
}

/// The summary line, and where a stopped run stopped.
fn summarize(file: &str, t: &Tally, stop: Option<&str>) {
    terminal::eprintln(format_args!(
        "submitted {} written, {} duplicate, {} failed",
        t.written, t.duplicates, t.failed
    ));
    if let Some(why) = stop {
        terminal::eprintln(format_args!(
            "truce: {file}: stopped after line {} (sequence {}): {why}; re-running the file is safe: what is in comes back as duplicates",
            t.line, t.sequence
        ));
    }
}

/// The request id of a line that gives none: derived from its content,
/// so the same line sent again is the same write.
fn derived_request_id(envelope: &Envelope) -> Result<String, String> {
    let canonical = serde_json::to_string(envelope).map_err(|e| e.to_string())?;
    let hex = hex::encode(Sha256::digest(canonical.as_bytes()));
    Ok(format!("submit-{}", hex.get(..40).unwrap_or(&hex)))
}

fn request_id_of(envelope: &mut Envelope) -> Option<&mut String> {
    Some(match envelope.kind.as_mut()? {
        Kind::Agreement(r) => &mut r.request_id,
        Kind::Report(r) => &mut r.request_id,
        Kind::Claim(r) => &mut r.request_id,
        Kind::Status(r) => &mut r.request_id,
        Kind::Source(r) => &mut r.request_id,
        Kind::Correction(r) => &mut r.request_id,
    })
}

/// One line: an envelope in proto3 JSON holding exactly one request.
fn parse_line(line: &str) -> Result<Envelope, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let keys: Vec<&String> = value
        .as_object()
        .ok_or_else(|| "a line must be a JSON object".to_owned())?
        .keys()
        .collect();
    if keys.len() != 1 {
        return Err(format!(
            "a line holds exactly one of agreement, report, claim, status, source, correction; found {}",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| format!("not a valid envelope: {e}"))?;
    if envelope.kind.is_none() {
        return Err(ClientError::Request("the envelope holds no request".into()).to_string());
    }
    let mut envelope = envelope;
    let derived = derived_request_id(&envelope)?;
    if let Some(id) = request_id_of(&mut envelope).filter(|id| id.is_empty()) {
        *id = derived;
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_per_line() {
        assert!(parse_line(r#"{"agreement": {"requestId": "a"}}"#).is_ok());
        assert!(parse_line(r#"{"agreement": {}, "report": {}}"#).is_err());
        assert!(parse_line(r#"{}"#).is_err());
        assert!(parse_line(r#"{"bogus": {}}"#).is_err());
        assert!(parse_line("[1]").is_err());
    }

    #[test]
    fn a_line_without_a_request_id_gets_one_from_its_content() {
        let id = |line: &str| {
            let mut e = parse_line(line).unwrap();
            request_id_of(&mut e).unwrap().clone()
        };
        let a = id(r#"{"agreement": {"agreement": {"title": "t"}}}"#);
        assert!(a.starts_with("submit-") && a.len() == 47, "{a}");
        assert_eq!(
            a,
            id(r#"{ "agreement": { "agreement": { "title": "t" } } }"#)
        );
        assert_ne!(a, id(r#"{"agreement": {"agreement": {"title": "u"}}}"#));
        assert_eq!(id(r#"{"agreement": {"requestId": "mine"}}"#), "mine");
    }
}
