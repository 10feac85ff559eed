//! The benchmark of the benchmark issue: in one run, the machine's limits
//! (F1 fsyncs, R1 loopback round trips), truced's durable appends from 1
//! and many clients, lookups and a filtered query on a large store, disk
//! and RSS, and PostgreSQL's inserts of the same reports beside them; a
//! table with medians over runs, ratios and goals (docs/benchmarks.md).
//!
//!     cargo build --release -p truce-daemon -p truce-tests
//!     target/release/truce-bench [--runs 3] [--seconds 10] [--entries 1000000] [--out FILE]
//!
//! The measuring code is the library's `truce_tests::bench`.

#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use truce_tests::bench::{Options, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let plan = options.plan();
    // On Ctrl-C the run is dropped, and with it truced, PostgreSQL and the
    // temporary dirs.
    let report = tokio::select! {
        report = run(&plan) => report?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    };
    print!("{}", report.text());
    if let Some(out) = &options.out {
        std::fs::write(out, report.markdown())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
