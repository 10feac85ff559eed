//! The client retries a write on UNAVAILABLE with the same request id, and
//! gives up after its configured attempts. Against a stand-in server that
//! answers UNAVAILABLE on demand.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use truce_client::{Client, ClientOptions};
use truce_proto::v1::{
    Receipt, SubmitReportRequest,
    truce_server::{Truce, TruceServer},
};

/// Answers SubmitReport with UNAVAILABLE `failures` times, then a receipt.
#[derive(Default)]
struct Flaky {
    failures: usize,
    seen: Mutex<Vec<String>>,
}

/// The service handle: the state is shared with the test.
struct Shared(Arc<Flaky>);

#[tonic::async_trait]
impl Truce for Shared {
    async fn submit_report(
        &self,
        request: Request<SubmitReportRequest>,
    ) -> Result<Response<Receipt>, Status> {
        let mut seen = self.0.seen.lock().expect("lock");
        seen.push(request.into_inner().request_id);
        if seen.len() <= self.0.failures {
            return Err(Status::unavailable("try again"));
        }
        Ok(Response::new(Receipt {
            sequence: 1,
            ..Receipt::default()
        }))
    }
}

async fn serve(flaky: Arc<Flaky>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TruceServer::new(Shared(flaky)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

fn options(attempts: u32) -> ClientOptions {
    ClientOptions {
        write_attempts: attempts,
        retry_backoff: Duration::from_millis(1),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn writes_are_retried_with_the_same_request_id() {
    let flaky = Arc::new(Flaky {
        failures: 2,
        ..Flaky::default()
    });
    let client = Client::connect_with(serve(Arc::clone(&flaky)).await, options(5))
        .await
        .unwrap();
    let receipt = client
        .submit_report(SubmitReportRequest::default())
        .await
        .unwrap();
    assert_eq!(receipt.sequence, 1);
    let seen = flaky.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(!seen[0].is_empty(), "the client generated a request id");
    assert!(seen.iter().all(|id| id == &seen[0]), "{seen:?}");
}

#[tokio::test]
async fn retries_stop_after_the_configured_attempts() {
    let flaky = Arc::new(Flaky {
        failures: 100,
        ..Flaky::default()
    });
    let client = Client::connect_with(serve(Arc::clone(&flaky)).await, options(3))
        .await
        .unwrap();
    let err = client
        .submit_report(SubmitReportRequest {
            request_id: "mine".into(),
            ..SubmitReportRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Unavailable));
    assert_eq!(
        flaky.seen.lock().unwrap().as_slice(),
        ["mine", "mine", "mine"]
    );
}
