//! The derived rows of the entries since sled's last seal, in memory.
//! The writer puts each group's rows here, not into sled: a seal (in the
//! background, every few thousand entries or every second) moves them into
//! sled at once, packed in runs ([`super::blocks`]), so that a report costs
//! sled two or three rows instead of fifteen. These rows are derived from
//! the entry log like every other derived row: an open derives again those
//! a crash lost.
//!
//! Readers look here before sled; a seal writes sled before it forgets the
//! rows here, so a row is always in one of the two.

use std::{collections::BTreeMap, ops::RangeBounds, sync::Arc};

/// Derived rows by tagged key, one row per fact (see [`super::blocks`]).
pub(super) type Rows = BTreeMap<Vec<u8>, Vec<u8>>;

/// The rows not yet sealed into sled.
#[derive(Debug, Default)]
pub(super) struct Recent {
    /// Rows written since the last freeze.
    pub active: Rows,
    /// Entries in `active`.
    pub entries: usize,
    /// Rows a seal is writing into sled; read from here until it has.
    pub frozen: Option<Arc<Rows>>,
    /// The writer put rows here whose entries are not yet synced: they
    /// must not be frozen (sealed into sled) before they are.
    pub unsynced: bool,
    /// A seal waits for the writer to freeze at its next group, when
    /// every row here is of synced entries.
    pub freeze_wanted: bool,
}

impl Recent {
    /// Moves the active rows to `frozen` (there must be none frozen).
    pub fn freeze(&mut self) {
        self.frozen = Some(Arc::new(std::mem::take(&mut self.active)));
        self.entries = 0;
        self.freeze_wanted = false;
    }

    /// The row under `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.active
            .get(key)
            .or_else(|| self.frozen.as_ref().and_then(|f| f.get(key)))
            .cloned()
    }

    /// A copy of the rows with keys in `range`, in key order (the active
    /// row wins where both hold a key).
    pub fn range<R: RangeBounds<Vec<u8>> + Clone>(&self, range: R) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out: Rows = BTreeMap::new();
        if is_empty(&range) {
            return Vec::new();
        }
        if let Some(f) = &self.frozen {
            out.extend(f.range(range.clone()).map(|(k, v)| (k.clone(), v.clone())));
        }
        out.extend(
            self.active
                .range(range)
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out.into_iter().collect()
    }

    /// The last row with a key in `range`.
    pub fn last<R: RangeBounds<Vec<u8>> + Clone>(&self, range: R) -> Option<(Vec<u8>, Vec<u8>)> {
        if is_empty(&range) {
            return None;
        }
        let active = self.active.range(range.clone()).next_back();
        let frozen = self
            .frozen
            .as_ref()
            .and_then(|f| f.range(range).next_back());
        active
            .into_iter()
            .chain(frozen)
            .max_by(|a, b| a.0.cmp(b.0))
            .map(|(k, v)| (k.clone(), v.clone()))
    }

    /// Every row, the frozen ones overlaid by the active ones.
    pub fn all(&self) -> Rows {
        let mut out = self.frozen.as_deref().cloned().unwrap_or_default();
        out.extend(self.active.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

/// Whether a range holds no key (`BTreeMap::range` panics on a range
/// that ends before it starts; sled's returns nothing).
fn is_empty<R: RangeBounds<Vec<u8>>>(range: &R) -> bool {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    match (range.start_bound(), range.end_bound()) {
        (Unbounded, _) | (_, Unbounded) => false,
        (Included(a), Included(b)) => a > b,
        (Included(a) | Excluded(a), Excluded(b)) | (Excluded(a), Included(b)) => a >= b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_that_ends_before_it_starts_is_empty() {
        let mut r = Recent::default();
        r.active.insert(vec![5], vec![1]);
        assert!(r.range(vec![6]..vec![4]).is_empty());
        assert!(r.range(vec![5]..vec![5]).is_empty());
        assert_eq!(r.range(vec![5]..=vec![5]).len(), 1);
        assert_eq!(r.last(vec![9]..=vec![1]), None);
    }
}
