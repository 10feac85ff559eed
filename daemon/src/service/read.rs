//! Read RPCs: never past the durable sequence (the store enforces it).

use prost::Message;
use truce_proto::v1::{
    AgreementView, Entry, EntryRef, GetEntryResponse, RawEntry, ReadLogRequest, ReadLogResponse,
    ReportView, entry::Payload,
};

use crate::{
    error::Error,
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

fn entry_ref(entry: &Entry) -> EntryRef {
    EntryRef {
        sequence: entry.sequence,
        recorded_at: entry.recorded_at,
        submitter: entry.submitter.clone(),
        request_id: entry.request_id.clone(),
    }
}

fn find(store: &Store, kind: RecordKind, id: &str) -> Result<Entry, Error> {
    validate::check_id("id", id)?;
    let (sequence, bytes) = store
        .read_record(kind, id)?
        .ok_or_else(|| Error::NotFound {
            field: "id".into(),
            kind: kind.name(),
            id: id.to_owned(),
        })?;
    decode(sequence, &bytes)
}

pub fn get_agreement(store: &Store, id: &str) -> Result<AgreementView, Error> {
    let entry = find(store, RecordKind::Agreement, id)?;
    let created = entry_ref(&entry);
    match entry.payload {
        Some(Payload::Agreement(mut agreement)) => {
            agreement.id = entry.record_id;
            Ok(AgreementView {
                agreement: Some(agreement),
                created: Some(created),
            })
        }
        _ => Err(Error::Internal(format!(
            "entry {} indexed as an agreement holds something else",
            entry.sequence
        ))),
    }
}

pub fn get_report(store: &Store, id: &str) -> Result<ReportView, Error> {
    let entry = find(store, RecordKind::Report, id)?;
    let created = entry_ref(&entry);
    match entry.payload {
        Some(Payload::Report(mut report)) => {
            report.id = entry.record_id;
            Ok(ReportView {
                report: Some(report),
                created: Some(created),
            })
        }
        _ => Err(Error::Internal(format!(
            "entry {} indexed as a report holds something else",
            entry.sequence
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
