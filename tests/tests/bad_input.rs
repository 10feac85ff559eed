//! Every input rule: a request that breaks it gets the right code with a
//! message naming the field, and nothing is written.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use pbjson_types::Timestamp;
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;
use truce_proto::v1::{
    BackupRequest, GetReportRequest, QueryReportsRequest, RecordAgreementRequest, Source,
    SubmitReportRequest, SubscribeFilter, SubscribeRequest,
};
use truce_tests::{TestDaemon, seed};

type ReportCase = (
    &'static str,
    fn(&mut SubmitReportRequest),
    Code,
    &'static str,
);
type AgreementCase = (
    &'static str,
    fn(&mut RecordAgreementRequest),
    Code,
    &'static str,
);

fn now_plus_days(days: i64) -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Timestamp {
        seconds: now + days * 86_400,
        nanos: 0,
    }
}

fn report_cases() -> Vec<ReportCase> {
    vec![
        (
            "no report",
            |r| r.report = None,
            Code::InvalidArgument,
            "report",
        ),
        (
            "bad request id",
            |r| r.request_id = "white space".into(),
            Code::InvalidArgument,
            "request_id",
        ),
        (
            "long request id",
            |r| r.request_id = "x".repeat(129),
            Code::InvalidArgument,
            "request_id",
        ),
        (
            "bad record id",
            |r| rep(r).id = "a/b".into(),
            Code::InvalidArgument,
            "report.id",
        ),
        (
            "no occurred",
            |r| rep(r).occurred = None,
            Code::InvalidArgument,
            "report.occurred",
        ),
        (
            "no occurred start",
            |r| occ(r).start = None,
            Code::InvalidArgument,
            "report.occurred.start",
        ),
        (
            "end before start",
            |r| {
                let start = occ(r).start.unwrap();
                occ(r).end = Some(Timestamp {
                    seconds: start.seconds - 1,
                    nanos: 0,
                });
            },
            Code::InvalidArgument,
            "report.occurred.end",
        ),
        (
            "occurred in the future",
            |r| {
                occ(r).start = Some(now_plus_days(2));
                occ(r).end = None;
            },
            Code::InvalidArgument,
            "report.occurred.start",
        ),
        (
            "bad nanos",
            |r| {
                occ(r).start = Some(Timestamp {
                    seconds: 0,
                    nanos: -5,
                })
            },
            Code::InvalidArgument,
            "report.occurred.start",
        ),
        (
            "precision unspecified",
            |r| occ(r).precision = 0,
            Code::InvalidArgument,
            "report.occurred.precision",
        ),
        (
            "no location",
            |r| rep(r).location = None,
            Code::InvalidArgument,
            "report.location",
        ),
        (
            "bad country",
            |r| loc(r).country = "Russia".into(),
            Code::InvalidArgument,
            "report.location.country",
        ),
        (
            "NaN latitude",
            |r| {
                loc(r).latitude = Some(f64::NAN);
                loc(r).longitude = Some(30.0);
            },
            Code::InvalidArgument,
            "report.location.latitude",
        ),
        (
            "latitude out of range",
            |r| {
                loc(r).latitude = Some(91.0);
                loc(r).longitude = Some(30.0);
            },
            Code::InvalidArgument,
            "report.location.latitude",
        ),
        (
            "longitude out of range",
            |r| {
                loc(r).latitude = Some(45.0);
                loc(r).longitude = Some(-180.5);
            },
            Code::InvalidArgument,
            "report.location.longitude",
        ),
        (
            "latitude without longitude",
            |r| loc(r).latitude = Some(45.0),
            Code::InvalidArgument,
            "report.location.longitude",
        ),
        (
            "event type unspecified",
            |r| rep(r).event_type = 0,
            Code::InvalidArgument,
            "report.event_type",
        ),
        (
            "unknown event type number",
            |r| rep(r).event_type = 999,
            Code::InvalidArgument,
            "report.event_type",
        ),
        (
            "weapon unspecified",
            |r| rep(r).weapon = 0,
            Code::InvalidArgument,
            "report.weapon",
        ),
        (
            "target unspecified",
            |r| rep(r).target_class = 0,
            Code::InvalidArgument,
            "report.target_class",
        ),
        (
            "attribution unknown number",
            |r| rep(r).attribution = -3,
            Code::InvalidArgument,
            "report.attribution",
        ),
        (
            "evidence unspecified",
            |r| rep(r).evidence_status = 0,
            Code::InvalidArgument,
            "report.evidence_status",
        ),
        (
            "no perpetrator while alleged",
            |r| rep(r).alleged_perpetrators.clear(),
            Code::InvalidArgument,
            "report.alleged_perpetrators",
        ),
        (
            "no reporting party",
            |r| rep(r).reported_by.clear(),
            Code::InvalidArgument,
            "report.reported_by",
        ),
        (
            "fatalities low above best",
            |r| {
                rep(r).harm = Some(truce_proto::v1::Harm {
                    fatalities_low: Some(5),
                    fatalities_best: Some(2),
                    ..Default::default()
                });
            },
            Code::InvalidArgument,
            "report.harm.fatalities_best",
        ),
        (
            "fatalities best above high",
            |r| {
                rep(r).harm = Some(truce_proto::v1::Harm {
                    fatalities_best: Some(5),
                    fatalities_high: Some(2),
                    ..Default::default()
                });
            },
            Code::InvalidArgument,
            "report.harm.fatalities_high",
        ),
        (
            "no sources",
            |r| rep(r).sources.clear(),
            Code::InvalidArgument,
            "report.sources",
        ),
        (
            "65 sources",
            |r| {
                let s = rep(r).sources[0].clone();
                rep(r).sources = vec![s; 65];
            },
            Code::InvalidArgument,
            "report.sources",
        ),
        (
            "non-http url",
            |r| rep(r).sources[0].url = "ftp://example.org/x".into(),
            Code::InvalidArgument,
            "report.sources[0].url",
        ),
        (
            "javascript url",
            |r| rep(r).sources[0].url = "javascript:alert(1)".into(),
            Code::InvalidArgument,
            "report.sources[0].url",
        ),
        (
            "source without url or identifier",
            |r| {
                rep(r).sources[0] = Source {
                    kind: 3,
                    reliability: 1,
                    credibility: 1,
                    ..Default::default()
                };
            },
            Code::InvalidArgument,
            "report.sources[0].url",
        ),
        (
            "source kind unspecified",
            |r| rep(r).sources[0].kind = 0,
            Code::InvalidArgument,
            "report.sources[0].kind",
        ),
        (
            "bad capture hash",
            |r| {
                rep(r).sources[0].capture = Some(truce_proto::v1::Capture {
                    sha256: "ABC".into(),
                    captured_at: Some(Timestamp::default()),
                    ..Default::default()
                });
            },
            Code::InvalidArgument,
            "report.sources[0].capture.sha256",
        ),
        (
            "notes too long",
            |r| rep(r).notes = "n".repeat(8193),
            Code::InvalidArgument,
            "report.notes",
        ),
        (
            "target name too long",
            |r| rep(r).target_name = "t".repeat(513),
            Code::InvalidArgument,
            "report.target_name",
        ),
        (
            "too many tags",
            |r| rep(r).tags = vec!["t".into(); 33],
            Code::InvalidArgument,
            "report.tags",
        ),
        (
            "entry over 64 KiB",
            |r| {
                // Each field within its limit; together past the entry cap.
                let s = rep(r).sources[0].clone();
                let mut sources = Vec::new();
                for i in 0..64 {
                    let mut s = s.clone();
                    s.url = format!("https://example.org/{i}/{}", "p".repeat(1900));
                    sources.push(s);
                }
                rep(r).sources = sources;
            },
            Code::InvalidArgument,
            "entry",
        ),
        (
            "unknown agreement",
            |r| rep(r).agreement_ids = vec!["no-such-agreement".into()],
            Code::NotFound,
            "report.agreement_ids[0]",
        ),
    ]
}

