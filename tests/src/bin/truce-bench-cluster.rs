//! The benchmark of issue 23 (cluster mode): durable appends per second of
//! 64 unary clients against three replicas ordered by etcd and against a
//! single node, in the same run, with where the cluster's time goes
//! (entries per etcd transaction, its round trip, the fsyncs), and the
//! failover time over ten kills of the writer. Everything on 127.0.0.1
//! with release processes: three etcd members, three truced replicas, then
//! one truced alone. Prints Markdown (docs/benchmarks.md records a run).
//!
//!     cargo build --release -p truce-daemon -p truce-tests \
//!         --features truce-daemon/cluster,truce-tests/cluster
//!     target/release/truce-bench-cluster [--clients 64] [--seconds 20] [--failovers 10]

#![forbid(unsafe_code)]

use std::{
    path::PathBuf,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::{Context, Result};
use clap::Parser;
use truce_client::Client;
use truce_tests::bench::{
    cluster_load::{Endpoints, Load, Measured, measure},
    failover::{self, Round},
    payload::Generator,
    replicas::Replicas,
    stats::Spread,
    truced::{Truced, beside_this_executable},
};

#[derive(Debug, Parser)]
#[command(about = "Cluster appends and failover against a single node (issue 23)")]
struct Options {
    /// Concurrent unary clients of the append phases.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// gRPC connections they share (HTTP/2 multiplexes the rest).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Length of each measured append phase, seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Unmeasured appends before each phase, seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Kills of the writer (0: no failover rounds).
    #[arg(long, default_value_t = 10)]
    failovers: usize,
    /// Writers of the light load during the failovers.
    #[arg(long, default_value_t = 4)]
    failover_writers: usize,
    /// The replicas' writer lease, seconds (truced's default if unset).
    #[arg(long)]
    lease_secs: Option<u64>,
    /// The replicas' `cluster_txn_entries` (truced's default if unset).
    #[arg(long)]
    txn_entries: Option<usize>,
    /// sled's cache of every truced, MiB.
    #[arg(long, default_value_t = 256)]
    cache_mb: u64,
    /// Where the data dirs go (a temporary dir inside it).
    #[arg(long)]
    dir: Option<PathBuf>,
}

impl Options {
    fn load(&self, urls: Vec<String>) -> Load {
        Load {
            urls,
            clients: self.clients,
            connections: self.connections,
            warmup: Duration::from_secs_f64(self.warmup),
            length: Duration::from_secs_f64(self.seconds.max(0.1)),
        }
    }

    /// The replicas' extra flags.
    fn replica_flags(&self) -> Vec<String> {
        let mut flags = vec!["--cache-mb".to_owned(), self.cache_mb.to_string()];
        if let Some(lease) = self.lease_secs {
            flags.extend(["--cluster-lease-secs".to_owned(), lease.to_string()]);
        }
        if let Some(n) = self.txn_entries {
            flags.extend(["--cluster-txn-entries".to_owned(), n.to_string()]);
        }
        flags
    }
}

/// What the run measured.
struct Figures {
    single: Measured,
    writer: Measured,
    spread: Measured,
    rounds: Vec<Round>,
}

/// Records the seed agreement (the reports refer to it).
async fn agreement(url: &str) -> Result<()> {
    Client::connect(url.to_owned())
        .await?
        .record_agreement(truce_tests::seed::agreement())
        .await
        .context("the seed agreement")?;
    Ok(())
}

/// The cluster's phases: appends through the writer, appends spread over
/// the replicas, then the failover rounds.
async fn cluster(
    options: &Options,
    dir: &std::path::Path,
) -> Result<(Measured, Measured, Vec<Round>)> {
    let flags = options.replica_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Replicas::start(dir, &flags)?;
    let within = Duration::from_secs(60);
    let mut writer = cluster.new_writer(&[0, 1, 2], within).await?;
    agreement(&cluster.replicas[writer].url).await?;
    let reports = Arc::new(Generator::new("cluster", None));
    let next = Arc::new(AtomicU64::new(0));
    let endpoints = Endpoints {
        truced: cluster.metrics[writer],
        etcd: cluster.etcd_metrics()?,
        truced_pids: writer_first(&cluster, writer),
        etcd_pids: cluster
            .etcd
            .members
            .iter()
            .filter_map(|m| m.pid())
            .collect(),
    };
    eprintln!("three replicas: {} clients on the writer", options.clients);
    let url = cluster.replicas[writer].url.clone();
    let on_writer = measure(&options.load(vec![url]), &reports, &next, &endpoints).await?;
    eprintln!(
        "three replicas: {} clients spread over the replicas",
        options.clients
    );
    let spread = measure(&options.load(cluster.urls()), &reports, &next, &endpoints).await?;
    let mut rounds = Vec::new();
    for k in 0..options.failovers {
        let (round, successor) = failover::round(
            &mut cluster,
            writer,
            options.failover_writers,
            &reports,
            &next,
        )
        .await
        .with_context(|| format!("failover round {}", k + 1))?;
        eprintln!(
            "failover {}: {} killed, {} wrote after {:.2} s",
            k + 1,
            round.killed,
            round.successor,
            round.first_write.as_secs_f64()
        );
        rounds.push(round);
        writer = successor;
    }
    Ok((on_writer, spread, rounds))
}

/// The replicas' process ids, the writer's first.
fn writer_first(cluster: &Replicas, writer: usize) -> Vec<u32> {
    let order = std::iter::once(writer).chain((0..3).filter(|i| *i != writer));
    order.filter_map(|i| cluster.replicas[i].pid()).collect()
}

/// The single node's phase: the same load on one truced.
async fn single(options: &Options, dir: &std::path::Path) -> Result<Measured> {
    let data = dir.join("single");
    std::fs::create_dir_all(&data)?;
    let daemon = Truced::start(&beside_this_executable()?, &data, options.cache_mb)?;
    agreement(&daemon.url).await?;
    let reports = Arc::new(Generator::new("single", None));
    let next = Arc::new(AtomicU64::new(0));
    let endpoints = Endpoints {
        truced: daemon.metrics,
        etcd: Vec::new(),
        truced_pids: vec![daemon.pid()],
        etcd_pids: Vec::new(),
    };
    eprintln!("single node: {} clients", options.clients);
    let measured = measure(
        &options.load(vec![daemon.url.clone()]),
        &reports,
        &next,
        &endpoints,
    )
    .await?;
    daemon.stop()?;
    Ok(measured)
}

fn fmt(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "–".to_owned()
    }
}

