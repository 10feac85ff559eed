//! Queries: every filter alone and combined, checked against a naive filter
//! over everything, on the seed scenario plus a generated data set; the
//! plan shows that indexed filters do not scan everything; paging is stable
//! while writes and status changes happen between pages; pages respect
//! their byte limit.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use futures::{StreamExt, stream};
use pbjson_types::{FieldMask, Timestamp};
use prost::Message;
use truce_client::Client;
use truce_proto::v1::{
    AgreementStatus, AgreementStatusChange, BoundingBox, CorrectReportRequest, Correction,
    EventType, EvidenceStatus, EvidenceStatusChange, ListAgreementsRequest, QueryReportsRequest,
    Report, ReportFilter, ReportView, SetStatusRequest, StatusChange, SubmitReportRequest,
    TargetClass, status_change,
};
use truce_tests::{TestDaemon, seed};

const GENERATED: usize = 3000;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

const PARTIES: [&str; 3] = ["RU", "UA", "XA"];
const REPORTERS: [&str; 3] = ["RU", "UA", "MON"];
const TYPES: [EventType; 4] = [
    EventType::DroneStrike,
    EventType::MissileAttack,
    EventType::Shelling,
    EventType::AirStrike,
];
const TARGETS: [TargetClass; 3] = [
    TargetClass::GasDistribution,
    TargetClass::PowerTransmission,
    TargetClass::Residential,
];
const PLACES: [(&str, &str); 5] = [
    ("UA", "Donetsk Oblast"),
    ("UA", "Kharkiv Oblast"),
    ("UA", "Odesa Oblast"),
    ("RU", "Kursk Oblast"),
    ("RU", "Krasnodar Krai"),
];

fn generated(n: usize, rng: &mut Lcg) -> SubmitReportRequest {
    let mut req = seed::report(100_000 + n);
    let r = req.report.as_mut().unwrap();
    r.alleged_perpetrators = vec![PARTIES[rng.next(3)].into()];
    if rng.next(10) == 0 {
        r.alleged_perpetrators.push(PARTIES[rng.next(3)].into());
        r.alleged_perpetrators.dedup();
    }
    r.reported_by = REPORTERS[rng.next(3)].into();
    r.event_type = TYPES[rng.next(4)].into();
    r.target_class = TARGETS[rng.next(3)].into();
    let (country, admin1) = PLACES[rng.next(5)];
    let loc = r.location.as_mut().unwrap();
    loc.country = country.into();
    loc.admin1 = admin1.into();
    if rng.next(4) != 0 {
        loc.latitude = Some(44.0 + rng.next(800) as f64 / 100.0);
        loc.longitude = Some(30.0 + rng.next(1000) as f64 / 100.0);
    }
    // Mostly 2025, a few before 1970.
    let day = if rng.next(50) == 0 {
        -400 + rng.next(300) as i64
    } else {
        20_100 + rng.next(120) as i64
    };
    let occ = r.occurred.as_mut().unwrap();
    occ.start = Some(Timestamp {
        seconds: day * 86_400 + rng.next(86_400) as i64,
        nanos: 0,
    });
    occ.end = None;
    r.agreement_ids = match rng.next(3) {
        0 => vec![],
        _ => vec![seed::agreement_id()],
    };
    r.evidence_status = EvidenceStatus::Unverified.into();
    r.first_reported_at = None;
    req
}

fn evidence(id: &str, st: EvidenceStatus) -> SetStatusRequest {
    SetStatusRequest {
        request_id: String::new(),
        with_proof: false,
        status: Some(StatusChange {
            target: Some(status_change::Target::ReportId(id.into())),
            change: Some(status_change::Change::Evidence(EvidenceStatusChange {
                status: st.into(),
                duplicate_of: String::new(),
            })),
            effective_at: None,
            reason: "test".into(),
            sources: vec![],
        }),
    }
}

