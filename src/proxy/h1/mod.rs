//! sluice's HTTP/1.1 client for the app: one request at a time on a plain TCP connection.
//!
//! hyper's client connection keeps a dispatch channel, two fixed 8 KiB buffers and its own
//! state machine per connection; for thousands of held SSE streams that is most of what a
//! stream costs. Here a connection is a socket and a read buffer that exists only while
//! bytes are waiting to be parsed: an idle stream holds no buffer at all. The request is
//! written from one encoded head plus the body's own `Bytes` (no copy), the response head is
//! parsed with `httparse`, and body bytes are handed on as slices of what was read.
//!
//! [`AppConn::exchange`] writes the request and reads the response head; the body is read
//! by [`AppBody`](super::AppBody) through [`AppConn::poll_body`], which also calls
//! [`AppConn::poll_upload`] to finish writing a request body the app answered early
//! (HTTP/1.1 is full duplex). Upgrades (`101`) still
//! use hyper's client, which hands over the socket.

mod chunked;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use http::{Response, StatusCode, Version};
use tokio::net::TcpStream;

pub(crate) use decode::{Decoder, Head, Step};
pub(crate) use encode::{Upload, encode_head};

/// Bytes read at a time; doubled while reads fill the buffer, up to [`MAX_READ`].
const READ_SIZE: usize = 8 * 1024;
const MAX_READ: usize = 64 * 1024;

/// A response that breaks HTTP/1.1 framing, with what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(pub(crate) &'static str);

