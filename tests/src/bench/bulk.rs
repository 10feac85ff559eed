//! The bulk phase of truce-bench: the same N reports loaded four ways,
//! each into an empty store, timed from the first row sent to the last
//! acknowledged (every row durable, proven and indexed): the harness's own
//! WriteStream (one client), `truce submit --file` and `truce import`
//! (the real binary, end to end, parse included), and PostgreSQL's
//! `COPY ... FROM STDIN (FORMAT binary)` into the indexed table in one
//! transaction. Rows per second and CPU per row for each: the server's
//! processes, and the client's (the harness, or the `truce` process,
//! read from /proc as a zombie before it is reaped).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_postgres::{binary_copy::BinaryCopyInWriter, types::Type};
use truce_client::Client;
use truce_proto::v1::{Envelope, envelope::Kind};

use super::{
    error::{Error, Result},
    payload::Generator,
    pg_ops,
    postgres::{self, PgServer},
    truced::Truced,
    usage,
};

/// One way of loading: rows per second and CPU µs per row.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub rate: f64,
    pub cpu_server_us: f64,
    pub cpu_client_us: f64,
}

/// The bulk phase of one run; a way that could not run says why.
#[derive(Debug, Clone)]
pub struct Bulk {
    pub stream: Load,
    pub submit: std::result::Result<Load, String>,
    pub import: std::result::Result<Load, String>,
    pub copy: std::result::Result<Load, String>,
}

/// `truce` next to `truced`.
pub fn truce_beside(truced: &Path) -> std::result::Result<PathBuf, String> {
    let truce = truced.with_file_name("truce");
    if truce.exists() {
        Ok(truce)
    } else {
        Err(format!(
            "no truce next to {}: cargo build -p truce-cli",
            truced.display()
        ))
    }
}

/// Loads `n` reports each way.
pub async fn run(
    n: u64,
    truced: &Path,
    cache_mb: u64,
    work: &Path,
    pg: Option<&PgServer>,
) -> Result<Bulk> {
    std::fs::create_dir_all(work)?;
    let reports = Arc::new(Generator::new("b", None));
    let stream = stream(n, truced, cache_mb, &work.join("bulk-stream"), &reports).await?;
    let cli = truce_beside(truced);
    let file = work.join("bulk.jsonl");
    let submit = match &cli {
        Ok(truce) => {
            write_lines(&file, n, &reports, true)?;
            let args = ["submit", "--file", path(&file)?];
            Ok(cli_load(n, truced, truce, cache_mb, &work.join("bulk-submit"), &args).await?)
        }
        Err(e) => Err(e.clone()),
    };
    let import = match &cli {
        Ok(truce) => {
            write_lines(&file, n, &reports, false)?;
            let args = ["import", "--format", "jsonl", path(&file)?];
            Ok(cli_load(n, truced, truce, cache_mb, &work.join("bulk-import"), &args).await?)
        }
        Err(e) => Err(e.clone()),
    };
    let _ = std::fs::remove_file(&file);
    let copy = match pg {
        Some(pg) => copy(n, pg, &reports)
            .await
            .map_err(|e| format!("PostgreSQL failed: {e}")),
        None => Err("PostgreSQL is not in this run".to_owned()),
    };
    let _ = std::fs::remove_dir_all(work);
    Ok(Bulk {
        stream,
        submit,
        import,
        copy,
    })
}

fn path(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::other(format!("{} is not UTF-8", p.display())))
}

/// CPU seconds of `pids` together.
fn cpu(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|p| usage::cpu_seconds(*p).unwrap_or(0.0))
        .sum()
}

fn load(n: u64, elapsed: Duration, server_s: f64, client_s: f64) -> Load {
    let n = n.max(1) as f64;
    Load {
        rate: n / elapsed.as_secs_f64(),
        cpu_server_us: server_s * 1e6 / n,
        cpu_client_us: client_s * 1e6 / n,
    }
}

/// A fresh truced with the seed agreement.
async fn fresh(truced: &Path, cache_mb: u64, data: &Path) -> Result<(Truced, Client)> {
    let daemon = Truced::start(truced, data, cache_mb)?;
    let client = Client::connect(daemon.url.clone()).await?;
    client.record_agreement(crate::seed::agreement()).await?;
    Ok((daemon, client))
}

