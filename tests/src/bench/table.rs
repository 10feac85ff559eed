//! The rows of the result table from the runs' figures, with the goals of
//! the benchmark issue: 64 clients ≥ 1.5 × PostgreSQL and ≥ 8 × F1; 1
//! client ≥ 1.0 × PostgreSQL; lookups ≥ 0.15 × R1; the filtered query's
//! p99 ≤ 10 ms; disk ≤ 3 × logical bytes; RSS ≤ 2 × cache + 100 MiB.

use super::{
    bulk::{Bulk, Load},
    options::Plan,
    payload::{MAX_BYTES, MIN_BYTES},
    report::{Goal, Report, Row},
    run::Runs,
};

const MIB: f64 = 1024.0 * 1024.0;

type Values = Result<Vec<f64>, String>;

/// The table of one invocation.
pub fn build(plan: &Plan, runs: &Runs) -> Report {
    let c = plan.clients;
    let f1: Values = Ok(runs.f1.clone());
    let r1: Values = Ok(runs.r1.clone());
    let appends =
        |f: fn(&super::run::Appends) -> f64| -> Values { Ok(runs.appends.iter().map(f).collect()) };
    let inserts = |f: fn(&super::run::Inserts) -> f64| -> Values {
        runs.inserts
            .as_ref()
            .map(|v| v.iter().map(f).collect())
            .map_err(Clone::clone)
    };
    let store = |f: &dyn Fn(&super::run::StoreRun) -> f64| -> Values {
        Ok(runs.store.iter().map(f).collect())
    };
    let pg_one = inserts(|i| i.one.rate);
    let pg_many = inserts(|i| i.many.rate);
    let logical = store(&|s| s.logical_bytes as f64 / MIB);
    let rss_goal = Goal::AtMost((2 * plan.cache_mb + 100) as f64);
    let n = plan.entries;
    let mut rows = vec![
        Row::new("F1: 4 KiB appends, each + fdatasync", "/s", f1.clone()),
        Row::new("R1: loopback TCP round trips, 1 client", "/s", r1.clone()),
        Row::new(
            "truced durable appends, 1 client",
            "/s",
            appends(|a| a.one.rate),
        )
        .ratio("PostgreSQL 1 client", &pg_one, Some(Goal::AtLeast(1.0)))
        .ratio("F1", &f1, None),
    ];
    rows.extend(latencies(
        "truced append",
        "1 client",
        appends(|a| a.one.p50_ms),
        appends(|a| a.one.p99_ms),
    ));
    rows.push(Row::new(
        "truced entries per fsync, 1 client",
        "entries",
        appends(|a| a.one_per_sync),
    ));
    rows.push(
        Row::new(
            format!("truced durable appends, {c} clients"),
            "/s",
            appends(|a| a.many.rate),
        )
        .ratio(
            &format!("PostgreSQL {c} clients"),
            &pg_many,
            Some(Goal::AtLeast(1.5)),
        )
        .ratio("F1", &f1, Some(Goal::AtLeast(8.0))),
    );
    rows.extend(latencies(
        "truced append",
        &format!("{c} clients"),
        appends(|a| a.many.p50_ms),
        appends(|a| a.many.p99_ms),
    ));
    rows.push(Row::new(
        format!("truced entries per fsync, {c} clients"),
        "entries",
        appends(|a| a.many_per_sync),
    ));
    rows.push(Row::new(
        format!("truced CPU per append, {c} clients"),
        "µs",
        appends(|a| a.many_cpu_server_us),
    ));
    rows.push(Row::new(
        format!("benchmark clients' CPU per truced append, {c} clients"),
        "µs",
        appends(|a| a.many_cpu_client_us),
    ));
    rows.push(
        Row::new(
            "truced floor: gRPC health checks, 1 client",
            "/s",
            appends(|a| a.floor_one.rate),
        )
        .ratio("PostgreSQL 1 client", &pg_one, None),
    );
    rows.push(
        Row::new(
            format!("truced floor: gRPC health checks, {c} clients"),
            "/s",
            appends(|a| a.floor_many.rate),
        )
        .ratio(&format!("PostgreSQL {c} clients"), &pg_many, None),
    );
    rows.push(
        Row::new("PostgreSQL inserts, 1 client", "/s", pg_one.clone()).ratio("F1", &f1, None),
    );
    rows.extend(latencies(
        "PostgreSQL insert",
        "1 client",
        inserts(|i| i.one.p50_ms),
        inserts(|i| i.one.p99_ms),
    ));
    rows.push(
        Row::new(
            format!("PostgreSQL inserts, {c} clients"),
            "/s",
            pg_many.clone(),
        )
        .ratio("F1", &f1, None),
    );
    rows.extend(latencies(
        "PostgreSQL insert",
        &format!("{c} clients"),
        inserts(|i| i.many.p50_ms),
        inserts(|i| i.many.p99_ms),
    ));
    rows.push(Row::new(
        format!("PostgreSQL CPU per insert, {c} clients"),
        "µs",
        inserts(|i| i.many_cpu_server_us),
    ));
    rows.push(Row::new(
        format!("PostgreSQL: benchmark clients' CPU per insert, {c} clients"),
        "µs",
        inserts(|i| i.many_cpu_client_us),
    ));
    let f1_store: Values = Ok(runs.f1.iter().take(runs.store.len()).copied().collect());
    let r1_store: Values = Ok(runs.r1.iter().take(runs.store.len()).copied().collect());
    rows.push(
        Row::new(
            format!("truced load of {n} reports, {c} clients"),
            "/s",
            store(&|s| s.load_rate),
        )
        .ratio("F1", &f1_store, None),
    );
    rows.push(
        Row::new(
            "truced point lookups (GetReport), 1 client",
            "/s",
            store(&|s| s.lookups.rate),
        )
        .ratio("R1", &r1_store, Some(Goal::AtLeast(0.15))),
    );
    rows.extend(latencies(
        "truced lookup",
        "1 client",
        store(&|s| s.lookups.p50_ms),
        store(&|s| s.lookups.p99_ms),
    ));
    let found = format!("query of 100 reports among {n}");
    rows.push(Row::new(
        format!("truced {found} p50"),
        "ms",
        store(&|s| s.query.p50_ms),
    ));
    rows.push(
        Row::new(
            format!("truced {found} p99"),
            "ms",
            store(&|s| s.query.p99_ms),
        )
        .goal(Goal::AtMost(10.0)),
    );
    rows.push(Row::new(
        "logical bytes (encoded requests)",
        "MiB",
        logical.clone(),
    ));
    rows.push(
        Row::new(
            "truced disk, allocated",
            "MiB",
            store(&|s| s.disk.allocated as f64 / MIB),
        )
        .ratio("logical", &logical, Some(Goal::AtMost(3.0))),
    );
    rows.push(
        Row::new(
            "truced disk, apparent size",
            "MiB",
            store(&|s| s.disk.apparent as f64 / MIB),
        )
        .ratio("logical", &logical, None),
    );
    rows.push(
        Row::new(
            "truced disk: the entry log (log/), allocated",
            "MiB",
            store(&|s| s.disk_log.allocated as f64 / MIB),
        )
        .ratio("logical", &logical, None),
    );
    rows.push(
        Row::new(
            "truced disk: sled's derived trees (store/), allocated",
            "MiB",
            store(&|s| s.disk_sled.allocated as f64 / MIB),
        )
        .ratio("logical", &logical, None),
    );
    rows.push(
        Row::new(
            "truced RSS after load",
            "MiB",
            store(&|s| s.rss_after_load as f64 / MIB),
        )
        .goal(rss_goal),
    );
    rows.push(
        Row::new(
            "truced RSS after lookups and queries",
            "MiB",
            store(&|s| s.rss_after_queries as f64 / MIB),
        )
        .goal(rss_goal),
    );
    rows.extend(bulk_rows(plan, runs));
    Report {
        preamble: preamble(plan, runs),
        rows,
    }
}

