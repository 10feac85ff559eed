//! The rows derived from the entry log, as readers and the writer see
//! them: those of recent entries in memory ([`super::recent`]), the rest
//! sealed into sled's `derived` tree ([`super::blocks`] says how they are
//! packed). Every lookup here reads memory first, then sled.

use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    Batch, RecordKind, StoreError, blocks,
    engine::RowKind,
    keys,
    log::{After, ReadFrame, Scanned},
    merge::{Merged, Source},
    poisoned,
    recent::{Recent, Rows},
};
use crate::model::{decode_entry, derive, merkle, project};

/// Entries in memory at which the writer asks for a seal. sled's
/// `apply_batch` holds off its readers (the writer's lookups among them)
/// while it runs, so a seal is kept short: with 4,096 the 64-client p99
/// latency doubled, with 256 the packed rows grew (docs/benchmarks.md).
pub(super) const SEAL_ENTRIES: usize = 1024;
/// Entries in memory at which the writer seals them itself: the
/// background seal is behind (or failing, and the writer should hear of it).
pub(super) const MAX_RECENT_ENTRIES: usize = 4 * SEAL_ENTRIES;

/// sled's tree of derived rows and the rows not yet sealed into it.
pub(super) struct Trees {
    rows: sled::Tree,
    recent: RwLock<Recent>,
    /// Held by whoever writes a frozen set of rows into sled.
    sealing: Mutex<()>,
}

/// A stream of (sequence, item) pairs in sequence order.
pub(super) type Ordered<T> = Merged<'static, T>;

/// A stream of results that owns what it reads.
type Stream<T> = Source<'static, T>;

impl Trees {
    pub(super) fn new(rows: sled::Tree) -> Self {
        Self {
            rows,
            recent: RwLock::new(Recent::default()),
            sealing: Mutex::new(()),
        }
    }

