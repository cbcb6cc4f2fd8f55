//! When the app cannot be reached: clear 502/504 answers, nothing retried, slots released.

mod support;

use std::time::Duration;

use http::StatusCode;
use sluice::Sluice;
use support::*;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

#[tokio::test]
async fn a_refused_connection_is_a_502_naming_the_cause() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sluice = Sluice::start(test_config(closed, |_| {}), None)
        .await
        .unwrap();
    let response = send(sluice.proxy_addr(), get("/anything")).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = body_text(response).await;
    assert!(
        body.contains("\"error\":\"upstream_unavailable\""),
        "{body}"
    );
    assert!(body.contains("refused"), "{body}");
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
    let m = Metrics::parse(&admin_get(sluice.admin_addr(), "/metrics").await.1);
    assert_eq!(m.outcome("upstream_error"), 1.0);
    assert_eq!(m.get("sluice_active_requests"), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_connect_timeout_is_a_504() {
    // A listener that never accepts, with its backlog filled: further SYNs are dropped, so
    // connecting hangs until sluice's connect timeout (virtual time: no real wait).
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let blackhole = socket.listen(0).unwrap();
    let addr = blackhole.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(50), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let sluice = Sluice::start(
        test_config(addr, |c| {
            c.upstream.connect_timeout = Duration::from_secs(3)
        }),
        None,
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let response = send(sluice.proxy_addr(), get("/slow-to-connect"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(body_text(response).await.contains("upstream_timeout"));
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
    assert_eq!(
        sluice
            .core()
            .stats
            .outcome(sluice::metrics::Outcome::UpstreamError),
        1
    );
    drop(fillers);
}

/// A bare HTTP/1.1 app: answers `ok` with keep-alive, counting connections and requests.
/// With `one_per_connection` it closes each connection right after its first response, as
/// Node does when its keep-alive timeout fires between two requests.
struct KeepAliveApp {
    addr: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    closed: tokio::sync::mpsc::UnboundedReceiver<()>,
}

impl KeepAliveApp {
    async fn start(one_per_connection: bool) -> KeepAliveApp {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (closed_tx, closed) = tokio::sync::mpsc::unbounded_channel();
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                c.fetch_add(1, SeqCst);
                let (r, closed_tx) = (r.clone(), closed_tx.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            r.fetch_add(1, SeqCst);
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(ok).await.is_err() {
                                return;
                            }
                            if one_per_connection {
                                drop(stream);
                                let _ = closed_tx.send(());
                                return;
                            }
                        }
                    }
                });
            }
        });
        KeepAliveApp {
            addr,
            connections,
            requests,
            closed,
        }
    }

    fn counts(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.connections.load(SeqCst), self.requests.load(SeqCst))
    }
}

#[tokio::test]
async fn requests_on_one_client_connection_reuse_one_app_connection() {
    let app = KeepAliveApp::start(false).await;
    let sluice = Sluice::start(test_config(app.addr, |_| {}), None)
        .await
        .unwrap();
    let mut client = Conn::open(sluice.proxy_addr()).await;
    for path in ["/one", "/two", "/three"] {
        let response = client.send(get(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_text(response).await, "ok");
    }
    assert_eq!(app.counts(), (1, 3), "(app connections, app requests)");
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
}

#[tokio::test]
async fn an_app_closing_a_kept_alive_connection_costs_no_request() {
    // Node's keep-alive race: the app closes the idle connection between two requests. The
    // next request goes out on a fresh connection: it is neither failed nor sent twice.
    let mut app = KeepAliveApp::start(true).await;
    let sluice = Sluice::start(test_config(app.addr, |_| {}), None)
        .await
        .unwrap();
    let mut client = Conn::open(sluice.proxy_addr()).await;
    for (n, path) in ["/one", "/two", "/three"].into_iter().enumerate() {
        let response = client.send(get(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {path}");
        assert_eq!(body_text(response).await, "ok");
        app.closed.recv().await.expect("the app closed its side");
        assert_eq!(
            app.counts(),
            (n + 1, n + 1),
            "(app connections, app requests)"
        );
    }
    sluice.core().limiter.wait_until(|s| s.active == 0).await;
    assert_eq!(
        sluice
            .core()
            .stats
            .outcome(sluice::metrics::Outcome::Completed),
        3
    );
}

#[tokio::test]
async fn an_upgrade_gets_its_own_app_connection_and_holds_its_slot_until_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start(|_| {}).await;
    let mut client = TcpStream::connect(h.addr()).await.unwrap();
    client
        .write_all(
            b"GET /ws HTTP/1.1\r\nhost: app\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(client.read(&mut byte).await.unwrap(), 1, "head ended early");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    client.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
    assert_eq!(h.snapshot().active, 1, "the tunnel holds its slot");
    drop(client);
    h.wait_until("the tunnel's slot is released", |s| s.active == 0)
        .await;
}
