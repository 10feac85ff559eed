//! Flags of the commands that change existing records: `truce claim add`,
//! `truce status set`, `truce source attach`, `truce report correct`.

use clap::{ArgGroup, Args};
use serde_json::{Map, Value};
use truce_proto::v1::{
    AddClaimRequest, AgreementStatus, AgreementStatusChange, AttachSourceRequest, Capture, Claim,
    ClaimKind, ComplianceFinding, ComplianceFindingChange, CorrectReportRequest, Correction,
    EvidenceStatus, EvidenceStatusChange, InformationCredibility, Report, SetStatusRequest, Source,
    SourceAttachment, SourceKind, SourceReliability, StatusChange, source_attachment,
    status_change,
};

use super::{
    flags::{DEFAULT_SOURCE_KIND, REQUEST_ID_HELP, parse_enum, parse_time, sources},
    values,
};

/// `truce claim add`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce claim add --party UA --kind counter-accusation --report seed-report-1 \\
      --stated-at 2025-03-23 --statement \"RU staged it\" --against RU
  truce claim add --party RU --kind denial --agreement ru-ua-energy-moratorium-2025 \\
      --stated-at 2025-03-22T10:00:00Z --statement \"No strikes\" \\
      --source https://example.org/mod --source-kind party-statement")]
pub struct ClaimFlags {
    /// Record id [default: assigned by the server, claim-<sequence>].
    #[arg(long, default_value = "", hide_default_value = true)]
    pub id: String,
    #[arg(long, default_value = "", hide_default_value = true, help = REQUEST_ID_HELP)]
    pub request_id: String,
    /// The party making the statement.
    #[arg(long, value_name = "CODE")]
    pub party: String,
    /// What the statement does.
    #[arg(long, value_parser = values::claim_kind(), ignore_case = true)]
    pub kind: String,
    /// A report the claim is about (repeatable).
    #[arg(long = "report", value_name = "ID")]
    pub reports: Vec<String>,
    /// The agreement the claim is about.
    #[arg(long, default_value = "", hide_default_value = true, value_name = "ID")]
    pub agreement: String,
    /// When the statement was made (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub stated_at: String,
    /// A summary or quotation of the statement.
    #[arg(long)]
    pub statement: String,
    /// A party the claim is directed against (repeatable).
    #[arg(long = "against", value_name = "CODE")]
    pub against: Vec<String>,
    /// A source URL (repeatable).
    #[arg(long = "source", value_name = "URL")]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = DEFAULT_SOURCE_KIND, value_parser = values::source_kind(), ignore_case = true)]
    pub source_kind: String,
}

impl ClaimFlags {
    pub fn into_request(self) -> Result<AddClaimRequest, String> {
        Ok(AddClaimRequest {
            request_id: self.request_id,
            with_proof: false,
            claim: Some(Claim {
                id: self.id,
                party: self.party,
                kind: parse_enum("kind", "CLAIM_KIND_", &self.kind, ClaimKind::from_str_name)?,
                report_ids: self.reports,
                agreement_id: self.agreement,
                stated_at: Some(parse_time("stated-at", &self.stated_at)?),
                statement: self.statement,
                sources: sources(&self.sources, &self.source_kind)?,
                against_parties: self.against,
            }),
        })
    }
}

/// `truce status set`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["report", "agreement"])))]
#[command(group(ArgGroup::new("change").required(true).args(["evidence", "status", "finding"])))]
#[command(after_help = "Examples:
  truce status set --report seed-report-1 --evidence corroborated \\
      --reason \"second independent source\" --source https://example.org/ngo/1 --source-kind ngo
  truce status set --agreement ru-ua-energy-moratorium-2025 --status extended \\
      --new-expires-at 2025-05-17 --reason \"renewed for 30 days\"")]
