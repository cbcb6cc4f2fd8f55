//! Process signals: `SIGTERM`/`SIGINT` drain (a second one exits at once), `SIGHUP` reloads.
//!
//! Handlers are installed before sluice binds its listeners, so a signal that arrives while
//! it starts is never handled by the default action (which would kill it without a drain).

use std::process::ExitCode;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::Sluice;

/// Installed signal handlers.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers (call before [`Sluice::start`]).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Serves signals for `sluice` until it has drained: exit 0 after a drain, 130 on a
    /// second terminating signal.
    pub async fn serve(mut self, sluice: &Sluice) -> ExitCode {
        let mut draining = false;
        loop {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
                _ = self.hup.recv() => {
                    let _ = sluice.core().reload_from_file();
                    continue;
                }
                () = sluice.wait() => return ExitCode::SUCCESS,
            }
            if draining {
                tracing::warn!("second signal: exiting now");
                return ExitCode::from(130);
            }
            draining = true;
            // Readiness is off before the log line says so.
            sluice.shutdown();
            tracing::info!("signal received: draining (send it again to exit at once)");
        }
    }
}
