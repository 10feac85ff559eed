//! The commit pipeline: one writer thread owns every write to the store.
//! It takes a group of queued appends, runs the checks that depend on
//! stored state (idempotency, referenced ids, id uniqueness), assigns
//! sequence and time, and writes the group's frames to the entry log.
//! The sync step ([`syncer`]: the sync thread, or the writer itself for a
//! lone group with nothing in flight) then syncs the log once for every
//! run of written groups, puts their derived rows in the store's memory,
//! moves the durable watermark, and only then acknowledges, while the
//! writer goes on with the next group. Until then the writer sees the
//! groups in flight through overlays of what they change ([`overlay`]).
//! A failed append, write or sync
//! stops all later writes until the store is reopened; reads continue. When
//! the failure was a full disk, the writer reopens the store itself at the
//! first append after free space is back over the margin; after any other
//! failure (an I/O error of the disk) writes wait for a restart.
//!
//! The parts: the queue and its grouping ([`queue`]), one group through
//! the writer ([`group`]), the checks and encoding of a write
//! ([`checks`]), the overlays of the groups in flight ([`overlay`]),
//! stopping and reopening ([`stop`]), the sync step ([`syncer`]), the
//! order seam ([`order`]), entries ordered elsewhere applied through the
//! same steps ([`apply`], cluster mode) and the statistics ([`stats`]).

mod apply;
mod checks;
mod group;
pub mod order;
mod overlay;
mod queue;
pub mod stats;
mod stop;
mod syncer;

use std::{collections::VecDeque, sync::Arc, thread, time::SystemTime};

use tokio::sync::mpsc;

use crate::{
    error::Error, model::decode_entry, space::SpaceGuard, store::StoreWriter, sync::SyncStep,
};
use order::Sequencer;
use overlay::Overlay;
pub use queue::CommitHandle;
use queue::{After, Ordered, Pending, Queued};
pub use stats::Stats;
use stop::{Failure, Stopped};
use syncer::Syncer;

/// The largest encoded entry accepted.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// The most appends one group takes.
pub const MAX_GROUP: usize = 1024;
/// Queued appends waiting for the writer, at most.
pub const QUEUE_CAPACITY: usize = 4096;

/// Starts the writer thread with its order seam (the local counter, or
/// etcd's order in cluster mode). It ends when every [`CommitHandle`] is
/// dropped, after finishing the groups already queued.
pub fn start_ordered(
    store: StoreWriter,
    seam: Arc<dyn SyncStep>,
    maintain_tree: bool,
    space: SpaceGuard,
    mut sequencer: Box<dyn Sequencer>,
) -> Result<(CommitHandle, thread::JoinHandle<()>), Error> {
    // Shared by the writer thread and the sync thread: both are the
    // pipeline, and nothing outside it ever holds the writer.
    let store = Arc::new(store);
    resume(&store, sequencer.as_mut())?;
    if let Err(e) = space.keep_reserve(store.dir()) {
        tracing::warn!(error = %e, "cannot write the space reserve in the data dir");
    }
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let stats = Arc::new(Stats::default());
    sequencer.measure(&stats.metrics);
    let syncer = Syncer::start(
        Arc::clone(&store),
        Arc::clone(&seam),
        Arc::clone(&stats),
        tx.downgrade(),
    )?;
    let mut writer = Writer {
        store,
        seam,
        syncer,
        inflight: VecDeque::new(),
        sequencer,
        stopped: None,
        stats: Arc::clone(&stats),
        maintain_tree,
        space,
    };
    let join = thread::Builder::new()
        .name("truce-commit".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| Error::Internal(format!("cannot start the commit thread: {e}")))?;
    Ok((CommitHandle { tx, stats }, join))
}

/// Continues the order seam after the stored log (at start and after a
/// reopen); leaves it as it was when the store cannot be read.
fn resume(store: &StoreWriter, sequencer: &mut dyn Sequencer) -> Result<(), Error> {
    let last = store.last_written_sequence()?;
    let last_time = match store.written_entry(last)? {
        Some(bytes) => decode_entry(last, &bytes)?
            .recorded_at
            .as_ref()
            .map_or(SystemTime::UNIX_EPOCH, order::from_timestamp),
        None => SystemTime::UNIX_EPOCH,
    };
    sequencer.resume(last, last_time);
    Ok(())
}

struct Writer {
    store: Arc<StoreWriter>,
    /// Writes each group's frames (the test seam; the sync step syncs
    /// through it).
    seam: Arc<dyn SyncStep>,
    /// Makes written groups durable and acknowledges them.
    syncer: Syncer,
    /// What the groups written and not yet durable change, oldest first.
    inflight: VecDeque<Overlay>,
    /// The order seam: every entry's sequence and time come from it.
    sequencer: Box<dyn Sequencer>,
    /// Set after a failed append, write or sync.
    stopped: Option<Stopped>,
    stats: Arc<Stats>,
    /// Off only in the benchmark that measures what the tree costs.
    maintain_tree: bool,
    /// Refuses groups while free disk space is under the margin.
    space: SpaceGuard,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Queued>) {
        loop {
            let first = match rx.blocking_recv() {
                Some(Queued::Write(first)) => first,
                Some(Queued::Wake) => {
                    self.notice_failure();
                    continue;
                }
                Some(Queued::Rebuild(reply)) => {
                    let _ = reply.send(self.rebuild());
                    continue;
                }
                Some(Queued::Apply(ordered)) => {
                    self.apply_ordered(*ordered, &rx);
                    continue;
                }
                Some(Queued::Close) | None => break,
            };
            let (group, after) = queue::gather(first, &mut rx);
            self.commit_group(group.into_iter().map(|p| *p).collect(), &rx);
            match after {
                After::Next => {}
                After::Rebuild(reply) => {
                    let _ = reply.send(self.rebuild());
                }
                After::Apply(ordered) => self.apply_ordered(*ordered, &rx),
                After::Close => break,
            }
        }
        self.close(rx);
    }

    /// Refuses what is still queued, lets the sync step finish the groups
    /// in flight, and leaves what was written last on stable storage.
    fn close(&mut self, mut rx: mpsc::Receiver<Queued>) {
        // Anything still queued is refused, not left waiting.
        rx.close();
        while let Ok(message) = rx.try_recv() {
            match message {
                Queued::Write(p) => {
                    let _ = p.reply.send(Err(Error::ShuttingDown));
                }
                Queued::Apply(o) => {
                    let _ = o.reply.send(Err(Error::ShuttingDown));
                }
                _ => {}
            }
        }
        // The groups in flight are made durable and acknowledged.
        self.syncer.close();
        // Whatever was written last is on stable storage before the store
        // is closed.
        if let Err(e) = self
            .store
            .write_log()
            .and_then(|()| self.store.sync_files())
        {
            tracing::warn!(error = %e, "the final write and sync of the entry log failed; the next open finds what reached the disk");
        }
        tracing::debug!("commit pipeline closed");
    }
}
