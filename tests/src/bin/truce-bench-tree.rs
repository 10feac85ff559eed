//! What the Merkle tree costs: durable appends per second with the tree
//! maintained in the commit pipeline against the same build without it,
//! alternating runs in one process (64 concurrent writers, loopback).
//! Not a test; docs/benchmarks.md records a run.
//!
//!     cargo run --release -p truce-tests --bin truce-bench-tree [-- --seconds 5 --rounds 3]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use truce_client::Client;
use truce_daemon::{Daemon, test_settings};

async fn run(tree: bool, seconds: u64, writers: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut daemon = Daemon::new(test_settings(dir.path()));
    if !tree {
        daemon = daemon.without_merkle_tree_for_benchmarks();
    }
    let running = daemon.start().await?;
    let client = Client::connect(running.url()).await?;
    client
        .record_agreement(truce_tests::seed::agreement())
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (client, stop, done) = (client.clone(), Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                if client
                    .submit_report(truce_tests::seed::report(w * 10_000_000 + i))
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        t.await?;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / elapsed;
    running.shutdown().await?;
    Ok(rate)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 5;
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: u64 = args.next().context("a flag needs a value")?.parse()?;
        match flag.as_str() {
            "--seconds" => seconds = value,
            "--rounds" => rounds = value,
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    if rounds == 0 || seconds == 0 {
        anyhow::bail!("--rounds and --seconds must be at least 1");
    }
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        without.push(run(false, seconds, 64).await?);
        with.push(run(true, seconds, 64).await?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("| run | without tree | with tree |");
    println!("|---|---|---|");
    for (i, (a, b)) in without.iter().zip(&with).enumerate() {
        println!("| {} | {a:.0} appends/s | {b:.0} appends/s |", i + 1);
    }
    let (a, b) = (median(&mut without), median(&mut with));
    println!("| median | {a:.0} | {b:.0} |");
    println!();
    println!(
        "tree cost: {:+.1} % of append throughput",
        (b / a - 1.0) * 100.0
    );
    Ok(())
}
