//! Connections to the app owned by one client connection, driven by the requests that use them.
//!
//! Each client connection has a [`Lane`]: the app connections it opened and is not using right
//! now (for HTTP/1 at most one, since its requests come one at a time; HTTP/2 may need a few).
//! A request takes one ([`Lease`]) or opens one, and *drives* it itself: the proxy future polls
//! the connection while it waits for the response head, and [`AppBody`] polls it while the
//! response body is read. So there is no shared pool, no lock between client connections,
//! no background task per app connection and no hand-off between tasks on the request path:
//! everything runs in the client connection's own task. A connection goes back to its lane
//! once the response ended cleanly; one dropped mid-message is closed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::upstream::UpstreamBody;

/// The most idle app connections one client connection keeps (HTTP/2 clients may use several).
const MAX_IDLE: usize = 8;

type Driver = Connection<TokioIo<TcpStream>, UpstreamBody>;

/// One HTTP/1.1 connection to the app: the handle requests are sent on, and its I/O driver.
pub(crate) struct AppConn {
    pub(super) sender: SendRequest<UpstreamBody>,
    driver: Pin<Box<Driver>>,
    closed: bool,
    /// Whether it already carried a request (only those may have been closed by the app
    /// between requests, which is when a retry is safe).
    pub(super) reused: bool,
}

impl AppConn {
    pub(super) fn new(sender: SendRequest<UpstreamBody>, driver: Driver) -> Self {
        AppConn {
            sender,
            driver: Box::pin(driver),
            closed: false,
            reused: false,
        }
    }

    /// Moves the connection's I/O forward; false once it has ended.
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.closed {
            if let Poll::Ready(result) = self.driver.as_mut().poll(cx) {
                self.closed = true;
                if let Err(error) = result {
                    tracing::debug!(%error, "app connection ended with an error");
                }
            }
        }
        !self.closed
    }

    /// Sends `request` and drives the connection until the response head arrives. A request
    /// that could not be written is handed back in the error.
    pub(super) async fn send(
        &mut self,
        request: http::Request<UpstreamBody>,
    ) -> Result<
        http::Response<Incoming>,
        hyper::client::conn::TrySendError<http::Request<UpstreamBody>>,
    > {
        let mut response = std::pin::pin!(self.sender.try_send_request(request));
        std::future::poll_fn(|cx| {
            self.drive(cx);
            response.as_mut().poll(cx)
        })
        .await
    }
}

impl fmt::Debug for AppConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConn")
            .field("closed", &self.closed)
            .field("reused", &self.reused)
            .finish()
    }
}

/// The idle app connections of one client connection; clones share them.
#[derive(Clone, Default)]
pub struct Lane {
    idle: Arc<Mutex<Vec<(AppConn, Instant)>>>,
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("Lane").field("idle", &idle).finish()
    }
}

impl Lane {
    /// The most recently used idle connection that is still open, ready for a request, and
    /// idle for less than `max_idle` (the app's keep-alive timeout is longer: sluice closes
    /// first). Connections found closed or stale are dropped.
    pub(super) fn take(&self, cx: &mut Context<'_>, max_idle: Duration) -> Option<AppConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((mut conn, since)) = idle.pop() {
            if since.elapsed() >= max_idle || !conn.drive(cx) {
                continue;
            }
            if let Poll::Ready(Ok(())) = conn.sender.poll_ready(cx) {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, conn: AppConn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push((conn, Instant::now()));
    }
}

/// A connection in use by one request; it returns to its lane when the response has ended.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(super) conn: AppConn,
    pub(super) lane: Lane,
}

pin_project_lite::pin_project! {
    /// The app's response body. Reading it drives the app connection it arrives on; once it
    /// has ended cleanly, that connection goes back to the client connection's lane.
    #[derive(Debug)]
    pub struct AppBody {
        #[pin]
        inner: Incoming,
        lease: Option<Lease>,
    }
}

impl AppBody {
    /// A body arriving on `lease` (`None`: a connection driven elsewhere, e.g. an upgrade).
    pub(crate) fn new(inner: Incoming, lease: Option<Lease>) -> Self {
        let mut body = AppBody { inner, lease };
        if body.inner.is_end_stream() {
            // No body at all: hyper will never poll it, so release the connection now.
            give_back(body.lease.take());
        }
        body
    }
}

/// Returns a connection whose response ended to its lane, unless it has closed.
fn give_back(lease: Option<Lease>) {
    if let Some(Lease { conn, lane }) = lease {
        if !conn.closed {
            lane.put(conn);
        }
    }
}

impl Body for AppBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut this = self.project();
        if let Some(lease) = this.lease.as_mut() {
            lease.conn.drive(cx);
        }
        let polled = this.inner.as_mut().poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) => {
                // Broken mid-message: the connection cannot carry another request.
                this.lease.take();
                false
            }
            Poll::Pending => false,
        };
        if ended {
            give_back(this.lease.take());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
