//! [`Buckets`]: an exact, fixed-bucket histogram of durations, recorded with two relaxed
//! atomic adds and rendered in the Prometheus text format at scrape time.
//!
//! The Prometheus recorder keeps every sample until something folds them into buckets, which
//! on a single-threaded runtime is a pause of milliseconds every few seconds at tens of
//! thousands of requests a second, and memory that grows with the request rate between
//! folds. Counting into the buckets as requests finish costs less and never pauses.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A histogram with fixed upper bounds (seconds); the last bucket is `+Inf`.
#[derive(Debug)]
pub struct Buckets {
    bounds: &'static [f64],
    /// One count per bound, plus `+Inf`; not cumulative (summed when rendered).
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Buckets {
    /// An empty histogram with `bounds` (ascending, in seconds).
    pub fn new(bounds: &'static [f64]) -> Self {
        Buckets {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn record(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        // `le` buckets: the first bound at or above the value.
        let index = self.bounds.partition_point(|bound| *bound < seconds);
        self.counts[index].fetch_add(1, Relaxed);
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Appends `name` as a Prometheus histogram (`# HELP`, `# TYPE`, cumulative `_bucket`
    /// lines, `_sum`, `_count`) to `out`.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Relaxed);
            match self.bounds.get(i) {
                Some(bound) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let h = Buckets::new(&[0.1, 1.0]);
        for ms in [50, 100, 100, 700, 1000, 5000] {
            h.record(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render("t_seconds", "help", &mut out);
        assert!(out.contains("# TYPE t_seconds histogram\n"));
        assert!(out.contains("t_seconds_bucket{le=\"0.1\"} 3\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"1\"} 5\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"+Inf\"} 6\n"), "{out}");
        assert!(out.contains("t_seconds_sum 6.95\n"), "{out}");
        assert!(out.contains("t_seconds_count 6\n"), "{out}");
        assert_eq!(h.count(), 6);
    }
}
