//! Re-hashing the entry log against what was recorded of it: at open and
//! by the background scrub. Two things can disagree with the log's bytes,
//! and they are told apart by the roots recorded outside sled (the last
//! signed checkpoint and the durable mark):
//!
//! - **the log** was changed (its bytes no longer hash to the leaves the
//!   writer stored, or to a recorded root): fatal, the store is refused at
//!   open and marked damaged while running, naming the first bad entry;
//! - **the derived rows** (sled, rebuilt from the log at any time) are
//!   missing or wrong while the log still hashes to the recorded roots:
//!   they are rebuilt from the log, with a log line saying so.
//!
//! At open the entries no signed checkpoint covers are re-hashed (the
//! reads check the rest as they are served; the scrub checks everything).

use std::{
    path::PathBuf,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use super::{Store, StoreError, mark};
use crate::model::merkle::{self, Hash};

/// A root recorded outside the derived rows: the last signed checkpoint
/// or the durable mark.
struct Recorded {
    path: PathBuf,
    size: u64,
    root: Hash,
    signed: bool,
}

/// What disagreed with the log.
enum Found {
    /// The log itself: refuse (at open) or mark the store damaged.
    Log(StoreError),
    /// Derived rows only: rebuild them from the log.
    Derived(String),
}

impl From<StoreError> for Found {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(why) => Found::Derived(why),
            other => Found::Log(other),
        }
    }
}

/// How the background scrub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrubOptions {
    /// Entry bytes re-hashed per second at most (0: no limit).
    pub bytes_per_second: u64,
}

/// What one scrub pass found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrubOutcome {
    /// Every entry up to `entries` hashes to its leaf, and the stored tree
    /// has the last checkpoint's root.
    Clean { entries: u64 },
    /// The log was changed: the store is now marked damaged.
    LogDamaged { sequence: u64, why: String },
    /// Derived rows disagree with an intact log: the commit pipeline
    /// rebuilds them ([`Store::reopen_rebuilding`]).
    DerivedDamaged { why: String },
    /// Asked to stop before the pass ended.
    Stopped { at: u64 },
}

/// What [`Store::each_raw`] calls per entry: (sequence, bytes, stored
/// leaf) → whether to go on.
type EachRaw<'a> = dyn FnMut(u64, &[u8], Option<Hash>) -> Result<bool, StoreError> + 'a;

/// Entries read per engine hold: a reopen never waits for a whole pass.
const CHUNK: u64 = 256;

impl Store {
    /// The roots recorded beside the store; one recording more entries
    /// than the log holds means acknowledged entries were lost.
    fn recorded_roots(&self, durable: u64) -> Result<Vec<Recorded>, StoreError> {
        let mut out = Vec::new();
        for (name, signed) in [(mark::LAST_CHECKPOINT_FILE, true), (mark::MARK_FILE, false)] {
            let path = self.dir.join(name);
            let Some((size, root)) = mark::read(&path) else {
                continue;
            };
            if size > durable {
                return Err(StoreError::Corrupt(format!(
                    "the log holds {durable} entries but {} records {size} durable ones: the store is damaged or older than its data dir; restore it from a backup (truced restore)",
                    path.display()
                )));
            }
            out.push(Recorded {
                path,
                size,
                root,
                signed,
            });
        }
        Ok(out)
    }

    /// At open and reopen: refuses a log that lost or changed entries,
    /// naming the first bad one, and rebuilds derived rows that disagree
    /// with an intact log. `rehash` re-hashes the entries no signed
    /// checkpoint covers (at open; a reopen in the same process, whose
    /// reads checked every entry they served, skips it to keep reads
    /// waiting as briefly as it can).
    pub(super) fn verify_at_open(&self, durable: u64, rehash: bool) -> Result<(), StoreError> {
        let recorded = self.recorded_roots(durable)?;
        let covered = if rehash {
            recorded
                .iter()
                .filter(|r| r.signed)
                .map(|r| r.size)
                .max()
                .unwrap_or(0)
        } else {
            durable
        };
        match self.find_damage(durable, covered, &recorded) {
            Ok(()) => Ok(()),
            Err(Found::Log(e)) => Err(e),
            Err(Found::Derived(why)) => {
                tracing::warn!(reason = %why, "the derived rows disagree with the entry log; rebuilding them from the log");
                let stats = self.reindex()?;
                tracing::info!(
                    entries = stats.entries,
                    "derived rows rebuilt from the entry log"
                );
                for r in &recorded {
                    if self.tree_root(r.size)? != r.root {
                        return Err(log_differs(r, None));
                    }
                }
                Ok(())
            }
        }
    }

