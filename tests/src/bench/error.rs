//! The one error type of the benchmark library, so the measuring code can
//! use `?` on I/O, gRPC and PostgreSQL alike without `unwrap()` (the
//! binary turns it into an `anyhow` error).

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("truce client: {0}")]
    Client(#[from] truce_client::ClientError),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("task: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
