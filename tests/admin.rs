//! The admin listener: metrics (names, exactness, format), health, readiness, status and the
//! in-flight list. Metrics are never served on the public port.

mod support;

use http::StatusCode;
use support::*;

const METRICS: &[&str] = &[
    "sluice_active_requests",
    "sluice_active_requests_peak{window=\"1m\"}",
    "sluice_active_requests_peak{window=\"1h\"}",
    "sluice_active_requests_peak{window=\"24h\"}",
    "sluice_active_requests_peak{window=\"start\"}",
    "sluice_queue_depth",
    "sluice_queue_depth_peak{window=\"1h\"}",
    "sluice_queue_depth_peak{window=\"start\"}",
    "sluice_queue_max_depth",
    "sluice_open_connections",
    "sluice_soft_limit",
    "sluice_hard_limit",
    "sluice_loaded",
    "sluice_utilization_ratio",
    "sluice_ready",
    "sluice_exempt_requests_total",
    "sluice_requests_total{outcome=\"completed\"}",
    "sluice_requests_total{outcome=\"shed\"}",
    "sluice_requests_total{outcome=\"queue_timeout\"}",
    "sluice_requests_total{outcome=\"client_aborted\"}",
    "sluice_requests_total{outcome=\"upstream_error\"}",
    "sluice_requests_total{outcome=\"reaped\"}",
    "sluice_reaped_total{reason=\"max_duration\"}",
    "sluice_reaped_total{reason=\"idle\"}",
    "sluice_reaped_total{reason=\"shutdown\"}",
    "sluice_rejected_requests_total{status=\"405\"}",
];

#[tokio::test]
async fn metrics_expose_every_documented_series_with_exact_values() {
    let h = Harness::start(|c| {
        c.limits.soft_limit = 1;
        c.limits.hard_limit = 2;
    })
    .await;
    let m = h.metrics().await;
    for name in METRICS {
        assert!(m.0.contains_key(*name), "missing {name}");
    }
    assert_eq!(m.get("sluice_hard_limit"), 2.0);
    assert_eq!(m.get("sluice_ready"), 1.0);

    // One open stream and one idle client connection: the scrape sees exactly that.
    let (_stream, mut held) = h.hold("a").await;
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_active_requests"), 1.0);
    assert_eq!(m.get("sluice_utilization_ratio"), 0.5);
    assert_eq!(m.get("sluice_loaded"), 1.0);
    assert_eq!(m.get("sluice_open_connections"), 1.0);
    held.end();
    h.wait_idle().await;
    let text = admin_get(h.sluice.admin_addr(), "/metrics").await.1;
    assert!(
        text.contains("# HELP sluice_active_requests "),
        "help text present"
    );
    assert!(text.contains("# TYPE sluice_request_duration_seconds histogram"));
    assert!(
        text.contains("sluice_request_duration_seconds_bucket{le=\"1800\"}"),
        "buckets reach 30 minutes"
    );
    assert!(
        text.contains("sluice_request_duration_seconds_bucket{le=\"0.005\"}"),
        "and start at milliseconds"
    );
}

