//! The compliance reports the web view has computed, kept by agreement
//! and log sequence (`http_compliance_cache` of them, the oldest dropped
//! first). A report is a function of the log up to its sequence, so a kept
//! one is never stale: a new entry moves the page to a new sequence, and
//! the report is computed again once for it. Those computations run in
//! the background (`web::fresh`), at most one per agreement and at most
//! `http_compliance_cache` at a time; the cache says which are running.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};

use truce_proto::v1::ComplianceReport;

/// (agreement id, sequence) and the report computed there.
type Kept = ((String, u64), Arc<ComplianceReport>);

/// A bounded map of (agreement id, sequence) → report.
#[derive(Debug)]
pub(crate) struct Cache {
    capacity: usize,
    kept: Mutex<VecDeque<Kept>>,
    /// Agreements whose report is being computed in the background.
    computing: Mutex<HashSet<String>>,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            kept: Mutex::new(VecDeque::with_capacity(capacity)),
            computing: Mutex::new(HashSet::new()),
        }
    }

    /// The newest report kept for `id` below sequence `before`.
    pub(crate) fn newest_before(&self, id: &str, before: u64) -> Option<u64> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter()
            .filter(|((i, s), _)| i == id && *s < before)
            .map(|((_, s), _)| *s)
            .max()
    }

    /// Marks `id`'s report as being computed; false when it already is,
    /// or when `capacity` computations already run.
    pub(crate) fn start(&self, id: &str) -> bool {
        let mut computing = self
            .computing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if computing.len() >= self.capacity {
            return false;
        }
        computing.insert(id.to_owned())
    }

    /// Whether `id`'s report is being computed.
    pub(crate) fn is_computing(&self, id: &str) -> bool {
        let computing = self
            .computing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        computing.contains(id)
    }

    /// `id`'s computation ended (done or failed).
    pub(crate) fn finish(&self, id: &str) {
        let mut computing = self
            .computing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        computing.remove(id);
    }

    pub(crate) fn get(&self, id: &str, at: u64) -> Option<Arc<ComplianceReport>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter()
            .find(|((i, s), _)| i == id && *s == at)
            .map(|(_, r)| Arc::clone(r))
    }

    pub(crate) fn put(&self, id: &str, at: u64, report: Arc<ComplianceReport>) {
        if self.capacity == 0 {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.iter().any(|((i, s), _)| i == id && *s == at) {
            return;
        }
        while kept.len() >= self.capacity {
            kept.pop_front();
        }
        kept.push_back(((id.to_owned(), at), report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_capacity_oldest_out_first() {
        let cache = Cache::new(2);
        for at in 1..=3 {
            cache.put("a", at, Arc::new(ComplianceReport::default()));
        }
        assert!(cache.get("a", 1).is_none());
        assert!(cache.get("a", 2).is_some() && cache.get("a", 3).is_some());
        assert!(cache.get("b", 3).is_none());
        let none = Cache::new(0);
        none.put("a", 1, Arc::new(ComplianceReport::default()));
        assert!(none.get("a", 1).is_none());
        assert!(!none.start("a"), "no cache, no background work");
    }

    #[test]
    fn the_newest_below_a_sequence_and_one_computation_per_agreement() {
        let cache = Cache::new(2);
        cache.put("a", 4, Arc::new(ComplianceReport::default()));
        cache.put("a", 7, Arc::new(ComplianceReport::default()));
        assert_eq!(cache.newest_before("a", 9), Some(7));
        assert_eq!(cache.newest_before("a", 7), Some(4));
        assert_eq!(cache.newest_before("b", 9), None);
        assert!(cache.start("a") && !cache.start("a"));
        assert!(cache.is_computing("a"));
        assert!(cache.start("b") && !cache.start("c"), "at most 2 at a time");
        cache.finish("a");
        assert!(!cache.is_computing("a") && cache.start("c"));
    }
}
