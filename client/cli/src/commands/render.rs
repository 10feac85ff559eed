//! Output: aligned tables for people, JSON Lines (proto3 JSON mapping) for
//! programs.

use std::io::Write;

use sha2::{Digest, Sha256};
use tabwriter::TabWriter;
use truce_proto::v1::{
    AgreementView, Claim, Entry, GetEntryResponse, HistoryItem, Receipt, ReportView, StatusChange,
    entry::Payload, status_change,
};

use super::{
    CliError,
    terminal::{self, Escaping},
};
use truce_client::Client;

use crate::time;

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

pub(crate) fn json_line<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let line = serde_json::to_string(value)
        .map_err(|e| CliError::Usage(format!("cannot print as JSON: {e}")))?;
    writeln!(terminal::stdout(), "{line}")?;
    Ok(())
}

/// Strips an enum's type prefix and lower-cases it for tables:
/// `EVENT_TYPE_DRONE_STRIKE` → `drone-strike` (the label the flags take).
pub fn enum_label(name: &str, prefix: &str) -> String {
    super::values::label(name, prefix)
}

/// Says on stderr that a listing found nothing (human mode only: JSON
/// Lines stay empty), so an empty table is not mistaken for an answer.
fn say_empty(what: &str) {
    terminal::eprintln(format_args!("truce: {what}"));
}

/// The line that marks a view read as of a sequence.
fn as_of_line(as_of: u64) -> String {
    if as_of == 0 {
        String::new()
    } else {
        format!("sequence {as_of}: the view as it stood then, not now")
    }
}

/// Prints receipts as they come: JSON at once, tables at the end.
pub struct ReceiptPrinter {
    json: bool,
    rows: Vec<String>,
}

impl ReceiptPrinter {
    pub fn print(&mut self, line: Option<usize>, r: &Receipt) -> Result<(), CliError> {
        if self.json {
            return json_line(r);
        }
        let line = line.map_or_else(String::new, |n| format!("{n}\t"));
        self.rows.push(format!(
            "{line}{}\t{}\t{}\t{}",
            r.sequence,
            r.record_id,
            time::format(r.recorded_at.as_ref()),
            if r.duplicate { "yes" } else { "no" }
        ));
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), CliError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let header = if self.rows[0].split('\t').count() == 5 {
            "LINE\tSEQUENCE\tRECORD\tRECORDED AT\tDUPLICATE"
        } else {
            "SEQUENCE\tRECORD\tRECORDED AT\tDUPLICATE"
        };
        let rows = std::mem::take(&mut self.rows);
        table(header, &rows)
    }
}

fn table(header: &str, rows: &[String]) -> Result<(), CliError> {
    let mut tw = Escaping::new(TabWriter::new(std::io::stdout().lock()).padding(2));
    writeln!(tw, "{header}")?;
    for row in rows {
        writeln!(tw, "{row}")?;
    }
    tw.flush()?;
    Ok(())
}

fn fields(rows: &[(&str, String)]) -> Result<(), CliError> {
    let mut tw = Escaping::new(TabWriter::new(std::io::stdout().lock()).padding(2));
    for (k, v) in rows {
        if !v.is_empty() {
            writeln!(tw, "{k}\t{v}")?;
        }
    }
    tw.flush()?;
    Ok(())
}

