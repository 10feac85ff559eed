//! The compliance reports the web view has computed, kept by agreement
//! and log sequence (`http_compliance_cache` of them, the oldest dropped
//! first). A report is a function of the log up to its sequence, so a kept
//! one is never stale: a new entry moves the page to a new sequence, and
//! the report is computed again once for it.

use std::{
    collections::VecDeque,
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
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            kept: Mutex::new(VecDeque::with_capacity(capacity)),
        }
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
    }
}
