//! The public listener: accepts connections and serves each with HTTP/1.1 or h2c.
//!
//! The accept loop survives errors (e.g. `EMFILE`): it logs and backs off instead of exiting.
//! Each connection is first [sniffed](crate::sniff) for the HTTP/2 preface by peeking, within
//! `server.header_read_timeout` of its accept, then served by hyper's HTTP/1 or h2 connection
//! with the settings of [`ConnBuilders`]. Once the drain begins (`stop`), a connection still
//! being sniffed is closed and a served one finishes gracefully (HTTP/1 after the response in
//! flight, h2 with GOAWAY); the reaper can kill one at once through its
//! [`ConnControl`](crate::track::ConnControl).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hyper::rt::{Read, Write};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::gateway::Gateway;
use crate::io::FirstRequestDeadline;
use crate::limit::{AdmissionCtx, ConnCtx};
use crate::metrics::Stats;
use crate::proxy::Upstream;
use crate::sniff::{Protocol, sniff};

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub(crate) struct ServerCtx {
    pub(crate) admission: Arc<AdmissionCtx>,
    pub(crate) upstream: Upstream,
    pub(crate) stats: Arc<Stats>,
    builders: ConnBuilders,
    header_read_timeout: Duration,
}

impl ServerCtx {
    pub(crate) fn new(
        admission: Arc<AdmissionCtx>,
        upstream: Upstream,
        stats: Arc<Stats>,
        config: &ServerConfig,
    ) -> Self {
        ServerCtx {
            admission,
            upstream,
            stats,
            builders: ConnBuilders::new(config),
            header_read_timeout: config.header_read_timeout,
        }
    }
}

/// The HTTP/1.1 and h2c settings every client connection is served with (public so the fuzz
/// target serves in-memory connections exactly as the listener does, once it has told the
/// protocol with [`Protocol::detect`]).
#[derive(Debug, Clone)]
pub struct ConnBuilders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl ConnBuilders {
    /// The settings from `server.*`.
    pub fn new(config: &ServerConfig) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .keep_alive(true)
            .writev(false)
            .header_read_timeout(config.header_read_timeout)
            .max_headers(config.max_headers)
            .max_buf_size(config.max_header_bytes);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(config.h2_max_concurrent_streams)
            // Rapid-reset and error-reset floods close the connection (CVE-2023-44487).
            .max_pending_accept_reset_streams(Some(20))
            .max_local_error_reset_streams(Some(256))
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        ConnBuilders { http1, http2 }
    }

    /// Serves `io` as HTTP/1.1, with upgrades.
    pub fn serve_http1<I>(
        &self,
        io: I,
        gateway: Gateway,
    ) -> http1::UpgradeableConnection<I, Gateway>
    where
        I: Read + Write + Unpin + Send,
    {
        self.http1.serve_connection(io, gateway).with_upgrades()
    }

    /// Serves `io` as h2c; it must start with the HTTP/2 preface.
    pub fn serve_h2<I>(
        &self,
        io: I,
        gateway: Gateway,
    ) -> http2::Connection<I, Gateway, TokioExecutor>
    where
        I: Read + Write + Unpin,
    {
        self.http2.serve_connection(io, gateway)
    }
}

/// Accepts until `stop` turns true, spawning each connection into `tasks`; each connection
/// watches `stop` too, to begin its graceful end.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ServerCtx>,
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
                tasks.spawn(serve(stream, client, &ctx, stop.clone()));
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
    mut stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let open = ctx.stats.connection_opened();
    let conn = Arc::new(ConnCtx::new(client));
    let deadline = Instant::now() + ctx.header_read_timeout;
    let ctx = ctx.clone();
    async move {
        let _open = open;
        let sniffed = tokio::select! {
            sniffed = tokio::time::timeout_at(deadline, sniff(&stream)) => sniffed,
            // Nothing in flight yet: a drain or a kill just closes it.
            _ = stop.wait_for(|stop| *stop) => return,
            () = conn.control.killed() => return,
        };
        let protocol = match sniffed {
            Ok(Ok(Some(protocol))) => protocol,
            Ok(Ok(None)) => return,
            Ok(Err(error)) => {
                tracing::debug!(%client, %error, "client connection failed before a request");
                return;
            }
            Err(_) => {
                tracing::debug!(%client, "no request head within server.header_read_timeout");
                return;
            }
        };
        let seen = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(FirstRequestDeadline::until(stream, deadline, seen.clone()));
        let gateway = Gateway::new(
            ctx.admission.clone(),
            ctx.upstream.clone(),
            conn.clone(),
            seen,
        );
        let served = async {
            match protocol {
                Protocol::Http1 => {
                    let connection = ctx.builders.serve_http1(io, gateway);
                    drive(
                        connection,
                        &mut stop,
                        http1::UpgradeableConnection::graceful_shutdown,
                    )
                    .await
                }
                Protocol::H2 => {
                    let connection = ctx.builders.serve_h2(io, gateway);
                    drive(connection, &mut stop, http2::Connection::graceful_shutdown).await
                }
            }
        };
        tokio::select! {
            result = served => {
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

/// Drives a hyper connection to its end, calling `graceful_shutdown` on it once `stop` turns
/// true (or its sender is gone, which also ends the accept loop).
async fn drive<C: Future>(
    connection: C,
    stop: &mut watch::Receiver<bool>,
    graceful_shutdown: fn(Pin<&mut C>),
) -> C::Output {
    let mut connection = pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result,
        _ = stop.wait_for(|stop| *stop) => {}
    }
    graceful_shutdown(connection.as_mut());
    connection.await
}
