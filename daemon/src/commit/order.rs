//! The one place that assigns order: the next sequence number (gapless,
//! from 1) and recorded_at (server clock, never decreasing). A replicated
//! log would replace this seam.

use std::time::SystemTime;

use pbjson_types::Timestamp;

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

/// Assigns positions.
#[derive(Debug)]
pub struct Sequencer {
    last_sequence: u64,
    last_time: SystemTime,
}

impl Sequencer {
    /// Continues after the last written entry.
    pub fn resume(last_sequence: u64, last_time: SystemTime) -> Self {
        Self {
            last_sequence,
            last_time,
        }
    }

    /// The position the next entry would take, without taking it.
    pub fn peek(&self, now: SystemTime) -> Position {
        Position {
            sequence: self.last_sequence + 1,
            recorded_at: now.max(self.last_time),
        }
    }

    /// Takes a position returned by [`Sequencer::peek`].
    pub fn take(&mut self, position: Position) {
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
        let mut s = Sequencer::resume(5, later);
        let p = s.peek(UNIX_EPOCH + Duration::from_secs(50));
        assert_eq!(p.sequence, 6);
        assert_eq!(p.recorded_at, later);
        s.take(p);
        assert_eq!(s.peek(later).sequence, 7);
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
