//! The admission core: `hard_limit` slots, a bounded FIFO queue, and exact counts.
//!
//! Slots are permits of tokio's [`Semaphore`], which is FIFO-fair: a released permit goes to
//! the longest waiter, and `try_acquire` cannot jump the queue. The queue's *depth* is bounded
//! by a [`QueueSlot`] guard. Every count (`active`, `queued`) is changed only by guard
//! construction and `Drop`, so no path (abort, timeout, panic) can leak one.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::peaks::Peaks;
use super::permit::{Permit, QueueSlot};
use crate::changes::Changes;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// All slots were taken and `queue.max_depth` requests were already waiting.
    #[error("queue_full")]
    QueueFull,
    /// The request waited `queue.timeout` without getting a slot.
    #[error("queue_timeout")]
    QueueTimeout,
    /// sluice is shutting down and admits nothing more.
    #[error("shutting_down")]
    Closed,
}

/// A point-in-time reading of the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Slots held now.
    pub active: usize,
    /// Requests waiting for a slot now.
    pub queued: usize,
    /// Highest `active` since start.
    pub peak_active: usize,
    /// Highest `queued` since start.
    pub peak_queued: usize,
    /// The current `hard_limit`.
    pub hard_limit: usize,
    /// The current `soft_limit`.
    pub soft_limit: usize,
    /// The current `queue.max_depth`.
    pub max_depth: usize,
}

impl Snapshot {
    /// At or above the soft limit.
    pub fn loaded(&self) -> bool {
        self.active >= self.soft_limit
    }
}

/// Shared admission state; cheap to clone.
#[derive(Clone, Debug)]
pub struct Limiter {
    pub(super) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) semaphore: Arc<Semaphore>,
    hard_limit: AtomicUsize,
    soft_limit: AtomicUsize,
    max_depth: AtomicUsize,
    queue_timeout_nanos: AtomicU64,
    pub(super) active: AtomicUsize,
    pub(super) queued: AtomicUsize,
    active_peaks: Peaks,
    queued_peaks: Peaks,
    /// Last logged loaded state (for log-once transitions; the exported value is computed).
    loaded_logged: AtomicBool,
    /// Serializes [`Limiter::set_limits`].
    resize: Mutex<()>,
    /// Wakes [`Limiter::wait_until`] callers.
    changed: Changes,
}

impl Limiter {
    /// A limiter with `hard_limit` slots, marking load at `soft_limit`, queueing at most
    /// `max_depth` requests for at most `queue_timeout` each.
    pub fn new(
        hard_limit: usize,
        soft_limit: usize,
        max_depth: usize,
        queue_timeout: Duration,
    ) -> Self {
        let shared = Shared {
            semaphore: Arc::new(Semaphore::new(hard_limit)),
            hard_limit: AtomicUsize::new(hard_limit),
            soft_limit: AtomicUsize::new(soft_limit),
            max_depth: AtomicUsize::new(max_depth),
            queue_timeout_nanos: AtomicU64::new(nanos(queue_timeout)),
            active: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            active_peaks: Peaks::default(),
            queued_peaks: Peaks::default(),
            loaded_logged: AtomicBool::new(false),
            resize: Mutex::new(()),
            changed: Changes::default(),
        };
        Limiter {
            shared: Arc::new(shared),
        }
    }

    /// Takes a free slot without waiting, if one is free and nobody is queued ahead.
    pub fn try_acquire(&self) -> Option<Permit> {
        // The semaphore's permit is forgotten and given back by `Permit`'s drop, which saves
        // the reference count traffic of an owned permit on every request.
        self.shared.semaphore.try_acquire().ok()?.forget();
        Some(Permit::new(&self.shared))
    }

    /// Joins the queue, or fails with [`Rejection::QueueFull`] if `max_depth` are waiting.
    pub fn enqueue(&self) -> Result<QueueSlot, Rejection> {
        if self.shared.semaphore.is_closed() {
            return Err(Rejection::Closed);
        }
        QueueSlot::new(&self.shared, self.shared.max_depth.load(Relaxed))
            .ok_or(Rejection::QueueFull)
    }

    /// Takes a slot: at once if free, else waits in the FIFO queue. Returns the permit and how
    /// long the request waited.
    pub async fn acquire(&self) -> Result<(Permit, Duration), Rejection> {
        if let Some(permit) = self.try_acquire() {
            return Ok((permit, Duration::ZERO));
        }
        let start = Instant::now();
        let permit = self.enqueue()?.acquire().await?;
        Ok((permit, start.elapsed()))
    }

