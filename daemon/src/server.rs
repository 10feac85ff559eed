//! Builds and runs the gRPC server: the Truce service, health
//! (grpc.health.v1), reflection (v1 and v1alpha), the TCP listener with
//! TCP_NODELAY, TLS and the access layer in front of every service (see
//! `access/`), and graceful shutdown (health NOT_SERVING, a pause so
//! probes see it, stop accepting, drain in-flight requests within a grace
//! period, finish the commit pipeline, close the store).

use std::{net::SocketAddr, sync::Arc, thread::JoinHandle, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle as TaskHandle};
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
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

/// A daemon ready to start: settings plus the seams.
pub struct Daemon {
    settings: Settings,
    seams: Seams,
}

impl Daemon {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            seams: Seams {
                sync: Box::new(StoreSync),
                maintain_tree: true,
                disk_space: Box::new(RealDiskSpace),
            },
        }
    }

    /// Replaces the durability seam (tests record, slow or fail it).
    pub fn with_sync(mut self, sync: Box<dyn SyncStep>) -> Self {
        self.seams.sync = sync;
        self
    }

    /// Replaces the free-space probe (tests run out of space on demand).
    pub fn with_disk_space(mut self, probe: Box<dyn DiskSpace>) -> Self {
        self.seams.disk_space = probe;
        self
    }

    /// Appends without growing the Merkle tree: only for the benchmark
    /// that measures what the tree costs (proofs and checkpoints are wrong
    /// on such a store; never use it on a real log).
    #[cfg(feature = "testing")]
    pub fn without_merkle_tree_for_benchmarks(mut self) -> Self {
        self.seams.maintain_tree = false;
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
        let listeners = Listeners::bind(&settings).await?;
        let core = Core::open(&settings, self.seams, listeners.url(tls.is_some())).await?;
        let (store, commit) = (core.store, core.commit);

        let budget = crate::budget::SendBudget::new(
            settings.stream_buffer_bytes,
            settings.stream_stall_timeout,
        );
        let (streams_tx, streams_rx) = tokio::sync::watch::channel(false);
        let (scrub, scrub_task) = start_scrub(&settings, &store, &commit, streams_rx.clone());
        let subscribe_stats = Arc::new(crate::subscribe::Stats::default());
        let (feed, feed_task) =
            crate::subscribe::Feed::start(Arc::clone(&store), streams_rx.clone());
        let errors = crate::metrics::Errors::default();
        let sources = (Arc::clone(&store), Arc::clone(&feed), Arc::clone(&budget));
        let metrics = start_metrics(&settings, listeners.metrics, &commit, &errors, sources)?;
        let reads = TruceService::new(
            Arc::clone(&store),
            commit.clone(),
            streams_rx,
            settings.max_subscriptions,
            Arc::clone(&subscribe_stats),
            feed,
            Arc::clone(&core.signer),
        )
        .with_space(core.space)
        .with_cosigned(core.cosigned)
        .with_budget(Arc::clone(&budget))
        .with_write_limits(
            settings.stream_write_window,
            settings.stream_write_buffer_bytes,
        );
        let web = start_web(listeners.web, &reads, &access, &settings)?;
        let (health, routes) = routes(reads, settings.max_message_bytes).await?;

        let (shutdown_tx, draining_rx, signal) =
            shutdown_channels(health, streams_tx, settings.shutdown_pause);
        let with_tls = tls.is_some();
        let stack = GrpcStack {
            errors,
            access: Arc::clone(&access),
            writer_role: core.writer_role,
            durable: store.watch_durable(),
        };
        let serving = (listeners.grpc, routes, signal, draining_rx);
        let task = serve_grpc(&settings, tls, stack, serving)?;
        log_serving(&settings, listeners.local_addr, with_tls, access.is_open());
        Ok(Running {
            local_addr: listeners.local_addr,
            tls: with_tls,
            shutdown: Some(shutdown_tx),
            task,
            writer: Some(core.writer),
            store,
            commit: Some(commit),
            subscribe_stats,
            feed_task: Some(feed_task),
            scrub,
            scrub_task: Some(scrub_task),
            signer: core.signer,
            metrics,
            web,
            access,
            settings,
            budget,
            following: core.following,
        })
    }
}