pub struct StatusFlags {
    #[arg(long, default_value = "", hide_default_value = true, help = REQUEST_ID_HELP)]
    pub request_id: String,
    /// The report whose status changes.
    #[arg(long, value_name = "ID")]
    pub report: Option<String>,
    /// The agreement whose status changes.
    #[arg(long, value_name = "ID")]
    pub agreement: Option<String>,
    /// A report's new evidence status.
    #[arg(long, value_parser = values::evidence_status(), ignore_case = true)]
    pub evidence: Option<String>,
    /// With --evidence duplicate: the report this one duplicates.
    #[arg(long, default_value = "", hide_default_value = true, value_name = "ID")]
    pub duplicate_of: String,
    /// An agreement's new status.
    #[arg(long, value_parser = values::agreement_status(), ignore_case = true)]
    pub status: Option<String>,
    /// With --status extended: the new expiry.
    #[arg(long, value_name = "TIME")]
    pub new_expires_at: Option<String>,
    /// With --status superseded: the agreement that replaces it.
    #[arg(long, default_value = "", hide_default_value = true, value_name = "ID")]
    pub superseded_by: String,
    /// A compliance finding for a report (with --finding-agreement).
    #[arg(long, requires = "finding_agreement", value_parser = values::compliance_finding(), ignore_case = true)]
    pub finding: Option<String>,
    /// With --finding: the agreement it is about.
    #[arg(long, value_name = "ID")]
    pub finding_agreement: Option<String>,
    /// When the change took effect [default: when recorded; for --status
    /// extended, the expiry it extends].
    #[arg(long, value_name = "TIME")]
    pub effective_at: Option<String>,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
    /// A source URL (repeatable).
    #[arg(long = "source", value_name = "URL")]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = DEFAULT_SOURCE_KIND, value_parser = values::source_kind(), ignore_case = true)]
    pub source_kind: String,
}

impl StatusFlags {
    pub fn into_request(self) -> Result<SetStatusRequest, String> {
        let target = match (self.report, self.agreement) {
            (Some(r), None) => status_change::Target::ReportId(r),
            (None, Some(a)) => status_change::Target::AgreementId(a),
            _ => return Err("give one of --report and --agreement".into()),
        };
        let change = if let Some(e) = &self.evidence {
            status_change::Change::Evidence(EvidenceStatusChange {
                status: parse_enum(
                    "evidence",
                    "EVIDENCE_STATUS_",
                    e,
                    EvidenceStatus::from_str_name,
                )?,
                duplicate_of: self.duplicate_of,
            })
        } else if let Some(s) = &self.status {
            status_change::Change::Agreement(AgreementStatusChange {
                status: parse_enum(
                    "status",
                    "AGREEMENT_STATUS_",
                    s,
                    AgreementStatus::from_str_name,
                )?,
                new_expires_at: self
                    .new_expires_at
                    .as_deref()
                    .map(|t| parse_time("new-expires-at", t))
                    .transpose()?,
                superseded_by: self.superseded_by,
            })
        } else if let Some(f) = &self.finding {
            status_change::Change::Compliance(ComplianceFindingChange {
                agreement_id: self.finding_agreement.unwrap_or_default(),
                finding: parse_enum(
                    "finding",
                    "COMPLIANCE_FINDING_",
                    f,
                    ComplianceFinding::from_str_name,
                )?,
            })
        } else {
            return Err("give one of --evidence, --status and --finding".into());
        };
        Ok(SetStatusRequest {
            request_id: self.request_id,
            with_proof: false,
            status: Some(StatusChange {
                target: Some(target),
                change: Some(change),
                effective_at: self
                    .effective_at
                    .as_deref()
                    .map(|t| parse_time("effective-at", t))
                    .transpose()?,
                reason: self.reason,
                sources: sources(&self.sources, &self.source_kind)?,
            }),
        })
    }
}

/// `truce source attach`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["report", "agreement"])))]
#[command(after_help = "Examples:
  truce source attach --report seed-report-2 --url https://example.org/imagery/2 \\
      --source-kind satellite --reliability b --credibility 2
  truce source attach --agreement ru-ua-energy-moratorium-2025 \\
      --url https://example.org/text.pdf --source-kind party-statement --publisher Kremlin")]
