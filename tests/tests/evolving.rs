//! Records that evolve: the whole seed scenario (claims, status changes,
//! an attached source, the lapse) applied to current views with their
//! history; corrections keep the original readable; every rule for the
//! changing writes; views identical after restart and reindex.

#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a panic is a test failure"
)]

use std::sync::Arc;

use pbjson_types::{FieldMask, Timestamp};
use prost::Message;
use tonic::Code;
use truce_proto::v1::{
    AddClaimRequest, AgreementStatus, AgreementStatusChange, AttachSourceRequest, Claim, ClaimKind,
    ComplianceFinding, ComplianceFindingChange, CorrectReportRequest, Correction, Entry, EntryKind,
    EvidenceStatus, EvidenceStatusChange, Harm, Report, SetStatusRequest, SourceAttachment,
    StatusChange, entry::Payload, source_attachment, status_change,
};
use truce_tests::{
    TestDaemon, seed,
    sync::{Recorder, RecordingSync},
};

fn kinds(history: &[truce_proto::v1::HistoryItem]) -> Vec<EntryKind> {
    history.iter().map(|h| h.kind()).collect()
}

fn ts(s: &str) -> Timestamp {
    truce_cli::time::parse(s).unwrap()
}

#[tokio::test]
async fn the_whole_seed_scenario_shapes_the_views() {
    let d = TestDaemon::start().await;
    let receipts = seed::submit_all(&d.client).await;
    assert_eq!(receipts.len(), 12);
    assert_eq!(receipts.last().unwrap().sequence, 12);
    assert!(receipts.iter().all(|r| !r.duplicate));

    let agreement = d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    let a = agreement.agreement.as_ref().unwrap();
    assert_eq!(a.effective_from.len(), 2, "both parties' start dates");
    assert_eq!(a.effective_from[0].party, "RU");
    assert_eq!(a.effective_from[1].party, "UA");
    assert_eq!(agreement.status(), AgreementStatus::Lapsed);
    assert_eq!(
        agreement.status_effective_at,
        Some(ts("2025-04-17T17:00:00Z"))
    );
    assert_eq!(
        a.sources.len(),
        2,
        "the article, and the attached tariff warning"
    );
    let claim_ids: Vec<&str> = agreement.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        claim_ids,
        [
            "seed-claim-ua-denies-1-2",
            "seed-claim-ua-accuses-3",
            "seed-claim-ru-denies-3"
        ]
    );
    assert_eq!(
        kinds(&agreement.history),
        [
            EntryKind::Agreement,
            EntryKind::Claim,
            EntryKind::Claim,
            EntryKind::Claim,
            EntryKind::Source,
            EntryKind::Status,
            EntryKind::Status
        ]
    );
    let seqs: Vec<u64> = agreement.history.iter().map(|h| h.sequence).collect();
    assert_eq!(seqs, [1, 5, 6, 7, 8, 11, 12], "history in log order");

    for (id, status_seq) in [("seed-report-1", 9), ("seed-report-2", 10)] {
        let v = d.client.get_report(id).await.unwrap();
        let r = v.report.as_ref().unwrap();
        assert_eq!(r.evidence_status(), EvidenceStatus::Disputed, "{id}");
        assert_eq!(v.claims.len(), 1);
        assert_eq!(v.claims[0].kind(), ClaimKind::Denial);
        assert_eq!(v.claims[0].party, "UA");
        assert_eq!(
            kinds(&v.history),
            [EntryKind::Report, EntryKind::Claim, EntryKind::Status]
        );
        assert_eq!(v.history[2].sequence, status_seq);
        assert!(
            v.history[2].summary.contains("disputed"),
            "{}",
            v.history[2].summary
        );
        assert_eq!(r.alleged_perpetrators, ["UA"]);
        assert_eq!(r.reported_by, "RU");
    }
    let v3 = d.client.get_report("seed-report-3").await.unwrap();
    assert_eq!(
        v3.report.as_ref().unwrap().evidence_status(),
        EvidenceStatus::Unverified
    );
    let c3: Vec<(String, ClaimKind)> = v3
        .claims
        .iter()
        .map(|c| (c.party.clone(), c.kind()))
        .collect();
    assert_eq!(
        c3,
        [
            ("UA".to_owned(), ClaimKind::Accusation),
            ("RU".to_owned(), ClaimKind::Denial)
        ]
    );

    // Resubmitting the file changes nothing.
    let again = seed::submit_all(&d.client).await;
    assert!(again.iter().all(|r| r.duplicate));
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 12);

    // Views are the same after a restart, and after a reindex.
    let before = (
        d.client.get_agreement(&seed::agreement_id()).await.unwrap(),
        d.client.get_report("seed-report-3").await.unwrap(),
    );
    let d = d.restart().await;
    let after = (
        d.client.get_agreement(&seed::agreement_id()).await.unwrap(),
        d.client.get_report("seed-report-3").await.unwrap(),
    );
    assert_eq!(before, after);
    let digest = d.running.derived_digest().unwrap();
    let dir = d.stop().await;
    let rebuilt = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || {
            let store = truce_daemon::store::Store::open(&path, 16 << 20)
                .unwrap()
                .into_writer();
            store.reindex().unwrap();
            store.derived_digest().unwrap()
        }
    })
    .await
    .unwrap();
    assert!(rebuilt.iter().any(|(t, _, _)| t == "views"));
    assert_eq!(rebuilt, digest, "maintained projections equal rebuilt ones");
    let (running, client) = truce_tests::start_in(dir.path(), None).await;
    assert_eq!(client.get_report("seed-report-3").await.unwrap(), before.1);
    running.shutdown().await.unwrap();
}

