//! The only module that names sled. It owns the data directory: the lock
//! file, the entry log under `log/` (every entry's bytes, [`log`]), the
//! rows derived from the log, those of recent entries in memory and the
//! rest sealed into the sled database under `store/` ([`trees`],
//! [`engine`]), the format-version check, the durable watermark, and the
//! file syncs that sled's own flush leaves out.
//!
//! Writes come only from the commit pipeline ([`crate::commit`]) through
//! [`Store::append_frames`] and [`Store::apply_derived`]; reads go through the `read_*` methods, which never
//! return anything past [`Store::durable_sequence`].
//!
//! sled's handles and the log live in an [`Engine`] the store can swap:
//! after a write failed on a full disk, [`Store::reopen`] closes both and
//! opens them again from their files while every holder of the
//! `Arc<Store>` keeps its handle.

mod blocks;
mod engine;
mod files;
mod integrity;
#[cfg(feature = "testing")]
pub mod keys;
#[cfg(not(feature = "testing"))]
mod keys;
mod log;
pub mod mark;
mod merge;
mod recent;
mod scrub;
mod trees;

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use engine::{Engine, RowKind, SLED_RELEASE_WAIT};
pub use integrity::{Integrity, IntegrityStats};
use keys::StoredRequest;
pub use log::{DEFAULT_SEGMENT_BYTES, LOG_DIR, MIN_SEGMENT_BYTES};
pub use scrub::{ScrubOptions, ScrubOutcome};

use crate::model::{RecordKind, derive, index, index::Term, merkle, project};

/// The on-disk format this code reads and writes: 3 packs the derived
/// rows in runs ([`blocks`]), 2 kept a sled row per fact, 1 kept the
/// entries in sled (2 and 3 keep them in the entry log, `log/`).
pub const FORMAT_VERSION: u32 = 3;
const FORMAT_VERSION_KEY: &[u8] = b"format_version";
const LOCK_FILE: &str = "LOCK";
pub const SLED_DIR: &str = "store";

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// sled's page cache.
    pub cache_bytes: u64,
    /// The size of each new entry-log segment.
    pub segment_bytes: u64,
}

