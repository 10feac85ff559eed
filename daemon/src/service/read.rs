//! Read RPCs: never past the durable sequence (the store enforces it).

use prost::Message;
use truce_proto::v1::{
    AgreementView, Entry, GetEntryResponse, RawEntry, ReadLogRequest, ReadLogResponse, ReportView,
};

use crate::{
    error::Error,
    project::View,
    store::{RecordKind, Store},
    validate, views,
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

fn view(store: &Store, kind: RecordKind, id: &str) -> Result<View, Error> {
    validate::check_id("id", id)?;
    views::view_at(store, kind, id, store.durable_sequence())?.ok_or_else(|| Error::NotFound {
        field: "id".into(),
        kind: kind.name(),
        id: id.to_owned(),
    })
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