fn agreement_cases() -> Vec<AgreementCase> {
    vec![
        (
            "no title",
            |a| agr(a).title.clear(),
            Code::InvalidArgument,
            "agreement.title",
        ),
        (
            "no parties",
            |a| agr(a).parties.clear(),
            Code::InvalidArgument,
            "agreement.parties",
        ),
        (
            "party role unspecified",
            |a| agr(a).parties[0].role = 0,
            Code::InvalidArgument,
            "agreement.parties[0].role",
        ),
        (
            "form unspecified",
            |a| agr(a).form = 0,
            Code::InvalidArgument,
            "agreement.form",
        ),
        (
            "no declared_at",
            |a| agr(a).declared_at = None,
            Code::InvalidArgument,
            "agreement.declared_at",
        ),
        (
            "no effective_from",
            |a| agr(a).effective_from.clear(),
            Code::InvalidArgument,
            "agreement.effective_from",
        ),
        (
            "expires before it starts",
            |a| {
                agr(a).expires_at = Some(Timestamp {
                    seconds: 0,
                    nanos: 0,
                })
            },
            Code::InvalidArgument,
            "agreement.expires_at",
        ),
        (
            "protected target unspecified",
            |a| agr(a).scope.as_mut().unwrap().protected_targets.push(0),
            Code::InvalidArgument,
            "agreement.scope.protected_targets[5]",
        ),
        (
            "bad full-text hash",
            |a| {
                agr(a).full_text = Some(truce_proto::v1::TextReference {
                    url: "https://example.org/t".into(),
                    sha256: "zz".into(),
                    ..Default::default()
                });
            },
            Code::InvalidArgument,
            "agreement.full_text.sha256",
        ),
        (
            "bad area bbox",
            |a| {
                agr(a).scope.as_mut().unwrap().areas[0].bbox = Some(truce_proto::v1::BoundingBox {
                    south: 50.0,
                    north: 40.0,
                    west: 0.0,
                    east: 1.0,
                });
            },
            Code::InvalidArgument,
            "agreement.scope.areas[0].bbox.north",
        ),
        (
            "unknown superseded agreement",
            |a| agr(a).supersedes = "older-agreement".into(),
            Code::NotFound,
            "agreement.supersedes",
        ),
        (
            "supersedes itself",
            |a| {
                let id = agr(a).id.clone();
                agr(a).supersedes = id;
            },
            Code::InvalidArgument,
            "agreement.supersedes",
        ),
    ]
}

