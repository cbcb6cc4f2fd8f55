//! One tracked request: what `/requests` shows, and the signal the reaper pulls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::*};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use http::Method;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::ReapReason;

/// Where a tracked request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Just arrived; admission not decided yet (a few microseconds; not listed).
    Arriving,
    /// Waiting in the queue for a slot.
    Queued,
    /// Holding a slot; headers or body in flight.
    Active,
    /// Holding a slot as an upgraded (WebSocket) tunnel.
    Tunnel,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            1 => State::Queued,
            2 => State::Active,
            3 => State::Tunnel,
            _ => State::Arriving,
        }
    }

    /// The name `/requests` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Arriving => "arriving",
            State::Queued => "queued",
            State::Active => "active",
            State::Tunnel => "tunnel",
        }
    }
}

/// Per client connection: lets the reaper close the whole connection (an HTTP/1 connection
/// carries one request at a time, and closing it is the only way to cut a client that stopped
/// reading).
#[derive(Debug, Default)]
pub struct ConnControl {
    kill: Notify,
}

impl ConnControl {
    /// Asks the connection's task to drop the connection now.
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    /// Resolves once [`ConnControl::kill`] was called.
    pub async fn killed(&self) {
        self.kill.notified().await;
    }
}

/// A request sluice is tracking, shared by its ticket, body wrappers and the registry.
#[derive(Debug)]
pub struct Entry {
    pub(super) key: u64,
    /// The `x-request-id` sent upstream and back.
    pub request_id: Box<str>,
    /// The request method.
    pub method: Method,
    /// The request path (no query: queries may carry secrets).
    pub path: Box<str>,
    /// The client's address.
    pub client: SocketAddr,
    /// True on HTTP/2, where one connection carries many requests.
    pub multiplexed: bool,
    pub(super) conn: Arc<ConnControl>,
    arrived: Instant,
    admitted_after: AtomicU64,
    last_activity: AtomicU64,
    state: AtomicU8,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    reaped: AtomicU8,
    reaped_after: AtomicU64,
    waker: AtomicWaker,
}

const NOT_YET: u64 = u64::MAX;

impl Entry {
    pub(super) fn new(
        key: u64,
        request_id: Box<str>,
        method: Method,
        path: Box<str>,
        client: SocketAddr,
        multiplexed: bool,
        conn: Arc<ConnControl>,
    ) -> Self {
        Entry {
            key,
            request_id,
            method,
            path,
            client,
            multiplexed,
            conn,
            arrived: Instant::now(),
            admitted_after: AtomicU64::new(NOT_YET),
            last_activity: AtomicU64::new(0),
            state: AtomicU8::new(State::Arriving as u8),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            reaped: AtomicU8::new(0),
            reaped_after: AtomicU64::new(NOT_YET),
            waker: AtomicWaker::new(),
        }
    }

    /// Where the request is now.
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Acquire))
    }

    pub(super) fn set_state(&self, state: State) {
        self.state.store(state as u8, Release);
    }

    /// When the request arrived.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }

    /// Time since arrival.
    pub fn age(&self) -> Duration {
        self.arrived.elapsed()
    }

    /// Time holding a slot (queue wait excluded), if admitted.
    pub fn held_for(&self, now: Instant) -> Option<Duration> {
        let after = self.admitted_after.load(Acquire);
        (after != NOT_YET)
            .then(|| now.saturating_duration_since(self.arrived + Duration::from_nanos(after)))
    }

    pub(super) fn mark_admitted(&self) {
        let after = nanos(self.arrived.elapsed());
        self.last_activity.store(after, Relaxed);
        self.admitted_after.store(after, Release);
    }

    /// Time since the last byte in either direction (or since admission).
    pub fn idle_for(&self, now: Instant) -> Duration {
        let last = self.arrived + Duration::from_nanos(self.last_activity.load(Relaxed));
        now.saturating_duration_since(last)
    }

    /// Counts bytes written towards the client.
    pub fn add_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Relaxed);
        self.touch();
    }

    /// Counts bytes read from the client.
    pub fn add_received(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Relaxed);
        self.touch();
    }

    fn touch(&self) {
        self.last_activity
            .store(nanos(self.arrived.elapsed()), Relaxed);
    }

    /// Bytes of response body sent towards the client so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Relaxed)
    }

    /// Bytes of request body received from the client so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Relaxed)
    }

    /// Asks everything serving this request to stop, for `reason`. Returns false if it was
    /// already reaped. On HTTP/1 the client connection is closed too.
    pub fn reap(&self, reason: ReapReason) -> bool {
        let code = reason as u8 + 1;
        if self
            .reaped
            .compare_exchange(0, code, AcqRel, Acquire)
            .is_err()
        {
            return false;
        }
        self.reaped_after
            .store(nanos(self.arrived.elapsed()), Release);
        self.waker.wake();
        if !self.multiplexed {
            self.conn.kill();
        }
        true
    }

    /// Time since the request was reaped, if it was.
    pub fn reaped_for(&self, now: Instant) -> Option<Duration> {
        let after = self.reaped_after.load(Acquire);
        (after != NOT_YET)
            .then(|| now.saturating_duration_since(self.arrived + Duration::from_nanos(after)))
    }

    /// Closes the client connection this request came on (all its requests).
    pub fn kill_connection(&self) {
        self.conn.kill();
    }

    /// Why the request was reaped, if it was.
    pub fn reap_reason(&self) -> Option<ReapReason> {
        match self.reaped.load(Acquire) {
            0 => None,
            code => ReapReason::ALL.get(usize::from(code - 1)).copied(),
        }
    }

    /// Ready once the request is reaped; registers the task to be woken by [`Entry::reap`].
    pub fn poll_reaped(&self, cx: &mut Context<'_>) -> Poll<ReapReason> {
        if let Some(reason) = self.reap_reason() {
            return Poll::Ready(reason);
        }
        self.waker.register(cx.waker());
        match self.reap_reason() {
            Some(reason) => Poll::Ready(reason),
            None => Poll::Pending,
        }
    }

    /// Resolves once the request is reaped.
    pub async fn reaped(&self) -> ReapReason {
        std::future::poll_fn(|cx| self.poll_reaped(cx)).await
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(NOT_YET - 1)
}
