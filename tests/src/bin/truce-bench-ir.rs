//! Instructions per durable append, counted by callgrind: a figure that,
//! unlike appends per second, does not move with the machine's load, so
//! two builds can be compared on a shared 2-core machine. Not a test;
//! docs/benchmarks.md records a run.
//!
//!     cargo build --release -p truce-daemon -p truce-tests
//!     target/release/truce-bench-ir [--truced PATH] [--warmup 500] [--count 2000] [--clients 64]
//!
//! It starts `truced` (by default the one beside this executable; any
//! older build that takes `--listen`, `--data-dir`, `--metrics-listen`,
//! `--cache-mb` and `--rate-limit-per-sec` will do) under
//! `valgrind --tool=callgrind`, loads `--warmup` reports through unary
//! SubmitReport calls from `--clients` clients, zeroes the counters, loads
//! `--count` more and dumps them: the instructions of every truced thread
//! over the measured appends only, start-up and warm-up excluded.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, atomic::AtomicU64},
};

use anyhow::{Context, Result, bail};
use clap::Parser;
use truce_client::Client;
use truce_tests::bench::{
    drive::{Stop, drive},
    payload::Generator,
    truce_ops::appenders,
    truced::{Truced, beside_this_executable},
};

/// Instructions per durable unary append, under callgrind.
#[derive(Debug, Parser)]
#[command(name = "truce-bench-ir", about)]
struct Args {
    /// The truced binary [default: `truced` next to this executable].
    #[arg(long)]
    truced: Option<PathBuf>,
    /// Appends before the counters are zeroed.
    #[arg(long, default_value_t = 500)]
    warmup: u64,
    /// Appends counted.
    #[arg(long, default_value_t = 2_000)]
    count: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// gRPC connections the clients share.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Copy the measured dump here, for `callgrind_annotate`.
    #[arg(long)]
    keep: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let truced = match &args.truced {
        Some(p) => p.canonicalize().with_context(|| p.display().to_string())?,
        None => beside_this_executable()?,
    };
    let work = tempfile::tempdir()?;
    let out = work.path().join("callgrind.out");
    let wrapper = callgrind_wrapper(work.path(), &truced, &out)?;
    let data = work.path().join("data");
    let daemon = Truced::start(&wrapper, &data, 256)?;
    let client = Client::connect(daemon.url.clone()).await?;
    client
        .record_agreement(truce_tests::seed::agreement())
        .await?;
    let reports = Arc::new(Generator::new("ir", None));
    let workers = appenders(&daemon.url, args.clients, args.connections, &reports).await?;
    let next = Arc::new(AtomicU64::new(0));
    let (_, workers) = drive(workers, Arc::clone(&next), Stop::Count(args.warmup)).await?;
    let before = daemon.scrape()?;
    control(daemon.pid(), "-z")?;
    drive(workers, next, Stop::Count(args.count)).await?;
    control(daemon.pid(), "-d")?;
    let after = daemon.scrape()?;
    daemon.stop()?;
    let dump = work.path().join("callgrind.out.1");
    let ir = dumped_instructions(&dump)?;
    if let Some(keep) = &args.keep {
        std::fs::copy(&dump, keep).with_context(|| keep.display().to_string())?;
    }
    let appends = after.appends - before.appends;
    println!("truced: {}", truced.display());
    println!(
        "appends counted: {appends}; entries per sync: {:.1}",
        truce_tests::bench::truced::Metrics::entries_per_sync(&before, &after)
    );
    println!("instructions: {ir}");
    println!(
        "instructions per append: {:.0}",
        ir as f64 / appends.max(1.0)
    );
    Ok(())
}

/// A script that runs `truced` under callgrind with its arguments, so
/// the harness's launcher (which appends the arguments) can start it.
fn callgrind_wrapper(dir: &Path, truced: &Path, out: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("truced-under-callgrind");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec valgrind --tool=callgrind --quiet --callgrind-out-file={} {} \"$@\"\n",
            out.display(),
            truced.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script)
}

/// `callgrind_control FLAG PID`: `-z` zeroes the counters, `-d` dumps them.
fn control(pid: u32, flag: &str) -> Result<()> {
    let status = Command::new("callgrind_control")
        .args([flag, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("callgrind_control (valgrind installed?)")?;
    if !status.success() {
        bail!("callgrind_control {flag} {pid}: {status}");
    }
    Ok(())
}

/// The `totals:` of the dump that `-d` wrote (`callgrind.out.1`).
fn dumped_instructions(dump: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(dump).with_context(|| dump.display().to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals: ")?.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no totals line in {}", dump.display()))
}
