//! Node's keep-alive race: Node closes a connection idle for 5 s (`keepAliveTimeout`). A
//! request sluice sends on a pooled connection just as the app closes it must never become a
//! client-visible error when it is idempotent; a POST must never be sent twice. All on
//! paused time: "5 s idle" costs nothing.

mod support;

use std::time::Duration;

use support::*;

const NODE_KEEP_ALIVE: Duration = Duration::from_secs(5);
const JUST_PAST: Duration = Duration::from_millis(5_050);

/// A Node-like app: closes idle connections after exactly 5 s.
async fn node_like() -> RawApp {
    RawApp::start(Some(NODE_KEEP_ALIVE), |_| Reply::ok("ok")).await
}

/// Sends GETs with `JUST_PAST` of idle between them, on one client connection; all must be
/// answered 200, and each path reach the app exactly once.
async fn idle_gets(h: &Harness<RawApp>, n: usize) {
    let mut client = RawClient::connect(h.addr()).await;
    for i in 0..n {
        client
            .send(format!("GET /idle?{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await;
        let response = client.response().await;
        assert_eq!(response.status(), 200, "request {i}: {}", response.text());
        tokio::time::sleep(JUST_PAST).await;
        // The client's own connection is idle too: keep it under header_read_timeout.
    }
    let log = h.app.log();
    for i in 0..n {
        let target = format!("GET /idle?{i} HTTP/1.1");
        assert_eq!(
            log.iter().filter(|r| r.line() == target).count(),
            1,
            "{log:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn with_the_default_pool_timeout_sluice_closes_first() {
    let h = Harness::start_raw(node_like().await, |_| {}).await;
    idle_gets(&h, 4).await;
    // 4 s < 5 s: each request found its pooled connection already retired by sluice.
    assert!(h.app.log().iter().all(|r| r.nth == 0), "{:#?}", h.app.log());
    h.assert_settled().await;
}

#[tokio::test(start_paused = true)]
async fn with_a_pool_timeout_above_nodes_the_apps_close_is_noticed() {
    let h = Harness::start_raw(node_like().await, |c| {
        c.upstream.idle_timeout = Duration::from_secs(30)
    })
    .await;
    idle_gets(&h, 4).await;
    h.assert_settled().await;
}

/// An app whose keep-alive timer fires just as a request arrives: a request that comes after
/// 5 s of idle on a reused connection is read, and the connection closed without an answer.
async fn racing_app() -> RawApp {
    RawApp::start(None, |req| {
        if req.nth > 0 && req.idle_before >= NODE_KEEP_ALIVE {
            Reply::Close
        } else {
            Reply::ok_to(req, "ok")
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn idempotent_requests_caught_in_the_race_are_replayed_once() {
    let h = Harness::start_raw(racing_app().await, |c| {
        c.upstream.idle_timeout = Duration::from_secs(30)
    })
    .await;
    let mut client = RawClient::connect(h.addr()).await;
    for (i, method) in ["GET", "HEAD", "GET", "DELETE", "OPTIONS"]
        .iter()
        .enumerate()
    {
        client
            .send(format!("{method} /race?{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await;
        let response = if *method == "HEAD" {
            client.head_response().await
        } else {
            client.response().await
        };
        assert_eq!(response.status(), 200, "{method} {i}: {}", response.text());
        tokio::time::sleep(JUST_PAST).await;
    }
    let log = h.app.log();
    // Each raced request reached the app twice: once unanswered (the race), once answered.
    for i in 1..5 {
        let seen: Vec<_> = log
            .iter()
            .filter(|r| r.line().contains(&format!("/race?{i} ")))
            .collect();
        assert_eq!(seen.len(), 2, "{log:#?}");
        assert_eq!(seen[1].nth, 0, "the replay went on a fresh connection");
    }
    drop(client);
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("completed"), 5.0);
    assert_eq!(m.outcome("upstream_error"), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_post_caught_in_the_race_is_a_502_and_never_sent_twice() {
    let h = Harness::start_raw(racing_app().await, |c| {
        c.upstream.idle_timeout = Duration::from_secs(30)
    })
    .await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(client.response().await.status(), 200);
    tokio::time::sleep(JUST_PAST).await;
    client
        .send(b"POST /order HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 502);
    let posts = h
        .app
        .log()
        .iter()
        .filter(|r| r.line().starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "never replayed");
    drop(client);
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("upstream_error"), 1.0);
}
