//! Subscriber benchmark: many concurrent subscribers on loopback while
//! entries are appended at a steady rate. Not a test: it measures and
//! prints a Markdown table (docs/benchmarks.md records a run).
//!
//!     cargo build --release -p truce-daemon -p truce-tests
//!     target/release/truce-bench-subscribe [--subscribers 1000] [--rate 20] [--seconds 15]
//!
//! It starts the release `truced` found next to its own executable, on
//! 127.0.0.1 with a temporary data dir, so the daemon's RSS and CPU are
//! its own.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use tonic::transport::Channel;
use truce_client::Client;
use truce_proto::v1::{
    EntryKind, SubscribeFilter, SubscribeRequest, subscribe_request, subscribe_response,
    truce_client::TruceClient,
};
use truce_tests::bench::spawned::{Spawned, spawn_truced};

struct Args {
    subscribers: usize,
    rate: u64,
    seconds: u64,
    few: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        subscribers: 1000,
        rate: 20,
        seconds: 15,
        few: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context("a flag needs a value")?;
        match flag.as_str() {
            "--subscribers" => a.subscribers = value.parse()?,
            "--rate" => a.rate = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            "--few" => a.few = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(a)
}

fn start_daemon() -> Result<Spawned> {
    let args = ["--cache-mb", "64", "--max-subscriptions", "20000"];
    spawn_truced(&args.map(String::from), "warn")
}

/// (RSS KiB, CPU ticks) of a process.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after ") " the state is 3.
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    (rss, ticks)
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Opens `n` subscriptions from now over a few connections; each records
/// the lag (receive time − recorded_at) of every entry it gets.
async fn subscribers(
    url: &str,
    n: usize,
    filter: SubscribeFilter,
    lags: Arc<Mutex<Vec<f64>>>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let connections = n.div_ceil(50).max(1);
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(Channel::from_shared(url.to_owned())?.connect().await?);
    }
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut client = TruceClient::new(channels[i % connections].clone());
        let mut stream = client
            .subscribe(SubscribeRequest {
                start: Some(subscribe_request::Start::FromNow(true)),
                filter: Some(filter.clone()),
                progress_interval_ms: 0,
            })
            .await?
            .into_inner();
        let lags = Arc::clone(&lags);
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                if let Some(subscribe_response::Event::Entry(e)) = msg.event {
                    let received = now_ns();
                    if let Ok(entry) =
                        <truce_proto::v1::Entry as prost::Message>::decode(e.entry.as_slice())
                        && let Some(t) = entry.recorded_at
                        && let Ok(mut all) = lags.lock()
                    {
                        let at = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
                        all.push((received - at) as f64 / 1e6);
                    }
                }
            }
        }));
    }
    Ok(tasks)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

async fn append_latencies(client: &Client, n: usize, from: usize) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        client
            .submit_report(truce_tests::seed::report(from + i))
            .await?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(out)
}

/// Appends at `rate` per second for `seconds`; returns how many.
async fn steady(client: &Client, rate: u64, seconds: u64, from: usize) -> Result<usize> {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let n = (rate * seconds) as usize;
    for i in 0..n {
        tick.tick().await;
        client
            .submit_report(truce_tests::seed::report(from + i))
            .await?;
    }
    Ok(n)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let daemon = start_daemon()?;
    let pid = daemon.child.id();
    let client = Client::connect(daemon.url.clone()).await?;
    client
        .record_agreement(truce_tests::seed::agreement())
        .await?;
    // Warm up.
    append_latencies(&client, 300, 0).await?;
    let (rss0, _) = usage(pid);
    let mut lat0 = append_latencies(&client, 300, 1_000).await?;

    // Idle subscribers attached: subscribed to corrections, of which
    // there are none; each still wakes for every entry and checks it.
    let idle_filter = SubscribeFilter {
        kinds: vec![EntryKind::Correction.into()],
        ..SubscribeFilter::default()
    };
    let lags = Arc::new(Mutex::new(Vec::new()));
    let idle = subscribers(&daemon.url, a.subscribers, idle_filter, Arc::clone(&lags)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss1, _) = usage(pid);
    let mut lat1 = append_latencies(&client, 300, 2_000).await?;
    for t in idle {
        t.abort();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Steady appends, every subscriber receiving every entry: lag and CPU.
    let many = subscribers(
        &daemon.url,
        a.subscribers,
        SubscribeFilter::default(),
        Arc::clone(&lags),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    lags.lock().map_err(|_| anyhow::anyhow!("lock"))?.clear();
    let (_, cpu_a) = usage(pid);
    let n_many = steady(&client, a.rate, a.seconds, 10_000).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, cpu_b) = usage(pid);
    let mut lag_many = std::mem::take(&mut *lags.lock().map_err(|_| anyhow::anyhow!("lock"))?);
    for t in many {
        t.abort();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The same with a few subscribers.
    let few_lags = Arc::new(Mutex::new(Vec::new()));
    let few = subscribers(
        &daemon.url,
        a.few,
        SubscribeFilter::default(),
        Arc::clone(&few_lags),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, cpu_c) = usage(pid);
    let n_few = steady(&client, a.rate, a.seconds, 50_000).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, cpu_d) = usage(pid);
    for t in few {
        t.abort();
    }

    let tick = 100.0; // USER_HZ on Linux
    let cpu_per_delivery_many = (cpu_b - cpu_a) as f64 / tick / (n_many * a.subscribers) as f64;
    let cpu_per_delivery_few = (cpu_d - cpu_c) as f64 / tick / (n_few * a.few) as f64;
    let delivered = lag_many.len();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| subscribers | {} |", a.subscribers);
    println!(
        "| append rate | {} entries/s for {} s ({} entries) |",
        a.rate, a.seconds, n_many
    );
    println!(
        "| deliveries | {delivered} of {} expected |",
        n_many * a.subscribers
    );
    println!(
        "| delivery lag p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        percentile(&mut lag_many, 0.5),
        percentile(&mut lag_many, 0.99),
        percentile(&mut lag_many, 1.0)
    );
    println!("| daemon RSS, 0 subscribers | {rss0} KiB |");
    println!(
        "| daemon RSS, {} idle subscribers | {rss1} KiB |",
        a.subscribers
    );
    println!(
        "| RSS per idle subscriber | {:.1} KiB |",
        (rss1 as f64 - rss0 as f64) / a.subscribers as f64
    );
    println!(
        "| append p50 / p99, 0 subscribers | {:.2} / {:.2} ms |",
        percentile(&mut lat0, 0.5),
        percentile(&mut lat0, 0.99)
    );
    println!(
        "| append p50 / p99, {} idle subscribers | {:.2} / {:.2} ms |",
        a.subscribers,
        percentile(&mut lat1, 0.5),
        percentile(&mut lat1, 0.99)
    );
    println!(
        "| append p99 change | {:+.0} % |",
        (percentile(&mut lat1, 0.99) / percentile(&mut lat0, 0.99) - 1.0) * 100.0
    );
    println!(
        "| daemon CPU per delivered entry, {} subscribers | {:.1} µs |",
        a.few,
        cpu_per_delivery_few * 1e6
    );
    println!(
        "| daemon CPU per delivered entry, {} subscribers | {:.1} µs |",
        a.subscribers,
        cpu_per_delivery_many * 1e6
    );
    println!(
        "| CPU per delivery ratio ({} vs {}) | {:.2}× |",
        a.subscribers,
        a.few,
        cpu_per_delivery_many / cpu_per_delivery_few
    );
    Ok(())
}
