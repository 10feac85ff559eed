//! Real clusters for the cluster tests (`tests/tests/cluster*.rs`, the
//! `cluster` feature): three etcd members and truced replicas, each a
//! process of its own on loopback ports with its own data dir in a
//! temporary directory, killed when dropped. Readiness is read from what
//! the processes print (etcd's "ready to serve client requests", truced's
//! "listening on" line), never waited out. The `try_` forms return
//! errors instead of panicking, for the cluster benchmark
//! (`truce-bench-cluster`).

use std::{
    io::{BufRead, BufReader, Read},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Condvar, Mutex, mpsc},
    time::Duration,
};

use anyhow::{Context, Result, anyhow, bail};
use truce_client::{Client, ClientIdentity, ClientOptions, Event, Start};
use truce_proto::v1::SubscribeFilter;

/// How long a process may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A free port on 127.0.0.1 (bound, then released for the process).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("a free port")?;
    Ok(listener.local_addr()?.port())
}

/// One etcd member.
pub struct EtcdMember {
    pub name: String,
    pub client_url: String,
    peer_url: String,
    child: Option<Child>,
}

/// Three etcd members on loopback.
pub struct Etcd {
    pub members: Vec<EtcdMember>,
    dir: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl EtcdMember {
    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Etcd {
    /// Starts three members in `dir` and waits until each serves clients.
    pub fn start(dir: &Path) -> Self {
        Self::try_start(dir).expect("three etcd members serve clients")
    }

    /// [`Etcd::start`], failing instead of panicking.
    pub fn try_start(dir: &Path) -> Result<Self> {
        let mut members = Vec::new();
        for i in 1..=3 {
            members.push(EtcdMember {
                name: format!("e{i}"),
                client_url: format!("http://127.0.0.1:{}", free_port()?),
                peer_url: format!("http://127.0.0.1:{}", free_port()?),
                child: None,
            });
        }
        let mut etcd = Self {
            members,
            dir: dir.to_owned(),
        };
        let mut started = Vec::new();
        for i in 0..3 {
            started.push(etcd.spawn(i, "new")?);
        }
        for ready in started {
            ready
                .recv_timeout(READY_WITHIN)
                .map_err(|_| anyhow!("an etcd member did not serve within {READY_WITHIN:?}"))?;
        }
        Ok(etcd)
    }

    /// The client URLs, comma-separated (truced's --cluster-etcd).
    pub fn urls(&self) -> String {
        let urls: Vec<&str> = self.members.iter().map(|m| m.client_url.as_str()).collect();
        urls.join(",")
    }

    /// Starts member `i` (its data dir kept across restarts); the
    /// receiver gets a message once it serves clients.
    fn spawn(&mut self, i: usize, state: &str) -> Result<mpsc::Receiver<()>> {
        let initial: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        let m = &mut self.members[i];
        let mut child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(self.dir.join(&m.name))
            .args(["--listen-client-urls", &m.client_url])
            .args(["--advertise-client-urls", &m.client_url])
            .args(["--listen-peer-urls", &m.peer_url])
            .args(["--initial-advertise-peer-urls", &m.peer_url])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "truce-test"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("etcd starts (apt-get install etcd-server)")?;
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().context("etcd's stderr")?;
        std::thread::spawn(move || {
            let mut told = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !told && line.contains("ready to serve client requests") {
                    let _ = tx.send(());
                    told = true;
                }
            }
        });
        m.child = Some(child);
        Ok(rx)
    }

    /// kill -9 member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data dir and waits until it serves.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i, "existing")
            .expect("etcd starts again")
            .recv_timeout(READY_WITHIN)
            .expect("the etcd member serves clients again");
    }
}

/// The `truced` built beside the test executables (in `deps/`'s parent)
/// or beside a benchmark's, with the cluster feature (`cargo test
/// --workspace --all-features` builds it).
fn truced() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("the running executable")?;
    let dir = exe.parent().context("the executable's dir")?;
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join("truced"))
        .find(|bin| bin.exists())
        .ok_or_else(|| {
            anyhow!(
                "no truced beside {}: cargo build -p truce-daemon --features cluster",
                exe.display()
            )
        })
}

/// The `truce` command line built beside `truced`
/// (`cargo build -p truce-cli --bin truce`).
pub fn truce_cli() -> PathBuf {
    let bin = truced().expect("truced is built").with_file_name("truce");
    assert!(
        bin.exists(),
        "{} not found: cargo build -p truce-cli --bin truce",
        bin.display()
    );
    bin
}

