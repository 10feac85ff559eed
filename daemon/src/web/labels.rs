//! How the pages write proto values: enum values by their kebab-case
//! labels (the CLI's and the scope engine's vocabulary), timestamps in UTC
//! to the minute, hashes in hex.

use pbjson_types::Timestamp;

/// `EVIDENCE_STATUS_UNVERIFIED` with prefix `EVIDENCE_STATUS_` →
/// `unverified`.
pub(crate) fn label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The proto name of a label: `unverified` → `EVIDENCE_STATUS_UNVERIFIED`.
pub(crate) fn proto_name(label: &str, prefix: &str) -> String {
    let upper = label.trim().to_ascii_uppercase().replace('-', "_");
    if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    }
}

/// A timestamp as `2025-03-18 17:00 UTC` (seconds shown when not zero).
pub(crate) fn time(ts: Option<&Timestamp>) -> String {
    let Some(ts) = ts else {
        return "—".into();
    };
    match chrono::DateTime::from_timestamp(ts.seconds, 0) {
        Some(t) if ts.seconds % 60 == 0 => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{}s", ts.seconds),
    }
}

/// A timestamp's day, `2025-03-18`.
pub(crate) fn day(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map_or_else(|| "—".into(), |t| t.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_both_ways() {
        let l = label("EVIDENCE_STATUS_UNVERIFIED", "EVIDENCE_STATUS_");
        assert_eq!(l, "unverified");
        assert_eq!(
            proto_name("drone-strike", "EVENT_TYPE_"),
            "EVENT_TYPE_DRONE_STRIKE"
        );
        assert_eq!(
            proto_name("EVENT_TYPE_SHELLING", "EVENT_TYPE_"),
            "EVENT_TYPE_SHELLING"
        );
    }

    #[test]
    fn times_are_utc() {
        let t = Timestamp {
            seconds: 1_742_317_200,
            nanos: 0,
        };
        assert_eq!(time(Some(&t)), "2025-03-18 17:00 UTC");
        assert_eq!(day(Some(&t)), "2025-03-18");
        assert_eq!(time(None), "—");
    }
}
