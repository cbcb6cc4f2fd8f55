//! Forwarding to the app: header hygiene, the upstream pool, the forwarding service and
//! upgrade tunnels.

mod framing;
mod headers;
mod replay;
mod service;
mod tunnel;
mod upstream;

pub use framing::{check_host, check_transfer_coding};
pub use headers::{
    X_REQUEST_ID, set_forwarded, settle_request_id, strip_hop_by_hop, wants_upgrade,
};
pub use service::{Proxy, ProxyFuture};
pub use tunnel::PendingTunnel;
pub use upstream::{Upstream, UpstreamBody};
