//! Keeping etcd small, end to end: three etcd members and three truced
//! replicas. Once every replica has applied the entries and a quorum has
//! cosigned a checkpoint over them, the writer deletes them from etcd (in
//! batches) and compacts its history; a replica wiped afterwards cannot
//! find them in etcd, copies them from a peer over ReadLog (each page
//! proven a prefix of the cosigned checkpoint), ends byte-identical and
//! verifies. Needs the `cluster` feature, `etcd` on the PATH, and `truced`
//! and `truce` built.

#![cfg(feature = "cluster")]

use truce_tests::{
    cluster::{
        read_whole_log, run_truce, seed_reports, three_replicas, wait_deleted, wait_for_entry,
        writer_among,
    },
    seed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_wiped_after_compaction_copies_the_log_from_a_peer() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, mut replicas) = three_replicas(dir.path(), &["--cluster-compact-batch", "5"]);
    let writer = writer_among(&replicas, &[0, 1, 2], 1);
    let client = replicas[writer].client().await;
    let last = seed_reports(&client, 20).await;
    for r in &replicas {
        wait_for_entry(&r.client().await, last).await;
    }
    // Deleted oldest first in batches of at most five, up to `last`.
    wait_deleted(&replicas[writer], last);
    let mut next = 1;
    for line in replicas[writer].log().lines() {
        let Some(rest) = line.split("deleted entries ").nth(1) else {
            continue;
        };
        let mut words = rest.split(' ');
        let from: u64 = words.next().unwrap().parse().unwrap();
        let to: u64 = words.nth(1).unwrap().parse().unwrap();
        assert_eq!(from, next, "batches follow each other: {line}");
        assert!(
            to >= from && to - from < 5,
            "a batch of at most five: {line}"
        );
        next = to + 1;
    }
    assert_eq!(next, last + 1);

    // A checkpoint pinned before the wipe, by `truce verify`.
    let state = dir.path().join("verified.checkpoint");
    let state = state.to_str().unwrap().to_owned();
    let writer_key = client.get_checkpoint().await.unwrap().verifier_key;
    let pinned = run_truce(&[
        "--server",
        &replicas[writer].url,
        "verify",
        "--state",
        &state,
        "--key",
        &writer_key,
    ]);
    assert!(pinned.status.success(), "{pinned:?}");

    // A replica that is not the writer loses its data dir whole.
    let wiped = (writer + 1) % 3;
    replicas[wiped].kill();
    std::fs::remove_dir_all(&replicas[wiped].data_dir).unwrap();
    replicas[wiped].restart();
    let rejoined = replicas[wiped].client().await;
    wait_for_entry(&rejoined, last).await;
    assert!(
        replicas[wiped].log().contains("copying them from a peer"),
        "etcd no longer held the entries: {}",
        replicas[wiped].log()
    );
    // Writes go on, and reach it through etcd again.
    let later = client
        .submit_report(seed::report(100))
        .await
        .unwrap()
        .sequence;
    for r in &replicas {
        wait_for_entry(&r.client().await, later).await;
        r.wait_cosigned(later);
    }
    let log = read_whole_log(&rejoined).await;
    assert_eq!(log.len() as u64, later);
    assert!(
        log == read_whole_log(&client).await,
        "the rejoined log is the cluster's, byte for byte"
    );

    // It verifies: two of the three replicas' keys (its own is new), and
    // its tree extends the checkpoint pinned before the wipe.
    let mut args = vec![
        "--server".to_owned(),
        replicas[wiped].url.clone(),
        "verify".into(),
        "--state".into(),
        state,
        "--require".into(),
        "2".into(),
    ];
    for r in &replicas {
        let key = r
            .client()
            .await
            .get_checkpoint()
            .await
            .unwrap()
            .verifier_key;
        args.extend(["--verifier-key".to_owned(), key]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let verified = run_truce(&args);
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{verified:?}");
    assert!(stdout.contains(&format!("size {later}")), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "consistent with the last verified checkpoint (size {last})"
        )),
        "{stdout}"
    );
}
