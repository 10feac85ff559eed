//! One driver for every load, truced's and PostgreSQL's alike: workers
//! (one per client) take the next index from a shared counter and run one
//! operation at a time, for a fixed time or a fixed count; the figures
//! count the operations that completed inside the measured window and
//! their latencies (warm-ups are phases of their own).

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::error::Result;

/// One client's operation on item `i`.
pub trait Worker: Send + 'static {
    fn call(&mut self, i: u64) -> impl Future<Output = Result<()>> + Send;
}

/// When the workers stop.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// Once this many items have been taken (all are measured).
    Count(u64),
}

/// What a phase measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Operations completed in the window.
    pub ops: u64,
    /// The window.
    pub elapsed: Duration,
    /// Latency of each of those operations, milliseconds.
    pub latencies_ms: Vec<f64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn p(&self, q: f64) -> f64 {
        super::stats::percentile(&self.latencies_ms, q)
    }
}

/// Runs `workers` concurrently, indexes from `next` onwards; gives the
/// workers back for the next phase.
pub async fn drive<W: Worker>(
    workers: Vec<W>,
    next: Arc<AtomicU64>,
    stop: Stop,
) -> Result<(Outcome, Vec<W>)> {
    let start = Instant::now();
    let (from, end, limit) = match stop {
        Stop::After(length) => (start, Some(start + length), None),
        Stop::Count(n) => (start, None, Some(next.load(Ordering::Relaxed) + n)),
    };
    let mut tasks = Vec::new();
    for mut worker in workers {
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut last = from;
            loop {
                if end.is_some_and(|e| Instant::now() >= e) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| i >= l) {
                    break;
                }
                let t = Instant::now();
                worker.call(i).await?;
                let done = Instant::now();
                if done >= from && end.is_none_or(|e| done <= e) {
                    latencies.push((done - t).as_secs_f64() * 1e3);
                    last = last.max(done);
                }
            }
            Ok::<_, super::error::Error>((latencies, last, worker))
        }));
    }
    let mut out = Outcome::default();
    let mut last = from;
    let mut workers = Vec::new();
    for t in tasks {
        let (latencies, done, worker) = t.await??;
        out.latencies_ms.extend(latencies);
        last = last.max(done);
        workers.push(worker);
    }
    out.ops = out.latencies_ms.len() as u64;
    out.elapsed = match end {
        Some(e) => e - from,
        None => last - from,
    };
    Ok((out, workers))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleeper(Arc<AtomicU64>);

    impl Worker for Sleeper {
        async fn call(&mut self, _i: u64) -> Result<()> {
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    #[tokio::test]
    async fn count_takes_exactly_n_items() -> Result<()> {
        let calls = Arc::new(AtomicU64::new(0));
        let workers = (0..4).map(|_| Sleeper(Arc::clone(&calls))).collect();
        let next = Arc::new(AtomicU64::new(10));
        let (out, workers) = drive(workers, Arc::clone(&next), Stop::Count(40)).await?;
        assert_eq!(workers.len(), 4);
        assert_eq!(out.ops, 40);
        assert_eq!(calls.load(Ordering::Relaxed), 40);
        assert!(out.rate() > 0.0);
        Ok(())
    }

    #[tokio::test]
    async fn timed_phases_count_what_completed_in_time() -> Result<()> {
        let calls = Arc::new(AtomicU64::new(0));
        let workers = (0..2).map(|_| Sleeper(Arc::clone(&calls))).collect();
        let stop = Stop::After(Duration::from_millis(100));
        let (out, _) = drive(workers, Arc::new(AtomicU64::new(0)), stop).await?;
        assert_eq!(out.elapsed, Duration::from_millis(100));
        assert!(out.ops > 0 && out.ops <= calls.load(Ordering::Relaxed));
        assert!(out.p(0.5) >= 2.0);
        Ok(())
    }
}
