//! JSON Lines back to reports: each line a report view as `truce export
//! --format jsonl` writes it (with the entries behind it under
//! `"entries"`), or a bare report, in proto3 JSON. Pure: a line in, the
//! report, its claims, status and entries out; and, for a line whose
//! report already exists, which correctable fields differ.

use truce_proto::v1::{Claim, Entry, Report, ReportView};

/// The key under which an exported line carries its entries.
pub const ENTRIES_KEY: &str = "entries";

/// One parsed line.
#[derive(Debug, Clone)]
pub struct Line {
    pub report: Report,
    /// The view's claims (none for a bare report).
    pub claims: Vec<Claim>,
    /// The view's duplicate_of (None for a bare report: unknown).
    pub duplicate_of: Option<String>,
    /// What the line says, serialized canonically (key order and
    /// whitespace of the file do not matter; the view's history does not).
    pub canonical: String,
    /// The entries behind the view, in log order (empty: none given).
    pub entries: Vec<Entry>,
}

/// Parses a line: an object with a "report" key is a ReportView, any
/// other object a Report.
pub fn parse(text: &str) -> Result<Line, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| "a line must be a JSON object".to_owned())?;
    let is_view = object.contains_key("report");
    let entries: Vec<Entry> = match object.remove(ENTRIES_KEY) {
        Some(_) if !is_view => return Err("\"entries\" belong to a report view".into()),
        Some(e) => serde_json::from_value(e).map_err(|e| format!("not entries: {e}"))?,
        None => Vec::new(),
    };
    let view = if is_view {
        let v: ReportView =
            serde_json::from_value(value).map_err(|e| format!("not a report view: {e}"))?;
        ReportView {
            report: v.report,
            duplicate_of: v.duplicate_of,
            claims: v.claims,
            ..ReportView::default()
        }
    } else {
        let r: Report = serde_json::from_value(value).map_err(|e| format!("not a report: {e}"))?;
        ReportView {
            report: Some(r),
            ..ReportView::default()
        }
    };
    let canonical = serde_json::to_string(&view).map_err(|e| e.to_string())?;
    Ok(Line {
        report: view.report.unwrap_or_default(),
        claims: view.claims,
        duplicate_of: is_view.then_some(view.duplicate_of),
        canonical,
        entries,
    })
}

/// The correctable fields (records.proto, Correction) where `row`
/// differs from `stored`, as top-level FieldMask paths.
pub fn changed_fields(stored: &Report, row: &Report) -> Vec<String> {
    let (a, b) = (stored, row);
    [
        ("agreement_ids", a.agreement_ids == b.agreement_ids),
        ("occurred", a.occurred == b.occurred),
        (
            "first_reported_at",
            a.first_reported_at == b.first_reported_at,
        ),
        ("location", a.location == b.location),
        ("event_type", a.event_type == b.event_type),
        ("sub_event_detail", a.sub_event_detail == b.sub_event_detail),
        ("weapon", a.weapon == b.weapon),
        ("target_class", a.target_class == b.target_class),
        ("target_name", a.target_name == b.target_name),
        ("damage", a.damage == b.damage),
        ("interception", a.interception == b.interception),
        (
            "alleged_perpetrators",
            a.alleged_perpetrators == b.alleged_perpetrators,
        ),
        ("affected_parties", a.affected_parties == b.affected_parties),
        ("reported_by", a.reported_by == b.reported_by),
        ("attribution", a.attribution == b.attribution),
        ("harm", a.harm == b.harm),
        ("notes", a.notes == b.notes),
        ("tags", a.tags == b.tags),
        ("external_ids", a.external_ids == b.external_ids),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(path, _)| path.to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_proto::v1::{EvidenceStatus, Harm};

    #[test]
    fn views_and_bare_reports() {
        let view = r#"{"report":{"id":"r1","notes":"n","evidenceStatus":"EVIDENCE_STATUS_DISPUTED"},
            "created":{"sequence":"3"},"claims":[{"id":"c1","party":"UA"}],"duplicateOf":""}"#;
        let line = parse(&view.replace('\n', " ")).unwrap();
        assert_eq!(line.report.id, "r1");
        assert_eq!(line.report.evidence_status(), EvidenceStatus::Disputed);
        assert_eq!(line.claims.len(), 1);
        assert_eq!(line.duplicate_of.as_deref(), Some(""));
        assert!(!line.canonical.contains("created"), "{}", line.canonical);

        let bare = parse(r#"{"id":"r2","tags":["a"]}"#).unwrap();
        assert_eq!(bare.report.tags, ["a"]);
        assert!(bare.claims.is_empty() && bare.duplicate_of.is_none());
        // The same content in another key order hashes the same.
        let reordered = parse(r#"{"tags":["a"], "id":"r2"}"#).unwrap();
        assert_eq!(bare.canonical, reordered.canonical);

        assert!(parse("[1]").unwrap_err().contains("object"));
        assert!(parse("{").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"report":{},"bogus":1}"#).is_err());
        assert!(
            parse(r#"{"bogus":1}"#)
                .unwrap_err()
                .contains("not a report")
        );
    }

    #[test]
    fn changed_fields_are_top_level() {
        let a = Report {
            id: "r".into(),
            notes: "x".into(),
            harm: Some(Harm {
                fatalities_best: Some(1),
                ..Harm::default()
            }),
            ..Report::default()
        };
        assert!(changed_fields(&a, &a).is_empty());
        let mut b = a.clone();
        b.notes = "y".into();
        b.harm = Some(Harm::default());
        // Not correctable, so never named: sources and evidence status.
        b.evidence_status = EvidenceStatus::Verified.into();
        b.sources = vec![Default::default()];
        assert_eq!(changed_fields(&a, &b), ["harm", "notes"]);
    }
}
