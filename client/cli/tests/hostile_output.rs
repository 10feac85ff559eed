//! Text stored before the daemon refused control characters (or sent by
//! any other daemon) reaches the terminal escaped: `truce report show`,
//! `report list`, `changes`, `scope`, `watch` and error messages print
//! `\u001b` where the record holds ESC, and so on for BEL and C1. Errors
//! also show the field their standard details name. Against a stand-in
//! server that serves such records.

use std::{pin::Pin, process::Command};

use futures_core::Stream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use truce_proto::v1::{
    AgreementView, AssessScopeRequest, AssessScopeResponse, CaughtUp, Change, Entry,
    GetAgreementRequest, GetReportRequest, HistoryItem, ListChangesRequest, ListChangesResponse,
    QueryReportsRequest, QueryReportsResponse, RawEntry, Report, ReportView, ScopeAssessment,
    SubscribeRequest, SubscribeResponse,
    entry::Payload,
    subscribe_response,
    truce_server::{Truce, TruceServer},
};

/// ESC, BEL and a C1 CSI: a title set, a screen cleared.
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{9b}2J";

fn report() -> Report {
    Report {
        id: format!("r-1{HOSTILE}"),
        notes: format!("notes{HOSTILE}"),
        target_name: format!("target{HOSTILE}"),
        reported_by: format!("UA{HOSTILE}"),
        ..Report::default()
    }
}

fn view() -> ReportView {
    ReportView {
        report: Some(report()),
        history: vec![HistoryItem {
            sequence: 1,
            submitter: format!("who{HOSTILE}"),
            summary: format!("summary{HOSTILE}"),
            ..HistoryItem::default()
        }],
        ..ReportView::default()
    }
}

struct Hostile;

type Events = Pin<Box<dyn Stream<Item = Result<SubscribeResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Truce for Hostile {
    async fn get_report(
        &self,
        _: Request<GetReportRequest>,
    ) -> Result<Response<ReportView>, Status> {
        Ok(Response::new(view()))
    }

    async fn query_reports(
        &self,
        _: Request<QueryReportsRequest>,
    ) -> Result<Response<QueryReportsResponse>, Status> {
        Ok(Response::new(QueryReportsResponse {
            reports: vec![view()],
            ..QueryReportsResponse::default()
        }))
    }

    async fn list_changes(
        &self,
        _: Request<ListChangesRequest>,
    ) -> Result<Response<ListChangesResponse>, Status> {
        Ok(Response::new(ListChangesResponse {
            changes: vec![Change {
                entry: view().history.pop(),
                record_id: "r-1".into(),
                touched: vec![format!("report:r-1{HOSTILE}")],
            }],
            next_after: 1,
            until_sequence: 1,
        }))
    }

    async fn assess_scope(
        &self,
        _: Request<AssessScopeRequest>,
    ) -> Result<Response<AssessScopeResponse>, Status> {
        Ok(Response::new(AssessScopeResponse {
            assessments: vec![ScopeAssessment {
                reading: format!("UA{HOSTILE}"),
                reasons: vec![format!("reason{HOSTILE}")],
                ..ScopeAssessment::default()
            }],
            as_of_sequence: 1,
        }))
    }

    async fn subscribe(&self, _: Request<SubscribeRequest>) -> Result<Response<Events>, Status> {
        use prost::Message;
        let entry = Entry {
            sequence: 1,
            record_id: format!("r-1{HOSTILE}"),
            payload: Some(Payload::Report(report())),
            ..Entry::default()
        };
        let events = vec![
            Ok(SubscribeResponse {
                event: Some(subscribe_response::Event::Entry(RawEntry {
                    sequence: 1,
                    entry: entry.encode_to_vec(),
                })),
            }),
            Ok(SubscribeResponse {
                event: Some(subscribe_response::Event::CaughtUp(CaughtUp {
                    sequence: 1,
                })),
            }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }

    async fn get_agreement(
        &self,
        _: Request<GetAgreementRequest>,
    ) -> Result<Response<AgreementView>, Status> {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("id", "is not an agreement");
        Err(Status::with_error_details(
            Code::InvalidArgument,
            format!("refused{HOSTILE}"),
            details,
        ))
    }
}

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TruceServer::new(Hostile))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

/// Runs `truce` (on a blocking thread: the stand-in serves meanwhile);
/// (stdout, stderr) as bytes.
async fn truce(server: &str, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let server = server.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_truce"))
            .env("TRUCE_SERVER", server)
            .args(&args)
            .output()
            .expect("truce runs")
    })
    .await
    .expect("joins");
    (out.stdout, out.stderr)
}

/// No raw ESC, BEL, other C0 but newline and tab, DEL or C1 in `bytes`.
fn assert_escaped(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        .collect();
    assert!(raw.is_empty(), "{what} printed raw {raw:?}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_control_characters_reach_the_terminal_escaped() {
    let url = serve().await;
    let commands: &[&[&str]] = &[
        &["report", "show", "r-1", "--history"],
        &["report", "list"],
        &["changes"],
        &["scope", "r-1", "--agreement", "a-1"],
        &["watch", "--from-start", "--until-caught-up"],
        &["--json", "report", "show", "r-1"],
    ];
    for args in commands {
        let (stdout, stderr) = truce(&url, args).await;
        let what = args.join(" ");
        assert_escaped(&what, &stdout);
        assert_escaped(&what, &stderr);
        assert!(
            String::from_utf8_lossy(&stdout).contains("\\u001b"),
            "{what}: {}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_escaped_and_show_the_field_from_the_details() {
    let url = serve().await;
    let (stdout, stderr) = truce(&url, &["agreement", "show", "a-1"]).await;
    assert!(stdout.is_empty());
    assert_escaped("agreement show", &stderr);
    let shown = String::from_utf8_lossy(&stderr);
    assert!(
        shown.contains("refused\\u001b]0;owned\\u0007\\u009b2J"),
        "{shown}"
    );
    assert!(shown.contains("[field: id]"), "{shown}");
}