fn correction(
    report_id: &str,
    paths: &[&str],
    values: Report,
    reason: &str,
) -> CorrectReportRequest {
    CorrectReportRequest {
        request_id: String::new(),
        with_proof: false,
        correction: Some(Correction {
            report_id: report_id.into(),
            fields: Some(FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
            values: Some(values),
            reason: reason.into(),
            sources: vec![],
        }),
    }
}

#[tokio::test]
async fn a_correction_applies_and_the_original_stays_readable() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let values = Report {
        harm: Some(Harm {
            fatalities_best: Some(1),
            injured: Some(4),
            ..Harm::default()
        }),
        notes: "revised after hospital figures".into(),
        ..Report::default()
    };
    let receipt = d
        .client
        .correct_report(correction(
            "seed-report-3",
            &["harm.fatalities_best", "harm.injured", "notes"],
            values,
            "hospital figures",
        ))
        .await
        .unwrap();
    assert_eq!(receipt.record_id, "seed-report-3");

    let view = d.client.get_report("seed-report-3").await.unwrap();
    let r = view.report.as_ref().unwrap();
    let harm = r.harm.unwrap();
    assert_eq!(harm.fatalities_low, Some(0), "untouched fields stay");
    assert_eq!(harm.fatalities_best, Some(1));
    assert_eq!(harm.fatalities_high, Some(1));
    assert_eq!(harm.injured, Some(4));
    assert_eq!(r.notes, "revised after hospital figures");
    let last = view.history.last().unwrap();
    assert_eq!(last.kind(), EntryKind::Correction);
    assert_eq!(last.sequence, receipt.sequence);

    // The original, as submitted, is still in the log.
    let created = d
        .client
        .get_entry(view.created.unwrap().sequence)
        .await
        .unwrap();
    let Some(Payload::Report(original)) = created.entry.unwrap().payload else {
        panic!("the creating entry holds the report");
    };
    assert_eq!(original.harm.unwrap().fatalities_best, Some(0));
    assert_eq!(original.harm.unwrap().injured, Some(2));
    assert!(original.notes.starts_with("Illustrative."));
    d.stop().await;
}

