//! Reading the app's HTTP/1.1 responses: the head ([`parse_head`]) and the body framing
//! ([`Decoder`]), per RFC 9112 §4-§7. Both work on the connection's read buffer and take only
//! complete pieces out of it, so a message split across reads at any byte decodes the same.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

use super::Invalid;
pub(crate) use super::chunked::Chunk;
use super::chunked::chunk_step;

/// The most fields a response head (or trailer section) may carry.
pub(super) const MAX_HEADERS: usize = 128;
/// The largest response head (or trailer section) accepted, in bytes.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A parsed response head, and how its body is framed.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) decoder: Decoder,
    /// Whether the connection may carry another request after this response.
    pub(crate) keep_alive: bool,
}

/// Takes one complete response head off the front of `buf`, if there is one. `to_head` says
/// the request was `HEAD` (so the response has no body whatever its fields say).
pub(crate) fn parse_head(buf: &mut BytesMut, to_head: bool) -> Result<Option<Head>, Invalid> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => return Ok(None),
        Ok(_) => return Err(Invalid("the app's response head is too large")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Invalid("the app's response has too many header fields"));
        }
        Err(_) => return Err(Invalid("the app sent a malformed response head")),
    };
    let status = StatusCode::from_u16(response.code.unwrap_or(0))
        .map_err(|_| Invalid("the app sent an invalid status code"))?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Where each name and value sits in the head, so they can be taken from its bytes once
    // `httparse`'s borrow of the buffer ends: the values are slices of those bytes, no copy.
    let base = buf.as_ptr() as usize;
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let count = response.headers.len();
    for (span, field) in spans.iter_mut().zip(response.headers.iter()) {
        let name = field.name.as_ptr() as usize - base;
        let value = field.value.as_ptr() as usize - base;
        // A head is at most MAX_HEAD_BYTES long, so the offsets fit.
        *span = (
            name as u32,
            (name + field.name.len()) as u32,
            value as u32,
            (value + field.value.len()) as u32,
        );
    }
    let raw = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(count);
    for &(name_start, name_end, start, end) in &spans[..count] {
        let name = HeaderName::from_bytes(&raw[name_start as usize..name_end as usize])
            .map_err(|_| Invalid("the app sent an invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(raw.slice(start as usize..end as usize))
            .map_err(|_| Invalid("the app sent an invalid header value"))?;
        headers.append(name, value);
    }
    let (decoder, close_delimited) = framing(status, &headers, to_head)?;
    let keep_alive = !close_delimited && keeps_alive(version, &headers);
    Ok(Some(Head {
        status,
        headers,
        decoder,
        keep_alive,
    }))
}

/// RFC 9112 §6.3: the body's framing, and whether it ends only when the connection does.
fn framing(
    status: StatusCode,
    headers: &HeaderMap,
    to_head: bool,
) -> Result<(Decoder, bool), Invalid> {
    if to_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Decoder::Length(0), false));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|c| !c.is_empty());
        return Ok(match last {
            // With a Content-Length too, the connection is not trusted any further (§6.3).
            Some(c) if c.eq_ignore_ascii_case("chunked") => (
                Decoder::Chunked(Chunk::Size),
                headers.contains_key(header::CONTENT_LENGTH),
            ),
            _ => (Decoder::Eof, true),
        });
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|b| *b == b',') {
            let part = part.trim_ascii();
            let parsed = (!part.is_empty() && part.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(part).ok()?.parse::<u64>().ok())
                .flatten()
                .ok_or(Invalid("the app sent an invalid Content-Length"))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(Invalid("the app sent conflicting Content-Lengths"));
            }
            length = Some(parsed);
        }
    }
    Ok(match length {
        Some(n) => (Decoder::Length(n), false),
        None => (Decoder::Eof, true),
    })
}

/// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 only with `keep-alive`.
fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let has = |token: &str| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if version == Version::HTTP_10 {
        has("keep-alive")
    } else {
        !has("close")
    }
}

/// How far a response body has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// This many bytes are still to come (0: the body has ended).
    Length(u64),
    /// A chunked body, at this point of its framing.
    Chunked(Chunk),
    /// Everything until the app closes the connection.
    Eof,
    /// The body has ended.
    Done,
}

/// What one decoding step produced.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The trailer fields of a chunked body (not empty).
    Trailers(HeaderMap),
    /// The body has ended.
    End,
    /// More bytes must be read first.
    NeedMore,
}

impl Decoder {
    /// Whether the body has been read to its end.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Decoder::Done | Decoder::Length(0))
    }

    /// Takes the next piece of the body off the front of `buf`.
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, Invalid> {
        loop {
            match *self {
                Decoder::Done | Decoder::Length(0) => {
                    *self = Decoder::Done;
                    return Ok(Step::End);
                }
                Decoder::Length(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    *self = Decoder::Length(left - n as u64);
                    return Ok(Step::Data(buf.split_to(n).freeze()));
                }
                Decoder::Eof => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Decoder::Chunked(chunk) => match chunk_step(chunk, buf)? {
                    (next, Some(step)) => {
                        *self = next;
                        return Ok(step);
                    }
                    (next, None) => *self = next,
                },
            }
        }
    }

    /// At the end of the connection: whether that ends the body, or cuts it short.
    pub(crate) fn at_eof(&mut self) -> Result<Step, Invalid> {
        match self {
            Decoder::Eof | Decoder::Done | Decoder::Length(0) => {
                *self = Decoder::Done;
                Ok(Step::End)
            }
            _ => Err(Invalid("the app closed the connection mid-response")),
        }
    }
}
