//! The queue in front of the writer and how it is cut into groups: what
//! services put on it (through [`CommitHandle`]), and [`gather`], which
//! takes the writes queued behind the first into one group, up to
//! [`MAX_GROUP`], stopping at a rebuild or a close so that what was queued
//! before them is done first.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use truce_proto::v1::Receipt;

use super::{MAX_GROUP, Stats};
use crate::{error::Error, validate::ValidWrite};

/// What the writer's queue carries; `W` is a write (generic only so the
/// grouping can be tested without validated writes).
pub(super) enum Queued<W = Box<Pending>> {
    Write(W),
    /// Finish what is queued before this, then stop.
    Close,
    /// From the sync step: a sync (or a write of derived rows) failed.
    Wake,
    /// From the scrub: derived rows disagree with an intact log; derive
    /// them again once the groups in flight are durable.
    Rebuild(oneshot::Sender<Result<u64, Error>>),
    /// Cluster mode: entries another replica (or this one) ordered, to
    /// apply after what is queued before them.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Apply(Box<Ordered>),
}

/// Entries ordered elsewhere (sequence, encoded bytes), in sequence
/// order, and who waits until they are durable here (answered with the
/// last one's receipt).
pub(super) struct Ordered {
    pub(super) entries: Vec<(u64, Vec<u8>)>,
    pub(super) reply: oneshot::Sender<Result<Receipt, Error>>,
}

/// A validated write waiting for the writer, and who waits for its receipt.
pub(super) struct Pending {
    pub(super) write: ValidWrite,
    pub(super) submitter: String,
    pub(super) reply: oneshot::Sender<Result<Receipt, Error>>,
}

/// What comes after a group taken from the queue.
pub(super) enum After {
    /// The queue is empty, or the group is full: take the next one.
    Next,
    /// Rebuild the derived rows once the group is committed.
    Rebuild(oneshot::Sender<Result<u64, Error>>),
    /// Apply ordered entries once the group is committed.
    Apply(Box<Ordered>),
    /// Stop once the group is committed.
    Close,
}

/// Takes `first` and the writes queued behind it, at most [`MAX_GROUP`],
/// without waiting for more. A wake-up inside the group is dropped (the
/// group notices the failure first); a rebuild or a close ends the group,
/// after the writes queued before it.
pub(super) fn gather<W>(first: W, rx: &mut mpsc::Receiver<Queued<W>>) -> (Vec<W>, After) {
    gather_at_most(first, rx, MAX_GROUP)
}

fn gather_at_most<W>(first: W, rx: &mut mpsc::Receiver<Queued<W>>, most: usize) -> (Vec<W>, After) {
    let mut group = vec![first];
    while group.len() < most {
        match rx.try_recv() {
            Ok(Queued::Write(w)) => group.push(w),
            Ok(Queued::Wake) => {}
            Ok(Queued::Rebuild(reply)) => return (group, After::Rebuild(reply)),
            Ok(Queued::Apply(ordered)) => return (group, After::Apply(ordered)),
            Ok(Queued::Close) => return (group, After::Close),
            Err(_) => break,
        }
    }
    (group, After::Next)
}

/// The handle services use to submit writes.
#[derive(Clone)]
pub struct CommitHandle {
    pub(super) tx: mpsc::Sender<Queued>,
    pub(super) stats: Arc<Stats>,
}

impl std::fmt::Debug for CommitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHandle")
            .field("queued", &self.queued())
            .finish()
    }
}

impl CommitHandle {
    /// Queues a validated write and waits for its durable receipt.
    pub async fn submit(&self, write: ValidWrite, submitter: &str) -> Result<Receipt, Error> {
        self.enqueue(write, submitter).await?.await
    }

