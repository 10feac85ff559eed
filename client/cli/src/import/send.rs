//! The middle stage of an import: each row, in order, decided and sent
//! over the import's one WriteStream, and what was sent for which line
//! handed to the receiving stage.
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
//! Rows of one file may depend on each other: a later line may revise a
//! report an earlier line created or changed. Such a row is held back, not
//! resolved within the file: every write this run sends notes the report
//! it touches and its stream index. A row whose report is open (an earlier
//! line's optimistic create is not yet resolved) first waits for that line
//! to be resolved and its writes sent; a row whose report this run wrote to
//! (still unanswered, or open) then waits until the last such write is
//! answered (durable, or refused) and looks the report up, so it sees
//! exactly what a row-by-row run would have seen, and no later create can
//! race an earlier one for the same id. A report written longer ago (its
//! write answered, the note pruned) is no risk: the row's own create finds
//! it and its lookup starts only after that answer. Writes that only name
//! an earlier row's report (a duplicate_of) need no wait: the daemon
//! commits a stream's envelopes in order, and the report exists (created or
//! found) when the earlier create was answered either way. A line that
//! carries its entries first waits for every open line.
//!
//! A line carrying its entries sends them as they are; a record the
//! source store numbered asks for that number first, and when a later
//! entry of the same line names it the sender waits for that answer (on
//! ALREADY_EXISTS it sends it again as exported and names the number the
//! store gave); otherwise the answer is not waited for and a taken number
//! is left to the last phase. Entries that may name later rows (claims,
//! status changes) are held back for the last phase, as before.
//!
//! A line's writes go out together: when one is refused, the line fails
//! with that error, and its later writes may still land (they were in
//! flight); re-running the file is safe either way. With `strict`, each
//! row is resolved and waits for its answers before the next is sent, so
//! nothing after the first failed row is written.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::{mpsc, oneshot, oneshot::error::TryRecvError, watch};
use tonic::Code;
use truce_client::{Client, ClientError, WriteSender};
use truce_proto::v1::{Entry, Envelope, ReportView, entry::Payload};

use super::{
    apply::{self, Row},
    pipeline::WINDOW,
    read::Pending,
    receive::{Found, Item, Reply, Role, View},
    replay::{self, Replay},
};

/// Lines whose end may wait behind an open one (an optimistic create not
/// yet resolved) before the sender stops sending to wait for it: the
/// stream's window, so about one window of rows is kept in memory.
pub const QUEUED: usize = WINDOW;

/// Reports touched remembered before the oldest still useful are dropped
/// (see [`Sending::prune`]).
const TOUCHED_PRUNE: usize = 4096;

/// Why a row went no further.
enum Stop {
    /// The row failed (its error).
    Row(String),
    /// The server or the connection failed.
    Halt(ClientError),
    /// The receiving stage is gone (it knows why): stop sending.
    Gone,
}

/// A line's end waiting for an earlier line, or an open line.
pub enum Waiting {
    End(Item),
    Open(Open),
}

/// A row whose optimistic create is not yet resolved.
pub struct Open {
    line: u64,
    offset: u64,
    row: Row,
    found: oneshot::Receiver<Found>,
    /// The answer, once taken from `found`.
    got: Option<Found>,
}

impl Open {
    /// Whether it can be resolved without waiting.
    fn ready(&mut self) -> Result<bool, Stop> {
        if self.got.is_none() {
            match self.found.try_recv() {
                Ok(found) => self.got = Some(found),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Closed) => return Err(Stop::Gone),
            }
        }
        Ok(match &self.got {
            Some(Found::Exists(view)) => view.is_finished(),
            _ => true,
        })
    }
}

/// The sending stage.
pub struct Sending<'a> {
    pub client: &'a Client,
    pub label: &'a str,
    pub strict: bool,
    pub writer: WriteSender,
    pub items: mpsc::Sender<Item>,
    pub answered: watch::Receiver<u64>,
    pub stop: &'a AtomicBool,
    pub interrupt: Option<Arc<AtomicBool>>,
    pub replay: Replay,
    /// Report id → stream index of the last write of this run to it.
    pub touched: HashMap<String, u64>,
    /// Lines' ends in line order from the first open line on.
    pub waiting: VecDeque<Waiting>,
    /// The report ids of the open lines.
    pub open: HashSet<String>,
}

