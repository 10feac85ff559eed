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

use super::values;
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

/// The help of every single write's `--request-id`.
pub const REQUEST_ID_HELP: &str = "Request id, the idempotency key [default: derived from the \
request's content, so running the same command again returns the original receipt marked \
duplicate instead of recording it twice; give one to record identical content again]";

/// `truce agreement add`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce agreement add --title \"Holiday truce\" --party AA:signatory --party BB:signatory \\
      --declared-at 2025-12-20 --effective-from 2025-12-24T18:00:00Z --expires-at 2025-12-26 \\
      --purpose holiday --prohibit all-hostilities
  truce agreement add --title \"Energy moratorium\" --party RU:signatory --party UA:signatory \\
      --declared-at 2025-03-18 --effective-from RU=2025-03-18T17:00:00Z \\
      --effective-from UA=2025-03-25 --protect power-transmission --country UA --country RU")]
pub struct AgreementFlags {
    /// Record id [default: assigned by the server, agreement-<sequence>].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub id: String,
    #[arg(long, default_value = "", hide_default_value = true, help = REQUEST_ID_HELP)]
    pub request_id: String,
    /// The agreement's title.
    #[arg(long)]
    pub title: String,
    #[arg(long = "party", required = true, value_name = "CODE:ROLE[:NAME]", help = values::party_help())]
    pub parties: Vec<String>,
    /// The agreement's form [default: from the number of parties that are
    /// not mediators].
    #[arg(long, value_parser = values::agreement_form(), ignore_case = true)]
    pub form: Option<String>,
    /// How it was made.
    #[arg(long, default_value = "unknown", value_parser = values::agreement_medium(), ignore_case = true)]
    pub medium: String,
    /// What it is for.
    #[arg(long, default_value = "other", value_parser = values::agreement_purpose(), ignore_case = true)]
    pub purpose: String,
    /// When it was declared (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    pub declared_at: String,
    /// When it takes effect, as TIME or PARTY=TIME for one party's reading
    /// (repeatable).
    #[arg(long = "effective-from", required = true, value_name = "[PARTY=]TIME")]
    pub effective_from: Vec<String>,
    /// When it expires (RFC 3339 or YYYY-MM-DD) [default: open-ended].
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// A protected target class (repeatable).
    #[arg(long = "protect", value_name = "TARGET", value_parser = values::target_class(), ignore_case = true)]
    pub protected_targets: Vec<String>,
    /// A prohibited act (repeatable).
    #[arg(long = "prohibit", value_name = "ACT", value_parser = values::prohibited_act(), ignore_case = true)]
    pub prohibited_acts: Vec<String>,
    /// A country (ISO 3166-1 alpha-2) the agreement covers (repeatable).
    #[arg(long = "country", value_name = "CODE")]
    pub countries: Vec<String>,
    /// Each party's obligations hold only while the others keep theirs.
    #[arg(long)]
    pub reciprocal: bool,
    /// A source URL (repeatable).
    #[arg(long = "source", value_name = "URL")]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = DEFAULT_SOURCE_KIND, value_parser = values::source_kind(), ignore_case = true)]
    pub source_kind: String,
    /// Id of the agreement this one renews or supersedes.
    #[arg(long, default_value = "", hide_default_value = true, value_name = "ID")]
    pub supersedes: String,
    /// Free-text notes.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub notes: String,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

/// The default `--source-kind` of every command that takes `--source`.
pub const DEFAULT_SOURCE_KIND: &str = "media";

impl AgreementFlags {
    pub fn into_request(self) -> Result<RecordAgreementRequest, String> {
        let parties = parse_parties(&self.parties)?;
        let form = match &self.form {
            Some(f) => parse_enum("form", "AGREEMENT_FORM_", f, AgreementForm::from_str_name)?,
            None => form_of(&parties).into(),
        };
        let effective_from = parse_effective_from(&self.effective_from)?;
        let scope = self.scope()?;
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

impl AgreementFlags {
    /// `--country`, `--protect` and `--prohibit`.
    fn scope(&self) -> Result<AgreementScope, String> {
        Ok(AgreementScope {
            areas: self
                .countries
                .iter()
                .map(|c| GeoArea {
                    country: c.trim().to_ascii_uppercase(),
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
        })
    }
}

/// `--party CODE:ROLE[:NAME]`, each.
fn parse_parties(values: &[String]) -> Result<Vec<AgreementParty>, String> {
    let mut parties = Vec::new();
    for p in values {
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
    Ok(parties)
}

/// The form when `--form` is not given: from the parties bound by it
/// (mediators are not).
fn form_of(parties: &[AgreementParty]) -> AgreementForm {
    let bound = parties
        .iter()
        .filter(|p| p.role() != PartyRole::Mediator)
        .count();
    match bound {
        0 | 1 => AgreementForm::Unilateral,
        2 => AgreementForm::Bilateral,
        _ => AgreementForm::Multilateral,
    }
}

/// `--effective-from [PARTY=]TIME`, each (no party: agreed by all).
fn parse_effective_from(values: &[String]) -> Result<Vec<EffectiveFrom>, String> {
    let mut effective_from = Vec::new();
    for e in values {
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
    Ok(effective_from)
}

/// `truce report submit`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce report submit --agreement ru-ua-energy-moratorium-2025 --occurred 2025-03-23 \\
      --type drone-strike --weapon drone --target power-transmission --country UA \\
      --admin1 \"Kharkiv Oblast\" --perpetrator RU --reported-by UA \\
      --source https://example.org/statements/x
  truce report submit --occurred 2025-03-24T03:10:00Z --precision hour --type shelling \\
      --target residential --country UA --lat 48.0 --lon 37.8 --perpetrator RU \\
      --reported-by UA --fatalities-best 2 --source https://example.org/x --source-kind ngo")]
pub struct ReportFlags {
    /// Record id [default: assigned by the server, report-<sequence>].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub id: String,
    #[arg(long, default_value = "", hide_default_value = true, help = REQUEST_ID_HELP)]
    pub request_id: String,
    /// An agreement the report is alleged to breach (repeatable).
    #[arg(long = "agreement", value_name = "ID")]
    pub agreements: Vec<String>,
    /// When it occurred (start), RFC 3339 or YYYY-MM-DD (UTC).
    #[arg(long, value_name = "TIME")]
    pub occurred: String,
    /// End of the occurrence interval [default: the start].
    #[arg(long, value_name = "TIME")]
    pub occurred_end: Option<String>,
    /// How precisely the time is known.
    #[arg(long, default_value = "day", value_parser = values::time_precision(), ignore_case = true)]
    pub precision: String,
    /// Event type.
    #[arg(long = "type", value_parser = values::event_type(), ignore_case = true)]
    pub event_type: String,
    /// Weapon.
    #[arg(long, default_value = "not-assessed", value_parser = values::weapon(), ignore_case = true)]
    pub weapon: String,
    /// Target class.
    #[arg(long = "target", value_parser = values::target_class(), ignore_case = true)]
    pub target_class: String,
    /// The target's name, e.g. a substation.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub target_name: String,
    /// ISO 3166-1 alpha-2 country code, e.g. UA (upper-cased).
    #[arg(long, value_name = "CODE")]
    pub country: String,
    /// First-level administrative region, e.g. "Donetsk Oblast".
    #[arg(long, default_value = "", hide_default_value = true)]
    pub admin1: String,
    /// Place name (town, village, facility).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub place: String,
    /// Latitude, decimal degrees (with --lon).
    #[arg(long, allow_hyphen_values = true)]
    pub lat: Option<f64>,
    /// Longitude, decimal degrees (with --lat).
    #[arg(long, allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// How precise the location is [default: exact with coordinates, else region].
    #[arg(long, value_parser = values::geo_precision(), ignore_case = true)]
    pub geo_precision: Option<String>,
    /// Alleged perpetrator party code (repeatable).
    #[arg(long = "perpetrator", value_name = "PARTY")]
    pub perpetrators: Vec<String>,
    /// Affected party code (repeatable).
    #[arg(long = "affected", value_name = "PARTY")]
    pub affected: Vec<String>,
    /// The party making the allegation.
    #[arg(long, value_name = "PARTY")]
    pub reported_by: String,
    /// How firmly the perpetrator is attributed.
    #[arg(long, default_value = "alleged", value_parser = values::attribution(), ignore_case = true)]
    pub attribution: String,
    /// Evidence status at submission.
    #[arg(long, default_value = "unverified", value_parser = values::evidence_status(), ignore_case = true)]
    pub evidence: String,
    /// Whether the strike was intercepted.
    #[arg(long, default_value = "unknown", value_parser = values::interception(), ignore_case = true)]
    pub interception: String,
    /// Fatalities, lowest estimate.
    #[arg(long, value_name = "N")]
    pub fatalities_low: Option<u32>,
    /// Fatalities, best estimate.
    #[arg(long, value_name = "N")]
    pub fatalities_best: Option<u32>,
    /// Fatalities, highest estimate.
    #[arg(long, value_name = "N")]
    pub fatalities_high: Option<u32>,
    /// Injured.
    #[arg(long, value_name = "N")]
    pub injured: Option<u32>,
    /// A source URL (repeatable; at least one).
    #[arg(long = "source", required = true, value_name = "URL")]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = DEFAULT_SOURCE_KIND, value_parser = values::source_kind(), ignore_case = true)]
    pub source_kind: String,
    /// Free-text notes.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub notes: String,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
}

impl ReportFlags {
    pub fn into_request(self) -> Result<SubmitReportRequest, String> {
        let occurred = self.occurred()?;
        let location = self.location()?;
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
                occurred: Some(occurred),
                location: Some(location),
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

impl ReportFlags {
    /// `--occurred`, `--occurred-end` and `--precision`.
    fn occurred(&self) -> Result<TimeInterval, String> {
        Ok(TimeInterval {
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
        })
    }

    /// Where: country, region, place, coordinates; the geo precision is
    /// exact with coordinates, else the region's, unless given.
    fn location(&self) -> Result<Location, String> {
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
        Ok(Location {
            country: self.country.trim().to_ascii_uppercase(),
            admin1: self.admin1.clone(),
            place_name: self.place.clone(),
            latitude: self.lat,
            longitude: self.lon,
            geo_precision,
            ..Location::default()
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
