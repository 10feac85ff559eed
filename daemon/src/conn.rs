//! Connections that do not talk are closed: a connection must answer the
//! server's opening (the TLS handshake, or HTTP/2's preface and SETTINGS)
//! within `handshake_timeout_ms`, and one that then sends nothing for
//! `idle_timeout_secs` is closed (a live client answers the HTTP/2
//! keepalive pings, which count). hyper and the TLS acceptor wait for
//! bytes forever on their own, so each accepted socket is wrapped in
//! [`Guarded`], whose reads fail with `TimedOut` past the deadline; the
//! server then drops the connection.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes a client sends at least in its opening: the HTTP/2 preface (24)
/// and a SETTINGS frame header (9); any TLS ClientHello is longer.
const OPENING_BYTES: usize = 33;

/// The deadlines of every connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To answer the server's opening (zero: none).
    pub handshake: Duration,
    /// To send something after the opening (zero: none).
    pub idle: Duration,
}

/// An accepted socket under [`Timeouts`].
#[derive(Debug)]
pub struct Guarded {
    inner: TcpStream,
    timeouts: Timeouts,
    peer: Option<SocketAddr>,
    accepted: Instant,
    last_read: Instant,
    read: usize,
    wrote: bool,
    /// The client sent bytes after the server first wrote.
    answered: bool,
    timer: Pin<Box<Sleep>>,
}

impl Guarded {
    pub fn new(inner: TcpStream, timeouts: Timeouts) -> Self {
        let now = Instant::now();
        let peer = inner.peer_addr().ok();
        Self {
            inner,
            timeouts,
            peer,
            accepted: now,
            last_read: now,
            read: 0,
            wrote: false,
            answered: false,
            timer: Box::pin(tokio::time::sleep_until(now)),
        }
    }

    fn opened(&self) -> bool {
        self.read >= OPENING_BYTES && self.answered
    }

    /// The deadline now, and which one it is.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        if !self.opened() {
            let t = self.timeouts.handshake;
            (!t.is_zero()).then(|| (self.accepted + t, "handshake"))
        } else {
            let t = self.timeouts.idle;
            (!t.is_zero()).then(|| (self.last_read + t, "idle"))
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    self.read += n;
                    self.answered |= self.wrote;
                    self.last_read = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((deadline, phase)) = self.deadline() else {
                    return Poll::Pending;
                };
                if self.timer.deadline() != deadline {
                    self.timer.as_mut().reset(deadline);
                }
                if self.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                tracing::debug!(
                    peer = ?self.peer,
                    phase,
                    bytes_read = self.read,
                    "closing a connection that did not talk in time"
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{phase} timeout"),
                )))
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.wrote = true;
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.wrote = true;
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
