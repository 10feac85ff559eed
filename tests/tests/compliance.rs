//! Compliance reports end to end: the seed scenario's exact counts under
//! both readings of the disputed start, a week-precision report that
//! straddles one reading's start, a report nobody linked, reproducibility
//! `as_of` a sequence after further appends, the annex in pages, and the
//! errors that name their field.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use pbjson_types::Timestamp;
use prost::Message;
use tonic::Code;
use truce_proto::v1::{
    ComplianceCounts, ComplianceFinding, ComplianceReport, ComplianceReportRequest,
    ComplianceTally, CorrectReportRequest, Correction, Count, EvidenceStatus, EvidenceStatusChange,
    FindAgreementsRequest, Harm, SetStatusRequest, StatusChange, SubmitReportRequest, TargetClass,
    TimePrecision, compliance_report_part::Part, status_change, truce_client::TruceClient,
};
use truce_tests::{TestDaemon, seed};

type Raw = TruceClient<tonic::transport::Channel>;

async fn raw(d: &TestDaemon) -> Raw {
    TruceClient::connect(d.running.url()).await.unwrap()
}

/// The whole report: every annex page, then the report part (last).
async fn compliance(
    c: &mut Raw,
    req: ComplianceReportRequest,
) -> Result<(ComplianceReport, usize), tonic::Status> {
    let mut stream = c.get_compliance_report(req).await?.into_inner();
    let mut annex = Vec::new();
    let mut pages = 0;
    let mut report = None;
    let mut sequences = std::collections::BTreeSet::new();
    while let Some(part) = stream.message().await? {
        assert!(report.is_none(), "nothing after the report part");
        sequences.insert(part.as_of_sequence);
        match part.part {
            Some(Part::Annex(page)) => {
                assert!(!page.entries.is_empty(), "empty annex page");
                pages += 1;
                annex.extend(page.entries);
            }
            Some(Part::Report(r)) => report = Some(r),
            None => panic!("a part without content"),
        }
    }
    let mut report = report.expect("the stream ends with the report");
    assert!(report.annex.is_empty(), "the report part carries no annex");
    assert_eq!(
        sequences.into_iter().collect::<Vec<_>>(),
        [report.as_of_sequence],
        "every part names the report's sequence"
    );
    report.annex = annex;
    Ok((report, pages))
}

fn request(as_of: u64) -> ComplianceReportRequest {
    ComplianceReportRequest {
        agreement_id: seed::agreement_id(),
        as_of_sequence: as_of,
        ..Default::default()
    }
}

fn ts(s: &str) -> Timestamp {
    truce_cli::time::parse(s).unwrap()
}

fn counts(v: &[Count]) -> Vec<(&str, u64)> {
    v.iter().map(|c| (c.key.as_str(), c.count)).collect()
}

fn tally<'a>(r: &'a ComplianceReport, reading: &str) -> &'a ComplianceTally {
    r.tallies.iter().find(|t| t.reading == reading).unwrap()
}

fn current(t: &ComplianceTally) -> &ComplianceCounts {
    t.current.as_ref().unwrap()
}

