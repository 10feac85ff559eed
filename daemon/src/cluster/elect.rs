//! Which replica writes: the one whose etcd lease holds the writer key
//! (its name and URL). Every replica tries to create the key with its own
//! lease; the one that did keeps the lease alive, the others watch the key
//! and try again once it is gone (its lease expired or was revoked). The
//! lease only keeps the cluster live (one proposer at a time, so groups
//! rarely collide): safety comes from the compare in every append
//! ([`super::order`]), so two replicas that both believe they write for a
//! moment still cannot fork the log.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, WatchOptions};
use tokio::{sync::watch, task::JoinHandle};

use super::{Cluster, unavailable};
use crate::{error::Error, forward::Writer};

struct Election {
    client: Client,
    key: String,
    /// "NAME URL": what this replica puts in the writer key.
    value: String,
    ttl: i64,
    timeout: Duration,
    writer: watch::Sender<Writer>,
    /// This replica's lease while it holds the writer key.
    held: Option<i64>,
}

/// Starts the election; the task ends when `stop` turns true (revoking
/// this replica's lease, so that another takes over at once).
pub(crate) fn start(
    cluster: &Cluster,
    url: &str,
    stop: watch::Receiver<bool>,
) -> (watch::Receiver<Writer>, JoinHandle<()>) {
    let (writer, rx) = watch::channel(Writer::Unknown);
    let election = Election {
        client: cluster.client.clone(),
        key: cluster.keys.writer(),
        value: format!("{} {url}", cluster.options.replica),
        ttl: i64::try_from(cluster.options.lease.as_secs().max(2)).unwrap_or(2),
        timeout: cluster.options.timeout,
        writer,
        held: None,
    };
    (rx, tokio::spawn(election.run(stop)))
}

impl Election {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let round = tokio::select! {
                round = self.round() => round,
                _ = stop.changed() => Ok(()),
            };
            if let Some(lease) = self.held.take() {
                // Lost, or stopping: no longer the writer; let another
                // replica take over now. (A follower keeps the writer it
                // knows from round to round.)
                self.writer.send_replace(Writer::Unknown);
                let _ = tokio::time::timeout(self.timeout, self.client.lease_revoke(lease)).await;
            }
            if *stop.borrow() {
                self.writer.send_replace(Writer::Unknown);
            }
            if let Err(e) = round {
                self.writer.send_replace(Writer::Unknown);
                tracing::warn!(error = %e, "writer election: trying again");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// One round: takes the writer key and keeps it while the lease
    /// lives, or follows the writer that holds it until it is gone.
    async fn round(&mut self) -> Result<(), Error> {
        let grant = tokio::time::timeout(self.timeout, self.client.lease_grant(self.ttl, None))
            .await
            .map_err(|_| Error::NotOrdered("etcd did not grant a lease in time".into()))?
            .map_err(unavailable("grant a lease"))?;
        let lease = grant.id();
        let txn = Txn::new()
            .when([Compare::create_revision(
                self.key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then([TxnOp::put(
                self.key.clone(),
                self.value.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(self.key.clone(), None)]);
        let mut kv = self.client.kv_client();
        let answer = tokio::time::timeout(self.timeout, kv.txn(txn))
            .await
            .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
            .map_err(unavailable("take the writer key"))?;
        if answer.succeeded() {
            self.held = Some(lease);
            tracing::info!("this replica is the writer");
            self.writer.send_replace(Writer::This);
            self.keep(lease).await?;
            tracing::warn!("this replica's writer lease is lost");
            return Ok(());
        }
        let _ = tokio::time::timeout(self.timeout, self.client.lease_revoke(lease)).await;
        let revision = answer.header().map_or(0, |h| h.revision());
        let held = answer.op_responses().into_iter().find_map(|op| match op {
            etcd_client::TxnOpResponse::Get(get) => get
                .kvs()
                .first()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
            _ => None,
        });
        if let Some((name, url)) = held.as_deref().and_then(|v| v.split_once(' ')) {
            tracing::info!(writer = name, url, "following the writer");
            self.writer.send_replace(Writer::Other {
                name: name.to_owned(),
                url: url.to_owned(),
            });
        }
        self.until_gone(revision).await
    }

    /// Keeps the lease alive (every third of its time to live) until a
    /// renewal fails or comes back expired.
    async fn keep(&mut self, lease: i64) -> Result<(), Error> {
        let (mut keeper, mut answers) =
            tokio::time::timeout(self.timeout, self.client.lease_keep_alive(lease))
                .await
                .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
                .map_err(unavailable("keep the lease"))?;
        let every = Duration::from_secs(u64::try_from(self.ttl).unwrap_or(2)) / 3;
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            match tokio::time::timeout(every, keeper.keep_alive()).await {
                Ok(sent) => sent.map_err(unavailable("keep the lease"))?,
                Err(_) => return Ok(()),
            }
            let renewed = tokio::time::timeout(every * 2, answers.message()).await;
            match renewed {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {}
                _ => return Ok(()),
            }
        }
    }

    /// Waits until the writer key is deleted (after `revision`), or the
    /// timeout passes (then the round starts again and looks).
    async fn until_gone(&mut self, revision: i64) -> Result<(), Error> {
        let options = WatchOptions::new().with_start_revision(revision + 1);
        let mut stream = tokio::time::timeout(
            self.timeout,
            self.client.watch(self.key.clone(), Some(options)),
        )
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("watch the writer key"))?;
        let gone = async {
            loop {
                match stream.message().await {
                    Ok(Some(r)) if r.canceled() => return Ok(()),
                    Ok(Some(r)) => {
                        if r.events()
                            .iter()
                            .any(|e| e.event_type() == EventType::Delete)
                        {
                            return Ok(());
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(unavailable("watch the writer key")(e)),
                }
            }
        };
        tokio::time::timeout(self.timeout * 4, gone)
            .await
            .unwrap_or(Ok(()))
    }
}