/// What a `Daemon` was given to build its commit pipeline with.
struct Seams {
    sync: Box<dyn SyncStep>,
    maintain_tree: bool,
    disk_space: Box<dyn DiskSpace>,
}

/// The store, the log's signing key and the commit pipeline over them.
struct Core {
    store: Arc<Store>,
    signer: Arc<crate::checkpoint::Signer>,
    /// Cluster mode: the newest checkpoint a quorum cosigned.
    cosigned: crate::cosigned::Cosigned,
    space: SpaceGuard,
    commit: CommitHandle,
    writer: JoinHandle<()>,
    /// Cluster mode: who the writer replica is (None on a single node).
    writer_role: Option<crate::forward::ToWriter>,
    /// Cluster mode: the tasks that follow the cluster's log.
    following: Option<crate::replication::Following>,
}

impl Core {
    /// Opens the store (making it if need be), loads or makes the key and
    /// starts the commit pipeline, the one holder of the store's writer,
    /// with the order seam the settings ask for (a cluster's is joined
    /// here; `url` is where this replica serves).
    async fn open(settings: &Settings, seams: Seams, url: String) -> Result<Self, StartError> {
        let store = Arc::new(Store::open_with(
            &settings.data_dir,
            settings.store_options(),
        )?);
        let signer = Arc::new(
            crate::checkpoint::Signer::load_or_create(
                &settings.signing_key_path(),
                settings.checkpoint_origin().as_deref(),
            )
            .map_err(|e| StartError::Other(e.to_string()))?,
        );
        let space = SpaceGuard::new(settings.min_free_disk_bytes, Arc::from(seams.disk_space));
        let (sequencer, joined) = crate::replication::order_seam(settings, url).await?;
        let writer_role = crate::replication::writer(joined.as_ref());
        let (commit, writer) = commit::start_ordered(
            store.writer()?,
            Arc::from(seams.sync),
            seams.maintain_tree,
            space.clone(),
            sequencer,
        )?;
        let cosigned = crate::cosigned::Cosigned::default();
        let local = crate::replication::Local {
            store: &store,
            commit: &commit,
            signer: &signer,
            cosigned: &cosigned,
        };
        let following = crate::replication::follow(joined, local);
        Ok(Self {
            store,
            signer,
            cosigned,
            space,
            commit,
            writer,
            writer_role,
            following,
        })
    }
}

/// The sockets a daemon listens on, bound before anything else is made.
struct Listeners {
    grpc: TcpListener,
    local_addr: SocketAddr,
    /// The metrics endpoint's address and socket, when it is configured.
    metrics: Option<(SocketAddr, TcpListener)>,
    /// The web view's address and socket, unless it is off.
    web: Option<(SocketAddr, TcpListener)>,
}

impl Listeners {
    /// Where this daemon serves gRPC, as a URL.
    fn url(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    async fn bind(settings: &Settings) -> Result<Self, StartError> {
        let bind_error = |source| StartError::Bind {
            addr: settings.listen,
            source,
        };
        let grpc = TcpListener::bind(settings.listen)
            .await
            .map_err(bind_error)?;
        let local_addr = grpc.local_addr().map_err(bind_error)?;
        let metrics = match settings.metrics_listen {
            Some(addr) => Some((addr, crate::metrics::MetricsEndpoint::bind(addr).await?)),
            None => None,
        };
        let web = bind_web(settings).await?;
        Ok(Self {
            grpc,
            local_addr,
            metrics,
            web,
        })
    }
}

/// Health (grpc.health.v1, SERVING until the shutdown), reflection (v1
/// and v1alpha) and the Truce service.
async fn routes(
    service: TruceService,
    max_message_bytes: usize,
) -> Result<(tonic_health::server::HealthReporter, Routes), StartError> {
    let service = TruceServer::new(service).max_decoding_message_size(max_message_bytes);
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
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service);
    Ok((health, routes))
}

/// The shutdown's channels: the sender `Running` keeps, the receiver that
/// says the drain began, and the signal the server waits on.
fn shutdown_channels(
    health: tonic_health::server::HealthReporter,
    streams: tokio::sync::watch::Sender<bool>,
    pause: Duration,
) -> (
    oneshot::Sender<()>,
    oneshot::Receiver<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (draining_tx, draining_rx) = oneshot::channel::<()>();
    let signal = shutdown_signal(health, shutdown_rx, streams, draining_tx, pause);
    (shutdown_tx, draining_rx, signal)
}

