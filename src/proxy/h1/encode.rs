//! Writing requests to the app: the head ([`encode_head`]) and the body ([`Upload`]), framed
//! with `Content-Length` when its length is known and `chunked` otherwise (RFC 9112 §6-§7).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::header::{self, HeaderMap};
use http::request::Parts;
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use super::UploadError;
use crate::proxy::{Forwarded, UpstreamBody};

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Exactly this many bytes (0: no body).
    Length(u64),
    /// Chunked, for a body of unknown length.
    Chunked,
}

/// The request head as sent to the app: `parts`' method, the target `path` (origin form),
/// HTTP/1.1 and its fields (hop-by-hop ones already removed, those `forwarded` replaces
/// swapped for its own), plus the framing field the body needs. Also returns the body, set
/// up to be written after the head.
pub(crate) fn encode_head(
    parts: &Parts,
    path: &str,
    forwarded: &Forwarded,
    body: UpstreamBody,
) -> (Bytes, Upload) {
    let headers = &parts.headers;
    let framing = framing(headers, &body);
    let fields = || {
        let own = headers.iter().filter(|(name, _)| !forwarded.replaces(name));
        own.chain(forwarded.fields())
    };
    // The exact length, so the `Vec` becomes `Bytes` without another allocation.
    let declare = match framing {
        Framing::Chunked => Some(Bytes::from_static(b"transfer-encoding: chunked\r\n")),
        Framing::Length(n) if !headers.contains_key(header::CONTENT_LENGTH) && n > 0 => {
            Some(Bytes::from(format!("content-length: {n}\r\n")))
        }
        Framing::Length(_) => None,
    };
    let line = parts.method.as_str().len() + 1 + path.len() + b" HTTP/1.1\r\n".len();
    let size = fields().fold(
        line + declare.as_ref().map_or(0, Bytes::len) + 2,
        |n, (k, v)| n + k.as_str().len() + v.len() + 4,
    );
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in fields() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(declare) = declare {
        out.extend_from_slice(&declare);
    }
    out.extend_from_slice(b"\r\n");
    debug_assert_eq!(out.len(), size);
    let upload = Upload {
        body: (framing != Framing::Length(0)).then_some(body),
        framing,
        sent: 0,
        head: None,
        out: VecDeque::new(),
        abandoned: false,
    };
    (Bytes::from(out), upload)
}

/// A `Content-Length` the client sent (hyper checked the body against it), else the body's
/// exact size, else chunked.
fn framing(headers: &HeaderMap, body: &UpstreamBody) -> Framing {
    if body.is_end_stream() {
        return Framing::Length(0);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared.or_else(|| body.size_hint().exact()) {
        Some(n) => Framing::Length(n),
        None => Framing::Chunked,
    }
}

/// A request body on its way to the app, with the bytes queued but not yet written.
#[derive(Debug)]
pub(crate) struct Upload {
    /// `None` once the body has ended (or for no body at all).
    body: Option<UpstreamBody>,
    framing: Framing,
    sent: u64,
    /// The request head, written first.
    head: Option<Bytes>,
    out: VecDeque<Bytes>,
    /// Given up on before its end: the connection cannot carry another request.
    abandoned: bool,
}

impl Upload {
    /// Stops writing: the rest of the body is dropped.
    pub(crate) fn abandon(&mut self) {
        self.body = None;
        self.head = None;
        self.out.clear();
        self.abandoned = true;
    }

    /// Whether the whole request was written.
    pub(crate) fn is_complete(&self) -> bool {
        self.is_done() && !self.abandoned
    }

    /// Sets the request head to write before the body (again, for a retry).
    pub(crate) fn set_head(&mut self, head: Bytes) {
        self.head = Some(head);
    }

    /// Whether all of the request has been written.
    pub(crate) fn is_done(&self) -> bool {
        self.body.is_none() && self.head.is_none() && self.out.is_empty()
    }

    /// Writes what is queued and pulls more from the body, until everything is written
    /// (`Ready(Ok)`), the socket or the body must be waited for, or something fails.
    /// `written` is set once any byte has gone out.
    pub(crate) fn poll_write(
        &mut self,
        io: &mut TcpStream,
        written: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), UploadError>> {
        loop {
            if self.head.is_some() || !self.out.is_empty() {
                let mut slices = [IoSlice::new(&[]); 8];
                let queued = self.head.iter().chain(&self.out);
                let mut n = 0;
                for (slice, bytes) in slices.iter_mut().zip(queued) {
                    *slice = IoSlice::new(bytes);
                    n += 1;
                }
                // One buffer (a request head alone, most often) goes out with a plain send.
                let io = Pin::new(&mut *io);
                let polled = match n {
                    1 => io.poll_write(cx, &slices[0]),
                    _ => io.poll_write_vectored(cx, &slices[..n]),
                };
                let wrote = match ready!(polled) {
                    Ok(wrote) => wrote,
                    Err(error) => {
                        // Unsent bytes stay queued, for a retry on another connection.
                        if *written {
                            self.abandon();
                        }
                        return Poll::Ready(Err(UploadError::Io(error)));
                    }
                };
                if wrote == 0 {
                    self.abandon();
                    return Poll::Ready(Err(UploadError::Io(io::ErrorKind::WriteZero.into())));
                }
                *written = true;
                self.advance(wrote);
                continue;
            }
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // Request trailers are not forwarded.
                    };
                    self.queue(data)?;
                }
                Some(Err(error)) => {
                    self.abandon();
                    return Poll::Ready(Err(UploadError::Body(error)));
                }
                None => {
                    self.body = None;
                    match self.framing {
                        Framing::Chunked => self.out.push_back(Bytes::from_static(b"0\r\n\r\n")),
                        Framing::Length(n) if self.sent != n => {
                            self.abandon();
                            return Poll::Ready(Err(UploadError::Mismatch));
                        }
                        Framing::Length(_) => {}
                    }
                }
            }
        }
    }

    fn queue(&mut self, data: Bytes) -> Result<(), UploadError> {
        if data.is_empty() {
            return Ok(());
        }
        self.sent += data.len() as u64;
        match self.framing {
            Framing::Length(n) if self.sent > n => {
                self.abandon();
                Err(UploadError::Mismatch)
            }
            Framing::Length(_) => {
                self.out.push_back(data);
                Ok(())
            }
            Framing::Chunked => {
                self.out
                    .push_back(Bytes::from(format!("{:x}\r\n", data.len())));
                self.out.push_back(data);
                self.out.push_back(Bytes::from_static(b"\r\n"));
                Ok(())
            }
        }
    }

    fn advance(&mut self, mut n: usize) {
        if let Some(head) = self.head.as_mut() {
            if head.len() > n {
                head.advance(n);
                return;
            }
            n -= head.len();
            self.head = None;
        }
        while n > 0 {
            let Some(front) = self.out.front_mut() else {
                return;
            };
            if front.len() > n {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.out.pop_front();
        }
    }
}
