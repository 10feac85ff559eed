//! `truce submit --file F`: JSON Lines of envelopes in, one receipt per
//! line out. Lines are sent in order (a line may refer to ids created by
//! earlier ones); the first failure stops the run unless --keep-going.

use std::{
    io::{BufRead, BufReader},
    process::ExitCode,
};

use truce_proto::v1::Envelope;

use super::{CliError, render::Output, terminal};
use crate::{Client, ClientError};

pub async fn run(
    client: &Client,
    out: &Output,
    file: &str,
    keep_going: bool,
) -> Result<ExitCode, CliError> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| CliError::Usage(format!("cannot open {file}: {e}")))?;
        Box::new(BufReader::new(f))
    };
    // The exit code: 1 if any failure was the server's or the
    // connection's, else 2 if any line was rejected, else 0.
    let mut exit: Option<ExitCode> = None;
    let mut server_failed = false;
    let mut printer = out.receipt_printer();
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match parse_line(&line) {
            Ok(envelope) => client.submit(envelope).await.map_err(CliError::from),
            Err(e) => Err(CliError::Usage(e)),
        };
        match result {
            Ok(receipt) => printer.print(Some(number), &receipt)?,
            Err(e) => {
                printer.flush()?;
                terminal::eprintln(format_args!("truce: {file}:{number}: {}", e.shown()));
                let unavailable = matches!(&e, CliError::Client(c) if !c.is_usage() && c.code() != Some(tonic::Code::Unimplemented));
                server_failed |= matches!(e.exit_code(), c if c == ExitCode::from(1));
                exit = Some(if server_failed {
                    ExitCode::from(1)
                } else {
                    e.exit_code()
                });
                if !keep_going || unavailable {
                    break;
                }
            }
        }
    }
    printer.flush()?;
    Ok(exit.unwrap_or(ExitCode::SUCCESS))
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
}
