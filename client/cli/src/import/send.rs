//! The middle stage of an import: each row, in order, decided from its
//! lookup and sent over the import's one WriteStream, and what was sent
//! for which line handed to the receiving stage.
//!
//! Rows of one file may depend on each other: a later line may revise a
//! report an earlier line created or changed. Such a row is held back, not
//! resolved within the file: every write this run sends notes the report
//! it touches and its stream index; a row whose report was touched at or
//! after the index its lookup was started at (its lookup may not see that
//! write) waits until that write is answered (durable, or refused) and
//! looks the report up again, so it sees exactly what a row-by-row run
//! would have seen. That costs a round trip only for such rows, and keeps
//! the decision in one place (the stored view), however the earlier write
//! fared. Writes that only name an earlier row's report (a duplicate_of,
//! an entry's correction of its own record) need no wait: the daemon
//! commits a stream's envelopes in order.
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
//! row waits for its answers before the next is sent, so nothing after
//! the first failed row is written.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::{mpsc, oneshot, watch};
use tonic::Code;
use truce_client::{Client, ClientError, WriteSender};
use truce_proto::v1::{Entry, Envelope, ReportView, entry::Payload};

use super::{
    apply::{self, Row},
    read::{Lookup, Pending},
    receive::{Item, Reply, Role},
    replay::{self, Replay},
};

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
    /// The highest `issued` of a lookup taken so far: no later lookup was
    /// started before it (see [`Sending::prune`]).
    pub floor: u64,
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
        self.replay
    }

    async fn push(&self, item: Item) -> Result<(), Stop> {
        self.items.send(item).await.map_err(|_| Stop::Gone)
    }

    /// One row: its writes, then what became of it; Err: stop sending.
    async fn row(&mut self, p: Pending) -> Result<(), Stop> {
        let (line, offset) = (p.line, p.offset);
        let sent = match p.row {
            Ok(row) => {
                let done = if row.entries().is_empty() {
                    self.apply_row(line, &row, p.lookup).await
                } else {
                    self.replay_row(line, &row).await
                };
                done.map(|()| row.entries().is_empty().then(|| row.claims().to_vec()))
            }
            Err(reason) => Err(Stop::Row(reason)),
        };
        match sent {
            Ok(claims) => {
                let claims = claims.unwrap_or_default();
                self.push(Item::Done {
                    line,
                    offset,
                    claims,
                })
                .await?;
            }
            Err(Stop::Row(reason)) => {
                self.push(Item::Failed {
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
        if self.strict {
            self.answered_past(self.writer.sent()).await?;
        }
        Ok(())
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

    /// A view row: the submit of a new report, or the writes that bring
    /// the stored one in line with the row.
    async fn apply_row(
        &mut self,
        line: u64,
        row: &Row,
        lookup: Option<Lookup>,
    ) -> Result<(), Stop> {
        if row.id().is_empty() {
            // Nothing to look up: the derived request id alone keeps a
            // re-run from submitting it twice.
            let create = apply::creation(row);
            self.send(line, create, Role::Create, None, None).await?;
            return Ok(());
        }
        let view = match self.view_of(row.id(), lookup).await? {
            Some(view) => view,
            None => {
                let create = apply::creation(row);
                self.send(line, create, Role::Create, Some(row.id()), None)
                    .await?;
                apply::created_view(row)
            }
        };
        for update in apply::updates(row, line, self.label, &view) {
            self.send(line, update, Role::Update, Some(row.id()), None)
                .await?;
        }
        Ok(())
    }

    /// The stored view of report `id` (None: there is none), from the
    /// row's lookup unless this run wrote to the report since it started:
    /// then after that write's answer, looked up again.
    async fn view_of(
        &mut self,
        id: &str,
        lookup: Option<Lookup>,
    ) -> Result<Option<ReportView>, Stop> {
        let written = self.touched.get(id).copied();
        let found = match lookup {
            Some(l) if written.is_none_or(|w| w < l.issued) => {
                self.floor = self.floor.max(l.issued);
                self.prune();
                l.view.await.map_err(|e| {
                    Stop::Halt(ClientError::Request(format!("a lookup failed: {e}")))
                })?
            }
            stale => {
                if let Some(l) = stale {
                    l.view.abort();
                }
                if let Some(w) = written {
                    self.answered_past(w + 1).await?;
                }
                self.client.get_report(id).await
            }
        };
        match found {
            Ok(view) => Ok(Some(view)),
            Err(e) if e.code() == Some(Code::NotFound) => Ok(None),
            Err(e) if e.is_usage() => Err(Stop::Row(e.to_string())),
            Err(e) => Err(Stop::Halt(e)),
        }
    }

    /// Forgets writes no lookup still to come can have missed: lookups
    /// are taken in the order they were started, so none later started
    /// before `floor` answers were in, and a write answered before that is
    /// in what they find. Keeps the map to about the stream's window and
    /// the rows read ahead.
    fn prune(&mut self) {
        if self.touched.len() > TOUCHED_PRUNE {
            let floor = self.floor;
            self.touched.retain(|_, index| *index >= floor);
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
