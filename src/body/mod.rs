//! Body wrappers.
//!
//! - [`TrackedBody`]: a response body holding its request's ticket (and slot) until its last
//!   frame, an error, or the client going away; never released at response headers.
//! - [`RequestBody`]: a request body on its way upstream: replays what was read ahead while
//!   queued ([`ReadAhead`]), counts bytes, and enforces `server.max_request_body`.

mod request;
mod tracked;

pub use request::{ReadAhead, RequestBody};
pub use tracked::TrackedBody;

/// The error type of every body sluice produces.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
