//! Connections to the app, and what their failures mean for the client.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::forwarded::Forwarded;
use super::h1::{self, AppConn, ExchangeError, Invalid, Upload, UploadError};
use super::lane::{AppBody, Lane, Lease};
use super::replay::may_replay;
use crate::body::RequestBody;
use crate::config::UpstreamConfig;
use crate::error::{BodyTooLarge, ProxyError, RequestBodyFailed};

/// The body type sent upstream.
pub type UpstreamBody = RequestBody<hyper::body::Incoming>;

/// A request encoded for the app by [`Upstream::prepare`].
#[derive(Debug)]
pub struct Outgoing {
    head: Bytes,
    upload: Upload,
    to_head: bool,
    replayable: bool,
}

/// How to reach the one app, fixed at `upstream.url`. Connections are kept per client
/// connection, in its [`Lane`].
#[derive(Clone, Debug)]
pub struct Upstream {
    // Cloned into every request's future: one reference count, not a copy of each field.
    target: Arc<Target>,
}

#[derive(Debug)]
struct Target {
    host: Box<str>,
    port: u16,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

impl Upstream {
    /// The app at `config.url`. Idle connections are not reused after `upstream.idle_timeout`
    /// (below Node's 5 s keep-alive, so sluice gives them up first). Node's keep-alive race
    /// never reaches a client: a request whose reused connection turns out closed before
    /// anything was written is sent once on a fresh one; and an idempotent request with no
    /// body that the app's reused connection closed unanswered is replayed once on a fresh
    /// one (see `proxy/replay.rs`). A fresh connection is never replayed, so a request that makes the
    /// app crash is not sent twice.
    pub fn new(config: &UpstreamConfig) -> Self {
        let parts = config.url.clone().into_parts();
        let authority = parts.authority.expect("validated: upstream.url has a host");
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let target = Target {
            host: host.into(),
            port: authority.port_u16().unwrap_or(80),
            connect_timeout: config.connect_timeout,
            idle_timeout: config.idle_timeout,
        };
        Upstream {
            target: Arc::new(target),
        }
    }

    /// Encodes a request (its target set by [`origin_target`], not an upgrade) with the
    /// `forwarded` fields, ready for [`Upstream::send`]. Done before anything is awaited, so
    /// the request's head (slices of hyper's read buffer) is let go of at once: hyper then
    /// reuses that buffer instead of allocating another per request, and the future that
    /// sends the request holds only the encoded head and the body.
    pub fn prepare(&self, parts: Parts, body: UpstreamBody, forwarded: &Forwarded) -> Outgoing {
        let path = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let (head, upload) = h1::encode_head(&parts, path, forwarded, body);
        Outgoing {
            replayable: may_replay(&parts, !upload.is_done()),
            to_head: parts.method == Method::HEAD,
            head,
            upload,
        }
    }

