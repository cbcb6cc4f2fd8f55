//! The connection pool to the app, and what its failures mean for the client.

use std::error::Error as StdError;
use std::io;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::RequestBody;
use crate::config::UpstreamConfig;
use crate::error::{BodyTooLarge, ProxyError, RequestBodyFailed};

/// The body type sent upstream.
pub type UpstreamBody = RequestBody<Incoming>;

/// A keep-alive pool of HTTP/1.1 connections to one app, fixed at `upstream.url`.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<HttpConnector, UpstreamBody>,
    scheme: Scheme,
    authority: Authority,
}

impl Upstream {
    /// A pool for `config`. Idle connections close after `upstream.idle_timeout` (below Node's
    /// 5 s keep-alive, so sluice closes first); a request whose pooled connection turns out
    /// closed before anything was written is retried once on a fresh one, so Node's
    /// keep-alive race never reaches a client and nothing is sent twice.
    pub fn new(config: &UpstreamConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(usize::MAX)
            .retry_canceled_requests(true)
            .set_host(false)
            .build(connector);
        let parts = config.url.clone().into_parts();
        Upstream {
            client,
            scheme: parts.scheme.unwrap_or(Scheme::HTTP),
            authority: parts.authority.expect("validated: upstream.url has a host"),
        }
    }

    /// The URI for a request to `path_and_query` on the app: nothing else can be reached.
    pub fn uri_for(&self, path_and_query: Option<PathAndQuery>) -> Uri {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query =
            Some(path_and_query.unwrap_or_else(|| PathAndQuery::from_static("/")));
        Uri::from_parts(parts).expect("scheme, authority and path make a valid URI")
    }

    /// Sends `request` (already addressed with [`Upstream::uri_for`]) and waits for headers.
    pub async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        self.client.request(request).await.map_err(|e| classify(&e))
    }
}

/// Maps a client error to what the client of sluice is told.
fn classify(error: &hyper_util::client::legacy::Error) -> ProxyError {
    if chain(error).any(|e| e.is::<BodyTooLarge>()) {
        return ProxyError::BodyTooLarge;
    }
    if chain(error).any(|e| e.is::<RequestBodyFailed>()) {
        return ProxyError::BadRequest("malformed or incomplete request body");
    }
    let io_kind = chain(error).find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind));
    if error.is_connect() {
        return match io_kind {
            Some(io::ErrorKind::TimedOut) => ProxyError::UpstreamTimeout,
            Some(io::ErrorKind::ConnectionRefused) => {
                ProxyError::UpstreamUnavailable("the app refused the connection")
            }
            _ => ProxyError::UpstreamUnavailable("could not connect to the app"),
        };
    }
    tracing::debug!(error = %display_chain(error), "upstream request failed");
    let closed = chain(error)
        .filter_map(|e| e.downcast_ref::<hyper::Error>())
        .any(|e| e.is_incomplete_message() || e.is_canceled() || e.is_closed());
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
