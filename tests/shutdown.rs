//! Graceful drain: readiness turns off at once, new connections are refused, queued requests
//! get 503, in-flight requests finish (HTTP/1 gets `Connection: close`, h2 gets GOAWAY), and
//! whatever is still running at `drain_timeout` is cut and counted `reaped` (`shutdown`);
//! connections that have not sent a request yet are closed at once.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::net::TcpStream;

#[tokio::test]
async fn a_drain_stops_intake_sheds_the_queue_and_lets_streams_finish() {
    let h = Harness::with_slots(1, |_| {}).await;
    let (mut stream, mut held) = h.hold("a").await;
    let addr = h.addr();
    let queued = tokio::spawn(async move { send(addr, get("/fast?queued")).await.unwrap() });
    h.wait_until("one queued", |s| s.queued == 1).await;

    h.sluice.shutdown();
    assert_eq!(
        admin_get(h.sluice.admin_addr(), "/readyz").await,
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n".into())
    );
    let shed = queued.await.unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(shed.headers().contains_key("retry-after"));
    assert!(body_text(shed).await.contains("shutting_down"));
    assert_eq!(h.app.hits("/fast?queued"), 0);

    h.sluice.stopped_accepting().await;
    assert!(
        TcpStream::connect(h.addr()).await.is_err(),
        "new connections are refused"
    );

    // The stream in flight is not cut: it finishes normally.
    held.push("data: still here\n\n").await;
    assert_eq!(
        next_chunk(stream.body_mut()).await.as_deref(),
        Some("data: still here\n\n")
    );
    held.end();
    assert_eq!(next_chunk(stream.body_mut()).await, None);
    tokio::time::timeout(PATIENCE, h.sluice.wait())
        .await
        .expect("drained");
    assert_eq!(
        h.sluice
            .core()
            .stats
            .outcome(sluice::metrics::Outcome::Completed),
        1
    );
    assert_eq!(
        h.sluice
            .core()
            .stats
            .outcome(sluice::metrics::Outcome::Shed),
        1
    );
    assert_eq!(h.snapshot().active, 0);
}

#[tokio::test]
async fn kept_alive_http1_connections_are_closed_after_their_last_response() {
    let h = Harness::start(|_| {}).await;
    // One idle keep-alive connection, one whose response is still being prepared.
    let mut idle = Conn::open(h.addr()).await;
    assert_eq!(
        idle.send(get("/fast")).await.unwrap().status(),
        StatusCode::OK
    );
    let mut busy = Conn::open(h.addr()).await;
    let pending = tokio::spawn(async move {
        let response = busy.send(get("/defer/x")).await.unwrap();
        (response, busy)
    });
    h.app.wait_for_requests(2).await;

    h.sluice.shutdown();
    // The idle connection is closed by sluice.
    let closed = tokio::time::timeout(PATIENCE, idle.task)
        .await
        .expect("idle connection closed");
    assert!(closed.unwrap().is_ok());
    // The busy one gets its response, marked as the last on the connection.
    h.app.answer("x").await;
    let (response, busy) = pending.await.unwrap();
    assert_eq!(response.headers()["connection"], "close");
    assert_eq!(body_text(response).await, "deferred");
    let ended = tokio::time::timeout(PATIENCE, busy.task)
        .await
        .expect("busy connection closed");
    assert!(ended.unwrap().is_ok());
    tokio::time::timeout(PATIENCE, h.sluice.wait())
        .await
        .expect("drained");
}

#[tokio::test]
async fn h2_clients_get_goaway_and_their_open_streams_finish() {
    let h = Harness::start(|_| {}).await;
    let io = TokioIo::new(TcpStream::connect(h.addr()).await.unwrap());
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(TokioExecutor::new(), io)
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = http::Request::get(format!("http://{}/hold/h2", h.addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut response = sender.send_request(request).await.unwrap();
    let mut held = h.app.held("h2").await;
    assert_eq!(h.snapshot().active, 1);

    h.sluice.shutdown();
    held.push("data: after goaway\n\n").await;
    let frame = response.body_mut().frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: after goaway\n\n");
    held.end();
    // A clean end (an empty final DATA frame may carry END_STREAM).
    while let Some(frame) = response.body_mut().frame().await {
        let data = frame.expect("no reset").into_data().unwrap();
        assert!(data.is_empty(), "nothing after the end: {data:?}");
    }
    // GOAWAY: the connection refuses new streams and then closes.
    let late = http::Request::get(format!("http://{}/fast", h.addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(
        sender.send_request(late).await.is_err(),
        "no new streams after GOAWAY"
    );
    tokio::time::timeout(PATIENCE, conn)
        .await
        .expect("h2 connection closed")
        .unwrap()
        .unwrap();
    tokio::time::timeout(PATIENCE, h.sluice.wait())
        .await
        .expect("drained");
    assert_eq!(h.app.hits("/fast"), 0);
}

#[tokio::test(start_paused = true)]
async fn what_is_still_running_at_drain_timeout_is_cut_and_counted() {
    let h = Harness::start(|c| c.shutdown.drain_timeout = Duration::from_secs(25)).await;
    let (mut stream, mut held) = h.hold("long").await;
    held.push("data: 1\n\n").await;
    assert!(next_chunk(stream.body_mut()).await.is_some());

    let started = tokio::time::Instant::now();
    h.sluice.shutdown();
    let end = tokio::time::timeout(Duration::from_secs(60), stream.body_mut().frame())
        .await
        .expect("cut in time");
    assert!(
        matches!(end, Some(Err(_))),
        "the client sees a cut, not a clean end: {end:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(25) && waited < Duration::from_secs(26),
        "cut after {waited:?}"
    );
    tokio::time::timeout(Duration::from_secs(60), h.sluice.wait())
        .await
        .expect("exits after the cut");
    let stats = &h.sluice.core().stats;
    assert_eq!(stats.outcome(sluice::metrics::Outcome::Reaped), 1);
    assert_eq!(stats.reaped(sluice::metrics::ReapReason::Shutdown), 1);
    assert_eq!(h.snapshot().active, 0);
    tokio::time::timeout(Duration::from_secs(60), held.dropped())
        .await
        .expect("the app's request is dropped");
}

#[tokio::test(start_paused = true)]
async fn connections_that_sent_no_request_yet_are_closed_at_once() {
    let h = Harness::start(|_| {}).await;
    let mut silent = RawClient::connect(h.addr()).await;
    let mut partial = RawClient::connect(h.addr()).await;
    partial.send(b"PRI * HT").await; // still being sniffed for the h2 preface
    let stats = &h.sluice.core().stats;
    tokio::time::timeout(PATIENCE, stats.wait_for_connections(|n| n == 2))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    h.sluice.shutdown();
    silent.closed().await;
    partial.closed().await;
    tokio::time::timeout(PATIENCE, h.sluice.wait())
        .await
        .expect("drained");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "drained after {took:?}");
}
