//! Live reconfiguration: limits change without dropping anything; restart-only keys are
//! reported; an invalid file changes nothing.

mod support;

use std::time::Duration;

use http::StatusCode;
use sluice::Sluice;
use support::*;

#[tokio::test]
async fn raising_the_hard_limit_admits_queued_requests_at_once() {
    let h = Harness::with_slots(1, |_| {}).await;
    let (_a, mut a) = h.hold("a").await;
    let addr = h.addr();
    let queued = tokio::spawn(async move { send(addr, get("/hold/b")).await.unwrap() });
    h.wait_until("b queued", |s| s.queued == 1).await;

    let mut config = h.sluice.core().config();
    config.limits.hard_limit = 2;
    config.limits.soft_limit = 2;
    let report = h.sluice.core().reload(config);
    assert_eq!(report.applied, ["limits.hard_limit", "limits.soft_limit"]);
    assert!(report.needs_restart.is_empty());

    // b is admitted while a still holds its slot.
    let mut b = h.app.held("b").await;
    assert_eq!(queued.await.unwrap().status(), StatusCode::OK);
    assert_eq!(h.snapshot().active, 2);
    assert_eq!(h.metrics().await.get("sluice_hard_limit"), 2.0);
    a.end();
    b.end();
    h.wait_idle().await;
}

#[tokio::test]
async fn lowering_the_hard_limit_lets_held_slots_finish_and_admits_only_under_it() {
    let h = Harness::with_slots(3, |_| {}).await;
    let mut streams = Vec::new();
    let mut held = Vec::new();
    for k in ["a", "b", "c"] {
        streams.push(send(h.addr(), get(&format!("/hold/{k}"))).await.unwrap());
        held.push(h.app.held(k).await);
    }
    let mut config = h.sluice.core().config();
    config.limits.hard_limit = 1;
    config.limits.soft_limit = 1;
    h.sluice.core().reload(config);
    assert_eq!(h.snapshot().active, 3, "nothing in flight is dropped");

    let addr = h.addr();
    let newcomer =
        tokio::spawn(async move { send(addr, get("/fast?new")).await.unwrap().status() });
    h.wait_until("newcomer queued", |s| s.queued == 1).await;
    // Two of three finish: one slot is still held, which is the new limit, so still no room.
    held[0].end();
    held[1].end();
    h.wait_until("two released", |s| s.active == 1).await;
    assert_eq!(h.snapshot().queued, 1, "admitted only under the new limit");
    assert_eq!(h.app.hits("/fast?new"), 0);
    // The last one finishes: now the newcomer gets the single slot.
    held[2].end();
    assert_eq!(newcomer.await.unwrap(), StatusCode::OK);
    h.wait_idle().await;
    let m = h.metrics().await;
    assert_eq!(m.get("sluice_hard_limit"), 1.0);
    assert_eq!(m.outcome("completed"), 4.0);
}

#[tokio::test]
async fn queue_shed_and_exempt_settings_apply_to_the_next_request() {
    let h = Harness::with_slots(1, |c| {
        c.queue.max_depth = 0;
    })
    .await;
    let (_a, mut a) = h.hold("a").await;
    let shed = send(h.addr(), get("/health")).await.unwrap();
    assert_eq!(shed.headers()["retry-after"], "5");

    let mut config = h.sluice.core().config();
    config.shed.retry_after = Duration::from_secs(11);
    config.limits.exempt_paths = vec!["/health".into()];
    let report = h.sluice.core().reload(config);
    assert_eq!(report.applied, ["limits.exempt_paths", "shed"]);
    assert_eq!(
        send(h.addr(), get("/health")).await.unwrap().status(),
        StatusCode::OK,
        "now exempt"
    );
    assert_eq!(
        send(h.addr(), get("/other")).await.unwrap().headers()["retry-after"],
        "11"
    );
    a.end();
    h.wait_idle().await;
}

#[tokio::test]
async fn restart_only_keys_are_reported_and_keep_their_running_values() {
    let h = Harness::start(|_| {}).await;
    let before = h.sluice.core().config();
    let mut config = before.clone();
    config.listen = "127.0.0.1:1".parse().unwrap();
    config.upstream.url = "http://127.0.0.1:2".parse().unwrap();
    config.limits.mode = sluice::config::LimitMode::Connections;
    config.limits.hard_limit += 1;
    let report = h.sluice.core().reload(config);
    assert_eq!(report.needs_restart, ["listen", "upstream", "limits.mode"]);
    assert_eq!(report.applied, ["limits.hard_limit"]);
    let now = h.sluice.core().config();
    assert_eq!(now.listen, before.listen);
    assert_eq!(now.upstream, before.upstream);
    assert_eq!(now.limits.mode, before.limits.mode);
    // Still forwarding to the same app.
    assert_eq!(
        body_text(send(h.addr(), get("/fast")).await.unwrap()).await,
        "fast"
    );
    h.wait_idle().await;
}

#[tokio::test]
async fn an_invalid_file_is_rejected_and_the_running_limits_stay() {
    let app = TestApp::start().await;
    let path = std::env::temp_dir().join(format!("sluice-reload-{}.toml", std::process::id()));
    let valid = |hard: usize| {
        format!(
            "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://{}\"\n[limits]\nsoft_limit = 1\nhard_limit = {hard}\n",
            app.addr
        )
    };
    std::fs::write(&path, valid(3)).unwrap();
    let sluice = Sluice::start(sluice::Config::load(&path).unwrap(), Some(path.clone()))
        .await
        .unwrap();
    let admin = sluice.admin_addr();

    std::fs::write(&path, "[limits]\nsoft_limit = 9\nhard_limit = 4\n").unwrap();
    let (status, body) = post(admin, "/reload").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("running limits kept") && body.contains("limits.soft_limit (line 2)"),
        "{body}"
    );
    assert_eq!(sluice.core().limiter.snapshot().hard_limit, 3);

    std::fs::write(&path, valid(7)).unwrap();
    let (status, body) = post(admin, "/reload").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "applied: limits.hard_limit; needs restart: nothing\n");
    assert_eq!(sluice.core().limiter.snapshot().hard_limit, 7);
    assert_eq!(
        admin_get(admin, "/reload").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    std::fs::remove_file(&path).unwrap();
}

async fn post(addr: std::net::SocketAddr, path: &str) -> (StatusCode, String) {
    let (status, body) = sluice::cli::fetch(addr, http::Method::POST, path)
        .await
        .unwrap();
    (status, body)
}
