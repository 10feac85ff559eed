//! Whether the entry log is still the log that was written. The CRC chain
//! of the log's frames catches torn and rotted writes, not a deliberate
//! rewrite: anyone who can write a segment can recompute the CRCs. What
//! cannot be recomputed from the segment is the Merkle leaf the writer
//! stored for each entry when it wrote it (and the signed checkpoints
//! over those leaves). So every entry read for a caller is hashed again
//! and compared with its stored leaf ([`Integrity::check`]); a mismatch is
//! never served, is logged at error level, is counted for the metrics,
//! and marks the store damaged: a damaged store takes no more writes and
//! signs no more checkpoints until an operator restarts it (and the open
//! then refuses it, naming the entry).

use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use super::StoreError;
use crate::model::merkle;

/// The store's integrity state: the damage found, if any, and what the
/// checks and the scrub have counted (read at scrape time).
#[derive(Debug, Default)]
pub struct Integrity {
    damage: Mutex<Option<String>>,
    /// Entries refused because their bytes no longer hash to their leaf.
    mismatches: AtomicU64,
    /// The scrub's progress: the sequence it has checked up to in its
    /// current pass, passes completed, and entries it found damaged.
    pub(super) scrub_position: AtomicU64,
    pub(super) scrub_passes: AtomicU64,
    pub(super) scrub_damaged: AtomicU64,
    /// Derived rows the scrub found disagreeing with the log (the writer
    /// rebuilds them).
    pub(super) scrub_derived: AtomicU64,
}

/// What the metrics show of [`Integrity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntegrityStats {
    pub hash_mismatches: u64,
    pub damaged: bool,
    pub scrub_position: u64,
    pub scrub_passes: u64,
    pub scrub_damaged: u64,
    pub scrub_derived: u64,
}

impl Integrity {
    /// `bytes` (entry `sequence` as read from the log) if they hash to
    /// `leaf`, the leaf the writer stored for it; otherwise the store is
    /// marked damaged and the entry refused.
    pub(super) fn check(
        &self,
        sequence: u64,
        bytes: Vec<u8>,
        leaf: Option<merkle::Hash>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(leaf) = leaf else {
            return Err(StoreError::Corrupt(format!(
                "entry {sequence} has no Merkle leaf to check it against; the indexes are rebuilt at the next open"
            )));
        };
        if merkle::leaf_hash(&bytes) == leaf {
            return Ok(bytes);
        }
        self.mismatches.fetch_add(1, Ordering::Relaxed);
        Err(self.tampered(
            sequence,
            "its bytes no longer hash to the leaf stored when it was written",
        ))
    }

    /// Records that entry `sequence` of the log was changed: marks the
    /// store damaged (the first damage found is kept), logs at error level
    /// and returns the error callers get.
    pub(super) fn tampered(&self, sequence: u64, why: &str) -> StoreError {
        tracing::error!(
            sequence,
            reason = why,
            "entry fails its hash check: the entry log was changed behind truced's back; it is not served, and writes and checkpoints stop"
        );
        let told = format!("entry {sequence} fails its hash check ({why})");
        if let Ok(mut damage) = self.damage.lock()
            && damage.is_none()
        {
            *damage = Some(told);
        }
        StoreError::Tampered {
            sequence,
            why: why.to_owned(),
        }
    }

    /// The first damage found in the log since the store was opened.
    pub fn damage(&self) -> Option<String> {
        self.damage.lock().ok().and_then(|d| d.clone())
    }

    /// The counts, for the metrics.
    pub fn stats(&self) -> IntegrityStats {
        IntegrityStats {
            hash_mismatches: self.mismatches.load(Ordering::Relaxed),
            damaged: self.damage().is_some(),
            scrub_position: self.scrub_position.load(Ordering::Relaxed),
            scrub_passes: self.scrub_passes.load(Ordering::Relaxed),
            scrub_damaged: self.scrub_damaged.load(Ordering::Relaxed),
            scrub_derived: self.scrub_derived.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_hash_to_their_leaf_pass_and_others_mark_the_store_damaged() {
        let integrity = Integrity::default();
        let leaf = merkle::leaf_hash(b"genuine");
        assert_eq!(
            integrity.check(3, b"genuine".to_vec(), Some(leaf)).unwrap(),
            b"genuine"
        );
        assert!(integrity.damage().is_none());
        let err = integrity
            .check(3, b"forged!".to_vec(), Some(leaf))
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Tampered { sequence: 3, .. }),
            "{err}"
        );
        assert!(integrity.damage().unwrap().contains("entry 3"));
        assert_eq!(integrity.stats().hash_mismatches, 1);
        assert!(integrity.stats().damaged);
        assert!(integrity.check(4, b"x".to_vec(), None).is_err());
    }
}
