//! The web view in headless Chromium beyond the seed walk-through
//! (`web.rs`): a page that falls behind its live updates shows the
//! "reload" notice, and the accessibility the pages promise (every form
//! control labelled, every table captioned, the skip link first and the
//! map's markers reachable with Tab, with a visible focus, each marker's
//! colour paired with its party's code and a shape).

use std::time::Duration;

use fantoccini::{Client as Browser, Locator, error::CmdError};
use truce_client::Client;
use truce_daemon::{Daemon, Running, test_settings};
use truce_proto::v1::{Envelope, envelope::Kind};
use truce_tests::{TestDaemon, seed, web};

/// Runs `check` in a fresh browser session, closing it whatever happens.
async fn in_browser<F, Fut>(check: F) -> Result<(), CmdError>
where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = Result<(), CmdError>>,
{
    let profile = tempfile::tempdir().expect("profile dir");
    let driver = web::start_driver();
    let browser = web::browser(&driver, profile.path()).await;
    let result = check(browser.clone()).await;
    let _ = browser.close().await;
    result
}

/// A daemon whose live pages may fall only one update behind.
async fn with_a_live_buffer_of_one(dir: &std::path::Path) -> (Running, Client) {
    let mut settings = test_settings(dir);
    settings.http_live_buffer = 1;
    let running = Daemon::new(settings).start().await.expect("daemon starts");
    let client = Client::connect(running.url())
        .await
        .expect("client connects");
    (running, client)
}

/// Sends `count` reports naming the seed agreement over one WriteStream
/// and waits for every receipt.
async fn burst(client: &Client, count: usize) {
    let (mut tx, mut receipts) = client.write_stream(64).await.expect("stream opens");
    let sender = tokio::spawn(async move {
        for n in 0..count {
            let mut r = seed::report(n);
            r.request_id = format!("burst-{n}");
            let envelope = Envelope {
                kind: Some(Kind::Report(r)),
            };
            tx.send(envelope).await.expect("sent");
        }
    });
    let mut answered = 0;
    while let Some(answer) = receipts.next().await {
        answer.expect("the stream holds").result.expect("accepted");
        answered += 1;
    }
    sender.await.expect("sender");
    assert_eq!(answered, count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_falls_behind_its_updates_is_told_to_reload() {
    if !web::browser_tests_can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, client) = with_a_live_buffer_of_one(dir.path()).await;
    seed::submit_all(&client).await;
    let base = format!("http://{}", running.http_addr().expect("web view"));
    let id = seed::agreement_id();
    let result = in_browser(|browser| async move {
        browser.goto(&format!("{base}/agreements/{id}")).await?;
        let notice = browser.find(Locator::Id("live-notice")).await?;
        assert!(!notice.is_displayed().await?, "no notice before the burst");
        // Far more entries than one queued update: the server drops them
        // and tells the page.
        burst(&client, 200).await;
        let shown = browser
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css("#live-notice:not([hidden])"))
            .await?;
        let text = shown.text().await?;
        assert!(
            text.contains("Updates were dropped: this page is out of date."),
            "{text}"
        );
        let reload = shown.find(Locator::LinkText("Reload")).await?;
        let href = reload.attr("href").await?.unwrap_or_default();
        assert!(href.ends_with(&format!("/agreements/{id}")), "{href}");
        Ok(())
    })
    .await;
    result.expect("the reload notice is shown");
    running.shutdown().await.expect("clean shutdown");
}

/// Names of the form controls on the page that have no label.
const UNLABELLED: &str = r#"
return Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length > 0) && !e.getAttribute('aria-label')
    && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML);
"#;

/// Tables without a caption.
const UNCAPTIONED: &str = r#"
return Array.from(document.querySelectorAll('table'))
  .filter(t => !t.querySelector('caption') || !t.querySelector('caption').textContent.trim())
  .map(t => t.id || t.outerHTML.slice(0, 80));
"#;

/// Scrolling table wrappers that the keyboard cannot reach or that have
/// no name (a wide table scrolls inside one; Tab must reach it to scroll).
const UNREACHABLE_SCROLLERS: &str = r#"
return Array.from(document.querySelectorAll('.table-wrap'))
  .filter(w => w.tabIndex !== 0 || !w.getAttribute('aria-label'))
  .map(w => w.outerHTML.slice(0, 80));
