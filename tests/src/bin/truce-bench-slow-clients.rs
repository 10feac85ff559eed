//! Slow-client benchmark: the daemon's memory with many streams whose
//! clients stop reading. Not a test: it measures and prints a Markdown
//! table (docs/benchmarks.md records a run).
//!
//!     cargo build --release -p truce-daemon -p truce-tests
//!     target/release/truce-bench-slow-clients [--streams 1000] [--reports 2000] [--budget-mb 64]
//!
//! It starts the release `truced` found next to its own executable, on
//! 127.0.0.1 with a temporary data dir, seeds it with long reports, then
//! opens `--streams` stalled streams of each kind in turn (Subscribe from
//! the start, GetComplianceReport with its annex, ReadLog of a full page),
//! each over a client whose HTTP/2 windows are small so that what is not
//! read stays on the daemon's side, and never reads them. The stall
//! timeout is set past the run, so every stream stays paused: the
//! daemon's resident memory (VmRSS from /proc) is taken once it settles
//! after each kind, with all the streams opened so far still held.

use std::{
    pin::Pin,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use futures::{FutureExt, StreamExt};
use tonic::transport::{Channel, Endpoint};
use truce_client::Client;
use truce_proto::v1::{
    ComplianceReportRequest, ReadLogRequest, SubscribeFilter, SubscribeRequest, subscribe_request,
    truce_client::TruceClient,
};
use truce_tests::bench::spawned::{Spawned, spawn_truced};

/// Calls per connection (the daemon's max_concurrent_streams is raised
/// to this).
const PER_CONNECTION: usize = 100;
/// How long the daemon's memory may take to settle after a kind.
const SETTLE: Duration = Duration::from_secs(30);

struct Args {
    streams: usize,
    reports: usize,
    budget_mb: u64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        streams: 1000,
        reports: 2000,
        budget_mb: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("a flag needs a value")?;
        match flag.as_str() {
            "--streams" => a.streams = value.parse()?,
            "--reports" => a.reports = value.parse()?,
            "--budget-mb" => a.budget_mb = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(a)
}

fn start_daemon(budget_mb: u64) -> Result<Spawned> {
    let args = [
        "--cache-mb",
        "64",
        "--rate-limit-per-sec",
        "0",
        "--max-subscriptions",
        "20000",
        "--max-concurrent-streams",
        &PER_CONNECTION.to_string(),
        "--stream-buffer-mb",
        &budget_mb.to_string(),
        "--stream-stall-timeout-ms",
        "3600000",
        "--request-timeout-ms",
        "0",
    ];
    spawn_truced(&args.map(String::from), "error")
}

/// VmRSS of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The RSS once it has not grown for two seconds (at most [`SETTLE`]).
async fn settled_rss(pid: u32) -> u64 {
    let start = Instant::now();
    let mut last = rss_kib(pid);
    let mut still = 0;
    while still < 4 && start.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(pid);
        if now > last {
            still = 0;
        } else {
            still += 1;
        }
        last = last.max(now);
    }
    last
}

/// A report with long notes (about 8.5 KiB as an entry).
fn big_report(n: usize) -> truce_proto::v1::SubmitReportRequest {
    let mut r = truce_tests::seed::report(n);
    if let Some(report) = r.report.as_mut() {
        report.notes = format!("{n} {}", "x".repeat(8000));
    }
    r
}

async fn seed(client: &Client, reports: usize) -> Result<()> {
    client
        .record_agreement(truce_tests::seed::agreement())
        .await?;
    let results: Vec<_> = futures::stream::iter(0..reports)
        .map(|n| {
            let c = client.clone();
            async move { c.submit_report(big_report(n)).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}

/// `n` clients over connections whose HTTP/2 windows are small.
async fn clients(url: &str, n: usize) -> Result<Vec<TruceClient<Channel>>> {
    let mut channels = Vec::new();
    for _ in 0..n.div_ceil(PER_CONNECTION) {
        let channel = Endpoint::from_shared(url.to_owned())?
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await?;
        channels.push(channel);
    }
    Ok((0..n)
        .map(|i| {
            TruceClient::new(channels[i / PER_CONNECTION].clone())
                .max_decoding_message_size(16 << 20)
        })
        .collect())
}

/// Something held to keep a stalled call open.
type Held = Box<dyn std::any::Any + Send>;

async fn stalled_subscribes(url: &str, n: usize) -> Result<Vec<Held>> {
    let mut held: Vec<Held> = Vec::new();
    for mut c in clients(url, n).await? {
        let request = SubscribeRequest {
            start: Some(subscribe_request::Start::FromStart(true)),
            filter: Some(SubscribeFilter::default()),
            ..SubscribeRequest::default()
        };
        let stream = c.subscribe(request).await?.into_inner();
        held.push(Box::new((c, stream)));
    }
    Ok(held)
}

/// A call polled until its request is out, then parked unpolled: its
/// answer is never read.
type Call = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn park(mut call: Call) -> Held {
    for _ in 0..8 {
        if (&mut call).now_or_never().is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    Box::new(call)
}

/// GetComplianceReport waits for budget before it answers, so its calls
/// are parked like ReadLog's; those that got an answer hold its stream
/// unread.
async fn stalled_reports(url: &str, n: usize) -> Result<Vec<Held>> {
    let mut held: Vec<Held> = Vec::new();
    for mut c in clients(url, n).await? {
        let request = ComplianceReportRequest {
            agreement_id: truce_tests::seed::agreement_id(),
            ..ComplianceReportRequest::default()
        };
        held.push(
            park(Box::pin(async move {
                if let Ok(answer) = c.get_compliance_report(request).await {
                    let _stream = answer.into_inner();
                    std::future::pending::<()>().await;
                }
            }))
            .await,
        );
    }
    Ok(held)
}

/// ReadLog is unary: each call is parked once its request is out.
async fn stalled_read_logs(url: &str, n: usize) -> Result<Vec<Held>> {
    let mut held: Vec<Held> = Vec::new();
    for mut c in clients(url, n).await? {
        let request = ReadLogRequest {
            from_sequence: 1,
            limit: 0,
        };
        held.push(
            park(Box::pin(async move {
                let _ = c.read_log(request).await;
            }))
            .await,
        );
    }
    Ok(held)
}

/// The kinds of stalled call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Subscribe,
    Compliance,
    ReadLog,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Subscribe => "Subscribe",
            Kind::Compliance => "GetComplianceReport",
            Kind::ReadLog => "ReadLog",
        }
    }

    async fn stall(self, url: &str, n: usize) -> Result<Vec<Held>> {
        match self {
            Kind::Subscribe => stalled_subscribes(url, n).await,
            Kind::Compliance => stalled_reports(url, n).await,
            Kind::ReadLog => stalled_read_logs(url, n).await,
        }
    }
}

/// One daemon, seeded, with `n` stalled calls of each of `kinds`:
/// (base RSS, RSS with the calls held), KiB.
async fn run(a: &Args, kinds: &[Kind]) -> Result<(u64, u64)> {
    let daemon = start_daemon(a.budget_mb)?;
    let pid = daemon.child.id();
    let client = Client::connect(daemon.url.clone()).await?;
    seed(&client, a.reports).await?;
    let base = settled_rss(pid).await;
    let mut held = Vec::new();
    for kind in kinds {
        held.extend(kind.stall(&daemon.url, a.streams).await?);
    }
    let with = settled_rss(pid).await;
    // The daemon still answers.
    client.get_checkpoint().await?;
    drop(held);
    Ok((base, with))
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "| stalled calls ({} reports of ~8.5 KiB) | base RSS MiB | with the calls MiB | base + stream_buffer_mb {} | |",
        a.reports, a.budget_mb
    );
    println!("|---|---:|---:|---:|---|");
    let all = [Kind::Subscribe, Kind::Compliance, Kind::ReadLog];
    let runs: Vec<(String, Vec<Kind>)> = all
        .iter()
        .map(|k| (format!("{} {}", a.streams, k.name()), vec![*k]))
        .chain(std::iter::once((
            format!("{} of each kind at once", a.streams),
            all.to_vec(),
        )))
        .collect();
    for (what, kinds) in runs {
        let (base, with) = run(&a, &kinds).await?;
        let bound = base + a.budget_mb * 1024;
        println!(
            "| {what} | {:.1} | {:.1} | {:.1} | {} |",
            mib(base),
            mib(with),
            mib(bound),
            if with <= bound { "within" } else { "OVER" }
        );
    }
    Ok(())
}
