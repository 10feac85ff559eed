//! The commit pipeline's second thread: it makes the groups the writer
//! has written durable, in order, while the writer prepares the next
//! ones. For every run of groups waiting for it, it syncs the entry log
//! once, puts their derived rows in the store, moves the durable
//! watermark, and only then sends their replies. So nothing of a group is
//! readable, or acknowledged, before its frames are on stable storage,
//! and the writer's two cores' worth of work (checks, encoding, the
//! Merkle tree) overlaps the device's round trip instead of waiting for
//! it.
//!
//! When nothing is in flight and no append waits behind a group, the
//! writer makes it durable itself, the same way ([`Syncer::hand_over`]):
//! handing it to the thread would only add a wake-up of that thread to a
//! lone append's latency, with nothing to overlap.
//!
//! A failed sync (or a failed write of derived rows) fails its groups and
//! every group after it until the writer has taken note
//! ([`Syncer::drain`]): a later group may depend on an earlier one (a
//! reference, a duplicate receipt, the tree), so none may outlive it.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc::{Receiver, SyncSender, sync_channel},
    },
    thread,
    time::Instant,
};

use tokio::sync::oneshot;
use truce_proto::v1::Receipt;

use super::{Failure, Queued, Stats};
use crate::{
    error::Error,
    store::{Batch, StoreWriter},
    sync::{Group, SyncStep},
};

/// Groups queued for the sync thread, at most: the writer waits when this
/// many are queued (the thread may hold as many again in the run it is
/// syncing).
const IN_FLIGHT: usize = 4;

/// A reply sent once the group is durable (a receipt, or an error decided
/// while earlier groups were in flight), or failed with it.
pub(super) type Reply = (
    oneshot::Sender<Result<Receipt, Error>>,
    Result<Receipt, Error>,
);

/// A group the writer has written to the log: its rows, the offsets of
/// its frames, and its replies (its new entries' receipts, duplicate
/// receipts of entries still in flight, and refusals decided while
/// groups were in flight).
pub(super) struct Written {
    pub batch: Batch,
    pub offsets: Vec<(u64, u64)>,
    pub replies: Vec<Reply>,
}

enum ToSyncer {
    Group(Box<Written>),
    /// Answered once everything sent before it is done.
    Drain(SyncSender<()>),
}

/// The writer's end of the sync thread.
pub(super) struct Syncer {
    tx: Option<SyncSender<ToSyncer>>,
    join: Option<thread::JoinHandle<()>>,
    durability: Arc<Durability>,
}

