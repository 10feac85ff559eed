//! The seed scenario (examples/seed-scenario.jsonl) as requests, and
//! builders of valid requests for tests that need many.

use truce_proto::v1::{Envelope, RecordAgreementRequest, SubmitReportRequest, envelope::Kind};

/// The seed scenario file's text.
pub const SEED_JSONL: &str = include_str!("../../examples/seed-scenario.jsonl");

/// Every envelope of the seed scenario, in file order.
pub fn envelopes() -> Vec<Envelope> {
    SEED_JSONL
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("seed line parses"))
        .collect()
}

/// The seed agreement.
pub fn agreement() -> RecordAgreementRequest {
    envelopes()
        .into_iter()
        .find_map(|e| match e.kind {
            Some(Kind::Agreement(a)) => Some(a),
            _ => None,
        })
        .expect("seed has an agreement")
}

/// The seed reports.
pub fn reports() -> Vec<SubmitReportRequest> {
    envelopes()
        .into_iter()
        .filter_map(|e| match e.kind {
            Some(Kind::Report(r)) => Some(r),
            _ => None,
        })
        .collect()
}

/// The id of the seed agreement.
pub fn agreement_id() -> String {
    agreement().agreement.expect("agreement").id
}

/// A valid report on the seed agreement with a fresh request id and no
/// record id (the server assigns one); `n` varies the notes.
pub fn report(n: usize) -> SubmitReportRequest {
    let mut r = reports().remove(0);
    r.request_id = format!("test-report-{n}");
    if let Some(report) = r.report.as_mut() {
        report.id.clear();
        report.notes = format!("test report {n}");
    }
    r
}

/// Submits every seed envelope through the client crate, in order.
pub async fn submit_all(client: &truce_client::Client) -> Vec<truce_proto::v1::Receipt> {
    let mut receipts = Vec::new();
    for e in envelopes() {
        receipts.push(client.submit(e).await.expect("seed line accepted"));
    }
    receipts
}

/// The seed report ids, in file order.
pub const REPORTS: [&str; 3] = ["seed-report-1", "seed-report-2", "seed-report-3"];
