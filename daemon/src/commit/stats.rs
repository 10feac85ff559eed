//! What the commit pipeline counts and measures: plain counters for tests
//! and the Prometheus series the metrics endpoint registers (the series
//! live here, with the code that observes them, so the pipeline does not
//! import the metrics module above it).

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
        }
    }
}
