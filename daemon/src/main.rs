//! `truced`: parse the command line and run the daemon library.

#![forbid(unsafe_code)]

use clap::Parser;

/// jemalloc rather than the system allocator: reads decode many small
/// protobuf messages, and glibc's malloc spent a third of a compliance
/// report's time in allocation. jemalloc rather than mimalloc: as fast
/// here, and it keeps less memory (RSS 615 against 746 MiB on a million
/// reports; docs/benchmarks.md). Its options (one arena, a background
/// thread) are compiled in from `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
