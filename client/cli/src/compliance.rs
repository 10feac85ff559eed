//! A compliance report as text for people: everything the daemon computed
//! (per reading of the agreement's start), with the log sequence and the
//! signed checkpoint needed to reproduce and verify it. A pure function, so
//! `truce compliance` and tests share it.

use std::io::Write;

use base64::Engine;
use tabwriter::TabWriter;
use truce_proto::v1::{
    AgreementView, ClaimBesideEvidence, ComplianceCounts, ComplianceReport, ComplianceTally, Count,
    Period,
};

use crate::{commands::render::enum_label, time};

mod annex;

/// The whole report as text: header and checkpoint, one section per
/// reading of the start, the claims, the unlinked reports and the annex.
pub fn compliance_text(report: &ComplianceReport) -> String {
    let mut out = String::new();
    header(&mut out, report);
    for tally in &report.tallies {
        out.push('\n');
        reading_section(&mut out, tally);
    }
    out.push('\n');
    claims_section(&mut out, &report.claims);
    out.push('\n');
    if report.unlinked_report_ids.is_empty() {
        out.push_str("Every report the scope covers names the agreement.\n");
    } else {
        out.push_str(&format!(
            "Reports the scope covers that do not name the agreement: {}\n",
            report.unlinked_report_ids.join(", ")
        ));
    }
    out.push('\n');
    annex::section(&mut out, report);
    out
}

