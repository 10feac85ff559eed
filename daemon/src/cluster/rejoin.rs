//! Copying the log from a peer: a replica that needs entries etcd no
//! longer holds (a new or wiped replica, or one that was down while the
//! writer deleted them, `compact.rs`) reads them from another replica over
//! ReadLog, up to the size of the quorum-cosigned checkpoint in etcd
//! (`PREFIX/final`, checked with the registered replicas' keys). Before a
//! page is applied, the root this replica's tree would have with it is
//! computed from its own stored nodes and the page's leaves, and the peer
//! must prove that tree a prefix of the cosigned one (a consistency proof,
//! checked by the SDK's verifier); a page that fails is a fork and stops
//! the replica. Then it follows etcd again.

use std::collections::{BTreeMap, HashMap};

use truce_client::{Client as Peer, ClientOptions};

use super::{Keys, unavailable};
use crate::{
    checkpoint::verify_note,
    commit::CommitHandle,
    error::Error,
    model::merkle::{self, Hash},
    store::Store,
};

/// What the copy needs from the follower.
pub(super) struct Source<'a> {
    pub(super) etcd: &'a etcd_client::Client,
    pub(super) keys: &'a Keys,
    pub(super) timeout: std::time::Duration,
    /// This replica's name (it does not copy from itself).
    pub(super) name: &'a str,
    /// Replicas whose signatures make a checkpoint final (0: a majority
    /// of the other registered replicas).
    pub(super) quorum: usize,
    pub(super) token: Option<&'a str>,
    /// Entries per page at most.
    pub(super) fetch: u32,
}

/// Copies the entries from `next` up to the cosigned checkpoint from the
/// first peer that has them.
pub(super) async fn copy(
    source: &Source<'_>,
    store: &Store,
    commit: &CommitHandle,
    next: u64,
) -> Result<(), Error> {
    let (size, root) = cosigned_checkpoint(source).await?;
    if size < next {
        return Err(Error::NotOrdered(format!(
            "etcd no longer holds entry {next} and no cosigned checkpoint covers it yet"
        )));
    }
    let urls = per_replica(source, "url").await?;
    for (name, url) in urls.iter().filter(|(n, _)| n.as_str() != source.name) {
        match from_peer(source, store, commit, url, next, (size, root)).await {
            Ok(()) => {
                tracing::info!(peer = %name, size, "copied the log from a peer up to the cosigned checkpoint");
                return Ok(());
            }
            Err(e @ Error::Forked(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(peer = %name, error = %e, "copying the log from a peer failed")
            }
        }
    }
    Err(Error::NotOrdered(
        "no peer gave the entries etcd no longer holds".into(),
    ))
}

/// The size and root of `PREFIX/final`, signed by a quorum of the
/// registered replicas' keys.
async fn cosigned_checkpoint(source: &Source<'_>) -> Result<(u64, Hash), Error> {
    let mut kv = source.etcd.kv_client();
    let answer = tokio::time::timeout(source.timeout, kv.get(source.keys.final_note(), None))
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("read the cosigned checkpoint"))?;
    let note = answer
        .kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
        .ok_or_else(|| Error::NotOrdered("etcd holds no cosigned checkpoint".into()))?;
    // This replica cannot have signed what it lacks: the others' keys.
    let mut keys = per_replica(source, "replica").await?;
    keys.remove(source.name);
    let signed: Vec<(u64, Hash)> = keys
        .values()
        .filter_map(|key| verify_note(key, &note).ok())
        .collect();
    let quorum = match source.quorum {
        0 => keys.len() / 2 + 1,
        n => n,
    };
    match signed.first() {
        Some(first) if signed.len() >= quorum => Ok(*first),
        _ => Err(Error::NotOrdered(format!(
            "the cosigned checkpoint in etcd carries {} valid signatures of the {} other registered replicas, {quorum} needed",
            signed.len(),
            keys.len()
        ))),
    }
}

/// The values of the per-replica keys of `kind`, by name.
async fn per_replica(source: &Source<'_>, kind: &str) -> Result<BTreeMap<String, String>, Error> {
    let (from, to) = source.keys.per_replica(kind);
    let options = etcd_client::GetOptions::new().with_range(to);
    let mut kv = source.etcd.kv_client();
    let answer = tokio::time::timeout(source.timeout, kv.get(from, Some(options)))
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("read the replicas"))?;
    Ok(answer
        .kvs()
        .iter()
        .filter_map(|kv| {
            let name = source.keys.name_in(kind, kv.key())?;
            Some((name, String::from_utf8_lossy(kv.value()).into_owned()))
        })
        .collect())
}

/// Copies pages from one peer, each proven a prefix of the cosigned tree
/// before it is applied.
async fn from_peer(
    source: &Source<'_>,
    store: &Store,
    commit: &CommitHandle,
    url: &str,
    mut next: u64,
    (size, root): (u64, Hash),
) -> Result<(), Error> {
    let peer_error = |e: truce_client::ClientError| Error::NotOrdered(format!("{url}: {e}"));
    let options = ClientOptions {
        token: source.token.map(str::to_owned),
        ..ClientOptions::default()
    };
    let peer = Peer::connect_with(url.to_owned(), options)
        .await
        .map_err(peer_error)?;
    while next <= size {
        let want = u32::try_from(size - next + 1).unwrap_or(u32::MAX);
        let page = peer
            .read_log(next, want.min(source.fetch))
            .await
            .map_err(peer_error)?;
        let entries: Vec<(u64, Vec<u8>)> = page
            .entries
            .into_iter()
            .zip(next..=size)
            .take_while(|(e, expected)| e.sequence == *expected)
            .map(|(e, _)| (e.sequence, e.entry))
            .collect();
        let Some(last) = entries.last().map(|(s, _)| *s) else {
            return Err(Error::NotOrdered(format!("{url} has no entry {next}")));
        };
        let would_be = root_with(store, &entries)?;
        let proof = peer
            .get_consistency_proof(last, size)
            .await
            .map_err(peer_error)?;
        truce_client::verify::verify_consistency(last, size, &would_be, &root, &proof.hashes)
            .map_err(|e| {
                Error::Forked(format!(
                    "entries up to {last} from {url} with this replica's log are not a prefix of the cosigned checkpoint of {size}: {e}"
                ))
            })?;
        commit.apply_ordered(entries).await?;
        next = last + 1;
    }
    Ok(())
}

/// The root this replica's tree would have with `entries` (the ones that
/// follow its log) appended: its stored nodes, and the page's own.
fn root_with(store: &Store, entries: &[(u64, Vec<u8>)]) -> Result<Hash, Error> {
    let mut added: HashMap<(u8, u64), Hash> = HashMap::new();
    let node = |added: &HashMap<(u8, u64), Hash>, level: u8, index: u64| -> Result<Hash, Error> {
        if let Some(hash) = added.get(&(level, index)) {
            return Ok(*hash);
        }
        store
            .tree_node(level, index)?
            .ok_or_else(|| Error::Internal(format!("tree node {level}/{index} is missing")))
    };
    let mut size = store.durable_sequence();
    for (sequence, bytes) in entries {
        if *sequence != size + 1 {
            return Err(Error::NotOrdered(format!(
                "entry {sequence} does not follow this replica's {size}"
            )));
        }
        let leaf = merkle::leaf_hash(bytes);
        let nodes = merkle::append(size, leaf, |l, i| node(&added, l, i))?;
        added.extend(nodes.into_iter().map(|(l, i, h)| ((l, i), h)));
        size = *sequence;
    }
    merkle::root(size, &mut |l, i| node(&added, l, i))
}