    /// The configured queue timeout.
    pub fn queue_timeout(&self) -> Duration {
        self.shared.queue_timeout()
    }

    /// Applies new limits without dropping anything. Raising `hard_limit` admits queued
    /// requests at once; lowering it lets held slots finish and admits new requests only
    /// below the new limit. Must be called inside a tokio runtime.
    pub fn set_limits(
        &self,
        hard_limit: usize,
        soft_limit: usize,
        max_depth: usize,
        queue_timeout: Duration,
    ) {
        let s = &self.shared;
        let _serial = s.resize.lock().unwrap_or_else(|e| e.into_inner());
        s.soft_limit.store(soft_limit, Relaxed);
        s.max_depth.store(max_depth, Relaxed);
        s.queue_timeout_nanos.store(nanos(queue_timeout), Relaxed);
        let old = s.hard_limit.swap(hard_limit, SeqCst);
        if hard_limit > old {
            s.semaphore.add_permits(hard_limit - old);
        } else if hard_limit < old {
            let debt = (old - hard_limit) - s.semaphore.forget_permits(old - hard_limit);
            if debt > 0 {
                // Take the rest as held slots come back. The semaphore is fair, so this waiter
                // stands ahead of every request queued after the change: nobody is admitted
                // until the held slots drop under the new limit. A later raise pays it first.
                let semaphore = s.semaphore.clone();
                tokio::spawn(async move {
                    let debt = u32::try_from(debt).unwrap_or(u32::MAX);
                    if let Ok(permits) = semaphore.acquire_many_owned(debt).await {
                        permits.forget();
                    }
                });
            }
        }
        self.shared.note_change();
    }

    /// Stops admitting: queued and future requests get [`Rejection::Closed`].
    pub fn close(&self) {
        self.shared.semaphore.close();
    }

    /// Reads every count at once.
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.shared;
        Snapshot {
            active: s.active.load(SeqCst),
            queued: s.queued.load(SeqCst),
            peak_active: s.active_peaks.max_over(usize::MAX),
            peak_queued: s.queued_peaks.max_over(usize::MAX),
            hard_limit: s.hard_limit.load(Relaxed),
            soft_limit: s.soft_limit.load(Relaxed),
            max_depth: s.max_depth.load(Relaxed),
        }
    }

    /// Highest `active` and `queued` over each of [`WINDOWS`](super::WINDOWS).
    pub fn peaks(&self) -> ([usize; 4], [usize; 4]) {
        (
            self.shared.active_peaks.windows(),
            self.shared.queued_peaks.windows(),
        )
    }

    /// Closes the current minute of the peak windows; run once a minute.
    pub fn rotate_peaks(&self) {
        let s = &self.shared;
        s.active_peaks.rotate(s.active.load(SeqCst));
        s.queued_peaks.rotate(s.queued.load(SeqCst));
    }

    /// Waits until `done` holds for a snapshot (tests and shutdown use this; it is woken by
    /// every change of `active` or `queued`, never polled).
    pub async fn wait_until(&self, done: impl Fn(&Snapshot) -> bool) {
        self.shared
            .changed
            .wait_until(|| done(&self.snapshot()))
            .await;
    }
}

impl Shared {
    pub(super) fn queue_timeout(&self) -> Duration {
        Duration::from_nanos(self.queue_timeout_nanos.load(Relaxed))
    }

    /// Records a new holder in the peaks and the loaded state.
    pub(super) fn on_admit(&self, active: usize) {
        self.active_peaks.record(active);
        self.on_active_change(active);
    }

    pub(super) fn on_enqueue(&self, queued: usize) {
        self.queued_peaks.record(queued);
        self.note_change();
    }

    pub(super) fn on_active_change(&self, active: usize) {
        let loaded = active >= self.soft_limit.load(Relaxed);
        if self.loaded_logged.load(Relaxed) != loaded
            && self.loaded_logged.swap(loaded, Relaxed) != loaded
        {
            let hard = self.hard_limit.load(Relaxed);
            let soft = self.soft_limit.load(Relaxed);
            if loaded {
                tracing::warn!(
                    active,
                    soft_limit = soft,
                    hard_limit = hard,
                    "machine loaded: at or above soft_limit"
                );
            } else {
                tracing::info!(
                    active,
                    soft_limit = soft,
                    hard_limit = hard,
                    "machine no longer loaded"
                );
            }
        }
        self.note_change();
    }

    pub(super) fn note_change(&self) {
        self.changed.notify();
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