impl StoreOptions {
    /// sled's cache as given, segments of the default size.
    pub fn with_cache(cache_bytes: u64) -> Self {
        Self {
            cache_bytes,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no Truce store at {path}")]
    Missing { path: PathBuf },
    #[error("data dir {path} is in use by another truced (lock on {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("data dir {path}: on-disk format version {found}, this truced reads {expected}")]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// An entry's bytes no longer hash to the Merkle leaf stored for it
    /// (or the log no longer hashes to a recorded root): the entry log
    /// was changed behind truced's back.
    #[error(
        "entry {sequence} fails its hash check: {why}; it is not served (run truced audit; restore the log from a backup)"
    )]
    Tampered { sequence: u64, why: String },
    #[error("the store is being reopened after a failed write; retry")]
    Reopening,
    #[error("store busy: {0}")]
    Busy(&'static str),
    #[error("storage engine: {0}")]
    Engine(#[from] sled::Error),
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An entry that does not decode: the store is corrupt.
impl From<crate::model::UndecodableEntry> for StoreError {
    fn from(e: crate::model::UndecodableEntry) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    /// Whether this says that derived rows (sled's) are missing or
    /// malformed, which a rebuild from the log repairs; the log's own
    /// failures and I/O errors are not.
    pub(crate) fn is_derived_damage(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt(_) | StoreError::Engine(sled::Error::Corruption { .. })
        )
    }

    /// Whether this is the disk (or quota) being full.
    pub fn is_disk_full(&self) -> bool {
        let io = match self {
            StoreError::Io { source, .. } => source,
            StoreError::Engine(sled::Error::Io(source)) => source,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One group of entries and their derived keys, written atomically.
#[derive(Debug, Default)]
pub struct Batch {
    entries: Vec<(u64, Vec<u8>)>,
    records: Vec<(Vec<u8>, u64)>,
    requests: Vec<(Vec<u8>, Vec<u8>)>,
    views: Vec<(Vec<u8>, Vec<u8>)>,
    indexes: Vec<(Vec<u8>, Vec<u8>)>,
    nodes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Batch {
    /// Adds one encoded entry with the keys derived from it.
    pub fn push(&mut self, sequence: u64, bytes: Vec<u8>, derived: &derive::Derived) {
        if let Some((kind, id)) = &derived.created {
            self.records.push((keys::record_key(*kind, id), sequence));
        }
        self.requests.push((
            derived.request_id.as_bytes().to_vec(),
            keys::request_value(sequence, &derived.hash, &derived.submitter),
        ));
        self.entries.push((sequence, bytes));
    }

    /// Adds the new encoding of a record's view (a later one for the same
    /// record in the batch wins), and its index terms. A view of the
    /// creating entry alone is not stored: it is that entry projected
    /// ([`Store::written_view`]), and storing it would repeat the report.
    pub fn push_view(&mut self, kind: RecordKind, id: &str, view: &project::View) {
        if view.history().len() > 1 {
            self.views.push((keys::record_key(kind, id), view.encode()));
        }
        let created = view.created_sequence();
        for term in index::terms(view) {
            self.indexes
                .push((keys::index_key(&term, created), id.as_bytes().to_vec()));
        }
    }

    /// Adds a Merkle tree node (level, index at that level).
    /// Adds the tree nodes that appending leaf `leaf_index` completed
    /// (from [`merkle::append`], levels 0, 1, ... in order), stored as one
    /// value under the leaf: one insert per entry, not one per node.
    pub fn push_nodes(&mut self, leaf_index: u64, nodes: &[(u8, u64, merkle::Hash)]) {
        self.nodes
            .push((keys::tree_key(leaf_index).to_vec(), tree_value(nodes)));
    }

    /// The encoded entries, in sequence order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.entries.iter().map(|(s, b)| (*s, b.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last sequence in the batch.
    pub fn last_sequence(&self) -> Option<u64> {
        self.entries.last().map(|(seq, _)| *seq)
    }
}

/// Which postings [`Store::scan_terms`] reads, named by the model's index
/// terms (the store alone knows how they are encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermRange {
    /// Every posting of one term.
    Whole(Term),
    /// Reports by the hour their event started, from `since` to `until`
    /// (Unix seconds; open where `None`).
    Occurred {
        since: Option<i64>,
        until: Option<i64>,
    },
}

/// The bytes of log segments the next rotations allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceAhead {
    /// The next segment (0 when a spare of its size is ready): a rotation
    /// cannot do without it.
    pub next: u64,
    /// The spare made after that rotation (a failure is only logged).
    pub spare: u64,
}

impl SpaceAhead {
    /// Both.
    pub fn total(&self) -> u64 {
        self.next.saturating_add(self.spare)
    }
}

/// One row of a derived tree: (tree name, key, value).
pub type DerivedRow = (String, Vec<u8>, Vec<u8>);

/// What a reindex rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReindexStats {
    pub entries: u64,
    pub records: u64,
    pub requests: u64,
}

fn tree_value(nodes: &[(u8, u64, merkle::Hash)]) -> Vec<u8> {
    nodes
        .iter()
        .flat_map(|(_, _, h)| h.iter().copied())
        .collect()
}

/// Rows read from an engine, holding it while they are read (see
/// [`holding`]), or the one error of getting them.
fn held<I, T>(
    rows: Result<(I, Arc<Engine>), StoreError>,
) -> impl Iterator<Item = Result<T, StoreError>>
where
    I: Iterator<Item = Result<T, StoreError>>,
{
    let (rows, error) = match rows {
        Ok((rows, e)) => (Some(holding(rows, e)), None),
        Err(e) => (None, Some(Err(e))),
    };
    error.into_iter().chain(rows.into_iter().flatten())
}

/// The store's engine lock was poisoned (a thread panicked holding it).
fn poisoned<T>(_: T) -> StoreError {
    StoreError::Corrupt("the store's engine lock is poisoned".into())
}

/// An iterator over sled's rows that holds the engine it reads, so that
/// [`Store::reopen`] counts it as a reader and waits for it: sled stays
/// open as long as any of its iterators lives.
fn holding<I: Iterator>(rows: I, engine: Arc<Engine>) -> impl Iterator<Item = I::Item> {
    rows.inspect(move |_| {
        let _reader = &engine;
    })
}

/// The store: see the module documentation.
pub struct Store {
    /// The open sled database; `None` only while [`Store::reopen`] swaps
    /// it (readers then get [`StoreError::Reopening`]).
    engine: RwLock<Option<Arc<Engine>>>,
    options: StoreOptions,
    durable: AtomicU64,
    /// Tells subscribers that the durable sequence moved.
    durable_watch: tokio::sync::watch::Sender<u64>,
    dir: PathBuf,
    // Held for the store's lifetime: the data-dir lock.
    /// When the durable mark was last written.
    mark_written: std::sync::Mutex<Option<std::time::Instant>>,
    /// Set once the store passed its marks at open: a refused store must
    /// not overwrite the mark that refused it.
    mark_ok: std::sync::atomic::AtomicBool,
    /// Damage found in the log, and what the checks counted; kept across
    /// reopens.
    integrity: Arc<Integrity>,
    /// Set once [`Store::writer`] handed the writer out.
    writer_taken: std::sync::atomic::AtomicBool,
    _lock: File,
}

impl Drop for Store {
    /// A closed store leaves its recent rows sealed into sled (the next
    /// open need not derive them again) and a current mark (only durable
    /// entries count).
    /// Both steps, and sled's own close, are bounded ([`CLOSE_WAIT`]): on
    /// a full or failing disk the store is left to the next open, which
    /// derives again what sled lacks, rather than hold a shutdown.
    fn drop(&mut self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        if let Ok(e) = self.engine() {
            match bounded(deadline, "sealing at close", move || e.trees.seal()) {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "cannot seal the recent indexes at close; the next open derives them again");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the seal at close did not end in time; the next open derives the recent indexes again");
                }
            }
        }
        self.write_mark(true);
        let engine = self.engine.get_mut().ok().and_then(Option::take);
        if let Some(engine) = engine
            && bounded(deadline, "closing sled", move || drop(engine)).is_err()
        {
            tracing::warn!("sled did not close in time; the next open recovers its files");
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("durable", &self.durable_sequence())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, taking the data-dir lock.
    /// `cache_bytes` is sled's page cache size; log segments have the
    /// default size.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        Self::open_with(dir, StoreOptions::with_cache(cache_bytes))
    }

    /// Whether `dir` holds a store's files (sled's or the entry log's).
    pub fn exists_in(dir: &Path) -> bool {
        dir.join(SLED_DIR).exists() || dir.join(LOG_DIR).exists()
    }

    /// Opens the store that `dir` holds, creating nothing: the commands
    /// that only inspect a store (audit, reindex, backup, key show) fail
    /// with [`StoreError::Missing`] where there is none, rather than
    /// making an empty one and reporting on it.
    pub fn open_existing(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        if !Self::exists_in(dir) {
            return Err(StoreError::Missing {
                path: dir.to_owned(),
            });
        }
        Self::open_with(dir, options)
    }

    /// Removes a store's files from `dir` (a restore that failed).
    pub fn remove_files(dir: &Path) {
        let _ = std::fs::remove_dir_all(dir.join(SLED_DIR));
        let _ = std::fs::remove_dir_all(dir.join(LOG_DIR));
        let _ = std::fs::remove_file(dir.join(mark::MARK_FILE));
    }

    /// [`Store::open`] with every option.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: dir.to_owned(),
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }

        let engine = Engine::open_when_released(dir, &options, Instant::now() + SLED_RELEASE_WAIT)?;
        let durable = engine.log.last()?;
        let store = Self {
            engine: RwLock::new(Some(engine)),
            options,
            durable: AtomicU64::new(durable),
            durable_watch: tokio::sync::watch::Sender::new(durable),
            dir: dir.to_owned(),
            mark_written: std::sync::Mutex::new(None),
            mark_ok: std::sync::atomic::AtomicBool::new(false),
            integrity: Arc::default(),
            writer_taken: std::sync::atomic::AtomicBool::new(false),
            _lock: lock,
        };
        store.verify_at_open(durable, true)?;
        store.mark_ok.store(true, Ordering::Release);
        Ok(store)
    }

