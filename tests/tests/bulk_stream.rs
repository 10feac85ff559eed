//! WriteStream end to end: receipts in the order sent, each naming a
//! durable entry; request ids as permanent as for unary writes; a refused
//! envelope answered with its own error while the stream goes on; the
//! daemon's window bounding what one stream has in flight; roles checked
//! per envelope; and a broken stream sent again from its first
//! unanswered envelope losing and doubling nothing.

use std::sync::Arc;

use tonic::Code;
use truce_client::{Client, ClientOptions, StreamAnswer};
use truce_daemon::{
    Daemon,
    access::{Role, TokenEntry, tokens},
    test_settings,
};
use truce_proto::v1::{Envelope, Report, SubmitReportRequest, envelope::Kind};
use truce_tests::{
    TestDaemon, seed,
    sync::{Event, Recorder, RecordingSync},
};

fn report_envelope(n: usize) -> Envelope {
    let mut r = seed::report(n);
    r.request_id = format!("bulk-report-{n}");
    Envelope {
        kind: Some(Kind::Report(r)),
    }
}

fn agreement_envelope() -> Envelope {
    Envelope {
        kind: Some(Kind::Agreement(seed::agreement())),
    }
}

fn request_id(e: &Envelope) -> String {
    let mut kind = e.kind.clone().expect("a write");
    truce_client::request_id_of(&mut kind).clone()
}

/// Sends `envelopes` over one stream (from a task, so sending and
/// reading overlap) and returns every answer, in the order received.
async fn stream_all(client: &Client, window: usize, envelopes: Vec<Envelope>) -> Vec<StreamAnswer> {
    let (mut tx, mut receipts) = client.write_stream(window).await.expect("stream opens");
    let sender = tokio::spawn(async move {
        for e in envelopes {
            tx.send(e).await.expect("sent");
        }
    });
    let mut answers = Vec::new();
    while let Some(answer) = receipts.next().await {
        answers.push(answer.expect("the stream is not broken"));
    }
    sender.await.expect("sender");
    answers
}

#[tokio::test]
async fn receipts_come_in_order_each_naming_its_durable_entry() {
    let d = TestDaemon::start().await;
    let mut envelopes = vec![agreement_envelope()];
    envelopes.extend((0..60).map(report_envelope));
    let answers = stream_all(&d.client, 8, envelopes.clone()).await;
    assert_eq!(answers.len(), envelopes.len());
    for (i, (answer, envelope)) in answers.iter().zip(&envelopes).enumerate() {
        assert_eq!(answer.index, i as u64);
        let receipt = answer.result.as_ref().expect("accepted");
        assert_eq!(receipt.sequence, i as u64 + 1, "in the order sent");
        assert!(!receipt.duplicate);
        assert!(receipt.sequence <= d.running.durable_sequence());
        let entry = d
            .client
            .get_entry(receipt.sequence)
            .await
            .expect("readable");
        let entry = entry.entry.expect("an entry");
        assert_eq!(entry.request_id, request_id(envelope));
        assert_eq!(entry.record_id, receipt.record_id);
    }
    d.stop().await;
}

#[tokio::test]
async fn request_ids_are_kept_across_streams_and_inside_one() {
    let d = TestDaemon::start().await;
    let mut envelopes = vec![agreement_envelope()];
    envelopes.extend((0..10).map(report_envelope));
    let first = stream_all(&d.client, 4, envelopes.clone()).await;

    // The same envelopes again, twice over in one stream, then a
    // conflicting one and one more new report.
    let mut again = envelopes.clone();
    again.extend(envelopes.iter().cloned());
    let mut conflicting = seed::report(3);
    conflicting.request_id = "bulk-report-3".into();
    if let Some(r) = conflicting.report.as_mut() {
        r.notes = "other content under a request id already used".into();
    }
    again.push(Envelope {
        kind: Some(Kind::Report(conflicting)),
    });
    again.push(report_envelope(99));
    let second = stream_all(&d.client, 4, again).await;
    assert_eq!(second.len(), 2 * envelopes.len() + 2);
    for (i, answer) in second.iter().take(2 * envelopes.len()).enumerate() {
        let original = first[i % envelopes.len()].result.as_ref().expect("first");
        let receipt = answer.result.as_ref().expect("a duplicate is a receipt");
        assert!(receipt.duplicate, "envelope {i}");
        assert_eq!(receipt.sequence, original.sequence);
        assert_eq!(receipt.record_id, original.record_id);
    }
    let refused = second[2 * envelopes.len()]
        .result
        .as_ref()
        .expect_err("conflict");
    assert_eq!(refused.code(), Some(Code::AlreadyExists), "{refused}");
    let last = second.last().expect("last").result.as_ref().expect("new");
    assert!(!last.duplicate);
    assert_eq!(last.sequence, envelopes.len() as u64 + 1);
    assert_eq!(d.running.durable_sequence(), envelopes.len() as u64 + 1);
    d.stop().await;
}

