//! Subscriptions: each subscriber reads the log from the store at its own
//! pace, up to the durable sequence, and waits for the durable sequence to
//! move. There is no separate live path: catch-up and live are the same
//! loop, so the switch loses nothing, and a slow subscriber only fills its
//! own bounded buffer — it never blocks the writer or other subscribers and
//! never makes the daemon hold entries for it.

pub mod filter;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, OwnedSemaphorePermit, broadcast, watch},
    time::Instant,
};
use tonic::Status;
use truce_proto::v1::{
    CaughtUp, Entry, Progress, RawEntry, SubscribeRequest, SubscribeResponse,
    subscribe_request::Start, subscribe_response::Event,
};

use crate::commit::MAX_ENTRY_BYTES;
use crate::{
    budget,
    commit::order::from_timestamp,
    error::Error,
    model::decode_entry,
    store::{Store, StoreError},
    validate,
};
use filter::StreamFilter;

/// Messages queued per subscriber before it must read (and at most its
/// share of the send budget: `budget.rs`).
pub const BUFFER: usize = 16;
/// Entries read from the store per step, and their bytes at most (charged
/// to the send budget before the read: a page in hand while the stream
/// waits for its client is counted).
const PAGE: usize = 64;
const PAGE_BYTES: usize = 64 * 1024;
/// Default and minimum progress intervals.
pub const DEFAULT_PROGRESS: Duration = Duration::from_millis(1000);
const MIN_PROGRESS: Duration = Duration::from_millis(50);

/// Counters of the subscriptions of one daemon.
#[derive(Debug, Default)]
pub struct Stats {
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
        let entry = crate::views::durable_entry(store, mid)?;
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

/// One durable entry, read and decoded once for every live subscriber.
#[derive(Debug)]
pub struct Fed {
    pub sequence: u64,
    pub bytes: Vec<u8>,
    pub entry: Entry,
}

/// Live entries fanned out to subscribers: one task reads each newly
/// durable entry once and broadcasts it through a bounded ring. A
/// subscriber that falls more than the ring behind gets "lagged" and reads
/// the missed entries from the store, then rejoins the ring.
#[derive(Debug)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Fed>>,
    waiters: std::sync::Mutex<Vec<std::sync::Weak<Waiter>>>,
}

/// A live subscriber as the feed sees it: woken only for entries of kinds
/// it can match; for other entries the feed moves its position on without
/// waking it (when it has considered everything before), so idle
/// subscribers cost no wake-ups.
#[derive(Debug)]
pub struct Waiter {
    kinds: u32,
    /// The last sequence considered (by the subscriber or, for entries it
    /// cannot match, by the feed).
    position: AtomicU64,
    notify: Notify,
}

/// Entries the feed's ring holds.
pub const FEED_RING: usize = 256;

/// Subscriptions as [`Feed::census`] counts them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub subscribers: usize,
    /// More than [`FEED_RING`] entries behind: reading from the store.
    pub lagging: usize,
}

