//! CI runs the benchmark harness for a few seconds so that it cannot rot:
//! `truce-bench --smoke` must finish and its Markdown must have a row with
//! figures for every measure; PostgreSQL's rows have figures or say why
//! they were skipped (CI machines may lack PostgreSQL). No goal is
//! asserted: this is not a benchmark run.

use std::{path::PathBuf, process::Command};

/// The start of every measure's row.
const MEASURES: [&str; 47] = [
    "F1: 4 KiB appends",
    "R1: loopback TCP round trips",
    "truced durable appends, 1 client",
    "truced append latency p50, 1 client",
    "truced append latency p99, 1 client",
    "truced entries per fsync, 1 client",
    "truced durable appends, 64 clients",
    "truced append latency p50, 64 clients",
    "truced append latency p99, 64 clients",
    "truced entries per fsync, 64 clients",
    "truced CPU per append, 64 clients",
    "benchmark clients' CPU per truced append, 64 clients",
    "truced floor: gRPC health checks, 1 client",
    "truced floor: gRPC health checks, 64 clients",
    "PostgreSQL inserts, 1 client",
    "PostgreSQL insert latency p50, 1 client",
    "PostgreSQL insert latency p99, 1 client",
    "PostgreSQL inserts, 64 clients",
    "PostgreSQL insert latency p50, 64 clients",
    "PostgreSQL insert latency p99, 64 clients",
    "PostgreSQL CPU per insert, 64 clients",
    "PostgreSQL: benchmark clients' CPU per insert, 64 clients",
    "truced load of 1000 reports, 64 clients",
    "truced point lookups (GetReport), 1 client",
    "truced lookup latency p50, 1 client",
    "truced lookup latency p99, 1 client",
    "truced query of 100 reports among 1000 p50",
    "truced query of 100 reports among 1000 p99",
    "logical bytes (encoded requests)",
    "truced disk, allocated",
    "truced disk, apparent size",
    "truced disk: the entry log (log/), allocated",
    "truced disk: sled's derived trees (store/), allocated",
    "truced RSS after load",
    "truced RSS after lookups and queries",
    "truce import of 300 reports (JSONL, the real binary)",
    "truce import of 300 reports (JSONL, the real binary): truced CPU per row",
    "truce import of 300 reports (JSONL, the real binary): client CPU per row",
    "truce submit --file of 300 reports (WriteStream)",
    "truce submit --file of 300 reports (WriteStream): truced CPU per row",
    "truce submit --file of 300 reports (WriteStream): client CPU per row",
    "truced WriteStream of 300 reports, 1 client",
    "truced WriteStream of 300 reports, 1 client: truced CPU per row",
    "truced WriteStream of 300 reports, 1 client: client CPU per row",
    "PostgreSQL COPY of 300 rows, one transaction",
    "PostgreSQL COPY of 300 rows, one transaction: PostgreSQL CPU per row",
    "PostgreSQL COPY of 300 rows, one transaction: client CPU per row",
];

/// `truced` and `truce` beside the benchmark (as it looks for them),
/// built when this test runs alone (`cargo test -p truce-tests` does not
/// build them).
fn ensure_binaries() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_truce-bench"));
    for (package, binary) in [("truce-daemon", "truced"), ("truce-cli", "truce")] {
        if bench.with_file_name(binary).exists() {
            continue;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bin", binary])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p {package} failed");
    }
}

fn figure(cell: &str) -> Option<f64> {
    cell.trim()
        .replace(',', "")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[test]
fn smoke_run_has_every_measure() {
    ensure_binaries();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bench.md");
    let run = Command::new(env!("CARGO_BIN_EXE_truce-bench"))
        .args(["--smoke", "--out"])
        .arg(&out)
        .output()
        .expect("truce-bench runs");
    assert!(
        run.status.success(),
        "truce-bench --smoke failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let markdown = std::fs::read_to_string(&out).expect("the Markdown was written");
    for measure in MEASURES {
        let line = markdown
            .lines()
            .find(|l| l.starts_with(&format!("| {measure}")))
            .unwrap_or_else(|| panic!("no row for {measure:?} in\n{markdown}"));
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 7, "{line}");
        let figures: Vec<Option<f64>> = cells[1..4].iter().map(|c| figure(c)).collect();
        if measure.starts_with("PostgreSQL") && cells[6].contains("skipped: ") {
            assert!(cells[1..4].iter().all(|c| c.trim() == "—"), "{line}");
            continue;
        }
        assert!(figures.iter().all(Option::is_some), "{line}");
        assert!(!line.contains("NaN"), "{line}");
    }
}