#[tokio::test]
async fn a_refused_envelope_gets_its_own_error_and_the_stream_goes_on() {
    let d = TestDaemon::start().await;
    let mut bad_id = seed::report(1);
    bad_id.request_id = "bulk-bad-id".into();
    if let Some(r) = bad_id.report.as_mut() {
        r.id = "not an id: spaces".into();
    }
    let mut no_agreement = seed::report(2);
    no_agreement.request_id = "bulk-no-agreement".into();
    if let Some(r) = no_agreement.report.as_mut() {
        r.agreement_ids = vec!["no-such-agreement".into()];
    }
    let no_report = SubmitReportRequest {
        request_id: "bulk-no-report".into(),
        report: None::<Report>,
        with_proof: false,
    };
    let envelopes = vec![
        agreement_envelope(),
        Envelope { kind: None },
        Envelope {
            kind: Some(Kind::Report(bad_id)),
        },
        Envelope {
            kind: Some(Kind::Report(no_agreement)),
        },
        Envelope {
            kind: Some(Kind::Report(no_report)),
        },
        report_envelope(7),
    ];
    // The empty envelope goes out raw: the SDK refuses to send one.
    let (mut tx, mut receipts) = d.client.write_stream(16).await.expect("opens");
    let sender = tokio::spawn(async move {
        let mut refused_locally = 0;
        for e in envelopes {
            if tx.send(e).await.is_err() {
                refused_locally += 1;
            }
        }
        refused_locally
    });
    let mut answers = Vec::new();
    while let Some(a) = receipts.next().await {
        answers.push(a.expect("not broken"));
    }
    assert_eq!(
        sender.await.expect("sender"),
        1,
        "the SDK keeps an empty envelope"
    );
    let outcome: Vec<(Option<Code>, Option<String>)> = answers
        .iter()
        .map(|a| match &a.result {
            Ok(_) => (None, None),
            Err(e) => (e.code(), e.field()),
        })
        .collect();
    assert_eq!(outcome.len(), 5, "{outcome:?}");
    assert_eq!(outcome[0], (None, None));
    assert_eq!(outcome[1].0, Some(Code::InvalidArgument), "{outcome:?}");
    assert!(outcome[1].1.as_deref() == Some("report.id"), "{outcome:?}");
    assert_eq!(outcome[2].0, Some(Code::NotFound), "{outcome:?}");
    assert!(
        outcome[2]
            .1
            .as_deref()
            .is_some_and(|f| f.contains("agreement_ids")),
        "{outcome:?}"
    );
    assert_eq!(outcome[3].0, Some(Code::InvalidArgument), "{outcome:?}");
    assert!(
        outcome[3]
            .1
            .as_deref()
            .is_some_and(|f| f.contains("report")),
        "{outcome:?}"
    );
    assert_eq!(outcome[4], (None, None));
    // Only the two accepted envelopes were written.
    assert_eq!(d.running.durable_sequence(), 2);
    d.stop().await;
}

#[tokio::test]
async fn an_empty_envelope_is_refused_naming_its_kind() {
    let d = TestDaemon::start().await;
    let channel = tonic::transport::Channel::from_shared(d.running.url())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let mut raw = truce_proto::v1::truce_client::TruceClient::new(channel);
    let outgoing = futures::stream::iter([Envelope { kind: None }, report_envelope(0)]);
    let mut answers = raw
        .write_stream(outgoing)
        .await
        .expect("opens")
        .into_inner();
    let first = answers.message().await.expect("answer").expect("one");
    let Some(truce_proto::v1::stream_receipt::Outcome::Error(e)) = first.outcome else {
        panic!("an empty envelope is refused: {first:?}");
    };
    assert_eq!(Code::from(e.code), Code::InvalidArgument);
    assert_eq!(e.field, "kind");
    // The next one is still read and answered (NOT_FOUND: no agreement).
    let second = answers.message().await.expect("answer").expect("two");
    assert_eq!(second.index, 1);
    assert!(answers.message().await.expect("ends").is_none());
    assert_eq!(d.running.durable_sequence(), 0);
    d.stop().await;
}

