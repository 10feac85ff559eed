//! Flags of `truce agreement list` and `truce report list`, turned into
//! query requests.

use clap::Args;
use truce_proto::v1::{
    AgreementStatus, BoundingBox, EventType, EvidenceStatus, ListAgreementsRequest,
    QueryReportsRequest, ReportFilter, TargetClass,
};

use super::{
    flags::{parse_enum, parse_time},
    values,
};

/// The report filters `truce report list`, `truce export` and `truce
/// watch` share.
#[derive(Debug, Args)]
pub struct ReportFilterFlags {
    /// Reports alleged to breach this agreement (it must exist).
    #[arg(long, value_name = "ID")]
    pub agreement: Option<String>,
    /// Among the alleged perpetrators (a party code).
    #[arg(long, value_name = "PARTY")]
    pub perpetrator: Option<String>,
    /// Reported by this party.
    #[arg(long, value_name = "PARTY")]
    pub reported_by: Option<String>,
    /// Event type.
    #[arg(long = "type", value_parser = values::event_type(), ignore_case = true)]
    pub event_type: Option<String>,
    /// Target class.
    #[arg(long, value_parser = values::target_class(), ignore_case = true)]
    pub target: Option<String>,
    /// Current evidence status.
    #[arg(long, alias = "status", value_parser = values::evidence_status(), ignore_case = true)]
    pub evidence: Option<String>,
    /// Country, ISO 3166-1 alpha-2 (case does not matter: ua is UA).
    #[arg(long, value_name = "CODE")]
    pub country: Option<String>,
    /// First-level administrative region, exactly as recorded.
    #[arg(long)]
    pub admin1: Option<String>,
    /// SOUTH,WEST,NORTH,EAST in degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
}

impl ReportFilterFlags {
    /// The filter these flags ask for: the one place the command line
    /// builds a `ReportFilter` (the occurred range comes from
    /// [`ReportListFlags`]).
    pub fn into_filter(self) -> Result<ReportFilter, String> {
        let e = |flag: &str, prefix: &str, v: &Option<String>, f: fn(&str) -> Option<i32>| {
            v.as_deref()
                .map_or(Ok(0), |v| parse_enum(flag, prefix, v, f))
        };
        Ok(ReportFilter {
            event_type: e("type", "EVENT_TYPE_", &self.event_type, |n| {
                EventType::from_str_name(n).map(Into::into)
            })?,
            target_class: e("target", "TARGET_CLASS_", &self.target, |n| {
                TargetClass::from_str_name(n).map(Into::into)
            })?,
            evidence_status: e("evidence", "EVIDENCE_STATUS_", &self.evidence, |n| {
                EvidenceStatus::from_str_name(n).map(Into::into)
            })?,
            bbox: self.bbox.as_deref().map(parse_bbox).transpose()?,
            agreement_id: self.agreement.unwrap_or_default(),
            perpetrator: self.perpetrator.unwrap_or_default(),
            reported_by: self.reported_by.unwrap_or_default(),
            country: self
                .country
                .map(|c| c.trim().to_ascii_uppercase())
                .unwrap_or_default(),
            admin1: self.admin1.unwrap_or_default(),
            occurred_since: None,
            occurred_until: None,
        })
    }
}

/// `truce report list` (and `truce export`).
#[derive(Debug, Args)]
pub struct ReportListFlags {
    #[command(flatten)]
    pub filter: ReportFilterFlags,
    /// Occurred (start) at or after this time (inclusive; RFC 3339 or
    /// YYYY-MM-DD).
    #[arg(long, alias = "since", value_name = "TIME")]
    pub from: Option<String>,
    /// Occurred (start) before this time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print at most this many (0: all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub limit: usize,
}

/// Parses SOUTH,WEST,NORTH,EAST.
pub fn parse_bbox(value: &str) -> Result<BoundingBox, String> {
    let parts: Vec<f64> = value
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--bbox: {value:?} is not SOUTH,WEST,NORTH,EAST"))?;
    match parts.as_slice() {
        [south, west, north, east] => Ok(BoundingBox {
            south: *south,
            west: *west,
            north: *north,
            east: *east,
        }),
        _ => Err(format!("--bbox: {value:?} is not SOUTH,WEST,NORTH,EAST")),
    }
}

impl ReportListFlags {
    pub fn into_request(self) -> Result<(QueryReportsRequest, usize), String> {
        let filter = ReportFilter {
            occurred_since: self
                .from
                .as_deref()
                .map(|t| parse_time("from", t))
                .transpose()?,
            occurred_until: self
                .until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
            ..self.filter.into_filter()?
        };
        let req = QueryReportsRequest {
            filter: Some(filter),
            page_size: 0,
            page_token: String::new(),
            as_of_sequence: 0,
        };
        Ok((req, self.limit))
    }
}

/// `truce agreement list`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce agreement list --party RU --in-force-at 2025-03-20
  truce agreement list --status lapsed")]
pub struct AgreementListFlags {
    /// A party, in any role.
    #[arg(long, value_name = "CODE")]
    pub party: Option<String>,
    /// Current status.
    #[arg(long, value_parser = values::agreement_status(), ignore_case = true)]
    pub status: Option<String>,
    /// In force at this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub in_force_at: Option<String>,
    /// Print at most this many (0: all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub limit: usize,
}

impl AgreementListFlags {
    pub fn into_request(self) -> Result<(ListAgreementsRequest, usize), String> {
        let req = ListAgreementsRequest {
            party: self.party.unwrap_or_default(),
            status: self.status.as_deref().map_or(Ok(0), |s| {
                parse_enum(
                    "status",
                    "AGREEMENT_STATUS_",
                    s,
                    AgreementStatus::from_str_name,
                )
            })?,
            in_force_at: self
                .in_force_at
                .as_deref()
                .map(|t| parse_time("in-force-at", t))
                .transpose()?,
            page_size: 0,
            page_token: String::new(),
        };
        Ok((req, self.limit))
    }
}
