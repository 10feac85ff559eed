//! Cosigning checkpoints through etcd. Each replica registers its verifier
//! key (`PREFIX/replica/NAME`). The writer proposes its durable size by
//! putting its own signed note of that tree at `PREFIX/cosign/SIZE/NAME`;
//! every replica, once it has applied that many entries, signs the same
//! size with its own key over the root it computed itself and puts its
//! note beside. A replica that finds a quorum of notes for one size, each
//! verified with its replica's registered key and over the root it holds
//! itself, assembles them into one note (`crate::cosigned`): its final
//! checkpoint, which the checkpoint RPC serves. The writer deletes the
//! notes of sizes below the newest final one, so the keys stay few, puts
//! the final note at `PREFIX/final` and deletes the entries every replica
//! applied (`compact.rs`; each replica says how far at
//! `PREFIX/applied/NAME`, and where it serves at `PREFIX/url/NAME`).
//!
//! A replica whose root at a size differs from another's says so and
//! never counts that signature; the log's own check (`follow.rs`) is what
//! stops a fork.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use etcd_client::{Client, DeleteOptions, GetOptions};
use tokio::{sync::watch, task::JoinHandle};

use super::{Cluster, Keys, unavailable};
use crate::{
    checkpoint::{Signer, verify_note},
    cosigned::{self, Cosigned, Final},
    error::Error,
    forward::Writer,
    store::Store,
};

/// Cosignature keys one look reads at most (the writer deletes the old
/// ones, so a cluster holds a few sizes' worth).
const READ_AT_MOST: i64 = 4096;

/// Notes of each size, by replica name.
type Notes = BTreeMap<u64, BTreeMap<String, String>>;

struct Cosigner {
    client: Client,
    keys: Keys,
    name: String,
    store: Arc<Store>,
    signer: Arc<Signer>,
    cosigned: Cosigned,
    writer: watch::Receiver<Writer>,
    timeout: Duration,
    /// 0: a majority of the registered replicas, and never fewer than 2
    /// (in a new cluster's first moments the writer may be the only one
    /// registered: it must not finalise, and so let etcd forget entries,
    /// on its own signature).
    quorum: usize,
    /// The largest size this replica has put a note of.
    signed: u64,
    /// The writer: the final note it put in etcd last (size, signatures);
    /// the notes below that size are deleted.
    forgotten: (u64, usize),
    registered: bool,
    /// Where this replica serves (registered for peers).
    url: String,
    /// The applied sequence last put in etcd.
    published: Option<u64>,
    /// Entries deleted from etcd per look at most.
    compact_batch: usize,
}

/// Starts cosigning; the task ends when `stop` turns true.
pub(crate) fn start(
    cluster: &Cluster,
    url: &str,
    store: Arc<Store>,
    signer: Arc<Signer>,
    cosigned: Cosigned,
    writer: watch::Receiver<Writer>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut cosigner = Cosigner {
        client: cluster.client.clone(),
        keys: cluster.keys.clone(),
        name: cluster.options.replica.clone(),
        store,
        signer,
        cosigned,
        writer,
        timeout: cluster.options.timeout,
        quorum: cluster.options.cosign_quorum,
        signed: 0,
        forgotten: (0, 0),
        registered: false,
        url: url.to_owned(),
        published: None,
        compact_batch: cluster.options.compact_batch,
    };
    let every = cluster.options.cosign_interval;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let look = tokio::select! {
                look = cosigner.look() => look,
                _ = stop.changed() => return,
            };
            if let Err(e) = look {
                tracing::warn!(error = %e, "cosigning checkpoints: trying again");
            }
        }
    })
}

