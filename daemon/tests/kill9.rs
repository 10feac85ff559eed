//! Crash safety of the real `truced` binary: on one data dir, 20 times in
//! a row, 16 concurrent clients append reports, the daemon is killed with
//! SIGKILL after a random number of acknowledged appends, and restarted.
//! After every restart:
//!
//! - every acknowledged entry is there and unchanged (sequence, request
//!   id, record id, recorded_at, payload, and the exact bytes when a
//!   client read them back after the ack);
//! - the log is gapless from 1 to the durable sequence, with each request
//!   id at most once;
//! - the signed checkpoint verifies against the verifier key pinned before
//!   the first start (`truced key new`), its root is the RFC 6962 root of
//!   the entries as read, and it is consistent with the last checkpoint
//!   verified before the kill (kept in a state file, as `truce verify`
//!   does);
//! - a retry of each request that was in flight at the kill returns its
//!   original receipt (duplicate) if it was committed, or commits it once
//!   if it was not (and a second retry returns that receipt).
//!
//! The kill points come from a seeded generator: the seed is printed, and
//! TRUCE_KILL9_SEED replays a run.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use truce_client::{
    Client, ClientOptions,
    verify::{self, VerifiedCheckpoint, VerifierKey},
};
use truce_proto::v1::{
    Entry, Envelope, Receipt, RecordAgreementRequest, SubmitReportRequest, entry::Payload,
    envelope::Kind,
};

const ITERATIONS: usize = 20;
const WRITERS: usize = 16;
/// At most this many acknowledged appends before a kill.
const MAX_ACKS_BEFORE_KILL: u64 = 120;

const SEED_JSONL: &str = include_str!("../../examples/seed-scenario.jsonl");

fn seed_envelopes() -> Vec<Envelope> {
    SEED_JSONL
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn seed_agreement() -> RecordAgreementRequest {
    seed_envelopes()
        .into_iter()
        .find_map(|e| match e.kind {
            Some(Kind::Agreement(a)) => Some(a),
            _ => None,
        })
        .unwrap()
}

fn seed_report() -> SubmitReportRequest {
    seed_envelopes()
        .into_iter()
        .find_map(|e| match e.kind {
            Some(Kind::Report(r)) => Some(r),
            _ => None,
        })
        .unwrap()
}

/// A valid report with its own request id and a server-assigned record id.
fn report(
    template: &SubmitReportRequest,
    iteration: usize,
    writer: usize,
    n: u64,
) -> SubmitReportRequest {
    let mut r = template.clone();
    r.request_id = format!("kill9-{iteration}-{writer}-{n}");
    let report = r.report.as_mut().unwrap();
    report.id.clear();
    report.notes = format!("kill -9 loop: iteration {iteration}, writer {writer}, report {n}");
    r
}

/// splitmix64: kill points reproducible from a printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// --------------------------------------------------------------- the binary

struct Truced {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

fn start(dir: &Path) -> Truced {
    let mut child = Command::new(env!("CARGO_BIN_EXE_truced"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--shutdown-pause-ms",
            "0",
            // Sixteen writers from one anonymous caller: no rate limit.
            "--rate-limit-per-sec",
            "0",
            "--data-dir",
        ])
        .arg(dir)
        .env("TRUCE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("truced starts");
    // Drain stderr (kept for failure messages) and the rest of stdout, so
    // the daemon never blocks on or writes into a closed pipe.
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().unwrap();
    let sink = Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "unexpected first line {line:?}; stderr: {}",
            stderr.lock().unwrap()
        );
    };
    let url = format!("http://{addr}");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Truced { child, url, stderr }
}

impl Truced {
    fn kill9(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed by SIGKILL"
        );
    }

    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "exit {status:?}: {}",
            self.stderr.lock().unwrap()
        );
    }
}

