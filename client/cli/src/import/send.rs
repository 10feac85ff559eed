//! The middle stage of an import: each row, in order, decided and sent
//! over the import's one WriteStream, and what was sent for which line
//! handed to the receiving stage. A row with a report id is created
//! optimistically, without a lookup, and resolved once the create's
//! answer is in (`open`).
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
    sync::{Arc, atomic::AtomicBool},
};

use tokio::sync::{mpsc, oneshot, watch};
use tonic::Code;
use truce_client::{Client, ClientError, WriteSender};
use truce_proto::v1::{Entry, Envelope, ReportView, entry::Payload};

use super::{
    apply::{self, Row},
    open::{Open, State, Waiting},
    read::Pending,
    receive::{Found, Item, Reply, Role},
    replay::{self, Replay},
};

/// Reports touched remembered before the oldest still useful are dropped
/// (see [`Sending::prune`]).
const TOUCHED_PRUNE: usize = 4096;

/// Why a row went no further.
pub(super) enum Stop {
    /// The row failed (its error).
    Row(String),
    /// The server or the connection failed.
    Halt(ClientError),
    /// The receiving stage is gone (it knows why): stop sending.
    Gone,
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
        super::pipeline::stopping(self.stop, self.interrupt.as_ref())
    }

    /// Sends every row; gives back the replay's ids and held entries.
    pub async fn run(mut self, mut rows: mpsc::Receiver<Pending>) -> Replay {
        loop {
            // While no row comes (a pipe waiting for input), the open
            // lines are still resolved and ended as their answers come.
            let next = tokio::select! {
                biased;
                next = rows.recv() => next,
                answered = self.front_answered() => {
                    if answered.is_err() || self.settle(false).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let Some(pending) = next else { break };
            if self.stopping() || self.row(pending).await.is_err() {
                break;
            }
        }
        // The lines begun are finished (their answers decide them); an
        // error here means the receiving stage is gone and knows why.
        let _ = self.settle(true).await;
        self.replay
    }

    pub(super) async fn push(&self, item: Item) -> Result<(), Stop> {
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
                        state: State::Sent,
                    };
                    self.waiting.push_back(Waiting::Open(Box::new(open)));
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

    /// Sends an envelope for `line` touching `target`; its stream index.
    pub(super) async fn send(
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
    pub(super) async fn update(
        &mut self,
        line: u64,
        row: &Row,
        view: &ReportView,
    ) -> Result<(), Stop> {
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

    pub(super) fn found(
        found: Result<ReportView, ClientError>,
    ) -> Result<Option<ReportView>, Stop> {
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
