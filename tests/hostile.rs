//! Slow and oversized clients: silent and slowloris connections are closed at
//! `server.header_read_timeout` without ever holding a slot; oversized heads, targets and
//! bodies get 431, 414 and 413. (Request smuggling lives in `smuggling.rs`.)

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Waits (virtual time) for the server to close `client`; returns how long it took.
async fn closed_after(client: &mut RawClient) -> Duration {
    let started = Instant::now();
    client.closed().await;
    started.elapsed()
}

fn at_the_timeout(took: Duration) -> bool {
    took >= TIMEOUT && took < TIMEOUT + Duration::from_secs(1)
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_read_timeout() {
    let h = Harness::start(|_| {}).await;
    let mut silent = RawClient::connect(h.addr()).await;
    tokio::time::timeout(
        PATIENCE,
        h.sluice.core().stats.wait_for_connections(|n| n == 1),
    )
    .await
    .unwrap();
    let took = closed_after(&mut silent).await;
    assert!(at_the_timeout(took), "closed after {took:?}");
    assert!(h.app.log().is_empty());
    h.assert_settled().await;
    assert_eq!(h.sluice.core().registry.opened(), 0, "never took a slot");
}

#[tokio::test(start_paused = true)]
async fn a_partial_h2_preface_is_closed_at_the_header_read_timeout() {
    // The preface sniff peeks again and again for the rest, within the same deadline.
    let h = Harness::start(|_| {}).await;
    for partial in [&b"P"[..], b"PRI * HT", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r"] {
        let mut client = RawClient::connect(h.addr()).await;
        client.send(partial).await;
        let took = closed_after(&mut client).await;
        assert!(at_the_timeout(took), "{partial:?}: closed after {took:?}");
    }
    // A client that half-closes inside the preface is not kept until the timeout.
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"PRI * HT").await;
    client.stream.shutdown().await.unwrap();
    let took = closed_after(&mut client).await;
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    h.assert_settled().await;
}

