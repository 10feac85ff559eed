//! A rewritten entry is never served as genuine (issue: the record stays
//! right under tampering). Each rewrite keeps the entry's length and
//! recomputes the CRC chain (`truce_tests::tamper`), so every frame check
//! passes: only the Merkle leaves and the signed roots can tell.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use tonic::Code;
use truce_daemon::{Daemon, store::ScrubOutcome, store::Store, test_settings};
use truce_tests::{TestDaemon, seed, start_in, tamper};

/// The first, a middle and the last entry of the seeded log.
async fn seeded_with_checkpoint() -> (TestDaemon, [u64; 3]) {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let size = d.client.get_checkpoint().await.unwrap().tree_size;
    assert!(size >= 3);
    (d, [1, size / 2, size])
}

/// Every read of `seq` is refused with DATA_LOSS naming it.
async fn refused(client: &truce_client::Client, seq: u64) {
    let err = client.get_entry(seq).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::DataLoss), "entry {seq}: {err}");
    assert!(err.to_string().contains(&format!("entry {seq}")), "{err}");
    let err = client.read_log(seq, 1).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::DataLoss), "read_log {seq}: {err}");
}

/// Writes and checkpoints stop once damage is found.
async fn writes_and_checkpoints_stopped(client: &truce_client::Client) {
    let err = client.submit_report(seed::report(90)).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::DataLoss), "{err}");
    let err = client.get_checkpoint().await.unwrap_err();
    assert_eq!(err.code(), Some(Code::DataLoss), "{err}");
}

