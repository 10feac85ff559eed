//! Free disk space: while the data dir's filesystem has less free space
//! than the margin, appends are refused with RESOURCE_EXHAUSTED (nothing
//! written, reads go on) and they resume by themselves once space returns;
//! on a real small filesystem (a tmpfs the test mounts, where the machine
//! allows it) the store never meets a full disk and every acknowledged
//! entry survives a restart. A backup onto the data dir's filesystem
//! keeps the margin too.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tonic::Code;
use truce_client::Client;
use truce_daemon::{Daemon, space::DiskSpace, test_settings};
use truce_tests::seed;

const MIB: u64 = 1024 * 1024;

/// A probe the test sets.
struct Dial(Arc<AtomicU64>);

impl DiskSpace for Dial {
    fn available(&self, _dir: &Path) -> std::io::Result<u64> {
        Ok(self.0.load(Ordering::SeqCst))
    }
}

/// A daemon on `data_dir` with a 10 MiB margin and the seed, whose free
/// space the test sets through the dial (100 MiB to start).
async fn seeded_with_a_dial(data_dir: &Path) -> (Arc<AtomicU64>, truce_daemon::Running, Client) {
    let free = Arc::new(AtomicU64::new(100 * MIB));
    let mut settings = test_settings(data_dir);
    settings.min_free_disk_bytes = 10 * MIB;
    let running = Daemon::new(settings)
        .with_disk_space(Box::new(Dial(Arc::clone(&free))))
        .start()
        .await
        .unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
    (free, running, client)
}

#[tokio::test]
async fn appends_wait_for_space_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (free, running, client) = seeded_with_a_dial(dir.path()).await;
    let before = client.get_checkpoint().await.unwrap().tree_size;

    free.store(3 * MIB, Ordering::SeqCst);
    let err = client.submit_report(seed::report(1)).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
    assert!(err.to_string().contains("min_free_disk_mb"), "{err}");
    assert!(err.to_string().contains("3 MiB free"), "{err}");
    assert_eq!(
        client.get_checkpoint().await.unwrap().tree_size,
        before,
        "nothing written"
    );
    // Reads go on.
    assert!(client.get_report("seed-report-1").await.is_ok());

    // Space returns: the same request commits, once.
    free.store(100 * MIB, Ordering::SeqCst);
    let receipt = client.submit_report(seed::report(1)).await.unwrap();
    assert_eq!(receipt.sequence, before + 1);
    assert!(!receipt.duplicate);
    let again = client.submit_report(seed::report(1)).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.sequence, receipt.sequence);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_backup_on_the_data_dirs_filesystem_keeps_the_margin() {
    let dir = tempfile::tempdir().unwrap();
    let (free, running, client) = seeded_with_a_dial(&dir.path().join("data")).await;

    // Room for appends (the margin and the log's next segments), not for
    // the seed's entries besides.
    free.store(
        10 * MIB + running.space_ahead().total() + 1024,
        Ordering::SeqCst,
    );
    let to = dir.path().join("backup");
    let to_dir = to.to_str().unwrap();
    let err = client.backup(to_dir, false).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
    assert!(err.to_string().contains("to_dir"), "{err}");
    assert!(err.to_string().contains("min_free_disk_mb"), "{err}");
    assert_eq!(
        std::fs::read_dir(&to).unwrap().count(),
        0,
        "what the backup wrote is removed"
    );
    // Appends go on.
    client.submit_report(seed::report(1)).await.unwrap();

    // With room, the same directory takes the backup.
    free.store(100 * MIB, Ordering::SeqCst);
    let done = client.backup(to_dir, false).await.unwrap();
    assert_eq!(
        done.sequence,
        client.get_checkpoint().await.unwrap().tree_size
    );
    running.shutdown().await.unwrap();
}

/// Appends ~2 KiB reports until one is refused (at most `max`): the
/// acknowledged sequences and the refusal.
async fn append_until_refused(
    client: &Client,
    max: usize,
) -> (Vec<u64>, Option<truce_client::ClientError>) {
    let mut acked = Vec::new();
    for i in 0..max {
        let mut req = seed::report(i);
        if let Some(r) = req.report.as_mut() {
            r.notes = format!("{i} {}", "x".repeat(1500));
        }
        match client.submit_report(req).await {
            Ok(r) => acked.push(r.sequence),
            Err(e) => return (acked, Some(e)),
        }
    }
    (acked, None)
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size_mib: u64) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_owned()))
    }
}

