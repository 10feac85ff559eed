//! Query filters, validated once at the service edge into types only this
//! module constructs, and matched against views.

use std::time::SystemTime;

use pbjson_types::Timestamp;
use prost::Message;
use sha2::{Digest, Sha256};
use truce_proto::v1::{
    self as pb, AgreementStatus, AgreementView, BoundingBox, EventType, EvidenceStatus,
    ListAgreementsRequest, QueryReportsRequest, ReportView, TargetClass,
};

use crate::{
    error::Error,
    model::{RecordKind, time::from_timestamp},
    store::Store,
    validate::{self, check_id},
};

/// The largest page, and the default.
pub const PAGE_MAX_RECORDS: usize = 1000;
/// A page ends before its encoded views pass this many bytes (it always
/// holds at least one record when one matches).
pub const PAGE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// A validated `ReportFilter`: what a report query and a subscription
/// both match reports against.
#[derive(Debug, Clone)]
pub struct ReportFilter {
    pub agreement_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub perpetrator: Option<String>,
    pub reported_by: Option<String>,
    pub event_type: Option<i32>,
    pub target_class: Option<i32>,
    pub evidence_status: Option<i32>,
    pub country: Option<String>,
    pub admin1: Option<String>,
    pub bbox: Option<BoundingBox>,
    /// Where the filter sits in its request (`filter.`, `filter.reports.`),
    /// for the field a refusal names.
    prefix: &'static str,
}

/// A validated QueryReports request: its filter and its page.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub filter: ReportFilter,
    pub page: Page,
    pub(super) hash: [u8; 32],
}

/// A validated agreement filter.
#[derive(Debug, Clone)]
pub struct AgreementFilter {
    pub party: Option<String>,
    pub status: Option<i32>,
    pub in_force_at: Option<Timestamp>,
    pub page: Page,
    pub(super) hash: [u8; 32],
}

/// Page size and the raw token (decoded by the executor, which knows the
/// durable sequence).
#[derive(Debug, Clone)]
pub struct Page {
    pub size: usize,
    pub token: String,
    /// The sequence asked for (0: the durable one, or the token's).
    pub as_of: u64,
}

fn opt_string(field: &str, v: &str, id_form: bool) -> Result<Option<String>, Error> {
    if v.is_empty() {
        return Ok(None);
    }
    if id_form {
        check_id(field, v)?;
    } else if v.len() > validate::SHORT_MAX {
        return Err(Error::invalid(
            field,
            format!("is longer than {} bytes", validate::SHORT_MAX),
        ));
    }
    Ok(Some(v.to_owned()))
}

/// An optional country: ISO 3166-1 alpha-2, normalised to upper case
/// (`ua` finds what `UA` finds); anything else is refused with a hint.
fn opt_country(field: &str, v: &str) -> Result<Option<String>, Error> {
    if v.is_empty() {
        return Ok(None);
    }
    let upper = v.trim().to_ascii_uppercase();
    validate::check_country(field, &upper, true).map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{:?} is not an ISO 3166-1 alpha-2 code (two letters, e.g. UA for Ukraine)",
                v.chars().take(32).collect::<String>()
            ),
        )
    })?;
    Ok(Some(upper))
}

/// An optional enum filter: 0 means "any".
fn opt_enum<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<Option<i32>, Error> {
    if raw == 0 {
        return Ok(None);
    }
    E::try_from(raw).map_err(|_| Error::invalid(field, format!("{raw} is not a known value")))?;
    Ok(Some(raw))
}

fn opt_time(field: &str, ts: Option<&Timestamp>) -> Result<Option<Timestamp>, Error> {
    match ts {
        None => Ok(None),
        Some(ts) => {
            validate::check_timestamp(field, ts)?;
            Ok(Some(*ts))
        }
    }
}

fn page(size: u32, token: String, as_of: u64) -> Page {
    Page {
        size: match size {
            0 => PAGE_MAX_RECORDS,
            n => (n as usize).min(PAGE_MAX_RECORDS),
        },
        token,
        as_of,
    }
}

/// Validates a QueryReports request.
pub fn report_query(mut req: QueryReportsRequest) -> Result<ReportQuery, Error> {
    let page = page(
        req.page_size,
        std::mem::take(&mut req.page_token),
        req.as_of_sequence,
    );
    let filter = req.filter.unwrap_or_default();
    let hash = Sha256::digest(filter.encode_to_vec()).into();
    Ok(ReportQuery {
        filter: report_filter("filter.", filter)?,
        page,
        hash,
    })
}

/// Validates a `ReportFilter` found at `prefix` in its request (the
/// prefix starts the field a refusal names).
pub fn report_filter(prefix: &'static str, f: pb::ReportFilter) -> Result<ReportFilter, Error> {
    let field = |name: &str| format!("{prefix}{name}");
    let since = opt_time(&field("occurred_since"), f.occurred_since.as_ref())?;
    let until = opt_time(&field("occurred_until"), f.occurred_until.as_ref())?;
    if let (Some(s), Some(u)) = (&since, &until)
        && from_timestamp(u) <= from_timestamp(s)
    {
        return Err(Error::invalid(
            field("occurred_until"),
            "is not after occurred_since",
        ));
    }
    if let Some(b) = &f.bbox {
        validate::check_bbox(&field("bbox"), b)?;
    }
    Ok(ReportFilter {
        agreement_id: opt_string(&field("agreement_id"), &f.agreement_id, true)?,
        since,
        until,
        perpetrator: opt_string(&field("perpetrator"), &f.perpetrator, true)?,
        reported_by: opt_string(&field("reported_by"), &f.reported_by, true)?,
        event_type: opt_enum::<EventType>(&field("event_type"), f.event_type)?,
        target_class: opt_enum::<TargetClass>(&field("target_class"), f.target_class)?,
        evidence_status: opt_enum::<EvidenceStatus>(&field("evidence_status"), f.evidence_status)?,
        country: opt_country(&field("country"), &f.country)?,
        admin1: opt_string(&field("admin1"), &f.admin1, false)?,
        bbox: f.bbox,
        prefix,
    })
}

