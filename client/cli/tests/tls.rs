//! TLS and mutual TLS from the client crate, with certificates made here
//! by rcgen: a client that trusts the daemon's CA connects, one that does
//! not fails; under mutual TLS a client without a certificate from the
//! client CA is refused; the `truce` CLI connects with --ca-cert, client
//! certificates and a token. Each daemon listens on 127.0.0.1:0.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use truce_client::{Client, ClientError, ClientIdentity, ClientOptions};
use truce_daemon::{
    Daemon, Running,
    access::{Role, TokenEntry, tokens},
    test_settings,
};

/// A CA: its PEM certificate and the issuer that signs with its key.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A certificate signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("signed");
    (cert.pem(), key.serialize_pem())
}

/// Every file the tests need, in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server_ca = ca("Truce test server CA");
        let client_ca = ca("Truce test client CA");
        let stranger = ca("Someone else's CA");
        let (cert, key) = leaf(
            &server_ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            &client_ca,
            &["monitor-1"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let (stranger_cert, stranger_key) = leaf(
            &stranger,
            &["intruder"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        for (name, text) in [
            ("server-ca.pem", server_ca.pem.as_str()),
            ("client-ca.pem", client_ca.pem.as_str()),
            ("stranger-ca.pem", stranger.pem.as_str()),
            ("server.pem", cert.as_str()),
            ("server.key", key.as_str()),
            ("client.pem", client_cert.as_str()),
            ("client.key", client_key.as_str()),
            ("stranger.pem", stranger_cert.as_str()),
            ("stranger.key", stranger_key.as_str()),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write PEM");
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read PEM")
    }

    fn identity(&self, stem: &str) -> ClientIdentity {
        ClientIdentity {
            cert_pem: self.read(&format!("{stem}.pem")),
            key_pem: self.read(&format!("{stem}.key")),
        }
    }
}

async fn start(pki: &Pki, data: &Path, mutual: bool, tokens: Vec<TokenEntry>) -> Running {
    let mut settings = test_settings(data);
    settings.tls_cert = Some(pki.path("server.pem"));
    settings.tls_key = Some(pki.path("server.key"));
    if mutual {
        settings.tls_client_ca = Some(pki.path("client-ca.pem"));
    }
    settings.tokens = tokens;
    Daemon::new(settings).start().await.expect("daemon starts")
}

/// Connects and makes one call.
async fn try_call(url: &str, options: ClientOptions) -> Result<u64, ClientError> {
    let client = Client::connect_with(url, options).await?;
    Ok(client.get_checkpoint().await?.tree_size)
}

fn trusting(pki: &Pki, ca: &str) -> ClientOptions {
    ClientOptions {
        ca_cert: Some(pki.read(ca)),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn tls_connects_a_client_that_trusts_the_ca_only() {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("temp dir");
    let running = start(&pki, data.path(), false, Vec::new()).await;
    let url = running.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let client = Client::connect_with(&url, trusting(&pki, "server-ca.pem"))
        .await
        .expect("connects over TLS");
    let receipt = client
        .record_agreement(agreement())
        .await
        .expect("writes over TLS");
    assert_eq!(receipt.sequence, 1);

    // Not trusting the daemon's CA: the handshake fails.
    let err = try_call(&url, trusting(&pki, "stranger-ca.pem"))
        .await
        .expect_err("an untrusted certificate is refused");
    let message = err.to_string();
    assert!(
        message.contains("certificate") || message.contains("issuer"),
        "{message}"
    );
    // The system roots do not know a test CA either.
    assert!(try_call(&url, ClientOptions::default()).await.is_err());
    // Plaintext to a TLS port gets nowhere.
    let plain = url.replacen("https://", "http://", 1);
    assert!(try_call(&plain, ClientOptions::default()).await.is_err());
    // A CA for a plaintext URL is a usage error, not a silent downgrade.
    let err = try_call(&plain, trusting(&pki, "server-ca.pem"))
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::InvalidUrl { .. }), "{err}");
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_client_ca() {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("temp dir");
    let running = start(&pki, data.path(), true, Vec::new()).await;
    let url = running.url();

    let with_cert = ClientOptions {
        client_identity: Some(pki.identity("client")),
        ..trusting(&pki, "server-ca.pem")
    };
    assert_eq!(try_call(&url, with_cert).await.expect("mutual TLS"), 0);

    assert!(
        try_call(&url, trusting(&pki, "server-ca.pem"))
            .await
            .is_err(),
        "a client without a certificate is refused"
    );
    let stranger = ClientOptions {
        client_identity: Some(pki.identity("stranger")),
        ..trusting(&pki, "server-ca.pem")
    };
    assert!(
        try_call(&url, stranger).await.is_err(),
        "a certificate from another CA is refused"
    );
    running.shutdown().await.expect("clean shutdown");
}

// Multi-threaded: the CLI runs as a blocking child process while the
// in-process daemon serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_tokens_may_listen_beyond_loopback_and_the_cli_connects() {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("temp dir");
    let token = "truce_cli-test-token";
    let tokens = vec![TokenEntry {
        name: "cli-admin".into(),
        role: Role::Admin,
        sha256: tokens::hash(token),
    }];
    let mut settings = test_settings(data.path());
    settings.listen = "0.0.0.0:0".parse().expect("address");
    settings.tls_cert = Some(pki.path("server.pem"));
    settings.tls_key = Some(pki.path("server.key"));
    settings.tls_client_ca = Some(pki.path("client-ca.pem"));
    settings.tokens = tokens;
    let running = Daemon::new(settings)
        .start()
        .await
        .expect("TLS and tokens may serve beyond loopback");
    // Reached over loopback only.
    let url = format!("https://127.0.0.1:{}", running.local_addr().port());

    let truce = |args: &[&str], token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_truce"));
        for var in [
            "TRUCE_TOKEN",
            "TRUCE_CA_CERT",
            "TRUCE_CLIENT_CERT",
            "TRUCE_CLIENT_KEY",
        ] {
            cmd.env_remove(var);
        }
        cmd.arg("--server")
            .arg(&url)
            .arg("--ca-cert")
            .arg(pki.path("server-ca.pem"))
            .arg("--client-cert")
            .arg(pki.path("client.pem"))
            .arg("--client-key")
            .arg(pki.path("client.key"))
            .args(args);
        if let Some(t) = token {
            cmd.env("TRUCE_TOKEN", t);
        }
        cmd.output().expect("truce runs")
    };
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-scenario.jsonl");
    let seed = seed.to_str().expect("utf-8 path");
    let out = truce(&["submit", "--file", seed], Some(token));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = truce(&["--json", "log", "--limit", "1"], Some(token));
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains("\"submitter\":\"cli-admin\""), "{line}");

    // Without the token: refused, and said so.
    let out = truce(&["log"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthenticated"), "{stderr}");
    running.shutdown().await.expect("clean shutdown");
}

fn agreement() -> truce_proto::v1::RecordAgreementRequest {
    let line = include_str!("../../../examples/seed-scenario.jsonl")
        .lines()
        .next()
        .expect("a first line");
    let envelope: truce_proto::v1::Envelope = serde_json::from_str(line).expect("parses");
    match envelope.kind {
        Some(truce_proto::v1::envelope::Kind::Agreement(a)) => a,
        other => panic!("the seed starts with an agreement, not {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_never_completes_the_handshake_does_not_hang_the_client() {
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    // Accepts and holds connections, never answering.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let options = ClientOptions {
        connect_timeout: std::time::Duration::from_millis(300),
        ..trusting(&pki, "server-ca.pem")
    };
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        Client::connect_with(format!("https://{addr}"), options),
    )
    .await
    .expect("gives up within its connect timeout");
    assert!(matches!(result, Err(ClientError::Connect { .. })));
    holder.abort();
}
