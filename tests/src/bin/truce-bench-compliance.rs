//! How long a compliance report takes over many reports of one agreement:
//! loads `--reports` reports alleged to breach the seed agreement (spread
//! over its 30 days, both perpetrators, protected and unprotected targets)
//! plus `--others` reports of another year that name no agreement, then
//! times GetComplianceReport with and without its annex, consumed whole by
//! a client over loopback. The daemon runs in this process (release build).
//! Not a test; docs/benchmarks.md records a run.
//!
//!     cargo run --release -p truce-tests --bin truce-bench-compliance [-- --reports 100000 --others 20000 --rounds 5]
//!
//! `--data-dir DIR` keeps the loaded store there and reuses it on the next
//! run (loading 120,000 reports takes about a minute).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use pbjson_types::Timestamp;
use truce_client::Client;
use truce_daemon::{Daemon, test_settings};
use truce_proto::v1::{
    ComplianceReportRequest, SubmitReportRequest, TargetClass, compliance_report_part::Part,
    truce_client::TruceClient,
};

const TARGETS: [TargetClass; 4] = [
    TargetClass::OilRefinery,
    TargetClass::GasDistribution,
    TargetClass::PowerGeneration,
    TargetClass::Military,
];
const REGIONS: [(&str, &str); 4] = [
    ("RU", "Krasnodar Krai"),
    ("RU", "Kursk Oblast"),
    ("UA", "Donetsk Oblast"),
    ("UA", "Kharkiv Oblast"),
];

/// Report `i`: linked ones in the agreement's window, others in 2024.
fn report(i: usize, linked: bool) -> SubmitReportRequest {
    let mut req = truce_tests::seed::report(i);
    req.request_id = format!("bench-{linked}-{i}");
    if let Some(r) = req.report.as_mut() {
        let (country, admin1) = REGIONS[i % REGIONS.len()];
        r.alleged_perpetrators = vec![if country == "RU" { "UA" } else { "RU" }.to_owned()];
        r.reported_by = country.to_owned();
        if let Some(l) = r.location.as_mut() {
            l.country = country.to_owned();
            l.admin1 = admin1.to_owned();
        }
        r.target_class = TARGETS[(i / 4) % TARGETS.len()].into();
        let base: i64 = if linked { 1_742_342_400 } else { 1_710_000_000 }; // 2025-03-19, 2024-03-09
        let start = base + ((i * 7_919) % (28 * 86_400)) as i64;
        if let Some(o) = r.occurred.as_mut() {
            o.start = Some(Timestamp {
                seconds: start,
                nanos: 0,
            });
            o.end = None;
        }
        r.first_reported_at = None;
        if !linked {
            r.agreement_ids.clear();
        }
        if let Some(h) = r.harm.as_mut() {
            h.fatalities_best = Some((i % 3) as u32);
        }
    }
    req
}

async fn load(client: &Client, n: usize, linked: bool, writers: usize) -> Result<()> {
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
                client.submit_report(report(i, linked)).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// One whole report; (elapsed, annex entries, examined, in scope under RU's reading).
async fn time_report(url: &str, without_annex: bool) -> Result<(Duration, usize, u64, u64)> {
    let mut c = TruceClient::connect(url.to_owned())
        .await?
        .max_decoding_message_size(64 * 1024 * 1024);
    let start = Instant::now();
    let mut stream = c
        .get_compliance_report(ComplianceReportRequest {
            agreement_id: truce_tests::seed::agreement_id(),
            without_annex,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut first = None;
    let mut annex = 0;
    while let Some(part) = stream.message().await? {
        match part.part {
            Some(Part::Report(r)) => first = Some(r),
            Some(Part::Annex(p)) => annex += p.entries.len(),
            None => {}
        }
    }
    let elapsed = start.elapsed();
    let r = first.context("no report part")?;
    let in_scope = r
        .tallies
        .first()
        .and_then(|t| t.current.as_ref())
        .map_or(0, |c| c.in_scope);
    Ok((elapsed, annex, r.examined, in_scope))
}

/// The allocator truced uses (the daemon runs in this process).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let (mut reports, mut others, mut rounds) = (100_000usize, 20_000usize, 5usize);
    let mut data_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let raw = args.next().context("a flag needs a value")?;
        if flag == "--data-dir" {
            data_dir = Some(std::path::PathBuf::from(raw));
            continue;
        }
        let value: usize = raw.parse()?;
        match flag.as_str() {
            "--reports" => reports = value,
            "--others" => others = value,
            "--rounds" => rounds = value,
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    if rounds == 0 {
        anyhow::bail!("--rounds must be at least 1");
    }
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
        load(&client, reports, true, 64).await?;
        load(&client, others, false, 64).await?;
    }
    let log = client.get_checkpoint().await?.tree_size;
    println!(
        "loaded {reports} linked + {others} other reports ({log} entries) in {:.1} s",
        loading.elapsed().as_secs_f64()
    );
    println!();
    println!(
        "| run | with annex | annex entries | without annex | examined | in scope (RU reading) |"
    );
    println!("|---|---|---|---|---|---|");
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for run in 1..=rounds {
        let (a, annex, examined, in_scope) = time_report(&running.url(), false).await?;
        let (b, _, _, _) = time_report(&running.url(), true).await?;
        println!(
            "| {run} | {:.3} s | {annex} | {:.3} s | {examined} | {in_scope} |",
            a.as_secs_f64(),
            b.as_secs_f64()
        );
        with.push(a);
        without.push(b);
    }
    with.sort();
    without.sort();
    let mid = rounds / 2;
    println!();
    println!(
        "with annex: median {:.3} s (min {:.3}, max {:.3}); without: median {:.3} s (min {:.3}, max {:.3})",
        with[mid].as_secs_f64(),
        with[0].as_secs_f64(),
        with[rounds - 1].as_secs_f64(),
        without[mid].as_secs_f64(),
        without[0].as_secs_f64(),
        without[rounds - 1].as_secs_f64(),
    );
    running.shutdown().await?;
    Ok(())
}
