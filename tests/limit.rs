//! Admission: the hard limit, the FIFO queue, sheds, the soft limit, exempt paths and
//! connections mode, all observed from outside over real sockets.

mod support;

use std::time::Duration;

use http::StatusCode;
use sluice::config::LimitMode;
use support::*;

#[tokio::test]
async fn admits_up_to_the_hard_limit_then_queues_in_fifo_order() {
    let h = Harness::with_slots(2, |_| {}).await;
    let mut first = send(h.addr(), get("/hold/a")).await.unwrap();
    let mut second = send(h.addr(), get("/hold/b")).await.unwrap();
    let (mut held_a, mut held_b) = (h.app.held("a").await, h.app.held("b").await);
    assert_eq!(h.snapshot().active, 2);

    // Three more, each enqueued only after the previous one is visibly waiting.
    let mut waiting = Vec::new();
    for (i, name) in ["one", "two", "three"].iter().enumerate() {
        let addr = h.addr();
        let path = format!("/fast?{name}");
        waiting.push(tokio::spawn(async move {
            send(addr, get(&path)).await.map(|r| r.status())
        }));
        h.wait_until("request queued", |s| s.queued == i + 1).await;
    }
    assert_eq!(h.snapshot().active, 2, "queued requests hold no slot");
    assert_eq!(h.app.hits("/fast?one"), 0, "nothing queued reached the app");

    held_a.end();
    held_b.end();
    assert_eq!(body_text_of(&mut first).await, "");
    assert_eq!(body_text_of(&mut second).await, "");
    for task in waiting {
        assert_eq!(task.await.unwrap().unwrap(), StatusCode::OK);
    }
    let fast: Vec<_> = h
        .app
        .log()
        .into_iter()
        .filter(|p| p.starts_with("/fast"))
        .collect();
    assert_eq!(
        fast,
        ["/fast?one", "/fast?two", "/fast?three"],
        "queue is FIFO"
    );
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.outcome("completed"), 5.0);
    for window in ["1m", "1h", "24h", "start"] {
        assert_eq!(
            m.get(&format!(
                "sluice_active_requests_peak{{window=\"{window}\"}}"
            )),
            2.0
        );
        assert_eq!(
            m.get(&format!("sluice_queue_depth_peak{{window=\"{window}\"}}")),
            3.0
        );
    }
}

async fn body_text_of(response: &mut http::Response<hyper::body::Incoming>) -> String {
    let mut text = String::new();
    while let Some(chunk) = next_chunk(response.body_mut()).await {
        text.push_str(&chunk);
    }
    text
}

#[tokio::test]
async fn a_full_queue_sheds_at_once_with_retry_after_and_is_never_forwarded() {
    let h = Harness::with_slots(1, |c| {
        c.queue.max_depth = 1;
        c.shed.retry_after = Duration::from_secs(7);
    })
    .await;
    let (_stream, mut held) = h.hold("a").await;
    let addr = h.addr();
    let queued =
        tokio::spawn(async move { send(addr, get("/fast?queued")).await.unwrap().status() });
    h.wait_until("one queued", |s| s.queued == 1).await;

    let shed = send(h.addr(), get("/fast?shed")).await.unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "7");
    assert_eq!(shed.headers()["content-type"], "application/json");
    assert!(shed.headers().contains_key("x-request-id"));
    let body = body_text(shed).await;
    assert!(body.contains("\"error\":\"queue_full\""), "{body}");
    assert_eq!(h.app.hits("/fast?shed"), 0);

    held.end();
    assert_eq!(queued.await.unwrap(), StatusCode::OK);
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.outcome("shed"), 1.0);
    assert_eq!(m.outcome("completed"), 2.0);
}

#[tokio::test]
async fn max_depth_zero_sheds_as_soon_as_the_hard_limit_is_reached() {
    let h = Harness::with_slots(1, |c| {
        c.queue.max_depth = 0;
    })
    .await;
    let (_stream, mut held) = h.hold("a").await;
    let shed = send(h.addr(), get("/fast")).await.unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_text(shed).await.contains("queue_full"));
    held.end();
    h.wait_idle().await;
}

