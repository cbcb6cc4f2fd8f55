//! [`FirstRequestDeadline`]: a socket wrapper that fails reads if no request head has arrived
//! within `server.header_read_timeout` of accepting.
//!
//! hyper's own `header_read_timeout` only starts once HTTP/1 parsing starts, and h2 has none,
//! so a client that connects and then sends a few bytes (or a preface and no request) would
//! hold the connection forever. The listener's sniff for the HTTP/2 preface
//! ([`crate::sniff`]) is bounded by the same deadline, taken at accept; this wrapper bounds
//! the rest of the way to the first request head. After that, hyper's timer takes over.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pin_project! {
    /// Fails pending reads with `TimedOut` once the deadline passes, until `seen` is set.
    #[derive(Debug)]
    pub struct FirstRequestDeadline<T> {
        #[pin]
        io: T,
        deadline: Option<Pin<Box<Sleep>>>,
        seen: Arc<AtomicBool>,
    }
}

impl<T> FirstRequestDeadline<T> {
    /// Wraps `io`; `seen` is set by the request handler when a request head arrives.
    pub fn new(io: T, timeout: Duration, seen: Arc<AtomicBool>) -> Self {
        Self::until(io, Instant::now() + timeout, seen)
    }

    /// Like [`FirstRequestDeadline::new`], with the deadline as an instant (e.g. accept time
    /// plus the timeout, when the connection was sniffed first).
    pub fn until(io: T, deadline: Instant, seen: Arc<AtomicBool>) -> Self {
        FirstRequestDeadline {
            io,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
            seen,
        }
    }
}

impl<T: AsyncRead> AsyncRead for FirstRequestDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let polled = this.io.poll_read(cx, buf);
        if polled.is_pending() {
            if this.seen.load(Relaxed) {
                *this.deadline = None;
            } else if let Some(deadline) = this.deadline.as_mut() {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request head within server.header_read_timeout",
                    )));
                }
            }
        }
        polled
    }
}

impl<T: AsyncWrite> AsyncWrite for FirstRequestDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
