//! The send budget: one daemon-wide limit (`stream_buffer_mb`) on the
//! bytes held for clients that have not taken them yet, so that streams
//! whose clients stop reading cost a bounded amount of memory however many
//! there are. A streaming response (Subscribe, GetComplianceReport) charges
//! each message when it queues it and releases the charge when the
//! transport pulls the message; what a producer holds in hand (a page of
//! entries read for the stream) is charged before it is read. ReadLog
//! charges its response until the transport has pulled its body
//! ([`ReleaseLayer`]).
//!
//! A stream whose client does not read is paused: its queue (a few
//! messages, at most its share of the budget) stays full and its producer
//! waits. A producer that waits longer than `stream_stall_timeout_ms` (for
//! the client to read, or for budget that other streams hold) ends the
//! stream: its queue is dropped, its charges released, and the client gets
//! RESOURCE_EXHAUSTED. Nothing here blocks the writer or other streams.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};
use tonic::Status;

/// The smallest per-stream share of the budget, bytes.
const MIN_SHARE: usize = 64 * 1024;
/// The share of one stream: the budget divided by this (at least
/// [`MIN_SHARE`]).
const SHARES: usize = 64;

/// What a message of `encoded` bytes is charged: twice its size and 2
/// KiB. Held in memory it costs more than its encoding (the allocator's
/// size classes, the message and the encoder's copy of it side by side,
/// the stream's own state while it has something queued); measured with
/// 1,000 stalled streams (docs/benchmarks.md), this keeps the daemon's
/// RSS within the budget over its base.
pub fn cost(encoded: usize) -> usize {
    encoded.saturating_mul(2).saturating_add(2048)
}

/// The daemon's budget of bytes buffered toward clients.
#[derive(Debug)]
pub struct SendBudget {
    limit: usize,
    used: AtomicUsize,
    /// The most ever charged at once.
    peak: AtomicUsize,
    freed: Notify,
    stall: Duration,
    ended: tokio::sync::watch::Sender<u64>,
}

impl SendBudget {
    /// A budget of `limit` bytes; streams wait at most `stall` for it or
    /// for their client.
    pub fn new(limit: usize, stall: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            freed: Notify::new(),
            stall,
            ended: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The most charged at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// The limit, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long a stream may wait before it is ended.
    pub fn stall(&self) -> Duration {
        self.stall
    }

    /// The most one stream queues: its share of the budget.
    pub fn share(&self) -> usize {
        (self.limit / SHARES).max(MIN_SHARE)
    }

    /// Streams ended with RESOURCE_EXHAUSTED so far (a watch, for tests
    /// and metrics).
    pub fn ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// Takes `n` bytes if they fit. One charge larger than the whole
    /// budget passes alone, so that no message is refused for its size.
    fn try_take(&self, n: usize) -> bool {
        match self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used == 0 || used.saturating_add(n) <= self.limit).then_some(used + n)
            }) {
            Ok(before) => {
                self.peak.fetch_max(before + n, Ordering::AcqRel);
                true
            }
            Err(_) => false,
        }
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
            self.freed.notify_waiters();
        }
    }

    /// `n` bytes, waiting for them until `deadline` (None: not in time).
    pub async fn charge_until(self: &Arc<Self>, n: usize, deadline: Instant) -> Option<Charge> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(n) {
                return Some(Charge {
                    budget: Arc::clone(self),
                    bytes: n,
                });
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    /// `n` bytes, waiting at most the stall timeout.
    pub async fn charge(self: &Arc<Self>, n: usize) -> Option<Charge> {
        self.charge_until(n, Instant::now() + self.stall).await
    }

    fn count_ended(&self) {
        self.ended.send_modify(|n| *n += 1);
    }
}

/// Bytes taken from the budget, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<SendBudget>,
    bytes: usize,
}

impl Charge {
    /// The bytes charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Gives back what is over `n`.
    pub fn shrink_to(&mut self, n: usize) {
        if n < self.bytes {
            self.budget.release(self.bytes - n);
            self.bytes = n;
        }
    }

    /// Moves up to `n` of these bytes into a charge of their own (None:
    /// nothing left).
    pub fn split(&mut self, n: usize) -> Option<Charge> {
        let n = n.min(self.bytes);
        if n == 0 {
            return None;
        }
        self.bytes -= n;
        Some(Charge {
            budget: Arc::clone(&self.budget),
            bytes: n,
        })
    }

