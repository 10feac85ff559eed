//! Backups and restores: a backup taken by the daemon while appends go on
//! is consistent at the sequence it names (nothing after it is claimed),
//! restores into a new data dir whose rebuilt tree matches the signed
//! checkpoint and whose audit passes, and serves the same entries under
//! the same key; an altered backup, a wrong pinned key or a used target
//! are refused with the reason.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::path::Path;

use tonic::Code;
use truce_daemon::{audit, backup, store::Store};
use truce_proto::v1::{BackupRequest, ReadLogRequest, truce_client::TruceClient};
use truce_tests::{TestDaemon, seed, start_in};

async fn backup_rpc(
    d: &TestDaemon,
    to: &Path,
    with_key: bool,
) -> Result<truce_proto::v1::BackupResponse, tonic::Status> {
    let mut c = TruceClient::connect(d.running.url()).await.unwrap();
    c.backup(BackupRequest {
        to_dir: to.to_str().unwrap().to_owned(),
        with_key,
    })
    .await
    .map(|r| r.into_inner())
}

async fn all_entries(url: String) -> Vec<(u64, Vec<u8>)> {
    let mut c = TruceClient::connect(url).await.unwrap();
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = c
            .read_log(ReadLogRequest {
                from_sequence: from,
                limit: 0,
            })
            .await
            .unwrap()
            .into_inner();
        if page.entries.is_empty() {
            return out;
        }
        from = page.next_sequence;
        out.extend(page.entries.into_iter().map(|e| (e.sequence, e.entry)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_appends_restores_and_audits() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let original_key = d.running.verifier_key();

    // Writers keep appending while the backup is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (acked, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, stop, acked) = (
            d.client.clone(),
            std::sync::Arc::clone(&stop),
            acked.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let receipt = client
                    .submit_report(seed::report(w * 100_000 + i))
                    .await
                    .unwrap();
                let _ = acked.send(receipt.sequence);
                i += 1;
            }
            i
        }));
    }
    // Let some appends land first (wait for their receipts).
    for _ in 0..30 {
        acks.recv().await.unwrap();
    }
    let backups = tempfile::tempdir().unwrap();
    let to = backups.path().join("b1");
    let made = backup_rpc(&d, &to, true).await.unwrap();
    // Writes go on past the backup's point: wait for one acknowledged there.
    while acks.recv().await.unwrap() <= made.sequence {}
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut appended = 0;
    for w in writers {
        appended += w.await.unwrap();
    }
    assert!(made.sequence >= 42, "{made:?}");
    assert!(appended > 0);
    let after = d.client.get_checkpoint().await.unwrap().tree_size;
    assert!(
        after > made.sequence,
        "appends went on after the backup ({after})"
    );
    let originals = all_entries(d.running.url()).await;

    // Restore into a new data dir.
    let restored_dir = tempfile::tempdir().unwrap();
    let data = restored_dir.path().join("data");
    let r = backup::restore(
        &to,
        &data,
        truce_daemon::store::StoreOptions::with_cache(16 << 20),
        Some(&original_key),
    )
    .unwrap();
    assert_eq!(r.manifest.sequence, made.sequence);
    {
        let store = Store::open(&data, 16 << 20).unwrap();
        assert_eq!(
            store.durable_sequence(),
            made.sequence,
            "nothing after the backup"
        );
        let audit = audit::run(&store, &data).unwrap();
        assert_eq!(audit.entries, made.sequence);
        assert_eq!(audit.first_difference, None);
        assert_eq!(audit.checkpoint, Some((made.sequence, true)));
    }

    // Served again: the same entries, byte for byte, the same key, and the
    // checkpoint at the backup's size.
    let (running, client) = start_in(&data, None).await;
    assert_eq!(
        running.verifier_key(),
        original_key,
        "the key came with the backup"
    );
    let checkpoint = client.get_checkpoint().await.unwrap();
    assert_eq!(checkpoint.tree_size, made.sequence);
    assert_eq!(hex::encode(&checkpoint.root_hash), made.root);
    let restored = all_entries(running.url()).await;
    assert_eq!(restored.len() as u64, made.sequence);
    assert_eq!(restored[..], originals[..made.sequence as usize]);
    // Views and indexes were rebuilt: the seed reads as before.
    let view = client.get_report("seed-report-1").await.unwrap();
    assert_eq!(
        view,
        d.client
            .get_report_at("seed-report-1", made.sequence)
            .await
            .unwrap()
    );
    // And the restored log takes new appends after it.
    let receipt = client.submit_report(seed::report(999_999)).await.unwrap();
    assert_eq!(receipt.sequence, made.sequence + 1);
    running.shutdown().await.unwrap();
    d.stop().await;
}

