//! The one place that assigns order: the next sequence number (gapless,
//! from 1) and recorded_at (server clock, never decreasing). It is a seam
//! ([`Sequencer`]) so that a replicated log could replace the local
//! counter without touching the rest of the pipeline. A replicated
//! order (cluster mode) also *proposes* each group's encoded entries
//! before they are written ([`Sequencer::propose`]) and learns of entries
//! other replicas ordered ([`Sequencer::resume`] after they are applied).

use std::time::SystemTime;

use pbjson_types::Timestamp;

use super::stats::CommitMetrics;
use crate::{error::Error, store::Batch};

pub use crate::model::time::{from_timestamp, to_timestamp};

/// A position in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub sequence: u64,
    pub recorded_at: SystemTime,
}

impl Position {
    pub fn timestamp(&self) -> Timestamp {
        to_timestamp(self.recorded_at)
    }
}

/// The ordering seam: where an entry gets its sequence and time. The
/// writer takes its positions only through this trait, so a replicated
/// mode can take its order from an external log without touching the
/// checks, the projection or the store. [`LocalCounter`] is the one
/// implementation today.
pub trait Sequencer: Send {
    /// Continues after the last written entry (at start, and after the
    /// store is reopened).
    fn resume(&mut self, last_sequence: u64, last_time: SystemTime);

    /// The position the next entry would take, without taking it.
    fn peek(&self, now: SystemTime) -> Position;

    /// Takes a position returned by [`Sequencer::peek`].
    fn take(&mut self, position: Position);

    /// Orders a group's encoded entries (the batch's, taken in order
    /// after `after`) before any of them is written. Ok means the order is
    /// final: the entries may be written and, once durable, acknowledged.
    /// An error means they must not be written (they may still have been
    /// ordered, if the answer was lost: then they come back to be applied
    /// like any other replica's). The local counter's order is this
    /// process's own, so it has nothing to ask.
    fn propose(&mut self, after: u64, batch: &Batch) -> Result<(), Error> {
        let _ = (after, batch);
        Ok(())
    }

    /// Records what ordering costs in the pipeline's series (cluster
    /// mode: each etcd transaction); the local counter has nothing to
    /// record.
    fn measure(&mut self, metrics: &CommitMetrics) {
        let _ = metrics;
    }
}

/// The local counter: sequences gapless from 1, `recorded_at` from the
/// server clock and never decreasing.
#[derive(Debug)]
pub struct LocalCounter {
    last_sequence: u64,
    last_time: SystemTime,
}

impl LocalCounter {
    /// Continues after the last written entry.
    pub fn resume(last_sequence: u64, last_time: SystemTime) -> Self {
        Self {
            last_sequence,
            last_time,
        }
    }
}

impl LocalCounter {
    /// Continues after `last_sequence` (another order seam built on it).
    pub fn resume_at(&mut self, last_sequence: u64, last_time: SystemTime) {
        *self = LocalCounter::resume(last_sequence, last_time);
    }
}

impl Sequencer for LocalCounter {
    fn resume(&mut self, last_sequence: u64, last_time: SystemTime) {
        self.resume_at(last_sequence, last_time);
    }

    fn peek(&self, now: SystemTime) -> Position {
        Position {
            sequence: self.last_sequence + 1,
            recorded_at: now.max(self.last_time),
        }
    }

    fn take(&mut self, position: Position) {
        debug_assert_eq!(position.sequence, self.last_sequence + 1);
        self.last_sequence = position.sequence;
        self.last_time = position.recorded_at;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn time_never_goes_back() {
        let later = UNIX_EPOCH + Duration::from_secs(100);
        let mut s = LocalCounter::resume(5, later);
        let p = s.peek(UNIX_EPOCH + Duration::from_secs(50));
        assert_eq!(p.sequence, 6);
        assert_eq!(p.recorded_at, later);
        s.take(p);
        assert_eq!(s.peek(later).sequence, 7);
    }

    #[test]
    fn the_seam_resumes_and_peeks_without_taking() {
        let t = UNIX_EPOCH + Duration::from_secs(10);
        let mut seam: Box<dyn Sequencer> = Box::new(LocalCounter::resume(0, UNIX_EPOCH));
        let first = seam.peek(t);
        assert_eq!(first.sequence, 1);
        // A peek takes nothing: a refused entry consumes no sequence.
        assert_eq!(seam.peek(t), first);
        seam.take(first);
        assert_eq!(seam.peek(t).sequence, 2);
        // After a reopen it continues from what the store holds.
        seam.resume(41, t + Duration::from_secs(5));
        let next = seam.peek(t);
        assert_eq!(next.sequence, 42);
        assert_eq!(next.recorded_at, t + Duration::from_secs(5));
    }

    #[test]
    fn timestamps_round_trip_before_1970() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        let ts = to_timestamp(t);
        assert_eq!((ts.seconds, ts.nanos), (-2, 500_000_000));
        assert_eq!(from_timestamp(&ts), t);
    }

    #[test]
    fn unrepresentable_timestamps_do_not_panic() {
        for seconds in [i64::MAX, i64::MIN] {
            let _ = from_timestamp(&Timestamp {
                seconds,
                nanos: 999_999_999,
            });
        }
    }
}
