//! What the store swaps on a reopen: sled's database, the derived rows
//! (in memory and in sled), the entry log, and the files sled's flush
//! leaves unsynced. Opening one brings the derived rows up to the log:
//! they are sealed into sled and synced in the background, not per group
//! (the log is), so after a crash sled may hold fewer entries' rows than
//! the log, and those are derived again here from the log's frames.

use std::{
    path::Path,
    sync::{
        Arc, Condvar, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    FORMAT_VERSION, FORMAT_VERSION_KEY, SLED_DIR, StoreError, StoreOptions, files, keys,
    log::{self, Log},
    trees::Trees,
};

/// The kinds of derived row. They share one sled tree, each under its
/// tag byte, so that a seal is one atomic `apply_batch` (sled's
/// transactions over several trees read every key they write first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowKind {
    /// Offsets of entries' frames: a run of sequences per row
    /// ([`super::blocks`]).
    Entries = 1,
    Records = 2,
    Requests = 3,
    Views = 4,
    /// Postings of one term, one row of its own each (format 2's only
    /// kind; now a correction's postings of older records).
    Indexes = 5,
    /// Tree nodes: a run of leaves per row ([`super::blocks`]).
    Tree = 6,
    /// Postings of one term packed per seal ([`super::blocks`]).
    Postings = 7,
}

