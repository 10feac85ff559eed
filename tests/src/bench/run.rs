//! One benchmark invocation: for each run, the machine's limits (F1, R1),
//! truced's durable appends from 1 and from many clients on a fresh store
//! and the floor of any call to it (health checks, 1 and many clients),
//! PostgreSQL's inserts of the same reports at 1 and many clients, and (for
//! the store runs) a store of `entries` reports loaded through gRPC, then
//! point lookups, the filtered query, disk and RSS; then the table.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use truce_client::Client;

use super::{
    bulk::{self, Bulk},
    drive::{Outcome, Stop, Worker, drive},
    error::Result,
    machine,
    options::Plan,
    payload::Generator,
    pg_ops,
    postgres::{self, PgServer, Skip},
    report::Report,
    table,
    truce_ops::{Lookup, Ping, Query, appenders, health_clients},
    truced::{self, Metrics, Truced},
    usage,
};

/// A timed phase's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timed {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl From<&Outcome> for Timed {
    fn from(o: &Outcome) -> Self {
        Self {
            rate: o.rate(),
            p50_ms: o.p(0.5),
            p99_ms: o.p(0.99),
        }
    }
}

/// truced's appends of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Appends {
    pub one: Timed,
    pub one_per_sync: f64,
    pub many: Timed,
    pub many_per_sync: f64,
    /// CPU time per append in the many-clients phase, µs: truced's, and
    /// the benchmark process's (its gRPC clients).
    pub many_cpu_server_us: f64,
    pub many_cpu_client_us: f64,
    /// Health checks on the same daemon: the floor of any unary call.
    pub floor_one: Timed,
    pub floor_many: Timed,
}

/// PostgreSQL's inserts of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inserts {
    pub one: Timed,
    pub many: Timed,
    /// CPU time per insert in the many-clients phase, µs: PostgreSQL's
    /// processes', and the benchmark process's (its clients).
    pub many_cpu_server_us: f64,
    pub many_cpu_client_us: f64,
}

/// The store phase of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreRun {
    pub load_rate: f64,
    pub lookups: Timed,
    pub query: Timed,
    pub disk: usage::DiskUse,
    /// The entry log (`log/`) and sled's derived trees (`store/`).
    pub disk_log: usage::DiskUse,
    pub disk_sled: usage::DiskUse,
    pub logical_bytes: u64,
    pub rss_after_load: u64,
    pub rss_after_queries: u64,
}

/// Everything measured, run by run.
#[derive(Debug, Clone)]
pub struct Runs {
    pub f1: Vec<f64>,
    pub r1: Vec<f64>,
    pub appends: Vec<Appends>,
    /// Why PostgreSQL is not in the table, if it is not.
    pub inserts: std::result::Result<Vec<Inserts>, Skip>,
    pub store: Vec<StoreRun>,
    /// The bulk loads (as many as the store runs).
    pub bulk: Vec<Bulk>,
    pub postgres_version: Option<String>,
}

/// Runs the whole plan and builds the table.
pub async fn run(plan: &Plan) -> Result<Report> {
    let binary = match &plan.truced {
        Some(path) => path.clone(),
        None => truced::beside_this_executable()?,
    };
    std::fs::create_dir_all(&plan.dir)?;
    let work = tempfile::Builder::new()
        .prefix("truce-bench")
        .tempdir_in(&plan.dir)?;
    let server = if plan.postgres {
        postgres::binaries(plan.install_postgres).and_then(|bin| PgServer::start(&bin, &plan.dir))
    } else {
        Err("--no-postgres".to_owned())
    };
    let mut runs = Runs {
        f1: Vec::new(),
        r1: Vec::new(),
        appends: Vec::new(),
        inserts: server.as_ref().map(|_| Vec::new()).map_err(Clone::clone),
        store: Vec::new(),
        bulk: Vec::new(),
        postgres_version: server.as_ref().ok().map(|s| s.version.clone()),
    };
    for run in 0..plan.runs {
        say(plan, format!("run {}/{}: F1, R1", run + 1, plan.runs));
        let (dir, phase) = (work.path().to_owned(), plan.phase);
        runs.f1
            .push(tokio::task::spawn_blocking(move || machine::fsync_rate(&dir, phase)).await??);
        runs.r1
            .push(tokio::task::spawn_blocking(move || machine::loopback_rate(phase)).await??);
        say(plan, "truced appends".into());
        runs.appends.push(
            appends(
                plan,
                &binary,
                &work.path().join(format!("appends-{run}")),
                run,
            )
            .await?,
        );
        if let (Ok(server), Ok(done)) = (&server, &mut runs.inserts) {
            say(plan, "PostgreSQL inserts".into());
            match inserts(plan, server, run).await {
                Ok(i) => done.push(i),
                Err(e) => runs.inserts = Err(format!("PostgreSQL failed: {e}")),
            }
        }
        if run < plan.store_runs {
            let dir = work.path().join(format!("store-{run}"));
            runs.store.push(store(plan, &binary, &dir, run).await?);
            say(plan, format!("bulk loads of {} reports", plan.bulk));
            let pg = server.as_ref().ok().filter(|_| runs.inserts.is_ok());
            runs.bulk.push(
                bulk::run(
                    plan.bulk,
                    &binary,
                    plan.cache_mb,
                    &work.path().join(format!("bulk-{run}")),
                    pg,
                )
                .await?,
            );
        }
    }
    drop(server);
    Ok(table::build(plan, &runs))
}

