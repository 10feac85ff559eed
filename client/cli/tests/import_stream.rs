//! `truce import` over the write stream, run as a user would against a
//! daemon started in-process on 127.0.0.1:0: later lines of one file that
//! revise a report an earlier line created see its result; a refused line
//! in the middle gets its error in line order and the rest land (under
//! --strict nothing after it is written); a record the source store
//! numbered whose number is taken here gets the store's next one; Ctrl-C
//! stops the run where it is, says where, and a re-run picks up from
//! there.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use truce_client::Client;
use truce_proto::v1::{
    EvidenceStatus, QueryReportsRequest, Report, ReportView, Source, SourceKind,
    SubmitReportRequest, envelope::Kind,
};

mod common;
use common::{daemon_with_agreement as daemon, seed_kind, text, truce};

/// The seed's first report under another id.
fn report(id: &str) -> Report {
    let Some(Kind::Report(req)) = seed_kind(1) else {
        panic!("line 2 is a report")
    };
    let mut r = req.report.expect("a report");
    r.id = id.into();
    r
}

fn line(r: &Report) -> String {
    serde_json::to_string(r).expect("as set up")
}

fn view_line(v: &ReportView) -> String {
    serde_json::to_string(v).expect("as set up")
}

fn write(dir: &Path, name: &str, lines: &[String]) -> String {
    let file = dir.join(name);
    std::fs::write(&file, lines.join("\n") + "\n").expect("as set up");
    file.to_str().expect("as set up").to_owned()
}

fn import(url: &str, file: &str, strict: bool) -> std::process::Output {
    let mut args = vec!["import", "--format", "jsonl", file];
    if strict {
        args.push("--strict");
    }
    truce(url, &args)
}

async fn log_len(client: &Client) -> u64 {
    client.read_log(1, 1).await.expect("log").durable_sequence
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_lines_see_what_earlier_lines_of_the_file_wrote() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(&dir.path().join("d"), |_| {}).await;
    let first = report("r-a");
    let mut second = first.clone();
    second.notes = "revised by line 2".into();
    let mut third = second.clone();
    third.sources.push(Source {
        kind: SourceKind::Satellite.into(),
        url: "https://example.org/imagery/line-3".into(),
        reliability: 1,
        credibility: 1,
        ..Source::default()
    });
    let other = report("r-b");
    let mut duplicate = other.clone();
    duplicate.evidence_status = EvidenceStatus::Duplicate.into();
    let duplicate = ReportView {
        report: Some(duplicate),
        duplicate_of: "r-a".into(),
        ..ReportView::default()
    };
    let lines = [
        line(&first),
        line(&second),
        line(&third),
        line(&other),
        view_line(&duplicate),
    ];
    let file = write(dir.path(), "revised.jsonl", &lines);
    let out = import(&d.url(), &file, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 2 new, 3 corrected, 0 unchanged, 0 failed"
    );
    // Created, corrected by line 2, a source attached by line 3.
    let a = client.get_report("r-a").await.expect("imported");
    assert_eq!(a.history.len(), 3, "{:?}", a.history);
    let stored = a.report.expect("a report");
    assert_eq!(stored.notes, "revised by line 2");
    assert_eq!(stored.sources, third.sources);
    let b = client.get_report("r-b").await.expect("imported");
    assert_eq!(b.duplicate_of, "r-a");
    assert_eq!(log_len(&client).await, 1 + 5);

    // The file's last word on each report is what the store holds now.
    let last = write(
        dir.path(),
        "last.jsonl",
        &[line(&third), view_line(&duplicate)],
    );
    let out = import(&d.url(), &last, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 0 new, 0 corrected, 2 unchanged, 0 failed"
    );
    assert_eq!(log_len(&client).await, 1 + 5);
    d.shutdown().await.expect("as set up");
}