#[tokio::test]
async fn the_seed_scenario_has_the_expected_counts() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let mut c = raw(&d).await;
    let (r, pages) = compliance(&mut c, request(0)).await.unwrap();

    assert_eq!(r.as_of_sequence, 12);
    let cp = r.checkpoint.as_ref().unwrap();
    assert_eq!(cp.tree_size, 12);
    assert_eq!(
        cp,
        &d.client.get_checkpoint().await.unwrap(),
        "the checkpoint of the log at 12"
    );
    let period = r.period.unwrap();
    assert_eq!(
        period.from,
        Some(ts("2025-03-18T17:00:00Z")),
        "the earliest reading"
    );
    assert_eq!(
        period.to,
        Some(ts("2025-04-17T17:00:00Z")),
        "expiry and lapse"
    );
    let previous = r.previous_period.unwrap();
    assert_eq!(previous.from, Some(ts("2025-02-16T17:00:00Z")));
    assert_eq!(previous.to, period.from);
    assert_eq!(
        r.agreement.as_ref().unwrap().statuses.len(),
        2,
        "status history"
    );

    // RU's reading: reports 1 and 2 in scope, both by UA, both disputed;
    // report 3 indeterminate.
    let ru = tally(&r, "RU");
    assert_eq!(ru.effective_from, Some(ts("2025-03-18T17:00:00Z")));
    let now = current(ru);
    assert_eq!(now.in_scope, 2);
    assert_eq!(ru.indeterminate, 1);
    assert_eq!(ru.out_of_scope, 0);
    assert_eq!(now.by_perpetrator.len(), 1);
    let ua = &now.by_perpetrator[0];
    assert_eq!((ua.party.as_str(), ua.total), ("UA", 2));
    assert_eq!(
        counts(&ua.by_attribution),
        [("ATTRIBUTION_STATUS_ALLEGED", 2)]
    );
    assert_eq!(counts(&ua.by_evidence), [("EVIDENCE_STATUS_DISPUTED", 2)]);
    assert_eq!(
        counts(&now.by_event_type),
        [
            ("EVENT_TYPE_DRONE_STRIKE", 1),
            ("EVENT_TYPE_MISSILE_ATTACK", 1)
        ]
    );
    assert_eq!(
        counts(&now.by_target_class),
        [
            ("TARGET_CLASS_GAS_DISTRIBUTION", 1),
            ("TARGET_CLASS_OIL_GAS_PIPELINE_STORAGE", 1)
        ]
    );
    assert_eq!(
        counts(&now.by_admin1),
        [("RU/Krasnodar Krai", 1), ("RU/Kursk Oblast", 1)]
    );
    let days: Vec<_> = now
        .per_day
        .iter()
        .map(|d| (d.day.as_str(), d.total))
        .collect();
    assert_eq!(days, [("2025-03-19", 1), ("2025-03-21", 1)]);
    assert_eq!(now.harm.unwrap().reports_with_figures, 0);
    assert_eq!(ru.indeterminate_reports.len(), 1);
    assert_eq!(ru.indeterminate_reports[0].report_id, "seed-report-3");
    assert!(
        ru.indeterminate_reports[0].reasons[0].contains("straddles the start"),
        "{:?}",
        ru.indeterminate_reports[0].reasons
    );
    // Before the start, report 3 (day known, 18 March) would have been in
    // scope: RU 1 in the previous period.
    let before = ru.previous.as_ref().unwrap();
    assert_eq!(before.in_scope, 1);
    assert_eq!(before.by_perpetrator[0].party, "RU");

    // UA's reading (from 25 March): all three before the start.
    let ua_reading = tally(&r, "UA");
    assert_eq!(current(ua_reading).in_scope, 0);
    assert_eq!(ua_reading.indeterminate, 0);
    assert_eq!(ua_reading.out_of_scope, 3);

    // Claims by party, then by when stated, beside the evidence.
    let claims: Vec<_> = r
        .claims
        .iter()
        .map(|c| {
            let claim = c.claim.as_ref().unwrap();
            let evidence: Vec<_> = c
                .reports
                .iter()
                .map(|e| (e.report_id.as_str(), e.evidence_status()))
                .collect();
            (claim.id.as_str(), evidence)
        })
        .collect();
    use EvidenceStatus as E;
    assert_eq!(
        claims,
        [
            (
                "seed-claim-ru-denies-3",
                vec![("seed-report-3", E::Unverified)]
            ),
            (
                "seed-claim-ua-accuses-3",
                vec![("seed-report-3", E::Unverified)]
            ),
            (
                "seed-claim-ua-denies-1-2",
                vec![
                    ("seed-report-1", E::Disputed),
                    ("seed-report-2", E::Disputed)
                ]
            ),
        ]
    );
    assert!(r.unlinked_report_ids.is_empty());

    // The annex: every report considered, with sources and findings.
    assert_eq!(pages, 1);
    let ids: Vec<_> = r
        .annex
        .iter()
        .map(|a| a.report.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, seed::REPORTS);
    for a in &r.annex {
        assert!(a.linked);
        assert!(!a.report.as_ref().unwrap().sources.is_empty());
        assert_eq!(a.assessments.len(), 2, "one per reading");
    }
    assert_eq!(
        r.annex[2].assessments[0].finding(),
        ComplianceFinding::Indeterminate
    );

    // Without the annex: the same report, no pages.
    let (lean, pages) = compliance(
        &mut c,
        ComplianceReportRequest {
            without_annex: true,
            ..request(0)
        },
    )
    .await
    .unwrap();
    assert_eq!(pages, 0);
    assert_eq!(
        lean,
        ComplianceReport {
            annex: Vec::new(),
            ..r
        }
    );
    d.stop().await;
}

