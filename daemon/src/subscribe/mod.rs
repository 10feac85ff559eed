//! Subscriptions: each subscriber reads the log from the store at its own
//! pace, up to the durable sequence, and waits for the durable sequence to
//! move. There is no separate live path: catch-up and live are the same
//! loop, so the switch loses nothing, and a slow subscriber only fills its
//! own bounded buffer — it never blocks the writer or other subscribers and
//! never makes the daemon hold entries for it.

pub mod filter;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use prost::Message;
use tokio::{
    sync::{OwnedSemaphorePermit, mpsc, watch},
    time::Instant,
};
use tonic::Status;
use truce_proto::v1::{
    CaughtUp, Entry, Progress, RawEntry, SubscribeRequest, SubscribeResponse,
    subscribe_request::Start, subscribe_response::Event,
};

use crate::{commit::order::from_timestamp, error::Error, store::Store, validate};
use filter::StreamFilter;

/// Messages buffered per subscriber before it must read.
pub const BUFFER: usize = 64;
/// Entries read from the store per step.
const PAGE: usize = 256;
const PAGE_BYTES: usize = 1024 * 1024;
/// Default and minimum progress intervals.
pub const DEFAULT_PROGRESS: Duration = Duration::from_millis(1000);
const MIN_PROGRESS: Duration = Duration::from_millis(50);

/// Counters of the subscriptions of one daemon.
#[derive(Debug, Default)]
pub struct Stats {
    /// Open subscriptions.
    pub active: std::sync::atomic::AtomicUsize,
    /// Entries read from the store by all subscriptions.
    pub entries_read: std::sync::atomic::AtomicU64,
}

/// Where a validated subscription starts.
#[derive(Debug, Clone)]
pub enum StartAt {
    /// The first sequence to consider.
    Sequence(u64),
    /// The first entry recorded at or after this time.
    Time(pbjson_types::Timestamp),
    Now,
}

/// A validated subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub start: StartAt,
    pub filter: StreamFilter,
    pub progress_every: Duration,
}

/// Validates a Subscribe request.
pub fn subscription(req: SubscribeRequest) -> Result<Subscription, Error> {
    let start = match req.start {
        None | Some(Start::FromNow(_)) => StartAt::Now,
        Some(Start::FromStart(_)) => StartAt::Sequence(1),
        Some(Start::AfterSequence(n)) => StartAt::Sequence(n.saturating_add(1)),
        Some(Start::FromSequence(n)) => StartAt::Sequence(n.max(1)),
        Some(Start::Since(ts)) => {
            validate::check_timestamp("since", &ts)?;
            StartAt::Time(ts)
        }
    };
    let progress_every = match req.progress_interval_ms {
        0 => DEFAULT_PROGRESS,
        ms => Duration::from_millis(u64::from(ms)).max(MIN_PROGRESS),
    };
    Ok(Subscription {
        start,
        filter: filter::stream_filter(req.filter)?,
        progress_every,
    })
}

/// The first sequence recorded at or after `t` (recorded_at never
/// decreases along the log, so a binary search finds it).
fn first_at_or_after(store: &Store, t: &pbjson_types::Timestamp) -> Result<u64, Error> {
    let target = from_timestamp(t);
    let (mut lo, mut hi) = (1u64, store.durable_sequence() + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let bytes = store
            .read_entry(mid)?
            .ok_or_else(|| Error::Internal(format!("entry {mid} is missing")))?;
        let entry = Entry::decode(bytes.as_slice())
            .map_err(|e| Error::Internal(format!("entry {mid}: {e}")))?;
        let at = entry.recorded_at.as_ref().map(from_timestamp);
        if at.is_some_and(|at| at >= target) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

fn event(e: Event) -> Result<SubscribeResponse, Status> {
    Ok(SubscribeResponse { event: Some(e) })
}

/// Runs one subscription until the client goes away or `shutdown` turns
/// true (the stream then ends with UNAVAILABLE).
pub async fn run(
    store: Arc<Store>,
    sub: Subscription,
    tx: mpsc::Sender<Result<SubscribeResponse, Status>>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
    _permit: OwnedSemaphorePermit,
) {
    stats.active.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = stream(&store, &sub, &tx, &mut shutdown, &stats).await {
        let _ = tx.send(Err(Status::from(e))).await;
    }
    stats.active.fetch_sub(1, Ordering::Relaxed);
}

async fn stream(
    store: &Store,
    sub: &Subscription,
    tx: &mpsc::Sender<Result<SubscribeResponse, Status>>,
    shutdown: &mut watch::Receiver<bool>,
    stats: &Stats,
) -> Result<(), Error> {
    let mut durable_rx = store.watch_durable();
    let mut next = match &sub.start {
        StartAt::Sequence(n) => *n,
        StartAt::Now => store.durable_sequence() + 1,
        StartAt::Time(t) => first_at_or_after(store, t)?,
    };
    let mut caught_up = false;
    // The last position the client was told of (entry, caught_up, progress).
    let mut reported = next - 1;
    let mut last_sent = Instant::now();
    loop {
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            let _ = tx
                .send(Err(Status::unavailable(
                    "truced is shutting down; resubscribe with after_sequence = the last sequence received",
                )))
                .await;
            return Ok(());
        }
        durable_rx.borrow_and_update();
        let durable = store.durable_sequence();
        if next <= durable {
            let page = store.read_entries(next, PAGE, PAGE_BYTES)?;
            stats
                .entries_read
                .fetch_add(page.len() as u64, Ordering::Relaxed);
            for (seq, bytes) in page {
                if seq > durable {
                    break;
                }
                let entry = Entry::decode(bytes.as_slice())
                    .map_err(|e| Error::Internal(format!("entry {seq}: {e}")))?;
                if sub.filter.matches(store, &entry)? {
                    let e = Event::Entry(RawEntry {
                        sequence: seq,
                        entry: bytes,
                    });
                    if tx.send(event(e)).await.is_err() {
                        return Ok(());
                    }
                    reported = seq;
                    last_sent = Instant::now();
                }
                next = seq + 1;
            }
            // A long filtered catch-up still reports where it is.
            if sub.filter.is_filtering()
                && next - 1 > reported
                && last_sent.elapsed() >= sub.progress_every
            {
                if tx
                    .send(event(Event::Progress(Progress { sequence: next - 1 })))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                reported = next - 1;
                last_sent = Instant::now();
            }
            tokio::task::yield_now().await;
            continue;
        }
        if !caught_up {
            caught_up = true;
            let position = next - 1;
            if tx
                .send(event(Event::CaughtUp(CaughtUp { sequence: position })))
                .await
                .is_err()
            {
                return Ok(());
            }
            reported = position;
            last_sent = Instant::now();
        }
        tokio::select! {
            changed = durable_rx.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            _ = shutdown.changed() => {}
            () = tx.closed() => return Ok(()),
            () = tokio::time::sleep_until(last_sent + sub.progress_every) => {
                if next - 1 > reported {
                    if tx.send(event(Event::Progress(Progress { sequence: next - 1 }))).await.is_err() {
                        return Ok(());
                    }
                    reported = next - 1;
                }
                last_sent = Instant::now();
            }
        }
    }
}
