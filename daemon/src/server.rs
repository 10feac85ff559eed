//! Builds and runs the gRPC server: the Truce service, health
//! (grpc.health.v1), reflection (v1 and v1alpha), the TCP listener with
//! TCP_NODELAY, TLS and the access layer in front of every service (see
//! `access/`), and graceful shutdown (health NOT_SERVING, a pause so
//! probes see it, stop accepting, drain in-flight requests within a grace
//! period, finish the commit pipeline, flush).

use std::{net::SocketAddr, sync::Arc, thread::JoinHandle, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle as TaskHandle};
use tonic::transport::{Server, server::TcpIncoming};
use truce_proto::v1::truce_server::TruceServer;

use crate::{
    access::TokenEntry,
    commit::{self, CommitHandle, Stats},
    config::Settings,
    error::Error,
    service::TruceService,
    space::{DiskSpace, RealDiskSpace, SpaceGuard},
    store::Store,
    sync::{StoreSync, SyncStep},
};

/// A daemon ready to start: settings plus the durability seam.
pub struct Daemon {
    settings: Settings,
    sync: Box<dyn SyncStep>,
    maintain_tree: bool,
    disk_space: Box<dyn DiskSpace>,
}

impl Daemon {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            sync: Box::new(StoreSync),
            maintain_tree: true,
            disk_space: Box::new(RealDiskSpace),
        }
    }

    /// Replaces the durability seam (tests record, slow or fail it).
    pub fn with_sync(mut self, sync: Box<dyn SyncStep>) -> Self {
        self.sync = sync;
        self
    }

    /// Replaces the free-space probe (tests run out of space on demand).
    pub fn with_disk_space(mut self, probe: Box<dyn DiskSpace>) -> Self {
        self.disk_space = probe;
        self
    }

    /// Appends without growing the Merkle tree: only for the benchmark
    /// that measures what the tree costs (proofs and checkpoints are wrong
    /// on such a store; never use it on a real log).
    #[cfg(feature = "testing")]
    pub fn without_merkle_tree_for_benchmarks(mut self) -> Self {
        self.maintain_tree = false;
        self
    }

    /// Opens the store, starts the commit pipeline, binds the listener and
    /// serves in the background. Returns once the listener is bound.
    pub async fn start(self) -> Result<Running, StartError> {
        let settings = self.settings;
        // Refuse an exposed, open daemon before touching anything.
        crate::access::exposure(&settings.access_options())?;
        let tls = crate::tls::server_config(&settings)?;
        let access = Arc::new(crate::access::Access::new(&settings.access_options()));
        // The listeners before the store and the key: a port in use fails
        // before the data dir or a key is created.
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.listen,
            source,
        })?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some((addr, crate::metrics::MetricsEndpoint::bind(addr).await?)),
            None => None,
        };
        let store = Arc::new(Store::open_with(
            &settings.data_dir,
            settings.store_options(),
        )?);
        let key_path = settings.signing_key_path();
        let signer = Arc::new(
            crate::checkpoint::Signer::load_or_create(&key_path, settings.log_origin.as_deref())
                .map_err(|e| StartError::Other(e.to_string()))?,
        );
        let space = SpaceGuard::new(settings.min_free_disk_bytes, Arc::from(self.disk_space));
        let (commit, writer) = commit::start(
            store.writer()?,
            Arc::from(self.sync),
            self.maintain_tree,
            space.clone(),
        )?;

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<TruceServer<TruceService>>().await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(truce_proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| StartError::Other(format!("reflection: {e}")))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(truce_proto::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| StartError::Other(format!("reflection: {e}")))?;

        let budget = crate::budget::SendBudget::new(
            settings.stream_buffer_bytes,
            settings.stream_stall_timeout,
        );
        let (streams_tx, streams_rx) = tokio::sync::watch::channel(false);
        let (scrub, scrub_task) = crate::scrub::start(
            Arc::clone(&store),
            commit.clone(),
            crate::scrub::ScrubSchedule {
                interval: settings.scrub_interval,
                options: crate::store::ScrubOptions {
                    bytes_per_second: settings.scrub_bytes_per_sec,
                },
            },
            streams_rx.clone(),
        );
        let subscribe_stats = Arc::new(crate::subscribe::Stats::default());
        let (feed, feed_task) =
            crate::subscribe::Feed::start(Arc::clone(&store), streams_rx.clone());
        let errors = crate::metrics::Errors::default();
        let metrics = match metrics_listener {
            None => None,
            Some((addr, listener)) => {
                let registry = crate::metrics::Metrics::new(
                    &commit.stats().metrics,
                    &errors,
                    crate::metrics::Sources {
                        store: Arc::clone(&store),
                        feed: Arc::clone(&feed),
                        data_dir: settings.data_dir.clone(),
                        budget: Arc::clone(&budget),
                    },
                );
                Some(crate::metrics::MetricsEndpoint::start(
                    addr,
                    listener,
                    Arc::new(registry),
                )?)
            }
        };
        let service = TruceServer::new(
            TruceService::new(
                Arc::clone(&store),
                commit.clone(),
                streams_rx,
                settings.max_subscriptions,
                Arc::clone(&subscribe_stats),
                feed,
                Arc::clone(&signer),
            )
            .with_space(space)
            .with_budget(Arc::clone(&budget))
            .with_write_limits(
                settings.stream_write_window,
                settings.stream_write_buffer_bytes,
            ),
        )
        .max_decoding_message_size(settings.max_message_bytes);
        let incoming = incoming(listener, &settings);

        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (draining_tx, draining_rx) = oneshot::channel::<()>();
        let pause = settings.shutdown_pause;
        let grace = settings.shutdown_grace;
        let signal = async move {
            // Resolves on an explicit shutdown or when Running is dropped.
            let _ = shutdown_rx.await;
            tracing::info!("shutting down: health NOT_SERVING");
            health.set_not_serving::<TruceServer<TruceService>>().await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            tokio::time::sleep(pause).await;
            // Subscriptions end with UNAVAILABLE so that clients resume
            // elsewhere or later; they would otherwise hold the drain.
            streams_tx.send_replace(true);
            tracing::info!("no longer accepting connections; draining");
            let _ = draining_tx.send(());
        };
        let mut builder = Server::builder();
        let with_tls = tls.is_some();
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| crate::tls::TlsError::Config(crate::tls::chain(&e)))?;
        }
        let open = access.is_open();
        let keepalive =
            (!settings.keepalive_interval.is_zero()).then_some(settings.keepalive_interval);
        let server = builder
            .max_concurrent_streams(settings.max_concurrent_streams)
            .http2_keepalive_interval(keepalive)
            .http2_keepalive_timeout(Some(settings.keepalive_timeout))
            // What a client may send before we read it: bounded per call
            // and per connection.
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            // Outermost: counts the access layer's refusals too.
            .layer(crate::metrics::ErrorsLayer::new(errors))
            .layer(crate::access::AccessLayer::new(Arc::clone(&access)))
            .layer(crate::budget::ReleaseLayer)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, signal);

        let task = tokio::spawn(async move {
            let grace_over = async move {
                if draining_rx.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                result = server => result.map_err(|e| Error::Internal(format!("server: {e}")))?,
                () = grace_over => {
                    tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; closing the remaining connections");
                }
            }
            Ok(())
        });

        tracing::info!(
            addr = %local_addr,
            data_dir = %settings.data_dir.display(),
            tls = with_tls,
            tokens = settings.tokens.len(),
            "serving"
        );
        if open {
            tracing::info!(
                "no tokens configured: every caller may read and write, as \"anonymous\""
            );
        }
        Ok(Running {
            local_addr,
            tls: with_tls,
            shutdown: Some(shutdown_tx),
            task,
            writer: Some(writer),
            store,
            commit: Some(commit),
            subscribe_stats,
            feed_task: Some(feed_task),
            scrub,
            scrub_task: Some(scrub_task),
            signer,
            metrics,
            access,
            settings,
            budget,
        })
    }
}

