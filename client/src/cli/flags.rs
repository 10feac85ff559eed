//! Flags of `truce agreement add` and `truce report submit`, turned into
//! requests. Only the shape is checked here; the daemon validates.

use clap::Args;
use truce_proto::v1::{
    Agreement, AgreementForm, AgreementMedium, AgreementParty, AgreementPurpose, AgreementScope,
    AttributionStatus, EffectiveFrom, EventType, EvidenceStatus, GeoArea, GeoPrecision, Harm,
    InformationCredibility, Interception, Location, PartyRole, ProhibitedAct,
    RecordAgreementRequest, Report, Source, SourceKind, SourceReliability, SubmitReportRequest,
    TargetClass, TimeInterval, TimePrecision, Weapon,
};

use crate::time;

/// Parses `drone-strike` (or `DRONE_STRIKE`, or the full proto name) as an
/// enum value named `PREFIX_DRONE_STRIKE`.
pub fn parse_enum<E: Into<i32>>(
    flag: &str,
    prefix: &str,
    value: &str,
    from_name: fn(&str) -> Option<E>,
) -> Result<i32, String> {
    let upper = value.trim().to_ascii_uppercase().replace('-', "_");
    let name = if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    };
    match from_name(&name) {
        Some(v) if name != format!("{prefix}UNSPECIFIED") => Ok(v.into()),
        _ => Err(format!("--{flag}: {value:?} is not a known value")),
    }
}

pub fn parse_time(flag: &str, value: &str) -> Result<pbjson_types::Timestamp, String> {
    time::parse(value).map_err(|e| format!("--{flag}: {e}"))
}

pub fn sources(urls: &[String], kind: &str) -> Result<Vec<Source>, String> {
    let kind = parse_enum(
        "source-kind",
        "SOURCE_KIND_",
        kind,
        SourceKind::from_str_name,
    )?;
    Ok(urls
        .iter()
        .map(|url| Source {
            kind,
            url: url.clone(),
            reliability: SourceReliability::NotAssessed.into(),
            credibility: InformationCredibility::NotAssessed.into(),
            ..Source::default()
        })
        .collect())
}

