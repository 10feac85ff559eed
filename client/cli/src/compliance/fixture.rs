//! A hand-built compliance report for the text and timeline tests: two
//! readings of the start (RU's within the period, UA's after it), two
//! alleged perpetrators over three days, a status change, an
//! indeterminate report, a claim and one annex entry.

use base64::Engine;
use truce_proto::v1::{
    Agreement, AgreementParty, AgreementStatus, AgreementStatusRecord, AgreementView, AnnexEntry,
    AttributionStatus, Checkpoint, Claim, ClaimBesideEvidence, ClaimKind, ComplianceCounts,
    ComplianceFinding, ComplianceReport, ComplianceTally, Count, DayCount, EffectiveFrom,
    EventType, EvidenceStatus, HarmTotals, IndeterminateReport, Location, PartyRole, Period,
    PerpetratorCount, Report, ReportEvidence, ScopeAssessment, Source, SourceKind, TargetClass,
    TimeInterval, TimePrecision,
};

use crate::time;

pub fn ts(s: &str) -> Option<pbjson_types::Timestamp> {
    time::parse(s).ok()
}

fn count(key: &str, count: u64) -> Count {
    Count {
        key: key.into(),
        count,
    }
}

fn day(day: &str, by: &[(&str, u64)]) -> DayCount {
    DayCount {
        day: day.into(),
        total: by.iter().map(|(_, n)| n).sum(),
        by_perpetrator: by.iter().map(|(k, n)| count(k, *n)).collect(),
    }
}

fn agreement() -> AgreementView {
    let party = |code: &str, name: &str, role: PartyRole| AgreementParty {
        party: code.into(),
        name: name.into(),
        role: role.into(),
    };
    AgreementView {
        agreement: Some(Agreement {
            id: "ag-1".into(),
            title: "Energy truce".into(),
            parties: vec![
                party("RU", "Russian Federation", PartyRole::Signatory),
                party("UA", "Ukraine", PartyRole::Signatory),
                party("US", "", PartyRole::Mediator),
            ],
            declared_at: ts("2025-03-18T17:00:00Z"),
            effective_from: vec![
                EffectiveFrom {
                    party: "RU".into(),
                    at: ts("2025-03-18T17:00:00Z"),
                    note: "after the call".into(),
                },
                EffectiveFrom {
                    party: "UA".into(),
                    at: ts("2025-03-25"),
                    note: String::new(),
                },
            ],
            expires_at: ts("2025-04-17T17:00:00Z"),
            ..Agreement::default()
        }),
        status: AgreementStatus::Suspended.into(),
        status_effective_at: ts("2025-03-21T12:00:00Z"),
        statuses: vec![AgreementStatusRecord {
            status: AgreementStatus::Suspended.into(),
            effective_at: ts("2025-03-21T12:00:00Z"),
            sequence: 9,
        }],
        ..AgreementView::default()
    }
}

fn ru_reading() -> ComplianceTally {
    ComplianceTally {
        reading: "RU".into(),
        effective_from: ts("2025-03-18T17:00:00Z"),
        effective_until: ts("2025-04-17T17:00:00Z"),
        current: Some(ComplianceCounts {
            in_scope: 4,
            by_perpetrator: vec![
                PerpetratorCount {
                    party: "UA".into(),
                    total: 3,
                    by_attribution: vec![count("ATTRIBUTION_STATUS_ALLEGED", 3)],
                    by_evidence: vec![
                        count("EVIDENCE_STATUS_UNVERIFIED", 2),
                        count("EVIDENCE_STATUS_DISPUTED", 1),
                    ],
                },
                PerpetratorCount {
                    party: "RU".into(),
                    total: 1,
                    by_attribution: vec![count("ATTRIBUTION_STATUS_ATTRIBUTED", 1)],
                    by_evidence: vec![count("EVIDENCE_STATUS_VERIFIED", 1)],
                },
            ],
            by_event_type: vec![
                count("EVENT_TYPE_DRONE_STRIKE", 3),
                count("EVENT_TYPE_MISSILE_ATTACK", 1),
            ],
            by_target_class: vec![
                count("TARGET_CLASS_GAS_DISTRIBUTION", 2),
                count("TARGET_CLASS_POWER_TRANSMISSION", 2),
            ],
            by_admin1: vec![count("RU/Kursk Oblast", 3), count("UA/?", 1)],
            per_day: vec![
                day("2025-03-19", &[("UA", 1), ("RU", 1)]),
                day("2025-03-21", &[("UA", 1)]),
                day("2025-03-22", &[("UA", 1)]),
            ],
            harm: Some(HarmTotals {
                fatalities_low: 0,
                fatalities_best: 1,
                fatalities_high: 2,
                injured: 3,
                reports_with_figures: 2,
            }),
        }),
        previous: Some(ComplianceCounts {
            in_scope: 1,
            ..ComplianceCounts::default()
        }),
        indeterminate: 1,
        out_of_scope: 2,
        indeterminate_reports: vec![IndeterminateReport {
            report_id: "r-5".into(),
            reasons: vec!["the place is known only to the country".into()],
        }],
    }
}