    fn recent(&self) -> Result<RwLockReadGuard<'_, Recent>, StoreError> {
        self.recent.read().map_err(poisoned)
    }

    fn recent_mut(&self) -> Result<RwLockWriteGuard<'_, Recent>, StoreError> {
        self.recent.write().map_err(poisoned)
    }

    /// Whether neither sled nor memory holds a row.
    pub(super) fn is_empty(&self) -> Result<bool, StoreError> {
        let recent = self.recent()?;
        Ok(self.rows.is_empty() && recent.active.is_empty() && recent.frozen.is_none())
    }

    /// The row under `key` in `space` (records, requests, views: the
    /// spaces of one row per key).
    pub(super) fn get(&self, space: RowKind, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = space.key(key);
        if let Some(v) = self.recent()?.get(&key) {
            return Ok(Some(v));
        }
        Ok(self.rows.get(key)?.map(|v| v.to_vec()))
    }

    /// The sled row of a packed space whose run holds `at`, if any:
    /// (the run's first key, the run).
    fn run_at(&self, space: RowKind, at: u64) -> Result<Option<(u64, sled::IVec)>, StoreError> {
        let Some((k, v)) = self
            .rows
            .range(space.key(&[])..=space.key(&at.to_be_bytes()))
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let first = keys::decode_seq(RowKind::untag(&k))
            .ok_or_else(|| StoreError::Corrupt("malformed run key".into()))?;
        Ok(Some((first, v)))
    }

    /// Removes the sealed run of entry offsets that holds `at`: derived
    /// rows lost as a damaged sled loses them (tests only).
    #[cfg(feature = "testing")]
    pub(super) fn forget_entries_run(&self, at: u64) -> Result<bool, StoreError> {
        let Some((first, _)) = self.run_at(RowKind::Entries, at)? else {
            return Ok(false);
        };
        let key = RowKind::Entries.key(&keys::entry_key(first));
        Ok(self.rows.remove(key)?.is_some())
    }

    /// The offset of an entry's frame, if the trees hold it.
    pub(super) fn offset(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        let key = RowKind::Entries.key(&keys::entry_key(sequence));
        if let Some(v) = self.recent()?.get(&key) {
            return entry_row(&key, &v).map(|(_, o)| Some(o));
        }
        Ok(self
            .run_at(RowKind::Entries, sequence)?
            .and_then(|(first, run)| blocks::offset_in(first, &run, sequence)))
    }

    /// A stored Merkle tree node: the hash of the complete subtree at
    /// `level` and `index`.
    pub(super) fn tree_node(
        &self,
        level: u8,
        index: u64,
    ) -> Result<Option<merkle::Hash>, StoreError> {
        // Node (level, index) was completed by the append of its last leaf.
        let Some(leaf) = 1u64
            .checked_shl(u32::from(level))
            .and_then(|width| index.checked_add(1)?.checked_mul(width))
            .map(|end| end - 1)
        else {
            return Ok(None);
        };
        if let Some(v) = self
            .recent()?
            .get(&RowKind::Tree.key(&keys::tree_key(leaf)))
        {
            let at = usize::from(level) * 32;
            return Ok(v.get(at..at + 32).and_then(|h| h.try_into().ok()));
        }
        Ok(self
            .run_at(RowKind::Tree, leaf)?
            .and_then(|(first, run)| blocks::node_in(first, &run, leaf, level)))
    }

    /// The last entry the derived trees hold, and its frame's offset.
    pub(super) fn last_indexed(&self) -> Result<Option<After>, StoreError> {
        let range = RowKind::Entries.key(&[])..=RowKind::Entries.key(&[0xff; 8]);
        if let Some((k, v)) = self.recent()?.last(range) {
            let (seq, offset) = entry_row(&k, &v)?;
            return Ok(Some(After { seq, offset }));
        }
        let Some((first, run)) = self.run_at(RowKind::Entries, u64::MAX)? else {
            return Ok(None);
        };
        Ok(blocks::offsets(first, &run)?
            .last()
            .map(|&(seq, offset)| After { seq, offset }))
    }

    /// (sequence, offset) of the entries from `from` to `to` inclusive.
    pub(super) fn entries(&self, from: u64, to: u64) -> Result<Ordered<u64>, StoreError> {
        let key = |s: u64| RowKind::Entries.key(&keys::entry_key(s));
        let memory = self.recent()?.range(key(from)..=key(to));
        let start = self
            .run_at(RowKind::Entries, from)?
            .map_or(from, |(first, _)| first);
        let sled: Stream<u64> = Box::new(self.rows.range(key(start)..=key(to)).flat_map(
            move |row| -> Vec<Result<(u64, u64), StoreError>> {
                let run = row.map_err(StoreError::from).and_then(|(k, v)| {
                    let first = keys::decode_seq(RowKind::untag(&k))
                        .ok_or_else(|| StoreError::Corrupt("malformed run key".into()))?;
                    blocks::offsets(first, &v)
                });
                match run {
                    Ok(run) => run
                        .into_iter()
                        .filter(|(s, _)| (from..=to).contains(s))
                        .map(Ok)
                        .collect(),
                    Err(e) => vec![Err(e)],
                }
            },
        ));
        let memory: Stream<u64> = Box::new(memory.into_iter().map(|(k, v)| entry_row(&k, &v)));
        Ok(Merged::new(vec![memory, sled]))
    }

    /// The postings of the term with key prefix `term` whose creating
    /// sequence is after `after`, in sequence order: (sequence, id).
    pub(super) fn postings(&self, term: &[u8], after: u64) -> Result<Ordered<String>, StoreError> {
        let Some(low) = after.checked_add(1) else {
            return Ok(Merged::new(Vec::new()));
        };
        let at = |space: RowKind, s: u64| {
            let mut k = term.to_vec();
            k.extend_from_slice(&s.to_be_bytes());
            space.key(&k)
        };
        let memory = self
            .recent()?
            .range(at(RowKind::Indexes, low)..=at(RowKind::Indexes, u64::MAX));
        let singles = self
            .rows
            .range(at(RowKind::Indexes, low)..=at(RowKind::Indexes, u64::MAX));
        // The packed row holding `low`, if one does, starts before it.
        let start = self
            .rows
            .range(at(RowKind::Postings, 0)..=at(RowKind::Postings, low))
            .next_back()
            .transpose()?
            .map_or_else(|| at(RowKind::Postings, low), |(k, _)| k.to_vec());
        let packed = self
            .rows
            .range(start..=at(RowKind::Postings, u64::MAX))
            .flat_map(move |row| -> Vec<Result<(u64, String), StoreError>> {
                match row
                    .map_err(StoreError::from)
                    .and_then(|(_, v)| blocks::postings(&v))
                {
                    Ok(list) => list
                        .into_iter()
                        .filter(|(s, _)| *s >= low)
                        .map(Ok)
                        .collect(),
                    Err(e) => vec![Err(e)],
                }
            });
        let memory: Stream<String> = Box::new(memory.into_iter().map(|(k, v)| index_row(&k, &v)));
        let singles: Stream<String> = Box::new(singles.map(|row| {
            row.map_err(StoreError::from)
                .and_then(|(k, v)| index_row(&k, &v))
        }));
        Ok(Merged::new(vec![memory, singles, Box::new(packed)]))
    }

    /// The postings of every term whose key prefix lies in `[from, to)`,
    /// in no particular order, possibly repeated.
    pub(super) fn postings_between(
        &self,
        from: &[u8],
        to: &[u8],
    ) -> Result<impl Iterator<Item = Result<(u64, String), StoreError>> + use<>, StoreError> {
        let memory = self
            .recent()?
            .range(RowKind::Indexes.key(from)..RowKind::Indexes.key(to));
        let singles = self
            .rows
            .range(RowKind::Indexes.key(from)..RowKind::Indexes.key(to))
            .map(|row| {
                row.map_err(StoreError::from)
                    .and_then(|(k, v)| index_row(&k, &v))
            });
        let packed = self
            .rows
            .range(RowKind::Postings.key(from)..RowKind::Postings.key(to))
            .flat_map(|row| -> Vec<Result<(u64, String), StoreError>> {
                match row
                    .map_err(StoreError::from)
                    .and_then(|(_, v)| blocks::postings(&v))
                {
                    Ok(list) => list.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                }
            });
        Ok(memory
            .into_iter()
            .map(|(k, v)| index_row(&k, &v))
            .chain(singles)
            .chain(packed))
    }

    /// Rows of a one-row-per-key space (records, requests).
    pub(super) fn count(&self, space: RowKind) -> Result<u64, StoreError> {
        let memory = self
            .recent()?
            .range(space.key(&[])..vec![space as u8 + 1])
            .len() as u64;
        Ok(memory + self.rows.scan_prefix([space as u8]).count() as u64)
    }

    /// Every derived row, one row per fact as the writer made it (packed
    /// runs unpacked), by tagged key: what a rebuild must reproduce.
    pub(super) fn logical(&self) -> Result<Rows, StoreError> {
        let memory = self.recent()?.all();
        let mut out = Rows::new();
        for row in self.rows.iter() {
            let (k, v) = row?;
            let bare = RowKind::untag(&k);
            let first = || {
                keys::decode_seq(bare)
                    .ok_or_else(|| StoreError::Corrupt("malformed run key".into()))
            };
            match k.first().copied() {
                Some(t) if t == RowKind::Entries as u8 => {
                    for (seq, offset) in blocks::offsets(first()?, &v)? {
                        out.insert(
                            RowKind::Entries.key(&keys::entry_key(seq)),
                            offset.to_be_bytes().to_vec(),
                        );
                    }
                }
                Some(t) if t == RowKind::Tree as u8 => {
                    for (leaf, nodes) in blocks::leaves(first()?, &v)? {
                        out.insert(RowKind::Tree.key(&keys::tree_key(leaf)), nodes);
                    }
                }
                Some(t) if t == RowKind::Postings as u8 => {
                    let term = blocks::postings_term(bare);
                    for (seq, id) in blocks::postings(&v)? {
                        let mut key = term.to_vec();
                        key.extend_from_slice(&seq.to_be_bytes());
                        out.insert(RowKind::Indexes.key(&key), id.into_bytes());
                    }
                }
                _ => {
                    out.insert(k.to_vec(), v.to_vec());
                }
            }
        }
        out.extend(memory);
        Ok(out)
    }

    /// Empties sled's rows and memory's.
    pub(super) fn clear(&self) -> Result<(), StoreError> {
        // Not while a seal writes rows that belong to what is cleared.
        let _sealing = self.sealing.lock().map_err(poisoned)?;
        self.rows.clear()?;
        *self.recent_mut()? = Recent::default();
        Ok(())
    }

    /// Derives and keeps the rows of one entry found in the log, sealing
    /// them into sled every [`SEAL_ENTRIES`] (an open or a reindex).
    pub(super) fn replay(&self, s: Scanned<'_>) -> Result<(), StoreError> {
        let batch = self.derive(s.seq, s.bytes, s.read)?;
        let (unsealed, _) = self.commit(&batch, &[(s.seq, s.offset)])?;
        // Read back from the log's files: nothing to wait for.
        self.synced()?;
        if unsealed >= SEAL_ENTRIES {
            self.seal()?;
        }
        Ok(())
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
        if let Some(bytes) = self.get(RowKind::Views, &key)? {
            return project::View::decode(kind, &bytes)
                .map(Some)
                .map_err(|why| StoreError::Corrupt(format!("view of {id}: {why}")));
        }
        let Some(created) = self.get(RowKind::Records, &key)? else {
            return Ok(None);
        };
        let seq = keys::decode_seq(&created)
            .ok_or_else(|| StoreError::Corrupt(format!("record {id} is malformed")))?;
        let offset = self
            .offset(seq)?
            .ok_or_else(|| StoreError::Corrupt(format!("entry {seq} of {id} is missing")))?;
        let entry = decode_entry(seq, read(seq, offset)?.as_slice())?;
        project::apply(None, kind, id, &entry)
            .map(Some)
            .map_err(|why| StoreError::Corrupt(why.to_string()))
    }

    /// The rows an entry adds, given the rows of every entry before it:
    /// what the writer computes for it (tested: reindex reproduces them).
    pub(super) fn derive(
        &self,
        seq: u64,
        bytes: &[u8],
        read: ReadFrame<'_>,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        let nodes = merkle::append(seq - 1, merkle::leaf_hash(bytes), |level, index| {
            self.tree_node(level, index)?
                .ok_or_else(|| StoreError::Corrupt(format!("tree node {level}/{index} missing")))
        })?;
        if !nodes.is_empty() {
            batch.push_nodes(seq - 1, &nodes);
        }
        let entry = decode_entry(seq, bytes)?;
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

    /// Keeps a group's derived rows and its entries' offsets in memory,
    /// all at once (readers see none or all of them), until
    /// [`Trees::synced`] says their entries are on stable storage. Every
    /// group before it is: if a seal waits for that, the rows before this
    /// group are frozen first. Returns how many entries memory holds
    /// unsealed, and whether rows were frozen for a seal to write.
    pub(super) fn commit(
        &self,
        batch: &Batch,
        offsets: &[(u64, u64)],
    ) -> Result<(usize, bool), StoreError> {
        if let Some((first, _)) = offsets.first()
            && self.offset(*first)?.is_some()
        {
            return Err(StoreError::Corrupt(format!("entry {first} already exists")));
        }
        let mut recent = self.recent_mut()?;
        let froze = recent.freeze_wanted && recent.frozen.is_none();
        if froze {
            recent.freeze();
        }
        recent.unsynced = true;
        for (seq, offset) in offsets {
            recent.active.insert(
                RowKind::Entries.key(&keys::entry_key(*seq)),
                offset.to_be_bytes().to_vec(),
            );
        }
        for (key, seq) in &batch.records {
            recent
                .active
                .insert(RowKind::Records.key(key), keys::entry_key(*seq).to_vec());
        }
        let spaces = [
            (RowKind::Requests, &batch.requests),
            (RowKind::Views, &batch.views),
            (RowKind::Indexes, &batch.indexes),
            (RowKind::Tree, &batch.nodes),
        ];
        for (space, pairs) in spaces {
            for (key, value) in pairs {
                recent.active.insert(space.key(key), value.clone());
            }
        }
        recent.entries += offsets.len();
        Ok((recent.entries, froze))
    }

    /// The entries of every row in memory are on stable storage now.
    pub(super) fn synced(&self) -> Result<(), StoreError> {
        self.recent_mut()?.unsynced = false;
        Ok(())
    }

    /// Entries in memory not yet sealed.
    pub(super) fn unsealed(&self) -> Result<usize, StoreError> {
        Ok(self.recent()?.entries)
    }

    /// Moves the rows in memory into sled as atomic batches, packed
    /// ([`blocks::seal_rows`]); returns whether it wrote any. Rows of
    /// entries not yet synced are not frozen: the writer freezes them at
    /// its next group ([`Trees::commit`]) and a later seal writes them. A
    /// seal that failed is tried again first. sled is not flushed here.
    pub(super) fn seal(&self) -> Result<bool, StoreError> {
        self.seal_if(|_| true)
    }

    /// [`Trees::seal`] as the background thread runs it: on the writer's
    /// ring, it asks the writer to freeze only once [`SEAL_ENTRIES`] are
    /// in memory (the ring after a freeze is for writing what was
    /// frozen); on its timer (`due`), whatever is there.
    pub(super) fn seal_in_background(&self, due: bool) -> Result<bool, StoreError> {
        self.seal_if(|recent| due || recent.entries >= SEAL_ENTRIES)
    }

    fn seal_if(&self, wanted: impl Fn(&Recent) -> bool) -> Result<bool, StoreError> {
        let _sealing = self.sealing.lock().map_err(poisoned)?;
        let mut wrote = false;
        loop {
            let frozen = {
                let mut recent = self.recent_mut()?;
                if recent.frozen.is_none() && !recent.active.is_empty() {
                    if !recent.unsynced {
                        recent.freeze();
                    } else if !wrote && wanted(&recent) {
                        recent.freeze_wanted = true;
                    }
                }
                recent.frozen.clone()
            };
            let Some(frozen) = frozen else {
                return Ok(wrote);
            };
            let mut batch = sled::Batch::default();
            for (key, value) in blocks::seal_rows(&frozen)? {
                batch.insert(key, value);
            }
            self.rows.apply_batch(batch)?;
            self.recent_mut()?.frozen = None;
            wrote = true;
        }
    }
}

