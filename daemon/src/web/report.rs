//! The report page: the report's view as of a sequence (now by default),
//! its sources with their grades, the parties' claims about it, and the
//! full history of entries that made it, each with its sequence, recorded
//! time and a link to the page as of that entry.

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Html,
};
use maud::{Markup, html};
use tonic::Request;
use truce_proto::v1::{GetReportRequest, HistoryItem, Report, Source, truce_server::Truce as _};

use super::{
    Web, WebError, auth,
    labels::{label, time},
    layout::{self, Frame, Rendered},
    pages::{AsOf, rendered},
};

pub(crate) async fn report(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<Html<String>, WebError> {
    auth::admit(&web, &headers, "GetReport")?;
    let cp = rendered(&web, 0).await?;
    let at = q.as_of().unwrap_or(cp.checkpoint.tree_size);
    let view = web
        .reads
        .get_report(Request::new(GetReportRequest {
            id: id.clone(),
            as_of_sequence: at,
        }))
        .await?
        .into_inner();
    let rendered = Rendered { sequence: at, ..cp };
    let r = view.report.clone().unwrap_or_default();
    let here = format!("/reports/{}", urlencoding::encode(&id));
    let body = html! {
        h1 { "Report " (r.id) }
        @if let Some(as_of) = q.as_of() {
            p.notice { "As of log sequence " (as_of) ". " a href=(here) { "See it now" } }
        }
        (facts(&r))
        section aria-labelledby="sources-h" {
            h2 #sources-h { "Sources" }
            (sources(&r.sources))
        }
        section aria-labelledby="claims-h" {
            h2 #claims-h { "Claims" }
            @if view.claims.is_empty() { p { "No claims." } }
            ul { @for c in &view.claims {
                li { strong { (c.party) } " " (label(c.kind().as_str_name(), "CLAIM_KIND_"))
                    " (" (time(c.stated_at.as_ref())) "): " (c.statement) }
            } }
        }
        (history(&view.history, rendered.checkpoint.tree_size, &here))
    };
    let frame = Frame {
        live: q.as_of().is_none().then(|| String::from("kinds=report")),
        entries: view.history.iter().map(|h| h.sequence).collect(),
    };
    Ok(Html(layout::page(
        &format!("Report {}", r.id),
        &rendered,
        &frame,
        body,
    )))
}

/// What the report says: when, where, what, who, how sure.
fn facts(r: &Report) -> Markup {
    let loc = r.location.clone().unwrap_or_default();
    html! {
        dl.facts #report-facts {
            dt { "Occurred" } dd { (time(r.occurred.as_ref().and_then(|o| o.start.as_ref())))
                " – " (time(r.occurred.as_ref().and_then(|o| o.end.as_ref())))
                " (" (label(r.occurred.as_ref().map_or("", |o| o.precision().as_str_name()), "TIME_PRECISION_")) ")" }
            dt { "Place" } dd { (loc.place_name) ", " (loc.admin1) ", " (loc.country)
                " (" (label(loc.geo_precision().as_str_name(), "GEO_PRECISION_")) ")" }
            dt { "Event" } dd { (label(r.event_type().as_str_name(), "EVENT_TYPE_")) }
            dt { "Target" } dd { (label(r.target_class().as_str_name(), "TARGET_CLASS_")) " " (r.target_name) }
            dt { "Alleged perpetrator" } dd { (r.alleged_perpetrators.join(", ")) }
            dt { "Reported by" } dd { (r.reported_by) }
            dt { "Attribution" } dd { (label(r.attribution().as_str_name(), "ATTRIBUTION_STATUS_")) }
            dt { "Evidence status" } dd.status { (label(r.evidence_status().as_str_name(), "EVIDENCE_STATUS_")) }
            dt { "Agreements" } dd { @for a in &r.agreement_ids {
                a href={ "/agreements/" (urlencoding::encode(a)) } { (a) } " " } }
            @if !r.notes.is_empty() { dt { "Notes" } dd { (r.notes) } }
        }
    }
}

/// Every entry that made the report, each linking to its proof and to the
/// report as of it.
fn history(history: &[HistoryItem], tree_size: u64, here: &str) -> Markup {
    html! {
        section aria-labelledby="history-h" {
            h2 #history-h { "History" }
            div.table-wrap tabindex="0" role="region" aria-label="History" { table #history {
                caption { "Every entry that made this report, in log order" }
                thead { tr { th scope="col" { "Sequence" } th scope="col" { "Recorded" } th scope="col" { "Kind" }
                    th scope="col" { "Submitter" } th scope="col" { "What it did" } th scope="col" { "View" } } }
                tbody { @for h in history {
                    tr.history-row {
                        td { a href={ "/proof/" (h.sequence) "?tree_size=" (tree_size) }
                            aria-label={ "inclusion proof of entry " (h.sequence) } { (h.sequence) } }
                        td { (time(h.recorded_at.as_ref())) }
                        td { (label(h.kind().as_str_name(), "ENTRY_KIND_")) }
                        td { (h.submitter) }
                        td { (h.summary) }
                        td { a href={ (here) "?as_of=" (h.sequence) } { "as of " (h.sequence) } }
                    }
                } }
            } }
        }
    }
}

fn sources(sources: &[Source]) -> Markup {
    html! {
        @if sources.is_empty() { p { "No sources." } }
        ul { @for s in sources {
            li {
                @if linkable(&s.url) { a href=(s.url) rel="noreferrer" { (s.title) } } @else { (s.title) " " (s.url) }
                " — " (s.publisher) " (" (label(s.kind().as_str_name(), "SOURCE_KIND_")) ")"
                " · reliability " (label(s.reliability().as_str_name(), "SOURCE_RELIABILITY_"))
                " · credibility " (label(s.credibility().as_str_name(), "INFORMATION_CREDIBILITY_"))
            }
        } }
    }
}

/// Only web addresses become links (never `javascript:` or `data:`).
fn linkable(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::linkable;

    #[test]
    fn only_web_addresses_are_links() {
        assert!(linkable("https://example.org/a"));
        assert!(!linkable("javascript:alert(1)"));
        assert!(!linkable(" data:text/html,x"));
        assert!(!linkable(""));
    }
}
