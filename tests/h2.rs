//! HTTP/2 with prior knowledge (h2c): forwarded to the app as HTTP/1.1 with `:authority` as
//! `Host`; a reset stream frees its slot and cancels the app's request; the stream limit is
//! advertised and enforced; a rapid-reset flood closes the connection; an app failure
//! mid-body resets the stream, never ends it cleanly; a preface sent in pieces is still h2.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn h2_get(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://app.test:8080{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn h2_requests_reach_the_app_as_http1_with_the_authority_as_host() {
    let app = RawApp::start(None, |_| Reply::ok("hi")).await;
    let h = Harness::start_raw(app, |_| {}).await;
    let mut sender = h2_open(h.addr()).await;
    let response = sender.send_request(h2_get("/echo?q=1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert!(response.headers().contains_key("x-request-id"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hi");
    let seen = &h.app.log()[0];
    assert_eq!(seen.line(), "GET /echo?q=1 HTTP/1.1");
    assert_eq!(seen.fields("host"), ["app.test:8080"]);
    assert_eq!(seen.fields("x-forwarded-host"), ["app.test:8080"]);
}

#[tokio::test]
async fn a_reset_stream_frees_its_slot_and_the_app_sees_its_request_dropped() {
    let h = Harness::start(|_| {}).await;
    let mut sender = h2_open(h.addr()).await;
    let mut response = sender.send_request(h2_get("/hold/r")).await.unwrap();
    let mut held = h.app.held("r").await;
    held.push("data: 1\n\n").await;
    let frame = response.body_mut().frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: 1\n\n");
    assert_eq!(h.snapshot().active, 1);

    drop(response); // RST_STREAM(CANCEL)
    h.wait_idle().await;
    tokio::time::timeout(PATIENCE, held.dropped())
        .await
        .expect("the app's request was cancelled");
    // The connection itself lives on.
    let again = sender.send_request(h2_get("/fast")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    drop((again, sender));
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("client_aborted"), 1.0);
    assert_eq!(m.outcome("completed"), 1.0);
}

#[tokio::test]
async fn a_stream_reset_while_queued_leaves_the_queue_and_is_never_forwarded() {
    let h = Harness::start(|c| {
        c.limits.soft_limit = 1;
        c.limits.hard_limit = 1;
    })
    .await;
    let mut sender = h2_open(h.addr()).await;
    let stream = sender.send_request(h2_get("/hold/a")).await.unwrap();
    let mut held = h.app.held("a").await;
    let mut queued = sender.clone();
    let waiting = tokio::spawn(async move { queued.send_request(h2_get("/fast?queued")).await });
    h.wait_until("queued", |s| s.queued == 1).await;
    waiting.abort();
    h.wait_until("left the queue", |s| s.queued == 0).await;
    held.end();
    let body = stream.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
    drop(sender);
    let m = h.assert_settled().await;
    assert_eq!(h.app.hits("/fast?queued"), 0);
    assert_eq!(m.outcome("client_aborted"), 1.0);
    assert_eq!(m.outcome("completed"), 1.0);
}

#[tokio::test]
async fn an_app_failure_mid_body_resets_the_stream_and_other_streams_live_on() {
    let h = Harness::start(|_| {}).await;
    let mut sender = h2_open(h.addr()).await;
    let mut response = sender.send_request(h2_get("/hold/f")).await.unwrap();
    let mut held = h.app.held("f").await;
    held.push("part").await;
    assert!(response.body_mut().frame().await.unwrap().is_ok());
    held.fail().await;
    let end = response.body_mut().frame().await;
    assert!(
        matches!(end, Some(Err(_))),
        "reset, not a clean end: {end:?}"
    );
    let other = sender.send_request(h2_get("/fast")).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    drop((response, other, sender));
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("upstream_error"), 1.0);
}

