//! Read RPCs: never past the durable sequence (the store enforces it).

use crate::model::RecordKind;
use truce_proto::v1::{
    AgreementView, AssessScopeRequest, AssessScopeResponse, Change, ComplianceFinding,
    GetEntryResponse, ListChangesRequest, ListChangesResponse, RawEntry, ReadLogRequest,
    ReadLogResponse, ReportView, ScopeAssessment,
};

use crate::{
    error::Error,
    model::{
        decode_entry,
        project::{self, View},
    },
    store::Store,
    validate, views,
};

/// Entries in one ReadLog page, at most (also the default).
pub const READ_LOG_MAX_ENTRIES: usize = 1000;
/// Entry bytes in one ReadLog page, at most (a page is never empty while
/// entries remain).
pub const READ_LOG_MAX_BYTES: usize = 2 * 1024 * 1024;
/// What a ReadLog answer is charged to the send budget before its read
/// (the cost of its entries at most, or one entry, and their framing);
/// fitted to the answer once read.
pub const READ_LOG_CHARGE: usize =
    2 * (READ_LOG_MAX_BYTES + 64 * 1024 + READ_LOG_MAX_ENTRIES * 16) + 2048;

fn view(store: &Store, kind: RecordKind, id: &str, as_of: u64) -> Result<View, Error> {
    validate::check_id("id", id)?;
    let at = super::at_or_durable(store, "as_of_sequence", as_of)?;
    views::view_at(store, kind, id, at)?.ok_or_else(|| Error::NotFound {
        field: "id".into(),
        kind: kind.name(),
        id: id.to_owned(),
        at: (as_of != 0).then_some(at),
    })
}

pub fn get_agreement(store: &Store, id: &str, as_of: u64) -> Result<AgreementView, Error> {
    match view(store, RecordKind::Agreement, id, as_of)? {
        View::Agreement(v) => Ok(v),
        View::Report(_) => Err(Error::Internal(format!(
            "{id}: a report view under an agreement key"
        ))),
    }
}

pub fn get_report(store: &Store, id: &str, as_of: u64) -> Result<ReportView, Error> {
    match view(store, RecordKind::Report, id, as_of)? {
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
        at: None,
    })?;
    let entry = decode_entry(sequence, &raw)?;
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

/// The entries in (after, until], each with what it touched.
pub fn list_changes(store: &Store, req: &ListChangesRequest) -> Result<ListChangesResponse, Error> {
    let until = super::at_or_durable(store, "until_sequence", req.until_sequence)?;
    if req.after_sequence > until {
        return Err(Error::invalid(
            "after_sequence",
            format!("{} is after until_sequence {until}", req.after_sequence),
        ));
    }
    let limit = match req.limit {
        0 => READ_LOG_MAX_ENTRIES,
        n => (n as usize).min(READ_LOG_MAX_ENTRIES),
    };
    let mut changes = Vec::new();
    let mut next_after = req.after_sequence;
    if req.after_sequence < until {
        for (seq, bytes) in store.read_entries(req.after_sequence + 1, limit, READ_LOG_MAX_BYTES)? {
            if seq > until {
                break;
            }
            let entry = decode_entry(seq, &bytes)?;
            changes.push(Change {
                entry: Some(project::history_item(&entry)),
                touched: project::touched(&entry)
                    .into_iter()
                    .map(|(kind, id)| format!("{}:{id}", kind.name()))
                    .collect(),
                record_id: entry.record_id,
            });
            next_after = seq;
        }
    }
    Ok(ListChangesResponse {
        changes,
        next_after,
        until_sequence: until,
    })
}

/// The scope engine over a report and an agreement as they stood.
pub fn assess_scope(store: &Store, req: &AssessScopeRequest) -> Result<AssessScopeResponse, Error> {
    validate::check_id("report_id", &req.report_id)?;
    validate::check_id("agreement_id", &req.agreement_id)?;
    let at = super::at_or_durable(store, "as_of_sequence", req.as_of_sequence)?;
    let report = get_report(store, &req.report_id, at)
        .map_err(|e| rename(e, "report_id"))?
        .report
        .unwrap_or_default();
    let agreement =
        get_agreement(store, &req.agreement_id, at).map_err(|e| rename(e, "agreement_id"))?;
    let assessments = crate::model::scope::assess(&report, &agreement)
        .into_iter()
        .map(|a| ScopeAssessment {
            reading: a.reading,
            finding: ComplianceFinding::from(a.finding).into(),
            reasons: a.reasons,
        })
        .collect();
    Ok(AssessScopeResponse {
        assessments,
        as_of_sequence: at,
    })
}

/// Names `field` in a NotFound or invalid-id error about `id`.
pub fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::NotFound { kind, id, at, .. } => Error::NotFound {
            field: field.to_owned(),
            kind,
            id,
            at,
        },
        Error::InvalidArgument { field: f, reason } if f == "id" => Error::InvalidArgument {
            field: field.to_owned(),
            reason,
        },
        other => other,
    }
}
