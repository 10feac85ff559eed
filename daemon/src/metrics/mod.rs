//! Prometheus metrics: one registry per daemon, what the commit pipeline
//! records as it goes ([`CommitMetrics`]), the errors callers were
//! answered with (counted by [`ErrorsLayer`] from the `grpc-status` of
//! every response, so the access layer's refusals and tonic's own
//! answers count too), gauges read at scrape time (subscribers, durable
//! sequence, store size, the send budget), and the HTTP endpoint that serves them
//! (`http.rs`, on `metrics_listen`, apart from gRPC).

mod disk;
mod http;
mod layer;

use std::{path::PathBuf, sync::Arc};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::{
    store::{IntegrityStats, Store},
    subscribe::Feed,
};

pub use http::{MetricsEndpoint, MetricsError};
pub use layer::ErrorsLayer;

/// The content type of a scrape (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub use crate::commit::stats::CommitMetrics;

/// The `code` label of the error counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

/// Errors answered, by gRPC code.
pub type Errors = Family<CodeLabel, Counter>;

/// Where scrape-time gauges are read from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub store: Arc<Store>,
    pub feed: Arc<Feed>,
    pub data_dir: PathBuf,
    pub budget: Arc<crate::budget::SendBudget>,
}

/// One daemon's registry and the series read at scrape time.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    subscribers: Gauge,
    lagging: Gauge,
    durable: Gauge,
    store_bytes: Gauge,
    /// The store's integrity counts, read at scrape time.
    integrity: [(Gauge, ReadStat); 6],
    buffered: Gauge,
    stalled: Gauge,
    sources: Sources,
}

/// How one integrity series is read from the store's counts.
type ReadStat = fn(&IntegrityStats) -> u64;
/// The integrity series: name, help, and how each is read.
type IntegritySeries = (&'static str, &'static str, ReadStat);
const INTEGRITY: [IntegritySeries; 6] = [
    (
        "entry_hash_mismatches",
        "Entries refused because their bytes no longer hash to their stored Merkle leaf (the log was changed)",
        |s| s.hash_mismatches,
    ),
    (
        "log_damaged",
        "1 once damage to the entry log was found: writes and checkpoints are stopped until an operator acts",
        |s| u64::from(s.damaged),
    ),
    (
        "scrub_position",
        "The sequence the background scrub has re-hashed up to in its current or last pass",
        |s| s.scrub_position,
    ),
    (
        "scrub_passes",
        "Background scrub passes that found the whole log intact",
        |s| s.scrub_passes,
    ),
    (
        "scrub_log_damage_found",
        "Scrub passes that found an entry changed in the log",
        |s| s.scrub_damaged,
    ),
    (
        "scrub_derived_rebuilds",
        "Scrub passes that found derived rows disagreeing with the log (then rebuilt from it)",
        |s| s.scrub_derived,
    ),
];

/// The commit pipeline's series: appends, their latency, group sizes,
/// sync times and reopens.
fn register_commit(r: &mut Registry, commit: &CommitMetrics) {
    r.register(
        "appends",
        "Entries appended (made durable)",
        commit.appends.clone(),
    );
    r.register(
        "append_latency_seconds",
        "Time from a write's submission to the commit pipeline to its durable acknowledgement",
        commit.append_seconds.clone(),
    );
    r.register(
        "group_commit_entries",
        "Entries per group commit sync (one fdatasync of the entry log for every group written while the last one synced)",
        commit.group_entries.clone(),
    );
    r.register(
        "fsync_latency_seconds",
        "Time of the sync step of a group commit (fdatasync of the entry log's segments written)",
        commit.fsync_seconds.clone(),
    );
    r.register(
        "store_reopens",
        "Reopens of the store after an append, write or sync failed on a full disk",
        commit.reopens.clone(),
    );
    r.register(
        "order_transactions",
        "Cluster mode: etcd transactions that ordered entries (the writer's)",
        commit.order_txns.clone(),
    );
    r.register(
        "order_transaction_entries",
        "Cluster mode: entries ordered by those etcd transactions",
        commit.order_txn_entries.clone(),
    );
    r.register(
        "order_transaction_seconds",
        "Cluster mode: round trip of one ordering transaction to etcd",
        commit.order_seconds.clone(),
    );
}

impl Metrics {
    /// Registers the commit pipeline's series, the error counter and the
    /// gauges.
    pub fn new(commit: &CommitMetrics, errors: &Errors, sources: Sources) -> Self {
        let mut r = Registry::with_prefix("truce");
        register_commit(&mut r, commit);
        r.register(
            "grpc_errors",
            "gRPC calls answered with an error, by status code",
            errors.clone(),
        );
        let subscribers = Gauge::default();
        let lagging = Gauge::default();
        let durable = Gauge::default();
        let store_bytes = Gauge::default();
        r.register("subscribers", "Open Subscribe streams", subscribers.clone());
        r.register(
            "lagging_subscribers",
            "Subscribe streams more than the feed's ring behind the durable sequence (reading from the store)",
            lagging.clone(),
        );
        r.register(
            "durable_sequence",
            "The durable sequence: entries readers can see",
            durable.clone(),
        );
        r.register(
            "store_size_bytes",
            "Bytes of the files under the data dir",
            store_bytes.clone(),
        );
        let integrity = INTEGRITY.map(|(name, help, read)| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            (g, read)
        });
        let buffered = Gauge::default();
        let stalled = Gauge::default();
        r.register(
            "stream_buffer_bytes",
            "Bytes held for clients that have not read them, as charged to stream_buffer_mb",
            buffered.clone(),
        );
        r.register(
            "streams_ended_stalled",
            "Streams ended with RESOURCE_EXHAUSTED since start: their client did not read within stream_stall_timeout_ms",
            stalled.clone(),
        );
        Self {
            registry: r,
            subscribers,
            lagging,
            durable,
            store_bytes,
            integrity,
            buffered,
            stalled,
            sources,
        }
    }

    /// Reads the gauges and encodes every series (blocking: walks the data
    /// dir).
    pub fn scrape(&self) -> Result<String, std::fmt::Error> {
        let durable = self.sources.store.durable_sequence();
        let census = self.sources.feed.census(durable);
        self.subscribers.set(gauge(census.subscribers as u64));
        self.lagging.set(gauge(census.lagging as u64));
        self.durable.set(gauge(durable));
        let budget = &self.sources.budget;
        self.buffered.set(gauge(budget.used() as u64));
        self.stalled.set(gauge(*budget.ended().borrow()));
        self.store_bytes
            .set(gauge(disk::size(&self.sources.data_dir)));
        let stats = self.sources.store.integrity().stats();
        for (g, read) in &self.integrity {
            g.set(gauge(read(&stats)));
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The name of a gRPC code as in the spec (`INVALID_ARGUMENT`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