    /// Every entry 1..=durable has its rows; the stored tree has every
    /// recorded root; the entries after `covered` hash to their leaves.
    fn find_damage(&self, durable: u64, covered: u64, recorded: &[Recorded]) -> Result<(), Found> {
        let e = self.engine()?;
        let mut expected = 1u64;
        for item in e.trees.entries(1, durable)? {
            let (seq, offset) = item?;
            if seq != expected {
                return Err(Found::Derived(format!(
                    "entry {expected} has no offset row"
                )));
            }
            if seq > covered {
                let leaf = e.trees.tree_node(0, seq - 1)?;
                let bytes = e.log.read(seq, offset)?;
                match leaf {
                    None => {
                        return Err(Found::Derived(format!("entry {seq} has no Merkle leaf")));
                    }
                    Some(leaf) if leaf != merkle::leaf_hash(&bytes) => {
                        return Err(Found::Log(self.integrity.tampered(
                            seq,
                            "its bytes no longer hash to the leaf stored when it was written",
                        )));
                    }
                    Some(_) => {}
                }
            }
            expected += 1;
        }
        if expected != durable + 1 {
            return Err(Found::Derived(format!(
                "entry {expected} has no offset row"
            )));
        }
        drop(e);
        for r in recorded {
            self.check_recorded(r)?;
        }
        Ok(())
    }

    /// The stored tree has `r`'s root; if not, whether the log does
    /// (then only the tree is wrong).
    fn check_recorded(&self, r: &Recorded) -> Result<(), Found> {
        if self.tree_root(r.size)? == r.root {
            return Ok(());
        }
        if self.log_root(r.size)? == r.root {
            return Err(Found::Derived(format!(
                "the stored tree at size {} differs from the root {} records, which the log has",
                r.size,
                r.path.display()
            )));
        }
        let first = self.first_changed_leaf(r.size)?;
        if let Some(seq) = first {
            let _ = self
                .integrity
                .tampered(seq, "the log no longer hashes to a recorded root");
        }
        Err(Found::Log(log_differs(r, first)))
    }

    /// The root of the log's first `size` entries, hashed from their bytes
    /// (not from the stored tree).
    fn log_root(&self, size: u64) -> Result<Hash, StoreError> {
        // The roots of complete subtrees, largest (leftmost) first.
        let mut stack: Vec<(u32, Hash)> = Vec::new();
        self.each_raw(size, &mut |_, bytes, _| {
            let (mut height, mut hash) = (0u32, merkle::leaf_hash(bytes));
            while stack.last().is_some_and(|(h, _)| *h == height) {
                let Some((_, left)) = stack.pop() else { break };
                hash = merkle::node_hash(&left, &hash);
                height += 1;
            }
            stack.push((height, hash));
            Ok(true)
        })?;
        let Some((_, mut root)) = stack.pop() else {
            return Ok(merkle::empty_root());
        };
        while let Some((_, left)) = stack.pop() {
            root = merkle::node_hash(&left, &root);
        }
        Ok(root)
    }

