//! `truced`: parse the command line and run the daemon library.

#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc rather than the system allocator: reads decode many small
/// protobuf messages, and glibc's malloc spent a third of a compliance
/// report's time in allocation (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