/// Why writing the request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// The socket failed.
    #[error("writing to the app failed: {0}")]
    Io(#[source] io::Error),
    /// The client's body failed (or passed `server.max_request_body`).
    #[error("request body failed: {0}")]
    Body(#[source] crate::body::BoxError),
    /// The body's length differed from its declared `Content-Length`.
    #[error("request body length differs from its Content-Length")]
    Mismatch,
}

/// Why an exchange ended without a response head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// Nothing of the request was written: it can go on another connection as it is.
    #[error("the request was not written: {0}")]
    Unsent(#[source] io::Error),
    /// The connection ended (closed or reset) before any byte of a response.
    #[error("the app closed the connection before responding")]
    Closed,
    /// The response started, then the connection failed.
    #[error("reading from the app failed: {0}")]
    Io(#[source] io::Error),
    /// The response was not valid HTTP/1.1.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Writing the request failed.
    #[error(transparent)]
    Upload(#[from] UploadError),
}

/// One HTTP/1.1 connection to the app.
#[derive(Debug)]
pub(crate) struct AppConn {
    io: TcpStream,
    /// Bytes read and not yet parsed; no capacity while a held stream waits.
    buf: BytesMut,
    next_read: usize,
    /// Whether it already carried a request (only those may have been closed by the app
    /// between requests, which is when a retry is safe).
    pub(crate) reused: bool,
}

impl AppConn {
    pub(crate) fn new(io: TcpStream) -> Self {
        AppConn {
            io,
            buf: BytesMut::new(),
            next_read: READ_SIZE,
            reused: false,
        }
    }

    /// Whether an idle connection can take a request: not closed by the app, and nothing
    /// unasked-for waiting on it. Costs no system call unless the socket became readable.
    pub(crate) fn is_usable(&mut self, cx: &mut Context<'_>) -> bool {
        match self.io.poll_read_ready(cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Writes the request in `upload` and reads until a final response head arrives
    /// (informational `1xx` responses are skipped). `to_head`: the request is a `HEAD`.
    /// On success the upload may be unfinished (the app answered before reading it all).
    pub(crate) async fn exchange(
        &mut self,
        upload: &mut Upload,
        to_head: bool,
    ) -> Result<Response<Head>, ExchangeError> {
        let mut written = false;
        std::future::poll_fn(|cx| {
            if !upload.is_done() {
                match upload.poll_write(&mut self.io, &mut written, cx) {
                    Poll::Ready(Err(UploadError::Io(e))) if !written => {
                        return Poll::Ready(Err(ExchangeError::Unsent(e)));
                    }
                    // The app stopped reading: it may have answered already (say, a 413).
                    Poll::Ready(Err(UploadError::Io(e))) => {
                        return match self.poll_head(to_head, cx) {
                            Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
                            _ => Poll::Ready(Err(ExchangeError::Io(e))),
                        };
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Ready(Ok(())) | Poll::Pending => {}
                }
            }
            self.poll_head(to_head, cx)
        })
        .await
    }

    fn poll_head(
        &mut self,
        to_head: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<Head>, ExchangeError>> {
        let mut received = !self.buf.is_empty();
        loop {
            if let Some(head) = decode::parse_head(&mut self.buf, to_head)? {
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Poll::Ready(Err(Invalid("the app switched protocols unasked").into()));
                }
                if head.status.is_informational() {
                    continue; // 100 Continue, 103 Early Hints: the final response follows.
                }
                let mut response = Response::new(head);
                *response.status_mut() = response.body().status;
                // RFC 9110 §6.2: a proxy sends its own version (hyper answers an HTTP/1.0
                // client as HTTP/1.0), whatever the app's was.
                *response.version_mut() = Version::HTTP_11;
                *response.headers_mut() = std::mem::take(&mut response.body_mut().headers);
                return Poll::Ready(Ok(response));
            }
            match ready!(self.poll_read(cx)) {
                Ok(0) if received => {
                    let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "response head cut");
                    return Poll::Ready(Err(ExchangeError::Io(cut)));
                }
                Ok(0) => return Poll::Ready(Err(ExchangeError::Closed)),
                Ok(_) => received = true,
                Err(e) if !received && is_reset(&e) => {
                    return Poll::Ready(Err(ExchangeError::Closed));
                }
                Err(e) => return Poll::Ready(Err(ExchangeError::Io(e))),
            }
        }
    }

    /// The next piece of a response body framed by `decoder`, reading as needed. `Ok(End)`
    /// leaves the connection at a message boundary.
    pub(crate) fn poll_body(
        &mut self,
        decoder: &mut Decoder,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Step, BodyError>> {
        loop {
            match decoder.step(&mut self.buf)? {
                Step::NeedMore => {}
                step => return Poll::Ready(Ok(step)),
            }
            match ready!(self.poll_read(cx)) {
                Ok(0) => return Poll::Ready(Ok(decoder.at_eof()?)),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(BodyError::Io(e))),
            }
        }
    }

    /// Whether nothing beyond the last message was received (a connection with stray bytes
    /// from the app is not reused).
    pub(crate) fn is_clean(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes more of an unfinished request body.
    pub(crate) fn poll_upload(
        &mut self,
        upload: &mut Upload,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), UploadError>> {
        upload.poll_write(&mut self.io, &mut true, cx)
    }

    /// Lets go of the read buffer if nothing in it is waiting: called while a response body
    /// waits for the app, so a held stream keeps no buffer between its events.
    pub(crate) fn release_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.next_read = READ_SIZE;
        }
    }

    /// Reads once into the buffer. A released buffer is only allocated again once the
    /// socket is readable; otherwise the same allocation is reused, request after request.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() == 0 && self.io.poll_read_ready(cx)?.is_pending() {
            return Poll::Pending;
        }
        if self.buf.capacity() - self.buf.len() < self.next_read / 2 || self.buf.is_empty() {
            self.buf.reserve(self.next_read);
        }
        let room = self.buf.capacity() - self.buf.len();
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut self.buf
        ))?;
        if n == room {
            self.next_read = (self.next_read * 2).min(MAX_READ);
        }
        Poll::Ready(Ok(n))
    }
}

/// Why a response body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection to the app failed.
    #[error("reading the response from the app failed: {0}")]
    Io(#[source] io::Error),
    /// The body broke its framing, or the app closed the connection before its end.
    #[error("the app's response body is invalid: {0}")]
    Invalid(&'static str),
    /// The request body, still being written, failed.
    #[error("the request body failed while the response was read: {0}")]
    Upload(#[source] crate::body::BoxError),
    /// The body of a response to an upgrade request (read by hyper's client) failed.
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
}

impl From<Invalid> for BodyError {
    fn from(invalid: Invalid) -> Self {
        BodyError::Invalid(invalid.0)
    }
}

fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
