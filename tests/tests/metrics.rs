//! The metrics endpoint: a daemon with `metrics_listen` on 127.0.0.1:0
//! serves `GET /metrics` in the Prometheus text format, and the values
//! follow what happened (appends, a rejected write, a duplicate, an open
//! subscription, the access layer's refusals); it is off by default and
//! stops with the daemon.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::{collections::BTreeMap, net::SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use truce_client::Client;
use truce_daemon::{Daemon, test_settings};
use truce_proto::v1::{
    SubmitReportRequest, SubscribeRequest, subscribe_request, truce_client::TruceClient,
};
use truce_tests::seed;

/// `GET path` over a fresh connection: (status line, content type, body).
async fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_owned();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Every sample line as `name{labels}` → value; panics on a line that is
/// not a comment or `name{labels} value`.
fn samples(body: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.ends_with('}') && labels.contains("=\""),
                "bad labels: {line}"
            );
        }
        assert!(
            out.insert(series.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    assert!(
        body.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    out
}

#[tokio::test]
async fn the_endpoint_reports_appends_errors_subscribers_and_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = Daemon::new(settings).start().await.unwrap();
    let addr = running.metrics_addr().unwrap();
    assert_ne!(addr.port(), 0);
    assert_ne!(addr, running.local_addr());
    let client = Client::connect(running.url()).await.unwrap();

    // Before any write.
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    let before = samples(&body);
    assert_eq!(before["truce_appends_total"], 0.0);
    assert_eq!(before["truce_subscribers"], 0.0);
    assert_eq!(before["truce_stream_buffer_bytes"], 0.0);
    assert_eq!(before["truce_streams_ended_stalled"], 0.0);

    // Writes, one of them twice (acknowledged, not appended again).
    let receipts = seed::submit_all(&client).await;
    let report = seed::report(1);
    client.submit_report(report.clone()).await.unwrap();
    let again = client.submit_report(report).await.unwrap();
    assert!(again.duplicate);
    let appended = receipts.len() as f64 + 1.0;
    let acknowledged = appended + 1.0;

    // A rejected write: no report at all.
    let mut raw = TruceClient::connect(running.url()).await.unwrap();
    let err = raw
        .submit_report(SubmitReportRequest {
            request_id: "metrics-bad".into(),
            ..SubmitReportRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");

    // An open subscription: its first message means it is registered.
    let mut stream = raw
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::FromStart(true)),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());

    let (_, _, body) = get(addr, "/metrics").await;
    let m = samples(&body);
    assert_eq!(m["truce_appends_total"], appended, "{body}");
    assert_eq!(m["truce_durable_sequence"], appended);
    assert_eq!(m["truce_grpc_errors_total{code=\"INVALID_ARGUMENT\"}"], 1.0);
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("truce_grpc_errors"))
            .count(),
        1,
        "no other error: {body}"
    );
    assert_eq!(m["truce_subscribers"], 1.0);
    assert_eq!(m["truce_lagging_subscribers"], 0.0);
    assert!(m["truce_store_size_bytes"] > 0.0);
    // Latency of every acknowledged write, new or duplicate.
    assert_eq!(m["truce_append_latency_seconds_count"], acknowledged);
    assert!(m["truce_append_latency_seconds_sum"] > 0.0);
    assert_eq!(
        m["truce_append_latency_seconds_bucket{le=\"+Inf\"}"],
        acknowledged
    );
    // Groups: as many as synced, holding every appended entry.
    let groups = m["truce_group_commit_entries_count"];
    assert!(groups >= 1.0 && groups <= appended, "{groups}");
    assert_eq!(m["truce_group_commit_entries_sum"], appended);
    assert_eq!(m["truce_fsync_latency_seconds_count"], groups);
    assert!(m["truce_fsync_latency_seconds_sum"] > 0.0);

    // The subscription closed: the gauge follows.
    drop(stream);
    let mut subscribers = 1.0;
    for _ in 0..200 {
        let (_, _, body) = get(addr, "/metrics").await;
        subscribers = samples(&body)["truce_subscribers"];
        if subscribers == 0.0 {
            break;
        }
        // The stream task notices the closed channel asynchronously.
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(subscribers, 0.0);

    // Other paths are not served.
    let (status, _, _) = get(addr, "/").await;
    assert!(status.contains(" 404 "), "{status}");

    // The endpoint stops with the daemon.
    running.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let running = Daemon::new(test_settings(dir.path()))
        .start()
        .await
        .unwrap();
    assert_eq!(running.metrics_addr(), None);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_access_layers_refusals_are_counted_by_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.tokens = vec![truce_daemon::access::TokenEntry {
        name: "reader".into(),
        role: truce_daemon::access::Role::Reader,
        sha256: [7; 32],
    }];
    let running = Daemon::new(settings).start().await.unwrap();
    let mut raw = TruceClient::connect(running.url()).await.unwrap();
    for _ in 0..2 {
        let err = raw.submit_report(seed::report(1)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    }
    let (_, _, body) = get(running.metrics_addr().unwrap(), "/metrics").await;
    let m = samples(&body);
    assert_eq!(
        m["truce_grpc_errors_total{code=\"UNAUTHENTICATED\"}"], 2.0,
        "{body}"
    );
    assert_eq!(m["truce_appends_total"], 0.0);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn undecodable_requests_count_as_invalid_argument_not_internal() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = Daemon::new(settings).start().await.unwrap();
    let url = running.url();
    for (method, bytes) in [
        ("SubmitReport", vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        // A string field (GetReportRequest.id) that is not UTF-8.
        ("GetReport", vec![0x0a, 0x02, 0xc3, 0x28]),
        ("Subscribe", vec![0x7b; 200]),
    ] {
        let status = truce_tests::raw::call(&url, method, bytes)
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{method}: {status:?}"
        );
    }
    let (_, _, body) = get(running.metrics_addr().unwrap(), "/metrics").await;
    let m = samples(&body);
    assert_eq!(
        m["truce_grpc_errors_total{code=\"INVALID_ARGUMENT\"}"], 3.0,
        "{body}"
    );
    assert!(
        !m.contains_key("truce_grpc_errors_total{code=\"INTERNAL\"}"),
        "{body}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_rewritten_entry_and_the_scrub_show_in_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = Daemon::new(settings).start().await.unwrap();
    let addr = running.metrics_addr().unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
    let size = client.get_checkpoint().await.unwrap().tree_size;
    running.scrub().await.unwrap();
    let clean = samples(&get(addr, "/metrics").await.2);
    assert_eq!(clean["truce_entry_hash_mismatches"], 0.0);
    assert_eq!(clean["truce_log_damaged"], 0.0);
    assert_eq!(clean["truce_scrub_passes"], 1.0);
    assert_eq!(clean["truce_scrub_position"], size as f64);

    truce_tests::tamper::rewrite_entry(dir.path(), 2, truce_tests::tamper::flip_a_letter);
    assert!(client.get_entry(2).await.is_err());
    running.scrub().await.unwrap();
    let damaged = samples(&get(addr, "/metrics").await.2);
    assert_eq!(damaged["truce_entry_hash_mismatches"], 1.0);
    assert_eq!(damaged["truce_log_damaged"], 1.0);
    assert_eq!(damaged["truce_scrub_log_damage_found"], 1.0);
    assert_eq!(damaged["truce_grpc_errors_total{code=\"DATA_LOSS\"}"], 1.0);
    running.shutdown().await.unwrap();
}
