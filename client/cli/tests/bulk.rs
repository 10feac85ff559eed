//! The bulk commands run as a user would, against daemons started
//! in-process on 127.0.0.1:0: an export re-imported into its own store
//! writes nothing and recreates the same records in an empty one (server-
//! assigned ids, claims, status changes, sources and corrections too); a
//! rate-limited daemon slows a bulk run instead of stopping it; `submit
//! --file` streams its receipts and, interrupted, says where it stopped,
//! and reports each failed line in order (going on with --keep-going);
//! the ACLED CSV export writes ACLED's meanings and `truce import` reads
//! them back; GeoJSON places a report without coordinates at a centroid.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use truce_client::Client;
use truce_daemon::Settings;
use truce_proto::v1::{
    AddClaimRequest, AttachSourceRequest, Claim, ClaimKind, CorrectReportRequest, Correction,
    Envelope, EventType, EvidenceStatus, EvidenceStatusChange, Harm, QueryReportsRequest,
    ReportView, SetStatusRequest, Source, SourceAttachment, SourceKind, StatusChange,
    TimePrecision, envelope::Kind, source_attachment, status_change,
};

mod common;
use common::{SEED, daemon_with as daemon, text, truce};

async fn log_len(client: &Client) -> u64 {
    client.read_log(1, 1).await.expect("log").durable_sequence
}

fn seed_line(n: usize) -> Envelope {
    serde_json::from_str(SEED.lines().nth(n).expect("a seed line")).expect("an envelope")
}

