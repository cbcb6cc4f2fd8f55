//! [`Peaks`]: the exact highest value of a counter over the last minute, hour and day.
//!
//! A scrape every 15 s misses a spike that comes and goes between scrapes; sluice sees every
//! change. Each change costs one `fetch_max`; once a minute the minute's maximum moves into a
//! ring of the last 24 hours.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// How often [`Peaks::rotate`] must run.
pub const MINUTE: Duration = Duration::from_secs(60);

const DAY_MINUTES: usize = 24 * 60;

/// The windows exported, as `(label, minutes)`; `start` means since sluice started.
pub const WINDOWS: [(&str, usize); 4] = [
    ("1m", 1),
    ("1h", 60),
    ("24h", DAY_MINUTES),
    ("start", usize::MAX),
];

/// Sliding-window maxima of one counter.
#[derive(Debug, Default)]
pub struct Peaks {
    /// Highest value in the minute under way.
    minute: AtomicUsize,
    /// Highest value since start.
    ever: AtomicUsize,
    /// Maxima of the last finished minutes, newest last (at most a day).
    past: Mutex<VecDeque<usize>>,
}

impl Peaks {
    /// Notes a new value of the counter.
    pub fn record(&self, value: usize) {
        // Read first: a new peak is rare, and a write would contend across cores every time.
        if value > self.minute.load(Relaxed) {
            self.minute.fetch_max(value, Relaxed);
            if value > self.ever.load(Relaxed) {
                self.ever.fetch_max(value, Relaxed);
            }
        }
    }

    /// Closes the minute under way; `now` (the counter's current value) opens the next one.
    pub fn rotate(&self, now: usize) {
        let finished = self.minute.swap(now, Relaxed);
        let mut past = self.past.lock().unwrap_or_else(|e| e.into_inner());
        past.push_back(finished);
        if past.len() > DAY_MINUTES {
            past.pop_front();
        }
    }

    /// The highest value over the last `minutes` minutes (the minute under way included), or
    /// since start for `usize::MAX`.
    pub fn max_over(&self, minutes: usize) -> usize {
        if minutes == usize::MAX {
            return self.ever.load(Relaxed);
        }
        let past = self.past.lock().unwrap_or_else(|e| e.into_inner());
        let finished = past
            .iter()
            .rev()
            .take(minutes.saturating_sub(1))
            .copied()
            .max()
            .unwrap_or(0);
        finished.max(self.minute.load(Relaxed))
    }

    /// The maxima for every window in [`WINDOWS`], in order.
    pub fn windows(&self) -> [usize; 4] {
        WINDOWS.map(|(_, minutes)| self.max_over(minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_forget_old_minutes_but_start_remembers() {
        let peaks = Peaks::default();
        peaks.record(40);
        peaks.rotate(3);
        assert_eq!(peaks.windows(), [3, 40, 40, 40]);
        for _ in 0..59 {
            peaks.rotate(3);
        }
        // 60 minutes later the spike is outside the hour, still inside the day.
        assert_eq!(peaks.windows(), [3, 3, 40, 40]);
        for _ in 0..DAY_MINUTES {
            peaks.rotate(2);
        }
        assert_eq!(peaks.windows(), [2, 2, 2, 40]);
        peaks.record(7);
        assert_eq!(peaks.windows(), [7, 7, 7, 40]);
    }
}
