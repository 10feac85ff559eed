//! The server's TLS (rustls, through tonic): certificate chain and key
//! from PEM files, and for mutual TLS the CA certificates that client
//! certificates must chain to. Read once at start-up; a missing or
//! unreadable file stops `truced` with the setting's name.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

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
