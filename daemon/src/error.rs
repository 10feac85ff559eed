//! The daemon's one error type and its one mapping to `tonic::Status`,
//! with the standard error details (google.rpc, AIP-193) every refusal
//! carries, so a client in any language can tell which field failed, which
//! record was missing or when to retry without parsing the message.

use std::{collections::HashMap, time::Duration};

use tonic_types::{ErrorDetails, StatusExt};
use truce_proto::codec::ERROR_DOMAIN;

use crate::{model::UndecodableEntry, store::StoreError};

/// How long a refusal for want of disk space (or a free subscription
/// slot) tells the caller to wait (RetryInfo): the margin is checked again
/// for every group of writes, so a retry is cheap, but space seldom comes
/// back sooner.
pub const RETRY_LATER: Duration = Duration::from_secs(5);

/// Everything a daemon operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field breaks a rule. `field` is its path in the request
    /// (e.g. `report.sources[0].url`).
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// A referenced record does not exist (or is not yet durable); `at`,
    /// for a read as of a sequence, names that sequence (outside the id).
    #[error("{field}: {kind} {id:?} not found{}", at_sequence(.at))]
    NotFound {
        field: String,
        kind: &'static str,
        id: String,
        at: Option<u64>,
    },
    /// The request conflicts with what is already recorded.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request makes no sense in the log's current state.
    #[error("{field}: {reason}")]
    FailedPrecondition { field: String, reason: String },
    /// The write path is stopped after a failed append, write or sync; reads go on.
    #[error("writes are stopped: {0}; nothing was acknowledged after the failure")]
    WritesStopped(String),
    /// The daemon is shutting down and takes no more writes.
    #[error("truced is shutting down; retry against the restarted daemon")]
    ShuttingDown,
    /// No bearer token, or not a known one.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token's role is below what the RPC needs.
    #[error("{0}")]
    PermissionDenied(String),
    /// A limit (such as the caller's request rate, or free disk space
    /// under the margin) is exhausted for now; trying again after
    /// `retry_after` may succeed (sent as RetryInfo).
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: Duration,
    },
    /// A unary call outlived the request deadline.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The entry log was found changed behind truced's back: no writes
    /// and no checkpoints until an operator restores it.
    #[error(
        "{0}; the entry log was changed behind truced's back: no writes are taken and no checkpoints signed; stop truced, run truced audit and restore the log from a backup"
    )]
    Damaged(String),
    /// Cluster mode: the entries could not be ordered now (etcd did not
    /// answer in time, or the log there moved past what this replica has
    /// applied); retrying the same request is safe.
    #[error("not ordered: {0}; retry with the same request id")]
    NotOrdered(String),
    /// Cluster mode: this replica's log differs from the cluster's; it
    /// takes no writes and applies nothing more.
    #[error("this replica's log differs from the cluster's: {0}")]
    Forked(String),
    /// A call asked for a minimum sequence this daemon has not reached
    /// within `min_sequence_wait_ms`.
    #[error(
        "this daemon has applied up to sequence {applied}; the call asked for at least {wanted}: retry, or ask another replica"
    )]
    Behind { applied: u64, wanted: u64 },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// RESOURCE_EXHAUSTED, to be retried after [`RETRY_LATER`].
    pub fn exhausted(message: String) -> Self {
        Self::ResourceExhausted {
            message,
            retry_after: RETRY_LATER,
        }
    }
}

