//! The daemon's one error type and its one mapping to `tonic::Status`.

use crate::store::StoreError;

/// Everything a daemon operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field breaks a rule. `field` is its path in the request
    /// (e.g. `report.sources[0].url`).
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// A referenced record does not exist (or is not yet durable).
    #[error("{field}: {kind} {id:?} not found")]
    NotFound {
        field: String,
        kind: &'static str,
        id: String,
    },
    /// The request conflicts with what is already recorded.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request makes no sense in the log's current state.
    #[error("{field}: {reason}")]
    FailedPrecondition { field: String, reason: String },
    /// The write path is stopped after a failed flush or sync; reads go on.
    #[error(
        "writes are stopped: {0}; nothing was acknowledged after the failure; restart truced once storage is healthy"
    )]
    WritesStopped(String),
    /// The daemon is shutting down and takes no more writes.
    #[error("truced is shutting down; retry against the restarted daemon")]
    ShuttingDown,
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
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::InvalidArgument { .. } => tonic::Status::invalid_argument(message),
            Error::NotFound { .. } => tonic::Status::not_found(message),
            Error::AlreadyExists(_) => tonic::Status::already_exists(message),
            Error::FailedPrecondition { .. } => tonic::Status::failed_precondition(message),
            Error::WritesStopped(_) | Error::ShuttingDown => tonic::Status::unavailable(message),
            Error::Store(_) | Error::Internal(_) => tonic::Status::internal(message),
        }
    }
}
