//! Metric names, help texts and histogram buckets: described once, used by constant.

/// Slots held now (requests in flight; in `connections` mode, connections holding a slot).
pub const ACTIVE_REQUESTS: &str = "sluice_active_requests";
/// Highest `sluice_active_requests` over a window (label `window`: 1m, 1h, 24h, start).
pub const ACTIVE_REQUESTS_PEAK: &str = "sluice_active_requests_peak";
/// Requests waiting for a slot now.
pub const QUEUE_DEPTH: &str = "sluice_queue_depth";
/// Highest `sluice_queue_depth` over a window (label `window`: 1m, 1h, 24h, start).
pub const QUEUE_DEPTH_PEAK: &str = "sluice_queue_depth_peak";
/// The configured `queue.max_depth`.
pub const QUEUE_MAX_DEPTH: &str = "sluice_queue_max_depth";
/// Client TCP connections open now.
pub const OPEN_CONNECTIONS: &str = "sluice_open_connections";
/// The configured `limits.soft_limit`.
pub const SOFT_LIMIT: &str = "sluice_soft_limit";
/// The configured `limits.hard_limit`.
pub const HARD_LIMIT: &str = "sluice_hard_limit";
/// 1 while `sluice_active_requests >= sluice_soft_limit`.
pub const LOADED: &str = "sluice_loaded";
/// `sluice_active_requests / sluice_hard_limit`.
pub const UTILIZATION: &str = "sluice_utilization_ratio";
/// 1 while ready for traffic (0 while draining).
pub const READY: &str = "sluice_ready";
/// Requests by how they ended (label `outcome`).
pub const REQUESTS_TOTAL: &str = "sluice_requests_total";
/// Reaped requests by why (label `reason`).
pub const REAPED_TOTAL: &str = "sluice_reaped_total";
/// Requests forwarded without a slot because their path is exempt.
pub const EXEMPT_TOTAL: &str = "sluice_exempt_requests_total";
/// Requests refused before admission (label `status`: 400, 405, 413, 414, ...).
pub const REJECTED_TOTAL: &str = "sluice_rejected_requests_total";
/// Seconds from arrival to getting a slot, for every admitted request.
pub const QUEUE_WAIT_SECONDS: &str = "sluice_queue_wait_seconds";
/// Seconds from arrival to release of the slot, for every admitted request.
pub const REQUEST_DURATION_SECONDS: &str = "sluice_request_duration_seconds";

/// Buckets for request durations: from milliseconds to half an hour (the reaper's default).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 450.0,
    600.0, 900.0, 1200.0, 1500.0, 1800.0, 2700.0, 3600.0,
];

/// Buckets for queue waits: from a millisecond to past the default 30 s queue timeout.
pub const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// `(name, help)` for every metric, for `# HELP` lines.
pub const HELP: &[(&str, &str)] = &[
    (
        ACTIVE_REQUESTS,
        "Slots held now: requests in flight, streams counted until their last byte.",
    ),
    (
        ACTIVE_REQUESTS_PEAK,
        "Highest sluice_active_requests since start.",
    ),
    (QUEUE_DEPTH, "Requests waiting for a slot now."),
    (
        QUEUE_DEPTH_PEAK,
        "Highest sluice_queue_depth over the window (exact, not sampled).",
    ),
    (QUEUE_MAX_DEPTH, "Configured queue.max_depth."),
    (OPEN_CONNECTIONS, "Client TCP connections open now."),
    (SOFT_LIMIT, "Configured limits.soft_limit."),
    (HARD_LIMIT, "Configured limits.hard_limit."),
    (
        LOADED,
        "1 while active requests are at or above the soft limit.",
    ),
    (UTILIZATION, "Active requests divided by the hard limit."),
    (READY, "1 while ready for traffic, 0 while draining."),
    (
        REQUESTS_TOTAL,
        "Requests that took part in admission, by outcome.",
    ),
    (REAPED_TOTAL, "Requests cut by sluice, by reason."),
    (
        EXEMPT_TOTAL,
        "Requests to exempt paths, forwarded without a slot.",
    ),
    (
        REJECTED_TOTAL,
        "Requests refused before admission, by status.",
    ),
    (QUEUE_WAIT_SECONDS, "Time from arrival to getting a slot."),
    (
        REQUEST_DURATION_SECONDS,
        "Time from arrival to releasing the slot (last byte, abort or reap).",
    ),
];
