//! The settings a request reads as it passes, swapped whole on reload (`SIGHUP`).

use std::time::Duration;

use crate::config::{Config, LimitMode, ReaperConfig};

/// Live, reloadable per-request settings. Read with one lock-free load per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What a slot stands for (fixed at start: changing it needs a restart).
    pub mode: LimitMode,
    /// Exact paths forwarded without a slot.
    pub exempt_paths: Vec<Box<str>>,
    /// `Retry-After` on 503s.
    pub retry_after: Duration,
    /// Request body bytes read ahead while queued.
    pub read_ahead: usize,
    /// The largest request body forwarded.
    pub max_request_body: Option<u64>,
    /// The longest request target.
    pub max_uri_length: usize,
    /// Keep `X-Forwarded-Proto`/`-Host` from a trusted edge.
    pub trust_forwarded_headers: bool,
    /// When to reap.
    pub reaper: ReaperConfig,
}

impl Policy {
    /// The policy a configuration asks for.
    pub fn from_config(config: &Config) -> Self {
        Policy {
            mode: config.limits.mode,
            exempt_paths: config
                .limits
                .exempt_paths
                .iter()
                .map(|p| p.as_str().into())
                .collect(),
            retry_after: config.shed.retry_after,
            read_ahead: config.queue.buffer_body_bytes,
            max_request_body: config.server.max_request_body,
            max_uri_length: config.server.max_uri_length,
            trust_forwarded_headers: config.server.trust_forwarded_headers,
            reaper: config.reaper.clone(),
        }
    }

    /// Whether `path` is forwarded without a slot.
    pub fn is_exempt(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|p| **p == *path)
    }
}
