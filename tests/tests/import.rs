//! `truce_cli::import` against real daemons: JSON Lines and ACLED CSV
//! round trips, a hand-written ACLED sample (tests/data/acled-sample.csv),
//! revised rows as corrections, re-imports that write nothing, and strict
//! mode.

use std::path::PathBuf;

use truce_cli::{
    export::{ACLED_COLUMNS, write_acled_csv},
    import::{Format, ImportOptions, ImportSummary, import},
};
use truce_client::Client;
use truce_proto::v1::{
    AttachSourceRequest, EntryKind, EvidenceStatus, EvidenceStatusChange, QueryReportsRequest,
    ReportView, SetStatusRequest, Source, SourceAttachment, SourceKind, StatusChange,
    source_attachment, status_change,
};
use truce_tests::{TestDaemon, seed};

/// Rows 2, 3, 4, 6 and 9 of the sample are good; 5 (a 32nd of March),
/// 7 (time_precision 4) and 8 (latitude 95, refused by the daemon) are not.
const SAMPLE_BAD_LINES: [u64; 3] = [5, 7, 8];

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/acled-sample.csv")
}

fn sample() -> String {
    std::fs::read_to_string(sample_path()).expect("the sample")
}

async fn run(client: &Client, format: Format, text: &str, strict: bool) -> ImportSummary {
    let options = ImportOptions {
        strict,
        file_label: "sample".into(),
        ..ImportOptions::default()
    };
    // The input is read on a thread of its own: it is owned.
    let input = std::io::Cursor::new(text.as_bytes().to_vec());
    import(client, format, input, options)
        .await
        .expect("the import runs")
}

fn counts(s: &ImportSummary) -> (u64, u64, u64, u64) {
    (s.new, s.corrected, s.unchanged, s.failed)
}

async fn log_len(client: &Client) -> u64 {
    client
        .read_log(1, 1)
        .await
        .expect("the log")
        .durable_sequence
}

async fn views(client: &Client) -> Vec<ReportView> {
    client
        .query_all_reports(QueryReportsRequest::default(), 0)
        .await
        .expect("the reports")
}

/// What `truce export --format jsonl` writes.
fn jsonl(views: &[ReportView]) -> String {
    views
        .iter()
        .map(|v| serde_json::to_string(v).expect("JSON") + "\n")
        .collect()
}

/// What `truce export --format acled-csv` writes.
fn acled_csv(views: &[ReportView]) -> String {
    let mut out = Vec::new();
    write_acled_csv(&mut out, views).expect("CSV");
    String::from_utf8(out).expect("UTF-8")
}

/// The fields of one CSV line (quotes and doubled quotes; no line breaks
/// inside fields, which neither the sample nor the seed has).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut field) = (Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

fn col(name: &str) -> usize {
    ACLED_COLUMNS
        .iter()
        .position(|c| *c == name)
        .expect("an ACLED column")
}

