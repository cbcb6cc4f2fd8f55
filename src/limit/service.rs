//! [`Admission`]: the tower service that decides, per request, to forward now, queue, or shed.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::{Request, Response, Version};
use hyper::body::Incoming;
use tokio::sync::OnceCell;
use tower::Service;

use super::{Limiter, Permit, QueueSlot, Rejection};
use crate::body::{ReadAhead, RequestBody, TrackedBody};
use crate::config::LimitMode;
use crate::error::ProxyError;
use crate::metrics::Outcome;
use crate::policy::Policy;
use crate::proxy::PendingTunnel;
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

/// The future of [`Admission`].
pub type ResponseFuture<B> =
    Pin<Box<dyn Future<Output = Result<Response<TrackedBody<B>>, ProxyError>> + Send>>;

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
    type Future = ResponseFuture<B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        // Admission is decided per request below, never by back-pressure here: hyper calls
        // a fresh clone per request, so waiting in poll_ready would be an unbounded queue.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let inner = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, inner);
        let policy = self.ctx.policy.load();
        let max_body = policy.max_request_body;
        if policy.is_exempt(req.uri().path()) {
            self.ctx.registry.stats().record_exempt();
            let req = req.map(|b| RequestBody::new(b, None, max_body));
            return Box::pin(forward(inner, req, None));
        }
        let ticket = self.ctx.registry.open(Arrival {
            request_id: request_id(&req),
            method: req.method().clone(),
            path: req.uri().path().into(),
            client: self.conn.client,
            multiplexed: req.version() == Version::HTTP_2,
            conn: self.conn.control.clone(),
        });
        let (ctx, conn, mode) = (self.ctx.clone(), self.conn.clone(), policy.mode);
        let read_ahead = policy.read_ahead;
        Box::pin(async move {
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
            forward(inner, req, Some(ticket)).await
        })
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

/// Calls the proxy and hands the ticket to whatever carries the rest of the request's life.
async fn forward<S, B>(
    mut inner: S,
    req: Request<RequestBody<Incoming>>,
    ticket: Option<Ticket>,
) -> Result<Response<TrackedBody<B>>, ProxyError>
where
    S: Service<Request<RequestBody<Incoming>>, Response = Response<B>, Error = ProxyError>,
    B: http_body::Body,
{
    match inner.call(req).await {
        Ok(mut response) => match response.extensions_mut().remove::<PendingTunnel>() {
            Some(tunnel) => {
                if let Some(ticket) = ticket {
                    tunnel.spawn(ticket);
                } else {
                    tunnel.spawn_untracked();
                }
                Ok(response.map(|b| TrackedBody::new(b, None)))
            }
            None => Ok(response.map(|b| TrackedBody::new(b, ticket))),
        },
        Err(error) => {
            if let Some(ticket) = ticket {
                ticket.finish(match error {
                    // The client's body was too large, malformed or cut short.
                    ProxyError::BodyTooLarge | ProxyError::BadRequest(_) => Outcome::ClientAborted,
                    _ => Outcome::UpstreamError,
                });
            }
            Err(error)
        }
    }
}

fn request_id<B>(req: &Request<B>) -> Box<str> {
    req.headers()
        .get(&crate::proxy::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .into()
}
