//! An import's rows as three stages over one WriteStream: `read` (rows
//! parsed, at most [`LOOKAHEAD`](super::read::LOOKAHEAD) ahead), `send`
//! (each row's create sent optimistically, or its writes decided from a
//! lookup; at most [`WINDOW`] unanswered), `receive` (the answers in
//! order, tallied by line, and the lookups of reports an optimistic create
//! found existing); the first on a thread of its own,
//! the other two together in the import's task. The stages talk through
//! bounded channels, the count of answers received and the run's stop
//! flag (set by a halt, or by a failure under `strict`); when one stage
//! ends the others see its channel close, so an interrupted or halted run
//! ends with every sent write answered and counted.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    io::Read,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::{mpsc, oneshot, watch};
use truce_client::ClientError;

use super::{
    read::{LOOKAHEAD, Reading, Rows},
    receive::receive,
    run::Run,
    send::Sending,
};

/// Envelopes of an import unanswered at once: the stream's window (the
/// bench harness's too), well under the daemon's per-stream limit.
pub const WINDOW: usize = 1024;

/// Whether the run is to stop: its own flag (a halt, or a failure under
/// `strict`) or Ctrl-C.
pub(super) fn stopping(stop: &AtomicBool, interrupt: Option<&Arc<AtomicBool>>) -> bool {
    stop.load(Ordering::Relaxed) || interrupt.is_some_and(|f| f.load(Ordering::Relaxed))
}

/// What the sending stage said it did, not yet taken by the receiving
/// one: about two items (a write and the line's end) per row in flight.
const ITEMS: usize = 2 * WINDOW;

/// Sends the rows; an error only if the file cannot be read (the
/// server's failures halt the run and are in its summary).
pub async fn rows<R: Read + Send + 'static>(
    run: &mut Run<'_>,
    rows: Rows<R>,
) -> Result<(), ClientError> {
    let client = run.client;
    let (writer, receipts) = match client.write_stream(WINDOW).await {
        Ok(pair) => pair,
        Err(e) => {
            run.halt(&e);
            return Ok(());
        }
    };
    let label = run.options.file_label.clone();
    let interrupt = run.options.interrupt.clone();
    let stop = Arc::clone(&run.stop);
    let (answered_tx, answered) = watch::channel(0u64);
    let (rows_tx, rows_rx) = mpsc::channel(LOOKAHEAD);
    let (items_tx, items_rx) = mpsc::channel(ITEMS);
    let reading = Reading {
        label: label.clone(),
        stop: Arc::clone(&stop),
        interrupt: interrupt.clone(),
    };
    let (read_tx, read) = oneshot::channel();
    std::thread::Builder::new()
        .name("truce-import-read".into())
        .spawn(move || {
            let _ = read_tx.send(reading.run(rows, rows_tx));
        })
        .map_err(|e| ClientError::Request(format!("cannot start reading: {e}")))?;
    let sending = Sending {
        client,
        label: &label,
        strict: run.options.strict,
        writer,
        items: items_tx,
        answered,
        stop: &stop,
        interrupt,
        replay: std::mem::take(&mut run.replay),
        touched: HashMap::new(),
        waiting: VecDeque::new(),
        open: HashSet::new(),
    };
    let receiving = receive(run, receipts, items_rx, answered_tx);
    let (replay, ()) = tokio::join!(sending.run(rows_rx), receiving);
    run.replay = replay;
    if run.stopped() {
        // The reader sees the stop before its next row, or is waiting for
        // input that no longer matters: it is not waited for.
        return Ok(());
    }
    read.await
        .unwrap_or_else(|_| Err(ClientError::Request("reading the file failed".into())))
}
