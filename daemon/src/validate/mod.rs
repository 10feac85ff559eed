//! The rules of a request's own fields, checked once at the service edge.
//! A request that passes becomes a [`ValidWrite`], which only this module
//! can construct; the commit pipeline takes nothing else. Checks that
//! depend on stored state (referenced ids exist, idempotency) belong to the
//! commit pipeline, which gets the references to check from here.
//!
//! Limits (bytes of UTF-8): ids and party codes 128 of `[A-Za-z0-9._:-]`;
//! short text 512; URLs 2048; long text 8192; 32 tags of 64; 64 sources;
//! 64 items in any other list; 1,000 polygon points. Control characters
//! (other than newline and tab) are refused before this, in every string
//! of every request, by the server's request codec
//! (`truce_proto::strings`).

mod changes;
mod fields;
mod path;
mod records;
mod source;

use std::time::SystemTime;

use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, CorrectReportRequest, RecordAgreementRequest, Report,
    SetStatusRequest, SubmitReportRequest, entry::Payload,
};

use crate::{
    error::Error,
    model::{RecordKind, derive},
};

pub use fields::{SHORT_MAX, check_id, country as check_country};

/// A record the write refers to, which must exist when it is committed:
/// its target, or a record a change points at (duplicate_of,
/// superseded_by, supersedes). A missing one is NOT_FOUND either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: RecordKind,
    pub id: String,
    /// The request field that names it.
    pub field: String,
}

impl Reference {
    pub fn new(kind: RecordKind, id: &str, field: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.to_owned(),
            field: field.into(),
        }
    }
}

/// A write request whose own fields have been validated.
#[derive(Debug, Clone)]
pub struct ValidWrite {
    request_id: String,
    payload: Payload,
    client_id: Option<String>,
    references: Vec<Reference>,
    hash: [u8; 32],
}

impl ValidWrite {
    fn new(
        request_id: String,
        payload: Payload,
        client_id: Option<String>,
        references: Vec<Reference>,
    ) -> Self {
        let hash = derive::request_hash(&payload);
        Self {
            request_id,
            payload,
            client_id,
            references,
            hash,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The record id the client chose, for creating writes that carry one.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The records the write refers to; for writes that change a record,
    /// the first is their target.
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// SHA-256 of the request without its request id.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }
}

/// What the rules need from outside the request.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: SystemTime,
}

impl Context {
    pub fn now() -> Self {
        Self {
            now: SystemTime::now(),
        }
    }
}

/// Validates a RecordAgreement request.
pub fn record_agreement(req: RecordAgreementRequest, ctx: &Context) -> Result<ValidWrite, Error> {
    let request_id = fields::request_id(&req.request_id)?;
    let agreement = req
        .agreement
        .ok_or_else(|| Error::invalid("agreement", "is required"))?;
    let mut refs = Vec::new();
    let client_id = records::agreement(&agreement, ctx, &mut refs)?;
    Ok(ValidWrite::new(
        request_id,
        Payload::Agreement(agreement),
        client_id,
        refs,
    ))
}

/// Validates a SubmitReport request.
pub fn submit_report(req: SubmitReportRequest, ctx: &Context) -> Result<ValidWrite, Error> {
    let request_id = fields::request_id(&req.request_id)?;
    let report = req
        .report
        .ok_or_else(|| Error::invalid("report", "is required"))?;
    let mut refs = Vec::new();
    let client_id = records::report(&report, ctx, &mut refs)?;
    Ok(ValidWrite::new(
        request_id,
        Payload::Report(report),
        client_id,
        refs,
    ))
}

/// Validates an AddClaim request.
pub fn add_claim(req: AddClaimRequest, ctx: &Context) -> Result<ValidWrite, Error> {
    let request_id = fields::request_id(&req.request_id)?;
    let claim = req
        .claim
        .ok_or_else(|| Error::invalid("claim", "is required"))?;
    let mut refs = Vec::new();
    let client_id = changes::claim(&claim, ctx, &mut refs)?;
    Ok(ValidWrite::new(
        request_id,
        Payload::Claim(claim),
        client_id,
        refs,
    ))
}

/// Validates a SetStatus request.
pub fn set_status(req: SetStatusRequest, ctx: &Context) -> Result<ValidWrite, Error> {
    let request_id = fields::request_id(&req.request_id)?;
    let status = req
        .status
        .ok_or_else(|| Error::invalid("status", "is required"))?;
    let mut refs = Vec::new();
    changes::status(&status, ctx, &mut refs)?;
    Ok(ValidWrite::new(
        request_id,
        Payload::Status(status),
        None,
        refs,
    ))
}

/// Validates an AttachSource request.
pub fn attach_source(req: AttachSourceRequest, _ctx: &Context) -> Result<ValidWrite, Error> {
    let request_id = fields::request_id(&req.request_id)?;
    let attachment = req
        .attachment
        .ok_or_else(|| Error::invalid("attachment", "is required"))?;
    let mut refs = Vec::new();
    changes::attachment(&attachment, &mut refs)?;
    Ok(ValidWrite::new(
        request_id,
        Payload::Source(attachment),
        None,
        refs,
    ))
}

/// Validates a CorrectReport request's own fields. Whether the corrected
/// report still holds together depends on its current state: the commit
/// pipeline checks that with [`corrected_report`].
pub fn correct_report(req: CorrectReportRequest, _ctx: &Context) -> Result<ValidWrite, Error> {
    let request_id = fields::request_id(&req.request_id)?;
    let correction = req
        .correction
        .ok_or_else(|| Error::invalid("correction", "is required"))?;
    let mut refs = Vec::new();
    changes::correction(&correction, &mut refs)?;
    Ok(ValidWrite::new(
        request_id,
        Payload::Correction(correction),
        None,
        refs,
    ))
}

/// The rules of a report, applied to a report as a correction leaves it;
/// errors name the field under `correction.values`.
pub fn corrected_report(report: &Report, ctx: &Context) -> Result<(), Error> {
    // Sources are not correctable and each was checked when it was
    // submitted or attached; attachments may take a report past the
    // submission limit of 64, which must not block its corrections.
    let mut checked = report.clone();
    checked.sources.truncate(1);
    let mut refs = Vec::new();
    records::report(&checked, ctx, &mut refs)
        .map(|_| ())
        .map_err(|e| match e {
            Error::InvalidArgument { field, reason } => Error::InvalidArgument {
                field: field.replacen("report.", "correction.values.", 1),
                reason: format!("{reason} (after the correction)"),
            },
            other => other,
        })
}

/// A timestamp in google.protobuf.Timestamp's range (for query filters).
pub fn check_timestamp(field: &str, ts: &pbjson_types::Timestamp) -> Result<(), Error> {
    fields::timestamp(field, ts).map(|_| ())
}

/// A valid bounding box (for query filters).
pub fn check_bbox(field: &str, b: &truce_proto::v1::BoundingBox) -> Result<(), Error> {
    source::bbox(field, b)
}
