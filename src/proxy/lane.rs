//! Connections to the app owned by one client connection, driven by the requests that use them.
//!
//! Each client connection has a [`Lane`]: the app connections it opened and is not using right
//! now (for HTTP/1 at most one, since its requests come one at a time; HTTP/2 may need a few).
//! A request takes one ([`Lease`]) or opens one and does its I/O itself: the proxy future
//! writes the request and reads the response head, and [`AppBody`] reads the response body
//! (see [`h1`](super::h1)). So there is no shared pool, no lock between client connections,
//! no background task per app connection and no hand-off between tasks on the request path:
//! everything runs in the client connection's own task. A connection goes back to its lane
//! once the response ended cleanly and the whole request was written; one dropped
//! mid-message is closed.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::h1::{AppConn, BodyError, Decoder, Head, Step, Upload, UploadError};

/// The most idle app connections one client connection keeps (HTTP/2 clients may use several).
const MAX_IDLE: usize = 8;

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
    /// The most recently used idle connection that is still open, has nothing unasked-for
    /// waiting on it, and has been idle for less than `max_idle` (the app's keep-alive
    /// timeout is longer: sluice closes first). Connections found closed or stale are dropped.
    pub(super) fn take(&self, cx: &mut Context<'_>, max_idle: Duration) -> Option<AppConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((mut conn, since)) = idle.pop() {
            if since.elapsed() < max_idle && conn.is_usable(cx) {
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

/// The app's response body.
///
/// Reading it reads the app connection it arrives on (and writes the rest of a request body
/// the app answered before reading it all); once it has ended cleanly, that connection goes
/// back to the client connection's lane. Dropped before its end, it closes the connection.
#[derive(Debug)]
pub struct AppBody {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// Read from an app connection; `lease` is `None` once the body has ended or failed.
    App {
        lease: Option<Lease>,
        decoder: Decoder,
        /// The rest of a request the app answered before reading it all (rare: boxed).
        upload: Option<Box<Upload>>,
        keep_alive: bool,
    },
    /// The body of a response to an upgrade request, read by hyper's client.
    Hyper(Incoming),
}

impl AppBody {
    /// The body framed by `head`, arriving on `lease`, with what is left of the request.
    pub(super) fn new(lease: Lease, head: Head, upload: Upload) -> Self {
        // An unfinished upload may still complete; an abandoned one leaves the app's side
        // of the connection mid-message.
        let keep_alive = head.keep_alive && (upload.is_complete() || !upload.is_done());
        let mut inner = Inner::App {
            lease: Some(lease),
            decoder: head.decoder,
            upload: (!upload.is_done()).then(|| Box::new(upload)),
            keep_alive,
        };
        if head.decoder.is_done() {
            // No body at all: hyper will never poll it, so the connection is settled now.
            inner.finish();
        }
        AppBody { inner }
    }

    /// The body of a response to an upgrade request, from hyper's client.
    pub(super) fn from_hyper(body: Incoming) -> Self {
        AppBody {
            inner: Inner::Hyper(body),
        }
    }
}

impl Inner {
    /// The body has ended: the connection goes back to its lane if it can carry another
    /// request (kept alive, the request written whole, nothing stray received).
    fn finish(&mut self) {
        if let Inner::App {
            lease,
            upload,
            keep_alive,
            ..
        } = self
        {
            if let Some(Lease { conn, lane }) = lease.take() {
                if *keep_alive && upload.is_none() && conn.is_clean() {
                    lane.put(conn);
                }
            }
        }
    }
}

impl Body for AppBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let inner = &mut self.inner;
        let (lease, decoder, upload, keep_alive) = match inner {
            Inner::App {
                lease,
                decoder,
                upload,
                keep_alive,
            } => (lease, decoder, upload, keep_alive),
            Inner::Hyper(body) => return Pin::new(body).poll_frame(cx).map_err(BodyError::from),
        };
        let Some(Lease { conn, .. }) = lease.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(pending) = upload.as_mut() {
            match conn.poll_upload(pending, cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => *upload = None,
                // The app stopped reading the request: its response may still be whole.
                Poll::Ready(Err(UploadError::Io(_))) => {
                    *keep_alive = false;
                    *upload = None;
                }
                Poll::Ready(Err(error)) => {
                    lease.take();
                    return Poll::Ready(Some(Err(BodyError::Upload(error.into()))));
                }
            }
        }
        let polled = conn.poll_body(decoder, cx);
        if polled.is_pending() {
            conn.release_buffer();
        }
        let step = match ready!(polled) {
            Ok(step) => step,
            Err(error) => {
                lease.take(); // Broken mid-message: it cannot carry another request.
                return Poll::Ready(Some(Err(error)));
            }
        };
        let frame = match step {
            Step::Data(data) => Some(Frame::data(data)),
            Step::Trailers(trailers) => Some(Frame::trailers(trailers)),
            Step::End | Step::NeedMore => None,
        };
        if decoder.is_done() {
            inner.finish();
        }
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::App { lease, .. } => lease.is_none(),
            Inner::Hyper(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::App {
                decoder: Decoder::Length(n),
                lease: Some(_),
                ..
            } => SizeHint::with_exact(*n),
            Inner::App { lease: None, .. } => SizeHint::with_exact(0),
            Inner::App { .. } => SizeHint::default(),
            Inner::Hyper(body) => body.size_hint(),
        }
    }
}
