//! The order of the commit pipeline, shown through the durability seam:
//! write, then sync, then acknowledgement, a sync for every run of
//! groups; a failed sync
//! acknowledges nothing and stops writes while reads go on; maximum-size
//! entries fill the log's segments and come back after a restart; the
//! derived trees come back from the log alone.

use std::{sync::Arc, time::Duration};

use tonic::Code;
use truce_proto::v1::SubmitReportRequest;
use truce_tests::{
    TestDaemon, seed,
    sync::{Event, Recorder, RecordingSync},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_then_sync_then_ack_in_order() {
    let recorder = Arc::new(Recorder::default());
    let mut sync = RecordingSync::new(Arc::clone(&recorder));
    // A slow disk: if an acknowledgement could overtake the sync, it
    // would show on the timeline.
    sync.delay = Duration::from_millis(20);
    let d = TestDaemon::start_with(Some(Box::new(sync))).await;
    let receipt = d.client.record_agreement(seed::agreement()).await.unwrap();
    recorder.push(Event::Ack(receipt.sequence));

    let mut tasks = Vec::new();
    for n in 0..64 {
        let client = d.client.clone();
        let recorder = Arc::clone(&recorder);
        tasks.push(tokio::spawn(async move {
            let r = client.submit_report(seed::report(n)).await.unwrap();
            recorder.push(Event::Ack(r.sequence));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let events = recorder.events();
    // The writer may write the next group while the last one syncs; a
    // sync covers exactly the groups written before it and not yet
    // synced, and every acknowledgement follows the sync of its entry.
    let mut written = 0u64;
    let mut write_ends = Vec::new();
    let mut durable = 0u64;
    let mut groups = Vec::new();
    for e in &events {
        match e {
            Event::Write(g) => {
                assert_eq!(g.first_sequence, written + 1, "groups are contiguous");
                written = g.last_sequence;
                write_ends.push(written);
            }
            Event::Synced(g) => {
                assert_eq!(g.first_sequence, durable + 1, "syncs are contiguous");
                assert!(
                    write_ends.contains(&g.last_sequence),
                    "a sync ends where a written group ends: {events:?}"
                );
                durable = g.last_sequence;
                groups.push(g.entries);
            }
            Event::Ack(seq) => {
                assert!(
                    *seq <= durable,
                    "sequence {seq} acknowledged before its sync: {events:?}"
                );
            }
            Event::SyncFailed(_) => panic!("no failure injected"),
        }
    }
    assert_eq!(durable, written, "every written group was synced");
    assert_eq!(groups.iter().sum::<usize>(), 65);
    assert!(
        groups.len() < 65,
        "concurrent appends share a sync: {} syncs for 65 entries",
        groups.len()
    );
    eprintln!("65 entries in {} groups: {groups:?}", groups.len());
    d.stop().await;
}

/// How long a test waits for a step it is owed before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits, off the runtime, until `done` returns (a step held at a gate,
/// an event recorded); fails the test after [`PATIENCE`].
async fn until<T: Send + 'static>(done: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::time::timeout(PATIENCE, tokio::task::spawn_blocking(done))
        .await
        .expect("the step came in time")
        .expect("the wait ends")
}

/// Waits until the recorder holds a matching event.
async fn wait_for(recorder: &Arc<Recorder>, wanted: fn(&Event) -> bool) -> Event {
    let r = Arc::clone(recorder);
    until(move || r.wait_for(wanted)).await
}

/// Yields until `n` appends are queued for the writer.
async fn queued(d: &TestDaemon, n: usize) {
    tokio::time::timeout(PATIENCE, async {
        while d.running.queued() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("queued in time");
}

type Answer = Result<truce_proto::v1::Receipt, truce_client::ClientError>;

/// A write a test makes.
enum Write {
    Agreement,
    Report(Box<SubmitReportRequest>),
}

fn spawn(d: &TestDaemon, write: Write) -> tokio::task::JoinHandle<Answer> {
    let c = d.client.clone();
    tokio::spawn(async move {
        match write {
            Write::Agreement => c.record_agreement(seed::agreement()).await,
            Write::Report(r) => c.submit_report(*r).await,
        }
    })
}

/// Closes both gates, makes the first write and holds the writer at its
/// write while the others queue up in order; then lets it go. The writer
/// hands the first group to the sync thread (appends wait behind it),
/// whose sync waits at the gate, and writes the queued ones as the next
/// group meanwhile.
async fn hold_and_queue(
    d: &TestDaemon,
    recorder: &Arc<Recorder>,
    writes: Vec<Write>,
) -> Vec<tokio::task::JoinHandle<Answer>> {
    recorder.close_gate();
    recorder.close_write_gate();
    let mut tasks = Vec::new();
    for (n, write) in writes.into_iter().enumerate() {
        tasks.push(spawn(d, write));
        if n == 0 {
            let r = Arc::clone(recorder);
            until(move || r.wait_until_write_held()).await;
        } else {
            queued(d, n).await;
        }
    }
    recorder.open_write_gate();
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_group_is_written_while_one_syncs_and_waits_for_it() {
    let recorder = Arc::new(Recorder::default());
    let d = TestDaemon::start_with(Some(Box::new(RecordingSync::new(Arc::clone(&recorder))))).await;
    // Behind the agreement: a report citing it, a retry of the
    // agreement, another report.
    let writes = vec![
        Write::Agreement,
        Write::Report(Box::new(seed::report(0))),
        Write::Agreement,
        Write::Report(Box::new(seed::report(1))),
    ];
    let tasks = hold_and_queue(&d, &recorder, writes).await;

    // The report was checked against the agreement in flight, and the
    // retry found it there: a duplicate, answered only after that sync.
    let written = wait_for(
        &recorder,
        |e| matches!(e, Event::Write(g) if g.last_sequence >= 3),
    )
    .await;
    assert_eq!(
        written,
        Event::Write(truce_daemon::sync::Group {
            first_sequence: 2,
            last_sequence: 3,
            entries: 2
        }),
        "the retry wrote nothing"
    );
    for (n, task) in tasks.iter().enumerate() {
        assert!(!task.is_finished(), "write {n} answered before its sync");
    }
    assert!(
        !recorder
            .events()
            .iter()
            .any(|e| matches!(e, Event::Synced(_))),
        "nothing synced yet"
    );

    recorder.open_gate();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    let sequences: Vec<u64> = answers.iter().map(|r| r.sequence).collect();
    assert_eq!(sequences, [1, 2, 1, 3]);
    assert!(answers[2].duplicate, "{:?}", answers[2]);
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 3);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_fails_the_groups_written_behind_it() {
    let recorder = Arc::new(Recorder::default());
    let d = TestDaemon::start_with(Some(Box::new(RecordingSync::new(Arc::clone(&recorder))))).await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    // Behind a first report: a second, a reuse of the first's request id
    // for other content, and a third.
    let mut reused = seed::report(0);
    reused.report.as_mut().unwrap().notes = "other content".into();
    let writes = vec![
        Write::Report(Box::new(seed::report(0))),
        Write::Report(Box::new(seed::report(1))),
        Write::Report(Box::new(reused)),
        Write::Report(Box::new(seed::report(2))),
    ];
    let tasks = hold_and_queue(&d, &recorder, writes).await;
    wait_for(
        &recorder,
        |e| matches!(e, Event::Write(g) if g.last_sequence >= 4),
    )
    .await;
    // The reuse was refused by what is in flight: it is not told before
    // the sync either.
    assert!(!tasks[2].is_finished(), "the refusal came before the sync");

    recorder.fail_next_syncs(1, false);
    recorder.open_gate();
    // Every group behind the failed one fails with it; so does the
    // refusal, which named an entry that never became durable.
    for (n, task) in tasks.into_iter().enumerate() {
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some(Code::Unavailable), "write {n}: {err}");
    }
    let err = d.client.submit_report(seed::report(3)).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    let page = d.client.read_log(1, 0).await.unwrap();
    assert_eq!(page.durable_sequence, 1);
    assert_eq!(
        d.client.get_report("report-2").await.unwrap_err().code(),
        Some(Code::NotFound)
    );
    d.stop().await;
}

/// A daemon whose sync step panics from its second sync on, with the
/// agreement recorded by the first.
async fn panicking_from_the_second_sync() -> (TestDaemon, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut sync = RecordingSync::new(Arc::clone(&recorder));
    sync.panic_from_group = Some(1);
    let d = TestDaemon::start_with(Some(Box::new(sync))).await;
    d.client
        .record_agreement(seed::agreement())
        .await
        .expect("the first sync passes");
    (d, recorder)
}

/// Writes stopped after a panic in the sync step: the next append is
/// refused and says so; reads still serve the agreement alone.
async fn refused_after_a_panic_and_reads_go_on(d: &TestDaemon) {
    let err = d
        .client
        .submit_report(seed::report(9))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    assert!(err.to_string().contains("panicked"), "{err}");
    let page = d.client.read_log(1, 0).await.expect("reads go on");
    assert_eq!(page.durable_sequence, 1);
    d.client
        .get_agreement(&seed::agreement_id())
        .await
        .expect("the agreement reads");
}

#[tokio::test]
async fn a_panic_in_the_sync_step_stops_writes_and_reads_go_on() {
    let (d, _recorder) = panicking_from_the_second_sync().await;

    // The step panics on the writer's thread (a lone group): the append
    // is not acknowledged, and the writer lives on to refuse the next.
    let err = d.client.submit_report(seed::report(0)).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    refused_after_a_panic_and_reads_go_on(&d).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_the_sync_thread_stops_writes_and_reads_go_on() {
    let (d, recorder) = panicking_from_the_second_sync().await;
    // A report handed to the sync thread (another queued behind it); its
    // sync, held at the gate, panics once let through.
    let writes = vec![
        Write::Report(Box::new(seed::report(0))),
        Write::Report(Box::new(seed::report(1))),
    ];
    let tasks = hold_and_queue(&d, &recorder, writes).await;
    let r = Arc::clone(&recorder);
    until(move || r.wait_until_held()).await;
    wait_for(
        &recorder,
        |e| matches!(e, Event::Write(g) if g.last_sequence >= 3),
    )
    .await;
    recorder.open_gate();
    for (n, task) in tasks.into_iter().enumerate() {
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some(Code::Unavailable), "write {n}: {err}");
    }
    refused_after_a_panic_and_reads_go_on(&d).await;
    d.stop().await;
}

#[tokio::test]
async fn a_failed_sync_acknowledges_nothing_and_stops_writes() {
    let recorder = Arc::new(Recorder::default());
    let mut sync = RecordingSync::new(Arc::clone(&recorder));
    sync.fail_from_group = Some(1);
    let d = TestDaemon::start_with(Some(Box::new(sync))).await;
    d.client.record_agreement(seed::agreement()).await.unwrap();

    let err = d.client.submit_report(seed::report(0)).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    assert!(err.to_string().contains("writes are stopped"), "{err}");

    // Later writes are refused without reaching the sync.
    let syncs_before = recorder.events().len();
    let err = d.client.submit_report(seed::report(1)).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable));
    assert_eq!(
        recorder.events().len(),
        syncs_before,
        "no write or sync after the failure"
    );

    // Reads go on, and never show the unsynced entry.
    let page = d.client.read_log(1, 0).await.unwrap();
    assert_eq!(page.durable_sequence, 1);
    assert_eq!(page.entries.len(), 1);
    assert_eq!(
        d.client.get_entry(2).await.unwrap_err().code(),
        Some(Code::NotFound)
    );
    assert_eq!(
        d.client.get_report("report-2").await.unwrap_err().code(),
        Some(Code::NotFound)
    );
    d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    d.stop().await;
}

#[tokio::test]
async fn maximum_size_entries_fill_log_segments_and_come_back() {
    let recorder = Arc::new(Recorder::default());
    let d = TestDaemon::start_with(Some(Box::new(RecordingSync::new(Arc::clone(&recorder))))).await;
    d.client.record_agreement(seed::agreement()).await.unwrap();

    // Reports just under the 64 KiB entry cap: more than the first 1 MiB
    // segment holds.
    let mut sequences = Vec::new();
    for n in 0..24 {
        let mut req = seed::report(n);
        let report = req.report.as_mut().unwrap();
        let template = report.sources[0].clone();
        report.sources = (0..32)
            .map(|i| {
                let mut s = template.clone();
                s.url = format!("https://example.org/{n}/{i}/{}", "p".repeat(1900));
                s
            })
            .collect();
        let r = d.client.submit_report(req).await.unwrap();
        sequences.push(r.sequence);
    }
    let segments = log_segments(d.data_dir());
    assert!(
        segments.len() >= 2,
        "the log went on in a second segment: {segments:?}"
    );
    let synced = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Synced(_)))
        .count();
    assert!(synced >= 25, "every group was synced ({synced})");

    let root = d.client.get_checkpoint().await.unwrap().root_hash;
    let d = d.restart().await;
    assert_eq!(d.client.get_checkpoint().await.unwrap().root_hash, root);
    for seq in sequences {
        let e = d.client.get_entry(seq).await.unwrap();
        assert!(
            e.raw.len() > 60 * 1024 && e.raw.len() <= 64 * 1024,
            "{}",
            e.raw.len()
        );
    }
    d.stop().await;
}

/// The segment files of the entry log under a data dir.
fn log_segments(data_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("log"))
        .expect("the log's directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_indexes_are_derived_again_from_the_log_when_sleds_files_are_lost() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    for n in 0..5 {
        d.client.submit_report(seed::report(n)).await.unwrap();
    }
    let before = d.client.get_checkpoint().await.unwrap();
    let report = d.client.get_report("report-3").await.unwrap();
    let dir = d.stop().await;
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();

    let (running, client) = truce_tests::start_in(dir.path(), None).await;
    let after = client.get_checkpoint().await.unwrap();
    assert_eq!(
        (after.tree_size, &after.root_hash),
        (before.tree_size, &before.root_hash)
    );
    assert_eq!(client.get_report("report-3").await.unwrap(), report);
    // The request ids came back too: a retry is answered as a duplicate.
    let again = client.submit_report(seed::report(3)).await.unwrap();
    assert!(again.duplicate);
    running.shutdown().await.unwrap();
}
