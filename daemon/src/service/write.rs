//! Write RPCs: validate the request's own fields, then commit.

use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, CorrectReportRequest, Receipt, RecordAgreementRequest,
    SetStatusRequest, SubmitReportRequest,
};

use super::ANONYMOUS_SUBMITTER;
use crate::{
    commit::CommitHandle,
    error::Error,
    validate::{self, Context},
};

pub async fn record_agreement(
    commit: &CommitHandle,
    req: RecordAgreementRequest,
) -> Result<Receipt, Error> {
    let write = validate::record_agreement(req, &Context::now())?;
    commit.submit(write, ANONYMOUS_SUBMITTER).await
}

pub async fn submit_report(
    commit: &CommitHandle,
    req: SubmitReportRequest,
) -> Result<Receipt, Error> {
    let write = validate::submit_report(req, &Context::now())?;
    commit.submit(write, ANONYMOUS_SUBMITTER).await
}

pub async fn add_claim(commit: &CommitHandle, req: AddClaimRequest) -> Result<Receipt, Error> {
    let write = validate::add_claim(req, &Context::now())?;
    commit.submit(write, ANONYMOUS_SUBMITTER).await
}

pub async fn set_status(commit: &CommitHandle, req: SetStatusRequest) -> Result<Receipt, Error> {
    let write = validate::set_status(req, &Context::now())?;
    commit.submit(write, ANONYMOUS_SUBMITTER).await
}

pub async fn attach_source(
    commit: &CommitHandle,
    req: AttachSourceRequest,
) -> Result<Receipt, Error> {
    let write = validate::attach_source(req, &Context::now())?;
    commit.submit(write, ANONYMOUS_SUBMITTER).await
}

pub async fn correct_report(
    commit: &CommitHandle,
    req: CorrectReportRequest,
) -> Result<Receipt, Error> {
    let write = validate::correct_report(req, &Context::now())?;
    commit.submit(write, ANONYMOUS_SUBMITTER).await
}
