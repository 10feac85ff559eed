//! Write RPCs: validate the request's own fields, then commit under the
//! caller's name (the access layer's [`crate::access::Caller`]). Every
//! write is logged once with its request id, method and submitter, and
//! the sequence (accepted) or the code and field (rejected).

use std::{future::Future, pin::Pin};

use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, CorrectReportRequest, Envelope, Receipt,
    RecordAgreementRequest, SetStatusRequest, SubmitReportRequest, envelope::Kind,
};

use crate::{
    access::Caller,
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

/// What one envelope of a WriteStream resolves to: its durable receipt or
/// its refusal, logged as its unary write's would be.
pub type Answer = Pin<Box<dyn Future<Output = Result<Receipt, Error>> + Send + 'static>>;

/// One envelope of a WriteStream: checked against its unary method's
/// role, validated as that method validates, then queued behind the
/// stream's earlier envelopes (so they commit in order and share groups).
/// Returns whether a proof was asked for and the answer; a refusal is an
/// answer ready at once, and the stream goes on.
pub async fn envelope(
    commit: &CommitHandle,
    envelope: Envelope,
    caller: &Caller,
) -> (bool, Answer) {
    let Some(kind) = envelope.kind else {
        let e = Error::invalid("kind", "the envelope holds no write request");
        return (false, Box::pin(std::future::ready(Err(e))));
    };
    let (method, request_id, with_proof) = describe(&kind);
    let submitter = caller.name.clone();
    let queued = async {
        caller.may_call(method)?;
        let ctx = Context::now();
        let write = match kind {
            Kind::Agreement(r) => validate::record_agreement(r, &ctx)?,
            Kind::Report(r) => validate::submit_report(r, &ctx)?,
            Kind::Claim(r) => validate::add_claim(r, &ctx)?,
            Kind::Status(r) => validate::set_status(r, &ctx)?,
            Kind::Source(r) => validate::attach_source(r, &ctx)?,
            Kind::Correction(r) => validate::correct_report(r, &ctx)?,
        };
        commit.enqueue(write, &submitter).await
    };
    let answer: Answer = match queued.await {
        Ok(receipt) => Box::pin(async move {
            let result = receipt.await;
            logged(method, &request_id, &submitter, result)
        }),
        Err(e) => Box::pin(std::future::ready(logged(
            method,
            &request_id,
            &submitter,
            Err(e),
        ))),
    };
    (with_proof, answer)
}

/// The unary method an envelope stands for, its request id and whether it
/// asks for a proof.
fn describe(kind: &Kind) -> (&'static str, String, bool) {
    match kind {
        Kind::Agreement(r) => ("RecordAgreement", r.request_id.clone(), r.with_proof),
        Kind::Report(r) => ("SubmitReport", r.request_id.clone(), r.with_proof),
        Kind::Claim(r) => ("AddClaim", r.request_id.clone(), r.with_proof),
        Kind::Status(r) => ("SetStatus", r.request_id.clone(), r.with_proof),
        Kind::Source(r) => ("AttachSource", r.request_id.clone(), r.with_proof),
        Kind::Correction(r) => ("CorrectReport", r.request_id.clone(), r.with_proof),
    }
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
