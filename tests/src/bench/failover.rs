//! The failover half of the cluster benchmark (`truce-bench-cluster`,
//! issue 23): under a light write load, kill -9 the writer and time from
//! the kill to the first write acknowledged by its successor. A write
//! counts only if it was sent after the kill (the killed writer can answer
//! nothing sent after it), so an answer already on its way when the writer
//! died is not mistaken for the successor's. Each writer sends one report
//! at a time, one attempt per call, and moves to the next replica after a
//! failure, with the same request id until it is acknowledged.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use tokio::task::JoinHandle;
use truce_client::{Client, ClientOptions};

use super::{payload::Generator, replicas::Replicas};

/// The pause after each attempt, acknowledged or not.
const PAUSE: Duration = Duration::from_millis(10);
/// How long any step of a round may take.
const WITHIN: Duration = Duration::from_secs(60);

/// One kill and what followed.
#[derive(Debug, Clone)]
pub struct Round {
    pub killed: String,
    pub successor: String,
    /// From the kill to the first acknowledged write sent after it.
    pub first_write: Duration,
}

/// Acknowledgements: when each acknowledged attempt was sent and answered.
#[derive(Default)]
struct Acks {
    list: Mutex<Vec<(Instant, Instant)>>,
}

impl Acks {
    fn push(&self, sent: Instant, answered: Instant) {
        if let Ok(mut list) = self.list.lock() {
            list.push((sent, answered));
        }
    }

    fn count(&self) -> usize {
        self.list.lock().map_or(0, |l| l.len())
    }

    /// The first answer to an attempt sent at or after `from`.
    fn first_sent_after(&self, from: Instant) -> Option<Instant> {
        let list = self.list.lock().ok()?;
        list.iter()
            .filter(|(sent, _)| *sent >= from)
            .map(|(_, answered)| *answered)
            .min()
    }
}

/// One attempt per call, quick to fail, so a writer moves on at once.
fn options() -> ClientOptions {
    ClientOptions {
        write_attempts: 1,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

/// The light load's writers.
struct Writers {
    urls: Vec<String>,
    reports: Arc<Generator>,
    next: Arc<AtomicU64>,
    acks: Acks,
    stop: AtomicBool,
}

impl Writers {
    fn start(self: &Arc<Self>, n: usize) -> Vec<JoinHandle<()>> {
        (0..n)
            .map(|w| {
                let writers = Arc::clone(self);
                tokio::spawn(async move { writers.write(w).await })
            })
            .collect()
    }

    /// Writer `w`: one report at a time until told to stop, each sent
    /// again (to the next replica) until acknowledged.
    async fn write(&self, w: usize) {
        let urls = &self.urls;
        let mut clients: Vec<Option<Client>> = vec![None; urls.len()];
        let mut at = w % urls.len();
        let stopped = || self.stop.load(Ordering::Relaxed);
        while !stopped() {
            let request = self
                .reports
                .request(self.next.fetch_add(1, Ordering::Relaxed));
            while !stopped() {
                let sent = Instant::now();
                if clients[at].is_none() {
                    clients[at] = Client::connect_with(urls[at].clone(), options()).await.ok();
                }
                let answer = match &clients[at] {
                    Some(c) => c.submit_report(request.clone()).await.ok(),
                    None => None,
                };
                let answered = Instant::now();
                tokio::time::sleep(PAUSE).await;
                if answer.is_some() {
                    self.acks.push(sent, answered);
                    break;
                }
                at = (at + 1) % urls.len();
            }
        }
    }
}

/// Waits until `ready` holds, polling; false if not within `within`.
async fn until(within: Duration, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !ready() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// With the light load running: waits for a few acknowledgements, kills
/// the writer, and waits for the first write sent after the kill to be
/// acknowledged and for the successor to say it took the lease. Returns
/// the time from the kill to that acknowledgement, and the successor.
async fn kill_the_writer(
    cluster: &mut Replicas,
    writer: usize,
    load: &Writers,
    writers: usize,
) -> Result<(Duration, usize)> {
    if !until(WITHIN, || load.acks.count() >= 4 * writers).await {
        bail!("the light load was not acknowledged before the kill");
    }
    let killed_at = Instant::now();
    cluster.kill(writer);
    until(WITHIN, || load.acks.first_sent_after(killed_at).is_some()).await;
    let Some(answered) = load.acks.first_sent_after(killed_at) else {
        bail!("no write was acknowledged within {WITHIN:?} of the kill");
    };
    let others: Vec<usize> = (0..3).filter(|i| *i != writer).collect();
    let successor = cluster.new_writer(&others, WITHIN).await?;
    Ok((answered - killed_at, successor))
}

/// One round: `writers` writers on every replica, a few acknowledged
/// writes, kill -9 the writer, the first acknowledged write after it,
/// then the killed replica restarted and caught up. Returns the round
/// and the new writer.
pub async fn round(
    cluster: &mut Replicas,
    writer: usize,
    writers: usize,
    reports: &Arc<Generator>,
    next: &Arc<AtomicU64>,
) -> Result<(Round, usize)> {
    let load = Arc::new(Writers {
        urls: cluster.urls(),
        reports: Arc::clone(reports),
        next: Arc::clone(next),
        acks: Acks::default(),
        stop: AtomicBool::new(false),
    });
    let tasks = load.start(writers);
    let measured = kill_the_writer(cluster, writer, &load, writers).await;
    load.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let (first_write, successor) = measured?;
    cluster.restart(writer)?;
    let head = cluster.durable(successor)?;
    cluster.wait_durable(writer, head, WITHIN).await?;
    let round = Round {
        killed: cluster.replicas[writer].name.clone(),
        successor: cluster.replicas[successor].name.clone(),
        first_write,
    };
    Ok((round, successor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_attempts_sent_after_the_kill_count() {
        let acks = Acks::default();
        let t0 = Instant::now();
        let kill = t0 + Duration::from_millis(100);
        // Sent before the kill, answered after it: not the successor's.
        acks.push(t0, kill + Duration::from_millis(5));
        assert_eq!(acks.first_sent_after(kill), None);
        acks.push(
            kill + Duration::from_millis(900),
            kill + Duration::from_secs(2),
        );
        acks.push(
            kill + Duration::from_millis(800),
            kill + Duration::from_millis(1500),
        );
        assert_eq!(
            acks.first_sent_after(kill),
            Some(kill + Duration::from_millis(1500))
        );
        assert_eq!(acks.count(), 3);
    }
}
