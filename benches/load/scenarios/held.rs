//! Held streams: thousands of open SSE streams through the proxy, each having received its
//! first event and now idle. Resident memory per held stream is the proxy's RSS delta divided
//! by the streams. Each turn starts a fresh proxy, so freed memory from an earlier turn cannot
//! hide the cost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{best_peer, runtime};
use crate::client::{HeldStream, open_stream};
use crate::configs::Limits;
use crate::contenders::{Contender, Kind, get_ok};
use crate::settings::Settings;
use crate::table::{Table, median, ratio, verdict};

/// The first event comes at once, the second after two minutes: the stream stays open and idle.
const PATH: &str = "/events?count=2&interval_ms=120000";
const OPENING_AT_ONCE: usize = 64;

#[derive(Debug, Default)]
struct Runs {
    idle_kib: Vec<f64>,
    held_kib: Vec<f64>,
    per_stream_kib: Vec<f64>,
}

/// Runs the scenario and prints its table.
pub(crate) fn run(settings: &Settings, upstream: SocketAddr) -> Result<(), String> {
    let kinds = Kind::available(
        settings,
        &[Kind::Sluice, Kind::Baseline, Kind::Nginx, Kind::Haproxy],
    );
    let n = settings.streams;
    let limits = Limits {
        mode: "requests",
        soft: n * 2,
        hard: n * 2,
        depth: 100,
    };
    let rt = runtime();
    let mut runs: Vec<Runs> = kinds.iter().map(|_| Runs::default()).collect();
    for _round in 0..settings.rounds {
        for (kind, runs) in kinds.iter().zip(&mut runs) {
            let contender = Contender::start(*kind, settings, upstream, &limits)?;
            let proc = contender.proc().expect("a proxy process");
            // Warm: a few requests and one stream, so lazy start-up costs are in the idle RSS.
            for _ in 0..20 {
                get_ok(contender.addr, "/hello");
            }
            drop(rt.block_on(open_stream(contender.addr, PATH))?);
            std::thread::sleep(Duration::from_millis(300));
            let idle = proc.rss_kib();
            let streams = rt.block_on(open_many(contender.addr, n))?;
            std::thread::sleep(Duration::from_millis(1000));
            let held = proc.rss_kib();
            drop(streams);
            runs.idle_kib.push(idle as f64);
            runs.held_kib.push(held as f64);
            runs.per_stream_kib
                .push(held.saturating_sub(idle) as f64 / n as f64);
        }
    }
    let rows: Vec<(Kind, [f64; 3])> = kinds
        .iter()
        .zip(&runs)
        .map(|(k, r)| {
            let m = [
                median(&r.idle_kib),
                median(&r.held_kib),
                median(&r.per_stream_kib),
            ];
            (*k, m)
        })
        .collect();
    let best = best_peer(&rows, |m| m[2], false);
    let mut table = Table::new(
        format!(
            "held streams: {n} open SSE streams, resident memory, medians of {} fresh starts",
            settings.rounds
        ),
        &[
            "contender",
            "idle RSS MiB",
            "RSS with streams MiB",
            "KiB per held stream",
            "vs best peer",
        ],
    );
    for (kind, m) in &rows {
        table.row(vec![
            kind.name().to_owned(),
            format!("{:.1}", m[0] / 1024.0),
            format!("{:.1}", m[1] / 1024.0),
            format!("{:.1}", m[2]),
            best.map_or("-".into(), |b| ratio(m[2] / b)),
        ]);
        if *kind == Kind::Sluice {
            table.note(format!(
                "target: <= 16 KiB per held stream: {} ({:.1} KiB)",
                verdict(m[2] <= 16.0),
                m[2]
            ));
            table.note(format!(
                "target: idle RSS <= 10 MiB: {} ({:.1} MiB)",
                verdict(m[0] <= 10.0 * 1024.0),
                m[0] / 1024.0
            ));
        }
    }
    table.print();
    Ok(())
}

/// Opens `n` streams, a few at a time, and returns once every one has its first event.
async fn open_many(addr: SocketAddr, n: usize) -> Result<Vec<HeldStream>, String> {
    let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut opening = JoinSet::new();
    for _ in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("never closed");
        opening.spawn(async move {
            let stream = open_stream(addr, PATH).await;
            drop(permit);
            stream
        });
    }
    let mut streams = Vec::with_capacity(n);
    while let Some(joined) = opening.join_next().await {
        streams.push(joined.map_err(|e| e.to_string())??);
    }
    Ok(streams)
}
