//! Projections: the current view of an agreement or a report, computed by
//! applying, in log order, every entry that touches it. Pure functions over
//! the protocol types: the commit pipeline uses them to maintain the stored
//! views in the same atomic write as each entry, `truced reindex` to
//! rebuild them, and reads to replay a view up to the durable sequence.

use prost::Message;
use truce_proto::v1::{
    AgreementStatus, AgreementStatusRecord, AgreementView, Correction, Entry, EntryKind, EntryRef,
    EvidenceStatus, HistoryItem, Report, ReportView, entry::Payload, source_attachment,
    status_change,
};

use crate::model::RecordKind;

/// Report fields a correction may name (FieldMask paths).
pub const CORRECTABLE: &[&str] = &[
    "agreement_ids",
    "occurred",
    "occurred.start",
    "occurred.end",
    "occurred.precision",
    "first_reported_at",
    "location",
    "location.country",
    "location.admin1",
    "location.admin2",
    "location.admin3",
    "location.place_name",
    "location.latitude",
    "location.longitude",
    "location.geo_precision",
    "location.radius_m",
    "event_type",
    "sub_event_detail",
    "weapon",
    "target_class",
    "target_name",
    "damage",
    "interception",
    "alleged_perpetrators",
    "affected_parties",
    "reported_by",
    "attribution",
    "harm",
    "harm.fatalities_low",
    "harm.fatalities_best",
    "harm.fatalities_high",
    "harm.injured",
    "notes",
    "tags",
    "external_ids",
];

/// Whether a correction may name `path`.
pub fn is_correctable(path: &str) -> bool {
    CORRECTABLE.contains(&path)
}

/// A stored view.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    Agreement(AgreementView),
    Report(ReportView),
}

/// Why an entry cannot be applied (a store that is not a log of valid
/// entries).
#[derive(Debug, thiserror::Error)]
#[error("entry {sequence}: {reason}")]
pub struct ProjectError {
    pub sequence: u64,
    pub reason: String,
}

impl View {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Agreement(v) => v.encode_to_vec(),
            Self::Report(v) => v.encode_to_vec(),
        }
    }

    pub fn decode(kind: RecordKind, bytes: &[u8]) -> Result<Self, String> {
        match kind {
            RecordKind::Agreement => AgreementView::decode(bytes)
                .map(Self::Agreement)
                .map_err(|e| e.to_string()),
            RecordKind::Report => ReportView::decode(bytes)
                .map(Self::Report)
                .map_err(|e| e.to_string()),
            RecordKind::Claim => Err("claims have no stored view".into()),
        }
    }

    pub fn history(&self) -> &[HistoryItem] {
        match self {
            Self::Agreement(v) => &v.history,
            Self::Report(v) => &v.history,
        }
    }

    /// The entry that created the record.
    pub fn created_sequence(&self) -> u64 {
        self.history().first().map_or(0, |h| h.sequence)
    }

    /// The last entry applied.
    pub fn last_sequence(&self) -> u64 {
        self.history().last().map_or(0, |h| h.sequence)
    }
}

/// The kind of an entry.
pub fn entry_kind(entry: &Entry) -> EntryKind {
    match entry.payload {
        Some(Payload::Agreement(_)) => EntryKind::Agreement,
        Some(Payload::Report(_)) => EntryKind::Report,
        Some(Payload::Claim(_)) => EntryKind::Claim,
        Some(Payload::Status(_)) => EntryKind::Status,
        Some(Payload::Source(_)) => EntryKind::Source,
        Some(Payload::Correction(_)) => EntryKind::Correction,
        None => EntryKind::Unspecified,
    }
}