#[tokio::test(start_paused = true)]
async fn a_request_that_starts_like_the_h2_preface_is_served_as_http1() {
    let h = Harness::start(|_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"P").await; // could still be the preface
    let stats = &h.sluice.core().stats;
    tokio::time::timeout(PATIENCE, stats.wait_for_connections(|n| n == 1))
        .await
        .unwrap();
    // Paused time: this elapses only once sluice is idle, waiting for more of the preface.
    tokio::time::sleep(Duration::from_secs(1)).await;
    client
        .send(b"OST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 200, "{}", response.head);
    assert!(
        response.text().contains("\"body_len\":2"),
        "{}",
        response.text()
    );
    drop(client);
    h.assert_settled().await;
}

#[tokio::test(start_paused = true)]
async fn an_h2_connection_that_never_sends_a_request_is_closed() {
    let h = Harness::start(|_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    // The full preface and an empty SETTINGS frame, then nothing.
    client.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    client.send(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
    let took = closed_after(&mut client).await;
    assert!(at_the_timeout(took), "closed after {took:?}");
    h.assert_settled().await;
}

/// Sends `head` one byte every 250 ms (never finishing) until the server closes the
/// connection; returns how long (virtual time) that took.
async fn trickle_until_closed(stream: TcpStream, head: &[u8]) -> Duration {
    let (mut rd, mut wr) = stream.into_split();
    let head = head.to_vec();
    let trickle = tokio::spawn(async move {
        for byte in head.iter().cycle().take(400) {
            if wr.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(PATIENCE * 5, async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "a slowloris connection stayed open");
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_head_is_cut_at_the_header_read_timeout_and_never_holds_a_slot() {
    let h = Harness::start(|_| {}).await;
    let stream = TcpStream::connect(h.addr()).await.unwrap();
    let took = trickle_until_closed(stream, b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Pad: aaaa").await;
    assert!(at_the_timeout(took), "closed after {took:?}");
    assert!(h.app.log().is_empty());
    h.assert_settled().await;
    assert_eq!(h.sluice.core().registry.opened(), 0, "never took a slot");
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_after_a_first_request_is_cut_by_the_same_timeout() {
    let h = Harness::start(|_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(client.response().await.status(), 200);
    let took = trickle_until_closed(client.stream, b"GET /second HTTP/1.1\r\nX-Slow: ").await;
    assert!(at_the_timeout(took), "closed after {took:?}");
    assert_eq!(h.app.log(), ["/fast"]);
    h.assert_settled().await;
    assert_eq!(h.sluice.core().registry.opened(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_kept_alive_connection_is_closed_at_the_header_read_timeout() {
    let h = Harness::start(|_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(client.response().await.status(), 200);
    let took = closed_after(&mut client).await;
    assert!(at_the_timeout(took), "closed after {took:?}");
    h.assert_settled().await;
}

#[tokio::test]
async fn too_many_header_lines_get_431() {
    let h = Harness::start(|c| c.server.max_headers = 20).await;
    let fields: String = (0..25).map(|i| format!("X-F{i}: v\r\n")).collect();
    let response = raw_exchange(
        h.addr(),
        &format!("GET /many HTTP/1.1\r\nHost: a\r\n{fields}\r\n"),
    )
    .await;
    assert_eq!(response.status(), 431, "{}", response.head);
    // Just under the limit passes.
    let fields: String = (0..18).map(|i| format!("X-F{i}: v\r\n")).collect();
    let response = raw_exchange(
        h.addr(),
        &format!("GET /some HTTP/1.1\r\nHost: a\r\n{fields}\r\n"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(h.app.log(), ["/some"]);
    h.assert_settled().await;
}

#[tokio::test]
async fn a_head_larger_than_max_header_bytes_gets_431_and_the_connection_closes() {
    let h = Harness::start(|c| c.server.max_header_bytes = 8192).await;
    let mut client = RawClient::connect(h.addr()).await;
    let big = "x".repeat(9000);
    client
        .send(format!("GET /big HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n").as_bytes())
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 431);
    client.closed().await;
    assert!(h.app.log().is_empty());
    h.assert_settled().await;
}

#[tokio::test]
async fn a_target_longer_than_max_uri_length_gets_414_and_is_never_forwarded() {
    let h = Harness::start(|c| c.server.max_uri_length = 1000).await;
    let path = format!("/{}", "p".repeat(1000));
    let response = raw_exchange(h.addr(), &format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")).await;
    assert_eq!(response.status(), 414);
    assert!(response.text().contains("uri_too_long"));
    let ok = raw_exchange(
        h.addr(),
        &format!("GET {} HTTP/1.1\r\nHost: a\r\n\r\n", &path[..999]),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(h.app.log().len(), 1);
    let m = h.assert_settled().await;
    assert_eq!(m.get("sluice_rejected_requests_total{status=\"414\"}"), 1.0);
}

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_closes_and_is_never_forwarded() {
    let h = Harness::start(|c| c.server.max_request_body = Some(1000)).await;
    let mut client = RawClient::connect(h.addr()).await;
    client
        .send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n")
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.fields("connection"), ["close"]);
    assert!(response.text().contains("body_too_large"));
    client.closed().await;
    assert!(h.app.log().is_empty());
    let m = h.assert_settled().await;
    assert_eq!(m.get("sluice_rejected_requests_total{status=\"413\"}"), 1.0);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_gets_413_and_frees_its_slot() {
    let h = Harness::start(|c| c.server.max_request_body = Some(1000)).await;
    let mut client = RawClient::connect(h.addr()).await;
    client
        .send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    let chunk = format!("258\r\n{}\r\n", "y".repeat(600));
    client.send(chunk.as_bytes()).await;
    client.send(chunk.as_bytes()).await;
    let response = client.response().await;
    assert_eq!(response.status(), 413, "{}", response.head);
    assert!(response.text().contains("body_too_large"));
    client.closed().await;
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("client_aborted"), 1.0);
}

#[tokio::test]
async fn a_body_within_the_limit_is_forwarded_whole() {
    let h = Harness::start(|c| c.server.max_request_body = Some(1000)).await;
    let response = raw_exchange(
        h.addr(),
        &format!(
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n{}",
            "z".repeat(1000)
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.text().contains("\"body_len\":1000"),
        "{}",
        response.text()
    );
}
