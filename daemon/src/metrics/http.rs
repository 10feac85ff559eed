//! The metrics endpoint: `GET /metrics` over HTTP/1.1 on its own listener
//! (`metrics_listen`), so scrapes never share the gRPC port, its TLS or its
//! tokens. Anything else is 404 (405 for another method on /metrics).
//! It stops with the daemon: the accept loop ends and open connections are
//! aborted.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::oneshot, task::JoinSet};

use super::{CONTENT_TYPE, Metrics};

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr} (metrics_listen): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A serving metrics endpoint.
#[derive(Debug)]
pub struct MetricsEndpoint {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Binds `addr` (before the daemon creates anything, so that a port in
    /// use fails first).
    pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })
    }

    /// Serves on `listener` (from [`MetricsEndpoint::bind`] of `addr`) in
    /// the background.
    pub fn start(
        addr: SocketAddr,
        listener: TcpListener,
        metrics: Arc<Metrics>,
    ) -> Result<Self, MetricsError> {
        let local_addr = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let metrics = Arc::clone(&metrics);
                            connections.spawn(async move {
                                let service = service_fn(move |req| {
                                    let metrics = Arc::clone(&metrics);
                                    async move { Ok::<_, Infallible>(answer(req, metrics).await) }
                                });
                                if let Err(e) = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await
                                {
                                    tracing::debug!(error = %e, "metrics connection failed");
                                }
                            });
                        }
                        Err(e) => tracing::warn!(error = %e, "metrics listener cannot accept"),
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            connections.shutdown().await;
        });
        tracing::info!(addr = %local_addr, "serving metrics");
        Ok(Self {
            local_addr,
            stop: Some(stop),
            task,
        })
    }

    /// The address actually bound (also for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes open connections and waits for the task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer<B>(req: Request<B>, metrics: Arc<Metrics>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    // The store size walks the data dir: off the async threads.
    match tokio::task::spawn_blocking(move || metrics.scrape()).await {
        Ok(Ok(body)) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(CONTENT_TYPE),
            );
            response
        }
        Ok(Err(_)) | Err(_) => {
            tracing::warn!("metrics could not be encoded");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n")
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
