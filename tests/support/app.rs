//! A controllable upstream app on `127.0.0.1:0`.
//!
//! Routes:
//! - `/fast` (and anything unknown): `200 fast`.
//! - `/hold/<key>`: sends headers at once, then body chunks pushed by the test through
//!   [`TestApp::held`]; the test also learns when sluice drops the request.
//! - `/defer/<key>`: answers `200 deferred` only once the test calls [`TestApp::answer`].
//! - `/echo`: JSON of the request line, every header line, and the body length.
//! - `/sse?n=N`: N events back to back.
//! - `/ws`: answers `101` and echoes bytes on the upgraded connection; on `bye` it closes.
//!   [`TestApp::wait_ws_closed`] tells when the app's side of tunnels ended.
//!
//! Every request's path+query is logged in arrival order ([`TestApp::log`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};

type Body = BoxBody<Bytes, std::io::Error>;

/// A held response: push chunks, end it, or watch for sluice dropping it.
pub struct Held {
    tx: Option<mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>>,
    closed: Option<oneshot::Receiver<()>>,
}

impl Held {
    /// Sends one body chunk.
    pub async fn push(&mut self, chunk: &str) {
        let tx = self.tx.as_ref().expect("held body already ended");
        tx.send(Ok(Frame::data(Bytes::from(chunk.to_owned()))))
            .await
            .expect("sluice dropped the held body");
    }

    /// Ends the body cleanly.
    pub fn end(&mut self) {
        self.tx = None;
    }

    /// Fails the body mid-stream (the app's side breaks).
    pub async fn fail(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx
                .send(Err(std::io::Error::other("app failed mid-body")))
                .await;
        }
    }

    /// Resolves once the app's response body was dropped (sluice let go of the request).
    pub async fn dropped(&mut self) {
        if let Some(closed) = self.closed.take() {
            let _ = closed.await;
        }
    }
}

#[derive(Default)]
struct State {
    log: Mutex<Vec<String>>,
    held: Mutex<HashMap<String, Held>>,
    deferred: Mutex<HashMap<String, oneshot::Sender<()>>>,
    arrived: Notify,
    ws_closed: Mutex<usize>,
}

/// The running app.
#[derive(Clone)]
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl TestApp {
    /// Starts the app on a fresh loopback port.
    pub async fn start() -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let app = TestApp {
            addr,
            state: state.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        app
    }

    /// Paths (with query) the app received, in order.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many requests for exactly `path_and_query` arrived.
    pub fn hits(&self, path_and_query: &str) -> usize {
        self.log().iter().filter(|p| *p == path_and_query).count()
    }

    /// Waits for `/hold/<key>` to arrive and takes control of its body.
    pub async fn held(&self, key: &str) -> Held {
        loop {
            let notified = self.state.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(held) = self.state.held.lock().unwrap().remove(key) {
                return held;
            }
            notified.await;
        }
    }

    /// Waits for `/defer/<key>` to arrive, then lets the app answer it.
    pub async fn answer(&self, key: &str) {
        loop {
            let notified = self.state.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(tx) = self.state.deferred.lock().unwrap().remove(key) {
                let _ = tx.send(());
                return;
            }
            notified.await;
        }
    }

    /// Waits until at least `n` WebSocket sessions ended on the app's side.
    pub async fn wait_ws_closed(&self, n: usize) {
        loop {
            let notified = self.state.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *self.state.ws_closed.lock().unwrap() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.state.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.log.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

async fn handle(state: Arc<State>, mut req: Request<Incoming>) -> Response<Body> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    let path = req.uri().path().to_owned();
    state.log.lock().unwrap().push(target.clone());
    let response = if let Some(key) = path.strip_prefix("/hold/") {
        let (tx, rx) = mpsc::channel(16);
        let (closed_tx, closed_rx) = oneshot::channel();
        state.held.lock().unwrap().insert(
            key.to_owned(),
            Held {
                tx: Some(tx),
                closed: Some(closed_rx),
            },
        );
        let guard = DropSignal(Some(closed_tx));
        let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|item| (item, (rx, guard)))
        });
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        r
    } else if let Some(key) = path.strip_prefix("/defer/") {
        let (tx, rx) = oneshot::channel();
        state.deferred.lock().unwrap().insert(key.to_owned(), tx);
        state.arrived.notify_waiters();
        let _ = rx.await;
        full(StatusCode::OK, "deferred")
    } else if path == "/echo" {
        let mut headers = Vec::new();
        for (name, value) in req.headers() {
            headers.push(format!(
                "{}: {}",
                name,
                value.to_str().unwrap_or("<binary>")
            ));
        }
        let head = format!("{} {} {:?}", req.method(), target, req.version());
        let body = req
            .body_mut()
            .collect()
            .await
            .map(|b| b.to_bytes().len())
            .unwrap_or(usize::MAX);
        let json = serde_json::json!({ "head": head, "headers": headers, "body_len": body });
        full(StatusCode::OK, json.to_string())
    } else if path == "/sse" {
        let n: usize = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("n=")?.parse().ok())
            .unwrap_or(3);
        let events = (0..n)
            .map(|i| Ok::<_, std::io::Error>(Frame::data(Bytes::from(format!("data: {i}\n\n")))));
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
            events,
        ))));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        r
    } else if path == "/ws" {
        let upgrade = hyper::upgrade::on(&mut req);
        let state = state.clone();
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || &buf[..n] == b"bye" || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
            *state.ws_closed.lock().unwrap() += 1;
            state.arrived.notify_waiters();
        });
        let mut r = full(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
        r.headers_mut()
            .insert(header::CONNECTION, "upgrade".parse().unwrap());
        r.headers_mut()
            .insert(header::UPGRADE, "websocket".parse().unwrap());
        r
    } else {
        full(StatusCode::OK, "fast")
    };
    state.arrived.notify_waiters();
    response
}

/// Fires its sender when dropped: the app's body stream is gone.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}