/// The rows of an ACLED CSV without its header and timestamp column.
fn without_timestamp(csv: &str) -> Vec<Vec<String>> {
    let mut lines = csv.lines();
    assert_eq!(fields(lines.next().expect("a header")), ACLED_COLUMNS);
    lines
        .map(|l| {
            let mut f = fields(l);
            assert_eq!(f.len(), ACLED_COLUMNS.len(), "{l}");
            f.remove(col("timestamp"));
            f
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_round_trip_into_another_daemon() {
    let a = TestDaemon::start().await;
    seed::submit_all(&a.client).await;
    let exported = views(&a.client).await;
    assert_eq!(exported.len(), 3);
    assert!(exported.iter().any(|v| v.claims.len() == 2), "not vacuous");
    let text = jsonl(&exported);

    let b = TestDaemon::start().await;
    b.client.record_agreement(seed::agreement()).await.unwrap();
    let s = run(&b.client, Format::Jsonl, &text, false).await;
    assert_eq!(counts(&s), (3, 0, 0, 0), "{:?}", s.errors);
    let compare = |want: Vec<ReportView>| {
        let client = b.client.clone();
        async move {
            for v in want {
                let report = v.report.clone().unwrap();
                let got = client.get_report(&report.id).await.unwrap();
                assert_eq!(got.report, Some(report), "the report, field for field");
                assert_eq!(got.claims, v.claims, "its claims");
                assert_eq!(got.duplicate_of, v.duplicate_of);
            }
        }
    };
    compare(exported.clone()).await;
    // The agreement, three reports, three claims (one about two reports).
    assert_eq!(log_len(&b.client).await, 7);

    let again = run(&b.client, Format::Jsonl, &text, false).await;
    assert_eq!(counts(&again), (0, 0, 3, 0), "{:?}", again.errors);
    assert_eq!(log_len(&b.client).await, 7, "a re-import writes nothing");

    // A changes: a status and an attached source reach B as the same
    // kinds of entry.
    a.client
        .set_status(SetStatusRequest {
            request_id: "a-status".into(),
            status: Some(StatusChange {
                target: Some(status_change::Target::ReportId("seed-report-2".into())),
                change: Some(status_change::Change::Evidence(EvidenceStatusChange {
                    status: EvidenceStatus::Corroborated.into(),
                    duplicate_of: String::new(),
                })),
                reason: "second source".into(),
                ..StatusChange::default()
            }),
            with_proof: false,
        })
        .await
        .unwrap();
    a.client
        .attach_source(AttachSourceRequest {
            request_id: "a-source".into(),
            attachment: Some(SourceAttachment {
                target: Some(source_attachment::Target::ReportId("seed-report-3".into())),
                source: Some(Source {
                    kind: SourceKind::Satellite.into(),
                    url: "https://example.org/imagery/3".into(),
                    reliability: 1,
                    credibility: 1,
                    ..Source::default()
                }),
                note: String::new(),
            }),
            with_proof: false,
        })
        .await
        .unwrap();
    let changed = views(&a.client).await;
    let s = run(&b.client, Format::Jsonl, &jsonl(&changed), false).await;
    assert_eq!(counts(&s), (0, 2, 1, 0), "{:?}", s.errors);
    assert_eq!(log_len(&b.client).await, 9);
    compare(changed).await;
    let two = b.client.get_report("seed-report-2").await.unwrap();
    let last = two.history.last().unwrap();
    assert_eq!(last.kind(), EntryKind::Status);
    assert!(last.request_id.starts_with("import-status-"), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_bad_lines_and_a_conflicting_claim_fail_alone() {
    let a = TestDaemon::start().await;
    seed::submit_all(&a.client).await;
    let exported = views(&a.client).await;
    let b = TestDaemon::start().await;
    b.client.record_agreement(seed::agreement()).await.unwrap();
    assert_eq!(
        counts(&run(&b.client, Format::Jsonl, &jsonl(&exported), false).await),
        (3, 0, 0, 0)
    );
    let before = log_len(&b.client).await;

    // Line 1 unchanged; line 2 not JSON; line 3 blank; line 4 a bare
    // report (new); line 5 report 3 with a claim whose id exists here with
    // other content.
    let mut bare = seed::report(1).report.unwrap();
    bare.id = "bare-1".into();
    let mut conflicting = exported[2].clone();
    conflicting.claims[1].statement = "something else".into();
    let text = format!(
        "{}\n{{not json\n\n{}\n{}\n",
        serde_json::to_string(&exported[0]).unwrap(),
        serde_json::to_string(&bare).unwrap(),
        serde_json::to_string(&conflicting).unwrap(),
    );
    let s = run(&b.client, Format::Jsonl, &text, false).await;
    assert_eq!(counts(&s), (1, 0, 1, 2), "{:?}", s.errors);
    let lines: Vec<u64> = s.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 5]);
    assert!(s.errors[0].reason.contains("not JSON"), "{:?}", s.errors);
    assert!(
        s.errors[1].reason.contains("seed-claim-ru-denies-3")
            && s.errors[1].reason.contains("other content"),
        "{:?}",
        s.errors
    );
    assert_eq!(log_len(&b.client).await, before + 1, "only the bare report");
    let got = b.client.get_report("bare-1").await.unwrap();
    assert_eq!(got.report, Some(bare));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acled_csv_round_trip() {
    let a = TestDaemon::start().await;
    seed::submit_all(&a.client).await;
    let first = acled_csv(&views(&a.client).await);
    assert_eq!(first.lines().count(), 4);

    let c = TestDaemon::start().await;
    let s = run(&c.client, Format::AcledCsv, &first, false).await;
    assert_eq!(counts(&s), (3, 0, 0, 0), "{:?}", s.errors);
    let second = acled_csv(&views(&c.client).await);
    assert_eq!(without_timestamp(&first), without_timestamp(&second));
    // Our record ids come back (through the truce_id tag), nothing renamed.
    let imported = c.client.get_report("seed-report-1").await.unwrap();
    assert_eq!(imported.report.unwrap().reported_by, "ACLED");
    let renamed = c
        .client
        .get_report("acled-seed-report-1")
        .await
        .unwrap_err();
    assert_eq!(renamed.code(), Some(tonic::Code::NotFound));

    // A's export into A: nothing written, nothing duplicated.
    let len_a = log_len(&a.client).await;
    let own = run(&a.client, Format::AcledCsv, &first, false).await;
    assert_eq!(counts(&own), (0, 0, 3, 0), "{:?}", own.errors);
    assert_eq!(log_len(&a.client).await, len_a);

    let len = log_len(&c.client).await;
    let again = run(&c.client, Format::AcledCsv, &second, false).await;
    assert_eq!(counts(&again), (0, 0, 3, 0), "{:?}", again.errors);
    assert_eq!(log_len(&c.client).await, len);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_acled_sample() {
    let d = TestDaemon::start().await;
    let text = sample();
    let s = run(&d.client, Format::AcledCsv, &text, false).await;
    assert_eq!(counts(&s), (5, 0, 0, 3), "{:?}", s.errors);
    let lines: Vec<u64> = s.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, SAMPLE_BAD_LINES);
    assert!(s.errors[0].reason.contains("event_date \"2025-03-32\""));
    assert!(s.errors[1].reason.contains("time_precision \"4\""));
    assert!(
        s.errors[2].reason.contains("report.location.latitude"),
        "the daemon's field message: {:?}",
        s.errors[2]
    );
    assert_eq!(log_len(&d.client).await, 5);

    let view = d.client.get_report("acled-UKR210001").await.unwrap();
    let r = view.report.unwrap();
    assert_eq!(
        r.target_class(),
        truce_proto::v1::TargetClass::OtherCivilian
    );
    assert_eq!(r.alleged_perpetrators, ["RU"]);
    assert_eq!(r.affected_parties, ["UA"]);
    assert_eq!(r.sources.len(), 2);

    // Exported back: the same values in the columns we hold; actors and
    // countries come back as the codes they were mapped to.
    let good: Vec<Vec<String>> = text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| !SAMPLE_BAD_LINES.contains(&(*i as u64 + 1)))
        .map(|(_, l)| fields(l))
        .collect();
    let exported = acled_csv(&views(&d.client).await);
    let back: Vec<Vec<String>> = exported.lines().skip(1).map(fields).collect();
    assert_eq!(back.len(), good.len());
    let held = [
        "event_id_cnty",
        "event_date",
        "year",
        "time_precision",
        "disorder_type",
        "event_type",
        "sub_event_type",
        "civilian_targeting",
        "admin1",
        "admin2",
        "admin3",
        "location",
        "geo_precision",
        "source",
        "notes",
        "fatalities",
        "tags",
    ];
    let code = |name: &str| truce_cli::import::acled::party_of(name);
    for (want, got) in good.iter().zip(&back) {
        for c in held {
            assert_eq!(got[col(c)], want[col(c)], "{c} of {}", want[0]);
        }
        for c in ["latitude", "longitude"] {
            let n = |s: &str| s.parse::<f64>().unwrap();
            assert_eq!(n(&got[col(c)]), n(&want[col(c)]), "{c} of {}", want[0]);
        }
        // Actors by ACLED's names, read back to the same party codes
        // (the sample's date ranges are not ours to know).
        for c in ["actor1", "actor2"] {
            assert_eq!(
                code(&got[col(c)]),
                code(&want[col(c)]),
                "{c} of {}",
                want[0]
            );
        }
        // inter2 and interaction are not compared: a party code does not
        // say "civilians" unless civilians were targeted (docs/acled.md).
        for c in ["country", "iso", "inter1"] {
            assert_eq!(got[col(c)], want[col(c)], "{c} of {}", want[0]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revised_row_becomes_one_correction() {
    let d = TestDaemon::start().await;
    let original = sample();
    assert_eq!(
        counts(&run(&d.client, Format::AcledCsv, &original, false).await),
        (5, 0, 0, 3)
    );
    let before = log_len(&d.client).await;

    // ACLED revises UKR210003 (line 6): fatalities and notes.
    let revised = original
        .replace(",0,energy infrastructure,", ",3,energy infrastructure,")
        .replace("causing outages;", "causing outages and killing 3;");
    assert_eq!(
        revised
            .lines()
            .filter(|l| l.starts_with("UKR210003"))
            .count(),
        1
    );
    assert_ne!(revised, original);
    let s = run(&d.client, Format::AcledCsv, &revised, false).await;
    assert_eq!(counts(&s), (0, 1, 4, 3), "{:?}", s.errors);
    assert_eq!(log_len(&d.client).await, before + 1, "exactly one entry");

    let view = d.client.get_report("acled-UKR210003").await.unwrap();
    let r = view.report.clone().unwrap();
    assert!(r.notes.contains("killing 3"), "{}", r.notes);
    assert_eq!(r.harm.and_then(|h| h.fatalities_best), Some(3));
    assert_eq!(view.history.len(), 2);
    let fix = &view.history[1];
    assert_eq!(fix.kind(), EntryKind::Correction);
    assert!(fix.request_id.starts_with("import-fix-"), "{fix:?}");
    assert!(
        fix.summary.contains("revised in the source: sample line 6"),
        "{}",
        fix.summary
    );
    // The original stays readable as of its creating entry.
    let then = d
        .client
        .get_report_at("acled-UKR210003", view.history[0].sequence)
        .await
        .unwrap()
        .report
        .unwrap();
    assert!(!then.notes.contains("killing 3"));
    assert_eq!(then.harm, None, "ACLED's 0 is none reported");

    // The revised file again: nothing to write.
    let s = run(&d.client, Format::AcledCsv, &revised, false).await;
    assert_eq!(counts(&s), (0, 0, 5, 3), "{:?}", s.errors);
    assert_eq!(log_len(&d.client).await, before + 1);

    // Back and forth: each revision is a new correction, not a duplicate
    // of an earlier one.
    for (text, fatalities) in [(&original, None), (&revised, Some(3))] {
        let s = run(&d.client, Format::AcledCsv, text, false).await;
        assert_eq!(counts(&s), (0, 1, 4, 3), "{:?}", s.errors);
        let r = d.client.get_report("acled-UKR210003").await.unwrap();
        assert_eq!(
            r.report.unwrap().harm.and_then(|h| h.fatalities_best),
            fatalities
        );
    }
    assert_eq!(log_len(&d.client).await, before + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_stops_at_the_first_bad_row() {
    let d = TestDaemon::start().await;
    let s = run(&d.client, Format::AcledCsv, &sample(), true).await;
    assert_eq!(counts(&s), (3, 0, 0, 1), "{:?}", s.errors);
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].line, 5);
    assert_eq!(log_len(&d.client).await, 3);
    for id in ["acled-UKR210001", "acled-UKR210002", "acled-RUS18001"] {
        assert!(d.client.get_report(id).await.is_ok(), "{id}");
    }
    for id in ["acled-UKR210003", "acled-RUS18004"] {
        let e = d.client.get_report(id).await.unwrap_err();
        assert_eq!(e.code(), Some(tonic::Code::NotFound), "{id}");
    }
}