impl Sending<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Sends every row; gives back the replay's ids and held entries.
    pub async fn run(mut self, mut rows: mpsc::Receiver<Pending>) -> Replay {
        while let Some(pending) = rows.recv().await {
            if self.stopping() || self.row(pending).await.is_err() {
                break;
            }
        }
        // The lines begun are finished (their answers decide them); an
        // error here means the receiving stage is gone and knows why.
        let _ = self.settle(true).await;
        self.replay
    }

    async fn push(&self, item: Item) -> Result<(), Stop> {
        self.items.send(item).await.map_err(|_| Stop::Gone)
    }

    /// One row: its writes, then what became of it; Err: stop sending.
    async fn row(&mut self, p: Pending) -> Result<(), Stop> {
        let (line, offset) = (p.line, p.offset);
        let sent = match p.row {
            Ok(row) if row.entries().is_empty() => match self.apply_row(line, &row).await {
                Ok(Some(found)) => {
                    self.open.insert(row.id().to_owned());
                    let open = Open {
                        line,
                        offset,
                        row,
                        found,
                        got: None,
                    };
                    self.waiting.push_back(Waiting::Open(open));
                    Ok(None)
                }
                Ok(None) => Ok(Some(row.claims().to_vec())),
                Err(e) => Err(e),
            },
            Ok(row) => {
                self.settle(true).await?;
                self.replay_row(line, &row).await.map(|()| Some(Vec::new()))
            }
            Err(reason) => Err(Stop::Row(reason)),
        };
        match sent {
            Ok(None) => {}
            Ok(Some(claims)) => {
                self.end(Item::Done {
                    line,
                    offset,
                    claims,
                })
                .await?;
            }
            Err(Stop::Row(reason)) => {
                self.end(Item::Failed {
                    line,
                    offset,
                    reason,
                })
                .await?;
                if self.strict {
                    return Err(Stop::Gone);
                }
            }
            Err(Stop::Halt(e)) => {
                self.push(Item::Halt(e)).await?;
                return Err(Stop::Gone);
            }
            Err(Stop::Gone) => return Err(Stop::Gone),
        }
        self.settle(self.strict).await?;
        if self.strict {
            self.answered_past(self.writer.sent()).await?;
        }
        Ok(())
    }

    /// A line's end: to the receiving stage, or behind the open lines.
    async fn end(&mut self, item: Item) -> Result<(), Stop> {
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
    async fn settle(&mut self, all: bool) -> Result<(), Stop> {
        while self.settle_one(all || self.waiting.len() > QUEUED).await? {}
        Ok(())
    }

    /// Ends the first waiting line, resolving it if open (waiting for it
    /// with `wait`); false when there was none or it was not ready.
    async fn settle_one(&mut self, wait: bool) -> Result<bool, Stop> {
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
    async fn resolve(&mut self, mut open: Open) -> Result<(), Stop> {
        let found = match open.got.take() {
            Some(found) => found,
            None => (&mut open.found).await.map_err(|_| Stop::Gone)?,
        };
        let Open {
            line, offset, row, ..
        } = open;
        self.open.remove(row.id());
        let done = match found {
            Found::Created => self.update(line, &row, &apply::created_view(&row)).await,
            Found::Refused => Ok(()),
            Found::Exists(view) => match Self::looked_up(view).await {
                Ok(Some(view)) => self.update(line, &row, &view).await,
                Ok(None) => Err(Stop::Row(format!(
                    "report {} exists but was not found",
                    row.id()
                ))),
                Err(e) => Err(e),
            },
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

    /// Sends an envelope for `line` touching `target`; its stream index.
    async fn send(
        &mut self,
        line: u64,
        envelope: Envelope,
        role: Role,
        target: Option<&str>,
        reply: Option<oneshot::Sender<Reply>>,
    ) -> Result<u64, Stop> {
        let index = self.writer.send(envelope).await.map_err(|_| Stop::Gone)?;
        if let Some(id) = target.filter(|id| !id.is_empty()) {
            self.touched.insert(id.to_owned(), index);
        }
        let item = Item::Sent {
            line,
            index,
            role,
            reply,
        };
        self.push(item).await?;
        Ok(index)
    }

    /// Sends an envelope and waits for its answer.
    async fn send_wait(
        &mut self,
        line: u64,
        envelope: Envelope,
        role: Role,
        target: Option<&str>,
    ) -> Result<Reply, Stop> {
        let (tx, rx) = oneshot::channel();
        self.send(line, envelope, role, target, Some(tx)).await?;
        rx.await.map_err(|_| Stop::Gone)
    }

    /// Waits until the receiving stage has every answer before `count`.
    async fn answered_past(&mut self, count: u64) -> Result<(), Stop> {
        self.answered
            .wait_for(|&n| n >= count)
            .await
            .map(drop)
            .map_err(|_| Stop::Gone)
    }

    /// A view row: its create sent optimistically (the answer to resolve
    /// it by, see the module doc), or, for a report this run wrote to,
    /// the writes that bring the stored one in line with the row.
    async fn apply_row(
        &mut self,
        line: u64,
        row: &Row,
    ) -> Result<Option<oneshot::Receiver<Found>>, Stop> {
        let id = row.id();
        if id.is_empty() {
            // Nothing to look up: the derived request id alone keeps a
            // re-run from submitting it twice.
            let create = apply::creation(row);
            self.send(line, create, Role::Create, None, None).await?;
            return Ok(None);
        }
        self.prune();
        while self.open.contains(id) {
            self.settle_one(true).await?;
        }
        if !self.touched.contains_key(id) {
            let (tx, rx) = oneshot::channel();
            let role = Role::Optimistic {
                id: id.to_owned(),
                found: tx,
            };
            self.send(line, apply::creation(row), role, Some(id), None)
                .await?;
            return Ok(Some(rx));
        }
        let view = match self.view_of(id).await? {
            Some(view) => view,
            None => {
                let create = apply::creation(row);
                self.send(line, create, Role::Create, Some(id), None)
                    .await?;
                apply::created_view(row)
            }
        };
        self.update(line, row, &view).await?;
        Ok(None)
    }

    /// Sends the writes that bring `view` in line with the row.
    async fn update(&mut self, line: u64, row: &Row, view: &ReportView) -> Result<(), Stop> {
        for update in apply::updates(row, line, self.label, view) {
            self.send(line, update, Role::Update, Some(row.id()), None)
                .await?;
        }
        Ok(())
    }

    /// The stored view of report `id`, which this run wrote to (None:
    /// there is none): looked up once that write is answered.
    async fn view_of(&mut self, id: &str) -> Result<Option<ReportView>, Stop> {
        if let Some(w) = self.touched.get(id).copied() {
            self.answered_past(w + 1).await?;
        }
        Self::found(self.client.get_report(id).await)
    }

    /// A lookup started by the answer to an optimistic create.
    async fn looked_up(view: View) -> Result<Option<ReportView>, Stop> {
        let found = view
            .await
            .map_err(|e| Stop::Halt(ClientError::Request(format!("a lookup failed: {e}"))))?;
        Self::found(found)
    }

    fn found(found: Result<ReportView, ClientError>) -> Result<Option<ReportView>, Stop> {
        match found {
            Ok(view) => Ok(Some(view)),
            Err(e) if e.code() == Some(Code::NotFound) => Ok(None),
            Err(e) if e.is_usage() => Err(Stop::Row(e.to_string())),
            Err(e) => Err(Stop::Halt(e)),
        }
    }

    /// Forgets writes already answered, unless their report's line is
    /// open: a row's optimistic create, answered after them, finds what
    /// they wrote, and its lookup starts after that answer. Keeps the map
    /// to about the stream's window and the open lines.
    fn prune(&mut self) {
        if self.touched.len() > TOUCHED_PRUNE {
            let answered = *self.answered.borrow();
            let open = &self.open;
            self.touched
                .retain(|id, index| *index >= answered || open.contains(id));
        }
    }

    /// A line that carries its entries: checks its view against them, then
    /// sends each again, holding claims and status changes back.
    async fn replay_row(&mut self, line: u64, row: &Row) -> Result<(), Stop> {
        let entries = row.entries();
        if let Some(why) = replay::view_disagrees(row.claims(), entries) {
            return Err(Stop::Row(why));
        }
        for (i, entry) in entries.iter().enumerate() {
            if replay::held_back(entry) {
                self.replay.hold(line, entry.clone());
                continue;
            }
            let named_later = entries[i + 1..].iter().any(|e| !replay::held_back(e));
            if !self.replay_entry(line, entry, named_later).await? {
                break;
            }
        }
        Ok(())
    }

    /// Sends one entry of `line`; false when the line goes no further (an
    /// answer waited for was a refusal, already the line's error).
    async fn replay_entry(&mut self, line: u64, entry: &Entry, wait: bool) -> Result<bool, Stop> {
        let payload = self
            .replay
            .payload(entry)
            .map_err(|e| Stop::Row(e.to_string()))?;
        let creates = matches!(entry.payload, Some(Payload::Report(_)));
        let target = replay::target(&payload).map(str::to_owned);
        let (id, seq) = (entry.request_id.as_str(), entry.sequence);
        let envelope = |p| replay::envelope(id, p, seq).map_err(|e| Stop::Row(e.to_string()));
        if !replay::creates_server_form(entry) {
            let role = Role::Replay { creates };
            self.send(line, envelope(payload)?, role, target.as_deref(), None)
                .await?;
            return Ok(true);
        }
        let kept = envelope(replay::with_id(&payload, &entry.record_id))?;
        if !wait {
            let deferred = Some(Box::new(entry.clone()));
            let role = Role::Probe { creates, deferred };
            self.send(line, kept, role, target.as_deref(), None).await?;
            return Ok(true);
        }
        let role = Role::Probe {
            creates,
            deferred: None,
        };
        let receipt = match self.send_wait(line, kept, role, target.as_deref()).await? {
            Ok(receipt) => receipt,
            Err(Some(Code::AlreadyExists)) => {
                let exported = envelope(replay::with_id(&payload, ""))?;
                let role = Role::Replay { creates };
                match self.send_wait(line, exported, role, None).await? {
                    Ok(receipt) => receipt,
                    Err(_) => return Ok(false),
                }
            }
            Err(_) => return Ok(false),
        };
        self.replay.learn_from(entry, &receipt);
        if creates {
            // Later rows naming it as it is called here see this write.
            self.touched
                .insert(receipt.record_id.clone(), self.writer.sent() - 1);
        }
        Ok(true)
    }
}
