//! The server's TLS (rustls, through tonic): certificate chain and key
//! from PEM files, and for mutual TLS the CA certificates that client
//! certificates must chain to. Read once at start-up; a missing or
//! unreadable file stops `truced` with the setting's name. In cluster mode
//! also the client side a replica uses towards the other replicas
//! ([`PeerTls`]: forwarding writes, copying the log): the CA their
//! certificates chain to, and this replica's own certificate for replicas
//! that ask for one.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::Settings;

/// How long a client may take over the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{given} is set but {missing} is not: TLS needs both a certificate and its key")]
    Incomplete {
        given: &'static str,
        missing: &'static str,
    },
    #[error(
        "tls_client_ca is set but tls_cert is not: mutual TLS needs the server's own certificate"
    )]
    ClientCaWithoutTls,
    #[error("{setting} {path}: {source}")]
    Read {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{setting} {path}: no PEM block (expected -----BEGIN ...)")]
    NotPem {
        setting: &'static str,
        path: PathBuf,
    },
    #[error("TLS: {0}")]
    Config(String),
}

/// The TLS config the settings ask for (None: plaintext).
pub fn server_config(settings: &Settings) -> Result<Option<ServerTlsConfig>, TlsError> {
    let (cert, key) = match (&settings.tls_cert, &settings.tls_key) {
        (None, None) => {
            return match settings.tls_client_ca {
                Some(_) => Err(TlsError::ClientCaWithoutTls),
                None => Ok(None),
            };
        }
        (Some(_), None) => {
            return Err(TlsError::Incomplete {
                given: "tls_cert",
                missing: "tls_key",
            });
        }
        (None, Some(_)) => {
            return Err(TlsError::Incomplete {
                given: "tls_key",
                missing: "tls_cert",
            });
        }
        (Some(c), Some(k)) => (read("tls_cert", c)?, read("tls_key", k)?),
    };
    let mut config = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca) = &settings.tls_client_ca {
        // A client without a certificate that chains to these is refused
        // during the handshake.
        config = config
            .client_ca_root(Certificate::from_pem(read("tls_client_ca", ca)?))
            .client_auth_optional(false);
    }
    Ok(Some(config))
}

/// How this replica reaches the other replicas' `https://` URLs: the CA
/// certificates theirs chain to (`cluster_ca_file`, else `tls_client_ca`;
/// None: the system's roots) and, when it serves TLS itself, its own
/// certificate and key, presented to a replica that asks for a client
/// certificate (mutual TLS).
#[derive(Clone, Default)]
pub struct PeerTls {
    pub ca_pem: Option<Vec<u8>>,
    /// Certificate chain and key (PEM).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("ca", &self.ca_pem.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl PeerTls {
    /// Read from the files the settings name, and checked.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub fn load(settings: &Settings) -> Result<Self, TlsError> {
        let peer = Self::files(settings)?;
        // Unreadable PEM stops the start here, not each forwarded write.
        tonic::transport::Channel::from_static("https://peer.invalid")
            .tls_config(peer.client_config(HANDSHAKE_TIMEOUT))
            .map_err(|e| TlsError::Config(format!("towards the other replicas: {}", chain(&e))))?;
        Ok(peer)
    }

    /// The files' contents, as the settings name them.
    fn files(settings: &Settings) -> Result<Self, TlsError> {
        let ca_pem = match (&settings.cluster_ca_file, &settings.tls_client_ca) {
            (Some(ca), _) => Some(read("cluster_ca_file", ca)?),
            (None, Some(ca)) => Some(read("tls_client_ca", ca)?),
            (None, None) => None,
        };
        let identity = match (&settings.tls_cert, &settings.tls_key) {
            (Some(c), Some(k)) => Some((read("tls_cert", c)?, read("tls_key", k)?)),
            _ => None,
        };
        Ok(Self { ca_pem, identity })
    }

    /// The client TLS config for a peer; the handshake within `timeout`.
    pub fn client_config(&self, timeout: Duration) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new().timeout(timeout);
        tls = match &self.ca_pem {
            Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
            None => tls.with_native_roots(),
        };
        match &self.identity {
            Some((cert, key)) => tls.identity(Identity::from_pem(cert, key)),
            None => tls,
        }
    }
}

/// Whether `url` asks for TLS.
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        setting,
        path: path.to_owned(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(TlsError::NotPem {
            setting,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// An error and its causes on one line (tonic's transport errors say
/// little at the top).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_cluster_ca_defaults_to_the_client_ca_and_the_identity_to_the_own_certificate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, [name.as_bytes(), PEM].concat()).expect("write");
            Some(p)
        };
        let mut settings = Settings::default();
        let none = PeerTls::files(&settings).expect("no files");
        assert!(none.ca_pem.is_none() && none.identity.is_none());
        settings.tls_client_ca = path("client-ca");
        settings.tls_cert = path("cert");
        settings.tls_key = path("key");
        let peer = PeerTls::files(&settings).expect("read");
        assert!(peer.ca_pem.is_some_and(|ca| ca.starts_with(b"client-ca")));
        assert!(
            peer.identity
                .is_some_and(|(c, k)| c.starts_with(b"cert") && k.starts_with(b"key"))
        );
        settings.cluster_ca_file = path("cluster-ca");
        let peer = PeerTls::files(&settings).expect("read");
        assert!(peer.ca_pem.is_some_and(|ca| ca.starts_with(b"cluster-ca")));
        settings.cluster_ca_file = Some(dir.path().join("missing"));
        assert!(matches!(
            PeerTls::files(&settings),
            Err(TlsError::Read {
                setting: "cluster_ca_file",
                ..
            })
        ));
    }
}
