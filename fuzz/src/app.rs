//! A strict app on loopback: it parses every request sluice forwards by hand and records as
//! a violation anything a second parser could read differently (RFC 9112 §6.3, §11.2) or
//! anything hop-by-hop (RFC 9110 §7.6.1). It answers `200 ok`, or `101` then closes for an
//! upgrade (so tunnels open and end too).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Violations = Arc<Mutex<Vec<String>>>;

/// The running app and what it has found wrong.
pub(crate) struct StrictApp {
    pub(crate) addr: SocketAddr,
    violations: Violations,
}

impl StrictApp {
    pub(crate) async fn start() -> StrictApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let violations = Violations::default();
        let found = violations.clone();
        tokio::spawn(async move {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, found.clone()));
                }
            }
        });
        StrictApp { addr, violations }
    }

    pub(crate) fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().expect("lock"))
    }
}

/// How the body after a head is framed.
enum Framing {
    Length(usize),
    Chunked,
}

/// What the app needs from a checked head.
struct Head {
    framing: Framing,
    head_request: bool,
    upgrade: bool,
}

async fn serve(mut stream: TcpStream, violations: Violations) {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end;
            }
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        };
        let raw: Vec<u8> = buf.drain(..end + 4).collect();
        let head = match check_head(&raw[..end + 2]) {
            Ok(head) => head,
            Err(why) => {
                let text = String::from_utf8_lossy(&raw).into_owned();
                violations
                    .lock()
                    .expect("lock")
                    .push(format!("{why}: {text:?}"));
                return;
            }
        };
        let complete = match head.framing {
            Framing::Length(n) => read_length(&mut stream, &mut buf, n).await,
            Framing::Chunked => match read_chunked(&mut stream, &mut buf).await {
                Ok(complete) => complete,
                Err(why) => {
                    violations.lock().expect("lock").push(why.to_owned());
                    return;
                }
            },
        };
        if !complete {
            return; // cut short: incomplete, never ambiguous
        }
        let answer: &[u8] = if head.upgrade {
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        } else if head.head_request {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        };
        if stream.write_all(answer).await.is_err() || head.upgrade {
            return;
        }
    }
}

const HOP_BY_HOP: [&str; 7] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "http2-settings",
];

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks one request head (every line ending in CRLF, without the blank line); the error
/// says what is ambiguous or forbidden.
fn check_head(head: &[u8]) -> Result<Head, &'static str> {
    let head = head.strip_suffix(b"\n").ok_or("head does not end a line")?;
    let mut lines = head.split(|b| *b == b'\n');
    let line = lines.next().ok_or("empty head")?;
    let line = line.strip_suffix(b"\r").ok_or("bare LF")?;
    let parts: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err("request line is not three parts");
    };
    if method.is_empty() || !method.iter().all(|b| is_tchar(*b)) {
        return Err("bad method");
    }
    if target.is_empty() || target.iter().any(|b| *b <= b' ' || *b == 0x7f) {
        return Err("bad target");
    }
    if !(target.starts_with(b"/") || target == b"*") {
        return Err("target is not origin-form");
    }
    if version != b"HTTP/1.1" {
        return Err("not HTTP/1.1");
    }
    let (mut cl, mut te, mut host, mut xff, mut rid) = (Vec::new(), Vec::new(), 0, 0, 0);
    let (mut connection, mut upgrade) = (Vec::new(), Vec::new());
    for line in lines {
        let line = line.strip_suffix(b"\r").ok_or("bare LF in a field")?;
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or("field without colon")?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
            return Err("bad field name");
        }
        if value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err("CR, LF or NUL in a value");
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = String::from_utf8_lossy(value).trim().to_owned();
        match name.as_str() {
            "content-length" => cl.push(value),
            "transfer-encoding" => te.push(value),
            "host" => host += 1,
            "x-forwarded-for" => xff += 1,
            "x-request-id" => rid += 1,
            "connection" => connection.push(value.to_ascii_lowercase()),
            "upgrade" => upgrade.push(value.to_ascii_lowercase()),
            n if HOP_BY_HOP.contains(&n) => return Err("hop-by-hop field forwarded"),
            _ => {}
        }
    }
    if cl.len() > 1 {
        return Err("several Content-Length");
    }
    if !cl.is_empty() && !te.is_empty() {
        return Err("Content-Length and Transfer-Encoding");
    }
    if te.len() > 1
        || te
            .first()
            .is_some_and(|t| !t.eq_ignore_ascii_case("chunked"))
    {
        return Err("Transfer-Encoding other than one chunked");
    }
    if host != 1 || xff != 1 || rid != 1 {
        return Err("not exactly one Host, X-Forwarded-For and X-Request-Id");
    }
    let upgrading = !upgrade.is_empty();
    let mut protocols = upgrade.iter().flat_map(|u| u.split(',')).map(str::trim);
    if protocols.any(|p| p == "h2c") {
        return Err("h2c offered upstream");
    }
    if connection.iter().any(|c| c != "upgrade") || upgrading == connection.is_empty() {
        return Err("Connection other than a real upgrade's");
    }
    let framing = match cl.first() {
        Some(len) => Framing::Length(
            (!len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()))
                .then(|| len.parse().ok())
                .flatten()
                .ok_or("Content-Length not a plain number")?,
        ),
        None if !te.is_empty() => Framing::Chunked,
        None => Framing::Length(0),
    };
    Ok(Head {
        framing,
        head_request: method == b"HEAD",
        upgrade: upgrading,
    })
}

async fn read_length(stream: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    while buf.len() < n {
        if !read_more(stream, buf).await {
            return false;
        }
    }
    buf.drain(..n);
    true
}

/// Reads a chunked body strictly; `Ok(false)` if the connection ended first.
async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool, &'static str> {
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            if !read_more(stream, buf).await {
                return Ok(false);
            }
        };
        let size_line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(&size_line, 16).map_err(|_| "bad chunk size")?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailer fields (end-to-end, RFC 9110 §6.5) until the blank line.
            loop {
                let end = loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        break i;
                    }
                    if !read_more(stream, buf).await {
                        return Ok(false);
                    }
                };
                let line: Vec<u8> = buf.drain(..end + 2).collect();
                if end == 0 {
                    return Ok(true);
                }
                let colon = line.iter().position(|b| *b == b':');
                if colon.is_none_or(|c| c == 0 || !line[..c].iter().all(|b| is_tchar(*b))) {
                    return Err("malformed trailer field");
                }
            }
        }
        while buf.len() < size + 2 {
            if !read_more(stream, buf).await {
                return Ok(false);
            }
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF");
        }
        buf.drain(..size + 2);
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
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
