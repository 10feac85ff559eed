//! `truced`: parse the command line and run the daemon library.

#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = truce_daemon::cli::Args::parse();
    match truce_daemon::cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("truced: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
