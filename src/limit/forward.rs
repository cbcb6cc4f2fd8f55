//! [`ResponseFuture`]: what [`Admission`](super::Admission) returns. A request that gets a
//! slot at once (or needs none) is [`Forward`]ed without a box; only one that must wait in
//! the queue is boxed, with its wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::TrackedBody;
use crate::error::ProxyError;
use crate::metrics::Outcome;
use crate::proxy::PendingTunnel;
use crate::track::Ticket;

/// What admitted requests resolve to.
pub type Admitted<B> = Result<Response<TrackedBody<B>>, ProxyError>;

pin_project! {
    /// The future of [`Admission`](super::Admission).
    #[project = ResponseFutureProj]
    #[allow(missing_docs)] // pin_project_lite takes no docs on variant fields.
    pub enum ResponseFuture<F, B> {
        /// Admitted at once (or exempt): `forward` is the proxy's future, with the ticket.
        Forwarding { #[pin] forward: Forward<F> },
        /// Waiting in the queue first: `future` is the wait, then the proxy's future.
        Queued { future: Pin<Box<dyn Future<Output = Admitted<B>> + Send>> },
    }
}

impl<F, B> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, ProxyError>>,
    B: http_body::Body,
{
    type Output = Admitted<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Admitted<B>> {
        match self.project() {
            ResponseFutureProj::Forwarding { forward } => forward.poll(cx),
            ResponseFutureProj::Queued { future } => future.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// Calls the proxy and hands the ticket to whatever carries the rest of the request's
    /// life: the response body, or an upgrade's tunnel. Dropped unfinished (the client went
    /// away), it drops the ticket, which counts the request.
    pub struct Forward<F> {
        #[pin]
        call: F,
        ticket: Option<Ticket>,
    }
}

impl<F> Forward<F> {
    /// Forwards with `call`, the proxy's future; `ticket` is `None` for exempt paths.
    pub fn new(call: F, ticket: Option<Ticket>) -> Self {
        Forward { call, ticket }
    }
}

impl<F, B> Future for Forward<F>
where
    F: Future<Output = Result<Response<B>, ProxyError>>,
    B: http_body::Body,
{
    type Output = Admitted<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Admitted<B>> {
        let this = self.project();
        let result = ready!(this.call.poll(cx));
        let ticket = this.ticket.take();
        Poll::Ready(match result {
            Ok(mut response) => match response.extensions_mut().remove::<PendingTunnel>() {
                Some(tunnel) => {
                    match ticket {
                        Some(ticket) => tunnel.spawn(ticket),
                        None => tunnel.spawn_untracked(),
                    }
                    Ok(response.map(|b| TrackedBody::new(b, None)))
                }
                None => Ok(response.map(|b| TrackedBody::new(b, ticket))),
            },
            Err(error) => {
                if let Some(ticket) = ticket {
                    ticket.finish(match error {
                        // The client's body was too large, malformed or cut short.
                        ProxyError::BodyTooLarge | ProxyError::BadRequest(_) => {
                            Outcome::ClientAborted
                        }
                        _ => Outcome::UpstreamError,
                    });
                }
                Err(error)
            }
        })
    }
}
