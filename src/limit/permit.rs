//! The two guards of the limiter: a held slot and a place in the queue.

use std::sync::Arc;
use std::sync::atomic::Ordering::*;

use super::limiter::{Rejection, Shared};

/// One held slot: a semaphore permit taken (and forgotten) by the limiter. Counted in
/// `active` from creation until drop; dropping it gives the permit back (to the longest
/// waiter first).
#[derive(Debug)]
pub struct Permit {
    shared: Arc<Shared>,
}

impl Permit {
    /// Counts a permit the caller has just taken from the semaphore and forgotten.
    pub(super) fn new(shared: &Arc<Shared>) -> Self {
        let active = shared.active.fetch_add(1, SeqCst) + 1;
        shared.on_admit(active);
        Permit {
            shared: shared.clone(),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let active = self.shared.active.fetch_sub(1, SeqCst) - 1;
        self.shared.on_active_change(active);
        // Given back after `active` went down, so `active` never counts more holders than the
        // semaphore has lent out.
        self.shared.semaphore.add_permits(1);
    }
}

/// A place in the queue. Counted in `queued` from creation until drop, which happens when the
/// wait ends for any reason: admitted, timed out, shut down, or the client went away.
#[derive(Debug)]
pub struct QueueSlot {
    shared: Arc<Shared>,
}

impl QueueSlot {
    /// Takes a place if fewer than `max_depth` are waiting (never over-counts, even briefly).
    pub(super) fn new(shared: &Arc<Shared>, max_depth: usize) -> Option<Self> {
        let mut queued = shared.queued.load(SeqCst);
        loop {
            if queued >= max_depth {
                return None;
            }
            match shared
                .queued
                .compare_exchange_weak(queued, queued + 1, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(now) => queued = now,
            }
        }
        shared.on_enqueue(queued + 1);
        Some(QueueSlot {
            shared: shared.clone(),
        })
    }

    /// Waits in FIFO order for a slot, at most `queue.timeout`. The place in the queue is
    /// given up when this returns or is dropped.
    pub async fn acquire(self) -> Result<Permit, Rejection> {
        let shared = self.shared.clone();
        let timeout = shared.queue_timeout();
        match tokio::time::timeout(timeout, shared.semaphore.acquire()).await {
            Ok(Ok(permit)) => {
                permit.forget();
                // Leave the queue before becoming active, so a reader never counts one
                // request twice.
                drop(self);
                Ok(Permit::new(&shared))
            }
            Ok(Err(_closed)) => Err(Rejection::Closed),
            Err(_elapsed) => Err(Rejection::QueueTimeout),
        }
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.shared.queued.fetch_sub(1, SeqCst);
        self.shared.note_change();
    }
}
