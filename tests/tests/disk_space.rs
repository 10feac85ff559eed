//! Free disk space: while the data dir's filesystem has less free space
//! than the margin, appends are refused with RESOURCE_EXHAUSTED (nothing
//! written, reads go on) and they resume by themselves once space returns;
//! on a real small filesystem (a tmpfs the test mounts, where the machine
//! allows it) the store never meets a full disk and every acknowledged
//! entry survives a restart.

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

#[tokio::test]
async fn appends_wait_for_space_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let free = Arc::new(AtomicU64::new(100 * MIB));
    let mut settings = test_settings(dir.path());
    settings.min_free_disk_bytes = 10 * MIB;
    let running = Daemon::new(settings)
        .with_disk_space(Box::new(Dial(Arc::clone(&free))))
        .start()
        .await
        .unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;
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

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_filesystem_fills_to_the_margin_not_to_the_end() {
    let base = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(&base.path().join("fs"), 16) else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs");
        return;
    };
    let data = mount.0.join("data");
    let mut settings = test_settings(&data);
    settings.min_free_disk_bytes = 6 * MIB;
    settings.cache_bytes = 4 * MIB;
    let running = Daemon::new(settings.clone()).start().await.unwrap();
    let client = Client::connect(running.url()).await.unwrap();
    seed::submit_all(&client).await;

    // Append ~2 KiB reports until the margin refuses them.
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..20_000 {
        let mut req = seed::report(i);
        if let Some(r) = req.report.as_mut() {
            r.notes = format!("{i} {}", "x".repeat(1500));
        }
        match client.submit_report(req).await {
            Ok(r) => acked.push(r.sequence),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("the margin was reached");
    assert_eq!(refused.code(), Some(Code::ResourceExhausted), "{refused}");
    assert!(
        acked.len() > 100,
        "{} appends before the margin",
        acked.len()
    );
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
