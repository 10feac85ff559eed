//! History reads: a record as it stood at an earlier sequence, unchanged by
//! later appends, and the list of changes between two sequences.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use tonic::Code;
use truce_proto::v1::{AgreementStatus, EntryKind, EvidenceStatus};
use truce_tests::{TestDaemon, seed};

#[tokio::test]
async fn records_as_they_stood_and_the_changes_between() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;

    // Report 1 at sequence 4: submitted, not yet denied or disputed.
    let then = d.client.get_report_at("seed-report-1", 4).await.unwrap();
    assert_eq!(
        then.report.as_ref().unwrap().evidence_status(),
        EvidenceStatus::Unverified
    );
    assert!(then.claims.is_empty());
    assert_eq!(then.history.len(), 1);
    let now = d.client.get_report("seed-report-1").await.unwrap();
    assert_eq!(
        now.report.as_ref().unwrap().evidence_status(),
        EvidenceStatus::Disputed
    );
    // The agreement in force at 11, lapsed at 12.
    let at11 = d
        .client
        .get_agreement_at(&seed::agreement_id(), 11)
        .await
        .unwrap();
    assert_eq!(at11.status(), AgreementStatus::InForce);
    let at12 = d
        .client
        .get_agreement_at(&seed::agreement_id(), 12)
        .await
        .unwrap();
    assert_eq!(at12.status(), AgreementStatus::Lapsed);

    // Later appends do not change what stood at 4.
    for n in 0..5 {
        d.client.submit_report(seed::report(n)).await.unwrap();
    }
    assert_eq!(
        d.client.get_report_at("seed-report-1", 4).await.unwrap(),
        then
    );

    // Not yet there at sequence 1; past the log is a bad request.
    let err = d
        .client
        .get_report_at("seed-report-1", 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::NotFound));
    let err = d
        .client
        .get_report_at("seed-report-1", 999)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert!(err.to_string().contains("as_of_sequence"));

    // Changes in (4, 10].
    let changes = d.client.list_changes(4, 10, 0).await.unwrap();
    let seqs: Vec<u64> = changes
        .changes
        .iter()
        .map(|c| c.entry.as_ref().unwrap().sequence)
        .collect();
    assert_eq!(seqs, [5, 6, 7, 8, 9, 10]);
    let denial = &changes.changes[0];
    assert_eq!(denial.entry.as_ref().unwrap().kind(), EntryKind::Claim);
    assert_eq!(
        denial.touched,
        [
            "report:seed-report-1",
            "report:seed-report-2",
            format!("agreement:{}", seed::agreement_id()).as_str()
        ]
    );
    assert_eq!(changes.next_after, 10);
    // Paging.
    let page = d.client.list_changes(0, 0, 5).await.unwrap();
    assert_eq!(page.changes.len(), 5);
    assert_eq!(page.next_after, 5);
    let err = d.client.list_changes(10, 4, 0).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    d.stop().await;
}
