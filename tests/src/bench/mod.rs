//! The measuring code of `truce-bench` (src/bin/truce-bench.rs), kept in
//! small modules so that each is unit-tested: the machine's limits
//! (`machine`), the load driver (`drive`), the reports both sides store
//! (`payload`), truced as a process (`truced`) and its workloads
//! (`truce_ops`), PostgreSQL's server (`postgres`) and inserts (`pg_ops`),
//! the bulk loads of each side (`bulk`),
//! process and disk usage (`usage`), statistics (`stats`), the run itself
//! (`run`) and the table (`table`, rendered by `report`). docs/benchmarks.md
//! explains the measures and records a run.

pub mod bulk;
pub mod drive;
pub mod error;
pub mod machine;
pub mod options;
pub mod payload;
pub mod pg_ops;
pub mod postgres;
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
