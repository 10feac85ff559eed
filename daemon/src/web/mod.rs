//! The read-only web view: HTML pages for people who would rather look
//! than run commands, served over plain HTTP/1.1 on its own listener
//! (`http_listen`) by axum on the daemon's runtime. Every page reads
//! through the gRPC service's own read methods (the `Truce` trait on
//! [`TruceService`]), so a page shows what `truce` would print, and is
//! admitted by the same tokens ([`auth`]). There is no route that writes:
//! the router has GET routes only, besides the login form that sets the
//! token cookie. Pages name the log sequence and signed checkpoint they
//! were rendered at ([`layout`]).

mod auth;
mod basemap;
mod cache;
mod error;
mod export;
mod fresh;
mod labels;
mod layout;
mod live;
mod map;
mod pages;
mod params;
mod proof;
mod report;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    routing::{get, post},
};
use tokio::{net::TcpListener, sync::oneshot};

use crate::{access::Access, service::TruceService};

pub(crate) use error::WebError;

/// Why the web view could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebStartError {
    #[error("cannot listen for the web view on {addr} (http_listen): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What every page handler shares.
#[derive(Clone)]
pub(crate) struct Web {
    /// The gRPC service: pages call its read methods only.
    reads: TruceService,
    access: Arc<Access>,
    /// Pages may be read without a token although tokens exist.
    anonymous: bool,
    /// Live updates queued for one page before it is told to reload.
    live_buffer: usize,
    /// Compliance reports already computed, by agreement and sequence.
    compliance: Arc<cache::Cache>,
}

/// What the web view is started with.
#[derive(Debug)]
pub struct WebOptions {
    pub anonymous: bool,
    pub live_buffer: usize,
    pub compliance_cache: usize,
    /// How long open pages may take to finish at shutdown
    /// (`shutdown_grace_secs`, as for gRPC calls).
    pub shutdown_grace: std::time::Duration,
}

/// A serving web view.
#[derive(Debug)]
pub struct WebEndpoint {
    local_addr: SocketAddr,
    /// How long [`WebEndpoint::shutdown`] waits for open pages.
    grace: std::time::Duration,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebEndpoint {
    /// Binds `addr` (before the daemon creates anything).
    pub async fn bind(addr: SocketAddr) -> Result<TcpListener, WebStartError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| WebStartError::Bind { addr, source })
    }

    /// Serves the pages on `listener` in the background.
    pub(crate) fn start(
        addr: SocketAddr,
        listener: TcpListener,
        reads: TruceService,
        access: Arc<Access>,
        options: &WebOptions,
    ) -> Result<Self, WebStartError> {
        let local_addr = listener
            .local_addr()
            .map_err(|source| WebStartError::Bind { addr, source })?;
        let web = Web {
            reads,
            access,
            anonymous: options.anonymous,
            live_buffer: options.live_buffer.max(1),
            compliance: Arc::new(cache::Cache::new(options.compliance_cache)),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(web);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the web view stopped");
            }
        });
        tracing::info!(addr = %local_addr, "serving the web view");
        Ok(Self {
            local_addr,
            grace: options.shutdown_grace,
            stop: Some(stop),
            task,
        })
    }

    /// The address actually bound (also for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and ends open pages (live streams end too: they
    /// follow the daemon's shutdown signal); pages still being answered
    /// after `shutdown_grace_secs` are cut off.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        if tokio::time::timeout(self.grace, task).await.is_err() {
            tracing::warn!(
                grace_ms = self.grace.as_millis() as u64,
                "web pages still open after the grace period were cut off"
            );
            self.task.abort();
        }
    }
}

impl Drop for WebEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every route: reads, the login form, our own stylesheet and script.
fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/agreements/{id}", get(pages::agreement))
        .route("/reports", get(pages::reports))
        .route("/reports.jsonl", get(export::jsonl))
        .route("/reports.geojson", get(export::geojson))
        .route("/reports.csv", get(export::acled_csv))
        .route("/reports/{id}", get(report::report))
        .route("/proof/{sequence}", get(proof::proof))
        .route("/live", get(live::live))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/static/app.css", get(layout::stylesheet))
        .route("/static/live.js", get(layout::script))
        .with_state(web)
}
