//! The commit pipeline: one writer thread owns every write to the store.
//! It takes a group of queued appends, runs the checks that depend on
//! stored state (idempotency, referenced ids, id uniqueness), assigns
//! sequence and time, and writes the group's frames to the entry log.
//! The sync step ([`syncer`]: the sync thread, or the writer itself for a
//! lone group with nothing in flight) then syncs the log once for every
//! run of written groups, puts their derived rows in the store's memory,
//! moves the durable watermark, and only then acknowledges, while the
//! writer goes on with the next group. Until then the writer sees the
//! groups in flight through overlays of what they change ([`GroupState`]).
//! A failed write, flush or sync
//! stops all later writes until the store is reopened; reads continue. When
//! the failure was a full disk, the writer reopens the store itself at the
//! first append after free space is back over the margin; after any other
//! failure (an I/O error of the disk) writes wait for a restart.

pub mod order;
pub mod stats;
mod syncer;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, atomic::AtomicU64},
    thread,
    time::SystemTime,
};

use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use truce_proto::v1::{AgreementStatus, Entry, Receipt, entry::Payload, status_change};

use crate::{
    error::Error,
    model::RecordKind,
    model::derive,
    model::merkle,
    model::project::{self, View},
    space::SpaceGuard,
    store::{Batch, StoreWriter},
    sync::{Group, SyncStep},
    validate::{self, ValidWrite},
};
use order::{Position, Sequencer};
use syncer::{Reply, Syncer, Written};

/// The largest encoded entry accepted.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// The most appends one group takes.
pub const MAX_GROUP: usize = 1024;
/// Queued appends waiting for the writer, at most.
pub const QUEUE_CAPACITY: usize = 4096;

enum Queued {
    Write(Box<Pending>),
    /// Finish what is queued before this, then stop.
    Close,
    /// From the sync step: a sync (or a write of derived rows) failed.
    Wake,
    /// From the scrub: derived rows disagree with an intact log; derive
    /// them again once the groups in flight are durable.
    Rebuild(oneshot::Sender<Result<u64, Error>>),
}

struct Pending {
    write: ValidWrite,
    submitter: String,
    reply: oneshot::Sender<Result<Receipt, Error>>,
}

/// Counters of the pipeline, for tests and the metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub groups: AtomicU64,
    pub entries: AtomicU64,
    /// The Prometheus series (registered by the daemon's metrics).
    pub metrics: stats::CommitMetrics,
}

/// The handle services use to submit writes.
#[derive(Clone)]
pub struct CommitHandle {
    tx: mpsc::Sender<Queued>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for CommitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHandle")
            .field("queued", &self.queued())
            .finish()
    }
}

impl CommitHandle {
    /// Queues a validated write and waits for its durable receipt.
    pub async fn submit(&self, write: ValidWrite, submitter: &str) -> Result<Receipt, Error> {
        let started = std::time::Instant::now();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Queued::Write(Box::new(Pending {
                write,
                submitter: submitter.to_owned(),
                reply,
            })))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let receipt = rx.await.map_err(|_| Error::ShuttingDown)??;
        self.stats
            .metrics
            .append_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(receipt)
    }

    /// Writes queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Asks the writer to stop once the writes queued so far are done.
    /// Writes submitted afterwards fail with [`Error::ShuttingDown`].
    /// (Connection tasks may outlive the server and keep handles, so the
    /// writer cannot wait for every handle to be dropped.)
    pub async fn close(&self) {
        let _ = self.tx.send(Queued::Close).await;
    }

    /// Asks the writer to derive every row again from the entry log, after
    /// the writes queued so far (the scrub found derived rows that disagree
    /// with an intact log). Reads answer UNAVAILABLE meanwhile. Returns
    /// the log's last sequence.
    pub async fn rebuild_derived(&self) -> Result<u64, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Queued::Rebuild(reply))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }
}

