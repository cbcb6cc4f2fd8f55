//! Streams hold their slot for their whole life, not until headers; every way a stream can
//! end gives the slot back exactly once.

mod support;

use http::StatusCode;
use support::*;

#[tokio::test]
async fn a_stream_holds_its_slot_after_headers_until_its_last_byte() {
    let h = Harness::start(|_| {}).await;
    let (mut response, mut held) = h.hold("s").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        h.snapshot().active,
        1,
        "headers arrived, the slot is still held"
    );

    // Each event reaches the client before the next one is written: nothing is buffered.
    for i in 0..3 {
        let event = format!("data: {i}\n\n");
        held.push(&event).await;
        assert_eq!(
            next_chunk(response.body_mut()).await.as_deref(),
            Some(event.as_str())
        );
        assert_eq!(h.snapshot().active, 1);
    }
    let listing = admin_get(h.sluice.admin_addr(), "/requests").await.1;
    assert!(
        listing.contains("\"state\": \"active\"") && listing.contains("/hold/s"),
        "{listing}"
    );

    held.end();
    assert_eq!(next_chunk(response.body_mut()).await, None, "clean end");
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.outcome("completed"), 1.0);
    assert_eq!(m.get("sluice_active_requests"), 0.0);
    assert_eq!(m.get("sluice_request_duration_seconds_count"), 1.0);
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_frees_the_slot_and_the_app_sees_it() {
    let h = Harness::start(|_| {}).await;
    let mut conn = Conn::open(h.addr()).await;
    let mut response = conn.send(get("/hold/s")).await.unwrap();
    let mut held = h.app.held("s").await;
    held.push("data: first\n\n").await;
    assert!(next_chunk(response.body_mut()).await.is_some());
    assert_eq!(h.snapshot().active, 1);

    drop(response);
    conn.abort();
    h.wait_idle().await;
    tokio::time::timeout(PATIENCE, held.dropped())
        .await
        .expect("the app's request was dropped too");
    let m = h.metrics().await;
    assert_eq!(m.outcome("client_aborted"), 1.0);
    assert_eq!(m.outcome("completed"), 0.0);
}

#[tokio::test]
async fn a_client_that_leaves_while_queued_leaves_the_queue_and_is_never_forwarded() {
    let h = Harness::with_slots(1, |_| {}).await;
    let (mut stream, mut held) = h.hold("a").await;

    let mut quitter = Conn::open(h.addr()).await;
    let pending = tokio::spawn(async move {
        let _ = quitter.send(get("/fast?quitter")).await;
    });
    h.wait_until("queued", |s| s.queued == 1).await;
    pending.abort();
    h.wait_until("the quitter left the queue", |s| s.queued == 0)
        .await;
    assert_eq!(h.snapshot().active, 1);

    held.end();
    while next_chunk(stream.body_mut()).await.is_some() {}
    h.wait_idle().await;
    assert_eq!(h.app.hits("/fast?quitter"), 0, "never forwarded");
    let m = h.metrics().await;
    assert_eq!(m.outcome("client_aborted"), 1.0);
    assert_eq!(m.outcome("completed"), 1.0);
}

#[tokio::test]
async fn an_app_that_fails_mid_stream_truncates_the_response_and_counts_upstream_error() {
    let h = Harness::start(|_| {}).await;
    let (mut response, mut held) = h.hold("f").await;
    held.push("data: ok\n\n").await;
    assert!(next_chunk(response.body_mut()).await.is_some());
    held.fail().await;
    // The client must see a truncated body (HTTP/1: no final chunk), never a clean end.
    let end = http_body_util::BodyExt::frame(response.body_mut()).await;
    assert!(matches!(end, Some(Err(_))), "truncated, not clean: {end:?}");
    h.wait_idle().await;
    assert_eq!(h.metrics().await.outcome("upstream_error"), 1.0);
}

#[tokio::test]
async fn bodies_stream_both_ways_and_repeated_headers_survive() {
    let h = Harness::start(|_| {}).await;
    let body = "x".repeat(200_000);
    let request = http::Request::post("/echo")
        .header("host", "app.example")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let response = send(h.addr(), request).await.unwrap();
    let echoed: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(echoed["body_len"], 200_000);
    let headers: Vec<String> = serde_json::from_value(echoed["headers"].clone()).unwrap();
    assert_eq!(
        headers
            .iter()
            .filter(|h| h.starts_with("set-cookie"))
            .count(),
        2
    );
    assert!(headers.contains(&"host: app.example".to_owned()));
    h.wait_idle().await;
}

#[tokio::test]
async fn a_queued_post_whose_client_leaves_is_dropped_from_the_queue_and_never_forwarded() {
    queued_post_client_leaves(b"{\"prompt\":\"refactor this\"}".to_vec()).await;
}

#[tokio::test]
async fn a_queued_large_upload_whose_client_leaves_is_dropped_from_the_queue() {
    queued_post_client_leaves(vec![b'x'; 60 << 10]).await;
}

async fn queued_post_client_leaves(body: Vec<u8>) {
    let h = Harness::with_slots(1, |_| {}).await;
    let (mut stream, mut held) = h.hold("a").await;

    // A streaming operation's typical request: POST with a small JSON body.
    let mut quitter = Conn::open(h.addr()).await;
    let pending = tokio::spawn(async move {
        let request = http::Request::post("/echo?quitter")
            .header("host", "sluice.test")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let _ = quitter.send(request).await;
    });
    h.wait_until("queued", |s| s.queued == 1).await;
    pending.abort();
    h.wait_until("the quitter left the queue", |s| s.queued == 0)
        .await;

    held.end();
    while next_chunk(stream.body_mut()).await.is_some() {}
    h.wait_idle().await;
    assert_eq!(h.app.hits("/echo?quitter"), 0, "never forwarded");
    assert_eq!(h.metrics().await.outcome("client_aborted"), 1.0);
}

#[tokio::test]
async fn queued_uploads_are_forwarded_intact_after_their_read_ahead() {
    let h = Harness::with_slots(1, |c| {
        c.queue.buffer_body_bytes = 32 * 1024;
    })
    .await;
    let (mut stream, mut held) = h.hold("a").await;
    let mut uploads = Vec::new();
    // One body fits the read-ahead, one is larger than it.
    for (i, size) in [10_000usize, 300_000].into_iter().enumerate() {
        let addr = h.addr();
        uploads.push(tokio::spawn(async move {
            let request = http::Request::post(format!("/echo?upload={size}"))
                .header("host", "sluice.test")
                .body(http_body_util::Full::new(bytes::Bytes::from(vec![
                    b'u';
                    size
                ])))
                .unwrap();
            let echoed: serde_json::Value =
                serde_json::from_str(&body_text(send(addr, request).await.unwrap()).await).unwrap();
            (size, echoed)
        }));
        h.wait_until("upload queued", |s| s.queued == i + 1).await;
    }
    held.end();
    while next_chunk(stream.body_mut()).await.is_some() {}
    for upload in uploads {
        let (size, echoed) = upload.await.unwrap();
        assert_eq!(echoed["body_len"], size, "{echoed}");
        let headers: Vec<String> = serde_json::from_value(echoed["headers"].clone()).unwrap();
        assert!(
            headers.contains(&format!("content-length: {size}")),
            "{headers:?}"
        );
    }
    h.wait_idle().await;
}
