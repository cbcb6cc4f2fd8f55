//! The public listener: accepts connections and serves each with HTTP/1.1 or h2c.
//!
//! The accept loop survives errors (e.g. `EMFILE`): it logs and backs off instead of exiting.
//! Each connection is watched by hyper-util's [`GracefulShutdown`] for draining, and can be
//! killed at once by the reaper through its [`ConnControl`](crate::track::ConnControl).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::gateway::Gateway;
use crate::io::FirstRequestDeadline;
use crate::limit::{AdmissionCtx, ConnCtx};
use crate::metrics::Stats;
use crate::proxy::Upstream;

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub(crate) struct ServerCtx {
    pub(crate) admission: Arc<AdmissionCtx>,
    pub(crate) upstream: Upstream,
    pub(crate) stats: Arc<Stats>,
    builder: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
}

impl ServerCtx {
    pub(crate) fn new(
        admission: Arc<AdmissionCtx>,
        upstream: Upstream,
        stats: Arc<Stats>,
        config: &ServerConfig,
    ) -> Self {
        let builder = connection_builder(config);
        ServerCtx {
            admission,
            upstream,
            stats,
            builder,
            header_read_timeout: config.header_read_timeout,
        }
    }
}

/// The HTTP/1.1 + h2c connection settings every client connection is served with (public
/// so the fuzz target serves in-memory connections exactly as the listener does).
pub fn connection_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(config.header_read_timeout)
        .max_headers(config.max_headers)
        .max_buf_size(config.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.h2_max_concurrent_streams)
        // Rapid-reset and error-reset floods close the connection (CVE-2023-44487).
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(256))
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Accepts until `stop` turns true, spawning each connection into `tasks`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ServerCtx>,
    graceful: &GracefulShutdown,
    tasks: &mut JoinSet<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, client)) => {
                backoff = Duration::from_millis(5);
                tasks.spawn(serve(stream, client, &ctx, graceful));
            }
            Err(error) => {
                // EMFILE/ENFILE/ENOBUFS and aborted handshakes: keep serving what we have.
                tracing::warn!(%error, ?backoff, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
        while tasks.try_join_next().is_some() {}
    }
}

/// Serves one client connection until it closes, is drained, or is killed.
fn serve(
    stream: TcpStream,
    client: SocketAddr,
    ctx: &Arc<ServerCtx>,
    graceful: &GracefulShutdown,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let open = ctx.stats.connection_opened();
    let conn = Arc::new(ConnCtx::new(client));
    let seen = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(FirstRequestDeadline::new(
        stream,
        ctx.header_read_timeout,
        seen.clone(),
    ));
    let gateway = Gateway::new(
        ctx.admission.clone(),
        ctx.upstream.clone(),
        conn.clone(),
        seen,
    );
    let connection = ctx
        .builder
        .serve_connection_with_upgrades(io, gateway)
        .into_owned();
    let watched = graceful.watch(connection);
    async move {
        let _open = open;
        tokio::select! {
            result = watched => {
                if let Err(error) = result {
                    tracing::debug!(%client, %error, "client connection ended with an error");
                }
            }
            () = conn.control.killed() => {
                tracing::debug!(%client, "client connection killed");
            }
        }
        // Dropping `conn` here releases a connections-mode slot with the connection.
    }
}
