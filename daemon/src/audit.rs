//! `truced audit`: recompute the whole Merkle tree from the stored entries,
//! offline, and compare it with the stored tree and with the last signed
//! checkpoint, naming the first sequence where they differ.

use std::path::Path;

use crate::{
    model::merkle::{self, Hash},
    store::{
        Store, StoreError,
        mark::{LAST_CHECKPOINT_FILE, checkpoint_body},
    },
};

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    pub root: Hash,
    /// The first sequence whose recomputed tree differs from the stored
    /// one, and why.
    pub first_difference: Option<(u64, String)>,
    /// (size, whether the recomputed root at that size matches) for the
    /// last signed checkpoint, when there is one.
    pub checkpoint: Option<(u64, bool)>,
}

pub fn run(store: &Store, data_dir: &Path) -> Result<AuditReport, StoreError> {
    let last = std::fs::read_to_string(data_dir.join(LAST_CHECKPOINT_FILE))
        .ok()
        .and_then(|n| checkpoint_body(&n));
    let mut nodes = std::collections::HashMap::new();
    let mut first_difference = None;
    let mut checkpoint = None;
    let mut size = 0u64;
    for (seq, bytes) in store.all_entries() {
        let bytes = bytes?;
        if seq != size + 1 && first_difference.is_none() {
            first_difference = Some((size + 1, "the log has a gap".to_owned()));
        }
        let added = merkle::append(size, merkle::leaf_hash(&bytes), |l, i| {
            nodes.get(&(l, i)).copied().ok_or(())
        })
        .map_err(|()| StoreError::Corrupt("recomputed tree incomplete".into()))?;
        for (level, index, hash) in added {
            if first_difference.is_none() && store.tree_node(level, index)? != Some(hash) {
                first_difference = Some((
                    seq,
                    format!("stored tree node {level}/{index} differs from the recomputed one"),
                ));
            }
            nodes.insert((level, index), hash);
        }
        size = seq;
        if let Some((cp_size, cp_root)) = last
            && cp_size == size
        {
            let root = merkle::root(size, &mut |l, i| nodes.get(&(l, i)).copied().ok_or(()))
                .map_err(|()| StoreError::Corrupt("recomputed tree incomplete".into()))?;
            checkpoint = Some((cp_size, root == cp_root));
        }
    }
    let root = merkle::root(size, &mut |l, i| nodes.get(&(l, i)).copied().ok_or(()))
        .map_err(|()| StoreError::Corrupt("recomputed tree incomplete".into()))?;
    if let Some((cp_size, _)) = last
        && cp_size > size
    {
        checkpoint = Some((cp_size, false));
    }
    Ok(AuditReport {
        entries: size,
        root,
        first_difference,
        checkpoint,
    })
}
