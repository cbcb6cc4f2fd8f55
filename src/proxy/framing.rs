//! What sluice refuses to forward as written: framing it cannot re-frame faithfully
//! (RFC 9112 §6.1) and a `Host` the app could read two ways (RFC 9112 §3.2).
//!
//! hyper has already refused what is ambiguous on its own (differing `Content-Length`s, a
//! `Transfer-Encoding` not ending in `chunked`, `Transfer-Encoding` on HTTP/1.0) and dropped
//! `Content-Length` next to `Transfer-Encoding`. What is left to check is what hyper accepts
//! but sluice cannot forward faithfully: hyper decodes exactly one `chunked`, and sluice
//! removes `Transfer-Encoding` (it is hop-by-hop), so any other coding would reach the app
//! undeclared, and a second `chunked` would reach it still chunk-encoded.

use http::header::{self, HeaderMap};
use http::uri::Authority;
use http::{Request, Version};

use crate::error::ProxyError;

/// Checks the request's transfer codings: none, or exactly one `chunked`.
pub fn check_transfer_coding(headers: &HeaderMap) -> Result<(), ProxyError> {
    let mut chunked = 0;
    let mut other = false;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Err(ProxyError::BadRequest("unreadable transfer-encoding"));
        };
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else {
                other = true;
            }
        }
    }
    if chunked > 1 {
        return Err(ProxyError::BadRequest("chunked applied more than once"));
    }
    if other {
        return Err(ProxyError::NotImplemented(
            "transfer codings other than chunked are not forwarded",
        ));
    }
    Ok(())
}

/// RFC 9112 §3.2: at most one `Host`, and a valid one (`host[:port]`, or empty); an
/// HTTP/1.1 or HTTP/2 request needs one, or an authority in its target (which replaces it).
pub fn check_host<B>(req: &Request<B>) -> Result<(), ProxyError> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err(ProxyError::BadRequest("more than one Host field")),
        (Some(host), None) if !valid_host(host.as_bytes()) => {
            Err(ProxyError::BadRequest("invalid Host field"))
        }
        (None, _) if req.uri().authority().is_none() && req.version() != Version::HTTP_10 => {
            Err(ProxyError::BadRequest("missing Host field"))
        }
        _ => Ok(()),
    }
}

fn valid_host(value: &[u8]) -> bool {
    value.is_empty()
        || (!value.contains(&b'@')
            && Authority::try_from(value).is_ok_and(|a| a.as_str().len() == value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn te(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::TRANSFER_ENCODING, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_a_single_chunked_passes() {
        assert!(check_transfer_coding(&HeaderMap::new()).is_ok());
        assert!(check_transfer_coding(&te(&["chunked"])).is_ok());
        assert!(check_transfer_coding(&te(&[" Chunked "])).is_ok());
        let twice = check_transfer_coding(&te(&["chunked", "chunked"]));
        assert_eq!(twice.unwrap_err().status(), 400);
        let gzip = check_transfer_coding(&te(&["gzip, chunked"]));
        assert_eq!(gzip.unwrap_err().status(), 501);
    }

    #[test]
    fn hosts_are_single_and_valid() {
        assert!(valid_host(b"app.example:8080"));
        assert!(valid_host(b"[::1]:80"));
        assert!(valid_host(b""));
        assert!(!valid_host(b"user@app.example"));
        assert!(!valid_host(b"app.example/x"));
        assert!(!valid_host(b"a b"));
    }
}