impl Cosigner {
    /// One look: register, say how far this replica applied, propose (the
    /// writer), cosign what others proposed, assemble what a quorum
    /// signed; the writer then publishes it and deletes what it may.
    async fn look(&mut self) -> Result<(), Error> {
        if !self.registered {
            let key = self.signer.verifier_key();
            self.put(self.keys.replica(&self.name), key).await?;
            self.put(self.keys.url(&self.name), self.url.clone())
                .await?;
            self.registered = true;
        }
        let durable = self.store.durable_sequence();
        if self.published != Some(durable) {
            self.put(self.keys.applied(&self.name), durable.to_string())
                .await?;
            self.published = Some(durable);
        }
        let writes = matches!(*self.writer.borrow(), Writer::This);
        let mut notes = self.notes().await?;
        self.cosign(&mut notes, durable, writes).await?;
        let replicas = self.replicas().await?;
        let Some(done) = self.newest_final(&notes, &replicas, durable)? else {
            return Ok(());
        };
        let (size, signatures) = (done.size, done.signatures);
        if self.cosigned.offer(done.clone()) {
            tracing::info!(
                "checkpoint {size} is cosigned by a quorum ({signatures} of {} replicas)",
                replicas.len()
            );
        }
        if writes {
            self.publish(done).await?;
            self.compact(size, &replicas).await?;
        }
        Ok(())
    }

    /// Signs the writer's durable size (the writer), or else the newest
    /// size proposed that this replica has applied and not signed.
    async fn cosign(&mut self, notes: &mut Notes, durable: u64, writes: bool) -> Result<(), Error> {
        let proposal = writes.then_some(durable).filter(|d| *d > self.signed);
        let asked = notes
            .iter()
            .rev()
            .find(|(size, _)| **size <= durable)
            .filter(|(size, by)| **size > self.signed && !by.contains_key(&self.name))
            .map(|(size, _)| *size);
        let Some(size) = proposal.or(asked) else {
            return Ok(());
        };
        let note = self.sign(size)?;
        self.put(self.keys.cosign(size, &self.name), note.clone())
            .await?;
        self.signed = size;
        notes
            .entry(size)
            .or_default()
            .insert(self.name.clone(), note);
        Ok(())
    }

    /// The newest size this replica applied that a quorum signed.
    fn newest_final(
        &self,
        notes: &Notes,
        replicas: &BTreeMap<String, String>,
        durable: u64,
    ) -> Result<Option<Final>, Error> {
        let quorum = match self.quorum {
            0 => (replicas.len() / 2 + 1).max(2),
            n => n,
        };
        for (size, by) in notes.iter().rev().filter(|(s, _)| **s <= durable) {
            if let Some(done) = self.assemble(*size, by, replicas, quorum)? {
                return Ok(Some(done));
            }
        }
        Ok(None)
    }

    /// The writer: the final note into etcd (for replicas that copy the
    /// log from a peer), the notes of older sizes deleted.
    async fn publish(&mut self, done: Final) -> Result<(), Error> {
        if (done.size, done.signatures) <= self.forgotten {
            return Ok(());
        }
        let (size, signatures) = (done.size, done.signatures);
        self.put(self.keys.final_note(), done.note).await?;
        if size > self.forgotten.0 {
            self.forget_before(size).await?;
        }
        self.forgotten = (size, signatures);
        Ok(())
    }

    /// The writer: entries every replica applied, up to the final size,
    /// deleted from etcd (one batch).
    async fn compact(
        &self,
        cosigned: u64,
        replicas: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let applied = self.per_replica("applied").await?;
        let bounds = super::compact::Bounds {
            cosigned,
            registered: replicas,
            applied: &applied,
            batch: self.compact_batch,
        };
        if let Some((from, to)) =
            super::compact::step(&self.client, &self.keys, self.timeout, &bounds).await?
        {
            tracing::info!(
                "deleted entries {from} to {to} from etcd (every replica applied them) and compacted its history"
            );
        }
        Ok(())
    }

    /// This replica's signed note of its tree of `size` entries.
    fn sign(&self, size: u64) -> Result<String, Error> {
        if let Some(damage) = self.store.damage() {
            return Err(Error::Damaged(damage));
        }
        Ok(self.signer.sign(size, &self.store.tree_root(size)?))
    }

