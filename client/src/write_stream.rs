//! `Client::write_stream`: many writes over one WriteStream call, as a
//! sink ([`WriteSender`]) and a stream of receipts ([`Receipts`]) in the
//! order sent. At most `window` envelopes are unanswered at once: the
//! sender waits for receipts beyond that. Each envelope is answered with
//! its receipt (once its entry is durable) or its own error, and the
//! stream goes on; a broken stream ends the receipts with an error, and
//! sending again from the first envelope without a receipt is safe (every
//! envelope carries a request id: one is generated for those without).
//! Above `client.rs`: the method is added to [`Client`] here.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_core::Stream;
use tokio::sync::{Semaphore, mpsc};
use tonic::{Code, Status, Streaming};
use truce_proto::v1::{Envelope, Receipt, StreamReceipt, WriteError, stream_receipt::Outcome};

use crate::{
    client::{Client, request_id_of},
    error::ClientError,
};

/// Envelopes handed to the transport ahead of the window's accounting
/// (the window is what bounds them; this only decouples the sender).
const CHANNEL: usize = 64;

impl Client {
    /// Opens a WriteStream with at most `window` (at least 1) envelopes
    /// unanswered at a time.
    pub async fn write_stream(
        &self,
        window: usize,
    ) -> Result<(WriteSender, Receipts), ClientError> {
        let window = Arc::new(Semaphore::new(window.max(1)));
        let (tx, rx) = mpsc::channel(CHANNEL);
        let mut inner = self.inner.clone();
        let response = inner.write_stream(Outgoing(rx)).await?;
        let sender = WriteSender {
            tx,
            window: Arc::clone(&window),
            next: 0,
        };
        let receipts = Receipts {
            inner: response.into_inner(),
            window,
            done: false,
        };
        Ok((sender, receipts))
    }
}

/// The envelopes toward the daemon, as the request stream.
struct Outgoing(mpsc::Receiver<Envelope>);

impl Stream for Outgoing {
    type Item = Envelope;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Envelope>> {
        self.0.poll_recv(cx)
    }
}

/// The sending half: envelopes in, each given its index in the stream.
/// Dropping it ends the stream once what was sent is answered.
#[derive(Debug)]
pub struct WriteSender {
    tx: mpsc::Sender<Envelope>,
    window: Arc<Semaphore>,
    next: u64,
}

impl WriteSender {
    /// Sends `envelope` (with a generated request id if it has none),
    /// waiting while the window is full. Returns its index in the stream,
    /// which its answer carries. Fails once the stream has ended (its
    /// receipts say why).
    pub async fn send(&mut self, mut envelope: Envelope) -> Result<u64, ClientError> {
        let Some(kind) = envelope.kind.as_mut() else {
            return Err(ClientError::Request(
                "the envelope holds no request: give exactly one of agreement, report, claim, status, source, correction".into(),
            ));
        };
        let id = request_id_of(kind);
        if id.is_empty() {
            *id = crate::client::new_request_id();
        }
        let ended = || ClientError::Request("the write stream has ended".into());
        let permit = self.window.acquire().await.map_err(|_| ended())?;
        self.tx.send(envelope).await.map_err(|_| ended())?;
        // Given back by the receipts, one per answer.
        permit.forget();
        let index = self.next;
        self.next += 1;
        Ok(index)
    }

    /// Envelopes sent so far.
    pub fn sent(&self) -> u64 {
        self.next
    }

    /// Ends the stream: what was sent is still answered.
    pub fn finish(self) {}
}

/// The receiving half: one [`StreamAnswer`] per envelope, in the order
/// sent; `None` once the stream has ended and every envelope is answered.
#[derive(Debug)]
pub struct Receipts {
    inner: Streaming<StreamReceipt>,
    window: Arc<Semaphore>,
    done: bool,
}

/// The answer to one envelope: its index (as [`WriteSender::send`]
/// returned it) and its receipt or its own refusal.
#[derive(Debug)]
pub struct StreamAnswer {
    pub index: u64,
    pub result: Result<Receipt, ClientError>,
}

impl Receipts {
    /// The next answer. An error here ends the stream (broken, the daemon
    /// shutting down): the envelopes without an answer may or may not have
    /// been written; send them again (their request ids make that safe).
    pub async fn next(&mut self) -> Option<Result<StreamAnswer, ClientError>> {
        if self.done {
            return None;
        }
        let item = match self.inner.message().await {
            Ok(Some(m)) => Ok(answer(m)),
            Ok(None) => {
                self.end();
                return None;
            }
            Err(status) => {
                self.end();
                Err(ClientError::from(status))
            }
        };
        self.window.add_permits(1);
        Some(item)
    }

    /// No more answers: a sender waiting for the window fails.
    fn end(&mut self) {
        self.done = true;
        self.window.close();
    }
}

impl Drop for Receipts {
    /// Nobody reads the answers any more: a sender waiting for the window
    /// fails instead of waiting forever.
    fn drop(&mut self) {
        self.window.close();
    }
}

fn answer(m: StreamReceipt) -> StreamAnswer {
    let result = match m.outcome {
        Some(Outcome::Receipt(r)) => Ok(r),
        Some(Outcome::Error(e)) => Err(refusal(e)),
        None => Err(ClientError::Request(
            "the daemon answered an envelope with neither a receipt nor an error".into(),
        )),
    };
    StreamAnswer {
        index: m.index,
        result,
    }
}

/// An envelope's refusal as the status its unary call would have ended
/// with, details included (so `field`, `reason` and `retry_delay` read
/// them).
fn refusal(e: WriteError) -> ClientError {
    let status = Status::with_details(
        Code::from(e.code),
        e.message,
        tonic::codegen::Bytes::from(e.details),
    );
    ClientError::Status(status)
}