/// A 32 MiB tmpfs under `base` and settings for a data dir on it with
/// this margin (None, said, where the machine does not let the test mount
/// one).
fn small_filesystem(base: &Path, margin: u64) -> Option<(Mount, truce_daemon::Settings)> {
    let Some(mount) = Mount::tmpfs(&base.join("fs"), 32) else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs");
        return None;
    };
    let mut settings = test_settings(&mount.0.join("data"));
    settings.min_free_disk_bytes = margin;
    settings.cache_bytes = 4 * MIB;
    Some((mount, settings))
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_filesystem_fills_to_the_margin_not_to_the_end() {
    let base = tempfile::tempdir().unwrap();
    let Some((mount, settings)) = small_filesystem(base.path(), 6 * MIB) else {
        return;
    };
    let running = Daemon::new(settings.clone()).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;

    let (acked, refused) = append_until_refused(&client, 20_000).await;
    let refused = refused.expect("the margin was reached");
    assert_eq!(refused.code(), Some(Code::ResourceExhausted), "{refused}");
    assert!(
        acked.len() > 100,
        "{} appends before the margin",
        acked.len()
    );
    // The log's segments and spares were counted against the margin: the
    // filesystem never went under it.
    let free = fs2::available_space(&mount.0).unwrap();
    assert!(free >= 6 * MIB, "{free} bytes free, margin 6 MiB");
    // Reads and the checkpoint go on.
    let checkpoint = client.get_checkpoint().await.unwrap();
    assert_eq!(checkpoint.tree_size, 12 + acked.len() as u64);
    running.shutdown().await.unwrap();

    // Every acknowledged entry is there after a restart.
    let running = Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    assert_eq!(
        client.get_checkpoint().await.unwrap().tree_size,
        checkpoint.tree_size
    );
    for seq in [acked[0], acked[acked.len() / 2], *acked.last().unwrap()] {
        assert!(client.get_entry(seq).await.is_ok(), "entry {seq}");
    }
    running.shutdown().await.unwrap();
    drop(mount);
}

