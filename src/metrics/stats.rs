//! Exact counters owned by sluice: the source of truth that `/metrics` and `/status` read.
//!
//! Gauges (active, queued, connections) are counted by guards; outcome counters are bumped
//! once per request by its ticket's `Drop`. Nothing on the request path looks a metric up by
//! name: histograms are sluice's own exact [`Buckets`], counted as requests finish.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::time::Duration;

use super::histogram::Buckets;
use super::names::{DURATION_BUCKETS, QUEUE_WAIT_BUCKETS};

use crate::changes::Changes;

/// How a request that took part in admission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response body ended cleanly.
    Completed,
    /// Refused at once (queue full, or shutting down).
    Shed,
    /// Waited `queue.timeout` without a slot.
    QueueTimeout,
    /// The client went away (while queued, waiting for the app, or mid-body).
    ClientAborted,
    /// The app could not be reached, or failed mid-response.
    UpstreamError,
    /// Cut by sluice: too old, idle, or still running at the end of a drain.
    Reaped,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Completed,
        Outcome::Shed,
        Outcome::QueueTimeout,
        Outcome::ClientAborted,
        Outcome::UpstreamError,
        Outcome::Reaped,
    ];

    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Shed => "shed",
            Outcome::QueueTimeout => "queue_timeout",
            Outcome::ClientAborted => "client_aborted",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Reaped => "reaped",
        }
    }
}

/// Why sluice cut a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReapReason {
    /// Held a slot longer than `reaper.max_request_duration`.
    MaxDuration,
    /// No bytes either way for `reaper.idle_timeout`.
    Idle,
    /// Still running when the shutdown drain ended.
    Shutdown,
}

impl ReapReason {
    /// Every reason, in label order.
    pub const ALL: [ReapReason; 3] = [
        ReapReason::MaxDuration,
        ReapReason::Idle,
        ReapReason::Shutdown,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReapReason::MaxDuration => "max_duration",
            ReapReason::Idle => "idle",
            ReapReason::Shutdown => "shutdown",
        }
    }
}

/// Statuses sluice itself answers before admission, counted in `sluice_rejected_requests_total`.
pub const REJECT_STATUSES: [u16; 5] = [400, 405, 413, 414, 501];

/// Counters and histograms shared by every request.
#[derive(Debug)]
pub struct Stats {
    outcomes: [AtomicU64; 6],
    reaped: [AtomicU64; 3],
    rejected: [AtomicU64; 5],
    exempt: AtomicU64,
    open_connections: AtomicUsize,
    connections_changed: Changes,
    ready: AtomicBool,
    queue_wait: Buckets,
    duration: Buckets,
}

impl Stats {
    /// Zeroed stats, with sluice's histogram buckets.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Stats {
            outcomes: Default::default(),
            reaped: Default::default(),
            rejected: Default::default(),
            exempt: AtomicU64::new(0),
            open_connections: AtomicUsize::new(0),
            connections_changed: Changes::default(),
            ready: AtomicBool::new(true),
            queue_wait: Buckets::new(QUEUE_WAIT_BUCKETS),
            duration: Buckets::new(DURATION_BUCKETS),
        }
    }

    /// The queue-wait histogram.
    pub fn queue_waits(&self) -> &Buckets {
        &self.queue_wait
    }

    /// The request-duration histogram.
    pub fn durations(&self) -> &Buckets {
        &self.duration
    }

    /// Counts one finished request.
    pub fn record_outcome(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Relaxed);
    }

    /// Counts one reap.
    pub fn record_reap(&self, reason: ReapReason) {
        self.reaped[reason as usize].fetch_add(1, Relaxed);
    }

    /// Counts one request refused before admission with `status`.
    pub fn record_rejected(&self, status: u16) {
        if let Some(i) = REJECT_STATUSES.iter().position(|s| *s == status) {
            self.rejected[i].fetch_add(1, Relaxed);
        }
    }

    /// Counts one request to an exempt path.
    pub fn record_exempt(&self) {
        self.exempt.fetch_add(1, Relaxed);
    }

    /// Records how long an admitted request waited for its slot.
    pub fn record_queue_wait(&self, waited: Duration) {
        self.queue_wait.record(waited);
    }

    /// Records how long an admitted request lived, arrival to release.
    pub fn record_duration(&self, lived: Duration) {
        self.duration.record(lived);
    }

    /// Requests that ended with `outcome` so far.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Relaxed)
    }

    /// Requests reaped for `reason` so far.
    pub fn reaped(&self, reason: ReapReason) -> u64 {
        self.reaped[reason as usize].load(Relaxed)
    }

    /// Requests refused before admission with `status` (one of [`REJECT_STATUSES`]).
    pub fn rejected(&self, status: u16) -> u64 {
        REJECT_STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.rejected[i].load(Relaxed))
    }

    /// Requests to exempt paths so far.
    pub fn exempt(&self) -> u64 {
        self.exempt.load(Relaxed)
    }

    /// Client connections open now.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(SeqCst)
    }

    /// Waits until the open connection count satisfies `done` (woken by every change).
    pub async fn wait_for_connections(&self, done: impl Fn(usize) -> bool) {
        self.connections_changed
            .wait_until(|| done(self.open_connections()))
            .await;
    }

    /// Whether sluice takes traffic (false once draining).
    pub fn is_ready(&self) -> bool {
        self.ready.load(SeqCst)
    }

    /// Marks sluice as draining: `/readyz` answers 503 from now on.
    pub fn set_not_ready(&self) {
        self.ready.store(false, SeqCst);
    }

    /// Counts one open client connection until the guard drops.
    pub fn connection_opened(self: &std::sync::Arc<Self>) -> ConnectionGuard {
        self.open_connections.fetch_add(1, SeqCst);
        self.connections_changed.notify();
        ConnectionGuard(self.clone())
    }
}

/// Holds one count in `sluice_open_connections`.
#[derive(Debug)]
pub struct ConnectionGuard(std::sync::Arc<Stats>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, SeqCst);
        self.0.connections_changed.notify();
    }
}
