//! One group through the writer: admitted or refused whole (a damaged
//! store, stopped writes, too little disk space), each write checked and
//! placed in the group's batch and overlay, the batch written to the log,
//! and the group handed to the sync step with the replies that wait for it.

use std::{collections::VecDeque, time::SystemTime};

use tokio::sync::{mpsc, oneshot};
use truce_proto::v1::Receipt;

use super::{
    Pending, Queued, Writer,
    checks::{Checked, New},
    overlay::{self, GroupState, Overlay},
    stop::{Failure, failed},
    syncer::{Reply, Written},
};
use crate::{error::Error, model::merkle, store::Batch, sync::Group};

/// A group's writes once checked: what goes to the log, and who waits.
#[derive(Default)]
pub(super) struct Built {
    pub(super) batch: Batch,
    /// Replies that wait for the sync: receipts of accepted writes, and
    /// duplicates of writes still in flight.
    pub(super) replies: Vec<Reply>,
    /// What this group changes, not yet stored.
    pub(super) current: Overlay,
    /// A read of the store that met a full disk, and who asked.
    pub(super) full_disk: Option<String>,
    pub(super) refused: Vec<oneshot::Sender<Result<Receipt, Error>>>,
}

impl Built {
    /// Puts an entry with its tree nodes and views in the batch and in
    /// this group's overlay.
    pub(super) fn place(
        &mut self,
        receipt: Receipt,
        bytes: Vec<u8>,
        derived: &crate::model::derive::Derived,
        nodes: Vec<(u8, u64, merkle::Hash)>,
        views: Vec<(
            crate::model::RecordKind,
            String,
            crate::model::project::View,
        )>,
    ) {
        let sequence = receipt.sequence;
        let current = &mut self.current;
        if let Some(created) = &derived.created {
            current.records.insert(created.clone(), sequence);
        }
        current.requests.insert(
            derived.request_id.clone(),
            (derived.hash, receipt, derived.submitter.clone()),
        );
        if !nodes.is_empty() {
            self.batch.push_nodes(sequence - 1, &nodes);
        }
        for (level, index, hash) in nodes {
            current.nodes.insert((level, index), hash);
        }
        self.batch.push(sequence, bytes, derived);
        for (kind, id, view) in views {
            self.batch.push_view(kind, &id, &view);
            current.views.insert((kind, id), view);
        }
    }
}

fn refuse_all(group: Vec<Pending>, error: impl Fn() -> Error) {
    for p in group {
        let _ = p.reply.send(Err(error()));
    }
}

impl Writer {
    pub(super) fn commit_group(&mut self, group: Vec<Pending>, queue: &mpsc::Receiver<Queued>) {
        let Some(group) = self.admit(group) else {
            return;
        };
        let built = self.build(group);
        let Some(built) = self.propose(built) else {
            return;
        };
        self.finish(built, queue);
    }

    /// Has the order seam order the group's entries before they are
    /// written (cluster mode: one etcd transaction); when it refuses, the
    /// group is refused whole, nothing is written and the seam continues
    /// after what the log holds.
    fn propose(&mut self, built: Built) -> Option<Built> {
        let Some(last) = built.batch.last_sequence() else {
            return Some(built);
        };
        let after = last - built.batch.len() as u64;
        let Err(e) = self.sequencer.propose(after, &built.batch) else {
            return Some(built);
        };
        tracing::debug!(error = %e, entries = built.batch.len(), "group not ordered; refused");
        let again = || match &e {
            Error::Forked(why) => Error::Forked(why.clone()),
            other => Error::NotOrdered(other.to_string()),
        };
        let replies = built.replies.into_iter().map(|(reply, _)| reply);
        for reply in replies.chain(built.refused) {
            let _ = reply.send(Err(again()));
        }
        if let Err(e) = super::resume(&self.store, self.sequencer.as_mut()) {
            tracing::warn!(error = %e, "the order seam could not resume after a refused group");
        }
        None
    }

    /// The group, unless it is refused whole: the store is damaged, writes
    /// are stopped, or free disk space is under the margin.
    fn admit(&mut self, group: Vec<Pending>) -> Option<Vec<Pending>> {
        self.notice_failure();
        if let Some(damage) = self.store.damage() {
            refuse_all(group, || Error::Damaged(damage.clone()));
            return None;
        }
        if let Some((error, why)) = self.refusal() {
            refuse_all(group, || error(why.clone()));
            return None;
        }
        if let Some(why) = self
            .space
            .shortage(self.store.dir(), self.store.space_ahead().total())
        {
            tracing::warn!(refused = group.len(), reason = %why, "appends refused");
            refuse_all(group, || Error::exhausted(why.clone()));
            return None;
        }
        Some(group)
    }