#[tokio::test]
async fn promtool_accepts_the_metrics_text_when_installed() {
    let Ok(probe) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var_os("SLUICE_REQUIRE_PROMTOOL").is_none(),
            "SLUICE_REQUIRE_PROMTOOL is set but promtool is missing"
        );
        eprintln!("promtool not installed; skipping the format check (CI installs it)");
        return;
    };
    assert!(probe.status.success());
    let h = Harness::start(|_| {}).await;
    assert_eq!(
        send(h.addr(), get("/fast")).await.unwrap().status(),
        StatusCode::OK
    );
    h.wait_idle().await;
    let text = admin_get(h.sluice.admin_addr(), "/metrics").await.1;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejected /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn health_readiness_status_and_unknown_paths() {
    let h = Harness::start(|c| {
        c.limits.soft_limit = 4;
        c.limits.hard_limit = 5;
    })
    .await;
    let admin = h.sluice.admin_addr();
    assert_eq!(
        admin_get(admin, "/healthz").await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        admin_get(admin, "/readyz").await,
        (StatusCode::OK, "ready\n".into())
    );
    assert_eq!(admin_get(admin, "/nope").await.0, StatusCode::NOT_FOUND);

    let _a = send(h.addr(), get("/hold/a")).await.unwrap();
    let _b = send(h.addr(), get("/hold/b")).await.unwrap();
    let _c = send(h.addr(), get("/hold/c")).await.unwrap();
    let _d = send(h.addr(), get("/hold/d")).await.unwrap();
    let mut held = Vec::new();
    for k in ["a", "b", "c", "d"] {
        held.push(h.app.held(k).await);
    }
    let (status, text) = admin_get(admin, "/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("active         4 / 5"), "{text}");
    assert!(
        text.contains("80.0%") && text.contains("WARNING"),
        "4 of 5 is the 80% warning level:\n{text}"
    );
    assert!(text.contains("loaded    yes (soft_limit 4)"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&admin_get(admin, "/status?format=json").await.1).unwrap();
    assert_eq!(json["active"], 4);
    assert_eq!(json["level"], "warning");
    assert_eq!(json["thresholds"][0], serde_json::json!(["warning", 4]));

    let list: serde_json::Value =
        serde_json::from_str(&admin_get(admin, "/requests").await.1).unwrap();
    assert_eq!(list["active"], 4);
    let requests = list["requests"].as_array().unwrap();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/hold/a", "/hold/b", "/hold/c", "/hold/d"],
        "oldest first"
    );
    assert!(
        requests
            .iter()
            .all(|r| r["state"] == "active" && r["request_id"].as_str().unwrap().len() > 4)
    );
    for mut h in held {
        h.end();
    }
    h.wait_idle().await;
}

#[tokio::test]
async fn metrics_are_not_served_on_the_public_port() {
    let h = Harness::start(|_| {}).await;
    let response = send(h.addr(), get("/metrics")).await.unwrap();
    // Forwarded to the app like any other path: the app answers, not sluice.
    assert_eq!(body_text(response).await, "fast");
    assert_eq!(h.app.hits("/metrics"), 1);
    h.wait_idle().await;
}

#[tokio::test]
async fn requests_lists_queued_and_active_requests_with_their_details() {
    let h = Harness::with_slots(1, |_| {}).await;
    let mut request = get("/hold/a?token=secret");
    request
        .headers_mut()
        .insert("x-request-id", "first-op".parse().unwrap());
    let mut stream = send(h.addr(), request).await.unwrap();
    let mut held = h.app.held("a").await;
    held.push("data: 12345\n\n").await;
    assert!(next_chunk(stream.body_mut()).await.is_some());
    let addr = h.addr();
    let queued =
        tokio::spawn(async move { send(addr, get("/fast?waiting")).await.unwrap().status() });
    h.wait_until("queued", |s| s.queued == 1).await;

    let list: serde_json::Value =
        serde_json::from_str(&admin_get(h.sluice.admin_addr(), "/requests").await.1).unwrap();
    assert_eq!(
        (list["active"].as_u64(), list["queued"].as_u64()),
        (Some(1), Some(1))
    );
    let requests = list["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2);
    let (first, second) = (&requests[0], &requests[1]);
    assert_eq!(first["request_id"], "first-op");
    assert_eq!(first["method"], "GET");
    assert_eq!(
        first["path"], "/hold/a",
        "queries (which may hold secrets) are not listed"
    );
    assert_eq!(first["state"], "active");
    assert_eq!(first["bytes_sent"], 13);
    assert!(first["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(
        first["age_secs"].as_f64().unwrap() >= second["age_secs"].as_f64().unwrap(),
        "oldest first"
    );
    assert_eq!(second["state"], "queued");
    assert_eq!(second["path"], "/fast");
    assert!(
        second["held_secs"].is_null(),
        "a queued request holds nothing yet"
    );
    held.end();
    assert_eq!(queued.await.unwrap(), StatusCode::OK);
    h.wait_idle().await;
}

#[tokio::test(start_paused = true)]
async fn peaks_are_exact_per_window_and_age_out() {
    let h = Harness::start(|_| {}).await;
    let peak = |m: &Metrics, window: &str| {
        m.get(&format!(
            "sluice_active_requests_peak{{window=\"{window}\"}}"
        ))
    };
    let mut streams = Vec::new();
    let mut held = Vec::new();
    for k in ["a", "b", "c"] {
        streams.push(send(h.addr(), get(&format!("/hold/{k}"))).await.unwrap());
        held.push(h.app.held(k).await);
    }
    for mut stream in held {
        stream.end();
    }
    drop(streams);
    h.wait_idle().await;
    // A spike of 3 that no longer exists: a scrape now would read 0 active, the peaks keep it.
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_active_requests"), 0.0);
    assert_eq!(
        [
            peak(&m, "1m"),
            peak(&m, "1h"),
            peak(&m, "24h"),
            peak(&m, "start")
        ],
        [3.0; 4]
    );

    tokio::time::sleep(std::time::Duration::from_secs(61 * 60)).await;
    let m = h.metrics().await;
    assert_eq!(
        [
            peak(&m, "1m"),
            peak(&m, "1h"),
            peak(&m, "24h"),
            peak(&m, "start")
        ],
        [0.0, 0.0, 3.0, 3.0]
    );
    let status = admin_get(h.sluice.admin_addr(), "/status").await.1;
    assert!(
        status.contains("active: 1m 0 | 1h 0 | 24h 3 | start 3"),
        "{status}"
    );
}
