//! The last stage of an import's rows: the stream's answers, matched in
//! order to what the sending stage said it sent for which line, tallied
//! into the run (`run`): a line's first refusal is its error, a line is
//! done (unchanged unless something was written) once everything sent for
//! it came back. A broken stream, a refusal that is the server's and not
//! the row's, or a lookup that failed the same way halts the run there.
//! The count of answers received is published for the other stages (a row
//! whose report this run wrote to waits for that write's answer).

use tokio::sync::{mpsc, oneshot, watch};
use tonic::Code;
use truce_client::{ClientError, Receipts};
use truce_proto::v1::{Claim, Entry, Receipt};

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
}

/// An answer handed back to the sender, who waits for it.
pub type Reply = Result<Receipt, Option<Code>>;

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
                    Ok(result) => answer(run, line, role, reply, result),
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
                if run.outcome(line) != Some(Outcome::Failed) {
                    claims.into_iter().for_each(|c| run.queue_claim(line, c));
                }
                run.line_done(line, offset);
                Ok(())
            }
            Item::Failed {
                line,
                offset,
                reason,
            } => {
                if run.outcome(line) != Some(Outcome::Failed) {
                    run.fail(line, reason);
                }
                run.line_done(line, offset);
                Ok(())
            }
            Item::Halt(e) => Err(e),
        };
        if let Err(e) = halted {
            run.halt(&e);
            return;
        }
    }
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

/// Counts one answer for its line; an error halts the run.
fn answer(
    run: &mut Run<'_>,
    line: u64,
    role: Role,
    reply: Option<oneshot::Sender<Reply>>,
    result: Result<Receipt, ClientError>,
) -> Result<(), ClientError> {
    if let Some(reply) = reply {
        // The sender may have stopped waiting; nothing to tell then.
        let _ = reply.send(result.as_ref().map(Clone::clone).map_err(ClientError::code));
    }
    let failed = run.outcome(line) == Some(Outcome::Failed);
    let e = match result {
        Ok(receipt) => {
            if run.note(&receipt) && !failed {
                let creates = match role {
                    Role::Create => true,
                    Role::Update => false,
                    Role::Replay { creates } | Role::Probe { creates, .. } => creates,
                };
                run.wrote(line, creates);
            }
            return Ok(());
        }
        Err(e) => e,
    };
    match role {
        Role::Probe { deferred, .. } if e.code() == Some(Code::AlreadyExists) => {
            if let Some(entry) = deferred {
                run.fallbacks.push((line, *entry));
            }
            Ok(())
        }
        _ if e.is_usage() => {
            if !failed {
                run.fail(line, e.to_string());
            }
            Ok(())
        }
        _ => Err(e),
    }
}