fn rep(r: &mut SubmitReportRequest) -> &mut truce_proto::v1::Report {
    r.report.as_mut().unwrap()
}
fn occ(r: &mut SubmitReportRequest) -> &mut truce_proto::v1::TimeInterval {
    rep(r).occurred.as_mut().unwrap()
}
fn loc(r: &mut SubmitReportRequest) -> &mut truce_proto::v1::Location {
    rep(r).location.as_mut().unwrap()
}
fn agr(a: &mut RecordAgreementRequest) -> &mut truce_proto::v1::Agreement {
    a.agreement.as_mut().unwrap()
}

#[tokio::test]
async fn every_rule_names_its_field_and_writes_nothing() {
    let d = TestDaemon::start().await;
    let mut failures = Vec::new();

    for (name, mutate, code, field) in agreement_cases() {
        let mut req = seed::agreement();
        req.request_id = format!("bad-agreement-{name}").replace(' ', "-");
        mutate(&mut req);
        match d.client.record_agreement(req).await {
            Ok(r) => failures.push(format!("{name}: accepted as sequence {}", r.sequence)),
            Err(e) => {
                if e.code() != Some(code) || !e.to_string().contains(field) {
                    failures.push(format!("{name}: want {code:?} naming {field}, got {e}"));
                }
            }
        }
    }
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 0);

    // Reports refer to the agreement, so record it first.
    d.client.record_agreement(seed::agreement()).await.unwrap();
    for (name, mutate, code, field) in report_cases() {
        let mut req = seed::report(0);
        req.request_id = format!("bad-report-{name}").replace(' ', "-");
        mutate(&mut req);
        match d.client.submit_report(req).await {
            Ok(r) => failures.push(format!("{name}: accepted as sequence {}", r.sequence)),
            Err(e) => {
                if e.code() != Some(code) || !e.to_string().contains(field) {
                    failures.push(format!("{name}: want {code:?} naming {field}, got {e}"));
                }
            }
        }
    }
    // The client crate fills in a missing request id; a raw client can
    // still send none.
    let mut raw = truce_proto::v1::truce_client::TruceClient::connect(d.running.url())
        .await
        .unwrap();
    let mut req = seed::report(0);
    req.request_id.clear();
    let status = raw.submit_report(req).await.unwrap_err();
    if status.code() != Code::InvalidArgument || !status.message().contains("request_id") {
        failures.push(format!("no request id: got {status:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        d.client.read_log(1, 0).await.unwrap().durable_sequence,
        1,
        "no rejected request wrote anything"
    );
    // A rejected request id is not burnt: the valid request still goes in.
    let mut ok = seed::report(0);
    ok.request_id = "bad-report-no-sources".into();
    assert_eq!(d.client.submit_report(ok).await.unwrap().sequence, 2);
    d.stop().await;
}

#[tokio::test]
async fn oversized_messages_are_refused_by_the_transport() {
    let d = TestDaemon::start().await;
    // Past the 1 MiB message limit.
    let mut big = seed::report(0);
    big.report.as_mut().unwrap().notes = "x".repeat(2 * 1024 * 1024);
    let err = d.client.submit_report(big).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::OutOfRange), "{err}");
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 0);
    d.stop().await;
}

