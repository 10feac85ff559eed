//! Subscription filters: validated at the service edge, matched per entry
//! by looking up the records the entry refers to (never from memory of
//! what the stream has sent), so a resumed stream decides exactly as an
//! unbroken one would.

use truce_proto::v1::{Entry, EntryKind, SubscribeFilter, entry::Payload};

use crate::{
    error::Error,
    model::{
        RecordKind,
        project::{self, View},
    },
    query::filter::{ReportFilter, report_filter},
    store::Store,
    views,
};

/// A validated subscription filter.
#[derive(Debug, Clone)]
pub struct StreamFilter {
    kinds: Vec<i32>,
    /// The report filter, when any of its fields is set.
    report: Option<ReportFilter>,
    follow: bool,
}

impl StreamFilter {
    /// Whether anything is filtered out (progress markers matter then).
    pub fn is_filtering(&self) -> bool {
        !self.kinds.is_empty() || self.report.is_some()
    }

    /// The entry kinds that can match, one bit per `EntryKind` number
    /// (all bits when any kind can).
    pub fn kind_mask(&self) -> u32 {
        if self.kinds.is_empty() {
            return u32::MAX;
        }
        self.kinds
            .iter()
            .fold(0, |m, k| m | 1u32.checked_shl(*k as u32).unwrap_or(0))
    }

    /// Whether `entry` (at its sequence) passes.
    pub fn matches(&self, store: &Store, entry: &Entry) -> Result<bool, Error> {
        let kind = project::entry_kind(entry) as i32;
        if !self.kinds.is_empty() && !self.kinds.contains(&kind) {
            return Ok(false);
        }
        let Some(report) = &self.report else {
            return Ok(true);
        };
        let seq = entry.sequence;
        let agreement_matches = |id: &str| {
            !report.sets_more_than_agreement() && report.agreement_id.as_deref() == Some(id)
        };
        let report_at = |id: &str, at: u64| -> Result<bool, Error> {
            Ok(match views::view_at(store, RecordKind::Report, id, at)? {
                Some(View::Report(v)) => report.matches(&v),
                _ => false,
            })
        };
        Ok(match &entry.payload {
            None => false,
            Some(Payload::Agreement(_)) => agreement_matches(&entry.record_id),
            Some(Payload::Report(_)) => report_at(&entry.record_id, seq)?,
            Some(_) if !self.follow => false,
            Some(_) => {
                let mut any = false;
                for (kind, id) in project::touched(entry) {
                    any = match kind {
                        RecordKind::Report => report_at(&id, seq - 1)? || report_at(&id, seq)?,
                        RecordKind::Agreement => agreement_matches(&id),
                        RecordKind::Claim => false,
                    };
                    if any {
                        break;
                    }
                }
                any
            }
        })
    }
}

impl StreamFilter {
    /// The agreement the filter names must exist (at the durable
    /// sequence): a misspelt id is NOT_FOUND, not a stream that never
    /// shows anything.
    pub fn check_named_records(&self, store: &Store) -> Result<(), Error> {
        self.report
            .as_ref()
            .map_or(Ok(()), |f| f.check_named_records(store))
    }
}

/// Validates a subscription filter (absent: everything).
pub fn stream_filter(f: Option<SubscribeFilter>) -> Result<StreamFilter, Error> {
    let f = f.unwrap_or_default();
    for (i, k) in f.kinds.iter().enumerate() {
        match EntryKind::try_from(*k) {
            Ok(EntryKind::Unspecified) | Err(_) => {
                return Err(Error::invalid(
                    format!("filter.kinds[{i}]"),
                    format!("{k} is not an entry kind"),
                ));
            }
            Ok(_) => {}
        }
    }
    let report = report_filter("filter.reports.", f.reports.unwrap_or_default())?;
    Ok(StreamFilter {
        kinds: f.kinds,
        report: (!report.is_empty()).then_some(report),
        follow: f.follow,
    })
}