fn row(label: &str, m: &Measured, single: f64) -> String {
    let o = &m.outcome;
    format!(
        "| {label} | {} | {} / {} | {}× | {} | {} | {} | {} | {} |\n",
        fmt(o.rate(), 0),
        fmt(o.p(0.5), 1),
        fmt(o.p(0.99), 1),
        fmt(o.rate() / single, 2),
        fmt(m.entries_per_txn(), 1),
        fmt(m.txn_ms(), 2),
        fmt(m.etcd_fsync_ms(), 2),
        fmt(m.entries_per_sync(), 1),
        fmt(m.fsync_ms(), 2),
    )
}

fn cpu_row(label: &str, m: &Measured) -> String {
    let (writer, others, etcd, clients) = m.cpu_us_per_append();
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} % |\n",
        fmt(writer, 0),
        fmt(others, 0),
        fmt(etcd, 0),
        fmt(clients, 0),
        fmt(writer + others + etcd + clients, 0),
        fmt(m.machine_busy() * 100.0, 0),
    )
}

/// Where the CPU went, per append, and how busy the machine was.
fn cpu_table(f: &Figures) -> String {
    let mut out = "\n| setup | CPU µs per append: writer truced | other replicas | etcd (all members) | clients | sum | machine busy |\n\
        |---|---|---|---|---|---|---|\n"
        .to_owned();
    out += &cpu_row("single node", &f.single);
    out += &cpu_row("3 replicas, clients on the writer", &f.writer);
    out += &cpu_row("3 replicas, clients spread (forwarded)", &f.spread);
    out
}

fn markdown(options: &Options, f: &Figures) -> String {
    let single = f.single.outcome.rate();
    let mut out = format!(
        "{} unary clients, {} connections, {} s measured after {} s of warm-up.\n\n\
         | setup | appends/s | p50 / p99 ms | vs single | entries per etcd txn | etcd txn ms | etcd WAL fsync ms | entries per log fsync | log fsync ms |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        options.clients, options.connections, options.seconds, options.warmup
    );
    out += &row("single node", &f.single, single);
    out += &row("3 replicas, clients on the writer", &f.writer, single);
    out += &row("3 replicas, clients spread (forwarded)", &f.spread, single);
    out += &cpu_table(f);
    let ratio = f.writer.outcome.rate() / single;
    out += &format!(
        "\nThree replicas / single node: {ratio:.2}× (goal ≥ 0.5×: {}).\n",
        if ratio >= 0.5 { "met" } else { "not met" }
    );
    if f.rounds.is_empty() {
        return out;
    }
    out += "\n| failover | killed | successor | kill → first acknowledged write |\n|---|---|---|---|\n";
    for (k, r) in f.rounds.iter().enumerate() {
        let s = r.first_write.as_secs_f64();
        out += &format!(
            "| {} | {} | {} | {s:.2} s |\n",
            k + 1,
            r.killed,
            r.successor
        );
    }
    let times: Vec<f64> = f
        .rounds
        .iter()
        .map(|r| r.first_write.as_secs_f64())
        .collect();
    if let Some(s) = Spread::of(&times) {
        out += &format!(
            "\nFailover: median {:.2} s (min {:.2}, max {:.2}) over {} kills (goal ≤ 5 s: {}).\n",
            s.median,
            s.min,
            s.max,
            times.len(),
            if s.median <= 5.0 { "met" } else { "not met" }
        );
    }
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = Options::parse();
    let base = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir =
        tempfile::tempdir_in(&base).with_context(|| format!("a dir in {}", base.display()))?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("load average at start: {}", load.trim());
    // On Ctrl-C the run is dropped, and with it every process it started.
    let run = async {
        let (writer, spread, rounds) = cluster(&options, &dir.path().join("cluster")).await?;
        let single = single(&options, dir.path()).await?;
        anyhow::Ok(Figures {
            single,
            writer,
            spread,
            rounds,
        })
    };
    let figures = tokio::select! {
        figures = run => figures?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    };
    print!("{}", markdown(&options, &figures));
    Ok(())
}
