//! [`Sluice`]: a running instance (listeners, background tasks) and its drain on shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::limit::AdmissionCtx;
use crate::metrics::ReapReason;
use crate::proxy::Upstream;
use crate::server::{ServerCtx, accept_loop};
use crate::state::Core;

/// Why sluice could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("cannot listen on {key} = {addr}: {source}")]
    Bind {
        /// `listen` or `admin.listen`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running sluice. Dropping the handle does not stop it; call [`Sluice::shutdown`].
#[derive(Debug)]
pub struct Sluice {
    core: Arc<Core>,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    accepting: watch::Receiver<bool>,
    done: watch::Receiver<bool>,
}

impl Sluice {
    /// Binds both listeners and starts serving. `config_path` is what reloads re-read.
    pub async fn start(config: Config, config_path: Option<PathBuf>) -> Result<Sluice, StartError> {
        let bind = |key, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { key, addr, source })
        };
        let listener = bind("listen", config.listen).await?;
        let admin = bind("admin.listen", config.admin.listen).await?;
        let local = |l: &TcpListener, addr| l.local_addr().unwrap_or(addr);
        let (proxy_addr, admin_addr) = (
            local(&listener, config.listen),
            local(&admin, config.admin.listen),
        );

        let drain_timeout = config.shutdown.drain_timeout;
        let server_config = config.server.clone();
        let upstream = Upstream::new(&config.upstream);
        let core = Arc::new(Core::new(config, config_path));
        let admission = Arc::new(AdmissionCtx {
            limiter: core.limiter.clone(),
            registry: core.registry.clone(),
            policy: core.policy.clone(),
        });
        let server = Arc::new(ServerCtx::new(
            admission,
            upstream,
            core.stats.clone(),
            &server_config,
        ));

        let (stop, stop_rx) = watch::channel(false);
        let (accepting_tx, accepting) = watch::channel(true);
        let (done_tx, done) = watch::channel(false);
        let mut background = JoinSet::new();
        background.spawn(crate::admin::serve(admin, core.clone()));
        background.spawn(crate::reaper::run(
            core.registry.clone(),
            core.policy.clone(),
        ));
        background.spawn(rotate_peaks(core.limiter.clone()));
        let run_core = core.clone();
        tokio::spawn(async move {
            let mut connections = JoinSet::new();
            accept_loop(listener, server, &mut connections, stop_rx).await;
            // The listener is closed: new connections are refused from here on. Each
            // connection saw `stop` too and is ending gracefully.
            let _ = accepting_tx.send(false);
            drain(&run_core, &mut connections, drain_timeout).await;
            background.shutdown().await;
            let _ = done_tx.send(true);
        });
        tracing::info!(%proxy_addr, %admin_addr, "sluice listening");
        Ok(Sluice {
            core,
            proxy_addr,
            admin_addr,
            stop,
            accepting,
            done,
        })
    }

    /// The public address (useful when `listen` used port 0).
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// The admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The shared state: limiter, stats, registry, policy.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Begins the drain: `/readyz` turns 503, queued requests get 503, no new connections
    /// are accepted, in-flight requests get `shutdown.drain_timeout` to finish.
    pub fn shutdown(&self) {
        self.core.stats.set_not_ready();
        self.core.limiter.close();
        let _ = self.stop.send(true);
    }

    /// Resolves once the public listener is closed (after [`Sluice::shutdown`]).
    pub async fn stopped_accepting(&self) {
        let mut accepting = self.accepting.clone();
        let _ = accepting.wait_for(|accepting| !*accepting).await;
    }

    /// Resolves once the drain is over and every task has stopped.
    pub async fn wait(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|done| *done).await;
    }
}

/// Lets connections (already told to end gracefully) finish for up to `timeout`, then cuts
/// what is left (counted `reaped`, reason `shutdown`).
async fn drain(core: &Core, connections: &mut JoinSet<()>, timeout: Duration) {
    let in_flight = core.registry.len();
    tracing::info!(in_flight, ?timeout, "draining");
    let settled = async {
        while connections.join_next().await.is_some() {}
        // Upgrade tunnels outlive their connections; wait for their tickets too.
        core.limiter
            .wait_until(|s| s.active == 0 && s.queued == 0)
            .await;
    };
    if tokio::time::timeout(timeout, settled).await.is_ok() {
        tracing::info!("drained cleanly");
    } else {
        let cut = crate::reaper::reap_all(&core.registry, ReapReason::Shutdown);
        tracing::warn!(cut, "drain timeout: cutting what is left");
    }
    connections.shutdown().await;
    // Reaped tunnels stop on their own signal; give them a moment to release their slots.
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        core.limiter.wait_until(|s| s.active == 0),
    )
    .await;
}

/// Closes a minute of the peak windows every minute.
async fn rotate_peaks(limiter: crate::limit::Limiter) {
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + crate::limit::MINUTE,
        crate::limit::MINUTE,
    );
    loop {
        tick.tick().await;
        limiter.rotate_peaks();
    }
}
