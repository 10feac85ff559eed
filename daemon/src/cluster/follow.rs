//! Following the cluster's log: every replica reads the entry keys in
//! order (range reads of at most `fetch_entries`) from the first it has
//! not applied, hands them to the commit pipeline to apply through the
//! same steps as a write ([`CommitHandle::apply_ordered`]), and when it
//! has read everything waits for the head key to move (an etcd watch,
//! bounded by the call timeout, then it reads again anyway). Reads on the
//! replica answer as of what it has applied. A replica whose log differs
//! from the cluster's stops following and says so. Entries etcd no longer
//! holds are copied from a peer (`rejoin.rs`).

use std::sync::Arc;

use etcd_client::{Client, GetOptions, WatchOptions};
use tokio::{sync::watch, task::JoinHandle};

use super::{Cluster, Keys, unavailable};
use crate::{commit::CommitHandle, error::Error, store::Store};

/// Pause after a failed etcd call before the next try.
const RETRY: std::time::Duration = std::time::Duration::from_millis(200);

struct Follower {
    client: Client,
    keys: Keys,
    store: Arc<Store>,
    commit: CommitHandle,
    timeout: std::time::Duration,
    fetch: i64,
    /// This replica's name, the cosign quorum and the peers' token: for
    /// copying from a peer what etcd no longer holds (`rejoin.rs`).
    name: String,
    quorum: usize,
    token: Option<String>,
}

/// What a range read of the log found.
struct Read {
    entries: Vec<(u64, Vec<u8>)>,
    revision: i64,
    /// The first entry asked for is no longer in etcd (deleted).
    gone: bool,
}

/// Starts following; the task ends when `stop` turns true, or on a fork,
/// when it sets `stop` itself: the replica leaves the writer election too
/// (a forked replica must not hold the lease and stall the cluster's
/// writes) and refuses writes instead of forwarding them.
pub(crate) fn start(
    cluster: &Cluster,
    store: Arc<Store>,
    commit: CommitHandle,
    stop: Arc<watch::Sender<bool>>,
) -> JoinHandle<()> {
    let follower = Follower {
        client: cluster.client.clone(),
        keys: cluster.keys.clone(),
        store,
        commit,
        timeout: cluster.options.timeout,
        fetch: i64::try_from(cluster.options.fetch_entries.max(1)).unwrap_or(i64::MAX),
        name: cluster.options.replica.clone(),
        quorum: cluster.options.cosign_quorum,
        token: cluster.options.peer_token.clone(),
    };
    tokio::spawn(async move {
        if follower.run(stop.subscribe()).await.is_err() {
            stop.send_replace(true);
        }
    })
}