/// `truced key new`, before the first start: the key a verifier pins.
fn pinned_key(dir: &Path) -> VerifierKey {
    let out = Command::new(env!("CARGO_BIN_EXE_truced"))
        .args(["key", "new", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let vkey = stdout
        .lines()
        .find_map(|l| l.strip_prefix("verifier key"))
        .unwrap_or_else(|| panic!("no verifier key in {stdout}"))
        .trim();
    VerifierKey::parse(vkey).unwrap()
}

// -------------------------------------------------------------- the writers

/// An acknowledged append, with the stored bytes when they were read back.
#[derive(Debug, Clone)]
struct Acked {
    request: SubmitReportRequest,
    receipt: Receipt,
    raw: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct WriterLog {
    acked: Vec<Acked>,
    /// The request whose answer the kill cut off.
    in_flight: Option<SubmitReportRequest>,
    /// An error before the kill: a failure of the test.
    early_error: Option<String>,
}

async fn writer(
    url: String,
    template: SubmitReportRequest,
    iteration: usize,
    w: usize,
    killed: Arc<AtomicBool>,
    acks: mpsc::UnboundedSender<()>,
) -> WriterLog {
    let mut log = WriterLog::default();
    let options = ClientOptions {
        // One attempt: a retry belongs to the restarted daemon.
        write_attempts: 1,
        request_timeout: Duration::from_secs(30),
        ..ClientOptions::default()
    };
    let client = match Client::connect_with(url, options).await {
        Ok(c) => c,
        Err(e) => {
            if !killed.load(Ordering::SeqCst) {
                log.early_error = Some(format!("connect: {e}"));
            }
            return log;
        }
    };
    for n in 0.. {
        if killed.load(Ordering::SeqCst) {
            break;
        }
        let request = report(&template, iteration, w, n);
        match client.submit_report(request.clone()).await {
            Ok(receipt) => {
                // Read every fourth entry back, to compare bytes later.
                let raw = if n.is_multiple_of(4) {
                    client.get_entry(receipt.sequence).await.ok().map(|e| e.raw)
                } else {
                    None
                };
                log.acked.push(Acked {
                    request,
                    receipt,
                    raw,
                });
                let _ = acks.send(());
            }
            Err(e) => {
                if !killed.load(Ordering::SeqCst) {
                    log.early_error = Some(format!("{request:?}: {e}"));
                }
                log.in_flight = Some(request);
                break;
            }
        }
    }
    log
}

// ------------------------------------------------------------------ checks

fn node(left: &verify::Hash, right: &verify::Hash) -> verify::Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 6962 Merkle tree hash of `leaves` (leaf hashes), computed here.
fn tree_hash(leaves: &[verify::Hash]) -> verify::Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            node(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// The whole log as read through ReadLog, checked to be gapless.
struct Log {
    raw: Vec<Vec<u8>>,
    entries: Vec<Entry>,
    by_request: HashMap<String, u64>,
}

impl Log {
    fn entry(&self, sequence: u64) -> Option<(&Entry, &[u8])> {
        let i = usize::try_from(sequence.checked_sub(1)?).ok()?;
        Some((self.entries.get(i)?, self.raw.get(i)?.as_slice()))
    }
}

async fn read_log(client: &Client) -> Log {
    let mut log = Log {
        raw: Vec::new(),
        entries: Vec::new(),
        by_request: HashMap::new(),
    };
    let mut next = 1;
    let durable = loop {
        let page = client.read_log(next, 0).await.unwrap();
        for e in &page.entries {
            assert_eq!(e.sequence, next, "the log has a gap before {next}");
            let entry = Entry::decode(e.entry.as_slice()).unwrap();
            assert_eq!(entry.sequence, next);
            if let Some(first) = log.by_request.insert(entry.request_id.clone(), next) {
                panic!(
                    "request id {} is in the log twice: at {first} and {next}",
                    entry.request_id
                );
            }
            log.raw.push(e.entry.clone());
            log.entries.push(entry);
            next += 1;
        }
        if page.entries.is_empty() || page.next_sequence > page.durable_sequence {
            break page.durable_sequence;
        }
        next = page.next_sequence;
    };
    assert_eq!(
        log.entries.len() as u64,
        durable,
        "ReadLog returns every entry from 1 to the durable sequence"
    );
    log
}

/// Checks every acknowledged entry against the log.
fn check_acked(log: &Log, acked: &[Acked]) {
    for a in acked {
        let seq = a.receipt.sequence;
        let (entry, raw) = log
            .entry(seq)
            .unwrap_or_else(|| panic!("acknowledged entry {seq} is gone"));
        assert_eq!(entry.request_id, a.request.request_id, "entry {seq}");
        assert_eq!(entry.record_id, a.receipt.record_id, "entry {seq}");
        assert_eq!(entry.recorded_at, a.receipt.recorded_at, "entry {seq}");
        assert_eq!(a.receipt.leaf_index, seq - 1);
        let sent = Entry {
            payload: a.request.report.clone().map(Payload::Report),
            ..Entry::default()
        };
        let stored = Entry {
            payload: entry.payload.clone(),
            ..Entry::default()
        };
        assert_eq!(
            stored.encode_to_vec(),
            sent.encode_to_vec(),
            "entry {seq} holds the report as submitted"
        );
        if let Some(bytes) = &a.raw {
            assert_eq!(raw, bytes.as_slice(), "entry {seq}'s bytes changed");
        }
    }
}

/// The checkpoint verifies against the pinned key and the state file's
/// checkpoint, covers exactly the log, and its root is the log's; the
/// state file then holds it.
async fn check_checkpoint(client: &Client, key: &VerifierKey, state: &Path, log: &Log) {
    let previous = std::fs::read_to_string(state)
        .ok()
        .map(|note| verify::verify_checkpoint(&note, key).unwrap());
    let cp = client
        .verify_checkpoint(key, previous.as_ref())
        .await
        .unwrap_or_else(|e| panic!("the checkpoint does not verify: {e}"));
    assert_eq!(cp.size, log.entries.len() as u64, "the tree covers the log");
    let leaves: Vec<verify::Hash> = log.raw.iter().map(|r| verify::leaf_hash(r)).collect();
    assert_eq!(
        cp.root,
        tree_hash(&leaves),
        "the signed root is the root of the entries as read"
    );
    save_state(state, &cp);
}

fn save_state(state: &Path, cp: &VerifiedCheckpoint) {
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, &cp.note).unwrap();
    std::fs::rename(&tmp, state).unwrap();
}

/// Retries every in-flight request: the original receipt if it was
/// committed, one new entry (and the same receipt on a second retry) if
/// not. Returns them as acknowledged appends.
async fn retry_in_flight(
    client: &Client,
    log: &Log,
    in_flight: Vec<SubmitReportRequest>,
) -> (Vec<Acked>, usize) {
    let mut acked = Vec::new();
    let mut committed_before = 0;
    let mut next_sequence = log.entries.len() as u64 + 1;
    for request in in_flight {
        let receipt = client.submit_report(request.clone()).await.unwrap();
        match log.by_request.get(&request.request_id) {
            Some(&seq) => {
                committed_before += 1;
                let (entry, _) = log.entry(seq).unwrap();
                assert!(
                    receipt.duplicate,
                    "{} was committed: {receipt:?}",
                    request.request_id
                );
                assert_eq!(receipt.sequence, seq);
                assert_eq!(receipt.record_id, entry.record_id);
                assert_eq!(receipt.recorded_at, entry.recorded_at);
            }
            None => {
                assert!(
                    !receipt.duplicate,
                    "{} was not committed: {receipt:?}",
                    request.request_id
                );
                assert_eq!(
                    receipt.sequence, next_sequence,
                    "committed once, at the end"
                );
                next_sequence += 1;
                let again = client.submit_report(request.clone()).await.unwrap();
                assert!(again.duplicate);
                assert_eq!(
                    (again.sequence, &again.record_id, again.recorded_at),
                    (receipt.sequence, &receipt.record_id, receipt.recorded_at)
                );
            }
        }
        acked.push(Acked {
            request,
            receipt,
            raw: None,
        });
    }
    (acked, committed_before)
}

// -------------------------------------------------------------------- test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_appending_twenty_times_loses_nothing() {
    let started = Instant::now();
    let seed = std::env::var("TRUCE_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill -9 loop: TRUCE_KILL9_SEED={seed}");
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let state = dir.path().join("verifier.checkpoint");
    let key = pinned_key(&data);
    let template = seed_report();

    let mut acked: Vec<Acked> = Vec::new();
    let mut in_flight: Vec<SubmitReportRequest> = Vec::new();
    let mut totals = (0usize, 0usize, 0usize); // (in flight, of them committed, acked)

    for iteration in 0..=ITERATIONS {
        let d = start(&data);
        let client = Client::connect(d.url.clone()).await.unwrap();

        if iteration == 0 {
            let r = client.record_agreement(seed_agreement()).await.unwrap();
            assert_eq!(r.sequence, 1);
        } else {
            // After a crash: everything acknowledged, a verified tree
            // consistent with the last checkpoint seen before the kill.
            let log = read_log(&client).await;
            check_acked(&log, &acked);
            check_checkpoint(&client, &key, &state, &log).await;
            let (retried, committed) =
                retry_in_flight(&client, &log, std::mem::take(&mut in_flight)).await;
            totals.0 += retried.len();
            totals.1 += committed;
            acked.extend(retried);
            let log = read_log(&client).await;
            check_acked(&log, &acked);
            check_checkpoint(&client, &key, &state, &log).await;
        }
        if iteration == ITERATIONS {
            d.terminate();
            break;
        }

        // Append from 16 clients; kill after a random number of acks.
        let target = match rng.below(4) {
            0 => rng.below(4),
            _ => rng.below(MAX_ACKS_BEFORE_KILL + 1),
        };
        let killed = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(writer(
                    d.url.clone(),
                    template.clone(),
                    iteration,
                    w,
                    Arc::clone(&killed),
                    tx.clone(),
                ))
            })
            .collect();
        drop(tx);
        let mut seen = 0;
        while seen < target {
            if rx.recv().await.is_none() {
                break;
            }
            seen += 1;
        }
        // The last checkpoint a verifier saw before the crash.
        let log_before = client.get_checkpoint().await.unwrap();
        let cp = verify::verify_checkpoint(&log_before.note, &key).unwrap();
        save_state(&state, &cp);
        killed.store(true, Ordering::SeqCst);
        let stderr = Arc::clone(&d.stderr);
        d.kill9();
        for w in writers {
            let log = tokio::time::timeout(Duration::from_secs(60), w)
                .await
                .expect("writers stop once the daemon is gone")
                .unwrap();
            assert_eq!(
                log.early_error,
                None,
                "a write failed before the kill (iteration {iteration}, seed {seed}); stderr: {}",
                stderr.lock().unwrap()
            );
            totals.2 += log.acked.len();
            acked.extend(log.acked);
            in_flight.extend(log.in_flight);
        }
        eprintln!(
            "iteration {iteration}: killed after {seen} acks (target {target}); {} in flight; checkpoint size {}",
            in_flight.len(),
            cp.size
        );
    }
    eprintln!(
        "kill -9 loop: {ITERATIONS} kills, {} appends acknowledged under load, {} in flight at a kill ({} of them committed), {:.1?}",
        totals.2,
        totals.0,
        totals.1,
        started.elapsed()
    );
    assert!(totals.2 > 0 && totals.0 > 0, "the loop exercised nothing");
}
