//! The fuzz world for `server_bytes`: one sluice (core, upstream pool, reaper) and one strict
//! app, built once and reused by every input, on a current-thread runtime with paused time
//! (every timeout is virtual, so an input that leaves a connection open costs nothing).

#![forbid(unsafe_code)]

mod app;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use sluice::Config;
use sluice::gateway::Gateway;
use sluice::io::FirstRequestDeadline;
use sluice::limit::{AdmissionCtx, ConnCtx};
use sluice::proxy::Upstream;
use sluice::server::ConnBuilders;
use sluice::sniff::Protocol;
use sluice::state::Core;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// Longest (virtual) time one input's connection may stay open: above every timeout that
/// must close it (header read 10 s, h2 keep-alive 30 s + 20 s, reaper idle 5 s).
const CONNECTION_BOUND: Duration = Duration::from_secs(300);

/// What every input shares.
pub struct World {
    rt: Runtime,
    core: Arc<Core>,
    admission: Arc<AdmissionCtx>,
    upstream: Upstream,
    builders: ConnBuilders,
    header_read_timeout: Duration,
    app: app::StrictApp,
}

impl World {
    /// The world, built on first use.
    pub fn get() -> &'static World {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(World::new)
    }

    fn new() -> World {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let app = rt.block_on(app::StrictApp::start());
        let mut config = Config::default();
        config.upstream.url = format!("http://{}", app.addr).parse().expect("url");
        config.limits.soft_limit = 3;
        config.limits.hard_limit = 4;
        config.queue.max_depth = 4;
        config.queue.timeout = Duration::from_secs(1);
        config.server.max_request_body = Some(1 << 16);
        config.reaper.idle_timeout = Some(Duration::from_secs(5));
        config.validate().expect("valid config");
        let (core, upstream) = rt.block_on(async {
            let core = Arc::new(Core::new(config.clone(), None));
            tokio::spawn(sluice::reaper::run(
                core.registry.clone(),
                core.policy.clone(),
            ));
            (core, Upstream::new(&config.upstream))
        });
        let admission = Arc::new(AdmissionCtx {
            limiter: core.limiter.clone(),
            registry: core.registry.clone(),
            policy: core.policy.clone(),
        });
        World {
            rt,
            core,
            admission,
            upstream,
            builders: ConnBuilders::new(&config.server),
            header_read_timeout: config.server.header_read_timeout,
            app,
        }
    }

    /// Serves `data` as one client connection, then checks what the app saw and that every
    /// slot came back.
    pub fn run(&'static self, data: &[u8]) {
        self.rt.block_on(async {
            // As the listener's sniff decides. `None`: the input is a part of the h2 preface
            // and the client sends no more, so the listener would close it at the deadline
            // without hyper ever seeing a byte.
            let Some(protocol) = Protocol::detect(data) else {
                return;
            };
            let (client, server) = tokio::io::duplex(1 << 16);
            let peer: SocketAddr = "192.0.2.1:40000".parse().expect("addr");
            let conn = Arc::new(ConnCtx::new(peer));
            let seen = Arc::new(AtomicBool::new(false));
            let io = TokioIo::new(FirstRequestDeadline::new(
                server,
                self.header_read_timeout,
                seen.clone(),
            ));
            let gateway = Gateway::new(
                self.admission.clone(),
                self.upstream.clone(),
                conn.clone(),
                seen,
            );
            // As `server::serve` does: the reaper may kill the whole connection.
            let served = match protocol {
                Protocol::Http1 => until_killed(self.builders.serve_http1(io, gateway), conn),
                Protocol::H2 => until_killed(self.builders.serve_h2(io, gateway), conn),
            };
            let (mut rx, mut tx) = tokio::io::split(client);
            let drain = tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = rx.read_to_end(&mut sink).await;
            });
            let _ = tx.write_all(data).await;
            // The client never closes: only sluice's own timeouts may end the connection.
            let ended = tokio::time::timeout(CONNECTION_BOUND, served).await;
            assert!(ended.is_ok(), "a client connection outlived every timeout");
            drop(tx);
            drain.abort();
            let limiter = &self.core.limiter;
            let settled = tokio::time::timeout(
                CONNECTION_BOUND,
                limiter.wait_until(|s| s.active == 0 && s.queued == 0),
            )
            .await;
            assert!(
                settled.is_ok(),
                "slots held after the connection ended: {:?}",
                limiter.snapshot()
            );
            assert!(self.core.registry.is_empty(), "requests still tracked");
            let violations = self.app.take_violations();
            assert!(violations.is_empty(), "the app saw: {violations:#?}");
        });
    }
}

/// Runs a served connection until it ends or the reaper kills it.
fn until_killed<F>(connection: F, conn: Arc<ConnCtx>) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future + Send + 'static,
{
    tokio::spawn(async move {
        tokio::select! {
            _ = connection => {}
            () = conn.control.killed() => {}
        }
    })
}
