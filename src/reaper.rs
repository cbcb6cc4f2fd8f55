//! The reaper: ends requests that have held a slot longer than
//! `reaper.max_request_duration`, or moved no bytes for `reaper.idle_timeout`.
//!
//! It wakes at the earliest deadline among tracked requests (at least once a second, so a
//! reload that shortens the limits takes effect promptly), and reaps by signalling the
//! request's [`Entry`]: the response body ends with an error (HTTP/1: connection closed
//! without the final chunk; HTTP/2: stream reset), the upstream request is dropped, and the
//! ticket counts the outcome `reaped` as it releases the slot.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;

use crate::metrics::ReapReason;
use crate::policy::Policy;
use crate::track::{Entry, Registry, State};

/// The longest the reaper sleeps between scans.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How long a reaped HTTP/2 request may take to notice before its whole connection is
/// closed (a client that stopped reading stalls h2 flow control, so its body is never polled).
pub const H2_GRACE: Duration = Duration::from_secs(5);
/// The shortest: a deadline that is due now never makes the reaper spin.
pub const MIN_SLEEP: Duration = Duration::from_millis(1);

/// Runs forever (until its task is dropped).
pub async fn run(registry: Arc<Registry>, policy: Arc<ArcSwap<Policy>>) {
    loop {
        let next = scan(&registry, &policy.load(), Instant::now());
        tokio::time::sleep_until(next).await;
    }
}

/// Reaps what is due at `now`; returns when the next request falls due (capped).
pub fn scan(registry: &Registry, policy: &Policy, now: Instant) -> Instant {
    let max = policy.reaper.max_request_duration;
    let idle = policy.reaper.idle_timeout;
    let mut next = now + MAX_SLEEP;
    for entry in registry.entries() {
        if !matches!(entry.state(), State::Active | State::Tunnel) {
            continue;
        }
        if let Some(since) = entry.reaped_for(now) {
            // An h2 stream may not notice (its client stopped reading and flow control stops
            // hyper from polling the body): after a grace period, close its connection.
            if entry.multiplexed {
                if since >= H2_GRACE {
                    entry.kill_connection();
                } else {
                    next = next.min(now + (H2_GRACE - since));
                }
            }
            continue;
        }
        let Some(held) = entry.held_for(now) else {
            continue;
        };
        if held >= max {
            reap(&entry, ReapReason::MaxDuration, held);
            continue;
        }
        next = next.min(now + max.saturating_sub(held));
        if let Some(idle) = idle {
            let quiet = entry.idle_for(now);
            if quiet >= idle {
                reap(&entry, ReapReason::Idle, held);
                continue;
            }
            next = next.min(now + idle.saturating_sub(quiet));
        }
    }
    next.max(now + MIN_SLEEP)
}

/// Reaps every tracked request (the end of a shutdown drain).
pub fn reap_all(registry: &Registry, reason: ReapReason) -> usize {
    let now = Instant::now();
    registry
        .entries()
        .iter()
        .filter(|e| matches!(e.state(), State::Active | State::Tunnel))
        .filter(|e| reap(e, reason, e.held_for(now).unwrap_or_default()))
        .count()
}

fn reap(entry: &Entry, reason: ReapReason, held: Duration) -> bool {
    let reaped = entry.reap(reason);
    if reaped {
        tracing::warn!(
            request_id = %entry.request_id,
            method = %entry.method,
            path = %entry.path,
            client = %entry.client,
            age_secs = held.as_secs_f64(),
            bytes_sent = entry.bytes_sent(),
            reason = reason.as_str(),
            "reaped request"
        );
    }
    reaped
}
