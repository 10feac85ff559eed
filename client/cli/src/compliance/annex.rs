//! The annex of a compliance report as text: each report considered, with
//! its place, time, target, perpetrators, evidence status, its finding
//! under each reading and its sources.

use truce_proto::v1::{AnnexEntry, ComplianceReport, ScopeAssessment, Source};

use super::{cell, plural, reading_name, table};
use crate::{commands::render::enum_label, time};

pub(super) fn section(out: &mut String, report: &ComplianceReport) {
    if report.annex.is_empty() {
        out.push_str(&format!(
            "Annex: none ({} reports examined; the annex is left out with --no-annex).\n",
            report.examined
        ));
        return;
    }
    out.push_str(&format!(
        "Annex: {} considered, in the order submitted\n",
        plural(report.annex.len(), "report")
    ));
    for entry in &report.annex {
        out.push('\n');
        entry_text(out, entry);
    }
}

fn entry_text(out: &mut String, entry: &AnnexEntry) {
    let r = entry.report.clone().unwrap_or_default();
    let linked = if entry.linked {
        "names the agreement"
    } else {
        "does not name the agreement"
    };
    out.push_str(&format!("{} ({linked})\n", r.id));
    let occurred = r.occurred.unwrap_or_default();
    let loc = r.location.clone().unwrap_or_default();
    let place: Vec<&str> = [&loc.country, &loc.admin1, &loc.place_name]
        .into_iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let mut target = enum_label(r.target_class().as_str_name(), "TARGET_CLASS_");
    if !r.target_name.is_empty() {
        target.push_str(&format!(" ({})", cell(&r.target_name)));
    }
    let perpetrators: Vec<&str> = r.alleged_perpetrators.iter().map(|p| p.as_str()).collect();
    let mut rows = vec![
        format!(
            "OCCURRED\t{} ({})",
            time::format(occurred.start.as_ref()),
            enum_label(occurred.precision().as_str_name(), "TIME_PRECISION_")
        ),
        format!(
            "PLACE\t{} ({})",
            cell(&place.join(" / ")),
            enum_label(loc.geo_precision().as_str_name(), "GEO_PRECISION_")
        ),
        format!(
            "EVENT TYPE\t{}",
            enum_label(r.event_type().as_str_name(), "EVENT_TYPE_")
        ),
        format!("TARGET\t{target}"),
        format!(
            "PERPETRATORS\t{} ({})",
            if perpetrators.is_empty() {
                "none named".to_owned()
            } else {
                perpetrators.join(", ")
            },
            enum_label(r.attribution().as_str_name(), "ATTRIBUTION_STATUS_")
        ),
        format!(
            "EVIDENCE\t{}",
            enum_label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_")
        ),
    ];
    rows.extend(entry.assessments.iter().map(finding_row));
    rows.extend(r.sources.iter().map(source_row));
    table(out, "  ", &rows);
}

/// A reading's finding, with its reasons.
fn finding_row(a: &ScopeAssessment) -> String {
    let reasons = if a.reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", a.reasons.join("; "))
    };
    format!(
        "FINDING {}\t{}{}",
        reading_name(&a.reading),
        enum_label(a.finding().as_str_name(), "COMPLIANCE_FINDING_"),
        cell(&reasons)
    )
}

/// A source: publisher, where (URL or identifier), kind.
fn source_row(s: &Source) -> String {
    let at = if s.url.is_empty() {
        &s.identifier
    } else {
        &s.url
    };
    let publisher = if s.publisher.is_empty() {
        "-"
    } else {
        &s.publisher
    };
    format!(
        "SOURCE\t{}  {}  {}",
        cell(publisher),
        cell(at),
        enum_label(s.kind().as_str_name(), "SOURCE_KIND_")
    )
}
