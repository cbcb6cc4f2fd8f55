//! Exactness: after a seeded storm of completions, streams, client aborts (queued, waiting
//! for headers, mid-body), app failures, queue timeouts and sheds, every gauge reads exactly
//! zero, every tracked request was counted exactly once, and nothing reached the app twice.

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use support::*;
use tokio::task::JoinSet;

const OPERATIONS: u64 = 600;
const WAVE: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_return_to_exactly_zero_after_a_storm_of_mixed_outcomes() {
    let seed = seed("STORM_SEED", 0x5eed_5100);
    let h = Arc::new(
        Harness::start(|c| {
            c.limits.soft_limit = 6;
            c.limits.hard_limit = 8;
            c.queue.max_depth = 12;
            c.queue.timeout = Duration::from_millis(100);
        })
        .await,
    );
    let mut rng = Rng::new(seed);
    let mut statuses = JoinSet::new();
    for wave in 0..OPERATIONS / WAVE {
        for i in 0..WAVE {
            let op = wave * WAVE + i;
            let kind = rng.below(7);
            // Held streams sometimes outlast the queue timeout, so queued requests expire.
            let pause = if kind <= 4 {
                rng.below(250)
            } else {
                rng.below(30)
            };
            let h = h.clone();
            statuses
                .spawn(async move { operation(&h, op, kind, Duration::from_millis(pause)).await });
        }
        // Let part of each wave overlap the next, so queues fill, drain and time out.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let mut seen = std::collections::HashMap::<u16, u64>::new();
    while let Some(status) = statuses.join_next().await {
        if let Some(status) = status.expect("operation task") {
            *seen.entry(status).or_default() += 1;
        }
    }
    // Whatever the timing did above, end with one certain queue timeout: all slots held,
    // one more request waits out `queue.timeout`.
    let mut holds = Vec::new();
    for i in 0..8 {
        holds.push(h.hold(&format!("last{i}")).await);
    }
    let late = send(h.addr(), get("/fast?late")).await.unwrap();
    assert!(body_text(late).await.contains("queue_timeout"));
    for (_, held) in &mut holds {
        held.end();
    }
    drop(holds);

    h.wait_idle().await;
    tokio::time::timeout(
        PATIENCE,
        h.sluice.core().stats.wait_for_connections(|n| n == 0),
    )
    .await
    .expect("every client connection closed");
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_active_requests"), 0.0);
    assert_eq!(m.get("sluice_queue_depth"), 0.0);
    assert_eq!(m.get("sluice_open_connections"), 0.0);
    assert_eq!(m.get("sluice_loaded"), 0.0);
    assert!(
        m.get("sluice_active_requests_peak{window=\"start\"}") <= 8.0,
        "never above the hard limit"
    );
    assert!(
        m.get("sluice_queue_depth_peak{window=\"start\"}") <= 12.0,
        "never above the queue depth"
    );

    let counted: f64 = OUTCOMES.iter().map(|o| m.outcome(o)).sum();
    let opened = h.sluice.core().registry.opened() as f64;
    assert_eq!(
        counted, opened,
        "every tracked request counted exactly once: {m:?}"
    );
    for outcome in [
        "completed",
        "shed",
        "queue_timeout",
        "client_aborted",
        "upstream_error",
    ] {
        assert!(
            m.outcome(outcome) > 0.0,
            "the storm never produced {outcome}: {seen:?}"
        );
    }
    let log = h.app.log();
    let mut unique = log.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), log.len(), "a request reached the app twice");
}

/// One client operation; returns the status it saw, if it saw one.
async fn operation(h: &Harness, op: u64, kind: u64, pause: Duration) -> Option<u16> {
    match kind {
        // A quick request.
        0 => Some(
            send(h.addr(), get(&format!("/fast?op={op}")))
                .await
                .ok()?
                .status()
                .as_u16(),
        ),
        // A short stream read to its end.
        1 => {
            let response = send(h.addr(), get(&format!("/sse?n=5&op={op}")))
                .await
                .ok()?;
            let status = response.status().as_u16();
            let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            Some(status)
        }
        // Held streams: completed, failed by the app, or abandoned by the client mid-body.
        2..=4 => {
            let key = format!("op{op}");
            let mut conn = Conn::open(h.addr()).await;
            let mut response = conn.send(get(&format!("/hold/{key}"))).await.ok()?;
            let status = response.status();
            if status != StatusCode::OK {
                return Some(status.as_u16());
            }
            let mut held = h.app.held(&key).await;
            held.push("data: hello\n\n").await;
            let _ = next_chunk(response.body_mut()).await;
            tokio::time::sleep(pause).await;
            match kind {
                2 => {
                    held.end();
                    while next_chunk(response.body_mut()).await.is_some() {}
                }
                3 => {
                    held.fail().await;
                    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                }
                _ => {
                    drop(response);
                    conn.abort();
                    held.dropped().await;
                }
            }
            Some(200)
        }
        // A client that gives up after `pause`: while queued, while the app answers, or never.
        5 => {
            let addr = h.addr();
            let path = format!("/hold/quit{op}");
            let attempt =
                tokio::spawn(async move { send(addr, get(&path)).await.map(|r| r.status()) });
            tokio::time::sleep(pause).await;
            attempt.abort();
            // If the app got it, end it so nothing lingers.
            if h.app.log().iter().any(|p| p == &format!("/hold/quit{op}")) {
                h.app.held(&format!("quit{op}")).await.end();
            }
            None
        }
        // A request whose client leaves before the app answers its headers.
        _ => {
            let mut conn = Conn::open(h.addr()).await;
            let pending = conn.send(get(&format!("/fast?late={op}")));
            let _ = tokio::time::timeout(Duration::from_micros(200), pending).await;
            conn.abort();
            None
        }
    }
}
