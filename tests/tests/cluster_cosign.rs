//! Cosigned checkpoints end to end: three etcd members and three truced
//! replicas, each signing with its own key under the cluster's origin.
//! The checkpoint RPC serves one note that a quorum cosigned, and `truce
//! verify` (the real binary) passes when it requires two of the three
//! replicas' keys, and fails with a clear message and exit code 3 when it
//! requires a key that did not sign or more signatures than there are.
//! Needs the `cluster` feature, `etcd` on the PATH, and `truced` and
//! `truce` built.

#![cfg(feature = "cluster")]

use truce_client::verify::{VerifierKey, verify_cosigned};
use truce_tests::{
    cluster::{new_verifier_key, run_truce, three_replicas, wait_for_entry},
    seed,
};

/// The cluster's origin with the default prefix.
const ORIGIN: &str = "truce-cluster/truce";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truce_verify_requires_two_of_three_replicas_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, replicas) = three_replicas(dir.path(), &[]);
    let client = replicas[1].client().await;
    client.record_agreement(seed::agreement()).await.unwrap();
    let mut last = 1;
    for n in 0..5 {
        last = client
            .submit_report(seed::report(n))
            .await
            .unwrap()
            .sequence;
    }
    let mut keys = Vec::new();
    for r in &replicas {
        let c = r.client().await;
        wait_for_entry(&c, last).await;
        r.wait_cosigned(last);
        let checkpoint = c.get_checkpoint().await.unwrap();
        assert_eq!(checkpoint.tree_size, last, "replica {}", r.name);
        assert_eq!(checkpoint.origin, ORIGIN);
        keys.push(checkpoint.verifier_key);
    }
    let parsed: Vec<VerifierKey> = keys
        .iter()
        .map(|k| VerifierKey::parse(k).unwrap())
        .collect();
    assert_eq!(parsed.len(), 3);
    let ids: std::collections::BTreeSet<[u8; 4]> = parsed.iter().map(|k| k.key_id).collect();
    assert_eq!(ids.len(), 3, "each replica has its own key");
    // Every replica serves one note with a quorum's signatures on it.
    for r in &replicas {
        let note = r.client().await.get_checkpoint().await.unwrap().note;
        let cp = verify_cosigned(&note, &parsed, 2).expect("two of three signed");
        assert_eq!(cp.size, last);
    }

    let url = replicas[0].url.clone();
    let state = dir.path().join("verified.checkpoint");
    let state = state.to_str().unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["--server", &url, "verify", "--state", state];
        args.extend_from_slice(extra);
        run_truce(&args)
    };
    let all: Vec<&str> = keys
        .iter()
        .flat_map(|k| ["--verifier-key", k.as_str()])
        .collect();
    let mut two_of_three = all.clone();
    two_of_three.extend(["--require", "2"]);
    let ok = verify(&two_of_three);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "truce verify --require 2: {stdout} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains(&format!("checkpoint verified: {ORIGIN} size {last}")),
        "{stdout}"
    );

    // A key that signed nothing, required with one that did.
    let stranger = new_verifier_key(&dir.path().join("stranger"), ORIGIN);
    let failed = verify(&[
        "--verifier-key",
        &stranger,
        "--verifier-key",
        &keys[0],
        "--require",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("valid signatures by 1 of the 2 known keys, 2 required"),
        "{stderr}"
    );
    // That key alone.
    let failed = verify(&["--verifier-key", &stranger]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no valid signature by"), "{stderr}");
    // More signatures than the note carries: the three replicas' and the
    // stranger's keys, all four required.
    let mut four = all.clone();
    four.extend(["--verifier-key", &stranger, "--require", "4"]);
    let failed = verify(&four);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("of the 4 known keys, 4 required"),
        "{stderr}"
    );
    // More than the keys given is a usage error.
    let mut too_many = all.clone();
    too_many.extend(["--require", "4"]);
    let failed = verify(&too_many);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--require 4"), "{stderr}");
}
