//! Unit tests of the HTTP/1.1 client codec: response heads, body framing, and decoding a
//! message however it is split across reads.

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::decode::{Decoder, Step, parse_head};

fn head(raw: &str, to_head: bool) -> Result<super::Head, super::Invalid> {
    let mut buf = BytesMut::from(raw);
    Ok(parse_head(&mut buf, to_head)?.expect("a complete head"))
}

/// Decodes `wire` fed to the decoder `piece` bytes at a time; returns the body, the trailers
/// (as `name: value` lines) and whether it ended.
fn decode_in_pieces(mut decoder: Decoder, wire: &[u8], piece: usize) -> (Vec<u8>, Vec<String>) {
    let mut buf = BytesMut::new();
    let (mut body, mut trailers) = (Vec::new(), Vec::new());
    let mut fed = 0;
    loop {
        match decoder.step(&mut buf).expect("valid framing") {
            Step::Data(data) => body.extend_from_slice(&data),
            Step::Trailers(map) => trailers.extend(
                map.iter()
                    .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())),
            ),
            Step::End => return (body, trailers),
            Step::NeedMore => {
                assert!(fed < wire.len(), "ran out of input: {decoder:?}");
                let end = (fed + piece).min(wire.len());
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
            }
        }
    }
}

#[test]
fn a_head_parses_with_its_fields_and_leaves_the_body_in_the_buffer() {
    let mut buf = BytesMut::from(
        "HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 3\r\n\r\nabc",
    );
    let head = parse_head(&mut buf, false).unwrap().unwrap();
    assert_eq!(head.status, StatusCode::CREATED);
    let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(head.decoder, Decoder::Length(3));
    assert!(head.keep_alive);
    assert_eq!(&buf[..], b"abc");
}

#[test]
fn a_partial_head_waits_and_an_endless_one_is_refused() {
    let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Le");
    assert!(parse_head(&mut buf, false).unwrap().is_none());
    assert_eq!(buf.len(), 27, "nothing consumed");
    let mut huge = BytesMut::from("HTTP/1.1 200 OK\r\n");
    huge.extend_from_slice(&b"x-a: b\r\n".repeat(10_000));
    assert!(parse_head(&mut huge, false).is_err());
    assert!(head("HTTP/1.1 2OO OK\r\n\r\n", false).is_err());
    assert!(head("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", false).is_err());
}

