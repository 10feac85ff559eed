//! Request ids are kept permanently: a retry returns the original receipt,
//! other content under the same id is ALREADY_EXISTS, and both hold inside
//! one group commit too.

use std::sync::Arc;

use tonic::Code;
use truce_tests::{
    TestDaemon, seed,
    sync::{Recorder, RecordingSync},
};

#[tokio::test]
async fn retry_returns_the_original_receipt_and_conflicts_are_refused() {
    let d = TestDaemon::start().await;
    let first = d.client.record_agreement(seed::agreement()).await.unwrap();
    let retry = d.client.record_agreement(seed::agreement()).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.sequence, first.sequence);
    assert_eq!(retry.record_id, first.record_id);
    assert_eq!(retry.recorded_at, first.recorded_at);

    // Same request id, other content.
    let mut other = seed::agreement();
    other.agreement.as_mut().unwrap().title = "something else".into();
    let err = d.client.record_agreement(other).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::AlreadyExists));
    assert!(err.to_string().contains("sequence 1"), "{err}");

    // Another request id, but a record id that exists.
    let mut again = seed::agreement();
    again.request_id = "another-request".into();
    let err = d.client.record_agreement(again).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::AlreadyExists));
    assert!(err.to_string().contains(&seed::agreement_id()), "{err}");

    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 1);

    // Kept across a restart.
    let d = d.restart().await;
    let retry = d.client.record_agreement(seed::agreement()).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.sequence, 1);
    d.stop().await;
}

#[tokio::test]
async fn duplicates_inside_one_group_are_caught() {
    let recorder = Arc::new(Recorder::default());
    let d = TestDaemon::start_with(Some(Box::new(RecordingSync::new(Arc::clone(&recorder))))).await;
    d.client.record_agreement(seed::agreement()).await.unwrap();

    // Hold the writer in the write of a first report, queue the rest.
    recorder.close_write_gate();
    let c = d.client.clone();
    let first = tokio::spawn(async move { c.submit_report(seed::report(0)).await });
    let r = Arc::clone(&recorder);
    tokio::task::spawn_blocking(move || r.wait_until_write_held())
        .await
        .unwrap();

    let same = seed::report(1);
    let mut conflicting = seed::report(1);
    conflicting.report.as_mut().unwrap().notes = "different content, same request id".into();
    let mut tasks = Vec::new();
    for req in [same.clone(), same, conflicting] {
        let c = d.client.clone();
        tasks.push(tokio::spawn(async move { c.submit_report(req).await }));
        // Queue them in this order.
        while d.running.queued() < tasks.len() {
            tokio::task::yield_now().await;
        }
    }
    recorder.open_write_gate();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.sequence, 2);
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let a = results[0].as_ref().unwrap();
    let b = results[1].as_ref().unwrap();
    assert_eq!(a.sequence, 3);
    assert!(!a.duplicate);
    assert_eq!(b.sequence, 3);
    assert!(b.duplicate);
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(Code::AlreadyExists));
    assert!(err.to_string().contains("sequence 3"), "{err}");

    // They were one group: one entry written for the three.
    let groups: Vec<usize> = recorder
        .events()
        .iter()
        .filter_map(|e| match e {
            truce_tests::sync::Event::Write(g) => Some(g.entries),
            _ => None,
        })
        .collect();
    assert_eq!(groups, vec![1, 1, 1]);
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 3);
    d.stop().await;
}
