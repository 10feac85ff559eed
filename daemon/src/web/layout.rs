//! The frame of every page: the header and navigation, the footer that
//! names the log sequence and the signed checkpoint the page was rendered
//! at (with the verifier key and the command that checks it), the error
//! pages, and our own stylesheet and script (no third-party CSS or JS;
//! every page works without the script).

use axum::{
    http::{StatusCode, header},
    response::IntoResponse,
};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use truce_proto::v1::Checkpoint;

/// What a page was rendered at.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The log sequence the page's reads were answered at.
    pub sequence: u64,
    /// The latest signed checkpoint (its tree size is at least `sequence`).
    pub checkpoint: Checkpoint,
}

/// A page's options beyond its title and body.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    /// The `/live` query this page follows (None: the page is not "now").
    pub live: Option<String>,
    /// Entries the page shows, for proof links in the footer.
    pub entries: Vec<u64>,
}

/// A full page.
pub(crate) fn page(title: &str, rendered: &Rendered, frame: &Frame, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body data-live=[frame.live.as_deref()] data-sequence=(rendered.sequence) {
                a.skip href="#main" { "Skip to content" }
                (nav())
                div #live-notice role="status" aria-live="polite" hidden {}
                main #main tabindex="-1" { (body) }
                (footer(rendered, &frame.entries))
                @if frame.live.is_some() {
                    script src="/static/live.js" defer {}
                }
            }
        }
    }
    .into_string()
}

/// A page without the log (the token form, errors).
pub(crate) fn bare_page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                (nav())
                main #main { (body) }
            }
        }
    }
    .into_string()
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> String {
    bare_page(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.notice role="alert" { (message) }
            p { a href="/" { "Back to the agreements" } }
        },
    )
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Truce" }
        link rel="stylesheet" href="/static/app.css";
    }
}

fn nav() -> Markup {
    html! {
        header.site {
            nav aria-label="Main" {
                a href="/" { "Agreements" }
                a href="/reports" { "Reports" }
            }
            span.readonly { "Read-only view of the Truce log" }
        }
    }
}

fn footer(rendered: &Rendered, entries: &[u64]) -> Markup {
    let cp = &rendered.checkpoint;
    html! {
        footer #checkpoint {
            p.checkpoint-line {
                "Rendered at log sequence " strong #rendered-sequence { (rendered.sequence) }
                "; signed checkpoint over " strong { (cp.tree_size) } " entries, root "
                code { (hex::encode(&cp.root_hash)) } "."
            }
            p { "Verifier key: " code.key { (cp.verifier_key) } }
            @if !entries.is_empty() {
                p {
                    "Inclusion proofs: "
                    @for seq in entries {
                        a href={ "/proof/" (seq) "?tree_size=" (cp.tree_size) } { "entry " (seq) } " "
                    }
                }
            }
            details {
                summary { "The signed checkpoint note" }
                pre { (cp.note) }
                p { "Check what this page shows against the log: "
                    code { "truce verify --key '" (cp.verifier_key) "'" } }
            }
        }
    }
}

pub(crate) async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

/// Raw HTML for an SVG drawn on the server (already escaped there).
pub(crate) fn svg(markup: String) -> PreEscaped<String> {
    PreEscaped(markup)
}

const STYLE: &str = include_str!("static/app.css");
const SCRIPT: &str = include_str!("static/live.js");
