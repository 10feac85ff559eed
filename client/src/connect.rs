//! How the client reaches the daemon: the channel (plaintext for
//! `http://`, rustls TLS for `https://`, with a CA certificate of the
//! caller's or the system's roots, and a client certificate for mutual
//! TLS) and the bearer token sent with every call, and the
//! [`ClientOptions`] they come from. Below `client.rs`: it imports only
//! `error`.

use std::time::Duration;

use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, errors::InvalidMetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use truce_proto::v1::truce_client::TruceClient;

use crate::error::{ClientError, chain};

/// The generated client over an authenticated channel.
pub(crate) type Inner = TruceClient<InterceptedService<Channel, Auth>>;

/// Timeouts and retries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Deadline of each call.
    pub request_timeout: Duration,
    /// Attempts of a write (or a compliance report) on UNAVAILABLE,
    /// including the first.
    pub write_attempts: u32,
    /// Delay before the first retry; doubles with each.
    pub retry_backoff: Duration,
    /// Consecutive attempts of a call the daemon refuses with
    /// RESOURCE_EXHAUSTED (a rate limit), including the first. Each waits
    /// the RetryInfo delay, or a backoff doubling from 1 ms when that is
    /// longer, never more than `max_retry_delay`.
    pub rate_limit_attempts: u32,
    /// The longest RetryInfo delay waited out: a refusal asking for more
    /// (the disk margin's) is returned at once, as a condition that lasts.
    pub max_retry_delay: Duration,
    /// The largest response accepted: above the daemon's largest pages
    /// (ReadLog 2 MiB of entries, queries 4 MiB of views).
    pub max_response_bytes: usize,
    /// Bearer token sent with every call (the daemon's `[[token]]`).
    pub token: Option<String>,
    /// PEM CA certificate(s) to trust for `https://` (None: the system's
    /// roots).
    pub ca_cert: Option<Vec<u8>>,
    /// Client certificate and key, for a daemon that asks for one.
    pub client_identity: Option<ClientIdentity>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            write_attempts: 5,
            retry_backoff: Duration::from_millis(100),
            rate_limit_attempts: 30,
            max_retry_delay: Duration::from_secs(2),
            max_response_bytes: 8 * 1024 * 1024,
            token: None,
            ca_cert: None,
            client_identity: None,
        }
    }
}

/// A client certificate and its key (PEM), for mutual TLS.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").finish_non_exhaustive()
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct Auth(Option<AsciiMetadataValue>);

impl Auth {
    fn new(token: Option<&str>) -> Result<Self, InvalidMetadataValue> {
        let value = match token {
            None => None,
            Some(t) => {
                let mut v = AsciiMetadataValue::try_from(format!("Bearer {}", t.trim()))?;
                // Kept out of debug output and HPACK's dynamic table.
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(Self(value))
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// The endpoint for `url` with the options' TLS settings.
fn endpoint(url: &str, options: &ClientOptions) -> Result<Endpoint, ClientError> {
    let invalid = |reason: String| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let mut endpoint = Channel::from_shared(url.to_owned())
        .map_err(|e| invalid(e.to_string()))?
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true);
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if https {
        // A server that accepts TCP but never completes the handshake must
        // not hang the client: the handshake shares the connect timeout.
        let mut tls = ClientTlsConfig::new().timeout(options.connect_timeout);
        tls = match &options.ca_cert {
            Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
            None => tls.with_native_roots(),
        };
        if let Some(id) = &options.client_identity {
            tls = tls.identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| invalid(format!("TLS: {}", chain(&e))))?;
    } else if options.ca_cert.is_some() || options.client_identity.is_some() {
        return Err(invalid(
            "a CA or client certificate was given: use an https:// URL".into(),
        ));
    }
    Ok(endpoint)
}

/// The URL to connect to: `HOST:PORT` without a scheme (the form `truced`
/// prints in "listening on ADDR") is plaintext `http://HOST:PORT`.
pub fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// Connects and wraps the channel with the token.
pub(crate) async fn connect(url: &str, options: &ClientOptions) -> Result<Inner, ClientError> {
    let auth = Auth::new(options.token.as_deref()).map_err(|_| {
        ClientError::Request("the token holds characters a header cannot carry".into())
    })?;
    let url = with_scheme(url);
    let url = url.as_str();
    let channel = endpoint(url, options)?.connect().await.map_err(|source| {
        // rustls reading a plaintext HTTP/2 server's first bytes as a
        // TLS record: say so instead of "InvalidContentType".
        let text = chain(&source);
        if text.contains("InvalidContentType") || text.contains("corrupt message") {
            ClientError::NotTls {
                url: url.to_owned(),
            }
        } else {
            ClientError::Connect {
                url: url.to_owned(),
                source,
            }
        }
    })?;
    Ok(TruceClient::with_interceptor(channel, auth)
        .max_decoding_message_size(options.max_response_bytes))
}
