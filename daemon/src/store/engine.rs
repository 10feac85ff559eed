//! What the store swaps on a reopen: sled's database and its trees, the
//! entry log, and the files sled's flush leaves unsynced. Opening one
//! brings the derived trees up to the log: sled is not synced per group
//! (the log is), so after a crash it may hold fewer entries' rows than the
//! log, and those are derived again here from the log's frames.

use std::{
    path::Path,
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use prost::Message as _;

use super::{
    Batch, FORMAT_VERSION, FORMAT_VERSION_KEY, RecordKind, SLED_DIR, StoreError, StoreOptions,
    files, keys,
    log::{self, After, Log, ReadFrame, Scanned},
};
use crate::{derive, merkle, project};

/// The kinds of derived row. They share one sled tree, each under its
/// tag byte, so that a group's rows are one atomic `apply_batch` (sled's
/// transactions over several trees read every key they write first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Space {
    /// sequence → offset of its frame in its log segment.
    Entries = 1,
    Records = 2,
    Requests = 3,
    Views = 4,
    Indexes = 5,
    Tree = 6,
}

impl Space {
    pub(super) const ALL: [(Space, &'static str); 6] = [
        (Space::Entries, "entries"),
        (Space::Records, "records"),
        (Space::Requests, "requests"),
        (Space::Views, "views"),
        (Space::Indexes, "indexes"),
        (Space::Tree, "tree"),
    ];

    /// A stored key without its space's tag byte.
    pub(super) fn untag(key: &[u8]) -> &[u8] {
        key.get(1..).unwrap_or_default()
    }

    /// `key` in this space.
    pub(super) fn key(self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(self as u8);
        k.extend_from_slice(key);
        k
    }
}

/// sled's tree of derived rows.
pub(super) struct Trees {
    rows: sled::Tree,
}

/// sled's database, its trees, the entry log and the files sled's flush
/// leaves unsynced.
pub(super) struct Engine {
    pub db: sled::Db,
    pub trees: Trees,
    pub log: Log,
    pub files: files::Files,
    /// Set by every write to sled, cleared by the background flush.
    pub dirty: AtomicBool,
}

/// How long an open waits for a closed sled of this process to let go of
/// its file lock.
pub(super) const SLED_RELEASE_WAIT: Duration = Duration::from_secs(5);
/// How often the derived trees are flushed and synced in the background.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl Engine {
    /// [`Engine::open`], waiting until `deadline` while sled's own file
    /// lock is still held. Our data-dir lock is already ours, so the holder
    /// can only be a sled of this process that was just closed: sled's
    /// I/O threads outlive its last handle for a moment (a store reopened,
    /// or a daemon restarted in the same process).
    pub(super) fn open_when_released(
        dir: &Path,
        options: &StoreOptions,
        deadline: Instant,
    ) -> Result<Arc<Self>, StoreError> {
        loop {
            match Self::open(dir, options) {
                Err(StoreError::Engine(sled::Error::Io(e)))
                    if Instant::now() < deadline
                        && e.to_string().contains("could not acquire lock") =>
                {
                    tracing::debug!(error = %e, "sled's file lock is still held; waiting");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(engine) => {
                    let engine = Arc::new(engine);
                    flush_in_background(Arc::downgrade(&engine));
                    return Ok(engine);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens sled under `dir` and checks the format version, opens the
    /// entry log, derives the rows of entries the log holds and sled does
    /// not, and syncs both.
    fn open(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let sled_dir = dir.join(SLED_DIR);
        let db = sled::Config::new()
            .path(&sled_dir)
            .cache_capacity(options.cache_bytes)
            // This module's flusher decides when; no sled flusher.
            .flush_every_ms(None)
            .open()?;
        let trees = Trees {
            rows: db.open_tree("derived")?,
        };
        let meta = db.open_tree("meta")?;
        let files = files::Files::open(dir, &sled_dir)?;
        let log_dir = dir.join(log::LOG_DIR);
        match meta.get(FORMAT_VERSION_KEY)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("format version key is malformed".into()))?;
                if found == 1 {
                    upgrade_from_1(&db, &log_dir, options)?;
                    // The log's directory entry is durable before the
                    // format says the entries are there.
                    files.sync_all_now()?;
                    meta.insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
                    db.flush()?;
                    files.sync_all_now()?;
                    // The rows are derived again from the log below.
                    trees.clear()?;
                    for name in FORMAT_1_TREES {
                        db.drop_tree(name)?;
                    }
                } else if found != FORMAT_VERSION {
                    return Err(StoreError::FormatVersion {
                        path: dir.to_owned(),
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            None => {
                if !trees.rows.is_empty() {
                    return Err(StoreError::Corrupt(
                        "entries exist but no format version was written".into(),
                    ));
                }
                meta.insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
            }
        }
        let mut replayed = 0u64;
        let mut open_log = |after| {
            replayed = 0;
            Log::open(&log_dir, options.segment_bytes, after, &mut |s| {
                replayed += 1;
                trees.replay(s)
            })
        };
        let log = match open_log(trees.last_indexed()?)? {
            Ok(log) => log,
            Err(log::Behind(why)) => {
                // The derived trees hold entries the log does not (sled
                // wrote rows of a group whose frames never reached the
                // disk): derive them all again from the log.
                tracing::warn!(reason = %why, "the indexes are ahead of the entry log; rebuilding them from the log");
                trees.clear()?;
                open_log(None)?.map_err(|log::Behind(why)| StoreError::Corrupt(why))?
            }
        };
        if replayed > 0 {
            tracing::info!(
                entries = replayed,
                "derived the rows of entries the indexes lacked"
            );
        }
        db.flush()?;
        files.sync_all_now()?;
        log.sync()?;
        Ok(Self {
            db,
            trees,
            log,
            files,
            dirty: AtomicBool::new(false),
        })
    }

    /// sled's flush and the syncs it leaves out: the derived trees on
    /// stable storage (the log needs nothing; it is synced per group).
    pub(super) fn flush_derived(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.files.sync()?;
        Ok(())
    }
}

/// Format 1 kept the entries' bytes in sled's `entries` tree: copies them
/// into a new entry log, synced. Until the format version says 2, the old
/// tree stays as it was, so an upgrade cut short starts again from it.
fn upgrade_from_1(db: &sled::Db, log_dir: &Path, options: &StoreOptions) -> Result<(), StoreError> {
    let entries = db.open_tree("entries")?;
    tracing::info!(
        entries = entries.len(),
        "upgrading the store from format 1: copying the entries into the entry log"
    );
    match std::fs::remove_dir_all(log_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(super::io_err(log_dir)(e)),
    }
    let log = Log::open(log_dir, options.segment_bytes, None, &mut |_| Ok(()))?
        .map_err(|log::Behind(why)| StoreError::Corrupt(why))?;
    for (n, item) in entries.iter().enumerate() {
        let (k, v) = item?;
        let seq = keys::decode_seq(&k)
            .ok_or_else(|| StoreError::Corrupt("malformed entry key".into()))?;
        log.append(seq, &v)?;
        if n % 1024 == 1023 {
            log.write()?;
        }
    }
    log.write()?;
    log.sync()
}

/// An `entries` row as stored: (sequence, offset of its frame).
pub(super) fn entry_row(key: &[u8], value: &[u8]) -> Result<(u64, u64), StoreError> {
    match (keys::decode_seq(Space::untag(key)), keys::decode_seq(value)) {
        (Some(seq), Some(offset)) => Ok((seq, offset)),
        _ => Err(StoreError::Corrupt("malformed entry offset".into())),
    }
}

/// The trees of format 1, dropped once upgraded.
const FORMAT_1_TREES: [&str; 6] = ["entries", "records", "requests", "views", "indexes", "tree"];

/// Flushes and syncs the derived trees every [`FLUSH_EVERY`] while they
/// change, until the engine is dropped. Bounds what an open has to derive
/// again after a crash.
fn flush_in_background(engine: Weak<Engine>) {
    let started = std::thread::Builder::new()
        .name("truce-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                let Some(e) = engine.upgrade() else {
                    return;
                };
                if e.dirty.swap(false, Ordering::AcqRel)
                    && let Err(err) = e.flush_derived()
                {
                    e.dirty.store(true, Ordering::Release);
                    tracing::warn!(error = %err, "background flush of the indexes failed");
                }
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no thread for the background flush; the indexes are flushed at close");
    }
}

impl Trees {
    /// The row under `key` in `space`.
    pub(super) fn get(&self, space: Space, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.rows.get(space.key(key))?)
    }

    /// The rows of `space` with keys in `[from, to)`; each key still
    /// carries the space's tag byte.
    pub(super) fn range(&self, space: Space, from: &[u8], to: &[u8]) -> sled::Iter {
        self.rows.range(space.key(from)..space.key(to))
    }

    /// The rows of `space` with keys in `[from, to]`, tag byte included.
    pub(super) fn range_to(&self, space: Space, from: &[u8], to: &[u8]) -> sled::Iter {
        self.rows.range(space.key(from)..=space.key(to))
    }

    /// Every row of `space`, tag byte included.
    pub(super) fn all(&self, space: Space) -> sled::Iter {
        self.rows.scan_prefix([space as u8])
    }

    /// The last entry the derived trees hold, and its frame's offset.
    fn last_indexed(&self) -> Result<Option<After>, StoreError> {
        let Some((k, v)) = self.all(Space::Entries).next_back().transpose()? else {
            return Ok(None);
        };
        let (seq, offset) = entry_row(&k, &v)?;
        Ok(Some(After { seq, offset }))
    }

    /// Empties every space.
    pub(super) fn clear(&self) -> Result<(), StoreError> {
        Ok(self.rows.clear()?)
    }

    /// Derives and writes the rows of one entry found in the log.
    pub(super) fn replay(&self, s: Scanned<'_>) -> Result<(), StoreError> {
        let batch = self.derive(s.seq, s.bytes, s.read)?;
        self.commit(&batch, &[(s.seq, s.offset)])
    }

    /// The view of a record: stored, or for a record no later entry
    /// changed (whose view is not stored), its creating entry projected.
    pub(super) fn view(
        &self,
        kind: RecordKind,
        id: &str,
        read: ReadFrame<'_>,
    ) -> Result<Option<project::View>, StoreError> {
        let key = keys::record_key(kind, id);
        if let Some(bytes) = self.get(Space::Views, &key)? {
            return project::View::decode(kind, &bytes)
                .map(Some)
                .map_err(|why| StoreError::Corrupt(format!("view of {id}: {why}")));
        }
        let Some(created) = self.get(Space::Records, &key)? else {
            return Ok(None);
        };
        let seq = keys::decode_seq(&created)
            .ok_or_else(|| StoreError::Corrupt(format!("record {id} is malformed")))?;
        let offset = self
            .offset(seq)?
            .ok_or_else(|| StoreError::Corrupt(format!("entry {seq} of {id} is missing")))?;
        let entry = truce_proto::v1::Entry::decode(read(seq, offset)?.as_slice())
            .map_err(|why| StoreError::Corrupt(format!("entry {seq} is undecodable: {why}")))?;
        project::apply(None, kind, id, &entry)
            .map(Some)
            .map_err(|why| StoreError::Corrupt(why.to_string()))
    }

    /// The rows an entry adds, given the rows of every entry before it:
    /// what the writer computes for it (tested: reindex reproduces them).
    fn derive(&self, seq: u64, bytes: &[u8], read: ReadFrame<'_>) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        let nodes = merkle::append(seq - 1, merkle::leaf_hash(bytes), |level, index| {
            self.tree_node(level, index)?
                .ok_or_else(|| StoreError::Corrupt(format!("tree node {level}/{index} missing")))
        })?;
        if !nodes.is_empty() {
            batch.push_nodes(seq - 1, &nodes);
        }
        let entry = truce_proto::v1::Entry::decode(bytes)
            .map_err(|e| StoreError::Corrupt(format!("entry {seq} is undecodable: {e}")))?;
        let derived = derive::from_entry(&entry)
            .map_err(|e| StoreError::Corrupt(format!("entry {seq}: {e}")))?;
        for (kind, id) in project::touched(&entry) {
            let before = self.view(kind, &id, read)?;
            let after = project::apply(before, kind, &id, &entry)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            batch.push_view(kind, &id, &after);
        }
        batch.push(seq, Vec::new(), &derived);
        Ok(batch)
    }

    /// Writes a group's derived rows and its entries' offsets as one
    /// atomic sled batch: after a crash sled holds all of a group's rows
    /// or none, so the last offset says what it holds.
    pub(super) fn commit(&self, batch: &Batch, offsets: &[(u64, u64)]) -> Result<(), StoreError> {
        if let Some((first, _)) = offsets.first()
            && self
                .get(Space::Entries, &keys::entry_key(*first))?
                .is_some()
        {
            return Err(StoreError::Corrupt(format!("entry {first} already exists")));
        }
        let mut rows = sled::Batch::default();
        for (seq, offset) in offsets {
            rows.insert(
                Space::Entries.key(&keys::entry_key(*seq)),
                &offset.to_be_bytes(),
            );
        }
        for (key, seq) in &batch.records {
            rows.insert(Space::Records.key(key), &keys::entry_key(*seq));
        }
        let spaces = [
            (Space::Requests, &batch.requests),
            (Space::Views, &batch.views),
            (Space::Indexes, &batch.indexes),
            (Space::Tree, &batch.nodes),
        ];
        for (space, pairs) in spaces {
            for (key, value) in pairs {
                rows.insert(space.key(key), value.as_slice());
            }
        }
        Ok(self.rows.apply_batch(rows)?)
    }

    /// The offset of an entry's frame, if the trees hold it.
    pub(super) fn offset(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        match self.get(Space::Entries, &keys::entry_key(sequence))? {
            None => Ok(None),
            Some(v) => keys::decode_seq(&v).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!("entry {sequence}'s offset is malformed"))
            }),
        }
    }

    /// A stored Merkle tree node: the hash of the complete subtree at
    /// `level` and `index`.
    pub(super) fn tree_node(
        &self,
        level: u8,
        index: u64,
    ) -> Result<Option<merkle::Hash>, StoreError> {
        // Node (level, index) was completed by the append of its last leaf.
        let Some(leaf) = index
            .checked_add(1)
            .and_then(|i| i.checked_shl(u32::from(level)))
            .map(|i| i - 1)
        else {
            return Ok(None);
        };
        match self.get(Space::Tree, &keys::tree_key(leaf))? {
            None => Ok(None),
            Some(v) => {
                let at = usize::from(level) * 32;
                match v.get(at..at + 32) {
                    Some(h) => Ok(<[u8; 32]>::try_from(h).ok()),
                    None => Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const SEED: &str = include_str!("../../../examples/seed-scenario.jsonl");

    /// A store of the seed scenario, written by the daemon.
    fn seeded(dir: &Path) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let running = crate::server::Daemon::new(crate::server::test_settings(dir))
                .start()
                .await
                .unwrap();
            let client = truce_client::Client::connect(running.url()).await.unwrap();
            for line in SEED.lines().filter(|l| !l.trim().is_empty()) {
                client
                    .submit(serde_json::from_str(line).unwrap())
                    .await
                    .unwrap();
            }
            running.shutdown().await.unwrap();
        });
    }

    #[test]
    fn a_format_1_store_is_upgraded_and_keeps_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        seeded(dir.path());
        let (entries, root, digest) = {
            let store = Store::open(dir.path(), 16 << 20).unwrap();
            let entries: Vec<(u64, Vec<u8>)> = store
                .all_entries()
                .map(|(seq, bytes)| (seq, bytes.unwrap()))
                .collect();
            let root = store.tree_root(entries.len() as u64).unwrap();
            (entries, root, store.derived_digest().unwrap())
        };
        assert!(entries.len() > 10);

        // The same store as format 1 wrote it: the bytes in sled, no log.
        {
            let db = sled::open(dir.path().join(SLED_DIR)).unwrap();
            let tree = db.open_tree("entries").unwrap();
            for (seq, bytes) in &entries {
                tree.insert(keys::entry_key(*seq), bytes.as_slice())
                    .unwrap();
            }
            db.open_tree("meta")
                .unwrap()
                .insert(FORMAT_VERSION_KEY, &1u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        std::fs::remove_dir_all(dir.path().join(log::LOG_DIR)).unwrap();

        let store = Store::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(store.durable_sequence(), entries.len() as u64);
        let upgraded: Vec<(u64, Vec<u8>)> = store
            .all_entries()
            .map(|(seq, bytes)| (seq, bytes.unwrap()))
            .collect();
        assert_eq!(upgraded, entries);
        assert_eq!(store.tree_root(entries.len() as u64).unwrap(), root);
        assert_eq!(store.derived_digest().unwrap(), digest);
        drop(store);
        // And it opens as format 2 from now on.
        let db = sled::open(dir.path().join(SLED_DIR)).unwrap();
        let v = db
            .open_tree("meta")
            .unwrap()
            .get(FORMAT_VERSION_KEY)
            .unwrap();
        assert_eq!(v.as_deref(), Some(&FORMAT_VERSION.to_be_bytes()[..]));
    }
}
