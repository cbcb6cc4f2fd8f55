//! The admin listener, separate from the public one (keep it off the public network).
//!
//! | endpoint | answers |
//! |---|---|
//! | `GET /metrics` | Prometheus text format, gauges exact at the moment of the read |
//! | `GET /healthz` | `200 ok` while the process runs |
//! | `GET /readyz` | `200 ready`, or `503 draining` once shutdown began |
//! | `GET /status` | a one-screen summary: how close to the limits (`?format=json` for JSON) |
//! | `GET /requests` | JSON list of queued and active requests, oldest first |
//! | `POST /reload` | re-read the config file, as `SIGHUP` does; answers what changed |

mod requests;
mod status;

pub use status::{LEVELS, level};

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::state::Core;

/// Serves the admin endpoints until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<Core>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, &req)) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10));
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers one admin request.
pub fn route(state: &Core, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() == "/reload" {
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "POST /reload\n");
        }
        return match state.reload_from_file() {
            Ok(report) => text(StatusCode::OK, &report.to_string()),
            Err(error) => text(
                StatusCode::BAD_REQUEST,
                &format!("config rejected, running limits kept: {error}\n"),
            ),
        };
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let json = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "format=json"))
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    match req.uri().path() {
        "/metrics" => {
            let body = state.exporter.render(&state.limiter, &state.stats);
            with_type(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                body,
            )
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if state.stats.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        "/status" if json => with_type(StatusCode::OK, "application/json", status::json(state)),
        "/status" | "/" => text(StatusCode::OK, &status::text(state)),
        "/requests" => with_type(StatusCode::OK, "application/json", requests::json(state)),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /status, /metrics, /requests, /healthz, /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", body.to_owned())
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