/// HTTP/2 flow-control windows toward the daemon: what one call, and one
/// connection, may send before the daemon reads it.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;

/// Accepted sockets with TCP_NODELAY, TCP keepalive and the handshake and
/// idle timeouts (`conn.rs`).
fn incoming(
    listener: TcpListener,
    settings: &Settings,
) -> impl tokio_stream::Stream<Item = Result<crate::conn::Guarded, std::io::Error>> + use<> {
    use tokio_stream::StreamExt as _;
    let keepalive = (!settings.keepalive_interval.is_zero()).then_some(settings.keepalive_interval);
    let timeouts = crate::conn::Timeouts {
        handshake: settings.handshake_timeout,
        idle: settings.idle_timeout,
    };
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(keepalive)
        .map(move |accepted| accepted.map(|tcp| crate::conn::Guarded::new(tcp, timeouts)))
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Daemon(#[from] Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("{0}")]
    Other(String),
}

/// A serving daemon.
pub struct Running {
    local_addr: SocketAddr,
    /// Serving TLS: clients connect with `https://`.
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: TaskHandle<Result<(), Error>>,
    writer: Option<JoinHandle<()>>,
    store: Arc<Store>,
    commit: Option<CommitHandle>,
    scrub: crate::scrub::ScrubHandle,
    scrub_task: Option<TaskHandle<()>>,
    subscribe_stats: Arc<crate::subscribe::Stats>,
    feed_task: Option<TaskHandle<()>>,
    signer: Arc<crate::checkpoint::Signer>,
    /// The metrics endpoint, when `metrics_listen` is set.
    metrics: Option<crate::metrics::MetricsEndpoint>,
    access: Arc<crate::access::Access>,
    /// What it was started with (a reload checks new tokens against it).
    settings: Settings,
    /// Bytes buffered toward clients.
    budget: Arc<crate::budget::SendBudget>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The address actually bound (also for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the metrics endpoint bound (None: metrics are off).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .map(crate::metrics::MetricsEndpoint::local_addr)
    }

    /// `http://ADDR` (`https://` with TLS), for clients.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Replaces the tokens (SIGHUP re-reads them from the config file):
    /// the next calls meet the new set, calls admitted already go on.
    /// Refused, the running set kept, if it would open access (no tokens
    /// where there were some: an emptied or half-written file must not
    /// let everyone write; a restart opens it) or break the start-up rule.
    /// Returns the token count.
    pub fn reload_tokens(&self, tokens: Vec<TokenEntry>) -> Result<usize, Error> {
        if tokens.is_empty() && !self.access.is_open() {
            return Err(Error::FailedPrecondition {
                field: "token".into(),
                reason: "the config file has no [[token]]: a reload does not open access to \
                         everyone (restart truced to serve without tokens)"
                    .into(),
            });
        }
        let mut next = self.settings.clone();
        next.tokens = tokens;
        crate::access::exposure(&next.access_options())?;
        Ok(self.access.replace_tokens(&next.tokens))
    }

    /// The durable sequence: the log's length as readers see it.
    pub fn durable_sequence(&self) -> u64 {
        self.store.durable_sequence()
    }

    /// Writes queued for the commit pipeline.
    pub fn queued(&self) -> usize {
        self.commit.as_ref().map_or(0, CommitHandle::queued)
    }

    /// Counters of the commit pipeline.
    pub fn commit_stats(&self) -> Option<Arc<Stats>> {
        self.commit.as_ref().map(|c| Arc::clone(c.stats()))
    }

    /// The checkpoint verifier key (`<origin>+<key id>+<key>`).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The budget of bytes buffered toward clients (its use, and the
    /// streams it ended).
    pub fn send_budget(&self) -> Arc<crate::budget::SendBudget> {
        Arc::clone(&self.budget)
    }

    /// Counters of the subscriptions.
    pub fn subscribe_stats(&self) -> Arc<crate::subscribe::Stats> {
        Arc::clone(&self.subscribe_stats)
    }

    /// The store, for tests that damage it the way faults do.
    #[cfg(feature = "testing")]
    pub fn store_for_tests(&self) -> &Arc<Store> {
        &self.store
    }

    /// The bytes of log segments the next rotations allocate, which the
    /// free-space checks count on top of the margin.
    pub fn space_ahead(&self) -> crate::store::SpaceAhead {
        self.store.space_ahead()
    }

    /// Runs a scrub pass now and returns what it found (and, for derived
    /// rows that disagree with the log, after they were rebuilt).
    pub async fn scrub(&self) -> Result<crate::store::ScrubOutcome, Error> {
        self.scrub.run_now().await
    }

    /// A digest of the derived trees, to compare with a rebuilt store.
    pub fn derived_digest(&self) -> Result<Vec<crate::store::DerivedRow>, Error> {
        Ok(self.store.derived_digest()?)
    }

    /// Graceful shutdown; returns once the store is flushed and closed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = (&mut self.task)
            .await
            .map_err(|e| Error::Internal(format!("server task: {e}")))?;
        // Scrapes were answered through the drain; now they stop.
        if let Some(metrics) = self.metrics.take() {
            metrics.shutdown().await;
        }
        // The feed stopped with the streams; wait for it to let go of the
        // store.
        if let Some(feed) = self.feed_task.take() {
            let _ = feed.await;
        }
        // The scrub stopped with the streams (a pass stops at its next
        // entry).
        if let Some(scrub) = self.scrub_task.take() {
            let _ = scrub.await;
        }
        // Let the writer finish what is queued, then stop it.
        if let Some(commit) = self.commit.take() {
            commit.close().await;
        }
        // The writer and the final flush are bounded by the grace period
        // too: on a failing disk they give up rather than hold the
        // shutdown (every acknowledged entry is already synced).
        let grace = self.settings.shutdown_grace;
        if let Some(writer) = self.writer.take() {
            let joined =
                tokio::time::timeout(grace, tokio::task::spawn_blocking(move || writer.join()));
            match joined.await {
                Ok(joined) => joined
                    .map_err(|e| Error::Internal(format!("joining the writer: {e}")))?
                    .map_err(|_| Error::Internal("the commit thread panicked".into()))?,
                Err(_) => {
                    tracing::error!(
                        grace_ms = grace.as_millis() as u64,
                        "the commit writer did not stop within the grace period; stopping without it"
                    );
                    return served;
                }
            }
        }
        // A checkpoint over everything durable, kept for the next start:
        // its open re-hashes only what no signed checkpoint covers.
        let last = crate::store::mark::LastCheckpoint::open(self.store.dir());
        if let Err(e) = crate::service::proofs::checkpoint(&self.store, &self.signer, &last) {
            tracing::warn!(error = %e, "no checkpoint signed at shutdown");
        }
        tracing::info!(durable = self.store.durable_sequence(), "stopped");
        served
    }
}

/// Settings tests start the daemon with: port 0, no shutdown pause, no
/// disk margin and no rate limit.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_owned(),
        shutdown_pause: Duration::ZERO,
        // Tests run on machines with little free disk; the margin has its
        // own tests.
        min_free_disk_bytes: 0,
        // Tests and benchmarks drive one anonymous caller harder than the
        // default rate allows; the limit has its own tests (tests/limits.rs).
        rate_limit_per_sec: 0,
        ..Settings::default()
    }
}
