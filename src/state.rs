//! [`Core`]: the state every part of a running sluice shares, and live reconfiguration.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::time::Instant;

use crate::config::{Config, ConfigError};
use crate::limit::Limiter;
use crate::metrics::{Exporter, Stats};
use crate::policy::Policy;
use crate::track::Registry;

/// Shared by the server, admin endpoints, reaper and signal handlers.
#[derive(Debug)]
pub struct Core {
    /// Slots and the queue.
    pub limiter: Limiter,
    /// Outcome counters, connections, readiness.
    pub stats: Arc<Stats>,
    /// Prometheus rendering.
    pub exporter: Arc<Exporter>,
    /// The in-flight registry.
    pub registry: Arc<Registry>,
    /// Live per-request settings.
    pub policy: Arc<ArcSwap<Policy>>,
    /// When sluice started.
    pub started: Instant,
    /// The configuration in force (restart-only keys keep their running values).
    config: Mutex<Config>,
    /// The file reloads read, if sluice was started from one.
    config_path: Option<PathBuf>,
}

impl Core {
    /// Builds the shared state for `config`.
    pub fn new(config: Config, config_path: Option<PathBuf>) -> Self {
        let exporter = Exporter::new();
        let stats = Arc::new(Stats::new());
        let l = &config.limits;
        Core {
            limiter: Limiter::new(
                l.hard_limit,
                l.soft_limit,
                config.queue.max_depth,
                config.queue.timeout,
            ),
            registry: Registry::new(stats.clone()),
            stats,
            exporter: Arc::new(exporter),
            policy: Arc::new(ArcSwap::from_pointee(Policy::from_config(&config))),
            started: Instant::now(),
            config: Mutex::new(config),
            config_path,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `new` without dropping anything: limits, queue, shed, reaper and the
    /// per-request server settings take effect at once; keys that need a restart are reported
    /// and keep their running values.
    pub fn reload(&self, mut new: Config) -> ReloadReport {
        let mut current = self.config.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = ReloadReport::default();
        macro_rules! restart_only {
            ($($field:ident).+, $key:literal) => {
                if new.$($field).+ != current.$($field).+ {
                    report.needs_restart.push($key);
                    new.$($field).+ = current.$($field).+.clone();
                }
            };
        }
        restart_only!(listen, "listen");
        restart_only!(admin, "admin");
        restart_only!(upstream, "upstream");
        restart_only!(limits.mode, "limits.mode");
        restart_only!(server.header_read_timeout, "server.header_read_timeout");
        restart_only!(server.max_headers, "server.max_headers");
        restart_only!(server.max_header_bytes, "server.max_header_bytes");
        restart_only!(
            server.h2_max_concurrent_streams,
            "server.h2_max_concurrent_streams"
        );
        restart_only!(server.workers, "server.workers");
        macro_rules! live {
            ($($field:ident).+, $key:literal) => {
                if new.$($field).+ != current.$($field).+ {
                    report.applied.push($key);
                }
            };
        }
        live!(limits.hard_limit, "limits.hard_limit");
        live!(limits.soft_limit, "limits.soft_limit");
        live!(limits.exempt_paths, "limits.exempt_paths");
        live!(queue.max_depth, "queue.max_depth");
        live!(queue.timeout, "queue.timeout");
        live!(queue.buffer_body_bytes, "queue.buffer_body_bytes");
        live!(shed, "shed");
        live!(reaper, "reaper");
        live!(shutdown, "shutdown");
        live!(server.max_request_body, "server.max_request_body");
        live!(server.max_uri_length, "server.max_uri_length");
        live!(
            server.trust_forwarded_headers,
            "server.trust_forwarded_headers"
        );
        self.limiter.set_limits(
            new.limits.hard_limit,
            new.limits.soft_limit,
            new.queue.max_depth,
            new.queue.timeout,
        );
        self.policy.store(Arc::new(Policy::from_config(&new)));
        *current = new;
        tracing::info!(%report, "configuration reloaded");
        report
    }

    /// Re-reads the file sluice was started with and applies it (`SIGHUP`, `POST /reload`).
    /// An invalid file changes nothing.
    pub fn reload_from_file(&self) -> Result<ReloadReport, ConfigError> {
        let Some(path) = &self.config_path else {
            return Ok(ReloadReport {
                no_file: true,
                ..ReloadReport::default()
            });
        };
        match Config::load(path) {
            Ok(config) => Ok(self.reload(config)),
            Err(error) => {
                tracing::error!(%error, "reload rejected; running configuration kept");
                Err(error)
            }
        }
    }
}

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys whose new values are in force.
    pub applied: Vec<&'static str>,
    /// Keys that changed in the file but need a restart; their running values stay.
    pub needs_restart: Vec<&'static str>,
    /// sluice was not started from a file, so there was nothing to re-read.
    pub no_file: bool,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.no_file {
            return writeln!(f, "no config file to reload (started without --config)");
        }
        let list = |v: &[&str]| {
            if v.is_empty() {
                "nothing".to_owned()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "applied: {}; needs restart: {}",
            list(&self.applied),
            list(&self.needs_restart)
        )?;
        writeln!(f)
    }
}
