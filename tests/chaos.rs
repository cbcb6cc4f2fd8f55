//! Chaos: thousands of requests (bounded, loopback, seeded via `CHAOS_SEED`) mixing quick
//! requests, streams, client aborts, app failures mid-body, queue timeouts and sheds,
//! WebSocket tunnels closed from either side, h2 stream resets and malformed requests.
//! Afterwards every gauge reads exactly 0, every tracked request was counted exactly once,
//! sluice still answers, nothing reached the app twice and nothing malformed reached it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use support::*;
use tokio::task::JoinSet;

const OPERATIONS: u64 = 3_000;
const WAVE: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_are_exactly_zero_after_chaos_and_nothing_was_forwarded_twice() {
    let seed = seed("CHAOS_SEED", 0xc4a0_5eed);
    let h = Arc::new(
        Harness::start(|c| {
            c.limits.soft_limit = 6;
            c.limits.hard_limit = 8;
            c.queue.max_depth = 16;
            c.queue.timeout = Duration::from_millis(60);
            c.server.max_uri_length = 2048;
            c.server.max_headers = 50;
        })
        .await,
    );
    let started = std::time::Instant::now();
    let mut rng = Rng::new(seed);
    let mut ops = JoinSet::new();
    for wave in 0..OPERATIONS / WAVE {
        for i in 0..WAVE {
            let op = wave * WAVE + i;
            let (kind, pause) = (rng.below(10), Duration::from_millis(rng.below(120)));
            let variant = rng.below(6);
            let h = h.clone();
            ops.spawn(async move { operation(&h, op, kind, variant, pause).await });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tally = [0u64; 10];
    while let Some(done) = ops.join_next().await {
        tally[done.expect("operation task") as usize] += 1;
    }

    let m = h.assert_settled().await;
    assert!(m.get("sluice_active_requests_peak{window=\"start\"}") <= 8.0);
    assert!(m.get("sluice_queue_depth_peak{window=\"start\"}") <= 16.0);
    for outcome in [
        "completed",
        "shed",
        "queue_timeout",
        "client_aborted",
        "upstream_error",
    ] {
        assert!(m.outcome(outcome) > 0.0, "no {outcome}: {tally:?}");
    }
    // (hyper's own 400/431 answers come before sluice sees a request: not counted there.)
    for status in ["405", "414", "501"] {
        let key = format!("sluice_rejected_requests_total{{status=\"{status}\"}}");
        assert!(m.get(&key) > 0.0, "no {status}");
    }
    assert!(
        h.app.log().iter().any(|p| p.starts_with("/ws?")),
        "no tunnel opened"
    );

    let log = h.app.log();
    let mut unique = log.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), log.len(), "a request reached the app twice");
    assert!(
        log.iter().all(|p| !p.contains("/bad/")),
        "a malformed request reached the app"
    );
    let alive = send(h.addr(), get("/fast?after-chaos")).await.unwrap();
    assert_eq!(alive.status(), 200, "sluice still answers");
    drop(alive);
    h.assert_settled().await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "chaos took {:?}",
        started.elapsed()
    );
}

/// One client operation of `kind`; returns the kind (for the tally).
async fn operation(h: &Harness, op: u64, kind: u64, variant: u64, pause: Duration) -> u64 {
    match kind {
        0 => {
            let _ = send(h.addr(), get(&format!("/fast?op={op}"))).await;
        }
        1 => {
            if let Ok(response) = send(h.addr(), get(&format!("/sse?op={op}"))).await {
                let _ = response.into_body().collect().await;
            }
        }
        2..=4 => held_stream(h, op, kind, pause).await,
        5 => tunnel(h, op, variant, pause).await,
        6 | 7 => malformed(h, op, variant).await,
        8 => h2_reset(h, op, pause).await,
        _ => {
            // The client gives up after `pause`: queued, waiting for the app, or never.
            let addr = h.addr();
            let path = format!("/hold/quit{op}");
            let attempt = tokio::spawn(async move { send(addr, get(&path)).await.is_ok() });
            tokio::time::sleep(pause).await;
            attempt.abort();
            if h.app.log().iter().any(|p| p == &format!("/hold/quit{op}")) {
                h.app.held(&format!("quit{op}")).await.end();
            }
        }
    }
    kind
}

/// A held stream that ends cleanly (2), fails in the app (3), or is dropped by the client (4).
async fn held_stream(h: &Harness, op: u64, kind: u64, pause: Duration) {
    let key = format!("op{op}");
    let mut conn = Conn::open(h.addr()).await;
    let Ok(mut response) = conn.send(get(&format!("/hold/{key}"))).await else {
        return;
    };
    if response.status() != 200 {
        return; // shed or timed out in the queue: never forwarded
    }
    let mut held = h.app.held(&key).await;
    held.push("data: hello\n\n").await;
    let _ = next_chunk(response.body_mut()).await;
    tokio::time::sleep(pause).await;
    match kind {
        2 => {
            held.end();
            let _ = response.into_body().collect().await;
        }
        3 => {
            held.fail().await;
            let _ = response.into_body().collect().await;
        }
        _ => {
            drop(response);
            conn.abort();
            held.dropped().await;
        }
    }
}

/// A WebSocket tunnel, closed by the client or by the app.
async fn tunnel(h: &Harness, op: u64, variant: u64, pause: Duration) {
    let mut client = RawClient::connect(h.addr()).await;
    client
        .send(ws_request(&format!("/ws?op={op}")).as_bytes())
        .await;
    let Some(response) = client.read_response().await else {
        return;
    };
    if response.status() != 101 {
        return;
    }
    client.send(b"ping").await;
    assert_eq!(client.read_exact_n(4).await, b"ping");
    tokio::time::sleep(pause).await;
    if variant % 2 == 0 {
        client.send(b"bye").await;
        client.closed().await;
    }
}

/// A malformed request sluice must refuse; its path must never reach the app.
async fn malformed(h: &Harness, op: u64, variant: u64) {
    let path = format!("/bad/{op}");
    let request = match variant {
        0 => format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
        ),
        1 => format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
        ),
        2 => format!("CONNECT {path} HTTP/1.1\r\nHost: a\r\n\r\n"),
        3 => format!(
            "GET {path}?{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "q".repeat(3000)
        ),
        4 => format!("GET {path} HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n"),
        _ => {
            let many: String = (0..60).map(|i| format!("X-{i}: v\r\n")).collect();
            format!("GET {path} HTTP/1.1\r\nHost: a\r\n{many}\r\n")
        }
    };
    let mut client = RawClient::connect(h.addr()).await;
    client.send(request.as_bytes()).await;
    let response = client.read_response().await.expect("an answer");
    let expected = [400, 501, 405, 414, 400, 431][variant as usize];
    assert_eq!(response.status(), expected, "variant {variant}");
}

/// An h2 stream reset by the client while the app streams to it.
async fn h2_reset(h: &Harness, op: u64, pause: Duration) {
    let mut sender = h2_open(h.addr()).await;
    let key = format!("h2op{op}");
    let request = Request::get(format!("http://a/hold/{key}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let Ok(response) = sender.send_request(request).await else {
        return;
    };
    if response.status() != 200 {
        return;
    }
    let mut held = h.app.held(&key).await;
    held.push("data: x\n\n").await;
    tokio::time::sleep(pause).await;
    drop(response);
    held.dropped().await;
}
