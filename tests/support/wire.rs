//! Clients that show the bytes: a raw HTTP/1.1 socket that reads responses by hand (so a
//! truncated chunked body or a stray field is visible), a WebSocket handshake, and an h2c
//! (prior knowledge) client.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::PATIENCE;

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status line and fields, up to the blank line.
    pub head: String,
    /// The body as sent (chunk framing included, if chunked).
    pub wire_body: Vec<u8>,
    /// The body with chunk framing removed.
    pub body: Vec<u8>,
    /// True if the body ended by its framing; false if the connection closed first.
    pub complete: bool,
}

impl RawResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Every value of field `name` (case-insensitive), one per line.
    pub fn fields(&self, name: &str) -> Vec<String> {
        head_fields(&self.head, name)
    }

    /// The lower-case field names, in order.
    pub fn names(&self) -> Vec<String> {
        head_names(&self.head)
    }

    /// The unframed body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw client connection with its own read buffer.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` (ignoring a reset: the server may already have closed).
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Reads one response (for a `HEAD` request, pass `head_only`). Panics if none arrives
    /// within [`PATIENCE`].
    pub async fn response(&mut self) -> RawResponse {
        tokio::time::timeout(PATIENCE, self.read_response())
            .await
            .expect("a response within PATIENCE")
            .expect("a response before the connection closed")
    }

    /// Reads the head of a response that has no body (the answer to a `HEAD`).
    pub async fn head_response(&mut self) -> RawResponse {
        let read = tokio::time::timeout(PATIENCE, self.read_head()).await;
        read.expect("a response within PATIENCE")
            .expect("a response before the connection closed")
    }

    async fn read_head(&mut self) -> Option<RawResponse> {
        let end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end;
            }
            if !self.read_more().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        Some(RawResponse {
            head,
            wire_body: Vec::new(),
            body: Vec::new(),
            complete: true,
        })
    }

    /// Reads one response, or `None` if the connection closes before a full head.
    pub async fn read_response(&mut self) -> Option<RawResponse> {
        let mut response = self.read_head().await?;
        let status = response.status();
        let bodiless = status == 101 || status == 204 || status == 304 || status < 200;
        if bodiless {
            return Some(response);
        }
        let chunked = response
            .fields("transfer-encoding")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            response.complete = self.read_chunked(&mut response).await;
        } else if let Some(len) = response.fields("content-length").first() {
            let len: usize = len.parse().expect("numeric content-length");
            while self.buf.len() < len && self.read_more().await {}
            let take = len.min(self.buf.len());
            response.body = self.buf.drain(..take).collect();
            response.wire_body = response.body.clone();
            response.complete = take == len;
        } else {
            while self.read_more().await {}
            response.body = std::mem::take(&mut self.buf);
            response.wire_body = response.body.clone();
        }
        Some(response)
    }

    async fn read_chunked(&mut self, response: &mut RawResponse) -> bool {
        let mut at = 0;
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf[at..], b"\r\n") {
                    break at + i;
                }
                if !self.read_more().await {
                    response.wire_body = std::mem::take(&mut self.buf);
                    return false;
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                .expect("hex chunk size");
            let need = line_end + 2 + size + 2;
            while self.buf.len() < need {
                if !self.read_more().await {
                    response
                        .body
                        .extend_from_slice(&self.buf[(line_end + 2).min(self.buf.len())..]);
                    response.wire_body = std::mem::take(&mut self.buf);
                    return false;
                }
            }
            if size == 0 {
                // No trailers in these tests: the last chunk is followed by the blank line.
                response.wire_body = self.buf.drain(..need).collect();
                return true;
            }
            response
                .body
                .extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
            at = need;
        }
    }

    /// Waits until the server closes the connection; returns the bytes that came first.
    pub async fn closed(&mut self) -> Vec<u8> {
        let closed =
            tokio::time::timeout(PATIENCE, async { while self.read_more().await {} }).await;
        assert!(closed.is_ok(), "the server did not close the connection");
        std::mem::take(&mut self.buf)
    }

    /// Reads at least `n` bytes past what was consumed, returning them all.
    pub async fn read_exact_n(&mut self, n: usize) -> Vec<u8> {
        let read = tokio::time::timeout(PATIENCE, async {
            while self.buf.len() < n {
                assert!(self.read_more().await, "closed before {n} bytes");
            }
        })
        .await;
        assert!(read.is_ok(), "no {n} bytes within PATIENCE");
        self.buf.drain(..n).collect()
    }

    async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// One raw request on a fresh connection; returns its response.
pub async fn raw_exchange(addr: SocketAddr, request: &str) -> RawResponse {
    let mut client = RawClient::connect(addr).await;
    client.send(request.as_bytes()).await;
    client.response().await
}

/// A WebSocket handshake for `path` (no frames are parsed: the tunnel carries bytes).
pub fn ws_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Opens an h2c connection with prior knowledge; its task ends when the connection closes.
pub async fn h2_open(addr: SocketAddr) -> http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    sender
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every value of field `name` (case-insensitive) in a message head, one per line.
pub fn head_fields(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// The lower-case field names of a message head, in order.
pub fn head_names(head: &str) -> Vec<String> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, _)| n.trim().to_ascii_lowercase())
        .collect()
}