/// Validates a ListAgreements request.
pub fn agreement_filter(mut req: ListAgreementsRequest) -> Result<AgreementFilter, Error> {
    let page = page(req.page_size, std::mem::take(&mut req.page_token), 0);
    req.page_size = 0;
    let hash = Sha256::digest(req.encode_to_vec()).into();
    Ok(AgreementFilter {
        party: opt_string("party", &req.party, true)?,
        status: opt_enum::<AgreementStatus>("status", req.status)?,
        in_force_at: opt_time("in_force_at", req.in_force_at.as_ref())?,
        page,
        hash,
    })
}

pub use crate::model::geo::in_bbox;

impl ReportFilter {
    /// Whether no field is set (every report matches).
    pub fn is_empty(&self) -> bool {
        self.agreement_id.is_none() && !self.sets_more_than_agreement()
    }

    /// Whether a field other than the agreement is set (a filter naming
    /// only an agreement also matches that agreement's own entries).
    pub fn sets_more_than_agreement(&self) -> bool {
        self.since.is_some()
            || self.until.is_some()
            || self.perpetrator.is_some()
            || self.reported_by.is_some()
            || self.event_type.is_some()
            || self.target_class.is_some()
            || self.evidence_status.is_some()
            || self.country.is_some()
            || self.admin1.is_some()
            || self.bbox.is_some()
    }

    /// The records the filter names must exist (at the durable sequence):
    /// a misspelt agreement id is NOT_FOUND, not an empty page or a stream
    /// that never shows anything.
    pub fn check_named_records(&self, store: &Store) -> Result<(), Error> {
        if let Some(id) = &self.agreement_id
            && store.record_sequence(RecordKind::Agreement, id)?.is_none()
        {
            return Err(Error::NotFound {
                field: format!("{}agreement_id", self.prefix),
                kind: RecordKind::Agreement.name(),
                id: id.clone(),
                at: None,
            });
        }
        Ok(())
    }

    /// Whether a report's view matches every filter.
    pub fn matches(&self, view: &ReportView) -> bool {
        let Some(r) = &view.report else {
            return false;
        };
        let loc = r.location.clone().unwrap_or_default();
        let start = r
            .occurred
            .as_ref()
            .and_then(|o| o.start)
            .map(|t| from_timestamp(&t));
        let time_ok = |bound: &Option<Timestamp>, f: fn(SystemTime, SystemTime) -> bool| match bound
        {
            None => true,
            Some(b) => start.is_some_and(|s| f(s, from_timestamp(b))),
        };
        self.agreement_id
            .as_ref()
            .is_none_or(|a| r.agreement_ids.contains(a))
            && time_ok(&self.since, |s, b| s >= b)
            && time_ok(&self.until, |s, b| s < b)
            && self
                .perpetrator
                .as_ref()
                .is_none_or(|p| r.alleged_perpetrators.contains(p))
            && self
                .reported_by
                .as_ref()
                .is_none_or(|p| &r.reported_by == p)
            && self.event_type.is_none_or(|e| r.event_type == e)
            && self.target_class.is_none_or(|t| r.target_class == t)
            && self.evidence_status.is_none_or(|e| r.evidence_status == e)
            && self.country.as_ref().is_none_or(|c| &loc.country == c)
            && self.admin1.as_ref().is_none_or(|a| &loc.admin1 == a)
            && self
                .bbox
                .as_ref()
                .is_none_or(|b| match (loc.latitude, loc.longitude) {
                    (Some(lat), Some(lon)) => in_bbox(b, lat, lon),
                    _ => false,
                })
    }
}

impl AgreementFilter {
    /// Whether an agreement's view matches every filter.
    pub fn matches(&self, view: &AgreementView) -> bool {
        let Some(a) = &view.agreement else {
            return false;
        };
        self.party
            .as_ref()
            .is_none_or(|p| a.parties.iter().any(|x| &x.party == p))
            && self.status.is_none_or(|s| view.status == s)
            && self
                .in_force_at
                .as_ref()
                .is_none_or(|t| in_force_at(view, from_timestamp(t)))
    }
}

/// See `ListAgreementsRequest.in_force_at`.
pub fn in_force_at(view: &AgreementView, t: SystemTime) -> bool {
    let Some(a) = &view.agreement else {
        return false;
    };
    let started = a
        .effective_from
        .iter()
        .filter_map(|e| e.at.as_ref())
        .any(|at| from_timestamp(at) <= t);
    // The current expiry: extensions already moved it.
    let expires = a.expires_at.as_ref().map(from_timestamp);
    let mut latest = None;
    for s in &view.statuses {
        let effective = s.effective_at.as_ref().map(from_timestamp);
        if effective.is_some_and(|e| e <= t) {
            latest = Some(s.status());
        }
    }
    let not_expired = expires.is_none_or(|e| t < e);
    let stopped = matches!(
        latest,
        Some(
            AgreementStatus::Suspended
                | AgreementStatus::Lapsed
                | AgreementStatus::Ended
                | AgreementStatus::Superseded
        )
    );
    started && not_expired && !stopped
}
