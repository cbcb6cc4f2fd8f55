//! [`Admission`]: the tower service that decides, per request, to forward now, queue, or shed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::{Request, Response, Version};
use hyper::body::Incoming;
use tokio::sync::OnceCell;
use tower::Service;

use super::forward::{Forward, ResponseFuture};
use super::{Limiter, Permit, QueueSlot, Rejection};
use crate::body::{ReadAhead, RequestBody, TrackedBody};
use crate::config::LimitMode;
use crate::error::ProxyError;
use crate::metrics::Outcome;
use crate::policy::Policy;
use crate::track::{Arrival, ConnControl, Registry, Ticket};

/// What every connection's admission shares.
#[derive(Debug)]
pub struct AdmissionCtx {
    /// The slots.
    pub limiter: Limiter,
    /// The in-flight registry (and stats).
    pub registry: Arc<Registry>,
    /// Live settings.
    pub policy: Arc<ArcSwap<Policy>>,
}

/// What one client connection contributes.
#[derive(Debug)]
pub struct ConnCtx {
    /// The client's address.
    pub client: SocketAddr,
    /// Lets the reaper close this connection.
    pub control: Arc<ConnControl>,
    /// In `connections` mode: the slot this connection took with its first request.
    pub slot: OnceCell<Permit>,
}

impl ConnCtx {
    /// Context for a new connection from `client`.
    pub fn new(client: SocketAddr) -> Self {
        ConnCtx {
            client,
            control: Arc::default(),
            slot: OnceCell::new(),
        }
    }
}

/// Admits requests into `S` under the limiter, holding each slot until the response body
/// (or upgrade tunnel) ends. Requests to exempt paths pass without a slot.
#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    ctx: Arc<AdmissionCtx>,
    conn: Arc<ConnCtx>,
}

impl<S> Admission<S> {
    /// Wraps `inner` for one connection.
    pub fn new(inner: S, ctx: Arc<AdmissionCtx>, conn: Arc<ConnCtx>) -> Self {
        Admission { inner, ctx, conn }
    }
}

impl<S, B> Service<Request<Incoming>> for Admission<S>
where
    S: Service<Request<RequestBody<Incoming>>, Response = Response<B>, Error = ProxyError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = ProxyError;
    type Future = ResponseFuture<S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        // Admission is decided per request below, never by back-pressure here: hyper calls
        // a fresh clone per request, so waiting in poll_ready would be an unbounded queue.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        let policy = self.ctx.policy.load();
        let max_body = policy.max_request_body;
        if policy.is_exempt(req.uri().path()) {
            self.ctx.registry.stats().record_exempt();
            let req = req.map(|b| RequestBody::new(b, None, max_body));
            return forwarding(inner, req, None);
        }
        let ticket = self.ctx.registry.open(Arrival {
            request_id: request_id(&req),
            method: req.method().clone(),
            path: req.uri().path().into(),
            client: self.conn.client,
            multiplexed: req.version() == Version::HTTP_2,
            conn: self.conn.control.clone(),
        });
        if policy.mode == LimitMode::Requests {
            // A free slot: forwarded now, with nothing to wait for and no box.
            if let Some(permit) = self.ctx.limiter.try_acquire() {
                let mut ticket = ticket;
                ticket.admit(Some(permit));
                let entry = Some(ticket.entry().clone());
                let req = req.map(|b| RequestBody::new(b, entry, max_body));
                return forwarding(inner, req, Some(ticket));
            }
        }
        let (ctx, conn, mode) = (self.ctx.clone(), self.conn.clone(), policy.mode);
        let read_ahead = policy.read_ahead;
        let queued = Box::pin(async move {
            let mut ticket = ticket;
            let (parts, mut body) = req.into_parts();
            let mut ahead = ReadAhead::default();
            let waiting = Waiting {
                body: &mut body,
                ahead: &mut ahead,
                limit: read_ahead,
            };
            let permit = match admit(&ctx.limiter, &conn, mode, &ticket, waiting).await {
                Ok(permit) => permit,
                Err(refused) => {
                    let (outcome, error) = match refused {
                        Refused::Rejected(Rejection::QueueTimeout) => {
                            (Outcome::QueueTimeout, Rejection::QueueTimeout.into())
                        }
                        Refused::Rejected(rejection) => (Outcome::Shed, rejection.into()),
                        Refused::ClientGone => (Outcome::ClientAborted, ProxyError::ClientGone),
                    };
                    ticket.finish(outcome);
                    return Err(error);
                }
            };
            ticket.admit(permit);
            let entry = Some(ticket.entry().clone());
            let req = Request::from_parts(parts, RequestBody::after(ahead, body, entry, max_body));
            Forward::new(inner.call(req), Some(ticket)).await
        });
        ResponseFuture::Queued { future: queued }
    }
}

/// Forwards `req` to `inner` at once, holding `ticket` (if any) until the response ends.
fn forwarding<S, B>(
    mut inner: S,
    req: Request<RequestBody<Incoming>>,
    ticket: Option<Ticket>,
) -> ResponseFuture<S::Future, B>
where
    S: Service<Request<RequestBody<Incoming>>, Response = Response<B>, Error = ProxyError>,
{
    ResponseFuture::Forwarding {
        forward: Forward::new(inner.call(req), ticket),
    }
}

/// Why a request left admission without a slot.
enum Refused {
    Rejected(Rejection),
    ClientGone,
}

/// A queued request's body, read ahead while it waits.
struct Waiting<'a> {
    body: &'a mut Incoming,
    ahead: &'a mut ReadAhead,
    limit: usize,
}

/// Waits for a slot (requests mode) or makes sure the connection holds one.
async fn admit(
    limiter: &Limiter,
    conn: &ConnCtx,
    mode: LimitMode,
    ticket: &Ticket,
    waiting: Waiting<'_>,
) -> Result<Option<Permit>, Refused> {
    let take = || async {
        if let Some(permit) = limiter.try_acquire() {
            return Ok(permit);
        }
        let place = limiter.enqueue().map_err(Refused::Rejected)?;
        ticket.queued();
        wait_in_queue(place, waiting).await
    };
    match mode {
        LimitMode::Requests => take().await.map(Some),
        LimitMode::Connections => conn.slot.get_or_try_init(take).await.map(|_| None),
    }
}

/// Waits for a slot while reading the body ahead: a body that fails means the client left.
async fn wait_in_queue(place: QueueSlot, waiting: Waiting<'_>) -> Result<Permit, Refused> {
    let acquire = place.acquire();
    tokio::pin!(acquire);
    if waiting.limit > 0 {
        tokio::select! {
            biased;
            admitted = &mut acquire => return admitted.map_err(Refused::Rejected),
            read = waiting.ahead.fill(waiting.body, waiting.limit) => {
                if read.is_err() {
                    return Err(Refused::ClientGone);
                }
            }
        }
    }
    acquire.await.map_err(Refused::Rejected)
}

fn request_id<B>(req: &Request<B>) -> Box<str> {
    req.headers()
        .get(&crate::proxy::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .into()
}
