//! Stopping and reopening: after a failed append, write or sync the writer
//! waits for the groups in flight, stops writes and fails what was not
//! acknowledged. After a full disk it reopens the store at once for reads
//! and again for appends once space is back; after any other failure
//! writes wait for a restart. The rebuild of derived rows the scrub asks
//! for is a reopen too.

use tokio::sync::oneshot;
use truce_proto::v1::Receipt;

use super::{Writer, resume};
use crate::error::Error;

/// How long a reopen waits for readers to let go of the old store.
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What to do after a failure that is not a full disk.
const RESTART: &str = "check the disk and restart truced (acknowledged entries are safe)";

/// Why writes are stopped.
pub(super) struct Stopped {
    why: String,
    /// The disk was full: reopen the store once space is back. Any other
    /// failure waits for a restart (a disk that failed a sync may have
    /// dropped the pages it could not write).
    reopen: bool,
    /// The store was reopened right after the failure (for reads): once
    /// space is back, appends resume without another reopen.
    reopened: bool,
}

/// How a group is refused: the error's constructor and its message.
pub(super) type Refusal = (fn(String) -> Error, String);

/// What a group meets while writes are stopped.
pub(super) enum Decision {
    Refuse(Refusal),
    /// Space is back after a full disk: reopen, then take the group.
    Reopen,
}

impl Stopped {
    /// What a writer whose append was not acknowledged is told.
    fn told(&self) -> String {
        told(&self.why, self.reopen)
    }

    /// Whether a group is refused or writes may resume: `shortage` (free
    /// space under the margin) and `room` (the reserve and the write probe)
    /// are asked only in that order and only when the answer depends on them.
    pub(super) fn decide(
        &self,
        shortage: impl FnOnce() -> Option<String>,
        room: impl FnOnce() -> Result<(), String>,
    ) -> Decision {
        if !self.reopen {
            return Decision::Refuse((Error::WritesStopped, self.told()));
        }
        let short = match shortage() {
            Some(why) => Some(why),
            None => room().err(),
        };
        match short {
            Some(why) => Decision::Refuse((
                Error::exhausted,
                format!("{why}; writes stopped after: {}", self.why),
            )),
            None => Decision::Reopen,
        }
    }
}

/// Why writes stopped, as a writer whose append was not acknowledged is
/// told; `reopen` when they resume once disk space is back.
pub(super) fn told(why: &str, reopen: bool) -> String {
    if reopen {
        format!("{why}; writes resume once disk space is freed")
    } else {
        format!("{why}; {RESTART}")
    }
}

/// Why a step failed, and whether the disk was full.
pub(super) type Failure = (String, bool);

/// A step's error as the writer reports it.
pub(super) fn failed(step: &'static str) -> impl Fn(crate::store::StoreError) -> Failure {
    move |e| (format!("{step} failed: {e}"), e.is_disk_full())
}

impl Writer {
    /// While writes are stopped: how the next group is refused, or `None`
    /// once the store could be reopened and appends resume.
    pub(super) fn refusal(&mut self) -> Option<Refusal> {
        let stopped = self.stopped.as_ref()?;
        let dir = self.store.dir();
        let ahead = self.store.space_ahead();
        let decision = stopped.decide(
            || self.space.shortage(dir, ahead.total()),
            || self.space.room_to_resume(dir, ahead.next),
        );
        match decision {
            Decision::Refuse(refusal) => Some(refusal),
            Decision::Reopen => self
                .reopen()
                .err()
                .map(|why| (Error::WritesStopped as _, why)),
        }
    }

    /// After a failed append, write or sync (`own`, the writer's; the sync
    /// step's comes from the syncer's drain): waits for the groups in flight
    /// (each is acknowledged or failed), stops writes and fails
    /// `replies`. Reads go on; after a full disk (only: both failures
    /// must be one) the store is reopened for them at once.
    pub(super) fn stop(
        &mut self,
        own: Option<Failure>,
        replies: impl IntoIterator<Item = oneshot::Sender<Result<Receipt, Error>>>,
    ) {
        let (why, full) = match (self.syncer.drain(), own) {
            (Some((why, full)), Some((_, own_full))) => (why, full && own_full),
            (Some(failure), None) | (None, Some(failure)) => failure,
            (None, None) => ("the sync thread has stopped".to_owned(), false),
        };
        self.inflight.clear();
        let reopen = full
            || self
                .space
                .shortage(self.store.dir(), self.store.space_ahead().total())
                .is_some();
        tracing::error!(error = %why, disk_full = reopen, "write path stopped: nothing more will be acknowledged until the store is reopened");
        let stopped = Stopped {
            why,
            reopen,
            reopened: false,
        };
        for reply in replies {
            let _ = reply.send(Err(Error::WritesStopped(stopped.told())));
        }
        self.stopped = Some(stopped);
        if reopen {
            self.reopen_for_reads();
        }
    }

