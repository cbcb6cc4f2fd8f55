//! Passthrough: 64 keep-alive clients, 13-byte responses, the limit not binding. Requests/s,
//! p50/p99 latency and CPU per request of each contender.

use std::net::SocketAddr;
use std::time::Duration;

use super::{best_peer, start_all};
use crate::configs::Limits;
use crate::contenders::Kind;
use crate::settings::Settings;
use crate::table::{Table, count, median, ms, ratio, verdict};
use crate::wrk;

const CLIENTS: usize = 64;
const PATH: &str = "/hello";

#[derive(Debug, Default)]
struct Runs {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    errors: Vec<f64>,
    user_us: Vec<f64>,
    sys_us: Vec<f64>,
}

#[derive(Debug)]
struct Medians {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: f64,
    user_us: f64,
    sys_us: f64,
}

/// Runs the scenario and prints its table.
pub(crate) fn run(settings: &Settings, upstream: SocketAddr) -> Result<(), String> {
    if !wrk::available() {
        println!("note: wrk is not installed; passthrough skipped");
        return Ok(());
    }
    let kinds = Kind::available(
        settings,
        &[
            Kind::Direct,
            Kind::Sluice,
            Kind::Baseline,
            Kind::Nginx,
            Kind::Haproxy,
        ],
    );
    let limits = Limits {
        mode: "requests",
        soft: 200,
        hard: 250,
        depth: 1000,
    };
    let contenders = start_all(&kinds, settings, upstream, &limits)?;
    for c in &contenders {
        wrk::run(c.addr, PATH, CLIENTS, Duration::from_secs(1))?;
    }
    let mut runs: Vec<Runs> = contenders.iter().map(|_| Runs::default()).collect();
    for _round in 0..settings.rounds {
        for (c, runs) in contenders.iter().zip(&mut runs) {
            let before = c.proc().map(|p| p.cpu());
            let report = wrk::run(c.addr, PATH, CLIENTS, settings.run_time())?;
            let requests = report.requests.max(1) as f64;
            if let (Some((u0, s0)), Some(p)) = (before, c.proc()) {
                let (u1, s1) = p.cpu();
                runs.user_us.push((u1 - u0).as_secs_f64() * 1e6 / requests);
                runs.sys_us.push((s1 - s0).as_secs_f64() * 1e6 / requests);
            }
            runs.rps.push(report.rps);
            runs.p50.push(report.p50.as_secs_f64());
            runs.p99.push(report.p99.as_secs_f64());
            runs.errors.push(report.errors() as f64);
        }
    }
    let rows: Vec<(Kind, Medians)> = contenders
        .iter()
        .zip(&runs)
        .map(|(c, r)| {
            let m = Medians {
                rps: median(&r.rps),
                p50: Duration::from_secs_f64(median(&r.p50)),
                p99: Duration::from_secs_f64(median(&r.p99)),
                errors: median(&r.errors),
                user_us: median(&r.user_us),
                sys_us: median(&r.sys_us),
            };
            (c.kind, m)
        })
        .collect();
    print(settings, &rows);
    Ok(())
}

fn print(settings: &Settings, rows: &[(Kind, Medians)]) {
    let best_rps = best_peer(rows, |m| m.rps, true);
    let best_p99 = best_peer(rows, |m| m.p99.as_secs_f64(), false);
    let mut table = Table::new(
        format!(
            "passthrough: {CLIENTS} keep-alive clients, GET {PATH} (13-byte body), medians of {} x {} s",
            settings.rounds, settings.secs
        ),
        &[
            "contender",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU us/req (user+sys)",
            "req/s vs best peer",
            "p99 vs best peer",
        ],
    );
    for (kind, m) in rows {
        let cpu = if *kind == Kind::Direct {
            "-".to_owned()
        } else {
            format!("{:.1} + {:.1}", m.user_us, m.sys_us)
        };
        table.row(vec![
            kind.name().to_owned(),
            count(m.rps),
            ms(m.p50),
            ms(m.p99),
            count(m.errors),
            cpu,
            best_rps.map_or("-".into(), |b| ratio(m.rps / b)),
            best_p99.map_or("-".into(), |b| ratio(m.p99.as_secs_f64() / b)),
        ]);
    }
    if let (Some(rps), Some(p99), Some((_, s))) = (
        best_rps,
        best_p99,
        rows.iter().find(|(k, _)| *k == Kind::Sluice),
    ) {
        table.note(format!(
            "target: sluice requests/s >= best peer: {} ({} vs {})",
            verdict(s.rps >= rps),
            count(s.rps),
            count(rps)
        ));
        table.note(format!(
            "target: sluice p99 <= best peer p99: {} ({} ms vs {} ms)",
            verdict(s.p99.as_secs_f64() <= p99),
            ms(s.p99),
            ms(Duration::from_secs_f64(p99))
        ));
    }
    table.print();
}
