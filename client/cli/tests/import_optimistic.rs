//! `truce import`'s optimistic creates, run as a user would against a
//! daemon started in-process on 127.0.0.1:0 with its metrics endpoint on:
//! a fresh import looks none of its rows up (no GetReport answered
//! NOT_FOUND, where each row used to cost one); a report that exists with
//! other content (made another way, or revised in the file, twice in one
//! file) is still found through the create's ALREADY_EXISTS and corrected,
//! or left unchanged when the row says nothing new.

use std::{net::SocketAddr, path::Path};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use truce_client::Client;
use truce_daemon::Running;
use truce_proto::v1::{Report, SubmitReportRequest, envelope::Kind};

mod common;
use common::{daemon_with_agreement, seed_kind, text, truce};

/// A daemon with its metrics endpoint, holding the seed's agreement.
async fn daemon(dir: &Path) -> (Running, Client) {
    daemon_with_agreement(dir, |s| {
        s.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await
}

/// The seed's first report under another id.
fn report(id: &str) -> Report {
    let Some(Kind::Report(req)) = seed_kind(1) else {
        panic!("line 2 is a report")
    };
    let mut r = req.report.expect("a report");
    r.id = id.into();
    r
}

fn write(dir: &Path, name: &str, reports: &[Report]) -> String {
    let lines: Vec<String> = reports
        .iter()
        .map(|r| serde_json::to_string(r).expect("as set up"))
        .collect();
    let file = dir.join(name);
    std::fs::write(&file, lines.join("\n") + "\n").expect("as set up");
    file.to_str().expect("as set up").to_owned()
}

/// Imports `file`; its summary line.
fn import(url: &str, file: &str) -> String {
    let out = truce(url, &["import", "--format", "jsonl", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// The calls the daemon answered NOT_FOUND so far (its metrics).
async fn not_found(running: &Running) -> u64 {
    let addr = running.metrics_addr().expect("metrics on");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    assert!(body.contains("truce_appends_total"), "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("truce_grpc_errors_total{code=\"NOT_FOUND\"} "))
        .map_or(0, |v| v.parse::<f64>().expect("a count") as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_import_looks_nothing_up() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(&dir.path().join("d")).await;
    let rows: Vec<Report> = (0..50).map(|i| report(&format!("fresh-{i}"))).collect();
    let file = write(dir.path(), "fresh.jsonl", &rows);
    assert_eq!(
        import(&d.url(), &file),
        "imported 50 new, 0 corrected, 0 unchanged, 0 failed"
    );
    assert_eq!(not_found(&d).await, 0, "no row was looked up");
    // The counter does count lookups of missing reports.
    let e = client.get_report("fresh-none").await.expect_err("missing");
    assert_eq!(e.code(), Some(tonic::Code::NotFound));
    assert_eq!(not_found(&d).await, 1);

    // Again: every create is a duplicate, each report is looked up, and
    // nothing is written.
    let before = client.read_log(1, 1).await.expect("log").durable_sequence;
    assert_eq!(
        import(&d.url(), &file),
        "imported 0 new, 0 corrected, 50 unchanged, 0 failed"
    );
    let after = client.read_log(1, 1).await.expect("log").durable_sequence;
    assert_eq!(after, before);
    d.shutdown().await.expect("as set up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_made_another_way_is_found_and_corrected() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(&dir.path().join("d")).await;
    // Made through the unary call: the import's create of the same id
    // carries another request id and is refused ALREADY_EXISTS.
    let elsewhere = report("made-elsewhere");
    let request = SubmitReportRequest {
        request_id: "made-by-hand".into(),
        report: Some(elsewhere.clone()),
        with_proof: false,
    };
    client.submit_report(request).await.expect("submitted");
    let file = write(dir.path(), "same.jsonl", std::slice::from_ref(&elsewhere));
    assert_eq!(
        import(&d.url(), &file),
        "imported 0 new, 0 corrected, 1 unchanged, 0 failed"
    );

    // Revised twice in one file, beside a new report: each revision is a
    // correction, the file's last word is what the store holds.
    let mut first = elsewhere.clone();
    first.notes = "revised once".into();
    let mut second = elsewhere.clone();
    second.notes = "revised twice".into();
    let rows = [first, report("beside"), second];
    let file = write(dir.path(), "revised.jsonl", &rows);
    assert_eq!(
        import(&d.url(), &file),
        "imported 1 new, 2 corrected, 0 unchanged, 0 failed"
    );
    let view = client.get_report("made-elsewhere").await.expect("there");
    assert_eq!(view.report.expect("a report").notes, "revised twice");
    assert_eq!(view.history.len(), 3, "{:?}", view.history);
    assert_eq!(not_found(&d).await, 0, "no row was looked up in vain");
    d.shutdown().await.expect("as set up");
}
