//! The reaper, on paused tokio time: a stream is cut at `max_request_duration` and not before,
//! a steady stream under the limit is untouched, idle streams are cut at `idle_timeout`, and
//! queue waits never count toward a request's age.

mod support;

use std::time::Duration;

use http_body_util::BodyExt;
use support::*;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

/// Reads frames until the body ends; returns whether it ended with an error (truncated).
async fn ends_truncated(body: &mut hyper::body::Incoming) -> bool {
    loop {
        match body.frame().await {
            Some(Ok(_)) => continue,
            Some(Err(_)) => return true,
            None => return false,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_is_reaped_at_max_request_duration_and_not_before() {
    let h = Harness::start(|c| c.reaper.max_request_duration = 30 * MINUTE).await;
    let started = Instant::now();
    let mut request = get("/hold/zombie");
    request
        .headers_mut()
        .insert("x-request-id", "op-42".parse().unwrap());
    let mut response = send(h.addr(), request).await.unwrap();
    let mut held = h.app.held("zombie").await;
    held.push("data: started\n\n").await;
    assert!(next_chunk(response.body_mut()).await.is_some());

    // The app never writes again: a zombie. (A missed reap fails here, in virtual time.)
    let cut = tokio::time::timeout(31 * MINUTE, ends_truncated(response.body_mut())).await;
    assert_eq!(cut, Ok(true), "the client must see a cut, not a clean end");
    let lived = started.elapsed();
    assert!(lived >= 30 * MINUTE, "reaped early, after {lived:?}");
    assert!(
        lived < 30 * MINUTE + Duration::from_secs(1),
        "reaped late, after {lived:?}"
    );

    tokio::time::timeout(PATIENCE, held.dropped())
        .await
        .expect("the app's request is dropped");
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.outcome("reaped"), 1.0);
    assert_eq!(m.get("sluice_reaped_total{reason=\"max_duration\"}"), 1.0);
    assert_eq!(m.outcome("completed"), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_steady_stream_under_the_limit_is_untouched() {
    let h = Harness::start(|c| {
        c.reaper.max_request_duration = 30 * MINUTE;
        c.reaper.idle_timeout = Some(5 * MINUTE);
    })
    .await;
    let (mut response, mut held) = h.hold("steady").await;
    // An event every 4 minutes for 28 minutes: never idle 5 minutes, never 30 minutes old.
    for i in 0..8 {
        held.push(&format!("data: {i}\n\n")).await;
        assert!(next_chunk(response.body_mut()).await.is_some());
        if i < 7 {
            tokio::time::sleep(4 * MINUTE).await;
        }
    }
    held.end();
    assert!(!ends_truncated(response.body_mut()).await, "a clean end");
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.outcome("completed"), 1.0);
    assert_eq!(m.outcome("reaped"), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_quiet_for_idle_timeout_is_reaped_as_idle() {
    let h = Harness::start(|c| c.reaper.idle_timeout = Some(5 * MINUTE)).await;
    let started = Instant::now();
    let (mut response, mut held) = h.hold("quiet").await;
    tokio::time::sleep(3 * MINUTE).await;
    held.push("data: late\n\n").await;
    assert!(next_chunk(response.body_mut()).await.is_some());
    // Quiet from minute 3: idle for 5 minutes at minute 8.
    let cut = tokio::time::timeout(10 * MINUTE, ends_truncated(response.body_mut())).await;
    assert_eq!(cut, Ok(true));
    let lived = started.elapsed();
    assert!(
        lived >= 8 * MINUTE && lived < 8 * MINUTE + Duration::from_secs(1),
        "reaped after {lived:?}"
    );
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_reaped_total{reason=\"idle\"}"), 1.0);
    assert_eq!(m.outcome("reaped"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn queue_waits_do_not_count_toward_the_age_limit() {
    let h = Harness::with_slots(1, |c| {
        c.queue.timeout = 25 * MINUTE;
        c.reaper.max_request_duration = 30 * MINUTE;
    })
    .await;
    let started = Instant::now();
    let (mut first, mut first_held) = h.hold("first").await;

    let addr = h.addr();
    let second = tokio::spawn(async move {
        let mut response = send(addr, get("/hold/second")).await.unwrap();
        ends_truncated(response.body_mut()).await
    });
    h.wait_until("second queued", |s| s.queued == 1).await;
    tokio::time::sleep(20 * MINUTE).await;
    first_held.end();
    assert!(!ends_truncated(first.body_mut()).await);
    let mut second_held = h.app.held("second").await;
    let admitted = started.elapsed();
    assert!(admitted >= 20 * MINUTE);
    second_held.push("data: admitted\n\n").await;

    // Queued 20 minutes, then held its slot: reaped 30 minutes after admission, not 10.
    let cut = tokio::time::timeout(31 * MINUTE, second)
        .await
        .expect("reaped in time");
    assert!(cut.unwrap(), "the second stream is cut by the reaper");
    let held_for = started.elapsed() - admitted;
    assert!(
        held_for >= 30 * MINUTE && held_for < 30 * MINUTE + Duration::from_secs(1),
        "{held_for:?}"
    );
    h.wait_idle().await;
    assert_eq!(h.metrics().await.outcome("reaped"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn an_upgrade_tunnel_is_reaped_like_any_request() {
    let h = Harness::start(|c| c.reaper.max_request_duration = 30 * MINUTE).await;
    let mut stream = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    stream.write_all(b"ping").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"ping");
    h.wait_until("tunnel holds a slot", |s| s.active == 1).await;
    let list = admin_get(h.sluice.admin_addr(), "/requests").await.1;
    assert!(
        list.contains("\"state\": \"tunnel\"") && list.contains("\"path\": \"/ws\""),
        "{list}"
    );
    let started = Instant::now();
    // Nothing more is sent: at 30 minutes the tunnel is closed.
    let n = tokio::time::timeout(31 * MINUTE, stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert_eq!(n.unwrap_or(0), 0, "the tunnel was closed");
    assert!(started.elapsed() >= 29 * MINUTE);
    h.wait_idle().await;
    assert_eq!(h.metrics().await.outcome("reaped"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn an_h2_stream_whose_client_stopped_reading_is_still_reaped() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let h = Harness::start(|c| c.reaper.max_request_duration = 30 * MINUTE).await;
    let io = TokioIo::new(tokio::net::TcpStream::connect(h.addr()).await.unwrap());
    // A one-byte window that the client never reopens: sluice cannot write to it.
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(1)
        .initial_connection_window_size(1)
        .handshake::<_, Full<Bytes>>(io)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let request = http::Request::get(format!("http://{}/hold/stuck", h.addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let _response = sender.send_request(request).await.unwrap();
    let mut held = h.app.held("stuck").await;
    // The app keeps writing: h2's send buffer fills, and hyper stops polling the body.
    let chunk = "x".repeat(64 * 1024);
    tokio::spawn(async move {
        loop {
            held.push(&chunk).await;
        }
    });
    let started = Instant::now();
    let reaped = h.sluice.core().limiter.wait_until(|s| s.active == 0);
    tokio::time::timeout(31 * MINUTE, reaped)
        .await
        .expect("reaped in time");
    let lived = started.elapsed();
    assert!(lived >= 30 * MINUTE, "reaped early: {lived:?}");
    assert!(
        lived <= 30 * MINUTE + sluice::reaper::H2_GRACE + Duration::from_secs(1),
        "reaped late: {lived:?}"
    );
    // Only closing the connection could release it: the client's connection ends.
    let _ = tokio::time::timeout(MINUTE, conn)
        .await
        .expect("the stalled h2 connection was closed");
    assert_eq!(h.metrics().await.outcome("reaped"), 1.0);
}
