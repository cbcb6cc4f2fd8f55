//! [`Proxy`]: forwards one admitted request to the app and returns its response head.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use tower::Service;

use super::forwarded::Forwarded;
use super::headers::strip_hop_by_hop;
use super::lane::{AppBody, Lane};
use super::tunnel::PendingTunnel;
use super::upstream::{Upstream, UpstreamBody, origin_target};
use crate::error::ProxyError;
use crate::policy::Policy;

/// Forwards requests to the app at `upstream.url`, for one client connection (whose app
/// connections it keeps in its [`Lane`]).
///
/// Cloned for every request (tower services are), so its state sits behind one `Arc`.
#[derive(Debug, Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    upstream: Upstream,
    lane: Lane,
    policy: Arc<ArcSwap<Policy>>,
    /// The client's address as an `X-Forwarded-For` value.
    client_ip: HeaderValue,
}

impl Proxy {
    /// A proxy to `upstream` for requests from `client_ip`.
    pub fn new(upstream: Upstream, policy: Arc<ArcSwap<Policy>>, client_ip: IpAddr) -> Self {
        let shared = Shared {
            upstream,
            lane: Lane::default(),
            policy,
            client_ip: HeaderValue::try_from(client_ip.to_string())
                .expect("an IP address is a valid header value"),
        };
        Proxy {
            shared: Arc::new(shared),
        }
    }
}

/// The future of [`Proxy`].
pub type ProxyFuture = Pin<Box<dyn Future<Output = Result<Response<AppBody>, ProxyError>> + Send>>;

impl Service<Request<UpstreamBody>> for Proxy {
    type Response = Response<AppBody>;
    type Error = ProxyError;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    /// Expects hop-by-hop fields already stripped (the gateway does it before anything else);
    /// an `Upgrade` field left in place means a real upgrade is being forwarded.
    fn call(&mut self, mut req: Request<UpstreamBody>) -> ProxyFuture {
        let upgrade = req.headers().contains_key(header::UPGRADE);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();

        // RFC 9112 §3.2.2: with an absolute-form target (or HTTP/2 `:authority`), the
        // target's authority is the host. Only its path and query are forwarded.
        // Userinfo is never part of a host.
        if let Some(authority) = parts.uri.authority() {
            let host = authority.as_str().rsplit('@').next().unwrap_or_default();
            if let Ok(host) = HeaderValue::from_str(host) {
                parts.headers.insert(header::HOST, host);
            }
        }
        let shared = &self.shared;
        let trust = shared.policy.load().trust_forwarded_headers;
        let host = parts.headers.get(header::HOST);
        let forwarded = Forwarded::new(&parts.headers, &shared.client_ip, host, trust);
        // HTTP/1.0 may omit Host; the HTTP/1.1 message sent on carries an empty one (§3.2).
        parts
            .headers
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static(""));
        if upgrade {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        parts.uri = origin_target(parts.uri.into_parts().path_and_query);
        parts.version = Version::HTTP_11;

        let shared = self.shared.clone();
        let Some(client) = client_upgrade else {
            let request = shared.upstream.prepare(parts, body, &forwarded);
            return Box::pin(async move {
                let mut response = shared.upstream.send(&shared.lane, request).await?;
                strip_hop_by_hop(response.headers_mut(), false);
                Ok(response)
            });
        };
        forwarded.apply(&mut parts.headers);
        let request = Request::from_parts(parts, body);
        Box::pin(async move {
            let mut response = shared.upstream.send_upgrade(request).await?;
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                strip_hop_by_hop(response.headers_mut(), false);
                return Ok(response);
            }
            let app = hyper::upgrade::on(&mut response);
            strip_hop_by_hop(response.headers_mut(), true);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            response
                .extensions_mut()
                .insert(PendingTunnel::new(client, app));
            Ok(response)
        })
    }
}
