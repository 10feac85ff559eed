//! Access control end to end: every RPC against every role (no token, a
//! wrong token, reader, reporter, admin), the token's name recorded as the
//! submitter, and request ids that belong to their submitter.

use std::sync::atomic::{AtomicUsize, Ordering};

use pbjson_types::FieldMask;
use tonic::{Code, Request, Status, transport::Channel};
use truce_client::{Client, ClientOptions};
use truce_daemon::{
    Daemon, Running,
    access::{Role, TokenEntry, methods, tokens},
    test_settings,
};
use truce_proto::v1::{
    AssessScopeRequest, ComplianceReportRequest, CorrectReportRequest, Correction, Envelope,
    FindAgreementsRequest, GetAgreementRequest, GetCheckpointRequest, GetConsistencyProofRequest,
    GetEntryRequest, GetInclusionProofRequest, GetReportRequest, ListAgreementsRequest,
    ListChangesRequest, QueryReportsRequest, ReadLogRequest, Report, SubmitReportRequest,
    SubscribeRequest, envelope::Kind, stream_receipt, subscribe_request, truce_client::TruceClient,
};
use truce_tests::seed;

const READER: &str = "truce_test-reader-token";
const REPORTER: &str = "truce_test-reporter-token";
const REPORTER_2: &str = "truce_test-second-reporter-token";
const ADMIN: &str = "truce_test-admin-token";
const WRONG: &str = "truce_not-a-configured-token";

/// The minimum role of each RPC, as the issue states it (written
/// independently of the daemon's table, which must agree).
const EXPECTED: &[(&str, Role)] = &[
    ("RecordAgreement", Role::Admin),
    ("SetStatus", Role::Admin),
    ("SubmitReport", Role::Reporter),
    ("AddClaim", Role::Reporter),
    ("AttachSource", Role::Reporter),
    ("CorrectReport", Role::Reporter),
    ("GetAgreement", Role::Reader),
    ("GetReport", Role::Reader),
    ("GetEntry", Role::Reader),
    ("ReadLog", Role::Reader),
    ("ListAgreements", Role::Reader),
    ("QueryReports", Role::Reader),
    ("Subscribe", Role::Reader),
    ("AssessScope", Role::Reader),
    ("FindAgreements", Role::Reader),
    ("GetComplianceReport", Role::Reader),
    ("ListChanges", Role::Reader),
    ("GetCheckpoint", Role::Reader),
    ("GetInclusionProof", Role::Reader),
    ("GetConsistencyProof", Role::Reader),
    ("WriteStream", Role::Reporter),
];

fn entry(name: &str, role: Role, token: &str) -> TokenEntry {
    TokenEntry {
        name: name.into(),
        role,
        sha256: tokens::hash(token),
    }
}

async fn start(dir: &std::path::Path) -> Running {
    let mut settings = test_settings(dir);
    settings.tokens = vec![
        entry("analyst", Role::Reader, READER),
        entry("monitor-1", Role::Reporter, REPORTER),
        entry("monitor-2", Role::Reporter, REPORTER_2),
        entry("ops", Role::Admin, ADMIN),
    ];
    Daemon::new(settings).start().await.expect("daemon starts")
}

