//! Log lines operators rely on: the loaded transitions (once each) and the reaper's warning.
//!
//! One global subscriber captures every line of this test binary, and its tests run one at a
//! time, so each sees only its own sluice's lines (thread-scoped subscribers miss events when
//! tests share callsites across threads).

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::StatusCode;
use support::*;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serializes the caller against the other log tests and empties the capture.
async fn capture() -> (tokio::sync::MutexGuard<'static, ()>, Sink) {
    static SINK: OnceLock<Sink> = OnceLock::new();
    let sink = SINK
        .get_or_init(|| {
            let sink = Sink(Arc::default());
            let writer = sink.clone();
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .init();
            sink
        })
        .clone();
    let serial = SERIAL.lock().await;
    sink.0.lock().unwrap().clear();
    (serial, sink)
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn each_loaded_transition_is_logged_once() {
    let (_serial, logs) = capture().await;
    let h = Harness::start(|c| {
        c.limits.soft_limit = 2;
        c.limits.hard_limit = 3;
    })
    .await;
    let (_a, mut a) = h.hold("a").await;
    let (_b, mut b) = h.hold("b").await;
    // Crossing 2 -> 3 -> 2 while loaded logs nothing more.
    assert_eq!(
        send(h.addr(), get("/fast")).await.unwrap().status(),
        StatusCode::OK
    );
    a.end();
    b.end();
    h.wait_idle().await;
    let logs = logs.text();
    let loaded: Vec<_> = logs
        .lines()
        .filter(|l| l.contains("machine loaded: at or above soft_limit"))
        .collect();
    assert_eq!(loaded.len(), 1, "{logs}");
    assert!(
        loaded[0].contains("WARN") && loaded[0].contains("active=2"),
        "{logs}"
    );
    assert_eq!(
        logs.matches("machine no longer loaded").count(),
        1,
        "{logs}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reap_is_logged_with_the_request_id_method_path_and_age() {
    let (_serial, logs) = capture().await;
    let h = Harness::start(|c| c.reaper.max_request_duration = Duration::from_secs(60)).await;
    let mut request = get("/hold/zombie");
    request
        .headers_mut()
        .insert("x-request-id", "op-42".parse().unwrap());
    let mut response = send(h.addr(), request).await.unwrap();
    let _held = h.app.held("zombie").await;
    while let Some(Ok(_)) = http_body_util::BodyExt::frame(response.body_mut()).await {}
    h.wait_idle().await;
    let logs = logs.text();
    let line = logs
        .lines()
        .find(|l| l.contains("reaped request"))
        .expect("a warn line for the reap");
    for needle in [
        "WARN",
        "request_id=op-42",
        "method=GET",
        "path=/hold/zombie",
        "age_secs=60",
        "reason=\"max_duration\"",
    ] {
        assert!(line.contains(needle), "{needle} missing from: {line}");
    }
}