    /// Writes the durable mark if the last one is a second old (or now).
    fn write_mark(&self, force: bool) {
        if !self.mark_ok.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut last) = self.mark_written.lock() else {
            return;
        };
        if !force && last.is_some_and(|t: std::time::Instant| t.elapsed().as_secs() < 1) {
            return;
        }
        let size = self.durable_sequence();
        let root = self.tree_root(size);
        match root.map(|root| mark::write(&self.dir, size, &root)) {
            Ok(Ok(())) => *last = Some(std::time::Instant::now()),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the durable mark"),
            Err(e) => tracing::warn!(error = %e, "cannot compute the durable mark"),
        }
    }

    /// The Merkle root of the log's first `size` entries, from the stored
    /// complete subtrees (a missing node is corruption).
    pub fn tree_root(&self, size: u64) -> Result<merkle::Hash, StoreError> {
        merkle::root(size, &mut |level, index| {
            self.tree_node(level, index)?
                .ok_or_else(|| StoreError::Corrupt(format!("tree node {level}/{index} is missing")))
        })
    }

    /// The open engine, or [`StoreError::Reopening`] while it is swapped.
    fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        self.engine
            .read()
            .map_err(poisoned)?
            .as_ref()
            .map(Arc::clone)
            .ok_or(StoreError::Reopening)
    }

    /// Closes sled and opens it again from its files. After a failed
    /// append, write or sync, sled's memory may hold what its files do not,
    /// so the commit pipeline calls this (writer only) before it writes
    /// again. Waits up to `wait` for readers to let go of the old engine
    /// (iterators hold it), then gives up and keeps it. While the engine is
    /// swapped, reads get [`StoreError::Reopening`]. Entries of the failed
    /// group that reached the files are durable after this (the open
    /// syncs) and become readable; their writers were told of the failure
    /// and their retries find them. Fewer entries than were acknowledged,
    /// or another root than the durable mark's, is corruption: the engine
    /// then stays closed. Returns the last sequence.
    fn reopen(&self, wait: Duration) -> Result<u64, StoreError> {
        self.reopen_with(wait, false)
    }

    /// [`Store::reopen`], deriving every row again from the log before
    /// readers see the new engine: the commit pipeline's answer to a scrub
    /// that found derived rows disagreeing with an intact log. Writer
    /// only, with no group in flight.
    fn reopen_rebuilding(&self, wait: Duration) -> Result<u64, StoreError> {
        self.reopen_with(wait, true)
    }

    fn reopen_with(&self, wait: Duration, rebuild: bool) -> Result<u64, StoreError> {
        let deadline = Instant::now() + wait;
        // sled writes what it holds when closed: let it do so while it
        // still serves reads, and give up (reads go on) if the disk does
        // not take it in time.
        if let Ok(e) = self.engine() {
            let flushed = bounded(deadline, "flushing sled before the reopen", move || {
                e.flush_derived()
            })?;
            if let Err(e) = flushed {
                // It met the error already: reopen from its files.
                tracing::warn!(error = %e, "sled could not flush before the reopen");
            }
        }
        let old = loop {
            {
                let mut slot = self.engine.write().map_err(poisoned)?;
                match slot.as_ref() {
                    // An earlier reopen failed after closing it.
                    None => break None,
                    Some(e) if Arc::strong_count(e) == 1 => break slot.take(),
                    Some(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Busy(
                    "readers still hold the store open; the reopen is retried with the next append",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(old) = old {
            // sled flushes and syncs on drop, and panics if that sync
            // fails; a close that does not end in time goes on in the
            // background, and the open below waits for its lock.
            let closed = bounded(deadline, "closing sled", move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(old))).is_ok()
            });
            if !matches!(closed, Ok(true)) {
                tracing::warn!("sled could not sync while closing; reopening from its files");
            }
        }
        let engine = Engine::open_when_released(&self.dir, &self.options, deadline)?;
        let last = engine.log.last()?;
        let durable = self.durable_sequence();
        if last < durable {
            return Err(StoreError::Corrupt(format!(
                "after reopening, the log holds {last} entries but {durable} were acknowledged; restore it from a backup (truced restore)"
            )));
        }
        if rebuild {
            let stats = reindex_engine(&engine)?;
            tracing::info!(
                entries = stats.entries,
                "derived rows rebuilt from the entry log"
            );
        }
        *self.engine.write().map_err(poisoned)? = Some(engine);
        if let Err(e) = self.verify_at_open(last, false) {
            let _ = self.engine.write().map(|mut slot| slot.take());
            return Err(e);
        }
        self.durable.fetch_max(last, Ordering::AcqRel);
        // Wakes subscribers even when nothing new became durable: reads
        // refused while the engine was swapped are tried again.
        self.durable_watch.send_replace(self.durable_sequence());
        self.write_mark(true);
        Ok(last)
    }

    /// The store's one writer; an error once it was taken.
    pub fn writer(self: &Arc<Self>) -> Result<StoreWriter, StoreError> {
        if self.writer_taken.swap(true, Ordering::AcqRel) {
            return Err(StoreError::Busy(
                "the store's writer is held by its commit pipeline",
            ));
        }
        Ok(StoreWriter {
            store: Arc::clone(self),
        })
    }

    /// The writer of a store nothing else reads (the offline commands).
    pub fn into_writer(self) -> StoreWriter {
        self.writer_taken.store(true, Ordering::Release);
        StoreWriter {
            store: Arc::new(self),
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The highest sequence known to be on stable storage: the log's length
    /// as readers see it.
    pub fn durable_sequence(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    // ------------------------------------------------------ writer side

    /// The bytes of log segments the next rotations will allocate: (the
    /// next segment, unless a spare is ready; the spare after it). The
    /// free-space checks count them on top of the margin. While the log
    /// cannot tell (the store is being reopened), the most a rotation can
    /// allocate.
    pub fn space_ahead(&self) -> SpaceAhead {
        let most = self.options.segment_bytes;
        let (next, spare) = self
            .engine()
            .and_then(|e| e.log.space_ahead())
            .unwrap_or((most, most));
        SpaceAhead { next, spare }
    }

    /// The highest sequence written (durable or not). Writer only.
    fn last_written_sequence(&self) -> Result<u64, StoreError> {
        self.engine()?.log.last()
    }

    /// The stored request under `request_id`. Writer only: it sees
    /// writes that are not yet durable.
    fn stored_request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let e = self.engine()?;
        match e.trees.get(RowKind::Requests, request_id.as_bytes())? {
            None => Ok(None),
            Some(v) => keys::decode_request_value(&v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("request {request_id} is malformed"))),
        }
    }

    /// The sequence that created record `id` of `kind`, if its rows are
    /// applied (readers check it against the durable sequence).
    pub fn record_sequence(&self, kind: RecordKind, id: &str) -> Result<Option<u64>, StoreError> {
        let e = self.engine()?;
        match e.trees.get(RowKind::Records, &keys::record_key(kind, id))? {
            None => Ok(None),
            Some(v) => keys::decode_seq(&v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("record {id} is malformed"))),
        }
    }

    /// An entry's bytes whether or not durable. Writer only.
    fn written_entry(&self, sequence: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let e = self.engine()?;
        match e.trees.offset(sequence)? {
            None => Ok(None),
            Some(offset) => self.checked(&e, sequence, offset).map(Some),
        }
    }

    /// Entry `sequence`'s bytes from the log, refused unless they hash to
    /// the Merkle leaf stored when it was written ([`Integrity::check`]).
    fn checked(&self, e: &Engine, sequence: u64, offset: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = e.log.read(sequence, offset)?;
        let leaf = e.trees.tree_node(0, sequence.saturating_sub(1))?;
        self.integrity.check(sequence, bytes, leaf)
    }

    /// The store's integrity state: damage found in the log, and the
    /// counts of the checks and the scrub.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// Why the store takes no writes and signs no checkpoints: damage
    /// found in the entry log since it was opened.
    pub fn damage(&self) -> Option<String> {
        self.integrity.damage()
    }

    /// The view of a record, whether or not its last entry is durable:
    /// the stored one, or for a record no later entry changed, its
    /// creating entry projected. Writer (and readers that check the view's
    /// last sequence).
    pub fn written_view(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<project::View>, StoreError> {
        let e = self.engine()?;
        e.trees
            .view(kind, id, &|seq, offset| self.checked(&e, seq, offset))
    }

    /// A group's frames into the entry log's buffer; returns each entry's
    /// (sequence, offset). Not durable until [`StoreWriter::write_log`] has written
    /// them and [`Store::sync_files`] has synced them.
    fn append_frames(&self, batch: &Batch) -> Result<Vec<(u64, u64)>, StoreError> {
        let e = self.engine()?;
        let mut offsets = Vec::with_capacity(batch.entries.len());
        for (seq, bytes) in &batch.entries {
            offsets.push((*seq, e.log.append(*seq, bytes)?));
        }
        Ok(offsets)
    }

    /// A group's derived rows and offsets (from [`Store::append_frames`])
    /// into the store's memory, all visible at once; sealed into sled in
    /// the background. The commit pipeline's sync step runs it once the
    /// frames are synced, just before it moves the durable watermark.
    fn apply_derived(&self, batch: &Batch, offsets: &[(u64, u64)]) -> Result<(), StoreError> {
        let e = self.engine()?;
        if e.trees.unsealed()? >= trees::MAX_RECENT_ENTRIES {
            // The background seal is behind, or failing: seal here (every
            // row in memory is of synced entries now), and let a failure
            // reach the commit pipeline.
            e.trees.seal()?;
            e.dirty.store(true, Ordering::Release);
        }
        let (unsealed, froze) = e.trees.commit(batch, offsets)?;
        if froze || unsealed >= trees::SEAL_ENTRIES {
            e.wake.ring();
        }
        Ok(())
    }

    /// Writes the entry log's buffer to its segment file (not yet durable).
    fn write_log(&self) -> Result<(), StoreError> {
        self.engine()?.log.write()
    }

    /// fdatasync of the entry log's segments written since the last call:
    /// one device round trip per group. The derived trees are flushed
    /// and synced in the background; an open derives again whatever rows
    /// they lack from the log.
    fn sync_files(&self) -> Result<(), StoreError> {
        self.engine()?.log.sync()
    }

    /// Moves the durable watermark. Called by the commit pipeline only
    /// after a successful write and sync.
    fn set_durable(&self, sequence: u64) {
        // The rows of every written entry may now be sealed into sled.
        if let Ok(e) = self.engine()
            && let Err(err) = e.trees.synced()
        {
            tracing::warn!(error = %err, "cannot mark the recent rows synced");
        }
        self.durable.fetch_max(sequence, Ordering::AcqRel);
        self.durable_watch.send_replace(self.durable_sequence());
        self.write_mark(false);
    }

    /// A receiver that changes whenever the durable sequence moves.
    pub fn watch_durable(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable_watch.subscribe()
    }

    // ------------------------------------------------------ reader side

    /// A durable entry's stored bytes.
    pub fn read_entry(&self, sequence: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if sequence == 0 || sequence > self.durable_sequence() {
            return Ok(None);
        }
        self.written_entry(sequence)
    }

    /// Durable entries from `from` (inclusive): at most `limit` of them,
    /// stopping before `max_bytes` of entry bytes would be passed (but
    /// never returning an empty page while entries remain).
    pub fn read_entries(
        &self,
        from: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let durable = self.durable_sequence();
        let from = from.max(1);
        let mut page = Vec::new();
        if from > durable {
            return Ok(page);
        }
        let e = self.engine()?;
        let mut bytes = 0usize;
        for item in e.trees.entries(from, durable)? {
            let (seq, offset) = item?;
            if page.len() >= limit {
                break;
            }
            let entry = self.checked(&e, seq, offset)?;
            if !page.is_empty() && bytes + entry.len() > max_bytes {
                break;
            }
            bytes += entry.len();
            page.push((seq, entry));
        }
        Ok(page)
    }

    /// A stored Merkle tree node: the hash of the complete subtree at
    /// `level` and `index` (writer and proofs; nodes only ever cover
    /// written leaves, and proofs ask only within the durable size).
    pub fn tree_node(&self, level: u8, index: u64) -> Result<Option<merkle::Hash>, StoreError> {
        self.engine()?.trees.tree_node(level, index)
    }

    /// The postings of `term` with a creating sequence after `after`, in
    /// sequence order: (creating sequence, record id).
    pub fn scan_term(
        &self,
        term: &Term,
        after: u64,
    ) -> impl Iterator<Item = Result<(u64, String), StoreError>> + use<> {
        self.scan_index(&keys::term_prefix(term), after)
    }

    /// The postings of every term in `range`, in no particular order and
    /// possibly repeated.
    pub fn scan_terms(
        &self,
        range: &TermRange,
    ) -> impl Iterator<Item = Result<(u64, String), StoreError>> + use<> {
        let (from, to) = match range {
            TermRange::Whole(term) => {
                let prefix = keys::term_prefix(term);
                let mut to = prefix.clone();
                to.extend_from_slice(&u64::MAX.to_be_bytes());
                to.push(0);
                (prefix, to)
            }
            TermRange::Occurred { since, until } => keys::occurred_range(*since, *until),
        };
        self.scan_index_range(&from, &to)
    }

    /// Index entries under `prefix` with a creating sequence after
    /// `after`, in sequence order: (creating sequence, record id).
    fn scan_index(
        &self,
        prefix: &[u8],
        after: u64,
    ) -> impl Iterator<Item = Result<(u64, String), StoreError>> + use<> {
        held(
            self.engine()
                .and_then(|e| Ok((e.trees.postings(prefix, after)?, e))),
        )
    }

    /// Index entries of every term whose key prefix lies in `[from, to)`
    /// (whole-term prefixes; range terms such as the occurred hour, or
    /// several grid cells), in no particular order and possibly repeated.
    fn scan_index_range(
        &self,
        from: &[u8],
        to: &[u8],
    ) -> impl Iterator<Item = Result<(u64, String), StoreError>> + use<> {
        held(
            self.engine()
                .and_then(|e| Ok((e.trees.postings_between(from, to)?, e))),
        )
    }

    // ------------------------------------------------------ maintenance

    /// Every stored entry in order, durable or not (audits, offline).
    pub fn all_entries(&self) -> impl Iterator<Item = (u64, Result<Vec<u8>, StoreError>)> + '_ {
        let rows = self
            .engine()
            .and_then(|e| Ok((e.trees.entries(1, u64::MAX)?, e)));
        let (rows, error) = match rows {
            Ok((rows, e)) => (Some((rows, e)), None),
            Err(e) => (None, Some((0, Err(e)))),
        };
        error
            .into_iter()
            .chain(rows.into_iter().flat_map(|(rows, e)| {
                rows.map(move |row| match row {
                    Ok((seq, offset)) => (seq, e.log.read(seq, offset)),
                    Err(err) => (0, Err(err)),
                })
            }))
    }

    /// Overwrites a stored entry in place (same length, with a checksum
    /// that checks). Nothing in the daemon calls this: it exists so that
    /// tests can show that audits and clients catch an entry rewritten
    /// behind the log's back.
    #[cfg(feature = "testing")]
    pub fn overwrite_entry_behind_the_logs_back(
        &self,
        sequence: u64,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let e = self.engine()?;
        let offset = e
            .trees
            .offset(sequence)?
            .ok_or_else(|| StoreError::Corrupt(format!("no entry {sequence}")))?;
        e.log.overwrite(sequence, offset, bytes)
    }

    /// Drops the sealed offsets of the run of entries that holds
    /// `sequence` from sled, as a damaged sled loses rows (the log keeps
    /// the entries). Tests only: the open must rebuild the derived rows.
    #[cfg(feature = "testing")]
    pub fn forget_entry_offsets_for_tests(&self, sequence: u64) -> Result<bool, StoreError> {
        let e = self.engine()?;
        let forgotten = e.trees.forget_entries_run(sequence)?;
        e.flush_derived()?;
        Ok(forgotten)
    }

    /// Restores entries into the log (the next sequences, in order),
    /// bypassing the commit pipeline: `truced restore` writes a backup's
    /// log this way, then calls [`Store::reindex`] and
    /// [`Store::mark_restored`]. Not durable until those return.
    fn append_restored(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let e = self.engine()?;
        for (seq, bytes) in entries {
            e.log.append(*seq, bytes)?;
        }
        e.log.write()
    }

    /// After a restore and reindex (which synced): every written entry is
    /// durable.
    fn mark_restored(&self) -> Result<u64, StoreError> {
        let last = self.last_written_sequence()?;
        self.set_durable(last);
        Ok(last)
    }

    /// Drops every derived tree and derives them again from the entry log.
    fn reindex(&self) -> Result<ReindexStats, StoreError> {
        reindex_engine(&*self.engine()?)
    }

    /// A digest of the derived trees' contents, to compare a maintained
    /// index with a rebuilt one.
    pub fn derived_digest(&self) -> Result<Vec<DerivedRow>, StoreError> {
        let e = self.engine()?;
        let mut out = Vec::new();
        for (k, v) in e.trees.logical()? {
            let Some((_, name)) = RowKind::ALL
                .iter()
                .find(|(s, _)| k.first() == Some(&(*s as u8)))
            else {
                return Err(StoreError::Corrupt(
                    "a derived row of no known space".into(),
                ));
            };
            out.push(((*name).to_owned(), RowKind::untag(&k).to_vec(), v));
        }
        Ok(out)
    }
}

/// The one handle that may change the store. Opening a store gives the
/// read handle ([`Store`], shared as `Arc<Store>` by every reader); the
/// writer is handed out once ([`Store::writer`], or [`Store::into_writer`]
/// for the offline commands that restore or reindex a stopped store) and
/// cannot be cloned: only the commit pipeline holds it while the daemon
/// runs. It reads like the store it writes (`Deref`); each step is
/// documented where the store implements it.
#[derive(Debug)]
pub struct StoreWriter {
    store: Arc<Store>,
}

impl std::ops::Deref for StoreWriter {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

#[allow(missing_docs)]
impl StoreWriter {
    /// The read handle, for the readers the pipeline starts.
    pub fn reader(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    pub fn reopen(&self, wait: Duration) -> Result<u64, StoreError> {
        self.store.reopen(wait)
    }

    pub fn reopen_rebuilding(&self, wait: Duration) -> Result<u64, StoreError> {
        self.store.reopen_rebuilding(wait)
    }

    pub fn last_written_sequence(&self) -> Result<u64, StoreError> {
        self.store.last_written_sequence()
    }

    pub fn stored_request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        self.store.stored_request(request_id)
    }

    pub fn written_entry(&self, sequence: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.written_entry(sequence)
    }

    pub fn append_frames(&self, batch: &Batch) -> Result<Vec<(u64, u64)>, StoreError> {
        self.store.append_frames(batch)
    }

    pub fn apply_derived(&self, batch: &Batch, offsets: &[(u64, u64)]) -> Result<(), StoreError> {
        self.store.apply_derived(batch, offsets)
    }

    pub fn write_log(&self) -> Result<(), StoreError> {
        self.store.write_log()
    }

    pub fn sync_files(&self) -> Result<(), StoreError> {
        self.store.sync_files()
    }

    pub fn set_durable(&self, sequence: u64) {
        self.store.set_durable(sequence)
    }

    pub fn append_restored(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        self.store.append_restored(entries)
    }

    pub fn mark_restored(&self) -> Result<u64, StoreError> {
        self.store.mark_restored()
    }

    pub fn reindex(&self) -> Result<ReindexStats, StoreError> {
        self.store.reindex()
    }
}

/// Drops every derived row of `e` and derives them again from its log.
fn reindex_engine(e: &Engine) -> Result<ReindexStats, StoreError> {
    e.log.write()?;
    e.trees.clear()?;
    let mut stats = ReindexStats {
        entries: 0,
        records: 0,
        requests: 0,
    };
    e.log.scan_all(&mut |frame| {
        e.trees.replay(frame)?;
        stats.entries += 1;
        Ok(())
    })?;
    e.trees.seal()?;
    stats.requests = e.trees.count(RowKind::Requests)?;
    stats.records = e.trees.count(RowKind::Records)?;
    e.log.sync()?;
    e.flush_derived()?;
    Ok(stats)
}

/// How long closing a store may take before it is left to finish in the
/// background.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Runs `f` on a thread of its own and waits for it until `deadline` (at
/// least a second): a step on a full or failing disk must not hold the
/// commit writer, or a shutdown, forever. A step that overruns goes on in
/// the background.
fn bounded<T: Send + 'static>(
    deadline: Instant,
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("truce-store-step".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Io {
            path: PathBuf::from(what),
            source: e,
        })?;
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    rx.recv_timeout(wait).map_err(|_| StoreError::Busy(what))
}
