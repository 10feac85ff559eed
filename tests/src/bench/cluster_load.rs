//! The appends half of the cluster benchmark (`truce-bench-cluster`,
//! issue 23): a fixed number of unary clients appending for a fixed time,
//! against one URL or spread over several (replicas forward to the
//! writer), and what the writer's and etcd's metrics say the time went to
//! over the same window: entries per etcd transaction and its round trip,
//! entries per fsync and the fsync, etcd's WAL fsync, and the CPU time
//! each kind of process spent per append (the machine's two cores are
//! shared by every process of the run).

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::{Context, Result};

use super::{
    drive::{Outcome, Stop, drive},
    payload::Generator,
    truce_ops::{Appender, clients},
    truced::{scrape, scrape_etcd, series},
    usage::cpu_seconds,
};

/// Where a phase's load goes and how much of it.
#[derive(Debug, Clone)]
pub struct Load {
    /// The clients are spread over these URLs, round-robin.
    pub urls: Vec<String>,
    pub clients: usize,
    /// gRPC connections in all (each URL gets its share, at least one).
    pub connections: usize,
    pub warmup: Duration,
    pub length: Duration,
}

/// What is read around a phase: the writer's metrics endpoint, etcd's
/// members' (none on a single node), and the processes whose CPU time
/// counts (every truced, the writer first, and every etcd member).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub truced: SocketAddr,
    pub etcd: Vec<SocketAddr>,
    pub truced_pids: Vec<u32>,
    pub etcd_pids: Vec<u32>,
}

/// CPU seconds spent so far: by the writer, by the truced processes, the
/// etcd members, this process (the clients), and the machine's busy and
/// total time.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    writer: f64,
    truced: f64,
    etcd: f64,
    clients: f64,
    busy: f64,
    total: f64,
}

/// One reading of every endpoint.
#[derive(Debug, Clone, Default)]
struct Scrapes {
    truced: String,
    etcd: Vec<String>,
    cpu: Cpu,
}

/// The machine's busy and total CPU time so far (/proc/stat's first
/// line, ticks): idle and iowait are not busy.
fn machine_ticks() -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    Ok((total - idle, total))
}

impl Endpoints {
    fn cpu(&self) -> Result<Cpu> {
        let sum = |pids: &[u32]| -> Result<f64> { pids.iter().map(|&p| Ok(cpu_seconds(p)?)).sum() };
        let (busy, total) = machine_ticks()?;
        Ok(Cpu {
            writer: sum(&self.truced_pids[..self.truced_pids.len().min(1)])?,
            truced: sum(&self.truced_pids)?,
            etcd: sum(&self.etcd_pids)?,
            clients: cpu_seconds(std::process::id())?,
            busy,
            total,
        })
    }

    fn scrape(&self) -> Result<Scrapes> {
        let truced = scrape(self.truced).context("the writer's metrics")?;
        let mut etcd = Vec::new();
        for &m in &self.etcd {
            etcd.push(scrape_etcd(m).with_context(|| format!("etcd's metrics at {m}"))?);
        }
        let cpu = self.cpu()?;
        Ok(Scrapes { truced, etcd, cpu })
    }
}

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub outcome: Outcome,
    before: Scrapes,
    after: Scrapes,
}

impl Measured {
    /// How much the writer's series `name` grew over the window.
    fn grew(&self, name: &str) -> f64 {
        series(&self.after.truced, name) - series(&self.before.truced, name)
    }

    /// The same, summed over etcd's members.
    fn etcd_grew(&self, name: &str) -> f64 {
        let after: f64 = self.after.etcd.iter().map(|t| series(t, name)).sum();
        let before: f64 = self.before.etcd.iter().map(|t| series(t, name)).sum();
        after - before
    }

    /// The mean of a histogram over the window, milliseconds.
    fn mean_ms(&self, histogram: &str, grew: impl Fn(&str) -> f64) -> f64 {
        grew(&format!("{histogram}_sum")) / grew(&format!("{histogram}_count")) * 1e3
    }

    /// Entries per etcd transaction (NaN on a single node).
    pub fn entries_per_txn(&self) -> f64 {
        self.grew("truce_order_transaction_entries_total")
            / self.grew("truce_order_transactions_total")
    }

    /// Mean round trip of one ordering transaction, ms.
    pub fn txn_ms(&self) -> f64 {
        self.mean_ms("truce_order_transaction_seconds", |n| self.grew(n))
    }

    /// Entries per fsync of the writer's log.
    pub fn entries_per_sync(&self) -> f64 {
        self.grew("truce_group_commit_entries_sum") / self.grew("truce_group_commit_entries_count")
    }