async fn load(client: &Client) {
    seed::submit_all(client).await;
    let mut rng = Lcg(7);
    let requests: Vec<_> = (0..GENERATED).map(|n| generated(n, &mut rng)).collect();
    let receipts: Vec<_> = stream::iter(requests)
        .map(|r| async move { client.submit_report(r).await.unwrap() })
        .buffered(64)
        .collect()
        .await;
    // Status changes and corrections, so current values differ from the
    // submitted ones.
    let changes: Vec<_> = receipts
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 == 0)
        .map(|(i, r)| {
            let st = if i % 2 == 0 {
                EvidenceStatus::Disputed
            } else {
                EvidenceStatus::Corroborated
            };
            evidence(&r.record_id, st)
        })
        .collect();
    stream::iter(changes)
        .map(|c| async move { client.set_status(c).await.unwrap() })
        .buffered(64)
        .collect::<Vec<_>>()
        .await;
    for r in receipts.iter().step_by(97) {
        client
            .correct_report(CorrectReportRequest {
                request_id: String::new(),
                with_proof: false,
                correction: Some(Correction {
                    report_id: r.record_id.clone(),
                    fields: Some(FieldMask {
                        paths: vec!["alleged_perpetrators".into(), "event_type".into()],
                    }),
                    values: Some(Report {
                        alleged_perpetrators: vec!["XA".into()],
                        event_type: EventType::Grenade.into(),
                        ..Report::default()
                    }),
                    reason: "re-attributed".into(),
                    sources: vec![],
                }),
            })
            .await
            .unwrap();
    }
}

/// The naive filter, written independently of the daemon's.
fn naive(q: &ReportFilter, v: &ReportView) -> bool {
    let r = v.report.as_ref().unwrap();
    let loc = r.location.clone().unwrap();
    let start = r.occurred.unwrap().start.unwrap();
    let key = |t: &Timestamp| (t.seconds, t.nanos);
    (q.agreement_id.is_empty() || r.agreement_ids.contains(&q.agreement_id))
        && q.occurred_since.is_none_or(|t| key(&start) >= key(&t))
        && q.occurred_until.is_none_or(|t| key(&start) < key(&t))
        && (q.perpetrator.is_empty() || r.alleged_perpetrators.contains(&q.perpetrator))
        && (q.reported_by.is_empty() || r.reported_by == q.reported_by)
        && (q.event_type == 0 || r.event_type == q.event_type)
        && (q.target_class == 0 || r.target_class == q.target_class)
        && (q.evidence_status == 0 || r.evidence_status == q.evidence_status)
        && (q.country.is_empty() || loc.country == q.country)
        && (q.admin1.is_empty() || loc.admin1 == q.admin1)
        && q.bbox.is_none_or(|b| match (loc.latitude, loc.longitude) {
            (Some(lat), Some(lon)) => {
                lat >= b.south && lat <= b.north && lon >= b.west && lon <= b.east
            }
            _ => false,
        })
}

/// A query for every report that `filter` matches.
fn query(filter: ReportFilter) -> QueryReportsRequest {
    QueryReportsRequest {
        filter: Some(filter),
        ..QueryReportsRequest::default()
    }
}

fn ids(views: &[ReportView]) -> Vec<String> {
    views
        .iter()
        .map(|v| v.report.as_ref().unwrap().id.clone())
        .collect()
}

