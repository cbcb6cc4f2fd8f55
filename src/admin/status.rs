//! `GET /status`: how close the machine is to its limits, at a glance.
//!
//! Levels follow the capacity plan's alert thresholds: warning at 80% of `hard_limit`,
//! critical at 90%, emergency at 95%.

use serde::Serialize;

use crate::config::LimitMode;
use crate::limit::{Snapshot, WINDOWS};
use crate::metrics::Outcome;
use crate::state::Core;

/// The capacity plan's alert levels, as fractions of `hard_limit`.
pub const LEVELS: [(&str, f64); 3] = [("warning", 0.80), ("critical", 0.90), ("emergency", 0.95)];

/// The level `active` is at: `healthy`, `warning`, `critical` or `emergency`.
pub fn level(active: usize, hard_limit: usize) -> &'static str {
    let ratio = active as f64 / hard_limit.max(1) as f64;
    LEVELS
        .iter()
        .rev()
        .find(|(_, at)| ratio >= *at)
        .map_or("healthy", |(name, _)| name)
}

/// The smallest active count that reaches `fraction` of `hard_limit`.
fn threshold(hard_limit: usize, fraction: f64) -> usize {
    (hard_limit as f64 * fraction).ceil() as usize
}

#[derive(Serialize)]
struct Status {
    version: &'static str,
    uptime_secs: u64,
    mode: &'static str,
    ready: bool,
    level: &'static str,
    active: usize,
    queued: usize,
    hard_limit: usize,
    soft_limit: usize,
    queue_max_depth: usize,
    utilization: f64,
    loaded: bool,
    /// Highest active count per window (`1m`, `1h`, `24h`, `start`).
    peak_active: Vec<(&'static str, usize)>,
    /// Highest queue depth per window.
    peak_queued: Vec<(&'static str, usize)>,
    open_connections: usize,
    thresholds: Vec<(&'static str, usize)>,
    outcomes: Vec<(&'static str, u64)>,
}

fn collect(state: &Core) -> Status {
    let snap: Snapshot = state.limiter.snapshot();
    let (active_peaks, queued_peaks) = state.limiter.peaks();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        mode: match state.policy.load().mode {
            LimitMode::Requests => "requests",
            LimitMode::Connections => "connections",
        },
        ready: state.stats.is_ready(),
        level: level(snap.active, snap.hard_limit),
        active: snap.active,
        queued: snap.queued,
        hard_limit: snap.hard_limit,
        soft_limit: snap.soft_limit,
        queue_max_depth: snap.max_depth,
        utilization: snap.active as f64 / snap.hard_limit.max(1) as f64,
        loaded: snap.loaded(),
        peak_active: WINDOWS.iter().map(|(w, _)| *w).zip(active_peaks).collect(),
        peak_queued: WINDOWS.iter().map(|(w, _)| *w).zip(queued_peaks).collect(),
        open_connections: state.stats.open_connections(),
        thresholds: LEVELS
            .iter()
            .map(|(n, f)| (*n, threshold(snap.hard_limit, *f)))
            .collect(),
        outcomes: Outcome::ALL
            .iter()
            .map(|o| (o.as_str(), state.stats.outcome(*o)))
            .collect(),
    }
}

pub(super) fn json(state: &Core) -> String {
    serde_json::to_string_pretty(&collect(state)).unwrap_or_default() + "\n"
}

pub(super) fn text(state: &Core) -> String {
    let page = render_text(&collect(state));
    page.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn render_text(s: &Status) -> String {
    let pct = |n: usize| 100.0 * n as f64 / s.hard_limit.max(1) as f64;
    let filled = ((s.utilization.min(1.0)) * 20.0).round() as usize;
    let bar = format!("[{}{}]", "#".repeat(filled), ".".repeat(20 - filled));
    let thresholds: Vec<String> = s
        .thresholds
        .iter()
        .zip(LEVELS)
        .map(|((n, at), (_, f))| format!("{n} {:.0}% = {at}", f * 100.0))
        .collect();
    let outcomes: Vec<String> = s.outcomes.iter().map(|(n, c)| format!("{n} {c}")).collect();
    let peaks = |p: &[(&str, usize)]| {
        p.iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let day_peak = s.peak_active.get(2).map_or(0, |(_, n)| *n);
    let up = humantime::format_duration(std::time::Duration::from_secs(s.uptime_secs));
    format!(
        "sluice {} | up {up} | mode {} | {}\n\n\
         active    {:>6} / {:<6} {:5.1}%  {bar}  {}\n\
         queued    {:>6} / {:<6}\n\
         loaded    {} (soft_limit {})\n\
         peak      active: {} ({:.1}% of hard_limit over 24h)\n\
         \x20         queued: {}\n\
         levels    {}\n\
         conns     {} open\n\
         requests  {}\n",
        s.version,
        s.mode,
        if s.ready { "ready" } else { "draining" },
        s.active,
        s.hard_limit,
        pct(s.active),
        s.level.to_uppercase(),
        s.queued,
        s.queue_max_depth,
        if s.loaded { "yes" } else { "no" },
        s.soft_limit,
        peaks(&s.peak_active),
        pct(day_peak),
        peaks(&s.peak_queued),
        thresholds.join(" | "),
        s.open_connections,
        outcomes.join(" | "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_capacity_plan() {
        assert_eq!(level(0, 250), "healthy");
        assert_eq!(level(199, 250), "healthy");
        assert_eq!(level(200, 250), "warning");
        assert_eq!(level(225, 250), "critical");
        assert_eq!(level(237, 250), "critical");
        assert_eq!(level(238, 250), "emergency");
        assert_eq!(threshold(250, 0.8), 200);
        assert_eq!(threshold(250, 0.95), 238);
    }
}
