//! The groups in flight as overlays: what a group written to the log and
//! not yet durable changes (request ids with their receipts, created ids,
//! views, tree nodes). The writer checks the next writes against these,
//! newest first, before the store, which holds a group's rows only once
//! it is durable.

use std::collections::{HashMap, VecDeque};

use truce_proto::v1::Receipt;

use crate::model::{RecordKind, merkle, project::View};

/// What a written group changes, kept by the writer until the group is
/// durable and the store holds it.
#[derive(Default)]
pub(super) struct Overlay {
    /// The group's last sequence.
    pub(super) last: u64,
    pub(super) requests: HashMap<String, GroupRequest>,
    pub(super) records: HashMap<(RecordKind, String), u64>,
    pub(super) views: HashMap<(RecordKind, String), View>,
    pub(super) nodes: HashMap<(u8, u64), merkle::Hash>,
}

/// A request id not yet durable: hash, receipt, submitter.
pub(super) type GroupRequest = ([u8; 32], Receipt, String);

/// Drops the overlays of groups the store now holds (their last sequence
/// is at or under the durable one).
pub(super) fn retire(inflight: &mut VecDeque<Overlay>, durable: u64) {
    while inflight.front().is_some_and(|o| o.last <= durable) {
        inflight.pop_front();
    }
}

/// What the writes accepted earlier in this group, and the groups in
/// flight, changed: looked up newest first, before the store.
pub(super) struct GroupState<'a> {
    pub(super) current: &'a Overlay,
    pub(super) inflight: &'a VecDeque<Overlay>,
}

impl GroupState<'_> {
    fn layers(&self) -> impl Iterator<Item = &Overlay> {
        std::iter::once(self.current).chain(self.inflight.iter().rev())
    }

    pub(super) fn request(&self, request_id: &str) -> Option<&GroupRequest> {
        self.layers().find_map(|o| o.requests.get(request_id))
    }

    pub(super) fn record(&self, key: &(RecordKind, String)) -> Option<u64> {
        self.layers().find_map(|o| o.records.get(key).copied())
    }

    pub(super) fn view(&self, key: &(RecordKind, String)) -> Option<&View> {
        self.layers().find_map(|o| o.views.get(key))
    }

    pub(super) fn node(&self, level: u8, index: u64) -> Option<merkle::Hash> {
        self.layers()
            .find_map(|o| o.nodes.get(&(level, index)).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(last: u64, request: &str, record: &str, node: u8) -> Overlay {
        let mut o = Overlay {
            last,
            ..Overlay::default()
        };
        let receipt = Receipt {
            sequence: last,
            ..Receipt::default()
        };
        o.requests
            .insert(request.into(), ([node; 32], receipt, "alice".into()));
        o.records.insert((RecordKind::Report, record.into()), last);
        o.nodes.insert((0, 7), [node; 32]);
        o
    }

    #[test]
    fn lookups_go_newest_first() {
        let inflight: VecDeque<_> = [overlay(2, "a", "r1", 1), overlay(4, "b", "r1", 2)].into();
        let current = overlay(5, "c", "r2", 3);
        let state = GroupState {
            current: &current,
            inflight: &inflight,
        };
        // The newest group in flight wins over an older one...
        assert_eq!(state.record(&(RecordKind::Report, "r1".into())), Some(4));
        // ...and this group over every group in flight.
        assert_eq!(state.node(0, 7), Some([3; 32]));
        assert_eq!(state.request("a").map(|r| r.1.sequence), Some(2));
        assert_eq!(state.request("c").map(|r| r.1.sequence), Some(5));
    }

    #[test]
    fn what_no_overlay_holds_is_left_to_the_store() {
        let inflight = VecDeque::new();
        let current = Overlay::default();
        let state = GroupState {
            current: &current,
            inflight: &inflight,
        };
        assert!(state.request("a").is_none());
        assert!(state.record(&(RecordKind::Agreement, "x".into())).is_none());
        assert!(state.view(&(RecordKind::Agreement, "x".into())).is_none());
        assert!(state.node(0, 0).is_none());
    }

    #[test]
    fn durable_groups_are_retired_oldest_first() {
        let mut inflight: VecDeque<_> = [
            overlay(2, "a", "r1", 1),
            overlay(4, "b", "r2", 2),
            overlay(6, "c", "r3", 3),
        ]
        .into();
        retire(&mut inflight, 3);
        assert_eq!(inflight.iter().map(|o| o.last).collect::<Vec<_>>(), [4, 6]);
        retire(&mut inflight, 6);
        assert!(inflight.is_empty());
    }
}
