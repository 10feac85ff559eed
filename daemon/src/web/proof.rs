//! The inclusion proof of one entry in the tree of a signed checkpoint,
//! as the page footers link it: the leaf index, the tree size and the
//! audit path, for `truce verify` or any RFC 9162 verifier.

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Html,
};
use maud::html;
use serde::Deserialize;
use tonic::Request;
use truce_proto::v1::{GetInclusionProofRequest, truce_server::Truce as _};

use super::{
    Web, WebError, auth,
    layout::{self, Frame},
    pages::rendered,
};

#[derive(Debug, Deserialize)]
pub(crate) struct TreeSize {
    #[serde(default)]
    tree_size: u64,
}

pub(crate) async fn proof(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(sequence): Path<u64>,
    Query(q): Query<TreeSize>,
) -> Result<Html<String>, WebError> {
    auth::admit(&web, &headers, "GetInclusionProof")?;
    let rendered = rendered(&web, q.tree_size).await?;
    let tree_size = if q.tree_size == 0 {
        rendered.checkpoint.tree_size
    } else {
        q.tree_size
    };
    let proof = web
        .reads
        .get_inclusion_proof(Request::new(GetInclusionProofRequest {
            sequence,
            tree_size,
        }))
        .await?
        .into_inner();
    let body = html! {
        h1 { "Inclusion proof of entry " (sequence) }
        dl.facts {
            dt { "Leaf index" } dd { (proof.leaf_index) }
            dt { "Tree size" } dd { (proof.tree_size) }
        }
        h2 { "Audit path" }
        ol #audit-path { @for h in &proof.hashes { li { code { (hex::encode(h)) } } } }
        p { "Check it: " code { "truce verify --entry " (sequence) } }
    };
    let frame = Frame {
        live: None,
        entries: vec![sequence],
    };
    Ok(Html(layout::page(
        "Inclusion proof",
        &rendered,
        &frame,
        body,
    )))
}
