//! The durability seam: the two steps that put a group of appends on
//! stable storage, write (the entry log's frames) then sync. The commit pipeline calls them through
//! [`SyncStep`] so that tests can record their order against the
//! acknowledgements, count groups, slow them down or make them fail.

use crate::store::{Store, StoreError};

/// The group being made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub entries: usize,
}

/// Flush and sync, in that order, once per group.
pub trait SyncStep: Send + 'static {
    /// Write the group's frames to the entry log's segment file.
    fn flush(&mut self, store: &Store, group: &Group) -> Result<(), StoreError>;
    /// fdatasync the segments written: only after this returns Ok is the
    /// group durable.
    fn sync(&mut self, store: &Store, group: &Group) -> Result<(), StoreError>;
}

/// The real thing.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreSync;

impl SyncStep for StoreSync {
    fn flush(&mut self, store: &Store, _group: &Group) -> Result<(), StoreError> {
        store.flush()
    }

    fn sync(&mut self, store: &Store, _group: &Group) -> Result<(), StoreError> {
        store.sync_files()
    }
}
