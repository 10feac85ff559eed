//! What an import has done so far, line by line: each line's outcome (new,
//! corrected, unchanged, failed), the failures in line order, the claims
//! and held-back entries queued for after the rows, where the run stopped
//! and why; the summary at the end. The rows' answers (`receive`) and the
//! last phase (`last`) write here; nothing here talks to the daemon.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use truce_proto::v1::{Claim, Entry, Receipt};

use super::{ImportOptions, ImportSummary, RowError, StopCause, Stopped, replay::Replay};
use truce_client::{Client, ClientError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    New = 0,
    Corrected = 1,
    Unchanged = 2,
    Failed = 3,
}

pub struct PendingClaim {
    pub line: u64,
    pub claim: Claim,
}

/// One import in progress.
pub struct Run<'a> {
    pub client: &'a Client,
    pub options: ImportOptions,
    /// By line, in line order.
    outcomes: Vec<(u64, Outcome)>,
    /// Lines by outcome (indexed by `Outcome as usize`), kept as they
    /// change so the progress line costs nothing per row.
    counts: [u64; 4],
    errors: Vec<RowError>,
    pub claims: Vec<PendingClaim>,
    /// Claim id (or content, without an id) → index in `claims`.
    claim_keys: HashMap<String, usize>,
    pub replay: Replay,
    /// Records the source store numbered whose number is taken here: sent
    /// again as exported after the rows (nothing later on their line
    /// named them), before the held entries.
    pub fallbacks: Vec<(u64, Entry)>,
    /// Set once `strict` met a failure or the run halted: the rows' stages
    /// read it and stop.
    pub stop: Arc<AtomicBool>,
    halted: Option<StopCause>,
    /// The last line whose writes all came back, and the highest sequence
    /// a receipt named: where an interrupted run stopped.
    last_line: u64,
    last_sequence: u64,
}

impl<'a> Run<'a> {
    pub fn new(client: &'a Client, options: ImportOptions) -> Self {
        Self {
            client,
            options,
            outcomes: Vec::new(),
            counts: [0; 4],
            errors: Vec::new(),
            claims: Vec::new(),
            claim_keys: HashMap::new(),
            replay: Replay::default(),
            fallbacks: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            halted: None,
            last_line: 0,
            last_sequence: 0,
        }
    }

    /// Notes a receipt's sequence; true when it wrote something.
    pub fn note(&mut self, receipt: &Receipt) -> bool {
        self.last_sequence = self.last_sequence.max(receipt.sequence);
        !receipt.duplicate
    }

    /// True once `strict` met a failure, the run was interrupted or the
    /// server failed.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.halted.is_some() || self.interrupted()
    }

    fn interrupted(&self) -> bool {
        self.options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Stops the run: the server or the connection failed.
    pub fn halt(&mut self, error: &ClientError) {
        if self.halted.is_none() {
            self.halted = Some(StopCause::Failed(error.to_string()));
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The outcome of `line` so far.
    pub fn outcome(&self, line: u64) -> Option<Outcome> {
        let i = self
            .outcomes
            .binary_search_by_key(&line, |(l, _)| *l)
            .ok()?;
        Some(self.outcomes[i].1)
    }

    /// Sets the outcome of `line` from its current one (None: not yet).
    /// Lines come in order, so this is nearly always the last one.
    pub fn set(&mut self, line: u64, f: impl FnOnce(Option<Outcome>) -> Outcome) {
        let new = match self.outcomes.binary_search_by_key(&line, |(l, _)| *l) {
            Ok(i) => {
                let old = self.outcomes[i].1;
                self.counts[old as usize] -= 1;
                self.outcomes[i].1 = f(Some(old));
                self.outcomes[i].1
            }
            Err(i) => {
                let new = f(None);
                self.outcomes.insert(i, (line, new));
                new
            }
        };
        self.counts[new as usize] += 1;
    }

    /// `line` wrote something: new if this created its record, else
    /// corrected unless it is new already (a failed line stays failed).
    pub fn wrote(&mut self, line: u64, creates: bool) {
        self.set(line, |o| match o {
            Some(Outcome::Failed) => Outcome::Failed,
            Some(Outcome::New) => Outcome::New,
            _ if creates => Outcome::New,
            _ => Outcome::Corrected,
        });
    }

    pub fn fail(&mut self, line: u64, reason: String) {
        self.set(line, |_| Outcome::Failed);
        let error = RowError { line, reason };
        if let Some(sink) = self.options.on_error.as_mut() {
            sink(&error);
        }
        self.errors.push(error);
        if self.options.strict {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Every write of `line` came back: it counts as unchanged unless one
    /// wrote or failed; the progress shows it.
    pub fn line_done(&mut self, line: u64, offset: u64) {
        self.set(line, |o| o.unwrap_or(Outcome::Unchanged));
        self.last_line = self.last_line.max(line);
        let s = self.tally();
        let progress = &self.options.progress;
        progress.set_position(offset);
        progress.set_message(format!(
            "{} new, {} corrected, {} unchanged, {} failed",
            s.new, s.corrected, s.unchanged, s.failed
        ));
    }

    /// A held-back write of `line` came back (the line is done already).
    pub fn held_done(&mut self, line: u64) {
        self.last_line = self.last_line.max(line);
    }

    /// Queues a line's claim for after the rows (it may name reports on
    /// later lines); the same claim on several lines is added once.
    pub fn queue_claim(&mut self, line: u64, claim: Claim) {
        let key = if claim.id.is_empty() {
            serde_json::to_string(&claim).unwrap_or_default()
        } else {
            claim.id.clone()
        };
        match self.claim_keys.get(&key) {
            Some(&i) => {
                let first = &self.claims[i];
                if first.claim != claim {
                    let reason = format!(
                        "claim {} differs from the one on line {}",
                        claim.id, first.line
                    );
                    self.fail(line, reason);
                }
            }
            None => {
                self.claim_keys.insert(key, self.claims.len());
                self.claims.push(PendingClaim { line, claim });
            }
        }
    }

    fn tally(&self) -> ImportSummary {
        let [new, corrected, unchanged, failed] = self.counts;
        ImportSummary {
            new,
            corrected,
            unchanged,
            failed,
            ..ImportSummary::default()
        }
    }

    /// The summary; clears the progress bar.
    pub fn finish(self) -> ImportSummary {
        self.options.progress.finish_and_clear();
        let cause = match &self.halted {
            Some(cause) => Some(cause.clone()),
            None => self.interrupted().then_some(StopCause::Interrupted),
        };
        ImportSummary {
            errors: self.errors.clone(),
            stopped: cause.map(|cause| Stopped {
                line: self.last_line,
                sequence: self.last_sequence,
                cause,
            }),
            ..self.tally()
        }
    }
}