    /// Checks each write against this group and those in flight, and puts
    /// the accepted ones in the batch.
    fn build(&mut self, group: Vec<Pending>) -> Built {
        overlay::retire(&mut self.inflight, self.store.durable_sequence());
        let inflight = std::mem::take(&mut self.inflight);
        let now = SystemTime::now();
        let mut built = Built::default();
        for p in group {
            let state = GroupState {
                current: &built.current,
                inflight: &inflight,
            };
            match self.check_and_encode(&p, now, &state) {
                Ok(Checked::Duplicate(receipt)) => {
                    let _ = p.reply.send(Ok(receipt));
                }
                Ok(Checked::DuplicateInFlight(receipt)) => {
                    built.replies.push((p.reply, Ok(receipt)));
                }
                Ok(Checked::New(new)) => self.accept(p, new, &mut built, &inflight),
                // sled met a full disk (in its background flush, say) and
                // now fails reads too: a write failure like any other.
                Err(Error::Store(e)) if e.is_disk_full() => {
                    built
                        .full_disk
                        .get_or_insert_with(|| format!("write failed: {e}"));
                    built.refused.push(p.reply);
                }
                // Decided while writes were in flight (a taken id, say):
                // told once they are durable, or that they failed.
                Err(e) if !inflight.is_empty() || !built.current.requests.is_empty() => {
                    built.replies.push((p.reply, Err(e)));
                }
                Err(e) => {
                    let _ = p.reply.send(Err(e));
                }
            }
        }
        self.inflight = inflight;
        built
    }

    /// Takes a new entry's position and puts the entry, its tree nodes and
    /// views in the batch and in this group's overlay.
    fn accept(&mut self, p: Pending, new: New, built: &mut Built, inflight: &VecDeque<Overlay>) {
        let New {
            position,
            bytes,
            derived,
            record_id,
            views,
        } = new;
        let receipt = Receipt {
            sequence: position.sequence,
            record_id,
            recorded_at: Some(position.timestamp()),
            duplicate: false,
            leaf_index: position.sequence - 1,
            ..Receipt::default()
        };
        let state = GroupState {
            current: &built.current,
            inflight,
        };
        let nodes = match self.tree_nodes(position.sequence, &bytes, &state) {
            Ok(n) => n,
            Err(e) => {
                let _ = p.reply.send(Err(e));
                return;
            }
        };
        self.sequencer.take(position);
        built.place(receipt.clone(), bytes, &derived, nodes, views);
        built.replies.push((p.reply, Ok(receipt)));
    }

    /// The Merkle nodes an entry completes: the tree grows in the same
    /// atomic write.
    pub(super) fn tree_nodes(
        &self,
        sequence: u64,
        bytes: &[u8],
        state: &GroupState<'_>,
    ) -> Result<Vec<(u8, u64, merkle::Hash)>, Error> {
        if !self.maintain_tree {
            return Ok(Vec::new());
        }
        merkle::append(
            sequence - 1,
            merkle::leaf_hash(bytes),
            |level, index| match state.node(level, index) {
                Some(h) => Ok(h),
                None => self
                    .store
                    .tree_node(level, index)?
                    .ok_or_else(|| Error::Internal(format!("tree node {level}/{index} missing"))),
            },
        )
    }

    /// Writes the group's batch to the log and hands it to the sync step;
    /// a failure stops writes and fails the group's replies.
    pub(super) fn finish(&mut self, built: Built, queue: &mpsc::Receiver<Queued>) {
        let Built {
            batch,
            replies,
            mut current,
            full_disk,
            refused,
        } = built;
        let written = match full_disk {
            Some(why) => Err((why, true)),
            None => self.write(&batch),
        };
        let offsets = match written {
            Ok(offsets) => offsets,
            Err(failure) => {
                let replies = replies.into_iter().map(|(reply, _)| reply);
                self.stop(Some(failure), replies.chain(refused));
                return;
            }
        };
        if let Some(last) = batch.last_sequence() {
            current.last = last;
            self.inflight.push_back(current);
        }
        if replies.is_empty() {
            return;
        }
        // With no append queued behind it, the group is synced here,
        // unless groups are in flight.
        let alone = queue.is_empty();
        let sent = self.syncer.hand_over(
            Written {
                batch,
                offsets,
                replies,
            },
            alone,
        );
        match sent {
            Err(written) => {
                let replies = written.replies.into_iter().map(|(reply, _)| reply);
                self.stop(None, replies);
            }
            Ok(()) if alone => self.notice_failure(),
            Ok(()) => {}
        }
    }

