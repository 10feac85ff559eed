//! What the tests of the `truce` binary share: a daemon on 127.0.0.1:0 and
//! a run of the real binary against it.

#![allow(dead_code, reason = "each test file uses the part it needs")]

use std::{path::Path, process::Command};

use truce_client::Client;
use truce_daemon::{Daemon, Running, Settings, test_settings};
use truce_proto::v1::envelope::Kind;

/// The seed scenario, one envelope a line.
pub const SEED: &str = include_str!("../../../../examples/seed-scenario.jsonl");

/// The write on line `n` (from 0) of the seed scenario.
pub fn seed_kind(n: usize) -> Option<Kind> {
    let line = SEED.lines().nth(n).expect("a seed line");
    let envelope: truce_proto::v1::Envelope = serde_json::from_str(line).expect("an envelope");
    envelope.kind
}

/// A daemon on `dir` with the test settings as `change` leaves them, and
/// a client of it.
pub async fn daemon_with(dir: &Path, change: impl FnOnce(&mut Settings)) -> (Running, Client) {
    let mut settings = test_settings(dir);
    change(&mut settings);
    let running = Daemon::new(settings).start().await.expect("daemon starts");
    let client = Client::connect(running.url()).await.expect("connects");
    (running, client)
}

/// [`daemon_with`], holding the seed's agreement, which its reports name.
pub async fn daemon_with_agreement(
    dir: &Path,
    change: impl FnOnce(&mut Settings),
) -> (Running, Client) {
    let (running, client) = daemon_with(dir, change).await;
    let Some(Kind::Agreement(agreement)) = seed_kind(0) else {
        panic!("line 1 is the agreement")
    };
    client.record_agreement(agreement).await.expect("as set up");
    (running, client)
}

/// A daemon on `dir` with the test settings.
pub async fn daemon(dir: &Path) -> Running {
    Daemon::new(test_settings(dir))
        .start()
        .await
        .expect("daemon starts")
}

/// `truce ARGS` against `server`, run to its end.
pub fn truce(server: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_truce"))
        .env("TRUCE_SERVER", server)
        .args(args)
        .output()
        .expect("truce runs")
}

/// Bytes a command printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
