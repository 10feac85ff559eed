//! The read-only web view end to end: a daemon started in-process with
//! `http_listen` on 127.0.0.1:0, the seed scenario submitted over gRPC,
//! and the pages read as a person would, in headless Chromium (Debian's
//! chromium and chromium-driver, driven with fantoccini), plus the token
//! rules over plain HTTP.

use std::{net::SocketAddr, time::Duration};

use fantoccini::Locator;
use truce_daemon::{
    Daemon, Running,
    access::{Role, TokenEntry, tokens},
    test_settings,
};
use truce_proto::v1::{ComplianceReportRequest, envelope::Kind};
use truce_tests::{
    TestDaemon, seed,
    web::{self, get, request},
};

const READER: &str = "reader-token-for-the-web";
const ADMIN: &str = "admin-token-for-the-web";

async fn with_tokens(dir: &std::path::Path, anonymous: bool) -> Running {
    let mut settings = test_settings(dir);
    settings.tokens = vec![
        TokenEntry {
            name: "analyst".into(),
            role: Role::Reader,
            sha256: tokens::hash(READER),
        },
        TokenEntry {
            name: "ops".into(),
            role: Role::Admin,
            sha256: tokens::hash(ADMIN),
        },
    ];
    settings.http_anonymous = anonymous;
    Daemon::new(settings).start().await.expect("daemon starts")
}

fn http(running: &Running) -> SocketAddr {
    running.http_addr().expect("the web view is on")
}

