//! The rules of a request's own fields, checked once at the service edge.
//! A request that passes becomes a [`ValidWrite`], which only this module
//! can construct; the commit pipeline takes nothing else. Checks that
//! depend on stored state (referenced ids exist, idempotency) belong to the
//! commit pipeline, which gets the references to check from here.
//!
//! Limits (bytes of UTF-8): ids and party codes 128 of `[A-Za-z0-9._:-]`;
//! short text 512; URLs 2048; long text 8192; 32 tags of 64; 64 sources;
//! 64 items in any other list; 1,000 polygon points.

mod fields;
mod records;
mod source;

use std::time::SystemTime;

use truce_proto::v1::{RecordAgreementRequest, SubmitReportRequest, entry::Payload};

use crate::{derive, error::Error, store::RecordKind};

pub use fields::{ID_MAX, LONG_MAX, SHORT_MAX, SOURCES_MAX, URL_MAX, check_id};

/// A record the write refers to, which must exist when it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: RecordKind,
    pub id: String,
    /// The request field that names it.
    pub field: String,
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

    /// For writes that target an existing record: its kind and id.
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