/// The start of a graceful shutdown: resolves on an explicit shutdown or
/// when `Running` is dropped, after health says NOT_SERVING for `pause`
/// and the streams are told to end; then the drain begins.
async fn shutdown_signal(
    health: tonic_health::server::HealthReporter,
    shutdown: oneshot::Receiver<()>,
    streams: tokio::sync::watch::Sender<bool>,
    draining: oneshot::Sender<()>,
    pause: Duration,
) {
    let _ = shutdown.await;
    tracing::info!("shutting down: health NOT_SERVING");
    health.set_not_serving::<TruceServer<TruceService>>().await;
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    tokio::time::sleep(pause).await;
    // Subscriptions end with UNAVAILABLE so that clients resume
    // elsewhere or later; they would otherwise hold the drain.
    streams.send_replace(true);
    tracing::info!("no longer accepting connections; draining");
    let _ = draining.send(());
}

/// The metrics endpoint on its listener, when one is configured.
fn start_metrics(
    settings: &Settings,
    listener: Option<(SocketAddr, TcpListener)>,
    commit: &CommitHandle,
    errors: &crate::metrics::Errors,
    (store, feed, budget): (
        Arc<Store>,
        Arc<crate::subscribe::Feed>,
        Arc<crate::budget::SendBudget>,
    ),
) -> Result<Option<crate::metrics::MetricsEndpoint>, StartError> {
    let Some((addr, listener)) = listener else {
        return Ok(None);
    };
    let sources = crate::metrics::Sources {
        store,
        feed,
        data_dir: settings.data_dir.clone(),
        budget,
    };
    let registry = crate::metrics::Metrics::new(&commit.stats().metrics, errors, sources);
    Ok(Some(crate::metrics::MetricsEndpoint::start(
        addr,
        listener,
        Arc::new(registry),
    )?))
}

/// The background scrub on its schedule.
fn start_scrub(
    settings: &Settings,
    store: &Arc<Store>,
    commit: &CommitHandle,
    streams: tokio::sync::watch::Receiver<bool>,
) -> (crate::scrub::ScrubHandle, TaskHandle<()>) {
    let schedule = crate::scrub::ScrubSchedule {
        interval: settings.scrub_interval,
        options: crate::store::ScrubOptions {
            bytes_per_second: settings.scrub_bytes_per_sec,
        },
    };
    crate::scrub::start(Arc::clone(store), commit.clone(), schedule, streams)
}

/// The tonic server with TLS, HTTP/2 keepalive and bounded windows, before
/// its layers and services.
fn server_builder(
    settings: &Settings,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> Result<Server, StartError> {
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| crate::tls::TlsError::Config(crate::tls::chain(&e)))?;
    }
    let keepalive = (!settings.keepalive_interval.is_zero()).then_some(settings.keepalive_interval);
    Ok(builder
        .max_concurrent_streams(settings.max_concurrent_streams)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(settings.keepalive_timeout))
        // What a client may send before we read it: bounded per call
        // and per connection.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW))
}

/// Serves until `server` ends, or until the grace period after the drain
/// began is over (then the remaining connections are closed).
fn spawn_serving<F>(
    server: F,
    draining: oneshot::Receiver<()>,
    grace: Duration,
) -> TaskHandle<Result<(), Error>>
where
    F: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let grace_over = async move {
            if draining.await.is_ok() {
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
    })
}

fn log_serving(settings: &Settings, addr: SocketAddr, tls: bool, open: bool) {
    tracing::info!(
        addr = %addr,
        data_dir = %settings.data_dir.display(),
        tls,
        tokens = settings.tokens.len(),
        "serving"
    );
    if open {
        tracing::info!("no tokens configured: every caller may read and write, as \"anonymous\"");
    }
}

/// The layers in front of every gRPC call, outermost first.
struct GrpcStack {
    /// Counts the errors, the access layer's refusals too.
    errors: crate::metrics::Errors,
    access: Arc<crate::access::Access>,
    /// Cluster mode: admitted writes go to the writer replica.
    writer_role: Option<crate::forward::ToWriter>,
    /// Reads that ask for a minimum sequence wait for it.
    durable: tokio::sync::watch::Receiver<u64>,
}

