//! [`RequestBody`] and [`ReadAhead`]: the request body's way upstream.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use super::BoxError;
use crate::error::{BodyTooLarge, RequestBodyFailed};
use crate::track::Entry;

/// Body frames read while the request waited in the queue.
///
/// hyper reads a request body only as fast as it is consumed, so a client that disconnects
/// during a queued upload would go unnoticed (its FIN sits behind unread body bytes) and the
/// request could even be forwarded later. Reading ahead a bounded amount while queued lets
/// sluice see the disconnect at once for bodies up to `queue.buffer_body_bytes`.
#[derive(Debug, Default)]
pub struct ReadAhead {
    frames: VecDeque<Frame<Bytes>>,
    bytes: usize,
}

impl ReadAhead {
    /// Reads frames from `body` until it ends or `limit` bytes are held. Fails if the body
    /// fails: the client went away (or broke its framing).
    pub async fn fill<B>(&mut self, body: &mut B, limit: usize) -> Result<(), B::Error>
    where
        B: Body<Data = Bytes> + Unpin,
    {
        while self.bytes < limit && !body.is_end_stream() {
            match body.frame().await {
                Some(Ok(frame)) => {
                    self.bytes += frame.data_ref().map_or(0, Bytes::len);
                    self.frames.push_back(frame);
                }
                Some(Err(error)) => return Err(error),
                None => break,
            }
        }
        Ok(())
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// True if nothing was read ahead.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

pin_project! {
    /// A request body on its way upstream: replays frames read ahead, counts bytes for
    /// `/requests` and the idle reaper, and fails once more than `limit` bytes arrive.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        // `None` for the empty body of a replayed request.
        #[pin]
        inner: Option<B>,
        ahead: ReadAhead,
        entry: Option<Arc<Entry>>,
        limit: Option<u64>,
        seen: u64,
    }
}

impl<B> RequestBody<B> {
    /// Wraps `inner`, counting into `entry` (if tracked) and capping at `limit` bytes.
    pub fn new(inner: B, entry: Option<Arc<Entry>>, limit: Option<u64>) -> Self {
        Self::after(ReadAhead::default(), inner, entry, limit)
    }

    /// Like [`RequestBody::new`], replaying `ahead` before the rest of `inner`.
    pub fn after(
        ahead: ReadAhead,
        inner: B,
        entry: Option<Arc<Entry>>,
        limit: Option<u64>,
    ) -> Self {
        RequestBody {
            inner: Some(inner),
            ahead,
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
        let empty = self.ahead.is_empty() && self.inner.as_ref().is_none_or(Body::is_end_stream);
        empty.then(|| RequestBody {
            inner: None,
            ahead: ReadAhead::default(),
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
        let frame = match this.ahead.frames.pop_front() {
            Some(frame) => {
                this.ahead.bytes -= frame.data_ref().map_or(0, Bytes::len);
                Some(Ok(frame))
            }
            None => match this.inner.as_pin_mut() {
                // Typed, so the failure is told apart from the app's: it is the client's.
                Some(inner) => ready!(inner.poll_frame(cx))
                    .map(|r| r.map_err(|e| Box::new(RequestBodyFailed(e.into())) as BoxError)),
                None => None,
            },
        };
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
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.ahead.is_empty() && self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self
            .inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        let ahead = self.ahead.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + ahead);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + ahead);
        }
        hint
    }
}
