//! Incident replay: the workload that caused the outage, time-compressed, run once through
//! sluice with the old configuration (`connections` mode, hard limit 25, no queue, like Fly's
//! `type = "connections"`) and once with the new one (`requests` mode, 200/250, queue 100).
//!
//! Two users with 8 tabs each. Every tab is a browser-like client (its own keep-alive pool,
//! idle sockets kept for two minutes) running one operation after another, 40% short / 30%
//! medium / 20% long / 10% very long (1/5/10/20 minutes, scaled by `SLUICE_BENCH_MINUTE_MS`),
//! each an SSE stream, while polling a quick status endpoint every quarter minute. A request
//! answered `503` is retried after a fifth of a minute.

mod tab;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::runtime;
use crate::client::sluice_metrics;
use crate::configs::Limits;
use crate::contenders::{Contender, Kind};
use crate::settings::Settings;
use crate::table::{Table, count, ms, verdict};
use tab::{Plan, Tally};

const USERS: usize = 2;
const TABS_PER_USER: usize = 8;
/// How long each replay lasts, in (scaled) minutes.
const MINUTES: u32 = 40;

const OLD: Limits = Limits {
    mode: "connections",
    soft: 25,
    hard: 25,
    depth: 0,
};
const NEW: Limits = Limits {
    mode: "requests",
    soft: 200,
    hard: 250,
    depth: 100,
};

struct Outcome {
    tally: Arc<Tally>,
    peak_slots: f64,
    peak_connections: f64,
    /// The `le` bound of sluice's `sluice_queue_wait_seconds` bucket holding the 99th
    /// percentile.
    wait_p99_bucket: Option<f64>,
}

/// Runs both replays and prints their table.
pub(crate) fn run(settings: &Settings, upstream: SocketAddr) -> Result<(), String> {
    let minute = settings.incident_minute;
    let rt = runtime();
    let mut table = Table::new(
        format!(
            "incident replay: {USERS} users x {TABS_PER_USER} tabs, {MINUTES} minutes compressed to {:.0} s (1 minute = {} ms)",
            (minute * MINUTES).as_secs_f64(),
            minute.as_millis()
        ),
        &[
            "sluice config",
            "503s",
            "retries",
            "operations done",
            "polls done",
            "peak in-flight requests",
            "peak slots held",
            "peak connections",
            "p99 queue wait (sluice histogram)",
            "p99 time to headers ms (client)",
        ],
    );
    let mut shed = Vec::new();
    for (label, limits) in [
        ("connections, hard 25 (old)", OLD),
        ("requests, 200/250 (new)", NEW),
    ] {
        let contender = Contender::start(Kind::Sluice, settings, upstream, &limits)?;
        let outcome = rt.block_on(replay(&contender, minute))?;
        let t = &outcome.tally;
        shed.push(t.shed());
        table.row(vec![
            label.to_owned(),
            count(t.shed() as f64),
            count(t.retries() as f64),
            count(t.operations() as f64),
            count(t.polls() as f64),
            count(t.peak_in_flight() as f64),
            count(outcome.peak_slots),
            count(outcome.peak_connections),
            outcome
                .wait_p99_bucket
                .map_or("-".into(), |le| format!("<= {} ms", le * 1e3)),
            ms(t.wait_p99()),
        ]);
    }
    table.note(format!(
        "target: the old configuration fails (503s) and the new one holds (none): {}",
        verdict(shed[0] > 0 && shed[1] == 0)
    ));
    table.note(
        "time to headers is what a client saw: queueing, proxying and the client's own scheduling.",
    );
    table.print();
    Ok(())
}

async fn replay(contender: &Contender, minute: Duration) -> Result<Outcome, String> {
    let admin = contender.admin.expect("sluice has an admin listener");
    let deadline = tokio::time::Instant::now() + minute * MINUTES;
    let tally = Arc::new(Tally::default());
    let mut tabs = tokio::task::JoinSet::new();
    for id in 0..USERS * TABS_PER_USER {
        let plan = Plan {
            addr: contender.addr,
            minute,
            deadline,
            seed: 0x5eed_0000 + id as u64,
        };
        tabs.spawn(tab::run(plan, tally.clone()));
    }
    let mut peak_connections = 0.0_f64;
    let mut sample = tokio::time::interval(Duration::from_millis(20));
    while !tabs.is_empty() {
        tokio::select! {
            _ = tabs.join_next() => {}
            _ = sample.tick() => {
                if let Ok(m) = sluice_metrics(admin).await {
                    let open = m.get("sluice_open_connections").copied().unwrap_or(0.0);
                    peak_connections = peak_connections.max(open);
                }
            }
        }
    }
    let metrics = sluice_metrics(admin).await?;
    Ok(Outcome {
        tally,
        // A missing series is an error, never a silent 0.
        peak_slots: metrics
            .get("sluice_active_requests_peak{window=\"start\"}")
            .copied()
            .ok_or("sluice_active_requests_peak{window=\"start\"} missing from /metrics")?,
        peak_connections,
        wait_p99_bucket: p99_bucket(&metrics, "sluice_queue_wait_seconds"),
    })
}

/// The smallest bucket bound of histogram `name` that holds 99% of its samples.
fn p99_bucket(metrics: &std::collections::HashMap<String, f64>, name: &str) -> Option<f64> {
    let total = *metrics.get(&format!("{name}_count"))?;
    let prefix = format!("{name}_bucket{{le=\"");
    let mut bounds: Vec<(f64, f64)> = metrics
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
            Some((le.parse().ok()?, *v))
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    bounds
        .into_iter()
        .find(|(_, cumulative)| *cumulative >= 0.99 * total)
        .map(|(le, _)| le)
}
