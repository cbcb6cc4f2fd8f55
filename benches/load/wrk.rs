//! Closed-loop HTTP/1.1 load with wrk (one thread, keep-alive), and its report parsed.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WrkReport {
    /// All responses per second (any status).
    pub(crate) rps: f64,
    /// `2xx`/`3xx` responses per second.
    pub(crate) ok_rps: f64,
    /// Responses counted.
    pub(crate) requests: u64,
    /// Responses that were not `2xx`/`3xx`.
    pub(crate) non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub(crate) socket_errors: u64,
    /// Latency percentiles.
    pub(crate) p50: Duration,
    /// 99th percentile.
    pub(crate) p99: Duration,
}

impl WrkReport {
    /// Every failed request: bad statuses and socket errors.
    pub(crate) fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors
    }
}

/// True if wrk is installed.
pub(crate) fn available() -> bool {
    crate::procs::which("wrk").is_some()
}

/// Runs `wrk -t1 -c<connections>` against `addr` + `path` for `duration`.
pub(crate) fn run(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> Result<WrkReport, String> {
    let output = Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("--latency")
        .arg(format!("http://{addr}{path}"))
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse(&text).ok_or_else(|| format!("unexpected wrk output:\n{text}"))
}

fn parse(text: &str) -> Option<WrkReport> {
    let mut report = WrkReport::default();
    let mut seconds = 0.0;
    let mut in_distribution = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("Latency Distribution") {
            in_distribution = true;
        } else if in_distribution && words.len() == 2 && words[0].ends_with('%') {
            match words[0] {
                "50%" => report.p50 = duration(words[1])?,
                "99%" => report.p99 = duration(words[1])?,
                _ => {}
            }
        } else if line.contains(" requests in ") {
            in_distribution = false;
            report.requests = words[0].parse().ok()?;
            seconds = duration(words[3].trim_end_matches(','))?.as_secs_f64();
        } else if line.starts_with("Socket errors:") {
            report.socket_errors = line
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if line.starts_with("Non-2xx or 3xx responses:") {
            report.non_2xx = words.last()?.parse().ok()?;
        } else if line.starts_with("Requests/sec:") {
            report.rps = words.last()?.parse().ok()?;
        }
    }
    if seconds <= 0.0 {
        return None;
    }
    let ok = report.requests.saturating_sub(report.non_2xx);
    report.ok_rps = ok as f64 / seconds;
    Some(report)
}

/// wrk's time format: `689.00us`, `1.23ms`, `2.00s`, `1.50m`.
fn duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(value * scale))
}
