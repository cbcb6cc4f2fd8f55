//! The four scenarios, and what they share.

mod held;
mod incident;
mod passthrough;
mod saturation;

use std::net::SocketAddr;

use crate::configs::Limits;
use crate::contenders::{Contender, Kind};
use crate::settings::Settings;

/// A scenario: runs its contenders and prints its table.
pub(crate) type Scenario = fn(&Settings, SocketAddr) -> Result<(), String>;

/// Every scenario by name, in order.
pub(crate) const ALL: [(&str, Scenario); 4] = [
    ("passthrough", passthrough::run),
    ("saturation", saturation::run),
    ("held", held::run),
    ("incident", incident::run),
];

/// One line about the machine: cores, memory, load.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let version = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_else(|| "not installed".to_owned())
    };
    format!(
        "machine: {cores} cores, {:.1} GiB, load {}\nnginx: {}\nhaproxy: {}\nwrk: {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        version("nginx", "-v"),
        version("haproxy", "-v"),
        version("wrk", "-v"),
    )
}

/// Starts every contender of `kinds`, in that order.
fn start_all(
    kinds: &[Kind],
    settings: &Settings,
    upstream: SocketAddr,
    limits: &Limits,
) -> Result<Vec<Contender>, String> {
    kinds
        .iter()
        .map(|kind| Contender::start(*kind, settings, upstream, limits))
        .collect()
}

/// A small runtime for the harness's own clients.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

/// The best peer (nginx or HAProxy) by `key`, larger is better when `higher`.
fn best_peer<T>(rows: &[(Kind, T)], key: impl Fn(&T) -> f64, higher: bool) -> Option<f64> {
    let peers = rows
        .iter()
        .filter(|(k, _)| k.is_peer())
        .map(|(_, r)| key(r));
    if higher {
        peers.reduce(f64::max)
    } else {
        peers.reduce(f64::min)
    }
}
