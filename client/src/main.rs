//! `truce`: parse the command line and run the client library's CLI.

#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    truce_client::cli::main(truce_client::cli::Args::parse()).await
}