#[tokio::test]
async fn pages_answer_401_without_a_token_when_tokens_are_configured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = with_tokens(dir.path(), false).await;
    let addr = http(&running);
    for path in [
        "/",
        "/reports",
        "/agreements/x",
        "/reports/x",
        "/live",
        "/proof/1",
    ] {
        let answer = get(addr, path, None).await;
        assert_eq!(answer.status, 401, "{path}: {}", answer.body);
        assert!(
            answer.body.contains("Reader token"),
            "{path}: the token form"
        );
    }
    let wrong = get(addr, "/", Some("truce_token=nope")).await;
    assert_eq!(wrong.status, 401);
    let cookie = format!("truce_token={READER}");
    let home = get(addr, "/", Some(&cookie)).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Rendered at log sequence"));

    // The form keeps the token in an HttpOnly, SameSite=Strict cookie.
    let form = format!("token={READER}&next=%2Freports");
    let login = request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(login.status, 303, "{}", login.body);
    let set_cookie = login
        .headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie is set");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(
        login.headers.contains("location: /reports"),
        "{}",
        login.headers
    );
    let bad = request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=wrong",
    )
    .await;
    assert_eq!(bad.status, 401);
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn anonymous_reading_only_when_configured_and_no_write_routes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = with_tokens(dir.path(), true).await;
    let addr = http(&running);
    assert_eq!(get(addr, "/", None).await.status, 200);
    // Nothing but GET reads (and the token form) is routed.
    for path in ["/", "/reports", "/agreements/x"] {
        let answer = request(addr, "POST", path, &[], "").await;
        assert_eq!(answer.status, 405, "POST {path}");
    }
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_parameter() {
    let daemon = TestDaemon::start().await;
    seed::submit_all(&daemon.client).await;
    let addr = http(&daemon.running);
    let bad = get(addr, "/reports?evidence=maybe", None).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("evidence"), "{}", bad.body);
    let bad = get(addr, "/reports?bbox=1,2", None).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("bbox"), "{}", bad.body);
    let missing = get(addr, "/reports/no-such-report", None).await;
    assert_eq!(missing.status, 404);
    let list = get(addr, "/reports?perpetrator=UA&evidence=disputed", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body.matches("class=\"report-row\"").count(),
        2,
        "{}",
        list.body
    );
    let jsonl = get(
        addr,
        "/reports.jsonl?agreement=ru-ua-energy-moratorium-2025",
        None,
    )
    .await;
    assert_eq!(jsonl.status, 200);
    assert_eq!(jsonl.body.lines().count(), 3, "{}", jsonl.body);
    daemon.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_new_entry_shows_the_last_report_while_the_newest_is_computed() {
    let daemon = TestDaemon::start().await;
    let receipts = seed::submit_all(&daemon.client).await;
    let first = receipts.last().expect("receipts").sequence;
    let addr = http(&daemon.running);
    let page = format!("/agreements/{}", seed::agreement_id());
    // The first page computes its report and waits for it.
    let fresh = get(addr, &page, None).await;
    assert_eq!(fresh.status, 200);
    assert!(!fresh.body.contains("id=\"computing\""), "{}", fresh.body);
    let mut new = seed::report(9002);
    if let Some(r) = new.report.as_mut() {
        r.id = "web-stale-report".into();
    }
    let newest = daemon
        .client
        .submit_report(new)
        .await
        .expect("submitted")
        .sequence;
    // The next is the whole page at the kept report's sequence, said so,
    // while the newest is computed behind it.
    let stale = get(addr, &page, None).await;
    assert_eq!(stale.status, 200);
    assert!(
        stale.body.contains(&format!(
            "Shown as of log sequence {first}: the compliance report at sequence {newest} is being computed"
        )),
        "{}",
        stale.body
    );
    assert!(stale.body.contains(&format!("data-sequence=\"{first}\"")));
    assert!(
        !stale.body.contains("web-stale-report"),
        "the map is at the same sequence"
    );
    // Then the page at the newest sequence, with the new report.
    let shown = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let now = get(addr, &page, None).await;
            if !now.body.contains("id=\"computing\"") {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the newest report within 30 s");
    assert!(shown.body.contains(&format!("data-sequence=\"{newest}\"")));
    assert!(shown.body.contains("web-stale-report"), "{}", shown.body);
    daemon.running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn live_events_follow_the_log_from_the_rendered_sequence() {
    let daemon = TestDaemon::start().await;
    let receipts = seed::submit_all(&daemon.client).await;
    let last = receipts.last().expect("receipts").sequence;
    // The agreement and its three reports are the entries about it.
    let kinds: Vec<bool> = seed::envelopes()
        .iter()
        .map(|e| matches!(e.kind, Some(Kind::Agreement(_)) | Some(Kind::Report(_))))
        .collect();
    let about: Vec<u64> = receipts
        .iter()
        .zip(&kinds)
        .filter(|(_, about)| **about)
        .map(|(r, _)| r.sequence)
        .collect();
    assert_eq!(about.len(), 4);
    let addr = http(&daemon.running);
    // From the start of the log: every entry about the agreement, in order.
    let id = seed::agreement_id();
    let wanted = format!("data: {}\n", about[3]);
    let text = web::read_events(addr, &format!("/live?agreement={id}&after=0"), |t| {
        t.contains(&wanted)
    })
    .await;
    let shown: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: ")?.parse().ok())
        .collect();
    assert_eq!(shown, about, "{text}");
    assert!(text.contains("text/event-stream"), "{text}");
    // After the last one: only what comes next.
    let next = tokio::spawn(async move {
        web::read_events(addr, &format!("/live?after={last}"), |t| {
            t.contains("event: entry")
        })
        .await
    });
    let receipt = daemon
        .client
        .submit_report(seed::report(77))
        .await
        .expect("submitted");
    let text = tokio::time::timeout(Duration::from_secs(30), next)
        .await
        .expect("an event")
        .expect("reader");
    assert!(
        text.contains(&format!("event: entry\ndata: {}\n", receipt.sequence)),
        "{text}"
    );
    assert!(!text.contains(&format!("data: {last}\n")), "{text}");
    daemon.running.shutdown().await.expect("clean shutdown");
}

/// The seed scenario in a real browser: what a person sees on each page,
/// and a report submitted over gRPC appearing on the open agreement page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_scenario_in_a_browser() {
    if !web::have_chromedriver() {
        // CI installs it (.ci/run): there a missing driver is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing on CI",
            web::CHROMEDRIVER
        );
        eprintln!(
            "skipped: {} is not installed (apt-get install chromium chromium-driver)",
            web::CHROMEDRIVER
        );
        return;
    }
    let daemon = TestDaemon::start().await;
    seed::submit_all(&daemon.client).await;
    let base = format!("http://{}", http(&daemon.running));
    let shots = tempfile::tempdir().expect("temp dir");
    let profile = tempfile::tempdir().expect("profile dir");
    let driver = web::start_driver();
    let browser = web::browser(&driver, profile.path()).await;
    let result = pages(&daemon, &browser, &base, shots.path()).await;
    let _ = browser.close().await;
    if let Ok(keep) = std::env::var("TRUCE_WEB_SCREENSHOTS") {
        for entry in std::fs::read_dir(shots.path()).expect("screenshots") {
            let entry = entry.expect("entry");
            std::fs::copy(
                entry.path(),
                std::path::Path::new(&keep).join(entry.file_name()),
            )
            .expect("copy a screenshot");
        }
    }
    result.expect("the pages show the seed scenario");
    daemon.running.shutdown().await.expect("clean shutdown");
}

