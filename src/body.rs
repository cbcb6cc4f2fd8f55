//! Body wrappers: the response body carries the request's [`Ticket`] until its last frame,
//! and the request body counts bytes and enforces `server.max_request_body`.
//!
//! The ticket is released when the body yields its last frame (or reports its end), yields an
//! error, or is dropped unfinished (the client went away). Never at response headers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::{BodyTooLarge, Reaped, RequestBodyFailed};
use crate::metrics::Outcome;
use crate::track::{Entry, Ticket};

/// The error type of every body sluice produces.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// A response body that holds its request's ticket (and so its slot) until it ends.
    ///
    /// It also ends the body with an error when the reaper cuts the request, which makes
    /// hyper close an HTTP/1 connection without the final chunk, or reset an HTTP/2 stream.
    #[derive(Debug)]
    pub struct TrackedBody<B> {
        #[pin]
        inner: B,
        ticket: Option<Ticket>,
    }
}

impl<B: Body> TrackedBody<B> {
    /// Wraps `inner`; `ticket` is `None` for requests that hold no slot (exempt paths).
    pub fn new(inner: B, ticket: Option<Ticket>) -> Self {
        let mut body = TrackedBody { inner, ticket };
        if body.inner.is_end_stream() {
            // hyper never polls a body that is already at its end; it only drops it.
            body.finish(Outcome::Completed);
        }
        body
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(ticket) = self.ticket.take() {
            ticket.finish(outcome);
        }
    }
}

impl<B> Body for TrackedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Some(reason) = this.ticket.as_ref().and_then(|t| t.entry().reap_reason()) {
            // The ticket's drop sees the reap and counts it.
            this.ticket.take();
            return Poll::Ready(Some(Err(Box::new(Reaped(reason)))));
        }
        let polled = this.inner.as_mut().poll_frame(cx);
        let Poll::Ready(frame) = polled else {
            if let Some(ticket) = this.ticket.as_ref() {
                if let Poll::Ready(reason) = ticket.entry().poll_reaped(cx) {
                    this.ticket.take();
                    return Poll::Ready(Some(Err(Box::new(Reaped(reason)))));
                }
            }
            return Poll::Pending;
        };
        let verdict = match &frame {
            Some(Ok(frame)) => {
                if let (Some(ticket), Some(data)) = (this.ticket.as_ref(), frame.data_ref()) {
                    ticket.entry().add_sent(data.len());
                }
                this.inner.is_end_stream().then_some(Outcome::Completed)
            }
            Some(Err(_)) => Some(Outcome::UpstreamError),
            None => Some(Outcome::Completed),
        };
        if let Some(outcome) = verdict {
            if let Some(ticket) = this.ticket.take() {
                ticket.finish(outcome);
            }
        }
        Poll::Ready(frame.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A request body on its way upstream: counts bytes for `/requests` and the idle reaper,
    /// and fails once more than `limit` bytes arrive.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        // `None` for the empty body of a replayed request.
        #[pin]
        inner: Option<B>,
        entry: Option<Arc<Entry>>,
        limit: Option<u64>,
        seen: u64,
    }
}

impl<B> RequestBody<B> {
    /// Wraps `inner`, counting into `entry` (if tracked) and capping at `limit` bytes.
    pub fn new(inner: B, entry: Option<Arc<Entry>>, limit: Option<u64>) -> Self {
        RequestBody {
            inner: Some(inner),
            entry,
            limit,
            seen: 0,
        }
    }
}

impl<B: Body> RequestBody<B> {
    /// An empty body for sending the same request again, if this one is empty too (nothing
    /// to replay but the head).
    pub fn empty_copy(&self) -> Option<Self> {
        let empty = self.inner.as_ref().is_none_or(Body::is_end_stream);
        empty.then(|| RequestBody {
            inner: None,
            entry: self.entry.clone(),
            limit: self.limit,
            seen: 0,
        })
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(inner.poll_frame(cx));
        if let Some(data) = frame
            .as_ref()
            .and_then(|f| f.as_ref().ok())
            .and_then(Frame::data_ref)
        {
            let len = data.len();
            *this.seen += len as u64;
            if this.limit.is_some_and(|limit| *this.seen > limit) {
                return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
            }
            if let Some(entry) = this.entry.as_ref() {
                entry.add_received(len);
            }
        }
        // Typed, so the failure is told apart from the app's: it is the client's.
        Poll::Ready(frame.map(|r| r.map_err(|e| Box::new(RequestBodyFailed(e.into())) as BoxError)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
