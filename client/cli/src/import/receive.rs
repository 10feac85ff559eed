//! The last stage of an import's rows: the stream's answers, matched in
//! order to what the sending stage said it sent for which line, tallied
//! into the run (`run`): a line's first refusal is its error, a line is
//! done (unchanged unless something was written) once everything sent for
//! it came back. A broken stream, a refusal that is the server's and not
//! the row's, or a lookup that failed the same way halts the run there.
//! The count of answers received is published for the other stages (a row
//! whose report this run wrote to waits for that write's answer).
//!
//! Envelopes are answered in the order sent, but a line's writes need not
//! be consecutive: a row whose optimistic create found its report existing
//! sends its corrections after later rows' writes (`send`). So an answer
//! only notes what it did; a refusal becomes the line's error when the
//! line's end comes, and ends come in line order (the sender sees to it),
//! so errors, progress and where a stopped run stopped stay in line order.
//! Under `strict` a refusal also stops the run at once (one row at a time
//! there: nothing is out of order).
//!
//! The answer to an optimistic create ([`Role::Optimistic`]) goes back to
//! the sender: written (new), refused (the line's error), or, when the
//! store has the report already (a duplicate: this row made it once; or
//! ALREADY_EXISTS: it exists with other content), the report's lookup,
//! started here as soon as the answer is in, at most [`LOOKUPS`] at once.

use std::{collections::HashMap, sync::Arc};

use tokio::{
    sync::{Semaphore, mpsc, oneshot, watch},
    task::JoinHandle,
};
use tonic::Code;
use truce_client::{Client, ClientError, Receipts};
use truce_proto::v1::{Claim, Entry, Receipt, ReportView};

use super::run::{Outcome, Run};

/// How the answer to an envelope counts for its line.
pub enum Role {
    /// The submit of the line's report: new when written.
    Create,
    /// A correction, source or status of an existing report: corrected
    /// when written.
    Update,
    /// An entry the line carries: new when it creates, else corrected.
    Replay { creates: bool },
    /// A record the source store numbered, asking for that number: as
    /// `Replay`, except that ALREADY_EXISTS (the number is taken) is no
    /// failure: the sender sends it again as exported, or, `deferred`,
    /// the last phase does.
    Probe {
        creates: bool,
        deferred: Option<Box<Entry>>,
    },
    /// The create of a row's report (under the row's id) sent without
    /// looking the report up: new when written; what became of it goes
    /// back to the sender, who decides the rest of the line.
    Optimistic {
        id: String,
        found: oneshot::Sender<Found>,
    },
}

/// An answer handed back to the sender, who waits for it.
pub type Reply = Result<Receipt, Option<Code>>;

/// Lookups of existing reports in flight at once, started by the answers
/// to optimistic creates (the bound on one import's concurrent GetReport
/// calls).
pub const LOOKUPS: usize = 64;

/// A lookup of a report's view.
pub type View = JoinHandle<Result<ReportView, ClientError>>;

/// What an optimistic create found.
pub enum Found {
    /// Written: the report is the row's.
    Created,
    /// Refused: that is the line's error; nothing more to send.
    Refused,
    /// The store has the report already: its view, being looked up.
    Exists(View),
}

/// What the receiving stage keeps between answers.
struct Tally<'r, 'a> {
    run: &'r mut Run<'a>,
    client: Client,
    /// The first refusal of each line not yet done.
    refused: HashMap<u64, String>,
    lookups: Arc<Semaphore>,
}

/// What the sending stage did, in line order.
pub enum Item {
    /// An envelope sent for `line`, with the index the stream gave it.
    Sent {
        line: u64,
        index: u64,
        role: Role,
        reply: Option<oneshot::Sender<Reply>>,
    },
    /// Everything for `line` was sent; its claims queue once it is done.
    Done {
        line: u64,
        offset: u64,
        claims: Vec<Claim>,
    },
    /// The line failed before (the rest of) its writes were sent.
    Failed {
        line: u64,
        offset: u64,
        reason: String,
    },
    /// The server or the connection failed outside the stream.
    Halt(ClientError),
}

/// Tallies the answers until the sender is done, or halts the run.
pub async fn receive(
    run: &mut Run<'_>,
    mut receipts: Receipts,
    mut items: mpsc::Receiver<Item>,
    answered: watch::Sender<u64>,
) {
    let mut tally = Tally {
        client: run.client.clone(),
        run,
        refused: HashMap::new(),
        lookups: Arc::new(Semaphore::new(LOOKUPS)),
    };
    while let Some(item) = items.recv().await {
        let halted = match item {
            Item::Sent {
                line,
                index,
                role,
                reply,
            } => {
                let result = next_answer(&mut receipts, index).await;
                let halted = match result {
                    Ok(result) => tally.answer(line, role, reply, result),
                    Err(e) => Err(e),
                };
                answered.send_replace(index + 1);
                halted
            }
            Item::Done {
                line,
                offset,
                claims,
            } => {
                tally.end(line, offset, None, claims);
                Ok(())
            }
            Item::Failed {
                line,
                offset,
                reason,
            } => {
                tally.end(line, offset, Some(reason), Vec::new());
                Ok(())
            }
            Item::Halt(e) => Err(e),
        };
        if let Err(e) = halted {
            tally.flush();
            tally.run.halt(&e);
            return;
        }
    }
    tally.flush();
}

