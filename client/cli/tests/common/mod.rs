//! What the tests of the `truce` binary share: a daemon on 127.0.0.1:0 and
//! a run of the real binary against it.

#![allow(dead_code, reason = "each test file uses the part it needs")]

use std::{path::Path, process::Command};

use truce_daemon::{Daemon, Running, test_settings};

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