impl Feed {
    /// Starts the feed task; it ends when `shutdown` turns true.
    pub fn start(
        store: Arc<Store>,
        mut shutdown: watch::Receiver<bool>,
    ) -> (Arc<Feed>, tokio::task::JoinHandle<()>) {
        let (tx, _) = broadcast::channel(FEED_RING);
        let feed = Arc::new(Feed {
            tx: tx.clone(),
            waiters: std::sync::Mutex::new(Vec::new()),
        });
        let publisher = Arc::clone(&feed);
        let task = tokio::spawn(async move {
            let mut durable_rx = store.watch_durable();
            let mut next = store.durable_sequence() + 1;
            loop {
                let durable = *durable_rx.borrow_and_update();
                // Nobody is live: skip the read and decode of every new
                // entry. A subscriber takes its receiver before it reads
                // the durable sequence, so it reads what is skipped here
                // from the store itself.
                if tx.receiver_count() == 0 {
                    next = next.max(durable + 1);
                }
                while next <= durable {
                    let page = match store.read_entries(next, PAGE, PAGE_BYTES) {
                        Ok(p) if !p.is_empty() => p,
                        Ok(_) => break,
                        // Being reopened after a failed write: the reopen
                        // wakes us through the durable watch.
                        Err(StoreError::Reopening) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "subscription feed cannot read the log");
                            return;
                        }
                    };
                    for (sequence, bytes) in page {
                        match decode_entry(sequence, &bytes) {
                            Ok(entry) => {
                                let kind = crate::model::project::entry_kind(&entry) as u32;
                                // No receiver is fine: nobody is live.
                                let _ = tx.send(Arc::new(Fed {
                                    sequence,
                                    bytes,
                                    entry,
                                }));
                                publisher.wake(sequence, kind);
                            }
                            Err(e) => {
                                tracing::error!(sequence, error = %e, "undecodable entry");
                                return;
                            }
                        }
                        next = sequence + 1;
                    }
                }
                tokio::select! {
                    changed = durable_rx.changed() => if changed.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
        });
        (feed, task)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Fed>> {
        self.tx.subscribe()
    }

    /// Registers a live subscriber starting after `position`.
    pub fn register(&self, kinds: u32, position: u64) -> Arc<Waiter> {
        let w = Arc::new(Waiter {
            kinds,
            position: AtomicU64::new(position),
            notify: Notify::new(),
        });
        if let Ok(mut list) = self.waiters.lock() {
            list.push(Arc::downgrade(&w));
        }
        w
    }

    /// Open subscriptions, and those more than the ring behind `durable`
    /// (for the metrics).
    pub fn census(&self, durable: u64) -> Census {
        let Ok(list) = self.waiters.lock() else {
            return Census::default();
        };
        let mut census = Census::default();
        for w in list.iter().filter_map(std::sync::Weak::upgrade) {
            census.subscribers += 1;
            let position = w.position.load(Ordering::Acquire);
            if durable.saturating_sub(position) > FEED_RING as u64 {
                census.lagging += 1;
            }
        }
        census
    }

    /// After entry `sequence` of `kind` is in the ring.
    fn wake(&self, sequence: u64, kind: u32) {
        let bit = 1u32.checked_shl(kind).unwrap_or(0);
        let Ok(mut list) = self.waiters.lock() else {
            return;
        };
        list.retain(|w| w.strong_count() > 0);
        for w in list.iter().filter_map(std::sync::Weak::upgrade) {
            if w.kinds & bit != 0 {
                w.notify.notify_one();
            } else {
                // Considered for it, if it had considered all before.
                let _ = w.position.compare_exchange(
                    sequence - 1,
                    sequence,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
    }
}

/// Runs one subscription until the client goes away or `shutdown` turns
/// true (the stream then ends with UNAVAILABLE).
pub async fn run(
    store: Arc<Store>,
    feed: Arc<Feed>,
    sub: Subscription,
    tx: budget::Sender<SubscribeResponse>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
    _permit: OwnedSemaphorePermit,
) {
    let live = feed.subscribe();
    let mut streamer = Streamer {
        store: &store,
        sub: &sub,
        tx: &tx,
        stats: &stats,
        next: 0,
        reported: 0,
        last_sent: Instant::now(),
        waiter: None,
    };
    if let Err(e) = streamer.stream(&feed, live, &mut shutdown).await {
        let _ = tx.send(Err(Status::from(e))).await;
    }
}

struct Streamer<'a> {
    store: &'a Store,
    sub: &'a Subscription,
    tx: &'a budget::Sender<SubscribeResponse>,
    stats: &'a Stats,
    /// The next sequence to consider.
    next: u64,
    /// The last position the client was told of.
    reported: u64,
    last_sent: Instant,
    waiter: Option<Arc<Waiter>>,
}

enum Step {
    Continue,
    Stop,
}

/// An entry's bytes as the loop has them: shared with the feed (copied
/// into the message), or read for this stream with their charge.
enum Bytes<'a> {
    Shared(&'a [u8]),
    Owned(Vec<u8>, Option<budget::Charge>),
}

impl Streamer<'_> {
    async fn send(&mut self, e: Event, position: u64) -> bool {
        self.send_prepaid(e, position, None).await
    }

    /// [`Self::send`] with bytes of the page in hand charged already.
    async fn send_prepaid(
        &mut self,
        e: Event,
        position: u64,
        prepaid: Option<budget::Charge>,
    ) -> bool {
        if self.tx.send_prepaid(event(e), prepaid).await.is_err() {
            return false;
        }
        self.reported = position;
        self.last_sent = Instant::now();
        true
    }

    /// Considers one entry (the next one).
    async fn consider(
        &mut self,
        sequence: u64,
        bytes: Bytes<'_>,
        entry: &Entry,
    ) -> Result<Step, Error> {
        if self.sub.filter.matches(self.store, entry)? {
            let (bytes, prepaid) = match bytes {
                Bytes::Shared(b) => (b.to_vec(), None),
                Bytes::Owned(b, charge) => (b, charge),
            };
            let e = Event::Entry(RawEntry {
                sequence,
                entry: bytes,
            });
            if !self.send_prepaid(e, sequence, prepaid).await {
                return Ok(Step::Stop);
            }
        }
        self.next = sequence + 1;
        if let Some(w) = &self.waiter {
            w.position.fetch_max(sequence, Ordering::AcqRel);
        }
        Ok(Step::Continue)
    }

    /// Reads from the store up to `until` (inclusive, at most a page).
    async fn read_store(&mut self, until: u64) -> Result<Step, Error> {
        // The page is charged before it is read: a stream paused on its
        // client holds no bytes the budget does not count.
        let Ok(mut charge) = self.tx.charge(PAGE_BYTES.max(MAX_ENTRY_BYTES)).await else {
            return Ok(Step::Stop);
        };
        let page = match self.store.read_entries(self.next, PAGE, PAGE_BYTES) {
            Ok(page) => page,
            // The store is being reopened after a failed write (a moment).
            Err(StoreError::Reopening) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                return Ok(Step::Continue);
            }
            Err(e) => return Err(e.into()),
        };
        self.stats
            .entries_read
            .fetch_add(page.len() as u64, Ordering::Relaxed);
        charge.shrink_to(page.iter().map(|(_, b)| b.len()).sum());
        for (seq, bytes) in page {
            if seq > until {
                break;
            }
            let entry = decode_entry(seq, &bytes)?;
            // This entry's bytes leave the page's charge with it.
            let mine = charge.split(bytes.len());
            if let Step::Stop = self
                .consider(seq, Bytes::Owned(bytes, mine), &entry)
                .await?
            {
                return Ok(Step::Stop);
            }
        }
        // A long filtered catch-up still reports where it is.
        if self.sub.filter.is_filtering()
            && self.next - 1 > self.reported
            && self.last_sent.elapsed() >= self.sub.progress_every
            && !self
                .send(
                    Event::Progress(Progress {
                        sequence: self.next - 1,
                    }),
                    self.next - 1,
                )
                .await
        {
            return Ok(Step::Stop);
        }
        tokio::task::yield_now().await;
        Ok(Step::Continue)
    }

    /// Handles one item from the feed: skip what was already considered,
    /// fill a gap from the store, then consider the item.
    async fn fed(&mut self, item: &Fed) -> Result<Step, Error> {
        if item.sequence < self.next {
            return Ok(Step::Continue);
        }
        while self.next < item.sequence {
            if let Step::Stop = self.read_store(item.sequence - 1).await? {
                return Ok(Step::Stop);
            }
        }
        self.consider(item.sequence, Bytes::Shared(&item.bytes), &item.entry)
            .await
    }

    /// The first sequence the stream considers, from its start.
    fn first_sequence(&self) -> Result<u64, Error> {
        Ok(match &self.sub.start {
            StartAt::Sequence(n) => *n,
            StartAt::Now => self.store.durable_sequence() + 1,
            StartAt::Time(t) => first_at_or_after(self.store, t)?,
        })
    }

    /// Ends the stream with UNAVAILABLE, saying how to resume.
    async fn end_for_shutdown(&self) {
        let _ = self
            .tx
            .send(Err(Status::unavailable(
                "truced is shutting down; resubscribe with after_sequence = the last sequence received",
            )))
            .await;
    }

    async fn stream(
        &mut self,
        feed: &Feed,
        mut live: broadcast::Receiver<Arc<Fed>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
        self.next = self.first_sequence()?;
        self.reported = self.next - 1;
        let waiter = feed.register(self.sub.filter.kind_mask(), self.next - 1);
        self.waiter = Some(Arc::clone(&waiter));
        let mut caught_up = false;
        // One timer for progress markers, moved rather than re-created on
        // every wake (a thousand idle subscribers wake for every entry).
        let progress = tokio::time::sleep_until(self.last_sent + self.sub.progress_every);
        tokio::pin!(progress);
        let mut armed_for = self.last_sent;
        loop {
            if *shutdown.borrow() || shutdown.has_changed().is_err() {
                self.end_for_shutdown().await;
                return Ok(());
            }
            // Entries the feed considered for us (kinds we cannot match).
            let skipped = waiter.position.load(Ordering::Acquire);
            if skipped >= self.next {
                self.next = skipped + 1;
            }
            // What the feed already has.
            match live.try_recv() {
                Ok(item) => {
                    if let Step::Stop = self.fed(&item).await? {
                        return Ok(());
                    }
                    continue;
                }
                // The gap shows on the next item and is read from the store.
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(broadcast::error::TryRecvError::Closed) => return Ok(()),
                Err(broadcast::error::TryRecvError::Empty) => {}
            }
            // Behind the durable sequence: the backlog, from the store.
            let durable = self.store.durable_sequence();
            if self.next <= durable {
                if let Step::Stop = self.read_store(durable).await? {
                    return Ok(());
                }
                continue;
            }
            if !caught_up {
                caught_up = true;
                let position = self.next - 1;
                if !self
                    .send(Event::CaughtUp(CaughtUp { sequence: position }), position)
                    .await
                {
                    return Ok(());
                }
            }
            if armed_for != self.last_sent {
                armed_for = self.last_sent;
                progress
                    .as_mut()
                    .reset(self.last_sent + self.sub.progress_every);
            }
            tokio::select! {
                () = waiter.notify.notified() => {}
                _ = shutdown.changed() => {}
                () = self.tx.closed() => return Ok(()),
                () = &mut progress => {
                    let position = self.next - 1;
                    if position > self.reported {
                        if !self.send(Event::Progress(Progress { sequence: position }), position).await {
                            return Ok(());
                        }
                    } else {
                        self.last_sent = Instant::now();
                    }
                }
            }
        }
    }
}
