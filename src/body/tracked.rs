//! [`TrackedBody`]: the response body carries the request's [`Ticket`] until its last frame.
//!
//! The ticket is released when the body yields its last frame (or reports its end), yields an
//! error, or is dropped unfinished (the client went away). Never at response headers.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::BoxError;
use crate::error::Reaped;
use crate::metrics::Outcome;
use crate::track::Ticket;

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
        // An error from `inner`, held back for one poll (see `poll_frame`).
        failed: Option<BoxError>,
    }
}

impl<B: Body> TrackedBody<B> {
    /// Wraps `inner`; `ticket` is `None` for requests that hold no slot (exempt paths).
    pub fn new(inner: B, ticket: Option<Ticket>) -> Self {
        let mut body = TrackedBody {
            inner,
            ticket,
            failed: None,
        };
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
        if let Some(error) = this.failed.take() {
            return Poll::Ready(Some(Err(error)));
        }
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
        match frame {
            // The app failed mid-body. hyper aborts the connection (or resets the stream) as
            // soon as it sees the error, dropping what it has not flushed yet: when the app's
            // last bytes and its failure arrive together, the client would get nothing at
            // all. Yield once first, so hyper flushes the head and the data it has; then the
            // error cuts the response (no last chunk), so it still can't pass for complete.
            Some(Err(error)) => {
                *this.failed = Some(error.into());
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            frame => Poll::Ready(frame.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
