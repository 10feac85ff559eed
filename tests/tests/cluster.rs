//! Cluster mode end to end: three etcd members and three truced replicas,
//! each a real process on loopback ports. Writes through any replica end
//! byte-identical on all of them: the same ReadLog bytes, the same root.
//! Needs the `cluster` feature and `etcd` on the PATH.

#![cfg(feature = "cluster")]

use std::collections::BTreeSet;

use prost::Message as _;
use truce_proto::v1::{Entry, Envelope, envelope::Kind};
use truce_tests::{
    cluster::{Replica, read_whole_log, seed_reports, three_replicas, wait_for_entry},
    seed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_any_replica_end_byte_identical_on_all() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, replicas) = three_replicas(dir.path(), &[]);
    let mut clients = Vec::new();
    for r in &replicas {
        clients.push(r.client().await);
    }

    // The agreement through the first replica; the reports name it, so
    // each replica has applied it before a report goes through it.
    let agreement = clients[0]
        .record_agreement(seed::agreement())
        .await
        .unwrap();
    assert_eq!(agreement.sequence, 1);
    for c in &clients {
        wait_for_entry(c, 1).await;
    }

    // 30 reports, ten through each replica, all at once.
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        for n in 0..10 {
            let c = c.clone();
            let report = seed::report(i * 100 + n);
            tasks.push(tokio::spawn(async move { c.submit_report(report).await }));
        }
    }
    let mut acknowledged = BTreeSet::new();
    for t in tasks {
        let receipt = t
            .await
            .unwrap()
            .expect("a write through any replica is acknowledged");
        assert!(!receipt.duplicate);
        assert!(
            acknowledged.insert(receipt.sequence),
            "sequence {} given twice",
            receipt.sequence
        );
    }
    let last = 31;
    assert_eq!(acknowledged, (2..=last).collect::<BTreeSet<u64>>());

    // Every replica applies all of them, and holds the same bytes.
    for (r, c) in replicas.iter().zip(&clients) {
        wait_for_entry(c, last).await;
        // The checkpoint RPC serves the quorum's checkpoint.
        r.wait_cosigned(last);
    }
    let first_log = read_whole_log(&clients[0]).await;
    assert_eq!(first_log.len() as u64, last);
    for (i, (sequence, bytes)) in first_log.iter().enumerate() {
        assert_eq!(*sequence, i as u64 + 1, "the log is gapless");
        let entry = Entry::decode(bytes.as_slice()).unwrap();
        assert_eq!(entry.sequence, *sequence);
    }
    let first_checkpoint = clients[0].get_checkpoint().await.unwrap();
    assert_eq!(first_checkpoint.tree_size, last);
    for (r, c) in replicas.iter().zip(&clients).skip(1) {
        assert!(
            read_whole_log(c).await == first_log,
            "replica {} holds other bytes",
            r.name
        );
        let checkpoint = c.get_checkpoint().await.unwrap();
        assert_eq!(checkpoint.tree_size, last, "replica {}", r.name);
        assert_eq!(
            checkpoint.root_hash, first_checkpoint.root_hash,
            "replica {}",
            r.name
        );
    }
    // recorded_at never goes back along the log, whoever ordered it.
    let times: Vec<_> = first_log
        .iter()
        .map(|(_, b)| {
            let t = Entry::decode(b.as_slice()).unwrap().recorded_at.unwrap();
            (t.seconds, t.nanos)
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "recorded_at never decreases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_replica_rejoins_with_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, mut replicas) = three_replicas(dir.path(), &[]);
    let client = replicas[0].client().await;
    let last = seed_reports(&client, 20).await;
    replicas[0].wait_cosigned(last);
    let before = client.get_checkpoint().await.unwrap();
    assert_eq!(before.tree_size, last);

    // The third replica loses its data dir whole.
    replicas[2].kill();
    std::fs::remove_dir_all(&replicas[2].data_dir).unwrap();
    replicas[2].restart();
    // Writes go on meanwhile.
    let later = client
        .submit_report(seed::report(100))
        .await
        .unwrap()
        .sequence;

    let rejoined = replicas[2].client().await;
    wait_for_entry(&rejoined, later).await;
    wait_for_entry(&replicas[1].client().await, later).await;
    replicas[0].wait_cosigned(later);
    replicas[2].wait_cosigned(later);
    let log = read_whole_log(&rejoined).await;
    assert_eq!(log.len() as u64, later);
    assert!(
        log == read_whole_log(&client).await,
        "the rejoined log is the cluster's"
    );
    let now = rejoined.get_checkpoint().await.unwrap();
    assert_eq!(
        now.root_hash,
        client.get_checkpoint().await.unwrap().root_hash
    );
    // What it rebuilt extends the tree the others had signed before.
    let proof = rejoined
        .get_consistency_proof(before.tree_size, now.tree_size)
        .await
        .unwrap();
    let root = |r: &[u8]| -> [u8; 32] { r.try_into().expect("a 32-byte root") };
    truce_client::verify::verify_consistency(
        before.tree_size,
        now.tree_size,
        &root(&before.root_hash),
        &root(&now.root_hash),
        &proof.hashes,
    )
    .expect("the rejoined replica's tree extends the earlier checkpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_whose_log_differs_stops_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (etcd, mut replicas) = three_replicas(dir.path(), &[]);
    let client = replicas[0].client().await;
    client.record_agreement(seed::agreement()).await.unwrap();
    for n in 0..3 {
        client.submit_report(seed::report(n)).await.unwrap();
    }

    // A fourth replica's log grows apart: in a cluster of its own (another
    // key prefix), its entry 1 is another agreement.
    let apart = dir.path().join("r4");
    let mut r4 = Replica::start_with("r4", &apart, &etcd.urls(), &["--cluster-prefix", "apart"]);
    let mut other = seed::agreement();
    other.request_id = "another-request".into();
    r4.client().await.record_agreement(other).await.unwrap();
    r4.kill();

    // Joined to the cluster, it finds entry 1 is not the cluster's.
    r4 = Replica::start("r4", &apart, &etcd.urls());
    assert!(
        r4.stderr.wait_for(
            "differs from the cluster",
            1,
            std::time::Duration::from_secs(60)
        ),
        "the forked replica says so: {}",
        r4.log()
    );
    // It serves no fork: it applied nothing of the cluster's, and takes
    // no writes (nor forwards them: it left the writer election).
    let options = truce_client::ClientOptions {
        write_attempts: 2,
        ..truce_client::ClientOptions::default()
    };
    let forked = truce_client::Client::connect_with(r4.url.clone(), options)
        .await
        .unwrap();
    assert_eq!(read_whole_log(&forked).await.len(), 1);
    let refused = forked.submit_report(seed::report(50)).await;
    assert!(refused.is_err(), "{refused:?}");
    replicas[1].kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_that_asks_for_a_sequence_sees_the_write_on_another_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (etcd, replicas) = three_replicas(dir.path(), &["--min-sequence-wait-ms", "30000"]);
    let writer = replicas[0].client().await;
    let reader = replicas[1].client().await;
    writer.record_agreement(seed::agreement()).await.unwrap();
    for n in 0..10 {
        // Written through one replica, read at once through another, as of
        // at least the receipt's sequence: always found.
        let receipt = writer.submit_report(seed::report(n)).await.unwrap();
        let view = reader
            .at_least(receipt.sequence)
            .get_report(&receipt.record_id)
            .await
            .expect("the replica waits until it has applied the write");
        assert_eq!(view.report.unwrap().id, receipt.record_id);
    }
    // A sequence the cluster has not reached: refused once the wait is over.
    let impatient = Replica::start_with(
        "r9",
        &dir.path().join("r9"),
        &etcd.urls(),
        &["--min-sequence-wait-ms", "100"],
    );
    let far = impatient
        .client()
        .await
        .at_least(1_000_000)
        .read_log(1, 1)
        .await;
    let Err(e) = far else {
        panic!("a read past the log is refused: {far:?}")
    };
    assert_eq!(e.code(), Some(tonic::Code::Unavailable), "{e}");
    assert_eq!(e.reason().as_deref(), Some("BEHIND"), "{e}");
}

/// A WriteStream opened on any replica reaches the writer: a replica that
/// is not the writer relays the stream, and the writer's receipts come
/// back in order; every replica ends with the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_stream_through_any_replica_is_ordered_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, replicas) = three_replicas(dir.path(), &[]);
    let mut clients = Vec::new();
    for r in &replicas {
        clients.push(r.client().await);
    }
    clients[0]
        .record_agreement(seed::agreement())
        .await
        .unwrap();
    for c in &clients {
        wait_for_entry(c, 1).await;
    }
    let mut sequences = BTreeSet::new();
    for (i, c) in clients.iter().enumerate() {
        let (mut tx, mut receipts) = c.write_stream(8).await.unwrap();
        let sender = tokio::spawn(async move {
            for n in 0..10 {
                let mut r = seed::report(1000 + i * 100 + n);
                r.request_id = format!("stream-{i}-{n}");
                let envelope = Envelope {
                    kind: Some(Kind::Report(r)),
                };
                tx.send(envelope).await.unwrap();
            }
        });
        let mut answers = 0;
        while let Some(answer) = receipts.next().await {
            let answer = answer.unwrap();
            assert_eq!(answer.index, answers, "in the order sent");
            let receipt = answer.result.expect("accepted through any replica");
            assert!(sequences.insert(receipt.sequence), "{receipt:?}");
            answers += 1;
        }
        sender.await.unwrap();
        assert_eq!(answers, 10, "replica {}", replicas[i].name);
    }
    assert_eq!(sequences, (2..=31).collect::<BTreeSet<u64>>());
    for c in &clients {
        wait_for_entry(c, 31).await;
    }
    let first = read_whole_log(&clients[0]).await;
    for c in &clients[1..] {
        assert!(read_whole_log(c).await == first, "the same bytes");
    }
}