async fn client(running: &Running, token: &str) -> Client {
    let options = ClientOptions {
        token: Some(token.into()),
        ..ClientOptions::default()
    };
    Client::connect_with(running.url(), options)
        .await
        .expect("client connects")
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(t) = token {
        let value = format!("Bearer {t}").parse().expect("header value");
        request.metadata_mut().insert("authorization", value);
    }
    request
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh suffix for request and record ids.
fn fresh() -> usize {
    N.fetch_add(1, Ordering::Relaxed)
}

/// The seed envelope of a kind, as a template for a valid write.
fn seed_kind(pick: impl Fn(&Kind) -> bool) -> Kind {
    seed::envelopes()
        .into_iter()
        .filter_map(|e: Envelope| e.kind)
        .find(|k| pick(k))
        .expect("the seed has one")
}

/// Calls `method` with a request that succeeds for a caller allowed to
/// make it (the seed scenario is in the log). Ok(()) or the status.
async fn call(channel: &Channel, method: &str, token: Option<&str>) -> Result<(), Status> {
    let mut c = TruceClient::new(channel.clone());
    let n = fresh();
    let t = token;
    let agreement_id = seed::agreement_id();
    match method {
        "RecordAgreement" => {
            let mut r = seed::agreement();
            r.request_id = format!("access-agreement-{n}");
            if let Some(a) = r.agreement.as_mut() {
                a.id = format!("access-agreement-{n}");
            }
            c.record_agreement(with_token(r, t)).await.map(drop)
        }
        "SubmitReport" => {
            let mut r = seed::report(n);
            r.request_id = format!("access-report-{n}");
            c.submit_report(with_token(r, t)).await.map(drop)
        }
        "WriteStream" => {
            let mut r = seed::report(n);
            r.request_id = format!("access-stream-report-{n}");
            let envelope = Envelope {
                kind: Some(Kind::Report(r)),
            };
            let outgoing = futures::stream::iter([envelope]);
            let mut answers = c.write_stream(with_token(outgoing, t)).await?.into_inner();
            let answer = answers.message().await?.expect("one answer");
            match answer.outcome {
                Some(stream_receipt::Outcome::Receipt(_)) => Ok(()),
                Some(stream_receipt::Outcome::Error(e)) => {
                    Err(Status::new(Code::from(e.code), e.message))
                }
                None => Err(Status::internal("an empty answer")),
            }
        }
        "AddClaim" => {
            let Kind::Claim(mut r) = seed_kind(|k| matches!(k, Kind::Claim(_))) else {
                unreachable!()
            };
            r.request_id = format!("access-claim-{n}");
            if let Some(claim) = r.claim.as_mut() {
                claim.id = format!("access-claim-{n}");
            }
            c.add_claim(with_token(r, t)).await.map(drop)
        }
        "SetStatus" => {
            let Kind::Status(mut r) = seed_kind(|k| matches!(k, Kind::Status(_))) else {
                unreachable!()
            };
            r.request_id = format!("access-status-{n}");
            c.set_status(with_token(r, t)).await.map(drop)
        }
        "AttachSource" => {
            let Kind::Source(mut r) = seed_kind(|k| matches!(k, Kind::Source(_))) else {
                unreachable!()
            };
            r.request_id = format!("access-source-{n}");
            c.attach_source(with_token(r, t)).await.map(drop)
        }
        "CorrectReport" => {
            let r = CorrectReportRequest {
                request_id: format!("access-correction-{n}"),
                with_proof: false,
                correction: Some(Correction {
                    report_id: "seed-report-1".into(),
                    fields: Some(FieldMask {
                        paths: vec!["alleged_perpetrators".into()],
                    }),
                    values: Some(Report {
                        alleged_perpetrators: vec![
                            if n.is_multiple_of(2) { "RU" } else { "UA" }.into(),
                        ],
                        ..Report::default()
                    }),
                    reason: format!("access test {n}"),
                    sources: vec![],
                }),
            };
            c.correct_report(with_token(r, t)).await.map(drop)
        }
        "GetAgreement" => {
            let r = GetAgreementRequest {
                id: agreement_id,
                as_of_sequence: 0,
            };
            c.get_agreement(with_token(r, t)).await.map(drop)
        }
        "GetReport" => {
            let r = GetReportRequest {
                id: "seed-report-1".into(),
                as_of_sequence: 0,
            };
            c.get_report(with_token(r, t)).await.map(drop)
        }
        "GetEntry" => {
            let r = GetEntryRequest { sequence: 1 };
            c.get_entry(with_token(r, t)).await.map(drop)
        }
        "ReadLog" => {
            let r = ReadLogRequest {
                from_sequence: 1,
                limit: 5,
            };
            c.read_log(with_token(r, t)).await.map(drop)
        }
        "ListAgreements" => {
            let r = ListAgreementsRequest::default();
            c.list_agreements(with_token(r, t)).await.map(drop)
        }
        "QueryReports" => {
            let r = QueryReportsRequest::default();
            c.query_reports(with_token(r, t)).await.map(drop)
        }
        "Subscribe" => {
            let r = SubscribeRequest {
                start: Some(subscribe_request::Start::FromStart(true)),
                ..SubscribeRequest::default()
            };
            let mut stream = c.subscribe(with_token(r, t)).await?.into_inner();
            // The first entry arrives: the stream really serves.
            stream.message().await.map(drop)
        }
        "AssessScope" => {
            let r = AssessScopeRequest {
                report_id: "seed-report-1".into(),
                agreement_id,
                as_of_sequence: 0,
            };
            c.assess_scope(with_token(r, t)).await.map(drop)
        }
        "FindAgreements" => {
            let r = FindAgreementsRequest {
                report_id: "seed-report-1".into(),
                as_of_sequence: 0,
            };
            c.find_agreements(with_token(r, t)).await.map(drop)
        }
        "GetComplianceReport" => {
            let r = ComplianceReportRequest {
                agreement_id,
                ..ComplianceReportRequest::default()
            };
            let mut stream = c
                .get_compliance_report(with_token(r, t))
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
        "ListChanges" => {
            let r = ListChangesRequest::default();
            c.list_changes(with_token(r, t)).await.map(drop)
        }
        "GetCheckpoint" => {
            let r = GetCheckpointRequest {};
            c.get_checkpoint(with_token(r, t)).await.map(drop)
        }
        "GetInclusionProof" => {
            let r = GetInclusionProofRequest {
                sequence: 1,
                tree_size: 0,
            };
            c.get_inclusion_proof(with_token(r, t)).await.map(drop)
        }
        "GetConsistencyProof" => {
            let r = GetConsistencyProofRequest {
                first_size: 1,
                second_size: 0,
            };
            c.get_consistency_proof(with_token(r, t)).await.map(drop)
        }
        other => raw_call(channel, other, t).await,
    }
}

/// A call of any method by path, with an empty message: for RPCs this
/// test has no request for, and for methods that do not exist.
async fn raw_call(channel: &Channel, method: &str, token: Option<&str>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = format!("/truce.v1.Truce/{method}").parse().expect("a path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    grpc.unary(with_token((), token), path, codec)
        .await
        .map(drop)
}

/// Every method the daemon knows, with the role this test expects: the
/// issue's table, and admin for anything else (e.g. Backup).
fn all_methods() -> Vec<(&'static str, Role)> {
    let mut all: Vec<(&str, Role)> = EXPECTED.to_vec();
    for m in methods::METHODS {
        if !all.iter().any(|(name, _)| *name == m.name) {
            all.push((m.name, Role::Admin));
        }
    }
    all
}

#[tokio::test]
async fn every_role_against_every_rpc() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let admin = client(&running, ADMIN).await;
    seed::submit_all(&admin).await;
    let channel = Channel::from_shared(running.url())
        .expect("url")
        .connect()
        .await
        .expect("connects");

    // The daemon's table agrees with the issue's.
    for (name, role) in EXPECTED {
        let listed = methods::METHODS
            .iter()
            .find(|m| m.name == *name)
            .unwrap_or_else(|| panic!("{name} missing from the daemon's table"));
        assert_eq!(listed.role, *role, "{name}");
    }

    let callers: [(&str, Option<&str>, Option<Role>); 5] = [
        ("no token", None, None),
        ("wrong token", Some(WRONG), None),
        ("reader", Some(READER), Some(Role::Reader)),
        ("reporter", Some(REPORTER), Some(Role::Reporter)),
        ("admin", Some(ADMIN), Some(Role::Admin)),
    ];

    // First every refusal: nothing may be written by any of them.
    let before = running.durable_sequence();
    let mut refused = 0;
    for (method, needs) in all_methods() {
        for (who, token, role) in callers {
            let expected = match role {
                None => Code::Unauthenticated,
                Some(r) if r < needs => Code::PermissionDenied,
                Some(_) => continue,
            };
            let err = call(&channel, method, token)
                .await
                .expect_err(&format!("{who} must not call {method}"));
            assert_eq!(err.code(), expected, "{who} → {method}: {err:?}");
            refused += 1;
        }
    }
    assert!(refused >= 2 * 21 + 8, "{refused} refusals");
    assert_eq!(
        running.durable_sequence(),
        before,
        "a refused request wrote nothing"
    );

    // Then every allowed call succeeds.
    for (method, needs) in EXPECTED {
        for (who, token, role) in callers {
            if role.is_some_and(|r| r >= *needs) {
                call(&channel, method, token)
                    .await
                    .unwrap_or_else(|e| panic!("{who} → {method}: {e:?}"));
            }
        }
    }
    assert!(running.durable_sequence() > before);

    // A method that does not exist needs admin, and then does not exist.
    let err = raw_call(&channel, "DropEverything", Some(REPORTER))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = raw_call(&channel, "DropEverything", Some(ADMIN))
        .await
        .expect_err("no such method");
    assert_eq!(err.code(), Code::Unimplemented);

    // Health stays open without a token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers without a token");
    assert_eq!(
        status.into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_token_name_is_the_submitter_and_request_ids_are_their_submitters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let admin = client(&running, ADMIN).await;
    let monitor_1 = client(&running, REPORTER).await;
    let monitor_2 = client(&running, REPORTER_2).await;

    let agreement = admin
        .record_agreement(seed::agreement())
        .await
        .expect("admin records");
    let entry = admin.get_entry(agreement.sequence).await.expect("entry");
    assert_eq!(entry.entry.expect("entry").submitter, "ops");

    let request = SubmitReportRequest {
        request_id: "shared-request-id".into(),
        ..seed::report(0)
    };
    let first = monitor_1
        .submit_report(request.clone())
        .await
        .expect("monitor-1 submits");
    let entry = admin.get_entry(first.sequence).await.expect("entry");
    assert_eq!(entry.entry.expect("entry").submitter, "monitor-1");

    // The same request id under another token: taken, and nothing said
    // about the original.
    let length = running.durable_sequence();
    for req in [
        request.clone(),
        SubmitReportRequest {
            request_id: "shared-request-id".into(),
            ..seed::report(1)
        },
    ] {
        let err = monitor_2.submit_report(req).await.expect_err("taken");
        assert_eq!(err.code(), Some(Code::AlreadyExists), "{err}");
        let message = err.to_string();
        assert!(
            !message.contains(&first.sequence.to_string()) && !message.contains(&first.record_id),
            "the original receipt leaks: {message}"
        );
    }
    assert_eq!(running.durable_sequence(), length, "nothing written");

    // The submitter's own retry still gets the original receipt.
    let again = monitor_1
        .submit_report(request)
        .await
        .expect("idempotent retry");
    assert!(again.duplicate);
    assert_eq!(
        (again.sequence, again.record_id),
        (first.sequence, first.record_id)
    );
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn without_tokens_access_is_open_and_entries_are_anonymous() {
    let d = truce_tests::TestDaemon::start().await;
    let receipt = d
        .client
        .record_agreement(seed::agreement())
        .await
        .expect("open access writes");
    let entry = d.client.get_entry(receipt.sequence).await.expect("entry");
    assert_eq!(entry.entry.expect("entry").submitter, "anonymous");
    // A token sent to an open daemon changes nothing.
    let with = Client::connect_with(
        d.running.url(),
        ClientOptions {
            token: Some(WRONG.into()),
            ..ClientOptions::default()
        },
    )
    .await
    .expect("connects");
    let receipt = with
        .submit_report(seed::report(7))
        .await
        .expect("still open");
    let entry = with.get_entry(receipt.sequence).await.expect("entry");
    assert_eq!(entry.entry.expect("entry").submitter, "anonymous");
    d.stop().await;
}