impl Error {
    /// The gRPC code callers are answered with (the one mapping).
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::WritesStopped(_) | Error::ShuttingDown | Error::NotOrdered(_) => {
                Code::Unavailable
            }
            Error::Forked(_) => Code::DataLoss,
            Error::Behind { .. } => Code::Unavailable,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::ResourceExhausted { .. } => Code::ResourceExhausted,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::Store(StoreError::Reopening | StoreError::Busy(_)) => Code::Unavailable,
            // A full disk is not a fault of the server: the call can be
            // retried once space is freed.
            Error::Store(e) if e.is_disk_full() => Code::Unavailable,
            Error::Store(StoreError::Tampered { .. }) | Error::Damaged(_) => Code::DataLoss,
            Error::Store(_) | Error::Internal(_) => Code::Internal,
        }
    }

    /// The request field the error is about, where it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. }
            | Error::NotFound { field, .. }
            | Error::FailedPrecondition { field, .. } => Some(field),
            _ => None,
        }
    }

    /// `ErrorInfo.reason`: the kind of mistake or fault, stable for
    /// machines (UPPER_SNAKE_CASE, per AIP-193).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } => "INVALID_FIELD",
            Error::NotFound { .. } => "RECORD_NOT_FOUND",
            Error::AlreadyExists(_) => "ALREADY_EXISTS",
            Error::FailedPrecondition { .. } => "FAILED_PRECONDITION",
            Error::WritesStopped(_) => "WRITES_STOPPED",
            Error::ShuttingDown => "SHUTTING_DOWN",
            Error::NotOrdered(_) => "NOT_ORDERED",
            Error::Forked(_) => "LOG_FORKED",
            Error::Behind { .. } => "BEHIND",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::PermissionDenied(_) => "PERMISSION_DENIED",
            Error::ResourceExhausted { .. } => "RESOURCE_EXHAUSTED",
            Error::DeadlineExceeded(_) => "DEADLINE_EXCEEDED",
            Error::Store(StoreError::Reopening | StoreError::Busy(_)) => "STORE_BUSY",
            Error::Store(e) if e.is_disk_full() => "DISK_FULL",
            Error::Store(StoreError::Tampered { .. }) => "ENTRY_HASH_MISMATCH",
            Error::Damaged(_) => "LOG_DAMAGED",
            Error::Store(_) | Error::Internal(_) => "INTERNAL",
        }
    }

    /// The standard details: ErrorInfo always (reason, domain `truce`,
    /// the field in its metadata when one is named); BadRequest for an
    /// invalid field, ResourceInfo for a missing record,
    /// PreconditionFailure for a refused state, RetryInfo for an
    /// exhausted limit.
    pub fn details(&self) -> ErrorDetails {
        let mut details = ErrorDetails::new();
        let mut metadata = HashMap::new();
        if let Some(field) = self.field() {
            metadata.insert("field".to_owned(), field.to_owned());
        }
        match self {
            Error::InvalidArgument { field, reason } => {
                details.add_bad_request_violation(field.clone(), reason.clone());
            }
            Error::NotFound { kind, id, .. } => {
                details.set_resource_info(*kind, id.clone(), "", "not found");
                metadata.insert("kind".to_owned(), (*kind).to_owned());
                metadata.insert("id".to_owned(), id.clone());
            }
            Error::FailedPrecondition { field, reason } => {
                details.add_precondition_failure_violation("STATE", field.clone(), reason.clone());
            }
            Error::ResourceExhausted { retry_after, .. } => {
                details.set_retry_info(Some(*retry_after));
            }
            Error::Store(StoreError::Tampered { sequence, .. }) => {
                metadata.insert("sequence".to_owned(), sequence.to_string());
            }
            _ => {}
        }
        details.set_error_info(self.reason(), ERROR_DOMAIN, metadata);
        details
    }
}

/// " at sequence N" for a NotFound of a read as of N.
fn at_sequence(at: &Option<u64>) -> String {
    at.map_or_else(String::new, |n| format!(" at sequence {n}"))
}

/// An entry that passed its hash check yet does not decode is the
/// server's own fault.
impl From<UndecodableEntry> for Error {
    fn from(e: UndecodableEntry) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::with_error_details(e.code(), e.to_string(), e.details())
    }
}

/// A WriteStream envelope's refusal: the status a unary write would have
/// ended with, its details kept as their encoded bytes.
impl From<Error> for truce_proto::v1::WriteError {
    fn from(e: Error) -> Self {
        let field = e.field().unwrap_or("").to_owned();
        let status = tonic::Status::from(e);
        Self {
            code: status.code() as i32,
            message: status.message().to_owned(),
            field,
            details: status.details().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    #[test]
    fn an_invalid_field_is_named_in_bad_request_and_error_info() {
        let status = Status::from(Error::invalid("report.notes", "contains U+001B"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "invalid report.notes: contains U+001B");
        let bad = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "report.notes");
        assert_eq!(bad.field_violations[0].description, "contains U+001B");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "INVALID_FIELD");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(
            info.metadata.get("field").map(String::as_str),
            Some("report.notes")
        );
    }

    #[test]
    fn a_missing_record_is_resource_info() {
        let status = Status::from(Error::NotFound {
            field: "status.evidence.duplicate_of".into(),
            kind: "report",
            id: "r-9".into(),
            at: None,
        });
        assert_eq!(status.code(), Code::NotFound);
        let info = status.get_details_resource_info().expect("ResourceInfo");
        assert_eq!(
            (info.resource_type.as_str(), info.resource_name.as_str()),
            ("report", "r-9")
        );
        let meta = status.get_details_error_info().expect("ErrorInfo").metadata;
        assert_eq!(
            meta.get("field").map(String::as_str),
            Some("status.evidence.duplicate_of")
        );
    }

    #[test]
    fn a_refused_state_is_a_precondition_failure() {
        let status = Status::from(Error::FailedPrecondition {
            field: "to_dir".into(),
            reason: "exists and is not empty".into(),
        });
        let failure = status
            .get_details_precondition_failure()
            .expect("PreconditionFailure");
        assert_eq!(failure.violations[0].subject, "to_dir");
        assert_eq!(failure.violations[0].description, "exists and is not empty");
    }

    #[test]
    fn an_exhausted_limit_says_when_to_retry() {
        let status = Status::from(Error::ResourceExhausted {
            message: "rate limit".into(),
            retry_after: Duration::from_millis(250),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(250)));
        let internal = Status::from(Error::Internal("x".into()));
        assert_eq!(internal.code(), Code::Internal);
        assert_eq!(
            internal.get_details_error_info().expect("ErrorInfo").reason,
            "INTERNAL"
        );
        assert!(internal.get_details_retry_info().is_none());
    }
}