/// Runs `truce` with `args` (no TRUCE_* variables of the caller's).
pub fn run_truce(args: &[&str]) -> std::process::Output {
    Command::new(truce_cli())
        .args(args)
        .env_remove("TRUCE_SERVER")
        .env_remove("TRUCE_LOG_KEY")
        .env_remove("TRUCE_TOKEN")
        .output()
        .expect("truce runs")
}

/// A new signing key made by `truced key new` in `dir` under `origin`:
/// its verifier key (a key no replica signs with).
pub fn new_verifier_key(dir: &Path, origin: &str) -> String {
    let out = Command::new(truced().expect("truced is built"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--log-origin", origin, "key", "new"])
        .output()
        .expect("truced key new runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("verifier key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no verifier key in {text:?}"))
}

/// What a process has printed so far, and a wake-up for each new piece.
#[derive(Default)]
pub struct Output {
    text: Mutex<String>,
    grew: Condvar,
}

impl Output {
    fn push(&self, piece: &str) {
        if let Ok(mut text) = self.text.lock() {
            text.push_str(piece);
            self.grew.notify_all();
        }
    }

    pub fn text(&self) -> String {
        self.text.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until `needle` has been printed `times` times; false if not
    /// within `within`.
    pub fn wait_for(&self, needle: &str, times: usize, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        let Ok(mut text) = self.text.lock() else {
            return false;
        };
        while text.matches(needle).count() < times {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.grew.wait_timeout(text, left) {
                Ok((t, _)) => text = t,
                Err(_) => return false,
            }
        }
        true
    }
}

/// What a replica logs when it takes the writer lease.
pub const WRITER_LINE: &str = "this replica is the writer";

/// How the tests reach replicas that serve TLS: the CA their certificate
/// chains to, and a client certificate for replicas that ask for one.
#[derive(Clone)]
pub struct ClientTls {
    pub ca_pem: Vec<u8>,
    pub identity: Option<ClientIdentity>,
}

/// One truced replica.
pub struct Replica {
    pub name: String,
    pub url: String,
    /// Set for a replica that serves TLS (its URL is then `https://`).
    pub tls: Option<ClientTls>,
    pub data_dir: PathBuf,
    etcd: String,
    extra: Vec<String>,
    child: Option<Child>,
    pub stderr: Arc<Output>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Replica {
    /// Starts replica `name` on `data_dir`, following `etcd`.
    pub fn start(name: &str, data_dir: &Path, etcd: &str) -> Self {
        Self::start_with(name, data_dir, etcd, &[])
    }

    /// [`Replica::start`] with more flags.
    pub fn start_with(name: &str, data_dir: &Path, etcd: &str, extra: &[&str]) -> Self {
        Self::try_start_with(name, data_dir, etcd, extra).expect("the replica starts")
    }

    /// [`Replica::start_with`], failing instead of panicking.
    pub fn try_start_with(name: &str, data_dir: &Path, etcd: &str, extra: &[&str]) -> Result<Self> {
        let mut child = Command::new(truced()?)
            .args(["--listen", "127.0.0.1:0", "--shutdown-pause-ms", "0"])
            .args(["--rate-limit-per-sec", "0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--cluster-etcd", etcd, "--replica-name", name])
            .args(["--cluster-timeout-ms", "2000"])
            .args(extra)
            .env("TRUCE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("truced starts")?;
        let stderr = Arc::new(Output::default());
        let mut pipe = child.stderr.take().context("truced's stderr")?;
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.push(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().context("truced's stdout")?);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let Some(addr) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "replica {name}: unexpected first line {line:?}; stderr: {}",
                stderr.text()
            );
        };
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Ok(Self {
            name: name.to_owned(),
            url: format!("http://{addr}"),
            tls: None,
            data_dir: data_dir.to_owned(),
            etcd: etcd.to_owned(),
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
            child: Some(child),
            stderr,
        })
    }

    /// Starts it again on the same data dir (after [`Replica::kill`]).
    pub fn restart(&mut self) {
        self.try_restart().expect("the replica starts again");
    }

    /// [`Replica::restart`], failing instead of panicking.
    pub fn try_restart(&mut self) -> Result<()> {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let again = Self::try_start_with(&self.name, &self.data_dir, &self.etcd, &extra)?;
        let tls = self.tls.take();
        *self = again;
        if let Some(tls) = tls {
            self.use_tls(tls);
        }
        Ok(())
    }

    /// Says that it serves TLS (started with `--tls-cert` and `--tls-key`):
    /// its URL becomes `https://` and its clients trust `tls`.
    pub fn use_tls(&mut self, tls: ClientTls) {
        if let Some(rest) = self.url.strip_prefix("http://") {
            self.url = format!("https://{rest}");
        }
        self.tls = Some(tls);
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal (`STOP`, `CONT`) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-s", name, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name} {pid}");
    }

    /// A client that retries refused writes longer than the default (a
    /// replica behind the cluster refuses a write until it has caught up).
    pub async fn client(&self) -> Client {
        let options = ClientOptions {
            write_attempts: 12,
            retry_backoff: Duration::from_millis(50),
            ca_cert: self.tls.as_ref().map(|t| t.ca_pem.clone()),
            client_identity: self.tls.as_ref().and_then(|t| t.identity.clone()),
            ..ClientOptions::default()
        };
        Client::connect_with(self.url.clone(), options)
            .await
            .expect("connects to the replica")
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until it has assembled the checkpoint of `size` entries
    /// cosigned by a quorum (it logs so).
    pub fn wait_cosigned(&self, size: u64) {
        let line = format!("checkpoint {size} is cosigned by a quorum");
        assert!(
            self.stderr.wait_for(&line, 1, READY_WITHIN),
            "replica {}: no checkpoint of {size} cosigned within {READY_WITHIN:?}; log: {}",
            self.name,
            self.log()
        );
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        self.stderr.text()
    }
}

/// Waits until `client`'s replica has applied entry `sequence`: its own
/// stream of entries delivers it.
pub async fn wait_for_entry(client: &Client, sequence: u64) {
    let mut stream = client.subscribe(Start::FromSequence(sequence), SubscribeFilter::default());
    let found = tokio::time::timeout(READY_WITHIN, async {
        while let Some(event) = stream.next_event().await {
            match event {
                Ok(Event::Entry { sequence: s, .. }) if s >= sequence => return true,
                Ok(_) => {}
                Err(e) => panic!("the subscription failed: {e}"),
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "entry {sequence} applied within {READY_WITHIN:?}"
    );
}

/// The seed agreement and `n` seed reports through `client`; the last
/// receipt's sequence.
pub async fn seed_reports(client: &Client, n: usize) -> u64 {
    client
        .record_agreement(crate::seed::agreement())
        .await
        .expect("the seed agreement");
    let mut last = 1;
    for i in 0..n {
        last = client
            .submit_report(crate::seed::report(i))
            .await
            .expect("a seed report")
            .sequence;
    }
    last
}

/// Waits until the writer logs that it deleted the entries up to `last`
/// from etcd.
pub fn wait_deleted(writer: &Replica, last: u64) {
    let deleted = format!(" to {last} from etcd");
    assert!(
        writer.stderr.wait_for(&deleted, 1, Duration::from_secs(60)),
        "the writer deletes what every replica applied: {}",
        writer.log()
    );
}

/// Every entry of a replica's log, as stored (sequence, bytes).
pub async fn read_whole_log(client: &Client) -> Vec<(u64, Vec<u8>)> {
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = client.read_log(from, 1000).await.expect("ReadLog");
        if page.entries.is_empty() {
            return all;
        }
        for e in page.entries {
            from = e.sequence + 1;
            all.push((e.sequence, e.entry));
        }
    }
}

/// Three etcd members and three replicas (`r1`..`r3`) in `dir`, the
/// replicas started with `extra` flags.
pub fn three_replicas(dir: &Path, extra: &[&str]) -> (Etcd, Vec<Replica>) {
    try_three_replicas(dir, extra).expect("three etcd members and three replicas start")
}

/// [`three_replicas`], failing instead of panicking.
pub fn try_three_replicas(dir: &Path, extra: &[&str]) -> Result<(Etcd, Vec<Replica>)> {
    let etcd = Etcd::try_start(&dir.join("etcd"))?;
    let mut replicas = Vec::new();
    for i in 1..=3 {
        let name = format!("r{i}");
        replicas.push(Replica::try_start_with(
            &name,
            &dir.join(&name),
            &etcd.urls(),
            extra,
        )?);
    }
    Ok((etcd, replicas))
}

/// The replica that holds the writer lease: the first of `candidates`
/// to say so (told `times` times in all, counting earlier terms).
pub fn writer_among(replicas: &[Replica], candidates: &[usize], times: usize) -> usize {
    let deadline = std::time::Instant::now() + READY_WITHIN;
    while std::time::Instant::now() < deadline {
        for &i in candidates {
            if replicas[i]
                .stderr
                .wait_for(WRITER_LINE, times, Duration::from_millis(50))
            {
                return i;
            }
        }
    }
    panic!("no replica took the writer lease within {READY_WITHIN:?}");
}