    /// Queues a validated write (waiting for room in the queue) and
    /// returns what resolves to its durable receipt: writes enqueued one
    /// after another are committed in that order and may share groups.
    pub async fn enqueue(
        &self,
        write: ValidWrite,
        submitter: &str,
    ) -> Result<impl Future<Output = Result<Receipt, Error>> + Send + 'static, Error> {
        let started = std::time::Instant::now();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Queued::Write(Box::new(Pending {
                write,
                submitter: submitter.to_owned(),
                reply,
            })))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let stats = Arc::clone(&self.stats);
        Ok(async move {
            let receipt = rx.await.map_err(|_| Error::ShuttingDown)??;
            stats
                .metrics
                .append_seconds
                .observe(started.elapsed().as_secs_f64());
            Ok(receipt)
        })
    }

    /// Writes queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Asks the writer to stop once the writes queued so far are done.
    /// Writes submitted afterwards fail with [`Error::ShuttingDown`].
    /// (Connection tasks may outlive the server and keep handles, so the
    /// writer cannot wait for every handle to be dropped.)
    pub async fn close(&self) {
        let _ = self.tx.send(Queued::Close).await;
    }

    /// Cluster mode: applies entries already ordered (by etcd), after the
    /// writes queued so far, through the same steps as a write (log,
    /// derived rows, tree, durable watermark). Entries this replica holds
    /// already are compared byte for byte and skipped; a difference is a
    /// fork ([`Error::Forked`]). Returns the last entry's sequence once it
    /// is durable.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub async fn apply_ordered(&self, entries: Vec<(u64, Vec<u8>)>) -> Result<u64, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Queued::Apply(Box::new(Ordered { entries, reply })))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let receipt = rx.await.map_err(|_| Error::ShuttingDown)??;
        Ok(receipt.sequence)
    }

    /// Asks the writer to derive every row again from the entry log, after
    /// the writes queued so far (the scrub found derived rows that disagree
    /// with an intact log). Reads answer UNAVAILABLE meanwhile. Returns
    /// the log's last sequence.
    pub async fn rebuild_derived(&self) -> Result<u64, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Queued::Rebuild(reply))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(items: Vec<Queued<u32>>) -> mpsc::Receiver<Queued<u32>> {
        let (tx, rx) = mpsc::channel(64);
        for item in items {
            tx.try_send(item).unwrap();
        }
        rx
    }

    #[test]
    fn a_group_takes_what_is_queued_and_does_not_wait() {
        let mut rx = queue(vec![Queued::Write(2), Queued::Write(3)]);
        let (group, after) = gather(1, &mut rx);
        assert_eq!(group, [1, 2, 3]);
        assert!(matches!(after, After::Next));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_group_is_cut_at_its_size_and_the_rest_waits() {
        let mut rx = queue((2..=5).map(Queued::Write).collect());
        let (group, after) = gather_at_most(1, &mut rx, 3);
        assert_eq!(group, [1, 2, 3]);
        assert!(matches!(after, After::Next));
        let (next, _) = match rx.try_recv() {
            Ok(Queued::Write(w)) => gather_at_most(w, &mut rx, 3),
            _ => panic!("the rest stays queued"),
        };
        assert_eq!(next, [4, 5]);
    }

    #[test]
    fn a_wake_inside_a_group_is_dropped() {
        let mut rx = queue(vec![Queued::Wake, Queued::Write(2), Queued::Wake]);
        let (group, after) = gather(1, &mut rx);
        assert_eq!(group, [1, 2]);
        assert!(matches!(after, After::Next));
    }

    #[test]
    fn a_rebuild_ends_the_group_after_the_writes_before_it() {
        let (reply, _rx) = oneshot::channel();
        let mut rx = queue(vec![
            Queued::Write(2),
            Queued::Rebuild(reply),
            Queued::Write(3),
        ]);
        let (group, after) = gather(1, &mut rx);
        assert_eq!(group, [1, 2]);
        assert!(matches!(after, After::Rebuild(_)));
        assert!(matches!(rx.try_recv(), Ok(Queued::Write(3))));
    }

    #[test]
    fn a_close_ends_the_group_after_the_writes_before_it() {
        let mut rx = queue(vec![Queued::Write(2), Queued::Close, Queued::Write(3)]);
        let (group, after) = gather(1, &mut rx);
        assert_eq!(group, [1, 2]);
        assert!(matches!(after, After::Close));
    }
}
