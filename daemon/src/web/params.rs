//! The report list's filters as URL query parameters, so that a link
//! reproduces the view: parsed into a `QueryReportsRequest` (a bad value
//! is a 400 naming its parameter) and written back into links (the next
//! page, the exports).

use pbjson_types::Timestamp;
use serde::Deserialize;
use truce_proto::v1::{
    BoundingBox, EventType, EvidenceStatus, QueryReportsRequest, ReportFilter, TargetClass,
};

use super::{WebError, labels::proto_name};

/// The report list's parameters, as written in the URL.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ReportParams {
    #[serde(default)]
    pub agreement: String,
    #[serde(default)]
    pub perpetrator: String,
    #[serde(default)]
    pub reported_by: String,
    #[serde(default, rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub admin1: String,
    #[serde(default)]
    pub evidence: String,
    /// RFC 3339 or a day, `2025-03-18`.
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    /// `south,west,north,east` in degrees.
    #[serde(default)]
    pub bbox: String,
    /// The page token of the next page.
    #[serde(default)]
    pub page: String,
}

/// Reports per page of the list.
pub(crate) const PAGE_SIZE: u32 = 50;

impl ReportParams {
    /// The request these parameters ask for.
    pub(crate) fn request(&self, page_size: u32) -> Result<QueryReportsRequest, WebError> {
        let filter = ReportFilter {
            agreement_id: self.agreement.trim().to_owned(),
            occurred_since: time("since", &self.since)?,
            occurred_until: time("until", &self.until)?,
            perpetrator: self.perpetrator.trim().to_ascii_uppercase(),
            reported_by: self.reported_by.trim().to_ascii_uppercase(),
            event_type: enumerated("type", &self.event_type, "EVENT_TYPE_", |n| {
                EventType::from_str_name(n).map(|v| v as i32)
            })?,
            target_class: enumerated("target", &self.target, "TARGET_CLASS_", |n| {
                TargetClass::from_str_name(n).map(|v| v as i32)
            })?,
            evidence_status: enumerated("evidence", &self.evidence, "EVIDENCE_STATUS_", |n| {
                EvidenceStatus::from_str_name(n).map(|v| v as i32)
            })?,
            country: self.country.trim().to_owned(),
            admin1: self.admin1.trim().to_owned(),
            bbox: bbox(&self.bbox)?,
        };
        Ok(QueryReportsRequest {
            filter: Some(filter),
            page_size,
            page_token: self.page.trim().to_owned(),
            as_of_sequence: 0,
        })
    }

    /// The parameters as a query string (without the page unless asked).
    pub(crate) fn query(&self, with_page: bool) -> String {
        let pairs = [
            ("agreement", &self.agreement),
            ("perpetrator", &self.perpetrator),
            ("reported_by", &self.reported_by),
            ("type", &self.event_type),
            ("target", &self.target),
            ("country", &self.country),
            ("admin1", &self.admin1),
            ("evidence", &self.evidence),
            ("since", &self.since),
            ("until", &self.until),
            ("bbox", &self.bbox),
        ];
        let mut out: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", urlencoding::encode(v.trim())))
            .collect();
        if with_page && !self.page.is_empty() {
            out.push(format!("page={}", urlencoding::encode(&self.page)));
        }
        out.join("&")
    }
}

fn enumerated(
    name: &'static str,
    value: &str,
    prefix: &str,
    parse: impl Fn(&str) -> Option<i32>,
) -> Result<i32, WebError> {
    if value.trim().is_empty() {
        return Ok(0);
    }
    parse(&proto_name(value, prefix))
        .filter(|v| *v != 0)
        .ok_or_else(|| WebError::param(name, format!("{value:?} is not a known value")))
}

fn time(name: &'static str, value: &str) -> Result<Option<Timestamp>, WebError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let seconds = chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp())
            })
        })
        .map_err(|_| {
            WebError::param(
                name,
                format!("{value:?} is not a time like 2025-03-18 or 2025-03-18T17:00:00Z"),
            )
        })?;
    Ok(Some(Timestamp { seconds, nanos: 0 }))
}

fn bbox(value: &str) -> Result<Option<BoundingBox>, WebError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let parts: Vec<f64> = value
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| WebError::param("bbox", "is not south,west,north,east in degrees"))?;
    match parts.as_slice() {
        [south, west, north, east] => Ok(Some(BoundingBox {
            south: *south,
            west: *west,
            north: *north,
            east: *east,
        })),
        _ => Err(WebError::param(
            "bbox",
            "needs four numbers: south,west,north,east",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_bad_ones_name_their_parameter() {
        let p = ReportParams {
            evidence: "disputed".into(),
            event_type: "drone-strike".into(),
            since: "2025-03-18".into(),
            bbox: "44,30,53,40".into(),
            ..Default::default()
        };
        let req = p.request(10).expect("parses").filter.expect("a filter");
        assert_eq!(req.evidence_status, EvidenceStatus::Disputed as i32);
        assert_eq!(req.event_type, EventType::DroneStrike as i32);
        assert_eq!(req.occurred_since.map(|t| t.seconds), Some(1_742_256_000));
        assert!(req.bbox.is_some());
        let bad = ReportParams {
            evidence: "maybe".into(),
            ..Default::default()
        };
        let e = bad.request(10).expect_err("refused");
        assert!(e.to_string().contains("evidence"), "{e}");
        let bad = ReportParams {
            bbox: "1,2".into(),
            ..Default::default()
        };
        assert!(
            bad.request(10)
                .expect_err("refused")
                .to_string()
                .contains("bbox")
        );
    }

    #[test]
    fn the_query_string_reproduces_the_filter() {
        let p = ReportParams {
            agreement: "a b".into(),
            evidence: "disputed".into(),
            page: "tok".into(),
            ..Default::default()
        };
        assert_eq!(p.query(false), "agreement=a%20b&evidence=disputed");
        assert_eq!(p.query(true), "agreement=a%20b&evidence=disputed&page=tok");
    }
}