#[tokio::test]
async fn an_entry_rewritten_at_rest_is_refused_on_every_read() {
    for which in 0..3 {
        let (d, seqs) = seeded_with_checkpoint().await;
        let seq = seqs[which];
        let dir = d.stop().await;
        tamper::rewrite_entry(dir.path(), seq, tamper::flip_a_letter);

        if which == 2 {
            // The writer continues the log from its last entry: a
            // rewritten one stops the start, naming it.
            assert_start_refused(dir.path(), seq).await;
            continue;
        }
        // The checkpoint covers the entry and the stored tree still has
        // its root: the daemon starts, and refuses the entry when read.
        let (running, client) = start_in(dir.path(), None).await;
        let clean = if seq == 1 { 2 } else { 1 };
        client.get_entry(clean).await.unwrap();
        refused(&client, seq).await;
        writes_and_checkpoints_stopped(&client).await;
        match running.scrub().await.unwrap() {
            ScrubOutcome::LogDamaged { sequence, .. } => assert_eq!(sequence, seq),
            other => panic!("scrub found {other:?}"),
        }
        running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn an_entry_no_checkpoint_covers_rewritten_at_rest_stops_the_start() {
    for which in 0..3 {
        let d = TestDaemon::start().await;
        seed::submit_all(&d.client).await;
        let last = d.running.durable_sequence();
        let seq = [1, last / 2, last][which];
        let dir = d.stop().await;
        // No signed checkpoint covers the log (the one kept at shutdown
        // is gone, as on a store that never had one).
        std::fs::remove_file(dir.path().join("last-checkpoint")).unwrap();
        tamper::rewrite_entry(dir.path(), seq, tamper::flip_a_letter);

        assert_start_refused(dir.path(), seq).await;
    }
}

/// The daemon does not start on `dir`, naming entry `seq`.
async fn assert_start_refused(dir: &std::path::Path, seq: u64) {
    let Err(err) = Daemon::new(test_settings(dir)).start().await else {
        panic!("a rewritten log is refused");
    };
    let text = err.to_string();
    assert!(
        text.contains(&format!("entry {seq} fails its hash check")),
        "{text}"
    );
}

#[tokio::test]
async fn entries_rewritten_under_the_running_daemon_are_refused_and_scrubbed() {
    let (d, seqs) = seeded_with_checkpoint().await;
    for seq in seqs {
        tamper::rewrite_entry(d.data_dir(), seq, tamper::flip_a_letter);
    }
    for seq in seqs {
        refused(&d.client, seq).await;
    }
    // An entry nobody changed is still served.
    d.client.get_entry(2).await.unwrap();
    writes_and_checkpoints_stopped(&d.client).await;
    match d.running.scrub().await.unwrap() {
        ScrubOutcome::LogDamaged { sequence, .. } => assert_eq!(sequence, seqs[0]),
        other => panic!("scrub found {other:?}"),
    }
    let dir = d.stop().await;
    // The last entry was rewritten: a restart is refused, naming it.
    assert_start_refused(dir.path(), seqs[2]).await;
}

#[tokio::test]
async fn the_scrub_passes_a_clean_log() {
    let (d, _) = seeded_with_checkpoint().await;
    let size = d.running.durable_sequence();
    assert_eq!(
        d.running.scrub().await.unwrap(),
        ScrubOutcome::Clean { entries: size }
    );
    d.client.submit_report(seed::report(91)).await.unwrap();
    d.stop().await;
}

#[tokio::test]
async fn derived_rows_that_lost_entries_are_rebuilt_from_the_log_at_open() {
    // Two sessions: the second's rows are sealed in a run of their own,
    // so losing the first run leaves later rows pointing at entries whose
    // offsets are gone (as after a full-disk incident).
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let d = d.restart().await;
    for n in 0..3 {
        d.client.submit_report(seed::report(60 + n)).await.unwrap();
    }
    let reports = d
        .client
        .query_all_reports(Default::default(), 1000)
        .await
        .unwrap();
    let last = d.running.durable_sequence();
    let dir = d.stop().await;

    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&path, 16 << 20).unwrap();
        assert!(store.forget_entry_offsets_for_tests(1).unwrap());
    })
    .await
    .unwrap();

    let (running, client) = start_in(dir.path(), None).await;
    assert_eq!(running.durable_sequence(), last);
    client.get_entry(1).await.unwrap();
    assert_eq!(
        client
            .query_all_reports(Default::default(), 1000)
            .await
            .unwrap(),
        reports
    );
    client.submit_report(seed::report(70)).await.unwrap();
    running.shutdown().await.unwrap();

    // And an offline reindex of such a store succeeds.
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&path, 16 << 20).unwrap();
        assert!(store.forget_entry_offsets_for_tests(1).unwrap());
        drop(store);
        let store = Store::open(&path, 16 << 20).unwrap().into_writer();
        assert_eq!(store.reindex().unwrap().entries, last + 1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_scrub_rebuilds_derived_rows_that_lost_entries_while_serving() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    // Sealed into sled by the close.
    let d = d.restart().await;
    d.client.submit_report(seed::report(80)).await.unwrap();
    let last = d.running.durable_sequence();
    let store = std::sync::Arc::clone(d.running.store_for_tests());
    tokio::task::spawn_blocking(move || {
        assert!(store.forget_entry_offsets_for_tests(1).unwrap());
    })
    .await
    .unwrap();
    assert_eq!(
        d.client.get_entry(1).await.unwrap_err().code(),
        Some(Code::NotFound),
        "the derived rows lost entry 1"
    );

    match d.running.scrub().await.unwrap() {
        ScrubOutcome::DerivedDamaged { why } => assert!(why.contains("entry 1"), "{why}"),
        other => panic!("scrub found {other:?}"),
    }
    // Rebuilt from the log: every entry is there, and writes go on.
    d.client.get_entry(1).await.unwrap();
    assert_eq!(d.running.durable_sequence(), last);
    assert_eq!(
        d.running.scrub().await.unwrap(),
        ScrubOutcome::Clean { entries: last }
    );
    let next = d.client.submit_report(seed::report(81)).await.unwrap();
    assert_eq!(next.sequence, last + 1);
    d.stop().await;
}

#[tokio::test]
async fn a_clean_shutdown_keeps_a_checkpoint_over_every_durable_entry() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let last = d.running.durable_sequence();
    let dir = d.stop().await;
    // The next open re-hashes only what this does not cover: nothing.
    let note = std::fs::read_to_string(dir.path().join("last-checkpoint")).unwrap();
    assert_eq!(
        note.lines().nth(1),
        Some(last.to_string().as_str()),
        "{note}"
    );
}
