//! Shared harness: a [`TestApp`] upstream, sluice in front of it on `127.0.0.1:0`, and
//! clients that talk to both over real sockets.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod app;
pub mod raw_app;
pub mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sluice::Config;
use sluice::Sluice;
use sluice::limit::Snapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub use app::{Held, TestApp};
pub use raw_app::{RawApp, RawRequest, Reply};
pub use wire::*;

/// How long any single wait in a test may take before the test fails (real time).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// sluice in front of an app: a [`TestApp`] by default, or a scripted [`RawApp`].
pub struct Harness<A = TestApp> {
    pub sluice: Sluice,
    pub app: A,
}

/// A config for tests: loopback, port 0, small limits, adjusted by `edit`.
pub fn test_config(upstream: SocketAddr, edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.upstream.url = format!("http://{upstream}").parse().unwrap();
    config.limits.soft_limit = 4;
    config.limits.hard_limit = 5;
    config.queue.max_depth = 10;
    edit(&mut config);
    config.validate().expect("test config is valid");
    config
}

impl Harness {
    /// Starts an app and sluice with `edit` applied to the test config.
    pub async fn start(edit: impl FnOnce(&mut Config)) -> Harness {
        let app = TestApp::start().await;
        let sluice = Sluice::start(test_config(app.addr, edit), None)
            .await
            .expect("sluice starts");
        Harness { sluice, app }
    }

    /// Starts an app and sluice with `slots` slots (soft = hard = `slots`), adjusted by `edit`.
    pub async fn with_slots(slots: usize, edit: impl FnOnce(&mut Config)) -> Harness {
        Harness::start(|c| {
            c.limits.soft_limit = slots;
            c.limits.hard_limit = slots;
            edit(c);
        })
        .await
    }

    /// Opens `/hold/<key>` on its own connection and takes control of the app's side:
    /// returns the response head (headers arrived, body pending) and the app's handle.
    pub async fn hold(&self, key: &str) -> (Response<Incoming>, Held) {
        let response = send(self.addr(), get(&format!("/hold/{key}")))
            .await
            .expect("hold request");
        (response, self.app.held(key).await)
    }
}

impl Harness<RawApp> {
    /// Starts sluice in front of a scripted `app`, with `edit` applied to the test config.
    pub async fn start_raw(app: RawApp, edit: impl FnOnce(&mut Config)) -> Harness<RawApp> {
        let sluice = Sluice::start(test_config(app.addr, edit), None)
            .await
            .expect("sluice starts");
        Harness { sluice, app }
    }
}

impl<A> Harness<A> {
    /// The public address.
    pub fn addr(&self) -> SocketAddr {
        self.sluice.proxy_addr()
    }

    /// The limiter's counts right now.
    pub fn snapshot(&self) -> Snapshot {
        self.sluice.core().limiter.snapshot()
    }

    /// Waits (woken by every change, no polling) until the counts satisfy `done`.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Snapshot) -> bool) {
        let waited =
            tokio::time::timeout(PATIENCE, self.sluice.core().limiter.wait_until(done)).await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}; counts: {:?}",
            self.snapshot()
        );
    }

    /// Waits until nothing is active or queued and the registry is empty.
    pub async fn wait_idle(&self) {
        self.wait_until("idle", |s| s.active == 0 && s.queued == 0)
            .await;
        assert!(
            self.sluice.core().registry.is_empty(),
            "registry still tracks requests"
        );
    }

    /// Waits until every request and client connection is gone, then checks through
    /// `/metrics` that the gauges read exactly 0 and every tracked request was counted once.
    pub async fn assert_settled(&self) -> Metrics {
        self.wait_idle().await;
        let closed = tokio::time::timeout(
            PATIENCE,
            self.sluice.core().stats.wait_for_connections(|n| n == 0),
        )
        .await;
        assert!(closed.is_ok(), "client connections still open");
        let m = self.metrics().await;
        for gauge in [
            "sluice_active_requests",
            "sluice_queue_depth",
            "sluice_open_connections",
        ] {
            assert_eq!(m.get(gauge), 0.0, "{gauge} after settling");
        }
        let counted: f64 = OUTCOMES.iter().map(|o| m.outcome(o)).sum();
        let opened = self.sluice.core().registry.opened() as f64;
        assert_eq!(counted, opened, "every tracked request counted once");
        m
    }

    /// Reads `/metrics` over HTTP from the admin listener and parses the samples.
    pub async fn metrics(&self) -> Metrics {
        let (status, text) = admin_get(self.sluice.admin_addr(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        Metrics::parse(&text)
    }
}

/// Every `outcome` label of `sluice_requests_total`.
pub const OUTCOMES: [&str; 6] = [
    "completed",
    "shed",
    "queue_timeout",
    "client_aborted",
    "upstream_error",
    "reaped",
];

/// Parsed Prometheus samples, keyed by `name{labels}` exactly as rendered.
#[derive(Debug)]
pub struct Metrics(pub HashMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (key, value) = l.rsplit_once(' ')?;
                Some((key.to_owned(), value.parse().ok()?))
            })
            .collect();
        Metrics(samples)
    }

    /// The sample `key` (e.g. `sluice_active_requests` or `sluice_requests_total{outcome="shed"}`).
    pub fn get(&self, key: &str) -> f64 {
        *self.0.get(key).unwrap_or_else(|| panic!("no sample {key}"))
    }

    pub fn outcome(&self, outcome: &str) -> f64 {
        self.get(&format!("sluice_requests_total{{outcome=\"{outcome}\"}}"))
    }
}

/// GET on a fresh connection to the admin listener; returns status and body text.
pub async fn admin_get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let response = send(addr, get(path)).await.expect("admin answers");
    let status = response.status();
    (status, body_text(response).await)
}

/// A GET request for `path`.
pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "sluice.test")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// An HTTP/1.1 client connection; its task ends when the connection closes.
pub struct Conn {
    pub sender: SendRequest<Full<Bytes>>,
    pub task: JoinHandle<Result<(), hyper::Error>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        Conn {
            sender,
            task: tokio::spawn(conn),
        }
    }

    /// Sends a request and waits for its response head.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> hyper::Result<Response<Incoming>> {
        self.sender.ready().await?;
        self.sender.send_request(req).await
    }

    /// Drops the connection (the client goes away).
    pub fn abort(self) {
        self.task.abort();
    }
}

/// One request on its own connection; returns the response head.
pub async fn send(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> hyper::Result<Response<Incoming>> {
    Conn::open(addr).await.send(req).await
}

/// Reads a whole body as text (panics if the body fails).
pub async fn body_text(response: Response<Incoming>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body ends cleanly")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads the next data frame of a body as text (`None` at the end).
pub async fn next_chunk(body: &mut Incoming) -> Option<String> {
    loop {
        let frame = body.frame().await?.expect("body frame");
        if let Ok(data) = frame.into_data() {
            return Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
}

/// Writes raw bytes on a new connection and reads until the server closes or `idle` passes
/// without bytes. Returns everything read.
pub async fn raw(addr: SocketAddr, bytes: &[u8], idle: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_quiet(&mut stream, idle).await
}

/// Reads until EOF, an error, or `idle` without bytes.
pub async fn read_until_quiet(stream: &mut TcpStream, idle: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(Ok(n)) = tokio::time::timeout(idle, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An empty-body GET for raw `Request` building with another body type.
pub fn empty_get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "sluice.test")
        .body(Empty::new())
        .unwrap()
}

/// The seed in environment variable `var` (to replay a failing run), else `default`.
pub fn seed(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A tiny deterministic PRNG (xorshift64*), so storms are reproducible from their seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