#[tokio::test]
async fn extensions_move_the_expiry_and_only_later() {
    let d = TestDaemon::start().await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let extend = |to: &str| SetStatusRequest {
        request_id: String::new(),
        with_proof: false,
        status: Some(StatusChange {
            target: Some(status_change::Target::AgreementId(seed::agreement_id())),
            change: Some(status_change::Change::Agreement(AgreementStatusChange {
                status: AgreementStatus::Extended.into(),
                new_expires_at: Some(ts(to)),
                superseded_by: String::new(),
            })),
            effective_at: None,
            reason: "extended".into(),
            sources: vec![],
        }),
    };
    d.client
        .set_status(extend("2025-05-17T17:00:00Z"))
        .await
        .unwrap();
    let v = d.client.get_agreement(&seed::agreement_id()).await.unwrap();
    assert_eq!(v.status(), AgreementStatus::Extended);
    assert_eq!(
        v.agreement.unwrap().expires_at,
        Some(ts("2025-05-17T17:00:00Z"))
    );
    let err = d
        .client
        .set_status(extend("2025-05-01T00:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::FailedPrecondition));
    assert!(
        err.to_string().contains("status.agreement.new_expires_at"),
        "{err}"
    );
    assert_eq!(d.client.read_log(1, 0).await.unwrap().durable_sequence, 2);
    d.stop().await;
}

fn status(target: status_change::Target, change: status_change::Change) -> SetStatusRequest {
    SetStatusRequest {
        request_id: String::new(),
        with_proof: false,
        status: Some(StatusChange {
            target: Some(target),
            change: Some(change),
            effective_at: None,
            reason: "because".into(),
            sources: vec![],
        }),
    }
}

fn evidence(report: &str, st: EvidenceStatus, dup: &str) -> SetStatusRequest {
    status(
        status_change::Target::ReportId(report.into()),
        status_change::Change::Evidence(EvidenceStatusChange {
            status: st.into(),
            duplicate_of: dup.into(),
        }),
    )
}

#[tokio::test]
async fn every_rule_of_the_changing_writes() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let agr = seed::agreement_id();
    let c = &d.client;

    let claim = |f: fn(&mut Claim)| {
        let mut claim = Claim {
            party: "UA".into(),
            kind: ClaimKind::Denial.into(),
            report_ids: vec!["seed-report-1".into()],
            stated_at: Some(ts("2025-03-22")),
            statement: "denied".into(),
            ..Claim::default()
        };
        f(&mut claim);
        AddClaimRequest {
            request_id: String::new(),
            with_proof: false,
            claim: Some(claim),
        }
    };
    let mut results: Vec<(&str, Result<_, truce_client::ClientError>, Code, &str)> = vec![
        (
            "claim about an unknown report",
            c.add_claim(claim(|c| c.report_ids = vec!["nope".into()]))
                .await,
            Code::NotFound,
            "claim.report_ids[0]",
        ),
        (
            "claim about an unknown agreement",
            c.add_claim(claim(|c| c.agreement_id = "nope".into())).await,
            Code::NotFound,
            "claim.agreement_id",
        ),
        (
            "claim about nothing",
            c.add_claim(claim(|c| c.report_ids.clear())).await,
            Code::InvalidArgument,
            "claim.report_ids",
        ),
        (
            "claim kind unspecified",
            c.add_claim(claim(|c| c.kind = 0)).await,
            Code::InvalidArgument,
            "claim.kind",
        ),
        (
            "claim without party",
            c.add_claim(claim(|c| c.party.clear())).await,
            Code::InvalidArgument,
            "claim.party",
        ),
        (
            "claim without stated_at",
            c.add_claim(claim(|c| c.stated_at = None)).await,
            Code::InvalidArgument,
            "claim.stated_at",
        ),
        (
            "claim without statement",
            c.add_claim(claim(|c| c.statement.clear())).await,
            Code::InvalidArgument,
            "claim.statement",
        ),
        (
            "claim with an existing id",
            c.add_claim(claim(|c| c.id = "seed-claim-ru-denies-3".into()))
                .await,
            Code::AlreadyExists,
            "seed-claim-ru-denies-3",
        ),
        (
            "status of an unknown report",
            c.set_status(evidence("nope", EvidenceStatus::Verified, ""))
                .await,
            Code::NotFound,
            "status.report_id",
        ),
        (
            "duplicate of itself",
            c.set_status(evidence(
                "seed-report-1",
                EvidenceStatus::Duplicate,
                "seed-report-1",
            ))
            .await,
            Code::InvalidArgument,
            "status.evidence.duplicate_of",
        ),
        (
            "duplicate of an unknown report",
            c.set_status(evidence("seed-report-1", EvidenceStatus::Duplicate, "nope"))
                .await,
            Code::NotFound,
            "status.evidence.duplicate_of",
        ),
        (
            "duplicate without duplicate_of",
            c.set_status(evidence("seed-report-1", EvidenceStatus::Duplicate, ""))
                .await,
            Code::InvalidArgument,
            "status.evidence.duplicate_of",
        ),
        (
            "duplicate_of without duplicate",
            c.set_status(evidence(
                "seed-report-1",
                EvidenceStatus::Verified,
                "seed-report-2",
            ))
            .await,
            Code::InvalidArgument,
            "status.evidence.duplicate_of",
        ),
        (
            "evidence status unspecified",
            c.set_status(evidence("seed-report-1", EvidenceStatus::Unspecified, ""))
                .await,
            Code::InvalidArgument,
            "status.evidence.status",
        ),
        (
            "evidence status of an agreement",
            c.set_status(status(
                status_change::Target::AgreementId(agr.clone()),
                status_change::Change::Evidence(EvidenceStatusChange {
                    status: EvidenceStatus::Verified.into(),
                    duplicate_of: String::new(),
                }),
            ))
            .await,
            Code::InvalidArgument,
            "status.evidence",
        ),
        (
            "agreement status of a report",
            c.set_status(status(
                status_change::Target::ReportId("seed-report-1".into()),
                status_change::Change::Agreement(AgreementStatusChange {
                    status: AgreementStatus::Ended.into(),
                    ..Default::default()
                }),
            ))
            .await,
            Code::InvalidArgument,
            "status.agreement",
        ),
        (
            "superseded by an unknown agreement",
            c.set_status(status(
                status_change::Target::AgreementId(agr.clone()),
                status_change::Change::Agreement(AgreementStatusChange {
                    status: AgreementStatus::Superseded.into(),
                    superseded_by: "nope".into(),
                    ..Default::default()
                }),
            ))
            .await,
            Code::NotFound,
            "status.agreement.superseded_by",
        ),
        (
            "superseded by itself",
            c.set_status(status(
                status_change::Target::AgreementId(agr.clone()),
                status_change::Change::Agreement(AgreementStatusChange {
                    status: AgreementStatus::Superseded.into(),
                    superseded_by: agr.clone(),
                    ..Default::default()
                }),
            ))
            .await,
            Code::InvalidArgument,
            "status.agreement.superseded_by",
        ),
        (
            "extended without expiry",
            c.set_status(status(
                status_change::Target::AgreementId(agr.clone()),
                status_change::Change::Agreement(AgreementStatusChange {
                    status: AgreementStatus::Extended.into(),
                    ..Default::default()
                }),
            ))
            .await,
            Code::InvalidArgument,
            "status.agreement.new_expires_at",
        ),
        (
            "status of an unknown agreement",
            c.set_status(status(
                status_change::Target::AgreementId("nope".into()),
                status_change::Change::Agreement(AgreementStatusChange {
                    status: AgreementStatus::Ended.into(),
                    ..Default::default()
                }),
            ))
            .await,
            Code::NotFound,
            "status.agreement_id",
        ),
        (
            "finding against an unknown agreement",
            c.set_status(status(
                status_change::Target::ReportId("seed-report-1".into()),
                status_change::Change::Compliance(ComplianceFindingChange {
                    agreement_id: "nope".into(),
                    finding: ComplianceFinding::InScope.into(),
                }),
            ))
            .await,
            Code::NotFound,
            "status.compliance.agreement_id",
        ),
        (
            "status without reason",
            c.set_status({
                let mut s = evidence("seed-report-1", EvidenceStatus::Verified, "");
                s.status.as_mut().unwrap().reason.clear();
                s
            })
            .await,
            Code::InvalidArgument,
            "status.reason",
        ),
        (
            "status without target",
            c.set_status({
                let mut s = evidence("seed-report-1", EvidenceStatus::Verified, "");
                s.status.as_mut().unwrap().target = None;
                s
            })
            .await,
            Code::InvalidArgument,
            "status.report_id",
        ),
        (
            "source for an unknown report",
            c.attach_source(AttachSourceRequest {
                request_id: String::new(),
                with_proof: false,
                attachment: Some(SourceAttachment {
                    target: Some(source_attachment::Target::ReportId("nope".into())),
                    source: seed::reports()[0]
                        .report
                        .as_ref()
                        .unwrap()
                        .sources
                        .first()
                        .cloned(),
                    note: String::new(),
                }),
            })
            .await,
            Code::NotFound,
            "attachment.report_id",
        ),
        (
            "attachment without source",
            c.attach_source(AttachSourceRequest {
                request_id: String::new(),
                with_proof: false,
                attachment: Some(SourceAttachment {
                    target: Some(source_attachment::Target::ReportId("seed-report-1".into())),
                    source: None,
                    note: String::new(),
                }),
            })
            .await,
            Code::InvalidArgument,
            "attachment.source",
        ),
        (
            "correction of a field that does not exist",
            c.correct_report(correction(
                "seed-report-1",
                &["casualties"],
                Report::default(),
                "x",
            ))
            .await,
            Code::InvalidArgument,
            "correction.fields[0]",
        ),
        (
            "correction of the id",
            c.correct_report(correction("seed-report-1", &["id"], Report::default(), "x"))
                .await,
            Code::InvalidArgument,
            "correction.fields[0]",
        ),
        (
            "correction of an unknown report",
            c.correct_report(correction("nope", &["notes"], Report::default(), "x"))
                .await,
            Code::NotFound,
            "correction.report_id",
        ),
        (
            "correction without reason",
            c.correct_report(correction(
                "seed-report-1",
                &["notes"],
                Report::default(),
                "",
            ))
            .await,
            Code::InvalidArgument,
            "correction.reason",
        ),
        (
            "correction that breaks low <= best",
            c.correct_report(correction(
                "seed-report-3",
                &["harm.fatalities_low"],
                Report {
                    harm: Some(Harm {
                        fatalities_low: Some(9),
                        ..Harm::default()
                    }),
                    ..Report::default()
                },
                "x",
            ))
            .await,
            Code::InvalidArgument,
            "correction.values.harm",
        ),
        (
            "correction that clears a required field",
            c.correct_report(correction(
                "seed-report-1",
                &["location"],
                Report::default(),
                "x",
            ))
            .await,
            Code::InvalidArgument,
            "correction.values.location",
        ),
        (
            "correction to an unknown agreement",
            c.correct_report(correction(
                "seed-report-1",
                &["agreement_ids"],
                Report {
                    agreement_ids: vec!["nope".into()],
                    ..Report::default()
                },
                "x",
            ))
            .await,
            Code::NotFound,
            "correction.values.agreement_ids[0]",
        ),
    ]
    .into_iter()
    .map(|(n, r, code, field)| (n, r.map(|_| ()), code, field))
    .collect::<Vec<_>>();
    let failures: Vec<String> = results
        .drain(..)
        .filter_map(|(name, result, code, field)| match result {
            Ok(()) => Some(format!("{name}: accepted")),
            Err(e) if e.code() != Some(code) || !e.to_string().contains(field) => {
                Some(format!("{name}: want {code:?} naming {field}, got {e}"))
            }
            Err(_) => None,
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        d.client.read_log(1, 0).await.unwrap().durable_sequence,
        12,
        "nothing written"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_view_never_shows_an_entry_that_is_not_durable() {
    let recorder = Arc::new(Recorder::default());
    let mut sync = RecordingSync::new(Arc::clone(&recorder));
    sync.fail_from_group = Some(2);
    let d = TestDaemon::start_with(Some(Box::new(sync))).await;
    d.client.record_agreement(seed::agreement()).await.unwrap();
    let report = seed::reports().remove(0);
    let id = report.report.as_ref().unwrap().id.clone();
    d.client.submit_report(report).await.unwrap();
    // Written to the store (with its view) but its sync fails.
    let err = d
        .client
        .set_status(evidence(&id, EvidenceStatus::Debunked, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable));
    let v = d.client.get_report(&id).await.unwrap();
    assert_eq!(
        v.report.unwrap().evidence_status(),
        EvidenceStatus::Unverified
    );
    assert_eq!(kinds(&v.history), [EntryKind::Report]);
    d.stop().await;
}

#[tokio::test]
async fn server_assigned_claim_ids_and_stored_bytes() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let receipt = d
        .client
        .add_claim(AddClaimRequest {
            request_id: "extra-claim".into(),
            with_proof: false,
            claim: Some(Claim {
                party: "RU".into(),
                kind: ClaimKind::JustificationAsRetaliation.into(),
                report_ids: vec!["seed-report-3".into()],
                stated_at: Some(ts("2025-03-23")),
                statement: "a response to strikes on Russian facilities".into(),
                ..Claim::default()
            }),
        })
        .await
        .unwrap();
    assert_eq!(receipt.record_id, format!("claim-{}", receipt.sequence));
    let raw = d.client.get_entry(receipt.sequence).await.unwrap().raw;
    let entry = Entry::decode(raw.as_slice()).unwrap();
    let Some(Payload::Claim(stored)) = entry.payload else {
        panic!("a claim entry");
    };
    assert!(stored.id.is_empty(), "the payload is stored as submitted");
    let v = d.client.get_report("seed-report-3").await.unwrap();
    assert_eq!(v.claims.last().unwrap().id, receipt.record_id);
    d.stop().await;
}

/// An import keeps another store's server-form ids (`claim-15`), so a
/// client may choose one; the server then assigns around it, and a taken
/// id stays refused.
#[tokio::test]
async fn server_form_ids_chosen_by_a_client_are_kept_and_assigned_around() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let claim = |request_id: &str, id: &str| AddClaimRequest {
        request_id: request_id.into(),
        with_proof: false,
        claim: Some(Claim {
            id: id.into(),
            party: "RU".into(),
            kind: ClaimKind::Denial.into(),
            report_ids: vec!["seed-report-3".into()],
            stated_at: Some(ts("2025-03-23")),
            statement: "no such strike took place".into(),
            ..Claim::default()
        }),
    };
    // Sequence 13 takes the id the server would give at 14 and at 15.
    let chosen = d
        .client
        .add_claim(claim("chosen-14", "claim-14"))
        .await
        .unwrap();
    assert_eq!(
        (chosen.sequence, chosen.record_id.as_str()),
        (13, "claim-14")
    );
    d.client
        .add_claim(claim("chosen-15", "claim-15"))
        .await
        .unwrap();
    let next = d.client.add_claim(claim("assigned-15", "")).await.unwrap();
    assert_eq!((next.sequence, next.record_id.as_str()), (15, "claim-15.1"));
    let next = d.client.add_claim(claim("assigned-16", "")).await.unwrap();
    assert_eq!(next.record_id, "claim-16");
    let taken = d
        .client
        .add_claim(claim("again-14", "claim-14"))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Some(Code::AlreadyExists), "{taken}");
    let v = d.client.get_report("seed-report-3").await.unwrap();
    let ids: Vec<&str> = v.claims.iter().map(|c| c.id.as_str()).collect();
    assert!(
        ids.ends_with(&["claim-14", "claim-15", "claim-15.1", "claim-16"]),
        "{ids:?}"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_report_with_many_attached_sources_can_still_be_corrected() {
    let d = TestDaemon::start().await;
    seed::submit_all(&d.client).await;
    let source = seed::reports()[0].report.as_ref().unwrap().sources[0].clone();
    // Seed report 1 has 2 sources; 63 more take it past 64.
    for i in 0..63 {
        let mut s = source.clone();
        s.url = format!("https://example.org/attached/{i}");
        d.client
            .attach_source(AttachSourceRequest {
                request_id: format!("many-sources-{i}"),
                with_proof: false,
                attachment: Some(SourceAttachment {
                    target: Some(source_attachment::Target::ReportId("seed-report-1".into())),
                    source: Some(s),
                    note: String::new(),
                }),
            })
            .await
            .unwrap();
    }
    let view = d.client.get_report("seed-report-1").await.unwrap();
    assert_eq!(view.report.as_ref().unwrap().sources.len(), 65);
    let mut req = correction(
        "seed-report-1",
        &["notes"],
        Report {
            notes: "corrected after many sources".into(),
            ..Report::default()
        },
        "typo",
    );
    req.request_id = "many-sources-correction".into();
    d.client.correct_report(req).await.unwrap();
    let view = d.client.get_report("seed-report-1").await.unwrap();
    assert_eq!(
        view.report.as_ref().unwrap().notes,
        "corrected after many sources"
    );
    assert_eq!(view.report.as_ref().unwrap().sources.len(), 65);
    d.stop().await;
}
