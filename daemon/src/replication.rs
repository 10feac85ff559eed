//! The daemon's glue to cluster mode: with `cluster_etcd` set, the commit
//! pipeline takes its order from etcd, an election decides which replica
//! writes (writes reaching another are forwarded to it, `forward.rs`) and
//! a follower applies what the cluster ordered (`cluster/`, the `cluster`
//! feature); without it, the local counter, exactly as a single node
//! always had. A daemon built without the feature refuses `cluster_etcd`
//! at start rather than run alone when the operator asked for a cluster.

use std::sync::Arc;

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    checkpoint::Signer,
    commit::{
        CommitHandle,
        order::{LocalCounter, Sequencer},
    },
    config::Settings,
    cosigned::Cosigned,
    error::Error,
    forward::Writer,
    store::Store,
};

/// A replica that joined its cluster: connected, in the election.
#[cfg(feature = "cluster")]
pub(crate) struct Joined {
    cluster: crate::cluster::Cluster,
    stop: Arc<watch::Sender<bool>>,
    election: JoinHandle<()>,
    writer: watch::Receiver<Writer>,
    /// Where this replica serves, for the other replicas.
    url: String,
}
#[cfg(not(feature = "cluster"))]
pub(crate) type Joined = std::convert::Infallible;

/// The order seam for these settings, and the cluster joined; `url` is
/// where this replica serves (the writer's URL others forward to, unless
/// `cluster_advertise_url` says otherwise).
pub(crate) async fn order_seam(
    settings: &Settings,
    url: String,
) -> Result<(Box<dyn Sequencer>, Option<Joined>), Error> {
    let local = || Box::new(LocalCounter::resume(0, std::time::SystemTime::UNIX_EPOCH));
    if settings.cluster_etcd.is_empty() {
        return Ok((local(), None));
    }
    #[cfg(feature = "cluster")]
    {
        let options = crate::cluster::ClusterOptions {
            endpoints: settings.cluster_etcd.clone(),
            replica: settings.replica_name.clone(),
            prefix: settings.cluster_prefix.clone(),
            timeout: settings.cluster_timeout,
            txn_entries: settings.cluster_txn_entries,
            fetch_entries: settings.cluster_fetch_entries,
            lease: settings.cluster_lease,
            cosign_quorum: settings.cluster_cosign_quorum,
            cosign_interval: settings.cluster_cosign_interval,
            compact_batch: settings.cluster_compact_batch,
            peer_token: peer_token(settings)?,
        };
        let cluster = crate::cluster::Cluster::connect(options)
            .await
            .map_err(|e| Error::Internal(format!("cluster: {e}")))?;
        let url = match settings.cluster_advertise_url.as_str() {
            "" => url,
            advertised => advertised.to_owned(),
        };
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let (writer, election) = crate::cluster::elect::start(&cluster, &url, stopped);
        let order = crate::cluster::order::EtcdOrder::new(
            &cluster,
            tokio::runtime::Handle::current(),
            writer.clone(),
        );
        tracing::info!(replica = %settings.replica_name, %url, etcd = %settings.cluster_etcd.join(","), "cluster mode: entries are ordered by etcd");
        let joined = Joined {
            cluster,
            stop,
            election,
            writer,
            url,
        };
        Ok((Box::new(order), Some(joined)))
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = (local, url);
        Err(Error::Internal(
            "cluster_etcd is set but this truced was built without the cluster feature (cargo build --features cluster)".into(),
        ))
    }
}

/// The reader token for the other replicas, from its file (trimmed).
#[cfg(feature = "cluster")]
fn peer_token(settings: &Settings) -> Result<Option<String>, Error> {
    let Some(path) = &settings.cluster_peer_token_file else {
        return Ok(None);
    };
    std::fs::read_to_string(path)
        .map(|t| Some(t.trim().to_owned()))
        .map_err(|e| Error::Internal(format!("cluster_peer_token_file {}: {e}", path.display())))
}

/// Who writes, for the forwarding layer (None: a single node).
pub(crate) fn writer(joined: Option<&Joined>) -> Option<watch::Receiver<Writer>> {
    #[cfg(feature = "cluster")]
    {
        joined.map(|j| j.writer.clone())
    }
    #[cfg(not(feature = "cluster"))]
    {
        joined.map(|never| match *never {})
    }
}

/// The cluster tasks of a replica: told to stop at shutdown, then awaited.
pub(crate) struct Following {
    stop: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

/// What a replica's cluster tasks work on.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) struct Local<'a> {
    pub(crate) store: &'a Arc<Store>,
    pub(crate) commit: &'a CommitHandle,
    pub(crate) signer: &'a Arc<Signer>,
    /// Where the cosigner keeps the newest final checkpoint.
    pub(crate) cosigned: &'a Cosigned,
}

/// Starts following the cluster's log and cosigning its checkpoints, if
/// there is a cluster.
pub(crate) fn follow(joined: Option<Joined>, local: Local<'_>) -> Option<Following> {
    let joined = joined?;
    #[cfg(feature = "cluster")]
    {
        let Joined {
            cluster,
            stop,
            election,
            writer,
            url,
        } = joined;
        let follower = crate::cluster::follow::start(
            &cluster,
            Arc::clone(local.store),
            local.commit.clone(),
            Arc::clone(&stop),
        );
        let cosigner = crate::cluster::cosign::start(
            &cluster,
            &url,
            Arc::clone(local.store),
            Arc::clone(local.signer),
            local.cosigned.clone(),
            writer,
            stop.subscribe(),
        );
        Some(Following {
            stop,
            tasks: vec![election, follower, cosigner],
        })
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = local;
        match joined {}
    }
}

impl Following {
    /// Stops applying entries and gives up the writer lease (before the
    /// commit pipeline closes).
    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