/// The answer to the envelope `index`; an error if the stream broke or
/// answered out of order.
async fn next_answer(
    receipts: &mut Receipts,
    index: u64,
) -> Result<Result<Receipt, ClientError>, ClientError> {
    match receipts.next().await {
        Some(Ok(a)) if a.index == index => Ok(a.result),
        Some(Ok(a)) => Err(ClientError::Request(format!(
            "the daemon answered envelope {} where {index} was due",
            a.index
        ))),
        Some(Err(e)) => Err(e),
        None => Err(ClientError::Request(
            "the write stream ended before every row was answered".into(),
        )),
    }
}

impl Tally<'_, '_> {
    /// The end of `line`: its first refusal, else `failed`, is its error;
    /// else its claims are queued.
    fn end(&mut self, line: u64, offset: u64, failed: Option<String>, claims: Vec<Claim>) {
        let run = &mut *self.run;
        let reason = self.refused.remove(&line).or(failed);
        if let Some(reason) = reason {
            if run.outcome(line) != Some(Outcome::Failed) {
                run.fail(line, reason);
            }
        } else if run.outcome(line) != Some(Outcome::Failed) {
            claims.into_iter().for_each(|c| run.queue_claim(line, c));
        }
        run.line_done(line, offset);
    }

    /// The refusals of lines that will not end (the run halted): their
    /// errors, in line order.
    fn flush(&mut self) {
        let mut refused: Vec<(u64, String)> = self.refused.drain().collect();
        refused.sort_unstable_by_key(|(line, _)| *line);
        for (line, reason) in refused {
            if self.run.outcome(line) != Some(Outcome::Failed) {
                self.run.fail(line, reason);
            }
        }
    }

    /// A refusal of one of `line`'s writes: the line's error at its end
    /// (at once under `strict`, which then stops the run).
    fn refuse(&mut self, line: u64, reason: String) {
        if self.run.options.strict {
            if self.run.outcome(line) != Some(Outcome::Failed) {
                self.run.fail(line, reason);
            }
        } else {
            self.refused.entry(line).or_insert(reason);
        }
    }

    /// Starts the lookup of report `id`, at most [`LOOKUPS`] at once.
    fn look_up(&self, id: String) -> View {
        let (client, lookups) = (self.client.clone(), Arc::clone(&self.lookups));
        tokio::spawn(async move {
            let _permit = lookups.acquire_owned().await;
            client.get_report(&id).await
        })
    }

    /// Counts one answer for its line; an error halts the run.
    fn answer(
        &mut self,
        line: u64,
        role: Role,
        reply: Option<oneshot::Sender<Reply>>,
        result: Result<Receipt, ClientError>,
    ) -> Result<(), ClientError> {
        if let Some(reply) = reply {
            // The sender may have stopped waiting; nothing to tell then.
            let _ = reply.send(result.as_ref().map(Clone::clone).map_err(ClientError::code));
        }
        if let Role::Optimistic { id, found } = role {
            return self.optimistic(line, id, found, result);
        }
        let e = match result {
            Ok(receipt) => {
                if self.run.note(&receipt) {
                    let creates = match role {
                        Role::Create | Role::Optimistic { .. } => true,
                        Role::Update => false,
                        Role::Replay { creates } | Role::Probe { creates, .. } => creates,
                    };
                    self.run.wrote(line, creates);
                }
                return Ok(());
            }
            Err(e) => e,
        };
        match role {
            Role::Probe { deferred, .. } if e.code() == Some(Code::AlreadyExists) => {
                if let Some(entry) = deferred {
                    self.run.fallbacks.push((line, *entry));
                }
                Ok(())
            }
            _ if e.is_usage() => {
                self.refuse(line, e.to_string());
                Ok(())
            }
            _ => Err(e),
        }
    }

    /// The answer to an optimistic create: new, the line's refusal, or
    /// the report's lookup (a duplicate, or ALREADY_EXISTS) for the sender.
    fn optimistic(
        &mut self,
        line: u64,
        id: String,
        found: oneshot::Sender<Found>,
        result: Result<Receipt, ClientError>,
    ) -> Result<(), ClientError> {
        let outcome = match result {
            Ok(receipt) if self.run.note(&receipt) => {
                self.run.wrote(line, true);
                Found::Created
            }
            Ok(_) => Found::Exists(self.look_up(id)),
            Err(e) if e.code() == Some(Code::AlreadyExists) => Found::Exists(self.look_up(id)),
            Err(e) if e.is_usage() => {
                self.refuse(line, e.to_string());
                Found::Refused
            }
            Err(e) => return Err(e),
        };
        // The sender may have stopped; nothing to tell then.
        let _ = found.send(outcome);
        Ok(())
    }
}
