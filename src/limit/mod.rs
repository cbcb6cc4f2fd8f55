//! Admission control: slots, the queue, and the tower middleware that applies them.
//!
//! - [`Limiter`]: `hard_limit` slots (tokio's FIFO-fair semaphore), a depth-bounded queue
//!   with a timeout, exact counts, live resizing.
//! - [`Permit`] / [`QueueSlot`]: guards; dropping them is the only way counts go down.
//! - [`Admission`] / [`AdmissionLayer`]: the tower service that admits, queues or sheds each
//!   request and moves the slot into the response body.

mod forward;
mod layer;
mod limiter;
mod peaks;
mod permit;
mod service;

pub use forward::{Admitted, Forward, ResponseFuture};
pub use layer::AdmissionLayer;
pub use limiter::{Limiter, Rejection, Snapshot};
pub use peaks::{MINUTE, Peaks, WINDOWS};
pub use permit::{Permit, QueueSlot};
pub use service::{Admission, AdmissionCtx, ConnCtx};
