//! Entries ordered elsewhere, applied through the writer's own steps
//! (cluster mode): another replica, or this one, had etcd order them; here
//! they are checked to follow the log, their derived rows, views and tree
//! nodes computed exactly as for a write, and the group written and made
//! durable by the same sync step. An entry this replica holds already is
//! compared byte for byte: a difference means its log is not the
//! cluster's, and it stops rather than serve a fork.

use std::time::SystemTime;

use tokio::sync::mpsc;
use truce_proto::v1::Receipt;

use super::{
    Ordered, Queued, Writer,
    group::Built,
    order,
    overlay::{self, GroupState, Overlay},
};
use crate::{
    error::Error,
    model::{decode_entry, derive},
};

/// An ordered entry's receipt, keys, tree nodes and views.
struct Derivation {
    receipt: Receipt,
    derived: derive::Derived,
    nodes: Vec<(u8, u64, crate::model::merkle::Hash)>,
    views: Vec<(
        crate::model::RecordKind,
        String,
        crate::model::project::View,
    )>,
}

impl Writer {
    /// Applies `ordered` after the groups in flight; answers once the last
    /// entry is durable here (or at once when none was new).
    pub(super) fn apply_ordered(&mut self, ordered: Ordered, queue: &mpsc::Receiver<Queued>) {
        let Ordered { entries, reply } = ordered;
        self.notice_failure();
        if let Some(damage) = self.store.damage() {
            let _ = reply.send(Err(Error::Damaged(damage)));
            return;
        }
        if let Some((error, why)) = self.refusal() {
            let _ = reply.send(Err(error(why)));
            return;
        }
        overlay::retire(&mut self.inflight, self.store.durable_sequence());
        let inflight = std::mem::take(&mut self.inflight);
        let built = self.build_ordered(entries, &inflight);
        self.inflight = inflight;
        match built {
            Ok((mut built, last)) => {
                let receipt = Receipt {
                    sequence: last,
                    ..Receipt::default()
                };
                if built.batch.is_empty() {
                    let _ = reply.send(Ok(receipt));
                    return;
                }
                built.replies.push((reply, Ok(receipt)));
                self.finish(built, queue);
            }
            Err(Error::Forked(why)) => {
                tracing::error!(error = %why, "this replica's log differs from the cluster's: it takes no more writes and applies nothing more");
                self.stop(
                    Some((format!("log differs from the cluster's: {why}"), false)),
                    [],
                );
                let _ = reply.send(Err(Error::Forked(why)));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// The batch of the entries not yet written here, and the last
    /// sequence of `entries`.
    fn build_ordered(
        &mut self,
        entries: Vec<(u64, Vec<u8>)>,
        inflight: &std::collections::VecDeque<Overlay>,
    ) -> Result<(Built, u64), Error> {
        let durable = self.store.durable_sequence();
        let mut next = self.store.last_written_sequence()? + 1;
        let mut built = Built::default();
        let mut last = durable;
        for (sequence, bytes) in entries {
            last = sequence;
            if sequence < next {
                self.compare_held(sequence, &bytes, durable)?;
                continue;
            }
            if sequence != next {
                return Err(Error::NotOrdered(format!(
                    "ordered entry {sequence} does not follow entry {}",
                    next - 1
                )));
            }
            let state = GroupState {
                current: &built.current,
                inflight,
            };
            let d = self.derive_ordered(sequence, &bytes, &state)?;
            built.place(d.receipt, bytes, &d.derived, d.nodes, d.views);
            next += 1;
        }
        Ok((built, last))
    }

    /// An entry this replica holds must be the cluster's, byte for byte.
    /// One written here and not yet durable was proposed by this replica
    /// and ordered with exactly these bytes (its proposal succeeded before
    /// it was written), so only durable ones are read back.
    fn compare_held(&self, sequence: u64, bytes: &[u8], durable: u64) -> Result<(), Error> {
        if sequence > durable {
            return Ok(());
        }
        match self.store.written_entry(sequence)? {
            Some(held) if held == bytes => Ok(()),
            Some(_) => Err(Error::Forked(format!(
                "entry {sequence} here is not the cluster's entry {sequence}"
            ))),
            None => Err(Error::Forked(format!(
                "entry {sequence} is durable here but cannot be read"
            ))),
        }
    }

    /// What a write's checks would have produced for an entry: its
    /// receipt, keys, tree nodes and the views it changes. The order seam
    /// continues after it.
    fn derive_ordered(
        &mut self,
        sequence: u64,
        bytes: &[u8],
        state: &GroupState<'_>,
    ) -> Result<Derivation, Error> {
        let bad = |why: String| Error::Forked(format!("ordered entry {sequence}: {why}"));
        let entry = decode_entry(sequence, bytes).map_err(|e| Error::Forked(e.to_string()))?;
        if entry.sequence != sequence {
            return Err(bad(format!("it says it is entry {}", entry.sequence)));
        }
        let derived = derive::from_entry(&entry).map_err(bad)?;
        let created = derived.created.as_ref().map(|(kind, _)| *kind);
        let views = self.views_after(&entry, created, state)?;
        let nodes = self.tree_nodes(sequence, bytes, state)?;
        let recorded_at = entry
            .recorded_at
            .as_ref()
            .map_or(SystemTime::UNIX_EPOCH, order::from_timestamp);
        self.sequencer.resume(sequence, recorded_at);
        let receipt = Receipt {
            sequence,
            record_id: entry.record_id,
            recorded_at: entry.recorded_at,
            duplicate: false,
            leaf_index: sequence - 1,
            ..Receipt::default()
        };
        Ok(Derivation {
            receipt,
            derived,
            nodes,
            views,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{CommitHandle, group::tests::agreement, order::LocalCounter, start_ordered};
    use crate::{
        error::Error,
        model::RecordKind,
        space::{RealDiskSpace, SpaceGuard},
        store::Store,
        sync::StoreSync,
    };

    fn pipeline(dir: &std::path::Path) -> (Arc<Store>, CommitHandle, std::thread::JoinHandle<()>) {
        let store = Arc::new(Store::open(dir, 8 << 20).unwrap());
        let space = SpaceGuard::new(0, Arc::new(RealDiskSpace));
        let counter = Box::new(LocalCounter::resume(0, std::time::SystemTime::UNIX_EPOCH));
        let (commit, writer) = start_ordered(
            store.writer().unwrap(),
            Arc::new(StoreSync),
            true,
            space,
            counter,
        )
        .unwrap();
        (store, commit, writer)
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn ordered_entries_make_the_same_log_and_a_different_one_is_a_fork() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, a_commit, a_writer) = pipeline(a_dir.path());
        let (b, b_commit, b_writer) = pipeline(b_dir.path());
        run(async {
            a_commit
                .submit(agreement("r-1", "a-1"), "alice")
                .await
                .unwrap();
            a_commit
                .submit(agreement("r-2", "a-2"), "bob")
                .await
                .unwrap();
        });
        let entries = a.read_entries(1, 10, 1 << 20).unwrap();
        assert_eq!(entries.len(), 2);

        // Applied on the other replica: the same bytes, the same tree, the
        // same derived rows.
        let last = run(b_commit.apply_ordered(entries.clone())).unwrap();
        assert_eq!(last, 2);
        assert_eq!(b.read_entries(1, 10, 1 << 20).unwrap(), entries);
        assert_eq!(b.tree_root(2).unwrap(), a.tree_root(2).unwrap());
        assert_eq!(
            b.record_sequence(RecordKind::Agreement, "a-2").unwrap(),
            Some(2)
        );
        // Again: held already, compared, nothing written twice.
        assert_eq!(run(b_commit.apply_ordered(entries.clone())).unwrap(), 2);
        assert_eq!(b.durable_sequence(), 2);
        // The idempotency rows came along: a retry is a duplicate there.
        let again = run(b_commit.submit(agreement("r-1", "a-1"), "alice")).unwrap();
        assert_eq!((again.sequence, again.duplicate), (1, true));

        // A gap is refused, and nothing is written.
        let gap = run(b_commit.apply_ordered(vec![(4, entries[0].1.clone())]));
        assert!(matches!(gap, Err(Error::NotOrdered(_))), "{gap:?}");
        // Other bytes at a sequence it holds: a fork, and writes stop.
        let forked = run(b_commit.apply_ordered(vec![(2, entries[0].1.clone())]));
        assert!(matches!(forked, Err(Error::Forked(_))), "{forked:?}");
        let refused = run(b_commit.submit(agreement("r-3", "a-3"), "alice"));
        assert!(
            matches!(refused, Err(Error::WritesStopped(_))),
            "{refused:?}"
        );
        assert_eq!(b.durable_sequence(), 2);

        run(a_commit.close());
        run(b_commit.close());
        a_writer.join().unwrap();
        b_writer.join().unwrap();
    }
}
