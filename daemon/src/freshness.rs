//! Reads that ask for a minimum sequence: a call carrying the metadata
//! `truce-min-sequence: N` is held until this daemon's durable sequence
//! reaches N, at most `min_sequence_wait_ms`, and then answered as usual;
//! past the wait it is refused with UNAVAILABLE (reason `BEHIND`), so the
//! client can retry or try another replica. In cluster mode this gives
//! read-your-writes across replicas: a client that wrote through one
//! replica (its receipt names the sequence) reads from another at least
//! that far. A tower layer, so every RPC takes it the same way and no
//! request message changes.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::sync::watch;
use tonic::body::Body;

use crate::error::Error;

/// The metadata key.
pub(crate) const MIN_SEQUENCE: &str = "truce-min-sequence";

/// Wraps the routes in [`FreshnessService`].
#[derive(Debug, Clone)]
pub(crate) struct FreshnessLayer {
    durable: watch::Receiver<u64>,
    wait: Duration,
}

impl FreshnessLayer {
    pub(crate) fn new(durable: watch::Receiver<u64>, wait: Duration) -> Self {
        Self { durable, wait }
    }
}

impl<S> tower_layer::Layer<S> for FreshnessLayer {
    type Service = FreshnessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FreshnessService {
            inner,
            durable: self.durable.clone(),
            wait: self.wait,
        }
    }
}

/// Holds a call until the durable sequence it asks for.
#[derive(Debug, Clone)]
pub(crate) struct FreshnessService<S> {
    inner: S,
    durable: watch::Receiver<u64>,
    wait: Duration,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// The sequence a call asks for, if it asks.
fn wanted(request: &http::Request<Body>) -> Result<Option<u64>, Error> {
    let Some(value) = request.headers().get(MIN_SEQUENCE) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| Error::invalid(MIN_SEQUENCE, "not a sequence number"))
}

impl<S> tower_service::Service<http::Request<Body>> for FreshnessService<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let wanted = match wanted(&request) {
            Ok(Some(n)) if n > *self.durable.borrow() => n,
            // Nothing to wait for: the inner service polled ready takes it.
            Ok(_) => return Box::pin(self.inner.call(request)),
            Err(e) => return Box::pin(async move { Ok(tonic::Status::from(e).into_http()) }),
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let mut durable = self.durable.clone();
        let wait = self.wait;
        Box::pin(async move {
            let reached = matches!(
                tokio::time::timeout(wait, durable.wait_for(|d| *d >= wanted)).await,
                Ok(Ok(_))
            );
            match reached {
                true => inner.call(request).await,
                false => {
                    let applied = *durable.borrow();
                    Ok(tonic::Status::from(Error::Behind { applied, wanted }).into_http())
                }
            }
        })
    }
}