pub struct SourceFlags {
    #[arg(long, default_value = "", hide_default_value = true, help = REQUEST_ID_HELP)]
    pub request_id: String,
    /// The report to attach it to.
    #[arg(long, value_name = "ID")]
    pub report: Option<String>,
    /// The agreement to attach it to.
    #[arg(long, value_name = "ID")]
    pub agreement: Option<String>,
    /// The kind of source.
    #[arg(long, alias = "kind", default_value = DEFAULT_SOURCE_KIND, value_parser = values::source_kind(), ignore_case = true)]
    pub source_kind: String,
    /// The source's URL (http or https).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub url: String,
    /// A non-URL identifier, instead of or beside --url.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub identifier: String,
    /// Who published it.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub publisher: String,
    /// Its title.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub title: String,
    /// When it was published (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub published_at: Option<String>,
    /// Its language (BCP 47, e.g. uk).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub language: String,
    /// The party it is affiliated with, if any.
    #[arg(
        long,
        default_value = "",
        hide_default_value = true,
        value_name = "CODE"
    )]
    pub party_affiliation: String,
    /// Admiralty source reliability (or its letter, a..f).
    #[arg(long, default_value = "not-assessed", value_parser = values::reliability(), ignore_case = true)]
    pub reliability: String,
    /// Admiralty information credibility (or its digit, 1..6).
    #[arg(long, default_value = "not-assessed", value_parser = values::credibility(), ignore_case = true)]
    pub credibility: String,
    /// SHA-256 (hex) of a captured copy (with --captured-at).
    #[arg(long, requires = "captured_at")]
    pub capture_sha256: Option<String>,
    /// When the copy was captured.
    #[arg(long, value_name = "TIME")]
    pub captured_at: Option<String>,
    /// A note on the attachment.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub note: String,
}

/// Admiralty source reliability: a letter A-F, or a name.
fn reliability(value: &str) -> Result<i32, String> {
    let v = value.trim().to_ascii_uppercase();
    if let [letter @ b'A'..=b'F'] = v.as_bytes() {
        // A is 2 (after UNSPECIFIED and NOT_ASSESSED).
        return Ok(i32::from(letter - b'A') + 2);
    }
    parse_enum(
        "reliability",
        "SOURCE_RELIABILITY_",
        value,
        SourceReliability::from_str_name,
    )
}

/// Admiralty information credibility: a digit 1-6, or a name.
fn credibility(value: &str) -> Result<i32, String> {
    if let [digit @ b'1'..=b'6'] = value.trim().as_bytes() {
        return Ok(i32::from(digit - b'1') + 2);
    }
    parse_enum(
        "credibility",
        "INFORMATION_CREDIBILITY_",
        value,
        InformationCredibility::from_str_name,
    )
}

impl SourceFlags {
    pub fn into_request(self) -> Result<AttachSourceRequest, String> {
        let target = match (self.report, self.agreement) {
            (Some(r), None) => source_attachment::Target::ReportId(r),
            (None, Some(a)) => source_attachment::Target::AgreementId(a),
            _ => return Err("give one of --report and --agreement".into()),
        };
        let capture = match (self.capture_sha256, self.captured_at) {
            (Some(sha256), Some(at)) => Some(Capture {
                sha256,
                captured_at: Some(parse_time("captured-at", &at)?),
                archive_url: String::new(),
            }),
            _ => None,
        };
        Ok(AttachSourceRequest {
            request_id: self.request_id,
            with_proof: false,
            attachment: Some(SourceAttachment {
                target: Some(target),
                source: Some(Source {
                    kind: parse_enum(
                        "source-kind",
                        "SOURCE_KIND_",
                        &self.source_kind,
                        SourceKind::from_str_name,
                    )?,
                    publisher: self.publisher,
                    url: self.url,
                    identifier: self.identifier,
                    title: self.title,
                    published_at: self
                        .published_at
                        .as_deref()
                        .map(|t| parse_time("published-at", t))
                        .transpose()?,
                    language: self.language,
                    party_affiliation: self.party_affiliation,
                    reliability: reliability(&self.reliability)?,
                    credibility: credibility(&self.credibility)?,
                    capture,
                    ..Source::default()
                }),
                note: self.note,
            }),
        })
    }
}

/// `truce report correct`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  truce report correct seed-report-3 --set harm.fatalities_best=1 --set harm.injured=4 \\
      --reason \"hospital figures\"
  truce report correct seed-report-2 --set event_type=shelling --clear location.admin1 \\
      --reason \"re-read the source\"")]
