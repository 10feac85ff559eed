//! The tamper-evident log end to end: receipts carry leaf indexes, signed
//! checkpoints follow the C2SP formats, every entry proves its inclusion
//! and every checkpoint its consistency with earlier ones (checked by the
//! client's own code), a rewritten entry is caught by audit and by the
//! client, and a forked history signed with the same key is rejected.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use truce_client::{
    VerifyFailure,
    verify::{self, VerifierKey},
};
use truce_daemon::{Daemon, store::Store, test_settings};
use truce_tests::{TestDaemon, seed};

#[tokio::test]
async fn checkpoints_are_c2sp_signed_notes() {
    let d = TestDaemon::start().await;
    let receipts = seed::submit_all(&d.client).await;
    for r in &receipts {
        assert_eq!(r.leaf_index, r.sequence - 1);
    }
    let cp = d.client.get_checkpoint().await.unwrap();
    assert_eq!(cp.tree_size, 12);
    let vkey = d.running.verifier_key();
    assert_eq!(cp.verifier_key, vkey, "the key is served too");
    // <name>+<hex key id>+<base64(0x01 ‖ key)>, the id derived by the C2SP rule.
    let parts: Vec<&str> = vkey.splitn(3, '+').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], cp.origin);
    let raw = STANDARD.decode(parts[2]).unwrap();
    assert_eq!(raw.len(), 33);
    assert_eq!(raw[0], 0x01);
    let mut h = Sha256::new();
    h.update(parts[0].as_bytes());
    h.update([0x0a]);
    h.update(&raw);
    let id: String = h.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(parts[1], id);
    // The note: origin, size, base64 root, blank line, one signature line.
    let lines: Vec<&str> = cp.note.split('\n').collect();
    assert_eq!(lines[0], cp.origin);
    assert_eq!(lines[1], "12");
    assert_eq!(STANDARD.decode(lines[2]).unwrap(), cp.root_hash);
    assert_eq!(lines[3], "");
    let sig = lines[4].strip_prefix("\u{2014} ").unwrap();
    let (name, b64) = sig.split_once(' ').unwrap();
    assert_eq!(name, cp.origin);
    let sig = STANDARD.decode(b64).unwrap();
    assert_eq!(sig.len(), 4 + 64);
    assert_eq!(&sig[..4], &raw_id(parts[1])[..]);
    assert_eq!(lines[5], "");
    // The client's own check accepts it, and rejects a changed body.
    let key = VerifierKey::parse(&vkey).unwrap();
    let verified = verify::verify_checkpoint(&cp.note, &key).unwrap();
    assert_eq!(verified.size, 12);
    let forged = cp.note.replacen("\n12\n", "\n13\n", 1);
    assert!(verify::verify_checkpoint(&forged, &key).is_err());
    d.stop().await;
}

