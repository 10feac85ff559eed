//! The report list's exports, for the same filter as the list: report
//! views as JSON Lines (`/reports.jsonl`), a GeoJSON FeatureCollection
//! (`/reports.geojson`) and ACLED CSV (`/reports.csv`), the last two
//! written by the `truce-export` crate that `truce export` uses, so a
//! download here and the command line's agree. Every page of the query
//! is followed (the page token keeps the first page's sequence, so the
//! whole file is one sequence's answer) and streamed: at most
//! [`PAGES_AHEAD`] pages wait for a client that reads slowly. Admitted and
//! read like the list: `QueryReports` through the service.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use tonic::Request;
use truce_proto::v1::{QueryReportsResponse, ReportView, truce_server::Truce as _};

use super::{Web, WebError, auth, params::ReportParams};

/// Pages of an export read ahead of the client at most.
const PAGES_AHEAD: usize = 2;

/// Reports a page of an export reads.
const EXPORT_PAGE: u32 = 500;

/// The formats of the exports.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    /// Report views in proto3 JSON, one a line.
    Jsonl,
    /// A GeoJSON FeatureCollection of report points.
    GeoJson,
    /// ACLED's columns, header first.
    AcledCsv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::GeoJson => "application/geo+json",
            Self::AcledCsv => "text/csv; charset=utf-8",
        }
    }

    fn disposition(self) -> &'static str {
        match self {
            Self::Jsonl => "attachment; filename=\"reports.jsonl\"",
            Self::GeoJson => "attachment; filename=\"reports.geojson\"",
            Self::AcledCsv => "attachment; filename=\"reports.csv\"",
        }
    }

    /// One page of views in this format (`first`: the file's first page).
    fn page(self, views: &[ReportView], first: bool) -> Result<String, String> {
        match self {
            Self::Jsonl => lines(views, serde_json::to_string),
            Self::GeoJson => {
                let features = lines(views, |v| serde_json::to_string(&truce_export::feature(v)))?;
                let joined = features.trim_end().replace('\n', ",\n");
                let lead = if first {
                    "{\"type\":\"FeatureCollection\",\"features\":[\n"
                } else if joined.is_empty() {
                    ""
                } else {
                    ",\n"
                };
                Ok(format!("{lead}{joined}"))
            }
            Self::AcledCsv => {
                let mut out = Vec::new();
                truce_export::write_acled(&mut out, views, first).map_err(|e| e.to_string())?;
                String::from_utf8(out).map_err(|e| e.to_string())
            }
        }
    }

    /// What closes the file after its last page.
    fn tail(self) -> &'static str {
        match self {
            Self::GeoJson => "\n]}\n",
            Self::Jsonl | Self::AcledCsv => "",
        }
    }
}

/// Each view on its own line.
fn lines(
    views: &[ReportView],
    one: impl Fn(&ReportView) -> Result<String, serde_json::Error>,
) -> Result<String, String> {
    let mut out = String::new();
    for v in views {
        out.push_str(&one(v).map_err(|e| e.to_string())?);
        out.push('\n');
    }
    Ok(out)
}

pub(crate) async fn jsonl(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(p): Query<ReportParams>,
) -> Result<Response, WebError> {
    export(web, &headers, &p, Format::Jsonl).await
}

pub(crate) async fn geojson(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(p): Query<ReportParams>,
) -> Result<Response, WebError> {
    export(web, &headers, &p, Format::GeoJson).await
}

pub(crate) async fn acled_csv(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(p): Query<ReportParams>,
) -> Result<Response, WebError> {
    export(web, &headers, &p, Format::AcledCsv).await
}

/// The report list's filter in `format`, every page followed, streamed.
async fn export(
    web: Web,
    headers: &HeaderMap,
    p: &ReportParams,
    format: Format,
) -> Result<Response, WebError> {
    auth::admit(&web, headers, "QueryReports")?;
    let req = p.request(EXPORT_PAGE)?;
    // The first page here, so that a refused filter is an error page.
    let first = web
        .reads
        .query_reports(Request::new(req.clone()))
        .await?
        .into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(PAGES_AHEAD);
    tokio::spawn(follow(web, req, first, format, tx));
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CONTENT_DISPOSITION, format.disposition()),
        ],
        body,
    )
        .into_response())
}

/// Sends `first` and every later page of the query, then the file's tail;
/// an error ends the body early (the client sees a broken download).
async fn follow(
    web: Web,
    mut req: truce_proto::v1::QueryReportsRequest,
    first: QueryReportsResponse,
    format: Format,
    tx: tokio::sync::mpsc::Sender<Result<String, std::io::Error>>,
) {
    let mut page = first;
    let mut is_first = true;
    loop {
        let chunk = format
            .page(&page.reports, is_first)
            .map_err(std::io::Error::other);
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
        is_first = false;
        if page.next_page_token.is_empty() {
            let _ = tx.send(Ok(format.tail().to_owned())).await;
            return;
        }
        req.page_token = std::mem::take(&mut page.next_page_token);
        page = match web.reads.query_reports(Request::new(req.clone())).await {
            Ok(next) => next.into_inner(),
            Err(status) => {
                let _ = tx
                    .send(Err(std::io::Error::other(status.message().to_owned())))
                    .await;
                return;
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use truce_proto::v1::Report;

    fn view(id: &str) -> ReportView {
        ReportView {
            report: Some(Report {
                id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn geojson_pages_join_into_one_collection() {
        let f = Format::GeoJson;
        let mut text = f.page(&[view("a"), view("b")], true).expect("page");
        text.push_str(&f.page(&[], false).expect("empty page"));
        text.push_str(&f.page(&[view("c")], false).expect("page"));
        text.push_str(f.tail());
        let value: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
        let ids: Vec<_> = value["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["id"].clone())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn the_csv_header_comes_once() {
        let f = Format::AcledCsv;
        let text =
            f.page(&[view("a")], true).expect("page") + &f.page(&[view("b")], false).expect("page");
        assert_eq!(text.matches("event_id_cnty").count(), 1, "{text}");
        assert_eq!(text.lines().count(), 3);
    }
}
