//! [`RawApp`]: a scripted upstream that speaks HTTP/1.1 by hand, on `127.0.0.1:0`.
//!
//! It records the exact bytes of every request it receives (so tests see what sluice put on
//! the wire, not what a parser made of it) and answers with bytes the test chooses: framing
//! errors, hop-by-hop response fields, truncated bodies, or a close instead of an answer. It
//! can also behave like Node's keep-alive (close a connection idle for a set time).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The head, exactly as received (request line and fields, up to the blank line).
    pub head: String,
    /// The body bytes as received (still chunk-encoded if it was chunked).
    pub body: Vec<u8>,
    /// False if the connection ended before the body was complete.
    pub complete: bool,
    /// Which upstream connection it came on (0, 1, ...).
    pub conn: usize,
    /// Its position on that connection (0 for the first request).
    pub nth: usize,
    /// How long the connection had been idle before the request's first byte.
    pub idle_before: Duration,
}

impl RawRequest {
    /// The request line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// Every value of field `name` (case-insensitive), one per line as received.
    pub fn fields(&self, name: &str) -> Vec<String> {
        super::wire::head_fields(&self.head, name)
    }

    /// The lower-case names of every field, in order.
    pub fn names(&self) -> Vec<String> {
        super::wire::head_names(&self.head)
    }
}

/// What the app does with a request.
pub enum Reply {
    /// Writes these bytes and keeps the connection for the next request.
    Send(Vec<u8>),
    /// Writes these bytes, then closes the connection.
    SendAndClose(Vec<u8>),
    /// Closes the connection without answering.
    Close,
}

impl Reply {
    /// A complete `200` with a small body, connection kept.
    pub fn ok(body: &str) -> Reply {
        Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into(),
        )
    }

    /// [`Reply::ok`], without the body if `request` is a `HEAD`.
    pub fn ok_to(request: &RawRequest, body: &str) -> Reply {
        if !request.line().starts_with("HEAD ") {
            return Reply::ok(body);
        }
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        Reply::Send(head.into())
    }
}

type Script = dyn Fn(&RawRequest) -> Reply + Send + Sync;

struct Shared {
    log: Mutex<Vec<RawRequest>>,
    arrived: Notify,
    script: Box<Script>,
    idle_close: Option<Duration>,
}

/// The running scripted app.
#[derive(Clone)]
pub struct RawApp {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl RawApp {
    /// Starts an app answering with `script`; with `idle_close`, a connection idle that long
    /// is closed (Node's `keepAliveTimeout`).
    pub async fn start(
        idle_close: Option<Duration>,
        script: impl Fn(&RawRequest) -> Reply + Send + Sync + 'static,
    ) -> RawApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            log: Mutex::default(),
            arrived: Notify::new(),
            script: Box::new(script),
            idle_close,
        });
        let accepting = shared.clone();
        tokio::spawn(async move {
            for conn in 0.. {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, conn, accepting.clone()));
            }
        });
        RawApp { addr, shared }
    }

    /// Every request received so far, in order.
    pub fn log(&self) -> Vec<RawRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.shared.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.log.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }
}

async fn serve(mut stream: TcpStream, conn: usize, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    let mut idle_since = Instant::now();
    for nth in 0.. {
        // Wait for the next request's first byte, closing like Node if idle too long.
        if buf.is_empty() {
            let wait = shared.idle_close.unwrap_or(Duration::from_secs(3600));
            match tokio::time::timeout(wait, read_more(&mut stream, &mut buf)).await {
                Ok(true) => {}
                Ok(false) | Err(_) => return,
            }
        }
        let idle_before = idle_since.elapsed();
        let (head, complete_head) = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
                buf.drain(..end + 4);
                break (head, true);
            }
            if !read_more(&mut stream, &mut buf).await {
                break (String::from_utf8_lossy(&buf).into_owned(), false);
            }
        };
        let mut request = RawRequest {
            head,
            body: Vec::new(),
            complete: complete_head,
            conn,
            nth,
            idle_before,
        };
        if complete_head {
            request.complete = read_body(&mut stream, &mut buf, &mut request).await;
        }
        let reply = (shared.script)(&request);
        let complete = request.complete;
        shared.log.lock().unwrap().push(request);
        shared.arrived.notify_waiters();
        if !complete {
            return;
        }
        match reply {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::SendAndClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
            Reply::Close => return,
        }
        idle_since = Instant::now();
    }
}

/// Reads the body framed by the head's fields; false if the connection ended first.
async fn read_body(stream: &mut TcpStream, buf: &mut Vec<u8>, request: &mut RawRequest) -> bool {
    let chunked = request
        .fields("transfer-encoding")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            if let Some(end) = find(buf, b"0\r\n\r\n") {
                request.body = buf.drain(..end + 5).collect();
                return true;
            }
            if !read_more(stream, buf).await {
                request.body = std::mem::take(buf);
                return false;
            }
        }
    }
    let len: usize = request
        .fields("content-length")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < len {
        if !read_more(stream, buf).await {
            request.body = std::mem::take(buf);
            return false;
        }
    }
    request.body = buf.drain(..len).collect();
    true
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
