//! The harness's own HTTP clients (hyper), for what wrk cannot do: holding thousands of SSE
//! streams open, browser-like tabs, and reading sluice's `/metrics`.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// An open SSE stream whose first event arrived; the connection closes on drop.
#[derive(Debug)]
pub(crate) struct HeldStream {
    _sender: SendRequest<Empty<Bytes>>,
    _body: Incoming,
    connection: JoinHandle<()>,
}

impl Drop for HeldStream {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Opens a connection to `addr`, `GET`s `path`, and returns once the first body frame came.
pub(crate) async fn open_stream(addr: SocketAddr, path: &str) -> Result<HeldStream, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        connection.abort();
        return Err(format!("stream answered {}", response.status()));
    }
    let mut body = response.into_body();
    match body.frame().await {
        Some(Ok(_)) => Ok(HeldStream {
            _sender: sender,
            _body: body,
            connection,
        }),
        other => {
            connection.abort();
            Err(format!("stream ended before its first event: {other:?}"))
        }
    }
}

/// sluice's `/metrics` as `name{labels}` to value.
pub(crate) async fn sluice_metrics(admin: SocketAddr) -> Result<HashMap<String, f64>, String> {
    let (status, text) = sluice::cli::fetch(admin, http::Method::GET, "/metrics")
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("/metrics answered {status}"));
    }
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect())
}