/// An `entries` row as the writer makes it: (sequence, offset of its frame).
pub(super) fn entry_row(key: &[u8], value: &[u8]) -> Result<(u64, u64), StoreError> {
    match (
        keys::decode_seq(RowKind::untag(key)),
        keys::decode_seq(value),
    ) {
        (Some(seq), Some(offset)) => Ok((seq, offset)),
        _ => Err(StoreError::Corrupt("malformed entry offset".into())),
    }
}

/// A posting row of its own: (creating sequence, record id).
fn index_row(key: &[u8], value: &[u8]) -> Result<(u64, String), StoreError> {
    let seq = keys::index_key_sequence(key)
        .ok_or_else(|| StoreError::Corrupt("malformed index key".into()))?;
    let id = String::from_utf8(value.to_vec())
        .map_err(|_| StoreError::Corrupt("index value is not an id".into()))?;
    Ok((seq, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trees() -> Trees {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Trees::new(db.open_tree("derived").unwrap())
    }

    #[test]
    fn rows_of_entries_not_yet_synced_stay_in_memory() {
        let t = trees();
        let group = |seq: u64| (Batch::default(), [(seq, seq * 100)]);
        let (b1, o1) = group(1);
        assert_eq!(t.commit(&b1, &o1).unwrap(), (1, false));
        // The group's sync has not returned: nothing is sealed.
        assert!(!t.seal().unwrap());
        assert_eq!(t.unsealed().unwrap(), 1);
        assert_eq!(t.offset(1).unwrap(), Some(100));
        // The next group comes only after the sync of the first: the
        // writer freezes the first group's rows for the seal that waits.
        t.synced().unwrap();
        let (b2, o2) = group(2);
        assert_eq!(t.commit(&b2, &o2).unwrap(), (1, true));
        assert!(t.seal().unwrap());
        assert_eq!(t.unsealed().unwrap(), 1, "the second group is not synced");
        assert_eq!(t.rows.len(), 1, "one run, of entry 1");
        assert_eq!(t.offset(1).unwrap(), Some(100));
        assert_eq!(t.offset(2).unwrap(), Some(200));
        t.synced().unwrap();
        assert!(t.seal().unwrap());
        assert_eq!(t.unsealed().unwrap(), 0);
        assert_eq!(t.offset(2).unwrap(), Some(200));
        assert_eq!(
            t.last_indexed().unwrap().map(|a| (a.seq, a.offset)),
            Some((2, 200))
        );
        // Nodes that cannot exist are not found (no overflow).
        assert_eq!(t.tree_node(63, 1).unwrap(), None);
        assert_eq!(t.tree_node(0, u64::MAX).unwrap(), None);
    }

    #[test]
    fn the_background_seal_asks_for_a_freeze_only_when_one_is_due() {
        let t = trees();
        t.commit(&Batch::default(), &[(1, 100)]).unwrap();
        // Rung after a freeze, with few entries: nothing asked.
        assert!(!t.seal_in_background(false).unwrap());
        t.synced().unwrap();
        assert_eq!(
            t.commit(&Batch::default(), &[(2, 200)]).unwrap(),
            (2, false)
        );
        // On its timer: the writer's next group freezes what is there.
        assert!(!t.seal_in_background(true).unwrap());
        t.synced().unwrap();
        assert_eq!(t.commit(&Batch::default(), &[(3, 300)]).unwrap(), (1, true));
        assert!(t.seal_in_background(false).unwrap());
        assert_eq!(t.offset(2).unwrap(), Some(200));
    }
}