#[tokio::test]
async fn an_altered_backup_or_a_wrong_key_is_refused() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let backups = tempfile::tempdir().unwrap();
    let to = backups.path().join("b");
    let made = backup_rpc(&d, &to, false).await.unwrap();
    assert_eq!(made.sequence, 12);
    assert!(!to.join("checkpoint.key").exists(), "no key unless asked");
    let vkey = d.running.verifier_key();
    d.stop().await;

    let restore = |from: &Path, pinned: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        backup::restore(
            from,
            &dir.path().join("d"),
            truce_daemon::store::StoreOptions::with_cache(16 << 20),
            pinned,
        )
        .map(|_| ())
    };
    restore(&to, Some(&vkey)).unwrap();

    // One byte of one entry changed.
    let copy = |name: &str| {
        let dst = backups.path().join(name);
        std::fs::create_dir(&dst).unwrap();
        for f in std::fs::read_dir(&to).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
        }
        dst
    };
    let altered = copy("altered");
    let mut bytes = std::fs::read(altered.join("entries")).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(altered.join("entries"), bytes).unwrap();
    let err = restore(&altered, None).unwrap_err().to_string();
    assert!(err.contains("do not match the manifest"), "{err}");
    // A refused restore leaves no store behind for a later serve.
    let target = tempfile::tempdir().unwrap();
    assert!(
        backup::restore(
            &altered,
            target.path(),
            truce_daemon::store::StoreOptions::with_cache(16 << 20),
            None
        )
        .is_err()
    );
    assert!(!target.path().join("store").exists());
    backup::restore(
        &to,
        target.path(),
        truce_daemon::store::StoreOptions::with_cache(16 << 20),
        Some(&vkey),
    )
    .unwrap();

    // The manifest rewritten to claim fewer entries.
    let shorter = copy("shorter");
    let m = std::fs::read_to_string(shorter.join("manifest.toml")).unwrap();
    std::fs::write(
        shorter.join("manifest.toml"),
        m.replace("sequence = 12", "sequence = 11"),
    )
    .unwrap();
    let err = restore(&shorter, None).unwrap_err().to_string();
    assert!(err.contains("disagree"), "{err}");

    // No manifest: an incomplete backup.
    let partial = copy("partial");
    std::fs::remove_file(partial.join("manifest.toml")).unwrap();
    let err = restore(&partial, None).unwrap_err().to_string();
    assert!(err.contains("incomplete"), "{err}");

    // Pinned to another log's key.
    let other = TestDaemon::start().await;
    let err = restore(&to, Some(&other.running.verifier_key()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not by the pinned key"), "{err}");
    other.stop().await;

    // A data dir that already holds a store.
    let used = tempfile::tempdir().unwrap();
    drop(Store::open(used.path(), 16 << 20).unwrap());
    let err = backup::restore(
        &to,
        used.path(),
        truce_daemon::store::StoreOptions::with_cache(16 << 20),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("already holds a store"), "{err}");
}

#[tokio::test]
async fn the_backup_rpc_names_its_field() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let backups = tempfile::tempdir().unwrap();
    std::fs::write(backups.path().join("something"), "x").unwrap();
    let err = backup_rpc(&d, backups.path(), false).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    // The filesystem's state: PreconditionFailure names the field.
    let failure = tonic_types::StatusExt::get_details_precondition_failure(&err)
        .expect("PreconditionFailure");
    assert_eq!(failure.violations[0].subject, "to_dir");
    assert!(
        err.message().contains("to_dir") && err.message().contains("not empty"),
        "{}",
        err.message()
    );
    let err = backup_rpc(&d, &d.data_dir().join("store").join("blobs"), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("inside the daemon's data dir"),
        "{}",
        err.message()
    );
    let err = backup_rpc(&d, Path::new("relative/dir"), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("to_dir"), "{}", err.message());
    d.stop().await;
}
