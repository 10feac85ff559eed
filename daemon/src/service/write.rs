//! Write RPCs: validate the request's own fields, then commit.

use tonic::Status;
use truce_proto::v1::{Receipt, RecordAgreementRequest, SubmitReportRequest};

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

/// The answer for write kinds that are defined but not yet served.
pub fn not_yet_served(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what}: defined in truce.v1 but not served by this truced yet"
    ))
}
