//! Cluster mode when the writer fails: killed with SIGKILL under sixteen
//! concurrent writers, or paused with SIGSTOP past its lease and resumed.
//! Another replica takes over; nothing acknowledged is lost, no sequence
//! is given twice or skipped, a retry with the same request id resolves
//! exactly once, and the replicas end byte-identical. Real processes:
//! three etcd members, three truced replicas. Needs the `cluster` feature.

#![cfg(feature = "cluster")]

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use prost::Message as _;
use tokio::sync::Notify;
use truce_client::{Client, ClientOptions};
use truce_proto::v1::{Entry, Receipt, SubmitReportRequest};
use truce_tests::{
    cluster::{Replica, WRITER_LINE, read_whole_log, three_replicas, wait_for_entry, writer_among},
    seed,
};

const WRITERS: usize = 16;
const EACH: usize = 8;
/// Rounds over the replicas a write is tried at most.
const ROUNDS: usize = 200;

/// Clients that give up quickly, so the test moves to another replica.
async fn quick_client(url: &str) -> Option<Client> {
    let options = ClientOptions {
        write_attempts: 2,
        retry_backoff: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    Client::connect_with(url.to_owned(), options).await.ok()
}

/// Submits `report` until some replica acknowledges it, moving to the
/// next replica after each failure and sending the same request (the same
/// request id) every time.
async fn submit_until_acknowledged(
    urls: &[String],
    start: usize,
    report: SubmitReportRequest,
) -> Receipt {
    for attempt in 0..ROUNDS * urls.len() {
        let url = &urls[(start + attempt) % urls.len()];
        if let Some(client) = quick_client(url).await
            && let Ok(receipt) = client.submit_report(report.clone()).await
        {
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("request {} never acknowledged", report.request_id);
}

/// Sixteen writers, each submitting `EACH` reports; `acked` counts the
/// acknowledgements and `progress` is told of each.
fn start_writers(
    urls: &[String],
    acked: &Arc<AtomicUsize>,
    progress: &Arc<Notify>,
) -> Vec<tokio::task::JoinHandle<Vec<(String, Receipt)>>> {
    (0..WRITERS)
        .map(|w| {
            let urls = urls.to_vec();
            let acked = Arc::clone(acked);
            let progress = Arc::clone(progress);
            tokio::spawn(async move {
                let mut receipts = Vec::new();
                for n in 0..EACH {
                    let report = seed::report(w * 1000 + n);
                    let id = report.request_id.clone();
                    let receipt = submit_until_acknowledged(&urls, w, report).await;
                    receipts.push((id, receipt));
                    acked.fetch_add(1, Ordering::SeqCst);
                    progress.notify_waiters();
                }
                receipts
            })
        })
        .collect()
}

async fn wait_until_acknowledged(acked: &AtomicUsize, progress: &Notify, n: usize) {
    loop {
        let notified = progress.notified();
        if acked.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::timeout(Duration::from_secs(120), notified)
            .await
            .expect("writes keep being acknowledged");
    }
}

/// The checks after a failure: every request acknowledged once, at the
/// sequence that holds it; the log gapless with each request id once; the
/// replicas `alive` byte-identical with the same root.
async fn check_the_logs(
    replicas: &[Replica],
    alive: &[usize],
    receipts: &BTreeMap<String, Receipt>,
) {
    let last = 1 + (WRITERS * EACH) as u64;
    let mut logs = Vec::new();
    for &i in alive {
        let client = replicas[i].client().await;
        wait_for_entry(&client, last).await;
        // The checkpoint RPC serves the quorum's checkpoint.
        replicas[i].wait_cosigned(last);
        let log = read_whole_log(&client).await;
        let checkpoint = client.get_checkpoint().await.expect("GetCheckpoint");
        assert_eq!(checkpoint.tree_size, last, "replica {}", replicas[i].name);
        logs.push((i, log, checkpoint.root_hash));
    }
    let (_, first, root) = &logs[0];
    assert_eq!(
        first.len() as u64,
        last,
        "nothing acknowledged is lost, nothing is duplicated"
    );
    let mut request_ids = BTreeSet::new();
    for (i, (sequence, bytes)) in first.iter().enumerate() {
        assert_eq!(*sequence, i as u64 + 1, "no sequence is skipped");
        let entry = Entry::decode(bytes.as_slice()).expect("an entry decodes");
        assert!(
            request_ids.insert(entry.request_id.clone()),
            "request {} recorded twice",
            entry.request_id
        );
        if let Some(receipt) = receipts.get(&entry.request_id) {
            assert_eq!(
                receipt.sequence, *sequence,
                "the receipt names the entry's sequence"
            );
        }
    }
    for id in receipts.keys() {
        assert!(
            request_ids.contains(id),
            "acknowledged request {id} is in the log"
        );
    }
    for (i, log, other_root) in &logs[1..] {
        assert!(
            log == first,
            "replica {} holds other bytes",
            replicas[*i].name
        );
        assert_eq!(other_root, root, "replica {}", replicas[*i].name);
    }
}

/// Runs the writers, calls `fail` once a few writes are acknowledged,
/// and returns every request's receipt (one per request id).
async fn writers_through(
    urls: &[String],
    fail: impl FnOnce() -> Instant,
) -> (BTreeMap<String, Receipt>, Duration) {
    let acked = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let tasks = start_writers(urls, &acked, &progress);
    wait_until_acknowledged(&acked, &progress, 20).await;
    let failed_at = fail();
    let before = acked.load(Ordering::SeqCst);
    wait_until_acknowledged(&acked, &progress, before + 1).await;
    let first_after = failed_at.elapsed();
    let mut receipts = BTreeMap::new();
    for t in tasks {
        for (id, receipt) in t.await.expect("a writer task ends") {
            assert!(
                receipts.insert(id, receipt).is_none(),
                "one receipt per request"
            );
        }
    }
    (receipts, first_after)
}

fn urls(replicas: &[Replica]) -> Vec<String> {
    replicas.iter().map(|r| r.url.clone()).collect()
}

async fn agreement_everywhere(replicas: &[Replica]) {
    let first = replicas[0].client().await;
    let agreement = first
        .record_agreement(seed::agreement())
        .await
        .expect("the agreement is acknowledged");
    assert_eq!(agreement.sequence, 1);
    for r in replicas {
        wait_for_entry(&r.client().await, 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_writer_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, mut replicas) = three_replicas(dir.path(), &["--cluster-lease-secs", "2"]);
    let writer = writer_among(&replicas, &[0, 1, 2], 1);
    agreement_everywhere(&replicas).await;

    let (receipts, first_after) = writers_through(&urls(&replicas), || {
        replicas[writer].kill();
        Instant::now()
    })
    .await;
    // Retries after the kill found the writes the old writer had ordered:
    // each request id has one receipt and one entry.
    assert_eq!(receipts.len(), WRITERS * EACH);
    let alive: Vec<usize> = (0..3).filter(|i| *i != writer).collect();
    let successor = writer_among(&replicas, &alive, 1);
    assert_ne!(successor, writer);
    println!("failover: first write acknowledged {first_after:?} after the writer's kill");
    check_the_logs(&replicas, &alive, &receipts).await;

    // The killed replica comes back on its data dir and catches up.
    replicas[writer].restart();
    check_the_logs(&replicas, &[0, 1, 2], &receipts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_writer_resumed_after_its_lease_does_not_fork_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, replicas) = three_replicas(dir.path(), &["--cluster-lease-secs", "2"]);
    let writer = writer_among(&replicas, &[0, 1, 2], 1);
    agreement_everywhere(&replicas).await;
    let others: Vec<usize> = (0..3).filter(|i| *i != writer).collect();

    let (receipts, _) = writers_through(&urls(&replicas), || {
        replicas[writer].signal("STOP");
        // Another replica takes the lease once the paused one's expires.
        let successor = writer_among(&replicas, &others, 1);
        assert_ne!(successor, writer);
        replicas[writer].signal("CONT");
        Instant::now()
    })
    .await;
    assert_eq!(receipts.len(), WRITERS * EACH);
    // The resumed replica learns it lost the lease, follows, and holds the
    // same log as the others: nothing forked.
    assert!(
        replicas[writer]
            .stderr
            .wait_for("writer lease is lost", 1, Duration::from_secs(60)),
        "the resumed writer notices its lease is gone: {}",
        replicas[writer].log()
    );
    check_the_logs(&replicas, &[0, 1, 2], &receipts).await;
    for r in &replicas {
        assert!(
            !r.log().contains("differs from the cluster"),
            "replica {} forked",
            r.name
        );
    }
    let writers_named: usize = replicas
        .iter()
        .map(|r| r.log().matches(WRITER_LINE).count())
        .sum();
    assert!(writers_named >= 2, "the lease changed hands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_an_etcd_member_under_load_and_bringing_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut etcd, replicas) = three_replicas(dir.path(), &["--cluster-lease-secs", "2"]);
    agreement_everywhere(&replicas).await;
    let etcd_ref = &mut etcd;
    let (receipts, _) = writers_through(&urls(&replicas), move || {
        etcd_ref.kill(0);
        Instant::now()
    })
    .await;
    assert_eq!(receipts.len(), WRITERS * EACH);
    check_the_logs(&replicas, &[0, 1, 2], &receipts).await;
    // Back on its data dir, the member catches up; the cluster keeps
    // taking writes.
    etcd.restart(0);
    let client = replicas[0].client().await;
    let next = client.submit_report(seed::report(999_999)).await.unwrap();
    assert_eq!(next.sequence, 2 + (WRITERS * EACH) as u64);
    for r in &replicas {
        wait_for_entry(&r.client().await, next.sequence).await;
    }
}
