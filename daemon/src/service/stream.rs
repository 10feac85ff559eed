//! WriteStream: many writes over one call, for bulk loads. A unary call
//! per record pays a round trip per record; here the envelopes of one
//! stream are queued on the commit pipeline one behind the other (each as
//! its own pending write, so they share the writer's groups and fsyncs)
//! and answered in the order sent, each once its entry is durable, with
//! the same role checks, validation and idempotency as the unary writes
//! (`write::envelope`). A refused envelope is answered with its own error
//! and the stream goes on.
//!
//! Bounds: at most `stream_write_window` envelopes of a stream are in
//! flight (read, not answered); while that many are, the stream is not
//! read, so HTTP/2 flow control holds the client. The envelopes in flight
//! of every stream together hold at most `stream_write_buffer_mb` bytes
//! (a stream waits, unread, for room). Receipts go out through a
//! budgeted stream queue (`budget::stream`), so a client that stops
//! reading them is ended after `stream_stall_timeout_ms`. Each envelope
//! charges the caller's rate bucket once; an empty bucket makes the
//! stream wait, not fail.

use std::{collections::VecDeque, sync::Arc};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tonic::{Status, Streaming};
use truce_proto::v1::{Envelope, Receipt, StreamReceipt, WriteError, stream_receipt::Outcome};

use super::write::{self, Answer};
use crate::{
    access::{Caller, Meter},
    budget,
    commit::CommitHandle,
    error::Error,
};

/// Receipts queued toward the client at most (and the stream's share of
/// the send budget).
pub(crate) const BUFFER: usize = 256;

/// The settings of every WriteStream, shared by the streams.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Envelopes in flight per stream.
    pub(crate) window: usize,
    /// Bytes of envelopes in flight, all streams together.
    pub(crate) buffer: Arc<Semaphore>,
    /// The most one envelope may take of `buffer` (all of it).
    pub(crate) buffer_bytes: usize,
}

impl Limits {
    pub(crate) fn new(window: usize, buffer_bytes: usize) -> Self {
        let buffer_bytes = buffer_bytes.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            window: window.max(1),
            buffer: Arc::new(Semaphore::new(buffer_bytes)),
            buffer_bytes,
        }
    }
}

/// Who writes and what a stream needs besides its envelopes.
pub(crate) struct Writer {
    pub(crate) commit: CommitHandle,
    pub(crate) caller: Caller,
    pub(crate) meter: Option<Meter>,
    pub(crate) limits: Limits,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Adds the proof to a receipt whose envelope asked for one.
    pub(crate) finish: Box<dyn Fn(Receipt, bool) -> Result<Receipt, Error> + Send + Sync>,
}

/// An envelope read and not yet answered.
struct InFlight {
    index: u64,
    with_proof: bool,
    answer: Answer,
    /// Its bytes' share of the buffer, released with the answer.
    _held: Option<OwnedSemaphorePermit>,
}

/// Reads envelopes while the window has room, answers them in order, and
/// ends the stream once the client has ended its side and every envelope
/// is answered (or with the status that ended the reading: a broken or
/// undecodable stream, the daemon shutting down).
pub(crate) async fn run(
    mut inbound: Streaming<Envelope>,
    tx: budget::Sender<StreamReceipt>,
    mut w: Writer,
) {
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut next_index = 0u64;
    let mut reading = true;
    let mut ended: Option<Status> = None;
    // An envelope read but not yet given room in the shared buffer: it
    // waits beside the receipts, never in front of them (the room comes
    // back as receipts go out, this stream's or another's).
    let mut waiting: Option<(Envelope, u32)> = None;
    loop {
        let room = in_flight.len() < w.limits.window;
        let wanted = waiting.as_ref().map_or(0, |(_, n)| *n);
        tokio::select! {
            biased;
            result = front(&mut in_flight), if !in_flight.is_empty() => {
                let Some(done) = in_flight.pop_front() else { continue };
                let message = receipt(&w, done.index, done.with_proof, result);
                drop(done);
                if tx.send(Ok(message)).await.is_err() {
                    // The client is gone, or did not read: what is in
                    // flight still commits, unanswered.
                    return;
                }
            }
            _ = w.shutdown.changed(), if reading => {
                reading = false;
                // Read but not acknowledged: the client sends it again.
                waiting = None;
                ended = Some(Error::ShuttingDown.into());
            }
            held = Arc::clone(&w.limits.buffer).acquire_many_owned(wanted), if waiting.is_some() => {
                let Some((envelope, _)) = waiting.take() else { continue };
                charge(w.meter.as_ref()).await;
                let (with_proof, answer) = write::envelope(&w.commit, envelope, &w.caller).await;
                in_flight.push_back(InFlight { index: next_index, with_proof, answer, _held: held.ok() });
                next_index += 1;
            }
            next = inbound.message(), if reading && room && waiting.is_none() => match next {
                Ok(Some(envelope)) => {
                    let n = bytes_held(&w.limits, &envelope);
                    waiting = Some((envelope, n));
                }
                Ok(None) => reading = false,
                Err(status) => {
                    reading = false;
                    ended = Some(status);
                }
            },
            else => break,
        }
        if !reading && in_flight.is_empty() && waiting.is_none() {
            break;
        }
    }
    if let Some(status) = ended {
        let _ = tx.send(Err(status)).await;
    }
}

/// The answer of the oldest envelope in flight (never resolves when none
/// is: its branch is disabled then).
async fn front(in_flight: &mut VecDeque<InFlight>) -> Result<Receipt, Error> {
    match in_flight.front_mut() {
        Some(f) => (&mut f.answer).await,
        None => std::future::pending().await,
    }
}

/// The room `envelope` takes in the buffer all write streams share, in
/// permits (bytes, at least 1, at most the whole buffer).
fn bytes_held(limits: &Limits, envelope: &Envelope) -> u32 {
    let bytes = prost::Message::encoded_len(envelope).clamp(1, limits.buffer_bytes);
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Charges one envelope to the caller's rate bucket, waiting out the
/// delay an empty bucket names.
async fn charge(meter: Option<&Meter>) {
    let Some(meter) = meter else { return };
    loop {
        match meter.charge() {
            Err(Error::ResourceExhausted { retry_after, .. }) => {
                tokio::time::sleep(retry_after).await;
            }
            _ => return,
        }
    }
}

/// The message answering envelope `index`.
fn receipt(
    w: &Writer,
    index: u64,
    with_proof: bool,
    result: Result<Receipt, Error>,
) -> StreamReceipt {
    let outcome = match result.and_then(|r| (w.finish)(r, with_proof)) {
        Ok(receipt) => Outcome::Receipt(receipt),
        Err(e) => Outcome::Error(WriteError::from(e)),
    };
    StreamReceipt {
        index,
        outcome: Some(outcome),
    }
}
