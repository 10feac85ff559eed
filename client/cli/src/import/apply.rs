//! One import row as writes: the submit of a new report, or, given the
//! stored view of an existing one, its correction, its missing sources and
//! its new evidence status. Every write carries a request id derived from
//! the row (and the report's last entry), so a re-run is answered as a
//! duplicate or finds nothing to do. Pure: the sending is `send`'s, the
//! answers `receive`'s; a line that carries the entries behind it (what
//! `truce export` writes) sends those instead (`replay`).

use pbjson_types::FieldMask;
use sha2::{Digest, Sha256};
use truce_proto::v1::{
    AttachSourceRequest, Claim, CorrectReportRequest, Correction, Entry, Envelope, EvidenceStatus,
    EvidenceStatusChange, HistoryItem, Report, ReportView, SetStatusRequest, Source,
    SourceAttachment, StatusChange, SubmitReportRequest, envelope::Kind as Write,
    source_attachment, status_change,
};

use super::{Format, acled, jsonl};

/// A source row, mapped.
pub struct Row {
    /// SHA-256 of the format and the row's canonical bytes.
    hash: [u8; 32],
    report: Report,
    kind: Kind,
}

enum Kind {
    Acled,
    Jsonl {
        claims: Vec<Claim>,
        duplicate_of: Option<String>,
        entries: Vec<Entry>,
    },
}

/// SHA-256 of length-prefixed parts.
pub(super) fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

pub(super) fn request_id(prefix: &str, hash: &[u8]) -> String {
    let hex = hex::encode(hash);
    format!("{prefix}-{}", hex.get(..40).unwrap_or(&hex))
}

impl Row {
    pub fn acled(format: Format, report: Report, values: &[String]) -> Self {
        let parts =
            std::iter::once(format.name().as_bytes()).chain(values.iter().map(|v| v.as_bytes()));
        Self {
            hash: digest(parts),
            report,
            kind: Kind::Acled,
        }
    }

    pub fn jsonl(format: Format, line: jsonl::Line) -> Self {
        Self {
            hash: digest([format.name().as_bytes(), line.canonical.as_bytes()]),
            report: line.report,
            kind: Kind::Jsonl {
                claims: line.claims,
                duplicate_of: line.duplicate_of,
                entries: line.entries,
            },
        }
    }

    /// The report's id (empty: the server assigns one).
    pub fn id(&self) -> &str {
        &self.report.id
    }

    /// The entries behind the line, when it carries them (empty: none;
    /// the row is then applied as a view).
    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Jsonl { entries, .. } => entries,
            Kind::Acled => &[],
        }
    }

    /// The view's claims (JSON Lines; none for ACLED).
    pub fn claims(&self) -> &[Claim] {
        match &self.kind {
            Kind::Jsonl { claims, .. } => claims,
            Kind::Acled => &[],
        }
    }

    /// The request id of a write that follows from this row, given the
    /// report's last entry (so that a row revised back and forth gets a
    /// new id each time) and an index among writes of one kind.
    fn derived(&self, prefix: &str, base: u64, index: u64) -> String {
        let hash = digest([
            self.hash.as_slice(),
            &base.to_be_bytes(),
            &index.to_be_bytes(),
        ]);
        request_id(prefix, &hash)
    }
}

fn envelope(kind: Write) -> Envelope {
    Envelope { kind: Some(kind) }
}

/// The submit of the row's report, under the request id derived from the
/// row alone.
pub fn creation(row: &Row) -> Envelope {
    envelope(Write::Report(SubmitReportRequest {
        request_id: request_id("import", &row.hash),
        report: Some(row.report.clone()),
        with_proof: false,
    }))
}

/// The view of a report that the row's own submit created.
pub fn created_view(row: &Row) -> ReportView {
    ReportView {
        report: Some(row.report.clone()),
        ..ReportView::default()
    }
}