    /// Adds `other` to this charge.
    fn absorb(&mut self, mut other: Charge) {
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Why a producer must stop: the client went away, or the stream was
/// ended for not reading (its client gets RESOURCE_EXHAUSTED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    #[error("the client went away")]
    Closed,
    #[error("the client did not read within the stall timeout")]
    Stalled,
}

/// One queued message with its charge.
type Queued<T> = (Result<T, Status>, Option<Charge>, usize);

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<Queued<T>>,
    bytes: usize,
    /// The status to end with (the stream was ended for stalling).
    end: Option<Status>,
    rx_waker: Option<Waker>,
    rx_gone: bool,
    tx_gone: bool,
    done: bool,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// The receiver took a message or went away.
    space: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A stream's queue toward its client: at most `max_messages` and its
/// share of the budget (or one message), each charged to the budget.
pub fn stream<T>(
    budget: &Arc<SendBudget>,
    max_messages: usize,
    method: &'static str,
) -> (Sender<T>, Outbound<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            bytes: 0,
            end: None,
            rx_waker: None,
            rx_gone: false,
            tx_gone: false,
            done: false,
        }),
        space: Notify::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
            budget: Arc::clone(budget),
            max_messages: max_messages.max(1),
            method,
        },
        Outbound {
            shared,
            in_transport: None,
            yielded: false,
        },
    )
}

/// The producer's end of a stream.
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    budget: Arc<SendBudget>,
    max_messages: usize,
    method: &'static str,
}

impl<T: prost::Message> Sender<T> {
    /// Queues `item`, waiting (at most the stall timeout) for room in the
    /// stream's share and for budget. An error item ends the stream and
    /// is queued at once.
    pub async fn send(&self, item: Result<T, Status>) -> Result<(), Stopped> {
        self.send_prepaid(item, None).await
    }

    /// [`Sender::send`] with bytes charged already (a page read for the
    /// stream); the charge is fitted to the message.
    pub async fn send_prepaid(
        &self,
        item: Result<T, Status>,
        prepaid: Option<Charge>,
    ) -> Result<(), Stopped> {
        let Ok(message) = &item else {
            return self.push(item, None, 0);
        };
        let n = cost(message.encoded_len());
        let deadline = Instant::now() + self.budget.stall;
        self.room(n, deadline).await?;
        let charge = match prepaid {
            Some(mut c) if c.bytes() >= n => {
                c.shrink_to(n);
                c
            }
            Some(mut c) => {
                let more = c.bytes();
                let extra = self.charge_until(n - more, deadline).await?;
                c.absorb(extra);
                c
            }
            None => self.charge_until(n, deadline).await?,
        };
        self.push(item, Some(charge), n)
    }

    /// `n` bytes of budget for what the producer reads for this stream,
    /// waiting at most the stall timeout (then the stream is ended).
    pub async fn charge(&self, n: usize) -> Result<Charge, Stopped> {
        self.charge_until(n, Instant::now() + self.budget.stall)
            .await
    }

    /// From a blocking thread: [`Sender::send`].
    pub fn blocking_send(
        &self,
        handle: &tokio::runtime::Handle,
        item: Result<T, Status>,
    ) -> Result<(), Stopped> {
        handle.block_on(self.send(item))
    }

    async fn charge_until(&self, n: usize, deadline: Instant) -> Result<Charge, Stopped> {
        match self.budget.charge_until(n, deadline).await {
            Some(c) => Ok(c),
            None => Err(self.end("the daemon's stream buffer budget stayed full")),
        }
    }

    /// Waits until the queue can take `n` more bytes.
    async fn room(&self, n: usize, deadline: Instant) -> Result<(), Stopped> {
        let (max, share) = (self.max_messages, self.budget.share());
        self.wait(deadline, |st| {
            st.queue.is_empty() || (st.queue.len() < max && st.bytes + n <= share)
        })
        .await
    }

    async fn wait(
        &self,
        deadline: Instant,
        ready: impl Fn(&State<T>) -> bool,
    ) -> Result<(), Stopped> {
        loop {
            let space = self.shared.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let st = self.shared.lock();
                if st.rx_gone {
                    return Err(Stopped::Closed);
                }
                if ready(&st) {
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline, space).await.is_err() {
                return Err(self.end("the client did not read"));
            }
        }
    }

