//! The client's errors: [`ClientError`] (the daemon's status with its
//! standard details read: field, reason, retry delay) and
//! [`VerifyFailure`]. The bottom of the crate: it imports only `verify`.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::verify;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server address {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot connect to {url}: {}", chain(.source))]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    /// An `https://` URL whose server answered in plaintext.
    #[error(
        "cannot connect to {url}: the server is not speaking TLS (a plaintext daemon? use http://)"
    )]
    NotTls { url: String },
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(#[from] Status),
    #[error("{0}")]
    Request(String),
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "invalid argument",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::FailedPrecondition => "failed precondition",
        Code::OutOfRange => "out of range",
        Code::Unavailable => "unavailable",
        Code::Unimplemented => "not implemented",
        Code::DeadlineExceeded => "deadline exceeded",
        Code::Internal => "internal error",
        Code::Unauthenticated => "unauthenticated",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        _ => "error",
    }
}

/// An error and its causes on one line (tonic's transport errors say
/// little at the top, e.g. why a TLS handshake failed).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl ClientError {
    /// The gRPC code, when the server answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Status(s) => Some(s.code()),
            _ => None,
        }
    }

    /// The request field the daemon's error details name: a BadRequest
    /// field violation, a PreconditionFailure subject, or the `field` of
    /// ErrorInfo's metadata (NOT_FOUND).
    pub fn field(&self) -> Option<String> {
        let Self::Status(s) = self else {
            return None;
        };
        s.get_details_bad_request()
            .and_then(|b| b.field_violations.into_iter().next())
            .map(|v| v.field)
            .or_else(|| {
                s.get_details_precondition_failure()
                    .and_then(|p| p.violations.into_iter().next())
                    .map(|v| v.subject)
            })
            .or_else(|| {
                s.get_details_error_info()
                    .and_then(|i| i.metadata.get("field").cloned())
            })
            .filter(|f| !f.is_empty())
    }

    /// ErrorInfo's reason (e.g. `INVALID_FIELD`, `RECORD_NOT_FOUND`,
    /// `UNDECODABLE`), when the daemon sent one.
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Status(s) => s.get_details_error_info().map(|i| i.reason),
            _ => None,
        }
    }

    /// How long RetryInfo asks the caller to wait before trying again.
    pub fn retry_delay(&self) -> Option<Duration> {
        match self {
            Self::Status(s) => retry_delay(s),
            _ => None,
        }
    }

    /// True when the request itself was at fault (bad input, unknown or
    /// conflicting ids), rather than the server or the connection.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::InvalidUrl { .. } | Self::Request(_))
            || matches!(
                self.code(),
                Some(
                    Code::InvalidArgument
                        | Code::NotFound
                        | Code::AlreadyExists
                        | Code::FailedPrecondition
                        | Code::OutOfRange
                )
            )
    }
}

/// The delay a status's RetryInfo asks for.
pub(crate) fn retry_delay(s: &Status) -> Option<Duration> {
    s.get_details_retry_info().and_then(|r| r.retry_delay)
}

/// Why a verification failed: the daemon could not be asked, the proof or
/// signature is wrong, or the log was forked or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Invalid(#[from] verify::VerifyError),
    #[error("the log was forked or rewritten: {reason}")]
    Fork {
        reason: String,
        old: Box<verify::VerifiedCheckpoint>,
        new: Box<verify::VerifiedCheckpoint>,
    },
}
