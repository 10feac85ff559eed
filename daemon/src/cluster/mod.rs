//! Cluster mode (the `cluster` feature, `--cluster-etcd`): several truced
//! replicas keep one byte-identical log, ordered by etcd. A replica orders
//! each group of fully encoded entries with one etcd transaction that
//! appends them under the next sequence keys only if the head key still
//! equals the sequence it has applied up to ([`order::EtcdOrder`], the
//! commit pipeline's order seam), and writes them only after it commits.
//! Every replica follows the key range in order and applies what it lacks
//! through the same pipeline ([`follow`]). Safety rests on the compare in
//! the transaction alone: a stale replica fails it and writes nothing.
//!
//! The keys, under the prefix (`truce` by default): `PREFIX/head` holds
//! the last ordered sequence in decimal; `PREFIX/log/` and the sequence in
//! 20 decimal digits holds that entry's encoded bytes; `PREFIX/writer`
//! holds the writer's name and URL under its lease ([`elect`]);
//! `PREFIX/replica/NAME` a replica's checkpoint verifier key and
//! `PREFIX/cosign/SIZE/NAME` its signed note of the tree of SIZE entries
//! ([`cosign`]).

pub(crate) mod compact;
pub(crate) mod cosign;
pub(crate) mod elect;
pub(crate) mod follow;
pub(crate) mod order;
pub(crate) mod rejoin;

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, Txn, TxnOp};

use crate::error::Error;

/// How a replica reaches etcd and how it uses it.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// etcd's client URLs.
    pub endpoints: Vec<String>,
    /// This replica's name (in logs).
    pub replica: String,
    /// The prefix of every key.
    pub prefix: String,
    /// How long one etcd call may take before it counts as failed.
    pub timeout: Duration,
    /// Entries per etcd transaction at most (etcd takes 128 operations
    /// per transaction by default; one is the head's).
    pub txn_entries: usize,
    /// Entries one range read fetches at most.
    pub fetch_entries: usize,
    /// The writer lease's time to live (whole seconds, at least 2): how
    /// long a writer that stopped answering holds up writes.
    pub lease: Duration,
    /// Replicas whose signatures make a checkpoint final (0: a majority
    /// of the registered replicas).
    pub cosign_quorum: usize,
    /// How often a replica looks for checkpoints to cosign.
    pub cosign_interval: Duration,
    /// Entries the writer deletes from etcd per look at most (0: never).
    pub compact_batch: usize,
    /// A reader token for the other replicas (copying the log from one).
    pub peer_token: Option<String>,
}

/// Encoded entry bytes per etcd transaction at most: etcd refuses
/// requests over 1.5 MiB by default.
pub(crate) const TXN_BYTES: usize = 1024 * 1024;

/// The keys of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    pub(crate) fn head(&self) -> String {
        format!("{}/head", self.prefix)
    }

    pub(crate) fn writer(&self) -> String {
        format!("{}/writer", self.prefix)
    }

    pub(crate) fn entry(&self, sequence: u64) -> String {
        format!("{}/log/{sequence:020}", self.prefix)
    }

    /// Where replica `name` registers its verifier key.
    pub(crate) fn replica(&self, name: &str) -> String {
        format!("{}/replica/{name}", self.prefix)
    }

    /// Where replica `name` says how many entries it has applied.
    pub(crate) fn applied(&self, name: &str) -> String {
        format!("{}/applied/{name}", self.prefix)
    }

    /// Where replica `name` says where it serves (for peers that copy the
    /// log from it).
    pub(crate) fn url(&self, name: &str) -> String {
        format!("{}/url/{name}", self.prefix)
    }

    /// The newest checkpoint a quorum cosigned, as one note.
    pub(crate) fn final_note(&self) -> String {
        format!("{}/final", self.prefix)
    }

    /// The first sequence etcd still holds (entries before it were
    /// deleted; absent: none was).
    pub(crate) fn first(&self) -> String {
        format!("{}/first", self.prefix)
    }

    /// The range of the per-replica keys of `kind` (`replica`, `applied`,
    /// `url`): from, to (exclusive).
    pub(crate) fn per_replica(&self, kind: &str) -> (String, String) {
        (
            format!("{}/{kind}/", self.prefix),
            format!("{}/{kind}0", self.prefix),
        )
    }

    /// The replica's name in a per-replica key of `kind`.
    pub(crate) fn name_in(&self, kind: &str, key: &[u8]) -> Option<String> {
        let key = std::str::from_utf8(key).ok()?;
        let name = key
            .strip_prefix(&self.prefix)?
            .strip_prefix('/')?
            .strip_prefix(kind)?
            .strip_prefix('/')?;
        Some(name.to_owned())
    }

    /// Where replica `name` puts its signed note of the tree of `size`.
    pub(crate) fn cosign(&self, size: u64, name: &str) -> String {
        format!("{}/cosign/{size:020}/{name}", self.prefix)
    }

    /// The first key of the cosignatures of sizes from `size` on.
    pub(crate) fn cosigns_from(&self, size: u64) -> String {
        format!("{}/cosign/{size:020}/", self.prefix)
    }

    /// The end (exclusive) of every cosignature key.
    pub(crate) fn cosigns_end(&self) -> String {
        format!("{}/cosign0", self.prefix)
    }

    /// The size and replica of a cosignature key.
    pub(crate) fn cosign_of(&self, key: &[u8]) -> Option<(u64, String)> {
        let key = std::str::from_utf8(key).ok()?;
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("/cosign/")?;
        let (size, name) = rest.split_once('/')?;
        Some((size.parse().ok()?, name.to_owned()))
    }

    /// The sequence of an entry key.
    pub(crate) fn sequence_of(&self, key: &[u8]) -> Option<u64> {
        let key = std::str::from_utf8(key).ok()?;
        key.strip_prefix(&self.prefix)?
            .strip_prefix("/log/")?
            .parse()
            .ok()
    }
}