/// The gRPC server on its socket behind [`GrpcStack`] and the send
/// budget's release, serving `routes` until the shutdown signal, then
/// draining for the grace period.
fn serve_grpc<F>(
    settings: &Settings,
    tls: Option<tonic::transport::ServerTlsConfig>,
    stack: GrpcStack,
    (listener, routes, signal, draining): (TcpListener, Routes, F, oneshot::Receiver<()>),
) -> Result<TaskHandle<Result<(), Error>>, StartError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let server = server_builder(settings, tls)?
        .layer(crate::metrics::ErrorsLayer::new(stack.errors))
        .layer(crate::access::AccessLayer::new(stack.access))
        .layer(crate::forward::ForwardLayer::new(stack.writer_role))
        .layer(crate::freshness::FreshnessLayer::new(
            stack.durable,
            settings.min_sequence_wait,
        ))
        .layer(crate::budget::ReleaseLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener, settings), signal);
    Ok(spawn_serving(server, draining, settings.shutdown_grace))
}

/// The web view on its listener, unless it is off.
fn start_web(
    listener: Option<(SocketAddr, TcpListener)>,
    reads: &TruceService,
    access: &Arc<crate::access::Access>,
    settings: &Settings,
) -> Result<Option<crate::web::WebEndpoint>, StartError> {
    let Some((addr, listener)) = listener else {
        return Ok(None);
    };
    let options = crate::web::WebOptions {
        anonymous: settings.http_anonymous,
        live_buffer: settings.http_live_buffer,
        compliance_cache: settings.http_compliance_cache,
        shutdown_grace: settings.shutdown_grace,
    };
    Ok(Some(crate::web::WebEndpoint::start(
        addr,
        listener,
        reads.clone(),
        Arc::clone(access),
        &options,
    )?))
}

/// Binds the web view's listener (None: off). A non-loopback address
/// follows the rules of `listen` (the web view is plain HTTP, so only
/// with `insecure`); the default address, when its port is taken, turns
/// the web view off with a warning instead of failing the start.
async fn bind_web(settings: &Settings) -> Result<Option<(SocketAddr, TcpListener)>, StartError> {
    let Some(addr) = settings.http_listen.addr() else {
        return Ok(None);
    };
    let mut rules = settings.access_options();
    rules.listen = addr;
    rules.tls = false;
    crate::access::exposure(&rules).map_err(|e| match e {
        Error::FailedPrecondition { reason, .. } => Error::FailedPrecondition {
            field: "http_listen".into(),
            reason: format!("the web view (plain HTTP): {reason}"),
        },
        other => other,
    })?;
    match crate::web::WebEndpoint::bind(addr).await {
        Ok(listener) => Ok(Some((addr, listener))),
        Err(e) if settings.http_listen == crate::config::HttpListen::Default => {
            tracing::warn!(error = %e, "no web view: its default address is taken (set http_listen)");
            Ok(None)
        }
        Err(e) => Err(e.into()),
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
    #[error(transparent)]
    Web(#[from] crate::web::WebStartError),
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
    /// The web view, when `http_listen` is on and could bind.
    web: Option<crate::web::WebEndpoint>,
    access: Arc<crate::access::Access>,
    /// What it was started with (a reload checks new tokens against it).
    settings: Settings,
    /// Bytes buffered toward clients.
    budget: Arc<crate::budget::SendBudget>,
    /// Cluster mode: the follower of the cluster's log.
    following: Option<crate::replication::Following>,
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

    /// The address the web view bound (None: it is off).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.web.as_ref().map(crate::web::WebEndpoint::local_addr)
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
        // Pages stop with the service (their live streams end with it).
        if let Some(web) = self.web.take() {
            web.shutdown().await;
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
        // Cluster mode: nothing more is applied from etcd.
        if let Some(following) = self.following.take() {
            following.stop().await;
        }
        // Let the writer finish what is queued, then stop it.
        if let Some(commit) = self.commit.take() {
            commit.close().await;
        }
        // The writer and the final write and sync are bounded by the grace period
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
        // The web view on a port of its own (Running::http_addr).
        http_listen: crate::config::HttpListen::At(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Settings::default()
    }
}
