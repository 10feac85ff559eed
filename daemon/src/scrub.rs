//! The background scrub: every `scrub_interval_secs` it re-hashes the
//! whole entry log against the stored Merkle leaves and the last signed
//! checkpoint, at most `scrub_mb_per_sec` ([`Store::scrub`]). Reads check
//! only what they serve; the scrub finds damage nobody has read yet.
//!
//! What a pass finds decides what happens: a changed log marks the store
//! damaged (writes and checkpoints stop until an operator acts, see
//! docs/operations.md); derived rows that disagree with an intact log are
//! rebuilt by the commit pipeline ([`CommitHandle::rebuild_derived`]).
//! Progress and findings go to the metrics (`truce_scrub_*`) and to log
//! lines in the style of `truced audit`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use crate::{
    commit::CommitHandle,
    error::Error,
    store::{ScrubOptions, ScrubOutcome, Store},
};

/// When and how fast the scrub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrubSchedule {
    /// Between the end of one pass and the start of the next; zero turns
    /// the periodic scrub off (a pass can still be asked for).
    pub interval: Duration,
    pub options: ScrubOptions,
}

/// Asks the scrub task for a pass now; answered with what it found.
#[derive(Debug, Clone)]
pub struct ScrubHandle {
    tx: mpsc::Sender<oneshot::Sender<Result<ScrubOutcome, Error>>>,
}

impl ScrubHandle {
    /// Runs a pass now (after the one under way, if any).
    pub async fn run_now(&self) -> Result<ScrubOutcome, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(reply).await.map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }
}

/// Starts the scrub task; it ends when `stopping` turns true (a pass
/// under way stops at its next entry).
pub fn start(
    store: Arc<Store>,
    commit: CommitHandle,
    schedule: ScrubSchedule,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> (ScrubHandle, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<Result<ScrubOutcome, Error>>>(4);
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(async move {
        loop {
            let periodic = async {
                if schedule.interval.is_zero() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(schedule.interval).await;
            };
            let reply = tokio::select! {
                _ = stopping.wait_for(|s| *s) => break,
                asked = rx.recv() => match asked {
                    Some(reply) => Some(reply),
                    None => break,
                },
                () = periodic => None,
            };
            let pass = pass(&store, &commit, schedule.options, &stop);
            let outcome = tokio::select! {
                outcome = pass => outcome,
                _ = stopping.wait_for(|s| *s) => {
                    stop.store(true, Ordering::Release);
                    break;
                }
            };
            if let Some(reply) = reply {
                let _ = reply.send(outcome);
            }
        }
        stop.store(true, Ordering::Release);
    });
    (ScrubHandle { tx }, task)
}

/// One pass, and the rebuild of derived rows it may call for.
async fn pass(
    store: &Arc<Store>,
    commit: &CommitHandle,
    options: ScrubOptions,
    stop: &Arc<AtomicBool>,
) -> Result<ScrubOutcome, Error> {
    tracing::info!(
        entries = store.durable_sequence(),
        "scrub: re-hashing the entry log"
    );
    let (s, halt) = (Arc::clone(store), Arc::clone(stop));
    let outcome =
        tokio::task::spawn_blocking(move || s.scrub(&options, &|| halt.load(Ordering::Acquire)))
            .await
            .map_err(|e| Error::Internal(format!("scrub task: {e}")))??;
    match &outcome {
        ScrubOutcome::Clean { entries } => {
            tracing::info!(
                entries,
                "scrub: every entry hashes to its leaf and the stored tree matches the last checkpoint"
            );
        }
        ScrubOutcome::DerivedDamaged { .. } => {
            let last = commit.rebuild_derived().await?;
            tracing::info!(
                last_sequence = last,
                "scrub: derived rows rebuilt from the entry log"
            );
        }
        ScrubOutcome::LogDamaged { sequence, .. } => {
            tracing::error!(
                sequence,
                "scrub failed: first bad sequence {sequence}; writes and checkpoints are stopped"
            );
        }
        ScrubOutcome::Stopped { at } => {
            tracing::info!(at, "scrub stopped before the end of the log");
        }
    }
    Ok(outcome)
}
