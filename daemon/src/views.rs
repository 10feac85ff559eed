//! Reading a view as of a sequence: the stored view when its last entry is
//! at or before that sequence, else the view replayed from the entries of
//! its history up to it. Reads use the durable sequence (the writer stores
//! views before it syncs); queries use the sequence their first page was
//! answered at, so later pages see the same state.

use truce_proto::v1::Entry;

use crate::{
    error::Error,
    model::{
        RecordKind, decode_entry,
        project::{self, View},
    },
    store::Store,
};

/// Durable entry `sequence`, decoded; one the caller knows exists (a
/// missing one is the server's fault).
pub fn durable_entry(store: &Store, sequence: u64) -> Result<Entry, Error> {
    let bytes = store
        .read_entry(sequence)?
        .ok_or_else(|| Error::Internal(format!("entry {sequence} is missing")))?;
    Ok(decode_entry(sequence, &bytes)?)
}

/// The view of record (`kind`, `id`) as of sequence `at` (never past the
/// durable sequence); None if it did not exist then.
pub fn view_at(store: &Store, kind: RecordKind, id: &str, at: u64) -> Result<Option<View>, Error> {
    let at = at.min(store.durable_sequence());
    match store.record_sequence(kind, id)? {
        Some(seq) if seq <= at => {}
        _ => return Ok(None),
    }
    let stored = store
        .written_view(kind, id)?
        .ok_or_else(|| Error::Internal(format!("{} {id} has no view", kind.name())))?;
    if stored.last_sequence() <= at {
        return Ok(Some(stored));
    }
    let mut replayed = None;
    for item in stored.history().iter().filter(|h| h.sequence <= at) {
        let entry = durable_entry(store, item.sequence)?;
        replayed = Some(
            project::apply(replayed, kind, id, &entry)
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    Ok(replayed)
}
