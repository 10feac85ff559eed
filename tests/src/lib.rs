//! Helpers for the end-to-end tests: a daemon started in-process through
//! its library on 127.0.0.1:0 with a temporary data dir, the seed scenario
//! as requests, a recording durability seam, and raw bytes to any method.

#![forbid(unsafe_code)]

pub mod bench;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod raw;
pub mod seed;
pub mod sync;
pub mod tamper;
pub mod web;

use std::path::{Path, PathBuf};

use truce_client::Client;
use truce_daemon::{Daemon, Running, sync::SyncStep, test_settings};

/// A daemon on a temporary data dir, with a connected client.
pub struct TestDaemon {
    pub running: Running,
    pub client: Client,
    dir: tempfile::TempDir,
}

impl TestDaemon {
    /// A fresh daemon with the real durability seam.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A fresh daemon with the given seam (None: the real one).
    pub async fn start_with(sync: Option<Box<dyn SyncStep>>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (running, client) = start_in(dir.path(), sync).await;
        Self {
            running,
            client,
            dir,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Shuts down gracefully and starts again on the same data dir.
    pub async fn restart(self) -> Self {
        let Self { running, dir, .. } = self;
        running.shutdown().await.expect("clean shutdown");
        let (running, client) = start_in(dir.path(), None).await;
        Self {
            running,
            client,
            dir,
        }
    }

    /// Shuts down gracefully and keeps the data dir.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.shutdown().await.expect("clean shutdown");
        self.dir
    }
}

/// Starts a daemon on `dir` and connects a client to it.
pub async fn start_in(dir: &Path, sync: Option<Box<dyn SyncStep>>) -> (Running, Client) {
    let mut daemon = Daemon::new(test_settings(dir));
    if let Some(sync) = sync {
        daemon = daemon.with_sync(sync);
    }
    let running = daemon.start().await.expect("daemon starts");
    let client = Client::connect(running.url())
        .await
        .expect("client connects");
    (running, client)
}

/// The repository's examples directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}
