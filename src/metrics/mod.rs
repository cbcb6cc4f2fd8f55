//! What sluice counts and how Prometheus reads it.
//!
//! [`Stats`] holds the exact counters; [`Exporter`] turns them, plus a limiter
//! [`Snapshot`](crate::limit::Snapshot), into the text format. Names live in [`names`].

mod exporter;
pub mod names;
mod stats;

pub use exporter::Exporter;
pub use stats::{ConnectionGuard, Outcome, REJECT_STATUSES, ReapReason, Stats};