fn join<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn receipt_printer(&self) -> ReceiptPrinter {
        ReceiptPrinter {
            json: self.json,
            rows: Vec::new(),
        }
    }

    pub fn receipts(&self, receipts: &[(Option<usize>, Receipt)]) -> Result<(), CliError> {
        let mut p = self.receipt_printer();
        for (line, r) in receipts {
            p.print(*line, r)?;
        }
        p.flush()
    }

    pub fn scope(&self, r: &truce_proto::v1::AssessScopeResponse) -> Result<(), CliError> {
        if self.json {
            return json_line(r);
        }
        let rows: Vec<String> = r
            .assessments
            .iter()
            .map(|a| {
                format!(
                    "{}\t{}\t{}",
                    if a.reading.is_empty() {
                        "all"
                    } else {
                        &a.reading
                    },
                    enum_label(a.finding().as_str_name(), "COMPLIANCE_FINDING_"),
                    a.reasons.join("; ")
                )
            })
            .collect();
        table("READING\tFINDING\tREASONS", &rows)
    }

    pub fn agreements_covering(
        &self,
        r: &truce_proto::v1::FindAgreementsResponse,
    ) -> Result<(), CliError> {
        if self.json {
            return json_line(r);
        }
        let rows: Vec<String> = r
            .matches
            .iter()
            .flat_map(|m| {
                m.assessments.iter().map(move |a| {
                    format!(
                        "{}	{}	{}	{}	{}",
                        m.agreement_id,
                        if m.linked { "yes" } else { "no" },
                        if a.reading.is_empty() {
                            "all"
                        } else {
                            &a.reading
                        },
                        enum_label(a.finding().as_str_name(), "COMPLIANCE_FINDING_"),
                        a.reasons.join("; ")
                    )
                })
            })
            .collect();
        table("AGREEMENT\tNAMED\tREADING\tFINDING\tREASONS", &rows)?;
        writeln!(
            terminal::stdout(),
            "{} of {} agreements cover it (at sequence {})",
            r.matches.len(),
            r.assessed,
            r.as_of_sequence
        )?;
        Ok(())
    }

    pub fn report_list(&self, views: &[ReportView]) -> Result<(), CliError> {
        if self.json {
            return views.iter().try_for_each(json_line);
        }
        if views.is_empty() {
            say_empty("no reports match");
            return Ok(());
        }
        let rows: Vec<String> = views
            .iter()
            .filter_map(|v| v.report.as_ref())
            .map(|r| {
                let loc = r.location.clone().unwrap_or_default();
                let place = [loc.admin1.as_str(), loc.country.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    time::format(r.occurred.as_ref().and_then(|o| o.start.as_ref())),
                    enum_label(r.event_type().as_str_name(), "EVENT_TYPE_"),
                    enum_label(r.target_class().as_str_name(), "TARGET_CLASS_"),
                    place,
                    join(&r.alleged_perpetrators),
                    r.reported_by,
                    enum_label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_"),
                )
            })
            .collect();
        table(
            "ID\tOCCURRED\tTYPE\tTARGET\tWHERE\tPERPETRATOR\tREPORTED BY\tEVIDENCE",
            &rows,
        )
    }

    pub fn agreement_list(&self, views: &[AgreementView]) -> Result<(), CliError> {
        if self.json {
            return views.iter().try_for_each(json_line);
        }
        if views.is_empty() {
            say_empty("no agreements match");
            return Ok(());
        }
        let rows: Vec<String> = views
            .iter()
            .filter_map(|v| v.agreement.as_ref().map(|a| (v, a)))
            .map(|(v, a)| {
                let parties: Vec<&str> = a.parties.iter().map(|p| p.party.as_str()).collect();
                let status = if v.status == 0 {
                    "-".to_owned()
                } else {
                    enum_label(v.status().as_str_name(), "AGREEMENT_STATUS_")
                };
                format!(
                    "{}\t{}\t{}\t{}\t{}",
                    a.id,
                    join(&parties),
                    status,
                    time::format(a.expires_at.as_ref()),
                    a.title.replace(['\t', '\n'], " "),
                )
            })
            .collect();
        table("ID\tPARTIES\tSTATUS\tEXPIRES\tTITLE", &rows)
    }

    pub fn agreement(
        &self,
        view: &AgreementView,
        history: bool,
        as_of: u64,
    ) -> Result<(), CliError> {
        if self.json {
            return json_line(view);
        }
        let Some(a) = &view.agreement else {
            return Ok(());
        };
        let protected: Vec<String> = a
            .scope
            .iter()
            .flat_map(|s| {
                s.protected_targets()
                    .map(|t| enum_label(t.as_str_name(), "TARGET_CLASS_"))
            })
            .collect();
        let sources: Vec<&str> = a.sources.iter().map(source_name).collect();
        let created = view.created.clone().unwrap_or_default();
        fields(&[
            ("AS OF", as_of_line(as_of)),
            ("ID", a.id.clone()),
            ("TITLE", a.title.clone()),
            ("PARTIES", parties_text(&a.parties)),
            (
                "FORM",
                enum_label(a.form().as_str_name(), "AGREEMENT_FORM_"),
            ),
            (
                "PURPOSE",
                enum_label(a.purpose().as_str_name(), "AGREEMENT_PURPOSE_"),
            ),
            ("DECLARED", time::format(a.declared_at.as_ref())),
            ("EFFECTIVE FROM", effective_text(&a.effective_from)),
            ("EXPIRES", time::format(a.expires_at.as_ref())),
            ("PROTECTS", join(&protected)),
            (
                "RECIPROCAL",
                if a.reciprocal {
                    "yes".into()
                } else {
                    "no".into()
                },
            ),
            ("SOURCES", join(&sources)),
            ("SUPERSEDES", a.supersedes.clone()),
            ("STATUS", status_text(view)),
            ("SUPERSEDED BY", view.superseded_by.clone()),
            (
                "RECORDED",
                format!(
                    "sequence {} at {}",
                    created.sequence,
                    time::format(created.recorded_at.as_ref())
                ),
            ),
        ])?;
        claims(&view.claims)?;
        if history {
            history_table(&view.history)?;
        }
        Ok(())
    }

    pub fn report(&self, view: &ReportView, history: bool, as_of: u64) -> Result<(), CliError> {
        if self.json {
            return json_line(view);
        }
        let Some(r) = &view.report else {
            return Ok(());
        };
        let occurred = r.occurred.unwrap_or_default();
        let sources: Vec<&str> = r.sources.iter().map(source_name).collect();
        let findings: Vec<String> = view
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} vs {}",
                    enum_label(f.finding().as_str_name(), "COMPLIANCE_FINDING_"),
                    f.agreement_id
                )
            })
            .collect();
        let created = view.created.clone().unwrap_or_default();
        fields(&[
            ("AS OF", as_of_line(as_of)),
            ("ID", r.id.clone()),
            ("AGREEMENTS", join(&r.agreement_ids)),
            (
                "TYPE",
                enum_label(r.event_type().as_str_name(), "EVENT_TYPE_"),
            ),
            (
                "OCCURRED",
                format!(
                    "{} .. {} ({})",
                    time::format(occurred.start.as_ref()),
                    time::format(occurred.end.as_ref().or(occurred.start.as_ref())),
                    enum_label(occurred.precision().as_str_name(), "TIME_PRECISION_")
                ),
            ),
            ("WHERE", place_text(&r.location.clone().unwrap_or_default())),
            (
                "TARGET",
                format!(
                    "{} {}",
                    enum_label(r.target_class().as_str_name(), "TARGET_CLASS_"),
                    r.target_name
                )
                .trim()
                .to_owned(),
            ),
            ("PERPETRATOR", join(&r.alleged_perpetrators)),
            ("REPORTED BY", r.reported_by.clone()),
            (
                "ATTRIBUTION",
                enum_label(r.attribution().as_str_name(), "ATTRIBUTION_STATUS_"),
            ),
            (
                "EVIDENCE",
                enum_label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_"),
            ),
            ("HARM", harm_text(&r.harm.unwrap_or_default())),
            ("SOURCES", join(&sources)),
            ("DUPLICATE OF", view.duplicate_of.clone()),
            ("FINDINGS", join(&findings)),
            ("NOTES", r.notes.clone()),
            (
                "RECORDED",
                format!(
                    "sequence {} at {} by {}",
                    created.sequence,
                    time::format(created.recorded_at.as_ref()),
                    created.submitter
                ),
            ),
        ])?;
        claims(&view.claims)?;
        if history {
            history_table(&view.history)?;
        }
        Ok(())
    }
}

