//! Why sluice answered a request itself, and the one place that turns a reason into a
//! response (status, `Retry-After`, short JSON body).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::limit::Rejection;
use crate::metrics::ReapReason;

/// A request sluice answers itself instead of (or after failing to get) the app's response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Not admitted: queue full, queue timeout, or shutting down.
    #[error("{0}")]
    Rejected(#[from] Rejection),
    /// The app refused the connection, was unreachable, or failed before a response.
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(&'static str),
    /// The app closed (or reset) the connection after the request was sent and before a
    /// response arrived: Node's keep-alive race, or an app that died on the request.
    #[error("upstream closed the connection before responding")]
    UpstreamClosed,
    /// No connection to the app within `upstream.connect_timeout`.
    #[error("upstream connect timeout")]
    UpstreamTimeout,
    /// The request body passed `server.max_request_body`.
    #[error("request body too large")]
    BodyTooLarge,
    /// A method sluice does not forward (`CONNECT`).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request target passed `server.max_uri_length`.
    #[error("request target too long")]
    UriTooLong,
    /// A request sluice refuses to forward as written.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The client went away (or broke its body's framing) while its request waited.
    #[error("client closed the request")]
    ClientGone,
    /// A request using a feature sluice does not forward (a transfer coding other than
    /// `chunked`).
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

impl ProxyError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Rejected(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamUnavailable(_) | ProxyError::UpstreamClosed => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::UriTooLong => StatusCode::URI_TOO_LONG,
            ProxyError::BadRequest(_) | ProxyError::ClientGone => StatusCode::BAD_REQUEST,
            ProxyError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// The machine-readable `error` field of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Rejected(Rejection::QueueFull) => "queue_full",
            ProxyError::Rejected(Rejection::QueueTimeout) => "queue_timeout",
            ProxyError::Rejected(Rejection::Closed) => "shutting_down",
            ProxyError::UpstreamUnavailable(_) | ProxyError::UpstreamClosed => {
                "upstream_unavailable"
            }
            ProxyError::UpstreamTimeout => "upstream_timeout",
            ProxyError::BodyTooLarge => "body_too_large",
            ProxyError::MethodNotAllowed => "method_not_allowed",
            ProxyError::UriTooLong => "uri_too_long",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::ClientGone => "client_closed",
            ProxyError::NotImplemented(_) => "not_implemented",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            ProxyError::Rejected(Rejection::QueueFull) => {
                "all slots are busy and the queue is full; retry later"
            }
            ProxyError::Rejected(Rejection::QueueTimeout) => {
                "waited in the queue too long for a free slot; retry later"
            }
            ProxyError::Rejected(Rejection::Closed) => "sluice is shutting down; retry shortly",
            ProxyError::UpstreamUnavailable(cause) => cause,
            ProxyError::UpstreamClosed => "the app closed the connection before responding",
            ProxyError::UpstreamTimeout => "timed out connecting to the app",
            ProxyError::BodyTooLarge => "request body is larger than allowed",
            ProxyError::MethodNotAllowed => "this method is not forwarded",
            ProxyError::UriTooLong => "request target is longer than allowed",
            ProxyError::BadRequest(why) | ProxyError::NotImplemented(why) => why,
            ProxyError::ClientGone => "the request body ended abnormally while queued",
        }
    }

    /// Whether the client connection must close after this answer (its request body may be
    /// unread, or the request was malformed).
    fn closes_connection(&self) -> bool {
        matches!(
            self,
            ProxyError::BodyTooLarge
                | ProxyError::BadRequest(_)
                | ProxyError::NotImplemented(_)
                | ProxyError::ClientGone
        )
    }

    /// The response: status, `Retry-After` on 503, and `{"error": ..., "message": ...}`.
    pub fn to_response(&self, retry_after: Duration) -> Response<Full<Bytes>> {
        let body = format!(
            "{{\"error\":\"{}\",\"message\":\"{}\"}}\n",
            self.code(),
            self.message().replace('"', "'")
        );
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        if self.closes_connection() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// `Retry-After` takes whole seconds; round up so clients never come back early.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A response body cut by the reaper.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("request reaped by sluice ({})", .0.as_str())]
pub struct Reaped(pub ReapReason);

/// The client's request body failed on its way up (malformed chunking, or the client went
/// away mid-body): the app never got a complete message.
#[derive(Debug, thiserror::Error)]
#[error("request body failed: {0}")]
pub struct RequestBodyFailed(#[source] pub crate::body::BoxError);

/// A request body that passed `server.max_request_body`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("request body larger than server.max_request_body")]
pub struct BodyTooLarge;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_status() {
        let shed = ProxyError::from(Rejection::QueueFull).to_response(Duration::from_millis(1500));
        assert_eq!(shed.status(), 503);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "2");
        assert_eq!(ProxyError::UpstreamTimeout.status(), 504);
        assert_eq!(ProxyError::UpstreamUnavailable("refused").status(), 502);
        assert_eq!(ProxyError::BodyTooLarge.status(), 413);
        assert_eq!(ProxyError::MethodNotAllowed.status(), 405);
        assert_eq!(ProxyError::UriTooLong.status(), 414);
        let bad = ProxyError::BadRequest("x").to_response(Duration::ZERO);
        assert_eq!(bad.headers()[header::CONNECTION], "close");
        assert!(bad.headers().get(header::RETRY_AFTER).is_none());
    }
}