async fn text(
    browser: &fantoccini::Client,
    css: &str,
) -> Result<String, fantoccini::error::CmdError> {
    browser.find(Locator::Css(css)).await?.text().await
}

async fn pages(
    daemon: &TestDaemon,
    browser: &fantoccini::Client,
    base: &str,
    shots: &std::path::Path,
) -> Result<(), fantoccini::error::CmdError> {
    let id = seed::agreement_id();
    let title = seed::agreement().agreement.expect("agreement").title;

    // Home: the agreement with its window.
    browser.goto(&format!("{base}/")).await?;
    let row = text(browser, "tr.agreement-row").await?;
    assert!(row.contains(&title), "{row}");
    assert!(row.contains("from 2025-03-18 17:00 UTC per RU"), "{row}");
    assert!(row.contains("until 2025-04-17 17:00 UTC"), "{row}");
    assert!(
        text(browser, ".checkpoint-line")
            .await?
            .contains("Rendered at log sequence")
    );
    web::screenshot(browser, shots, "home").await;

    // Agreement: title, window, 3 reports on the map, the compliance figures.
    browser.goto(&format!("{base}/agreements/{id}")).await?;
    assert_eq!(text(browser, "#agreement-title").await?, title);
    assert!(
        text(browser, "#agreement-window")
            .await?
            .contains("from 2025-03-25 00:00 UTC per UA")
    );
    assert_eq!(
        browser
            .find_all(Locator::Css(".report-marker"))
            .await?
            .len(),
        3
    );
    let report = daemon
        .client
        .compliance_report(ComplianceReportRequest {
            agreement_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("compliance report");
    assert_eq!(report.tallies.len(), 2, "two readings of the start");
    for tally in &report.tallies {
        let css = format!("tr[data-reading='{}'] td.in-scope", tally.reading);
        let shown = text(browser, &css).await?;
        let wanted = tally.current.as_ref().map_or(0, |c| c.in_scope);
        assert_eq!(shown, wanted.to_string(), "reading {}", tally.reading);
        let css = format!("tr[data-reading='{}'] td.out-of-scope", tally.reading);
        assert_eq!(text(browser, &css).await?, tally.out_of_scope.to_string());
    }
    let line = text(browser, ".checkpoint-line").await?;
    assert!(
        line.contains(&format!("log sequence {}", report.as_of_sequence)),
        "{line}"
    );
    web::screenshot(browser, shots, "agreement").await;
    let map = browser.find(Locator::Css("section.map")).await?;
    std::fs::write(shots.join("agreement-map.png"), map.screenshot().await?)
        .expect("map screenshot");

    // Report list.
    browser
        .goto(&format!("{base}/reports?agreement={id}"))
        .await?;
    assert_eq!(
        browser.find_all(Locator::Css("tr.report-row")).await?.len(),
        3
    );
    web::screenshot(browser, shots, "reports").await;

    // Report 1: its whole history, with sequences.
    let view = daemon
        .client
        .get_report(seed::REPORTS[0])
        .await
        .expect("report 1");
    browser
        .goto(&format!("{base}/reports/{}", seed::REPORTS[0]))
        .await?;
    let rows = browser.find_all(Locator::Css("tr.history-row")).await?;
    assert_eq!(rows.len(), view.history.len());
    for (row, item) in rows.iter().zip(&view.history) {
        let shown = row.text().await?;
        assert!(shown.starts_with(&item.sequence.to_string()), "{shown}");
        assert!(shown.contains(&item.summary), "{shown}");
    }
    assert!(view.history.len() >= 3, "created, claimed, status changed");
    web::screenshot(browser, shots, "report").await;

    // Live: a report submitted over gRPC appears on the open agreement page.
    browser.goto(&format!("{base}/agreements/{id}")).await?;
    let mut new = seed::report(9001);
    if let Some(r) = new.report.as_mut() {
        r.id = "web-live-report".into();
    }
    // The page follows the log from the sequence it was rendered at, so
    // the report may be submitted as soon as the page is there.
    daemon.client.submit_report(new).await.expect("submitted");
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(
            ".report-marker[data-report='web-live-report']",
        ))
        .await?;
    assert_eq!(
        browser
            .find_all(Locator::Css(".report-marker"))
            .await?
            .len(),
        4
    );
    web::screenshot(browser, shots, "live").await;
    Ok(())
}