    /// Mean sync step of the writer, ms.
    pub fn fsync_ms(&self) -> f64 {
        self.mean_ms("truce_fsync_latency_seconds", |n| self.grew(n))
    }

    /// Mean WAL fsync of etcd's members, ms (NaN on a single node).
    pub fn etcd_fsync_ms(&self) -> f64 {
        self.mean_ms("etcd_disk_wal_fsync_duration_seconds", |n| {
            self.etcd_grew(n)
        })
    }

    /// CPU time per acknowledged append over the window, µs: of the
    /// writer, of the other truced processes, of every etcd member, of
    /// the clients.
    pub fn cpu_us_per_append(&self) -> (f64, f64, f64, f64) {
        let (a, b) = (&self.after.cpu, &self.before.cpu);
        let per = |s: f64| s * 1e6 / self.outcome.ops as f64;
        (
            per(a.writer - b.writer),
            per((a.truced - a.writer) - (b.truced - b.writer)),
            per(a.etcd - b.etcd),
            per(a.clients - b.clients),
        )
    }

    /// The share of the machine's CPU time that was busy over the window
    /// (every process, this run's and others').
    pub fn machine_busy(&self) -> f64 {
        let (a, b) = (&self.after.cpu, &self.before.cpu);
        (a.busy - b.busy) / (a.total - b.total)
    }

    /// Entries the writer made durable in the window (its own count, to
    /// check the clients' against).
    pub fn writer_appends(&self) -> f64 {
        self.grew("truce_appends_total")
    }
}

/// The phase's appenders: `load.clients` clients spread over the URLs.
async fn appenders(load: &Load, reports: &Arc<Generator>) -> Result<Vec<Appender>> {
    let urls = load.urls.len().max(1);
    let mut out = Vec::new();
    for (u, url) in load.urls.iter().enumerate() {
        let n = load.clients / urls + usize::from(u < load.clients % urls);
        let connections = (load.connections / urls).max(1);
        for client in clients(url, n, connections)
            .await
            .with_context(|| format!("clients of {url}"))?
        {
            out.push(Appender {
                client,
                reports: Arc::clone(reports),
            });
        }
    }
    Ok(out)
}

/// Warms up, reads the endpoints, appends for `load.length` from index
/// `next` on, reads them again.
pub async fn measure(
    load: &Load,
    reports: &Arc<Generator>,
    next: &Arc<AtomicU64>,
    endpoints: &Endpoints,
) -> Result<Measured> {
    let mut workers = appenders(load, reports).await?;
    if !load.warmup.is_zero() {
        workers = drive(workers, Arc::clone(next), Stop::After(load.warmup))
            .await?
            .1;
    }
    let before = endpoints.scrape()?;
    let (outcome, _) = drive(workers, Arc::clone(next), Stop::After(load.length)).await?;
    let after = endpoints.scrape()?;
    Ok(Measured {
        outcome,
        before,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_come_from_the_growth_of_each_series() {
        let before = Scrapes {
            truced: "truce_order_transactions_total 10\n\
                truce_order_transaction_entries_total 100\n\
                truce_order_transaction_seconds_sum 0.05\n\
                truce_order_transaction_seconds_count 10\n"
                .into(),
            etcd: vec![
                "etcd_disk_wal_fsync_duration_seconds_sum 1\n\
                etcd_disk_wal_fsync_duration_seconds_count 100\n"
                    .into(),
            ],
            cpu: Cpu::default(),
        };
        let after = Scrapes {
            truced: "truce_order_transactions_total 30\n\
                truce_order_transaction_entries_total 900\n\
                truce_order_transaction_seconds_sum 0.25\n\
                truce_order_transaction_seconds_count 30\n"
                .into(),
            etcd: vec![
                "etcd_disk_wal_fsync_duration_seconds_sum 1.5\n\
                etcd_disk_wal_fsync_duration_seconds_count 200\n"
                    .into(),
            ],
            cpu: Cpu {
                writer: 1.5,
                truced: 2.0,
                etcd: 1.0,
                clients: 0.5,
                busy: 150.0,
                total: 200.0,
            },
        };
        let m = Measured {
            outcome: Outcome {
                ops: 1000,
                ..Outcome::default()
            },
            before,
            after,
        };
        assert_eq!(m.cpu_us_per_append(), (1500.0, 500.0, 1000.0, 500.0));
        assert_eq!(m.machine_busy(), 0.75);
        assert_eq!(m.entries_per_txn(), 40.0);
        assert!((m.txn_ms() - 10.0).abs() < 1e-9);
        assert!((m.etcd_fsync_ms() - 5.0).abs() < 1e-9);
        assert!(m.entries_per_sync().is_nan());
    }
}
