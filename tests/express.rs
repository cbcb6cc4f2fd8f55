//! End to end with a real Express app (`tests/express/server.js`): SSE through sluice holds
//! its slot until the last event, Node's parser sees no hop-by-hop fields, and Node's 5 s
//! keep-alive never shows the client an error, with sluice's pool timeout below it (the
//! default) or above it (the race is then real).
//!
//! Needs `node` and `npm ci --prefix tests/express`; skipped with a message otherwise, unless
//! `SLUICE_REQUIRE_EXPRESS=1` (set by CI after installing), which makes a skip a failure.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice::Sluice;
use support::*;

/// The Express app; killed (by its own pid) when dropped.
struct Express {
    child: Child,
    addr: SocketAddr,
}

impl Express {
    /// Starts the app, or `None` (after saying why) if node or express is missing.
    fn start() -> Option<Express> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/express");
        let skip = |why: &str| {
            assert!(
                std::env::var("SLUICE_REQUIRE_EXPRESS").as_deref() != Ok("1"),
                "SLUICE_REQUIRE_EXPRESS=1 but {why}"
            );
            eprintln!("skipped: {why} (run `npm ci --prefix tests/express`)");
            None
        };
        if !dir.join("node_modules/express").is_dir() {
            return skip("express is not installed");
        }
        let Ok(mut child) = Command::new("node")
            .arg(dir.join("server.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        else {
            return skip("node is not installed");
        };
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("port line");
        let info: serde_json::Value = serde_json::from_str(&line).expect("{\"port\": N}");
        let port = info["port"].as_u64().expect("port") as u16;
        Some(Express {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }
}

impl Drop for Express {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sluice_for(app: &Express, edit: impl FnOnce(&mut sluice::Config)) -> Sluice {
    Sluice::start(test_config(app.addr, edit), None)
        .await
        .expect("sluice starts")
}

#[tokio::test]
async fn express_sse_streams_through_sluice_holding_its_slot_until_the_last_event() {
    let Some(app) = Express::start() else { return };
    let sluice = sluice_for(&app, |_| {}).await;
    let mut response = send(sluice.proxy_addr(), get("/sse?n=4&interval=30"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"].to_str().unwrap();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let mut events = Vec::new();
    while let Some(chunk) = next_chunk(response.body_mut()).await {
        if events.is_empty() {
            assert_eq!(
                sluice.core().limiter.snapshot().active,
                1,
                "held mid-stream"
            );
        }
        events.push(chunk);
    }
    assert_eq!(
        events.concat(),
        "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n"
    );
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
    assert_eq!(
        sluice
            .core()
            .stats
            .outcome(sluice::metrics::Outcome::Completed),
        1
    );
}

#[tokio::test]
async fn nodes_parser_sees_forwarded_fields_and_no_hop_by_hop_ones() {
    let Some(app) = Express::start() else { return };
    let sluice = sluice_for(&app, |_| {}).await;
    let response = raw_exchange(
        sluice.proxy_addr(),
        "POST /headers HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-Secret\r\n\
         X-Secret: 1\r\nKeep-Alive: timeout=9\r\nTE: trailers\r\nX-Forwarded-For: 1.2.3.4\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.text());
    let seen: serde_json::Value = serde_json::from_str(&response.text()).unwrap();
    let lines: Vec<String> = serde_json::from_value(seen["lines"].clone()).unwrap();
    for name in ["x-secret", "keep-alive", "te", "connection: x-secret"] {
        assert!(
            !lines.iter().any(|l| l.starts_with(name)),
            "{name}: {lines:?}"
        );
    }
    assert!(
        lines.contains(&"host: shop.example".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"x-forwarded-for: 1.2.3.4, 127.0.0.1".to_owned()));
    assert_eq!(seen["body"], 5);
}

/// GETs with just over Node's 5 s keep-alive of idle between them: every one answered.
async fn idle_past_node_keep_alive(pool_idle: Duration) {
    let Some(app) = Express::start() else { return };
    let sluice = sluice_for(&app, |c| c.upstream.idle_timeout = pool_idle).await;
    let mut client = Conn::open(sluice.proxy_addr()).await;
    for i in 0..3 {
        if i > 0 {
            // The idle gap is the scenario itself, not a wait for something.
            tokio::time::sleep(Duration::from_millis(5_050)).await;
        }
        let response = client.send(get(&format!("/fast?{i}"))).await.unwrap();
        assert_eq!(response.status(), 200, "request {i} after idling");
        assert_eq!(body_text(response).await, "fast");
    }
    let stats = &sluice.core().stats;
    assert_eq!(stats.outcome(sluice::metrics::Outcome::UpstreamError), 0);
    assert_eq!(stats.outcome(sluice::metrics::Outcome::Completed), 3);
}

#[tokio::test]
async fn express_keep_alive_with_the_default_pool_timeout_never_errors() {
    idle_past_node_keep_alive(Duration::from_secs(4)).await;
}

#[tokio::test]
async fn express_keep_alive_with_a_pool_timeout_above_nodes_never_errors() {
    idle_past_node_keep_alive(Duration::from_secs(30)).await;
}
