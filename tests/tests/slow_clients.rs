//! Slow and silent clients cost bounded memory: a stream whose client
//! stops reading is paused within its share of the send budget
//! (`stream_buffer_mb`), and ended with RESOURCE_EXHAUSTED when it has
//! waited the stall timeout, while other callers are served; a connection
//! that never sends a byte is closed after the handshake timeout, and one
//! that goes quiet after its opening after the idle timeout. Every wait is
//! on an event (the budget's count of ended streams, a socket's EOF),
//! bounded by PATIENCE.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};
use truce_client::Client;
use truce_daemon::{Daemon, Running, Settings, test_settings};
use truce_proto::v1::{
    ComplianceReportRequest, SubmitReportRequest, SubscribeFilter, SubscribeRequest,
    subscribe_request, truce_client::TruceClient,
};
use truce_tests::seed;

/// How long a test waits for something that should happen soon.
const PATIENCE: Duration = Duration::from_secs(20);
/// Reports seeded: about 3.4 MiB of entries, several times the budget.
const REPORTS: usize = 400;

async fn start(dir: &std::path::Path, change: impl FnOnce(&mut Settings)) -> Running {
    let mut settings = test_settings(dir);
    change(&mut settings);
    Daemon::new(settings).start().await.expect("daemon starts")
}

/// A report with long notes (about 8.5 KiB as an entry).
fn big_report(n: usize) -> SubmitReportRequest {
    let mut r = seed::report(n);
    if let Some(report) = r.report.as_mut() {
        report.notes = format!("{n} {}", "x".repeat(8000));
    }
    r
}

/// A daemon with a 1 MiB budget, a one-second stall timeout and the seed
/// agreement with [`REPORTS`] long reports.
async fn seeded(dir: &std::path::Path) -> (Running, Client) {
    let running = start(dir, |s| {
        s.stream_buffer_bytes = 1024 * 1024;
        s.stream_stall_timeout = Duration::from_secs(1);
    })
    .await;
    let client = Client::connect(running.url()).await.expect("connects");
    client.record_agreement(seed::agreement()).await.unwrap();
    for n in 0..REPORTS {
        client.submit_report(big_report(n)).await.unwrap();
    }
    (running, client)
}

/// A raw client whose HTTP/2 windows hold little, so that the daemon's
/// side fills at once when it stops reading.
async fn small_window_client(running: &Running) -> TruceClient<Channel> {
    let channel = Endpoint::from_shared(running.url())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    TruceClient::new(channel).max_decoding_message_size(16 << 20)
}

/// Waits until the budget has ended `n` streams.
async fn ended(running: &Running, n: u64) {
    let mut ended = running.send_budget().ended();
    tokio::time::timeout(PATIENCE, ended.wait_for(|e| *e >= n))
        .await
        .expect("a stalled stream is ended within PATIENCE")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_paused_in_its_share_then_ended() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = seeded(dir.path()).await;
    let budget = running.send_budget();
    let mut raw = small_window_client(&running).await;
    let request = SubscribeRequest {
        start: Some(subscribe_request::Start::FromStart(true)),
        filter: Some(SubscribeFilter::default()),
        ..SubscribeRequest::default()
    };
    // Subscribed, and not read.
    let mut stalled = raw.subscribe(request).await.unwrap().into_inner();
    ended(&running, 1).await;
    // Paused: it never held more than its share (its queue, the page in
    // hand and what the transport holds), far from the whole budget it
    // would fill with the 3.4 MiB it has to send.
    assert!(
        budget.peak() <= budget.limit() / 2,
        "peak {} of {}",
        budget.peak(),
        budget.limit()
    );
    // Others are served meanwhile.
    client.get_checkpoint().await.unwrap();
    // The stalled client reads at last: what reached it, then the end.
    let mut entries = 0;
    let status = loop {
        match stalled.message().await {
            Ok(Some(_)) => entries += 1,
            Ok(None) => panic!("the stream ended without a status after {entries}"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert!(
        status.message().contains("stream_stall_timeout_ms"),
        "{status}"
    );
    assert!(entries < REPORTS, "{entries} messages reached it");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compliance_report_that_is_not_read_is_ended_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = seeded(dir.path()).await;
    let budget = running.send_budget();
    let mut raw = small_window_client(&running).await;
    let request = ComplianceReportRequest {
        agreement_id: seed::agreement_id(),
        ..ComplianceReportRequest::default()
    };
    let mut stalled = raw
        .get_compliance_report(request)
        .await
        .unwrap()
        .into_inner();
    ended(&running, 1).await;
    assert!(budget.peak() <= budget.limit(), "peak {}", budget.peak());
    client.get_checkpoint().await.unwrap();
    let status = loop {
        match stalled.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the report completed: the test needs more annex"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    running.shutdown().await.unwrap();
}

/// Reads until the daemon closes the connection (EOF, or a reset).
async fn closed_by_daemon(mut socket: tokio::net::TcpStream) {
    let mut sink = Vec::new();
    let read = tokio::time::timeout(PATIENCE, socket.read_to_end(&mut sink))
        .await
        .expect("the daemon closes the connection within PATIENCE");
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |s| {
        s.handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let silent = tokio::net::TcpStream::connect(running.local_addr())
        .await
        .unwrap();
    closed_by_daemon(silent).await;
    // A client that talks is served.
    let client = Client::connect(running.url()).await.unwrap();
    client.get_checkpoint().await.unwrap();
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_goes_quiet_after_its_opening_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |s| {
        s.handshake_timeout = Duration::from_secs(3600);
        s.idle_timeout = Duration::from_secs(1);
        s.keepalive_interval = Duration::ZERO;
    })
    .await;
    let mut socket = tokio::net::TcpStream::connect(running.local_addr())
        .await
        .unwrap();
    // HTTP/2's preface and an empty SETTINGS frame.
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    // The daemon's SETTINGS, then our acknowledgement: the opening is done.
    let mut header = [0u8; 9];
    socket.read_exact(&mut header).await.unwrap();
    assert_eq!(header[3], 4, "a SETTINGS frame first");
    socket.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap();
    closed_by_daemon(socket).await;
    running.shutdown().await.unwrap();
}
