//! The flags of `truce-bench` and the plan they make (what `--smoke`
//! shrinks), kept apart from the binary so the plan is unit-tested.

use std::{path::PathBuf, time::Duration};

/// `truce-bench`: truced against the machine's limits and PostgreSQL, in one run.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "truce-bench", about)]
pub struct Options {
    /// Repetitions of every measure (medians with min and max).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Repetitions of the store phase (load, lookups, query, disk, RSS)
    /// [default: --runs].
    #[arg(long)]
    pub store_runs: Option<usize>,
    /// Length of each timed phase, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Concurrent clients of the many-clients phases (and of the load).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// gRPC connections the truced clients share (HTTP/2 multiplexes the
    /// rest); PostgreSQL gets one connection per client.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Reports in the store of the lookup and query phase.
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
    /// Reports of the bulk phase (WriteStream, `truce submit --file`,
    /// `truce import`, PostgreSQL's COPY), each into an empty store.
    #[arg(long, default_value_t = 100_000)]
    pub bulk: u64,
    /// truced's sled cache (--cache-mb), MiB.
    #[arg(long, default_value_t = 256)]
    pub cache_mb: u64,
    /// Write the table as Markdown to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A tiny run (CI): 0.5 s phases, 1,000 entries, one run, no install.
    #[arg(long)]
    pub smoke: bool,
    /// Leave PostgreSQL out.
    #[arg(long)]
    pub no_postgres: bool,
    /// Where the temporary data dirs, the fsync file and the PostgreSQL
    /// cluster go (one filesystem) [default: the system's temp dir].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The truced binary [default: `truced` next to this executable].
    #[arg(long)]
    pub truced: Option<PathBuf>,
}

/// What one invocation does, after `--smoke`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub runs: usize,
    pub store_runs: usize,
    pub phase: Duration,
    /// Excluded from each timed phase's figures.
    pub warmup: Duration,
    pub clients: usize,
    pub connections: usize,
    pub entries: u64,
    pub bulk: u64,
    pub cache_mb: u64,
    pub postgres: bool,
    /// apt-get install postgresql when missing (root only; never in smoke).
    pub install_postgres: bool,
    pub dir: PathBuf,
    pub truced: Option<PathBuf>,
    pub smoke: bool,
}

impl Options {
    pub fn plan(&self) -> Plan {
        let phase = Duration::from_secs_f64(self.seconds.max(0.1));
        let mut plan = Plan {
            runs: self.runs.max(1),
            store_runs: self
                .store_runs
                .unwrap_or(self.runs)
                .clamp(1, self.runs.max(1)),
            phase,
            warmup: (phase / 10).min(Duration::from_secs(1)),
            clients: self.clients.max(1),
            connections: self.connections.clamp(1, self.clients.max(1)),
            entries: self.entries.max(100),
            bulk: self.bulk.max(1),
            cache_mb: self.cache_mb,
            postgres: !self.no_postgres,
            install_postgres: true,
            dir: self.dir.clone().unwrap_or_else(std::env::temp_dir),
            truced: self.truced.clone(),
            smoke: self.smoke,
        };
        if self.smoke {
            plan.runs = 1;
            plan.store_runs = 1;
            plan.phase = Duration::from_millis(500);
            plan.warmup = Duration::ZERO;
            plan.entries = 1_000;
            plan.bulk = 300;
            plan.install_postgres = false;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_are_the_full_run() {
        let plan = Options::parse_from(["truce-bench"]).plan();
        assert_eq!((plan.runs, plan.store_runs), (3, 3));
        assert_eq!(plan.phase, Duration::from_secs(10));
        assert_eq!(plan.warmup, Duration::from_secs(1));
        assert_eq!((plan.clients, plan.connections), (64, 8));
        assert_eq!((plan.entries, plan.cache_mb), (1_000_000, 256));
        assert!(plan.postgres && plan.install_postgres);
    }

    #[test]
    fn smoke_is_tiny_and_installs_nothing() {
        let plan = Options::parse_from(["truce-bench", "--smoke", "--runs", "5"]).plan();
        assert_eq!((plan.runs, plan.store_runs, plan.entries), (1, 1, 1_000));
        assert!(plan.phase <= Duration::from_secs(1));
        assert!(!plan.install_postgres);
    }

    #[test]
    fn store_runs_never_exceed_runs() {
        let plan = Options::parse_from(["truce-bench", "--runs", "2", "--store-runs", "5"]).plan();
        assert_eq!(plan.store_runs, 2);
        let plan = Options::parse_from(["truce-bench", "--store-runs", "1"]).plan();
        assert_eq!((plan.runs, plan.store_runs), (3, 1));
    }
}
