//! The scope engine against the seed scenario: under RU's reading reports
//! 1 and 2 are in scope and report 3 (known only to the day that straddles
//! the 17:00 start) indeterminate; under UA's reading all three fall before
//! the start. Plus the other rules, one at a time.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use pbjson_types::Timestamp;
use truce_daemon::model::scope::{self, Finding};
use truce_proto::v1::{BoundingBox, GeoArea, TargetClass, TimePrecision};
use truce_tests::{TestDaemon, seed};

#[tokio::test]
async fn the_seed_scenario_under_both_readings() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let agreement = d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    let mut got = Vec::new();
    for id in seed::REPORTS {
        let report = d.client.get_report(id).await.unwrap().report.unwrap();
        for a in scope::assess(&report, &agreement) {
            got.push((id, a.reading.clone(), a.finding));
            if id == "seed-report-3" && a.reading == "RU" {
                assert!(
                    a.reasons[0].contains("straddles the start"),
                    "{:?}",
                    a.reasons
                );
            }
            if a.reading == "UA" {
                assert!(a.reasons[0].contains("before the start"), "{:?}", a.reasons);
            }
        }
    }
    use Finding::*;
    assert_eq!(
        got,
        [
            ("seed-report-1", "RU".to_owned(), InScope),
            ("seed-report-1", "UA".to_owned(), OutOfScope),
            ("seed-report-2", "RU".to_owned(), InScope),
            ("seed-report-2", "UA".to_owned(), OutOfScope),
            ("seed-report-3", "RU".to_owned(), Indeterminate),
            ("seed-report-3", "UA".to_owned(), OutOfScope),
        ]
    );
    d.stop().await;
}

fn ts(s: &str) -> Timestamp {
    truce_cli::time::parse(s).unwrap()
}

#[tokio::test]
async fn each_rule() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let agreement = d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    let base = d
        .client
        .get_report("seed-report-1")
        .await
        .unwrap()
        .report
        .unwrap();
    let ru = |r: &truce_proto::v1::Report| {
        let all = scope::assess(r, &agreement);
        all.into_iter().find(|a| a.reading == "RU").unwrap()
    };
    assert_eq!(ru(&base).finding, Finding::InScope);

    // A week known only as the week of 17 March straddles the start.
    let mut week = base.clone();
    let occ = week.occurred.as_mut().unwrap();
    occ.start = Some(ts("2025-03-17"));
    occ.end = None;
    occ.precision = TimePrecision::Week.into();
    assert_eq!(ru(&week).finding, Finding::Indeterminate);
    // After the lapse (17 April 17:00).
    let mut late = base.clone();
    let occ = late.occurred.as_mut().unwrap();
    occ.start = Some(ts("2025-04-20"));
    occ.end = Some(ts("2025-04-20T12:00:00Z"));
    let a = ru(&late);
    assert_eq!(a.finding, Finding::OutOfScope);
    assert!(a.reasons[0].contains("after the end"));
    // A perpetrator not bound (the US brokered it).
    let mut us = base.clone();
    us.alleged_perpetrators = vec!["US".into()];
    assert_eq!(ru(&us).finding, Finding::OutOfScope);
    // A target it does not protect; an unknown target.
    let mut homes = base.clone();
    homes.target_class = TargetClass::Residential.into();
    assert_eq!(ru(&homes).finding, Finding::OutOfScope);
    let mut unknown = base.clone();
    unknown.target_class = TargetClass::Unknown.into();
    assert_eq!(ru(&unknown).finding, Finding::Indeterminate);
    // Outside its countries.
    let mut elsewhere = base.clone();
    elsewhere.location.as_mut().unwrap().country = "MD".into();
    assert_eq!(ru(&elsewhere).finding, Finding::OutOfScope);
    // An area drawn as a box: coordinates decide; none → indeterminate.
    let mut boxed = agreement.clone();
    boxed
        .agreement
        .as_mut()
        .unwrap()
        .scope
        .as_mut()
        .unwrap()
        .areas = vec![GeoArea {
        country: "RU".into(),
        bbox: Some(BoundingBox {
            south: 44.0,
            west: 37.0,
            north: 46.0,
            east: 40.0,
        }),
        ..GeoArea::default()
    }];
    let in_box = |r: &truce_proto::v1::Report| {
        scope::assess(r, &boxed)
            .into_iter()
            .find(|a| a.reading == "RU")
            .unwrap()
            .finding
    };
    assert_eq!(in_box(&base), Finding::Indeterminate);
    let mut point = base.clone();
    point.location.as_mut().unwrap().latitude = Some(45.0);
    point.location.as_mut().unwrap().longitude = Some(38.9);
    assert_eq!(in_box(&point), Finding::InScope);
    point.location.as_mut().unwrap().longitude = Some(41.5);
    assert_eq!(in_box(&point), Finding::OutOfScope);
    d.stop().await;
}

#[tokio::test]
async fn through_the_rpc_and_as_of() {
    use truce_proto::v1::ComplianceFinding;
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let agr = seed::agreement_id();
    let r = d
        .client
        .assess_scope("seed-report-3", &agr, 0)
        .await
        .unwrap();
    let findings: Vec<(String, ComplianceFinding)> = r
        .assessments
        .iter()
        .map(|a| (a.reading.clone(), a.finding()))
        .collect();
    assert_eq!(
        findings,
        [
            ("RU".to_owned(), ComplianceFinding::Indeterminate),
            ("UA".to_owned(), ComplianceFinding::OutOfScope)
        ]
    );
    assert_eq!(r.as_of_sequence, 12);
    let err = d.client.assess_scope("nope", &agr, 0).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::NotFound));
    assert!(err.to_string().contains("report_id"), "{err}");
    let err = d
        .client
        .assess_scope("seed-report-3", &agr, 1)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(tonic::Code::NotFound),
        "not there yet at 1"
    );
    d.stop().await;
}
