//! [`Gateway`]: the service hyper calls for every request on a client connection.
//!
//! It refuses what must never take a slot (`CONNECT`, oversize targets and bodies), strips
//! hop-by-hop fields, settles the request id, runs the admission + proxy stack, and turns any
//! [`ProxyError`] into its response (in [`ProxyError::to_response`], the one place).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower::ServiceExt;
use tower::util::Oneshot;

use crate::body::TrackedBody;
use crate::error::ProxyError;
use crate::limit::{Admission, AdmissionCtx, ConnCtx};
use crate::policy::Policy;
use crate::proxy::{
    AppBody, Proxy, Upstream, X_REQUEST_ID, check_host, check_transfer_coding, settle_request_id,
    strip_hop_by_hop, wants_upgrade,
};

/// The body of every response sluice sends to clients.
pub type GatewayBody = Either<TrackedBody<AppBody>, Full<Bytes>>;

type Stack = Admission<Proxy>;
/// The stack's future, called at once (or, never in practice, once it is ready).
type Started = futures_util::future::Either<
    <Stack as tower::Service<Request<Incoming>>>::Future,
    Oneshot<Stack, Request<Incoming>>,
>;

/// Per-connection request handler.
#[derive(Debug, Clone)]
pub struct Gateway {
    stack: Stack,
    policy: Arc<ArcSwap<Policy>>,
    ctx: Arc<AdmissionCtx>,
    first_request: Arc<AtomicBool>,
    /// The first valid `Host` seen on this connection: the same value again (nearly every
    /// request after the first) needs no second validation.
    known_host: OnceLock<Box<[u8]>>,
}

impl Gateway {
    /// The handler for one connection. `first_request` is set when the first request head
    /// has arrived (the connection's first-byte deadline is then lifted).
    pub fn new(
        ctx: Arc<AdmissionCtx>,
        upstream: Upstream,
        conn: Arc<ConnCtx>,
        first_request: Arc<AtomicBool>,
    ) -> Self {
        let policy = ctx.policy.clone();
        let proxy = Proxy::new(upstream, policy.clone(), conn.client.ip());
        Gateway {
            stack: Admission::new(proxy, ctx.clone(), conn),
            policy,
            ctx,
            first_request,
            known_host: OnceLock::new(),
        }
    }

    /// [`check_host`], remembering the connection's first valid `Host`.
    fn check_host(&self, req: &Request<Incoming>) -> Result<(), ProxyError> {
        let mut hosts = req.headers().get_all(header::HOST).iter();
        let (Some(host), None) = (hosts.next(), hosts.next()) else {
            return check_host(req);
        };
        if self
            .known_host
            .get()
            .is_some_and(|known| **known == *host.as_bytes())
        {
            return Ok(());
        }
        check_host(req)?;
        // A single Host that passed is valid whatever the target.
        let _ = self.known_host.set(host.as_bytes().into());
        Ok(())
    }

    /// Starts the admission + proxy stack on `req` now, inside hyper's call: admission, the
    /// ticket and (for a free slot) the encoding of the request for the app all happen before
    /// hyper reads the socket again, so nothing holds on to hyper's read buffer by then and it
    /// is reused instead of reallocated for every request. The stack is always ready
    /// (admission is decided per request, never by back-pressure); should it ever not be, the
    /// request goes through `oneshot`, which waits for readiness.
    fn forward(&self, req: Request<Incoming>) -> Started {
        let mut stack = self.stack.clone();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match tower::Service::poll_ready(&mut stack, &mut cx) {
            Poll::Ready(Ok(())) => Started::Left(tower::Service::call(&mut stack, req)),
            _ => Started::Right(stack.oneshot(req)),
        }
    }

    fn check(&self, req: &Request<Incoming>, policy: &Policy) -> Result<(), ProxyError> {
        if req.method() == Method::CONNECT {
            return Err(ProxyError::MethodNotAllowed);
        }
        self.check_host(req)?;
        let uri = req.uri();
        let target_len = uri.path_and_query().map_or(0, |p| p.as_str().len())
            + uri.authority().map_or(0, |a| a.as_str().len());
        if target_len > policy.max_uri_length {
            return Err(ProxyError::UriTooLong);
        }
        if let Some(limit) = policy.max_request_body {
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|len| len > limit) {
                return Err(ProxyError::BodyTooLarge);
            }
        }
        Ok(())
    }
}

impl hyper::service::Service<Request<Incoming>> for Gateway {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = GatewayFuture;

    fn call(&self, mut req: Request<Incoming>) -> GatewayFuture {
        self.first_request.store(true, Relaxed);
        let policy = self.policy.load();
        let retry_after = policy.retry_after;
        let upgrade = wants_upgrade(req.headers());
        // Framing is judged before `Transfer-Encoding` is stripped as hop-by-hop.
        let framing = check_transfer_coding(req.headers());
        strip_hop_by_hop(req.headers_mut(), upgrade);
        let request_id = settle_request_id(req.headers_mut());
        if let Err(error) = framing.and_then(|()| self.check(&req, &policy)) {
            self.ctx
                .registry
                .stats()
                .record_rejected(error.status().as_u16());
            let response = error.to_response(retry_after).map(Either::Right);
            return GatewayFuture {
                state: State::Done {
                    response: Some(response),
                },
                request_id,
                retry_after,
            };
        }
        GatewayFuture {
            state: State::Forwarding {
                call: self.forward(req),
            },
            request_id,
            retry_after,
        }
    }
}

pin_project! {
    /// The future of [`Gateway`].
    pub struct GatewayFuture {
        #[pin]
        state: State,
        request_id: HeaderValue,
        retry_after: std::time::Duration,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Done { response: Option<Response<GatewayBody>> },
        Forwarding { #[pin] call: Started },
    }
}

impl Future for GatewayFuture {
    type Output = Result<Response<GatewayBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.state.project() {
            StateProj::Done { response } => response.take().expect("polled after completion"),
            StateProj::Forwarding { call } => match ready!(call.poll(cx)) {
                Ok(response) => response.map(Either::Left),
                Err(error) => error.to_response(*this.retry_after).map(Either::Right),
            },
        };
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), this.request_id.clone());
        Poll::Ready(Ok(response))
    }
}