/// A connection to etcd, checked and with the head key in place.
pub(crate) struct Cluster {
    pub(crate) client: Client,
    pub(crate) keys: Keys,
    pub(crate) options: ClusterOptions,
}

/// An etcd error as the daemon reports it.
pub(crate) fn unavailable(what: &str) -> impl Fn(etcd_client::Error) -> Error + '_ {
    move |e| Error::NotOrdered(format!("{what}: etcd: {e}"))
}

impl Cluster {
    /// Connects to etcd and creates the head key at 0 unless it exists.
    pub(crate) async fn connect(options: ClusterOptions) -> Result<Self, Error> {
        if options.replica.is_empty() {
            return Err(Error::Internal(
                "cluster mode needs a replica name (--replica-name)".into(),
            ));
        }
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout)
            .with_keep_alive(options.timeout, options.timeout);
        let client = tokio::time::timeout(
            options.timeout,
            Client::connect(&options.endpoints, Some(connect)),
        )
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer the connection in time".into()))?
        .map_err(unavailable("connect"))?;
        let keys = Keys::new(&options.prefix);
        let cluster = Self {
            client,
            keys,
            options,
        };
        cluster.create_head().await?;
        Ok(cluster)
    }

    /// Puts the head key at 0 if no replica has yet.
    async fn create_head(&self) -> Result<(), Error> {
        let head = self.keys.head();
        let txn = Txn::new()
            .when([Compare::create_revision(head.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(head, "0", None)]);
        let mut kv = self.client.kv_client();
        tokio::time::timeout(self.options.timeout, kv.txn(txn))
            .await
            .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
            .map_err(unavailable("create the head key"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_keys_sort_in_sequence_order_and_read_back() {
        let keys = Keys::new("truce/");
        assert_eq!(keys.head(), "truce/head");
        assert!(keys.entry(9) < keys.entry(10));
        assert_eq!(keys.sequence_of(keys.entry(42).as_bytes()), Some(42));
        assert_eq!(keys.sequence_of(b"truce/head"), None);
        assert_eq!(keys.sequence_of(b"other/log/00000000000000000001"), None);
        assert!(keys.cosigns_from(9) < keys.cosign(9, "r1"));
        assert!(keys.cosign(9, "zz") < keys.cosigns_from(10));
        assert!(keys.cosign(u64::MAX, "r1") < keys.cosigns_end());
        assert_eq!(
            keys.cosign_of(keys.cosign(7, "r2").as_bytes()),
            Some((7, "r2".into()))
        );
        let (from, to) = keys.per_replica("replica");
        assert!(from < keys.replica("r1") && keys.replica("r1") < to);
        assert_eq!(
            keys.name_in("replica", keys.replica("r3").as_bytes()),
            Some("r3".into())
        );
        assert_eq!(
            keys.name_in("applied", keys.applied("r3").as_bytes()),
            Some("r3".into())
        );
        assert_eq!(keys.name_in("url", keys.applied("r3").as_bytes()), None);
    }
}
