//! The web view's exports and `as of` pages over plain HTTP: each export
//! link of the report list answers the list's filter in its format, the
//! same bytes `truce export` writes for the same views (the shared
//! `truce-export` crate), and 401 without a token when tokens are
//! configured; a page rendered as of an earlier sequence reads that
//! sequence everywhere, its map included.

use std::net::SocketAddr;

use truce_daemon::{
    Daemon, Running,
    access::{Role, TokenEntry, tokens},
    test_settings,
};
use truce_proto::v1::{QueryReportsRequest, ReportFilter, ReportView};
use truce_tests::{
    TestDaemon, seed,
    web::{Answer, get},
};

const READER: &str = "reader-token-for-the-exports";

fn http(running: &Running) -> SocketAddr {
    running.http_addr().expect("the web view is on")
}

/// The seed's reports by UA that are disputed, read over gRPC.
async fn disputed_by_ua(daemon: &TestDaemon) -> Vec<ReportView> {
    let views = daemon
        .client
        .query_all_reports(
            QueryReportsRequest {
                filter: Some(ReportFilter {
                    perpetrator: "UA".into(),
                    evidence_status: truce_proto::v1::EvidenceStatus::Disputed as i32,
                    ..Default::default()
                }),
                page_size: 100,
                ..Default::default()
            },
            0,
        )
        .await
        .expect("query");
    assert_eq!(views.len(), 2, "the seed has two such reports");
    views
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or("")
}

#[tokio::test]
async fn each_export_link_answers_the_list_s_filter_in_its_format() {
    let daemon = TestDaemon::start().await;
    seed::submit_all(&daemon.client).await;
    // Another report by UA, not disputed: the filter must leave it out.
    daemon
        .client
        .submit_report(seed::report(5))
        .await
        .expect("submitted");
    let addr = http(&daemon.running);
    let views = disputed_by_ua(&daemon).await;
    let ids: Vec<String> = views
        .iter()
        .filter_map(|v| v.report.as_ref().map(|r| r.id.clone()))
        .collect();

    // The list links to the three exports of its own filter.
    let filter = "perpetrator=UA&evidence=disputed";
    let list = get(addr, &format!("/reports?{filter}"), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    for path in ["/reports.jsonl", "/reports.geojson", "/reports.csv"] {
        let link = format!("href=\"{path}?{}\"", filter.replace('&', "&amp;"));
        assert!(list.body.contains(&link), "{link} on the list");
    }

    let jsonl = get(addr, &format!("/reports.jsonl?{filter}"), None).await;
    assert_eq!(jsonl.status, 200, "{}", jsonl.body);
    let shown: Vec<String> = jsonl
        .body
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["report"]["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    assert_eq!(shown, ids);

    let geojson = get(addr, &format!("/reports.geojson?{filter}"), None).await;
    assert_eq!(geojson.status, 200, "{}", geojson.body);
    assert_eq!(header(&geojson, "content-type"), "application/geo+json");
    let served: serde_json::Value = serde_json::from_str(&geojson.body).expect("GeoJSON");
    let cli = serde_json::to_value(truce_cli::export::feature_collection(&views)).expect("JSON");
    assert_eq!(
        served, cli,
        "the same features as `truce export --format geojson`"
    );
    assert_eq!(served["features"].as_array().map(Vec::len), Some(2));

    let csv = get(addr, &format!("/reports.csv?{filter}"), None).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(header(&csv, "content-type").starts_with("text/csv"));
    let mut cli = Vec::new();
    truce_cli::export::write_acled_csv(&mut cli, &views).expect("CSV");
    assert_eq!(
        csv.body.as_bytes(),
        cli.as_slice(),
        "the bytes of `truce export --format acled-csv`"
    );
    assert_eq!(csv.body.lines().count(), 3, "the header and two rows");

    // A bad filter is refused before anything is streamed.
    let bad = get(addr, "/reports.csv?evidence=maybe", None).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("evidence"), "{}", bad.body);
    daemon.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn exports_answer_401_without_a_token_when_tokens_are_configured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(dir.path());
    settings.tokens = vec![TokenEntry {
        name: "analyst".into(),
        role: Role::Reader,
        sha256: tokens::hash(READER),
    }];
    let running = Daemon::new(settings).start().await.expect("daemon starts");
    let addr = http(&running);
    let cookie = format!("truce_token={READER}");
    for path in ["/reports.jsonl", "/reports.geojson", "/reports.csv"] {
        assert_eq!(get(addr, path, None).await.status, 401, "{path}");
        let wrong = get(addr, path, Some("truce_token=nope")).await;
        assert_eq!(wrong.status, 401, "{path}");
        let ok = get(addr, path, Some(&cookie)).await;
        assert_eq!(ok.status, 200, "{path}: {}", ok.body);
    }
    running.shutdown().await.expect("clean shutdown");
}

/// The agreement page as of an earlier sequence reads that sequence for
/// everything it shows: the map holds the reports of then, not of now.
#[tokio::test]
async fn an_as_of_page_reads_its_sequence_everywhere() {
    let daemon = TestDaemon::start().await;
    let receipts = seed::submit_all(&daemon.client).await;
    let then = receipts.last().expect("receipts").sequence;
    let later = daemon
        .client
        .submit_report(seed::report(6))
        .await
        .expect("submitted");
    assert!(later.sequence > then);
    let addr = http(&daemon.running);
    let id = seed::agreement_id();
    let markers = |a: &Answer| a.body.matches("class=\"report-marker\"").count();

    let past = get(addr, &format!("/agreements/{id}?as_of={then}"), None).await;
    assert_eq!(past.status, 200, "{}", past.body);
    assert_eq!(markers(&past), 3, "the map as of {then}");
    assert!(past.body.contains(&format!(
        "Rendered at log sequence <strong id=\"rendered-sequence\">{then}</strong>"
    )));
    assert!(
        !past.body.contains("data-live"),
        "an as-of page is not live"
    );

    // "Now": the report kept at `then` may be shown, named as such, while
    // the newest is computed (web/fresh.rs); then the page at `later`.
    let now = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let now = get(addr, &format!("/agreements/{id}"), None).await;
            assert_eq!(now.status, 200, "{}", now.body);
            if !now.body.contains("id=\"computing\"") {
                return now;
            }
            assert_eq!(markers(&now), 3, "a page shown as of {then}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the page at the newest sequence within 30 s");
    assert_eq!(markers(&now), 4, "the map now");

    // The query answers as of a sequence too, and refuses one past the log.
    let ahead = daemon
        .client
        .query_reports(QueryReportsRequest {
            filter: Some(ReportFilter {
                agreement_id: id.clone(),
                ..Default::default()
            }),
            as_of_sequence: later.sequence + 10,
            ..Default::default()
        })
        .await
        .expect_err("past the log");
    assert!(ahead.to_string().contains("as_of_sequence"), "{ahead}");
    let page = daemon
        .client
        .query_reports(QueryReportsRequest {
            filter: Some(ReportFilter {
                agreement_id: id.clone(),
                ..Default::default()
            }),
            as_of_sequence: then,
            ..Default::default()
        })
        .await
        .expect("as of then");
    assert_eq!(page.as_of_sequence, then);
    assert_eq!(page.reports.len(), 3);
    let bad = get(addr, &format!("/agreements/{id}?as_of=x"), None).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("as_of"), "{}", bad.body);
    daemon.running.shutdown().await.expect("clean shutdown");
}
