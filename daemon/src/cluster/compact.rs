//! Keeping etcd small: the writer deletes the entry keys that every
//! registered replica has applied (each says how far at
//! `PREFIX/applied/NAME`) and that a quorum-cosigned checkpoint covers, at
//! most `compact_batch` per look, oldest first, and then compacts etcd's
//! history up to that revision so the space is given back. `PREFIX/first`
//! says which entry etcd holds first; it moves in the same transaction as
//! the delete, which compares it, so two writers for a moment cannot
//! delete past each other. A replica that needs an entry etcd no longer
//! holds copies it from a peer (`rejoin.rs`).

use std::collections::BTreeMap;

use etcd_client::{Client, Compare, CompareOp, DeleteOptions, Txn, TxnOp};

use super::{Keys, unavailable};
use crate::error::Error;

/// What one look may delete.
pub(super) struct Bounds<'a> {
    /// The size of the newest quorum-cosigned checkpoint.
    pub(super) cosigned: u64,
    /// The registered replicas' verifier keys, by name.
    pub(super) registered: &'a BTreeMap<String, String>,
    /// How far each replica says it has applied, by name.
    pub(super) applied: &'a BTreeMap<String, String>,
    /// Entries per look at most.
    pub(super) batch: usize,
}

/// The last entry every registered replica applied and the cosigned
/// checkpoint covers (0: none).
pub(super) fn deletable(bounds: &Bounds<'_>) -> u64 {
    let slowest = bounds
        .registered
        .keys()
        .map(|name| {
            bounds
                .applied
                .get(name)
                .and_then(|a| a.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .min()
        .unwrap_or(0);
    slowest.min(bounds.cosigned)
}

/// The first sequence etcd holds (1 until something was deleted).
pub(super) async fn first(
    client: &Client,
    keys: &Keys,
    timeout: std::time::Duration,
) -> Result<u64, Error> {
    let mut kv = client.kv_client();
    let answer = tokio::time::timeout(timeout, kv.get(keys.first(), None))
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("read the first entry's sequence"))?;
    match answer.kvs().first() {
        None => Ok(1),
        Some(kv) => std::str::from_utf8(kv.value())
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::NotOrdered("the first key is unreadable".into())),
    }
}

/// Deletes what it may (one batch) and compacts etcd's history; returns
/// the entries deleted, if any.
pub(super) async fn step(
    client: &Client,
    keys: &Keys,
    timeout: std::time::Duration,
    bounds: &Bounds<'_>,
) -> Result<Option<(u64, u64)>, Error> {
    let until = deletable(bounds);
    let from = first(client, keys, timeout).await?;
    if bounds.batch == 0 || until < from {
        return Ok(None);
    }
    let batch = u64::try_from(bounds.batch).unwrap_or(u64::MAX);
    let until = until.min(from.saturating_add(batch - 1));
    let unchanged = if from == 1 {
        Compare::create_revision(keys.first(), CompareOp::Equal, 0)
    } else {
        Compare::value(keys.first(), CompareOp::Equal, from.to_string())
    };
    let delete = DeleteOptions::new().with_range(keys.entry(until + 1));
    let txn = Txn::new().when([unchanged]).and_then([
        TxnOp::delete(keys.entry(from), Some(delete)),
        TxnOp::put(keys.first(), (until + 1).to_string(), None),
    ]);
    let mut kv = client.kv_client();
    let answer = tokio::time::timeout(timeout, kv.txn(txn))
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("delete applied entries"))?;
    if !answer.succeeded() {
        return Ok(None);
    }
    let revision = answer.header().map_or(0, |h| h.revision());
    tokio::time::timeout(timeout, kv.compact(revision, None))
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("compact etcd's history"))?;
    Ok(Some((from, until)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_every_replica_applied_and_a_checkpoint_covers_is_deletable() {
        let registered: BTreeMap<String, String> = ["r1", "r2", "r3"]
            .map(|n| (n.to_owned(), String::new()))
            .into();
        let mut applied: BTreeMap<String, String> = [("r1", "50"), ("r2", "40")]
            .map(|(n, a)| (n.to_owned(), a.to_owned()))
            .into();
        let bounds = |applied: &BTreeMap<String, String>| {
            deletable(&Bounds {
                cosigned: 30,
                registered: &registered,
                applied,
                batch: 10,
            })
        };
        // r3 has said nothing: nothing goes.
        assert_eq!(bounds(&applied), 0);
        applied.insert("r3".into(), "45".into());
        assert_eq!(bounds(&applied), 30, "the checkpoint bounds it");
        applied.insert("r3".into(), "20".into());
        assert_eq!(bounds(&applied), 20, "the slowest replica bounds it");
        // A replica that is not registered does not count.
        applied.insert("gone".into(), "1".into());
        assert_eq!(bounds(&applied), 20);
    }
}