impl Follower {
    /// Follows until stopped (Ok) or forked (Err).
    async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(), ()> {
        let mut checked = false;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let step = tokio::select! {
                step = self.check_held(&mut checked) => step,
                _ = stop.changed() => return Ok(()),
            };
            let step = match step {
                Ok(()) => tokio::select! {
                    step = self.step() => step,
                    _ = stop.changed() => return Ok(()),
                },
                Err(e) => Err(e),
            };
            match step {
                Ok(()) => {}
                Err(Error::Forked(why)) => {
                    tracing::error!(error = %why, "this replica's log differs from the cluster's: it stops following, leaves the writer election and takes no writes; restore it from a peer");
                    return Err(());
                }
                Err(Error::ShuttingDown) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "following the cluster's log failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                }
            }
        }
    }

    /// Once, before anything is applied: the log this replica holds must
    /// be a prefix of the cluster's: no longer than etcd's head, and its
    /// last entry byte for byte etcd's (compared by the commit pipeline,
    /// which stops writes on a difference).
    async fn check_held(&mut self, checked: &mut bool) -> Result<(), Error> {
        if *checked {
            return Ok(());
        }
        let held = self.store.durable_sequence();
        if held > 0 {
            let head = self.head().await?;
            if head < held {
                return Err(Error::Forked(format!(
                    "this replica holds {held} entries, the cluster's log only {head}"
                )));
            }
            // An entry etcd no longer holds is checked when the pages
            // after it are copied from a peer (a consistency proof).
            let read = self.read(held).await?;
            if let Some(last) = read.entries.into_iter().next() {
                self.commit.apply_ordered(vec![last]).await?;
            }
        }
        *checked = true;
        Ok(())
    }

    /// The cluster's head: the last sequence ordered.
    async fn head(&mut self) -> Result<u64, Error> {
        let mut kv = self.client.kv_client();
        let response = tokio::time::timeout(self.timeout, kv.get(self.keys.head(), None))
            .await
            .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
            .map_err(unavailable("read the head"))?;
        let value = response.kvs().first().map(|kv| kv.value().to_vec());
        value
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
            .ok_or_else(|| {
                Error::NotOrdered("the cluster's head key is missing or unreadable".into())
            })
    }

    /// Applies what etcd holds past this replica's log; when there is
    /// nothing, waits for the head to move (at most the timeout).
    async fn step(&mut self) -> Result<(), Error> {
        let next = self.store.durable_sequence() + 1;
        let read = self.read(next).await?;
        let deleted = read.entries.is_empty()
            && super::compact::first(&self.client, &self.keys, self.timeout).await? > next;
        if read.gone || deleted {
            return self.copy_from_peer(next).await;
        }
        if read.entries.is_empty() {
            return self.wait_after(read.revision).await;
        }
        let count = read.entries.len();
        let last = self.commit.apply_ordered(read.entries).await?;
        tracing::debug!(count, last, "applied entries ordered by the cluster");
        Ok(())
    }

    /// Copies from a peer what etcd no longer holds, from `next` on.
    async fn copy_from_peer(&mut self, next: u64) -> Result<(), Error> {
        tracing::info!(
            next,
            "etcd no longer holds the entries this replica lacks: copying them from a peer"
        );
        let source = super::rejoin::Source {
            etcd: &self.client,
            keys: &self.keys,
            timeout: self.timeout,
            name: &self.name,
            quorum: self.quorum,
            token: self.token.as_deref(),
            fetch: u32::try_from(self.fetch).unwrap_or(1000).min(1000),
        };
        super::rejoin::copy(&source, &self.store, &self.commit, next).await
    }

    /// Entries from `next` on (at most `fetch`), and etcd's revision.
    async fn read(&mut self, next: u64) -> Result<Read, Error> {
        let options = GetOptions::new()
            .with_range(self.keys.entry(u64::MAX))
            .with_limit(self.fetch);
        let mut kv = self.client.kv_client();
        let response =
            tokio::time::timeout(self.timeout, kv.get(self.keys.entry(next), Some(options)))
                .await
                .map_err(|_| Error::NotOrdered("etcd did not answer a range read in time".into()))?
                .map_err(unavailable("read the log"))?;
        let revision = response.header().map_or(0, |h| h.revision());
        let mut entries = Vec::with_capacity(response.kvs().len());
        let mut expected = next;
        for kv in response.kvs() {
            match self.keys.sequence_of(kv.key()) {
                Some(sequence) if sequence == expected => {
                    entries.push((sequence, kv.value().to_vec()));
                    expected += 1;
                }
                // Deleted from etcd before this replica applied it: it
                // copies the log from a peer.
                Some(sequence) if sequence > expected && entries.is_empty() => {
                    return Ok(Read {
                        entries,
                        revision,
                        gone: true,
                    });
                }
                _ => {
                    return Err(Error::NotOrdered(format!(
                        "etcd's log has a gap at entry {expected}"
                    )));
                }
            }
        }
        Ok(Read {
            entries,
            revision,
            gone: false,
        })
    }

    /// Waits until the head key changes after `revision`, or the timeout.
    async fn wait_after(&mut self, revision: i64) -> Result<(), Error> {
        let options = WatchOptions::new().with_start_revision(revision + 1);
        let mut stream = tokio::time::timeout(
            self.timeout,
            self.client.watch(self.keys.head(), Some(options)),
        )
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("watch the head"))?;
        // The first answer says the watch was created; events follow.
        let changed = async {
            loop {
                match stream.message().await {
                    Ok(Some(r)) if r.events().is_empty() && !r.canceled() => continue,
                    Ok(_) => return Ok(()),
                    Err(e) => return Err(unavailable("watch the head")(e)),
                }
            }
        };
        tokio::time::timeout(self.timeout, changed)
            .await
            .unwrap_or(Ok(()))
    }
}
