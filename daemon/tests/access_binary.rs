//! Access through the real `truced` binary: a non-loopback listen address
//! without TLS and tokens is refused at start-up and the message names
//! `--insecure`; with `--insecure` it serves (0.0.0.0:0, reached over
//! loopback only) and warns; `truced token new` prints a token and config
//! lines that make a working config; SIGHUP reloads the tokens.

mod common;

use std::path::Path;

use common::{signal, spawn, stop, truced};

use tonic::Code;
use truce_client::{Client, ClientOptions};
use truce_proto::v1::{
    Agreement, AgreementForm, AgreementMedium, AgreementParty, AgreementPurpose, EffectiveFrom,
    PartyRole, RecordAgreementRequest, SubmitReportRequest,
};

fn agreement() -> RecordAgreementRequest {
    RecordAgreementRequest {
        request_id: "access-binary-1".into(),
        with_proof: false,
        agreement: Some(Agreement {
            id: "agreement-access-binary".into(),
            title: "Access test agreement".into(),
            parties: ["AA", "BB"]
                .into_iter()
                .map(|p| AgreementParty {
                    party: p.into(),
                    role: PartyRole::Signatory.into(),
                    ..Default::default()
                })
                .collect(),
            form: AgreementForm::Bilateral.into(),
            medium: AgreementMedium::Written.into(),
            purpose: AgreementPurpose::Humanitarian.into(),
            declared_at: Some(pbjson_types::Timestamp {
                seconds: 1_742_000_000,
                nanos: 0,
            }),
            effective_from: vec![EffectiveFrom {
                at: Some(pbjson_types::Timestamp {
                    seconds: 1_742_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

#[test]
fn a_non_loopback_address_without_tls_and_tokens_needs_insecure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = truced();
    cmd.args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path());
    let (mut child, started) = spawn(cmd);
    let stderr = started.expect_err("truced must refuse to serve");
    assert!(!child.wait().expect("exits").success());
    assert!(stderr.contains("--insecure"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    // Refused before touching the data dir.
    assert!(!dir.path().join("store").exists(), "no store was created");

    let mut cmd = truced();
    cmd.args([
        "--listen",
        "0.0.0.0:0",
        "--insecure",
        "--shutdown-pause-ms",
        "0",
        "--data-dir",
    ])
    .arg(dir.path());
    let (child, started) = spawn(cmd);
    let addr = started.expect("--insecure serves");
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    let stderr = stop(child);
    assert!(
        stderr.contains("insecure") && stderr.contains("WARN"),
        "the start-up warning: {stderr}"
    );
}

// Multi-threaded: the blocking waits on the child must not stall the
// client's connection tasks (they close the connections at drop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_new_output_round_trips_into_a_working_config() {
    let out = truced()
        .args(["token", "new", "--name", "ci-admin", "--role", "admin"])
        .output()
        .expect("truced runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let token = text
        .lines()
        .find(|l| l.starts_with("truce_"))
        .unwrap_or_else(|| panic!("no token in {text}"))
        .to_owned();
    let config_lines: String = text
        .lines()
        .skip_while(|l| *l != "[[token]]")
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(config_lines.contains("sha256 = \""), "{text}");
    assert!(
        !config_lines.contains(&token),
        "only the hash goes in the config"
    );
    // A second token is a different one.
    let again = truced()
        .args(["token", "new", "--name", "ci-admin", "--role", "admin"])
        .output()
        .expect("truced runs");
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&token));
    // Bad names and roles are refused.
    for args in [
        ["--name", "has space", "--role", "admin"],
        ["--name", "anonymous", "--role", "admin"],
        ["--name", "ok", "--role", "root"],
    ] {
        let out = truced()
            .args(["token", "new"])
            .args(args)
            .output()
            .expect("truced runs");
        assert!(!out.status.success(), "{args:?}");
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("truced.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nshutdown_pause_ms = 0\ndata_dir = {:?}\n\n{config_lines}",
            dir.path().join("data").display().to_string()
        ),
    )
    .expect("write config");
    // `truced config` shows the token's table back.
    let shown = truced()
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .expect("truced runs");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("name = \"ci-admin\""), "{shown}");

    let mut cmd = truced();
    cmd.arg("--config").arg(&config);
    let (child, started) = spawn(cmd);
    let url = format!("http://{}", started.expect("serves with the config"));

    let options = ClientOptions {
        token: Some(token.clone()),
        ..ClientOptions::default()
    };
    let admin = Client::connect_with(&url, options).await.expect("connects");
    let receipt = admin
        .record_agreement(agreement())
        .await
        .expect("the new token writes");
    let entry = admin.get_entry(receipt.sequence).await.expect("reads");
    assert_eq!(entry.entry.expect("entry").submitter, "ci-admin");

    let anonymous = Client::connect(&url).await.expect("connects");
    let err = anonymous
        .submit_report(SubmitReportRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    // Close the connections, so the drain at shutdown has nothing to wait for.
    drop((admin, anonymous));
    stop(child);
    assert!(Path::new(&dir.path().join("data")).exists());
}

/// `truced token new`: the token and its config lines.
fn new_token(name: &str, role: &str) -> (String, String) {
    let out = truced()
        .args(["token", "new", "--name", name, "--role", role])
        .output()
        .expect("truced runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let token = text
        .lines()
        .find(|l| l.starts_with("truce_"))
        .expect("a token")
        .to_owned();
    let lines = text
        .lines()
        .skip_while(|l| *l != "[[token]]")
        .map(|l| format!("{l}\n"))
        .collect();
    (token, lines)
}

/// A daemon started from a config file, its stderr read line by line.
struct Configured {
    child: std::process::Child,
    url: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Configured {
    fn start(config: &Path) -> Self {
        let mut cmd = truced();
        cmd.env("TRUCE_LOG", "info")
            .env_remove("NO_COLOR")
            .arg("--config")
            .arg(config);
        let (mut child, started) = spawn(cmd);
        let url = format!("http://{}", started.expect("serves"));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, url, lines }
    }

    async fn client(&self, token: Option<&str>) -> Client {
        let options = ClientOptions {
            token: token.map(str::to_owned),
            ..ClientOptions::default()
        };
        Client::connect_with(self.url.clone(), options)
            .await
            .expect("connects")
    }

    /// SIGHUP, then the reload's outcome line (waiting at most a minute):
    /// `Ok(line)` if the tokens were reloaded, `Err(line)` if not.
    fn reload(&self) -> Result<String, String> {
        signal(&self.child, "-HUP");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("tokens reloaded") => return Ok(line),
                Ok(line) if line.contains("tokens not reloaded") => return Err(line),
                Ok(line) => seen.push(line),
                Err(e) => panic!("no outcome of the reload ({e}); stderr: {seen:#?}"),
            }
        }
    }

    fn stop(mut self) {
        signal(&self.child, "-TERM");
        assert!(self.child.wait().expect("exits").success());
    }
}

/// The config's first lines: loopback, no pause, a data dir in `dir`.
fn config_head(dir: &Path) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nshutdown_pause_ms = 0\ndata_dir = {:?}\n\n",
        dir.join("data").display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_tokens_from_the_config_file() {
    let (old, old_lines) = new_token("old-admin", "admin");
    let (new, new_lines) = new_token("new-admin", "admin");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("truced.toml");
    let head = config_head(dir.path());
    std::fs::write(&config, format!("{head}{old_lines}")).expect("write config");
    let daemon = Configured::start(&config);
    let (with_old, with_new) = (
        daemon.client(Some(&old)).await,
        daemon.client(Some(&new)).await,
    );
    with_old
        .record_agreement(agreement())
        .await
        .expect("the configured token writes");
    let refused = with_new
        .get_checkpoint()
        .await
        .expect_err("not configured yet");
    assert_eq!(refused.code(), Some(Code::Unauthenticated));

    // The old token revoked, the new one added; same connections.
    std::fs::write(&config, format!("{head}{new_lines}")).expect("write config");
    let line = daemon.reload().expect("reloaded");
    assert!(line.contains("tokens=1"), "{line}");
    assert!(
        !line.contains('\u{1b}'),
        "no colours off a terminal: {line}"
    );
    let checkpoint = with_new
        .get_checkpoint()
        .await
        .expect("the new token reads");
    assert_eq!(checkpoint.tree_size, 1);
    let refused = with_old.get_checkpoint().await.expect_err("revoked");
    assert_eq!(refused.code(), Some(Code::Unauthenticated));

    // A file that does not load, and one without tokens (emptied, or
    // caught half-written), leave the running tokens: a reload never
    // opens access.
    for (text, why) in [
        (
            format!("{head}[[token]]\nname = \"broken\"\n"),
            "missing field",
        ),
        (head.clone(), "no [[token]]"),
    ] {
        std::fs::write(&config, text).expect("write");
        let line = daemon.reload().expect_err("not reloaded");
        assert!(line.contains("ERROR") && line.contains(why), "{line}");
        with_new
            .get_checkpoint()
            .await
            .expect("still the new token");
        let refused = with_old.get_checkpoint().await.expect_err("still revoked");
        assert_eq!(refused.code(), Some(Code::Unauthenticated));
        let anonymous = daemon.client(None).await;
        let refused = anonymous.get_checkpoint().await.expect_err("still closed");
        assert_eq!(refused.code(), Some(Code::Unauthenticated));
    }

    drop((with_old, with_new));
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_can_close_an_open_daemon() {
    let (token, lines) = new_token("first-admin", "admin");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("truced.toml");
    let head = config_head(dir.path());
    std::fs::write(&config, &head).expect("write config");
    let daemon = Configured::start(&config);
    let anonymous = daemon.client(None).await;
    anonymous
        .record_agreement(agreement())
        .await
        .expect("open: anyone writes");

    std::fs::write(&config, format!("{head}{lines}")).expect("write config");
    daemon.reload().expect("reloaded");
    let refused = anonymous.get_checkpoint().await.expect_err("closed now");
    assert_eq!(refused.code(), Some(Code::Unauthenticated));
    let admin = daemon.client(Some(&token)).await;
    let entry = admin.get_entry(1).await.expect("the token reads");
    assert_eq!(entry.entry.expect("entry").submitter, "anonymous");

    drop((anonymous, admin));
    daemon.stop();
}