pub struct CorrectFlags {
    /// The report to correct.
    pub id: String,
    #[arg(long, default_value = "", hide_default_value = true, help = REQUEST_ID_HELP)]
    pub request_id: String,
    /// PATH=VALUE, e.g. harm.fatalities_best=3 or event_type=shelling (repeatable). VALUE is
    /// JSON where it parses as JSON, else text.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// A field to clear (repeatable).
    #[arg(long = "clear", value_name = "PATH")]
    pub clear: Vec<String>,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
    /// A source URL (repeatable).
    #[arg(long = "source", value_name = "URL")]
    pub sources: Vec<String>,
    /// The kind of the --source URLs.
    #[arg(long, default_value = DEFAULT_SOURCE_KIND, value_parser = values::source_kind(), ignore_case = true)]
    pub source_kind: String,
}

/// Enum-valued report paths and their value prefixes, so `shelling` may
/// stand for `EVENT_TYPE_SHELLING`.
const ENUM_PATHS: &[(&str, &str)] = &[
    ("event_type", "EVENT_TYPE_"),
    ("weapon", "WEAPON_"),
    ("target_class", "TARGET_CLASS_"),
    ("interception", "INTERCEPTION_"),
    ("attribution", "ATTRIBUTION_STATUS_"),
    ("occurred.precision", "TIME_PRECISION_"),
    ("location.geo_precision", "GEO_PRECISION_"),
];

fn value_of(path: &str, raw: &str) -> Value {
    if let Some((_, prefix)) = ENUM_PATHS.iter().find(|(p, _)| *p == path) {
        let upper = raw.trim().to_ascii_uppercase().replace('-', "_");
        return Value::String(if upper.starts_with(prefix) {
            upper
        } else {
            format!("{prefix}{upper}")
        });
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

fn insert(map: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
            Ok(())
        }
        Some((head, rest)) => {
            let child = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match child {
                Value::Object(m) => insert(m, rest, value),
                _ => Err(format!("--set: {head} is set both whole and by field")),
            }
        }
    }
}

impl CorrectFlags {
    pub fn into_request(self) -> Result<CorrectReportRequest, String> {
        let mut paths = Vec::new();
        let mut values = Map::new();
        for s in &self.set {
            let (path, raw) = s
                .split_once('=')
                .ok_or_else(|| format!("--set: {s:?} is not PATH=VALUE"))?;
            insert(&mut values, path, value_of(path, raw))?;
            paths.push(path.to_owned());
        }
        paths.extend(self.clear.iter().cloned());
        if paths.is_empty() {
            return Err("give at least one --set or --clear".into());
        }
        let values: Report = serde_json::from_value(Value::Object(values))
            .map_err(|e| format!("--set: the values do not fit a report: {e}"))?;
        Ok(CorrectReportRequest {
            request_id: self.request_id,
            with_proof: false,
            correction: Some(Correction {
                report_id: self.id,
                fields: Some(pbjson_types::FieldMask { paths }),
                values: Some(values),
                reason: self.reason,
                sources: sources(&self.sources, &self.source_kind)?,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correction_values_from_paths() {
        let flags = CorrectFlags {
            id: "r".into(),
            request_id: String::new(),
            set: vec![
                "harm.fatalities_best=3".into(),
                "event_type=shelling".into(),
                "notes=revised after a site visit".into(),
            ],
            clear: vec!["harm.injured".into()],
            reason: "x".into(),
            sources: vec![],
            source_kind: "monitor".into(),
        };
        let req = flags.into_request().unwrap();
        let c = req.correction.unwrap();
        let v = c.values.unwrap();
        assert_eq!(v.harm.unwrap().fatalities_best, Some(3));
        assert_eq!(v.event_type, truce_proto::v1::EventType::Shelling as i32);
        assert_eq!(v.notes, "revised after a site visit");
        assert_eq!(c.fields.unwrap().paths.len(), 4);
    }

    #[test]
    fn admiralty_grades() {
        assert_eq!(
            reliability("b"),
            Ok(SourceReliability::BUsuallyReliable as i32)
        );
        assert_eq!(
            credibility("2"),
            Ok(InformationCredibility::ProbablyTrue as i32)
        );
        assert!(reliability("g").is_err());
    }
}