fn raw_id(hex: &str) -> Vec<u8> {
    (0..8)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn every_entry_proves_inclusion_and_checkpoints_stay_consistent() {
    let d = TestDaemon::start().await;
    let key = VerifierKey::parse(&d.running.verifier_key()).unwrap();
    let mut previous = None;
    seed::submit_all(&d.client).await;
    for round in 0..5 {
        let cp = d
            .client
            .verify_checkpoint(&key, previous.as_ref())
            .await
            .unwrap();
        for seq in 1..=cp.size {
            d.client.verify_entry(seq, &cp).await.unwrap();
        }
        previous = Some(cp);
        for n in 0..(round * 3 + 1) {
            d.client
                .submit_report(seed::report(round * 100 + n))
                .await
                .unwrap();
        }
    }
    // Proofs at past sizes too.
    let proof = d.client.get_inclusion_proof(2, 5).await.unwrap();
    assert_eq!(proof.tree_size, 5);
    let err = d.client.get_inclusion_proof(6, 5).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
    let err = d.client.get_consistency_proof(10, 5).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
    d.stop().await;
}

#[tokio::test]
async fn a_rewritten_entry_is_caught_by_audit_and_by_the_client() {
    let d = TestDaemon::start().await;
    let key = VerifierKey::parse(&d.running.verifier_key()).unwrap();
    seed::submit_all(&d.client).await;
    let before = d.client.verify_checkpoint(&key, None).await.unwrap();
    let dir = d.stop().await;

    let path = dir.path().to_owned();
    let (clean, tampered) = tokio::task::spawn_blocking(move || {
        let store = Store::open(&path, 16 << 20).unwrap();
        let clean = truce_daemon::audit::run(&store, &path).unwrap();
        let mut bytes = store.read_entry(3).unwrap().unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        store
            .overwrite_entry_behind_the_logs_back(3, &bytes)
            .unwrap();
        let tampered = truce_daemon::audit::run(&store, &path).unwrap();
        (clean, tampered)
    })
    .await
    .unwrap();
    assert_eq!(clean.first_difference, None);
    assert_eq!(clean.checkpoint, Some((12, true)));
    assert_eq!(clean.root, before.root);
    assert_eq!(tampered.first_difference.as_ref().map(|d| d.0), Some(3));

    // The daemon refuses the rewritten entry (DATA_LOSS) instead of
    // serving it, and signs no checkpoint over the damaged log.
    let (running, client) = truce_tests::start_in(dir.path(), None).await;
    let cp = client.verify_checkpoint(&key, Some(&before)).await.unwrap();
    client.verify_entry(2, &cp).await.unwrap();
    let err = client.get_entry(3).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::DataLoss), "{err}");
    assert!(client.verify_entry(3, &cp).await.is_err());
    let err = client.get_checkpoint().await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::DataLoss), "{err}");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_forked_history_with_the_same_key_is_rejected() {
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("log.key");
    let start = |dir: std::path::PathBuf| {
        let key_file = key_file.clone();
        async move {
            let mut settings = test_settings(&dir);
            settings.signing_key = Some(key_file);
            settings.log_origin = Some("example.org/truce-test".into());
            let running = Daemon::new(settings).start().await.unwrap();
            let client = truce_client::Client::connect(running.url()).await.unwrap();
            (running, client)
        }
    };
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (a, a_client) = start(a_dir.path().to_owned()).await;
    let (b, b_client) = start(b_dir.path().to_owned()).await;
    assert_eq!(a.verifier_key(), b.verifier_key(), "one key, two logs");
    let key = VerifierKey::parse(&a.verifier_key()).unwrap();

    seed::submit_all(&a_client).await;
    let seen = a_client.verify_checkpoint(&key, None).await.unwrap();
    // Another history: the same agreement, different reports, more entries.
    b_client.record_agreement(seed::agreement()).await.unwrap();
    for n in 0..20 {
        b_client.submit_report(seed::report(n)).await.unwrap();
    }
    let err = b_client
        .verify_checkpoint(&key, Some(&seen))
        .await
        .unwrap_err();
    let VerifyFailure::Fork { old, new, .. } = err else {
        panic!("expected a fork, got {err}");
    };
    assert_eq!(old.size, 12);
    assert_eq!(new.size, 21);
    // A log that shrank is a fork too.
    let c_dir = tempfile::tempdir().unwrap();
    let (c, c_client) = start(c_dir.path().to_owned()).await;
    c_client.record_agreement(seed::agreement()).await.unwrap();
    let err = c_client
        .verify_checkpoint(&key, Some(&seen))
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyFailure::Fork { .. }), "{err}");
    for r in [a, b, c] {
        r.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_write_can_ask_for_its_proof_in_the_receipt() {
    let d = TestDaemon::start().await;
    let key = VerifierKey::parse(&d.running.verifier_key()).unwrap();
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let mut req = seed::report(1);
    req.with_proof = true;
    let receipt = d.client.submit_report(req.clone()).await.unwrap();
    let cp = verify::verify_checkpoint(&receipt.checkpoint.as_ref().unwrap().note, &key).unwrap();
    assert!(cp.size >= receipt.sequence);
    let inclusion = receipt.inclusion.as_ref().unwrap();
    assert_eq!(inclusion.leaf_index, receipt.sequence - 1);
    let raw = d.client.get_entry(receipt.sequence).await.unwrap().raw;
    verify::verify_inclusion(
        inclusion.leaf_index,
        cp.size,
        &verify::leaf_hash(&raw),
        &inclusion.hashes,
        &cp.root,
    )
    .unwrap();
    // Asking for a proof is not part of the request's fingerprint.
    req.with_proof = false;
    let retry = d.client.submit_report(req).await.unwrap();
    assert!(retry.duplicate);
    assert!(retry.checkpoint.is_none());
    d.stop().await;
}