// === raw frames ===

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A HEADERS frame (END_STREAM | END_HEADERS) for `GET path`, HPACK without Huffman, plus
/// any extra literal fields.
fn get_headers(stream: u32, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    block.extend([0x04, path.len() as u8]); // :path, literal value
    block.extend_from_slice(path.as_bytes());
    block.extend([0x01, 1, b'a']); // :authority a
    for (name, value) in extra {
        block.extend([0x00, name.len() as u8]);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    frame(0x1, 0x5, stream, &block)
}

type Frame = (u8, u8, u32, Vec<u8>);

/// Reads the next frame: (type, flags, stream, payload); `None` once the server closed.
async fn next_frame(stream: &mut TcpStream) -> Option<Frame> {
    let read = async {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.ok()?;
        Some((head[3], head[4], id, payload))
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("a frame or a close within PATIENCE")
}

fn setting(frame: &Frame, id: u16) -> Option<u32> {
    (frame.0 == 0x4 && frame.1 & 1 == 0)
        .then(|| {
            frame.3.chunks(6).find_map(|s| {
                (u16::from_be_bytes([s[0], s[1]]) == id)
                    .then(|| u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
            })
        })
        .flatten()
}

fn error_code(frame: &Frame) -> u32 {
    let at = if frame.0 == 0x7 { 4 } else { 0 };
    u32::from_be_bytes(frame.3[at..at + 4].try_into().unwrap())
}

async fn raw_h2(h: &Harness, frames: &[Vec<u8>]) -> TcpStream {
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    for f in frames {
        out.extend_from_slice(f);
    }
    stream.write_all(&out).await.unwrap();
    stream
}

#[tokio::test]
async fn the_stream_limit_is_advertised_and_extra_streams_are_refused() {
    let h = Harness::start(|c| c.server.h2_max_concurrent_streams = 2).await;
    let streams: Vec<_> = (1..=3)
        .map(|i| get_headers(2 * i - 1, &format!("/hold/s{i}"), &[]))
        .collect();
    let mut stream = raw_h2(&h, &streams).await;
    let (mut advertised, mut refused) = (None, None);
    while advertised.is_none() || refused.is_none() {
        let frame = next_frame(&mut stream).await.expect("connection open");
        if let Some(max) = setting(&frame, 0x3) {
            advertised = Some(max);
        }
        if frame.0 == 0x3 {
            refused = Some((frame.2, error_code(&frame)));
        }
    }
    assert_eq!(advertised, Some(2), "SETTINGS_MAX_CONCURRENT_STREAMS");
    assert_eq!(refused, Some((5, 0x7)), "the third stream: REFUSED_STREAM");
    let (mut one, mut two) = (h.app.held("s1").await, h.app.held("s2").await);
    assert_eq!(h.snapshot().active, 2);
    drop(stream);
    one.dropped().await;
    two.dropped().await;
    let m = h.assert_settled().await;
    assert_eq!(h.app.log().len(), 2, "{:?}", h.app.log());
    assert_eq!(m.outcome("client_aborted"), 2.0);
}

#[tokio::test]
async fn a_rapid_reset_flood_closes_the_connection_and_leaks_nothing() {
    let h = Harness::start(|_| {}).await;
    let mut frames = Vec::new();
    for i in 0..200u32 {
        frames.push(get_headers(2 * i + 1, &format!("/fast?rr={i}"), &[]));
        frames.push(frame(0x3, 0, 2 * i + 1, &0x8u32.to_be_bytes())); // RST_STREAM(CANCEL)
    }
    let mut stream = raw_h2(&h, &frames).await;
    let mut goaway = None;
    while let Some(frame) = next_frame(&mut stream).await {
        if frame.0 == 0x7 {
            goaway = Some(error_code(&frame));
        }
    }
    assert_eq!(goaway, Some(0xb), "GOAWAY(ENHANCE_YOUR_CALM)");
    let m = h.assert_settled().await;
    assert!(h.app.log().len() < 200, "the flood was cut short");
    let forwarded = h.app.log().len() as f64;
    assert!(m.outcome("completed") + m.outcome("client_aborted") >= forwarded);
}

#[tokio::test]
async fn connection_specific_fields_are_a_malformed_h2_request() {
    let h = Harness::start(|_| {}).await;
    let bad = [
        get_headers(1, "/fast?te", &[("transfer-encoding", "chunked")]),
        get_headers(3, "/fast?conn", &[("connection", "close")]),
        get_headers(5, "/fast?ok", &[]),
    ];
    let mut stream = raw_h2(&h, &bad).await;
    let mut resets = Vec::new();
    let mut answered = false;
    while !(answered && resets.len() == 2) {
        let frame = next_frame(&mut stream).await.expect("connection open");
        if frame.0 == 0x3 {
            resets.push((frame.2, error_code(&frame)));
        }
        answered |= frame.0 == 0x1 && frame.2 == 5;
    }
    resets.sort();
    assert_eq!(resets, [(1, 0x1), (3, 0x1)], "PROTOCOL_ERROR for each");
    assert_eq!(h.app.log(), ["/fast?ok"]);
    drop(stream);
    h.assert_settled().await;
}

#[tokio::test(start_paused = true)]
async fn a_preface_completed_later_is_served_as_h2() {
    let h = Harness::start(|_| {}).await;
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    stream.write_all(&PREFACE[..8]).await.unwrap(); // "PRI * HT"
    let stats = &h.sluice.core().stats;
    tokio::time::timeout(PATIENCE, stats.wait_for_connections(|n| n == 1))
        .await
        .unwrap();
    // Paused time: this elapses only once sluice is idle, waiting for more of the preface.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rest = PREFACE[8..].to_vec();
    rest.extend(frame(0x4, 0, 0, &[]));
    rest.extend(get_headers(1, "/fast", &[]));
    stream.write_all(&rest).await.unwrap();
    let status = loop {
        let frame = next_frame(&mut stream).await.expect("connection open");
        if frame.0 == 0x1 && frame.2 == 1 {
            break frame.3[0];
        }
    };
    assert_eq!(status, 0x88, ":status 200 (HPACK static index 8)");
    assert_eq!(h.app.log(), ["/fast"]);
    drop(stream);
    h.assert_settled().await;
}
