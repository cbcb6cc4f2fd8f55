//! [`Changes`]: lets a few waiters sleep until a counter they watch changes.
//!
//! Counters call [`Changes::notify`] after every change; it costs one atomic load unless
//! someone is waiting. Waiters use [`Changes::wait_until`] with a predicate, so they are woken
//! by changes instead of polling.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;

/// A change signal with a cheap no-waiter fast path.
#[derive(Debug, Default)]
pub struct Changes {
    notify: Notify,
    watchers: AtomicUsize,
}

impl Changes {
    /// Wakes every current waiter (call after changing what they watch).
    pub fn notify(&self) {
        if self.watchers.load(SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Returns once `done()` is true, re-checking after every [`Changes::notify`].
    pub async fn wait_until(&self, done: impl Fn() -> bool) {
        self.watchers.fetch_add(1, SeqCst);
        let _unwatch = Unwatch(&self.watchers);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before checking, so a change between the check and the await
            // still wakes us.
            notified.as_mut().enable();
            if done() {
                return;
            }
            notified.await;
        }
    }
}

struct Unwatch<'a>(&'a AtomicUsize);

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}