    fn push(
        &self,
        item: Result<T, Status>,
        charge: Option<Charge>,
        n: usize,
    ) -> Result<(), Stopped> {
        let waker = {
            let mut st = self.shared.lock();
            if st.rx_gone {
                return Err(Stopped::Closed);
            }
            if st.end.is_some() {
                return Err(Stopped::Stalled);
            }
            st.queue.push_back((item, charge, n));
            st.bytes += n;
            st.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Sender<T> {
    /// Resolves when the client has gone away.
    pub async fn closed(&self) {
        loop {
            let space = self.shared.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            if self.shared.lock().rx_gone {
                return;
            }
            space.await;
        }
    }

    /// Ends the stream for stalling: drops what is queued (its charges go
    /// back) and leaves RESOURCE_EXHAUSTED for the client.
    fn end(&self, why: &'static str) -> Stopped {
        let (dropped, bytes, waker) = {
            let mut st = self.shared.lock();
            if st.rx_gone {
                return Stopped::Closed;
            }
            let bytes = std::mem::take(&mut st.bytes);
            st.end = Some(Status::from(crate::error::Error::exhausted(format!(
                "{why} within {} ms (stream_stall_timeout_ms); read faster, or resume from the last message received",
                self.budget.stall.as_millis()
            ))));
            (std::mem::take(&mut st.queue), bytes, st.rx_waker.take())
        };
        drop(dropped);
        if let Some(w) = waker {
            w.wake();
        }
        self.budget.count_ended();
        tracing::warn!(
            method = self.method,
            reason = why,
            dropped_bytes = bytes,
            budget_used = self.budget.used(),
            budget_limit = self.budget.limit,
            "stream ended with RESOURCE_EXHAUSTED"
        );
        Stopped::Stalled
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.shared.lock();
            st.tx_gone = true;
            st.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// tonic's encoder hands its buffer to hyper once it holds this much, or
/// when the stream has nothing ready.
const ENCODER_CHUNK: usize = 32 * 1024;

/// The transport's end of a stream. The charges of the messages taken
/// since tonic's encoder last handed a chunk to hyper are kept until
/// the transport comes back for more after that chunk: hyper asks only
/// once HTTP/2 flow control lets more go, so bytes it still holds for a
/// client that does not read stay counted.
#[derive(Debug)]
pub struct Outbound<T> {
    shared: Arc<Shared<T>>,
    /// The charges of the messages in the encoder's current chunk.
    in_transport: Option<Charge>,
    /// The encoder has handed its chunk on (it got no message, or its
    /// chunk reached [`ENCODER_CHUNK`]).
    yielded: bool,
}

impl<T> tokio_stream::Stream for Outbound<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let full = this
            .in_transport
            .as_ref()
            .is_some_and(|c| c.bytes() >= ENCODER_CHUNK);
        if std::mem::take(&mut this.yielded) || full {
            this.in_transport = None;
        }
        let mut st = this.shared.lock();
        if let Some((item, charge, n)) = st.queue.pop_front() {
            st.bytes -= n;
            drop(st);
            match (&mut this.in_transport, charge) {
                (Some(held), Some(c)) => held.absorb(c),
                (held, c) => *held = held.take().or(c),
            }
            this.shared.space.notify_waiters();
            return Poll::Ready(Some(item));
        }
        this.yielded = true;
        if st.done {
            return Poll::Ready(None);
        }
        if let Some(status) = st.end.take() {
            st.done = true;
            return Poll::Ready(Some(Err(status)));
        }
        if st.tx_gone {
            st.done = true;
            return Poll::Ready(None);
        }
        st.rx_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Outbound<T> {
    fn drop(&mut self) {
        let dropped = {
            let mut st = self.shared.lock();
            st.rx_gone = true;
            st.bytes = 0;
            std::mem::take(&mut st.queue)
        };
        drop(dropped);
        self.shared.space.notify_waiters();
    }
}

/// A charge carried in a unary response's extensions until the transport
/// has pulled its body ([`ReleaseLayer`]).
#[derive(Debug, Clone)]
pub struct Held(Arc<Mutex<Option<Charge>>>);

impl Held {
    pub fn new(charge: Charge) -> Self {
        Self(Arc::new(Mutex::new(Some(charge))))
    }

    fn take(&self) -> Option<Charge> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Moves a response's [`Held`] charge onto its body, released once the
/// body has been pulled to its end (or dropped).
#[derive(Debug, Clone, Default)]
pub struct ReleaseLayer;

impl<S> tower_layer::Layer<S> for ReleaseLayer {
    type Service = ReleaseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReleaseService { inner }
    }
}

/// See [`ReleaseLayer`].
#[derive(Debug, Clone)]
pub struct ReleaseService<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'static>>;

impl<S, Req> tower_service::Service<Req> for ReleaseService<S>
where
    S: tower_service::Service<Req, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            match response
                .extensions_mut()
                .remove::<Held>()
                .and_then(|h| h.take())
            {
                None => Ok(response),
                Some(charge) => Ok(response.map(|body| {
                    tonic::body::Body::new(HeldBody {
                        inner: body,
                        charge: Some(charge),
                    })
                })),
            }
        })
    }
}

/// A body holding a charge until its last frame is pulled.
struct HeldBody {
    inner: tonic::body::Body,
    charge: Option<Charge>,
}

impl hyper::body::Body for HeldBody {
    type Data = hyper::body::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => self.charge = None,
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => self.charge = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