/// `truce agreement add`.
#[derive(Debug, Args)]
pub struct AgreementFlags {
    /// Record id (default: assigned by the server).
    #[arg(long, default_value = "")]
    pub id: String,
    /// Request id (default: a new UUID).
    #[arg(long, default_value = "")]
    pub request_id: String,
    #[arg(long)]
    pub title: String,
    /// A party as CODE:ROLE[:NAME], e.g. RU:signatory or US:mediator:United States (repeatable).
    #[arg(long = "party", required = true)]
    pub parties: Vec<String>,
    /// unilateral, bilateral or multilateral (default: from the number of parties that are not mediators).
    #[arg(long)]
    pub form: Option<String>,
    /// written, verbal or unknown.
    #[arg(long, default_value = "unknown")]
    pub medium: String,
    /// humanitarian, peace-process, holiday, election or other.
    #[arg(long, default_value = "other")]
    pub purpose: String,
    /// When it was declared (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub declared_at: String,
    /// When it takes effect, as TIME or PARTY=TIME for one party's reading (repeatable).
    #[arg(long = "effective-from", required = true)]
    pub effective_from: Vec<String>,
    #[arg(long)]
    pub expires_at: Option<String>,
    /// A protected target class, e.g. power-transmission (repeatable).
    #[arg(long = "protect")]
    pub protected_targets: Vec<String>,
    /// A prohibited act, e.g. any-strike (repeatable).
    #[arg(long = "prohibit")]
    pub prohibited_acts: Vec<String>,
    /// A country (ISO 3166-1 alpha-2) the agreement covers (repeatable).
    #[arg(long = "country")]
    pub countries: Vec<String>,
    #[arg(long)]
    pub reciprocal: bool,
    /// A source URL (repeatable).
    #[arg(long = "source")]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = "media")]
    pub source_kind: String,
    /// Id of the agreement this one renews or supersedes.
    #[arg(long, default_value = "")]
    pub supersedes: String,
    #[arg(long, default_value = "")]
    pub notes: String,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

impl AgreementFlags {
    pub fn into_request(self) -> Result<RecordAgreementRequest, String> {
        let mut parties = Vec::new();
        for p in &self.parties {
            let mut parts = p.splitn(3, ':');
            let (Some(code), Some(role)) = (parts.next(), parts.next()) else {
                return Err(format!("--party: {p:?} is not CODE:ROLE[:NAME]"));
            };
            parties.push(AgreementParty {
                party: code.to_owned(),
                role: parse_enum("party", "PARTY_ROLE_", role, PartyRole::from_str_name)?,
                name: parts.next().unwrap_or_default().to_owned(),
            });
        }
        let form = match &self.form {
            Some(f) => parse_enum("form", "AGREEMENT_FORM_", f, AgreementForm::from_str_name)?,
            None => {
                let bound = parties
                    .iter()
                    .filter(|p| p.role() != PartyRole::Mediator)
                    .count();
                match bound {
                    0 | 1 => AgreementForm::Unilateral,
                    2 => AgreementForm::Bilateral,
                    _ => AgreementForm::Multilateral,
                }
                .into()
            }
        };
        let mut effective_from = Vec::new();
        for e in &self.effective_from {
            let (party, at) = match e.split_once('=') {
                Some((party, at)) => (party.to_owned(), at),
                None => (String::new(), e.as_str()),
            };
            effective_from.push(EffectiveFrom {
                party,
                at: Some(parse_time("effective-from", at)?),
                note: String::new(),
            });
        }
        let scope = AgreementScope {
            areas: self
                .countries
                .iter()
                .map(|c| GeoArea {
                    country: c.clone(),
                    ..GeoArea::default()
                })
                .collect(),
            protected_targets: self
                .protected_targets
                .iter()
                .map(|t| parse_enum("protect", "TARGET_CLASS_", t, TargetClass::from_str_name))
                .collect::<Result<_, _>>()?,
            prohibited_acts: self
                .prohibited_acts
                .iter()
                .map(|t| {
                    parse_enum(
                        "prohibit",
                        "PROHIBITED_ACT_",
                        t,
                        ProhibitedAct::from_str_name,
                    )
                })
                .collect::<Result<_, _>>()?,
            ..AgreementScope::default()
        };
        Ok(RecordAgreementRequest {
            request_id: self.request_id,
            with_proof: false,
            agreement: Some(Agreement {
                id: self.id,
                title: self.title,
                parties,
                form,
                medium: parse_enum(
                    "medium",
                    "AGREEMENT_MEDIUM_",
                    &self.medium,
                    AgreementMedium::from_str_name,
                )?,
                purpose: parse_enum(
                    "purpose",
                    "AGREEMENT_PURPOSE_",
                    &self.purpose,
                    AgreementPurpose::from_str_name,
                )?,
                declared_at: Some(parse_time("declared-at", &self.declared_at)?),
                effective_from,
                expires_at: self
                    .expires_at
                    .as_deref()
                    .map(|t| parse_time("expires-at", t))
                    .transpose()?,
                scope: Some(scope),
                reciprocal: self.reciprocal,
                sources: sources(&self.sources, &self.source_kind)?,
                supersedes: self.supersedes,
                notes: self.notes,
                tags: self.tags,
                ..Agreement::default()
            }),
        })
    }
}

/// `truce report submit`.
#[derive(Debug, Args)]
pub struct ReportFlags {
    /// Record id (default: assigned by the server).
    #[arg(long, default_value = "")]
    pub id: String,
    /// Request id (default: a new UUID).
    #[arg(long, default_value = "")]
    pub request_id: String,
    /// An agreement the report is alleged to breach (repeatable).
    #[arg(long = "agreement")]
    pub agreements: Vec<String>,
    /// When it occurred (start), RFC 3339 or YYYY-MM-DD.
    #[arg(long)]
    pub occurred: String,
    /// End of the occurrence interval (default: the start).
    #[arg(long)]
    pub occurred_end: Option<String>,
    /// exact, hour, day, week, month or year.
    #[arg(long, default_value = "day")]
    pub precision: String,
    /// Event type, e.g. drone-strike, missile-attack, shelling.
    #[arg(long = "type")]
    pub event_type: String,
    /// Weapon, e.g. drone, cruise-missile (default not-assessed).
    #[arg(long, default_value = "not-assessed")]
    pub weapon: String,
    /// Target class, e.g. gas-distribution.
    #[arg(long = "target")]
    pub target_class: String,
    #[arg(long, default_value = "")]
    pub target_name: String,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    pub country: String,
    #[arg(long, default_value = "")]
    pub admin1: String,
    #[arg(long, default_value = "")]
    pub place: String,
    #[arg(long, allow_hyphen_values = true)]
    pub lat: Option<f64>,
    #[arg(long, allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// exact, near, region or unknown (default: exact with coordinates, else region).
    #[arg(long)]
    pub geo_precision: Option<String>,
    /// Alleged perpetrator party code (repeatable).
    #[arg(long = "perpetrator")]
    pub perpetrators: Vec<String>,
    /// Affected party code (repeatable).
    #[arg(long = "affected")]
    pub affected: Vec<String>,
    /// The party making the allegation.
    #[arg(long)]
    pub reported_by: String,
    /// attributed, alleged, side-only or undetermined.
    #[arg(long, default_value = "alleged")]
    pub attribution: String,
    /// unverified, corroborated, verified, disputed...
    #[arg(long, default_value = "unverified")]
    pub evidence: String,
    /// unknown, not-intercepted, partially-intercepted, fully-intercepted.
    #[arg(long, default_value = "unknown")]
    pub interception: String,
    #[arg(long)]
    pub fatalities_low: Option<u32>,
    #[arg(long)]
    pub fatalities_best: Option<u32>,
    #[arg(long)]
    pub fatalities_high: Option<u32>,
    #[arg(long)]
    pub injured: Option<u32>,
    /// A source URL (repeatable; at least one).
    #[arg(long = "source", required = true)]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = "media")]
    pub source_kind: String,
    #[arg(long, default_value = "")]
    pub notes: String,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

impl ReportFlags {
    pub fn into_request(self) -> Result<SubmitReportRequest, String> {
        let has_coords = self.lat.is_some() && self.lon.is_some();
        let geo_precision = match &self.geo_precision {
            Some(p) => parse_enum(
                "geo-precision",
                "GEO_PRECISION_",
                p,
                GeoPrecision::from_str_name,
            )?,
            None if has_coords => GeoPrecision::Exact.into(),
            None => GeoPrecision::Region.into(),
        };
        let harm = Harm {
            fatalities_low: self.fatalities_low,
            fatalities_best: self.fatalities_best,
            fatalities_high: self.fatalities_high,
            injured: self.injured,
        };
        Ok(SubmitReportRequest {
            request_id: self.request_id,
            with_proof: false,
            report: Some(Report {
                id: self.id,
                agreement_ids: self.agreements,
                occurred: Some(TimeInterval {
                    start: Some(parse_time("occurred", &self.occurred)?),
                    end: self
                        .occurred_end
                        .as_deref()
                        .map(|t| parse_time("occurred-end", t))
                        .transpose()?,
                    precision: parse_enum(
                        "precision",
                        "TIME_PRECISION_",
                        &self.precision,
                        TimePrecision::from_str_name,
                    )?,
                }),
                location: Some(Location {
                    country: self.country,
                    admin1: self.admin1,
                    place_name: self.place,
                    latitude: self.lat,
                    longitude: self.lon,
                    geo_precision,
                    ..Location::default()
                }),
                event_type: parse_enum(
                    "type",
                    "EVENT_TYPE_",
                    &self.event_type,
                    EventType::from_str_name,
                )?,
                weapon: parse_enum("weapon", "WEAPON_", &self.weapon, Weapon::from_str_name)?,
                target_class: parse_enum(
                    "target",
                    "TARGET_CLASS_",
                    &self.target_class,
                    TargetClass::from_str_name,
                )?,
                target_name: self.target_name,
                interception: parse_enum(
                    "interception",
                    "INTERCEPTION_",
                    &self.interception,
                    Interception::from_str_name,
                )?,
                alleged_perpetrators: self.perpetrators,
                affected_parties: self.affected,
                reported_by: self.reported_by,
                attribution: parse_enum(
                    "attribution",
                    "ATTRIBUTION_STATUS_",
                    &self.attribution,
                    AttributionStatus::from_str_name,
                )?,
                evidence_status: parse_enum(
                    "evidence",
                    "EVIDENCE_STATUS_",
                    &self.evidence,
                    EvidenceStatus::from_str_name,
                )?,
                harm: (harm != Harm::default()).then_some(harm),
                sources: sources(&self.sources, &self.source_kind)?,
                notes: self.notes,
                tags: self.tags,
                ..Report::default()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names() {
        assert_eq!(
            parse_enum(
                "type",
                "EVENT_TYPE_",
                "drone-strike",
                EventType::from_str_name
            ),
            Ok(EventType::DroneStrike as i32)
        );
        assert_eq!(
            parse_enum(
                "type",
                "EVENT_TYPE_",
                "EVENT_TYPE_SHELLING",
                EventType::from_str_name
            ),
            Ok(EventType::Shelling as i32)
        );
        assert!(
            parse_enum(
                "type",
                "EVENT_TYPE_",
                "unspecified",
                EventType::from_str_name
            )
            .is_err()
        );
        assert!(parse_enum("type", "EVENT_TYPE_", "picnic", EventType::from_str_name).is_err());
    }
}