impl RowKind {
    /// The spaces of the rows as the writer makes them, by name (packed
    /// postings are `indexes` rows unpacked).
    pub(super) const ALL: [(RowKind, &'static str); 6] = [
        (RowKind::Entries, "entries"),
        (RowKind::Records, "records"),
        (RowKind::Requests, "requests"),
        (RowKind::Views, "views"),
        (RowKind::Indexes, "indexes"),
        (RowKind::Tree, "tree"),
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

/// sled's database, its trees, the entry log and the files sled's flush
/// leaves unsynced.
pub(super) struct Engine {
    pub db: sled::Db,
    pub trees: Trees,
    pub log: Log,
    pub files: files::Files,
    /// Set by every seal into sled, cleared by the background flush.
    pub dirty: AtomicBool,
    /// Wakes the background seal before its next tick.
    pub wake: Arc<Wake>,
}

/// A doorbell for the background seal.
#[derive(Debug, Default)]
pub(super) struct Wake {
    due: Mutex<bool>,
    rung: Condvar,
}

impl Wake {
    /// Asks the background thread to seal now.
    pub fn ring(&self) {
        if let Ok(mut due) = self.due.lock() {
            *due = true;
            self.rung.notify_one();
        }
    }

    /// Waits until rung or `timeout` passed; whether it was rung.
    fn wait(&self, timeout: Duration) -> bool {
        let Ok(due) = self.due.lock() else {
            std::thread::sleep(timeout);
            return false;
        };
        let mut due = match self.rung.wait_timeout_while(due, timeout, |due| !*due) {
            Ok((due, _)) => due,
            Err(poisoned) => poisoned.into_inner().0,
        };
        std::mem::take(&mut *due)
    }
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
                    flush_in_background(Arc::downgrade(&engine), Arc::clone(&engine.wake));
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
        let trees = Trees::new(db.open_tree("derived")?);
        let meta = db.open_tree("meta")?;
        let files = files::Files::open(dir, &sled_dir)?;
        let log_dir = dir.join(log::LOG_DIR);
        settle_format(dir, &db, &meta, &trees, &files, &log_dir, options)?;
        let mut replayed = 0u64;
        let mut open_log = |after| {
            replayed = 0;
            Log::open(&log_dir, options.segment_bytes, after, &mut |s| {
                replayed += 1;
                trees.replay(s)
            })
        };
        let log = match trees.last_indexed().and_then(&mut open_log) {
            Ok(Ok(log)) => log,
            Err(e) if !e.is_derived_damage() => return Err(e),
            found => {
                // The derived trees hold entries the log does not (sled
                // wrote rows of a group whose frames never reached the
                // disk), or rows that disagree with it: only the log is
                // the record, so derive them all again from it.
                let why = match found {
                    Ok(Err(log::Behind(why))) => why,
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::warn!(reason = %why, "the derived rows disagree with the entry log; rebuilding them from the log");
                trees.clear()?;
                open_log(None)?.map_err(|log::Behind(why)| StoreError::Corrupt(why))?
            }
        };
        trees.seal()?;
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
            wake: Arc::default(),
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

/// Checks the store's format version (written on a new store): format 1
/// is upgraded by copying its entries into the log, format 2 has its rows
/// derived again, packed; any other is refused.
fn settle_format(
    dir: &Path,
    db: &sled::Db,
    meta: &sled::Tree,
    trees: &Trees,
    files: &files::Files,
    log_dir: &Path,
    options: &StoreOptions,
) -> Result<(), StoreError> {
    match meta.get(FORMAT_VERSION_KEY)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("format version key is malformed".into()))?;
            if found == 1 {
                upgrade_from_1(db, log_dir, options)?;
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
            } else if found == 2 {
                // Format 2 kept a row per fact in sled: derive them
                // again, packed, from the log (a rebuild cut short
                // goes on from where it stopped).
                tracing::info!("upgrading the store from format 2: deriving its indexes again");
                trees.clear()?;
                meta.insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
            } else if found != FORMAT_VERSION {
                return Err(StoreError::FormatVersion {
                    path: dir.to_owned(),
                    found,
                    expected: FORMAT_VERSION,
                });
            }
        }
        None => {
            if !trees.is_empty()? {
                return Err(StoreError::Corrupt(
                    "entries exist but no format version was written".into(),
                ));
            }
            meta.insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
        }
    }
    Ok(())
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

/// The trees of format 1, dropped once upgraded.
const FORMAT_1_TREES: [&str; 6] = ["entries", "records", "requests", "views", "indexes", "tree"];

/// Seals the rows in memory into sled when the writer rings (every
/// [`SEAL_ENTRIES`](super::trees::SEAL_ENTRIES)) or every [`FLUSH_EVERY`],
/// then flushes and syncs sled if a seal changed it, until the engine is
/// dropped. Bounds what an open has to derive again after a crash. The
/// thread holds the engine only while it works, so a reopen is not kept
/// waiting.
fn flush_in_background(engine: Weak<Engine>, wake: Arc<Wake>) {
    let started = std::thread::Builder::new()
        .name("truce-flush".into())
        .spawn(move || {
            loop {
                let rung = wake.wait(FLUSH_EVERY);
                let Some(e) = engine.upgrade() else {
                    return;
                };
                match e.trees.seal_in_background(!rung) {
                    Ok(true) => e.dirty.store(true, Ordering::Release),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "background seal of the indexes failed")
                    }
                }
                if e.dirty.swap(false, Ordering::AcqRel)
                    && let Err(err) = e.flush_derived()
                {
                    e.dirty.store(true, Ordering::Release);
                    tracing::warn!(error = %err, "background flush of the indexes failed");
                }
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no thread for the background flush; the indexes are sealed by the writer and flushed at close");
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

    /// The format version a closed store records.
    fn format_on_disk(dir: &Path) -> u32 {
        let db = sled::open(dir.join(SLED_DIR)).unwrap();
        let v = db
            .open_tree("meta")
            .unwrap()
            .get(FORMAT_VERSION_KEY)
            .unwrap()
            .unwrap();
        u32::from_be_bytes(v.as_ref().try_into().unwrap())
    }

    /// What readers can see of the derived rows.
    type Seen = (
        Vec<crate::store::DerivedRow>,
        Vec<Vec<(u64, String)>>,
        Vec<(u64, String)>,
        Vec<(u64, Vec<u8>)>,
        Vec<crate::model::merkle::Hash>,
    );

    fn seen(store: &Store) -> Seen {
        let digest = store.derived_digest().unwrap();
        let mut terms: Vec<Vec<u8>> = digest
            .iter()
            .filter(|(space, _, _)| space == "indexes")
            .map(|(_, key, _)| key[..key.len() - keys::SEQ_LEN].to_vec())
            .collect();
        terms.dedup();
        let last = store.durable_sequence();
        let mut scans = Vec::new();
        for term in &terms {
            for after in [0, 2, last / 2, last - 1] {
                scans.push(store.scan_index(term, after).map(Result::unwrap).collect());
            }
        }
        let mut range: Vec<(u64, String)> = store
            .scan_index_range(&[0x00], &[0xff])
            .map(Result::unwrap)
            .collect();
        range.sort();
        range.dedup();
        let entries = store.read_entries(3, 1000, usize::MAX).unwrap();
        let roots = (1..=last).map(|n| store.tree_root(n).unwrap()).collect();
        (digest, scans, range, entries, roots)
    }

    #[test]
    fn derived_rows_read_the_same_however_they_were_sealed() {
        let dir = tempfile::tempdir().unwrap();
        seeded(dir.path());
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        let sealed_at_close = seen(&store);
        assert!(!sealed_at_close.1.iter().all(Vec::is_empty));
        let e = store.engine().unwrap();
        // Sealing after every entry makes a correction's postings of older
        // records rows of their own; the last entries stay in memory.
        for every in [1u64, 2, 5, 1000] {
            e.trees.clear().unwrap();
            let mut n = 0u64;
            e.log
                .scan_all(&mut |frame| {
                    let batch = e.trees.derive(frame.seq, frame.bytes, frame.read)?;
                    e.trees.commit(&batch, &[(frame.seq, frame.offset)])?;
                    e.trees.synced()?;
                    n += 1;
                    if n.is_multiple_of(every) && n + 3 < store.durable_sequence() {
                        e.trees.seal()?;
                    }
                    Ok(())
                })
                .unwrap();
            assert_eq!(seen(&store), sealed_at_close, "sealed every {every}");
        }
        e.trees.seal().unwrap();
        assert_eq!(seen(&store), sealed_at_close, "all sealed");
    }

    #[test]
    fn a_format_2_store_derives_its_rows_again_packed() {
        let dir = tempfile::tempdir().unwrap();
        seeded(dir.path());
        let before = seen(&Store::open(dir.path(), 16 << 20).unwrap());
        // As format 2 left it: a row of the exact occurred time (gone in
        // format 3) among the rows, and the format number.
        {
            let db = sled::open(dir.path().join(SLED_DIR)).unwrap();
            let mut stale = vec![RowKind::Indexes as u8, 0x0a];
            stale.extend_from_slice(&[0u8; 20]);
            db.open_tree("derived")
                .unwrap()
                .insert(stale, &b"seed-report-1"[..])
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(FORMAT_VERSION_KEY, &2u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(seen(&store), before);
        drop(store);
        assert_eq!(format_on_disk(dir.path()), 3);
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
        // And it opens as the current format from now on.
        assert_eq!(format_on_disk(dir.path()), FORMAT_VERSION);
    }
}