    /// Sends `request` on a connection from `lane` (or a new one) and waits for the response
    /// head. The body returned keeps reading that connection and gives it back to `lane`
    /// when it ends.
    pub async fn send(
        &self,
        lane: &Lane,
        request: Outgoing,
    ) -> Result<Response<AppBody>, ProxyError> {
        let Outgoing {
            head,
            mut upload,
            to_head,
            replayable,
        } = request;
        upload.set_head(head.clone());
        let reused = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(lane.take(cx, self.target.idle_timeout))
        })
        .await;
        let mut conn = match reused {
            Some(conn) => conn,
            // Boxed: the (rare) connect keeps its state out of every request's future.
            None => Box::pin(self.connect()).await?,
        };
        let mut retried = false;
        loop {
            let error = match conn.exchange(&mut upload, to_head).await {
                Ok(response) => {
                    let lease = Lease {
                        conn,
                        lane: lane.clone(),
                    };
                    return Ok(response.map(|head| AppBody::new(lease, head, upload)));
                }
                Err(error) => error,
            };
            // Only a kept-alive connection can meet Node's keep-alive race; once.
            match error {
                // Not written: the app closed the kept-alive connection first.
                ExchangeError::Unsent(error) if conn.reused && !retried => {
                    tracing::debug!(%error, "retrying on a fresh connection");
                }
                // Written, then closed unanswered: an idempotent request without a body goes
                // once more.
                ExchangeError::Closed if conn.reused && !retried && replayable => {
                    tracing::debug!("the app closed the connection unanswered; sending once more");
                    upload.set_head(head.clone());
                }
                error => return Err(classify_exchange(error)),
            }
            retried = true;
            conn = Box::pin(self.connect()).await?;
        }
    }

    /// Sends an upgrade request (with its forwarded fields set): it gets a fresh connection
    /// of its own, driven by hyper's client in its own task until the protocol switch hands
    /// its socket to the tunnel.
    pub async fn send_upgrade(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<AppBody>, ProxyError> {
        let io = TokioIo::new(self.open().await?);
        let (mut sender, driver) = http1::handshake(io)
            .await
            .map_err(|_| ProxyError::UpstreamUnavailable("could not connect to the app"))?;
        tokio::spawn(async move {
            if let Err(error) = driver.with_upgrades().await {
                tracing::debug!(%error, "upgraded app connection ended with an error");
            }
        });
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| classify_request(&e))?;
        Ok(response.map(AppBody::from_hyper))
    }

    async fn connect(&self) -> Result<AppConn, ProxyError> {
        Ok(AppConn::new(self.open().await?))
    }

    async fn open(&self) -> Result<TcpStream, ProxyError> {
        let connecting = TcpStream::connect((&*self.target.host, self.target.port));
        let stream = match tokio::time::timeout(self.target.connect_timeout, connecting).await {
            Err(_elapsed) => return Err(ProxyError::UpstreamTimeout),
            Ok(Err(error)) => return Err(classify_connect(&error)),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// The request target sent to the app, in origin form: nothing but the app can be reached,
/// whatever the client's target named. An empty path is sent as `/` (RFC 9112 §3.2.1),
/// `*` (for `OPTIONS *`) stays as it is.
pub fn origin_target(path_and_query: Option<PathAndQuery>) -> Uri {
    Uri::from(origin_form(path_and_query))
}

/// The target sent to the app: the path and query, with an empty path sent as `/`
/// (RFC 9112 §3.2.1). An absolute-form target such as `http://host#x` or `http://host?q` has
/// an empty path, which `PathAndQuery` *reports* as `/` but writes as nothing at all: the
/// app would get an empty request target. `*` (for `OPTIONS *`) stays as it is.
fn origin_form(path_and_query: Option<PathAndQuery>) -> PathAndQuery {
    match path_and_query {
        Some(pq) if pq.as_str() == "/" => PathAndQuery::from_static("/"),
        Some(pq) if pq.as_str().starts_with('/') || pq.as_str() == "*" => pq,
        Some(pq) => PathAndQuery::try_from(format!("/{}", pq.as_str()))
            .unwrap_or_else(|_| PathAndQuery::from_static("/")),
        None => PathAndQuery::from_static("/"),
    }
}

/// Maps a failed connect to what the client of sluice is told.
fn classify_connect(error: &io::Error) -> ProxyError {
    tracing::debug!(%error, "cannot connect to the app");
    match error.kind() {
        io::ErrorKind::TimedOut => ProxyError::UpstreamTimeout,
        io::ErrorKind::ConnectionRefused => {
            ProxyError::UpstreamUnavailable("the app refused the connection")
        }
        _ => ProxyError::UpstreamUnavailable("could not connect to the app"),
    }
}

/// Maps a failed exchange on an open connection to what the client of sluice is told.
fn classify_exchange(error: ExchangeError) -> ProxyError {
    tracing::debug!(error = %display_chain(&error), "upstream request failed");
    match error {
        ExchangeError::Unsent(_) | ExchangeError::Closed => ProxyError::UpstreamClosed,
        ExchangeError::Io(error) | ExchangeError::Upload(UploadError::Io(error)) => {
            match error.kind() {
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => ProxyError::UpstreamClosed,
                _ => ProxyError::UpstreamUnavailable("the app failed before responding"),
            }
        }
        ExchangeError::Invalid(Invalid(why)) => ProxyError::UpstreamUnavailable(why),
        ExchangeError::Upload(UploadError::Body(error)) if error.is::<BodyTooLarge>() => {
            ProxyError::BodyTooLarge
        }
        ExchangeError::Upload(_) => ProxyError::BadRequest("malformed or incomplete request body"),
    }
}

/// Maps a failed exchange on an upgrade's connection (hyper's client) likewise.
fn classify_request(error: &hyper::Error) -> ProxyError {
    if chain(error).any(|e| e.is::<BodyTooLarge>()) {
        return ProxyError::BodyTooLarge;
    }
    if chain(error).any(|e| e.is::<RequestBodyFailed>()) {
        return ProxyError::BadRequest("malformed or incomplete request body");
    }
    tracing::debug!(error = %display_chain(error), "upstream request failed");
    let io_kind = chain(error).find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind));
    let closed = error.is_incomplete_message() || error.is_canceled() || error.is_closed();
    let reset = matches!(
        io_kind,
        Some(
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    );
    if closed || reset {
        return ProxyError::UpstreamClosed;
    }
    ProxyError::UpstreamUnavailable("the app failed before responding")
}

fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut next = Some(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = current.source();
        Some(current)
    })
}

fn display_chain(error: &(dyn StdError + 'static)) -> String {
    chain(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
