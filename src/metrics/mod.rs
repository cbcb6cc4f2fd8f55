//! What sluice counts and how Prometheus reads it.
//!
//! [`Stats`] holds the exact counters and histograms ([`Buckets`]); [`Exporter`] turns them, plus a limiter
//! [`Snapshot`](crate::limit::Snapshot), into the text format. Names live in [`names`].

mod exporter;
mod histogram;
pub mod names;
mod stats;

pub use exporter::Exporter;
pub use histogram::Buckets;
pub use stats::{ConnectionGuard, Outcome, REJECT_STATUSES, ReapReason, Stats};
