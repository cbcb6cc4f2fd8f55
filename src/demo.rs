//! `sluice demo`: sluice in front of a small built-in app, so a newcomer can watch requests,
//! streams, queueing and shedding with nothing else installed.
//!
//! The app answers:
//! - `GET /hello`: a quick text response;
//! - `GET /events?count=N&interval_ms=M`: a server-sent event stream (default 10 events, one a
//!   second) like the long operations sluice exists for;
//! - `GET /slow?ms=N`: a response after N milliseconds;
//! - `GET /health`: `ok` (exempt from the limit in the demo).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::{Config, Sluice};

/// Starts the demo app on `addr` (port 0 picks one) and returns where it listens.
pub async fn spawn_app(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service =
                    service_fn(|req| async move { Ok::<_, Infallible>(handle(req).await) });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(local)
}

type DemoBody = BoxBody<Bytes, Infallible>;

async fn handle(req: Request<Incoming>) -> Response<DemoBody> {
    let query = |name: &str, default: u64| {
        req.uri()
            .query()
            .and_then(|q| {
                q.split('&')
                    .find_map(|p| p.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            })
            .unwrap_or(default)
    };
    match req.uri().path() {
        "/hello" => text(StatusCode::OK, "Hello, world\n"),
        "/health" => text(StatusCode::OK, "ok\n"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query("ms", 1000))).await;
            text(StatusCode::OK, "slow hello\n")
        }
        "/events" => events(
            query("count", 10),
            Duration::from_millis(query("interval_ms", 1000)),
        ),
        "/" => text(
            StatusCode::OK,
            "sluice demo app: try /hello, /events?count=20&interval_ms=500, /slow?ms=2000\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<DemoBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    response
}

fn events(count: u64, interval: Duration) -> Response<DemoBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        for n in 1..=count {
            let event =
                format!("id: {n}\nevent: progress\ndata: {{\"step\":{n},\"of\":{count}}}\n\n");
            if tx.send(Ok(Frame::data(Bytes::from(event)))).await.is_err() {
                return;
            }
            if n < count {
                tokio::time::sleep(interval).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// Runs the demo until Ctrl-C: the app on a free loopback port, sluice in front of it with
/// the limits from `config_path` (or the defaults if the file is absent).
pub async fn run(config_path: &Path) -> ExitCode {
    let mut config = if config_path.exists() {
        match Config::load(config_path) {
            Ok(config) => config,
            Err(error) => {
                eprintln!("sluice: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        Config::default()
    };
    let app = match spawn_app(SocketAddr::from(([127, 0, 0, 1], 0))).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("sluice demo: cannot start the demo app: {error}");
            return ExitCode::FAILURE;
        }
    };
    config.upstream.url = format!("http://{app}")
        .parse()
        .expect("a socket address makes a URL");
    if !config.limits.exempt_paths.iter().any(|p| p == "/health") {
        config.limits.exempt_paths.push("/health".into());
    }
    let Ok(signals) = crate::signals::Signals::install() else {
        eprintln!("sluice demo: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let (soft, hard, depth) = (
        config.limits.soft_limit,
        config.limits.hard_limit,
        config.queue.max_depth,
    );
    let sluice = match Sluice::start(config, None).await {
        Ok(sluice) => sluice,
        Err(error) => {
            eprintln!(
                "sluice demo: {error}\n(edit listen / admin.listen in {} or free the port)",
                config_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let show = |mut a: SocketAddr| {
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        a
    };
    let (p, a) = (show(sluice.proxy_addr()), show(sluice.admin_addr()));
    println!(
        "sluice demo: a built-in app on http://{app}, sluice in front of it on http://{p}\n\
         limits: soft {soft}, hard {hard}, queue {depth}\n\n\
         try:\n  \
         curl http://{p}/hello\n  \
         curl -N 'http://{p}/events?count=20&interval_ms=500'     # SSE, event by event\n  \
         curl http://{a}/status                                    # how close to the limits\n  \
         curl -s http://{a}/metrics | grep '^sluice_'\n  \
         curl http://{a}/requests                                  # what holds a slot now\n\n\
         fill it up (each stream holds a slot for 60 s):\n  \
         for i in $(seq {}); do curl -sN 'http://{p}/events?count=60' >/dev/null & done; sleep 1; curl http://{a}/status\n\n\
         Ctrl-C drains and exits.",
        hard + depth / 2
    );
    signals.serve(&sluice).await
}