/// The records whose views an entry changes, in a fixed order.
pub fn touched(entry: &Entry) -> Vec<(RecordKind, String)> {
    match &entry.payload {
        Some(Payload::Agreement(_)) => vec![(RecordKind::Agreement, entry.record_id.clone())],
        Some(Payload::Report(_)) => vec![(RecordKind::Report, entry.record_id.clone())],
        Some(Payload::Claim(c)) => {
            let mut t: Vec<_> = c
                .report_ids
                .iter()
                .map(|r| (RecordKind::Report, r.clone()))
                .collect();
            if !c.agreement_id.is_empty() {
                t.push((RecordKind::Agreement, c.agreement_id.clone()));
            }
            t
        }
        Some(Payload::Status(s)) => match &s.target {
            Some(status_change::Target::ReportId(id)) => vec![(RecordKind::Report, id.clone())],
            Some(status_change::Target::AgreementId(id)) => {
                vec![(RecordKind::Agreement, id.clone())]
            }
            None => vec![],
        },
        Some(Payload::Source(a)) => match &a.target {
            Some(source_attachment::Target::ReportId(id)) => {
                vec![(RecordKind::Report, id.clone())]
            }
            Some(source_attachment::Target::AgreementId(id)) => {
                vec![(RecordKind::Agreement, id.clone())]
            }
            None => vec![],
        },
        Some(Payload::Correction(c)) => vec![(RecordKind::Report, c.report_id.clone())],
        None => vec![],
    }
}

fn label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', " ")
}

fn short(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    }
}

/// A one-line description of an entry for histories.
pub fn summary(entry: &Entry) -> String {
    match &entry.payload {
        Some(Payload::Agreement(a)) => format!("recorded: {}", short(&a.title)),
        Some(Payload::Report(r)) => format!(
            "submitted: {} ({})",
            label(r.event_type().as_str_name(), "EVENT_TYPE_"),
            label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_")
        ),
        Some(Payload::Claim(c)) => format!(
            "{} {}: {}",
            c.party,
            label(c.kind().as_str_name(), "CLAIM_KIND_"),
            short(&c.statement)
        ),
        Some(Payload::Status(s)) => {
            let what = match &s.change {
                Some(status_change::Change::Evidence(e)) => {
                    let mut t = format!(
                        "evidence status: {}",
                        label(e.status().as_str_name(), "EVIDENCE_STATUS_")
                    );
                    if !e.duplicate_of.is_empty() {
                        t.push_str(&format!(" of {}", e.duplicate_of));
                    }
                    t
                }
                Some(status_change::Change::Agreement(a)) => {
                    let mut t = format!(
                        "agreement status: {}",
                        label(a.status().as_str_name(), "AGREEMENT_STATUS_")
                    );
                    if !a.superseded_by.is_empty() {
                        t.push_str(&format!(" by {}", a.superseded_by));
                    }
                    t
                }
                Some(status_change::Change::Compliance(c)) => format!(
                    "compliance with {}: {}",
                    c.agreement_id,
                    label(c.finding().as_str_name(), "COMPLIANCE_FINDING_")
                ),
                None => "status".into(),
            };
            format!("{what}: {}", short(&s.reason))
        }
        Some(Payload::Source(a)) => {
            let s = a.source.clone().unwrap_or_default();
            let name = if s.url.is_empty() {
                s.identifier
            } else {
                s.url
            };
            format!("source attached: {}", short(&name))
        }
        Some(Payload::Correction(c)) => format!(
            "corrected {}: {}",
            c.fields
                .as_ref()
                .map(|m| m.paths.join(", "))
                .unwrap_or_default(),
            short(&c.reason)
        ),
        None => String::new(),
    }
}

pub fn history_item(entry: &Entry) -> HistoryItem {
    HistoryItem {
        sequence: entry.sequence,
        recorded_at: entry.recorded_at,
        submitter: entry.submitter.clone(),
        request_id: entry.request_id.clone(),
        kind: entry_kind(entry).into(),
        summary: summary(entry),
    }
}

fn entry_ref(entry: &Entry) -> EntryRef {
    EntryRef {
        sequence: entry.sequence,
        recorded_at: entry.recorded_at,
        submitter: entry.submitter.clone(),
        request_id: entry.request_id.clone(),
    }
}