/// An agreement's parties with their roles.
fn parties_text(parties: &[truce_proto::v1::AgreementParty]) -> String {
    let parties: Vec<String> = parties
        .iter()
        .map(|p| {
            format!(
                "{} ({})",
                p.party,
                enum_label(p.role().as_str_name(), "PARTY_ROLE_")
            )
        })
        .collect();
    join(&parties)
}

/// The readings of when an agreement takes effect, each with its party
/// ("all": agreed by all).
fn effective_text(readings: &[truce_proto::v1::EffectiveFrom]) -> String {
    let effective: Vec<String> = readings
        .iter()
        .map(|e| {
            let who = if e.party.is_empty() { "all" } else { &e.party };
            format!("{} per {who}", time::format(e.at.as_ref()))
        })
        .collect();
    join(&effective)
}

/// Where a report's event happened: place, region, country, and the
/// coordinates when given.
fn place_text(loc: &truce_proto::v1::Location) -> String {
    let place = [
        loc.place_name.as_str(),
        loc.admin1.as_str(),
        loc.country.as_str(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(", ");
    match (loc.latitude, loc.longitude) {
        (Some(lat), Some(lon)) => format!("{place} ({lat}, {lon})"),
        _ => place,
    }
}

/// A report's casualty figures ("?" for a figure not given), or nothing
/// when none is.
fn harm_text(harm: &truce_proto::v1::Harm) -> String {
    if *harm == Default::default() {
        return String::new();
    }
    let n = |v: Option<u32>| v.map_or("?".to_owned(), |v| v.to_string());
    format!(
        "fatalities {}/{}/{} (low/best/high), injured {}",
        n(harm.fatalities_low),
        n(harm.fatalities_best),
        n(harm.fatalities_high),
        n(harm.injured)
    )
}

fn source_name(s: &truce_proto::v1::Source) -> &str {
    if s.url.is_empty() {
        &s.identifier
    } else {
        &s.url
    }
}

fn status_text(view: &AgreementView) -> String {
    if view.status == 0 {
        return "no status change recorded".into();
    }
    format!(
        "{} since {}",
        enum_label(view.status().as_str_name(), "AGREEMENT_STATUS_"),
        time::format(view.status_effective_at.as_ref())
    )
}

fn claims(claims: &[Claim]) -> Result<(), CliError> {
    if claims.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = claims
        .iter()
        .map(|c| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                c.id,
                c.party,
                enum_label(c.kind().as_str_name(), "CLAIM_KIND_"),
                time::format(c.stated_at.as_ref()),
                c.statement.replace(['\t', '\n'], " ")
            )
        })
        .collect();
    writeln!(terminal::stdout())?;
    table("CLAIM\tPARTY\tKIND\tSTATED AT\tSTATEMENT", &rows)
}

