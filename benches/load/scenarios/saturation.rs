//! Saturation: hard limit 250, queue 1000, 1000 clients against a 50 ms upstream. The best any
//! proxy can do is 250 / 50 ms = 5,000 requests/s; every request beyond the 250 in flight
//! waits in the queue, about (1000 / 250 - 1) x 50 ms = 150 ms, the same for all if the queue
//! is FIFO. Queue wait is measured from outside as latency minus the app's 50 ms, the same way
//! for every contender.

use std::net::SocketAddr;
use std::time::Duration;

use super::start_all;
use crate::configs::Limits;
use crate::contenders::Kind;
use crate::settings::Settings;
use crate::table::{Table, count, median, ms, ratio, verdict};
use crate::wrk;

const CLIENTS: usize = 1000;
const HARD: usize = 250;
const APP_MS: u64 = 50;
const THEORETICAL: f64 = HARD as f64 * 1000.0 / APP_MS as f64;

#[derive(Debug, Default)]
struct Runs {
    ok_rps: Vec<f64>,
    errors: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

/// Runs the scenario and prints its table.
pub(crate) fn run(settings: &Settings, upstream: SocketAddr) -> Result<(), String> {
    if !wrk::available() {
        println!("note: wrk is not installed; saturation skipped");
        return Ok(());
    }
    let kinds = Kind::available(
        settings,
        &[Kind::Sluice, Kind::Baseline, Kind::Haproxy, Kind::Nginx],
    );
    let limits = Limits {
        mode: "requests",
        soft: 200,
        hard: HARD,
        depth: 1000,
    };
    let path = format!("/slow?ms={APP_MS}");
    let contenders = start_all(&kinds, settings, upstream, &limits)?;
    for c in &contenders {
        wrk::run(c.addr, &path, CLIENTS, Duration::from_secs(1))?;
    }
    let mut runs: Vec<Runs> = contenders.iter().map(|_| Runs::default()).collect();
    for _round in 0..settings.rounds {
        for (c, runs) in contenders.iter().zip(&mut runs) {
            let report = wrk::run(c.addr, &path, CLIENTS, settings.run_time())?;
            runs.ok_rps.push(report.ok_rps);
            runs.errors.push(report.errors() as f64);
            runs.p50.push(report.p50.as_secs_f64());
            runs.p99.push(report.p99.as_secs_f64());
        }
    }
    let app = Duration::from_millis(APP_MS);
    let wait = |latency: f64| Duration::from_secs_f64(latency).saturating_sub(app);
    let haproxy = contenders
        .iter()
        .zip(&runs)
        .find(|(c, _)| c.kind == Kind::Haproxy)
        .map(|(_, r)| median(&r.ok_rps));
    let mut table = Table::new(
        format!(
            "saturation: hard limit {HARD}, queue 1000, {CLIENTS} clients, {APP_MS} ms app, medians of {} x {} s",
            settings.rounds, settings.secs
        ),
        &[
            "contender",
            "2xx/s",
            "of 5,000/s",
            "vs HAProxy",
            "errors",
            "latency p50 ms",
            "latency p99 ms",
            "queue wait p50 ms",
            "queue wait p99 ms",
            "wait p99/p50",
        ],
    );
    for (c, r) in contenders.iter().zip(&runs) {
        let ok = median(&r.ok_rps);
        let (w50, w99) = (wait(median(&r.p50)), wait(median(&r.p99)));
        table.row(vec![
            c.kind.name().to_owned(),
            count(ok),
            format!("{:.0}%", ok / THEORETICAL * 100.0),
            haproxy.map_or("-".into(), |h| ratio(ok / h)),
            count(median(&r.errors)),
            ms(Duration::from_secs_f64(median(&r.p50))),
            ms(Duration::from_secs_f64(median(&r.p99))),
            ms(w50),
            ms(w99),
            ratio(w99.as_secs_f64() / w50.as_secs_f64()),
        ]);
        if c.kind == Kind::Sluice {
            if let Some(h) = haproxy {
                table.note(format!(
                    "target: sluice throughput >= 0.97 x HAProxy: {} ({})",
                    verdict(ok >= 0.97 * h),
                    ratio(ok / h)
                ));
            }
            let errors: f64 = r.errors.iter().sum();
            table.note(format!(
                "target: 0 errors while the queue has room: {} ({} in all rounds)",
                verdict(errors == 0.0),
                count(errors)
            ));
            table.note(format!(
                "target: queue wait p99 <= 1.5 x p50 (FIFO): {} ({})",
                verdict(w99.as_secs_f64() <= 1.5 * w50.as_secs_f64()),
                ratio(w99.as_secs_f64() / w50.as_secs_f64())
            ));
        }
    }
    if kinds.contains(&Kind::Nginx) {
        table.note("nginx OSS has no queue: `max_conns` answers 502 beyond the limit.");
    }
    table.print();
    Ok(())
}