/// Applies `entry` to the view of record (`kind`, `id`), one of
/// [`touched`]`(entry)`; `view` is None only for the creating entry.
pub fn apply(
    view: Option<View>,
    kind: RecordKind,
    id: &str,
    entry: &Entry,
) -> Result<View, ProjectError> {
    let fail = |reason: String| ProjectError {
        sequence: entry.sequence,
        reason,
    };
    let payload = entry
        .payload
        .as_ref()
        .ok_or_else(|| fail("no payload".into()))?;
    let mut view = match (view, payload) {
        (None, Payload::Agreement(a)) => {
            let mut agreement = a.clone();
            agreement.id = entry.record_id.clone();
            View::Agreement(AgreementView {
                agreement: Some(agreement),
                created: Some(entry_ref(entry)),
                ..AgreementView::default()
            })
        }
        (None, Payload::Report(r)) => {
            let mut report = r.clone();
            report.id = entry.record_id.clone();
            View::Report(ReportView {
                report: Some(report),
                created: Some(entry_ref(entry)),
                ..ReportView::default()
            })
        }
        (None, _) => return Err(fail(format!("{} {id} has no creating entry", kind.name()))),
        (Some(_), Payload::Agreement(_) | Payload::Report(_)) => {
            return Err(fail(format!("{} {id} is created twice", kind.name())));
        }
        (Some(View::Agreement(mut v)), change) => {
            apply_to_agreement(&mut v, change, entry).map_err(fail)?;
            View::Agreement(v)
        }
        (Some(View::Report(mut v)), change) => {
            apply_to_report(&mut v, change, entry).map_err(fail)?;
            View::Report(v)
        }
    };
    match &mut view {
        View::Agreement(v) => v.history.push(history_item(entry)),
        View::Report(v) => v.history.push(history_item(entry)),
    }
    Ok(view)
}

fn claim_of(entry: &Entry, payload: &Payload) -> Option<truce_proto::v1::Claim> {
    match payload {
        Payload::Claim(c) => {
            let mut c = c.clone();
            c.id = entry.record_id.clone();
            Some(c)
        }
        _ => None,
    }
}

fn apply_to_agreement(
    v: &mut AgreementView,
    change: &Payload,
    entry: &Entry,
) -> Result<(), String> {
    let agreement = v.agreement.get_or_insert_with(Default::default);
    match change {
        Payload::Claim(_) => v.claims.extend(claim_of(entry, change)),
        Payload::Status(s) => match &s.change {
            Some(status_change::Change::Agreement(a)) => {
                v.status = a.status;
                v.status_effective_at = s
                    .effective_at
                    .or(entry.extension_effective_at)
                    .or(entry.recorded_at);
                v.statuses.push(AgreementStatusRecord {
                    status: a.status,
                    effective_at: v.status_effective_at,
                    sequence: entry.sequence,
                });
                if a.status() == AgreementStatus::Extended {
                    agreement.expires_at = a.new_expires_at;
                }
                v.superseded_by = if a.status() == AgreementStatus::Superseded {
                    a.superseded_by.clone()
                } else {
                    String::new()
                };
            }
            _ => return Err("a report's status change applied to an agreement".into()),
        },
        Payload::Source(a) => agreement.sources.extend(a.source.clone()),
        Payload::Correction(_) => return Err("a correction applied to an agreement".into()),
        Payload::Agreement(_) | Payload::Report(_) => return Err("a creation".into()),
    }
    Ok(())
}

fn apply_to_report(v: &mut ReportView, change: &Payload, entry: &Entry) -> Result<(), String> {
    let report = v.report.get_or_insert_with(Default::default);
    match change {
        Payload::Claim(_) => v.claims.extend(claim_of(entry, change)),
        Payload::Status(s) => match &s.change {
            Some(status_change::Change::Evidence(e)) => {
                report.evidence_status = e.status;
                v.duplicate_of = if e.status() == EvidenceStatus::Duplicate {
                    e.duplicate_of.clone()
                } else {
                    String::new()
                };
            }
            Some(status_change::Change::Compliance(c)) => {
                match v
                    .findings
                    .iter_mut()
                    .find(|f| f.agreement_id == c.agreement_id)
                {
                    Some(f) => f.finding = c.finding,
                    None => v.findings.push(c.clone()),
                }
            }
            _ => return Err("an agreement's status change applied to a report".into()),
        },
        Payload::Source(a) => report.sources.extend(a.source.clone()),
        Payload::Correction(c) => apply_correction(report, c)?,
        Payload::Agreement(_) | Payload::Report(_) => return Err("a creation".into()),
    }
    Ok(())
}

