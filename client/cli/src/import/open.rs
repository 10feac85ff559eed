//! The open lines of an import: rows whose report was created
//! optimistically and whose answer is not yet in.
//!
//! A row with a report id is created optimistically: its create (request
//! id derived from the row's bytes) is sent without looking the report up,
//! and the line stays open until the answer comes back through the
//! receiving stage ([`Found`]). Written: the line is new (and a status the
//! create cannot carry, a duplicate_of, follows). Refused: that is the
//! line's error. A duplicate (this row created the report once, in an
//! earlier run or an earlier line) or ALREADY_EXISTS (the id holds other
//! content: a revised row, a record made another way): the report is
//! looked up then, and the line goes on exactly as a looked-up row always
//! did (a correction, missing sources, a new evidence status, or nothing:
//! unchanged). A fresh import thus makes no GetReport for its rows; a
//! re-run makes one per row after its duplicate answer, as it did before
//! the create. Later rows are sent meanwhile; open lines are resolved in
//! line order, as their answers (and lookups) come in, and a line's end
//! goes to the receiving stage only after every earlier line's, so
//! errors, progress and where a stopped run stopped stay in line order. At
//! most [`QUEUED`] lines wait behind an open one before the sender waits
//! for it.
//!
//! Why this is safe: request ids are derived from the row's bytes, so the
//! create of a row the store has is answered as a duplicate, and one whose
//! id holds other content is refused ALREADY_EXISTS, writing nothing;
//! both then take the looked-up path, with the lookup started after that
//! answer, so it sees every write this run made to the report before
//! (`send` holds later rows of the same report until the line is
//! resolved). A duplicate is looked up, not taken as unchanged: the
//! report may have been corrected since this row created it (a revised
//! file imported in between), and the row then brings it back, as a
//! row-by-row run did.

use tokio::sync::{oneshot, oneshot::error::TryRecvError};
use truce_client::ClientError;
use truce_proto::v1::ReportView;

use super::{
    apply::{self, Row},
    pipeline::WINDOW,
    receive::{Found, Item},
    send::{Sending, Stop},
};

/// Lines whose end may wait behind an open one (an optimistic create not
/// yet resolved) before the sender stops sending to wait for it: the
/// stream's window, so about one window of rows is kept in memory.
pub const QUEUED: usize = WINDOW;

/// A line's end waiting for an earlier line, or an open line.
pub enum Waiting {
    End(Item),
    Open(Box<Open>),
}

/// A row whose optimistic create is not yet resolved.
pub struct Open {
    pub line: u64,
    pub offset: u64,
    pub row: Row,
    pub found: oneshot::Receiver<Found>,
    /// What is known of it so far.
    pub state: State,
}

/// How far an open line's answer has come.
pub enum State {
    /// The create is unanswered.
    Sent,
    /// Answered (a lookup may be under way).
    Found(Found),
    /// The report existed: its view (None: it could not be found).
    Looked(Box<Result<Option<ReportView>, Stop>>),
}

impl Open {
    /// Whether it can be resolved without waiting.
    pub(super) fn ready(&mut self) -> Result<bool, Stop> {
        if let State::Sent = self.state {
            match self.found.try_recv() {
                Ok(found) => self.state = State::Found(found),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Closed) => return Err(Stop::Gone),
            }
        }
        Ok(match &self.state {
            State::Found(Found::Exists(view)) => view.is_finished(),
            _ => true,
        })
    }

    /// Waits for its answer and, when the report existed, its lookup.
    /// Cancel-safe: what came in is kept, and waiting again goes on.
    pub(super) async fn answered(&mut self) -> Result<(), Stop> {
        if let State::Sent = self.state {
            let found = (&mut self.found).await.map_err(|_| Stop::Gone)?;
            self.state = State::Found(found);
        }
        if let State::Found(Found::Exists(view)) = &mut self.state {
            let looked = match view.await {
                Ok(found) => Sending::found(found),
                Err(e) => Err(Stop::Halt(ClientError::Request(format!(
                    "a lookup failed: {e}"
                )))),
            };
            self.state = State::Looked(Box::new(looked));
        }
        Ok(())
    }
}

impl Sending<'_> {
    /// A line's end: to the receiving stage, or behind the open lines.
    pub(super) async fn end(&mut self, item: Item) -> Result<(), Stop> {
        if self.waiting.is_empty() {
            self.push(item).await
        } else {
            self.waiting.push_back(Waiting::End(item));
            Ok(())
        }
    }

    /// Ends waiting lines in order: every one with `all`, else those
    /// ready (and the first, waited for, while more than [`QUEUED`]
    /// wait).
    pub(super) async fn settle(&mut self, all: bool) -> Result<(), Stop> {
        while self.settle_one(all || self.waiting.len() > QUEUED).await? {}
        Ok(())
    }

    /// Ends the first waiting line, resolving it if open (waiting for it
    /// with `wait`); false when there was none or it was not ready.
    pub(super) async fn settle_one(&mut self, wait: bool) -> Result<bool, Stop> {
        let Some(front) = self.waiting.front_mut() else {
            return Ok(false);
        };
        if let Waiting::Open(open) = front
            && !wait
            && !open.ready()?
        {
            return Ok(false);
        }
        match self.waiting.pop_front() {
            Some(Waiting::End(item)) => self.push(item).await?,
            Some(Waiting::Open(open)) => self.resolve(open).await?,
            None => return Ok(false),
        }
        Ok(true)
    }

    /// An open line, once its create's answer is in: the rest of its
    /// writes (as for a looked-up row, when the report existed), then its
    /// end.
    async fn resolve(&mut self, mut open: Box<Open>) -> Result<(), Stop> {
        open.answered().await?;
        let Open {
            line,
            offset,
            row,
            state,
            ..
        } = *open;
        self.open.remove(row.id());
        let done = match state {
            State::Found(Found::Created) => {
                self.update(line, &row, &apply::created_view(&row)).await
            }
            State::Looked(looked) => match *looked {
                Ok(Some(view)) => self.update(line, &row, &view).await,
                Ok(None) => Err(Stop::Row(format!(
                    "report {} exists but was not found",
                    row.id()
                ))),
                Err(e) => Err(e),
            },
            // Refused: that is the line's error (`receive` has it).
            State::Sent | State::Found(_) => Ok(()),
        };
        match done {
            Ok(()) => {
                let claims = row.claims().to_vec();
                self.push(Item::Done {
                    line,
                    offset,
                    claims,
                })
                .await
            }
            Err(Stop::Row(reason)) => {
                self.push(Item::Failed {
                    line,
                    offset,
                    reason,
                })
                .await?;
                if self.strict { Err(Stop::Gone) } else { Ok(()) }
            }
            Err(Stop::Halt(e)) => {
                self.push(Item::Halt(e)).await?;
                Err(Stop::Gone)
            }
            Err(Stop::Gone) => Err(Stop::Gone),
        }
    }

    /// Waits for the first open line's answer (and lookup); never
    /// returns while there is none. Cancel-safe.
    pub(super) async fn front_answered(&mut self) -> Result<(), Stop> {
        match self.waiting.front_mut() {
            Some(Waiting::Open(open)) => open.answered().await,
            _ => std::future::pending().await,
        }
    }
}
