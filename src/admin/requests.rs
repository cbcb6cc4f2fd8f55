//! `GET /requests`: what is holding (or waiting for) a slot, oldest first.

use serde::Serialize;
use tokio::time::Instant;

use crate::state::Core;
use crate::track::State;

#[derive(Serialize)]
struct Listing<'a> {
    active: usize,
    queued: usize,
    requests: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Item<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    client: String,
    state: &'static str,
    age_secs: f64,
    held_secs: Option<f64>,
    bytes_sent: u64,
    bytes_received: u64,
}

pub(super) fn json(state: &Core) -> String {
    let now = Instant::now();
    let entries = state.registry.entries();
    let requests = entries
        .iter()
        .filter(|e| e.state() != State::Arriving)
        .map(|e| Item {
            request_id: &e.request_id,
            method: e.method.as_str(),
            path: &e.path,
            client: e.client.to_string(),
            state: e.state().as_str(),
            age_secs: round(now.saturating_duration_since(e.arrived()).as_secs_f64()),
            held_secs: e.held_for(now).map(|d| round(d.as_secs_f64())),
            bytes_sent: e.bytes_sent(),
            bytes_received: e.bytes_received(),
        })
        .collect();
    let snap = state.limiter.snapshot();
    let listing = Listing {
        active: snap.active,
        queued: snap.queued,
        requests,
    };
    serde_json::to_string_pretty(&listing).unwrap_or_default() + "\n"
}

fn round(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}