/// `bytes` with the first occurrence of `from` replaced by `to` (same
/// length, so the encoding's lengths still hold).
fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the pattern is in the encoding");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[tokio::test]
async fn undecodable_requests_are_the_callers_mistake_on_every_method() {
    let d = TestDaemon::start().await;
    let url = d.running.url();
    let mut report = seed::report(0);
    rep(&mut report).notes = "NOTES".into();
    let report = report.encode_to_vec();
    let get = GetReportRequest {
        id: "report-ID".into(),
        ..GetReportRequest::default()
    }
    .encode_to_vec();
    let subscribe = SubscribeRequest {
        filter: Some(SubscribeFilter {
            perpetrator: "PARTY".into(),
            ..SubscribeFilter::default()
        }),
        ..SubscribeRequest::default()
    }
    .encode_to_vec();
    // Groups nested past prost's recursion limit (an unknown field 15).
    let nested: Vec<u8> = [vec![0x7b; 150], vec![0x7c; 150]].concat();
    let cases: Vec<(&str, &str, Vec<u8>, Option<&str>)> = vec![
        (
            "garbage",
            "SubmitReport",
            vec![0xff, 0xff, 0xff, 0xff, 0x0f],
            None,
        ),
        (
            "truncated",
            "SubmitReport",
            report[..report.len() - 3].to_vec(),
            Some("report"),
        ),
        ("nested too deep", "SubmitReport", nested.clone(), None),
        (
            "invalid UTF-8 in a write",
            "SubmitReport",
            patched(&report, b"NOTES", b"NO\xff\xfeS"),
            Some("report.notes"),
        ),
        (
            "invalid UTF-8 in a read",
            "GetReport",
            patched(&get, b"ID", b"\xc3\x28"),
            Some("id"),
        ),
        (
            "invalid UTF-8 in a stream's request",
            "Subscribe",
            patched(&subscribe, b"PARTY", b"PA\xffTY"),
            Some("filter.perpetrator"),
        ),
        (
            "nested too deep in a stream's request",
            "Subscribe",
            nested,
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (name, method, bytes, field) in cases {
        let status = match truce_tests::raw::call(&url, method, bytes).await {
            Ok(_) => {
                failures.push(format!("{name}: answered"));
                continue;
            }
            Err(status) => status,
        };
        let info = status.get_details_error_info();
        let violation = status
            .get_details_bad_request()
            .and_then(|b| b.field_violations.into_iter().next())
            .map(|v| v.field);
        if status.code() != Code::InvalidArgument
            || info.is_none_or(|i| i.reason != "UNDECODABLE" || i.domain != "truce")
            || violation.as_deref() != field
        {
            failures.push(format!("{name}: {status:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The daemon is still serving and wrote nothing.
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 0);
    d.client.record_agreement(seed::agreement()).await.unwrap();
    d.stop().await;
}

#[tokio::test]
async fn control_characters_are_refused_in_every_string_naming_the_field() {
    let d = TestDaemon::start().await;
    let url = d.running.url();
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let mut title = seed::report(0);
    rep(&mut title).sources[0].title = "Headline\u{7}".into();
    let mut tag = seed::report(1);
    rep(&mut tag).tags = vec!["ok".into(), "\u{1b}]0;pwned\u{7}".into()];
    let mut c1 = seed::report(2);
    rep(&mut c1).damage = "\u{9b}2J".into();
    let query = QueryReportsRequest {
        admin1: "Kherson\u{1b}[2J".into(),
        ..QueryReportsRequest::default()
    };
    let backup = BackupRequest {
        to_dir: "/tmp/backup\u{8}".into(),
        with_key: false,
    };
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "a source title",
            "SubmitReport",
            title.encode_to_vec(),
            "report.sources[0].title",
        ),
        (
            "a tag",
            "SubmitReport",
            tag.encode_to_vec(),
            "report.tags[1]",
        ),
        (
            "a C1 control",
            "SubmitReport",
            c1.encode_to_vec(),
            "report.damage",
        ),
        (
            "a query filter",
            "QueryReports",
            query.encode_to_vec(),
            "admin1",
        ),
        (
            "a backup directory",
            "Backup",
            backup.encode_to_vec(),
            "to_dir",
        ),
    ];
    let mut failures = Vec::new();
    for (name, method, bytes, field) in cases {
        let Err(status) = truce_tests::raw::call(&url, method, bytes).await else {
            failures.push(format!("{name}: accepted"));
            continue;
        };
        let violation = status
            .get_details_bad_request()
            .and_then(|b| b.field_violations.into_iter().next());
        let named = violation.as_ref().map(|v| v.field.as_str());
        if status.code() != Code::InvalidArgument
            || named != Some(field)
            || !status.message().starts_with(&format!("invalid {field}: "))
            || !status.message().contains("control character")
        {
            failures.push(format!(
                "{name}: want INVALID_ARGUMENT naming {field}, got {status:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Newlines and tabs are text.
    let mut ok = seed::report(3);
    rep(&mut ok).notes = "first line\n\tsecond line".into();
    d.client.submit_report(ok).await.unwrap();
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 2);
    d.stop().await;
}

#[tokio::test]
async fn refusals_carry_machine_readable_details() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let status_of = |e: truce_client::ClientError| match e {
        truce_client::ClientError::Status(s) => s,
        other => panic!("not a status: {other}"),
    };
    // INVALID_ARGUMENT: BadRequest names the field.
    let mut bad = seed::report(90);
    rep(&mut bad).reported_by = "no spaces".into();
    let s = status_of(d.client.submit_report(bad).await.unwrap_err());
    assert_eq!(s.code(), Code::InvalidArgument);
    let v = &s.get_details_bad_request().unwrap().field_violations[0];
    assert_eq!(v.field, "report.reported_by");
    assert_eq!(s.get_details_error_info().unwrap().reason, "INVALID_FIELD");

    // NOT_FOUND: ResourceInfo names the record, ErrorInfo the field.
    let s = status_of(d.client.get_report("report-404").await.unwrap_err());
    assert_eq!(s.code(), Code::NotFound);
    let r = s.get_details_resource_info().unwrap();
    assert_eq!(
        (r.resource_type.as_str(), r.resource_name.as_str()),
        ("report", "report-404")
    );
    let info = s.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("field").map(String::as_str), Some("id"));
    d.stop().await;
}
