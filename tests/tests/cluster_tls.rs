//! Replicas that serve TLS, end to end: three etcd members and three
//! truced replicas, each serving gRPC over TLS with a certificate from a
//! CA made here by rcgen, and asking every caller for a client certificate
//! from it (mutual TLS). A write sent to a replica that is not the writer
//! is forwarded to the writer's `https://` URL (with `cluster_ca_file` and
//! the replica's own certificate) and acknowledged; every replica ends
//! byte-identical. Then, once etcd has deleted the entries, a wiped
//! replica copies them from a peer over TLS. Needs the `cluster` feature,
//! `etcd` on the PATH, and `truced` built.

#![cfg(feature = "cluster")]

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use truce_client::{Client, ClientIdentity, ClientOptions};
use truce_tests::{
    cluster::{
        ClientTls, Etcd, Replica, read_whole_log, wait_deleted, wait_for_entry, writer_among,
    },
    seed,
};

/// The files the replicas serve with: (CA, certificate, key) paths, and
/// what the test's clients need.
struct Pki {
    ca: String,
    cert: String,
    key: String,
    client: ClientTls,
}

/// A CA, and one certificate signed by it for 127.0.0.1 that every
/// replica serves with and presents to the others (server and client use).
fn pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Truce test cluster CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("key");
    let ca_pem = ca_params.self_signed(&ca_key).expect("self-signed").pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "truce replica");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().expect("key");
    let cert_pem = params.signed_by(&key, &issuer).expect("signed").pem();
    let key_pem = key.serialize_pem();

    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path.to_str().expect("a UTF-8 path").to_owned()
    };
    Pki {
        ca: write("ca.pem", &ca_pem),
        cert: write("replica.pem", &cert_pem),
        key: write("replica.key", &key_pem),
        client: ClientTls {
            ca_pem: ca_pem.into_bytes(),
            identity: Some(ClientIdentity {
                cert_pem: cert_pem.into_bytes(),
                key_pem: key_pem.into_bytes(),
            }),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_serving_tls_forward_writes_and_copy_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let etcd = Etcd::start(&dir.path().join("etcd"));
    let flags = [
        "--tls-cert",
        &pki.cert,
        "--tls-key",
        &pki.key,
        "--tls-client-ca",
        &pki.ca,
        "--cluster-ca-file",
        &pki.ca,
        "--cluster-compact-batch",
        "5",
    ];
    let mut replicas: Vec<Replica> = (1..=3)
        .map(|i| {
            let name = format!("r{i}");
            let mut r = Replica::start_with(&name, &dir.path().join(&name), &etcd.urls(), &flags);
            r.use_tls(pki.client.clone());
            r
        })
        .collect();
    let writer = writer_among(&replicas, &[0, 1, 2], 1);
    let other = (writer + 1) % 3;

    // Mutual TLS holds: a caller without a client certificate is refused.
    let anonymous = ClientOptions {
        ca_cert: Some(pki.client.ca_pem.clone()),
        ..ClientOptions::default()
    };
    let refused = match Client::connect_with(replicas[other].url.clone(), anonymous).await {
        Ok(c) => c.get_checkpoint().await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a caller without a client certificate is refused");

    // Writes sent to a replica that is not the writer: forwarded over TLS
    // (with this replica's certificate) and acknowledged.
    let client = replicas[other].client().await;
    client.record_agreement(seed::agreement()).await.unwrap();
    let mut last = 1;
    for n in 0..20 {
        let receipt = client.submit_report(seed::report(n)).await;
        last = receipt
            .unwrap_or_else(|e| panic!("a forwarded write: {e}; log: {}", replicas[other].log()))
            .sequence;
    }
    assert_eq!(last, 21, "every write ordered once");
    let logs = all_logs(&replicas, last).await;
    assert!(
        logs.iter().all(|l| l.len() == 21 && *l == logs[0]),
        "every replica holds the same bytes"
    );

    // etcd deletes them; a wiped replica copies them from a peer over TLS.
    wait_deleted(&replicas[writer], last);
    replicas[other].kill();
    std::fs::remove_dir_all(&replicas[other].data_dir).unwrap();
    replicas[other].restart();
    wait_for_entry(&replicas[other].client().await, last).await;
    // The copy logs its end after applying what it copied: wait for the
    // line, not only for the entry.
    assert!(
        replicas[other].stderr.wait_for(
            "copied the log from a peer up to the cosigned checkpoint",
            1,
            std::time::Duration::from_secs(60)
        ),
        "etcd no longer held the entries: {}",
        replicas[other].log()
    );
    let later = replicas[other]
        .client()
        .await
        .submit_report(seed::report(100))
        .await
        .unwrap()
        .sequence;
    let logs = all_logs(&replicas, later).await;
    assert!(
        logs.iter()
            .all(|l| l.len() as u64 == later && *l == logs[0]),
        "the wiped replica holds the cluster's bytes again"
    );
}

/// Every replica's whole log, once each has applied `last`.
async fn all_logs(replicas: &[Replica], last: u64) -> Vec<Vec<(u64, Vec<u8>)>> {
    let mut logs = Vec::new();
    for r in replicas {
        let c = r.client().await;
        wait_for_entry(&c, last).await;
        logs.push(read_whole_log(&c).await);
    }
    logs
}
