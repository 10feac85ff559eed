//! The real `truced` binary's store administration: `truced backup` of a
//! stopped store, `truced restore` into a new data dir (then `truced
//! audit` passes and the restored daemon serves the same log under the
//! same key), and a damaged store refused at start-up with a clear message
//! rather than served as a shorter log or a panic. The commands that only
//! inspect a store create nothing where there is none.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Output},
};

use truce_client::Client;
use truce_proto::v1::Envelope;

const SEED: &str = include_str!("../../examples/seed-scenario.jsonl");

fn truced(args: &[&str], dir: &Path) -> Command {
    let mut c = common::truced();
    c.args(args).arg("--data-dir").arg(dir);
    c
}

fn run(args: &[&str], dir: &Path) -> Output {
    truced(args, dir).output().expect("truced runs")
}

/// Starts `truced serve` and returns it with its URL.
fn serve(dir: &Path) -> (Child, String) {
    let (child, started) = common::spawn(truced(
        &["--listen", "127.0.0.1:0", "--shutdown-pause-ms", "0"],
        dir,
    ));
    let addr = started.unwrap_or_else(|stderr| panic!("truced did not start: {stderr}"));
    (child, format!("http://{addr}"))
}

fn stop(child: Child) {
    common::stop(child);
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A data dir holding the seed scenario (12 entries), daemon stopped.
async fn seeded(dir: &Path) -> String {
    let (child, url) = serve(dir);
    let client = Client::connect(url).await.expect("connects");
    for line in SEED.lines().filter(|l| !l.trim().is_empty()) {
        let e: Envelope = serde_json::from_str(line).expect("seed line");
        client.submit(e).await.expect("accepted");
    }
    let key = client
        .get_checkpoint()
        .await
        .expect("checkpoint")
        .verifier_key;
    stop(child);
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_audit_and_serve() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, backup, restored) = (
        root.path().join("data"),
        root.path().join("backup"),
        root.path().join("restored"),
    );
    let key = seeded(&data).await;

    let out = run(
        &[
            "backup",
            "--with-key",
            "--to",
            backup.to_str().expect("utf-8"),
        ],
        &data,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("backed up 12 entries"),
        "{}",
        text(&out.stdout)
    );

    // A wrong pinned key is refused and leaves no store behind.
    let other = root.path().join("other");
    let out = run(
        &[
            "restore",
            "--from",
            backup.to_str().expect("utf-8"),
            "--verifier-key",
            "x+00000000+AQ==",
        ],
        &other,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not by the pinned key"),
        "{}",
        text(&out.stderr)
    );

    let out = run(
        &[
            "restore",
            "--from",
            backup.to_str().expect("utf-8"),
            "--verifier-key",
            &key,
        ],
        &restored,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("restored 12 entries"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stderr).contains("no --verifier-key"),
        "{}",
        text(&out.stderr)
    );

    // Without a pinned key the restore goes through, and says which key
    // it trusted.
    let unpinned = root.path().join("unpinned");
    let out = run(
        &["restore", "--from", backup.to_str().expect("utf-8")],
        &unpinned,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning: no --verifier-key"), "{stderr}");
    assert!(stderr.contains(&key), "names the key it trusted: {stderr}");

    let out = run(&["audit"], &restored);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let audit = text(&out.stdout);
    assert!(audit.contains("12 entries"), "{audit}");
    assert!(
        audit.contains("last signed checkpoint (size 12): matches"),
        "{audit}"
    );

    let (child, url) = serve(&restored);
    let client = Client::connect(url).await.expect("connects");
    let checkpoint = client.get_checkpoint().await.expect("checkpoint");
    assert_eq!(checkpoint.tree_size, 12);
    assert_eq!(checkpoint.verifier_key, key, "the same log key");
    assert!(client.get_report("seed-report-3").await.is_ok());
    stop(child);

    // Restoring over a store is refused.
    let out = run(
        &["restore", "--from", backup.to_str().expect("utf-8")],
        &restored,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already holds a store"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_is_refused_at_start_up() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    seeded(&data).await;
    // The last byte of the last entry in the log's first segment (the
    // rest of the segment is zeros until written).
    let segment = data.join("log").join(format!("{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).expect("log segment");
    let i = bytes.iter().rposition(|b| *b != 0).expect("entries");
    bytes[i] ^= 0x5a;
    std::fs::write(&segment, bytes).expect("damaged");

    let out = truced(&["--listen", "127.0.0.1:0"], &data)
        .output()
        .expect("truced runs");
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "it must not serve: {}",
        text(&out.stdout)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "an error, not a panic: {stderr}"
    );
    assert!(stderr.contains("store is corrupt"), "{stderr}");
    assert!(stderr.contains("restore it from a backup"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Refusing it left the mark alone: the second start refuses it too.
    let again = truced(&["--listen", "127.0.0.1:0"], &data)
        .output()
        .expect("truced runs");
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("store is corrupt"),
        "{}",
        text(&again.stderr)
    );
}

/// Every command that inspects a store, pointed at a data dir that holds
/// none (a typo), fails naming it and leaves nothing behind: no empty
/// store audited as sound, no new key printed as the log's.
#[test]
fn inspecting_commands_create_nothing_where_there_is_no_store() {
    let root = tempfile::tempdir().expect("temp dir");
    let wrong = root.path().join("wrong");
    let backup = root.path().join("backup");
    let commands: [&[&str]; 4] = [
        &["audit"],
        &["key", "show"],
        &["reindex"],
        &["backup", "--to", backup.to_str().expect("utf-8")],
    ];
    for args in commands {
        let out = run(args, &wrong);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("no Truce store at {}", wrong.display())),
            "{args:?}: {stderr}"
        );
        assert!(
            !text(&out.stdout).contains("matches"),
            "{args:?}: {}",
            text(&out.stdout)
        );
        assert!(!wrong.exists(), "{args:?} created {}", wrong.display());
    }
    // An existing but empty directory: still no store, and still empty.
    std::fs::create_dir(&wrong).expect("mkdir");
    for args in commands {
        let out = run(args, &wrong);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let left: Vec<_> = std::fs::read_dir(&wrong)
            .expect("reads")
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .expect("entries");
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
}

/// `truced key new` makes the key to pin before the first start (and the
/// data dir), `key show` then prints the same key, and a second `key new`
/// is refused rather than replacing it.
#[test]
fn key_new_before_the_first_start_and_key_show_after() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    let made = run(&["key", "new"], &data);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let shown = run(&["key", "show"], &data);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert_eq!(text(&made.stdout), text(&shown.stdout));
    assert!(text(&shown.stdout).contains("verifier key  truce/"));
    let again = run(&["key", "new"], &data);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        text(&run(&["key", "show"], &data).stdout),
        text(&made.stdout)
    );
}
