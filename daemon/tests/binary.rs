//! The real `truced` binary: it announces its address, refuses a second
//! daemon on the same data dir, exits 0 on SIGTERM after draining, and
//! after kill -9 restarts with every acknowledged entry (crash
//! consistency; durability itself is shown through the sync seam in the
//! end-to-end tests).

mod common;

use common::signal;

use std::{
    io::Read,
    path::Path,
    process::{Child, Command},
};

use truce_client::Client;
use truce_proto::v1::{
    Agreement, AgreementForm, AgreementMedium, AgreementParty, AgreementPurpose, EffectiveFrom,
    PartyRole, RecordAgreementRequest,
};

struct Truced {
    child: Child,
    url: String,
}

fn start(dir: &Path) -> Truced {
    let mut cmd = common::truced();
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--shutdown-pause-ms",
        "0",
        "--data-dir",
    ])
    .arg(dir);
    let (child, started) = common::spawn(cmd);
    let addr = started.unwrap_or_else(|stderr| panic!("truced did not start: {stderr}"));
    Truced {
        child,
        url: format!("http://{addr}"),
    }
}

fn agreement(n: usize) -> RecordAgreementRequest {
    RecordAgreementRequest {
        request_id: format!("binary-test-{n}"),
        with_proof: false,
        agreement: Some(Agreement {
            id: format!("agreement-n{n}"),
            title: format!("Test agreement {n}"),
            parties: vec![
                AgreementParty {
                    party: "AA".into(),
                    role: PartyRole::Signatory.into(),
                    ..Default::default()
                },
                AgreementParty {
                    party: "BB".into(),
                    role: PartyRole::Signatory.into(),
                    ..Default::default()
                },
            ],
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path());
    let second = Command::new(env!("CARGO_BIN_EXE_truced"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another truced"), "{stderr}");
    // The first one is unharmed.
    let client = Client::connect(first.url.clone()).await.unwrap();
    client.record_agreement(agreement(1)).await.unwrap();
    signal(&first.child, "-TERM");
    assert!(first.child.wait().unwrap().success());
}

/// A port in use (the gRPC one, or the metrics one) fails the start
/// before the data dir or a signing key is created.
#[test]
fn a_port_in_use_fails_before_anything_is_created() {
    let root = tempfile::tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let taken = taken.local_addr().expect("addr").to_string();
    let cases: [&[&str]; 2] = [
        &["--listen", &taken],
        &["--listen", "127.0.0.1:0", "--metrics-listen", &taken],
    ];
    for args in cases {
        let data = root.path().join("data");
        let out = common::truced()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("truced runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&taken), "{args:?}: {stderr}");
        assert!(!data.exists(), "{args:?} created {}", data.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    let receipt = client.record_agreement(agreement(1)).await.unwrap();
    drop(client);
    signal(&d.child, "-TERM");
    let status = d.child.wait().unwrap();
    let mut stderr = String::new();
    d.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit {status:?}: {stderr}");

    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    let view = client.get_agreement("agreement-n1").await.unwrap();
    assert_eq!(view.created.unwrap().sequence, receipt.sequence);
    signal(&d.child, "-INT");
    assert!(d.child.wait().unwrap().success(), "SIGINT also exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_acknowledged_entry_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for w in 0..16 {
        let client = client.clone();
        let tx = tx.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let n = w * 1_000_000 + i;
                match client.record_agreement(agreement(n)).await {
                    Ok(r) => {
                        if tx.send((n, r.sequence)).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < 200 {
        acked.push(rx.recv().await.expect("writes flow"));
    }
    signal(&d.child, "-KILL");
    d.child.wait().unwrap();
    while let Some(a) = rx.recv().await {
        acked.push(a);
    }
    for w in writers {
        w.await.unwrap();
    }
    drop(client);

    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    for (n, seq) in &acked {
        let view = client
            .get_agreement(&format!("agreement-n{n}"))
            .await
            .unwrap();
        assert_eq!(view.created.unwrap().sequence, *seq);
    }
    // The log is gapless from 1 to its end.
    let mut next = 1;
    loop {
        let page = client.read_log(next, 0).await.unwrap();
        if page.entries.is_empty() {
            break;
        }
        for e in &page.entries {
            assert_eq!(e.sequence, next);
            next += 1;
        }
    }
    assert!(next > acked.len() as u64);
    signal(&d.child, "-TERM");
    assert!(d.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truced_reindex_rebuilds_views_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    for n in 0..3 {
        client.record_agreement(agreement(n)).await.unwrap();
    }
    let before = client.get_agreement("agreement-n1").await.unwrap();
    drop(client);
    signal(&d.child, "-TERM");
    assert!(d.child.wait().unwrap().success());

    let out = Command::new(env!("CARGO_BIN_EXE_truced"))
        .arg("reindex")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("reindexed 3 entries"), "{stdout}");

    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    assert_eq!(client.get_agreement("agreement-n1").await.unwrap(), before);
    let retry = client.record_agreement(agreement(2)).await.unwrap();
    assert!(retry.duplicate);
    signal(&d.child, "-TERM");
    assert!(d.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truced_audit_and_key_show() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let client = Client::connect(d.url.clone()).await.unwrap();
    for n in 0..5 {
        client.record_agreement(agreement(n)).await.unwrap();
    }
    let cp = client.get_checkpoint().await.unwrap();
    drop(client);
    signal(&d.child, "-TERM");
    assert!(d.child.wait().unwrap().success());

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_truced"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["key", "show"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains(&format!("origin        {}", cp.origin)),
        "{shown}"
    );
    let key_file = dir.path().join("checkpoint.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let out = run(&["audit"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 entries"), "{stdout}");
    assert!(
        stdout.contains("last signed checkpoint (size 5): matches"),
        "{stdout}"
    );

    // Rewrite entry 2 behind the log's back.
    {
        let store = truce_daemon::store::Store::open(dir.path(), 16 << 20).unwrap();
        let mut bytes = store.read_entry(2).unwrap().unwrap();
        bytes[10] ^= 0x20;
        store
            .overwrite_entry_behind_the_logs_back(2, &bytes)
            .unwrap();
    }
    let out = run(&["audit"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("first difference at sequence 2"),
        "{stderr}"
    );
}
