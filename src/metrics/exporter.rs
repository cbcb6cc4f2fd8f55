//! Prometheus exposition: a recorder owned by this sluice (never installed globally), whose
//! gauges and counters are set from the exact counts at the moment `/metrics` is read.

use metrics::{Counter, Gauge, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::names::*;
use super::stats::{Outcome, REJECT_STATUSES, ReapReason, Stats};
use crate::limit::{Limiter, WINDOWS};

const META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Renders sluice's metrics in the Prometheus text format.
#[derive(Debug)]
pub struct Exporter {
    handle: PrometheusHandle,
    gauges: Gauges,
    outcomes: Vec<Counter>,
    reaped: Vec<Counter>,
    rejected: Vec<Counter>,
    exempt: Counter,
}

#[derive(Debug)]
struct Gauges {
    active: Gauge,
    active_peak: Vec<Gauge>,
    queued: Gauge,
    queued_peak: Vec<Gauge>,
    max_depth: Gauge,
    connections: Gauge,
    soft: Gauge,
    hard: Gauge,
    loaded: Gauge,
    utilization: Gauge,
    ready: Gauge,
}

impl Exporter {
    /// A fresh recorder with sluice's buckets and help texts.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        for (name, help) in HELP {
            if name.ends_with("_total") {
                recorder.describe_counter((*name).into(), None, (*help).into());
            } else if !name.ends_with("_seconds") {
                // The `_seconds` histograms are sluice's own `Buckets`, rendered by `render`.
                recorder.describe_gauge((*name).into(), None, (*help).into());
            }
        }
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &META);
        let key = |name: &'static str, label: &'static str, value: String| {
            Key::from_parts(name, vec![Label::new(label, value)])
        };
        let labelled = |name: &'static str, label: &'static str, value: String| {
            recorder.register_counter(&key(name, label, value), &META)
        };
        let windows = |name: &'static str| -> Vec<Gauge> {
            WINDOWS
                .iter()
                .map(|(w, _)| recorder.register_gauge(&key(name, "window", (*w).into()), &META))
                .collect()
        };
        let gauges = Gauges {
            active: gauge(ACTIVE_REQUESTS),
            active_peak: windows(ACTIVE_REQUESTS_PEAK),
            queued: gauge(QUEUE_DEPTH),
            queued_peak: windows(QUEUE_DEPTH_PEAK),
            max_depth: gauge(QUEUE_MAX_DEPTH),
            connections: gauge(OPEN_CONNECTIONS),
            soft: gauge(SOFT_LIMIT),
            hard: gauge(HARD_LIMIT),
            loaded: gauge(LOADED),
            utilization: gauge(UTILIZATION),
            ready: gauge(READY),
        };
        let outcomes = Outcome::ALL
            .iter()
            .map(|o| labelled(REQUESTS_TOTAL, "outcome", o.as_str().into()))
            .collect();
        let reaped = ReapReason::ALL
            .iter()
            .map(|r| labelled(REAPED_TOTAL, "reason", r.as_str().into()))
            .collect();
        let rejected = REJECT_STATUSES
            .iter()
            .map(|s| labelled(REJECTED_TOTAL, "status", s.to_string()))
            .collect();
        let exempt = recorder.register_counter(&Key::from_static_name(EXEMPT_TOTAL), &META);
        let handle = recorder.handle();
        Exporter {
            handle,
            gauges,
            outcomes,
            reaped,
            rejected,
            exempt,
        }
    }

    /// Sets every gauge and counter from the exact counts, then renders the text format.
    pub fn render(&self, limiter: &Limiter, stats: &Stats) -> String {
        let snap = limiter.snapshot();
        let (active_peaks, queued_peaks) = limiter.peaks();
        let g = &self.gauges;
        g.active.set(snap.active as f64);
        g.queued.set(snap.queued as f64);
        for (gauge, peak) in g.active_peak.iter().zip(active_peaks) {
            gauge.set(peak as f64);
        }
        for (gauge, peak) in g.queued_peak.iter().zip(queued_peaks) {
            gauge.set(peak as f64);
        }
        g.max_depth.set(snap.max_depth as f64);
        g.connections.set(stats.open_connections() as f64);
        g.soft.set(snap.soft_limit as f64);
        g.hard.set(snap.hard_limit as f64);
        g.loaded.set(if snap.loaded() { 1.0 } else { 0.0 });
        g.utilization
            .set(snap.active as f64 / snap.hard_limit.max(1) as f64);
        g.ready.set(if stats.is_ready() { 1.0 } else { 0.0 });
        for (counter, outcome) in self.outcomes.iter().zip(Outcome::ALL) {
            counter.absolute(stats.outcome(outcome));
        }
        for (counter, reason) in self.reaped.iter().zip(ReapReason::ALL) {
            counter.absolute(stats.reaped(reason));
        }
        for (counter, status) in self.rejected.iter().zip(REJECT_STATUSES) {
            counter.absolute(stats.rejected(status));
        }
        self.exempt.absolute(stats.exempt());
        let mut text = self.handle.render();
        for (name, histogram) in [
            (QUEUE_WAIT_SECONDS, stats.queue_waits()),
            (REQUEST_DURATION_SECONDS, stats.durations()),
        ] {
            let help = HELP.iter().find(|(n, _)| *n == name).map_or("", |(_, h)| h);
            histogram.render(name, help, &mut text);
        }
        text
    }
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}
