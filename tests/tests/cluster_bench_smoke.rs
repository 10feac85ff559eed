//! The cluster benchmark must not rot: `truce-bench-cluster` with tiny
//! phases (half a second, four clients, one failover) finishes and prints
//! a row with figures for every setup, and the failover's time. No goal
//! is asserted: this is not a benchmark run. Needs the `cluster` feature
//! and the cluster-mode `truced` beside the benchmark, as the cluster
//! tests do.

#![cfg(feature = "cluster")]

use std::process::Command;

const SETUPS: [&str; 3] = [
    "single node",
    "3 replicas, clients on the writer",
    "3 replicas, clients spread (forwarded)",
];

fn figure(cell: &str) -> Option<f64> {
    cell.trim()
        .trim_end_matches('×')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[test]
fn a_tiny_run_prints_every_setup_and_the_failover() {
    let run = Command::new(env!("CARGO_BIN_EXE_truce-bench-cluster"))
        .args(["--clients", "4", "--connections", "2", "--seconds", "0.5"])
        .args(["--warmup", "0", "--failovers", "1", "--lease-secs", "2"])
        .output()
        .expect("truce-bench-cluster runs");
    assert!(
        run.status.success(),
        "truce-bench-cluster failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let markdown = String::from_utf8_lossy(&run.stdout);
    for setup in SETUPS {
        // The first table's row: rates and etcd's figures.
        let line = markdown
            .lines()
            .find(|l| l.starts_with(&format!("| {setup} | ")))
            .unwrap_or_else(|| panic!("no row for {setup:?} in\n{markdown}"));
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 9, "{line}");
        assert!(figure(cells[1]).is_some_and(|r| r > 0.0), "{line}");
        assert!(figure(cells[3]).is_some(), "{line}");
        let per_txn = figure(cells[4]);
        if setup == "single node" {
            assert!(per_txn.is_none(), "{line}");
        } else {
            assert!(per_txn.is_some_and(|n| n >= 1.0), "{line}");
        }
    }
    assert!(markdown.contains("| 1 | r"), "{markdown}");
    assert!(markdown.contains("Failover: median"), "{markdown}");
}
