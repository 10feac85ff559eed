//! The home page (the agreements), the agreement page (compliance per
//! reading of the start, the map of its reports, per-day counts, claims
//! beside the evidence, status changes) and the report list (filters in
//! the URL, paged, with links to the exports of the same filter,
//! `export.rs`). Each reads through
//! the gRPC service's read methods.

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Html,
};
use maud::{Markup, html};
use serde::Deserialize;
use tokio_stream::StreamExt as _;
use tonic::Request;
use truce_proto::v1::{
    AgreementView, ComplianceReport, ComplianceReportRequest, ComplianceTally, GetAgreementRequest,
    GetCheckpointRequest, ListAgreementsRequest, QueryReportsRequest, ReportFilter, ReportView,
    compliance_report_part::Part, truce_server::Truce as _,
};

use super::{
    Web, WebError, auth,
    labels::{day, label, time},
    layout::{self, Frame, Rendered},
    map,
    params::{PAGE_SIZE, ReportParams},
};

/// Reports counted per agreement on the home page at most (the count is
/// shown as "N+" past it).
const HOME_COUNT_MAX: usize = 5_000;

/// The latest signed checkpoint, for a page read at `sequence`.
pub(crate) async fn rendered(web: &Web, sequence: u64) -> Result<Rendered, WebError> {
    let checkpoint = web
        .reads
        .get_checkpoint(Request::new(GetCheckpointRequest {}))
        .await?
        .into_inner();
    Ok(Rendered {
        sequence,
        checkpoint,
    })
}

/// Every agreement (pages of the listing followed).
async fn agreements(web: &Web) -> Result<(Vec<AgreementView>, u64), WebError> {
    let mut out = Vec::new();
    let mut token = String::new();
    let mut at = 0;
    loop {
        let page = web
            .reads
            .list_agreements(Request::new(ListAgreementsRequest {
                page_size: 100,
                page_token: token,
                ..Default::default()
            }))
            .await?
            .into_inner();
        at = page.as_of_sequence.max(at);
        out.extend(page.agreements);
        if page.next_page_token.is_empty() || out.len() >= 1_000 {
            return Ok((out, at));
        }
        token = page.next_page_token;
    }
}

/// Reports that name the agreement, counted by evidence status, as of
/// `at` (the sequence the page's agreements were read at).
async fn evidence_counts(
    web: &Web,
    id: &str,
    at: u64,
) -> Result<(Vec<(String, usize)>, bool), WebError> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut token = String::new();
    let mut seen = 0;
    loop {
        let page = web
            .reads
            .query_reports(Request::new(QueryReportsRequest {
                filter: Some(ReportFilter {
                    agreement_id: id.to_owned(),
                    ..Default::default()
                }),
                page_size: 500,
                page_token: token,
                as_of_sequence: at,
            }))
            .await?
            .into_inner();
        for v in &page.reports {
            let status = v.report.as_ref().map(|r| r.evidence_status().as_str_name());
            *counts
                .entry(label(status.unwrap_or(""), "EVIDENCE_STATUS_"))
                .or_default() += 1;
        }
        seen += page.reports.len();
        if page.next_page_token.is_empty() {
            return Ok((counts.into_iter().collect(), false));
        }
        if seen >= HOME_COUNT_MAX {
            return Ok((counts.into_iter().collect(), true));
        }
        token = page.next_page_token;
    }
}

