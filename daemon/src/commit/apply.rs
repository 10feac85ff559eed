//! Entries ordered elsewhere, applied through the writer's own steps
//! (cluster mode): another replica, or this one, had etcd order them; here
//! they are checked to follow the log, their derived rows, views and tree
//! nodes computed exactly as for a write, and the group written and made
//! durable by the same sync step. An entry this replica holds already is
//! compared byte for byte: a difference means its log is not the
//! cluster's, and it stops rather than serve a fork.

use std::time::SystemTime;

use prost::Message as _;
use tokio::sync::mpsc;
use truce_proto::v1::{Entry, Receipt};

use super::{
    Ordered, Queued, Writer,
    group::Built,
    order,
    overlay::{self, GroupState, Overlay},
};
use crate::{error::Error, model::derive};

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
            let (receipt, derived, nodes, views) = self.derive_ordered(sequence, &bytes, &state)?;
            built.place(receipt, bytes, &derived, nodes, views);
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
    #[allow(clippy::type_complexity)]
    fn derive_ordered(
        &mut self,
        sequence: u64,
        bytes: &[u8],
        state: &GroupState<'_>,
    ) -> Result<
        (
            Receipt,
            derive::Derived,
            Vec<(u8, u64, crate::model::merkle::Hash)>,
            Vec<(
                crate::model::RecordKind,
                String,
                crate::model::project::View,
            )>,
        ),
        Error,
    > {
        let bad = |why: String| Error::Forked(format!("ordered entry {sequence}: {why}"));
        let entry = Entry::decode(bytes).map_err(|e| bad(format!("undecodable: {e}")))?;
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
        Ok((receipt, derived, nodes, views))
    }
}