    /// Waits for the groups in flight to be durable, then reopens the
    /// store deriving every row again from the log.
    pub(super) fn rebuild(&mut self) -> Result<u64, Error> {
        if let Some(failure) = self.syncer.drain() {
            self.stop(Some(failure), []);
        }
        if let Some(stopped) = &self.stopped {
            return Err(Error::WritesStopped(stopped.told()));
        }
        self.inflight.clear();
        let last = self.store.reopen_rebuilding(REOPEN_WAIT)?;
        resume(&self.store, self.sequencer.as_mut())?;
        self.stats.metrics.reopens.inc();
        Ok(last)
    }

    /// Takes note of a failure of the sync step.
    pub(super) fn notice_failure(&mut self) {
        if self.stopped.is_none() && self.syncer.failed() {
            self.stop(None, []);
        }
    }

    /// Right after a write failed on a full disk: frees the space reserve
    /// and reopens the store at once, so that reads do not meet the error
    /// state sled keeps after a failed write. Appends still wait for space.
    fn reopen_for_reads(&mut self) {
        self.space.release_reserve(self.store.dir());
        let reopened = self
            .store
            .reopen(REOPEN_WAIT)
            .map_err(Error::from)
            .and_then(|last| {
                resume(&self.store, self.sequencer.as_mut())?;
                Ok(last)
            });
        match reopened {
            Ok(last) => {
                self.stats.metrics.reopens.inc();
                if let Some(stopped) = &mut self.stopped {
                    stopped.reopened = true;
                }
                tracing::info!(
                    last_sequence = last,
                    "store reopened for reads; appends wait for disk space"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "store not reopened yet; it is reopened once space is back");
            }
        }
    }

    /// Once space is back after a failed append, write or sync: reopens the
    /// store (unless that was done right after the failure), continues
    /// the log from what it holds, and keeps the reserve again.
    fn reopen(&mut self) -> Result<(), String> {
        let Some(stopped) = &self.stopped else {
            return Ok(());
        };
        if !stopped.reopened {
            let not_yet = |e: &dyn std::fmt::Display| {
                tracing::warn!(error = %e, "store not reopened; writes stay stopped");
                format!("{}; the store could not be reopened yet: {e}", stopped.why)
            };
            let last = self.store.reopen(REOPEN_WAIT).map_err(|e| not_yet(&e))?;
            resume(&self.store, self.sequencer.as_mut()).map_err(|e| not_yet(&e))?;
            self.stats.metrics.reopens.inc();
            tracing::info!(last_sequence = last, "store reopened");
        }
        tracing::info!(after = %stopped.why, "appends resume");
        self.stopped = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn stopped(reopen: bool) -> Stopped {
        Stopped {
            why: "write failed: no space".into(),
            reopen,
            reopened: false,
        }
    }

    fn refused(decision: Decision) -> Error {
        match decision {
            Decision::Refuse((error, why)) => error(why),
            Decision::Reopen => panic!("expected a refusal"),
        }
    }

    #[test]
    fn after_a_disk_error_writes_wait_for_a_restart_whatever_the_space() {
        let asked = Cell::new(false);
        let decision = stopped(false).decide(
            || {
                asked.set(true);
                None
            },
            || Ok(()),
        );
        match refused(decision) {
            Error::WritesStopped(why) => {
                assert!(why.starts_with("write failed: no space; "), "{why}");
                assert!(why.contains("restart truced"), "{why}");
            }
            e => panic!("{e:?}"),
        }
        assert!(!asked.get(), "the space is not even probed");
    }

    #[test]
    fn after_a_full_disk_a_shortage_refuses_without_probing_a_write() {
        let probed = Cell::new(false);
        let decision = stopped(true).decide(
            || Some("12 MB free".into()),
            || {
                probed.set(true);
                Ok(())
            },
        );
        let error = refused(decision);
        assert!(!matches!(error, Error::WritesStopped(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("12 MB free; writes stopped after: write failed: no space"),
            "{error}"
        );
        assert!(!probed.get());
    }

    #[test]
    fn after_a_full_disk_a_failed_probe_refuses() {
        let decision = stopped(true).decide(|| None, || Err("the write probe failed".into()));
        let error = refused(decision);
        assert!(
            error.to_string().contains("the write probe failed"),
            "{error}"
        );
    }

    #[test]
    fn once_space_is_back_writes_reopen() {
        let decision = stopped(true).decide(|| None, || Ok(()));
        assert!(matches!(decision, Decision::Reopen));
    }

    #[test]
    fn what_a_writer_is_told_says_what_to_do() {
        assert!(told("sync failed", true).ends_with("writes resume once disk space is freed"));
        assert!(told("sync failed", false).ends_with(RESTART));
    }
}
