//! truce-client: a typed async client for the Truce daemon, and the
//! library behind the `truce` command-line tool.
//!
//! ```no_run
//! # async fn demo() -> Result<(), truce_client::ClientError> {
//! let client = truce_client::Client::connect("http://127.0.0.1:50051").await?;
//! let view = client.get_agreement("ru-ua-energy-moratorium-2025").await?;
//! println!("{:?}", view.agreement.map(|a| a.title));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod cli;
mod client;
pub mod compliance;
pub mod connect;
pub mod export;
pub mod import;
pub mod subscription;
pub mod time;
pub mod timeline;
pub mod verify;

pub use client::{
    Client, ClientError, ClientOptions, VerifyFailure, content_request_id, new_request_id,
    request_id_of,
};
pub use connect::ClientIdentity;
pub use subscription::{Event, Start, Subscription};
pub use truce_proto::v1 as proto;
