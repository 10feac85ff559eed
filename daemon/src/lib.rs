//! truce-daemon: the library behind `truced`, the Truce ceasefire-record
//! daemon. See ARCHITECTURE.md for the shape; in short, a write goes
//! service → validate → commit (the single writer) → store → sync, and a
//! read goes service → store, never past the durable sequence.

#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod backup;
pub mod budget;
pub mod checkpoint;
pub mod cli;
pub mod commit;
pub mod compliance;
pub mod config;
pub mod conn;
pub mod derive;
pub mod error;
pub mod index;
pub mod merkle;
pub mod metrics;
pub mod project;
pub mod query;
pub mod scope;
pub mod server;
pub mod service;
pub mod service_manager;
pub mod space;
pub mod store;
pub mod subscribe;
pub mod sync;
pub mod telemetry;
pub mod tls;
pub mod validate;
pub mod views;

pub use config::Settings;
pub use error::Error;
pub use server::{Daemon, Running, StartError, test_settings};