/// The first `n` entries' sequences from a raw subscription (no client
/// reconnects: the stream itself must survive).
async fn next_entries(
    stream: &mut tonic::Streaming<truce_proto::v1::SubscribeResponse>,
    n: usize,
) -> Vec<u64> {
    use truce_proto::v1::subscribe_response::Event;
    let mut got = Vec::new();
    while got.len() < n {
        let message = tokio::time::timeout(std::time::Duration::from_secs(30), stream.message())
            .await
            .expect("entries arrive")
            .expect("the subscription stays open")
            .expect("not ended");
        if let Some(Event::Entry(e)) = message.event {
            got.push(e.sequence);
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_failed_on_a_full_disk_stops_writes_until_space_returns() {
    use truce_proto::v1::{SubscribeRequest, subscribe_request, truce_client::TruceClient};
    use truce_tests::sync::{Recorder, RecordingSync};

    let dir = tempfile::tempdir().unwrap();
    let free = Arc::new(AtomicU64::new(100 * MIB));
    let recorder = Arc::new(Recorder::default());
    let mut settings = test_settings(dir.path());
    settings.min_free_disk_bytes = 10 * MIB;
    let running = Daemon::new(settings.clone())
        .with_disk_space(Box::new(Dial(Arc::clone(&free))))
        .with_sync(Box::new(RecordingSync::new(Arc::clone(&recorder))))
        .start()
        .await
        .unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
    let before = client.get_checkpoint().await.unwrap().tree_size;
    let mut raw = TruceClient::connect(running.url()).await.unwrap();
    let mut stream = raw
        .subscribe(SubscribeRequest {
            start: Some(subscribe_request::Start::FromStart(true)),
            ..SubscribeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next_entries(&mut stream, before as usize).await,
        (1..=before).collect::<Vec<_>>()
    );

    // A client that does not retry, to see each answer.
    let once = Client::connect_with(
        running.url(),
        truce_client::ClientOptions {
            write_attempts: 1,
            ..truce_client::ClientOptions::default()
        },
    )
    .await
    .unwrap();
    // The disk fills between the margin's check and the sync.
    recorder.fail_next_syncs(1, true);
    let failed = once.submit_report(seed::report(1)).await.unwrap_err();
    assert_eq!(failed.code(), Some(Code::Unavailable), "{failed}");
    assert!(
        failed.to_string().contains("sync failed")
            && failed
                .to_string()
                .contains("resume once disk space is freed"),
        "{failed}"
    );
    // Writes stay stopped while space is short, with the reason.
    free.store(MIB, Ordering::SeqCst);
    let refused = once.submit_report(seed::report(2)).await.unwrap_err();
    assert_eq!(refused.code(), Some(Code::ResourceExhausted), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("writes stopped after: sync failed"),
        "{refused}"
    );
    // Reads go on. The writer reopened the store at once: the failed
    // write had reached the file before its sync failed, so the reopened
    // store holds it, durable now though never acknowledged.
    assert_eq!(client.get_checkpoint().await.unwrap().tree_size, before + 1);
    assert!(client.get_report("seed-report-1").await.is_ok());
    assert_eq!(
        client.get_entry(before + 2).await.unwrap_err().code(),
        Some(Code::NotFound)
    );

    // Space returns: the next append commits, and the failed write's retry
    // gets its receipt.
    free.store(100 * MIB, Ordering::SeqCst);
    let next = client.submit_report(seed::report(2)).await.unwrap();
    assert!(!next.duplicate);
    let retried = client.submit_report(seed::report(1)).await.unwrap();
    assert!(retried.duplicate, "{retried:?}");
    assert_eq!(retried.sequence, before + 1);
    assert_eq!(next.sequence, before + 2);
    // The subscription opened before the failure goes on.
    assert_eq!(
        next_entries(&mut stream, 2).await,
        vec![before + 1, before + 2]
    );
    let after = client.get_checkpoint().await.unwrap();
    assert_eq!(after.tree_size, before + 2);
    running.shutdown().await.unwrap();

    // After a restart: everything acknowledged, the same tree.
    let running = Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    let restarted = client.get_checkpoint().await.unwrap();
    assert_eq!(restarted.tree_size, after.tree_size);
    assert_eq!(restarted.root_hash, after.root_hash);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_sync_failed_otherwise_stops_writes_until_a_restart() {
    use truce_tests::sync::{Recorder, RecordingSync};

    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let mut settings = test_settings(dir.path());
    settings.min_free_disk_bytes = 10 * MIB;
    let running = Daemon::new(settings.clone())
        .with_disk_space(Box::new(Dial(Arc::new(AtomicU64::new(100 * MIB)))))
        .with_sync(Box::new(RecordingSync::new(Arc::clone(&recorder))))
        .start()
        .await
        .unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
    recorder.fail_next_syncs(1, false);
    let failed = client.submit_report(seed::report(1)).await.unwrap_err();
    assert_eq!(failed.code(), Some(Code::Unavailable), "{failed}");
    // Space is plenty, but a disk that failed a sync is not trusted again
    // without a restart.
    let refused = client.submit_report(seed::report(2)).await.unwrap_err();
    assert_eq!(refused.code(), Some(Code::Unavailable), "{refused}");
    assert!(refused.to_string().contains("restart truced"), "{refused}");
    running.shutdown().await.unwrap();

    let running = Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    assert!(client.submit_report(seed::report(2)).await.is_ok());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_meets_a_full_filesystem_resumes_once_space_is_freed() {
    let base = tempfile::tempdir().unwrap();
    // No margin: sled meets the full filesystem itself.
    let Some((mount, settings)) = small_filesystem(base.path(), 0) else {
        return;
    };
    let running = Daemon::new(settings.clone()).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
    // Fill all but 4 MiB with a file the test can delete.
    let filler = mount.0.join("filler");
    let free = fs2::available_space(&mount.0).unwrap();
    std::fs::write(&filler, vec![0u8; (free - 4 * MIB) as usize]).unwrap();

    let (acked, failed) = append_until_refused(&client, 5_000).await;
    let failed = failed.expect("the filesystem filled up");
    // Unavailable (the write failed), or, after the client's retries,
    // ResourceExhausted (the filesystem cannot take a write yet).
    assert!(
        matches!(
            failed.code(),
            Some(Code::Unavailable | Code::ResourceExhausted)
        ),
        "{failed}"
    );
    assert!(
        failed.to_string().contains("No space left on device"),
        "{failed}"
    );
    // Reads go on: the writer freed its space reserve and reopened the
    // store at once (sled fails some reads once it has met the error).
    // Every acknowledged entry is there; the one append that failed may be
    // too, if its frame reached the log before sled met the full disk
    // (its writer was told of the failure; a retry gets its receipt).
    let acknowledged = 12 + acked.len() as u64;
    let durable = once_reopened(&client).await;
    assert!(
        (acknowledged..=acknowledged + 1).contains(&durable),
        "{durable} entries, {acknowledged} acknowledged"
    );
    for _ in 0..20 {
        assert_eq!(client.get_checkpoint().await.unwrap().tree_size, durable);
        assert!(client.get_entry(durable).await.is_ok());
        assert!(client.get_report("seed-report-1").await.is_ok());
    }

    std::fs::remove_file(&filler).unwrap();
    let resumed = client.submit_report(seed::report(90_000)).await.unwrap();
    assert!(resumed.sequence > durable, "{resumed:?}");
    // Reopened: reads work again, every acknowledged entry is there.
    let checkpoint = client.get_checkpoint().await.unwrap();
    assert_eq!(checkpoint.tree_size, resumed.sequence);
    running.shutdown().await.unwrap();

    let running = Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    let restarted = client.get_checkpoint().await.unwrap();
    assert_eq!(restarted.tree_size, resumed.sequence);
    for seq in [acked[0], *acked.last().unwrap(), resumed.sequence] {
        assert!(client.get_entry(seq).await.is_ok(), "entry {seq}");
    }
    running.shutdown().await.unwrap();
    drop(mount);
}

/// Appends from `writers` clients at once until each is refused; all the
/// sequences acknowledged.
/// The durable size, once the store the failed write left being reopened
/// answers: until then reads get UNAVAILABLE (`STORE_BUSY`, "retry"),
/// which a client retries.
async fn once_reopened(client: &Client) -> u64 {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match client.get_checkpoint().await {
            Ok(checkpoint) => return checkpoint.tree_size,
            Err(e) if e.code() == Some(Code::Unavailable) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still reopening: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("a read after the failed write: {e}"),
        }
    }
}

async fn fill_concurrently(url: &str, writers: usize) -> Vec<u64> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let client = Client::connect_with(
                url,
                truce_client::ClientOptions {
                    write_attempts: 1,
                    ..truce_client::ClientOptions::default()
                },
            )
            .await
            .unwrap();
            let mut acked = Vec::new();
            for i in 0..20_000 {
                let mut req = seed::report(w * 100_000 + i);
                if let Some(r) = req.report.as_mut() {
                    r.notes = format!("{w} {i} {}", "x".repeat(1500));
                }
                match client.submit_report(req).await {
                    Ok(r) => acked.push(r.sequence),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort_unstable();
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_filesystem_under_load_keeps_reads_and_resumes_with_large_segments() {
    use std::time::Duration;
    let base = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(&base.path().join("fs"), 112) else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs");
        return;
    };
    let mut settings = test_settings(&mount.0.join("data"));
    settings.cache_bytes = 4 * MIB;
    settings.segment_bytes = 32 * MIB;
    settings.shutdown_grace = Duration::from_secs(5);
    let running = Daemon::new(settings.clone()).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
    let filler = mount.0.join("filler");
    std::fs::write(&filler, vec![0u8; (40 * MIB) as usize]).unwrap();

    let acked = fill_concurrently(&running.url(), 8).await;
    assert!(!acked.is_empty());
    // Reads answer, and promptly, on the full filesystem.
    let bounded = Duration::from_secs(10);
    let durable = tokio::time::timeout(bounded, client.get_checkpoint())
        .await
        .expect("a read within 10 s on a full disk")
        .unwrap_or_else(|e| panic!("a read on a full disk: {e}"))
        .tree_size;
    assert!(durable >= 12 + acked.len() as u64);
    for seq in [acked[0], *acked.last().unwrap()] {
        tokio::time::timeout(bounded, client.get_entry(seq))
            .await
            .expect("a read within 10 s on a full disk")
            .unwrap_or_else(|e| panic!("a read on a full disk: {e}"));
    }
    // A refusal says how much space appends need (the writers' last
    // refusal may have left just enough for one more append).
    if let Err(refused) = client.submit_report(seed::report(99_998)).await {
        assert!(refused.to_string().contains("MiB"), "{refused}");
        assert_ne!(refused.code(), Some(Code::Internal), "{refused}");
    }

    // Space is freed: appends resume by themselves.
    std::fs::remove_file(&filler).unwrap();
    let resumed = tokio::time::timeout(bounded, client.submit_report(seed::report(99_999)))
        .await
        .expect("an append within 10 s once space is back")
        .unwrap();
    assert!(resumed.sequence > durable);
    tokio::time::timeout(
        settings.shutdown_grace + Duration::from_secs(5),
        running.shutdown(),
    )
    .await
    .expect("shutdown within its grace period")
    .unwrap();

    let running = Daemon::new(settings).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    assert!(client.get_checkpoint().await.unwrap().tree_size >= resumed.sequence);
    for seq in acked.iter().step_by(97).chain([&resumed.sequence]) {
        assert!(client.get_entry(*seq).await.is_ok(), "entry {seq}");
    }
    running.shutdown().await.unwrap();
    drop(mount);
}
