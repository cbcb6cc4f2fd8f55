//! The ticket: one request's claim on sluice's resources, released by `Drop`.

use std::sync::Arc;

use super::entry::{Entry, State};
use super::registry::Registry;
use crate::limit::Permit;
use crate::metrics::Outcome;

/// Owned by whatever carries a request's life (the admission future, then the response body
/// or the upgrade tunnel). Dropping it, on any path, removes the request from the registry,
/// counts its outcome once and frees its slot.
#[derive(Debug)]
pub struct Ticket {
    entry: Arc<Entry>,
    registry: Arc<Registry>,
    outcome: Outcome,
    admitted: bool,
    // Declared last so the slot is freed after the outcome is counted.
    permit: Option<Permit>,
}

impl Ticket {
    pub(super) fn new(entry: Arc<Entry>, registry: Arc<Registry>) -> Self {
        Ticket {
            entry,
            registry,
            // A ticket dropped without a verdict means its future or body was dropped: the
            // client went away.
            outcome: Outcome::ClientAborted,
            admitted: false,
            permit: None,
        }
    }

    /// The tracked entry (for byte counts and the reap signal).
    pub fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }

    /// Marks the request as waiting in the queue.
    pub fn queued(&self) {
        self.entry.set_state(State::Queued);
    }

    /// Marks the request as holding a slot: `permit` in requests mode, `None` when the
    /// connection holds it. Records how long it waited.
    pub fn admit(&mut self, permit: Option<Permit>) {
        self.permit = permit;
        self.admitted = true;
        self.entry.mark_admitted();
        self.entry.set_state(State::Active);
        self.registry.stats().record_queue_wait(self.entry.age());
    }

    /// Marks the request as an upgraded tunnel.
    pub fn tunnel(&self) {
        self.entry.set_state(State::Tunnel);
    }

    /// Sets how the request ended, to be counted when the ticket drops.
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }

    /// Ends the request with `outcome` now.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let stats = self.registry.stats();
        let outcome = match self.entry.reap_reason() {
            Some(reason) => {
                stats.record_reap(reason);
                Outcome::Reaped
            }
            None => self.outcome,
        };
        stats.record_outcome(outcome);
        if self.admitted {
            stats.record_duration(self.entry.age());
        }
        self.registry.remove(self.entry.key);
    }
}
