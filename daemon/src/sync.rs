//! The durability seam: the two steps that put a group of appends on
//! stable storage, write (the entry log's frames) then sync. The commit
//! pipeline calls them through [`SyncStep`] so that tests can record their
//! order against the acknowledgements, count groups, slow them down or
//! make them fail. The writer thread calls `write` for each group it
//! prepares; the sync step (the sync thread, or the writer for a lone
//! group) calls `sync` once for every run of groups waiting for it, so a
//! write of the next group may come before the sync of the last one, never
//! an acknowledgement before its sync.

use crate::store::{StoreError, StoreWriter};

/// The group being made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub entries: usize,
}

/// Write each group, then sync the groups written (one sync may cover
/// several).
pub trait SyncStep: Send + Sync + 'static {
    /// Write the group's frames to the entry log's segment file.
    fn write(&self, store: &StoreWriter, group: &Group) -> Result<(), StoreError>;
    /// fdatasync the segments written: only after this returns Ok are the
    /// groups written up to `group.last_sequence` durable. `group` spans
    /// every group this sync covers.
    fn sync(&self, store: &StoreWriter, group: &Group) -> Result<(), StoreError>;
}

/// The real thing.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreSync;

impl SyncStep for StoreSync {
    fn write(&self, store: &StoreWriter, _group: &Group) -> Result<(), StoreError> {
        store.write_log()
    }

    fn sync(&self, store: &StoreWriter, _group: &Group) -> Result<(), StoreError> {
        store.sync_files()
    }
}
