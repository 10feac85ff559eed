//! truce-daemon: the library behind `truced`, the Truce ceasefire-record
//! daemon. See ARCHITECTURE.md for the shape; in short, a write goes
//! service → validate → commit (the single writer) → store → sync, and a
//! read goes service → store, never past the durable sequence.

#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod backup;
pub(crate) mod budget;
pub(crate) mod checkpoint;
pub mod cli;
#[cfg(feature = "cluster")]
pub(crate) mod cluster;
pub(crate) mod commit;
pub(crate) mod compliance;
pub mod config;
pub(crate) mod conn;
pub(crate) mod cosigned;
pub(crate) mod error;
pub(crate) mod forward;
pub(crate) mod freshness;
pub(crate) mod metrics;
pub mod model;
pub(crate) mod query;
pub(crate) mod replication;
pub(crate) mod scrub;
pub(crate) mod server;
pub(crate) mod service;
pub(crate) mod service_manager;
pub mod space;
pub mod store;
pub(crate) mod subscribe;
pub mod sync;
pub(crate) mod telemetry;
pub(crate) mod tls;
pub mod validate;
pub(crate) mod views;
pub(crate) mod web;

pub use config::Settings;
pub use error::Error;
pub use server::{Daemon, Running, StartError, test_settings};
