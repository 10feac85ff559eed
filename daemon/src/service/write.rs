//! Write RPCs: validate the request's own fields, then commit under the
//! caller's name (the access layer's [`crate::access::Caller`]). Every
//! write is logged once with its request id, method and submitter, and
//! the sequence (accepted) or the code and field (rejected).

use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, CorrectReportRequest, Receipt, RecordAgreementRequest,
    SetStatusRequest, SubmitReportRequest,
};

use crate::{
    commit::CommitHandle,
    error::Error,
    validate::{self, Context},
};

pub async fn record_agreement(
    commit: &CommitHandle,
    req: RecordAgreementRequest,
    submitter: &str,
) -> Result<Receipt, Error> {
    let request_id = req.request_id.clone();
    let result = async {
        let write = validate::record_agreement(req, &Context::now())?;
        commit.submit(write, submitter).await
    };
    logged("RecordAgreement", &request_id, submitter, result.await)
}

pub async fn submit_report(
    commit: &CommitHandle,
    req: SubmitReportRequest,
    submitter: &str,
) -> Result<Receipt, Error> {
    let request_id = req.request_id.clone();
    let result = async {
        let write = validate::submit_report(req, &Context::now())?;
        commit.submit(write, submitter).await
    };
    logged("SubmitReport", &request_id, submitter, result.await)
}

pub async fn add_claim(
    commit: &CommitHandle,
    req: AddClaimRequest,
    submitter: &str,
) -> Result<Receipt, Error> {
    let request_id = req.request_id.clone();
    let result = async {
        let write = validate::add_claim(req, &Context::now())?;
        commit.submit(write, submitter).await
    };
    logged("AddClaim", &request_id, submitter, result.await)
}

pub async fn set_status(
    commit: &CommitHandle,
    req: SetStatusRequest,
    submitter: &str,
) -> Result<Receipt, Error> {
    let request_id = req.request_id.clone();
    let result = async {
        let write = validate::set_status(req, &Context::now())?;
        commit.submit(write, submitter).await
    };
    logged("SetStatus", &request_id, submitter, result.await)
}

pub async fn attach_source(
    commit: &CommitHandle,
    req: AttachSourceRequest,
    submitter: &str,
) -> Result<Receipt, Error> {
    let request_id = req.request_id.clone();
    let result = async {
        let write = validate::attach_source(req, &Context::now())?;
        commit.submit(write, submitter).await
    };
    logged("AttachSource", &request_id, submitter, result.await)
}

pub async fn correct_report(
    commit: &CommitHandle,
    req: CorrectReportRequest,
    submitter: &str,
) -> Result<Receipt, Error> {
    let request_id = req.request_id.clone();
    let result = async {
        let write = validate::correct_report(req, &Context::now())?;
        commit.submit(write, submitter).await
    };
    logged("CorrectReport", &request_id, submitter, result.await)
}

/// Logs the outcome of one write and hands it on.
fn logged(
    method: &'static str,
    request_id: &str,
    submitter: &str,
    result: Result<Receipt, Error>,
) -> Result<Receipt, Error> {
    let request_id = shown(request_id);
    match &result {
        Ok(r) => tracing::info!(
            request_id = %request_id,
            method,
            submitter,
            sequence = r.sequence,
            record_id = %r.record_id,
            duplicate = r.duplicate,
            "write accepted"
        ),
        Err(e) => {
            let code = crate::metrics::code_name(e.code());
            let field = e.field().unwrap_or("");
            match e.code() {
                tonic::Code::Unavailable
                | tonic::Code::Internal
                | tonic::Code::ResourceExhausted => {
                    tracing::warn!(request_id = %request_id, method, submitter, code, field, error = %e, "write refused")
                }
                _ => {
                    tracing::debug!(request_id = %request_id, method, submitter, code, field, error = %e, "write rejected")
                }
            }
        }
    }
    result
}

/// The request id as logged: as sent when it is a valid one, else quoted
/// and cut to its first 128 characters (it may hold anything).
fn shown(request_id: &str) -> String {
    let valid = (1..=128).contains(&request_id.len())
        && request_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if valid {
        request_id.to_owned()
    } else {
        format!("{:?}", request_id.chars().take(128).collect::<String>())
    }
}
