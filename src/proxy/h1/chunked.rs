//! Chunked transfer coding (RFC 9112 §7.1): chunk-size lines (extensions ignored), chunk
//! data, and the trailer section, taken off the front of the read buffer piece by piece.

use bytes::{Buf, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::Invalid;
use super::decode::{Decoder, MAX_HEAD_BYTES, MAX_HEADERS, Step};

/// The longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// Where a chunked body's decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Expecting the trailer section (ended by an empty line).
    Trailers,
}

/// One step of chunked decoding: the next state, and what it produced (`None`: go on).
pub(super) fn chunk_step(
    chunk: Chunk,
    buf: &mut BytesMut,
) -> Result<(Decoder, Option<Step>), Invalid> {
    let more = |c| Ok((Decoder::Chunked(c), Some(Step::NeedMore)));
    match chunk {
        Chunk::Size => {
            let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                if buf.len() > MAX_CHUNK_LINE {
                    return Err(Invalid("the app sent an overlong chunk-size line"));
                }
                return more(chunk);
            };
            let size = chunk_size(&buf[..end])?;
            buf.advance(end + 2);
            let next = if size == 0 {
                Chunk::Trailers
            } else {
                Chunk::Data(size)
            };
            Ok((Decoder::Chunked(next), None))
        }
        Chunk::Data(left) => {
            if buf.is_empty() {
                return more(chunk);
            }
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let data = buf.split_to(n).freeze();
            let next = match left - n as u64 {
                0 => Chunk::DataEnd,
                left => Chunk::Data(left),
            };
            Ok((Decoder::Chunked(next), Some(Step::Data(data))))
        }
        Chunk::DataEnd => match buf.get(..2) {
            None if buf.first().is_none_or(|b| *b == b'\r') => more(chunk),
            Some(b"\r\n") => {
                buf.advance(2);
                Ok((Decoder::Chunked(Chunk::Size), None))
            }
            _ => Err(Invalid("the app sent a chunk without its CRLF")),
        },
        Chunk::Trailers => {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let (len, fields) = match httparse::parse_headers(buf, &mut slots) {
                Ok(httparse::Status::Complete(done)) => done,
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                    return Err(Invalid("the app's trailer section is too large"));
                }
                Ok(httparse::Status::Partial) => return more(chunk),
                Err(_) => return Err(Invalid("the app sent malformed trailers")),
            };
            let mut trailers = HeaderMap::new();
            for field in fields {
                let name = HeaderName::from_bytes(field.name.as_bytes());
                let value = HeaderValue::from_bytes(field.value);
                if let (Ok(name), Ok(value)) = (name, value) {
                    trailers.append(name, value);
                }
            }
            buf.advance(len);
            let step = if trailers.is_empty() {
                Step::End
            } else {
                Step::Trailers(trailers)
            };
            Ok((Decoder::Done, Some(step)))
        }
    }
}

/// The size on a chunk-size line: hex digits, then nothing or chunk extensions (ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Invalid> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    let rest_ok = rest.is_empty() || rest.trim_ascii_start().first() == Some(&b';');
    if digits == 0 || digits > 16 || !rest_ok {
        return Err(Invalid("the app sent an invalid chunk size"));
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| Invalid("bad chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| Invalid("the app sent an invalid chunk size"))
}