/// The bulk phase: rows/s of each way against PostgreSQL's COPY, and CPU
/// per row (the servers', the clients').
fn bulk_rows(plan: &Plan, runs: &Runs) -> Vec<Row> {
    type Way = fn(&Bulk) -> Result<Load, String>;
    let each = |way: Way, f: fn(&Load) -> f64| -> Values {
        runs.bulk
            .iter()
            .map(|b| way(b).map(|l| f(&l)))
            .collect::<Result<Vec<f64>, String>>()
    };
    let n = plan.bulk;
    let copy: Way = |b| b.copy.clone();
    let ways: [(String, Way, Option<Goal>); 3] = [
        (
            format!("truce import of {n} reports (JSONL, the real binary)"),
            |b| b.import.clone(),
            Some(Goal::AtLeast(1.0)),
        ),
        (
            format!("truce submit --file of {n} reports (WriteStream)"),
            |b| b.submit.clone(),
            None,
        ),
        (
            format!("truced WriteStream of {n} reports, 1 client"),
            |b| Ok(b.stream),
            None,
        ),
    ];
    let pg_rate = each(copy, |l| l.rate);
    let mut rows = Vec::new();
    for (name, way, goal) in ways {
        rows.push(Row::new(name.clone(), "/s", each(way, |l| l.rate)).ratio(
            "PostgreSQL COPY",
            &pg_rate,
            goal,
        ));
        rows.push(Row::new(
            format!("{name}: truced CPU per row"),
            "µs",
            each(way, |l| l.cpu_server_us),
        ));
        rows.push(Row::new(
            format!("{name}: client CPU per row"),
            "µs",
            each(way, |l| l.cpu_client_us),
        ));
    }
    let name = format!("PostgreSQL COPY of {n} rows, one transaction");
    rows.push(Row::new(name.clone(), "/s", pg_rate));
    rows.push(Row::new(
        format!("{name}: PostgreSQL CPU per row"),
        "µs",
        each(copy, |l| l.cpu_server_us),
    ));
    rows.push(Row::new(
        format!("{name}: client CPU per row"),
        "µs",
        each(copy, |l| l.cpu_client_us),
    ));
    rows
}

