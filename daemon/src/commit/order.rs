//! The one place that assigns order: the next sequence number (gapless,
//! from 1) and recorded_at (server clock, never decreasing). A replicated
//! log would replace this seam.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pbjson_types::Timestamp;

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

/// A SystemTime as a protobuf Timestamp.
pub fn to_timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        },
        Err(e) => {
            let d = e.duration();
            let mut seconds = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let mut nanos = i32::try_from(d.subsec_nanos()).unwrap_or(0);
            if nanos > 0 {
                seconds -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            Timestamp { seconds, nanos }
        }
    }
}

/// A protobuf Timestamp as a SystemTime. Validated timestamps (years
/// 0001-9999) always convert; anything unrepresentable saturates to the
/// epoch instead of panicking.
pub fn from_timestamp(ts: &Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::try_from(ts.nanos).unwrap_or(0));
    let whole = Duration::from_secs(ts.seconds.unsigned_abs());
    let base = if ts.seconds >= 0 {
        UNIX_EPOCH.checked_add(whole)
    } else {
        UNIX_EPOCH.checked_sub(whole)
    };
    base.and_then(|t| t.checked_add(nanos))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
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