/// Copies the named fields of `c.values` into `report`.
pub fn apply_correction(report: &mut Report, c: &Correction) -> Result<(), String> {
    let values = c.values.clone().unwrap_or_default();
    let paths = c.fields.as_ref().map(|m| m.paths.as_slice()).unwrap_or(&[]);
    let v_occ = values.occurred.unwrap_or_default();
    let v_loc = values.location.clone().unwrap_or_default();
    let v_harm = values.harm.unwrap_or_default();
    for path in paths {
        match path.as_str() {
            "agreement_ids" => report.agreement_ids = values.agreement_ids.clone(),
            "occurred" => report.occurred = values.occurred,
            "occurred.start" => report.occurred.get_or_insert_default().start = v_occ.start,
            "occurred.end" => report.occurred.get_or_insert_default().end = v_occ.end,
            "occurred.precision" => {
                report.occurred.get_or_insert_default().precision = v_occ.precision;
            }
            "first_reported_at" => report.first_reported_at = values.first_reported_at,
            "location" => report.location = values.location.clone(),
            "location.country" => {
                report.location.get_or_insert_default().country = v_loc.country.clone()
            }
            "location.admin1" => {
                report.location.get_or_insert_default().admin1 = v_loc.admin1.clone()
            }
            "location.admin2" => {
                report.location.get_or_insert_default().admin2 = v_loc.admin2.clone()
            }
            "location.admin3" => {
                report.location.get_or_insert_default().admin3 = v_loc.admin3.clone()
            }
            "location.place_name" => {
                report.location.get_or_insert_default().place_name = v_loc.place_name.clone();
            }
            "location.latitude" => {
                report.location.get_or_insert_default().latitude = v_loc.latitude
            }
            "location.longitude" => {
                report.location.get_or_insert_default().longitude = v_loc.longitude
            }
            "location.geo_precision" => {
                report.location.get_or_insert_default().geo_precision = v_loc.geo_precision;
            }
            "location.radius_m" => {
                report.location.get_or_insert_default().radius_m = v_loc.radius_m
            }
            "event_type" => report.event_type = values.event_type,
            "sub_event_detail" => report.sub_event_detail = values.sub_event_detail.clone(),
            "weapon" => report.weapon = values.weapon,
            "target_class" => report.target_class = values.target_class,
            "target_name" => report.target_name = values.target_name.clone(),
            "damage" => report.damage = values.damage.clone(),
            "interception" => report.interception = values.interception,
            "alleged_perpetrators" => {
                report.alleged_perpetrators = values.alleged_perpetrators.clone();
            }
            "affected_parties" => report.affected_parties = values.affected_parties.clone(),
            "reported_by" => report.reported_by = values.reported_by.clone(),
            "attribution" => report.attribution = values.attribution,
            "harm" => report.harm = values.harm,
            "harm.fatalities_low" => {
                report.harm.get_or_insert_default().fatalities_low = v_harm.fatalities_low
            }
            "harm.fatalities_best" => {
                report.harm.get_or_insert_default().fatalities_best = v_harm.fatalities_best
            }
            "harm.fatalities_high" => {
                report.harm.get_or_insert_default().fatalities_high = v_harm.fatalities_high
            }
            "harm.injured" => report.harm.get_or_insert_default().injured = v_harm.injured,
            "notes" => report.notes = values.notes.clone(),
            "tags" => report.tags = values.tags.clone(),
            "external_ids" => report.external_ids = values.external_ids.clone(),
            other => return Err(format!("{other:?} is not a correctable field")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_correctable_path_applies() {
        for path in CORRECTABLE {
            let mut r = Report::default();
            let c = Correction {
                fields: Some(pbjson_types::FieldMask {
                    paths: vec![(*path).to_owned()],
                }),
                values: Some(Report::default()),
                ..Correction::default()
            };
            assert!(apply_correction(&mut r, &c).is_ok(), "{path}");
        }
        assert!(!is_correctable("id"));
        assert!(!is_correctable("sources"));
        assert!(!is_correctable("evidence_status"));
    }
}
