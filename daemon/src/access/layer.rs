//! The tower layer in front of every service of the gRPC server. It sees
//! the request path before tonic routes it, so one place decides for
//! every RPC: open (health, reflection), or a token with a sufficient
//! role and a rate-limit charge, then the caller in the request
//! extensions and, for unary calls, the request deadline. A refusal is
//! answered here with a gRPC status; the service never runs.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tonic::{
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};

use super::{
    Access,
    methods::{self, Rule},
};
use crate::error::Error;

/// Wraps the server's routes in [`AccessService`].
#[derive(Debug, Clone)]
pub struct AccessLayer {
    access: Arc<Access>,
}

impl AccessLayer {
    pub fn new(access: Arc<Access>) -> Self {
        Self { access }
    }
}

impl<S> tower_layer::Layer<S> for AccessLayer {
    type Service = AccessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessService {
            inner,
            access: Arc::clone(&self.access),
        }
    }
}

/// The access check around the inner service.
#[derive(Debug, Clone)]
pub struct AccessService<S> {
    inner: S,
    access: Arc<Access>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

impl<S> tower_service::Service<http::Request<Body>> for AccessService<S>
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

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone that was not polled ready goes back in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path().to_owned();
        let (role, deadline) = match methods::rule(&path) {
            Rule::Open => return Box::pin(inner.call(request)),
            Rule::Guarded { role, deadline } => (role, deadline),
        };
        let caller = match self.access.admit(
            request.headers().get(http::header::AUTHORIZATION),
            &path,
            role,
        ) {
            Ok(caller) => caller,
            Err(e) => {
                let peer = peer(&request);
                // Rate-limit refusals can come in floods: keep them quiet.
                if matches!(e, Error::ResourceExhausted { .. }) {
                    tracing::debug!(method = %path, peer, error = %e, "request refused");
                } else {
                    tracing::info!(method = %path, peer, error = %e, "request refused");
                }
                return refuse(e);
            }
        };
        tracing::trace!(method = %path, caller = %caller.name, "request admitted");
        request.extensions_mut().insert(super::Meter {
            access: Arc::clone(&self.access),
            name: Arc::clone(&caller.name),
        });
        request.extensions_mut().insert(caller);
        let future = inner.call(request);
        match self.access.deadline().filter(|_| deadline) {
            None => Box::pin(future),
            Some(limit) => Box::pin(async move {
                match tokio::time::timeout(limit, future).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::info!(method = %path, limit_ms = limit.as_millis() as u64, "request deadline exceeded");
                        let e = Error::DeadlineExceeded(format!(
                            "{path} took longer than the request deadline of {} ms (request_timeout_ms); \
                             a write may still complete: retry it with the same request id",
                            limit.as_millis()
                        ));
                        Ok(tonic::Status::from(e).into_http::<Body>())
                    }
                }
            }),
        }
    }
}

fn refuse<E: Send + 'static>(e: Error) -> BoxFuture<http::Response<Body>, E> {
    let response = tonic::Status::from(e).into_http::<Body>();
    Box::pin(std::future::ready(Ok(response)))
}

/// The peer's address, for the log.
fn peer(request: &http::Request<Body>) -> String {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
        .map(|a| a.to_string())
        .unwrap_or_default()
}
