//! What an entry implies beyond itself: the record it creates and its
//! idempotency key (request id → SHA-256 of the request without its id,
//! submitter). The commit pipeline and `truced reindex` both derive keys
//! here, so a maintained index and a rebuilt one cannot differ.

use prost::Message;
use sha2::{Digest, Sha256};
use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, CorrectReportRequest, Entry, RecordAgreementRequest,
    SetStatusRequest, SubmitReportRequest, entry::Payload,
};

use crate::model::RecordKind;

/// Keys derived from one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The record this entry creates, if it creates one.
    pub created: Option<(RecordKind, String)>,
    pub request_id: String,
    pub hash: [u8; 32],
    pub submitter: String,
}

/// The kind of record a payload creates, if any.
pub fn created_kind(payload: &Payload) -> Option<RecordKind> {
    match payload {
        Payload::Agreement(_) => Some(RecordKind::Agreement),
        Payload::Report(_) => Some(RecordKind::Report),
        Payload::Claim(_) => Some(RecordKind::Claim),
        Payload::Status(_) | Payload::Source(_) | Payload::Correction(_) => None,
    }
}

/// SHA-256 of the write request that carries `payload`, encoded with an
/// empty request id: the idempotency fingerprint.
pub fn request_hash(payload: &Payload) -> [u8; 32] {
    let request_id = String::new();
    let bytes = match payload.clone() {
        Payload::Agreement(a) => RecordAgreementRequest {
            request_id,
            with_proof: false,
            agreement: Some(a),
        }
        .encode_to_vec(),
        Payload::Report(r) => SubmitReportRequest {
            request_id,
            with_proof: false,
            report: Some(r),
        }
        .encode_to_vec(),
        Payload::Claim(c) => AddClaimRequest {
            request_id,
            with_proof: false,
            claim: Some(c),
        }
        .encode_to_vec(),
        Payload::Status(s) => SetStatusRequest {
            request_id,
            with_proof: false,
            status: Some(s),
        }
        .encode_to_vec(),
        Payload::Source(s) => AttachSourceRequest {
            request_id,
            with_proof: false,
            attachment: Some(s),
        }
        .encode_to_vec(),
        Payload::Correction(c) => CorrectReportRequest {
            request_id,
            with_proof: false,
            correction: Some(c),
        }
        .encode_to_vec(),
    };
    Sha256::digest(&bytes).into()
}

/// Derives the keys of a decoded entry.
pub fn from_entry(entry: &Entry) -> Result<Derived, String> {
    let payload = entry
        .payload
        .as_ref()
        .ok_or_else(|| "entry has no payload".to_owned())?;
    Ok(Derived {
        created: created_kind(payload).map(|kind| (kind, entry.record_id.clone())),
        request_id: entry.request_id.clone(),
        hash: request_hash(payload),
        submitter: entry.submitter.clone(),
    })
}
