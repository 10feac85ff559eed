//! Times in the exports: RFC 3339 in UTC, as `truce` prints them (and,
//! for the tests, read back from RFC 3339 or a bare date).

use chrono::{DateTime, SecondsFormat, Utc};
use pbjson_types::Timestamp;

/// Formats a timestamp as RFC 3339 in UTC ("-" without one).
pub(crate) fn format(ts: Option<&Timestamp>) -> String {
    match ts.and_then(|ts| DateTime::<Utc>::try_from(*ts).ok()) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "-".into(),
    }
}

/// An RFC 3339 time or a YYYY-MM-DD date (UTC midnight).
#[cfg(test)]
pub(crate) fn parse(s: &str) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).into());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().into())
}
