//! Cluster mode: a write that reaches a replica which is not the writer is
//! forwarded whole (its HTTP/2 request, token included) to the writer, and
//! the writer's answer is returned as it is; the client never sees the
//! difference. A tower layer after the access check, so that only
//! admitted requests travel. A forwarded request carries
//! `truce-forwarded`, and is never forwarded again: if it meets a replica
//! that is not (or no longer) the writer, that replica's pipeline refuses
//! it with UNAVAILABLE and the client's retry starts over. With no
//! cluster (a single node) the layer passes everything through. A writer
//! at an `https://` URL is reached over TLS with the cluster's CA and, for
//! replicas that ask for one, this replica's own certificate
//! ([`crate::tls::PeerTls`]).

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::sync::watch;
use tonic::{body::Body, transport::Channel};

use crate::{
    error::Error,
    tls::{PeerTls, chain, is_https},
};

/// Who writes, as this replica knows it (cluster mode's election says).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub enum Writer {
    /// Not known yet (or the lease was just lost).
    Unknown,
    /// This replica.
    This,
    /// Another replica, at this URL.
    Other { name: String, url: String },
}

/// Where writes go in cluster mode, and how the writer is reached.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) struct ToWriter {
    /// Who writes (the election says).
    pub(crate) writer: watch::Receiver<Writer>,
    /// For a writer at an `https://` URL.
    pub(crate) tls: PeerTls,
    /// The TCP connection and the TLS handshake within this.
    pub(crate) connect_timeout: Duration,
}

/// The header a forwarded request carries.
pub(crate) const FORWARDED: &str = "truce-forwarded";

/// The write methods of `truce.v1.Truce`: those forwarded to the writer
/// (WriteStream too: the HTTP/2 request is relayed as it streams, and the
/// writer's receipts stream back).
const WRITES: &[&str] = &[
    "RecordAgreement",
    "SetStatus",
    "SubmitReport",
    "AddClaim",
    "AttachSource",
    "CorrectReport",
    "WriteStream",
];

fn is_write(path: &str) -> bool {
    path.strip_prefix("/truce.v1.Truce/")
        .is_some_and(|m| WRITES.contains(&m))
}

/// Wraps the routes in [`ForwardService`]; `None`: a single node.
#[derive(Debug, Clone)]
pub(crate) struct ForwardLayer {
    to: Option<Arc<ToWriter>>,
}

impl ForwardLayer {
    pub(crate) fn new(to: Option<ToWriter>) -> Self {
        Self {
            to: to.map(Arc::new),
        }
    }
}

impl<S> tower_layer::Layer<S> for ForwardLayer {
    type Service = ForwardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ForwardService {
            inner,
            to: self.to.clone(),
            channel: Arc::new(Mutex::new(None)),
        }
    }
}

/// Sends writes to the writer when this replica is not it.
#[derive(Debug, Clone)]
pub(crate) struct ForwardService<S> {
    inner: S,
    to: Option<Arc<ToWriter>>,
    /// The channel to the writer last forwarded to, and its URL.
    channel: Arc<Mutex<Option<(String, Channel)>>>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

impl<S> ForwardService<S> {
    /// The writer's URL, when this request goes there.
    fn destination(&self, request: &http::Request<Body>) -> Option<String> {
        let writer = &self.to.as_ref()?.writer;
        if !is_write(request.uri().path()) || request.headers().contains_key(FORWARDED) {
            return None;
        }
        match &*writer.borrow() {
            Writer::Other { url, .. } => Some(url.clone()),
            Writer::This | Writer::Unknown => None,
        }
    }

    /// A (lazily connected) channel to `url`, kept while it stays the
    /// writer: over TLS for an `https://` URL.
    fn channel(&self, url: &str) -> Result<Channel, Error> {
        let Some(to) = self.to.as_ref() else {
            return Err(Error::Internal("no writer to forward to".into()));
        };
        let mut held = self
            .channel
            .lock()
            .map_err(|_| Error::Internal("the forwarding channel's lock is poisoned".into()))?;
        if let Some((held_url, channel)) = held.as_ref()
            && held_url == url
        {
            return Ok(channel.clone());
        }
        let mut endpoint = Channel::from_shared(url.to_owned())
            .map_err(|e| Error::NotOrdered(format!("the writer's URL {url:?}: {e}")))?
            .connect_timeout(to.connect_timeout);
        if is_https(url) {
            endpoint = endpoint
                .tls_config(to.tls.client_config(to.connect_timeout))
                .map_err(|e| {
                    Error::NotOrdered(format!("TLS to the writer at {url}: {}", chain(&e)))
                })?;
        }
        let channel = endpoint.connect_lazy();
        *held = Some((url.to_owned(), channel.clone()));
        Ok(channel)
    }
}

impl<S> tower_service::Service<http::Request<Body>> for ForwardService<S>
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
        // Served here (a single node, a read, the writer itself): the
        // inner service polled ready takes it, with no clone.
        let Some(url) = self.destination(&request) else {
            return Box::pin(self.inner.call(request));
        };
        let channel = match self.channel(&url) {
            Ok(channel) => channel,
            Err(e) => return Box::pin(async move { Ok(tonic::Status::from(e).into_http()) }),
        };
        request
            .headers_mut()
            .insert(FORWARDED, http::HeaderValue::from_static("1"));
        Box::pin(forward(channel, request, url))
    }
}

/// The writer's answer, or UNAVAILABLE when it cannot be reached.
async fn forward<E>(
    mut channel: Channel,
    request: http::Request<Body>,
    url: String,
) -> Result<http::Response<Body>, E> {
    use tower_service::Service as _;
    let answer = match std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
        Ok(()) => channel.call(request).await,
        Err(e) => Err(e),
    };
    Ok(answer.unwrap_or_else(|e| {
        tracing::debug!(writer = %url, error = %e, "forwarding a write failed");
        let e = Error::NotOrdered(format!("the writer at {url} cannot be reached: {e}"));
        tonic::Status::from(e).into_http()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writes_are_forwarded() {
        assert!(is_write("/truce.v1.Truce/SubmitReport"));
        assert!(is_write("/truce.v1.Truce/RecordAgreement"));
        assert!(!is_write("/truce.v1.Truce/ReadLog"));
        assert!(!is_write("/grpc.health.v1.Health/Check"));
    }
}