impl Syncer {
    /// Starts the thread. `wake` tells the writer of a failure.
    pub(super) fn start(
        store: Arc<StoreWriter>,
        seam: Arc<dyn SyncStep>,
        stats: Arc<Stats>,
        wake: tokio::sync::mpsc::WeakSender<Queued>,
    ) -> Result<Self, Error> {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let durability = Arc::new(Durability {
            store,
            seam,
            stats,
            failure: Mutex::new(None),
            wake,
            pending: AtomicUsize::new(0),
        });
        let thread = Arc::clone(&durability);
        let join = thread::Builder::new()
            .name("truce-sync".into())
            .spawn(move || run(&thread, rx))
            .map_err(|e| Error::Internal(format!("cannot start the sync thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            join: Some(join),
            durability,
        })
    }

    /// Makes a written group durable: here, on the writer's thread, when
    /// `alone` (no append waits behind it) and the thread has nothing in
    /// flight; else through the thread. Gives it back if the thread is
    /// gone.
    pub(super) fn hand_over(&self, written: Written, alone: bool) -> Result<(), Box<Written>> {
        let d = &self.durability;
        // The thread lowers `pending` only once its groups are
        // acknowledged or failed (this Acquire pairs with that decrement),
        // so at 0 nothing of it can come after this group.
        if alone && d.pending.load(Ordering::Acquire) == 0 && !self.gone() {
            d.make_durable_or_stop(vec![written]);
            return Ok(());
        }
        let Some(tx) = &self.tx else {
            return Err(Box::new(written));
        };
        d.pending.fetch_add(1, Ordering::AcqRel);
        match tx.send(ToSyncer::Group(Box::new(written))) {
            Ok(()) => Ok(()),
            Err(e) => {
                d.pending.fetch_sub(1, Ordering::AcqRel);
                match e.0 {
                    ToSyncer::Group(w) => Err(w),
                    // Not sent here.
                    ToSyncer::Drain(_) => Ok(()),
                }
            }
        }
    }

    /// Whether a sync failed since the writer last took note (or the
    /// thread is gone).
    pub(super) fn failed(&self) -> bool {
        self.gone() || self.durability.failure.lock().map_or(true, |f| f.is_some())
    }

    fn gone(&self) -> bool {
        self.join
            .as_ref()
            .is_none_or(thread::JoinHandle::is_finished)
    }

    /// Waits until every group sent so far is done (durable and
    /// acknowledged, or failed), then takes the failure, if any.
    pub(super) fn drain(&self) -> Option<Failure> {
        if let Some(tx) = &self.tx {
            let (done, wait) = sync_channel(1);
            if tx.send(ToSyncer::Drain(done)).is_ok() {
                let _ = wait.recv();
            }
        }
        let failure = match self.durability.failure.lock() {
            Ok(mut f) => f.take(),
            Err(_) => Some(("the sync thread's state is poisoned".into(), false)),
        };
        failure.or_else(|| self.gone().then(|| (gone(), false)))
    }

    /// Finishes every group sent, then stops the thread.
    pub(super) fn close(&mut self) {
        self.tx = None;
        if let Some(join) = self.join.take()
            && join.join().is_err()
        {
            tracing::error!("the sync thread panicked");
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.close();
    }
}

fn gone() -> String {
    "the sync thread has stopped".into()
}

/// Fails every reply, telling why.
fn fail(replies: Vec<Reply>, why: &str) {
    for (reply, _) in replies {
        let _ = reply.send(Err(Error::WritesStopped(why.to_owned())));
    }
}

/// What makes groups durable, shared by the sync thread and the writer.
struct Durability {
    store: Arc<StoreWriter>,
    seam: Arc<dyn SyncStep>,
    stats: Arc<Stats>,
    failure: Mutex<Option<Failure>>,
    wake: tokio::sync::mpsc::WeakSender<Queued>,
    /// Groups sent to the thread and not yet acknowledged (or failed).
    pending: AtomicUsize,
}

/// The sync thread: every run of groups waiting, made durable at once.
fn run(d: &Durability, rx: Receiver<ToSyncer>) {
    while let Ok(first) = rx.recv() {
        let mut groups = Vec::new();
        let mut drains = Vec::new();
        let mut take = |m: ToSyncer| match m {
            ToSyncer::Group(w) => groups.push(*w),
            ToSyncer::Drain(d) => drains.push(d),
        };
        take(first);
        while let Ok(more) = rx.try_recv() {
            take(more);
        }
        let n = groups.len();
        if n > 0 {
            d.make_durable_or_stop(groups);
            d.pending.fetch_sub(n, Ordering::AcqRel);
        }
        for done in drains {
            let _ = done.send(());
        }
    }
    tracing::debug!("sync thread closed");
}

impl Durability {
    /// [`Durability::make_durable`], with a panic in it (a bug) turned
    /// into a failure that stops writes, on either thread: the writer
    /// lives on to refuse appends and the thread to fail what follows.
    /// The groups' replies are dropped by the panic (their writers hear
    /// that the daemon could not answer).
    fn make_durable_or_stop(&self, groups: Vec<Written>) {
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.make_durable(groups);
        }));
        if done.is_err() {
            tracing::error!("the sync step panicked: nothing more is acknowledged until a restart");
            self.record(("the sync step panicked".into(), false));
        }
    }

    /// Syncs once for `groups`, then applies, marks durable and replies.
    fn make_durable(&self, groups: Vec<Written>) {
        if let Some(why) = self.failed_already() {
            for g in groups {
                fail(g.replies, &why);
            }
            return;
        }
        let first = groups.iter().find_map(|g| {
            g.batch
                .last_sequence()
                .map(|l| l + 1 - g.batch.len() as u64)
        });
        let last = groups.iter().rev().find_map(|g| g.batch.last_sequence());
        if let (Some(first_sequence), Some(last_sequence)) = (first, last) {
            let span = Group {
                first_sequence,
                last_sequence,
                entries: groups.iter().map(|g| g.batch.len()).sum(),
            };
            let syncing = Instant::now();
            if let Err(e) = self.seam.sync(&self.store, &span) {
                let failure = (format!("sync failed: {e}"), e.is_disk_full());
                self.stop(failure, groups);
                return;
            }
            self.stats
                .metrics
                .fsync_seconds
                .observe(syncing.elapsed().as_secs_f64());
        }
        let mut durable = None;
        let mut done = Vec::new();
        let mut groups = groups.into_iter();
        for g in groups.by_ref() {
            if g.batch.is_empty() {
                done.push(g);
                continue;
            }
            if let Err(e) = self.store.apply_derived(&g.batch, &g.offsets) {
                let failure = (format!("write failed: {e}"), e.is_disk_full());
                let rest = std::iter::once(g).chain(groups).collect();
                self.finish(durable, done);
                self.stop(failure, rest);
                return;
            }
            durable = g.batch.last_sequence().or(durable);
            done.push(g);
        }
        self.finish(durable, done);
    }

    /// Moves the watermark over applied groups and acknowledges them.
    fn finish(&self, durable: Option<u64>, done: Vec<Written>) {
        if let Some(last) = durable {
            self.store.set_durable(last);
        }
        let entries: usize = done.iter().map(|g| g.batch.len()).sum();
        if entries > 0 {
            let metrics = &self.stats.metrics;
            metrics.appends.inc_by(entries as u64);
            metrics.group_entries.observe(entries as f64);
            self.stats.groups.fetch_add(1, Ordering::Relaxed);
            self.stats
                .entries
                .fetch_add(entries as u64, Ordering::Relaxed);
        }
        for g in done {
            for (reply, result) in g.replies {
                let _ = reply.send(result);
            }
        }
    }

    /// Records the failure (before any reply says so, so that the
    /// writer refuses whatever a told client sends next), wakes the
    /// writer, and fails `groups`.
    fn stop(&self, failure: Failure, groups: Vec<Written>) {
        tracing::error!(error = %failure.0, disk_full = failure.1, "sync step failed: nothing more is acknowledged until the writer reopens the store");
        let why = super::stop::told(&failure.0, failure.1);
        self.record(failure);
        for g in groups {
            fail(g.replies, &why);
        }
    }

    /// Keeps the first failure for the writer and wakes it.
    fn record(&self, failure: Failure) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(failure);
        }
        // Not waiting: the writer may itself wait for room in our queue.
        if let Some(wake) = self.wake.upgrade() {
            let _ = wake.try_send(Queued::Wake);
        }
    }

    fn failed_already(&self) -> Option<String> {
        match self.failure.lock() {
            Ok(f) => f.as_ref().map(|(why, full)| super::stop::told(why, *full)),
            Err(_) => Some("the sync thread's state is poisoned".into()),
        }
    }
}