fn ua_reading() -> ComplianceTally {
    ComplianceTally {
        reading: "UA".into(),
        effective_from: ts("2025-03-25"),
        effective_until: ts("2025-04-17T17:00:00Z"),
        current: Some(ComplianceCounts::default()),
        previous: Some(ComplianceCounts::default()),
        indeterminate: 0,
        out_of_scope: 7,
        indeterminate_reports: Vec::new(),
    }
}

fn annex_entry() -> AnnexEntry {
    let finding = |reading: &str, f: ComplianceFinding, reasons: &[&str]| ScopeAssessment {
        reading: reading.into(),
        finding: f.into(),
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
    };
    AnnexEntry {
        report: Some(Report {
            id: "r-1".into(),
            occurred: Some(TimeInterval {
                start: ts("2025-03-19"),
                end: ts("2025-03-19T23:59:59Z"),
                precision: TimePrecision::Day.into(),
            }),
            location: Some(Location {
                country: "RU".into(),
                admin1: "Kursk Oblast".into(),
                place_name: "Sudzha".into(),
                geo_precision: truce_proto::v1::GeoPrecision::Near.into(),
                ..Location::default()
            }),
            event_type: EventType::DroneStrike.into(),
            target_class: TargetClass::GasDistribution.into(),
            target_name: "metering station".into(),
            alleged_perpetrators: vec!["UA".into()],
            attribution: AttributionStatus::Alleged.into(),
            evidence_status: EvidenceStatus::Disputed.into(),
            sources: vec![Source {
                kind: SourceKind::PartyStatement.into(),
                publisher: "Ministry of Defence".into(),
                url: "https://example.org/mod/1".into(),
                ..Source::default()
            }],
            ..Report::default()
        }),
        linked: true,
        created: None,
        assessments: vec![
            finding("RU", ComplianceFinding::InScope, &[]),
            finding(
                "UA",
                ComplianceFinding::OutOfScope,
                &["occurred before the start per UA"],
            ),
        ],
    }
}

/// The report: period 18-24 March 2025 (six days), as of sequence 12.
pub fn report() -> ComplianceReport {
    let root = vec![0xAB; 32];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&root);
    ComplianceReport {
        agreement: Some(agreement()),
        as_of_sequence: 12,
        checkpoint: Some(Checkpoint {
            note: format!("truce.example/log\n12\n{b64}\n\n\u{2014} truce.example/log AAAAsig=\n"),
            tree_size: 12,
            root_hash: root,
            origin: "truce.example/log".into(),
            verifier_key: String::new(),
        }),
        period: Some(Period {
            from: ts("2025-03-18T17:00:00Z"),
            to: ts("2025-03-24"),
        }),
        previous_period: Some(Period {
            from: ts("2025-03-13T10:00:00Z"),
            to: ts("2025-03-18T17:00:00Z"),
        }),
        tallies: vec![ru_reading(), ua_reading()],
        claims: vec![ClaimBesideEvidence {
            claim: Some(Claim {
                id: "c-1".into(),
                party: "UA".into(),
                kind: ClaimKind::Denial.into(),
                report_ids: vec!["r-1".into()],
                stated_at: ts("2025-03-20T09:00:00Z"),
                statement: "We did not\tstrike".into(),
                ..Claim::default()
            }),
            reports: vec![ReportEvidence {
                report_id: "r-1".into(),
                evidence_status: EvidenceStatus::Disputed.into(),
            }],
        }],
        unlinked_report_ids: vec!["r-4".into()],
        examined: 9,
        annex: vec![annex_entry()],
    }
}

/// A report whose period holds no report at all.
pub fn empty() -> ComplianceReport {
    ComplianceReport {
        agreement: Some(agreement()),
        as_of_sequence: 1,
        period: Some(Period {
            from: ts("2025-03-18T17:00:00Z"),
            to: ts("2025-03-19"),
        }),
        tallies: vec![ComplianceTally {
            reading: String::new(),
            effective_from: ts("2025-03-18T17:00:00Z"),
            ..ComplianceTally::default()
        }],
        ..ComplianceReport::default()
    }
}