/// Aligns tab-separated rows (each prefixed with `indent`); falls back to
/// the unaligned rows should the tab writer fail.
fn table(out: &mut String, indent: &str, rows: &[String]) {
    let text: String = rows
        .iter()
        .map(|r| format!("{indent}{}\n", r.trim_end_matches('\t')))
        .collect();
    let mut tw = TabWriter::new(Vec::new()).padding(2);
    let aligned = tw
        .write_all(text.as_bytes())
        .and_then(|()| tw.flush())
        .ok()
        .and_then(|()| tw.into_inner().ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    out.push_str(&aligned.unwrap_or(text));
}

/// One cell: no tabs or line breaks.
fn cell(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn reading_name(reading: &str) -> String {
    if reading.is_empty() {
        "agreed by all".into()
    } else {
        format!("per {reading}")
    }
}

fn period_text(p: Option<&Period>) -> String {
    match p {
        Some(p) => format!(
            "{} to {} (end exclusive)",
            time::format(p.from.as_ref()),
            time::format(p.to.as_ref())
        ),
        None => "-".into(),
    }
}

/// "drone-strike 2, shelling 1" from counts keyed by enum names.
fn counts_inline(counts: &[Count], prefix: &str) -> String {
    counts
        .iter()
        .map(|c| format!("{} {}", enum_label(&c.key, prefix), c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn header(out: &mut String, report: &ComplianceReport) {
    let view = report.agreement.clone().unwrap_or_default();
    let a = view.agreement.clone().unwrap_or_default();
    out.push_str(&format!("Compliance report: {}\n\n", cell(&a.title)));
    let parties: Vec<String> = a
        .parties
        .iter()
        .map(|p| {
            let role = enum_label(p.role().as_str_name(), "PARTY_ROLE_");
            match p.name.as_str() {
                "" => format!("{} ({role})", p.party),
                name => format!("{} {} ({role})", p.party, cell(name)),
            }
        })
        .collect();
    let mut rows = vec![
        format!("AGREEMENT\t{}", a.id),
        format!("PARTIES\t{}", parties.join(", ")),
    ];
    for e in &a.effective_from {
        let note = if e.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", cell(&e.note))
        };
        rows.push(format!(
            "START {}\t{}{note}",
            reading_name(&e.party),
            time::format(e.at.as_ref())
        ));
    }
    rows.push(format!("EXPIRES\t{}", time::format(a.expires_at.as_ref())));
    rows.push(format!("PERIOD\t{}", period_text(report.period.as_ref())));
    rows.push(format!(
        "PREVIOUS PERIOD\t{}",
        period_text(report.previous_period.as_ref())
    ));
    rows.push(format!(
        "EXAMINED\t{}",
        plural(
            usize::try_from(report.examined).unwrap_or(usize::MAX),
            "report"
        )
    ));
    rows.push(format!(
        "COMPUTED AT\tlog sequence {}",
        report.as_of_sequence
    ));
    checkpoint_rows(&mut rows, report);
    table(out, "", &rows);
    out.push('\n');
    status_history(out, &view);
    signed_note(out, report, &a.id);
}

/// The checkpoint the report comes with, and its root hash.
fn checkpoint_rows(rows: &mut Vec<String>, report: &ComplianceReport) {
    let Some(cp) = &report.checkpoint else {
        rows.push("CHECKPOINT\tnone".into());
        return;
    };
    let mismatch = if cp.tree_size == report.as_of_sequence {
        ""
    } else {
        " (NOT the report's sequence)"
    };
    rows.push(format!(
        "CHECKPOINT\t{}, tree size {}{mismatch}",
        cp.origin, cp.tree_size
    ));
    rows.push(format!(
        "ROOT HASH\t{} (base64 {})",
        hex::encode(&cp.root_hash),
        base64::engine::general_purpose::STANDARD.encode(&cp.root_hash)
    ));
}

/// The signed checkpoint note, indented, with how to check it and how to
/// compute the report again.
fn signed_note(out: &mut String, report: &ComplianceReport, agreement_id: &str) {
    let cp = report.checkpoint.clone().unwrap_or_default();
    if cp.note.is_empty() {
        return;
    }
    out.push_str(&format!(
        "\nSigned checkpoint over the log of {} entries (check it with `truce verify --key \
         <the log's key>`; `truce compliance {} --as-of {}` computes this report again):\n",
        cp.tree_size, agreement_id, report.as_of_sequence
    ));
    for line in cp.note.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("    {line}\n"));
        }
    }
}

fn status_history(out: &mut String, view: &AgreementView) {
    if view.statuses.is_empty() {
        out.push_str("No agreement status change recorded.\n");
        return;
    }
    out.push_str("Agreement status history:\n");
    let mut rows = vec!["STATUS\tEFFECTIVE AT\tSEQUENCE".to_owned()];
    rows.extend(view.statuses.iter().map(|s| {
        format!(
            "{}\t{}\t{}",
            enum_label(s.status().as_str_name(), "AGREEMENT_STATUS_"),
            time::format(s.effective_at.as_ref()),
            s.sequence
        )
    }));
    table(out, "  ", &rows);
}

fn change_text(now: u64, before: u64) -> String {
    let diff = i128::from(now) - i128::from(before);
    let pct = if before == 0 {
        String::new()
    } else {
        format!(", {:+.0}%", diff as f64 * 100.0 / before as f64)
    };
    format!("{diff:+}{pct}")
}

fn reading_section(out: &mut String, t: &ComplianceTally) {
    let current = t.current.clone().unwrap_or_default();
    let previous = t.previous.clone().unwrap_or_default();
    out.push_str(&format!(
        "Reading of the start {}: effective from {}\n",
        reading_name(&t.reading),
        time::format(t.effective_from.as_ref())
    ));
    let harm = current.harm.unwrap_or_default();
    let harm_text = if harm.reports_with_figures == 0 {
        "no report gives figures".to_owned()
    } else {
        format!(
            "fatalities {}/{}/{} (low/best/high), injured {}; from {} reports giving figures",
            harm.fatalities_low,
            harm.fatalities_best,
            harm.fatalities_high,
            harm.injured,
            harm.reports_with_figures
        )
    };
    let rows = [
        format!("in scope\t{}", current.in_scope),
        format!("indeterminate\t{}", t.indeterminate),
        format!("out of scope\t{}", t.out_of_scope),
        format!(
            "previous period\t{} in scope (change {})",
            previous.in_scope,
            change_text(current.in_scope, previous.in_scope)
        ),
        format!("harm\t{harm_text}"),
    ];
    table(out, "  ", &rows);
    counts_tables(out, &current);
    if !t.indeterminate_reports.is_empty() {
        out.push('\n');
        let mut rows = vec!["INDETERMINATE REPORT\tREASONS".to_owned()];
        rows.extend(
            t.indeterminate_reports
                .iter()
                .map(|r| format!("{}\t{}", r.report_id, cell(&r.reasons.join("; ")))),
        );
        table(out, "  ", &rows);
    }
}

fn counts_tables(out: &mut String, c: &ComplianceCounts) {
    if !c.by_perpetrator.is_empty() {
        out.push('\n');
        let mut rows = vec!["ALLEGED PERPETRATOR\tTOTAL\tATTRIBUTION\tEVIDENCE".to_owned()];
        rows.extend(c.by_perpetrator.iter().map(|p| {
            format!(
                "{}\t{}\t{}\t{}",
                party_name(&p.party),
                p.total,
                counts_inline(&p.by_attribution, "ATTRIBUTION_STATUS_"),
                counts_inline(&p.by_evidence, "EVIDENCE_STATUS_")
            )
        }));
        table(out, "  ", &rows);
    }
    for (title, counts, prefix) in [
        ("EVENT TYPE", &c.by_event_type, "EVENT_TYPE_"),
        ("TARGET CLASS", &c.by_target_class, "TARGET_CLASS_"),
    ] {
        if !counts.is_empty() {
            out.push('\n');
            let mut rows = vec![format!("{title}\tCOUNT")];
            rows.extend(
                counts
                    .iter()
                    .map(|k| format!("{}\t{}", enum_label(&k.key, prefix), k.count)),
            );
            table(out, "  ", &rows);
        }
    }
    if !c.by_admin1.is_empty() {
        out.push('\n');
        let mut rows = vec!["COUNTRY/ADMIN1\tCOUNT".to_owned()];
        rows.extend(
            c.by_admin1
                .iter()
                .map(|k| format!("{}\t{}", cell(&k.key), k.count)),
        );
        table(out, "  ", &rows);
    }
    if !c.per_day.is_empty() {
        out.push('\n');
        let mut rows = vec!["DAY\tTOTAL\tBY ALLEGED PERPETRATOR".to_owned()];
        rows.extend(c.per_day.iter().map(|d| {
            let by: Vec<String> = d
                .by_perpetrator
                .iter()
                .map(|k| format!("{} {}", party_name(&k.key), k.count))
                .collect();
            format!("{}\t{}\t{}", d.day, d.total, by.join(", "))
        }));
        table(out, "  ", &rows);
    }
}

/// A party code for display; reports naming no perpetrator count under "".
pub(crate) fn party_name(code: &str) -> &str {
    if code.is_empty() {
        "unattributed"
    } else {
        code
    }
}

fn claims_section(out: &mut String, claims: &[ClaimBesideEvidence]) {
    if claims.is_empty() {
        out.push_str("No party's claim concerns the reports considered or the agreement.\n");
        return;
    }
    out.push_str("Claims beside evidence:\n");
    let mut rows = vec!["PARTY\tKIND\tSTATED AT\tSTATEMENT\tCONCERNS (EVIDENCE STATUS)".to_owned()];
    for c in claims {
        let claim = c.claim.clone().unwrap_or_default();
        let mut concerns: Vec<String> = c
            .reports
            .iter()
            .map(|r| {
                format!(
                    "{} ({})",
                    r.report_id,
                    enum_label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_")
                )
            })
            .collect();
        if !claim.agreement_id.is_empty() {
            concerns.push(format!("agreement {}", claim.agreement_id));
        }
        rows.push(format!(
            "{}\t{}\t{}\t{}\t{}",
            claim.party,
            enum_label(claim.kind().as_str_name(), "CLAIM_KIND_"),
            time::format(claim.stated_at.as_ref()),
            cell(&claim.statement),
            concerns.join(", ")
        ));
    }
    table(out, "  ", &rows);
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line with its runs of spaces (table padding) collapsed.
    fn squeezed(text: &str) -> String {
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_text_holds_every_part_of_the_report() {
        let text = compliance_text(&fixture::report());
        let s = squeezed(&text);
        for line in [
            "Compliance report: Energy truce",
            "AGREEMENT ag-1",
            "PARTIES RU Russian Federation (signatory), UA Ukraine (signatory), US (mediator)",
            "START per RU 2025-03-18T17:00:00Z (after the call)",
            "START per UA 2025-03-25T00:00:00Z",
            "PERIOD 2025-03-18T17:00:00Z to 2025-03-24T00:00:00Z (end exclusive)",
            "PREVIOUS PERIOD 2025-03-13T10:00:00Z to 2025-03-18T17:00:00Z (end exclusive)",
            "COMPUTED AT log sequence 12",
            "CHECKPOINT truce.example/log, tree size 12",
            "suspended 2025-03-21T12:00:00Z 9",
            "Reading of the start per RU: effective from 2025-03-18T17:00:00Z",
            "in scope 4",
            "indeterminate 1",
            "out of scope 2",
            "previous period 1 in scope (change +3, +300%)",
            "harm fatalities 0/1/2 (low/best/high), injured 3; from 2 reports giving figures",
            "UA 3 alleged 3 unverified 2, disputed 1",
            "RU 1 attributed 1 verified 1",
            "drone-strike 3",
            "gas-distribution 2",
            "RU/Kursk Oblast 3",
            "2025-03-19 2 UA 1, RU 1",
            "r-5 the place is known only to the country",
            "Reading of the start per UA: effective from 2025-03-25T00:00:00Z",
            "out of scope 7",
            "previous period 0 in scope (change +0)",
            "UA denial 2025-03-20T09:00:00Z We did not strike r-1 (disputed)",
            "Reports the scope covers that do not name the agreement: r-4",
            "r-1 (names the agreement)",
            "OCCURRED 2025-03-19T00:00:00Z (day)",
            "PLACE RU / Kursk Oblast / Sudzha (near)",
            "TARGET gas-distribution (metering station)",
            "EXAMINED 9 reports",
            "Annex: 1 report considered, in the order submitted",
            "PERPETRATORS UA (alleged)",
            "EVIDENCE disputed",
            "FINDING per RU in-scope",
            "FINDING per UA out-of-scope: occurred before the start per UA",
            "SOURCE Ministry of Defence https://example.org/mod/1 party-statement",
        ] {
            assert!(s.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
        }
        // The root hash in hex, and the signed note indented line by line.
        assert!(text.contains(&"ab".repeat(32)), "{text}");
        assert!(text.contains("\n    truce.example/log\n    12\n"), "{text}");
        assert!(
            text.contains("=\n\n    \u{2014} truce.example/log"),
            "{text}"
        );
        assert!(
            text.contains("`truce compliance ag-1 --as-of 12`"),
            "{text}"
        );
        assert!(
            text.contains("    \u{2014} truce.example/log AAAAsig="),
            "{text}"
        );
        // The UA reading has nothing in scope: no tables for it.
        let ua = text.split("per UA: effective").nth(1).unwrap_or_default();
        let ua = ua.split("Claims beside").next().unwrap_or_default();
        assert!(!ua.contains("ALLEGED PERPETRATOR"), "{ua}");
    }

    #[test]
    fn an_empty_report_still_renders() {
        let text = compliance_text(&fixture::empty());
        let s = squeezed(&text);
        assert!(s.contains("in scope 0"), "{text}");
        assert!(s.contains("harm no report gives figures"), "{text}");
        assert!(s.contains("Reading of the start agreed by all"), "{text}");
        assert!(s.contains("CHECKPOINT none"), "{text}");
        assert!(s.contains("Annex: none (0 reports examined"), "{text}");
        assert!(compliance_text(&ComplianceReport::default()).contains("log sequence 0"));
    }
}