fn history_table(history: &[HistoryItem]) -> Result<(), CliError> {
    let rows: Vec<String> = history
        .iter()
        .map(|h| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                h.sequence,
                time::format(h.recorded_at.as_ref()),
                enum_label(h.kind().as_str_name(), "ENTRY_KIND_"),
                h.submitter,
                h.summary.replace(['\t', '\n'], " ")
            )
        })
        .collect();
    writeln!(terminal::stdout())?;
    table("SEQUENCE\tRECORDED AT\tKIND\tSUBMITTER\tSUMMARY", &rows)
}

/// One entry as a fixed-width line, for streams (no table to align).
pub fn entry_row(entry: &Entry) -> String {
    let summary = match &entry.payload {
        Some(Payload::Agreement(a)) => a.title.clone(),
        Some(Payload::Report(r)) => format!(
            "{} {} by {}",
            enum_label(r.event_type().as_str_name(), "EVENT_TYPE_"),
            r.location.as_ref().map_or("", |l| l.admin1.as_str()),
            r.alleged_perpetrators.join(",")
        ),
        Some(Payload::Claim(c)) => format!(
            "{} {}",
            c.party,
            enum_label(c.kind().as_str_name(), "CLAIM_KIND_")
        ),
        Some(Payload::Status(s)) => format!("{}: {}", status_change_text(s), s.reason),
        Some(Payload::Source(a)) => a
            .source
            .as_ref()
            .map_or(String::new(), |s| source_name(s).to_owned()),
        Some(Payload::Correction(c)) => c.reason.clone(),
        None => String::new(),
    };
    format!(
        "{:<9} {:<30} {:<10} {:<30} {}",
        entry.sequence,
        time::format(entry.recorded_at.as_ref()),
        kind_of(entry),
        entry.record_id,
        summary.replace(['\t', '\n'], " ")
    )
}

