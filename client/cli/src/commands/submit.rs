//! `truce submit --file F`: JSON Lines of envelopes in, one receipt per
//! line out, each printed as it arrives. Lines are sent in order over one
//! WriteStream (`Client::write_stream`), at most `--window` unanswered (a
//! line may refer to ids created by earlier ones: the daemon commits them
//! in order); the first failure stops the sending unless --keep-going,
//! and the lines already sent are still answered and printed. A line without a request id gets one derived
//! from its content, so re-running a file is always safe. A progress bar
//! on a terminal (none when piped); Ctrl-C stops between two lines; the
//! run ends with a summary line on stderr, and a stopped run says where.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use truce_proto::v1::{Envelope, Receipt, envelope::Kind};

use super::{CliError, import, terminal};
use tokio::sync::mpsc;
use truce_client::{Client, ClientError, WriteSender};

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

fn open(file: &str) -> Result<(Box<dyn BufRead + Send>, Option<u64>), CliError> {
    if file == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin())), None));
    }
    let f = File::open(file).map_err(|e| CliError::Usage(format!("cannot open {file}: {e}")))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::new(f)), len))
}

/// A line as the sender handed it on: sent as the envelope with this
/// index in the stream, or refused before sending.
enum Line {
    Sent { number: usize, index: u64 },
    Bad { number: usize, error: String },
}

/// Why the sender stopped reading the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The end of the file.
    Eof,
    /// Ctrl-C.
    Interrupted,
    /// Told to stop (a failure without --keep-going, or the stream ended).
    Stopped,
}

/// What the sending side is told.
struct Control {
    interrupt: Arc<AtomicBool>,
    /// Set by the receipts side: stop sending.
    stop: Arc<AtomicBool>,
    /// Without it, a line that cannot be sent stops the sending there.
    keep_going: bool,
    bar: ProgressBar,
}

/// Reads lines and sends them over the stream, on a blocking thread (the
/// file may be a slow pipe), handing each line on in order.
fn produce(
    mut reader: Box<dyn BufRead + Send>,
    mut sender: WriteSender,
    lines: mpsc::Sender<Line>,
    control: Control,
) -> Result<Ended, CliError> {
    let Control {
        interrupt,
        stop,
        keep_going,
        bar,
    } = control;
    let runtime = tokio::runtime::Handle::current();
    let (mut number, mut offset, mut buf) = (0usize, 0u64, String::new());
    loop {
        if interrupt.load(Ordering::Relaxed) {
            return Ok(Ended::Interrupted);
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(Ended::Stopped);
        }
        buf.clear();
        let n = reader.read_line(&mut buf)?;
        if n == 0 {
            return Ok(Ended::Eof);
        }
        number += 1;
        offset += n as u64;
        bar.set_position(offset);
        if buf.trim().is_empty() {
            continue;
        }
        let line = match parse_line(buf.trim()) {
            Ok(envelope) => match runtime.block_on(sender.send(envelope)) {
                Ok(index) => Line::Sent { number, index },
                // The stream ended: its receipts say why.
                Err(_) => return Ok(Ended::Stopped),
            },
            Err(error) => Line::Bad { number, error },
        };
        let bad = matches!(line, Line::Bad { .. });
        if lines.blocking_send(line).is_err() || (bad && !keep_going) {
            return Ok(Ended::Stopped);
        }
    }
}

/// What the receipts side keeps while a run goes on.
struct Run<'a> {
    file: &'a str,
    keep_going: bool,
    printer: Receipts,
    tally: Tally,
    /// 1 if any failure was the server's or the connection's, else 2 if
    /// any line was rejected, else 0 (130: Ctrl-C).
    exit: Option<ExitCode>,
    server_failed: bool,
    /// Why the run stopped before the end, when it did.
    stopped: Option<String>,
    /// Tells the sender to stop reading.
    stop: Arc<AtomicBool>,
}

impl Run<'_> {
    fn accepted(&mut self, number: usize, receipt: &Receipt) -> Result<(), CliError> {
        self.printer.print(number, receipt)?;
        self.tally.line = number;
        self.tally.sequence = self.tally.sequence.max(receipt.sequence);
        *if receipt.duplicate {
            &mut self.tally.duplicates
        } else {
            &mut self.tally.written
        } += 1;
        Ok(())
    }

    fn failed(&mut self, number: usize, e: CliError) {
        self.tally.failed += 1;
        let file = self.file;
        self.printer
            .bar
            .suspend(|| terminal::eprintln(format_args!("truce: {file}:{number}: {}", e.shown())));
        let unavailable = matches!(&e, CliError::Client(c) if !c.is_usage() && c.code() != Some(tonic::Code::Unimplemented));
        self.server_failed |= e.exit_code() == ExitCode::from(1);
        self.exit = Some(if self.server_failed {
            ExitCode::from(1)
        } else {
            e.exit_code()
        });
        if unavailable && self.stopped.is_none() {
            self.stopped = Some(e.shown());
        }
        if !self.keep_going || unavailable {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// The stream broke: the lines sent and not answered may or may not
    /// be in.
    fn broken(&mut self, e: ClientError) {
        let e = CliError::from(e);
        self.server_failed = true;
        self.exit = Some(ExitCode::from(1));
        self.stopped = Some(e.shown());
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends the file's lines over one WriteStream (at most `window`
/// unanswered) and prints each line's receipt or error in line order.
pub async fn run(
    client: &Client,
    json: bool,
    file: &str,
    keep_going: bool,
    window: usize,
) -> Result<ExitCode, CliError> {
    let (reader, len) = open(file)?;
    let bar = import::progress_bar(len);
    let interrupt = import::interrupt_flag();
    let (sender, mut receipts) = client.write_stream(window).await?;
    let (lines_tx, mut lines) = mpsc::channel(window.clamp(1, 4096));
    let stop = Arc::new(AtomicBool::new(false));
    let control = Control {
        interrupt: Arc::clone(&interrupt),
        stop: Arc::clone(&stop),
        keep_going,
        bar: bar.clone(),
    };
    let producer = tokio::task::spawn_blocking(move || produce(reader, sender, lines_tx, control));
    let printer = Receipts {
        json,
        bar: bar.clone(),
        header: false,
    };
    let mut run = Run {
        file,
        keep_going,
        printer,
        tally: Tally::default(),
        exit: None,
        server_failed: false,
        stopped: None,
        stop,
    };
    while let Some(line) = lines.recv().await {
        match line {
            Line::Bad { number, error } => run.failed(number, CliError::Usage(error)),
            Line::Sent { number, index } => match receipts.next().await {
                Some(Ok(answer)) if answer.index == index => match answer.result {
                    Ok(receipt) => run.accepted(number, &receipt)?,
                    Err(e) => run.failed(number, e.into()),
                },
                Some(Ok(answer)) => run.broken(ClientError::Request(format!(
                    "the daemon answered envelope {} where {index} was due",
                    answer.index
                ))),
                Some(Err(e)) => run.broken(e),
                None => run.broken(ClientError::Request(
                    "the write stream ended before every line was answered".into(),
                )),
            },
        }
        if run.stopped.is_some() && run.server_failed {
            break;
        }
    }
    drop(lines);
    let ended = producer
        .await
        .map_err(|e| CliError::Usage(format!("the sender failed: {e}")))??;
    if ended == Ended::Interrupted {
        run.stopped = Some("interrupted".to_owned());
        run.exit = Some(ExitCode::from(130));
    }
    bar.finish_and_clear();
    summarize(file, &run.tally, run.stopped.as_deref());
    Ok(run.exit.unwrap_or(ExitCode::SUCCESS))
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
