//! Live updates for pages that show "now": `/live` is a server-sent event
//! stream fed by the daemon's subscription feed (a `Subscribe` from now,
//! through the same service method and its limits: `max_subscriptions`,
//! the per-stream queue and the send budget). Each new entry becomes one
//! `entry` event (its sequence); our script then fetches the page again.
//! The queue toward one page holds `http_live_buffer` events: a page that
//! does not keep up, or a subscription the daemon ends, gets one `reload`
//! event and the stream ends, so a stalled page costs a bounded amount.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::{
        IntoResponse,
        sse::{Event, KeepAlive, Sse},
    },
};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::{StreamExt as _, wrappers::ReceiverStream};
use tonic::Request;
use truce_proto::v1::{
    ReportFilter, SubscribeFilter, SubscribeRequest, subscribe_request::Start, subscribe_response,
    truce_server::Truce as _,
};

use super::{Web, WebError, auth};

#[derive(Debug, Deserialize)]
pub(crate) struct LiveParams {
    /// Only entries about this agreement (and its reports).
    #[serde(default)]
    agreement: String,
    /// The sequence the page was rendered at: entries after it are sent
    /// (absent: from now).
    #[serde(default)]
    after: Option<u64>,
}

pub(crate) async fn live(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(p): Query<LiveParams>,
) -> Result<impl IntoResponse, WebError> {
    auth::admit(&web, &headers, "Subscribe")?;
    let filter = (!p.agreement.trim().is_empty()).then(|| SubscribeFilter {
        reports: Some(ReportFilter {
            agreement_id: p.agreement.trim().to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut entries = web
        .reads
        .subscribe(Request::new(SubscribeRequest {
            start: Some(p.after.map_or(Start::FromNow(true), Start::AfterSequence)),
            filter,
            progress_interval_ms: 0,
        }))
        .await?
        .into_inner();
    // One slot kept for the closing `reload`.
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(web.live_buffer + 1);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                item = entries.next() => item,
                // The page went away: let go of the subscription now.
                () = tx.closed() => return,
            };
            let Some(item) = item else { break };
            let event = match item {
                Ok(message) => match message.event {
                    Some(subscribe_response::Event::Entry(e)) => {
                        Event::default().event("entry").data(e.sequence.to_string())
                    }
                    _ => continue,
                },
                Err(status) => {
                    tracing::debug!(error = %status, "a live page's subscription ended");
                    break;
                }
            };
            if tx.capacity() <= 1 {
                break;
            }
            if tx.send(Ok(event)).await.is_err() {
                // The page went away.
                return;
            }
        }
        let _ = tx.try_send(Ok(Event::default().event("reload").data("reload")));
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
