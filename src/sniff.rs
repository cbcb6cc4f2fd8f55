//! Which protocol a client connection speaks, told from its first bytes without consuming them.
//!
//! h2c with prior knowledge opens with the HTTP/2 connection preface ([`H2_PREFACE`]); anything
//! else is HTTP/1. The listener [`sniff`]s with `TcpStream::peek`, so hyper gets the bare socket
//! with nothing read ahead: its HTTP/1 read buffer stays at its first 8 KiB (a rewound prefix,
//! as hyper-util's auto builder hands over, makes it reallocate to 16 KiB on the next read).
//!
//! Sniffing has no timeout of its own: the caller bounds it by `server.header_read_timeout`.

use std::io;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
pub const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// First wait before peeking again at a partial preface; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(1);

/// Longest wait between two peeks, so a client that stalls inside the preface costs a few
/// wake-ups a second, not a busy loop.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// The protocol a client connection is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x (with upgrades).
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    H2,
}

impl Protocol {
    /// What a connection that starts with `prefix` speaks: h2 once the whole preface is
    /// there, HTTP/1 as soon as a byte differs from it, `None` while `prefix` is a proper
    /// prefix of the preface (including empty).
    pub fn detect(prefix: &[u8]) -> Option<Protocol> {
        let n = prefix.len().min(H2_PREFACE.len());
        if prefix[..n] != H2_PREFACE[..n] {
            Some(Protocol::Http1)
        } else if n == H2_PREFACE.len() {
            Some(Protocol::H2)
        } else {
            None
        }
    }
}

/// Peeks at `stream` until its first bytes tell the protocol; reads nothing. `Ok(None)`: the
/// client closed without sending a byte.
///
/// A partial preface is peeked again after a short wait (peek returns at once while data is
/// buffered, so waiting for readiness would spin). If the client half-closes inside the
/// preface, the connection goes to HTTP/1, whose parser rejects what was sent.
pub async fn sniff(stream: &TcpStream) -> io::Result<Option<Protocol>> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut wait = FIRST_WAIT;
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(protocol) = Protocol::detect(&buf[..n]) {
            return Ok(Some(protocol));
        }
        if stream.ready(Interest::READABLE).await?.is_read_closed() {
            return Ok(Some(Protocol::Http1));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_waits_only_inside_the_preface() {
        assert_eq!(Protocol::detect(b""), None);
        assert_eq!(Protocol::detect(b"PRI * HT"), None);
        assert_eq!(Protocol::detect(&H2_PREFACE[..23]), None);
        assert_eq!(Protocol::detect(H2_PREFACE), Some(Protocol::H2));
        let mut more = H2_PREFACE.to_vec();
        more.extend_from_slice(&[0, 0, 0, 4]);
        assert_eq!(Protocol::detect(&more), Some(Protocol::H2));
        assert_eq!(Protocol::detect(b"G"), Some(Protocol::Http1));
        assert_eq!(Protocol::detect(b"PUT / HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(
            Protocol::detect(b"PRI * HTTP/1.1\r\n\r\n"),
            Some(Protocol::Http1)
        );
    }
}
