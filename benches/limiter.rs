//! Limiter micro-benchmark: one admit + release (take a free slot, drop it), uncontended and
//! with two threads contending, against a naive `Mutex<usize>` counter doing the same job.
//!
//! Run: `cargo bench --bench limiter`. Bounded: about 20 s in all.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sluice::limit::Limiter;

/// The baseline: a counter behind a global mutex, as a naive proxy would write it.
struct NaiveLimiter {
    active: Mutex<usize>,
    limit: usize,
}

impl NaiveLimiter {
    fn admit(&self) -> bool {
        let mut active = self.active.lock().unwrap();
        if *active < self.limit {
            *active += 1;
            true
        } else {
            false
        }
    }

    fn release(&self) {
        *self.active.lock().unwrap() -= 1;
    }
}

fn limiter() -> Limiter {
    Limiter::new(250, 200, 1000, Duration::from_secs(30))
}

fn naive() -> NaiveLimiter {
    NaiveLimiter {
        active: Mutex::new(0),
        limit: 250,
    }
}

fn sluice_once(limiter: &Limiter) {
    let permit = limiter.try_acquire();
    assert!(black_box(&permit).is_some());
}

fn naive_once(naive: &NaiveLimiter) {
    assert!(black_box(naive.admit()));
    naive.release();
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("admit_release/uncontended");
    let sluice = limiter();
    group.bench_function("sluice", |b| b.iter(|| sluice_once(&sluice)));
    let baseline = naive();
    group.bench_function("mutex_usize", |b| b.iter(|| naive_once(&baseline)));
    group.finish();
}

/// Every thread runs `iters` admit + release pairs at once; the time reported is the wall time
/// of the whole run, so it reads as "one admit + release while `threads` threads hammer it".
fn contended_run<T: Send + Sync + 'static>(
    shared: Arc<T>,
    threads: usize,
    iters: u64,
    once: fn(&T),
) -> Duration {
    let start_line = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let shared = shared.clone();
            let start_line = start_line.clone();
            thread::spawn(move || {
                start_line.wait();
                for _ in 0..iters {
                    once(&shared);
                }
            })
        })
        .collect();
    start_line.wait();
    let start = Instant::now();
    for worker in workers {
        worker.join().expect("bench thread");
    }
    start.elapsed()
}

fn contended(c: &mut Criterion) {
    let threads = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let mut group = c.benchmark_group(format!("admit_release/contended_{threads}_threads"));
    let sluice = Arc::new(limiter());
    group.bench_function("sluice", |b| {
        b.iter_custom(|iters| contended_run(sluice.clone(), threads, iters, sluice_once));
    });
    let baseline = Arc::new(naive());
    group.bench_function("mutex_usize", |b| {
        b.iter_custom(|iters| contended_run(baseline.clone(), threads, iters, naive_once));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = uncontended, contended
}
criterion_main!(benches);
