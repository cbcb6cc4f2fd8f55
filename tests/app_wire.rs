//! sluice's own HTTP/1.1 client against app responses written by hand: informational
//! responses, chunk extensions and trailers, framing errors, and when an app connection may
//! carry the next request (never after stray bytes, `Connection: close`, an HTTP/1.0 answer
//! without keep-alive), and an app that answers an upload before reading it.

mod support;

use sluice::Sluice;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sends two requests on one client connection to an app answering every request with
/// `reply`; returns both responses and the app connection each request arrived on.
async fn twice(reply: &'static str) -> (Harness<RawApp>, [RawResponse; 2], [usize; 2]) {
    let app = RawApp::start(None, move |_| Reply::Send(reply.into())).await;
    let h = Harness::start_raw(app, |_| {}).await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let first = client.response().await;
    client.send(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let second = client.response().await;
    drop(client);
    let conns = h.app.log().iter().map(|r| r.conn).collect::<Vec<_>>();
    (h, [first, second], [conns[0], conns[1]])
}

#[tokio::test]
async fn informational_responses_are_skipped_and_the_connection_is_reused() {
    let (h, [first, second], conns) = twice(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n\
         HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    )
    .await;
    assert_eq!((first.status(), first.text()), (200, "ok".into()));
    assert_eq!((second.status(), second.text()), (200, "ok".into()));
    assert_eq!(conns, [0, 0], "one app connection for both");
    assert_eq!(h.assert_settled().await.outcome("completed"), 2.0);
}

#[tokio::test]
async fn a_chunked_response_with_extensions_and_trailers_arrives_whole() {
    let (h, [first, _], conns) = twice(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
         4;ext=1\r\nWiki\r\n5 ; x\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await;
    assert_eq!(first.text(), "Wikipedia");
    assert!(first.complete);
    assert_eq!(conns, [0, 0], "the connection ended at a message boundary");
    assert_eq!(h.assert_settled().await.outcome("completed"), 2.0);
}

#[tokio::test]
async fn the_app_connection_is_retired_after_stray_bytes_close_or_http10() {
    for reply in [
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA",
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
        "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ] {
        let (h, [first, second], conns) = twice(reply).await;
        assert_eq!((first.text(), second.text()), ("ok".into(), "ok".into()));
        assert!(
            first.head.starts_with("HTTP/1.1 200"),
            "sluice's own version"
        );
        assert_eq!(conns, [0, 1], "a fresh app connection after {reply:?}");
        h.assert_settled().await;
    }
    let (h, _, conns) =
        twice("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok").await;
    assert_eq!(conns, [0, 0], "HTTP/1.0 with keep-alive is reused");
    h.assert_settled().await;
}

#[tokio::test]
async fn responses_that_break_framing_are_a_502_or_cut_short() {
    for (reply, status) in [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            502,
        ),
        ("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 502),
        ("HTTP/1.1 20 OK\r\n\r\n", 502),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
            502,
        ),
        ("garbage\r\n\r\n", 502),
    ] {
        let app = RawApp::start(None, move |_| Reply::SendAndClose(reply.into())).await;
        let h = Harness::start_raw(app, |_| {}).await;
        let response = raw_exchange(h.addr(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert_eq!(response.status(), status, "for {reply:?}");
        let m = h.assert_settled().await;
        assert_eq!(m.outcome("upstream_error"), 1.0);
    }
    let bad_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n";
    let app = RawApp::start(None, move |_| Reply::Send(bad_chunk.into())).await;
    let h = Harness::start_raw(app, |_| {}).await;
    let response = raw_exchange(h.addr(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!((response.status(), response.text()), (200, "abc".into()));
    assert!(!response.complete, "a bad chunk size cuts the response");
    assert_eq!(h.assert_settled().await.outcome("upstream_error"), 1.0);
}

/// An app that answers `413` as soon as it has the request head, and never reads the body.
async fn impatient_app() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                while find(&head, b"\r\n\r\n").is_none() {
                    let mut byte = [0u8; 1];
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let answer = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!";
                let _ = stream.write_all(answer).await;
                // Hold the connection without reading, until sluice lets go of it.
                let _ = stream.read_to_end(&mut Vec::new()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_app_answering_an_upload_before_reading_it_is_heard_without_a_deadlock() {
    let impatient = impatient_app().await;
    let sluice = Sluice::start(test_config(impatient, |_| {}), None);
    let h = Harness {
        sluice: sluice.await.unwrap(),
        app: (),
    };
    let stream = TcpStream::connect(h.addr()).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    // 4 MiB: far more than the socket buffers hold, so the upload cannot finish first.
    let size = 4 << 20;
    let uploading = tokio::spawn(async move {
        let head = format!("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n");
        tx.write_all(head.as_bytes()).await?;
        tx.write_all(&vec![b'x'; size]).await
    });
    let mut got = Vec::new();
    let answered = tokio::time::timeout(PATIENCE, async {
        while find(&got, b"big!").is_none() {
            let mut chunk = [0u8; 1024];
            match rx.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(answered.is_ok(), "no deadlock between upload and answer");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.ends_with("big!"), "{text}");
    drop(rx);
    uploading.abort();
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("completed"), 1.0);
}
