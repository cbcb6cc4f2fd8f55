//! An app that breaks mid-response: the client sees a truncated response (HTTP/1: the
//! connection closes without the final chunk or the promised length), never a clean end; the
//! slot is released and counted `upstream_error`. An app that hangs up before answering is a
//! 502. (h2 streams are reset instead: see `h2.rs`.)

mod support;

use support::*;

async fn app_replying(bytes: &'static [u8]) -> Harness<RawApp> {
    let app = RawApp::start(None, move |_| Reply::SendAndClose(bytes.to_vec())).await;
    Harness::start_raw(app, |_| {}).await
}

#[tokio::test]
async fn an_app_that_dies_mid_chunked_body_truncates_the_response_without_a_last_chunk() {
    let h = app_replying(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
          b\r\ndata: one\n\n\r\n",
    )
    .await;
    let mut client = RawClient::connect(h.addr()).await;
    client
        .send(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    let response = client.response().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "data: one\n\n");
    assert!(!response.complete, "the response must not end cleanly");
    let wire = String::from_utf8_lossy(&response.wire_body);
    assert!(
        !wire.contains("0\r\n\r\n"),
        "a last chunk was sent: {wire:?}"
    );
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("upstream_error"), 1.0);
    assert_eq!(m.outcome("completed"), 0.0);
}

#[tokio::test]
async fn an_app_that_dies_short_of_its_content_length_truncates_the_response() {
    let h = app_replying(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b").await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"GET /file HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let response = client.response().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.fields("content-length"), ["100"]);
    assert_eq!(response.text(), "only ten b");
    assert!(!response.complete, "closed short of the promised length");
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("upstream_error"), 1.0);
}

#[tokio::test]
async fn a_close_delimited_response_is_complete_and_reframed() {
    let h = app_replying(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it").await;
    let mut client = RawClient::connect(h.addr()).await;
    client.send(b"GET /old HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let response = client.response().await;
    assert_eq!(response.text(), "all of it");
    assert!(response.complete, "the close ended it, by definition");
    assert_eq!(response.fields("transfer-encoding"), ["chunked"]);
    // The client connection survives: the close belonged to the app's hop.
    client.send(b"GET /old2 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(client.response().await.text(), "all of it");
    drop(client);
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("completed"), 2.0);
}

#[tokio::test]
async fn an_app_that_hangs_up_on_a_post_is_a_502_and_is_not_replayed() {
    let app = RawApp::start(None, |_| Reply::Close).await;
    let h = Harness::start_raw(app, |_| {}).await;
    let response = raw_exchange(
        h.addr(),
        "POST /pay HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    assert_eq!(response.status(), 502);
    assert!(response.text().contains("upstream_unavailable"));
    assert_eq!(h.app.log().len(), 1, "a POST is never sent twice");
    let m = h.assert_settled().await;
    assert_eq!(m.outcome("upstream_error"), 1.0);
}

#[tokio::test]
async fn a_get_the_app_hangs_up_on_over_a_fresh_connection_is_not_replayed() {
    // Only a kept-alive connection can meet Node's keep-alive race; on a fresh one a hang-up
    // means the app died on this very request, and sending it again could kill it again.
    let app = RawApp::start(None, |_| Reply::Close).await;
    let h = Harness::start_raw(app, |_| {}).await;
    let response = raw_exchange(h.addr(), "GET /crash HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(response.status(), 502);
    assert_eq!(h.app.log().len(), 1, "sent once");
    h.assert_settled().await;
}