fn extra_report(
    id: &str,
    start: &str,
    precision: TimePrecision,
    linked: bool,
) -> SubmitReportRequest {
    let mut r = seed::report(0);
    r.request_id = format!("req-{id}");
    let report = r.report.as_mut().unwrap();
    report.id = id.to_owned();
    let occurred = report.occurred.as_mut().unwrap();
    occurred.start = Some(ts(start));
    occurred.end = None;
    occurred.precision = precision.into();
    report.first_reported_at = None;
    if !linked {
        report.agreement_ids.clear();
    }
    report.harm = Some(Harm {
        fatalities_low: Some(1),
        fatalities_best: Some(2),
        fatalities_high: Some(3),
        injured: Some(4),
    });
    r
}

#[tokio::test]
async fn a_week_straddling_one_readings_start_and_a_report_nobody_linked() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    // Known only to the week of 22-28 March: after RU's start, straddling
    // UA's (25 March).
    d.client
        .submit_report(extra_report(
            "week-report",
            "2025-03-22T00:00:00Z",
            TimePrecision::Week,
            true,
        ))
        .await
        .unwrap();
    // The same kind of strike on 28 March that names no agreement, and one
    // on a military target (not protected).
    d.client
        .submit_report(extra_report(
            "unlinked-report",
            "2025-03-28T10:00:00Z",
            TimePrecision::Hour,
            false,
        ))
        .await
        .unwrap();
    let mut military = extra_report(
        "military-report",
        "2025-03-28T10:00:00Z",
        TimePrecision::Hour,
        false,
    );
    military.report.as_mut().unwrap().target_class = TargetClass::Military.into();
    d.client.submit_report(military).await.unwrap();

    let mut c = raw(&d).await;
    let (r, _) = compliance(&mut c, request(0)).await.unwrap();
    let ru = tally(&r, "RU");
    assert_eq!(current(ru).in_scope, 3, "reports 1, 2 and the week");
    let harm = current(ru).harm.unwrap();
    assert_eq!(
        (
            harm.fatalities_low,
            harm.fatalities_best,
            harm.fatalities_high,
            harm.injured,
            harm.reports_with_figures
        ),
        (1, 2, 3, 4, 1)
    );
    let ua = tally(&r, "UA");
    assert_eq!(current(ua).in_scope, 0);
    assert_eq!(ua.indeterminate, 1);
    assert_eq!(ua.indeterminate_reports[0].report_id, "week-report");
    assert!(ua.indeterminate_reports[0].reasons[0].contains("straddles the start"));
    assert_eq!(ua.out_of_scope, 3);
    assert_eq!(r.unlinked_report_ids, ["unlinked-report"]);
    let annexed: Vec<_> = r
        .annex
        .iter()
        .map(|a| (a.report.as_ref().unwrap().id.as_str(), a.linked))
        .collect();
    assert_eq!(
        annexed[3..],
        [("week-report", true), ("unlinked-report", false)]
    );

    // The scope engine finds the agreement for the report nobody linked,
    // and none for the strike on a military target.
    let found = c
        .find_agreements(FindAgreementsRequest {
            report_id: "unlinked-report".into(),
            as_of_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.assessed, 1);
    assert_eq!(found.matches.len(), 1);
    assert_eq!(found.matches[0].agreement_id, seed::agreement_id());
    assert!(!found.matches[0].linked);
    assert!(
        found.matches[0]
            .assessments
            .iter()
            .all(|a| a.finding() == ComplianceFinding::InScope)
    );
    let none = c
        .find_agreements(FindAgreementsRequest {
            report_id: "military-report".into(),
            as_of_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.matches.is_empty());
    d.stop().await;
}

#[tokio::test]
async fn as_of_a_sequence_the_report_is_identical_after_further_appends() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    // A year-old report that names no agreement (later corrected to name
    // it: as of `at` it must stay out of the report).
    d.client
        .submit_report(extra_report(
            "old-report",
            "2024-06-01T00:00:00Z",
            TimePrecision::Day,
            false,
        ))
        .await
        .unwrap();
    let mut c = raw(&d).await;
    let (first, _) = compliance(&mut c, request(0)).await.unwrap();
    let at = first.as_of_sequence;
    d.client
        .correct_report(CorrectReportRequest {
            request_id: "link-old-report".into(),
            with_proof: false,
            correction: Some(Correction {
                report_id: "old-report".into(),
                fields: Some(pbjson_types::FieldMask {
                    paths: vec!["agreement_ids".into()],
                }),
                values: Some(truce_proto::v1::Report {
                    agreement_ids: vec![seed::agreement_id()],
                    ..Default::default()
                }),
                reason: "it was alleged to breach the moratorium".into(),
                sources: vec![],
            }),
        })
        .await
        .unwrap();

    // More of everything: a new in-scope report, a status change on
    // report 1, an agreement status change, a correction.
    d.client
        .submit_report(extra_report(
            "later-report",
            "2025-03-30T00:00:00Z",
            TimePrecision::Day,
            true,
        ))
        .await
        .unwrap();
    d.client
        .set_status(SetStatusRequest {
            request_id: "later-status".into(),
            status: Some(StatusChange {
                target: Some(status_change::Target::ReportId("seed-report-1".into())),
                change: Some(status_change::Change::Evidence(EvidenceStatusChange {
                    status: EvidenceStatus::Corroborated.into(),
                    duplicate_of: String::new(),
                })),
                reason: "satellite imagery".into(),
                ..Default::default()
            }),
            with_proof: false,
        })
        .await
        .unwrap();

    let (now, _) = compliance(&mut c, request(0)).await.unwrap();
    assert_eq!(now.as_of_sequence, at + 3);
    assert_eq!(current(tally(&now, "RU")).in_scope, 3);
    let ua = &current(tally(&now, "RU")).by_perpetrator[0];
    assert!(counts(&ua.by_evidence).contains(&("EVIDENCE_STATUS_CORROBORATED", 1)));

    let (again, _) = compliance(&mut c, request(at)).await.unwrap();
    assert_eq!(
        again.encode_to_vec(),
        first.encode_to_vec(),
        "byte for byte"
    );
    assert_ne!(now.encode_to_vec(), first.encode_to_vec());
    d.stop().await;
}

