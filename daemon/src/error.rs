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
    /// under the margin) is exhausted for now.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A unary call outlived the request deadline.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The entry log was found changed behind truced's back: no writes
    /// and no checkpoints until an operator restores it.
    #[error(
        "{0}; the entry log was changed behind truced's back: no writes are taken and no checkpoints signed; stop truced, run truced audit and restore the log from a backup"
    )]
    Damaged(String),
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

impl Error {
    /// The gRPC code callers are answered with (the one mapping).
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::WritesStopped(_) | Error::ShuttingDown => Code::Unavailable,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
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
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}