/// The writes that bring an existing report (`view`) in line with the row,
/// in the order they are sent: a correction of the fields it revises, its
/// missing sources, its new evidence status (JSON Lines). None: the row
/// says nothing new.
pub fn updates(row: &Row, line: u64, label: &str, view: &ReportView) -> Vec<Envelope> {
    let base = view.history.last().map_or(0, |h: &HistoryItem| h.sequence);
    let stored = view.report.clone().unwrap_or_default();
    let id = row.report.id.clone();
    let reason = format!("revised in the source: {label} line {line}");
    let mut writes = Vec::new();

    let revision = match &row.kind {
        Kind::Acled => acled::revision(view, &row.report),
        Kind::Jsonl { .. } => {
            let paths = jsonl::changed_fields(&stored, &row.report);
            (!paths.is_empty()).then(|| (paths, row.report.clone()))
        }
    };
    if let Some((paths, values)) = revision {
        writes.push(envelope(Write::Correction(CorrectReportRequest {
            request_id: row.derived("import-fix", base, 0),
            correction: Some(Correction {
                report_id: id.clone(),
                fields: Some(FieldMask { paths }),
                values: Some(values),
                reason: reason.clone(),
                sources: Vec::new(),
            }),
            with_proof: false,
        })));
    }

    let missing: Vec<Source> = match &row.kind {
        Kind::Acled => acled::missing_sources(&stored, &row.report),
        Kind::Jsonl { .. } => row
            .report
            .sources
            .iter()
            .filter(|s| !stored.sources.contains(s))
            .cloned()
            .collect(),
    };
    for (i, source) in (0u64..).zip(missing) {
        writes.push(envelope(Write::Source(AttachSourceRequest {
            request_id: row.derived("import-src", base, i),
            attachment: Some(SourceAttachment {
                target: Some(source_attachment::Target::ReportId(id.clone())),
                source: Some(source),
                note: format!("from {label} line {line}"),
            }),
            with_proof: false,
        })));
    }

    if let Kind::Jsonl { duplicate_of, .. } = &row.kind
        && let Some(change) = evidence_change(view, &row.report, duplicate_of.as_deref())
    {
        writes.push(envelope(Write::Status(SetStatusRequest {
            request_id: row.derived("import-status", base, 0),
            status: Some(StatusChange {
                target: Some(status_change::Target::ReportId(id)),
                change: Some(status_change::Change::Evidence(change)),
                effective_at: None,
                reason,
                sources: Vec::new(),
            }),
            with_proof: false,
        })));
    }
    writes
}

/// The evidence status change a row asks for, if any: none when the row
/// has no status, or says DUPLICATE without saying of what.
fn evidence_change(
    view: &ReportView,
    row: &Report,
    duplicate_of: Option<&str>,
) -> Option<EvidenceStatusChange> {
    let want = row.evidence_status();
    let have = view
        .report
        .as_ref()
        .map_or(EvidenceStatus::Unspecified, Report::evidence_status);
    match want {
        EvidenceStatus::Unspecified => None,
        EvidenceStatus::Duplicate => {
            let of = duplicate_of.filter(|d| !d.is_empty())?;
            (have != want || view.duplicate_of != of).then(|| EvidenceStatusChange {
                status: want.into(),
                duplicate_of: of.to_owned(),
            })
        }
        _ => (have != want).then(|| EvidenceStatusChange {
            status: want.into(),
            duplicate_of: String::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_derived_and_short() {
        let row = Row::acled(Format::AcledCsv, Report::default(), &["a".into()]);
        let again = Row::acled(Format::AcledCsv, Report::default(), &["a".into()]);
        let other = Row::acled(Format::AcledCsv, Report::default(), &["a,".into()]);
        let id = request_id("import", &row.hash);
        assert_eq!(id.len(), "import-".len() + 40);
        assert_eq!(id, request_id("import", &again.hash));
        assert_ne!(id, request_id("import", &other.hash));
        // Parts are length-prefixed: ["ab"] is not ["a", "b"].
        let split = Row::acled(
            Format::AcledCsv,
            Report::default(),
            &["a".into(), "b".into()],
        );
        let joined = Row::acled(Format::AcledCsv, Report::default(), &["ab".into()]);
        assert_ne!(split.hash, joined.hash);
        assert_ne!(
            row.derived("import-fix", 7, 0),
            row.derived("import-fix", 8, 0)
        );
        assert_ne!(
            row.derived("import-src", 7, 0),
            row.derived("import-src", 7, 1)
        );
    }

    #[test]
    fn status_changes() {
        let view = |s: EvidenceStatus, of: &str| ReportView {
            report: Some(Report {
                evidence_status: s.into(),
                ..Report::default()
            }),
            duplicate_of: of.into(),
            ..ReportView::default()
        };
        let row = |s: EvidenceStatus| Report {
            evidence_status: s.into(),
            ..Report::default()
        };
        use EvidenceStatus as E;
        assert!(evidence_change(&view(E::Disputed, ""), &row(E::Disputed), None).is_none());
        let c = evidence_change(&view(E::Unverified, ""), &row(E::Disputed), None).unwrap();
        assert_eq!(c.status(), E::Disputed);
        assert!(evidence_change(&view(E::Unverified, ""), &row(E::Duplicate), None).is_none());
        assert!(evidence_change(&view(E::Unverified, ""), &row(E::Duplicate), Some("")).is_none());
        let c = evidence_change(&view(E::Duplicate, ""), &row(E::Duplicate), Some("r1")).unwrap();
        assert_eq!(c.duplicate_of, "r1");
        assert!(
            evidence_change(&view(E::Duplicate, "r1"), &row(E::Duplicate), Some("r1")).is_none()
        );
        assert!(evidence_change(&view(E::Unverified, ""), &row(E::Unspecified), None).is_none());
    }
}
