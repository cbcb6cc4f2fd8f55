//! Forwarding fidelity, checked on the wire: hop-by-hop fields never cross sluice in either
//! direction (RFC 9110 §7.6.1), `Host` and repeated fields survive, and `X-Forwarded-*` and
//! the request id are set. (Where a request may go, and `Host` rules: `targets.rs`.)

mod support;

use support::*;

/// An app that answers every request with a small `200`.
async fn ok_app() -> Harness<RawApp> {
    Harness::start_raw(RawApp::start(None, |_| Reply::ok("ok")).await, |_| {}).await
}

#[tokio::test]
async fn hop_by_hop_request_fields_never_reach_the_app() {
    let h = ok_app().await;
    let response = raw_exchange(
        h.addr(),
        "GET /a?b=1 HTTP/1.1\r\nHost: app.test\r\n\
         Connection: keep-alive, X-Secret\r\nConnection: X-Other\r\n\
         X-Secret: 1\r\nX-Other: 2\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\
         Proxy-Authorization: Basic c2VjcmV0\r\nTE: trailers\r\nTrailer: x-checksum\r\n\
         Upgrade: websocket\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\
         Cookie: a=1\r\nCookie: b=2\r\nX-Kept: yes\r\n\r\n",
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.head);
    let seen = &h.app.log()[0];
    assert_eq!(seen.line(), "GET /a?b=1 HTTP/1.1");
    for name in [
        "connection",
        "x-secret",
        "x-other",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "http2-settings",
        "transfer-encoding",
    ] {
        assert!(
            !seen.names().contains(&name.to_owned()),
            "{name} reached the app:\n{}",
            seen.head
        );
    }
    assert_eq!(
        seen.fields("cookie"),
        ["a=1", "b=2"],
        "repeated fields kept"
    );
    assert_eq!(seen.fields("x-kept"), ["yes"]);
    h.assert_settled().await;
}