fn say(plan: &Plan, what: String) {
    if !plan.smoke {
        eprintln!("truce-bench: {what}");
    }
}

/// A warm-up of `plan.warmup` (not measured), `before` (a scrape), then
/// the measured phase.
async fn measured<W: Worker>(
    plan: &Plan,
    mut workers: Vec<W>,
    next: &Arc<AtomicU64>,
    before: impl FnOnce() -> Result<Option<Metrics>>,
) -> Result<(Outcome, Option<Metrics>)> {
    if !plan.warmup.is_zero() {
        workers = drive(workers, Arc::clone(next), Stop::After(plan.warmup))
            .await?
            .1;
    }
    let metrics = before()?;
    let (out, _) = drive(workers, Arc::clone(next), Stop::After(plan.phase)).await?;
    Ok((out, metrics))
}

async fn appends(plan: &Plan, binary: &Path, data: &Path, run: usize) -> Result<Appends> {
    let daemon = Truced::start(binary, data, plan.cache_mb)?;
    Client::connect(daemon.url.clone())
        .await?
        .record_agreement(crate::seed::agreement())
        .await?;
    let reports = Arc::new(Generator::new(&format!("a{run}"), None));
    let next = Arc::new(AtomicU64::new(0));
    let one = appenders(&daemon.url, 1, 1, &reports).await?;
    let (one, before) = measured(plan, one, &next, || daemon.scrape().map(Some)).await?;
    let mid = daemon.scrape()?;
    let many = appenders(&daemon.url, plan.clients, plan.connections, &reports).await?;
    let mut cpu_before = None;
    let (many, mid2) = measured(plan, many, &next, || {
        cpu_before = Some(Cpu::now(&[daemon.pid()])?);
        daemon.scrape().map(Some)
    })
    .await?;
    let (server_us, client_us) = cpu_before
        .map(|b| b.per_op_us(&Cpu::now(&[daemon.pid()])?, many.ops))
        .transpose()?
        .unwrap_or((f64::NAN, f64::NAN));
    let after = daemon.scrape()?;
    let pings = |clients: Vec<HealthClient<Channel>>| -> Vec<Ping> {
        clients.into_iter().map(|client| Ping { client }).collect()
    };
    let floor = Arc::new(AtomicU64::new(0));
    let floor_one = pings(health_clients(&daemon.url, 1, 1).await?);
    let (floor_one, _) = measured(plan, floor_one, &floor, || Ok(None)).await?;
    let floor_many = pings(health_clients(&daemon.url, plan.clients, plan.connections).await?);
    let (floor_many, _) = measured(plan, floor_many, &floor, || Ok(None)).await?;
    let per_sync =
        |a: Option<Metrics>, b: &Metrics| a.map_or(f64::NAN, |a| Metrics::entries_per_sync(&a, b));
    let out = Appends {
        one: Timed::from(&one),
        one_per_sync: per_sync(before, &mid),
        many: Timed::from(&many),
        many_per_sync: per_sync(mid2, &after),
        many_cpu_server_us: server_us,
        many_cpu_client_us: client_us,
        floor_one: Timed::from(&floor_one),
        floor_many: Timed::from(&floor_many),
    };
    daemon.stop()?;
    remove(data);
    Ok(out)
}

/// CPU seconds of some server processes and of this process.
struct Cpu {
    servers: f64,
    client: f64,
}

impl Cpu {
    fn now(servers: &[u32]) -> Result<Self> {
        let mut total = 0.0;
        for pid in servers {
            // A backend that exited meanwhile counts no more.
            total += usage::cpu_seconds(*pid).unwrap_or(0.0);
        }
        Ok(Self {
            servers: total,
            client: usage::cpu_seconds(std::process::id())?,
        })
    }

