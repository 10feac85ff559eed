//! 64 concurrent writers: a gapless sequence, no duplicates, and every
//! acknowledged entry present, byte for byte, after a restart.

use std::collections::{BTreeMap, HashSet};

use prost::Message;
use truce_proto::v1::Entry;
use truce_tests::{TestDaemon, seed};

const WRITERS: usize = 64;
const PER_WRITER: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_writers_get_a_gapless_log_that_survives_restart() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let client = d.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for i in 0..PER_WRITER {
                let receipt = client
                    .submit_report(seed::report(w * 1000 + i))
                    .await
                    .expect("write acknowledged");
                receipts.push((w * 1000 + i, receipt));
            }
            receipts
        }));
    }
    let mut acked: BTreeMap<u64, usize> = BTreeMap::new();
    for t in tasks {
        for (n, receipt) in t.await.unwrap() {
            assert!(!receipt.duplicate);
            assert!(
                acked.insert(receipt.sequence, n).is_none(),
                "sequence {} given twice",
                receipt.sequence
            );
        }
    }
    let total = (WRITERS * PER_WRITER) as u64;
    let expected: Vec<u64> = (2..=total + 1).collect();
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        expected,
        "gapless"
    );

    let stats = d.running.commit_stats().unwrap();
    let groups = stats.groups.load(std::sync::atomic::Ordering::Relaxed);
    let entries = stats.entries.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(entries, total + 1);
    eprintln!("{entries} entries in {groups} groups");

    let d = d.restart().await;
    let mut seen = HashSet::new();
    let mut next = 1;
    loop {
        let page = d.client.read_log(next, 0).await.unwrap();
        if page.entries.is_empty() {
            break;
        }
        for raw in &page.entries {
            let entry = Entry::decode(raw.entry.as_slice()).unwrap();
            assert_eq!(entry.sequence, raw.sequence);
            if let Some(n) = acked.get(&entry.sequence) {
                assert_eq!(entry.request_id, format!("test-report-{n}"));
            }
            assert!(
                seen.insert(entry.request_id.clone()),
                "request stored twice"
            );
        }
        next = page.next_sequence;
    }
    assert_eq!(
        seen.len() as u64,
        total + 1,
        "every acknowledged entry is present"
    );
    d.stop().await;
}