#[tokio::test]
async fn connection_cannot_name_away_sluices_own_fields_or_the_framing() {
    let h = ok_app().await;
    let response = raw_exchange(
        h.addr(),
        "POST /form HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 6.6.6.6\r\n\
         X-Request-Id: client-id\r\n\
         Connection: X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id\r\n\
         Connection: Host, Content-Length\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = &h.app.log()[0];
    assert_eq!(
        seen.fields("host"),
        ["app.test"],
        "Host cannot be named away"
    );
    assert_eq!(
        seen.fields("content-length"),
        ["5"],
        "framing cannot be named away"
    );
    assert_eq!(seen.body, b"hello");
    // The client declared its XFF hop-by-hop: it is dropped, and sluice's own is added after.
    assert_eq!(seen.fields("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.fields("x-forwarded-proto"), ["http"]);
    assert_eq!(seen.fields("x-forwarded-host"), ["app.test"]);
    let id = seen.fields("x-request-id");
    assert_eq!(id.len(), 1);
    assert_ne!(id[0], "client-id", "a hop-by-hop id is replaced");
    assert_eq!(
        response.fields("x-request-id"),
        id,
        "the id sent up comes back"
    );
}

#[tokio::test]
async fn hop_by_hop_response_fields_never_reach_the_client_and_set_cookie_repeats() {
    let app = RawApp::start(None, |_| {
        Reply::Send(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Upstream-Secret\r\n\
              X-Upstream-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\
              Upgrade: h2c\r\nTrailer: x-sum\r\nProxy-Authenticate: Basic\r\n\
              Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec(),
        )
    })
    .await;
    let h = Harness::start_raw(app, |_| {}).await;
    let response = raw_exchange(h.addr(), "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text(), "hello world");
    assert!(response.complete);
    for name in [
        "x-upstream-secret",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "upgrade",
        "trailer",
    ] {
        assert!(
            !response.names().contains(&name.to_owned()),
            "{name} reached the client:\n{}",
            response.head
        );
    }
    // `Connection` is sluice's own (hyper may add `keep-alive`), never the app's list.
    assert!(
        response
            .fields("connection")
            .iter()
            .all(|v| !v.to_ascii_lowercase().contains("x-upstream-secret")),
        "{}",
        response.head
    );
    assert_eq!(
        response.fields("set-cookie"),
        ["a=1; Path=/", "b=2; Path=/"],
        "every Set-Cookie line kept"
    );
    h.assert_settled().await;
}

#[tokio::test]
async fn x_forwarded_for_appends_on_one_line_and_proto_and_host_are_set() {
    let h = ok_app().await;
    raw_exchange(
        h.addr(),
        "GET / HTTP/1.1\r\nHost: shop.example:8443\r\nX-Forwarded-For: 1.1.1.1\r\n\
         X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\nX-Forwarded-Proto: https\r\n\
         X-Forwarded-Host: evil.example\r\n\r\n",
    )
    .await;
    let seen = &h.app.log()[0];
    assert_eq!(
        seen.fields("x-forwarded-for"),
        ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"],
        "one line, client appended"
    );
    assert_eq!(
        seen.fields("x-forwarded-proto"),
        ["http"],
        "untrusted: replaced"
    );
    assert_eq!(seen.fields("x-forwarded-host"), ["shop.example:8443"]);
    assert_eq!(seen.fields("host"), ["shop.example:8443"], "Host preserved");
}

#[tokio::test]
async fn a_trusted_edge_keeps_its_forwarded_proto_and_host() {
    let app = RawApp::start(None, |_| Reply::ok("ok")).await;
    let h = Harness::start_raw(app, |c| c.server.trust_forwarded_headers = true).await;
    raw_exchange(
        h.addr(),
        "GET / HTTP/1.1\r\nHost: internal:8080\r\nX-Forwarded-For: 9.9.9.9\r\n\
         X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n\r\n",
    )
    .await;
    let seen = &h.app.log()[0];
    assert_eq!(seen.fields("x-forwarded-proto"), ["https"]);
    assert_eq!(seen.fields("x-forwarded-host"), ["shop.example"]);
    assert_eq!(seen.fields("x-forwarded-for"), ["9.9.9.9, 127.0.0.1"]);
}

#[tokio::test]
async fn the_request_id_is_kept_or_generated_and_always_returned() {
    let h = ok_app().await;
    let kept = raw_exchange(
        h.addr(),
        "GET /1 HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n",
    )
    .await;
    assert_eq!(kept.fields("x-request-id"), ["abc-123"]);
    let made = raw_exchange(h.addr(), "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let made_id = made.fields("x-request-id");
    assert_eq!(made_id.len(), 1);
    assert!(!made_id[0].is_empty());
    let insane = raw_exchange(
        h.addr(),
        "GET /3 HTTP/1.1\r\nHost: a\r\nX-Request-Id: has space\r\n\r\n",
    )
    .await;
    assert_ne!(insane.fields("x-request-id"), ["has space"]);
    let log = h.app.log();
    assert_eq!(log[0].fields("x-request-id"), ["abc-123"]);
    assert_eq!(
        log[1].fields("x-request-id"),
        made_id,
        "the app saw the same id"
    );
    assert_eq!(log[2].fields("x-request-id"), insane.fields("x-request-id"));
}

#[tokio::test]
async fn request_trailers_are_dropped_and_the_body_still_ends() {
    let h = ok_app().await;
    let response = raw_exchange(
        h.addr(),
        "POST /t HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n",
    )
    .await;
    assert_eq!(response.status(), 200);
    let seen = &h.app.log()[0];
    assert!(seen.complete, "{seen:?}");
    assert_eq!(seen.fields("transfer-encoding"), ["chunked"]);
    assert_eq!(seen.body, b"5\r\nhello\r\n0\r\n\r\n", "no trailer section");
    assert!(seen.fields("trailer").is_empty());
}