#[tokio::test]
async fn the_window_bounds_what_one_stream_has_in_flight() {
    const WINDOW: usize = 4;
    let dir = tempfile::tempdir().expect("temp dir");
    let recorder = Arc::new(Recorder::default());
    let mut settings = test_settings(dir.path());
    settings.stream_write_window = WINDOW;
    let running = Daemon::new(settings)
        .with_sync(Box::new(RecordingSync::new(Arc::clone(&recorder))))
        .start()
        .await
        .expect("starts");
    let client = Client::connect(running.url()).await.expect("connects");
    client
        .record_agreement(seed::agreement())
        .await
        .expect("agreement");

    // Hold the writer in the flush of one report; the stream queues
    // behind it, at most WINDOW envelopes.
    recorder.close_gate();
    let c = client.clone();
    let held = tokio::spawn(async move { c.submit_report(seed::report(1000)).await });
    let r = Arc::clone(&recorder);
    tokio::task::spawn_blocking(move || r.wait_until_held())
        .await
        .expect("held");
    let c = client.clone();
    let streamed =
        tokio::spawn(
            async move { stream_all(&c, 64, (0..40).map(report_envelope).collect()).await },
        );
    while running.queued() < WINDOW {
        tokio::task::yield_now().await;
    }
    assert_eq!(running.queued(), WINDOW);
    recorder.open_gate();
    held.await.expect("task").expect("held report");
    let answers = streamed.await.expect("task");
    assert_eq!(answers.len(), 40);
    assert!(answers.iter().all(|a| a.result.is_ok()));
    // Every group after the held one holds at most the window.
    let flushed: Vec<usize> = recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Write(g) if g.first_sequence > 2 => Some(g.entries),
            _ => None,
        })
        .collect();
    assert_eq!(flushed.iter().sum::<usize>(), 40, "{flushed:?}");
    assert!(flushed.iter().all(|n| *n <= WINDOW), "{flushed:?}");
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_broken_stream_sent_again_from_its_first_unanswered_envelope_loses_nothing() {
    let d = TestDaemon::start().await;
    d.client
        .record_agreement(seed::agreement())
        .await
        .expect("agreement");
    let envelopes: Vec<Envelope> = (0..50).map(report_envelope).collect();

    // Send everything, read ten answers, then drop the call.
    let (mut tx, mut receipts) = d.client.write_stream(16).await.expect("opens");
    let to_send = envelopes.clone();
    let sender = tokio::spawn(async move {
        for e in to_send {
            if tx.send(e).await.is_err() {
                break;
            }
        }
        tx
    });
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 10 {
        let answer = receipts
            .next()
            .await
            .expect("an answer")
            .expect("not broken");
        acknowledged.push(answer.result.expect("accepted"));
    }
    drop(receipts);
    drop(sender.await.expect("sender"));

    // Resend from the first envelope without an answer.
    let answers = stream_all(&d.client, 16, envelopes[10..].to_vec()).await;
    assert_eq!(answers.len(), 40);
    let mut sequences: Vec<u64> = acknowledged.iter().map(|r| r.sequence).collect();
    for a in &answers {
        sequences.push(a.result.as_ref().expect("accepted or duplicate").sequence);
    }
    // Every envelope is in the log once, in the order sent.
    assert_eq!(sequences, (2..=51).collect::<Vec<u64>>());
    assert_eq!(d.running.durable_sequence(), 51);
    for (receipt, envelope) in acknowledged.iter().zip(&envelopes) {
        let entry = d
            .client
            .get_entry(receipt.sequence)
            .await
            .expect("readable");
        assert_eq!(entry.entry.expect("entry").request_id, request_id(envelope));
    }
    d.stop().await;
}

