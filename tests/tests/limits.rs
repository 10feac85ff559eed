//! Limits end to end: the per-token rate limit (and the bucket anonymous
//! callers share), the cap on concurrent streams per connection, and the
//! deadline of unary calls. Each is answered with a status, leaves other
//! callers alone and never stops the daemon. Every wait is bounded.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tonic::{Code, Request, transport::Channel};
use truce_client::{Client, ClientOptions};
use truce_daemon::{
    Daemon, Running, Settings,
    access::{Role, TokenEntry, tokens},
    test_settings,
};
use truce_proto::v1::{
    GetCheckpointRequest, SubscribeRequest, subscribe_request, subscribe_response,
    truce_client::TruceClient,
};
use truce_tests::{
    seed,
    sync::{Recorder, RecordingSync},
};

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(dir: &std::path::Path, change: impl FnOnce(&mut Settings)) -> Running {
    let mut settings = test_settings(dir);
    change(&mut settings);
    Daemon::new(settings).start().await.expect("daemon starts")
}

async fn client(running: &Running, token: Option<&str>) -> Client {
    let options = ClientOptions {
        token: token.map(str::to_owned),
        ..ClientOptions::default()
    };
    Client::connect_with(running.url(), options)
        .await
        .expect("connects")
}

fn token(name: &str, role: Role) -> TokenEntry {
    TokenEntry {
        name: name.into(),
        role,
        sha256: tokens::hash(&format!("truce_{name}")),
    }
}

/// Sends `n` cheap reads one after another: (answered, rate-limited).
async fn burst(client: &Client, n: usize) -> (usize, usize) {
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..n {
        match client.get_checkpoint().await {
            Ok(_) => ok += 1,
            Err(e) if e.code() == Some(Code::ResourceExhausted) => {
                assert!(e.to_string().contains("rate limit"), "{e}");
                limited += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    (ok, limited)
}

#[tokio::test]
async fn a_token_over_its_rate_is_refused_and_others_are_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path(), |s| {
        s.rate_limit_per_sec = 1;
        s.rate_limit_burst = 5;
        s.tokens = vec![
            token("a", Role::Reader),
            token("b", Role::Reader),
            token("ops", Role::Admin),
        ];
    })
    .await;
    let a = client(&running, Some("truce_a")).await;
    let started = Instant::now();
    let (ok, limited) = burst(&a, 20).await;
    // The burst, plus whatever one request per second refilled meanwhile.
    let refilled = started.elapsed().as_secs() as usize + 1;
    assert!(ok >= 5 && ok <= 5 + refilled, "{ok} answered");
    assert_eq!(ok + limited, 20);
    assert!(limited >= 20 - 5 - refilled);

    // Another token has its own bucket; the daemon goes on serving.
    let b = client(&running, Some("truce_b")).await;
    b.get_checkpoint().await.expect("b is not limited");
    let ops = client(&running, Some("truce_ops")).await;
    let receipt = ops
        .record_agreement(seed::agreement())
        .await
        .expect("writes go on");
    assert_eq!(receipt.sequence, 1);
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn anonymous_callers_share_one_bucket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path(), |s| {
        s.rate_limit_per_sec = 1;
        s.rate_limit_burst = 3;
    })
    .await;
    let first = client(&running, None).await;
    let (ok, limited) = burst(&first, 6).await;
    assert!((3..=4).contains(&ok) && limited >= 2, "{ok} {limited}");
    // A second connection is the same anonymous caller.
    let second = client(&running, None).await;
    let err = second.get_checkpoint().await.expect_err("shared bucket");
    assert_eq!(err.code(), Some(Code::ResourceExhausted));
    // RetryInfo says when the bucket has a token again: at 1/s, within 1 s.
    let delay = err.retry_delay().expect("RetryInfo");
    assert!(
        delay > std::time::Duration::ZERO && delay <= std::time::Duration::from_secs(1),
        "{delay:?}"
    );
    assert_eq!(err.reason().as_deref(), Some("RESOURCE_EXHAUSTED"));
    // Health is not counted.
    let channel = Channel::from_shared(running.url())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for _ in 0..5 {
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .expect("health is never limited");
    }
    running.shutdown().await.expect("clean shutdown");
}