#[test]
fn framing_follows_rfc_9112_section_6_3() {
    let framed = |raw: &str, to_head| head(raw, to_head).map(|h| (h.decoder, h.keep_alive));
    let chunked = Decoder::Chunked(super::decode::Chunk::Size);
    // No body: HEAD, 204, 304, whatever the fields say.
    let with_length = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
    assert_eq!(framed(with_length, true), Ok((Decoder::Length(0), true)));
    let no_content = "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n";
    assert_eq!(framed(no_content, false), Ok((Decoder::Length(0), true)));
    let not_modified = "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(framed(not_modified, false), Ok((Decoder::Length(0), true)));
    // Chunked wins over Content-Length, and the connection is not trusted afterwards.
    let both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(framed(both, false), Ok((chunked, false)));
    let chunked_only = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n";
    assert_eq!(framed(chunked_only, false), Ok((chunked, true)));
    // A coding that does not end in chunked, or no length at all: until the close.
    let gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
    assert_eq!(framed(gzip, false), Ok((Decoder::Eof, false)));
    assert_eq!(
        framed("HTTP/1.1 200 OK\r\n\r\n", false),
        Ok((Decoder::Eof, false))
    );
    // Repeated lengths must agree; anything but digits is refused.
    let same = "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(framed(same, false), Ok((Decoder::Length(5), true)));
    for bad in ["5, 6", "+5", "-1", "0x10", "", "99999999999999999999999"] {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
        assert!(framed(&raw, false).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn keep_alive_depends_on_version_and_connection() {
    let alive = |raw: &str| head(raw, false).unwrap().keep_alive;
    assert!(alive("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!alive(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!alive("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(alive(
        "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
    ));
}

#[test]
fn a_chunked_body_decodes_the_same_split_at_any_byte() {
    let wire = b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    for piece in 1..=wire.len() {
        let (body, trailers) =
            decode_in_pieces(Decoder::Chunked(super::decode::Chunk::Size), wire, piece);
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "pieces of {piece}");
        assert_eq!(trailers, ["x-checksum: abc", "x-other: 1"]);
    }
}

#[test]
fn a_length_body_stops_at_its_length_and_leaves_the_next_bytes() {
    let mut decoder = Decoder::Length(5);
    let mut buf = BytesMut::from("helloHTTP/1.1");
    assert_eq!(
        decoder.step(&mut buf),
        Ok(Step::Data(Bytes::from_static(b"hello")))
    );
    assert!(decoder.is_done());
    assert_eq!(decoder.step(&mut buf), Ok(Step::End));
    assert_eq!(&buf[..], b"HTTP/1.1");
}

#[test]
fn broken_chunking_and_early_ends_are_errors() {
    for wire in [
        &b"zz\r\n"[..],
        b"5\r\nhelloXY",
        b"-1\r\n",
        b"5 x\r\nhello\r\n",
        b"11111111111111111\r\n",
    ] {
        let mut decoder = Decoder::Chunked(super::decode::Chunk::Size);
        let mut buf = BytesMut::from(wire);
        let failed = loop {
            match decoder.step(&mut buf) {
                Ok(Step::NeedMore) => break false,
                Ok(_) => {}
                Err(_) => break true,
            }
        };
        assert!(failed, "accepted {:?}", String::from_utf8_lossy(wire));
    }
    let mut cut = Decoder::Length(10);
    assert!(
        cut.at_eof().is_err(),
        "a closed connection cuts a length body"
    );
    let mut cut = Decoder::Chunked(super::decode::Chunk::Data(3));
    assert!(cut.at_eof().is_err(), "and a chunked one");
    let mut until_close = Decoder::Eof;
    assert_eq!(
        until_close.at_eof(),
        Ok(Step::End),
        "but ends a close-delimited one"
    );
}

/// Valid responses, mutated at random (seeded): parsing and decoding never panic, always
/// make progress, and never yield more body bytes than were received.
#[test]
fn mutated_responses_never_panic_or_stall() {
    let valid: [&[u8]; 4] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n\r\nrest",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for round in 0..20_000 {
        let mut wire = valid[round % valid.len()].to_vec();
        for _ in 0..1 + next(4) {
            let at = next(wire.len() + 1);
            match next(4) {
                0 if at < wire.len() => wire[at] = b"0123456789abcdefxX:; \r\n-,"[next(25)],
                1 => wire.insert(at, b"\r\n0;:9fF"[next(8)]),
                2 => wire.truncate(at),
                _ if at < wire.len() => {
                    wire.remove(at);
                }
                _ => {}
            }
        }
        let mut buf = BytesMut::from(&wire[..]);
        let Ok(Some(head)) = parse_head(&mut buf, false) else {
            continue;
        };
        let mut decoder = head.decoder;
        let (mut body, mut settled) = (0, false);
        for _ in 0..=wire.len() + 2 {
            let before = buf.len();
            match decoder.step(&mut buf) {
                Ok(Step::Data(data)) => {
                    assert!(!data.is_empty() && buf.len() < before, "progress");
                    body += data.len();
                }
                Ok(Step::Trailers(_)) => {}
                Ok(Step::End) | Ok(Step::NeedMore) | Err(_) => {
                    settled = true;
                    break;
                }
            }
        }
        assert!(
            settled,
            "the decoder stalled on {:?}",
            String::from_utf8_lossy(&wire)
        );
        assert!(body <= wire.len());
    }
}
