//! Upgraded connections (WebSockets): once the app answers `101`, bytes are copied both ways
//! until either side closes, and the request's ticket (its slot) is held the whole time.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::metrics::Outcome;
use crate::track::{Entry, Ticket};

/// Both halves of an accepted upgrade, handed from the proxy to admission (which owns the
/// ticket) through the response's extensions.
#[derive(Clone, Debug)]
pub struct PendingTunnel {
    client: OnUpgrade,
    app: OnUpgrade,
}

impl PendingTunnel {
    pub(super) fn new(client: OnUpgrade, app: OnUpgrade) -> Self {
        PendingTunnel { client, app }
    }

    /// Runs the tunnel in its own task; the ticket is released when it ends.
    pub fn spawn(self, ticket: Ticket) {
        ticket.tunnel();
        tokio::spawn(async move {
            let entry = ticket.entry().clone();
            let outcome = tokio::select! {
                outcome = self.run(Some(entry.clone())) => outcome,
                // The ticket sees the reap and counts it; dropping the tunnel closes both.
                _ = entry.reaped() => Outcome::Reaped,
            };
            ticket.finish(outcome);
        });
    }

    /// Runs a tunnel that holds no slot (an exempt path).
    pub fn spawn_untracked(self) {
        tokio::spawn(self.run(None));
    }

    async fn run(self, entry: Option<Arc<Entry>>) -> Outcome {
        let (client, app) = match tokio::try_join!(self.client, self.app) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "upgrade did not complete");
                return Outcome::UpstreamError;
            }
        };
        let client = Counted {
            io: TokioIo::new(client),
            entry: entry.clone(),
            inbound: true,
        };
        let app = Counted {
            io: TokioIo::new(app),
            entry,
            inbound: false,
        };
        let (mut client_rx, mut client_tx) = tokio::io::split(client);
        let (mut app_rx, mut app_tx) = tokio::io::split(app);
        // Whichever side finishes first ends the tunnel: its peer's write half is shut down
        // (so it sees a clean close) and then both sockets are dropped.
        let result = tokio::select! {
            r = tokio::io::copy(&mut client_rx, &mut app_tx) => { let _ = app_tx.shutdown().await; r }
            r = tokio::io::copy(&mut app_rx, &mut client_tx) => { let _ = client_tx.shutdown().await; r }
        };
        match result {
            Ok(_) => Outcome::Completed,
            Err(_) => Outcome::ClientAborted,
        }
    }
}

/// Counts bytes read from one side into the entry (client side: received; app side: sent).
struct Counted<T> {
    io: T,
    entry: Option<Arc<Entry>>,
    inbound: bool,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if let Some(entry) = &self.entry {
            if self.inbound {
                entry.add_received(n);
            } else {
                entry.add_sent(n);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
