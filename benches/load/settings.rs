//! What a run measures and for how long, from environment variables (all optional).

use std::path::PathBuf;
use std::time::Duration;

/// The scenarios, in the order they run.
pub(crate) const SCENARIOS: [&str; 4] = ["passthrough", "saturation", "held", "incident"];

/// Settings for one `cargo bench --bench load` run.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `SLUICE_BENCH_SECS` (default 5): seconds of load per contender per round.
    pub(crate) secs: u64,
    /// `SLUICE_BENCH_ROUNDS` (default 3): rounds; contenders are interleaved inside each.
    pub(crate) rounds: usize,
    /// `SLUICE_BENCH_SCENARIOS` or the bench's free arguments (default: all).
    pub(crate) scenarios: Vec<String>,
    /// `SLUICE_BENCH_WORKERS` (default 1): worker threads/processes given to every proxy alike
    /// (sluice `server.workers`, nginx `worker_processes`, HAProxy `nbthread`).
    pub(crate) workers: usize,
    /// `SLUICE_BENCH_BIN`: the sluice binary (default: the one cargo built for this bench).
    pub(crate) sluice_bin: PathBuf,
    /// `SLUICE_BENCH_BASELINE`: another sluice binary to run side by side (before/after).
    pub(crate) baseline_bin: Option<PathBuf>,
    /// `SLUICE_BENCH_STREAMS` (default 2000): streams held open in the `held` scenario.
    pub(crate) streams: usize,
    /// `SLUICE_BENCH_MINUTE_MS` (default 500): what one minute of the incident lasts here.
    pub(crate) incident_minute: Duration,
}

impl Settings {
    /// Reads the environment and the bench's command-line arguments.
    pub(crate) fn from_env() -> Settings {
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        // `cargo bench --bench load -- held incident` passes `--bench held incident`.
        let mut scenarios: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        if scenarios.is_empty() {
            if let Ok(list) = std::env::var("SLUICE_BENCH_SCENARIOS") {
                scenarios = list.split(',').map(|s| s.trim().to_owned()).collect();
            }
        }
        scenarios.retain(|s| !s.is_empty());
        if scenarios.is_empty() {
            scenarios = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
        }
        Settings {
            secs: num("SLUICE_BENCH_SECS", 5),
            rounds: usize::try_from(num("SLUICE_BENCH_ROUNDS", 3)).unwrap_or(3),
            scenarios,
            workers: usize::try_from(num("SLUICE_BENCH_WORKERS", 1)).unwrap_or(1),
            sluice_bin: std::env::var_os("SLUICE_BENCH_BIN").map_or_else(
                || PathBuf::from(env!("CARGO_BIN_EXE_sluice")),
                PathBuf::from,
            ),
            baseline_bin: std::env::var_os("SLUICE_BENCH_BASELINE").map(PathBuf::from),
            streams: usize::try_from(num("SLUICE_BENCH_STREAMS", 2000)).unwrap_or(2000),
            incident_minute: Duration::from_millis(num("SLUICE_BENCH_MINUTE_MS", 500)),
        }
    }

    /// Whether `scenario` was asked for.
    pub(crate) fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario || s == "all")
    }

    /// Load duration of one contender's turn.
    pub(crate) fn run_time(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}