/// The seed, then a report whose id the server assigns, with a correction,
/// an attached source, a DUPLICATE status and a claim (id assigned too).
async fn seed_with_server_ids(url: &str, client: &Client) -> String {
    let dir = tempfile::tempdir().expect("as set up");
    let file = dir.path().join("seed.jsonl");
    std::fs::write(&file, SEED).expect("as set up");
    let out = truce(
        url,
        &["submit", "--file", file.to_str().expect("as set up")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let Some(Kind::Report(mut req)) = seed_line(1).kind else {
        panic!("line 2 is a report")
    };
    req.request_id = "extra-report".into();
    req.report.as_mut().expect("as set up").id.clear();
    let id = client
        .submit_report(req)
        .await
        .expect("as set up")
        .record_id;
    assert!(id.starts_with("report-"), "{id}");
    let mut values = seed_line(1);
    let Some(Kind::Report(r)) = values.kind.take() else {
        unreachable!()
    };
    let mut values = r.report.expect("as set up");
    values.notes = "corrected notes".into();
    let correction = Correction {
        report_id: id.clone(),
        fields: Some(pbjson_types::FieldMask {
            paths: vec!["notes".into()],
        }),
        values: Some(values),
        reason: "a typo".into(),
        sources: vec![],
    };
    client
        .correct_report(CorrectReportRequest {
            correction: Some(correction),
            ..Default::default()
        })
        .await
        .expect("as set up");
    let source = Source {
        kind: SourceKind::Satellite.into(),
        url: "https://example.org/imagery/extra".into(),
        reliability: 1,
        credibility: 1,
        ..Source::default()
    };
    client
        .attach_source(AttachSourceRequest {
            attachment: Some(SourceAttachment {
                target: Some(source_attachment::Target::ReportId(id.clone())),
                source: Some(source.clone()),
                note: String::new(),
            }),
            ..Default::default()
        })
        .await
        .expect("as set up");
    client
        .set_status(SetStatusRequest {
            status: Some(StatusChange {
                target: Some(status_change::Target::ReportId(id.clone())),
                change: Some(status_change::Change::Evidence(EvidenceStatusChange {
                    status: EvidenceStatus::Duplicate.into(),
                    duplicate_of: "seed-report-1".into(),
                })),
                reason: "the same strike".into(),
                ..StatusChange::default()
            }),
            ..Default::default()
        })
        .await
        .expect("as set up");
    let Some(Kind::Claim(claim)) = seed_line(6).kind else {
        panic!("line 7 is a claim")
    };
    let mut claim = claim.claim.expect("as set up");
    claim.id.clear();
    claim.kind = ClaimKind::Denial.into();
    claim.report_ids = vec![id.clone(), "seed-report-2".into()];
    claim.sources = vec![source];
    client
        .add_claim(AddClaimRequest {
            claim: Some(claim),
            ..Default::default()
        })
        .await
        .expect("as set up");
    id
}

async fn views(client: &Client) -> Vec<ReportView> {
    client
        .query_all_reports(QueryReportsRequest::default(), 0)
        .await
        .expect("as set up")
}

/// A view as another store would hold it: the entries' bookkeeping
/// (sequences, times) left out; ids, the server-assigned ones too, kept.
fn comparable(v: &ReportView) -> (Option<truce_proto::v1::Report>, Vec<Claim>, usize) {
    (v.report.clone(), v.claims.clone(), v.history.len())
}

fn import(url: &str, file: &Path) -> std::process::Output {
    truce(
        url,
        &[
            "import",
            "--format",
            "jsonl",
            file.to_str().expect("as set up"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_reimported_writes_nothing_and_recreates_its_records_elsewhere() {
    let dir = tempfile::tempdir().expect("as set up");
    let (a, ca) = daemon(&dir.path().join("a"), |_| {}).await;
    let extra = seed_with_server_ids(&a.url(), &ca).await;
    let out = truce(&a.url(), &["export", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = dir.path().join("r.jsonl");
    std::fs::write(&file, &out.stdout).expect("as set up");

    // The same store: nothing is written.
    let before = log_len(&ca).await;
    let first = views(&ca).await;
    let out = import(&a.url(), &file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 0 new, 0 corrected, 4 unchanged, 0 failed"
    );
    assert_eq!(log_len(&ca).await, before, "an own export writes nothing");
    assert_eq!(views(&ca).await, first);

    // An empty store (with the agreement the reports name): the same
    // records, the same current views.
    let (b, cb) = daemon(&dir.path().join("b"), |_| {}).await;
    let Some(Kind::Agreement(agreement)) = seed_line(0).kind else {
        panic!("line 1 is the agreement")
    };
    cb.record_agreement(agreement).await.expect("as set up");
    let out = import(&b.url(), &file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "imported 4 new, 0 corrected, 0 unchanged, 0 failed"
    );
    let recreated = views(&cb).await;
    let want: Vec<_> = first.iter().map(comparable).collect();
    let got: Vec<_> = recreated.iter().map(comparable).collect();
    assert_eq!(got, want);
    for v in &first {
        let id = &v.report.as_ref().expect("as set up").id;
        let there = cb.get_report(id).await.expect("the same id");
        assert_eq!(comparable(&there), comparable(v));
    }
    let moved = cb
        .get_report(&extra)
        .await
        .expect("the server-assigned id kept");
    assert_eq!(
        moved.created.as_ref().expect("as set up").request_id,
        "extra-report"
    );
    assert_eq!(moved.duplicate_of, "seed-report-1");
    assert_eq!(
        moved.report.as_ref().expect("as set up").notes,
        "corrected notes"
    );

    // Again into B, and B's export back into A: nothing either way.
    let len_b = log_len(&cb).await;
    assert!(import(&b.url(), &file).status.success());
    assert_eq!(log_len(&cb).await, len_b);
    let out = truce(&b.url(), &["export", "--format", "jsonl"]);
    let back = dir.path().join("b.jsonl");
    std::fs::write(&back, &out.stdout).expect("as set up");
    let out = import(&a.url(), &back);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(log_len(&ca).await, before, "B's export of A's records");
    a.shutdown().await.expect("as set up");
    b.shutdown().await.expect("as set up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_daemon_slows_a_bulk_run_and_does_not_stop_it() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(dir.path(), |s| {
        s.rate_limit_per_sec = 100;
        s.rate_limit_burst = 3;
    })
    .await;
    let file = dir.path().join("seed.jsonl");
    std::fs::write(&file, SEED).expect("as set up");
    let out = truce(
        &d.url(),
        &["submit", "--file", file.to_str().expect("as set up")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(log_len(&client).await, 12);
    let out = truce(&d.url(), &["export", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(&file, &out.stdout).expect("as set up");
    let out = import(&d.url(), &file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 unchanged, 0 failed"));
    d.shutdown().await.expect("as set up");
}

#[test]
fn the_default_rate_limit_is_above_a_local_bulk_run() {
    let d = Settings::default();
    assert!(d.rate_limit_per_sec >= 20_000 && d.rate_limit_burst >= 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_streams_receipts_and_an_interrupted_run_says_where_it_stopped() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, _client) = daemon(dir.path(), |_| {}).await;
    let Some(Kind::Agreement(agreement)) = seed_line(0).kind else {
        panic!("line 1 is the agreement")
    };
    let lines: String = (0..3000)
        .map(|i| {
            let mut a = agreement.clone();
            a.request_id.clear();
            a.agreement.as_mut().expect("as set up").id = format!("bulk-{i}");
            let e = Envelope {
                kind: Some(Kind::Agreement(a)),
            };
            serde_json::to_string(&e).expect("as set up") + "\n"
        })
        .collect();
    let file = dir.path().join("bulk.jsonl");
    std::fs::write(&file, lines).expect("as set up");
    let file = file.to_str().expect("as set up");

    let mut child = Command::new(env!("CARGO_BIN_EXE_truce"))
        .env("TRUCE_SERVER", d.url())
        .args(["--json", "submit", "--file", file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("as set up");
    let mut stdout = BufReader::new(child.stdout.take().expect("as set up"));
    let mut seen = Vec::new();
    // Receipts arrive while the run goes on: five, then Ctrl-C.
    while seen.len() < 5 {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("as set up") > 0,
            "a receipt"
        );
        seen.push(line);
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("as set up");
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("as set up");
    seen.extend(rest.lines().map(str::to_owned));
    let output = child.wait_with_output().expect("as set up");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    let n = seen.len();
    assert!(n < 3000, "stopped before the end");
    let last: serde_json::Value = serde_json::from_str(seen[n - 1].trim()).expect("as set up");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("submitted {n} written, 0 duplicate, 0 failed")),
        "{stderr}"
    );
    let sequence = last["sequence"].as_str().expect("as set up");
    assert!(
        stderr.contains(&format!(
            "stopped after line {n} (sequence {sequence}): interrupted"
        )) && stderr.contains("re-running the file is safe"),
        "{stderr}"
    );

    // Re-running: what was in comes back as duplicates (the lines carry no
    // request id: it is derived from each line).
    let again = truce(&d.url(), &["submit", "--file", file]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains(&format!(
            "submitted {} written, {n} duplicate, 0 failed",
            3000 - n
        )),
        "{}",
        text(&again.stderr)
    );
    d.shutdown().await.expect("as set up");
}

/// A change to a seed report.
type Change = fn(&mut truce_proto::v1::Report);

/// The seed, and reports an ACLED export must map by ACLED's rules: a
/// week and a month known only as such, territory a country's own forces
/// take back, a harm range, social-media sources only, a place in Ukraine
/// whose region the centroid table lacks, and one in a country it lacks.
async fn seed_for_acled(url: &str, client: &Client) {
    let dir = tempfile::tempdir().expect("as set up");
    let file = dir.path().join("seed.jsonl");
    std::fs::write(&file, SEED).expect("as set up");
    let out = truce(
        url,
        &["submit", "--file", file.to_str().expect("as set up")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let Some(Kind::Report(base)) = seed_line(1).kind else {
        panic!("line 2 is a report")
    };
    let at = |s: &str| truce_cli::time::parse(s).ok();
    let extra: [(&str, Change); 4] = [
        ("acled-week", |r| {
            let o = r.occurred.get_or_insert_default();
            o.end = None;
            o.precision = TimePrecision::Week.into();
            r.harm = Some(Harm {
                fatalities_low: Some(2),
                fatalities_best: Some(4),
                fatalities_high: Some(9),
                injured: None,
            });
            r.sources
                .iter_mut()
                .for_each(|s| s.kind = SourceKind::SocialMedia.into());
        }),
        ("acled-month", |r| {
            let o = r.occurred.get_or_insert_default();
            o.end = None;
            o.precision = TimePrecision::Month.into();
            let loc = r.location.get_or_insert_default();
            loc.country = "UA".into();
            loc.admin1 = "Nowhere Oblast".into();
        }),
        ("acled-regained", |r| {
            r.event_type = EventType::TerritorySeized.into();
            r.alleged_perpetrators = vec!["RU".into()];
            r.affected_parties = vec!["UA".into()];
        }),
        ("acled-elsewhere", |r| {
            let loc = r.location.get_or_insert_default();
            loc.country = "FR".into();
            loc.admin1 = "Bretagne".into();
        }),
    ];
    for (id, change) in extra {
        let mut req = base.clone();
        req.request_id = id.into();
        let r = req.report.as_mut().expect("as set up");
        r.id = id.into();
        r.agreement_ids.clear();
        r.occurred.get_or_insert_default().start = at("2025-03-01");
        change(r);
        client.submit_report(req).await.expect("as set up");
    }
}

/// An ACLED CSV's header and rows, by report id (event_id_cnty).
fn acled_rows(csv_text: &[u8]) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(csv_text);
    let header = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader.records().map(|r| r.expect("a row")).collect();
    (header, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acled_export_uses_acled_s_meanings_and_reads_back() {
    let dir = tempfile::tempdir().expect("as set up");
    let (a, ca) = daemon(&dir.path().join("a"), |_| {}).await;
    seed_for_acled(&a.url(), &ca).await;
    let out = truce(&a.url(), &["export", "--format", "acled-csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (header, rows) = acled_rows(&out.stdout);
    let acled = "event_id_cnty event_date year time_precision disorder_type event_type \
        sub_event_type actor1 assoc_actor_1 inter1 actor2 assoc_actor_2 inter2 interaction \
        civilian_targeting iso region country admin1 admin2 admin3 location latitude \
        longitude geo_precision source source_scale notes fatalities tags timestamp";
    assert_eq!(header, acled.split_whitespace().collect::<Vec<_>>());
    let col = |n: &str| header.iter().position(|h| h == n).expect("a column");
    let row = |id: &str| {
        rows.iter()
            .find(|r| &r[col("event_id_cnty")] == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    let get = |id: &str, c: &str| row(id)[col(c)].to_owned();
    // Dates: the middle of the week (1–7 March) and the month.
    assert_eq!(
        (
            get("acled-week", "event_date"),
            get("acled-week", "time_precision")
        ),
        ("2025-03-04".into(), "2".into())
    );
    assert_eq!(
        (
            get("acled-month", "event_date"),
            get("acled-month", "time_precision")
        ),
        ("2025-03-15".into(), "3".into())
    );
    // Fatalities: the lowest figure; 0 when none was reported.
    assert_eq!(get("acled-week", "fatalities"), "2");
    assert_eq!(get("seed-report-1", "fatalities"), "0");
    // Region from the country; source_scale only for social media.
    assert_eq!(get("seed-report-1", "region"), "Europe");
    assert_eq!(get("acled-elsewhere", "region"), "");
    assert_eq!(get("acled-week", "source_scale"), "New media");
    assert_eq!(get("seed-report-1", "source_scale"), "");
    // Russia's forces taking territory in Russia: the government regains it.
    assert_eq!(get("acled-regained", "event_type"), "Battles");
    assert_eq!(
        get("acled-regained", "sub_event_type"),
        "Government regains territory"
    );
    assert_eq!(get("acled-regained", "disorder_type"), "Political violence");

    // Into another store with `truce import`: the periods, counts and
    // source kinds read back, and the same CSV comes out again.
    let file = dir.path().join("acled.csv");
    std::fs::write(&file, &out.stdout).expect("as set up");
    let (b, cb) = daemon(&dir.path().join("b"), |_| {}).await;
    let path = file.to_str().expect("as set up");
    let imported = truce(&b.url(), &["import", "--format", "acled-csv", path]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let week = cb
        .get_report("acled-week")
        .await
        .expect("imported")
        .report
        .expect("a report");
    let start = week.occurred.and_then(|o| o.start).map(|t| t.seconds);
    assert_eq!(start, at_seconds("2025-03-01"), "the week's start");
    let harm = week.harm.expect("a count");
    assert_eq!(
        (harm.fatalities_low, harm.fatalities_best),
        (Some(2), Some(2))
    );
    assert!(
        week.sources
            .iter()
            .all(|s| s.kind() == SourceKind::SocialMedia)
    );
    let none = cb
        .get_report("seed-report-1")
        .await
        .expect("imported")
        .report
        .expect("a report");
    assert_eq!(none.harm, None, "0: none reported");
    let again = truce(&b.url(), &["export", "--format", "acled-csv"]);
    let (_, back) = acled_rows(&again.stdout);
    let without_timestamp = |rows: &[csv::StringRecord]| -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().take(col("timestamp")).map(str::to_owned).collect())
            .collect();
        out.sort();
        out
    };
    assert_eq!(without_timestamp(&back), without_timestamp(&rows));
    a.shutdown().await.expect("as set up");
    b.shutdown().await.expect("as set up");
}

/// ACLED CSV both ways: into its own store it writes nothing; into an
/// empty one it recreates the reports under the same ids, a server-assigned
/// one too, and that store's export imported back writes nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acled_export_reimported_writes_nothing_and_keeps_its_ids_elsewhere() {
    let dir = tempfile::tempdir().expect("as set up");
    let (a, ca) = daemon(&dir.path().join("a"), |_| {}).await;
    let extra = seed_with_server_ids(&a.url(), &ca).await;
    let export = |url: &str, name: &str| {
        let out = truce(url, &["export", "--format", "acled-csv"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let file = dir.path().join(name);
        std::fs::write(&file, &out.stdout).expect("as set up");
        (file, acled_rows(&out.stdout).1)
    };
    let acled_import = |url: &str, file: &Path| {
        let path = file.to_str().expect("as set up");
        let out = truce(url, &["import", "--format", "acled-csv", path]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let (file, rows) = export(&a.url(), "a.csv");
    assert!(
        rows.iter().any(|r| r.get(0) == Some(extra.as_str())),
        "{extra}"
    );

    let before = log_len(&ca).await;
    let summary = acled_import(&a.url(), &file);
    assert_eq!(
        summary,
        "imported 0 new, 0 corrected, 4 unchanged, 0 failed"
    );
    assert_eq!(log_len(&ca).await, before, "an own export writes nothing");

    let (b, cb) = daemon(&dir.path().join("b"), |_| {}).await;
    let summary = acled_import(&b.url(), &file);
    assert_eq!(
        summary,
        "imported 4 new, 0 corrected, 0 unchanged, 0 failed"
    );
    for row in &rows {
        let id = row.get(0).expect("event_id_cnty");
        cb.get_report(id).await.expect("the same id");
    }
    let (back, rows_b) = export(&b.url(), "b.csv");
    let key = |rows: &[csv::StringRecord]| -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().take(30).map(str::to_owned).collect())
            .collect();
        out.sort();
        out
    };
    assert_eq!(key(&rows_b), key(&rows), "the same rows come out of B");
    let len_b = log_len(&cb).await;
    acled_import(&b.url(), &file);
    assert_eq!(log_len(&cb).await, len_b, "again into B: nothing");
    acled_import(&a.url(), &back);
    assert_eq!(log_len(&ca).await, before, "B's export of A's records");
    a.shutdown().await.expect("as set up");
    b.shutdown().await.expect("as set up");
}

fn at_seconds(s: &str) -> Option<i64> {
    truce_cli::time::parse(s).ok().map(|t| t.seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geojson_places_a_report_without_coordinates_at_a_centroid() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(dir.path(), |_| {}).await;
    seed_for_acled(&d.url(), &client).await;
    let out = truce(&d.url(), &["export", "--format", "geojson"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let geo: serde_json::Value = serde_json::from_slice(&out.stdout).expect("GeoJSON");
    let features = geo["features"].as_array().expect("features");
    let feature = |id: &str| {
        features
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let placed = |id: &str| {
        let f = feature(id);
        (
            f["geometry"]["coordinates"].clone(),
            f["properties"]["geo_precision"].clone(),
        )
    };
    // The seed's regions: Krasnodar Krai, Kursk Oblast, Donetsk Oblast.
    for id in ["seed-report-1", "seed-report-2", "seed-report-3"] {
        let (point, precision) = placed(id);
        assert_eq!(precision, "admin1-centroid", "{id}");
        assert!(point.as_array().is_some_and(|p| p.len() == 2), "{id}");
    }
    assert_eq!(
        placed("seed-report-1").0,
        serde_json::json!([39.2, 45.4]),
        "lon, lat"
    );
    assert_eq!(
        placed("acled-month"),
        (serde_json::json!([31.4, 49.0]), "country-centroid".into())
    );
    let elsewhere = feature("acled-elsewhere");
    assert!(elsewhere["geometry"].is_null(), "no centroid for FR");
    assert_eq!(elsewhere["properties"]["geo_precision"], "unknown");
    d.shutdown().await.expect("as set up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_reports_each_failed_line_and_goes_on_with_keep_going() {
    let dir = tempfile::tempdir().expect("as set up");
    let (d, client) = daemon(dir.path(), |_| {}).await;
    let mut lines: Vec<String> = SEED.lines().map(str::to_owned).collect();
    // Line 2: not JSON; line 3: a report on an agreement nobody recorded.
    let mut orphan = seed_line(1);
    if let Some(Kind::Report(r)) = orphan.kind.as_mut() {
        r.request_id = "orphan-report".into();
        if let Some(report) = r.report.as_mut() {
            report.id = "orphan-report".into();
            report.agreement_ids = vec!["no-such-agreement".into()];
        }
    }
    lines.insert(1, "{not json".into());
    lines.insert(2, serde_json::to_string(&orphan).expect("as set up"));
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("as set up");
    let file = file.to_str().expect("as set up");

    let out = truce(&d.url(), &["submit", "--file", file, "--keep-going"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{file}:2: ")), "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:3: ")) && stderr.contains("no-such-agreement"),
        "{stderr}"
    );
    assert!(
        stderr.contains("submitted 12 written, 0 duplicate, 2 failed"),
        "{stderr}"
    );
    // One receipt row per accepted line, in line order, after the header.
    let stdout = text(&out.stdout);
    let rows: Vec<usize> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let expected: Vec<usize> = (1..=14).filter(|n| *n != 2 && *n != 3).collect();
    assert_eq!(rows, expected, "{stdout}");
    assert_eq!(log_len(&client).await, 12);

    // Without --keep-going the run stops at the first failure (line 2,
    // refused before it is sent) and writes nothing after it.
    let again = truce(&d.url(), &["submit", "--file", file]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("submitted 0 written, 1 duplicate, 1 failed"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(log_len(&client).await, 12);
    d.shutdown().await.expect("as set up");
}
