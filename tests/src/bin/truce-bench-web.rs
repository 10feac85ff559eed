//! How long the web view takes to render its pages on a large store:
//! loads `--reports` reports alleged to breach the seed agreement (spread
//! over its 30 days, two perpetrators, four regions), then fetches the
//! agreement page and the report list page (the agreement's first page of
//! 50) `--rounds` times each over loopback HTTP, and prints p50, p99 and
//! max. The first agreement page at a new log sequence computes the
//! compliance report; later ones at the same sequence reuse it
//! (`http_compliance_cache`), so that one is reported apart ("cold").
//! Then, while entries arrive (one new report before each request), the
//! page at a sequence with no report yet: it is shown at the last one
//! kept while the newest is computed behind it (`web::fresh`).
//! The daemon runs in this process. Not a test; docs/benchmarks.md
//! records a run.
//!
//!     cargo run --release -p truce-tests --bin truce-bench-web [-- --reports 100000 --rounds 200]
//!
//! `--data-dir DIR` keeps the loaded store there and reuses it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use pbjson_types::Timestamp;
use truce_client::Client;
use truce_daemon::{Daemon, test_settings};
use truce_proto::v1::SubmitReportRequest;

const REGIONS: [(&str, &str); 4] = [
    ("RU", "Krasnodar Krai"),
    ("RU", "Kursk Oblast"),
    ("UA", "Donetsk Oblast"),
    ("UA", "Kharkiv Oblast"),
];

fn report(i: usize) -> SubmitReportRequest {
    let mut req = truce_tests::seed::report(i);
    req.request_id = format!("bench-web-{i}");
    if let Some(r) = req.report.as_mut() {
        let (country, admin1) = REGIONS[i % REGIONS.len()];
        r.alleged_perpetrators = vec![if country == "RU" { "UA" } else { "RU" }.to_owned()];
        r.reported_by = country.to_owned();
        if let Some(l) = r.location.as_mut() {
            l.country = country.to_owned();
            l.admin1 = admin1.to_owned();
        }
        let start = 1_742_342_400 + ((i * 7_919) % (28 * 86_400)) as i64;
        if let Some(o) = r.occurred.as_mut() {
            o.start = Some(Timestamp {
                seconds: start,
                nanos: 0,
            });
            o.end = None;
        }
        r.first_reported_at = None;
    }
    req
}

async fn load(client: &Client, n: usize, writers: usize) -> Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (client, next) = (client.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                client.submit_report(report(i)).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Fetches `path` `rounds` times; the durations, sorted.
async fn time_page(addr: std::net::SocketAddr, path: &str, rounds: usize) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let answer = truce_tests::web::get(addr, path, None).await;
        out.push(start.elapsed());
        anyhow::ensure!(answer.status == 200, "{path}: {}", answer.status);
    }
    out.sort();
    Ok(out)
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn row(name: &str, sorted: &[Duration]) {
    println!(
        "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
        sorted.len(),
        quantile(sorted, 0.5),
        quantile(sorted, 0.99),
        quantile(sorted, 1.0)
    );
}

/// The allocator truced uses (the daemon runs in this process).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let (mut reports, mut rounds) = (100_000usize, 200usize);
    let mut data_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let raw = args.next().context("a flag needs a value")?;
        match flag.as_str() {
            "--data-dir" => data_dir = Some(std::path::PathBuf::from(raw)),
            "--reports" => reports = raw.parse()?,
            "--rounds" => rounds = raw.parse()?,
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
    let temp = tempfile::tempdir()?;
    let dir = data_dir.unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let running = Daemon::new(test_settings(&dir)).start().await?;
    let client = Client::connect(running.url()).await?;
    let loading = Instant::now();
    if client.get_checkpoint().await?.tree_size == 0 {
        for e in truce_tests::seed::envelopes() {
            client.submit(e).await?;
        }
        load(&client, reports, 64).await?;
    }
    let log = client.get_checkpoint().await?.tree_size;
    println!(
        "{log} entries ({reports} reports loaded in {:.1} s)",
        loading.elapsed().as_secs_f64()
    );
    let addr = running.http_addr().context("the web view is off")?;
    let id = truce_tests::seed::agreement_id();
    let agreement = format!("/agreements/{id}");
    let list = format!("/reports?agreement={id}");
    let cold = time_page(addr, &agreement, 1).await?;
    let warm = time_page(addr, &agreement, rounds).await?;
    let listed = time_page(addr, &list, rounds).await?;
    let mut arriving = Vec::new();
    for i in 0..rounds.div_ceil(10) {
        client.submit_report(report(reports + i)).await?;
        arriving.extend(time_page(addr, &agreement, 1).await?);
    }
    arriving.sort();
    println!();
    println!("| page | requests | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    row("agreement, first at this sequence (cold)", &cold);
    row("agreement", &warm);
    row("report list (first page of 50)", &listed);
    row("agreement, one new entry before each", &arriving);
    running.shutdown().await?;
    Ok(())
}