/// p50 and p99 rows of a timed phase.
fn latencies(what: &str, who: &str, p50: Values, p99: Values) -> [Row; 2] {
    [
        Row::new(format!("{what} latency p50, {who}"), "ms", p50),
        Row::new(format!("{what} latency p99, {who}"), "ms", p99),
    ]
}

fn preamble(plan: &Plan, runs: &Runs) -> Vec<String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let postgres = match (&runs.postgres_version, &runs.inserts) {
        (Some(v), Ok(_)) => v.clone(),
        (_, Err(why)) => format!("skipped: {why}"),
        (None, Ok(_)) => "?".into(),
    };
    vec![
        format!(
            "truce-bench {} — {} run(s) of {:.1} s phases (after {:.1} s warm-ups), store phase {} time(s); {} clients over {} connections; {} reports in the store; --cache-mb {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            plan.runs,
            plan.phase.as_secs_f64(),
            plan.warmup.as_secs_f64(),
            runs.store.len(),
            plan.clients,
            plan.connections,
            plan.entries,
            plan.cache_mb,
        ),
        format!(
            "machine: {cores} cores, Linux {}; data dirs under {}; reports of {MIN_BYTES}–{MAX_BYTES} B encoded; PostgreSQL: {postgres}",
            kernel.trim(),
            plan.dir.display()
        ),
    ]
}

/// Used by tests: the table of made-up runs.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{
        options::Options,
        run::{Appends, Inserts, StoreRun, Timed},
        usage::DiskUse,
    };
    use clap::Parser;

    fn timed(rate: f64) -> Timed {
        Timed {
            rate,
            p50_ms: 1.0,
            p99_ms: 2.0,
        }
    }

    fn load(rate: f64) -> Load {
        Load {
            rate,
            cpu_server_us: 30.0,
            cpu_client_us: 10.0,
        }
    }

    #[test]
    fn every_row_has_figures_and_goals_are_judged() {
        let plan = Options::parse_from(["truce-bench", "--runs", "1"]).plan();
        let runs = Runs {
            f1: vec![500.0],
            r1: vec![20_000.0],
            appends: vec![Appends {
                one: timed(400.0),
                one_per_sync: 1.0,
                many: timed(6_000.0),
                many_per_sync: 40.0,
                many_cpu_server_us: 150.0,
                many_cpu_client_us: 100.0,
                floor_one: timed(5_000.0),
                floor_many: timed(20_000.0),
            }],
            inserts: Ok(vec![Inserts {
                one: timed(350.0),
                many: timed(3_000.0),
                many_cpu_server_us: 100.0,
                many_cpu_client_us: 50.0,
            }]),
            store: vec![StoreRun {
                load_rate: 5_000.0,
                lookups: timed(5_000.0),
                query: timed(100.0),
                disk: DiskUse {
                    allocated: 2 << 30,
                    apparent: 2 << 30,
                },
                disk_log: DiskUse {
                    allocated: 1 << 30,
                    apparent: 1 << 30,
                },
                disk_sled: DiskUse {
                    allocated: 1 << 30,
                    apparent: 1 << 30,
                },
                logical_bytes: 1 << 30,
                rss_after_load: 300 << 20,
                rss_after_queries: 310 << 20,
            }],
            bulk: vec![Bulk {
                stream: load(30_000.0),
                submit: Ok(load(25_000.0)),
                import: Ok(load(21_000.0)),
                copy: Ok(load(20_000.0)),
            }],
            postgres_version: Some("postgres (PostgreSQL) 15".into()),
        };
        let report = build(&plan, &runs);
        assert_eq!(report.rows.len(), 35 + 12);
        for row in &report.rows {
            assert!(
                row.values.as_ref().is_ok_and(|v| v.len() == 1),
                "{}",
                row.name
            );
            for (goal, met) in row.verdicts() {
                assert_eq!(met, Some(true), "{}: {goal}", row.name);
            }
        }
        let skipped = Runs {
            inserts: Err("--no-postgres".into()),
            ..runs
        };
        let md = build(&plan, &skipped).markdown();
        assert!(
            md.contains("| PostgreSQL inserts, 1 client (/s) | — | — | — |"),
            "{md}"
        );
        assert!(md.contains("skipped: --no-postgres"));
    }
}
