//! Checkpoint and proof RPCs: roots and proofs computed from the stored
//! complete subtrees, never past the durable tree size.

use truce_proto::v1::{
    Checkpoint, ConsistencyProof, GetConsistencyProofRequest, GetInclusionProofRequest,
    InclusionProof,
};

use crate::{
    checkpoint::Signer,
    cosigned::Cosigned,
    error::Error,
    model::merkle::{self, Hash},
    store::{Store, mark::LastCheckpoint},
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

/// What the checkpoint RPC serves: in cluster mode, the newest checkpoint
/// a quorum of replicas cosigned (this replica's own signature added, so
/// it verifies with this replica's key alone too), once there is one; on a
/// single node, and before a quorum first cosigned, this daemon's own
/// checkpoint at the durable size. A cosigned root this replica's tree
/// does not have is DATA_LOSS (`LOG_FORKED`): it never serves a fork.
pub fn served(
    store: &Store,
    signer: &Signer,
    last: &LastCheckpoint,
    cosigned: &Cosigned,
) -> Result<Checkpoint, Error> {
    let Some(done) = cosigned.latest() else {
        return checkpoint(store, signer, last);
    };
    if let Some(damage) = store.damage() {
        return Err(Error::Damaged(damage));
    }
    if done.size > store.durable_sequence() || store.tree_root(done.size)? != done.root {
        return Err(Error::Forked(format!(
            "this replica's tree differs from the cosigned checkpoint of {} entries",
            done.size
        )));
    }
    let own = signer.sign(done.size, &done.root);
    let (body, mut lines) = crate::cosigned::split(&done.note)
        .ok_or_else(|| Error::Internal("a cosigned note is malformed".into()))?;
    if let Some((_, mine)) = crate::cosigned::split(&own) {
        lines.extend(mine);
    }
    Ok(Checkpoint {
        note: crate::cosigned::combine(&body, lines),
        tree_size: done.size,
        root_hash: done.root.to_vec(),
        origin: signer.name().to_owned(),
        verifier_key: signer.verifier_key(),
    })
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