    /// The final checkpoint of `size`, if a quorum's notes verify with
    /// their replicas' keys over this replica's own root.
    fn assemble(
        &self,
        size: u64,
        by: &BTreeMap<String, String>,
        replicas: &BTreeMap<String, String>,
        quorum: usize,
    ) -> Result<Option<Final>, Error> {
        let root = self.store.tree_root(size)?;
        let (body, _) = cosigned::split(&self.signer.sign(size, &root))
            .ok_or_else(|| Error::Internal("this replica's own note is malformed".into()))?;
        let mut lines = Vec::new();
        let mut signers = 0;
        for (name, note) in by {
            let Some(key) = replicas.get(name) else {
                continue;
            };
            match verify_note(key, note) {
                Ok((s, r)) if s == size && r == root => {}
                Ok((s, _)) if s == size => {
                    tracing::error!(replica = %name, size, "another replica signed a different root at this size: its signature is not counted");
                    continue;
                }
                _ => continue,
            }
            match cosigned::split(note) {
                Some((b, own)) if b == body && own.len() == 1 => {
                    lines.extend(own.iter().map(|l| (*l).to_owned()));
                    signers += 1;
                }
                _ => continue,
            }
        }
        if signers < quorum.max(1) {
            return Ok(None);
        }
        let note = cosigned::combine(&body, lines.iter().map(String::as_str));
        Ok(Some(Final {
            size,
            root,
            note,
            signatures: signers,
        }))
    }
}

impl Cosigner {
    async fn put(&self, key: String, value: String) -> Result<(), Error> {
        let mut kv = self.client.kv_client();
        tokio::time::timeout(self.timeout, kv.put(key, value, None))
            .await
            .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
            .map_err(unavailable("put a cosignature"))?;
        Ok(())
    }

    /// The keys and values from `from` up to `to` (exclusive).
    async fn range(&self, from: String, to: String) -> Result<Vec<(Vec<u8>, String)>, Error> {
        let options = GetOptions::new().with_range(to).with_limit(READ_AT_MOST);
        let mut kv = self.client.kv_client();
        let answer = tokio::time::timeout(self.timeout, kv.get(from, Some(options)))
            .await
            .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
            .map_err(unavailable("read the cosignatures"))?;
        Ok(answer
            .kvs()
            .iter()
            .map(|kv| {
                let value = String::from_utf8_lossy(kv.value()).into_owned();
                (kv.key().to_vec(), value)
            })
            .collect())
    }

    /// The notes in etcd, by size and replica.
    async fn notes(&self) -> Result<Notes, Error> {
        let from = self.keys.cosigns_from(0);
        let mut notes = Notes::new();
        for (key, note) in self.range(from, self.keys.cosigns_end()).await? {
            if let Some((size, name)) = self.keys.cosign_of(&key) {
                notes.entry(size).or_default().insert(name, note);
            }
        }
        Ok(notes)
    }

    /// The registered replicas' verifier keys, by name.
    async fn replicas(&self) -> Result<BTreeMap<String, String>, Error> {
        self.per_replica("replica").await
    }

    /// The values of the per-replica keys of `kind`, by name.
    pub(super) async fn per_replica(&self, kind: &str) -> Result<BTreeMap<String, String>, Error> {
        let (from, to) = self.keys.per_replica(kind);
        Ok(self
            .range(from, to)
            .await?
            .into_iter()
            .filter_map(|(key, value)| Some((self.keys.name_in(kind, &key)?, value)))
            .collect())
    }

    /// Deletes the notes of sizes below `size` (a newer one is final).
    async fn forget_before(&self, size: u64) -> Result<(), Error> {
        let options = DeleteOptions::new().with_range(self.keys.cosigns_from(size));
        let mut kv = self.client.kv_client();
        tokio::time::timeout(
            self.timeout,
            kv.delete(self.keys.cosigns_from(0), Some(options)),
        )
        .await
        .map_err(|_| Error::NotOrdered("etcd did not answer in time".into()))?
        .map_err(unavailable("delete old cosignatures"))?;
        Ok(())
    }
}