    /// (server, client) CPU µs per operation since `self`.
    fn per_op_us(&self, later: &Self, ops: u64) -> Result<(f64, f64)> {
        let ops = ops.max(1) as f64;
        Ok((
            (later.servers - self.servers) * 1e6 / ops,
            (later.client - self.client) * 1e6 / ops,
        ))
    }
}

async fn inserts(plan: &Plan, pg: &PgServer, run: usize) -> Result<Inserts> {
    let port = pg.port;
    let reports = Arc::new(Generator::new(&format!("p{run}"), None));
    let admin = pg_ops::connect(port).await?;
    pg_ops::reset(&admin, &crate::seed::agreement_id()).await?;
    let next = Arc::new(AtomicU64::new(0));
    let one = vec![pg_ops::Inserter::new(port, Arc::clone(&reports)).await?];
    let (one, _) = measured(plan, one, &next, || Ok(None)).await?;
    let mut many = Vec::new();
    for _ in 0..plan.clients {
        many.push(pg_ops::Inserter::new(port, Arc::clone(&reports)).await?);
    }
    let servers = postgres::pids(pg);
    let mut cpu_before = None;
    let (many, _) = measured(plan, many, &next, || {
        cpu_before = Some(Cpu::now(&servers)?);
        Ok(None)
    })
    .await?;
    let (server_us, client_us) = cpu_before
        .map(|b| b.per_op_us(&Cpu::now(&servers)?, many.ops))
        .transpose()?
        .unwrap_or((f64::NAN, f64::NAN));
    Ok(Inserts {
        one: Timed::from(&one),
        many: Timed::from(&many),
        many_cpu_server_us: server_us,
        many_cpu_client_us: client_us,
    })
}

async fn store(plan: &Plan, binary: &Path, data: &Path, run: usize) -> Result<StoreRun> {
    let n = plan.entries;
    let daemon = Truced::start(binary, data, plan.cache_mb)?;
    let client = Client::connect(daemon.url.clone()).await?;
    client.record_agreement(crate::seed::agreement()).await?;
    let reports = Arc::new(Generator::new(&format!("s{run}"), Some(n / 100)));

    say(
        plan,
        format!("loading {n} reports through {} clients", plan.clients),
    );
    let next = Arc::new(AtomicU64::new(0));
    let loaders = appenders(&daemon.url, plan.clients, plan.connections, &reports).await?;
    let progress = (!plan.smoke).then(|| tokio::spawn(progress(Arc::clone(&next), n)));
    let load = drive(loaders, Arc::clone(&next), Stop::Count(n)).await;
    if let Some(p) = progress {
        p.abort();
    }
    let (load, _) = load?;
    let rss_after_load = usage::rss_bytes(daemon.pid())?;
    let disk = usage::disk_use(data)?;
    let disk_log = usage::disk_use(&data.join("log"))?;
    let disk_sled = usage::disk_use(&data.join("store"))?;
    let generator = Arc::clone(&reports);
    let logical_bytes = tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|i| prost::Message::encoded_len(&generator.request(i)) as u64)
            .sum()
    })
    .await?;

    say(plan, "point lookups".into());
    let lookup = vec![Lookup {
        client: client.clone(),
        reports: Arc::clone(&reports),
        loaded: n,
    }];
    let (lookups, _) = measured(plan, lookup, &Arc::new(AtomicU64::new(0)), || Ok(None)).await?;

    say(plan, "filtered query".into());
    let query = vec![Query {
        client: client.clone(),
        expect: usize::try_from(reports.rare_among(n)).unwrap_or(usize::MAX),
    }];
    let (query, _) = measured(plan, query, &Arc::new(AtomicU64::new(0)), || Ok(None)).await?;
    let rss_after_queries = usage::rss_bytes(daemon.pid())?;
    daemon.stop()?;
    remove(data);
    Ok(StoreRun {
        load_rate: load.rate(),
        lookups: Timed::from(&lookups),
        query: Timed::from(&query),
        disk,
        disk_log,
        disk_sled,
        logical_bytes,
        rss_after_load,
        rss_after_queries,
    })
}

async fn progress(next: Arc<AtomicU64>, n: u64) {
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let done = next.load(Ordering::Relaxed).min(n);
        eprintln!(
            "truce-bench: loaded {done} of {n} ({:.0}/s)",
            done as f64 / start.elapsed().as_secs_f64()
        );
    }
}

/// Deletes a finished data dir (and truced's stderr file beside it).
fn remove(data: &Path) {
    let _ = std::fs::remove_dir_all(data);
    let _ = std::fs::remove_file(PathBuf::from(data).with_extension("stderr"));
}