#[tokio::test(start_paused = true)]
async fn a_queued_request_is_shed_when_the_queue_timeout_passes() {
    let h = Harness::with_slots(1, |c| {
        c.queue.timeout = Duration::from_secs(30);
    })
    .await;
    let (_stream, mut held) = h.hold("a").await;

    let started = tokio::time::Instant::now();
    let response = send(h.addr(), get("/fast?late")).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        body_text(response)
            .await
            .contains("\"error\":\"queue_timeout\"")
    );
    assert!(
        waited >= Duration::from_secs(30),
        "shed after {waited:?}, before the timeout"
    );
    assert!(
        waited < Duration::from_secs(31),
        "shed after {waited:?}, long after the timeout"
    );
    assert_eq!(
        h.app.hits("/fast?late"),
        0,
        "a timed-out request is never forwarded"
    );

    held.end();
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.outcome("queue_timeout"), 1.0);
    assert_eq!(
        m.get("sluice_queue_wait_seconds_count"),
        1.0,
        "only admitted requests record a wait"
    );
}

#[tokio::test]
async fn the_soft_limit_marks_the_machine_loaded_and_still_admits() {
    let h = Harness::start(|c| {
        c.limits.soft_limit = 2;
        c.limits.hard_limit = 3;
    })
    .await;
    let (_a, mut a) = h.hold("a").await;
    assert_eq!(h.metrics().await.get("sluice_loaded"), 0.0);
    let (_b, mut b) = h.hold("b").await;
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_loaded"), 1.0);
    assert_eq!(m.get("sluice_soft_limit"), 2.0);
    assert_eq!(m.get("sluice_hard_limit"), 3.0);
    // Above the soft limit, up to the hard limit, requests still go straight through.
    assert_eq!(
        send(h.addr(), get("/fast")).await.unwrap().status(),
        StatusCode::OK
    );
    a.end();
    b.end();
    h.wait_idle().await;
    assert_eq!(h.metrics().await.get("sluice_loaded"), 0.0);
}

#[tokio::test]
async fn exempt_paths_pass_without_a_slot_while_the_limit_is_full() {
    let h = Harness::with_slots(1, |c| {
        c.queue.max_depth = 0;
        c.limits.exempt_paths = vec!["/health".into()];
    })
    .await;
    let (_stream, mut held) = h.hold("a").await;
    let health = send(h.addr(), get("/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(body_text(health).await, "fast");
    // Exact match only: a query string is fine, a different path is not exempt.
    assert_eq!(
        send(h.addr(), get("/health?deep=1"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(h.addr(), get("/healthz")).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    held.end();
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_exempt_requests_total"), 2.0);
    assert_eq!(m.outcome("shed"), 1.0);
}

#[tokio::test]
async fn connections_mode_holds_one_slot_per_connection_for_its_whole_life() {
    let h = Harness::start(|c| {
        c.limits.mode = LimitMode::Connections;
        c.limits.soft_limit = 1;
        c.limits.hard_limit = 1;
    })
    .await;
    // A keep-alive connection makes a quick request and stays open: it keeps its slot.
    let mut idle = Conn::open(h.addr()).await;
    let response = idle.send(get("/fast?first")).await.unwrap();
    assert_eq!(body_text(response).await, "fast");
    assert_eq!(
        h.snapshot().active,
        1,
        "the idle keep-alive connection still holds the slot"
    );
    // Its next request needs no new slot.
    assert_eq!(
        idle.send(get("/fast?again")).await.unwrap().status(),
        StatusCode::OK
    );

    // Another connection waits for the slot...
    let addr = h.addr();
    let other = tokio::spawn(async move { send(addr, get("/fast?other")).await.unwrap().status() });
    h.wait_until("second connection queued", |s| s.queued == 1)
        .await;
    assert_eq!(h.app.hits("/fast?other"), 0);
    // ...until the first connection closes.
    idle.abort();
    assert_eq!(other.await.unwrap(), StatusCode::OK);
    h.wait_until("all connections closed", |s| s.active == 0)
        .await;
    assert_eq!(h.sluice.core().stats.open_connections(), 0);
}