    /// Puts a group's frames in the entry log and writes them (not yet
    /// durable: the sync step syncs them). Returns their offsets.
    fn write(&mut self, batch: &Batch) -> Result<Vec<(u64, u64)>, Failure> {
        let Some(last) = batch.last_sequence() else {
            return Ok(Vec::new());
        };
        let group = Group {
            first_sequence: last + 1 - batch.len() as u64,
            last_sequence: last,
            entries: batch.len(),
        };
        let offsets = self.store.append_frames(batch).map_err(failed("append"))?;
        self.seam
            .write(&self.store, &group)
            .map_err(failed("write"))?;
        Ok(offsets)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::{Arc, atomic::Ordering};

    use truce_proto::v1::{Envelope, envelope::Kind};

    use super::super::{CommitHandle, order::LocalCounter, start_ordered};
    use crate::{
        error::Error,
        space::{RealDiskSpace, SpaceGuard},
        store::Store,
        sync::StoreSync,
        validate::{self, ValidWrite},
    };

    /// The seed agreement under another request id and record id (the
    /// commit pipeline's tests share it).
    pub(in crate::commit) fn agreement(request_id: &str, id: &str) -> ValidWrite {
        let seed = include_str!("../../../examples/seed-scenario.jsonl");
        let first = seed.lines().next().unwrap();
        let Some(Kind::Agreement(mut request)) =
            serde_json::from_str::<Envelope>(first).unwrap().kind
        else {
            panic!("the seed starts with an agreement");
        };
        request.request_id = request_id.into();
        request.agreement.as_mut().unwrap().id = id.into();
        validate::record_agreement(request, &validate::Context::now()).unwrap()
    }

    fn pipeline(dir: &std::path::Path) -> (CommitHandle, std::thread::JoinHandle<()>) {
        let store = Arc::new(Store::open(dir, 8 << 20).unwrap());
        let space = SpaceGuard::new(0, Arc::new(RealDiskSpace));
        let counter = Box::new(LocalCounter::resume(0, std::time::SystemTime::UNIX_EPOCH));
        start_ordered(
            store.writer().unwrap(),
            Arc::new(StoreSync),
            true,
            space,
            counter,
        )
        .unwrap()
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn writes_queued_together_see_each_other_before_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (commit, writer) = pipeline(dir.path());
        let (a, again, taken, same_id) = run(async {
            tokio::join!(
                commit.submit(agreement("r-1", "a-1"), "alice"),
                commit.submit(agreement("r-1", "a-1"), "alice"),
                commit.submit(agreement("r-1", "a-1"), "bob"),
                commit.submit(agreement("r-2", "a-1"), "alice"),
            )
        });
        let a = a.unwrap();
        assert_eq!((a.sequence, a.duplicate), (1, false));
        let again = again.unwrap();
        assert_eq!((again.sequence, again.duplicate), (1, true));
        assert!(matches!(taken, Err(Error::AlreadyExists(_))), "{taken:?}");
        assert!(
            matches!(same_id, Err(Error::AlreadyExists(_))),
            "{same_id:?}"
        );
        run(commit.close());
        writer.join().unwrap();
    }

    #[test]
    fn a_refused_write_takes_no_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let (commit, writer) = pipeline(dir.path());
        let (first, refused, next) = run(async {
            tokio::join!(
                commit.submit(agreement("r-1", "a-1"), "alice"),
                commit.submit(agreement("r-2", "a-1"), "alice"),
                commit.submit(agreement("r-3", "a-2"), "alice"),
            )
        });
        assert_eq!(first.unwrap().sequence, 1);
        assert!(refused.is_err());
        assert_eq!(next.unwrap().sequence, 2);
        // A write from the store, not an overlay, is a duplicate too.
        let stored = run(commit.submit(agreement("r-1", "a-1"), "alice")).unwrap();
        assert_eq!((stored.sequence, stored.duplicate), (1, true));
        assert_eq!(commit.stats().entries.load(Ordering::Relaxed), 2);
        run(commit.close());
        writer.join().unwrap();
    }
}
