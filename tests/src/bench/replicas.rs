//! Three replicas for the cluster benchmark (`truce-bench-cluster`): the
//! cluster tests' harness (three etcd members, three truced processes on
//! loopback) with each replica's metrics endpoint on a port of its own,
//! which replica is the writer (from the line each prints when it takes
//! the lease), and a wait for a restarted replica to catch up.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::truced::{free_port, scrape, series};
use crate::cluster::{Etcd, Replica, WRITER_LINE};

/// The processes of one benchmark cluster.
pub struct Replicas {
    /// Dropped after the replicas (field order), so they never lose etcd
    /// while they run.
    pub replicas: Vec<Replica>,
    pub etcd: Etcd,
    /// Each replica's metrics endpoint.
    pub metrics: Vec<SocketAddr>,
    /// How often each replica's current process has said it took the
    /// lease, as of the last look.
    seen: Vec<usize>,
}

impl Replicas {
    /// Starts etcd and replicas `r1`..`r3` in `dir`, each with `extra`
    /// flags and its own metrics endpoint.
    pub fn start(dir: &Path, extra: &[&str]) -> Result<Self> {
        let etcd = Etcd::try_start(&dir.join("etcd"))?;
        let mut replicas = Vec::new();
        let mut metrics = Vec::new();
        for i in 1..=3 {
            let name = format!("r{i}");
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
            let addr_arg = addr.to_string();
            let mut flags = vec!["--metrics-listen", addr_arg.as_str()];
            flags.extend_from_slice(extra);
            replicas.push(Replica::try_start_with(
                &name,
                &dir.join(&name),
                &etcd.urls(),
                &flags,
            )?);
            metrics.push(addr);
        }
        Ok(Self {
            replicas,
            etcd,
            metrics,
            seen: vec![0; 3],
        })
    }

    /// The URLs the replicas serve gRPC on.
    pub fn urls(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.url.clone()).collect()
    }

    /// etcd's members' metrics endpoints (their client URLs).
    pub fn etcd_metrics(&self) -> Result<Vec<SocketAddr>> {
        self.etcd
            .members
            .iter()
            .map(|m| {
                let addr = m.client_url.trim_start_matches("http://");
                addr.parse()
                    .with_context(|| format!("etcd's client URL {}", m.client_url))
            })
            .collect()
    }

    /// The first of `candidates` to say it took the lease since the last
    /// look, within `within`.
    pub async fn new_writer(&mut self, candidates: &[usize], within: Duration) -> Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            for &i in candidates {
                let told = self.seen[i] + 1;
                if self.replicas[i]
                    .stderr
                    .wait_for(WRITER_LINE, told, Duration::ZERO)
                {
                    self.seen[i] = told;
                    return Ok(i);
                }
            }
            if Instant::now() >= deadline {
                bail!("no replica of {candidates:?} took the writer lease within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// kill -9 replica `i`.
    pub fn kill(&mut self, i: usize) {
        self.replicas[i].kill();
    }

    /// Starts replica `i` again on its data dir (a new process: what it
    /// logs starts afresh).
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.replicas[i].try_restart()?;
        self.seen[i] = 0;
        Ok(())
    }

    /// Replica `i`'s durable sequence (its metrics).
    pub fn durable(&self, i: usize) -> Result<u64> {
        let text = scrape(self.metrics[i])?;
        let value = series(&text, "truce_durable_sequence");
        if value.is_nan() {
            bail!(
                "replica {} has no truce_durable_sequence",
                self.replicas[i].name
            );
        }
        Ok(value as u64)
    }

    /// Waits until replica `i` has `sequence` entries durable.
    pub async fn wait_durable(&self, i: usize, sequence: u64, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.durable(i).is_ok_and(|d| d >= sequence) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "replica {} did not reach entry {sequence} within {within:?}",
                    self.replicas[i].name
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
