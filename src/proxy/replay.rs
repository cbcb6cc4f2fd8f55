//! [`may_replay`]: sending a request once more when the app closed its connection before
//! answering it.
//!
//! Node closes an idle keep-alive connection after 5 s; a request written just as it does
//! is read by nobody and the connection closes without an answer. A request not written at
//! all is simply sent on a fresh connection (`Upstream::send`); one that was written and
//! closed unanswered, before any byte of a response, is replayed only if that is safe: for
//! idempotent requests (RFC 9110 §9.2.2) with no body, sluice sends the same head once more
//! on another connection, as Go's `net/http`, Envoy (`retry_on: reset`) and HAProxy
//! (`retry-on empty-response`) do. Requests with a
//! body, non-idempotent methods and upgrades are never replayed: the app may have acted on
//! them, and the client gets a 502.

use http::header;
use http::request::Parts;

/// Whether a request may be sent once more: idempotent method, no body, no upgrade. The
/// copy sent is the request head exactly as it was encoded the first time.
pub(super) fn may_replay(parts: &Parts, has_body: bool) -> bool {
    parts.method.is_idempotent() && !has_body && !parts.headers.contains_key(header::UPGRADE)
}
