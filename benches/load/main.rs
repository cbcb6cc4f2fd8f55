//! `cargo bench --bench load`: sluice against the app directly, nginx and HAProxy, on this
//! machine, in one run.
//!
//! It starts its own upstream (the demo app, in a child process), sluice (the release-grade
//! binary cargo built for this bench) and, when installed, nginx and HAProxy configured
//! equivalently. Each scenario runs the contenders interleaved (A B C A B C ...) and prints one
//! Markdown table of medians with ratios to the best peer, then a PASS/MISS line per target.
//! Everything is on loopback, bounded in time, and every child is stopped on exit.
//!
//! Environment (all optional): `SLUICE_BENCH_SECS` (5) seconds per turn,
//! `SLUICE_BENCH_ROUNDS` (3), `SLUICE_BENCH_SCENARIOS` or free arguments
//! (`passthrough,saturation,held,incident`), `SLUICE_BENCH_WORKERS` (1) for every proxy,
//! `SLUICE_BENCH_STREAMS` (2000), `SLUICE_BENCH_MINUTE_MS` (500), `SLUICE_BENCH_BIN`,
//! `SLUICE_BENCH_BASELINE` (a second sluice binary, measured side by side).

#![forbid(unsafe_code)]

mod client;
mod configs;
mod contenders;
mod procs;
mod scenarios;
mod settings;
mod table;
mod upstream;
mod wrk;

use std::time::Instant;

use settings::Settings;

fn main() {
    if upstream::is_child() {
        upstream::child_main();
        return;
    }
    let settings = Settings::from_env();
    let started = Instant::now();
    println!(
        "sluice load bench: {} s per turn, {} rounds, {} worker(s) per proxy, scenarios: {}",
        settings.secs,
        settings.rounds,
        settings.workers,
        settings.scenarios.join(", ")
    );
    println!("sluice binary: {}", settings.sluice_bin.display());
    if let Some(baseline) = &settings.baseline_bin {
        println!("baseline binary: {}", baseline.display());
    }
    println!("{}", scenarios::machine());
    let upstream = match upstream::Upstream::start() {
        Ok(upstream) => upstream,
        Err(error) => {
            eprintln!("cannot start the upstream app: {error}");
            std::process::exit(1);
        }
    };
    let mut failed = false;
    for (name, run) in scenarios::ALL {
        if !settings.wants(name) {
            continue;
        }
        let began = Instant::now();
        if let Err(error) = run(&settings, upstream.addr) {
            eprintln!("scenario {name} failed: {error}");
            failed = true;
        }
        println!("({name}: {:.0} s)", began.elapsed().as_secs_f64());
    }
    println!(
        "\nload bench done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    drop(upstream);
    if failed {
        std::process::exit(1);
    }
}
