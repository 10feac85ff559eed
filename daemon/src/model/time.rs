//! Protobuf timestamps and `SystemTime`, both ways, saturating rather
//! than failing: the domain compares times, the store and the commit
//! pipeline record them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pbjson_types::Timestamp;

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
