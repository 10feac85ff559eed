//! truce-cli: the `truce` command-line tool over the truce-client SDK:
//! its commands and flags (`commands/`), tables and JSON, compliance
//! reports as text (`compliance`) and SVG (`timeline`), `truce import`
//! (`import`) and `truce export` (`export`), and the times the command
//! line reads and prints (`time`). `main.rs` only parses and runs.

#![forbid(unsafe_code)]

pub mod commands;
pub mod compliance;
pub mod export;
pub mod import;
pub mod time;
/// The per-day timeline SVG lives in truce-chart, shared with the
/// daemon's web view.
pub use truce_chart::timeline;
#[cfg(test)]
mod timeline_tests;
