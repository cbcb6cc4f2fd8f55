//! The in-flight registry: every request from arrival until its ticket drops.
//!
//! Sharded so that concurrent arrivals rarely meet on one lock; each lock is held for one map
//! insert or remove. Readers (`/requests`, the reaper) lock one shard at a time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use http::Method;

use super::entry::{ConnControl, Entry};
use super::ticket::Ticket;
use crate::metrics::Stats;

const SHARDS: usize = 16;

type Map = HashMap<u64, Arc<Entry>, BuildHasherDefault<KeyHasher>>;
type Shard = Mutex<Map>;

/// Keys are sequential ids sluice made itself (no hostile input), so a multiplicative hash
/// spreads them well enough, at a fraction of SipHash's cost on every insert and remove.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(self.0 ^ u64::from(*byte));
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Every request sluice is tracking, and the stats their tickets report to.
#[derive(Debug)]
pub struct Registry {
    shards: Box<[Shard]>,
    next_key: AtomicU64,
    stats: Arc<Stats>,
}

/// What the registry needs to know about a request when it arrives.
#[derive(Debug)]
pub struct Arrival {
    /// The request id (already settled: the client's, or a generated one).
    pub request_id: Box<str>,
    /// The method.
    pub method: Method,
    /// The path, without query.
    pub path: Box<str>,
    /// The client address.
    pub client: SocketAddr,
    /// HTTP/2 (many requests per connection).
    pub multiplexed: bool,
    /// The client connection's control.
    pub conn: Arc<ConnControl>,
}

impl Registry {
    /// An empty registry reporting to `stats`.
    pub fn new(stats: Arc<Stats>) -> Arc<Self> {
        Arc::new(Registry {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            next_key: AtomicU64::new(0),
            stats,
        })
    }

    /// The stats tickets report to.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Starts tracking a request; the returned ticket stops it when dropped.
    pub fn open(self: &Arc<Self>, arrival: Arrival) -> Ticket {
        let key = self.next_key.fetch_add(1, Relaxed);
        let entry = Arc::new(Entry::new(
            key,
            arrival.request_id,
            arrival.method,
            arrival.path,
            arrival.client,
            arrival.multiplexed,
            arrival.conn,
        ));
        self.shard(key).insert(key, entry.clone());
        Ticket::new(entry, self.clone())
    }

    pub(super) fn remove(&self, key: u64) {
        self.shard(key).remove(&key);
    }

    /// Every tracked request, oldest first.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).values().cloned());
        }
        all.sort_by_key(|e| (e.arrived(), e.key));
        all
    }

    /// How many requests are tracked (queued, active, tunnels, arriving).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// How many requests were ever tracked (each counts exactly one outcome when its ticket
    /// drops).
    pub fn opened(&self) -> u64 {
        self.next_key.load(Relaxed)
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Map> {
        lock(&self.shards[key as usize % SHARDS])
    }
}

/// Locks a shard; a panic elsewhere cannot poison the registry for everyone.
fn lock(shard: &Shard) -> MutexGuard<'_, Map> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