/// What a status change sets: `evidence disputed`, `status extended to
/// 2025-05-17T00:00:00Z`, `finding in-scope for AGREEMENT`.
pub fn status_change_text(s: &StatusChange) -> String {
    match &s.change {
        Some(status_change::Change::Evidence(e)) => {
            let mut text = format!(
                "evidence {}",
                enum_label(e.status().as_str_name(), "EVIDENCE_STATUS_")
            );
            if !e.duplicate_of.is_empty() {
                text.push_str(&format!(" of {}", e.duplicate_of));
            }
            text
        }
        Some(status_change::Change::Agreement(a)) => {
            let mut text = format!(
                "status {}",
                enum_label(a.status().as_str_name(), "AGREEMENT_STATUS_")
            );
            if a.new_expires_at.is_some() {
                text.push_str(&format!(" to {}", time::format(a.new_expires_at.as_ref())));
            }
            if !a.superseded_by.is_empty() {
                text.push_str(&format!(" by {}", a.superseded_by));
            }
            text
        }
        Some(status_change::Change::Compliance(c)) => format!(
            "finding {} for {}",
            enum_label(c.finding().as_str_name(), "COMPLIANCE_FINDING_"),
            c.agreement_id
        ),
        None => "status".to_owned(),
    }
}

fn kind_of(entry: &Entry) -> &'static str {
    match entry.payload {
        Some(Payload::Agreement(_)) => "agreement",
        Some(Payload::Report(_)) => "report",
        Some(Payload::Claim(_)) => "claim",
        Some(Payload::Status(_)) => "status",
        Some(Payload::Source(_)) => "source",
        Some(Payload::Correction(_)) => "correction",
        None => "?",
    }
}

/// `truce log`: pages through the raw log; each entry is decoded from its
/// stored bytes, and its SHA-256 is computed here from those bytes.
pub async fn log(client: &Client, out: &Output, from: u64, limit: u64) -> Result<(), CliError> {
    let mut next = from.max(1);
    let mut printed = 0u64;
    let mut rows = Vec::new();
    'pages: loop {
        let page = client.read_log(next, 1000).await?;
        if page.entries.is_empty() {
            break;
        }
        for raw in page.entries {
            if limit > 0 && printed >= limit {
                break 'pages;
            }
            let entry = truce_client::decode_entry(&raw)?;
            if out.json {
                json_line(&GetEntryResponse {
                    entry: Some(entry),
                    raw: raw.entry,
                })?;
            } else {
                rows.push(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    entry.sequence,
                    time::format(entry.recorded_at.as_ref()),
                    kind_of(&entry),
                    entry.record_id,
                    entry.request_id,
                    hex::encode(Sha256::digest(&raw.entry)),
                ));
            }
            printed += 1;
        }
        next = page.next_sequence;
    }
    if !out.json {
        table(
            "SEQUENCE\tRECORDED AT\tKIND\tRECORD\tREQUEST\tSHA-256 OF STORED BYTES",
            &rows,
        )?;
    }
    Ok(())
}

/// `truce changes`: the entries in (after, until] and what they touched.
pub async fn changes(
    client: &Client,
    out: &Output,
    after: u64,
    until: u64,
) -> Result<(), CliError> {
    let mut next = after;
    let mut rows = Vec::new();
    loop {
        let page = client.list_changes(next, until, 1000).await?;
        if page.changes.is_empty() {
            break;
        }
        for c in &page.changes {
            if out.json {
                json_line(c)?;
            } else if let Some(e) = &c.entry {
                rows.push(format!(
                    "{}\t{}\t{}\t{}\t{}",
                    e.sequence,
                    time::format(e.recorded_at.as_ref()),
                    enum_label(e.kind().as_str_name(), "ENTRY_KIND_"),
                    c.touched.join(", "),
                    e.summary.replace(['\t', '\n'], " ")
                ));
            }
        }
        if page.next_after >= page.until_sequence {
            break;
        }
        next = page.next_after;
    }
    if !out.json {
        if rows.is_empty() {
            say_empty("no entries in that range");
            return Ok(());
        }
        table("SEQUENCE\tRECORDED AT\tKIND\tTOUCHED\tSUMMARY", &rows)?;
    }
    Ok(())
}
