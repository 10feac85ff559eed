//! `Client::subscribe`: a stream of log events that reconnects with
//! backoff and resumes after the last position it delivered (an entry, a
//! caught-up or a progress marker), so a consumer sees every matching
//! entry once, in order, across disconnects and daemon restarts. Above
//! `client.rs`: the subscribe methods are added to [`Client`] here, so the
//! client does not import its subscriptions.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures_core::Stream;
use tokio::sync::mpsc;
use tonic::Code;
use truce_proto::v1::{
    Entry, SubscribeFilter, SubscribeRequest, subscribe_request, subscribe_response,
};

use crate::{
    client::{Client, decode_entry},
    connect::Inner,
    error::ClientError,
};

impl Client {
    /// Follows the log from `start`, filtered on the server. The stream
    /// reconnects with backoff and resumes after the last position it
    /// delivered; it ends only on an error a retry cannot fix.
    pub fn subscribe(&self, start: Start, filter: SubscribeFilter) -> Subscription {
        spawn(self.inner.clone(), start, filter, 0, Duration::from_secs(5))
    }

    /// [`Client::subscribe`] with a progress interval (ms) and the longest
    /// reconnect backoff.
    pub fn subscribe_with(
        &self,
        start: Start,
        filter: SubscribeFilter,
        progress_interval_ms: u32,
        max_backoff: Duration,
    ) -> Subscription {
        spawn(
            self.inner.clone(),
            start,
            filter,
            progress_interval_ms,
            max_backoff,
        )
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    FromStart,
    /// After this sequence (exclusive).
    AfterSequence(u64),
    /// From this sequence (inclusive).
    FromSequence(u64),
    /// From the first entry recorded at or after this time.
    Since(pbjson_types::Timestamp),
    FromNow,
}

/// One event of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An entry: its stored bytes and their decoding.
    Entry {
        sequence: u64,
        raw: Vec<u8>,
        entry: Box<Entry>,
    },
    /// The backlog has been sent up to this sequence; live from here.
    CaughtUp(u64),
    /// Everything up to this sequence has been considered.
    Progress(u64),
}

impl Event {
    /// The position this event confirms.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Entry { sequence, .. } => *sequence,
            Self::CaughtUp(s) | Self::Progress(s) => *s,
        }
    }
}

/// A live subscription; ends only on an error that a retry cannot fix,
/// or when dropped.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Result<Event, ClientError>>,
}

impl Stream for Subscription {
    type Item = Result<Event, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Subscription {
    /// The next event (None once the subscription has ended).
    pub async fn next_event(&mut self) -> Option<Result<Event, ClientError>> {
        self.rx.recv().await
    }
}

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted
    )
}

fn request(start: &Start, filter: &SubscribeFilter, progress_ms: u32) -> SubscribeRequest {
    use subscribe_request::Start as S;
    SubscribeRequest {
        start: Some(match start {
            Start::FromStart => S::FromStart(true),
            Start::AfterSequence(n) => S::AfterSequence(*n),
            Start::FromSequence(n) => S::FromSequence(*n),
            Start::Since(t) => S::Since(*t),
            Start::FromNow => S::FromNow(true),
        }),
        filter: Some(filter.clone()),
        progress_interval_ms: progress_ms,
    }
}

fn convert(e: subscribe_response::Event) -> Result<Event, ClientError> {
    Ok(match e {
        subscribe_response::Event::Entry(raw) => {
            let entry = decode_entry(&raw)?;
            Event::Entry {
                sequence: raw.sequence,
                raw: raw.entry,
                entry: Box::new(entry),
            }
        }
        subscribe_response::Event::CaughtUp(c) => Event::CaughtUp(c.sequence),
        subscribe_response::Event::Progress(p) => Event::Progress(p.sequence),
    })
}

fn spawn(
    client: Inner,
    start: Start,
    filter: SubscribeFilter,
    progress_ms: u32,
    max_backoff: Duration,
) -> Subscription {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut position: Option<u64> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            let from = position.map_or_else(|| start.clone(), Start::AfterSequence);
            let opened = client
                .clone()
                .subscribe(request(&from, &filter, progress_ms))
                .await;
            let mut stream = match opened {
                Ok(r) => r.into_inner(),
                Err(s) if retryable(s.code()) => {
                    tracing::debug!(error = %s, "subscribe failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = tx.closed() => return,
                    }
                    backoff = (backoff * 2).min(max_backoff);
                    continue;
                }
                Err(s) => {
                    let _ = tx.send(Err(s.into())).await;
                    return;
                }
            };
            loop {
                let message = tokio::select! {
                    m = stream.message() => m,
                    () = tx.closed() => return,
                };
                match message {
                    Ok(Some(msg)) => {
                        let Some(e) = msg.event else { continue };
                        let event = match convert(e) {
                            Ok(ev) => ev,
                            Err(err) => {
                                let _ = tx.send(Err(err)).await;
                                return;
                            }
                        };
                        backoff = Duration::from_millis(50);
                        position = Some(event.sequence());
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(s) if retryable(s.code()) => {
                        tracing::debug!(error = %s, "subscription interrupted; resuming");
                        break;
                    }
                    Err(s) => {
                        let _ = tx.send(Err(s.into())).await;
                        return;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = tx.closed() => return,
            }
            backoff = (backoff * 2).min(max_backoff);
        }
    });
    Subscription { rx }
}
