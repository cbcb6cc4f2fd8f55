//! One browser tab of the incident: a keep-alive pool of its own, an operation loop and a
//! status poller, retrying after every `503`.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, sleep, sleep_until, timeout_at};

use crate::table::quantile;

/// What one tab does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// The proxy.
    pub(crate) addr: SocketAddr,
    /// One (scaled) minute.
    pub(crate) minute: Duration,
    /// When the replay ends; whatever is in flight then is dropped.
    pub(crate) deadline: Instant,
    /// Seeds the operation mix.
    pub(crate) seed: u64,
}

/// Counts shared by every tab.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    shed: AtomicU64,
    retries: AtomicU64,
    operations: AtomicU64,
    polls: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    waits: Mutex<Vec<Duration>>,
}

impl Tally {
    /// `503` answers received.
    pub(crate) fn shed(&self) -> u64 {
        self.shed.load(Relaxed)
    }
    /// Requests sent again after a `503`.
    pub(crate) fn retries(&self) -> u64 {
        self.retries.load(Relaxed)
    }
    /// Operations (SSE streams) read to their end.
    pub(crate) fn operations(&self) -> u64 {
        self.operations.load(Relaxed)
    }
    /// Status polls answered `200`.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Relaxed)
    }
    /// Most requests the tabs had in flight at once.
    pub(crate) fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Relaxed)
    }
    /// 99th percentile of the time to response headers of successful requests.
    pub(crate) fn wait_p99(&self) -> Duration {
        quantile(&mut self.waits.lock().expect("waits"), 0.99)
    }
}

/// Counts one request in flight until dropped.
struct InFlight<'a>(&'a Tally);

impl<'a> InFlight<'a> {
    fn new(tally: &'a Tally) -> Self {
        let now = tally.in_flight.fetch_add(1, Relaxed) + 1;
        tally.peak_in_flight.fetch_max(now, Relaxed);
        InFlight(tally)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Done,
    Failed,
    Deadline,
}

type Tab = Client<HttpConnector, Empty<Bytes>>;

/// Runs one tab until the deadline.
pub(crate) async fn run(plan: Plan, tally: std::sync::Arc<Tally>) {
    let client: Tab = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(plan.minute * 2)
        .pool_timer(TokioTimer::new())
        .build_http();
    let operations = async {
        let mut rng = plan.seed | 1;
        let interval = plan.minute / 4;
        loop {
            sleep(plan.minute / 10).await;
            let minutes = match next(&mut rng) % 100 {
                0..40 => 1,
                40..70 => 5,
                70..90 => 10,
                _ => 20,
            };
            let events = (plan.minute * minutes).as_millis() / interval.as_millis() + 1;
            let path = format!(
                "/events?count={events}&interval_ms={}",
                interval.as_millis()
            );
            match request(&client, &plan, &path, &tally).await {
                Ended::Done => tally.operations.fetch_add(1, Relaxed),
                Ended::Failed => 0,
                Ended::Deadline => return,
            };
        }
    };
    let polls = async {
        loop {
            sleep(plan.minute / 4).await;
            match request(&client, &plan, "/hello", &tally).await {
                Ended::Done => tally.polls.fetch_add(1, Relaxed),
                Ended::Failed => 0,
                Ended::Deadline => return,
            };
        }
    };
    tokio::join!(operations, polls);
}

/// Sends `path` until it is answered with something other than `503`, and reads the body.
async fn request(client: &Tab, plan: &Plan, path: &str, tally: &Tally) -> Ended {
    let uri: Uri = format!("http://{}{path}", plan.addr)
        .parse()
        .expect("valid uri");
    loop {
        let flight = InFlight::new(tally);
        let start = Instant::now();
        let response = match timeout_at(plan.deadline, client.get(uri.clone())).await {
            Err(_) => return Ended::Deadline,
            Ok(Err(_)) => return Ended::Failed,
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            tally.shed.fetch_add(1, Relaxed);
            let _ = timeout_at(plan.deadline, response.into_body().collect()).await;
            drop(flight);
            let retry_at = (Instant::now() + plan.minute / 5).min(plan.deadline);
            sleep_until(retry_at).await;
            if retry_at >= plan.deadline {
                return Ended::Deadline;
            }
            tally.retries.fetch_add(1, Relaxed);
            continue;
        }
        let ok = response.status().is_success();
        if ok {
            tally.waits.lock().expect("waits").push(start.elapsed());
        }
        return match timeout_at(plan.deadline, response.into_body().collect()).await {
            Err(_) => Ended::Deadline,
            Ok(Ok(_)) if ok => Ended::Done,
            Ok(_) => Ended::Failed,
        };
    }
}

/// xorshift64: a reproducible operation mix without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
