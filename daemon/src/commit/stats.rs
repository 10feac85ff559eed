//! What the commit pipeline counts and measures: plain counters for tests
//! and the Prometheus series the metrics endpoint registers (the series
//! live here, with the code that observes them, so the pipeline does not
//! import the metrics module above it).

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::{
    counter::Counter,
    histogram::{Histogram, exponential_buckets},
};

/// What the commit pipeline measures: clones share the same series.
#[derive(Debug, Clone)]
pub struct CommitMetrics {
    /// Entries made durable.
    pub appends: Counter,
    /// From `CommitHandle::submit` to its acknowledgement, seconds.
    pub append_seconds: Histogram,
    /// Entries per sync (one sync covers every group written meanwhile).
    pub group_entries: Histogram,
    /// The sync step (fdatasync and fsyncs) of a group, seconds.
    pub fsync_seconds: Histogram,
    /// Reopens of the store after a write failed on a full disk.
    pub reopens: Counter,
    /// Cluster mode: etcd transactions that ordered entries, and the
    /// entries they ordered.
    pub order_txns: Counter,
    pub order_txn_entries: Counter,
    /// Cluster mode: one ordering transaction's round trip to etcd
    /// (answered, whether it ordered or failed the compare), seconds.
    pub order_seconds: Histogram,
}

impl Default for CommitMetrics {
    fn default() -> Self {
        Self {
            appends: Counter::default(),
            // 50 µs .. ~1.6 s
            append_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 1 .. 8192 (a sync covers up to a few groups of MAX_GROUP)
            group_entries: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            fsync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            reopens: Counter::default(),
            order_txns: Counter::default(),
            order_txn_entries: Counter::default(),
            order_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
        }
    }
}

/// Counters of the pipeline, for tests and the metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub groups: AtomicU64,
    pub entries: AtomicU64,
    /// The Prometheus series (registered by the daemon's metrics).
    pub metrics: CommitMetrics,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn counters_start_at_zero() {
        let stats = Stats::default();
        assert_eq!(stats.groups.load(Ordering::Relaxed), 0);
        assert_eq!(stats.entries.load(Ordering::Relaxed), 0);
        assert_eq!(stats.metrics.appends.get(), 0);
        assert_eq!(stats.metrics.reopens.get(), 0);
    }

    #[test]
    fn clones_share_the_series() {
        let metrics = CommitMetrics::default();
        let registered = metrics.clone();
        metrics.appends.inc_by(3);
        metrics.reopens.inc();
        assert_eq!(registered.appends.get(), 3);
        assert_eq!(registered.reopens.get(), 1);
    }
}
