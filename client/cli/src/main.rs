//! `truce`: parse the command line and run its commands.

#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    truce_cli::commands::main(truce_cli::commands::Args::parse()).await
}
