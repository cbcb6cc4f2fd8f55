//! Forwarding to the app: header hygiene, app connections kept per client connection, the
//! forwarding service and upgrade tunnels.

mod forwarded;
mod framing;
mod h1;
mod headers;
mod lane;
mod replay;
mod service;
mod tunnel;
mod upstream;

pub use forwarded::Forwarded;
pub use framing::{check_host, check_transfer_coding};
pub use h1::BodyError;
pub use headers::{X_REQUEST_ID, settle_request_id, strip_hop_by_hop, wants_upgrade};
pub use lane::{AppBody, Lane};
pub use service::{Proxy, ProxyFuture};
pub use tunnel::PendingTunnel;
pub use upstream::{Upstream, UpstreamBody, origin_target};
