//! A release `truced` started as a process of its own for the focused
//! benchmarks (`truce-bench-subscribe`, `truce-bench-slow-clients`): found
//! next to the benchmark's executable, on 127.0.0.1:0 and a temporary data
//! dir, its address read from the line it prints, killed when dropped.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result, bail};

/// A running `truced` process.
pub struct Spawned {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `truced --listen 127.0.0.1:0 --data-dir TEMP ARGS` with
/// `TRUCE_LOG=log` and waits for its "listening on" line.
pub fn spawn_truced(args: &[String], log: &str) -> Result<Spawned> {
    let exe = std::env::current_exe()?;
    let truced: PathBuf = exe.parent().context("no parent dir")?.join("truced");
    if !truced.exists() {
        bail!(
            "{} not found: cargo build --release -p truce-daemon -p truce-tests",
            truced.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(truced)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .env("TRUCE_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .context("no address line")?
        .to_owned();
    Ok(Spawned {
        child,
        url: format!("http://{addr}"),
        _dir: dir,
    })
}
