//! Running the real `truced` in binary-level tests: a command with the
//! machine's TRUCE_* environment cleared, spawning it until it announces
//! its address (or exits with its reason), and SIGTERM with a clean exit.

#![allow(dead_code, reason = "each test file uses some of these")]

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
};

/// Clears the settings' environment variables so the machine's
/// environment cannot change what a test sees.
pub fn truced() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_truced"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TRUCE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TRUCE_LOG", "warn");
    cmd
}

/// Spawns truced and reads its first stdout line: `Ok(address)` once it
/// announces it, `Err(stderr)` if it exits first.
pub fn spawn(mut cmd: Command) -> (Child, Result<String, String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("truced starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reads stdout");
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => (child, Ok(addr.to_owned())),
        None => {
            // stdout closed: truced is exiting; its reason is on stderr.
            let stderr = read_stderr(&mut child);
            (child, Err(stderr))
        }
    }
}

/// All a child wrote to stderr (until it closed it).
fn read_stderr(child: &mut Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("reads stderr");
    stderr
}

/// Sends `sig` (`-TERM`, `-HUP`, ...) to the child.
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// SIGTERM, then a clean exit; returns what it wrote to stderr.
pub fn stop(mut child: Child) -> String {
    signal(&child, "-TERM");
    let stderr = read_stderr(&mut child);
    assert!(child.wait().expect("exits").success(), "{stderr}");
    stderr
}
