//! The configuration model: one struct per `proxy.toml` table.
//!
//! Every field documents its key and default. Durations are parsed while deserializing (so a bad
//! duration is reported with its line); cross-field rules live in [`Config::validate`].

use std::net::SocketAddr;
use std::time::Duration;

use http::Uri;
use serde::{Deserialize, Serialize};

use super::de;

/// The whole `proxy.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `listen`: the public address clients connect to. Default `"0.0.0.0:8080"`.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// `[upstream]`: where admitted requests go.
    #[serde(default)]
    pub upstream: UpstreamConfig,
    /// `[limits]`: how many requests the app gets at once.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[queue]`: where requests wait when every slot is taken.
    #[serde(default)]
    pub queue: QueueConfig,
    /// `[shed]`: how rejected requests are answered.
    #[serde(default)]
    pub shed: ShedConfig,
    /// `[admin]`: the private listener for metrics, health and the in-flight list.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[server]`: protections against slow and hostile clients.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[reaper]`: ending requests that have run too long or gone quiet.
    #[serde(default)]
    pub reaper: ReaperConfig,
    /// `[shutdown]`: how SIGTERM drains.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: defaults::listen(),
            upstream: UpstreamConfig::default(),
            limits: LimitsConfig::default(),
            queue: QueueConfig::default(),
            shed: ShedConfig::default(),
            admin: AdminConfig::default(),
            server: ServerConfig::default(),
            reaper: ReaperConfig::default(),
            shutdown: ShutdownConfig::default(),
        }
    }
}

/// `[upstream]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// `url`: the app's base URL, `http://host:port`, no path. Default `"http://127.0.0.1:3000"`.
    /// Every forwarded request goes to this URL plus the client's path and query, and nowhere else.
    #[serde(with = "de::upstream_url")]
    pub url: Uri,
    /// `connect_timeout`: how long to wait for a TCP connection to the app (then `504`).
    /// Default `"5s"`.
    #[serde(with = "de::duration")]
    pub connect_timeout: Duration,
    /// `idle_timeout`: an app connection idle this long is never reused again (it is closed at
    /// its next use or when its client connection closes). Must stay below Node's
    /// `keepAliveTimeout` (5 s), so no request is sent on a socket the app is closing.
    /// Default `"4s"`.
    #[serde(with = "de::duration")]
    pub idle_timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            url: Uri::from_static("http://127.0.0.1:3000"),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(4),
        }
    }
}

/// What one slot stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitMode {
    /// One slot per HTTP request, held until its response body ends (the default).
    #[default]
    Requests,
    /// One slot per client TCP connection, held for the connection's whole life
    /// (Fly's old `type = "connections"`, kept to reproduce the incident).
    Connections,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// `mode`: `"requests"` (default) or `"connections"`.
    pub mode: LimitMode,
    /// `soft_limit`: at or above this many held slots the machine is *loaded* (logged once,
    /// exported as `sluice_loaded`); requests are still admitted. Default `200`.
    pub soft_limit: usize,
    /// `hard_limit`: the most slots held at once; beyond it requests queue. Default `250`.
    pub hard_limit: usize,
    /// `exempt_paths`: exact paths forwarded without a slot (health checks). Default `[]`.
    pub exempt_paths: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            mode: LimitMode::Requests,
            soft_limit: 200,
            hard_limit: 250,
            exempt_paths: Vec::new(),
        }
    }
}

/// `[queue]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `max_depth`: the most requests waiting at once; `0` sheds as soon as `hard_limit` is
    /// reached. Default `100`.
    pub max_depth: usize,
    /// `timeout`: the longest a request waits for a slot before it is shed. Default `"30s"`.
    #[serde(with = "de::duration")]
    pub timeout: Duration,
    /// `buffer_body_bytes`: while a request waits, up to this many bytes of its body are read
    /// ahead, so a client that disconnects mid-upload is noticed at once and never forwarded.
    /// Larger bodies are read only once admitted. `0` disables read-ahead. Default `65536`.
    pub buffer_body_bytes: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_depth: 100,
            timeout: Duration::from_secs(30),
            buffer_body_bytes: 64 * 1024,
        }
    }
}

/// `[shed]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShedConfig {
    /// `retry_after`: sent as `Retry-After` (whole seconds, rounded up) on every 503.
    /// Default `"5s"`.
    #[serde(with = "de::duration")]
    pub retry_after: Duration,
}

impl Default for ShedConfig {
    fn default() -> Self {
        ShedConfig {
            retry_after: Duration::from_secs(5),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `listen`: the admin address (`/metrics`, `/healthz`, `/readyz`, `/status`,
    /// `/requests`). Keep it off the public network. Default `"0.0.0.0:9091"`.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9091)),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `header_read_timeout`: a connection must deliver a complete request head within this
    /// time (including its very first byte, and the wait for the next request on a kept-alive
    /// connection), or it is closed. Default `"10s"`.
    #[serde(with = "de::duration")]
    pub header_read_timeout: Duration,
    /// `max_request_body`: the largest request body forwarded, in bytes; larger ones get `413`.
    /// Default: unlimited (key absent).
    pub max_request_body: Option<u64>,
    /// `max_headers`: the most request header lines (HTTP/1); more gets `431`. Default `100`.
    pub max_headers: usize,
    /// `max_header_bytes`: the largest request head in bytes; larger gets `431`.
    /// Default `65536` (at least 8192).
    pub max_header_bytes: usize,
    /// `max_uri_length`: the longest request target in bytes; longer gets `414`. Default `8192`.
    pub max_uri_length: usize,
    /// `h2_max_concurrent_streams`: streams one HTTP/2 client connection may open at once.
    /// Default `128`.
    pub h2_max_concurrent_streams: u32,
    /// `trust_forwarded_headers`: keep `X-Forwarded-Proto` and `X-Forwarded-Host` sent by the
    /// client (set `true` only behind a trusted edge such as Fly's proxy, which sets them).
    /// When `false`, sluice replaces them with what it saw. `X-Forwarded-For` is always
    /// appended to. Default `false`.
    pub trust_forwarded_headers: bool,
    /// `workers`: threads serving connections. `1` runs everything on one thread (no
    /// cross-thread wake-ups: the fastest and leanest choice when the app shares the machine's
    /// cores); `0` means one per CPU core. Default `1`. Needs a restart.
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout: Duration::from_secs(10),
            max_request_body: None,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            max_uri_length: 8192,
            h2_max_concurrent_streams: 128,
            trust_forwarded_headers: false,
            workers: 1,
        }
    }
}

/// `[reaper]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReaperConfig {
    /// `max_request_duration`: a request holding a slot longer than this (queue wait not
    /// counted) is cut and counted `reaped`. Default `"30m"`.
    #[serde(with = "de::duration")]
    pub max_request_duration: Duration,
    /// `idle_timeout`: a request with no bytes in either direction for this long is reaped.
    /// Default: off (key absent, or `"off"`).
    #[serde(with = "de::optional_duration")]
    pub idle_timeout: Option<Duration>,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        ReaperConfig {
            max_request_duration: Duration::from_secs(30 * 60),
            idle_timeout: None,
        }
    }
}

/// `[shutdown]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// `drain_timeout`: after SIGTERM/SIGINT, how long in-flight requests may finish before
    /// they are cut. Default `"25s"` (inside Fly's default 30 s kill timeout).
    #[serde(with = "de::duration")]
    pub drain_timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout: Duration::from_secs(25),
        }
    }
}

mod defaults {
    use std::net::SocketAddr;

    pub(super) fn listen() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 8080))
    }
}
