//! `Client::compliance_report` assembles the annex pages and the report
//! part that ends the stream, retries on UNAVAILABLE (also when the stream
//! breaks after a page, then asking for the sequence the pages named) and
//! rejects a stream without the report or going on after it. Against a
//! stand-in server.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};
use truce_client::{Client, ClientOptions};
use truce_proto::v1::{
    AnnexEntry, AnnexPage, ComplianceReport, ComplianceReportPart, ComplianceReportRequest,
    compliance_report_part::Part,
    truce_server::{Truce, TruceServer},
};

type Parts = Vec<Result<ComplianceReportPart, Status>>;
type BoxStream<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Answers each call with the next script: an error, or a stream of parts.
#[derive(Default)]
struct Scripted {
    scripts: Mutex<Vec<Result<Parts, Status>>>,
    seen: Mutex<Vec<u64>>,
}

/// The service handle: the state is shared with the test.
struct Shared(Arc<Scripted>);

#[tonic::async_trait]
impl Truce for Shared {
    async fn get_compliance_report(
        &self,
        request: Request<ComplianceReportRequest>,
    ) -> Result<Response<BoxStream<ComplianceReportPart>>, Status> {
        self.0
            .seen
            .lock()
            .expect("lock")
            .push(request.into_inner().as_of_sequence);
        let next = self.0.scripts.lock().expect("lock").remove(0)?;
        Ok(Response::new(Box::pin(tokio_stream::iter(next))))
    }
}

async fn serve(scripts: Vec<Result<Parts, Status>>) -> (String, Arc<Scripted>) {
    let state = Arc::new(Scripted {
        scripts: Mutex::new(scripts),
        ..Scripted::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TruceServer::new(Shared(Arc::clone(&state))))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (format!("http://{addr}"), state)
}

async fn client(url: String) -> Client {
    let options = ClientOptions {
        write_attempts: 3,
        retry_backoff: Duration::from_millis(1),
        ..ClientOptions::default()
    };
    Client::connect_with(url, options).await.expect("connects")
}

fn report(as_of: u64) -> Result<ComplianceReportPart, Status> {
    Ok(ComplianceReportPart {
        part: Some(Part::Report(ComplianceReport {
            as_of_sequence: as_of,
            examined: 3,
            ..ComplianceReport::default()
        })),
        as_of_sequence: as_of,
    })
}

fn page(ids: &[&str]) -> Result<ComplianceReportPart, Status> {
    page_at(7, ids)
}

fn page_at(as_of: u64, ids: &[&str]) -> Result<ComplianceReportPart, Status> {
    let entry = |id: &&str| AnnexEntry {
        report: Some(truce_proto::v1::Report {
            id: (*id).into(),
            ..Default::default()
        }),
        ..AnnexEntry::default()
    };
    Ok(ComplianceReportPart {
        part: Some(Part::Annex(AnnexPage {
            entries: ids.iter().map(entry).collect(),
        })),
        as_of_sequence: as_of,
    })
}

fn annex_ids(r: &ComplianceReport) -> Vec<String> {
    r.annex
        .iter()
        .filter_map(|e| e.report.as_ref().map(|r| r.id.clone()))
        .collect()
}

#[tokio::test]
async fn pages_are_appended_and_a_broken_stream_is_retried_at_its_sequence() {
    let (url, state) = serve(vec![
        Err(Status::unavailable("starting")),
        Ok(vec![
            page(&["a"]),
            Err(Status::unavailable("shutting down")),
        ]),
        Ok(vec![page(&["a", "b"]), page(&["c"]), report(7)]),
    ])
    .await;
    let got = client(url)
        .await
        .compliance_report(ComplianceReportRequest::default())
        .await
        .expect("assembled");
    assert_eq!(got.as_of_sequence, 7);
    assert_eq!(annex_ids(&got), ["a", "b", "c"], "only the last attempt's");
    assert_eq!(*state.seen.lock().expect("lock"), [0, 0, 7]);
}

#[tokio::test]
async fn attempts_run_out_and_other_errors_are_not_retried() {
    let unavailable = || Err(Status::unavailable("down"));
    let (url, state) = serve(vec![unavailable(), unavailable(), unavailable()]).await;
    let err = client(url)
        .await
        .compliance_report(ComplianceReportRequest::default())
        .await
        .expect_err("gives up");
    assert_eq!(err.code(), Some(Code::Unavailable));
    assert_eq!(state.seen.lock().expect("lock").len(), 3);

    let (url, state) = serve(vec![Err(Status::not_found("no such agreement"))]).await;
    let err = client(url)
        .await
        .compliance_report(ComplianceReportRequest::default())
        .await
        .expect_err("not found");
    assert_eq!(err.code(), Some(Code::NotFound));
    assert_eq!(state.seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_stream_must_end_with_the_report() {
    let (url, _) = serve(vec![
        Ok(vec![report(1), page_at(1, &["a"])]),
        Ok(vec![page_at(1, &["a"])]),
        Ok(vec![]),
    ])
    .await;
    let c = client(url).await;
    for expected in [
        "went on after the report",
        "ended without the report",
        "ended without the report",
    ] {
        let err = c
            .compliance_report(ComplianceReportRequest::default())
            .await
            .expect_err("malformed");
        assert!(err.to_string().contains(expected), "{err}");
    }
}
