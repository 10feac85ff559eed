//! Checkpoint and proof RPCs: roots and proofs computed from the stored
//! complete subtrees, never past the durable tree size.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use truce_proto::v1::{
    Checkpoint, ConsistencyProof, GetConsistencyProofRequest, GetInclusionProofRequest,
    InclusionProof,
};

use crate::{
    checkpoint::Signer,
    error::Error,
    merkle::{self, Hash},
    store::Store,
};

fn node(store: &Store) -> impl FnMut(u8, u64) -> Result<Hash, Error> + '_ {
    move |level, index| {
        store
            .tree_node(level, index)?
            .ok_or_else(|| Error::Internal(format!("tree node {level}/{index} is missing")))
    }
}

/// The signed checkpoint at the durable size.
pub fn checkpoint(
    store: &Store,
    signer: &Signer,
    last: &LastCheckpoint,
) -> Result<Checkpoint, Error> {
    checkpoint_at(store, signer, last, store.durable_sequence())
}

/// The signed checkpoint of the log's first `size` entries (at most the
/// durable size). Signatures are deterministic, so the same size always
/// gives the same note.
pub fn checkpoint_at(
    store: &Store,
    signer: &Signer,
    last: &LastCheckpoint,
    size: u64,
) -> Result<Checkpoint, Error> {
    if let Some(damage) = store.damage() {
        return Err(Error::Damaged(damage));
    }
    let size = size.min(store.durable_sequence());
    let root = store.tree_root(size)?;
    let note = signer.sign(size, &root);
    last.keep(size, &note);
    Ok(Checkpoint {
        note,
        tree_size: size,
        root_hash: root.to_vec(),
        origin: signer.name().to_owned(),
        verifier_key: signer.verifier_key(),
    })
}

/// The latest signed checkpoint, kept beside the store for `truced audit`
/// (best effort: the log's integrity does not depend on it). Its size is
/// held in memory, so the file is read once and written only when a larger
/// checkpoint is signed.
#[derive(Debug)]
pub struct LastCheckpoint {
    path: PathBuf,
    size: Mutex<Option<u64>>,
}

impl LastCheckpoint {
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(crate::audit::LAST_CHECKPOINT_FILE);
        let size = std::fs::read_to_string(&path)
            .ok()
            .and_then(|n| crate::audit::checkpoint_body(&n))
            .map(|(size, _)| size);
        Self {
            path,
            size: Mutex::new(size),
        }
    }

    fn keep(&self, size: u64, note: &str) {
        let Ok(mut kept) = self.size.lock() else {
            return;
        };
        if kept.is_some_and(|k| k >= size) {
            return;
        }
        let tmp = self.path.with_extension("tmp");
        match std::fs::write(&tmp, note).and_then(|()| std::fs::rename(&tmp, &self.path)) {
            Ok(()) => *kept = Some(size),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot keep the last checkpoint for audits");
            }
        }
    }
}

pub fn inclusion(store: &Store, req: &GetInclusionProofRequest) -> Result<InclusionProof, Error> {
    let size = super::at_or_durable(store, "tree_size", req.tree_size)?;
    if req.sequence == 0 || req.sequence > size {
        return Err(Error::invalid(
            "sequence",
            format!("must be in 1..={size} for a tree of {size} entries"),
        ));
    }
    let hashes = merkle::inclusion_proof(req.sequence - 1, size, &mut node(store))?;
    Ok(InclusionProof {
        leaf_index: req.sequence - 1,
        tree_size: size,
        hashes: hashes.iter().map(|h| h.to_vec()).collect(),
    })
}

pub fn consistency(
    store: &Store,
    req: &GetConsistencyProofRequest,
) -> Result<ConsistencyProof, Error> {
    let second = super::at_or_durable(store, "second_size", req.second_size)?;
    if req.first_size > second {
        return Err(Error::invalid(
            "first_size",
            format!("{} is past second_size {second}", req.first_size),
        ));
    }
    let hashes = merkle::consistency_proof(req.first_size, second, &mut node(store))?;
    Ok(ConsistencyProof {
        first_size: req.first_size,
        second_size: second,
        hashes: hashes.iter().map(|h| h.to_vec()).collect(),
    })
}
