//! Rules for single fields: ids, strings, URLs, hashes, timestamps,
//! coordinates and enums.

use std::time::{Duration, SystemTime};

use pbjson_types::Timestamp;

use super::path::Field;
use crate::error::Error;

pub const ID_MAX: usize = 128;
pub const SHORT_MAX: usize = 512;
pub const URL_MAX: usize = 2048;
pub const LONG_MAX: usize = 8192;
pub const TAG_MAX: usize = 64;
pub const TAGS_MAX: usize = 32;
pub const SOURCES_MAX: usize = 64;
pub const LIST_MAX: usize = 64;
pub const POLYGON_MAX: usize = 1000;

/// How far in the server's future an event may be said to occur.
pub const FUTURE_SLACK: Duration = Duration::from_secs(24 * 3600);

/// Timestamp range of google.protobuf.Timestamp: 0001-01-01 to 9999-12-31.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

pub fn invalid<'f>(field: impl Into<Field<'f>>, reason: impl Into<String>) -> Error {
    Error::invalid(field.into().to_string(), reason)
}

/// A value as an error message quotes it: at most 64 characters. The
/// message travels in the grpc-message trailer, percent-encoded; a huge
/// value quoted whole would pass the client's header limit and reach it
/// as an HTTP/2 error instead of the rejection.
pub fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(MAX).collect();
    if chars.next().is_some() {
        format!("{head:?}... ({} bytes)", value.len())
    } else {
        format!("{head:?}")
    }
}

/// An id: 1-128 characters of `[A-Za-z0-9._:-]`.
pub fn check_id<'f>(field: impl Into<Field<'f>>, id: &str) -> Result<(), Error> {
    let field: Field = field.into();
    if id.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if id.len() > ID_MAX {
        return Err(invalid(
            field,
            format!("is {} characters; the limit is {ID_MAX}", id.len()),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(invalid(
            field,
            format!("contains {c:?}; ids use only [A-Za-z0-9._:-]"),
        ));
    }
    Ok(())
}

/// The request id of a write.
pub fn request_id(id: &str) -> Result<String, Error> {
    check_id("request_id", id)?;
    Ok(id.to_owned())
}

/// A client-chosen record id: optional, in the id form. It may have the
/// form the server assigns (`report-18`): an import keeps the ids of the
/// store it came from, and the server assigns around ids that are taken.
pub fn client_record_id<'f>(
    field: impl Into<Field<'f>>,
    id: &str,
) -> Result<Option<String>, Error> {
    let field: Field = field.into();
    if id.is_empty() {
        return Ok(None);
    }
    check_id(field, id)?;
    Ok(Some(id.to_owned()))
}

/// A reference to another record by id (required).
pub fn reference_id<'f>(field: impl Into<Field<'f>>, id: &str) -> Result<(), Error> {
    let field: Field = field.into();
    check_id(field, id)
}

/// A party code (required when `required`).
pub fn party<'f>(field: impl Into<Field<'f>>, code: &str, required: bool) -> Result<(), Error> {
    let field: Field = field.into();
    if code.is_empty() && !required {
        return Ok(());
    }
    check_id(field, code)
}

/// A string of at most `max` bytes, required or not.
pub fn text<'f>(
    field: impl Into<Field<'f>>,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), Error> {
    let field: Field = field.into();
    if required && value.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    if value.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes; the limit is {max}", value.len()),
        ));
    }
    Ok(())
}

/// A list of at most `max` items.
pub fn list<'f, T>(field: impl Into<Field<'f>>, items: &[T], max: usize) -> Result<(), Error> {
    let field: Field = field.into();
    if items.len() > max {
        return Err(invalid(
            field,
            format!("has {} items; the limit is {max}", items.len()),
        ));
    }
    Ok(())
}

/// Tags: at most 32, each 1-64 bytes.
pub fn tags<'f>(field: impl Into<Field<'f>>, tags: &[String]) -> Result<(), Error> {
    let field: Field = field.into();
    list(field, tags, TAGS_MAX)?;
    for (i, tag) in tags.iter().enumerate() {
        text(field.item(i), tag, TAG_MAX, true)?;
    }
    Ok(())
}

/// An http or https URL with a host (required when `required`).
pub fn url<'f>(field: impl Into<Field<'f>>, value: &str, required: bool) -> Result<(), Error> {
    let field: Field = field.into();
    if value.is_empty() {
        return if required {
            Err(invalid(field, "is required"))
        } else {
            Ok(())
        };
    }
    text(field, value, URL_MAX, false)?;
    let uri: http::Uri = value
        .parse()
        .map_err(|_| invalid(field, format!("{} is not a URL", quoted(value))))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid(field, "must be an http or https URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(field, "must name a host"));
    }
    Ok(())
}

/// A lower-case hex SHA-256 (required when `required`).
pub fn sha256_hex<'f>(
    field: impl Into<Field<'f>>,
    value: &str,
    required: bool,
) -> Result<(), Error> {
    let field: Field = field.into();
    if value.is_empty() && !required {
        return Ok(());
    }
    if value.len() != 64
        || !value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(invalid(field, "must be 64 lower-case hex digits (SHA-256)"));
    }
    Ok(())
}

/// ISO 3166-1 alpha-2 country code, upper case (required when `required`).
pub fn country<'f>(field: impl Into<Field<'f>>, value: &str, required: bool) -> Result<(), Error> {
    let field: Field = field.into();
    if value.is_empty() && !required {
        return Ok(());
    }
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            field,
            format!(
                "{} is not an ISO 3166-1 alpha-2 code (two upper-case letters)",
                quoted(value)
            ),
        ));
    }
    Ok(())
}