async fn open_subscription(
    c: &mut TruceClient<Channel>,
) -> tonic::Streaming<truce_proto::v1::SubscribeResponse> {
    let req = SubscribeRequest {
        start: Some(subscribe_request::Start::FromStart(true)),
        ..SubscribeRequest::default()
    };
    let mut stream = c.subscribe(req).await.expect("subscribes").into_inner();
    // The caught-up marker: the stream is open on the server.
    let first = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("in time")
        .expect("a message")
        .expect("not the end");
    assert!(matches!(
        first.event,
        Some(subscribe_response::Event::CaughtUp(_))
    ));
    stream
}

#[tokio::test]
async fn streams_per_connection_are_capped_and_other_connections_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path(), |s| s.max_concurrent_streams = 2).await;
    let channel = Channel::from_shared(running.url())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let mut c = TruceClient::new(channel.clone());
    let first = open_subscription(&mut c).await;
    let _second = open_subscription(&mut c).await;

    // A third call on the same connection waits for a free stream.
    let mut queued = {
        let mut c = c.clone();
        tokio::spawn(async move { c.get_checkpoint(GetCheckpointRequest {}).await })
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut queued)
            .await
            .is_err(),
        "the third stream on one connection was not held back"
    );
    // Another connection is not affected.
    let other = client(&running, None).await;
    tokio::time::timeout(PATIENCE, other.get_checkpoint())
        .await
        .expect("in time")
        .expect("another connection is served");
    // Ending a stream lets the waiting call through.
    drop(first);
    tokio::time::timeout(PATIENCE, queued)
        .await
        .expect("in time")
        .expect("task")
        .expect("served once a stream ended");
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unary_calls_meet_the_deadline_and_streams_are_exempt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let recorder = Arc::new(Recorder::default());
    let mut settings = test_settings(dir.path());
    settings.request_timeout = Duration::from_millis(300);
    let running = Daemon::new(settings)
        .with_sync(Box::new(RecordingSync::new(Arc::clone(&recorder))))
        .start()
        .await
        .expect("daemon starts");
    let client = client(&running, None).await;
    let channel = Channel::from_shared(running.url())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let mut raw = TruceClient::new(channel);
    let mut stream = open_subscription(&mut raw).await;

    // A write whose sync is held: past the deadline, DEADLINE_EXCEEDED.
    recorder.close_gate();
    let request = seed::agreement();
    let started = Instant::now();
    let err = tokio::time::timeout(PATIENCE, client.record_agreement(request.clone()))
        .await
        .expect("answered in time")
        .expect_err("held past the deadline");
    assert_eq!(err.code(), Some(Code::DeadlineExceeded), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(err.to_string().contains("same request id"), "{err}");
    // Reads are served meanwhile.
    client.get_checkpoint().await.expect("reads go on");

    // The stream, open for longer than the deadline, still delivers.
    recorder.open_gate();
    let message = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("in time")
        .expect("a message")
        .expect("not the end");
    let Some(subscribe_response::Event::Entry(entry)) = message.event else {
        panic!("expected the entry, got {message:?}");
    };
    assert_eq!(entry.sequence, 1);
    // The write did complete: its retry is the duplicate.
    let receipt = client
        .record_agreement(request)
        .await
        .expect("retry answers");
    assert!(receipt.duplicate && receipt.sequence == 1, "{receipt:?}");

    // A client's own shorter deadline is honoured too (tonic's grpc-timeout).
    recorder.close_gate();
    let mut req = Request::new(seed::report(1));
    req.set_timeout(Duration::from_millis(100));
    let err = raw.submit_report(req).await.expect_err("client deadline");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    recorder.open_gate();
    running.shutdown().await.expect("clean shutdown");
}