/// Starts the writer thread. It ends when every [`CommitHandle`] is
/// dropped, after finishing the groups already queued.
pub fn start(
    store: StoreWriter,
    seam: Arc<dyn SyncStep>,
    maintain_tree: bool,
    space: SpaceGuard,
) -> Result<(CommitHandle, thread::JoinHandle<()>), Error> {
    // Shared by the writer thread and the sync thread: both are the
    // pipeline, and nothing outside it ever holds the writer.
    let store = Arc::new(store);
    let sequencer = resume(&store)?;
    if let Err(e) = space.keep_reserve(store.dir()) {
        tracing::warn!(error = %e, "cannot write the space reserve in the data dir");
    }
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let stats = Arc::new(Stats::default());
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

/// The sequencer that continues the stored log.
fn resume(store: &StoreWriter) -> Result<Sequencer, Error> {
    let last = store.last_written_sequence()?;
    let last_time = match store.written_entry(last)? {
        Some(bytes) => Entry::decode(bytes.as_slice())
            .map_err(|e| Error::Internal(format!("entry {last} is undecodable: {e}")))?
            .recorded_at
            .as_ref()
            .map_or(SystemTime::UNIX_EPOCH, order::from_timestamp),
        None => SystemTime::UNIX_EPOCH,
    };
    Ok(Sequencer::resume(last, last_time))
}

/// How long a reopen waits for readers to let go of the old store.
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What to do after a failure that is not a full disk.
const RESTART: &str = "check the disk and restart truced (acknowledged entries are safe)";

/// Why writes are stopped.
struct Stopped {
    why: String,
    /// The disk was full: reopen the store once space is back. Any other
    /// failure waits for a restart (a disk that failed a sync may have
    /// dropped the pages it could not write).
    reopen: bool,
    /// The store was reopened right after the failure (for reads): once
    /// space is back, appends resume without another reopen.
    reopened: bool,
}

impl Stopped {
    /// What a writer whose append was not acknowledged is told.
    fn told(&self) -> String {
        told(&self.why, self.reopen)
    }
}

/// Why writes stopped, as a writer whose append was not acknowledged is
/// told; `reopen` when they resume once disk space is back.
fn told(why: &str, reopen: bool) -> String {
    if reopen {
        format!("{why}; writes resume once disk space is freed")
    } else {
        format!("{why}; {RESTART}")
    }
}

/// Why a step failed, and whether the disk was full.
type Failure = (String, bool);

/// A step's error as the writer reports it.
fn failed(step: &'static str) -> impl Fn(crate::store::StoreError) -> Failure {
    move |e| (format!("{step} failed: {e}"), e.is_disk_full())
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
    sequencer: Sequencer,
    /// Set after a failed write, flush or sync.
    stopped: Option<Stopped>,
    stats: Arc<Stats>,
    /// Off only in the benchmark that measures what the tree costs.
    maintain_tree: bool,
    /// Refuses groups while free disk space is under the margin.
    space: SpaceGuard,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Queued>) {
        let mut closing = false;
        while !closing {
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
                Some(Queued::Close) | None => break,
            };
            let mut group = vec![*first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(Queued::Write(p)) => group.push(*p),
                    // The group notices a failure first.
                    Ok(Queued::Wake) => {}
                    // After the writes taken so far: they are in the group.
                    Ok(Queued::Rebuild(reply)) => {
                        self.commit_group(std::mem::take(&mut group), &rx);
                        let _ = reply.send(self.rebuild());
                        break;
                    }
                    Ok(Queued::Close) => {
                        closing = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit_group(group, &rx);
            }
        }
        // Anything still queued is refused, not left waiting.
        rx.close();
        while let Ok(message) = rx.try_recv() {
            if let Queued::Write(p) = message {
                let _ = p.reply.send(Err(Error::ShuttingDown));
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
            tracing::warn!(error = %e, "the final flush of the entry log failed; the next open finds what reached the disk");
        }
        tracing::debug!("commit pipeline closed");
    }

    fn commit_group(&mut self, group: Vec<Pending>, queue: &mpsc::Receiver<Queued>) {
        self.notice_failure();
        if let Some(damage) = self.store.damage() {
            for p in group {
                let _ = p.reply.send(Err(Error::Damaged(damage.clone())));
            }
            return;
        }
        if let Some(stopped) = &self.stopped {
            type Refusal = (fn(String) -> Error, String);
            let ahead = self.store.space_ahead();
            let refusal: Option<Refusal> = if !stopped.reopen {
                Some((Error::WritesStopped, stopped.told()))
            } else if let Some(why) = self.space.shortage(self.store.dir(), ahead.total()) {
                Some((
                    Error::exhausted,
                    format!("{why}; writes stopped after: {}", stopped.why),
                ))
            } else if let Err(why) = self.space.room_to_resume(self.store.dir(), ahead.next) {
                Some((
                    Error::exhausted,
                    format!("{why}; writes stopped after: {}", stopped.why),
                ))
            } else {
                self.reopen()
                    .err()
                    .map(|why| (Error::WritesStopped as _, why))
            };
            if let Some((error, why)) = refusal {
                for p in group {
                    let _ = p.reply.send(Err(error(why.clone())));
                }
                return;
            }
        }
        if let Some(why) = self
            .space
            .shortage(self.store.dir(), self.store.space_ahead().total())
        {
            tracing::warn!(refused = group.len(), reason = %why, "appends refused");
            for p in group {
                let _ = p.reply.send(Err(Error::exhausted(why.clone())));
            }
            return;
        }
        let durable = self.store.durable_sequence();
        while self.inflight.front().is_some_and(|o| o.last <= durable) {
            self.inflight.pop_front();
        }
        let inflight = std::mem::take(&mut self.inflight);
        let now = SystemTime::now();
        let mut batch = Batch::default();
        // Replies that wait for the sync: receipts of accepted writes, and
        // duplicates of writes still in flight.
        let mut replies: Vec<Reply> = Vec::new();
        // What this group changes, not yet stored.
        let mut current = Overlay::default();
        // A read of the store that met a full disk, and who asked.
        let mut full_disk: Option<String> = None;
        let mut refused = Vec::new();

        for p in group {
            let state = GroupState {
                current: &current,
                inflight: &inflight,
            };
            match self.check_and_encode(&p, now, &state) {
                Ok(Checked::Duplicate(receipt)) => {
                    let _ = p.reply.send(Ok(receipt));
                }
                Ok(Checked::DuplicateInFlight(receipt)) => {
                    replies.push((p.reply, Ok(receipt)));
                }
                Ok(Checked::New {
                    position,
                    bytes,
                    derived,
                    record_id,
                    views,
                }) => {
                    let receipt = Receipt {
                        sequence: position.sequence,
                        record_id,
                        recorded_at: Some(position.timestamp()),
                        duplicate: false,
                        leaf_index: position.sequence - 1,
                        ..Receipt::default()
                    };
                    // The Merkle tree grows in the same atomic write.
                    let nodes = if !self.maintain_tree {
                        Ok(Vec::new())
                    } else {
                        merkle::append(
                            position.sequence - 1,
                            merkle::leaf_hash(&bytes),
                            |level, index| match state.node(level, index) {
                                Some(h) => Ok(h),
                                None => self.store.tree_node(level, index)?.ok_or_else(|| {
                                    Error::Internal(format!("tree node {level}/{index} missing"))
                                }),
                            },
                        )
                    };
                    let nodes = match nodes {
                        Ok(n) => n,
                        Err(e) => {
                            let _ = p.reply.send(Err(e));
                            continue;
                        }
                    };
                    self.sequencer.take(position);
                    current.requests.insert(
                        derived.request_id.clone(),
                        (derived.hash, receipt.clone(), derived.submitter.clone()),
                    );
                    if let Some(created) = &derived.created {
                        current.records.insert(created.clone(), position.sequence);
                    }
                    if !nodes.is_empty() {
                        batch.push_nodes(position.sequence - 1, &nodes);
                    }
                    for (level, index, hash) in nodes {
                        current.nodes.insert((level, index), hash);
                    }
                    batch.push(position.sequence, bytes, &derived);
                    for (kind, id, view) in views {
                        batch.push_view(kind, &id, &view);
                        current.views.insert((kind, id), view);
                    }
                    replies.push((p.reply, Ok(receipt)));
                }
                // sled met a full disk (in its background flush, say) and
                // now fails reads too: a write failure like any other.
                Err(Error::Store(e)) if e.is_disk_full() => {
                    full_disk.get_or_insert_with(|| format!("write failed: {e}"));
                    refused.push(p.reply);
                }
                // Decided while writes were in flight (a taken id, say):
                // told once they are durable, or that they failed.
                Err(e) if !inflight.is_empty() || !current.requests.is_empty() => {
                    replies.push((p.reply, Err(e)));
                }
                Err(e) => {
                    let _ = p.reply.send(Err(e));
                }
            }
        }
        self.inflight = inflight;

        let written = match full_disk {
            Some(why) => Err((why, true)),
            None => self.write(&batch),
        };
        match written {
            Err(failure) => {
                let replies = replies.into_iter().map(|(reply, _)| reply);
                self.stop(Some(failure), replies.chain(refused));
            }
            Ok(offsets) => {
                if let Some(last) = batch.last_sequence() {
                    current.last = last;
                    self.inflight.push_back(current);
                }
                if replies.is_empty() {
                    return;
                }
                // With no append queued behind it, the group is synced
                // here, unless groups are in flight.
                let alone = queue.is_empty();
                let sent = self.syncer.hand_over(
                    Written {
                        batch,
                        offsets,
                        replies,
                    },
                    alone,
                );
                match sent {
                    Err(written) => {
                        let replies = written.replies.into_iter().map(|(reply, _)| reply);
                        self.stop(None, replies);
                    }
                    Ok(()) if alone => self.notice_failure(),
                    Ok(()) => {}
                }
            }
        }
    }

    /// After a failed write, flush or sync (`own`, the writer's; the sync
    /// step's comes from the syncer's drain): waits for the groups in flight
    /// (each is acknowledged or failed), stops writes and fails
    /// `replies`. Reads go on; after a full disk (only: both failures
    /// must be one) the store is reopened for them at once.
    fn stop(
        &mut self,
        own: Option<Failure>,
        replies: impl IntoIterator<Item = oneshot::Sender<Result<Receipt, Error>>>,
    ) {
        let (why, full) = match (self.syncer.drain(), own) {
            (Some((why, full)), Some((_, own_full))) => (why, full && own_full),
            (Some(failure), None) | (None, Some(failure)) => failure,
            (None, None) => ("the sync thread has stopped".to_owned(), false),
        };
        self.inflight.clear();
        let reopen = full
            || self
                .space
                .shortage(self.store.dir(), self.store.space_ahead().total())
                .is_some();
        tracing::error!(error = %why, disk_full = reopen, "write path stopped: nothing more will be acknowledged until the store is reopened");
        let stopped = Stopped {
            why,
            reopen,
            reopened: false,
        };
        for reply in replies {
            let _ = reply.send(Err(Error::WritesStopped(stopped.told())));
        }
        self.stopped = Some(stopped);
        if reopen {
            self.reopen_for_reads();
        }
    }

    /// Waits for the groups in flight to be durable, then reopens the
    /// store deriving every row again from the log.
    fn rebuild(&mut self) -> Result<u64, Error> {
        if let Some(failure) = self.syncer.drain() {
            self.stop(Some(failure), []);
        }
        if let Some(stopped) = &self.stopped {
            return Err(Error::WritesStopped(stopped.told()));
        }
        self.inflight.clear();
        let last = self.store.reopen_rebuilding(REOPEN_WAIT)?;
        self.sequencer = resume(&self.store)?;
        self.stats.metrics.reopens.inc();
        Ok(last)
    }

    /// Takes note of a failure of the sync step.
    fn notice_failure(&mut self) {
        if self.stopped.is_none() && self.syncer.failed() {
            self.stop(None, []);
        }
    }
    /// Right after a write failed on a full disk: frees the space reserve
    /// and reopens the store at once, so that reads do not meet the error
    /// state sled keeps after a failed write. Appends still wait for space.
    fn reopen_for_reads(&mut self) {
        self.space.release_reserve(self.store.dir());
        let reopened = self
            .store
            .reopen(REOPEN_WAIT)
            .map_err(Error::from)
            .and_then(|last| Ok((last, resume(&self.store)?)));
        match reopened {
            Ok((last, sequencer)) => {
                self.sequencer = sequencer;
                self.stats.metrics.reopens.inc();
                if let Some(stopped) = &mut self.stopped {
                    stopped.reopened = true;
                }
                tracing::info!(
                    last_sequence = last,
                    "store reopened for reads; appends wait for disk space"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "store not reopened yet; it is reopened once space is back");
            }
        }
    }

    /// Once space is back after a failed write, flush or sync: reopens the
    /// store (unless that was done right after the failure), continues
    /// the log from what it holds, and keeps the reserve again.
    fn reopen(&mut self) -> Result<(), String> {
        let Some(stopped) = &self.stopped else {
            return Ok(());
        };
        if !stopped.reopened {
            let not_yet = |e: &dyn std::fmt::Display| {
                tracing::warn!(error = %e, "store not reopened; writes stay stopped");
                format!("{}; the store could not be reopened yet: {e}", stopped.why)
            };
            let last = self.store.reopen(REOPEN_WAIT).map_err(|e| not_yet(&e))?;
            self.sequencer = resume(&self.store).map_err(|e| not_yet(&e))?;
            self.stats.metrics.reopens.inc();
            tracing::info!(last_sequence = last, "store reopened");
        }
        tracing::info!(after = %stopped.why, "appends resume");
        self.stopped = None;
        Ok(())
    }

    /// Puts a group's frames in the entry log and writes them (not yet
    /// durable: the sync step syncs them). Returns their offsets.
    fn write(&mut self, batch: &Batch) -> Result<Vec<(u64, u64)>, Failure> {
        let Some(last) = batch.last_sequence() else {
            return Ok(Vec::new());
        };
        let group = Group {
            first_sequence: last + 1 - batch.len() as u64,
            last_sequence: last,
            entries: batch.len(),
        };
        let offsets = self.store.append_frames(batch).map_err(failed("write"))?;
        self.seam
            .flush(&self.store, &group)
            .map_err(failed("flush"))?;
        Ok(offsets)
    }

    fn check_and_encode(
        &self,
        p: &Pending,
        now: SystemTime,
        group: &GroupState<'_>,
    ) -> Result<Checked, Error> {
        let w = &p.write;
        // Idempotency: this group first, then the store. A request id is
        // its submitter's: another caller learns only that it is taken.
        if let Some((hash, receipt, submitter)) = group.request(w.request_id()) {
            return if submitter != &p.submitter {
                Err(taken(w.request_id()))
            } else if hash == w.hash() {
                Ok(Checked::DuplicateInFlight(Receipt {
                    duplicate: true,
                    ..receipt.clone()
                }))
            } else {
                Err(conflict(w.request_id(), receipt.sequence))
            };
        }
        if let Some(stored) = self.store.stored_request(w.request_id())? {
            if stored.submitter != p.submitter {
                return Err(taken(w.request_id()));
            }
            if &stored.hash != w.hash() {
                return Err(conflict(w.request_id(), stored.sequence));
            }
            return Ok(Checked::Duplicate(self.stored_receipt(stored.sequence)?));
        }
        // References must exist.
        for r in w.references() {
            let key = (r.kind, r.id.clone());
            if group.record(&key).is_none() && self.store.record_sequence(r.kind, &r.id)?.is_none()
            {
                return Err(Error::NotFound {
                    field: r.field.clone(),
                    kind: r.kind.name(),
                    id: r.id.clone(),
                    at: None,
                });
            }
        }
        // A client-chosen id must be new.
        let kind = derive::created_kind(w.payload());
        if let (Some(kind), Some(id)) = (kind, w.client_id()) {
            let existing = match group.record(&(kind, id.to_owned())) {
                Some(seq) => Some(seq),
                None => self.store.record_sequence(kind, id)?,
            };
            if let Some(seq) = existing {
                return Err(Error::AlreadyExists(format!(
                    "{}.id: {} {id:?} already exists (created at sequence {seq})",
                    kind.name(),
                    kind.name()
                )));
            }
        }
        // Rules that depend on the target's current state.
        let extension_effective_at = self.check_transition(w.payload(), now, group)?;

        let position = self.sequencer.peek(now);
        let record_id = match (kind, w.client_id()) {
            (_, Some(id)) => id.to_owned(),
            (Some(kind), None) => format!("{}-{}", kind.name(), position.sequence),
            (None, None) => w
                .references()
                .first()
                .map(|r| r.id.clone())
                .unwrap_or_default(),
        };
        let entry = Entry {
            sequence: position.sequence,
            recorded_at: Some(position.timestamp()),
            submitter: p.submitter.clone(),
            request_id: w.request_id().to_owned(),
            record_id: record_id.clone(),
            extension_effective_at,
            payload: Some(w.payload().clone()),
        };
        let bytes = entry.encode_to_vec();
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(Error::invalid(
                "entry",
                format!(
                    "encodes to {} bytes; the limit is {MAX_ENTRY_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let mut views = Vec::new();
        for (kind, id) in project::touched(&entry) {
            let before = match kind {
                RecordKind::Claim => continue,
                _ if derive::created_kind(w.payload()) == Some(kind) => None,
                _ => Some(self.current_view(kind, &id, group)?),
            };
            let after = project::apply(before, kind, &id, &entry)
                .map_err(|e| Error::Internal(e.to_string()))?;
            views.push((kind, id, after));
        }
        let derived = derive::Derived {
            created: kind.map(|k| (k, record_id.clone())),
            request_id: entry.request_id,
            hash: *w.hash(),
            submitter: entry.submitter,
        };
        Ok(Checked::New {
            position,
            bytes,
            derived,
            record_id,
            views,
        })
    }

    /// The view of an existing record, including the changes of this
    /// group and of those in flight.
    fn current_view(
        &self,
        kind: RecordKind,
        id: &str,
        group: &GroupState<'_>,
    ) -> Result<View, Error> {
        if let Some(v) = group.view(&(kind, id.to_owned())) {
            return Ok(v.clone());
        }
        self.store
            .written_view(kind, id)?
            .ok_or_else(|| Error::Internal(format!("{} {id} has no view", kind.name())))
    }

    /// Transitions that make no sense given the target's current state.
    /// Returns when an extension without an effective time of its own
    /// takes effect: at the expiry it extends (`Entry.extension_effective_at`).
    fn check_transition(
        &self,
        payload: &Payload,
        now: SystemTime,
        group: &GroupState<'_>,
    ) -> Result<Option<pbjson_types::Timestamp>, Error> {
        match payload {
            Payload::Correction(c) => {
                let View::Report(view) =
                    self.current_view(RecordKind::Report, &c.report_id, group)?
                else {
                    return Err(Error::Internal("a report id holds another view".into()));
                };
                let mut report = view.report.unwrap_or_default();
                project::apply_correction(&mut report, c).map_err(|reason| {
                    Error::FailedPrecondition {
                        field: "correction.fields".into(),
                        reason,
                    }
                })?;
                // The rules see the record as a client would have sent it.
                report.id.clear();
                validate::corrected_report(&report, &validate::Context { now })?;
                Ok(None)
            }
            Payload::Status(s) => match (&s.target, &s.change) {
                (
                    Some(status_change::Target::AgreementId(id)),
                    Some(status_change::Change::Agreement(a)),
                ) if a.status() == AgreementStatus::Extended => {
                    let View::Agreement(view) =
                        self.current_view(RecordKind::Agreement, id, group)?
                    else {
                        return Err(Error::Internal("an agreement id holds another view".into()));
                    };
                    let agreement = view.agreement.unwrap_or_default();
                    let new = a.new_expires_at.as_ref().map(order::from_timestamp);
                    let current = agreement.expires_at.as_ref().map(order::from_timestamp);
                    if let (Some(new), Some(current)) = (new, current)
                        && new <= current
                    {
                        return Err(Error::FailedPrecondition {
                            field: "status.agreement.new_expires_at".into(),
                            reason: "an extension must move the expiry later than the current one"
                                .into(),
                        });
                    }
                    // Without a time of its own, it takes effect where the
                    // expiry it extends fell.
                    Ok(if s.effective_at.is_none() {
                        agreement.expires_at
                    } else {
                        None
                    })
                }
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }

    fn stored_receipt(&self, sequence: u64) -> Result<Receipt, Error> {
        let bytes = self.store.written_entry(sequence)?.ok_or_else(|| {
            Error::Internal(format!("request points at missing entry {sequence}"))
        })?;
        let entry = Entry::decode(bytes.as_slice())
            .map_err(|e| Error::Internal(format!("entry {sequence} is undecodable: {e}")))?;
        Ok(Receipt {
            sequence,
            record_id: entry.record_id,
            recorded_at: entry.recorded_at,
            duplicate: true,
            leaf_index: sequence - 1,
            ..Receipt::default()
        })
    }
}

enum Checked {
    /// Of a durable entry: answered at once.
    Duplicate(Receipt),
    /// Of an entry of this group or one in flight: answered once durable.
    DuplicateInFlight(Receipt),
    New {
        position: Position,
        bytes: Vec<u8>,
        derived: derive::Derived,
        record_id: String,
        /// The views this entry changes, as they stand after it.
        views: Vec<(RecordKind, String, View)>,
    },
}

/// What a written group changes, kept by the writer until the group is
/// durable and the store holds it.
#[derive(Default)]
struct Overlay {
    /// The group's last sequence.
    last: u64,
    requests: HashMap<String, GroupRequest>,
    records: HashMap<(RecordKind, String), u64>,
    views: HashMap<(RecordKind, String), View>,
    nodes: HashMap<(u8, u64), merkle::Hash>,
}

/// What the writes accepted earlier in this group, and the groups in
/// flight, changed: looked up newest first, before the store.
struct GroupState<'a> {
    current: &'a Overlay,
    inflight: &'a VecDeque<Overlay>,
}

impl GroupState<'_> {
    fn layers(&self) -> impl Iterator<Item = &Overlay> {
        std::iter::once(self.current).chain(self.inflight.iter().rev())
    }

    fn request(&self, request_id: &str) -> Option<&GroupRequest> {
        self.layers().find_map(|o| o.requests.get(request_id))
    }

    fn record(&self, key: &(RecordKind, String)) -> Option<u64> {
        self.layers().find_map(|o| o.records.get(key).copied())
    }

    fn view(&self, key: &(RecordKind, String)) -> Option<&View> {
        self.layers().find_map(|o| o.views.get(key))
    }

    fn node(&self, level: u8, index: u64) -> Option<merkle::Hash> {
        self.layers()
            .find_map(|o| o.nodes.get(&(level, index)).copied())
    }
}

/// A request id not yet durable: hash, receipt, submitter.
type GroupRequest = ([u8; 32], Receipt, String);

/// A request id another submitter used: says nothing of their write.
fn taken(request_id: &str) -> Error {
    Error::AlreadyExists(format!(
        "request_id {request_id:?} is taken by another submitter; use a new request id"
    ))
}

fn conflict(request_id: &str, sequence: u64) -> Error {
    Error::AlreadyExists(format!(
        "request_id {request_id:?} was already used for a different request (sequence {sequence}); \
         use a new request id for a new write"
    ))
}
