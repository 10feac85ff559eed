//! The real `truced` with `--log-format json`: every stderr line is a JSON
//! object; an accepted write logs its request id, method, submitter,
//! sequence and duplicate flag, a rejected one its code and field; and
//! `--metrics-listen` serves `/metrics` at the address it logs.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use truce_client::Client;
use truce_proto::v1::{
    Agreement, AgreementForm, AgreementMedium, AgreementParty, AgreementPurpose, EffectiveFrom,
    PartyRole, RecordAgreementRequest, truce_client::TruceClient,
};

const REQUEST_ID: &str = "logs-test-agreement-7f3a";

fn agreement() -> RecordAgreementRequest {
    let at = pbjson_types::Timestamp {
        seconds: 1_742_000_000,
        nanos: 0,
    };
    let party = |p: &str| AgreementParty {
        party: p.into(),
        role: PartyRole::Signatory.into(),
        ..Default::default()
    };
    RecordAgreementRequest {
        request_id: REQUEST_ID.into(),
        with_proof: false,
        agreement: Some(Agreement {
            id: "agreement-logs".into(),
            title: "Log test agreement".into(),
            parties: vec![party("AA"), party("BB")],
            form: AgreementForm::Bilateral.into(),
            medium: AgreementMedium::Written.into(),
            purpose: AgreementPurpose::Humanitarian.into(),
            declared_at: Some(at),
            effective_from: vec![EffectiveFrom {
                at: Some(at),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// The first JSON line (within a deadline) that `pick` accepts.
fn wait_for(
    lines: &mpsc::Receiver<serde_json::Value>,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the expected log line arrives");
        if pick(&line) {
            return line;
        }
    }
}

fn field<'a>(line: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &line["fields"][name]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_truced"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--shutdown-pause-ms",
            "0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("TRUCE_LOG", "info,truce_daemon=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    // Every stderr line must parse as a JSON object.
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            let _ = tx.send(value);
        }
    });

    let metrics = wait_for(&lines, |l| field(l, "message") == "serving metrics");
    let metrics_addr = field(&metrics, "addr").as_str().unwrap().to_owned();

    let client = Client::connect(format!("http://{addr}")).await.unwrap();
    let receipt = client.record_agreement(agreement()).await.unwrap();
    let accepted = wait_for(&lines, |l| field(l, "request_id") == REQUEST_ID);
    assert_eq!(accepted["level"], "INFO");
    assert_eq!(field(&accepted, "message"), "write accepted");
    assert_eq!(field(&accepted, "method"), "RecordAgreement");
    assert_eq!(field(&accepted, "submitter"), "anonymous");
    assert_eq!(field(&accepted, "sequence"), receipt.sequence);
    assert_eq!(field(&accepted, "duplicate"), false);

    // The same request again: a duplicate, logged as one.
    client.record_agreement(agreement()).await.unwrap();
    let again = wait_for(&lines, |l| field(l, "request_id") == REQUEST_ID);
    assert_eq!(field(&again, "duplicate"), true);
    assert_eq!(field(&again, "sequence"), receipt.sequence);

    // A rejected write: its code and field.
    let mut raw = TruceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut bad = agreement();
    bad.request_id = "logs-test-bad".into();
    if let Some(a) = bad.agreement.as_mut() {
        a.title.clear();
    }
    let err = raw.record_agreement(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let rejected = wait_for(&lines, |l| field(l, "request_id") == "logs-test-bad");
    assert_eq!(field(&rejected, "message"), "write rejected");
    assert_eq!(field(&rejected, "code"), "INVALID_ARGUMENT");
    assert_eq!(field(&rejected, "field"), "agreement.title");

    // The metrics endpoint of the binary counts the same.
    let mut stream = std::net::TcpStream::connect(&metrics_addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    assert!(body.contains("\ntruce_appends_total 1\n"), "{body}");
    assert!(
        body.contains("\ntruce_grpc_errors_total{code=\"INVALID_ARGUMENT\"} 1\n"),
        "{body}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    reader.join().expect("every stderr line was JSON");
}