/// The harness's WriteStream, envelopes made before the clock starts.
async fn stream(
    n: u64,
    truced: &Path,
    cache_mb: u64,
    data: &Path,
    reports: &Arc<Generator>,
) -> Result<Load> {
    let (daemon, client) = fresh(truced, cache_mb, data).await?;
    let envelopes: Vec<Envelope> = (0..n)
        .map(|i| Envelope {
            kind: Some(Kind::Report(reports.request(i))),
        })
        .collect();
    let (server0, client0) = (cpu(&[daemon.pid()]), cpu(&[std::process::id()]));
    let start = Instant::now();
    let (mut tx, mut receipts) = client.write_stream(1024).await?;
    let sender = tokio::spawn(async move {
        for e in envelopes {
            tx.send(e).await?;
        }
        Ok::<_, truce_client::ClientError>(())
    });
    let mut written = 0u64;
    while let Some(answer) = receipts.next().await {
        let receipt = answer?.result?;
        written += u64::from(!receipt.duplicate);
    }
    sender
        .await
        .map_err(|e| Error::other(format!("the sender failed: {e}")))??;
    let elapsed = start.elapsed();
    let (server1, client1) = (cpu(&[daemon.pid()]), cpu(&[std::process::id()]));
    if written != n {
        return Err(Error::other(format!("the stream wrote {written} of {n}")));
    }
    daemon.stop()?;
    let _ = std::fs::remove_dir_all(data);
    Ok(load(n, elapsed, server1 - server0, client1 - client0))
}

/// The reports as JSON Lines: envelopes (`submit --file`) or bare reports
/// (`import --format jsonl`).
fn write_lines(file: &Path, n: u64, reports: &Generator, envelopes: bool) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    for i in 0..n {
        let request = reports.request(i);
        let line = if envelopes {
            serde_json::to_string(&Envelope {
                kind: Some(Kind::Report(request)),
            })
        } else {
            serde_json::to_string(&request.report.unwrap_or_default())
        }
        .map_err(|e| Error::other(e.to_string()))?;
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// `truce ARGS` against a fresh truced, timed to its exit; its CPU read
/// while it is a zombie (exited, not yet reaped).
async fn cli_load(
    n: u64,
    truced: &Path,
    truce: &Path,
    cache_mb: u64,
    data: &Path,
    args: &[&str],
) -> Result<Load> {
    let (daemon, client) = fresh(truced, cache_mb, data).await?;
    let server0 = cpu(&[daemon.pid()]);
    let start = Instant::now();
    let child = Command::new(truce)
        .env("TRUCE_SERVER", &daemon.url)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let client_s = tokio::task::spawn_blocking(move || {
        while !is_zombie(pid) {
            std::thread::sleep(Duration::from_millis(2));
        }
        cpu(&[pid])
    })
    .await
    .map_err(|e| Error::other(e.to_string()))?;
    let elapsed = start.elapsed();
    let server_s = cpu(&[daemon.pid()]) - server0;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(Error::other(format!(
            "truce {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let len = client.read_log(1, 1).await?.durable_sequence;
    if len != n + 1 {
        return Err(Error::other(format!(
            "truce {} left {len} entries",
            args[0]
        )));
    }
    daemon.stop()?;
    let _ = std::fs::remove_dir_all(data);
    Ok(load(n, elapsed, server_s, client_s))
}

/// Whether process `pid` has exited (a zombie) or is gone.
fn is_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// PostgreSQL's COPY of the same rows into the indexed table, one
/// transaction, rows made before the clock starts.
async fn copy(n: u64, pg: &PgServer, reports: &Generator) -> Result<Load> {
    let mut client = pg_ops::connect(pg.port).await?;
    pg_ops::reset(&client, &crate::seed::agreement_id()).await?;
    let rows: Vec<_> = (0..n).map(|i| reports.row(i)).collect();
    let servers = postgres::pids(pg);
    let (server0, client0) = (cpu(&servers), cpu(&[std::process::id()]));
    let start = Instant::now();
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in(
            "COPY reports (request_id, record_id, agreement_id, perpetrator, event_type, \
             occurred_at, country, request) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::BYTEA,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for r in &rows {
        writer
            .as_mut()
            .write(&[
                &r.request_id,
                &r.record_id,
                &r.agreement_id,
                &r.perpetrator,
                &r.event_type,
                &r.occurred_at,
                &r.country,
                &r.encoded,
            ])
            .await?;
    }
    let copied = writer.finish().await?;
    tx.commit().await?;
    let elapsed = start.elapsed();
    let (server1, client1) = (cpu(&postgres::pids(pg)), cpu(&[std::process::id()]));
    if copied != n {
        return Err(Error::other(format!("COPY wrote {copied} of {n}")));
    }
    Ok(load(n, elapsed, server1 - server0, client1 - client0))
}