#[tokio::test]
async fn each_envelope_needs_its_own_methods_role() {
    const REPORTER: &str = "truce_test-stream-reporter";
    const ADMIN: &str = "truce_test-stream-admin";
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(dir.path());
    settings.tokens = [
        ("monitor", Role::Reporter, REPORTER),
        ("ops", Role::Admin, ADMIN),
    ]
    .into_iter()
    .map(|(name, role, token)| TokenEntry {
        name: name.into(),
        role,
        sha256: tokens::hash(token),
    })
    .collect();
    let running = Daemon::new(settings).start().await.expect("starts");
    let connect = |token: &str| {
        let options = ClientOptions {
            token: Some(token.into()),
            ..ClientOptions::default()
        };
        Client::connect_with(running.url(), options)
    };
    let reporter = connect(REPORTER).await.expect("connects");
    let answers = stream_all(&reporter, 4, vec![agreement_envelope(), report_envelope(1)]).await;
    let denied = answers[0]
        .result
        .as_ref()
        .expect_err("agreements need admin");
    assert_eq!(denied.code(), Some(Code::PermissionDenied), "{denied}");
    // The report names the agreement nobody recorded.
    let missing = answers[1].result.as_ref().expect_err("no agreement");
    assert_eq!(missing.code(), Some(Code::NotFound), "{missing}");
    assert_eq!(running.durable_sequence(), 0);

    let admin = connect(ADMIN).await.expect("connects");
    let answers = stream_all(&admin, 4, vec![agreement_envelope(), report_envelope(1)]).await;
    assert!(answers.iter().all(|a| a.result.is_ok()), "{answers:?}");
    let entry = admin
        .get_entry(2)
        .await
        .expect("entry")
        .entry
        .expect("entry");
    assert_eq!(entry.submitter, "ops");
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn each_envelope_is_charged_to_the_rate_limit_and_the_stream_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(dir.path());
    settings.rate_limit_per_sec = 1;
    settings.rate_limit_burst = 3;
    let running = Daemon::new(settings).start().await.expect("starts");
    let client = Client::connect(running.url()).await.expect("connects");
    // The call and its first two envelopes take the burst; the other
    // three wait for the bucket instead of failing.
    let mut envelopes = vec![agreement_envelope()];
    envelopes.extend((0..4).map(report_envelope));
    let answers = stream_all(&client, 8, envelopes).await;
    assert_eq!(answers.len(), 5);
    assert!(answers.iter().all(|a| a.result.is_ok()), "{answers:?}");
    assert_eq!(running.durable_sequence(), 5);
    // The envelopes emptied the bucket: a unary call straight after is
    // refused (the raw client does not wait a rate limit out).
    let mut raw = truce_proto::v1::truce_client::TruceClient::connect(running.url())
        .await
        .expect("connects");
    let err = raw
        .get_entry(truce_proto::v1::GetEntryRequest { sequence: 1 })
        .await
        .expect_err("the bucket is empty");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    running.shutdown().await.expect("clean shutdown");
}

/// Envelopes that fill the buffer all streams share wait for room beside
/// the receipts, not in front of them: the receipts that give the room
/// back still go out, so a stream whose envelopes outgrow the buffer goes
/// on (it used to stop for good once the buffer was full).
#[tokio::test]
async fn envelopes_larger_than_the_shared_buffer_wait_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(dir.path());
    // Room for two of the reports below at a time.
    settings.stream_write_buffer_bytes = 20 * 1024;
    settings.stream_write_window = 64;
    let running = Daemon::new(settings).start().await.expect("starts");
    let client = Client::connect(running.url()).await.expect("connects");
    let mut envelopes: Vec<Envelope> = (0..30)
        .map(|n| {
            let mut e = report_envelope(5000 + n);
            if let Some(Kind::Report(r)) = e.kind.as_mut()
                && let Some(report) = r.report.as_mut()
            {
                report.notes = "n".repeat(7 * 1024);
            }
            e
        })
        .collect();
    envelopes.insert(0, agreement_envelope());
    let answers = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stream_all(&client, 64, envelopes),
    )
    .await
    .expect("every envelope is answered");
    let sequences: Vec<u64> = answers
        .iter()
        .map(|a| a.result.as_ref().expect("written").sequence)
        .collect();
    assert_eq!(sequences, (1..=31).collect::<Vec<u64>>());
    running.shutdown().await.expect("shuts down");
}
