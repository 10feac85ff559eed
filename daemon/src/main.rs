//! `truced`: parse the command line and run the daemon library.

#![forbid(unsafe_code)]

/// jemalloc rather than the system allocator: reads decode many small
/// protobuf messages, and glibc's malloc spent a third of a compliance
/// report's time in allocation. jemalloc rather than mimalloc: as fast
/// here, and it keeps less memory (RSS 615 against 746 MiB on a million
/// reports; docs/benchmarks.md). Its options (one arena, a background
/// thread) are compiled in from `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long the runtime waits, once `truced` is done, for blocking tasks
/// that overran their own bounds (a flush on a failing disk): the process
/// exits regardless.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> std::process::ExitCode {
    let args = truce_daemon::cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("truced: error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(truce_daemon::cli::run(args));
    runtime.shutdown_timeout(EXIT_WAIT);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("truced: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