fn parties(a: &AgreementView) -> String {
    a.agreement
        .as_ref()
        .map(|a| {
            a.parties
                .iter()
                .map(|p| {
                    format!(
                        "{} ({})",
                        p.party,
                        label(p.role().as_str_name(), "PARTY_ROLE_")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The agreement's window: each reading of its start, and the expiry.
fn window(a: &AgreementView) -> Markup {
    let Some(agreement) = &a.agreement else {
        return html! {};
    };
    html! {
        span.window {
            @for (i, from) in agreement.effective_from.iter().enumerate() {
                @if i > 0 { "; " }
                "from " (time(from.at.as_ref())) " per " (from.party)
            }
            " — until " (time(agreement.expires_at.as_ref()))
        }
    }
}

pub(crate) async fn home(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Html<String>, WebError> {
    auth::admit(&web, &headers, "ListAgreements")?;
    let (list, at) = agreements(&web).await?;
    let mut rows = Vec::new();
    for a in &list {
        let id = a
            .agreement
            .as_ref()
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let counts = evidence_counts(&web, &id, at).await?;
        rows.push((a, id, counts));
    }
    let rendered = rendered(&web, at).await?;
    let body = html! {
        h1 { "Agreements" }
        @if rows.is_empty() { p { "The log holds no agreement yet." } }
        div.table-wrap tabindex="0" role="region" aria-label="Agreements" { table {
            caption { "Agreements with their status and the alleged violations reported against them" }
            thead { tr { th scope="col" { "Agreement" } th scope="col" { "Status" } th scope="col" { "Parties" }
                th scope="col" { "Window" } th scope="col" { "Alleged violations by evidence status" } } }
            tbody {
                @for (a, id, (counts, capped)) in &rows {
                    tr.agreement-row {
                        td { a href={ "/agreements/" (urlencoding::encode(id)) } {
                            (a.agreement.as_ref().map(|a| a.title.as_str()).unwrap_or(id)) } }
                        td.status { (label(a.status().as_str_name(), "AGREEMENT_STATUS_")) }
                        td { (parties(a)) }
                        td { (window(a)) }
                        td { @if counts.is_empty() { "none" }
                            ul { @for (status, n) in counts {
                                li { a href={ "/reports?agreement=" (urlencoding::encode(id)) "&evidence=" (status) } {
                                    (status) ": " (n) @if *capped { "+" } } }
                            } } }
                    }
                }
            }
        } }
    };
    let frame = Frame {
        live: Some(String::new()),
        entries: Vec::new(),
    };
    Ok(Html(layout::page("Agreements", &rendered, &frame, body)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AsOf {
    #[serde(default)]
    as_of: Option<u64>,
}

impl AsOf {
    /// The sequence asked for (None: now).
    pub(crate) fn as_of(&self) -> Option<u64> {
        self.as_of.filter(|s| *s > 0)
    }
}

/// Reports drawn on an agreement's map at most.
const MAP_MAX: u32 = 500;

/// The reports that name the agreement as of `at` (the sequence the rest
/// of the page reads), for its map: the first [`MAP_MAX`], and whether
/// there are more.
async fn map_reports(
    web: &Web,
    id: &str,
    at: u64,
) -> Result<(Vec<truce_proto::v1::Report>, bool), WebError> {
    let page = web
        .reads
        .query_reports(Request::new(QueryReportsRequest {
            filter: Some(ReportFilter {
                agreement_id: id.to_owned(),
                ..Default::default()
            }),
            page_size: MAP_MAX,
            as_of_sequence: at,
            ..Default::default()
        }))
        .await?
        .into_inner();
    let more = !page.next_page_token.is_empty();
    Ok((
        page.reports.into_iter().filter_map(|v| v.report).collect(),
        more,
    ))
}

/// The compliance report at `at`: kept, or computed and kept.
async fn compliance(
    web: &Web,
    id: &str,
    at: u64,
) -> Result<std::sync::Arc<ComplianceReport>, WebError> {
    if let Some(kept) = web.compliance.get(id, at) {
        return Ok(kept);
    }
    let report = std::sync::Arc::new(compute_compliance(web, id, at).await?);
    web.compliance
        .put(id, report.as_of_sequence, std::sync::Arc::clone(&report));
    Ok(report)
}

/// The compliance report (without its annex: the page shows the counts).
async fn compute_compliance(web: &Web, id: &str, at: u64) -> Result<ComplianceReport, WebError> {
    let mut stream = web
        .reads
        .get_compliance_report(Request::new(ComplianceReportRequest {
            agreement_id: id.to_owned(),
            as_of_sequence: at,
            without_annex: true,
            ..Default::default()
        }))
        .await?
        .into_inner();
    let mut annex = Vec::new();
    while let Some(part) = stream.next().await {
        match part?.part {
            Some(Part::Annex(page)) => annex.extend(page.entries),
            Some(Part::Report(mut report)) => {
                report.annex = annex;
                return Ok(report);
            }
            None => {}
        }
    }
    Err(WebError::Read(tonic::Status::unavailable(
        "the compliance report ended early; reload",
    )))
}

pub(crate) async fn agreement(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<Html<String>, WebError> {
    auth::admit(&web, &headers, "GetComplianceReport")?;
    let cp = rendered(&web, 0).await?;
    let at = q.as_of().unwrap_or(cp.checkpoint.tree_size);
    let view = web
        .reads
        .get_agreement(Request::new(GetAgreementRequest {
            id: id.clone(),
            as_of_sequence: at,
        }))
        .await?
        .into_inner();
    let report = compliance(&web, &id, at).await?;
    let rendered = Rendered {
        sequence: report.as_of_sequence,
        ..cp
    };
    let title = view
        .agreement
        .as_ref()
        .map_or(id.clone(), |a| a.title.clone());
    let (reports, more) = map_reports(&web, &id, report.as_of_sequence).await?;
    let body = html! {
        h1 #agreement-title { (title) }
        p { "Status: " span.status { (label(view.status().as_str_name(), "AGREEMENT_STATUS_")) }
            " · Parties: " (parties(&view)) }
        p #agreement-window { "Window: " (window(&view)) }
        @if q.as_of().is_some() { p.notice { "As of log sequence " (at) ". " a href={ "/agreements/" (urlencoding::encode(&id)) } { "See it now" } } }
        section aria-labelledby="compliance-h" {
            h2 #compliance-h { "Compliance per reading of the start" }
            (tallies(&report.tallies))
        }
        section.map aria-labelledby="map-h" {
            h2 #map-h { "Map of its reports" }
            (layout::svg(map::draw(&reports)))
            @if more { p.notice { "The map shows the first " (reports.len()) " reports that name the agreement; the list has them all." } }
            p { a href={ "/reports?agreement=" (urlencoding::encode(&id)) } { "The same reports as a list" } }
        }
        section aria-labelledby="days-h" {
            h2 #days-h { "In scope per day" }
            (timelines(&report))
            details { summary { "The same counts as tables" } (per_day(&report.tallies)) }
        }
        section aria-labelledby="claims-h" {
            h2 #claims-h { "Claims beside the evidence" }
            (claims(&report))
        }
        section aria-labelledby="status-h" {
            h2 #status-h { "Status changes" }
            ul { @for s in &view.statuses {
                li { (label(s.status().as_str_name(), "AGREEMENT_STATUS_")) " from " (time(s.effective_at.as_ref()))
                    " (entry " a href={ "/proof/" (s.sequence) "?tree_size=" (rendered.checkpoint.tree_size) } { (s.sequence) } ")" }
            } }
        }
    };
    let frame = Frame {
        live: q
            .as_of()
            .is_none()
            .then(|| format!("agreement={}", urlencoding::encode(&id))),
        entries: view.history.iter().map(|h| h.sequence).collect(),
    };
    Ok(Html(layout::page(&title, &rendered, &frame, body)))
}

/// In scope, indeterminate and out of scope under each reading, with the
/// in-scope reports by alleged perpetrator: the figures of
/// `truce compliance`.
fn tallies(tallies: &[ComplianceTally]) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Reports under each reading" { table #tallies {
            caption { "Reports under each reading of the agreement's start" }
            thead { tr { th scope="col" { "Reading" } th scope="col" { "Start" } th scope="col" { "In scope" }
                th scope="col" { "By alleged perpetrator" } th scope="col" { "Indeterminate" } th scope="col" { "Out of scope" } } }
            tbody { @for t in tallies {
                @let current = t.current.clone().unwrap_or_default();
                tr data-reading=(t.reading) {
                    th scope="row" { (t.reading) }
                    td { (time(t.effective_from.as_ref())) }
                    td.in-scope { (current.in_scope) }
                    td { @for p in &current.by_perpetrator {
                        (p.party) ": " (p.total) " "
                        @for e in &p.by_evidence { "(" (label(&e.key, "EVIDENCE_STATUS_")) " " (e.count) ") " }
                    } }
                    td.indeterminate { (t.indeterminate)
                        @for r in &t.indeterminate_reports {
                            br; a href={ "/reports/" (urlencoding::encode(&r.report_id)) } { (r.report_id) } ": " (r.reasons.join("; "))
                        } }
                    td.out-of-scope { (t.out_of_scope) }
                }
            } }
        } }
    }
}

/// The per-day timeline of each reading: the chart `truce compliance
/// --svg` draws (truce-chart).
fn timelines(report: &ComplianceReport) -> Markup {
    html! {
        @for t in &report.tallies {
            figure.timeline {
                @match truce_chart::timeline::timeline_svg(report, Some(&t.reading)) {
                    Ok(svg) => div role="img" aria-label={ "Per-day timeline under reading " (t.reading) } { (layout::svg(svg)) },
                    Err(e) => p.notice { (e.to_string()) },
                }
                figcaption { "Reading " (t.reading) ": in-scope alleged violations per day, by alleged perpetrator" }
            }
        }
    }
}

/// The per-day counts of each reading, as a table.
fn per_day(tallies: &[ComplianceTally]) -> Markup {
    html! {
        @for t in tallies {
            @let days = t.current.as_ref().map(|c| c.per_day.clone()).unwrap_or_default();
            div.table-wrap tabindex="0" role="region" aria-label={ "Per day, reading " (t.reading) } { table {
                caption { "Reading " (t.reading) }
                thead { tr { th scope="col" { "Day" } th scope="col" { "In scope" } th scope="col" { "By alleged perpetrator" } } }
                tbody {
                    @if days.is_empty() { tr { td colspan="3" { "none in scope" } } }
                    @for d in &days { tr { td { (d.day) } td { (d.total) }
                        td { @for p in &d.by_perpetrator { (p.key) ": " (p.count) " " } } } }
                }
            } }
        }
    }
}

fn claims(report: &ComplianceReport) -> Markup {
    html! {
        @if report.claims.is_empty() { p { "No claims." } }
        div.table-wrap tabindex="0" role="region" aria-label="Claims" { table #claims {
            caption { "The parties' claims, with the evidence status of the reports each names" }
            @if !report.claims.is_empty() {
                thead { tr { th scope="col" { "Party" } th scope="col" { "Claim" } th scope="col" { "Stated" }
                    th scope="col" { "Statement" } th scope="col" { "Evidence status of the reports it names" } } }
            }
            tbody { @for c in &report.claims {
                @let claim = c.claim.clone().unwrap_or_default();
                tr {
                    td { (claim.party) }
                    td { (label(claim.kind().as_str_name(), "CLAIM_KIND_")) }
                    td { (day(claim.stated_at.as_ref())) }
                    td { (claim.statement) }
                    td { @for r in &c.reports {
                        a href={ "/reports/" (urlencoding::encode(&r.report_id)) } { (r.report_id) }
                        ": " (label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_")) br;
                    } }
                }
            } }
        } }
    }
}

pub(crate) async fn reports(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(p): Query<ReportParams>,
) -> Result<Html<String>, WebError> {
    auth::admit(&web, &headers, "QueryReports")?;
    let req = p.request(PAGE_SIZE)?;
    let page = web
        .reads
        .query_reports(Request::new(req))
        .await?
        .into_inner();
    let rendered = rendered(&web, page.as_of_sequence).await?;
    let filter = p.query(false);
    let body = html! {
        h1 { "Reports" }
        (filter_form(&p))
        p #exports { "Export this filter: "
            a href={ "/reports.jsonl?" (filter) } download { "JSON Lines" } " · "
            a href={ "/reports.geojson?" (filter) } download { "GeoJSON" } " · "
            a href={ "/reports.csv?" (filter) } download { "ACLED CSV" } }
        div.table-wrap tabindex="0" role="region" aria-label="Reports" { table #report-list {
            caption { (page.reports.len()) " reports on this page" }
            thead { tr { th scope="col" { "Report" } th scope="col" { "Occurred" } th scope="col" { "Place" }
                th scope="col" { "Type" } th scope="col" { "Target" } th scope="col" { "Alleged perpetrator" }
                th scope="col" { "Evidence" } } }
            tbody { @for v in &page.reports { (report_row(v)) } }
        } }
        @if !page.next_page_token.is_empty() {
            p { a rel="next" href={ "/reports?" (filter) @if !filter.is_empty() { "&" } "page=" (urlencoding::encode(&page.next_page_token)) } { "Next page" } }
        }
    };
    let frame = Frame {
        live: Some(filter.clone()),
        entries: Vec::new(),
    };
    Ok(Html(layout::page("Reports", &rendered, &frame, body)))
}

fn report_row(v: &ReportView) -> Markup {
    let r = v.report.clone().unwrap_or_default();
    let loc = r.location.clone().unwrap_or_default();
    html! {
        tr.report-row {
            td { a href={ "/reports/" (urlencoding::encode(&r.id)) } { (r.id) } }
            td { (day(r.occurred.as_ref().and_then(|o| o.start.as_ref()))) }
            td { (loc.country) " " (loc.admin1) }
            td { (label(r.event_type().as_str_name(), "EVENT_TYPE_")) }
            td { (label(r.target_class().as_str_name(), "TARGET_CLASS_")) }
            td { (r.alleged_perpetrators.join(", ")) }
            td { (label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_")) }
        }
    }
}

fn filter_form(p: &ReportParams) -> Markup {
    let field = |name: &str, text: &str, value: &str, hint: &str| {
        html! { div {
            label for={ "f-" (name) } { (text) }
            input id={ "f-" (name) } name=(name) value=(value) placeholder=(hint);
        } }
    };
    html! {
        form.filters method="get" action="/reports" aria-label="Filters" {
            (field("agreement", "Agreement id", &p.agreement, ""))
            (field("perpetrator", "Alleged perpetrator", &p.perpetrator, "UA"))
            (field("type", "Event type", &p.event_type, "drone-strike"))
            (field("target", "Target class", &p.target, "gas-distribution"))
            (field("country", "Country", &p.country, "RU"))
            (field("admin1", "Region (admin1)", &p.admin1, "Kursk Oblast"))
            (field("evidence", "Evidence status", &p.evidence, "disputed"))
            (field("since", "Occurred since", &p.since, "2025-03-18"))
            (field("until", "Occurred until", &p.until, "2025-04-17"))
            (field("bbox", "Bounding box", &p.bbox, "south,west,north,east"))
            div { button type="submit" { "Filter" } }
        }
    }
}