#[tokio::test]
async fn bad_requests_name_their_field() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let mut c = raw(&d).await;
    let cases = [
        (
            ComplianceReportRequest {
                agreement_id: "no-such-agreement".into(),
                ..Default::default()
            },
            Code::NotFound,
            "agreement_id",
        ),
        (
            ComplianceReportRequest {
                agreement_id: String::new(),
                ..Default::default()
            },
            Code::InvalidArgument,
            "agreement_id",
        ),
        (
            ComplianceReportRequest {
                as_of_sequence: 999,
                ..request(0)
            },
            Code::InvalidArgument,
            "as_of_sequence",
        ),
        (
            ComplianceReportRequest {
                period_from: Some(ts("2025-04-01T00:00:00Z")),
                period_to: Some(ts("2025-03-01T00:00:00Z")),
                ..request(0)
            },
            Code::InvalidArgument,
            "period_to",
        ),
        (
            // Before the agreement existed (sequence 1 is the agreement).
            ComplianceReportRequest {
                as_of_sequence: 0,
                agreement_id: "seed-report-1".into(),
                ..Default::default()
            },
            Code::NotFound,
            "agreement_id",
        ),
    ];
    for (req, code, field) in cases {
        let err = compliance(&mut c, req.clone()).await.unwrap_err();
        assert_eq!(err.code(), code, "{req:?}: {err:?}");
        assert!(err.message().contains(field), "{req:?}: {}", err.message());
    }
    let err = c
        .find_agreements(FindAgreementsRequest {
            report_id: "nope".into(),
            as_of_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("report_id"), "{}", err.message());
    d.stop().await;
}

#[tokio::test]
async fn a_large_annex_comes_in_pages_in_submission_order() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let n = 520;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let client = d.client.clone();
        tasks.spawn(async move {
            for i in (w..n).step_by(8) {
                client.submit_report(seed::report(i)).await.unwrap();
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    let mut c = raw(&d).await;
    let (r, pages) = compliance(&mut c, request(0)).await.unwrap();
    assert_eq!(r.annex.len(), n + 3);
    assert!(pages >= 2, "{pages} pages");
    let seqs: Vec<u64> = r
        .annex
        .iter()
        .map(|a| a.created.as_ref().unwrap().sequence)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "submission order");
    assert_eq!(current(tally(&r, "RU")).in_scope, n as u64 + 2);
    d.stop().await;
}
