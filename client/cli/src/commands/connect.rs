//! The flags every command shares to reach the daemon: the bearer token
//! and the TLS files (CA certificate, client certificate and key), turned
//! into [`ClientOptions`] once, before any command connects.

use std::path::{Path, PathBuf};

use truce_client::{Client, ClientIdentity, ClientOptions};

use crate::commands::CliError;

/// Token and TLS flags (global).
#[derive(Debug, clap::Args)]
pub struct AccessFlags {
    /// Bearer token for a daemon with tokens (prefer TRUCE_TOKEN: a
    /// command line is visible to other users of the machine).
    #[arg(long, env = "TRUCE_TOKEN", global = true, hide_env_values = true, help_heading = super::GLOBAL)]
    pub token: Option<String>,
    /// PEM CA certificate to trust for an https:// server [default: the
    /// system's roots].
    #[arg(long, env = "TRUCE_CA_CERT", global = true, help_heading = super::GLOBAL)]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate, for a daemon that asks for one (mutual TLS).
    #[arg(long, env = "TRUCE_CLIENT_CERT", global = true, help_heading = super::GLOBAL)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, env = "TRUCE_CLIENT_KEY", global = true, help_heading = super::GLOBAL)]
    pub client_key: Option<PathBuf>,
    /// Answer only once the daemon holds at least this many entries (a
    /// write's receipt sequence: read your own writes on any replica of a
    /// cluster); the daemon waits up to its min_sequence_wait_ms, then
    /// the call fails with UNAVAILABLE (BEHIND).
    #[arg(long, value_name = "N", global = true, help_heading = super::GLOBAL)]
    pub min_sequence: Option<u64>,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Server {
    url: String,
    options: ClientOptions,
    /// Sent as `truce-min-sequence` on every call.
    min_sequence: Option<u64>,
}

impl Server {
    /// Reads the files the flags name.
    pub fn new(url: &str, flags: &AccessFlags) -> Result<Self, CliError> {
        let client_identity = match (&flags.client_cert, &flags.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ClientIdentity {
                cert_pem: read("--client-cert", cert)?,
                key_pem: read("--client-key", key)?,
            }),
            _ => {
                return Err(CliError::Usage(
                    "--client-cert and --client-key go together".into(),
                ));
            }
        };
        let ca_cert = flags
            .ca_cert
            .as_deref()
            .map(|p| read("--ca-cert", p))
            .transpose()?;
        let token = flags
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Self {
            url: url.to_owned(),
            options: ClientOptions {
                token,
                ca_cert,
                client_identity,
                ..ClientOptions::default()
            },
            min_sequence: flags.min_sequence,
        })
    }

    pub async fn connect(&self) -> Result<Client, CliError> {
        let client = Client::connect_with(&self.url, self.options.clone()).await?;
        Ok(match self.min_sequence {
            Some(n) => client.at_least(n),
            None => client,
        })
    }
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("{flag} {}: {e}", path.display())))
}
