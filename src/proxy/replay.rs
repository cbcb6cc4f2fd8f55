//! [`Replay`]: sending a request once more when the app closed its connection before
//! answering it.
//!
//! Node closes an idle keep-alive connection after 5 s; a request written just as it does
//! is read by nobody and the connection closes without an answer. hyper-util retries only a
//! request that was not written at all. For idempotent requests (RFC 9110 §9.2.2) with no
//! body, sluice sends the request once more on another connection, as Go's `net/http`,
//! Envoy (`retry_on: reset`) and HAProxy (`retry-on empty-response`) do. Requests with a
//! body, non-idempotent methods and upgrades are never replayed: the app may have acted on
//! them, and the client gets a 502.

use http::{Request, header};

use super::upstream::UpstreamBody;

/// A copy of a request's head, with an empty body, to send again.
#[derive(Debug)]
pub(super) struct Replay(Request<UpstreamBody>);

impl Replay {
    /// A copy of `request`, if it may be replayed: idempotent method, no body, no upgrade.
    pub(super) fn capture(request: &Request<UpstreamBody>) -> Option<Replay> {
        if !request.method().is_idempotent() || request.headers().contains_key(header::UPGRADE) {
            return None;
        }
        let mut copy = Request::new(request.body().empty_copy()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        Some(Replay(copy))
    }

    /// The request to send again.
    pub(super) fn into_request(self) -> Request<UpstreamBody> {
        self.0
    }
}
