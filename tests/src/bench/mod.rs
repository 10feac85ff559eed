//! The measuring code of `truce-bench` (src/bin/truce-bench.rs), kept in
//! small modules so that each is unit-tested: the machine's limits
//! (`machine`), the load driver (`drive`), the reports both sides store
//! (`payload`), truced as a process (`truced`) and its workloads
//! (`truce_ops`), PostgreSQL's server (`postgres`) and inserts (`pg_ops`),
//! the bulk loads of each side (`bulk`),
//! process and disk usage (`usage`), statistics (`stats`), the run itself
//! (`run`) and the table (`table`, rendered by `report`). docs/benchmarks.md
//! explains the measures and records a run. The cluster benchmark
//! (src/bin/truce-bench-cluster.rs, the `cluster` feature) adds its append
//! phases (`cluster_load`), its three replicas (`replicas`) and its
//! failover rounds (`failover`).

pub mod bulk;
pub mod cluster_load;
pub mod drive;
pub mod error;
#[cfg(feature = "cluster")]
pub mod failover;
pub mod machine;
pub mod options;
pub mod payload;
pub mod pg_ops;
pub mod postgres;
#[cfg(feature = "cluster")]
pub mod replicas;
pub mod report;
pub mod run;
pub mod spawned;
pub mod stats;
pub mod table;
pub mod truce_ops;
pub mod truced;
pub mod usage;

pub use error::{Error, Result};
pub use options::{Options, Plan};
pub use run::run;