/// r-1, a report the daemon refuses, a line that is not JSON, r-4, r-5.
fn mixed(dir: &Path) -> String {
    let mut refused = report("r-2");
    refused.location.get_or_insert_default().latitude = Some(95.0);
    let lines = [
        line(&report("r-1")),
        line(&refused),
        "{not json".to_owned(),
        line(&report("r-4")),
        line(&report("r-5")),
    ];
    write(dir, "mixed.jsonl", &lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_line_in_the_middle_gets_its_error_and_the_rest_land() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(&dir.path().join("d"), |_| {}).await;
    let file = mixed(dir.path());
    let out = import(&d.url(), &file, false);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].starts_with(&format!("{file}:2: ")) && errors[0].contains("latitude"),
        "{stderr}"
    );
    assert!(
        errors[1].starts_with(&format!("{file}:3: not JSON")),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 3 new, 0 corrected, 0 unchanged, 2 failed"
    );
    for id in ["r-1", "r-4", "r-5"] {
        client.get_report(id).await.expect("imported");
    }
    assert!(client.get_report("r-2").await.is_err());
    let len = log_len(&client).await;
    assert_eq!(len, 1 + 3);

    let again = import(&d.url(), &file, false);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        text(&again.stdout).trim(),
        "imported 0 new, 0 corrected, 3 unchanged, 2 failed"
    );
    assert_eq!(log_len(&client).await, len, "a re-run writes nothing");

    // --strict: the refusal stops the run; nothing after line 2 is sent.
    let (e, strict_client) = daemon(&dir.path().join("e"), |_| {}).await;
    let out = import(&e.url(), &file, true);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("{file}:2: ")), "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 1 new, 0 corrected, 0 unchanged, 1 failed"
    );
    assert_eq!(log_len(&strict_client).await, 1 + 1);
    assert!(strict_client.get_report("r-4").await.is_err());
    d.shutdown().await.expect("as set up");
    e.shutdown().await.expect("as set up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_an_import_where_it_is_and_a_rerun_goes_on_from_there() {
    const ROWS: u64 = 150;
    let dir = tempfile::tempdir().expect("as set up");
    // Slow enough that the run is still going when Ctrl-C comes: each row
    // is one write (a fresh import looks nothing up), 100 a second.
    let (d, client) = daemon(&dir.path().join("d"), |s| {
        s.rate_limit_per_sec = 100;
        s.rate_limit_burst = 10;
    })
    .await;
    let lines: Vec<String> = (1..=ROWS)
        .map(|i| line(&report(&format!("r-{i}"))))
        .collect();
    let file = write(dir.path(), "many.jsonl", &lines);
    let child = Command::new(env!("CARGO_BIN_EXE_truce"))
        .env("TRUCE_SERVER", d.url())
        .args(["import", "--format", "jsonl", &file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("as set up");
    // Some rows are in (the agreement is entry 1): then Ctrl-C.
    client
        .at_least(1 + 5)
        .read_log(1, 1)
        .await
        .expect("rows land");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("as set up");
    assert!(kill.success());
    let output = child.wait_with_output().expect("as set up");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    let len = log_len(&client).await;
    let done = len - 1;
    assert!((5..ROWS).contains(&done), "{done} rows in");
    assert_eq!(
        text(&output.stdout).trim(),
        format!("imported {done} new, 0 corrected, 0 unchanged, 0 failed")
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "stopped after line {done} (sequence {len}): interrupted"
        )),
        "{stderr}"
    );

    let again = import(&d.url(), &file, false);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout).trim(),
        format!(
            "imported {} new, 0 corrected, {done} unchanged, 0 failed",
            ROWS - done
        )
    );
    assert_eq!(log_len(&client).await, 1 + ROWS);
    d.shutdown().await.expect("as set up");
}

async fn submit(client: &Client, request_id: &str, report: Report) -> String {
    let req = SubmitReportRequest {
        request_id: request_id.into(),
        report: Some(report),
        with_proof: false,
    };
    client
        .submit_report(req)
        .await
        .expect("as set up")
        .record_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numbered_record_whose_number_is_taken_gets_the_store_s_next_one() {
    let dir = tempfile::tempdir().expect("as set up");
    let (a, ca) = daemon(&dir.path().join("a"), |_| {}).await;
    let numbered = submit(&ca, "numbered", report("")).await;
    assert!(numbered.starts_with("report-"), "{numbered}");
    let out = truce(&a.url(), &["export", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = String::from_utf8(out.stdout).expect("as set up");
    let file = write(dir.path(), "numbered.jsonl", &[exported.trim().to_owned()]);

    // In B a client took that number for a report of its own.
    let (b, cb) = daemon(&dir.path().join("b"), |_| {}).await;
    let mut own = report(&numbered);
    own.notes = "B's own".into();
    submit(&cb, "taken", own).await;
    let before = log_len(&cb).await;
    let out = import(&b.url(), &file, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 1 new, 0 corrected, 0 unchanged, 0 failed"
    );
    assert_eq!(log_len(&cb).await, before + 1);
    let kept = cb.get_report(&numbered).await.expect("B's own");
    assert_eq!(kept.report.expect("a report").notes, "B's own");
    let all = cb
        .query_all_reports(QueryReportsRequest::default(), 0)
        .await
        .expect("as set up");
    let moved = all
        .iter()
        .find(|v| {
            v.created
                .as_ref()
                .is_some_and(|c| c.request_id == "numbered")
        })
        .expect("imported under the request id it was exported with");
    let id = &moved.report.as_ref().expect("a report").id;
    assert!(id.starts_with("report-") && *id != numbered, "{id}");

    // Again: found under the number B gave it, nothing written.
    let out = import(&b.url(), &file, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 0 new, 0 corrected, 1 unchanged, 0 failed"
    );
    assert_eq!(log_len(&cb).await, before + 1);
    a.shutdown().await.expect("as set up");
    b.shutdown().await.expect("as set up");
}