"#;

/// What has the focus: its class, tag, and its outline style and width.
const FOCUSED: &str = r#"
const e = document.activeElement;
const s = getComputedStyle(e);
return [e.getAttribute('class') || '', e.tagName.toLowerCase(), s.outlineStyle, s.outlineWidth,
  e.getAttribute('data-report') || ''];
"#;

async fn strings(browser: &Browser, script: &str) -> Result<Vec<String>, CmdError> {
    let value = browser.execute(script, vec![]).await?;
    Ok(value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default())
}

/// Presses Tab on whatever has the focus and says what has it then.
async fn tab(browser: &Browser) -> Result<Vec<String>, CmdError> {
    browser
        .active_element()
        .await?
        .send_keys("\u{e004}")
        .await?;
    strings(browser, FOCUSED).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_labelled_captioned_and_reachable_with_the_keyboard() {
    if !web::browser_tests_can_run() {
        return;
    }
    let daemon = TestDaemon::start().await;
    seed::submit_all(&daemon.client).await;
    let base = format!("http://{}", daemon.running.http_addr().expect("web view"));
    let id = seed::agreement_id();
    let pages = [
        "/".to_owned(),
        format!("/agreements/{id}"),
        format!("/reports?agreement={id}"),
        format!("/reports/{}", seed::REPORTS[0]),
        "/login".to_owned(),
    ];
    let result = in_browser(|browser| async move {
        for page in &pages {
            browser.goto(&format!("{base}{page}")).await?;
            let unlabelled = strings(&browser, UNLABELLED).await?;
            assert!(
                unlabelled.is_empty(),
                "{page}: unlabelled controls {unlabelled:?}"
            );
            let uncaptioned = strings(&browser, UNCAPTIONED).await?;
            assert!(
                uncaptioned.is_empty(),
                "{page}: tables without a caption {uncaptioned:?}"
            );
            let unreachable = strings(&browser, UNREACHABLE_SCROLLERS).await?;
            assert!(
                unreachable.is_empty(),
                "{page}: table scrollers the keyboard cannot reach {unreachable:?}"
            );
        }
        // The filter form has a control per filter, each labelled.
        browser.goto(&format!("{base}/reports")).await?;
        let fields = browser.find_all(Locator::Css("form.filters input")).await?;
        assert_eq!(fields.len(), 10);

        // The agreement page from the keyboard: the skip link first, then
        // on to every marker of the map, each with a visible focus.
        browser.goto(&format!("{base}/agreements/{id}")).await?;
        let first = tab(&browser).await?;
        assert_eq!(first[0], "skip", "{first:?}");
        assert_ne!(first[2], "none", "the skip link shows its focus");
        let mut markers = std::collections::BTreeSet::new();
        for _ in 0..80 {
            let focused = tab(&browser).await?;
            if focused[0] == "report-marker" {
                assert_ne!(focused[2], "none", "a focused marker shows it: {focused:?}");
                assert_ne!(focused[3], "0px", "{focused:?}");
                markers.insert(focused[4].clone());
            }
            if markers.len() == 3 {
                break;
            }
        }
        let wanted: std::collections::BTreeSet<String> =
            seed::REPORTS.iter().map(|r| (*r).to_owned()).collect();
        assert_eq!(markers, wanted, "every marker is reached with Tab");

        // Colour is never the only cue: each marker carries its party's
        // code and a shape, and the legend names what each shape means.
        for marker in browser.find_all(Locator::Css(".report-marker")).await? {
            let code = marker.find(Locator::Css("text")).await?.text().await?;
            assert!(!code.trim().is_empty(), "a marker without its party's code");
            let shapes = marker
                .find_all(Locator::Css("circle, rect, polygon"))
                .await?;
            assert_eq!(shapes.len(), 1);
        }
        let legend = browser.find(Locator::Css(".legend")).await?.text().await?;
        for words in [
            "unverified: circle",
            "disputed: triangle",
            "verified or corroborated: square",
        ] {
            assert!(legend.contains(words), "{legend}");
        }
        Ok(())
    })
    .await;
    result.expect("the pages are accessible");
    daemon.running.shutdown().await.expect("clean shutdown");
}
