//! Read RPCs: never past the durable sequence (the store enforces it).

use prost::Message;
use truce_proto::v1::{
    AgreementView, Entry, GetEntryResponse, RawEntry, ReadLogRequest, ReadLogResponse, ReportView,
};

use crate::{
    error::Error,
    project::{self, View},
    store::{RecordKind, Store},
    validate,
};

/// Entries in one ReadLog page, at most (also the default).
pub const READ_LOG_MAX_ENTRIES: usize = 1000;
/// Entry bytes in one ReadLog page, at most (a page is never empty while
/// entries remain).
pub const READ_LOG_MAX_BYTES: usize = 2 * 1024 * 1024;

fn decode(sequence: u64, bytes: &[u8]) -> Result<Entry, Error> {
    Entry::decode(bytes)
        .map_err(|e| Error::Internal(format!("entry {sequence} is undecodable: {e}")))
}

/// The view of a record as of the durable sequence: the stored view when
/// its last entry is durable, else replayed from the durable entries of its
/// history (the writer stores views before it syncs).
fn view(store: &Store, kind: RecordKind, id: &str) -> Result<View, Error> {
    validate::check_id("id", id)?;
    let durable = store.durable_sequence();
    let not_found = || Error::NotFound {
        field: "id".into(),
        kind: kind.name(),
        id: id.to_owned(),
    };
    match store.record_sequence(kind, id)? {
        Some(seq) if seq <= durable => {}
        _ => return Err(not_found()),
    }
    let bytes = store
        .written_view(kind, id)?
        .ok_or_else(|| Error::Internal(format!("{} {id} has no view", kind.name())))?;
    let stored = View::decode(kind, &bytes)
        .map_err(|e| Error::Internal(format!("view of {id} is undecodable: {e}")))?;
    if stored.last_sequence() <= durable {
        return Ok(stored);
    }
    let mut replayed = None;
    for item in stored.history().iter().filter(|h| h.sequence <= durable) {
        let raw = store
            .read_entry(item.sequence)?
            .ok_or_else(|| Error::Internal(format!("entry {} is missing", item.sequence)))?;
        let entry = decode(item.sequence, &raw)?;
        replayed = Some(
            project::apply(replayed, kind, id, &entry)
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    replayed.ok_or_else(not_found)
}

pub fn get_agreement(store: &Store, id: &str) -> Result<AgreementView, Error> {
    match view(store, RecordKind::Agreement, id)? {
        View::Agreement(v) => Ok(v),
        View::Report(_) => Err(Error::Internal(format!(
            "{id}: a report view under an agreement key"
        ))),
    }
}

pub fn get_report(store: &Store, id: &str) -> Result<ReportView, Error> {
    match view(store, RecordKind::Report, id)? {
        View::Report(v) => Ok(v),
        View::Agreement(_) => Err(Error::Internal(format!(
            "{id}: an agreement view under a report key"
        ))),
    }
}

pub fn get_entry(store: &Store, sequence: u64) -> Result<GetEntryResponse, Error> {
    if sequence == 0 {
        return Err(Error::invalid("sequence", "sequences start at 1"));
    }
    let raw = store.read_entry(sequence)?.ok_or_else(|| Error::NotFound {
        field: "sequence".into(),
        kind: "entry",
        id: format!(
            "{sequence} (the log holds {} entries)",
            store.durable_sequence()
        ),
    })?;
    let entry = decode(sequence, &raw)?;
    Ok(GetEntryResponse {
        entry: Some(entry),
        raw,
    })
}

pub fn read_log(store: &Store, req: &ReadLogRequest) -> Result<ReadLogResponse, Error> {
    let limit = match req.limit {
        0 => READ_LOG_MAX_ENTRIES,
        n => (n as usize).min(READ_LOG_MAX_ENTRIES),
    };
    let from = req.from_sequence.max(1);
    // Read the watermark first: the page never goes past it.
    let durable = store.durable_sequence();
    let page = store.read_entries(from, limit, READ_LOG_MAX_BYTES)?;
    let page: Vec<_> = page.into_iter().filter(|(s, _)| *s <= durable).collect();
    let next_sequence = page.last().map_or(from, |(s, _)| s + 1);
    Ok(ReadLogResponse {
        entries: page
            .into_iter()
            .map(|(sequence, entry)| RawEntry { sequence, entry })
            .collect(),
        durable_sequence: durable,
        next_sequence,
    })
}
