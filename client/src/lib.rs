//! truce-client: the typed async client for the Truce daemon (the SDK).
//! The `truce` command-line tool is its own crate (`truce-cli`, in
//! `client/cli/`); nothing here depends on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), truce_client::ClientError> {
//! let client = truce_client::Client::connect("http://127.0.0.1:50051").await?;
//! let view = client.get_agreement("ru-ua-energy-moratorium-2025").await?;
//! println!("{:?}", view.agreement.map(|a| a.title));
//! # Ok(()) }
//! ```
//!
//! The modules, from the bottom up (each imports only those before it):
//! `verify` (proof and signature checks, pure), `error`, `connect` (the
//! channel and its options), `client` (the calls), `subscription`
//! (`Client::subscribe`), `write_stream` (`Client::write_stream`: bulk
//! writes over one stream).

#![forbid(unsafe_code)]

mod client;
pub mod connect;
mod error;
pub mod subscription;
pub mod verify;
pub mod write_stream;

pub use client::{Client, content_request_id, decode_entry, new_request_id, request_id_of};
pub use connect::{ClientIdentity, ClientOptions};
pub use error::{ClientError, VerifyFailure};
pub use subscription::{Event, Start, Subscription};
pub use truce_proto::v1 as proto;
pub use write_stream::{Receipts, StreamAnswer, WriteSender};
