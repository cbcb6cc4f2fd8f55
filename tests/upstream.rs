//! When the app cannot be reached: clear 502/504 answers, nothing retried, slots released.

mod support;

use std::time::Duration;

use http::StatusCode;
use sluice::Sluice;
use support::*;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

#[tokio::test]
async fn a_refused_connection_is_a_502_naming_the_cause() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sluice = Sluice::start(test_config(closed, |_| {}), None)
        .await
        .unwrap();
    let response = send(sluice.proxy_addr(), get("/anything")).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = body_text(response).await;
    assert!(
        body.contains("\"error\":\"upstream_unavailable\""),
        "{body}"
    );
    assert!(body.contains("refused"), "{body}");
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
    let m = Metrics::parse(&admin_get(sluice.admin_addr(), "/metrics").await.1);
    assert_eq!(m.outcome("upstream_error"), 1.0);
    assert_eq!(m.get("sluice_active_requests"), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_connect_timeout_is_a_504() {
    // A listener that never accepts, with its backlog filled: further SYNs are dropped, so
    // connecting hangs until sluice's connect timeout (virtual time: no real wait).
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let blackhole = socket.listen(0).unwrap();
    let addr = blackhole.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(50), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let sluice = Sluice::start(
        test_config(addr, |c| {
            c.upstream.connect_timeout = Duration::from_secs(3)
        }),
        None,
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let response = send(sluice.proxy_addr(), get("/slow-to-connect"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(body_text(response).await.contains("upstream_timeout"));
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
    assert_eq!(
        sluice
            .core()
            .stats
            .outcome(sluice::metrics::Outcome::UpstreamError),
        1
    );
    drop(fillers);
}
