//! Records round-trip through the client crate, the raw log returns the
//! stored bytes, and everything survives a restart byte for byte.

use prost::Message;
use sha2::{Digest, Sha256};
use truce_proto::v1::{Entry, entry::Payload};
use truce_tests::{TestDaemon, seed};

#[tokio::test]
async fn seed_records_round_trip_and_survive_restart() {
    let d = TestDaemon::start().await;
    let agreement = seed::agreement();
    let receipt = d.client.record_agreement(agreement.clone()).await.unwrap();
    assert_eq!(receipt.sequence, 1);
    assert_eq!(receipt.record_id, seed::agreement_id());
    assert!(!receipt.duplicate);

    let mut receipts = vec![receipt];
    for r in seed::reports() {
        receipts.push(d.client.submit_report(r).await.unwrap());
    }
    let sequences: Vec<u64> = receipts.iter().map(|r| r.sequence).collect();
    assert_eq!(sequences, vec![1, 2, 3, 4]);

    // Views carry the record exactly as submitted.
    let view = d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    assert_eq!(view.agreement, agreement.agreement);
    let created = view.created.unwrap();
    assert_eq!(created.sequence, 1);
    assert_eq!(created.request_id, "seed-001-agreement");
    for r in seed::reports() {
        let want = r.report.unwrap();
        let got = d.client.get_report(&want.id).await.unwrap();
        assert_eq!(got.report.as_ref(), Some(&want));
    }

    // The raw log is the stored bytes: decoding them gives the entry, and
    // GetEntry's raw bytes are the same bytes.
    let page = d.client.read_log(1, 0).await.unwrap();
    assert_eq!(page.durable_sequence, 4);
    assert_eq!(page.entries.len(), 4);
    assert_eq!(page.next_sequence, 5);
    for raw in &page.entries {
        let entry = Entry::decode(raw.entry.as_slice()).unwrap();
        assert_eq!(entry.sequence, raw.sequence);
        assert_eq!(
            entry.encode_to_vec(),
            raw.entry,
            "stored bytes are canonical"
        );
        let one = d.client.get_entry(raw.sequence).await.unwrap();
        assert_eq!(one.raw, raw.entry);
        assert_eq!(one.entry.as_ref(), Some(&entry));
    }
    let first = Entry::decode(page.entries[0].entry.as_slice()).unwrap();
    assert!(matches!(first.payload, Some(Payload::Agreement(_))));
    let times: Vec<_> = page
        .entries
        .iter()
        .map(|r| {
            Entry::decode(r.entry.as_slice())
                .unwrap()
                .recorded_at
                .unwrap()
        })
        .map(|t| (t.seconds, t.nanos))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "recorded_at never decreases"
    );
    let hashes: Vec<[u8; 32]> = page
        .entries
        .iter()
        .map(|r| Sha256::digest(&r.entry).into())
        .collect();

    // Restart: the same bytes, the same views.
    let d = d.restart().await;
    let again = d.client.read_log(0, 0).await.unwrap();
    assert_eq!(again.durable_sequence, 4);
    let again_hashes: Vec<[u8; 32]> = again
        .entries
        .iter()
        .map(|r| Sha256::digest(&r.entry).into())
        .collect();
    assert_eq!(again_hashes, hashes);
    let view_again = d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    assert_eq!(view_again.agreement, agreement.agreement);

    // The next write continues the sequence.
    let next = d.client.submit_report(seed::report(99)).await.unwrap();
    assert_eq!(next.sequence, 5);
    assert_eq!(next.record_id, "report-5", "server-assigned id");
    let got = d.client.get_report("report-5").await.unwrap();
    assert_eq!(got.report.unwrap().id, "report-5");
    d.stop().await;
}

#[tokio::test]
async fn read_log_pages_are_bounded_and_stop_at_the_durable_sequence() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    for n in 0..9 {
        d.client.submit_report(seed::report(n)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut next = 1;
    loop {
        let page = d.client.read_log(next, 3).await.unwrap();
        assert!(page.entries.len() <= 3);
        if page.entries.is_empty() {
            assert_eq!(page.next_sequence, next);
            break;
        }
        seen.extend(page.entries.iter().map(|e| e.sequence));
        next = page.next_sequence;
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    let past = d.client.get_entry(11).await.unwrap_err();
    assert_eq!(past.code(), Some(tonic::Code::NotFound));
    let zero = d.client.get_entry(0).await.unwrap_err();
    assert_eq!(zero.code(), Some(tonic::Code::InvalidArgument));
    d.stop().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let d = TestDaemon::start().await;
    let channel = tonic::transport::Channel::from_shared(d.running.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: truce_proto::SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&truce_proto::SERVICE_NAME.to_owned()),
        "{names:?}"
    );
    d.stop().await;
}

#[tokio::test]
async fn shutdown_is_bounded_by_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = truce_daemon::test_settings(dir.path());
    settings.shutdown_grace = std::time::Duration::from_millis(200);
    let running = truce_daemon::Daemon::new(settings).start().await.unwrap();
    // A connection that never finishes its handshake.
    let _idle = tokio::net::TcpStream::connect(running.local_addr())
        .await
        .unwrap();
    // A guard against a hang, not a timing goal.
    tokio::time::timeout(std::time::Duration::from_secs(60), running.shutdown())
        .await
        .expect("shutdown finishes")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_not_serving_before_the_listener_closes() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = truce_daemon::test_settings(dir.path());
    // The watcher must read the change during this pause, while the
    // listener and its connection are still up.
    settings.shutdown_pause = std::time::Duration::from_secs(2);
    let running = truce_daemon::Daemon::new(settings).start().await.unwrap();
    let channel = tonic::transport::Channel::from_shared(running.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: truce_proto::SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopping = tokio::spawn(running.shutdown());
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(
        next.status,
        ServingStatus::NotServing as i32,
        "probes see it first"
    );
    drop(watch);
    drop(health);
    stopping.await.unwrap().unwrap();
}
