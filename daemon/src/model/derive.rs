//! What an entry implies beyond itself: the record it creates and its
//! idempotency key (request id → SHA-256 of the request without its id,
//! submitter). The commit pipeline and `truced reindex` both derive keys
//! here, so a maintained index and a rebuilt one cannot differ.

use prost::encoding::message;
use sha2::{Digest, Sha256};
use truce_proto::v1::{Entry, entry::Payload};

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
/// empty request id: the idempotency fingerprint. Every write request
/// carries its payload as field 2, and with an empty request id and
/// `with_proof` false nothing else is encoded, so the request's bytes
/// are the payload's message under tag 2, made here without copying the
/// payload into a request (the unit test below holds the two equal; the
/// fingerprints are stored, so they may never change).
pub fn request_hash(payload: &Payload) -> [u8; 32] {
    const PAYLOAD_FIELD: u32 = 2;
    let mut bytes = Vec::new();
    match payload {
        Payload::Agreement(a) => message::encode(PAYLOAD_FIELD, a, &mut bytes),
        Payload::Report(r) => message::encode(PAYLOAD_FIELD, r, &mut bytes),
        Payload::Claim(c) => message::encode(PAYLOAD_FIELD, c, &mut bytes),
        Payload::Status(s) => message::encode(PAYLOAD_FIELD, s, &mut bytes),
        Payload::Source(s) => message::encode(PAYLOAD_FIELD, s, &mut bytes),
        Payload::Correction(c) => message::encode(PAYLOAD_FIELD, c, &mut bytes),
    }
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

#[cfg(test)]
mod tests {
    use prost::Message;
    use truce_proto::v1::{
        AddClaimRequest, Agreement, AttachSourceRequest, Claim, CorrectReportRequest, Correction,
        RecordAgreementRequest, Report, SetStatusRequest, Source, SourceAttachment, StatusChange,
        SubmitReportRequest, source_attachment,
    };

    use super::*;

    /// The fingerprint as it was first defined: the whole request, with
    /// an empty request id, encoded.
    fn by_request(payload: &Payload) -> [u8; 32] {
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

    #[test]
    fn the_fingerprint_is_the_requests_encoding_for_every_kind() {
        let report = Report {
            id: "report-7".into(),
            agreement_ids: vec!["a-1".into()],
            notes: "Shelling reported near the crossing.".into(),
            sources: vec![Source {
                url: "https://example.org/a".into(),
                ..Source::default()
            }],
            ..Report::default()
        };
        let payloads = [
            Payload::Agreement(Agreement {
                title: "Truce".into(),
                ..Agreement::default()
            }),
            Payload::Report(report),
            Payload::Report(Report::default()),
            Payload::Claim(Claim {
                party: "RU".into(),
                ..Claim::default()
            }),
            Payload::Status(StatusChange::default()),
            Payload::Source(SourceAttachment {
                target: Some(source_attachment::Target::ReportId("report-7".into())),
                ..SourceAttachment::default()
            }),
            Payload::Correction(Correction {
                report_id: "report-7".into(),
                ..Correction::default()
            }),
        ];
        for payload in &payloads {
            assert_eq!(request_hash(payload), by_request(payload), "{payload:?}");
        }
    }
}