fn day(d: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: d * 86_400,
        nanos: 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_alone_and_combined_matches_a_naive_filter() {
    let d = TestDaemon::start().await;
    load(&d.client).await;
    let everything = d
        .client
        .query_all_reports(QueryReportsRequest::default(), 0)
        .await
        .unwrap();
    assert_eq!(everything.len(), GENERATED + 3);
    let seqs: Vec<u64> = everything
        .iter()
        .map(|v| v.created.as_ref().unwrap().sequence)
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ordered by creating sequence"
    );

    let q = ReportFilter::default;
    let bbox = Some(BoundingBox {
        south: 46.0,
        west: 33.0,
        north: 49.5,
        east: 36.5,
    });
    let cases: Vec<(&str, ReportFilter)> = vec![
        (
            "agreement",
            ReportFilter {
                agreement_id: seed::agreement_id(),
                ..q()
            },
        ),
        (
            "since",
            ReportFilter {
                occurred_since: day(20_150),
                ..q()
            },
        ),
        (
            "until",
            ReportFilter {
                occurred_until: day(20_130),
                ..q()
            },
        ),
        (
            "before 1970",
            ReportFilter {
                occurred_until: day(0),
                ..q()
            },
        ),
        (
            "range",
            ReportFilter {
                occurred_since: day(20_120),
                occurred_until: day(20_140),
                ..q()
            },
        ),
        (
            "perpetrator",
            ReportFilter {
                perpetrator: "UA".into(),
                ..q()
            },
        ),
        (
            "corrected perpetrator",
            ReportFilter {
                perpetrator: "XA".into(),
                ..q()
            },
        ),
        (
            "reported_by",
            ReportFilter {
                reported_by: "MON".into(),
                ..q()
            },
        ),
        (
            "event_type",
            ReportFilter {
                event_type: EventType::MissileAttack.into(),
                ..q()
            },
        ),
        (
            "corrected event_type",
            ReportFilter {
                event_type: EventType::Grenade.into(),
                ..q()
            },
        ),
        (
            "target",
            ReportFilter {
                target_class: TargetClass::GasDistribution.into(),
                ..q()
            },
        ),
        (
            "status",
            ReportFilter {
                evidence_status: EvidenceStatus::Disputed.into(),
                ..q()
            },
        ),
        (
            "status unverified",
            ReportFilter {
                evidence_status: EvidenceStatus::Unverified.into(),
                ..q()
            },
        ),
        (
            "country",
            ReportFilter {
                country: "RU".into(),
                ..q()
            },
        ),
        (
            "admin1",
            ReportFilter {
                admin1: "Odesa Oblast".into(),
                ..q()
            },
        ),
        ("bbox", ReportFilter { bbox, ..q() }),
        (
            "perpetrator+status",
            ReportFilter {
                perpetrator: "RU".into(),
                evidence_status: EvidenceStatus::Corroborated.into(),
                ..q()
            },
        ),
        (
            "type+target+country",
            ReportFilter {
                event_type: EventType::DroneStrike.into(),
                target_class: TargetClass::PowerTransmission.into(),
                country: "UA".into(),
                ..q()
            },
        ),
        (
            "agreement+range+reported_by",
            ReportFilter {
                agreement_id: seed::agreement_id(),
                occurred_since: day(20_110),
                occurred_until: day(20_200),
                reported_by: "UA".into(),
                ..q()
            },
        ),
        (
            "bbox+status",
            ReportFilter {
                bbox,
                evidence_status: EvidenceStatus::Disputed.into(),
                ..q()
            },
        ),
        (
            "admin1+perpetrator+type",
            ReportFilter {
                admin1: "Kursk Oblast".into(),
                perpetrator: "UA".into(),
                event_type: EventType::Shelling.into(),
                ..q()
            },
        ),
        (
            "nothing matches",
            ReportFilter {
                perpetrator: "ZZ".into(),
                ..q()
            },
        ),
    ];
    for (name, filter) in cases {
        let want: Vec<String> = ids(&everything
            .iter()
            .filter(|v| naive(&filter, v))
            .cloned()
            .collect::<Vec<_>>());
        let req = query(filter);
        let got = d.client.query_all_reports(req.clone(), 0).await.unwrap();
        assert_eq!(ids(&got), want, "{name}");
        if name != "nothing matches" {
            assert!(
                !want.is_empty(),
                "{name}: the data set exercises the filter"
            );
        }
        let first = d.client.query_reports(req).await.unwrap();
        let plan = first.plan.unwrap();
        assert_ne!(plan.driver, "all reports", "{name}: an index drives it");
        assert!(
            (plan.examined as usize) < everything.len(),
            "{name}: examined {} of {}",
            plan.examined,
            everything.len()
        );
    }

    // A selective filter reads only its own candidates.
    let odesa = d
        .client
        .query_reports(query(ReportFilter {
            admin1: "Odesa Oblast".into(),
            ..q()
        }))
        .await
        .unwrap();
    assert_eq!(
        odesa.plan.as_ref().unwrap().examined as usize,
        odesa.reports.len()
    );

    // Bad filters.
    for (req, field) in [
        (
            query(ReportFilter {
                event_type: 999,
                ..q()
            }),
            "filter.event_type",
        ),
        (
            query(ReportFilter {
                perpetrator: "a b".into(),
                ..q()
            }),
            "filter.perpetrator",
        ),
        (
            query(ReportFilter {
                occurred_since: day(5),
                occurred_until: day(4),
                ..q()
            }),
            "filter.occurred_until",
        ),
        (
            query(ReportFilter {
                bbox: Some(BoundingBox {
                    south: 10.0,
                    north: 5.0,
                    west: 0.0,
                    east: 1.0,
                }),
                ..q()
            }),
            "filter.bbox",
        ),
        (
            QueryReportsRequest {
                page_token: "garbage!".into(),
                ..QueryReportsRequest::default()
            },
            "page_token",
        ),
    ] {
        let err = d.client.query_reports(req).await.unwrap_err();
        assert_eq!(err.code(), Some(tonic::Code::InvalidArgument), "{field}");
        assert!(err.to_string().contains(field), "{err}");
    }
    // A token from another query.
    let page = d
        .client
        .query_reports(QueryReportsRequest {
            page_size: 10,
            ..QueryReportsRequest::default()
        })
        .await
        .unwrap();
    let err = d
        .client
        .query_reports(QueryReportsRequest {
            page_token: page.next_page_token,
            ..query(ReportFilter {
                perpetrator: "UA".into(),
                ..q()
            })
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("other filters"), "{err}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_is_stable_while_the_log_changes() {
    let d = TestDaemon::start().await;
    load(&d.client).await;
    let req = QueryReportsRequest {
        page_size: 40,
        ..query(ReportFilter {
            evidence_status: EvidenceStatus::Disputed.into(),
            ..ReportFilter::default()
        })
    };
    let snapshot = d
        .client
        .query_all_reports(
            QueryReportsRequest {
                page_size: 0,
                ..req.clone()
            },
            0,
        )
        .await
        .unwrap();
    assert!(snapshot.len() > 100);

    let mut got = Vec::new();
    let mut page = d.client.query_reports(req.clone()).await.unwrap();
    let as_of = page.as_of_sequence;
    got.extend(page.reports.clone());
    let mut round = 0;
    while !page.next_page_token.is_empty() {
        // Between pages: new matching reports, a matching report that is
        // not yet listed changes status, a non-matching one starts matching.
        let mut new = seed::report(900_000 + round);
        new.report.as_mut().unwrap().evidence_status = EvidenceStatus::Disputed.into();
        d.client.submit_report(new).await.unwrap();
        if let Some(later) = snapshot.get(got.len() + 5) {
            let id = later.report.as_ref().unwrap().id.clone();
            d.client
                .set_status(evidence(&id, EvidenceStatus::Verified))
                .await
                .unwrap();
        }
        d.client
            .set_status(evidence(
                &format!("report-{}", 20 + round),
                EvidenceStatus::Disputed,
            ))
            .await
            .ok();
        round += 1;
        page = d
            .client
            .query_reports(QueryReportsRequest {
                page_token: page.next_page_token.clone(),
                ..req.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            page.as_of_sequence, as_of,
            "every page at the first page's sequence"
        );
        assert!(page.reports.len() <= 40);
        got.extend(page.reports.clone());
    }
    assert!(round > 2, "the changes happened between pages");
    assert_eq!(
        ids(&got),
        ids(&snapshot),
        "the same answer as before the changes"
    );
    assert_eq!(got, snapshot, "the same views, as of the first page");

    // A fresh query sees the changes.
    let fresh = d
        .client
        .query_all_reports(
            QueryReportsRequest {
                page_size: 0,
                ..req
            },
            0,
        )
        .await
        .unwrap();
    assert_ne!(ids(&fresh), ids(&snapshot));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_under_their_byte_limit() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let big: Vec<_> = (0..90)
        .map(|n| {
            let mut r = seed::report(n);
            r.report.as_mut().unwrap().notes = format!("{n} {}", "x".repeat(8000));
            let template = r.report.as_ref().unwrap().sources[0].clone();
            r.report.as_mut().unwrap().sources = (0..25)
                .map(|i| {
                    let mut s = template.clone();
                    s.url = format!("https://example.org/{n}/{i}/{}", "p".repeat(1900));
                    s
                })
                .collect();
            r
        })
        .collect();
    for r in big {
        d.client.submit_report(r).await.unwrap();
    }
    let page = d
        .client
        .query_reports(QueryReportsRequest::default())
        .await
        .unwrap();
    let bytes: usize = page.reports.iter().map(Message::encoded_len).sum();
    assert!(
        page.reports.len() < 90,
        "{} reports in one page",
        page.reports.len()
    );
    assert!(bytes <= 4 * 1024 * 1024, "{bytes} bytes");
    assert!(!page.next_page_token.is_empty());
    let all = d
        .client
        .query_all_reports(QueryReportsRequest::default(), 0)
        .await
        .unwrap();
    assert_eq!(all.len(), 90);
    d.stop().await;
}

#[tokio::test]
async fn agreements_by_party_status_and_time_in_force() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let mut other = seed::agreement();
    other.request_id = "other".into();
    let a = other.agreement.as_mut().unwrap();
    a.id = "xa-ua-holiday-1968".into();
    a.title = "Holiday truce".into();
    a.parties[0].party = "XA".into();
    a.declared_at = Some(Timestamp {
        seconds: -50_000_000,
        nanos: 0,
    });
    a.effective_from = vec![truce_proto::v1::EffectiveFrom {
        at: Some(Timestamp {
            seconds: -49_000_000,
            nanos: 0,
        }),
        ..Default::default()
    }];
    a.expires_at = Some(Timestamp {
        seconds: -48_000_000,
        nanos: 0,
    });
    d.client.record_agreement(other).await.unwrap();
    d.client
        .set_status(SetStatusRequest {
            request_id: String::new(),
            with_proof: false,
            status: Some(StatusChange {
                target: Some(status_change::Target::AgreementId(
                    "xa-ua-holiday-1968".into(),
                )),
                change: Some(status_change::Change::Agreement(AgreementStatusChange {
                    status: AgreementStatus::InForce.into(),
                    ..Default::default()
                })),
                effective_at: Some(Timestamp {
                    seconds: -49_000_000,
                    nanos: 0,
                }),
                reason: "observed".into(),
                sources: vec![],
            }),
        })
        .await
        .unwrap();

    let list = |req: ListAgreementsRequest| {
        let c = d.client.clone();
        async move {
            c.list_all_agreements(req, 0)
                .await
                .unwrap()
                .into_iter()
                .map(|v| v.agreement.unwrap().id)
                .collect::<Vec<_>>()
        }
    };
    let l = ListAgreementsRequest::default;
    let seed_id = seed::agreement_id();
    let seed_id = seed_id.as_str();
    assert_eq!(list(l()).await, [seed_id, "xa-ua-holiday-1968"]);
    assert_eq!(
        list(ListAgreementsRequest {
            party: "RU".into(),
            ..l()
        })
        .await,
        [seed_id]
    );
    assert_eq!(
        list(ListAgreementsRequest {
            party: "UA".into(),
            ..l()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        list(ListAgreementsRequest {
            status: AgreementStatus::Lapsed.into(),
            ..l()
        })
        .await,
        [seed_id]
    );
    assert_eq!(
        list(ListAgreementsRequest {
            status: AgreementStatus::InForce.into(),
            ..l()
        })
        .await,
        ["xa-ua-holiday-1968".to_owned()],
        "current status, not any past one"
    );
    let at = |s: &str| truce_cli::time::parse(s).ok();
    // RU's reading has started on 20 March; UA's has not: in force.
    assert_eq!(
        list(ListAgreementsRequest {
            in_force_at: at("2025-03-20"),
            ..l()
        })
        .await,
        [seed_id]
    );
    // Before either reading.
    assert!(
        list(ListAgreementsRequest {
            in_force_at: at("2025-03-18T12:00:00Z"),
            ..l()
        })
        .await
        .is_empty()
    );
    // After the lapse.
    assert!(
        list(ListAgreementsRequest {
            in_force_at: at("2025-04-20"),
            ..l()
        })
        .await
        .is_empty()
    );
    // Before 1970.
    assert_eq!(
        list(ListAgreementsRequest {
            in_force_at: at("1968-06-20"),
            ..l()
        })
        .await,
        ["xa-ua-holiday-1968".to_owned()]
    );
    d.stop().await;
}