    /// The first of the log's first `size` entries whose bytes do not hash
    /// to its stored leaf.
    fn first_changed_leaf(&self, size: u64) -> Result<Option<u64>, StoreError> {
        let mut first = None;
        self.each_raw(size, &mut |seq, bytes, leaf| {
            if leaf.is_some_and(|l| l != merkle::leaf_hash(bytes)) {
                first = Some(seq);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(first)
    }

    /// Calls `f(seq, bytes, stored leaf)` for entries 1..=size as the log
    /// holds them (unchecked), holding the engine for [`CHUNK`] entries at
    /// a time, until `f` returns false.
    fn each_raw(&self, size: u64, f: &mut EachRaw<'_>) -> Result<u64, StoreError> {
        let mut from = 1u64;
        while from <= size {
            let to = size.min(from + CHUNK - 1);
            let e = self.engine()?;
            for item in e.trees.entries(from, to)? {
                let (seq, offset) = item?;
                let bytes = e.log.read(seq, offset)?;
                if !f(seq, &bytes, e.trees.tree_node(0, seq - 1)?)? {
                    return Ok(seq);
                }
            }
            from = to + 1;
        }
        Ok(size)
    }

    /// One pass of the background scrub: re-hashes every durable entry
    /// against its stored leaf at up to `options.bytes_per_second`, then
    /// checks the stored tree against the last checkpoint. Progress goes
    /// into [`Store::integrity`]; `stop` ends the pass early.
    pub fn scrub(
        &self,
        options: &ScrubOptions,
        stop: &dyn Fn() -> bool,
    ) -> Result<ScrubOutcome, StoreError> {
        let size = self.durable_sequence();
        let started = Instant::now();
        let mut bytes_done = 0u64;
        let mut found: Option<ScrubOutcome> = None;
        let mut expected = 1u64;
        let at = self.each_raw(size, &mut |seq, bytes, leaf| {
            self.integrity.scrub_position.store(seq, Ordering::Relaxed);
            bytes_done += bytes.len() as u64;
            let missing = expected;
            expected = seq + 1;
            found = match leaf {
                _ if seq != missing => Some(ScrubOutcome::DerivedDamaged {
                    why: format!("entry {missing} has no offset row"),
                }),
                None => Some(ScrubOutcome::DerivedDamaged {
                    why: format!("entry {seq} has no Merkle leaf"),
                }),
                Some(leaf) if leaf != merkle::leaf_hash(bytes) => {
                    let why = "its bytes no longer hash to the leaf stored when it was written";
                    let _ = self.integrity.tampered(seq, why);
                    Some(ScrubOutcome::LogDamaged {
                        sequence: seq,
                        why: why.to_owned(),
                    })
                }
                Some(_) => None,
            };
            pace(started, bytes_done, options.bytes_per_second);
            Ok(found.is_none() && !stop())
        })?;
        if let Some(outcome) = found {
            return Ok(self.scrub_found(outcome));
        }
        if at < size && stop() {
            return Ok(ScrubOutcome::Stopped { at });
        }
        if expected != size + 1 {
            return Ok(self.scrub_found(ScrubOutcome::DerivedDamaged {
                why: format!("entry {expected} has no offset row"),
            }));
        }
        let recorded = self.recorded_roots(self.durable_sequence())?;
        for r in recorded.iter().filter(|r| r.signed) {
            match self.check_recorded(r) {
                Ok(()) => {}
                Err(Found::Derived(why)) => {
                    return Ok(self.scrub_found(ScrubOutcome::DerivedDamaged { why }));
                }
                Err(Found::Log(e)) => {
                    let sequence = match &e {
                        StoreError::Tampered { sequence, .. } => *sequence,
                        _ => r.size,
                    };
                    return Ok(self.scrub_found(ScrubOutcome::LogDamaged {
                        sequence,
                        why: e.to_string(),
                    }));
                }
            }
        }
        self.integrity.scrub_passes.fetch_add(1, Ordering::Relaxed);
        Ok(ScrubOutcome::Clean { entries: size })
    }

    /// Counts and logs what a scrub pass found.
    fn scrub_found(&self, outcome: ScrubOutcome) -> ScrubOutcome {
        match &outcome {
            ScrubOutcome::LogDamaged { sequence, why } => {
                self.integrity.scrub_damaged.fetch_add(1, Ordering::Relaxed);
                tracing::error!(sequence, reason = %why, "scrub: the entry log was changed; writes and checkpoints stop until an operator restores it");
            }
            ScrubOutcome::DerivedDamaged { why } => {
                self.integrity.scrub_derived.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = %why, "scrub: the derived rows disagree with the entry log; rebuilding them");
            }
            ScrubOutcome::Clean { .. } | ScrubOutcome::Stopped { .. } => {}
        }
        outcome
    }
}

/// Sleeps as long as it takes to keep `done` bytes since `started` under
/// `rate` bytes per second.
fn pace(started: Instant, done: u64, rate: u64) {
    if rate == 0 {
        return;
    }
    let due = Duration::from_secs_f64(done as f64 / rate as f64);
    if let Some(ahead) = due.checked_sub(started.elapsed()) {
        std::thread::sleep(ahead);
    }
}

/// The refusal of a log that no longer hashes to a recorded root.
fn log_differs(r: &Recorded, first: Option<u64>) -> StoreError {
    let what = if r.signed {
        "signed checkpoint"
    } else {
        "durable mark"
    };
    StoreError::Tampered {
        sequence: first.unwrap_or(r.size),
        why: match first {
            Some(seq) => format!(
                "the log's first {} entries no longer hash to the root of the {what} in {}; entry {seq} is the first that differs from the tree stored when it was written",
                r.size,
                r.path.display()
            ),
            None => format!(
                "the log's first {} entries no longer hash to the root of the {what} in {}; an entry at or before {} was changed",
                r.size,
                r.path.display(),
                r.size
            ),
        },
    }
}
