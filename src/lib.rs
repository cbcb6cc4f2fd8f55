//! # sluice
//!
//! A small sidecar that sits in front of one web app and decides, request by request, how
//! much work the app gets at once. It counts in-flight **requests** (a streaming response
//! counts until its last byte), admits up to `hard_limit`, queues the excess in a bounded FIFO
//! queue with a timeout, sheds the rest with `503` + `Retry-After`, reaps stuck streams, and
//! exports exact counts.
//!
//! ## The request path
//!
//! 1. **Accept** ([`server`]): the public listener accepts a TCP connection, counts it in
//!    `sluice_open_connections` (a guard), peeks at its first bytes for the HTTP/2 preface
//!    ([`sniff`]) and serves it with hyper's HTTP/1.1 or h2c (prior knowledge) connection. A
//!    connection that sends no request head within `server.header_read_timeout` is closed
//!    ([`io::FirstRequestDeadline`]).
//! 2. **Gate** ([`gateway::Gateway`]): `CONNECT`, oversize targets and declared-oversize bodies,
//!    transfer codings other than one `chunked` and a missing, repeated or invalid `Host`
//!    ([`proxy::check_transfer_coding`], [`proxy::check_host`]) are answered at once and never
//!    take a slot. Hop-by-hop fields are stripped (after the framing check, before sluice adds
//!    its own) and the `x-request-id` is settled.
//! 3. **Admit** ([`limit::Admission`]): exempt paths pass without a slot. Every other request
//!    gets a [`track::Ticket`] (listed in `/requests`), then a slot from the [`limit::Limiter`]:
//!    at once if one is free; otherwise it waits in the FIFO queue (at most `queue.max_depth`
//!    waiting, each at most `queue.timeout`), or is shed with `503`. A client that goes away
//!    while queued drops the future, which drops its queue place. In `connections` mode the
//!    slot belongs to the connection instead, taken by its first request.
//! 4. **Forward** ([`proxy::Proxy`]): the request goes to `upstream.url` + its path and query
//!    (nothing else is reachable) with `X-Forwarded-*` set, over a kept-alive app connection
//!    owned by the client connection ([`proxy::Lane`]) and used from its task, by sluice's
//!    own HTTP/1.1 client: the proxy future writes the request and reads the response head
//!    (parsed with `httparse`), then [`proxy::AppBody`] reads the body, holding no buffer
//!    while a stream waits for the app's next event. A bodiless idempotent request
//!    whose kept-alive connection the app closed unanswered (Node's keep-alive race) is sent
//!    once more. Failures map to `502`/`504` (or `400`/`413` when the client's body was at
//!    fault) in [`error::ProxyError::to_response`], the one place statuses are chosen.
//! 5. **Stream back** ([`body::TrackedBody`]): the response body carries the ticket (and the
//!    slot). It is released when the last frame is read, when the body fails, or when hyper
//!    drops it because the client went away; never at response headers. An upgrade (`101`)
//!    moves the ticket into the tunnel task instead ([`proxy::PendingTunnel`]).
//! 6. **Reap** ([`reaper`]): a request holding its slot past `reaper.max_request_duration`
//!    (or idle past `reaper.idle_timeout`) is signalled through its entry; its body ends with
//!    an error, the upstream request is dropped, and the ticket counts it `reaped`.
//!
//! Every count goes down only in a guard's `Drop` ([`limit::Permit`], [`limit::QueueSlot`],
//! [`track::Ticket`], [`metrics::ConnectionGuard`]), so after any storm of completions,
//! aborts, timeouts and reaps the gauges return to exactly zero.
//!
//! ## Around it
//!
//! [`admin`] serves `/metrics`, `/healthz`, `/readyz`, `/status` and `/requests` on a separate
//! listener. [`state::Core`] applies reloads. [`app::Sluice`] starts everything and drains on
//! shutdown. [`config`] parses and validates `proxy.toml`.

#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod body;
pub mod changes;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod io;
pub mod limit;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod reaper;
pub mod server;
pub mod signals;
pub mod sniff;
pub mod state;
pub mod track;

pub use app::{Sluice, StartError};
pub use config::Config;
