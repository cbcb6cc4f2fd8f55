//! Tracking requests from arrival to last byte: the registry, its entries, and tickets.

mod entry;
mod registry;
mod ticket;

pub use entry::{ConnControl, Entry, State};
pub use registry::{Arrival, Registry};
pub use ticket::Ticket;