/// A BCP 47 language tag, loosely: letters, digits and '-', at most 35.
pub fn language<'f>(field: impl Into<Field<'f>>, value: &str) -> Result<(), Error> {
    let field: Field = field.into();
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 35
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(
            field,
            format!("{} is not a language tag", quoted(value)),
        ));
    }
    Ok(())
}

/// A timestamp in google.protobuf.Timestamp's range, as a SystemTime.
pub fn timestamp<'f>(field: impl Into<Field<'f>>, ts: &Timestamp) -> Result<SystemTime, Error> {
    let field: Field = field.into();
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) {
        return Err(invalid(field, "is outside years 0001-9999"));
    }
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(invalid(field, "nanos must be in 0..1e9"));
    }
    Ok(crate::model::time::from_timestamp(ts))
}

/// A required timestamp.
pub fn required_timestamp<'f>(
    field: impl Into<Field<'f>>,
    ts: Option<&Timestamp>,
) -> Result<SystemTime, Error> {
    let field: Field = field.into();
    let ts = ts.ok_or_else(|| invalid(field, "is required"))?;
    timestamp(field, ts)
}

/// An optional timestamp.
pub fn optional_timestamp<'f>(
    field: impl Into<Field<'f>>,
    ts: Option<&Timestamp>,
) -> Result<Option<SystemTime>, Error> {
    let field: Field = field.into();
    ts.map(|ts| timestamp(field, ts)).transpose()
}

/// A time that may not be more than a day in the server's future.
pub fn not_future<'f>(
    field: impl Into<Field<'f>>,
    t: SystemTime,
    now: SystemTime,
) -> Result<(), Error> {
    let field: Field = field.into();
    if t > now + FUTURE_SLACK {
        return Err(invalid(field, "is more than 1 day in the server's future"));
    }
    Ok(())
}

/// A latitude: finite, within [-90, 90].
pub fn latitude<'f>(field: impl Into<Field<'f>>, v: f64) -> Result<(), Error> {
    let field: Field = field.into();
    if !v.is_finite() || !(-90.0..=90.0).contains(&v) {
        return Err(invalid(
            field,
            format!("{v} is not a latitude in [-90, 90]"),
        ));
    }
    Ok(())
}

/// A longitude: finite, within [-180, 180].
pub fn longitude<'f>(field: impl Into<Field<'f>>, v: f64) -> Result<(), Error> {
    let field: Field = field.into();
    if !v.is_finite() || !(-180.0..=180.0).contains(&v) {
        return Err(invalid(
            field,
            format!("{v} is not a longitude in [-180, 180]"),
        ));
    }
    Ok(())
}

/// An enum field: a known value other than its UNSPECIFIED zero.
pub fn enum_value<'f, E>(field: impl Into<Field<'f>>, raw: i32) -> Result<E, Error>
where
    E: TryFrom<i32> + Default + PartialEq,
{
    let field: Field = field.into();
    let value =
        E::try_from(raw).map_err(|_| invalid(field, format!("{raw} is not a known value")))?;
    if value == E::default() {
        return Err(invalid(field, "is required (UNSPECIFIED is not accepted)"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("id", "ru-ua-energy-2025").is_ok());
        assert!(check_id("id", "a:b.c_d-e").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "has space").is_err());
        assert!(check_id("id", &"x".repeat(129)).is_err());
        assert_eq!(
            client_record_id("id", "report-12").ok(),
            Some(Some("report-12".into()))
        );
        assert!(client_record_id("id", "report 12").is_err());
        assert!(client_record_id("id", "report-x").is_ok());
        assert_eq!(client_record_id("id", "").ok(), Some(None));
    }

    #[test]
    fn urls() {
        assert!(url("u", "https://example.org/a?b=c", true).is_ok());
        assert!(url("u", "ftp://example.org/", true).is_err());
        assert!(url("u", "javascript:alert(1)", true).is_err());
        assert!(url("u", "https://", true).is_err());
        assert!(url("u", "", false).is_ok());
        assert!(url("u", "", true).is_err());
    }

    #[test]
    fn timestamps_before_1970() {
        let t = timestamp(
            "t",
            &Timestamp {
                seconds: -1,
                nanos: 500_000_000,
            },
        );
        assert_eq!(
            t.ok(),
            Some(SystemTime::UNIX_EPOCH - Duration::from_millis(500))
        );
        assert!(
            timestamp(
                "t",
                &Timestamp {
                    seconds: 0,
                    nanos: -1
                }
            )
            .is_err()
        );
        assert!(
            timestamp(
                "t",
                &Timestamp {
                    seconds: i64::MAX,
                    nanos: 0
                }
            )
            .is_err()
        );
    }

    #[test]
    fn messages_quote_values_briefly() {
        assert_eq!(quoted("UAX"), "\"UAX\"");
        let long = "é".repeat(5000);
        assert_eq!(
            quoted(&long),
            format!("{:?}... (10000 bytes)", "é".repeat(64))
        );
        let Err(e) = language("l", &long) else {
            panic!("accepted")
        };
        assert!(e.to_string().len() < 200, "{e}");
    }

    #[test]
    fn coordinates() {
        assert!(latitude("lat", 0.0).is_ok());
        assert!(latitude("lat", f64::NAN).is_err());
        assert!(latitude("lat", 90.5).is_err());
        assert!(longitude("lon", -180.0).is_ok());
        assert!(longitude("lon", f64::INFINITY).is_err());
    }
}
