//! Derived trees are rebuildable from the log: a rebuilt index equals the
//! one the commit pipeline maintained.

use truce_daemon::store::Store;
use truce_tests::{TestDaemon, seed};

#[tokio::test]
async fn reindex_rebuilds_the_maintained_index_exactly() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    for r in seed::reports() {
        d.client.submit_report(r).await.unwrap();
    }
    for n in 0..5 {
        d.client.submit_report(seed::report(n)).await.unwrap();
    }
    let maintained = d.running.derived_digest().unwrap();
    assert_eq!(
        maintained
            .iter()
            .filter(|(t, _, _)| t == "requests")
            .count(),
        9
    );
    let dir = d.stop().await;

    let rebuilt = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || {
            let store = Store::open(&path, 16 << 20).unwrap().into_writer();
            let stats = store.reindex().unwrap();
            assert_eq!(stats.entries, 9);
            assert_eq!(stats.records, 9);
            store.derived_digest().unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(rebuilt, maintained);

    // And the daemon works on the rebuilt index: retries are duplicates.
    let (running, client) = truce_tests::start_in(dir.path(), None).await;
    let retry = client.record_agreement(seed::agreement()).await.unwrap();
    assert!(retry.duplicate);
    running.shutdown().await.unwrap();
}
