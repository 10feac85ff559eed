//! etcd's order as the commit pipeline's order seam: positions are taken
//! like the local counter's (next sequence, `recorded_at` never going
//! back), and each group is proposed with conditional appends: one
//! transaction per at most `txn_entries` entries (and 1 MiB), each
//! comparing the head key with the sequence the replica has ordered up to,
//! putting the entries under the next sequence keys and moving the head.
//! A replica behind the cluster, or one that lost the race, fails the
//! compare and writes nothing; it catches up through [`super::follow`].

use std::time::{Duration, Instant, SystemTime};

use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp};
use tokio::{runtime::Handle, sync::watch};

use super::{Cluster, Keys, TXN_BYTES, unavailable};
use crate::{
    commit::{
        order::{LocalCounter, Position, Sequencer},
        stats::CommitMetrics,
    },
    error::Error,
    forward::Writer,
    store::Batch,
};

/// The order seam of a replica.
pub(crate) struct EtcdOrder {
    local: LocalCounter,
    kv: KvClient,
    keys: Keys,
    /// The daemon's runtime: the writer thread blocks on it for each
    /// transaction, at most `timeout`.
    runtime: Handle,
    timeout: Duration,
    txn_entries: usize,
    /// Who writes: only the writer proposes (the lease keeps proposers
    /// from colliding; the compare keeps them safe).
    writer: watch::Receiver<Writer>,
    /// Transactions, entries ordered and round trips, once measured.
    metrics: Option<CommitMetrics>,
}

impl EtcdOrder {
    pub(crate) fn new(cluster: &Cluster, runtime: Handle, writer: watch::Receiver<Writer>) -> Self {
        Self {
            local: LocalCounter::resume(0, SystemTime::UNIX_EPOCH),
            kv: cluster.client.kv_client(),
            keys: cluster.keys.clone(),
            runtime,
            timeout: cluster.options.timeout,
            txn_entries: cluster.options.txn_entries.clamp(1, 127),
            writer,
            metrics: None,
        }
    }

    /// One conditional append: `entries` after `head`.
    fn append(&mut self, head: u64, entries: &[(u64, &[u8])]) -> Result<u64, Error> {
        let last = head + entries.len() as u64;
        let mut puts: Vec<TxnOp> = entries
            .iter()
            .map(|(sequence, bytes)| TxnOp::put(self.keys.entry(*sequence), *bytes, None))
            .collect();
        puts.push(TxnOp::put(self.keys.head(), last.to_string(), None));
        let txn = Txn::new()
            .when([Compare::value(
                self.keys.head(),
                CompareOp::Equal,
                head.to_string(),
            )])
            .and_then(puts);
        let mut kv = self.kv.clone();
        let sent = Instant::now();
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, kv.txn(txn)).await });
        let took = sent.elapsed();
        let response = answer
            .map_err(|_| {
                Error::NotOrdered(format!(
                    "etcd did not answer within {:?} (the entries after {head} may or may not be ordered; they are applied if they were)",
                    self.timeout
                ))
            })?
            .map_err(unavailable("propose"))?;
        if let Some(m) = &self.metrics {
            m.order_seconds.observe(took.as_secs_f64());
            if response.succeeded() {
                m.order_txns.inc();
                m.order_txn_entries.inc_by(entries.len() as u64);
            }
        }
        if !response.succeeded() {
            return Err(Error::NotOrdered(format!(
                "the cluster's log has moved past entry {head}; this replica applies it first"
            )));
        }
        Ok(last)
    }
}

impl Sequencer for EtcdOrder {
    fn resume(&mut self, last_sequence: u64, last_time: SystemTime) {
        self.local.resume_at(last_sequence, last_time);
    }

    fn peek(&self, now: SystemTime) -> Position {
        self.local.peek(now)
    }

    fn take(&mut self, position: Position) {
        self.local.take(position);
    }

    fn measure(&mut self, metrics: &CommitMetrics) {
        self.metrics = Some(metrics.clone());
    }

    fn propose(&mut self, after: u64, batch: &Batch) -> Result<(), Error> {
        let entries: Vec<(u64, &[u8])> = batch.entries().collect();
        let entries = entries.as_slice();
        let writer = self.writer.borrow().clone();
        match writer {
            Writer::This => {}
            Writer::Unknown => {
                return Err(Error::NotOrdered(
                    "no replica holds the writer lease yet".into(),
                ));
            }
            Writer::Other { name, .. } => {
                return Err(Error::NotOrdered(format!(
                    "replica {name} is the writer now"
                )));
            }
        }
        let mut head = after;
        let mut rest = entries;
        while !rest.is_empty() {
            let mut n = 0;
            let mut bytes = 0;
            while n < rest.len() && n < self.txn_entries {
                bytes += rest[n].1.len();
                if n > 0 && bytes > TXN_BYTES {
                    break;
                }
                n += 1;
            }
            let (chunk, tail) = rest.split_at(n);
            head = self.append(head, chunk)?;
            rest = tail;
        }
        Ok(())
    }
}
