//! Times on the command line: RFC 3339 (`2025-03-18T17:00:00Z`) or a bare
//! date (`2025-03-18`, midnight UTC), in and out.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use pbjson_types::Timestamp;

/// Parses an RFC 3339 time or a YYYY-MM-DD date (UTC midnight).
pub fn parse(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).into());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().into());
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2025-03-18T17:00:00Z) or a date (2025-03-18)"
    ))
}

/// Formats a timestamp as RFC 3339 in UTC.
pub fn format(ts: Option<&Timestamp>) -> String {
    match ts.and_then(|ts| DateTime::<Utc>::try_from(*ts).ok()) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        let t = parse("2025-03-18T17:00:00Z").ok();
        assert_eq!(t.map(|t| t.seconds), Some(1_742_317_200));
        let d = parse("1969-12-31").ok();
        assert_eq!(d.map(|t| t.seconds), Some(-86_400));
        assert!(parse("18 March").is_err());
        assert_eq!(format(d.as_ref()), "1969-12-31T00:00:00Z");
    }
}
