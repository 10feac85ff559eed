//! The web view's one error type and its one mapping to an HTTP answer:
//! the gRPC status a read returned becomes the matching HTTP status with
//! its message on a small page; a bad query parameter is a 400 naming the
//! parameter; a missing or unknown token is a 401 with the token form.

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// A read refused or failed.
    #[error("{}", .0.message())]
    Read(#[from] tonic::Status),
    /// A query parameter that does not parse.
    #[error("parameter {name}: {reason}")]
    Param { name: &'static str, reason: String },
    /// No token, or one the daemon does not know.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is known but may not read.
    #[error("{0}")]
    Forbidden(String),
}

impl WebError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Self::Param {
            name,
            reason: reason.into(),
        }
    }

    fn status(&self) -> StatusCode {
        use tonic::Code;
        match self {
            Self::Param { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Read(s) => match s.code() {
                Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
                Code::NotFound => StatusCode::NOT_FOUND,
                Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                Code::PermissionDenied => StatusCode::FORBIDDEN,
                Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
                Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
                Code::FailedPrecondition => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::UNAUTHORIZED {
            return (status, Html(super::auth::form_page(&self.to_string(), "/"))).into_response();
        }
        let page = super::layout::error_page(status, &self.to_string());
        (status, Html(page)).into_response()
    }
}
